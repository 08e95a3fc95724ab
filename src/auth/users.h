/*
 * users.h - the AUTH users file: "name:$argon2id$..." per line.
 */
#ifndef MOAT_USERS_H
#define MOAT_USERS_H

#include <stddef.h>

#define USERS_NAME_MAX	255
#define USERS_HASH_MAX	128	/* crypto_pwhash_STRBYTES */

struct users;

/*
 * users_parse - parse the file's text. Lines are "name:hash"; blank lines
 * and lines starting with '#' are ignored. Returns NULL with err set as
 * "NAME:LINE: what is wrong".
 */
struct users *users_parse(const char *text, size_t len, const char *name,
    char *err, size_t errlen);
void users_free(struct users *u);
size_t users_count(const struct users *u);

/* users_name - the i-th name in file order (i < users_count), or NULL */
const char *users_name(const struct users *u, size_t i);

/* users_hash - the stored hash of name, or NULL */
const char *users_hash(const struct users *u, const char *name);

/* users_any_hash - the hash of some user (for equal-cost refusals), or NULL */
const char *users_any_hash(const struct users *u);

/* users_name_valid - 1 when name may appear in the file */
int users_name_valid(const char *name);

/*
 * users_file_set - add or replace name's hash in the file at path,
 * atomically (write a temporary file mode 0600, fsync, rename).
 * Returns 0, or -1 with err set.
 */
int users_file_set(const char *path, const char *name, const char *hash,
    char *err, size_t errlen);

/*
 * users_file_del - remove name from the file at path, atomically as
 * users_file_set writes. Returns 0, 1 when name is not in the file
 * (nothing written), or -1 with err set.
 */
int users_file_del(const char *path, const char *name, char *err,
    size_t errlen);

/* users_file_read - read the whole file; NULL with err set on failure */
char *users_file_read(const char *path, size_t *len, char *err, size_t errlen);

#endif
