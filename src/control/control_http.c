/*
 * control_http.c - Prometheus metrics over HTTP, in the control process.
 *
 * Off by default ([control] metrics_listen empty). When on, it listens
 * on a loopback address, or on another one only with metrics_allow (the
 * config refuses it without), and answers "GET /metrics" with the same
 * numbers as `moat stats`, in text format 0.0.4; another path gets 404,
 * another method 405. One request per connection, then close. The HTTP
 * itself (request line, headers, timeouts) is libevent's evhttp; a scrape
 * waits, its request held, until control has merged the stats.
 *
 * Public: control_http_new, control_http_free, control_http_answer,
 * control_http_render, control_http_parse_listen, control_http_bind.
 *
 * SECURITY: a client outside metrics_allow (when set) gets 403 and
 * nothing else. The request is parsed by
 * evhttp within HTTP_HEAD_MAX bytes of header and of body (400 or 413
 * beyond; a request evhttp cannot parse gets 400, a method it does not
 * know 501); only the method and the path are looked at, compared with
 * constants; nothing of the request reaches a format string, a path or
 * a query. Metric names and label values come from our own tables.
 * LIMITS: HTTP_HEAD_MAX bytes of request header and of body,
 * HTTP_SCRAPES_MAX scrapes waiting for the stats at once (503 beyond),
 * HTTP_TIMEOUT_SECS per read or write: an idle connection is closed
 * then. libevent 2.1's evhttp has no cap on the number of connections.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "control/control_http.h"
#include "ctl/ctl_msg.h"
#include "lib/cidr.h"
#include "lib/log.h"

#define HTTP_HEAD_MAX		8192
#define HTTP_SCRAPES_MAX	32
#define HTTP_TIMEOUT_SECS	10

/* A scrape waiting for the stats; owned by its control_http until
 * control_http_answer. */
struct control_http_conn {
	struct control_http	*h;
	struct evhttp_request	*req;	/* evhttp's; answered exactly once */
};

/* Owned by the control process. */
struct control_http {
	struct evhttp		*http;	/* the listener is its bound socket */
	struct cidr		*allow;	/* owned; NULL: every client */
	size_t			 nallow;
	control_http_stats_cb	 cb;
	void			*arg;
	size_t			 waiting;
	int64_t			 denied;	/* 403s, for the log */
};

/* control_http_parse_listen - "ADDR:PORT" on loopback */
int
control_http_parse_listen(const char *s, char *addr, size_t addrlen, int *port,
    int *loopback)
{
	const char *colon, *a = s;
	size_t alen;
	char *end;
	long p;
	uint8_t bin[16];
	struct cidr lo4, lo6;
	const char *why;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		a = s + 1;
		alen = (size_t)(rb - a);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		alen = (size_t)(colon - s);
	}
	if (alen == 0 || alen >= addrlen)
		return -1;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	if (cidr_addr_parse(addr, bin) == -1)
		return -1;
	if (cidr_parse("127.0.0.0/8", &lo4, &why) == -1 ||
	    cidr_parse("::1/128", &lo6, &why) == -1)
		return -1;
	*loopback = cidr_contains(&lo4, bin) || cidr_contains(&lo6, bin);
	return 0;
}

/* may this scrape's client have an answer? */
static int
http_client_allowed(const struct control_http *h, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa;
	uint8_t bin[16];

	if (h->nallow == 0)
		return 1;
	if (conn == NULL || (sa = evhttp_connection_get_addr(conn)) == NULL ||
	    cidr_addr_from_sa(sa, bin) == -1)
		return 0;
	for (size_t i = 0; i < h->nallow; i++)
		if (cidr_contains(&h->allow[i], bin))
			return 1;
	return 0;
}

/* answer req with status and body (NULL: none), then close */
static void
http_reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_add_header(hdr, "Content-Type", ctype);
	evhttp_add_header(hdr, "Connection", "close");
	evhttp_send_reply(req, code, reason, body);
}

static void
http_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatal("%s: evbuffer_new", __func__);
	evbuffer_add_printf(b, "%s\n", text);
	http_reply(req, code, reason, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

/* every request evhttp parsed: only GET /metrics waits for the stats */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct control_http *h = arg;
	struct control_http_conn *c;

	if (!http_client_allowed(h, req)) {
		h->denied++;
		http_text(req, 403, "Forbidden", "not in metrics_allow");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		http_text(req, 405, "Method Not Allowed", "only GET");
		return;
	}
	if (strcmp(evhttp_request_get_uri(req), "/metrics") != 0) {
		http_text(req, 404, "Not Found", "try /metrics");
		return;
	}
	if (h->waiting >= HTTP_SCRAPES_MAX ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		http_text(req, 503, "Service Unavailable", "too many scrapes");
		return;
	}
	c->h = h;
	c->req = req;
	h->waiting++;
	h->cb(c, h->arg);
}

