/*
 * guard.c - sliding-window counters for the defences: AUTH failures per
 * address and per account, unknown recipients per address, repeat bans.
 *
 * Public: guard_new, guard_free, guard_hit, guard_count, guard_reset,
 * guard_bump, guard_expire, guard_size.
 *
 * Each key keeps a ring of its last GUARD_RING events (time, client
 * address); a count is the number of ring entries inside the window,
 * which is exact as long as thresholds stay below GUARD_RING.
 *
 * SECURITY: keys are built by the caller from client addresses and
 * attempted user names (untrusted, length-capped here at 300 bytes).
 * The table is bounded by guard_expire(), run from a timer.
 * LIMITS: GUARD_RING events per key; 300-byte keys.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "guard.h"

#define GUARD_BUCKETS	1024
#define GUARD_KEY_MAX	300

struct guard_event {
	time_t	 when;
	uint8_t	 addr[16];
};

struct guard_key {
	char			 key[GUARD_KEY_MAX + 1];
	struct guard_event	 ring[GUARD_RING];
	size_t			 n;		/* events stored, <= GUARD_RING */
	size_t			 head;		/* next slot */
	int			 bumps;
	time_t			 last;
	LIST_ENTRY(guard_key)	 entry;
};
LIST_HEAD(guard_bucket, guard_key);

struct guard {
	struct guard_bucket	 b[GUARD_BUCKETS];
	size_t			 n;
};

static unsigned
key_hash(const char *k)
{
	uint32_t h = 2166136261u;

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	return h % GUARD_BUCKETS;
}

struct guard *
guard_new(void)
{
	return calloc(1, sizeof(struct guard));
}

void
guard_free(struct guard *g)
{
	struct guard_key *k;

	if (g == NULL)
		return;
	for (size_t i = 0; i < GUARD_BUCKETS; i++)
		while ((k = LIST_FIRST(&g->b[i])) != NULL) {
			LIST_REMOVE(k, entry);
			free(k);
		}
	free(g);
}

static struct guard_key *
lookup(struct guard *g, const char *key, int create)
{
	struct guard_bucket *b = &g->b[key_hash(key)];
	struct guard_key *k;

	LIST_FOREACH(k, b, entry)
		if (strncmp(k->key, key, GUARD_KEY_MAX) == 0)
			return k;
	if (!create || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	strncpy(k->key, key, GUARD_KEY_MAX);
	LIST_INSERT_HEAD(b, k, entry);
	g->n++;
	return k;
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
				    memcmp(k->ring[j].addr, e->addr, 16) == 0)
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

	if (k == NULL)
		return 0;
	k->ring[k->head].when = now;
	memcpy(k->ring[k->head].addr, addr, 16);
	k->head = (k->head + 1) % GUARD_RING;
	if (k->n < GUARD_RING)
		k->n++;
	k->last = now;
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
	k->last = now;
	return k->bumps++;
}

/* guard_expire - forget idle keys (repeat counters go after max_age too) */
void
guard_expire(struct guard *g, time_t now, int max_age)
{
	for (size_t i = 0; i < GUARD_BUCKETS; i++) {
		struct guard_key *k = LIST_FIRST(&g->b[i]), *next;

		for (; k != NULL; k = next) {
			next = LIST_NEXT(k, entry);
			if (k->last <= now - max_age) {
				LIST_REMOVE(k, entry);
				free(k);
				g->n--;
			}
		}
	}
}

size_t
guard_size(const struct guard *g)
{
	return g ? g->n : 0;
}
