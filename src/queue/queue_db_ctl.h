/*
 * queue_db_ctl.h - the administrator's queries on queue.db: the queue
 * operations of `moat queue`, events, bans, account states, stats.
 *
 * Part of queue_db (the owner of the schema), on a connection of its
 * own: queue_ctl.c builds the answers and calls these, and has no SQL.
 * Every function that returns -1 has logged the failure (cat=control)
 * and rolled back what it began; queue_db_ctl_errmsg says why.
 */
#ifndef MOAT_QUEUE_DB_CTL_H
#define MOAT_QUEUE_DB_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue_db.h"

struct ctl_filter;
struct queue_db_ctl;

/*
 * queue_db_ctl_open - a connection of its own to <spool_dir>/queue.db,
 * whose schema queue_db_open has made: an admin's long read or purge
 * has its own statements, its temporary table and its foreign-key
 * switch, never those of the group commit's connection. NULL with a
 * reason in err.
 */
struct queue_db_ctl *queue_db_ctl_open(const char *spool_dir, char *err,
    size_t errlen);

/* queue_db_ctl_close - finalize and close; NULL is accepted */
void queue_db_ctl_close(struct queue_db_ctl *dc);

/* queue_db_ctl_errmsg - SQLite's text of the last failure */
const char *queue_db_ctl_errmsg(struct queue_db_ctl *dc);

/* One message that left for the outside (sent_log). Views. */
struct queue_sent_row {
	const char	*qid;
	const char	*sender;
	const char	*rcpts;		/* ", " between */
	int64_t		 time;		/* its last delivery */
	int64_t		 nrcpt;
};

/*
 * queue_db_ctl_sent - the messages delivered to remote hosts at or
 * after since, of user (an AUTH user) or of a client in client_cidr
 * (NULL: either), oldest first, at most limit, to fn. 0, 1 when
 * queue.db keeps no sent_log (nothing is known of what left), -1.
 */
int queue_db_ctl_sent(struct queue_db_ctl *dc, int64_t since,
    const char *user, const char *client_cidr, int64_t limit,
    void (*fn)(void *, const struct queue_sent_row *), void *arg);

/* queue_db_ctl_has_dead - 1 when the deadletter table can be used */
int queue_db_ctl_has_dead(const struct queue_db_ctl *dc);

/* One destination of `moat queue summary`; owned by the array. */
struct queue_dest {
	char	*domain;
	int64_t	 n;			/* recipients not delivered */
	int64_t	 by_state[QUEUE_RCPT_NSTATES];
	int64_t	 oldest;		/* arrival of its oldest message */
	int64_t	 attempts;		/* of its newest deferred or failed
					 * recipient */
	char	*last_error;		/* the same's, "" when none */
};

/*
 * queue_db_ctl_summary - the destinations, most recipients first (then
 * by name), into *out (free with queue_db_ctl_summary_free), and the
 * number of messages. 0 or -1.
 */
int queue_db_ctl_summary(struct queue_db_ctl *dc, struct queue_dest **out,
    size_t *n, int64_t *msgs);
void queue_db_ctl_summary_free(struct queue_dest *d, size_t n);

/* One message of `moat queue list`. Views, valid during the call. */
struct queue_list_row {
	const char	*qid;
	int64_t		 created, size;
	const char	*sender, *user, *client;
	const char	*rcpts;		/* the addresses, ", " between */
	int64_t		 states;	/* 1 << state of each recipient */
	int64_t		 attempts;	/* the most of any recipient */
	const char	*last_error;	/* the latest, "" when none */
};

/* One dead letter of `moat queue list --dead`. Views, as above. */
struct queue_dead_row {
	int64_t		 id;
	const char	*qid;
	int64_t		 time, created;
	const char	*sender, *recipient, *reason;
	int64_t		 size;
};

/*
 * queue_db_ctl_list - the messages f selects, by id, at most limit, to
 * fn. queue_db_ctl_dead_list: the same over the dead letters (no user,
 * client or state filter there). 0 or -1.
 */
int queue_db_ctl_list(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, int64_t limit,
    void (*fn)(void *, const struct queue_list_row *), void *arg);
int queue_db_ctl_dead_list(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, int64_t limit,
    void (*fn)(void *, const struct queue_dead_row *), void *arg);

/* One message of `moat queue show`. Views, valid during the call. */
struct queue_show_msg {
	const char	*qid;
	int64_t		 created;
	const char	*sender, *helo, *client, *user, *listener, *envid;
	int64_t		 size, nrcpt;
};

struct queue_show_rcpt {
	const char	*address;
	int		 state;
	int64_t		 attempts, next_attempt, updated;
	const char	*last_error, *mailbox;
};

/* What queue_db_ctl_show calls, in this order. */
struct queue_show_cb {
	void	(*msg)(void *, const struct queue_show_msg *);
	void	(*rcpt)(void *, const struct queue_show_rcpt *);
	void	(*body)(void *, const void *data, size_t len); /* if any */
	void	*arg;
};

