/*
 * queue_series.h - the per-minute time series of the console's charts
 * and `moat stats --series`: messages in and out, AUTH failures,
 * rejections and the queue's size, kept in queue.db (series_minute).
 */
#ifndef MOAT_QUEUE_SERIES_H
#define MOAT_QUEUE_SERIES_H

#include <stdint.h>

struct event_base;
struct ipc_peer;
struct ipc_reader;
struct queue_db;
struct ctl_req;

struct queue_series;

/* queue_series_new - count from now on; the minute timer runs on base */
struct queue_series *queue_series_new(struct event_base *base,
    struct queue_db *db);

/* queue_series_free - write what was counted, stop; NULL is accepted */
void queue_series_free(struct queue_series *s);

/*
 * queue_series_smtp - a PROTO_SERIES from smtp: its refusals and AUTH
 * failures count in the current minute. A malformed one is fatal.
 */
void queue_series_smtp(struct queue_series *s, struct ipc_reader *r);

/* queue_series_flush - write the current minute's counts so far; 0 or -1 */
int queue_series_flush(struct queue_series *s);

/*
 * queue_series_answer - CTL_OP_SERIES: the minutes of the last q->since
 * seconds (0: all kept), at most q->limit (0: all), answered to control
 */
void queue_series_answer(struct queue_series *s, struct ipc_peer *control,
    uint64_t id, const struct ctl_req *q);

#endif
