/*
 * test_incident.c - the pure parts of `moat incident`: the names of
 * incidents and their request, the log line filter of the export, and
 * the summary written from an incident answer (counts, held, left,
 * bans, next steps, quoting of hostile names, control characters).
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

#include "ctl/ctl_msg.h"
#include "ctl/incident_export.h"
#include "ctl/incident_summary.h"
#include "io/ipc.h"
#include "lib/cidr.h"

static void
test_incident_id(void **state)
{
	static const struct {
		const char	*id;
		int		 ok;
		const char	*kind, *value;
	} cases[] = {
		{ "user:alice", 0, "user", "alice" },
		{ "user:alice@example.org", 0, "user", "alice@example.org" },
		{ "client:192.0.2.7", 0, "client", "192.0.2.7" },
		{ "client:2001:db8::/64", 0, "client", "2001:db8::/64" },
		{ "user:", -1, NULL, NULL },
		{ "user:a b", -1, NULL, NULL },
		{ "client:", -1, NULL, NULL },
		{ "client:not-an-address", -1, NULL, NULL },
		{ "client:10.0.0.0/33", -1, NULL, NULL },
		{ "alice", -1, NULL, NULL },
		{ "", -1, NULL, NULL },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *kind = NULL, *value = NULL;
		int rc = ctl_incident_id(cases[i].id, &kind, &value, err,
		    sizeof(err));

		if (rc != cases[i].ok)
			fail_msg("%s: got %d, want %d", cases[i].id, rc,
			    cases[i].ok);
		if (rc == 0 && (strcmp(kind, cases[i].kind) != 0 ||
		    strcmp(value, cases[i].value) != 0))
			fail_msg("%s: got %s %s", cases[i].id, kind, value);
	}
}

static int
roundtrip(const struct ctl_req *r, struct ctl_req *got, char *err, size_t len)
{
	struct ipc_msg m;
	struct ipc_reader rd;
	int rc;

	ipc_msg_init(&m, 0, 0);
	ctl_req_encode(r, &m);
	ipc_reader_init(&rd, evbuffer_pullup(m.buf, -1),
	    evbuffer_get_length(m.buf));
	rc = ctl_req_decode(r->op, &rd, got, err, len);
	ipc_msg_discard(&m);
	return rc;
}

static void
test_incident_request(void **state)
{
	struct ctl_req r, got;
	char err[256];

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_INCIDENT;
	snprintf(r.a, sizeof(r.a), "client:198.51.100.0/24");
	r.since = 86400;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_string_equal(got.a, "client:198.51.100.0/24");
	assert_int_equal(got.since, 86400);
	snprintf(r.a, sizeof(r.a), "host:x");
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "user:NAME or client:ADDR"));
	snprintf(r.a, sizeof(r.a), "user:a");
	r.since = -1;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), -1);

	memset(&r, 0, sizeof(r));
	r.op = CTL_OP_INCIDENTS;
	r.since = 3600;
	assert_int_equal(roundtrip(&r, &got, err, sizeof(err)), 0);
	assert_int_equal(got.since, 3600);
	assert_string_equal(ctl_op_name(CTL_OP_INCIDENTS), "incidents");
	assert_string_equal(ctl_op_name(CTL_OP_INCIDENT), "incident");
	assert_int_equal(ctl_op_changes(CTL_OP_INCIDENT), 0);
}

static void
test_log_match(void **state)
{
	static const struct {
		const char	*line;
		int		 user, net, addr;	/* want per subject */
	} cases[] = {
		{ "proc=smtp event=auth_fail client=192.0.2.7 user=alice", 1, 1,
		    1 },
		{ "event=account_attack user=\"alice\" failures=10", 1, 0, 0 },
		{ "event=x auth_user=alice", 1, 0, 0 },
		{ "event=x user=alice2", 0, 0, 0 },
		{ "event=x user=malice", 0, 0, 0 },
		{ "event=connect client=192.0.2.77 port=1", 0, 1, 0 },
		{ "event=connect client=198.51.100.1", 0, 0, 0 },
		{ "event=ban net=192.0.2.0/24 client=\"192.0.2.9\",", 0, 1, 0 },
		{ "alice 192.0.2.7 without keys", 0, 0, 0 },
		{ "", 0, 0, 0 },
	};
	struct cidr net;
	const char *why, *addrs[] = { "192.0.2.7" };

	assert_int_equal(cidr_parse("192.0.2.0/24", &net, &why), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int u = incident_log_match(cases[i].line, "alice", NULL, NULL, 0);
		int n = incident_log_match(cases[i].line, NULL, &net, NULL, 0);
		int a = incident_log_match(cases[i].line, NULL, NULL, addrs, 1);

		if (u != cases[i].user || n != cases[i].net ||
		    a != cases[i].addr)
			fail_msg("%s: got %d %d %d, want %d %d %d",
			    cases[i].line, u, n, a, cases[i].user,
			    cases[i].net, cases[i].addr);
	}
}

