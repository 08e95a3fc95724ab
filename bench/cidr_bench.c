/*
 * cidr_bench.c - deny-list lookups with 100,000 entries: time per
 * lookup, for `make bench` (bench cidr_lookup_100k).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cidr.h"
#include "policy/denylist.h"

#define ENTRIES	100000
#define LOOKUPS	2000000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	struct deny_entry *v = calloc(ENTRIES, sizeof(*v));
	uint8_t (*probe)[16] = calloc(LOOKUPS, 16);
	struct denylist *d;
	size_t hits = 0;
	double t0, t1, build;

	if (v == NULL || probe == NULL)
		return 1;
	/* a realistic mix: IPv4 /16../32 bans and IPv6 /48../128 */
	for (size_t i = 0; i < ENTRIES; i++) {
		if (i % 4 != 3) {
			int p = 16 + (int)(next_rand() % 17);
			uint32_t a = (uint32_t)next_rand() & (~0u << (32 - p));

			v[i].net.addr[10] = v[i].net.addr[11] = 0xff;
			v[i].net.addr[12] = (uint8_t)(a >> 24);
			v[i].net.addr[13] = (uint8_t)(a >> 16);
			v[i].net.addr[14] = (uint8_t)(a >> 8);
			v[i].net.addr[15] = (uint8_t)a;
			v[i].net.prefix = 96 + p;
		} else {
			int p = 48 + (int)(next_rand() % 81);

			for (int k = 0; k < 16; k++)
				v[i].net.addr[k] = (uint8_t)next_rand();
			v[i].net.addr[0] = 0x2a;
			for (int b = p; b < 128; b++)
				v[i].net.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
			v[i].net.prefix = p;
		}
		v[i].why = "bench";
	}
	for (size_t i = 0; i < LOOKUPS; i++) {
		if (i % 2) {
			memcpy(probe[i], v[next_rand() % ENTRIES].net.addr, 16);
		} else {
			uint32_t a = (uint32_t)next_rand();

			probe[i][10] = probe[i][11] = 0xff;
			memcpy(&probe[i][12], &a, 4);
		}
	}
	t0 = now();
	d = denylist_build(v, ENTRIES);
	build = now() - t0;
	if (d == NULL)
		return 1;
	t0 = now();
	for (size_t i = 0; i < LOOKUPS; i++)
		hits += denylist_match(d, probe[i], 1) != NULL;
	t1 = now();
	printf("bench cidr_lookup_100k moat=%.1f unit=ns_per_lookup "
	    "(build %.1f ms, %zu of %d lookups matched)\n",
	    (t1 - t0) / LOOKUPS * 1e9, build * 1e3, hits, LOOKUPS);
	denylist_free(d);
	free(v);
	free(probe);
	return 0;
}
