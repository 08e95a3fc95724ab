/*
 * queue_dnsbl.c - the blacklist watch's state, kept by the queue.
 *
 * Public: queue_dnsbl_new, queue_dnsbl_free, queue_dnsbl_set_conf,
 * queue_dnsbl_result, queue_dnsbl_ctl, queue_dnsbl_stats.
 *
 * The mta looks the own addresses up (mta_dnsbl.c) and sends the
 * outcome of each check, one PROTO_DNSBL_RESULT. Here each pair of
 * address and list has its state: listed or not, since when, the
 * listing's codes and reason, the last error. A pair that becomes
 * listed is an event own_ip_listed, a log line at warn with alert=yes
 * and a run of alert_command (MOAT_EVENT=own_ip_listed, MOAT_CLIENT the
 * address, MOAT_DETAIL the list, codes and reason); a listed pair that
 * answers clean is own_ip_delisted. An error (no answer, SERVFAIL, a
 * refusal by the list) changes nothing but the error counters: a DNS
 * failure is never a delisting. Pairs the check no longer covers (the
 * configuration changed) are dropped.
 *
 * The state lives in memory only: after a restart the first check
 * finds the listings again, and reports them again, which is what an
 * administrator who restarted wants to hear.
 *
 * `moat blacklist` shows the pairs; `moat blacklist check` asks the mta
 * for a check now (PROTO_DNSBL_CHECK) and answers when it is done;
 * `moat status` shows the listings (ctl_cli.c asks for the table).
 *
 * SECURITY: codes and reasons come from DNS answers through the mta
 * (printable ASCII, bounded there); they are escaped in the log line and
 * stored as event detail, which every reader escapes where it prints.
 * A malformed PROTO_DNSBL_RESULT is fatal: it comes from a sibling.
 * LIMITS: QD_PAIRS_MAX pairs (MTA_DNSBL_ADDRS_MAX * MTA_DNSBL_ZONES_MAX),
 * QD_PENDING_MAX admin checks at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl_msg.h"
#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/log.h"
#include "mta/mta_dnsbl.h"
#include "queue/queue_alert.h"
#include "queue/queue_db.h"
#include "queue/queue_dnsbl.h"
#include "queue/sched.h"

#define QD_PAIRS_MAX	(MTA_DNSBL_ADDRS_MAX * MTA_DNSBL_ZONES_MAX)
#define QD_PENDING_MAX	MTA_DNSBL_WAITERS	/* the mta's bound */
#define QD_LISTS_MAX	MTA_DNSBL_ZONES_MAX

/* one own address on one list */
struct qd_pair {
	char	 address[PROTO_IP_MAX];
	char	 zone[256];
	int	 listed;
	int64_t	 since;		/* listed since (the check's time) */
	int64_t	 checked;	/* the last answer, 0: none yet */
	char	 answer[PROTO_DNSBL_TEXT_MAX];	/* the listing's codes */
	char	 reason[PROTO_DNSBL_TEXT_MAX];
	char	 error[PROTO_DNSBL_TEXT_MAX];	/* the last lookup's, "" */
	int	 seen;		/* in the check being applied */
};

/* lookups and failures of one list, since start */
struct qd_list {
	char	 zone[256];
	int64_t	 checks, errors;
};

/* an admin's `moat blacklist check` waiting for the mta */
struct qd_pending {
	uint64_t	 mta_id;	/* 0: free */
	uint64_t	 ctl_id;
	struct ipc_peer	*control;
};

struct queue_dnsbl {
	const struct conf	*conf;		/* not owned */
	struct queue_db		*db;		/* not owned */
	struct sched		*sched;		/* not owned, NULL: no mta */
	struct qd_pair		 pairs[QD_PAIRS_MAX];
	size_t			 npairs;
	struct qd_list		 lists[QD_LISTS_MAX * 2];
	size_t			 nlists;
	int64_t			 last_check;	/* 0: none yet */
	struct qd_pending	 pending[QD_PENDING_MAX];
	uint64_t		 next_id;
};

/* queue_dnsbl_new - nothing known yet */
struct queue_dnsbl *
queue_dnsbl_new(const struct conf *conf, struct queue_db *db,
    struct sched *sched)
{
	struct queue_dnsbl *qd;

	if ((qd = calloc(1, sizeof(*qd))) == NULL)
		fatal("%s: calloc", __func__);
	qd->conf = conf;
	qd->db = db;
	qd->sched = sched;
	return qd;
}

void
queue_dnsbl_free(struct queue_dnsbl *qd)
{
	free(qd);
}

void
queue_dnsbl_set_conf(struct queue_dnsbl *qd, const struct conf *conf)
{
	if (qd == NULL)
		return;
	qd->conf = conf;
	if (!conf->blacklist_watch) {	/* no stale listings while off */
		qd->npairs = 0;
		qd->last_check = 0;
	}
}

