/*
 * queue_logins.h - per-login counters for /metrics and `moat stats`:
 * messages, recipients and AUTH failures per user and per relay client,
 * with a cap on how many names get series of their own.
 */
#ifndef MOAT_QUEUE_LOGINS_H
#define MOAT_QUEUE_LOGINS_H

#include <stddef.h>

struct conf;
struct ipc_msg;
struct queue_db;
struct queue_logins;

/* queue_logins_new - empty counters; NULL on memory failure */
struct queue_logins *queue_logins_new(const struct conf *c,
    struct queue_db *db);
/* queue_logins_free - NULL is accepted */
void queue_logins_free(struct queue_logins *l);
/*
 * queue_logins_set_conf - a reload's configuration (the cap, relay nets);
 * the names remembered as never logged in are forgotten
 */
void queue_logins_set_conf(struct queue_logins *l, const struct conf *c);

/* queue_logins_login - user authenticated (it gets a series if there is room) */
void queue_logins_login(struct queue_logins *l, const char *user);

/*
 * queue_logins_stored - a message was stored: counted for its AUTH user,
 * else for its client when that is a relay client (relay_networks);
 * inbound mail from outside is nobody's
 */
void queue_logins_stored(struct queue_logins *l, const char *auth_user,
    const char *client_ip, size_t nrcpt);

/*
 * queue_logins_auth_fail - AUTH failed for the name user from client_ip:
 * counted for the user when it ever logged in, else under "unknown";
 * for the client too when it is a relay client. queue.db is asked once
 * for a name not seen since start; a "never" is remembered (bounded)
 * until the name logs in or a reload.
 */
void queue_logins_auth_fail(struct queue_logins *l, const char *user,
    const char *client_ip);

/* queue_logins_stats - the counters as `moat stats` rows (name, labels, value) */
void queue_logins_stats(const struct queue_logins *l,
    void (*row)(struct ipc_msg *, const char *, const char *, int64_t),
    struct ipc_msg *ans);

#endif
