/*
 * console_guard.c - the web console's connections: a cap on how many are
 * open at once and a deadline for each request to arrive whole.
 *
 * Public: console_guard_new, console_guard_free, console_guard_bev_cb,
 * console_guard_hold, console_guard_answered.
 *
 * libevent 2.1's evhttp has neither: it accepts every connection, and
 * its timeout starts again at each read, so a client sending one byte a
 * second holds a connection of the control process for ever. Every
 * connection evhttp accepts asks evhttp_set_bevcb's callback for its
 * bufferevent; that is where the guard takes hold of it. The callback
 * makes the bufferevent (a socket one, or TLS), a console_link for it,
 * and makes the link's timer active at once: it runs in the same turn of
 * the loop, after evhttp has made its connection and before any of the
 * connection's I/O can be seen (that needs the loop to poll again). It
 * takes the connection from the bufferevent's callback argument (evhttp
 * sets it to its evhttp_connection; checked) and sets the connection's
 * close callback, which evhttp calls when it frees the connection: the
 * link goes then. The same timer is then the connection's deadline:
 *   - armed when the connection comes: the TLS handshake and the whole
 *     first request (head and body) must arrive within timeout;
 *   - stopped while the console holds a request (auth or an operation
 *     has it, bounded by their own timers);
 *   - armed again when the answer goes: for writing it and for the
 *     whole next request of a kept-alive connection.
 * When it fires, the connection fails as on evhttp's own timeout (its
 * event callback with BEV_EVENT_TIMEOUT): evhttp closes it without an
 * answer. A connection past max open ones fails so in its first run,
 * before any of its bytes are read.
 *
 * SECURITY: a peer's bytes only pass by here. A link lives exactly as
 * long as evhttp's connection (from the first run of its timer to the
 * close callback); if evhttp gave the connection up before that first
 * run, the bufferevent has no callbacks any more and the link just goes.
 * LIMITS: max connections (console_max_connections), timeout seconds
 * (console_request_timeout); refusals are logged at most once a minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "console/console_guard.h"
#include "lib/cidr.h"
#include "lib/log.h"

#define GUARD_LOG_EVERY	60	/* seconds between refusal lines */

/* One connection; owned by its guard's list, freed with evhttp's
 * connection (link_closed_cb). */
struct console_link {
	struct console_guard	*g;
	struct bufferevent	*bev;	/* evhttp's */
	struct evhttp_connection *evcon;	/* NULL until the first run */
	struct event		*timer;	/* the first run, then the deadline */
	int			 refused;	/* past the cap */
	TAILQ_ENTRY(console_link) entry;
};

/* Owned by the console. */
struct console_guard {
	SSL_CTX			*tls;	/* not owned; NULL: plain HTTP */
	int			 max;
	struct timeval		 timeout;
	size_t			 open;	/* links not refused */
	TAILQ_HEAD(, console_link) links;
	unsigned long long	 refused;	/* since the last line */
	time_t			 logged;
};

/* console_guard_new - no connection yet */
struct console_guard *
console_guard_new(SSL_CTX *tls, int max, int timeout)
{
	struct console_guard *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		fatal("%s: calloc", __func__);
	g->tls = tls;
	g->max = max;
	g->timeout.tv_sec = timeout;
	TAILQ_INIT(&g->links);
	return g;
}

static void
link_free(struct console_link *l)
{
	struct console_guard *g = l->g;

	TAILQ_REMOVE(&g->links, l, entry);
	if (!l->refused)
		g->open--;
	event_free(l->timer);
	free(l);
}

/* console_guard_free - after evhttp_free: links never set up */
void
console_guard_free(struct console_guard *g)
{
	struct console_link *l;

	if (g == NULL)
		return;
	while ((l = TAILQ_FIRST(&g->links)) != NULL)
		link_free(l);
	free(g);
}

/* evhttp frees the connection */
static void
link_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	link_free(arg);
}

