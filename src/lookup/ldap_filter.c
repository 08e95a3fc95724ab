/*
 * ldap_filter.c - filter templates and server URIs of the LDAP recipient
 * lookup; pure functions, no I/O.
 *
 * Public: ldap_filter_escape, ldap_filter_check, ldap_filter_build,
 * ldap_uri_parse.
 *
 * SECURITY: the address comes from an SMTP client. It is written into
 * the filter only through ldap_filter_escape (RFC 4515 section 3), so a
 * local part such as "*)(mail=*" is a value to match, never filter
 * syntax: it cannot widen the search into an accept-all. Bytes above
 * 0x7e are escaped too, so the filter handed to libldap is plain ASCII
 * whatever the client sent; the server unescapes them to the same octets.
 * LIMITS: a built filter is at most LDAP_FILTER_MAX bytes; longer is an
 * error, never a cut.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ldap_filter.h"

/* ldap_filter_escape - RFC 4515 assertion value */
int
ldap_filter_escape(const char *s, size_t n, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '*' || c == '(' ||
		    c == ')' || c == '\\') {
			if (outlen < 4 || o > outlen - 4)
				return -1;
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else {
			if (outlen < 2 || o > outlen - 2)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* ldap_filter_check - a template the builder accepts and that varies */
int
ldap_filter_check(const char *tmpl, const char **why)
{
	const char *p;
	int depth = 0, who = 0;

	if (tmpl[0] != '(') {
		*why = "must be a filter in parentheses, e.g. (mail=%s)";
		return -1;
	}
	for (p = tmpl; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*why = "has control characters";
			return -1;
		}
		if (*p == '%') {
			p++;
			if (*p == 's' || *p == 'u')
				who = 1;
			else if (*p != 'd' && *p != '%') {
				*why = "has a conversion other than %s "
				    "(address), %u (local part), %d (domain), "
				    "%%";
				return -1;
			}
			continue;
		}
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0) {
			*why = "has a ')' without its '('";
			return -1;
		}
		if (depth == 0 && p[1] != '\0') {
			*why = "has text after the closing ')' (combine "
			    "filters with (|...) or (&...))";
			return -1;
		}
	}
	if (depth != 0) {
		*why = "has a '(' without its ')'";
		return -1;
	}
	if (!who) {
		*why = "names neither %s (address) nor %u (local part): it "
		    "would find the same entries for every recipient";
		return -1;
	}
	return 0;
}

/* ldap_filter_build - the template, each value escaped as it is written */
int
ldap_filter_build(const char *tmpl, const char *local, const char *domain,
    char *out, size_t outlen)
{
	size_t o = 0, ll = strlen(local), dl = strlen(domain);
	const char *p;
	int n;

	if (outlen == 0)
		return -1;
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '%' || p[1] == '\0') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = *p;
			if (*p == '%' && p[1] == '%')
				p++;
			continue;
		}
		p++;
		switch (*p) {
		case 's':
			if ((n = ldap_filter_escape(local, ll, out + o,
			    outlen - o)) == -1)
				return -1;
			o += (size_t)n;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '@';
			/* FALLTHROUGH */
		case 'd':
			if ((n = ldap_filter_escape(domain, dl, out + o,
			    outlen - o)) == -1)
				return -1;
			o += (size_t)n;
			break;
		case 'u':
			if ((n = ldap_filter_escape(local, ll, out + o,
			    outlen - o)) == -1)
				return -1;
			o += (size_t)n;
			break;
		default:
			/* ldap_filter_check refuses it; copy it as text */
			if (o + 2 >= outlen)
				return -1;
			out[o++] = '%';
			out[o++] = *p;
			break;
		}
	}
	out[o] = '\0';
	return 0;
}

static int
host_loopback(const char *host)
{
	unsigned char a[16];

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
	return 0;
}

/* ldap_uri_parse - ldap[s]://HOST[:PORT][/] */
int
ldap_uri_parse(const char *s, struct ldap_uri *u, const char **why)
{
	const char *p, *h, *he;
	unsigned char bin[16];
	char *end;
	long port;
	size_t len;

	memset(u, 0, sizeof(*u));
	*why = "must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]";
	if (strncasecmp(s, "ldap://", 7) == 0)
		p = s + 7;
	else if (strncasecmp(s, "ldaps://", 8) == 0) {
		p = s + 8;
		u->ldaps = 1;
	} else
		return -1;
	if (*p == '[') {
		h = p + 1;
		if ((he = strchr(h, ']')) == NULL)
			return -1;
		p = he + 1;
	} else {
		h = p;
		he = p + strcspn(p, ":/");
		p = he;
	}
	len = (size_t)(he - h);
	if (len == 0 || len >= sizeof(u->host)) {
		*why = "has no host, or one that is too long";
		return -1;
	}
	memcpy(u->host, h, len);
	u->host[len] = '\0';
	if (h[-1] == '[') {
		if (inet_pton(AF_INET6, u->host, bin) != 1) {
			*why = "has brackets around something that is not an "
			    "IPv6 address";
			return -1;
		}
	} else {
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)u->host[i]) &&
			    u->host[i] != '.' && u->host[i] != '-') {
				*why = "has a host that is not a name or an "
				    "address (IPv6 goes in brackets)";
				return -1;
			}
	}
	if (*p == ':') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		port = strtol(p, &end, 10);
		if (port < 1 || port > 65535)
			return -1;
		u->port = (int)port;
		p = end;
	}
	if (*p == '/')
		p++;
	if (*p != '\0') {
		*why = "has something after the host and port (base, filter "
		    "and scope are knobs of the [ldap] section)";
		return -1;
	}
	u->loopback = host_loopback(u->host);
	return 0;
}
