/*
 * smtp_session.c - one SMTP session (RFC 5321) as a state machine.
 *
 * Public: smtp_session_start, smtp_session_stored,
 * smtp_session_auth_result, smtp_session_dnsbl, smtp_session_lookup_wants,
 * smtp_session_lookup_target, smtp_session_lookup_done, smtp_session_kill,
 * smtp_session_shutdown, smtp_session_queue_drained, smtp_session_flush,
 * smtp_session_free.
 *
 * Each session has one state (enum smtp_state); smtp_set_state() is the
 * only place it changes. Commands are dispatched through one table of
 * {verb, check, proceed, flags}: check_* says whether the verb may run
 * in this state (and gives the out-of-order reply when not), proceed_*
 * does it. What lives from MAIL to the end of DATA is a struct smtp_tx,
 * made by an accepted MAIL and freed whole when the transaction ends.
 * The policy decisions (sender identity, unknown recipients, AUTH
 * failures, the data rate) are pure functions in
 * src/policy/session_policy.c; this file logs, records and replies.
 * A session waiting for another process (the queue's commit, a password
 * check, the lookup of a recipient), for the DNSBL or out a pause
 * (tarpit, failed AUTH) is parked in SMTP_STATE_WAIT with its own
 * wait_timer armed and reading off (but for a lookup: see
 * smtp_lookup_start); the answer or the timer resumes it.
 * smtp_session_kill (admin, bans, lifetime, shutdown) ends a session in
 * any state; only a message being committed is answered first.
 *
 * SECURITY: everything read here is untrusted. Command lines are cut at
 * SMTP_LINE_MAX, DATA goes through the strict CRLF machine of
 * smtp_parse.c, input buffered per session is capped by a read
 * watermark, replies waiting to be written by SMTP_OUTPUT_MAX (past
 * it the session stops reading), pipelining is accepted only after PIPELINING was
 * advertised, plaintext sent after STARTTLS is discarded, AUTH is
 * refused outside TLS and AUTH data is never logged. What a client
 * chose is encoded where it is written: escaped in log lines, the HELO
 * name in Received only as a domain or inside a quoted comment; DSN
 * parameters are checked by smtp_parse.c, and an outsider's NOTIFY and
 * RET are reduced before they are stored (no backscatter inward).
 * LIMITS: message size, recipients, errors, timeouts from the config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "../io/evbuf.h"
#include "../io/proto.h"
#include "../io/tls.h"
#include "../io/tls_set.h"
#include "../lib/log.h"
#include "../milter/milter.h"
#include "../policy/dnsbl.h"
#include "../policy/guard.h"
#include "../policy/relay.h"
#include "../policy/session_policy.h"
#include "smtp.h"
#include "smtp_dot.h"

#define SMTP_INPUT_MAX	(64 * 1024)	/* bytes buffered per session */
#define SMTP_OUTPUT_MAX	(64 * 1024)	/* replies waiting: stop reading */
#define SMTP_OUTPUT_RESUME (SMTP_OUTPUT_MAX / 2)	/* read again below */
#define SMTP_AUTH_FAIL_MAX	3	/* failed AUTH per session before 421 */
#define SMTP_CLOSE_SECS		10	/* longest a closing session flushes */
#define SMTP_DNSBL_WAIT_MS	5000	/* longest MAIL waits for the DNSBL */
#define SMTP_AUTHRES_WAIT_MS	10000	/* longest the dot waits for DKIM keys */
#define SMTP_HEAD_MAX	(1024 * 1024)	/* header section held to the dot */
#define SMTP_QUEUE_BACKLOG (16 * 1024 * 1024)	/* unsent to the queue: wait */
#define SMTP_MILTER_BACKLOG (1024 * 1024)	/* unsent to the milters: wait */
#define SMTP_RELAY_MAX	(IPC_MAX_FRAME - 16 * 1024 * 1024)	/* see below */
/* recipients of one transaction, whatever aliases make of max_recipients
 * RCPT commands: its queue frame stays far below IPC_MAX_FRAME */
#define SMTP_RCPTS_MAX	20000

enum {
	AUTH_MECH_PLAIN = 1,
	AUTH_MECH_LOGIN,
};

/* command flags */
#define CMD_LAST	0x01	/* must end a pipelined group (RFC 2920) */
#define CMD_QUIT	0x02	/* ends the session: nothing after it counts */

#define ST(x)		(1u << SMTP_STATE_##x)
#define ST_GREETED	(ST(IDLE) | ST(MAIL) | ST(RCPT))
#define ST_ANY		(ST(HELO) | ST_GREETED)

/*
 * One row per verb: check says whether it may run now (and replies when
 * not), proceed does it.
 */
struct smtp_command {
	enum smtp_verb	 verb;
	int		(*check)(struct smtp_session *, const char *, size_t);
	void		(*proceed)(struct smtp_session *, const char *, size_t);
	int		 flags;
};

static void smtp_reply(struct smtp_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void smtp_close(struct smtp_session *, const char *);
static void smtp_process(struct smtp_session *);
static void smtp_read_cb(struct bufferevent *, void *);
static void smtp_write_cb(struct bufferevent *, void *);
static void smtp_event_cb(struct bufferevent *, short, void *);
static void smtp_session_greet(struct smtp_session *);
static void smtp_helo_reply(struct smtp_session *);
static void smtp_data_begin(struct smtp_session *);
static void smtp_milter_stream(struct smtp_session *, size_t);
static int smtp_milter_backlog(struct smtp_session *);
static void smtp_data_resume(struct smtp_session *);

static const char *state_names[SMTP_STATE_COUNT] = {
	"connected", "helo", "idle", "mail", "rcpt", "data", "auth", "wait",
	"tls", "closing"
};

/* smtp_set_state - the one place a session changes state */
static void
smtp_set_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug(LOG_CAT_SMTP, "session=%s event=state from=%s to=%s",
	    s->idstr, state_names[s->state], state_names[st]);
	s->state = st;
}

/*
 * smtp_stream_abort - the message sent to the queue in chunks will not
 * be stored: the queue drops its temporary file.
 */
static void
smtp_stream_abort(struct smtp_session *s)
{
	struct ipc_msg m;

	if (s->tx == NULL || !s->tx->streaming)
		return;
	s->tx->streaming = 0;
	proto_empty_enc(&m, PROTO_QUEUE_ABORT, s->id);
	ipc_send(s->srv->queue, &m);
}

/* smtp_tx_new - a transaction for the sender mail; NULL when out of memory */
static struct smtp_tx *
smtp_tx_new(const struct smtp_mail_params *mail)
{
	struct smtp_tx *tx;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return NULL;
	if ((tx->msg = evbuffer_new()) == NULL) {
		free(tx);
		return NULL;
	}
	tx->mail = *mail;
	smtp_head_init(&tx->head, SMTP_HEAD_MAX);
	return tx;
}

static void
smtp_tx_free(struct smtp_tx *tx)
{
	if (tx == NULL)
		return;
	evbuffer_free(tx->msg);
	smtp_head_free(&tx->head);
	smtp_dkim_tx_free(tx->dkim);
	smtp_authres_tx_free(tx->authres);
	free(tx->rcpts);
	free(tx);
}

/* smtp_reset_tx - the transaction ends (RSET, its reply, EHLO, TLS) */
static void
smtp_reset_tx(struct smtp_session *s)
{
	/* cleared first: the abort may call back the drained callback,
	 * which must not resume reading into a transaction being freed */
	s->milter_head_sent = 0;
	s->milter_full = 0;
	if (s->tx != NULL && s->milters != NULL)
		milter_chain_abort(s->milters);
	smtp_stream_abort(s);
	smtp_tx_free(s->tx);
	s->tx = NULL;
}

static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (log_enabled(LOG_CAT_SMTP, LOG_LVL_DEBUG)) {
		char esc[4 * sizeof(buf)];

		/* a reply may repeat what the client sent */
		log_debug(LOG_CAT_SMTP, "session=%s event=reply text=\"%s\"",
		    s->idstr, log_escape(esc, sizeof(esc), buf, (size_t)n - 2));
	}
	bufferevent_write(s->bev, buf, (size_t)n);
	if (s->direct)
		smtp_server_flush_soon(s->srv, s);
}

/* smtp_reply_error - a 4xx/5xx reply to a command; too many ends the session */
static void
smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
smtp_reply_error(struct smtp_session *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	smtp_reply(s, "%s", buf);
	if (++s->errors >= s->srv->conf->max_errors) {
		log_notice(LOG_CAT_POLICY, "session=%s event=too_many_errors "
		    "client=%s errors=%d", s->idstr, s->ip, s->errors);
		smtp_server_event(s->srv, "error_limit", s->ip, s->auth_user,
		    s->idstr, "too many errors");
		smtp_reply(s, "421 4.7.0 %s Error: too many errors",
		    s->srv->conf->hostname);
		smtp_close(s, "too many errors");
	}
}

static void
smtp_set_timeout(struct smtp_session *s, int seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* smtp_close - send nothing more, free once the output is flushed */
static void
smtp_close(struct smtp_session *s, const char *why)
{
	if (s->state == SMTP_STATE_CLOSING)
		return;
	log_info(LOG_CAT_SMTP, "session=%s event=disconnect client=%s reason=\"%s\" "
	    "duration=%lds messages=%d errors=%d bytes=%zu", s->idstr, s->ip, why,
	    (long)(time(NULL) - s->started), s->n_msgs, s->errors, s->bytes_in);
	smtp_set_state(s, SMTP_STATE_CLOSING);
	/* whatever it waited for, no answer is due any more */
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	bufferevent_disable(s->bev, EV_READ);
	/* a client that does not read its last reply is not waited for */
	smtp_set_timeout(s, SMTP_CLOSE_SECS);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_server_session_gone(s->srv, s);
	else
		bufferevent_setcb(s->bev, NULL, smtp_write_cb, smtp_event_cb, s);
}

/* in a TLS handshake: nothing can be said to the client */
static int
smtp_tls_handshaking(struct smtp_session *s)
{
	return s->ssl != NULL && !SSL_is_init_finished(s->ssl);
}

/*
 * smtp_session_kill - end a session from outside (admin, ban, lifetime,
 * shutdown) in any state: reply, then close. Only a message being
 * committed gets its answer first: a 421 now would make the client
 * send it again; its wait_timer bounds that.
 */
void
smtp_session_kill(struct smtp_session *s, const char *reply, const char *why)
{
	if (s->state == SMTP_STATE_CLOSING)
		return;
	if (s->state == SMTP_STATE_WAIT && s->waiting == SMTP_WAIT_QUEUE) {
		s->quit_after_reply = 1;
		snprintf(s->quit_reply, sizeof(s->quit_reply), "%s", reply);
		return;
	}
	if (smtp_tls_handshaking(s)) {
		log_info(LOG_CAT_SMTP, "session=%s event=disconnect client=%s "
		    "reason=\"%s\" state=tls_handshake", s->idstr, s->ip, why);
		smtp_set_state(s, SMTP_STATE_CLOSING);
		smtp_server_session_gone(s->srv, s);
		return;
	}
	if (s->state != SMTP_STATE_TLS && s->state != SMTP_STATE_CONNECTED)
		smtp_reply(s, "%s", reply);
	smtp_close(s, why);
}

/*
 * the absolute session lifetime ran out: the seed's five-minute sessions.
 * A trusted relay client (an internal server in relay_networks) in the
 * middle of DATA finishes its message first: cut, it would send the
 * whole message again, and again, to a server that never lets it end.
 * It gets its reply after the dot, then the 421. DATA's own limits
 * (timeout_data, min_data_rate) still bound how long that takes.
 */
static void
smtp_lifetime_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;
	const char *reply = "421 4.4.2 Error: session lasted too long";
	char detail[96];
	int defer = s->state == SMTP_STATE_DATA &&
	    relay_client_trusted(&s->srv->relay, s->addr);

	log_warn(LOG_CAT_POLICY, "session=%s event=session_lifetime client=%s "
	    "user=%s state=%s seconds=%ld%s alert=yes", s->idstr, s->ip,
	    s->authenticated ? s->auth_user : "-", state_names[s->state],
	    (long)(time(NULL) - s->started),
	    defer ? " close=after_data" : "");
	snprintf(detail, sizeof(detail), "seconds=%ld messages=%d%s",
	    (long)(time(NULL) - s->started), s->n_msgs,
	    defer ? " close=after_data" : "");
	smtp_server_event(s->srv, "session_lifetime", s->ip, s->auth_user,
	    s->idstr, detail);
	if (defer) {
		s->quit_after_reply = 1;
		snprintf(s->quit_reply, sizeof(s->quit_reply), "%s", reply);
		return;
	}
	smtp_session_kill(s, reply, "session lifetime");
}

/* a command outside a transaction; loops of them end the session */
static int
smtp_idle_command(struct smtp_session *s, const char *verb)
{
	if (s->state == SMTP_STATE_MAIL || s->state == SMTP_STATE_RCPT)
		return 0;
	if (++s->idle_cmds <= s->srv->conf->max_idle_commands)
		return 0;
	log_notice(LOG_CAT_POLICY, "session=%s event=limit client=%s "
	    "limit=max_idle_commands last=%s", s->idstr, s->ip, verb);
	smtp_server_event(s->srv, "limit", s->ip, s->auth_user, s->idstr,
	    "max_idle_commands");
	smtp_reply(s, "421 4.7.0 %s Error: too many commands without a "
	    "transaction", s->srv->conf->hostname);
	smtp_close(s, "max_idle_commands");
	return -1;
}

/* smtp_wait_arm - (re)start the parked session's timer: ms from now */
static void
smtp_wait_arm(struct smtp_session *s, enum smtp_wait what, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	s->waiting = what;
	evtimer_add(s->wait_timer, &tv);
}

/*
 * smtp_park - wait (for another process, or a pause): no reading, and
 * instead of the command timeout a timer of its own, whose expiry
 * smtp_wait_timer_cb handles according to what was waited for.
 */
static void
smtp_park(struct smtp_session *s, enum smtp_wait what, uint64_t req, int ms)
{
	s->resume = s->state;
	s->wait_id = req;
	smtp_set_state(s, SMTP_STATE_WAIT);
	bufferevent_disable(s->bev, EV_READ);
	smtp_wait_arm(s, what, ms);
}

static void
smtp_unpark(struct smtp_session *s, enum smtp_state st)
{
	s->wait_id = 0;
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	smtp_set_state(s, st);
	if (s->quit_after_reply) {
		smtp_reply(s, "%s", s->quit_reply);
		smtp_close(s, "ended while its message was committed");
		return;
	}
	bufferevent_enable(s->bev, EV_READ);
	smtp_set_timeout(s, s->srv->conf->timeout_command);
	smtp_process(s);
}

/* ---- milters ---- */

static void smtp_milter_answer(struct smtp_session *,
    const struct milter_result *);
static void smtp_milter_log(struct smtp_session *,
    const struct milter_result *);

