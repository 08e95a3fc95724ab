/*
 * test_smtp_parse.c - command lines, MAIL/RCPT parameters, the DATA machine.
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
#include "smtp/smtp_parse.h"

static void
test_commands(void **state __attribute__((unused)))
{
	static const struct {
		const char	*line;
		enum smtp_verb	 verb;
		const char	*args;
		int		 rc;
	} cases[] = {
		{ "EHLO client.example", SMTP_CMD_EHLO, "client.example", 0 },
		{ "ehlo client.example", SMTP_CMD_EHLO, "client.example", 0 },
		{ "HELO x  ", SMTP_CMD_HELO, "x", 0 },
		{ "MAIL FROM:<a@b.example> SIZE=10", SMTP_CMD_MAIL,
		  "FROM:<a@b.example> SIZE=10", 0 },
		{ "rcpt TO:<x@y>", SMTP_CMD_RCPT, "TO:<x@y>", 0 },
		{ "DATA", SMTP_CMD_DATA, "", 0 },
		{ "QUIT", SMTP_CMD_QUIT, "", 0 },
		{ "STARTTLS", SMTP_CMD_STARTTLS, "", 0 },
		{ "AUTH PLAIN AGFsaWNlAHB3", SMTP_CMD_AUTH, "PLAIN AGFsaWNlAHB3", 0 },
		{ "DATAX", SMTP_CMD_UNKNOWN, "", 0 },
		{ "MAI", SMTP_CMD_UNKNOWN, "", 0 },
		{ "", SMTP_CMD_UNKNOWN, "", 0 },
		{ "NOOP\r", SMTP_CMD_UNKNOWN, "", -1 },	/* bare CR */
		{ "NO\x01OP", SMTP_CMD_UNKNOWN, "", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_cmd c;
		int rc = smtp_parse_cmd(cases[i].line, strlen(cases[i].line), &c);

		if (rc != cases[i].rc)
			fail_msg("%s: rc got %d, want %d", cases[i].line, rc, cases[i].rc);
		if (rc == 0 && c.verb != cases[i].verb)
			fail_msg("%s: verb got %d, want %d", cases[i].line, c.verb,
			    cases[i].verb);
		if (rc == 0 && (c.argslen != strlen(cases[i].args) ||
		    memcmp(c.args, cases[i].args, c.argslen) != 0))
			fail_msg("%s: args got '%.*s', want '%s'", cases[i].line,
			    (int)c.argslen, c.args, cases[i].args);
	}
	/* NUL inside a line */
	{
		struct smtp_cmd c;

		assert_int_equal(smtp_parse_cmd("NOOP\0x", 6, &c), -1);
	}
}

