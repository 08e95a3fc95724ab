/*
 * verify.c - recipient verification (Postfix's reject_unverified_recipient,
 * Exim's callout): before moat accepts a recipient of a routed domain
 * configured so (recipient_verify), it asks the domain's internal server
 * whether that server would take it.
 *
 * Public: verifier_new, verifier_set_conf, verifier_check,
 * verifier_cached, verifier_flush, verifier_free.
 *
 * A probe walks the route's hosts in order (an address literal, a host
 * name's addresses, a name's MX hosts by preference, an LMTP socket;
 * IPv4 first unless address_preference = ipv6; from source_address_v4
 * or _v6 like the mta's connections) until one greets it, then says EHLO (LHLO for LMTP; HELO when EHLO is
 * refused), MAIL FROM:<> and RCPT TO:<addr>, and QUIT. DATA is never
 * sent. The answer to RCPT decides: 2xx FOUND, 5xx NOTFOUND, anything
 * else TEMPFAIL. A host that fails before RCPT (no connection, no or a
 * bad greeting, EHLO/HELO or MAIL refused, even with 5xx: that says
 * nothing about the recipient) hands the probe to the next host; when
 * none is left the answer is TEMPFAIL, so while the internal server is
 * down the client gets 451 4.4.3, never 550.
 *
 * FOUND and NOTFOUND are cached (verify_cache.c) for verify_cache_positive
 * and verify_cache_negative seconds (0: not at all) and sent to the queue process, which
 * keeps them in queue.db (verify_cache) and hands them back at the next
 * start (PROTO_VERIFY_LOAD). TEMPFAIL is never cached. Checks of an
 * address whose probe is under way wait for that probe. At most
 * VERIFY_CONN_MAX probes hold a connection (or a DNS query) at once;
 * others wait their turn, at most VERIFY_WAIT_MAX of them, each within
 * its own deadline.
 *
 * SECURITY: the address written after RCPT TO: is parsed again and
 * written by addr_format at this point (a local part quoted when it
 * must be), so no byte a client chose ends the command line; an address
 * that does not parse is never sent. Replies are untrusted: read line by
 * line by smtp_reply_line (SMTP_REPLY_LINE_MAX), kept to PROTO_REPLY_MAX
 * bytes and escaped when logged; an EHLO reply that names us is a loop
 * and that host is skipped. DNS answers go through mta_mx_parse_rdata and
 * fixed-length A/AAAA rdata only. Probes go in plain text (no STARTTLS):
 * they carry an address, no content.
 * LIMITS: VERIFY_CONN_MAX connections, VERIFY_WAIT_MAX waiting probes,
 * VERIFY_HOPS_MAX addresses a probe tries, VERIFY_PROBE_SECS a probe,
 * timeout_connect and timeout_client but at most VERIFY_REPLY_SECS a
 * connection or reply, VERIFY_CACHE_MAX answers in memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>
#include <unbound.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/resolver.h"
#include "lib/sock_source.h"
#include "lookup/verify.h"
#include "lookup/verify_cache.h"
#include "mail/addr.h"
#include "mail/smtp_reply.h"
#include "mta/mta_route.h"

#define VERIFY_CONN_MAX		16	/* probes connected or resolving */
#define VERIFY_WAIT_MAX		1024	/* probes waiting for their turn */
#define VERIFY_HOPS_MAX		16	/* addresses one probe tries */
#define VERIFY_MX_MAX		8	/* MX hosts of one destination */
#define VERIFY_CACHE_MAX	200000	/* answers held in memory */
#define VERIFY_PROBE_SECS	30	/* a probe's whole life */
#define VERIFY_REPLY_SECS	10	/* one connection or reply */
#define VERIFY_QUIT_SECS	2	/* the 221 after the answer */
#define VERIFY_PURGE_SECS	300	/* expired answers dropped this often */
#define VERIFY_PENDING_BUCKETS	256
#define VERIFY_ESC		512

#define DNS_TYPE_A		1
#define DNS_TYPE_MX		15
#define DNS_TYPE_AAAA		28

enum probe_state {
	PR_WAIT,		/* for a connection slot */
	PR_RESOLVE,		/* DNS of the current destination */
	PR_CONNECT,
	PR_BANNER,
	PR_EHLO,		/* or LHLO */
	PR_HELO,
	PR_MAIL,
	PR_RCPT,
	PR_QUIT,		/* answered; waiting for 221 or the close */
};

/* one caller of verifier_check waiting for a probe; owned by it */
struct verify_waiter {
	struct verify_waiter	*next;
	lookup_done_fn		*cb;
	void			*arg;
};

