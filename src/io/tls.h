/*
 * tls.h - OpenSSL server contexts.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <stdint.h>

#include <openssl/ssl.h>

/* what a server context is made with: the tls_* knobs */
struct tls_opts {
	int		 min_version, max_version;	/* TLS1_2_VERSION... */
	const char	*ciphers;		/* TLS 1.2 list */
	const char	*ciphersuites;		/* TLS 1.3 */
	int		 ticket_lifetime;	/* seconds; 0: no tickets */
};

/* tls_protocol_version - TLS1_2_VERSION for "TLSv1.2", TLSv1.3; else 0 */
int tls_protocol_version(const char *name);

/*
 * tls_ciphers_check - whether list is a TLS 1.2 cipher list (tls13 0)
 * or TLS 1.3 suite list (1) that OpenSSL takes and that leaves at
 * least one suite; 0, or -1 with *why set (a constant string).
 */
int tls_ciphers_check(const char *list, int tls13, const char **why);

/*
 * tls_server_ctx_new - an empty server context made as o says (no
 * certificate yet); NULL with err set.
 */
SSL_CTX *tls_server_ctx_new(const struct tls_opts *o, char *err,
    size_t errlen);

/*
 * tls_chain_pem - the certificates of a PEM chain, leaf first; NULL
 * (err set) when there is none or the text is not PEM. Free with
 * sk_X509_pop_free(s, X509_free).
 */
STACK_OF(X509) *tls_chain_pem(const void *pem, size_t len, char *err,
    size_t errlen);

/*
 * tls_load_keys - check each pair (as tls_check_pair) in a child
 * process and, when all are good, have the child send their keys to
 * key_fd as one PROTO_TLS_KEYS of generation gen, and the chains back
 * here in chains (count PEMs: u32 length + bytes each). The caller's
 * memory never holds a key. 0, or -1 with err set ("FILE: what").
 */
struct evbuffer;
int tls_load_keys(const char *const *certs, const char *const *keys,
    size_t count, int key_fd, uint32_t gen, struct evbuffer *chains,
    char *err, size_t errlen);

/* tls_read_file - append a whole file (TLS_FILE_MAX at most) to b; 0 or -1 */
#define TLS_FILE_MAX	(1024 * 1024)
int tls_read_file(const char *path, struct evbuffer *b, char *err,
    size_t errlen);

/*
 * tls_server_ctx - a TLS 1.2+ server context with the certificate chain
 * and key from PEM files. NULL with err set on failure.
 */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);

/* tls_server_ctx_chain - the same without a key (see tls_key.h) */
SSL_CTX *tls_server_ctx_chain(const char *cert, char *err, size_t errlen);

/*
 * tls_check_pair - whether tls_server_ctx would succeed with a key of a
 * type tls_key_type_ok accepts, found out in a child process, so that
 * the caller's memory never holds the key.
 * 0, or -1 with err set.
 */
int tls_check_pair(const char *cert, const char *key, char *err, size_t errlen);

/* tls_key_type_ok - RSA or EC: the key types the ca process signs with */
int tls_key_type_ok(const EVP_PKEY *key);

/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs */
void tls_describe(SSL *ssl, char *buf, size_t len);

#endif
