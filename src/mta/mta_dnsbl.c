/*
 * mta_dnsbl.c - the blacklist watch: are moat's own public addresses
 * listed on DNS blacklists?
 *
 * Public: mta_dnsbl_start, mta_dnsbl_reconf, mta_dnsbl_check_now,
 * mta_dnsbl_free.
 *
 * Every blacklist_interval (the first check at start), and when an
 * admin asks (`moat blacklist check`: PROTO_DNSBL_CHECK from the
 * queue), each own address is looked up in each of blacklist_zones: an
 * A query for the reversed address (dnsbl_query_name: octets for IPv4,
 * nibbles for IPv6) under the zone; a record in 127.0.0.0/8 is a
 * listing, and its TXT record, asked next, the reason
 * (mta_dnsbl_verdict, mta_dnsbl_txt). The outcome of every pair goes
 * to the queue in one PROTO_DNSBL_RESULT; the queue records the changes
 * as events, runs the alert and keeps the state for the metrics and
 * `moat status`. The mta judges nothing across checks.
 *
 * The own addresses are blacklist_addresses, or else the ones outbound
 * connections leave from: source_address_v4/_v6 when set, else what
 * the kernel picks for a route to a public address (a UDP socket
 * connected, nothing sent, getsockname). Those are skipped when they
 * are not global (mta_dnsbl_addr_global): behind NAT the lists know
 * the router's address, which only blacklist_addresses can name.
 *
 * Each check has a libunbound context of its own (lib/resolver.c, with
 * dns_server or resolv.conf) that goes with it: every check asks the
 * resolver afresh instead of answering from a cache filled an interval
 * ago, and a server that stopped answering in one check is not
 * remembered as dead in the next. A check ends when every query has its
 * answer or after MTA_DNSBL_TIMEOUT seconds (at most the interval):
 * what is still open then is an error, never a delisting.
 *
 * SECURITY: query names are built from our own addresses and the
 * configured zones only. Answers are untrusted: mta_dnsbl_rr.c checks
 * them; the reason text is printable ASCII, cut at
 * PROTO_DNSBL_TEXT_MAX, and escaped where it is logged.
 * LIMITS: MTA_DNSBL_ADDRS_MAX addresses, MTA_DNSBL_ZONES_MAX zones (the
 * rest is logged and left out), one check at a time (an admin's request
 * during a check gets that check's outcome; the queue sends at most
 * MTA_DNSBL_WAITERS at once).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "lib/resolver.h"
#include "mta/mta.h"
#include "mta/mta_dnsbl.h"
#include "policy/dnsbl.h"

#define MTA_DNSBL_TIMEOUT	20	/* seconds a check waits for answers */
#define DNS_TYPE_A		1
#define DNS_TYPE_TXT		16
#define DNS_RCODE_NXDOMAIN	3

/* one address on one zone */
struct dnsbl_q {
	struct dnsbl_check	*c;
	size_t			 addr, zone;
	int			 done;
	uint8_t			 status;	/* PROTO_DNSBL_* */
	char			 answer[PROTO_DNSBL_TEXT_MAX];
	char			 reason[PROTO_DNSBL_TEXT_MAX];
};

/* one round of lookups; owned by the watch */
struct dnsbl_check {
	struct mta_dnsbl	*w;
	struct resolver		*res;		/* owned: this check's own */
	int64_t			 started;
	char			 addrs[MTA_DNSBL_ADDRS_MAX][INET6_ADDRSTRLEN];
	size_t			 naddrs;
	const char		*zones[MTA_DNSBL_ZONES_MAX];	/* a copy */
	char			*zone_buf[MTA_DNSBL_ZONES_MAX];
	size_t			 nzones;
	struct dnsbl_q		*q;		/* naddrs * nzones */
	size_t			 nq;
	int			 pending;	/* queries out */
	uint64_t		 ids[MTA_DNSBL_WAITERS];	/* admins' */
	size_t			 nids;
	struct event		*deadline, *done;
};

struct mta_dnsbl {
	struct mta		*m;
	struct event		*timer;		/* the next periodic check */
	struct dnsbl_check	*cur;		/* NULL: none running */
	int			 said_none;	/* "nothing to check" logged */
};

static void check_finish(struct dnsbl_check *c);

/* the query name of a numeric address on zone; 0 or -1 */
static int
query_name(const char *addr, const char *zone, char *buf, size_t len)
{
	uint8_t a[16];

	if (cidr_addr_parse(addr, a) == -1)
		return -1;
	return dnsbl_query_name(a, zone, buf, len);
}