/* control_http_bind - a listener on "ADDR:PORT" for evhttp */
struct evconnlistener *
control_http_bind(struct event_base *base, const char *knob,
    const char *listen, char *err, size_t errlen)
{
	struct evconnlistener *evl;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char addr[64];
	int port, loopback;

	memset(&ss, 0, sizeof(ss));
	if (control_http_parse_listen(listen, addr, sizeof(addr), &port,
	    &loopback) == -1) {
		snprintf(err, errlen, "%s: not ADDR:PORT", knob);
		return NULL;
	}
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		sslen = sizeof(*s4);
	}
	/* evhttp_bind_listener sets the callback */
	evl = evconnlistener_new_bind(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 64,
	    (struct sockaddr *)&ss, (int)sslen);
	if (evl == NULL)
		snprintf(err, errlen, "%s %s: %s", knob, listen,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	return evl;
}

/* control_http_new - listen for scrapes */
struct control_http *
control_http_new(struct event_base *base, const char *listen,
    const struct cidr *allow, size_t nallow, control_http_stats_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct control_http *h;
	struct evconnlistener *evl;

	if ((evl = control_http_bind(base, "metrics_listen", listen, err,
	    errlen)) == NULL)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->http = evhttp_new(base)) == NULL)
		fatal("%s: evhttp_new", __func__);
	if (nallow > 0) {
		if ((h->allow = calloc(nallow, sizeof(*allow))) == NULL)
			fatal("%s: calloc", __func__);
		memcpy(h->allow, allow, nallow * sizeof(*allow));
		h->nallow = nallow;
	}
	h->cb = cb;
	h->arg = arg;
	/* every method reaches http_request_cb, which answers 405 */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(h->http, HTTP_HEAD_MAX);
	evhttp_set_max_body_size(h->http, HTTP_HEAD_MAX);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT_SECS);
	evhttp_set_gencb(h->http, http_request_cb, h);
	if (evhttp_bind_listener(h->http, evl) == NULL)
		fatal("%s: evhttp_bind_listener", __func__);
	return h;
}

/*
 * control_http_free - close the listener and every connection; the
 * scrapes still waiting are answered first (control does that)
 */
void
control_http_free(struct control_http *h)
{
	if (h == NULL)
		return;
	evhttp_free(h->http);
	free(h->allow);
	free(h);
}

/*
 * The metric families, by the Prometheus naming conventions: units in
 * the name (_seconds, _bytes), _total only on counters, labels rather
 * than name suffixes. A name the table does not know is left out of
 * /metrics (it still shows in `moat stats`), so every family published
 * has its TYPE and HELP from here.
 */
enum metric_type { M_GAUGE, M_COUNTER, M_HISTOGRAM };

static const struct metric_family {
	const char		*name;
	enum metric_type	 type;
	const char		*help;
} families[] = {
	{ "build_info", M_GAUGE, "Always 1; the version in a label." },
	{ "uptime_seconds", M_GAUGE, "Seconds since the control process started." },
	{ "sessions", M_GAUGE, "SMTP sessions open now, by listener." },
	{ "sessions_started_total", M_COUNTER, "SMTP sessions accepted since start, by listener." },
	{ "sessions_authenticated", M_GAUGE, "Open SMTP sessions that authenticated." },
	{ "sessions_tls", M_GAUGE, "Open SMTP sessions using TLS." },
	{ "rejections_total", M_COUNTER, "SMTP refusals since start, by reason." },
	{ "auth_attempts_total", M_COUNTER, "AUTH attempts since start, by result." },
	{ "rdns_lookups_total", M_COUNTER, "Reverse DNS lookups of clients since start, by source." },
	{ "messages_in_total", M_COUNTER, "Messages accepted into the queue since start." },
	{ "messages_out_total", M_COUNTER, "Delivery outcomes per recipient since start." },
	{ "delivery_latency_seconds", M_HISTOGRAM, "Arrival to delivery per recipient delivered, since start (arrival in whole seconds)." },
	{ "queue_messages", M_GAUGE, "Messages in the queue." },
	{ "queue_bytes", M_GAUGE, "Bytes of the messages in the queue." },
	{ "queue_recipients", M_GAUGE, "Recipients in the queue, by state." },
	{ "queue_oldest_message_age_seconds", M_GAUGE, "Age of the oldest message in the queue; 0 when it is empty." },
	{ "deadletter_messages", M_GAUGE, "Messages in the dead-letter store." },
	{ "events_total", M_COUNTER, "Security events stored since start, by type." },
	{ "bans", M_GAUGE, "Dynamic bans in force (queue database)." },
	{ "bans_enforced", M_GAUGE, "Dynamic bans enforced at accept (smtp)." },
	{ "users", M_GAUGE, "Accounts held or suspended, by state." },
	{ "users_auth_refused", M_GAUGE, "Accounts whose AUTH smtp refuses now (held or suspended: what it enforces, as bans_enforced is for bans)." },
	{ "dnsbl_listed", M_GAUGE, "1 while an own address is listed on a DNS blacklist, by address and list (blacklist_watch)." },
	{ "dnsbl_checks_total", M_COUNTER, "Blacklist lookups of the own addresses since start, by list." },
	{ "dnsbl_errors_total", M_COUNTER, "Blacklist lookups that failed (no answer, SERVFAIL, refused) since start, by list." },
	{ "control_connections_total", M_COUNTER, "Control socket connections since start, by result." },
	{ "control_requests_total", M_COUNTER, "Control requests since start, by result." },
	{ "login_messages_total", M_COUNTER, "Messages stored per authenticated user since start (login_metrics_max users; the rest login=\"other\")." },
	{ "login_recipients_total", M_COUNTER, "Recipients of the messages stored per authenticated user since start." },
	{ "login_auth_failures_total", M_COUNTER, "AUTH failures per user since start; names that never logged in count as login=\"unknown\"." },
	{ "relay_client_messages_total", M_COUNTER, "Messages stored per relay client (relay_networks, no AUTH) since start (the rest client=\"other\")." },
	{ "relay_client_recipients_total", M_COUNTER, "Recipients of the messages stored per relay client since start." },
	{ "relay_client_auth_failures_total", M_COUNTER, "AUTH failures from each relay client since start." },
};

