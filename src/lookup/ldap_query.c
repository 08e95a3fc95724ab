/*
 * ldap_query.c - moat ldap-query: ask an [ldap NAME] section of the
 * configuration about addresses, as the lookup process would, and print
 * each answer. For the administrator setting up a directory (is the
 * filter right, does the certificate verify, does the bind work) and
 * for the tests, which keep one running across an outage.
 *
 *   moat ldap-query [-c FILE] NAME ADDRESS...
 *   moat ldap-query [-c FILE] NAME          addresses on stdin, a line each
 *
 * Each answer is a line "ADDRESS found|notfound|tempfail [WHY]", as it
 * comes (lookups run side by side; with stdin, in no fixed order).
 * Exit status: 0 every address answered found or notfound, 3 some got
 * tempfail, 1 the configuration or the bind_file is unusable, 2 usage.
 *
 * Public: ldap_query_main.
 * SECURITY: run as root it reads the bind_file, like the lookup process;
 * the password is never printed. Addresses are printed escaped.
 * LIMITS: stdin lines of at most 1024 bytes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../daemon/config.h"
#include "../daemon/conf_path.h"
#include "../lib/log.h"
#include "ldap_dir.h"
#include "ldap_query.h"

#define QUERY_LINE_MAX	1024

struct query {
	struct event_base *base;
	struct ldap_dir	*dir;
	int		 pending;	/* lookups without an answer */
	int		 eof;		/* no more addresses */
	int		 tempfails;
};

struct query_one {
	struct query	*q;
	char		 addr[QUERY_LINE_MAX];
};

static void
query_done(void *arg, enum lookup_answer a, const char *why)
{
	struct query_one *one = arg;
	struct query *q = one->q;
	char esc[QUERY_LINE_MAX * 4];

	printf("%s %s%s%s\n", log_escape_bare(esc, sizeof(esc), one->addr,
	    strlen(one->addr)), a == LOOKUP_FOUND ? "found" :
	    a == LOOKUP_NOTFOUND ? "notfound" : "tempfail", why ? " " : "",
	    why ? why : "");
	fflush(stdout);
	q->tempfails += a == LOOKUP_TEMPFAIL;
	free(one);
	if (--q->pending == 0 && q->eof)
		event_base_loopexit(q->base, NULL);
}

static void
query_event(void *arg, const char *type, const char *detail)
{
	fprintf(stderr, "moat: event %s %s\n", type, detail);
}

/* one address, lowercased as the lookup process does */
static void
query_start(struct query *q, const char *addr, size_t len)
{
	struct query_one *one;

	if (len == 0 || len >= QUERY_LINE_MAX)
		return;
	if ((one = calloc(1, sizeof(*one))) == NULL) {
		fprintf(stderr, "moat: out of memory\n");
		return;
	}
	one->q = q;
	for (size_t i = 0; i < len; i++)
		one->addr[i] = (char)tolower((unsigned char)addr[i]);
	q->pending++;
	ldap_dir_lookup(q->dir, one->addr, query_done, one);
}

static void
query_read_cb(struct bufferevent *bev, void *arg)
{
	struct query *q = arg;
	char *line;
	size_t len;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		query_start(q, line, len);
		free(line);
	}
}

static void
query_stdin_cb(struct bufferevent *bev, short what, void *arg)
{
	struct query *q = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		q->eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (q->pending == 0)
			event_base_loopexit(q->base, NULL);
	}
}

/* ldap_query_main - argv after "ldap-query"; exit status */
int
ldap_query_main(int argc, char **argv)
{
	const char *path = NULL, *name = NULL;
	const struct conf_ldap *lc;
	struct ldap_secret sec;
	struct bufferevent *in = NULL;
	struct query q;
	struct conf *c;
	char err[2048];
	int i, first = -1, rc = 1;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: moat ldap-query [-c FILE] NAME "
			    "[ADDRESS...]\n"
			    "       (no ADDRESS: one a line on stdin)\n");
			return 0;
		} else if (argv[i][0] == '-')
			goto usage;
		else if (name == NULL)
			name = argv[i];
		else {
			first = i;
			break;
		}
	}
	if (name == NULL)
		goto usage;
	if ((c = conf_path_load(path, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "moat: %s\n", err);
		return 1;
	}
	conf_apply_log_levels(c);
	if ((lc = conf_ldap_find(c, name)) == NULL) {
		fprintf(stderr, "moat: %s: no section [ldap %s]\n", c->path,
		    name);
		conf_free(c);
		return 1;
	}
	memset(&sec, 0, sizeof(sec));
	if (lc->bind_file[0] != '\0' &&
	    ldap_secret_load(lc->bind_file, &sec, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		conf_free(c);
		return 1;
	}
	memset(&q, 0, sizeof(q));
	if ((q.base = event_base_new()) == NULL ||
	    (q.dir = ldap_dir_new(q.base, lc, &sec, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "moat: %s\n", q.base ? err : "event base");
		goto done;
	}
	ldap_dir_set_event(q.dir, query_event, &q);
	if (first >= 0) {
		q.eof = 1;
		q.pending++;	/* none finishes the loop before all start */
		for (i = first; i < argc; i++)
			query_start(&q, argv[i], strlen(argv[i]));
		if (--q.pending == 0)
			goto out;
	} else {
		if ((in = bufferevent_socket_new(q.base, STDIN_FILENO, 0)) ==
		    NULL) {
			fprintf(stderr, "moat: stdin\n");
			goto done;
		}
		bufferevent_setcb(in, query_read_cb, NULL, query_stdin_cb, &q);
		bufferevent_enable(in, EV_READ);
	}
	event_base_dispatch(q.base);
out:
	rc = q.tempfails ? 3 : 0;
done:
	if (in != NULL)
		bufferevent_free(in);
	ldap_dir_free(q.dir);
	if (q.base != NULL)
		event_base_free(q.base);
	ldap_secret_wipe(&sec);
	conf_free(c);
	return rc;
usage:
	fprintf(stderr, "moat: ldap-query: %s\n"
	    "usage: moat ldap-query [-c FILE] NAME [ADDRESS...]\n",
	    name == NULL ? "which [ldap NAME] section?" : "unexpected argument");
	fprintf(stderr,
	    "       (no ADDRESS: one a line on stdin)\n");
	return 2;
}
