/*
 * doctor_dns.c - `moat doctor`'s DNS checks, through the configured
 * dns_server (else resolv.conf), synchronous libunbound lookups:
 *
 *   fcrdns  each outbound address has a PTR naming `hostname`, and
 *           `hostname` resolves back to it (receivers refuse or score
 *           mail from an address without that);
 *   mx      each local domain's MX hosts resolve to addresses of ours;
 *   spf     each local domain's SPF passes for our outbound addresses
 *           (src/spf's check_host, the daemon's own evaluator).
 *
 * The outbound addresses are those given with --address (behind NAT:
 * the public ones), else source_address_v4/_v6, else those the system
 * picks for a route to the outside (a UDP socket connected, no packet
 * sent). "Ours" is those and every local interface's address.
 *
 * Public: doctor_dns.
 * SECURITY: answers are decoded by the daemon's own checked parsers
 * (smtp_rdns_name for PTR, mta_mx_parse_rdata for MX: host name
 * characters only, no compression, bounded) before they are reported.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unbound.h>

#include "ctl/doctor.h"
#include "daemon/config.h"
#include "lib/cidr.h"
#include "lib/resolver.h"
#include "mta/mta_route.h"
#include "smtp/smtp_rdns.h"
#include "spf/spf.h"

#define DNS_NAME_MAX	256
#define OURS_MAX	64	/* addresses of ours compared with MX hosts */
#define RR_MAX		64	/* answers looked at, per lookup */

#define T_A	1
#define T_PTR	12
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

struct dns {
	struct ub_ctx		*ub;
	struct ub_result	*res;		/* of the last lookup */
	const uint8_t		*rd[RR_MAX];	/* for spf_lookup */
	size_t			 rl[RR_MAX];
};

/* -1 temporary failure, else the number of answers in d->res */
static int
lookup(struct dns *d, const char *name, int type)
{
	int n = 0;

	if (d->res != NULL)
		ub_resolve_free(d->res);
	d->res = NULL;
	if (ub_resolve(d->ub, name, type, 1, &d->res) != 0 || d->res == NULL)
		return -1;
	if (d->res->rcode != 0 && d->res->rcode != 3)	/* not NXDOMAIN */
		return -1;
	if (!d->res->havedata)
		return 0;
	while (d->res->data[n] != NULL && n < RR_MAX)
		n++;
	return n;
}

/* spf_lookup_fn over the same resolver */
static int
spf_lookup(void *arg, const char *name, int type, const uint8_t *const **rd,
    const size_t **rl)
{
	struct dns *d = arg;
	int n = lookup(d, name, type);

	for (int i = 0; i < n; i++) {
		d->rd[i] = (const uint8_t *)d->res->data[i];
		d->rl[i] = (size_t)d->res->len[i];
	}
	*rd = d->rd;
	*rl = d->rl;
	return n;
}

static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* the reverse name of addr (mapped form) */
static void
reverse_name(const uint8_t addr[16], char *out, size_t cap)
{
	size_t o = 0;

	if (cidr_addr_is_v4(addr)) {
		snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", addr[15],
		    addr[14], addr[13], addr[12]);
		return;
	}
	for (int i = 15; i >= 0 && o + 5 < cap; i--)
		o += (size_t)snprintf(out + o, cap - o, "%x.%x.", addr[i] & 15,
		    addr[i] >> 4);
	snprintf(out + o, cap - o, "ip6.arpa");
}

/* the source address the system picks towards the outside; -1 none */
static int
route_source(int family, uint8_t out[16])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	int fd, rc = -1;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(25);
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);	/* not sent to */
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(25);
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	if ((family == AF_INET ? connect(fd, (struct sockaddr *)&s4,
	    sizeof(s4)) : connect(fd, (struct sockaddr *)&s6, sizeof(s6))) ==
	    0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    cidr_addr_from_sa((struct sockaddr *)&ss, out) == 0)
		rc = 0;
	close(fd);
	return rc;
}

struct addrs {
	uint8_t	a[OURS_MAX][16];
	size_t	n;
};

static void
addrs_add(struct addrs *s, const uint8_t a[16])
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->a[i], a, 16) == 0)
			return;
	if (s->n < OURS_MAX)
		memcpy(s->a[s->n++], a, 16);
}

