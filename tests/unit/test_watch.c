/*
 * test_watch.c - per-sender sliding windows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "policy/watch.h"

static void
send_one(struct watch *w, const char *key, time_t now, const char *domain,
    int ext)
{
	const char *d[1] = { domain };
	int e[1] = { ext };

	watch_message(w, key, now, 1, d, e);
}

static void
test_counts_and_window(void **state __attribute__((unused)))
{
	struct watch *w = watch_new(3600);
	struct watch_counts c;
	char dom[64];

	assert_non_null(w);
	/* 300 outside domains, 2 messages each, plus local mail */
	for (int i = 0; i < 600; i++) {
		snprintf(dom, sizeof(dom), "d%d.example", i % 300);
		send_one(w, "user:alice", 1000000 + i, dom, 1);
	}
	for (int i = 0; i < 50; i++)
		send_one(w, "user:alice", 1000600, "example.org", 0);
	watch_get(w, "user:alice", 1000600, &c);
	if (c.messages != 650 || c.rcpts != 650 || c.ext_rcpts != 600 ||
	    c.ext_domains != 300)
		fail_msg("got messages=%d rcpts=%d ext=%d domains=%d, want "
		    "650/650/600/300", c.messages, c.rcpts, c.ext_rcpts,
		    c.ext_domains);
	/* case does not make a domain new */
	send_one(w, "user:alice", 1000601, "D1.EXAMPLE", 1);
	watch_get(w, "user:alice", 1000601, &c);
	assert_int_equal(c.ext_domains, 300);
	/* other keys are apart */
	watch_get(w, "user:bob", 1000601, &c);
	assert_int_equal(c.messages, 0);
	/* an hour later it has all slid out */
	watch_get(w, "user:alice", 1000601 + 3700, &c);
	if (c.messages != 0 || c.ext_domains != 0)
		fail_msg("after the window: got messages=%d domains=%d, want 0",
		    c.messages, c.ext_domains);
	watch_rejected(w, "ip:192.0.2.1", 2000000, 7);
	watch_get(w, "ip:192.0.2.1", 2000010, &c);
	assert_int_equal(c.rejected, 7);
	assert_int_equal(watch_size(w), 2);
	watch_expire(w, 2000000 + 3601);
	assert_int_equal(watch_size(w), 0);
	watch_free(w);
}

static void
test_half_window(void **state __attribute__((unused)))
{
	struct watch *w = watch_new(600);
	struct watch_counts c;

	for (int i = 0; i < 100; i++)
		send_one(w, "k", 5000 + i * 6, "x.example", 1);	/* 5000..5594 */
	/* at 5900 only the events after 5300 are inside the window */
	watch_get(w, "k", 5900, &c);
	if (c.messages < 45 || c.messages > 55)
		fail_msg("got %d messages in the last 600 s, want about 50",
		    c.messages);
	watch_free(w);
}

static void
test_domain_overflow(void **state __attribute__((unused)))
{
	struct watch *w = watch_new(3600);
	struct watch_counts c;
	char dom[64];

	for (int i = 0; i < WATCH_DOMAINS + 100; i++) {
		snprintf(dom, sizeof(dom), "d%d.example", i);
		send_one(w, "k", 100000, dom, 1);
	}
	watch_get(w, "k", 100000, &c);
	assert_true(c.ext_domains >= WATCH_DOMAINS);
	watch_free(w);
}

/* a key of each kind, and back */
static void
test_keys(void **state __attribute__((unused)))
{
	char k[WATCH_KEY_MAX], ip[64], snd[WATCH_KEY_MAX];
	enum watch_key_kind kind;

	assert_int_equal(watch_key_client(k, sizeof(k), "192.0.2.10"), 0);
	assert_string_equal(k, "ip:192.0.2.10");
	assert_int_equal(watch_key_parse(k, &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), 0);
	assert_int_equal(kind, WATCH_KEY_CLIENT);
	assert_string_equal(ip, "192.0.2.10");

	/* the sender folded to lowercase, ASCII only */
	assert_int_equal(watch_key_sender(k, sizeof(k), "192.0.2.10",
	    "Alice.Smith@Example.ORG"), 0);
	assert_string_equal(k, "ip:192.0.2.10/alice.smith@example.org");
	assert_int_equal(watch_key_parse(k, &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), 0);
	assert_int_equal(kind, WATCH_KEY_SENDER);
	assert_string_equal(ip, "192.0.2.10");
	assert_string_equal(snd, "alice.smith@example.org");
	assert_int_equal(watch_key_sender(k, sizeof(k), "192.0.2.10",
	    "J\xc3\x96RG@example.org"), 0);
	assert_string_equal(k, "ip:192.0.2.10/j\xc3\x96rg@example.org");

	/* IPv6: the first '/' ends the address, its colons are no separator */
	assert_int_equal(watch_key_sender(k, sizeof(k), "2001:db8::5",
	    "a/b:c@example.org"), 0);
	assert_string_equal(k, "ip:2001:db8::5/a/b:c@example.org");
	assert_int_equal(watch_key_parse(k, &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), 0);
	assert_int_equal(kind, WATCH_KEY_SENDER);
	assert_string_equal(ip, "2001:db8::5");
	assert_string_equal(snd, "a/b:c@example.org");

	/* the null sender: <> in the key, "" as the message table has it */
	assert_int_equal(watch_key_sender(k, sizeof(k), "192.0.2.10", ""), 0);
	assert_string_equal(k, "ip:192.0.2.10/<>");
	assert_int_equal(watch_key_parse(k, &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), 0);
	assert_int_equal(kind, WATCH_KEY_SENDER);
	assert_string_equal(snd, "");

	/* a user is its name */
	assert_int_equal(watch_key_parse("alice", &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), 0);
	assert_int_equal(kind, WATCH_KEY_USER);

	/* malformed ip: keys */
	assert_int_equal(watch_key_parse("ip:", &kind, ip, sizeof(ip), snd,
	    sizeof(snd)), -1);
	assert_int_equal(watch_key_parse("ip:/a@b", &kind, ip, sizeof(ip),
	    snd, sizeof(snd)), -1);
	assert_int_equal(watch_key_parse("ip:192.0.2.1/", &kind, ip,
	    sizeof(ip), snd, sizeof(snd)), -1);
	assert_int_equal(watch_key_parse("ip:evil host/a@b", &kind, ip,
	    sizeof(ip), snd, sizeof(snd)), -1);
	assert_int_equal(watch_key_parse("ip:192.0.2.1/a@b", &kind, ip, 4,
	    snd, sizeof(snd)), -1);

	/* too long for the buffer: refused, not cut */
	assert_int_equal(watch_key_sender(k, 20, "192.0.2.10",
	    "someone@example.org"), -1);
	assert_int_equal(watch_key_client(k, 5, "192.0.2.10"), -1);
}

