/*
 * control_log.c - runtime log levels, changed from the control socket.
 *
 * `moat log CAT LEVEL --for 30m` reaches the parent as LOG_SET. The
 * parent applies it, sends PROTO_LOG_LEVEL to each child, records an
 * event (PROTO_EVENT to the queue) and arms a timer per category; when
 * it fires, the level that was in force before the first timed change
 * comes back everywhere. A change without --for cancels a pending
 * revert and stays.
 *
 * A reload does not undo them (control_log_reload): a timed level stays
 * until its time runs out, then the reloaded file's level comes back;
 * an untimed one stays unless the reload changes that category's level
 * in the file, which then wins.
 *
 * Public: control_log_new, control_log_free, control_log_request,
 * control_log_reload, control_log_apply, control_child_msg.
 *
 * SECURITY: the request was checked twice (control process, then
 * ctl_req_decode here); categories and levels are enumerations, so
 * nothing from the administrator reaches a format string or a path.
 * LIMITS: one pending revert per category.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "control/control_log.h"
#include "daemon/config.h"
#include "ctl/ctl_msg.h"
#include "daemon/proc.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/log.h"

struct cl_revert {
	struct control_log	*cl;
	int			 cat;
	struct event		*ev;		/* owned */
	int			 active;
	enum log_level		 to;		/* level to go back to */
	time_t			 at;		/* when */
	int			 runtime;	/* set without --for: stays */
};

/* Owned by the parent. */
struct control_log {
	struct event_base	*base;
	struct ipc_peer *const	*peers;		/* not owned */
	struct cl_revert	 rev[LOG_CAT_COUNT];
};

/* Set a level here and in every child. */
static void
cl_set(struct control_log *cl, int cat, enum log_level lvl)
{
	struct proto_log_level ll = { (uint8_t)cat, (uint8_t)lvl };
	struct ipc_msg m;

	log_set_level((enum log_cat)cat, lvl);
	for (int i = 1; i < PROC_COUNT; i++) {
		if (cl->peers[i] == NULL)
			continue;
		proto_log_level_enc(&m, 0, &ll);
		ipc_send(cl->peers[i], &m);
	}
}

static void
cl_event(struct control_log *cl, uint32_t uid, const char *detail)
{
	if (cl->peers[PROC_QUEUE] == NULL)
		return;
	proto_event_send(cl->peers[PROC_QUEUE], "admin_log", "", "", "",
	    detail);
	(void)uid;
}

static void
cl_revert_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cl_revert *r = arg;

	r->active = 0;
	cl_set(r->cl, r->cat, r->to);
	log_notice(LOG_CAT_CONTROL, "event=log_level_reverted category=%s "
	    "level=%s", log_cat_name((enum log_cat)r->cat),
	    log_level_name(r->to));
}

/* control_log_new - the parent's runtime log state */
struct control_log *
control_log_new(struct event_base *base, struct ipc_peer *const *peers)
{
	struct control_log *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		fatal("%s: calloc", __func__);
	cl->base = base;
	cl->peers = peers;
	for (int i = 0; i < LOG_CAT_COUNT; i++) {
		cl->rev[i].cl = cl;
		cl->rev[i].cat = i;
		if ((cl->rev[i].ev = evtimer_new(base, cl_revert_cb,
		    &cl->rev[i])) == NULL)
			fatal("%s: evtimer_new", __func__);
	}
	return cl;
}

/* control_log_free - release the timers */
void
control_log_free(struct control_log *cl)
{
	if (cl == NULL)
		return;
	for (int i = 0; i < LOG_CAT_COUNT; i++)
		event_free(cl->rev[i].ev);
	free(cl);
}

static const char *const log_cols[] = { "category", "level", "reverts_to",
    "reverts_in" };
static const enum ctl_kind log_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_DUR };

static void
cl_get(struct control_log *cl, struct ipc_peer *from, uint64_t id)
{
	struct ipc_msg ans;
	time_t now = time(NULL);

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "log", 4, log_cols, log_kinds);
	for (int i = 0; i < LOG_CAT_COUNT; i++) {
		const struct cl_revert *r = &cl->rev[i];

		ctl_ans_row(&ans);
		ipc_put_str(&ans, log_cat_name((enum log_cat)i));
		ipc_put_str(&ans, log_level_name(log_get_level((enum log_cat)i)));
		ipc_put_str(&ans, r->active ? log_level_name(r->to) : "");
		ipc_put_i64(&ans, r->active ? (int64_t)(r->at - now) : 0);
	}
	ctl_ans_end(&ans);
	ctl_answer_send(from, id, &ans);
}

