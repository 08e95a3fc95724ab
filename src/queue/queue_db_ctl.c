/*
 * queue_db_ctl.c - the administrator's queries on queue.db (part of
 * queue_db, the one owner of the schema; see queue_db_ctl.h).
 *
 * queue_ctl.c answers the control socket and calls these; the SQL is
 * here. They run on a connection of their own, opened here: a purge
 * switches foreign keys off around its truncations and fills the
 * temporary table ctl_sel, neither of which may touch the connection
 * that does the group commit, and an admin's reads keep their own
 * prepared statements (a longer busy timeout too: the group commit's
 * connection writes meanwhile).
 *
 * Purges and bulk changes are set-based: the matching message ids go
 * into ctl_sel in one statement, then recipients, bodies and messages
 * are deleted (or recipients updated) with one statement each, all in
 * one transaction. Children are deleted before their parent so the ON
 * DELETE CASCADE finds nothing to do row by row.
 *
 * Public: queue_db_ctl_open, queue_db_ctl_close, queue_db_ctl_errmsg,
 * queue_db_ctl_has_dead, queue_db_ctl_summary, queue_db_ctl_summary_free,
 * queue_db_ctl_list, queue_db_ctl_dead_list, queue_db_ctl_show,
 * queue_db_ctl_act, queue_db_ctl_delete_all, queue_db_ctl_dead_act,
 * queue_db_ctl_events, queue_db_ctl_event_add, queue_db_ctl_ban_store,
 * queue_db_ctl_ban_del, queue_db_ctl_ban_list, queue_db_ctl_ban_expire,
 * queue_db_ctl_users, queue_db_ctl_user_states, queue_db_ctl_user_set,
 * queue_db_ctl_counts, queue_db_ctl_verify_list,
 * queue_db_ctl_verify_flush, queue_db_ctl_pending, queue_db_ctl_stranded,
 * queue_db_ctl_requeue, queue_db_ctl_pause, queue_db_ctl_resume,
 * queue_db_ctl_paused, queue_db_ctl_sent.
 *
 * SECURITY: every statement is a fixed text prepared at open; filter
 * values are bound parameters, never pasted into SQL. ctl_cidr_match and
 * ctl_addr_domain (a dead letter's recipient domain, split by the
 * address module like every other) are registered SQLITE_DIRECTONLY,
 * so no schema object can call them.
 * LIMITS: the callers bound the rows (LIMIT ?20, the events' limit);
 * the summary holds one entry per destination domain in memory.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ctl/ctl_msg.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "queue/queue_db.h"
#include "queue/queue_db_ctl.h"
#include "queue/queue_db_sql.h"

#define QDC_BUSY_MS		5000

/*
 * The filter of every queue operation, over message AS m. Parameters:
 * ?1 qid, ?2 sender ('' is <>), ?3 recipient, ?4 recipient domain,
 * ?5 AUTH user, ?6 client CIDR, ?7 created at or before, ?8 created at
 * or after, ?9 mask of recipient states. NULL: no condition.
 */
#define QDC_FILTER \
	"(?1 IS NULL OR m.qid = ?1)" \
	" AND (?2 IS NULL OR m.sender = ?2 COLLATE NOCASE)" \
	" AND (?3 IS NULL OR EXISTS (SELECT 1 FROM recipient AS r" \
	"  WHERE r.msg_id = m.id AND r.address = ?3 COLLATE NOCASE))" \
	" AND (?4 IS NULL OR EXISTS (SELECT 1 FROM recipient AS r" \
	"  WHERE r.msg_id = m.id AND r.domain = lower(?4)))" \
	" AND (?5 IS NULL OR m.auth_user = ?5)" \
	" AND (?6 IS NULL OR ctl_cidr_match(?6, m.client_ip))" \
	" AND (?7 IS NULL OR m.created <= ?7)" \
	" AND (?8 IS NULL OR m.created >= ?8)" \
	" AND (?9 IS NULL OR EXISTS (SELECT 1 FROM recipient AS r" \
	"  WHERE r.msg_id = m.id AND ((1 << r.state) & ?9) != 0))"

/* The same over deadletter (no user, client or state there). */
#define QDC_DFILTER \
	"(?1 IS NULL OR qid = ?1)" \
	" AND (?2 IS NULL OR sender = ?2 COLLATE NOCASE)" \
	" AND (?3 IS NULL OR recipient = ?3 COLLATE NOCASE)" \
	" AND (?4 IS NULL OR lower(ctl_addr_domain(recipient)) = lower(?4))" \
	" AND (?7 IS NULL OR time <= ?7)" \
	" AND (?8 IS NULL OR time >= ?8)"

#define QDC_SEL	"(SELECT id FROM temp.ctl_sel)"

enum qdc_stmt {
	QDC_BEGIN,
	QDC_COMMIT,
	QDC_ROLLBACK,
	QDC_SEL_CLEAR,
	QDC_SEL_FILL,
	QDC_SEL_COUNT,
	QDC_DEL_RCPT,
	QDC_DEL_BODY,
	QDC_DEL_MSG,
	QDC_HOLD,
	QDC_RELEASE,
	QDC_RETRY,
	QDC_PENDING,
	QDC_STRANDED,
	QDC_SUMMARY,
	QDC_SUMMARY_OLDEST,
	QDC_SUMMARY_ERR,
	QDC_SUMMARY_TOTAL,
	QDC_ALL_COUNT,
	QDC_ALL_RCPT,
	QDC_ALL_BODY,
	QDC_ALL_MSG,
	QDC_LIST,
	QDC_LIST_COUNT,
	QDC_SHOW_MSG,
	QDC_SHOW_RCPT,
	QDC_SHOW_BODY,
	QDC_EVENTS,
	QDC_EVENTS_COUNT,
	QDC_EVENT_ADD,
	QDC_BAN_ADD,
	QDC_BAN_DEL,
	QDC_BAN_LIST,
	QDC_BAN_EXPIRE,
	QDC_USER_LIST,
	QDC_USER_SET,
	QDC_USER_HOLD_MAIL,
	QDC_USER_ALL,
	QDC_USER_GET,
	QDC_USER_FORGET,
	QDC_USER_HELD,
	QDC_STATS_MSG,
	QDC_STATS_RCPT,
	QDC_STATS_BANS,
	QDC_STATS_USERS,
	QDC_VERIFY_LIST,
	QDC_VERIFY_FLUSH,
	QDC_REQUEUE_RCPTS,
	QDC_REQUEUE_ROUTE,
	QDC_PAUSE,
	QDC_RESUME,
	QDC_PAUSED_LIST,
	QDC_N,
	/* prepared only when the deadletter table exists */
	QDC_DEAD_LIST = QDC_N,
	QDC_DEAD_COUNT,
	QDC_DEAD_DELETE,
	QDC_STATS_DEAD,
	QDC_NALL
};

