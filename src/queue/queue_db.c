/*
 * queue_db.c - the SQLite queue database.
 *
 * One file, <spool_dir>/queue.db, owned by the queue process alone:
 * messages (envelope), their bodies (apart, so scans of message stay
 * small), recipients (one row each, with a delivery state), security
 * events, dead letters, sender states and the watch's traffic. WAL
 * journal with synchronous=FULL: a COMMIT that returned is on disk,
 * which is what lets smtp answer 250. Many messages share one COMMIT
 * (queue_db_store_batch), so one fsync covers them all.
 *
 * The queue_db modules are the only owners of the schema and its SQL:
 * this file (the group commit's connection: storing, local and remote
 * delivery, events, sender states, the watch) and queue_db_ctl.c (the
 * administrator's queries, on a connection of their own); the texts
 * both use are in queue_db_sql.h. Domains are split from addresses by
 * the address module (addr_domain_of), never here.
 *
 * Public: queue_db_open, queue_db_close, queue_db_set_size_limit,
 * queue_db_stats, queue_db_counts, queue_db_store_batch,
 * queue_db_event_add, queue_db_events_expire, queue_db_local_fetch,
 * queue_db_local_free, queue_db_local_mark, queue_db_local_next,
 * queue_db_remote_fetch, queue_db_remote_free, queue_db_remote_next,
 * queue_db_remote_mark, queue_db_msg_get, queue_db_msg_copy_free,
 * queue_db_dead_expire, queue_db_sender_state, queue_db_sender_set,
 * queue_db_watch_add, queue_db_watch_load, queue_db_watch_expire,
 * queue_db_verify_put, queue_db_verify_load, queue_db_verify_expire,
 * queue_db_guess_get, queue_db_guess_clients, queue_db_login_net_seen,
 * queue_db_login_known, queue_db_guess_quarantined, queue_db_guess_usual,
 * queue_db_guess_held_clients, queue_db_guess_held_count,
 * queue_db_guess_release,
 * queue_db_login_net_add, queue_db_ban_add, queue_db_series_add,
 * queue_db_series_read, queue_db_series_expire.
 *
 * SECURITY: every value from the network (addresses, HELO, AUTH user,
 * message bytes, event details) is bound as an SQL parameter, never
 * pasted into SQL text. The database is created 0600 before SQLite
 * opens it (its -wal and -shm files inherit that mode) and is opened
 * with SQLITE_DBCONFIG_DEFENSIVE.
 * LIMITS: a message must fit in one SQLite BLOB (SQLITE_MAX_LENGTH,
 * 1e9 bytes by default; the IPC frame cap is lower). The busy timeout
 * is short because only admin readers ever compete with us.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "io/proto.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "policy/watch.h"
#include "queue/queue_db.h"
#include "queue/queue_db_sql.h"

#define DB_BUSY_TIMEOUT_MS	2000
/* WAL size kept after a checkpoint: 64 MiB */
#define DB_JOURNAL_LIMIT_SQL	"PRAGMA journal_size_limit = 67108864"
#define DB_QID_RETRIES		8
#define DB_BACKUP_TRIES		100	/* copies made within one second */
#define DB_STR(x)		#x
#define DB_XSTR(x)		DB_STR(x)	/* a macro's value as SQL text */

enum db_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INS_MSG,
	ST_INS_BODY,
	ST_INS_RCPT,
	ST_INS_EVENT,
	ST_LOCAL_FETCH,
	ST_BODY_GET,
	ST_RCPT_UPDATE,
	ST_MSG_UNDONE,
	ST_MSG_DELETE,
	ST_LOCAL_NEXT,
	ST_COUNT_MSG,
	ST_MAX_RCPT_ID,
	ST_COUNT_BODY,
	ST_COUNT_RCPT,
	ST_COUNT_EVENTS,
	ST_REMOTE_FETCH_AT,	/* delivery: the scheduler, see queue_db_remote_* */
	ST_REMOTE_FETCH_AFTER,
	ST_REMOTE_NEXT,
	ST_DEAD_INSERT,
	ST_DEAD_EXPIRE,
	ST_MSG_GET,
	ST_DELAY_INSERT,	/* a delay DSN went out for a recipient */
	ST_SENDER_STATE,	/* user_state of a sender, per stored message */
	ST_REMOTE_FETCH_AT_P,	/* the same three, paused destinations left out */
	ST_REMOTE_FETCH_AFTER_P,
	ST_REMOTE_NEXT_P,
	ST_PAUSED,		/* what is paused: all, some */
	ST_DEAD_GET,		/* dead letters back into the queue */
	ST_DEAD_DELETE,
	ST_SENT_INSERT,		/* a recipient delivered to a remote host */
	ST_N
};

/* The columns remote_row() reads, for the scheduler's two fetches; the
 * WHERE terms match the partial index recipient_remote_due. */
#define REMOTE_ROW_SQL							\
	"SELECT r.id, r.msg_id, m.qid, m.created, m.sender, m.envid, m.ret,"	\
	" m.flags, r.address, r.domain, r.orcpt, r.notify, r.attempts,"	\
	" EXISTS(SELECT 1 FROM delay_notice AS d WHERE d.rcpt_id = r.id),"	\
	" r.next_attempt"							\
	" FROM recipient AS r JOIN message AS m ON m.id = r.msg_id"		\
	" WHERE r.mailbox IS NULL AND r.state < 2"
#define REMOTE_NOT_PAUSED						\
	" AND NOT EXISTS (SELECT 1 FROM paused_dest AS p"			\
	" WHERE p.domain = r.domain)"

static const char *const stmt_sql[ST_N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INS_MSG] =
	    "INSERT INTO message(qid, created, sender, sender_domain, helo,"
	    " client_ip, auth_user, listener, envid, ret, flags, size,"
	    " rcpt_count) VALUES (?1, ?2, ?3, lower(?4), ?5, ?6, ?7, ?8, ?9,"
	    " ?10, ?11, ?12, ?13)",
	[ST_INS_BODY] = "INSERT INTO body(msg_id, data) VALUES (?1, ?2)",
	[ST_INS_RCPT] =
	    "INSERT INTO recipient(msg_id, address, domain, orcpt, notify,"
	    " mailbox, state, attempts, next_attempt, updated, id)"
	    " VALUES (?1, ?2, lower(?3), ?4, ?5, ?6, ?8, 0, ?7, ?7, ?9)",
	[ST_INS_EVENT] = QDB_SQL_EVENT_INSERT,
	/*
	 * The terms "mailbox IS NOT NULL AND state < 2" match the partial
	 * index recipient_local_due word for word, so SQLite uses it and
	 * returns rows in (next_attempt, id) order without sorting, however
	 * many remote recipients sit queued beside them.
	 */
	[ST_LOCAL_FETCH] =
	    "SELECT r.id, r.msg_id, m.qid, m.sender, r.address, r.mailbox,"
	    " r.attempts, m.created, r.orcpt, r.notify"
	    " FROM recipient AS r JOIN message AS m ON m.id = r.msg_id"
	    " WHERE r.mailbox IS NOT NULL AND r.state < 2"
	    " AND r.next_attempt <= ?1 ORDER BY r.next_attempt, r.id LIMIT ?2",
	[ST_BODY_GET] = "SELECT data FROM body WHERE msg_id = ?1",
	[ST_RCPT_UPDATE] =
	    /* a recipient held while its attempt was in flight stays held
	     * when the attempt only deferred it */
	    "UPDATE recipient SET state = CASE WHEN state = 2 AND ?2 = 1"
	    " THEN 2 ELSE ?2 END, attempts = attempts + 1,"
	    " next_attempt = ?3, last_error = ?4, updated = ?5 WHERE id = ?1",
	[ST_MSG_UNDONE] =
	    "SELECT EXISTS(SELECT 1 FROM recipient WHERE msg_id = ?1"
	    " AND state NOT IN (3, 4))",
	[ST_MSG_DELETE] = "DELETE FROM message WHERE id = ?1",
	[ST_LOCAL_NEXT] =
	    "SELECT min(next_attempt) FROM recipient"
	    " WHERE mailbox IS NOT NULL AND state < 2",
	[ST_COUNT_MSG] = "SELECT count(*) FROM message",
	[ST_MAX_RCPT_ID] = "SELECT coalesce(max(id), 0) FROM recipient",
	[ST_COUNT_BODY] = "SELECT count(*) FROM body",
	[ST_COUNT_RCPT] = "SELECT state, count(*) FROM recipient GROUP BY state",
	[ST_COUNT_EVENTS] = "SELECT count(*) FROM events",
	/*
	 * The scheduler's cursor (next_attempt, id) in two parts, since SQLite
	 * seeks an index on the first term of a row value only: the rest of
	 * the cursor's second, then the later ones. The terms match the
	 * partial index recipient_remote_due (next_attempt, then rowid).
	 */
	[ST_REMOTE_FETCH_AT] = REMOTE_ROW_SQL
	    " AND r.next_attempt = ?1 AND r.id > ?2 ORDER BY r.id LIMIT ?3",
	[ST_REMOTE_FETCH_AFTER] = REMOTE_ROW_SQL
	    " AND r.next_attempt > ?1 AND r.next_attempt <= ?2"
	    " ORDER BY r.next_attempt, r.id LIMIT ?3",
	[ST_REMOTE_NEXT] =
	    "SELECT min(next_attempt) FROM recipient"
	    " WHERE mailbox IS NULL AND state < 2",
	[ST_DEAD_INSERT] =
	    "INSERT INTO deadletter(qid, time, created, sender, recipient,"
	    " reason, data, mailbox, flags) SELECT m.qid, ?2, m.created,"
	    " m.sender, ?3, ?4, b.data,"
	    " (SELECT mailbox FROM recipient WHERE id = ?5), m.flags"
	    " FROM message AS m JOIN body AS b ON b.msg_id = m.id WHERE m.id = ?1",
	[ST_DEAD_EXPIRE] = "DELETE FROM deadletter WHERE time < ?1",
	[ST_MSG_GET] =
	    "SELECT m.qid, m.created, m.sender, m.envid, m.ret, m.client_ip,"
	    " m.helo, b.data, m.flags FROM message AS m"
	    " JOIN body AS b ON b.msg_id = m.id WHERE m.id = ?1",
	[ST_DELAY_INSERT] =
	    "INSERT OR IGNORE INTO delay_notice(rcpt_id, time) VALUES (?1, ?2)",
	[ST_SENDER_STATE] = "SELECT state FROM user_state WHERE user = ?1",
	/*
	 * While some destinations are paused (paused_dest), the scheduler's
	 * statements leave their recipients out: they are not due. Used
	 * only then, so the usual path keeps its plain statements.
	 */
	[ST_REMOTE_FETCH_AT_P] = REMOTE_ROW_SQL REMOTE_NOT_PAUSED
	    " AND r.next_attempt = ?1 AND r.id > ?2 ORDER BY r.id LIMIT ?3",
	[ST_REMOTE_FETCH_AFTER_P] = REMOTE_ROW_SQL REMOTE_NOT_PAUSED
	    " AND r.next_attempt > ?1 AND r.next_attempt <= ?2"
	    " ORDER BY r.next_attempt, r.id LIMIT ?3",
	/* min() would not use the index with the extra term: walk it */
	[ST_REMOTE_NEXT_P] =
	    "SELECT r.next_attempt FROM recipient AS r"
	    " WHERE r.mailbox IS NULL AND r.state < 2" REMOTE_NOT_PAUSED
	    " ORDER BY r.next_attempt LIMIT 1",
	[ST_PAUSED] =
	    "SELECT EXISTS(SELECT 1 FROM paused_dest WHERE domain = '*'),"
	    " EXISTS(SELECT 1 FROM paused_dest WHERE domain != '*')",
	[ST_DEAD_GET] =
	    "SELECT qid, sender, recipient, data, mailbox, flags"
	    " FROM deadletter WHERE id = ?1",
	[ST_DEAD_DELETE] = "DELETE FROM deadletter WHERE id = ?1",
	[ST_SENT_INSERT] =
	    "INSERT INTO sent_log(time, qid, user, client, mail_from, rcpt,"
	    " domain, host, reply) SELECT ?2, m.qid, m.auth_user, m.client_ip,"
	    " m.sender, r.address, r.domain, ?3, ?4"
	    " FROM recipient AS r JOIN message AS m ON m.id = r.msg_id"
	    " WHERE r.id = ?1 AND r.mailbox IS NULL",
};

