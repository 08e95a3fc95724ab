/*
 * ctl_json.h - a control answer as JSON: what `moat ... --json` prints
 * and what the web console's /api/OP answers.
 */
#ifndef MOAT_CTL_JSON_H
#define MOAT_CTL_JSON_H

#include <stddef.h>
#include <stdio.h>

struct ctl_answer;
struct ctl_table;

/* ctl_status_name - "ok", "failed", "bad_request", "denied" */
const char *ctl_status_name(int status);

/*
 * ctl_json_write - {"status":..., "message":..., "TABLE":[{col:value,
 * ...}, ...], ...} and a newline; strings JSON-escaped (json.h),
 * numbers as numbers
 */
void ctl_json_write(FILE *fp, const struct ctl_answer *a);
/* ctl_json_row - row r of t as one JSON object, no newline */
void ctl_json_row(FILE *fp, const struct ctl_table *t, size_t r);

#endif
