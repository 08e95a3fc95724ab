/*
 * mta_proc.c - the mta process: outbound delivery.
 *
 * The queue process hands over jobs (PROTO_MTA_DELIVER: one message,
 * the recipients of one domain) and gets one PROTO_MTA_RESULT per job
 * back, with an outcome per recipient. In between, jobs wait in the
 * destination queue (struct mta_dq) of their domain: the domain is
 * routed (a static route, the smarthost, or MX), resolved once into
 * hops, and served by up to max_connections_per_dest sessions
 * (max_connections in all), each carrying jobs one after another.
 *
 * Sessions are never freed inside their callbacks: mta_session_gone
 * moves them to a dead list that the reaper drains at the end of the
 * loop turn; the reaper then also fails the jobs of destinations that
 * no session could reach, frees idle destinations, and opens sessions
 * for waiting jobs where limits allow.
 *
 * Public: mta_proc_prepare, mta_proc_main, mta_job_finish, mta_dq_run, mta_dq_resolved,
 * mta_dq_fail_jobs, mta_session_gone.
 *
 * Why no chroot (procs[] in parent.c): libunbound reads
 * /etc/resolv.conf (dns_server empty) and OpenSSL loads the system CA
 * store lazily at verification time; both are files outside an empty
 * chroot, and priv_drop runs before this main. The process still runs
 * as the unprivileged user; its secrets, the smarthost credentials and
 * the client certificate's key, are read as root by mta_proc_prepare
 * before the drop.
 *
 * SECURITY: jobs come from the queue process (a sibling): a frame that
 * does not parse exactly is fatal. Everything a peer sends is handled in
 * mta_session.c; peer text is escaped before it is logged here. Mail
 * from the null sender is never sent to MX hosts at internal addresses
 * (mta_dq_refuse_internal): its destination is an outsider's choice.
 * LIMITS: max_connections, max_connections_per_dest; a string field at
 * most PROTO_STR_MAX bytes.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "daemon/config.h"
#include "daemon/proc.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "control/control_log.h"
#include "lib/log.h"
#include "mta/mta.h"
#include "mta/mta_cert.h"
#include "mta/mta_dnsbl.h"

#define MTA_STOP_SECS	10	/* busy sessions get this long at exit */

static void mta_reaper_cb(evutil_socket_t, short, void *);

static char *
mta_strdup(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		fatal("%s: strdup", __func__);
	return d;
}

static void
mta_job_free(struct mta_job *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nrcpt; i++) {
		free(j->rcpt[i].address);
		free(j->rcpt[i].orcpt);
	}
	free(j->rcpt);
	free(j->sender);
	free(j->envid);
	free(j->data);
	free(j);
}

/* mta_job_finish - log every recipient, answer the queue, free j */
void
mta_job_finish(struct mta *m, struct mta_job *j, const char *relay,
    const char *tls_desc)
{
	struct proto_result_rcpt rr;
	struct ipc_msg msg;
	char to[600], rep[MTA_REPLY_MAX * 4 + 8];
	long long delay = (long long)(time(NULL) - j->created);

	proto_result_enc(&msg, j->id, (uint32_t)j->nrcpt);
	for (size_t i = 0; i < j->nrcpt; i++) {
		struct mta_jrcpt *r = &j->rcpt[i];
		const char *status;
		int code;

		if (!r->done) {
			r->result = PROTO_MTA_TEMPFAIL;
			snprintf(r->reply, sizeof(r->reply), "451 4.3.0 not "
			    "attempted");
		}
		status = r->result == PROTO_MTA_OK ? "sent" :
		    r->result == PROTO_MTA_PERMFAIL ? "bounced" : "deferred";
		code = atoi(r->reply);
		log_event(LOG_CAT_DELIVERY, r->result == PROTO_MTA_OK ?
		    LOG_LVL_INFO : LOG_LVL_NOTICE, "qid=%s to=<%s> relay=%s "
		    "tls=\"%s\" delay=%llds status=%s code=%d reply=\"%s\"",
		    j->qid, log_escape_bare(to, sizeof(to), r->address,
		    strlen(r->address)), relay != NULL && relay[0] ? relay :
		    "none", tls_desc != NULL && tls_desc[0] ? tls_desc : "none",
		    delay, status, code,
		    log_escape(rep, sizeof(rep), r->reply, strlen(r->reply)));
		rr.id = r->id;
		rr.result = r->result;
		rr.reply = r->reply;
		rr.relay = relay != NULL ? relay : "";
		proto_result_rcpt_enc(&msg, &rr);
	}
	if (m->queue != NULL)
		ipc_send(m->queue, &msg);
	else
		ipc_msg_discard(&msg);
	mta_job_free(j);
}

