/*
 * dnsbl.c - asynchronous DNS blocklist lookups with libunbound.
 *
 * Public: dnsbl_new, dnsbl_attach, dnsbl_free, dnsbl_set_callback,
 * dnsbl_check, dnsbl_query_name, dnsbl_parse_zone.
 *
 * One lookup per configured zone; the weights of the zones that list
 * the address (an A record in 127.0.0.0/8) are added up. Answers are
 * cached per address for the smallest TTL seen (at least 60 s, at most
 * an hour). The resolver (lib/resolver.c) runs libunbound in a thread
 * and signals answers on a descriptor that sits on the event loop:
 * nothing blocks.
 *
 * SECURITY: the query names are built from the client's address only;
 * answers outside 127.0.0.0/8 do not count as listings.
 * LIMITS: DNSBL_CACHE addresses cached; 16 zones.
 */
#include <arpa/inet.h>
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
#include "dnsbl.h"

#define DNSBL_ZONES	16
#define DNSBL_CACHE	4096
#define DNSBL_TTL_MIN	60
#define DNSBL_TTL_MAX	3600

struct dnsbl_cached {
	uint8_t	addr[16];
	time_t	expires;
	int	score;
	int	zone;		/* index of the first listing zone, -1 none */
};

struct dnsbl_group {
	struct dnsbl	*d;
	uint8_t		 addr[16];
	uint64_t	 cookie;
	int		 pending;
	int		 score;
	int		 zone;
	int		 ttl;
};

struct dnsbl_query {
	struct dnsbl_group	*g;
	int			 zone;
};

struct dnsbl {
	struct resolver		*res;
	char			 zones[DNSBL_ZONES][256];
	int			 weights[DNSBL_ZONES];
	size_t			 nzones;
	dnsbl_cb		 cb;
	void			*arg;
	struct dnsbl_cached	 cache[DNSBL_CACHE];
};

/* dnsbl_parse_zone - "zone*weight" */
int
dnsbl_parse_zone(const char *spec, char *zone, size_t zlen, int *weight)
{
	const char *star = strchr(spec, '*');
	size_t n = star ? (size_t)(star - spec) : strlen(spec);

	if (n == 0 || n >= zlen)
		return -1;
	memcpy(zone, spec, n);
	zone[n] = '\0';
	*weight = 1;
	if (star) {
		char *end;
		long w = strtol(star + 1, &end, 10);

		if (*end != '\0' || w < 1 || w > 100)
			return -1;
		*weight = (int)w;
	}
	return 0;
}

/* dnsbl_query_name - reversed address under zone */
int
dnsbl_query_name(const uint8_t addr[16], const char *zone, char *buf,
    size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int n;

	if (cidr_addr_is_v4(addr)) {
		n = snprintf(buf, len, "%u.%u.%u.%u.%s", addr[15], addr[14],
		    addr[13], addr[12], zone);
		return (n < 0 || (size_t)n >= len) ? -1 : 0;
	}
	if (len < 64 + strlen(zone) + 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		buf[o++] = hex[addr[i] & 15];
		buf[o++] = '.';
		buf[o++] = hex[addr[i] >> 4];
		buf[o++] = '.';
	}
	snprintf(buf + o, len - o, "%s", zone);
	return 0;
}

static struct dnsbl_cached *
cache_slot(struct dnsbl *d, const uint8_t addr[16])
{
	return &d->cache[hash_fnv1a(addr, 16) % DNSBL_CACHE];
}

