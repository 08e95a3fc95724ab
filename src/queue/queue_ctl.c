/*
 * queue_ctl.c - control operations on the queue database.
 *
 * The control process forwards each checked request here as
 * PROTO_CTL_REQUEST; this module runs it through the named queries of
 * queue_db_ctl.c (which owns the SQL and a connection of its own to
 * queue.db) and answers PROTO_CTL_ANSWER with tables (ctl_msg.h).
 *
 * It also keeps smtp informed of the bans and account states. A ban
 * smtp decided (PROTO_BAN_ADD from smtp) is stored and not echoed:
 * smtp applied it already. `moat ban add|del` stores the change and
 * sends just that one ban (PROTO_BAN_ADD, PROTO_BAN_DEL): smtp applies
 * it in O(1), so ten thousand bans cost ten thousand small messages,
 * not ten thousand copies of a growing list. The whole list
 * (PROTO_BANS_CHANGED) goes out once at start; expired bans are dropped
 * by each side on its own. `moat user ...` changes user_state, sent as
 * PROTO_USER_STATE, every row of it at start too. `moat verify flush`
 * deletes recipient verification answers and tells the lookup process
 * (PROTO_VERIFY_FLUSH), which holds their copy.
 *
 * `moat queue bounce` hands the recipients still to do to the scheduler,
 * which fails them as a permanent delivery failure does (their DSNs in
 * the same transaction). `moat queue requeue` routes recipients again
 * by the configuration the queue process holds (queue_route.c) and
 * makes them due; `pause` and `resume` change paused_dest and tell the
 * scheduler; `deadletter
 * reinject` hands each dead letter to the queue process's own
 * connection (queue_db_dead_reinject), which alone gives out queue ids.
 *
 * Public: queue_ctl_new, queue_ctl_free, queue_ctl_ban_add,
 * queue_ctl_stored, queue_ctl_set_stats, queue_ctl_smtp_closed,
 * queue_ctl_set_lookup, queue_ctl_set_delivery, queue_ctl_set_series,
 * queue_ctl_login, queue_ctl_set_logins, queue_ctl_set_dnsbl. `moat
 * incident list|show` are answered by queue_incident.c over the same
 * connection.
 *
 * SECURITY: no SQL here; filter values reach queue_db_ctl as bound
 * parameters. Requests were checked by the control process and are
 * decoded again here with the same checks; a bad one is answered
 * CTL_BAD_REQUEST, not obeyed. Each state-changing operation is
 * recorded in events with the caller's uid.
 * LIMITS: CTL_LIST_MAX rows a list (default QC_LIST_DEFAULT), events
 * QC_EVENTS_DEFAULT; a shown body is cut at QC_SHOW_MAX bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "ctl/ctl_msg.h"
#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "queue/queue_ctl.h"
#include "policy/relay.h"
#include "policy/watch.h"
#include "queue/queue_db.h"
#include "queue/queue_db_ctl.h"
#include "queue/queue_dnsbl.h"
#include "queue/queue_incident.h"
#include "queue/queue_route.h"
#include "queue/queue_logins.h"
#include "queue/queue_series.h"

#define PLURAL(n)	((n) == 1 ? "" : "s")	/* "1 message", "2 messages" */
#define QC_LIST_DEFAULT		CTL_LIST_MAX
#define QC_EVENTS_DEFAULT	100
#define QC_SHOW_MAX		(8u * 1024 * 1024)
#define QC_EXPIRE_SECS		60
#define QC_RECENT_SECS		86400	/* "recent" counters: one day */
#define QC_HOUR_SECS		3600	/* messages per user: one hour */
#define QC_BOUNCE_BATCH		64	/* messages a bounce transaction */
#define QC_BOUNCE_REASON	"550 5.0.0 returned to the sender by the " \
				"administrator"

/* Owned by the queue process (queue_proc.c). */
struct queue_ctl {
	struct event_base	*base;		/* not owned */
	struct queue_db_ctl	*db;		/* owned: the admin's connection */
	struct ipc_peer		*control;	/* owned, NULL without control */
	struct ipc_peer		*smtp;		/* not owned */
	int			 smtp_closed;
	struct ipc_peer		*lookup;	/* not owned, NULL: none */
	void			(*kick)(void *);
	void			*kick_arg;
	struct event		*ev_expire;
	const struct queue_stats *stats;	/* not owned, NULL: none */
	struct queue_ctl_delivery dl;		/* requeue, pause, reinject */
	struct watch		*hour;		/* messages per user, owned */
	char			 admin[80];	/* the request's, for qc_event */
	struct queue_dnsbl	*dnsbl;		/* not owned, NULL: none */
	struct queue_series	*series;	/* not owned, NULL: none */
	struct queue_incident	*inc;		/* logins seen, owned */
	struct queue_logins	*logins;	/* not owned, NULL: none */
};

static void qc_expire_cb(evutil_socket_t, short, void *);
static int qc_cidr_canon(const char *, char *, size_t);

/* The answer to a request the database could not serve. */
static void
qc_db_failed(struct queue_ctl *qc, uint64_t id)
{
	ctl_answer_simple(qc->control, id, CTL_FAILED,
	    "queue database error: %s", queue_db_ctl_errmsg(qc->db));
}

/* The same for a change rolled back at step op. */
static void
qc_db_unchanged(struct queue_ctl *qc, uint64_t id, const char *op)
{
	ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database error "
	    "(%s): %s; nothing changed", op, queue_db_ctl_errmsg(qc->db));
}

/* A short text of the filter for the events table and the log. */
static void
qc_filter_desc(const struct ctl_filter *f, char *buf, size_t len)
{
	char tmp[1400];
	size_t n = 0;

	tmp[0] = '\0';
#define ADD(name, v) do { if ((v)[0] && n < sizeof(tmp)) n += (size_t)snprintf( \
	tmp + n, sizeof(tmp) - n, "%s%s=%s", n ? " " : "", name, v); } while (0)
	if (f->flags & CTL_FILTER_ALL)
		ADD("all", "yes");
	if (f->flags & CTL_FILTER_DEAD)
		ADD("dead", "yes");
	ADD("qid", f->qid);
	ADD("from", f->from);
	ADD("to", f->to);
	ADD("to_domain", f->to_domain);
	ADD("user", f->user);
	ADD("client", f->client);
#undef ADD
	if (f->older_than && n < sizeof(tmp))
		n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, " older=%" PRId64,
		    f->older_than);
	if (f->newer_than && n < sizeof(tmp))
		n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, " newer=%" PRId64,
		    f->newer_than);
	if (f->states && n < sizeof(tmp))
		snprintf(tmp + n, sizeof(tmp) - n, " states=0x%x", f->states);
	log_escape(buf, len, tmp, strlen(tmp));
}

/* Record an administrator's change (its own small transaction). */
static void
qc_event(struct queue_ctl *qc, uint32_t uid, const char *type,
    const char *user, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
qc_event(struct queue_ctl *qc, uint32_t uid, const char *type,
    const char *user, const char *fmt, ...)
{
	struct queue_event ev;
	char detail[1024], rest[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	if (qc->admin[0] != '\0')
		snprintf(detail, sizeof(detail), "uid=%" PRIu32 " admin=%s %s",
		    uid, qc->admin, rest);
	else
		snprintf(detail, sizeof(detail), "uid=%" PRIu32 " %s", uid, rest);
	log_notice(LOG_CAT_CONTROL, "event=%s %s", type, detail);
	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t)time(NULL);
	ev.type = type;
	ev.user = user;
	ev.detail = detail;
	(void)queue_db_ctl_event_add(qc->db, &ev);	/* logged */
}

/*
 * Lists for smtp.
 */

static int
qc_smtp_gone(const struct queue_ctl *qc)
{
	return qc->smtp == NULL || qc->smtp_closed;
}

/* the bans, gathered for PROTO_BANS_CHANGED */
struct qc_ban_rows {
	struct ipc_msg	rows;
	uint32_t	n;
};

static void
qc_ban_row_cb(void *arg, const struct queue_ban *b)
{
	struct qc_ban_rows *br = arg;
	struct proto_bans_item it;

	it.cidr = b->cidr;
	it.expires = b->expires;
	proto_bans_item_enc(&br->rows, &it);
	br->n++;
}

static void
qc_send_bans(struct queue_ctl *qc)
{
	struct qc_ban_rows br;
	struct ipc_msg m;

	if (qc_smtp_gone(qc))
		return;
	ipc_msg_init(&br.rows, 0, 0);
	br.n = 0;
	if (queue_db_ctl_ban_list(qc->db, (int64_t)time(NULL), qc_ban_row_cb,
	    &br) == -1) {
		ipc_msg_discard(&br.rows);
		return;
	}
	proto_bans_enc(&m, 0, br.n, &br.rows);
	ipc_msg_discard(&br.rows);
	ipc_send(qc->smtp, &m);
	log_debug(LOG_CAT_CONTROL, "event=bans_sent count=%" PRIu32, br.n);
}

/* one ban an admin added or changed, to smtp */
static void
qc_send_ban_add(struct queue_ctl *qc, const char *net, int64_t expires,
    const char *reason)
{
	struct proto_ban b;
	struct ipc_msg m;

	if (qc_smtp_gone(qc))
		return;
	b.cidr = net;
	b.expires = expires;
	b.reason = reason;
	b.origin = "admin";
	proto_ban_enc(&m, 0, &b);
	ipc_send(qc->smtp, &m);
}

/* one ban an admin lifted, to smtp */
static void
qc_send_ban_del(struct queue_ctl *qc, const char *net)
{
	struct proto_ban_del b;
	struct ipc_msg m;

	if (qc_smtp_gone(qc))
		return;
	b.cidr = net;
	proto_ban_del_enc(&m, 0, &b);
	ipc_send(qc->smtp, &m);
}

static void
qc_send_user(struct queue_ctl *qc, const char *user, const char *state)
{
	struct proto_user_state us;
	struct ipc_msg m;

	if (qc_smtp_gone(qc))
		return;
	us.user = user;
	us.state = state;
	proto_user_state_enc(&m, 0, &us);
	ipc_send(qc->smtp, &m);
}

static void
qc_send_user_cb(void *arg, const char *user, const char *state)
{
	qc_send_user(arg, user, state);
}

static void
qc_send_users(struct queue_ctl *qc)
{
	(void)queue_db_ctl_user_states(qc->db, qc_send_user_cb, qc);
}

static void
qc_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_ctl *qc = arg;
	int64_t n;

	if (qc->hour != NULL)
		watch_expire(qc->hour, time(NULL));
	if (queue_db_ctl_ban_expire(qc->db, (int64_t)time(NULL), &n) == -1)
		return;
	/* smtp drops expired bans on its own timer */
	if (n > 0)
		log_info(LOG_CAT_CONTROL, "event=bans_expired count=%" PRId64, n);
}

