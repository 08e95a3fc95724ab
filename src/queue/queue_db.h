/*
 * queue_db.h - the SQLite queue: messages, recipients, security events.
 *
 * Only the queue process opens this database. Every write that matters
 * is one transaction; a function that returns -1 has rolled back, so no
 * half-written message is ever visible. Errors are logged here, once
 * (cat=queue), with SQLite's message; callers need not log them again.
 */
#ifndef MOAT_QUEUE_DB_H
#define MOAT_QUEUE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "../mail/qid.h"

#define QUEUE_QID_LEN		QID_LEN
#define QUEUE_QID_SIZE		QID_SIZE
#define QUEUE_SCHEMA_VERSION	4	/* PRAGMA user_version; see queue_db.c */

/* recipient.state; the numbers are stored, never renumber them */
enum queue_rcpt_state {
	QUEUE_RCPT_QUEUED = 0,
	QUEUE_RCPT_DEFERRED = 1,
	QUEUE_RCPT_HELD = 2,
	QUEUE_RCPT_DELIVERED = 3,
	QUEUE_RCPT_FAILED = 4,
	QUEUE_RCPT_NSTATES
};

struct queue_db;

/* One recipient to store. Views, owned by the caller. */
struct queue_rcpt {
	const char	*address;	/* "local@domain" */
	const char	*orcpt;		/* NULL or "" when none */
	uint8_t		 notify;	/* PROTO_NOTIFY_* bits */
	const char	*mailbox;	/* local Maildir name; NULL or "" if remote */
};

/* One message to store, as received from smtp. Views, owned by the caller. */
struct queue_msg {
	int64_t		 created;	/* unix time; 0: now */
	const char	*sender;	/* "" for the null path <> */
	const char	*helo;
	const char	*client_ip;
	const char	*auth_user;	/* NULL or "" when none */
	const char	*listener;
	const char	*envid;		/* NULL or "" when none */
	uint8_t		 ret;		/* PROTO_RET_* */
	uint8_t		 flags;		/* PROTO_MSGF_* */
	const struct queue_rcpt *rcpts;
	size_t		 nrcpt;		/* at least 1 */
	const char	*qid;		/* the id smtp chose, or NULL/"": make one */
	const uint8_t	*data;		/* headers and body, CRLF */
	size_t		 len;
	int		 held;		/* store every recipient held (state 2) */
};

struct queue_store_result {
	int	status;			/* PROTO_STORE_* */
	char	qid[QUEUE_QID_SIZE];	/* set when status is PROTO_STORE_OK */
};

/* One security event. Views, owned by the caller. NULL is stored as NULL. */
struct queue_event {
	int64_t		 time;
	const char	*type;
	const char	*client_ip;
	const char	*user;
	const char	*session;
	const char	*detail;
};

/*
 * One local delivery to make, from queue_db_local_fetch. Owned by the
 * array it is in; release with queue_db_local_free. Recipients of the
 * same message share one copy of data (owns_data is set on the first).
 */
enum queue_local_outcome {
	QUEUE_LOCAL_PENDING = 0,	/* not tried: left as it is */
	QUEUE_LOCAL_DELIVERED,		/* in the Maildir: state delivered */
	QUEUE_LOCAL_DEFERRED,		/* try again at next_attempt */
	QUEUE_LOCAL_HELD,		/* a corrupt record: hold for an admin */
	QUEUE_LOCAL_FAILED,		/* failed for good: not recorded here,
					 * the scheduler bounces it (sched_fail) */
};

struct queue_local {
	int64_t		 rcpt_id;
	int64_t		 msg_id;
	int64_t		 created;	/* the message's arrival */
	char		 qid[QUEUE_QID_SIZE];
	char		*sender;
	char		*address;
	char		*orcpt;		/* "" when none */
	uint8_t		 notify;
	char		*mailbox;
	int		 attempts;	/* tries so far */
	const uint8_t	*data;
	size_t		 len;
	int		 owns_data;

	/* set by the caller before queue_db_local_mark */
	enum queue_local_outcome outcome;
	int64_t		 next_attempt;	/* QUEUE_LOCAL_DEFERRED */
	char		 error[256];	/* DEFERRED/HELD: why, stored as last_error */
};

struct queue_counts {
	int64_t	messages;
	int64_t	bodies;
	int64_t	rcpt[QUEUE_RCPT_NSTATES];
	int64_t	events;
};

