/*
 * queue_watch.h - compromised-account detection in the queue process.
 */
#ifndef MOAT_QUEUE_WATCH_H
#define MOAT_QUEUE_WATCH_H

#include <stddef.h>

struct conf;
struct event_base;
struct ipc_peer;
struct queue_db;
struct queue_rcpt;
struct queue_watch;

/*
 * queue_watch_new - the windows, read back from the database; base
 * (may be NULL: then rows are written only at free) runs the writes.
 */
struct queue_watch *queue_watch_new(const struct conf *conf,
    struct queue_db *db, struct ipc_peer *smtp, struct event_base *base);
/* queue_watch_free - write what is pending, release everything */
void queue_watch_free(struct queue_watch *w);

/* queue_watch_set_conf - after a reload */
void queue_watch_set_conf(struct queue_watch *w, const struct conf *conf);

/*
 * queue_watch_held - 1 when a message must be stored held: its sender
 * (auth_user; or a relay client at client_ip, as a whole or for this
 * envelope sender, "" for <>) is held or suspended.
 */
int queue_watch_held(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *sender);

/*
 * queue_watch_stored - count a stored message; past the thresholds,
 * alert, hold or suspend its sender.
 */
void queue_watch_stored(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *sender, const char *qid,
    const struct queue_rcpt *rcpts, size_t nrcpt);

/*
 * queue_watch_login - user authenticated from ip in session: a login
 * right after a guessing attack holds the account (queue_guess.c); one
 * that shows the owner's usual pattern again ends such a hold. The
 * number of held recipients made due (the caller kicks delivery).
 */
int64_t queue_watch_login(struct queue_watch *w, const char *user,
    const char *ip, const char *session);

/* queue_watch_lost - user was held or suspended by an admin: the
 * addresses that guessed at it are banned */
void queue_watch_lost(struct queue_watch *w, const char *user);

#endif
