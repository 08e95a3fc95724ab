/*
 * test_queue_logins.c - per-login counters (src/queue/queue_logins.c):
 * the cap, "other", "unknown" for names that never logged in, relay
 * clients, and the labels escaped as the rows are written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "queue/queue_db.h"
#include "queue/queue_logins.h"
#include "unit_tmp.h"

#define ROWS_MAX	64

struct rows {
	char	name[ROWS_MAX][64];
	char	labels[ROWS_MAX][256];
	int64_t	v[ROWS_MAX];
	size_t	n;
};

static struct rows got;

static void
row_cb(struct ipc_msg *m, const char *name, const char *labels, int64_t v)
{
	assert_true(got.n < ROWS_MAX);
	snprintf(got.name[got.n], sizeof(got.name[0]), "%s", name);
	snprintf(got.labels[got.n], sizeof(got.labels[0]), "%s", labels);
	got.v[got.n++] = v;
}

/* the value of one row; -1 when there is none */
static int64_t
value(const char *name, const char *labels)
{
	for (size_t i = 0; i < got.n; i++)
		if (strcmp(got.name[i], name) == 0 &&
		    strcmp(got.labels[i], labels) == 0)
			return got.v[i];
	return -1;
}

static void
test_cap_unknown_other(void **state)
{
	struct unit_queue_db q;
	struct queue_db *db;
	struct queue_logins *l;
	struct conf *c;
	char err[512];

	assert_int_equal(unit_queue_db_open(&q, "logins"), 0);
	db = q.db;
	assert_non_null(c = conf_load_string("[relay]\nrelay_networks = "
	    "10.9.0.0/16\n[control]\nlogin_metrics_max = 3\n", "t.conf", err,
	    sizeof(err)));
	assert_non_null(l = queue_logins_new(c, db));
	/* known before: bob logged in once (login_nets), never since */
	assert_int_equal(queue_db_login_net_add(db, "bob", "192.0.2.0/24",
	    1000), 0);

	queue_logins_login(l, "al\"ice\\");
	queue_logins_stored(l, "al\"ice\\", "192.0.2.1", 3);
	queue_logins_stored(l, "", "10.9.1.1", 2);	/* a relay client */
	queue_logins_stored(l, "", "203.0.113.5", 9);	/* inbound: nobody */
	queue_logins_auth_fail(l, "bob", "198.51.100.1");	/* 3rd name */
	queue_logins_auth_fail(l, "mallory", "198.51.100.2");
	queue_logins_auth_fail(l, "root", "10.9.1.1");
	queue_logins_auth_fail(l, "", "198.51.100.3");
	queue_logins_login(l, "carol");			/* past the cap */
	queue_logins_stored(l, "carol", "192.0.2.9", 1);
	queue_logins_stored(l, "other", "192.0.2.9", 1);	/* reserved */

	got.n = 0;
	queue_logins_stats(l, row_cb, NULL);
	assert_int_equal(value("login_messages_total",
	    "login=\"al\\\"ice\\\\\""), 1);
	assert_int_equal(value("login_recipients_total",
	    "login=\"al\\\"ice\\\\\""), 3);
	assert_int_equal(value("relay_client_recipients_total",
	    "client=\"10.9.1.1\""), 2);
	assert_int_equal(value("relay_client_auth_failures_total",
	    "client=\"10.9.1.1\""), 1);
	assert_int_equal(value("login_auth_failures_total", "login=\"bob\""), 1);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"unknown\""), 3);
	assert_int_equal(value("login_messages_total", "login=\"other\""), 2);
	assert_int_equal(value("login_messages_total", "client=\"other\""), -1);
	assert_int_equal(value("relay_client_messages_total",
	    "client=\"other\""), 0);
	/* the names tried by strangers, and past the cap, never named */
	for (size_t i = 0; i < got.n; i++)
		if (strstr(got.labels[i], "mallory") != NULL ||
		    strstr(got.labels[i], "root") != NULL ||
		    strstr(got.labels[i], "carol") != NULL ||
		    strstr(got.labels[i], "203.0.113.5") != NULL)
			fail_msg("got a series %s{%s}, want none", got.name[i],
			    got.labels[i]);
	/* three names, three series each, and the shared ones */
	assert_int_equal(got.n, 3 * 3 + 3 * 3);

	queue_logins_free(l);
	conf_free(c);
	unit_queue_db_close(&q);
}

/*
 * A name queue.db said never logged in is not asked about again: a row
 * login_nets gets behind the counters' back is not seen until a login
 * of that name or a reload makes them forget.
 */
static void
test_unknown_remembered(void **state)
{
	struct unit_queue_db q;
	struct queue_logins *l;
	struct conf *c;
	char err[512], name[32];

	assert_int_equal(unit_queue_db_open(&q, "logins"), 0);
	assert_non_null(c = conf_load_string("[control]\n"
	    "login_metrics_max = 2\n", "t.conf", err, sizeof(err)));
	assert_non_null(l = queue_logins_new(c, q.db));

	queue_logins_auth_fail(l, "mallory", "198.51.100.1");
	assert_int_equal(queue_db_login_net_add(q.db, "mallory",
	    "198.51.100.0/24", 1000), 0);
	queue_logins_auth_fail(l, "mallory", "198.51.100.1");
	got.n = 0;
	queue_logins_stats(l, row_cb, NULL);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"unknown\""), 2);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"mallory\""), -1);

	/* a reload forgets: now the account it is */
	queue_logins_set_conf(l, c);
	queue_logins_auth_fail(l, "mallory", "198.51.100.1");
	got.n = 0;
	queue_logins_stats(l, row_cb, NULL);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"mallory\""), 1);

	/* many names: the table stays bounded, each still "unknown" */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "guess%d", i);
		queue_logins_auth_fail(l, name, "198.51.100.2");
	}

	/* a login forgets the name even past the cap (no series of its
	 * own): its next failure is asked about and counts as "other" */
	queue_logins_login(l, "alice");			/* the cap: 2 */
	queue_logins_auth_fail(l, "trudy", "198.51.100.3");
	assert_int_equal(queue_db_login_net_add(q.db, "trudy",
	    "198.51.100.0/24", 1000), 0);
	queue_logins_login(l, "trudy");
	queue_logins_auth_fail(l, "trudy", "198.51.100.3");
	got.n = 0;
	queue_logins_stats(l, row_cb, NULL);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"unknown\""), 2 + 1000 + 1);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"other\""), 1);
	assert_int_equal(value("login_auth_failures_total",
	    "login=\"trudy\""), -1);

	queue_logins_free(l);
	conf_free(c);
	unit_queue_db_close(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_unknown_other),
		cmocka_unit_test(test_unknown_remembered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
