/*
 * smtp_authres.c - inbound DKIM verification (RFC 6376 6) on mx
 * listeners, and the Authentication-Results field (RFC 8601) it gives.
 *
 * Public: smtp_authres_wanted, smtp_authres_resolver, smtp_authres_tx_new,
 * smtp_authres_tx_free, smtp_authres_spf_start, smtp_authres_work_done,
 * smtp_authres_body, smtp_authres_finish, smtp_authres_give_up,
 * smtp_authres_action, smtp_authres_apply, smtp_authres_strip.
 *
 * When the header section of a message from outside has ended, its
 * DKIM-Signature fields (up to AUTHRES_SIGS_MAX) are parsed and each
 * gets a body hash of its own canonicalization, fed as the body streams:
 * nothing of the body is kept. At the dot each header hash is computed
 * and the key record (SELECTOR._domainkey.DOMAIN TXT) asked for with the
 * process's asynchronous resolver (libunbound); the session waits, the
 * others go on. With the last answer the results make our
 * Authentication-Results field, which goes right below our Received
 * field; every field that claims our authserv-id was removed before, by
 * the dot step of its own (smtp_authres_strip), checked or not. SPF
 * (libspf2) and the DMARC record come from worker threads
 * (smtp_authwork.c); the DMARC verdict is libopendmarc's (dmarc.c).
 * SECURITY: signatures and key records come from outside: parsed by
 * dkim_tag.c (bounded, fuzzed); an answer names its session by id and
 * a generation, so a late one for a message gone is dropped.
 * LIMITS: AUTHRES_SIGS_MAX signatures verified a message (more are
 * reported as not checked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <event2/buffer.h>
#include <sodium.h>
#include <unbound.h>

#include "../authres/authres.h"
#include "../authres/dmarc.h"
#include "../dkim/dkim_canon.h"
#include "../dkim/dkim_head.h"
#include "../dkim/dkim_key.h"
#include "../dkim/dkim_tag.h"
#include "../io/evbuf.h"
#include "../lib/log.h"
#include "../lib/resolver.h"
#include "smtp.h"
#include "smtp_authres.h"
#include "smtp_authwork.h"

#define AUTHRES_SIGS_MAX	4
#define AUTHRES_TYPE_TXT	16
#define AUTHRES_CLASS_IN	1

struct authres_sig {
	struct dkim_sig		 sig;
	struct dkim_body	 body;
	int			 parsed;	/* sig is usable */
	uint8_t			 hh[DKIM_HASH_LEN];	/* header hash */
	const char		*result;	/* NULL: still to come */
	const char		*reason;
	char			 props[512];
};

struct smtp_authres_tx {
	struct smtp_server	*srv;
	uint64_t		 session_id;
	uint64_t		 gen;		/* names this message's lookups */
	int			 started;	/* signatures parsed */
	struct authres_sig	 s[AUTHRES_SIGS_MAX];
	size_t			 n;
	int			 pending;	/* key lookups in flight */
	int			 dkim;		/* signatures checked */
	/* SPF, started at MAIL FROM */
	int			 spf_state;	/* AR_OFF, AR_WAIT, AR_DONE */
	enum spf_result		 spf;
	const char		*spf_why;
	char			 spf_domain[256];	/* for alignment */
	int			 spf_helo;	/* spf_domain is the HELO name */
	char			 spf_prop[600];	/* smtp.mailfrom=... */
	/* DMARC, the record asked for at the dot */
	int			 dmarc_state;
	int			 dmarc_found;	/* 1, 0 none, -1 temperror */
	char			 dmarc[DMARC_RECORD_MAX];	/* the record */
	char			 dmarc_domain[256];	/* where it was */
	char			 client[64];	/* the address, for libopendmarc */
	char			 from[256];	/* the From domain */
	char			 dmarc_prop[600];
	enum smtp_dmarc_action	 action;
};

#define AR_OFF	0
#define AR_WAIT	1
#define AR_DONE	2

/* one key lookup in flight; owned by libunbound until its answer */
struct authres_query {
	struct smtp_server	*srv;
	uint64_t		 session_id, gen;
	size_t			 idx;
};

static uint64_t authres_gen;
static struct dkim_head verify_head;	/* one at a time: one thread */

int
smtp_authres_wanted(const struct conf *c)
{
	if (!c->dkim_verify && !c->spf_check && !c->dmarc_check)
		return 0;
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].role == ROLE_MX)
			return 1;
	return 0;
}

struct resolver *
smtp_authres_resolver(const char *server, char *err, size_t errlen)
{
	return resolver_new("dkim", server, 0, err, errlen);
}

