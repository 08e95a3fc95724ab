/*
 * test_relaytest.c - the pure parts of the relay battery: reply parsing
 * (multi-line, partial, malformed), domain checks, the table of tricks
 * for given domains, the smuggling payloads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relaytest/relaytest.h"

/* relaytest_reply_parse: input, want result, code, lines, text, consumed */
static const struct {
	const char	*in;
	int		 rc;
	int		 code;
	int		 lines;
	const char	*text;
	size_t		 consumed;	/* 0: the whole input */
} replies[] = {
	{ "220 mx.example ESMTP\r\n", 1, 220, 1, "mx.example ESMTP", 0 },
	{ "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1, 250, 3,
	    "mx.example", 0 },
	{ "250\r\n", 1, 250, 1, "", 0 },
	{ "250-\r\n250 \r\n", 1, 250, 2, "", 0 },
	{ "354 go ahead\n", 1, 354, 1, "go ahead", 0 },		/* bare LF */
	{ "554 5.7.1 no\r\n250 2.0.0 next\r\n", 1, 554, 1, "5.7.1 no", 14 },
	{ "250-a\r\n250 b\r\n221 bye\r\n", 1, 250, 2, "a", 14 },
	{ "550 bad\x01\x7f byte\r\n", 1, 550, 1, "bad?? byte", 0 },
	/* incomplete: wait for more */
	{ "", 0, 0, 0, "", 0 },
	{ "25", 0, 0, 0, "", 0 },
	{ "250 ok", 0, 0, 0, "", 0 },
	{ "250-one\r\n", 0, 0, 0, "", 0 },
	{ "250-one\r\n250 two", 0, 0, 0, "", 0 },
	/* malformed */
	{ "hello\r\n", -1, 0, 0, "", 0 },
	{ "25\r\n", -1, 0, 0, "", 0 },
	{ "2500 x\r\n", -1, 0, 0, "", 0 },
	{ "250_x\r\n", -1, 0, 0, "", 0 },
	{ "650 x\r\n", -1, 0, 0, "", 0 },
	{ "050 x\r\n", -1, 0, 0, "", 0 },
	{ "250-a\r\n251 b\r\n", -1, 0, 0, "", 0 },	/* codes differ */
	{ "250-a\r\n\r\n", -1, 0, 0, "", 0 },
};

static void
test_reply_parse(void **state)
{
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct relaytest_reply r;
		size_t used = 99, len = strlen(replies[i].in);
		int rc = relaytest_reply_parse(replies[i].in, len, &r, &used);

		if (rc != replies[i].rc)
			fail_msg("reply %zu '%s': got rc %d, want %d", i,
			    replies[i].in, rc, replies[i].rc);
		if (rc != 1) {
			if (used != 0)
				fail_msg("reply %zu: got consumed %zu, want 0",
				    i, used);
			continue;
		}
		if (r.code != replies[i].code || r.lines != replies[i].lines)
			fail_msg("reply %zu: got code %d lines %d, want %d %d",
			    i, r.code, r.lines, replies[i].code,
			    replies[i].lines);
		if (strcmp(r.text, replies[i].text) != 0)
			fail_msg("reply %zu: got text '%s', want '%s'", i,
			    r.text, replies[i].text);
		if (used != (replies[i].consumed ? replies[i].consumed : len))
			fail_msg("reply %zu: got consumed %zu, want %zu", i,
			    used, replies[i].consumed ? replies[i].consumed :
			    len);
	}
}