/* mta_dq_fail_jobs - every waiting job of d gets this reply */
void
mta_dq_fail_jobs(struct mta_dq *d, uint8_t result, const char *reply)
{
	struct mta_job *j;

	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		for (size_t i = 0; i < j->nrcpt; i++) {
			j->rcpt[i].done = 1;
			j->rcpt[i].result = result;
			snprintf(j->rcpt[i].reply, sizeof(j->rcpt[i].reply), "%s",
			    reply);
		}
		mta_job_finish(d->mta, j, "", "");
	}
}

static struct mta_dq *
mta_dq_get(struct mta *m, const char *domain)
{
	struct mta_dq *d;

	TAILQ_FOREACH(d, &m->dqs, entry)
		if (!d->retired && strcmp(d->key, domain) == 0)
			return d;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("%s: calloc", __func__);
	d->mta = m;
	snprintf(d->key, sizeof(d->key), "%s", domain);
	d->kind = mta_route_decide(m->routes, m->nroutes,
	    m->have_smarthost ? &m->smarthost : NULL, domain, &d->route);
	d->state = MTA_DEST_NEW;
	TAILQ_INIT(&d->jobs);
	TAILQ_INSERT_TAIL(&m->dqs, d, entry);
	log_debug(LOG_CAT_DELIVERY, "event=destination domain=%s route=%s "
	    "host=%s port=%d lmtp=%d hosts=%zu", domain,
	    d->kind == MTA_ROUTE_STATIC ? "static" :
	    d->kind == MTA_ROUTE_SMARTHOST ? "smarthost" : "mx",
	    d->route.v[0].host, d->route.v[0].port, d->route.v[0].lmtp,
	    d->route.n);
	return d;
}

static void
mta_dq_free(struct mta_dq *d)
{
	struct mta_job *j;

	while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
		TAILQ_REMOVE(&d->jobs, j, entry);
		mta_job_free(j);
	}
	free(d->res);
	free(d);
}

/* mta_dq_resolved - d's DNS is done: go on with its jobs */
void
mta_dq_resolved(struct mta_dq *d)
{
	event_active(d->mta->reaper, EV_TIMEOUT, 0);
}

/*
 * Mail from the null sender (bounces, delay notices) goes where the
 * recipient's domain says, and an outsider chooses that domain: an MX
 * at an internal address would let anyone send text of their choosing
 * into the inside network. Such jobs fail (a dead letter); a routed
 * domain is the administrator's choice and is not checked.
 */
static void
mta_dq_refuse_internal(struct mta_dq *d)
{
	struct mta_job *j, *tmp;
	char dom[MTA_HOST_MAX * 4];

	if (d->kind != MTA_ROUTE_MX || d->ninternal == 0)
		return;
	for (j = TAILQ_FIRST(&d->jobs); j != NULL; j = tmp) {
		tmp = TAILQ_NEXT(j, entry);
		if (j->sender[0] != '\0')
			continue;
		TAILQ_REMOVE(&d->jobs, j, entry);
		d->njobs--;
		log_notice(LOG_CAT_DELIVERY, "qid=%s event=internal_refused "
		    "domain=%s internal_hops=%d", j->qid, log_escape(dom,
		    sizeof(dom), d->key, strlen(d->key)), d->ninternal);
		for (size_t i = 0; i < j->nrcpt; i++) {
			j->rcpt[i].done = 1;
			j->rcpt[i].result = PROTO_MTA_PERMFAIL;
			snprintf(j->rcpt[i].reply, sizeof(j->rcpt[i].reply),
			    "550 5.7.1 the mail hosts of this domain are at "
			    "internal addresses: mail from <> is not sent there");
		}
		mta_job_finish(d->mta, j, "", "");
	}
}