/*
 * the address outbound connections of family leave from: src when set,
 * else the kernel's choice for a public destination; 0 with out set, -1
 */
static int
own_addr(int family, const char *src, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, rc = -1;

	if (src[0] != '\0') {
		snprintf(out, len, "%s", src);
		return 0;
	}
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		(void)inet_pton(AF_INET, "9.9.9.9", &s4->sin_addr);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(53);
		(void)inet_pton(AF_INET6, "2620:fe::fe", &s6->sin6_addr);
		sl = sizeof(*s6);
	}
	/* a datagram socket's connect only picks the route: nothing is sent */
	if ((fd = socket(family, SOCK_DGRAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    getnameinfo((struct sockaddr *)&ss, sl, out, len, NULL, 0,
		    NI_NUMERICHOST) == 0)
			rc = 0;
	}
	close(fd);
	return rc;
}

/* the addresses to check: configured, or outbound's global ones */
static void
check_addrs(struct dnsbl_check *c, const struct conf *conf)
{
	char a[INET6_ADDRSTRLEN];

	if (conf->n_blacklist_addresses > 0) {
		for (size_t i = 0; i < conf->n_blacklist_addresses; i++) {
			if (c->naddrs == MTA_DNSBL_ADDRS_MAX) {
				log_warn(LOG_CAT_DNS, "event=blacklist_addresses "
				    "checked=%d ignored=%zu", MTA_DNSBL_ADDRS_MAX,
				    conf->n_blacklist_addresses - i);
				break;
			}
			snprintf(c->addrs[c->naddrs++], sizeof(c->addrs[0]),
			    "%s", conf->blacklist_addresses[i]);
		}
		return;
	}
	if (own_addr(AF_INET, conf->source_address_v4, a, sizeof(a)) == 0 &&
	    mta_dnsbl_addr_global(a) == 1)
		snprintf(c->addrs[c->naddrs++], sizeof(c->addrs[0]), "%s", a);
	if (own_addr(AF_INET6, conf->source_address_v6, a, sizeof(a)) == 0 &&
	    mta_dnsbl_addr_global(a) == 1)
		snprintf(c->addrs[c->naddrs++], sizeof(c->addrs[0]), "%s", a);
}

static void
check_free(struct dnsbl_check *c)
{
	if (c == NULL)
		return;
	resolver_free(c->res);		/* callbacks in flight never run */
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->done != NULL)
		event_free(c->done);
	for (size_t i = 0; i < c->nzones; i++)
		free(c->zone_buf[i]);
	free(c->q);
	free(c);
}

/* q has its outcome; the last one ends the check (out of ub_process) */
static void
q_done(struct dnsbl_q *q)
{
	q->done = 1;
	if (--q->c->pending == 0)
		event_active(q->c->done, EV_TIMEOUT, 0);
}

static void
q_error(struct dnsbl_q *q, const char *why)
{
	q->status = PROTO_DNSBL_ERROR;
	snprintf(q->answer, sizeof(q->answer), "%s", why);
}

static void txt_answer(void *arg, int err, struct ub_result *res);

/* the A answer: listed, clean or an error; a listing asks for its TXT */
static void
a_answer(void *arg, int err, struct ub_result *res)
{
	struct dnsbl_q *q = arg;
	struct dnsbl_check *c = q->c;
	char name[512], why[64];

	if (err != 0)
		q_error(q, ub_strerror(err));
	else if (res->havedata) {
		size_t n = 0;

		while (res->data[n] != NULL)
			n++;
		q->status = (uint8_t)mta_dnsbl_verdict(res->data, res->len, n,
		    q->answer, sizeof(q->answer));
	}
	else if (res->rcode == 0 || res->rcode == DNS_RCODE_NXDOMAIN)
		q->status = PROTO_DNSBL_CLEAN;
	else {
		snprintf(why, sizeof(why), "DNS rcode %d", res->rcode);
		q_error(q, why);
	}
	if (res != NULL)
		ub_resolve_free(res);
	if (q->status == PROTO_DNSBL_LISTED && query_name(
	    c->addrs[q->addr], c->zones[q->zone], name, sizeof(name)) == 0 &&
	    ub_resolve_async(resolver_ctx(c->res), name, DNS_TYPE_TXT, 1, q,
	    txt_answer, NULL) == 0)
		return;			/* q stays pending for its reason */
	q_done(q);
}