/* one address to connect to */
struct verify_hop {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 name[MTA_HOST_MAX + INET6_ADDRSTRLEN + 16];
};

/* the addresses found for one MX host (or the one host) */
struct verify_mxaddr {
	char	host[MTA_HOST_MAX];
	char	a[4][INET6_ADDRSTRLEN];
	int	na;
	char	aaaa[4][INET6_ADDRSTRLEN];
	int	naaaa;
};

/* one DNS query in flight; freed by its callback */
struct verify_dnsq {
	struct probe	*p;
	int		 type;
	size_t		 idx;		/* A/AAAA: into p->mxa */
};

/* One probe. Owned by v->probes (all of them) until probe_free. */
struct probe {
	TAILQ_ENTRY(probe)	 entry;		/* v->waiting or v->running */
	struct probe		*hnext;		/* v->pending, until answered */
	struct verifier		*v;
	enum probe_state	 state;
	int			 answered;
	int			 running;	/* holds a slot */
	uint32_t		 id;		/* for logs */
	char			 addr[ADDR_STRLEN];	/* RCPT TO, the key */
	int			 utf8;		/* needs SMTPUTF8 */
	struct verify_waiter	*waiters;
	struct mta_hosts	 dests;		/* the route's, in order: a copy */
	size_t			 idest;		/* the destination tried */
	int			 port, lmtp;
	struct verify_hop	 hops[VERIFY_HOPS_MAX];
	size_t			 nhops, ihop;
	struct verify_mxaddr	*mxa;		/* while resolving */
	size_t			 nmxa;
	int			 dns_pending;
	struct bufferevent	*bev;
	struct event		*deadline;
	char			 reply[PROTO_REPLY_MAX];
	size_t			 reply_len;
	int			 smtputf8;	/* the server offered it */
	char			 last[PROTO_REPLY_MAX];	/* last failure */
	struct timespec		 start;
};

struct verifier {
	struct event_base	*base;
	struct ipc_peer		*queue;
	struct resolver		*res;
	struct verify_cache	*cache;
	struct mta_route	*routes;
	size_t			 nroutes;
	char			 helo[256];
	int			 port;		/* default: test_smtp_port */
	char			 source_v4[64];	/* "": the system's choice */
	char			 source_v6[64];
	int			 v6first;	/* address_preference = ipv6 */
	int			 timeout_connect;	/* seconds, at most */
	int			 timeout_reply;		/* VERIFY_REPLY_SECS */
	int64_t			 ttl_positive, ttl_negative;
	struct probe		*pending[VERIFY_PENDING_BUCKETS];
	TAILQ_HEAD(, probe)	 waiting, running;
	size_t			 nwaiting, nrunning;
	uint32_t		 next_id;
	struct event		*ev_purge;
};

static void probe_start(struct probe *);
static void probe_next_dest(struct probe *);
static void probe_next_hop(struct probe *);
static void probe_read_cb(struct bufferevent *, void *);
static void probe_event_cb(struct bufferevent *, short, void *);

static const char *const state_names[] = {
	"wait", "resolve", "connect", "banner", "ehlo", "helo", "mail", "rcpt",
	"quit"
};

static size_t
pending_slot(const char *addr)
{
	return hash_fnv1a(addr, strlen(addr)) % VERIFY_PENDING_BUCKETS;
}

static struct probe *
pending_find(struct verifier *v, const char *addr)
{
	struct probe *p;

	for (p = v->pending[pending_slot(addr)]; p != NULL; p = p->hnext)
		if (strcmp(p->addr, addr) == 0)
			return p;
	return NULL;
}

static void
pending_remove(struct probe *p)
{
	struct probe **pp = &p->v->pending[pending_slot(p->addr)];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp == p)
		*pp = p->hnext;
	p->hnext = NULL;
}

static void
probe_set_state(struct probe *p, enum probe_state st)
{
	log_debug(LOG_CAT_POLICY, "verify=%u event=state from=%s to=%s", p->id,
	    state_names[p->state], state_names[st]);
	p->state = st;
}

static long
probe_ms(const struct probe *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - p->start.tv_sec) * 1000 +
	    (now.tv_nsec - p->start.tv_nsec) / 1000000);
}

/* a reply's text fit for a "why" that ends in a log line: no controls */
static void
why_text(char *dst, size_t len, const char *prefix, const char *text)
{
	size_t n;

	snprintf(dst, len, "%s%s", prefix, text);
	for (n = 0; dst[n] != '\0'; n++)
		if ((unsigned char)dst[n] < 0x20 || dst[n] == 0x7f)
			dst[n] = '?';
}

