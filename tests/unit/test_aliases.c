/*
 * test_aliases.c - the aliases file and its expansion: lookups in
 * order, recursion, loops, depth, duplicates, outside targets, the
 * catch-all and the role addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lookup/aliases.h"

/* example.org and localhost are local, corp.example routed */
static enum alias_domain
cls(void *arg, const char *domain)
{
	if (strcmp(domain, "example.org") == 0 ||
	    strcmp(domain, "localhost") == 0)
		return ALIAS_DOM_LOCAL;
	if (strcmp(domain, "corp.example") == 0)
		return ALIAS_DOM_ROUTED;
	return ALIAS_DOM_OUTSIDE;
}

/* at expansion time nothing is ours any more but example.org */
static enum alias_domain
cls_narrow(void *arg, const char *domain)
{
	return strcmp(domain, "example.org") == 0 ? ALIAS_DOM_LOCAL :
	    ALIAS_DOM_OUTSIDE;
}

static struct aliases *
parse(const char *text, char *err, size_t errlen)
{
	return aliases_parse("al", text, strlen(text), cls, NULL, err,
	    errlen);
}

static struct aliases *
parse_ok(const char *text)
{
	char err[256] = "";
	struct aliases *a = parse(text, err, sizeof(err));

	if (a == NULL)
		fail_msg("load failed: %s", err);
	return a;
}

/* the targets as "kind:addr kind:addr", kinds L R O */
static const char *
show(const struct alias_result *r)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n && o < sizeof(buf) - 1; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%c:%s",
		    i ? " " : "", "LRO"[r->t[i].kind], r->t[i].addr);
	return buf;
}

/* one expansion of local@example.org into a fresh *r */
static enum alias_status
run(const struct aliases *a, const char *local, alias_classify_fn *c,
    const char *role, struct alias_result *r)
{
	memset(r, 0, sizeof(*r));
	return aliases_expand(a, local, "example.org", c, NULL, role, r);
}

static void
expect(const struct aliases *a, const char *local, const char *domain,
    enum alias_status st, const char *targets)
{
	struct alias_result r;
	enum alias_status got;

	memset(&r, 0, sizeof(r));
	got = aliases_expand(a, local, domain, cls, NULL, "postmaster", &r);
	if (got != st || strcmp(show(&r), targets) != 0)
		fail_msg("%s@%s: got %d \"%s\" (%s), want %d \"%s\"", local,
		    domain, got, show(&r), r.why, st, targets);
	alias_result_clear(&r);
}

static void
test_lookup_order(void **state)
{
	struct aliases *a = parse_ok(
	    "# the aliases of the edge\n"
	    "sales: bob, carol@corp.example\n"
	    "sales@example.org: dave\n"
	    "@example.org: catchall\n"
	    "info@corp.example: Eve@Corp.Example\n");

	assert_int_equal(aliases_count(a), 4);
	/* the address itself first, then its local part, then @domain */
	expect(a, "sales", "example.org", ALIAS_FOUND, "L:dave");
	expect(a, "SALES", "Example.ORG", ALIAS_FOUND, "L:dave");
	expect(a, "sales", "corp.example", ALIAS_FOUND,
	    "L:bob R:carol@corp.example");
	expect(a, "sales", "localhost", ALIAS_FOUND,
	    "L:bob R:carol@corp.example");
	expect(a, "nobody", "example.org", ALIAS_FALLBACK, "L:catchall");
	expect(a, "nobody", "corp.example", ALIAS_NONE, "");
	/* the local part's case is kept in what is written back */
	expect(a, "info", "corp.example", ALIAS_FOUND, "R:Eve@corp.example");
	/* a quoted local part that spells an address is no bare name */
	expect(a, "sales@example.org", "corp.example", ALIAS_NONE, "");
	/* not our domain: no alias applies, not even the bare name */
	expect(a, "sales", "elsewhere.example", ALIAS_NONE, "");
	aliases_free(a);
}

static void
test_recursion_and_duplicates(void **state)
{
	struct aliases *a = parse_ok(
	    "all: team, devs, alice, ALICE\n"
	    "team: alice, devs\n"
	    "devs: bob, carol@corp.example, team\n"
	    "ops@example.org: devs@example.org\n"
	    "devs@example.org: frank\n");

	/* devs reached twice, team again from devs: each expands once */
	expect(a, "all", "example.org", ALIAS_FOUND,
	    "L:alice L:bob R:carol@corp.example");
	/* the address form of a target: devs@example.org is an alias */
	expect(a, "ops", "example.org", ALIAS_FOUND, "L:frank");
	aliases_free(a);
}

