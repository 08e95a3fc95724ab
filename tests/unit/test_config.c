/*
 * test_config.c - moat.conf parsing, defaults, printing, errors.
 *
 * Table-driven: each row is a configuration (text, or a file) and the
 * error it must give, or NULL and lines its conf_print output must
 * contain. Every good row is also printed, re-parsed and printed again,
 * which must give the same text. Run from the repository root (the
 * example file and the man page are read from there).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/config.h"

#define TLS	"[server]\ntls_cert = /etc/moat/cert.pem\n" \
		"tls_key = /etc/moat/key.pem\n"

/* 60 letters: a host name label, or part of a long path */
#define L60	"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"

struct conf_case {
	const char	*text;		/* NULL: load path */
	const char	*path;
	const char	*err;		/* part of the error; NULL: loads */
	const char	*want[6];	/* whole lines of conf_print */
};

static const struct conf_case cases[] = {
	/* defaults */
	{ "", NULL, NULL, { "max_message_size = 10M", "[listener smtp]",
	    "address = 127.0.0.1", "port = 2525", "role = mx",
	    "starttls = no" } },
	{ "", NULL, NULL, { "user = _moat", "spool_dir = var/spool",
	    "local_domains = localhost", "mailboxes = postmaster",
	    "relay_networks =", "syslog = no" } },
	{ "", NULL, NULL, { "tls_cert =", "max_recipients = 100",
	    "timeout_command = 5m", "auth_fail_delay_ms = 1s",
	    "smtp = info", "daemon = info" } },
	{ NULL, NULL, NULL, { "[listener smtp]", "max_sessions = 1000",
	    "max_sessions_per_ip = 20", "max_errors = 20",
	    "timeout_data = 3m", "max_received_headers = 50" } },
	{ "; only a comment\n# another\n\n", NULL, NULL, { "role = mx" } },

	/* sizes */
	{ "[limits]\nmax_message_size = 2M\n", NULL, NULL,
	    { "max_message_size = 2M" } },
	{ "[limits]\nmax_message_size = 1k\n", NULL, NULL,
	    { "max_message_size = 1k" } },
	{ "[limits]\nmax_message_size = 1G\n", NULL, NULL,
	    { "max_message_size = 1G" } },
	{ "[limits]\nmax_message_size = 1048576\n", NULL, NULL,
	    { "max_message_size = 1M" } },
	{ "[limits]\nmax_message_size = 1500\n", NULL, NULL,
	    { "max_message_size = 1500" } },
	{ "[limits]\nmax_message_size = 512K\n", NULL, NULL,
	    { "max_message_size = 512k" } },
	{ "[limits]\nmax_message_size = 1024m\n", NULL, NULL,
	    { "max_message_size = 1G" } },
	{ "[limits]\nmax_message_size = 512\n", NULL,
	    "t.conf:2: max_message_size: 512 is below the minimum 1k", { 0 } },
	{ "[limits]\nmax_message_size = 2G\n", NULL,
	    "t.conf:2: max_message_size: 2G is above the maximum 1G", { 0 } },
	{ "[limits]\nmax_message_size = 10MB\n", NULL,
	    "t.conf:2: max_message_size: '10MB' is not a size", { 0 } },
	{ "[limits]\nmax_message_size = M\n", NULL, "is not a size", { 0 } },
	{ "[limits]\nmax_message_size = 99999999999999G\n", NULL,
	    "is above the maximum 1G", { 0 } },

	/* integers */
	{ "[limits]\nmax_errors = 1\nmax_recipients = 10000\n"
	    "auth_fail_delay_ms = 0\n", NULL, NULL, { "max_errors = 1",
	    "max_recipients = 10000", "auth_fail_delay_ms = 0" } },
	{ "[limits]\nmax_errors = 0\n", NULL,
	    "t.conf:2: max_errors: 0 is below the minimum 1", { 0 } },
	{ "[limits]\nmax_errors = 1001\n", NULL,
	    "t.conf:2: max_errors: 1001 is above the maximum 1000", { 0 } },
	{ "[limits]\nmax_recipients = 99\n", NULL,
	    "max_recipients: 99 is below the minimum 100", { 0 } },
	{ "[limits]\nauth_fail_delay_ms = -1\n", NULL,
	    "auth_fail_delay_ms: '-1' is not a duration", { 0 } },
	{ "[limits]\nmax_errors = 99999999999999999999999\n", NULL,
	    "is above the maximum 1000", { 0 } },
	{ "[limits]\nmax_errors = ten\n", NULL,
	    "t.conf:2: max_errors: 'ten' is not a number", { 0 } },
	{ "[limits]\nmax_errors = 10s\n", NULL, "is not a number", { 0 } },
	{ "[limits]\nmax_errors = +5\n", NULL, "is not a number", { 0 } },
	{ "[limits]\nmax_errors =\n", NULL, "is not a number", { 0 } },
	{ "[limits]\ntimeout_command = 3601\n", NULL,
	    "above the maximum 1h", { 0 } },

	/* durations: units, plain numbers in the knob's own unit */
	{ "[limits]\ntimeout_command = 90\ntimeout_data = 2m\n"
	    "auth_fail_delay_ms = 500ms\n", NULL, NULL,
	    { "timeout_command = 1m30s", "timeout_data = 2m",
	    "auth_fail_delay_ms = 500ms" } },
	{ "[limits]\nauth_fail_delay_ms = 250\n", NULL, NULL,
	    { "auth_fail_delay_ms = 250ms" } },
	{ "[limits]\nauth_fail_delay_ms = 2s\n", NULL, NULL,
	    { "auth_fail_delay_ms = 2s" } },
	{ "[policy]\nban_time = 2h\nban_time_max = 7d\n"
	    "events_retention = 1h30m\n", NULL, NULL,
	    { "ban_time = 2h", "ban_time_max = 7d",
	    "events_retention = 1h30m" } },
	{ "[delivery]\nmax_lifetime = 5d\nretry_min = 30s\n", NULL, NULL,
	    { "max_lifetime = 5d", "retry_min = 30s" } },
	{ "[limits]\ntimeout_command = 2h\n", NULL,
	    "t.conf:2: timeout_command: 2h is above the maximum 1h", { 0 } },
	{ "[limits]\ntimeout_command = 500ms\n", NULL,
	    "timeout_command: '500ms' is not a whole number of seconds",
	    { 0 } },
	{ "[limits]\ntimeout_command = 10 m\n", NULL,
	    "timeout_command: '10 m' is not a duration", { 0 } },
	{ "[limits]\ntimeout_command = 10min\n", NULL,
	    "is not a duration", { 0 } },
	{ "[policy]\nban_time = 99999999999d\n", NULL,
	    "is above the maximum 365d", { 0 } },

	/* '#' after white space starts a comment, as ';' does */
	{ "[server]   # the server\nhostname = mx.example.org  # our name\n"
	    "[limits]\ntimeout_command = 10m\t# ten minutes\n"
	    "max_errors = 5 ; five\n", NULL, NULL,
	    { "hostname = mx.example.org", "timeout_command = 10m",
	    "max_errors = 5" } },
	{ "[domains]\nlocal_domains = example.org,  # ours\n"
	    "    example.net  # and this\n", NULL, NULL,
	    { "local_domains = example.org, example.net" } },
	{ "[server]\nhostname = mx.example.org#x\n", NULL,
	    "is not a valid host name", { 0 } },

	/* booleans */
	{ "[server]\nsyslog = yes\n", NULL, NULL, { "syslog = yes" } },
	{ "[server]\nsyslog = true\n", NULL, NULL, { "syslog = yes" } },
	{ "[server]\nsyslog = on\n", NULL, NULL, { "syslog = yes" } },
	{ "[server]\nsyslog = 1\n", NULL, NULL, { "syslog = yes" } },
	{ "[server]\nsyslog = YES\n", NULL, NULL, { "syslog = yes" } },
	{ "[server]\nsyslog = no\n", NULL, NULL, { "syslog = no" } },
	{ "[server]\nsyslog = false\n", NULL, NULL, { "syslog = no" } },
	{ "[server]\nsyslog = off\n", NULL, NULL, { "syslog = no" } },
	{ "[server]\nsyslog = 0\n", NULL, NULL, { "syslog = no" } },
	{ "[server]\nsyslog = maybe\n", NULL,
	    "t.conf:2: syslog: 'maybe' is not a boolean", { 0 } },

	/* strings, paths, host names */
	{ "[server]\nhostname = MX.Example.ORG.\nuser = moat\n"
	    "spool_dir = /var/spool/moat\n", NULL, NULL,
	    { "hostname = mx.example.org", "user = moat",
	    "spool_dir = /var/spool/moat" } },
	{ "[server]\nhostname = bad_host.example\n", NULL,
	    "t.conf:2: hostname: 'bad_host.example' is not a valid host name",
	    { 0 } },
	{ "[server]\nhostname = 192.0.2.1\n", NULL,
	    "is not a valid host name", { 0 } },
	{ "[server]\nuser = bad user\n", NULL,
	    "user: 'bad user' is not a valid user name", { 0 } },
	{ "[server]\nspool_dir =\n", NULL,
	    "t.conf:2: spool_dir: must not be empty", { 0 } },
	{ "[server]\nspool_dir = a\tb\n", NULL, "has control characters",
	    { 0 } },

	/* lists */
	{ "[domains]\nlocal_domains = Example.ORG., example.net  b.example\n",
	    NULL, NULL,
	    { "local_domains = example.org, example.net, b.example" } },
	{ "[domains]\nlocal_domains = a.example,,a.example, A.EXAMPLE\n",
	    NULL, NULL, { "local_domains = a.example" } },
	{ "[domains]\nlocal_domains = a.example\n\tb.example,\n"
	    "# a comment between\n  c.example\n[limits]\nmax_errors = 5\n",
	    NULL, NULL, { "local_domains = a.example, b.example, c.example",
	    "max_errors = 5" } },
	{ "[domains]\nlocal_domains =\n  a.example\n", NULL, NULL,
	    { "local_domains = a.example" } },
	{ "[domains]\nlocal_domains =\nmailboxes =\n", NULL, NULL,
	    { "local_domains =", "mailboxes =" } },
	{ "[domains]\nmailboxes = Postmaster, john.doe+tag, a_b-c\n", NULL,
	    NULL, { "mailboxes = postmaster, john.doe+tag, a_b-c" } },
	{ "[domains]\nlocal_domains = exa_mple.org\n", NULL,
	    "t.conf:2: local_domains: 'exa_mple.org' is not a valid host name",
	    { 0 } },
	{ "[domains]\nlocal_domains = -bad.example\n", NULL,
	    "is not a valid host name", { 0 } },
	{ "[domains]\nlocal_domains = a..example\n", NULL,
	    "is not a valid host name", { 0 } },
	{ "[domains]\nmailboxes = ../etc\n", NULL,
	    "mailboxes: '../etc' is not a valid mailbox name", { 0 } },
	{ "[domains]\nmailboxes = .hidden\n", NULL,
	    "is not a valid mailbox name", { 0 } },
	{ "[domains]\nmailboxes = a/b\n", NULL, "is not a valid mailbox name",
	    { 0 } },
	{ "[domains]\nmailboxes = a@b\n", NULL,
	    "t.conf:2: mailboxes: 'a@b': b is not one of local_domains", { 0 } },
	{ "[domains]\nlocal_domains = example.org\n"
	    "mailboxes = Bob@Example.ORG, alice\n", NULL, NULL,
	    { "mailboxes = bob@example.org, alice" } },
	{ "[domains]\nmailboxes = @example.org\n", NULL,
	    "mailboxes: '@example.org' is not a mailbox: USER or USER@DOMAIN",
	    { 0 } },
	{ "[domains]\nmailboxes = a@b@c\n", NULL, "is not a mailbox", { 0 } },
	{ "[domains]\nmailboxes = ../x@example.org\n", NULL,
	    "is not a mailbox", { 0 } },
	{ "[domains]\nrole_mailbox = a/b\n", NULL,
	    "t.conf:2: role_mailbox: 'a/b' is not a valid mailbox name",
	    { 0 } },

	/* recipient sources: of our domains only */
	{ "[domains]\nlocal_domains = example.org\n"
	    "recipient_tables = Example.ORG=users.txt, corp.example=/t/corp\n"
	    "recipient_ldap = corp.example=ad\nrecipient_verify = corp.example\n"
	    "lookup_timeout = 3\n[delivery]\nroutes = corp.example=[10.0.0.1]:25\n"
	    "[ldap ad]\nservers = ldap://dc1.corp.example\nbase = dc=corp\n"
	    "filter = (mail=%s)\n",
	    NULL, NULL, { "recipient_tables = example.org=users.txt, "
	    "corp.example=/t/corp", "recipient_ldap = corp.example=ad",
	    "recipient_verify = corp.example", "lookup_timeout = 3s" } },
	{ "[domains]\nrecipient_tables = other.example=t\n", NULL,
	    "t.conf:2: recipient_tables: other.example is not one of "
	    "local_domains nor a routed domain", { 0 } },
	{ "[domains]\nrecipient_ldap = other.example=ad\n", NULL,
	    "recipient_ldap: other.example is not one of local_domains", { 0 } },
	{ "[domains]\nlocal_domains = example.org\n"
	    "recipient_verify = example.org\n", NULL,
	    "t.conf:3: recipient_verify: example.org is not a routed domain",
	    { 0 } },
	{ "[domains]\nlocal_domains = example.org\n"
	    "recipient_tables = example.org=a, example.org=b\n", NULL,
	    "t.conf:3: recipient_tables: example.org is listed twice", { 0 } },
	{ "[domains]\nrecipient_tables = example.org\n", NULL,
	    "t.conf:2: recipient_tables: 'example.org' must be DOMAIN=PATH",
	    { 0 } },
	{ "[domains]\nrecipient_ldap = corp.example=ad\n"
	    "[delivery]\nroutes = corp.example=[10.0.0.1]:25\n"
	    "[ldap corp]\nservers = ldap://dc1.corp.example\nbase = dc=corp\n"
	    "filter = (mail=%s)\n", NULL,
	    "t.conf:2: recipient_ldap: corp.example: there is no section "
	    "[ldap ad]", { 0 } },
	{ "[domains]\nrecipient_ldap = corp.example=a/b\n", NULL,
	    "must be DOMAIN=LDAPNAME", { 0 } },
	{ "[domains]\nlookup_timeout = 0\n", NULL,
	    "t.conf:2: lookup_timeout: 0 is below the minimum 1s", { 0 } },
	{ "[domains]\nmailboxes = ok\n  ..\n", NULL,
	    "t.conf:3: mailboxes: '..' is not a valid mailbox name", { 0 } },

	/* long values: printed so that they still fit a line */
	{ "[domains]\nlocal_domains = a.example\n\t" L60 "." L60 "." L60
	    ".ex\n", NULL, NULL, { "local_domains = a.example,",
	    "\t" L60 "." L60 "." L60 ".ex" } },
	{ "[server]\nspool_dir=/" L60 "/" L60 "/" L60 "/abcd\n", NULL,
	    NULL, { "spool_dir=/" L60 "/" L60 "/" L60 "/abcd" } },
	{ "[relay]\nrelay_networks = 2001:db8:1::/48 2001:db8:2::/48 "
	    "2001:db8:3::/48 2001:db8:4::/48\n 2001:db8:5::/48 2001:db8:6::/48 "
	    "2001:db8:7::/48 192.0.2.0/25 192.0.2.128/25 198.51.100.0/24\n",
	    NULL, NULL,
	    { "\t2001:db8:4::/48, 2001:db8:5::/48, 2001:db8:6::/48," } },

	/* CIDR lists */
	{ "[relay]\nrelay_networks = 192.0.2.0/24, 2001:DB8::/32 10.1.2.3 "
	    "::1\n",
	    NULL, NULL, { "relay_networks = 192.0.2.0/24, 2001:db8::/32, "
	    "10.1.2.3/32, ::1/128" } },
	/* a network that takes in the whole Internet is an open relay */
	{ "[relay]\nrelay_networks = 0.0.0.0/0\n\t::/0\n", NULL,
	    "t.conf:2: relay_networks: '0.0.0.0/0' covers every IPv4 address "
	    "(an open relay)", { 0 } },
	{ "[relay]\nrelay_networks = 10.0.0.0/8, ::/0\n", NULL,
	    "t.conf:2: relay_networks: '::/0' covers every IPv4 address",
	    { 0 } },
	{ "[relay]\nrelay_networks = ::ffff:0:0/96\n", NULL,
	    "t.conf:2: relay_networks: '0.0.0.0/0' covers every IPv4 address",
	    { 0 } },
	{ "[relay]\nrelay_networks = ::/1\n", NULL,
	    "t.conf:2: relay_networks: '::/1' covers every IPv4 address",
	    { 0 } },
	{ "[relay]\nrelay_networks = 10.0.0.0/8\n\t0.0.0.0/1 128.0.0.0/1\n",
	    NULL, "t.conf:2: relay_networks: together cover every IPv4 "
	    "address (an open relay)", { 0 } },
	{ "[relay]\nrelay_networks = 0.0.0.0/2 64.0.0.0/2 128.0.0.0/2 "
	    "192.0.0.0/3 224.0.0.0/4 240.0.0.0/4\n", NULL,
	    "relay_networks: together cover every IPv4 address", { 0 } },
	{ "[relay]\nrelay_networks = 2000::/3\n", NULL,
	    "t.conf:2: relay_networks: '2000::/3' covers every global IPv6 "
	    "address (an open relay)", { 0 } },
	{ "[relay]\nrelay_networks = 2000::/4 3000::/4\n", NULL,
	    "relay_networks: together cover every global IPv6 address",
	    { 0 } },
	/* large, but not everything: fine */
	{ "[relay]\nrelay_networks = 0.0.0.0/1 128.0.0.0/2 192.0.0.0/3 "
	    "224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 "
	    "255.0.0.0/9\n", NULL, NULL,
	    { "\t240.0.0.0/5, 248.0.0.0/6, 252.0.0.0/7, 254.0.0.0/8, "
	    "255.0.0.0/9" } },
	{ "[relay]\nrelay_networks = 2000::/4 2001:db8::/32\n", NULL, NULL,
	    { "relay_networks = 2000::/4, 2001:db8::/32" } },
	{ "[policy]\ndeny_networks = 0.0.0.0/0\n", NULL, NULL,
	    { "deny_networks = 0.0.0.0/0" } },
	{ "[relay]\nrelay_networks = 10.0.0.0/8 10.0.0.0/8\n", NULL, NULL,
	    { "relay_networks = 10.0.0.0/8" } },
	{ "[relay]\nrelay_networks = 10.0.0.1/8\n", NULL,
	    "t.conf:2: relay_networks: '10.0.0.1/8' is not a network: host "
	    "bits set", { 0 } },
	{ "[relay]\nrelay_networks = 300.1.1.1\n", NULL, "is not a network",
	    { 0 } },
	{ "[relay]\nrelay_networks = ::/129\n", NULL, "is not a network",
	    { 0 } },
	{ "[relay]\nrelay_networks = localhost\n", NULL, "is not a network",
	    { 0 } },

	/* log levels */
	{ "[log]\nsmtp = debug\ntls = err\nauth = WARN\ndns = notice\n", NULL,
	    NULL, { "smtp = debug", "tls = err", "auth = warn",
	    "dns = notice", "relay = info" } },
	{ "[log]\nsmtp = verbose\n", NULL,
	    "t.conf:2: smtp: 'verbose' is not a log level", { 0 } },
	{ "[log]\nmail = info\n", NULL,
	    "t.conf:2: unknown key 'mail' in [log]", { 0 } },

	/* routes: several hosts, a domain once; outbound addressing */
	{ "[delivery]\nroutes = a.example=[10.0.0.1]:25, [10.0.0.2]:25\n"
	    "  b.example=[10.0.0.3]\n  b.example\n", NULL, NULL,
	    { "routes = a.example=[10.0.0.1]:25,[10.0.0.2]:25,",
	    "\tb.example=[10.0.0.3],b.example" } },
	{ "[delivery]\nroutes = a.example=[10.0.0.1]\n  A.EXAMPLE=[10.0.0.2]\n",
	    NULL, "t.conf:3: routes: 'A.EXAMPLE=[10.0.0.2]' routes a domain "
	    "that has a route already", { 0 } },
	{ "[delivery]\nroutes = [10.0.0.1], a.example=[10.0.0.2]\n", NULL,
	    "t.conf:2: routes: '[10.0.0.1]' is a destination without DOMAIN=",
	    { 0 } },
	{ "[delivery]\nsmarthost = [10.0.0.1]:587, [10.0.0.2]:587\n"
	    "source_address_v4 = 192.0.2.25\nsource_address_v6 = 2001:db8::25\n"
	    "address_preference = IPv6\n", NULL, NULL,
	    { "smarthost = [10.0.0.1]:587, [10.0.0.2]:587",
	    "source_address_v4 = 192.0.2.25",
	    "source_address_v6 = 2001:db8::25",
	    "address_preference = ipv6" } },
	{ "[delivery]\nsource_address_v6 = 192.0.2.25\n", NULL,
	    "t.conf:2: source_address_v6: '192.0.2.25' is not a numeric IPv6 "
	    "address", { 0 } },
	{ "[delivery]\ntls_client_key = /k.pem\n", NULL,
	    "t.conf:2: tls_client_cert and tls_client_key must be set together",
	    { 0 } },

	/* INI syntax */
	{ "[limits]\nmax_errors = 5 ; five\nmax_sessions: 7\n", NULL, NULL,
	    { "max_errors = 5", "max_sessions = 7" } },
	{ "\xef\xbb\xbf[limits]\r\nmax_errors = 6\r\n", NULL, NULL,
	    { "max_errors = 6" } },
	{ "[ limits ]\nmax_errors = 4\n[limits]\nmax_sessions = 8\n", NULL,
	    NULL, { "max_errors = 4", "max_sessions = 8" } },
	{ "[limits\nmax_errors = 5\n", NULL,
	    "t.conf:1: syntax error: section header without ']'", { 0 } },
	{ "[limits]\nmax_errors\n", NULL,
	    "t.conf:2: syntax error: expected name = value", { 0 } },
	{ "[limits]\n\nmax_errors\nmax_sesions = 1\n", NULL,
	    "t.conf:3: syntax error", { 0 } },
	{ "[limits]\nmax_sesions = 1\nmax_errors\n", NULL,
	    "t.conf:2: unknown key 'max_sesions' in [limits]", { 0 } },
	{ "[limits]\nmax_errors = 5\n  6\n", NULL,
	    "t.conf:3: max_errors: unexpected indented line '6'", { 0 } },
	{ "max_errors = 5\n", NULL,
	    "t.conf:1: key 'max_errors' before the first [section]", { 0 } },
	{ "[limits]\nmax_errors = 5 " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\n", NULL, "t.conf:2: line longer than 198 characters", { 0 } },

	/* unknown sections, keys, duplicates */
	{ "[limit]\nmax_errors = 5\n", NULL,
	    "t.conf:1: unknown section [limit]", { 0 } },
	{ "[limits]\nmax_errors = 5\n[tls]\n", NULL,
	    "t.conf:3: unknown section [tls]", { 0 } },
	{ "[limits]\nmax_sesions = 5\n", NULL,
	    "t.conf:2: unknown key 'max_sesions' in [limits]", { 0 } },
	{ "[server]\nmax_errors = 5\n", NULL,
	    "t.conf:2: unknown key 'max_errors' in [server]", { 0 } },
	{ "[limits]\nmax_errors = 1\nmax_errors = 2\n", NULL,
	    "t.conf:3: duplicate key 'max_errors' in [limits] (first on "
	    "line 2)", { 0 } },
	{ "[limits]\nmax_errors = 1\n[server]\n[limits]\nmax_errors = 2\n",
	    NULL, "t.conf:5: duplicate key 'max_errors'", { 0 } },
	{ "[domains]\nmailboxes = a\nmailboxes = b\n", NULL,
	    "t.conf:3: duplicate key 'mailboxes'", { 0 } },

	/* listeners */
	{ "[listener in]\naddress = 0.0.0.0\nport = 25\n", NULL, NULL,
	    { "[listener in]", "address = 0.0.0.0", "port = 25", "role = mx",
	    "auth = no", "starttls = no" } },
	{ TLS "[listener in]\naddress = 0.0.0.0\n", NULL, NULL,
	    { "port = 25", "auth = no", "auth_required = no",
	    "auth_relay = no", "starttls = yes", "tls_required = no" } },
	{ TLS "[listener in]\naddress = 0.0.0.0\nstarttls = no\n", NULL, NULL,
	    { "starttls = no" } },
	{ TLS "[listener sub]\naddress = ::\nrole = submission\n", NULL, NULL,
	    { "port = 587", "auth = yes", "auth_required = yes",
	    "auth_relay = yes", "starttls = yes", "tls_required = yes" } },
	{ TLS "[listener subs]\naddress = ::\nrole = submissions\n", NULL,
	    NULL, { "port = 465", "auth = yes", "auth_required = yes",
	    "auth_relay = yes", "starttls = no", "tls_required = yes" } },
	{ TLS "[listener sub]\naddress = 127.0.0.1\nrole = SUBMISSION\n"
	    "auth_relay = no\ntls_required = off\nport = 10587\n", NULL, NULL,
	    { "role = submission", "auth_relay = no", "tls_required = no",
	    "port = 10587" } },
	{ TLS "[listener mx]\naddress = 2001:DB8:0:0::1\n"
	    "auth = yes\n", NULL, NULL, { "address = 2001:db8::1",
	    "auth = yes", "auth_required = no" } },
	{ "[listener a]\naddress = 127.0.0.1\nport = 25\n"
	    "[listener b]\naddress = ::1\nport = 25\n"
	    "[listener c]\naddress = 127.0.0.2\nport = 25\n", NULL, NULL,
	    { "[listener a]", "[listener b]", "[listener c]" } },
	{ "[listener a]\naddress = 0.0.0.0\nport = 25\n"
	    "[listener b]\naddress = ::\nport = 25\n", NULL, NULL,
	    { "address = ::" } },
	{ "[listener a]\n", NULL,
	    "t.conf:1: listener a: address is required", { 0 } },
	{ "[listener a]\naddress = localhost\n", NULL,
	    "t.conf:2: listener a: address: 'localhost' is not a numeric IPv4 "
	    "or IPv6 address", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nport = 0\n", NULL,
	    "t.conf:3: listener a: port: 0 is below the minimum 1", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nport = 65536\n", NULL,
	    "port: 65536 is above the maximum 65535", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nrole = relay\n", NULL,
	    "t.conf:3: listener a: role: 'relay' is not a role", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nauth = perhaps\n", NULL,
	    "listener a: auth: 'perhaps' is not a boolean", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nadress = ::1\n", NULL,
	    "t.conf:3: unknown key 'adress' in [listener a]", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\naddress = ::1\n", NULL,
	    "t.conf:3: duplicate key 'address' in [listener a] (first on "
	    "line 2)", { 0 } },
	{ "[listener]\naddress = 127.0.0.1\n", NULL,
	    "t.conf:1: a listener section needs a name", { 0 } },
	{ "[listener a/b]\naddress = 127.0.0.1\n", NULL,
	    "t.conf:1: bad listener name 'a/b'", { 0 } },
	{ "[listener a b]\naddress = 127.0.0.1\n", NULL,
	    "t.conf:1: bad listener name", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\n"
	    "[listener a]\naddress = ::1\n", NULL,
	    "t.conf:3: duplicate listener 'a' (first on line 1)", { 0 } },
	{ "[listener a]\naddress = 127.0.0.1\nport = 25\n"
	    "[listener b]\naddress = 127.0.0.1\nport = 25\n", NULL,
	    "t.conf:4: listener b: 127.0.0.1 port 25 is already used by "
	    "listener a (line 1)", { 0 } },
	{ "[listener a]\naddress = ::1\nport = 25\n"
	    "[listener b]\naddress = 0:0::1\nport = 25\n", NULL,
	    "t.conf:4: listener b: ::1 port 25 is already used by listener a",
	    { 0 } },
	{ "[listener a]\naddress = 0.0.0.0\nport = 25\n"
	    "[listener b]\naddress = 127.0.0.1\nport = 25\n", NULL,
	    "t.conf:4: listener b: 127.0.0.1 port 25 overlaps listener a",
	    { 0 } },
	{ "[listener l1]\naddress=127.0.0.1\nport=1\n"
	    "[listener l2]\naddress=127.0.0.1\nport=2\n"
	    "[listener l3]\naddress=127.0.0.1\nport=3\n"
	    "[listener l4]\naddress=127.0.0.1\nport=4\n"
	    "[listener l5]\naddress=127.0.0.1\nport=5\n"
	    "[listener l6]\naddress=127.0.0.1\nport=6\n"
	    "[listener l7]\naddress=127.0.0.1\nport=7\n"
	    "[listener l8]\naddress=127.0.0.1\nport=8\n"
	    "[listener l9]\naddress=127.0.0.1\nport=9\n"
	    "[listener l10]\naddress=127.0.0.1\nport=10\n"
	    "[listener l11]\naddress=127.0.0.1\nport=11\n"
	    "[listener l12]\naddress=127.0.0.1\nport=12\n"
	    "[listener l13]\naddress=127.0.0.1\nport=13\n"
	    "[listener l14]\naddress=127.0.0.1\nport=14\n"
	    "[listener l15]\naddress=127.0.0.1\nport=15\n"
	    "[listener l16]\naddress=127.0.0.1\nport=16\n", NULL, NULL,
	    { "[listener l16]", "port = 16" } },
	{ "[listener l1]\naddress=127.0.0.1\nport=1\n"
	    "[listener l2]\naddress=127.0.0.1\nport=2\n"
	    "[listener l3]\naddress=127.0.0.1\nport=3\n"
	    "[listener l4]\naddress=127.0.0.1\nport=4\n"
	    "[listener l5]\naddress=127.0.0.1\nport=5\n"
	    "[listener l6]\naddress=127.0.0.1\nport=6\n"
	    "[listener l7]\naddress=127.0.0.1\nport=7\n"
	    "[listener l8]\naddress=127.0.0.1\nport=8\n"
	    "[listener l9]\naddress=127.0.0.1\nport=9\n"
	    "[listener l10]\naddress=127.0.0.1\nport=10\n"
	    "[listener l11]\naddress=127.0.0.1\nport=11\n"
	    "[listener l12]\naddress=127.0.0.1\nport=12\n"
	    "[listener l13]\naddress=127.0.0.1\nport=13\n"
	    "[listener l14]\naddress=127.0.0.1\nport=14\n"
	    "[listener l15]\naddress=127.0.0.1\nport=15\n"
	    "[listener l16]\naddress=127.0.0.1\nport=16\n"
	    "[listener l17]\naddress=127.0.0.1\nport=17\n", NULL,
	    "t.conf:49: too many listeners (at most 16)", { 0 } },

	/* TLS and AUTH rules */
	{ "[listener sub]\naddress = 127.0.0.1\nrole = submission\n", NULL,
	    "t.conf:1: listener sub: role submission needs tls_cert and "
	    "tls_key", { 0 } },
	{ "[limits]\nmax_errors = 3\n[listener subs]\naddress = ::1\n"
	    "role = submissions\n", NULL,
	    "t.conf:3: listener subs: role submissions needs tls_cert and "
	    "tls_key", { 0 } },
	{ "[listener in]\naddress = 127.0.0.1\nauth = yes\n", NULL,
	    "t.conf:1: listener in: auth needs tls_cert and tls_key", { 0 } },
	{ "[listener in]\naddress = 127.0.0.1\nstarttls = yes\n", NULL,
	    "t.conf:1: listener in: starttls needs tls_cert and tls_key",
	    { 0 } },
	{ "[server]\ntls_cert = /etc/moat/cert.pem\n", NULL,
	    "t.conf:2: tls_cert and tls_key must be set together", { 0 } },
	{ "[server]\ntls_key = /etc/moat/key.pem\n", NULL,
	    "t.conf:2: tls_cert and tls_key must be set together", { 0 } },
	{ TLS "[listener subs]\naddress = ::1\nrole = submissions\n"
	    "starttls = yes\n", NULL, "t.conf:4: listener subs: starttls with "
	    "role submissions", { 0 } },
	{ TLS "[listener in]\naddress = ::1\nstarttls = no\n"
	    "tls_required = yes\n", NULL,
	    "listener in: tls_required needs starttls", { 0 } },
	{ TLS "[listener in]\naddress = ::1\nstarttls = no\nauth = yes\n",
	    NULL, "listener in: auth needs starttls", { 0 } },
	{ TLS "[listener in]\naddress = ::1\nauth_required = yes\n", NULL,
	    "listener in: auth_required needs auth", { 0 } },
	{ TLS "[listener in]\naddress = ::1\nauth_relay = yes\n", NULL,
	    "listener in: auth_relay needs auth", { 0 } },
	{ TLS "[listener sub]\naddress = ::1\nrole = submission\nauth = no\n",
	    NULL, "listener sub: auth_required needs auth", { 0 } },

	/* PROXY protocol */
	{ "[listener lb]\naddress = 127.0.0.1\nproxy_protocol = V2\n"
	    "proxy_from = 10.0.0.2, 2001:db8::/64,\n  10.0.0.2 10.0.1.0/24\n",
	    NULL, NULL, { "proxy_protocol = v2", "proxy_from = 10.0.0.2/32, "
	    "2001:db8::/64, 10.0.1.0/24" } },
	{ "[listener lb]\naddress = 127.0.0.1\nproxy_protocol = any\n"
	    "proxy_from = 192.0.2.1\n", NULL, NULL,
	    { "proxy_protocol = any" } },
	{ "[listener lb]\naddress = 127.0.0.1\n", NULL, NULL,
	    { "proxy_protocol = no", "proxy_from =" } },
	{ "[listener lb]\naddress = 127.0.0.1\n\nproxy_protocol = v1\n", NULL,
	    "t.conf:4: listener lb: proxy_protocol needs proxy_from",
	    { 0 } },
	{ "[listener lb]\naddress = 127.0.0.1\nproxy_protocol = yes\n", NULL,
	    "t.conf:3: listener lb: proxy_protocol: 'yes' is not no, v1, v2 "
	    "or any", { 0 } },
	{ "[listener lb]\naddress = 127.0.0.1\nproxy_protocol = v1\n"
	    "proxy_from = 10.0.0.0/8, 0.0.0.0/1,\n  128.0.0.0/1\n", NULL,
	    "t.conf:4: listener lb: proxy_from: together cover every IPv4 "
	    "address", { 0 } },
	{ "[listener lb]\naddress = 127.0.0.1\nproxy_protocol = v1\n"
	    "proxy_from = 2000::/3\n", NULL,
	    "t.conf:4: listener lb: proxy_from: '2000::/3' covers every "
	    "global IPv6 address", { 0 } },

	/* files */
	{ NULL, "moat.conf.example", NULL, { "[listener mx]", "port = 25",
	    "role = mx" } },
	{ NULL, "/nonexistent/moat.conf", "/nonexistent/moat.conf: cannot "
	    "open: No such file or directory", { 0 } },
	{ NULL, "/", "/: cannot read: Is a directory", { 0 } },
};

static char *
print_conf(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	conf_print(c, fp);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static struct conf *
load_case(const struct conf_case *t, char *err, size_t errlen)
{
	if (t->text != NULL)
		return conf_load_string(t->text, "t.conf", err, errlen);
	return conf_load(t->path, err, errlen);
}

/* 1 when text has line as one whole line */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' ||
		    p[n] == '\0'))
			return 1;
	return 0;
}