static void
probe_close(struct probe *p)
{
	if (p->bev != NULL) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
}

/* the probe is over: its slot goes to the next waiting one */
static void
probe_free(struct probe *p)
{
	struct verifier *v = p->v;
	struct verify_waiter *w;
	struct probe *next;

	probe_close(p);
	if (p->dns_pending > 0) {
		/* the DNS callbacks still hold it: the last one frees it */
		p->state = PR_QUIT;
		if (p->deadline != NULL)
			evtimer_del(p->deadline);
		return;
	}
	if (!p->answered)
		pending_remove(p);
	if (p->running) {
		TAILQ_REMOVE(&v->running, p, entry);
		v->nrunning--;
	} else {
		TAILQ_REMOVE(&v->waiting, p, entry);
		v->nwaiting--;
	}
	while ((w = p->waiters) != NULL) {
		p->waiters = w->next;
		free(w);
	}
	if (p->deadline != NULL)
		event_free(p->deadline);
	free(p->mxa);
	free(p);
	while (v->nrunning < VERIFY_CONN_MAX &&
	    (next = TAILQ_FIRST(&v->waiting)) != NULL) {
		TAILQ_REMOVE(&v->waiting, next, entry);
		v->nwaiting--;
		TAILQ_INSERT_TAIL(&v->running, next, entry);
		v->nrunning++;
		next->running = 1;
		probe_start(next);
	}
}

/*
 * The answer: cached and sent to the queue when it is one, given to
 * every waiter. The probe stays to say QUIT when it is connected.
 */
static void
probe_answer(struct probe *p, enum lookup_answer a, const char *reply)
{
	struct verifier *v = p->v;
	struct verify_waiter *w, *ws;
	char why[PROTO_REPLY_MAX + 16], esc[VERIFY_ESC], eaddr[VERIFY_ESC];
	const char *hop = p->ihop < p->nhops ? p->hops[p->ihop].name : "";
	int64_t now = time(NULL), ttl;

	if (p->answered)
		return;
	p->answered = 1;
	pending_remove(p);
	ttl = a == LOOKUP_FOUND ? v->ttl_positive : a == LOOKUP_NOTFOUND ?
	    v->ttl_negative : 0;
	if (ttl > 0) {
		struct proto_verify_put vp;
		struct ipc_msg m;

		vp.address = p->addr;
		vp.result = a == LOOKUP_FOUND ? PROTO_VERIFY_FOUND :
		    PROTO_VERIFY_NOTFOUND;
		vp.reply = reply;
		vp.expires = now + ttl;
		if (verify_cache_put(v->cache, p->addr, vp.result, reply,
		    vp.expires, now) == -1)
			log_warn(LOG_CAT_POLICY, "verify=%u event=cache_failed",
			    p->id);
		if (v->queue != NULL) {
			proto_verify_put_enc(&m, 0, &vp);
			ipc_send(v->queue, &m);
		}
	}
	log_info(LOG_CAT_POLICY, "verify=%u event=verified to=<%s> result=%s "
	    "relay=%s reply=\"%s\" ms=%ld", p->id,
	    log_escape_bare(eaddr, sizeof(eaddr), p->addr, strlen(p->addr)),
	    a == LOOKUP_FOUND ? "found" : a == LOOKUP_NOTFOUND ? "notfound" :
	    "tempfail", hop[0] ? hop : "none",
	    log_escape(esc, sizeof(esc), reply, strlen(reply)), probe_ms(p));
	why_text(why, sizeof(why), "verify: ", reply);
	/* a callback may check this very address again: it is cached now */
	ws = p->waiters;
	p->waiters = NULL;
	while ((w = ws) != NULL) {
		ws = w->next;
		w->cb(w->arg, a, why);
		free(w);
	}
}

/* the whole probe took too long */
static void
probe_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	char r[PROTO_REPLY_MAX];

	(void)fd;
	(void)what;
	if (!p->answered) {
		snprintf(r, sizeof(r), "451 4.4.2 no answer within %d s%s%.900s",
		    VERIFY_PROBE_SECS, p->last[0] ? "; last: " : "", p->last);
		probe_answer(p, LOOKUP_TEMPFAIL, r);
	}
	probe_free(p);
}

/* this host failed before RCPT: the next one */
static void
probe_hop_failed(struct probe *p, const char *why)
{
	char esc[VERIFY_ESC];

	snprintf(p->last, sizeof(p->last), "%s: %s", p->ihop < p->nhops ?
	    p->hops[p->ihop].name : "?", why);
	log_info(LOG_CAT_POLICY, "verify=%u event=host_failed state=%s "
	    "error=\"%s\"", p->id, state_names[p->state],
	    log_escape(esc, sizeof(esc), p->last, strlen(p->last)));
	probe_close(p);
	p->ihop++;
	probe_next_hop(p);
}