/* mta_dq_run - resolve d, fail its jobs, or hand them to sessions */
void
mta_dq_run(struct mta_dq *d)
{
	struct mta *m = d->mta;
	struct mta_session *s, *tmp;
	int64_t now = time(NULL);
	int limit = mta_dest_limit(m->conf->max_connections,
	    m->conf->max_connections_per_dest);

	d->slot_wait = 0;
	if (d->njobs == 0 || m->stopping)
		return;
	if (now < d->down_until) {
		/* nothing answered a moment ago: no connection per message */
		mta_dq_fail_jobs(d, PROTO_MTA_TEMPFAIL, d->last_error);
		return;
	}
	if (d->state == MTA_DEST_NEW || (d->state == MTA_DEST_READY &&
	    d->nsess == 0 && now - d->resolved_at > MTA_DEST_TTL)) {
		mta_dns_resolve(d);
		return;
	}
	if (d->state != MTA_DEST_READY)
		return;
	if (d->error[0] != '\0') {
		mta_dq_fail_jobs(d, d->error_result, d->error);
		d->state = MTA_DEST_NEW;	/* look again next time */
		return;
	}
	mta_dq_refuse_internal(d);
	/* idle sessions first */
	for (s = TAILQ_FIRST(&m->sessions); s != NULL && d->njobs > 0; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		if (s->dq == d && s->state == MTA_STATE_READY && s->job == NULL)
			mta_session_kick(s);
	}
	if (now < d->next_connect)
		return;			/* a connection failed: backoff */
	d->failed_conn = 0;
	while (d->njobs > (size_t)d->nconnecting && d->nsess < limit &&
	    !d->failed_conn) {
		/* until one connection of d has been greeted, it is the only
		 * one: a destination that is down costs one attempt per
		 * host, not one per waiting job (mta_ready opens the rest) */
		if (d->nconnecting > 0 && d->nconnecting == d->nsess)
			break;
		if (m->nsess >= m->conf->max_connections) {
			d->slot_wait = 1;
			break;
		}
		(void)mta_session_new(d);
	}
}

/* mta_session_gone - take s out of service; freed by the reaper */
void
mta_session_gone(struct mta_session *s)
{
	struct mta *m = s->mta;
	struct mta_dq *d = s->dq;

	if (s->state < MTA_STATE_READY) {
		d->nconnecting--;
		d->failed_conn = 1;
	}
	s->state = MTA_STATE_DEAD;
	d->nsess--;
	m->nsess--;
	TAILQ_REMOVE(&m->sessions, s, entry);
	TAILQ_INSERT_TAIL(&m->dead, s, entry);
	event_active(m->reaper, EV_TIMEOUT, 0);
}

/*
 * Nothing of d could be reached: for a while (retry_min, at most
 * MTA_DEST_DOWN_MAX seconds) its new jobs are deferred at once with the
 * same reply, instead of a DNS lookup and a connection attempt for each
 * message while an internal server is down.
 */
static void
mta_dq_down(struct mta_dq *d, int64_t now)
{
	int64_t secs = d->mta->conf->retry_min;
	char dom[MTA_HOST_MAX * 4], esc[MTA_REPLY_MAX * 4];

	if (secs > MTA_DEST_DOWN_MAX)
		secs = MTA_DEST_DOWN_MAX;
	d->down_until = now + secs;
	log_notice(LOG_CAT_DELIVERY, "event=destination_down domain=%s "
	    "seconds=%lld reply=\"%s\"",
	    log_escape(dom, sizeof(dom), d->key, strlen(d->key)),
	    (long long)secs,
	    log_escape(esc, sizeof(esc), d->last_error, strlen(d->last_error)));
}

/* sessions of d that can carry a job: greeted, not quitting */
static int
mta_dq_working(struct mta_dq *d)
{
	struct mta_session *s;
	int n = 0;

	TAILQ_FOREACH(s, &d->mta->sessions, entry)
		if (s->dq == d && s->state >= MTA_STATE_READY &&
		    s->state < MTA_STATE_QUIT)
			n++;
	return n;
}

/*
 * A connection of d failed before its greeting while jobs wait. When
 * other sessions of d are working, they carry the jobs and new
 * connections wait, longer after each failure. When none is, d is down:
 * its jobs are deferred (an attempt recorded), never retried in a loop.
 */
