/*
 * test_session_policy.c - the session's checks, table-driven, at their
 * thresholds: sender identity (own, domain, any; spoofing of local and
 * routed domains), unknown recipients (tarpit and close), AUTH failures
 * (ban, ban length, account slow-down and its alert), the data rate.
 *
 * Relay table: local domains example.com, example.org; relay network
 * 10.0.0.0/8; routed domain corp.example.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/config.h"
#include "lib/cidr.h"
#include "mail/addr.h"
#include "policy/relay.h"
#include "policy/session_policy.h"

#define OUTSIDER	"192.0.2.50"
#define RELAYNET	"10.1.2.3"

static char *local_domains[] = { "example.com", "example.org" };
static struct cidr nets[1];
static char *routes[] = { "corp.example=[10.9.0.1]:25" };
static struct relay_table table = {
	.local_domains = local_domains, .n_local_domains = 2,
	.relay_networks = nets, .n_relay_networks = 1,
	.routes = routes, .n_routes = 1,
};
static struct conf conf;

static int
setup(void **state)
{
	const char *why;

	return cidr_parse("10.0.0.0/8", &nets[0], &why);
}

/* the defaults of moat.conf */
static void
conf_defaults(void)
{
	memset(&conf, 0, sizeof(conf));
	snprintf(conf.sender_identity, sizeof(conf.sender_identity), "own");
	conf.reject_local_spoof = 1;
	conf.max_unknown_rcpts = 5;
	conf.max_unknown_rcpts_ip = 20;
	conf.tarpit_ms = 1000;
	conf.auth_fail_limit = 5;
	conf.ban_time = 3600;
	conf.ban_time_max = 604800;
	conf.account_fail_limit = 10;
	conf.account_fail_delay_ms = 2000;
	conf.min_data_rate = 256;
	conf.data_rate_grace = 30;
}

static const char *
verdict_name(enum pol_verdict v)
{
	switch (v) {
	case POL_OK:		return "POL_OK";
	case POL_REJECT:	return "POL_REJECT";
	case POL_TEMPFAIL:	return "POL_TEMPFAIL";
	}
	return "?";
}

struct sender_case {
	const char	*what;
	const char	*identity;	/* sender_identity */
	int		 reject_spoof;
	const char	*user;		/* NULL: not authenticated */
	const char	*client;
	const char	*from;
	enum pol_verdict want;
};

