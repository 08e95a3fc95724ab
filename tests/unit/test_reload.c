/*
 * test_reload.c - what a reload cannot apply (reload_needs_restart):
 * each row is a configuration the daemon started with, the edited one,
 * and what the reload must name (NULL: nothing).
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
#include "daemon/reload.h"

#define MX	"[listener mx]\naddress = 127.0.0.1\nport = 25\nrole = mx\n"
#define Z	"zen.spamhaus.example, bl.spamcop.example, b.barracuda.example, " \
		"dnsbl.sorbs.example, psbl.surriel.example"
#define Z2	"zen.spamhaus.example, bl.spamcop.example, b.barracuda.example, " \
		"dnsbl.sorbs.example, psbl.surriel2.example"
#define BASE	"[domains]\nlocal_domains = example.org\nmailboxes = postmaster\n"

static const struct {
	const char	*running, *next;
	int		 n;
	const char	*want;		/* the whole text */
} cases[] = {
	/* what a reload applies: nothing to name */
	{ BASE MX, BASE "[limits]\nmax_errors = 3\n" MX, 0, "" },
	{ BASE MX, "[domains]\nlocal_domains = example.org, example.net\n"
	    "mailboxes = postmaster, alice\n[relay]\nrelay_networks = "
	    "10.0.0.0/8\n[log]\nsmtp = debug\n" MX, 0, "" },
	{ BASE MX, BASE "[server]\nusers_file = other\n" MX, 0, "" },
	/* a listener's port and address */
	{ BASE MX, BASE "[listener mx]\naddress = 127.0.0.1\nport = 2525\n"
	    "role = mx\n", 1, "[listener mx] port (25 -> 2525)" },
	{ BASE MX, BASE "[listener mx]\naddress = ::1\nport = 25\n"
	    "role = mx\n", 1, "[listener mx] address (127.0.0.1 -> ::1)" },
	/* one added, one removed */
	{ BASE MX, BASE MX "[listener sub]\naddress = 127.0.0.1\n"
	    "port = 587\nrole = mx\n", 1, "[listener sub] added" },
	{ BASE MX "[listener sub]\naddress = 127.0.0.1\nport = 587\n"
	    "role = mx\n", BASE MX, 1, "[listener sub] removed" },
	/* the knobs of the fixed sections read only at start */
	{ BASE MX, BASE "[server]\nspool_dir = /var/spool/moat\nuser = "
	    "nobody\n" MX, 2, NULL },
	{ BASE MX, BASE "[policy]\nclient_prefix_v6 = 48\n[control]\n"
	    "admin_group = root\n" MX, 2,
	    "client_prefix_v6 (64 -> 48); admin_group ((empty) -> root)" },
	{ BASE MX, BASE "[delivery]\ndns_server = 127.0.0.1@5353\n" MX, 1,
	    "dns_server ((empty) -> 127.0.0.1@5353)" },
	/* a list: compared whole, continuation lines included */
	{ BASE "[policy]\ndnsbl_zones = a.example, b.example\n" MX,
	    BASE "[policy]\ndnsbl_zones = a.example, b.example,\n"
	    "  c.example\n" MX, 1,
	    "dnsbl_zones (a.example, b.example -> a.example, b.example, "
	    "c.example)" },
	/* a list folded on several lines: the last line differs */
	{ BASE "[policy]\ndnsbl_zones = " Z "\n" MX,
	    BASE "[policy]\ndnsbl_zones = " Z2 "\n" MX, 1, "dnsbl_zones" },
	{ BASE "[policy]\ndnsbl_zones = " Z "\n" MX,
	    BASE "[policy]\ndnsbl_zones = " Z "\n" MX, 0, "" },
};

static struct conf *
load(const char *text)
{
	char err[512];
	struct conf *c = conf_load_string(text, "/etc/moat/moat.conf", err,
	    sizeof(err));

	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void
test_cases(void **state)
{
	char buf[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf *a = load(cases[i].running), *b = load(cases[i].next);
		int n = reload_needs_restart(a, b, buf, sizeof(buf));

		if (n != cases[i].n)
			fail_msg("case %zu: got %d (%s), want %d", i, n, buf,
			    cases[i].n);
		if (cases[i].want != NULL && strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, buf,
			    cases[i].want);
		conf_free(a);
		conf_free(b);
	}
}

/* a long list is cut, never overflows, and stays terminated */
static void
test_small_buffer(void **state)
{
	struct conf *a = load(BASE MX);
	struct conf *b = load(BASE "[server]\nspool_dir = /var/spool/moat\n"
	    "mail_dir = /var/mail/moat\nempty_dir = /var/empty/moat\n" MX);
	char buf[24];
	int n = reload_needs_restart(a, b, buf, sizeof(buf));

	assert_int_equal(n, 3);
	assert_true(strlen(buf) < sizeof(buf));
	conf_free(a);
	conf_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