static void
test_loops(void **state)
{
	char err[256] = "";
	struct alias_result r;
	struct aliases *a;

	/* a loop with a way out delivers what is outside the loop */
	a = parse_ok("a: b, x\nb: c\nc: a, y@corp.example\n");
	assert_int_equal(run(a, "a", cls, NULL, &r), ALIAS_FOUND);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.loops, 1);
	alias_result_clear(&r);
	expect(a, "a", "example.org", ALIAS_FOUND, "R:y@corp.example L:x");
	aliases_free(a);

	/* keeping a copy: an alias that names itself delivers there */
	a = parse_ok("alice: alice, alice@corp.example\n");
	expect(a, "alice", "example.org", ALIAS_FOUND,
	    "L:alice R:alice@corp.example");
	aliases_free(a);
	a = parse_ok("@corp.example: desk@corp.example\n");
	expect(a, "anyone", "corp.example", ALIAS_FALLBACK,
	    "R:desk@corp.example");
	aliases_free(a);

	/* a pure loop is refused at load, at the first alias in it */
	assert_null(parse("ok: alice\nx: y\ny: z, x\nz: y\n", err,
	    sizeof(err)));
	assert_string_equal(err, "al:2: alias x: every target leads back "
	    "into a loop of aliases (nothing to deliver)");
	assert_null(parse("a: a@example.org\na@example.org: a\n", err,
	    sizeof(err)));
	assert_string_equal(err, "al:1: alias a: every target leads back "
	    "into a loop of aliases (nothing to deliver)");
}

static void
test_depth(void **state)
{
	char text[2048];
	struct aliases *a;
	size_t o = 0;
	int i;

	/* a0 -> a1 -> ... -> a17 -> mailbox: 17 levels below a0 */
	for (i = 0; i < 17; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "a%d: a%d\n", i, i + 1);
	snprintf(text + o, sizeof(text) - o, "a17: box\n");
	a = parse_ok(text);
	expect(a, "a1", "example.org", ALIAS_FOUND, "L:box");
	expect(a, "a0", "example.org", ALIAS_ERROR, "");
	{
		struct alias_result r;

		run(a, "a0", cls, NULL, &r);
		assert_string_equal(r.why, "alias a17: aliases nested more "
		    "than 16 deep (aliases line 18)");
		alias_result_clear(&r);
	}
	aliases_free(a);
}

static void
test_outside(void **state)
{
	char err[256] = "";
	struct aliases *a;

	assert_null(parse("fwd: alice, friend@mail.example\n", err,
	    sizeof(err)));
	assert_string_equal(err, "al:1: target friend@mail.example is not "
	    "in a local or routed domain (begin the line with \"external\" "
	    "to allow it)");
	/* on a continuation line too */
	assert_null(parse("fwd: alice,\n  friend@mail.example\n", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "al:2: target friend@mail.example"));

	a = parse_ok("external fwd: alice, Friend@Mail.Example\n"
	    "External partner@example.org: x@partner.example\n"
	    "external: bob\n"
	    "via: fwd, carol\n");
	expect(a, "fwd", "example.org", ALIAS_FOUND,
	    "L:alice O:Friend@mail.example");
	expect(a, "partner", "example.org", ALIAS_FOUND,
	    "O:x@partner.example");
	/* "external:" is an alias of that name */
	expect(a, "external", "example.org", ALIAS_FOUND, "L:bob");
	/* the flag belongs to its line: reached through another alias */
	expect(a, "via", "example.org", ALIAS_FOUND,
	    "L:alice O:Friend@mail.example L:carol");
	aliases_free(a);

	/* the classifier at expansion decides again */
	a = parse_ok("team: alice, bob@corp.example\n");
	{
		struct alias_result r;

		assert_int_equal(run(a, "team", cls_narrow, NULL, &r),
		    ALIAS_ERROR);
		assert_int_equal(r.n, 0);
		assert_non_null(strstr(r.why, "outside target"));
		alias_result_clear(&r);
	}
	aliases_free(a);
}

static void
test_roles(void **state)
{
	struct aliases *a;

	/* no aliases at all: postmaster and abuse of every domain of ours */
	expect(NULL, "postmaster", "corp.example", ALIAS_FALLBACK,
	    "L:postmaster");
	expect(NULL, "Abuse", "example.org", ALIAS_FALLBACK, "L:postmaster");
	expect(NULL, "postmaster", "", ALIAS_FALLBACK, "L:postmaster");
	expect(NULL, "hostmaster", "example.org", ALIAS_NONE, "");
	expect(NULL, "postmaster", "elsewhere.example", ALIAS_NONE, "");
	assert_true(alias_is_role("POSTMASTER"));
	assert_false(alias_is_role("postmasters"));

	/* an alias that names them wins, for its domain or all */
	a = parse_ok("abuse@corp.example: security@corp.example\n"
	    "postmaster: admin\n");
	expect(a, "abuse", "corp.example", ALIAS_FOUND,
	    "R:security@corp.example");
	expect(a, "abuse", "example.org", ALIAS_FALLBACK, "L:postmaster");
	expect(a, "postmaster", "", ALIAS_FOUND, "L:admin");
	expect(a, "PostMaster", "corp.example", ALIAS_FOUND, "L:admin");
	aliases_free(a);

	/* without a role_mailbox there is no default */
	{
		struct alias_result r;

		assert_int_equal(run(NULL, "postmaster", cls, NULL, &r),
		    ALIAS_NONE);
		alias_result_clear(&r);
	}
}

