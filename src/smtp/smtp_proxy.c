/*
 * smtp_proxy.c - connections on a proxy_protocol listener, from accept
 * until their PROXY header is read: then the client it names becomes
 * the session's address, and every decision (relay, bans, DNSBL,
 * limits, the watch, Received, logs) is taken on it.
 *
 * Public: smtp_proxy_accept, smtp_proxy_close_all.
 *
 * SECURITY: only a proxy_from network may name the client; a connection
 * from anywhere else is closed before a byte is read. The header is read
 * with proxy_parse (src/io/proxy_proto.c) and only its own bytes are
 * taken from the socket: what follows is the client's, for the session
 * (a client that talks first is still caught as such). The deny list
 * and the bans are checked again on the address the header gives. A
 * bad header, a close or silence past SMTP_PROXY_SECS ends the
 * connection; it never becomes a session, so the proxy's own address
 * is never taken for a client's (except by the protocol's own word:
 * LOCAL, UNKNOWN, a health check of the proxy itself).
 * LIMITS: PROXY_HEADER_MAX bytes, SMTP_PROXY_SECS from accept (a
 * deadline, not an idle timer), at most max_sessions connections
 * waiting for their header.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "../io/proxy_proto.h"
#include "../lib/log.h"
#include "smtp.h"

#define SMTP_PROXY_SECS	5	/* from accept to the end of the header */

/* one connection waiting for its header; owned by srv->proxied */
struct smtp_proxied {
	struct smtp_listener	*l;
	int			 fd;		/* owned until the session takes it */
	struct event		*ev;		/* readable or the deadline, owned */
	struct timeval		 deadline;
	struct sockaddr_storage	 peer;		/* the proxy */
	char			 ip[CIDR_STRLEN];	/* the proxy, as text */
	uint8_t			 buf[PROXY_HEADER_MAX];
	size_t			 have;		/* bytes of the header so far */
	TAILQ_ENTRY(smtp_proxied) entry;
};

static void
proxied_free(struct smtp_server *srv, struct smtp_proxied *pc)
{
	TAILQ_REMOVE(&srv->proxied, pc, entry);
	srv->n_proxied--;
	if (pc->ev != NULL)
		event_free(pc->ev);
	if (pc->fd >= 0)
		close(pc->fd);
	free(pc);
}

/* the header did not come: a log line, an event, the connection closed */
static void
proxied_fail(struct smtp_proxied *pc, const char *why, int event)
{
	struct smtp_server *srv = pc->l->srv;
	char detail[160];

	log_notice(LOG_CAT_POLICY, "event=proxy_error proxy=%s listener=%s "
	    "reason=\"%s\"", pc->ip, pc->l->conf->name, why);
	if (event) {
		snprintf(detail, sizeof(detail), "listener=%s %s",
		    pc->l->conf->name, why);
		smtp_server_event(srv, "proxy_error", pc->ip, "", "", detail);
	}
	proxied_free(srv, pc);
}

/* the header is read: the client it names is the session's */
static void
proxied_done(struct smtp_proxied *pc, const struct proxy_header *h)
{
	struct smtp_server *srv = pc->l->srv;
	struct smtp_listener *l = pc->l;
	struct sockaddr_storage client;
	uint8_t addr[16];
	char ip[CIDR_STRLEN], proxy[CIDR_STRLEN];
	int fd = pc->fd;

	/* LOCAL, UNKNOWN: the proxy speaks for itself (a health check) */
	client = h->local ? pc->peer : h->src;
	if (cidr_addr_from_sa((struct sockaddr *)&client, addr) == -1) {
		proxied_fail(pc, "no usable client address", 1);
		return;
	}
	cidr_addr_format(addr, ip, sizeof(ip));
	memcpy(proxy, pc->ip, sizeof(proxy));
	log_info(LOG_CAT_SMTP, "event=proxy client=%s proxy=%s listener=%s "
	    "version=%d%s", ip, proxy, l->conf->name, h->version,
	    h->local ? " local=yes" : "");
	pc->fd = -1;		/* from here on fd is the session's */
	proxied_free(srv, pc);
	if (smtp_server_refused(srv, l, fd, addr))
		return;
	l->started++;
	smtp_session_start(srv, l, fd, (struct sockaddr *)&client,
	    client.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in), proxy);
}

static void
proxied_arm(struct smtp_proxied *pc)
{
	struct timeval now, left;

	event_base_gettimeofday_cached(pc->l->srv->base, &now);
	if (timercmp(&now, &pc->deadline, >=))
		timerclear(&left);
	else
		timersub(&pc->deadline, &now, &left);
	event_add(pc->ev, &left);
}

