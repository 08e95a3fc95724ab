/*
 * authres.h - the Authentication-Results header field (RFC 8601): ours
 * written, others' authserv-id read.
 */
#ifndef MOAT_AUTHRES_H
#define MOAT_AUTHRES_H

#include <stddef.h>

#define AUTHRES_MAX	8	/* results in one field */

/* one method's result: "dkim=pass header.d=example.org ..." */
struct authres_result {
	const char	*method;	/* "dkim", "spf", "dmarc" */
	const char	*result;	/* "pass", "fail", "none", ... */
	const char	*reason;	/* NULL or a short text, quoted */
	const char	*props;		/* NULL or "header.d=... header.s=..." */
};

/*
 * authres_format - "Authentication-Results: ID;\r\n\tR1;\r\n\tR2\r\n"
 * into out; with no result "ID; none". The values are ours or checked
 * (domains, selectors: dkim_tag.c); reason is quoted with \ before " and
 * \. The length, or -1 when it does not fit.
 */
long authres_format(const char *authserv_id, const struct authres_result *r,
    size_t n, char *out, size_t cap);

/*
 * authres_claims_id - does the value of an Authentication-Results field
 * (after the colon) name authserv-id id (case-insensitive, comments and
 * whitespace before it skipped)? 1 or 0.
 */
int authres_claims_id(const char *value, size_t len, const char *id);

#endif
