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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_window),
		cmocka_unit_test(test_half_window),
		cmocka_unit_test(test_domain_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
