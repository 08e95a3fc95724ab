/*
 * test_verify.c - recipient verification probes (src/lookup/verify.c)
 * against a scripted SMTP server on loopback, on one event loop: the
 * dialogue (never DATA), the verdict of each reply, the cache, shared
 * probes, hosts that fail before RCPT, a quoted local part, an address
 * that must never reach a command line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/config.h"
#include "lookup/verify.h"

/* how the scripted server answers */
struct script {
	const char	*banner;	/* "220 ..." */
	const char	*ehlo;		/* the whole EHLO reply, CRLFs inside */
	const char	*mail;
	int		 silent_rcpt;	/* never answer RCPT */
};

struct server {
	struct evconnlistener	*lis;
	int			 port;
	int			 connections;
	char			 log[8192];	/* every command, one per line */
	const struct script	*script;
};

struct answer {
	int		 n;
	enum lookup_answer a;
	char		 why[512];
};

static struct event_base *base;

static void
srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct server *s = arg;
	struct evbuffer *out = bufferevent_get_output(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &n,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		size_t l = strlen(s->log);

		snprintf(s->log + l, sizeof(s->log) - l, "%s\n", line);
		if (strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "LHLO", 4) == 0)
			evbuffer_add_printf(out, "%s\r\n", s->script->ehlo);
		else if (strncasecmp(line, "HELO", 4) == 0)
			evbuffer_add_printf(out, "250 fake.example\r\n");
		else if (strncasecmp(line, "MAIL", 4) == 0)
			evbuffer_add_printf(out, "%s\r\n", s->script->mail);
		else if (strncasecmp(line, "RCPT", 4) == 0) {
			if (s->script->silent_rcpt)
				;
			else if (strstr(line, "<known@") != NULL ||
			    strstr(line, "\"john doe\"@") != NULL)
				evbuffer_add_printf(out, "250 2.1.5 Ok\r\n");
			else if (strstr(line, "<later@") != NULL)
				evbuffer_add_printf(out, "451 4.3.0 try later\r\n");
			else
				evbuffer_add_printf(out, "550 5.1.1 <%s>: "
				    "Recipient address rejected: User unknown\r\n",
				    line + 9);
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			evbuffer_add_printf(out, "221 2.0.0 Bye\r\n");
			bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
			free(line);
			bufferevent_free(bev);	/* the close follows the write */
			return;
		} else
			evbuffer_add_printf(out, "502 5.5.2 what\r\n");
		free(line);
	}
}

static void
srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

static void
srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *s = arg;
	struct bufferevent *bev;

	(void)l;
	(void)sa;
	(void)salen;
	s->connections++;
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, srv_read_cb, NULL, srv_event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	evbuffer_add_printf(bufferevent_get_output(bev), "%s\r\n",
	    s->script->banner);
}

static void
srv_start(struct server *s, const struct script *sc)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->script = sc;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lis = evconnlistener_new_bind(base, srv_accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->lis);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &len);
	s->port = ntohs(sin.sin_port);
}

/* let the server see its last closes, then stop listening */
static void settle(void);

static void
srv_stop(struct server *s)
{
	settle();
	evconnlistener_free(s->lis);
}

/* a port nothing listens on */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static const struct script plain = {
	"220 fake.example ESMTP", "250-fake.example\r\n250 SMTPUTF8",
	"250 2.1.0 Ok", 0
};

/* a verifier with these routes */
static struct verifier *
verifier_routes(const char *routes)
{
	char text[1024], err[512];
	struct verifier *v;
	struct conf *c;

	snprintf(text, sizeof(text), "[server]\nhostname = edge.test\n"
	    "[delivery]\nroutes = %s\ntimeout_connect = 2\n"
	    "timeout_client = 1\n"
	    "[domains]\nverify_cache_negative = 60\n", routes);
	c = conf_load_string(text, "t.conf", err, sizeof(err));
	if (c == NULL)
		fail_msg("conf: %s", err);
	v = verifier_new(base, c, NULL, err, sizeof(err));
	if (v == NULL)
		fail_msg("verifier_new: %s", err);
	conf_free(c);
	return v;
}

static struct verifier *
verifier_for(int port, int port2)
{
	char routes[256];

	snprintf(routes, sizeof(routes), "corp.example=[127.0.0.1]:%d "
	    "other.example=[127.0.0.1]:%d", port, port2);
	return verifier_routes(routes);
}

static void
answer_cb(void *arg, enum lookup_answer a, const char *why)
{
	struct answer *r = arg;

	r->n++;
	r->a = a;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	event_base_loopbreak(base);
}

