/*
 * aliases.h - the aliases table (aliases_file) and its expansion.
 *
 * File format, one alias a line:
 *
 *   NAME: TARGET, TARGET ...
 *   external NAME: TARGET, TARGET ...
 *
 * NAME is a bare local part ("sales": that local part in every local
 * and routed domain, and the bare <postmaster>), an address
 * ("sales@example.org") or a catch-all ("@example.org": any local part
 * of that domain no other source knows). A TARGET is a bare local part
 * (a local mailbox, or another alias of that name) or an address of a
 * local or routed domain (delivered there, or another alias). An address
 * of any other domain is an outside target, allowed only on a line that
 * begins with the word "external". Targets are separated by commas or
 * blanks; a line that begins with a blank continues the alias above it;
 * '#' starts a comment (a whole line, or a word that begins with it).
 * Errors: "path:line: what is wrong".
 */
#ifndef MOAT_ALIASES_H
#define MOAT_ALIASES_H

#include <stddef.h>

#include "mail/addr.h"

#define ALIAS_TARGETS_MAX	1000	/* targets of one expansion */
#define ALIAS_DEPTH_MAX		16	/* aliases naming aliases */

/* what a domain is to us; the caller's classifier says (pure) */
enum alias_domain {
	ALIAS_DOM_LOCAL,	/* local_domains: Maildir delivery */
	ALIAS_DOM_ROUTED,	/* routes: an internal server */
	ALIAS_DOM_OUTSIDE,	/* anything else */
};
typedef enum alias_domain alias_classify_fn(void *arg, const char *domain);

struct aliases;

/*
 * aliases_load - read path; cls tells local, routed and outside domains
 * (a NAME must be of a local or routed domain, an outside target needs
 * "external"). Also refused: a NAME given twice, an alias whose every
 * target leads back into a loop of aliases (nothing to deliver). NULL
 * with "path:line: ..." in err.
 */
struct aliases *aliases_load(const char *path, alias_classify_fn *cls,
    void *arg, char *err, size_t errlen);

/* aliases_parse - the same from len bytes; name stands for the path */
struct aliases *aliases_parse(const char *name, const char *text,
    size_t len, alias_classify_fn *cls, void *arg, char *err,
    size_t errlen);

/* aliases_count - the aliases (NAMEs) of the table */
size_t aliases_count(const struct aliases *a);

/* aliases_free - accepts NULL */
void aliases_free(struct aliases *a);

enum alias_status {
	ALIAS_NONE,		/* no alias and no role address: ask the
				 * recipient sources */
	ALIAS_FOUND,		/* an alias of the address or its local part:
				 * the targets replace the recipient */
	ALIAS_FALLBACK,		/* a catch-all, or the role_mailbox default
				 * of postmaster@/abuse@: the targets apply
				 * only when no recipient source knows the
				 * address itself */
	ALIAS_ERROR,		/* loop, depth, too many targets, an outside
				 * target on a line without "external": not
				 * deliverable (NOTFOUND), why says so */
};

enum alias_kind {
	ALIAS_T_LOCAL,		/* bare local part (a mailbox name), or an
				 * address of a local domain */
	ALIAS_T_ROUTED,		/* an address of a routed domain */
	ALIAS_T_OUTSIDE,	/* an address elsewhere ("external" line) */
};

struct alias_target {
	enum alias_kind	kind;
	/* "alice" (bare: a local mailbox) or "local@domain" as written
	 * back by addr_format (the local part's case is kept) */
	char		addr[ADDR_STRLEN];
};

/* one expansion; owns its targets (they outlive a reload of the table) */
struct alias_result {
	enum alias_status	 status;
	size_t			 n;
	struct alias_target	*t;		/* n targets; owned */
	size_t			 cap;
	unsigned		 line;		/* of the alias that matched */
	unsigned		 loops;		/* targets dropped: they led
						 * back to an alias on the way */
	char			 why[160];	/* ALIAS_ERROR: what went wrong */
};

/*
 * aliases_expand - the targets of local@domain (local: the plain local
 * part, any case; domain "" for a bare <postmaster>). Looks up, in
 * order, "local@domain", "local" and "@domain", then expands each
 * target: an alias named by a target is replaced by its targets
 * (ALIAS_DEPTH_MAX deep), an alias met again is not expanded again (a
 * loop, or a second path to the same alias), a target that names the
 * alias it stands in is delivered as it is ("alice: alice, backup"),
 * duplicates are removed. With role_mailbox not NULL, a postmaster or
 * abuse local part no alias names gives ALIAS_FALLBACK with that local
 * mailbox. a may be NULL (no aliases). An outside domain gives
 * ALIAS_NONE. res must be zeroed before its first use; it is cleared
 * first; free it with alias_result_clear.
 */
enum alias_status aliases_expand(const struct aliases *a, const char *local,
    const char *domain, alias_classify_fn *cls, void *arg,
    const char *role_mailbox, struct alias_result *res);

/* alias_result_clear - free the targets; res may be used again */
void alias_result_clear(struct alias_result *res);

/* alias_is_role - 1 for the role local parts postmaster and abuse */
int alias_is_role(const char *local);

#endif