/*
 * Schema versions (PRAGMA user_version, QUEUE_SCHEMA_VERSION):
 *  1  the first release: message, body, recipient, events. Later
 *     releases of version 1 added the tables of schema_delivery and
 *     schema_control and watch_traffic.mail_from with IF NOT EXISTS at
 *     every open, so a version 1 file may have any of them.
 *  2  all of those, paused_dest, and deadletter.mailbox and .flags.
 *  3  login_nets.
 *  4  series_minute and sent_log.
 * A new file is made as version 1 and upgraded (db_upgrade); an older
 * file is copied, then upgraded in one transaction; a newer one is
 * refused. tests/queue_schema/ holds the texts of the old versions.
 *
 * Version 1's indexes serve the admin queries (by destination domain,
 * sender, authenticated user, client IP, state, age) and the delivery
 * scheduler (state, next_attempt).
 */
static const char schema_v1[] =
	"CREATE TABLE message ("
	" id INTEGER PRIMARY KEY,"
	" qid TEXT NOT NULL UNIQUE,"
	" created INTEGER NOT NULL,"
	" sender TEXT NOT NULL,"		/* '' for <> */
	" sender_domain TEXT NOT NULL,"	/* lowercased */
	" helo TEXT NOT NULL,"
	" client_ip TEXT NOT NULL,"
	" auth_user TEXT,"			/* NULL when none */
	" listener TEXT NOT NULL,"
	" envid TEXT,"
	" ret INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" rcpt_count INTEGER NOT NULL);"
	"CREATE TABLE body ("
	" msg_id INTEGER PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,"
	" data BLOB NOT NULL);"
	"CREATE TABLE recipient ("
	" id INTEGER PRIMARY KEY,"
	" msg_id INTEGER NOT NULL REFERENCES message(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL,"
	" domain TEXT NOT NULL,"		/* lowercased */
	" orcpt TEXT,"
	" notify INTEGER NOT NULL,"
	" mailbox TEXT,"			/* local Maildir or NULL */
	" state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" updated INTEGER NOT NULL);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" client_ip TEXT,"
	" user TEXT,"
	" session TEXT,"
	" detail TEXT);"
	"CREATE INDEX message_created ON message(created);"
	"CREATE INDEX message_sender ON message(sender);"
	"CREATE INDEX message_auth_user ON message(auth_user);"
	"CREATE INDEX message_client_ip ON message(client_ip);"
	"CREATE INDEX recipient_msg ON recipient(msg_id);"
	"CREATE INDEX recipient_domain_state ON recipient(domain, state);"
	"CREATE INDEX recipient_state_next ON recipient(state, next_attempt);"
	"CREATE INDEX recipient_local_due ON recipient(next_attempt)"
	" WHERE mailbox IS NOT NULL AND state < 2;"
	"CREATE INDEX events_time ON events(time);"
	"CREATE INDEX events_type ON events(type);"
	"CREATE INDEX events_client_ip ON events(client_ip);"
	"CREATE INDEX events_user ON events(user);";

/* Owned by the queue process; owns the connection and its statements. */
struct queue_db {
	sqlite3		*h;
	sqlite3_stmt	*st[ST_N];
	uint32_t	 qid_ctr;	/* starts random, +1 per qid */
	/* the next recipient id: never one used since open, so that a
	 * new recipient always sorts after the scheduler's cursor, even
	 * when the newest row was deleted (SQLite would reuse max+1) */
	int64_t		 rcpt_next_id;
	int		 paused_some;	/* some destination is paused */
	struct queue_stats stats;	/* since start */
	char		 path[4096];
};

/* queue_db_stats - lifetime counters */
const struct queue_stats *
queue_db_stats(const struct queue_db *db)
{
	return &db->stats;
}

/* Log an SQLite failure once, with its message and the OS errno. */
static void
db_log_error(struct queue_db *db, const char *op, int rc)
{
	char esc[256];
	const char *msg = sqlite3_errmsg(db->h);

	log_err(LOG_CAT_QUEUE, "event=db_error op=%s rc=%d errno=%d err=\"%s\"",
	    op, rc, sqlite3_system_errno(db->h),
	    log_escape(esc, sizeof(esc), msg, strlen(msg)));
}

/* PROTO_STORE_DISKFULL when rc or the OS says the disk is full. */
static int
db_store_status(struct queue_db *db, int rc)
{
	int e = sqlite3_system_errno(db->h);

	if ((rc & 0xff) == SQLITE_FULL || e == ENOSPC || e == EDQUOT)
		return PROTO_STORE_DISKFULL;
	return PROTO_STORE_TEMPFAIL;
}

static sqlite3_stmt *
db_st(struct queue_db *db, enum db_stmt i)
{
	return db->st[i];
}

static void
st_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run a statement that returns no row; SQLITE_DONE or an error code. */
static int
st_exec(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	st_done(s);
	if (rc == SQLITE_ROW)
		rc = SQLITE_DONE;
	return rc;
}