static void
test_cases(void **state)
{
	char err[512], err2[512];
	struct conf *c, *c2;
	char *out, *out2;
	size_t i, j;
	int fails = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct conf_case *t = &cases[i];
		const char *what = t->text != NULL ? t->text : t->path;

		if (what == NULL)
			what = "(builtin)";
		err[0] = '\0';
		c = load_case(t, err, sizeof(err));
		if (t->err != NULL) {
			if (c != NULL) {
				print_message("case %zu: got a config, want "
				    "error \"%s\"\n", i, t->err);
				fails++;
			} else if (strstr(err, t->err) == NULL) {
				print_message("case %zu: got \"%s\", want "
				    "\"%s\"\n", i, err, t->err);
				fails++;
			}
			conf_free(c);
			continue;
		}
		if (c == NULL) {
			print_message("case %zu: got \"%s\", want no error\n",
			    i, err);
			fails++;
			continue;
		}
		out = print_conf(c);
		for (j = 0; j < sizeof(t->want) / sizeof(t->want[0]) &&
		    t->want[j] != NULL; j++)
			if (!has_line(out, t->want[j])) {
				print_message("case %zu: got\n%s\nwant line "
				    "\"%s\"\n", i, out, t->want[j]);
				fails++;
			}
		/* print, re-parse, print: the same text */
		c2 = conf_load_string(out, "printed", err2, sizeof(err2));
		if (c2 == NULL) {
			print_message("case %zu: reparse got \"%s\", want no "
			    "error; text:\n%s\n", i, err2, out);
			fails++;
		} else {
			out2 = print_conf(c2);
			if (strcmp(out, out2) != 0) {
				print_message("case %zu: reparse got\n%s\nwant"
				    "\n%s\n", i, out2, out);
				fails++;
			}
			free(out2);
		}
		conf_free(c2);
		free(out);
		conf_free(c);
	}
	if (fails > 0)
		fail_msg("%d failures", fails);
}