/*
 * The session waits for the milters' answer a little past the time by
 * which the chain answers by itself (a filter's default_action when its
 * own timer ends): the chain's verdict always comes first, and this
 * timer only catches a chain that failed to keep that promise.
 */
#define SMTP_MILTER_SLACK_MS	2000

static int
smtp_milter_wait_ms(struct smtp_session *s)
{
	return milter_chain_due_ms(s->milters) + SMTP_MILTER_SLACK_MS;
}

/* park until the milters answered event cmd (smtp_milter_answer) */
static void
smtp_milter_park(struct smtp_session *s, int cmd)
{
	s->milter_event = cmd;
	smtp_park(s, SMTP_WAIT_MILTER, 0, smtp_milter_wait_ms(s));
}

static void
smtp_milter_done_cb(void *arg, const struct milter_result *r)
{
	struct smtp_session *s = arg;

	if (s->waiting == SMTP_WAIT_MILTER) {
		smtp_milter_answer(s, r);
		return;
	}
	/* the connection's answer before HELO: kept for it */
	if (s->milter_connect == SMTP_MILTER_CONN_PENDING &&
	    s->state != SMTP_STATE_CLOSING) {
		s->milter_connect = 0;
		if ((r->verdict == MILTER_REJECT ||
		    r->verdict == MILTER_TEMPFAIL) && !r->unavailable) {
			s->milter_event = SMFIC_CONNECT;
			smtp_milter_log(s, r);
			s->milter_connect = r->verdict == MILTER_REJECT &&
			    r->code != 421 ? SMTP_MILTER_CONN_REJECT :
			    SMTP_MILTER_CONN_TEMPFAIL;
		}
	}
}

/* a milter is down, slow or broken: one event per 10 s, not per session */
static void
smtp_milter_down_cb(void *arg, const char *milter, const char *why)
{
	struct smtp_session *s = arg;
	time_t now = time(NULL);
	char detail[256];

	if (now - s->srv->milter_down_event < 10)
		return;
	s->srv->milter_down_event = now;
	snprintf(detail, sizeof(detail), "milter=%s reason=%s", milter, why);
	smtp_server_event(s->srv, "milter_unavailable", s->ip, s->auth_user,
	    s->idstr, detail);
}

static void
smtp_milter_drained_cb(void *arg)
{
	struct smtp_session *s = arg;

	if (!s->milter_full)
		return;
	s->milter_full = 0;
	smtp_data_resume(s);
}

/* the milters' chain for a new session; 0 when there is none to ask */
static int
smtp_milter_start(struct smtp_session *s)
{
	const struct conf_listener *l = s->listener->conf;
	const struct conf_milter *ms[CONF_LISTENER_MILTERS];
	struct milter_macro mac[16];
	char buf[16][600];
	size_t n = 0, nmac;
	int family = 'U';

	for (size_t i = 0; i < l->n_milters; i++)
		if ((ms[n] = conf_milter_find(s->srv->conf,
		    l->milter_names[i])) != NULL)
			n++;
	if (n == 0)
		return 0;
	s->milters = milter_chain_new(s->srv->base, ms, n, s->idstr,
	    smtp_milter_done_cb, smtp_milter_down_cb, smtp_milter_drained_cb, s);
	if (s->milters == NULL)
		return 0;
	if (strchr(s->ip, ':') != NULL)
		family = '6';
	else if (s->ip[0] != '\0')
		family = '4';
	nmac = smtp_milter_macros(s, SMFIC_CONNECT, mac, buf);
	milter_chain_connect(s->milters, s->rdns[0] != '\0' &&
	    strcmp(s->rdns, "unknown") != 0 ? s->rdns : s->ip[0] ? "unknown" :
	    "localhost", family, (uint16_t)s->port, s->ip, mac, nmac);
	/*
	 * The banner does not wait: the filters negotiate and answer while
	 * the client reads it and says EHLO, which waits for their answer
	 * if it has not come (smtp_milter_helo_gate).
	 */
	s->milter_connect = SMTP_MILTER_CONN_PENDING;
	return 1;
}

/* the reply to a greeting after the filters refused the connection */
static void
smtp_milter_refuse_greeting(struct smtp_session *s, int reject)
{
	if (reject)
		smtp_reply(s, "554 5.7.1 %s Error: connection rejected",
		    s->srv->conf->hostname);
	else
		smtp_reply(s, "421 4.7.1 %s Service unavailable - try again "
		    "later", s->srv->conf->hostname);
	smtp_close(s, "refused by milter");
}

/*
 * smtp_milter_helo_gate - at HELO: the filters' answer to the connection
 * first. 1 when HELO must not go on now (parked for it, or refused).
 */
static int
smtp_milter_helo_gate(struct smtp_session *s)
{
	switch (s->milter_connect) {
	case SMTP_MILTER_CONN_PENDING:
		smtp_milter_park(s, SMFIC_CONNECT);
		return 1;
	case SMTP_MILTER_CONN_REJECT:
	case SMTP_MILTER_CONN_TEMPFAIL:
		smtp_milter_refuse_greeting(s, s->milter_connect ==
		    SMTP_MILTER_CONN_REJECT);
		return 1;
	}
	return 0;
}

/*
 * smtp_milter_event - tell the milters about cmd and park for their
 * answer; 0 when the session has none (go on at once).
 */
static int
smtp_milter_event(struct smtp_session *s, int cmd, const char *const *argv,
    size_t argc)
{
	struct milter_macro mac[16];
	char buf[16][600];
	size_t nmac;

	if (s->milters == NULL)
		return 0;
	nmac = smtp_milter_macros(s, cmd, mac, buf);
	switch (cmd) {
	case SMFIC_HELO:
		milter_chain_helo(s->milters, argv[0], mac, nmac);
		break;
	case SMFIC_MAIL:
		milter_chain_mail(s->milters, argv, argc, mac, nmac);
		break;
	case SMFIC_RCPT:
		milter_chain_rcpt(s->milters, argv, argc, mac, nmac);
		break;
	case SMFIC_DATA:
		milter_chain_data(s->milters, mac, nmac);
		break;
	case SMFIC_BODYEOB:
		milter_chain_eom(s->milters, mac, nmac);
		break;
	}
	smtp_milter_park(s, cmd);
	return 1;
}

/*
 * The reply a milter's refusal gets: its own text when it gave one
 * (checked by milter_reply_text, one line a reply), else ours.
 */
static void
smtp_milter_log(struct smtp_session *s, const struct milter_result *r)
{
	char esc[1100];

	log_escape(esc, sizeof(esc), r->reply, strlen(r->reply));
	log_info(LOG_CAT_POLICY, "session=%s%s%s event=milter_%s client=%s "
	    "milter=%s stage=%s reply=\"%s\"", s->idstr, s->tx != NULL &&
	    s->tx->qid[0] ? " qid=" : "", s->tx != NULL ? s->tx->qid : "",
	    r->verdict == MILTER_REJECT ? "reject" : "tempfail", s->ip,
	    r->milter != NULL ? r->milter : "-",
	    s->milter_event == SMFIC_CONNECT ? "connect" :
	    s->milter_event == SMFIC_HELO ? "helo" :
	    s->milter_event == SMFIC_MAIL ? "mail" :
	    s->milter_event == SMFIC_RCPT ? "rcpt" :
	    s->milter_event == SMFIC_DATA ? "data" : "eom", esc);
}

