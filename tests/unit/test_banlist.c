/*
 * test_banlist.c - the dynamic bans: table cases (an IPv6 /64 ban
 * covers the whole /64), changes one at a time, expiry, a cross-check
 * against a linear scan, and 10,000 bans applied one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "lib/cidr.h"
#include "policy/banlist.h"

static struct cidr
net_of(const char *s)
{
	struct cidr c;
	const char *why;

	if (cidr_parse(s, &c, &why) == -1)
		fail_msg("cidr_parse %s: %s", s, why);
	return c;
}

static const char *
match(const struct banlist *b, const char *addr, time_t now)
{
	uint8_t a[16];
	const struct deny_entry *e;

	if (cidr_addr_parse(addr, a) == -1)
		fail_msg("cidr_addr_parse %s", addr);
	e = banlist_match(b, a, now);
	return e ? e->why : NULL;
}

static void
expect(const struct banlist *b, const char *addr, time_t now, const char *want)
{
	const char *got = match(b, addr, now);

	if ((got == NULL) != (want == NULL) ||
	    (got != NULL && strcmp(got, want) != 0))
		fail_msg("%s at %ld: got %s, want %s", addr, (long)now,
		    got ? got : "none", want ? want : "none");
}

static void
test_table(void **state)
{
	struct banlist *b = banlist_new();
	struct cidr n;
	uint8_t a[16];

	assert_non_null(b);
	expect(b, "192.0.2.1", 0, NULL);
	n = net_of("2001:db8:1:2::/64");
	assert_int_equal(banlist_add(b, &n, 0, "v6 net"), 0);
	n = net_of("192.0.2.7");
	assert_int_equal(banlist_add(b, &n, 100, "v4 host"), 0);
	n = net_of("198.51.100.0/24");
	assert_int_equal(banlist_add(b, &n, 0, "admin"), 0);
	assert_int_equal(banlist_size(b), 3);
	/* every address of the /64, nothing next to it */
	expect(b, "2001:db8:1:2::1", 50, "v6 net");
	expect(b, "2001:db8:1:2:ffff:ffff:ffff:ffff", 50, "v6 net");
	expect(b, "2001:db8:1:3::1", 50, NULL);
	expect(b, "2001:db8:1:1:ffff:ffff:ffff:ffff", 50, NULL);
	expect(b, "192.0.2.7", 50, "v4 host");
	expect(b, "::ffff:192.0.2.7", 50, "v4 host");
	expect(b, "192.0.2.8", 50, NULL);
	expect(b, "198.51.100.200", 50, "admin");
	/* expired, then changed: the same network replaces its ban */
	expect(b, "192.0.2.7", 100, NULL);
	n = net_of("192.0.2.7");
	assert_int_equal(banlist_add(b, &n, 0, "again"), 0);
	assert_int_equal(banlist_size(b), 3);
	expect(b, "192.0.2.7", 1000, "again");
	/* host bits of a ban do not matter */
	assert_int_equal(cidr_addr_parse("2001:db8:9:9::5", a), 0);
	cidr_mask(a, 128, &n);
	n.prefix = 64;
	assert_int_equal(banlist_add(b, &n, 0, "masked"), 0);
	expect(b, "2001:db8:9:9::77", 0, "masked");
	/* lift */
	n = net_of("2001:db8:1:2::/64");
	assert_int_equal(banlist_del(b, &n), 1);
	assert_int_equal(banlist_del(b, &n), 0);
	expect(b, "2001:db8:1:2::1", 0, NULL);
	n = net_of("198.51.100.0/24");
	assert_int_equal(banlist_del(b, &n), 1);
	assert_int_equal(banlist_size(b), 2);
	/* expiry removes only what is due */
	n = net_of("203.0.113.1");
	assert_int_equal(banlist_add(b, &n, 10, "short"), 0);
	assert_int_equal(banlist_expire(b, 10), 1);
	assert_int_equal(banlist_size(b), 2);
	banlist_clear(b);
	assert_int_equal(banlist_size(b), 0);
	expect(b, "192.0.2.7", 0, NULL);
	banlist_free(b);
	banlist_free(NULL);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* a random host or client network: IPv4 /24../32, IPv6 /48../128 */
static void
random_net(struct cidr *n)
{
	uint8_t a[16];

	for (int i = 0; i < 16; i++)
		a[i] = (uint8_t)next_rand();
	if (next_rand() % 2) {
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		cidr_mask(a, 120 + (int)(next_rand() % 9), n);
	} else {
		a[0] = 0x20;
		cidr_mask(a, 48 + 8 * (int)(next_rand() % 11), n);
	}
}

/* adds and deletes in a random order agree with a linear scan */
static void
test_cross_check(void **state)
{
	enum { N = 5000, PROBES = 20000 };
	struct cidr *v = calloc(N, sizeof(*v));
	int *live = calloc(N, sizeof(*live));
	struct banlist *b = banlist_new();

	assert_non_null(v);
	assert_non_null(live);
	for (size_t i = 0; i < N; i++) {
		random_net(&v[i]);
		assert_int_equal(banlist_add(b, &v[i], 0, "x"), 0);
		live[i] = 1;
		if (i > 0 && next_rand() % 4 == 0) {
			size_t k = next_rand() % i;

			if (live[k]) {
				banlist_del(b, &v[k]);
				live[k] = 0;
				/* a duplicate network may still be banned */
				for (size_t j = 0; j <= i; j++)
					if (live[j] && j != k &&
					    v[j].prefix == v[k].prefix &&
					    memcmp(v[j].addr, v[k].addr, 16) == 0)
						live[j] = 0;
			}
		}
	}
	for (int k = 0; k < PROBES; k++) {
		uint8_t a[16];
		int linear = 0;
		const struct deny_entry *e;

		if (k % 2) {
			memcpy(a, v[next_rand() % N].addr, 16);
			a[15] ^= (uint8_t)(next_rand() & 1);
		} else {
			for (int i = 0; i < 16; i++)
				a[i] = (uint8_t)next_rand();
		}
		for (size_t i = 0; i < N && !linear; i++)
			if (live[i] && cidr_contains(&v[i], a))
				linear = 1;
		e = banlist_match(b, a, 0);
		if (linear != (e != NULL))
			fail_msg("probe %d: got %s, want %s", k, e ? "match" : "none",
			    linear ? "match" : "none");
		if (e != NULL && !cidr_contains(&e->net, a))
			fail_msg("probe %d: matched a ban that does not contain it", k);
	}
	banlist_free(b);
	free(live);
	free(v);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 bans one at a time, each enforced as soon as it is added */
static void
test_ten_thousand_bans(void **state)
{
	enum { N = 10000 };
	struct banlist *b = banlist_new();
	double t0 = seconds(), took;

	for (uint32_t i = 0; i < N; i++) {
		uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, (uint8_t)(i >> 8),
		    (uint8_t)i };
		struct cidr n;

		cidr_mask(a, 64, &n);
		assert_int_equal(banlist_add(b, &n, 0, "auth"), 0);
		a[15] = 0x42;
		if (banlist_match(b, a, 0) == NULL)
			fail_msg("ban %u: not enforced", i);
	}
	took = seconds() - t0;
	print_message("banlist: %d bans applied one by one in %.4f s\n", N, took);
	assert_int_equal(banlist_size(b), N);
	if (took > 1.0)
		fail_msg("10,000 bans took %.2f s, want well under a second", took);
	banlist_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cross_check),
		cmocka_unit_test(test_ten_thousand_bans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
