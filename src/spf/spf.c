/*
 * spf.c - check_host() of RFC 7208: the SPF record of a domain
 * evaluated for a client address, mechanism by mechanism (all, include,
 * a, mx, ptr, ip4, ip6, exists; redirect; exp ignored), macros expanded
 * (RFC 7208 7), the limits of 4.6.4 kept.
 *
 * Public: spf_check, spf_result_name, spf_record_find, spf_record_check,
 * spf_expand.
 *
 * The lookups are synchronous through the caller's function: this runs
 * in a worker thread (smtp_authwork.c), never on an event loop.
 * SECURITY: records and answers come from outside: every term is
 * parsed within its length, expansions are bounded by their buffer,
 * recursion by SPF_LOOKUPS_MAX (include and redirect each count).
 * `ptr` is not evaluated (RFC 7208 5.5: SHOULD NOT be used): it counts
 * as a lookup and never matches.
 * LIMITS: SPF_LOOKUPS_MAX lookups, SPF_VOID_MAX empty answers, 10 MX
 * names, SPF_RECORD_MAX bytes of record.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "spf.h"

#define SPF_DOMAIN_MAX	254
#define SPF_MX_MAX	10

struct spf_ctx {
	const struct spf_query	*q;
	int			 lookups, voids;
	const char		*why;
};

static const uint8_t v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:		return "none";
	case SPF_NEUTRAL:	return "neutral";
	case SPF_PASS:		return "pass";
	case SPF_FAIL:		return "fail";
	case SPF_SOFTFAIL:	return "softfail";
	case SPF_TEMPERROR:	return "temperror";
	case SPF_PERMERROR:	return "permerror";
	}
	return "permerror";
}

static int
is_v4(const uint8_t ip[16])
{
	return memcmp(ip, v4mapped, 12) == 0;
}

int
spf_record_find(const uint8_t *const *rd, const size_t *rl, int n,
    char *out, size_t cap)
{
	int found = 0;

	for (int k = 0; k < n; k++) {
		char buf[SPF_RECORD_MAX];
		size_t len = 0;

		for (size_t i = 0; i < rl[k]; ) {
			size_t sl = rd[k][i++];

			if (i + sl > rl[k] || len + sl >= sizeof(buf))
				return -1;
			memcpy(buf + len, rd[k] + i, sl);
			len += sl;
			i += sl;
		}
		buf[len] = '\0';
		if (len < 6 || strncasecmp(buf, "v=spf1", 6) != 0 ||
		    (len > 6 && buf[6] != ' '))
			continue;
		if (found++ || len >= cap)
			return -1;
		memcpy(out, buf, len + 1);
	}
	return found;
}

/* the i-th dot-separated part of s counted from the right (or left) */
static int
macro_value(const struct spf_ctx *c, const char *domain, char letter,
    char *out, size_t cap)
{
	const struct spf_query *q = c->q;
	const char *at = strrchr(q->sender, '@');
	int n;

	switch (tolower((unsigned char)letter)) {
	case 's':
		n = snprintf(out, cap, "%s", q->sender);
		break;
	case 'l':
		if (at == NULL || at == q->sender)
			n = snprintf(out, cap, "postmaster");
		else
			n = snprintf(out, cap, "%.*s", (int)(at - q->sender),
			    q->sender);
		break;
	case 'o':
		n = snprintf(out, cap, "%s", at != NULL ? at + 1 : q->sender);
		break;
	case 'd':
		n = snprintf(out, cap, "%s", domain);
		break;
	case 'h':
		n = snprintf(out, cap, "%s", q->helo);
		break;
	case 'v':
		n = snprintf(out, cap, "%s", is_v4(q->ip) ? "in-addr" : "ip6");
		break;
	case 'p':
		n = snprintf(out, cap, "unknown");
		break;
	case 'i':
		if (is_v4(q->ip))
			n = snprintf(out, cap, "%u.%u.%u.%u", q->ip[12],
			    q->ip[13], q->ip[14], q->ip[15]);
		else {
			static const char hex[] = "0123456789abcdef";

			if (cap < 64)
				return -1;
			for (int i = 0; i < 16; i++) {
				out[i * 4] = hex[q->ip[i] >> 4];
				out[i * 4 + 1] = '.';
				out[i * 4 + 2] = hex[q->ip[i] & 15];
				out[i * 4 + 3] = '.';
			}
			out[63] = '\0';
			n = 63;
		}
		break;
	default:		/* c, r, t: exp= only */
		return -1;
	}
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* one %{...} macro: value split on delims, reversed, rightmost keep */
static int
macro_apply(const char *val, int keep, int rev, const char *delims,
    char *out, size_t cap)
{
	const char *part[128];
	size_t plen[128];
	int n = 0;
	size_t o = 0;
	const char *p = val;

	for (;;) {
		size_t l = strcspn(p, delims);

		if (n == 128)
			return -1;
		part[n] = p;
		plen[n++] = l;
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	if (rev)
		for (int i = 0; i < n / 2; i++) {
			const char *tp = part[i];
			size_t tl = plen[i];

			part[i] = part[n - 1 - i];
			plen[i] = plen[n - 1 - i];
			part[n - 1 - i] = tp;
			plen[n - 1 - i] = tl;
		}
	for (int i = keep > 0 && keep < n ? n - keep : 0; i < n; i++) {
		if (o + plen[i] + 2 > cap)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, part[i], plen[i]);
		o += plen[i];
	}
	out[o] = '\0';
	return (int)o;
}

static int
expand(const struct spf_ctx *c, const char *domain, const char *spec,
    size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char val[512], piece[512], delims[8] = "";
		int keep = 0, rev = 0, n;
		size_t dl = 0;

		if (spec[i] != '%') {
			if (spec[i] <= 0x20 || spec[i] >= 0x7f || o + 2 > cap)
				return -1;
			out[o++] = spec[i];
			continue;
		}
		if (++i == len)
			return -1;
		if (spec[i] == '%' || spec[i] == '_' || spec[i] == '-') {
			const char *lit = spec[i] == '%' ? "%" :
			    spec[i] == '_' ? " " : "%20";

			if (o + strlen(lit) + 1 > cap)
				return -1;
			memcpy(out + o, lit, strlen(lit));
			o += strlen(lit);
			continue;
		}
		if (spec[i] != '{' || ++i == len)
			return -1;
		if (macro_value(c, domain, spec[i], val, sizeof(val)) == -1)
			return -1;
		i++;
		while (i < len && isdigit((unsigned char)spec[i])) {
			keep = keep * 10 + (spec[i++] - '0');
			if (keep > 128)
				return -1;
		}
		if (i < len && (spec[i] == 'r' || spec[i] == 'R')) {
			rev = 1;
			i++;
		}
		while (i < len && strchr(".-+,/_=", spec[i]) != NULL &&
		    spec[i] != '\0') {
			if (dl + 1 < sizeof(delims))
				delims[dl++] = spec[i];
			i++;
		}
		delims[dl] = '\0';
		if (i >= len || spec[i] != '}')
			return -1;
		if ((n = macro_apply(val, keep, rev, dl > 0 ? delims : ".",
		    piece, sizeof(piece))) < 0 || o + (size_t)n + 1 > cap)
			return -1;
		memcpy(out + o, piece, (size_t)n);
		o += (size_t)n;
	}
	out[o] = '\0';
	return 0;
}

