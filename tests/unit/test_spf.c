/*
 * test_spf.c - SPF (RFC 7208) by libspf2 through our DNS layer
 * (spf_dns.c) against a table of DNS answers in wire form: mechanisms,
 * qualifiers, include and redirect, macros, the lookup limits kept
 * across includes, syntax errors, a client on loopback judged like
 * another; and DMARC through libopendmarc (records, organizational
 * domain, alignment, p= and sp=).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
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
	{ "mxd.example", SPF_TYPE_MX, "other.mxd.example" },
	{ "mxd.example", SPF_TYPE_MX, "mail.mxd.example" },
	{ "mail.mxd.example", SPF_TYPE_A, "203.0.113.5" },
	{ "inc.example", SPF_TYPE_TXT, "v=spf1 include:soft.example include:ip.example -all" },
	{ "redir.example", SPF_TYPE_TXT, "v=spf1 redirect=ip.example" },
	{ "redirnone.example", SPF_TYPE_TXT, "v=spf1 redirect=nothing.example" },
	/* libspf2 1.2.10 cuts %{l1r-} of "bob" to "ob": not used here */
	{ "exists.example", SPF_TYPE_TXT, "v=spf1 exists:%{ir}.%{l}.ex.example -all" },
	{ "5.113.0.203.bob.ex.example", SPF_TYPE_A, "127.0.0.2" },
	{ "two.example", SPF_TYPE_TXT, "v=spf1 -all" },
	{ "two.example", SPF_TYPE_TXT, "v=spf1 +all" },
	{ "other.example", SPF_TYPE_TXT, "google-site-verification=x" },
	{ "other.example", SPF_TYPE_TXT, "v=spf10 -all" },
	{ "bad.example", SPF_TYPE_TXT, "v=spf1 ip4:300.1.1.1 -all" },
	{ "unknown.example", SPF_TYPE_TXT, "v=spf1 foo:bar -all" },
	{ "mod.example", SPF_TYPE_TXT, "v=spf1 exp=explain.example unknown=1 ?all" },
	{ "loop.example", SPF_TYPE_TXT, "v=spf1 include:loop.example -all" },
	{ "ping.example", SPF_TYPE_TXT, "v=spf1 include:pong.example -all" },
	{ "pong.example", SPF_TYPE_TXT, "v=spf1 include:ping.example -all" },
	{ "many.example", SPF_TYPE_TXT, "v=spf1 include:m1.example "
	    "include:m2.example include:m3.example -all" },
	{ "m1.example", SPF_TYPE_TXT, "v=spf1 a:h.example a:h.example "
	    "a:h.example a:h.example ?all" },
	{ "m2.example", SPF_TYPE_TXT, "v=spf1 a:h.example a:h.example "
	    "a:h.example a:h.example ?all" },
	{ "m3.example", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.0/24 -all" },
	{ "h.example", SPF_TYPE_A, "198.51.100.1" },
	{ "lo.example", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.1 -all" },
	{ "badmx.example", SPF_TYPE_TXT, "v=spf1 mx ?all" },
	{ "crlf.example", SPF_TYPE_TXT, "v=spf1 a:x\001y.example -all" },
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
	if (strcmp(name, "split.example") == 0 && type == SPF_TYPE_TXT) {
		/* one record in two character-strings */
		static const uint8_t txt[] = "\007v=spf1 \025ip4:192.0.2.0/24 -all";

		a->rd[0] = txt;
		a->rl[0] = sizeof(txt) - 1;
		*rd = a->rd;
		*rl = a->rl;
		return 1;
	}
	if (strcmp(name, "badmx.example") == 0 && type == SPF_TYPE_MX) {
		/* a label longer than the rdata, then one without its end */
		static const uint8_t mx1[] = { 0, 10, 40, 'a', 'b' };
		static const uint8_t mx2[] = { 0, 10, 2, 'h', 'x' };

		a->rd[0] = mx1;
		a->rl[0] = sizeof(mx1);
		a->rd[1] = mx2;
		a->rl[1] = sizeof(mx2);
		*rd = a->rd;
		*rl = a->rl;
		return 2;
	}
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

	/* an include of itself: libspf2 sees the loop */
	assert_int_equal(check("192.0.2.9", "loop.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "include loop");
	/* two records including each other: the limit over both */
	assert_int_equal(check("192.0.2.9", "ping.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "too many DNS lookups");
	/* 3 includes and 8 a: 11 lookups, though no record has 10 */
	assert_int_equal(check("192.0.2.9", "many.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "too many DNS lookups");
	assert_int_equal(check("192.0.2.9", "void.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "too many void lookups");
	assert_int_equal(check("192.0.2.9", "temp.example", &why),
	    SPF_TEMPERROR);
	assert_string_equal(why, "DNS lookup failed");
	assert_int_equal(check("192.0.2.9", "two.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "more than one SPF record");
	assert_int_equal(check("192.0.2.9", "bad.example", &why),
	    SPF_PERMERROR);
	assert_string_equal(why, "record syntax");
}

/* libspf2 passes loopback clients by itself: not through spf_check */
static void
test_loopback_judged(void **state)
{
	assert_int_equal(check("127.0.0.1", "lo.example", NULL), SPF_FAIL);
	assert_int_equal(check("::1", "lo.example", NULL), SPF_FAIL);
	assert_int_equal(check("192.0.2.1", "lo.example", NULL), SPF_PASS);
}

/* answers in wire form: strings joined, broken names dropped */
static void
test_layer_answers(void **state)
{
	const char *why;

	assert_int_equal(check("192.0.2.9", "split.example", &why), SPF_PASS);
	assert_int_equal(check("192.0.3.9", "split.example", &why), SPF_FAIL);
	/* no usable MX name: no match, the record's ?all */
	assert_int_equal(check("192.0.2.9", "badmx.example", &why),
	    SPF_NEUTRAL);
}

/* the lookups libspf2 makes through the layer: types and names */
static void
test_layer_lookups(void **state)
{
	struct answers a = { 0 };
	struct spf_query q = { .sender = "bob@ip.example",
	    .domain = "ip.example", .helo = "client.example",
	    .lookup = lookup, .arg = &a };

	q.ip[10] = q.ip[11] = 0xff;
	q.ip[12] = 192; q.ip[14] = 2; q.ip[15] = 9;
	assert_int_equal(spf_check(&q, NULL), SPF_PASS);
	/* one TXT: type SPF (99) is answered by the layer itself */
	assert_int_equal(a.lookups, 1);
	memset(&a, 0, sizeof(a));
	q.domain = "mx.example";
	q.sender = "bob@mx.example";
	q.ip[12] = 203; q.ip[13] = 0; q.ip[14] = 113; q.ip[15] = 5;
	assert_int_equal(spf_check(&q, NULL), SPF_PASS);
	/* TXT, MX, then A of each name until one matches */
	assert_int_equal(a.lookups, 4);
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
		{ "v=spf1 all:x", 0 },
		{ "v=spf1 a:%{z}", 0 },
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
	const char *why;
#define P(s) dmarc_record_check(s, &why)
	assert_int_equal(P("v=DMARC1; p=reject"), 0);
	assert_int_equal(P("v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=r;"
	    "pct=20;rua=mailto:x@y.example;"), 0);
	assert_int_equal(P("v=DMARC1 ; p = none"), 0);
	assert_int_equal(P("p=reject; v=DMARC1"), -1);
	assert_int_equal(P("v=DMARC2; p=reject"), -1);
	assert_int_equal(P("v=DMARC1"), -1);
	assert_int_equal(P("v=DMARC1; p=maybe"), -1);
	assert_int_equal(P("v=DMARC1; p=reject; adkim=x"), -1);
	assert_int_equal(P("v=DMARC1; p=reject; pct=200"), -1);
	assert_int_equal(P(""), -1);
#undef P
}

/* the verdict of a record with SPF and DKIM results */
static int
verdict(const char *from, const char *rec, const char *at,
    const char *spf, int spf_pass, const char *dkim, int dkim_pass,
    enum dmarc_policy *p, int *pct)
{
	struct dmarc_eval *e = dmarc_eval_new("192.0.2.1", from, rec, at);
	int r;

	assert_non_null(e);
	if (spf != NULL)
		dmarc_eval_spf(e, spf, spf_pass, 0);
	if (dkim != NULL)
		dmarc_eval_dkim(e, dkim, "s1", dkim_pass);
	r = dmarc_eval_result(e, p, pct);
	dmarc_eval_free(e);
	return r;
}

static void
test_dmarc_verdict(void **state)
{
	static const char psl[] = "/tmp/moat-test-psl.dat";
	FILE *f = fopen(psl, "w");
	enum dmarc_policy p;
	char org[256];
	int pct;

	assert_non_null(f);
	fputs("// comment\ncom\nuk\nco.uk\n*.ck\n!www.ck\n\n", f);
	fclose(f);
	assert_int_equal(dmarc_psl_load(psl), 0);
	unlink(psl);
#define ORG(d, want) do {						\
	dmarc_org_domain(d, org, sizeof(org));				\
	assert_string_equal(org, want);					\
} while (0)
	ORG("a.b.example.com", "example.com");
	ORG("example.com", "example.com");
	ORG("mail.shop.co.uk", "shop.co.uk");
	/* libopendmarc reads "*.ck" as the suffix "ck" */
	ORG("a.b.foo.ck", "foo.ck");
	/* no rule: the last label is the suffix */
	ORG("a.b.example", "b.example");
	ORG("example", "example");
#undef ORG
	/* aligned SPF pass, relaxed: a subdomain of the From's */
	assert_int_equal(verdict("example.com", "v=DMARC1; p=reject",
	    "example.com", "mail.example.com", 1, NULL, 0, &p, &pct), 1);
	assert_int_equal(p, DMARC_P_REJECT);
	assert_int_equal(pct, 100);
	/* strict SPF: the subdomain does not align */
	assert_int_equal(verdict("example.com", "v=DMARC1; p=reject; aspf=s",
	    "example.com", "mail.example.com", 1, NULL, 0, &p, &pct), 0);
	/* an SPF pass of another domain, a DKIM fail of the From's */
	assert_int_equal(verdict("example.com", "v=DMARC1; p=quarantine; "
	    "pct=30", "example.com", "other.com", 1, "example.com", 0, &p,
	    &pct), 0);
	assert_int_equal(p, DMARC_P_QUARANTINE);
	assert_int_equal(pct, 30);
	/* DKIM alone, strict and equal */
	assert_int_equal(verdict("example.com", "v=DMARC1; p=reject; adkim=s",
	    "example.com", "other.com", 0, "example.com", 1, &p, &pct), 1);
	/* the organizational domain's record: its sp= */
	assert_int_equal(verdict("a.example.com", "v=DMARC1; p=reject; "
	    "sp=none", "example.com", NULL, 0, NULL, 0, &p, &pct), 0);
	assert_int_equal(p, DMARC_P_NONE);
	/* no sp=: p= for the subdomains too */
	assert_int_equal(verdict("a.example.com", "v=DMARC1; p=quarantine",
	    "example.com", NULL, 0, NULL, 0, &p, &pct), 0);
	assert_int_equal(p, DMARC_P_QUARANTINE);
	assert_null(dmarc_eval_new("192.0.2.1", "example.com", "v=DMARC1",
	    "example.com"));
	dmarc_psl_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_limits_reason),
		cmocka_unit_test(test_loopback_judged),
		cmocka_unit_test(test_layer_answers),
		cmocka_unit_test(test_layer_lookups),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_dmarc_record),
		cmocka_unit_test(test_dmarc_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
