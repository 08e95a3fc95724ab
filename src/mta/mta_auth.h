/*
 * mta_auth.h - smarthost credentials: the smarthost_auth_file, its
 * parser, the lookup of a destination's credentials and the AUTH PLAIN
 * and LOGIN encodings.
 */
#ifndef MOAT_MTA_AUTH_H
#define MOAT_MTA_AUTH_H

#include <stddef.h>

#define MTA_AUTH_MAX		64	/* entries in the file */
#define MTA_AUTH_FIELD_MAX	256	/* user or password, NUL included */
#define MTA_AUTH_FILE_MAX	65536	/* bytes of the file */

/* One line of the file: "user:password" or "host user:password". */
struct mta_cred {
	char	host[256];		/* lowercased; "" matches the smarthost */
	char	user[MTA_AUTH_FIELD_MAX];
	char	pass[MTA_AUTH_FIELD_MAX];
};

/* Every entry; owned by the mta process, wiped by mta_auth_free. */
struct mta_auth {
	struct mta_cred	v[MTA_AUTH_MAX];
	size_t		n;
};

/*
 * mta_auth_parse - the file's text (len bytes) into a. One entry a
 * line; blank lines and lines starting with '#' are skipped. A line is
 * "user:password" (the smarthost) or "host user:password" (a smarthost
 * or route host of that name; "[addr]" or addr for an address). The
 * password runs to the end of the line and may hold ':' and spaces.
 * Returns 0, or -1 with "line N: what" in err (never the password).
 */
int mta_auth_parse(const char *text, size_t len, struct mta_auth *a,
    char *err, size_t errlen);

/*
 * mta_auth_load - read path: a regular file, not a symlink, mode 0600
 * or stricter (no group or other bits), then mta_auth_parse. Returns a
 * new struct mta_auth, or NULL with the reason in err.
 */
struct mta_auth *mta_auth_load(const char *path, char *err, size_t errlen);

/* mta_auth_free - wipe and free a; NULL is accepted */
void mta_auth_free(struct mta_auth *a);

/*
 * mta_auth_find - the credentials for a destination host: an entry for
 * that host, else (smarthost only) the entry without a host. NULL when
 * none: nothing is sent.
 */
const struct mta_cred *mta_auth_find(const struct mta_auth *a,
    const char *host, int smarthost);

/*
 * mta_auth_plain - base64 of "\0user\0pass" (RFC 4616) into out.
 * mta_auth_b64 - base64 of s into out. Both return 0, or -1 when out
 * is too small.
 */
int mta_auth_plain(const struct mta_cred *c, char *out, size_t outlen);
int mta_auth_b64(const char *s, char *out, size_t outlen);

#endif