/* suspend before hold; the window, the domains and the day each count */
static void
test_judge(void **state __attribute__((unused)))
{
	const struct watch_limits l = { 10, 5, 100, 50, 20, 500 };
	struct watch_counts win, day;

	memset(&win, 0, sizeof(win));
	memset(&day, 0, sizeof(day));
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_BELOW);
	win.ext_rcpts = 9;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_BELOW);
	win.ext_rcpts = 10;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_PAST_HOLD);
	/* the same counts against a relay client's backstop (factor 25) */
	assert_int_equal(watch_judge(&l, 25, &win, &day), WATCH_BELOW);
	win.ext_rcpts = 250;
	assert_int_equal(watch_judge(&l, 25, &win, &day), WATCH_PAST_HOLD);
	win.ext_rcpts = 1250;
	assert_int_equal(watch_judge(&l, 25, &win, &day), WATCH_PAST_SUSPEND);
	win.ext_rcpts = 0;
	win.ext_domains = 5;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_PAST_HOLD);
	win.ext_domains = 20;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_PAST_SUSPEND);
	win.ext_domains = 0;
	day.ext_rcpts = 100;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_PAST_HOLD);
	day.ext_rcpts = 500;
	assert_int_equal(watch_judge(&l, 1, &win, &day), WATCH_PAST_SUSPEND);
}

/* a relay client's senders each counted apart, and the client whole */
static void
test_senders_apart(void **state __attribute__((unused)))
{
	struct watch *w = watch_new(3600);
	struct watch_counts c;
	char k[WATCH_KEY_MAX], dom[64];

	for (int i = 0; i < 30; i++) {
		snprintf(dom, sizeof(dom), "d%d.example", i);
		watch_key_sender(k, sizeof(k), "192.0.2.10", "spam@example.org");
		send_one(w, k, 500000 + i, dom, 1);
		send_one(w, "ip:192.0.2.10", 500000 + i, dom, 1);
	}
	watch_key_sender(k, sizeof(k), "192.0.2.10", "bob@example.org");
	send_one(w, k, 500040, "partner.example", 1);
	send_one(w, "ip:192.0.2.10", 500040, "partner.example", 1);

	watch_get(w, "ip:192.0.2.10/spam@example.org", 500050, &c);
	assert_int_equal(c.ext_rcpts, 30);
	assert_int_equal(c.ext_domains, 30);
	watch_get(w, "ip:192.0.2.10/bob@example.org", 500050, &c);
	assert_int_equal(c.ext_rcpts, 1);
	assert_int_equal(c.ext_domains, 1);
	watch_get(w, "ip:192.0.2.10", 500050, &c);
	assert_int_equal(c.ext_rcpts, 31);
	assert_int_equal(c.ext_domains, 31);
	assert_int_equal(watch_size(w), 3);
	watch_free(w);
}

/* the domain set grows from a few slots; stale domains do not count */
static void
test_domain_set_grows(void **state __attribute__((unused)))
{
	struct watch *w = watch_new(600);
	struct watch_counts c;
	char dom[64];

	for (int i = 0; i < 1000; i++) {
		snprintf(dom, sizeof(dom), "d%d.example", i);
		send_one(w, "k", 10000, dom, 1);
		send_one(w, "k", 10000, dom, 1);	/* seen again: one */
	}
	watch_get(w, "k", 10000, &c);
	assert_int_equal(c.ext_domains, 1000);
	assert_int_equal(c.ext_rcpts, 2000);
	/* a window later, 100 new ones: the old ones are gone */
	for (int i = 0; i < 100; i++) {
		snprintf(dom, sizeof(dom), "n%d.example", i);
		send_one(w, "k", 10700, dom, 1);
	}
	watch_get(w, "k", 10700, &c);
	assert_int_equal(c.ext_domains, 100);
	watch_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_window),
		cmocka_unit_test(test_half_window),
		cmocka_unit_test(test_domain_overflow),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_senders_apart),
		cmocka_unit_test(test_domain_set_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
