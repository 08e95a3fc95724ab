/*
 * test_console.c - the web console's pure parts: the allow-table and
 * the parameters of each operation into a checked ctl_req, the session
 * table (ids, CSRF tokens, idle time), the failed-login window (per
 * client network, pending logins counted), the Cookie and Host headers,
 * and the files built into the binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <cmocka.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "console/console_api.h"
#include "console/console_assets.h"
#include "console/console_host.h"
#include "console/console_session.h"
#include "lib/cidr.h"

/* op NAME with the query string qs: 0 and q, or -1 and err */
static int
req(const char *name, const char *qs, struct ctl_req *q, char *err,
    size_t errlen)
{
	struct evkeyvalq kv;
	enum ctl_op op;
	int changes, rc;

	TAILQ_INIT(&kv);
	if ((op = console_api_op(name, &changes)) == CTL_OP_NONE) {
		snprintf(err, errlen, "not allowed");
		return -1;
	}
	if (evhttp_parse_query_str(qs, &kv) == -1) {
		snprintf(err, errlen, "query");
		return -1;
	}
	rc = console_api_req(op, &kv, q, err, errlen);
	evhttp_clear_headers(&kv);
	return rc;
}

static void
test_allow_table(void **state)
{
	static const char *const no[] = { "reload", "stop", "log_set",
	    "user_passwd", "console_passwd", "console_user_del", "user_del",
	    "user_forget", "", "SESSIONS", "sessions ", "../sessions" };
	int changes;

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_int_equal(console_api_op(no[i], &changes), CTL_OP_NONE);
	assert_int_equal(console_api_op("sessions", &changes), CTL_OP_SESSIONS);
	assert_int_equal(changes, 0);
	assert_int_equal(console_api_op("session_kill", &changes),
	    CTL_OP_SESSION_KILL);
	assert_int_equal(changes, 1);
	assert_int_equal(console_api_op("queue_act", &changes), CTL_OP_QUEUE_ACT);
	assert_int_equal(changes, 1);
	assert_int_equal(console_api_op("events", &changes), CTL_OP_EVENTS);
	assert_int_equal(changes, 0);
}

static void
test_params(void **state)
{
	struct ctl_req q;
	char err[256];

	assert_int_equal(req("events", "since=1h&type=auth_fail&ip=192.0.2.0%2F24"
	    "&user=alice&limit=50&after=7", &q, err, sizeof(err)), 0);
	assert_int_equal(q.op, CTL_OP_EVENTS);
	assert_int_equal(q.since, 3600);
	assert_string_equal(q.a, "auth_fail");
	assert_string_equal(q.b, "192.0.2.0/24");
	assert_string_equal(q.c, "alice");
	assert_int_equal(q.limit, 50);
	assert_int_equal(q.after, 7);

	assert_int_equal(req("session_kill", "id=00000000000000ff", &q, err,
	    sizeof(err)), 0);
	assert_int_equal(q.id, 255);
	assert_int_equal(req("queue_act", "action=hold&user=bob&dry_run=1&"
	    "state=queued,deferred", &q, err, sizeof(err)), 0);
	assert_int_equal(q.action, CTL_ACT_HOLD);
	assert_int_equal(q.flag, 1);
	assert_string_equal(q.filter.user, "bob");
	assert_int_not_equal(q.filter.states, 0);
	assert_int_equal(req("user_state", "user=alice&state=held&reason=x+y",
	    &q, err, sizeof(err)), 0);
	assert_int_equal(q.state, CTL_USER_HELD);
	assert_string_equal(q.b, "x y");
	assert_int_equal(req("ban_add", "cidr=198.51.100.0%2F24&for=7d", &q,
	    err, sizeof(err)), 0);
	assert_int_equal(q.duration, 7 * 86400);
	assert_int_equal(req("sessions", "", &q, err, sizeof(err)), 0);
}

