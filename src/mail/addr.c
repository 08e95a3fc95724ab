/*
 * addr.c - the one parser of mail addresses (RFC 5321 4.1.2, RFC 6531).
 *
 * Public: addr_parse_path, addr_format, addr_is_domain, addr_at,
 * addr_domain_of.
 *
 * Grammar accepted (RFC 5321 4.1.2, strictly):
 *   Path      = "<" [ A-d-l ":" ] Mailbox ">"    ("<>" with ADDR_F_ALLOW_NULL)
 *   A-d-l     = "@" Domain *( "," "@" Domain )   (parsed, then dropped)
 *   Mailbox   = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string      (not empty)
 *   Domain    = sub-domain *( "." sub-domain ), sub-domain = Let-dig [Ldh-str]
 *   address-literal = "[" IPv4 "]" / "[IPv6:" IPv6 "]"
 * plus "<postmaster>" (any case, no domain; RFC 5321 4.1.1.3), returned
 * as local "postmaster" with an empty domain. General address literals
 * ("[tag:content]") are refused as syntax errors. With ADDR_F_UTF8,
 * UTF8-non-ascii is also allowed in atoms, quoted text and sub-domains
 * (RFC 6531 3.3); it must be well-formed UTF-8.
 *
 * SECURITY: the input is raw bytes from an SMTP peer and is NOT
 * NUL-terminated: every read is checked against len. Output strings are
 * written only after their length has been checked against the limits,
 * which are no larger than the struct mail_addr buffers. The local part is
 * never interpreted: '%', '!' and a quoted '@' are plain characters.
 * No allocation, no global state, no locale (ASCII case folding only).
 * LIMITS: local part 64 octets (after removing quoting), domain 255 octets,
 * DNS label 63 octets (ASCII labels), whole path 256 octets including
 * the brackets and any source route.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../lib/utf8.h"
#include "addr.h"

#define LABEL_MAX	63	/* RFC 1035 2.3.4 */
#define LITERAL_MAX	(5 + 45)	/* "IPv6:" + longest IPv6 text */

/* a read position inside the untrusted bytes */
struct cur {
	const unsigned char	*s;
	size_t			 len;
	size_t			 pos;
};

static int
cur_peek(const struct cur *c)
{
	return c->pos < c->len ? c->s[c->pos] : -1;
}

static int
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int
ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

/* RFC 5322 atext */
static int
is_atext(int ch)
{
	if (is_alpha(ch) || is_digit(ch))
		return 1;
	return ch > 0 && ch < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/*
 * A non-ASCII byte is at c->pos: without SMTPUTF8 that is ADDR_ERR_UTF8,
 * with it the sequence must be valid. *n gets the sequence length.
 */
static enum addr_err
take_utf8(const struct cur *c, int flags, size_t *n)
{
	if (!(flags & ADDR_F_UTF8))
		return ADDR_ERR_UTF8;
	*n = utf8_seq_len(c->s + c->pos, c->len - c->pos);
	return *n == 0 ? ADDR_ERR_SYNTAX : ADDR_OK;
}

/* 1 when s[0..n) is a Dot-string (s holds only already-validated bytes) */
static int
is_dot_string(const char *s, size_t n)
{
	size_t i;
	int need_atom = 1;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (need_atom)
				return 0;
			need_atom = 1;
		} else if (ch >= 0x80 || is_atext(ch))
			need_atom = 0;
		else
			return 0;
	}
	return n > 0 && !need_atom;
}

static void
set_local(struct mail_addr *out, const char *plain, size_t n)
{
	size_t i, o = 0;

	memcpy(out->local_plain, plain, n);
	out->local_plain[n] = '\0';
	if (is_dot_string(plain, n)) {
		memcpy(out->local, plain, n);
		out->local[n] = '\0';
		return;
	}
	/* re-quote, escaping only what must be: at most 2 * 64 + 2 bytes */
	out->local[o++] = '"';
	for (i = 0; i < n; i++) {
		if (plain[i] == '"' || plain[i] == '\\')
			out->local[o++] = '\\';
		out->local[o++] = plain[i];
	}
	out->local[o++] = '"';
	out->local[o] = '\0';
}