/*
 * The operations. Each answers exactly once.
 */

static const char *const summary_cols[] = { "domain", "recipients",
    "oldest", "queued", "deferred", "held", "failed", "attempts",
    "last_error" };
static const enum ctl_kind summary_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_STR };

static void
qc_summary_row(struct ipc_msg *ans, const struct queue_dest *d)
{
	ctl_ans_row(ans);
	ipc_put_str(ans, d->domain);
	ipc_put_i64(ans, d->n);
	ipc_put_i64(ans, d->oldest);
	ipc_put_i64(ans, d->by_state[QUEUE_RCPT_QUEUED]);
	ipc_put_i64(ans, d->by_state[QUEUE_RCPT_DEFERRED]);
	ipc_put_i64(ans, d->by_state[QUEUE_RCPT_HELD]);
	ipc_put_i64(ans, d->by_state[QUEUE_RCPT_FAILED]);
	ipc_put_i64(ans, d->attempts);
	ipc_put_str(ans, d->last_error);
}

/* an answer being filled row by row, and its count */
struct qc_rows {
	struct ipc_msg	ans;
	size_t		n;
};

static const char *const paused_cols[] = { "paused", "since", "waiting",
    "reason" };
static const enum ctl_kind paused_kinds[] = { CTL_KIND_STR, CTL_KIND_TIME,
    CTL_KIND_INT, CTL_KIND_STR };

static void
qc_paused_row_cb(void *arg, const struct queue_paused_row *p)
{
	struct qc_rows *q = arg;

	ctl_ans_row(&q->ans);
	ipc_put_str(&q->ans, strcmp(p->domain, "*") == 0 ?
	    "all destinations" : p->domain);
	ipc_put_i64(&q->ans, p->since);
	ipc_put_i64(&q->ans, p->waiting);
	ipc_put_str(&q->ans, p->reason);
	q->n++;
}

/* the paused destinations, a table after the summary's (none: no table) */
static void
qc_paused_table(struct queue_ctl *qc, struct ipc_msg *ans)
{
	struct qc_rows rows;

	/* rows first, so an empty list adds no table at all */
	ipc_msg_init(&rows.ans, 0, 0);
	rows.n = 0;
	if (queue_db_ctl_paused(qc->db, qc_paused_row_cb, &rows) == 0 &&
	    rows.n > 0) {
		ctl_ans_table(ans, "paused", 4, paused_cols, paused_kinds);
		ipc_put_fields(ans, &rows.ans);
	}
	ipc_msg_discard(&rows.ans);
}

static void
qc_summary(struct queue_ctl *qc, uint64_t id)
{
	struct queue_dest *d = NULL;
	struct ipc_msg ans;
	size_t nd = 0;
	int64_t t0 = clock_mono_ms(), rcpts = 0, msgs = 0;
	char msg[160];

	if (queue_db_ctl_summary(qc->db, &d, &nd, &msgs) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	for (size_t i = 0; i < nd; i++)
		rcpts += d[i].n;
	snprintf(msg, sizeof(msg), "%zu destination%s, %" PRId64
	    " message%s, %" PRId64 " recipient%s (%" PRId64 " ms)", nd,
	    PLURAL(nd), msgs, PLURAL(msgs), rcpts, PLURAL(rcpts),
	    clock_mono_ms() - t0);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "summary", 9, summary_cols, summary_kinds);
	for (size_t i = 0; i < nd; i++)
		qc_summary_row(&ans, &d[i]);
	qc_paused_table(qc, &ans);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
	queue_db_ctl_summary_free(d, nd);
}

static void
qc_states_text(int64_t mask, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 5 && n < len; i++)
		if (mask & (1 << i))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
			    ctl_state_name(i));
}

static const char *const list_cols[] = { "qid", "created", "size", "from",
    "user", "client", "to", "state", "attempts", "last_error" };
static const enum ctl_kind list_kinds[] = { CTL_KIND_STR, CTL_KIND_TIME,
    CTL_KIND_SIZE, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_INT, CTL_KIND_STR };

static const char *const dead_cols[] = { "id", "qid", "time", "created",
    "from", "to", "reason", "size" };
static const enum ctl_kind dead_kinds[] = { CTL_KIND_INT, CTL_KIND_STR,
    CTL_KIND_TIME, CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_SIZE };

/* Dead letters have no user, client or state: refuse those filters. */
static int
qc_dead_check(struct queue_ctl *qc, uint64_t id, const struct ctl_filter *f)
{
	if (!queue_db_ctl_has_dead(qc->db)) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "this queue has no dead-letter store");
		return -1;
	}
	if (f->user[0] || f->client[0] || f->states) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "--dead: --user, --client-ip and --state do not apply to "
		    "dead letters");
		return -1;
	}
	return 0;
}

static void
qc_list_row_cb(void *arg, const struct queue_list_row *r)
{
	struct qc_rows *q = arg;
	char states[64];

	ctl_ans_row(&q->ans);
	ipc_put_str(&q->ans, r->qid);
	ipc_put_i64(&q->ans, r->created);
	ipc_put_i64(&q->ans, r->size);
	ipc_put_str(&q->ans, r->sender);
	ipc_put_str(&q->ans, r->user);
	ipc_put_str(&q->ans, r->client);
	ipc_put_str(&q->ans, r->rcpts);
	qc_states_text(r->states, states, sizeof(states));
	ipc_put_str(&q->ans, states);
	ipc_put_i64(&q->ans, r->attempts);
	ipc_put_str(&q->ans, r->last_error);
	q->n++;
}

static void
qc_dead_row_cb(void *arg, const struct queue_dead_row *r)
{
	struct qc_rows *q = arg;

	ctl_ans_row(&q->ans);
	ipc_put_i64(&q->ans, r->id);
	ipc_put_str(&q->ans, r->qid);
	ipc_put_i64(&q->ans, r->time);
	ipc_put_i64(&q->ans, r->created);
	ipc_put_str(&q->ans, r->sender);
	ipc_put_str(&q->ans, r->recipient);
	ipc_put_str(&q->ans, r->reason);
	ipc_put_i64(&q->ans, r->size);
	q->n++;
}

/* Send a table answer filled in, or the database's error. */
static void
qc_rows_send(struct queue_ctl *qc, uint64_t id, struct qc_rows *q, int rc)
{
	if (rc == -1) {
		ipc_msg_discard(&q->ans);
		qc_db_failed(qc, id);
		return;
	}
	ctl_ans_end(&q->ans);
	ctl_answer_send(qc->control, id, &q->ans);
}

