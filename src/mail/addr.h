/*
 * addr.h - the one parser of mail addresses (RFC 5321 paths, RFC 6531).
 */
#ifndef MOAT_ADDR_H
#define MOAT_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, with the brackets */
/*
 * Buffer size for addr_format of any address addr_parse_path returned:
 * the output is never longer than the path without its brackets.
 */
#define ADDR_STRLEN	ADDR_PATH_MAX

struct mail_addr {
	/* local part as it will be written back: unquoted when the quoting
	 * was unnecessary, otherwise still in quotes */
	char	local[ADDR_LOCAL_MAX * 2 + 3];
	/* the local part with quotes and quoted-pairs removed (for lookups);
	 * ADDR_LOCAL_MAX applies to this form */
	char	local_plain[ADDR_LOCAL_MAX + 1];
	/* domain lowercased (ASCII part) or the IP literal including
	 * brackets, e.g. "[192.0.2.1]" or "[IPv6:2001:db8::1]" */
	char	domain[ADDR_DOMAIN_MAX + 1];
	int	is_null;		/* the null path <> */
	int	is_literal;		/* domain is an address literal */
	int	utf8;			/* non-ASCII present (needs SMTPUTF8) */
	int	had_route;		/* a source route was given and stripped */
	int	quoted;			/* local part was sent as a quoted string
					 * (local may still be unquoted) */
};

enum addr_err {
	ADDR_OK = 0,
	ADDR_ERR_SYNTAX,	/* malformed path (also malformed UTF-8 under
				 * SMTPUTF8): 501 5.1.3 / 5.1.7 */
	ADDR_ERR_TOO_LONG,	/* length limits: 501 5.1.3 */
	ADDR_ERR_UTF8,		/* non-ASCII without SMTPUTF8: 553 5.6.7 */
};

#define ADDR_F_ALLOW_NULL	0x01	/* <> is acceptable (MAIL FROM) */
#define ADDR_F_UTF8		0x02	/* SMTPUTF8 given: allow UTF-8 */

/*
 * addr_parse_path - parse a path starting at s[0] == '<' (RFC 5321
 * Path / Reverse-path). Source routes are checked and dropped
 * (had_route). "<>" only with ADDR_F_ALLOW_NULL. "<postmaster>" (any
 * case, no domain, RFC 5321 4.1.1.3) is accepted under any flags and
 * yields local "postmaster" with domain "": relay_decide treats the
 * empty domain as local; a MAIL FROM caller that does not want it must
 * refuse domain[0] == '\0' itself. General address literals are refused.
 * On success *consumed (may be NULL) is the number of bytes up to and
 * including '>'; on error *consumed is 0 and *out is zeroed.
 * Pure function; s need not be NUL-terminated; never reads past s+len.
 */
enum addr_err addr_parse_path(const char *s, size_t len, int flags,
    struct mail_addr *out, size_t *consumed);

/*
 * addr_format - "local@domain" into buf ("" for the null path,
 * "postmaster" when domain is empty); truncated when buf is short,
 * ADDR_STRLEN is always enough for a parsed address. Returns buf.
 */
char *addr_format(const struct mail_addr *a, char *buf, size_t len);

/*
 * addr_is_domain - 1 when (s, len) is exactly an ASCII RFC 5321 Domain
 * or address literal (as an EHLO name should be), else 0. Pure.
 */
int addr_is_domain(const char *s, size_t len);

/*
 * addr_at - the '@' that ends the local part of a "local@domain" text
 * (as addr_format wrote it, or a user name such as "alice@example.org"),
 * or NULL when there is none (bare "postmaster", NULL). Pure.
 */
const char *addr_at(const char *addr);

/*
 * addr_domain_of - the domain part of such a text: a pointer into addr
 * after its addr_at, "" when there is none. *local_len (may be NULL)
 * gets the length of the local part (all of addr without a domain). Pure.
 */
const char *addr_domain_of(const char *addr, size_t *local_len);

#endif
