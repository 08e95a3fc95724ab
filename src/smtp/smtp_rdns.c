/*
 * smtp_rdns.c - reverse DNS (PTR) names of SMTP clients.
 *
 * At connect the network process asks for the client's PTR name; the
 * answer arrives on the event loop (libunbound runs its resolver in a
 * thread and signals on a descriptor), so nothing ever waits for DNS.
 * Answers, names and "none" alike, are cached per address for their
 * TTL (RDNS_TTL_MIN..RDNS_TTL_MAX; failures RDNS_TTL_FAIL). The name is
 * for people (`moat sessions`, logs): no decision depends on it, and it
 * is not forward-confirmed.
 *
 * Public: smtp_rdns_new, smtp_rdns_free, smtp_rdns_attach,
 * smtp_rdns_lookup, smtp_rdns_name, smtp_rdns_stats.
 *
 * SECURITY: the answer comes from whoever controls the client's reverse
 * zone: only a plain host name is kept (smtp_rdns_name), anything else
 * counts as no name. Query names are built from the address only.
 * LIMITS: RDNS_CACHE addresses cached (one slot per hash, the newest
 * wins); RDNS_INFLIGHT lookups at a time, beyond which sessions go
 * without a name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <unbound.h>

#include "../lib/cidr.h"
#include "../lib/hash.h"
#include "../lib/log.h"
#include "../lib/resolver.h"
#include "../policy/dnsbl.h"
#include "smtp_rdns.h"

#define RDNS_CACHE	8192
#define RDNS_INFLIGHT	1024
#define RDNS_TTL_MIN	60
#define RDNS_TTL_MAX	3600
#define RDNS_TTL_FAIL	60
#define RDNS_TYPE_PTR	12
#define RDNS_CLASS_IN	1

struct rdns_cached {
	uint8_t	addr[16];
	time_t	expires;
	int	failed;		/* no answer (timeout, SERVFAIL) */
	char	name[SMTP_RDNS_NAME_MAX];
};

/* one lookup in flight; owned by libunbound until its answer */
struct rdns_query {
	struct smtp_rdns	*r;
	uint8_t			 addr[16];
	uint64_t		 cookie;
};

/* Owned by the smtp process. */
struct smtp_rdns {
	struct resolver		*res;
	smtp_rdns_cb		 cb;
	void			*arg;
	int			 inflight;
	uint64_t		 lookups, cached;
	struct rdns_cached	*cache;		/* RDNS_CACHE slots, owned */
};

/* smtp_rdns_name - wire-format PTR rdata into a checked dotted name */
int
smtp_rdns_name(const uint8_t *rdata, size_t len, char *buf, size_t buflen)
{
	size_t i = 0, o = 0;

	if (buflen == 0)
		return -1;
	buf[0] = '\0';
	while (i < len) {
		size_t l = rdata[i++];

		if (l == 0)
			break;
		if (l > 63 || i + l > len)
			return -1;
		if (o + l + 2 > buflen || o + l + 1 > SMTP_RDNS_NAME_MAX)
			return -1;
		if (o > 0)
			buf[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			char c = (char)rdata[i + k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			buf[o++] = c;
		}
		i += l;
	}
	if (o == 0)
		return -1;
	buf[o] = '\0';
	return 0;
}

static struct rdns_cached *
cache_slot(struct smtp_rdns *r, const uint8_t addr[16])
{
	return &r->cache[hash_fnv1a(addr, 16) % RDNS_CACHE];
}

static void
rdns_answer(void *arg, int err, struct ub_result *res)
{
	struct rdns_query *q = arg;
	struct smtp_rdns *r = q->r;
	struct rdns_cached *c;
	char name[SMTP_RDNS_NAME_MAX] = "";
	int ttl = RDNS_TTL_FAIL, failed = 1;

	if (err != 0)
		log_debug(LOG_CAT_DNS, "event=rdns_error error=\"%s\"",
		    ub_strerror(err));
	else if (res != NULL && (res->rcode == 0 || res->nxdomain)) {
		failed = 0;
		if (res->havedata && res->data[0] != NULL &&
		    smtp_rdns_name((const uint8_t *)res->data[0],
		    (size_t)res->len[0], name, sizeof(name)) == -1)
			name[0] = '\0';
		ttl = res->ttl;
		if (ttl < RDNS_TTL_MIN)
			ttl = RDNS_TTL_MIN;
		if (ttl > RDNS_TTL_MAX)
			ttl = RDNS_TTL_MAX;
	}
	if (res)
		ub_resolve_free(res);
	c = cache_slot(r, q->addr);
	memcpy(c->addr, q->addr, 16);
	c->expires = time(NULL) + (failed ? RDNS_TTL_FAIL : ttl);
	c->failed = failed;
	memcpy(c->name, name, sizeof(c->name));
	r->inflight--;
	if (r->cb)
		r->cb(q->cookie, failed ? NULL : name, r->arg);
	free(q);
}

/* smtp_rdns_new - the resolver, before chroot */
struct smtp_rdns *
smtp_rdns_new(const char *server, char *err, size_t errlen)
{
	struct smtp_rdns *r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->cache = calloc(RDNS_CACHE, sizeof(*r->cache))) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* the configured server answers for every address, loopback
	 * included */
	if ((r->res = resolver_new("rdns", server, RESOLVER_LOOPBACK_PTR, err,
	    errlen)) == NULL)
		goto fail;
	return r;
fail:
	smtp_rdns_free(r);
	return NULL;
}

/* smtp_rdns_attach - watch the resolver's descriptor on base */
int
smtp_rdns_attach(struct smtp_rdns *r, struct event_base *base,
    smtp_rdns_cb cb, void *arg)
{
	r->cb = cb;
	r->arg = arg;
	return resolver_attach(r->res, base);
}

/* smtp_rdns_free - release the resolver; answers in flight are dropped */
void
smtp_rdns_free(struct smtp_rdns *r)
{
	if (r == NULL)
		return;
	resolver_free(r->res);
	free(r->cache);
	free(r);
}

/* smtp_rdns_lookup - cached name, or start a lookup */
int
smtp_rdns_lookup(struct smtp_rdns *r, const uint8_t addr[16],
    uint64_t cookie, const char **name)
{
	struct rdns_cached *c = cache_slot(r, addr);
	struct rdns_query *q;
	char qname[128];

	if (c->expires > time(NULL) && memcmp(c->addr, addr, 16) == 0) {
		r->cached++;
		*name = c->failed ? NULL : c->name;
		return 1;
	}
	if (r->inflight >= RDNS_INFLIGHT)
		return -1;
	if (dnsbl_query_name(addr, cidr_addr_is_v4(addr) ? "in-addr.arpa" :
	    "ip6.arpa", qname, sizeof(qname)) == -1)
		return -1;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->r = r;
	memcpy(q->addr, addr, 16);
	q->cookie = cookie;
	if (ub_resolve_async(resolver_ctx(r->res), qname, RDNS_TYPE_PTR, RDNS_CLASS_IN, q,
	    rdns_answer, NULL) != 0) {
		free(q);
		return -1;
	}
	r->inflight++;
	r->lookups++;
	return 0;
}

/* smtp_rdns_stats - counters since start */
void
smtp_rdns_stats(const struct smtp_rdns *r, uint64_t *lookups, uint64_t *cached)
{
	*lookups = r ? r->lookups : 0;
	*cached = r ? r->cached : 0;
}