static void
qc_list(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int dead = (f->flags & CTL_FILTER_DEAD) != 0;
	int64_t now = time(NULL), t0 = clock_mono_ms();
	int64_t limit = q->limit ? q->limit : QC_LIST_DEFAULT, total;
	struct qc_rows rows;
	char msg[128];
	int rc;

	if (dead && qc_dead_check(qc, id, f) == -1)
		return;
	ipc_msg_init(&rows.ans, 0, 0);
	rows.n = 0;
	/* a list cut at the limit says so, and by how much */
	msg[0] = '\0';
	if (limit < CTL_LIST_MAX &&
	    (total = queue_db_ctl_count(qc->db, f, now)) > limit)
		snprintf(msg, sizeof(msg), "... %" PRId64 " more; use --limit "
		    "%" PRId64 " to see them all", total - limit, total);
	ctl_ans_begin(&rows.ans, CTL_OK, msg);
	if (dead) {
		ctl_ans_table(&rows.ans, "deadletters", 8, dead_cols, dead_kinds);
		rc = queue_db_ctl_dead_list(qc->db, f, now, limit,
		    qc_dead_row_cb, &rows);
	} else {
		ctl_ans_table(&rows.ans, "messages", 10, list_cols, list_kinds);
		rc = queue_db_ctl_list(qc->db, f, now, limit, qc_list_row_cb,
		    &rows);
	}
	if (rc == 0)
		log_debug(LOG_CAT_CONTROL, "event=list rows=%zu ms=%" PRId64,
		    rows.n, clock_mono_ms() - t0);
	qc_rows_send(qc, id, &rows, rc);
}

static const char *const env_cols[] = { "qid", "created", "from", "helo",
    "client", "user", "listener", "envid", "size", "recipients" };
static const enum ctl_kind env_kinds[] = { CTL_KIND_STR, CTL_KIND_TIME,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_SIZE, CTL_KIND_INT };
static const char *const rcpt_cols[] = { "address", "state", "attempts",
    "next_attempt", "updated", "mailbox", "last_error" };
static const enum ctl_kind rcpt_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT, CTL_KIND_TIME, CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR };
static const char *const text_cols[] = { "text" };
static const enum ctl_kind text_kinds[] = { CTL_KIND_STR };

/* `moat queue show`: the answer and whether the body is wanted whole */
struct qc_show {
	struct ipc_msg	ans;
	int		whole;
};

static void
qc_show_msg_cb(void *arg, const struct queue_show_msg *m)
{
	struct qc_show *sh = arg;

	/* one row of typed cells: times and sizes as `queue list` has them */
	ctl_ans_table(&sh->ans, "envelope", sizeof(env_cols) /
	    sizeof(env_cols[0]), env_cols, env_kinds);
	ctl_ans_row(&sh->ans);
	ipc_put_str(&sh->ans, m->qid);
	ipc_put_i64(&sh->ans, m->created);
	ipc_put_str(&sh->ans, m->sender);
	ipc_put_str(&sh->ans, m->helo);
	ipc_put_str(&sh->ans, m->client);
	ipc_put_str(&sh->ans, m->user);
	ipc_put_str(&sh->ans, m->listener);
	ipc_put_str(&sh->ans, m->envid);
	ipc_put_i64(&sh->ans, m->size);
	ipc_put_i64(&sh->ans, m->nrcpt);
	ctl_ans_table(&sh->ans, "recipients", 7, rcpt_cols, rcpt_kinds);
}

static void
qc_show_rcpt_cb(void *arg, const struct queue_show_rcpt *r)
{
	struct qc_show *sh = arg;

	ctl_ans_row(&sh->ans);
	ipc_put_str(&sh->ans, r->address);
	ipc_put_str(&sh->ans, ctl_state_name(r->state));
	ipc_put_i64(&sh->ans, r->attempts);
	ipc_put_i64(&sh->ans, r->next_attempt);
	ipc_put_i64(&sh->ans, r->updated);
	ipc_put_str(&sh->ans, r->mailbox);
	ipc_put_str(&sh->ans, r->last_error);
}

/* the header section: up to the first empty line (all when none) */
static size_t
qc_header_len(const char *data, size_t len)
{
	const char *end, *nl;

	for (end = data; end != NULL && end < data + len; end = nl + 1) {
		if ((nl = memchr(end, '\n', len - (size_t)(end - data))) == NULL)
			break;
		if (nl == end || (nl == end + 1 && *end == '\r'))
			return (size_t)(end - data);
	}
	return len;
}

static void
qc_show_body_cb(void *arg, const void *bytes, size_t len)
{
	struct qc_show *sh = arg;
	const char *data = bytes, *nul;
	size_t n = len;

	if (!sh->whole && data != NULL)
		n = qc_header_len(data, len);
	if (n > QC_SHOW_MAX)
		n = QC_SHOW_MAX;
	ctl_ans_table(&sh->ans, sh->whole ? "message" : "headers", 1,
	    text_cols, text_kinds);
	ctl_ans_row(&sh->ans);
	/* a NUL in the message would end the string: cut there */
	if (data != NULL && (nul = memchr(data, '\0', n)) != NULL)
		n = (size_t)(nul - data);
	ipc_put_bytes(&sh->ans, data ? data : "", n);
}

static void
qc_show(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	struct qc_show sh;
	struct queue_show_cb cb = { qc_show_msg_cb, qc_show_rcpt_cb,
	    qc_show_body_cb, &sh };
	int rc;

	ipc_msg_init(&sh.ans, 0, 0);
	sh.whole = q->flag;
	ctl_ans_begin(&sh.ans, CTL_OK, "");
	if ((rc = queue_db_ctl_show(qc->db, q->a, &cb)) != 1) {
		ipc_msg_discard(&sh.ans);
		if (rc == 0)
			ctl_answer_simple(qc->control, id, CTL_FAILED,
			    "%s: no such message in the queue", q->a);
		else
			qc_db_failed(qc, id);
		return;
	}
	ctl_ans_end(&sh.ans);
	ctl_answer_send(qc->control, id, &sh.ans);
}

static const char *const act_cols[] = { "action", "messages", "recipients",
    "elapsed_ms", "dry_run" };
static const enum ctl_kind act_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_FLAG };

static const char *const requeue_cols[] = { "messages", "recipients",
    "rerouted", "unknown_local", "elapsed_ms", "dry_run", "action" };
static const enum ctl_kind requeue_kinds[] = { CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_FLAG, CTL_KIND_STR };

/* the answer to an action, with note ("" none) after the counts */
static void
qc_act_answer_note(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q,
    int64_t msgs, int64_t rcpts, int64_t ms, const char *note)
{
	struct ipc_msg ans;
	char msg[512];
	static const char *const done[CTL_ACT_COUNT] = { "deleted", "held",
	    "released", "scheduled for retry", "returned to sender",
	    "requeued", "put back into the queue" };

	if (q->flag)
		snprintf(msg, sizeof(msg), "dry run: %s would act on %" PRId64
		    " message%s (%" PRId64 " recipient%s) in %.3f s",
		    ctl_action_name(q->action), msgs, PLURAL(msgs), rcpts,
		    PLURAL(rcpts), (double)ms / 1000);
	else
		snprintf(msg, sizeof(msg), "%s %" PRId64 " message%s (%" PRId64
		    " recipient%s) in %.3f s", done[q->action], msgs,
		    PLURAL(msgs), rcpts, PLURAL(rcpts), (double)ms / 1000);
	if (note[0] != '\0') {
		size_t n = strlen(msg);

		snprintf(msg + n, sizeof(msg) - n, "; %s", note);
	}
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "result", 5, act_cols, act_kinds);
	ctl_ans_row(&ans);
	ipc_put_str(&ans, ctl_action_name(q->action));
	ipc_put_i64(&ans, msgs);
	ipc_put_i64(&ans, rcpts);
	ipc_put_i64(&ans, ms);
	ipc_put_i64(&ans, q->flag);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

static void
qc_act_answer(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q,
    int64_t msgs, int64_t rcpts, int64_t ms)
{
	qc_act_answer_note(qc, id, q, msgs, rcpts, ms, "");
}

/* the ids of the dead letters a filter selects */
struct qc_dead_ids {
	int64_t	*v;
	size_t	 n, cap;
};

static void
qc_dead_id_cb(void *arg, const struct queue_dead_row *r)
{
	struct qc_dead_ids *d = arg;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		if ((d->v = reallocarray(d->v, d->cap, sizeof(*d->v))) == NULL)
			fatal("%s: reallocarray", __func__);
	}
	d->v[d->n++] = r->id;
}

/*
 * `moat queue deadletter reinject`: each dead letter selected goes back
 * into the queue as a new message (its own transaction each, by the
 * queue process's connection, which hands out queue ids and recipient
 * ids), a fresh first attempt, and leaves the dead-letter store.
 */
