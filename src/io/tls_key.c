/*
 * tls_key.c - the smtp process's TLS key: public half here, private
 * half in the ca process (src/ca/ca_proc.c).
 *
 * Public: tls_key_link, tls_key_use, tls_key_retire, tls_key_ca_link,
 * tls_key_ca_send, tls_key_ca_read, tls_key_ca_next.
 *
 * The server context gets a stand-in key built from the certificate's
 * public key, with an RSA_METHOD or EC_KEY_METHOD whose private
 * operations send PROTO_CA_SIGN to the ca process and wait for its
 * PROTO_CA_SIGNED. These methods are deprecated in OpenSSL 3 but
 * supported, and a key with its own method takes libssl's legacy path,
 * which calls them; a provider would do the same with much more code.
 * RSA signatures arrive here in two shapes: a PKCS#1 v1.5 signature of
 * a digest (RSA_sign, TLS 1.2) and a raw private operation on a block
 * libssl has PSS-encoded itself (TLS 1.3 and rsa_pss_rsae_* in 1.2).
 *
 * OpenSSL calls the methods synchronously in the middle of a
 * handshake, so the round trip blocks the event loop: a write and a
 * read on a socketpair of its own to a process that does nothing else,
 * about as long as the signature itself (OpenSMTPD does the same). It
 * is bounded by TLS_KEY_CA_TIMEOUT_MS; past it that handshake fails,
 * and the late answer is recognised by its id and dropped.
 *
 * SECURITY: this process never sees the private key. Answers come from
 * a sibling: a malformed one is fatal. Nothing a peer sends reaches
 * this code except through libssl's handshake, which only asks for a
 * signature over what it computed.
 * LIMITS: one request at a time (the process has one thread);
 * TLS_KEY_CA_TIMEOUT_MS a request; answers up to CA_SIG_MAX bytes.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* RSA_METHOD, EC_KEY_METHOD */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../ca/ca_key.h"
#include "../lib/fdio.h"
#include "../lib/log.h"
#include "ipc.h"
#include "proto.h"
#include "tls.h"
#include "tls_key.h"

#define CA_IN_MAX	(IPC_HDR_LEN + 1 + 4 + CA_SIG_MAX)

/* the link to the ca process; one per process */
static struct {
	int		fd;
	uint64_t	next_id;
	uint8_t		in[CA_IN_MAX];	/* what was read, whole frames or not */
	size_t		inlen;
	struct evbuffer	*other;		/* whole frames of other messages */
	void		(*notify)(void *);	/* some are there */
	void		*notify_arg;
} ca = { -1, 1, { 0 }, 0, NULL, NULL, NULL };

static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;
/* the ca's id of a stand-in key, + 1, in the RSA or EC_KEY's ex_data */
static int rsa_id_idx = -1, ec_id_idx = -1;

