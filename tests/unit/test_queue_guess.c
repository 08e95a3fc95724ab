/*
 * test_queue_guess.c - the login after a guessing attack and the bans
 * of the guessers (src/queue/queue_guess.c), on a real queue database
 * with the events smtp would have recorded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "daemon/config.h"
#include "queue/queue_db.h"
#include "queue/queue_guess.h"
#include "unit_tmp.h"

struct fixture {
	struct unit_queue_db	 q;
	struct conf		*conf;
	time_t			 now;
};

static struct conf *
load(const char *text)
{
	char err[512];
	struct conf *c = conf_load_string(text, "t.conf", err, sizeof(err));

	if (c == NULL)
		print_error("conf: %s\n", err);
	return c;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || unit_queue_db_open(&fx->q, "guess") == -1) {
		free(fx);
		return -1;
	}
	if ((fx->conf = load("[relay]\nrelay_networks = 10.9.0.0/16\n")) ==
	    NULL)
		return -1;
	fx->now = time(NULL);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	unit_queue_db_close(&fx->q);
	conf_free(fx->conf);
	free(fx);
	return 0;
}

/* one event as smtp records it, age seconds ago */
static void
event(struct fixture *fx, const char *type, const char *ip,
    const char *user, int age)
{
	struct queue_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t)fx->now - age;
	ev.type = type;
	ev.client_ip = ip;
	ev.user = user;
	ev.detail = "";
	assert_int_equal(queue_db_event_add(fx->q.db, &ev, 1), 0);
}

/* failures for user from n addresses 192.0.2.1.., the alert at the end */
static void
attack(struct fixture *fx, const char *user, int n, int age)
{
	char ip[32];

	for (int i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", 1 + i);
		event(fx, "auth_fail", ip, user, age);
	}
	event(fx, "account_attack", "192.0.2.1", user, age);
}

static int64_t
peek_int(struct fixture *fx, const char *sql)
{
	sqlite3 *h = unit_queue_db_peek(&fx->q);
	sqlite3_stmt *s;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static int
login(struct fixture *fx, const char *user, const char *ip)
{
	char why[512];

	return queue_guess_login(fx->conf, fx->q.db, user, ip, fx->now, why,
	    sizeof(why));
}

/* no attack: every login passes and its network is remembered */
static void
test_login_no_attack(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(login(fx, "alice", "198.51.100.7"), 0);
	assert_int_equal(login(fx, "alice", "2001:db8:1:2::5"), 0);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM login_nets WHERE "
	    "net IN ('198.51.100.0/24', '2001:db8:1:2::/64')"), 2);
	/* failures from one address alone are no distributed guess */
	for (int i = 0; i < 20; i++)
		event(fx, "auth_fail", "203.0.113.9", "alice", 10);
	assert_int_equal(login(fx, "alice", "203.0.113.200"), 0);
}

/* after an attack: a guessing address, a new network are held; the
 * owner's network passes; another account is not concerned */
static void
test_login_after_attack(void **state)
{
	struct fixture *fx = *state;
	char why[512];

	assert_int_equal(login(fx, "alice", "198.51.100.7"), 0);
	attack(fx, "alice", 12, 60);
	assert_int_equal(queue_guess_login(fx->conf, fx->q.db, "alice",
	    "192.0.2.5", fx->now, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "failed_for_it=yes"));
	assert_non_null(strstr(why, "failures=12 addresses=12"));
	assert_int_equal(queue_guess_login(fx->conf, fx->q.db, "alice",
	    "203.0.113.1", fx->now, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "new_network=yes"));
	assert_int_equal(login(fx, "alice", "198.51.100.99"), 0);
	assert_int_equal(login(fx, "bob", "192.0.2.5"), 0);
	/* a held login teaches nothing: the network stays unknown */
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM login_nets WHERE "
	    "net = '203.0.113.0/24'"), 0);
}

/* the failures alone, without smtp's alert (say, after a restart) */
static void
test_login_failures_without_alert(void **state)
{
	struct fixture *fx = *state;
	char ip[32];

	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", 1 + i);
		event(fx, "auth_fail", ip, "alice", 60);
	}
	assert_int_equal(login(fx, "alice", "192.0.2.3"), 1);
}

/* an attack older than guess_window is forgotten; the knob off */
static void
test_login_window_and_off(void **state)
{
	struct fixture *fx = *state;
	struct conf *off;

	attack(fx, "alice", 12, 86400 + 60);
	assert_int_equal(login(fx, "alice", "192.0.2.5"), 0);
	attack(fx, "bob", 12, 60);
	assert_non_null(off = load("[watch]\nquarantine_after_guessing = no\n"));
	conf_free(fx->conf);
	fx->conf = off;
	assert_int_equal(login(fx, "bob", "192.0.2.5"), 0);
}

/* every guessing address banned once, relay networks never, an event
 * each naming the account; aggregated: one /24 */
