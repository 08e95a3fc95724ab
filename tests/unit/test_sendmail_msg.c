/*
 * test_sendmail_msg.c - standard input of moat sendmail into SMTP text:
 * line ends, dot-stuffing, the lone dot, -t's recipients and Bcc, and
 * the inputs refused with the line they are on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sendmail/sendmail_msg.h"

static int
prep(const char *in, int flags, struct smsg *m, char *err)
{
	return smsg_prepare(in, strlen(in), flags, m, err, 256);
}

static void
assert_data(const struct smsg *m, const char *want)
{
	if (m->len != strlen(want) || memcmp(m->data, want, m->len) != 0)
		fail_msg("got '%.*s', want '%s'", (int)m->len, m->data, want);
}

static void
test_lines(void **state)
{
	struct smsg m;
	char err[256];

	/* LF and CRLF alike; the last line without an end gets one */
	assert_int_equal(prep("Subject: a\nB: c\r\n\r\nbody", 0, &m, err), 0);
	assert_data(&m, "Subject: a\r\nB: c\r\n\r\nbody\r\n");
	smsg_free(&m);
	/* dot-stuffing; a lone dot ends input only without -i */
	assert_int_equal(prep("S: x\n\n.a\n.\nafter\n", 0, &m, err), 0);
	assert_data(&m, "S: x\r\n\r\n..a\r\n..\r\nafter\r\n");
	smsg_free(&m);
	assert_int_equal(prep("S: x\n\n.a\n.\nafter\n", SMSG_F_DOT_ENDS, &m,
	    err), 0);
	assert_data(&m, "S: x\r\n\r\n..a\r\n");
	assert_int_equal(m.has_from, 0);
	smsg_free(&m);
	/* an 8-bit byte, the fields that are there */
	assert_int_equal(prep("From: a@b\nDate: x\nMessage-ID: <1@b>\n\n\xc3\xa9\n",
	    0, &m, err), 0);
	assert_true(m.eightbit && m.has_from && m.has_date && m.has_msgid);
	smsg_free(&m);
}

static void
test_refused(void **state)
{
	struct smsg m;
	char err[256], *big;

	assert_int_equal(prep("", 0, &m, err), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(prep("\n\r\n\n", 0, &m, err), -1);
	assert_non_null(strstr(err, "empty"));
	/* a lone dot first: nothing */
	assert_int_equal(prep(".\nlater\n", SMSG_F_DOT_ENDS, &m, err), -1);
	assert_int_equal(prep("S: x\n\na\rb\n", 0, &m, err), -1);
	assert_string_equal(err, "line 3 has a CR without LF; nothing was sent");
	assert_int_equal(smsg_prepare("S: x\n\na\0b\n", 10, 0, &m, err, 256), -1);
	assert_non_null(strstr(err, "line 3 has a NUL"));
	big = malloc(2000);
	assert_non_null(big);
	memset(big, 'a', 1999);
	big[1999] = '\0';
	big[0] = 'S', big[1] = ':', big[2] = ' ';
	big[3] = '\n';
	big[999 + 4] = '\n';	/* line 2: 999 bytes */
	assert_int_equal(prep(big, 0, &m, err), -1);
	assert_non_null(strstr(err, "line 2 is longer than 998"));
	big[998 + 4] = '\n';	/* 998: fine */
	assert_int_equal(prep(big, 0, &m, err), 0);
	smsg_free(&m);
	free(big);
}

static void
test_header_rcpts(void **state)
{
	struct smsg m;
	char err[256];
	const char *in =
	    "From: me@here\n"
	    "To: \"Doe, John\" <john@a.example>, plain@b.example (comment)\n"
	    "Cc: Friends: x@c.example, <@relay.example:y@d.example>;\n"
	    "Bcc: hidden@e.example,\n"
	    "\tmore@f.example\n"
	    "bcc: again@g.example\n"
	    "Subject: to: not@this.example\n"
	    "\n"
	    "To: body@not.example\n";

	assert_int_equal(prep(in, SMSG_F_HEADER_RCPTS, &m, err), 0);
	assert_int_equal(m.n_rcpts, 7);
	assert_string_equal(m.rcpts[0], "john@a.example");
	assert_string_equal(m.rcpts[1], "plain@b.example");
	assert_string_equal(m.rcpts[2], "x@c.example");
	assert_string_equal(m.rcpts[3], "y@d.example");
	assert_string_equal(m.rcpts[4], "hidden@e.example");
	assert_string_equal(m.rcpts[5], "more@f.example");
	assert_string_equal(m.rcpts[6], "again@g.example");
	/* the Bcc fields and their continuation lines are gone */
	assert_null(strstr(m.data, "hidden"));
	assert_null(strstr(m.data, "more@"));
	assert_null(strstr(m.data, "again@"));
	assert_non_null(strstr(m.data, "Subject: to: not@this.example\r\n"));
	smsg_free(&m);
	/* without -t nothing is collected and Bcc stays */
	assert_int_equal(prep(in, 0, &m, err), 0);
	assert_int_equal(m.n_rcpts, 0);
	assert_non_null(strstr(m.data, "Bcc: hidden"));
	smsg_free(&m);
	/* an empty group, no header at all */
	assert_int_equal(prep("To: undisclosed-recipients:;\n\nx\n",
	    SMSG_F_HEADER_RCPTS, &m, err), 0);
	assert_int_equal(m.n_rcpts, 0);
	smsg_free(&m);
	assert_int_equal(prep("just a body\n", SMSG_F_HEADER_RCPTS, &m, err), 0);
	assert_int_equal(m.n_rcpts, 0);
	smsg_free(&m);
	/* an address with a space or a control byte is never a recipient */
	assert_int_equal(prep("To: a b@c.example\n\nx\n", SMSG_F_HEADER_RCPTS,
	    &m, err), -1);
	assert_non_null(strstr(err, "bad recipient"));
	assert_int_equal(prep("To: <a\x01@c.example>\n\nx\n",
	    SMSG_F_HEADER_RCPTS, &m, err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_header_rcpts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