static long
ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * The answer to request id, when a whole frame of it is buffered:
 * 1 (out filled, or *failed set), 0 (read more), after dropping the
 * answers of requests that timed out before. Other messages from ca
 * (DKIM's, src/smtp/smtp_dkim.c) are set aside whole for their own
 * handler, which runs from the event loop later, never inside a
 * handshake. id 0 takes nothing: it only sets aside what is buffered.
 */
static int
ca_take(uint64_t id, uint8_t *out, size_t outcap, size_t *outlen, int *failed)
{
	struct proto_ca_signed a;
	struct ipc_hdr h;
	struct ipc_reader r;
	size_t flen;
	int other = 0, rc = 0;

	while (ca.inlen >= IPC_HDR_LEN) {
		memcpy(&h, ca.in, sizeof(h));
		if (h.len > CA_IN_MAX - IPC_HDR_LEN || (h.type !=
		    PROTO_CA_SIGNED && ca.other == NULL))
			fatalx("%s: bad message %u (%u bytes) from ca", __func__,
			    h.type, h.len);
		flen = IPC_HDR_LEN + h.len;
		if (ca.inlen < flen)
			break;
		if (h.type != PROTO_CA_SIGNED) {
			evbuffer_add(ca.other, ca.in, flen);
			other = 1;
		} else if (h.id >= ca.next_id)
			fatalx("%s: answer to request %llu not asked yet",
			    __func__, (unsigned long long)h.id);
		else if (h.id == id) {
			ipc_reader_init(&r, ca.in + IPC_HDR_LEN, h.len);
			if (proto_ca_signed_dec(&r, &a) == -1 ||
			    a.siglen > outcap)
				fatalx("%s: bad CA_SIGNED", __func__);
			*failed = a.status != 0;
			memcpy(out, a.sig, a.siglen);
			*outlen = a.siglen;
			rc = 1;
		}
		memmove(ca.in, ca.in + flen, ca.inlen - flen);
		ca.inlen -= flen;
		if (rc == 1)
			break;
	}
	if (other && ca.notify != NULL)
		ca.notify(ca.notify_arg);
	return rc;
}

/*
 * ca_sign - one PROTO_CA_SIGN round trip. 0 with the signature in out,
 * or -1 (refused, timed out, the ca process gone): the handshake fails.
 */
static int
ca_sign(uint32_t key_id, uint8_t op, uint32_t md_nid, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen)
{
	uint8_t req[IPC_HDR_LEN + 4 + 1 + 4 + 4 + CA_SIG_MAX];
	struct proto_ca_sign q;
	struct ipc_hdr h;
	struct ipc_msg m;
	struct timespec start, deadline;
	uint64_t id = ca.next_id++;
	int failed = 0;
	size_t len;

	if (ca.fd == -1 || inlen > CA_SIG_MAX)
		return -1;
	q.key_id = key_id;
	q.op = op;
	q.md_nid = md_nid;
	q.in = in;
	q.inlen = inlen;
	proto_ca_sign_enc(&m, id, &q);
	len = evbuffer_get_length(m.buf);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = PROTO_CA_SIGN;
	h.id = id;
	memcpy(req, &h, sizeof(h));
	if (evbuffer_remove(m.buf, req + IPC_HDR_LEN, len) != (int)len)
		fatalx("%s: evbuffer_remove", __func__);
	ipc_msg_discard(&m);
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (fdio_send_all(ca.fd, req, IPC_HDR_LEN + len) == -1) {
		log_err(LOG_CAT_TLS, "event=ca_unreachable error=\"%s\"",
		    strerror(errno));
		return -1;
	}
	deadline = start;
	deadline.tv_sec += TLS_KEY_CA_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (TLS_KEY_CA_TIMEOUT_MS % 1000) * 1000000L;
	while (ca_take(id, out, outcap, outlen, &failed) == 0) {
		struct pollfd pfd = { ca.fd, POLLIN, 0 };
		long left = ms_left(&deadline);
		ssize_t n;
		int pr;

		if (left <= 0 || (pr = poll(&pfd, 1, (int)left)) == 0) {
			log_err(LOG_CAT_TLS, "event=ca_timeout request=%llu "
			    "timeout_ms=%d", (unsigned long long)id,
			    TLS_KEY_CA_TIMEOUT_MS);
			return -1;
		}
		if (pr == -1) {
			if (errno == EINTR)
				continue;
			fatal("%s: poll", __func__);
		}
		n = read(ca.fd, ca.in + ca.inlen, sizeof(ca.in) - ca.inlen);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			log_err(LOG_CAT_TLS, "event=ca_unreachable error=\"%s\"",
			    n == 0 ? "closed" : strerror(errno));
			ca.fd = -1;	/* the parent is stopping everything */
			return -1;
		}
		ca.inlen += (size_t)n;
	}
	ca_take(0, NULL, 0, NULL, NULL);	/* what came after the answer */
	if (log_enabled(LOG_CAT_TLS, LOG_LVL_DEBUG)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		log_debug(LOG_CAT_TLS, "event=ca_sign op=%u result=%s us=%ld", op,
		    failed ? "refused" : "signed", (long)((now.tv_sec -
		    start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000));
	}
	return failed ? -1 : 0;
}

static uint32_t
rsa_key_id(const RSA *rsa)
{
	return (uint32_t)(uintptr_t)RSA_get_ex_data(rsa, rsa_id_idx) - 1;
}

/* RSA_sign: a PKCS#1 v1.5 signature of a digest of type (a NID) */
static int
rsa_sign_cb(int type, const unsigned char *m, unsigned int m_len,
    unsigned char *sigret, unsigned int *siglen, const RSA *rsa)
{
	size_t n, k = (size_t)RSA_size(rsa);

	if (ca_sign(rsa_key_id(rsa), PROTO_CA_RSA_PKCS1, (uint32_t)type, m,
	    m_len, sigret, k, &n) == -1 || n != k)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

/* RSA_private_encrypt: only the raw operation over a PSS block */
static int
rsa_priv_enc_cb(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	size_t n, k = (size_t)RSA_size(rsa);

	if (padding != RSA_NO_PADDING || flen < 0 || (size_t)flen != k)
		return -1;
	if (ca_sign(rsa_key_id(rsa), PROTO_CA_RSA_PSS, 0, from, (size_t)flen,
	    to, k, &n) == -1 || n != k)
		return -1;
	return (int)n;
}

/* no RSA decryption: RSA key exchange is off (tls.c) */
static int
rsa_priv_dec_cb(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	return -1;
}

static int
ec_sign_cb(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
	size_t n;

	if (kinv != NULL || r != NULL || dlen < 0)
		return 0;	/* precomputed k: not with a remote key */
	if (ca_sign((uint32_t)(uintptr_t)EC_KEY_get_ex_data(eckey, ec_id_idx) - 1,
	    PROTO_CA_ECDSA, 0, dgst, (size_t)dlen, sig,
	    (size_t)ECDSA_size(eckey), &n) == -1)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
ec_sign_sig_cb(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *eckey)
{
	uint8_t der[CA_SIG_MAX];
	const uint8_t *p = der;
	unsigned int n;

	if (ec_sign_cb(0, dgst, dlen, der, &n, kinv, r, eckey) != 1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)n);
}

static int
methods_init(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *,
	    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *);
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **);
	ECDSA_SIG *(*sign_sig)(const unsigned char *, int, const BIGNUM *,
	    const BIGNUM *, EC_KEY *);

	if (rsa_meth != NULL)
		return 0;
	if ((rsa_id_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL,
	    NULL)) < 0 || (ec_id_idx = EC_KEY_get_ex_new_index(0, NULL, NULL,
	    NULL, NULL)) < 0)
		return -1;
	if ((rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL ||
	    RSA_meth_set1_name(rsa_meth, "moat ca") != 1 ||
	    RSA_meth_set_sign(rsa_meth, rsa_sign_cb) != 1 ||
	    RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc_cb) != 1 ||
	    RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec_cb) != 1)
		return -1;
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
		return -1;
	EC_KEY_METHOD_get_sign(ec_meth, &sign, &setup, &sign_sig);
	EC_KEY_METHOD_set_sign(ec_meth, ec_sign_cb, setup, ec_sign_sig_cb);
	return 0;
}