static const char *const qdc_sql[QDC_NALL] = {
	[QDC_BEGIN] = "BEGIN IMMEDIATE",
	[QDC_COMMIT] = "COMMIT",
	[QDC_ROLLBACK] = "ROLLBACK",
	[QDC_SEL_CLEAR] = "DELETE FROM temp.ctl_sel",
	[QDC_SEL_FILL] =
	    "INSERT INTO temp.ctl_sel(id) SELECT m.id FROM message AS m WHERE "
	    QDC_FILTER,
	[QDC_SEL_COUNT] =
	    "SELECT (SELECT count(*) FROM temp.ctl_sel), (SELECT count(*) FROM"
	    " recipient WHERE msg_id IN " QDC_SEL ")",
	[QDC_DEL_RCPT] = "DELETE FROM recipient WHERE msg_id IN " QDC_SEL,
	[QDC_DEL_BODY] = "DELETE FROM body WHERE msg_id IN " QDC_SEL,
	[QDC_DEL_MSG] = "DELETE FROM message WHERE id IN " QDC_SEL,
	[QDC_HOLD] =
	    "UPDATE recipient SET state = 2, updated = ?1"
	    " WHERE state IN (0, 1) AND msg_id IN " QDC_SEL,
	[QDC_RELEASE] =
	    "UPDATE recipient SET state = 0, next_attempt = ?1, updated = ?1"
	    " WHERE state = 2 AND msg_id IN " QDC_SEL,
	[QDC_RETRY] =
	    "UPDATE recipient SET state = 0, next_attempt = ?1, updated = ?1"
	    " WHERE state IN (0, 1) AND msg_id IN " QDC_SEL,
	/* what `queue bounce` returns: the recipients still to do of the
	 * selection, a message's together */
	[QDC_PENDING] =
	    "SELECT x.id, x.msg_id, m.qid, m.sender, x.address,"
	    " coalesce(x.orcpt, ''), x.notify FROM message AS m"
	    " JOIN recipient AS x ON x.msg_id = m.id"
	    " WHERE x.state IN (0, 1, 2) AND " QDC_FILTER
	    " ORDER BY x.msg_id, x.id",
	/* recipients an admin's bounce of an earlier version marked failed
	 * without a DSN (and whose messages never left): bounced at start */
	[QDC_STRANDED] =
	    "SELECT x.id, x.msg_id, m.qid, m.sender, x.address,"
	    " coalesce(x.orcpt, ''), x.notify FROM recipient AS x"
	    " JOIN message AS m ON m.id = x.msg_id WHERE x.state = 4"
	    " AND x.last_error = '5.0.0 returned by the administrator'"
	    " ORDER BY x.msg_id, x.id",
	/*
	 * Answered from the index recipient_domain_state alone (it holds
	 * the row id too): 100,000 recipients in a few milliseconds. The
	 * oldest recipient (lowest id) and the newest deferred one are then
	 * one lookup each per domain.
	 */
	[QDC_SUMMARY] =
	    "SELECT domain, state, count(*), min(id), max(id) FROM recipient"
	    " WHERE state != 3 GROUP BY domain, state",
	[QDC_SUMMARY_OLDEST] =
	    "SELECT m.created FROM recipient AS r JOIN message AS m"
	    " ON m.id = r.msg_id WHERE r.id = ?1",
	[QDC_SUMMARY_ERR] =
	    "SELECT last_error, attempts FROM recipient WHERE id = ?1",
	[QDC_SUMMARY_TOTAL] = "SELECT count(*) FROM message",
	/*
	 * delete --all: children first, then the parent, each a DELETE
	 * without WHERE, which SQLite runs as a truncation (pages freed,
	 * no row-by-row work) -- but only while no foreign key names the
	 * table, hence foreign_keys off around it (outside the transaction,
	 * as SQLite requires). Nothing can be left dangling: every table
	 * of the three is emptied in the same transaction. (The pragma is
	 * run with qdc_foreign_keys, never prepared ahead: SQLite applies a
	 * flag pragma when it compiles it, so a prepared one did nothing
	 * when stepped and each purge deleted row by row, 1 s for 100,000.)
	 */
	[QDC_ALL_COUNT] =
	    "SELECT (SELECT count(*) FROM message), (SELECT count(*) FROM"
	    " recipient)",
	[QDC_ALL_RCPT] = "DELETE FROM recipient",
	[QDC_ALL_BODY] = "DELETE FROM body",
	[QDC_ALL_MSG] = "DELETE FROM message",
	[QDC_LIST] =
	    "SELECT m.qid, m.created, m.size, m.sender, m.auth_user,"
	    " m.client_ip,"
	    " (SELECT group_concat(address, ', ') FROM recipient"
	    "  WHERE msg_id = m.id),"
	    " (SELECT sum(DISTINCT 1 << state) FROM recipient"
	    "  WHERE msg_id = m.id),"
	    " (SELECT max(attempts) FROM recipient WHERE msg_id = m.id),"
	    " (SELECT last_error FROM recipient WHERE msg_id = m.id"
	    "  AND last_error IS NOT NULL ORDER BY updated DESC LIMIT 1)"
	    " FROM message AS m WHERE " QDC_FILTER " ORDER BY m.id LIMIT ?20",
	[QDC_LIST_COUNT] = "SELECT count(*) FROM message AS m WHERE " QDC_FILTER,
	[QDC_SHOW_MSG] =
	    "SELECT id, qid, created, sender, helo, client_ip, auth_user,"
	    " listener, envid, size, rcpt_count FROM message WHERE qid = ?1",
	[QDC_SHOW_RCPT] =
	    "SELECT address, state, attempts, next_attempt, updated,"
	    " last_error, mailbox FROM recipient WHERE msg_id = ?1 ORDER BY id",
	[QDC_SHOW_BODY] = "SELECT data FROM body WHERE msg_id = ?1",
	[QDC_EVENTS] =
	    "SELECT * FROM (SELECT id, time, type, client_ip, user, session,"
	    " detail FROM events WHERE id > ?1 AND (?2 IS NULL OR time >= ?2)"
	    " AND (?3 IS NULL OR type = ?3)"
	    " AND (?4 IS NULL OR ctl_cidr_match(?4, client_ip))"
	    " AND (?5 IS NULL OR user = ?5)"
	    " ORDER BY id DESC LIMIT ?6) ORDER BY id",
	[QDC_EVENTS_COUNT] =
	    "SELECT count(*) FROM events WHERE id > ?1 AND (?2 IS NULL OR"
	    " time >= ?2) AND (?3 IS NULL OR type = ?3)"
	    " AND (?4 IS NULL OR ctl_cidr_match(?4, client_ip))"
	    " AND (?5 IS NULL OR user = ?5)",
	[QDC_EVENT_ADD] = QDB_SQL_EVENT_INSERT,
	[QDC_BAN_ADD] =
	    "INSERT INTO bans(cidr, reason, origin, created, expires)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cidr) DO UPDATE SET"
	    " reason = excluded.reason, origin = excluded.origin,"
	    " created = excluded.created, expires = excluded.expires",
	[QDC_BAN_DEL] = "DELETE FROM bans WHERE cidr = ?1",
	[QDC_BAN_LIST] =
	    "SELECT cidr, reason, origin, created, expires FROM bans"
	    " WHERE expires IS NULL OR expires > ?1 ORDER BY created, cidr",
	[QDC_BAN_EXPIRE] =
	    "DELETE FROM bans WHERE expires IS NOT NULL AND expires <= ?1",
	/* a relay client's key (policy/watch.h) counts its queued mail by
	 * address, and sender: ip:ADDRESS[/SENDER], <> the null sender */
	[QDC_USER_LIST] =
	    "WITH w(user) AS (SELECT user FROM user_state"
	    " UNION SELECT auth_user FROM message WHERE auth_user IS NOT NULL"
	    " UNION SELECT user FROM events WHERE user IS NOT NULL"
	    "  AND user != '' AND time >= ?1"
	    "  AND type NOT LIKE 'console%'),"		/* the console's logins */
	    " c(user, rest) AS (SELECT user, CASE WHEN substr(user, 1, 3) ="
	    "  'ip:' THEN substr(user, 4) END FROM w),"
	    " u(user, ip, snd) AS (SELECT user, CASE instr(rest, '/') WHEN 0"
	    "  THEN rest ELSE substr(rest, 1, instr(rest, '/') - 1) END,"
	    "  CASE WHEN instr(rest, '/') > 0 THEN nullif(substr(rest,"
	    "  instr(rest, '/') + 1), '<>') END FROM c)"
	    " SELECT u.user, coalesce(s.state, 'active'), s.reason, s.updated,"
	    " (SELECT count(*) FROM message WHERE auth_user = u.user)"
	    " + (SELECT count(*) FROM message AS g WHERE g.client_ip = u.ip"
	    "  AND g.auth_user IS NULL AND (instr(u.user, '/') = 0"
	    "  OR lower(g.sender) = coalesce(u.snd, ''))),"
	    " (SELECT count(*) FROM events WHERE user = u.user AND time >= ?1),"
	    " (SELECT count(*) FROM events WHERE user = u.user AND time >= ?1"
	    "  AND type LIKE 'auth%')"
	    " FROM u LEFT JOIN user_state AS s ON s.user = u.user"
	    " ORDER BY u.user",
	[QDC_USER_SET] = QDB_SQL_USER_SET,
	[QDC_USER_HOLD_MAIL] = QDB_SQL_HOLD_SENDER,
	[QDC_USER_ALL] = "SELECT user, state FROM user_state ORDER BY user",
	[QDC_USER_GET] = "SELECT state FROM user_state WHERE user = ?1",
	[QDC_USER_FORGET] = "DELETE FROM user_state WHERE user = ?1",
	/* held recipients of a user's mail (?1), or of a relay client's (?2) */
	[QDC_USER_HELD] =
	    "SELECT count(*) FROM recipient AS r JOIN message AS m"
	    " ON m.id = r.msg_id WHERE r.state = 2 AND ((?1 IS NOT NULL"
	    " AND m.auth_user = ?1) OR (?2 IS NOT NULL AND m.auth_user IS NULL"
	    " AND m.client_ip = ?2))",
	[QDC_STATS_MSG] = "SELECT count(*), coalesce(sum(size), 0),"
	    " coalesce(min(created), 0) FROM message",
	[QDC_STATS_RCPT] = "SELECT state, count(*) FROM recipient GROUP BY state",
	[QDC_STATS_BANS] =
	    "SELECT count(*) FROM bans WHERE expires IS NULL OR expires > ?1",
	[QDC_STATS_USERS] =
	    "SELECT state, count(*) FROM user_state GROUP BY state",
	[QDC_VERIFY_LIST] =
	    "SELECT address, result, reply, updated, expires FROM verify_cache"
	    " WHERE expires > ?1 AND (?2 IS NULL OR address = ?2)"
	    " ORDER BY updated DESC, address LIMIT ?3",
	[QDC_VERIFY_FLUSH] =
	    "DELETE FROM verify_cache WHERE ?1 IS NULL OR address = ?1",
	/* requeue: the recipients still to do (held ones too: they keep
	 * their state, but go by the new route once released) */
	[QDC_REQUEUE_RCPTS] =
	    "SELECT id, address, coalesce(mailbox, '') FROM recipient"
	    " WHERE state IN (0, 1, 2) AND msg_id IN " QDC_SEL " ORDER BY id",
	[QDC_REQUEUE_ROUTE] =
	    "UPDATE recipient SET mailbox = nullif(?2, ''), updated = ?3"
	    " WHERE id = ?1 AND state IN (0, 1, 2)",
	[QDC_PAUSE] =
	    "INSERT INTO paused_dest(domain, since, reason) VALUES"
	    " (lower(?1), ?2, nullif(?3, '')) ON CONFLICT(domain) DO UPDATE SET"
	    " reason = excluded.reason",
	[QDC_RESUME] = "DELETE FROM paused_dest WHERE domain = lower(?1)",
	[QDC_PAUSED_LIST] =
	    "SELECT p.domain, p.since, coalesce(p.reason, ''),"
	    " (SELECT count(*) FROM recipient AS r WHERE r.mailbox IS NULL"
	    "  AND r.state < 2 AND (p.domain = '*' OR r.domain = p.domain))"
	    " FROM paused_dest AS p ORDER BY p.domain",
	[QDC_DEAD_LIST] =
	    "SELECT id, qid, time, created, sender, recipient, reason,"
	    " length(data) FROM deadletter WHERE " QDC_DFILTER
	    " ORDER BY id LIMIT ?20",
	[QDC_DEAD_COUNT] = "SELECT count(*) FROM deadletter WHERE " QDC_DFILTER,
	[QDC_DEAD_DELETE] = "DELETE FROM deadletter WHERE " QDC_DFILTER,
	[QDC_STATS_DEAD] = "SELECT count(*) FROM deadletter",
};