static struct qd_pair *
pair_get(struct queue_dnsbl *qd, const char *address, const char *zone)
{
	struct qd_pair *p;

	for (size_t i = 0; i < qd->npairs; i++)
		if (strcmp(qd->pairs[i].address, address) == 0 &&
		    strcmp(qd->pairs[i].zone, zone) == 0)
			return &qd->pairs[i];
	if (qd->npairs == QD_PAIRS_MAX)
		return NULL;
	p = &qd->pairs[qd->npairs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->address, sizeof(p->address), "%s", address);
	snprintf(p->zone, sizeof(p->zone), "%s", zone);
	return p;
}

/* the counters of zone; lists no longer configured stay counted */
static struct qd_list *
list_get(struct queue_dnsbl *qd, const char *zone)
{
	for (size_t i = 0; i < qd->nlists; i++)
		if (strcmp(qd->lists[i].zone, zone) == 0)
			return &qd->lists[i];
	if (qd->nlists == sizeof(qd->lists) / sizeof(qd->lists[0]))
		return NULL;
	snprintf(qd->lists[qd->nlists].zone, sizeof(qd->lists[0].zone), "%s",
	    zone);
	return &qd->lists[qd->nlists++];
}

/* record, log and (a listing) announce a change of p */
static void
pair_changed(struct queue_dnsbl *qd, const struct qd_pair *p, int64_t now)
{
	struct queue_event ev;
	struct queue_alert a;
	char detail[PROTO_DNSBL_TEXT_MAX * 2 + 320];
	char esc[sizeof(detail) * 4];

	if (p->listed)
		snprintf(detail, sizeof(detail), "list=%s answer=%s reason=%s",
		    p->zone, p->answer, p->reason[0] ? p->reason : "-");
	else
		snprintf(detail, sizeof(detail), "list=%s", p->zone);
	log_escape(esc, sizeof(esc), detail, strlen(detail));
	if (p->listed)
		log_warn(LOG_CAT_POLICY, "event=own_ip_listed address=%s "
		    "detail=\"%s\" alert=yes", p->address, esc);
	else
		log_notice(LOG_CAT_POLICY, "event=own_ip_delisted address=%s "
		    "detail=\"%s\"", p->address, esc);
	memset(&ev, 0, sizeof(ev));
	ev.time = now;
	if (p->listed)
		ev.type = "own_ip_listed";
	else
		ev.type = "own_ip_delisted";
	ev.client_ip = p->address;
	ev.detail = detail;
	(void)queue_db_event_add(qd->db, &ev, 1);	/* logged there */
	if (!p->listed)
		return;
	memset(&a, 0, sizeof(a));
	a.event = ev.type;
	a.client = p->address;
	a.detail = detail;
	queue_alert_run(qd->conf->alert_command, &a);
}

/* one result item onto its pair */
static void
apply_item(struct queue_dnsbl *qd, const struct proto_dnsbl_item *it,
    int64_t when)
{
	struct qd_pair *p;
	struct qd_list *l;

	if ((l = list_get(qd, it->zone)) != NULL) {
		l->checks++;
		if (it->status == PROTO_DNSBL_ERROR)
			l->errors++;
	}
	if ((p = pair_get(qd, it->address, it->zone)) == NULL)
		return;
	p->seen = 1;
	if (it->status == PROTO_DNSBL_ERROR) {
		snprintf(p->error, sizeof(p->error), "%s", it->answer);
		return;			/* what was known stays */
	}
	p->error[0] = '\0';
	p->checked = when;
	if (it->status == PROTO_DNSBL_LISTED) {
		snprintf(p->answer, sizeof(p->answer), "%s", it->answer);
		snprintf(p->reason, sizeof(p->reason), "%s", it->reason);
		if (!p->listed) {
			p->listed = 1;
			p->since = when;
			pair_changed(qd, p, time(NULL));
		}
	} else if (p->listed) {
		p->listed = 0;
		pair_changed(qd, p, time(NULL));
		p->answer[0] = p->reason[0] = '\0';
		p->since = 0;
	}
}

static void answer_state(struct queue_dnsbl *qd, struct ipc_peer *control,
    uint64_t id, const char *note);

/* queue_dnsbl_result - PROTO_DNSBL_RESULT: apply, answer a waiting admin */
void
queue_dnsbl_result(void *arg, uint64_t id, struct ipc_reader *r)
{
	struct queue_dnsbl *qd = arg;
	struct proto_dnsbl_item it;
	int64_t when;
	uint32_t n;
	size_t k;

	if (proto_dnsbl_result_dec(r, &when, &n) == -1)
		fatalx("%s: malformed blacklist result from mta", __func__);
	for (k = 0; k < qd->npairs; k++)
		qd->pairs[k].seen = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (proto_dnsbl_item_dec(r, &it) == -1)
			fatalx("%s: malformed blacklist result from mta",
			    __func__);
		apply_item(qd, &it, when);
	}
	if (proto_end_dec(r) == -1)
		fatalx("%s: malformed blacklist result from mta", __func__);
	qd->last_check = when;
	/* pairs the check did not cover are no longer configured */
	for (k = 0; k < qd->npairs; ) {
		if (qd->pairs[k].seen) {
			k++;
			continue;
		}
		qd->pairs[k] = qd->pairs[--qd->npairs];
	}
	if (id == 0)
		return;
	for (k = 0; k < QD_PENDING_MAX; k++)
		if (qd->pending[k].mta_id == id) {
			qd->pending[k].mta_id = 0;
			answer_state(qd, qd->pending[k].control,
			    qd->pending[k].ctl_id, "checked now");
			return;
		}
	log_warn(LOG_CAT_CONTROL, "event=blacklist_result_unclaimed id=%"
	    PRIu64, id);
}

