/*
 * ctl_json.c - control answers as JSON.
 *
 * Public: ctl_status_name, ctl_json_answer, ctl_json_table, ctl_json_row.
 *
 * SECURITY: the cells hold what network peers sent (addresses, user
 * names, event details); every string goes through json_write_str,
 * which escapes quotes and controls and replaces invalid UTF-8.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ctl/ctl_json.h"
#include "ctl/ctl_msg.h"
#include "lib/json.h"

/* ctl_status_name - an answer's status as JSON and the CLI say it */
const char *
ctl_status_name(int status)
{
	switch (status) {
	case CTL_OK: return "ok";
	case CTL_FAILED: return "failed";
	case CTL_BAD_REQUEST: return "bad_request";
	case CTL_DENIED: return "denied";
	}
	return "?";
}

/* ctl_json_row - row r of t as an object */
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

/* ctl_json_table - the rows of t */
void
ctl_json_table(FILE *fp, const struct ctl_table *t)
{
	fputc('[', fp);
	for (size_t r = 0; r < t->nrows; r++) {
		if (r)
			fputc(',', fp);
		ctl_json_row(fp, t, r);
	}
	fputc(']', fp);
}

/* ctl_json_answer - the whole answer */
void
ctl_json_answer(FILE *fp, const struct ctl_answer *a)
{
	fprintf(fp, "{\"status\":\"%s\",\"message\":",
	    ctl_status_name(a->status));
	json_write_str(fp, a->message);
	for (size_t i = 0; i < a->ntables; i++) {
		fputc(',', fp);
		json_write_str(fp, a->tables[i].name);
		fputc(':', fp);
		ctl_json_table(fp, &a->tables[i]);
	}
	fputs("}\n", fp);
}