/*
 * queue_db_open - open or create <spool_dir>/queue.db (WAL, synchronous
 * FULL, foreign keys, busy timeout) and create or check the schema.
 * Returns NULL with a reason in err when that is impossible.
 */
struct queue_db *queue_db_open(const char *spool_dir, char *err, size_t errlen);

/* queue_db_close - finalize statements, close; NULL is accepted */
void queue_db_close(struct queue_db *db);

/*
 * queue_db_set_size_limit - cap the database at about max_bytes (0: no
 * cap beyond SQLite's own). Stores that would grow it past the cap fail
 * with PROTO_STORE_DISKFULL, as if the disk were full. Returns 0 or -1.
 */
int queue_db_set_size_limit(struct queue_db *db, uint64_t max_bytes);

/*
 * queue_db_store_batch - store n messages in ONE transaction (the group
 * commit) and give each a qid. Returns 0 when committed: every res[i]
 * has status PROTO_STORE_OK and its qid. Returns -1 when nothing was
 * stored: every res[i] has status PROTO_STORE_DISKFULL (SQLITE_FULL,
 * ENOSPC, EDQUOT) or PROTO_STORE_TEMPFAIL (anything else).
 */
int queue_db_store_batch(struct queue_db *db, const struct queue_msg *msgs,
    size_t n, struct queue_store_result *res);

/* queue_db_event_add - insert n events in one transaction; 0 or -1 */
int queue_db_event_add(struct queue_db *db, const struct queue_event *ev,
    size_t n);

/*
 * queue_db_local_fetch - up to max local recipients that are due: state
 * queued, or deferred with next_attempt <= now; oldest first. On return
 * *n is the number filled in out[]; outcome is QUEUE_LOCAL_PENDING, or
 * already QUEUE_LOCAL_HELD (with error, data NULL) for a corrupt record
 * that must not be tried. Returns 0 or -1.
 */
int queue_db_local_fetch(struct queue_db *db, int64_t now,
    struct queue_local *out, size_t max, size_t *n);

/* queue_db_local_free - release what queue_db_local_fetch put in v[0..n) */
void queue_db_local_free(struct queue_local *v, size_t n);

/*
 * queue_db_local_mark - record each v[i].outcome in one transaction:
 * DELIVERED sets state 3, DEFERRED state 1 with next_attempt and
 * last_error, HELD state 2 (PENDING and FAILED are left as they are);
 * attempts counts every try. A message with no
 * recipient left other than delivered (3) or failed (4) is deleted with
 * its body and recipients. Returns 0, or -1 and nothing changed.
 */
int queue_db_local_mark(struct queue_db *db, const struct queue_local *v,
    size_t n, int64_t now);

/*
 * queue_db_local_next - earliest next_attempt of a deferred local
 * recipient into *when. Returns 1 when there is one, 0 when none, -1.
 */
int queue_db_local_next(struct queue_db *db, int64_t *when);

/*
 * Lifetime counters since the process started, for `moat stats`:
 * bumped after each commit, so they count only what is on disk.
 * Recipients for delivery outcomes; bounces stored are not "in".
 */
#define QUEUE_LATENCY_BUCKETS	11	/* upper bounds in queue_latency_le */
#define QUEUE_EVENT_TYPES_MAX	64	/* types counted; more go uncounted */
extern const int queue_latency_le[QUEUE_LATENCY_BUCKETS];

struct queue_stats {
	int64_t	stored;			/* messages accepted from smtp */
	int64_t	delivered;		/* recipients, local and remote */
	int64_t	deferred;
	int64_t	bounced;		/* failed for good, sender notified */
	int64_t	dead;			/* failed, null sender: dead letter */
	int64_t	held;			/* local delivery impossible: held */
	/* from arrival to delivery, per recipient delivered: a histogram
	 * (per bucket, not cumulative) whose arrival time has whole seconds */
	int64_t	latency[QUEUE_LATENCY_BUCKETS + 1];	/* the last: +Inf */
	int64_t	latency_sum_ms;
	/* security events stored, by type */
	struct {
		char	type[32];
		int64_t	n;
	} events[QUEUE_EVENT_TYPES_MAX];
	size_t	nevents;
};

/* queue_db_stats - the counters of db (never NULL) */
const struct queue_stats *queue_db_stats(const struct queue_db *db);

