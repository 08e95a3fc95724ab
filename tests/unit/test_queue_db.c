/*
 * test_queue_db.c - the SQLite queue: schema, group-commit store,
 * events, local delivery bookkeeping, failures that must roll back,
 * and the administrator's queries (queue_db_ctl) on the same file.
 *
 * Each test gets a fresh spool directory under /tmp. What queue_db
 * wrote is read back through a second, plain SQLite connection (WAL
 * lets it read while the first one is open), so the tests check the
 * rows themselves, not just what the API says about them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <glob.h>

#include <sqlite3.h>

#include "ctl/ctl_msg.h"
#include "io/proto.h"
#include "queue/queue_db.h"
#include "queue/queue_db_ctl.h"
#include "unit_tmp.h"

static int
setup(void **state)
{
	struct unit_queue_db *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || unit_queue_db_open(fx, "qdb") == -1) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct unit_queue_db *fx = *state;

	unit_queue_db_close(fx);
	free(fx);
	return 0;
}

/* The first column of the first row of sql, as an integer. */
static int64_t
peek_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v;

	if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(h));
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Same, as text into buf ("(null)" for NULL). */
static const char *
peek_str(sqlite3 *h, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *s;
	const unsigned char *t;

	if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("prepare %s: %s", sql, sqlite3_errmsg(h));
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	t = sqlite3_column_text(s, 0);
	snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
	sqlite3_finalize(s);
	return buf;
}

static void
check_counts(struct queue_db *db, int64_t msgs, int64_t queued,
    int64_t deferred, int64_t held, int64_t delivered, int64_t events)
{
	struct queue_counts c;
	int bad = 0;

	assert_int_equal(queue_db_counts(db, &c), 0);
#define CHK(got, want) do { if ((got) != (want)) { bad++; \
	print_error("%s: got %" PRId64 ", want %" PRId64 "\n", #got, \
	    (int64_t)(got), (int64_t)(want)); } } while (0)
	CHK(c.messages, msgs);
	CHK(c.bodies, msgs);
	CHK(c.rcpt[QUEUE_RCPT_QUEUED], queued);
	CHK(c.rcpt[QUEUE_RCPT_DEFERRED], deferred);
	CHK(c.rcpt[QUEUE_RCPT_HELD], held);
	CHK(c.rcpt[QUEUE_RCPT_DELIVERED], delivered);
	CHK(c.rcpt[QUEUE_RCPT_FAILED], 0);
	CHK(c.events, events);
#undef CHK
	if (bad)
		fail_msg("%d count(s) wrong", bad);
}

static int
is_qid(const char *q)
{
	if (strlen(q) != QUEUE_QID_LEN)
		return 0;
	for (; *q; q++)
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
			return 0;
	return 1;
}

static const uint8_t body1[] = "Received: from x\r\nSubject: hi\r\n\r\nhello\r\n";

static const struct queue_rcpt rc_two_local[] = {
	{ "alice@Example.ORG", "rfc822;alice@example.org",
	    PROTO_NOTIFY_FAILURE | PROTO_NOTIFY_DELAY, "alice" },
	{ "bob@example.org", "", 0, "bob" },
};
static const struct queue_rcpt rc_mixed[] = {
	{ "carol@example.org", NULL, 0, "carol" },
	{ "dave@Remote.EXAMPLE", "", PROTO_NOTIFY_NEVER, "" },
	{ "\"e@f\"@remote.example", NULL, 0, NULL },
};
static const struct queue_rcpt rc_remote[] = {
	{ "x@elsewhere.example", NULL, 0, NULL },
};

static struct queue_msg
mkmsg(const char *sender, const char *user, const struct queue_rcpt *r,
    size_t n)
{
	struct queue_msg m = {
		.sender = sender, .helo = "client.example", .client_ip = "192.0.2.7",
		.auth_user = user, .listener = "mx", .envid = "",
		.ret = PROTO_RET_HDRS, .flags = PROTO_MSGF_8BITMIME,
		.rcpts = r, .nrcpt = n, .data = body1, .len = sizeof(body1) - 1,
	};
	return m;
}

static void
test_open_schema(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_db *db2;
	struct stat st;
	char buf[64], err[512];
	sqlite3 *h = unit_queue_db_peek(fx);

	assert_int_equal(peek_int(h, "PRAGMA user_version"), QUEUE_SCHEMA_VERSION);
	assert_string_equal(peek_str(h, "PRAGMA journal_mode", buf, sizeof(buf)),
	    "wal");
	/* every index the admin queries and the scheduler will rely on */
	static const char *const idx[] = {
		"message_created", "message_sender", "message_auth_user",
		"message_client_ip", "recipient_msg", "recipient_domain_state",
		"recipient_state_next", "recipient_local_due", "events_time",
		"events_type", "events_client_ip", "events_user",
	};
	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		char sql[256];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master"
		    " WHERE type = 'index' AND name = '%s'", idx[i]);
		if (peek_int(h, sql) != 1)
			fail_msg("index %s: got missing, want present", idx[i]);
	}
	/* the local delivery scan must use the partial index, not a scan */
	{
		sqlite3_stmt *s;
		int found = 0;

		assert_int_equal(sqlite3_prepare_v2(h, "EXPLAIN QUERY PLAN "
		    "SELECT r.id FROM recipient AS r JOIN message AS m ON"
		    " m.id = r.msg_id WHERE r.mailbox IS NOT NULL AND r.state < 2"
		    " AND r.next_attempt <= 5 ORDER BY r.next_attempt, r.id"
		    " LIMIT 64", -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);

			if (d && strstr(d, "recipient_local_due"))
				found = 1;
			if (d && strstr(d, "TEMP B-TREE"))
				fail_msg("plan sorts: %s", d);
		}
		sqlite3_finalize(s);
		if (!found)
			fail_msg("plan: got no recipient_local_due, want it");
	}
	sqlite3_close(h);

	assert_int_equal(stat(fx->path, &st), 0);
	if ((st.st_mode & 0777) != 0600)
		fail_msg("queue.db mode: got %o, want 600", st.st_mode & 0777);

	/* a second open finds the schema in place */
	db2 = queue_db_open(fx->dir, err, sizeof(err));
	if (db2 == NULL)
		fail_msg("reopen: %s", err);
	queue_db_close(db2);
	queue_db_close(NULL);
}

