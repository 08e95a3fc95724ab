/*
 * ctl_json.h - a control answer as JSON: what `moat ... --json` prints,
 * and what `moat incident export` writes into its archive.
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
 * ctl_json_answer - {"status":..,"message":..,TABLE:[{COL:VALUE..}..]..}
 * and a newline to fp: numeric kinds as numbers, strings escaped
 * (json_write_str)
 */
void ctl_json_answer(FILE *fp, const struct ctl_answer *a);

/* ctl_json_table - one table's rows as a JSON array (no newline) */
void ctl_json_table(FILE *fp, const struct ctl_table *t);

/* ctl_json_row - row r of t as one JSON object (no newline) */
void ctl_json_row(FILE *fp, const struct ctl_table *t, size_t r);

#endif
