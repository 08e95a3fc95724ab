/*
 * queue_series.c - the time series kept by the queue: one row a minute
 * of messages in (stored), messages out (recipients delivered, local or
 * remote), AUTH failures and rejections (smtp's, PROTO_SERIES) and the
 * queue's size, in queue.db's series_minute, kept QUEUE_SERIES_KEEP
 * (7 days; the housekeeping timer of queue_proc.c deletes older rows).
 *
 * Public: queue_series_new, queue_series_free, queue_series_smtp,
 * queue_series_flush, queue_series_answer.
 *
 * The counts wait in memory and are written once a minute, at the
 * minute's end (one small transaction, never one per message), and at
 * stop. An admin's question (CTL_OP_SERIES) writes nothing: the open
 * minute is merged into the rows read, as its write would make it
 * (series_open, series_merge). Messages in and out are the differences
 * of the queue database's lifetime counters (queue_db_stats), which
 * count only what was committed; the queue's size is sampled when the
 * row is written (or shown). A minute with nothing counted and an empty
 * queue gets no row: a missing minute is all zeros. A crash loses at
 * most the current minute's counts.
 *
 * SECURITY: PROTO_SERIES comes from smtp, a sibling: two counters; one
 * that does not decode is fatal. Requests were checked by control and
 * ctl_req_decode (since at most 7 days).
 * LIMITS: one pending minute; an answer has at most 7 * 1440 rows,
 * held in memory while the open minute is merged in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "ctl/ctl_msg.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "queue/queue_db.h"
#include "queue/queue_series.h"

#define SERIES_MINUTE_MS	60000
#define SERIES_ROWS_MAX		(QUEUE_SERIES_KEEP / 60)

/* Owned by the queue process (queue_proc.c). */
struct queue_series {
	struct queue_db		*db;		/* not owned */
	struct event		*tick;		/* at each minute's end, owned */
	struct queue_series_row	 cur;		/* counted, not yet written */
	int64_t			 stored, delivered;	/* counters seen */
	int64_t			 written_minute;	/* the last row written, */
	int64_t			 written_size;		/* with this size */
};

static void series_tick_cb(evutil_socket_t, short, void *);

/* the timer again, for the end of the current minute */
static void
series_arm(struct queue_series *s)
{
	int64_t ms = SERIES_MINUTE_MS - clock_wall_ms() % SERIES_MINUTE_MS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(s->tick, &tv);
}

/* queue_series_new - see queue_series.h */
struct queue_series *
queue_series_new(struct event_base *base, struct queue_db *db)
{
	const struct queue_stats *qs = queue_db_stats(db);
	struct queue_series *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->db = db;
	s->stored = qs->stored;
	s->delivered = qs->delivered;
	s->cur.minute = clock_wall_ms() / SERIES_MINUTE_MS * 60;
	if ((s->tick = evtimer_new(base, series_tick_cb, s)) == NULL) {
		free(s);
		return NULL;
	}
	series_arm(s);
	return s;
}

/* queue_series_free - see queue_series.h */
void
queue_series_free(struct queue_series *s)
{
	if (s == NULL)
		return;
	(void)queue_series_flush(s);	/* logged */
	event_free(s->tick);
	free(s);
}

/*
 * The open minute as its write would be now: the committed work since
 * the last look moves into the counts, the queue's size is sampled. 0
 * when the write would change nothing (no new counts, the size as
 * written), 1 when it would.
 */
static int
series_open(struct queue_series *s)
{
	const struct queue_stats *qs = queue_db_stats(s->db);
	struct queue_series_row *r = &s->cur;
	int64_t size;

	r->msgs_in += qs->stored - s->stored;
	r->msgs_out += qs->delivered - s->delivered;
	s->stored = qs->stored;
	s->delivered = qs->delivered;
	if (queue_db_count_messages(s->db, &size) == -1)
		size = 0;
	r->queue_size = size;
	return !(r->msgs_in == 0 && r->msgs_out == 0 && r->auth_failures == 0 &&
	    r->rejections == 0 && size == (r->minute == s->written_minute ?
	    s->written_size : 0));
}

/* queue_series_flush - see queue_series.h */
int
queue_series_flush(struct queue_series *s)
{
	struct queue_series_row *r = &s->cur;

	if (!series_open(s))
		return 0;
	if (queue_db_series_add(s->db, r) == -1)
		return -1;	/* kept: the next write adds them */
	s->written_minute = r->minute;
	s->written_size = r->queue_size;
	r->msgs_in = r->msgs_out = r->auth_failures = r->rejections = 0;
	return 0;
}

