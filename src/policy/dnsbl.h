/*
 * dnsbl.h - DNS blocklist checks of client addresses (like postscreen).
 */
#ifndef MOAT_DNSBL_H
#define MOAT_DNSBL_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dnsbl;

/* the answer for one address: total weight and the first listing zone */
typedef void (*dnsbl_cb)(uint64_t cookie, int score, const char *zone,
    void *arg);

/*
 * dnsbl_new - a resolver (libunbound, asynchronous, on base). server is
 * "ADDR" or "ADDR@PORT", or "" for /etc/resolv.conf (read here, so call
 * this before chroot). zones is a list of "zone" or "zone*weight".
 * NULL with err set on failure.
 */
struct dnsbl *dnsbl_new(struct event_base *base, const char *server,
    char **zones, size_t nzones, dnsbl_cb cb, void *arg, char *err,
    size_t errlen);
void dnsbl_free(struct dnsbl *d);

/* dnsbl_set_callback - where answers go */
void dnsbl_set_callback(struct dnsbl *d, dnsbl_cb cb, void *arg);

/* dnsbl_attach - start serving answers on base (after a fork) */
int dnsbl_attach(struct dnsbl *d, struct event_base *base);

/*
 * dnsbl_check - look addr (mapped form) up in every zone. Returns 1 and
 * sets score and zone when the answer is cached (no callback then), 0 when
 * the callback will come with cookie, -1 on error (treat as not listed).
 */
int dnsbl_check(struct dnsbl *d, const uint8_t addr[16], uint64_t cookie,
    int *score, const char **zone);

/* dnsbl_query_name - "4.3.2.1.zone" or the nibble form for IPv6 */
int dnsbl_query_name(const uint8_t addr[16], const char *zone, char *buf,
    size_t len);

/* dnsbl_parse_zone - split "zone*weight"; weight 1 when absent */
int dnsbl_parse_zone(const char *spec, char *zone, size_t zlen, int *weight);

#endif
