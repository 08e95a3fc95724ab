/*
 * queue_ctl.c - control operations on the queue database.
 *
 * The control process forwards each checked request here as
 * PROTO_CTL_REQUEST; this module runs it on a connection of its own to
 * queue.db and answers PROTO_CTL_ANSWER with tables (ctl_msg.h).
 *
 * Purges and bulk changes are set-based: the matching message ids go
 * into a temporary table in one statement, then recipients, bodies and
 * messages are deleted (or recipients updated) with one statement each,
 * all in one transaction. Children are deleted before their parent so
 * the ON DELETE CASCADE finds nothing to do row by row.
 *
 * It also owns the bans and user_state tables. A ban smtp decided
 * (PROTO_BAN_ADD from smtp) is stored and not echoed: smtp applied it
 * already. `moat ban add|del` stores the change and sends just that
 * one ban (PROTO_BAN_ADD, PROTO_BAN_DEL): smtp applies it in O(1), so
 * ten thousand bans cost ten thousand small messages, not ten thousand
 * copies of a growing list. The whole list (PROTO_BANS_CHANGED) goes
 * out once at start; expired bans are dropped by each side on its own.
 * `moat user ...` changes user_state, sent as PROTO_USER_STATE, every
 * row of it at start too.
 *
 * Public: queue_ctl_new, queue_ctl_free, queue_ctl_ban_add,
 * queue_ctl_set_stats, queue_ctl_smtp_closed.
 *
 * SECURITY: every statement is a fixed text prepared at start; filter
 * values are bound parameters, never pasted into SQL. Requests were
 * checked by the control process and are decoded again here with the
 * same checks; a bad one is answered CTL_BAD_REQUEST, not obeyed. Each
 * state-changing operation is recorded in events with the caller's uid.
 * LIMITS: CTL_LIST_MAX rows a list (default QC_LIST_DEFAULT), events
 * QC_EVENTS_DEFAULT; a shown body is cut at QC_SHOW_MAX bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "ctl/ctl_msg.h"
#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "queue/queue_ctl.h"
#include "policy/watch.h"
#include "queue/queue_db.h"

#define QC_BUSY_MS		5000
#define QC_LIST_DEFAULT		CTL_LIST_MAX
#define QC_EVENTS_DEFAULT	100
#define QC_SHOW_MAX		(8u * 1024 * 1024)
#define QC_EXPIRE_SECS		60
#define QC_RECENT_SECS		86400	/* "recent" counters: one day */
#define QC_HOUR_SECS		3600	/* messages per user: one hour */
#define QC_BOUNCE_TEXT		"5.0.0 returned by the administrator"

/*
 * The filter of every queue operation, over message AS m. Parameters:
 * ?1 qid, ?2 sender ('' is <>), ?3 recipient, ?4 recipient domain,
 * ?5 AUTH user, ?6 client CIDR, ?7 created at or before, ?8 created at
 * or after, ?9 mask of recipient states. NULL: no condition.
 */
#define QC_FILTER \
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
#define QC_DFILTER \
	"(?1 IS NULL OR qid = ?1)" \
	" AND (?2 IS NULL OR sender = ?2 COLLATE NOCASE)" \
	" AND (?3 IS NULL OR recipient = ?3 COLLATE NOCASE)" \
	" AND (?4 IS NULL OR lower(substr(recipient, instr(recipient, '@') + 1))" \
	"  = lower(?4))" \
	" AND (?7 IS NULL OR time <= ?7)" \
	" AND (?8 IS NULL OR time >= ?8)"

#define QC_SEL	"(SELECT id FROM temp.ctl_sel)"

enum qc_stmt {
	QC_BEGIN,
	QC_COMMIT,
	QC_ROLLBACK,
	QC_SEL_CLEAR,
	QC_SEL_FILL,
	QC_SEL_COUNT,
	QC_DEL_RCPT,
	QC_DEL_BODY,
	QC_DEL_MSG,
	QC_HOLD,
	QC_RELEASE,
	QC_RETRY,
	QC_BOUNCE,
	QC_SUMMARY,
	QC_SUMMARY_OLDEST,
	QC_SUMMARY_ERR,
	QC_SUMMARY_TOTAL,
	QC_ALL_COUNT,
	QC_ALL_RCPT,
	QC_ALL_BODY,
	QC_ALL_MSG,
	QC_LIST,
	QC_SHOW_MSG,
	QC_SHOW_RCPT,
	QC_SHOW_BODY,
	QC_EVENTS,
	QC_EVENT_ADD,
	QC_EVENT_RAW,
	QC_BAN_ADD,
	QC_BAN_DEL,
	QC_BAN_LIST,
	QC_BAN_EXPIRE,
	QC_USER_LIST,
	QC_USER_SET,
	QC_USER_HOLD_MAIL,
	QC_USER_ALL,
	QC_STATS_MSG,
	QC_STATS_RCPT,
	QC_STATS_EVENTS,
	QC_STATS_BANS,
	QC_STATS_USERS,
	QC_N,
	/* prepared only when the deadletter table exists */
	QC_DEAD_LIST = QC_N,
	QC_DEAD_COUNT,
	QC_DEAD_DELETE,
	QC_STATS_DEAD,
	QC_NALL
};