/* queue_db_count_messages - the messages in the queue; 0, or -1 (*n -1) */
int queue_db_count_messages(struct queue_db *db, int64_t *n);
/* queue_db_counts - rows per table and recipients per state; 0 or -1 */
int queue_db_counts(struct queue_db *db, struct queue_counts *c);

/*
 * Outbound delivery (the scheduler, sched.c).
 */

/* One remote recipient that is due, with its message's envelope. Owned
 * by the array it is in; release with queue_db_remote_free. */
struct queue_remote {
	int64_t		 rcpt_id;
	int64_t		 msg_id;
	int64_t		 created;
	char		 qid[QUEUE_QID_SIZE];
	char		*sender;	/* "" for <> */
	char		*envid;		/* "" when none */
	uint8_t		 ret;
	uint8_t		 flags;
	char		*address;
	char		*domain;	/* lowercased */
	char		*orcpt;		/* "" when none */
	uint8_t		 notify;
	int		 attempts;	/* tries so far */
	int		 delay_noticed;	/* a delay DSN went out for it */
	int64_t		 next_attempt;	/* due since; with rcpt_id, a cursor */
};

/*
 * One recipient still to do (queued, deferred or held), as an admin's
 * bounce selects it (queue_db_ctl_pending) and the scheduler fails it
 * (sched.h). Views.
 */
struct queue_pending_rcpt {
	int64_t		 rcpt_id;
	int64_t		 msg_id;
	const char	*qid;
	const char	*sender;	/* "" for <> */
	const char	*address;
	const char	*orcpt;		/* "" when none */
	uint8_t		 notify;
};

enum queue_remote_outcome {
	QUEUE_REMOTE_DELIVERED = 1,	/* the peer said 2xx: state 3 */
	QUEUE_REMOTE_DEFERRED,		/* state 1 until next_attempt */
	QUEUE_REMOTE_FAILED,		/* state 4 (a bounce goes with it) */
	QUEUE_REMOTE_DEAD,		/* state 4, message copied to deadletter */
};

/* One outcome to record. Views, owned by the caller. */
struct queue_remote_mark {
	int64_t		 rcpt_id;
	int64_t		 msg_id;
	const char	*address;	/* DEAD: the recipient */
	enum queue_remote_outcome outcome;
	int64_t		 next_attempt;	/* DEFERRED */
	const char	*error;		/* last_error; DEAD: the reason */
	int64_t		 created;	/* DELIVERED: the message's arrival */
	const char	*relay;		/* DELIVERED: host[addr]:port, or NULL */
	const char	*reply;		/* DELIVERED: its reply, or NULL */
	int		 delay_notice;	/* DEFERRED: a delay DSN goes with it,
					 * remember it (table delay_notice) */
};

/* A message read back for a bounce; owned, queue_db_msg_copy_free. */
struct queue_msg_copy {
	char		 qid[QUEUE_QID_SIZE];
	int64_t		 created;
	char		*sender;
	char		*envid;
	uint8_t		 ret;
	char		*client_ip;
	char		*helo;
	uint8_t		*data;
	size_t		 len;
	uint8_t		 flags;		/* PROTO_MSGF_* */
};

/*
 * queue_db_remote_fetch - up to max recipients without a mailbox that
 * are due (queued, or deferred with next_attempt <= now), in
 * (next_attempt, id) order, after the cursor (after_time, after_id):
 * (-1, 0) starts from the first. Held recipients (2) never come back.
 * Returns 0 with *n filled in, or -1.
 */
int queue_db_remote_fetch(struct queue_db *db, int64_t now,
    int64_t after_time, int64_t after_id, struct queue_remote *out,
    size_t max, size_t *n);

/* queue_db_remote_free - release v[0..n) */
void queue_db_remote_free(struct queue_remote *v, size_t n);

/*
 * queue_db_remote_next - earliest next_attempt of a remote recipient
 * still to do into *when: 1, 0 when none, -1.
 */
int queue_db_remote_next(struct queue_db *db, int64_t *when);

/* queue_db_msg_get - message msg_id into out: 1, 0 when gone, -1 */
int queue_db_msg_get(struct queue_db *db, int64_t msg_id,
    struct queue_msg_copy *out);
void queue_db_msg_copy_free(struct queue_msg_copy *m);

