/*
 * unit_tmp.c - temporary directories and queue databases for the unit
 * tests (unit_tmp.h). Linked into every unit test binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "queue/queue_db.h"
#include "unit_tmp.h"

/* unit_tmp_dir - see unit_tmp.h */
int
unit_tmp_dir(char *buf, size_t len, const char *name)
{
	if ((size_t)snprintf(buf, len, "/tmp/moat-test-%s-XXXXXX", name) >=
	    len || mkdtemp(buf) == NULL) {
		print_error("mkdtemp /tmp/moat-test-%s: failed\n", name);
		return -1;
	}
	return 0;
}

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

/* unit_tmp_remove - see unit_tmp.h */
void
unit_tmp_remove(const char *dir)
{
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* unit_queue_db_open - see unit_tmp.h */
int
unit_queue_db_open(struct unit_queue_db *q, const char *name)
{
	char err[512];

	q->db = NULL;
	if (unit_tmp_dir(q->dir, sizeof(q->dir), name) == -1)
		return -1;
	snprintf(q->path, sizeof(q->path), "%s/queue.db", q->dir);
	if ((q->db = queue_db_open(q->dir, err, sizeof(err))) == NULL) {
		print_error("queue_db_open: %s\n", err);
		unit_tmp_remove(q->dir);
		return -1;
	}
	return 0;
}

/* unit_queue_db_close - see unit_tmp.h */
void
unit_queue_db_close(struct unit_queue_db *q)
{
	queue_db_close(q->db);
	q->db = NULL;
	chmod(q->dir, 0700);
	unit_tmp_remove(q->dir);
}

/* unit_queue_db_peek - see unit_tmp.h */
sqlite3 *
unit_queue_db_peek(const struct unit_queue_db *q)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open_v2(q->path, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	return h;
}
