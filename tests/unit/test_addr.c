/*
 * test_addr.c - table-driven tests of addr_parse_path and addr_format.
 *
 * Every input is copied into a heap block of exactly its length, so
 * ASan reports any read past s+len (the parser's input is never
 * NUL-terminated). Every row is checked; all mismatches are printed as
 * "got X, want Y" before the test fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mail/addr.h"

#define NUL_F	ADDR_F_ALLOW_NULL
#define U8	ADDR_F_UTF8

struct addr_case {
	const char	*in;
	size_t		 len;
	int		 flags;
	enum addr_err	 err;
	/* checked only when err == ADDR_OK; NULL means "same as local" */
	const char	*local;
	const char	*plain;
	const char	*domain;
	size_t		 consumed;	/* 0: the whole input */
	int		 is_null, is_literal, utf8, had_route, quoted;
};

/* the length of every row is sizeof - 1, so rows may hold NUL bytes */
#define OK(i, f, l, p, d, c, n, li, u, r, q) { .in = i, .len = sizeof(i) - 1, \
	.flags = f, .err = ADDR_OK, .local = l, .plain = p, .domain = d, \
	.consumed = c, .is_null = n, .is_literal = li, .utf8 = u, \
	.had_route = r, .quoted = q }
#define BAD(i, f, e) { .in = i, .len = sizeof(i) - 1, .flags = f, .err = e }

