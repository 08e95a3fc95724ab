/*
 * mta_dns.c - the mta's DNS: MX, A and AAAA lookups through
 * libunbound, asynchronous, on the mta's event loop (lib/resolver.c),
 * never blocking it.
 *
 * Public: mta_dns_init, mta_dns_free, mta_dns_resolve.
 *
 * A destination queue is resolved into an ordered list of addresses
 * (hops): the destinations of its route one after another (a route may
 * list several, tried in order), each one's MX records by preference,
 * random among equal ones, the addresses of each host (IPv4, then IPv6,
 * or the family of address_preference first); no MX at all means the
 * domain itself (RFC 5321 5.1); a null MX (RFC 7505) fails at once;
 * an MX list naming us keeps only the better hosts, none left is a
 * loop. An address that is one of our own listeners is dropped too.
 * MX hosts at internal addresses (mta_addr_is_internal) are counted:
 * mail from the null sender is not sent there (mta_proc.c).
 *
 * SECURITY: answers are untrusted: MX rdata goes through
 * mta_mx_parse_rdata, addresses are taken only from A/AAAA rdata of
 * the exact length. The resolver is the configured dns_server or
 * /etc/resolv.conf's.
 * LIMITS: MTA_MX_MAX MX hosts a destination, MTA_RES_HOSTS host names,
 * MTA_ADDR_PER_HOST addresses each, MTA_HOPS_MAX hops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>
#include <unbound.h>

#include "daemon/config.h"
#include "lib/log.h"
#include "lib/resolver.h"
#include "mta/mta.h"

#define MTA_ADDR_PER_HOST	8
#define MTA_RES_HOSTS		64	/* host names looked up for one dq */
#define DNS_TYPE_A		1
#define DNS_TYPE_MX		15
#define DNS_TYPE_AAAA		28
#define DNS_RCODE_NXDOMAIN	3

/* one mail host (an MX host, or a bracketed destination) and its addresses */
struct mta_host_addrs {
	char	name[MTA_HOST_MAX];
	size_t	dest;		/* index into dq->route.v */
	char	a[MTA_ADDR_PER_HOST][INET6_ADDRSTRLEN];
	int	na;
	char	aaaa[MTA_ADDR_PER_HOST][INET6_ADDRSTRLEN];
	int	naaaa;
	int	nx;		/* both lookups: no such name */
};

/*
 * The state of one resolution; owned by its dq. Hosts are appended as
 * MX answers come in, each answer's hosts together and in preference
 * order, so the hosts of one destination keep their order.
 */
struct mta_resolve {
	struct mta_host_addrs	 host[MTA_RES_HOSTS];
	size_t			 nhost;
	int			 implicit;	/* no MX: the domain itself */
};

/* one query in flight; freed by its callback */
struct dns_q {
	struct mta_dq	*dq;
	int		 type;
	size_t		 idx;		/* MX: the destination; A/AAAA: the
					 * host in res->host[] */
};

/* mta_dns_init - the resolver, watched on m->base */
int
mta_dns_init(struct mta *m, char *err, size_t errlen)
{
	/* without resolv.conf the mta still delivers, from the root */
	if ((m->res = resolver_new("mta", m->conf->dns_server,
	    RESOLVER_ROOT_FALLBACK, err, errlen)) == NULL)
		return -1;
	if (resolver_attach(m->res, m->base) == -1) {
		snprintf(err, errlen, "cannot watch the resolver");
		return -1;
	}
	return 0;
}

/* mta_dns_free - stop the resolver; callbacks in flight never run */
void
mta_dns_free(struct mta *m)
{
	resolver_free(m->res);
	m->res = NULL;
}

static void dns_answer(void *arg, int err, struct ub_result *res);

static void
dns_query(struct mta_dq *d, const char *name, int type, size_t idx)
{
	struct dns_q *q;
	int rc;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("%s: calloc", __func__);
	q->dq = d;
	q->type = type;
	q->idx = idx;
	d->pending++;
	rc = ub_resolve_async(resolver_ctx(d->mta->res), name, type, 1, q, dns_answer, NULL);
	if (rc != 0) {
		log_warn(LOG_CAT_DNS, "event=query_failed name=%s type=%d "
		    "error=\"%s\"", name, type, ub_strerror(rc));
		d->pending--;
		d->dns_temp = 1;
		free(q);
	}
}

/* is addr:port one of our own listeners? */
static int
dns_is_self(struct mta *m, const struct mta_hop *h, int port)
{
	for (size_t i = 0; i < m->conf->n_listeners; i++) {
		const struct conf_listener *l = &m->conf->listeners[i];

		if (l->port != port)
			continue;
		if (strcmp(l->address, h->addr) == 0)
			return 1;
		if ((strcmp(l->address, "0.0.0.0") == 0 &&
		    strncmp(h->addr, "127.", 4) == 0) ||
		    (strcmp(l->address, "::") == 0 &&
		    strcmp(h->addr, "::1") == 0))
			return 1;
	}
	return 0;
}

