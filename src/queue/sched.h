/*
 * sched.h - the delivery scheduler of the queue process: picks due
 * remote recipients, hands them to the mta process, records outcomes,
 * retries with backoff, bounces, dead letters.
 */
#ifndef MOAT_SCHED_H
#define MOAT_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue_db.h"

struct conf;
struct event_base;
struct sched;

/*
 * sched_new - a scheduler on base over db, talking to the mta process
 * over mta_fd (owned from here on). local_kick(arg) is called when a
 * bounce for a local mailbox was stored. Starts with a round at once
 * (whatever a crash or a restart left pending is picked up).
 */
struct sched *sched_new(struct conf *conf, struct event_base *base,
    struct queue_db *db, int mta_fd, void (*local_kick)(void *), void *arg);

/* sched_free - release everything; jobs in flight are forgotten (the
 * database still has them as they were: they are retried after a
 * restart). NULL is accepted. */
void sched_free(struct sched *s);

/* sched_kick - recipients may be due anywhere in the queue (released,
 * retried, bounces): a new pass from the first due recipient soon */
void sched_kick(struct sched *s);

/* sched_stored - new recipients were committed: the pass goes on */
void sched_stored(struct sched *s);

/*
 * sched_paused_changed - the paused destinations (paused_dest) changed,
 * or are read for the first time: apply them, and start a new pass
 */
void sched_paused_changed(struct sched *s);

/* sched_inflight - 1 when recipient rcpt_id is being sent by the mta */
int sched_inflight(struct sched *s, int64_t rcpt_id);

/*
 * sched_set_dnsbl - the mta's PROTO_DNSBL_RESULTs go to cb(arg, id,
 * reader) (queue_dnsbl.c); without it they are fatal
 */
struct ipc_reader;
struct ipc_msg;
void sched_set_dnsbl(struct sched *s, void (*cb)(void *, uint64_t,
    struct ipc_reader *), void *arg);
/* sched_mta_send - m to the mta process; -1 (m discarded) when gone */
int sched_mta_send(struct sched *s, struct ipc_msg *m);

/* sched_set_conf - use conf from now on (retries, lifetime, notices) */
void sched_set_conf(struct sched *s, struct conf *conf);

/* sched_stop - no new jobs; outcomes still arriving are recorded */
void sched_stop(struct sched *s);

/* A recipient that failed for good outside the mta. Views, the caller's. */
struct sched_failure {
	struct queue_pending_rcpt r;
	const char	*reason;	/* "550 5.x.x text": the DSN's status */
};

/*
 * sched_fail - record f's recipient failed (state 4) with a bounce to
 * the sender (unless its NOTIFY says no), or a dead letter when the
 * sender is <>, in one transaction with the outcomes waiting, now.
 * Returns 0, or -1 when nothing was recorded (s NULL, or a database
 * error: the recipient is as it was).
 */
int sched_fail(struct sched *s, const struct sched_failure *f);

/*
 * sched_fail_many - the same for n recipients r, all for reason, in one
 * transaction: the failures of one message make one DSN. 0, or -1 with
 * nothing recorded.
 */
int sched_fail_many(struct sched *s, const struct queue_pending_rcpt *r,
    size_t n, const char *reason);

/*
 * sched_settle - record the outcomes waiting for the group commit now,
 * so that a reader of queue.db sees every recipient the mta is done
 * with in its final state. 0, or -1 (they wait for the next commit).
 */
int sched_settle(struct sched *s);

/*
 * sched_backoff - seconds before the next attempt after a temporary
 * failure, for a recipient tried attempts times before this one:
 * min, 2 min, 4 min ... capped at max.
 */
int64_t sched_backoff(int attempts, int64_t min, int64_t max);

#endif
