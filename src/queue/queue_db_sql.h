/*
 * queue_db_sql.h - SQL texts shared by the queue_db modules (queue_db.c,
 * queue_db_ctl.c), which alone own the schema of queue.db. Not for any
 * other file: the rest of the queue process calls named functions.
 */
#ifndef MOAT_QUEUE_DB_SQL_H
#define MOAT_QUEUE_DB_SQL_H

/* one security event: ?1 time, ?2 type, ?3 client, ?4 user, ?5 session,
 * ?6 detail */
#define QDB_SQL_EVENT_INSERT \
	"INSERT INTO events(time, type, client_ip, user, session, detail)" \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"

/* a sender's state: ?1 user (or ip:ADDRESS), ?2 state, ?3 reason,
 * ?4 updated */
#define QDB_SQL_USER_SET \
	"INSERT INTO user_state(user, state, reason, updated)" \
	" VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user) DO UPDATE SET" \
	" state = excluded.state, reason = excluded.reason," \
	" updated = excluded.updated"

/*
 * hold the queued mail of a watched sender (policy/watch.h names them):
 * ?1 an authenticated user (NULL for a relay client), ?2 updated, ?3 a
 * relay client's address, ?4 one envelope sender of it, lowercased, ''
 * for <> (NULL: all its mail). Bound by qdb_bind_hold.
 */
#define QDB_SQL_HOLD_SENDER \
	"UPDATE recipient SET state = 2, updated = ?2 WHERE state IN (0, 1)" \
	" AND msg_id IN (SELECT id FROM message WHERE" \
	" (?1 IS NOT NULL AND auth_user = ?1) OR (?1 IS NULL" \
	" AND auth_user IS NULL AND client_ip = ?3" \
	" AND (?4 IS NULL OR lower(sender) = ?4)))"

struct sqlite3_stmt;

/* qdb_bind_hold - bind QDB_SQL_HOLD_SENDER for the sender key at now;
 * -1 for a malformed ip: key (nothing to hold) */
int qdb_bind_hold(struct sqlite3_stmt *s, const char *key, int64_t now);

#endif
