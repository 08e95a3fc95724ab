/*
 * mta_route.h - routing decisions for outbound mail: static routes,
 * the smarthost, MX lists (RFC 5321 5.1, RFC 7505). Pure functions.
 */
#ifndef MOAT_MTA_ROUTE_H
#define MOAT_MTA_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define MTA_HOST_MAX	256	/* a host name or address, NUL included */
#define MTA_MX_MAX	32	/* MX records of one domain we look at */
#define MTA_ROUTE_HOSTS_MAX 8	/* destinations of one route or smarthost */

enum mta_tls {
	MTA_TLS_DEFAULT = 0,	/* route: the [delivery] tls knob */
	MTA_TLS_NONE,		/* never STARTTLS */
	MTA_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, no verification */
	MTA_TLS_VERIFY,		/* STARTTLS required, certificate verified */
};

/*
 * Where to send: "[host]:port" (no MX lookup: an address or the A/AAAA
 * of host), "host:port" (MX of host, then A/AAAA) or the same behind
 * "lmtp:" (LMTP, RFC 2033). A "/none", "/opportunistic" or "/verify"
 * suffix sets the TLS mode. "lmtp:unix:/path" is LMTP over a UNIX
 * socket: host holds the path, no TLS.
 */
struct mta_dest {
	char		host[MTA_HOST_MAX];	/* without brackets */
	int		port;			/* 0: the default port */
	int		bracket;		/* no MX lookup */
	int		literal;		/* host is a numeric address */
	int		lmtp;
	int		unix_sock;		/* host is a UNIX socket path */
	enum mta_tls	tls;
};

/*
 * The destinations of a route or of the smarthost, "DEST[,DEST...]", in
 * the order they are tried: the next when none of the addresses of one
 * answers (refused, timeout, a greeting other than 220).
 */
struct mta_hosts {
	struct mta_dest	v[MTA_ROUTE_HOSTS_MAX];
	size_t		n;
};

/* "DOMAIN=DEST[,DEST...]": DOMAIN, or ".DOMAIN" for every subdomain */
struct mta_route {
	char		 domain[MTA_HOST_MAX];	/* lowercased */
	struct mta_hosts hosts;
};

enum mta_route_kind {
	MTA_ROUTE_STATIC,	/* a route matched */
	MTA_ROUTE_SMARTHOST,	/* everything else goes to the smarthost */
	MTA_ROUTE_MX,		/* MX lookup of the recipient domain */
};

/* One MX record. */
struct mta_mx {
	uint16_t	pref;
	char		host[MTA_HOST_MAX];	/* lowercased, no trailing dot;
						 * "" is the root (null MX) */
	uint32_t	rnd;			/* tie breaker, set by the caller */
};

/*
 * mta_dest_parse - parse DEST (see struct mta_dest) into d. Returns 0,
 * or -1 with a reason in *why.
 */
int mta_dest_parse(const char *s, struct mta_dest *d, const char **why);

/*
 * mta_hosts_parse - "DEST[,DEST...]" (white space around a comma is
 * allowed) into h, at most MTA_ROUTE_HOSTS_MAX, none twice. Returns 0,
 * or -1 with a reason in *why.
 */
int mta_hosts_parse(const char *s, struct mta_hosts *h, const char **why);

/* mta_hosts_same - 1 when a and b name the same destinations in order */
int mta_hosts_same(const struct mta_hosts *a, const struct mta_hosts *b);

/* mta_route_parse - parse "DOMAIN=DEST[,DEST...]"; 0, or -1 with *why */
int mta_route_parse(const char *s, struct mta_route *r, const char **why);

/*
 * mta_routes_parse - the routes knob's items into a new array *out
 * (free() it) of n routes. A domain routed twice is an error. Returns
 * 0, or -1 with the index of the bad item in *bad and a reason in *why.
 */
int mta_routes_parse(char *const *items, size_t n, struct mta_route **out,
    size_t *bad, const char **why);

/*
 * mta_route_match - the route for domain among v[0..n): an exact
 * domain first, then the longest ".suffix" route; NULL when none.
 */
const struct mta_route *mta_route_match(const struct mta_route *v, size_t n,
    const char *domain);

/*
 * mta_route_hosts - the destinations of domain's route among v[0..n),
 * in the order they are tried, into *out; returns their number, 0 when
 * domain is not routed. A bracketed destination is a host (or address)
 * to connect to; one without brackets is looked up as MX first.
 */
size_t mta_route_hosts(const struct mta_route *v, size_t n, const char *domain,
    struct mta_hosts *out);

/*
 * mta_route_decide - how mail for domain is routed: a matching route
 * (its hosts copied to *out), else the smarthost when smarthost is not
 * NULL (copied to *out), else MX (one destination: the domain, port 0).
 */
enum mta_route_kind mta_route_decide(const struct mta_route *routes,
    size_t n, const struct mta_hosts *smarthost, const char *domain,
    struct mta_hosts *out);

/*
 * mta_mx_parse_rdata - an MX record's rdata (preference, then an
 * uncompressed wire-format name, as libunbound gives it) into mx.
 * Returns 0, or -1 when it is malformed.
 */
int mta_mx_parse_rdata(const uint8_t *p, size_t len, struct mta_mx *mx);

/*
 * mta_mx_sort - order v[0..n) by preference, equal preferences by
 * their rnd field (which the caller fills with random numbers, so
 * ties are spread among hosts, RFC 5321 5.1).
 */
void mta_mx_sort(struct mta_mx *v, size_t n);

/* mta_mx_is_null - 1 for a null MX (RFC 7505): one record, root host */
int mta_mx_is_null(const struct mta_mx *v, size_t n);

/*
 * mta_mx_prune_self - RFC 5321 5.1: when one of the hosts is us (its
 * name is one of self[0..nself)), drop it and every host of the same or
 * a higher preference. Returns the new count; 0 means the mail would
 * loop back to us. v must be sorted.
 */
size_t mta_mx_prune_self(struct mta_mx *v, size_t n, const char *const *self,
    size_t nself);

/* mta_tls_name - "none", "opportunistic", "verify" or "default" */
const char *mta_tls_name(enum mta_tls t);

/*
 * mta_dest_limit - connections one destination may hold: per_dest, but
 * never the whole of max_connections when that is more than one: a
 * quarter (at least one) stays for the other destinations, so a slow
 * one cannot take every slot.
 */
int mta_dest_limit(int max_connections, int per_dest);

/*
 * mta_addr_is_internal - 1 when the numeric address addr (IPv4 or IPv6
 * text) is no place on the Internet: loopback, RFC 1918, shared
 * (100.64/10), link-local, ULA (fc00::/7), unspecified, multicast or
 * reserved, an IPv4-mapped IPv6 form of one of those; 0 otherwise; -1
 * when addr does not parse.
 */
int mta_addr_is_internal(const char *addr);

#endif