/* the connection's peer as text, for the log */
static void
link_peer(struct console_link *l, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(l->bev);
	uint8_t addr[16];

	snprintf(buf, len, "unknown");
	if (fd != -1 && getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    cidr_addr_from_sa((struct sockaddr *)&ss, addr) == 0)
		cidr_addr_format(addr, buf, len);
}

/* the first run: evhttp has made its connection; take hold of it */
static int
link_setup(struct console_link *l)
{
	bufferevent_event_cb eventcb = NULL;
	void *cbarg = NULL;

	bufferevent_getcb(l->bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL || cbarg == NULL) {
		/* evhttp gave it up (out of memory): no connection */
		link_free(l);
		return -1;
	}
	l->evcon = cbarg;
	if (evhttp_connection_get_bufferevent(l->evcon) != l->bev)
		fatalx("%s: not evhttp's connection", __func__);
	evhttp_connection_set_closecb(l->evcon, link_closed_cb, l);
	return 0;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct console_link *l = arg;
	char peer[CIDR_STRLEN];

	if (l->evcon == NULL) {
		if (link_setup(l) == -1)
			return;
		if (!l->refused) {
			evtimer_add(l->timer, &l->g->timeout);
			return;
		}
	} else {
		link_peer(l, peer, sizeof(peer));
		log_info(LOG_CAT_CONTROL, "event=console_request_timeout "
		    "client=%s", peer);
	}
	/* evhttp's own timeout: closed, no answer; l is freed */
	bufferevent_trigger_event(l->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
	    0);
}

/* one more connection past the cap: counted, logged now and then */
static void
note_refused(struct console_guard *g)
{
	time_t now = time(NULL);

	g->refused++;
	if (now - g->logged < GUARD_LOG_EVERY)
		return;
	log_warn(LOG_CAT_CONTROL, "event=console_connections_full open=%zu "
	    "max=%d refused=%llu", g->open, g->max, g->refused);
	g->logged = now;
	g->refused = 0;
}

/* console_guard_bev_cb - each connection's bufferevent, guarded */
struct bufferevent *
console_guard_bev_cb(struct event_base *base, void *arg)
{
	struct console_guard *g = arg;
	struct console_link *l;
	SSL *ssl;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("%s: calloc", __func__);
	if (g->tls != NULL) {
		if ((ssl = SSL_new(g->tls)) == NULL)
			fatalx("%s: SSL_new", __func__);
		l->bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	} else
		l->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (l->bev == NULL ||
	    (l->timer = evtimer_new(base, timer_cb, l)) == NULL)
		fatalx("%s: out of memory", __func__);
	l->g = g;
	l->refused = g->open >= (size_t)g->max;
	if (l->refused)
		note_refused(g);
	else
		g->open++;
	TAILQ_INSERT_TAIL(&g->links, l, entry);
	/* this turn of the loop, once evhttp has its connection */
	event_active(l->timer, EV_TIMEOUT, 1);
	return l->bev;
}

/* the link of req's connection; NULL: the client went away */
static struct console_link *
link_of(struct console_guard *g, struct evhttp_request *req)
{
	struct evhttp_connection *ec = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct console_link *l;

	if (ec == NULL || (bev = evhttp_connection_get_bufferevent(ec)) ==
	    NULL)
		return NULL;
	TAILQ_FOREACH(l, &g->links, entry)
		if (l->bev == bev && l->evcon == ec)
			return l;
	return NULL;
}

/* console_guard_hold - the request is the console's now */
void
console_guard_hold(struct console_guard *g, struct evhttp_request *req)
{
	struct console_link *l = link_of(g, req);

	if (l != NULL && !l->refused)
		evtimer_del(l->timer);
}

/* console_guard_answered - the answer goes: the deadline again */
void
console_guard_answered(struct console_guard *g, struct evhttp_request *req)
{
	struct console_link *l = link_of(g, req);

	if (l != NULL && !l->refused)
		evtimer_add(l->timer, &g->timeout);
}
