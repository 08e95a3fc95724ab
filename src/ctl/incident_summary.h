/*
 * incident_summary.h - the human summary of an incident (summary.txt of
 * `moat incident export`): timeline, counts, what was held, what left,
 * which addresses were banned, and what the administrator should do
 * next, with the exact moat commands.
 */
#ifndef MOAT_INCIDENT_SUMMARY_H
#define MOAT_INCIDENT_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

struct ctl_answer;

/* What the archive holds besides the incident answer. */
struct incident_extra {
	int64_t		 generated;	/* unix seconds */
	int64_t		 sessions;	/* live sessions; -1: not known */
	const char	*log_source;	/* where the log lines came from,
					 * NULL: none were available */
	const char	*log_why;	/* why none (log_source NULL) */
	int64_t		 log_lines;
};

/*
 * incident_summary - the text for the CTL_OP_INCIDENT answer inc to fp.
 * Pure: reads only inc and x (no clock, no environment). Control
 * characters in cells are shown as '?'. 0, or -1 when inc lacks its
 * summary table.
 */
int incident_summary(FILE *fp, const struct ctl_answer *inc,
    const struct incident_extra *x);

/*
 * incident_value - the value of key in inc's summary table, "" when
 * absent (a view into inc)
 */
const char *incident_value(const struct ctl_answer *inc, const char *key);

#endif
