/*
 * test_cidr.c - table-driven tests of cidr_parse, cidr_contains and the
 * formatting functions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "lib/cidr.h"

/* cidr_parse: good input, with the canonical text it formats back to */
static const struct {
	const char	*in;
	int		 prefix;	/* on the mapped form */
	const char	*text;		/* cidr_format output */
} parse_ok[] = {
	{ "192.0.2.0/24", 120, "192.0.2.0/24" },
	{ "10.0.0.0/8", 104, "10.0.0.0/8" },
	{ "0.0.0.0/0", 96, "0.0.0.0/0" },
	{ "192.0.2.1/32", 128, "192.0.2.1/32" },
	{ "192.0.2.1", 128, "192.0.2.1/32" },
	{ "192.0.2.128/25", 121, "192.0.2.128/25" },
	{ "2001:db8::/32", 32, "2001:db8::/32" },
	{ "2001:DB8:0:0::/32", 32, "2001:db8::/32" },
	{ "::/0", 0, "::/0" },
	{ "::1/128", 128, "::1/128" },
	{ "::1", 128, "::1/128" },
	{ "2001:db8::8000/113", 113, "2001:db8::8000/113" },
	/* IPv4-mapped written as IPv6: the same network as 192.0.2.0/24 */
	{ "::ffff:192.0.2.0/120", 120, "192.0.2.0/24" },
	{ "::ffff:0:0/96", 96, "0.0.0.0/0" },
	{ "10.0.0.0/08", 104, "10.0.0.0/8" },
	{ "10.0.0.0/7", 103, "10.0.0.0/7" },
};

/* cidr_parse: bad input and the reason it gives */
static const struct {
	const char	*in;
	const char	*why;
} parse_bad[] = {
	{ "", "bad address" },
	{ "/24", "bad address" },
	{ "192.0.2.0/", "bad prefix length" },
	{ "192.0.2.0/33", "prefix length out of range" },
	{ "192.0.2.0/100", "prefix length out of range" },
	{ "2001:db8::/129", "prefix length out of range" },
	{ "192.0.2.0/-1", "bad prefix length" },
	{ "192.0.2.0/+8", "bad prefix length" },
	{ "192.0.2.0/ 8", "bad prefix length" },
	{ "192.0.2.0/8 ", "bad prefix length" },
	{ "192.0.2.0/0008", "bad prefix length" },
	{ "192.0.2.0/24/1", "bad prefix length" },
	{ "192.0.2.0/2a", "bad prefix length" },
	{ "192.0.2.1/24", "host bits set" },
	{ "11.0.0.0/7", "host bits set" },
	{ "192.0.2.0/0", "host bits set" },
	{ "2001:db8::1/32", "host bits set" },
	{ "2001:db8::/15", "host bits set" },
	{ "::1/127", "host bits set" },
	{ "::ffff:192.0.2.0/95", "host bits set" },
	{ "192.0.2", "bad address" },
	{ "192.0.2.256", "bad address" },
	{ "192.0.2.0.1/24", "bad address" },
	{ " 192.0.2.0/24", "bad address" },
	{ "example.com/24", "bad address" },
	{ "2001:db8:::/32", "bad address" },
	{ "fe80::1%eth0", "bad address" },
	{ "0000:0000:0000:0000:0000:0000:0000:0000:0000/0", "bad address" },
};

