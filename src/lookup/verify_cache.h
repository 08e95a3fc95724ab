/*
 * verify_cache.h - the lookup process's copy of the recipient
 * verification cache: an address's last probe answer until it expires.
 * Pure (the time is an argument), O(1) a lookup.
 */
#ifndef MOAT_VERIFY_CACHE_H
#define MOAT_VERIFY_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct verify_cache;

/* verify_cache_new - an empty cache of at most max entries; NULL on ENOMEM */
struct verify_cache *verify_cache_new(size_t max);

/*
 * verify_cache_get - addr's entry live at now: 1 with *result (a
 * PROTO_VERIFY_* value) and *reply (valid until the next change of the
 * cache; either may be NULL); 0 when there is none (an expired one is
 * dropped on the way).
 */
int verify_cache_get(struct verify_cache *c, const char *addr, int64_t now,
    int *result, const char **reply);

/*
 * verify_cache_put - set addr's entry (replacing one). A full cache drops
 * its expired entries, then its oldest. 0, or -1 on ENOMEM (the cache
 * is unchanged) or when expires is not after now (nothing stored).
 */
int verify_cache_put(struct verify_cache *c, const char *addr, int result,
    const char *reply, int64_t expires, int64_t now);

/* verify_cache_expire - drop the entries expired at now; how many */
size_t verify_cache_expire(struct verify_cache *c, int64_t now);

/* verify_cache_flush - drop addr's entry, or all when addr is NULL or "" */
size_t verify_cache_flush(struct verify_cache *c, const char *addr);

/* verify_cache_count - entries held (expired ones not yet dropped included) */
size_t verify_cache_count(const struct verify_cache *c);

/* verify_cache_free - release it all; NULL is fine */
void verify_cache_free(struct verify_cache *c);

#endif
