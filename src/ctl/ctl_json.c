/*
 * ctl_json.c - a control answer as JSON.
 *
 * Public: ctl_status_name, ctl_json_write, ctl_json_row.
 *
 * One renderer for the CLI's --json and the web console's API, so both
 * give the same document for the same answer. Column kinds other than
 * CTL_KIND_STR are written as JSON numbers, raw (seconds, bytes, 0/1).
 *
 * SECURITY: every string of an answer may hold what a peer sent (a HELO
 * name, an address); json_write_str escapes it and replaces bytes that
 * are not UTF-8, so the output is always valid JSON.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl/ctl_json.h"
#include "ctl/ctl_msg.h"
#include "lib/json.h"

/* ctl_status_name - the status as the JSON says it */
const char *
ctl_status_name(int st)
{
	switch (st) {
	case CTL_OK: return "ok";
	case CTL_FAILED: return "failed";
	case CTL_BAD_REQUEST: return "bad_request";
	case CTL_DENIED: return "denied";
	}
	return "?";
}

/* ctl_json_row - one row as an object */
void
ctl_json_row(FILE *fp, const struct ctl_table *t, size_t r)
{
	fputc('{', fp);
	for (size_t c = 0; c < t->ncols; c++) {
		const struct ctl_cell *x = &t->cells[r * t->ncols + c];

		if (c)
			fputc(',', fp);
		json_write_str(fp, t->cols[c].name);
		fputc(':', fp);
		if (t->cols[c].kind == CTL_KIND_STR)
			json_write_str(fp, x->s);
		else
			fprintf(fp, "%" PRId64, x->i);
	}
	fputc('}', fp);
}

/* ctl_json_write - the whole answer */
void
ctl_json_write(FILE *fp, const struct ctl_answer *a)
{
	fprintf(fp, "{\"status\":\"%s\",\"message\":",
	    ctl_status_name(a->status));
	json_write_str(fp, a->message);
	for (size_t i = 0; i < a->ntables; i++) {
		const struct ctl_table *t = &a->tables[i];

		fputc(',', fp);
		json_write_str(fp, t->name);
		fputs(":[", fp);
		for (size_t r = 0; r < t->nrows; r++) {
			if (r)
				fputc(',', fp);
			ctl_json_row(fp, t, r);
		}
		fputc(']', fp);
	}
	fputs("}\n", fp);
}
