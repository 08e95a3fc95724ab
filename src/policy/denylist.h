/*
 * denylist.h - which client addresses are refused at accept().
 */
#ifndef MOAT_DENYLIST_H
#define MOAT_DENYLIST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../lib/cidr.h"

struct deny_entry {
	struct cidr	net;
	time_t		expires;	/* 0: never */
	const char	*why;		/* static or owned by the caller */
};

struct denylist;

/*
 * denylist_build - an immutable lookup structure over v[0..n). The
 * entries are copied; why pointers are kept as given.
 * NULL on allocation failure.
 */
struct denylist *denylist_build(const struct deny_entry *v, size_t n);
void denylist_free(struct denylist *d);
size_t denylist_size(const struct denylist *d);

/*
 * denylist_match - the entry covering addr (mapped form) that has not
 * expired at now, or NULL. O(log n) plus the number of overlapping
 * networks that contain addr.
 */
const struct deny_entry *denylist_match(const struct denylist *d,
    const uint8_t addr[16], time_t now);

#endif
