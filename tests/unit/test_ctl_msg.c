/*
 * test_ctl_msg.c - control requests and answers: encoding and decoding,
 * the checks on every argument, filter option parsing (durations,
 * CIDRs, states), human formats, the access rule and the metrics
 * listener's address check and text format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "control/control.h"
#include "control/control_http.h"
#include "ctl/ctl_cli.h"
#include "ctl/ctl_msg.h"
#include "io/ipc.h"

static void
test_duration(void **state)
{
	static const struct { const char *in; int64_t want; } ok[] = {
		{ "90", 90 }, { "45s", 45 }, { "30m", 1800 }, { "1h", 3600 },
		{ "7d", 604800 }, { "2w", 1209600 }, { "1h30m", 5400 },
		{ "1d1s", 86401 },
	};
	static const char *const bad[] = { "", "0", "-1", "1x", "h", "1.5h",
	    "99999999999d", "1h-", " 1h" };
	int64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ctl_duration_parse(ok[i].in, &v) != 0 || v != ok[i].want)
			fail_msg("duration %s: got %lld, want %lld", ok[i].in,
			    (long long)v, (long long)ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctl_duration_parse(bad[i], &v) != -1)
			fail_msg("duration '%s': got accepted, want refused", bad[i]);
}

static void
test_formats(void **state)
{
	static const struct { int64_t s; const char *want; } dur[] = {
		{ 0, "0s" }, { 7, "7s" }, { 65, "1m5s" }, { 3600, "1h" },
		{ 3725, "1h2m" }, { 90061, "1d1h" }, { -5, "0s" },
	};
	static const struct { int64_t b; const char *want; } size[] = {
		{ 0, "0B" }, { 1023, "1023B" }, { 1536, "1.5K" },
		{ 10 * 1024 * 1024, "10.0M" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
		ctl_duration_format(dur[i].s, buf, sizeof(buf));
		if (strcmp(buf, dur[i].want) != 0)
			fail_msg("format %lld: got %s, want %s",
			    (long long)dur[i].s, buf, dur[i].want);
	}
	for (size_t i = 0; i < sizeof(size) / sizeof(size[0]); i++) {
		ctl_size_format(size[i].b, buf, sizeof(buf));
		if (strcmp(buf, size[i].want) != 0)
			fail_msg("size %lld: got %s, want %s",
			    (long long)size[i].b, buf, size[i].want);
	}
}

static void
test_states(void **state)
{
	uint32_t m;

	assert_int_equal(ctl_state_mask("queued", &m), 0);
	assert_int_equal(m, 1);
	assert_int_equal(ctl_state_mask("held,failed", &m), 0);
	assert_int_equal(m, (1 << 2) | (1 << 4));
	assert_int_equal(ctl_state_mask("Deferred, queued", &m), 0);
	assert_int_equal(m, 3);
	assert_int_equal(ctl_state_mask("bogus", &m), -1);
	assert_int_equal(ctl_state_mask("", &m), -1);
	assert_int_equal(ctl_state_mask(",", &m), -1);
	assert_string_equal(ctl_state_name(3), "delivered");
	assert_int_equal(ctl_action_from_name("bounce"), CTL_ACT_BOUNCE);
	assert_int_equal(ctl_action_from_name("purge"), -1);
	assert_int_equal(ctl_action_from_name("requeue"), CTL_ACT_REQUEUE);
	assert_int_equal(ctl_action_from_name("reinject"), CTL_ACT_REINJECT);
	assert_int_equal(ctl_user_state_from_name("suspended"),
	    CTL_USER_SUSPENDED);
}

/* filter options as the CLI parses them */
static void
test_filter_options(void **state)
{
	static const struct {
		const char *argv[3];
		int argc, want;
	} cases[] = {
		{ { "--from", "a@b.example" }, 2, 1 },
		{ { "--to-domain", "b.example" }, 2, 1 },
		{ { "--client-ip", "192.0.2.0/24" }, 2, 1 },
		{ { "--client-ip", "2001:db8::/32" }, 2, 1 },
		{ { "--client-ip", "192.0.2.1/24" }, 2, -1 },	/* host bits */
		{ { "--client-ip", "nope" }, 2, -1 },
		{ { "--older-than", "7d" }, 2, 1 },
		{ { "--newer-than", "1x" }, 2, -1 },
		{ { "--state", "held" }, 2, 1 },
		{ { "--state", "lost" }, 2, -1 },
		{ { "--from" }, 1, -1 },			/* no value */
		{ { "--all" }, 1, 1 },
		{ { "--dead" }, 1, 1 },
		{ { "--dry-run" }, 1, 0 },			/* not a filter */
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctl_filter f;
		int idx = 0, got;

		memset(&f, 0, sizeof(f));
		got = ctl_filter_option(cases[i].argc, (char **)cases[i].argv,
		    &idx, &f, err, sizeof(err));
		if (got != cases[i].want)
			fail_msg("%s %s: got %d, want %d", cases[i].argv[0],
			    cases[i].argv[1] ? cases[i].argv[1] : "", got,
			    cases[i].want);
	}
	{
		struct ctl_filter f;
		char *av[] = { "--older-than", "1h30m" };
		int idx = 0;

		memset(&f, 0, sizeof(f));
		assert_int_equal(ctl_filter_option(2, av, &idx, &f, err,
		    sizeof(err)), 1);
		assert_int_equal(idx, 1);
		assert_int_equal(f.older_than, 5400);
		assert_false(ctl_filter_empty(&f));
	}
}

