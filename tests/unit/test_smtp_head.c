/*
 * test_smtp_head.c - the header section held to the dot: where it ends,
 * its fields, and edits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "smtp/smtp_head.h"

static struct evbuffer *body;
static struct smtp_head h;

static int
setup(void **state)
{
	body = evbuffer_new();
	smtp_head_init(&h, 4096);
	return body == NULL;
}

static int
teardown(void **state)
{
	smtp_head_free(&h);
	evbuffer_free(body);
	return 0;
}

static void
feed(const char *p)
{
	assert_int_equal(smtp_head_feed(&h, p, strlen(p), body), 0);
}

static void
assert_body(const char *want)
{
	size_t n = evbuffer_get_length(body);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(evbuffer_pullup(body, -1), want, n);
}

static void
assert_head(const char *want)
{
	assert_int_equal(h.len, strlen(want));
	assert_memory_equal(h.buf, want, h.len);
}

/* the empty line ends the section and belongs to it */
static void
test_blank_line_ends(void **state)
{
	assert_int_equal(smtp_head_add(&h, "Received: x\r\n", 13), 0);
	feed("Subject: hi\r\nFrom: <a@b.example>\r\n\r\nbody\r\n");
	assert_true(h.done);
	assert_true(h.blank);
	assert_head("Received: x\r\nSubject: hi\r\nFrom: <a@b.example>\r\n\r\n");
	assert_body("body\r\n");
}

/* split anywhere, even inside CRLF: the same cut */
static void
test_split_feeds(void **state)
{
	const char *msg = "Subject: hi\r\n folded\r\nTo: x\r\n\r\nline\r\n";

	for (size_t cut = 0; cut <= strlen(msg); cut++) {
		smtp_head_reset(&h);
		evbuffer_drain(body, evbuffer_get_length(body));
		assert_int_equal(smtp_head_feed(&h, msg, cut, body), 0);
		feed(msg + cut);
		assert_head("Subject: hi\r\n folded\r\nTo: x\r\n\r\n");
		assert_body("line\r\n");
	}
}

/* a line that is not a field starts the body, with no empty line */
static void
test_non_field_line_ends(void **state)
{
	feed("Subject: hi\r\nthis is text\r\nmore\r\n");
	assert_true(h.done);
	assert_false(h.blank);
	assert_head("Subject: hi\r\n");
	assert_body("this is text\r\nmore\r\n");
}

/* a message of text only: no header section of the client's */
static void
test_no_headers(void **state)
{
	feed("hello\r\n");
	assert_int_equal(h.len, 0);
	assert_body("hello\r\n");
	assert_int_equal(smtp_head_count(&h), 0);
}

/* the cap: -1, so the session refuses the message */
static void
test_over_the_cap(void **state)
{
	char line[1000];

	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Big: ", 7);
	line[998] = '\r';
	line[999] = '\n';
	for (int i = 0; i < 4; i++)
		assert_int_equal(smtp_head_feed(&h, line, sizeof(line), body), 0);
	assert_int_equal(smtp_head_feed(&h, line, sizeof(line), body), -1);
}

static void
test_fields(void **state)
{
	struct smtp_field f;

	feed("Subject : hi\r\n\tthere\r\nX-A:1\r\n\r\n");
	assert_int_equal(smtp_head_count(&h), 2);
	assert_int_equal(smtp_head_field(&h, 0, &f), 0);
	assert_int_equal(f.namelen, 7);
	assert_memory_equal(f.name, "Subject", 7);
	assert_int_equal(f.valuelen, strlen(" hi\r\n\tthere"));
	assert_memory_equal(f.value, " hi\r\n\tthere", f.valuelen);
	assert_int_equal(smtp_head_field(&h, 1, &f), 0);
	assert_memory_equal(f.value, "1", f.valuelen);
	assert_int_equal(smtp_head_field(&h, 2, &f), -1);
}

static void
test_edits(void **state)
{
	feed("A: 1\r\nB: 2\r\n\r\n");
	assert_int_equal(smtp_head_insert(&h, 0, "Z: 0\r\n", 6), 0);
	assert_int_equal(smtp_head_insert(&h, 3, "C: 3\r\n", 6), 0);
	assert_head("Z: 0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	assert_int_equal(smtp_head_remove(&h, 1), 0);
	assert_head("Z: 0\r\nB: 2\r\nC: 3\r\n\r\n");
	assert_int_equal(smtp_head_remove(&h, 3), -1);
	assert_int_equal(smtp_head_count(&h), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blank_line_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_feeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_field_line_ends, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_over_the_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
