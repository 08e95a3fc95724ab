/*
 * unit_tmp.h - temporary directories and queue databases for the unit
 * tests: each test gets a directory of its own under /tmp, removed with
 * all it holds at the end.
 */
#ifndef MOAT_UNIT_TMP_H
#define MOAT_UNIT_TMP_H

#include <sqlite3.h>

struct queue_db;

/* A fresh queue.db in a directory of its own. */
struct unit_queue_db {
	char		 dir[64];	/* /tmp/moat-test-NAME-XXXXXX */
	char		 path[128];	/* dir/queue.db */
	struct queue_db	*db;		/* open on dir */
};

/* unit_tmp_dir - a new directory /tmp/moat-test-NAME-XXXXXX in buf; 0 or -1 */
int unit_tmp_dir(char *buf, size_t len, const char *name);

/* unit_tmp_remove - dir and all below it (links not followed) */
void unit_tmp_remove(const char *dir);

/*
 * unit_queue_db_open - a new directory and the queue database opened in
 * it; 0, or -1 with the reason printed (for a cmocka setup)
 */
int unit_queue_db_open(struct unit_queue_db *q, const char *name);

/* unit_queue_db_close - close the database (NULL: already closed) and
 * remove the directory, even one a test made read-only */
void unit_queue_db_close(struct unit_queue_db *q);

/*
 * unit_queue_db_peek - a second, read-only connection to the file (WAL
 * lets it read while the first is open), to check the rows themselves
 */
sqlite3 *unit_queue_db_peek(const struct unit_queue_db *q);

#endif