static const struct sender_case sender_cases[] = {
	/* an authenticated user "alice@example.org" */
	{ "own address", "own", 1, "alice@example.org", OUTSIDER, "<alice@example.org>", POL_OK },
	{ "own address, any case", "own", 1, "alice@example.org", OUTSIDER, "<ALICE@Example.ORG>", POL_OK },
	{ "other user, own domain", "own", 1, "alice@example.org", OUTSIDER, "<bob@example.org>", POL_REJECT },
	{ "longer local part", "own", 1, "alice@example.org", OUTSIDER, "<alicex@example.org>", POL_REJECT },
	{ "shorter local part", "own", 1, "alice@example.org", OUTSIDER, "<alic@example.org>", POL_REJECT },
	{ "other local domain", "own", 1, "alice@example.org", OUTSIDER, "<alice@example.com>", POL_REJECT },
	{ "foreign domain", "own", 1, "alice@example.org", OUTSIDER, "<alice@evil.com>", POL_REJECT },
	{ "null sender", "own", 1, "alice@example.org", OUTSIDER, "<>", POL_OK },
	{ "domain mode, other user", "domain", 1, "alice@example.org", OUTSIDER, "<bob@example.org>", POL_OK },
	{ "domain mode, other domain", "domain", 1, "alice@example.org", OUTSIDER, "<bob@example.com>", POL_REJECT },
	{ "any mode, foreign", "any", 1, "alice@example.org", OUTSIDER, "<x@evil.com>", POL_OK },
	{ "relay client authenticated", "own", 1, "alice@example.org", RELAYNET, "<x@evil.com>", POL_REJECT },
	/* an authenticated user "alice" (no domain) */
	{ "bare user, local domain", "own", 1, "alice", OUTSIDER, "<alice@example.com>", POL_OK },
	{ "bare user, second local domain", "own", 1, "alice", OUTSIDER, "<Alice@example.org>", POL_OK },
	{ "bare user, foreign domain", "own", 1, "alice", OUTSIDER, "<alice@evil.com>", POL_REJECT },
	{ "bare user, routed domain", "own", 1, "alice", OUTSIDER, "<alice@corp.example>", POL_REJECT },
	{ "bare user, other name", "own", 1, "alice", OUTSIDER, "<bob@example.com>", POL_REJECT },
	{ "bare user, domain mode", "domain", 1, "alice", OUTSIDER, "<bob@example.com>", POL_OK },
	/* a client that did not authenticate */
	{ "outsider, foreign sender", "own", 1, NULL, OUTSIDER, "<x@evil.com>", POL_OK },
	{ "outsider, local sender", "own", 1, NULL, OUTSIDER, "<alice@example.com>", POL_REJECT },
	{ "outsider, local sender, any case", "own", 1, NULL, OUTSIDER, "<x@EXAMPLE.org>", POL_REJECT },
	{ "outsider, routed sender", "own", 1, NULL, OUTSIDER, "<x@corp.example>", POL_REJECT },
	{ "outsider, subdomain", "own", 1, NULL, OUTSIDER, "<x@sub.example.com>", POL_OK },
	{ "outsider, postmaster", "own", 1, NULL, OUTSIDER, "<postmaster>", POL_OK },
	{ "outsider, null sender", "own", 1, NULL, OUTSIDER, "<>", POL_OK },
	{ "outsider, spoof check off", "own", 0, NULL, OUTSIDER, "<alice@example.com>", POL_OK },
	{ "relay client, local sender", "own", 1, NULL, RELAYNET, "<alice@example.com>", POL_OK },
	{ "relay client, routed sender", "own", 1, NULL, RELAYNET, "<x@corp.example>", POL_OK },
};