static const char *const qc_sql[QC_NALL] = {
	[QC_BEGIN] = "BEGIN IMMEDIATE",
	[QC_COMMIT] = "COMMIT",
	[QC_ROLLBACK] = "ROLLBACK",
	[QC_SEL_CLEAR] = "DELETE FROM temp.ctl_sel",
	[QC_SEL_FILL] =
	    "INSERT INTO temp.ctl_sel(id) SELECT m.id FROM message AS m WHERE "
	    QC_FILTER,
	[QC_SEL_COUNT] =
	    "SELECT (SELECT count(*) FROM temp.ctl_sel), (SELECT count(*) FROM"
	    " recipient WHERE msg_id IN " QC_SEL ")",
	[QC_DEL_RCPT] = "DELETE FROM recipient WHERE msg_id IN " QC_SEL,
	[QC_DEL_BODY] = "DELETE FROM body WHERE msg_id IN " QC_SEL,
	[QC_DEL_MSG] = "DELETE FROM message WHERE id IN " QC_SEL,
	[QC_HOLD] =
	    "UPDATE recipient SET state = 2, updated = ?1"
	    " WHERE state IN (0, 1) AND msg_id IN " QC_SEL,
	[QC_RELEASE] =
	    "UPDATE recipient SET state = 0, next_attempt = ?1, updated = ?1"
	    " WHERE state = 2 AND msg_id IN " QC_SEL,
	[QC_RETRY] =
	    "UPDATE recipient SET state = 0, next_attempt = ?1, updated = ?1"
	    " WHERE state IN (0, 1) AND msg_id IN " QC_SEL,
	[QC_BOUNCE] =
	    "UPDATE recipient SET state = 4, last_error = ?2, updated = ?1"
	    " WHERE state IN (0, 1, 2) AND msg_id IN " QC_SEL,
	/*
	 * Answered from the index recipient_domain_state alone (it holds
	 * the row id too): 100,000 recipients in a few milliseconds. The
	 * oldest recipient (lowest id) and the newest deferred one are then
	 * one lookup each per domain.
	 */
	[QC_SUMMARY] =
	    "SELECT domain, state, count(*), min(id), max(id) FROM recipient"
	    " WHERE state != 3 GROUP BY domain, state",
	[QC_SUMMARY_OLDEST] =
	    "SELECT m.created FROM recipient AS r JOIN message AS m"
	    " ON m.id = r.msg_id WHERE r.id = ?1",
	[QC_SUMMARY_ERR] =
	    "SELECT last_error, attempts FROM recipient WHERE id = ?1",
	[QC_SUMMARY_TOTAL] = "SELECT count(*) FROM message",
	/*
	 * delete --all: children first, then the parent, each a DELETE
	 * without WHERE, which SQLite runs as a truncation (pages freed,
	 * no row-by-row work) -- but only while no foreign key names the
	 * table, hence foreign_keys off around it (outside the transaction,
	 * as SQLite requires). Nothing can be left dangling: every table
	 * of the three is emptied in the same transaction. (The pragma is
	 * run with qc_foreign_keys, never prepared ahead: SQLite applies a
	 * flag pragma when it compiles it, so a prepared one did nothing
	 * when stepped and each purge deleted row by row, 1 s for 100,000.)
	 */
	[QC_ALL_COUNT] =
	    "SELECT (SELECT count(*) FROM message), (SELECT count(*) FROM"
	    " recipient)",
	[QC_ALL_RCPT] = "DELETE FROM recipient",
	[QC_ALL_BODY] = "DELETE FROM body",
	[QC_ALL_MSG] = "DELETE FROM message",
	[QC_LIST] =
	    "SELECT m.qid, m.created, m.size, m.sender, m.auth_user,"
	    " m.client_ip,"
	    " (SELECT group_concat(address, ', ') FROM recipient"
	    "  WHERE msg_id = m.id),"
	    " (SELECT sum(DISTINCT 1 << state) FROM recipient"
	    "  WHERE msg_id = m.id),"
	    " (SELECT max(attempts) FROM recipient WHERE msg_id = m.id),"
	    " (SELECT last_error FROM recipient WHERE msg_id = m.id"
	    "  AND last_error IS NOT NULL ORDER BY updated DESC LIMIT 1)"
	    " FROM message AS m WHERE " QC_FILTER " ORDER BY m.id LIMIT ?20",
	[QC_SHOW_MSG] =
	    "SELECT id, qid, created, sender, helo, client_ip, auth_user,"
	    " listener, envid, size, rcpt_count FROM message WHERE qid = ?1",
	[QC_SHOW_RCPT] =
	    "SELECT address, state, attempts, next_attempt, updated,"
	    " last_error, mailbox FROM recipient WHERE msg_id = ?1 ORDER BY id",
	[QC_SHOW_BODY] = "SELECT data FROM body WHERE msg_id = ?1",
	[QC_EVENTS] =
	    "SELECT * FROM (SELECT id, time, type, client_ip, user, session,"
	    " detail FROM events WHERE id > ?1 AND (?2 IS NULL OR time >= ?2)"
	    " AND (?3 IS NULL OR type = ?3)"
	    " AND (?4 IS NULL OR ctl_cidr_match(?4, client_ip))"
	    " AND (?5 IS NULL OR user = ?5)"
	    " ORDER BY id DESC LIMIT ?6) ORDER BY id",
	[QC_EVENT_ADD] =
	    "INSERT INTO events(time, type, client_ip, user, session, detail)"
	    " VALUES (?1, ?2, NULL, ?3, NULL, ?4)",
	[QC_EVENT_RAW] =
	    "INSERT INTO events(time, type, client_ip, user, session, detail)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[QC_BAN_ADD] =
	    "INSERT INTO bans(cidr, reason, origin, created, expires)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cidr) DO UPDATE SET"
	    " reason = excluded.reason, origin = excluded.origin,"
	    " created = excluded.created, expires = excluded.expires",
	[QC_BAN_DEL] = "DELETE FROM bans WHERE cidr = ?1",
	[QC_BAN_LIST] =
	    "SELECT cidr, reason, origin, created, expires FROM bans"
	    " WHERE expires IS NULL OR expires > ?1 ORDER BY created, cidr",
	[QC_BAN_EXPIRE] =
	    "DELETE FROM bans WHERE expires IS NOT NULL AND expires <= ?1",
	[QC_USER_LIST] =
	    "WITH u(user) AS (SELECT user FROM user_state"
	    " UNION SELECT auth_user FROM message WHERE auth_user IS NOT NULL"
	    " UNION SELECT user FROM events WHERE user IS NOT NULL"
	    "  AND user != '' AND time >= ?1)"
	    " SELECT u.user, coalesce(s.state, 'active'), s.reason, s.updated,"
	    " (SELECT count(*) FROM message WHERE auth_user = u.user),"
	    " (SELECT count(*) FROM events WHERE user = u.user AND time >= ?1),"
	    " (SELECT count(*) FROM events WHERE user = u.user AND time >= ?1"
	    "  AND type LIKE 'auth%')"
	    " FROM u LEFT JOIN user_state AS s ON s.user = u.user"
	    " ORDER BY u.user",
	[QC_USER_SET] =
	    "INSERT INTO user_state(user, state, reason, updated)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user) DO UPDATE SET"
	    " state = excluded.state, reason = excluded.reason,"
	    " updated = excluded.updated",
	[QC_USER_HOLD_MAIL] =
	    "UPDATE recipient SET state = 2, updated = ?2 WHERE state IN (0, 1)"
	    " AND msg_id IN (SELECT id FROM message WHERE auth_user = ?1)",
	[QC_USER_ALL] = "SELECT user, state FROM user_state ORDER BY user",
	[QC_STATS_MSG] = "SELECT count(*), coalesce(sum(size), 0) FROM message",
	[QC_STATS_RCPT] = "SELECT state, count(*) FROM recipient GROUP BY state",
	[QC_STATS_EVENTS] =
	    "SELECT type, count(*) FROM events WHERE time >= ?1 GROUP BY type",
	[QC_STATS_BANS] =
	    "SELECT count(*) FROM bans WHERE expires IS NULL OR expires > ?1",
	[QC_STATS_USERS] =
	    "SELECT state, count(*) FROM user_state GROUP BY state",
	[QC_DEAD_LIST] =
	    "SELECT id, qid, time, created, sender, recipient, reason,"
	    " length(data) FROM deadletter WHERE " QC_DFILTER
	    " ORDER BY id LIMIT ?20",
	[QC_DEAD_COUNT] = "SELECT count(*) FROM deadletter WHERE " QC_DFILTER,
	[QC_DEAD_DELETE] = "DELETE FROM deadletter WHERE " QC_DFILTER,
	[QC_STATS_DEAD] = "SELECT count(*) FROM deadletter",
};

/* Owned by the queue process (queue_proc.c). */
struct queue_ctl {
	struct event_base	*base;		/* not owned */
	sqlite3			*h;
	sqlite3_stmt		*st[QC_NALL];
	int			 dead_ok;	/* deadletter statements ready */
	struct ipc_peer		*control;	/* owned, NULL without control */
	struct ipc_peer		*smtp;		/* not owned */
	int			 smtp_closed;
	void			(*kick)(void *);
	void			*kick_arg;
	struct event		*ev_expire;
	const struct queue_stats *stats;	/* not owned, NULL: none */
	struct watch		*hour;		/* messages per user, owned */
	char			 path[CONF_PATH_MAX + 16];
};

static int64_t
qc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
qc_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void
qc_log_error(struct queue_ctl *qc, const char *op)
{
	char esc[256];
	const char *msg = sqlite3_errmsg(qc->h);

	log_err(LOG_CAT_CONTROL, "event=db_error op=%s err=\"%s\"", op,
	    log_escape(esc, sizeof(esc), msg, strlen(msg)));
}

/* Run a statement that returns no row; SQLITE_DONE or an error code. */
static int
qc_exec(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	qc_done(s);
	return rc;
}

static int
qc_simple(struct queue_ctl *qc, enum qc_stmt i)
{
	return qc_exec(qc->st[i]);
}

/*
 * Foreign keys on or off, checked: 0 (SQLITE_OK) when the connection
 * now has them as asked. Outside a transaction only.
 */
