/*
 * mta_session.c - one outbound SMTP or LMTP connection as a state
 * machine, the client-side mirror of smtp_session.c.
 *
 * Public: mta_session_new, mta_session_free, mta_session_stop,
 * mta_session_kick, mta_session_dot_stuff.
 *
 * Each session has one state (enum mta_state) changed only by
 * mta_set_state(). A reply (all its lines) is read, then dispatched on
 * the state. The session walks its destination's hops (addresses in
 * MX order) until one greets it; then EHLO (HELO when refused, LHLO for
 * LMTP), STARTTLS whenever offered unless the mode is none (required
 * with verify), EHLO again, AUTH (PLAIN, else LOGIN) when credentials
 * exist for the smarthost or route (mta_auth.c) - only inside TLS: with
 * credentials, no TLS means no delivery to that host, never plaintext
 * AUTH - and transactions: MAIL, RCPT..., DATA
 * written at once when the peer offers PIPELINING, one at a time when
 * not. SIZE is honoured (a message larger than the peer's limit is not
 * sent), BODY=8BITMIME and SMTPUTF8 are passed on, the latter required
 * when the message needs it, and DSN parameters when DSN is offered.
 * One connection carries jobs of its destination one after another.
 *
 * Outcome per recipient: 2xx delivered, 4xx (or no answer, or a lost
 * connection) tempfail, 5xx permfail. A recipient counts as delivered
 * only after the reply to the final dot (per recipient with LMTP).
 *
 * SECURITY: replies are untrusted: a line longer than SMTP_REPLY_LINE_MAX
 * or one that is not "DDD[ -]text", or a continuation line with another
 * code (smtp_reply_line), ends the connection; what is kept of a
 * reply is cut at MTA_REPLY_MAX and escaped before it is logged. A peer
 * whose EHLO names us is a loop. In verify mode the certificate must
 * chain to the CA store (tls_ca_file, else the system's) and match the
 * host name; a session with credentials is always in verify mode unless
 * smarthost_tls_verify = no. AUTH payloads are never logged
 * (mta_send_secret) and their buffers are wiped.
 * ENVID and ORCPT are stored decoded and written as xtext
 * (dsn_xtext_encode, dsn_orcpt_encode): no byte a client chose can end
 * a command line here.
 * LIMITS: timeout_connect, timeout_client a reply (twice for the final
 * dot), max_messages_per_connection.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daemon/config.h"
#include "io/tls.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/sock_source.h"
#include "mail/dsn.h"
#include "mail/smtp_reply.h"
#include "mta/mta.h"

#define MTA_IDLE_SECS	2	/* a connection waits this long for a job */
#define MTA_QUIT_SECS	5	/* then the 221 or the peer's close, at most */

static const char *state_names[MTA_STATE_COUNT] = {
	"connect", "banner", "ehlo", "helo", "starttls", "tls", "auth", "ready",
	"tx", "body", "rset", "quit", "dead"
};

static void mta_read_cb(struct bufferevent *, void *);
static void mta_event_cb(struct bufferevent *, short, void *);
static void mta_connect(struct mta_session *);
static void mta_next_job(struct mta_session *);

/* mta_set_state - the one place a session changes state */
static void
mta_set_state(struct mta_session *s, enum mta_state st)
{
	log_debug(LOG_CAT_DELIVERY, "session=%s event=state from=%s to=%s",
	    s->idstr, state_names[s->state], state_names[st]);
	s->state = st;
}