/* encode r, decode it back: 0 and the same request, or -1 and err */
static int
roundtrip(const struct ctl_req *r, struct ctl_req *out, char *err,
    size_t errlen)
{
	struct ipc_msg m;
	struct ipc_reader rd;
	size_t len;
	int rc;

	ipc_msg_init(&m, 0, 0);
	ctl_req_encode(r, &m);
	len = evbuffer_get_length(m.buf);
	rd.p = evbuffer_pullup(m.buf, -1);
	rd.left = len;
	rd.err = 0;
	rc = ctl_req_decode(r->op, &rd, out, err, errlen);
	ipc_msg_discard(&m);
	return rc;
}

static void
test_request_roundtrip(void **state)
{
	struct ctl_req r, got;
	char err[256];

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_ACT;
	r.action = CTL_ACT_HOLD;
	r.flag = 1;
	snprintf(r.filter.user, sizeof(r.filter.user), "alice");
	snprintf(r.filter.client, sizeof(r.filter.client), "10.0.0.0/8");
	r.filter.older_than = 3600;
	r.filter.states = 3;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_int_equal(got.action, CTL_ACT_HOLD);
	assert_int_equal(got.flag, 1);
	assert_string_equal(got.filter.user, "alice");
	assert_string_equal(got.filter.client, "10.0.0.0/8");
	assert_int_equal(got.filter.older_than, 3600);
	assert_int_equal(got.filter.states, 3);

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_EVENTS;
	r.since = 3600;
	snprintf(r.a, sizeof(r.a), "auth_fail");
	snprintf(r.b, sizeof(r.b), "::1");
	r.limit = 5;
	r.after = 42;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_string_equal(got.a, "auth_fail");
	assert_int_equal(got.after, 42);

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_BAN_ADD;
	snprintf(r.a, sizeof(r.a), "192.0.2.0/24");
	r.duration = 604800;
	snprintf(r.b, sizeof(r.b), "brute force");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_int_equal(got.duration, 604800);

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_LOG_SET;
	r.cat = 0;
	r.level = 4;
	r.duration = 2;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_int_equal(got.level, 4);

	/* an address with a quoted local part; "" for every address */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_VERIFY_FLUSH;
	snprintf(r.a, sizeof(r.a), "\"john doe\"@corp.example");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_string_equal(got.a, "\"john doe\"@corp.example");
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_VERIFY_LIST;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_string_equal(got.a, "");
	assert_string_equal(ctl_op_name(CTL_OP_VERIFY_FLUSH), "verify_flush");
	assert_int_equal(ctl_op_changes(CTL_OP_VERIFY_FLUSH), 1);
	assert_int_equal(ctl_op_changes(CTL_OP_VERIFY_LIST), 0);
}