/* an incident answer as the queue would build it */
static const char *logins = "1";

static void
kv(struct ipc_msg *m, const char *k, const char *v)
{
	ctl_ans_row(m);
	ipc_put_str(m, k);
	ipc_put_str(m, v);
}

static void
answer(struct ctl_answer *a, const char *id, const char *state,
    const char *held, const char *left, int bans)
{
	static const char *const kvc[] = { "key", "value" };
	static const enum ctl_kind kvk[] = { CTL_KIND_STR, CTL_KIND_STR };
	static const char *const tlc[] = { "time", "type", "client", "user",
	    "detail" };
	static const enum ctl_kind tlk[] = { CTL_KIND_TIME, CTL_KIND_STR,
	    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR };
	static const char *const mc[] = { "qid", "from", "to", "time" };
	static const enum ctl_kind mk[] = { CTL_KIND_STR, CTL_KIND_STR,
	    CTL_KIND_STR, CTL_KIND_TIME };
	static const char *const bc[] = { "cidr", "until", "reason" };
	static const enum ctl_kind bk[] = { CTL_KIND_STR, CTL_KIND_TIME,
	    CTL_KIND_STR };
	struct ipc_msg m;

	ipc_msg_init(&m, 0, 0);
	ctl_ans_begin(&m, CTL_OK, "");
	ctl_ans_table(&m, "summary", 2, kvc, kvk);
	kv(&m, "id", id);
	kv(&m, "kind", "login_after_guessing");
	kv(&m, "state", state);
	kv(&m, "since", "2026-11-26T00:00:00Z");
	kv(&m, "events", "3");
	kv(&m, "auth_failures", "2");
	kv(&m, "clients", "2");
	kv(&m, "logins", logins);
	kv(&m, "held", held);
	kv(&m, "queued", "0");
	kv(&m, "left", left);
	kv(&m, "left_recipients", left);
	kv(&m, "left_source", strcmp(left, "unknown") ? "sent_log" : "none");
	kv(&m, "bans", bans ? "1" : "0");
	ctl_ans_table(&m, "timeline", 5, tlc, tlk);
	ctl_ans_row(&m);
	ipc_put_i64(&m, 1764720000);
	ipc_put_str(&m, "auth_fail");
	ipc_put_str(&m, "192.0.2.7");
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "mechanism=PLAIN\x1b[2J forged\nline");
	ctl_ans_table(&m, "held", 4, mc, mk);
	if (strcmp(held, "0") != 0) {
		ctl_ans_row(&m);
		ipc_put_str(&m, "aa11");
		ipc_put_str(&m, "alice@example.org");
		ipc_put_str(&m, "victim@d0.example");
		ipc_put_i64(&m, 1764720001);
	}
	ctl_ans_table(&m, "left", 4, mc, mk);
	if (strcmp(left, "1") == 0) {
		ctl_ans_row(&m);
		ipc_put_str(&m, "bb22");
		ipc_put_str(&m, "alice@example.org");
		ipc_put_str(&m, "gone@d1.example");
		ipc_put_i64(&m, 1764720002);
	}
	ctl_ans_table(&m, "bans", 3, bc, bk);
	if (bans) {
		ctl_ans_row(&m);
		ipc_put_str(&m, "192.0.2.7/32");
		ipc_put_i64(&m, 1765000000);
		ipc_put_str(&m, "guessed at account alice");
	}
	ctl_ans_end(&m);
	assert_int_equal(ctl_answer_decode(evbuffer_pullup(m.buf, -1),
	    evbuffer_get_length(m.buf), a), 0);
	ipc_msg_discard(&m);
}