struct smtp_authres_tx *
smtp_authres_tx_new(struct smtp_server *srv, uint64_t session_id)
{
	struct smtp_authres_tx *t;

	if (srv->authres == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->dkim = srv->conf->dkim_verify;
	t->srv = srv;
	t->session_id = session_id;
	t->gen = ++authres_gen;
	return t;
}

void
smtp_authres_tx_free(struct smtp_authres_tx *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		dkim_body_free(&t->s[i].body);
	free(t);
}

/* nothing in flight: the results can be written */
static int
authres_ready(const struct smtp_authres_tx *t)
{
	return t->pending == 0 && t->spf_state != AR_WAIT &&
	    t->dmarc_state != AR_WAIT;
}

/* a value of a property we write: a plain local-part@domain or none */
static int
prop_safe(const char *v)
{
	if (v[0] == '\0')
		return 0;
	for (const char *p = v; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr(";()\"\\<>,", *p))
			return 0;
	return 1;
}

/* the client's address as text: a v4-mapped one in dotted form */
static void
client_text(const uint8_t ip[16], char *out, size_t cap)
{
	static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (memcmp(ip, v4mapped, 12) == 0)
		inet_ntop(AF_INET, ip + 12, out, (socklen_t)cap);
	else
		inet_ntop(AF_INET6, ip, out, (socklen_t)cap);
}

static struct authwork_job *
job_new(struct smtp_authres_tx *t, enum authwork_kind kind)
{
	struct authwork_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->kind = kind;
	j->srv = t->srv;
	j->session_id = t->session_id;
	j->gen = t->gen;
	return j;
}

void
smtp_authres_spf_start(struct smtp_authres_tx *t, const uint8_t ip[16],
    const char *sender, const char *helo)
{
	struct authwork_job *j;
	const char *at = strrchr(sender, '@');

	client_text(ip, t->client, sizeof(t->client));
	if (!t->srv->conf->spf_check || t->srv->authwork == NULL)
		return;
	t->spf_state = AR_DONE;
	t->spf = SPF_TEMPERROR;
	t->spf_why = "out of memory";
	if (sender[0] == '\0') {
		/* the null sender: the HELO identity (RFC 7208 2.4) */
		snprintf(t->spf_domain, sizeof(t->spf_domain), "%s", helo);
		t->spf_helo = 1;
		if (prop_safe(helo))
			snprintf(t->spf_prop, sizeof(t->spf_prop),
			    "smtp.helo=%s", helo);
	} else {
		snprintf(t->spf_domain, sizeof(t->spf_domain), "%s",
		    at != NULL ? at + 1 : sender);
		if (prop_safe(sender))
			snprintf(t->spf_prop, sizeof(t->spf_prop),
			    "smtp.mailfrom=%s", sender);
		else if (prop_safe(t->spf_domain))
			snprintf(t->spf_prop, sizeof(t->spf_prop),
			    "smtp.mailfrom=%s", t->spf_domain);
	}
	if ((j = job_new(t, AUTHWORK_SPF)) == NULL)
		return;
	memcpy(j->ip, ip, 16);
	if (sender[0] == '\0')
		snprintf(j->sender, sizeof(j->sender), "postmaster@%s", helo);
	else
		snprintf(j->sender, sizeof(j->sender), "%s", sender);
	snprintf(j->helo, sizeof(j->helo), "%s", helo);
	snprintf(j->domain, sizeof(j->domain), "%s", t->spf_domain);
	if (authwork_submit(t->srv->authwork, j) == -1) {
		free(j);
		t->spf_why = "too many checks";
		return;
	}
	t->spf_state = AR_WAIT;
}

/* a worker's answer, on the loop */
void
smtp_authres_work_done(struct authwork_job *j)
{
	struct smtp_session *s = smtp_server_find(j->srv, j->session_id);
	struct smtp_authres_tx *t;

	t = s != NULL && s->tx != NULL ? s->tx->authres : NULL;
	if (t == NULL || t->gen != j->gen)
		return;		/* the transaction is gone */
	if (j->kind == AUTHWORK_SPF && t->spf_state == AR_WAIT) {
		t->spf = j->spf;
		t->spf_why = j->why;
		t->spf_state = AR_DONE;
	} else if (j->kind == AUTHWORK_DMARC && t->dmarc_state == AR_WAIT) {
		t->dmarc_found = j->dmarc_found;
		memcpy(t->dmarc, j->dmarc, sizeof(t->dmarc));
		memcpy(t->dmarc_domain, j->dmarc_domain,
		    sizeof(t->dmarc_domain));
		t->dmarc_state = AR_DONE;
	} else
		return;
	if (authres_ready(t))
		smtp_session_authres_done(s);
}

/* at the dot: the From domain's DMARC record asked for */
static void
dmarc_start(struct smtp_authres_tx *t, const struct smtp_head *h)
{
	struct authwork_job *j;

	if (!t->srv->conf->dmarc_check || t->srv->authwork == NULL ||
	    t->dmarc_state != AR_OFF)
		return;
	t->dmarc_state = AR_DONE;
	t->dmarc_found = -1;
	if (smtp_dkim_from_domain(h->buf, h->len, t->from,
	    sizeof(t->from)) == -1 || strchr(t->from, '.') == NULL) {
		t->from[0] = '\0';
		return;
	}
	if ((j = job_new(t, AUTHWORK_DMARC)) == NULL)
		return;
	snprintf(j->domain, sizeof(j->domain), "%s", t->from);
	if (authwork_submit(t->srv->authwork, j) == -1) {
		free(j);
		return;
	}
	t->dmarc_state = AR_WAIT;
}

/* the header section has ended: its signatures, each with a body hash */
static void
authres_start(struct smtp_authres_tx *t, const struct smtp_head *h)
{
	char props[sizeof(t->s[0].props)];
	const char *why;

	t->started = 1;
	if (!t->dkim)
		return;
	dkim_head_split(&verify_head, h->buf, h->len);
	for (size_t i = 0; i < verify_head.n; i++) {
		const struct dkim_field *f = &verify_head.f[i];
		struct authres_sig *as;
		const char *colon;

		if (strcmp(f->name, "dkim-signature") != 0)
			continue;
		if (t->n == AUTHRES_SIGS_MAX)
			break;
		as = &t->s[t->n++];
		colon = memchr(f->p, ':', f->len);
		if (dkim_sig_parse(&as->sig, colon + 1,
		    f->len - (size_t)(colon + 1 - f->p), &why) == -1) {
			as->result = "permerror";
			as->reason = why;
			continue;
		}
		snprintf(props, sizeof(props), "header.d=%s header.s=%s "
		    "header.a=%s", as->sig.domain, as->sig.selector,
		    as->sig.alg == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" :
		    "rsa-sha256");
		memcpy(as->props, props, sizeof(props));
		if (dkim_body_init(&as->body, as->sig.bcanon,
		    as->sig.length) == -1) {
			as->result = "temperror";
			as->reason = "out of memory";
			continue;
		}
		as->parsed = 1;
	}
}

/* one piece of the body into every parsed signature's body hash */
static void
authres_body_piece(void *arg, const void *p, size_t len)
{
	struct smtp_authres_tx *t = arg;

	for (size_t k = 0; k < t->n; k++)
		if (t->s[k].parsed)
			dkim_body_update(&t->s[k].body, p, len);
}

void
smtp_authres_body(struct smtp_authres_tx *t, const struct smtp_head *h,
    struct evbuffer *body, size_t from)
{
	if (!h->done)
		return;
	if (!t->started)
		authres_start(t, h);
	evbuf_walk(body, from, evbuffer_get_length(body), authres_body_piece, t);
}

/* the k-th DKIM-Signature field of the section split in verify_head */
static const struct dkim_field *
sig_field(size_t k)
{
	for (size_t i = 0; i < verify_head.n; i++)
		if (strcmp(verify_head.f[i].name, "dkim-signature") == 0 &&
		    k-- == 0)
			return &verify_head.f[i];
	return NULL;
}

/* the key record arrived (or not) for signature idx */
static void
authres_key(struct authres_sig *as, int err, struct ub_result *res)
{
	struct dkim_keyrec k;
	char txt[DKIM_B64_MAX * 2];
	const char *why;
	size_t len = 0;

	if (err != 0 || res == NULL || res->rcode == 2 /* SERVFAIL */) {
		as->result = "temperror";
		as->reason = "key lookup failed";
		return;
	}
	if (!res->havedata || res->data[0] == NULL) {
		as->result = "permerror";
		as->reason = "no key";
		return;
	}
	/* the TXT strings of the first record, joined */
	for (size_t i = 0; i < (size_t)res->len[0]; ) {
		size_t sl = (uint8_t)res->data[0][i++];

		if (i + sl > (size_t)res->len[0] || len + sl >= sizeof(txt)) {
			as->result = "permerror";
			as->reason = "bad key record";
			return;
		}
		memcpy(txt + len, res->data[0] + i, sl);
		len += sl;
		i += sl;
	}
	if (dkim_keyrec_parse(&k, txt, len, &why) == -1) {
		as->result = "permerror";
		as->reason = why;
		return;
	}
	switch (dkim_key_verify(&k, as->sig.alg, as->hh, as->sig.b,
	    as->sig.blen)) {
	case 1:
		as->result = "pass";
		/* RFC 6376 8.2: what follows l= was not signed */
		if (as->sig.length >= 0)
			as->reason = "body partly signed (l=)";
		break;
	case 0:
		as->result = "fail";
		as->reason = "signature did not verify";
		break;
	default:
		as->result = "permerror";
		as->reason = k.plen == 0 ? "key revoked" : "unusable key";
	}
}

static void
authres_answer(void *arg, int err, struct ub_result *res)
{
	struct authres_query *q = arg;
	struct smtp_session *s;
	struct smtp_authres_tx *t;

	s = smtp_server_find(q->srv, q->session_id);
	t = s != NULL && s->tx != NULL ? s->tx->authres : NULL;
	if (t != NULL && t->gen == q->gen && q->idx < t->n &&
	    t->s[q->idx].result == NULL) {
		authres_key(&t->s[q->idx], err, res);
		if (--t->pending == 0 && authres_ready(t))
			smtp_session_authres_done(s);
	}
	if (res != NULL)
		ub_resolve_free(res);
	free(q);
}

int
smtp_authres_finish(struct smtp_authres_tx *t, const struct smtp_head *h)
{
	char stripped[DKIM_B64_MAX * 4], qname[512];
	time_t now = time(NULL);

	if (!t->started)
		authres_start(t, h);
	dkim_head_split(&verify_head, h->buf, h->len);
	for (size_t i = 0; i < t->n; i++) {
		struct authres_sig *as = &t->s[i];
		const struct dkim_field *f = sig_field(i);
		struct authres_query *q;
		uint8_t bh[DKIM_HASH_LEN];
		long n;

		if (!as->parsed || as->result != NULL)
			continue;
		if (dkim_body_final(&as->body, bh) == -1 ||
		    memcmp(bh, as->sig.bh, sizeof(bh)) != 0) {
			as->result = "fail";
			as->reason = "body hash did not verify";
			continue;
		}
		if (as->sig.x > 0 && as->sig.x < now) {
			as->result = "fail";
			as->reason = "signature expired";
			continue;
		}
		if (f == NULL || (n = dkim_strip_b(f->p, f->len, stripped,
		    sizeof(stripped))) < 0 || dkim_head_hash(as->sig.hcanon,
		    &verify_head, as->sig.hdrs, as->sig.n_hdrs, stripped,
		    (size_t)n, as->hh) == -1) {
			as->result = "permerror";
			as->reason = "header too long";
			continue;
		}
		snprintf(qname, sizeof(qname), "%s._domainkey.%s",
		    as->sig.selector, as->sig.domain);
		if ((q = calloc(1, sizeof(*q))) == NULL) {
			as->result = "temperror";
			as->reason = "out of memory";
			continue;
		}
		q->srv = t->srv;
		q->session_id = t->session_id;
		q->gen = t->gen;
		q->idx = i;
		if (ub_resolve_async(resolver_ctx(t->srv->authres), qname,
		    AUTHRES_TYPE_TXT, AUTHRES_CLASS_IN, q, authres_answer,
		    NULL) != 0) {
			free(q);
			as->result = "temperror";
			as->reason = "key lookup failed";
			continue;
		}
		t->pending++;
	}
	dmarc_start(t, h);
	return t->pending + (t->spf_state == AR_WAIT) +
	    (t->dmarc_state == AR_WAIT);
}

void
smtp_authres_give_up(struct smtp_authres_tx *t)
{
	t->gen = ++authres_gen;		/* late answers are dropped */
	t->pending = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].result == NULL) {
			t->s[i].result = "temperror";
			t->s[i].reason = "key lookup timed out";
		}
	if (t->spf_state == AR_WAIT) {
		t->spf_state = AR_DONE;
		t->spf = SPF_TEMPERROR;
		t->spf_why = "timed out";
	}
	if (t->dmarc_state == AR_WAIT) {
		t->dmarc_state = AR_DONE;
		t->dmarc_found = -1;
	}
}