static void
mta_timeout(struct mta_session *s, int secs)
{
	struct timeval tv = { secs, 0 };

	s->deadline_ms = clock_mono_ms() + (int64_t)secs * 1000;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/*
 * Callbacks are deferred: the idle timeout can fire, and its event
 * wait in the loop, while the session takes a new job and a new
 * timeout. Such an event is stale: the session goes on, reading again
 * (libevent switched reading off when the timer fired).
 */
static int
mta_timeout_stale(struct mta_session *s)
{
	if (clock_mono_ms() + 50 >= s->deadline_ms)
		return 0;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return 1;
}

static void
mta_send(struct mta_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
mta_send(struct mta_session *s, const char *fmt, ...)
{
	char buf[2048], esc[4 * 200 + 4];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		fatalx("%s: command too long", __func__);
	/* the line holds addresses a client chose */
	log_debug(LOG_CAT_DELIVERY, "session=%s event=send text=\"%s\"",
	    s->idstr, log_escape(esc, sizeof(esc), buf, n > 200 ? 200 :
	    (size_t)n));
	buf[n++] = '\r';
	buf[n++] = '\n';
	bufferevent_write(s->bev, buf, (size_t)n);
}

/*
 * An AUTH line: written like mta_send, logged without its payload
 * (AUTH data is never logged), the buffer wiped.
 */
static void
mta_send_secret(struct mta_session *s, const char *verb, const char *payload)
{
	char buf[1200];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s%s\r\n", verb, verb[0] ? " " : "",
	    payload);
	if (n < 0 || (size_t)n >= sizeof(buf))
		fatalx("%s: AUTH line too long", __func__);
	log_debug(LOG_CAT_DELIVERY, "session=%s event=send text=\"%s%s****\"",
	    s->idstr, verb, verb[0] ? " " : "");
	bufferevent_write(s->bev, buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * QUIT, then read until the 221 or the peer's close ends the session.
 * Reading is switched on again: a timeout (the idle one) switches it
 * off, and a socket nobody reads stays in CLOSE-WAIT for good, holding
 * its destination's slot.
 */
static void
mta_quit(struct mta_session *s)
{
	mta_set_state(s, MTA_STATE_QUIT);
	mta_timeout(s, MTA_QUIT_SECS);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	mta_send(s, "QUIT");
}

/* drop the connection (not the session) */
static void
mta_disconnect(struct mta_session *s)
{
	if (s->bev != NULL) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		bufferevent_free(s->bev);	/* with TLS: the SSL and fd too */
		s->bev = NULL;
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->tls = 0;
	s->tls_desc[0] = '\0';
	s->ext = 0;
	s->size_max = 0;
}

static void
mta_set_relay(struct mta_session *s)
{
	const struct mta_hop *h = &s->dq->hops[s->hop];
	int port;

	if (h->ss.ss_family == AF_UNIX) {
		snprintf(s->relay, sizeof(s->relay), "unix:%s", h->name);
		return;
	}
	port = ntohs(h->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&h->ss)->sin6_port :
	    ((const struct sockaddr_in *)&h->ss)->sin_port);

	snprintf(s->relay, sizeof(s->relay), "%s[%s]:%d", h->name, h->addr,
	    port);
}

/* the session is over; fail what it holds */
static void
mta_end(struct mta_session *s, const char *why)
{
	if (s->state == MTA_STATE_DEAD)
		return;
	if (s->job != NULL) {
		struct mta_job *j = s->job;

		for (size_t i = 0; i < j->nrcpt; i++)
			if (!j->rcpt[i].done) {
				j->rcpt[i].done = 1;
				j->rcpt[i].result = PROTO_MTA_TEMPFAIL;
				snprintf(j->rcpt[i].reply, sizeof(j->rcpt[i].reply),
				    "451 4.4.2 %s", why);
			}
		s->job = NULL;
		mta_job_finish(s->mta, j, s->relay, s->tls_desc);
	}
	log_info(LOG_CAT_DELIVERY, "session=%s event=disconnect relay=%s "
	    "reason=\"%s\" messages=%d duration=%llds", s->idstr,
	    s->relay[0] ? s->relay : "none", why, s->nmsgs,
	    (long long)(time(NULL) - s->started));
	mta_disconnect(s);
	mta_session_gone(s);
}

/*
 * The current hop did not work out before any transaction: try the
 * next one; with none left the session ends (its destination decides
 * what happens to the jobs waiting).
 */
static void
mta_hop_failed(struct mta_session *s, const char *why)
{
	char esc[MTA_REPLY_MAX];

	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	log_info(LOG_CAT_DELIVERY, "session=%s event=hop_failed relay=%s "
	    "reason=\"%s\"", s->idstr, s->relay,
	    log_escape(esc, sizeof(esc), why, strlen(why)));
	mta_disconnect(s);
	s->hop++;
	s->notls = 0;		/* the next host gets its own TLS attempt */
	if (s->hop < s->dq->nhops) {
		mta_connect(s);
		return;
	}
	snprintf(s->dq->last_error, sizeof(s->dq->last_error), "%s", why);
	mta_end(s, "no more hosts to try");
}

/*
 * The destination of the current hop decides LMTP, the TLS mode and the
 * credentials: a route's hosts may differ in each.
 */
static void
mta_hop_params(struct mta_session *s)
{
	struct mta *m = s->mta;
	struct mta_dq *d = s->dq;
	const struct mta_dest *ds = &d->route.v[d->hops[s->hop].dest];

	s->lmtp = ds->lmtp;
	/* credentials only for the smarthost or a route named in the file,
	 * never for a host found in DNS */
	s->cred = d->kind != MTA_ROUTE_MX ? mta_auth_find(m->auth, ds->host,
	    d->kind == MTA_ROUTE_SMARTHOST) : NULL;
	s->tls_mode = ds->tls != MTA_TLS_DEFAULT ? ds->tls : m->tls_default;
	/* credentials go only to a peer whose certificate verifies, unless
	 * the administrator said otherwise (smarthost_tls_verify = no) */
	if (s->cred != NULL && m->conf->smarthost_tls_verify)
		s->tls_mode = MTA_TLS_VERIFY;
}

/*
 * Outbound connections of a family come from source_address_v4 or _v6
 * when set. An address the machine does not have fails the hop with a
 * reason that says so (it ends up in the deferral), never the process.
 */
static int
mta_bind_source(struct mta_session *s, int fd, int family)
{
	const struct conf *c = s->mta->conf;
	const char *src = family == AF_INET ? c->source_address_v4 :
	    family == AF_INET6 ? c->source_address_v6 : "";

	if (sock_bind_source(fd, family, src) == 0)
		return 0;
	snprintf(s->last_error, sizeof(s->last_error), "cannot send from "
	    "source address %s: %s", src, strerror(errno));
	return -1;
}

static void
mta_connect(struct mta_session *s)
{
	struct mta *m = s->mta;

	for (; s->hop < s->dq->nhops; s->hop++) {
		const struct mta_hop *h = &s->dq->hops[s->hop];
		int fd;

		mta_set_relay(s);
		mta_hop_params(s);
		mta_set_state(s, MTA_STATE_CONNECT);
		fd = socket(h->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			snprintf(s->last_error, sizeof(s->last_error),
			    "socket: %s", strerror(errno));
			continue;
		}
		if (mta_bind_source(s, fd, h->ss.ss_family) == -1) {
			char esc[MTA_REPLY_MAX];

			log_warn(LOG_CAT_DELIVERY, "session=%s event=hop_failed "
			    "relay=%s reason=\"%s\"", s->idstr, s->relay,
			    log_escape(esc, sizeof(esc), s->last_error,
			    strlen(s->last_error)));
			close(fd);
			continue;
		}
		s->fd = fd;
		s->bev = bufferevent_socket_new(m->base, fd,
		    BEV_OPT_DEFER_CALLBACKS);
		if (s->bev == NULL)
			fatalx("%s: bufferevent_socket_new", __func__);
		bufferevent_setcb(s->bev, mta_read_cb, NULL, mta_event_cb, s);
		mta_timeout(s, m->conf->timeout_connect);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(s->bev,
		    (const struct sockaddr *)&h->ss, (int)h->sslen) == 0)
			return;
		snprintf(s->last_error, sizeof(s->last_error), "connect: %s",
		    strerror(errno));
		mta_disconnect(s);
	}
	snprintf(s->dq->last_error, sizeof(s->dq->last_error),
	    "451 4.4.1 %.480s", s->last_error);
	mta_end(s, "no more hosts to try");
}

/* mta_session_new - open a connection for d's jobs */
struct mta_session *
mta_session_new(struct mta_dq *d)
{
	struct mta *m = d->mta;
	struct mta_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s: calloc", __func__);
	s->mta = m;
	s->dq = d;
	s->id = ++m->next_id;
	snprintf(s->idstr, sizeof(s->idstr), "%016llx",
	    (unsigned long long)(s->id | 0x6d00000000000000ull));
	s->fd = -1;
	s->started = time(NULL);
	s->state = MTA_STATE_CONNECT;
	TAILQ_INSERT_TAIL(&m->sessions, s, entry);
	m->nsess++;
	d->nsess++;
	d->nconnecting++;
	mta_connect(s);
	return s;
}

/* mta_session_free - release s; it is on no list any more */
void
mta_session_free(struct mta_session *s)
{
	if (s == NULL)
		return;
	mta_disconnect(s);
	free(s);
}

/* mta_session_stop - finish: an idle session quits, a busy one goes on */
void
mta_session_stop(struct mta_session *s)
{
	if (s->state == MTA_STATE_READY && s->job == NULL)
		mta_quit(s);
	else if (s->state < MTA_STATE_READY)
		mta_end(s, "shutdown");
}

/* mta_session_kick - an idle session takes the next job of its queue */
void
mta_session_kick(struct mta_session *s)
{
	if (s->state == MTA_STATE_READY && s->job == NULL)
		mta_next_job(s);
}

static void
mta_ready(struct mta_session *s)
{
	if (s->state < MTA_STATE_READY && s->dq->nconnecting > 0)
		s->dq->nconnecting--;
	s->dq->conn_backoff = 0;	/* the destination answers again */
	mta_set_state(s, MTA_STATE_READY);
	/* the first greeting: more connections may open (mta_dq_run) */
	if (s->dq->njobs > 1)
		event_active(s->mta->reaper, EV_TIMEOUT, 0);
	log_info(LOG_CAT_DELIVERY, "session=%s event=connected relay=%s "
	    "tls=\"%s\" esmtp=%s", s->idstr, s->relay,
	    s->tls ? s->tls_desc : "none", s->ext ? "yes" : "no");
	mta_next_job(s);
}

static void
mta_send_ehlo(struct mta_session *s)
{
	s->ext = 0;
	s->size_max = 0;
	mta_set_state(s, MTA_STATE_EHLO);
	mta_send(s, "%s %s", s->lmtp ? "LHLO" : "EHLO", s->mta->conf->hostname);
}

/*
 * AUTH to the smarthost, only ever inside TLS: PLAIN with its initial
 * response (RFC 4954, RFC 4616) when offered, else LOGIN.
 */
static void
mta_auth_start(struct mta_session *s)
{
	char b[1100];

	if (!s->tls)
		fatalx("%s: AUTH without TLS", __func__);
	s->auth_step = 0;
	mta_set_state(s, MTA_STATE_AUTH);
	if (s->ext & MTA_EXT_AUTH_PLAIN) {
		if (mta_auth_plain(s->cred, b, sizeof(b)) == -1)
			fatalx("%s: credentials too long", __func__);
		mta_send_secret(s, "AUTH PLAIN", b);
		s->auth_step = 2;
		explicit_bzero(b, sizeof(b));
	} else
		mta_send(s, "AUTH LOGIN");
}

/* a reply in the AUTH state */
static void
mta_auth_reply(struct mta_session *s)
{
	char b[1100], esc[MTA_REPLY_MAX], buf[MTA_REPLY_MAX + 64];

	if (s->code == 235) {
		log_info(LOG_CAT_AUTH, "session=%s event=auth_ok relay=%s "
		    "user=%s", s->idstr, s->relay, s->cred->user);
		mta_ready(s);
		return;
	}
	if (s->code == 334 && s->auth_step < 2) {
		/* AUTH LOGIN: the user, then the password */
		if (mta_auth_b64(s->auth_step == 0 ? s->cred->user :
		    s->cred->pass, b, sizeof(b)) == -1)
			fatalx("%s: credentials too long", __func__);
		mta_send_secret(s, "", b);
		explicit_bzero(b, sizeof(b));
		s->auth_step++;
		return;
	}
	/* refused: kept temporary, a wrong password must not bounce mail */
	log_warn(LOG_CAT_AUTH, "session=%s event=auth_failed relay=%s user=%s "
	    "reply=\"%s\"", s->idstr, s->relay, s->cred->user,
	    log_escape(esc, sizeof(esc), s->reply, strlen(s->reply)));
	snprintf(buf, sizeof(buf), "451 4.7.0 AUTH refused by the relay: %s",
	    s->reply);
	mta_hop_failed(s, buf);
}

static void
mta_tls_start(struct mta_session *s)
{
	const struct mta_hop *h = &s->dq->hops[s->hop];
	struct bufferevent *tbev;
	SSL *ssl;
	int numeric = strcmp(h->name, h->addr) == 0;

	if ((ssl = SSL_new(s->mta->tls)) == NULL) {
		mta_hop_failed(s, "451 4.7.5 SSL_new failed");
		return;
	}
	if (!numeric)
		SSL_set_tlsext_host_name(ssl, h->name);
	if (s->tls_mode == MTA_TLS_VERIFY) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		if (numeric)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h->addr);
		else
			SSL_set1_host(ssl, h->name);
	}
	/* the plain bufferevent goes; the TLS one owns the socket */
	bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	bufferevent_free(s->bev);
	tbev = bufferevent_openssl_socket_new(s->mta->base, s->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tbev == NULL) {
		SSL_free(ssl);
		s->bev = NULL;
		mta_hop_failed(s, "451 4.7.5 TLS setup failed");
		return;
	}
	s->fd = -1;
	s->bev = tbev;
	s->ssl = ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(tbev, 1);
	bufferevent_setcb(s->bev, mta_read_cb, NULL, mta_event_cb, s);
	mta_timeout(s, s->mta->conf->timeout_client);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	mta_set_state(s, MTA_STATE_TLS);
}