/*
 * What left for the outside (sent_log, one row per remote recipient
 * delivered), one row per message: ?1 since, ?2 AUTH user, ?3 client
 * CIDR (NULL: no condition), ?4 limit.
 */
static const char qdc_sql_sent[] =
	"SELECT qid, mail_from, group_concat(rcpt, ', '), max(time),"
	" count(*) FROM sent_log WHERE time >= ?1"
	" AND (?2 IS NULL OR user = ?2)"
	" AND (?3 IS NULL OR ctl_cidr_match(?3, client))"
	" GROUP BY qid ORDER BY max(time), qid LIMIT ?4";

/* Owned by queue_ctl.c; owns the connection and its statements. */
struct queue_db_ctl {
	sqlite3		*h;
	sqlite3_stmt	*st[QDC_NALL];
	int		 dead_ok;	/* deadletter statements ready */
	sqlite3_stmt	*sent;		/* what left, NULL: no sent_log */
	char		 err[256];	/* SQLite's text of the last failure */
	char		 path[4096];
};

static void
qdc_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Log a failure once and keep its text for queue_db_ctl_errmsg. */
static void
qdc_error(struct queue_db_ctl *dc, const char *op)
{
	char esc[256];

	snprintf(dc->err, sizeof(dc->err), "%s", sqlite3_errmsg(dc->h));
	log_err(LOG_CAT_CONTROL, "event=db_error op=%s err=\"%s\"", op,
	    log_escape(esc, sizeof(esc), dc->err, strlen(dc->err)));
}

/* Run a statement that returns no row; SQLITE_DONE or an error code. */
static int
qdc_exec(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	qdc_done(s);
	return rc;
}

static int
qdc_simple(struct queue_db_ctl *dc, enum qdc_stmt i)
{
	return qdc_exec(dc->st[i]);
}

/* Undo the open transaction, if SQLite has not already done so. */
static void
qdc_rollback(struct queue_db_ctl *dc)
{
	if (!sqlite3_get_autocommit(dc->h))
		(void)qdc_simple(dc, QDC_ROLLBACK);
}

/* A failed step of a transaction: logged, kept, rolled back. */
static int
qdc_abort(struct queue_db_ctl *dc, const char *op)
{
	qdc_error(dc, op);
	qdc_rollback(dc);
	return -1;
}

/*
 * Foreign keys on or off, checked: 0 (SQLITE_OK) when the connection
 * now has them as asked. Outside a transaction only.
 */