/* Bind a text, or NULL when s is NULL or empty. */
static int
bind_opt(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL || *v == '\0')
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int
bind_str(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static int
db_begin(struct queue_db *db)
{
	return st_exec(db_st(db, ST_BEGIN));
}

static int
db_commit(struct queue_db *db)
{
	return st_exec(db_st(db, ST_COMMIT));
}

/* Undo the open transaction, if SQLite has not already done so. */
static void
db_rollback(struct queue_db *db)
{
	int rc;

	if (sqlite3_get_autocommit(db->h))
		return;
	if ((rc = st_exec(db_st(db, ST_ROLLBACK))) != SQLITE_DONE)
		db_log_error(db, "rollback", rc);
}

/* Run one pragma or statement; the first result row, if any, into out. */
static int
db_pragma(struct queue_db *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (out && outlen)
		out[0] = '\0';
	if ((rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		if (out && outlen && t)
			snprintf(out, outlen, "%s", (const char *)t);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(s);
	return rc;
}

/*
 * Tables and indexes of outbound delivery, added to version 1 without
 * a version change (IF NOT EXISTS: a version 1 database may have them
 * already); part of the upgrade to version 2.
 */
static const char schema_delivery[] =
	"CREATE TABLE IF NOT EXISTS deadletter ("
	" id INTEGER PRIMARY KEY,"
	" qid TEXT NOT NULL,"
	" time INTEGER NOT NULL,"		/* when it became a dead letter */
	" created INTEGER NOT NULL,"
	" sender TEXT NOT NULL,"
	" recipient TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" data BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS deadletter_time ON deadletter(time);"
	"CREATE INDEX IF NOT EXISTS recipient_remote_due ON"
	" recipient(next_attempt) WHERE mailbox IS NULL AND state < 2;"
	/* recipients a delay DSN was sent for: one notice each, ever */
	"CREATE TABLE IF NOT EXISTS delay_notice ("
	" rcpt_id INTEGER PRIMARY KEY"
	"  REFERENCES recipient(id) ON DELETE CASCADE,"
	" time INTEGER NOT NULL);";

/*
 * Tables of the control CLI and the defences (bans, account states),
 * added to version 1 the same way; part of the upgrade to version 2.
 */
static const char schema_control[] =
	"CREATE TABLE IF NOT EXISTS bans ("
	" cidr TEXT NOT NULL PRIMARY KEY,"	/* canonical, cidr_format */
	" reason TEXT,"
	" origin TEXT,"				/* admin, auth, harvest, ... */
	" created INTEGER NOT NULL,"
	" expires INTEGER);"			/* NULL: never */
	"CREATE TABLE IF NOT EXISTS user_state ("
	" user TEXT PRIMARY KEY,"
	" state TEXT NOT NULL CHECK (state IN ('active','held','suspended')),"
	" reason TEXT,"
	" updated INTEGER NOT NULL);"
	/* the compromised-account watch's traffic of the last day, one row
	 * per message of a watched sender: the windows survive a restart */
	"CREATE TABLE IF NOT EXISTS watch_traffic ("
	" id INTEGER PRIMARY KEY,"
	" sender TEXT NOT NULL,"		/* a user, or ip:ADDRESS */
	" time INTEGER NOT NULL,"
	" rcpts INTEGER NOT NULL,"
	" ext_rcpts INTEGER NOT NULL,"		/* outside recipients */
	" ext_domains TEXT NOT NULL,"		/* distinct, space-separated */
	" mail_from TEXT);"			/* see schema_columns */
	"CREATE INDEX IF NOT EXISTS watch_traffic_time ON watch_traffic(time);"
	/* recipient verification's answers (src/lookup/verify.c), so that
	 * a restart does not probe the internal servers again */
	"CREATE TABLE IF NOT EXISTS verify_cache ("
	" address TEXT NOT NULL PRIMARY KEY,"	/* as written in RCPT TO */
	" result INTEGER NOT NULL CHECK (result IN (0, 1)),"
	" reply TEXT NOT NULL,"			/* the server's RCPT reply */
	" updated INTEGER NOT NULL,"
	" expires INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS verify_cache_expires ON"
	" verify_cache(expires);";

/* New in version 2: destinations whose delivery an admin paused. */
static const char schema_v2[] =
	"CREATE TABLE paused_dest ("
	" domain TEXT NOT NULL PRIMARY KEY,"	/* lowercased; '*': all */
	" since INTEGER NOT NULL,"
	" reason TEXT);";

/*
 * New in version 3: the networks each account logged in from with the
 * right password, so that a login from a new one right after a
 * guessing attack stands out (queue_guess.c). A few rows per account.
 */
static const char schema_v3[] =
	"CREATE TABLE login_nets ("
	" user TEXT NOT NULL,"
	" net TEXT NOT NULL,"			/* canonical, cidr_format */
	" first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" logins INTEGER NOT NULL,"
	" PRIMARY KEY (user, net)) WITHOUT ROWID;";

/*
 * New in version 4. series_minute: the per-minute time series of the
 * console's charts (queue_series.c), one row a minute, kept 7 days.
 * sent_log: one row per recipient handed to a remote host (never a
 * local Maildir), written in the transaction that marks it delivered,
 * so that what left for an account or a client can be told afterwards
 * (the incident summary); kept 7 days.
 */
static const char schema_v4[] =
	"CREATE TABLE series_minute ("
	" minute INTEGER PRIMARY KEY,"		/* unix seconds, minute start */
	" msgs_in INTEGER NOT NULL DEFAULT 0,"	/* messages stored */
	" msgs_out INTEGER NOT NULL DEFAULT 0,"	/* recipients delivered */
	" auth_failures INTEGER NOT NULL DEFAULT 0,"
	" rejections INTEGER NOT NULL DEFAULT 0,"	/* smtp's refusals */
	" queue_size INTEGER NOT NULL DEFAULT 0);"	/* messages, sampled */
	"CREATE TABLE sent_log ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" qid TEXT NOT NULL,"
	" user TEXT,"				/* AUTH user; NULL: none */
	" client TEXT NOT NULL,"		/* the submitting client's IP */
	" mail_from TEXT NOT NULL,"		/* '' for <> */
	" rcpt TEXT NOT NULL,"
	" domain TEXT NOT NULL,"		/* lowercased */
	" host TEXT,"				/* host[addr]:port it went to */
	" reply TEXT);"				/* that host's reply */
	"CREATE INDEX sent_log_user ON sent_log(user, time);"
	"CREATE INDEX sent_log_client ON sent_log(client, time);"
	"CREATE INDEX sent_log_time ON sent_log(time);";

/*
 * Columns added to tables after they first shipped: an upgrade adds
 * each one missing (ALTER TABLE ADD COLUMN, NULL in the old rows).
 */
static const struct {
	const char	*table, *column, *decl;
} schema_columns[] = {
	/* a relay client's envelope sender, lowercased, "" for <>; NULL
	 * for an authenticated user's message (or a row from before) */
	{ "watch_traffic", "mail_from", "TEXT" },
	/* version 2: what a dead letter needs to go back into the queue:
	 * its recipient's Maildir (NULL: remote) and the message flags */
	{ "deadletter", "mailbox", "TEXT" },
	{ "deadletter", "flags", "INTEGER NOT NULL DEFAULT 0" },
};

static int
db_schema_columns(struct queue_db *db)
{
	static const char *has_sql =
	    "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2";
	char sql[256];

	for (size_t i = 0; i < sizeof(schema_columns) /
	    sizeof(schema_columns[0]); i++) {
		sqlite3_stmt *s;
		int rc, has = 0;

		if (sqlite3_prepare_v3(db->h, has_sql, -1, 0, &s, NULL) !=
		    SQLITE_OK)
			return -1;
		sqlite3_bind_text(s, 1, schema_columns[i].table, -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(s, 2, schema_columns[i].column, -1,
		    SQLITE_STATIC);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			has = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW)
			return -1;
		if (has)
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
		    schema_columns[i].table, schema_columns[i].column,
		    schema_columns[i].decl);
		if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* version 1 to 2: what version 1 gained along the way, and paused_dest */
static int
db_upgrade_v2(struct queue_db *db, const char **step)
{
	*step = "delivery tables";
	if (sqlite3_exec(db->h, schema_delivery, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	*step = "control tables";
	if (sqlite3_exec(db->h, schema_control, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	*step = "added columns";
	if (db_schema_columns(db) == -1)
		return -1;
	*step = "paused_dest";
	if (sqlite3_exec(db->h, schema_v2, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	return 0;
}

/* version 2 to 3: login_nets */
static int
db_upgrade_v3(struct queue_db *db, const char **step)
{
	*step = "login_nets";
	return sqlite3_exec(db->h, schema_v3, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
}

/* version 3 to 4: series_minute, sent_log */
static int
db_upgrade_v4(struct queue_db *db, const char **step)
{
	*step = "series_minute and sent_log";
	return sqlite3_exec(db->h, schema_v4, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
}

/*
 * The upgrades, in order: upgrades[v - 1] takes version v to v + 1,
 * inside the caller's transaction. A new version adds its step here
 * and raises QUEUE_SCHEMA_VERSION; a step never changes what an older
 * one did.
 */
static int (*const upgrades[])(struct queue_db *, const char **) = {
	db_upgrade_v2,
	db_upgrade_v3,
	db_upgrade_v4,
};
_Static_assert(sizeof(upgrades) / sizeof(upgrades[0]) ==
    QUEUE_SCHEMA_VERSION - 1, "one upgrade step per version");

/* fsync a file, or a directory, by name; 0 or -1 with errno */
static int
db_fsync_path(const char *path, int dir)
{
	int fd, rc, e;

	if ((fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/*
 * A copy of the database as it is, before an upgrade from version ver:
 * <queue.db>.bak-vVER-YYYYMMDDTHHMMSSZ beside it, mode 0600, a
 * consistent snapshot (VACUUM INTO reads through this connection, WAL
 * included), fsynced with its directory. Its name into bak.
 */
static int
db_backup(struct queue_db *db, long ver, char *bak, size_t baklen, char *err,
    size_t errlen)
{
	char stamp[32], dir[sizeof(db->path)], *slash;
	sqlite3_stmt *s = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int fd, rc, n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* made here, empty and 0600: VACUUM INTO fills an empty file; a
	 * second try within the same second gets a suffix, never an old
	 * copy overwritten */
	for (int i = 0;; i++) {
		n = i == 0 ? snprintf(bak, baklen, "%s.bak-v%ld-%s", db->path,
		    ver, stamp) : snprintf(bak, baklen, "%s.bak-v%ld-%s.%d",
		    db->path, ver, stamp, i);
		if (n < 0 || (size_t)n >= baklen) {
			snprintf(err, errlen, "%s: backup path too long",
			    db->path);
			return -1;
		}
		if ((fd = open(bak, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) != -1)
			break;
		if (errno != EEXIST || i == DB_BACKUP_TRIES) {
			snprintf(err, errlen, "backup %s: %s", bak,
			    strerror(errno));
			return -1;
		}
	}
	close(fd);
	if ((rc = sqlite3_prepare_v2(db->h, "VACUUM INTO ?1", -1, &s,
	    NULL)) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, bak, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		snprintf(err, errlen, "backup %s: %s", bak,
		    sqlite3_errmsg(db->h));
		unlink(bak);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", db->path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (db_fsync_path(bak, 0) == -1 || db_fsync_path(dir, 1) == -1) {
		snprintf(err, errlen, "backup %s: fsync: %s", bak,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Bring the schema from version ver (0: a new, empty file) to
 * QUEUE_SCHEMA_VERSION in one transaction: a failure rolls back every
 * step, and the file is as it was. An existing queue is copied first.
 */
static int
db_upgrade(struct queue_db *db, long ver, char *err, size_t errlen)
{
	char bak[sizeof(db->path) + 64], v[48];
	const char *step = "begin";
	long from = ver;

	bak[0] = '\0';
	if (ver > 0) {
		if (db_backup(db, ver, bak, sizeof(bak), err, errlen) == -1)
			return -1;
		log_notice(LOG_CAT_QUEUE, "event=db_backup path=%s backup=%s "
		    "version=%ld", db->path, bak, ver);
	}
	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (ver == 0) {
		/* CREATE TABLE without IF NOT EXISTS: a foreign database
		 * fails here */
		step = "create version 1";
		if (sqlite3_exec(db->h, schema_v1, NULL, NULL, NULL) != SQLITE_OK)
			goto fail;
		ver = 1;
	}
	for (; ver < QUEUE_SCHEMA_VERSION; ver++)
		if (upgrades[ver - 1](db, &step) == -1)
			goto fail;
	step = "user_version";
	snprintf(v, sizeof(v), "PRAGMA user_version = %d", QUEUE_SCHEMA_VERSION);
	if (sqlite3_exec(db->h, v, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	step = "commit";
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (from == 0)
		log_notice(LOG_CAT_QUEUE, "event=db_created path=%s version=%d",
		    db->path, QUEUE_SCHEMA_VERSION);
	else
		log_notice(LOG_CAT_QUEUE, "event=db_upgraded path=%s from=%ld "
		    "to=%d backup=%s", db->path, from, QUEUE_SCHEMA_VERSION, bak);
	return 0;

fail:
	if (from == 0)
		snprintf(err, errlen, "%s: create schema: %s: %s", db->path, step,
		    sqlite3_errmsg(db->h));
	else
		snprintf(err, errlen, "%s: upgrade from schema version %ld to %d "
		    "failed at %s (to version %ld): %s; the file is unchanged "
		    "(a copy is at %s)", db->path, from, QUEUE_SCHEMA_VERSION,
		    step, ver + 1, sqlite3_errmsg(db->h), bak);
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Check the schema's version: create it in a new file, upgrade an older
 * one, refuse a newer one (written by a later moat, which this one
 * cannot read safely).
 */
static int
db_schema(struct queue_db *db, char *err, size_t errlen)
{
	char v[32];
	long ver;

	if (db_pragma(db, "PRAGMA user_version", v, sizeof(v)) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db->path, sqlite3_errmsg(db->h));
		return -1;
	}
	ver = strtol(v, NULL, 10);
	if (ver == QUEUE_SCHEMA_VERSION)
		return 0;
	if (ver < 0 || ver > QUEUE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %ld is newer than this "
		    "moat's (%d): it was written by a later moat; run that "
		    "version, or move the file away to start with an empty "
		    "queue", db->path, ver, QUEUE_SCHEMA_VERSION);
		return -1;
	}
	return db_upgrade(db, ver, err, errlen);
}

/* One integer from a one-row statement: SQLITE_OK, or an SQLite code. */
static int
db_count1(struct queue_db *db, enum db_stmt i, int64_t *out)
{
	sqlite3_stmt *s = db_st(db, i);
	int rc;

	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		st_done(s);
		return rc;
	}
	*out = sqlite3_column_int64(s, 0);
	st_done(s);
	return SQLITE_OK;
}

/* queue_db_open - open or create the queue database */
struct queue_db *
queue_db_open(const char *spool_dir, char *err, size_t errlen)
{
	struct queue_db *db;
	char v[32];
	uint32_t seed;
	int fd, rc, n;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, errlen, "queue_db: %s", strerror(errno));
		return NULL;
	}
	n = snprintf(db->path, sizeof(db->path), "%s/queue.db", spool_dir);
	if (n < 0 || (size_t)n >= sizeof(db->path)) {
		snprintf(err, errlen, "%s/queue.db: path too long", spool_dir);
		goto fail;
	}
	/* create it 0600 whatever the umask; SQLite copies the mode to -wal */
	if ((fd = open(db->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errlen, "open %s: %s", db->path, strerror(errno));
		goto fail;
	}
	close(fd);

	rc = sqlite3_open_v2(db->path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE,
	    NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db->path,
		    db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_db_config(db->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);

	if ((rc = db_pragma(db, "PRAGMA journal_mode = WAL", v, sizeof(v))) != SQLITE_OK)
		goto sqlerr;
	if (strcmp(v, "wal") != 0) {
		snprintf(err, errlen, "%s: journal_mode is %s, want wal",
		    db->path, v);
		goto fail;
	}
	if ((rc = db_pragma(db, "PRAGMA synchronous = FULL", NULL, 0)) != SQLITE_OK)
		goto sqlerr;
	if ((rc = db_pragma(db, "PRAGMA foreign_keys = ON", NULL, 0)) != SQLITE_OK)
		goto sqlerr;
	if ((rc = db_pragma(db, "PRAGMA foreign_keys", v, sizeof(v))) != SQLITE_OK)
		goto sqlerr;
	if (strcmp(v, "1") != 0) {
		/* without them, deleting a message would leave its rows behind */
		snprintf(err, errlen, "%s: SQLite has no foreign key support",
		    db->path);
		goto fail;
	}
	if ((rc = db_pragma(db, DB_JOURNAL_LIMIT_SQL, NULL, 0)) != SQLITE_OK)
		goto sqlerr;
	if (db_schema(db, err, errlen) == -1)
		goto fail;

	for (int i = 0; i < ST_N; i++) {
		rc = sqlite3_prepare_v3(db->h, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->st[i], NULL);
		if (rc != SQLITE_OK)
			goto sqlerr;
	}
	if ((rc = db_count1(db, ST_MAX_RCPT_ID, &db->rcpt_next_id)) != SQLITE_OK)
		goto sqlerr;
	db->rcpt_next_id++;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 12);
	db->qid_ctr = seed;
	return db;

sqlerr:
	snprintf(err, errlen, "%s: %s", db->path, sqlite3_errmsg(db->h));
fail:
	queue_db_close(db);
	return NULL;
}

/* queue_db_close - finalize the statements and close the database */
void
queue_db_close(struct queue_db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_N; i++)
		sqlite3_finalize(db->st[i]);
	if (db->h && sqlite3_close(db->h) != SQLITE_OK)
		log_warn(LOG_CAT_QUEUE, "event=db_close_failed err=\"%s\"",
		    sqlite3_errmsg(db->h));
	free(db);
}

/* queue_db_set_size_limit - cap the database size (max_page_count) */
int
queue_db_set_size_limit(struct queue_db *db, uint64_t max_bytes)
{
	char v[64];
	uint64_t pages;
	long psize;
	int rc;

	if ((rc = db_pragma(db, "PRAGMA page_size", v, sizeof(v))) != SQLITE_OK)
		goto fail;
	if ((psize = strtol(v, NULL, 10)) <= 0)
		fatalx("%s: page_size %s", __func__, v);
	pages = max_bytes ? max_bytes / (uint64_t)psize : 0xfffffffeu;
	if (pages == 0)
		pages = 1;	/* SQLite keeps at least the current size */
	if (pages > 0xfffffffeu)
		pages = 0xfffffffeu;
	snprintf(v, sizeof(v), "PRAGMA max_page_count = %" PRIu64, pages);
	if ((rc = db_pragma(db, v, NULL, 0)) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	db_log_error(db, "size_limit", rc);
	return -1;
}

/* a queue id of the queue's own (qid.h) */
static void
db_new_qid(struct queue_db *db, int64_t now, char qid[QUEUE_QID_SIZE])
{
	qid_make(qid, now, db->qid_ctr++, QID_QUEUE);
}

/* Insert one message, its body and recipients; an SQLite code. */
static int
db_store_one(struct queue_db *db, const struct queue_msg *m, int64_t now,
    char qid[QUEUE_QID_SIZE])
{
	sqlite3_stmt *s;
	int64_t created = m->created ? m->created : now;
	int64_t msg_id;
	int rc, tries = 0;

	if (m->nrcpt == 0 || m->rcpts == NULL)
		fatalx("%s: message without recipients", __func__);

	s = db_st(db, ST_INS_MSG);
	do {
		/* the id smtp gave the client, unless it is taken */
		if (tries == 0 && m->qid != NULL && qid_valid(m->qid))
			memcpy(qid, m->qid, QUEUE_QID_SIZE);
		else
			db_new_qid(db, created, qid);
		sqlite3_bind_text(s, 1, qid, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, created);
		bind_str(s, 3, m->sender);
		bind_str(s, 4, addr_domain_of(m->sender, NULL));
		bind_str(s, 5, m->helo);
		bind_str(s, 6, m->client_ip);
		bind_opt(s, 7, m->auth_user);
		bind_str(s, 8, m->listener);
		bind_opt(s, 9, m->envid);
		sqlite3_bind_int(s, 10, m->ret);
		sqlite3_bind_int(s, 11, m->flags);
		sqlite3_bind_int64(s, 12, (sqlite3_int64)m->len);
		sqlite3_bind_int64(s, 13, (sqlite3_int64)m->nrcpt);
		rc = st_exec(s);
		/* a qid still in the queue from a restart in the same second */
	} while (rc == SQLITE_CONSTRAINT_UNIQUE && ++tries < DB_QID_RETRIES);
	if (rc != SQLITE_DONE)
		return rc;
	msg_id = sqlite3_last_insert_rowid(db->h);

	s = db_st(db, ST_INS_BODY);
	sqlite3_bind_int64(s, 1, msg_id);
	rc = sqlite3_bind_blob64(s, 2, m->data ? (const void *)m->data : "",
	    m->len, SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		st_done(s);
		return rc;		/* SQLITE_TOOBIG */
	}
	if ((rc = st_exec(s)) != SQLITE_DONE)
		return rc;

	s = db_st(db, ST_INS_RCPT);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];

		sqlite3_bind_int64(s, 1, msg_id);
		bind_str(s, 2, r->address);
		bind_str(s, 3, addr_domain_of(r->address, NULL));
		bind_opt(s, 4, r->orcpt);
		sqlite3_bind_int(s, 5, r->notify);
		bind_opt(s, 6, r->mailbox);
		sqlite3_bind_int64(s, 7, created);
		/* a held sender's mail is stored held, in the same commit */
		sqlite3_bind_int(s, 8, m->held ? QUEUE_RCPT_HELD : QUEUE_RCPT_QUEUED);
		sqlite3_bind_int64(s, 9, db->rcpt_next_id++);
		if ((rc = st_exec(s)) != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

/* Every result of a batch that was not stored gets status. */
static void
db_results_fail(struct queue_store_result *res, size_t n, int status)
{
	for (size_t i = 0; i < n; i++) {
		res[i].status = status;
		res[i].qid[0] = '\0';
	}
}

/* queue_db_store_batch - store n messages in one transaction */
int
queue_db_store_batch(struct queue_db *db, const struct queue_msg *msgs,
    size_t n, struct queue_store_result *res)
{
	int64_t now = time(NULL);
	const char *op = "begin";
	int rc, status;

	if (n == 0)
		return 0;
	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	op = "store";
	for (size_t i = 0; i < n; i++) {
		res[i].qid[0] = '\0';
		if ((rc = db_store_one(db, &msgs[i], now, res[i].qid)) != SQLITE_DONE)
			goto fail;
	}
	op = "commit";
	if ((rc = db_commit(db)) != SQLITE_DONE)
		goto fail;
	for (size_t i = 0; i < n; i++)
		res[i].status = PROTO_STORE_OK;
	db->stats.stored += (int64_t)n;
	return 0;

fail:
	status = db_store_status(db, rc);
	db_log_error(db, op, rc);
	db_rollback(db);
	db_results_fail(res, n, status);
	return -1;
}

/* queue_db_event_add - insert n events in one transaction */
/* seconds; the histogram's upper bounds (Prometheus' "le") */
const int queue_latency_le[QUEUE_LATENCY_BUCKETS] = {
	1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400, 432000
};

/* one recipient delivered: arrival (whole seconds) to now */
static void
db_count_latency(struct queue_stats *st, int64_t created, int64_t now_ms)
{
	int64_t ms = now_ms - created * 1000;
	size_t b = 0;

	if (created <= 0)
		return;
	if (ms < 0)
		ms = 0;
	while (b < QUEUE_LATENCY_BUCKETS && ms > queue_latency_le[b] * 1000LL)
		b++;
	st->latency[b]++;
	st->latency_sum_ms += ms;
}

/* one event stored: its type's counter (types are ours, a few dozen) */
static void
db_count_event(struct queue_stats *st, const char *type)
{
	size_t i;

	for (i = 0; i < st->nevents; i++)
		if (strcmp(st->events[i].type, type) == 0)
			break;
	if (i == st->nevents) {
		if (i == QUEUE_EVENT_TYPES_MAX ||
		    strlen(type) >= sizeof(st->events[i].type))
			return;
		snprintf(st->events[i].type, sizeof(st->events[i].type), "%s",
		    type);
		st->nevents++;
	}
	st->events[i].n++;
}

int
queue_db_event_add(struct queue_db *db, const struct queue_event *ev, size_t n)
{
	sqlite3_stmt *s = db_st(db, ST_INS_EVENT);
	const char *op = "begin";
	int rc;

	if (n == 0)
		return 0;
	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	op = "event";
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, ev[i].time);
		bind_str(s, 2, ev[i].type);
		bind_opt(s, 3, ev[i].client_ip);
		bind_opt(s, 4, ev[i].user);
		bind_opt(s, 5, ev[i].session);
		bind_opt(s, 6, ev[i].detail);
		if ((rc = st_exec(s)) != SQLITE_DONE)
			goto fail;
	}
	op = "commit";
	if ((rc = db_commit(db)) != SQLITE_DONE)
		goto fail;
	for (size_t i = 0; i < n; i++)
		db_count_event(&db->stats, ev[i].type);
	return 0;
fail:
	db_log_error(db, op, rc);
	db_rollback(db);
	return -1;
}

static char *
col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return strdup(t ? (const char *)t : "");
}

/* free the n strings of a fetched row */
static void
db_free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

/* columns 0, 1, 2 of a recipient row: its id, its message's id and qid */
static void
db_row_ids(sqlite3_stmt *s, int64_t *rcpt_id, int64_t *msg_id,
    char qid[QUEUE_QID_SIZE])
{
	const unsigned char *t = sqlite3_column_text(s, 2);

	*rcpt_id = sqlite3_column_int64(s, 0);
	*msg_id = sqlite3_column_int64(s, 1);
	snprintf(qid, QUEUE_QID_SIZE, "%s", t ? (const char *)t : "");
}

/* Attach the body of each message to its recipients in v[0..n). */
static int
db_local_bodies(struct queue_db *db, struct queue_local *v, size_t n)
{
	sqlite3_stmt *s = db_st(db, ST_BODY_GET);
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (v[j].msg_id == v[i].msg_id)
				break;
		if (j < i) {
			v[i].data = v[j].data;
			v[i].len = v[j].len;
			continue;
		}
		sqlite3_bind_int64(s, 1, v[i].msg_id);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const void *b = sqlite3_column_blob(s, 0);
			int len = sqlite3_column_bytes(s, 0);
			uint8_t *copy = malloc(len > 0 ? (size_t)len : 1);

			if (copy == NULL) {
				st_done(s);
				log_err(LOG_CAT_QUEUE, "event=db_error op=body_get err=\"%s\"",
				    strerror(errno));
				return -1;
			}
			if (len > 0)
				memcpy(copy, b, (size_t)len);
			v[i].data = copy;
			v[i].len = (size_t)len;
			v[i].owns_data = 1;
		} else if (rc == SQLITE_DONE) {
			/*
			 * A corrupt record (our foreign key should prevent
			 * it): hold it for an admin rather than crash on it
			 * at every start or delete it.
			 */
			log_err(LOG_CAT_QUEUE, "event=corrupt_record qid=%s"
			    " msg_id=%" PRId64 " reason=no_body", v[i].qid,
			    v[i].msg_id);
			v[i].outcome = QUEUE_LOCAL_HELD;
			snprintf(v[i].error, sizeof(v[i].error),
			    "queue record has no body");
		} else {
			db_log_error(db, "body_get", rc);
			st_done(s);
			return -1;
		}
		st_done(s);
	}
	return 0;
}

/* queue_db_local_fetch - local recipients due for delivery */
int
queue_db_local_fetch(struct queue_db *db, int64_t now, struct queue_local *out,
    size_t max, size_t *n)
{
	sqlite3_stmt *s = db_st(db, ST_LOCAL_FETCH);
	int rc = SQLITE_DONE;

	*n = 0;
	if (max == 0)
		return 0;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct queue_local *l = &out[*n];

		memset(l, 0, sizeof(*l));
		db_row_ids(s, &l->rcpt_id, &l->msg_id, l->qid);
		l->sender = col_strdup(s, 3);
		l->address = col_strdup(s, 4);
		l->mailbox = col_strdup(s, 5);
		l->attempts = sqlite3_column_int(s, 6);
		l->created = sqlite3_column_int64(s, 7);
		l->orcpt = col_strdup(s, 8);
		l->notify = (uint8_t)sqlite3_column_int(s, 9);
		(*n)++;
		if (!l->sender || !l->address || !l->mailbox || !l->orcpt) {
			st_done(s);
			log_err(LOG_CAT_QUEUE, "event=db_error op=local_fetch err=\"%s\"",
			    strerror(ENOMEM));
			goto fail;
		}
	}
	if (*n < max && rc != SQLITE_DONE) {
		db_log_error(db, "local_fetch", rc);
		st_done(s);
		goto fail;
	}
	st_done(s);
	if (db_local_bodies(db, out, *n) == -1)
		goto fail;
	return 0;
fail:
	queue_db_local_free(out, *n);
	*n = 0;
	return -1;
}

/* queue_db_local_free - release fetched local deliveries */
void
queue_db_local_free(struct queue_local *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *strs[] = { v[i].sender, v[i].address, v[i].mailbox,
		    v[i].orcpt };

		db_free_strs(strs, sizeof(strs) / sizeof(strs[0]));
		if (v[i].owns_data)
			free((void *)v[i].data);
		memset(&v[i], 0, sizeof(v[i]));
	}
}

/* Delete message msg_id when none of its recipients remains to do. */
static int
db_msg_maybe_delete(struct queue_db *db, int64_t msg_id)
{
	sqlite3_stmt *s = db_st(db, ST_MSG_UNDONE);
	int rc, undone;

	sqlite3_bind_int64(s, 1, msg_id);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		st_done(s);
		return rc;
	}
	undone = sqlite3_column_int(s, 0);
	st_done(s);
	if (undone)
		return SQLITE_DONE;
	s = db_st(db, ST_MSG_DELETE);
	sqlite3_bind_int64(s, 1, msg_id);
	return st_exec(s);
}

/*
 * One recipient's new state, the common form of a local and a remote
 * outcome, so that both are written by the same two steps.
 */
struct db_mark {
	int64_t		 rcpt_id;
	int64_t		 msg_id;
	int		 state;		/* QUEUE_RCPT_*; -1: left as it is */
	int64_t		 next;		/* next_attempt */
	const char	*error;		/* last_error; NULL: none */
	int		 finished;	/* its message may have nothing left */
	int		 delay_notice;	/* remember a delay DSN went out */
};

static struct db_mark *
db_marks_new(size_t n)
{
	struct db_mark *m;

	if ((m = calloc(n ? n : 1, sizeof(*m))) == NULL)
		fatal("%s: calloc", __func__);
	return m;
}

/* Remember that a delay DSN went out for a recipient; an SQLite code. */
static int
db_delay_insert(struct queue_db *db, int64_t rcpt_id, int64_t now)
{
	sqlite3_stmt *s = db_st(db, ST_DELAY_INSERT);

	sqlite3_bind_int64(s, 1, rcpt_id);
	sqlite3_bind_int64(s, 2, now);
	return st_exec(s);
}

/*
 * Write each mark's state (attempts counts every one) and its delay
 * notice; an SQLite code.
 */
static int
db_marks_set(struct queue_db *db, const struct db_mark *m, size_t n,
    int64_t now)
{
	sqlite3_stmt *s = db_st(db, ST_RCPT_UPDATE);
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (m[i].state < 0)
			continue;
		sqlite3_bind_int64(s, 1, m[i].rcpt_id);
		sqlite3_bind_int(s, 2, m[i].state);
		sqlite3_bind_int64(s, 3, m[i].next);
		bind_opt(s, 4, m[i].error);
		sqlite3_bind_int64(s, 5, now);
		if ((rc = st_exec(s)) != SQLITE_DONE ||
		    (m[i].delay_notice &&
		    (rc = db_delay_insert(db, m[i].rcpt_id, now)) != SQLITE_DONE))
			return rc;
	}
	return SQLITE_DONE;
}

/* Delete each finished mark's message, once, when nothing is left. */
static int
db_marks_finish(struct queue_db *db, const struct db_mark *m, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t j;

		if (!m[i].finished)
			continue;
		for (j = 0; j < i; j++)
			if (m[j].msg_id == m[i].msg_id && m[j].finished)
				break;
		if (j < i)
			continue;	/* this message was looked at already */
		if ((rc = db_msg_maybe_delete(db, m[i].msg_id)) != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

/* The end of a marking: the finished messages go, then COMMIT. */
static int
db_marks_commit(struct queue_db *db, const struct db_mark *m, size_t n,
    const char **op)
{
	int rc;

	*op = "msg_delete";
	if ((rc = db_marks_finish(db, m, n)) != SQLITE_DONE)
		return rc;
	*op = "commit";
	return db_commit(db);
}

/* a local outcome as a mark; 0 when there is nothing to record */
static int
db_local_mark(const struct queue_local *l, int64_t now, struct db_mark *m)
{
	m->rcpt_id = l->rcpt_id;
	m->msg_id = l->msg_id;
	m->next = now;
	m->error = l->error;
	switch (l->outcome) {
	case QUEUE_LOCAL_PENDING:
	case QUEUE_LOCAL_FAILED:	/* sched_fail records it */
		m->state = -1;
		return 0;
	case QUEUE_LOCAL_DELIVERED:
		m->state = QUEUE_RCPT_DELIVERED;
		m->error = NULL;
		m->finished = 1;
		break;
	case QUEUE_LOCAL_DEFERRED:
		m->state = QUEUE_RCPT_DEFERRED;
		m->next = l->next_attempt;
		break;
	case QUEUE_LOCAL_HELD:
		m->state = QUEUE_RCPT_HELD;
		break;
	default:
		fatalx("%s: outcome %d", __func__, l->outcome);
	}
	return 1;
}

/* queue_db_local_mark - record delivery outcomes in one transaction */
int
queue_db_local_mark(struct queue_db *db, const struct queue_local *v, size_t n,
    int64_t now)
{
	struct db_mark *m = db_marks_new(n);
	const char *op = "begin";
	size_t todo = 0;
	int64_t now_ms;
	int rc;

	for (size_t i = 0; i < n; i++)
		todo += (size_t)db_local_mark(&v[i], now, &m[i]);
	if (todo == 0) {
		free(m);
		return 0;
	}
	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	op = "local_mark";
	if ((rc = db_marks_set(db, m, n, now)) != SQLITE_DONE)
		goto fail;
	if ((rc = db_marks_commit(db, m, n, &op)) != SQLITE_DONE)
		goto fail;
	free(m);
	now_ms = clock_wall_ms();
	for (size_t i = 0; i < n; i++) {
		if (v[i].outcome == QUEUE_LOCAL_DELIVERED) {
			db->stats.delivered++;
			db_count_latency(&db->stats, v[i].created, now_ms);
		}
		else if (v[i].outcome == QUEUE_LOCAL_DEFERRED)
			db->stats.deferred++;
		else if (v[i].outcome == QUEUE_LOCAL_HELD)
			db->stats.held++;
	}
	return 0;
fail:
	free(m);
	db_log_error(db, op, rc);
	db_rollback(db);
	return -1;
}

/* queue_db_local_next - when the next local recipient is due */
int
queue_db_local_next(struct queue_db *db, int64_t *when)
{
	sqlite3_stmt *s = db_st(db, ST_LOCAL_NEXT);
	int rc, found = 0;

	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
			*when = sqlite3_column_int64(s, 0);
			found = 1;
		}
	} else {
		db_log_error(db, "local_next", rc);
		st_done(s);
		return -1;
	}
	st_done(s);
	return found;
}

/* queue_db_count_messages - the messages in the queue */
int
queue_db_count_messages(struct queue_db *db, int64_t *n)
{
	int rc;

	*n = -1;
	if ((rc = db_count1(db, ST_COUNT_MSG, n)) != SQLITE_OK) {
		db_log_error(db, "count_messages", rc);
		return -1;
	}
	return 0;
}

/* queue_db_counts - rows per table, recipients per state */
int
queue_db_counts(struct queue_db *db, struct queue_counts *c)
{
	sqlite3_stmt *s;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = db_count1(db, ST_COUNT_MSG, &c->messages)) != SQLITE_OK ||
	    (rc = db_count1(db, ST_COUNT_BODY, &c->bodies)) != SQLITE_OK ||
	    (rc = db_count1(db, ST_COUNT_EVENTS, &c->events)) != SQLITE_OK)
		goto fail;
	s = db_st(db, ST_COUNT_RCPT);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int state = sqlite3_column_int(s, 0);

		if (state >= 0 && state < QUEUE_RCPT_NSTATES)
			c->rcpt[state] = sqlite3_column_int64(s, 1);
	}
	st_done(s);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	db_log_error(db, "counts", rc);
	return -1;
}

/*
 * Outbound delivery: the scheduler's queries (sched.c).
 */

/* fill r from a row of ST_REMOTE_FETCH_AT or _AFTER: 0, or -1 (ENOMEM) */
static int
remote_row(sqlite3_stmt *s, struct queue_remote *r)
{
	memset(r, 0, sizeof(*r));
	db_row_ids(s, &r->rcpt_id, &r->msg_id, r->qid);
	r->created = sqlite3_column_int64(s, 3);
	r->sender = col_strdup(s, 4);
	r->envid = col_strdup(s, 5);
	r->ret = (uint8_t)sqlite3_column_int(s, 6);
	r->flags = (uint8_t)sqlite3_column_int(s, 7);
	r->address = col_strdup(s, 8);
	r->domain = col_strdup(s, 9);
	r->orcpt = col_strdup(s, 10);
	r->notify = (uint8_t)sqlite3_column_int(s, 11);
	r->attempts = sqlite3_column_int(s, 12);
	r->delay_noticed = sqlite3_column_int(s, 13);
	r->next_attempt = sqlite3_column_int64(s, 14);
	if (!r->sender || !r->envid || !r->address || !r->domain || !r->orcpt)
		return -1;
	return 0;
}

/* queue_db_remote_fetch - due remote recipients after a cursor, in order */
int
queue_db_remote_fetch(struct queue_db *db, int64_t now, int64_t after_time,
    int64_t after_id, struct queue_remote *out, size_t max, size_t *n)
{
	sqlite3_stmt *s;
	int rc = SQLITE_DONE;

	*n = 0;
	for (int part = 0; part < 2 && *n < max; part++) {
		if (part == 0) {
			s = db_st(db, db->paused_some ? ST_REMOTE_FETCH_AT_P :
			    ST_REMOTE_FETCH_AT);
			sqlite3_bind_int64(s, 1, after_time);
			sqlite3_bind_int64(s, 2, after_id);
		} else {
			s = db_st(db, db->paused_some ?
			    ST_REMOTE_FETCH_AFTER_P : ST_REMOTE_FETCH_AFTER);
			sqlite3_bind_int64(s, 1, after_time);
			sqlite3_bind_int64(s, 2, now);
		}
		sqlite3_bind_int64(s, 3, (sqlite3_int64)(max - *n));
		while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (remote_row(s, &out[(*n)++]) == -1) {
				st_done(s);
				log_err(LOG_CAT_QUEUE, "event=db_error "
				    "op=remote_fetch err=\"%s\"", strerror(ENOMEM));
				goto fail;
			}
		}
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			db_log_error(db, "remote_fetch", rc);
			st_done(s);
			goto fail;
		}
		st_done(s);
	}
	return 0;
fail:
	queue_db_remote_free(out, *n);
	*n = 0;
	return -1;
}

/* queue_db_remote_free - release what queue_db_remote_fetch filled in */
void
queue_db_remote_free(struct queue_remote *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *strs[] = { v[i].sender, v[i].envid, v[i].address,
		    v[i].domain, v[i].orcpt };

		db_free_strs(strs, sizeof(strs) / sizeof(strs[0]));
		memset(&v[i], 0, sizeof(v[i]));
	}
}

/* queue_db_remote_next - when the next remote recipient is due */
int
queue_db_remote_next(struct queue_db *db, int64_t *when)
{
	sqlite3_stmt *s = db_st(db, db->paused_some ? ST_REMOTE_NEXT_P :
	    ST_REMOTE_NEXT);
	int rc, found = 0;

	if ((rc = sqlite3_step(s)) == SQLITE_DONE) {
		st_done(s);		/* the paused form: no row at all */
		return 0;
	}
	if (rc != SQLITE_ROW) {
		db_log_error(db, "remote_next", rc);
		st_done(s);
		return -1;
	}
	if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
		*when = sqlite3_column_int64(s, 0);
		found = 1;
	}
	st_done(s);
	return found;
}

/* queue_db_msg_get - envelope and a copy of the body of one message */
int
queue_db_msg_get(struct queue_db *db, int64_t msg_id, struct queue_msg_copy *out)
{
	sqlite3_stmt *s = db_st(db, ST_MSG_GET);
	const unsigned char *t;
	const void *b;
	int rc, len;

	memset(out, 0, sizeof(*out));
	sqlite3_bind_int64(s, 1, msg_id);
	if ((rc = sqlite3_step(s)) == SQLITE_DONE) {
		st_done(s);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		db_log_error(db, "msg_get", rc);
		st_done(s);
		return -1;
	}
	t = sqlite3_column_text(s, 0);
	snprintf(out->qid, sizeof(out->qid), "%s", t ? (const char *)t : "");
	out->created = sqlite3_column_int64(s, 1);
	out->sender = col_strdup(s, 2);
	out->envid = col_strdup(s, 3);
	out->ret = (uint8_t)sqlite3_column_int(s, 4);
	out->client_ip = col_strdup(s, 5);
	out->helo = col_strdup(s, 6);
	b = sqlite3_column_blob(s, 7);
	len = sqlite3_column_bytes(s, 7);
	out->data = malloc(len > 0 ? (size_t)len : 1);
	if (out->data != NULL && len > 0)
		memcpy(out->data, b, (size_t)len);
	out->len = len > 0 ? (size_t)len : 0;
	out->flags = (uint8_t)sqlite3_column_int(s, 8);
	st_done(s);
	if (!out->sender || !out->envid || !out->client_ip || !out->helo ||
	    !out->data) {
		log_err(LOG_CAT_QUEUE, "event=db_error op=msg_get err=\"%s\"",
		    strerror(ENOMEM));
		queue_db_msg_copy_free(out);
		return -1;
	}
	return 1;
}

/* queue_db_msg_copy_free - release what queue_db_msg_get filled in */
void
queue_db_msg_copy_free(struct queue_msg_copy *m)
{
	free(m->sender);
	free(m->envid);
	free(m->client_ip);
	free(m->helo);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* a remote outcome as a mark */
static void
db_remote_mark(const struct queue_remote_mark *r, int64_t now,
    struct db_mark *m)
{
	m->rcpt_id = r->rcpt_id;
	m->msg_id = r->msg_id;
	m->next = now;
	m->error = r->error;
	m->finished = 1;
	m->delay_notice = r->delay_notice;
	switch (r->outcome) {
	case QUEUE_REMOTE_DELIVERED:
		m->state = QUEUE_RCPT_DELIVERED;
		break;
	case QUEUE_REMOTE_DEFERRED:
		m->state = QUEUE_RCPT_DEFERRED;
		m->next = r->next_attempt;
		m->finished = 0;
		break;
	case QUEUE_REMOTE_FAILED:
	case QUEUE_REMOTE_DEAD:
		m->state = QUEUE_RCPT_FAILED;
		break;
	default:
		fatalx("%s: outcome %d", __func__, r->outcome);
	}
}

/* Copy the message of each DEAD outcome into deadletter; an SQLite code. */
static int
db_dead_insert(struct queue_db *db, const struct queue_remote_mark *v,
    size_t n, int64_t now)
{
	sqlite3_stmt *s = db_st(db, ST_DEAD_INSERT);
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (v[i].outcome != QUEUE_REMOTE_DEAD)
			continue;
		sqlite3_bind_int64(s, 1, v[i].msg_id);
		sqlite3_bind_int64(s, 2, now);
		bind_str(s, 3, v[i].address);
		bind_str(s, 4, v[i].error);
		sqlite3_bind_int64(s, 5, v[i].rcpt_id);
		if ((rc = st_exec(s)) != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

/* A sent_log row for each DELIVERED outcome; an SQLite code. */
static int
db_sent_insert(struct queue_db *db, const struct queue_remote_mark *v,
    size_t n, int64_t now)
{
	sqlite3_stmt *s = db_st(db, ST_SENT_INSERT);
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (v[i].outcome != QUEUE_REMOTE_DELIVERED)
			continue;
		sqlite3_bind_int64(s, 1, v[i].rcpt_id);
		sqlite3_bind_int64(s, 2, now);
		bind_opt(s, 3, v[i].relay);
		bind_opt(s, 4, v[i].reply);
		if ((rc = st_exec(s)) != SQLITE_DONE)
			return rc;
	}
	return SQLITE_DONE;
}

static void
db_remote_count(struct queue_db *db, const struct queue_remote_mark *v,
    size_t n)
{
	int64_t now_ms = clock_wall_ms();

	for (size_t i = 0; i < n; i++) {
		switch (v[i].outcome) {
		case QUEUE_REMOTE_DELIVERED:
			db->stats.delivered++;
			db_count_latency(&db->stats, v[i].created, now_ms);
			break;
		case QUEUE_REMOTE_DEFERRED:
			db->stats.deferred++;
			break;
		case QUEUE_REMOTE_FAILED:
			db->stats.bounced++;
			break;
		case QUEUE_REMOTE_DEAD:
			db->stats.dead++;
			break;
		}
	}
}

/* queue_db_remote_mark - outcomes, bounces and dead letters in one go */
int
queue_db_remote_mark(struct queue_db *db, const struct queue_remote_mark *v,
    size_t n, const struct queue_msg *bounces, size_t nb,
    struct queue_store_result *bres, int64_t now)
{
	struct db_mark *m;
	const char *op = "begin";
	int rc;

	if (n == 0 && nb == 0)
		return 0;
	m = db_marks_new(n);
	for (size_t i = 0; i < n; i++)
		db_remote_mark(&v[i], now, &m[i]);
	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	/* dead letters copy the message before it may be deleted below */
	op = "dead_insert";
	if ((rc = db_dead_insert(db, v, n, now)) != SQLITE_DONE)
		goto fail;
	/* and the sent log, before a delivered message may be deleted */
	op = "sent_log";
	if ((rc = db_sent_insert(db, v, n, now)) != SQLITE_DONE)
		goto fail;
	op = "remote_mark";
	if ((rc = db_marks_set(db, m, n, now)) != SQLITE_DONE)
		goto fail;
	op = "bounce_store";
	for (size_t i = 0; i < nb; i++) {
		bres[i].qid[0] = '\0';
		if ((rc = db_store_one(db, &bounces[i], now, bres[i].qid)) !=
		    SQLITE_DONE)
			goto fail;
	}
	if ((rc = db_marks_commit(db, m, n, &op)) != SQLITE_DONE)
		goto fail;
	free(m);
	for (size_t i = 0; i < nb; i++)
		bres[i].status = PROTO_STORE_OK;
	db_remote_count(db, v, n);
	return 0;
fail:
	free(m);
	db_log_error(db, op, rc);
	db_rollback(db);
	db_results_fail(bres, nb, PROTO_STORE_TEMPFAIL);
	return -1;
}

/* queue_db_dead_expire - delete dead letters older than before */
int
queue_db_dead_expire(struct queue_db *db, int64_t before, int64_t *deleted)
{
	sqlite3_stmt *s = db_st(db, ST_DEAD_EXPIRE);
	int rc;

	sqlite3_bind_int64(s, 1, before);
	if ((rc = st_exec(s)) != SQLITE_DONE) {
		db_log_error(db, "dead_expire", rc);
		return -1;
	}
	if (deleted != NULL)
		*deleted = sqlite3_changes64(db->h);
	return 0;
}

/* queue_db_paused_load - read paused_dest: *all, and whether any is */
int
queue_db_paused_load(struct queue_db *db, int *all)
{
	sqlite3_stmt *s = db_st(db, ST_PAUSED);
	int rc;

	*all = 0;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		db_log_error(db, "paused", rc);
		st_done(s);
		return -1;
	}
	*all = sqlite3_column_int(s, 0);
	db->paused_some = sqlite3_column_int(s, 1);
	st_done(s);
	return 0;
}

/*
 * queue_db_dead_reinject - dead letter dead_id back into the queue as a
 * new message from <> (arrived now, one recipient, its first attempt)
 * and out of deadletter, in one transaction. route() says where its
 * recipient goes now (its Maildir, "" when relayed). 1 with the new qid,
 * 0 when there is no such dead letter, -1 (nothing changed).
 */
int
queue_db_dead_reinject(struct queue_db *db, int64_t dead_id, const char *helo,
    void (*route)(void *, const char *address, const char *mailbox,
    char *out, size_t outlen), void *arg, char qid[QUEUE_QID_SIZE])
{
	sqlite3_stmt *s = db_st(db, ST_DEAD_GET);
	struct queue_rcpt r;
	struct queue_msg m;
	char *sender = NULL, *address = NULL, *mailbox = NULL;
	char mbox[4096];
	uint8_t *data = NULL;
	const void *b;
	const char *op = "begin";
	int64_t now = time(NULL);
	int rc, found = 0, len;

	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	op = "dead_get";
	sqlite3_bind_int64(s, 1, dead_id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		found = 1;
		sender = col_strdup(s, 1);
		address = col_strdup(s, 2);
		mailbox = col_strdup(s, 4);
		if (sender == NULL || address == NULL || mailbox == NULL)
			fatal("%s: strdup", __func__);
		b = sqlite3_column_blob(s, 3);
		len = sqlite3_column_bytes(s, 3);
		if ((data = malloc(len > 0 ? (size_t)len : 1)) == NULL)
			fatal("%s: malloc", __func__);
		if (len > 0)
			memcpy(data, b, (size_t)len);
		memset(&m, 0, sizeof(m));
		m.flags = (uint8_t)sqlite3_column_int(s, 5);
		m.len = len > 0 ? (size_t)len : 0;
	}
	st_done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	if (!found) {
		db_rollback(db);
		return 0;
	}
	route(arg, address, mailbox, mbox, sizeof(mbox));
	memset(&r, 0, sizeof(r));
	r.address = address;
	r.mailbox = mbox;
	m.created = now;
	m.sender = sender;
	m.helo = helo;
	m.client_ip = "";
	m.listener = "deadletter";
	m.ret = PROTO_RET_NONE;
	m.rcpts = &r;
	m.nrcpt = 1;
	m.data = data;
	op = "store";
	if ((rc = db_store_one(db, &m, now, qid)) != SQLITE_DONE)
		goto fail;
	op = "dead_delete";
	s = db_st(db, ST_DEAD_DELETE);
	sqlite3_bind_int64(s, 1, dead_id);
	if ((rc = st_exec(s)) != SQLITE_DONE)
		goto fail;
	op = "commit";
	if ((rc = db_commit(db)) != SQLITE_DONE)
		goto fail;
	free(sender);
	free(address);
	free(mailbox);
	free(data);
	return 1;
fail:
	db_log_error(db, op, rc);
	db_rollback(db);
	free(sender);
	free(address);
	free(mailbox);
	free(data);
	return -1;
}

/*
 * Sender states (the user_state table): an authenticated user by name,
 * a relay client as "ip:ADDRESS", one envelope sender of a relay client
 * as "ip:ADDRESS/SENDER" (policy/watch.h). Used by the compromised-account
 * watch in queue_proc.c; the control CLI reads and writes the same rows.
 */

/* qdb_bind_hold - the parameters of QDB_SQL_HOLD_SENDER for a key */
int
qdb_bind_hold(sqlite3_stmt *s, const char *key, int64_t now)
{
	enum watch_key_kind kind;
	char ip[WATCH_KEY_MAX], sender[WATCH_KEY_MAX];

	if (watch_key_parse(key, &kind, ip, sizeof(ip), sender,
	    sizeof(sender)) == -1)
		return -1;
	sqlite3_bind_int64(s, 2, now);
	if (kind == WATCH_KEY_USER) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_null(s, 3);
		sqlite3_bind_null(s, 4);
		return 0;
	}
	sqlite3_bind_null(s, 1);
	sqlite3_bind_text(s, 3, ip, -1, SQLITE_TRANSIENT);
	if (kind == WATCH_KEY_SENDER)
		sqlite3_bind_text(s, 4, sender, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	return 0;
}

/* queue_db_sender_state - "active", "held" or "suspended" into buf */
int
queue_db_sender_state(struct queue_db *db, const char *key, char *buf,
    size_t len)
{
	sqlite3_stmt *s;
	int rc;

	snprintf(buf, len, "active");
	s = db_st(db, ST_SENDER_STATE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	st_done(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * queue_db_sender_set - in one transaction, set key's state and (unless
 * active) hold every recipient of its queued mail. *held gets how many
 * recipients were held. 0, or -1 and nothing changed.
 */
int
queue_db_sender_set(struct queue_db *db, const char *key, const char *state,
    const char *reason, int64_t now, int64_t *held)
{
	static const char *set_sql = QDB_SQL_USER_SET;
	static const char *hold_sql = QDB_SQL_HOLD_SENDER;
	sqlite3_stmt *s = NULL;
	const char *op = "begin";
	int rc;

	*held = 0;
	if ((rc = db_begin(db)) != SQLITE_DONE)
		goto fail;
	op = "sender_set";
	if ((rc = sqlite3_prepare_v3(db->h, set_sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	s = NULL;
	if (rc != SQLITE_DONE)
		goto fail;
	if (strcmp(state, "active") != 0) {
		op = "sender_hold";
		if ((rc = sqlite3_prepare_v3(db->h, hold_sql, -1, 0, &s,
		    NULL)) != SQLITE_OK)
			goto fail;
		if (qdb_bind_hold(s, key, now) == 0) {
			rc = sqlite3_step(s);
			if (rc != SQLITE_DONE)
				goto fail;
			*held = sqlite3_changes64(db->h);
		}
		sqlite3_finalize(s);
		s = NULL;
	}
	op = "commit";
	if ((rc = db_commit(db)) != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	db_log_error(db, op, rc);
	if (s)
		sqlite3_finalize(s);
	db_rollback(db);
	return -1;
}

/* one statement with one integer parameter, run to its end: its last rc */
static int
db_run_i64(struct queue_db *db, const char *sql, int64_t v)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(s, 1, v);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc;
}

/*
 * queue_db_events_expire - keep the events table bounded: rows older
 * than before go, then the oldest beyond max_rows. *deleted gets the
 * count. 0, or -1 (logged).
 */
int
queue_db_events_expire(struct queue_db *db, int64_t before, int64_t max_rows,
    int64_t *deleted)
{
	static const char *old_sql = "DELETE FROM events WHERE time < ?1";
	static const char *cap_sql =
	    "DELETE FROM events WHERE id <= (SELECT id FROM events"
	    " ORDER BY id DESC LIMIT 1 OFFSET ?1)";
	int rc;

	*deleted = 0;
	if ((rc = db_run_i64(db, old_sql, before)) != SQLITE_DONE)
		goto fail;
	*deleted += sqlite3_changes64(db->h);
	if ((rc = db_run_i64(db, cap_sql, max_rows)) != SQLITE_DONE)
		goto fail;
	*deleted += sqlite3_changes64(db->h);
	return 0;
fail:
	db_log_error(db, "events_expire", rc);
	return -1;
}

/* queue_db_watch_add - n rows of watched traffic in one transaction */
int
queue_db_watch_add(struct queue_db *db, const struct queue_watch_row *v,
    size_t n)
{
	static const char *sql = "INSERT INTO watch_traffic(sender, time,"
	    " rcpts, ext_rcpts, ext_domains, mail_from)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL)) != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto rollback;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(s, 1, v[i].sender, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, v[i].time);
		sqlite3_bind_int(s, 3, v[i].rcpts);
		sqlite3_bind_int(s, 4, v[i].ext_rcpts);
		sqlite3_bind_text(s, 5, v[i].ext_domains, -1, SQLITE_STATIC);
		if (v[i].mail_from != NULL)
			sqlite3_bind_text(s, 6, v[i].mail_from, -1,
			    SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 6);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	sqlite3_finalize(s);
	s = NULL;
	if ((rc = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		goto rollback;
	return 0;
rollback:
	sqlite3_finalize(s);
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
fail:
	db_log_error(db, "watch_add", rc);
	return -1;
}

/* queue_db_watch_load - the rows since a time, oldest first, to fn */
int
queue_db_watch_load(struct queue_db *db, int64_t since,
    void (*fn)(void *, const struct queue_watch_row *), void *arg)
{
	static const char *sql = "SELECT sender, time, rcpts, ext_rcpts,"
	    " ext_domains, mail_from FROM watch_traffic WHERE time > ?1"
	    " ORDER BY time, id";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(s, 1, since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct queue_watch_row r;

		r.sender = (const char *)sqlite3_column_text(s, 0);
		r.time = sqlite3_column_int64(s, 1);
		r.rcpts = sqlite3_column_int(s, 2);
		r.ext_rcpts = sqlite3_column_int(s, 3);
		r.ext_domains = (const char *)sqlite3_column_text(s, 4);
		r.mail_from = (const char *)sqlite3_column_text(s, 5);
		if (r.sender != NULL && r.ext_domains != NULL)
			fn(arg, &r);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	db_log_error(db, "watch_load", rc);
	return -1;
}

/* queue_db_watch_expire - drop watched traffic older than before */
int
queue_db_watch_expire(struct queue_db *db, int64_t before)
{
	static const char *sql = "DELETE FROM watch_traffic WHERE time <= ?1";
	int rc;

	if ((rc = db_run_i64(db, sql, before)) != SQLITE_DONE) {
		db_log_error(db, "watch_expire", rc);
		return -1;
	}
	return 0;
}

/* queue_db_series_add - one minute's counts into series_minute */
int
queue_db_series_add(struct queue_db *db, const struct queue_series_row *r)
{
	static const char *sql =
	    "INSERT INTO series_minute(minute, msgs_in, msgs_out,"
	    " auth_failures, rejections, queue_size)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(minute) DO UPDATE"
	    " SET msgs_in = msgs_in + excluded.msgs_in,"
	    " msgs_out = msgs_out + excluded.msgs_out,"
	    " auth_failures = auth_failures + excluded.auth_failures,"
	    " rejections = rejections + excluded.rejections,"
	    " queue_size = excluded.queue_size";
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, r->minute);
		sqlite3_bind_int64(s, 2, r->msgs_in);
		sqlite3_bind_int64(s, 3, r->msgs_out);
		sqlite3_bind_int64(s, 4, r->auth_failures);
		sqlite3_bind_int64(s, 5, r->rejections);
		sqlite3_bind_int64(s, 6, r->queue_size);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
	}
	if (rc != SQLITE_DONE) {
		db_log_error(db, "series_add", rc);
		return -1;
	}
	return 0;
}

/* queue_db_series_read - the newest minutes since a time, oldest first */
int
queue_db_series_read(struct queue_db *db, int64_t since, uint32_t limit,
    void (*fn)(void *arg, const struct queue_series_row *row), void *arg)
{
	static const char *sql =
	    "SELECT * FROM (SELECT minute, msgs_in, msgs_out, auth_failures,"
	    " rejections, queue_size FROM series_minute WHERE minute >= ?1"
	    " ORDER BY minute DESC LIMIT ?2) ORDER BY minute";
	struct queue_series_row r;
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r.minute = sqlite3_column_int64(s, 0);
		r.msgs_in = sqlite3_column_int64(s, 1);
		r.msgs_out = sqlite3_column_int64(s, 2);
		r.auth_failures = sqlite3_column_int64(s, 3);
		r.rejections = sqlite3_column_int64(s, 4);
		r.queue_size = sqlite3_column_int64(s, 5);
		fn(arg, &r);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	db_log_error(db, "series_read", rc);
	return -1;
}

/*
 * queue_db_series_expire - drop the time series' minutes and the sent
 * log's rows older than before; *deleted gets the count. 0 or -1.
 */
int
queue_db_series_expire(struct queue_db *db, int64_t before, int64_t *deleted)
{
	static const char *series_sql =
	    "DELETE FROM series_minute WHERE minute < ?1";
	static const char *sent_sql = "DELETE FROM sent_log WHERE time < ?1";
	int rc;

	*deleted = 0;
	if ((rc = db_run_i64(db, series_sql, before)) != SQLITE_DONE)
		goto fail;
	*deleted += sqlite3_changes64(db->h);
	if ((rc = db_run_i64(db, sent_sql, before)) != SQLITE_DONE)
		goto fail;
	*deleted += sqlite3_changes64(db->h);
	return 0;
fail:
	db_log_error(db, "series_expire", rc);
	return -1;
}

/*
 * The recipient verification cache (verify_cache): one row per probed
 * address, FOUND (0) or NOTFOUND (1), until it expires. The lookup
 * process holds a copy in memory; these rows let it survive a restart.
 */

/* queue_db_verify_put - store (or replace) one address's result */
int
queue_db_verify_put(struct queue_db *db, const struct queue_verify_row *v)
{
	static const char *sql = "INSERT OR REPLACE INTO verify_cache(address,"
	    " result, reply, updated, expires) VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(s, 1, v->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, v->result);
	sqlite3_bind_text(s, 3, v->reply, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, v->updated);
	sqlite3_bind_int64(s, 5, v->expires);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	db_log_error(db, "verify_put", rc);
	return -1;
}

/* queue_db_verify_load - each row that expires after now, to fn */
int
queue_db_verify_load(struct queue_db *db, int64_t now,
    void (*fn)(void *, const struct queue_verify_row *), void *arg)
{
	static const char *sql = "SELECT address, result, reply, updated,"
	    " expires FROM verify_cache WHERE expires > ?1";
	sqlite3_stmt *s = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(s, 1, now);
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
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto fail;
	return 0;
fail:
	db_log_error(db, "verify_load", rc);
	return -1;
}

/* queue_db_verify_expire - delete the rows expired at now */
int
queue_db_verify_expire(struct queue_db *db, int64_t now, int64_t *deleted)
{
	static const char *sql = "DELETE FROM verify_cache WHERE expires <= ?1";
	int rc;

	if ((rc = db_run_i64(db, sql, now)) != SQLITE_DONE) {
		db_log_error(db, "verify_expire", rc);
		return -1;
	}
	if (deleted != NULL)
		*deleted = sqlite3_changes64(db->h);
	return 0;
}

/*
 * A guessing attack on an account, read from the events table: the
 * AUTH failures smtp recorded for it and its account_attack alerts.
 * Rare (a login, an account held): each statement is prepared per call.
 */

/* run sql with its parameters bound by bind(s, arg), each row to row */
static int
db_query(struct queue_db *db, const char *sql,
    void (*bind)(sqlite3_stmt *, const void *), const void *barg,
    void (*row)(sqlite3_stmt *, void *), void *rarg)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v3(db->h, sql, -1, 0, &s, NULL)) != SQLITE_OK) {
		db_log_error(db, "guess_prepare", rc);
		return -1;
	}
	bind(s, barg);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (row != NULL)
			row(s, rarg);
	if (rc != SQLITE_DONE)
		db_log_error(db, "guess", rc);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct guess_args {
	const char	*user, *ip, *net, *reason, *origin;
	int64_t		 since, now, expires;
};

static void
guess_bind(sqlite3_stmt *s, const void *arg)
{
	const struct guess_args *a = arg;

	sqlite3_bind_text(s, 1, a->user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, a->since);
	if (a->ip != NULL)
		sqlite3_bind_text(s, 3, a->ip, -1, SQLITE_STATIC);
}

static void
guess_row(sqlite3_stmt *s, void *arg)
{
	struct queue_guess *g = arg;

	g->failures = sqlite3_column_int(s, 0);
	g->addresses = sqlite3_column_int(s, 1);
	g->from_ip = sqlite3_column_int(s, 2);
	g->attack = sqlite3_column_int(s, 3);
}

/* queue_db_guess_get - the attack on user since since, as seen from ip */
int
queue_db_guess_get(struct queue_db *db, const char *user, const char *ip,
    int64_t since, struct queue_guess *out)
{
	static const char sql[] =
	    "SELECT coalesce(sum(type = 'auth_fail'), 0),"
	    " count(DISTINCT CASE WHEN type = 'auth_fail' THEN client_ip END),"
	    " coalesce(max(type = 'auth_fail' AND client_ip = ?3), 0),"
	    " coalesce(max(type = 'account_attack'), 0)"
	    " FROM events WHERE user = ?1 AND time >= ?2"
	    " AND type IN ('auth_fail', 'account_attack')";
	struct guess_args a = { .user = user, .ip = ip, .since = since };

	memset(out, 0, sizeof(*out));
	return db_query(db, sql, guess_bind, &a, guess_row, out);
}

struct guess_clients {
	void	(*cb)(void *, const char *);
	void	*arg;
};

static void
clients_row(sqlite3_stmt *s, void *arg)
{
	struct guess_clients *c = arg;
	const char *ip = (const char *)sqlite3_column_text(s, 0);

	if (ip != NULL && ip[0] != '\0')
		c->cb(c->arg, ip);
}

/* queue_db_guess_clients - each address that failed AUTH for user */
int
queue_db_guess_clients(struct queue_db *db, const char *user, int64_t since,
    void (*cb)(void *, const char *ip), void *arg)
{
	static const char sql[] =
	    "SELECT DISTINCT client_ip FROM events WHERE user = ?1"
	    " AND time >= ?2 AND type = 'auth_fail' ORDER BY client_ip";
	struct guess_args a = { .user = user, .since = since };
	struct guess_clients c = { cb, arg };

	return db_query(db, sql, guess_bind, &a, clients_row, &c);
}

static void
net_bind(sqlite3_stmt *s, const void *arg)
{
	const struct guess_args *a = arg;

	sqlite3_bind_text(s, 1, a->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->net, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, a->now);
}

static void
one_row(sqlite3_stmt *s, void *arg)
{
	*(int *)arg = sqlite3_column_int(s, 0);
}

static void
one_row_i64(sqlite3_stmt *s, void *arg)
{
	*(int64_t *)arg = sqlite3_column_int64(s, 0);
}

/* queue_db_login_net_seen - 1 when user logged in from net before */
int
queue_db_login_net_seen(struct queue_db *db, const char *user, const char *net)
{
	static const char sql[] =
	    "SELECT count(*) FROM login_nets WHERE user = ?1 AND net = ?2"
	    " AND ?3 = ?3";
	struct guess_args a = { .user = user, .net = net };
	int n = 0;

	if (db_query(db, sql, net_bind, &a, one_row, &n) == -1)
		return -1;
	return n > 0;
}

/* queue_db_guess_quarantined - see queue_db.h */
int
queue_db_guess_quarantined(struct queue_db *db, const char *user,
    int64_t *since)
{
	static const char sql[] =
	    "SELECT u.updated FROM user_state AS u WHERE u.user = ?1"
	    " AND u.state = 'held' AND ?2 = ?2 AND ?3 = ?3 AND EXISTS"
	    " (SELECT 1 FROM events AS e WHERE e.type = 'login_after_guessing'"
	    " AND e.user = ?1 AND e.time = u.updated)";
	struct guess_args a = { .user = user, .net = "" };
	int64_t t = -1;

	if (db_query(db, sql, net_bind, &a, one_row_i64, &t) == -1)
		return -1;
	*since = t;
	return t >= 0;
}

static void
usual_bind(sqlite3_stmt *s, const void *arg)
{
	const struct queue_guess_usual *u = arg;

	sqlite3_bind_text(s, 1, u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, u->net, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, u->attack_from);
	sqlite3_bind_int64(s, 4, u->held_since);
	sqlite3_bind_text(s, 5, u->ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, u->quiet_since);
}

/* queue_db_guess_usual - see queue_db.h */
int
queue_db_guess_usual(struct queue_db *db, const struct queue_guess_usual *u)
{
	static const char sql[] =
	    "SELECT EXISTS(SELECT 1 FROM login_nets WHERE user = ?1"
	    " AND net = ?2 AND first_seen < coalesce((SELECT min(time)"
	    " FROM events WHERE type = 'auth_fail' AND user = ?1"
	    " AND time >= ?3), ?4))"
	    " AND NOT EXISTS(SELECT 1 FROM events WHERE type = 'auth_fail'"
	    " AND user = ?1 AND client_ip = ?5 AND time >= ?3)"
	    " AND NOT EXISTS(SELECT 1 FROM events WHERE type = 'auth_fail'"
	    " AND user = ?1 AND time >= ?6)";
	int n = 0;

	if (db_query(db, sql, usual_bind, u, one_row, &n) == -1)
		return -1;
	return n != 0;
}

/* queue_db_guess_held_clients - see queue_db.h */
int
queue_db_guess_held_clients(struct queue_db *db, const char *user,
    void (*cb)(void *, const char *ip), void *arg)
{
	static const char sql[] =
	    "SELECT DISTINCT m.client_ip FROM message AS m WHERE"
	    " m.auth_user = ?1 AND ?2 = ?2 AND EXISTS(SELECT 1 FROM recipient"
	    " AS r WHERE r.msg_id = m.id AND r.state = 2)";
	struct guess_args a = { .user = user };
	struct guess_clients c = { cb, arg };

	return db_query(db, sql, guess_bind, &a, clients_row, &c);
}

/* queue_db_guess_held_count - see queue_db.h */
int
queue_db_guess_held_count(struct queue_db *db, const char *user, int64_t *n)
{
	static const char sql[] =
	    "SELECT count(*) FROM recipient WHERE state = 2 AND msg_id IN"
	    " (SELECT id FROM message WHERE auth_user = ?1 AND ?2 = ?2)";
	struct guess_args a = { .user = user };

	*n = 0;
	return db_query(db, sql, guess_bind, &a, one_row_i64, n);
}

/* queue_db_guess_release - see queue_db.h */
int
queue_db_guess_release(struct queue_db *db, const char *user, const char *ip,
    int64_t now, int64_t *n)
{
	static const char sql[] =
	    "UPDATE recipient SET state = 0, next_attempt = ?3, updated = ?3"
	    " WHERE state = 2 AND msg_id IN (SELECT id FROM message"
	    " WHERE auth_user = ?1 AND client_ip = ?2)";
	struct guess_args a = { .user = user, .net = ip, .now = now };

	*n = 0;
	if (db_query(db, sql, net_bind, &a, NULL, NULL) == -1)
		return -1;
	*n = sqlite3_changes64(db->h);
	return 0;
}

/* queue_db_login_known - 1 when user has logged in (login_nets) */
int
queue_db_login_known(struct queue_db *db, const char *user)
{
	static const char sql[] =
	    "SELECT EXISTS(SELECT 1 FROM login_nets WHERE user = ?1"
	    " AND ?2 = ?2 AND ?3 = ?3)";
	struct guess_args a = { .user = user, .net = "" };
	int n = 0;

	if (db_query(db, sql, net_bind, &a, one_row, &n) == -1)
		return -1;
	return n > 0;
}

/* queue_db_login_net_add - user logged in from net at now; an account
 * keeps its QUEUE_LOGIN_NETS_MAX most recent networks */
int
queue_db_login_net_add(struct queue_db *db, const char *user, const char *net,
    int64_t now)
{
	static const char add_sql[] =
	    "INSERT INTO login_nets(user, net, first_seen, last_seen, logins)"
	    " VALUES (?1, ?2, ?3, ?3, 1) ON CONFLICT(user, net) DO UPDATE SET"
	    " last_seen = excluded.last_seen, logins = logins + 1";
	static const char trim_sql[] =
	    "DELETE FROM login_nets WHERE user = ?1 AND ?2 = ?2 AND ?3 = ?3"
	    " AND net NOT IN (SELECT net FROM login_nets WHERE user = ?1"
	    " ORDER BY last_seen DESC LIMIT " DB_XSTR(QUEUE_LOGIN_NETS_MAX) ")";
	struct guess_args a = { .user = user, .net = net, .now = now };
	int rc;

	/* one transaction: one fsync per login */
	if ((rc = db_begin(db)) != SQLITE_DONE) {
		db_log_error(db, "login_net", rc);
		return -1;
	}
	if (db_query(db, add_sql, net_bind, &a, NULL, NULL) == -1 ||
	    db_query(db, trim_sql, net_bind, &a, NULL, NULL) == -1) {
		db_rollback(db);
		return -1;
	}
	if ((rc = db_commit(db)) != SQLITE_DONE) {
		db_log_error(db, "login_net", rc);
		db_rollback(db);
		return -1;
	}
	return 0;
}

static void
ban_bind(sqlite3_stmt *s, const void *arg)
{
	const struct guess_args *a = arg;

	sqlite3_bind_text(s, 1, a->net, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, a->now);
	if (a->expires != 0)
		sqlite3_bind_int64(s, 5, a->expires);
}

/* queue_db_ban_add - ban cidr until expires (0: never); a ban of the
 * same network that lasts longer is kept as it is */
int
queue_db_ban_add(struct queue_db *db, const char *cidr, const char *reason,
    const char *origin, int64_t now, int64_t expires)
{
	static const char sql[] =
	    "INSERT INTO bans(cidr, reason, origin, created, expires)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(cidr) DO UPDATE SET"
	    " reason = excluded.reason, origin = excluded.origin,"
	    " created = excluded.created, expires = excluded.expires"
	    " WHERE bans.expires IS NOT NULL AND (excluded.expires IS NULL"
	    " OR bans.expires < excluded.expires)";
	struct guess_args a = { .net = cidr, .reason = reason,
	    .origin = origin, .now = now, .expires = expires };

	return db_query(db, sql, ban_bind, &a, NULL, NULL);
}