static void
mta_dq_conn_failed(struct mta_dq *d, int64_t now)
{
	char dom[MTA_HOST_MAX * 4];

	d->failed_conn = 0;
	if (mta_dq_working(d) > 0) {
		d->conn_backoff = d->conn_backoff == 0 ? 1 :
		    d->conn_backoff * 2 > MTA_DEST_DOWN_MAX ? MTA_DEST_DOWN_MAX :
		    d->conn_backoff * 2;
		d->next_connect = now + d->conn_backoff;
		log_info(LOG_CAT_DELIVERY, "event=connect_backoff domain=%s "
		    "seconds=%d", log_escape(dom, sizeof(dom), d->key,
		    strlen(d->key)), d->conn_backoff);
		return;
	}
	if (d->last_error[0] == '\0')
		snprintf(d->last_error, sizeof(d->last_error),
		    "451 4.4.1 no host could be reached");
	if (d->error_result != PROTO_MTA_PERMFAIL)
		mta_dq_down(d, now);
	mta_dq_fail_jobs(d, d->error_result == PROTO_MTA_PERMFAIL ?
	    PROTO_MTA_PERMFAIL : PROTO_MTA_TEMPFAIL, d->last_error);
	d->error_result = 0;
	d->state = MTA_DEST_NEW;
}

/* d's connection failures, then its jobs to sessions */
static void
mta_dq_tend(struct mta_dq *d, int64_t now)
{
	if (d->failed_conn && d->njobs > 0)
		mta_dq_conn_failed(d, now);
	if (!d->mta->stopping)
		mta_dq_run(d);
}

/*
 * Slots go round: destinations without a session are served first, one
 * that gets a slot goes to the back of the list; while any of them waits
 * for a slot, idle sessions quit at once (and busy ones of destinations
 * with several quit after their message, mta_session.c), so a free slot
 * reaches it within one transaction.
 */
static void
mta_share_slots(struct mta *m, int64_t now)
{
	struct mta_dq *d, *tmp, *last = TAILQ_LAST(&m->dqs, mta_dq_list);
	struct mta_session *s, *stmp;

	m->starving = 0;
	for (d = TAILQ_FIRST(&m->dqs); d != NULL; d = tmp) {
		tmp = d == last ? NULL : TAILQ_NEXT(d, entry);
		if (d->nsess != 0)
			continue;
		mta_dq_tend(d, now);
		if (d->nsess > 0) {
			TAILQ_REMOVE(&m->dqs, d, entry);
			TAILQ_INSERT_TAIL(&m->dqs, d, entry);
		} else if (d->slot_wait)
			m->starving++;
	}
	if (m->starving == 0)
		return;
	for (s = TAILQ_FIRST(&m->sessions); s != NULL; s = stmp) {
		stmp = TAILQ_NEXT(s, entry);
		if (s->state == MTA_STATE_READY && s->job == NULL)
			mta_session_stop(s);
	}
}

/*
 * The end of a loop turn: free dead sessions; share the slots; defer
 * the jobs of destinations nothing could reach; run every destination;
 * free idle ones; leave when stopping and nothing is left.
 */
static void
mta_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;
	struct mta_session *s;
	struct mta_dq *d, *tmp;
	int64_t now = time(NULL);

	while ((s = TAILQ_FIRST(&m->dead)) != NULL) {
		TAILQ_REMOVE(&m->dead, s, entry);
		mta_session_free(s);
	}
	mta_share_slots(m, now);
	for (d = TAILQ_FIRST(&m->dqs); d != NULL; d = tmp) {
		tmp = TAILQ_NEXT(d, entry);
		mta_dq_tend(d, now);
		if (d->nsess == 0 && d->njobs == 0 && d->pending == 0 &&
		    d->state != MTA_DEST_RESOLVING &&
		    (now >= d->down_until || m->stopping || d->retired) &&
		    (d->state == MTA_DEST_NEW || m->stopping || d->retired ||
		    now - d->resolved_at > MTA_DEST_TTL)) {
			TAILQ_REMOVE(&m->dqs, d, entry);
			mta_dq_free(d);
		}
	}
	if (m->stopping && m->nsess == 0)
		event_base_loopexit(m->base, NULL);
}

/* a second: connection backoffs end, waiting jobs get their turn */
static void
mta_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;

	if (!TAILQ_EMPTY(&m->dqs))
		event_active(m->reaper, EV_TIMEOUT, 0);
}