static int
qc_foreign_keys(struct queue_ctl *qc, int on)
{
	sqlite3_stmt *s;
	int rc, got = -1;

	if ((rc = sqlite3_exec(qc->h, on ? "PRAGMA foreign_keys = ON" :
	    "PRAGMA foreign_keys = OFF", NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_prepare_v2(qc->h, "PRAGMA foreign_keys", -1, &s,
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
qc_cidr_match(sqlite3_context *ctx, int argc, sqlite3_value **argv)
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

/* Bind a filter's parameters ?1..?9 (QC_FILTER, QC_DFILTER). */
static void
qc_bind_filter(sqlite3_stmt *s, const struct ctl_filter *f, int64_t now)
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

/* A short text of the filter for the events table and the log. */
static void
qc_filter_desc(const struct ctl_filter *f, char *buf, size_t len)
{
	char tmp[1400];
	size_t n = 0;

	tmp[0] = '\0';
#define ADD(name, v) do { if ((v)[0] && n < sizeof(tmp)) n += (size_t)snprintf( \
	tmp + n, sizeof(tmp) - n, "%s%s=%s", n ? " " : "", name, v); } while (0)
	if (f->flags & CTL_FILTER_ALL)
		ADD("all", "yes");
	if (f->flags & CTL_FILTER_DEAD)
		ADD("dead", "yes");
	ADD("qid", f->qid);
	ADD("from", f->from);
	ADD("to", f->to);
	ADD("to_domain", f->to_domain);
	ADD("user", f->user);
	ADD("client", f->client);
#undef ADD
	if (f->older_than && n < sizeof(tmp))
		n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, " older=%" PRId64,
		    f->older_than);
	if (f->newer_than && n < sizeof(tmp))
		n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, " newer=%" PRId64,
		    f->newer_than);
	if (f->states && n < sizeof(tmp))
		snprintf(tmp + n, sizeof(tmp) - n, " states=0x%x", f->states);
	log_escape(buf, len, tmp, strlen(tmp));
}

/* Record an administrator's change (its own small transaction). */
static void
qc_event(struct queue_ctl *qc, uint32_t uid, const char *type,
    const char *user, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
qc_event(struct queue_ctl *qc, uint32_t uid, const char *type,
    const char *user, const char *fmt, ...)
{
	sqlite3_stmt *s = qc->st[QC_EVENT_ADD];
	char detail[1024], rest[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	snprintf(detail, sizeof(detail), "uid=%" PRIu32 " %s", uid, rest);
	log_notice(LOG_CAT_CONTROL, "event=%s %s", type, detail);
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
	bind_opt(s, 3, user);
	sqlite3_bind_text(s, 4, detail, -1, SQLITE_TRANSIENT);
	if (qc_exec(s) != SQLITE_DONE)
		qc_log_error(qc, "event_add");
}

/*
 * Lists for smtp.
 */

static void
qc_send_bans(struct queue_ctl *qc)
{
	sqlite3_stmt *s = qc->st[QC_BAN_LIST];
	struct proto_bans_item b;
	struct ipc_msg rows, m;
	uint32_t n = 0;
	int rc;

	if (qc->smtp == NULL || qc->smtp_closed)
		return;
	ipc_msg_init(&rows, 0, 0);
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		b.cidr = col_text(s, 0);
		b.expires = sqlite3_column_int64(s, 4);
		proto_bans_item_enc(&rows, &b);
		n++;
	}
	qc_done(s);
	if (rc != SQLITE_DONE) {
		qc_log_error(qc, "bans_send");
		ipc_msg_discard(&rows);
		return;
	}
	proto_bans_enc(&m, 0, n, &rows);
	ipc_msg_discard(&rows);
	ipc_send(qc->smtp, &m);
	log_debug(LOG_CAT_CONTROL, "event=bans_sent count=%" PRIu32, n);
}

/* one ban an admin added or changed, to smtp */
static void
qc_send_ban_add(struct queue_ctl *qc, const char *net, int64_t expires,
    const char *reason)
{
	struct proto_ban b;
	struct ipc_msg m;

	if (qc->smtp == NULL || qc->smtp_closed)
		return;
	b.cidr = net;
	b.expires = expires;
	b.reason = reason;
	b.origin = "admin";
	proto_ban_enc(&m, 0, &b);
	ipc_send(qc->smtp, &m);
}

/* one ban an admin lifted, to smtp */
static void
qc_send_ban_del(struct queue_ctl *qc, const char *net)
{
	struct proto_ban_del b;
	struct ipc_msg m;

	if (qc->smtp == NULL || qc->smtp_closed)
		return;
	b.cidr = net;
	proto_ban_del_enc(&m, 0, &b);
	ipc_send(qc->smtp, &m);
}

static void
qc_send_user(struct queue_ctl *qc, const char *user, const char *state)
{
	struct proto_user_state us;
	struct ipc_msg m;

	if (qc->smtp == NULL || qc->smtp_closed)
		return;
	us.user = user;
	us.state = state;
	proto_user_state_enc(&m, 0, &us);
	ipc_send(qc->smtp, &m);
}

static void
qc_send_users(struct queue_ctl *qc)
{
	sqlite3_stmt *s = qc->st[QC_USER_ALL];
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		qc_send_user(qc, col_text(s, 0), col_text(s, 1));
	qc_done(s);
	if (rc != SQLITE_DONE)
		qc_log_error(qc, "users_send");
}

static void
qc_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_ctl *qc = arg;
	sqlite3_stmt *s = qc->st[QC_BAN_EXPIRE];
	int n;

	if (qc->hour != NULL)
		watch_expire(qc->hour, time(NULL));
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	if (qc_exec(s) != SQLITE_DONE) {
		qc_log_error(qc, "ban_expire");
		return;
	}
	/* smtp drops expired bans on its own timer */
	if ((n = sqlite3_changes(qc->h)) > 0)
		log_info(LOG_CAT_CONTROL, "event=bans_expired count=%d", n);
}

/*
 * The operations. Each answers exactly once.
 */

static const char *const summary_cols[] = { "domain", "recipients",
    "oldest", "queued", "deferred", "held", "failed", "attempts",
    "last_error" };
static const enum ctl_kind summary_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_STR };

/* One destination of the summary, while it is being counted. */
struct qc_dest {
	char	*domain;		/* owned */
	int64_t	 n, by_state[5];
	int64_t	 oldest_id;		/* lowest recipient id */
	int64_t	 deferred_id;		/* newest deferred recipient, 0: none */
};

static int
qc_dest_cmp(const void *a, const void *b)
{
	const struct qc_dest *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->domain, y->domain);
}