static int
qdc_foreign_keys(struct queue_db_ctl *dc, int on)
{
	sqlite3_stmt *s;
	int rc, got = -1;

	if ((rc = sqlite3_exec(dc->h, on ? "PRAGMA foreign_keys = ON" :
	    "PRAGMA foreign_keys = OFF", NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_prepare_v2(dc->h, "PRAGMA foreign_keys", -1, &s,
	    NULL)) != SQLITE_OK)
		return rc;
	if (sqlite3_step(s) == SQLITE_ROW)
		got = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return got == on ? SQLITE_OK : SQLITE_ERROR;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static void
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL || v[0] == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

/* ctl_cidr_match(cidr, ip): 1 when the text address lies in the network */
static void
qdc_cidr_match(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *net = sqlite3_value_text(argv[0]);
	const unsigned char *ip = sqlite3_value_text(argv[1]);
	struct cidr c;
	uint8_t a[16];
	const char *why;

	if (net == NULL || ip == NULL ||
	    cidr_parse((const char *)net, &c, &why) == -1 ||
	    cidr_addr_parse((const char *)ip, a) == -1) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	sqlite3_result_int(ctx, cidr_contains(&c, a));
}

/* ctl_addr_domain(address): its domain, split by the address module */
static void
qdc_addr_domain(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *a = sqlite3_value_text(argv[0]);

	sqlite3_result_text(ctx, addr_domain_of((const char *)a, NULL), -1,
	    SQLITE_TRANSIENT);
}

/* Bind a filter's parameters ?1..?9 (QDC_FILTER, QDC_DFILTER). */
static void
qdc_bind_filter(sqlite3_stmt *s, const struct ctl_filter *f, int64_t now)
{
	bind_opt(s, 1, f->qid);
	if (strcmp(f->from, "<>") == 0)
		sqlite3_bind_text(s, 2, "", 0, SQLITE_STATIC);
	else
		bind_opt(s, 2, f->from);
	bind_opt(s, 3, f->to);
	bind_opt(s, 4, f->to_domain);
	if (sqlite3_bind_parameter_count(s) >= 5) {
		bind_opt(s, 5, f->user);
		bind_opt(s, 6, f->client);
	}
	if (f->older_than > 0)
		sqlite3_bind_int64(s, 7, now - f->older_than);
	if (f->newer_than > 0)
		sqlite3_bind_int64(s, 8, now - f->newer_than);
	if (f->states != 0 && sqlite3_bind_parameter_count(s) >= 9)
		sqlite3_bind_int64(s, 9, f->states);
}

/* One integer from a one-row statement; dflt when there is no row. */
static int64_t
qdc_int1(struct queue_db_ctl *dc, enum qdc_stmt i, int64_t param,
    int64_t dflt)
{
	sqlite3_stmt *s = dc->st[i];
	int64_t v = dflt;

	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_int64(s, 1, param);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	qdc_done(s);
	return v;
}

/* One row of a statement to its reader. */
typedef void (*qdc_row_fn)(sqlite3_stmt *, void *);

/*
 * Step s (bound already) to its end, each row to row(s, ctx); 0, or -1
 * logged as op.
 */
static int
qdc_each(struct queue_db_ctl *dc, sqlite3_stmt *s, const char *op,
    qdc_row_fn row, void *ctx)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		row(s, ctx);
	qdc_done(s);
	if (rc != SQLITE_DONE) {
		qdc_error(dc, op);
		return -1;
	}
	return 0;
}

/*
 * Rows to the caller: each kind of row is a struct of views filled from
 * the statement's columns by a table (column i into the member at
 * cols[i].off), then passed to the caller's function for that kind.
 */
struct qdc_col {
	size_t	off;
	char	type;		/* 't' text ("" for NULL), 'i' int64_t, 'n' int,
				 * 'b' uint8_t, '-' not stored */
};

#define QT(st, m)	{ offsetof(struct st, m), 't' }
#define QI(st, m)	{ offsetof(struct st, m), 'i' }
#define QN(st, m)	{ offsetof(struct st, m), 'n' }
#define QB(st, m)	{ offsetof(struct st, m), 'b' }
#define QSKIP		{ 0, '-' }

static const struct qdc_col list_cols[] = {
	QT(queue_list_row, qid), QI(queue_list_row, created),
	QI(queue_list_row, size), QT(queue_list_row, sender),
	QT(queue_list_row, user), QT(queue_list_row, client),
	QT(queue_list_row, rcpts), QI(queue_list_row, states),
	QI(queue_list_row, attempts), QT(queue_list_row, last_error),
};
static const struct qdc_col dead_cols[] = {
	QI(queue_dead_row, id), QT(queue_dead_row, qid), QI(queue_dead_row, time),
	QI(queue_dead_row, created), QT(queue_dead_row, sender),
	QT(queue_dead_row, recipient), QT(queue_dead_row, reason),
	QI(queue_dead_row, size),
};
static const struct qdc_col rcpt_cols[] = {
	QT(queue_show_rcpt, address), QN(queue_show_rcpt, state),
	QI(queue_show_rcpt, attempts), QI(queue_show_rcpt, next_attempt),
	QI(queue_show_rcpt, updated), QT(queue_show_rcpt, last_error),
	QT(queue_show_rcpt, mailbox),
};
/* the event's id, column 0, goes to the caller apart */
static const struct qdc_col event_cols[] = {
	QSKIP, QI(queue_event, time), QT(queue_event, type),
	QT(queue_event, client_ip), QT(queue_event, user),
	QT(queue_event, session), QT(queue_event, detail),
};
static const struct qdc_col ban_cols[] = {
	QT(queue_ban, cidr), QT(queue_ban, reason), QT(queue_ban, origin),
	QI(queue_ban, created), QI(queue_ban, expires),
};
static const struct qdc_col user_cols[] = {
	QT(queue_user_row, user), QT(queue_user_row, state),
	QT(queue_user_row, reason), QI(queue_user_row, updated),
	QI(queue_user_row, queued), QI(queue_user_row, events),
	QI(queue_user_row, auth_events),
};

static const struct qdc_col pending_cols[] = {
	QI(queue_pending_rcpt, rcpt_id), QI(queue_pending_rcpt, msg_id),
	QT(queue_pending_rcpt, qid), QT(queue_pending_rcpt, sender),
	QT(queue_pending_rcpt, address), QT(queue_pending_rcpt, orcpt),
	QB(queue_pending_rcpt, notify),
};

enum qdc_kind { QDC_ROW_LIST, QDC_ROW_DEAD, QDC_ROW_RCPT, QDC_ROW_EVENT,
    QDC_ROW_BAN, QDC_ROW_USER, QDC_ROW_PENDING };

#define QCOLS(t)	{ t, sizeof(t) / sizeof(t[0]) }
static const struct {
	const struct qdc_col	*cols;
	size_t			 n;
} qdc_kinds[] = {
	[QDC_ROW_LIST] = QCOLS(list_cols), [QDC_ROW_DEAD] = QCOLS(dead_cols),
	[QDC_ROW_RCPT] = QCOLS(rcpt_cols), [QDC_ROW_EVENT] = QCOLS(event_cols),
	[QDC_ROW_BAN] = QCOLS(ban_cols), [QDC_ROW_USER] = QCOLS(user_cols),
	[QDC_ROW_PENDING] = QCOLS(pending_cols),
};

/* the caller's function for a kind of row, and its argument */
struct qdc_ctx {
	enum qdc_kind	 kind;
	union {
		void	(*list)(void *, const struct queue_list_row *);
		void	(*dead)(void *, const struct queue_dead_row *);
		void	(*rcpt)(void *, const struct queue_show_rcpt *);
		void	(*event)(void *, int64_t, const struct queue_event *);
		void	(*ban)(void *, const struct queue_ban *);
		void	(*user)(void *, const struct queue_user_row *);
		void	(*pending)(void *, const struct queue_pending_rcpt *);
	} fn;
	void		*arg;
};

static void
qdc_fill(sqlite3_stmt *s, const struct qdc_col *cols, size_t n, void *row)
{
	for (size_t i = 0; i < n; i++) {
		char *p = (char *)row + cols[i].off;

		if (cols[i].type == 't')
			*(const char **)(void *)p = col_text(s, (int)i);
		else if (cols[i].type == 'i')
			*(int64_t *)(void *)p = sqlite3_column_int64(s, (int)i);
		else if (cols[i].type == 'n')
			*(int *)(void *)p = sqlite3_column_int(s, (int)i);
		else if (cols[i].type == 'b')
			*(uint8_t *)p = (uint8_t)sqlite3_column_int(s, (int)i);
	}
}

/* a qdc_row_fn: one row of any kind to the caller */
static void
qdc_row(sqlite3_stmt *s, void *ctx)
{
	const struct qdc_ctx *c = ctx;
	union {
		struct queue_list_row	list;
		struct queue_dead_row	dead;
		struct queue_show_rcpt	rcpt;
		struct queue_event	event;
		struct queue_ban	ban;
		struct queue_user_row	user;
		struct queue_pending_rcpt pending;
	} r;

	memset(&r, 0, sizeof(r));
	qdc_fill(s, qdc_kinds[c->kind].cols, qdc_kinds[c->kind].n, &r);
	switch (c->kind) {
	case QDC_ROW_LIST:
		c->fn.list(c->arg, &r.list);
		break;
	case QDC_ROW_DEAD:
		c->fn.dead(c->arg, &r.dead);
		break;
	case QDC_ROW_RCPT:
		c->fn.rcpt(c->arg, &r.rcpt);
		break;
	case QDC_ROW_EVENT:
		c->fn.event(c->arg, sqlite3_column_int64(s, 0), &r.event);
		break;
	case QDC_ROW_BAN:
		c->fn.ban(c->arg, &r.ban);
		break;
	case QDC_ROW_USER:
		c->fn.user(c->arg, &r.user);
		break;
	case QDC_ROW_PENDING:
		c->fn.pending(c->arg, &r.pending);
		break;
	}
}

/* queue_db_ctl_errmsg - the text of the last failure */
const char *
queue_db_ctl_errmsg(struct queue_db_ctl *dc)
{
	return dc->err;
}

/* queue_db_ctl_sent - the messages that left, one row each */
int
queue_db_ctl_sent(struct queue_db_ctl *dc, int64_t since, const char *user,
    const char *client_cidr, int64_t limit,
    void (*fn)(void *, const struct queue_sent_row *), void *arg)
{
	sqlite3_stmt *s = dc->sent;
	struct queue_sent_row r;
	int rc;

	if (s == NULL)
		return 1;
	sqlite3_bind_int64(s, 1, since);
	bind_opt(s, 2, user);
	bind_opt(s, 3, client_cidr);
	sqlite3_bind_int64(s, 4, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r.qid = col_text(s, 0);
		r.sender = col_text(s, 1);
		r.rcpts = col_text(s, 2);
		r.time = sqlite3_column_int64(s, 3);
		r.nrcpt = sqlite3_column_int64(s, 4);
		fn(arg, &r);
	}
	qdc_done(s);
	if (rc != SQLITE_DONE) {
		qdc_error(dc, "sent");
		return -1;
	}
	return 0;
}

/* queue_db_ctl_has_dead - the deadletter statements are ready */
int
queue_db_ctl_has_dead(const struct queue_db_ctl *dc)
{
	return dc->dead_ok;
}

/*
 * The summary.
 */

/* a new destination at the end of *d, growing it */
static struct queue_dest *
qdc_dest_add(struct queue_dest **d, size_t *nd, size_t *cap, const char *dom)
{
	struct queue_dest *x;

	if (*nd == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		if ((*d = reallocarray(*d, *cap, sizeof(**d))) == NULL)
			fatal("%s: realloc", __func__);
	}
	x = &(*d)[(*nd)++];
	memset(x, 0, sizeof(*x));
	if ((x->domain = strdup(dom)) == NULL)
		fatal("%s: strdup", __func__);
	x->oldest = INT64_MAX;		/* the lowest recipient id, for now */
	return x;
}

static int
qdc_dest_cmp(const void *a, const void *b)
{
	const struct queue_dest *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->domain, y->domain);
}

