/*
 * denylist.c - a sorted interval table of denied networks.
 *
 * Public: denylist_build, denylist_free, denylist_size, denylist_match.
 *
 * Every network is an interval [first, last] of 128-bit addresses
 * (IPv4 in mapped form). CIDR blocks are either nested or disjoint, so
 * sorted by first address (the larger block first on ties) they form a
 * forest, and parent[i] is the nearest block enclosing block i. A
 * lookup finds the last block starting at or below the address by
 * binary search; the blocks that can contain the address are that
 * block and its ancestors, so it walks up at most the nesting depth
 * (at most 129, in practice one or two). 100,000 entries take 17
 * comparisons and a step or two.
 *
 * SECURITY: the client address comes from accept(); nothing else from
 * the network reaches this module.
 * LIMITS: entries are limited only by memory (about 80 bytes each).
 */
#include <stdlib.h>
#include <string.h>

#include "denylist.h"

struct u128 {
	uint64_t hi, lo;
};

struct deny_slot {
	struct u128	first, last;
	size_t		index;		/* into entries */
};

#define NONE	((size_t)-1)

struct denylist {
	struct deny_entry	*entries;
	struct deny_slot	*slots;		/* sorted by first */
	size_t			*parent;	/* enclosing slot, or NONE */
	size_t			 n;
};

static struct u128
u128_from(const uint8_t a[16])
{
	struct u128 v = { 0, 0 };

	for (int i = 0; i < 8; i++)
		v.hi = (v.hi << 8) | a[i];
	for (int i = 8; i < 16; i++)
		v.lo = (v.lo << 8) | a[i];
	return v;
}

static int
u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

/* the first and last address of a network */
static void
net_range(const struct cidr *c, struct u128 *first, struct u128 *last)
{
	struct u128 v = u128_from(c->addr), mask;
	int p = c->prefix;

	if (p <= 0)
		mask = (struct u128){ 0, 0 };
	else if (p < 64)
		mask = (struct u128){ ~0ull << (64 - p), 0 };
	else if (p == 64)
		mask = (struct u128){ ~0ull, 0 };
	else if (p < 128)
		mask = (struct u128){ ~0ull, ~0ull << (128 - p) };
	else
		mask = (struct u128){ ~0ull, ~0ull };
	first->hi = v.hi & mask.hi;
	first->lo = v.lo & mask.lo;
	last->hi = first->hi | ~mask.hi;
	last->lo = first->lo | ~mask.lo;
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct deny_slot *x = a, *y = b;
	int c = u128_cmp(x->first, y->first);

	/* on the same first address the larger block (later last) first */
	return c != 0 ? c : -u128_cmp(x->last, y->last);
}

/* denylist_build - sort the networks into a lookup table */
struct denylist *
denylist_build(const struct deny_entry *v, size_t n)
{
	struct denylist *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->n = n;
	if (n == 0)
		return d;
	d->entries = calloc(n, sizeof(*d->entries));
	d->slots = calloc(n, sizeof(*d->slots));
	d->parent = calloc(n, sizeof(*d->parent));
	if (d->entries == NULL || d->slots == NULL || d->parent == NULL) {
		denylist_free(d);
		return NULL;
	}
	memcpy(d->entries, v, n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		net_range(&v[i].net, &d->slots[i].first, &d->slots[i].last);
		d->slots[i].index = i;
	}
	qsort(d->slots, n, sizeof(*d->slots), slot_cmp);
	/* the open blocks form a chain: a block's parent is the innermost
	 * open block that has not ended before it starts */
	for (size_t i = 0; i < n; i++) {
		size_t p = i > 0 ? i - 1 : NONE;

		while (p != NONE && u128_cmp(d->slots[p].last, d->slots[i].first) < 0)
			p = d->parent[p];
		d->parent[i] = p;
	}
	return d;
}

void
denylist_free(struct denylist *d)
{
	if (d == NULL)
		return;
	free(d->entries);
	free(d->slots);
	free(d->parent);
	free(d);
}

size_t
denylist_size(const struct denylist *d)
{
	return d ? d->n : 0;
}

/* denylist_match - the live entry containing addr, or NULL */
const struct deny_entry *
denylist_match(const struct denylist *d, const uint8_t addr[16], time_t now)
{
	struct u128 a;
	size_t lo = 0, hi;

	if (d == NULL || d->n == 0)
		return NULL;
	a = u128_from(addr);
	/* the number of slots whose first address is <= a */
	hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u128_cmp(d->slots[mid].first, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo blocks start at or below a: the last of them and its
	 * ancestors are the only ones that can contain a */
	for (size_t i = lo > 0 ? lo - 1 : NONE; i != NONE; i = d->parent[i]) {
		const struct deny_entry *e;

		if (u128_cmp(d->slots[i].last, a) < 0)
			continue;
		e = &d->entries[d->slots[i].index];
		if (e->expires == 0 || e->expires > now)
			return e;
	}
	return NULL;
}
