/*
 * queue_ctl.h - the queue process's side of the control socket: named
 * operations on queue.db (summary, list, show, delete/hold/release/
 * retry/bounce/requeue, pause/resume, dead letters, events, stats,
 * bans, account states, incidents; their SQL is in
 * queue_db_ctl.c), and the ban and account-state lists it keeps the
 * smtp process informed of.
 */
#ifndef MOAT_QUEUE_CTL_H
#define MOAT_QUEUE_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue_db.h"

struct conf;
struct event_base;
struct ipc_peer;
struct ipc_reader;
struct queue_ctl;

/*
 * queue_ctl_new - open the admin's connection to <spool_dir>/queue.db
 * (queue_db_ctl_open; the schema queue_db_open has made), wrap
 * control_fd (-1: no control process) and tell smtp the current bans
 * and account states.
 * kick(arg) is called after recipients became due (release, retry).
 * Returns NULL with a reason in err.
 */
struct queue_ctl *queue_ctl_new(struct event_base *base,
    const struct conf *conf, int control_fd, struct ipc_peer *smtp,
    void (*kick)(void *), void *kick_arg, char *err, size_t errlen);

/* queue_ctl_free - close the connection and the control peer; NULL ok */
void queue_ctl_free(struct queue_ctl *qc);

/*
 * queue_ctl_ban_add - PROTO_BAN_ADD from smtp: store the ban (smtp has
 * applied it already). A malformed message is fatal (it comes from a
 * sibling).
 */
void queue_ctl_ban_add(struct queue_ctl *qc, struct ipc_reader *r);

/*
 * queue_ctl_set_stats - the lifetime counters `moat stats` reports
 * (queue_db_stats of the process's own connection); not owned.
 */
struct queue_stats;
void queue_ctl_set_stats(struct queue_ctl *qc, const struct queue_stats *st);

/* queue_ctl_set_series - the time series CTL_OP_SERIES reads; not owned */
struct queue_series;
void queue_ctl_set_series(struct queue_ctl *qc, struct queue_series *s);

/* queue_ctl_set_logins - the per-login counters `moat stats` reports */
struct queue_logins;
void queue_ctl_set_logins(struct queue_ctl *qc, struct queue_logins *l);

/*
 * queue_ctl_stored - an authenticated user's message was stored: the
 * "messages in the last hour" of `moat user list` (auth_user "" : none).
 */
void queue_ctl_stored(struct queue_ctl *qc, const char *auth_user,
    size_t nrcpt);

/*
 * queue_ctl_login - user logged in with the right password from ip
 * (PROTO_AUTH_LOGIN): remembered for `moat incident` (queue_incident.h)
 */
void queue_ctl_login(struct queue_ctl *qc, const char *user, const char *ip);

/*
 * queue_ctl_set_lookup - the channel to the lookup process, told of
 * `moat verify flush` (NULL: none)
 */
void queue_ctl_set_lookup(struct queue_ctl *qc, struct ipc_peer *lookup);

/*
 * What the queue operations need of the rest of the queue process:
 * conf(arg): the configuration in force (requeue's routes); inflight
 * (arg, rcpt_id): 1 when the mta is sending that recipient now (its
 * route is left alone); paused(arg): paused_dest changed; reinject(arg,
 * dead_id, qid): put one dead letter back (queue_db_dead_reinject: 1,
 * 0 gone, -1); lost(arg, user): an admin held or suspended an account
 * (the addresses that guessed at it are banned); settle(arg): record
 * the delivery outcomes waiting for the group commit (0, -1); fail(arg,
 * r, n, reason): r's n recipients failed for good with reason, recorded
 * with their bounces (or dead letters) in one transaction as a failed
 * delivery is (sched_fail_many: 0, -1 nothing recorded). A member left
 * NULL makes its operation answer "failed" (lost: nothing more is done).
 */
struct queue_ctl_delivery {
	const struct conf *(*conf)(void *);
	int	(*inflight)(void *, int64_t);
	void	(*paused)(void *);
	int	(*reinject)(void *, int64_t, char qid[QUEUE_QID_SIZE]);
	void	*arg;
	void	(*lost)(void *, const char *);
	int	(*settle)(void *);
	int	(*fail)(void *, const struct queue_pending_rcpt *, size_t,
		    const char *);
};

/* queue_ctl_set_delivery - the hooks above (copied); with fail, the
 * recipients an earlier version bounced without a DSN are bounced now */
void queue_ctl_set_delivery(struct queue_ctl *qc,
    const struct queue_ctl_delivery *d);

/* queue_ctl_set_dnsbl - `moat blacklist` and the dnsbl_* stats come
 * from qd (queue_dnsbl.c; not owned) */
struct queue_dnsbl;
void queue_ctl_set_dnsbl(struct queue_ctl *qc, struct queue_dnsbl *qd);

/* queue_ctl_smtp_closed - smtp went away: send it nothing more */
void queue_ctl_smtp_closed(struct queue_ctl *qc);

#endif