/*
 * The DMARC result (RFC 7489 6.6) of the results at hand, by
 * libopendmarc: the record, then the SPF and DKIM results.
 */
static const char *
dmarc_result(struct smtp_authres_tx *t)
{
	struct dmarc_eval *e;
	enum dmarc_policy p;
	int pass, pct;

	t->action = SMTP_DMARC_NONE;
	if (t->from[0] == '\0')
		return "none";
	snprintf(t->dmarc_prop, sizeof(t->dmarc_prop), "header.from=%s",
	    t->from);
	if (t->dmarc_found < 0)
		return "temperror";
	if (t->dmarc_found == 0)
		return "none";
	if ((e = dmarc_eval_new(t->client[0] != '\0' ? t->client : "::",
	    t->from, t->dmarc, t->dmarc_domain)) == NULL)
		return "none";	/* checked by the worker: out of memory */
	if (t->spf_state == AR_DONE)
		dmarc_eval_spf(e, t->spf_domain, t->spf == SPF_PASS,
		    t->spf_helo);
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].parsed && t->s[i].result != NULL)
			dmarc_eval_dkim(e, t->s[i].sig.domain,
			    t->s[i].sig.selector,
			    strcmp(t->s[i].result, "pass") == 0);
	pass = dmarc_eval_result(e, &p, &pct);
	dmarc_eval_free(e);
	snprintf(t->dmarc_prop, sizeof(t->dmarc_prop),
	    "(p=%s) header.from=%s", dmarc_policy_name(p), t->from);
	if (pass)
		return "pass";
	/* pct=: the policy applies to that share of failures */
	if (pct >= 100 || (int)randombytes_uniform(100) < pct)
		t->action = p == DMARC_P_REJECT ? SMTP_DMARC_REJECT :
		    p == DMARC_P_QUARANTINE ? SMTP_DMARC_QUARANTINE :
		    SMTP_DMARC_NONE;
	return "fail";
}

