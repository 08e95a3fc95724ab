/*
 * users.c - the AUTH users file.
 *
 * Public: users_parse, users_free, users_count, users_name, users_hash,
 * users_any_hash, users_file_set, users_file_read, users_name_valid.
 *
 * SECURITY: the file holds argon2id hashes only (libsodium
 * crypto_pwhash_str), is written with mode 0600 and is never part of
 * the main configuration. Only the parent (to read it) and `moat
 * passwd` (to write it) open it; the auth process gets its contents
 * over IPC.
 * LIMITS: names up to USERS_NAME_MAX bytes, hashes up to USERS_HASH_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "users.h"

struct user_entry {
	char	name[USERS_NAME_MAX + 1];
	char	hash[USERS_HASH_MAX + 1];
};

struct users {
	struct user_entry	*v;
	size_t			 n, cap;
};

/* users_name_valid - printable ASCII without ':' and white space */
int
users_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > USERS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == ':')
			return 0;
	}
	return 1;
}

/* users_parse - parse the users file's text */
struct users *
users_parse(const char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct users *u;
	const char *p = text, *end = text + len;
	int lineno = 0;

	if ((u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *colon;
		size_t nlen, hlen;
		struct user_entry *e;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p || *p == '#')
			goto next;
		colon = memchr(p, ':', (size_t)(le - p));
		if (colon == NULL) {
			snprintf(err, errlen, "%s:%d: expected name:hash", name, lineno);
			goto fail;
		}
		nlen = (size_t)(colon - p);
		hlen = (size_t)(le - colon - 1);
		if (nlen == 0 || nlen > USERS_NAME_MAX || hlen == 0 ||
		    hlen > USERS_HASH_MAX || strncmp(colon + 1, "$argon2", 7) != 0) {
			snprintf(err, errlen, "%s:%d: bad user name or hash "
			    "(want name:$argon2id$...)", name, lineno);
			goto fail;
		}
		if (u->n == u->cap) {
			size_t ncap = u->cap ? u->cap * 2 : 16;
			struct user_entry *nv = reallocarray(u->v, ncap, sizeof(*nv));

			if (nv == NULL) {
				snprintf(err, errlen, "%s: out of memory", name);
				goto fail;
			}
			u->v = nv;
			u->cap = ncap;
		}
		e = &u->v[u->n++];
		memcpy(e->name, p, nlen);
		e->name[nlen] = '\0';
		memcpy(e->hash, colon + 1, hlen);
		e->hash[hlen] = '\0';
		if (!users_name_valid(e->name)) {
			snprintf(err, errlen, "%s:%d: bad user name", name, lineno);
			goto fail;
		}
		for (size_t i = 0; i + 1 < u->n; i++)
			if (strcmp(u->v[i].name, e->name) == 0) {
				snprintf(err, errlen, "%s:%d: duplicate user '%s'",
				    name, lineno, e->name);
				goto fail;
			}
next:
		p = nl ? nl + 1 : end;
	}
	return u;
fail:
	users_free(u);
	return NULL;
}

void
users_free(struct users *u)
{
	if (u == NULL)
		return;
	if (u->v)
		explicit_bzero(u->v, u->cap * sizeof(*u->v));
	free(u->v);
	free(u);
}

size_t
users_count(const struct users *u)
{
	return u ? u->n : 0;
}

/* users_name - the i-th user's name */
const char *
users_name(const struct users *u, size_t i)
{
	return u && i < u->n ? u->v[i].name : NULL;
}

/* users_hash - look a user up (exact, case-sensitive) */
const char *
users_hash(const struct users *u, const char *name)
{
	for (size_t i = 0; u && i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return u->v[i].hash;
	return NULL;
}

/* users_any_hash - the first user's hash */
const char *
users_any_hash(const struct users *u)
{
	return u && u->n > 0 ? u->v[0].hash : NULL;
}

/* users_file_read - the whole file as a NUL-terminated string */
char *
users_file_read(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *fp;
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (n + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > 64u * 1024 * 1024 || (nb = realloc(buf, cap)) == NULL) {
				snprintf(err, errlen, "%s: too large", path);
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
	} while (r > 0);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		free(buf);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Rewrite the file with name's line set to hash (added when missing),
 * or without it (hash NULL); *found: name was in the file.
 */
static int
users_file_write(const char *path, const char *name, const char *hash,
    int *found, char *err, size_t errlen)
{
	char tmp[4096], *text = NULL;
	size_t len = 0;
	struct users *u = NULL;
	FILE *fp = NULL;
	int fd = -1, replaced = 0;

	tmp[0] = '\0';
	if (!users_name_valid(name)) {
		snprintf(err, errlen, "bad user name '%s'", name);
		return -1;
	}
	if (access(path, F_OK) == 0) {
		if ((text = users_file_read(path, &len, err, errlen)) == NULL)
			return -1;
		if ((u = users_parse(text, len, path, err, errlen)) == NULL)
			goto fail;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	for (size_t i = 0; u && i < u->n; i++) {
		if (strcmp(u->v[i].name, name) == 0) {
			if (hash != NULL)
				fprintf(fp, "%s:%s\n", name, hash);
			replaced = 1;
		} else
			fprintf(fp, "%s:%s\n", u->v[i].name, u->v[i].hash);
	}
	*found = replaced;
	if (!replaced && hash != NULL)
		fprintf(fp, "%s:%s\n", name, hash);
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
		goto fail;
	}
	fclose(fp);
	fp = NULL;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	users_free(u);
	free(text);
	return 0;
fail:
	if (fp)
		fclose(fp);
	if (fd != -1)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	users_free(u);
	free(text);
	return -1;
}

/* users_file_set - add or replace one user, atomically */
int
users_file_set(const char *path, const char *name, const char *hash,
    char *err, size_t errlen)
{
	int found;

	return users_file_write(path, name, hash, &found, err, errlen);
}

/* users_file_del - remove one user, atomically: 0, 1 not there, -1 */
int
users_file_del(const char *path, const char *name, char *err, size_t errlen)
{
	int found = 0;

	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	if (users_file_write(path, name, NULL, &found, err, errlen) == -1)
		return -1;
	return found ? 0 : 1;
}
