/*
 * smtp_ctl.c - control operations in the network process.
 *
 * `moat sessions` lists the session table (with the bytes of replies
 * each session has not yet written: "output"); `moat sessions kill` ends
 * sessions by id, client network or authenticated user (the client
 * gets 421 and the connection closes); `moat stats` gets the session
 * counts and the lifetime counters (srv->stats: sessions, rejections
 * by reason, AUTH results; reverse DNS lookups). (The ban list and account states the queue sends are handled
 * in smtp_server.c.)
 *
 * Public: smtp_ctl_start, smtp_ctl_stop.
 *
 * SECURITY: requests come from the control process, which checked the
 * caller's credentials and the arguments; they are decoded and checked
 * again here. Session fields that came from the network (HELO, user)
 * are sent as data and escaped by whoever prints them. Every kill is
 * recorded as an event with the administrator's uid.
 * LIMITS: none beyond the session table's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "ctl/ctl_msg.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "policy/banlist.h"
#include "smtp/smtp.h"
#include "smtp/smtp_ctl.h"
#include "smtp/smtp_rdns.h"

/* One per smtp process. */
static struct {
	struct smtp_server	*srv;
	struct ipc_peer		*control;	/* owned */
} sc;

/* the order of enum smtp_state */
static const char *const sc_state_names[SMTP_STATE_COUNT] = {
	"connected", "helo", "idle", "mail", "rcpt", "data", "auth", "wait",
	"tls", "closing"
};

/* proxy: the load balancer a PROXY header came through, "" direct */
static const char *const sess_cols[] = { "id", "listener", "client",
    "proxy", "rdns", "helo", "user", "tls", "state", "command", "started",
    "duration", "bytes", "messages", "output" };
static const enum ctl_kind sess_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_DUR,
    CTL_KIND_SIZE, CTL_KIND_INT, CTL_KIND_SIZE };

static void
sc_sessions(uint64_t id)
{
	struct smtp_session *s;
	struct ipc_msg ans;
	time_t now = time(NULL);
	char msg[64];

	snprintf(msg, sizeof(msg), "%zu session%s", sc.srv->n_sessions,
	    sc.srv->n_sessions == 1 ? "" : "s");
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "sessions", sizeof(sess_cols) / sizeof(sess_cols[0]),
	    sess_cols, sess_kinds);
	TAILQ_FOREACH(s, &sc.srv->sessions, entry) {
		ctl_ans_row(&ans);
		ipc_put_str(&ans, s->idstr);
		ipc_put_str(&ans, s->listener && s->listener->conf ?
		    s->listener->conf->name : "");
		ipc_put_str(&ans, s->ip);
		ipc_put_str(&ans, s->proxy_ip);
		ipc_put_str(&ans, s->rdns[0] ? s->rdns : "-");
		ipc_put_str(&ans, s->helo);
		ipc_put_str(&ans, s->authenticated ? s->auth_user : "");
		ipc_put_str(&ans, s->tls ? (s->tls_desc[0] ? s->tls_desc : "yes") :
		    "");
		ipc_put_str(&ans, s->state < SMTP_STATE_COUNT ?
		    sc_state_names[s->state] : "?");
		ipc_put_str(&ans, s->last_cmd ? s->last_cmd : "");
		ipc_put_i64(&ans, (int64_t)s->started);
		ipc_put_i64(&ans, (int64_t)(now - s->started));
		ipc_put_i64(&ans, (int64_t)s->bytes_in);
		ipc_put_i64(&ans, s->n_msgs);
		ipc_put_i64(&ans, (int64_t)evbuffer_get_length(
		    bufferevent_get_output(s->bev)));
	}
	ctl_ans_end(&ans);
	ctl_answer_send(sc.control, id, &ans);
}

static void
sc_kill(uint64_t id, uint32_t uid, const struct ctl_req *q)
{
	struct smtp_session *s, *tmp;
	struct cidr net;
	const char *why;
	char detail[256], reply[320], who[128];
	int n = 0;

	if (q->a[0] && cidr_parse(q->a, &net, &why) == -1) {
		ctl_answer_simple(sc.control, id, CTL_BAD_REQUEST, "bad CIDR: %s",
		    why);
		return;
	}
	snprintf(reply, sizeof(reply), "421 4.7.0 %s Session closed by the "
	    "administrator", sc.srv->conf->hostname);
	for (s = TAILQ_FIRST(&sc.srv->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		if (q->id != 0 && s->id != q->id)
			continue;
		if (q->a[0] && !cidr_contains(&net, s->addr))
			continue;
		if (q->b[0] && (!s->authenticated ||
		    strcmp(s->auth_user, q->b) != 0))
			continue;
		if (s->state == SMTP_STATE_CLOSING)
			continue;
		snprintf(detail, sizeof(detail), "%s op=session_kill",
		    ctl_req_who(q, uid, who, sizeof(who)));
		smtp_server_event(sc.srv, "admin_kill", s->ip,
		    s->authenticated ? s->auth_user : "", s->idstr, detail);
		log_notice(LOG_CAT_CONTROL, "session=%s event=admin_kill "
		    "client=%s %s", s->idstr, s->ip, who);
		smtp_session_kill(s, reply, "killed by the administrator");
		n++;
	}
	if (n == 0 && q->id != 0)
		ctl_answer_simple(sc.control, id, CTL_FAILED,
		    "no session %016" PRIx64, q->id);
	else
		ctl_answer_simple(sc.control, id, CTL_OK, "killed %d session%s", n,
		    n == 1 ? "" : "s");
}

/* the order of enum smtp_reject: the reason label of rejections_total */
static const char *const sc_reject_names[SMTP_REJ_COUNT] = {
	"relay_denied", "unknown_user", "spoofed_sender", "sender_mismatch",
	"dnsbl", "limit", "banned", "improper_pipelining", "data_error"
};

static const char *const stat_cols[] = { "name", "labels", "value" };
static const enum ctl_kind stat_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT };

