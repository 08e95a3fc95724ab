/*
 * console.h - the web console: an HTTP server in the control process
 * that serves the console's pages (built into the binary) and a JSON
 * API over the control operations (console_api.c's allow-table), for
 * administrators logged in with a console_users password.
 */
#ifndef MOAT_CONSOLE_H
#define MOAT_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl_msg.h"

struct event_base;
struct conf;
struct console;
struct console_conn;

/* what the console needs from the control process */
struct console_hooks {
	/*
	 * check user's password (passlen bytes, wiped by the console
	 * after the call returns) through the auth process; answer with
	 * console_login_done. pass NULL (passlen 0): no password, the
	 * client's certificate, verified in the TLS handshake, names user
	 * (console_tls.c); auth checks only that console_users has user.
	 */
	void	(*login)(void *arg, struct console_conn *c, const char *user,
		    const uint8_t *pass, size_t passlen, const char *ip);
	/*
	 * run q (checked by ctl_req_decode; q->admin is "console:LOGIN")
	 * as the control socket runs a request; answer with
	 * console_api_done
	 */
	void	(*request)(void *arg, struct console_conn *c,
		    struct ctl_req *q);
	/* record a security event */
	void	(*event_fn)(void *arg, const char *type, const char *ip,
		    const char *user, const char *detail);
};

/*
 * console_new - listen on c->console_listen ("ADDR:PORT"): HTTPS with
 * tls (console_tls.c; the console owns it), else plain HTTP (loopback,
 * config.c). NULL with a reason in err.
 */
struct ssl_ctx_st;
struct console *console_new(struct event_base *base, const struct conf *c,
    struct ssl_ctx_st *tls, const struct console_hooks *hooks, void *arg, char *err, size_t errlen);
void console_free(struct console *);

/* console_login_done - auth's verdict (PROTO_AUTH_*) for c's login */
void console_login_done(struct console_conn *c, int result);

/*
 * console_api_done - the answer (a ctl_msg.h answer payload, NULL: the
 * operation could not run) of c's request, sent as JSON; c is freed
 */
void console_api_done(struct console_conn *c, const uint8_t *ans,
    size_t len);

#endif
