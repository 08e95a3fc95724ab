/*
 * verify.h - recipient verification: ask the internal server behind a
 * routed domain whether it would take a recipient (EHLO, MAIL FROM:<>,
 * RCPT TO:, never DATA), remember its answer.
 */
#ifndef MOAT_VERIFY_H
#define MOAT_VERIFY_H

#include "lookup/lookup.h"

struct conf;
struct event_base;
struct ipc_peer;
struct proto_verify_put;
struct verifier;

/*
 * verifier_new - probes run on base. queue (may be NULL: nothing
 * persists) is the channel to the queue process: the cache is asked for
 * at once (PROTO_VERIFY_LOAD) and each answer is sent there
 * (PROTO_VERIFY_PUT). Reads c's routes, hostname, dns_server,
 * timeout_connect, test_smtp_port and verify_cache_*. NULL with a
 * reason in err.
 */
struct verifier *verifier_new(struct event_base *base, const struct conf *c,
    struct ipc_peer *queue, char *err, size_t errlen);

/* verifier_set_conf - a reloaded configuration (probes under way keep theirs) */
int verifier_set_conf(struct verifier *v, const struct conf *c, char *err,
    size_t errlen);

/*
 * verifier_check - does the internal server of addr's routed domain take
 * addr ("local@domain" as addr_format writes it)? cb gets FOUND (the
 * server said 2xx to RCPT), NOTFOUND (5xx) or TEMPFAIL (4xx, no server
 * answered, time out), once. A cached answer calls cb before this
 * returns; checks of one address while its probe runs share it.
 * domain is the routing key (lowercased).
 */
void verifier_check(struct verifier *v, const char *addr, const char *domain,
    lookup_done_fn *cb, void *arg);

/* verifier_cached - a row of queue.db's cache (answer to PROTO_VERIFY_LOAD) */
void verifier_cached(struct verifier *v, const struct proto_verify_put *p);

/* verifier_flush - forget addr's answer, or all of them when addr is "" */
void verifier_flush(struct verifier *v, const char *addr);

/*
 * verifier_free - stop every probe (their callers are never called
 * back) and release it all. NULL is fine.
 */
void verifier_free(struct verifier *v);

#endif