static void
dnsbl_answer(void *arg, int err, struct ub_result *res)
{
	struct dnsbl_query *q = arg;
	struct dnsbl_group *g = q->g;
	struct dnsbl *d = g->d;
	int listed = 0;

	if (err != 0)
		log_info(LOG_CAT_DNS, "event=dnsbl_error zone=%s error=\"%s\"",
		    d->zones[q->zone], ub_strerror(err));
	else if (res != NULL) {
		if (res->havedata)
			for (int i = 0; res->data[i] != NULL; i++)
				if (res->len[i] == 4 && (uint8_t)res->data[i][0] == 127)
					listed = 1;
		if (res->ttl > 0 && res->ttl < g->ttl)
			g->ttl = res->ttl;
	}
	if (res)
		ub_resolve_free(res);
	log_debug(LOG_CAT_DNS, "event=dnsbl_answer zone=%s listed=%d",
	    d->zones[q->zone], listed);
	if (listed) {
		g->score += d->weights[q->zone];
		if (g->zone < 0)
			g->zone = q->zone;
	}
	free(q);
	if (--g->pending > 0)
		return;
	{
		struct dnsbl_cached *c = cache_slot(d, g->addr);
		int ttl = g->ttl < DNSBL_TTL_MIN ? DNSBL_TTL_MIN : g->ttl;

		memcpy(c->addr, g->addr, 16);
		c->expires = time(NULL) + ttl;
		c->score = g->score;
		c->zone = g->zone;
	}
	if (d->cb)
		d->cb(g->cookie, g->score, g->zone >= 0 ? d->zones[g->zone] : NULL,
		    d->arg);
	free(g);
}

/* dnsbl_new - a resolver for the configured zones */
struct dnsbl *
dnsbl_new(struct event_base *base, const char *server, char **zones,
    size_t nzones, dnsbl_cb cb, void *arg, char *err, size_t errlen)
{
	struct dnsbl *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->cb = cb;
	d->arg = arg;
	for (size_t i = 0; i < nzones && d->nzones < DNSBL_ZONES; i++) {
		if (dnsbl_parse_zone(zones[i], d->zones[d->nzones],
		    sizeof(d->zones[0]), &d->weights[d->nzones]) == -1) {
			snprintf(err, errlen, "bad DNSBL zone '%s'", zones[i]);
			goto fail;
		}
		d->nzones++;
	}
	if ((d->res = resolver_new("dnsbl", server, 0, err, errlen)) == NULL)
		goto fail;
	if (base != NULL && dnsbl_attach(d, base) == -1) {
		snprintf(err, errlen, "cannot watch the resolver");
		goto fail;
	}
	return d;
fail:
	dnsbl_free(d);
	return NULL;
}

/* dnsbl_set_callback - where answers go */
void
dnsbl_set_callback(struct dnsbl *d, dnsbl_cb cb, void *arg)
{
	d->cb = cb;
	d->arg = arg;
}

/* dnsbl_attach - watch the resolver's descriptor on base */
int
dnsbl_attach(struct dnsbl *d, struct event_base *base)
{
	return resolver_attach(d->res, base);
}

void
dnsbl_free(struct dnsbl *d)
{
	if (d == NULL)
		return;
	resolver_free(d->res);
	free(d);
}

/* dnsbl_check - cached answer, or start the lookups */
int
dnsbl_check(struct dnsbl *d, const uint8_t addr[16], uint64_t cookie,
    int *score, const char **zone)
{
	struct dnsbl_cached *c = cache_slot(d, addr);
	struct dnsbl_group *g;

	if (c->expires > time(NULL) && memcmp(c->addr, addr, 16) == 0) {
		*score = c->score;
		*zone = c->zone >= 0 ? d->zones[c->zone] : NULL;
		return 1;
	}
	if (d->nzones == 0) {
		*score = 0;
		*zone = NULL;
		return 1;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	g->d = d;
	memcpy(g->addr, addr, 16);
	g->cookie = cookie;
	g->zone = -1;
	g->ttl = DNSBL_TTL_MAX;
	for (size_t i = 0; i < d->nzones; i++) {
		struct dnsbl_query *q = calloc(1, sizeof(*q));
		char name[512];

		if (q == NULL || dnsbl_query_name(addr, d->zones[i], name,
		    sizeof(name)) == -1) {
			free(q);
			continue;
		}
		q->g = g;
		q->zone = (int)i;
		g->pending++;
		if (ub_resolve_async(resolver_ctx(d->res), name, 1 /* A */,
		    1 /* IN */, q, dnsbl_answer, NULL) != 0) {
			g->pending--;
			free(q);
		}
	}
	if (g->pending == 0) {
		free(g);
		return -1;
	}
	return 0;
}