/*
 * queue_db_remote_mark - in ONE transaction: copy the message of every
 * DEAD outcome into the deadletter table, record each outcome (attempts
 * counts every one), a sent_log row for each DELIVERED one, store the nb bounce messages (their qids into
 * bres[i]) and delete the messages with nothing left to do. Returns 0,
 * or -1 and nothing changed (bres[i].status TEMPFAIL).
 */
int queue_db_remote_mark(struct queue_db *db, const struct queue_remote_mark *v,
    size_t n, const struct queue_msg *bounces, size_t nb,
    struct queue_store_result *bres, int64_t now);

/* queue_db_dead_expire - delete dead letters older than before; 0 or -1 */
int queue_db_dead_expire(struct queue_db *db, int64_t before,
    int64_t *deleted);

/*
 * queue_db_paused_load - read which destinations an admin paused
 * (paused_dest): *all when every remote delivery is; when some domains
 * are, queue_db_remote_fetch and queue_db_remote_next leave their
 * recipients out from now on. 0 or -1.
 */
int queue_db_paused_load(struct queue_db *db, int *all);

/*
 * queue_db_dead_reinject - dead letter dead_id back into the queue, in
 * one transaction: a new message from <> that arrived now (listener
 * "deadletter", HELO helo) to its one recipient, and the dead letter
 * deleted. route(arg, address, stored mailbox or "", out, outlen) puts
 * where the recipient goes now into out: a Maildir, "" when relayed.
 * 1 with the new qid, 0 when there is no such dead letter, -1 (logged,
 * nothing changed).
 */
int queue_db_dead_reinject(struct queue_db *db, int64_t dead_id,
    const char *helo, void (*route)(void *, const char *address,
    const char *mailbox, char *out, size_t outlen), void *arg,
    char qid[QUEUE_QID_SIZE]);

/* queue_db_sender_state - a sender's state ("active" when no row) */
int queue_db_sender_state(struct queue_db *db, const char *key, char *buf,
    size_t len);

/*
 * queue_db_sender_set - set a sender's state ("active", "held",
 * "suspended"); unless active, hold all its queued recipients.
 * key is a user name or "ip:ADDRESS".
 */
int queue_db_sender_set(struct queue_db *db, const char *key, const char *state,
    const char *reason, int64_t now, int64_t *held);

/* queue_db_events_expire - drop events older than before, then beyond max_rows */
int queue_db_events_expire(struct queue_db *db, int64_t before,
    int64_t max_rows, int64_t *deleted);

/* one message of a watched sender (queue_watch.c), as stored */
struct queue_watch_row {
	const char	*sender;	/* a user, or "ip:ADDRESS" */
	int64_t		 time;
	int		 rcpts, ext_rcpts;
	const char	*ext_domains;	/* distinct outside domains, by spaces */
	const char	*mail_from;	/* a relay client's envelope sender,
					 * lowercased, "" for <>; else NULL */
};

/* queue_db_watch_add - store n rows in one transaction; 0 or -1 */
int queue_db_watch_add(struct queue_db *db, const struct queue_watch_row *v,
    size_t n);

/* queue_db_watch_load - each row newer than since, oldest first; 0 or -1 */
int queue_db_watch_load(struct queue_db *db, int64_t since,
    void (*fn)(void *arg, const struct queue_watch_row *row), void *arg);

/* queue_db_watch_expire - delete rows at or before before; 0 or -1 */
int queue_db_watch_expire(struct queue_db *db, int64_t before);

/* one minute of the time series (series_minute) */
struct queue_series_row {
	int64_t	minute;			/* unix seconds at its start */
	int64_t	msgs_in, msgs_out, auth_failures, rejections;
	int64_t	queue_size;
};

/*
 * queue_db_series_add - add r's counts to its minute's row (made when
 * missing) and set its queue_size; 0 or -1
 */
int queue_db_series_add(struct queue_db *db, const struct queue_series_row *r);

/*
 * queue_db_series_read - the newest limit minutes at or after since,
 * oldest first, each to fn; 0 or -1
 */
int queue_db_series_read(struct queue_db *db, int64_t since, uint32_t limit,
    void (*fn)(void *arg, const struct queue_series_row *row), void *arg);

/*
 * queue_db_series_expire - delete series_minute and sent_log rows older
 * than before (both kept QUEUE_SERIES_KEEP); 0 or -1
 */
#define QUEUE_SERIES_KEEP	(7 * 86400)
int queue_db_series_expire(struct queue_db *db, int64_t before,
    int64_t *deleted);

