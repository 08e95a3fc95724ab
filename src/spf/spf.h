/*
 * spf.h - Sender Policy Framework (RFC 7208): check_host() evaluated
 * by libspf2 with a synchronous lookup function the caller gives (a
 * worker thread's resolver; a table in the tests) as its DNS layer.
 */
#ifndef MOAT_SPF_H
#define MOAT_SPF_H

#include <stddef.h>
#include <stdint.h>

enum spf_result {
	SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
	SPF_TEMPERROR, SPF_PERMERROR
};

#define SPF_TYPE_A	1
#define SPF_TYPE_MX	15
#define SPF_TYPE_TXT	16
#define SPF_TYPE_AAAA	28

#define SPF_LOOKUPS_MAX	10	/* RFC 7208 4.6.4: mechanisms and modifiers */
#define SPF_VOID_MAX	2	/* RFC 7208 4.6.4: empty answers */

/*
 * The lookup of name and type (SPF_TYPE_*): the number of records with
 * rd[i] (wire rdata, rl[i] bytes), valid until the next call; 0 when
 * the name or the type has none; -1 on a temporary failure (timeout,
 * SERVFAIL).
 */
typedef int (*spf_lookup_fn)(void *arg, const char *name, int type,
    const uint8_t *const **rd, const size_t **rl);

struct spf_query {
	uint8_t		 ip[16];	/* the client, IPv4-mapped for v4 */
	const char	*sender;	/* local@domain, or postmaster@helo */
	const char	*domain;	/* the domain checked */
	const char	*helo;		/* the HELO/EHLO name */
	spf_lookup_fn	 lookup;
	void		*arg;
};

/*
 * spf_check - check_host(ip, domain, sender); the reason (static text)
 * of an error or a match in *why (may be NULL).
 */
enum spf_result spf_check(const struct spf_query *q, const char **why);

/* spf_result_name - "pass", "fail", ... */
const char *spf_result_name(enum spf_result r);

/*
 * spf_record_check - the syntax of a record ("v=spf1 ..."), compiled by
 * libspf2: 0, or -1 with the reason in *why.
 */
int spf_record_check(const char *record, const char **why);

#endif