static void
qc_summary(struct queue_ctl *qc, uint64_t id)
{
	sqlite3_stmt *s = qc->st[QC_SUMMARY];
	struct qc_dest *d = NULL;
	struct ipc_msg ans;
	size_t nd = 0, cap = 0;
	int64_t t0 = qc_now_ms(), rcpts = 0, msgs = 0;
	char msg[160];
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *dom = col_text(s, 0);
		int st = sqlite3_column_int(s, 1);
		int64_t n = sqlite3_column_int64(s, 2);

		/* rows come grouped by domain (the index's order) */
		if (nd == 0 || strcmp(d[nd - 1].domain, dom) != 0) {
			if (nd == cap) {
				cap = cap ? cap * 2 : 256;
				if ((d = reallocarray(d, cap, sizeof(*d))) == NULL)
					fatal("%s: realloc", __func__);
			}
			memset(&d[nd], 0, sizeof(d[nd]));
			if ((d[nd].domain = strdup(dom)) == NULL)
				fatal("%s: strdup", __func__);
			d[nd].oldest_id = INT64_MAX;
			nd++;
		}
		d[nd - 1].n += n;
		if (st >= 0 && st < 5)
			d[nd - 1].by_state[st] += n;
		if (sqlite3_column_int64(s, 3) < d[nd - 1].oldest_id)
			d[nd - 1].oldest_id = sqlite3_column_int64(s, 3);
		if (st == 1)
			d[nd - 1].deferred_id = sqlite3_column_int64(s, 4);
		rcpts += n;
	}
	qc_done(s);
	if (rc != SQLITE_DONE)
		goto fail;
	s = qc->st[QC_SUMMARY_TOTAL];
	if (sqlite3_step(s) == SQLITE_ROW)
		msgs = sqlite3_column_int64(s, 0);
	qc_done(s);
	if (nd > 0)
		qsort(d, nd, sizeof(*d), qc_dest_cmp);

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_table(&ans, "summary", 9, summary_cols, summary_kinds);
	for (size_t i = 0; i < nd; i++) {
		sqlite3_stmt *o = qc->st[QC_SUMMARY_OLDEST];
		sqlite3_stmt *e = qc->st[QC_SUMMARY_ERR];

		ctl_ans_row(&ans);
		ipc_put_str(&ans, d[i].domain);
		ipc_put_i64(&ans, d[i].n);
		sqlite3_bind_int64(o, 1, d[i].oldest_id);
		ipc_put_i64(&ans, sqlite3_step(o) == SQLITE_ROW ?
		    sqlite3_column_int64(o, 0) : 0);
		qc_done(o);
		ipc_put_i64(&ans, d[i].by_state[0]);
		ipc_put_i64(&ans, d[i].by_state[1]);
		ipc_put_i64(&ans, d[i].by_state[2]);
		ipc_put_i64(&ans, d[i].by_state[4]);
		if (d[i].deferred_id != 0) {
			sqlite3_bind_int64(e, 1, d[i].deferred_id);
			if (sqlite3_step(e) == SQLITE_ROW) {
				ipc_put_i64(&ans, sqlite3_column_int64(e, 1));
				ipc_put_str(&ans, col_text(e, 0));
			} else {
				ipc_put_i64(&ans, 0);
				ipc_put_str(&ans, "");
			}
			qc_done(e);
		} else {
			ipc_put_i64(&ans, 0);
			ipc_put_str(&ans, "");
		}
	}
	ctl_ans_end(&ans);
	{
		struct ipc_msg head;

		snprintf(msg, sizeof(msg), "%zu destinations, %" PRId64
		    " messages, %" PRId64 " recipients (%" PRId64 " ms)", nd,
		    msgs, rcpts, qc_now_ms() - t0);
		ipc_msg_init(&head, 0, 0);
		ctl_ans_begin(&head, CTL_OK, msg);
		if (evbuffer_add_buffer(head.buf, ans.buf) == -1)
			fatal("%s: evbuffer_add_buffer", __func__);
		ipc_msg_discard(&ans);
		ctl_answer_send(qc->control, id, &head);
	}
	for (size_t i = 0; i < nd; i++)
		free(d[i].domain);
	free(d);
	return;
fail:
	qc_log_error(qc, "summary");
	for (size_t i = 0; i < nd; i++)
		free(d[i].domain);
	free(d);
	ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database error: %s",
	    sqlite3_errmsg(qc->h));
}

static void
qc_states_text(int64_t mask, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 5 && n < len; i++)
		if (mask & (1 << i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
			    ctl_state_name(i));
}

static const char *const list_cols[] = { "qid", "created", "size", "from",
    "user", "client", "to", "state", "attempts", "last_error" };
static const enum ctl_kind list_kinds[] = { CTL_KIND_STR, CTL_KIND_TIME,
    CTL_KIND_SIZE, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_INT, CTL_KIND_STR };

static const char *const dead_cols[] = { "id", "qid", "time", "created",
    "from", "to", "reason", "size" };
static const enum ctl_kind dead_kinds[] = { CTL_KIND_INT, CTL_KIND_STR,
    CTL_KIND_TIME, CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_SIZE };

/* Dead letters have no user, client or state: refuse those filters. */
static int
qc_dead_check(struct queue_ctl *qc, uint64_t id, const struct ctl_filter *f)
{
	if (!qc->dead_ok) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "this queue has no dead-letter store");
		return -1;
	}
	if (f->user[0] || f->client[0] || f->states) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "--dead: --user, --client-ip and --state do not apply to "
		    "dead letters");
		return -1;
	}
	return 0;
}

static void
qc_list(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int dead = (f->flags & CTL_FILTER_DEAD) != 0;
	sqlite3_stmt *s;
	struct ipc_msg ans;
	int64_t now = time(NULL), t0 = qc_now_ms();
	char states[64];
	size_t n = 0;
	int rc;

	if (dead && qc_dead_check(qc, id, f) == -1)
		return;
	s = qc->st[dead ? QC_DEAD_LIST : QC_LIST];
	qc_bind_filter(s, f, now);
	sqlite3_bind_int64(s, 20, q->limit ? q->limit : QC_LIST_DEFAULT);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	if (dead)
		ctl_ans_table(&ans, "deadletters", 8, dead_cols, dead_kinds);
	else
		ctl_ans_table(&ans, "messages", 10, list_cols, list_kinds);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ctl_ans_row(&ans);
		if (dead) {
			ipc_put_i64(&ans, sqlite3_column_int64(s, 0));
			ipc_put_str(&ans, col_text(s, 1));
			ipc_put_i64(&ans, sqlite3_column_int64(s, 2));
			ipc_put_i64(&ans, sqlite3_column_int64(s, 3));
			ipc_put_str(&ans, col_text(s, 4));
			ipc_put_str(&ans, col_text(s, 5));
			ipc_put_str(&ans, col_text(s, 6));
			ipc_put_i64(&ans, sqlite3_column_int64(s, 7));
		} else {
			ipc_put_str(&ans, col_text(s, 0));
			ipc_put_i64(&ans, sqlite3_column_int64(s, 1));
			ipc_put_i64(&ans, sqlite3_column_int64(s, 2));
			ipc_put_str(&ans, col_text(s, 3));
			ipc_put_str(&ans, col_text(s, 4));
			ipc_put_str(&ans, col_text(s, 5));
			ipc_put_str(&ans, col_text(s, 6));
			qc_states_text(sqlite3_column_int64(s, 7), states,
			    sizeof(states));
			ipc_put_str(&ans, states);
			ipc_put_i64(&ans, sqlite3_column_int64(s, 8));
			ipc_put_str(&ans, col_text(s, 9));
		}
		n++;
	}
	qc_done(s);
	if (rc != SQLITE_DONE) {
		qc_log_error(qc, "list");
		ipc_msg_discard(&ans);
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	ctl_ans_end(&ans);
	log_debug(LOG_CAT_CONTROL, "event=list rows=%zu ms=%" PRId64, n,
	    qc_now_ms() - t0);
	ctl_answer_send(qc->control, id, &ans);
}

static const char *const kv_cols[] = { "field", "value" };
static const enum ctl_kind kv_kinds[] = { CTL_KIND_STR, CTL_KIND_STR };
static const char *const rcpt_cols[] = { "address", "state", "attempts",
    "next_attempt", "updated", "mailbox", "last_error" };
static const enum ctl_kind rcpt_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT, CTL_KIND_TIME, CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR };
static const char *const text_cols[] = { "text" };
static const enum ctl_kind text_kinds[] = { CTL_KIND_STR };

static void
kv(struct ipc_msg *m, const char *k, const char *v)
{
	ctl_ans_row(m);
	ipc_put_str(m, k);
	ipc_put_str(m, v);
}

