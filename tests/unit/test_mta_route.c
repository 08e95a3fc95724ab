/*
 * test_mta_route.c - routing decisions, destination syntax, MX rdata,
 * MX ordering, null MX and MX lists that point back to us.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mta/mta_route.h"

struct dest_case {
	const char	*in;
	int		 ok;
	const char	*host;
	int		 port, bracket, literal, lmtp;
	enum mta_tls	 tls;
};

#define L120 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#define L60 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H243 L60 "." L60 "." L60 "." L60	/* a long host name */

static const struct dest_case dests[] = {
	{ "[10.0.0.5]:25", 1, "10.0.0.5", 25, 1, 1, 0, MTA_TLS_DEFAULT },
	{ "[10.0.0.5]", 1, "10.0.0.5", 0, 1, 1, 0, MTA_TLS_DEFAULT },
	{ "[2001:db8::1]:2525", 1, "2001:db8::1", 2525, 1, 1, 0, 0 },
	{ "relay.example.net:587", 1, "relay.example.net", 587, 0, 0, 0, 0 },
	{ "Relay.Example.NET.", 1, "relay.example.net", 0, 0, 0, 0, 0 },
	{ "[mx.example.net]:25/verify", 1, "mx.example.net", 25, 1, 0, 0,
	    MTA_TLS_VERIFY },
	{ "lmtp:[127.0.0.1]:24", 1, "127.0.0.1", 24, 1, 1, 1, 0 },
	{ "lmtp:[127.0.0.1]:24/none", 1, "127.0.0.1", 24, 1, 1, 1,
	    MTA_TLS_NONE },
	{ "lmtp:[127.0.0.1]", 0, NULL, 0, 0, 0, 0, 0 },	/* LMTP needs a port */
	{ "lmtp:unix:/run/dovecot/lmtp", 1, "/run/dovecot/lmtp", 0, 0, 0, 1,
	    MTA_TLS_NONE },
	{ "LMTP:unix:/tmp/a:b/c.sock", 1, "/tmp/a:b/c.sock", 0, 0, 0, 1,
	    MTA_TLS_NONE },
	{ "lmtp:unix:relative/sock", 0, NULL, 0, 0, 0, 0, 0 },
	{ "lmtp:unix:", 0, NULL, 0, 0, 0, 0, 0 },
	{ "lmtp:unix:/a b", 0, NULL, 0, 0, 0, 0, 0 },
	{ "lmtp:unix:/" L120, 0, NULL, 0, 0, 0, 0, 0 },	/* sun_path */
	{ "10.0.0.5:25", 0, NULL, 0, 0, 0, 0, 0 },	/* address in brackets */
	{ "2001:db8::1", 0, NULL, 0, 0, 0, 0, 0 },
	{ "[10.0.0.5]:0", 0, NULL, 0, 0, 0, 0, 0 },
	{ "[10.0.0.5]:65536", 0, NULL, 0, 0, 0, 0, 0 },
	{ "[10.0.0.5]:25x", 0, NULL, 0, 0, 0, 0, 0 },
	{ "[10.0.0.5:25", 0, NULL, 0, 0, 0, 0, 0 },
	{ "[10.0.0.5]:25/maybe", 0, NULL, 0, 0, 0, 0, 0 },
	{ "bad host!:25", 0, NULL, 0, 0, 0, 0, 0 },
	{ "", 0, NULL, 0, 0, 0, 0, 0 },
	{ "a..b:25", 0, NULL, 0, 0, 0, 0, 0 },
	{ H243 ":25", 1, H243, 25, 0, 0, 0, 0 },
	{ "[" H243 "." L60 "]:25", 0, NULL, 0, 0, 0, 0, 0 },	/* 304 bytes */
};

