/*
 * test_guard.c - the failure windows: counting, distinct addresses,
 * reset, repeat counters, expiry, and a table that stays bounded under
 * a million distinct client networks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/guard.h"

static void
addr_of(uint32_t i, uint8_t a[16])
{
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[4] = (uint8_t)(i >> 24);
	a[5] = (uint8_t)(i >> 16);
	a[6] = (uint8_t)(i >> 8);
	a[7] = (uint8_t)i;
}

static void
test_window_and_distinct(void **state)
{
	struct guard *g = guard_new(16);
	uint8_t a[16], b[16];
	int n, d;

	assert_non_null(g);
	addr_of(1, a);
	addr_of(2, b);
	/* three events at 100, 200, 300 in a window of 150 */
	assert_int_equal(guard_hit(g, "k", a, 100, 150, &d), 1);
	assert_int_equal(d, 1);
	assert_int_equal(guard_hit(g, "k", b, 200, 150, &d), 2);
	assert_int_equal(d, 2);
	n = guard_hit(g, "k", a, 300, 150, &d);
	if (n != 2 || d != 2)
		fail_msg("at 300: got %d events from %d addresses, want 2 from 2",
		    n, d);
	assert_int_equal(guard_count(g, "k", 300, 1000), 3);
	assert_int_equal(guard_count(g, "other", 300, 1000), 0);
	guard_reset(g, "k");
	assert_int_equal(guard_count(g, "k", 300, 1000), 0);
	assert_int_equal(guard_bump(g, "b:k", 300), 0);
	assert_int_equal(guard_bump(g, "b:k", 301), 1);
	guard_free(g);
}

/* more events than GUARD_RING: the count stops at the ring */
static void
test_ring_grows_to_its_limit(void **state)
{
	struct guard *g = guard_new(4);
	uint8_t a[16];
	int n = 0;

	addr_of(7, a);
	for (int i = 0; i < GUARD_RING * 2; i++) {
		n = guard_hit(g, "k", a, 1000 + i, 100000, NULL);
		if (i < GUARD_RING && n != i + 1)
			fail_msg("event %d: got %d, want %d", i, n, i + 1);
	}
	assert_int_equal(n, GUARD_RING);
	guard_free(g);
	/* across each growth of the ring no event is lost or made up */
	g = guard_new(4);
	for (int i = 1; i <= 20; i++) {
		n = guard_hit(g, "k", a, i, 1000, NULL);
		if (n != i)
			fail_msg("event %d: got %d, want %d", i, n, i);
		for (int w = 1; w <= i; w++)
			if ((n = guard_count(g, "k", i, w)) != w)
				fail_msg("after %d events, window %d: got %d, want "
				    "%d", i, w, n, w);
	}
	guard_free(g);
}

/* the least recently used key goes; a key in use stays */
static void
test_lru(void **state)
{
	struct guard *g = guard_new(3);
	uint8_t a[16];

	addr_of(1, a);
	guard_hit(g, "old", a, 10, 600, NULL);
	guard_hit(g, "busy", a, 11, 600, NULL);
	guard_hit(g, "mid", a, 12, 600, NULL);
	guard_hit(g, "busy", a, 13, 600, NULL);
	guard_hit(g, "new", a, 14, 600, NULL);	/* pushes out "old" */
	assert_int_equal(guard_size(g), 3);
	assert_int_equal(guard_count(g, "old", 14, 600), 0);
	assert_int_equal(guard_count(g, "busy", 14, 600), 2);
	assert_int_equal(guard_count(g, "mid", 14, 600), 1);
	assert_int_equal(guard_count(g, "new", 14, 600), 1);
	/* expiry takes the idle end only */
	guard_expire(g, 100, 88);	/* last use at 12 or before */
	assert_int_equal(guard_size(g), 2);
	assert_int_equal(guard_count(g, "mid", 14, 600), 0);
	guard_expire(g, 1000, 10);
	assert_int_equal(guard_size(g), 0);
	guard_free(g);
}

/*
 * A million distinct /64s, as an attacker rotating through addresses
 * would send: the table stays at its limit, its memory bounded, and
 * the newest networks still count.
 */
#define MILLION	1000000u

static void
test_million_networks_stay_bounded(void **state)
{
	struct guard *g = guard_new(GUARD_KEYS_MAX);
	uint8_t a[16];
	char key[80], newest[80];
	size_t peak = 0, limit = (size_t)GUARD_KEYS_MAX * 256;

	assert_non_null(g);
	for (uint32_t i = 0; i < MILLION; i++) {
		addr_of(i, a);
		snprintf(key, sizeof(key), "a:2001:db8:%x:%x::/64", i >> 16,
		    i & 0xffff);
		if (guard_hit(g, key, a, 1000 + i / 1000, 600, NULL) != 1)
			fail_msg("network %u: not counted", i);
		if (guard_memory(g) > peak)
			peak = guard_memory(g);
	}
	if (guard_size(g) > GUARD_KEYS_MAX)
		fail_msg("entries: got %zu, want at most %d", guard_size(g),
		    GUARD_KEYS_MAX);
	if (peak > limit)
		fail_msg("memory: got %zu bytes, want at most %zu", peak, limit);
	print_message("guard: %u networks, %zu entries, %zu bytes at most\n",
	    MILLION, guard_size(g), peak);
	/* the newest counts on; the oldest was pushed out */
	memcpy(newest, key, sizeof(key));
	assert_int_equal(guard_count(g, newest, 2000, 600), 1);
	addr_of(MILLION - 1, a);
	assert_int_equal(guard_hit(g, newest, a, 2000, 600, NULL), 2);
	assert_int_equal(guard_count(g, "a:2001:db8:0:0::/64", 2000, 600), 0);
	guard_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_and_distinct),
		cmocka_unit_test(test_ring_grows_to_its_limit),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_million_networks_stay_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
