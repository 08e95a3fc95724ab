/*
 * console_http.c - the web console's HTTP server, in the control process.
 *
 * Public: console_new, console_free, console_login_done,
 * console_api_done.
 *
 * Off by default ([console] console_listen empty). It serves:
 *   GET /, /index.html, /app.js, ...   the console's files, built into
 *                                      the binary (console_assets.h)
 *   GET  /api/session                  who is logged in, the CSRF token
 *   POST /api/login                    user=&password= (form); the
 *                                      password is checked by the auth
 *                                      process against console_users;
 *                                      or certificate=1: the login the
 *                                      client certificate names
 *                                      (console_tls.c), no password
 *   POST /api/logout
 *   GET|POST /api/OP                   the control operation OP (an
 *                                      operation that changes state:
 *                                      POST only), answered with the
 *                                      JSON `moat ... --json` prints
 * Requests go to the control process's own dispatch (console_hooks),
 * as the control socket's do; the console grants nothing the socket
 * does not, and only the operations of console_api.c's allow-table.
 *
 * SECURITY: without console_tls_cert the listener is loopback only (the
 * configuration refuses another address: plain HTTP). With it, only
 * HTTPS is spoken (evhttp over bufferevent_openssl; the key is in the
 * ca process), the cookie is Secure and every answer carries HSTS.
 * Every page and API call but the files
 * and login needs a session cookie (HttpOnly, SameSite=Strict, random,
 * console_session.c); every POST needs the header X-CSRF-Token equal to
 * the session's token (403 otherwise: a cross-site form cannot set a
 * header), the login POST a non-empty one. GET never changes anything.
 * A request whose Host is not the listener's address, localhost or a
 * name of console_hostnames gets 421 and nothing else (console_host.c:
 * DNS rebinding). Failed logins are events (console_login_fail) and
 * limited per client network (console_login_limit in 15 minutes, logins
 * waiting for auth included: refused without a check). The
 * password is handed to auth and wiped here; it is never logged. Every
 * answer carries a Content-Security-Policy without inline script,
 * X-Frame-Options DENY and nosniff; API answers are no-store. Request
 * parsing is evhttp's within CONSOLE_HEAD_MAX bytes of header and body;
 * values reach the log only through log_escape.
 * LIMITS: CONSOLE_HEAD_MAX bytes of header, of body; CONSOLE_WAITING_MAX
 * requests waiting for an answer at once (503 beyond);
 * console_max_connections open at once and console_request_timeout for
 * a whole request (console_guard.c); CONSOLE_TIMEOUT_SECS per read or
 * write besides.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sodium.h>

#include "console/console.h"
#include "console/console_api.h"
#include "console/console_assets.h"
#include "console/console_guard.h"
#include "console/console_host.h"
#include "console/console_session.h"
#include "console/console_tls.h"
#include "control/control_http.h"
#include "ctl/ctl_json.h"
#include "daemon/config.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/json.h"
#include "lib/log.h"

#define CONSOLE_HEAD_MAX	8192
#define CONSOLE_WAITING_MAX	64
#define CONSOLE_TIMEOUT_SECS	30
#define CONSOLE_COOKIE		"moat_console"

#define CONSOLE_CSP	"default-src 'self'; script-src 'self'; " \
	"style-src 'self'; img-src 'self'; connect-src 'self'; " \
	"object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'"

struct console {
	struct event_base	*base;		/* not owned */
	struct evhttp		*http;
	SSL_CTX			*tls;		/* owned; NULL: plain HTTP */
	struct console_guard	*guard;		/* the connections */
	char			 addr[64];	/* console_listen's address */
	char			**hostnames;	/* the conf's, not owned */
	size_t			 nhostnames;
	struct console_hooks	 hooks;
	void			*arg;
	struct console_sessions	 sessions;
	size_t			 waiting;
};

/* One request waiting for auth or for an operation's answer. */
struct console_conn {
	struct console		*con;
	struct evhttp_request	*req;	/* evhttp's; answered exactly once */
	char			 ip[INET6_ADDRSTRLEN];
	uint8_t			 addr[16];
	char			 user[CONSOLE_LOGIN_MAX];	/* login */
	int			 by_cert;	/* a client certificate's login */
};

/* every answer goes here: the connection's deadline starts again */
static void
send_reply(struct console *con, struct evhttp_request *req, int code,
    const char *reason, struct evbuffer *b)
{
	console_guard_answered(con->guard, req);
	evhttp_send_reply(req, code, reason, b);
}

