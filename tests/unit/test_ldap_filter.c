/*
 * test_ldap_filter.c - RFC 4515 escaping, filter templates, server URIs
 * and the bind file of the LDAP recipient lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lookup/ldap_dir.h"
#include "lookup/ldap_filter.h"

static void
test_escape(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
	} cases[] = {
		{ "alice", 5, "alice" },
		{ "a*b", 3, "a\\2ab" },
		{ "(x)", 3, "\\28x\\29" },
		{ "back\\slash", 10, "back\\5cslash" },
		{ "nul\0x", 5, "nul\\00x" },
		{ "*)(mail=*", 9, "\\2a\\29\\28mail=\\2a" },
		{ "tab\tcr\r", 7, "tab\\09cr\\0d" },
		{ "\xc3\xa9t\xc3\xa9", 5, "\\c3\\a9t\\c3\\a9" },
		{ "del\x7f", 4, "del\\7f" },
		{ "a=b,c+d", 7, "a=b,c+d" },	/* DN specials are no filter's */
		{ "", 0, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		int n = ldap_filter_escape(cases[i].in, cases[i].len, out,
		    sizeof(out));

		if (n < 0 || strcmp(out, cases[i].out) != 0 ||
		    (size_t)n != strlen(cases[i].out))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, n,
			    n < 0 ? "" : out, cases[i].out);
	}
}

static void
test_escape_bounds(void **state __attribute__((unused)))
{
	char out[8];

	/* "abcdefg" + NUL fits in 8, one more byte does not */
	assert_int_equal(ldap_filter_escape("abcdefg", 7, out, sizeof(out)), 7);
	assert_int_equal(ldap_filter_escape("abcdefgh", 8, out, sizeof(out)),
	    -1);
	/* an escape is three bytes, never cut in half */
	assert_int_equal(ldap_filter_escape("abcde*", 6, out, sizeof(out)),
	    -1);
	assert_int_equal(ldap_filter_escape("abcd*", 5, out, sizeof(out)), 7);
	assert_string_equal(out, "abcd\\2a");
	assert_int_equal(ldap_filter_escape("", 0, out, 0), -1);
}

static void
test_build(void **state __attribute__((unused)))
{
	static const struct {
		const char	*tmpl, *local, *domain, *out;
	} cases[] = {
		{ "(mail=%s)", "alice", "corp.example",
		  "(mail=alice@corp.example)" },
		{ "(|(mail=%s)(proxyAddresses=smtp:%s))", "al", "corp",
		  "(|(mail=al@corp)(proxyAddresses=smtp:al@corp))" },
		{ "(&(uid=%u)(dc=%d))", "bob", "corp", "(&(uid=bob)(dc=corp))" },
		{ "(mail=%s)", "*)(mail=*", "corp",
		  "(mail=\\2a\\29\\28mail=\\2a@corp)" },
		{ "(mail=%u)", "*", "x", "(mail=\\2a)" },
		{ "(cn=100%%)(mail=%s)", "a", "b", "(cn=100%)(mail=a@b)" },
		{ "(mail=%s%)", "a", "b", "(mail=a@b%)" },
		{ "(mail=%s)", "a\\b", "c", "(mail=a\\5cb@c)" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];

		if (ldap_filter_build(cases[i].tmpl, cases[i].local,
		    cases[i].domain, out, sizeof(out)) == -1)
			fail_msg("case %zu: got -1, want \"%s\"", i,
			    cases[i].out);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out,
			    cases[i].out);
	}
}

