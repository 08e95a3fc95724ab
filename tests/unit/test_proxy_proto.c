/*
 * test_proxy_proto.c - table-driven tests of proxy_parse: v1 TCP4, TCP6
 * and UNKNOWN lines, v2 PROXY and LOCAL over IPv4 and IPv6, headers cut
 * short at every length, bad signatures, oversize and garbage.
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

#include "io/proxy_proto.h"

#define ANY	(PROXY_V1 | PROXY_V2)

/* "addr port" of a sockaddr, for comparisons */
static const char *
sa_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s %u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "%s %u", a, ntohs(s->sin6_port));
	} else
		snprintf(buf, len, "-");
	return buf;
}

/* v1 lines that parse, with what they say */
static const struct {
	const char	*in;
	int		 local;
	const char	*src, *dst;	/* sa_text; "-" when local */
} v1_ok[] = {
	{ "PROXY TCP4 192.0.2.5 198.51.100.1 56324 25\r\n", 0,
	    "192.0.2.5 56324", "198.51.100.1 25" },
	{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0,
	    "255.255.255.255 65535", "255.255.255.255 65535" },
	{ "PROXY TCP6 2001:db8::5 2001:db8::1 4000 587\r\n", 0,
	    "2001:db8::5 4000", "2001:db8::1 587" },
	{ "PROXY TCP6 ffff:f:f:f:f:f:f:f ffff:f:f:f:f:f:f:f 0 0\r\n", 0,
	    "ffff:f:f:f:f:f:f:f 0", "ffff:f:f:f:f:f:f:f 0" },
	{ "PROXY UNKNOWN\r\n", 1, "-", "-" },
	{ "PROXY UNKNOWN ffff:f:f:f:f:f:f:f ffff:f:f:f:f:f:f:f 65535 65535\r\n",
	    1, "-", "-" },
	{ "PROXY UNKNOWN anything at all goes here\r\n", 1, "-", "-" },
};

/* v1 lines that do not */
static const char *v1_bad[] = {
	"PROXY TCP4 192.0.2.5 198.51.100.1 56324\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 56324 25 extra\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 56324 25 \r\n",
	"PROXY TCP4 192.0.2.5  198.51.100.1 56324 25\r\n",
	"PROXY TCP4 2001:db8::5 198.51.100.1 56324 25\r\n",
	"PROXY TCP6 192.0.2.5 2001:db8::1 4000 587\r\n",
	"PROXY TCP4 192.0.2.256 198.51.100.1 1 25\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 65536 25\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 -1 25\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 123456 25\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 1x 25\r\n",
	"PROXY UDP4 192.0.2.5 198.51.100.1 1 25\r\n",
	"PROXY tcp4 192.0.2.5 198.51.100.1 1 25\r\n",
	"PROXY \r\n",
	"PROXY TCP4\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 1 25\n",
	"PROXY TCP4 192.0.2.5\r198.51.100.1 1 25\r\n",
	"PROXY TCP4 192.0.2.5 198.51.100.1 1 25\t\r\n",
	"PROXY UNKNOWN \x01\r\n",
	"PROXY UNKNOWN \xc3\xa9\r\n",
	"proxy TCP4 192.0.2.5 198.51.100.1 1 25\r\n",
	"EHLO client.example\r\n",
	"GET / HTTP/1.0\r\n",
	"\r\n\r\nX",
	"PROXYTCP4\r\n",
};