static void
test_dest_parse(void **state)
{
	for (size_t i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		const struct dest_case *t = &dests[i];
		struct mta_dest d;
		const char *why = NULL;
		int rc = mta_dest_parse(t->in, &d, &why);

		if ((rc == 0) != t->ok)
			fail_msg("%s: got %s (%s), want %s", t->in,
			    rc == 0 ? "ok" : "error", why ? why : "",
			    t->ok ? "ok" : "error");
		if (!t->ok)
			continue;
		if (strcmp(d.host, t->host) != 0 || d.port != t->port ||
		    d.bracket != t->bracket || d.literal != t->literal ||
		    d.lmtp != t->lmtp || d.tls != t->tls)
			fail_msg("%s: got host %s port %d bracket %d literal %d "
			    "lmtp %d tls %d, want %s %d %d %d %d %d", t->in,
			    d.host, d.port, d.bracket, d.literal, d.lmtp, d.tls,
			    t->host, t->port, t->bracket, t->literal, t->lmtp,
			    t->tls);
	}
}

static void
test_route_decide(void **state)
{
	static const char *specs[] = {
		"corp.example=[10.0.0.5]:25",
		".lab.example=lmtp:[10.0.0.9]:24",
		"x.lab.example=[10.0.0.10]:2525",
		"Upper.Example=relay.example:26",
	};
	struct mta_route routes[4];
	struct mta_hosts smart, out;
	const char *why;
	static const struct {
		const char	*domain;
		int		 smarthost;
		enum mta_route_kind kind;
		const char	*host;
		int		 port;
	} cases[] = {
		{ "corp.example", 0, MTA_ROUTE_STATIC, "10.0.0.5", 25 },
		{ "CORP.EXAMPLE", 0, MTA_ROUTE_STATIC, "10.0.0.5", 25 },
		{ "sub.corp.example", 0, MTA_ROUTE_MX, "sub.corp.example", 0 },
		{ "a.lab.example", 0, MTA_ROUTE_STATIC, "10.0.0.9", 24 },
		{ "b.a.lab.example", 0, MTA_ROUTE_STATIC, "10.0.0.9", 24 },
		{ "lab.example", 0, MTA_ROUTE_MX, "lab.example", 0 },
		{ "x.lab.example", 0, MTA_ROUTE_STATIC, "10.0.0.10", 2525 },
		{ "upper.example", 0, MTA_ROUTE_STATIC, "relay.example", 26 },
		{ "example.net", 0, MTA_ROUTE_MX, "example.net", 0 },
		{ "example.net", 1, MTA_ROUTE_SMARTHOST, "smart.example", 587 },
		{ "corp.example", 1, MTA_ROUTE_STATIC, "10.0.0.5", 25 },
	};

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mta_route_parse(specs[i], &routes[i], &why), 0);
	assert_string_equal(routes[3].domain, "upper.example");
	assert_int_equal(mta_hosts_parse("smart.example:587", &smart, &why), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum mta_route_kind k = mta_route_decide(routes, 4,
		    cases[i].smarthost ? &smart : NULL, cases[i].domain, &out);

		if (k != cases[i].kind || out.n != 1 ||
		    strcmp(out.v[0].host, cases[i].host) != 0 ||
		    out.v[0].port != cases[i].port)
			fail_msg("%s: got kind %d %s:%d (%zu), want %d %s:%d",
			    cases[i].domain, k, out.v[0].host, out.v[0].port,
			    out.n, cases[i].kind, cases[i].host, cases[i].port);
	}
	assert_int_equal(mta_route_parse("=[10.0.0.1]", &routes[0], &why), -1);
	assert_int_equal(mta_route_parse("nodest", &routes[0], &why), -1);
	assert_int_equal(mta_route_parse("a.example=", &routes[0], &why), -1);
}