/*
 * Peek at what has come, take from the socket only what proxy_parse
 * says is header, and wait for more (until the deadline) while it is
 * incomplete.
 */
static void
proxied_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_proxied *pc = arg;
	struct proxy_header h;
	const char *why;
	size_t want;
	ssize_t n;
	int done = 0;

	if (what & EV_TIMEOUT) {
		proxied_fail(pc, pc->have ? "PROXY header incomplete in time" :
		    "no PROXY header in time", 1);
		return;
	}
	n = recv(fd, pc->buf + pc->have, sizeof(pc->buf) - pc->have, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)) {
		proxied_arm(pc);
		return;
	}
	if (n <= 0) {
		/* a bare TCP check closes at once: worth a line, no event */
		log_info(LOG_CAT_SMTP, "event=proxy_closed proxy=%s listener=%s "
		    "bytes=%zu", pc->ip, pc->l->conf->name, pc->have);
		proxied_free(pc->l->srv, pc);
		return;
	}
	switch (proxy_parse(pc->buf, pc->have + (size_t)n,
	    pc->l->conf->proxy_protocol, &h, &why)) {
	case PROXY_BAD:
		proxied_fail(pc, why, 1);
		return;
	case PROXY_MORE:
		want = (size_t)n;
		break;
	case PROXY_DONE:
		want = h.len - pc->have;
		done = 1;
		break;
	default:
		fatalx("%s: proxy_parse", __func__);
	}
	if (recv(fd, pc->buf + pc->have, want, 0) != (ssize_t)want) {
		proxied_fail(pc, "short read", 0);
		return;
	}
	pc->have += want;
	if (done)
		proxied_done(pc, &h);
	else
		proxied_arm(pc);
}

/*
 * smtp_proxy_accept - a connection on a proxy_protocol listener: from a
 * proxy_from network it waits for its header, else it is closed unread
 */
void
smtp_proxy_accept(struct smtp_listener *l, int fd, const struct sockaddr *sa,
    int salen)
{
	struct smtp_server *srv = l->srv;
	const struct conf_listener *lc = l->conf;
	struct smtp_proxied *pc;
	struct timeval now, tv = { SMTP_PROXY_SECS, 0 };
	uint8_t addr[16];
	char ip[CIDR_STRLEN];
	size_t i = 0;

	if (cidr_addr_from_sa(sa, addr) == 0) {
		for (i = 0; i < lc->n_proxy_from; i++)
			if (cidr_contains(&lc->proxy_from[i], addr))
				break;
		cidr_addr_format(addr, ip, sizeof(ip));
	} else
		snprintf(ip, sizeof(ip), "unknown");
	if (i == lc->n_proxy_from) {
		log_notice(LOG_CAT_POLICY, "event=refused client=%s listener=%s "
		    "reason=\"not in proxy_from\"", ip, lc->name);
		smtp_server_event(srv, "proxy_refused", ip, "", "", lc->name);
		close(fd);
		return;
	}
	if (srv->shutting_down ||
	    srv->n_proxied >= (size_t)srv->conf->max_sessions) {
		log_notice(LOG_CAT_POLICY, "event=limit proxy=%s listener=%s "
		    "limit=max_sessions (waiting for a PROXY header)", ip,
		    lc->name);
		close(fd);
		return;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		log_err(LOG_CAT_SMTP, "event=proxy_failed reason=\"out of memory\"");
		close(fd);
		return;
	}
	pc->l = l;
	pc->fd = fd;
	memcpy(&pc->peer, sa, (size_t)salen < sizeof(pc->peer) ?
	    (size_t)salen : sizeof(pc->peer));
	memcpy(pc->ip, ip, sizeof(pc->ip));
	TAILQ_INSERT_TAIL(&srv->proxied, pc, entry);
	srv->n_proxied++;
	if ((pc->ev = event_new(srv->base, fd, EV_READ, proxied_read_cb,
	    pc)) == NULL) {
		log_err(LOG_CAT_SMTP, "event=proxy_failed reason=\"event_new\"");
		proxied_free(srv, pc);
		return;
	}
	event_base_gettimeofday_cached(srv->base, &now);
	timeradd(&now, &tv, &pc->deadline);
	proxied_arm(pc);
}

/* smtp_proxy_close_all - shutdown: connections still waiting just go */
void
smtp_proxy_close_all(struct smtp_server *srv)
{
	struct smtp_proxied *pc;

	while ((pc = TAILQ_FIRST(&srv->proxied)) != NULL)
		proxied_free(srv, pc);
}
