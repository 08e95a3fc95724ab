/*
 * test_console.c - the web console's pure parts: the allow-table and
 * the parameters of each operation into a checked ctl_req, the session
 * table (ids, CSRF tokens, idle time), the failed-login window, the
 * Cookie header, and the files built into the binary.
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
#include "console/console_session.h"

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
	console_sessions_init(t, 60, 3);
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

static void
test_login_window(void **state)
{
	struct console_sessions *t = calloc(1, sizeof(*t));
	uint8_t a[16] = { 0 }, b[16] = { 0 };

	assert_non_null(t);
	console_sessions_init(t, 60, 3);
	a[15] = 1;
	b[15] = 2;
	for (int i = 1; i <= 3; i++) {
		assert_true(console_login_allowed(t, a, 100));
		assert_int_equal(console_login_failed(t, a, 100), i);
	}
	assert_false(console_login_allowed(t, a, 200));
	assert_true(console_login_allowed(t, b, 200));
	/* the window passes */
	assert_true(console_login_allowed(t, a, 100 + CONSOLE_FAIL_WINDOW));
	/* many addresses: slots are reused, none is refused wrongly */
	for (int i = 0; i < CONSOLE_FAIL_SLOTS * 2; i++) {
		b[14] = (uint8_t)(i >> 8);
		b[15] = (uint8_t)i;
		assert_true(console_login_allowed(t, b, 5000 + i));
		(void)console_login_failed(t, b, 5000 + i);
	}
	free(t);
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
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_assets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
