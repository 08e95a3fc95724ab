/*
 * verify_cache.c - the recipient verification answers the lookup
 * process remembers: address -> found or not found, the internal
 * server's reply, and when that stops being true.
 *
 * Public: verify_cache_new, verify_cache_get, verify_cache_put,
 * verify_cache_expire, verify_cache_flush, verify_cache_count,
 * verify_cache_free.
 *
 * A chained hash table (FNV-1a, lib/hash.c) that doubles while it holds
 * more entries than buckets, plus a list in insertion order: when the
 * cache is full and nothing has expired, the oldest entry goes. The
 * queue process keeps the same rows in queue.db (verify_cache table);
 * this copy is what answers, so a lookup never waits on the queue.
 *
 * SECURITY: addresses come from clients (as the smtp process formatted
 * them, so at most ADDR_STRLEN bytes) and replies from internal
 * servers; both are kept as given, never interpreted here. An attacker
 * probing many addresses fills the cache at most up to max entries.
 * LIMITS: max entries (verify_cache_new).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "lib/hash.h"
#include "lookup/verify_cache.h"

#define VC_BUCKETS_MIN	256

struct vc_entry {
	struct vc_entry		*next;		/* hash chain */
	TAILQ_ENTRY(vc_entry)	 age;		/* insertion order */
	int64_t			 expires;
	int			 result;
	char			*reply;		/* owned */
	char			 addr[];
};

struct verify_cache {
	struct vc_entry		**bucket;
	size_t			  nbucket;	/* a power of two */
	size_t			  count, max;
	TAILQ_HEAD(, vc_entry)	  oldest;
};

/* verify_cache_new - an empty cache of at most max entries */
struct verify_cache *
verify_cache_new(size_t max)
{
	struct verify_cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->nbucket = VC_BUCKETS_MIN;
	if ((c->bucket = calloc(c->nbucket, sizeof(*c->bucket))) == NULL) {
		free(c);
		return NULL;
	}
	c->max = max > 0 ? max : 1;
	TAILQ_INIT(&c->oldest);
	return c;
}

static struct vc_entry **
vc_slot(struct verify_cache *c, const char *addr)
{
	struct vc_entry **pp;

	pp = &c->bucket[hash_fnv1a(addr, strlen(addr)) & (c->nbucket - 1)];
	while (*pp != NULL && strcmp((*pp)->addr, addr) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* unlink the entry *pp points to and free it */
static void
vc_drop(struct verify_cache *c, struct vc_entry **pp)
{
	struct vc_entry *e = *pp;

	*pp = e->next;
	TAILQ_REMOVE(&c->oldest, e, age);
	free(e->reply);
	free(e);
	c->count--;
}

/* twice the buckets; on ENOMEM the chains just stay longer */
static void
vc_grow(struct verify_cache *c)
{
	size_t n = c->nbucket * 2;
	struct vc_entry **b, *e, *next;

	if ((b = calloc(n, sizeof(*b))) == NULL)
		return;
	for (size_t i = 0; i < c->nbucket; i++)
		for (e = c->bucket[i]; e != NULL; e = next) {
			size_t k = hash_fnv1a(e->addr, strlen(e->addr)) & (n - 1);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	free(c->bucket);
	c->bucket = b;
	c->nbucket = n;
}

/* verify_cache_get - addr's live entry, an expired one dropped */
int
verify_cache_get(struct verify_cache *c, const char *addr, int64_t now,
    int *result, const char **reply)
{
	struct vc_entry **pp = vc_slot(c, addr);

	if (*pp == NULL)
		return 0;
	if ((*pp)->expires <= now) {
		vc_drop(c, pp);
		return 0;
	}
	if (result != NULL)
		*result = (*pp)->result;
	if (reply != NULL)
		*reply = (*pp)->reply;
	return 1;
}

/* verify_cache_put - set addr's entry; a full cache makes room */
int
verify_cache_put(struct verify_cache *c, const char *addr, int result,
    const char *reply, int64_t expires, int64_t now)
{
	struct vc_entry **pp, *e;
	size_t alen = strlen(addr);
	char *r;

	if (expires <= now)
		return -1;
	if ((r = strdup(reply != NULL ? reply : "")) == NULL)
		return -1;
	pp = vc_slot(c, addr);
	if (*pp != NULL) {
		e = *pp;
		free(e->reply);
		e->reply = r;
		e->result = result;
		e->expires = expires;
		TAILQ_REMOVE(&c->oldest, e, age);
		TAILQ_INSERT_TAIL(&c->oldest, e, age);
		return 0;
	}
	if ((e = malloc(sizeof(*e) + alen + 1)) == NULL) {
		free(r);
		return -1;
	}
	if (c->count >= c->max && verify_cache_expire(c, now) == 0)
		vc_drop(c, vc_slot(c, TAILQ_FIRST(&c->oldest)->addr));
	if (c->count >= c->nbucket)
		vc_grow(c);
	memcpy(e->addr, addr, alen + 1);
	e->reply = r;
	e->result = result;
	e->expires = expires;
	pp = vc_slot(c, addr);		/* the table may have changed */
	e->next = NULL;
	*pp = e;
	TAILQ_INSERT_TAIL(&c->oldest, e, age);
	c->count++;
	return 0;
}

/* verify_cache_expire - drop what expired at now */
size_t
verify_cache_expire(struct verify_cache *c, int64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nbucket; i++) {
		struct vc_entry **pp = &c->bucket[i];

		while (*pp != NULL) {
			if ((*pp)->expires <= now) {
				vc_drop(c, pp);
				n++;
			} else
				pp = &(*pp)->next;
		}
	}
	return n;
}

/* verify_cache_flush - drop one address's entry, or all */
size_t
verify_cache_flush(struct verify_cache *c, const char *addr)
{
	struct vc_entry **pp;
	size_t n = 0;

	if (addr != NULL && *addr != '\0') {
		if (*(pp = vc_slot(c, addr)) == NULL)
			return 0;
		vc_drop(c, pp);
		return 1;
	}
	for (size_t i = 0; i < c->nbucket; i++)
		while (c->bucket[i] != NULL) {
			vc_drop(c, &c->bucket[i]);
			n++;
		}
	return n;
}

/* verify_cache_count - entries held */
size_t
verify_cache_count(const struct verify_cache *c)
{
	return c->count;
}

/* verify_cache_free - release it all */
void
verify_cache_free(struct verify_cache *c)
{
	if (c == NULL)
		return;
	verify_cache_flush(c, NULL);
	free(c->bucket);
	free(c);
}