/* DOMAIN=DEST,DEST...: hosts in order, each with its own port and mode */
static void
test_route_hosts(void **state)
{
	static const struct {
		const char	*in;
		int		 ok;
		size_t		 n;
		const char	*host[3];
		int		 port[3], bracket[3];
	} cases[] = {
		{ "corp.example=[10.0.0.5]:25,[10.0.0.6]:2525", 1, 2,
		    { "10.0.0.5", "10.0.0.6" }, { 25, 2525 }, { 1, 1 } },
		{ "corp.example=[10.0.0.5]:25 , mx.corp.example , "
		    "lmtp:[10.0.0.7]:24/none", 1, 3,
		    { "10.0.0.5", "mx.corp.example", "10.0.0.7" },
		    { 25, 0, 24 }, { 1, 0, 1 } },
		{ "corp.example=[10.0.0.5]:25,", 0, 0, { NULL }, { 0 }, { 0 } },
		{ "corp.example=,[10.0.0.5]", 0, 0, { NULL }, { 0 }, { 0 } },
		{ "corp.example=[10.0.0.5],[10.0.0.5]", 0, 0, { NULL }, { 0 },
		    { 0 } },		/* the same host twice */
		{ "corp.example=[10.0.0.5],[10.0.0.5]:25", 1, 2,
		    { "10.0.0.5", "10.0.0.5" }, { 0, 25 }, { 1, 1 } },
		{ "corp.example=[10.0.0.5],10.0.0.6", 0, 0, { NULL }, { 0 },
		    { 0 } },		/* an address without brackets */
		{ "corp.example=[1.1.1.1],[1.1.1.2],[1.1.1.3],[1.1.1.4],"
		    "[1.1.1.5],[1.1.1.6],[1.1.1.7],[1.1.1.8],[1.1.1.9]", 0, 0,
		    { NULL }, { 0 }, { 0 } },	/* more than 8 */
	};
	struct mta_route r, v[2];
	struct mta_hosts h, h2;
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = mta_route_parse(cases[i].in, &r, &why);

		if ((rc == 0) != cases[i].ok)
			fail_msg("%s: got %s, want %s", cases[i].in,
			    rc == 0 ? "ok" : why, cases[i].ok ? "ok" : "error");
		if (rc != 0)
			continue;
		assert_int_equal(r.hosts.n, cases[i].n);
		for (size_t k = 0; k < cases[i].n; k++) {
			assert_string_equal(r.hosts.v[k].host, cases[i].host[k]);
			assert_int_equal(r.hosts.v[k].port, cases[i].port[k]);
			assert_int_equal(r.hosts.v[k].bracket,
			    cases[i].bracket[k]);
		}
	}
	assert_int_equal(mta_route_parse("corp.example=lmtp:[10.0.0.7]:24/none,"
	    "[10.0.0.8]:25/verify", &r, &why), 0);
	assert_int_equal(r.hosts.v[0].lmtp, 1);
	assert_int_equal(r.hosts.v[0].tls, MTA_TLS_NONE);
	assert_int_equal(r.hosts.v[1].lmtp, 0);
	assert_int_equal(r.hosts.v[1].tls, MTA_TLS_VERIFY);

	/* the ordered host list of a routed domain; none of another */
	v[0] = r;
	assert_int_equal(mta_route_parse(".lab.example=[10.1.0.1],b.example",
	    &v[1], &why), 0);
	assert_int_equal(mta_route_hosts(v, 2, "corp.example", &h), 2);
	assert_string_equal(h.v[0].host, "10.0.0.7");
	assert_string_equal(h.v[1].host, "10.0.0.8");
	assert_int_equal(mta_route_hosts(v, 2, "x.lab.example", &h), 2);
	assert_string_equal(h.v[1].host, "b.example");
	assert_int_equal(h.v[1].bracket, 0);
	assert_int_equal(mta_route_hosts(v, 2, "other.example", &h), 0);
	assert_int_equal(h.n, 0);

	/* a smarthost list */
	assert_int_equal(mta_hosts_parse("[192.0.2.1]:587, [192.0.2.2]:587",
	    &h, &why), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(mta_hosts_parse("[192.0.2.1]:587,[192.0.2.2]:587",
	    &h2, &why), 0);
	assert_true(mta_hosts_same(&h, &h2));
	assert_int_equal(mta_hosts_parse("[192.0.2.2]:587,[192.0.2.1]:587",
	    &h2, &why), 0);
	assert_false(mta_hosts_same(&h, &h2));	/* the order matters */
	assert_int_equal(mta_hosts_parse("", &h, &why), -1);
}