static void
test_params_refused(void **state)
{
	static const struct { const char *op, *qs; } bad[] = {
		{ "events", "bogus=1" },		/* not its parameter */
		{ "events", "since=1h&since=2h" },	/* twice */
		{ "events", "since=soon" },
		{ "events", "ip=not-a-cidr" },		/* ctl_req_decode */
		{ "events", "limit=-1" },
		{ "events", "limit=99999999999" },
		{ "events", "after=1x" },
		{ "events", "type=a%01b" },		/* control character */
		{ "sessions", "id=1" },			/* takes nothing */
		{ "session_kill", "" },			/* one of id, ip, user */
		{ "session_kill", "id=zz" },
		{ "session_kill", "id=1&user=bob" },
		{ "queue_act", "action=explode&all=1" },
		{ "queue_act", "action=delete&all=1&user=bob" },
		{ "queue_act", "action=hold&dry_run=maybe&user=bob" },
		{ "queue_list", "state=nonsense" },
		{ "queue_show", "qid=not-hex" },
		{ "user_state", "user=alice&state=gone" },
		{ "ban_add", "cidr=300.1.1.1" },
	};
	struct ctl_req q;
	char err[256], longv[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (req(bad[i].op, bad[i].qs, &q, err, sizeof(err)) == 0)
			fail_msg("%s?%s: got accepted, want refused", bad[i].op,
			    bad[i].qs);
		assert_true(err[0] != '\0');
	}
	memcpy(longv, "user=", 5);
	memset(longv + 5, 'a', 300);
	longv[305] = '\0';
	assert_int_equal(req("user_state", longv, &q, err, sizeof(err)), -1);
}

static void
test_sessions(void **state)
{
	struct console_sessions *t = calloc(1, sizeof(*t));
	struct console_session *s, *s2;
	char id[CONSOLE_TOKEN_LEN + 1], csrf[CONSOLE_TOKEN_LEN + 1];

	assert_non_null(t);
	assert_true(sodium_init() >= 0);
	console_sessions_init(t, 60, 3, 32, 64);
	s = console_session_new(t, "admin", 1000);
	assert_non_null(s);
	assert_int_equal(strlen(s->id), CONSOLE_TOKEN_LEN);
	assert_int_equal(strlen(s->csrf), CONSOLE_TOKEN_LEN);
	assert_string_not_equal(s->id, s->csrf);
	strcpy(id, s->id);
	strcpy(csrf, s->csrf);
	s2 = console_session_new(t, "other", 1000);
	assert_string_not_equal(s2->id, id);
	assert_ptr_equal(console_session_find(t, id, 1030), s);
	assert_true(console_csrf_ok(s, csrf));
	assert_false(console_csrf_ok(s, id));
	assert_false(console_csrf_ok(s, NULL));
	assert_false(console_csrf_ok(s, ""));
	id[0] ^= 1;
	assert_null(console_session_find(t, id, 1030));
	id[0] ^= 1;
	assert_null(console_session_find(t, NULL, 1030));
	assert_null(console_session_find(t, "short", 1030));
	/* touched at 1030: alive at 1090, gone after 60 s more */
	assert_non_null(console_session_find(t, id, 1090));
	assert_null(console_session_find(t, id, 1151));
	assert_null(console_session_find(t, id, 1152));
	/* logout */
	s = console_session_new(t, "admin", 2000);
	strcpy(id, s->id);
	console_session_end(s);
	assert_null(console_session_find(t, id, 2000));
	/* a full table: the least recently used goes */
	for (int i = 0; i < CONSOLE_SESSIONS_MAX + 5; i++)
		assert_non_null(console_session_new(t, "x", 3000 + i));
	free(t);
}

/* one wrong password from addr at now: begun and answered */
static int
fail_once(struct console_sessions *t, const uint8_t *addr, time_t now)
{
	if (!console_login_begin(t, addr, now))
		return -1;
	return console_login_end(t, addr, 1, now);
}

static void
test_login_window(void **state)
{
	struct console_sessions *t = calloc(1, sizeof(*t));
	uint8_t a[16], b[16];

	assert_non_null(t);
	console_sessions_init(t, 60, 3, 32, 64);
	assert_int_equal(cidr_addr_parse("2001:db8:1:2::1", a), 0);
	assert_int_equal(cidr_addr_parse("2001:db8:1:3::1", b), 0);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(fail_once(t, a, 100), i);
	assert_false(console_login_begin(t, a, 200));
	assert_true(console_login_begin(t, b, 200));
	assert_int_equal(console_login_end(t, b, 0, 200), 0);
	/* the window passes */
	assert_true(console_login_begin(t, a, 100 + CONSOLE_FAIL_WINDOW));
	assert_int_equal(console_login_end(t, a, 0, 100 + CONSOLE_FAIL_WINDOW),
	    0);
	/* many networks: slots are reused, none is refused wrongly */
	for (int i = 0; i < CONSOLE_FAIL_SLOTS * 2; i++) {
		b[6] = (uint8_t)(i >> 8);
		b[7] = (uint8_t)i;
		assert_int_equal(fail_once(t, b, 5000 + i), 1);
	}
	free(t);
}