/* the MAIL command of the current job */
static void
mta_send_mail(struct mta_session *s)
{
	const struct mta_job *j = s->job;
	char params[600], envid[3 * DSN_ENVID_MAX + 1];
	size_t o = 0;

	params[0] = '\0';
	if (s->ext & MTA_EXT_SIZE)
		o += (size_t)snprintf(params + o, sizeof(params) - o, " SIZE=%zu",
		    j->len);
	if ((j->flags & PROTO_MSGF_8BITMIME) && (s->ext & MTA_EXT_8BITMIME))
		o += (size_t)snprintf(params + o, sizeof(params) - o,
		    " BODY=8BITMIME");
	if ((j->flags & PROTO_MSGF_SMTPUTF8) && (s->ext & MTA_EXT_SMTPUTF8))
		o += (size_t)snprintf(params + o, sizeof(params) - o,
		    " SMTPUTF8");
	if (s->ext & MTA_EXT_DSN) {
		if (j->ret == PROTO_RET_FULL || j->ret == PROTO_RET_HDRS)
			o += (size_t)snprintf(params + o, sizeof(params) - o,
			    " RET=%s", j->ret == PROTO_RET_FULL ? "FULL" : "HDRS");
		if (j->envid[0] != '\0' && dsn_xtext_encode(j->envid,
		    strlen(j->envid), envid, sizeof(envid)) == DSN_OK)
			snprintf(params + o, sizeof(params) - o, " ENVID=%s",
			    envid);
	}
	mta_send(s, "MAIL FROM:<%s>%s", j->sender, params);
}

