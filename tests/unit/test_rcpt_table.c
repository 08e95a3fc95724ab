/*
 * test_rcpt_table.c - recipient tables: the line parser, the forms of
 * an entry, lookups, errors with file and line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lookup/rcpt_table.h"

static struct rcpt_table *
parse(const char *text, int flags, char *err, size_t errlen)
{
	return rcpt_table_parse("t.txt", text, strlen(text), flags, err,
	    errlen);
}

static void
test_entries_and_lookups(void **state)
{
	char err[256] = "";
	struct rcpt_table *t = parse(
	    "# exported from the directory\n"
	    "alice@example.org\n"
	    "\n"
	    "   Bob.Smith@Example.ORG   \n"
	    "carol@corp.example # the sales desk\n"
	    "\t@catch.example\n"
	    "alice@example.org\n", 0, err, sizeof(err));

	assert_non_null(t);
	assert_int_equal(rcpt_table_count(t), 4);	/* one duplicate */
	assert_string_equal(rcpt_table_find(t, "alice", "example.org"),
	    "alice@example.org");
	assert_string_equal(rcpt_table_find(t, "ALICE", "Example.Org"),
	    "alice@example.org");
	assert_string_equal(rcpt_table_find(t, "bob.smith", "example.org"),
	    "bob.smith@example.org");
	assert_string_equal(rcpt_table_find(t, "carol", "corp.example"),
	    "carol@corp.example");
	assert_null(rcpt_table_find(t, "dave", "example.org"));
	assert_null(rcpt_table_find(t, "alice", "corp.example"));
	assert_null(rcpt_table_find(t, "alice", "example.org.evil"));
	assert_null(rcpt_table_find(t, "alice", ""));
	assert_null(rcpt_table_find(t, "", "example.org"));
	/* the catch-all answers for any local part of its domain only */
	assert_string_equal(rcpt_table_find(t, "anyone", "catch.example"),
	    "@catch.example");
	assert_null(rcpt_table_find(t, "anyone", "sub.catch.example"));
	/* not a bare table */
	assert_null(rcpt_table_find_bare(t, "alice"));
	rcpt_table_free(t);
}

static void
test_crlf_and_bom(void **state)
{
	char err[256] = "";
	struct rcpt_table *t = parse("\xef\xbb\xbf" "alice@example.org\r\n"
	    "bob@example.org\r\n# note\r\n\r\ncarol@example.org", 0, err,
	    sizeof(err));

	assert_non_null(t);
	assert_int_equal(rcpt_table_count(t), 3);
	assert_non_null(rcpt_table_find(t, "alice", "example.org"));
	assert_non_null(rcpt_table_find(t, "bob", "example.org"));
	assert_non_null(rcpt_table_find(t, "carol", "example.org"));
	rcpt_table_free(t);

	assert_null(rcpt_table_parse("w.txt", "\xff\xfe" "a\0@\0", 6, 0, err,
	    sizeof(err)));
	assert_string_equal(err, "w.txt: UTF-16 text (save it as UTF-8 or "
	    "ASCII)");
	assert_null(rcpt_table_parse("n.txt", "a@b.example\nx\0y\n", 16, 0,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "n.txt:2: NUL byte"));
}

static void
test_bare(void **state)
{
	char err[256] = "";
	struct rcpt_table *t = parse("alice\nPostmaster\nbob@example.org\n",
	    RT_BARE, err, sizeof(err));

	assert_non_null(t);
	assert_string_equal(rcpt_table_find_bare(t, "ALICE"), "alice");
	assert_string_equal(rcpt_table_find_bare(t, "postmaster"),
	    "postmaster");
	assert_null(rcpt_table_find_bare(t, "bob"));
	/* a bare entry is not an address of any domain by itself */
	assert_null(rcpt_table_find(t, "alice", "example.org"));
	assert_string_equal(rcpt_table_find(t, "bob", "example.org"),
	    "bob@example.org");
	assert_null(rcpt_table_find_bare(t, "bob@example.org"));
	rcpt_table_free(t);
}

static void
test_quoted_and_utf8(void **state)
{
	char err[256] = "";
	struct rcpt_table *t = parse("\"John Smith\"@example.org\n"
	    "j\xc3\xb6rg@example.org\n", 0, err, sizeof(err));

	assert_non_null(t);
	assert_string_equal(rcpt_table_find(t, "john smith", "example.org"),
	    "john smith@example.org");
	assert_non_null(rcpt_table_find(t, "j\xc3\xb6rg", "EXAMPLE.org"));
	rcpt_table_free(t);
}

