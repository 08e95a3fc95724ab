/*
 * test_milter_proto.c - the milter codec: framing, each reply decoded
 * and every malformed one refused, OPTNEG's macro lists, the reply-code
 * check, header fields read and written, the socket specs, the encoders
 * read back byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "milter/milter_proto.h"

/* a packet: length word, cmd, data */
static size_t
mk(uint8_t *out, int cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)len + 1);

	memcpy(out, &n, 4);
	out[4] = (uint8_t)cmd;
	memcpy(out + 5, data, len);
	return len + 5;
}

static void
test_frame(void **state)
{
	uint8_t p[16] = { 0, 0, 0, 1, 'c' };
	size_t plen = 0;

	assert_int_equal(milter_frame(p, 3, &plen), MILTER_FRAME_MORE);
	assert_int_equal(milter_frame(p, 4, &plen), MILTER_FRAME_MORE);
	assert_int_equal(milter_frame(p, 5, &plen), MILTER_FRAME_OK);
	assert_int_equal(plen, 5);
	memset(p, 0, 4);
	assert_int_equal(milter_frame(p, 8, &plen), MILTER_FRAME_BAD);
	p[1] = 0x20;	/* 2 MiB */
	assert_int_equal(milter_frame(p, 8, &plen), MILTER_FRAME_BAD);
}

static const struct {
	int		 cmd;
	const char	*data;
	size_t		 len;
	int		 ok;
	const char	*s1, *s2;
	uint32_t	 index;
} replies[] = {
	{ 'c', "", 0, 1, NULL, NULL, 0 },
	{ 'a', "", 0, 1, NULL, NULL, 0 },
	{ 'c', "x", 1, 0, NULL, NULL, 0 },		/* bytes left over */
	{ 'y', "550 5.7.1 no\0", 13, 1, "550 5.7.1 no", NULL, 0 },
	{ 'y', "550 5.7.1 no", 12, 0, NULL, NULL, 0 },	/* no NUL */
	{ 'y', "", 0, 0, NULL, NULL, 0 },
	{ 'h', "X-A\0v\0", 6, 1, "X-A", "v", 0 },
	{ 'h', "X-A\0", 4, 0, NULL, NULL, 0 },		/* no value */
	{ 'h', "X-A\0v\0z", 7, 0, NULL, NULL, 0 },
	{ 'm', "\0\0\0\2Subject\0\0", 13, 1, "Subject", "", 2 },
	{ 'i', "\0\0\0", 3, 0, NULL, NULL, 0 },		/* short index */
	{ 'e', "<a@b>\0", 6, 1, "<a@b>", NULL, 0 },
	{ 'e', "<a@b>\0SIZE=1\0", 13, 1, "<a@b>", "SIZE=1", 0 },
	{ '2', "<a@b>\0NOTIFY=NEVER\0", 19, 1, "<a@b>", "NOTIFY=NEVER", 0 },
	{ '+', "<a@b>\0", 6, 1, "<a@b>", NULL, 0 },
	{ '-', "<a@b>", 5, 0, NULL, NULL, 0 },
	{ 'q', "why\0", 4, 1, "why", NULL, 0 },
	{ 'b', "any\0bytes", 9, 1, NULL, NULL, 0 },
	{ 'Z', "", 0, 0, NULL, NULL, 0 },		/* unknown */
	{ 'O', "\0\0\0\6\0\0\0\1\0\0\0\0", 12, 1, NULL, NULL, 0 },
	{ 'O', "\0\0\0\6\0\0\0\1", 8, 0, NULL, NULL, 0 },
	/* a macro list: stage 5, "i j" */
	{ 'O', "\0\0\0\6\0\0\1\0\0\0\0\0\0\0\0\5i j\0", 20, 1, NULL, NULL, 0 },
	{ 'O', "\0\0\0\6\0\0\1\0\0\0\0\0\0\0\0\5i j", 19, 0, NULL, NULL, 0 },
};