static int
dns_port(struct mta_dq *d, size_t dest)
{
	return d->route.v[dest].port ? d->route.v[dest].port :
	    d->mta->conf->test_smtp_port;
}

static void
hop_add(struct mta_dq *d, size_t dest, const char *name, const char *addr,
    int *self)
{
	struct mta_hop *h;
	int port = dns_port(d, dest);

	if (d->nhops >= MTA_HOPS_MAX)
		return;
	h = &d->hops[d->nhops];
	memset(h, 0, sizeof(*h));
	h->dest = dest;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->addr, sizeof(h->addr), "%s", addr);
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return;
		h->sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return;
		h->sslen = sizeof(*s4);
	}
	if (d->kind == MTA_ROUTE_MX && mta_addr_is_internal(addr) == 1)
		d->ninternal++;
	if (dns_is_self(d->mta, h, port)) {
		log_notice(LOG_CAT_DNS, "event=self_dropped domain=%s host=%s "
		    "address=%s port=%d", d->key, name, addr, port);
		*self = 1;
		return;
	}
	d->nhops++;
}

/* an LMTP destination on a UNIX socket: one hop, nothing to look up */
static void
hop_add_unix(struct mta_dq *d, size_t dest)
{
	const char *path = d->route.v[dest].host;
	struct mta_hop *h;
	struct sockaddr_un *su;

	if (d->nhops >= MTA_HOPS_MAX)
		return;
	h = &d->hops[d->nhops];
	su = (struct sockaddr_un *)&h->ss;
	memset(h, 0, sizeof(*h));
	h->dest = dest;
	snprintf(h->name, sizeof(h->name), "%s", path);
	snprintf(h->addr, sizeof(h->addr), "unix");
	su->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(su->sun_path))
		fatalx("%s: path too long", __func__);	/* mta_dest_parse */
	memcpy(su->sun_path, path, strlen(path) + 1);
	h->sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path) + 1);
	d->nhops++;
}

/* the addresses of one host, the preferred family first */
static void
hops_of_host(struct mta_dq *d, const struct mta_host_addrs *ha, int *self)
{
	int v6first = d->mta->addr_pref == AF_INET6;

	for (int pass = 0; pass < 2; pass++) {
		int v6 = pass == 0 ? v6first : !v6first;
		int n = v6 ? ha->naaaa : ha->na;

		for (int k = 0; k < n; k++)
			hop_add(d, ha->dest, ha->name, v6 ? ha->aaaa[k] :
			    ha->a[k], self);
	}
}

static void
dq_set_error(struct mta_dq *d, uint8_t result, const char *reply)
{
	/* several destinations: the first one's failure is kept */
	if (d->error[0] != '\0')
		return;
	d->error_result = result;
	snprintf(d->error, sizeof(d->error), "%s", reply);
}

/*
 * Every answer is in: the hops, destination after destination, or the
 * reason there are none. A destination that failed (a null MX, say)
 * while another has hosts is only logged.
 */
static void
dns_done(struct mta_dq *d)
{
	struct mta_resolve *r = d->res;
	int self = 0, nx = 1;

	for (size_t i = 0; i < d->route.n; i++) {
		const struct mta_dest *ds = &d->route.v[i];

		if (ds->unix_sock) {
			hop_add_unix(d, i);
			continue;
		}
		if (ds->literal) {
			hop_add(d, i, ds->host, ds->host, &self);
			continue;
		}
		for (size_t k = 0; k < r->nhost; k++) {
			if (r->host[k].dest != i)
				continue;
			hops_of_host(d, &r->host[k], &self);
			nx &= r->host[k].nx;
		}
	}
	if (d->nhops > 0)
		d->error[0] = '\0';
	else if (d->error[0] == '\0') {
		if (self)
			dq_set_error(d, PROTO_MTA_PERMFAIL, "554 5.4.6 mail for "
			    "this destination loops back to myself");
		else if (d->dns_temp)
			dq_set_error(d, PROTO_MTA_TEMPFAIL, "451 4.4.3 DNS "
			    "lookup failed, will retry");
		else if (r->implicit && nx && d->kind == MTA_ROUTE_MX)
			dq_set_error(d, PROTO_MTA_PERMFAIL, "550 5.1.2 domain "
			    "not found");
		else
			dq_set_error(d, PROTO_MTA_TEMPFAIL, "451 4.4.4 no "
			    "address found for the mail hosts");
	}
	d->nmx = r->nhost;
	free(d->res);
	d->res = NULL;
	d->state = MTA_DEST_READY;
	d->resolved_at = time(NULL);
	log_info(LOG_CAT_DNS, "event=resolved domain=%s mx=%zu hops=%zu%s%s%s",
	    d->key, d->nmx, d->nhops, d->error[0] ? " error=\"" : "",
	    d->error, d->error[0] ? "\"" : "");
	mta_dq_resolved(d);
}

