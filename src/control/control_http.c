/*
 * control_http.c - Prometheus metrics over HTTP, in the control process.
 *
 * Off by default ([control] metrics_listen empty). When on, it listens
 * on a loopback address only and answers "GET /metrics" with the same
 * numbers as `moat stats`, in text format 0.0.4; anything else gets
 * 404 or 405. One request per connection, then close.
 *
 * Public: control_http_new, control_http_free, control_http_answer,
 * control_http_render, control_http_parse_listen.
 *
 * SECURITY: the request comes from any local process; only its first
 * line is looked at, after the whole header (at most HTTP_HEAD_MAX
 * bytes) arrived; nothing in it reaches a format string, a path or a
 * query. Metric names and label values come from our own tables.
 * LIMITS: HTTP_HEAD_MAX bytes of request, HTTP_CONNS_MAX connections,
 * HTTP_TIMEOUT_SECS per connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "control/control_http.h"
#include "ctl/ctl_msg.h"
#include "lib/cidr.h"
#include "lib/log.h"

#define HTTP_HEAD_MAX		8192
#define HTTP_CONNS_MAX		32
#define HTTP_TIMEOUT_SECS	10

struct control_http_conn {
	TAILQ_ENTRY(control_http_conn) entry;
	struct control_http	*h;
	struct bufferevent	*bev;		/* owned */
	int			 waiting;	/* for the stats */
	int			 gone;		/* peer closed while waiting */
	int			 closing;
};

/* Owned by the control process. */
struct control_http {
	struct evconnlistener	*evl;
	struct event_base	*base;
	control_http_stats_cb	 cb;
	void			*arg;
	TAILQ_HEAD(, control_http_conn) conns;
	size_t			 nconns;
};

/* control_http_parse_listen - "ADDR:PORT" on loopback */
int
control_http_parse_listen(const char *s, char *addr, size_t addrlen, int *port)
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
	if (!cidr_contains(&lo4, bin) && !cidr_contains(&lo6, bin))
		return -1;
	return 0;
}

static void
conn_free(struct control_http_conn *c)
{
	TAILQ_REMOVE(&c->h->conns, c, entry);
	c->h->nconns--;
	bufferevent_free(c->bev);
	free(c);
}

static void
conn_close_after(struct control_http_conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
conn_reply(struct control_http_conn *c, const char *status,
    const char *ctype, struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, ctype,
	    body ? evbuffer_get_length(body) : 0);
	if (body)
		evbuffer_add_buffer(out, body);
	conn_close_after(c);
}

