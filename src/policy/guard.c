/*
 * guard.c - sliding-window counters for the defences: AUTH failures per
 * client network and per account, unknown recipients per client
 * network, repeat bans.
 *
 * Public: guard_new, guard_free, guard_hit, guard_count, guard_reset,
 * guard_bump, guard_expire, guard_size, guard_memory.
 *
 * Each key keeps a ring of its last GUARD_RING events (time, a hash of
 * the client address); a count is the number of ring entries inside
 * the window, which is exact as long as thresholds stay below
 * GUARD_RING. A ring starts with room for two events and doubles as
 * needed, so the many keys with one or two events stay small.
 *
 * The table holds at most max_keys keys: keys are also on a list in
 * order of last use, and a new key beyond the limit pushes out the
 * least recently used one. An attacker rotating through addresses
 * therefore costs memory up to the limit and no more; what it pushes
 * out are the oldest, idlest counters.
 *
 * SECURITY: keys are built by the caller from client addresses and
 * attempted user names (untrusted, length-capped here at 300 bytes).
 * LIMITS: max_keys keys (about 150 bytes each, at most about 1.3 KB
 * with a full ring), GUARD_RING events per key, 300-byte keys.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../lib/hash.h"
#include "guard.h"

#define GUARD_KEY_MAX	300
#define GUARD_RING_MIN	2

struct guard_event {
	time_t		 when;
	uint32_t	 addr;		/* hash of the client address */
};

struct guard_key {
	LIST_ENTRY(guard_key)	 bucket;
	TAILQ_ENTRY(guard_key)	 lru;		/* most recently used first */
	struct guard_event	*ring;
	uint8_t			 cap;		/* ring slots, <= GUARD_RING */
	uint8_t			 n;		/* events stored, <= cap */
	uint8_t			 head;		/* next slot */
	int			 bumps;
	time_t			 last;
	uint32_t		 hash;
	char			 key[];
};
LIST_HEAD(guard_bucket, guard_key);

struct guard {
	struct guard_bucket	*b;
	size_t			 nbuckets;	/* a power of two */
	TAILQ_HEAD(guard_lru, guard_key) lru;
	size_t			 n, max;
	size_t			 bytes;
};

/* guard_new - an empty table bounded at max_keys */
struct guard *
guard_new(size_t max_keys)
{
	struct guard *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->max = max_keys > 0 ? max_keys : 1;
	for (g->nbuckets = 16; g->nbuckets < g->max; g->nbuckets *= 2)
		;
	if ((g->b = calloc(g->nbuckets, sizeof(*g->b))) == NULL) {
		free(g);
		return NULL;
	}
	TAILQ_INIT(&g->lru);
	g->bytes = sizeof(*g) + g->nbuckets * sizeof(*g->b);
	return g;
}

static size_t
key_bytes(const struct guard_key *k)
{
	return sizeof(*k) + strlen(k->key) + 1 +
	    (size_t)k->cap * sizeof(struct guard_event);
}

static void
key_remove(struct guard *g, struct guard_key *k)
{
	LIST_REMOVE(k, bucket);
	TAILQ_REMOVE(&g->lru, k, lru);
	g->bytes -= key_bytes(k);
	g->n--;
	free(k->ring);
	free(k);
}

void
guard_free(struct guard *g)
{
	struct guard_key *k;

	if (g == NULL)
		return;
	while ((k = TAILQ_FIRST(&g->lru)) != NULL)
		key_remove(g, k);
	free(g->b);
	free(g);
}

/* the key's entry, or NULL; create: make it, pushing out the oldest */
static struct guard_key *
lookup(struct guard *g, const char *key, int create)
{
	size_t len = strnlen(key, GUARD_KEY_MAX);
	uint32_t h = hash_fnv1a(key, len);
	struct guard_bucket *b = &g->b[h & (g->nbuckets - 1)];
	struct guard_key *k;

	LIST_FOREACH(k, b, bucket)
		if (k->hash == h && strncmp(k->key, key, len) == 0 &&
		    k->key[len] == '\0')
			return k;
	if (!create)
		return NULL;
	if (g->n >= g->max)
		key_remove(g, TAILQ_LAST(&g->lru, guard_lru));
	if ((k = calloc(1, sizeof(*k) + len + 1)) == NULL)
		return NULL;
	memcpy(k->key, key, len);
	k->hash = h;
	LIST_INSERT_HEAD(b, k, bucket);
	TAILQ_INSERT_HEAD(&g->lru, k, lru);
	g->n++;
	g->bytes += key_bytes(k);
	return k;
}