static void
test_parse(void **state)
{
	struct cidr n, again;
	const char *why;
	char buf[CIDR_STRLEN];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(parse_ok) / sizeof(parse_ok[0]); i++) {
		why = "unset";
		if (cidr_parse(parse_ok[i].in, &n, &why) != 0) {
			print_error("%s: got error \"%s\", want ok\n",
			    parse_ok[i].in, why);
			bad++;
			continue;
		}
		if (n.prefix != parse_ok[i].prefix) {
			print_error("%s: prefix: got %d, want %d\n",
			    parse_ok[i].in, n.prefix, parse_ok[i].prefix);
			bad++;
		}
		cidr_format(&n, buf, sizeof(buf));
		if (strcmp(buf, parse_ok[i].text) != 0) {
			print_error("%s: format: got \"%s\", want \"%s\"\n",
			    parse_ok[i].in, buf, parse_ok[i].text);
			bad++;
		}
		/* round trip */
		if (cidr_parse(buf, &again, &why) != 0 ||
		    memcmp(&again, &n, sizeof(n)) != 0) {
			print_error("%s: reparse of \"%s\": got a different "
			    "network, want the same\n", parse_ok[i].in, buf);
			bad++;
		}
	}
	for (i = 0; i < sizeof(parse_bad) / sizeof(parse_bad[0]); i++) {
		why = NULL;
		if (cidr_parse(parse_bad[i].in, &n, &why) == 0) {
			print_error("\"%s\": got ok, want error \"%s\"\n",
			    parse_bad[i].in, parse_bad[i].why);
			bad++;
		} else if (why == NULL || strcmp(why, parse_bad[i].why) != 0) {
			print_error("\"%s\": got \"%s\", want \"%s\"\n",
			    parse_bad[i].in, why ? why : "(null)",
			    parse_bad[i].why);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

static const struct {
	const char	*net;
	const char	*addr;
	int		 want;
} contains[] = {
	{ "10.0.0.0/8", "10.0.0.0", 1 },
	{ "10.0.0.0/8", "10.255.255.255", 1 },
	{ "10.0.0.0/8", "11.0.0.0", 0 },
	{ "10.0.0.0/8", "9.255.255.255", 0 },
	{ "192.0.2.128/25", "192.0.2.128", 1 },
	{ "192.0.2.128/25", "192.0.2.127", 0 },
	{ "192.0.2.1/32", "192.0.2.1", 1 },
	{ "192.0.2.1/32", "192.0.2.2", 0 },
	{ "192.0.2.1", "192.0.2.1", 1 },
	/* IPv4 /0 is every IPv4 address, but no IPv6 one */
	{ "0.0.0.0/0", "0.0.0.0", 1 },
	{ "0.0.0.0/0", "255.255.255.255", 1 },
	{ "0.0.0.0/0", "::1", 0 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	/* ::/0 is everything, IPv4 included */
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "192.0.2.1", 1 },
	{ "2001:db8::/32", "2001:db8::1", 1 },
	{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::/32", "2001:db9::", 0 },
	{ "2001:db8::/32", "2001:db7:ffff::", 0 },
	{ "::1/128", "::1", 1 },
	{ "::1/128", "::2", 0 },
	{ "::1/128", "0.0.0.1", 0 },
	{ "2001:db8::8000/113", "2001:db8::ffff", 1 },
	{ "2001:db8::8000/113", "2001:db8::7fff", 0 },
	/* mapped addresses: both spellings meet */
	{ "192.0.2.0/24", "::ffff:192.0.2.9", 1 },
	{ "::ffff:192.0.2.0/120", "192.0.2.9", 1 },
	{ "192.0.2.0/24", "::192.0.2.9", 0 },	/* IPv4-compatible: not mapped */
	{ "10.0.0.0/8", "::ffff:11.0.0.1", 0 },
};

static void
test_contains(void **state)
{
	struct cidr n;
	uint8_t a[16];
	const char *why;
	size_t i;
	int got, bad = 0;

	for (i = 0; i < sizeof(contains) / sizeof(contains[0]); i++) {
		if (cidr_parse(contains[i].net, &n, &why) != 0 ||
		    cidr_addr_parse(contains[i].addr, a) != 0)
			fail_msg("%s / %s: bad test row", contains[i].net,
			    contains[i].addr);
		got = cidr_contains(&n, a);
		if (got != contains[i].want) {
			print_error("%s contains %s: got %d, want %d\n",
			    contains[i].net, contains[i].addr, got,
			    contains[i].want);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

static const struct {
	const char	*in;
	int		 ok;
	const char	*text;
} addrs[] = {
	{ "192.0.2.1", 1, "192.0.2.1" },
	{ "0.0.0.0", 1, "0.0.0.0" },
	{ "::ffff:192.0.2.1", 1, "192.0.2.1" },
	{ "::FFFF:C000:0201", 1, "192.0.2.1" },
	{ "2001:DB8::1", 1, "2001:db8::1" },
	{ "::", 1, "::" },
	{ "::1", 1, "::1" },
	{ "::192.0.2.1", 1, "::192.0.2.1" },
	{ "", 0, NULL },
	{ "192.0.2.1/32", 0, NULL },
	{ "192.0.2", 0, NULL },
	{ "01.2.3.4", 0, NULL },
	{ "1.2.3.4 ", 0, NULL },
	{ "localhost", 0, NULL },
	{ "2001:db8::g", 0, NULL },
};

static void
test_addr(void **state)
{
	uint8_t a[16];
	char buf[CIDR_STRLEN];
	size_t i;
	int got, bad = 0;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		got = cidr_addr_parse(addrs[i].in, a) == 0;
		if (got != addrs[i].ok) {
			print_error("\"%s\": got %s, want %s\n", addrs[i].in,
			    got ? "ok" : "error", addrs[i].ok ? "ok" : "error");
			bad++;
			continue;
		}
		if (!got)
			continue;
		cidr_addr_format(a, buf, sizeof(buf));
		if (strcmp(buf, addrs[i].text) != 0) {
			print_error("\"%s\": format: got \"%s\", want \"%s\"\n",
			    addrs[i].in, buf, addrs[i].text);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

static void
test_sockaddr(void **state)
{
	struct sockaddr_in sin = { 0 };
	struct sockaddr_in6 sin6 = { 0 };
	struct sockaddr sa = { 0 };
	uint8_t a[16], want[16];
	char buf[CIDR_STRLEN];

	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr), 1);
	assert_int_equal(cidr_addr_from_sa((struct sockaddr *)&sin, a), 0);
	assert_int_equal(cidr_addr_parse("::ffff:198.51.100.7", want), 0);
	assert_memory_equal(a, want, 16);
	assert_string_equal(cidr_addr_format(a, buf, sizeof(buf)), "198.51.100.7");

	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr), 1);
	assert_int_equal(cidr_addr_from_sa((struct sockaddr *)&sin6, a), 0);
	assert_string_equal(cidr_addr_format(a, buf, sizeof(buf)), "2001:db8::7");

	sa.sa_family = AF_UNIX;
	assert_int_equal(cidr_addr_from_sa(&sa, a), -1);
	assert_int_equal(cidr_addr_from_sa(NULL, a), -1);
}

static void
test_format_short(void **state)
{
	struct cidr n;
	char buf[6];
	const char *why;

	assert_int_equal(cidr_parse("192.0.2.0/24", &n, &why), 0);
	assert_string_equal(cidr_format(&n, buf, sizeof(buf)), "192.0");
	assert_string_equal(cidr_addr_format(n.addr, buf, sizeof(buf)), "192.0");
	assert_ptr_equal(cidr_format(&n, buf, 0), buf);
	/* why may be NULL */
	assert_int_equal(cidr_parse("bogus", &n, NULL), -1);
}

/* the unit a client is counted and banned in */
static void
test_client_net(void **state)
{
	static const struct {
		const char *addr; int v4, v6; const char *want;
	} cases[] = {
		{ "2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:ffff::1", 32, 64, "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:3:4:5:6", 32, 56, "2001:db8:1::/56" },
		{ "2001:db8:1:2:3:4:5:6", 32, 128, "2001:db8:1:2:3:4:5:6/128" },
		{ "2001:db8:1:2:3:4:5:6", 32, 61, "2001:db8:1::/61" },
		{ "::1", 32, 64, "::/64" },
		{ "192.0.2.77", 32, 64, "192.0.2.77/32" },
		{ "192.0.2.77", 24, 64, "192.0.2.0/24" },
		{ "192.0.2.77", 28, 48, "192.0.2.64/28" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t a[16];
		struct cidr n;
		char buf[CIDR_STRLEN];

		assert_int_equal(cidr_addr_parse(cases[i].addr, a), 0);
		cidr_client_net(a, cases[i].v4, cases[i].v6, &n);
		cidr_format(&n, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%s /%d /%d: got %s, want %s", cases[i].addr,
			    cases[i].v4, cases[i].v6, buf, cases[i].want);
		assert_int_equal(cidr_contains(&n, a), 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_format_short),
		cmocka_unit_test(test_client_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
