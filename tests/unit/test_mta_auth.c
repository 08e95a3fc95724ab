/*
 * test_mta_auth.c - the smarthost credentials file: syntax, lookups,
 * file mode, and the AUTH PLAIN / LOGIN encodings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "mta/mta_auth.h"

struct parse_case {
	const char	*in;
	int		 ok;
	size_t		 n;
	const char	*host, *user, *pass;	/* of the last entry */
	const char	*err;			/* a part of the message */
};

static const struct parse_case cases[] = {
	{ "u:p\n", 1, 1, "", "u", "p", NULL },
	{ "u:p", 1, 1, "", "u", "p", NULL },
	{ "  u:p with: colon and spaces  \r\n", 1, 1, "", "u",
	    "p with: colon and spaces", NULL },
	{ "# c\n\nRelay.Example. u:p\n", 1, 1, "relay.example", "u", "p",
	    NULL },
	{ "[10.0.0.5] u:p\n", 1, 1, "10.0.0.5", "u", "p", NULL },
	{ "[2001:db8::1]\tu:p\n", 1, 1, "2001:db8::1", "u", "p", NULL },
	{ "a:b\nh.example c:d\n", 1, 2, "h.example", "c", "d", NULL },
	{ "", 1, 0, NULL, NULL, NULL, NULL },
	{ "nocolon\n", 0, 0, NULL, NULL, NULL, "line 1" },
	{ "u:p\n\nhost nocolon\n", 0, 0, NULL, NULL, NULL, "line 3" },
	{ ":p\n", 0, 0, NULL, NULL, NULL, "empty" },
	{ "u:\n", 0, 0, NULL, NULL, NULL, "empty password" },
	{ "a:b\nc:d\n", 0, 0, NULL, NULL, NULL, "second entry" },
	{ "h!x u:p\n", 0, 0, NULL, NULL, NULL, "bad host" },
};

static void
test_parse(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *t = &cases[i];
		struct mta_auth a;
		char err[256] = "";
		int rc = mta_auth_parse(t->in, strlen(t->in), &a, err,
		    sizeof(err));

		if ((rc == 0) != t->ok)
			fail_msg("case %zu: got %s (%s), want %s", i,
			    rc == 0 ? "ok" : "error", err, t->ok ? "ok" :
			    "error");
		if (!t->ok) {
			if (strstr(err, t->err) == NULL)
				fail_msg("case %zu: got error \"%s\", want "
				    "\"%s\" in it", i, err, t->err);
			/* the error never shows the line's content */
			if (strstr(err, "nocolon") != NULL ||
			    strstr(err, "h!x") != NULL)
				fail_msg("case %zu: error \"%s\" shows the "
				    "line", i, err);
			continue;
		}
		if (a.n != t->n)
			fail_msg("case %zu: got %zu entries, want %zu", i, a.n,
			    t->n);
		if (t->n == 0)
			continue;
		if (strcmp(a.v[a.n - 1].host, t->host) != 0 ||
		    strcmp(a.v[a.n - 1].user, t->user) != 0 ||
		    strcmp(a.v[a.n - 1].pass, t->pass) != 0)
			fail_msg("case %zu: got [%s] %s:%s, want [%s] %s:%s", i,
			    a.v[a.n - 1].host, a.v[a.n - 1].user,
			    a.v[a.n - 1].pass, t->host, t->user, t->pass);
	}
}

static void
test_find(void **state)
{
	const char *text = "def:1\nrelay.example r:2\n10.0.0.5 l:3\n";
	struct mta_auth a;
	char err[128];

	assert_int_equal(mta_auth_parse(text, strlen(text), &a, err,
	    sizeof(err)), 0);
	assert_string_equal(mta_auth_find(&a, "relay.example", 1)->user, "r");
	assert_string_equal(mta_auth_find(&a, "RELAY.example", 0)->user, "r");
	assert_string_equal(mta_auth_find(&a, "other.example", 1)->user, "def");
	assert_string_equal(mta_auth_find(&a, "10.0.0.5", 0)->user, "l");
	/* a route host not in the file gets nothing, not the default */
	assert_null(mta_auth_find(&a, "other.example", 0));
	assert_null(mta_auth_find(NULL, "relay.example", 1));
}

static void
test_encode(void **state)
{
	struct mta_cred c;
	char out[64];

	memset(&c, 0, sizeof(c));
	strcpy(c.user, "tim");
	strcpy(c.pass, "tanstaaftanstaaf");
	/* RFC 4616 section 4 */
	assert_int_equal(mta_auth_plain(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	assert_int_equal(mta_auth_b64("Username:", out, sizeof(out)), 0);
	assert_string_equal(out, "VXNlcm5hbWU6");
	assert_int_equal(mta_auth_b64("Username:", out, 12), -1);
}

static void
test_load_mode(void **state)
{
	char path[] = "/tmp/test_mta_auth.XXXXXX", err[512];
	struct mta_auth *a;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "u:p\n", 4), 4);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(mta_auth_load(path, err, sizeof(err)));
	if (strstr(err, "mode 644") == NULL || strstr(err, "chmod 600") == NULL)
		fail_msg("got \"%s\", want the mode and chmod 600", err);
	assert_int_equal(chmod(path, 0600), 0);
	a = mta_auth_load(path, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(a->n, 1);
	mta_auth_free(a);
	unlink(path);
	assert_null(mta_auth_load(path, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_load_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
