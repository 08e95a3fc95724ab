/*
 * test_proc.c - the process table and the configuration digest that an
 * exec'd child compares with its parent's (src/daemon/proc.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "daemon/config.h"
#include "daemon/proc.h"

/* every child runs and talks to the parent; links are symmetric */
static void
test_table(void **state)
{
	static const char *names[PROC_COUNT] = {
		"main", "smtp", "queue", "auth", "mta", "control", "ca",
		"lookup"
	};
	int bad = 0;

	for (int a = 0; a < PROC_COUNT; a++) {
		if (strcmp(proc_name(a), names[a]) != 0) {
			fprintf(stderr, "proc_name(%d): got %s, want %s\n", a,
			    proc_name(a), names[a]);
			bad++;
		}
		if (proc_runs(a) != (a != PROC_PARENT)) {
			fprintf(stderr, "proc_runs(%s): got %d\n", names[a],
			    proc_runs(a));
			bad++;
		}
		if (proc_linked(a, a)) {
			fprintf(stderr, "%s linked with itself\n", names[a]);
			bad++;
		}
		if (a != PROC_PARENT && !proc_linked(PROC_PARENT, a)) {
			fprintf(stderr, "%s not linked with the parent\n",
			    names[a]);
			bad++;
		}
		for (int b = 0; b < PROC_COUNT; b++)
			if (proc_linked(a, b) != proc_linked(b, a)) {
				fprintf(stderr, "link %s-%s not symmetric\n",
				    names[a], names[b]);
				bad++;
			}
	}
	assert_int_equal(bad, 0);
	assert_true(proc_linked(PROC_SMTP, PROC_CA));
	assert_true(proc_linked(PROC_SMTP, PROC_LOOKUP));
	assert_true(proc_linked(PROC_LOOKUP, PROC_QUEUE));
	assert_false(proc_linked(PROC_LOOKUP, PROC_MTA));
	/* stopped after smtp, before the queue its events go to */
	assert_true(proc_stop_phase(PROC_LOOKUP) > proc_stop_phase(PROC_SMTP));
	assert_true(proc_stop_phase(PROC_LOOKUP) < proc_stop_phase(PROC_QUEUE));
	assert_false(proc_linked(PROC_AUTH, PROC_QUEUE));
	assert_string_equal(proc_name(PROC_COUNT), "?");
}

static struct conf *
conf_of(const char *text)
{
	char err[1024];
	struct conf *c = conf_load_string(text, "/etc/moat/moat.conf", err,
	    sizeof(err));

	if (c == NULL)
		fail_msg("conf_load_string: %s", err);
	return c;
}

/* the same configuration gives the same digest, another one another */
static void
test_digest(void **state)
{
	static const char *base = "[server]\nhostname = mx.example\n";
	struct conf *a = conf_of(base), *b = conf_of(base);
	struct conf *c = conf_of("[server]\nhostname = mx2.example\n");
	struct conf *d = conf_of("[server]\nhostname = mx.example\n"
	    "# a comment changes nothing\n");
	char ha[PROC_DIGEST_HEX], hb[PROC_DIGEST_HEX], hc[PROC_DIGEST_HEX],
	    hd[PROC_DIGEST_HEX];

	assert_int_equal(proc_conf_digest(a, ha), 0);
	assert_int_equal(proc_conf_digest(b, hb), 0);
	assert_int_equal(proc_conf_digest(c, hc), 0);
	assert_int_equal(proc_conf_digest(d, hd), 0);
	assert_int_equal(strlen(ha), PROC_DIGEST_HEX - 1);
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
	assert_string_equal(ha, hd);
	conf_free(a);
	conf_free(b);
	conf_free(c);
	conf_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_digest),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
