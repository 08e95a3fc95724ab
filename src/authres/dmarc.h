/*
 * dmarc.h - DMARC (RFC 7489) through libopendmarc: the organizational
 * domain by the public suffix list, a fetched record checked, and the
 * verdict of a record with the message's SPF and DKIM results
 * (identifier alignment, p= or sp=, pct=).
 */
#ifndef MOAT_DMARC_H
#define MOAT_DMARC_H

#include <stddef.h>

#define DMARC_RECORD_MAX	1024	/* one record's text, strings joined */

enum dmarc_policy { DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };

const char *dmarc_policy_name(enum dmarc_policy p);

/*
 * dmarc_psl_load - the public suffix list (publicsuffix.org format)
 * read into libopendmarc, once, before the chroot: 0, or -1 (then
 * organizational domains are the last two labels).
 */
int dmarc_psl_load(const char *path);
void dmarc_psl_free(void);

/*
 * dmarc_org_domain - the organizational domain of domain (RFC 7489
 * 3.2) into out: the public suffix and one label more; a name under no
 * rule of the list has a one-label suffix (the list's "*" rule).
 */
void dmarc_org_domain(const char *domain, char *out, size_t cap);

/*
 * dmarc_record_check - is txt (a TXT record of _dmarc.DOMAIN) a DMARC
 * record: "v=DMARC1" first, then tags libopendmarc accepts, p= among
 * them. 0, or -1 with a reason in *why.
 */
int dmarc_record_check(const char *txt, const char **why);

struct dmarc_eval;

/*
 * dmarc_eval_new - a verdict to come for a message from client (its
 * address as text) with From domain from, under record found at
 * record_domain (from, or its organizational domain: then sp=
 * applies). NULL when the record is unusable or out of memory.
 */
struct dmarc_eval *dmarc_eval_new(const char *client, const char *from,
    const char *record, const char *record_domain);

/* the SPF result of domain (MAIL FROM's, or HELO's when helo) */
void dmarc_eval_spf(struct dmarc_eval *e, const char *domain, int pass,
    int helo);

/* one DKIM signature's result, d= domain and s= selector */
void dmarc_eval_dkim(struct dmarc_eval *e, const char *domain,
    const char *selector, int pass);

/*
 * dmarc_eval_result - 1 when an aligned identifier passed, 0 when not;
 * the policy that applies (p= or sp=) in *policy, pct= in *pct.
 */
int dmarc_eval_result(struct dmarc_eval *e, enum dmarc_policy *policy,
    int *pct);

void dmarc_eval_free(struct dmarc_eval *e);

#endif