static const char *const bl_cols[] = { "address", "list", "listed",
    "since", "answer", "reason", "checked", "error" };
static const enum ctl_kind bl_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_FLAG, CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_TIME,
    CTL_KIND_STR };

/* the table "blacklist": one row a pair, the listed ones first */
static void
answer_state(struct queue_dnsbl *qd, struct ipc_peer *control, uint64_t id,
    const char *note)
{
	struct ipc_msg ans;
	char msg[256];
	size_t listed = 0;

	for (size_t i = 0; i < qd->npairs; i++)
		listed += qd->pairs[i].listed != 0;
	if (!qd->conf->blacklist_watch)
		snprintf(msg, sizeof(msg), "the blacklist watch is off "
		    "(blacklist_watch = no)");
	else if (qd->last_check == 0)
		snprintf(msg, sizeof(msg), "no check yet");
	else
		snprintf(msg, sizeof(msg), "%s: %zu listing%s of %zu "
		    "(address, list) pair%s", note, listed,
		    listed == 1 ? "" : "s", qd->npairs,
		    qd->npairs == 1 ? "" : "s");
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "blacklist", sizeof(bl_cols) / sizeof(bl_cols[0]),
	    bl_cols, bl_kinds);
	for (int pass = 1; pass >= 0; pass--)
		for (size_t i = 0; i < qd->npairs; i++) {
			const struct qd_pair *p = &qd->pairs[i];

			if (p->listed != pass)
				continue;
			ctl_ans_row(&ans);
			ipc_put_str(&ans, p->address);
			ipc_put_str(&ans, p->zone);
			ipc_put_i64(&ans, p->listed);
			ipc_put_i64(&ans, p->since);
			ipc_put_str(&ans, p->answer);
			ipc_put_str(&ans, p->reason);
			ipc_put_i64(&ans, p->checked);
			ipc_put_str(&ans, p->error);
		}
	ctl_ans_end(&ans);
	ctl_answer_send(control, id, &ans);
}

/* queue_dnsbl_ctl - `moat blacklist [check]` */
void
queue_dnsbl_ctl(struct queue_dnsbl *qd, struct ipc_peer *control,
    uint64_t id, const struct ctl_req *q)
{
	struct qd_pending *slot = NULL;
	struct ipc_msg m;

	if (q->flag == 0 || !qd->conf->blacklist_watch) {
		answer_state(qd, control, id, "last check");
		return;
	}
	for (size_t k = 0; k < QD_PENDING_MAX && slot == NULL; k++)
		if (qd->pending[k].mta_id == 0)
			slot = &qd->pending[k];
	if (slot == NULL) {
		ctl_answer_simple(control, id, CTL_FAILED, "too many blacklist "
		    "checks at once");
		return;
	}
	if (++qd->next_id == 0)
		qd->next_id = 1;
	proto_empty_enc(&m, PROTO_DNSBL_CHECK, qd->next_id);
	if (sched_mta_send(qd->sched, &m) == -1) {
		ctl_answer_simple(control, id, CTL_FAILED, "the mta process "
		    "is not running");
		return;
	}
	slot->mta_id = qd->next_id;
	slot->ctl_id = id;
	slot->control = control;
}

/* queue_dnsbl_stats - the gauge a pair and the counters a list */
void
queue_dnsbl_stats(const struct queue_dnsbl *qd, struct ipc_msg *ans,
    void (*stat_row)(struct ipc_msg *, const char *, const char *, int64_t))
{
	char labels[PROTO_IP_MAX + 300];

	if (qd == NULL)
		return;
	/* addresses and zones passed the configuration's checks: no quote
	 * or backslash can be in them */
	for (size_t i = 0; i < qd->npairs; i++) {
		snprintf(labels, sizeof(labels), "address=\"%s\",list=\"%s\"",
		    qd->pairs[i].address, qd->pairs[i].zone);
		stat_row(ans, "dnsbl_listed", labels, qd->pairs[i].listed);
	}
	for (size_t i = 0; i < qd->nlists; i++) {
		snprintf(labels, sizeof(labels), "list=\"%s\"",
		    qd->lists[i].zone);
		stat_row(ans, "dnsbl_checks_total", labels,
		    qd->lists[i].checks);
		stat_row(ans, "dnsbl_errors_total", labels,
		    qd->lists[i].errors);
	}
}
