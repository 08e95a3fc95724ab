/*
 * ca_proc.c - the ca process: holds the TLS private key, signs for smtp.
 *
 * Public: ca_proc_prepare, ca_proc_main.
 *
 * The smtp process talks to the Internet and holds only the
 * certificate chain; every private-key operation of its TLS handshakes
 * comes here as PROTO_CA_SIGN (see src/io/tls_key.c for the other
 * side). This process reads the key file as root before it drops to
 * the moat user in the empty chroot, and then reads nothing but its
 * two socketpairs: the parent's and smtp's. A compromise of smtp can
 * have handshakes signed while it lasts, but cannot take the key away.
 * (OpenSMTPD's ca process is the model.)
 *
 * The DKIM signing keys live here too (ca_dkim.c): smtp sends the hash
 * of the header fields a signature covers (PROTO_DKIM_SIGN) and gets
 * the signature back, asynchronously, its session parked meanwhile.
 *
 * SECURITY: requests come from smtp; a malformed one is fatal (the
 * rule for siblings); a well-formed one the key refuses (a raw RSA
 * block that is not PSS-shaped, a wrong size) gets a failure answer
 * and a warning. ca_key.c checks every size. The key is never sent.
 * LIMITS: one operation at a time, CA_SIG_MAX bytes a signature.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "../control/control_log.h"
#include "../daemon/config.h"
#include "../daemon/proc.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../lib/log.h"
#include "ca_dkim.h"
#include "ca_key.h"
#include "ca_proc.h"

#define DKIM_SIG_MAX_CA	1024	/* RSA 8192 bits */

struct ca_proc {
	struct event_base	*base;
	struct ipc_peer		*parent, *smtp;
	EVP_PKEY		*key;		/* owned; NULL without TLS */
	struct ca_dkim		*dkim;		/* owned; the dkim_sign keys */
	uint64_t		 signed_ok, refused, dkim_signed;
};

/* what ca_proc_prepare read as root */
struct ca_prepared {
	EVP_PKEY		*key;
	struct ca_dkim		*dkim;
};

/* PROTO_DKIM_SIGN: one DKIM signature */
static void
ca_dkim_request(struct ca_proc *ca, uint64_t id, struct ipc_reader *r)
{
	uint8_t sig[DKIM_SIG_MAX_CA];
	struct proto_dkim_sign q;
	struct proto_dkim_signed a;
	size_t siglen = 0;
	struct ipc_msg m;
	char err[256];
	int rc;

	if (proto_dkim_sign_dec(r, &q) == -1)
		fatalx("%s: bad DKIM_SIGN", __func__);
	rc = ca_dkim_sign(ca->dkim, q.key_id, q.digest, q.digestlen, sig,
	    sizeof(sig), &siglen, err, sizeof(err));
	if (rc == 0)
		ca->dkim_signed++;
	else
		log_warn(LOG_CAT_TLS, "event=dkim_sign_failed key=%u "
		    "error=\"%s\"", q.key_id, err);
	a.key_id = q.key_id;
	a.status = rc == 0 ? 0 : 1;
	a.sig = sig;
	a.siglen = rc == 0 ? siglen : 0;
	proto_dkim_signed_enc(&m, id, &a);
	ipc_send(ca->smtp, &m);
}