static void
test_open_bad_version(void **state)
{
	struct unit_queue_db *fx = *state;
	char err[512];
	sqlite3 *h;

	queue_db_close(fx->db);
	fx->db = NULL;
	assert_int_equal(sqlite3_open(fx->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	err[0] = '\0';
	assert_null(queue_db_open(fx->dir, err, sizeof(err)));
	if (strstr(err, "schema version 99") == NULL)
		fail_msg("err: got \"%s\", want schema version 99", err);
}

static void
test_store_batch(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[5];
	struct queue_store_result res[5];
	char buf[512], sql[512];
	sqlite3 *h;

	m[0] = mkmsg("Sender@Example.COM", "", rc_two_local, 2);
	m[1] = mkmsg("", "alice", rc_mixed, 3);		/* null sender */
	m[2] = mkmsg("s@x.example", NULL, rc_remote, 1);
	m[3] = mkmsg("s@x.example", "bob", rc_remote, 1);
	m[4] = mkmsg("s@x.example", "bob", rc_mixed, 3);
	m[4].envid = "ENV123";
	m[4].created = 1000;
	memset(res, 0xff, sizeof(res));

	assert_int_equal(queue_db_store_batch(fx->db, m, 5, res), 0);
	for (int i = 0; i < 5; i++) {
		if (res[i].status != PROTO_STORE_OK)
			fail_msg("res[%d].status: got %d, want 0", i, res[i].status);
		if (!is_qid(res[i].qid))
			fail_msg("res[%d].qid: got \"%s\", want 12 hex", i, res[i].qid);
		for (int j = 0; j < i; j++)
			if (strcmp(res[i].qid, res[j].qid) == 0)
				fail_msg("qid %s twice", res[i].qid);
	}
	check_counts(fx->db, 5, 10, 0, 0, 0, 0);

	h = unit_queue_db_peek(fx);
	/* message 0: envelope fields */
	snprintf(sql, sizeof(sql), "SELECT sender_domain || '|' || helo || '|' ||"
	    " client_ip || '|' || ifnull(auth_user, 'NULL') || '|' || listener"
	    " || '|' || ifnull(envid, 'NULL') || '|' || ret || '|' || flags || '|'"
	    " || size || '|' || rcpt_count FROM message WHERE qid = '%s'",
	    res[0].qid);
	{
		char want[256];

		snprintf(want, sizeof(want), "example.com|client.example|"
		    "192.0.2.7|NULL|mx|NULL|2|1|%zu|2", sizeof(body1) - 1);
		assert_string_equal(peek_str(h, sql, buf, sizeof(buf)), want);
	}
	snprintf(sql, sizeof(sql), "SELECT sender || '|' || sender_domain ||"
	    " '|' || auth_user FROM message WHERE qid = '%s'", res[1].qid);
	assert_string_equal(peek_str(h, sql, buf, sizeof(buf)), "||alice");
	snprintf(sql, sizeof(sql), "SELECT envid || '|' || created FROM message"
	    " WHERE qid = '%s'", res[4].qid);
	assert_string_equal(peek_str(h, sql, buf, sizeof(buf)), "ENV123|1000");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM message WHERE"
	    " created >= %lld", (long long)time(NULL) - 60);
	assert_int_equal(peek_int(h, sql), 4);

	/* the body, byte for byte */
	snprintf(sql, sizeof(sql), "SELECT b.data = X'%s' FROM body AS b JOIN"
	    " message AS m ON m.id = b.msg_id WHERE m.qid = '%s'",
	    "52656365697665643a2066726f6d20780d0a5375626a6563743a2068690d0a0d0a"
	    "68656c6c6f0d0a", res[0].qid);
	assert_int_equal(peek_int(h, sql), 1);

	/* recipients: domain lowercased, NULL for "" and NULL, state 0 */
	static const struct {
		const char *where, *want;
	} rows[] = {
		{ "address = 'alice@Example.ORG'",
		  "example.org|rfc822;alice@example.org|12|alice|0|0" },
		{ "address = 'bob@example.org'", "example.org|NULL|0|bob|0|0" },
		{ "address = 'dave@Remote.EXAMPLE' AND msg_id = 2",
		  "remote.example|NULL|1|NULL|0|0" },
		{ "address = '\"e@f\"@remote.example' AND msg_id = 2",
		  "remote.example|NULL|0|NULL|0|0" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT domain || '|' || ifnull(orcpt,"
		    " 'NULL') || '|' || notify || '|' || ifnull(mailbox, 'NULL')"
		    " || '|' || state || '|' || attempts FROM recipient WHERE %s",
		    rows[i].where);
		peek_str(h, sql, buf, sizeof(buf));
		if (strcmp(buf, rows[i].want) != 0)
			fail_msg("%s: got %s, want %s", rows[i].where, buf,
			    rows[i].want);
	}
	assert_int_equal(peek_int(h, "SELECT count(*) FROM recipient WHERE"
	    " domain = 'remote.example' AND state = 0"), 4);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM message WHERE"
	    " auth_user = 'bob'"), 2);
	sqlite3_close(h);
}

