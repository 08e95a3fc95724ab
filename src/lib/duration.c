/*
 * duration.c - parse and print durations with units.
 *
 * Public: duration_parse, duration_format.
 * LIMITS: at most DURATION_MAX_MS in all; each number at most 18
 * digits before the check, so nothing overflows.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

static const struct {
	const char	*name;
	int64_t		 ms;
} units[] = {
	{ "w", 7LL * 86400 * 1000 },
	{ "d", 86400LL * 1000 },
	{ "h", 3600LL * 1000 },
	{ "m", 60LL * 1000 },	/* not the "m" of "ms": see duration_parse */
	{ "s", 1000 },
	{ "ms", 1 },
};
#define NUNITS	(sizeof(units) / sizeof(units[0]))

/* duration_parse - "1h30m", "500ms", "90" (unit_ms each) into *out */
int
duration_parse(const char *s, int64_t unit_ms, int64_t *out)
{
	int64_t total = 0;

	if (unit_ms <= 0 || *s == '\0')
		return DURATION_SYNTAX;
	while (*s != '\0') {
		int64_t n = 0, mult = 0;
		int digits = 0;

		while (isdigit((unsigned char)*s)) {
			n = n * 10 + (*s++ - '0');
			if (++digits > 18 || n > DURATION_MAX_MS)
				return DURATION_RANGE;
		}
		if (digits == 0)
			return DURATION_SYNTAX;
		if (*s == '\0' && total == 0)
			mult = unit_ms;		/* a plain number */
		for (size_t i = 0; i < NUNITS && mult == 0; i++) {
			size_t l = strlen(units[i].name);

			/* a unit is followed by a digit or the end */
			if (strncmp(s, units[i].name, l) == 0 &&
			    !isalpha((unsigned char)s[l])) {
				mult = units[i].ms;
				s += l;
			}
		}
		if (mult == 0)
			return DURATION_SYNTAX;
		if (n > DURATION_MAX_MS / mult)
			return DURATION_RANGE;
		total += n * mult;
		if (total > DURATION_MAX_MS)
			return DURATION_RANGE;
	}
	if (total % unit_ms != 0)
		return DURATION_FRACTION;
	*out = total / unit_ms;
	return DURATION_OK;
}

/* duration_format - the exact value in the largest units that fit */
char *
duration_format(int64_t v, int64_t unit_ms, char *buf, size_t len)
{
	int64_t ms;
	size_t off = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (v <= 0 || unit_ms <= 0 || v > DURATION_MAX_MS / unit_ms) {
		snprintf(buf, len, "%" PRId64, v);
		return buf;
	}
	ms = v * unit_ms;
	/* days, not weeks: "7d" and "30d" are what people write */
	for (size_t i = 1; i < NUNITS; i++) {
		int n;

		if (ms < units[i].ms)
			continue;
		n = snprintf(buf + off, len - off, "%" PRId64 "%s",
		    ms / units[i].ms, units[i].name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
		ms %= units[i].ms;
		if (ms == 0)
			break;
	}
	return buf;
}
