/*
 * mta_dnsbl.h - the own-address blacklist watch (blacklist_watch): the
 * mta's own public addresses looked up on DNS blacklists, the outcome
 * sent to the queue (PROTO_DNSBL_RESULT).
 */
#ifndef MOAT_MTA_DNSBL_H
#define MOAT_MTA_DNSBL_H

#include <stddef.h>
#include <stdint.h>

struct mta;

#define MTA_DNSBL_ADDRS_MAX	16	/* own addresses checked */
#define MTA_DNSBL_ZONES_MAX	16	/* zones each is looked up in */
#define MTA_DNSBL_WAITERS	8	/* admins' checks out at once */

/* mta_dnsbl.c */
/* mta_dnsbl_start - the first check soon, then every blacklist_interval */
void mta_dnsbl_start(struct mta *m);
/* mta_dnsbl_reconf - a reload: the next check by the new interval */
void mta_dnsbl_reconf(struct mta *m);
/* mta_dnsbl_check_now - PROTO_DNSBL_CHECK id: check, answer with id */
void mta_dnsbl_check_now(struct mta *m, uint64_t id);
/* mta_dnsbl_free - stop; a check in flight is dropped */
void mta_dnsbl_free(struct mta *m);

/* mta_dnsbl_rr.c: pure functions over DNS answers and addresses */

/*
 * mta_dnsbl_verdict - the A records of a blacklist answer (rdata[i] of
 * len[i] bytes, n of them): PROTO_DNSBL_LISTED with the listing codes
 * ("127.0.0.2,127.0.0.4") in out (outlen > 0); PROTO_DNSBL_ERROR with
 * why in out when the list refused the query (127.255.255.x,
 * Spamhaus's codes for public resolvers and over-limit users) or
 * answered only outside 127.0.0.0/8 (a resolver that makes up
 * answers); PROTO_DNSBL_CLEAN for no record.
 */
int mta_dnsbl_verdict(char *const *rdata, const int *len, size_t n,
    char *out, size_t outlen);

/*
 * mta_dnsbl_txt - the character-strings of TXT rdata (len bytes)
 * appended to out (NUL-terminated, "; " between records when out is
 * not empty), bytes outside printable ASCII as '?', cut at outlen.
 */
void mta_dnsbl_txt(const uint8_t *rdata, size_t len, char *out,
    size_t outlen);

/*
 * mta_dnsbl_addr_global - 1 when the numeric address addr may be on a
 * blacklist: not internal (mta_addr_is_internal), not a documentation
 * or benchmarking range; 0 when not, -1 when addr is not an address.
 */
int mta_dnsbl_addr_global(const char *addr);

#endif