/* the routes knob: a domain routed twice is an error, not first-wins */
static void
test_routes_parse(void **state)
{
	char *ok[] = { "a.example=[10.0.0.1]", ".a.example=[10.0.0.2]",
	    "b.example=[10.0.0.3],[10.0.0.4]" };
	char *twice[] = { "a.example=[10.0.0.1]", "b.example=[10.0.0.3]",
	    "A.Example.=[10.0.0.2]" };
	char *bad[] = { "a.example=[10.0.0.1]", "b.example=10.0.0.3" };
	struct mta_route *v;
	const char *why;
	size_t at;

	assert_int_equal(mta_routes_parse(ok, 3, &v, &at, &why), 0);
	assert_string_equal(v[2].domain, "b.example");
	assert_int_equal(v[2].hosts.n, 2);
	free(v);
	assert_int_equal(mta_routes_parse(twice, 3, &v, &at, &why), -1);
	assert_null(v);
	assert_int_equal(at, 2);
	assert_non_null(strstr(why, "route already"));
	assert_int_equal(mta_routes_parse(bad, 2, &v, &at, &why), -1);
	assert_int_equal(at, 1);
	assert_int_equal(mta_routes_parse(NULL, 0, &v, &at, &why), 0);
	free(v);
}

/* "\x00\x0a" "\x02mx\x07example\x03org\x00" */
static size_t
mx_rdata(uint8_t *buf, uint16_t pref, const char *name)
{
	size_t o = 2;
	const char *p = name;

	buf[0] = (uint8_t)(pref >> 8);
	buf[1] = (uint8_t)pref;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		buf[o++] = (uint8_t)n;
		memcpy(buf + o, p, n);
		o += n;
		p += n + (dot != NULL);
	}
	buf[o++] = 0;
	return o;
}

static void
test_mx_rdata(void **state)
{
	uint8_t b[300];
	struct mta_mx mx;
	size_t n;

	n = mx_rdata(b, 10, "MX1.Example.org");
	assert_int_equal(mta_mx_parse_rdata(b, n, &mx), 0);
	assert_int_equal(mx.pref, 10);
	assert_string_equal(mx.host, "mx1.example.org");
	/* null MX: preference 0, the root */
	b[0] = 0; b[1] = 0; b[2] = 0;
	assert_int_equal(mta_mx_parse_rdata(b, 3, &mx), 0);
	assert_string_equal(mx.host, "");
	/* truncated, trailing bytes, compression pointer, bad characters */
	n = mx_rdata(b, 5, "mx.example.org");
	assert_int_equal(mta_mx_parse_rdata(b, n - 1, &mx), -1);
	assert_int_equal(mta_mx_parse_rdata(b, 2, &mx), -1);
	b[n] = 0;
	assert_int_equal(mta_mx_parse_rdata(b, n + 1, &mx), -1);
	b[2] = 0xc0;
	assert_int_equal(mta_mx_parse_rdata(b, n, &mx), -1);
	n = mx_rdata(b, 5, "m x.example");
	assert_int_equal(mta_mx_parse_rdata(b, n, &mx), -1);
	n = mx_rdata(b, 5, "m\"x.example");
	assert_int_equal(mta_mx_parse_rdata(b, n, &mx), -1);
}

static void
test_mx_order(void **state)
{
	struct mta_mx v[5];
	static const struct { uint16_t pref; const char *host; uint32_t rnd; }
	    in[5] = {
		{ 20, "c.example", 1 }, { 10, "b.example", 9 },
		{ 10, "a.example", 3 }, { 5, "first.example", 100 },
		{ 30, "last.example", 0 },
	};
	static const char *want[5] = { "first.example", "a.example",
	    "b.example", "c.example", "last.example" };
	int seen_a_first = 0, seen_b_first = 0;

	for (size_t i = 0; i < 5; i++) {
		v[i].pref = in[i].pref;
		snprintf(v[i].host, sizeof(v[i].host), "%s", in[i].host);
		v[i].rnd = in[i].rnd;
	}
	mta_mx_sort(v, 5);
	for (size_t i = 0; i < 5; i++)
		if (strcmp(v[i].host, want[i]) != 0)
			fail_msg("position %zu: got %s, want %s", i, v[i].host,
			    want[i]);
	/* equal preferences follow rnd: both orders happen */
	for (uint32_t r = 0; r < 64; r++) {
		struct mta_mx w[2] = { { 10, "a.example", r * 2654435761u },
		    { 10, "b.example", (r + 7) * 40503u } };

		mta_mx_sort(w, 2);
		seen_a_first |= strcmp(w[0].host, "a.example") == 0;
		seen_b_first |= strcmp(w[0].host, "b.example") == 0;
	}
	assert_true(seen_a_first && seen_b_first);
}