static void
qc_reinject(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	struct qc_dead_ids d = { NULL, 0, 0 };
	int64_t t0 = clock_mono_ms(), done = 0, now = time(NULL);
	char desc[512], qid[QUEUE_QID_SIZE];
	int rc = 0;

	if (qc->dl.reinject == NULL) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "no delivery in this process: nothing can be reinjected");
		return;
	}
	if (queue_db_ctl_dead_list(qc->db, &q->filter, now, CTL_LIST_MAX,
	    qc_dead_id_cb, &d) == -1) {
		free(d.v);
		qc_db_failed(qc, id);
		return;
	}
	for (size_t i = 0; i < d.n && !q->flag; i++) {
		if ((rc = qc->dl.reinject(qc->dl.arg, d.v[i], qid)) == -1)
			break;
		if (rc == 1) {
			log_notice(LOG_CAT_QUEUE, "event=deadletter_reinjected "
			    "dead_id=%" PRId64 " qid=%s uid=%" PRIu32, d.v[i],
			    qid, uid);
			done++;
		}
	}
	free(d.v);
	if (q->flag)
		done = (int64_t)d.n;
	else {
		qc_filter_desc(&q->filter, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", NULL, "op=reinject %s "
		    "deadletters=%" PRId64, desc, done);
		if (done > 0 && qc->kick)
			qc->kick(qc->kick_arg);
	}
	if (rc == -1) {
		ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database "
		    "error after %" PRId64 " of %zu dead letters; the rest "
		    "are still dead letters", done, d.n);
		return;
	}
	qc_act_answer(qc, id, q, done, done, clock_mono_ms() - t0);
}

/* Dead letters: count, delete or reinject; nothing else applies to them. */
static void
qc_act_dead(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int64_t t0 = clock_mono_ms(), n = 0;
	char desc[512];

	if (qc_dead_check(qc, id, f) == -1)
		return;
	if (q->action == CTL_ACT_REINJECT) {
		qc_reinject(qc, id, uid, q);
		return;
	}
	if (q->action != CTL_ACT_DELETE) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "--dead: dead letters can only be listed, deleted or "
		    "reinjected");
		return;
	}
	if (queue_db_ctl_dead_act(qc->db, f, q->flag, time(NULL), &n) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	if (!q->flag) {
		qc_filter_desc(f, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", NULL, "op=delete %s "
		    "deadletters=%" PRId64, desc, n);
	}
	qc_act_answer(qc, id, q, n, n, clock_mono_ms() - t0);
}

/* delete --all: three truncations in one transaction */
static void
qc_delete_all(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	int64_t t0 = clock_mono_ms(), msgs, rcpts;
	const char *op;

	if (queue_db_ctl_delete_all(qc->db, &msgs, &rcpts, &op) == -1) {
		qc_db_unchanged(qc, id, op);
		return;
	}
	qc_event(qc, uid, "admin_queue", NULL, "op=delete all=yes messages=%"
	    PRId64 " recipients=%" PRId64, msgs, rcpts);
	qc_act_answer(qc, id, q, msgs, rcpts, clock_mono_ms() - t0);
}

/*
 * Where a recipient goes now, for queue_db_ctl_requeue: a local
 * recipient of a domain that is no longer local is relayed; a relayed
 * one of a domain that became local goes to the mailbox the
 * configuration names (-1 when none does: it stays as it was). A
 * recipient the mta is sending now keeps its route.
 */
static int
qc_requeue_route(void *arg, int64_t rcpt_id, const char *address,
    const char *mailbox, char *out, size_t len)
{
	struct queue_ctl *qc = arg;
	int r;

	if (qc->dl.inflight != NULL && qc->dl.inflight(qc->dl.arg, rcpt_id))
		return 0;
	r = queue_route_mailbox(qc->dl.conf(qc->dl.arg), address, out, len);
	if (mailbox[0] != '\0')
		return r == QUEUE_ROUTE_REMOTE ? 1 : 0;	/* out is "" */
	if (r == QUEUE_ROUTE_UNKNOWN)
		return -1;
	return r == QUEUE_ROUTE_LOCAL ? 1 : 0;
}

/* The recipients `moat queue bounce` returns; strings owned. */
struct qc_pending {
	struct queue_ctl	*qc;
	struct queue_pending_rcpt *v;
	size_t			 n, cap;
	int64_t			 busy;	/* being sent now: left alone */
};

static void
qc_pending_cb(void *arg, const struct queue_pending_rcpt *r)
{
	struct qc_pending *p = arg;
	struct queue_pending_rcpt *x;

	if (p->qc->dl.inflight != NULL &&
	    p->qc->dl.inflight(p->qc->dl.arg, r->rcpt_id)) {
		p->busy++;
		return;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		if ((x = reallocarray(p->v, p->cap, sizeof(*x))) == NULL)
			fatal("%s: reallocarray", __func__);
		p->v = x;
	}
	x = &p->v[p->n++];
	*x = *r;
	if ((x->qid = strdup(r->qid)) == NULL ||
	    (x->sender = strdup(r->sender)) == NULL ||
	    (x->address = strdup(r->address)) == NULL ||
	    (x->orcpt = strdup(r->orcpt)) == NULL)
		fatal("%s: strdup", __func__);
}

static void
qc_pending_free(struct qc_pending *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free((char *)p->v[i].qid);
		free((char *)p->v[i].sender);
		free((char *)p->v[i].address);
		free((char *)p->v[i].orcpt);
	}
	free(p->v);
}

/* the end of the next batch of p from i: whole messages, QC_BOUNCE_BATCH */
static size_t
qc_pending_batch(const struct qc_pending *p, size_t i, int64_t *msgs)
{
	size_t j = i;
	int64_t m = 0;

	while (j < p->n) {
		if (j == i || p->v[j].msg_id != p->v[j - 1].msg_id) {
			if (m == QC_BOUNCE_BATCH)
				break;
			m++;
		}
		j++;
	}
	*msgs = m;
	return j;
}

/*
 * Fail p's recipients (QC_BOUNCE_BATCH messages a transaction), or only
 * count them (dry_run); *msgs and *rcpts what was (would be) done. 0,
 * or -1 when a batch could not be recorded (the rest is as it was).
 */
static int
qc_pending_fail(struct queue_ctl *qc, const struct qc_pending *p,
    int dry_run, int64_t *msgs, int64_t *rcpts)
{
	size_t i, j;
	int64_t m;

	*msgs = *rcpts = 0;
	for (i = 0; i < p->n; i = j) {
		j = qc_pending_batch(p, i, &m);
		if (!dry_run && qc->dl.fail(qc->dl.arg, &p->v[i], j - i,
		    QC_BOUNCE_REASON) == -1)
			return -1;
		*msgs += m;
		*rcpts += (int64_t)(j - i);
	}
	return 0;
}

/*
 * At start: the recipients an earlier version's `moat queue bounce`
 * marked failed but sent no DSN for (their messages stayed queued for
 * good) are bounced now, the way this one does it.
 */
static void
qc_bounce_stranded(struct queue_ctl *qc)
{
	struct qc_pending p;
	int64_t msgs, rcpts;

	memset(&p, 0, sizeof(p));
	p.qc = qc;
	if (queue_db_ctl_stranded(qc->db, qc_pending_cb, &p) == 0 && p.n > 0) {
		if (qc_pending_fail(qc, &p, 0, &msgs, &rcpts) == 0)
			log_notice(LOG_CAT_QUEUE, "event=stranded_bounced "
			    "messages=%" PRId64 " recipients=%" PRId64, msgs,
			    rcpts);
	}
	qc_pending_free(&p);
}

/*
 * `moat queue bounce`: the recipients still to do of the selection fail
 * for good, each message's with one DSN to its sender (none for <>: a
 * dead letter), exactly as a permanent delivery failure, by the
 * scheduler: state, DSN and the message's deletion in one transaction
 * a batch of messages. The outcomes waiting for the group commit are
 * recorded first, so none of them is bounced too; a recipient the mta
 * is sending now is left to its outcome.
 */
static void
qc_bounce(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	struct qc_pending p;
	int64_t t0 = clock_mono_ms(), msgs = 0, rcpts = 0;
	char desc[512], note[160];
	int rc;

	if (qc->dl.fail == NULL || qc->dl.settle == NULL) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "no delivery in this process: nothing can be bounced");
		return;
	}
	if (qc->dl.settle(qc->dl.arg) == -1) {
		ctl_answer_simple(qc->control, id, CTL_FAILED, "queue "
		    "database error; nothing changed");
		return;
	}
	memset(&p, 0, sizeof(p));
	p.qc = qc;
	if (queue_db_ctl_pending(qc->db, &q->filter, time(NULL), qc_pending_cb,
	    &p) == -1) {
		qc_pending_free(&p);
		qc_db_failed(qc, id);
		return;
	}
	rc = qc_pending_fail(qc, &p, q->flag, &msgs, &rcpts);
	qc_pending_free(&p);
	if (!q->flag && msgs > 0) {
		qc_filter_desc(&q->filter, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", q->filter.user[0] ?
		    q->filter.user : NULL, "op=bounce %s messages=%" PRId64
		    " recipients=%" PRId64, desc, msgs, rcpts);
	}
	if (rc == -1) {
		ctl_answer_simple(qc->control, id, CTL_FAILED, "queue database "
		    "error after %" PRId64 " message%s (%" PRId64 " recipient%s)"
		    " returned to sender; the rest are still queued", msgs,
		    PLURAL(msgs), rcpts, PLURAL(rcpts));
		return;
	}
	note[0] = '\0';
	if (p.busy > 0)
		snprintf(note, sizeof(note), "%" PRId64 " recipient%s being "
		    "sent now %s left to that attempt", p.busy, PLURAL(p.busy),
		    p.busy == 1 ? "is" : "are");
	qc_act_answer_note(qc, id, q, msgs, rcpts, clock_mono_ms() - t0, note);
}