/* limits: an endless line and an endless multi-line reply are errors */
static void
test_reply_limits(void **state)
{
	struct relaytest_reply r;
	size_t used, n = 0;
	char *buf = malloc(RELAYTEST_REPLY_MAX + 64);

	assert_non_null(buf);
	memset(buf, 'x', RELAYTEST_LINE_MAX + 10);
	memcpy(buf, "250 ", 4);
	assert_int_equal(relaytest_reply_parse(buf, RELAYTEST_LINE_MAX + 10,
	    &r, &used), -1);
	/* a line just under the limit is fine */
	memcpy(buf + RELAYTEST_LINE_MAX - 2, "\r\n", 2);
	assert_int_equal(relaytest_reply_parse(buf, RELAYTEST_LINE_MAX, &r,
	    &used), 1);
	assert_int_equal(used, RELAYTEST_LINE_MAX);
	/* continuation lines without end, beyond the reply limit */
	while (n + 7 < RELAYTEST_REPLY_MAX + 64) {
		memcpy(buf + n, "250-ab\n", 7);
		n += 7;
	}
	assert_int_equal(relaytest_reply_parse(buf, n, &r, &used), -1);
	/* the text is truncated, never overflows */
	memset(buf, 'y', 1000);
	memcpy(buf, "250 ", 4);
	memcpy(buf + 998, "\r\n", 2);
	assert_int_equal(relaytest_reply_parse(buf, 1000, &r, &used), 1);
	assert_int_equal(strlen(r.text), RELAYTEST_TEXT_MAX - 1);
	free(buf);
}

static void
test_domain_valid(void **state)
{
	static const struct { const char *d; int ok; } d[] = {
		{ "example.org", 1 }, { "localhost", 1 }, { "a-b.c0.example", 1 },
		{ "EXAMPLE.ORG", 1 }, { "", 0 }, { ".example", 0 },
		{ "example.", 0 }, { "a..b", 0 }, { "exa mple", 0 },
		{ "ex>ample", 0 }, { "example\r\nRCPT", 0 }, { "[127.0.0.1]", 0 },
		{ "a@b", 0 }, { "ex%ample", 0 },
	};
	char long_label[70], long_name[RELAYTEST_DOMAIN_MAX + 2];

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (relaytest_domain_valid(d[i].d) != d[i].ok)
			fail_msg("domain '%s': got %d, want %d", d[i].d,
			    !d[i].ok, d[i].ok);
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_int_equal(relaytest_domain_valid(long_label), 0);
	long_label[63] = '\0';
	assert_int_equal(relaytest_domain_valid(long_label), 1);
	for (size_t i = 0; i < sizeof(long_name) - 1; i++)
		long_name[i] = (i % 10 == 9) ? '.' : 'a';
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(relaytest_domain_valid(long_name), 0);
	long_name[RELAYTEST_DOMAIN_MAX - 1] = '\0';	/* ends in a label */
	assert_int_equal(relaytest_domain_valid(long_name), 1);
}

static const struct relaytest_case *
find(const struct relaytest_case *c, size_t n, const char *name,
    const char *sender, const char *rcpt)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].name, name) == 0 &&
		    strcmp(c[i].sender, sender) == 0 &&
		    strcmp(c[i].rcpt, rcpt) == 0)
			return &c[i];
	return NULL;
}

/* the tricks expand as documented for L=example.org, E=relay.example */
static const struct {
	const char		*name;
	const char		*sender;
	const char		*rcpt;
	enum relaytest_kind	 kind;
} want_cases[] = {
	{ "control", "<>", "<postmaster@example.org>", RELAYTEST_K_CONTROL },
	{ "plain", "<>", "<relaytest@relay.example>", RELAYTEST_K_EXTERNAL },
	{ "plain", "<relaytest>", "<relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "plain", "<postmaster@example.org>", "<relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "plain", "<someone@relay.example>", "<relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "plain", "<postmaster@[192.0.2.25]>", "<relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "upper-case", "<>", "<relaytest@RELAY.EXAMPLE>",
	    RELAYTEST_K_EXTERNAL },
	{ "trailing-dot", "<>", "<relaytest@relay.example.>",
	    RELAYTEST_K_EXTERNAL },
	{ "foreign-literal", "<>", "<relaytest@[192.0.2.1]>",
	    RELAYTEST_K_EXTERNAL },
	{ "source-route", "<>", "<@example.org:relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "source-route-lit", "<>", "<@[192.0.2.25]:relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "at-at", "<>", "<relaytest@@relay.example>", RELAYTEST_K_EXTERNAL },
	{ "at-at-route", "<>", "<@@example.org:relaytest@relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "percent-bare", "<>", "<relaytest%relay.example>",
	    RELAYTEST_K_EXTERNAL },
	{ "bang-bare", "<>", "<relay.example!relaytest>",
	    RELAYTEST_K_EXTERNAL },
	{ "quoted-bare", "<>", "<\"relaytest@relay.example\">",
	    RELAYTEST_K_EXTERNAL },
	{ "percent-hack", "<>", "<relaytest%relay.example@example.org>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "percent-hack", "<postmaster@example.org>",
	    "<relaytest%relay.example@example.org>", RELAYTEST_K_AMBIGUOUS },
	{ "percent-lit", "<>", "<relaytest%relay.example@[192.0.2.25]>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "bang-path", "<>", "<relay.example!relaytest@example.org>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "bang-lit", "<>", "<relay.example!relaytest@[192.0.2.25]>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted", "<>", "<\"relaytest@relay.example\"@example.org>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted-lit", "<>", "<\"relaytest@relay.example\"@[192.0.2.25]>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted-percent", "<>", "<\"relaytest%relay.example\"@example.org>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "double-at", "<>", "<relaytest@relay.example@example.org>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "double-at-lit", "<>", "<relaytest@relay.example@[192.0.2.25]>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "own-literal", "<>", "<relaytest@[192.0.2.25]>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "smuggle-lf-dot-lf", "<>", "<postmaster@example.org>",
	    RELAYTEST_K_SMUGGLE },
	{ "smuggle-crlf-dot-cr", "<>", "<postmaster@example.org>",
	    RELAYTEST_K_SMUGGLE },
};