/*
 * queue_db_ctl_show - message qid: its envelope, each recipient, its
 * bytes (data may be NULL when empty). 1, 0 when there is no such
 * message, -1.
 */
int queue_db_ctl_show(struct queue_db_ctl *dc, const char *qid,
    const struct queue_show_cb *cb);

/*
 * queue_db_ctl_act - in one transaction, the messages f selects:
 * action (CTL_ACT_* but bounce: the scheduler's, see
 * queue_db_ctl_pending) on their recipients, or only counted when
 * dry_run. *msgs gets the messages selected, *rcpts the recipients the
 * action changes (a dry run makes the change and rolls it back). 0, or -1 with *op the step that failed
 * and nothing changed.
 */
int queue_db_ctl_act(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int action, int dry_run, int64_t now, int64_t *msgs, int64_t *rcpts,
    const char **op);

/*
 * queue_db_ctl_pending - the recipients still to do of the messages f
 * selects, a message's together (by message, then recipient), to fn:
 * what `moat queue bounce` hands to the scheduler. 0 or -1.
 */
int queue_db_ctl_pending(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int64_t now, void (*fn)(void *, const struct queue_pending_rcpt *),
    void *arg);

/*
 * queue_db_ctl_stranded - the recipients that `moat queue bounce` of a
 * version before this one marked failed without sending a DSN, whose
 * messages stayed in the queue: the same rows, to fn, to be bounced
 * now. 0 or -1.
 */
int queue_db_ctl_stranded(struct queue_db_ctl *dc,
    void (*fn)(void *, const struct queue_pending_rcpt *), void *arg);

/* What `moat queue requeue` found (or, in a dry run, would change). */
struct queue_requeue_count {
	int64_t	msgs;			/* messages selected */
	int64_t	rcpts;			/* recipients made due now */
	int64_t	moved;			/* recipients whose route changed */
	int64_t	unknown;		/* a local domain, no mailbox known */
};

/*
 * queue_db_ctl_requeue - in one transaction, the messages f selects:
 * each recipient not yet delivered or failed is routed again
 * (route(arg, id, address, mailbox or "", out, outlen): 1 with the new
 * mailbox in out, "" for relayed; 0 unchanged; -1 unchanged and
 * counted as unknown), and the queued and deferred ones are due now
 * (held ones stay held). A dry run counts exactly that and changes
 * nothing. 0, or -1 with *op the step that failed and nothing changed.
 */
int queue_db_ctl_requeue(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int dry_run, int64_t now, int (*route)(void *, int64_t, const char *,
    const char *, char *, size_t), void *arg,
    struct queue_requeue_count *c, const char **op);

/* One paused destination. Views. */
struct queue_paused_row {
	const char	*domain;	/* "*": all */
	int64_t		 since;
	const char	*reason;	/* "" when none */
	int64_t		 waiting;	/* its remote recipients still to do */
};

/*
 * queue_db_ctl_pause - pause delivery to domain ("*": every remote
 * destination), kept in paused_dest until resumed; pausing it again
 * keeps its time and takes the new reason. 0 or -1.
 * queue_db_ctl_resume - 1, 0 when it was not paused, -1.
 * queue_db_ctl_paused - the paused destinations, by name; 0 or -1.
 */
int queue_db_ctl_pause(struct queue_db_ctl *dc, const char *domain,
    const char *reason, int64_t now);
int queue_db_ctl_resume(struct queue_db_ctl *dc, const char *domain);
int queue_db_ctl_paused(struct queue_db_ctl *dc,
    void (*fn)(void *, const struct queue_paused_row *), void *arg);

/*
 * queue_db_ctl_delete_all - every message, body and recipient, by
 * truncation, in one transaction; the counts before. 0, or -1 with *op
 * and nothing changed.
 */
int queue_db_ctl_delete_all(struct queue_db_ctl *dc, int64_t *msgs,
    int64_t *rcpts, const char **op);

/*
 * queue_db_ctl_dead_act - the dead letters f selects: deleted, or only
 * counted when dry_run; *n gets how many. 0 or -1.
 */
int queue_db_ctl_dead_act(struct queue_db_ctl *dc, const struct ctl_filter *f,
    int dry_run, int64_t now, int64_t *n);

/* Which events `moat events` wants; NULL or "": no condition. */
struct queue_events_query {
	int64_t		 after;		/* ids above */
	int64_t		 since;		/* at or after this time; 0: all */
	const char	*type, *client_cidr, *user;
	int64_t		 limit;		/* the newest limit, oldest first */
};

/* queue_db_ctl_events - the events q selects to fn (id, event); 0 or -1 */
int queue_db_ctl_events(struct queue_db_ctl *dc,
    const struct queue_events_query *q,
    void (*fn)(void *, int64_t, const struct queue_event *), void *arg);

