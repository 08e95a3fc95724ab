/*
 * test_relay.c - the open-relay tricks, each one row through
 * addr_parse_path + relay_decide.
 *
 * Table: local domains example.com, example.org; relay networks
 * 10.0.0.0/8, 2001:db8::/32; routed domains corp.example, the
 * subdomains of inner.example and tables.example, which alone has a
 * recipient source. Whether a mailbox of ours exists is the lookup
 * process's answer (RELAY_LOOKUP), not this table's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/cidr.h"
#include "mail/addr.h"
#include "policy/relay.h"

#define OUTSIDER	"192.0.2.50"
#define OUTSIDER6	"2001:db9::1"
#define RELAYNET	"10.1.2.3"
#define RELAYNET6	"2001:db8::25"

/* a verdict, or the parser's error before any verdict */
enum want {
	W_LOOKUP = RELAY_LOOKUP,
	W_OUTBOUND = RELAY_OUTBOUND,
	W_DENIED = RELAY_DENIED,
	W_SYNTAX = 100,
};

struct relay_case {
	const char	*what;
	const char	*path;
	int		 flags;		/* addr_parse_path flags */
	const char	*client;	/* client IP */
	int		 authenticated;
	int		 auth_relay;
	enum want	 want;
};

static const struct relay_case cases[] = {
	{ "local mailbox", "<alice@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "second local domain", "<alice@example.org>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "case folded", "<ALICE@EXAMPLE.COM>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "mixed case", "<Alice@Example.Org>", 0, OUTSIDER6, 0, 0, W_LOOKUP },
	{ "quoted, unneeded", "<\"alice\"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "quoted, upper case", "<\"ALICE\"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "unknown local user", "<bob@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "trailing space in quotes", "<\"alice \"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "utf8 look-alike local", "<\xc3\xa1lice@example.com>", ADDR_F_UTF8, OUTSIDER, 0, 0, W_LOOKUP },

	/* routing hidden in the local part is no routing */
	{ "percent hack", "<alice%evil.com@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "percent hack, relay client", "<alice%evil.com@example.com>", 0, RELAYNET, 0, 0, W_LOOKUP },
	{ "bang path", "<evil.com!alice@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "bang path, relay client", "<evil.com!alice@example.com>", 0, RELAYNET, 0, 0, W_LOOKUP },
	{ "quoted at", "<\"victim@evil.com\"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "quoted at, known name", "<\"alice@evil.com\"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "quoted percent", "<\"alice%evil.com\"@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "two ats", "<user@evil.com@example.com>", 0, OUTSIDER, 0, 0, W_SYNTAX },
	{ "two ats, relay client", "<user@evil.com@example.com>", 0, RELAYNET, 0, 0, W_SYNTAX },

	/* source routes are dropped: the final mailbox decides */
	{ "source route via us", "<@example.com:victim@evil.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "source route, two hops", "<@example.com,@example.org:victim@evil.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "source route to us", "<@evil.com:alice@example.com>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "source route, relay client", "<@example.com:victim@evil.com>", 0, RELAYNET, 0, 0, W_OUTBOUND },

	/* address literals are never local */
	{ "foreign IPv4 literal", "<alice@[192.0.2.1]>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "foreign IPv6 literal", "<alice@[IPv6:2001:db8::1]>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "loopback literal", "<alice@[127.0.0.1]>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "literal, relay client", "<alice@[192.0.2.1]>", 0, RELAYNET, 0, 0, W_OUTBOUND },
	{ "general literal", "<alice@[x-tag:example.com]>", 0, OUTSIDER, 0, 0, W_SYNTAX },

	/* domains match exactly */
	{ "trailing dot", "<alice@example.com.>", 0, OUTSIDER, 0, 0, W_SYNTAX },
	{ "prefix look-alike", "<alice@evilexample.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "suffix look-alike", "<alice@example.com.evil.net>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "subdomain", "<alice@sub.example.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "shorter", "<alice@example.co>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "longer", "<alice@example.comm>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "missing first letter", "<alice@xample.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "parent", "<alice@com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "utf8 look-alike domain", "<alice@ex\xc3\xa1mple.com>", ADDR_F_UTF8, OUTSIDER, 0, 0, W_DENIED },

	/* postmaster */
	{ "bare postmaster", "<postmaster>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "bare postmaster, any case", "<PostMaster>", 0, OUTSIDER6, 0, 0, W_LOOKUP },
	{ "postmaster at us", "<Postmaster@example.org>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "postmaster elsewhere", "<postmaster@evil.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "null path as rcpt", "<>", 0, OUTSIDER, 0, 0, W_SYNTAX },

	/* who may relay */
	{ "relay network client", "<victim@evil.com>", 0, RELAYNET, 0, 0, W_OUTBOUND },
	{ "relay network, mapped", "<victim@evil.com>", 0, "::ffff:10.255.0.1", 0, 0, W_OUTBOUND },
	{ "relay network edge", "<victim@evil.com>", 0, "10.255.255.255", 0, 0, W_OUTBOUND },
	{ "just outside relay net", "<victim@evil.com>", 0, "11.0.0.0", 0, 0, W_DENIED },
	{ "IPv6 relay network client", "<victim@evil.com>", 0, RELAYNET6, 0, 0, W_OUTBOUND },
	{ "IPv6 outsider", "<victim@evil.com>", 0, OUTSIDER6, 0, 0, W_DENIED },
	{ "IPv4-compatible is not mapped", "<victim@evil.com>", 0, "::10.1.2.3", 0, 0, W_DENIED },
	{ "authenticated, auth_relay", "<victim@evil.com>", 0, OUTSIDER, 1, 1, W_OUTBOUND },
	{ "authenticated, no auth_relay", "<victim@evil.com>", 0, OUTSIDER, 1, 0, W_DENIED },
	{ "auth_relay listener, not authenticated", "<victim@evil.com>", 0, OUTSIDER, 0, 1, W_DENIED },
	{ "unauthenticated outsider", "<victim@evil.com>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "outsider, utf8 domain", "<victim@\xc3\xa9vil.com>", ADDR_F_UTF8, OUTSIDER, 0, 0, W_DENIED },

	/* trusted clients never relay unknown local users outward */
	{ "relay client, unknown local user", "<bob@example.com>", 0, RELAYNET, 0, 0, W_LOOKUP },
	{ "IPv6 relay client, unknown local user", "<bob@example.org>", 0, RELAYNET6, 0, 0, W_LOOKUP },
	{ "authenticated, unknown local user", "<bob@example.com>", 0, OUTSIDER, 1, 1, W_LOOKUP },
	{ "relay client, local user", "<alice@example.com>", 0, RELAYNET, 0, 0, W_LOOKUP },

	/* a routed (internal) domain takes mail from anyone ... */
	{ "routed domain, outsider", "<bob@corp.example>", 0, OUTSIDER, 0, 0, W_OUTBOUND },
	{ "routed domain, any case", "<Bob@CORP.Example>", 0, OUTSIDER6, 0, 0, W_OUTBOUND },
	{ "routed subdomain", "<bob@a.inner.example>", 0, OUTSIDER, 0, 0, W_OUTBOUND },
	{ "routed, quoted space", "<\"first last\"@corp.example>", 0, OUTSIDER, 0, 0, W_OUTBOUND },
	/* ... but no sender-specified routing from untrusted clients: the
	 * internal server might honour it and relay */
	{ "routed, percent hack", "<victim%elsewhere.example@corp.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed, bang path", "<elsewhere.example!victim@corp.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed, quoted at", "<\"victim@elsewhere.example\"@corp.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed, quoted percent", "<\"victim%elsewhere.example\"@corp.example>", 0, OUTSIDER6, 0, 0, W_DENIED },
	{ "routed subdomain, percent", "<v%elsewhere.example@a.inner.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed, source route and percent", "<@example.com:v%e.example@corp.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed, percent, auth without auth_relay", "<v%e.example@corp.example>", 0, OUTSIDER, 1, 0, W_DENIED },
	{ "routed, percent, auth_relay not authenticated", "<v%e.example@corp.example>", 0, OUTSIDER, 0, 1, W_DENIED },
	{ "routed, percent, relay client", "<v%e.example@corp.example>", 0, RELAYNET, 0, 0, W_OUTBOUND },
	{ "routed, quoted at, authenticated", "<\"v@e.example\"@corp.example>", 0, OUTSIDER, 1, 1, W_OUTBOUND },

	/* a routed domain with a recipient source: the lookup answers */
	{ "routed with a source", "<bob@tables.example>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "routed with a source, any case", "<Bob@TABLES.example>", 0, OUTSIDER6, 0, 0, W_LOOKUP },
	{ "routed with a source, relay client", "<bob@tables.example>", 0, RELAYNET, 0, 0, W_LOOKUP },
	{ "routed with a source, percent", "<v%e.example@tables.example>", 0, OUTSIDER, 0, 0, W_DENIED },
	{ "routed with a source, percent, relay client", "<v%e.example@tables.example>", 0, RELAYNET, 0, 0, W_LOOKUP },
	/* the role addresses of every domain are ours to answer */
	{ "routed postmaster", "<postmaster@corp.example>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "routed abuse, any case", "<ABUSE@corp.example>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "routed subdomain postmaster", "<postmaster@a.inner.example>", 0, OUTSIDER, 0, 0, W_LOOKUP },
	{ "routed postmaster look-alike", "<postmasters@corp.example>", 0, OUTSIDER, 0, 0, W_OUTBOUND },
	{ "foreign postmaster, relay client", "<postmaster@elsewhere.example>", 0, RELAYNET, 0, 0, W_OUTBOUND },
};

static char *local_domains[] = { "example.com", "example.org" };
static char *lookup_domains[] = { "tables.example" };
static struct cidr nets[2];
static char *routes[] = { "corp.example=[10.9.0.1]:25",
    ".inner.example=[10.9.0.2]:25", "tables.example=[10.9.0.3]:25" };
static struct relay_table table = {
	.local_domains = local_domains, .n_local_domains = 2,
	.lookup_domains = lookup_domains, .n_lookup_domains = 1,
	.relay_networks = nets, .n_relay_networks = 2,
	.routes = routes, .n_routes = 3,
};

static int
setup(void **state)
{
	const char *why;

	if (cidr_parse("10.0.0.0/8", &nets[0], &why) != 0 ||
	    cidr_parse("2001:db8::/32", &nets[1], &why) != 0)
		return -1;
	return 0;
}

static const char *
want_name(int w)
{
	switch (w) {
	case W_LOOKUP:		return "RELAY_LOOKUP";
	case W_OUTBOUND:	return "RELAY_OUTBOUND";
	case W_DENIED:		return "RELAY_DENIED";
	case W_SYNTAX:		return "a parse error";
	}
	return "?";
}

static void
test_table(void **state)
{
	struct relay_client client;
	struct mail_addr rcpt;
	size_t i, len, consumed;
	enum addr_err r;
	char *buf;
	int got, bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct relay_case *c = &cases[i];

		memset(&client, 0, sizeof(client));
		if (cidr_addr_parse(c->client, client.addr) != 0)
			fail_msg("%s: bad client address %s", c->what, c->client);
		client.authenticated = c->authenticated;
		client.auth_relay = c->auth_relay;

		len = strlen(c->path);
		buf = malloc(len);
		assert_non_null(buf);
		memcpy(buf, c->path, len);
		r = addr_parse_path(buf, len, c->flags, &rcpt, &consumed);
		free(buf);
		if (r != ADDR_OK)
			got = W_SYNTAX;
		else
			got = (int)relay_decide(&table, &client, &rcpt);
		if (got != (int)c->want) {
			print_error("%s: %s from %s%s: got %s, want %s\n",
			    c->what, c->path, c->client,
			    c->authenticated ? " (authenticated)" : "",
			    want_name(got), want_name(c->want));
			bad++;
		}
	}
	if (bad)
		fail_msg("%d of %zu cases wrong", bad,
		    sizeof(cases) / sizeof(cases[0]));
}

static void
test_helpers(void **state)
{
	char *odd_domains[] = { "example.com", "[192.0.2.1]", "" };
	struct relay_table odd = { .local_domains = odd_domains,
	    .n_local_domains = 3 };
	struct relay_client client = { { 0 }, 1, 1, 0 };
	struct mail_addr rcpt;
	uint8_t a[16];

	assert_int_equal(relay_is_local_domain(&table, "example.com"), 1);
	assert_int_equal(relay_is_local_domain(&table, "EXAMPLE.ORG"), 1);
	assert_int_equal(relay_is_local_domain(&table, "example.com."), 0);
	assert_int_equal(relay_is_local_domain(&table, "example"), 0);
	assert_int_equal(relay_is_local_domain(&table, ""), 0);
	assert_int_equal(relay_is_local_domain(&table, NULL), 0);
	/* a literal is never local, even when configured by mistake */
	assert_int_equal(relay_is_local_domain(&odd, "[192.0.2.1]"), 0);
	assert_int_equal(relay_is_local_domain(&odd, ""), 0);

	assert_int_equal(cidr_addr_parse("10.9.9.9", a), 0);
	assert_int_equal(relay_client_trusted(&table, a), 1);
	assert_int_equal(cidr_addr_parse("192.0.2.1", a), 0);
	assert_int_equal(relay_client_trusted(&table, a), 0);
	assert_int_equal(relay_client_trusted(&odd, a), 0);

	/* <postmaster> is always ours to answer, whatever the tables */
	assert_int_equal(addr_parse_path("<postmaster>", 12, 0, &rcpt, NULL), ADDR_OK);
	assert_int_equal(relay_decide(&odd, &client, &rcpt), RELAY_LOOKUP);

	/* the null path is no recipient, whoever asks */
	assert_int_equal(addr_parse_path("<>", 2, ADDR_F_ALLOW_NULL, &rcpt, NULL), ADDR_OK);
	assert_int_equal(relay_decide(&table, &client, &rcpt), RELAY_DENIED);
}

/* an aliases file: every address of a routed domain may be an alias */
static void
test_lookup_all_routed(void **state)
{
	struct relay_table t = table;
	struct relay_client client;
	struct mail_addr rcpt;

	memset(&client, 0, sizeof(client));
	assert_int_equal(cidr_addr_parse(OUTSIDER, client.addr), 0);
	assert_int_equal(addr_parse_path("<bob@corp.example>", 18, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&t, &client, &rcpt), RELAY_OUTBOUND);
	t.lookup_all_routed = 1;
	assert_int_equal(relay_decide(&t, &client, &rcpt), RELAY_LOOKUP);
	/* never for a foreign domain, never past the routing refusal */
	assert_int_equal(addr_parse_path("<bob@else.example>", 18, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&t, &client, &rcpt), RELAY_DENIED);
	assert_int_equal(addr_parse_path("<b%c@corp.example>", 18, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&t, &client, &rcpt), RELAY_DENIED);
	assert_int_equal(relay_is_role("PostMaster"), 1);
	assert_int_equal(relay_is_role("abuse"), 1);
	assert_int_equal(relay_is_role("abuser"), 0);
	assert_int_equal(relay_has_source(&t, "TABLES.example"), 1);
	assert_int_equal(relay_has_source(&t, "corp.example"), 0);
}

/*
 * moat sendmail: a local user (its uid is the user) relays like an
 * authenticated one, from no address at all, and is still refused
 * nothing that an authenticated user may do; our domains stay lookups.
 */
static void
test_local_submission(void **state)
{
	struct relay_client local, none;
	struct mail_addr rcpt;

	memset(&local, 0, sizeof(local));
	memset(&none, 0, sizeof(none));
	local.local = 1;
	assert_int_equal(addr_parse_path("<x@else.example>", 16, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&table, &local, &rcpt), RELAY_OUTBOUND);
	assert_int_equal(relay_decide(&table, &none, &rcpt), RELAY_DENIED);
	assert_int_equal(addr_parse_path("<b%c@corp.example>", 18, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&table, &local, &rcpt), RELAY_OUTBOUND);
	assert_int_equal(addr_parse_path("<bob@example.com>", 17, 0, &rcpt,
	    NULL), ADDR_OK);
	assert_int_equal(relay_decide(&table, &local, &rcpt), RELAY_LOOKUP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_lookup_all_routed),
		cmocka_unit_test(test_local_submission),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