static void
mta_send_rcpt(struct mta_session *s, const struct mta_jrcpt *r)
{
	char params[1200], orcpt[1024];
	size_t o = 0;

	params[0] = '\0';
	if ((s->ext & MTA_EXT_DSN) && r->notify != 0) {
		o += (size_t)snprintf(params + o, sizeof(params) - o, " NOTIFY=");
		if (r->notify & PROTO_NOTIFY_NEVER)
			o += (size_t)snprintf(params + o, sizeof(params) - o,
			    "NEVER");
		else {
			const char *sep = "";

			if (r->notify & PROTO_NOTIFY_SUCCESS) {
				o += (size_t)snprintf(params + o,
				    sizeof(params) - o, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & PROTO_NOTIFY_FAILURE) {
				o += (size_t)snprintf(params + o,
				    sizeof(params) - o, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & PROTO_NOTIFY_DELAY)
				o += (size_t)snprintf(params + o,
				    sizeof(params) - o, "%sDELAY", sep);
		}
	}
	if ((s->ext & MTA_EXT_DSN) && r->orcpt[0] != '\0' &&
	    dsn_orcpt_encode(r->orcpt, orcpt, sizeof(orcpt)) == DSN_OK)
		snprintf(params + o, sizeof(params) - o, " ORCPT=%s", orcpt);
	mta_send(s, "RCPT TO:<%s>%s", r->address, params);
}

/*
 * Send the commands of the transaction that may go now: all of them
 * with PIPELINING, else the one after the last reply.
 */
static void
mta_tx_send(struct mta_session *s)
{
	struct mta_job *j = s->job;
	size_t last = j->nrcpt + 1;	/* index of DATA */

	while (s->cmd_sent <= last) {
		if (!(s->ext & MTA_EXT_PIPELINING) && s->cmd_sent > s->cmd_acked)
			return;
		if (s->cmd_sent == 0)
			mta_send_mail(s);
		else if (s->cmd_sent <= j->nrcpt)
			mta_send_rcpt(s, &j->rcpt[s->cmd_sent - 1]);
		else
			mta_send(s, "DATA");
		s->cmd_sent++;
	}
}

/* set every recipient still open to this reply */
static void
mta_job_all(struct mta_job *j, int only_accepted, int code, const char *reply)
{
	uint8_t res = code / 100 == 2 ? PROTO_MTA_OK : code / 100 == 5 ?
	    PROTO_MTA_PERMFAIL : PROTO_MTA_TEMPFAIL;

	for (size_t i = 0; i < j->nrcpt; i++) {
		struct mta_jrcpt *r = &j->rcpt[i];

		if (r->done || (only_accepted && !r->accepted))
			continue;
		r->done = 1;
		r->result = res;
		snprintf(r->reply, sizeof(r->reply), "%s", reply);
	}
}

static void
mta_job_done(struct mta_session *s)
{
	struct mta_job *j = s->job;

	s->job = NULL;
	s->nmsgs++;
	mta_job_finish(s->mta, j, s->relay, s->tls_desc);
}

/* start a transaction for j, or fail it without sending */
static void
mta_tx_start(struct mta_session *s, struct mta_job *j)
{
	char buf[128];

	s->job = j;
	s->cmd_sent = s->cmd_acked = 0;
	s->naccepted = 0;
	for (size_t i = 0; i < j->nrcpt; i++)
		j->rcpt[i].accepted = 0;
	if (s->size_max > 0 && j->len > s->size_max) {
		snprintf(buf, sizeof(buf), "552 5.3.4 message too big for the "
		    "peer (its SIZE limit is %llu)",
		    (unsigned long long)s->size_max);
		mta_job_all(j, 0, 552, buf);
		mta_job_done(s);
		mta_next_job(s);
		return;
	}
	if ((j->flags & PROTO_MSGF_SMTPUTF8) && !(s->ext & MTA_EXT_SMTPUTF8) &&
	    !s->lmtp) {
		mta_job_all(j, 0, 553, "553 5.6.7 the peer does not support "
		    "SMTPUTF8, which this message needs");
		mta_job_done(s);
		mta_next_job(s);
		return;
	}
	mta_set_state(s, MTA_STATE_TX);
	mta_timeout(s, s->mta->conf->timeout_client);
	mta_tx_send(s);
}

/*
 * Another destination waits for a slot: this session gives its own up
 * rather than carry one more job, unless it is its destination's last.
 */
static int
mta_gives_way(struct mta_session *s)
{
	return s->mta->starving > 0 &&
	    (s->dq->nsess > 1 || TAILQ_EMPTY(&s->dq->jobs));
}

/* the next job of this destination, an idle wait, or QUIT */
static void
mta_next_job(struct mta_session *s)
{
	struct mta_dq *d = s->dq;
	struct mta_job *j;

	if (s->state == MTA_STATE_DEAD)
		return;
	mta_set_state(s, MTA_STATE_READY);
	if (!s->mta->stopping && !mta_gives_way(s) &&
	    s->nmsgs < s->mta->conf->max_messages_per_connection &&
	    (j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		mta_tx_start(s, j);
		return;
	}
	if (s->mta->stopping || d->retired || mta_gives_way(s) ||
	    s->nmsgs >= s->mta->conf->max_messages_per_connection) {
		mta_quit(s);
		return;
	}
	mta_timeout(s, MTA_IDLE_SECS);	/* then QUIT, see mta_event_cb */
}

/* mta_session_dot_stuff - the message as DATA content, then "." */
int
mta_session_dot_stuff(struct evbuffer *out, const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(data + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;

		if (data[i] == '.' && evbuffer_add(out, ".", 1) == -1)
			return -1;
		if (evbuffer_add(out, data + i, end - i) == -1)
			return -1;
		i = end;
	}
	if (len > 0 && data[len - 1] != '\n' &&
	    evbuffer_add(out, "\r\n", 2) == -1)
		return -1;
	return evbuffer_add(out, ".\r\n", 3);
}

/* a reply during the transaction */
static void
mta_tx_reply(struct mta_session *s)
{
	struct mta_job *j = s->job;
	size_t idx = s->cmd_acked++;
	int ok = s->code / 100 == 2;

	if (idx == 0) {			/* MAIL */
		if (!ok)
			mta_job_all(j, 0, s->code, s->reply);
	} else if (idx <= j->nrcpt) {	/* RCPT */
		struct mta_jrcpt *r = &j->rcpt[idx - 1];

		if (!r->done) {
			if (ok) {
				r->accepted = 1;
				s->naccepted++;
			} else {
				r->done = 1;
				r->result = s->code / 100 == 5 ?
				    PROTO_MTA_PERMFAIL : PROTO_MTA_TEMPFAIL;
				snprintf(r->reply, sizeof(r->reply), "%s",
				    s->reply);
			}
		}
	} else {			/* DATA */
		if (s->code == 354) {
			struct evbuffer *out = bufferevent_get_output(s->bev);

			if (s->naccepted == 0) {
				/* a peer that says 354 with no recipient */
				evbuffer_add(out, ".\r\n", 3);
			} else if (mta_session_dot_stuff(out, j->data,
			    j->len) == -1)
				fatal("%s: evbuffer_add", __func__);
			s->lmtp_left = s->lmtp ? s->naccepted : 1;
			mta_set_state(s, MTA_STATE_BODY);
			mta_timeout(s, 2 * s->mta->conf->timeout_client);
			return;
		}
		mta_job_all(j, 1, s->code, s->reply);
		mta_job_done(s);
		mta_set_state(s, MTA_STATE_RSET);
		mta_send(s, "RSET");
		return;
	}
	if (s->code == 421) {
		mta_job_all(j, 0, 421, s->reply);
		mta_end(s, "421 from the peer");
		return;
	}
	/* without PIPELINING: stop early when nothing can come of it */
	if (!(s->ext & MTA_EXT_PIPELINING)) {
		if ((idx == 0 && !ok) ||
		    (idx == j->nrcpt && s->naccepted == 0)) {
			if (idx == 0)
				mta_job_all(j, 0, s->code, s->reply);
			mta_job_done(s);
			mta_set_state(s, MTA_STATE_RSET);
			mta_send(s, "RSET");
			return;
		}
		mta_tx_send(s);
	}
}

/* the reply (or LMTP replies) after the final dot */
static void
mta_body_reply(struct mta_session *s)
{
	struct mta_job *j = s->job;

	if (s->naccepted == 0) {
		mta_job_done(s);
		mta_next_job(s);
		return;
	}
	if (!s->lmtp) {
		mta_job_all(j, 1, s->code, s->reply);
	} else {
		/* one reply per accepted recipient, in RCPT order */
		for (size_t i = 0; i < j->nrcpt; i++) {
			struct mta_jrcpt *r = &j->rcpt[i];

			if (r->done || !r->accepted)
				continue;
			r->done = 1;
			r->result = s->code / 100 == 2 ? PROTO_MTA_OK :
			    s->code / 100 == 5 ? PROTO_MTA_PERMFAIL :
			    PROTO_MTA_TEMPFAIL;
			snprintf(r->reply, sizeof(r->reply), "%s", s->reply);
			break;
		}
		if (--s->lmtp_left > 0)
			return;
	}
	mta_job_done(s);
	mta_next_job(s);
}

/* the reply to EHLO: our own (a loop), HELO instead, STARTTLS, AUTH */
static void
mta_ehlo_reply(struct mta_session *s)
{
	int ok = s->code / 100 == 2;

	if (s->code == 0) {	/* our own: the peer is us */
		snprintf(s->dq->last_error, sizeof(s->dq->last_error), "%s",
		    s->reply);
		s->dq->error_result = PROTO_MTA_PERMFAIL;
		mta_end(s, "mail loops back to myself");
		return;
	}
	if (!ok) {
		if (s->lmtp || s->code == 421) {
			mta_hop_failed(s, s->reply);
			return;
		}
		mta_set_state(s, MTA_STATE_HELO);
		mta_send(s, "HELO %s", s->mta->conf->hostname);
		return;
	}
	if (!s->tls && !s->notls && (s->ext & MTA_EXT_STARTTLS) &&
	    s->tls_mode != MTA_TLS_NONE) {
		mta_set_state(s, MTA_STATE_STARTTLS);
		mta_send(s, "STARTTLS");
		return;
	}
	if (s->cred != NULL && !s->tls) {
		mta_hop_failed(s, "451 4.7.10 credentials for this relay are "
		    "only sent over TLS, and TLS did not come up");
		return;
	}
	if (!s->tls && s->tls_mode == MTA_TLS_VERIFY) {
		mta_hop_failed(s, "451 4.7.4 TLS required, but the peer "
		    "does not offer STARTTLS");
		return;
	}
	if (s->cred != NULL) {
		if (s->ext & (MTA_EXT_AUTH_PLAIN | MTA_EXT_AUTH_LOGIN)) {
			mta_auth_start(s);
			return;
		}
		log_notice(LOG_CAT_AUTH, "session=%s event=auth_skipped relay=%s "
		    "reason=\"no AUTH PLAIN or LOGIN offered\"", s->idstr,
		    s->relay);
	}
	mta_ready(s);
}

/* one whole reply: act on it according to the state */
static void
mta_reply(struct mta_session *s)
{
	int ok = s->code / 100 == 2;
	char buf[MTA_REPLY_MAX + 64];

	switch (s->state) {
	case MTA_STATE_BANNER:
		if (s->code != 220) {
			mta_hop_failed(s, s->reply);
			return;
		}
		mta_send_ehlo(s);
		return;
	case MTA_STATE_EHLO:
		mta_ehlo_reply(s);
		return;
	case MTA_STATE_HELO:
		if (!ok) {
			mta_hop_failed(s, s->reply);
			return;
		}
		if (s->tls_mode == MTA_TLS_VERIFY || s->cred != NULL) {
			mta_hop_failed(s, "451 4.7.4 TLS required, but the peer "
			    "does not speak ESMTP");
			return;
		}
		mta_ready(s);
		return;
	case MTA_STATE_STARTTLS:
		if (s->code == 220) {
			mta_tls_start(s);
			return;
		}
		if (s->tls_mode == MTA_TLS_VERIFY || s->cred != NULL) {
			snprintf(buf, sizeof(buf), "451 4.7.4 STARTTLS refused: "
			    "%s", s->reply);
			mta_hop_failed(s, buf);
			return;
		}
		mta_ready(s);
		return;
	case MTA_STATE_AUTH:
		mta_auth_reply(s);
		return;
	case MTA_STATE_TX:
		mta_tx_reply(s);
		return;
	case MTA_STATE_BODY:
		mta_body_reply(s);
		return;
	case MTA_STATE_RSET:
		if (!ok) {
			mta_end(s, "RSET refused");
			return;
		}
		mta_next_job(s);
		return;
	case MTA_STATE_QUIT:
		mta_end(s, "quit");
		return;
	default:
		/* a reply nobody asked for */
		mta_end(s, "unexpected reply");
		return;
	}
}

/* keywords of an EHLO reply line (without the "250-") */
static void
mta_ehlo_keyword(struct mta_session *s, const char *p)
{
	if (strncasecmp(p, "STARTTLS", 8) == 0 && (p[8] == '\0' || p[8] == ' '))
		s->ext |= MTA_EXT_STARTTLS;
	else if (strncasecmp(p, "PIPELINING", 10) == 0)
		s->ext |= MTA_EXT_PIPELINING;
	else if (strncasecmp(p, "8BITMIME", 8) == 0)
		s->ext |= MTA_EXT_8BITMIME;
	else if (strncasecmp(p, "SMTPUTF8", 8) == 0)
		s->ext |= MTA_EXT_SMTPUTF8;
	else if (strncasecmp(p, "DSN", 3) == 0 && (p[3] == '\0' || p[3] == ' '))
		s->ext |= MTA_EXT_DSN;
	else if (strncasecmp(p, "AUTH", 4) == 0 && (p[4] == ' ' || p[4] == '=')) {
		/* "AUTH PLAIN LOGIN ...", or the old "AUTH=..." */
		for (p += 5; *p != '\0'; ) {
			size_t n = strcspn(p, " ");

			if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
				s->ext |= MTA_EXT_AUTH_PLAIN;
			else if (n == 5 && strncasecmp(p, "LOGIN", 5) == 0)
				s->ext |= MTA_EXT_AUTH_LOGIN;
			p += n;
			p += strspn(p, " ");
		}
	}
	else if (strncasecmp(p, "SIZE", 4) == 0 &&
	    (p[4] == '\0' || p[4] == ' ')) {
		s->ext |= MTA_EXT_SIZE;
		if (p[4] == ' ')
			s->size_max = strtoull(p + 5, NULL, 10);
	}
}

/* is the name in the first line of an EHLO reply ours? */
static int
mta_ehlo_is_self(struct mta_session *s, const char *p)
{
	const char *host = s->mta->conf->hostname;
	size_t n = strlen(host);

	return strncasecmp(p, host, n) == 0 && (p[n] == '\0' || p[n] == ' ');
}

static void
mta_read_cb(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while (s->state != MTA_STATE_DEAD &&
	    (line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		struct smtp_reply_buf rb = { s->reply, sizeof(s->reply),
		    s->reply_len, s->state != MTA_STATE_EHLO };
		int first = s->reply_len == 0, rc, code = 0;

		rc = smtp_reply_line(&rb, line, n, &code);
		s->reply_len = rb.len;
		if (rc == SMTP_REPLY_BAD) {
			free(line);
			if (s->state < MTA_STATE_READY)
				mta_hop_failed(s, "451 4.5.0 malformed reply");
			else
				mta_end(s, "malformed reply from the peer");
			return;
		}
		if (s->state == MTA_STATE_EHLO && line[0] == '2' && n > 4) {
			if (first && mta_ehlo_is_self(s, line + 4)) {
				free(line);
				s->code = 0;
				s->reply_len = 0;
				snprintf(s->reply, sizeof(s->reply), "554 5.4.6 "
				    "mail for %s loops back to myself",
				    s->dq->key);
				mta_reply(s);
				return;
			}
			if (!first)
				mta_ehlo_keyword(s, line + 4);
		}
		free(line);
		if (rc == SMTP_REPLY_MORE)
			continue;
		s->code = code;
		mta_reply(s);
	}
	if (s->state != MTA_STATE_DEAD && s->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > SMTP_REPLY_LINE_MAX)
		mta_end(s, "reply line too long");
}

static void
mta_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session *s = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MTA_STATE_CONNECT) {
			mta_set_state(s, MTA_STATE_BANNER);
			mta_timeout(s, s->mta->conf->timeout_client);
			return;
		}
		if (s->state == MTA_STATE_TLS) {
			s->tls = 1;
			tls_describe(s->ssl, s->tls_desc, sizeof(s->tls_desc));
			log_info(LOG_CAT_TLS, "session=%s event=tls relay=%s "
			    "tls=\"%s\" verify=%s", s->idstr, s->relay,
			    s->tls_desc, mta_tls_name(s->tls_mode));
			mta_send_ehlo(s);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (mta_timeout_stale(s))
			return;
		if (s->state == MTA_STATE_READY && s->job == NULL) {
			mta_quit(s);
			return;
		}
		snprintf(why, sizeof(why), "timeout in state %s",
		    state_names[s->state]);
		if (s->state < MTA_STATE_READY) {
			char r[300];

			snprintf(r, sizeof(r), "451 4.4.2 %s", why);
			mta_hop_failed(s, r);
		} else
			mta_end(s, why);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		unsigned long e = s->ssl ? bufferevent_get_openssl_error(bev) : 0;
		int err = EVUTIL_SOCKET_ERROR();

		if (e != 0)
			snprintf(why, sizeof(why), "TLS error: %s",
			    ERR_reason_error_string(e) ?
			    ERR_reason_error_string(e) : "?");
		else if (what & BEV_EVENT_EOF)
			snprintf(why, sizeof(why), "lost connection in state %s",
			    state_names[s->state]);
		else
			snprintf(why, sizeof(why), "%s in state %s",
			    evutil_socket_error_to_string(err),
			    state_names[s->state]);
		if (s->state == MTA_STATE_QUIT) {
			mta_end(s, "quit");
			return;
		}
		if (s->state == MTA_STATE_TLS && !s->notls &&
		    s->tls_mode == MTA_TLS_OPPORTUNISTIC) {
			/* opportunistic: the same host again, in plaintext */
			log_info(LOG_CAT_TLS, "session=%s event=tls_failed "
			    "relay=%s error=\"%s\" action=plaintext", s->idstr,
			    s->relay, why);
			s->notls = 1;
			mta_disconnect(s);
			mta_connect(s);
			return;
		}
		if (s->state < MTA_STATE_READY) {
			char r[300];

			snprintf(r, sizeof(r), "451 4.4.1 %s", why);
			mta_hop_failed(s, r);
		} else
			mta_end(s, why);
	}
}
