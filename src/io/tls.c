/*
 * tls.c - OpenSSL 3 server contexts for STARTTLS and implicit TLS.
 *
 * Public: tls_server_ctx, tls_server_ctx_chain, tls_check_pair,
 * tls_key_type_ok, tls_describe.
 *
 * SECURITY: TLS 1.2 is the minimum; compression and renegotiation are
 * off; RSA key exchange is off, so every handshake is forward secret
 * and the server's key only ever signs. The smtp process never loads
 * the private key: it gets tls_server_ctx_chain and a stand-in key
 * (tls_key.c); the key lives in the ca process. The parent checks the
 * key file in a child of its own (tls_check_pair), so that the key's
 * bytes are not in the memory every child is forked from.
 * LIMITS: none beyond OpenSSL's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s: %s", path, what, e ? buf : "unknown error");
	ERR_clear_error();
}

/* tls_server_ctx_chain - a server context with a certificate chain only */
SSL_CTX *
tls_server_ctx_chain(const char *cert, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "SSL_CTX_new", "tls");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"moat", 4);
	/* TLS 1.2 suites (1.3's have no RSA key exchange anyway) */
	if (SSL_CTX_set_cipher_list(ctx, "DEFAULT:!kRSA") != 1) {
		tls_error(err, errlen, "cannot set ciphers", "tls");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(err, errlen, "cannot load certificate", cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_server_ctx - a server context from PEM files */
SSL_CTX *
tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = tls_server_ctx_chain(cert, err, errlen)) == NULL)
		return NULL;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errlen, "cannot load key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "key does not match certificate", key);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_key_type_ok - a key the ca process can sign with (tls_key.c) */
int
tls_key_type_ok(const EVP_PKEY *key)
{
	int id = key != NULL ? EVP_PKEY_get_base_id(key) : 0;

	return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
}

/* tls_check_pair - tls_server_ctx in a child process; 0 or -1, err set */
int
tls_check_pair(const char *cert, const char *key, char *err, size_t errlen)
{
	int fd[2], st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe(fd) == -1) {
		snprintf(err, errlen, "tls: pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "tls: fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		SSL_CTX *ctx;

		close(fd[0]);
		err[0] = '\0';
		ctx = tls_server_ctx(cert, key, err, errlen);
		if (ctx != NULL && !tls_key_type_ok(SSL_CTX_get0_privatekey(ctx))) {
			snprintf(err, errlen, "%s: key type %s is not supported "
			    "(RSA or EC keys only)", key, EVP_PKEY_get0_type_name(
			    SSL_CTX_get0_privatekey(ctx)));
			SSL_CTX_free(ctx);
			ctx = NULL;
		}
		if (ctx == NULL && write(fd[1], err, strlen(err)) == -1)
			_exit(2);
		_exit(ctx == NULL ? 1 : 0);
	}
	close(fd[1]);
	while (got + 1 < errlen && ((n = read(fd[0], err + got,
	    errlen - got - 1)) > 0 || (n == -1 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	close(fd[0]);
	if (errlen > 0)
		err[got < errlen ? got : errlen - 1] = '\0';
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			snprintf(err, errlen, "tls: waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (got == 0)
		snprintf(err, errlen, "%s: cannot load key", key);
	return -1;
}

/* tls_describe - protocol version and cipher of a connection */
void
tls_describe(SSL *ssl, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}