static int
addrs_has(const struct addrs *s, const uint8_t a[16])
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->a[i], a, 16) == 0)
			return 1;
	return 0;
}

/* the outbound addresses, then every address of ours */
static void
our_addresses(struct doctor_report *r, const struct conf *c,
    char *const *given, size_t ngiven, struct addrs *out, struct addrs *ours)
{
	struct ifaddrs *ifa, *i;
	uint8_t a[16];
	struct cidr priv;
	const char *e;
	char t[CIDR_STRLEN];

	for (size_t k = 0; k < ngiven; k++)
		if (cidr_addr_parse(given[k], a) == 0)
			addrs_add(out, a);
	if (ngiven == 0 && (c->source_address_v4[0] ?
	    cidr_addr_parse(c->source_address_v4, a) == 0 :
	    route_source(AF_INET, a) == 0))
		addrs_add(out, a);
	if (ngiven == 0 && (c->source_address_v6[0] ?
	    cidr_addr_parse(c->source_address_v6, a) == 0 :
	    route_source(AF_INET6, a) == 0))
		addrs_add(out, a);
	for (size_t k = 0; k < out->n; k++) {
		addrs_add(ours, out->a[k]);
		if (ngiven > 0)
			continue;
		/* behind NAT the world sees another address */
		if ((cidr_parse("10.0.0.0/8", &priv, &e) == 0 &&
		    cidr_contains(&priv, out->a[k])) ||
		    (cidr_parse("172.16.0.0/12", &priv, &e) == 0 &&
		    cidr_contains(&priv, out->a[k])) ||
		    (cidr_parse("192.168.0.0/16", &priv, &e) == 0 &&
		    cidr_contains(&priv, out->a[k])) ||
		    (cidr_parse("fc00::/7", &priv, &e) == 0 &&
		    cidr_contains(&priv, out->a[k])))
			doctor_add(r, "fcrdns", DOCTOR_INFO, "outbound address "
			    "%s is private: behind NAT, name the public one "
			    "with --address", cidr_addr_format(out->a[k], t,
			    sizeof(t)));
	}
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i != NULL; i = i->ifa_next)
			if (i->ifa_addr != NULL &&
			    cidr_addr_from_sa(i->ifa_addr, a) == 0)
				addrs_add(ours, a);
		freeifaddrs(ifa);
	}
}

/* the addresses name resolves to, into got; -1 temporary failure */
static int
resolve_addrs(struct dns *d, const char *name, struct addrs *got)
{
	static const int types[] = { T_A, T_AAAA };
	uint8_t a[16];
	int n, fail = 0;

	got->n = 0;
	for (size_t t = 0; t < 2; t++) {
		if ((n = lookup(d, name, types[t])) < 0) {
			fail = 1;
			continue;
		}
		for (int i = 0; i < n; i++) {
			memset(a, 0, sizeof(a));
			if (types[t] == T_A && d->res->len[i] == 4) {
				a[10] = a[11] = 0xff;
				memcpy(a + 12, d->res->data[i], 4);
			} else if (types[t] == T_AAAA && d->res->len[i] == 16)
				memcpy(a, d->res->data[i], 16);
			else
				continue;
			addrs_add(got, a);
		}
	}
	return got->n == 0 && fail ? -1 : 0;
}

static void
addrs_text(const struct addrs *s, char *out, size_t cap)
{
	char a[CIDR_STRLEN];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n && o + 1 < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "",
		    cidr_addr_format(s->a[i], a, sizeof(a)));
}