static void
test_mx_null_and_self(void **state)
{
	struct mta_mx v[4] = {
		{ 10, "mx1.example", 0 }, { 20, "me.example", 0 },
		{ 20, "peer.example", 0 }, { 30, "backup.example", 0 },
	};
	struct mta_mx nul[1] = { { 0, "", 0 } };
	const char *self[] = { "ME.example" };
	const char *other[] = { "nobody.example" };

	assert_int_equal(mta_mx_is_null(nul, 1), 1);
	assert_int_equal(mta_mx_is_null(v, 4), 0);
	assert_int_equal(mta_mx_prune_self(v, 4, other, 1), 4);
	/* we are at 20: only the better host stays */
	assert_int_equal(mta_mx_prune_self(v, 4, self, 1), 1);
	assert_string_equal(v[0].host, "mx1.example");
	/* we are the best: nothing left, a loop */
	v[0].pref = 30;
	mta_mx_sort(v, 4);
	assert_int_equal(mta_mx_prune_self(v, 4, self, 1), 0);
}

static void
test_dest_limit(void **state)
{
	static const struct {
		int max, per_dest, want;
	} t[] = {
		{ 100, 20, 20 },	/* the defaults: per_dest */
		{ 100, 100, 75 },	/* a quarter stays for the others */
		{ 4, 4, 3 },
		{ 4, 20, 3 },
		{ 2, 2, 1 },
		{ 1, 1, 1 },		/* one slot: it has to be shared */
		{ 1, 20, 1 },
		{ 3, 1, 1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = mta_dest_limit(t[i].max, t[i].per_dest);

		if (got != t[i].want)
			fail_msg("mta_dest_limit(%d, %d): got %d, want %d",
			    t[i].max, t[i].per_dest, got, t[i].want);
	}
}

static void
test_addr_internal(void **state)
{
	static const struct {
		const char *addr;
		int want;
	} t[] = {
		{ "127.0.0.1", 1 }, { "127.5.6.7", 1 }, { "10.1.2.3", 1 },
		{ "172.16.0.1", 1 }, { "172.31.255.255", 1 },
		{ "172.32.0.1", 0 }, { "172.15.0.1", 0 },
		{ "192.168.1.1", 1 }, { "192.169.1.1", 0 },
		{ "169.254.1.1", 1 }, { "100.64.0.1", 1 }, { "100.128.0.1", 0 },
		{ "0.0.0.0", 1 }, { "224.0.0.1", 1 }, { "255.255.255.255", 1 },
		{ "8.8.8.8", 0 }, { "198.51.100.7", 0 }, { "11.0.0.1", 0 },
		{ "::1", 1 }, { "::", 1 }, { "fd00::1", 1 }, { "fc12::1", 1 },
		{ "fe80::1", 1 }, { "febf::1", 1 }, { "fec0::1", 0 },
		{ "ff02::1", 1 }, { "::ffff:10.0.0.1", 1 },
		{ "::ffff:8.8.8.8", 0 }, { "2001:db8::1", 0 },
		{ "2a00:1450::1", 0 },
		{ "not an address", -1 }, { "", -1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = mta_addr_is_internal(t[i].addr);

		if (got != t[i].want)
			fail_msg("mta_addr_is_internal(\"%s\"): got %d, want %d",
			    t[i].addr, got, t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dest_parse),
		cmocka_unit_test(test_route_decide),
		cmocka_unit_test(test_route_hosts),
		cmocka_unit_test(test_routes_parse),
		cmocka_unit_test(test_mx_rdata),
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_mx_null_and_self),
		cmocka_unit_test(test_dest_limit),
		cmocka_unit_test(test_addr_internal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