static const struct addr_case cases[] = {
	/* plain dot-strings */
	OK("<user@example.com>", 0, "user", NULL, "example.com", 0, 0, 0, 0, 0, 0),
	OK("<User.Name+tag@Example.COM>", 0, "User.Name+tag", NULL, "example.com", 0, 0, 0, 0, 0, 0),
	OK("<!#$%&'*+-/=?^_`{|}~@x.example>", 0, "!#$%&'*+-/=?^_`{|}~", NULL, "x.example", 0, 0, 0, 0, 0, 0),
	OK("<a@localhost>", 0, "a", NULL, "localhost", 0, 0, 0, 0, 0, 0),
	OK("<a@a-b.c--d.e9>", 0, "a", NULL, "a-b.c--d.e9", 0, 0, 0, 0, 0, 0),
	OK("<a@123.example>", 0, "a", NULL, "123.example", 0, 0, 0, 0, 0, 0),
	OK("<alice%evil.com@example.com>", 0, "alice%evil.com", NULL, "example.com", 0, 0, 0, 0, 0, 0),
	OK("<evil.com!alice@example.com>", 0, "evil.com!alice", NULL, "example.com", 0, 0, 0, 0, 0, 0),
	/* consumed stops after '>', whatever follows */
	OK("<a@b.c> SIZE=100", 0, "a", NULL, "b.c", 7, 0, 0, 0, 0, 0),
	OK("<a@b>>", 0, "a", NULL, "b", 5, 0, 0, 0, 0, 0),
	OK("<a@b>\0junk", 0, "a", NULL, "b", 5, 0, 0, 0, 0, 0),

	/* quoted strings: unquoted when a dot-string, minimal escaping else */
	OK("<\"john\"@x.org>", 0, "john", "john", "x.org", 0, 0, 0, 0, 0, 1),
	OK("<\"john.smith\"@x.org>", 0, "john.smith", NULL, "x.org", 0, 0, 0, 0, 0, 1),
	OK("<\"\\j\\o\\h\\n\"@x.org>", 0, "john", "john", "x.org", 0, 0, 0, 0, 0, 1),
	OK("<\"john doe\"@x.org>", 0, "\"john doe\"", "john doe", "x.org", 0, 0, 0, 0, 0, 1),
	OK("<\"a\\\"b\"@x>", 0, "\"a\\\"b\"", "a\"b", "x", 0, 0, 0, 0, 0, 1),
	OK("<\"a\\\\b\"@x>", 0, "\"a\\\\b\"", "a\\b", "x", 0, 0, 0, 0, 0, 1),
	OK("<\"a@b\"@x>", 0, "\"a@b\"", "a@b", "x", 0, 0, 0, 0, 0, 1),
	OK("<\"victim@evil.com\"@example.com>", 0, "\"victim@evil.com\"", "victim@evil.com", "example.com", 0, 0, 0, 0, 0, 1),
	OK("<\"a..b\"@x>", 0, "\"a..b\"", "a..b", "x", 0, 0, 0, 0, 0, 1),
	OK("<\".a\"@x>", 0, "\".a\"", ".a", "x", 0, 0, 0, 0, 0, 1),
	OK("<\" \"@x>", 0, "\" \"", " ", "x", 0, 0, 0, 0, 0, 1),
	OK("<\"a\\ b\"@x>", 0, "\"a b\"", "a b", "x", 0, 0, 0, 0, 0, 1),
	OK("<\"(a)\"@x>", 0, "\"(a)\"", "(a)", "x", 0, 0, 0, 0, 0, 1),

	/* address literals */
	OK("<u@[192.0.2.1]>", 0, "u", NULL, "[192.0.2.1]", 0, 0, 1, 0, 0, 0),
	OK("<u@[IPv6:2001:DB8::1]>", 0, "u", NULL, "[IPv6:2001:db8::1]", 0, 0, 1, 0, 0, 0),
	OK("<u@[ipv6:::1]>", 0, "u", NULL, "[IPv6:::1]", 0, 0, 1, 0, 0, 0),
	OK("<u@[IPv6:::ffff:192.0.2.1]>", 0, "u", NULL, "[IPv6:::ffff:192.0.2.1]", 0, 0, 1, 0, 0, 0),
	OK("<u@[IPv6:1:2:3:4:5:6:7:8]>", 0, "u", NULL, "[IPv6:1:2:3:4:5:6:7:8]", 0, 0, 1, 0, 0, 0),

	/* source routes are checked and dropped */
	OK("<@a.example,@b.example:user@c.example>", 0, "user", NULL, "c.example", 0, 0, 0, 0, 1, 0),
	OK("<@a:u@b>", 0, "u", NULL, "b", 0, 0, 0, 0, 1, 0),
	OK("<@example.com:victim@evil.com>", 0, "victim", NULL, "evil.com", 0, 0, 0, 0, 1, 0),
	OK("<@a:\"x y\"@[192.0.2.1]>", 0, "\"x y\"", "x y", "[192.0.2.1]", 0, 0, 1, 0, 1, 1),

	/* the null path */
	OK("<>", NUL_F, "", "", "", 2, 1, 0, 0, 0, 0),
	OK("<> BODY=8BITMIME", NUL_F | U8, "", "", "", 2, 1, 0, 0, 0, 0),
	BAD("<>", 0, ADDR_ERR_SYNTAX),
	BAD("<>", U8, ADDR_ERR_SYNTAX),
	BAD("<@a:>", NUL_F, ADDR_ERR_SYNTAX),

	/* <postmaster> without a domain, any case, any flags */
	OK("<postmaster>", 0, "postmaster", "postmaster", "", 0, 0, 0, 0, 0, 0),
	OK("<PostMaster>", 0, "postmaster", "postmaster", "", 0, 0, 0, 0, 0, 0),
	OK("<POSTMASTER> x", NUL_F | U8, "postmaster", "postmaster", "", 12, 0, 0, 0, 0, 0),
	OK("<Postmaster@Example.COM>", 0, "Postmaster", NULL, "example.com", 0, 0, 0, 0, 0, 0),
	BAD("<\"postmaster\">", 0, ADDR_ERR_SYNTAX),
	BAD("<@a:postmaster>", 0, ADDR_ERR_SYNTAX),
	BAD("<postmaste>", 0, ADDR_ERR_SYNTAX),
	BAD("<postmasterx>", 0, ADDR_ERR_SYNTAX),
	BAD("<user>", 0, ADDR_ERR_SYNTAX),

	/* UTF-8 (RFC 6531) */
	OK("<j\xc3\xb6rg@M\xc3\xbcnchen.Example>", U8, "j\xc3\xb6rg", NULL, "m\xc3\xbcnchen.example", 0, 0, 0, 1, 0, 0),
	OK("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", U8, "\xe7\x94\xa8\xe6\x88\xb7", NULL, "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0, 0, 0, 1, 0, 0),
	OK("<\xf0\x9f\x98\x80@x>", U8, "\xf0\x9f\x98\x80", NULL, "x", 0, 0, 0, 1, 0, 0),
	OK("<\"\xc3\xa9 \xc3\xa9\"@x>", U8, "\"\xc3\xa9 \xc3\xa9\"", "\xc3\xa9 \xc3\xa9", "x", 0, 0, 0, 1, 0, 1),
	OK("<a@x>", U8, "a", NULL, "x", 0, 0, 0, 0, 0, 0),
	BAD("<j\xc3\xb6rg@x>", 0, ADDR_ERR_UTF8),
	BAD("<a@m\xc3\xbcnchen.example>", 0, ADDR_ERR_UTF8),
	BAD("<\"\xc3\xa9\"@x>", 0, ADDR_ERR_UTF8),
	BAD("<@\xc3\xa9:a@x>", 0, ADDR_ERR_UTF8),
	BAD("<a\x80@x>", 0, ADDR_ERR_UTF8),
	BAD("<a\x80@x>", U8, ADDR_ERR_SYNTAX),		/* lone continuation */
	BAD("<a\xc0\xaf@x>", U8, ADDR_ERR_SYNTAX),		/* overlong '/' */
	BAD("<a\xc1\xbf@x>", U8, ADDR_ERR_SYNTAX),		/* overlong */
	BAD("<a\xe0\x80\xaf@x>", U8, ADDR_ERR_SYNTAX),	/* overlong, 3 bytes */
	BAD("<a\xf0\x80\x80\xaf@x>", U8, ADDR_ERR_SYNTAX),	/* overlong, 4 bytes */
	BAD("<a\xed\xa0\x80@x>", U8, ADDR_ERR_SYNTAX),	/* U+D800 */
	BAD("<a\xed\xbf\xbf@x>", U8, ADDR_ERR_SYNTAX),	/* U+DFFF */
	BAD("<a\xf4\x90\x80\x80@x>", U8, ADDR_ERR_SYNTAX),	/* U+110000 */
	BAD("<a\xf5\x80\x80\x80@x>", U8, ADDR_ERR_SYNTAX),
	BAD("<a\xff@x>", U8, ADDR_ERR_SYNTAX),
	BAD("<a\xc3@x>", U8, ADDR_ERR_SYNTAX),		/* truncated */
	BAD("<a\xe4\xbe@x>", U8, ADDR_ERR_SYNTAX),		/* truncated */
	BAD("<a@x\xc3>", U8, ADDR_ERR_SYNTAX),
	BAD("<a@x\xed\xa0\x80>", U8, ADDR_ERR_SYNTAX),
	BAD("<\"a\xc3\"@x>", U8, ADDR_ERR_SYNTAX),
	BAD("<\"\\\xc3\xa9\"@x>", U8, ADDR_ERR_SYNTAX),	/* quoted-pair is ASCII */
	OK("<a\xed\x9f\xbf@x>", U8, "a\xed\x9f\xbf", NULL, "x", 0, 0, 0, 1, 0, 0),	/* U+D7FF */
	OK("<a\xf4\x8f\xbf\xbf@x>", U8, "a\xf4\x8f\xbf\xbf", NULL, "x", 0, 0, 0, 1, 0, 0),	/* U+10FFFF */

	/* syntax errors */
	BAD("", 0, ADDR_ERR_SYNTAX),
	BAD("<", NUL_F, ADDR_ERR_SYNTAX),
	BAD("user@example.com", 0, ADDR_ERR_SYNTAX),
	BAD(" <user@example.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@example.com", 0, ADDR_ERR_SYNTAX),
	BAD("<user@example.com.>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@.example.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@example..com>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@@example.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@evil.com@example.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<@example.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<@>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@>", 0, ADDR_ERR_SYNTAX),
	BAD("<user>", NUL_F, ADDR_ERR_SYNTAX),
	BAD("<us er@x>", 0, ADDR_ERR_SYNTAX),
	BAD("< user@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<user @x>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@ x>", 0, ADDR_ERR_SYNTAX),
	BAD("<user@x >", 0, ADDR_ERR_SYNTAX),
	BAD("<.a@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a.@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a..b@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a(b)@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a,b@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\\b@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\"b@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\"b\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\\\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@-x.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x-.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x_y.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x.com:25>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x.com%y>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@\"x\">", 0, ADDR_ERR_SYNTAX),
	/* control characters, NUL and DEL anywhere */
	BAD("<a\x01@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\t@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\r\n@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\x7f@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x\x7f>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\tb\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\x7f\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\\\x01\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\\\t\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a\0b@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x\0.com>", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\0b\"@x>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[1.2.3.4\0]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[1.2.3.4]\0>", 0, ADDR_ERR_SYNTAX),
	BAD("<\0>", NUL_F, ADDR_ERR_SYNTAX),
	/* bad address literals */
	BAD("<a@[tag:content]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[x-tag:content]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:zz::1]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:1.2.3.4]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:1::2::3]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:fe80::1%eth0]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[::1]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[192.0.2.256]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[192.0.2]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[192.0.2.1.5]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[ 192.0.2.1]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[192.0.2.1>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[192.0.2.1].com>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@x.[192.0.2.1]>", 0, ADDR_ERR_SYNTAX),
	BAD("<a@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:1]>", 0, ADDR_ERR_SYNTAX),
	/* bad source routes */
	BAD("<@a,b:u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a:>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a,:u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a.:u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@[192.0.2.1]:u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a:@b:u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a::u@c>", 0, ADDR_ERR_SYNTAX),
	BAD("<@a:@b>", 0, ADDR_ERR_SYNTAX),		/* empty local part */
	BAD("<@a:\"\"@b>", 0, ADDR_ERR_SYNTAX),
};

/* a heap copy of exactly len bytes, so ASan sees any read past the end */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

static void
escape(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
	}
	dst[o] = '\0';
}