/* the stand-in key: the certificate's public key, our methods */
static EVP_PKEY *
stand_in_key(X509 *x, uint32_t key_id, char *err, size_t errlen)
{
	EVP_PKEY *pub = X509_get0_pubkey(x), *pk;
	int ok = 0;

	if (pub == NULL || (pk = EVP_PKEY_new()) == NULL) {
		snprintf(err, errlen, "cannot read the certificate's public key");
		return NULL;
	}
	/* tls_key_type_ok names the types handled here */
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA: {
		const RSA *pr = EVP_PKEY_get0_RSA(pub);
		const BIGNUM *n = NULL, *e = NULL;
		BIGNUM *n2 = NULL, *e2 = NULL;
		RSA *r = RSA_new();

		if (pr != NULL)
			RSA_get0_key(pr, &n, &e, NULL);
		if (r != NULL && n != NULL && e != NULL &&
		    RSA_set_method(r, rsa_meth) == 1 &&
		    RSA_set_ex_data(r, rsa_id_idx,
		    (void *)(uintptr_t)(key_id + 1)) == 1 &&
		    (n2 = BN_dup(n)) != NULL && (e2 = BN_dup(e)) != NULL &&
		    RSA_set0_key(r, n2, e2, NULL) == 1) {
			n2 = e2 = NULL;
			ok = EVP_PKEY_assign_RSA(pk, r) == 1;
		}
		BN_free(n2);
		BN_free(e2);
		if (!ok)
			RSA_free(r);
		break;
	}
	case EVP_PKEY_EC: {
		const EC_KEY *pe = EVP_PKEY_get0_EC_KEY(pub);
		EC_KEY *ek = EC_KEY_new();

		ok = pe != NULL && ek != NULL &&
		    EC_KEY_set_method(ek, ec_meth) == 1 &&
		    EC_KEY_set_ex_data(ek, ec_id_idx,
		    (void *)(uintptr_t)(key_id + 1)) == 1 &&
		    EC_KEY_set_group(ek, EC_KEY_get0_group(pe)) == 1 &&
		    EC_KEY_set_public_key(ek, EC_KEY_get0_public_key(pe)) == 1 &&
		    EVP_PKEY_assign_EC_KEY(pk, ek) == 1;
		if (!ok)
			EC_KEY_free(ek);
		break;
	}
	default:
		snprintf(err, errlen, "key type %s is not supported (RSA or "
		    "EC keys only)", EVP_PKEY_get0_type_name(pub));
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return NULL;
	}
	if (!ok) {
		snprintf(err, errlen, "cannot build the certificate's key");
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return NULL;
	}
	return pk;
}