static char *
summary(const struct ctl_answer *a, const struct incident_extra *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(incident_summary(fp, a, x), 0);
	fclose(fp);
	return buf;
}

static void
test_summary(void **state)
{
	struct incident_extra x = { 1764720100, 2, "the file /var/log/moat",
	    NULL, 7 };
	struct ctl_answer a;
	char *s;

	answer(&a, "user:alice", "held", "1", "0", 1);
	s = summary(&a, &x);
	assert_non_null(strstr(s, "INCIDENT user:alice\n"));
	assert_non_null(strstr(s, "held             1 message(s)"));
	assert_non_null(strstr(s, "aa11  from alice@example.org  to "
	    "victim@d0.example"));
	assert_non_null(strstr(s, "left             0 message(s)"));
	assert_non_null(strstr(s, "  nothing left\n"));
	assert_non_null(strstr(s, "192.0.2.7/32"));
	assert_non_null(strstr(s, "moat user passwd alice\n"));
	assert_non_null(strstr(s, "moat queue delete --user alice --state "
	    "held\n"));
	assert_non_null(strstr(s, "moat user release alice\n"));
	assert_non_null(strstr(s, "7 line(s) from the file /var/log/moat"));
	assert_non_null(strstr(s, "live sessions    2"));
	/* a peer's bytes cannot clear the screen or forge a line */
	assert_null(strchr(s, '\x1b'));
	assert_non_null(strstr(s, "mechanism=PLAIN?[2J forged?line"));
	free(s);
	ctl_answer_free(&a);

	/* an active account: hold it first; what left is listed */
	answer(&a, "user:bob", "active", "0", "1", 0);
	x.log_source = NULL;
	x.log_why = "journalctl is not installed";
	s = summary(&a, &x);
	assert_non_null(strstr(s, "moat user hold bob --reason compromised"));
	assert_null(strstr(s, "moat user release bob"));
	assert_null(strstr(s, "moat queue delete"));
	assert_non_null(strstr(s, "bb22  from alice@example.org  to "
	    "gone@d1.example"));
	assert_non_null(strstr(s, "none available: journalctl is not "
	    "installed"));
	assert_non_null(strstr(s, "no address of this incident is banned"));
	free(s);
	ctl_answer_free(&a);

	/* a client; what left unknown; a hostile name quoted for the shell */
	answer(&a, "client:192.0.2.7", "active", "1", "unknown", 0);
	s = summary(&a, &x);
	assert_non_null(strstr(s, "moat ban add 192.0.2.7 --for 30d"));
	assert_non_null(strstr(s, "moat queue list --client-ip 192.0.2.7 "
	    "--state held"));
	assert_non_null(strstr(s, "left             unknown"));
	free(s);
	ctl_answer_free(&a);
	answer(&a, "user:x;rm'-rf", "held", "0", "0", 0);
	s = summary(&a, &x);
	assert_non_null(strstr(s, "moat user passwd 'x;rm'\\''-rf'\n"));
	free(s);
	ctl_answer_free(&a);

	/* guessed at, never logged into: no password to change */
	logins = "0";
	answer(&a, "user:carol", "active", "0", "0", 0);
	s = summary(&a, &x);
	assert_null(strstr(s, "moat user passwd"));
	assert_non_null(strstr(s, "password was most likely not found"));
	assert_non_null(strstr(s, "moat ban add ADDRESS --for 7d"));
	free(s);
	ctl_answer_free(&a);
	/* a name made to run a command: never inside double quotes */
	answer(&a, "user:x$(id)`id`", "active", "0", "0", 0);
	s = summary(&a, &x);
	assert_non_null(strstr(s, "--reason guessing-at-'x$(id)`id`'\n"));
	assert_null(strstr(s, "\"guessing"));
	free(s);
	ctl_answer_free(&a);
	logins = "1";

	/* no summary table: refused */
	memset(&a, 0, sizeof(a));
	{
		FILE *fp = fopen("/dev/null", "w");

		assert_int_equal(incident_summary(fp, &a, &x), -1);
		fclose(fp);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_incident_id),
		cmocka_unit_test(test_incident_request),
		cmocka_unit_test(test_log_match),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