static void
test_v1_ok(void **state)
{
	struct proxy_header h;
	const char *why;
	char a[80], b[80];
	int bad = 0;

	for (size_t i = 0; i < sizeof(v1_ok) / sizeof(v1_ok[0]); i++) {
		const char *in = v1_ok[i].in;
		size_t n = strlen(in);
		enum proxy_result r;

		r = proxy_parse((const uint8_t *)in, n, PROXY_V1, &h, &why);
		if (r != PROXY_DONE) {
			print_error("%s: got %d (%s), want DONE\n", in, r, why);
			bad++;
			continue;
		}
		if (h.version != 1 || h.len != n || h.local != v1_ok[i].local ||
		    strcmp(sa_text(&h.src, a, sizeof(a)), v1_ok[i].src) != 0 ||
		    strcmp(sa_text(&h.dst, b, sizeof(b)), v1_ok[i].dst) != 0) {
			print_error("%s: got v%d len %zu local %d src %s dst %s\n",
			    in, h.version, h.len, h.local, a, b);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

static void
test_v1_bad(void **state)
{
	struct proxy_header h;
	const char *why;
	int bad = 0;

	for (size_t i = 0; i < sizeof(v1_bad) / sizeof(v1_bad[0]); i++) {
		const char *in = v1_bad[i];
		enum proxy_result r;

		r = proxy_parse((const uint8_t *)in, strlen(in), ANY, &h, &why);
		if (r != PROXY_BAD || why == NULL) {
			print_error("%s: got %d, want BAD\n", in, r);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

/* what follows the header is the client's: len stops at the CRLF */
static void
test_v1_trailing(void **state)
{
	static const char in[] = "PROXY TCP4 192.0.2.5 198.51.100.1 1 25\r\n"
	    "EHLO x\r\n";
	struct proxy_header h;
	const char *why;

	assert_int_equal(proxy_parse((const uint8_t *)in, sizeof(in) - 1,
	    ANY, &h, &why), PROXY_DONE);
	assert_int_equal(h.len, sizeof(in) - 1 - strlen("EHLO x\r\n"));
}

/* every proper prefix of a good header asks for more */
static void
test_truncated(void **state)
{
	static const char *lines[] = {
		"PROXY TCP4 192.0.2.5 198.51.100.1 56324 25\r\n",
		"PROXY UNKNOWN\r\n",
	};
	static const uint8_t v2[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c,
		192, 0, 2, 5, 198, 51, 100, 1, 0xdc, 0x04, 0x00, 0x19,
	};
	struct proxy_header h;
	const char *why;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		for (size_t n = 0; n < strlen(lines[i]); n++)
			if (proxy_parse((const uint8_t *)lines[i], n, ANY, &h,
			    &why) != PROXY_MORE)
				fail_msg("%s cut at %zu: not MORE", lines[i], n);
	for (size_t n = 0; n < sizeof(v2); n++)
		if (proxy_parse(v2, n, ANY, &h, &why) != PROXY_MORE)
			fail_msg("v2 cut at %zu: not MORE", n);
	assert_int_equal(proxy_parse(v2, sizeof(v2), ANY, &h, &why), PROXY_DONE);
}

/* a v2 header: fixed part, then body */
static size_t
v2_build(uint8_t *out, uint8_t vercmd, uint8_t fam, const uint8_t *body,
    size_t blen)
{
	static const uint8_t sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a,
	};

	memcpy(out, sig, 12);
	out[12] = vercmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static const uint8_t body4[] = {
	192, 0, 2, 5, 198, 51, 100, 1, 0xdc, 0x04, 0x00, 0x19,
};
static const uint8_t body6[] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x0f, 0xa0, 0x02, 0x4b,
};
/* body4, then a NOOP TLV of 3 bytes and an AUTHORITY TLV "mx.example" */
static const uint8_t body4_tlv[] = {
	192, 0, 2, 5, 198, 51, 100, 1, 0xdc, 0x04, 0x00, 0x19,
	0x04, 0x00, 0x03, 0, 0, 0,
	0x02, 0x00, 0x0a, 'm', 'x', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
};

static const struct {
	const char	*name;
	uint8_t		 vercmd, fam;
	const uint8_t	*body;
	size_t		 blen;
	enum proxy_result want;
	int		 local;
	const char	*src, *dst;
} v2_cases[] = {
	{ "PROXY TCP4", 0x21, 0x11, body4, sizeof(body4), PROXY_DONE, 0,
	    "192.0.2.5 56324", "198.51.100.1 25" },
	{ "PROXY TCP6", 0x21, 0x21, body6, sizeof(body6), PROXY_DONE, 0,
	    "2001:db8::5 4000", "2001:db8::1 587" },
	{ "PROXY TCP4 + TLVs", 0x21, 0x11, body4_tlv, sizeof(body4_tlv),
	    PROXY_DONE, 0, "192.0.2.5 56324", "198.51.100.1 25" },
	{ "LOCAL, no body", 0x20, 0x00, NULL, 0, PROXY_DONE, 1, "-", "-" },
	{ "LOCAL with TCP4 body", 0x20, 0x11, body4, sizeof(body4),
	    PROXY_DONE, 1, "-", "-" },
	{ "PROXY UNSPEC", 0x21, 0x00, NULL, 0, PROXY_DONE, 1, "-", "-" },
	{ "version 1 in v2", 0x11, 0x11, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "version 3", 0x31, 0x11, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "command 2", 0x22, 0x11, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "family 4", 0x21, 0x41, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "protocol 3", 0x21, 0x13, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "TCP4 body short", 0x21, 0x11, body4, 11, PROXY_BAD, 0, NULL, NULL },
	{ "TCP6 with a TCP4 body", 0x21, 0x21, body4, sizeof(body4),
	    PROXY_BAD, 0, NULL, NULL },
	{ "UDP4", 0x21, 0x12, body4, sizeof(body4), PROXY_BAD, 0, NULL, NULL },
	{ "TLV cut", 0x21, 0x11, body4_tlv, sizeof(body4_tlv) - 1, PROXY_BAD, 0, NULL, NULL },
	{ "TLV stub", 0x21, 0x11, body4_tlv, sizeof(body4) + 2, PROXY_BAD, 0, NULL, NULL },
};

static void
test_v2(void **state)
{
	uint8_t buf[PROXY_HEADER_MAX];
	struct proxy_header h;
	const char *why;
	char a[80], b[80];
	int bad = 0;

	for (size_t i = 0; i < sizeof(v2_cases) / sizeof(v2_cases[0]); i++) {
		size_t n = v2_build(buf, v2_cases[i].vercmd, v2_cases[i].fam,
		    v2_cases[i].body, v2_cases[i].blen);
		enum proxy_result r = proxy_parse(buf, n, ANY, &h, &why);

		if (r != v2_cases[i].want) {
			print_error("%s: got %d (%s), want %d\n",
			    v2_cases[i].name, r, why ? why : "", v2_cases[i].want);
			bad++;
			continue;
		}
		if (r != PROXY_DONE)
			continue;
		if (h.version != 2 || h.len != n || h.local != v2_cases[i].local ||
		    strcmp(sa_text(&h.src, a, sizeof(a)), v2_cases[i].src) != 0 ||
		    strcmp(sa_text(&h.dst, b, sizeof(b)), v2_cases[i].dst) != 0) {
			print_error("%s: got v%d len %zu local %d src %s dst %s\n",
			    v2_cases[i].name, h.version, h.len, h.local, a, b);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

/* a listener takes only the versions it names */
static void
test_versions(void **state)
{
	static const char v1[] = "PROXY UNKNOWN\r\n";
	uint8_t buf[64];
	size_t n = v2_build(buf, 0x20, 0, NULL, 0);
	struct proxy_header h;
	const char *why;

	assert_int_equal(proxy_parse((const uint8_t *)v1, sizeof(v1) - 1,
	    PROXY_V2, &h, &why), PROXY_BAD);
	assert_int_equal(proxy_parse(buf, n, PROXY_V1, &h, &why), PROXY_BAD);
	/* even the first byte of the wrong version is refused */
	assert_int_equal(proxy_parse(buf, 1, PROXY_V1, &h, &why), PROXY_BAD);
	assert_int_equal(proxy_parse((const uint8_t *)v1, 1, PROXY_V2, &h,
	    &why), PROXY_BAD);
	assert_int_equal(proxy_parse(buf, n, PROXY_V2, &h, &why), PROXY_DONE);
}

/* bad signatures, oversize headers and garbage */
static void
test_garbage(void **state)
{
	uint8_t buf[PROXY_HEADER_MAX + 64];
	char line[200];
	struct proxy_header h;
	const char *why;
	size_t n;

	/* the v2 signature with one byte wrong, at each position */
	for (size_t i = 0; i < 12; i++) {
		n = v2_build(buf, 0x21, 0x11, body4, sizeof(body4));
		buf[i] ^= 0x40;
		if (proxy_parse(buf, n, ANY, &h, &why) != PROXY_BAD)
			fail_msg("signature byte %zu changed: not BAD", i);
	}
	/* a v2 length past PROXY_V2_LEN_MAX is refused from the fixed part */
	n = v2_build(buf, 0x21, 0x11, body4, sizeof(body4));
	buf[14] = (PROXY_V2_LEN_MAX + 1) >> 8;
	buf[15] = (PROXY_V2_LEN_MAX + 1) & 0xff;
	assert_int_equal(proxy_parse(buf, 16, ANY, &h, &why), PROXY_BAD);
	buf[14] = buf[15] = 0xff;
	assert_int_equal(proxy_parse(buf, 16, ANY, &h, &why), PROXY_BAD);
	/* the longest v1 line takes 107 bytes; 108 are too many */
	memset(line, 0, sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', 105 - 14);
	memcpy(line + 105, "\r\n", 2);
	assert_int_equal(proxy_parse((const uint8_t *)line, 107, ANY, &h, &why),
	    PROXY_DONE);
	assert_int_equal(h.len, 107);
	memset(line + 14, 'x', 106 - 14);
	memcpy(line + 106, "\r\n", 2);
	assert_int_equal(proxy_parse((const uint8_t *)line, 108, ANY, &h, &why),
	    PROXY_BAD);
	/* and with no end in sight */
	memset(line + 14, 'x', sizeof(line) - 14);
	assert_int_equal(proxy_parse((const uint8_t *)line, sizeof(line), ANY,
	    &h, &why), PROXY_BAD);
	assert_int_equal(proxy_parse((const uint8_t *)line, 107, ANY, &h, &why),
	    PROXY_BAD);
	assert_int_equal(proxy_parse((const uint8_t *)line, 106, ANY, &h, &why),
	    PROXY_MORE);
	/* binary junk, TLS ClientHello, an SMTP command */
	memcpy(buf, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
	assert_int_equal(proxy_parse(buf, 11, ANY, &h, &why), PROXY_BAD);
	assert_int_equal(proxy_parse((const uint8_t *)"Q", 1, ANY, &h, &why),
	    PROXY_BAD);
	assert_int_equal(proxy_parse((const uint8_t *)"\r\n\r\n\0\r\nQUIT\r",
	    12, ANY, &h, &why), PROXY_BAD);
	/* nothing yet is not an error */
	assert_int_equal(proxy_parse(buf, 0, ANY, &h, &why), PROXY_MORE);
}

/* proxy_format writes what proxy_parse reads back, both versions */
static void
test_format(void **state)
{
	static const struct {
		const char	*src, *dst;
		int		 sport, dport;
	} pairs[] = {
		{ "192.0.2.1", "198.51.100.25", 40000, 25 },
		{ "2001:db8::1", "2001:db8::25", 1, 65535 },
	};
	struct sockaddr_storage s, d;
	struct proxy_header h;
	uint8_t buf[PROXY_HEADER_MAX];
	const char *why;
	char a[80], b[80], want[80];
	size_t n;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		int af = strchr(pairs[i].src, ':') ? AF_INET6 : AF_INET;

		memset(&s, 0, sizeof(s));
		memset(&d, 0, sizeof(d));
		s.ss_family = d.ss_family = (sa_family_t)af;
		if (af == AF_INET) {
			struct sockaddr_in *s4 = (void *)&s, *d4 = (void *)&d;

			inet_pton(af, pairs[i].src, &s4->sin_addr);
			inet_pton(af, pairs[i].dst, &d4->sin_addr);
			s4->sin_port = htons((uint16_t)pairs[i].sport);
			d4->sin_port = htons((uint16_t)pairs[i].dport);
		} else {
			struct sockaddr_in6 *s6 = (void *)&s, *d6 = (void *)&d;

			inet_pton(af, pairs[i].src, &s6->sin6_addr);
			inet_pton(af, pairs[i].dst, &d6->sin6_addr);
			s6->sin6_port = htons((uint16_t)pairs[i].sport);
			d6->sin6_port = htons((uint16_t)pairs[i].dport);
		}
		for (int v = PROXY_V1; v <= PROXY_V2; v++) {
			n = proxy_format(v, (struct sockaddr *)&s,
			    (struct sockaddr *)&d, buf, sizeof(buf));
			assert_true(n > 0);
			assert_int_equal(proxy_parse(buf, n, v, &h, &why),
			    PROXY_DONE);
			assert_int_equal(h.len, n);
			assert_int_equal(h.local, 0);
			snprintf(want, sizeof(want), "%s %d", pairs[i].src,
			    pairs[i].sport);
			assert_string_equal(sa_text(&h.src, a, sizeof(a)), want);
			snprintf(want, sizeof(want), "%s %d", pairs[i].dst,
			    pairs[i].dport);
			assert_string_equal(sa_text(&h.dst, b, sizeof(b)), want);
			/* too small a buffer: nothing */
			assert_int_equal(proxy_format(v, (struct sockaddr *)&s,
			    (struct sockaddr *)&d, buf, n - 1), 0);
		}
	}
	/* mixed families */
	s.ss_family = AF_INET;
	d.ss_family = AF_INET6;
	assert_int_equal(proxy_format(PROXY_V1, (struct sockaddr *)&s,
	    (struct sockaddr *)&d, buf, sizeof(buf)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_ok),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v1_trailing),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_v2),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