int
spf_expand(const struct spf_query *q, const char *domain, const char *spec,
    size_t speclen, char *out, size_t cap)
{
	struct spf_ctx c = { .q = q };

	return expand(&c, domain, spec, speclen, out, cap);
}

/* a name to look up: labels 1..63, at most 253, left labels dropped */
static int
name_ok(char *d)
{
	size_t len = strlen(d);
	char *p;

	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	while (len > 253 && (p = strchr(d, '.')) != NULL) {
		memmove(d, p + 1, strlen(p + 1) + 1);
		len = strlen(d);
	}
	if (len == 0 || len > 253 || strchr(d, '.') == NULL)
		return -1;
	for (p = d; *p != '\0'; ) {
		size_t l = strcspn(p, ".");

		if (l == 0 || l > 63)
			return -1;
		p += l;
		if (*p == '.')
			p++;
	}
	return 0;
}

/* "/n" and "//n" at the end of a term: the rest's length, or -1 */
static long
cidr_suffix(const char *t, size_t len, int *c4, int *c6)
{
	size_t e = len;

	*c4 = 32;
	*c6 = 128;
	for (int pass = 0; pass < 2; pass++) {
		size_t d = e;
		int v = 0;

		while (d > 0 && isdigit((unsigned char)t[d - 1]))
			d--;
		if (d == e || d == 0 || t[d - 1] != '/')
			break;
		if (e - d > 3 || (e - d > 1 && t[d] == '0'))
			return -1;
		for (size_t k = d; k < e; k++)
			v = v * 10 + (t[k] - '0');
		if (d >= 2 && t[d - 2] == '/') {
			if (pass == 1 || v > 128)
				return -1;
			*c6 = v;
			e = d - 2;
		} else {
			if (v > 32)
				return -1;
			*c4 = v;
			e = d - 1;
			break;
		}
	}
	return (long)e;
}