/* requests that must be refused, each with the reason's first words */
static void
test_request_refused(void **state)
{
	struct ctl_req r, got;
	char err[256];

	/* a control character in an address */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_VERIFY_LIST;
	snprintf(r.a, sizeof(r.a), "a\r\n@corp.example");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character"));

	/* an action with no filter at all */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_ACT;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no filter"));
	/* --all with another filter */
	r.filter.flags = CTL_FILTER_ALL;
	snprintf(r.filter.user, sizeof(r.filter.user), "bob");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--all"));
	/* a bad CIDR, a control character, an unknown action */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_LIST;
	snprintf(r.filter.client, sizeof(r.filter.client), "300.1.2.3/8");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_LIST;
	snprintf(r.filter.from, sizeof(r.filter.from), "a\nb@c");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character"));
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_ACT;
	r.action = CTL_ACT_COUNT;
	r.filter.flags = CTL_FILTER_ALL;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	/* kill needs exactly one selector */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_SESSION_KILL;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	r.id = 5;
	snprintf(r.b, sizeof(r.b), "alice");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	/* log: category out of range; user state out of range */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_LOG_SET;
	r.cat = 200;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_USER_STATE;
	snprintf(r.a, sizeof(r.a), "alice");
	r.state = 9;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	/* user passwd: nothing that could add or split a users file line */
	{
		static const struct {
			const char *user, *hash;
			int rc;
		} pw[] = {
			{ "alice", "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", 0 },
			{ "a@b.example", "$argon2id$v=19$x", 0 },
			{ "", "$argon2id$v=19$x", -1 },
			{ "eve:x", "$argon2id$v=19$x", -1 },
			{ "eve x", "$argon2id$v=19$x", -1 },
			{ "eve", "$argon2i$v=19$x", -1 },
			{ "eve", "plaintext", -1 },
			{ "eve", "$argon2id$v=19$x\nmallory:$argon2id$y", -1 },
			{ "eve", "$argon2id$a:b", -1 },
		};

		for (size_t i = 0; i < sizeof(pw) / sizeof(pw[0]); i++) {
			memset(&r, 0, sizeof(r));
			r.op = CTL_OP_USER_PASSWD;
			snprintf(r.a, sizeof(r.a), "%s", pw[i].user);
			snprintf(r.b, sizeof(r.b), "%s", pw[i].hash);
			if (roundtrip(&r, &got, err, sizeof(err)) != pw[i].rc)
				fail_msg("passwd %zu (%s): got %d, want %d", i,
				    pw[i].user, -pw[i].rc - 1, pw[i].rc);
		}
	}
	/* pause/resume: a domain or "*", nothing that is not a name */
	{
		static const struct {
			const char *dest;
			int rc;
		} pd[] = {
			{ "example.com", 0 }, { "*", 0 }, { "", -1 },
			{ "a b.example", -1 }, { "a@b.example", -1 },
			{ "*.example", -1 }, { "x/y", -1 },
		};

		for (size_t i = 0; i < sizeof(pd) / sizeof(pd[0]); i++) {
			memset(&r, 0, sizeof(r));
			r.op = i % 2 ? CTL_OP_QUEUE_RESUME : CTL_OP_QUEUE_PAUSE;
			snprintf(r.a, sizeof(r.a), "%s", pd[i].dest);
			snprintf(r.b, sizeof(r.b), "why");
			if (roundtrip(&r, &got, err, sizeof(err)) != pd[i].rc)
				fail_msg("pause %zu (%s): want %d", i, pd[i].dest,
				    pd[i].rc);
		}
		memset(&r, 0, sizeof(r));
		r.op = CTL_OP_QUEUE_PAUSE;
		snprintf(r.a, sizeof(r.a), "example.com");
		snprintf(r.b, sizeof(r.b), "moving");
		assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
		assert_string_equal(got.b, "moving");
	}
	/* --all with --dead: every dead letter; with another filter: no */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_QUEUE_ACT;
	r.action = CTL_ACT_REINJECT;
	r.filter.flags = CTL_FILTER_ALL | CTL_FILTER_DEAD;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	snprintf(r.filter.to, sizeof(r.filter.to), "a@b.example");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	/* an unknown operation */
	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_COUNT;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
}