static void
sc_stat(struct ipc_msg *m, const char *name, const char *labels, int64_t v)
{
	ctl_ans_row(m);
	ipc_put_str(m, name);
	ipc_put_str(m, labels);
	ipc_put_i64(m, v);
}

static void
sc_stats(uint64_t id)
{
	const struct smtp_stats *st = &sc.srv->stats;
	uint64_t lookups, cached;
	struct smtp_session *s;
	struct ipc_msg ans;
	/* the configured listeners and the submit_socket's */
	int64_t per[CONF_MAX_LISTENERS + 1] = { 0 }, auth = 0, tls = 0, susp = 0;
	char labels[128];

	TAILQ_FOREACH(s, &sc.srv->sessions, entry) {
		if (s->listener && s->listener->index <= CONF_MAX_LISTENERS)
			per[s->listener->index]++;
		auth += s->authenticated != 0;
		tls += s->tls != 0;
	}
	susp = (int64_t)sc.srv->n_suspended;
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "stats", 3, stat_cols, stat_kinds);
	for (size_t i = 0; i < sc.srv->n_listeners; i++) {
		snprintf(labels, sizeof(labels), "listener=\"%s\"",
		    sc.srv->listeners[i].conf->name);
		sc_stat(&ans, "sessions", labels, per[i]);
		sc_stat(&ans, "sessions_started_total", labels,
		    (int64_t)sc.srv->listeners[i].started);
	}
	sc_stat(&ans, "sessions_authenticated", "", auth);
	sc_stat(&ans, "sessions_tls", "", tls);
	sc_stat(&ans, "bans_enforced", "", (int64_t)banlist_size(sc.srv->bans));
	sc_stat(&ans, "users_auth_refused", "", susp);
	for (int i = 0; i < SMTP_REJ_COUNT; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    sc_reject_names[i]);
		sc_stat(&ans, "rejections_total", labels,
		    (int64_t)st->rejected[i]);
	}
	smtp_rdns_stats(sc.srv->rdns, &lookups, &cached);
	sc_stat(&ans, "rdns_lookups_total", "source=\"dns\"", (int64_t)lookups);
	sc_stat(&ans, "rdns_lookups_total", "source=\"cache\"", (int64_t)cached);
	sc_stat(&ans, "auth_attempts_total", "result=\"success\"", (int64_t)st->auth_ok);
	sc_stat(&ans, "auth_attempts_total", "result=\"failure\"",
	    (int64_t)st->auth_fail);
	ctl_ans_end(&ans);
	ctl_answer_send(sc.control, id, &ans);
}

static void
sc_control_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct ctl_req q;
	uint32_t uid;

	if (type != PROTO_CTL_REQUEST)
		fatalx("%s: unexpected message %u from control", __func__, type);
	if (ctl_request_read(p, id, r, &q, &uid) == -1)
		return;
	switch (q.op) {
	case CTL_OP_SESSIONS:
		sc_sessions(id);
		break;
	case CTL_OP_SESSION_KILL:
		sc_kill(id, uid, &q);
		break;
	case CTL_OP_STATS:
		sc_stats(id);
		break;
	default:
		ctl_answer_simple(p, id, CTL_BAD_REQUEST,
		    "%s is not an smtp operation", ctl_op_name(q.op));
		break;
	}
}

static void
sc_control_close_cb(struct ipc_peer *p, void *arg)
{
	/* the parent stops the daemon when the control process dies */
	log_notice(LOG_CAT_CONTROL, "event=peer_closed peer=control");
}

/* smtp_ctl_start - wrap the control socketpair */
void
smtp_ctl_start(struct smtp_server *srv, int control_fd)
{
	sc.srv = srv;
	if (control_fd >= 0)
		sc.control = ipc_peer_new(srv->base, control_fd, "control",
		    sc_control_msg_cb, sc_control_close_cb, NULL);
}

/* smtp_ctl_stop - release what smtp_ctl owns */
void
smtp_ctl_stop(void)
{
	ipc_peer_free(sc.control);
	sc.control = NULL;
}