/* a write: the key becomes the most recently used */
static void
touch(struct guard *g, struct guard_key *k, time_t now)
{
	k->last = now;
	if (TAILQ_FIRST(&g->lru) != k) {
		TAILQ_REMOVE(&g->lru, k, lru);
		TAILQ_INSERT_HEAD(&g->lru, k, lru);
	}
}

/* room for one more event: double a full ring until GUARD_RING */
static int
ring_make_room(struct guard *g, struct guard_key *k)
{
	struct guard_event *nr;
	size_t ncap;

	if (k->n < k->cap || k->cap >= GUARD_RING)
		return 0;
	/* a full ring below GUARD_RING was filled from slot 0 and its head
	 * came back to 0: slots 0..n-1 hold the events oldest first */
	ncap = k->cap ? (size_t)k->cap * 2 : GUARD_RING_MIN;
	if (ncap > GUARD_RING)
		ncap = GUARD_RING;
	if ((nr = reallocarray(k->ring, ncap, sizeof(*nr))) == NULL)
		return -1;
	g->bytes += (ncap - k->cap) * sizeof(*nr);
	k->ring = nr;
	k->cap = (uint8_t)ncap;
	k->head = k->n;
	return 0;
}

static int
count(const struct guard_key *k, time_t now, int window, int *distinct)
{
	int c = 0, d = 0;

	for (size_t i = 0; i < k->n; i++) {
		const struct guard_event *e = &k->ring[i];

		if (e->when <= now - window)
			continue;
		c++;
		if (distinct) {
			int seen = 0;

			for (size_t j = 0; j < i && !seen; j++)
				if (k->ring[j].when > now - window &&
				    k->ring[j].addr == e->addr)
					seen = 1;
			d += !seen;
		}
	}
	if (distinct)
		*distinct = d;
	return c;
}

/* guard_hit - record an event and count the window */
int
guard_hit(struct guard *g, const char *key, const uint8_t addr[16], time_t now,
    int window, int *distinct)
{
	struct guard_key *k = lookup(g, key, 1);

	if (k == NULL || ring_make_room(g, k) == -1) {
		if (distinct)
			*distinct = 0;
		return 0;
	}
	k->ring[k->head].when = now;
	k->ring[k->head].addr = hash_fnv1a(addr, 16);
	k->head = (uint8_t)((k->head + 1) % k->cap);
	if (k->n < k->cap)
		k->n++;
	touch(g, k, now);
	return count(k, now, window, distinct);
}

int
guard_count(struct guard *g, const char *key, time_t now, int window)
{
	struct guard_key *k = lookup(g, key, 0);

	return k ? count(k, now, window, NULL) : 0;
}

void
guard_reset(struct guard *g, const char *key)
{
	struct guard_key *k = lookup(g, key, 0);

	if (k) {
		k->n = 0;
		k->head = 0;
	}
}

int
guard_bump(struct guard *g, const char *key, time_t now)
{
	struct guard_key *k = lookup(g, key, 1);

	if (k == NULL)
		return 0;
	touch(g, k, now);
	return k->bumps++;
}

/* guard_expire - forget idle keys (repeat counters go after max_age too) */
void
guard_expire(struct guard *g, time_t now, int max_age)
{
	struct guard_key *k;

	/* the list is in order of last use: the idle ones are at its end */
	while ((k = TAILQ_LAST(&g->lru, guard_lru)) != NULL &&
	    k->last <= now - max_age)
		key_remove(g, k);
}

size_t
guard_size(const struct guard *g)
{
	return g ? g->n : 0;
}

size_t
guard_memory(const struct guard *g)
{
	return g ? g->bytes : 0;
}