/* bytes left over, a short frame, an oversized string */
static void
test_request_malformed(void **state)
{
	struct ctl_req got;
	struct ipc_msg m;
	struct ipc_reader rd;
	char err[256], big[CTL_STR_MAX + 10];

	ipc_msg_init(&m, 0, 0);
	ipc_put_u8(&m, 1);		/* SESSIONS takes no argument */
	rd.p = evbuffer_pullup(m.buf, -1);
	rd.left = 1;
	rd.err = 0;
	assert_int_equal(ctl_req_decode(CTL_OP_SESSIONS, &rd, &got, err,
	    sizeof(err)), -1);
	ipc_msg_discard(&m);

	ipc_msg_init(&m, 0, 0);
	ipc_put_str(&m, "192.0.2.0/24");	/* BAN_ADD without the rest */
	rd.p = evbuffer_pullup(m.buf, -1);
	rd.left = evbuffer_get_length(m.buf);
	rd.err = 0;
	assert_int_equal(ctl_req_decode(CTL_OP_BAN_ADD, &rd, &got, err,
	    sizeof(err)), -1);
	ipc_msg_discard(&m);

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ipc_msg_init(&m, 0, 0);
	ipc_put_str(&m, big);
	rd.p = evbuffer_pullup(m.buf, -1);
	rd.left = evbuffer_get_length(m.buf);
	rd.err = 0;
	assert_int_equal(ctl_req_decode(CTL_OP_BAN_DEL, &rd, &got, err,
	    sizeof(err)), -1);
	ipc_msg_discard(&m);
}

static void
test_answer(void **state)
{
	static const char *const names[] = { "name", "n" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR, CTL_KIND_INT };
	struct ipc_msg m;
	struct ctl_answer a;
	const struct ctl_table *t;
	size_t len;

	ipc_msg_init(&m, 0, 0);
	ctl_ans_begin(&m, CTL_OK, "two rows");
	ctl_ans_table(&m, "t", 2, names, kinds);
	ctl_ans_row(&m);
	ipc_put_str(&m, "x");
	ipc_put_i64(&m, -7);
	ctl_ans_row(&m);
	ipc_put_str(&m, "y");
	ipc_put_i64(&m, 1LL << 40);
	ctl_ans_end(&m);
	len = evbuffer_get_length(m.buf);
	assert_int_equal(ctl_answer_decode(evbuffer_pullup(m.buf, -1), len, &a),
	    0);
	assert_string_equal(a.message, "two rows");
	assert_non_null(t = ctl_table_find(&a, "t"));
	assert_int_equal(t->nrows, 2);
	assert_string_equal(t->cells[2].s, "y");
	assert_int_equal(t->cells[3].i, 1LL << 40);
	assert_int_equal(ctl_table_col(t, "n"), 1);
	ctl_answer_free(&a);
	/* every truncation of it is refused */
	for (size_t cut = 0; cut < len; cut++)
		if (ctl_answer_decode(evbuffer_pullup(m.buf, -1), cut, &a) != -1)
			fail_msg("answer cut at %zu: got accepted", cut);
	ipc_msg_discard(&m);
}

static void
test_peer_allowed(void **state)
{
	gid_t groups[] = { 10, 20 };
	static const struct {
		uid_t uid; gid_t gid; size_t ngroups; long admin, duid, dgid;
		int want;
	} cases[] = {
		{ 0, 0, 0, -1, -1, -1, 1 },		/* root */
		{ 0, 995, 0, -1, 995, 995, 1 },		/* root, any group */
		{ 1000, 1000, 0, -1, -1, -1, 0 },	/* no admin group */
		{ 1000, 999, 0, 999, -1, -1, 1 },	/* primary admin */
		{ 1000, 1000, 2, 20, -1, -1, 1 },	/* supplementary */
		{ 1000, 1000, 2, 30, -1, -1, 0 },
		{ 65534, 65534, 0, 0, -1, -1, 0 },
		/* the daemon's user and group are never admins */
		{ 995, 20, 0, 20, 995, 995, 0 },
		{ 995, 995, 2, 20, 995, 995, 0 },
		{ 1000, 995, 2, 20, 995, 995, 0 },
		{ 1000, 1000, 2, 20, 995, 995, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct control_access a = { cases[i].admin, cases[i].duid,
		    cases[i].dgid };
		int got = control_peer_allowed(cases[i].uid, cases[i].gid,
		    cases[i].ngroups ? groups : NULL, cases[i].ngroups, &a);

		if (got != cases[i].want)
			fail_msg("case %zu: uid %ld gid %ld: got %d, want %d", i,
			    (long)cases[i].uid, (long)cases[i].gid, got,
			    cases[i].want);
	}
}

static void
test_metrics_listen(void **state)
{
	static const struct {
		const char *in;
		int ok, port, loopback;
	} cases[] = {
		{ "127.0.0.1:9187", 1, 9187, 1 }, { "127.1.2.3:1", 1, 1, 1 },
		{ "[::1]:9187", 1, 9187, 1 }, { "0.0.0.0:9187", 1, 9187, 0 },
		{ "192.0.2.1:80", 1, 80, 0 }, { "[::]:9187", 1, 9187, 0 },
		{ "127.0.0.1", 0, 0, 0 }, { "127.0.0.1:0", 0, 0, 0 },
		{ "127.0.0.1:65536", 0, 0, 0 }, { "localhost:9187", 0, 0, 0 },
		{ "[::1]9187", 0, 0, 0 },
	};
	char addr[64];
	int port, loopback;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = control_http_parse_listen(cases[i].in, addr,
		    sizeof(addr), &port, &loopback) == 0;

		if (got != cases[i].ok || (got && (port != cases[i].port ||
		    loopback != cases[i].loopback)))
			fail_msg("%s: got %d, want %d", cases[i].in, got,
			    cases[i].ok);
	}
}

