/*
 * mta_route.c - where outbound mail goes: static routes from the
 * configuration, the smarthost, or the recipient domain's MX records.
 *
 * Public: mta_dest_parse, mta_hosts_parse, mta_hosts_same,
 * mta_route_parse, mta_routes_parse, mta_route_match, mta_route_hosts,
 * mta_route_decide, mta_mx_parse_rdata, mta_mx_sort, mta_mx_is_null,
 * mta_mx_prune_self, mta_tls_name, mta_dest_limit, mta_addr_is_internal.
 *
 * Pure functions over strings and bytes: the configuration checks
 * routes with the same parser the mta process uses, and the unit
 * tests drive them without a network.
 *
 * SECURITY: MX rdata comes from DNS answers (untrusted): every label
 * length is checked against the rdata length and the name buffer, and
 * compression pointers (never present in libunbound's rdata) are
 * refused. Names are lowercased and checked for host name characters,
 * so a name from DNS never reaches a log line or an SMTP command
 * unescaped.
 * LIMITS: MTA_HOST_MAX bytes a name, MTA_MX_MAX records (the caller),
 * MTA_ROUTE_HOSTS_MAX destinations a route.
 */
#include <arpa/inet.h>
#include <sys/un.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

#include "mta/mta_route.h"

static int
host_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* a host name (LDH, dots, underscores) lowercased in place */
static int
host_check(char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= MTA_HOST_MAX || s[0] == '.' || s[0] == '-')
		return -1;
	for (char *p = s; *p != '\0'; p++) {
		if (!host_char((unsigned char)*p))
			return -1;
		*p = (char)tolower((unsigned char)*p);
	}
	if (s[len - 1] == '.')
		s[len - 1] = '\0';
	return strstr(s, "..") == NULL && s[0] != '\0' ? 0 : -1;
}

static int
is_numeric(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* mta_dest_parse - "[lmtp:]host[:port]", "[lmtp:][host][:port]", "/tls",
 * "lmtp:unix:/path" */
int
mta_dest_parse(const char *s, struct mta_dest *d, const char **why)
{
	char buf[MTA_HOST_MAX + 64], *p, *slash, *end;
	size_t len;
	long port;

	memset(d, 0, sizeof(*d));
	*why = "is not a destination ([host]:port, host:port, lmtp:[host]:port)";
	if ((len = strlen(s)) == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len + 1);
	p = buf;
	if (strncasecmp(p, "lmtp:unix:", 10) == 0) {
		/* the path may hold '/' and ':': no TLS suffix here */
		p += 10;
		*why = "is LMTP over a UNIX socket without an absolute path "
		    "(lmtp:unix:/path, at most 107 bytes, no spaces)";
		if (p[0] != '/' || strlen(p) >=
		    sizeof(((struct sockaddr_un *)0)->sun_path))
			return -1;
		for (const char *q = p; *q != '\0'; q++)
			if (!isgraph((unsigned char)*q))
				return -1;
		d->lmtp = 1;
		d->unix_sock = 1;
		d->tls = MTA_TLS_NONE;
		/* shorter than sun_path, which is shorter than host */
		memcpy(d->host, p, strlen(p) + 1);
		return 0;
	}
	if ((slash = strrchr(p, '/')) != NULL) {
		*slash++ = '\0';
		if (strcasecmp(slash, "none") == 0)
			d->tls = MTA_TLS_NONE;
		else if (strcasecmp(slash, "opportunistic") == 0)
			d->tls = MTA_TLS_OPPORTUNISTIC;
		else if (strcasecmp(slash, "verify") == 0)
			d->tls = MTA_TLS_VERIFY;
		else {
			*why = "has a TLS mode other than /none, /opportunistic "
			    "or /verify";
			return -1;
		}
	}
	if (strncasecmp(p, "lmtp:", 5) == 0) {
		d->lmtp = 1;
		p += 5;
	}
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL)
			return -1;
		*end++ = '\0';
		p++;
		d->bracket = 1;
	} else {
		/* host[:port]; an IPv6 address must be in brackets */
		char *colon = strchr(p, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			*why = "has an IPv6 address without brackets";
			return -1;
		}
		end = colon != NULL ? colon : p + strlen(p);
	}
	/* p is the host, end points at "" or ":port" */
	if (*end == ':') {
		*end++ = '\0';
		if (!isdigit((unsigned char)*end))
			return -1;
		port = strtol(end, &slash, 10);
		if (*slash != '\0' || port < 1 || port > 65535)
			return -1;
		d->port = (int)port;
	} else if (*end != '\0')
		return -1;
	if (strlen(p) >= sizeof(d->host))
		return -1;
	if (d->lmtp && d->port == 0) {
		*why = "is LMTP without a port";
		return -1;
	}
	if ((len = strlen(p)) >= sizeof(d->host)) {
		*why = "has a host name longer than 255 bytes";
		return -1;
	}
	memcpy(d->host, p, len + 1);
	if (is_numeric(p)) {
		if (!d->bracket) {
			*why = "has an address without brackets";
			return -1;
		}
		d->literal = 1;
		return 0;
	}
	if (host_check(d->host) == -1) {
		*why = "has a bad host name";
		return -1;
	}
	return 0;
}