/*
 * The oldest arrival and the attempts and error of the newest deferred
 * or failed recipient of d, from the ids the grouping found (oldest,
 * deferred_id).
 */
static void
qdc_dest_details(struct queue_db_ctl *dc, struct queue_dest *d,
    int64_t deferred_id)
{
	sqlite3_stmt *e = dc->st[QDC_SUMMARY_ERR];

	d->oldest = qdc_int1(dc, QDC_SUMMARY_OLDEST, d->oldest, 0);
	if (deferred_id != 0) {
		sqlite3_bind_int64(e, 1, deferred_id);
		if (sqlite3_step(e) == SQLITE_ROW) {
			d->attempts = sqlite3_column_int64(e, 1);
			d->last_error = strdup(col_text(e, 0));
		}
		qdc_done(e);
	}
	if (d->last_error == NULL && (d->last_error = strdup("")) == NULL)
		fatal("%s: strdup", __func__);
}

/* queue_db_ctl_summary - the recipients not delivered, per domain */
int
queue_db_ctl_summary(struct queue_db_ctl *dc, struct queue_dest **out,
    size_t *n, int64_t *msgs)
{
	sqlite3_stmt *s = dc->st[QDC_SUMMARY];
	struct queue_dest *d = NULL, *x = NULL;
	int64_t *defer = NULL;
	size_t nd = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *dom = col_text(s, 0);
		int st = sqlite3_column_int(s, 1);
		int64_t cnt = sqlite3_column_int64(s, 2);

		/* rows come grouped by domain (the index's order) */
		if (x == NULL || strcmp(x->domain, dom) != 0) {
			x = qdc_dest_add(&d, &nd, &cap, dom);
			if ((defer = reallocarray(defer, cap, sizeof(*defer))) ==
			    NULL)
				fatal("%s: realloc", __func__);
			defer[nd - 1] = 0;
		}
		x->n += cnt;
		if (st >= 0 && st < QUEUE_RCPT_NSTATES)
			x->by_state[st] += cnt;
		if (sqlite3_column_int64(s, 3) < x->oldest)
			x->oldest = sqlite3_column_int64(s, 3);
		/* the newest recipient that has an attempt to tell of:
		 * deferred, or failed (its message waits for others) */
		if ((st == QUEUE_RCPT_DEFERRED || st == QUEUE_RCPT_FAILED) &&
		    sqlite3_column_int64(s, 4) > defer[nd - 1])
			defer[nd - 1] = sqlite3_column_int64(s, 4);
	}
	qdc_done(s);
	if (rc != SQLITE_DONE) {
		qdc_error(dc, "summary");
		queue_db_ctl_summary_free(d, nd);
		free(defer);
		return -1;
	}
	*msgs = qdc_int1(dc, QDC_SUMMARY_TOTAL, 0, 0);
	for (size_t i = 0; i < nd; i++)
		qdc_dest_details(dc, &d[i], defer[i]);
	free(defer);
	if (nd > 0)
		qsort(d, nd, sizeof(*d), qdc_dest_cmp);
	*out = d;
	*n = nd;
	return 0;
}

/* queue_db_ctl_summary_free - release what queue_db_ctl_summary made */
void
queue_db_ctl_summary_free(struct queue_dest *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].domain);
		free(d[i].last_error);
	}
	free(d);
}

/*
 * Lists.
 */

/* a filtered list of at most limit rows, to c */
static int
qdc_list_run(struct queue_db_ctl *dc, sqlite3_stmt *s,
    const struct ctl_filter *f, int64_t now, int64_t limit,
    const struct qdc_ctx *c)
{
	qdc_bind_filter(s, f, now);
	sqlite3_bind_int64(s, 20, limit);
	return qdc_each(dc, s, "list", qdc_row, (void *)c);
}

/* queue_db_ctl_list - the messages a filter selects */
int
queue_db_ctl_list(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, int64_t limit,
    void (*fn)(void *, const struct queue_list_row *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_LIST, { .list = fn }, arg };

	return qdc_list_run(dc, dc->st[QDC_LIST], f, now, limit, &c);
}

/* queue_db_ctl_count - how many messages (dead letters) f selects; -1 */
int64_t
queue_db_ctl_count(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now)
{
	int dead = (f->flags & CTL_FILTER_DEAD) != 0;
	sqlite3_stmt *s;
	int64_t n = -1;

	if (dead && !dc->dead_ok)
		return -1;
	s = dc->st[dead ? QDC_DEAD_COUNT : QDC_LIST_COUNT];
	qdc_bind_filter(s, f, now);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	qdc_done(s);
	return n;
}

/* queue_db_ctl_dead_list - the dead letters a filter selects */
int
queue_db_ctl_dead_list(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, int64_t limit,
    void (*fn)(void *, const struct queue_dead_row *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_DEAD, { .dead = fn }, arg };

	if (!dc->dead_ok)
		fatalx("%s: no dead-letter store", __func__);
	return qdc_list_run(dc, dc->st[QDC_DEAD_LIST], f, now, limit, &c);
}

/* the recipients and the bytes of message msg_id, to cb */
static void
qdc_show_parts(struct queue_db_ctl *dc, int64_t msg_id,
    const struct queue_show_cb *cb)
{
	struct qdc_ctx c = { QDC_ROW_RCPT, { .rcpt = cb->rcpt }, cb->arg };
	sqlite3_stmt *s = dc->st[QDC_SHOW_RCPT];

	sqlite3_bind_int64(s, 1, msg_id);
	/* a failure leaves the answer short of rows, as it always did */
	(void)qdc_each(dc, s, "show", qdc_row, &c);
	s = dc->st[QDC_SHOW_BODY];
	sqlite3_bind_int64(s, 1, msg_id);
	if (sqlite3_step(s) == SQLITE_ROW)
		cb->body(cb->arg, sqlite3_column_blob(s, 0),
		    (size_t)sqlite3_column_bytes(s, 0));
	qdc_done(s);
}

/* queue_db_ctl_show - one message, its recipients and its bytes */
int
queue_db_ctl_show(struct queue_db_ctl *dc, const char *qid,
    const struct queue_show_cb *cb)
{
	sqlite3_stmt *s = dc->st[QDC_SHOW_MSG];
	struct queue_show_msg m;
	int64_t msg_id;
	int rc;

	sqlite3_bind_text(s, 1, qid, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		qdc_done(s);
		if (rc == SQLITE_DONE)
			return 0;
		qdc_error(dc, "show");
		return -1;
	}
	msg_id = sqlite3_column_int64(s, 0);
	m.qid = col_text(s, 1);
	m.created = sqlite3_column_int64(s, 2);
	m.sender = col_text(s, 3);
	m.helo = col_text(s, 4);
	m.client = col_text(s, 5);
	m.user = col_text(s, 6);
	m.listener = col_text(s, 7);
	m.envid = col_text(s, 8);
	m.size = sqlite3_column_int64(s, 9);
	m.nrcpt = sqlite3_column_int64(s, 10);
	cb->msg(cb->arg, &m);
	qdc_done(s);
	qdc_show_parts(dc, msg_id, cb);
	return 1;
}

/*
 * Bulk changes.
 */

/* The action's change to the selected recipients; *n changed. */
static int
qdc_act_apply(struct queue_db_ctl *dc, int action, int64_t now, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	switch (action) {
	case CTL_ACT_DELETE:
		/* children first: the cascade then has nothing to do */
		if ((rc = qdc_simple(dc, QDC_DEL_RCPT)) != SQLITE_DONE ||
		    (rc = qdc_simple(dc, QDC_DEL_BODY)) != SQLITE_DONE ||
		    (rc = qdc_simple(dc, QDC_DEL_MSG)) != SQLITE_DONE)
			return rc;
		return SQLITE_DONE;
	case CTL_ACT_HOLD:
	case CTL_ACT_RELEASE:
	case CTL_ACT_RETRY:
		s = dc->st[action == CTL_ACT_HOLD ? QDC_HOLD :
		    action == CTL_ACT_RELEASE ? QDC_RELEASE : QDC_RETRY];
		sqlite3_bind_int64(s, 1, now);
		if ((rc = qdc_exec(s)) == SQLITE_DONE)
			*n = sqlite3_changes64(dc->h);
		return rc;
	default:
		fatalx("%s: action %d", __func__, action);
	}
}

