/*
 * test_bounce.c - what of the original a DSN returns: all of it
 * (RET=FULL), its header section (RET=HDRS, also without a blank line),
 * or nothing (a message from an outsider).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "io/proto.h"
#include "queue/bounce.h"

static char *
build(const char *msg, int ret, int omit)
{
	struct bounce_rcpt r = { "bob@far.example", "rfc822;bob@far.example",
	    "550 5.1.1 no such user", "mx.far.example", 0 };
	struct bounce_info b = { 0 };
	char *out;
	size_t len;

	b.hostname = "mx.test.example";
	b.qid = "Q1";
	b.sender = "alice@example.org";
	b.envid = "e1";
	b.ret = ret;
	b.omit_original = omit;
	b.arrival = 1700000000;
	b.now = 1700000100;
	b.msg = (const uint8_t *)msg;
	b.len = strlen(msg);
	b.rcpts = &r;
	b.n = 1;
	assert_int_equal(bounce_build(&b, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

static void
test_hdrs_stops_at_blank_line(void **state __attribute__((unused)))
{
	char *out = build("Subject: s\r\nX-Long: a\r\n\tcontinued\r\n\r\n"
	    "BODY\r\n", PROTO_RET_HDRS, 0);

	assert_non_null(strstr(out, "text/rfc822-headers"));
	assert_non_null(strstr(out, "X-Long: a\r\n\tcontinued\r\n"));
	assert_null(strstr(out, "BODY"));
	/* the text says what is attached: the headers, not the message */
	assert_null(strstr(out, "It is attached below"));
	assert_non_null(strstr(out, "Its header section is attached below, "
	    "not the whole message."));
	free(out);
}

/* no blank line: the header fields only, not the text after them */
static void
test_hdrs_without_blank_line(void **state __attribute__((unused)))
{
	char *out = build("Subject: s\r\nX-A: b\r\n\tc\r\nBODY one\r\n"
	    "Fake: header after the body\r\n", PROTO_RET_HDRS, 0);

	assert_non_null(strstr(out, "Subject: s\r\nX-A: b\r\n\tc\r\n"));
	assert_null(strstr(out, "BODY"));
	assert_null(strstr(out, "Fake:"));
	free(out);
	/* nothing but text: no header at all */
	out = build("just text\r\nmore\r\n", PROTO_RET_HDRS, 0);
	assert_null(strstr(out, "just text"));
	free(out);
	/* RET absent is headers too */
	out = build("Subject: s\r\nBODY\r\n", PROTO_RET_NONE, 0);
	assert_null(strstr(out, "BODY"));
	assert_non_null(strstr(out, "Subject: s"));
	free(out);
}

static void
test_full(void **state __attribute__((unused)))
{
	char *out = build("Subject: s\r\n\r\nBODY\r\n", PROTO_RET_FULL, 0);
	char *big;

	assert_non_null(strstr(out, "message/rfc822"));
	assert_non_null(strstr(out, "BODY"));
	assert_non_null(strstr(out, "It is attached below."));
	assert_null(strstr(out, "header section"));
	free(out);
	/* too large for RET=FULL: headers only, and the text says so */
	big = malloc(BOUNCE_FULL_MAX + 64);
	assert_non_null(big);
	memset(big, 'x', BOUNCE_FULL_MAX + 63);
	memcpy(big, "Subject: s\r\n\r\n", 14);
	big[BOUNCE_FULL_MAX + 63] = '\0';
	out = build(big, PROTO_RET_FULL, 0);
	assert_non_null(strstr(out, "text/rfc822-headers"));
	assert_null(strstr(out, "It is attached below"));
	assert_non_null(strstr(out, "too large to return: its header "
	    "section is attached below"));
	free(out);
	free(big);
}

/* an outsider's message: the report, nothing of what it sent */
static void
test_omit_original(void **state __attribute__((unused)))
{
	static const int rets[] = { PROTO_RET_NONE, PROTO_RET_HDRS,
	    PROTO_RET_FULL };

	for (size_t i = 0; i < sizeof(rets) / sizeof(rets[0]); i++) {
		char *out = build("Subject: SPAM\r\n\r\nBODY\r\n", rets[i], 1);

		assert_null(strstr(out, "SPAM"));
		assert_null(strstr(out, "BODY"));
		assert_null(strstr(out, "rfc822-headers"));
		assert_null(strstr(out, "message/rfc822"));
		assert_non_null(strstr(out, "message/delivery-status"));
		assert_non_null(strstr(out, "Status: 5.1.1"));
		assert_non_null(strstr(out, "not returned"));
		free(out);
	}
}

/* a UTF-8 ORCPT is written in its ASCII form, never with a '?' */
static void
test_orcpt_forms(void **state __attribute__((unused)))
{
	struct bounce_rcpt r[2] = {
		{ "a@far.example", "rfc822;a+b@far.example", "550 5.1.1 no",
		  "", 0 },
		{ "b@far.example", "utf-8;\xc3\xa9@far.example", "550 5.1.1 no",
		  "", 0 },
	};
	struct bounce_info b = { 0 };
	char *out;
	size_t len;

	b.hostname = "mx.test.example";
	b.qid = "Q2";
	b.sender = "alice@example.org";
	b.msg = (const uint8_t *)"Subject: s\r\n\r\nx\r\n";
	b.len = strlen((const char *)b.msg);
	b.rcpts = r;
	b.n = 2;
	assert_int_equal(bounce_build(&b, &out, &len), 0);
	assert_non_null(strstr(out,
	    "Original-Recipient: rfc822;a+b@far.example\r\n"));
	assert_non_null(strstr(out,
	    "Original-Recipient: utf-8;\\x{E9}@far.example\r\n"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdrs_stops_at_blank_line),
		cmocka_unit_test(test_hdrs_without_blank_line),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_omit_original),
		cmocka_unit_test(test_orcpt_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