static void
qc_show(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	sqlite3_stmt *s = qc->st[QC_SHOW_MSG];
	struct ipc_msg ans;
	int64_t msg_id;
	char buf[64];
	int rc;

	sqlite3_bind_text(s, 1, q->a, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		qc_done(s);
		if (rc == SQLITE_DONE)
			ctl_answer_simple(qc->control, id, CTL_FAILED,
			    "%s: no such message in the queue", q->a);
		else
			ctl_answer_simple(qc->control, id, CTL_FAILED,
			    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "envelope", 2, kv_cols, kv_kinds);
	msg_id = sqlite3_column_int64(s, 0);
	kv(&ans, "qid", col_text(s, 1));
	snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sqlite3_column_int64(s, 2));
	kv(&ans, "created", buf);
	kv(&ans, "from", col_text(s, 3));
	kv(&ans, "helo", col_text(s, 4));
	kv(&ans, "client", col_text(s, 5));
	kv(&ans, "user", col_text(s, 6));
	kv(&ans, "listener", col_text(s, 7));
	kv(&ans, "envid", col_text(s, 8));
	snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sqlite3_column_int64(s, 9));
	kv(&ans, "size", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sqlite3_column_int64(s, 10));
	kv(&ans, "recipients", buf);
	qc_done(s);

	s = qc->st[QC_SHOW_RCPT];
	ctl_ans_table(&ans, "recipients", 7, rcpt_cols, rcpt_kinds);
	sqlite3_bind_int64(s, 1, msg_id);
	while (sqlite3_step(s) == SQLITE_ROW) {
		ctl_ans_row(&ans);
		ipc_put_str(&ans, col_text(s, 0));
		ipc_put_str(&ans, ctl_state_name(sqlite3_column_int(s, 1)));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 2));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 3));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 4));
		ipc_put_str(&ans, col_text(s, 6));
		ipc_put_str(&ans, col_text(s, 5));
	}
	qc_done(s);

	s = qc->st[QC_SHOW_BODY];
	sqlite3_bind_int64(s, 1, msg_id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *data = sqlite3_column_blob(s, 0);
		size_t len = (size_t)sqlite3_column_bytes(s, 0), n = len;
		const char *end;

		if (!q->flag) {
			/* the header section: up to the first empty line */
			for (end = data; end != NULL && end < data + len; ) {
				const char *nl = memchr(end, '\n', len -
				    (size_t)(end - data));

				if (nl == NULL)
					break;
				if (nl == end || (nl == end + 1 && *end == '\r')) {
					n = (size_t)(end - data);
					break;
				}
				end = nl + 1;
			}
		}
		if (n > QC_SHOW_MAX)
			n = QC_SHOW_MAX;
		ctl_ans_table(&ans, q->flag ? "message" : "headers", 1,
		    text_cols, text_kinds);
		ctl_ans_row(&ans);
		/* a NUL in the message would end the string: cut there */
		if (data != NULL && memchr(data, '\0', n) != NULL)
			n = (size_t)((const char *)memchr(data, '\0', n) - data);
		ipc_put_bytes(&ans, data ? data : "", n);
	}
	qc_done(s);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

static const char *const act_cols[] = { "action", "messages", "recipients",
    "elapsed_ms", "dry_run" };
static const enum ctl_kind act_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT };

static void
qc_act_answer(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q,
    int64_t msgs, int64_t rcpts, int64_t ms)
{
	struct ipc_msg ans;
	char msg[256];
	static const char *const done[CTL_ACT_COUNT] = { "deleted", "held",
	    "released", "scheduled for retry", "returned to sender" };

	if (q->flag)
		snprintf(msg, sizeof(msg), "dry run: %s would act on %" PRId64
		    " messages (%" PRId64 " recipients) in %.3f s",
		    ctl_action_name(q->action), msgs, rcpts, (double)ms / 1000);
	else
		snprintf(msg, sizeof(msg), "%s %" PRId64 " messages (%" PRId64
		    " recipients) in %.3f s", done[q->action], msgs, rcpts,
		    (double)ms / 1000);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "result", 5, act_cols, act_kinds);
	ctl_ans_row(&ans);
	ipc_put_str(&ans, ctl_action_name(q->action));
	ipc_put_i64(&ans, msgs);
	ipc_put_i64(&ans, rcpts);
	ipc_put_i64(&ans, ms);
	ipc_put_i64(&ans, q->flag);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

/* Dead letters: count or delete; nothing else applies to them. */
static void
qc_act_dead(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int64_t now = time(NULL), t0 = qc_now_ms(), n = 0;
	sqlite3_stmt *s;
	char desc[512];
	int rc;

	if (qc_dead_check(qc, id, f) == -1)
		return;
	if (q->action != CTL_ACT_DELETE) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "--dead: dead letters can only be listed or deleted");
		return;
	}
	s = qc->st[q->flag ? QC_DEAD_COUNT : QC_DEAD_DELETE];
	qc_bind_filter(s, f, now);
	rc = sqlite3_step(s);
	if (q->flag && rc == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else if (!q->flag && rc == SQLITE_DONE)
		n = sqlite3_changes64(qc->h);
	else {
		qc_done(s);
		qc_log_error(qc, "dead_delete");
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	qc_done(s);
	if (!q->flag) {
		qc_filter_desc(f, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", NULL, "op=delete %s "
		    "deadletters=%" PRId64, desc, n);
	}
	qc_act_answer(qc, id, q, n, n, qc_now_ms() - t0);
}

/* delete --all: three truncations in one transaction */
static void
qc_delete_all(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	int64_t t0 = qc_now_ms(), msgs = 0, rcpts = 0;
	const char *op = "foreign_keys";
	sqlite3_stmt *s;
	int rc;

	if ((rc = qc_foreign_keys(qc, 0)) != SQLITE_OK)
		goto fail;
	op = "begin";
	if ((rc = qc_simple(qc, QC_BEGIN)) != SQLITE_DONE)
		goto fail;
	op = "count";
	s = qc->st[QC_ALL_COUNT];
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		qc_done(s);
		goto fail;
	}
	msgs = sqlite3_column_int64(s, 0);
	rcpts = sqlite3_column_int64(s, 1);
	qc_done(s);
	/*
	 * Compiled now, with foreign keys off: a statement compiled while
	 * they were on carries their checks and cannot truncate.
	 */
	op = "delete";
	for (int i = QC_ALL_RCPT; i <= QC_ALL_MSG; i++) {
		sqlite3_stmt *d;

		if ((rc = sqlite3_prepare_v2(qc->h, qc_sql[i], -1, &d,
		    NULL)) != SQLITE_OK)
			goto fail;
		rc = sqlite3_step(d);
		sqlite3_finalize(d);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	op = "commit";
	if ((rc = qc_simple(qc, QC_COMMIT)) != SQLITE_DONE)
		goto fail;
	if (qc_foreign_keys(qc, 1) != SQLITE_OK)
		fatalx("%s: cannot turn foreign keys back on", __func__);
	qc_event(qc, uid, "admin_queue", NULL, "op=delete all=yes messages=%"
	    PRId64 " recipients=%" PRId64, msgs, rcpts);
	qc_act_answer(qc, id, q, msgs, rcpts, qc_now_ms() - t0);
	return;
fail:
	qc_log_error(qc, op);
	ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database error "
	    "(%s): %s; nothing changed", op, sqlite3_errmsg(qc->h));
	if (!sqlite3_get_autocommit(qc->h))
		(void)qc_simple(qc, QC_ROLLBACK);
	if (qc_foreign_keys(qc, 1) != SQLITE_OK)
		fatalx("%s: cannot turn foreign keys back on", __func__);
}