/* PROTO_MTA_DELIVER: a job for the queue of its domain */
static void
mta_deliver_recv(struct mta *m, uint64_t id, struct ipc_reader *r)
{
	struct proto_deliver h;
	struct proto_deliver_rcpt rc;
	struct mta_job *j;
	struct mta_dq *d;
	const uint8_t *data;
	uint32_t n;
	size_t len;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("%s: calloc", __func__);
	j->id = id;
	/* a count of recipients the frame cannot hold lies */
	if (proto_deliver_dec(r, &h) == -1)
		fatalx("%s: malformed job from queue (%" PRIu32 " recipients)",
		    __func__, h.nrcpt);
	snprintf(j->qid, sizeof(j->qid), "%s", h.qid);
	j->created = h.created;
	j->sender = mta_strdup(h.sender);
	j->envid = mta_strdup(h.envid);
	j->ret = h.ret;
	j->flags = h.flags;
	snprintf(j->domain, sizeof(j->domain), "%s", h.domain);
	n = h.nrcpt;
	if ((j->rcpt = calloc(n, sizeof(*j->rcpt))) == NULL)
		fatal("%s: calloc", __func__);
	for (uint32_t i = 0; i < n; i++) {
		(void)proto_deliver_rcpt_dec(r, &rc);	/* checked at the end */
		j->rcpt[i].id = rc.id;
		j->rcpt[i].address = mta_strdup(rc.address);
		j->rcpt[i].orcpt = mta_strdup(rc.orcpt);
		j->rcpt[i].notify = rc.notify;
		j->nrcpt++;
	}
	if (proto_body_dec(r, &data, &len) != 0 || j->domain[0] == '\0')
		fatalx("%s: malformed job from queue", __func__);
	if ((j->data = malloc(len ? len : 1)) == NULL)
		fatal("%s: malloc", __func__);
	memcpy(j->data, data, len);
	j->len = len;

	if (m->stopping) {	/* never attempted: the queue keeps it as is */
		mta_job_free(j);
		return;
	}
	d = mta_dq_get(m, j->domain);
	TAILQ_INSERT_TAIL(&d->jobs, j, entry);
	d->njobs++;
	mta_dq_run(d);
	if (d->slot_wait)	/* idle sessions elsewhere give way */
		event_active(m->reaper, EV_TIMEOUT, 0);
}

static void
mta_stop(struct mta *m)
{
	struct mta_session *s, *tmp;
	struct mta_dq *d;
	struct timeval tv = { MTA_STOP_SECS, 0 };

	if (m->stopping)
		return;
	m->stopping = 1;
	log_notice(LOG_CAT_DELIVERY, "event=stopping sessions=%d", m->nsess);
	/* jobs never attempted are dropped: the queue still has them */
	TAILQ_FOREACH(d, &m->dqs, entry) {
		struct mta_job *j;

		while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
			TAILQ_REMOVE(&d->jobs, j, entry);
			d->njobs--;
			mta_job_free(j);
		}
	}
	for (s = TAILQ_FIRST(&m->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		mta_session_stop(s);
	}
	evtimer_add(m->stop_timer, &tv);
	event_active(m->reaper, EV_TIMEOUT, 0);
}

static void
mta_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mta *m = arg;

	log_warn(LOG_CAT_DELIVERY, "event=stop_timeout sessions=%d", m->nsess);
	event_base_loopexit(m->base, NULL);
}

static void
mta_queue_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct mta *m = arg;

	if (type == PROTO_DNSBL_CHECK) {	/* moat blacklist check */
		if (proto_empty_dec(r) != 0 || id == 0)
			fatalx("%s: malformed blacklist check", __func__);
		mta_dnsbl_check_now(m, id);
		return;
	}
	if (type != PROTO_MTA_DELIVER)
		fatalx("%s: unexpected message %u from queue", __func__, type);
	mta_deliver_recv(m, id, r);
}

/* The routing part of a configuration, parsed. */
struct mta_routing {
	struct mta_route	*routes;
	size_t			 nroutes;
	struct mta_hosts	 smarthost;
	int			 have_smarthost;
	enum mta_tls		 tls_default;
	int			 addr_pref;
};

static struct mta_routing *
mta_routing_new(const struct conf *c, char *err, size_t errlen)
{
	struct mta_routing *rt;
	const char *why;
	size_t bad;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		fatal("%s: calloc", __func__);
	if (mta_routes_parse(c->routes, c->n_routes, &rt->routes, &bad,
	    &why) == -1) {
		snprintf(err, errlen, "route %s: %s", c->n_routes > 0 ?
		    c->routes[bad] : "", why);
		goto fail;
	}
	rt->nroutes = c->n_routes;
	if (c->smarthost[0] != '\0') {
		if (mta_hosts_parse(c->smarthost, &rt->smarthost, &why) == -1) {
			snprintf(err, errlen, "smarthost: %s", why);
			goto fail;
		}
		rt->have_smarthost = 1;
	}
	rt->tls_default = strcmp(c->tls, "none") == 0 ? MTA_TLS_NONE :
	    strcmp(c->tls, "verify") == 0 ? MTA_TLS_VERIFY :
	    MTA_TLS_OPPORTUNISTIC;
	rt->addr_pref = strcmp(c->address_preference, "ipv6") == 0 ? AF_INET6 :
	    strcmp(c->address_preference, "ipv4") == 0 ? AF_INET : AF_UNSPEC;
	return rt;
fail:
	free(rt->routes);
	free(rt);
	return NULL;
}