static void
test_builtin(void **state)
{
	char err[256];
	struct conf *c = conf_load(NULL, err, sizeof(err));
	const struct conf_listener *l;
	const char *p;
	char cwd[1024], want[1100];

	assert_non_null(c);
	assert_string_equal(c->path, "(builtin)");
	assert_true(c->hostname[0] != '\0');
	for (p = c->hostname; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			fail_msg("hostname got %s, want lowercase",
			    c->hostname);
	assert_string_equal(c->user, "_moat");
	/* relative to the directory moat starts in */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/var/spool", cwd);
	assert_string_equal(c->spool_dir, want);
	snprintf(want, sizeof(want), "%s/var/mail", cwd);
	assert_string_equal(c->mail_dir, want);
	snprintf(want, sizeof(want), "%s/var/empty", cwd);
	assert_string_equal(c->empty_dir, want);
	snprintf(want, sizeof(want), "%s/var/users", cwd);
	assert_string_equal(c->users_file, want);
	assert_string_equal(c->tls_cert, "");
	assert_string_equal(c->tls_key, "");
	assert_int_equal(c->syslog, 0);
	assert_int_equal(c->n_local_domains, 1);
	assert_string_equal(c->local_domains[0], "localhost");
	assert_int_equal(c->n_mailboxes, 1);
	assert_string_equal(c->mailboxes[0], "postmaster");
	assert_int_equal(c->n_relay_networks, 0);
	assert_int_equal(c->max_message_size, 10L * 1024 * 1024);
	assert_int_equal(c->max_recipients, 100);
	assert_int_equal(c->max_sessions, 1000);
	assert_int_equal(c->max_sessions_per_ip, 20);
	assert_int_equal(c->max_errors, 20);
	assert_int_equal(c->timeout_command, 300);
	assert_int_equal(c->timeout_data, 180);
	assert_int_equal(c->auth_fail_delay_ms, 1000);
	assert_int_equal(c->max_received_headers, 50);
	for (int i = 0; i < LOG_CAT_COUNT; i++)
		assert_int_equal(c->log_level[i], LOG_LVL_INFO);
	assert_int_equal(c->n_listeners, 1);
	l = &c->listeners[0];
	assert_string_equal(l->name, "smtp");
	assert_string_equal(l->address, "127.0.0.1");
	assert_int_equal(l->port, 2525);
	assert_int_equal(l->role, ROLE_MX);
	assert_int_equal(l->auth + l->auth_required + l->auth_relay +
	    l->starttls + l->tls_required, 0);
	conf_free(c);
	conf_free(NULL);
}

static void
test_roles(void **state)
{
	static const struct {
		const char	*role;
		int		 port, auth, auth_required, auth_relay;
		int		 starttls, tls_required;
	} want[] = {
		{ "mx", 25, 0, 0, 0, 1, 0 },
		{ "submission", 587, 1, 1, 1, 1, 1 },
		{ "submissions", 465, 1, 1, 1, 0, 1 },
	};
	char text[512], err[256];
	const struct conf_listener *l;
	struct conf *c;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(text, sizeof(text), TLS "[listener x]\n"
		    "address = 192.0.2.1\nrole = %s\n", want[i].role);
		c = conf_load_string(text, "t.conf", err, sizeof(err));
		if (c == NULL)
			fail_msg("role %s: got \"%s\", want no error",
			    want[i].role, err);
		l = &c->listeners[0];
		assert_string_equal(conf_role_name(l->role), want[i].role);
		assert_int_equal(l->line, 4);
		assert_int_equal(l->port, want[i].port);
		assert_int_equal(l->auth, want[i].auth);
		assert_int_equal(l->auth_required, want[i].auth_required);
		assert_int_equal(l->auth_relay, want[i].auth_relay);
		assert_int_equal(l->starttls, want[i].starttls);
		assert_int_equal(l->tls_required, want[i].tls_required);
		conf_free(c);
	}
	assert_string_equal(conf_role_name(ROLE_MX), "mx");
	assert_string_equal(conf_role_name(ROLE_SUBMISSION), "submission");
	assert_string_equal(conf_role_name(ROLE_SUBMISSIONS), "submissions");
}