static int
dest_same(const struct mta_dest *a, const struct mta_dest *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    a->bracket == b->bracket && a->literal == b->literal &&
	    a->lmtp == b->lmtp && a->unix_sock == b->unix_sock &&
	    a->tls == b->tls;
}

/* mta_hosts_parse - "DEST[,DEST...]" */
int
mta_hosts_parse(const char *s, struct mta_hosts *h, const char **why)
{
	char buf[MTA_HOST_MAX + 64];

	memset(h, 0, sizeof(*h));
	for (;;) {
		const char *end;
		size_t len;

		s += strspn(s, " \t");
		end = s + strcspn(s, ",");
		len = (size_t)(end - s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0) {
			*why = "has an empty destination (DEST[,DEST...])";
			return -1;
		}
		if (h->n == MTA_ROUTE_HOSTS_MAX) {
			*why = "has more than 8 destinations";
			return -1;
		}
		if (len >= sizeof(buf)) {
			*why = "has a destination longer than 255 bytes";
			return -1;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (mta_dest_parse(buf, &h->v[h->n], why) == -1)
			return -1;
		for (size_t i = 0; i < h->n; i++)
			if (dest_same(&h->v[i], &h->v[h->n])) {
				*why = "names a destination twice";
				return -1;
			}
		h->n++;
		if (*end == '\0')
			return 0;
		s = end + 1;
	}
}

/* mta_hosts_same - the same destinations in the same order */
int
mta_hosts_same(const struct mta_hosts *a, const struct mta_hosts *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!dest_same(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}

/* mta_route_parse - "DOMAIN=DEST[,DEST...]" */
int
mta_route_parse(const char *s, struct mta_route *r, const char **why)
{
	const char *eq = strchr(s, '=');
	size_t len;

	memset(r, 0, sizeof(*r));
	*why = "is not DOMAIN=DESTINATION";
	if (eq == NULL || (len = (size_t)(eq - s)) == 0 ||
	    len >= sizeof(r->domain))
		return -1;
	memcpy(r->domain, s, len);
	r->domain[len] = '\0';
	if (host_check(r->domain[0] == '.' ? r->domain + 1 : r->domain) == -1) {
		*why = "has a bad domain before '='";
		return -1;
	}
	return mta_hosts_parse(eq + 1, &r->hosts, why);
}

/* mta_routes_parse - every item, no domain twice */
int
mta_routes_parse(char *const *items, size_t n, struct mta_route **out,
    size_t *bad, const char **why)
{
	struct mta_route *v;

	*out = NULL;
	if ((v = calloc(n > 0 ? n : 1, sizeof(*v))) == NULL) {
		*bad = 0;
		*why = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		*bad = i;
		if (mta_route_parse(items[i], &v[i], why) == -1)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (strcmp(v[k].domain, v[i].domain) == 0) {
				*why = "routes a domain that has a route already";
				goto fail;
			}
	}
	*out = v;
	return 0;
fail:
	free(v);
	return -1;
}

/* mta_route_match - the exact route, else the longest ".suffix" route */
const struct mta_route *
mta_route_match(const struct mta_route *v, size_t n, const char *domain)
{
	const struct mta_route *best = NULL;
	size_t dlen = strlen(domain), blen = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rd = v[i].domain;
		size_t rlen = strlen(rd);

		if (rd[0] != '.') {
			if (strcasecmp(rd, domain) == 0)
				return &v[i];
			continue;
		}
		if (dlen > rlen && strcasecmp(domain + dlen - rlen, rd) == 0 &&
		    rlen > blen) {
			best = &v[i];
			blen = rlen;
		}
	}
	return best;
}

/* mta_route_hosts - the route's destinations in order; 0: not routed */
size_t
mta_route_hosts(const struct mta_route *v, size_t n, const char *domain,
    struct mta_hosts *out)
{
	const struct mta_route *r = mta_route_match(v, n, domain);

	if (r == NULL) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	*out = r->hosts;
	return out->n;
}

/* mta_route_decide - static route, smarthost or MX */
enum mta_route_kind
mta_route_decide(const struct mta_route *routes, size_t n,
    const struct mta_hosts *smarthost, const char *domain,
    struct mta_hosts *out)
{
	if (mta_route_hosts(routes, n, domain, out) > 0)
		return MTA_ROUTE_STATIC;
	if (smarthost != NULL) {
		*out = *smarthost;
		return MTA_ROUTE_SMARTHOST;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->v[0].host, sizeof(out->v[0].host), "%s", domain);
	out->n = 1;
	return MTA_ROUTE_MX;
}

/* mta_mx_parse_rdata - preference and an uncompressed wire name */
int
mta_mx_parse_rdata(const uint8_t *p, size_t len, struct mta_mx *mx)
{
	size_t i = 2, o = 0;

	memset(mx, 0, sizeof(*mx));
	if (len < 3)
		return -1;
	mx->pref = (uint16_t)(p[0] << 8 | p[1]);
	for (;;) {
		size_t lab;

		if (i >= len)
			return -1;
		lab = p[i++];
		if (lab == 0)
			break;
		if (lab > 63 || i + lab > len)
			return -1;	/* also refuses compression (0xc0) */
		if (o + lab + 2 > sizeof(mx->host))
			return -1;
		if (o > 0)
			mx->host[o++] = '.';
		for (size_t k = 0; k < lab; k++) {
			int c = p[i + k];

			if (!host_char(c) || c == '.')
				return -1;
			mx->host[o++] = (char)tolower(c);
		}
		i += lab;
	}
	if (i != len)
		return -1;
	mx->host[o] = '\0';
	return 0;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct mta_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	if (x->rnd != y->rnd)
		return x->rnd < y->rnd ? -1 : 1;
	return strcmp(x->host, y->host);
}

/* mta_mx_sort - by preference, ties by the random rnd */
void
mta_mx_sort(struct mta_mx *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), mx_cmp);
}

