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
 * Keys by generation: the keys read at start are generation 0; a
 * reload's come as one PROTO_TLS_KEYS on a socket of their own, written
 * by a child of the parent that read them (so that no key is ever in
 * the parent's memory), and are answered PROTO_TLS_GEN to the parent,
 * which only then gives smtp the matching certificates. smtp signs
 * with the key id of the certificate a handshake uses, and says when no
 * session uses a generation any more: its keys are dropped then, not at
 * the reload, so that handshakes under way finish.
 * The web console's key (console_tls_key) is held apart from those
 * generations: the control process serves the console over HTTPS and
 * signs its handshakes here, on a link of its own, with
 * CA_CONSOLE_KEY_ID only; smtp cannot reach it, nor control smtp's.
 * LIMITS: one operation at a time, CA_SIG_MAX bytes a signature,
 * CA_KEYS_MAX keys held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "../control/control_log.h"
#include "../daemon/config.h"
#include "../daemon/proc.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls_set.h"
#include "../lib/log.h"
#include "ca_dkim.h"
#include "ca_key.h"
#include "ca_proc.h"

/* a key and the id smtp signs with (tls_set_key_id) */
#define CA_KEYS_MAX	(8 * TLS_SET_PAIRS_MAX)

struct ca_held {
	uint32_t	 id;
	EVP_PKEY	*key;		/* owned */
};

struct ca_proc {
	struct event_base	*base;
	struct ipc_peer		*parent, *smtp, *keys, *control;
	EVP_PKEY		*console_key;	/* owned; NULL: no HTTPS */
	struct ca_held		 held[CA_KEYS_MAX];	/* every generation's */
	size_t			 n_held;
	struct ca_dkim		*dkim;		/* owned; the dkim_sign keys */
	uint64_t		 signed_ok, refused, dkim_signed;
};

#define DKIM_SIG_MAX_CA	1024	/* RSA 8192 bits */

/* what ca_proc_prepare read as root */
struct ca_prepared {
	struct ca_held		*held;		/* ends with a NULL key */
	struct ca_dkim		*dkim;
	EVP_PKEY		*console_key;
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

static EVP_PKEY *
key_find(struct ca_proc *ca, uint32_t id)
{
	for (size_t i = 0; i < ca->n_held; i++)
		if (ca->held[i].id == id)
			return ca->held[i].key;
	return NULL;
}

/* drop the keys of generation gen */
static void
keys_retire(struct ca_proc *ca, uint32_t gen)
{
	size_t i = 0, dropped = 0;

	while (i < ca->n_held)
		if (ca->held[i].id / TLS_SET_PAIRS_MAX == gen) {
			EVP_PKEY_free(ca->held[i].key);
			ca->held[i] = ca->held[--ca->n_held];
			dropped++;
		} else
			i++;
	log_info(LOG_CAT_TLS, "event=ca_keys_dropped generation=%u keys=%zu "
	    "held=%zu", gen, dropped, ca->n_held);
}

/* PROTO_TLS_GEN retired (smtp, or the parent for a void reload) */
static void
retire_msg(struct ca_proc *ca, struct ipc_reader *r)
{
	struct proto_tls_gen g;

	if (proto_tls_gen_dec(r, &g) == -1 || g.state != PROTO_TLS_RETIRED)
		fatalx("%s: bad TLS_GEN", __func__);
	keys_retire(ca, g.gen);
}

static void
gen_answer(struct ca_proc *ca, uint32_t gen, uint8_t state, const char *err)
{
	struct proto_tls_gen g;
	struct ipc_msg m;

	memset(&g, 0, sizeof(g));
	g.gen = gen;
	g.state = state;
	snprintf(g.error, sizeof(g.error), "%s", err);
	proto_tls_gen_enc(&m, 0, &g);
	ipc_send(ca->parent, &m);
}

/* the keys socket: a reload's keys, from the parent's key loader */
static void
keys_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct ca_proc *ca = arg;
	EVP_PKEY *keys[PROTO_TLS_PAIRS_MAX];
	struct proto_tls_keys k;
	char err[256];
	uint32_t i;

	ipc_expect(p, type, PROTO_TLS_KEYS);
	if (proto_tls_keys_dec(r, &k) == -1)
		fatalx("%s: bad TLS_KEYS", __func__);
	for (i = 0; i < k.count; i++)
		if ((keys[i] = ca_key_load_pem(k.item[i].pem, k.item[i].len, err,
		    sizeof(err))) == NULL)
			break;
	if (i == k.count && ca->n_held + k.count > CA_KEYS_MAX)
		snprintf(err, sizeof(err), "more than %d keys held: too many "
		    "generations in use", CA_KEYS_MAX);
	if (i < k.count || ca->n_held + k.count > CA_KEYS_MAX) {
		while (i > 0)
			EVP_PKEY_free(keys[--i]);
		log_err(LOG_CAT_TLS, "event=ca_keys_failed generation=%u "
		    "error=\"%s\"", k.gen, err);
		gen_answer(ca, k.gen, PROTO_TLS_FAILED, err);
		return;
	}
	for (i = 0; i < k.count; i++) {
		ca->held[ca->n_held].id = tls_set_key_id(k.gen, i);
		ca->held[ca->n_held++].key = keys[i];
	}
	log_info(LOG_CAT_TLS, "event=ca_keys_loaded generation=%u keys=%u "
	    "held=%zu", k.gen, k.count, ca->n_held);
	gen_answer(ca, k.gen, PROTO_TLS_LOADED, "");
}

/*
 * one PROTO_CA_SIGN from p: smtp's with a generation's key, control's
 * with the console's
 */
static void
sign_request(struct ca_proc *ca, struct ipc_peer *p, uint64_t id,
    struct ipc_reader *r)
{
	uint8_t sig[CA_SIG_MAX];
	struct proto_ca_sign q;
	struct proto_ca_signed a;
	EVP_PKEY *key;
	size_t siglen = 0;
	struct ipc_msg m;
	char err[256];
	int rc;

	if (proto_ca_sign_dec(r, &q) == -1)
		fatalx("%s: bad CA_SIGN", __func__);
	if (p == ca->control)
		key = q.key_id == CA_CONSOLE_KEY_ID ? ca->console_key : NULL;
	else
		key = key_find(ca, q.key_id);
	if (key == NULL) {
		/* each asks only for keys it was given: a bug */
		fatalx("%s: CA_SIGN for key %u, which does not exist", __func__,
		    q.key_id);
	}
	rc = ca_key_sign(key, q.op, q.md_nid, q.in, q.inlen, sig,
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
	ipc_send(p, &m);
}

/* smtp: PROTO_CA_SIGN, or PROTO_TLS_GEN when a generation is unused */
static void
ca_sign(struct ipc_peer *p, uint16_t type, uint64_t id, struct ipc_reader *r,
    void *arg)
{
	struct ca_proc *ca = arg;

	if (type == PROTO_TLS_GEN) {
		retire_msg(ca, r);
		return;
	}
	if (type == PROTO_DKIM_SIGN) {
		ca_dkim_request(ca, id, r);
		return;
	}
	ipc_expect(p, type, PROTO_CA_SIGN);
	sign_request(ca, p, id, r);
}

/* control: PROTO_CA_SIGN for the console's handshakes, nothing else */
static void
console_sign(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	ipc_expect(p, type, PROTO_CA_SIGN);
	sign_request(arg, p, id, r);
}

static void
parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct ca_proc *ca = arg;

	/* a reload whose certificates smtp never got: drop their keys */
	if (type == PROTO_TLS_GEN) {
		retire_msg(ca, r);
		return;
	}
	/* RELOAD is answered and otherwise ignored: keys come on their own
	 * socket */
	if (!control_child_msg(ca->base, p, type, r))
		fatalx("%s: unexpected message %u from parent", __func__, type);
}

static void
peer_close_cb(struct ipc_peer *p, void *arg)
{
	struct ca_proc *ca = arg;

	/* smtp going first is part of a normal shutdown */
	event_base_loopexit(ca->base, NULL);
}

/* ca_proc_prepare - read the keys as root, before the chroot */
int
ca_proc_prepare(struct proc_env *env)
{
	struct conf_tls_pair pairs[CONF_TLS_PAIRS_MAX];
	struct ca_prepared *cp;
	struct ca_held *held;
	size_t n = conf_tls_pairs(env->conf, pairs, CONF_TLS_PAIRS_MAX);
	char err[1024];

	if ((cp = calloc(1, sizeof(*cp))) == NULL ||
	    (held = calloc(n + 1, sizeof(*held))) == NULL)
		fatal("%s: calloc", __func__);
	cp->held = held;
	env->prepared = cp;
	if ((cp->dkim = ca_dkim_load(env->conf, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_TLS, "event=dkim_key_failed error=\"%s\"", err);
		return -1;
	}
	if (env->conf->console_tls_key[0] != '\0' &&
	    (cp->console_key = ca_key_load(env->conf->console_tls_key, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_TLS, "event=ca_key_failed knob=console_tls_key "
		    "error=\"%s\"", err);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		held[i].id = tls_set_key_id(0, i);
		if ((held[i].key = ca_key_load(pairs[i].key, err,
		    sizeof(err))) == NULL) {
			log_err(LOG_CAT_TLS, "event=ca_key_failed error=\"%s\"",
			    err);
			return -1;
		}
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
	for (size_t i = 0; cp->held[i].key != NULL; i++)
		ca.held[ca.n_held++] = cp->held[i];
	ca.dkim = cp->dkim;
	ca.console_key = cp->console_key;
	free(cp->held);
	free(cp);
	env->prepared = NULL;
	ca.parent = ipc_peer_new(ca.base, env->peer[PROC_PARENT], "parent",
	    parent_msg_cb, peer_close_cb, &ca);
	ca.smtp = ipc_peer_new(ca.base, env->peer[PROC_SMTP], "smtp",
	    ca_sign, peer_close_cb, &ca);
	ca.keys = ipc_peer_new(ca.base, env->keys_fd, "keys", keys_msg_cb,
	    peer_close_cb, &ca);
	if (env->peer[PROC_CONTROL] >= 0)
		ca.control = ipc_peer_new(ca.base, env->peer[PROC_CONTROL],
		    "control", console_sign, peer_close_cb, &ca);
	/* smtp learns which domains it signs for, and how */
	for (size_t i = 0; i < ca_dkim_count(ca.dkim); i++) {
		ca_dkim_key_enc(ca.dkim, i, &m);
		ipc_send(ca.smtp, &m);
	}
	log_info(LOG_CAT_TLS, "event=ca_ready keys=%zu first=%s dkim_keys=%zu "
	    "console_key=%s", ca.n_held, ca.n_held == 0 ? "none" :
	    EVP_PKEY_get0_type_name(ca.held[0].key),
	    (size_t)env->conf->n_dkim_sign, ca.console_key == NULL ? "none" :
	    EVP_PKEY_get0_type_name(ca.console_key));
	proto_ready_send(ca.parent, PROTO_READY_START, 1, NULL);
	event_base_dispatch(ca.base);
	log_info(LOG_CAT_TLS, "event=ca_stopped signed=%llu refused=%llu "
	    "dkim_signed=%llu", (unsigned long long)ca.signed_ok,
	    (unsigned long long)ca.refused,
	    (unsigned long long)ca.dkim_signed);
	ipc_peer_free(ca.parent);
	ipc_peer_free(ca.smtp);
	ipc_peer_free(ca.keys);
	ipc_peer_free(ca.control);
	EVP_PKEY_free(ca.console_key);
	for (size_t i = 0; i < ca.n_held; i++)
		EVP_PKEY_free(ca.held[i].key);
	ca_dkim_free(ca.dkim);
	conf_free(env->conf);
	return 0;
}
