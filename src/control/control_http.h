/*
 * control_http.h - the Prometheus metrics listener of the control
 * process: GET /metrics on a loopback address, off by default.
 */
#ifndef MOAT_CONTROL_HTTP_H
#define MOAT_CONTROL_HTTP_H

#include <stddef.h>

struct ctl_answer;
struct event_base;
struct evbuffer;
struct control_http;
struct control_http_conn;

/* called once per scrape; answer it with control_http_answer */
typedef void (*control_http_stats_cb)(struct control_http_conn *, void *arg);

/*
 * control_http_new - listen on "ADDR:PORT" or "[ADDR]:PORT"; when
 * nallow > 0 only clients in allow (copied) get an answer, the others
 * 403. Returns NULL with a reason in err.
 */
struct cidr;
struct control_http *control_http_new(struct event_base *base,
    const char *listen, const struct cidr *allow, size_t nallow,
    control_http_stats_cb cb, void *arg, char *err, size_t errlen);
void control_http_free(struct control_http *h);

/* control_http_answer - send the stats (NULL: 503) and close */
void control_http_answer(struct control_http_conn *c,
    const struct ctl_answer *stats);

/*
 * control_http_render - the "stats" table of a as Prometheus text
 * format 0.0.4 (every value a gauge named moat_NAME). 0 or -1.
 */
int control_http_render(const struct ctl_answer *a, struct evbuffer *out);

/*
 * control_http_parse_listen - "127.0.0.1:9100", "[::1]:9100" into a
 * numeric address and a port, and whether it is loopback; -1 when
 * malformed.
 */
int control_http_parse_listen(const char *s, char *addr, size_t addrlen,
    int *port, int *loopback);

/*
 * control_http_bind - a listening socket on "ADDR:PORT" (checked by the
 * configuration) for evhttp_bind_listener; NULL with "KNOB ...: why"
 */
struct evconnlistener;
struct evconnlistener *control_http_bind(struct event_base *base,
    const char *knob, const char *listen, char *err, size_t errlen);

#endif