static void
test_mail_params(void **state __attribute__((unused)))
{
	static const struct {
		const char		*args;
		enum smtp_param_err	 err;
		long			 size;
		int			 utf8, ret;
		const char		*envid;
	} cases[] = {
		{ "FROM:<a@b.example>", SMTP_PARAM_OK, -1, 0, 0, "" },
		{ "FROM: <a@b.example>", SMTP_PARAM_OK, -1, 0, 0, "" },
		{ "FROM:<>", SMTP_PARAM_OK, -1, 0, 0, "" },
		{ "FROM:<a@b.example> SIZE=1000 BODY=8BITMIME", SMTP_PARAM_OK, 1000, 0, 0, "" },
		{ "FROM:<a@b.example> RET=HDRS ENVID=abc+2Bdef", SMTP_PARAM_OK, -1, 0,
		  PROTO_RET_HDRS, "abc+def" },
		{ "FROM:<\xc3\xa9t\xc3\xa9@b.example> SMTPUTF8", SMTP_PARAM_OK, -1, 1, 0, "" },
		{ "FROM:<\xc3\xa9t\xc3\xa9@b.example>", SMTP_PARAM_ADDR_UTF8, -1, 0, 0, "" },
		{ "FROM:a@b.example", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "TO:<a@b.example>", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example>x", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@@b.example>", SMTP_PARAM_ADDR, -1, 0, 0, "" },
		{ "FROM:<postmaster>", SMTP_PARAM_ADDR, -1, 0, 0, "" },
		{ "FROM:<a@b.example> SIZE=abc", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> SIZE=", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> BODY=9BIT", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> RET=ALL", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=a+zz", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=a+2", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> X-FOO=1", SMTP_PARAM_UNKNOWN, -1, 0, 0, "" },
		{ "FROM:<a@b.example> AUTH=<>", SMTP_PARAM_OK, -1, 0, 0, "" },
		{ "FROM:<a@b.example> AUTH=a+40b.example", SMTP_PARAM_OK, -1, 0, 0,
		  "" },
		/* a decoded control byte would split the line where it is
		 * written back: refused, 501 5.5.4 */
		{ "FROM:<a@b.example> ENVID=x+0D+0ARCPT+20TO:<v@c.example>",
		  SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+0A", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+00y", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+09y", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+7Fy", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+1F", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> ENVID=x+20y+C3+A9", SMTP_PARAM_OK, -1, 0, 0,
		  "x y\xc3\xa9" },
		{ "FROM:<a@b.example> AUTH=x+0D+0AQUIT", SMTP_PARAM_SYNTAX, -1, 0, 0,
		  "" },
		{ "FROM:<a@b.example> AUTH=x+00", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
		{ "FROM:<a@b.example> AUTH=a+zz", SMTP_PARAM_SYNTAX, -1, 0, 0, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_mail_params p;
		const char *why;
		enum smtp_param_err e = smtp_parse_mail(cases[i].args,
		    strlen(cases[i].args), &p, &why);

		if (e != cases[i].err)
			fail_msg("%s: got %d (%s), want %d", cases[i].args, e, why,
			    cases[i].err);
		if (e != SMTP_PARAM_OK)
			continue;
		if (p.size != cases[i].size)
			fail_msg("%s: size got %ld, want %ld", cases[i].args, p.size,
			    cases[i].size);
		if (p.smtputf8 != cases[i].utf8 || p.ret != cases[i].ret)
			fail_msg("%s: utf8/ret got %d/%d", cases[i].args, p.smtputf8, p.ret);
		if (strcmp(p.envid, cases[i].envid) != 0)
			fail_msg("%s: envid got '%s', want '%s'", cases[i].args, p.envid,
			    cases[i].envid);
	}
}

static void
test_rcpt_params(void **state __attribute__((unused)))
{
	static const struct {
		const char		*args;
		enum smtp_param_err	 err;
		int			 notify;
		const char		*orcpt;
	} cases[] = {
		{ "TO:<a@b.example>", SMTP_PARAM_OK, 0, "" },
		{ "TO:<postmaster>", SMTP_PARAM_OK, 0, "" },
		{ "TO:<a@b.example> NOTIFY=SUCCESS,FAILURE", SMTP_PARAM_OK,
		  PROTO_NOTIFY_SUCCESS | PROTO_NOTIFY_FAILURE, "" },
		{ "TO:<a@b.example> NOTIFY=NEVER", SMTP_PARAM_OK, PROTO_NOTIFY_NEVER, "" },
		{ "TO:<a@b.example> NOTIFY=NEVER,DELAY", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> NOTIFY=SOMETIMES", SMTP_PARAM_SYNTAX, 0, "" },
		/* found by fuzz_cmd: NOTIFY without a value */
		{ "TO:<a@b.example> NOTIFY", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=rfc822;a@b.example", SMTP_PARAM_OK, 0,
		  "rfc822;a@b.example" },
		{ "TO:<a@b.example> ORCPT=nosemicolon", SMTP_PARAM_SYNTAX, 0, "" },
		/* stored decoded, encoded again where written */
		{ "TO:<a@b.example> ORCPT=rfc822;a+2Bx@b.example", SMTP_PARAM_OK, 0,
		  "rfc822;a+x@b.example" },
		{ "TO:<a@b.example> ORCPT=rfc822;x+0D+0ARCPT+20TO:<v@c.example>",
		  SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=rfc822;x+00", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=rfc822;x+7F", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=rfc+0D822;a@b.example", SMTP_PARAM_SYNTAX,
		  0, "" },
		{ "TO:<a@b.example> ORCPT=rfc<822;a@b.example", SMTP_PARAM_SYNTAX, 0,
		  "" },
		{ "TO:<a@b.example> ORCPT=;a@b.example", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=rfc822;", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=utf-8;x\\x{D}y", SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<a@b.example> ORCPT=utf-8;\\x{E9}t\\x{e9}@b.example",
		  SMTP_PARAM_OK, 0, "utf-8;\xc3\xa9t\xc3\xa9@b.example" },
		/* raw UTF-8 needs SMTPUTF8 (not given here) */
		{ "TO:<a@b.example> ORCPT=utf-8;\xc3\xa9@b.example",
		  SMTP_PARAM_SYNTAX, 0, "" },
		{ "TO:<>", SMTP_PARAM_ADDR, 0, "" },
		{ "TO:<a@b.example> SIZE=1", SMTP_PARAM_UNKNOWN, 0, "" },
		{ "TO:<@relay.example:a@b.example>", SMTP_PARAM_OK, 0, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_rcpt_params p;
		const char *why;
		enum smtp_param_err e = smtp_parse_rcpt(cases[i].args,
		    strlen(cases[i].args), 0, &p, &why);

		if (e != cases[i].err)
			fail_msg("%s: got %d (%s), want %d", cases[i].args, e, why,
			    cases[i].err);
		if (e != SMTP_PARAM_OK)
			continue;
		if (p.notify != cases[i].notify)
			fail_msg("%s: notify got %d, want %d", cases[i].args, p.notify,
			    cases[i].notify);
		if (strcmp(p.orcpt, cases[i].orcpt) != 0)
			fail_msg("%s: orcpt got '%s', want '%s'", cases[i].args, p.orcpt,
			    cases[i].orcpt);
	}
}

struct sink {
	char	buf[8192];
	size_t	len;
};

static void
sink_emit(void *arg, const char *p, size_t len)
{
	struct sink *s = arg;

	assert_true(s->len + len < sizeof(s->buf));
	memcpy(s->buf + s->len, p, len);
	s->len += len;
}

/* feed in one piece and byte by byte: both must agree */
static void
run_data(const char *in, size_t inlen, size_t max, enum smtp_data_err *err,
    int *done, size_t *consumed, struct sink *out)
{
	struct smtp_data d;
	struct sink bytewise;
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	smtp_data_init(&d, max, 3);
	*consumed = smtp_data_feed(&d, in, inlen, sink_emit, out);
	*err = d.err;
	*done = d.done;

	memset(&bytewise, 0, sizeof(bytewise));
	smtp_data_init(&d, max, 3);
	while (used < inlen && !d.done)
		used += smtp_data_feed(&d, in + used, 1, sink_emit, &bytewise);
	/* output is only meaningful for a message without errors */
	if (used != *consumed || d.err != *err || d.done != *done ||
	    (*err == SMTP_DATA_OK && (bytewise.len != out->len ||
	    memcmp(bytewise.buf, out->buf, out->len) != 0)))
		fail_msg("byte-by-byte feeding disagrees on '%.*s'", (int)inlen, in);
}

static void
test_data(void **state __attribute__((unused)))
{
	static const struct {
		const char		*in;
		size_t			 max;
		enum smtp_data_err	 err;
		int			 done;
		const char		*out;		/* when ok */
		size_t			 left;		/* bytes after the end */
	} cases[] = {
		{ "Subject: x\r\n\r\nbody\r\n.\r\n", 1000, SMTP_DATA_OK, 1,
		  "Subject: x\r\n\r\nbody\r\n", 0 },
		{ ".\r\n", 1000, SMTP_DATA_OK, 1, "", 0 },
		{ "a\r\n..b\r\n.\r\nQUIT\r\n", 1000, SMTP_DATA_OK, 1, "a\r\n.b\r\n", 6 },
		{ "a\r\n.\r\nMAIL FROM:<x@y>\r\n", 1000, SMTP_DATA_OK, 1, "a\r\n", 17 },
		/* smuggling: none of these end the message */
		{ "a\n.\nMAIL FROM:<x@y>\r\n", 1000, SMTP_DATA_BARE_EOL, 0, NULL, 0 },
		{ "a\n.\r\nMAIL FROM:<x@y>\r\n", 1000, SMTP_DATA_BARE_EOL, 0, NULL, 0 },
		{ "a\r.\rMAIL FROM:<x@y>\r\n", 1000, SMTP_DATA_BARE_EOL, 0, NULL, 0 },
		{ "a\r\n.\nMAIL FROM:<x@y>\r\n", 1000, SMTP_DATA_BARE_EOL, 0, NULL, 0 },
		{ "a\r\n.\r\r\n", 1000, SMTP_DATA_BARE_EOL, 0, NULL, 0 },
		/* ...and the real end after them is still found */
		{ "a\n.\nb\r\n.\r\n", 1000, SMTP_DATA_BARE_EOL, 1, NULL, 0 },
		{ "a\0b\r\n.\r\n", 1000, SMTP_DATA_NUL, 1, NULL, 0 },
		{ "0123456789\r\n.\r\n", 5, SMTP_DATA_TOO_BIG, 1, NULL, 0 },
		{ "Received: a\r\nReceived: b\r\nreceived: c\r\nReceived: d\r\n\r\n.\r\n",
		  1000, SMTP_DATA_TOO_MANY_HOPS, 1, NULL, 0 },
		{ "X: 1\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n.\r\n",
		  1000, SMTP_DATA_OK, 1,
		  "X: 1\r\n\r\nReceived: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t inlen = strlen(cases[i].in), consumed;
		enum smtp_data_err err;
		int done;
		struct sink out;

		/* the NUL case has an embedded NUL: compute its real length */
		if (strstr(cases[i].in, "a") == cases[i].in && cases[i].err == SMTP_DATA_NUL)
			inlen = 8;
		run_data(cases[i].in, inlen, cases[i].max, &err, &done, &consumed, &out);
		if (err != cases[i].err)
			fail_msg("case %zu: err got %d, want %d", i, err, cases[i].err);
		if (done != cases[i].done)
			fail_msg("case %zu: done got %d, want %d", i, done, cases[i].done);
		if (done && inlen - consumed != cases[i].left)
			fail_msg("case %zu: left got %zu, want %zu", i, inlen - consumed,
			    cases[i].left);
		if (cases[i].out && (out.len != strlen(cases[i].out) ||
		    memcmp(out.buf, cases[i].out, out.len) != 0))
			fail_msg("case %zu: out got '%.*s', want '%s'", i, (int)out.len,
			    out.buf, cases[i].out);
	}
}

static void
test_data_long_line(void **state __attribute__((unused)))
{
	char buf[1100];
	size_t consumed;
	enum smtp_data_err err;
	int done;
	struct sink out;

	/* 998 characters + CRLF is the longest legal line */
	memset(buf, 'x', 998);
	memcpy(buf + 998, "\r\n.\r\n", 5);
	run_data(buf, 1003, 100000, &err, &done, &consumed, &out);
	assert_int_equal(err, SMTP_DATA_OK);
	assert_int_equal(done, 1);
	memset(buf, 'x', 999);
	memcpy(buf + 999, "\r\n.\r\n", 5);
	run_data(buf, 1004, 100000, &err, &done, &consumed, &out);
	assert_int_equal(err, SMTP_DATA_LONG_LINE);
	assert_int_equal(done, 1);
}

static void
sink_none(void *arg, const char *p, size_t len)
{
	(void)arg;
	(void)p;
	(void)len;
}

/* the first Message-ID of the header section, fed whole and bytewise */
static void
test_data_msgid(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		const char	*want;
	} cases[] = {
		{ "Subject: x\r\nMessage-ID: <a1@b.example>\r\n\r\nbody\r\n"
		  ".\r\n", "<a1@b.example>" },
		{ "message-id:<lower@case>\r\n\r\n.\r\n", "<lower@case>" },
		{ "Message-ID:\r\n  <folded@x.example>  \r\nTo: y\r\n\r\n"
		  ".\r\n", "<folded@x.example>" },
		{ "Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n\r\n"
		  ".\r\n", "<first@x>" },
		{ "Subject: no id\r\n\r\nMessage-ID: <in@body>\r\n.\r\n",
		  "" },
		{ "X-Message-ID: <not@this>\r\n\r\n.\r\n", "" },
		{ "Message-IDs: <nor@this>\r\n\r\n.\r\n", "" },
		{ "Subject: x\r\n Message-ID: <continuation@x>\r\n\r\n"
		  ".\r\n", "" },
		{ "..Message-ID: <stuffed@x>\r\n\r\n.\r\n", "" },
		{ ".\r\n", "" },
	};
	char big[600];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_data d, b;
		size_t len = strlen(cases[i].in);

		smtp_data_init(&d, 1 << 20, 3);
		smtp_data_feed(&d, cases[i].in, len, sink_none, NULL);
		if (strcmp(smtp_data_msgid(&d), cases[i].want) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i,
			    smtp_data_msgid(&d), cases[i].want);
		smtp_data_init(&b, 1 << 20, 3);
		for (size_t k = 0; k < len; k++)
			smtp_data_feed(&b, cases[i].in + k, 1, sink_none, NULL);
		assert_string_equal(smtp_data_msgid(&b), cases[i].want);
	}
	/* a long one is cut at SMTP_MSGID_MAX bytes */
	{
		struct smtp_data d;

		snprintf(big, sizeof(big), "Message-ID: <%0400d>\r\n\r\n.\r\n",
		    0);
		smtp_data_init(&d, 1 << 20, 3);
		smtp_data_feed(&d, big, strlen(big), sink_none, NULL);
		assert_int_equal(strlen(smtp_data_msgid(&d)), SMTP_MSGID_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_data_long_line),
		cmocka_unit_test(test_data_msgid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