/* m routes by rt from now on; rt is used up */
static void
mta_routing_set(struct mta *m, struct mta_routing *rt)
{
	free(m->routes);
	m->routes = rt->routes;
	m->nroutes = rt->nroutes;
	m->smarthost = rt->smarthost;
	m->have_smarthost = rt->have_smarthost;
	m->tls_default = rt->tls_default;
	m->addr_pref = rt->addr_pref;
	free(rt);
}

/*
 * PROTO_RELOAD: routes, smarthost, outbound TLS, connection limits,
 * timeouts and the EHLO name change at once. A destination now routed
 * elsewhere is retired: its waiting jobs move to a new one, its idle
 * sessions quit, a busy one finishes its message first. The resolver
 * (dns_server) and the smarthost credentials, read as root at start,
 * stay until a restart.
 */
static void
mta_reload(struct mta *m, const uint8_t *text, size_t len, const char *path)
{
	struct mta_routing *rt;
	struct mta_dq *d, *nd, *tmp;
	struct mta_session *s, *stmp;
	struct mta_job *j;
	struct conf *nc;
	char err[512];
	int moved = 0;

	if ((nc = conf_load_bytes(text, len, path, err, sizeof(err))) == NULL ||
	    (rt = mta_routing_new(nc, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DELIVERY, "event=reload_failed error=\"%s\"",
		    err);
		proto_ready_send(m->parent, PROTO_READY_RELOAD, 0, err);
		conf_free(nc);
		return;
	}
	if (strcmp(nc->dns_server, m->conf->dns_server) != 0 ||
	    strcmp(nc->smarthost_auth_file, m->conf->smarthost_auth_file) != 0 ||
	    strcmp(nc->tls_ca_file, m->conf->tls_ca_file) != 0 ||
	    strcmp(nc->tls_client_cert, m->conf->tls_client_cert) != 0 ||
	    strcmp(nc->tls_client_key, m->conf->tls_client_key) != 0)
		log_warn(LOG_CAT_DELIVERY, "event=reload note=\"dns_server, "
		    "smarthost_auth_file, tls_ca_file, tls_client_cert and "
		    "tls_client_key changes need a restart; the old ones "
		    "stay\"");
	snprintf(nc->tls_client_cert, sizeof(nc->tls_client_cert), "%s",
	    m->conf->tls_client_cert);
	snprintf(nc->tls_client_key, sizeof(nc->tls_client_key), "%s",
	    m->conf->tls_client_key);
	snprintf(nc->tls_ca_file, sizeof(nc->tls_ca_file), "%s",
	    m->conf->tls_ca_file);
	snprintf(nc->dns_server, sizeof(nc->dns_server), "%s",
	    m->conf->dns_server);
	snprintf(nc->smarthost_auth_file, sizeof(nc->smarthost_auth_file),
	    "%s", m->conf->smarthost_auth_file);
	mta_routing_set(m, rt);
	conf_apply_log_levels(nc);
	conf_free(m->conf);
	m->conf = nc;

	for (d = TAILQ_FIRST(&m->dqs); d != NULL; d = tmp) {
		struct mta_hosts route;
		enum mta_route_kind kind;

		tmp = TAILQ_NEXT(d, entry);
		if (d->retired)
			continue;
		kind = mta_route_decide(m->routes, m->nroutes,
		    m->have_smarthost ? &m->smarthost : NULL, d->key, &route);
		if (kind == d->kind && mta_hosts_same(&route, &d->route))
			continue;
		d->retired = 1;
		nd = mta_dq_get(m, d->key);	/* at the tail: not seen again */
		while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
			TAILQ_REMOVE(&d->jobs, j, entry);
			d->njobs--;
			TAILQ_INSERT_TAIL(&nd->jobs, j, entry);
			nd->njobs++;
		}
		for (s = TAILQ_FIRST(&m->sessions); s != NULL; s = stmp) {
			stmp = TAILQ_NEXT(s, entry);
			if (s->dq == d)
				mta_session_stop(s);
		}
		moved++;
	}
	event_active(m->reaper, EV_TIMEOUT, 0);
	mta_dnsbl_reconf(m);
	log_notice(LOG_CAT_DELIVERY, "event=reloaded routes=%zu smarthost=%s "
	    "tls=%s destinations_rerouted=%d", m->nroutes, m->have_smarthost ?
	    m->conf->smarthost : "none", m->conf->tls, moved);
	proto_ready_send(m->parent, PROTO_READY_RELOAD, 1, NULL);
}