static void
probe_send(struct probe *p, const char *line)
{
	evbuffer_add_printf(bufferevent_get_output(p->bev), "%s\r\n", line);
}

static void
probe_timeout(struct probe *p, int secs)
{
	struct timeval tv = { secs, 0 };

	bufferevent_set_timeouts(p->bev, &tv, &tv);
}

/*
 * A whole reply is in p->reply with its code. 0: reading goes on on the
 * same connection; -1: the connection (and maybe the probe) is gone.
 */
static int
probe_reply(struct probe *p, int code)
{
	char line[ADDR_STRLEN + 32];
	int cls = code / 100;

	switch (p->state) {
	case PR_BANNER:
		if (cls != 2)
			break;
		snprintf(line, sizeof(line), "%s %s", p->lmtp ? "LHLO" : "EHLO",
		    p->v->helo);
		probe_send(p, line);
		probe_set_state(p, PR_EHLO);
		return 0;
	case PR_EHLO:
	case PR_HELO:
		if (cls == 5 && p->state == PR_EHLO && !p->lmtp) {
			snprintf(line, sizeof(line), "HELO %s", p->v->helo);
			probe_send(p, line);
			probe_set_state(p, PR_HELO);
			return 0;
		}
		if (cls != 2)
			break;
		probe_send(p, p->utf8 && p->smtputf8 ? "MAIL FROM:<> SMTPUTF8" :
		    "MAIL FROM:<>");
		probe_set_state(p, PR_MAIL);
		return 0;
	case PR_MAIL:
		if (cls != 2)
			break;
		/* p->addr is addr_format's: written as it must be written */
		snprintf(line, sizeof(line), "RCPT TO:<%s>", p->addr);
		probe_send(p, line);
		probe_set_state(p, PR_RCPT);
		return 0;
	case PR_RCPT:
		probe_answer(p, cls == 2 ? LOOKUP_FOUND : cls == 5 ?
		    LOOKUP_NOTFOUND : LOOKUP_TEMPFAIL, p->reply);
		probe_send(p, "QUIT");
		probe_set_state(p, PR_QUIT);
		probe_timeout(p, VERIFY_QUIT_SECS);
		return 0;
	case PR_QUIT:
		probe_free(p);
		return -1;
	default:
		fatalx("%s: reply in state %s", __func__, state_names[p->state]);
	}
	/* refused before RCPT: that says nothing of the recipient */
	probe_hop_failed(p, p->reply);
	return -1;
}

/* an EHLO line's keyword: is SMTPUTF8 offered? does it name us? */
static int
probe_ehlo_line(struct probe *p, const char *text, int first)
{
	size_t n = strlen(p->v->helo);

	if (first)
		return strncasecmp(text, p->v->helo, n) == 0 &&
		    (text[n] == '\0' || text[n] == ' ') ? -1 : 0;
	if (strcasecmp(text, "SMTPUTF8") == 0)
		p->smtputf8 = 1;
	return 0;
}

static void
probe_read_cb(struct bufferevent *bev, void *arg)
{
	struct probe *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while (p->bev != NULL &&
	    (line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		struct smtp_reply_buf rb = { p->reply, sizeof(p->reply),
		    p->reply_len, p->state != PR_EHLO };
		int first = p->reply_len == 0, rc, code = 0;

		rc = smtp_reply_line(&rb, line, n, &code);
		p->reply_len = rb.len;
		if (rc != SMTP_REPLY_BAD && p->state == PR_EHLO &&
		    line[0] == '2' && n > 4 &&
		    probe_ehlo_line(p, line + 4, first) == -1) {
			free(line);
			probe_hop_failed(p, "the host names us: a loop");
			return;
		}
		free(line);
		if (rc == SMTP_REPLY_BAD) {
			if (p->state == PR_QUIT)
				probe_free(p);
			else if (p->state == PR_RCPT) {
				probe_answer(p, LOOKUP_TEMPFAIL,
				    "451 4.5.0 malformed reply to RCPT");
				probe_free(p);
			} else
				probe_hop_failed(p, "malformed reply");
			return;
		}
		if (rc == SMTP_REPLY_MORE)
			continue;
		p->reply_len = 0;
		if (probe_reply(p, code) == -1)
			return;		/* p may be gone */
	}
	if (p->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(p->bev)) >
	    SMTP_REPLY_LINE_MAX) {
		if (p->state == PR_RCPT) {
			probe_answer(p, LOOKUP_TEMPFAIL,
			    "451 4.5.0 reply line too long");
			probe_free(p);
		} else if (p->state == PR_QUIT)
			probe_free(p);
		else
			probe_hop_failed(p, "reply line too long");
	}
}