/* smtp's messages: PROTO_CA_SIGN (TLS), PROTO_DKIM_SIGN */
static void
ca_sign(struct ipc_peer *p, uint16_t type, uint64_t id, struct ipc_reader *r,
    void *arg)
{
	struct ca_proc *ca = arg;
	uint8_t sig[CA_SIG_MAX];
	struct proto_ca_sign q;
	struct proto_ca_signed a;
	size_t siglen = 0;
	struct ipc_msg m;
	char err[256];
	int rc;

	if (type == PROTO_DKIM_SIGN) {
		ca_dkim_request(ca, id, r);
		return;
	}
	ipc_expect(p, type, PROTO_CA_SIGN);
	if (proto_ca_sign_dec(r, &q) == -1)
		fatalx("%s: bad CA_SIGN", __func__);
	if (q.key_id != 0 || ca->key == NULL)
		fatalx("%s: CA_SIGN for key %u, which does not exist", __func__,
		    q.key_id);
	rc = ca_key_sign(ca->key, q.op, q.md_nid, q.in, q.inlen, sig,
	    sizeof(sig), &siglen, err, sizeof(err));
	if (rc == 0)
		ca->signed_ok++;
	else {
		ca->refused++;
		log_warn(LOG_CAT_TLS, "event=ca_refused op=%u error=\"%s\"",
		    q.op, err);
	}
	a.status = rc == 0 ? 0 : 1;
	a.sig = sig;
	a.siglen = rc == 0 ? siglen : 0;
	proto_ca_signed_enc(&m, id, &a);
	ipc_send(ca->smtp, &m);
}

static void
parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct ca_proc *ca = arg;

	/* RELOAD: tls_cert and tls_key need a restart, as for smtp */
	if (!control_child_msg(ca->base, type, r))
		fatalx("%s: unexpected message %u from parent", __func__, type);
}

static void
peer_close_cb(struct ipc_peer *p, void *arg)
{
	struct ca_proc *ca = arg;

	/* smtp going first is part of a normal shutdown */
	event_base_loopexit(ca->base, NULL);
}

/* ca_proc_prepare - read tls_key and the DKIM keys as root, before the
 * chroot */
int
ca_proc_prepare(struct proc_env *env)
{
	const struct conf *c = env->conf;
	struct ca_prepared *cp;
	char err[1024];

	if ((cp = calloc(1, sizeof(*cp))) == NULL)
		return -1;
	env->prepared = cp;
	if ((cp->dkim = ca_dkim_load(c, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_TLS, "event=dkim_key_failed error=\"%s\"", err);
		return -1;
	}
	if (c->tls_key[0] == '\0')
		return 0;
	if ((cp->key = ca_key_load(c->tls_key, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_TLS, "event=ca_key_failed error=\"%s\"", err);
		return -1;
	}
	return 0;
}

/* ca_proc_main - answer PROTO_CA_SIGN until shutdown */
int
ca_proc_main(struct proc_env *env)
{
	struct ca_prepared *cp = env->prepared;
	struct ca_proc ca;
	struct ipc_msg m;

	memset(&ca, 0, sizeof(ca));
	ca.base = env->base;
	ca.key = cp->key;
	ca.dkim = cp->dkim;
	free(cp);
	env->prepared = NULL;
	ca.parent = ipc_peer_new(ca.base, env->peer[PROC_PARENT], "parent",
	    parent_msg_cb, peer_close_cb, &ca);
	ca.smtp = ipc_peer_new(ca.base, env->peer[PROC_SMTP], "smtp",
	    ca_sign, peer_close_cb, &ca);
	/* smtp learns which domains it signs for, and how */
	for (size_t i = 0; i < ca_dkim_count(ca.dkim); i++) {
		ca_dkim_key_enc(ca.dkim, i, &m);
		ipc_send(ca.smtp, &m);
	}
	log_info(LOG_CAT_TLS, "event=ca_ready key=%s dkim_keys=%zu",
	    ca.key == NULL ? "none" : EVP_PKEY_get0_type_name(ca.key),
	    (size_t)env->conf->n_dkim_sign);
	event_base_dispatch(ca.base);
	log_info(LOG_CAT_TLS, "event=ca_stopped signed=%llu refused=%llu "
	    "dkim_signed=%llu", (unsigned long long)ca.signed_ok,
	    (unsigned long long)ca.refused,
	    (unsigned long long)ca.dkim_signed);
	ipc_peer_free(ca.parent);
	ipc_peer_free(ca.smtp);
	EVP_PKEY_free(ca.key);
	ca_dkim_free(ca.dkim);
	conf_free(env->conf);
	return 0;
}
