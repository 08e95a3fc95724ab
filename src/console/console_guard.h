/*
 * console_guard.h - the web console's connections: at most max open at
 * once, and a deadline for each request to arrive whole.
 */
#ifndef MOAT_CONSOLE_GUARD_H
#define MOAT_CONSOLE_GUARD_H

#include <stddef.h>

struct bufferevent;
struct event_base;
struct evhttp_request;
struct ssl_ctx_st;
struct console_guard;

/*
 * console_guard_new - max connections open at once, timeout seconds for
 * a request; tls (not owned; NULL: plain HTTP) makes each connection's
 * TLS
 */
struct console_guard *console_guard_new(struct ssl_ctx_st *tls, int max,
    int timeout);

/*
 * console_guard_free - free the guard (after evhttp_free, which closes
 * the connections)
 */
void console_guard_free(struct console_guard *g);

/* console_guard_bev_cb - evhttp_set_bevcb's callback; arg is the guard */
struct bufferevent *console_guard_bev_cb(struct event_base *base, void *arg);

/*
 * console_guard_hold - the console holds req (answered later): its
 * connection's deadline stops
 * console_guard_answered - req is answered now: the deadline starts again,
 * for writing the answer and for the next request
 */
void console_guard_hold(struct console_guard *g, struct evhttp_request *req);
void console_guard_answered(struct console_guard *g,
    struct evhttp_request *req);

#endif
