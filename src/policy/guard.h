/*
 * guard.h - sliding-window counters of bad behaviour, per key, in a
 * table of bounded size (the least recently used key goes first).
 */
#ifndef MOAT_GUARD_H
#define MOAT_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GUARD_RING	64	/* events remembered per key */
#define GUARD_KEYS_MAX	100000	/* the smtp process's table */

struct guard;

/* guard_new - a table of at most max_keys keys (at least 1) */
struct guard *guard_new(size_t max_keys);
void guard_free(struct guard *g);

/*
 * guard_hit - record one event for key (from client addr) at now and
 * return how many events of that key fall inside the last window
 * seconds (at most GUARD_RING). distinct, when not NULL, receives the
 * number of different client addresses among them. A new key beyond
 * max_keys pushes out the least recently used one.
 */
int guard_hit(struct guard *g, const char *key, const uint8_t addr[16],
    time_t now, int window, int *distinct);

/* guard_count - like guard_hit without recording anything */
int guard_count(struct guard *g, const char *key, time_t now, int window);

/* guard_reset - forget key's events (e.g. after a ban was issued for it) */
void guard_reset(struct guard *g, const char *key);

/*
 * guard_bump - a per-key counter that never expires by window (e.g. how
 * many times an address was banned); returns the value before the bump.
 */
int guard_bump(struct guard *g, const char *key, time_t now);

/* guard_expire - drop keys with no event newer than now - max_age */
void guard_expire(struct guard *g, time_t now, int max_age);

/* guard_size - keys held; guard_memory - bytes they and the table use */
size_t guard_size(const struct guard *g);
size_t guard_memory(const struct guard *g);

#endif
