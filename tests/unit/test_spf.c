/*
 * test_spf.c - SPF (RFC 7208) evaluation against a table of DNS
 * answers: mechanisms, qualifiers, include and redirect, macros, the
 * lookup limits, syntax errors; and the DMARC pieces (record tags,
 * organizational domain, alignment).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "authres/dmarc.h"
#include "spf/spf.h"

struct rr {
	const char	*name;
	int		 type;
	const char	*value;		/* TXT text, address, MX host */
};

static const struct rr zone[] = {
	{ "ip.example", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all" },
	{ "soft.example", SPF_TYPE_TXT, "v=spf1 ~all" },
	{ "neutral.example", SPF_TYPE_TXT, "v=spf1 ?all" },
	{ "empty.example", SPF_TYPE_TXT, "v=spf1" },
	{ "a.example", SPF_TYPE_TXT, "v=spf1 a/24 -all" },
	{ "a.example", SPF_TYPE_A, "198.51.100.7" },
	{ "mx.example", SPF_TYPE_TXT, "v=spf1 mx:mxd.example -all" },
	{ "mxd.example", SPF_TYPE_MX, "mail.mxd.example" },
	{ "mail.mxd.example", SPF_TYPE_A, "203.0.113.5" },
	{ "inc.example", SPF_TYPE_TXT, "v=spf1 include:soft.example include:ip.example -all" },
	{ "redir.example", SPF_TYPE_TXT, "v=spf1 redirect=ip.example" },
	{ "redirnone.example", SPF_TYPE_TXT, "v=spf1 redirect=nothing.example" },
	{ "exists.example", SPF_TYPE_TXT, "v=spf1 exists:%{ir}.%{l1r-}.ex.example -all" },
	{ "5.113.0.203.bob.ex.example", SPF_TYPE_A, "127.0.0.2" },
	{ "two.example", SPF_TYPE_TXT, "v=spf1 -all" },
	{ "two.example", SPF_TYPE_TXT, "v=spf1 +all" },
	{ "other.example", SPF_TYPE_TXT, "google-site-verification=x" },
	{ "other.example", SPF_TYPE_TXT, "v=spf10 -all" },
	{ "bad.example", SPF_TYPE_TXT, "v=spf1 ip4:300.1.1.1 -all" },
	{ "unknown.example", SPF_TYPE_TXT, "v=spf1 foo:bar -all" },
	{ "mod.example", SPF_TYPE_TXT, "v=spf1 exp=explain.example unknown=1 ?all" },
	{ "loop.example", SPF_TYPE_TXT, "v=spf1 include:loop.example -all" },
	{ "void.example", SPF_TYPE_TXT, "v=spf1 a:n1.example a:n2.example a:n3.example -all" },
	{ "temp.example", SPF_TYPE_TXT, "v=spf1 a:servfail.example -all" },
	{ "incnone.example", SPF_TYPE_TXT, "v=spf1 include:nothing.example -all" },
};

struct answers {
	uint8_t		 buf[8][300];
	const uint8_t	*rd[8];
	size_t		 rl[8];
	int		 lookups;
};

static int
lookup(void *arg, const char *name, int type, const uint8_t *const **rd,
    const size_t **rl)
{
	struct answers *a = arg;
	int n = 0;

	a->lookups++;
	if (strcmp(name, "servfail.example") == 0)
		return -1;
	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		const struct rr *r = &zone[i];
		uint8_t *b = a->buf[n];
		size_t len = 0;

		if (strcasecmp(r->name, name) != 0 || r->type != type)
			continue;
		if (type == SPF_TYPE_TXT) {
			b[0] = (uint8_t)strlen(r->value);
			memcpy(b + 1, r->value, strlen(r->value));
			len = strlen(r->value) + 1;
		} else if (type == SPF_TYPE_A) {
			inet_pton(AF_INET, r->value, b);
			len = 4;
		} else if (type == SPF_TYPE_AAAA) {
			inet_pton(AF_INET6, r->value, b);
			len = 16;
		} else if (type == SPF_TYPE_MX) {
			const char *p = r->value;

			b[0] = 0;
			b[1] = 10;
			len = 2;
			while (*p != '\0') {
				size_t l = strcspn(p, ".");

				b[len++] = (uint8_t)l;
				memcpy(b + len, p, l);
				len += l;
				p += l + (p[l] == '.');
			}
			b[len++] = 0;
		}
		a->rd[n] = b;
		a->rl[n] = len;
		n++;
	}
	*rd = a->rd;
	*rl = a->rl;
	return n;
}