/* mailboxes has no cap of CONF_LIST_MAX items */
static void
test_mailboxes_nocap(void **state)
{
	size_t n = 5000, len = 0, cap = n * 16 + 64;
	char err[256], *text = malloc(cap);
	struct conf *c;

	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len, "[domains]\nmailboxes =");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "\n\tu%zu", i);
	len += (size_t)snprintf(text + len, cap - len, "\n");
	c = conf_load_string(text, "t.conf", err, sizeof(err));
	if (c == NULL)
		fail_msg("got \"%s\", want no error", err);
	assert_int_equal(c->n_mailboxes, n);
	assert_string_equal(c->mailboxes[n - 1], "u4999");
	conf_free(c);
	free(text);
}

static void
test_relay_table(void **state)
{
	char err[256];
	struct relay_table t;
	struct cidr net;
	struct conf *c = conf_load_string("[domains]\n"
	    "local_domains = example.org example.net.\nmailboxes = a, B\n"
	    "recipient_tables = example.org=/t/a, corp.example=/t/b, "
	    "x.inner.example=/t/b\nrecipient_verify = corp.example\n"
	    "[relay]\nrelay_networks = 192.0.2.0/24 2001:db8::/32\n"
	    "[delivery]\nroutes = corp.example=[10.0.0.1]:25 "
	    ".inner.example=[10.0.0.2]:25\n",
	    "t.conf", err, sizeof(err));

	if (c == NULL)
		fail_msg("got \"%s\", want no error", err);
	conf_relay_table(c, &t);
	assert_int_equal(t.n_local_domains, 2);
	assert_string_equal(t.local_domains[0], "example.org");
	assert_string_equal(t.local_domains[1], "example.net");
	/* the routed domains with a recipient source, each once */
	assert_int_equal(t.n_lookup_domains, 2);
	assert_string_equal(t.lookup_domains[0], "corp.example");
	assert_string_equal(t.lookup_domains[1], "x.inner.example");
	assert_int_equal(t.lookup_all_routed, 0);
	assert_int_equal(t.n_relay_networks, 2);
	assert_int_equal(cidr_parse("192.0.2.0/24", &net, NULL), 0);
	assert_memory_equal(&t.relay_networks[0], &net, sizeof(net));
	assert_int_equal(cidr_parse("2001:db8::/32", &net, NULL), 0);
	assert_memory_equal(&t.relay_networks[1], &net, sizeof(net));
	conf_free(c);
}