static const char *
err_name(enum addr_err e)
{
	switch (e) {
	case ADDR_OK:		return "ADDR_OK";
	case ADDR_ERR_SYNTAX:	return "ADDR_ERR_SYNTAX";
	case ADDR_ERR_TOO_LONG:	return "ADDR_ERR_TOO_LONG";
	case ADDR_ERR_UTF8:	return "ADDR_ERR_UTF8";
	}
	return "?";
}

static int
check_str(const char *in, const char *field, const char *got, const char *want)
{
	char g[1024], w[1024];

	if (strcmp(got, want) == 0)
		return 0;
	escape(g, sizeof(g), got, strlen(got));
	escape(w, sizeof(w), want, strlen(want));
	print_error("%s: %s: got \"%s\", want \"%s\"\n", in, field, g, w);
	return 1;
}

static int
check_int(const char *in, const char *field, long got, long want)
{
	if (got == want)
		return 0;
	print_error("%s: %s: got %ld, want %ld\n", in, field, got, want);
	return 1;
}

/*
 * Parse in[0..len) with flags, compare with the expectations; also check
 * that a failed parse leaves *out zeroed and *consumed 0, and that a
 * successful one survives addr_format and a second parse unchanged.
 */
static int
run_one(const char *in, size_t len, int flags, enum addr_err want_err,
    const struct addr_case *w)
{
	struct mail_addr a, b;
	char name[1200], fmt[ADDR_STRLEN], again[ADDR_STRLEN + 2];
	static const struct mail_addr zero;
	size_t consumed = 12345, c2;
	enum addr_err r;
	char *buf;
	int bad = 0;

	escape(name, sizeof(name), in, len > 200 ? 200 : len);
	snprintf(name + strlen(name), sizeof(name) - strlen(name),
	    "%s (len %zu, flags %d)", len > 200 ? "..." : "", len, flags);
	buf = exact_copy(in, len);
	r = addr_parse_path(buf, len, flags, &a, &consumed);
	free(buf);
	if (r != want_err) {
		print_error("%s: got %s, want %s\n", name, err_name(r),
		    err_name(want_err));
		return 1;
	}
	if (r != ADDR_OK) {
		bad += check_int(name, "consumed", (long)consumed, 0);
		if (memcmp(&a, &zero, sizeof(a)) != 0) {
			print_error("%s: got output not zeroed on error\n", name);
			bad++;
		}
		return bad;
	}
	if (w != NULL) {
		bad += check_str(name, "local", a.local, w->local);
		bad += check_str(name, "local_plain", a.local_plain,
		    w->plain ? w->plain : w->local);
		bad += check_str(name, "domain", a.domain, w->domain);
		bad += check_int(name, "consumed", (long)consumed,
		    (long)(w->consumed ? w->consumed : len));
		bad += check_int(name, "is_null", a.is_null, w->is_null);
		bad += check_int(name, "is_literal", a.is_literal, w->is_literal);
		bad += check_int(name, "utf8", a.utf8, w->utf8);
		bad += check_int(name, "had_route", a.had_route, w->had_route);
		bad += check_int(name, "quoted", a.quoted, w->quoted);
	}
	/* round trip: formatting and parsing again gives the same address */
	addr_format(&a, fmt, sizeof(fmt));
	snprintf(again, sizeof(again), "<%s>", fmt);
	buf = exact_copy(again, strlen(again));
	r = addr_parse_path(buf, strlen(again), flags, &b, &c2);
	free(buf);
	if (r != ADDR_OK) {
		print_error("%s: reparse of %s: got %s, want ADDR_OK\n", name,
		    again, err_name(r));
		return bad + 1;
	}
	bad += check_str(name, "reparsed local", b.local, a.local);
	bad += check_str(name, "reparsed local_plain", b.local_plain, a.local_plain);
	bad += check_str(name, "reparsed domain", b.domain, a.domain);
	bad += check_int(name, "reparsed consumed", (long)c2, (long)strlen(again));
	return bad;
}

