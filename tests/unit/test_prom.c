/*
 * test_prom.c - label values escaped for the Prometheus text format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/prom.h"

static void
test_escape(void **state)
{
	static const struct {
		const char	*in;
		size_t		 len;	/* 0: strlen */
		size_t		 room;	/* 0: plenty */
		const char	*want;
	} t[] = {
		{ "alice", 0, 0, "alice" },
		{ "a\"b", 0, 0, "a\\\"b" },
		{ "a\\b", 0, 0, "a\\\\b" },
		{ "a\nb", 0, 0, "a\\nb" },
		{ "a\rb\tc", 0, 0, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c" },
		{ "j\xc3\xbcrgen", 0, 0, "j\xc3\xbcrgen" },
		{ "bad\xc3", 0, 0, "bad\xef\xbf\xbd" },
		{ "\xff\xfe", 0, 0, "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "a\0b", 3, 0, "a\xef\xbf\xbd" "b" },
		/* cut between characters, never inside an escape */
		{ "ab\"c", 0, 4, "ab" },
		{ "ab\xc3\xbc", 0, 4, "ab" },
		{ "abc", 0, 4, "abc" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[64];
		size_t len = t[i].len ? t[i].len : strlen(t[i].in);
		size_t room = t[i].room ? t[i].room : sizeof(out);

		prom_label_escape(out, room, t[i].in, len);
		if (strcmp(out, t[i].want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out,
			    t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