/* `moat queue requeue` (postsuper -r) */
static void
qc_requeue(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	struct queue_requeue_count c;
	struct ipc_msg ans;
	int64_t t0 = clock_mono_ms(), ms;
	const char *op;
	char desc[512], msg[512];

	if (qc->dl.conf == NULL) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "no delivery in this process: nothing can be requeued");
		return;
	}
	if (queue_db_ctl_requeue(qc->db, &q->filter, q->flag, time(NULL),
	    qc_requeue_route, qc, &c, &op) == -1) {
		qc_db_unchanged(qc, id, op);
		return;
	}
	ms = clock_mono_ms() - t0;
	if (!q->flag) {
		qc_filter_desc(&q->filter, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", q->filter.user[0] ?
		    q->filter.user : NULL, "op=requeue %s messages=%" PRId64
		    " recipients=%" PRId64 " rerouted=%" PRId64 " unknown=%"
		    PRId64, desc, c.msgs, c.rcpts, c.moved, c.unknown);
		if (qc->kick)
			qc->kick(qc->kick_arg);
	}
	snprintf(msg, sizeof(msg), "%s%" PRId64 " message%s (%" PRId64
	    " recipient%s due now, %" PRId64 " to another route%s) in %.3f s",
	    q->flag ? "dry run: requeue would act on " : "requeued ", c.msgs,
	    PLURAL(c.msgs), c.rcpts, PLURAL(c.rcpts), c.moved,
	    c.unknown ? ", some of a local domain without "
	    "a mailbox in the configuration stay as they were" : "",
	    (double)ms / 1000);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "requeue", 7, requeue_cols, requeue_kinds);
	ctl_ans_row(&ans);
	ipc_put_i64(&ans, c.msgs);
	ipc_put_i64(&ans, c.rcpts);
	ipc_put_i64(&ans, c.moved);
	ipc_put_i64(&ans, c.unknown);
	ipc_put_i64(&ans, ms);
	ipc_put_i64(&ans, q->flag);
	ipc_put_str(&ans, "requeue");
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

/* `moat queue pause DOMAIN|--all` and `resume`: paused_dest, then the
 * scheduler */
static void
qc_pause(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q, int pause)
{
	char esc[CTL_STR_MAX * 4], resc[CTL_STR_MAX * 4];
	const char *what = strcmp(q->a, "*") == 0 ? "all destinations" : q->a;
	const struct conf *c;
	struct relay_table relay;
	int rc;

	/* a local domain's mail goes to the Maildirs, never through
	 * delivery: pausing it would say what does not happen */
	if (pause && qc->dl.conf != NULL && (c = qc->dl.conf(qc->dl.arg)) !=
	    NULL) {
		conf_relay_table(c, &relay);
		if (relay_is_local_domain(&relay, q->a)) {
			ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
			    "%s is a local domain: its mail goes into the "
			    "mailboxes as it arrives; there is no delivery to "
			    "pause", q->a);
			return;
		}
	}
	if (pause)
		rc = queue_db_ctl_pause(qc->db, q->a, q->b, time(NULL));
	else
		rc = queue_db_ctl_resume(qc->db, q->a);
	if (rc == -1) {
		qc_db_failed(qc, id);
		return;
	}
	log_escape(esc, sizeof(esc), q->a, strlen(q->a));
	if (!pause && rc == 0) {
		ctl_answer_simple(qc->control, id, CTL_FAILED,
		    "%s: not paused", what);
		return;
	}
	qc_event(qc, uid, pause ? "queue_pause" : "queue_resume", NULL,
	    "op=%s dest=%s reason=\"%s\"", pause ? "pause" : "resume",
	    strcmp(q->a, "*") == 0 ? "all" : esc,
	    log_escape(resc, sizeof(resc), q->b, strlen(q->b)));
	if (qc->dl.paused != NULL)
		qc->dl.paused(qc->dl.arg);
	if (pause)
		ctl_answer_simple(qc->control, id, CTL_OK, "delivery to %s "
		    "paused; mail for it is still accepted and queued", what);
	else
		ctl_answer_simple(qc->control, id, CTL_OK, "delivery to %s "
		    "resumed", what);
}

static void
qc_act(struct queue_ctl *qc, uint64_t id, uint32_t uid, const struct ctl_req *q)
{
	const struct ctl_filter *f = &q->filter;
	int64_t t0 = clock_mono_ms(), msgs, rcpts;
	const char *op;
	char desc[512];

	if (f->flags & CTL_FILTER_DEAD) {
		qc_act_dead(qc, id, uid, q);
		return;
	}
	if (q->action == CTL_ACT_REINJECT) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "reinject: only dead letters go back into the queue "
		    "(moat queue deadletter reinject)");
		return;
	}
	if (q->action == CTL_ACT_REQUEUE) {
		qc_requeue(qc, id, uid, q);
		return;
	}
	if (q->action == CTL_ACT_BOUNCE) {
		qc_bounce(qc, id, uid, q);
		return;
	}
	if (q->action == CTL_ACT_DELETE && (f->flags & CTL_FILTER_ALL) &&
	    !q->flag) {
		qc_delete_all(qc, id, uid, q);
		return;
	}
	if (queue_db_ctl_act(qc->db, f, q->action, q->flag, time(NULL), &msgs,
	    &rcpts, &op) == -1) {
		qc_db_unchanged(qc, id, op);
		return;
	}
	if (!q->flag) {
		qc_filter_desc(f, desc, sizeof(desc));
		qc_event(qc, uid, "admin_queue", f->user[0] ? f->user : NULL,
		    "op=%s %s messages=%" PRId64 " recipients=%" PRId64,
		    ctl_action_name(q->action), desc, msgs, rcpts);
		if ((q->action == CTL_ACT_RELEASE || q->action == CTL_ACT_RETRY) &&
		    rcpts > 0 && qc->kick)
			qc->kick(qc->kick_arg);
	}
	qc_act_answer(qc, id, q, msgs, rcpts, clock_mono_ms() - t0);
}

static const char *const ev_cols[] = { "id", "time", "type", "client",
    "user", "session", "detail" };
static const enum ctl_kind ev_kinds[] = { CTL_KIND_INT, CTL_KIND_TIME,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR };

static void
qc_event_row_cb(void *arg, int64_t evid, const struct queue_event *ev)
{
	struct qc_rows *q = arg;

	ctl_ans_row(&q->ans);
	ipc_put_i64(&q->ans, evid);
	ipc_put_i64(&q->ans, ev->time);
	ipc_put_str(&q->ans, ev->type);
	ipc_put_str(&q->ans, ev->client_ip);
	ipc_put_str(&q->ans, ev->user);
	ipc_put_str(&q->ans, ev->session);
	ipc_put_str(&q->ans, ev->detail);
	q->n++;
}

static void
qc_events(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	struct queue_events_query eq;
	struct qc_rows rows;
	char msg[128];
	int64_t total;

	memset(&eq, 0, sizeof(eq));
	eq.after = q->after;
	if (q->since > 0)
		eq.since = (int64_t)time(NULL) - q->since;
	eq.type = q->a;
	eq.client_cidr = q->b;
	eq.user = q->c;
	eq.limit = q->limit ? q->limit : QC_EVENTS_DEFAULT;
	ipc_msg_init(&rows.ans, 0, 0);
	rows.n = 0;
	/* the newest eq.limit are shown: say how many older ones are not */
	msg[0] = '\0';
	if ((total = queue_db_ctl_events_count(qc->db, &eq)) > eq.limit)
		snprintf(msg, sizeof(msg), "... %" PRId64 " more (older); use "
		    "--limit %" PRId64 " to see them all", total - eq.limit,
		    total);
	ctl_ans_begin(&rows.ans, CTL_OK, msg);
	ctl_ans_table(&rows.ans, "events", 7, ev_cols, ev_kinds);
	qc_rows_send(qc, id, &rows, queue_db_ctl_events(qc->db, &eq,
	    qc_event_row_cb, &rows));
}

/* The canonical text of a CIDR, so one network is one row. */
static int
qc_cidr_canon(const char *in, char *out, size_t len)
{
	struct cidr c;
	const char *why;

	if (cidr_parse(in, &c, &why) == -1)
		return -1;
	cidr_format(&c, out, len);
	return 0;
}