/* the TXT answer of a listing: its reason, when there is one */
static void
txt_answer(void *arg, int err, struct ub_result *res)
{
	struct dnsbl_q *q = arg;

	if (err == 0 && res->havedata)
		for (int i = 0; res->data[i] != NULL; i++)
			mta_dnsbl_txt((const uint8_t *)res->data[i],
			    (size_t)res->len[i], q->reason, sizeof(q->reason));
	if (res != NULL)
		ub_resolve_free(res);
	q_done(q);
}

static void
check_done_cb(evutil_socket_t fd, short what, void *arg)
{
	check_finish(arg);
}

/* the time is up: what has no answer is an error */
static void
check_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dnsbl_check *c = arg;
	char why[64];

	snprintf(why, sizeof(why), "no answer within %llds",
	    (long long)(time(NULL) - c->started));
	for (size_t i = 0; i < c->nq; i++)	/* a listing keeps its codes */
		if (!c->q[i].done && c->q[i].status != PROTO_DNSBL_LISTED)
			q_error(&c->q[i], why);
	check_finish(c);
}

/* one PROTO_DNSBL_RESULT of c's outcome, under id */
static void
check_send(struct dnsbl_check *c, uint64_t id)
{
	struct proto_dnsbl_item it;
	struct ipc_msg msg;
	struct mta *m = c->w->m;

	proto_dnsbl_result_enc(&msg, id, c->started, (uint32_t)c->nq);
	for (size_t i = 0; i < c->nq; i++) {
		it.address = c->addrs[c->q[i].addr];
		it.zone = c->zones[c->q[i].zone];
		it.status = c->q[i].status;
		it.answer = c->q[i].answer;
		it.reason = c->q[i].reason;
		proto_dnsbl_item_enc(&msg, &it);
	}
	if (m->queue != NULL)
		ipc_send(m->queue, &msg);
	else
		ipc_msg_discard(&msg);
}

/* the check is over: log, tell the queue (each admin waiting), free */
static void
check_finish(struct dnsbl_check *c)
{
	struct mta_dnsbl *w = c->w;
	char ans[PROTO_DNSBL_TEXT_MAX * 4];
	int listed = 0, errors = 0;

	for (size_t i = 0; i < c->nq; i++) {
		struct dnsbl_q *q = &c->q[i];

		if (q->status == PROTO_DNSBL_LISTED)
			listed++;
		else if (q->status == PROTO_DNSBL_ERROR) {
			errors++;
			log_info(LOG_CAT_DNS, "event=blacklist_error address=%s "
			    "list=%s error=\"%s\"", c->addrs[q->addr],
			    c->zones[q->zone], log_escape(ans, sizeof(ans),
			    q->answer, strlen(q->answer)));
		}
	}
	log_info(LOG_CAT_DNS, "event=blacklist_checked addresses=%zu "
	    "lists=%zu listed=%d errors=%d", c->naddrs, c->nzones, listed,
	    errors);
	if (c->nids == 0)
		check_send(c, 0);
	for (size_t i = 0; i < c->nids; i++)
		check_send(c, c->ids[i]);
	if (w->cur == c)
		w->cur = NULL;
	check_free(c);
}