static void
test_errors(void **state)
{
	static const struct {
		const char	*text;
		int		 flags;
		const char	*want;
	} c[] = {
		{ "a@example.org\nalice\n", 0,
		    "t.txt:2: not an address (local@domain)" },
		{ "a@example.org\n\n  b@@example.org\n", 0,
		    "t.txt:3: not a valid address" },
		{ "a@example.org b@example.org\n", 0,
		    "t.txt:1: one address a line (text after the first word)" },
		{ "a@[192.0.2.1]\n", 0,
		    "t.txt:1: an address literal is not allowed" },
		{ "SMTP:a@example.org\n", 0,
		    "t.txt:1: an Exchange \"smtp:\" prefix (remove it)" },
		{ "@\n", 0, "t.txt:1: not a valid \"@domain\"" },
		{ "@-bad.example\n", 0, "t.txt:1: not a valid \"@domain\"" },
		{ "\"a b\"\n", RT_BARE, "t.txt:1: not a valid local part" },
		{ "a..b\n", RT_BARE, "t.txt:1: not a valid local part" },
		{ "a@example.org.\n", 0, "t.txt:1: not a valid address" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "@example.org\n", 0, "t.txt:1: too long" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		err[0] = '\0';
		if (parse(c[i].text, c[i].flags, err, sizeof(err)) != NULL)
			fail_msg("case %zu loaded", i);
		if (strcmp(err, c[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    c[i].want);
	}
}

static void
test_catchall_list(void **state)
{
	char err[256] = "";
	struct rcpt_table *t = parse("a@x.example\n@one.example\n\n"
	    "@two.example\n", 0, err, sizeof(err));
	unsigned line = 0;

	assert_non_null(t);
	assert_string_equal(rcpt_table_catchall(t, 0, &line), "@one.example");
	assert_int_equal(line, 2);
	assert_string_equal(rcpt_table_catchall(t, 1, &line), "@two.example");
	assert_int_equal(line, 4);
	assert_null(rcpt_table_catchall(t, 2, &line));
	rcpt_table_free(t);
}

static void
test_from_list(void **state)
{
	char *items[] = { "postmaster", "Alice", "bob@example.org" };
	char *bad[] = { "alice", "x y" };
	char err[256] = "";
	struct rcpt_table *t;

	t = rcpt_table_from_list(items, 3, RT_BARE, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(rcpt_table_count(t), 3);
	assert_string_equal(rcpt_table_find_bare(t, "alice"), "alice");
	assert_string_equal(rcpt_table_find(t, "Bob", "example.org"),
	    "bob@example.org");
	rcpt_table_free(t);
	assert_null(rcpt_table_from_list(bad, 2, RT_BARE, err, sizeof(err)));
	assert_string_equal(err, "mailboxes: \"x y\": not a valid local part");
	t = rcpt_table_from_list(NULL, 0, RT_BARE, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(rcpt_table_count(t), 0);
	assert_null(rcpt_table_find_bare(t, "alice"));
	rcpt_table_free(t);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/test_rcpt_table.XXXXXX", err[256] = "";
	struct rcpt_table *t;
	FILE *fp;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	for (int i = 0; i < 5000; i++)
		fprintf(fp, "user%d@example.org\r\n", i);
	fprintf(fp, "bad entry\r\n");
	fclose(fp);
	assert_null(rcpt_table_load(path, 0, err, sizeof(err)));
	{
		char want[300];

		snprintf(want, sizeof(want), "%s:5001: one address a line "
		    "(text after the first word)", path);
		assert_string_equal(err, want);
	}
	assert_non_null(fp = fopen(path, "w"));
	for (int i = 0; i < 5000; i++)
		fprintf(fp, "user%d@example.org\n", i);
	fclose(fp);
	assert_non_null(t = rcpt_table_load(path, 0, err, sizeof(err)));
	assert_int_equal(rcpt_table_count(t), 5000);
	assert_non_null(rcpt_table_find(t, "user4999", "example.org"));
	assert_null(rcpt_table_find(t, "user5000", "example.org"));
	rcpt_table_free(t);
	unlink(path);
	assert_null(rcpt_table_load(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
	assert_null(rcpt_table_load("/tmp", 0, err, sizeof(err)));
	assert_string_equal(err, "/tmp: not a regular file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_and_lookups),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_quoted_and_utf8),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_catchall_list),
		cmocka_unit_test(test_from_list),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