static void
test_replies(void **state)
{
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		uint8_t p[64];
		size_t len = mk(p, replies[i].cmd, replies[i].data,
		    replies[i].len);
		struct milter_reply r;
		const char *why = NULL;
		int rc = milter_reply_parse(p, len, &r, &why);

		if (rc != (replies[i].ok ? 0 : -1))
			fail_msg("reply %zu ('%c'): got %d, want %s (%s)", i,
			    replies[i].cmd, rc, replies[i].ok ? "ok" : "error",
			    why ? why : "-");
		if (!replies[i].ok)
			continue;
		assert_int_equal(r.cmd, replies[i].cmd);
		if (replies[i].s1 != NULL)
			assert_string_equal(r.s1.p, replies[i].s1);
		if (replies[i].s2 != NULL)
			assert_string_equal(r.s2.p, replies[i].s2);
		assert_int_equal(r.index, replies[i].index);
	}
}

static void
test_symlist(void **state)
{
	uint8_t p[64];
	size_t len = mk(p, 'O', "\0\0\0\6\0\0\1\0\0\0\0\0"
	    "\0\0\0\5i j\0\0\0\0\2{mail_addr}\0", 36);
	struct milter_reply r;
	const char *why;
	size_t off = 0;
	uint32_t st;
	struct milter_str names;

	assert_int_equal(milter_reply_parse(p, len, &r, &why), 0);
	assert_int_equal(r.actions, SMFIF_SETSYMLIST);
	assert_int_equal(milter_symlist_next(&r, &off, &st, &names), 1);
	assert_int_equal(st, 5);
	assert_string_equal(names.p, "i j");
	assert_int_equal(milter_symlist_next(&r, &off, &st, &names), 1);
	assert_int_equal(st, 2);
	assert_string_equal(names.p, "{mail_addr}");
	assert_int_equal(milter_symlist_next(&r, &off, &st, &names), 0);
}

static const struct {
	const char	*in;
	int		 code;
	const char	*out;
} texts[] = {
	{ "550 5.7.1 Go away", 550, "550 5.7.1 Go away" },
	{ "451 4.7.1", 451, "451 4.7.1" },
	{ "554", 554, "554 " },
	{ "550-5.7.1 a\r\n550 5.7.1 b", 550, "550-5.7.1 a\n550 5.7.1 b" },
	{ "550 a\r\n550 b", 550, "550-a\n550 b" },
	{ "550 bad\x01\x7f\xff", 550, "550 bad???" },
	{ "550 5.7.1 x\r\n250 ok", -1, NULL },	/* a 250 smuggled in */
	{ "550 x\r\n551 y", -1, NULL },
	{ "250 2.0.0 Ok", -1, NULL },
	{ "55", -1, NULL },
	{ "5501 x", -1, NULL },
	{ "", -1, NULL },
};

static void
test_reply_text(void **state)
{
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char out[256];
		const char *why;
		int code = milter_reply_text(texts[i].in, strlen(texts[i].in),
		    out, sizeof(out), &why);

		if (code != texts[i].code)
			fail_msg("text %zu: got %d, want %d", i, code,
			    texts[i].code);
		if (code != -1 && strcmp(out, texts[i].out) != 0)
			fail_msg("text %zu: got \"%s\", want \"%s\"", i, out,
			    texts[i].out);
	}
}

