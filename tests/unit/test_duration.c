/*
 * test_duration.c - duration_parse and duration_format: units, plain
 * numbers in the caller's unit, fractions of the unit, overflow, and
 * the printed text parsing back to the same value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/duration.h"

static void
test_parse_seconds(void **state)
{
	static const struct { const char *in; int64_t want; } ok[] = {
		{ "0", 0 }, { "90", 90 }, { "30s", 30 }, { "10m", 600 },
		{ "2h", 7200 }, { "7d", 604800 }, { "2w", 1209600 },
		{ "1h30m", 5400 }, { "1m30s", 90 }, { "2000ms", 2 },
		{ "1d1s", 86401 },
	};
	static const struct { const char *in; int err; } bad[] = {
		{ "", DURATION_SYNTAX }, { "-1", DURATION_SYNTAX },
		{ "1x", DURATION_SYNTAX }, { "h", DURATION_SYNTAX },
		{ "1.5h", DURATION_SYNTAX }, { " 1h", DURATION_SYNTAX },
		{ "1h ", DURATION_SYNTAX }, { "1h30", DURATION_SYNTAX },
		{ "1mm", DURATION_SYNTAX }, { "1H", DURATION_SYNTAX },
		{ "500ms", DURATION_FRACTION }, { "1s500ms", DURATION_FRACTION },
		{ "99999999999d", DURATION_RANGE },
		{ "9999999999999999999999", DURATION_RANGE },
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -7;
		if (duration_parse(ok[i].in, DURATION_S, &v) != DURATION_OK ||
		    v != ok[i].want)
			fail_msg("'%s': got %lld, want %lld", ok[i].in,
			    (long long)v, (long long)ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = duration_parse(bad[i].in, DURATION_S, &v);

		if (r != bad[i].err)
			fail_msg("'%s': got %d, want %d", bad[i].in, r,
			    bad[i].err);
	}
}

/* a knob in milliseconds: a plain number stays milliseconds */
static void
test_parse_milliseconds(void **state)
{
	static const struct { const char *in; int64_t want; } ok[] = {
		{ "250", 250 }, { "500ms", 500 }, { "1s", 1000 },
		{ "2s", 2000 }, { "1m", 60000 }, { "1s250ms", 1250 },
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (duration_parse(ok[i].in, DURATION_MS, &v) != DURATION_OK ||
		    v != ok[i].want)
			fail_msg("'%s': got %lld, want %lld", ok[i].in,
			    (long long)v, (long long)ok[i].want);
}

static void
test_format(void **state)
{
	static const struct { int64_t v, unit; const char *want; } t[] = {
		{ 0, DURATION_S, "0" }, { 30, DURATION_S, "30s" },
		{ 300, DURATION_S, "5m" }, { 5400, DURATION_S, "1h30m" },
		{ 604800, DURATION_S, "7d" }, { 691200, DURATION_S, "8d" },
		{ 2592000, DURATION_S, "30d" }, { 90061, DURATION_S, "1d1h1m1s" },
		{ 250, DURATION_MS, "250ms" }, { 1000, DURATION_MS, "1s" },
		{ 1250, DURATION_MS, "1s250ms" },
	};
	char buf[64];
	int64_t back;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		duration_format(t[i].v, t[i].unit, buf, sizeof(buf));
		if (strcmp(buf, t[i].want) != 0)
			fail_msg("%lld: got '%s', want '%s'",
			    (long long)t[i].v, buf, t[i].want);
		if (duration_parse(buf, t[i].unit, &back) != DURATION_OK ||
		    back != t[i].v)
			fail_msg("'%s' does not parse back to %lld", buf,
			    (long long)t[i].v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_seconds),
		cmocka_unit_test(test_parse_milliseconds),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