/* logins waiting for auth count: parallel guesses cannot pass together */
static void
test_login_pending(void **state)
{
	struct console_sessions *t = calloc(1, sizeof(*t));
	uint8_t a[16];

	assert_non_null(t);
	console_sessions_init(t, 60, 3, 32, 64);
	assert_int_equal(cidr_addr_parse("127.0.0.1", a), 0);
	for (int i = 0; i < 3; i++)
		assert_true(console_login_begin(t, a, 100));
	assert_false(console_login_begin(t, a, 100));
	/* a right password gives its place back */
	assert_int_equal(console_login_end(t, a, 0, 101), 0);
	assert_true(console_login_begin(t, a, 101));
	assert_int_equal(console_login_end(t, a, 1, 102), 1);
	assert_int_equal(console_login_end(t, a, 1, 102), 2);
	assert_false(console_login_begin(t, a, 102));
	assert_int_equal(console_login_end(t, a, 1, 103), 3);
	assert_false(console_login_begin(t, a, 103));
	/* a full table never drops a network with a login pending */
	for (int i = 0; i < CONSOLE_FAIL_SLOTS * 2; i++) {
		uint8_t b[16];

		assert_int_equal(cidr_addr_parse("10.0.0.0", b), 0);
		b[14] = (uint8_t)(i >> 8);
		b[15] = (uint8_t)i;
		if (i == 0)
			assert_true(console_login_begin(t, b, 200));
		else
			(void)fail_once(t, b, 200 + i);
	}
	assert_int_equal(cidr_addr_parse("10.0.0.0", a), 0);
	for (int i = 0; i < 2; i++)
		assert_true(console_login_begin(t, a, 1000));
	assert_false(console_login_begin(t, a, 1000));
	free(t);
}

/* the unit of counting: an IPv4 address, an IPv6 /64 */
static void
test_login_networks(void **state)
{
	static const struct {
		const char	*a, *b;
		int		 same;
	} tab[] = {
		{ "2001:db8:0:1::1", "2001:db8:0:1:ffff:ffff:ffff:ffff", 1 },
		{ "2001:db8:0:1::1", "2001:db8:0:2::1", 0 },
		{ "::1", "::2", 1 },
		{ "192.0.2.1", "192.0.2.2", 0 },
		{ "192.0.2.1", "192.0.2.1", 1 },
		/* IPv4 is never lumped into the /64 of ::ffff:0:0 */
		{ "192.0.2.1", "198.51.100.1", 0 },
		{ "192.0.2.1", "::ffff:c000:201", 1 },
	};
	struct console_sessions *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		uint8_t a[16], b[16], ka[16], kb[16];
		int got;

		assert_int_equal(cidr_addr_parse(tab[i].a, a), 0);
		assert_int_equal(cidr_addr_parse(tab[i].b, b), 0);
		console_client_key(a, 32, 64, ka);
		console_client_key(b, 32, 64, kb);
		got = memcmp(ka, kb, 16) == 0;
		if (got != tab[i].same)
			fail_msg("%s and %s: got same=%d, want %d", tab[i].a,
			    tab[i].b, got, tab[i].same);
		/* the same through the budget: b is refused after a's */
		console_sessions_init(t, 60, 2, 32, 64);
		(void)fail_once(t, a, 100);
		(void)fail_once(t, a, 100);
		if (console_login_begin(t, b, 100) == tab[i].same)
			fail_msg("%s after %s: got begin=%d", tab[i].b,
			    tab[i].a, !tab[i].same);
	}
	/* client_prefix_v6 = 128: every IPv6 address alone */
	{
		uint8_t a[16], b[16], ka[16], kb[16];

		assert_int_equal(cidr_addr_parse("2001:db8::1", a), 0);
		assert_int_equal(cidr_addr_parse("2001:db8::2", b), 0);
		console_client_key(a, 32, 128, ka);
		console_client_key(b, 32, 128, kb);
		assert_memory_not_equal(ka, kb, 16);
		console_client_key(a, 32, 48, ka);
		console_client_key(b, 32, 48, kb);
		assert_memory_equal(ka, kb, 16);
	}
	free(t);
}

