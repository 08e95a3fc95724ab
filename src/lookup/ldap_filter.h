/*
 * ldap_filter.h - the pure parts of the LDAP recipient lookup: filter
 * templates with RFC 4515 escaping, and the server URIs of an [ldap]
 * section.
 */
#ifndef MOAT_LDAP_FILTER_H
#define MOAT_LDAP_FILTER_H

#include <stddef.h>

#define LDAP_FILTER_MAX		4096	/* a built filter, NUL included */

/*
 * ldap_filter_escape - s[0..n) as an RFC 4515 assertion value into out:
 * '*', '(', ')', '\', NUL, every other control byte and every byte
 * above 0x7e as \XX. Returns the length written, or -1 when out (outlen
 * bytes, NUL included) is too small.
 */
int ldap_filter_escape(const char *s, size_t n, char *out, size_t outlen);

/*
 * ldap_filter_check - a filter template as an [ldap] filter knob takes
 * it: one parenthesised filter with balanced parentheses, no control
 * bytes, conversions only %s (the address), %u (the local part), %d
 * (the domain) and %%, and at least one of %s and %u (a filter without
 * them matches the same entries for every recipient). Returns 0, or -1
 * with a reason in *why.
 */
int ldap_filter_check(const char *tmpl, const char **why);

/*
 * ldap_filter_build - the template with each %s, %u and %d replaced by
 * the address, local part or domain, escaped where they are written;
 * %% is '%'. Returns 0, or -1 when the result does not fit in outlen.
 */
int ldap_filter_build(const char *tmpl, const char *local,
    const char *domain, char *out, size_t outlen);

/* a server URI, split */
struct ldap_uri {
	int	ldaps;			/* ldaps:// (TLS from the first byte) */
	char	host[256];		/* name or address, without brackets */
	int	port;			/* 0: the scheme's (389, 636) */
	int	loopback;		/* localhost, 127.0.0.0/8 or ::1 */
};

/*
 * ldap_uri_parse - "ldap://HOST[:PORT][/]" or "ldaps://...", HOST a
 * name, an IPv4 address or an IPv6 address in brackets. Nothing after
 * the host (no DN, attributes or extensions: the [ldap] section says
 * those). Returns 0, or -1 with a reason in *why.
 */
int ldap_uri_parse(const char *s, struct ldap_uri *u, const char **why);

#endif
