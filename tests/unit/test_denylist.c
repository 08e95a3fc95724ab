/*
 * test_denylist.c - the accept()-time deny list: table cases and a
 * cross-check against a linear scan over random networks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/cidr.h"
#include "policy/denylist.h"

static struct deny_entry
entry(const char *net, time_t expires, const char *why)
{
	struct deny_entry e;
	const char *err;

	memset(&e, 0, sizeof(e));
	if (cidr_parse(net, &e.net, &err) == -1)
		fail_msg("cidr_parse %s: %s", net, err);
	e.expires = expires;
	e.why = why;
	return e;
}

static void
test_table(void **state __attribute__((unused)))
{
	struct deny_entry v[] = {
		entry("192.0.2.0/24", 0, "a"),
		entry("192.0.2.128/25", 0, "b"),
		entry("198.51.100.7", 0, "c"),
		entry("10.0.0.0/8", 100, "expiring"),
		entry("2001:db8::/32", 0, "v6"),
		entry("2001:db8:1::/48", 50, "v6-expiring"),
		entry("203.0.113.0/24", 0, "d"),
	};
	static const struct {
		const char	*addr;
		const char	*want;	/* why of the match, NULL for none */
	} cases[] = {
		{ "192.0.2.1", "a" },
		{ "192.0.2.200", "b" },		/* either would do: b is the innermost last */
		{ "192.0.3.0", NULL },
		{ "192.0.1.255", NULL },
		{ "198.51.100.7", "c" },
		{ "198.51.100.8", NULL },
		{ "10.1.2.3", NULL },		/* expired at now=200 */
		{ "2001:db8:1::5", "v6" },	/* the /48 expired, the /32 holds */
		{ "2001:db9::1", NULL },
		{ "203.0.113.255", "d" },
		{ "::ffff:203.0.113.1", "d" },
		{ "0.0.0.0", NULL },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL },
	};
	struct denylist *d = denylist_build(v, sizeof(v) / sizeof(v[0]));

	assert_non_null(d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t a[16];
		const struct deny_entry *e;

		assert_int_equal(cidr_addr_parse(cases[i].addr, a), 0);
		e = denylist_match(d, a, 200);
		if (cases[i].want == NULL && e != NULL)
			fail_msg("%s: got %s, want no match", cases[i].addr, e->why);
		if (cases[i].want != NULL && e == NULL)
			fail_msg("%s: got no match, want %s", cases[i].addr, cases[i].want);
		if (cases[i].want != NULL && strcmp(cases[i].want, "b") != 0 &&
		    strcmp(e->why, cases[i].want) != 0)
			fail_msg("%s: got %s, want %s", cases[i].addr, e->why,
			    cases[i].want);
	}
	/* before expiry the expiring entries match */
	{
		uint8_t a[16];

		assert_int_equal(cidr_addr_parse("10.1.2.3", a), 0);
		assert_non_null(denylist_match(d, a, 99));
	}
	denylist_free(d);
	assert_null(denylist_match(NULL, (const uint8_t *)"0123456789abcdef", 0));
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

static void
random_net(struct deny_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (next_rand() % 2) {
		/* IPv4 /8../32, host bits cleared */
		int p = 8 + (int)(next_rand() % 25);
		uint32_t v = (uint32_t)next_rand() & (p == 0 ? 0 : ~0u << (32 - p));

		e->net.addr[10] = e->net.addr[11] = 0xff;
		e->net.addr[12] = (uint8_t)(v >> 24);
		e->net.addr[13] = (uint8_t)(v >> 16);
		e->net.addr[14] = (uint8_t)(v >> 8);
		e->net.addr[15] = (uint8_t)v;
		e->net.prefix = 96 + p;
	} else {
		int p = 16 + (int)(next_rand() % 113);

		for (int i = 0; i < 16; i++)
			e->net.addr[i] = (uint8_t)next_rand();
		e->net.addr[0] = 0x20;	/* stay out of the mapped range */
		for (int b = p; b < 128; b++)
			e->net.addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
		e->net.prefix = p;
	}
	e->expires = (next_rand() % 4 == 0) ? 500 : 0;
}

static void
test_cross_check(void **state __attribute__((unused)))
{
	enum { N = 20000, PROBES = 20000 };
	struct deny_entry *v = calloc(N, sizeof(*v));
	struct denylist *d;

	assert_non_null(v);
	for (size_t i = 0; i < N; i++)
		random_net(&v[i]);
	d = denylist_build(v, N);
	assert_non_null(d);
	assert_int_equal(denylist_size(d), N);
	for (int k = 0; k < PROBES; k++) {
		uint8_t a[16];
		int linear = 0;
		const struct deny_entry *e;

		/* half the probes inside a random entry, half anywhere */
		if (k % 2) {
			const struct deny_entry *src = &v[next_rand() % N];

			memcpy(a, src->net.addr, 16);
			a[15] ^= (uint8_t)(src->net.prefix < 128 ? next_rand() & 1 : 0);
		} else {
			for (int i = 0; i < 16; i++)
				a[i] = (uint8_t)next_rand();
			if (next_rand() % 2) {
				memset(a, 0, 10);
				a[10] = a[11] = 0xff;
			}
		}
		for (size_t i = 0; i < N && !linear; i++)
			if (cidr_contains(&v[i].net, a) &&
			    (v[i].expires == 0 || v[i].expires > 1000))
				linear = 1;
		e = denylist_match(d, a, 1000);
		if (linear != (e != NULL))
			fail_msg("probe %d: got %s, want %s", k, e ? "match" : "none",
			    linear ? "match" : "none");
		if (e != NULL && !cidr_contains(&e->net, a))
			fail_msg("probe %d: matched an entry that does not contain it", k);
	}
	denylist_free(d);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cross_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