static int
qc_ban_store(struct queue_ctl *qc, const char *cidr, const char *reason,
    const char *origin, int64_t expires)
{
	struct queue_ban b;

	b.cidr = cidr;
	b.reason = reason;
	b.origin = origin;
	b.created = (int64_t)time(NULL);
	b.expires = expires;
	return queue_db_ctl_ban_store(qc->db, &b);
}

static void
qc_ban_add_req(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	char net[CIDR_STRLEN], esc[CTL_STR_MAX * 4], dur[32];
	int64_t expires = q->duration ? (int64_t)time(NULL) + q->duration : 0;

	if (qc_cidr_canon(q->a, net, sizeof(net)) == -1) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST, "bad CIDR");
		return;
	}
	if (qc_ban_store(qc, net, q->b[0] ? q->b : "admin", "admin",
	    expires) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	qc_event(qc, uid, "ban", NULL, "op=ban_add cidr=%s for=%" PRId64
	    " reason=\"%s\"", net, q->duration,
	    log_escape(esc, sizeof(esc), q->b, strlen(q->b)));
	qc_send_ban_add(qc, net, expires, q->b[0] ? q->b : "admin");
	ctl_answer_simple(qc->control, id, CTL_OK, "banned %s %s", net,
	    q->duration ? (snprintf(esc, sizeof(esc), "for %s",
	    ctl_duration_format(q->duration, dur, sizeof(dur))), esc) :
	    "until removed");
}

static void
qc_ban_del_req(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	char net[CIDR_STRLEN];
	int rc;

	if (qc_cidr_canon(q->a, net, sizeof(net)) == -1) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST, "bad CIDR");
		return;
	}
	if ((rc = queue_db_ctl_ban_del(qc->db, net)) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	if (rc == 0) {
		ctl_answer_simple(qc->control, id, CTL_FAILED, "%s is not banned",
		    net);
		return;
	}
	qc_event(qc, uid, "unban", NULL, "op=ban_del cidr=%s", net);
	qc_send_ban_del(qc, net);
	ctl_answer_simple(qc->control, id, CTL_OK, "unbanned %s", net);
}

static const char *const ban_cols[] = { "cidr", "reason", "origin",
    "created", "expires" };
static const enum ctl_kind ban_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_TIME };

static void
qc_ban_list_cb(void *arg, const struct queue_ban *b)
{
	struct qc_rows *q = arg;

	ctl_ans_row(&q->ans);
	ipc_put_str(&q->ans, b->cidr);
	ipc_put_str(&q->ans, b->reason);
	ipc_put_str(&q->ans, b->origin);
	ipc_put_i64(&q->ans, b->created);
	ipc_put_i64(&q->ans, b->expires);
	q->n++;
}

static void
qc_ban_list(struct queue_ctl *qc, uint64_t id)
{
	struct qc_rows rows;

	ipc_msg_init(&rows.ans, 0, 0);
	rows.n = 0;
	ctl_ans_begin(&rows.ans, CTL_OK, "");
	ctl_ans_table(&rows.ans, "bans", 5, ban_cols, ban_kinds);
	/* the rows read before a failure are answered, as they always were */
	(void)queue_db_ctl_ban_list(qc->db, (int64_t)time(NULL),
	    qc_ban_list_cb, &rows);
	qc_rows_send(qc, id, &rows, 0);
}

static const char *const verify_cols[] = { "address", "result", "reply",
    "updated", "expires" };
static const enum ctl_kind verify_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_TIME };

static void
qc_verify_row_cb(void *arg, const struct queue_verify_row *v)
{
	struct qc_rows *q = arg;

	ctl_ans_row(&q->ans);
	ipc_put_str(&q->ans, v->address);
	ipc_put_str(&q->ans, v->result == PROTO_VERIFY_FOUND ? "found" :
	    "notfound");
	ipc_put_str(&q->ans, v->reply);
	ipc_put_i64(&q->ans, v->updated);
	ipc_put_i64(&q->ans, v->expires);
	q->n++;
}

/* `moat verify list [ADDR]`: the verification answers in force */
static void
qc_verify_list(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	struct qc_rows rows;
	int rc;

	ipc_msg_init(&rows.ans, 0, 0);
	rows.n = 0;
	ctl_ans_begin(&rows.ans, CTL_OK, "");
	ctl_ans_table(&rows.ans, "verify", 5, verify_cols, verify_kinds);
	rc = queue_db_ctl_verify_list(qc->db, (int64_t)time(NULL), q->a,
	    QC_LIST_DEFAULT, qc_verify_row_cb, &rows);
	qc_rows_send(qc, id, &rows, rc);
}

/* `moat verify flush [ADDR]`: the rows go, and the lookup process forgets */
static void
qc_verify_flush(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	struct proto_verify_flush vf;
	struct ipc_msg m;
	char esc[CTL_STR_MAX * 4];
	int64_t n;

	if (queue_db_ctl_verify_flush(qc->db, q->a, &n) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	if (qc->lookup != NULL) {
		vf.address = q->a;
		proto_verify_flush_enc(&m, 0, &vf);
		ipc_send(qc->lookup, &m);
	}
	log_escape_bare(esc, sizeof(esc), q->a, strlen(q->a));
	qc_event(qc, uid, "verify_flush", NULL, "op=verify_flush address=%s "
	    "rows=%" PRId64, q->a[0] ? esc : "all", n);
	ctl_answer_simple(qc->control, id, CTL_OK, "flushed %" PRId64
	    " verification answer%s", n, n == 1 ? "" : "s");
}

static const char *const user_cols[] = { "user", "state", "reason",
    "updated", "queued", "events_24h", "auth_events_24h", "messages_1h" };
static const enum ctl_kind user_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT };

/* `moat user list`: the answer, and the hour's counts beside it */
struct qc_users {
	struct ipc_msg	 ans;
	struct watch	*hour;		/* NULL: none */
	time_t		 now;
};

static void
qc_user_row_cb(void *arg, const struct queue_user_row *u)
{
	struct qc_users *q = arg;
	struct watch_counts wc;

	ctl_ans_row(&q->ans);
	ipc_put_str(&q->ans, u->user);
	ipc_put_str(&q->ans, u->state);
	ipc_put_str(&q->ans, u->reason);
	ipc_put_i64(&q->ans, u->updated);
	ipc_put_i64(&q->ans, u->queued);
	ipc_put_i64(&q->ans, u->events);
	ipc_put_i64(&q->ans, u->auth_events);
	wc.messages = 0;
	if (q->hour != NULL)
		watch_get(q->hour, u->user, q->now, &wc);
	ipc_put_i64(&q->ans, wc.messages);
}

static void
qc_user_list(struct queue_ctl *qc, uint64_t id)
{
	struct qc_users q;

	q.hour = qc->hour;
	q.now = time(NULL);
	ipc_msg_init(&q.ans, 0, 0);
	ctl_ans_begin(&q.ans, CTL_OK, "");
	ctl_ans_table(&q.ans, "users", 8, user_cols, user_kinds);
	/* the rows read before a failure are answered, as they always were */
	(void)queue_db_ctl_users(qc->db, q.now - QC_RECENT_SECS,
	    qc_user_row_cb, &q);
	ctl_ans_end(&q.ans);
	ctl_answer_send(qc->control, id, &q.ans);
}

/*
 * An account active again: its held mail stays held until an admin
 * looks at it. Say how much there is and how to let it go.
 */
static void
qc_user_active_answer(struct queue_ctl *qc, uint64_t id, const char *key,
    enum watch_key_kind kind, const char *ip, const char *sender)
{
	int64_t held = -1;
	char how[WATCH_KEY_MAX * 2 + 96];

	if (kind == WATCH_KEY_USER) {
		held = queue_db_ctl_user_held(qc->db, key, NULL);
		snprintf(how, sizeof(how), "moat queue release --user %s", key);
	} else if (kind == WATCH_KEY_CLIENT) {
		held = queue_db_ctl_user_held(qc->db, NULL, ip);
		snprintf(how, sizeof(how), "moat queue release --client-ip %s",
		    ip);
	} else
		snprintf(how, sizeof(how), "moat queue release --client-ip %s "
		    "--from '%s'", ip, sender[0] ? sender : "<>");
	if (held == 0)
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now active; "
		    "none of its mail is held", key);
	else if (held > 0)
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now active; "
		    "%" PRId64 " queued recipient%s of its mail %s still held: "
		    "look (moat queue list --state held) and release with: %s",
		    key, held, PLURAL(held), held == 1 ? "is" : "are", how);
	else
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now active; "
		    "its held mail stays held: release it with: %s", key, how);
}