/* start a check; id: an admin's request (0: the periodic one) */
static void
check_begin(struct mta_dnsbl *w, uint64_t id)
{
	const struct conf *conf = w->m->conf;
	struct dnsbl_check *c;
	struct timeval tv = { MTA_DNSBL_TIMEOUT, 0 };
	char err[256], name[512];

	if (w->cur != NULL) {		/* the running check answers it too */
		/* the queue has at most MTA_DNSBL_WAITERS checks out */
		if (id != 0 && w->cur->nids == MTA_DNSBL_WAITERS)
			fatalx("%s: more blacklist checks than the queue may "
			    "ask for", __func__);
		if (id != 0)
			w->cur->ids[w->cur->nids++] = id;
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("%s: calloc", __func__);
	c->w = w;
	c->started = time(NULL);
	if (id != 0)
		c->ids[c->nids++] = id;
	check_addrs(c, conf);
	for (size_t i = 0; i < conf->n_blacklist_zones &&
	    c->nzones < MTA_DNSBL_ZONES_MAX; i++) {
		if ((c->zone_buf[c->nzones] = strdup(
		    conf->blacklist_zones[i])) == NULL)
			fatal("%s: strdup", __func__);
		c->zones[c->nzones] = c->zone_buf[c->nzones];
		c->nzones++;
	}
	if (conf->n_blacklist_zones > c->nzones)
		log_warn(LOG_CAT_DNS, "event=blacklist_zones checked=%zu "
		    "ignored=%zu", c->nzones, conf->n_blacklist_zones -
		    c->nzones);
	if (c->naddrs == 0 || c->nzones == 0) {
		if (!w->said_none)
			log_notice(LOG_CAT_DNS, "event=blacklist_watch "
			    "addresses=%zu lists=%zu note=\"nothing to check: "
			    "no global outbound address (set "
			    "blacklist_addresses) or no blacklist_zones\"",
			    c->naddrs, c->nzones);
		w->said_none = 1;
		check_finish(c);
		return;
	}
	w->said_none = 0;
	c->nq = c->naddrs * c->nzones;
	if ((c->q = calloc(c->nq, sizeof(*c->q))) == NULL ||
	    (c->done = event_new(w->m->base, -1, 0, check_done_cb, c)) == NULL ||
	    (c->deadline = evtimer_new(w->m->base, check_deadline_cb,
	    c)) == NULL)
		fatal("%s: calloc", __func__);
	for (size_t i = 0; i < c->nq; i++) {
		c->q[i].c = c;
		c->q[i].addr = i / c->nzones;
		c->q[i].zone = i % c->nzones;
	}
	w->cur = c;
	if ((c->res = resolver_new("blacklist", conf->dns_server,
	    RESOLVER_ROOT_FALLBACK, err, sizeof(err))) == NULL ||
	    resolver_attach(c->res, w->m->base) == -1) {
		if (c->res != NULL)
			snprintf(err, sizeof(err), "cannot watch the resolver");
		for (size_t i = 0; i < c->nq; i++)
			q_error(&c->q[i], err);
		check_finish(c);
		return;
	}
	if (conf->blacklist_interval < tv.tv_sec)
		tv.tv_sec = conf->blacklist_interval;
	evtimer_add(c->deadline, &tv);
	c->pending = (int)c->nq + 1;	/* held until every query is out */
	for (size_t i = 0; i < c->nq; i++) {
		struct dnsbl_q *q = &c->q[i];
		int rc;

		if (query_name(c->addrs[q->addr], c->zones[q->zone],
		    name, sizeof(name)) == -1) {
			q_error(q, "query name too long");
			q_done(q);
			continue;
		}
		if ((rc = ub_resolve_async(resolver_ctx(c->res), name,
		    DNS_TYPE_A, 1, q, a_answer, NULL)) != 0) {
			q_error(q, ub_strerror(rc));
			q_done(q);
		}
	}
	if (--c->pending == 0)		/* the hold above */
		event_active(c->done, EV_TIMEOUT, 0);
}

static void
dnsbl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta_dnsbl *w = arg;
	struct timeval tv = { w->m->conf->blacklist_interval, 0 };

	evtimer_add(w->timer, &tv);
	if (w->m->conf->blacklist_watch && !w->m->stopping)
		check_begin(w, 0);
}

/* mta_dnsbl_start - the first check at once, then by the interval */
void
mta_dnsbl_start(struct mta *m)
{
	struct mta_dnsbl *w;
	struct timeval now = { 0, 0 };

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s: calloc", __func__);
	w->m = m;
	if ((w->timer = evtimer_new(m->base, dnsbl_timer_cb, w)) == NULL)
		fatal("%s: evtimer_new", __func__);
	m->dnsbl = w;
	evtimer_add(w->timer, &now);
	if (!m->conf->blacklist_watch)
		log_info(LOG_CAT_DNS, "event=blacklist_watch state=off");
}

/* mta_dnsbl_reconf - after a reload: a check now, then by the interval */
void
mta_dnsbl_reconf(struct mta *m)
{
	struct timeval now = { 0, 0 };

	if (m->dnsbl != NULL)
		evtimer_add(m->dnsbl->timer, &now);
}

/* mta_dnsbl_check_now - an admin's check; the answer carries id */
void
mta_dnsbl_check_now(struct mta *m, uint64_t id)
{
	if (m->dnsbl != NULL && id != 0)
		check_begin(m->dnsbl, id);
}

/* mta_dnsbl_free - a check in flight is dropped unanswered */
void
mta_dnsbl_free(struct mta *m)
{
	struct mta_dnsbl *w = m->dnsbl;

	if (w == NULL)
		return;
	check_free(w->cur);
	event_free(w->timer);
	free(w);
	m->dnsbl = NULL;
}