static void
add_headers(struct evhttp_request *req, const char *ctype, int nostore)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Content-Security-Policy", CONSOLE_CSP);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cache-Control", nostore ? "no-store" :
	    "no-cache");
}

/* a JSON answer {"status":st,"message":msg} with HTTP code */
static void
reply_json_msg(struct console *con, struct evhttp_request *req, int code,
    const char *reason, const char *st, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (b == NULL || (fp = open_memstream(&text, &len)) == NULL)
		fatal("%s: out of memory", __func__);
	fprintf(fp, "{\"status\":\"%s\",\"message\":", st);
	json_write_str(fp, msg);
	fputs("}\n", fp);
	fclose(fp);
	evbuffer_add(b, text, len);
	free(text);
	add_headers(req, "application/json", 1);
	send_reply(con, req, code, reason, b);
	evbuffer_free(b);
}

static struct console_session *
session_of(struct console *con, struct evhttp_request *req)
{
	char v[CONSOLE_TOKEN_LEN + 2];

	return console_session_find(&con->sessions, console_cookie_value(
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie"),
	    CONSOLE_COOKIE, v, sizeof(v)), time(NULL));
}

static int
csrf_header_ok(struct evhttp_request *req, const struct console_session *s)
{
	return console_csrf_ok(s, evhttp_find_header(
	    evhttp_request_get_input_headers(req), "X-CSRF-Token"));
}

/* the request's body as form parameters into kv; -1 when malformed */
static int
form_parse(struct evhttp_request *req, struct evkeyvalq *kv)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body;
	int rc;

	TAILQ_INIT(kv);
	if ((body = malloc(len + 1)) == NULL)
		return -1;
	evbuffer_remove(in, body, len);
	body[len] = '\0';
	rc = strlen(body) == len ? evhttp_parse_query_str(body, kv) : -1;
	/* the body may hold a password */
	sodium_memzero(body, len);
	free(body);
	return rc;
}

/* wipe every value of kv, then free it */
static void
form_clear(struct evkeyvalq *kv)
{
	struct evkeyval *e;

	TAILQ_FOREACH(e, kv, next)
		sodium_memzero(e->value, strlen(e->value));
	evhttp_clear_headers(kv);
}

static struct console_conn *
conn_new(struct console *con, struct evhttp_request *req)
{
	struct evhttp_connection *ec = evhttp_request_get_connection(req);
	const struct sockaddr *sa;
	struct console_conn *c;

	if (con->waiting >= CONSOLE_WAITING_MAX ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->con = con;
	c->req = req;
	if (ec != NULL && (sa = evhttp_connection_get_addr(ec)) != NULL &&
	    cidr_addr_from_sa(sa, c->addr) == 0) {
		if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    sa)->sin6_addr, c->ip, sizeof(c->ip));
		else
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    sa)->sin_addr, c->ip, sizeof(c->ip));
	}
	con->waiting++;
	return c;
}

static void
conn_free(struct console_conn *c)
{
	c->con->waiting--;
	sodium_memzero(c, sizeof(*c));
	free(c);
}

/* the TLS connection of req, NULL: plain HTTP */
static SSL *
req_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *ec = evhttp_request_get_connection(req);
	struct bufferevent *bev;

	if (ec == NULL || (bev = evhttp_connection_get_bufferevent(ec)) ==
	    NULL)
		return NULL;
	return bufferevent_openssl_get_ssl(bev);
}