static void
test_qids_unique(void **state)
{
	struct unit_queue_db *fx = *state;
	enum { N = 300, ROUNDS = 10 };
	static struct queue_msg m[N];
	static struct queue_store_result res[N];
	sqlite3 *h;

	for (int i = 0; i < N; i++)
		m[i] = mkmsg("s@x.example", "", rc_remote, 1);
	for (int r = 0; r < ROUNDS; r++)
		assert_int_equal(queue_db_store_batch(fx->db, m, N, res), 0);
	h = unit_queue_db_peek(fx);
	assert_int_equal(peek_int(h, "SELECT count(DISTINCT qid) FROM message"),
	    N * ROUNDS);
	/* within one second the qids sort in the order they were made */
	assert_int_equal(peek_int(h, "SELECT count(*) FROM message AS a JOIN"
	    " message AS b ON b.id = a.id + 1 WHERE a.created = b.created AND"
	    " a.qid > b.qid AND substr(a.qid, 8) != 'fffff'"), 0);
	sqlite3_close(h);
	assert_int_equal(queue_db_store_batch(fx->db, m, 0, res), 0);
}

static void
test_events(void **state)
{
	struct unit_queue_db *fx = *state;
	const struct queue_event ev[] = {
		{ 100, "auth_fail", "192.0.2.1", "alice", "s1", "bad password" },
		{ 101, "relay_denied", "192.0.2.2", "", "s2", "rcpt=<x@y>" },
		{ 102, "auth_fail", "2001:db8::1", NULL, NULL, NULL },
	};
	char buf[256];
	sqlite3 *h;

	assert_int_equal(queue_db_event_add(fx->db, ev, 3), 0);
	assert_int_equal(queue_db_event_add(fx->db, ev, 0), 0);
	check_counts(fx->db, 0, 0, 0, 0, 0, 3);
	h = unit_queue_db_peek(fx);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM events WHERE"
	    " type = 'auth_fail'"), 2);
	assert_string_equal(peek_str(h, "SELECT time || '|' || client_ip || '|'"
	    " || ifnull(user, 'NULL') || '|' || session || '|' || detail FROM"
	    " events WHERE type = 'relay_denied'", buf, sizeof(buf)),
	    "101|192.0.2.2|NULL|s2|rcpt=<x@y>");
	assert_string_equal(peek_str(h, "SELECT ifnull(detail, 'NULL') FROM"
	    " events WHERE time = 102", buf, sizeof(buf)), "NULL");
	sqlite3_close(h);
}

/* the events table is bounded by age, then by rows */
static void
test_events_expire(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_event ev[100];
	int64_t deleted;
	sqlite3 *h;

	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 100; i++) {
		ev[i].time = 1000 + i;		/* 1000..1099 */
		ev[i].type = "relay_denied";
	}
	assert_int_equal(queue_db_event_add(fx->db, ev, 100), 0);
	/* older than 1020: 20 rows */
	assert_int_equal(queue_db_events_expire(fx->db, 1020, 1000, &deleted), 0);
	if (deleted != 20)
		fail_msg("by age: got %lld deleted, want 20", (long long)deleted);
	/* then at most 50 rows: the 30 oldest of the 80 left go */
	assert_int_equal(queue_db_events_expire(fx->db, 0, 50, &deleted), 0);
	if (deleted != 30)
		fail_msg("by rows: got %lld deleted, want 30", (long long)deleted);
	h = unit_queue_db_peek(fx);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM events"), 50);
	assert_int_equal(peek_int(h, "SELECT min(time) FROM events"), 1050);
	sqlite3_close(h);
}

struct verify_seen {
	int	 n;
	char	 addr[4][64];
	int	 result[4];
};

static void
verify_seen_cb(void *arg, const struct queue_verify_row *r)
{
	struct verify_seen *vs = arg;

	if (vs->n < 4) {
		snprintf(vs->addr[vs->n], sizeof(vs->addr[0]), "%s", r->address);
		vs->result[vs->n] = r->result;
	}
	vs->n++;
}