static void
probe_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct probe *p = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		probe_set_state(p, PR_BANNER);
		probe_timeout(p, p->v->timeout_reply);
		return;
	}
	if (p->state == PR_QUIT) {
		probe_free(p);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timed out in %s",
		    state_names[p->state]);
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed in %s",
		    state_names[p->state]);
	else
		snprintf(why, sizeof(why), "%s in %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()),
		    state_names[p->state]);
	if (p->state == PR_RCPT) {
		/* the recipient's answer was lost: say so, no next host */
		char r[PROTO_REPLY_MAX];

		snprintf(r, sizeof(r), "451 4.4.2 %s", why);
		probe_answer(p, LOOKUP_TEMPFAIL, r);
		probe_free(p);
		return;
	}
	probe_hop_failed(p, why);
}

/*
 * A socket for hop h: from source_address_v4 or _v6 when set (as the
 * mta's connections). -1 with a reason in why.
 */
static int
probe_socket(struct probe *p, const struct verify_hop *h, char *why,
    size_t len)
{
	int family = h->ss.ss_family, fd;
	const char *src = family == AF_INET ? p->v->source_v4 :
	    family == AF_INET6 ? p->v->source_v6 : "";

	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(why, len, "socket: %s", strerror(errno));
		return -1;
	}
	if (sock_bind_source(fd, family, src) == 0)
		return fd;
	snprintf(why, len, "cannot send from source address %s: %s", src,
	    strerror(errno));
	close(fd);
	return -1;
}