/* mta_mx_is_null - RFC 7505 null MX */
int
mta_mx_is_null(const struct mta_mx *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].host[0] == '\0')
			return 1;
	return 0;
}

/* mta_mx_prune_self - drop us and every host not better than us */
size_t
mta_mx_prune_self(struct mta_mx *v, size_t n, const char *const *self,
    size_t nself)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < nself; k++)
			if (self[k] != NULL && self[k][0] != '\0' &&
			    strcasecmp(v[i].host, self[k]) == 0) {
				uint16_t mine = v[i].pref;
				size_t j = 0;

				while (j < n && v[j].pref < mine)
					j++;
				return j;
			}
	return n;
}

/* mta_tls_name - the name of a TLS mode */
const char *
mta_tls_name(enum mta_tls t)
{
	switch (t) {
	case MTA_TLS_NONE:
		return "none";
	case MTA_TLS_OPPORTUNISTIC:
		return "opportunistic";
	case MTA_TLS_VERIFY:
		return "verify";
	default:
		return "default";
	}
}

/* mta_dest_limit - connections one destination may hold */
int
mta_dest_limit(int max_connections, int per_dest)
{
	int reserve = max_connections > 1 ? (max_connections + 3) / 4 : 0;
	int most = max_connections - reserve;

	return per_dest < most ? per_dest : most;
}

static int
v4_internal(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
	    (a[0] == 100 && (a[1] & 0xc0) == 64) ||	/* 100.64/10 */
	    (a[0] == 169 && a[1] == 254) ||
	    (a[0] == 172 && (a[1] & 0xf0) == 16) ||	/* 172.16/12 */
	    (a[0] == 192 && a[1] == 168) ||
	    a[0] >= 224;				/* multicast, reserved */
}

/* mta_addr_is_internal - no place on the Internet */
int
mta_addr_is_internal(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	static const uint8_t zero[16];

	if (inet_pton(AF_INET, addr, &v4) == 1)
		return v4_internal((const uint8_t *)&v4.s_addr);
	if (inet_pton(AF_INET6, addr, &v6) != 1)
		return -1;
	if (memcmp(v6.s6_addr, mapped, sizeof(mapped)) == 0)
		return v4_internal(v6.s6_addr + 12);
	return memcmp(v6.s6_addr, zero, 15) == 0 ||	/* :: and ::1 */
	    (v6.s6_addr[0] & 0xfe) == 0xfc ||		/* fc00::/7 */
	    (v6.s6_addr[0] == 0xfe && (v6.s6_addr[1] & 0xc0) == 0x80) ||
	    v6.s6_addr[0] == 0xff;			/* multicast */
}