static void
test_header_put(void **state)
{
	static const struct {
		const char *value;
		int leadspc;
		const char *want;
	} t[] = {
		{ "v", 0, "X-A: v\r\n" },
		{ " v", 1, "X-A: v\r\n" },
		{ "a\nb", 0, "X-A: a\r\n\tb\r\n" },
		{ "a\r\n b", 0, "X-A: a\r\n b\r\n" },
		{ "a\rb", 0, "X-A: ab\r\n" },
		{ "a\n", 0, "X-A: a\r\n\t\r\n" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct evbuffer *b = evbuffer_new();
		size_t len;
		char *s;

		assert_int_equal(milter_header_put(b, "X-A", 3, t[i].value,
		    strlen(t[i].value), t[i].leadspc), 0);
		len = evbuffer_get_length(b);
		s = (char *)evbuffer_pullup(b, -1);
		if (len != strlen(t[i].want) || memcmp(s, t[i].want, len) != 0)
			fail_msg("header %zu: got \"%.*s\", want \"%s\"", i,
			    (int)len, s, t[i].want);
		evbuffer_free(b);
	}
	assert_true(milter_header_name_ok("X-Spam", 6));
	assert_false(milter_header_name_ok("X Spam", 6));
	assert_false(milter_header_name_ok("X:", 2));
	assert_false(milter_header_name_ok("", 0));
}

static void
test_header_next(void **state)
{
	const char *h = "Received: from x\r\n\tby y\r\nSubject:  s\r\n"
	    "\r\nbody";
	char val[64];
	size_t off = 0, vlen, rs, rl;
	struct milter_str name;

	assert_int_equal(milter_header_next(h, strlen(h), &off, &name, val,
	    sizeof(val), &vlen, 0, &rs, &rl), 1);
	assert_int_equal(name.len, 8);
	assert_string_equal(val, "from x\n\tby y");
	assert_int_equal(rs, 0);
	assert_int_equal(rl, 25);
	assert_int_equal(milter_header_next(h, strlen(h), &off, &name, val,
	    sizeof(val), &vlen, 0, &rs, &rl), 1);
	assert_string_equal(val, " s");		/* one space removed */
	assert_int_equal(milter_header_next(h, strlen(h), &off, &name, val,
	    sizeof(val), &vlen, 1, &rs, &rl), 0);
	off = 0;
	assert_int_equal(milter_header_next("no colon\r\n", 10, &off, &name,
	    val, sizeof(val), &vlen, 0, &rs, &rl), -1);
}

static void
test_socket(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;

	assert_int_equal(milter_socket_parse("inet:127.0.0.1:11332", &ss, &len,
	    &why), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 11332);
	assert_int_equal(milter_socket_parse("inet6:[::1]:8891", &ss, &len,
	    &why), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(milter_socket_parse("unix:/run/m.sock", &ss, &len,
	    &why), 0);
	assert_int_equal(ss.ss_family, AF_UNIX);
	assert_int_equal(milter_socket_parse("inet:host:1", &ss, &len, &why),
	    -1);
	assert_int_equal(milter_socket_parse("inet:127.0.0.1:0", &ss, &len,
	    &why), -1);
	assert_int_equal(milter_socket_parse("inet:127.0.0.1:", &ss, &len,
	    &why), -1);
	assert_int_equal(milter_socket_parse("inet6:::1:25", &ss, &len, &why),
	    -1);
	assert_int_equal(milter_socket_parse("unix:rel", &ss, &len, &why), -1);
	assert_int_equal(milter_socket_parse("local:/x", &ss, &len, &why), -1);
}

static void
test_encoders(void **state)
{
	struct evbuffer *b = evbuffer_new();
	const char *names[] = { "j", "{client_addr}" };
	const char *values[] = { "mx", "192.0.2.1" };
	const char *args[] = { "<a@b>", "SIZE=10" };
	static const uint8_t want[] =
	    "\0\0\0\15O\0\0\0\6\0\0\1\377\0\0\0\1"
	    "\0\0\0\037D" "Cj\0mx\0{client_addr}\0" "192.0.2.1\0"
	    "\0\0\0\017Cmx\0" "4\0\31" "1.2.3.4\0"
	    "\0\0\0\017M<a@b>\0SIZE=10\0"
	    "\0\0\0\4B" "abc";
	size_t len;

	milter_put_optneg(b, MILTER_ACTIONS, 1);
	milter_put_macros(b, 'C', names, values, 2);
	milter_put_connect(b, "mx", '4', 25, "1.2.3.4");
	milter_put_cmd(b, 'M', args, 2);
	milter_put_body(b, "abc", 3);
	len = evbuffer_get_length(b);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(evbuffer_pullup(b, -1), want, len);
	evbuffer_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_symlist),
		cmocka_unit_test(test_reply_text),
		cmocka_unit_test(test_header_put),
		cmocka_unit_test(test_header_next),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_encoders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