static void
test_table(void **state)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];

		bad += run_one(c->in, c->len, c->flags, c->err, c);
	}
	if (bad)
		fail_msg("%d mismatches in %zu cases", bad,
		    sizeof(cases) / sizeof(cases[0]));
}

/* "<" local "@" domain ">" with generated lengths */
struct len_case {
	size_t		local;		/* 'l' repeated */
	int		quoted;		/* local as " qqq" in quotes */
	size_t		domain;		/* labels of 'd' (63 + "."), then 'e's */
	size_t		label;		/* label length (0: 63) */
	enum addr_err	err;
};

static const struct len_case len_cases[] = {
	/* local part: 64 octets (RFC 5321 4.5.3.1.1) */
	{ 1, 0, 1, 0, ADDR_OK },
	{ 64, 0, 10, 0, ADDR_OK },
	{ 65, 0, 10, 0, ADDR_ERR_TOO_LONG },
	{ 300, 0, 10, 0, ADDR_ERR_TOO_LONG },
	/* quoted: the limit is on the content, not the quoting */
	{ 64, 1, 10, 0, ADDR_OK },
	{ 65, 1, 10, 0, ADDR_ERR_TOO_LONG },
	/* domain: 255 octets, but the 256-octet path limit (brackets, '@'
	 * and a 1-octet local part) already caps it at 252 */
	{ 1, 0, 252, 0, ADDR_OK },
	{ 1, 0, 253, 0, ADDR_ERR_TOO_LONG },
	{ 1, 0, 255, 0, ADDR_ERR_TOO_LONG },
	{ 1, 0, 256, 0, ADDR_ERR_TOO_LONG },
	{ 1, 0, 1000, 0, ADDR_ERR_TOO_LONG },
	/* path: 256 octets including the brackets */
	{ 64, 0, 189, 0, ADDR_OK },		/* 1 + 64 + 1 + 189 + 1 = 256 */
	{ 64, 0, 190, 0, ADDR_ERR_TOO_LONG },
	{ 64, 1, 187, 0, ADDR_OK },		/* 1 + 66 + 1 + 187 + 1 = 256 */
	{ 64, 1, 188, 0, ADDR_ERR_TOO_LONG },
	/* DNS label: 63 octets */
	{ 1, 0, 63, 63, ADDR_OK },
	{ 1, 0, 64, 64, ADDR_ERR_TOO_LONG },
	{ 1, 0, 130, 64, ADDR_ERR_TOO_LONG },
};