static void
qc_act(struct queue_ctl *qc, uint64_t id, uint32_t uid, const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int64_t now = time(NULL), t0 = qc_now_ms(), msgs = 0, rcpts = 0;
	const char *op = "begin";
	sqlite3_stmt *s;
	char desc[512];
	int rc;

	if (f->flags & CTL_FILTER_DEAD) {
		qc_act_dead(qc, id, uid, q);
		return;
	}
	if (q->action == CTL_ACT_DELETE && (f->flags & CTL_FILTER_ALL) &&
	    !q->flag) {
		qc_delete_all(qc, id, uid, q);
		return;
	}
	if ((rc = qc_simple(qc, QC_BEGIN)) != SQLITE_DONE)
		goto fail;
	op = "select";
	if ((rc = qc_simple(qc, QC_SEL_CLEAR)) != SQLITE_DONE)
		goto fail;
	s = qc->st[QC_SEL_FILL];
	qc_bind_filter(s, f, now);
	if ((rc = qc_exec(s)) != SQLITE_DONE)
		goto fail;
	msgs = sqlite3_changes64(qc->h);
	if (q->flag || q->action == CTL_ACT_DELETE) {
		s = qc->st[QC_SEL_COUNT];
		if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
			qc_done(s);
			goto fail;
		}
		rcpts = sqlite3_column_int64(s, 1);
		qc_done(s);
	}
	op = ctl_action_name(q->action);
	if (!q->flag) {
		switch (q->action) {
		case CTL_ACT_DELETE:
			/* children first: the cascade then has nothing to do */
			if ((rc = qc_simple(qc, QC_DEL_RCPT)) != SQLITE_DONE ||
			    (rc = qc_simple(qc, QC_DEL_BODY)) != SQLITE_DONE ||
			    (rc = qc_simple(qc, QC_DEL_MSG)) != SQLITE_DONE)
				goto fail;
			break;
		case CTL_ACT_HOLD:
		case CTL_ACT_RELEASE:
		case CTL_ACT_RETRY:
		case CTL_ACT_BOUNCE:
			s = qc->st[q->action == CTL_ACT_HOLD ? QC_HOLD :
			    q->action == CTL_ACT_RELEASE ? QC_RELEASE :
			    q->action == CTL_ACT_RETRY ? QC_RETRY : QC_BOUNCE];
			sqlite3_bind_int64(s, 1, now);
			if (q->action == CTL_ACT_BOUNCE)
				sqlite3_bind_text(s, 2, QC_BOUNCE_TEXT, -1,
				    SQLITE_STATIC);
			if ((rc = qc_exec(s)) != SQLITE_DONE)
				goto fail;
			rcpts = sqlite3_changes64(qc->h);
			break;
		default:
			fatalx("%s: action %d", __func__, q->action);
		}
	}
	op = "clear";
	if ((rc = qc_simple(qc, QC_SEL_CLEAR)) != SQLITE_DONE)
		goto fail;
	op = "commit";
	if ((rc = qc_simple(qc, QC_COMMIT)) != SQLITE_DONE)
		goto fail;
	if (!q->flag) {
		qc_filter_desc(f, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", f->user[0] ? f->user : NULL,
		    "op=%s %s messages=%" PRId64 " recipients=%" PRId64,
		    ctl_action_name(q->action), desc, msgs, rcpts);
		if ((q->action == CTL_ACT_RELEASE || q->action == CTL_ACT_RETRY) &&
		    rcpts > 0 && qc->kick)
			qc->kick(qc->kick_arg);
	}
	qc_act_answer(qc, id, q, msgs, rcpts, qc_now_ms() - t0);
	return;
fail:
	qc_log_error(qc, op);
	ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database error "
	    "(%s): %s; nothing changed", op, sqlite3_errmsg(qc->h));
	if (!sqlite3_get_autocommit(qc->h))
		(void)qc_simple(qc, QC_ROLLBACK);
}

static const char *const ev_cols[] = { "id", "time", "type", "client",
    "user", "session", "detail" };
static const enum ctl_kind ev_kinds[] = { CTL_KIND_INT, CTL_KIND_TIME,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR };

static void
qc_events(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	sqlite3_stmt *s = qc->st[QC_EVENTS];
	struct ipc_msg ans;
	int rc;

	sqlite3_bind_int64(s, 1, q->after);
	if (q->since > 0)
		sqlite3_bind_int64(s, 2, (int64_t)time(NULL) - q->since);
	bind_opt(s, 3, q->a);
	bind_opt(s, 4, q->b);
	bind_opt(s, 5, q->c);
	sqlite3_bind_int64(s, 6, q->limit ? q->limit : QC_EVENTS_DEFAULT);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "events", 7, ev_cols, ev_kinds);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		ctl_ans_row(&ans);
		ipc_put_i64(&ans, sqlite3_column_int64(s, 0));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 1));
		for (int i = 2; i <= 6; i++)
			ipc_put_str(&ans, col_text(s, i));
	}
	qc_done(s);
	if (rc != SQLITE_DONE) {
		qc_log_error(qc, "events");
		ipc_msg_discard(&ans);
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

/* The canonical text of a CIDR, so one network is one row. */
static int
qc_cidr_canon(const char *in, char *out, size_t len)
{
	struct cidr c;
	const char *why;

	if (cidr_parse(in, &c, &why) == -1)
		return -1;
	cidr_format(&c, out, len);
	return 0;
}

static int
qc_ban_store(struct queue_ctl *qc, const char *cidr, const char *reason,
    const char *origin, int64_t expires)
{
	sqlite3_stmt *s = qc->st[QC_BAN_ADD];

	sqlite3_bind_text(s, 1, cidr, -1, SQLITE_TRANSIENT);
	bind_opt(s, 2, reason);
	sqlite3_bind_text(s, 3, origin, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
	if (expires > 0)
		sqlite3_bind_int64(s, 5, expires);
	if (qc_exec(s) != SQLITE_DONE) {
		qc_log_error(qc, "ban_add");
		return -1;
	}
	return 0;
}

static void
qc_ban_add_req(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	char net[CIDR_STRLEN], esc[CTL_STR_MAX * 4], dur[32];
	int64_t expires = q->duration ? (int64_t)time(NULL) + q->duration : 0;

	if (qc_cidr_canon(q->a, net, sizeof(net)) == -1) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST, "bad CIDR");
		return;
	}
	if (qc_ban_store(qc, net, q->b[0] ? q->b : "admin", "admin",
	    expires) == -1) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	qc_event(qc, uid, "ban", NULL, "op=ban_add cidr=%s for=%" PRId64
	    " reason=\"%s\"", net, q->duration,
	    log_escape(esc, sizeof(esc), q->b, strlen(q->b)));
	qc_send_ban_add(qc, net, expires, q->b[0] ? q->b : "admin");
	ctl_answer_simple(qc->control, id, CTL_OK, "banned %s %s", net,
	    q->duration ? (snprintf(esc, sizeof(esc), "for %s",
	    ctl_duration_format(q->duration, dur, sizeof(dur))), esc) :
	    "until removed");
}

static void
qc_ban_del_req(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	sqlite3_stmt *s = qc->st[QC_BAN_DEL];
	char net[CIDR_STRLEN];

	if (qc_cidr_canon(q->a, net, sizeof(net)) == -1) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST, "bad CIDR");
		return;
	}
	sqlite3_bind_text(s, 1, net, -1, SQLITE_TRANSIENT);
	if (qc_exec(s) != SQLITE_DONE) {
		qc_log_error(qc, "ban_del");
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "queue database error: %s", sqlite3_errmsg(qc->h));
		return;
	}
	if (sqlite3_changes(qc->h) == 0) {
		ctl_answer_simple(qc->control, id, CTL_FAILED, "%s is not banned",
		    net);
		return;
	}
	qc_event(qc, uid, "unban", NULL, "op=ban_del cidr=%s", net);
	qc_send_ban_del(qc, net);
	ctl_answer_simple(qc->control, id, CTL_OK, "unbanned %s", net);
}

static const char *const ban_cols[] = { "cidr", "reason", "origin",
    "created", "expires" };
static const enum ctl_kind ban_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_TIME };

static void
qc_ban_list(struct queue_ctl *qc, uint64_t id)
{
	sqlite3_stmt *s = qc->st[QC_BAN_LIST];
	struct ipc_msg ans;

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "bans", 5, ban_cols, ban_kinds);
	sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
	while (sqlite3_step(s) == SQLITE_ROW) {
		ctl_ans_row(&ans);
		ipc_put_str(&ans, col_text(s, 0));
		ipc_put_str(&ans, col_text(s, 1));
		ipc_put_str(&ans, col_text(s, 2));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 3));
		ipc_put_i64(&ans, sqlite3_column_int64(s, 4));
	}
	qc_done(s);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

static const char *const user_cols[] = { "user", "state", "reason",
    "updated", "queued", "events_24h", "auth_events_24h", "messages_1h" };
static const enum ctl_kind user_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT };

static void
qc_user_list(struct queue_ctl *qc, uint64_t id)
{
	sqlite3_stmt *s = qc->st[QC_USER_LIST];
	struct ipc_msg ans;
	struct watch_counts wc;
	time_t now = time(NULL);

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "users", 8, user_cols, user_kinds);
	sqlite3_bind_int64(s, 1, now - QC_RECENT_SECS);
	while (sqlite3_step(s) == SQLITE_ROW) {
		ctl_ans_row(&ans);
		ipc_put_str(&ans, col_text(s, 0));
		ipc_put_str(&ans, col_text(s, 1));
		ipc_put_str(&ans, col_text(s, 2));
		for (int i = 3; i <= 6; i++)
			ipc_put_i64(&ans, sqlite3_column_int64(s, i));
		wc.messages = 0;
		if (qc->hour != NULL)
			watch_get(qc->hour, col_text(s, 0), now, &wc);
		ipc_put_i64(&ans, wc.messages);
	}
	qc_done(s);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

static void
qc_user_state(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	const char *state = ctl_user_state_name(q->state), *op = "begin";
	int64_t now = time(NULL), held = 0;
	char esc[CTL_STR_MAX * 4], uesc[CTL_STR_MAX * 4];
	sqlite3_stmt *s;
	int rc;

	if ((rc = qc_simple(qc, QC_BEGIN)) != SQLITE_DONE)
		goto fail;
	op = "user_set";
	s = qc->st[QC_USER_SET];
	sqlite3_bind_text(s, 1, q->a, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	bind_opt(s, 3, q->b);
	sqlite3_bind_int64(s, 4, now);
	if ((rc = qc_exec(s)) != SQLITE_DONE)
		goto fail;
	if (q->state != CTL_USER_ACTIVE) {
		/* what the account already queued stays until an admin looks */
		op = "user_hold_mail";
		s = qc->st[QC_USER_HOLD_MAIL];
		sqlite3_bind_text(s, 1, q->a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, now);
		if ((rc = qc_exec(s)) != SQLITE_DONE)
			goto fail;
		held = sqlite3_changes64(qc->h);
	}
	op = "commit";
	if ((rc = qc_simple(qc, QC_COMMIT)) != SQLITE_DONE)
		goto fail;
	log_escape(uesc, sizeof(uesc), q->a, strlen(q->a));
	qc_event(qc, uid, q->state == CTL_USER_ACTIVE ? "unsuspend" :
	    q->state == CTL_USER_HELD ? "hold" : "suspend", q->a,
	    "op=user_state user=%s state=%s held_recipients=%" PRId64
	    " reason=\"%s\"", uesc, state, held,
	    log_escape(esc, sizeof(esc), q->b, strlen(q->b)));
	qc_send_user(qc, q->a, state);
	if (held > 0)
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now %s; %"
		    PRId64 " queued recipients of theirs held", q->a, state, held);
	else
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now %s", q->a,
		    state);
	return;
fail:
	qc_log_error(qc, op);
	ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database error "
	    "(%s): %s; nothing changed", op, sqlite3_errmsg(qc->h));
	if (!sqlite3_get_autocommit(qc->h))
		(void)qc_simple(qc, QC_ROLLBACK);
}

static const char *const stat_cols[] = { "name", "labels", "value" };
static const enum ctl_kind stat_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT };

static void
stat_row(struct ipc_msg *m, const char *name, const char *labels, int64_t v)
{
	ctl_ans_row(m);
	ipc_put_str(m, name);
	ipc_put_str(m, labels);
	ipc_put_i64(m, v);
}

static void
qc_stats(struct queue_ctl *qc, uint64_t id)
{
	struct ipc_msg ans;
	int64_t by_state[5] = { 0 }, now = time(NULL);
	char labels[CTL_STR_MAX + 32], esc[CTL_STR_MAX];
	sqlite3_stmt *s;

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "stats", 3, stat_cols, stat_kinds);
	s = qc->st[QC_STATS_MSG];
	if (sqlite3_step(s) == SQLITE_ROW) {
		stat_row(&ans, "queue_messages", "", sqlite3_column_int64(s, 0));
		stat_row(&ans, "queue_bytes", "", sqlite3_column_int64(s, 1));
	}
	qc_done(s);
	s = qc->st[QC_STATS_RCPT];
	while (sqlite3_step(s) == SQLITE_ROW) {
		int st = sqlite3_column_int(s, 0);

		if (st >= 0 && st < 5)
			by_state[st] = sqlite3_column_int64(s, 1);
	}
	qc_done(s);
	for (int i = 0; i < 5; i++) {
		if (i == 3)
			continue;	/* delivered rows go with their message */
		snprintf(labels, sizeof(labels), "state=\"%s\"", ctl_state_name(i));
		stat_row(&ans, "queue_recipients", labels, by_state[i]);
	}
	s = qc->st[QC_STATS_EVENTS];
	sqlite3_bind_int64(s, 1, now - QC_RECENT_SECS);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *t = col_text(s, 0);

		/* event types are ours, but escape anyway: labels are quoted */
		snprintf(labels, sizeof(labels), "type=\"%s\"",
		    log_escape(esc, sizeof(esc), t, strlen(t)));
		stat_row(&ans, "events_24h", labels, sqlite3_column_int64(s, 1));
	}
	qc_done(s);
	s = qc->st[QC_STATS_BANS];
	sqlite3_bind_int64(s, 1, now);
	if (sqlite3_step(s) == SQLITE_ROW)
		stat_row(&ans, "bans", "", sqlite3_column_int64(s, 0));
	qc_done(s);
	{
		int64_t held = 0, susp = 0;

		s = qc->st[QC_STATS_USERS];
		while (sqlite3_step(s) == SQLITE_ROW) {
			if (strcmp(col_text(s, 0), "held") == 0)
				held = sqlite3_column_int64(s, 1);
			else if (strcmp(col_text(s, 0), "suspended") == 0)
				susp = sqlite3_column_int64(s, 1);
		}
		qc_done(s);
		stat_row(&ans, "users", "state=\"held\"", held);
		stat_row(&ans, "users", "state=\"suspended\"", susp);
	}
	if (qc->stats != NULL) {
		const struct queue_stats *qs = qc->stats;

		stat_row(&ans, "messages_in_total", "", qs->stored);
		stat_row(&ans, "messages_out_total", "outcome=\"delivered\"",
		    qs->delivered);
		stat_row(&ans, "messages_out_total", "outcome=\"deferred\"",
		    qs->deferred);
		stat_row(&ans, "messages_out_total", "outcome=\"bounced\"",
		    qs->bounced);
		stat_row(&ans, "messages_out_total", "outcome=\"dead\"",
		    qs->dead);
		stat_row(&ans, "messages_out_total", "outcome=\"held\"",
		    qs->held);
	}
	if (qc->dead_ok) {
		s = qc->st[QC_STATS_DEAD];
		if (sqlite3_step(s) == SQLITE_ROW)
			stat_row(&ans, "deadletters", "", sqlite3_column_int64(s, 0));
		qc_done(s);
	}
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

/* PROTO_EVENT from the control process (refused callers): store, log */
static void
qc_event_recv(struct queue_ctl *qc, struct ipc_reader *r)
{
	sqlite3_stmt *s = qc->st[QC_EVENT_RAW];
	char esc[CTL_STR_MAX * 4];
	struct proto_event e;
	const char *f[5];
	int64_t t;

	/* from control every field is an argument: CTL_STR_MAX at most */
	if (proto_event_dec(r, &e) == -1)
		fatalx("%s: malformed event from control", __func__);
	t = e.time;
	f[0] = e.type;
	f[1] = e.client_ip;
	f[2] = e.user;
	f[3] = e.session;
	f[4] = e.detail;
	for (int i = 0; i < 5; i++)
		if (strlen(f[i]) >= CTL_STR_MAX)
			fatalx("%s: malformed event from control", __func__);
	log_notice(LOG_CAT_CONTROL, "event=%s detail=\"%s\"",
	    f[0][0] ? "recorded" : "?",
	    log_escape(esc, sizeof(esc), f[4], strlen(f[4])));
	sqlite3_bind_int64(s, 1, t);
	sqlite3_bind_text(s, 2, f[0], -1, SQLITE_TRANSIENT);
	for (int i = 1; i < 5; i++)
		bind_opt(s, i + 2, f[i]);
	if (qc_exec(s) != SQLITE_DONE)
		qc_log_error(qc, "event_add");
}

