/*
 * queue_dnsbl.h - the queue's side of the blacklist watch: what the
 * mta found about the own addresses, as events, alerts, metrics and
 * `moat blacklist` / `moat status`.
 */
#ifndef MOAT_QUEUE_DNSBL_H
#define MOAT_QUEUE_DNSBL_H

#include <stdint.h>

struct conf;
struct ctl_req;
struct ipc_msg;
struct ipc_peer;
struct ipc_reader;
struct queue_db;
struct queue_dnsbl;
struct sched;

/* queue_dnsbl_new - empty state; db records the events, sched reaches
 * the mta (NULL: no mta, checks on demand fail) */
struct queue_dnsbl *queue_dnsbl_new(const struct conf *conf,
    struct queue_db *db, struct sched *sched);
/* queue_dnsbl_free - NULL is fine */
void queue_dnsbl_free(struct queue_dnsbl *qd);
/* queue_dnsbl_set_conf - after a reload (alert_command, blacklist_watch) */
void queue_dnsbl_set_conf(struct queue_dnsbl *qd, const struct conf *conf);

/*
 * queue_dnsbl_result - a PROTO_DNSBL_RESULT from the mta (arg: qd):
 * listings new since the last check are an event own_ip_listed and an
 * alert_command run, listings gone are own_ip_delisted; an error keeps
 * what was known. A malformed message is fatal (a sibling's).
 */
void queue_dnsbl_result(void *arg, uint64_t id, struct ipc_reader *r);

/*
 * queue_dnsbl_ctl - CTL_OP_BLACKLIST from control (request id): the
 * state now (q->flag 0), or after a check made at once (1)
 */
void queue_dnsbl_ctl(struct queue_dnsbl *qd, struct ipc_peer *control,
    uint64_t id, const struct ctl_req *q);

/*
 * queue_dnsbl_stats - rows of the "stats" table, each written by
 * stat_row(ans, name, labels, value): dnsbl_listed by address and list,
 * dnsbl_checks_total and dnsbl_errors_total by list
 */
void queue_dnsbl_stats(const struct queue_dnsbl *qd, struct ipc_msg *ans,
    void (*stat_row)(struct ipc_msg *, const char *, const char *, int64_t));

#endif