static void
test_sender(void **state)
{
	struct mail_addr from;
	uint8_t addr[16];
	int bad = 0;

	for (size_t i = 0; i < sizeof(sender_cases) / sizeof(sender_cases[0]); i++) {
		const struct sender_case *c = &sender_cases[i];
		enum pol_verdict got;

		conf_defaults();
		snprintf(conf.sender_identity, sizeof(conf.sender_identity),
		    "%s", c->identity);
		conf.reject_local_spoof = c->reject_spoof;
		if (cidr_addr_parse(c->client, addr) != 0)
			fail_msg("%s: bad client %s", c->what, c->client);
		if (addr_parse_path(c->from, strlen(c->from), ADDR_F_ALLOW_NULL,
		    &from, NULL) != ADDR_OK)
			fail_msg("%s: bad sender %s", c->what, c->from);
		got = pol_sender(&conf, &table, c->user, addr, &from);
		if (got != c->want) {
			print_error("%s: %s from %s: got %s, want %s\n", c->what,
			    c->user ? c->user : "(no auth)", c->from,
			    verdict_name(got), verdict_name(c->want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

struct unknown_case {
	int	max, max_ip, tarpit_ms;
	int	session, ip;
	enum pol_unknown want;
};

static const struct unknown_case unknown_cases[] = {
	/* max_unknown_rcpts 5: tarpit past half (3 of 5), close past 5 */
	{ 5, 20, 1000, 1, 1, POL_UNKNOWN_REPLY },
	{ 5, 20, 1000, 2, 2, POL_UNKNOWN_REPLY },
	{ 5, 20, 1000, 3, 3, POL_UNKNOWN_TARPIT },
	{ 5, 20, 1000, 5, 5, POL_UNKNOWN_TARPIT },
	{ 5, 20, 1000, 6, 6, POL_UNKNOWN_CLOSE },
	/* an even limit: half of 4 is still a plain reply */
	{ 4, 20, 1000, 2, 2, POL_UNKNOWN_REPLY },
	{ 4, 20, 1000, 3, 3, POL_UNKNOWN_TARPIT },
	{ 4, 20, 1000, 4, 4, POL_UNKNOWN_TARPIT },
	{ 4, 20, 1000, 5, 5, POL_UNKNOWN_CLOSE },
	/* per client network, over harvest_window */
	{ 5, 20, 1000, 1, 20, POL_UNKNOWN_REPLY },
	{ 5, 20, 1000, 1, 21, POL_UNKNOWN_CLOSE },
	/* no tarpit: refused at once until the limit */
	{ 5, 20, 0, 5, 5, POL_UNKNOWN_REPLY },
	{ 5, 20, 0, 6, 6, POL_UNKNOWN_CLOSE },
	/* a limit of 1: the first is a tarpitted reply, the second closes */
	{ 1, 20, 1000, 1, 1, POL_UNKNOWN_TARPIT },
	{ 1, 20, 1000, 2, 2, POL_UNKNOWN_CLOSE },
};

static void
test_unknown_rcpt(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(unknown_cases) / sizeof(unknown_cases[0]); i++) {
		const struct unknown_case *c = &unknown_cases[i];
		enum pol_unknown got;

		conf_defaults();
		conf.max_unknown_rcpts = c->max;
		conf.max_unknown_rcpts_ip = c->max_ip;
		conf.tarpit_ms = c->tarpit_ms;
		got = pol_unknown_rcpt(&conf, c->session, c->ip);
		if (got != c->want) {
			print_error("row %zu: max %d/%d tarpit %d, counts %d/%d: "
			    "got %d, want %d\n", i, c->max, c->max_ip,
			    c->tarpit_ms, c->session, c->ip, got, c->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_auth_client(void **state)
{
	static const struct {
		int	limit, failures, trusted;
		enum pol_verdict want;
	} rows[] = {
		/* auth_fail_limit 5: the fifth failure bans */
		{ 5, 4, 0, POL_OK },
		{ 5, 5, 0, POL_REJECT },
		{ 5, 6, 0, POL_REJECT },
		/* a client in relay_networks is never banned */
		{ 5, 5, 1, POL_OK },
		{ 5, 64, 1, POL_OK },
		{ 1, 0, 0, POL_OK },
		{ 1, 1, 0, POL_REJECT },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum pol_verdict got;

		conf_defaults();
		conf.auth_fail_limit = rows[i].limit;
		got = pol_auth_client(&conf, rows[i].failures, rows[i].trusted);
		if (got != rows[i].want) {
			print_error("limit %d failures %d trusted %d: got %s, "
			    "want %s\n", rows[i].limit, rows[i].failures,
			    rows[i].trusted, verdict_name(got),
			    verdict_name(rows[i].want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* ban_time, ban_time_max, earlier bans: the ban's length */
static const struct {
	int	ban_time, ban_time_max, repeat, want;
} ban_rows[] = {
	{ 3600, 604800, 0, 3600 },
	{ 3600, 604800, 1, 7200 },
	{ 3600, 604800, 2, 14400 },
	{ 3600, 604800, 7, 460800 },
	{ 3600, 604800, 8, 604800 },	/* 921600 capped */
	{ 3600, 604800, 1000, 604800 },
	{ 100, 300, 1, 200 },
	{ 100, 300, 2, 300 },		/* 400 capped */
	{ 100, 200, 1, 200 },		/* exactly the cap */
	{ 150, 300, 1, 300 },		/* doubling reaches the cap */
	{ 151, 300, 1, 300 },		/* over half: the cap at once */
	{ 500, 300, 0, 300 },		/* ban_time over the max */
	{ 1, 31536000, 40, 31536000 },	/* no overflow */
};

static void
test_ban_seconds(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(ban_rows) / sizeof(ban_rows[0]); i++) {
		int got;

		conf_defaults();
		conf.ban_time = ban_rows[i].ban_time;
		conf.ban_time_max = ban_rows[i].ban_time_max;
		got = pol_ban_seconds(&conf, ban_rows[i].repeat);
		if (got != ban_rows[i].want) {
			print_error("ban_time %d max %d repeat %d: got %d, want %d\n",
			    ban_rows[i].ban_time, ban_rows[i].ban_time_max,
			    ban_rows[i].repeat, got, ban_rows[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_auth_account(void **state)
{
	static const struct {
		int	failures, distinct, want_ms, want_alert;
	} rows[] = {
		{ 9, 5, 0, 0 },		/* under account_fail_limit 10 */
		{ 10, 1, 0, 0 },	/* one address: its own ban handles it */
		{ 10, 2, 2000, 1 },	/* the limit: slowed, and the alert */
		{ 11, 2, 4000, 0 },	/* the alert only once */
		{ 12, 3, 6000, 0 },
		{ 39, 9, 60000, 0 },	/* 30 * 2000 */
		{ 40, 9, 60000, 0 },	/* capped */
		{ 64, 64, 60000, 0 },
	};
	int bad = 0, alert;

	conf_defaults();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int got;

		alert = -1;
		got = pol_auth_account(&conf, rows[i].failures, rows[i].distinct,
		    &alert);
		if (got != rows[i].want_ms || alert != rows[i].want_alert) {
			print_error("failures %d distinct %d: got %d ms alert %d, "
			    "want %d ms alert %d\n", rows[i].failures,
			    rows[i].distinct, got, alert, rows[i].want_ms,
			    rows[i].want_alert);
			bad++;
		}
	}
	/* no extra delay configured: the alert still comes */
	conf.account_fail_delay_ms = 0;
	assert_int_equal(pol_auth_account(&conf, 10, 2, &alert), 0);
	assert_int_equal(alert, 1);
	assert_int_equal(bad, 0);
}

static void
test_data_rate(void **state)
{
	static const struct {
		int	rate, grace;
		long	elapsed;
		size_t	bytes;
		enum pol_verdict want;
	} rows[] = {
		/* in the grace period anything goes */
		{ 256, 30, 0, 0, POL_OK },
		{ 256, 30, 29, 0, POL_OK },
		/* after it: 256 B/s over the whole DATA */
		{ 256, 30, 30, 30 * 256, POL_OK },
		{ 256, 30, 30, 30 * 256 - 1, POL_REJECT },
		{ 256, 30, 30, 0, POL_REJECT },
		{ 256, 30, 100, 100 * 256, POL_OK },
		{ 256, 30, 100, 100 * 256 - 1, POL_REJECT },
		/* off */
		{ 0, 30, 1000, 0, POL_OK },
		/* the shortest grace: one second */
		{ 1, 1, 0, 0, POL_OK },
		{ 1, 1, 1, 0, POL_REJECT },
		{ 1, 1, 1, 1, POL_OK },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum pol_verdict got;

		conf_defaults();
		conf.min_data_rate = rows[i].rate;
		conf.data_rate_grace = rows[i].grace;
		got = pol_data_rate(&conf, rows[i].elapsed, rows[i].bytes);
		if (got != rows[i].want) {
			print_error("rate %d grace %d, %zu bytes in %lds: got %s, "
			    "want %s\n", rows[i].rate, rows[i].grace,
			    rows[i].bytes, rows[i].elapsed, verdict_name(got),
			    verdict_name(rows[i].want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender),
		cmocka_unit_test(test_unknown_rcpt),
		cmocka_unit_test(test_auth_client),
		cmocka_unit_test(test_ban_seconds),
		cmocka_unit_test(test_auth_account),
		cmocka_unit_test(test_data_rate),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