/* tls_key_link - the socket to the ca process */
int
tls_key_link(int ca_fd)
{
	ca.fd = ca_fd;
	return methods_init();
}

/* tls_key_use - leaf's stand-in key, ca's key key_id, in ctx */
int
tls_key_use(SSL_CTX *ctx, X509 *leaf, uint32_t key_id, char *err,
    size_t errlen)
{
	EVP_PKEY *pk;

	if (methods_init() == -1) {
		snprintf(err, errlen, "cannot set up key methods");
		return -1;
	}
	if ((pk = stand_in_key(leaf, key_id, err, errlen)) == NULL)
		return -1;
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "the certificate's key is unusable");
		ERR_clear_error();
		EVP_PKEY_free(pk);
		return -1;
	}
	EVP_PKEY_free(pk);
	return 0;
}

/* tls_key_retire - tell ca that generation gen's keys are unused */
void
tls_key_retire(uint32_t gen)
{
	uint8_t buf[IPC_HDR_LEN + 4 + 1 + 4 + 8];
	struct proto_tls_gen g;
	struct ipc_hdr h;
	struct ipc_msg m;
	size_t len;

	if (ca.fd == -1)
		return;
	memset(&g, 0, sizeof(g));
	g.gen = gen;
	g.state = PROTO_TLS_RETIRED;
	proto_tls_gen_enc(&m, 0, &g);
	len = evbuffer_get_length(m.buf);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = PROTO_TLS_GEN;
	memcpy(buf, &h, sizeof(h));
	if (len > sizeof(buf) - IPC_HDR_LEN ||
	    evbuffer_remove(m.buf, buf + IPC_HDR_LEN, len) != (int)len)
		fatalx("%s: evbuffer_remove", __func__);
	ipc_msg_discard(&m);
	if (fdio_send_all(ca.fd, buf, IPC_HDR_LEN + len) == -1)
		log_err(LOG_CAT_TLS, "event=ca_unreachable error=\"%s\"",
		    strerror(errno));
}

/*
 * The link to ca also carries DKIM signing (smtp_dkim.c), which does
 * not block: its requests are written whole here (a frame is never
 * split by another), its answers read when the event loop sees the
 * link readable (tls_key_ca_read) or set aside by a handshake's round
 * trip, and taken one by one with tls_key_ca_next.
 */

/* tls_key_ca_link - the link (again, with or without TLS); notify is
 * called when other messages were set aside. 0 or -1 */
int
tls_key_ca_link(int ca_fd, void (*notify)(void *), void *arg)
{
	if (ca.other == NULL && (ca.other = evbuffer_new()) == NULL)
		return -1;
	ca.fd = ca_fd;
	ca.notify = notify;
	ca.notify_arg = arg;
	return 0;
}

/* tls_key_ca_send - write one message whole (m is discarded); 0 or -1 */
int
tls_key_ca_send(struct ipc_msg *m)
{
	uint8_t frame[CA_IN_MAX + 64];
	struct ipc_hdr h;
	size_t len = evbuffer_get_length(m->buf);
	int rc = -1;

	if (ca.fd != -1 && len <= sizeof(frame) - IPC_HDR_LEN) {
		memset(&h, 0, sizeof(h));
		h.len = (uint32_t)len;
		h.type = m->type;
		h.id = m->id;
		memcpy(frame, &h, sizeof(h));
		if (evbuffer_remove(m->buf, frame + IPC_HDR_LEN, len) ==
		    (int)len && fdio_send_all(ca.fd, frame, IPC_HDR_LEN +
		    len) == 0)
			rc = 0;
	}
	ipc_msg_discard(m);
	return rc;
}

/* tls_key_ca_read - the link is readable: read and set aside; 0, or -1
 * when ca is gone */
int
tls_key_ca_read(void)
{
	ssize_t n;

	if (ca.fd == -1)
		return -1;
	n = read(ca.fd, ca.in + ca.inlen, sizeof(ca.in) - ca.inlen);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		ca.fd = -1;
		return -1;
	}
	ca.inlen += (size_t)n;
	ca_take(0, NULL, 0, NULL, NULL);
	return 0;
}

/* tls_key_ca_next - the next message set aside into buf: 1, or 0 none */
int
tls_key_ca_next(struct ipc_hdr *h, uint8_t *buf, size_t cap)
{
	if (ca.other == NULL || evbuffer_get_length(ca.other) < IPC_HDR_LEN)
		return 0;
	evbuffer_remove(ca.other, h, IPC_HDR_LEN);
	if (h->len > cap)
		fatalx("%s: message %u of %u bytes", __func__, h->type, h->len);
	evbuffer_remove(ca.other, buf, h->len);
	return 1;
}