/* the end of a minute: its row, and the next minute begins */
static void
series_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_series *s = arg;
	int64_t now = clock_wall_ms() / SERIES_MINUTE_MS * 60;

	/* a failed write keeps the counts, which go to the next minute */
	if (queue_series_flush(s) == 0 || now != s->cur.minute)
		s->cur.minute = now;
	series_arm(s);
}

/* queue_series_smtp - see queue_series.h */
void
queue_series_smtp(struct queue_series *s, struct ipc_reader *r)
{
	struct proto_series ps;

	if (proto_series_dec(r, &ps) == -1)
		fatalx("%s: malformed PROTO_SERIES from smtp", __func__);
	s->cur.rejections += ps.rejections;
	s->cur.auth_failures += ps.auth_failures;
}

static const char *const series_cols[] = { "minute", "msgs_in", "msgs_out",
    "auth_failures", "rejections", "queue_size" };
static const enum ctl_kind series_kinds[] = { CTL_KIND_TIME, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT };

/* The rows of an answer, oldest first, before they are sent. */
struct series_rows {
	struct queue_series_row	*v;		/* owned */
	size_t			 n, cap;
	int			 failed;	/* out of memory */
};

static void
series_collect_cb(void *arg, const struct queue_series_row *r)
{
	struct series_rows *rows = arg;
	struct queue_series_row *v;

	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;

		if ((v = reallocarray(rows->v, cap, sizeof(*v))) == NULL) {
			rows->failed = 1;
			return;
		}
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = *r;
}

/*
 * The open minute o into rows, the newest limit minutes at or after
 * since read from queue.db, as if it had been written first (the upsert
 * of queue_db_series_add): added to its row when that was read; else a
 * row of its own in its place, the oldest dropped past limit. A minute
 * older than every row of a full answer would not be in it. -1: no
 * memory.
 */
static int
series_merge(struct series_rows *rows, const struct queue_series_row *o,
    int64_t since, uint32_t limit)
{
	size_t i;

	for (i = 0; i < rows->n && rows->v[i].minute < o->minute; i++)
		;
	if (i < rows->n && rows->v[i].minute == o->minute) {
		rows->v[i].msgs_in += o->msgs_in;
		rows->v[i].msgs_out += o->msgs_out;
		rows->v[i].auth_failures += o->auth_failures;
		rows->v[i].rejections += o->rejections;
		rows->v[i].queue_size = o->queue_size;
		return 0;
	}
	if (o->minute < since || (rows->n >= limit && i == 0))
		return 0;
	series_collect_cb(rows, o);	/* room for one more, at the end */
	if (rows->failed)
		return -1;
	memmove(&rows->v[i + 1], &rows->v[i], (rows->n - 1 - i) *
	    sizeof(rows->v[0]));
	rows->v[i] = *o;
	if (rows->n > limit) {
		memmove(&rows->v[0], &rows->v[1], (rows->n - 1) *
		    sizeof(rows->v[0]));
		rows->n--;
	}
	return 0;
}

static void
series_row_cb(void *arg, const struct queue_series_row *r)
{
	struct ipc_msg *ans = arg;

	ctl_ans_row(ans);
	ipc_put_i64(ans, r->minute);
	ipc_put_i64(ans, r->msgs_in);
	ipc_put_i64(ans, r->msgs_out);
	ipc_put_i64(ans, r->auth_failures);
	ipc_put_i64(ans, r->rejections);
	ipc_put_i64(ans, r->queue_size);
}

/* queue_series_answer - see queue_series.h */
void
queue_series_answer(struct queue_series *s, struct ipc_peer *control,
    uint64_t id, const struct ctl_req *q)
{
	int64_t since = q->since > 0 && q->since < QUEUE_SERIES_KEEP ?
	    q->since : QUEUE_SERIES_KEEP;
	uint32_t limit = q->limit > 0 && q->limit < SERIES_ROWS_MAX + 1 ?
	    q->limit : SERIES_ROWS_MAX + 1;
	int64_t from = (int64_t)time(NULL) - since;
	struct series_rows rows;
	struct ipc_msg ans;
	int open;

	memset(&rows, 0, sizeof(rows));
	open = series_open(s);
	if (queue_db_series_read(s->db, from, limit, series_collect_cb,
	    &rows) == -1) {
		free(rows.v);
		ctl_answer_simple(control, id, CTL_FAILED,
		    "the queue database could not be read");
		return;
	}
	if (rows.failed || (open && series_merge(&rows, &s->cur, from,
	    limit) == -1)) {
		free(rows.v);
		ctl_answer_simple(control, id, CTL_FAILED, "out of memory");
		return;
	}
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "series", 6, series_cols, series_kinds);
	for (size_t i = 0; i < rows.n; i++)
		series_row_cb(&ans, &rows.v[i]);
	ctl_ans_end(&ans);
	ctl_answer_send(control, id, &ans);
	free(rows.v);
}