/* user forget: the state row of a user deleted from the users file */
static void
qc_user_forget(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	char esc[CTL_STR_MAX * 4];
	int r = queue_db_ctl_user_forget(qc->db, q->a);

	if (r == -1) {
		qc_db_unchanged(qc, id, "user_forget");
		return;
	}
	/* the event is the parent's, which removed the user from the file */
	log_notice(LOG_CAT_CONTROL, "event=user_forget uid=%" PRIu32
	    " user=%s rows=%d", uid, log_escape_bare(esc, sizeof(esc), q->a,
	    strlen(q->a)), r);
	ctl_answer_simple(qc->control, id, CTL_OK, "%s", r > 0 ?
	    "its account state removed" : "it had no account state");
}

static void
qc_user_state(struct queue_ctl *qc, uint64_t id, uint32_t uid,
    const struct ctl_req *q)
{
	const char *state = ctl_user_state_name(q->state), *op;
	int64_t held;
	char esc[CTL_STR_MAX * 4], uesc[CTL_STR_MAX * 4];
	char ip[WATCH_KEY_MAX], sender[WATCH_KEY_MAX], key[WATCH_KEY_MAX];
	enum watch_key_kind kind;

	/* ip:ADDRESS or ip:ADDRESS/SENDER, as the watch names them */
	if (watch_key_parse(q->a, &kind, ip, sizeof(ip), sender,
	    sizeof(sender)) == -1) {
		ctl_answer_simple(qc->control, id, CTL_BAD_REQUEST,
		    "user: an ip: key is ip:ADDRESS or ip:ADDRESS/SENDER "
		    "(ip:ADDRESS/<> for the null sender)");
		return;
	}
	/* the sender as the watch folds it: the admin's case does not matter */
	if (kind == WATCH_KEY_SENDER)
		(void)watch_key_sender(key, sizeof(key), ip, sender);
	else
		snprintf(key, sizeof(key), "%s", q->a);
	/* unsuspend: only what is held or suspended; no row for the others */
	if (q->state == CTL_USER_ACTIVE) {
		char now_state[32];
		int r = queue_db_ctl_user_get(qc->db, key, now_state,
		    sizeof(now_state));

		if (r == -1) {
			qc_db_unchanged(qc, id, "user_get");
			return;
		}
		if (r == 1 || strcmp(now_state, "active") == 0) {
			ctl_answer_simple(qc->control, id, CTL_FAILED, "%s is "
			    "neither held nor suspended; nothing changed", key);
			return;
		}
	}
	if (queue_db_ctl_user_set(qc->db, key, state, q->b,
	    q->state != CTL_USER_ACTIVE, time(NULL), &held, &op) == -1) {
		qc_db_unchanged(qc, id, op);
		return;
	}
	log_escape(uesc, sizeof(uesc), key, strlen(key));
	qc_event(qc, uid, q->state == CTL_USER_ACTIVE ? "unsuspend" :
	    q->state == CTL_USER_HELD ? "hold" : "suspend", key,
	    "op=user_state user=%s state=%s held_recipients=%" PRId64
	    " reason=\"%s\"", uesc, state, held,
	    log_escape(esc, sizeof(esc), q->b, strlen(q->b)));
	qc_send_user(qc, key, state);
	if (q->state == CTL_USER_ACTIVE) {
		qc_user_active_answer(qc, id, key, kind, ip, sender);
		return;
	}
	if (kind == WATCH_KEY_USER &&
	    qc->dl.lost != NULL)
		qc->dl.lost(qc->dl.arg, key);
	if (held > 0)
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now %s; %"
		    PRId64 " queued recipient%s of theirs held", key, state,
		    held, PLURAL(held));
	else
		ctl_answer_simple(qc->control, id, CTL_OK, "%s is now %s", key,
		    state);
}

static const char *const stat_cols[] = { "name", "labels", "value" };
static const enum ctl_kind stat_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT };

static void
stat_row(struct ipc_msg *m, const char *name, const char *labels, int64_t v)
{
	ctl_ans_row(m);
	ipc_put_str(m, name);
	ipc_put_str(m, labels);
	ipc_put_i64(m, v);
}

/* the lifetime counters of the queue process */
static void
stat_lifetime(struct ipc_msg *ans, const struct queue_stats *qs)
{
	char labels[CTL_STR_MAX + 32], esc[CTL_STR_MAX];
	int64_t cum = 0;

	stat_row(ans, "messages_in_total", "", qs->stored);
	stat_row(ans, "messages_out_total", "outcome=\"delivered\"",
	    qs->delivered);
	stat_row(ans, "messages_out_total", "outcome=\"deferred\"",
	    qs->deferred);
	stat_row(ans, "messages_out_total", "outcome=\"bounced\"", qs->bounced);
	stat_row(ans, "messages_out_total", "outcome=\"dead\"", qs->dead);
	stat_row(ans, "messages_out_total", "outcome=\"held\"", qs->held);
	/* a Prometheus histogram: cumulative buckets, sum, count */
	for (size_t i = 0; i <= QUEUE_LATENCY_BUCKETS; i++) {
		cum += qs->latency[i];
		if (i < QUEUE_LATENCY_BUCKETS)
			snprintf(labels, sizeof(labels), "le=\"%d\"",
			    queue_latency_le[i]);
		else
			snprintf(labels, sizeof(labels), "le=\"+Inf\"");
		stat_row(ans, "delivery_latency_seconds_bucket", labels, cum);
	}
	stat_row(ans, "delivery_latency_seconds_sum", "",
	    qs->latency_sum_ms / 1000);
	stat_row(ans, "delivery_latency_seconds_count", "", cum);
	/* event types are ours, but escape anyway: labels are quoted */
	for (size_t i = 0; i < qs->nevents; i++) {
		snprintf(labels, sizeof(labels), "type=\"%s\"",
		    log_escape(esc, sizeof(esc), qs->events[i].type,
		    strlen(qs->events[i].type)));
		stat_row(ans, "events_total", labels, qs->events[i].n);
	}
}

static void
qc_stats(struct queue_ctl *qc, uint64_t id)
{
	struct queue_db_ctl_counts c;
	struct ipc_msg ans;
	int64_t now = time(NULL);
	char labels[64];

	queue_db_ctl_counts(qc->db, now, &c);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "stats", 3, stat_cols, stat_kinds);
	stat_row(&ans, "queue_messages", "", c.messages);
	stat_row(&ans, "queue_bytes", "", c.bytes);
	for (int i = 0; i < QUEUE_RCPT_NSTATES; i++) {
		if (i == QUEUE_RCPT_DELIVERED)
			continue;	/* delivered rows go with their message */
		snprintf(labels, sizeof(labels), "state=\"%s\"", ctl_state_name(i));
		stat_row(&ans, "queue_recipients", labels, c.rcpt[i]);
	}
	stat_row(&ans, "queue_oldest_message_age_seconds", "",
	    c.oldest > 0 && now > c.oldest ? now - c.oldest : 0);
	stat_row(&ans, "bans", "", c.bans);
	stat_row(&ans, "users", "state=\"held\"", c.users_held);
	stat_row(&ans, "users", "state=\"suspended\"", c.users_suspended);
	if (qc->stats != NULL)
		stat_lifetime(&ans, qc->stats);
	if (qc->logins != NULL)
		queue_logins_stats(qc->logins, stat_row, &ans);
	if (c.dead >= 0)
		stat_row(&ans, "deadletter_messages", "", c.dead);
	queue_dnsbl_stats(qc->dnsbl, &ans, stat_row);
	ctl_ans_end(&ans);
	ctl_answer_send(qc->control, id, &ans);
}

/* PROTO_EVENT from the control process (refused callers): store, log */
static void
qc_event_recv(struct queue_ctl *qc, struct ipc_reader *r)
{
	struct queue_event ev;
	struct proto_event e;
	char esc[CTL_STR_MAX * 4];
	const char *f[5];

	/* from control every field is an argument: CTL_STR_MAX at most */
	if (proto_event_dec(r, &e) == -1)
		fatalx("%s: malformed event from control", __func__);
	ev.time = e.time;
	f[0] = e.type;
	f[1] = e.client_ip;
	f[2] = e.user;
	f[3] = e.session;
	f[4] = e.detail;
	for (int i = 0; i < 5; i++)
		if (strlen(f[i]) >= CTL_STR_MAX)
			fatalx("%s: malformed event from control", __func__);
	log_notice(LOG_CAT_CONTROL, "event=%s detail=\"%s\"",
	    f[0][0] ? "recorded" : "?",
	    log_escape(esc, sizeof(esc), f[4], strlen(f[4])));
	ev.type = f[0];
	ev.client_ip = f[1];
	ev.user = f[2];
	ev.session = f[3];
	ev.detail = f[4];
	(void)queue_db_ctl_event_add(qc->db, &ev);	/* logged */
}