/* try the current hop, or the next destination when none is left */
static void
probe_next_hop(struct probe *p)
{
	struct verify_hop *h;
	char why[256];
	int fd;

	if (p->ihop >= p->nhops) {
		p->idest++;
		probe_next_dest(p);
		return;
	}
	h = &p->hops[p->ihop];
	p->reply_len = 0;
	p->smtputf8 = 0;
	probe_set_state(p, PR_CONNECT);
	if ((fd = probe_socket(p, h, why, sizeof(why))) == -1) {
		probe_hop_failed(p, why);
		return;
	}
	if ((p->bev = bufferevent_socket_new(p->v->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatal("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(p->bev, probe_read_cb, NULL, probe_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	probe_timeout(p, p->v->timeout_connect);
	log_debug(LOG_CAT_POLICY, "verify=%u event=connect relay=%s", p->id,
	    h->name);
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&h->ss,
	    (int)h->sslen) == -1) {
		/* the event callback may have run already: only when not */
		if (p->bev != NULL && p->state == PR_CONNECT)
			probe_hop_failed(p, "cannot connect");
	}
}

/* add one numeric address of host as a hop */
static void
hop_add(struct probe *p, const char *host, const char *addr)
{
	struct verify_hop *h;

	if (p->nhops >= VERIFY_HOPS_MAX)
		return;
	h = &p->hops[p->nhops];
	memset(h, 0, sizeof(*h));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return;
		h->sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return;
		h->sslen = sizeof(*s4);
	}
	if (strcmp(host, addr) == 0)
		snprintf(h->name, sizeof(h->name), "[%s]:%d", addr, p->port);
	else
		snprintf(h->name, sizeof(h->name), "%s[%s]:%d", host, addr,
		    p->port);
	p->nhops++;
}

/* every DNS answer of this destination is in: its hops, in order */
static void
dns_done(struct probe *p)
{
	for (size_t i = 0; i < p->nmxa; i++) {
		struct verify_mxaddr *m = &p->mxa[i];

		for (int pass = 0; pass < 2; pass++) {
			if (pass == p->v->v6first)
				for (int k = 0; k < m->na; k++)
					hop_add(p, m->host, m->a[k]);
			else
				for (int k = 0; k < m->naaaa; k++)
					hop_add(p, m->host, m->aaaa[k]);
		}
	}
	if (p->nhops == 0)
		snprintf(p->last, sizeof(p->last), "%s: no address found",
		    p->dests.v[p->idest].host);
	free(p->mxa);
	p->mxa = NULL;
	p->nmxa = 0;
	p->ihop = 0;
	probe_next_hop(p);
}

static void dns_answer(void *arg, int err, struct ub_result *res);

static void
dns_query(struct probe *p, const char *name, int type, size_t idx)
{
	struct verify_dnsq *q;
	int rc;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("%s: calloc", __func__);
	q->p = p;
	q->type = type;
	q->idx = idx;
	p->dns_pending++;
	rc = ub_resolve_async(resolver_ctx(p->v->res), name, type, 1, q,
	    dns_answer, NULL);
	if (rc != 0) {
		log_warn(LOG_CAT_DNS, "verify=%u event=query_failed type=%d "
		    "error=\"%s\"", p->id, type, ub_strerror(rc));
		p->dns_pending--;
		free(q);
	}
}

static void
dns_hosts(struct probe *p)
{
	for (size_t i = 0; i < p->nmxa; i++) {
		dns_query(p, p->mxa[i].host, DNS_TYPE_A, i);
		dns_query(p, p->mxa[i].host, DNS_TYPE_AAAA, i);
	}
}

static void
dns_mx_answer(struct probe *p, int err, struct ub_result *res)
{
	struct mta_mx mx[MTA_MX_MAX];
	size_t n = 0;

	if (err == 0 && res->havedata)
		for (int i = 0; res->data[i] != NULL && n < MTA_MX_MAX; i++)
			if (mta_mx_parse_rdata((const uint8_t *)res->data[i],
			    (size_t)res->len[i], &mx[n]) == 0) {
				mx[n].rnd = randombytes_random();
				n++;
			}
	if (n == 0) {
		/* no MX: the name itself (RFC 5321 5.1) */
		p->nmxa = 1;
		snprintf(p->mxa[0].host, sizeof(p->mxa[0].host), "%s",
		    p->dests.v[p->idest].host);
	} else {
		if (mta_mx_is_null(mx, n))
			return;		/* no host: dns_done finds none */
		mta_mx_sort(mx, n);
		for (size_t i = 0; i < n && i < VERIFY_MX_MAX; i++)
			snprintf(p->mxa[p->nmxa++].host, MTA_HOST_MAX, "%s",
			    mx[i].host);
	}
	dns_hosts(p);
}

static void
dns_addr_answer(struct probe *p, struct verify_dnsq *q, int err,
    struct ub_result *res)
{
	struct verify_mxaddr *m = &p->mxa[q->idx];

	if (err != 0 || !res->havedata)
		return;
	for (int i = 0; res->data[i] != NULL; i++) {
		char buf[INET6_ADDRSTRLEN];

		if (q->type == DNS_TYPE_A && res->len[i] == 4 && m->na < 4) {
			inet_ntop(AF_INET, res->data[i], buf, sizeof(buf));
			snprintf(m->a[m->na++], INET6_ADDRSTRLEN, "%s", buf);
		} else if (q->type == DNS_TYPE_AAAA && res->len[i] == 16 &&
		    m->naaaa < 4) {
			inet_ntop(AF_INET6, res->data[i], buf, sizeof(buf));
			snprintf(m->aaaa[m->naaaa++], INET6_ADDRSTRLEN, "%s",
			    buf);
		}
	}
}

static void
dns_answer(void *arg, int err, struct ub_result *res)
{
	struct verify_dnsq *q = arg;
	struct probe *p = q->p;

	p->dns_pending--;
	if (p->state != PR_RESOLVE) {
		/* the probe ended meanwhile: the last answer frees it */
		if (res != NULL)
			ub_resolve_free(res);
		free(q);
		if (p->dns_pending == 0)
			probe_free(p);
		return;
	}
	if (q->type == DNS_TYPE_MX)
		dns_mx_answer(p, err, res);
	else
		dns_addr_answer(p, q, err, res);
	if (res != NULL)
		ub_resolve_free(res);
	free(q);
	if (p->dns_pending == 0)
		dns_done(p);
}

/* the next destination of the route, or TEMPFAIL when none is left */
static void
probe_next_dest(struct probe *p)
{
	const struct mta_dest *d;
	struct sockaddr_un *su;

	if (p->idest >= p->dests.n) {
		char r[PROTO_REPLY_MAX];

		snprintf(r, sizeof(r), "451 4.4.1 no internal server answered%s%.900s",
		    p->last[0] ? "; last: " : "", p->last);
		probe_answer(p, LOOKUP_TEMPFAIL, r);
		probe_free(p);
		return;
	}
	d = &p->dests.v[p->idest];
	p->nhops = p->ihop = 0;
	p->lmtp = d->lmtp;
	p->port = d->port ? d->port : p->v->port;
	if (d->unix_sock) {
		struct verify_hop *h = &p->hops[0];

		memset(h, 0, sizeof(*h));
		su = (struct sockaddr_un *)&h->ss;
		su->sun_family = AF_UNIX;
		/* mta_dest_parse refused a longer path */
		snprintf(su->sun_path, sizeof(su->sun_path), "%.107s", d->host);
		h->sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(su->sun_path) + 1);
		snprintf(h->name, sizeof(h->name), "unix:%s", d->host);
		p->nhops = 1;
		probe_next_hop(p);
		return;
	}
	if (d->literal) {
		hop_add(p, d->host, d->host);
		probe_next_hop(p);
		return;
	}
	if (p->v->res == NULL) {
		snprintf(p->last, sizeof(p->last), "%s: no resolver", d->host);
		p->idest++;
		probe_next_dest(p);
		return;
	}
	free(p->mxa);
	if ((p->mxa = calloc(VERIFY_MX_MAX, sizeof(*p->mxa))) == NULL)
		fatal("%s: calloc", __func__);
	p->nmxa = 0;
	probe_set_state(p, PR_RESOLVE);
	p->dns_pending++;	/* no answer completes us before the end */
	if (d->bracket) {
		p->nmxa = 1;
		snprintf(p->mxa[0].host, sizeof(p->mxa[0].host), "%s", d->host);
		dns_hosts(p);
	} else
		dns_query(p, d->host, DNS_TYPE_MX, 0);
	if (--p->dns_pending == 0)
		dns_done(p);
}