/* queue_db_ctl_event_add - one event (NULL or "": NULL); 0 or -1 */
int queue_db_ctl_event_add(struct queue_db_ctl *dc,
    const struct queue_event *ev);

/* One ban. Views. */
struct queue_ban {
	const char	*cidr;		/* canonical (cidr_format) */
	const char	*reason;
	const char	*origin;
	int64_t		 created;
	int64_t		 expires;	/* 0: never */
};

/*
 * queue_db_ctl_ban_store - add or replace a ban (created now; reason ""
 * is stored NULL); 0 or -1
 */
int queue_db_ctl_ban_store(struct queue_db_ctl *dc, const struct queue_ban *b);

/* queue_db_ctl_ban_del - lift a ban: 1, 0 when there was none, -1 */
int queue_db_ctl_ban_del(struct queue_db_ctl *dc, const char *cidr);

/* queue_db_ctl_ban_list - bans in force at now, oldest first; 0 or -1 */
int queue_db_ctl_ban_list(struct queue_db_ctl *dc, int64_t now,
    void (*fn)(void *, const struct queue_ban *), void *arg);

/* queue_db_ctl_ban_expire - drop the bans expired at now; *n; 0 or -1 */
int queue_db_ctl_ban_expire(struct queue_db_ctl *dc, int64_t now, int64_t *n);

/* One account of `moat user list`. Views. */
struct queue_user_row {
	const char	*user;
	const char	*state;		/* "active" when no row */
	const char	*reason;
	int64_t		 updated;
	int64_t		 queued;	/* its messages in the queue */
	int64_t		 events;	/* its events since */
	int64_t		 auth_events;	/* of which auth* */
};

/*
 * queue_db_ctl_users - every account with a state, queued mail or an
 * event since since, by name; 0 or -1
 */
int queue_db_ctl_users(struct queue_db_ctl *dc, int64_t since,
    void (*fn)(void *, const struct queue_user_row *), void *arg);

/* queue_db_ctl_user_states - each (user, state) row, by name; 0 or -1 */
int queue_db_ctl_user_states(struct queue_db_ctl *dc,
    void (*fn)(void *, const char *, const char *), void *arg);

/*
 * queue_db_ctl_user_set - in one transaction, set user's state (reason
 * "" is stored NULL) and, when hold, hold every queued recipient of its
 * mail (*held: how many). 0, or -1 with *op and nothing changed.
 */
int queue_db_ctl_user_set(struct queue_db_ctl *dc, const char *user,
    const char *state, const char *reason, int hold, int64_t now,
    int64_t *held, const char **op);

/*
 * queue_db_ctl_count - how many messages the filter selects (dead
 * letters with CTL_FILTER_DEAD); -1 on error
 */
int64_t queue_db_ctl_count(struct queue_db_ctl *dc,
    const struct ctl_filter *f, int64_t now);

/* queue_db_ctl_events_count - how many events q selects, its limit aside */
int64_t queue_db_ctl_events_count(struct queue_db_ctl *dc,
    const struct queue_events_query *q);

/* queue_db_ctl_user_get - user's state into buf; 0, 1 no row, -1 error */
int queue_db_ctl_user_get(struct queue_db_ctl *dc, const char *user,
    char *buf, size_t len);

/* queue_db_ctl_user_forget - remove user's state row: 1, 0 none, -1 error */
int queue_db_ctl_user_forget(struct queue_db_ctl *dc, const char *user);

/*
 * queue_db_ctl_user_held - held recipients of the mail of user (an
 * authenticated user) or of ip (a relay client's address, no AUTH);
 * NULL for the one not asked; -1 on error
 */
int64_t queue_db_ctl_user_held(struct queue_db_ctl *dc, const char *user,
    const char *ip);

/* The tables' numbers for `moat stats`. */
struct queue_db_ctl_counts {
	int64_t	messages, bytes;
	int64_t	oldest;			/* arrival of the oldest message, 0: none */
	int64_t	rcpt[QUEUE_RCPT_NSTATES];
	int64_t	bans;			/* in force */
	int64_t	users_held, users_suspended;
	int64_t	dead;			/* -1: no deadletter table */
};

/* queue_db_ctl_counts - into c (what cannot be read stays 0) */
void queue_db_ctl_counts(struct queue_db_ctl *dc, int64_t now,
    struct queue_db_ctl_counts *c);


/*
 * queue_db_ctl_verify_list - the verification answers in force at now,
 * newest first, at most limit, only address's unless it is ""; 0 or -1
 */
int queue_db_ctl_verify_list(struct queue_db_ctl *dc, int64_t now,
    const char *address, uint32_t limit,
    void (*fn)(void *arg, const struct queue_verify_row *row), void *arg);

/* queue_db_ctl_verify_flush - delete address's answer (all: ""); 0 or -1 */
int queue_db_ctl_verify_flush(struct queue_db_ctl *dc, const char *address,
    int64_t *n);

#endif