/* control_log_request - LOG_GET or LOG_SET from the control process */
void
control_log_request(struct control_log *cl, struct ipc_peer *from,
    uint64_t id, struct ipc_reader *r)
{
	struct ctl_req q;
	struct cl_revert *rv;
	uint32_t uid;
	char detail[160], dur[32];

	if (ctl_request_read(from, id, r, &q, &uid) == -1)
		return;
	if (q.op == CTL_OP_LOG_GET) {
		cl_get(cl, from, id);
		return;
	}
	if (q.op != CTL_OP_LOG_SET) {
		ctl_answer_simple(from, id, CTL_BAD_REQUEST,
		    "%s is not a parent operation", ctl_op_name(q.op));
		return;
	}
	rv = &cl->rev[q.cat];
	if (q.duration > 0) {
		struct timeval tv = { (time_t)q.duration, 0 };

		if (!rv->active)
			rv->to = log_get_level((enum log_cat)q.cat);
		rv->active = 1;
		rv->at = time(NULL) + (time_t)q.duration;
		evtimer_add(rv->ev, &tv);
	} else if (rv->active) {
		evtimer_del(rv->ev);
		rv->active = 0;
	}
	rv->runtime = q.duration == 0;
	cl_set(cl, q.cat, (enum log_level)q.level);
	snprintf(detail, sizeof(detail), "uid=%" PRIu32 " op=log_set "
	    "category=%s level=%s for=%" PRId64, uid,
	    log_cat_name((enum log_cat)q.cat),
	    log_level_name((enum log_level)q.level), q.duration);
	log_notice(LOG_CAT_CONTROL, "event=log_level %s", detail);
	cl_event(cl, uid, detail);
	if (q.duration > 0)
		ctl_answer_simple(from, id, CTL_OK, "%s: %s for %s, then %s",
		    log_cat_name((enum log_cat)q.cat),
		    log_level_name((enum log_level)q.level),
		    ctl_duration_format(q.duration, dur, sizeof(dur)),
		    log_level_name(rv->to));
	else
		ctl_answer_simple(from, id, CTL_OK, "%s: %s",
		    log_cat_name((enum log_cat)q.cat),
		    log_level_name((enum log_level)q.level));
}

/*
 * control_log_reload - after a reload has set the levels of nc here and
 * sent nc to the children (whose RELOAD sets them there): the levels set
 * with `moat log` come back on top. A pending revert now goes to nc's
 * level. old is the configuration before the reload.
 */
void
control_log_reload(struct control_log *cl, const struct conf *old,
    const struct conf *nc, const int *before)
{
	for (int i = 0; i < LOG_CAT_COUNT; i++) {
		struct cl_revert *r = &cl->rev[i];

		if (r->active) {
			r->to = (enum log_level)nc->log_level[i];
			cl_set(cl, i, (enum log_level)before[i]);
		} else if (r->runtime && old->log_level[i] == nc->log_level[i])
			cl_set(cl, i, (enum log_level)before[i]);
		else
			r->runtime = 0;
	}
}

/* control_log_apply - a level sent by the parent */
int
control_log_apply(struct ipc_reader *r)
{
	struct proto_log_level ll;
	uint8_t cat, lvl;

	if (proto_log_level_dec(r, &ll) == -1)
		return -1;
	cat = ll.cat;
	lvl = ll.level;
	if (cat >= LOG_CAT_COUNT || lvl >= LOG_LVL_COUNT)
		return -1;
	log_set_level((enum log_cat)cat, (enum log_level)lvl);
	log_debug(LOG_CAT_CONTROL, "event=log_level category=%s level=%s",
	    log_cat_name((enum log_cat)cat), log_level_name((enum log_level)lvl));
	return 0;
}

/*
 * control_child_msg - the parent's messages a child without state to
 * reload takes alike: SHUTDOWN ends base's loop, RELOAD is checked and
 * ignored (what such a child holds needs a restart), LOG_LEVEL is
 * applied. 1 when taken, 0 for another type; a malformed one is fatal.
 * A RELOAD is answered with PROTO_READY on parent, as every child does.
 */
int
control_child_msg(struct event_base *base, struct ipc_peer *parent,
    uint16_t type, struct ipc_reader *r)
{
	struct proto_reload rl;

	switch (type) {
	case PROTO_RELOAD:
		if (proto_reload_dec(r, &rl) == -1)
			fatalx("%s: bad RELOAD", __func__);
		proto_ready_send(parent, PROTO_READY_RELOAD, 1, NULL);
		return 1;
	case PROTO_SHUTDOWN:
		if (proto_empty_dec(r) == -1)
			fatalx("%s: bad SHUTDOWN", __func__);
		event_base_loopexit(base, NULL);
		return 1;
	case PROTO_LOG_LEVEL:		/* moat log CAT LEVEL */
		if (control_log_apply(r) == -1)
			fatalx("%s: bad LOG_LEVEL", __func__);
		return 1;
	default:
		return 0;
	}
}
