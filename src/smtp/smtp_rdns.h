/*
 * smtp_rdns.h - reverse DNS names of clients, looked up asynchronously
 * (libunbound) for `moat sessions` and the logs; never a decision.
 */
#ifndef MOAT_SMTP_RDNS_H
#define MOAT_SMTP_RDNS_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_RDNS_NAME_MAX	254	/* a host name and its NUL */

struct event_base;
struct smtp_rdns;

/* an answer: name is the PTR name, "" when there is none, NULL when the
 * lookup failed (timeout, SERVFAIL) */
typedef void (*smtp_rdns_cb)(uint64_t cookie, const char *name, void *arg);

/*
 * smtp_rdns_new - a resolver: server is "ADDR" or "ADDR@PORT", or "" for
 * /etc/resolv.conf (read here: call it before chroot). NULL with err
 * set when the resolver cannot be set up.
 */
struct smtp_rdns *smtp_rdns_new(const char *server, char *err, size_t errlen);
void smtp_rdns_free(struct smtp_rdns *r);

/* smtp_rdns_attach - serve answers on base, to cb; 0 or -1 */
int smtp_rdns_attach(struct smtp_rdns *r, struct event_base *base,
    smtp_rdns_cb cb, void *arg);

/*
 * smtp_rdns_lookup - the name of addr (mapped form). 1 with *name set
 * when cached (as for the callback; valid until the next call), 0 when
 * cb will come with cookie, -1 when no lookup could start.
 */
int smtp_rdns_lookup(struct smtp_rdns *r, const uint8_t addr[16],
    uint64_t cookie, const char **name);

/*
 * smtp_rdns_name - the PTR rdata (wire format, len bytes) as a dotted
 * host name into buf; 0, or -1 when it is not a plain host name
 * (letters, digits, '-', '_', labels 1..63, at most SMTP_RDNS_NAME_MAX).
 */
int smtp_rdns_name(const uint8_t *rdata, size_t len, char *buf, size_t buflen);

/* smtp_rdns_stats - lookups started and answers served from the cache */
void smtp_rdns_stats(const struct smtp_rdns *r, uint64_t *lookups,
    uint64_t *cached);

#endif