static void
qc_control_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct queue_ctl *qc = arg;
	struct ctl_req q;
	uint32_t uid;

	if (type == PROTO_EVENT) {
		qc_event_recv(qc, r);
		return;
	}
	if (type != PROTO_CTL_REQUEST)
		fatalx("%s: unexpected message %u from control", __func__, type);
	if (ctl_request_read(p, id, r, &q, &uid) == -1)
		return;
	switch (q.op) {
	case CTL_OP_QUEUE_SUMMARY:
		qc_summary(qc, id);
		break;
	case CTL_OP_QUEUE_LIST:
		qc_list(qc, id, &q);
		break;
	case CTL_OP_QUEUE_SHOW:
		qc_show(qc, id, &q);
		break;
	case CTL_OP_QUEUE_ACT:
		qc_act(qc, id, uid, &q);
		break;
	case CTL_OP_EVENTS:
		qc_events(qc, id, &q);
		break;
	case CTL_OP_BAN_ADD:
		qc_ban_add_req(qc, id, uid, &q);
		break;
	case CTL_OP_BAN_DEL:
		qc_ban_del_req(qc, id, uid, &q);
		break;
	case CTL_OP_BAN_LIST:
		qc_ban_list(qc, id);
		break;
	case CTL_OP_USER_LIST:
		qc_user_list(qc, id);
		break;
	case CTL_OP_USER_STATE:
		qc_user_state(qc, id, uid, &q);
		break;
	case CTL_OP_STATS:
		qc_stats(qc, id);
		break;
	default:
		ctl_answer_simple(p, id, CTL_BAD_REQUEST,
		    "%s is not a queue operation", ctl_op_name(q.op));
		break;
	}
}

static void
qc_control_close_cb(struct ipc_peer *p, void *arg)
{
	/* the parent stops the daemon when the control process dies */
	log_notice(LOG_CAT_CONTROL, "event=peer_closed peer=control");
}

/* queue_ctl_ban_add - a ban decided by smtp */
void
queue_ctl_ban_add(struct queue_ctl *qc, struct ipc_reader *r)
{
	char net[CIDR_STRLEN], esc[CTL_STR_MAX * 4];
	const char *reason, *origin;
	struct proto_ban b;
	int64_t expires;

	if (qc == NULL)		/* no second connection: logged at start */
		return;
	if (proto_ban_dec(r, &b) == -1 ||
	    qc_cidr_canon(b.cidr, net, sizeof(net)) == -1)
		fatalx("%s: malformed ban from smtp", __func__);
	expires = b.expires;
	reason = b.reason;
	origin = b.origin;
	if (qc_ban_store(qc, net, reason, origin[0] ? origin : "smtp",
	    expires) == 0)
		log_info(LOG_CAT_CONTROL, "event=ban_stored cidr=%s origin=%s "
		    "reason=\"%s\"", net, origin,
		    log_escape(esc, sizeof(esc), reason, strlen(reason)));
}

/* queue_ctl_stored - count a stored message of an authenticated user */
void
queue_ctl_stored(struct queue_ctl *qc, const char *auth_user, size_t nrcpt)
{
	if (qc == NULL || qc->hour == NULL || auth_user == NULL ||
	    auth_user[0] == '\0')
		return;
	/* recipients are not asked for: no per-recipient arrays needed */
	(void)nrcpt;
	watch_message(qc->hour, auth_user, time(NULL), 0, NULL, NULL);
}

/* queue_ctl_set_stats - where the lifetime counters are */
void
queue_ctl_set_stats(struct queue_ctl *qc, const struct queue_stats *st)
{
	if (qc != NULL)
		qc->stats = st;
}

/* queue_ctl_smtp_closed - stop sending to smtp */
void
queue_ctl_smtp_closed(struct queue_ctl *qc)
{
	if (qc != NULL)
		qc->smtp_closed = 1;
}

/* queue_ctl_new - open the connection, prepare, announce the lists */
struct queue_ctl *
queue_ctl_new(struct event_base *base, const struct conf *conf,
    int control_fd, struct ipc_peer *smtp, void (*kick)(void *),
    void *kick_arg, char *err, size_t errlen)
{
	struct queue_ctl *qc;
	struct timeval tv = { QC_EXPIRE_SECS, 0 };
	int rc;

	if ((qc = calloc(1, sizeof(*qc))) == NULL)
		fatal("%s: calloc", __func__);
	qc->base = base;
	qc->smtp = smtp;
	qc->kick = kick;
	qc->kick_arg = kick_arg;
	snprintf(qc->path, sizeof(qc->path), "%s/queue.db", conf->spool_dir);
	rc = sqlite3_open_v2(qc->path, &qc->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_db_config(qc->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_busy_timeout(qc->h, QC_BUSY_MS);
	/*
	 * secure_delete FAST: SQLite built with SECURE_DELETE (Debian's is)
	 * zeroes every freed page, so purging 100,000 messages wrote the
	 * whole database (170 MB) into the WAL, fsynced it and checkpointed
	 * it back: over a second. FAST still scrubs deleted rows inside the
	 * pages a delete writes anyway; freed pages keep their old bytes
	 * until reused, in a file only the moat user can read (like
	 * Postfix's unlinked queue files). 40 ms instead.
	 */
	if ((rc = sqlite3_exec(qc->h, "PRAGMA synchronous = FULL;"
	    "PRAGMA secure_delete = FAST;"
	    "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
	    "CREATE TEMP TABLE IF NOT EXISTS ctl_sel(id INTEGER PRIMARY KEY)",
	    NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlerr;
	if ((rc = sqlite3_create_function(qc->h, "ctl_cidr_match", 2,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	    qc_cidr_match, NULL, NULL)) != SQLITE_OK)
		goto sqlerr;
	for (int i = 0; i < QC_N; i++)
		if ((rc = sqlite3_prepare_v3(qc->h, qc_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &qc->st[i], NULL)) != SQLITE_OK)
			goto sqlerr;
	/* the dead-letter store belongs to delivery; use it when it exists */
	qc->dead_ok = 1;
	for (int i = QC_N; i < QC_NALL; i++)
		if (sqlite3_prepare_v3(qc->h, qc_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &qc->st[i], NULL) != SQLITE_OK)
			qc->dead_ok = 0;
	if ((qc->hour = watch_new(QC_HOUR_SECS)) == NULL)
		fatal("%s: watch_new", __func__);
	if ((qc->ev_expire = event_new(base, -1, EV_PERSIST, qc_expire_cb,
	    qc)) == NULL)
		fatal("%s: event_new", __func__);
	event_add(qc->ev_expire, &tv);
	if (control_fd >= 0)
		qc->control = ipc_peer_new(base, control_fd, "control",
		    qc_control_msg_cb, qc_control_close_cb, qc);
	qc_expire_cb(-1, 0, qc);
	qc_send_bans(qc);
	qc_send_users(qc);
	return qc;

sqlerr:
	snprintf(err, errlen, "%s: %s", qc->path, qc->h ?
	    sqlite3_errmsg(qc->h) : sqlite3_errstr(rc));
	queue_ctl_free(qc);
	return NULL;
}

/* queue_ctl_free - release everything */
void
queue_ctl_free(struct queue_ctl *qc)
{
	if (qc == NULL)
		return;
	ipc_peer_free(qc->control);
	watch_free(qc->hour);
	if (qc->ev_expire)
		event_free(qc->ev_expire);
	for (int i = 0; i < QC_NALL; i++)
		sqlite3_finalize(qc->st[i]);
	if (qc->h)
		sqlite3_close(qc->h);
	free(qc);
}