/* PTR of each outbound address names hostname, which resolves back */
static void
check_fcrdns(struct doctor_report *r, struct dns *d, const struct conf *c,
    const struct addrs *out)
{
	char rev[80], name[DNS_NAME_MAX], names[300], a[CIDR_STRLEN];
	char back[200];
	struct addrs fwd;
	int n, match;

	for (size_t k = 0; k < out->n; k++) {
		cidr_addr_format(out->a[k], a, sizeof(a));
		reverse_name(out->a[k], rev, sizeof(rev));
		if ((n = lookup(d, rev, T_PTR)) < 0) {
			doctor_add(r, "fcrdns", DOCTOR_WARNING, "PTR of %s: "
			    "lookup failed (try again)", a);
			continue;
		}
		if (n == 0) {
			doctor_add(r, "fcrdns", DOCTOR_ERROR, "%s (outbound) "
			    "has no PTR record: many receivers refuse its "
			    "mail", a);
			doctor_fix(r, "ask whoever owns %s (ISP, hosting) to "
			    "set its PTR to %s", a, c->hostname);
			continue;
		}
		match = 0;
		names[0] = '\0';
		for (int i = 0; i < n; i++) {
			size_t nl = strlen(names);

			if (smtp_rdns_name((const uint8_t *)d->res->data[i],
			    (size_t)d->res->len[i], name, sizeof(name)) == -1)
				snprintf(name, sizeof(name), "(malformed)");
			else if (same_name(name, c->hostname))
				match = 1;
			snprintf(names + nl, sizeof(names) - nl, "%s%s",
			    nl ? ", " : "", name);
		}
		if (!match) {
			doctor_add(r, "fcrdns", DOCTOR_ERROR, "PTR of %s is %s, "
			    "not hostname %s", a, names, c->hostname);
			doctor_fix(r, "set the PTR of %s to %s, or [server] "
			    "hostname = the name it has", a, c->hostname);
			continue;
		}
		if (resolve_addrs(d, c->hostname, &fwd) == -1) {
			doctor_add(r, "fcrdns", DOCTOR_WARNING, "addresses of "
			    "%s: lookup failed (try again)", c->hostname);
			continue;
		}
		if (!addrs_has(&fwd, out->a[k])) {
			addrs_text(&fwd, back, sizeof(back));
			doctor_add(r, "fcrdns", DOCTOR_ERROR, "PTR of %s is %s, "
			    "but %s resolves to %s", a, c->hostname,
			    c->hostname, fwd.n ? back : "nothing");
			doctor_fix(r, "add the record %s %s %s", c->hostname,
			    cidr_addr_is_v4(out->a[k]) ? "A" : "AAAA", a);
			continue;
		}
		doctor_add(r, "fcrdns", DOCTOR_OK, "%s <-> %s", a, c->hostname);
	}
}

/* a domain worth asking the DNS about */
static int
public_domain(const char *dom)
{
	return strchr(dom, '.') != NULL && strcasecmp(dom, "localhost") != 0;
}

static void
check_mx(struct doctor_report *r, struct dns *d, const struct conf *c,
    const char *dom, const struct addrs *ours)
{
	struct mta_mx mx[RR_MAX];
	char list[300], got[200];
	struct addrs a;
	int n, here = 0, elsewhere = 0;

	if ((n = lookup(d, dom, T_MX)) < 0) {
		doctor_add(r, "mx", DOCTOR_WARNING, "MX of %s: lookup failed "
		    "(try again)", dom);
		return;
	}
	if (n == 0) {
		doctor_add(r, "mx", DOCTOR_WARNING, "%s has no MX record: "
		    "senders fall back to its address", dom);
		doctor_fix(r, "publish %s MX 10 %s", dom, c->hostname);
		return;
	}
	for (int i = 0; i < n; i++)
		if (mta_mx_parse_rdata((const uint8_t *)d->res->data[i],
		    (size_t)d->res->len[i], &mx[i]) == -1)
			snprintf(mx[i].host, sizeof(mx[i].host), "(malformed)");
	if (mta_mx_is_null(mx, (size_t)n)) {
		doctor_add(r, "mx", DOCTOR_ERROR, "%s publishes a null MX "
		    "(RFC 7505): it receives no mail, yet it is a local "
		    "domain", dom);
		doctor_fix(r, "publish %s MX 10 %s", dom, c->hostname);
		return;
	}
	list[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t ll = strlen(list);
		int ok = 0;

		if (mx[i].host[0] == '\0' || mx[i].host[0] == '(')
			continue;
		if (resolve_addrs(d, mx[i].host, &a) == 0)
			for (size_t k = 0; k < a.n; k++)
				ok |= addrs_has(ours, a.a[k]);
		addrs_text(&a, got, sizeof(got));
		snprintf(list + ll, sizeof(list) - ll, "%s%.80s (%.100s)", ll ? ", " :
		    "", mx[i].host, a.n ? got : "no address");
		if (ok)
			here++;
		else
			elsewhere++;
	}
	if (here == 0) {
		doctor_add(r, "mx", DOCTOR_ERROR, "MX of %s points elsewhere: "
		    "%s; mail for it does not come here", dom, list);
		doctor_fix(r, "publish %s MX 10 %s (or take %s out of "
		    "local_domains)", dom, c->hostname, dom);
	} else if (elsewhere > 0) {
		doctor_add(r, "mx", DOCTOR_INFO, "MX of %s: %s; not all of "
		    "them are this server (backups?)", dom, list);
	} else
		doctor_add(r, "mx", DOCTOR_OK, "MX of %s: %s", dom, list);
}