static void
mta_parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct mta *m = arg;
	struct proto_reload rl;

	switch (type) {
	case PROTO_SHUTDOWN:
		if (proto_empty_dec(r) != 0)
			fatalx("%s: malformed shutdown", __func__);
		mta_stop(m);
		break;
	case PROTO_LOG_LEVEL:		/* moat log CAT LEVEL */
		if (control_log_apply(r) == -1)
			fatalx("%s: bad LOG_LEVEL", __func__);
		break;
	case PROTO_RELOAD:
		if (proto_reload_dec(r, &rl) != 0)
			fatalx("%s: malformed reload", __func__);
		mta_reload(m, rl.text, rl.len, rl.path);
		break;
	default:
		fatalx("%s: unexpected message %u from parent", __func__, type);
	}
}

static void
mta_close_cb(struct ipc_peer *p, void *arg)
{
	struct mta *m = arg;

	if (p == m->queue)
		m->queue = NULL;	/* freed after the loop */
	if (!m->stopping)
		log_notice(LOG_CAT_DELIVERY, "event=peer_closed peer=%s",
		    ipc_peer_name(p));
	event_base_loopexit(m->base, NULL);
}

/* the client context: tls_ca_file's CAs, or the system store */
static SSL_CTX *
mta_tls_ctx(const struct conf *c)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("%s: SSL_CTX_new", __func__);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (c->tls_ca_file[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->tls_ca_file,
		    NULL) != 1) {
			log_err(LOG_CAT_TLS, "event=ca_file_failed path=%s",
			    c->tls_ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warn(LOG_CAT_TLS, "event=no_ca_store note=\"tls = verify "
		    "will fail\"");
	return ctx;
}

/* what mta_proc_prepare read as root, for mta_proc_main */
struct mta_secrets {
	struct mta_auth	*auth;		/* NULL: no smarthost_auth_file */
	struct mta_cert	*cert;		/* NULL: no tls_client_cert */
};

/*
 * mta_proc_prepare - still root, before priv_drop: read the smarthost
 * credentials (the file may be root's, mode 0600) and the client
 * certificate with its key. A file that is missing, too open or
 * malformed stops the daemon: mail must not go out without the AUTH or
 * the certificate the administrator asked for.
 */
int
mta_proc_prepare(struct proc_env *env)
{
	const struct conf *c = env->conf;
	struct mta_secrets *sec;
	char err[CONF_PATH_MAX + 256], subj[256], esc[1024];

	if (c->smarthost_auth_file[0] == '\0' && c->tls_client_cert[0] == '\0')
		return 0;
	if ((sec = calloc(1, sizeof(*sec))) == NULL)
		fatal("%s: calloc", __func__);
	if (c->smarthost_auth_file[0] != '\0') {
		if ((sec->auth = mta_auth_load(c->smarthost_auth_file, err,
		    sizeof(err))) == NULL) {
			log_err(LOG_CAT_DELIVERY, "event=auth_file_refused "
			    "error=\"%s\"", err);
			goto fail;
		}
		log_info(LOG_CAT_DELIVERY, "event=auth_file path=%s entries=%zu",
		    c->smarthost_auth_file, sec->auth->n);
	}
	if (c->tls_client_cert[0] != '\0') {
		if ((sec->cert = mta_cert_load(c->tls_client_cert,
		    c->tls_client_key, err, sizeof(err))) == NULL) {
			log_err(LOG_CAT_TLS, "event=client_cert_refused "
			    "error=\"%s\"", log_escape(esc, sizeof(esc), err,
			    strlen(err)));
			goto fail;
		}
		mta_cert_subject(sec->cert, subj, sizeof(subj));
		log_info(LOG_CAT_TLS, "event=client_cert path=%s subject=\"%s\"",
		    c->tls_client_cert, log_escape(esc, sizeof(esc), subj,
		    strlen(subj)));
	}
	env->prepared = sec;
	return 0;
fail:
	mta_auth_free(sec->auth);
	free(sec);
	return -1;
}

/* mta_proc_main - run the mta process until told to stop */
int
mta_proc_main(struct proc_env *env)
{
	struct mta *m;
	struct ipc_peer *queue;
	struct mta_dq *d;
	struct mta_session *s;
	struct mta_routing *rt;
	struct mta_secrets *sec;
	struct mta_cert *cert = NULL;
	struct timeval tick = { 1, 0 };
	char err[512];

	log_set_proc("mta");
	signal(SIGPIPE, SIG_IGN);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("%s: calloc", __func__);
	m->conf = env->conf;
	m->base = env->base;
	if ((sec = env->prepared) != NULL) {	/* mta_proc_prepare's */
		m->auth = sec->auth;
		cert = sec->cert;
		free(sec);
		env->prepared = NULL;
	}
	TAILQ_INIT(&m->dqs);
	TAILQ_INIT(&m->sessions);
	TAILQ_INIT(&m->dead);
	if ((rt = mta_routing_new(m->conf, err, sizeof(err))) == NULL)
		fatalx("%s: %s", __func__, err);
	mta_routing_set(m, rt);
	if ((m->tls = mta_tls_ctx(m->conf)) == NULL) {
		mta_cert_free(cert);
		return -1;
	}
	if (cert != NULL && mta_cert_use(cert, m->tls, err, sizeof(err)) == -1) {
		log_err(LOG_CAT_TLS, "event=client_cert_refused error=\"%s\"",
		    err);
		mta_cert_free(cert);
		return -1;
	}
	mta_cert_free(cert);	/* the context holds its own references */
	if (mta_dns_init(m, err, sizeof(err)) == -1) {
		log_err(LOG_CAT_DNS, "event=init_failed error=\"%s\"", err);
		return -1;
	}
	if ((m->reaper = event_new(m->base, -1, 0, mta_reaper_cb, m)) == NULL ||
	    (m->tick = event_new(m->base, -1, EV_PERSIST, mta_tick_cb,
	    m)) == NULL ||
	    (m->stop_timer = evtimer_new(m->base, mta_stop_timer_cb, m)) == NULL)
		fatal("%s: event_new", __func__);
	evtimer_add(m->tick, &tick);
	mta_dnsbl_start(m);
	m->parent = ipc_peer_new(m->base, env->peer[PROC_PARENT], "parent",
	    mta_parent_msg_cb, mta_close_cb, m);
	m->queue = queue = ipc_peer_new(m->base, env->peer[PROC_QUEUE], "queue",
	    mta_queue_msg_cb, mta_close_cb, m);
	log_notice(LOG_CAT_DELIVERY, "event=started routes=%zu smarthost=%s "
	    "tls=%s dns=%s", m->nroutes, m->have_smarthost ?
	    m->conf->smarthost : "none", m->conf->tls,
	    m->conf->dns_server[0] ? m->conf->dns_server : "resolv.conf");
	proto_ready_send(m->parent, PROTO_READY_START, 1, NULL);

	event_base_dispatch(m->base);

	while ((s = TAILQ_FIRST(&m->sessions)) != NULL) {
		TAILQ_REMOVE(&m->sessions, s, entry);
		if (s->job != NULL)
			mta_job_free(s->job);	/* no result: redelivered */
		mta_session_free(s);
	}
	while ((s = TAILQ_FIRST(&m->dead)) != NULL) {
		TAILQ_REMOVE(&m->dead, s, entry);
		mta_session_free(s);
	}
	mta_dnsbl_free(m);
	mta_dns_free(m);
	while ((d = TAILQ_FIRST(&m->dqs)) != NULL) {
		TAILQ_REMOVE(&m->dqs, d, entry);
		mta_dq_free(d);
	}
	ipc_peer_free(queue);
	ipc_peer_free(m->parent);
	event_free(m->reaper);
	event_free(m->tick);
	event_free(m->stop_timer);
	SSL_CTX_free(m->tls);
	mta_auth_free(m->auth);
	free(m->routes);
	conf_free(m->conf);
	free(m);
	log_notice(LOG_CAT_DELIVERY, "event=stopped");
	return 0;
}