static void
conn_text(struct control_http_conn *c, const char *status, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatal("%s: evbuffer_new", __func__);
	evbuffer_add_printf(b, "%s\n", text);
	conn_reply(c, status, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char line[256];
	size_t n;

	if (c->waiting || c->closing)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > HTTP_HEAD_MAX)
			conn_text(c, "431 Request Header Fields Too Large",
			    "request too large");
		return;
	}
	n = evbuffer_copyout(in, line, sizeof(line) - 1);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	evbuffer_drain(in, evbuffer_get_length(in));
	if (strncmp(line, "GET ", 4) != 0) {
		conn_text(c, "405 Method Not Allowed", "only GET");
		return;
	}
	if (strcmp(line, "GET /metrics HTTP/1.1") != 0 &&
	    strcmp(line, "GET /metrics HTTP/1.0") != 0) {
		conn_text(c, "404 Not Found", "try /metrics");
		return;
	}
	c->waiting = 1;
	bufferevent_disable(bev, EV_READ);
	c->h->cb(c, c->h->arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_http_conn *c = arg;

	if (c->closing)
		conn_free(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_http_conn *c = arg;

	if (c->waiting) {
		c->gone = 1;	/* freed when its stats arrive */
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	conn_free(c);
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct control_http *h = arg;
	struct control_http_conn *c;
	struct timeval tv = { HTTP_TIMEOUT_SECS, 0 };

	if (h->nconns >= HTTP_CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if ((c->bev = bufferevent_socket_new(h->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->h = h;
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->nconns++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* control_http_new - listen for scrapes */
struct control_http *
control_http_new(struct event_base *base, const char *listen, 
    control_http_stats_cb cb, void *arg, char *err, size_t errlen)
{
	struct control_http *h;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char addr[64];
	int port;

	memset(&ss, 0, sizeof(ss));
	if (control_http_parse_listen(listen, addr, sizeof(addr), &port) == -1) {
		snprintf(err, errlen, "metrics_listen: not ADDR:PORT on loopback");
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
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("%s: calloc", __func__);
	h->base = base;
	h->cb = cb;
	h->arg = arg;
	TAILQ_INIT(&h->conns);
	h->evl = evconnlistener_new_bind(base, accept_cb, h,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    64, (struct sockaddr *)&ss, (int)sslen);
	if (h->evl == NULL) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		free(h);
		return NULL;
	}
	return h;
}

/* control_http_free - close the listener and every connection */
void
control_http_free(struct control_http *h)
{
	struct control_http_conn *c;

	if (h == NULL)
		return;
	while ((c = TAILQ_FIRST(&h->conns)) != NULL)
		conn_free(c);
	evconnlistener_free(h->evl);
	free(h);
}

/* What each metric means: the HELP line. Unknown names get a generic one. */
static const struct {
	const char	*name;
	const char	*help;
} metric_help[] = {
	{ "uptime_seconds", "Seconds since the control process started." },
	{ "sessions", "SMTP sessions open now." },
	{ "sessions_total", "SMTP sessions accepted since start." },
	{ "sessions_by_listener", "SMTP sessions open now, by listener." },
	{ "sessions_authenticated", "Open SMTP sessions that authenticated." },
	{ "sessions_tls", "Open SMTP sessions using TLS." },
	{ "rejections_total", "SMTP refusals since start, by reason." },
	{ "auth_total", "AUTH attempts since start, by result." },
	{ "rdns_lookups_total", "Reverse DNS lookups of clients since start." },
	{ "messages_in_total", "Messages accepted into the queue since start." },
	{ "messages_out_total", "Delivery outcomes per recipient since start." },
	{ "queue_messages", "Messages in the queue." },
	{ "queue_bytes", "Bytes of the messages in the queue." },
	{ "queue_recipients", "Recipients in the queue, by state." },
	{ "deadletters", "Messages in the dead-letter store." },
	{ "events_24h", "Security events of the last 24 hours, by type." },
	{ "bans", "Dynamic bans in force (queue database)." },
	{ "bans_enforced", "Dynamic bans enforced at accept (smtp)." },
	{ "users", "Accounts held or suspended." },
	{ "users_suspended", "Accounts whose AUTH is refused (smtp)." },
	{ "control_connections_total", "Control socket connections since start." },
	{ "control_requests_total", "Control requests since start." },
	{ "control_denied_total", "Control connections refused since start." },
	{ "control_bad_requests_total", "Malformed control requests since start." },
};

static int
metric_name_ok(const char *name)
{
	return name[0] != '\0' && strspn(name,
	    "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name);
}

/*
 * control_http_render - Prometheus text of the stats table: each family
 * once, HELP and TYPE first (counter for *_total, else gauge), then all
 * of its samples, wherever they were in the table.
 */
int
control_http_render(const struct ctl_answer *a, struct evbuffer *out)
{
	const struct ctl_table *t = ctl_table_find(a, "stats");

	if (t == NULL || t->ncols != 3)
		return -1;
	for (size_t r = 0; r < t->nrows; r++) {
		const char *name = t->cells[r * 3].s ? t->cells[r * 3].s : "";
		const char *help = NULL;
		size_t len = strlen(name), k;

		if (!metric_name_ok(name))
			continue;
		for (k = 0; k < r; k++)
			if (t->cells[k * 3].s && strcmp(t->cells[k * 3].s, name) == 0)
				break;
		if (k < r)
			continue;	/* this family was written already */
		for (k = 0; k < sizeof(metric_help) / sizeof(metric_help[0]); k++)
			if (strcmp(metric_help[k].name, name) == 0)
				help = metric_help[k].help;
		if (help != NULL)
			evbuffer_add_printf(out, "# HELP moat_%s %s\n", name, help);
		else
			evbuffer_add_printf(out, "# HELP moat_%s moat %s.\n", name,
			    name);
		evbuffer_add_printf(out, "# TYPE moat_%s %s\n", name,
		    len > 6 && strcmp(name + len - 6, "_total") == 0 ?
		    "counter" : "gauge");
		for (size_t j = r; j < t->nrows; j++) {
			const struct ctl_cell *x = &t->cells[j * 3];

			if (x[0].s == NULL || strcmp(x[0].s, name) != 0)
				continue;
			if (x[1].s && x[1].s[0])
				evbuffer_add_printf(out, "moat_%s{%s} %lld\n", name,
				    x[1].s, (long long)x[2].i);
			else
				evbuffer_add_printf(out, "moat_%s %lld\n", name,
				    (long long)x[2].i);
		}
	}
	return 0;
}

/* control_http_answer - the scrape's answer */
void
control_http_answer(struct control_http_conn *c, const struct ctl_answer *stats)
{
	struct evbuffer *b;

	c->waiting = 0;
	if (c->gone) {
		conn_free(c);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	if (stats == NULL || control_http_render(stats, b) == -1) {
		evbuffer_free(b);
		conn_text(c, "503 Service Unavailable", "stats unavailable");
		return;
	}
	conn_reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}