/* the verification cache: replace, load what has not expired, purge, flush */
static void
test_verify_cache(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_verify_row v[] = {
		{ "bob@corp.example", PROTO_VERIFY_FOUND, "250 2.1.5 Ok", 100, 2000 },
		{ "\"a b\"@corp.example", PROTO_VERIFY_NOTFOUND,
		    "550 5.1.1 unknown", 100, 1000 },
		{ "bob@corp.example", PROTO_VERIFY_NOTFOUND, "550 5.1.1 gone",
		    200, 3000 },
		{ "carol@corp.example", PROTO_VERIFY_FOUND, "250 ok", 100, 500 },
	};
	struct verify_seen vs;
	struct queue_db_ctl *dc;
	char err[512];
	int64_t deleted;
	sqlite3 *h;

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(queue_db_verify_put(fx->db, &v[i]), 0);
	h = unit_queue_db_peek(fx);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM verify_cache"), 3);
	/* the second put of bob replaced the first */
	assert_int_equal(peek_int(h, "SELECT result FROM verify_cache"
	    " WHERE address = 'bob@corp.example'"), PROTO_VERIFY_NOTFOUND);

	memset(&vs, 0, sizeof(vs));
	assert_int_equal(queue_db_verify_load(fx->db, 999, verify_seen_cb, &vs), 0);
	if (vs.n != 2)
		fail_msg("load at 999: got %d rows, want 2", vs.n);

	assert_int_equal(queue_db_verify_expire(fx->db, 1000, &deleted), 0);
	if (deleted != 2)
		fail_msg("expire at 1000: got %lld deleted, want 2",
		    (long long)deleted);
	memset(&vs, 0, sizeof(vs));
	assert_int_equal(queue_db_verify_load(fx->db, 0, verify_seen_cb, &vs), 0);
	if (vs.n != 1 || strcmp(vs.addr[0], "bob@corp.example") != 0 ||
	    vs.result[0] != PROTO_VERIFY_NOTFOUND)
		fail_msg("after expiry: got %d rows (%s), want bob only", vs.n,
		    vs.addr[0]);

	/* the admin's list and flush, on their own connection */
	assert_int_equal(queue_db_verify_put(fx->db, &v[3]), 0);
	assert_non_null(dc = queue_db_ctl_open(fx->dir, err, sizeof(err)));
	memset(&vs, 0, sizeof(vs));
	assert_int_equal(queue_db_ctl_verify_list(dc, 400, "", 100,
	    verify_seen_cb, &vs), 0);
	if (vs.n != 2 || strcmp(vs.addr[0], "bob@corp.example") != 0)
		fail_msg("list: got %d rows, first %s; want 2, bob first",
		    vs.n, vs.addr[0]);
	memset(&vs, 0, sizeof(vs));
	assert_int_equal(queue_db_ctl_verify_list(dc, 400, "carol@corp.example",
	    100, verify_seen_cb, &vs), 0);
	assert_int_equal(vs.n, 1);
	assert_int_equal(queue_db_ctl_verify_flush(dc, "nobody@corp.example",
	    &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(queue_db_ctl_verify_flush(dc, "bob@corp.example",
	    &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(queue_db_ctl_verify_flush(dc, "", &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM verify_cache"), 0);
	queue_db_ctl_close(dc);
	sqlite3_close(h);
}

static size_t
fetch(struct unit_queue_db *fx, int64_t now, struct queue_local *v, size_t max)
{
	size_t n = 99;

	assert_int_equal(queue_db_local_fetch(fx->db, now, v, max, &n), 0);
	return n;
}

static void
test_local_delivery(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[2];
	struct queue_store_result res[2];
	struct queue_local v[8];
	int64_t now = time(NULL), when = 0;
	size_t n;
	sqlite3 *h;

	assert_int_equal(queue_db_local_next(fx->db, &when), 0);
	m[0] = mkmsg("s@x.example", "", rc_two_local, 2);	/* all local */
	m[1] = mkmsg("", "", rc_mixed, 3);			/* 1 local */
	assert_int_equal(queue_db_store_batch(fx->db, m, 2, res), 0);

	n = fetch(fx, now, v, 8);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].mailbox, "alice");
	assert_string_equal(v[0].address, "alice@Example.ORG");
	assert_string_equal(v[0].sender, "s@x.example");
	assert_string_equal(v[0].qid, res[0].qid);
	assert_string_equal(v[1].mailbox, "bob");
	assert_string_equal(v[2].mailbox, "carol");
	assert_string_equal(v[2].sender, "");
	assert_int_equal(v[0].len, sizeof(body1) - 1);
	assert_memory_equal(v[0].data, body1, sizeof(body1) - 1);
	/* one copy of the body per message */
	assert_ptr_equal(v[0].data, v[1].data);
	assert_true(v[0].owns_data && !v[1].owns_data && v[2].owns_data);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].outcome, QUEUE_LOCAL_PENDING);

	/* a limit is a limit */
	queue_db_local_free(v, n);
	assert_int_equal(fetch(fx, now, v, 1), 1);
	queue_db_local_free(v, 1);
	assert_int_equal(fetch(fx, now, v, 0), 0);

	/* alice delivered, bob deferred, carol held */
	n = fetch(fx, now, v, 8);
	v[0].outcome = QUEUE_LOCAL_DELIVERED;
	v[1].outcome = QUEUE_LOCAL_DEFERRED;
	v[1].next_attempt = now + 60;
	snprintf(v[1].error, sizeof(v[1].error), "write: No space left on device");
	v[2].outcome = QUEUE_LOCAL_HELD;
	snprintf(v[2].error, sizeof(v[2].error), "bad mailbox name");
	assert_int_equal(queue_db_local_mark(fx->db, v, n, now), 0);
	queue_db_local_free(v, n);
	check_counts(fx->db, 2, 2, 1, 1, 1, 0);

	/* bob is not due now, but at now + 60 */
	assert_int_equal(fetch(fx, now, v, 8), 0);
	assert_int_equal(queue_db_local_next(fx->db, &when), 1);
	assert_int_equal(when, now + 60);
	n = fetch(fx, now + 60, v, 8);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].mailbox, "bob");
	assert_int_equal(v[0].attempts, 1);
	h = unit_queue_db_peek(fx);
	assert_int_equal(peek_int(h, "SELECT count(*) FROM recipient WHERE"
	    " mailbox = 'bob' AND last_error = 'write: No space left on device'"),
	    1);

	/* bob delivered: message 0 is done and goes, body and all */
	v[0].outcome = QUEUE_LOCAL_DELIVERED;
	assert_int_equal(queue_db_local_mark(fx->db, v, n, now + 60), 0);
	queue_db_local_free(v, n);
	check_counts(fx->db, 1, 2, 0, 1, 0, 0);
	{
		char sql[256];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM message WHERE"
		    " qid = '%s'", res[0].qid);
		assert_int_equal(peek_int(h, sql), 0);
	}
	assert_int_equal(peek_int(h, "SELECT count(*) FROM recipient WHERE"
	    " msg_id NOT IN (SELECT id FROM message)"), 0);
	sqlite3_close(h);

	/* nothing local is left to do: held and remote stay where they are */
	assert_int_equal(fetch(fx, now + 3600, v, 8), 0);
	assert_int_equal(queue_db_local_next(fx->db, &when), 0);
	/* an empty or all-pending mark is a no-op */
	assert_int_equal(queue_db_local_mark(fx->db, v, 0, now), 0);
}

