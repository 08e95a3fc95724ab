/*
 * test_sched.c - retry backoff and the DSN message (bounce.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "io/proto.h"
#include "queue/bounce.h"
#include "queue/sched.h"

static void
test_backoff(void **state)
{
	static const struct { int attempts; int64_t min, max, want; } t[] = {
		{ 0, 300, 14400, 300 }, { 1, 300, 14400, 600 },
		{ 2, 300, 14400, 1200 }, { 3, 300, 14400, 2400 },
		{ 4, 300, 14400, 4800 }, { 5, 300, 14400, 9600 },
		{ 6, 300, 14400, 14400 }, { 7, 300, 14400, 14400 },
		{ 1000, 300, 14400, 14400 }, { 1000000, 1, 604800, 604800 },
		{ 0, 1, 1, 1 }, { 3, 1, 4, 4 }, { 2, 2, 100, 8 },
		{ 0, 600, 300, 300 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t got = sched_backoff(t[i].attempts, t[i].min, t[i].max);

		if (got != t[i].want)
			fail_msg("attempts %d min %lld max %lld: got %lld, want "
			    "%lld", t[i].attempts, (long long)t[i].min,
			    (long long)t[i].max, (long long)got,
			    (long long)t[i].want);
	}
}

static void
test_status(void **state)
{
	static const struct { const char *reply, *want; } t[] = {
		{ "550 5.1.1 no such user", "5.1.1" },
		{ "550 no such user", "5.0.0" },
		{ "452 4.2.2 mailbox full", "4.2.2" },
		{ "554 4.1.1 inconsistent class", "5.0.0" },
		{ "550 5.7.1", "5.7.1" },
		{ "550 5.x.1 junk", "5.0.0" },
		{ "", "5.0.0" },
		{ "500 4.4.7 message expired", "5.0.0" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bounce_status(t[i].reply, buf, sizeof(buf));
		if (strcmp(buf, t[i].want) != 0)
			fail_msg("%s: got %s, want %s", t[i].reply, buf,
			    t[i].want);
	}
}

static const char original[] =
    "Received: from client\r\n"
    "From: <alice@example.org>\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "the body line\r\n";

static char *
build(int ret, const struct bounce_rcpt *r, size_t n, size_t *len)
{
	struct bounce_info b = {
		.hostname = "mx.example.org", .qid = "0123456789ab",
		.sender = "alice@example.org", .envid = "ENV1", .ret = ret,
		.arrival = 1700000000, .now = 1700000100,
		.msg = (const uint8_t *)original, .len = sizeof(original) - 1,
		.rcpts = r, .n = n,
	};
	char *out;

	assert_int_equal(bounce_build(&b, &out, len), 0);
	assert_int_equal(strlen(out), *len);
	return out;
}

static void
test_dsn(void **state)
{
	struct bounce_rcpt r[2] = {
		{ "bob@remote.example", "rfc822;bob@remote.example",
		    "550 5.1.1 <bob@remote.example>: user unknown",
		    "mx.remote.example", 0 },
		{ "eve@remote.example", NULL, "554 nasty\r\nInjected: yes", "",
		    0 },
	};
	size_t len;
	char *m = build(PROTO_RET_HDRS, r, 2, &len);

	assert_non_null(strstr(m, "\r\nTo: <alice@example.org>\r\n"));
	assert_non_null(strstr(m, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.example.org>\r\n"));
	assert_non_null(strstr(m, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_non_null(strstr(m, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(m, "Reporting-MTA: dns; mx.example.org\r\n"));
	assert_non_null(strstr(m, "Original-Envelope-Id: ENV1\r\n"));
	assert_non_null(strstr(m, "Final-Recipient: rfc822; bob@remote.example\r\n"
	    "Original-Recipient: rfc822;bob@remote.example\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.example\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: user "
	    "unknown\r\n"));
	/* a CR LF in a reply never starts a header of its own */
	assert_null(strstr(m, "\r\nInjected: yes"));
	assert_non_null(strstr(m, "554 nasty??Injected: yes"));
	assert_non_null(strstr(m, "Status: 5.0.0\r\n"));
	/* RET=HDRS: the headers, not the body */
	assert_non_null(strstr(m, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: from client\r\n"));
	assert_non_null(strstr(m, "Subject: hello\r\n"));
	assert_null(strstr(m, "the body line"));
	/* every line ends in CR LF */
	for (size_t i = 0; i < len; i++)
		if (m[i] == '\n')
			assert_true(i > 0 && m[i - 1] == '\r');
	free(m);

	m = build(PROTO_RET_FULL, r, 1, &len);
	assert_non_null(strstr(m, "Content-Type: message/rfc822\r\n\r\n"
	    "Received: from client\r\n"));
	assert_non_null(strstr(m, "the body line\r\n"));
	assert_null(strstr(m, "eve@remote.example"));
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_dsn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