static void
test_target_cap(void **state)
{
	size_t cap = 20 * 1100, o;
	char *text = malloc(cap), err[256] = "";
	struct aliases *a;
	int i;

	assert_non_null(text);
	/* 1001 targets on one alias: refused at load */
	o = (size_t)snprintf(text, cap, "big:");
	for (i = 0; i <= 1000; i++)
		o += (size_t)snprintf(text + o, cap - o, " u%d", i);
	snprintf(text + o, cap - o, "\n");
	assert_null(parse(text, err, sizeof(err)));
	assert_string_equal(err, "al:1: more than 1000 targets");

	/* two lists of 600 under one: refused at expansion */
	o = (size_t)snprintf(text, cap, "both: l1, l2\nl1:");
	for (i = 0; i < 600; i++)
		o += (size_t)snprintf(text + o, cap - o, " a%d", i);
	o += (size_t)snprintf(text + o, cap - o, "\nl2:");
	for (i = 0; i < 600; i++)
		o += (size_t)snprintf(text + o, cap - o, " b%d", i);
	snprintf(text + o, cap - o, "\n");
	a = parse_ok(text);
	expect(a, "both", "example.org", ALIAS_ERROR, "");
	{
		struct alias_result r;

		run(a, "l1", cls, NULL, &r);
		assert_int_equal(r.n, 600);
		assert_string_equal(r.t[599].addr, "a599");
		alias_result_clear(&r);
	}
	aliases_free(a);
	free(text);
}

static void
test_syntax(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} c[] = {
		{ "sales bob\n", "al:1: \"NAME: target, ...\" expected" },
		{ "sales:\nbob: x\n", "al:1: alias sales has no targets" },
		{ "sales:\n", "al:1: alias sales has no targets" },
		{ "  bob\n", "al:1: a line that begins with a blank continues "
		    "the alias above it, and there is none" },
		{ "a: x\n\nA: y\n", "al:3: alias a given twice (first on "
		    "line 1)" },
		{ "a@elsewhere.example: x\n", "al:1: alias "
		    "a@elsewhere.example: elsewhere.example is neither a "
		    "local nor a routed domain" },
		{ "a: x@[192.0.2.1]\n", "al:1: target \"x@[192.0.2.1]\": "
		    "an address literal is not allowed" },
		{ "a: x..y\n", "al:1: target \"x..y\": not a valid local "
		    "part" },
		{ "a: @example.org\n", "al:1: target \"@example.org\": a "
		    "catch-all \"@domain\" is not allowed here" },
		{ "a b: x\n", "al:1: \"NAME: target, ...\" expected" },
		{ "a..b: x\n", "al:1: alias \"a..b\": not a valid local "
		    "part" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		err[0] = '\0';
		if (parse(c[i].text, err, sizeof(err)) != NULL)
			fail_msg("case %zu loaded", i);
		if (strcmp(err, c[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    c[i].want);
	}
}

static void
test_layout(void **state)
{
	struct aliases *a = parse_ok(
	    "\xef\xbb\xbf# exported\r\n"
	    "team:\r\n"
	    "    alice,\r\n"
	    "\tbob carol@corp.example   # the desk\r\n"
	    "\r\n"
	    "\"john smith\"@example.org: john\r\n"
	    "x:y\r\n");

	expect(a, "team", "example.org", ALIAS_FOUND,
	    "L:alice L:bob R:carol@corp.example");
	expect(a, "John Smith", "example.org", ALIAS_FOUND, "L:john");
	expect(a, "x", "example.org", ALIAS_FOUND, "L:y");
	aliases_free(a);
}

static void
test_many(void **state)
{
	size_t cap = 100000 * 64, o = 0;
	char *text = malloc(cap);
	struct aliases *a;
	char local[32], want[48];

	assert_non_null(text);
	for (int i = 0; i < 100000; i++)
		o += (size_t)snprintf(text + o, cap - o,
		    "user%d@example.org: box%d, user%d@corp.example\n", i, i % 500,
		    i);
	a = parse_ok(text);
	assert_int_equal(aliases_count(a), 100000);
	snprintf(local, sizeof(local), "user%d", 99999);
	snprintf(want, sizeof(want), "L:box499 R:user99999@corp.example");
	expect(a, local, "example.org", ALIAS_FOUND, want);
	aliases_free(a);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_order),
		cmocka_unit_test(test_recursion_and_duplicates),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_target_cap),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