static int
prefix_match(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

static int
count_lookup(struct spf_ctx *c)
{
	if (++c->lookups > SPF_LOOKUPS_MAX) {
		c->why = "too many DNS lookups";
		return -1;
	}
	return 0;
}

/* 1 when one of name's addresses is the client's, 0, -1 temp, -2 perm */
static int
match_addrs(struct spf_ctx *c, const char *name, int c4, int c6, int count_void)
{
	const uint8_t *const *rd;
	const size_t *rl;
	const uint8_t *ip = c->q->ip;
	int v4 = is_v4(ip), n;

	n = c->q->lookup(c->q->arg, name, v4 ? SPF_TYPE_A : SPF_TYPE_AAAA,
	    &rd, &rl);
	if (n < 0)
		return -1;
	if (n == 0 && count_void && ++c->voids > SPF_VOID_MAX) {
		c->why = "too many void lookups";
		return -2;
	}
	for (int i = 0; i < n; i++) {
		if (v4 && rl[i] == 4 && prefix_match(rd[i], ip + 12, c4))
			return 1;
		if (!v4 && rl[i] == 16 && prefix_match(rd[i], ip, c6))
			return 1;
	}
	return 0;
}

/* an MX rdata's exchange name into out; -1 when malformed */
static int
mx_name(const uint8_t *rd, size_t rl, char *out, size_t cap)
{
	size_t i = 2, o = 0;

	while (i < rl) {
		size_t l = rd[i++];

		if (l == 0)
			break;
		if (l > 63 || i + l > rl || o + l + 2 > cap)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, rd + i, l);
		o += l;
		i += l;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

static int
match_mx(struct spf_ctx *c, const char *name, int c4, int c6)
{
	char names[SPF_MX_MAX][SPF_DOMAIN_MAX];
	const uint8_t *const *rd;
	const size_t *rl;
	int n, m = 0, r;

	if ((n = c->q->lookup(c->q->arg, name, SPF_TYPE_MX, &rd, &rl)) < 0)
		return -1;
	if (n == 0 && ++c->voids > SPF_VOID_MAX) {
		c->why = "too many void lookups";
		return -2;
	}
	if (n > SPF_MX_MAX) {
		c->why = "too many MX names";
		return -2;
	}
	/* copied: the next lookup ends these answers */
	for (int i = 0; i < n; i++)
		if (mx_name(rd[i], rl[i], names[m], sizeof(names[m])) == 0)
			m++;
	for (int i = 0; i < m; i++)
		if ((r = match_addrs(c, names[i], c4, c6, 0)) != 0)
			return r;
	return 0;
}

static enum spf_result check_host(struct spf_ctx *, const char *, int);

static int
name_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '-' || ch == '_' ||
	    ch == '.';
}

/*
 * One term of a record: *res set and 1 when a directive matched, 0 when
 * it did not (or a modifier), -1 with *res an error. With c NULL only
 * the syntax is checked.
 */
static int
term(struct spf_ctx *c, const char *domain, const char *t, size_t len,
    int depth, enum spf_result *res, const char **redirect, size_t *rlen)
{
	enum spf_result qual = SPF_PASS;
	char target[SPF_DOMAIN_MAX + 256];
	const char *arg = NULL;
	size_t nl = 0, alen = 0;
	long rest;
	int c4 = 32, c6 = 128, r;

	while (nl < len && name_char(t[nl]) && t[nl] != '.')
		nl++;
	if (nl > 0 && nl < len && t[nl] == '=' && isalpha((unsigned char)t[0])) {
		/* a modifier */
		if (nl == 8 && strncasecmp(t, "redirect", 8) == 0) {
			if (*redirect != NULL)
				goto perm_syntax;
			*redirect = t + 9;
			*rlen = len - 9;
			if (*rlen == 0)
				goto perm_syntax;
		} else if (nl == 3 && strncasecmp(t, "exp", 3) == 0 &&
		    len == 4)
			goto perm_syntax;
		return 0;
	}
	switch (t[0]) {
	case '+': qual = SPF_PASS; t++; len--; break;
	case '-': qual = SPF_FAIL; t++; len--; break;
	case '~': qual = SPF_SOFTFAIL; t++; len--; break;
	case '?': qual = SPF_NEUTRAL; t++; len--; break;
	}
	for (nl = 0; nl < len && t[nl] != ':' && t[nl] != '/'; nl++)
		;
#define MECH(s)	(nl == sizeof(s) - 1 && strncasecmp(t, s, nl) == 0)
	if (MECH("all")) {
		if (nl != len)
			goto perm_syntax;
		*res = qual;
		return c != NULL;
	}
	if (MECH("ip4") || MECH("ip6")) {
		uint8_t a[16];
		char txt[64];
		const char *slash;
		int v6 = t[2] == '6', bits = v6 ? 128 : 32;

		if (nl == len || t[nl] != ':' || len - nl - 1 >= sizeof(txt))
			goto perm_syntax;
		memcpy(txt, t + nl + 1, len - nl - 1);
		txt[len - nl - 1] = '\0';
		if ((slash = strchr(txt, '/')) != NULL) {
			char *end;
			long v = strtol(slash + 1, &end, 10);

			if (*end != '\0' || slash[1] == '\0' ||
			    !isdigit((unsigned char)slash[1]) || v > bits)
				goto perm_syntax;
			bits = (int)v;
			*(char *)slash = '\0';
		}
		if (v6 ? inet_pton(AF_INET6, txt, a) != 1 :
		    inet_pton(AF_INET, txt, a + 12) != 1)
			goto perm_syntax;
		if (c == NULL)
			return 0;
		if (!v6 && is_v4(c->q->ip) && prefix_match(a + 12,
		    c->q->ip + 12, bits)) {
			*res = qual;
			return 1;
		}
		if (v6 && !is_v4(c->q->ip) && prefix_match(a, c->q->ip, bits)) {
			*res = qual;
			return 1;
		}
		return 0;
	}
	if (!(MECH("a") || MECH("mx") || MECH("ptr") || MECH("include") ||
	    MECH("exists"))) {
		if (c != NULL)
			c->why = "unknown mechanism";
		*res = SPF_PERMERROR;
		return -1;
	}
	/* [":" domain-spec] then, for a and mx, the dual cidr lengths */
	if (MECH("a") || MECH("mx")) {
		if ((rest = cidr_suffix(t, len, &c4, &c6)) < 0)
			goto perm_syntax;
		len = (size_t)rest;
	}
	if (nl < len) {
		if (t[nl] != ':' || nl + 1 == len)
			goto perm_syntax;
		arg = t + nl + 1;
		alen = len - nl - 1;
	} else if (MECH("include") || MECH("exists"))
		goto perm_syntax;
	if (c == NULL) {
		struct spf_query dq = { .sender = "a@b.c", .helo = "b.c" };
		struct spf_ctx dc = { .q = &dq };

		if (arg != NULL && expand(&dc, "b.c", arg, alen, target,
		    sizeof(target)) == -1)
			goto perm_syntax;
		return 0;
	}
	if (arg == NULL)
		snprintf(target, sizeof(target), "%s", domain);
	else if (expand(c, domain, arg, alen, target, sizeof(target)) == -1)
		goto perm_syntax;
	if (count_lookup(c) == -1) {
		*res = SPF_PERMERROR;
		return -1;
	}
	if (MECH("ptr"))
		return 0;
	if (name_ok(target) == -1) {
		/* a name that cannot be: no match (RFC 7208 4.8) */
		return 0;
	}
	if (MECH("include")) {
		switch (check_host(c, target, depth + 1)) {
		case SPF_PASS:
			*res = qual;
			return 1;
		case SPF_FAIL:
		case SPF_SOFTFAIL:
		case SPF_NEUTRAL:
			return 0;
		case SPF_TEMPERROR:
			*res = SPF_TEMPERROR;
			return -1;
		default:
			if (c->why == NULL)
				c->why = "include without a record";
			*res = SPF_PERMERROR;
			return -1;
		}
	}
	if (MECH("exists")) {
		const uint8_t *const *rd;
		const size_t *rl;
		int n = c->q->lookup(c->q->arg, target, SPF_TYPE_A, &rd, &rl);

		if (n < 0) {
			*res = SPF_TEMPERROR;
			return -1;
		}
		if (n == 0 && ++c->voids > SPF_VOID_MAX) {
			c->why = "too many void lookups";
			*res = SPF_PERMERROR;
			return -1;
		}
		if (n > 0)
			*res = qual;
		return n > 0;
	}
	r = MECH("a") ? match_addrs(c, target, c4, c6, 1) :
	    match_mx(c, target, c4, c6);
#undef MECH
	if (r == -1) {
		*res = SPF_TEMPERROR;
		return -1;
	}
	if (r == -2) {
		*res = SPF_PERMERROR;
		return -1;
	}
	if (r == 1)
		*res = qual;
	return r;
perm_syntax:
	if (c != NULL)
		c->why = "record syntax";
	*res = SPF_PERMERROR;
	return -1;
}

/* every term of record; *res the result when the record decided */
static int
walk(struct spf_ctx *c, const char *domain, const char *record, int depth,
    enum spf_result *res, const char **redirect, size_t *rlen)
{
	const char *p = record + 6;

	*redirect = NULL;
	*rlen = 0;
	while (*p != '\0') {
		size_t l;
		int r;

		while (*p == ' ')
			p++;
		if ((l = strcspn(p, " ")) == 0)
			break;
		if ((r = term(c, domain, p, l, depth, res, redirect, rlen)) != 0)
			return r;
		p += l;
	}
	return 0;
}

int
spf_record_check(const char *record, const char **why)
{
	enum spf_result res;
	const char *redirect;
	size_t rlen;

	if (strncasecmp(record, "v=spf1", 6) != 0 ||
	    (record[6] != '\0' && record[6] != ' ')) {
		*why = "not an SPF record";
		return -1;
	}
	if (walk(NULL, "b.c", record, 0, &res, &redirect, &rlen) != 0) {
		*why = "record syntax";
		return -1;
	}
	return 0;
}

static enum spf_result
check_host(struct spf_ctx *c, const char *domain, int depth)
{
	const uint8_t *const *rd;
	const size_t *rl;
	char record[SPF_RECORD_MAX], target[SPF_DOMAIN_MAX + 256];
	const char *redirect, *why;
	enum spf_result res = SPF_NEUTRAL;
	size_t rlen;
	int n, r;

	if (depth > SPF_LOOKUPS_MAX) {
		c->why = "too many DNS lookups";
		return SPF_PERMERROR;
	}
	if ((n = c->q->lookup(c->q->arg, domain, SPF_TYPE_TXT, &rd, &rl)) < 0) {
		c->why = "DNS lookup failed";
		return SPF_TEMPERROR;
	}
	if ((r = spf_record_find(rd, rl, n, record, sizeof(record))) == 0)
		return SPF_NONE;
	if (r < 0) {
		c->why = "more than one SPF record";
		return SPF_PERMERROR;
	}
	/* syntax first: a bad term anywhere is a permerror (4.6) */
	if (spf_record_check(record, &why) == -1) {
		c->why = why;
		return SPF_PERMERROR;
	}
	if ((r = walk(c, domain, record, depth, &res, &redirect, &rlen)) != 0)
		return res;
	if (redirect == NULL)
		return SPF_NEUTRAL;
	if (expand(c, domain, redirect, rlen, target, sizeof(target)) == -1 ||
	    name_ok(target) == -1) {
		c->why = "bad redirect";
		return SPF_PERMERROR;
	}
	if (count_lookup(c) == -1)
		return SPF_PERMERROR;
	res = check_host(c, target, depth + 1);
	if (res == SPF_NONE) {
		c->why = "redirect without a record";
		return SPF_PERMERROR;
	}
	return res;
}

enum spf_result
spf_check(const struct spf_query *q, const char **why)
{
	struct spf_ctx c = { .q = q };
	char domain[SPF_DOMAIN_MAX];
	enum spf_result r;

	if (snprintf(domain, sizeof(domain), "%s", q->domain) >=
	    (int)sizeof(domain) || name_ok(domain) == -1) {
		if (why != NULL)
			*why = "not a domain name";
		return SPF_NONE;
	}
	r = check_host(&c, domain, 0);
	if (why != NULL)
		*why = c.why;
	return r;
}