static void
test_expand(void **state)
{
	struct relaytest_case *c;
	char err[256];
	size_t n, n_ext = 0, n_amb = 0, n_smug = 0, n_nosmug;

	n = relaytest_expand("example.org", "relay.example", "[192.0.2.25]", 1,
	    &c, err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(c[0].kind, RELAYTEST_K_CONTROL);
	for (size_t i = 0; i < sizeof(want_cases) / sizeof(want_cases[0]);
	    i++) {
		const struct relaytest_case *f = find(c, n, want_cases[i].name,
		    want_cases[i].sender, want_cases[i].rcpt);

		if (f == NULL)
			fail_msg("case %s %s %s: missing", want_cases[i].name,
			    want_cases[i].sender, want_cases[i].rcpt);
		if (f->kind != want_cases[i].kind)
			fail_msg("case %s %s: got kind %d, want %d",
			    want_cases[i].name, want_cases[i].rcpt, f->kind,
			    want_cases[i].kind);
	}
	for (size_t i = 0; i < n; i++) {
		/* every external trick names the external domain or a
		 * foreign literal, every ambiguous one ends in a local one */
		size_t rl = strlen(c[i].rcpt);

		switch (c[i].kind) {
		case RELAYTEST_K_EXTERNAL:
			n_ext++;
			if (strstr(c[i].rcpt, "relay.example") == NULL &&
			    strstr(c[i].rcpt, "RELAY.EXAMPLE") == NULL &&
			    strstr(c[i].rcpt, "[192.0.2.1]") == NULL)
				fail_msg("%s: no outside domain", c[i].rcpt);
			break;
		case RELAYTEST_K_AMBIGUOUS:
			n_amb++;
			if (!(rl > 13 && strcmp(c[i].rcpt + rl - 13,
			    "@example.org>") == 0) && !(rl > 14 &&
			    strcmp(c[i].rcpt + rl - 14, "@[192.0.2.25]>") == 0))
				fail_msg("%s: not a local domain", c[i].rcpt);
			/* harvest limits: only two senders per trick */
			if (strcmp(c[i].sender, "<>") != 0 &&
			    strcmp(c[i].sender, "<postmaster@example.org>") != 0)
				fail_msg("%s: unexpected sender %s", c[i].rcpt,
				    c[i].sender);
			break;
		case RELAYTEST_K_SMUGGLE:
			assert_int_equal(c[i].vector, (int)n_smug);
			n_smug++;
			break;
		case RELAYTEST_K_CONTROL:
			assert_int_equal(i, 0);
			break;
		}
		/* no duplicates */
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(c[i].name, c[j].name) == 0 &&
			    strcmp(c[i].sender, c[j].sender) == 0 &&
			    strcmp(c[i].rcpt, c[j].rcpt) == 0)
				fail_msg("duplicate case %s %s %s", c[i].name,
				    c[i].sender, c[i].rcpt);
	}
	assert_int_equal(n_ext % 5, 0);		/* every sender */
	assert_int_equal(n_amb % 2, 0);
	assert_int_equal(n_smug, relaytest_vector_count());
	assert_int_equal(n, 1 + n_ext + n_amb + n_smug);
	free(c);

	/* without smuggling; an IPv6 literal */
	n_nosmug = relaytest_expand("localhost", "relaytest.invalid",
	    "[IPv6:::1]", 0, &c, err, sizeof(err));
	assert_int_equal(n_nosmug, n - n_smug);
	assert_non_null(find(c, n_nosmug, "own-literal", "<>",
	    "<relaytest@[IPv6:::1]>"));
	assert_non_null(find(c, n_nosmug, "plain", "<postmaster@[IPv6:::1]>",
	    "<relaytest@relaytest.invalid>"));
	free(c);
}

