/*
 * smtp_authres.c - inbound DKIM verification (RFC 6376 6) on mx
 * listeners, and the Authentication-Results field (RFC 8601) it gives.
 *
 * Public: smtp_authres_wanted, smtp_authres_resolver, smtp_authres_tx_new,
 * smtp_authres_tx_free, smtp_authres_body, smtp_authres_finish,
 * smtp_authres_give_up, smtp_authres_apply.
 *
 * When the header section of a message from outside has ended, its
 * DKIM-Signature fields (up to AUTHRES_SIGS_MAX) are parsed and each
 * gets a body hash of its own canonicalization, fed as the body streams:
 * nothing of the body is kept. At the dot each header hash is computed
 * and the key record (SELECTOR._domainkey.DOMAIN TXT) asked for with the
 * process's asynchronous resolver (libunbound); the session waits, the
 * others go on. With the last answer the results make our
 * Authentication-Results field, which goes right below our Received
 * field after every field that claims our authserv-id is removed.
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

#include <event2/buffer.h>
#include <unbound.h>

#include "../authres/authres.h"
#include "../dkim/dkim_canon.h"
#include "../dkim/dkim_head.h"
#include "../dkim/dkim_key.h"
#include "../dkim/dkim_tag.h"
#include "../lib/log.h"
#include "../lib/resolver.h"
#include "smtp.h"
#include "smtp_authres.h"

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
};

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
	if (!c->dkim_verify)
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

/* the header section has ended: its signatures, each with a body hash */
static void
authres_start(struct smtp_authres_tx *t, const struct smtp_head *h)
{
	char props[sizeof(t->s[0].props)];
	const char *why;

	t->started = 1;
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

void
smtp_authres_body(struct smtp_authres_tx *t, const struct smtp_head *h,
    struct evbuffer *body, size_t from)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	size_t len = evbuffer_get_length(body);
	int n;

	if (!h->done)
		return;
	if (!t->started)
		authres_start(t, h);
	if (from >= len)
		return;
	while (from < len) {
		if (evbuffer_ptr_set(body, &pos, from, EVBUFFER_PTR_SET) == -1 ||
		    (n = evbuffer_peek(body, (ev_ssize_t)(len - from), &pos, v,
		    16)) <= 0)
			return;
		for (int i = 0; i < n && i < 16 && from < len; i++) {
			size_t take = v[i].iov_len < len - from ? v[i].iov_len :
			    len - from;

			for (size_t k = 0; k < t->n; k++)
				if (t->s[k].parsed)
					dkim_body_update(&t->s[k].body,
					    v[i].iov_base, take);
			from += take;
		}
	}
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
		if (--t->pending == 0)
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
	return t->pending;
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
}

int
smtp_authres_apply(struct smtp_authres_tx *t, struct smtp_head *h,
    const char *authserv_id, char *summary, size_t cap)
{
	struct authres_result r[AUTHRES_SIGS_MAX];
	struct smtp_field f;
	char field[4096];
	size_t n = 0, sl = 0;
	int removed = 0;
	long len;

	for (size_t i = 0; i < t->n; i++) {
		r[n].method = "dkim";
		r[n].result = t->s[i].result != NULL ? t->s[i].result :
		    "temperror";
		r[n].reason = t->s[i].reason;
		r[n].props = t->s[i].props[0] != '\0' ? t->s[i].props : NULL;
		n++;
	}
	if (n == 0) {
		r[0].method = "dkim";
		r[0].result = "none";
		r[0].reason = NULL;
		r[0].props = NULL;
		n = 1;
	}
	summary[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(summary + sl, cap - sl, "%s%s=%s%s%s",
		    i > 0 ? "," : "", r[i].method, r[i].result,
		    t->n > 0 && t->s[i].parsed ? "/" : "",
		    t->n > 0 && t->s[i].parsed ? t->s[i].sig.domain : "");

		if (w < 0 || (size_t)w >= cap - sl)
			break;
		sl += (size_t)w;
	}
	/* every field in our name is forged: only we write it */
	for (size_t i = 0; smtp_head_field(h, i, &f) == 0; ) {
		if (f.namelen == 22 && strncasecmp(f.name,
		    "Authentication-Results", 22) == 0 &&
		    authres_claims_id(f.value, f.valuelen, authserv_id)) {
			if (smtp_head_remove(h, i) == -1)
				return -1;
			removed++;
			continue;
		}
		i++;
	}
	/* right below our Received: both are this hop's trace */
	if ((len = authres_format(authserv_id, r, n, field,
	    sizeof(field))) < 0 || smtp_head_insert(h, 1, field,
	    (size_t)len) == -1)
		return -1;
	return removed;
}
