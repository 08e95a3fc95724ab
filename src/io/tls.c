/*
 * tls.c - OpenSSL 3 server contexts for STARTTLS and implicit TLS.
 *
 * Public: tls_protocol_version, tls_ciphers_check, tls_server_ctx_new,
 * tls_chain_pem, tls_server_ctx, tls_server_ctx_chain, tls_check_pair,
 * tls_load_keys, tls_read_file, tls_key_type_ok, tls_describe.
 *
 * SECURITY: TLS 1.2 is the minimum; compression and renegotiation are
 * off; RSA key exchange is off, so every handshake is forward secret
 * and the server's key only ever signs. The smtp process never loads
 * the private key: it gets tls_server_ctx_chain and a stand-in key
 * (tls_key.c); the key lives in the ca process. The parent checks the
 * key file in a child of its own (tls_check_pair), so that the key's
 * bytes are not in the memory every child is forked from; at a reload
 * the same kind of child (tls_load_keys) reads every key and hands it
 * to the ca process on a socket of their own.
 * LIMITS: none beyond OpenSSL's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "../lib/fdio.h"
#include "../lib/log.h"
#include "ipc.h"
#include "proto.h"
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

/* tls_protocol_version - the version a tls_protocols item names */
int
tls_protocol_version(const char *name)
{
	if (strcmp(name, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

/* the TLS 1.2 list as set: RSA key exchange is never on (tls_key.c) */
static int
set_ciphers(SSL_CTX *ctx, const char *list)
{
	char buf[600];

	if ((size_t)snprintf(buf, sizeof(buf), "%s:!kRSA:!aNULL", list) >=
	    sizeof(buf))
		return -1;
	return SSL_CTX_set_cipher_list(ctx, buf) == 1 ? 0 : -1;
}

/* tls_ciphers_check - a list OpenSSL takes and that keeps a suite */
int
tls_ciphers_check(const char *list, int tls13, const char **why)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(SSL_CIPHER) *sk;
	int n = 0, ok;

	if (ctx == NULL) {
		*why = "cannot be checked (OpenSSL failed)";
		return -1;
	}
	if (tls13)
		ok = SSL_CTX_set_ciphersuites(ctx, list) == 1;
	else
		ok = set_ciphers(ctx, list) == 0;
	/* what is left of each version's suites */
	if (ok && (sk = SSL_CTX_get_ciphers(ctx)) != NULL)
		for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
			int v13 = strcmp(SSL_CIPHER_get_version(
			    sk_SSL_CIPHER_value(sk, i)), "TLSv1.3") == 0;

			n += tls13 ? v13 : !v13;
		}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (!ok || n == 0) {
		*why = tls13 ? "is not a list of TLS 1.3 suites OpenSSL knows "
		    "(e.g. TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384)" :
		    "selects no TLS 1.2 cipher with forward secrecy (OpenSSL "
		    "syntax, e.g. HIGH:!aNULL; RSA key exchange is always off)";
		return -1;
	}
	return 0;
}

/* tls_server_ctx_new - a server context as o says, no certificate */
SSL_CTX *
tls_server_ctx_new(const struct tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "SSL_CTX_new", "tls");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, o->min_version);
	SSL_CTX_set_max_proto_version(ctx, o->max_version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* resumption by tickets only (tls_ticket.c): no cache to hold */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"moat", 4);
	if (set_ciphers(ctx, o->ciphers) == -1) {
		tls_error(err, errlen, "cannot set tls_ciphers", "tls");
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1) {
		tls_error(err, errlen, "cannot set tls_ciphersuites", "tls");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* the defaults of the tls_* knobs, for contexts made without them */
static const struct tls_opts default_opts = {
	TLS1_2_VERSION, TLS1_3_VERSION, "HIGH",
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
	"TLS_AES_128_GCM_SHA256", 0
};

/* tls_chain_pem - the certificates of PEM text, leaf first */
STACK_OF(X509) *
tls_chain_pem(const void *pem, size_t len, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	if (sk == NULL || b == NULL || len > INT_MAX) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(sk, x) == 0) {
			X509_free(x);
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	ERR_clear_error();	/* the end of the text */
	if (sk_X509_num(sk) == 0) {
		snprintf(err, errlen, "no PEM certificate");
		goto fail;
	}
	BIO_free(b);
	return sk;
fail:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

/* tls_server_ctx_chain - a server context with a certificate chain only */
SSL_CTX *
tls_server_ctx_chain(const char *cert, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = tls_server_ctx_new(&default_opts, err, errlen)) == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(err, errlen, "cannot load certificate", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
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

/* a child with a pipe to tell us about it: fork's result, -1 err set */
static pid_t
fork_piped(int fd[2], char *err, size_t errlen)
{
	pid_t pid;

	if (pipe2(fd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "tls: pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "tls: fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
	}
	return pid;
}

/* tls_check_pair - tls_server_ctx in a child process; 0 or -1, err set */
int
tls_check_pair(const char *cert, const char *key, char *err, size_t errlen)
{
	int fd[2], st;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if ((pid = fork_piped(fd, err, errlen)) == -1)
		return -1;
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

#define TLS_KEYS_SEND_SEC	5

/* tls_read_file - a whole file of at most TLS_FILE_MAX bytes, into b */

int
tls_read_file(const char *path, struct evbuffer *b, char *err, size_t errlen)
{
	char buf[8192];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n == -1 &&
	    errno == EINTR))
		if (n > 0 && (evbuffer_get_length(b) + (size_t)n > TLS_FILE_MAX ||
		    evbuffer_add(b, buf, (size_t)n) == -1)) {
			snprintf(err, errlen, "%s: larger than %d bytes", path,
			    TLS_FILE_MAX);
			close(fd);
			return -1;
		}
	if (n == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* in the child of tls_load_keys: pair i's files, checked; 0 or -1 */
static int
load_pair(const char *cert, const char *key, struct evbuffer *cb,
    struct evbuffer *kb, char *err, size_t errlen)
{
	STACK_OF(X509) *chain;
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;
	char why[256];
	int rc = -1;

	if (tls_read_file(cert, cb, err, errlen) == -1 ||
	    tls_read_file(key, kb, err, errlen) == -1)
		return -1;
	if ((chain = tls_chain_pem(evbuffer_pullup(cb, -1),
	    evbuffer_get_length(cb), why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: cannot load certificate: %s", cert, why);
		return -1;
	}
	if ((b = BIO_new_mem_buf(evbuffer_pullup(kb, -1),
	    (int)evbuffer_get_length(kb))) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		tls_error(err, errlen, "cannot load key", key);
	else if (X509_check_private_key(sk_X509_value(chain, 0), pk) != 1)
		tls_error(err, errlen, "key does not match certificate", key);
	else if (!tls_key_type_ok(pk))
		snprintf(err, errlen, "%s: key type %s is not supported (RSA or "
		    "EC keys only)", key, EVP_PKEY_get0_type_name(pk));
	else
		rc = 0;
	EVP_PKEY_free(pk);
	BIO_free(b);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* the child of tls_load_keys; exits */
static void
load_keys_child(const char *const *certs, const char *const *keys,
    size_t count, int key_fd, uint32_t gen, int out)
{
	struct evbuffer *cb[PROTO_TLS_PAIRS_MAX], *kb[PROTO_TLS_PAIRS_MAX];
	struct evbuffer *ans = evbuffer_new();
	struct proto_tls_keys k;
	struct ipc_hdr h;
	struct ipc_msg m;
	char err[1024];
	size_t len;
	uint8_t st;

	memset(&k, 0, sizeof(k));
	k.gen = gen;
	k.count = (uint32_t)count;
	for (size_t i = 0; i < count; i++) {
		cb[i] = evbuffer_new();
		kb[i] = evbuffer_new();
		if (ans == NULL || cb[i] == NULL || kb[i] == NULL)
			_exit(2);
		if (load_pair(certs[i], keys[i], cb[i], kb[i], err,
		    sizeof(err)) == -1) {
			st = 1;
			(void)fdio_write_all(out, &st, 1);
			(void)fdio_write_all(out, err, strlen(err));
			_exit(1);
		}
		k.item[i].pem = evbuffer_pullup(kb[i], -1);
		k.item[i].len = evbuffer_get_length(kb[i]);
	}
	/* every pair is good: the keys to ca, the chains to the parent;
	 * a ca that does not read them in time fails the reload */
	(void)setsockopt(key_fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){
	    TLS_KEYS_SEND_SEC, 0 }, sizeof(struct timeval));
	proto_tls_keys_enc(&m, 0, &k);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)evbuffer_get_length(m.buf);
	h.type = PROTO_TLS_KEYS;
	if (evbuffer_prepend(m.buf, &h, sizeof(h)) == -1)
		_exit(2);
	len = evbuffer_get_length(m.buf);
	if (fdio_send_all(key_fd, evbuffer_pullup(m.buf, -1), len) == -1) {
		snprintf(err, sizeof(err), "tls: cannot reach the ca process: %s",
		    strerror(errno));
		st = 1;
		(void)fdio_write_all(out, &st, 1);
		(void)fdio_write_all(out, err, strlen(err));
		_exit(1);
	}
	st = 0;
	evbuffer_add(ans, &st, 1);
	for (size_t i = 0; i < count; i++) {
		uint32_t n = (uint32_t)evbuffer_get_length(cb[i]);

		evbuffer_add(ans, &n, sizeof(n));
		evbuffer_add_buffer(ans, cb[i]);
	}
	if (fdio_write_all(out, evbuffer_pullup(ans, -1),
	    evbuffer_get_length(ans)) == -1)
		_exit(2);
	_exit(0);
}

/* tls_load_keys - check every pair, keys to key_fd, chains to chains */
int
tls_load_keys(const char *const *certs, const char *const *keys,
    size_t count, int key_fd, uint32_t gen, struct evbuffer *chains,
    char *err, size_t errlen)
{
	struct evbuffer *in;
	uint8_t *p;
	int fd[2], st, n;
	size_t len;
	pid_t pid;

	if (count == 0 || count > PROTO_TLS_PAIRS_MAX)
		fatalx("%s: %zu pairs", __func__, count);
	if ((pid = fork_piped(fd, err, errlen)) == -1)
		return -1;
	if (pid == 0) {
		close(fd[0]);
		load_keys_child(certs, keys, count, key_fd, gen, fd[1]);
	}
	close(fd[1]);
	if ((in = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	while ((n = evbuffer_read(in, fd[0], 65536)) > 0 ||
	    (n == -1 && errno == EINTR))
		;
	close(fd[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			fatal("%s: waitpid", __func__);
	len = evbuffer_get_length(in);
	p = evbuffer_pullup(in, -1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || len == 0 || p[0] != 0) {
		if (len > 1 && p[0] == 1)
			snprintf(err, errlen, "%.*s", (int)(len - 1), p + 1);
		else
			snprintf(err, errlen, "tls: the key loader failed");
		evbuffer_free(in);
		return -1;
	}
	evbuffer_drain(in, 1);
	evbuffer_add_buffer(chains, in);
	evbuffer_free(in);
	return 0;
}