/* `moat incident list|show`: queue_incident.c gathers it */
static void
qc_incident(struct queue_ctl *qc, uint64_t id, const struct ctl_req *q)
{
	struct ipc_msg ans;

	ipc_msg_init(&ans, 0, 0);
	if (queue_incident_answer(qc->inc, qc->db, q, (int64_t)time(NULL),
	    &ans) == -1) {
		qc_db_failed(qc, id);
		return;
	}
	ctl_answer_send(qc->control, id, &ans);
}

static void
qc_control_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct queue_ctl *qc = arg;
	struct ctl_req q;
	uint32_t uid;

	if (type == PROTO_EVENT) {
		qc_event_recv(qc, r);
		return;
	}
	if (type != PROTO_CTL_REQUEST)
		fatalx("%s: unexpected message %u from control", __func__, type);
	if (ctl_request_read(p, id, r, &q, &uid) == -1)
		return;
	snprintf(qc->admin, sizeof(qc->admin), "%s", q.admin);
	switch (q.op) {
	case CTL_OP_QUEUE_SUMMARY:
		qc_summary(qc, id);
		break;
	case CTL_OP_QUEUE_LIST:
		qc_list(qc, id, &q);
		break;
	case CTL_OP_QUEUE_SHOW:
		qc_show(qc, id, &q);
		break;
	case CTL_OP_QUEUE_ACT:
		qc_act(qc, id, uid, &q);
		break;
	case CTL_OP_EVENTS:
		qc_events(qc, id, &q);
		break;
	case CTL_OP_BAN_ADD:
		qc_ban_add_req(qc, id, uid, &q);
		break;
	case CTL_OP_BAN_DEL:
		qc_ban_del_req(qc, id, uid, &q);
		break;
	case CTL_OP_BAN_LIST:
		qc_ban_list(qc, id);
		break;
	case CTL_OP_USER_LIST:
		qc_user_list(qc, id);
		break;
	case CTL_OP_USER_STATE:
		qc_user_state(qc, id, uid, &q);
		break;
	case CTL_OP_USER_FORGET:
		qc_user_forget(qc, id, uid, &q);
		break;
	case CTL_OP_STATS:
		qc_stats(qc, id);
		break;
	case CTL_OP_VERIFY_LIST:
		qc_verify_list(qc, id, &q);
		break;
	case CTL_OP_SERIES:
		if (qc->series == NULL)
			qc_db_failed(qc, id);
		else
			queue_series_answer(qc->series, qc->control, id, &q);
		break;
	case CTL_OP_VERIFY_FLUSH:
		qc_verify_flush(qc, id, uid, &q);
		break;
	case CTL_OP_QUEUE_PAUSE:
	case CTL_OP_QUEUE_RESUME:
		qc_pause(qc, id, uid, &q, q.op == CTL_OP_QUEUE_PAUSE);
		break;
	case CTL_OP_BLACKLIST:
		if (qc->dnsbl == NULL)
			ctl_answer_simple(p, id, CTL_FAILED, "no blacklist "
			    "watch in this process");
		else
			queue_dnsbl_ctl(qc->dnsbl, p, id, &q);
		break;
	case CTL_OP_INCIDENTS:
	case CTL_OP_INCIDENT:
		qc_incident(qc, id, &q);
		break;
	default:
		ctl_answer_simple(p, id, CTL_BAD_REQUEST,
		    "%s is not a queue operation", ctl_op_name(q.op));
		break;
	}
	/* the events of this request are written; none other is its */
	qc->admin[0] = '\0';
}

static void
qc_control_close_cb(struct ipc_peer *p, void *arg)
{
	/* the parent stops the daemon when the control process dies */
	log_notice(LOG_CAT_CONTROL, "event=peer_closed peer=control");
}

/* queue_ctl_ban_add - a ban decided by smtp */
void
queue_ctl_ban_add(struct queue_ctl *qc, struct ipc_reader *r)
{
	char net[CIDR_STRLEN], esc[CTL_STR_MAX * 4];
	const char *reason, *origin;
	struct proto_ban b;
	int64_t expires;

	if (qc == NULL)		/* no second connection: logged at start */
		return;
	if (proto_ban_dec(r, &b) == -1 ||
	    qc_cidr_canon(b.cidr, net, sizeof(net)) == -1)
		fatalx("%s: malformed ban from smtp", __func__);
	expires = b.expires;
	reason = b.reason;
	origin = b.origin;
	if (qc_ban_store(qc, net, reason, origin[0] ? origin : "smtp",
	    expires) == 0)
		log_info(LOG_CAT_CONTROL, "event=ban_stored cidr=%s origin=%s "
		    "reason=\"%s\"", net, origin,
		    log_escape(esc, sizeof(esc), reason, strlen(reason)));
}

/* queue_ctl_stored - count a stored message of an authenticated user */
void
queue_ctl_stored(struct queue_ctl *qc, const char *auth_user, size_t nrcpt)
{
	if (qc == NULL || qc->hour == NULL || auth_user == NULL ||
	    auth_user[0] == '\0')
		return;
	/* recipients are not asked for: no per-recipient arrays needed */
	(void)nrcpt;
	watch_message(qc->hour, auth_user, time(NULL), 0, NULL, NULL);
}

/* queue_ctl_set_dnsbl - the blacklist watch's state (not owned) */
void
queue_ctl_set_dnsbl(struct queue_ctl *qc, struct queue_dnsbl *qd)
{
	if (qc != NULL)
		qc->dnsbl = qd;
}

/* queue_ctl_login - a login with the right password, for the incidents */
void
queue_ctl_login(struct queue_ctl *qc, const char *user, const char *ip)
{
	if (qc != NULL)
		queue_incident_login(qc->inc, user, ip, (int64_t)time(NULL));
}

/* queue_ctl_set_stats - where the lifetime counters are */
void
queue_ctl_set_stats(struct queue_ctl *qc, const struct queue_stats *st)
{
	if (qc != NULL)
		qc->stats = st;
}

/* queue_ctl_set_logins - see queue_ctl.h */
void
queue_ctl_set_logins(struct queue_ctl *qc, struct queue_logins *l)
{
	if (qc != NULL)
		qc->logins = l;
}

/* queue_ctl_set_series - see queue_ctl.h */
void
queue_ctl_set_series(struct queue_ctl *qc, struct queue_series *s)
{
	if (qc != NULL)
		qc->series = s;
}

/* queue_ctl_set_lookup - the lookup process's channel (NULL: none) */
void
queue_ctl_set_lookup(struct queue_ctl *qc, struct ipc_peer *lookup)
{
	if (qc != NULL)
		qc->lookup = lookup;
}

/* queue_ctl_set_delivery - the delivery side's hooks (copied) */
void
queue_ctl_set_delivery(struct queue_ctl *qc, const struct queue_ctl_delivery *d)
{
	if (qc == NULL)
		return;
	qc->dl = *d;
	if (qc->dl.fail != NULL)
		qc_bounce_stranded(qc);
}

/* queue_ctl_smtp_closed - stop sending to smtp */
void
queue_ctl_smtp_closed(struct queue_ctl *qc)
{
	if (qc != NULL)
		qc->smtp_closed = 1;
}

/* queue_ctl_new - open the connection, prepare, announce the lists */
struct queue_ctl *
queue_ctl_new(struct event_base *base, const struct conf *conf,
    int control_fd, struct ipc_peer *smtp, void (*kick)(void *),
    void *kick_arg, char *err, size_t errlen)
{
	struct queue_ctl *qc;
	struct timeval tv = { QC_EXPIRE_SECS, 0 };

	if ((qc = calloc(1, sizeof(*qc))) == NULL)
		fatal("%s: calloc", __func__);
	qc->base = base;
	qc->smtp = smtp;
	qc->kick = kick;
	qc->kick_arg = kick_arg;
	if ((qc->db = queue_db_ctl_open(conf->spool_dir, err, errlen)) == NULL) {
		queue_ctl_free(qc);
		return NULL;
	}
	if ((qc->hour = watch_new(QC_HOUR_SECS)) == NULL)
		fatal("%s: watch_new", __func__);
	qc->inc = queue_incident_new();
	if ((qc->ev_expire = event_new(base, -1, EV_PERSIST, qc_expire_cb,
	    qc)) == NULL)
		fatal("%s: event_new", __func__);
	event_add(qc->ev_expire, &tv);
	if (control_fd >= 0)
		qc->control = ipc_peer_new(base, control_fd, "control",
		    qc_control_msg_cb, qc_control_close_cb, qc);
	qc_expire_cb(-1, 0, qc);
	qc_send_bans(qc);
	qc_send_users(qc);
	return qc;
}

/* queue_ctl_free - release everything */
void
queue_ctl_free(struct queue_ctl *qc)
{
	if (qc == NULL)
		return;
	ipc_peer_free(qc->control);
	watch_free(qc->hour);
	queue_incident_free(qc->inc);
	if (qc->ev_expire)
		event_free(qc->ev_expire);
	queue_db_ctl_close(qc->db);
	free(qc);
}