static void
test_prometheus(void **state)
{
	static const char *const names[] = { "name", "labels", "value" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
	    CTL_KIND_INT };
	struct ipc_msg m;
	struct ctl_answer a;
	struct evbuffer *out = evbuffer_new();
	char *text;
	size_t n;

	ipc_msg_init(&m, 0, 0);
	ctl_ans_begin(&m, CTL_OK, "");
	ctl_ans_table(&m, "stats", 3, names, kinds);
	ctl_ans_row(&m);
	ipc_put_str(&m, "queue_recipients");
	ipc_put_str(&m, "state=\"held\"");
	ipc_put_i64(&m, 5);
	ctl_ans_row(&m);
	ipc_put_str(&m, "delivery_latency_seconds_sum");	/* parts out of */
	ipc_put_str(&m, "");					/* order */
	ipc_put_i64(&m, 7);
	ctl_ans_row(&m);
	ipc_put_str(&m, "auth_attempts_total");
	ipc_put_str(&m, "result=\"failure\"");
	ipc_put_i64(&m, 2);
	ctl_ans_row(&m);
	ipc_put_str(&m, "delivery_latency_seconds_bucket");
	ipc_put_str(&m, "le=\"1\"");
	ipc_put_i64(&m, 3);
	ctl_ans_row(&m);
	ipc_put_str(&m, "delivery_latency_seconds_count");
	ipc_put_str(&m, "");
	ipc_put_i64(&m, 3);
	ctl_ans_row(&m);
	ipc_put_str(&m, "queue_recipients");	/* a family comes out whole */
	ipc_put_str(&m, "state=\"queued\"");
	ipc_put_i64(&m, 6);
	ctl_ans_row(&m);
	ipc_put_str(&m, "no_such_family");	/* not published */
	ipc_put_str(&m, "");
	ipc_put_i64(&m, 1);
	ctl_ans_row(&m);
	ipc_put_str(&m, "bad name!");		/* skipped, never printed */
	ipc_put_str(&m, "");
	ipc_put_i64(&m, 1);
	ctl_ans_end(&m);
	assert_int_equal(ctl_answer_decode(evbuffer_pullup(m.buf, -1),
	    evbuffer_get_length(m.buf), &a), 0);
	assert_int_equal(control_http_render(&a, out), 0);
	n = evbuffer_get_length(out);
	text = calloc(1, n + 1);
	evbuffer_copyout(out, text, n);
	assert_string_equal(text,
	    "# HELP moat_auth_attempts_total AUTH attempts since start, by "
	    "result.\n"
	    "# TYPE moat_auth_attempts_total counter\n"
	    "moat_auth_attempts_total{result=\"failure\"} 2\n"
	    "# HELP moat_delivery_latency_seconds Arrival to delivery per "
	    "recipient delivered, since start (arrival in whole seconds).\n"
	    "# TYPE moat_delivery_latency_seconds histogram\n"
	    "moat_delivery_latency_seconds_bucket{le=\"1\"} 3\n"
	    "moat_delivery_latency_seconds_sum 7\n"
	    "moat_delivery_latency_seconds_count 3\n"
	    "# HELP moat_queue_recipients Recipients in the queue, by state.\n"
	    "# TYPE moat_queue_recipients gauge\n"
	    "moat_queue_recipients{state=\"held\"} 5\n"
	    "moat_queue_recipients{state=\"queued\"} 6\n");
	free(text);
	evbuffer_free(out);
	ctl_answer_free(&a);
	ipc_msg_discard(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_filter_options),
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_peer_allowed),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test(test_prometheus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