/* a slot is ours: the route's first destination */
static void
probe_start(struct probe *p)
{
	p->idest = 0;
	probe_next_dest(p);
}

static void
verify_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct verifier *v = arg;
	size_t n;

	(void)fd;
	(void)what;
	if ((n = verify_cache_expire(v->cache, time(NULL))) > 0)
		log_debug(LOG_CAT_POLICY, "event=verify_cache_expired count=%zu",
		    n);
}

/* verifier_set_conf - routes, TTLs and names of a (new) configuration */
int
verifier_set_conf(struct verifier *v, const struct conf *c, char *err,
    size_t errlen)
{
	struct mta_route *routes = NULL;
	const char *why;
	size_t bad;

	if (mta_routes_parse(c->routes, c->n_routes, &routes, &bad,
	    &why) == -1) {
		snprintf(err, errlen, "route %s %s", c->routes[bad], why);
		return -1;
	}
	free(v->routes);
	v->routes = routes;
	v->nroutes = c->n_routes;
	snprintf(v->helo, sizeof(v->helo), "%s", c->hostname);
	v->port = c->test_smtp_port;
	snprintf(v->source_v4, sizeof(v->source_v4), "%s", c->source_address_v4);
	snprintf(v->source_v6, sizeof(v->source_v6), "%s", c->source_address_v6);
	v->v6first = strcmp(c->address_preference, "ipv6") == 0;
	v->timeout_connect = c->timeout_connect < VERIFY_REPLY_SECS ?
	    c->timeout_connect : VERIFY_REPLY_SECS;
	v->timeout_reply = c->timeout_client < VERIFY_REPLY_SECS ?
	    c->timeout_client : VERIFY_REPLY_SECS;
	v->ttl_positive = c->verify_cache_positive;
	v->ttl_negative = c->verify_cache_negative;
	return 0;
}

/* verifier_new - the verifier of a lookup process */
struct verifier *
verifier_new(struct event_base *base, const struct conf *c,
    struct ipc_peer *queue, char *err, size_t errlen)
{
	struct timeval tv = { VERIFY_PURGE_SECS, 0 };
	struct verifier *v;
	struct ipc_msg m;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "verify: out of memory");
		return NULL;
	}
	v->base = base;
	v->queue = queue;
	TAILQ_INIT(&v->waiting);
	TAILQ_INIT(&v->running);
	if ((v->cache = verify_cache_new(VERIFY_CACHE_MAX)) == NULL) {
		snprintf(err, errlen, "verify: out of memory");
		goto fail;
	}
	if (verifier_set_conf(v, c, err, errlen) == -1)
		goto fail;
	/* route hosts given by name need DNS; an address literal does not */
	if ((v->res = resolver_new("verify", c->dns_server,
	    RESOLVER_ROOT_FALLBACK, err, errlen)) == NULL)
		goto fail;
	if (resolver_attach(v->res, base) == -1) {
		snprintf(err, errlen, "verify: cannot watch the resolver");
		goto fail;
	}
	if ((v->ev_purge = event_new(base, -1, EV_PERSIST, verify_purge_cb,
	    v)) == NULL || event_add(v->ev_purge, &tv) == -1) {
		snprintf(err, errlen, "verify: event_new failed");
		goto fail;
	}
	if (queue != NULL) {
		proto_empty_enc(&m, PROTO_VERIFY_LOAD, 0);
		ipc_send(queue, &m);
	}
	return v;