static const char *const histogram_parts[] = { "_bucket", "_sum", "_count" };

/* the family a sample's name belongs to; NULL: not published */
static const struct metric_family *
family_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		const struct metric_family *f = &families[k];
		size_t fl = strlen(f->name);

		if (f->type != M_HISTOGRAM) {
			if (strcmp(f->name, name) == 0)
				return f;
			continue;
		}
		if (n <= fl || strncmp(name, f->name, fl) != 0)
			continue;
		for (size_t i = 0; i < 3; i++)
			if (strcmp(name + fl, histogram_parts[i]) == 0)
				return f;
	}
	return NULL;
}

static void
render_sample(struct evbuffer *out, const struct ctl_cell *x)
{
	if (x[1].s && x[1].s[0])
		evbuffer_add_printf(out, "moat_%s{%s} %lld\n", x[0].s, x[1].s,
		    (long long)x[2].i);
	else
		evbuffer_add_printf(out, "moat_%s %lld\n", x[0].s,
		    (long long)x[2].i);
}

/*
 * control_http_render - Prometheus text of the stats table: each family
 * once, HELP and TYPE first, then all of its samples, wherever they were
 * in the table (a histogram's buckets, then its sum and count).
 */
int
control_http_render(const struct ctl_answer *a, struct evbuffer *out)
{
	static const char *const type_names[] = { "gauge", "counter",
	    "histogram" };
	const struct ctl_table *t = ctl_table_find(a, "stats");

	if (t == NULL || t->ncols != 3)
		return -1;
	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		const struct metric_family *f = &families[k];
		int seen = 0;

		for (size_t j = 0; j < t->nrows; j++) {
			const struct ctl_cell *x = &t->cells[j * 3];

			if (x[0].s == NULL || family_of(x[0].s) != f)
				continue;
			if (!seen++) {
				evbuffer_add_printf(out, "# HELP moat_%s %s\n",
				    f->name, f->help);
				evbuffer_add_printf(out, "# TYPE moat_%s %s\n",
				    f->name, type_names[f->type]);
			}
			if (f->type != M_HISTOGRAM)
				render_sample(out, x);
		}
		/* the text format wants a histogram's parts in order */
		for (size_t i = 0; f->type == M_HISTOGRAM && i < 3; i++)
			for (size_t j = 0; j < t->nrows; j++) {
				const struct ctl_cell *x = &t->cells[j * 3];
				size_t fl = strlen(f->name);

				if (x[0].s != NULL && strncmp(x[0].s, f->name,
				    fl) == 0 && strcmp(x[0].s + fl,
				    histogram_parts[i]) == 0)
					render_sample(out, x);
			}
	}
	return 0;
}

/* control_http_answer - the scrape's answer; c is freed */
void
control_http_answer(struct control_http_conn *c, const struct ctl_answer *stats)
{
	struct evbuffer *b;

	/* a scrape whose client left is answered too: evhttp then frees
	 * the request, which it kept for us */
	c->h->waiting--;
	if ((b = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	if (stats == NULL || control_http_render(stats, b) == -1)
		http_text(c->req, 503, "Service Unavailable",
		    "stats unavailable");
	else
		http_reply(c->req, 200, "OK",
		    "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
	free(c);
}