/* Dot-string = Atom *("." Atom) */
static enum addr_err
parse_dot_string(struct cur *c, int flags, struct mail_addr *out)
{
	size_t start = c->pos, n;
	enum addr_err r;
	int need_atom = 1, ch;

	while ((ch = cur_peek(c)) != -1) {
		if (ch == '.') {
			if (need_atom)
				return ADDR_ERR_SYNTAX;
			need_atom = 1;
			c->pos++;
		} else if (ch >= 0x80) {
			if ((r = take_utf8(c, flags, &n)) != ADDR_OK)
				return r;
			c->pos += n;
			need_atom = 0;
			out->utf8 = 1;
		} else if (is_atext(ch)) {
			c->pos++;
			need_atom = 0;
		} else
			break;
	}
	if (need_atom)		/* empty, or ends with a dot */
		return ADDR_ERR_SYNTAX;
	n = c->pos - start;
	if (n > ADDR_LOCAL_MAX)
		return ADDR_ERR_TOO_LONG;
	set_local(out, (const char *)c->s + start, n);
	return ADDR_OK;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, c->pos at the DQUOTE */
static enum addr_err
parse_quoted(struct cur *c, int flags, struct mail_addr *out)
{
	char plain[ADDR_LOCAL_MAX];
	size_t n = 0, k;
	enum addr_err r;
	int ch;

	c->pos++;
	for (;;) {
		if ((ch = cur_peek(c)) == -1)
			return ADDR_ERR_SYNTAX;		/* unbalanced quote */
		if (ch == '"') {
			c->pos++;
			break;
		}
		if (ch == '\\') {
			/* quoted-pairSMTP = "\" %d32-126 */
			if (c->pos + 1 >= c->len)
				return ADDR_ERR_SYNTAX;
			ch = c->s[c->pos + 1];
			if (ch < 32 || ch > 126)
				return ADDR_ERR_SYNTAX;
			if (n + 1 > sizeof(plain))
				return ADDR_ERR_TOO_LONG;
			plain[n++] = (char)ch;
			c->pos += 2;
		} else if (ch >= 0x80) {
			if ((r = take_utf8(c, flags, &k)) != ADDR_OK)
				return r;
			if (n + k > sizeof(plain))
				return ADDR_ERR_TOO_LONG;
			memcpy(plain + n, c->s + c->pos, k);
			n += k;
			c->pos += k;
			out->utf8 = 1;
		} else if (ch >= 32 && ch <= 126) {
			/* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
			if (n + 1 > sizeof(plain))
				return ADDR_ERR_TOO_LONG;
			plain[n++] = (char)ch;
			c->pos++;
		} else
			return ADDR_ERR_SYNTAX;		/* controls, NUL, DEL */
	}
	if (n == 0)
		return ADDR_ERR_SYNTAX;		/* "" is an empty local part */
	out->quoted = 1;
	set_local(out, plain, n);
	return ADDR_OK;
}

/*
 * Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str],
 * or a U-label with ADDR_F_UTF8. Writes the lowercased domain to dst
 * (ADDR_DOMAIN_MAX + 1 bytes) and sets *utf8 when non-ASCII was seen.
 */
static enum addr_err
parse_domain(struct cur *c, int flags, char *dst, int *utf8)
{
	size_t start = c->pos, label, n, i;
	enum addr_err r;
	int ch, last, ascii;

	for (;;) {
		/* one label */
		label = 0;
		last = -1;
		ascii = 1;
		while ((ch = cur_peek(c)) != -1) {
			if (ch >= 0x80) {
				if ((r = take_utf8(c, flags, &n)) != ADDR_OK)
					return r;
				c->pos += n;
				label += n;
				ascii = 0;
				*utf8 = 1;
			} else if (is_alpha(ch) || is_digit(ch) ||
			    (ch == '-' && label > 0)) {
				c->pos++;
				label++;
			} else
				break;
			last = ch;
		}
		if (label == 0 || last == '-')
			return ADDR_ERR_SYNTAX;
		if (ascii && label > LABEL_MAX)
			return ADDR_ERR_TOO_LONG;
		if (cur_peek(c) != '.')
			break;
		c->pos++;	/* a label must follow: no trailing dot */
	}
	n = c->pos - start;
	if (n > ADDR_DOMAIN_MAX)
		return ADDR_ERR_TOO_LONG;
	for (i = 0; i < n; i++)
		dst[i] = (char)ascii_lower(c->s[start + i]);
	dst[n] = '\0';
	return ADDR_OK;
}

/*
 * address-literal, c->pos at '['. "[IPv4]" or "[IPv6:addr]" checked with
 * inet_pton; the tag is written back as "IPv6:" and hex digits lowercased.
 */
static enum addr_err
parse_literal(struct cur *c, struct mail_addr *out)
{
	char text[LITERAL_MAX + 1];
	unsigned char bin[16];
	const char *ip;
	size_t start = c->pos + 1, n, i;
	int ch, v6 = 0;

	c->pos++;
	while ((ch = cur_peek(c)) != -1 && ch != ']') {
		/*
		 * Only the characters of IP addresses: in particular no NUL,
		 * which would end the string inet_pton sees.
		 */
		if (!is_alpha(ch) && !is_digit(ch) && ch != ':' && ch != '.')
			return ADDR_ERR_SYNTAX;
		if (c->pos - start >= LITERAL_MAX)
			return ADDR_ERR_SYNTAX;
		c->pos++;
	}
	if (ch != ']')
		return ADDR_ERR_SYNTAX;
	n = c->pos - start;
	c->pos++;
	for (i = 0; i < n; i++)
		text[i] = (char)ascii_lower(c->s[start + i]);
	text[n] = '\0';
	ip = text;
	if (n >= 5 && memcmp(text, "ipv6:", 5) == 0) {
		v6 = 1;
		ip = text + 5;
		if (inet_pton(AF_INET6, ip, bin) != 1)
			return ADDR_ERR_SYNTAX;
	} else if (inet_pton(AF_INET, ip, bin) != 1)
		return ADDR_ERR_SYNTAX;	/* bad IPv4, or a general literal */
	snprintf(out->domain, sizeof(out->domain), "[%s%s]",
	    v6 ? "IPv6:" : "", ip);
	out->is_literal = 1;
	return ADDR_OK;
}

/* "<postmaster>" in any case, at the start of the path */
static int
is_bare_postmaster(const unsigned char *s, size_t len)
{
	static const char pm[] = "<postmaster>";
	size_t i;

	if (len < sizeof(pm) - 1)
		return 0;
	for (i = 0; i < sizeof(pm) - 1; i++)
		if (ascii_lower(s[i]) != pm[i])
			return 0;
	return 1;
}

static enum addr_err
parse_path(struct cur *c, int flags, struct mail_addr *out)
{
	char route[ADDR_DOMAIN_MAX + 1];
	enum addr_err r;
	int dummy = 0;

	if (cur_peek(c) != '<')
		return ADDR_ERR_SYNTAX;
	c->pos++;
	if (cur_peek(c) == '>') {
		if (!(flags & ADDR_F_ALLOW_NULL))
			return ADDR_ERR_SYNTAX;
		c->pos++;
		out->is_null = 1;
		return ADDR_OK;
	}
	if (is_bare_postmaster(c->s, c->len)) {
		c->pos = sizeof("<postmaster>") - 1;
		set_local(out, "postmaster", 10);
		return ADDR_OK;
	}
	/* A-d-l ":" - checked, then forgotten (RFC 5321 4.1.2, C.) */
	if (cur_peek(c) == '@') {
		for (;;) {
			if (cur_peek(c) != '@')
				return ADDR_ERR_SYNTAX;
			c->pos++;
			if ((r = parse_domain(c, flags, route, &dummy)) != ADDR_OK)
				return r;
			if (cur_peek(c) == ':')
				break;
			if (cur_peek(c) != ',')
				return ADDR_ERR_SYNTAX;
			c->pos++;
		}
		c->pos++;
		out->had_route = 1;
	}
	if (cur_peek(c) == '"')
		r = parse_quoted(c, flags, out);
	else
		r = parse_dot_string(c, flags, out);
	if (r != ADDR_OK)
		return r;
	if (cur_peek(c) != '@')
		return ADDR_ERR_SYNTAX;
	c->pos++;
	if (cur_peek(c) == '[')
		r = parse_literal(c, out);
	else
		r = parse_domain(c, flags, out->domain, &out->utf8);
	if (r != ADDR_OK)
		return r;
	if (cur_peek(c) != '>')
		return ADDR_ERR_SYNTAX;
	c->pos++;
	return ADDR_OK;
}

/* addr_parse_path - parse one RFC 5321 path from untrusted bytes */
enum addr_err
addr_parse_path(const char *s, size_t len, int flags, struct mail_addr *out,
    size_t *consumed)
{
	struct cur c = { (const unsigned char *)s, len, 0 };
	enum addr_err r;

	memset(out, 0, sizeof(*out));
	if (consumed != NULL)
		*consumed = 0;
	if (s == NULL)
		return ADDR_ERR_SYNTAX;
	r = parse_path(&c, flags, out);
	if (r == ADDR_OK && c.pos > ADDR_PATH_MAX)
		r = ADDR_ERR_TOO_LONG;
	if (r != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	if (consumed != NULL)
		*consumed = c.pos;
	return ADDR_OK;
}

/* addr_is_domain - 1 when (s, len) is an ASCII Domain or address literal */
int
addr_is_domain(const char *s, size_t len)
{
	struct cur c = { (const unsigned char *)s, len, 0 };
	struct mail_addr a;
	enum addr_err r;
	int utf8 = 0;

	if (s == NULL || len == 0)
		return 0;
	memset(&a, 0, sizeof(a));
	if (s[0] == '[')
		r = parse_literal(&c, &a);
	else
		r = parse_domain(&c, 0, a.domain, &utf8);
	return r == ADDR_OK && c.pos == len;
}

/* addr_format - "local@domain", "" for <>, "postmaster" for <postmaster> */
char *
addr_format(const struct mail_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (a->is_null)
		buf[0] = '\0';
	else if (a->domain[0] == '\0')
		snprintf(buf, len, "%s", a->local);
	else
		snprintf(buf, len, "%s@%s", a->local, a->domain);
	return buf;
}

/*
 * addr_at - the '@' between the local part and the domain of a stored
 * address: its last '@', since neither a Domain nor an address literal
 * may hold one, whatever a quoted local part does. NULL when none.
 */
const char *
addr_at(const char *addr)
{
	if (addr == NULL)
		return NULL;
	return strrchr(addr, '@');
}

/* addr_domain_of - the domain of a stored address, "" when none */
const char *
addr_domain_of(const char *addr, size_t *local_len)
{
	const char *at = addr_at(addr);

	if (local_len != NULL)
		*local_len = at != NULL ? (size_t)(at - addr) :
		    addr != NULL ? strlen(addr) : 0;
	return at != NULL ? at + 1 : "";
}
