/*
 * duration.h - durations as people write them: "30s", "10m", "2h", "7d",
 * "2w", "500ms", sums like "1h30m"; a plain number is in the caller's
 * unit. Pure functions over strings.
 */
#ifndef MOAT_DURATION_H
#define MOAT_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MS	1	/* unit_ms of a knob in milliseconds */
#define DURATION_S	1000	/* unit_ms of a knob in seconds */

enum duration_err {
	DURATION_OK = 0,
	DURATION_SYNTAX = -1,	/* not a duration */
	DURATION_FRACTION = -2,	/* not a whole number of unit_ms */
	DURATION_RANGE = -3,	/* over DURATION_MAX_MS */
};

/* ten years in milliseconds: far above any bound, far below overflow */
#define DURATION_MAX_MS	(10LL * 366 * 86400 * 1000)

/*
 * duration_parse - s into *out, counted in units of unit_ms
 * milliseconds (DURATION_S: seconds). A number without a unit is in
 * that unit already. Returns a duration_err.
 */
int duration_parse(const char *s, int64_t unit_ms, int64_t *out);

/*
 * duration_format - v units of unit_ms as the exact text duration_parse
 * reads back ("7d", "1h30m", "250ms", "0"); returns buf
 */
char *duration_format(int64_t v, int64_t unit_ms, char *buf, size_t len);

#endif