/* Host: the listener's address, localhost, console_hostnames, a port */
static void
test_host(void **state)
{
	static char *names[] = { "console.example.org", "192.0.2.7",
	    "2001:db8::7" };
	static const struct {
		const char	*host, *addr;
		int		 ok;
	} tab[] = {
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1:8025", "127.0.0.1", 1 },
		{ "127.0.0.1:", "127.0.0.1", 0 },
		{ "127.0.0.1:123456", "127.0.0.1", 0 },
		{ "127.0.0.1:80:80", "127.0.0.1", 0 },
		{ "127.0.0.1:8o", "127.0.0.1", 0 },
		{ "127.000.0.1", "127.0.0.1", 0 },
		{ "127.0.0.2", "127.0.0.1", 0 },
		{ "127.1", "127.0.0.1", 0 },
		{ "localhost", "127.0.0.1", 1 },
		{ "LOCALHOST:8025", "127.0.0.1", 1 },
		{ "localhost.", "127.0.0.1", 0 },
		{ "localhost.rebind.example", "127.0.0.1", 0 },
		{ "rebind.example", "127.0.0.1", 0 },
		{ "console.example.org", "127.0.0.1", 1 },
		{ "Console.Example.Org:443", "127.0.0.1", 1 },
		{ "console.example.org.rebind.example", "127.0.0.1", 0 },
		{ "192.0.2.7:8443", "127.0.0.1", 1 },
		{ "[::1]", "::1", 1 },
		{ "[::1]:8025", "::1", 1 },
		{ "[0:0::1]:8025", "::1", 1 },
		{ "[::1]8025", "::1", 0 },
		{ "[::1", "::1", 0 },
		{ "::1", "::1", 0 },
		{ "[::1]", "127.0.0.1", 0 },
		{ "[::ffff:127.0.0.1]", "127.0.0.1", 0 },
		{ "[2001:db8::7]:443", "::1", 1 },
		{ "[console.example.org]", "::1", 0 },
		{ "", "127.0.0.1", 0 },
		{ ":8025", "127.0.0.1", 0 },
		{ NULL, "127.0.0.1", 0 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		int got = console_host_ok(tab[i].host, tab[i].addr, names, 3);

		if (got != tab[i].ok)
			fail_msg("Host %s on %s: got %d, want %d",
			    tab[i].host ? tab[i].host : "(none)", tab[i].addr,
			    got, tab[i].ok);
	}
	/* no names: only the address and localhost */
	assert_false(console_host_ok("console.example.org", "127.0.0.1",
	    NULL, 0));
	assert_true(console_host_ok("localhost", "192.0.2.10", NULL, 0));
}

static void
test_cookie(void **state)
{
	char buf[50];

	assert_string_equal(console_cookie_value("moat_console=abc", "moat_console",
	    buf, sizeof(buf)), "abc");
	assert_string_equal(console_cookie_value("a=1; moat_console=xyz; b=2",
	    "moat_console", buf, sizeof(buf)), "xyz");
	assert_null(console_cookie_value("xmoat_console=abc", "moat_console",
	    buf, sizeof(buf)));
	assert_null(console_cookie_value("moat_consolex=abc", "moat_console",
	    buf, sizeof(buf)));
	assert_null(console_cookie_value(NULL, "moat_console", buf,
	    sizeof(buf)));
	assert_null(console_cookie_value("moat_console=" "0123456789"
	    "0123456789012345678901234567890123456789", "moat_console", buf,
	    sizeof(buf)));
	assert_string_equal(console_cookie_value("moat_console=", "moat_console",
	    buf, sizeof(buf)), "");
}

static void
test_assets(void **state)
{
	const struct console_asset *a = console_asset_find("/");

	assert_non_null(a);
	assert_string_equal(a->path, "/index.html");
	assert_true(a->end > a->start);
	assert_non_null(strstr((const char *)a->start, "/app.js"));
	assert_non_null(console_asset_find("/app.js"));
	assert_non_null(console_asset_find("/pages/sessions.js"));
	assert_null(console_asset_find("/index.htm"));
	assert_null(console_asset_find("/../moat.conf"));
	assert_null(console_asset_find(""));
	assert_string_equal(console_asset_type("/app.js"),
	    "text/javascript; charset=utf-8");
	assert_string_equal(console_asset_type("/index.html"),
	    "text/html; charset=utf-8");
	assert_string_equal(console_asset_type("/style.css"),
	    "text/css; charset=utf-8");
	assert_string_equal(console_asset_type("/x"), "application/octet-stream");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_table),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_params_refused),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_login_window),
		cmocka_unit_test(test_login_pending),
		cmocka_unit_test(test_login_networks),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_assets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