/* Fill ctl_sel with what f selects; *msgs, and *rcpts when counted. */
static int
qdc_select(struct queue_db_ctl *dc, const struct ctl_filter *f, int64_t now,
    int count, int64_t *msgs, int64_t *rcpts)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = qdc_simple(dc, QDC_SEL_CLEAR)) != SQLITE_DONE)
		return rc;
	s = dc->st[QDC_SEL_FILL];
	qdc_bind_filter(s, f, now);
	if ((rc = qdc_exec(s)) != SQLITE_DONE)
		return rc;
	*msgs = sqlite3_changes64(dc->h);
	if (!count)
		return SQLITE_DONE;
	s = dc->st[QDC_SEL_COUNT];
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*rcpts = sqlite3_column_int64(s, 1);
		rc = SQLITE_DONE;
	}
	qdc_done(s);
	return rc;
}

/* queue_db_ctl_act - a bulk change (or a count) in one transaction */
int
queue_db_ctl_act(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int action, int dry_run, int64_t now, int64_t *msgs, int64_t *rcpts,
    const char **op)
{
	*msgs = *rcpts = 0;
	*op = "begin";
	if (qdc_simple(dc, QDC_BEGIN) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	*op = "select";
	if (qdc_select(dc, f, now, action == CTL_ACT_DELETE, msgs, rcpts) !=
	    SQLITE_DONE)
		return qdc_abort(dc, *op);
	/*
	 * A dry run makes the same change and rolls it back, so it counts
	 * exactly the recipients the action would change (not those of the
	 * selection a state leaves alone). A delete takes every recipient
	 * of the selection: the count is the change, no need to make it.
	 */
	*op = ctl_action_name(action);
	if ((!dry_run || action != CTL_ACT_DELETE) &&
	    qdc_act_apply(dc, action, now, rcpts) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	*op = "clear";
	if (qdc_simple(dc, QDC_SEL_CLEAR) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	*op = "commit";
	if (qdc_simple(dc, dry_run ? QDC_ROLLBACK : QDC_COMMIT) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	return 0;
}

/* queue_db_ctl_pending - the recipients still to do of f's selection */
int
queue_db_ctl_pending(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, void (*fn)(void *, const struct queue_pending_rcpt *),
    void *arg)
{
	struct qdc_ctx c = { QDC_ROW_PENDING, { .pending = fn }, arg };
	sqlite3_stmt *s = dc->st[QDC_PENDING];

	qdc_bind_filter(s, f, now);
	return qdc_each(dc, s, "pending", qdc_row, &c);
}

/* queue_db_ctl_stranded - the recipients an earlier bounce left behind */
int
queue_db_ctl_stranded(struct queue_db_ctl *dc,
    void (*fn)(void *, const struct queue_pending_rcpt *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_PENDING, { .pending = fn }, arg };

	return qdc_each(dc, dc->st[QDC_STRANDED], "stranded", qdc_row, &c);
}

/* one recipient whose route changes: its id and new mailbox ("" remote) */
struct qdc_move {
	int64_t	 id;
	char	*mailbox;
};

/* the recipients of the selection whose route route() changes */
static int
qdc_requeue_scan(struct queue_db_ctl *dc, int (*route)(void *, int64_t,
    const char *, const char *, char *, size_t), void *arg,
    struct qdc_move **mv, size_t *nmv, int64_t *unknown)
{
	sqlite3_stmt *s = dc->st[QDC_REQUEUE_RCPTS];
	char out[1024];
	size_t cap = 0;
	int rc, r;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = route(arg, sqlite3_column_int64(s, 0), col_text(s, 1),
		    col_text(s, 2), out, sizeof(out));
		if (r == -1)
			(*unknown)++;
		if (r != 1)
			continue;
		if (*nmv == cap) {
			cap = cap ? cap * 2 : 64;
			if ((*mv = reallocarray(*mv, cap, sizeof(**mv))) == NULL)
				fatal("%s: reallocarray", __func__);
		}
		(*mv)[*nmv].id = sqlite3_column_int64(s, 0);
		if (((*mv)[*nmv].mailbox = strdup(out)) == NULL)
			fatal("%s: strdup", __func__);
		(*nmv)++;
	}
	qdc_done(s);
	return rc;
}

/* queue_db_ctl_requeue - route the selection again, make it due now */
int
queue_db_ctl_requeue(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int dry_run, int64_t now, int (*route)(void *, int64_t, const char *,
    const char *, char *, size_t), void *arg,
    struct queue_requeue_count *c, const char **op)
{
	struct qdc_move *mv = NULL;
	size_t nmv = 0;
	sqlite3_stmt *s;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	*op = "begin";
	if (qdc_simple(dc, QDC_BEGIN) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	*op = "select";
	if (qdc_select(dc, f, now, 1, &c->msgs, &c->rcpts) != SQLITE_DONE)
		goto abort;
	*op = "route";
	if (qdc_requeue_scan(dc, route, arg, &mv, &nmv, &c->unknown) !=
	    SQLITE_DONE)
		goto abort;
	c->moved = (int64_t)nmv;
	/* a dry run makes the same changes (rolled back below): it counts
	 * exactly what the real run changes */
	s = dc->st[QDC_REQUEUE_ROUTE];
	for (size_t i = 0; i < nmv; i++) {
		sqlite3_bind_int64(s, 1, mv[i].id);
		sqlite3_bind_text(s, 2, mv[i].mailbox, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now);
		if (qdc_exec(s) != SQLITE_DONE)
			goto abort;
	}
	*op = "due";
	s = dc->st[QDC_RETRY];
	sqlite3_bind_int64(s, 1, now);
	if (qdc_exec(s) != SQLITE_DONE)
		goto abort;
	c->rcpts = sqlite3_changes64(dc->h);
	*op = "clear";
	if (qdc_simple(dc, QDC_SEL_CLEAR) != SQLITE_DONE)
		goto abort;
	*op = "commit";
	if (qdc_simple(dc, dry_run ? QDC_ROLLBACK : QDC_COMMIT) != SQLITE_DONE)
		goto abort;
	rc = 0;
	goto done;
abort:
	rc = qdc_abort(dc, *op);
done:
	for (size_t i = 0; i < nmv; i++)
		free(mv[i].mailbox);
	free(mv);
	return rc;
}

/* queue_db_ctl_pause - pause a destination ("*": all); 0 or -1 */
int
queue_db_ctl_pause(struct queue_db_ctl *dc, const char *domain,
    const char *reason, int64_t now)
{
	sqlite3_stmt *s = dc->st[QDC_PAUSE];

	sqlite3_bind_text(s, 1, domain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, reason, -1, SQLITE_TRANSIENT);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "pause");
		return -1;
	}
	return 0;
}

/* queue_db_ctl_resume - resume it: 1, 0 when it was not paused, -1 */
int
queue_db_ctl_resume(struct queue_db_ctl *dc, const char *domain)
{
	sqlite3_stmt *s = dc->st[QDC_RESUME];

	sqlite3_bind_text(s, 1, domain, -1, SQLITE_TRANSIENT);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "resume");
		return -1;
	}
	return sqlite3_changes64(dc->h) > 0;
}

struct qdc_paused_ctx {
	void	(*fn)(void *, const struct queue_paused_row *);
	void	*arg;
};

static void
qdc_paused_row(sqlite3_stmt *s, void *ctx)
{
	const struct qdc_paused_ctx *c = ctx;
	struct queue_paused_row r;

	r.domain = col_text(s, 0);
	r.since = sqlite3_column_int64(s, 1);
	r.reason = col_text(s, 2);
	r.waiting = sqlite3_column_int64(s, 3);
	c->fn(c->arg, &r);
}

/* queue_db_ctl_paused - the paused destinations, by name; 0 or -1 */
int
queue_db_ctl_paused(struct queue_db_ctl *dc,
    void (*fn)(void *, const struct queue_paused_row *), void *arg)
{
	struct qdc_paused_ctx c = { fn, arg };

	return qdc_each(dc, dc->st[QDC_PAUSED_LIST], "paused", qdc_paused_row,
	    &c);
}