/* one row of the recipient verification cache */
struct queue_verify_row {
	const char	*address;	/* as written in the probe's RCPT TO */
	int		 result;	/* PROTO_VERIFY_FOUND or _NOTFOUND */
	const char	*reply;		/* the internal server's RCPT reply */
	int64_t		 updated, expires;	/* unix seconds */
};

/* queue_db_verify_put - store or replace one row; 0 or -1 */
int queue_db_verify_put(struct queue_db *db, const struct queue_verify_row *v);

/* queue_db_verify_load - each row expiring after now to fn; 0 or -1 */
int queue_db_verify_load(struct queue_db *db, int64_t now,
    void (*fn)(void *arg, const struct queue_verify_row *row), void *arg);

/* queue_db_verify_expire - delete rows expired at now; 0 or -1 */
int queue_db_verify_expire(struct queue_db *db, int64_t now,
    int64_t *deleted);

/*
 * A guessing attack on an account (queue_guess.c), from the events
 * table: since a time, its auth_fail events, the distinct addresses
 * they came from, whether one came from ip, whether an account_attack
 * alert was raised.
 */
struct queue_guess {
	int	failures;
	int	addresses;
	int	from_ip;
	int	attack;
};
int queue_db_guess_get(struct queue_db *db, const char *user, const char *ip,
    int64_t since, struct queue_guess *out);
/* queue_db_guess_clients - cb(arg, ip) for each distinct address that
 * failed AUTH for user since since; 0 or -1 */
int queue_db_guess_clients(struct queue_db *db, const char *user,
    int64_t since, void (*cb)(void *, const char *ip), void *arg);

/*
 * The end of a quarantine after guessing (queue_guess.c). An account is
 * quarantined while it is held by the login_after_guessing decision
 * (its user_state row is "held" since that event's time): *since gets
 * that time. 1 quarantined, 0 not, -1 error.
 */
int queue_db_guess_quarantined(struct queue_db *db, const char *user,
    int64_t *since);

/* the owner's usual pattern, as queue_db_guess_usual judges it */
struct queue_guess_usual {
	const char	*user;
	const char	*net;		/* the login's network (login_nets) */
	const char	*ip;		/* the login's address */
	int64_t		 attack_from;	/* failures from here on: the attack */
	int64_t		 held_since;	/* the quarantine began */
	int64_t		 quiet_since;	/* no failure for the account since */
};
/*
 * queue_db_guess_usual - 1 when net was a network of the account before
 * the attack (first seen before its first AUTH failure since
 * attack_from, or before held_since without one), ip did not fail for
 * it since attack_from, and no AUTH failure for it came since
 * quiet_since; 0 when not, -1 error
 */
int queue_db_guess_usual(struct queue_db *db, const struct queue_guess_usual *u);
/* queue_db_guess_held_clients - cb(arg, ip) for each distinct client
 * address of user's held mail; 0 or -1 */
int queue_db_guess_held_clients(struct queue_db *db, const char *user,
    void (*cb)(void *, const char *ip), void *arg);
/* queue_db_guess_held_count - user's held recipients into *n; 0 or -1 */
int queue_db_guess_held_count(struct queue_db *db, const char *user,
    int64_t *n);
/* queue_db_guess_release - user's held recipients of mail from ip are
 * due now; *n gets how many; 0 or -1 */
int queue_db_guess_release(struct queue_db *db, const char *user,
    const char *ip, int64_t now, int64_t *n);

/* login_nets: the networks an account logged in from, the most recent
 * QUEUE_LOGIN_NETS_MAX of each */
#define QUEUE_LOGIN_NETS_MAX	32
/* queue_db_login_net_seen - 1 seen, 0 not, -1 error */
int queue_db_login_net_seen(struct queue_db *db, const char *user,
    const char *net);
/* queue_db_login_known - 1 when user ever logged in (a login_nets row),
 * 0 not, -1 error */
int queue_db_login_known(struct queue_db *db, const char *user);
/* queue_db_login_net_add - record a login of user from net; 0 or -1 */
int queue_db_login_net_add(struct queue_db *db, const char *user,
    const char *net, int64_t now);

/*
 * queue_db_ban_add - store a ban of cidr (canonical) until expires (0:
 * never), unless one of the same network lasts longer; 0 or -1
 */
int queue_db_ban_add(struct queue_db *db, const char *cidr,
    const char *reason, const char *origin, int64_t now, int64_t expires);

#endif