static void
test_expand_bad(void **state)
{
	static const char *bad[][3] = {
		{ "", "relay.example", "[127.0.0.1]" },
		{ "example.org", "", "[127.0.0.1]" },
		{ "exa>mple.org", "relay.example", "[127.0.0.1]" },
		{ "example.org", "relay.example\r\nDATA", "[127.0.0.1]" },
		{ "example.org", "relay.example", "127.0.0.1" },
		{ "example.org", "relay.example", "[127.0.0.1>]" },
	};
	struct relaytest_case *c;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (relaytest_expand(bad[i][0], bad[i][1], bad[i][2], 1, &c,
		    err, sizeof(err)) != 0)
			fail_msg("expand %zu: got cases, want an error", i);
		assert_null(c);
		assert_true(strstr(err, "bad ") == err);
	}
}

/* every payload: the only CRLF.CRLF is its end, the vector is inside */
static void
test_smuggle_payload(void **state)
{
	static const char *bytes[] = { "\n.\n", "\n.\r\n", "\r.\r",
	    "\r\n.\n", "\n.\r", "\r\n.\r" };
	char buf[2048], want[128];

	assert_int_equal(relaytest_vector_count(), 6);
	assert_null(relaytest_vector_name(6));
	assert_int_equal(relaytest_smuggle_payload(6, "l.example",
	    "e.example", buf, sizeof(buf)), 0);
	for (size_t i = 0; i < relaytest_vector_count(); i++) {
		size_t n = relaytest_smuggle_payload(i, "l.example",
		    "e.example", buf, sizeof(buf));
		const char *end;

		assert_true(n > 5);
		assert_int_equal(n, strlen(buf));
		end = strstr(buf, "\r\n.\r\n");
		if (end != buf + n - 5)
			fail_msg("vector %s: CRLF.CRLF before the end",
			    relaytest_vector_name(i));
		snprintf(want, sizeof(want), "probe%sMAIL FROM:<relaytest@"
		    "e.example>\r\nRCPT TO:<postmaster@l.example>\r\nDATA\r\n",
		    bytes[i]);
		if (strstr(buf, want) == NULL)
			fail_msg("vector %s: smuggled commands missing",
			    relaytest_vector_name(i));
		/* a short buffer is refused, not truncated */
		assert_int_equal(relaytest_smuggle_payload(i, "l.example",
		    "e.example", buf, n), 0);
	}
}

/* exit status from the verdicts */
static void
test_status(void **state)
{
	struct relaytest_result r[3];

	memset(r, 0, sizeof(r));
	assert_int_equal(relaytest_status(r, 3), 0);
	r[1].verdict = RELAYTEST_WARN;
	assert_int_equal(relaytest_status(r, 3), 0);
	r[2].verdict = RELAYTEST_ERROR;
	assert_int_equal(relaytest_status(r, 3), 3);
	r[0].verdict = RELAYTEST_FAIL;
	assert_int_equal(relaytest_status(r, 3), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_domain_valid),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_expand_bad),
		cmocka_unit_test(test_smuggle_payload),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