static void
check_spf(struct doctor_report *r, struct dns *d, const struct conf *c,
    const char *dom, const struct addrs *out)
{
	char sender[DNS_NAME_MAX + 16], a[CIDR_STRLEN];
	struct spf_query q;
	enum spf_result res;
	enum doctor_sev sev;
	const char *why = NULL;

	snprintf(sender, sizeof(sender), "postmaster@%s", dom);
	for (size_t k = 0; k < out->n; k++) {
		memset(&q, 0, sizeof(q));
		memcpy(q.ip, out->a[k], 16);
		q.sender = sender;
		q.domain = dom;
		q.helo = c->hostname;
		q.lookup = spf_lookup;
		q.arg = d;
		res = spf_check(&q, &why);
		cidr_addr_format(out->a[k], a, sizeof(a));
		switch (res) {
		case SPF_PASS:
			sev = DOCTOR_OK;
			break;
		case SPF_FAIL:
		case SPF_PERMERROR:
			sev = DOCTOR_ERROR;
			break;
		default:
			sev = DOCTOR_WARNING;
		}
		doctor_add(r, "spf", sev, "SPF of %s for %s (outbound): %s%s%s",
		    dom, a, spf_result_name(res), why ? ": " : "",
		    why ? why : "");
		if (sev != DOCTOR_OK)
			doctor_fix(r, res == SPF_TEMPERROR ? "try again" :
			    "publish %s TXT \"v=spf1 %s:%s -all\" (or add "
			    "%s to the record you have)", dom,
			    cidr_addr_is_v4(out->a[k]) ? "ip4" : "ip6", a, a);
	}
}

void
doctor_dns(struct doctor_report *r, const struct conf *c,
    char *const *given, size_t ngiven)
{
	struct addrs out, ours;
	struct resolver *res;
	struct dns d;
	char err[256];
	int any = 0;

	memset(&out, 0, sizeof(out));
	memset(&ours, 0, sizeof(ours));
	if ((res = resolver_new("doctor", c->dns_server, RESOLVER_SYNC |
	    RESOLVER_LOOPBACK_PTR, err, sizeof(err))) == NULL) {
		doctor_add(r, "dns", DOCTOR_WARNING, "DNS checks skipped: %s",
		    err);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.ub = resolver_ctx(res);
	our_addresses(r, c, given, ngiven, &out, &ours);
	if (out.n == 0)
		doctor_add(r, "fcrdns", DOCTOR_WARNING, "no outbound address "
		    "found (no route out, no source_address_v4/_v6): reverse "
		    "DNS and SPF not checked");
	if (out.n == 0)
		doctor_fix(r, "name it: moat doctor --address ADDR");
	else
		check_fcrdns(r, &d, c, &out);
	for (size_t i = 0; i < c->n_local_domains; i++) {
		if (!public_domain(c->local_domains[i]))
			continue;
		any = 1;
		check_mx(r, &d, c, c->local_domains[i], &ours);
		if (out.n > 0)
			check_spf(r, &d, c, c->local_domains[i], &out);
	}
	if (!any)
		doctor_add(r, "mx", DOCTOR_INFO, "no local domain the DNS "
		    "could know (only localhost or single labels)");
	if (d.res != NULL)
		ub_resolve_free(d.res);
	resolver_free(res);
}