enum smtp_dmarc_action
smtp_authres_action(const struct smtp_authres_tx *t)
{
	return t->action;
}

int
smtp_authres_apply(struct smtp_authres_tx *t, struct smtp_head *h,
    const char *authserv_id, char *summary, size_t cap)
{
	struct authres_result r[AUTHRES_SIGS_MAX + 2];
	char field[4096];
	size_t n = 0, sl = 0, d0;
	long len;

	if (t->spf_state == AR_DONE) {
		r[n].method = "spf";
		r[n].result = spf_result_name(t->spf);
		r[n].reason = t->spf == SPF_TEMPERROR ||
		    t->spf == SPF_PERMERROR ? t->spf_why : NULL;
		r[n].props = t->spf_prop[0] != '\0' ? t->spf_prop : NULL;
		n++;
	}
	d0 = n;
	for (size_t i = 0; i < t->n; i++) {
		r[n].method = "dkim";
		r[n].result = t->s[i].result != NULL ? t->s[i].result :
		    "temperror";
		r[n].reason = t->s[i].reason;
		r[n].props = t->s[i].props[0] != '\0' ? t->s[i].props : NULL;
		n++;
	}
	if (n == d0 && t->dkim) {
		r[n].method = "dkim";
		r[n].result = "none";
		r[n].reason = NULL;
		r[n].props = NULL;
		n++;
	}
	if (t->dmarc_state == AR_DONE) {
		r[n].method = "dmarc";
		r[n].result = dmarc_result(t);
		r[n].reason = NULL;
		r[n].props = t->dmarc_prop[0] != '\0' ? t->dmarc_prop : NULL;
		n++;
	}
	summary[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *dom = "";

		if (i >= d0 && i - d0 < t->n && t->s[i - d0].parsed)
			dom = t->s[i - d0].sig.domain;
		else if (strcmp(r[i].method, "spf") == 0)
			dom = t->spf_domain;
		else if (strcmp(r[i].method, "dmarc") == 0)
			dom = t->from;
		int w = snprintf(summary + sl, cap - sl, "%s%s=%s%s%s",
		    i > 0 ? "," : "", r[i].method, r[i].result,
		    dom[0] != '\0' ? "/" : "", dom);

		if (w < 0 || (size_t)w >= cap - sl)
			break;
		sl += (size_t)w;
	}
	/* right below our Received: both are this hop's trace */
	if ((len = authres_format(authserv_id, r, n, field,
	    sizeof(field))) < 0 || smtp_head_insert(h, 1, field,
	    (size_t)len) == -1)
		return -1;
	return 0;
}

int
smtp_authres_strip(struct smtp_head *h, const char *authserv_id)
{
	struct smtp_field f;
	int removed = 0;

	for (size_t i = 0; smtp_head_field(h, i, &f) == 0; ) {
		if (f.namelen == 22 && strncasecmp(f.name,
		    "Authentication-Results", 22) == 0 &&
		    authres_claims_id(f.value, f.valuelen, authserv_id) &&
		    smtp_head_remove(h, i) == 0) {
			removed++;
			continue;
		}
		i++;
	}
	return removed;
}
