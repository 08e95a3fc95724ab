/*
 * resolver.h - one libunbound context set up the same way for every
 * process that resolves (dnsbl, reverse names, the mta).
 */
#ifndef MOAT_RESOLVER_H
#define MOAT_RESOLVER_H

#include <stddef.h>

struct event_base;
struct ub_ctx;
struct resolver;

/* with a server: answer 127.in-addr.arpa from it too, not locally */
#define RESOLVER_LOOPBACK_PTR	0x01
/* without a server: an unreadable resolv.conf is logged, and answers
 * come from the root servers; otherwise it is an error */
#define RESOLVER_ROOT_FALLBACK	0x02
/* synchronous: ub_resolve in the caller's thread (a worker's own) */
#define RESOLVER_SYNC		0x04

/*
 * resolver_new - an asynchronous resolver: server ("ADDR" or
 * "ADDR@PORT", loopback allowed) as the only forwarder, or, when NULL
 * or "", the servers of /etc/resolv.conf. name says who it is for in
 * logs. NULL with a reason in err.
 */
struct resolver *resolver_new(const char *name, const char *server,
    int flags, char *err, size_t errlen);

/* resolver_attach - run answers on base (again after a fork); 0 or -1 */
int resolver_attach(struct resolver *r, struct event_base *base);

/* resolver_ctx - the context, for ub_resolve_async */
struct ub_ctx *resolver_ctx(const struct resolver *r);

/* resolver_free - stop; callbacks in flight never run. NULL is fine. */
void resolver_free(struct resolver *r);

#endif