/* the three truncations, compiled now (foreign keys are off) */
static int
qdc_truncate(struct queue_db_ctl *dc)
{
	int rc;

	/*
	 * Compiled now, with foreign keys off: a statement compiled while
	 * they were on carries their checks and cannot truncate.
	 */
	for (int i = QDC_ALL_RCPT; i <= QDC_ALL_MSG; i++) {
		sqlite3_stmt *d;

		if ((rc = sqlite3_prepare_v2(dc->h, qdc_sql[i], -1, &d,
		    NULL)) != SQLITE_OK)
			return rc;
		rc = sqlite3_step(d);
		sqlite3_finalize(d);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

/* the three truncations in one transaction, foreign keys off */
static int
qdc_delete_all_tx(struct queue_db_ctl *dc, int64_t *msgs, int64_t *rcpts,
    const char **op)
{
	sqlite3_stmt *s = dc->st[QDC_ALL_COUNT];

	*op = "begin";
	if (qdc_simple(dc, QDC_BEGIN) != SQLITE_DONE)
		return -1;
	*op = "count";
	if (sqlite3_step(s) != SQLITE_ROW) {
		qdc_done(s);
		return -1;
	}
	*msgs = sqlite3_column_int64(s, 0);
	*rcpts = sqlite3_column_int64(s, 1);
	qdc_done(s);
	*op = "delete";
	if (qdc_truncate(dc) != SQLITE_DONE)
		return -1;
	*op = "commit";
	if (qdc_simple(dc, QDC_COMMIT) != SQLITE_DONE)
		return -1;
	return 0;
}

/* queue_db_ctl_delete_all - empty the queue by truncation */
int
queue_db_ctl_delete_all(struct queue_db_ctl *dc, int64_t *msgs,
    int64_t *rcpts, const char **op)
{
	int rc = 0;

	*msgs = *rcpts = 0;
	*op = "foreign_keys";
	if (qdc_foreign_keys(dc, 0) != SQLITE_OK ||
	    qdc_delete_all_tx(dc, msgs, rcpts, op) == -1)
		rc = qdc_abort(dc, *op);
	if (qdc_foreign_keys(dc, 1) != SQLITE_OK)
		fatalx("%s: cannot turn foreign keys back on", __func__);
	return rc;
}

/* queue_db_ctl_dead_act - count or delete dead letters */
int
queue_db_ctl_dead_act(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int dry_run, int64_t now, int64_t *n)
{
	sqlite3_stmt *s;
	int rc;

	if (!dc->dead_ok)
		fatalx("%s: no dead-letter store", __func__);
	s = dc->st[dry_run ? QDC_DEAD_COUNT : QDC_DEAD_DELETE];
	qdc_bind_filter(s, f, now);
	rc = sqlite3_step(s);
	if (dry_run && rc == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	else if (!dry_run && rc == SQLITE_DONE)
		*n = sqlite3_changes64(dc->h);
	else {
		qdc_done(s);
		qdc_error(dc, "dead_delete");
		return -1;
	}
	qdc_done(s);
	return 0;
}

/*
 * Events.
 */

/* the conditions ?1..?5 of the events query and of its count */
static void
qdc_bind_events(sqlite3_stmt *s, const struct queue_events_query *q)
{
	sqlite3_bind_int64(s, 1, q->after);
	if (q->since > 0)
		sqlite3_bind_int64(s, 2, q->since);
	bind_opt(s, 3, q->type);
	bind_opt(s, 4, q->client_cidr);
	bind_opt(s, 5, q->user);
}

/* queue_db_ctl_events - the events a query selects, oldest first */
int
queue_db_ctl_events(struct queue_db_ctl *dc,
    const struct queue_events_query *q,
    void (*fn)(void *, int64_t, const struct queue_event *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_EVENT, { .event = fn }, arg };
	sqlite3_stmt *s = dc->st[QDC_EVENTS];

	qdc_bind_events(s, q);
	sqlite3_bind_int64(s, 6, q->limit);
	return qdc_each(dc, s, "events", qdc_row, &c);
}

/* queue_db_ctl_events_count - how many events q selects, its limit aside */
int64_t
queue_db_ctl_events_count(struct queue_db_ctl *dc,
    const struct queue_events_query *q)
{
	sqlite3_stmt *s = dc->st[QDC_EVENTS_COUNT];
	int64_t n = -1;

	qdc_bind_events(s, q);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	qdc_done(s);
	return n;
}

/* queue_db_ctl_event_add - record one event (its own transaction) */
int
queue_db_ctl_event_add(struct queue_db_ctl *dc, const struct queue_event *ev)
{
	sqlite3_stmt *s = dc->st[QDC_EVENT_ADD];

	sqlite3_bind_int64(s, 1, ev->time);
	sqlite3_bind_text(s, 2, ev->type ? ev->type : "", -1, SQLITE_TRANSIENT);
	bind_opt(s, 3, ev->client_ip);
	bind_opt(s, 4, ev->user);
	bind_opt(s, 5, ev->session);
	bind_opt(s, 6, ev->detail);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "event_add");
		return -1;
	}
	return 0;
}

/*
 * Bans.
 */

/* queue_db_ctl_ban_store - add or replace one ban */
int
queue_db_ctl_ban_store(struct queue_db_ctl *dc, const struct queue_ban *b)
{
	sqlite3_stmt *s = dc->st[QDC_BAN_ADD];

	sqlite3_bind_text(s, 1, b->cidr, -1, SQLITE_TRANSIENT);
	bind_opt(s, 2, b->reason);
	sqlite3_bind_text(s, 3, b->origin, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, b->created);
	if (b->expires > 0)
		sqlite3_bind_int64(s, 5, b->expires);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "ban_add");
		return -1;
	}
	return 0;
}

/* queue_db_ctl_ban_del - lift one ban */
int
queue_db_ctl_ban_del(struct queue_db_ctl *dc, const char *cidr)
{
	sqlite3_stmt *s = dc->st[QDC_BAN_DEL];

	sqlite3_bind_text(s, 1, cidr, -1, SQLITE_TRANSIENT);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "ban_del");
		return -1;
	}
	return sqlite3_changes(dc->h) > 0;
}

/* queue_db_ctl_ban_list - the bans in force */
int
queue_db_ctl_ban_list(struct queue_db_ctl *dc, int64_t now,
    void (*fn)(void *, const struct queue_ban *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_BAN, { .ban = fn }, arg };
	sqlite3_stmt *s = dc->st[QDC_BAN_LIST];

	sqlite3_bind_int64(s, 1, now);
	return qdc_each(dc, s, "ban_list", qdc_row, &c);
}

/* queue_db_ctl_ban_expire - drop the expired bans */
int
queue_db_ctl_ban_expire(struct queue_db_ctl *dc, int64_t now, int64_t *n)
{
	sqlite3_stmt *s = dc->st[QDC_BAN_EXPIRE];

	*n = 0;
	sqlite3_bind_int64(s, 1, now);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "ban_expire");
		return -1;
	}
	*n = sqlite3_changes(dc->h);
	return 0;
}

/*
 * Account states.
 */

/* queue_db_ctl_users - the accounts `moat user list` shows */
int
queue_db_ctl_users(struct queue_db_ctl *dc, int64_t since,
    void (*fn)(void *, const struct queue_user_row *), void *arg)
{
	struct qdc_ctx c = { QDC_ROW_USER, { .user = fn }, arg };
	sqlite3_stmt *s = dc->st[QDC_USER_LIST];

	sqlite3_bind_int64(s, 1, since);
	return qdc_each(dc, s, "user_list", qdc_row, &c);
}

/* a (text, text) or (text, integer) row to its function */
struct qdc_pair_ctx {
	void	(*strs)(void *, const char *, const char *);
	void	(*num)(void *, const char *, int64_t);
	void	*arg;
};

static void
qdc_pair_row(sqlite3_stmt *s, void *ctx)
{
	struct qdc_pair_ctx *c = ctx;

	if (c->strs != NULL)
		c->strs(c->arg, col_text(s, 0), col_text(s, 1));
	else
		c->num(c->arg, col_text(s, 0), sqlite3_column_int64(s, 1));
}

/* queue_db_ctl_user_states - every row of user_state */
int
queue_db_ctl_user_states(struct queue_db_ctl *dc,
    void (*fn)(void *, const char *, const char *), void *arg)
{
	struct qdc_pair_ctx c = { fn, NULL, arg };

	return qdc_each(dc, dc->st[QDC_USER_ALL], "users_send", qdc_pair_row,
	    &c);
}