/* a mail host of destination dest: look up its addresses */
static void
dns_host(struct mta_dq *d, size_t dest, const char *name)
{
	struct mta_resolve *r = d->res;
	struct mta_host_addrs *h;

	if (r->nhost == MTA_RES_HOSTS)
		return;
	h = &r->host[r->nhost];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->dest = dest;
	dns_query(d, name, DNS_TYPE_A, r->nhost);
	dns_query(d, name, DNS_TYPE_AAAA, r->nhost);
	r->nhost++;
}

static void
dns_mx_answer(struct mta_dq *d, size_t dest, int err, struct ub_result *res)
{
	const char *self[1] = { d->mta->conf->hostname };
	struct mta_mx mx[MTA_MX_MAX];
	size_t n = 0;

	if (err != 0 || res == NULL) {
		d->dns_temp = 1;
		return;
	}
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		if (d->kind == MTA_ROUTE_MX)
			dq_set_error(d, PROTO_MTA_PERMFAIL, "550 5.1.2 domain "
			    "not found");
		else
			d->dns_temp = 1;
		return;
	}
	if (res->rcode != 0) {
		d->dns_temp = 1;
		return;
	}
	for (int i = 0; res->havedata && res->data[i] != NULL; i++) {
		if (n == MTA_MX_MAX)
			break;
		if (mta_mx_parse_rdata((const uint8_t *)res->data[i],
		    (size_t)res->len[i], &mx[n]) == -1) {
			log_notice(LOG_CAT_DNS, "event=bad_mx domain=%s", d->key);
			continue;
		}
		mx[n].rnd = randombytes_random();
		n++;
	}
	if (n == 0) {
		/* no MX: the domain is its own mail host */
		d->res->implicit = 1;
		dns_host(d, dest, d->route.v[dest].host);
		return;
	}
	mta_mx_sort(mx, n);
	if (mta_mx_is_null(mx, n)) {
		dq_set_error(d, PROTO_MTA_PERMFAIL, "556 5.1.10 domain does "
		    "not accept mail (null MX)");
		return;
	}
	if ((n = mta_mx_prune_self(mx, n, self, 1)) == 0) {
		dq_set_error(d, PROTO_MTA_PERMFAIL, "554 5.4.6 MX for this "
		    "domain points back to myself (mail loop)");
		return;
	}
	for (size_t i = 0; i < n; i++)
		dns_host(d, dest, mx[i].host);
}

static void
dns_addr_answer(struct mta_dq *d, struct dns_q *q, int err,
    struct ub_result *res)
{
	struct mta_host_addrs *h = &d->res->host[q->idx];
	int af = q->type == DNS_TYPE_A ? AF_INET : AF_INET6;
	size_t want = af == AF_INET ? 4 : 16;

	if (err != 0 || res == NULL) {
		d->dns_temp = 1;
		return;
	}
	if (res->rcode == DNS_RCODE_NXDOMAIN) {
		h->nx = 1;
		return;
	}
	if (res->rcode != 0) {
		d->dns_temp = 1;
		return;
	}
	for (int i = 0; res->havedata && res->data[i] != NULL; i++) {
		int *cnt = af == AF_INET ? &h->na : &h->naaaa;
		char (*dst)[INET6_ADDRSTRLEN] = af == AF_INET ? h->a : h->aaaa;

		if ((size_t)res->len[i] != want || *cnt >= MTA_ADDR_PER_HOST)
			continue;
		if (inet_ntop(af, res->data[i], dst[*cnt], INET6_ADDRSTRLEN))
			(*cnt)++;
	}
}

static void
dns_answer(void *arg, int err, struct ub_result *res)
{
	struct dns_q *q = arg;
	struct mta_dq *d = q->dq;

	if (err != 0)
		log_info(LOG_CAT_DNS, "event=lookup_failed domain=%s type=%d "
		    "error=\"%s\"", d->key, q->type, ub_strerror(err));
	if (q->type == DNS_TYPE_MX)
		dns_mx_answer(d, q->idx, err, res);
	else
		dns_addr_answer(d, q, err, res);
	if (res != NULL)
		ub_resolve_free(res);
	free(q);
	if (--d->pending == 0)
		dns_done(d);
}

/*
 * mta_dns_resolve - start resolving d, every destination of its route
 * at once; mta_dq_resolved(d) when done
 */
void
mta_dns_resolve(struct mta_dq *d)
{
	d->state = MTA_DEST_RESOLVING;
	d->nhops = 0;
	d->ninternal = 0;
	d->nmx = 0;
	d->dns_temp = 0;
	d->error[0] = '\0';
	free(d->res);
	if ((d->res = calloc(1, sizeof(*d->res))) == NULL)
		fatal("%s: calloc", __func__);
	d->pending++;		/* no callback completes us before the end */
	for (size_t i = 0; i < d->route.n; i++) {
		const struct mta_dest *ds = &d->route.v[i];

		if (ds->unix_sock || ds->literal)
			continue;	/* hops without a lookup: dns_done */
		if (ds->bracket)
			dns_host(d, i, ds->host);
		else
			dns_query(d, ds->host, DNS_TYPE_MX, i);
	}
	if (--d->pending == 0)
		dns_done(d);
}