/* run the loop until n answers are in (or 5 s) */
static void
run_until(struct answer *r, int n)
{
	struct timeval tv = { 0, 20000 };

	for (int i = 0; i < 250 && r->n < n; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* let the QUIT exchanges end */
static void
settle(void)
{
	struct timeval tv = { 0, 100000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
check(struct verifier *v, const char *addr, struct answer *r, int want_n,
    enum lookup_answer want)
{
	verifier_check(v, addr, "corp.example", answer_cb, r);
	run_until(r, want_n);
	if (r->n != want_n || r->a != want)
		fail_msg("%s: got %d answers, the last %d (%s), want %d", addr,
		    r->n, r->a, r->why, want);
}

static void
test_verdicts(void **state)
{
	struct server s;
	struct verifier *v;
	struct answer r = { 0 };

	(void)state;
	srv_start(&s, &plain);
	v = verifier_for(s.port, s.port);
	check(v, "known@corp.example", &r, 1, LOOKUP_FOUND);
	check(v, "nobody@corp.example", &r, 2, LOOKUP_NOTFOUND);
	assert_non_null(strstr(r.why, "550 5.1.1"));
	check(v, "later@corp.example", &r, 3, LOOKUP_TEMPFAIL);
	settle();
	assert_int_equal(s.connections, 3);
	/* the dialogue: EHLO, MAIL FROM:<>, RCPT TO, QUIT; never DATA */
	assert_non_null(strstr(s.log, "EHLO edge.test\nMAIL FROM:<>\n"
	    "RCPT TO:<known@corp.example>\nQUIT\n"));
	assert_null(strstr(s.log, "DATA"));

	/* cached: answered at once, no connection */
	r.n = 0;
	verifier_check(v, "known@corp.example", "corp.example", answer_cb, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.a, LOOKUP_FOUND);
	verifier_check(v, "nobody@corp.example", "corp.example", answer_cb, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.a, LOOKUP_NOTFOUND);
	/* a temporary failure is not cached */
	check(v, "later@corp.example", &r, 3, LOOKUP_TEMPFAIL);
	settle();
	assert_int_equal(s.connections, 4);
	/* a flush forgets */
	verifier_flush(v, "known@corp.example");
	check(v, "known@corp.example", &r, 4, LOOKUP_FOUND);
	settle();
	assert_int_equal(s.connections, 5);
	verifier_free(v);
	srv_stop(&s);
}

/* a quoted local part is written quoted; bytes that would end the line never go */
static void
test_quoted_and_injection(void **state)
{
	struct server s;
	struct verifier *v;
	struct answer r = { 0 };

	(void)state;
	srv_start(&s, &plain);
	v = verifier_for(s.port, s.port);
	check(v, "\"john doe\"@corp.example", &r, 1, LOOKUP_FOUND);
	settle();
	assert_non_null(strstr(s.log, "RCPT TO:<\"john doe\"@corp.example>\n"));
	/* needlessly quoted: written plain, as addr_format writes it */
	check(v, "\"known\"@corp.example", &r, 2, LOOKUP_FOUND);
	settle();
	assert_non_null(strstr(s.log, "RCPT TO:<known@corp.example>\n"));
	r.n = 0;
	verifier_check(v, "a>\r\nDATA\r\n<b@corp.example", "corp.example",
	    answer_cb, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.a, LOOKUP_TEMPFAIL);
	settle();
	assert_int_equal(s.connections, 2);
	assert_null(strstr(s.log, "DATA"));
	verifier_free(v);
	srv_stop(&s);
}

/* checks of one address while its probe runs share it */
static void
test_shared(void **state)
{
	struct server s;
	struct verifier *v;
	struct answer r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	(void)state;
	srv_start(&s, &plain);
	v = verifier_for(s.port, s.port);
	verifier_check(v, "known@corp.example", "corp.example", answer_cb, &r1);
	verifier_check(v, "known@corp.example", "corp.example", answer_cb, &r2);
	verifier_check(v, "nobody@corp.example", "corp.example", answer_cb, &r3);
	for (int i = 0; i < 250 && (r1.n + r2.n + r3.n) < 3; i++)
		settle();
	assert_int_equal(r1.n, 1);
	assert_int_equal(r2.n, 1);
	assert_int_equal(r3.n, 1);
	assert_int_equal(r1.a, LOOKUP_FOUND);
	assert_int_equal(r2.a, LOOKUP_FOUND);
	assert_int_equal(r3.a, LOOKUP_NOTFOUND);
	settle();
	assert_int_equal(s.connections, 2);
	verifier_free(v);
	srv_stop(&s);
}

/* no server, or one that refuses before RCPT: TEMPFAIL, never NOTFOUND */
static void
test_server_down(void **state)
{
	static const struct script refuse_mail = {
		"220 fake.example ESMTP", "250 fake.example",
		"530 5.7.0 Must issue a STARTTLS command first", 0
	};
	static const struct script busy = {
		"421 4.3.2 busy", "250 fake.example", "250 ok", 0
	};
	static const struct script no_ehlo = {
		"220 fake.example", "502 5.5.2 no EHLO here", "250 ok", 0
	};
	static const struct script loop = {
		"220 edge.test", "250-edge.test\r\n250 PIPELINING", "250 ok", 0
	};
	struct server s;
	struct verifier *v;
	struct answer r = { 0 };

	(void)state;
	v = verifier_for(closed_port(), closed_port());
	check(v, "known@corp.example", &r, 1, LOOKUP_TEMPFAIL);
	assert_non_null(strstr(r.why, "451 4.4.1"));
	verifier_free(v);

	srv_start(&s, &refuse_mail);
	v = verifier_for(s.port, s.port);
	check(v, "nobody@corp.example", &r, 2, LOOKUP_TEMPFAIL);
	verifier_free(v);
	srv_stop(&s);

	srv_start(&s, &busy);
	v = verifier_for(s.port, s.port);
	check(v, "nobody@corp.example", &r, 3, LOOKUP_TEMPFAIL);
	verifier_free(v);
	srv_stop(&s);

	srv_start(&s, &loop);
	v = verifier_for(s.port, s.port);
	check(v, "known@corp.example", &r, 4, LOOKUP_TEMPFAIL);
	assert_non_null(strstr(r.why, "loop"));
	verifier_free(v);
	srv_stop(&s);

	/* EHLO refused: HELO, and the probe goes on */
	srv_start(&s, &no_ehlo);
	v = verifier_for(s.port, s.port);
	check(v, "nobody@corp.example", &r, 5, LOOKUP_NOTFOUND);
	settle();
	assert_non_null(strstr(s.log, "HELO edge.test\nMAIL FROM:<>\n"));
	verifier_free(v);
	srv_stop(&s);

	/* no route for the domain */
	v = verifier_for(closed_port(), closed_port());
	r.n = 0;
	verifier_check(v, "a@elsewhere.example", "elsewhere.example",
	    answer_cb, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.a, LOOKUP_TEMPFAIL);
	verifier_free(v);
}

/* a server that never answers RCPT: the connection times out, TEMPFAIL */
static void
test_silent(void **state)
{
	static const struct script silent = {
		"220 fake.example", "250 fake.example", "250 ok", 1
	};
	struct server s;
	struct verifier *v;
	struct answer r = { 0 };
	struct timeval tv = { 3, 0 };

	(void)state;
	srv_start(&s, &silent);
	v = verifier_for(s.port, s.port);
	verifier_check(v, "known@corp.example", "corp.example", answer_cb, &r);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.a, LOOKUP_TEMPFAIL);
	/* freed with a probe under way: no callback, no leak */
	verifier_check(v, "other@corp.example", "corp.example", answer_cb, &r);
	settle();
	verifier_free(v);
	assert_int_equal(r.n, 1);
	settle();		/* the server sees the close */
	srv_stop(&s);
}

/* the route's hosts in order: the next one when one fails before RCPT */
static void
test_failover(void **state)
{
	static const struct script refuse_mail = {
		"220 fake.example ESMTP", "250 fake.example",
		"553 5.7.1 not from you", 0
	};
	struct server s1, s2;
	struct verifier *v;
	struct answer r = { 0 };
	char routes[256];

	(void)state;
	srv_start(&s1, &refuse_mail);
	srv_start(&s2, &plain);
	snprintf(routes, sizeof(routes), "corp.example=[127.0.0.1]:%d,"
	    "[127.0.0.1]:%d,[127.0.0.1]:%d", closed_port(), s1.port, s2.port);
	v = verifier_routes(routes);
	check(v, "nobody@corp.example", &r, 1, LOOKUP_NOTFOUND);
	check(v, "known@corp.example", &r, 2, LOOKUP_FOUND);
	settle();
	assert_int_equal(s1.connections, 2);
	assert_int_equal(s2.connections, 2);
	assert_null(strstr(s1.log, "RCPT"));
	verifier_free(v);
	srv_stop(&s1);
	srv_stop(&s2);
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_free(base);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoted_and_injection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