static void
smtp_milter_refusal(struct smtp_session *s, const struct milter_result *r,
    const char *reject, int error)
{
	const char *p, *nl;

	smtp_milter_log(s, r);
	if (r->reply[0] == '\0') {
		if (r->verdict != MILTER_REJECT)
			reject = "451 4.7.1 Service unavailable - try again later";
		if (error)
			smtp_reply_error(s, "%s", reject);
		else
			smtp_reply(s, "%s", reject);
		return;
	}
	for (p = r->reply; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		smtp_reply(s, "%.*s", (int)(nl - p), p);
	if (error)
		smtp_reply_error(s, "%s", p);
	else
		smtp_reply(s, "%s", p);
}

/* ---- commands ---- */

static int
helo_valid(const char *p, size_t len)
{
	if (len == 0 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return 1;
}

/* proceed_helo_common - 0 when the greeting was taken, -1 when refused */
static int
proceed_helo_common(struct smtp_session *s, const char *args, size_t len, int esmtp)
{
	if (!helo_valid(args, len)) {
		smtp_reply_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return -1;
	}
	memcpy(s->helo, args, len);
	s->helo[len] = '\0';
	s->esmtp = esmtp;
	smtp_reset_tx(s);
	smtp_set_state(s, SMTP_STATE_IDLE);
	if (log_enabled(LOG_CAT_SMTP, LOG_LVL_INFO)) {
		char esc[4 * sizeof(s->helo)];

		log_info(LOG_CAT_SMTP, "session=%s event=helo client=%s "
		    "helo=\"%s\" esmtp=%d", s->idstr, s->ip,
		    log_escape(esc, sizeof(esc), s->helo, len), esmtp);
	}
	if (s->milters != NULL) {
		const char *argv[1] = { s->helo };

		if (smtp_milter_helo_gate(s) ||
		    smtp_milter_event(s, SMFIC_HELO, argv, 1))
			return 1;	/* smtp_helo_reply after the answer */
	}
	return 0;
}

static int
auth_offered(struct smtp_session *s)
{
	return s->listener->conf->auth && s->srv->tls != NULL;
}

static int
starttls_offered(struct smtp_session *s)
{
	return s->listener->conf->starttls && s->srv->tls != NULL && !s->tls;
}

/* the reply to a greeting that was taken */
static void
smtp_helo_reply(struct smtp_session *s)
{
	const struct conf *c = s->srv->conf;

	if (!s->esmtp) {
		smtp_reply(s, "250 %s", c->hostname);
		return;
	}
	smtp_reply(s, "250-%s Hello %s [%s]", c->hostname, s->helo, s->ip);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %ld", c->max_message_size);
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-SMTPUTF8");
	if (starttls_offered(s))
		smtp_reply(s, "250-STARTTLS");
	if (auth_offered(s) && s->tls && !s->authenticated)
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 DSN");
}

static void
proceed_ehlo(struct smtp_session *s, const char *args, size_t len)
{
	if (proceed_helo_common(s, args, len, 1) == 0)
		smtp_helo_reply(s);
}

static void
proceed_helo(struct smtp_session *s, const char *args, size_t len)
{
	if (proceed_helo_common(s, args, len, 0) == 0)
		smtp_helo_reply(s);
}

/* the reply to a MAIL or RCPT whose arguments did not parse */
static void
smtp_param_error(struct smtp_session *s, enum smtp_param_err e, const char *why,
    const char *bad_addr)
{
	switch (e) {
	case SMTP_PARAM_ADDR:
		smtp_reply_error(s, "%s address syntax: %s", bad_addr, why);
		break;
	case SMTP_PARAM_ADDR_UTF8:
		smtp_reply_error(s, "553 5.6.7 %s", why);
		break;
	case SMTP_PARAM_UNKNOWN:
		smtp_reply_error(s, "555 5.5.4 %s", why);
		break;
	default:
		smtp_reply_error(s, "501 5.5.4 %s", why);
		break;
	}
}

/* a client neither authenticated nor in relay_networks */
static int
smtp_outsider(struct smtp_session *s)
{
	return !s->authenticated && !relay_client_trusted(&s->srv->relay,
	    s->addr);
}

/*
 * An outsider's DSN requests are not passed inward: an internal server
 * would mail a success or delay notice, or the whole message, to a
 * sender address nobody checked (backscatter). RET=FULL becomes HDRS;
 * NOTIFY keeps FAILURE only, and NEVER when nothing is left of it.
 */
static void
smtp_outsider_ret(struct smtp_session *s, struct smtp_mail_params *mail)
{
	if (smtp_outsider(s) && mail->ret == PROTO_RET_FULL)
		mail->ret = PROTO_RET_HDRS;
}

static int
smtp_outsider_notify(struct smtp_session *s, int notify)
{
	if (!smtp_outsider(s) || notify == 0)
		return notify;
	notify &= ~(PROTO_NOTIFY_SUCCESS | PROTO_NOTIFY_DELAY);
	return notify != 0 ? notify : PROTO_NOTIFY_NEVER;
}

/*
 * smtp_check_sender - an authenticated user may only use the senders it
 * owns; a client with neither AUTH nor relay rights may not claim one
 * of our domains, local or routed (spoofing). -1 when refused (the
 * reply is sent).
 */
static int
smtp_check_sender(struct smtp_session *s, const struct mail_addr *a,
    const char *from)
{
	char esc[600];

	/*
	 * A local user names its sender (sendmail -f), as Postfix's and
	 * OpenSMTPD's sendmail let it: it is known by its uid, which the
	 * watch counts whatever sender it claims.
	 */
	if (s->local)
		return 0;
	if (pol_sender(s->srv->conf, &s->srv->relay, s->authenticated ?
	    s->auth_user : NULL, s->addr, a) == POL_OK)
		return 0;
	log_escape_bare(esc, sizeof(esc), from, strlen(from));
	if (s->authenticated) {
		log_notice(LOG_CAT_POLICY, "session=%s event=sender_mismatch "
		    "client=%s user=%s from=<%s>", s->idstr, s->ip,
		    s->auth_user, esc);
		smtp_server_event(s->srv, "sender_mismatch", s->ip, s->auth_user,
		    s->idstr, from);
		smtp_reply_error(s, "553 5.7.1 <%s>: Sender address rejected: not "
		    "owned by user %s", esc, s->auth_user);
		return -1;
	}
	log_notice(LOG_CAT_POLICY, "session=%s event=spoofed_sender "
	    "client=%s from=<%s>", s->idstr, s->ip, esc);
	smtp_server_event(s->srv, "spoofed_sender", s->ip, "", s->idstr, from);
	smtp_reply_error(s, "550 5.7.1 <%s>: Sender address rejected: "
	    "local sender requires authentication", esc);
	return -1;
}

static void proceed_mail(struct smtp_session *, const char *, size_t);

/* the DNSBL did not answer in time: let the client through */
static void
smtp_dnsbl_timeout(struct smtp_session *s)
{
	log_info(LOG_CAT_DNS, "session=%s event=dnsbl_timeout client=%s",
	    s->idstr, s->ip);
	smtp_session_dnsbl(s, 0, NULL);
}

/* smtp_session_dnsbl - the answer arrived (or timed out) */
void
smtp_session_dnsbl(struct smtp_session *s, int score, const char *zone)
{
	int waiting = s->dnsbl.state == SMTP_DNSBL_WAITING;

	if (s->dnsbl.state != SMTP_DNSBL_PENDING && !waiting)
		return;
	s->dnsbl.state = SMTP_DNSBL_DONE;
	s->dnsbl.score = score;
	snprintf(s->dnsbl.zone, sizeof(s->dnsbl.zone), "%s", zone ? zone : "");
	if (waiting && s->state == SMTP_STATE_WAIT &&
	    s->waiting == SMTP_WAIT_DNSBL) {
		char args[SMTP_LINE_MAX];

		snprintf(args, sizeof(args), "%s", s->dnsbl.mail);
		s->wait_id = 0;
		s->waiting = SMTP_WAIT_NONE;
		evtimer_del(s->wait_timer);
		smtp_set_state(s, SMTP_STATE_IDLE);
		proceed_mail(s, args, strlen(args));
		/* parked again: the milters' answer resumes it */
		if (s->state != SMTP_STATE_CLOSING &&
		    s->state != SMTP_STATE_WAIT)
			smtp_unpark(s, s->state);
	}
}

/*
 * smtp_dnsbl_gate - at MAIL, a listed client is refused; an answer
 * still on its way parks the session (at most 5 s). -1: do not go on.
 */
static int
smtp_dnsbl_gate(struct smtp_session *s, const char *args, size_t len)
{
	const struct conf *c = s->srv->conf;

	if (s->dnsbl.state == SMTP_DNSBL_PENDING) {
		if (len >= sizeof(s->dnsbl.mail))
			len = sizeof(s->dnsbl.mail) - 1;
		memcpy(s->dnsbl.mail, args, len);
		s->dnsbl.mail[len] = '\0';
		s->dnsbl.state = SMTP_DNSBL_WAITING;
		smtp_park(s, SMTP_WAIT_DNSBL, 0, SMTP_DNSBL_WAIT_MS);
		return -1;
	}
	if (s->dnsbl.state == SMTP_DNSBL_DONE && s->dnsbl.score >= c->dnsbl_threshold) {
		char detail[300];

		snprintf(detail, sizeof(detail), "zone=%s score=%d", s->dnsbl.zone,
		    s->dnsbl.score);
		log_notice(LOG_CAT_POLICY, "session=%s event=dnsbl client=%s %s",
		    s->idstr, s->ip, detail);
		smtp_server_event(s->srv, "dnsbl", s->ip, "", s->idstr, detail);
		smtp_reply_error(s, "554 5.7.1 Service unavailable; client [%s] "
		    "blocked using %s", s->ip, s->dnsbl.zone);
		return -1;
	}
	return 0;
}

static void
proceed_mail(struct smtp_session *s, const char *args, size_t len)
{
	const struct conf_listener *l = s->listener->conf;
	struct smtp_mail_params mail;
	const char *why;
	enum smtp_param_err e;
	char from[ADDR_PATH_MAX * 2];

	if (l->tls_required && !s->tls) {
		smtp_reply_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (l->auth_required && !s->authenticated) {
		smtp_reply_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (!s->authenticated && smtp_dnsbl_gate(s, args, len) == -1)
		return;
	e = smtp_parse_mail(args, len, &mail, &why);
	if (e != SMTP_PARAM_OK) {
		smtp_param_error(s, e, why, "501 5.1.7 Bad sender");
		return;
	}
	if (!s->esmtp && (mail.smtputf8 || mail.body_8bit || mail.size >= 0 ||
	    mail.ret || mail.envid[0])) {
		smtp_reply_error(s, "555 5.5.4 Parameters need EHLO");
		return;
	}
	if (mail.size > s->srv->conf->max_message_size) {
		smtp_reply_error(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	addr_format(&mail.addr, from, sizeof(from));
	if (smtp_check_sender(s, &mail.addr, from) == -1)
		return;
	smtp_outsider_ret(s, &mail);
	if (log_enabled(LOG_CAT_SMTP, LOG_LVL_DEBUG)) {
		char esc[4 * sizeof(from)];

		log_debug(LOG_CAT_SMTP, "session=%s event=mail from=<%s>",
		    s->idstr, log_escape_bare(esc, sizeof(esc), from,
		    strlen(from)));
	}
	smtp_reset_tx(s);
	if ((s->tx = smtp_tx_new(&mail)) == NULL) {
		smtp_reply_error(s, "452 4.3.0 Insufficient system resources");
		return;
	}
	/* mail from outside on mx: its SPF checked while RCPT and DATA go on */
	if (smtp_outsider(s) && s->listener->conf->role == ROLE_MX &&
	    (s->tx->authres = smtp_authres_tx_new(s->srv, s->id)) != NULL)
		smtp_authres_spf_start(s->tx->authres, s->addr, from, s->helo);
	smtp_set_state(s, SMTP_STATE_MAIL);
	if (s->milters != NULL) {
		const char *argv[16];
		char buf[SMTP_LINE_MAX + ADDR_PATH_MAX * 2 + 16];
		size_t argc = smtp_milter_argv(from, args, len, buf,
		    sizeof(buf), argv, 16);

		if (argc > 0 && smtp_milter_event(s, SMFIC_MAIL, argv, argc))
			return;
	}
	smtp_reply(s, "250 2.1.0 Ok");
}

/* the tarpit's pause is over: the held-back reply */
static void
smtp_tarpit_reply(struct smtp_session *s)
{
	smtp_reply_error(s, "%s", s->tarpit.reply);
	if (s->state != SMTP_STATE_CLOSING)
		smtp_unpark(s, s->resume);
}

/*
 * An unknown local recipient. Harvesters guess many: past half the
 * per-session limit each reply waits tarpit_ms; past the limit, or past
 * the per-address limit over harvest_window, the session ends with 421.
 */
static void
smtp_unknown_rcpt(struct smtp_session *s, const char *esc)
{
	const struct conf *c = s->srv->conf;
	char key[80], net[CIDR_STRLEN];
	enum pol_unknown verdict;
	int per_ip;

	s->tarpit.unknown_rcpts++;
	s->srv->stats.rejected[SMTP_REJ_UNKNOWN_USER]++;
	snprintf(key, sizeof(key), "h:%s",
	    smtp_server_client_net(s->srv, s->addr, net, sizeof(net)));
	per_ip = guard_hit(s->srv->guard, key, s->addr, time(NULL),
	    c->harvest_window, NULL);
	verdict = pol_unknown_rcpt(c, s->tarpit.unknown_rcpts, per_ip);
	if (verdict == POL_UNKNOWN_CLOSE) {
		char detail[96];

		snprintf(detail, sizeof(detail), "unknown_rcpts=%d per_ip=%d",
		    s->tarpit.unknown_rcpts, per_ip);
		log_notice(LOG_CAT_POLICY, "session=%s event=harvest client=%s %s",
		    s->idstr, s->ip, detail);
		smtp_server_event(s->srv, "harvest", s->ip, s->auth_user, s->idstr,
		    detail);
		smtp_reply(s, "421 4.7.0 %s Error: too many unknown recipients",
		    c->hostname);
		smtp_close(s, "directory harvesting");
		return;
	}
	snprintf(s->tarpit.reply, sizeof(s->tarpit.reply), "550 5.1.1 <%s>: "
	    "Recipient address rejected: User unknown", esc);
	if (verdict == POL_UNKNOWN_TARPIT) {
		smtp_park(s, SMTP_WAIT_TARPIT, 0, c->tarpit_ms);
		return;
	}
	smtp_reply_error(s, "%s", s->tarpit.reply);
}

/*
 * smtp_rcpt_add - one more recipient of the transaction; -1 when out of
 * memory (nothing replied)
 */
static int
smtp_rcpt_add(struct smtp_session *s, const char *addr, const char *orcpt,
    int notify, const char *mailbox)
{
	struct smtp_rcpt *r;

	if (s->tx->n_rcpts == s->tx->cap_rcpts) {
		size_t ncap = s->tx->cap_rcpts ? s->tx->cap_rcpts * 2 : 4;
		struct smtp_rcpt *n = reallocarray(s->tx->rcpts, ncap,
		    sizeof(*n));

		if (n == NULL)
			return -1;
		s->tx->rcpts = n;
		s->tx->cap_rcpts = ncap;
	}
	r = &s->tx->rcpts[s->tx->n_rcpts++];
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	snprintf(r->orcpt, sizeof(r->orcpt), "%s", orcpt);
	r->notify = notify;
	snprintf(r->mailbox, sizeof(r->mailbox), "%s", mailbox);
	return 0;
}

int
smtp_tx_rcpt_add(struct smtp_session *s, const char *addr, const char *orcpt,
    int notify, const char *mailbox)
{
	return smtp_rcpt_add(s, addr, orcpt, notify, mailbox);
}

/*
 * smtp_rcpt_taken - the RCPT (its recipients from first on) is taken:
 * its 250, or, with milters, their answer first
 */
static void
smtp_rcpt_taken(struct smtp_session *s, size_t first, const char *to,
    const char *args, size_t len)
{
	smtp_set_state(s, SMTP_STATE_RCPT);
	if (s->milters != NULL) {
		const char *argv[16];
		char buf[SMTP_LINE_MAX + ADDR_PATH_MAX * 2 + 16];
		size_t argc = smtp_milter_argv(to, args, len, buf,
		    sizeof(buf), argv, 16);

		s->milter_first = first;
		if (argc > 0 && smtp_milter_event(s, SMFIC_RCPT, argv, argc))
			return;
	}
	smtp_reply(s, "250 2.1.5 Ok");
}

/*
 * Ask the lookup process whether the recipient exists and park until
 * it answers (smtp_session_lookup_done) or lookup_timeout passes.
 * Reading stays on: pipelined commands wait in the input buffer (at
 * most SMTP_INPUT_MAX) and run, in order, after the answer; not turning
 * reading off and on saves two epoll_ctl calls a RCPT.
 */
static void
smtp_lookup_start(struct smtp_session *s, const struct smtp_rcpt_params *rp,
    const char *to, const char *args, size_t alen)
{
	struct smtp_lookup *lk = &s->lookup;
	struct proto_lookup_rcpt q;
	struct ipc_msg m;

	lk->seq++;
	snprintf(lk->to, sizeof(lk->to), "%s", to);
	snprintf(lk->orcpt, sizeof(lk->orcpt), "%s", rp->orcpt);
	lk->notify = smtp_outsider_notify(s, rp->notify);
	lk->utf8 = rp->addr.utf8;
	lk->first = s->tx->n_rcpts;
	lk->failed = 0;
	snprintf(lk->args, sizeof(lk->args), "%.*s", (int)alen, args);
	q.seq = lk->seq;
	q.rcpt = to;
	q.local = rp->addr.local_plain;
	q.domain = rp->addr.domain;
	q.kind = rp->addr.domain[0] == '\0' ||
	    relay_is_local_domain(&s->srv->relay, rp->addr.domain) ?
	    PROTO_LOOKUP_LOCAL : PROTO_LOOKUP_ROUTED;
	proto_lookup_rcpt_enc(&m, s->id, &q);
	ipc_send(s->srv->lookup, &m);
	s->resume = s->state;
	s->wait_id = lk->seq;
	smtp_set_state(s, SMTP_STATE_WAIT);
	smtp_wait_arm(s, SMTP_WAIT_LOOKUP, s->srv->conf->lookup_timeout * 1000);
}

/* smtp_session_lookup_wants - s is parked for the answer seq */
int
smtp_session_lookup_wants(struct smtp_session *s, uint32_t seq)
{
	return s->state == SMTP_STATE_WAIT && s->waiting == SMTP_WAIT_LOOKUP &&
	    s->lookup.seq == seq && s->tx != NULL;
}

/*
 * The transaction has this recipient already: the same local mailbox
 * (two addresses of one user, postmaster@ of two domains, an alias
 * naming a member twice), or the same address to relay. One copy.
 */
static int
smtp_rcpt_known(const struct smtp_session *s, const char *addr,
    const char *mailbox)
{
	for (size_t i = 0; i < s->tx->n_rcpts; i++) {
		const struct smtp_rcpt *r = &s->tx->rcpts[i];

		if (mailbox[0] != '\0' ? strcmp(r->mailbox, mailbox) == 0 :
		    r->mailbox[0] == '\0' && strcmp(r->addr, addr) == 0)
			return 1;
	}
	return 0;
}

/*
 * smtp_session_lookup_target - one recipient the RCPT stands for. A
 * target other than the address itself (an alias's) keeps the address
 * the client gave as its ORCPT, unless the client gave one. One the
 * transaction has already is not added again.
 */
void
smtp_session_lookup_target(struct smtp_session *s, const char *addr,
    const char *mailbox)
{
	struct smtp_lookup *lk = &s->lookup;
	char orcpt[sizeof(lk->orcpt)];
	int n;

	if (lk->failed || smtp_rcpt_known(s, addr, mailbox))
		return;
	if (s->tx->n_rcpts >= SMTP_RCPTS_MAX) {
		lk->failed = SMTP_LOOKUP_TOO_MANY;
		return;
	}
	if (lk->orcpt[0] == '\0' && strcmp(addr, lk->to) != 0) {
		n = snprintf(orcpt, sizeof(orcpt), "%s;%s", lk->utf8 ?
		    "utf-8" : "rfc822", lk->to);
		if (n < 0 || (size_t)n >= sizeof(orcpt))
			orcpt[0] = '\0';
	} else
		snprintf(orcpt, sizeof(orcpt), "%s", lk->orcpt);
	if (strlen(addr) >= sizeof(s->tx->rcpts[0].addr) ||
	    strlen(mailbox) >= sizeof(s->tx->rcpts[0].mailbox) ||
	    smtp_rcpt_add(s, addr, orcpt, lk->notify, mailbox) == -1)
		lk->failed = SMTP_LOOKUP_NOMEM;
}

/* the RCPT the lookup answered is done: read the next command */
static void
smtp_lookup_resume(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_CLOSING || s->state == SMTP_STATE_WAIT)
		return;
	smtp_unpark(s, s->state);
}

/* smtp_session_lookup_done - the answer, after its targets */
void
smtp_session_lookup_done(struct smtp_session *s, int answer, const char *why)
{
	struct smtp_lookup *lk = &s->lookup;
	char esc[600], wesc[600];
	size_t added;

	s->wait_id = 0;
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	smtp_set_state(s, s->resume);
	log_escape_bare(esc, sizeof(esc), lk->to, strlen(lk->to));
	log_escape(wesc, sizeof(wesc), why, strlen(why));
	if (answer == PROTO_LOOKUP_FOUND && lk->failed) {
		/* none of its targets, rather than some */
		s->tx->n_rcpts = lk->first;
		log_warn(LOG_CAT_RELAY, "session=%s event=lookup_targets_failed "
		    "client=%s to=<%s> reason=%s", s->idstr, s->ip, esc,
		    lk->failed == SMTP_LOOKUP_TOO_MANY ? "too_many" : "memory");
		if (lk->failed == SMTP_LOOKUP_TOO_MANY)
			smtp_reply_error(s, "452 4.5.3 Too many recipients");
		else
			smtp_reply_error(s, "452 4.3.0 Insufficient system "
			    "resources");
	} else if (answer == PROTO_LOOKUP_FOUND) {
		s->tx->n_accepted++;
		added = s->tx->n_rcpts - lk->first;
		/* debug: a line per accepted RCPT would be a write each */
		log_debug(LOG_CAT_RELAY, "session=%s event=rcpt client=%s "
		    "to=<%s> targets=%zu why=\"%s\"", s->idstr, s->ip, esc,
		    added, wesc);
		smtp_rcpt_taken(s, lk->first, lk->to, lk->args, strlen(lk->args));
	} else if (answer == PROTO_LOOKUP_NOTFOUND) {
		log_info(LOG_CAT_RELAY, "session=%s event=reject client=%s "
		    "to=<%s> code=550 reason=\"unknown user\"", s->idstr, s->ip,
		    esc);
		smtp_unknown_rcpt(s, esc);
	} else {
		log_notice(LOG_CAT_RELAY, "session=%s event=lookup_tempfail "
		    "client=%s to=<%s> why=\"%s\"", s->idstr, s->ip, esc, wesc);
		smtp_reply(s, "451 4.4.3 <%s>: Recipient address lookup "
		    "failed, try again later", esc);
	}
	smtp_lookup_resume(s);
}

/* the lookup process did not answer within lookup_timeout */
static void
smtp_lookup_timeout(struct smtp_session *s)
{
	char esc[600];
	time_t now = time(NULL);

	log_escape_bare(esc, sizeof(esc), s->lookup.to, strlen(s->lookup.to));
	log_warn(LOG_CAT_RELAY, "session=%s event=lookup_timeout client=%s "
	    "to=<%s> seconds=%d", s->idstr, s->ip, esc,
	    s->srv->conf->lookup_timeout);
	/* one event for a stall, not one per waiting session */
	if (now - s->srv->lookup_timeout_event >= 10) {
		s->srv->lookup_timeout_event = now;
		smtp_server_event(s->srv, "lookup_timeout", s->ip, s->auth_user,
		    s->idstr, s->lookup.to);
	}
	s->wait_id = 0;
	s->waiting = SMTP_WAIT_NONE;
	smtp_set_state(s, s->resume);
	smtp_reply(s, "451 4.4.3 Recipient lookup timed out, try again later");
	smtp_lookup_resume(s);
}

static void
proceed_rcpt(struct smtp_session *s, const char *args, size_t len)
{
	struct smtp_rcpt_params rp;
	struct relay_client rc;
	const char *why;
	char to[ADDR_PATH_MAX * 2], esc[600];
	enum smtp_param_err e;

	if (s->tx->n_accepted >= (size_t)s->srv->conf->max_recipients ||
	    s->tx->n_rcpts >= SMTP_RCPTS_MAX) {
		smtp_reply_error(s, "452 4.5.3 Too many recipients");
		return;
	}
	e = smtp_parse_rcpt(args, len, s->tx->mail.smtputf8, &rp, &why);
	if (e != SMTP_PARAM_OK) {
		smtp_param_error(s, e, why, "501 5.1.3 Bad recipient");
		return;
	}
	addr_format(&rp.addr, to, sizeof(to));
	memcpy(rc.addr, s->addr, sizeof(rc.addr));
	rc.authenticated = s->authenticated;
	rc.auth_relay = s->listener->conf->auth_relay;
	rc.local = s->local && s->authenticated;
	switch (relay_decide(&s->srv->relay, &rc, &rp.addr)) {
	case RELAY_LOOKUP:
		smtp_lookup_start(s, &rp, to, args, len);
		return;
	case RELAY_OUTBOUND:
		break;
	case RELAY_DENIED:
		log_escape_bare(esc, sizeof(esc), to, strlen(to));
		log_notice(LOG_CAT_RELAY, "session=%s event=relay_denied client=%s "
		    "user=%s to=<%s>", s->idstr, s->ip,
		    s->authenticated ? s->auth_user : "-", esc);
		smtp_server_event(s->srv, "relay_denied", s->ip, s->auth_user,
		    s->idstr, to);
		smtp_reply_error(s, "554 5.7.1 <%s>: Relay access denied", esc);
		return;
	}
	if (smtp_rcpt_add(s, to, rp.orcpt, smtp_outsider_notify(s, rp.notify),
	    "") == -1) {
		smtp_reply_error(s, "452 4.3.0 Insufficient system resources");
		return;
	}
	s->tx->n_accepted++;
	smtp_rcpt_taken(s, s->tx->n_rcpts - 1, to, args, len);
}

/*
 * "Received: from" and the client: its HELO name when that is a domain
 * or an address literal (RFC 5321 4.4 Extended-Domain), else the
 * address, with the HELO name in a comment whose "(", ")" and "\\" are
 * quoted-pairs (RFC 5322 3.2.2): nothing the client chose can close the
 * comment or start another clause.
 */
static void
smtp_received_from(struct smtp_session *s)
{
	char helo[2 * sizeof(s->helo)];
	size_t o = 0;

	if (addr_is_domain(s->helo, strlen(s->helo))) {
		evbuffer_add_printf(s->tx->msg, "Received: from %s ([%s])", s->helo,
		    s->ip);
		return;
	}
	for (const char *p = s->helo; *p != '\0'; p++) {
		/* helo_valid() let only '!'..'~' in */
		if (*p == '(' || *p == ')' || *p == '\\')
			helo[o++] = '\\';
		helo[o++] = *p;
	}
	helo[o] = '\0';
	evbuffer_add_printf(s->tx->msg, "Received: from [%s] (helo=%s)", s->ip,
	    helo);
}

static void
smtp_received_header(struct smtp_session *s)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	const char *proto;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->local) {
		/* no network peer: the uid, as Postfix's pickup writes it */
		evbuffer_add_printf(s->tx->msg, "Received: by %s (moat, from "
		    "userid %u)\r\n\twith local id %s", s->srv->conf->hostname,
		    s->local_uid, s->tx->qid);
	} else {
		if (!s->esmtp)
			proto = "SMTP";
		else if (s->tls && s->authenticated)
			proto = "ESMTPSA";
		else if (s->tls)
			proto = "ESMTPS";
		else if (s->authenticated)
			proto = "ESMTPA";
		else
			proto = "ESMTP";
		smtp_received_from(s);
		evbuffer_add_printf(s->tx->msg, "\r\n\tby %s (moat) with %s id "
		    "%s", s->srv->conf->hostname, proto, s->tx->qid);
		if (s->tls)
			evbuffer_add_printf(s->tx->msg, "\r\n\t(%s)",
			    s->tls_desc);
	}
	if (s->tx->n_rcpts == 1)
		evbuffer_add_printf(s->tx->msg, "\r\n\tfor <%s>",
		    s->tx->rcpts[0].addr);
	evbuffer_add_printf(s->tx->msg, "; %s\r\n", date);
	/* it opens the header section, which stays here to the dot */
	if (smtp_head_add(&s->tx->head, (const char *)evbuffer_pullup(
	    s->tx->msg, -1), evbuffer_get_length(s->tx->msg)) == -1)
		s->tx->data.err = SMTP_DATA_HEAD_TOO_BIG;
	evbuffer_drain(s->tx->msg, evbuffer_get_length(s->tx->msg));
}

/* the 354: DATA's machine starts */
static void
smtp_data_begin(struct smtp_session *s)
{
	smtp_data_init(&s->tx->data, (size_t)s->srv->conf->max_message_size,
	    s->srv->conf->max_received_headers);
	smtp_received_header(s);
	/* mail of ours is signed: its body is hashed as it comes */
	if (!smtp_outsider(s))
		s->tx->dkim = smtp_dkim_tx_new(s->srv);
	/* mail from outside on mx: its signatures are checked */
	else if (s->listener->conf->role == ROLE_MX && s->tx->authres == NULL)
		s->tx->authres = smtp_authres_tx_new(s->srv, s->id);
	smtp_set_state(s, SMTP_STATE_DATA);
	s->tx->data_started = time(NULL);
	s->tx->data_bytes = 0;
	smtp_set_timeout(s, s->srv->conf->timeout_data);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
proceed_data(struct smtp_session *s, const char *args, size_t len)
{
	if (len != 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	qid_make(s->tx->qid, time(NULL), s->srv->qid_ctr++, QID_SMTP);
	if (smtp_milter_event(s, SMFIC_DATA, NULL, 0))
		return;
	smtp_data_begin(s);
}

static void
proceed_rset(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reset_tx(s);
	smtp_set_state(s, SMTP_STATE_IDLE);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
proceed_noop(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
proceed_quit(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close(s, "quit");
}

static void
proceed_help(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
	    "QUIT HELP VRFY STARTTLS AUTH");
}

static void
proceed_vrfy(struct smtp_session *s, const char *args, size_t len)
{
	/* RFC 5321 3.5.3: never reveal whether a mailbox exists */
	smtp_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
proceed_expn(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply_error(s, "502 5.5.1 EXPN not available");
}

static void
proceed_bdat(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply_error(s, "502 5.5.1 CHUNKING not available");
}

static void smtp_tls_start(struct smtp_session *);

static void
proceed_starttls(struct smtp_session *s, const char *args, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	if (s->tls) {
		smtp_reply_error(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!starttls_offered(s)) {
		smtp_reply_error(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (len != 0) {
		smtp_reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	/* RFC 3207 4.2 / CVE-2011-0411: whatever the client sent after
	 * STARTTLS in plaintext is discarded, never executed */
	if (evbuffer_get_length(in) > 0) {
		log_notice(LOG_CAT_TLS, "session=%s event=starttls_injection "
		    "client=%s bytes=%zu", s->idstr, s->ip, evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_set_state(s, SMTP_STATE_TLS);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, smtp_write_cb, smtp_event_cb, s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_tls_start(s);
}

static void smtp_auth_check(struct smtp_session *, const char *user,
    const uint8_t *pass, size_t passlen);

/* decode one base64 line; "=" is the empty string (RFC 4954 4) */
static int
auth_b64(const char *p, size_t len, uint8_t *out, size_t outmax, size_t *outlen)
{
	if (len == 1 && p[0] == '=') {
		*outlen = 0;
		return 0;
	}
	if (len == 0)
		return -1;
	return sodium_base642bin(out, outmax, p, len, NULL, outlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL);
}

static void
auth_plain(struct smtp_session *s, const char *p, size_t len)
{
	uint8_t buf[1024];
	size_t n;
	const uint8_t *z1, *z2;

	if (auth_b64(p, len, buf, sizeof(buf), &n) == -1 ||
	    (z1 = memchr(buf, '\0', n)) == NULL ||
	    (z2 = memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - buf))) == NULL) {
		sodium_memzero(buf, sizeof(buf));
		smtp_set_state(s, SMTP_STATE_IDLE);
		smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH PLAIN response");
		return;
	}
	{
		char user[256];
		size_t ulen = (size_t)(z2 - (z1 + 1));
		size_t zlen = (size_t)(z1 - buf);

		/* an authorization identity other than the user is refused */
		if (ulen == 0 || ulen >= sizeof(user) ||
		    (zlen != 0 && (zlen != ulen || memcmp(buf, z1 + 1, ulen) != 0))) {
			sodium_memzero(buf, sizeof(buf));
			smtp_set_state(s, SMTP_STATE_IDLE);
			smtp_reply_error(s, "535 5.7.8 Authentication credentials invalid");
			return;
		}
		memcpy(user, z1 + 1, ulen);
		user[ulen] = '\0';
		smtp_auth_check(s, user, z2 + 1, n - (size_t)(z2 + 1 - buf));
	}
	sodium_memzero(buf, sizeof(buf));
}

static void
proceed_auth(struct smtp_session *s, const char *args, size_t len)
{
	const char *sp;
	size_t mlen;

	if (!auth_offered(s)) {
		smtp_reply_error(s, "502 5.5.1 AUTH not available");
		return;
	}
	if (!s->tls) {
		smtp_reply_error(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (s->authenticated) {
		smtp_reply_error(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->state != SMTP_STATE_IDLE) {
		smtp_reply_error(s, "503 5.5.1 AUTH not permitted during a mail transaction");
		return;
	}
	sp = memchr(args, ' ', len);
	mlen = sp ? (size_t)(sp - args) : len;
	if (mlen == 5 && strncasecmp(args, "PLAIN", 5) == 0) {
		s->auth.mech = AUTH_MECH_PLAIN;
		if (sp) {
			auth_plain(s, sp + 1, len - mlen - 1);
			return;
		}
		s->auth.step = 0;
		smtp_set_state(s, SMTP_STATE_AUTH);
		smtp_reply(s, "334 ");
	} else if (mlen == 5 && strncasecmp(args, "LOGIN", 5) == 0) {
		s->auth.mech = AUTH_MECH_LOGIN;
		s->auth.login_user[0] = '\0';
		smtp_set_state(s, SMTP_STATE_AUTH);
		if (sp) {
			uint8_t u[256];
			size_t n;

			if (auth_b64(sp + 1, len - mlen - 1, u, sizeof(u) - 1, &n) == -1 ||
			    n == 0 || memchr(u, '\0', n) != NULL) {
				smtp_set_state(s, SMTP_STATE_IDLE);
				smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH LOGIN response");
				return;
			}
			memcpy(s->auth.login_user, u, n);
			s->auth.login_user[n] = '\0';
			s->auth.step = 1;
			smtp_reply(s, "334 UGFzc3dvcmQ6");
		} else {
			s->auth.step = 0;
			smtp_reply(s, "334 VXNlcm5hbWU6");
		}
	} else {
		smtp_reply_error(s, "504 5.5.4 Unrecognized authentication type");
	}
}

/* a line while in SMTP_STATE_AUTH: the client's answer to 334 */
static void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		smtp_set_state(s, SMTP_STATE_IDLE);
		smtp_reply_error(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	if (s->auth.mech == AUTH_MECH_PLAIN) {
		auth_plain(s, line, len);
		return;
	}
	if (s->auth.step == 0) {
		uint8_t u[256];
		size_t n;

		if (auth_b64(line, len, u, sizeof(u) - 1, &n) == -1 || n == 0 ||
		    memchr(u, '\0', n) != NULL) {
			smtp_set_state(s, SMTP_STATE_IDLE);
			smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH LOGIN response");
			return;
		}
		memcpy(s->auth.login_user, u, n);
		s->auth.login_user[n] = '\0';
		s->auth.step = 1;
		smtp_reply(s, "334 UGFzc3dvcmQ6");
	} else {
		uint8_t pw[512];
		size_t n;

		if (auth_b64(line, len, pw, sizeof(pw), &n) == -1) {
			sodium_memzero(pw, sizeof(pw));
			smtp_set_state(s, SMTP_STATE_IDLE);
			smtp_reply_error(s, "501 5.5.2 Cannot decode AUTH LOGIN response");
			return;
		}
		smtp_auth_check(s, s->auth.login_user, pw, n);
		sodium_memzero(pw, sizeof(pw));
	}
}

static void
smtp_auth_check(struct smtp_session *s, const char *user, const uint8_t *pass,
    size_t passlen)
{
	struct proto_auth_check q;
	struct ipc_msg m;
	uint64_t req = ++s->srv->next_id;

	/* LOGIN collects the name in auth.login_user already */
	if (user != s->auth.login_user)
		snprintf(s->auth.login_user, sizeof(s->auth.login_user), "%s", user);
	smtp_set_state(s, SMTP_STATE_IDLE);
	/* the request id doubles as a lookup key: map it to the session */
	q.mech = s->auth.mech == AUTH_MECH_PLAIN ? "PLAIN" : "LOGIN";
	q.user = user;
	q.pass = (const uint8_t *)pass;
	q.passlen = passlen;
	q.client_ip = s->ip;
	proto_auth_check_enc(&m, s->id, &q);
	ipc_send(s->srv->auth, &m);
	smtp_park(s, SMTP_WAIT_AUTH, req, s->srv->conf->timeout_command * 1000);
}

/*
 * A failed AUTH: its log line and event. failures is the running count
 * the ban is decided on (the client's network, within auth_fail_window,
 * this one included), not this session's: a brute force opens a new
 * connection for each try.
 */
static void
smtp_auth_fail_log(struct smtp_session *s, int failures)
{
	const char *mech = s->auth.mech == AUTH_MECH_PLAIN ? "PLAIN" : "LOGIN";
	char esc[600], detail[128];

	log_escape_bare(esc, sizeof(esc), s->auth.login_user,
	    strlen(s->auth.login_user));
	/* no name tried (an empty LOGIN user): user=-, as everywhere */
	log_notice(LOG_CAT_AUTH, "session=%s event=auth_fail client=%s "
	    "user=%s mechanism=%s failures=%d session_failures=%d",
	    s->idstr, s->ip, esc[0] ? esc : "-", mech, failures,
	    s->auth.failures);
	snprintf(detail, sizeof(detail), "mechanism=%s failures=%d", mech,
	    failures);
	smtp_server_event(s->srv, "auth_fail", s->ip, s->auth.login_user,
	    s->idstr, detail);
}

/*
 * smtp_auth_guard - brute force. Per address: auth_fail_limit failures
 * in auth_fail_window ban it (doubling for repeat offenders) and close
 * the session. Per account: failures from several addresses raise an
 * alert and slow that account's failed AUTH replies down, without
 * locking the user out. -1 when the session was closed.
 */
static int
smtp_auth_guard(struct smtp_session *s)
{
	const struct conf *c = s->srv->conf;
	time_t now = time(NULL);
	char key[300], net[CIDR_STRLEN];
	int n, distinct, alert;

	/* per client network: an IPv6 host may change address at will */
	smtp_server_client_net(s->srv, s->addr, net, sizeof(net));
	snprintf(key, sizeof(key), "a:%s", net);
	n = guard_hit(s->srv->guard, key, s->addr, now, c->auth_fail_window, NULL);
	smtp_auth_fail_log(s, n);
	if (pol_auth_client(c, n, relay_client_trusted(&s->srv->relay,
	    s->addr)) == POL_REJECT) {
		char bkey[80], reason[96];
		int secs;

		snprintf(bkey, sizeof(bkey), "b:%s", net);
		secs = pol_ban_seconds(c, guard_bump(s->srv->guard, bkey, now));
		guard_reset(s->srv->guard, key);
		snprintf(reason, sizeof(reason), "%d AUTH failures in %ds", n,
		    c->auth_fail_window);
		/* this session first, so its reply names the reason */
		smtp_reply(s, "421 4.7.0 %s Error: too many authentication "
		    "failures", c->hostname);
		smtp_close(s, "auth brute force");
		smtp_server_ban(s->srv, s->addr, secs, reason, "auth");
		return -1;
	}
	if (s->auth.login_user[0] == '\0')
		return 0;	/* no name tried: nothing to count per account */
	snprintf(key, sizeof(key), "u:%s", s->auth.login_user);
	n = guard_hit(s->srv->guard, key, s->addr, now, c->auth_fail_window,
	    &distinct);
	s->auth.delay_ms = pol_auth_account(c, n, distinct, &alert);
	if (alert) {
		char esc[600], detail[128];

		log_escape_bare(esc, sizeof(esc), s->auth.login_user,
		    strlen(s->auth.login_user));
		log_warn(LOG_CAT_AUTH, "event=account_attack user=%s "
		    "failures=%d addresses=%d alert=yes", esc, n, distinct);
		snprintf(detail, sizeof(detail), "failures=%d addresses=%d",
		    n, distinct);
		smtp_server_event(s->srv, "account_attack", s->ip,
		    s->auth.login_user, s->idstr, detail);
	}
	return 0;
}

/* the pause after a failed AUTH is over: its reply */
static void
smtp_auth_fail_reply(struct smtp_session *s)
{
	smtp_reply_error(s, "535 5.7.8 Authentication credentials invalid");
	if (s->state != SMTP_STATE_CLOSING && s->auth.failures >= SMTP_AUTH_FAIL_MAX) {
		smtp_reply(s, "421 4.7.0 %s Error: too many authentication failures",
		    s->srv->conf->hostname);
		smtp_close(s, "too many authentication failures");
	}
	if (s->state != SMTP_STATE_CLOSING)
		smtp_unpark(s, SMTP_STATE_IDLE);
}

/*
 * The queue hears of the login before the client hears 235: on the
 * same channel as the session's messages, so it has judged the login
 * (a login after a guessing attack is quarantined) before the first
 * of them arrives.
 */
static void
smtp_session_login_sent(struct smtp_session *s)
{
	struct proto_auth_login l;
	struct ipc_msg m;

	l.user = s->auth_user;
	l.client_ip = s->ip;
	l.session = s->idstr;
	proto_auth_login_enc(&m, 0, &l);
	ipc_send(s->srv->queue, &m);
}

/* smtp_session_auth_result - the auth process answered */
void
smtp_session_auth_result(struct smtp_session *s, int result)
{
	char esc[600];

	if (s->state != SMTP_STATE_WAIT || s->waiting != SMTP_WAIT_AUTH)
		return;
	log_escape_bare(esc, sizeof(esc), s->auth.login_user,
	    strlen(s->auth.login_user));
	if (result == PROTO_AUTH_OK &&
	    smtp_server_is_suspended(s->srv, s->auth.login_user)) {
		/* the password was right, the account is not usable */
		log_notice(LOG_CAT_AUTH, "session=%s event=auth_suspended client=%s "
		    "user=%s", s->idstr, s->ip, esc);
		smtp_server_event(s->srv, "auth_suspended", s->ip,
		    s->auth.login_user, s->idstr, "account suspended");
		smtp_reply_error(s, "535 5.7.8 Authentication credentials invalid");
		if (s->state != SMTP_STATE_CLOSING)
			smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	if (result == PROTO_AUTH_OK) {
		s->authenticated = 1;
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", s->auth.login_user);
		log_info(LOG_CAT_AUTH, "session=%s event=auth_ok client=%s user=%s "
		    "mechanism=%s", s->idstr, s->ip, esc,
		    s->auth.mech == AUTH_MECH_PLAIN ? "PLAIN" : "LOGIN");
		s->srv->stats.auth_ok++;
		smtp_session_login_sent(s);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	if (result == PROTO_AUTH_TEMPFAIL) {
		smtp_reply_error(s, "454 4.7.0 Temporary authentication failure");
		if (s->state != SMTP_STATE_CLOSING)
			smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	s->auth.failures++;
	if (smtp_auth_guard(s) == -1)
		return;
	/* the same pause for unknown users and wrong passwords */
	smtp_wait_arm(s, SMTP_WAIT_AUTH_PAUSE,
	    s->srv->conf->auth_fail_delay_ms + s->auth.delay_ms);
}

/*
 * The checks: may this verb run in the session's state? Each refuses
 * with its own reply (and -1); commands outside a transaction count
 * towards max_idle_commands here (-1 when that ended the session).
 * What the arguments say is the proceed function's business.
 */

/*
 * in one of allowed states, or out of order: early_reply in one of the
 * early states (a verb too soon), else reply
 */
static int
check_order(struct smtp_session *s, unsigned allowed, unsigned early,
    const char *early_reply, const char *reply)
{
	unsigned st = 1u << s->state;

	if (allowed & st)
		return 0;
	smtp_reply_error(s, "%s", (early & st) ? early_reply : reply);
	return -1;
}

/* in one of states, or the 503 most verbs get out of order */
static int
check_state(struct smtp_session *s, unsigned states)
{
	return check_order(s, states, 0, NULL,
	    "503 5.5.1 Error: send HELO/EHLO first");
}

/* QUIT, BDAT: any time after the banner */
static int
check_any(struct smtp_session *s, const char *args, size_t len)
{
	return check_state(s, ST_ANY);
}

/* EHLO, HELO, RSET, NOOP, HELP, VRFY, EXPN: loops of them end the session */
static int
check_idle(struct smtp_session *s, const char *args, size_t len)
{
	if (check_state(s, ST_ANY) == -1)
		return -1;
	return smtp_idle_command(s, s->last_cmd);
}

static int
check_mail(struct smtp_session *s, const char *args, size_t len)
{
	if (check_order(s, ST(IDLE), ST(HELO),
	    "503 5.5.1 Error: send HELO/EHLO first",
	    "503 5.5.1 Error: nested MAIL command") == -1)
		return -1;
	s->idle_cmds = 0;
	return 0;
}

static int
check_rcpt(struct smtp_session *s, const char *args, size_t len)
{
	return check_order(s, ST(MAIL) | ST(RCPT), 0, NULL,
	    "503 5.5.1 Error: need MAIL command");
}

static int
check_data(struct smtp_session *s, const char *args, size_t len)
{
	return check_order(s, ST(RCPT), ST(MAIL),
	    "554 5.5.1 Error: no valid recipients",
	    "503 5.5.1 Error: need RCPT command");
}

static int
check_starttls(struct smtp_session *s, const char *args, size_t len)
{
	return check_order(s, ST(IDLE), ST(HELO),
	    "503 5.5.1 Error: send EHLO first",
	    "503 5.5.1 Error: STARTTLS not permitted during a mail transaction");
}

static int
check_auth(struct smtp_session *s, const char *args, size_t len)
{
	if (check_state(s, ST_GREETED) == 0)
		return 0;
	/* password guessers skip the greeting: on a listener that offers
	 * AUTH this counts as a failed AUTH */
	if (s->state == SMTP_STATE_HELO && auth_offered(s)) {
		s->auth.login_user[0] = '\0';
		(void)smtp_auth_guard(s);
	}
	return -1;
}

static const struct smtp_command commands[] = {
	{ SMTP_CMD_EHLO,	check_idle,	proceed_ehlo,	CMD_LAST },
	{ SMTP_CMD_HELO,	check_idle,	proceed_helo,	CMD_LAST },
	{ SMTP_CMD_MAIL,	check_mail,	proceed_mail,	0 },
	{ SMTP_CMD_RCPT,	check_rcpt,	proceed_rcpt,	0 },
	{ SMTP_CMD_DATA,	check_data,	proceed_data,	CMD_LAST },
	{ SMTP_CMD_RSET,	check_idle,	proceed_rset,	0 },
	{ SMTP_CMD_NOOP,	check_idle,	proceed_noop,	0 },
	{ SMTP_CMD_QUIT,	check_any,	proceed_quit,	CMD_LAST | CMD_QUIT },
	{ SMTP_CMD_HELP,	check_idle,	proceed_help,	0 },
	{ SMTP_CMD_VRFY,	check_idle,	proceed_vrfy,	0 },
	{ SMTP_CMD_EXPN,	check_idle,	proceed_expn,	0 },
	{ SMTP_CMD_BDAT,	check_any,	proceed_bdat,	0 },
	{ SMTP_CMD_STARTTLS,	check_starttls,	proceed_starttls, CMD_LAST },
	{ SMTP_CMD_AUTH,	check_auth,	proceed_auth,	CMD_LAST },
};

/*
 * RFC 2920: a client may only send ahead once PIPELINING was advertised,
 * and never past a command that must end a group (QUIT excepted: what
 * follows it is never read).
 */
static void
smtp_check_pipelining(struct smtp_session *s, const struct smtp_command *c)
{
	const char *verb = smtp_verb_name(c->verb);

	if (s->state == SMTP_STATE_CLOSING || s->state == SMTP_STATE_TLS ||
	    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0 ||
	    (s->esmtp && !(c->flags & CMD_LAST)) || (c->flags & CMD_QUIT))
		return;
	log_notice(LOG_CAT_POLICY, "session=%s event=improper_pipelining "
	    "client=%s after=%s", s->idstr, s->ip, verb);
	smtp_server_event(s->srv, "improper_pipelining", s->ip, s->auth_user,
	    s->idstr, verb);
	smtp_reply(s, "554 5.5.0 Error: improper command pipelining");
	smtp_close(s, "improper pipelining");
}

static void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	const struct smtp_command *c = NULL;

	if (smtp_parse_cmd(line, len, &cmd) == -1) {
		smtp_reply_error(s, "500 5.5.2 Error: bad syntax");
		return;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == cmd.verb)
			c = &commands[i];
	if (c == NULL) {
		smtp_reply_error(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	log_debug(LOG_CAT_SMTP, "session=%s event=command verb=%s", s->idstr,
	    smtp_verb_name(cmd.verb));
	s->last_cmd = smtp_verb_name(cmd.verb);	/* for moat sessions */
	if (c->check(s, cmd.args, cmd.argslen) == -1)
		return;
	c->proceed(s, cmd.args, cmd.argslen);
	smtp_check_pipelining(s, c);
}

/* ---- DATA ---- */

/*
 * The milters get the header section once it is whole, then the body
 * bytes the last feed added to tx->msg (from before on) as they come.
 */
static void
smtp_milter_piece(void *arg, const void *p, size_t len)
{
	milter_chain_body(arg, p, len);
}

static void
smtp_milter_stream(struct smtp_session *s, size_t before)
{
	if (!s->milter_head_sent && s->tx->head.done) {
		milter_chain_headers(s->milters, s->tx->head.buf,
		    s->tx->head.len);
		s->milter_head_sent = 1;
	}
	evbuf_walk(s->tx->msg, before, evbuffer_get_length(s->tx->msg),
	    smtp_milter_piece, s->milters);
}

/*
 * Message bytes as they are received: the header section stays in
 * tx->head to the dot; past SMTP_CHUNK the body goes to the queue
 * process, so a session holds at most about that much of a body however
 * large it is; a smaller message still goes in one frame.
 */
static void
smtp_data_emit(void *arg, const char *p, size_t len)
{
	struct smtp_session *s = arg;
	size_t before = evbuffer_get_length(s->tx->msg);

	if (smtp_head_feed(&s->tx->head, p, len, s->tx->msg) == -1) {
		s->tx->data.err = SMTP_DATA_HEAD_TOO_BIG;
		return;
	}
	/* the body bytes just added are hashed for the DKIM signature */
	if (s->tx->dkim != NULL)
		smtp_dkim_body(s->tx->dkim, s->tx->msg, before);
	if (s->tx->authres != NULL)
		smtp_authres_body(s->tx->authres, &s->tx->head, s->tx->msg,
		    before);
	if (s->milters != NULL && s->tx->data.err == SMTP_DATA_OK)
		smtp_milter_stream(s, before);
	if (evbuffer_get_length(s->tx->msg) < SMTP_CHUNK ||
	    s->tx->data.err != SMTP_DATA_OK)
		return;
	smtp_tx_send_chunk(s);
}

/* smtp_tx_send_chunk - the body so far goes to the queue as one part */
void
smtp_tx_send_chunk(struct smtp_session *s)
{
	struct ipc_msg m;

	s->tx->queued_bytes += evbuffer_get_length(s->tx->msg);
	proto_chunk_enc(&m, s->id, s->tx->msg);
	ipc_send(s->srv->queue, &m);
	s->tx->streaming = 1;
}

/*
 * The queue hands a message for outside recipients to the mta in one
 * IPC frame: a message that could not fit is refused at the dot rather
 * than accepted and then stuck (local mailboxes take any size).
 */
static int
smtp_too_big_to_relay(struct smtp_session *s)
{
	if (s->tx->data.size <= SMTP_RELAY_MAX)
		return 0;
	for (size_t i = 0; i < s->tx->n_rcpts; i++)
		if (s->tx->rcpts[i].mailbox[0] == '\0')
			return 1;
	return 0;
}

/* what the client is told when DATA's machine refused the message */
static const struct {
	enum smtp_data_err	 err;
	const char		*reply;
	const char		*why;		/* for the log */
} data_errors[] = {
	{ SMTP_DATA_BARE_EOL, "550 5.6.0 Message rejected: bare CR or LF in "
	    "message content", "bare CR or LF" },
	{ SMTP_DATA_NUL, "550 5.6.0 Message rejected: NUL byte in message "
	    "content", "NUL byte" },
	{ SMTP_DATA_LONG_LINE, "500 5.5.2 Message rejected: line too long",
	    "line too long" },
	{ SMTP_DATA_TOO_BIG, "552 5.3.4 Message size exceeds fixed limit",
	    "message too big" },
	{ SMTP_DATA_TOO_MANY_HOPS, "554 5.4.6 Too many hops (mail loop?)",
	    "too many Received headers" },
	{ SMTP_DATA_HEAD_TOO_BIG, "552 5.3.4 Header section exceeds fixed "
	    "limit", "header section too big" },
};

/* the message was refused at its dot: the transaction ends */
static void
smtp_data_reject(struct smtp_session *s)
{
	s->srv->stats.rejected[SMTP_REJ_DATA]++;
	smtp_reset_tx(s);
	if (s->state != SMTP_STATE_CLOSING)
		smtp_set_state(s, SMTP_STATE_IDLE);
	/* its lifetime ran out during DATA (smtp_lifetime_cb) */
	if (s->quit_after_reply && s->state == SMTP_STATE_IDLE) {
		smtp_reply(s, "%s", s->quit_reply);
		smtp_close(s, "session lifetime");
	}
}

/* the message broke DATA's rules (data.err) */
static void
smtp_data_refused(struct smtp_session *s)
{
	const char *why = "?";

	for (size_t i = 0; i < sizeof(data_errors) / sizeof(data_errors[0]); i++)
		if (data_errors[i].err == s->tx->data.err) {
			smtp_reply_error(s, "%s", data_errors[i].reply);
			why = data_errors[i].why;
			break;
		}
	log_info(LOG_CAT_SMTP, "session=%s event=reject_data client=%s "
	    "reason=\"%s\"", s->idstr, s->ip, why);
	smtp_data_reject(s);
}

/*
 * A step at the dot refused the message (replied): the transaction
 * ends; parked by a step (or waiting for an answer), unparked too.
 */
static void
smtp_dot_refused(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_WAIT) {
		s->srv->stats.rejected[SMTP_REJ_DATA]++;
		smtp_reset_tx(s);
		smtp_unpark(s, SMTP_STATE_IDLE);
	} else
		smtp_data_reject(s);
}

/* the authserv-id of our Authentication-Results fields */
static const char *
smtp_authserv_id(const struct smtp_session *s)
{
	return s->srv->conf->authserv_id[0] != '\0' ?
	    s->srv->conf->authserv_id : s->srv->conf->hostname;
}

/*
 * The first step at the dot, for every message on every listener: an
 * Authentication-Results field in our name is forged (RFC 8601 5), only
 * we write it, whether or not this message is checked.
 */
enum smtp_dot_rc
smtp_dot_authres_strip(struct smtp_session *s)
{
	s->tx->authres_forged = smtp_authres_strip(&s->tx->head,
	    smtp_authserv_id(s));
	if (s->tx->authres_forged > 0 && s->tx->authres == NULL)
		log_info(LOG_CAT_SMTP, "session=%s qid=%s "
		    "event=authres_forged_removed client=%s count=%d",
		    s->idstr, s->tx->qid, s->ip, s->tx->authres_forged);
	return SMTP_DOT_CONTINUE;
}

/*
 * The results go into the header section, and DMARC's demand is met
 * (dmarc_reject, dmarc_quarantine): -1 when the message was refused
 * (replied; the transaction is to end).
 */
static int
smtp_authres_write(struct smtp_session *s)
{
	char summary[512];

	if (smtp_authres_apply(s->tx->authres, &s->tx->head,
	    smtp_authserv_id(s), summary, sizeof(summary)) == -1)
		log_warn(LOG_CAT_SMTP, "session=%s qid=%s event=authres_failed "
		    "client=%s reason=\"out of memory\"", s->idstr, s->tx->qid,
		    s->ip);
	log_info(LOG_CAT_SMTP, "session=%s qid=%s event=authres client=%s "
	    "results=\"%s\" forged_removed=%d", s->idstr, s->tx->qid, s->ip,
	    summary, s->tx->authres_forged);
	switch (smtp_authres_action(s->tx->authres)) {
	case SMTP_DMARC_REJECT:
		if (!s->srv->conf->dmarc_reject)
			break;
		log_info(LOG_CAT_SMTP, "session=%s qid=%s event=dmarc_reject "
		    "client=%s", s->idstr, s->tx->qid, s->ip);
		smtp_reply(s, "550 5.7.1 Message refused: DMARC policy of "
		    "the From domain");
		smtp_dot_refused(s);
		return -1;
	case SMTP_DMARC_QUARANTINE:
		if (!s->srv->conf->dmarc_quarantine)
			break;
		log_info(LOG_CAT_SMTP, "session=%s qid=%s event=dmarc_hold "
		    "client=%s", s->idstr, s->tx->qid, s->ip);
		s->tx->store_flags |= PROTO_MSGF_HOLD;
		break;
	case SMTP_DMARC_NONE:
		break;
	}
	return 0;
}

/*
 * Inbound authentication at the dot, the first step: the DKIM
 * signatures of mail from outside checked, with key lookups in flight
 * the session waits (smtp_session_authres_done goes on).
 */
enum smtp_dot_rc
smtp_dot_authres(struct smtp_session *s)
{
	if (s->tx->authres == NULL)
		return SMTP_DOT_CONTINUE;
	if (smtp_authres_finish(s->tx->authres, &s->tx->head) > 0) {
		smtp_park(s, SMTP_WAIT_AUTHRES, s->id, SMTP_AUTHRES_WAIT_MS);
		return SMTP_DOT_PARKED;
	}
	return smtp_authres_write(s) == -1 ? SMTP_DOT_ENDED :
	    SMTP_DOT_CONTINUE;
}

/* smtp_session_authres_done - the last key lookup came */
void
smtp_session_authres_done(struct smtp_session *s)
{
	if (s->state != SMTP_STATE_WAIT || s->waiting != SMTP_WAIT_AUTHRES)
		return;
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	if (smtp_authres_write(s) == -1)
		return;
	smtp_dot_next(s);
}

/* the key lookups took too long: what did not come is a temperror */
static void
smtp_authres_timeout(struct smtp_session *s)
{
	smtp_authres_give_up(s->tx->authres);
	smtp_session_authres_done(s);
}

/* the message cannot be signed now: 451, the transaction ends */
static void
smtp_dkim_failed(struct smtp_session *s, const char *why)
{
	log_warn(LOG_CAT_SMTP, "session=%s event=dkim_sign_failed client=%s "
	    "reason=\"%s\"", s->idstr, s->ip, why);
	smtp_reply(s, "451 4.3.0 Error: message could not be signed");
	smtp_dot_refused(s);
}

/*
 * The DKIM signing step at the dot: mail of ours (smtp_dkim_tx_new at
 * DATA) whose From domain has keys waits for ca's signatures;
 * smtp_session_dkim_signed goes on.
 */
enum smtp_dot_rc
smtp_dot_dkim_sign(struct smtp_session *s)
{
	int n;

	if (s->tx->dkim == NULL)
		return SMTP_DOT_CONTINUE;
	if ((n = smtp_dkim_sign(s, s->tx->dkim, s->tx->head.buf,
	    s->tx->head.len)) < 0) {
		smtp_dkim_failed(s, "request to ca failed");
		return SMTP_DOT_ENDED;
	}
	if (n == 0)
		return SMTP_DOT_CONTINUE;
	smtp_park(s, SMTP_WAIT_DKIM, s->id, s->srv->conf->timeout_data * 1000);
	return SMTP_DOT_PARKED;
}

/* smtp_session_dkim_signed - ca's answer to one PROTO_DKIM_SIGN */
void
smtp_session_dkim_signed(struct smtp_session *s, uint32_t key_id, int status,
    const uint8_t *sig, size_t siglen)
{
	struct evbuffer *f;
	int rc;

	if (s->state != SMTP_STATE_WAIT || s->waiting != SMTP_WAIT_DKIM ||
	    s->tx == NULL || s->tx->dkim == NULL)
		return;
	if ((rc = smtp_dkim_signed(s->tx->dkim, key_id, status, sig,
	    siglen)) == 0)
		return;
	if (rc == -1) {
		smtp_dkim_failed(s, "ca could not sign");
		return;
	}
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	/* the signatures go first, above our Received */
	f = smtp_dkim_fields(s->tx->dkim);
	if (smtp_head_insert(&s->tx->head, 0, (const char *)evbuffer_pullup(f,
	    -1), evbuffer_get_length(f)) == -1) {
		smtp_dkim_failed(s, "out of memory");
		return;
	}
	log_debug(LOG_CAT_SMTP, "session=%s qid=%s event=dkim_signed "
	    "signatures=%d", s->idstr, s->tx->qid,
	    smtp_dkim_count(s->tx->dkim));
	smtp_dot_next(s);
}

static void
smtp_data_done(struct smtp_session *s)
{
	smtp_set_timeout(s, s->srv->conf->timeout_command);
	if (s->tx->data.err != SMTP_DATA_OK) {
		smtp_data_refused(s);
		return;
	}
	if (smtp_too_big_to_relay(s)) {
		log_info(LOG_CAT_SMTP, "session=%s event=reject_data client=%s "
		    "reason=\"too big to relay\" size=%zu", s->idstr, s->ip,
		    s->tx->data.size);
		smtp_reply_error(s, "552 5.3.4 Message too big to relay");
		smtp_data_reject(s);
		return;
	}
	smtp_dot_start(s);
}

/* the milters' step at the dot: their end-of-message answer */
enum smtp_dot_rc
smtp_dot_milter(struct smtp_session *s)
{
	if (s->milters == NULL)
		return SMTP_DOT_CONTINUE;
	if (!s->milter_head_sent) {
		milter_chain_headers(s->milters, s->tx->head.buf,
		    s->tx->head.len);
		s->milter_head_sent = 1;
	}
	smtp_milter_event(s, SMFIC_BODYEOB, NULL, 0);
	return SMTP_DOT_PARKED;
}

/* the milters' answer at the dot */
static void
smtp_milter_eom(struct smtp_session *s, const struct milter_result *r)
{
	char from[ADDR_PATH_MAX * 2], esc[ADDR_PATH_MAX * 4];

	if (r->verdict == MILTER_REJECT || r->verdict == MILTER_TEMPFAIL) {
		smtp_milter_refusal(s, r, "550 5.7.1 Message rejected", 0);
		s->srv->stats.rejected[SMTP_REJ_DATA]++;
		smtp_reset_tx(s);
		smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	if (r->verdict == MILTER_DISCARD) {
		addr_format(&s->tx->mail.addr, from, sizeof(from));
		log_info(LOG_CAT_SMTP, "session=%s qid=%s event=discarded "
		    "client=%s from=<%s> milter=%s", s->idstr, s->tx->qid,
		    s->ip, log_escape_bare(esc, sizeof(esc), from,
		    strlen(from)), r->milter != NULL ? r->milter : "-");
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->tx->qid);
		smtp_reset_tx(s);
		smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	smtp_milter_apply(s);
	if (r->quarantine) {
		log_escape(esc, sizeof(esc), r->quarantine_why,
		    strlen(r->quarantine_why));
		log_notice(LOG_CAT_SMTP, "session=%s qid=%s event=quarantine "
		    "client=%s milter=%s reason=\"%s\"", s->idstr, s->tx->qid,
		    s->ip, r->milter != NULL ? r->milter : "-", esc);
		s->tx->store_flags |= PROTO_MSGF_HOLD;
	}
	if (s->tx->n_rcpts == 0) {
		/* the milters took every recipient away: nothing to store */
		log_info(LOG_CAT_SMTP, "session=%s qid=%s event=discarded "
		    "client=%s reason=\"no recipients left\"", s->idstr,
		    s->tx->qid, s->ip);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->tx->qid);
		smtp_reset_tx(s);
		smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	}
	/* back to where the dot left it, for the steps after this one */
	s->waiting = SMTP_WAIT_NONE;
	evtimer_del(s->wait_timer);
	smtp_set_state(s, SMTP_STATE_DATA);
	smtp_dot_next(s);
}

/*
 * A refused MAIL or DATA ends the transaction; the session goes on (the
 * refusal's reply may have closed it: too many errors). The tx is reset
 * after the reply, whose log line names its qid.
 */
static void
smtp_milter_refuse_tx(struct smtp_session *s, const struct milter_result *r)
{
	smtp_milter_refusal(s, r, "550 5.7.1 Command rejected", 1);
	smtp_reset_tx(s);
	if (s->state != SMTP_STATE_CLOSING)
		smtp_unpark(s, SMTP_STATE_IDLE);
}

/*
 * smtp_milter_answer - the milters answered the event the session
 * waits for (s->milter_event); a refusal gets its reply here.
 */
static void
smtp_milter_answer(struct smtp_session *s, const struct milter_result *r)
{
	int refused = r->verdict == MILTER_REJECT ||
	    r->verdict == MILTER_TEMPFAIL;
	int event = s->milter_event;

	/* a filter that is down refuses transactions, not the greeting */
	if (refused && r->unavailable && (event == SMFIC_CONNECT ||
	    event == SMFIC_HELO))
		refused = 0;
	if (refused && r->code == 421) {
		/* a milter that wants the session ended */
		smtp_milter_refusal(s, r, NULL, 0);
		smtp_close(s, "milter 421");
		return;
	}
	switch (event) {
	case SMFIC_CONNECT:
		/* HELO waited for it: then HELO's own event */
		s->milter_connect = 0;
		if (refused) {
			smtp_milter_log(s, r);
			smtp_milter_refuse_greeting(s, r->verdict ==
			    MILTER_REJECT);
			return;
		}
		{
			const char *argv[1] = { s->helo };

			smtp_milter_event(s, SMFIC_HELO, argv, 1);
		}
		return;
	case SMFIC_HELO:
		if (refused) {
			s->helo[0] = '\0';
			smtp_milter_refusal(s, r, "550 5.7.1 Command rejected", 1);
			if (s->state != SMTP_STATE_CLOSING)
				smtp_unpark(s, SMTP_STATE_HELO);
			return;
		}
		smtp_helo_reply(s);
		smtp_unpark(s, SMTP_STATE_IDLE);
		return;
	case SMFIC_MAIL:
		if (refused) {
			smtp_milter_refuse_tx(s, r);
			return;
		}
		smtp_reply(s, "250 2.1.0 Ok");
		smtp_unpark(s, SMTP_STATE_MAIL);
		return;
	case SMFIC_RCPT:
		if (refused) {
			s->tx->n_rcpts = s->milter_first;
			s->tx->n_accepted--;
			smtp_milter_refusal(s, r, "550 5.7.1 Command rejected", 1);
			if (s->state != SMTP_STATE_CLOSING)
				smtp_unpark(s, s->tx->n_rcpts > 0 ?
				    SMTP_STATE_RCPT : SMTP_STATE_MAIL);
			return;
		}
		smtp_reply(s, "250 2.1.5 Ok");
		smtp_unpark(s, SMTP_STATE_RCPT);
		return;
	case SMFIC_DATA:
		if (refused) {
			smtp_milter_refuse_tx(s, r);
			return;
		}
		/* smtp_data_begin sets its own state; reading on after */
		s->wait_id = 0;
		s->waiting = SMTP_WAIT_NONE;
		evtimer_del(s->wait_timer);
		smtp_data_begin(s);
		bufferevent_enable(s->bev, EV_READ);
		smtp_process(s);
		return;
	case SMFIC_BODYEOB:
		smtp_milter_eom(s, r);
		return;
	}
}

/* the last step at the dot: the queue stores it, then the client hears */
enum smtp_dot_rc
smtp_dot_store(struct smtp_session *s)
{
	struct proto_store st;
	struct proto_store_rcpt rc;
	struct ipc_msg m;
	char from[ADDR_PATH_MAX * 2];

	addr_format(&s->tx->mail.addr, from, sizeof(from));
	st.sender = from;
	st.helo = s->helo;
	st.client_ip = s->ip;
	st.auth_user = s->authenticated ? s->auth_user : "";
	st.listener = s->listener->conf->name;
	st.envid = s->tx->mail.envid;
	st.qid = s->tx->qid;
	st.ret = (uint8_t)s->tx->mail.ret;
	st.flags = (uint8_t)((s->tx->mail.body_8bit ? PROTO_MSGF_8BITMIME : 0) |
	    (s->tx->mail.smtputf8 ? PROTO_MSGF_SMTPUTF8 : 0) |
	    (smtp_outsider(s) ? PROTO_MSGF_OUTSIDER : 0) | s->tx->store_flags);
	st.nrcpt = (uint32_t)s->tx->n_rcpts;
	proto_store_enc(&m, s->id, &st);
	for (size_t i = 0; i < s->tx->n_rcpts; i++) {
		rc.address = s->tx->rcpts[i].addr;
		rc.orcpt = s->tx->rcpts[i].orcpt;
		rc.notify = (uint8_t)s->tx->rcpts[i].notify;
		rc.mailbox = s->tx->rcpts[i].mailbox;
		proto_store_rcpt_enc(&m, &rc);
	}
	s->tx->queued_bytes += s->tx->head.len +
	    evbuffer_get_length(s->tx->msg);
	proto_store_head_enc(&m, s->tx->head.buf, s->tx->head.len);
	proto_body_enc(&m, s->tx->msg);
	ipc_send(s->srv->queue, &m);
	s->tx->streaming = 0;	/* the chunks are the queue's now */
	smtp_park(s, SMTP_WAIT_QUEUE, s->id, s->srv->conf->timeout_data * 1000);
	return SMTP_DOT_PARKED;
}

/* smtp_session_stored - the queue answered a PROTO_QUEUE_STORE */
void
smtp_session_stored(struct smtp_session *s, int status, const char *qid)
{
	char from[ADDR_PATH_MAX * 2], esc[ADDR_PATH_MAX * 4];
	char idesc[SMTP_MSGID_MAX * 4 + 1];
	const char *msgid;

	if (s->state != SMTP_STATE_WAIT || s->waiting != SMTP_WAIT_QUEUE)
		return;
	addr_format(&s->tx->mail.addr, from, sizeof(from));
	if (status == PROTO_STORE_OK) {
		s->n_msgs++;
		/* the client's Message-ID, escaped here: any bytes may come */
		msgid = smtp_data_msgid(&s->tx->data);
		log_info(LOG_CAT_SMTP, "session=%s qid=%s event=accepted client=%s "
		    "from=<%s> nrcpt=%zu size=%zu msgid=%s", s->idstr, qid,
		    s->ip, log_escape_bare(esc, sizeof(esc), from, strlen(from)),
		    s->tx->n_rcpts, s->tx->queued_bytes, msgid[0] ?
		    log_escape_bare(idesc, sizeof(idesc), msgid, strlen(msgid)) :
		    "-");
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", qid);
	} else if (status == PROTO_STORE_DISKFULL) {
		log_warn(LOG_CAT_QUEUE, "session=%s event=tempfail client=%s "
		    "reason=\"queue full\"", s->idstr, s->ip);
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_warn(LOG_CAT_QUEUE, "session=%s event=tempfail client=%s "
		    "reason=\"queue error\"", s->idstr, s->ip);
		smtp_reply(s, "451 4.3.0 Error: queue file write error");
	}
	smtp_reset_tx(s);
	smtp_unpark(s, SMTP_STATE_IDLE);
}

/* ---- input ---- */


/* slow-drip clients: after data_rate_grace, at least min_data_rate B/s */
static int
smtp_data_too_slow(struct smtp_session *s)
{
	long elapsed = (long)(time(NULL) - s->tx->data_started);

	if (pol_data_rate(s->srv->conf, elapsed, s->tx->data_bytes) == POL_OK)
		return 0;
	log_notice(LOG_CAT_POLICY, "session=%s event=limit client=%s "
	    "limit=min_data_rate bytes=%zu seconds=%ld", s->idstr, s->ip,
	    s->tx->data_bytes, elapsed);
	smtp_server_event(s->srv, "limit", s->ip, s->auth_user, s->idstr,
	    "min_data_rate");
	smtp_reply(s, "421 4.4.2 %s Error: data too slow", s->srv->conf->hostname);
	smtp_close(s, "min_data_rate");
	return 1;
}

/*
 * A client that sends commands without reading the replies would make
 * them pile up here: past SMTP_OUTPUT_MAX waiting, stop reading (and
 * executing) until they drain below SMTP_OUTPUT_RESUME.
 */
static int
smtp_output_full(struct smtp_session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) < SMTP_OUTPUT_MAX)
		return 0;
	if (!s->output_full)
		log_debug(LOG_CAT_SMTP, "session=%s event=output_full client=%s",
		    s->idstr, s->ip);
	s->output_full = 1;
	bufferevent_disable(s->bev, EV_READ);
	return 1;
}

/* the replies drained: read and execute the client's commands again */
static void
smtp_output_resume(struct smtp_session *s)
{
	if (!s->output_full || evbuffer_get_length(bufferevent_get_output(
	    s->bev)) > SMTP_OUTPUT_RESUME)
		return;
	s->output_full = 0;
	if (s->state == SMTP_STATE_WAIT || s->state == SMTP_STATE_CLOSING ||
	    s->state == SMTP_STATE_TLS)
		return;		/* whoever ends those turns reading on */
	bufferevent_enable(s->bev, EV_READ);
	smtp_process(s);
}

/*
 * Message parts go to the queue process as they arrive; while it has
 * not read SMTP_QUEUE_BACKLOG of them yet, DATA is not read on, so a
 * slow queue costs no memory here. smtp_session_queue_drained resumes.
 */
static int
smtp_queue_backlog(struct smtp_session *s)
{
	if (ipc_peer_pending(s->srv->queue) < SMTP_QUEUE_BACKLOG)
		return 0;
	if (!s->queue_full) {
		s->queue_full = 1;
		s->srv->n_queue_full++;
	}
	bufferevent_disable(s->bev, EV_READ);
	return 1;
}

/*
 * Body bytes the milters have not taken yet: past SMTP_MILTER_BACKLOG
 * DATA is not read on (a slow filter costs no memory here);
 * smtp_milter_drained_cb resumes.
 */
static int
smtp_milter_backlog(struct smtp_session *s)
{
	if (s->milters == NULL ||
	    milter_chain_backlog(s->milters) < SMTP_MILTER_BACKLOG)
		return 0;
	s->milter_full = 1;
	bufferevent_disable(s->bev, EV_READ);
	return 1;
}

/* smtp_session_queue_drained - the queue read our backlog: DATA goes on */
void
smtp_session_queue_drained(struct smtp_session *s)
{
	if (!s->queue_full)
		return;
	s->queue_full = 0;
	s->srv->n_queue_full--;
	smtp_data_resume(s);
}

/*
 * smtp_data_resume - DATA paused for a backlog (the queue's, the
 * milters') reads on; smtp_process pauses again if another one is full.
 */
static void
smtp_data_resume(struct smtp_session *s)
{
	if (s->state != SMTP_STATE_DATA)
		return;
	bufferevent_enable(s->bev, EV_READ);
	smtp_process(s);
}

static void
smtp_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr eol;
	char line[SMTP_LINE_MAX + 1];
	size_t len;

	for (;;) {
		if (s->state == SMTP_STATE_WAIT || s->state == SMTP_STATE_CLOSING ||
		    s->state == SMTP_STATE_TLS)
			return;
		if (s->state != SMTP_STATE_DATA && smtp_output_full(s))
			return;
		len = evbuffer_get_length(in);
		if (len == 0)
			return;
		if (s->state == SMTP_STATE_DATA) {
			struct evbuffer_iovec v;
			size_t used;

			if (smtp_queue_backlog(s) || smtp_milter_backlog(s))
				return;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return;
			used = smtp_data_feed(&s->tx->data, v.iov_base, v.iov_len,
			    smtp_data_emit, s);
			evbuffer_drain(in, used);
			s->tx->data_bytes += used;
			if (!s->tx->data.done && smtp_data_too_slow(s))
				return;
			if (s->tx->data.done)
				smtp_data_done(s);
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (len > SMTP_LINE_MAX) {
				/* discard until the end of this line */
				evbuffer_drain(in, len);
				if (!s->discard_line) {
					s->discard_line = 1;
					smtp_reply_error(s, "500 5.5.2 Error: line too long");
				}
			}
			return;
		}
		len = (size_t)eol.pos + 1;
		if (s->discard_line || len > SMTP_LINE_MAX) {
			evbuffer_drain(in, len);
			if (!s->discard_line)
				smtp_reply_error(s, "500 5.5.2 Error: line too long");
			s->discard_line = 0;
			continue;
		}
		evbuffer_remove(in, line, len);
		s->bytes_in += len;
		if (len < 2 || line[len - 2] != '\r') {
			smtp_reply_error(s, "500 5.5.2 Error: bare LF in command");
			continue;
		}
		len -= 2;
		line[len] = '\0';
		if (s->state == SMTP_STATE_AUTH) {
			smtp_auth_line(s, line, len);
			sodium_memzero(line, sizeof(line));
		} else
			smtp_command(s, line, len);
	}
}

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	if (s->state == SMTP_STATE_CONNECTED) {
		/* data before the banner: a client that does not wait */
		log_notice(LOG_CAT_POLICY, "session=%s event=pregreet client=%s",
		    s->idstr, s->ip);
		smtp_server_event(s->srv, "pregreet", s->ip, "", s->idstr,
		    "talked before the banner");
		smtp_reply(s, "554 5.5.0 Error: talking before the banner");
		smtp_close(s, "pregreet");
		return;
	}
	smtp_process(s);
}

static void
smtp_tls_start(struct smtp_session *s)
{
	struct bufferevent *tbev;
	SSL *ssl;

	if ((ssl = tls_set_ssl_new(s->srv->tls)) == NULL) {
		smtp_close(s, "SSL_new failed");
		return;
	}
	/* the plain bufferevent goes; the socket stays (closed at free) */
	bufferevent_free(s->bev);
	/* CLOSE_ON_FREE: libevent frees the SSL only with it; the TLS
	 * bufferevent owns the socket from here on */
	tbev = bufferevent_openssl_socket_new(s->srv->base, s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_DEFER_CALLBACKS |
	    BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		SSL_free(ssl);
		s->bev = NULL;
		smtp_server_session_gone(s->srv, s);
		return;
	}
	s->fd = -1;
	s->bev = tbev;
	s->ssl = ssl;
	s->direct = 0;		/* TLS: the bufferevent writes, through OpenSSL */
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUTPUT_RESUME, 0);
	smtp_set_timeout(s, s->srv->conf->timeout_command);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	/* RFC 3207 4.2: forget everything learned before TLS */
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->tls = 1;
	smtp_reset_tx(s);
	smtp_set_state(s, SMTP_STATE_HELO);
}

/* every reply is out: what waited for that happens now */
static void
smtp_drained(struct smtp_session *s)
{
	if (s->state == SMTP_STATE_CLOSING)
		smtp_server_session_gone(s->srv, s);
	else if (s->state == SMTP_STATE_TLS)
		smtp_tls_start(s);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	smtp_output_resume(s);
	if (s->gone || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (s->direct)
		bufferevent_disable(bev, EV_WRITE);	/* smtp_session_flush's again */
	smtp_drained(s);
}

/*
 * smtp_session_flush - a direct (plain) session's replies, written now.
 * What the socket does not take, the bufferevent writes when it can,
 * with its write timeout, and reports errors to smtp_event_cb.
 */
void
smtp_session_flush(struct smtp_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	int n;

	/* a bufferevent keeps the start of its output frozen except while
	 * it writes itself */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0) {
		if ((n = evbuffer_write(out, s->fd)) > 0 ||
		    (n == -1 && errno == EINTR))
			continue;
		break;
	}
	evbuffer_freeze(out, 1);
	smtp_output_resume(s);
	if (s->gone)
		return;
	if (evbuffer_get_length(out) > 0) {
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	smtp_drained(s);
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->ssl) {
			tls_describe(s->ssl, s->tls_desc, sizeof(s->tls_desc));
			log_info(LOG_CAT_TLS, "session=%s event=tls client=%s tls=\"%s\"",
			    s->idstr, s->ip, s->tls_desc);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTP_STATE_CLOSING) {
			smtp_server_session_gone(s->srv, s);
			return;
		}
		log_info(LOG_CAT_SMTP, "session=%s event=timeout client=%s state=%s",
		    s->idstr, s->ip, state_names[s->state]);
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->srv->conf->hostname);
		smtp_close(s, "timeout");
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->ssl && (what & BEV_EVENT_ERROR)) {
			unsigned long e = bufferevent_get_openssl_error(bev);

			if (e)
				log_info(LOG_CAT_TLS, "session=%s event=tls_error "
				    "client=%s error=\"%s\"", s->idstr, s->ip,
				    ERR_reason_error_string(e) ?
				    ERR_reason_error_string(e) : "?");
		}
		if (s->state != SMTP_STATE_CLOSING)
			log_info(LOG_CAT_SMTP, "session=%s event=disconnect client=%s "
			    "reason=\"%s\" state=%s duration=%lds messages=%d",
			    s->idstr, s->ip, (what & BEV_EVENT_EOF) ?
			    "lost connection" : "i/o error", state_names[s->state],
			    (long)(time(NULL) - s->started), s->n_msgs);
		smtp_set_state(s, SMTP_STATE_CLOSING);
		smtp_server_session_gone(s->srv, s);
	}
}

/*
 * A parked session's timer ran out: the pause is over (tarpit, failed
 * AUTH), the DNSBL is given up on, or a sibling process did not answer
 * in time, which ends the session.
 */
static void
smtp_wait_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session *s = arg;
	enum smtp_wait what = s->waiting;

	if (what == SMTP_WAIT_MILTER) {
		int due = milter_chain_due_ms(s->milters);

		/* a filter reported progress, or works through its queue */
		if (due > 0) {
			smtp_wait_arm(s, what, due + SMTP_MILTER_SLACK_MS);
			return;
		}
		/* the chain's own timers failed to end it: give up */
		log_warn(LOG_CAT_SMTP, "session=%s event=wait_timeout "
		    "client=%s for=milter", s->idstr, s->ip);
		if (s->state != SMTP_STATE_CONNECTED)
			smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
			    s->srv->conf->hostname);
		smtp_close(s, "no answer in time");
		return;
	}
	if (s->state != SMTP_STATE_WAIT)
		return;
	switch (what) {
	case SMTP_WAIT_TARPIT:
		smtp_tarpit_reply(s);
		break;
	case SMTP_WAIT_AUTH_PAUSE:
		smtp_auth_fail_reply(s);
		break;
	case SMTP_WAIT_DNSBL:
		smtp_dnsbl_timeout(s);
		break;
	case SMTP_WAIT_LOOKUP:
		smtp_lookup_timeout(s);
		break;
	case SMTP_WAIT_AUTHRES:
		smtp_authres_timeout(s);
		break;
	case SMTP_WAIT_QUEUE:
	case SMTP_WAIT_AUTH:
	case SMTP_WAIT_IDENT:
	case SMTP_WAIT_DKIM:
	case SMTP_WAIT_MILTER:
	case SMTP_WAIT_NONE:
		log_warn(LOG_CAT_SMTP, "session=%s event=wait_timeout client=%s "
		    "for=%s", s->idstr, s->ip,
		    what == SMTP_WAIT_QUEUE ? "queue" :
		    what == SMTP_WAIT_IDENT ? "parent" :
		    what == SMTP_WAIT_DKIM ? "dkim" : "auth");
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->srv->conf->hostname);
		smtp_close(s, "no answer in time");
		break;
	}
}

/*
 * smtp_session_new - a session for the connection fd, with its timer and
 * bufferevent (TLS at once on a submissions listener), in no table yet.
 * NULL when it cannot be set up: fd is closed then.
 */
static struct smtp_session *
smtp_session_new(struct smtp_server *srv, struct smtp_listener *l, int fd,
    const struct sockaddr *sa)
{
	struct smtp_session *s;
	SSL *ssl = NULL;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	s->srv = srv;
	s->listener = l;
	s->fd = fd;
	s->started = time(NULL);
	s->id = (++srv->next_id) ^ srv->id_salt;
	snprintf(s->idstr, sizeof(s->idstr), "%016llx", (unsigned long long)s->id);
	if (cidr_addr_from_sa(sa, s->addr) == -1)
		memset(s->addr, 0, sizeof(s->addr));
	cidr_addr_format(s->addr, s->ip, sizeof(s->ip));
	if (sa->sa_family == AF_UNIX) {
		/* the submit_socket: no address, the uid is the client */
		snprintf(s->ip, sizeof(s->ip), "local");
		s->local = 1;
	} else
		s->port = ntohs(sa->sa_family == AF_INET6 ?
		    ((const struct sockaddr_in6 *)sa)->sin6_port :
		    ((const struct sockaddr_in *)sa)->sin_port);
	if ((s->wait_timer = evtimer_new(srv->base, smtp_wait_timer_cb,
	    s)) == NULL)
		goto fail;
	/* evconnlistener accepts with SOCK_NONBLOCK already */
	if (l->conf->role != ROLE_SUBMISSIONS) {
		if ((s->bev = bufferevent_socket_new(srv->base, fd, 0)) == NULL)
			goto fail;
		s->direct = 1;
		return s;
	}
	if (srv->tls == NULL || (ssl = tls_set_ssl_new(srv->tls)) == NULL)
		goto fail;
	s->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_DEFER_CALLBACKS |
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		goto fail;
	s->fd = -1;	/* owned by the TLS bufferevent, and so is ssl */
	s->ssl = ssl;
	s->tls = 1;
	return s;

fail:
	/* nothing owns fd or ssl yet: no bufferevent was made */
	if (ssl != NULL)
		SSL_free(ssl);
	if (s != NULL) {
		if (s->wait_timer)
			event_free(s->wait_timer);
		free(s);
	}
	close(fd);
	return NULL;
}

/* the limits at the door: -1 when the session was refused (and closes) */
static int
smtp_session_admit(struct smtp_session *s, int ipcount)
{
	struct smtp_server *srv = s->srv;
	const struct conf *c = srv->conf;

	if (srv->shutting_down) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down", c->hostname);
		smtp_close(s, "shutdown");
		return -1;
	}
	if (srv->n_sessions > (size_t)c->max_sessions) {
		log_notice(LOG_CAT_POLICY, "session=%s event=limit client=%s "
		    "limit=max_sessions", s->idstr, s->ip);
		srv->stats.rejected[SMTP_REJ_LIMIT]++;
		smtp_reply(s, "421 4.7.0 %s Error: too many connections", c->hostname);
		smtp_close(s, "max_sessions");
		return -1;
	}
	/* local sessions have no address: counted by uid (smtp_local_start) */
	if (!s->local && ipcount > c->max_sessions_per_ip) {
		log_notice(LOG_CAT_POLICY, "session=%s event=limit client=%s "
		    "limit=max_sessions_per_ip", s->idstr, s->ip);
		smtp_server_event(srv, "limit", s->ip, "", s->idstr,
		    "max_sessions_per_ip");
		smtp_reply(s, "421 4.7.0 %s Error: too many connections from your "
		    "address", c->hostname);
		smtp_close(s, "max_sessions_per_ip");
		return -1;
	}
	return 0;
}

/* the DNSBL lookups start at connect, so MAIL seldom waits for them */
static void
smtp_dnsbl_start(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	const char *zone;
	int score;

	if (srv->dnsbl == NULL || relay_client_trusted(&srv->relay, s->addr))
		return;
	switch (dnsbl_check(srv->dnsbl, s->addr, s->id, &score, &zone)) {
	case 1:
		s->dnsbl.state = SMTP_DNSBL_PENDING;
		smtp_session_dnsbl(s, score, zone);
		break;
	case 0:
		s->dnsbl.state = SMTP_DNSBL_PENDING;
		break;
	default:
		break;
	}
}

/* the session's whole life, from its greeting: session_lifetime */
static void
smtp_lifetime_start(struct smtp_session *s)
{
	struct timeval tv = { s->srv->conf->session_lifetime, 0 };

	if ((s->lifetime = evtimer_new(s->srv->base, smtp_lifetime_cb,
	    s)) != NULL)
		evtimer_add(s->lifetime, &tv);
}

/*
 * A connection on the submit_socket (moat sendmail): its user is the
 * peer's uid as the kernel gives it (SO_PEERCRED), whatever the client
 * says. The greeting waits for the parent's login name of the uid and
 * its verdict on submit_users (smtp_session_local_ident).
 */
static void
smtp_local_start(struct smtp_session *s)
{
	struct proto_local_ident q;
	struct ipc_msg m;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char detail[64];

	if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1 ||
	    len != sizeof(cr)) {
		log_warn(LOG_CAT_SMTP, "session=%s event=peercred_failed "
		    "error=\"%s\"", s->idstr, strerror(errno));
		smtp_reply(s, "421 4.3.0 %s Error: cannot tell who you are",
		    s->srv->conf->hostname);
		smtp_close(s, "no peer credentials");
		return;
	}
	s->local_uid = (uint32_t)cr.uid;
	s->uid_counted = 1;
	/* one local user's sessions, not everyone's: one cannot shut out
	 * the others */
	if (smtp_server_uid_count(s->srv, s->local_uid, +1) >
	    s->srv->conf->submit_max_sessions) {
		log_notice(LOG_CAT_POLICY, "session=%s event=limit client=local "
		    "uid=%u limit=submit_max_sessions", s->idstr, s->local_uid);
		snprintf(detail, sizeof(detail), "submit_max_sessions uid=%u",
		    s->local_uid);
		smtp_server_event(s->srv, "limit", s->ip, "", s->idstr, detail);
		smtp_reply(s, "421 4.7.0 %s Error: too many local submissions "
		    "at once", s->srv->conf->hostname);
		smtp_close(s, "submit_max_sessions");
		return;
	}
	q.uid = (uint32_t)cr.uid;
	q.gid = (uint32_t)cr.gid;
	proto_local_ident_enc(&m, s->id, &q);
	ipc_send(s->srv->parent, &m);
	smtp_park(s, SMTP_WAIT_IDENT, s->id, 5000);
}

/* smtp_session_local_ident - see smtp.h */
void
smtp_session_local_ident(struct smtp_session *s, int verdict,
    const char *login)
{
	const struct conf *c = s->srv->conf;

	if (s->state != SMTP_STATE_WAIT || s->waiting != SMTP_WAIT_IDENT)
		return;
	if (login[0] != '\0')
		snprintf(s->auth_user, sizeof(s->auth_user), "local:%s", login);
	else
		snprintf(s->auth_user, sizeof(s->auth_user), "local:%u",
		    s->local_uid);
	if (verdict != PROTO_LOCAL_OK ||
	    smtp_server_is_suspended(s->srv, s->auth_user)) {
		const char *why = verdict != PROTO_LOCAL_OK ?
		    "not in submit_users" : "suspended";

		log_notice(LOG_CAT_POLICY, "session=%s event=submit_denied "
		    "client=local uid=%u user=%s reason=\"%s\"", s->idstr,
		    s->local_uid, s->auth_user, why);
		smtp_server_event(s->srv, "submit_denied", s->ip, s->auth_user,
		    s->idstr, why);
		smtp_reply(s, "554 5.7.1 %s: %s may not submit mail here (%s)",
		    c->hostname, s->auth_user, why);
		smtp_close(s, "submit denied");
		return;
	}
	s->authenticated = 1;
	log_info(LOG_CAT_SMTP, "session=%s event=local client=local uid=%u "
	    "user=%s", s->idstr, s->local_uid, s->auth_user);
	smtp_lifetime_start(s);
	smtp_reply(s, "220 %s ESMTP moat", c->hostname);
	smtp_unpark(s, SMTP_STATE_HELO);
}

/* smtp_session_start - a new connection on listener l, see smtp.h */
void
smtp_session_start(struct smtp_server *srv, struct smtp_listener *l, int fd,
    const struct sockaddr *sa, int salen, const char *proxy_ip)
{
	struct smtp_session *s;
	const struct conf *c = srv->conf;
	int ipcount;
	char peek;

	if ((s = smtp_session_new(srv, l, fd, sa)) == NULL)
		return;
	if (proxy_ip != NULL)
		snprintf(s->proxy_ip, sizeof(s->proxy_ip), "%s", proxy_ip);
	smtp_set_state(s, SMTP_STATE_CONNECTED);
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	LIST_INSERT_HEAD(&srv->by_id[s->id % SMTP_ID_BUCKETS], s, hash);
	srv->n_sessions++;
	ipcount = smtp_server_ip_count(srv, s->addr, +1);
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUTPUT_RESUME, 0);
	smtp_set_timeout(s, c->timeout_command);
	bufferevent_enable(s->bev, s->direct ? EV_READ : EV_READ | EV_WRITE);
	log_info(LOG_CAT_SMTP, "session=%s event=connect client=%s port=%d "
	    "listener=%s%s%s", s->idstr, s->ip, s->port, l->conf->name,
	    s->proxy_ip[0] ? " proxy=" : "", s->proxy_ip);
	if (smtp_session_admit(s, ipcount) == -1)
		return;
	if (s->local) {
		smtp_local_start(s);
		return;
	}
	smtp_server_rdns_start(srv, s);	/* for moat sessions; never waited for */
	/* a client whose bytes are already here did not wait for the banner */
	if (!s->ssl && recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		smtp_read_cb(s->bev, s);
		return;
	}
	smtp_milter_start(s);
	smtp_session_greet(s);
}

/* smtp_session_greet - the banner: the session begins */
static void
smtp_session_greet(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	const struct conf *c = srv->conf;

	smtp_set_state(s, SMTP_STATE_HELO);
	smtp_dnsbl_start(s);
	smtp_lifetime_start(s);
	smtp_reply(s, "220 %s ESMTP moat", c->hostname);
}

/* smtp_session_shutdown - the daemon is stopping */
void
smtp_session_shutdown(struct smtp_session *s)
{
	char reply[320];

	snprintf(reply, sizeof(reply), "421 4.3.2 %s Service shutting down",
	    s->srv->conf->hostname);
	smtp_session_kill(s, reply, "shutdown");
}

/* smtp_session_free - release everything the session owns */
void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	smtp_stream_abort(s);
	milter_chain_free(s->milters);
	if (s->wait_timer)
		event_free(s->wait_timer);
	if (s->lifetime)
		event_free(s->lifetime);
	if (s->bev)
		bufferevent_free(s->bev);	/* a TLS one frees its SSL and fd */
	if (s->fd >= 0)
		close(s->fd);
	smtp_tx_free(s->tx);
	free(s);
}
