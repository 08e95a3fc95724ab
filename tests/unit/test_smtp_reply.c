/*
 * test_smtp_reply.c - the reader of an SMTP server's replies (the mta's
 * and relaytest's): single and multi-line replies, codes, refusals,
 * truncation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mail/smtp_reply.h"

/* feed lines until one answers other than MORE; that answer */
static int
feed(struct smtp_reply_buf *r, const char *const *lines, int *code)
{
	int rc = SMTP_REPLY_BAD;

	for (; *lines != NULL; lines++)
		if ((rc = smtp_reply_line(r, *lines, strlen(*lines), code)) !=
		    SMTP_REPLY_MORE)
			break;
	return rc;
}

static void
test_single(void **state)
{
	char buf[64];
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 1 };
	const char *l1[] = { "250 2.1.0 Ok", NULL };
	const char *l2[] = { "354", NULL };
	int code = 0;

	assert_int_equal(feed(&r, l1, &code), SMTP_REPLY_DONE);
	assert_int_equal(code, 250);
	assert_string_equal(buf, "250 2.1.0 Ok");
	assert_int_equal(r.len, 0);
	assert_int_equal(feed(&r, l2, &code), SMTP_REPLY_DONE);
	assert_int_equal(code, 354);
	assert_string_equal(buf, "354");
}

static void
test_multi_joined(void **state)
{
	char buf[64];
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 1 };
	const char *l[] = { "550-5.1.1 no such", "550-user", "550 here", NULL };
	int code = 0;

	assert_int_equal(feed(&r, l, &code), SMTP_REPLY_DONE);
	assert_int_equal(code, 550);
	assert_string_equal(buf, "550-5.1.1 no such user here");
}

static void
test_multi_not_joined(void **state)
{
	char buf[64];
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 0 };
	const char *l[] = { "250-mx.example", "250-PIPELINING", "250 SIZE",
	    NULL };
	int code = 0;

	assert_int_equal(feed(&r, l, &code), SMTP_REPLY_DONE);
	assert_int_equal(code, 250);
	assert_string_equal(buf, "250-mx.example");
}

static void
test_refused(void **state)
{
	static const char *const bad[] = { "", "25", "2x0 ok", "250x", "abc",
	    "250_ok", "099 low", "600 high", "000", "999 x", NULL };
	char buf[64];
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 1 };
	const char *changed[] = { "250-first", "550 second", NULL };
	char longline[SMTP_REPLY_LINE_MAX + 2];
	int code = 0;

	for (const char *const *p = bad; *p != NULL; p++) {
		r.len = 0;
		assert_int_equal(smtp_reply_line(&r, *p, strlen(*p), &code),
		    SMTP_REPLY_BAD);
	}
	/* a continuation line may not change the code */
	r.len = 0;
	assert_int_equal(feed(&r, changed, &code), SMTP_REPLY_BAD);
	/* a line over SMTP_REPLY_LINE_MAX */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "250 ", 4);
	r.len = 0;
	assert_int_equal(smtp_reply_line(&r, longline, SMTP_REPLY_LINE_MAX + 1, &code),
	    SMTP_REPLY_BAD);
	assert_int_equal(smtp_reply_line(&r, longline, SMTP_REPLY_LINE_MAX, &code),
	    SMTP_REPLY_DONE);
}

static void
test_cut_and_nul(void **state)
{
	char buf[16];
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 1 };
	const char *l[] = { "451-4.3.0 a very long first line", "451 more",
	    NULL };
	static const char withnul[] = "250 ok\0injected";
	int code = 0;

	assert_int_equal(feed(&r, l, &code), SMTP_REPLY_DONE);
	assert_int_equal(code, 451);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_memory_equal(buf, "451-4.3.0 a ver", sizeof(buf));
	/* the text stops at a NUL byte */
	assert_int_equal(smtp_reply_line(&r, withnul, sizeof(withnul) - 1,
	    &code), SMTP_REPLY_DONE);
	assert_string_equal(buf, "250 ok");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_multi_joined),
		cmocka_unit_test(test_multi_not_joined),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cut_and_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