/* queue_db_ctl_user_set - a state, and its held mail, in one go */
int
queue_db_ctl_user_set(struct queue_db_ctl *dc, const char *user,
    const char *state, const char *reason, int hold, int64_t now,
    int64_t *held, const char **op)
{
	sqlite3_stmt *s;

	*held = 0;
	*op = "begin";
	if (qdc_simple(dc, QDC_BEGIN) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	*op = "user_set";
	s = dc->st[QDC_USER_SET];
	sqlite3_bind_text(s, 1, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_TRANSIENT);
	bind_opt(s, 3, reason);
	sqlite3_bind_int64(s, 4, now);
	if (qdc_exec(s) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	if (hold) {
		/* what the account already queued stays until an admin looks */
		*op = "user_hold_mail";
		s = dc->st[QDC_USER_HOLD_MAIL];
		/* a user, a relay client, or one sender behind it */
		if (qdb_bind_hold(s, user, now) == 0) {
			if (qdc_exec(s) != SQLITE_DONE)
				return qdc_abort(dc, *op);
			*held = sqlite3_changes64(dc->h);
		} else
			sqlite3_reset(s);
	}
	*op = "commit";
	if (qdc_simple(dc, QDC_COMMIT) != SQLITE_DONE)
		return qdc_abort(dc, *op);
	return 0;
}

/* queue_db_ctl_user_get - user's state into buf; 0, 1 no row, -1 error */
int
queue_db_ctl_user_get(struct queue_db_ctl *dc, const char *user, char *buf,
    size_t len)
{
	sqlite3_stmt *s = dc->st[QDC_USER_GET];
	int rc;

	sqlite3_bind_text(s, 1, user, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s", col_text(s, 0));
	qdc_done(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* queue_db_ctl_user_forget - remove user's state row; rows removed, -1 */
int
queue_db_ctl_user_forget(struct queue_db_ctl *dc, const char *user)
{
	sqlite3_stmt *s = dc->st[QDC_USER_FORGET];

	sqlite3_bind_text(s, 1, user, -1, SQLITE_TRANSIENT);
	if (qdc_exec(s) != SQLITE_DONE)
		return -1;
	return (int)sqlite3_changes(dc->h);
}

/* queue_db_ctl_user_held - held recipients of user's (or ip's) mail */
int64_t
queue_db_ctl_user_held(struct queue_db_ctl *dc, const char *user,
    const char *ip)
{
	sqlite3_stmt *s = dc->st[QDC_USER_HELD];
	int64_t n = -1;

	bind_opt(s, 1, user);
	bind_opt(s, 2, ip);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	qdc_done(s);
	return n;
}

/*
 * Stats.
 */

/* queue_db_ctl_counts - the numbers of `moat stats` from the tables */
void
queue_db_ctl_counts(struct queue_db_ctl *dc, int64_t now,
    struct queue_db_ctl_counts *c)
{
	sqlite3_stmt *s = dc->st[QDC_STATS_MSG];

	memset(c, 0, sizeof(*c));
	if (sqlite3_step(s) == SQLITE_ROW) {
		c->messages = sqlite3_column_int64(s, 0);
		c->bytes = sqlite3_column_int64(s, 1);
		c->oldest = sqlite3_column_int64(s, 2);
	}
	qdc_done(s);
	s = dc->st[QDC_STATS_RCPT];
	while (sqlite3_step(s) == SQLITE_ROW) {
		int st = sqlite3_column_int(s, 0);

		if (st >= 0 && st < QUEUE_RCPT_NSTATES)
			c->rcpt[st] = sqlite3_column_int64(s, 1);
	}
	qdc_done(s);
	c->bans = qdc_int1(dc, QDC_STATS_BANS, now, 0);
	s = dc->st[QDC_STATS_USERS];
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (strcmp(col_text(s, 0), "held") == 0)
			c->users_held = sqlite3_column_int64(s, 1);
		else if (strcmp(col_text(s, 0), "suspended") == 0)
			c->users_suspended = sqlite3_column_int64(s, 1);
	}
	qdc_done(s);
	c->dead = dc->dead_ok ? qdc_int1(dc, QDC_STATS_DEAD, 0, 0) : -1;
}

/*
 * The connection.
 */

/* pragmas, the temporary table, ctl_cidr_match, the statements */
static int
qdc_prepare(struct queue_db_ctl *dc)
{
	int rc;

	sqlite3_db_config(dc->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_busy_timeout(dc->h, QDC_BUSY_MS);
	/*
	 * secure_delete FAST: SQLite built with SECURE_DELETE (Debian's is)
	 * zeroes every freed page, so purging 100,000 messages wrote the
	 * whole database (170 MB) into the WAL, fsynced it and checkpointed
	 * it back: over a second. FAST still scrubs deleted rows inside the
	 * pages a delete writes anyway; freed pages keep their old bytes
	 * until reused, in a file only the moat user can read (like
	 * Postfix's unlinked queue files). 40 ms instead.
	 */
	if ((rc = sqlite3_exec(dc->h, "PRAGMA synchronous = FULL;"
	    "PRAGMA secure_delete = FAST;"
	    "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
	    "CREATE TEMP TABLE IF NOT EXISTS ctl_sel(id INTEGER PRIMARY KEY)",
	    NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_create_function(dc->h, "ctl_cidr_match", 2,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	    qdc_cidr_match, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_create_function(dc->h, "ctl_addr_domain", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	    qdc_addr_domain, NULL, NULL)) != SQLITE_OK)
		return rc;
	for (int i = 0; i < QDC_N; i++)
		if ((rc = sqlite3_prepare_v3(dc->h, qdc_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &dc->st[i], NULL)) != SQLITE_OK)
			return rc;
	/* the dead-letter store belongs to delivery; use it when it exists */
	dc->dead_ok = 1;
	for (int i = QDC_N; i < QDC_NALL; i++)
		if (sqlite3_prepare_v3(dc->h, qdc_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &dc->st[i], NULL) != SQLITE_OK)
			dc->dead_ok = 0;
	/* sent_log came with schema version 4 */
	if (sqlite3_prepare_v3(dc->h, qdc_sql_sent, -1,
	    SQLITE_PREPARE_PERSISTENT, &dc->sent, NULL) != SQLITE_OK)
		dc->sent = NULL;
	return SQLITE_OK;
}

/* queue_db_ctl_open - the admin's own connection to queue.db */
struct queue_db_ctl *
queue_db_ctl_open(const char *spool_dir, char *err, size_t errlen)
{
	struct queue_db_ctl *dc;
	int rc;

	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		fatal("%s: calloc", __func__);
	snprintf(dc->path, sizeof(dc->path), "%s/queue.db", spool_dir);
	rc = sqlite3_open_v2(dc->path, &dc->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK)
		rc = qdc_prepare(dc);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", dc->path, dc->h ?
		    sqlite3_errmsg(dc->h) : sqlite3_errstr(rc));
		queue_db_ctl_close(dc);
		return NULL;
	}
	return dc;
}

/* queue_db_ctl_close - finalize the statements, close */
void
queue_db_ctl_close(struct queue_db_ctl *dc)
{
	if (dc == NULL)
		return;
	for (int i = 0; i < QDC_NALL; i++)
		sqlite3_finalize(dc->st[i]);
	sqlite3_finalize(dc->sent);
	if (dc->h)
		sqlite3_close(dc->h);
	free(dc);
}

/*
 * queue_db_ctl_verify_list - the recipient verification answers in
 * force at now, newest first, at most limit; only address's when it is
 * not "". 0 or -1.
 */
int
queue_db_ctl_verify_list(struct queue_db_ctl *dc, int64_t now,
    const char *address, uint32_t limit,
    void (*fn)(void *, const struct queue_verify_row *), void *arg)
{
	sqlite3_stmt *s = dc->st[QDC_VERIFY_LIST];
	int rc;

	sqlite3_bind_int64(s, 1, now);
	if (address[0] != '\0')
		sqlite3_bind_text(s, 2, address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct queue_verify_row r;

		r.address = (const char *)sqlite3_column_text(s, 0);
		r.result = sqlite3_column_int(s, 1);
		r.reply = (const char *)sqlite3_column_text(s, 2);
		r.updated = sqlite3_column_int64(s, 3);
		r.expires = sqlite3_column_int64(s, 4);
		if (r.address != NULL && r.reply != NULL)
			fn(arg, &r);
	}
	qdc_done(s);
	if (rc != SQLITE_DONE) {
		qdc_error(dc, "verify_list");
		return -1;
	}
	return 0;
}

/* queue_db_ctl_verify_flush - forget address's answer (all: ""); *n rows */
int
queue_db_ctl_verify_flush(struct queue_db_ctl *dc, const char *address,
    int64_t *n)
{
	sqlite3_stmt *s = dc->st[QDC_VERIFY_FLUSH];

	*n = 0;
	if (address[0] != '\0')
		sqlite3_bind_text(s, 1, address, -1, SQLITE_TRANSIENT);
	if (qdc_exec(s) != SQLITE_DONE) {
		qdc_error(dc, "verify_flush");
		return -1;
	}
	*n = sqlite3_changes64(dc->h);
	return 0;
}
