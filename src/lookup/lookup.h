/*
 * lookup.h - the types the recipient sources of the lookup process
 * share (src/lookup/): an answer, the callback that carries it, the
 * question asked and the targets a FOUND may name.
 *
 * A source is one function and its state (struct lookup_source). The
 * lookup process asks the sources of a recipient's domain in order and
 * combines their answers once, in lookup_proc.c: any FOUND wins (the
 * sources after it are not asked), all NOTFOUND is NOTFOUND, anything
 * else TEMPFAIL.
 */
#ifndef MOAT_LOOKUP_H
#define MOAT_LOOKUP_H

#include <stddef.h>

#include "../io/proto.h"

enum lookup_answer { LOOKUP_FOUND, LOOKUP_NOTFOUND, LOOKUP_TEMPFAIL };

/* a source's answer; why: short text for logs ("ldap: timeout"), may be NULL */
typedef void lookup_done_fn(void *arg, enum lookup_answer a, const char *why);

#define LOOKUP_TARGETS_MAX	PROTO_LOOKUP_TARGETS_MAX	/* 1000 */
#define LOOKUP_ADDR_MAX		PROTO_ADDR_MAX	/* an address, its NUL */

/* the recipients one RCPT stands for (alias expansion may give several) */
struct lookup_target {
	char	addr[LOOKUP_ADDR_MAX];
	char	mailbox[LOOKUP_ADDR_MAX];	/* local Maildir, "" relayed */
};
struct lookup_targets {
	struct lookup_target	*v;		/* owned */
	size_t			 n, cap;
};

enum lookup_kind {
	LOOKUP_KIND_LOCAL = PROTO_LOOKUP_LOCAL,	/* local domain, or "" */
	LOOKUP_KIND_ROUTED = PROTO_LOOKUP_ROUTED,	/* an internal server's */
};

/* the question: does this recipient exist? */
struct lookup_query {
	const char		*addr;		/* as the client gave it
						 * (addr_format's output) */
	const char		*local;		/* lowercased local part */
	const char		*domain;	/* lowercased; "" for a bare
						 * <postmaster> */
	enum lookup_kind	 kind;
	/* a source that answers FOUND may name the recipients here
	 * (lookup_target_add); none named: the address itself, relayed for
	 * a routed domain, into the mailbox "local@domain" for a local one */
	struct lookup_targets	*targets;
	/*
	 * A source that answers NOTFOUND may name fallback recipients here
	 * (an alias catch-all, the role address default): they apply when
	 * no source finds the address itself; when another source could
	 * not answer (TEMPFAIL), only if *fallback_firm (the role
	 * addresses: postmaster must work while a directory is down).
	 */
	struct lookup_targets	*fallback;
	int			*fallback_firm;
};

/*
 * A source: asks fn(state, q, done, arg); fn calls done exactly once,
 * before it returns (a table, a cache hit) or later from the event loop
 * (a directory, a probe). The query's strings live until done is
 * called.
 */
typedef void lookup_source_fn(void *state, const struct lookup_query *q,
    lookup_done_fn *done, void *arg);
struct lookup_source {
	const char		*name;		/* for logs: "table", "ldap" */
	lookup_source_fn	*fn;
	void			*state;		/* not owned */
};

/*
 * lookup_target_add - one more target; -1 when LOOKUP_TARGETS_MAX are
 * there already, a string is too long or memory ran out
 */
int lookup_target_add(struct lookup_targets *t, const char *addr,
    const char *mailbox);
/* lookup_targets_clear - none left, memory kept */
void lookup_targets_clear(struct lookup_targets *t);
void lookup_targets_free(struct lookup_targets *t);

#endif
