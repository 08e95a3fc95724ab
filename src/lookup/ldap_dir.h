/*
 * ldap_dir.h - an LDAP or Active Directory directory that recipients are
 * looked up in: asynchronous on the lookup process's event loop, servers
 * tried in order, TLS with certificate verification, cached answers.
 */
#ifndef MOAT_LDAP_DIR_H
#define MOAT_LDAP_DIR_H

#include <stddef.h>

#include "lookup.h"

struct event_base;
struct conf_ldap;
struct ldap_dir;

#define LDAP_SECRET_FILE_MAX	8192	/* bytes of a bind_file */

/* the bind DN and password of a bind_file; "" and "": anonymous */
struct ldap_secret {
	char	binddn[1024];
	char	password[256];
};

/*
 * ldap_secret_load - read a bind_file: a regular file (not a symlink)
 * owned by root or by the user running moat, mode 0600 or 0400 (no group
 * or other bits), with "binddn = DN" and "password = ..." lines (the
 * password runs to the end of its line), '#' comments and blank lines.
 * Read as root in the lookup process's prepare hook, and by the parent
 * at start to refuse a bad one. Returns 0, or -1 with "path: what" or
 * "path:line: what" in err (never the password).
 */
int ldap_secret_load(const char *path, struct ldap_secret *out, char *err,
    size_t errlen);

/* ldap_secret_wipe - zero s */
void ldap_secret_wipe(struct ldap_secret *s);

/*
 * ldap_dir_new - a directory for the section lc (copied; lc need not
 * outlive it) with the credentials sec (copied; NULL: anonymous). No
 * connection is made until the first lookup. NULL with a reason in err.
 */
struct ldap_dir *ldap_dir_new(struct event_base *base,
    const struct conf_ldap *lc, const struct ldap_secret *sec, char *err,
    size_t errlen);

/*
 * ldap_dir_set_event - fn is called with the event type and its detail
 * for security events: "ldap_unavailable" (every server failed, or the
 * one in use stopped answering), at most one per LDAP_EVENT_INTERVAL
 * seconds per directory.
 */
#define LDAP_EVENT_INTERVAL	60
typedef void ldap_event_fn(void *arg, const char *type, const char *detail);
void ldap_dir_set_event(struct ldap_dir *d, ldap_event_fn *fn, void *arg);

/*
 * ldap_dir_lookup - does addr ("local@domain", the plain local part,
 * lowercased by the caller) exist in the directory? cb gets
 * LOOKUP_FOUND, LOOKUP_NOTFOUND, or LOOKUP_TEMPFAIL when the directory
 * did not answer within the section's timeout (down, slow, refused the
 * bind or the search); never later than that. cb may be called before
 * this returns (a cached answer).
 */
void ldap_dir_lookup(struct ldap_dir *d, const char *addr, lookup_done_fn *cb,
    void *arg);

/* ldap_dir_name - the section's name, for logs */
const char *ldap_dir_name(const struct ldap_dir *d);

/*
 * ldap_dir_free - close the connection; lookups still waiting get
 * LOOKUP_TEMPFAIL first. NULL is accepted.
 */
void ldap_dir_free(struct ldap_dir *d);

#endif