static void
test_log_levels(void **state)
{
	char err[256];
	struct conf *c = conf_load_string("[log]\nsmtp = debug\ntls = err\n",
	    "t.conf", err, sizeof(err));

	if (c == NULL)
		fail_msg("got \"%s\", want no error", err);
	assert_int_equal(c->log_level[LOG_CAT_SMTP], LOG_LVL_DEBUG);
	assert_int_equal(c->log_level[LOG_CAT_TLS], LOG_LVL_ERR);
	conf_apply_log_levels(c);
	assert_int_equal(log_get_level(LOG_CAT_SMTP), LOG_LVL_DEBUG);
	assert_int_equal(log_get_level(LOG_CAT_TLS), LOG_LVL_ERR);
	assert_int_equal(log_get_level(LOG_CAT_QUEUE), LOG_LVL_INFO);
	conf_free(c);
	/* back to the defaults for whatever runs next */
	c = conf_load(NULL, err, sizeof(err));
	assert_non_null(c);
	conf_apply_log_levels(c);
	conf_free(c);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void
test_file_errors(void **state)
{
	static const char nul[] = "[limits]\nmax_errors = 5\x00\n";
	char path[] = "/tmp/test_config.XXXXXX", want[256], err[256];
	char *big;
	struct conf *c;
	int fd = mkstemp(path);

	assert_true(fd != -1);
	close(fd);

	write_file(path, nul, sizeof(nul) - 1);
	c = conf_load(path, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:2: NUL byte", path);
	if (c != NULL || strcmp(err, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", c ? "a config" : err, want);

	big = malloc(2 * 1024 * 1024);
	assert_non_null(big);
	memset(big, '\n', 2 * 1024 * 1024);
	write_file(path, big, 2 * 1024 * 1024);
	free(big);
	c = conf_load(path, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: larger than", path);
	if (c != NULL || strstr(err, want) == NULL)
		fail_msg("got \"%s\", want \"%s\"", c ? "a config" : err, want);

	write_file(path, "[limits]\nmax_errors = 7\n", 24);
	c = conf_load(path, err, sizeof(err));
	if (c == NULL)
		fail_msg("got \"%s\", want no error", err);
	assert_string_equal(c->path, path);
	assert_int_equal(c->max_errors, 7);
	conf_free(c);
	unlink(path);
}

/* relative paths are below the configuration file's directory */
static void
test_relative_paths(void **state)
{
	static const char text[] = "[server]\nspool_dir = s\n"
	    "mail_dir = /abs/mail\ntls_cert = etc/cert.pem\n"
	    "tls_key = ../key.pem\n";
	char dir[] = "/tmp/test_config.XXXXXX", path[64], want[128];
	char err[4096], cwd[1024], longname[1024];
	struct conf *c;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/moat.conf", dir);
	write_file(path, text, strlen(text));
	/* from another directory, with a relative -c */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	c = conf_load(path + strlen("/tmp/"), err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	if (c == NULL)
		fail_msg("got \"%s\", want no error", err);
	assert_string_equal(c->path, path);
	snprintf(want, sizeof(want), "%s/s", dir);
	assert_string_equal(c->spool_dir, want);
	assert_string_equal(c->mail_dir, "/abs/mail");
	snprintf(want, sizeof(want), "%s/var/empty", dir);
	assert_string_equal(c->empty_dir, want);
	snprintf(want, sizeof(want), "%s/etc/cert.pem", dir);
	assert_string_equal(c->tls_cert, want);
	snprintf(want, sizeof(want), "%s/../key.pem", dir);
	assert_string_equal(c->tls_key, want);
	assert_string_equal(c->alert_command, "");
	conf_free(c);

	/* a reload in a child parses the text under the absolute path */
	c = conf_load_string("[server]\nspool_dir = s\n", path, err,
	    sizeof(err));
	assert_non_null(c);
	snprintf(want, sizeof(want), "%s/s", dir);
	assert_string_equal(c->spool_dir, want);
	conf_free(c);
	/* so are the paths of recipient tables */
	c = conf_load_string("[domains]\nlocal_domains = example.org\n"
	    "recipient_tables = example.org=t/users\n", path, err,
	    sizeof(err));
	assert_non_null(c);
	snprintf(want, sizeof(want), "example.org=%s/t/users", dir);
	assert_string_equal(c->recipient_tables[0], want);
	conf_free(c);
	/* a name that is no path leaves them alone */
	c = conf_load_string("[server]\nspool_dir = s\n", "t.conf", err,
	    sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->spool_dir, "s");
	conf_free(c);
	/* too long once resolved: an error at the line */
	longname[0] = '\0';
	for (int i = 0; i < 14; i++)
		strcat(longname, "/" L60);
	strcat(longname, "/moat.conf");
	c = conf_load_string("[server]\nspool_dir = " L60 "/" L60 "/" L60
	    "\n", longname, err, sizeof(err));
	assert_null(c);
	if (strstr(err, "moat.conf:2: spool_dir: ") == NULL ||
	    strstr(err, " is longer than 1023 characters") == NULL)
		fail_msg("got \"%s\"", err);
	unlink(path);
	rmdir(dir);
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL)
		fail_msg("%s: cannot open", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* every knob conf_print writes is in conf_print_doc, example, man page */
static void
test_docs(void **state)
{
	char err[256], name[64], *out, *doc = NULL, *example, *man;
	size_t doclen = 0, n;
	const char *p, *eq;
	struct conf *c = conf_load(NULL, err, sizeof(err));
	FILE *fp;
	int knobs = 0;

	assert_non_null(c);
	out = print_conf(c);
	fp = open_memstream(&doc, &doclen);
	assert_non_null(fp);
	conf_print_doc(fp);
	fclose(fp);
	example = slurp("moat.conf.example");
	man = slurp("man/moat.conf.5");
	for (p = out; *p != '\0'; p = strchr(p, '\n') + 1) {
		if ((eq = strstr(p, " =")) != NULL && eq < strchr(p, '\n') &&
		    *p != '\t') {
			n = (size_t)(eq - p);
			assert_true(n < sizeof(name));
			memcpy(name, p, n);
			name[n] = '\0';
			knobs++;
			snprintf(err, sizeof(err), "  %s (", name);
			if (strstr(doc, err) == NULL)
				fail_msg("conf_print_doc: got no %s, want it",
				    name);
			if (strstr(example, name) == NULL)
				fail_msg("moat.conf.example: got no %s, want "
				    "it", name);
			if (strstr(man, name) == NULL)
				fail_msg("moat.conf.5: got no %s, want it",
				    name);
		}
	}
	/* every knob printed was checked above; the table only grows */
	assert_true(knobs >= 31 + 8);
	for (int i = 0; i < LOG_CAT_COUNT; i++) {
		snprintf(name, sizeof(name), "%s = info",
		    log_cat_name((enum log_cat)i));
		if (!has_line(out, name))
			fail_msg("[log]: got no \"%s\", want it", name);
	}
	free(man);
	free(example);
	free(doc);
	free(out);
	conf_free(c);
}

/* conf_comment_cut: the one rule, for the parser and spool_dir alone */
static void
test_comment_cut(void **state)
{
	static const struct {
		const char	*line;
		size_t		 keep;
	} cuts[] = {
		{ "spool_dir = var/sp#ool", 22 },
		{ "spool_dir = var/sp;ool", 22 },
		{ "spool_dir = var/spool # the queue", 22 },
		{ "spool_dir = var/spool\t; the queue", 22 },
		{ "spool_dir = #", 12 },
		{ "#whole line", 11 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		assert_int_equal(conf_comment_cut(cuts[i].line,
		    strlen(cuts[i].line)), cuts[i].keep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_comment_cut),
		cmocka_unit_test(test_builtin),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_relay_table),
		cmocka_unit_test(test_mailboxes_nocap),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_docs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