static void
test_build_too_long(void **state __attribute__((unused)))
{
	char out[16], local[300];

	/* "(mail=" + "a@b" + ")" is 10 bytes: fits in 16 */
	assert_int_equal(ldap_filter_build("(mail=%s)", "a", "b", out,
	    sizeof(out)), 0);
	/* every byte escaped triples: 3 '*' need 9 bytes more */
	assert_int_equal(ldap_filter_build("(mail=%s)", "***", "b", out,
	    sizeof(out)), -1);
	memset(local, 'x', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	assert_int_equal(ldap_filter_build("(mail=%s)", local, "b", out,
	    sizeof(out)), -1);
	/* the limit, exactly: 15 bytes and the NUL */
	assert_int_equal(ldap_filter_build("(mail=%u)", "abcdefgh", "", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "(mail=abcdefgh)");
	assert_int_equal(ldap_filter_build("(mail=%u)", "abcdefghi", "", out,
	    sizeof(out)), -1);
}

static void
test_check(void **state __attribute__((unused)))
{
	static const struct {
		const char	*tmpl;
		int		 ok;
	} cases[] = {
		{ "(mail=%s)", 1 },
		{ "(|(mail=%s)(proxyAddresses=smtp:%s))", 1 },
		{ "(&(objectClass=user)(|(mail=%s)(proxyAddresses=smtp:%s)))",
		  1 },
		{ "(uid=%u)", 1 },
		{ "(cn=50%%)(mail=%s)", 0 },	/* two filters */
		{ "mail=%s", 0 },		/* no parentheses */
		{ "(mail=%s", 0 },
		{ "(mail=%s))", 0 },
		{ "(mail=x)", 0 },		/* same for every recipient */
		{ "(mail=%d)", 0 },		/* only the domain */
		{ "(mail=%x)", 0 },
		{ "(mail=%s)\n", 0 },
		{ "", 0 },
	};
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		if ((ldap_filter_check(cases[i].tmpl, &why) == 0) !=
		    cases[i].ok)
			fail_msg("\"%s\": got %s, want %s", cases[i].tmpl,
			    cases[i].ok ? why : "accepted",
			    cases[i].ok ? "accepted" : "refused");
	}
}

static void
test_uri(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		int		 ok, ldaps, port, loopback;
		const char	*host;
	} cases[] = {
		{ "ldap://dc1.corp.example", 1, 0, 0, 0, "dc1.corp.example" },
		{ "ldaps://dc1.corp.example:3269/", 1, 1, 3269, 0,
		  "dc1.corp.example" },
		{ "LDAP://127.0.0.1:389", 1, 0, 389, 1, "127.0.0.1" },
		{ "ldap://127.9.9.9", 1, 0, 0, 1, "127.9.9.9" },
		{ "ldap://[::1]:10389", 1, 0, 10389, 1, "::1" },
		{ "ldap://localhost", 1, 0, 0, 1, "localhost" },
		{ "ldap://[2001:db8::1]", 1, 0, 0, 0, "2001:db8::1" },
		{ "ldap://[dc1]", 0, 0, 0, 0, NULL },
		{ "ldap://", 0, 0, 0, 0, NULL },
		{ "ldapi:///var/run/slapd.sock", 0, 0, 0, 0, NULL },
		{ "http://dc1", 0, 0, 0, 0, NULL },
		{ "ldap://dc1:0", 0, 0, 0, 0, NULL },
		{ "ldap://dc1:65536", 0, 0, 0, 0, NULL },
		{ "ldap://dc1:", 0, 0, 0, 0, NULL },
		{ "ldap://dc1/dc=corp", 0, 0, 0, 0, NULL },
		{ "ldap://dc1??sub", 0, 0, 0, 0, NULL },
		{ "ldap://user@dc1", 0, 0, 0, 0, NULL },
		{ "ldap://::1", 0, 0, 0, 0, NULL },
	};
	struct ldap_uri u;
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = ldap_uri_parse(cases[i].in, &u, &why);

		if ((r == 0) != cases[i].ok)
			fail_msg("%s: got %d, want %s", cases[i].in, r,
			    cases[i].ok ? "ok" : "refused");
		if (!cases[i].ok)
			continue;
		if (u.ldaps != cases[i].ldaps || u.port != cases[i].port ||
		    u.loopback != cases[i].loopback ||
		    strcmp(u.host, cases[i].host) != 0)
			fail_msg("%s: got ldaps=%d port=%d loopback=%d host=%s",
			    cases[i].in, u.ldaps, u.port, u.loopback, u.host);
	}
}

/* write text to a new file of mode mode; its path */
static const char *
secret_file(const char *text, mode_t mode)
{
	static char path[] = "/tmp/moat-test-bind-XXXXXX";
	int fd;

	strcpy(path, "/tmp/moat-test-bind-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
test_secret(void **state __attribute__((unused)))
{
	static const struct {
		const char	*text;
		mode_t		 mode;
		const char	*err;	/* NULL: loads */
	} cases[] = {
		{ "binddn = cn=moat,dc=corp\npassword = s3cret = x \n", 0600,
		  NULL },
		{ "# a comment\n\nbinddn=cn=a\r\npassword=p\r\n", 0400, NULL },
		{ "binddn = cn=a\npassword = p\n", 0640, "mode 640" },
		{ "binddn = cn=a\npassword = p\n", 0604, "mode 604" },
		{ "binddn = cn=a\n", 0600, "needs both" },
		{ "binddn = cn=a\npassword = p\nuser = x\n", 0600,
		  ":3: unknown key" },
		{ "binddn = cn=a\npassword\n", 0600, ":2: expected" },
		{ "binddn = cn=a\nbinddn = cn=b\npassword = p\n", 0600,
		  ":2: a second binddn" },
		{ "binddn =\npassword = p\n", 0600, ":1: binddn is empty" },
	};
	struct ldap_secret s;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = secret_file(cases[i].text, cases[i].mode);
		int r = ldap_secret_load(path, &s, err, sizeof(err));

		unlink(path);
		if (cases[i].err == NULL && r != 0)
			fail_msg("case %zu: got \"%s\", want it loaded", i, err);
		if (cases[i].err != NULL && (r == 0 ||
		    strstr(err, cases[i].err) == NULL))
			fail_msg("case %zu: got %s, want \"%s\"", i,
			    r == 0 ? "loaded" : err, cases[i].err);
		if (cases[i].err != NULL && strstr(err, "s3cret") != NULL)
			fail_msg("case %zu: the password is in the error", i);
	}
	{
		const char *path = secret_file(
		    "binddn = cn=moat,dc=corp\npassword = s3cret = x \n", 0600);

		assert_int_equal(ldap_secret_load(path, &s, err, sizeof(err)),
		    0);
		unlink(path);
		assert_string_equal(s.binddn, "cn=moat,dc=corp");
		assert_string_equal(s.password, "s3cret = x");
		ldap_secret_wipe(&s);
		assert_int_equal(s.password[0], 0);
	}
	assert_int_equal(ldap_secret_load("/nonexistent/bind", &s, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_bounds),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_too_long),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