/* An all-local message whose recipients are all delivered goes away. */
static void
test_delivered_deletes(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m = mkmsg("s@x.example", "", rc_two_local, 2);
	struct queue_store_result res;
	struct queue_local v[4];
	size_t n;

	assert_int_equal(queue_db_store_batch(fx->db, &m, 1, &res), 0);
	n = fetch(fx, time(NULL), v, 4);
	assert_int_equal(n, 2);
	v[0].outcome = v[1].outcome = QUEUE_LOCAL_DELIVERED;
	assert_int_equal(queue_db_local_mark(fx->db, v, n, time(NULL)), 0);
	queue_db_local_free(v, n);
	check_counts(fx->db, 0, 0, 0, 0, 0, 0);
}

/*
 * The scheduler's cursor: rows come in (next_attempt, id) order after
 * it, a deferred row comes back once due and after the cursor, and a
 * recipient stored after the newest one was delivered (and deleted)
 * still sorts after the cursor: ids are not reused.
 */
static void
test_remote_cursor(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[3];
	struct queue_store_result res[3];
	struct queue_remote v[8];
	struct queue_remote_mark mk;
	int64_t now = time(NULL), id2, id3;
	size_t n;

	for (int i = 0; i < 3; i++)
		m[i] = mkmsg("s@x.example", "", rc_remote, 1);
	assert_int_equal(queue_db_store_batch(fx->db, m, 3, res), 0);

	assert_int_equal(queue_db_remote_fetch(fx->db, now, -1, 0, v, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_true(v[0].rcpt_id < v[1].rcpt_id);
	assert_int_equal(v[0].next_attempt, now);
	id2 = v[1].rcpt_id;
	memset(&mk, 0, sizeof(mk));
	mk.rcpt_id = v[0].rcpt_id;
	mk.msg_id = v[0].msg_id;
	mk.address = v[0].address;
	mk.outcome = QUEUE_REMOTE_DEFERRED;
	mk.next_attempt = now + 10;
	mk.error = "451 4.3.0 later";
	assert_int_equal(queue_db_remote_mark(fx->db, &mk, 1, NULL, 0, NULL,
	    now), 0);
	queue_db_remote_free(v, n);

	/* after the second row: the third only; the deferred one is not due */
	assert_int_equal(queue_db_remote_fetch(fx->db, now, now, id2, v, 8, &n),
	    0);
	assert_int_equal(n, 1);
	id3 = v[0].rcpt_id;
	assert_true(id3 > id2);
	memset(&mk, 0, sizeof(mk));
	mk.rcpt_id = id3;
	mk.msg_id = v[0].msg_id;
	mk.address = v[0].address;
	mk.outcome = QUEUE_REMOTE_DELIVERED;
	assert_int_equal(queue_db_remote_mark(fx->db, &mk, 1, NULL, 0, NULL,
	    now), 0);
	queue_db_remote_free(v, n);

	/* the newest row is gone; a new one still comes after the cursor */
	m[0] = mkmsg("s@x.example", "", rc_remote, 1);
	m[0].created = now;
	assert_int_equal(queue_db_store_batch(fx->db, m, 1, res), 0);
	assert_int_equal(queue_db_remote_fetch(fx->db, now, now, id3, v, 8, &n),
	    0);
	assert_int_equal(n, 1);
	assert_true(v[0].rcpt_id > id3);
	queue_db_remote_free(v, n);

	/* ten seconds on, the deferred row is due, after the cursor too */
	assert_int_equal(queue_db_remote_fetch(fx->db, now + 10, now, id3 + 1,
	    v, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].next_attempt, now + 10);
	queue_db_remote_free(v, n);
}

/* The database at its size cap: PROTO_STORE_DISKFULL, nothing stored. */
static void
test_disk_full(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[3];
	struct queue_store_result res[3];
	size_t big = 2 * 1024 * 1024;
	uint8_t *data = malloc(big);

	assert_non_null(data);
	memset(data, 'x', big);
	m[0] = mkmsg("s@x.example", "", rc_remote, 1);
	m[1] = mkmsg("s@x.example", "", rc_mixed, 3);
	m[1].data = data;
	m[1].len = big;
	m[2] = mkmsg("s@x.example", "", rc_remote, 1);

	assert_int_equal(queue_db_set_size_limit(fx->db, 256 * 1024), 0);
	assert_int_equal(queue_db_store_batch(fx->db, m, 3, res), -1);
	for (int i = 0; i < 3; i++) {
		if (res[i].status != PROTO_STORE_DISKFULL)
			fail_msg("res[%d].status: got %d, want %d", i,
			    res[i].status, PROTO_STORE_DISKFULL);
		assert_string_equal(res[i].qid, "");
	}
	/* all or nothing: not even the small first message */
	check_counts(fx->db, 0, 0, 0, 0, 0, 0);

	/* room again: the same batch goes in */
	assert_int_equal(queue_db_set_size_limit(fx->db, 0), 0);
	assert_int_equal(queue_db_store_batch(fx->db, m, 3, res), 0);
	check_counts(fx->db, 3, 5, 0, 0, 0, 0);
	free(data);
}

/* A write error (EFBIG here) mid-batch: TEMPFAIL, rolled back, usable. */
static void
test_write_error(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[2];
	struct queue_store_result res[2];
	struct rlimit old, lim;
	struct stat st;
	char wal[160];
	size_t big = 4 * 1024 * 1024;
	uint8_t *data = malloc(big);
	int rc;

	assert_non_null(data);
	memset(data, 'y', big);
	m[0] = mkmsg("s@x.example", "", rc_remote, 1);
	m[1] = mkmsg("s@x.example", "", rc_remote, 1);
	m[1].data = data;
	m[1].len = big;
	snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	assert_int_equal(stat(wal, &st), 0);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 512 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = queue_db_store_batch(fx->db, m, 2, res);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(rc, -1);
	assert_int_equal(res[0].status, PROTO_STORE_TEMPFAIL);
	assert_int_equal(res[1].status, PROTO_STORE_TEMPFAIL);
	check_counts(fx->db, 0, 0, 0, 0, 0, 0);
	assert_int_equal(queue_db_store_batch(fx->db, m, 2, res), 0);
	check_counts(fx->db, 2, 2, 0, 0, 0, 0);
	free(data);
}

/*
 * A spool directory we may not write: open fails with a reason, no
 * crash. Run in a child that drops root, since root writes anywhere.
 */
static void
test_readonly_dir(void **state)
{
	char dir[64], file[128], err[512];
	pid_t pid;
	int status, fd;

	assert_int_equal(unit_tmp_dir(dir, sizeof(dir), "qro"), 0);
	assert_int_equal(chmod(dir, 0555), 0);

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct queue_db *db;

		if (geteuid() == 0 && (setgid(65534) == -1 || setuid(65534) == -1))
			_exit(2);
		err[0] = '\0';
		db = queue_db_open(dir, err, sizeof(err));
		if (db != NULL)
			_exit(3);
		if (strstr(err, "queue.db") == NULL)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child: got exit %d, want 0", WEXITSTATUS(status));

	/* a spool "directory" that is a file */
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd != -1);
	close(fd);
	assert_null(queue_db_open(file, err, sizeof(err)));
	assert_non_null(strstr(err, "Not a directory"));
	unlink(file);
	rmdir(dir);
}

/* queue_db_ctl: what `moat queue summary/list/show` and the bulk changes read */

static void
list_count_cb(void *arg, const struct queue_list_row *r)
{
	int *n = arg;

	assert_true(is_qid(r->qid));
	(*n)++;
}

struct show_seen {
	int	msg, rcpt, body;
	size_t	len;
};

static void
show_msg_cb(void *arg, const struct queue_show_msg *m)
{
	struct show_seen *s = arg;

	assert_string_equal(m->sender, "sender@example.net");
	assert_string_equal(m->user, "alice");
	assert_int_equal(m->nrcpt, 3);
	s->msg++;
}

static void
show_rcpt_cb(void *arg, const struct queue_show_rcpt *r)
{
	((struct show_seen *)arg)->rcpt++;
}

static void
show_body_cb(void *arg, const void *data, size_t len)
{
	struct show_seen *s = arg;

	s->body++;
	s->len = len;
}

static void
test_ctl_queue(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m[2];
	struct queue_store_result res[2];
	struct queue_db_ctl *dc;
	struct queue_dest *d;
	struct ctl_filter f;
	struct show_seen seen = { 0 };
	struct queue_show_cb cb = { show_msg_cb, show_rcpt_cb, show_body_cb,
	    &seen };
	size_t nd;
	int64_t msgs, rcpts, now = time(NULL);
	const char *op;
	char err[512];
	int n = 0;

	m[0] = mkmsg("sender@example.net", "alice", rc_mixed, 3);
	m[1] = mkmsg("", NULL, rc_remote, 1);
	assert_int_equal(queue_db_store_batch(fx->db, m, 2, res), 0);
	assert_non_null(dc = queue_db_ctl_open(fx->dir, err, sizeof(err)));
	assert_int_equal(queue_db_ctl_has_dead(dc), 1);

	/* the biggest destination first, then by name */
	assert_int_equal(queue_db_ctl_summary(dc, &d, &nd, &msgs), 0);
	assert_int_equal(msgs, 2);
	assert_int_equal(nd, 3);
	assert_string_equal(d[0].domain, "remote.example");
	assert_int_equal(d[0].n, 2);
	assert_int_equal(d[0].by_state[QUEUE_RCPT_QUEUED], 2);
	assert_true(d[0].oldest > 0);
	assert_string_equal(d[0].last_error, "");
	assert_string_equal(d[1].domain, "elsewhere.example");
	assert_string_equal(d[2].domain, "example.org");
	queue_db_ctl_summary_free(d, nd);

	memset(&f, 0, sizeof(f));
	snprintf(f.user, sizeof(f.user), "alice");
	assert_int_equal(queue_db_ctl_list(dc, &f, now, 100, list_count_cb,
	    &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_db_ctl_show(dc, res[0].qid, &cb), 1);
	assert_int_equal(seen.msg, 1);
	assert_int_equal(seen.rcpt, 3);
	assert_int_equal(seen.body, 1);
	assert_int_equal(seen.len, sizeof(body1) - 1);
	assert_int_equal(queue_db_ctl_show(dc, "000000000000", &cb), 0);

	/* a dry run counts, a hold changes, both by the same filter */
	assert_int_equal(queue_db_ctl_act(dc, &f, CTL_ACT_HOLD, 1, now, &msgs,
	    &rcpts, &op), 0);
	assert_int_equal(msgs, 1);
	assert_int_equal(rcpts, 3);
	check_counts(fx->db, 2, 4, 0, 0, 0, 0);
	assert_int_equal(queue_db_ctl_act(dc, &f, CTL_ACT_HOLD, 0, now, &msgs,
	    &rcpts, &op), 0);
	assert_int_equal(rcpts, 3);
	check_counts(fx->db, 2, 1, 0, 3, 0, 0);
	assert_int_equal(queue_db_ctl_act(dc, &f, CTL_ACT_RELEASE, 0, now,
	    &msgs, &rcpts, &op), 0);
	check_counts(fx->db, 2, 4, 0, 0, 0, 0);
	memset(&f, 0, sizeof(f));
	snprintf(f.from, sizeof(f.from), "<>");
	assert_int_equal(queue_db_ctl_act(dc, &f, CTL_ACT_DELETE, 0, now,
	    &msgs, &rcpts, &op), 0);
	assert_int_equal(msgs, 1);
	assert_int_equal(rcpts, 1);
	check_counts(fx->db, 1, 3, 0, 0, 0, 0);
	assert_int_equal(queue_db_ctl_delete_all(dc, &msgs, &rcpts, &op), 0);
	assert_int_equal(msgs, 1);
	assert_int_equal(rcpts, 3);
	check_counts(fx->db, 0, 0, 0, 0, 0, 0);
	queue_db_ctl_close(dc);
}

static void
ban_cb(void *arg, const struct queue_ban *b)
{
	int *n = arg;

	assert_string_equal(b->cidr, "192.0.2.0/24");
	assert_string_equal(b->origin, "admin");
	(*n)++;
}

static void
user_cb(void *arg, const struct queue_user_row *u)
{
	if (strcmp(u->user, "alice") == 0) {
		assert_string_equal(u->state, "held");
		assert_int_equal(u->queued, 1);
		assert_int_equal(u->events, 1);
		(*(int *)arg)++;
	}
}

static void
state_cb(void *arg, const char *user, const char *state)
{
	assert_string_equal(user, "alice");
	assert_string_equal(state, "held");
	(*(int *)arg)++;
}

static void
event_cb(void *arg, int64_t id, const struct queue_event *ev)
{
	assert_true(id > 0);
	assert_string_equal(ev->type, "admin_test");
	assert_string_equal(ev->client_ip, "");
	(*(int *)arg)++;
}

static void
test_ctl_bans_users(void **state)
{
	struct unit_queue_db *fx = *state;
	struct queue_msg m = mkmsg("a@example.net", "alice", rc_remote, 1);
	struct queue_store_result res;
	struct queue_db_ctl *dc;
	struct queue_ban b = { "192.0.2.0/24", "", "admin", 0, 0 };
	struct queue_event ev = { 0, "admin_test", NULL, "alice", NULL, "x" };
	struct queue_events_query q = { 0, 0, "admin_test", NULL, NULL, 10 };
	struct queue_db_ctl_counts c;
	int64_t now = time(NULL), held, n64;
	const char *op;
	char err[512], buf[64];
	int n = 0;
	sqlite3 *h = unit_queue_db_peek(fx);

	assert_int_equal(queue_db_store_batch(fx->db, &m, 1, &res), 0);
	assert_non_null(dc = queue_db_ctl_open(fx->dir, err, sizeof(err)));
	b.created = now;
	assert_int_equal(queue_db_ctl_ban_store(dc, &b), 0);
	b.cidr = "198.51.100.0/24";
	b.expires = now - 1;
	assert_int_equal(queue_db_ctl_ban_store(dc, &b), 0);
	assert_int_equal(queue_db_ctl_ban_list(dc, now, ban_cb, &n), 0);
	assert_int_equal(n, 1);
	/* an empty reason is stored NULL, as the CLI always did */
	assert_string_equal(peek_str(h, "SELECT reason FROM bans LIMIT 1",
	    buf, sizeof(buf)), "(null)");
	assert_int_equal(queue_db_ctl_ban_expire(dc, now, &n64), 0);
	assert_int_equal(n64, 1);
	assert_int_equal(queue_db_ctl_ban_del(dc, "192.0.2.0/24"), 1);
	assert_int_equal(queue_db_ctl_ban_del(dc, "192.0.2.0/24"), 0);

	ev.time = now;
	assert_int_equal(queue_db_ctl_event_add(dc, &ev), 0);
	n = 0;
	assert_int_equal(queue_db_ctl_events(dc, &q, event_cb, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(queue_db_ctl_user_set(dc, "alice", "held", "", 1, now,
	    &held, &op), 0);
	assert_int_equal(held, 1);
	n = 0;
	assert_int_equal(queue_db_ctl_users(dc, now - 60, user_cb, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(queue_db_ctl_user_states(dc, state_cb, &n), 0);
	assert_int_equal(n, 1);
	/* the process's own connection sees the same state */
	assert_int_equal(queue_db_sender_state(fx->db, "alice", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "held");

	queue_db_ctl_counts(dc, now, &c);
	assert_int_equal(c.messages, 1);
	assert_int_equal(c.rcpt[QUEUE_RCPT_HELD], 1);
	assert_int_equal(c.bans, 0);
	assert_int_equal(c.users_held, 1);
	assert_int_equal(c.dead, 0);
	sqlite3_close(h);
	queue_db_ctl_close(dc);
}

static void
dead_cb(void *arg, const struct queue_dead_row *r)
{
	assert_string_equal(r->recipient, "\"e@f\"@remote.example");
	assert_string_equal(r->reason, "550 no");
	(*(int *)arg)++;
}

/* dead letters: their domain is split like every address, at the last '@' */
static void
test_ctl_dead(void **state)
{
	static const struct queue_rcpt rc[] = {
		{ "\"e@f\"@remote.example", NULL, 0, NULL },
	};
	struct unit_queue_db *fx = *state;
	struct queue_msg m = mkmsg("", NULL, rc, 1);
	struct queue_store_result res;
	struct queue_remote v[1];
	struct queue_remote_mark mk;
	struct queue_db_ctl *dc;
	struct ctl_filter f;
	int64_t now = time(NULL), cnt;
	char err[512];
	size_t n;
	int rows = 0;

	assert_int_equal(queue_db_store_batch(fx->db, &m, 1, &res), 0);
	assert_int_equal(queue_db_remote_fetch(fx->db, now, -1, 0, v, 1, &n), 0);
	assert_int_equal(n, 1);
	memset(&mk, 0, sizeof(mk));
	mk.rcpt_id = v[0].rcpt_id;
	mk.msg_id = v[0].msg_id;
	mk.address = v[0].address;
	mk.outcome = QUEUE_REMOTE_DEAD;
	mk.error = "550 no";
	assert_int_equal(queue_db_remote_mark(fx->db, &mk, 1, NULL, 0, NULL,
	    now), 0);
	queue_db_remote_free(v, n);
	assert_non_null(dc = queue_db_ctl_open(fx->dir, err, sizeof(err)));
	memset(&f, 0, sizeof(f));
	snprintf(f.to_domain, sizeof(f.to_domain), "Remote.Example");
	assert_int_equal(queue_db_ctl_dead_list(dc, &f, now, 10, dead_cb,
	    &rows), 0);
	assert_int_equal(rows, 1);
	snprintf(f.to_domain, sizeof(f.to_domain), "f\"@remote.example");
	assert_int_equal(queue_db_ctl_dead_act(dc, &f, 1, now, &cnt), 0);
	assert_int_equal(cnt, 0);
	snprintf(f.to_domain, sizeof(f.to_domain), "remote.example");
	assert_int_equal(queue_db_ctl_dead_act(dc, &f, 0, now, &cnt), 0);
	assert_int_equal(cnt, 1);
	queue_db_ctl_close(dc);
}

/* run sql on the fixture's file by a connection of its own */
static void
raw_exec(struct unit_queue_db *fx, const char *sql)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open_v2(fx->path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static int
user_version(struct unit_queue_db *fx)
{
	sqlite3 *h = unit_queue_db_peek(fx);
	sqlite3_stmt *s;
	int v = -1;

	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s,
	    NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

/*
 * Schema versions: a version 1 file (here: today's, less what version 2
 * added) is copied and upgraded; a newer one is refused untouched; a
 * step that fails leaves version 1 and says where.
 */
static void
test_schema_upgrade(void **state)
{
	struct unit_queue_db *fx = *state;
	char err[1024], pat[128];
	glob_t g;

	assert_int_equal(user_version(fx), QUEUE_SCHEMA_VERSION);
	queue_db_close(fx->db);
	fx->db = NULL;
	raw_exec(fx, "DROP TABLE paused_dest; DROP TABLE login_nets; "
	    "DROP TABLE series_minute; DROP TABLE sent_log; "
	    "PRAGMA user_version = 1");
	assert_non_null(fx->db = queue_db_open(fx->dir, err, sizeof(err)));
	assert_int_equal(user_version(fx), QUEUE_SCHEMA_VERSION);
	snprintf(pat, sizeof(pat), "%s/queue.db.bak-v1-*", fx->dir);
	assert_int_equal(glob(pat, 0, NULL, &g), 0);
	assert_int_equal(g.gl_pathc, 1);
	globfree(&g);
	queue_db_close(fx->db);
	fx->db = NULL;

	/* a newer file */
	raw_exec(fx, "PRAGMA user_version = 99");
	assert_null(queue_db_open(fx->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99 is newer"));
	assert_int_equal(user_version(fx), 99);

	/* a failing step: paused_dest is in the way of version 2's */
	raw_exec(fx, "PRAGMA user_version = 1");
	assert_null(queue_db_open(fx->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "failed at paused_dest"));
	assert_non_null(strstr(err, "unchanged"));
	assert_int_equal(user_version(fx), 1);
	/* version 2 to 3: login_nets is in the way */
	raw_exec(fx, "PRAGMA user_version = 2");
	assert_null(queue_db_open(fx->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "failed at login_nets"));
	assert_int_equal(user_version(fx), 2);
	/* version 3 to 4: series_minute is in the way */
	raw_exec(fx, "PRAGMA user_version = 3");
	assert_null(queue_db_open(fx->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "failed at series_minute and sent_log"));
	assert_int_equal(user_version(fx), 3);
	raw_exec(fx, "PRAGMA user_version = 4");
	assert_non_null(fx->db = queue_db_open(fx->dir, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qids_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivered_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_bans_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctl_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_upgrade, setup,
		    teardown),
		cmocka_unit_test(test_readonly_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