static void
make_domain(char *p, size_t n, size_t label)
{
	size_t i, run = 0;

	if (label == 0)
		label = 63;
	for (i = 0; i < n; i++) {
		/* a dot after each full label, never first or last */
		if (run == label && i + 1 < n) {
			p[i] = '.';
			run = 0;
		} else {
			p[i] = 'd';
			run++;
		}
	}
}

static void
test_lengths(void **state)
{
	char in[2048];
	size_t i, n, k;
	int bad = 0;

	for (i = 0; i < sizeof(len_cases) / sizeof(len_cases[0]); i++) {
		const struct len_case *c = &len_cases[i];
		struct addr_case w = { 0 };
		char local[256], plain[256], domain[1100];

		n = 0;
		in[n++] = '<';
		if (c->quoted) {
			/* "\" qqq...": the space keeps it quoted, no escapes */
			in[n++] = '"';
			for (k = 0; k < c->local; k++)
				in[n++] = k == 0 ? ' ' : 'q';
			in[n++] = '"';
		} else {
			memset(in + n, 'l', c->local);
			n += c->local;
		}
		in[n++] = '@';
		make_domain(in + n, c->domain, c->label);
		n += c->domain;
		in[n++] = '>';
		if (c->err == ADDR_OK) {
			if (c->quoted) {
				/* written back with exactly the escapes needed */
				memcpy(local, in + 1, n - c->domain - 3);
				local[n - c->domain - 3] = '\0';
				for (k = 0; k < c->local; k++)
					plain[k] = k == 0 ? ' ' : 'q';
			} else {
				memset(local, 'l', c->local);
				local[c->local] = '\0';
				memset(plain, 'l', c->local);
			}
			plain[c->local] = '\0';
			make_domain(domain, c->domain, c->label);
			domain[c->domain] = '\0';
			w.local = local;
			w.plain = plain;
			w.domain = domain;
			w.quoted = c->quoted;
		}
		bad += run_one(in, n, 0, c->err, c->err == ADDR_OK ? &w : NULL);
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

/* the longest possible re-quoted local part fits struct mail_addr.local */
static void
test_requote_max(void **state)
{
	char in[256], fmt[ADDR_STRLEN];
	struct mail_addr a;
	size_t n = 0, k, consumed;

	in[n++] = '<';
	in[n++] = '"';
	for (k = 0; k < ADDR_LOCAL_MAX; k++) {
		in[n++] = '\\';
		in[n++] = (k % 2) ? '\\' : '"';
	}
	in[n++] = '"';
	memcpy(in + n, "@x>", 3);
	n += 3;
	assert_int_equal(addr_parse_path(in, n, 0, &a, &consumed), ADDR_OK);
	assert_int_equal(strlen(a.local), 2 * ADDR_LOCAL_MAX + 2);
	assert_int_equal(strlen(a.local_plain), ADDR_LOCAL_MAX);
	assert_memory_equal(a.local, in + 1, 2 * ADDR_LOCAL_MAX + 2);
	addr_format(&a, fmt, sizeof(fmt));
	assert_int_equal(strlen(fmt), n - 2);
}

/* every proper prefix of a valid path is an error, never a crash */
static const struct {
	const char	*in;
	int		 flags;
} valid_paths[] = {
	{ "<user@example.com>", 0 },
	{ "<\"john \\\"q\\\" doe\"@example.com>", 0 },
	{ "<u@[192.0.2.1]>", 0 },
	{ "<u@[IPv6:2001:db8::1]>", 0 },
	{ "<@a.example,@b.example:user@c.example>", 0 },
	{ "<>", NUL_F },
	{ "<postmaster>", 0 },
	{ "<j\xc3\xb6rg@m\xc3\xbcnchen.example>", U8 },
	{ "<\xf0\x9f\x98\x80@\xe4\xbe\x8b.x>", U8 },
	{ "<\"\xc3\xa9\"@x>", U8 },
};

static void
test_truncated(void **state)
{
	struct mail_addr a;
	size_t i, n, len, consumed;
	int flags, bad = 0;
	enum addr_err r;
	char *buf;

	for (i = 0; i < sizeof(valid_paths) / sizeof(valid_paths[0]); i++) {
		const char *in = valid_paths[i].in;

		len = strlen(in);
		bad += run_one(in, len, valid_paths[i].flags, ADDR_OK, NULL);
		for (n = 0; n < len; n++) {
			for (flags = 0; flags < 4; flags++) {
				buf = exact_copy(in, n);
				consumed = 99;
				r = addr_parse_path(buf, n, flags, &a, &consumed);
				free(buf);
				if (r == ADDR_OK || consumed != 0) {
					print_error("%s cut at %zu flags %d: got %s "
					    "consumed %zu, want an error, consumed 0\n",
					    in, n, flags, err_name(r), consumed);
					bad++;
				}
			}
		}
	}
	if (bad)
		fail_msg("%d mismatches", bad);
}

static void
test_null_consumed(void **state)
{
	struct mail_addr a;

	/* consumed may be NULL */
	assert_int_equal(addr_parse_path("<a@b>", 5, 0, &a, NULL), ADDR_OK);
	assert_string_equal(a.domain, "b");
	assert_int_equal(addr_parse_path("<a@b", 4, 0, &a, NULL), ADDR_ERR_SYNTAX);
}

static void
test_format(void **state)
{
	struct mail_addr a;
	char buf[ADDR_STRLEN], small[5];

	assert_int_equal(addr_parse_path("<>", 2, NUL_F, &a, NULL), ADDR_OK);
	assert_string_equal(addr_format(&a, buf, sizeof(buf)), "");
	assert_int_equal(addr_parse_path("<PostMaster>", 12, 0, &a, NULL), ADDR_OK);
	assert_string_equal(addr_format(&a, buf, sizeof(buf)), "postmaster");
	assert_int_equal(addr_parse_path("<\"a b\"@X.Org>", 13, 0, &a, NULL), ADDR_OK);
	assert_string_equal(addr_format(&a, buf, sizeof(buf)), "\"a b\"@x.org");
	assert_int_equal(addr_parse_path("<\"ab\"@[IPv6:::1]>", 17, 0, &a, NULL), ADDR_OK);
	assert_string_equal(addr_format(&a, buf, sizeof(buf)), "ab@[IPv6:::1]");
	/* truncation keeps a NUL */
	assert_string_equal(addr_format(&a, small, sizeof(small)), "ab@[");
	assert_ptr_equal(addr_format(&a, small, 0), small);
}

/* addr_is_domain: what may stand as "Received: from NAME" */
static void
test_is_domain(void **state)
{
	static const struct {
		const char	*s;
		int		 want;
	} domains[] = {
		{ "client.example", 1 },
		{ "mx-1.Example.ORG", 1 },
		{ "localhost", 1 },
		{ "[192.0.2.1]", 1 },
		{ "[IPv6:2001:db8::1]", 1 },
		{ "", 0 },
		{ "evil);(by", 0 },
		{ "a\"b", 0 },
		{ "trailing.", 0 },
		{ "-lead.example", 0 },
		{ "a..b", 0 },
		{ "[300.1.1.1]", 0 },
		{ "[tag:x]", 0 },
		{ "client.example extra", 0 },
		{ "\xc3\xa9.example", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		int got = addr_is_domain(domains[i].s, strlen(domains[i].s));

		if (got != domains[i].want)
			fail_msg("%s: got %d, want %d", domains[i].s, got,
			    domains[i].want);
	}
}

/* addr_at, addr_domain_of: where a stored address splits */
static void
test_domain_of(void **state)
{
	static const struct {
		const char	*addr;
		const char	*domain;
		size_t		 local_len;
	} rows[] = {
		{ "alice@example.org", "example.org", 5 },
		{ "Alice@Example.ORG", "Example.ORG", 5 },
		{ "\"a@b\"@example.org", "example.org", 5 },
		{ "a%b@corp.example", "corp.example", 3 },
		{ "ab@[IPv6:::1]", "[IPv6:::1]", 2 },
		{ "postmaster", "", 10 },
		{ "", "", 0 },
		{ "@example.org", "example.org", 0 },
		{ "alice@", "", 5 },
	};
	size_t llen;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *d = addr_domain_of(rows[i].addr, &llen);
		const char *at = addr_at(rows[i].addr);

		if (strcmp(d, rows[i].domain) != 0)
			fail_msg("%s: got domain \"%s\", want \"%s\"",
			    rows[i].addr, d, rows[i].domain);
		if (llen != rows[i].local_len)
			fail_msg("%s: got local length %zu, want %zu",
			    rows[i].addr, llen, rows[i].local_len);
		if (at == NULL ? rows[i].domain[0] != '\0' &&
		    strchr(rows[i].addr, '@') != NULL : at + 1 != d)
			fail_msg("%s: addr_at and addr_domain_of disagree",
			    rows[i].addr);
	}
	/* what addr_format wrote splits back into what was parsed */
	{
		struct mail_addr a;
		char buf[ADDR_STRLEN];

		assert_int_equal(addr_parse_path("<\"x@y\"@Mail.Example>", 20, 0,
		    &a, NULL), ADDR_OK);
		addr_format(&a, buf, sizeof(buf));
		assert_string_equal(addr_domain_of(buf, &llen), a.domain);
		assert_int_equal(llen, strlen(a.local));
	}
	assert_null(addr_at(NULL));
	assert_string_equal(addr_domain_of(NULL, &llen), "");
	assert_int_equal(llen, 0);
	assert_string_equal(addr_domain_of("a@b", NULL), "b");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_requote_max),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_null_consumed),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_is_domain),
		cmocka_unit_test(test_domain_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