fail:
	verifier_free(v);
	return NULL;
}

/* verifier_check - the cached answer, or a probe's (shared) */
void
verifier_check(struct verifier *v, const char *addr, const char *domain,
    lookup_done_fn *cb, void *arg)
{
	struct mail_addr a;
	struct verify_waiter *w;
	struct probe *p;
	const char *reply;
	char path[ADDR_STRLEN + 2], key[ADDR_STRLEN], why[PROTO_REPLY_MAX + 16];
	int result, n;

	/* parsed again: what RCPT TO writes is addr_format's own output */
	n = snprintf(path, sizeof(path), "<%s>", addr);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    addr_parse_path(path, (size_t)n, ADDR_F_UTF8, &a, NULL) != ADDR_OK ||
	    a.is_null || a.domain[0] == '\0') {
		cb(arg, LOOKUP_TEMPFAIL, "verify: the address does not parse");
		return;
	}
	addr_format(&a, key, sizeof(key));
	if (verify_cache_get(v->cache, key, time(NULL), &result, &reply)) {
		why_text(why, sizeof(why), "verify: cached: ", reply);
		cb(arg, result == PROTO_VERIFY_FOUND ? LOOKUP_FOUND :
		    LOOKUP_NOTFOUND, why);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		cb(arg, LOOKUP_TEMPFAIL, "verify: out of memory");
		return;
	}
	w->cb = cb;
	w->arg = arg;
	if ((p = pending_find(v, key)) != NULL) {
		w->next = p->waiters;
		p->waiters = w;
		return;
	}
	if (v->nwaiting >= VERIFY_WAIT_MAX ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		free(w);
		cb(arg, LOOKUP_TEMPFAIL, "verify: too many probes waiting");
		return;
	}
	if (mta_route_hosts(v->routes, v->nroutes, domain != NULL &&
	    *domain != '\0' ? domain : a.domain, &p->dests) == 0) {
		free(w);
		free(p);
		cb(arg, LOOKUP_TEMPFAIL, "verify: the domain has no route");
		return;
	}
	p->v = v;
	p->id = ++v->next_id;
	p->waiters = w;
	p->utf8 = a.utf8;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	snprintf(p->addr, sizeof(p->addr), "%s", key);
	if ((p->deadline = evtimer_new(v->base, probe_deadline_cb, p)) == NULL)
		fatal("%s: evtimer_new", __func__);
	{
		struct timeval tv = { VERIFY_PROBE_SECS, 0 };

		evtimer_add(p->deadline, &tv);
	}
	p->hnext = v->pending[pending_slot(key)];
	v->pending[pending_slot(key)] = p;
	if (v->nrunning < VERIFY_CONN_MAX) {
		TAILQ_INSERT_TAIL(&v->running, p, entry);
		v->nrunning++;
		p->running = 1;
		probe_start(p);
	} else {
		TAILQ_INSERT_TAIL(&v->waiting, p, entry);
		v->nwaiting++;
	}
}

/* verifier_cached - one row of queue.db's cache, at start */
void
verifier_cached(struct verifier *v, const struct proto_verify_put *r)
{
	/* an answer a probe got since is newer than the row: keep it */
	if (verify_cache_get(v->cache, r->address, time(NULL), NULL, NULL))
		return;
	verify_cache_put(v->cache, r->address, r->result, r->reply,
	    r->expires, time(NULL));
}

/* verifier_flush - forget one address's answer, or every answer */
void
verifier_flush(struct verifier *v, const char *addr)
{
	size_t n = verify_cache_flush(v->cache, addr);

	log_info(LOG_CAT_POLICY, "event=verify_cache_flushed count=%zu", n);
}

/* verifier_free - stop every probe without calling back; release all */
void
verifier_free(struct verifier *v)
{
	struct probe *p;

	if (v == NULL)
		return;
	for (int pass = 0; pass < 2; pass++)
		while ((p = TAILQ_FIRST(pass ? &v->running : &v->waiting))
		    != NULL) {
			struct verify_waiter *w;

			while ((w = p->waiters) != NULL) {
				p->waiters = w->next;
				free(w);
			}
			p->answered = 1;
			pending_remove(p);
			TAILQ_REMOVE(pass ? &v->running : &v->waiting, p, entry);
			probe_close(p);
			if (p->deadline != NULL)
				event_free(p->deadline);
			free(p->mxa);
			/* DNS callbacks in flight never run after resolver_free */
			free(p);
		}
	if (v->ev_purge != NULL)
		event_free(v->ev_purge);
	resolver_free(v->res);
	verify_cache_free(v->cache);
	free(v->routes);
	free(v);
}