static void
test_ban(void **state)
{
	struct fixture *fx = *state;
	struct conf *agg;

	attack(fx, "alice", 20, 60);
	event(fx, "auth_fail", "192.0.2.1", "alice", 30);	/* twice */
	event(fx, "auth_fail", "10.9.1.1", "alice", 30);	/* relay */
	event(fx, "auth_fail", "198.51.100.1", "bob", 30);	/* other */
	event(fx, "auth_fail", "198.51.100.2", "alice", 90000);	/* old */
	assert_int_equal(queue_guess_ban(fx->conf, fx->q.db, NULL, "alice",
	    fx->now), 20);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM bans WHERE "
	    "origin = 'guess' AND cidr LIKE '192.0.2.%/32'"), 20);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM bans"), 20);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM events WHERE "
	    "type = 'guess_ban' AND user = 'alice' AND client_ip = "
	    "'192.0.2.7/32'"), 1);
	/* a ban that lasts longer is kept */
	assert_int_equal(queue_db_ban_add(fx->q.db, "192.0.2.7/32", "admin",
	    "admin", fx->now, 0), 0);
	assert_int_equal(queue_guess_ban(fx->conf, fx->q.db, NULL, "alice",
	    fx->now), 20);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM bans WHERE "
	    "cidr = '192.0.2.7/32' AND expires IS NULL"), 1);

	assert_non_null(agg = load("[relay]\nrelay_networks = 10.9.0.0/16\n"
	    "[watch]\nguess_ban_aggregate = yes\n"));
	conf_free(fx->conf);
	fx->conf = agg;
	assert_int_equal(queue_guess_ban(fx->conf, fx->q.db, NULL, "alice",
	    fx->now), 1);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM bans WHERE "
	    "cidr = '192.0.2.0/24'"), 1);
}

/* a message of user from ip, stored held (as a held account's is) */
static void
held_message(struct fixture *fx, const char *user, const char *ip)
{
	struct queue_rcpt r = { .address = "x@far.example" };
	struct queue_msg m = { .sender = "alice@example.org", .helo = "h",
	    .client_ip = ip, .auth_user = user, .listener = "sub",
	    .rcpts = &r, .nrcpt = 1, .data = (const uint8_t *)"x\r\n",
	    .len = 3, .held = 1 };
	struct queue_store_result res;

	assert_int_equal(queue_db_store_batch(fx->q.db, &m, 1, &res), 0);
}

static int
usual(struct fixture *fx, const char *ip, int64_t *released, int64_t *kept)
{
	char why[512];

	return queue_guess_usual(fx->conf, fx->q.db, "alice", ip, fx->now, why,
	    sizeof(why), released, kept);
}

/*
 * The quarantine's end: a network of the account from before the
 * attack, an address that did not fail, guess_quiet_time without a
 * failure; the held mail from such addresses released, the rest kept.
 * Only the quarantine's own hold ends so.
 */
static void
test_usual_pattern(void **state)
{
	struct fixture *fx = *state;
	struct conf *quick;
	int64_t held, released, kept;
	char why[512];

	/* the owner's network, an hour before; one that came later */
	assert_int_equal(queue_guess_login(fx->conf, fx->q.db, "alice",
	    "198.51.100.7", fx->now - 3600, why, sizeof(why)), 0);
	attack(fx, "alice", 12, 600);
	event(fx, "auth_fail", "198.51.100.66", "alice", 590);
	assert_int_equal(queue_guess_login(fx->conf, fx->q.db, "alice",
	    "198.18.0.1", fx->now - 580, why, sizeof(why)), 1);
	assert_int_equal(queue_db_login_net_add(fx->q.db, "alice",
	    "198.18.0.0/24", fx->now - 580), 0);
	/* not quarantined yet: nothing to end */
	assert_int_equal(usual(fx, "198.51.100.7", &released, &kept), 0);
	/* the quarantine, as queue_watch records it */
	assert_int_equal(queue_db_sender_set(fx->q.db, "alice", "held", "q",
	    fx->now - 500, &held), 0);
	event(fx, "login_after_guessing", "192.0.2.5", "alice", 500);
	held_message(fx, "alice", "192.0.2.5");
	held_message(fx, "alice", "192.0.2.5");
	held_message(fx, "alice", "198.51.100.8");
	/* a day of quiet by default: 600 s are not enough */
	assert_int_equal(usual(fx, "198.51.100.7", &released, &kept), 0);
	assert_non_null(quick = load("[watch]\nguess_quiet_time = 300\n"));
	conf_free(fx->conf);
	fx->conf = quick;
	/* a network never seen, the attack's, one first seen during it,
	 * an address of the usual network that failed: still held */
	assert_int_equal(usual(fx, "203.0.113.1", &released, &kept), 0);
	assert_int_equal(usual(fx, "192.0.2.5", &released, &kept), 0);
	assert_int_equal(usual(fx, "198.18.0.1", &released, &kept), 0);
	assert_int_equal(usual(fx, "198.51.100.66", &released, &kept), 0);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM recipient WHERE "
	    "state = 2"), 3);
	/* the owner: the end, its held mail released, the attacker's kept */
	assert_int_equal(usual(fx, "198.51.100.7", &released, &kept), 1);
	assert_int_equal(released, 1);
	assert_int_equal(kept, 2);
	assert_int_equal(peek_int(fx, "SELECT count(*) FROM recipient AS r "
	    "JOIN message AS m ON m.id = r.msg_id WHERE r.state = 2 AND "
	    "m.client_ip = '192.0.2.5'"), 2);
	/* an admin's hold since then never ends so */
	assert_int_equal(queue_db_sender_set(fx->q.db, "alice", "held", "admin",
	    fx->now - 10, &held), 0);
	assert_int_equal(usual(fx, "198.51.100.7", &released, &kept), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_login_no_attack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_login_after_attack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_login_failures_without_alert,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_window_and_off, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ban, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usual_pattern, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
