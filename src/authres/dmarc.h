/*
 * dmarc.h - DMARC (RFC 7489): the policy record, the organizational
 * domain (public suffix list) and identifier alignment.
 */
#ifndef MOAT_DMARC_H
#define MOAT_DMARC_H

#include <stddef.h>

enum dmarc_policy { DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };

struct dmarc_record {
	enum dmarc_policy	p, sp;
	int			strict_dkim, strict_spf;	/* adkim=s, aspf=s */
	int			pct;				/* 0..100 */
};

/*
 * dmarc_record_parse - a TXT record's text ("v=DMARC1; p=..."): 0, or
 * -1 with a reason in *why when it is not a usable DMARC record.
 */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r,
    const char **why);

const char *dmarc_policy_name(enum dmarc_policy p);

/*
 * dmarc_psl_load - the public suffix list (publicsuffix.org format)
 * from path, read once (before the chroot): 0, or -1 (then every
 * suffix is one label). dmarc_psl_set - the same from text (tests).
 */
int dmarc_psl_load(const char *path);
int dmarc_psl_set(const char *text, size_t len);
void dmarc_psl_free(void);

/*
 * dmarc_org_domain - the organizational domain of domain (RFC 7489
 * 3.2): the public suffix and one label more; a pointer into domain.
 */
const char *dmarc_org_domain(const char *domain);

/* dmarc_aligned - a and b aligned, strictly (equal) or relaxed (same
 * organizational domain); 1 or 0 */
int dmarc_aligned(const char *a, const char *b, int strict);

#endif