/* POST /api/login */
static void
do_login(struct console *con, struct evhttp_request *req)
{
	struct evkeyvalq kv;
	struct console_conn *c;
	const char *user, *pass, *token, *cert;
	char esc[CONSOLE_LOGIN_MAX * 4], certuser[CONSOLE_LOGIN_MAX];

	token = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-CSRF-Token");
	if (token == NULL || token[0] == '\0') {
		reply_json_msg(con, req, 403, "Forbidden", "denied",
		    "X-CSRF-Token header missing");
		return;
	}
	if (form_parse(req, &kv) == -1) {
		reply_json_msg(con, req, 400, "Bad Request", "bad_request",
		    "malformed form");
		return;
	}
	user = evhttp_find_header(&kv, "user");
	pass = evhttp_find_header(&kv, "password");
	cert = evhttp_find_header(&kv, "certificate");
	if (cert != NULL && strcmp(cert, "1") == 0) {
		if (console_tls_login(req_ssl(req), certuser,
		    sizeof(certuser)) == -1) {
			form_clear(&kv);
			reply_json_msg(con, req, 401, "Unauthorized", "denied",
			    "no verified client certificate naming a login");
			return;
		}
		user = certuser;
		pass = NULL;
	} else if (user == NULL || pass == NULL || user[0] == '\0' ||
	    strlen(user) >= CONSOLE_LOGIN_MAX) {
		form_clear(&kv);
		reply_json_msg(con, req, 400, "Bad Request", "bad_request",
		    "user and password wanted");
		return;
	}
	if ((c = conn_new(con, req)) == NULL) {
		form_clear(&kv);
		reply_json_msg(con, req, 503, "Service Unavailable", "failed",
		    "too many requests");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->by_cert = pass == NULL;
	if (!console_login_begin(&con->sessions, c->addr, time(NULL))) {
		log_warn(LOG_CAT_CONTROL, "event=console_login_limited "
		    "client=%s user=\"%s\"", c->ip, log_escape(esc, sizeof(esc),
		    user, strlen(user)));
		con->hooks.event_fn(con->arg, "console_login_fail", c->ip, c->user,
		    "reason=limit");
		form_clear(&kv);
		reply_json_msg(con, req, 429, "Too Many Requests", "denied",
		    "too many failed logins from this address; try later");
		conn_free(c);
		return;
	}
	/* counted as pending until console_login_done: parallel guesses */
	con->hooks.login(con->arg, c, c->user, (const uint8_t *)pass,
	    pass != NULL ? strlen(pass) : 0, c->ip);
	form_clear(&kv);
}

/* the session as JSON: login and CSRF token */
static void
reply_session(struct console *con, struct evhttp_request *req,
    const struct console_session *s, int set_cookie, int secure)
{
	struct evbuffer *b = evbuffer_new();
	char cookie[128], *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (b == NULL || (fp = open_memstream(&text, &len)) == NULL)
		fatal("%s: out of memory", __func__);
	fputs("{\"status\":\"ok\",\"message\":\"\",\"login\":", fp);
	json_write_str(fp, s->login);
	fputs(",\"csrf\":", fp);
	json_write_str(fp, s->csrf);
	fputs("}\n", fp);
	fclose(fp);
	evbuffer_add(b, text, len);
	free(text);
	add_headers(req, "application/json", 1);
	if (set_cookie) {
		snprintf(cookie, sizeof(cookie), CONSOLE_COOKIE "=%s; Path=/; "
		    "HttpOnly; SameSite=Strict%s", s->id, secure ?
		    "; Secure" : "");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Set-Cookie", cookie);
	}
	send_reply(con, req, 200, "OK", b);
	evbuffer_free(b);
}

/* console_login_done - auth answered */
void
console_login_done(struct console_conn *c, int result)
{
	struct console *con = c->con;
	struct console_session *s;
	char esc[CONSOLE_LOGIN_MAX * 4], detail[64];
	time_t now = time(NULL);
	int n;

	log_escape(esc, sizeof(esc), c->user, strlen(c->user));
	n = console_login_end(&con->sessions, c->addr, result ==
	    PROTO_AUTH_BAD, now);
	if (result == PROTO_AUTH_OK &&
	    (s = console_session_new(&con->sessions, c->user, now)) != NULL) {
		log_notice(LOG_CAT_CONTROL, "event=console_login client=%s "
		    "user=\"%s\" method=%s", c->ip, esc, c->by_cert ?
		    "certificate" : "password");
		con->hooks.event_fn(con->arg, "console_login", c->ip, c->user,
		    c->by_cert ? "method=certificate" : "");
		reply_session(con, c->req, s, 1, con->tls != NULL);
	} else if (result == PROTO_AUTH_BAD) {
		log_warn(LOG_CAT_CONTROL, "event=console_login_fail client=%s "
		    "user=\"%s\" failures=%d", c->ip, esc, n);
		snprintf(detail, sizeof(detail), "failures=%d", n);
		con->hooks.event_fn(con->arg, "console_login_fail", c->ip,
		    c->user, detail);
		reply_json_msg(c->con, c->req, 401, "Unauthorized", "denied",
		    "wrong login or password");
	} else
		reply_json_msg(c->con, c->req, 503, "Service Unavailable", "failed",
		    "the password could not be checked; try again");
	conn_free(c);
}

/* console_api_done - an operation's answer, as the CLI's --json */
void
console_api_done(struct console_conn *c, const uint8_t *ans, size_t len)
{
	struct ctl_answer a;
	struct evbuffer *b;
	char *text = NULL;
	size_t tlen = 0;
	FILE *fp;
	int code = 200;

	if (ans == NULL || ctl_answer_decode(ans, len, &a) == -1) {
		reply_json_msg(c->con, c->req, 503, "Service Unavailable", "failed",
		    "no answer");
		conn_free(c);
		return;
	}
	if ((b = evbuffer_new()) == NULL ||
	    (fp = open_memstream(&text, &tlen)) == NULL)
		fatal("%s: out of memory", __func__);
	ctl_json_write(fp, &a);
	fclose(fp);
	evbuffer_add(b, text, tlen);
	free(text);
	if (a.status == CTL_BAD_REQUEST)
		code = 400;
	else if (a.status == CTL_DENIED)
		code = 403;
	add_headers(c->req, "application/json", 1);
	send_reply(c->con, c->req, code, code == 200 ? "OK" : code == 400 ?
	    "Bad Request" : "Forbidden", b);
	evbuffer_free(b);
	ctl_answer_free(&a);
	conn_free(c);
}

/* /api/NAME for a logged-in session */
static void
do_api(struct console *con, struct evhttp_request *req, const char *name,
    const char *query, struct console_session *s)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct console_conn *c;
	struct evkeyvalq kv;
	struct ctl_req q;
	enum ctl_op op;
	char err[512];
	int changes, rc;

	if ((op = console_api_op(name, &changes)) == CTL_OP_NONE) {
		reply_json_msg(con, req, 404, "Not Found", "bad_request",
		    "no such operation in the console");
		return;
	}
	if (changes && cmd != EVHTTP_REQ_POST) {
		reply_json_msg(con, req, 405, "Method Not Allowed", "bad_request",
		    "this operation changes state: POST with X-CSRF-Token");
		return;
	}
	if (cmd == EVHTTP_REQ_POST) {
		if (query != NULL && query[0] != '\0') {
			reply_json_msg(con, req, 400, "Bad Request", "bad_request",
			    "POST takes its parameters in the body");
			return;
		}
		rc = form_parse(req, &kv);
	} else {
		TAILQ_INIT(&kv);
		rc = query != NULL ? evhttp_parse_query_str(query, &kv) : 0;
	}
	if (rc == -1) {
		evhttp_clear_headers(&kv);
		reply_json_msg(con, req, 400, "Bad Request", "bad_request",
		    "malformed parameters");
		return;
	}
	rc = console_api_req(op, &kv, &q, err, sizeof(err));
	evhttp_clear_headers(&kv);
	if (rc == -1) {
		reply_json_msg(con, req, 400, "Bad Request", "bad_request", err);
		return;
	}
	if ((c = conn_new(con, req)) == NULL) {
		reply_json_msg(con, req, 503, "Service Unavailable", "failed",
		    "too many requests");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", s->login);
	snprintf(q.admin, sizeof(q.admin), "console:%s", s->login);
	con->hooks.request(con->arg, c, &q);
}

/* a file of the console */
static void
do_asset(struct console *con, struct evhttp_request *req, const char *path)
{
	const struct console_asset *a = console_asset_find(path);
	struct evbuffer *b;

	if (a == NULL) {
		reply_json_msg(con, req, 404, "Not Found", "bad_request",
		    "no such page");
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	evbuffer_add_reference(b, a->start, (size_t)(a->end - a->start),
	    NULL, NULL);
	add_headers(req, console_asset_type(a->path), 0);
	send_reply(con, req, 200, "OK", b);
	evbuffer_free(b);
}

/* 1 when req's Host (and the request target's host, if it has one) names
 * the console */
static int
host_ok(struct console *con, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	const char *uhost = uri != NULL ? evhttp_uri_get_host(uri) : NULL;

	if (uhost != NULL && !console_host_ok(uhost, con->addr,
	    con->hostnames, con->nhostnames))
		return 0;
	return console_host_ok(evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Host"), con->addr,
	    con->hostnames, con->nhostnames);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct console *con = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct console_session *s;
	const char *host;
	char esc[CONSOLE_HOST_MAX * 4 + 1];

	console_guard_hold(con->guard, req);
	if (con->tls != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Strict-Transport-Security", "max-age=31536000");
	if (!host_ok(con, req, uri)) {
		host = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "Host");
		log_warn(LOG_CAT_CONTROL, "event=console_host_refused "
		    "host=\"%s\"", host == NULL ? "" : log_escape(esc,
		    sizeof(esc), host, strnlen(host, CONSOLE_HOST_MAX + 1)));
		reply_json_msg(con, req, 421, "Misdirected Request", "denied",
		    "this console does not answer to that Host name");
		return;
	}
	if (path == NULL || path[0] != '/') {
		reply_json_msg(con, req, 400, "Bad Request", "bad_request",
		    "bad path");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST) {
		reply_json_msg(con, req, 405, "Method Not Allowed", "bad_request",
		    "only GET and POST");
		return;
	}
	if (strncmp(path, "/api/", 5) != 0) {
		if (cmd != EVHTTP_REQ_GET) {
			reply_json_msg(con, req, 405, "Method Not Allowed",
			    "bad_request", "only GET");
			return;
		}
		do_asset(con, req, path);
		return;
	}
	if (strcmp(path, "/api/login") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			reply_json_msg(con, req, 405, "Method Not Allowed",
			    "bad_request", "POST user= and password=");
		else
			do_login(con, req);
		return;
	}
	if ((s = session_of(con, req)) == NULL) {
		reply_json_msg(con, req, 401, "Unauthorized", "denied",
		    "not logged in");
		return;
	}
	if (cmd == EVHTTP_REQ_POST && !csrf_header_ok(req, s)) {
		log_warn(LOG_CAT_CONTROL, "event=console_csrf_refused "
		    "user=\"%s\"", s->login);
		reply_json_msg(con, req, 403, "Forbidden", "denied",
		    "X-CSRF-Token missing or wrong");
		return;
	}
	if (strcmp(path, "/api/session") == 0) {
		reply_session(con, req, s, 0, 0);
		return;
	}
	if (strcmp(path, "/api/logout") == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			reply_json_msg(con, req, 405, "Method Not Allowed",
			    "bad_request", "POST");
			return;
		}
		console_session_end(s);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Set-Cookie", con->tls != NULL ? CONSOLE_COOKIE "=; "
		    "Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0" :
		    CONSOLE_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; "
		    "Max-Age=0");
		reply_json_msg(con, req, 200, "OK", "ok", "logged out");
		return;
	}
	do_api(con, req, path + 5, query, s);
}