static enum spf_result
check(const char *ip, const char *domain, const char **why)
{
	struct answers a = { 0 };
	struct spf_query q = { .sender = "bob@x.example", .domain = domain,
	    .helo = "client.example", .lookup = lookup, .arg = &a };

	memset(q.ip, 0, 16);
	if (strchr(ip, ':') != NULL)
		inet_pton(AF_INET6, ip, q.ip);
	else {
		q.ip[10] = q.ip[11] = 0xff;
		inet_pton(AF_INET, ip, q.ip + 12);
	}
	return spf_check(&q, why);
}

static void
test_results(void **state)
{
	static const struct {
		const char	*ip, *domain;
		enum spf_result	 want;
	} t[] = {
		{ "192.0.2.9", "ip.example", SPF_PASS },
		{ "192.0.3.9", "ip.example", SPF_FAIL },
		{ "2001:db8::1", "ip.example", SPF_PASS },
		{ "2001:db9::1", "ip.example", SPF_FAIL },
		{ "192.0.2.9", "soft.example", SPF_SOFTFAIL },
		{ "192.0.2.9", "neutral.example", SPF_NEUTRAL },
		{ "192.0.2.9", "empty.example", SPF_NEUTRAL },
		{ "192.0.2.9", "nothing.example", SPF_NONE },
		{ "192.0.2.9", "other.example", SPF_NONE },
		{ "198.51.100.200", "a.example", SPF_PASS },
		{ "198.51.101.7", "a.example", SPF_FAIL },
		{ "203.0.113.5", "mx.example", SPF_PASS },
		{ "203.0.113.6", "mx.example", SPF_FAIL },
		{ "192.0.2.9", "inc.example", SPF_PASS },
		{ "10.0.0.1", "inc.example", SPF_FAIL },
		{ "192.0.2.9", "redir.example", SPF_PASS },
		{ "10.0.0.1", "redir.example", SPF_FAIL },
		{ "192.0.2.9", "redirnone.example", SPF_PERMERROR },
		{ "203.0.113.5", "exists.example", SPF_PASS },
		{ "203.0.113.6", "exists.example", SPF_FAIL },
		{ "192.0.2.9", "two.example", SPF_PERMERROR },
		{ "192.0.2.9", "bad.example", SPF_PERMERROR },
		{ "192.0.2.9", "unknown.example", SPF_PERMERROR },
		{ "192.0.2.9", "mod.example", SPF_NEUTRAL },
		{ "192.0.2.9", "loop.example", SPF_PERMERROR },
		{ "192.0.2.9", "void.example", SPF_PERMERROR },
		{ "192.0.2.9", "temp.example", SPF_TEMPERROR },
		{ "192.0.2.9", "incnone.example", SPF_PERMERROR },
		{ "192.0.2.9", "not a domain", SPF_NONE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = NULL;
		enum spf_result r = check(t[i].ip, t[i].domain, &why);

		if (r != t[i].want)
			fail_msg("%s from %s: %s, want %s (%s)", t[i].domain,
			    t[i].ip, spf_result_name(r),
			    spf_result_name(t[i].want), why ? why : "-");
	}
}

static void
test_limits_reason(void **state)
{
	const char *why = NULL;

	assert_int_equal(check("192.0.2.9", "loop.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "too many DNS lookups");
	assert_int_equal(check("192.0.2.9", "void.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "too many void lookups");
}

static void
test_macros(void **state)
{
	struct spf_query q = { .sender = "Bob.Smith@x.example",
	    .helo = "h.example" };
	char out[300];

	q.ip[10] = q.ip[11] = 0xff;
	q.ip[12] = 192; q.ip[13] = 0; q.ip[14] = 2; q.ip[15] = 3;
#define X(spec, want) do {						\
	assert_int_equal(spf_expand(&q, "d.example", spec, strlen(spec),	\
	    out, sizeof(out)), 0);					\
	assert_string_equal(out, want);					\
} while (0)
	X("%{s}", "Bob.Smith@x.example");
	X("%{l}.%{o}", "Bob.Smith.x.example");
	X("%{d2}", "d.example");
	X("%{d1r}", "d");
	X("%{ir}.%{v}._spf.%{d}", "3.2.0.192.in-addr._spf.d.example");
	X("%{l-}.x", "Bob.Smith.x");
	X("%{lr.}", "Smith.Bob");
	X("%{h}%%%_%-", "h.example% %20");
#undef X
	memset(q.ip, 0, 16);
	q.ip[0] = 0x20; q.ip[1] = 0x01; q.ip[15] = 1;
	assert_int_equal(spf_expand(&q, "d", "%{i}", 4, out, sizeof(out)), 0);
	assert_string_equal(out,
	    "2.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1");
	assert_int_equal(spf_expand(&q, "d", "%{x}", 4, out, sizeof(out)), -1);
	assert_int_equal(spf_expand(&q, "d", "%{d", 3, out, sizeof(out)), -1);
	assert_int_equal(spf_expand(&q, "d", "a%", 2, out, sizeof(out)), -1);
	assert_int_equal(spf_expand(&q, "d", "%{d}", 4, out, 1), -1);
}

static void
test_syntax(void **state)
{
	static const struct {
		const char *rec;
		int ok;
	} t[] = {
		{ "v=spf1 -all", 1 },
		{ "v=spf1", 1 },
		{ "v=spf1 a mx/24//64 a:x.example/16 ip4:1.2.3.4/32 -all", 1 },
		{ "v=spf1 ip6:::1/129", 0 },
		{ "v=spf1 ip4:1.2.3.4/33", 0 },
		{ "v=spf1 include", 0 },
		{ "v=spf1 exists:", 0 },
		{ "v=spf1 all:x", 0 },
		{ "v=spf1 a:%{z}", 0 },
		{ "v=spf1 redirect=a.example redirect=b.example", 0 },
		{ "v=spf1 unknown-mod=x ~all", 1 },
		{ "v=spf1x", 0 },
		{ "spf1", 0 },
	};
	const char *why;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if ((spf_record_check(t[i].rec, &why) == 0) != t[i].ok)
			fail_msg("\"%s\": want %s", t[i].rec,
			    t[i].ok ? "ok" : "error");
}

static void
test_dmarc_record(void **state)
{
	struct dmarc_record r;
	const char *why;
#define P(s) dmarc_record_parse(s, strlen(s), &r, &why)
	assert_int_equal(P("v=DMARC1; p=reject"), 0);
	assert_int_equal(r.p, DMARC_P_REJECT);
	assert_int_equal(r.sp, DMARC_P_REJECT);
	assert_int_equal(r.pct, 100);
	assert_int_equal(P("v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=r;"
	    "pct=20;rua=mailto:x@y.example;"), 0);
	assert_int_equal(r.p, DMARC_P_QUARANTINE);
	assert_int_equal(r.sp, DMARC_P_NONE);
	assert_true(r.strict_dkim);
	assert_false(r.strict_spf);
	assert_int_equal(r.pct, 20);
	assert_int_equal(P("v=DMARC1 ; p = none"), 0);
	assert_int_equal(r.p, DMARC_P_NONE);
	assert_int_equal(P("p=reject; v=DMARC1"), -1);
	assert_int_equal(P("v=DMARC2; p=reject"), -1);
	assert_int_equal(P("v=DMARC1"), -1);
	assert_int_equal(P("v=DMARC1; p=maybe"), -1);
	assert_int_equal(P("v=DMARC1; p=reject; adkim=x"), -1);
	assert_int_equal(P("v=DMARC1; p=reject; pct=abc"), -1);
	assert_int_equal(P(""), -1);
#undef P
}

static void
test_org_domain(void **state)
{
	static const char psl[] = "// comment\ncom\nuk\nco.uk\n*.ck\n"
	    "!www.ck\n\n";

	assert_int_equal(dmarc_psl_set(psl, sizeof(psl) - 1), 0);
	assert_string_equal(dmarc_org_domain("a.b.example.com"), "example.com");
	assert_string_equal(dmarc_org_domain("example.com"), "example.com");
	assert_string_equal(dmarc_org_domain("com"), "com");
	assert_string_equal(dmarc_org_domain("mail.shop.co.uk"), "shop.co.uk");
	assert_string_equal(dmarc_org_domain("a.b.foo.ck"), "b.foo.ck");
	assert_string_equal(dmarc_org_domain("x.www.ck"), "www.ck");
	/* no rule: the last label is the suffix */
	assert_string_equal(dmarc_org_domain("a.b.example"), "b.example");
	assert_true(dmarc_aligned("mail.example.com", "EXAMPLE.com", 0));
	assert_false(dmarc_aligned("mail.example.com", "example.com", 1));
	assert_true(dmarc_aligned("example.com", "example.com", 1));
	assert_false(dmarc_aligned("a.co.uk", "b.co.uk", 0));
	assert_false(dmarc_aligned("", "b.co.uk", 0));
	dmarc_psl_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_limits_reason),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_dmarc_record),
		cmocka_unit_test(test_org_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
