/*
 * test_mta_dnsbl.c - the blacklist watch's pure parts: query names of
 * own addresses, the verdict of A records, TXT reasons, and which own
 * addresses are worth asking about.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "io/proto.h"
#include "lib/cidr.h"
#include "mta/mta_dnsbl.h"
#include "policy/dnsbl.h"

static const struct {
	const char	*addr, *zone, *name;
} names[] = {
	{ "192.0.2.10", "bl.example", "10.2.0.192.bl.example" },
	{ "203.0.113.255", "zen.spamhaus.org",
	    "255.113.0.203.zen.spamhaus.org" },
	{ "2001:db8::10", "bl.example",
	    "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	    "bl.example" },
	{ "2a01:4f8:c17:1::abcd", "v6.example",
	    "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.7.1.c.0.8.f.4.0.1.0.a.2."
	    "v6.example" },
	/* an IPv4-mapped address is asked as IPv4 */
	{ "::ffff:198.51.100.7", "bl.example", "7.100.51.198.bl.example" },
};

static void
test_query_name(void **state)
{
	uint8_t a[16];
	char buf[300];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(cidr_addr_parse(names[i].addr, a), 0);
		assert_int_equal(dnsbl_query_name(a, names[i].zone, buf,
		    sizeof(buf)), 0);
		assert_string_equal(buf, names[i].name);
	}
	/* a buffer too short is an error, never a cut name */
	assert_int_equal(cidr_addr_parse("2001:db8::10", a), 0);
	assert_int_equal(dnsbl_query_name(a, "bl.example", buf, 70), -1);
	assert_int_equal(cidr_addr_parse("192.0.2.10", a), 0);
	assert_int_equal(dnsbl_query_name(a, "bl.example", buf, 21), -1);
}

/* the verdict of a list of A records given as dotted quads */
static int
verdict(char *out, size_t outlen, size_t n, ...)
{
	char *data[8];
	int len[8];
	uint8_t raw[8][5];
	va_list ap;
	int rc;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		const char *s = va_arg(ap, const char *);
		unsigned b[4];

		if (sscanf(s, "%u.%u.%u.%u", &b[0], &b[1], &b[2], &b[3]) == 4) {
			for (int k = 0; k < 4; k++)
				raw[i][k] = (uint8_t)b[k];
			len[i] = 4;
		} else {
			memcpy(raw[i], "\1\2\3\4\5", 5);	/* a bad length */
			len[i] = 5;
		}
		data[i] = (char *)raw[i];
	}
	va_end(ap);
	rc = mta_dnsbl_verdict(data, len, n, out, outlen);
	return rc;
}

static void
test_verdict(void **state)
{
	char out[128];

	assert_int_equal(verdict(out, sizeof(out), 0), PROTO_DNSBL_CLEAN);
	assert_string_equal(out, "");
	assert_int_equal(verdict(out, sizeof(out), 1, "127.0.0.2"),
	    PROTO_DNSBL_LISTED);
	assert_string_equal(out, "127.0.0.2");
	assert_int_equal(verdict(out, sizeof(out), 2, "127.0.0.2",
	    "127.0.0.11"), PROTO_DNSBL_LISTED);
	assert_string_equal(out, "127.0.0.2,127.0.0.11");
	/* Spamhaus's refusals: an error, not a listing */
	assert_int_equal(verdict(out, sizeof(out), 1, "127.255.255.254"),
	    PROTO_DNSBL_ERROR);
	assert_non_null(strstr(out, "refused"));
	assert_non_null(strstr(out, "127.255.255.254"));
	/* a listing beside a refusal code is still a listing */
	assert_int_equal(verdict(out, sizeof(out), 2, "127.255.255.252",
	    "127.0.0.3"), PROTO_DNSBL_LISTED);
	assert_string_equal(out, "127.0.0.3");
	/* outside 127/8: a made-up answer, an error */
	assert_int_equal(verdict(out, sizeof(out), 1, "192.0.2.1"),
	    PROTO_DNSBL_ERROR);
	assert_non_null(strstr(out, "outside 127.0.0.0/8"));
	/* records of another length are not A records */
	assert_int_equal(verdict(out, sizeof(out), 1, "bad"),
	    PROTO_DNSBL_CLEAN);
	/* a small buffer cuts, never overruns */
	assert_int_equal(verdict(out, 6, 1, "127.0.0.2"), PROTO_DNSBL_LISTED);
	assert_string_equal(out, "127.0");
}

static void
test_txt(void **state)
{
	char out[32] = "";
	static const uint8_t one[] = "\x0bListed: see\x05 here";
	static const uint8_t ctl[] = "\x04" "a\x01\xff" "b";
	static const uint8_t bad[] = "\x20short";

	mta_dnsbl_txt(one, sizeof(one) - 1, out, sizeof(out));
	assert_string_equal(out, "Listed: see here");
	/* a second record after "; " */
	mta_dnsbl_txt((const uint8_t *)"\x02ok", 3, out, sizeof(out));
	assert_string_equal(out, "Listed: see here; ok");
	/* cut at the buffer */
	mta_dnsbl_txt(one, sizeof(one) - 1, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	/* control and 8-bit bytes come out as '?' */
	out[0] = '\0';
	mta_dnsbl_txt(ctl, sizeof(ctl) - 1, out, sizeof(out));
	assert_string_equal(out, "a??b");
	/* a length past the rdata reads what is there */
	out[0] = '\0';
	mta_dnsbl_txt(bad, sizeof(bad) - 1, out, sizeof(out));
	assert_string_equal(out, "short");
	/* empty rdata leaves out alone */
	mta_dnsbl_txt(bad, 0, out, sizeof(out));
	assert_string_equal(out, "short");
}

static void
test_addr_global(void **state)
{
	assert_int_equal(mta_dnsbl_addr_global("9.9.9.9"), 1);
	assert_int_equal(mta_dnsbl_addr_global("2a01:4f8::1"), 1);
	assert_int_equal(mta_dnsbl_addr_global("10.1.2.3"), 0);
	assert_int_equal(mta_dnsbl_addr_global("192.168.0.5"), 0);
	assert_int_equal(mta_dnsbl_addr_global("100.64.0.1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("127.0.0.1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("192.0.2.2"), 0);
	assert_int_equal(mta_dnsbl_addr_global("198.51.100.1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("203.0.113.9"), 0);
	assert_int_equal(mta_dnsbl_addr_global("198.19.0.1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("fd00::2"), 0);
	assert_int_equal(mta_dnsbl_addr_global("fe80::1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("::1"), 0);
	assert_int_equal(mta_dnsbl_addr_global("2001:db8::10"), 0);
	assert_int_equal(mta_dnsbl_addr_global("nonsense"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_name),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_addr_global),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