/* console_new - the server */
struct console *
console_new(struct event_base *base, const struct conf *c, SSL_CTX *tls,
    const struct console_hooks *hooks, void *arg, char *err, size_t errlen)
{
	struct console *con;
	struct evconnlistener *evl;
	char addr[64];
	int port, loopback;

	/* the configuration refuses it too: plain HTTP stays on loopback */
	if (control_http_parse_listen(c->console_listen, addr, sizeof(addr),
	    &port, &loopback) == -1 || (!loopback && tls == NULL)) {
		snprintf(err, errlen, "console_listen: not a loopback ADDR:PORT");
		return NULL;
	}
	if (sodium_init() == -1) {
		snprintf(err, errlen, "libsodium: cannot initialise");
		return NULL;
	}
	if ((evl = control_http_bind(base, "console_listen", c->console_listen,
	    err, errlen)) == NULL)
		return NULL;
	if ((con = calloc(1, sizeof(*con))) == NULL ||
	    (con->http = evhttp_new(base)) == NULL)
		fatal("%s: evhttp_new", __func__);
	con->base = base;
	con->tls = tls;
	snprintf(con->addr, sizeof(con->addr), "%s", addr);
	con->hostnames = c->console_hostnames;
	con->nhostnames = c->n_console_hostnames;
	/* every connection passes the guard: the cap, the deadline, TLS */
	con->guard = console_guard_new(tls, c->console_max_connections,
	    c->console_request_timeout);
	evhttp_set_bevcb(con->http, console_guard_bev_cb, con->guard);
	con->hooks = *hooks;
	con->arg = arg;
	console_sessions_init(&con->sessions, c->console_idle,
	    c->console_login_limit, c->client_prefix_v4, c->client_prefix_v6);
	/* every method reaches http_request_cb, which answers 405 */
	evhttp_set_allowed_methods(con->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(con->http, CONSOLE_HEAD_MAX);
	evhttp_set_max_body_size(con->http, CONSOLE_HEAD_MAX);
	evhttp_set_timeout(con->http, CONSOLE_TIMEOUT_SECS);
	evhttp_set_gencb(con->http, http_request_cb, con);
	if (evhttp_bind_listener(con->http, evl) == NULL)
		fatal("%s: evhttp_bind_listener", __func__);
	return con;
}

/* console_free - close; the requests still waiting were answered */
void
console_free(struct console *con)
{
	if (con == NULL)
		return;
	evhttp_free(con->http);
	console_guard_free(con->guard);
	SSL_CTX_free(con->tls);
	sodium_memzero(&con->sessions, sizeof(con->sessions));
	free(con);
}
