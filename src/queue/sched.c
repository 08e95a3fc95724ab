/*
 * sched.c - the delivery scheduler, inside the queue process.
 *
 * A round fetches the remote recipients that are due (queued, or
 * deferred and past next_attempt; held ones never), groups them by
 * message and domain into jobs, and sends each job to the mta process
 * with the message (PROTO_MTA_DELIVER). Jobs in flight are remembered
 * here, by recipient id, so a later round does not send them again; at
 * most SCHED_INFLIGHT_PER_CONN jobs per allowed connection are out at
 * once, in all and per domain (the connections one destination may hold,
 * mta_dest_limit): a domain at its share is passed over, so one domain's
 * backlog never fills the window the others need; a new pass (at most
 * one a second) comes back for what was passed over once that domain
 * has a free slot again. Rounds walk the due recipients in (next_attempt, id) order with
 * a cursor, a pass: a new commit (sched_stored) or a free slot continues
 * it, a timer (sched_kick, the next due time, a second while recipients
 * are due) starts a new one from the first due recipient. A message
 * that has been queued longer than max_lifetime is not sent any more: it
 * fails (4.4.7).
 *
 * PROTO_MTA_RESULT gives one outcome per recipient: 2xx delivered, 4xx
 * deferred until now + sched_backoff(attempts) (or failed once past
 * max_lifetime), 5xx failed. Outcomes are group-committed: collected
 * during the loop turn, then recorded in one transaction together with
 * the bounces they cause (queue_db_remote_mark). A recipient is marked
 * delivered only there, after the peer's reply to the final dot: a
 * crash before loses nothing, the message is sent again (at least once).
 *
 * Bounces (bounce.c) go from the null sender to the envelope sender,
 * one per job, for the failed recipients whose NOTIFY allows it. A
 * message from the null sender is never bounced: a recipient of it that
 * fails goes to the dead-letter store (no backscatter, no loop). A
 * recipient still deferred delay_notice seconds after arrival makes one
 * delay DSN (Action: delayed) when its NOTIFY allows DELAY; the table
 * delay_notice remembers it, in the same commit, so it is sent once. Dead
 * letters older than deadletter_expire are deleted once an hour.
 *
 * A local delivery that failed for good comes here too (sched_fail), so
 * that it bounces (or makes a dead letter) the same way, at once, and
 * so do the recipients an admin returns to their senders (`moat queue
 * bounce`, sched_fail_many): their state, their DSN and the deletion of
 * a message with nothing left are one transaction, so a crash leaves
 * either all of it or none (the command may then be given again).
 *
 * An admin may pause remote delivery (`moat queue pause`, the table
 * paused_dest, kept across restarts): for all destinations no round
 * runs; for some domains the fetches leave their recipients out (they
 * are not due while paused; jobs already with the mta finish). Local
 * delivery is not paused.
 *
 * Public: sched_new, sched_free, sched_kick, sched_stored, sched_set_conf,
 * sched_stop, sched_backoff, sched_fail, sched_fail_many, sched_settle,
 * sched_paused_changed, sched_inflight, sched_set_dnsbl, sched_mta_send.
 *
 * SECURITY: PROTO_MTA_RESULT comes from a sibling: a frame that does not
 * parse exactly or names a job or recipient we did not send is a bug
 * there (fatalx). Reply texts from peers are kept as data (bound as SQL
 * parameters, escaped in logs, cleaned by bounce.c).
 * LIMITS: SCHED_FETCH_MAX rows a round, in-flight jobs as above.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/config.h"
#include "queue/maildir.h"
#include "io/ipc.h"
#include "lib/hash.h"
#include "io/proto.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "policy/relay.h"
#include "queue/bounce.h"
#include "queue/queue_db.h"
#include "queue/queue_route.h"
#include "queue/sched.h"
#include "mta/mta_route.h"

#define SCHED_FETCH_MAX		2048	/* rows looked at a round */
#define SCHED_ROWS_PER_SLOT	8	/* rows fetched a free job slot */
#define SCHED_INFLIGHT_PER_CONN	4	/* jobs out per allowed connection */
#define SCHED_BUCKETS		4096	/* in-flight recipients hash */
#define SCHED_DOM_BUCKETS	256	/* domains in flight hash */
#define SCHED_RETRY_SECS	30	/* after a database error */
#define SCHED_EXPIRE_EVERY	3600	/* dead-letter expiry */
#define SCHED_STR_MAX		4096

/* One recipient of a job in flight. */
struct sched_jr {
	LIST_ENTRY(sched_jr) hash;
	int64_t		 rcpt_id;
	char		*address;
	char		*orcpt;
	uint8_t		 notify;
	int		 attempts;
	int		 delay_noticed;	/* a delay DSN went out already */
};

/* A domain with jobs in flight; owned by s->doms, freed with its last job. */
struct sched_dom {
	LIST_ENTRY(sched_dom) hash;
	char		*name;
	size_t		 njobs;
	int		 passed_over;	/* due rows skipped: it was full */
};
LIST_HEAD(sched_dom_bucket, sched_dom);

/* One job in flight; owned by s->jobs. */
struct sched_job {
	TAILQ_ENTRY(sched_job) entry;
	uint64_t	 id;
	int64_t		 msg_id;
	char		 qid[QUEUE_QID_SIZE];
	int64_t		 created;
	char		*sender;
	char		*domain;
	struct sched_dom *dom;
	struct sched_jr	*r;
	size_t		 n, cap;
	size_t		 row;		/* its first row in the round's fetch */
};

/* An outcome to commit; strings owned. */
struct sched_mark {
	struct queue_remote_mark m;
	char		*address;
	char		*error;
	char		*relay, *reply;	/* DELIVERED: for the sent log */
};

/* A bounce to build at commit; strings owned. */
struct sched_bounce {
	int64_t		 msg_id;
	int		 delayed;	/* a delay notice, not a bounce */
	char		 qid[QUEUE_QID_SIZE];
	struct bounce_rcpt *r;
	char		**strs;		/* every string of r, to free */
	size_t		 n, nstrs;
};

LIST_HEAD(sched_bucket, sched_jr);

struct sched {
	struct conf		*conf;		/* not owned */
	struct event_base	*base;
	struct queue_db		*db;		/* not owned */
	struct ipc_peer		*mta;
	int			 mta_closed;
	/* PROTO_DNSBL_RESULT goes there (queue_dnsbl.c) */
	void			(*dnsbl_cb)(void *, uint64_t,
				    struct ipc_reader *);
	void			*dnsbl_arg;
	void			(*local_kick)(void *);
	void			*local_arg;
	struct event		*ev_round;	/* timer: a new pass */
	int64_t			 round_at;
	struct event		*ev_more;	/* the pass goes on */
	int64_t			 cur_time;	/* cursor: next_attempt, */
	int64_t			 cur_id;	/* id of the last row seen */
	struct event		*ev_commit;
	TAILQ_HEAD(, sched_job)	 jobs;
	size_t			 njobs;
	size_t			 nrcpts;	/* in flight */
	uint64_t		 next_id;
	struct sched_bucket	 by_rcpt[SCHED_BUCKETS];
	struct sched_dom_bucket	 doms[SCHED_DOM_BUCKETS];
	struct sched_mark	*marks;
	size_t			 nmarks, capmarks;
	struct sched_bounce	*bounces;
	size_t			 nbounces, capbounces;
	int			 stopping;
	int			 paused_all;	/* `moat queue pause --all` */
	int64_t			 expired_at;
	char			 str[SCHED_STR_MAX];
};

static char *
xstrdup(const char *s)
{
	char *d = strdup(s != NULL ? s : "");

	if (d == NULL)
		fatal("%s: strdup", __func__);
	return d;
}

/* sched_backoff - min doubled per earlier attempt, at most max */
int64_t
sched_backoff(int attempts, int64_t min, int64_t max)
{
	int64_t d = min > 0 ? min : 1;

	for (int i = 0; i < attempts && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

static struct sched_bucket *
bucket(struct sched *s, int64_t id)
{
	return &s->by_rcpt[(uint64_t)id % SCHED_BUCKETS];
}

static int
inflight(struct sched *s, int64_t rcpt_id)
{
	struct sched_jr *r;

	LIST_FOREACH(r, bucket(s, rcpt_id), hash)
		if (r->rcpt_id == rcpt_id)
			return 1;
	return 0;
}

static void round_in(struct sched *, int64_t);

static struct sched_dom_bucket *
dom_bucket(struct sched *s, const char *name)
{
	return &s->doms[hash_fnv1a(name, strlen(name)) % SCHED_DOM_BUCKETS];
}

static struct sched_dom *
dom_find(struct sched *s, const char *name)
{
	struct sched_dom *d;

	LIST_FOREACH(d, dom_bucket(s, name), hash)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static struct sched_dom *
dom_get(struct sched *s, const char *name)
{
	struct sched_dom *d = dom_find(s, name);

	if (d != NULL)
		return d;
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->name = strdup(name)) == NULL)
		fatal("%s: calloc", __func__);
	LIST_INSERT_HEAD(dom_bucket(s, name), d, hash);
	return d;
}

/* jobs one domain may have out: as many a connection as in all */
static size_t
dom_cap(struct sched *s)
{
	int conns = mta_dest_limit(s->conf->max_connections,
	    s->conf->max_connections_per_dest);

	return (size_t)conns * SCHED_INFLIGHT_PER_CONN;
}

/* one job of d less; a domain that was passed over gets a new pass */
static void
dom_job_done(struct sched *s, struct sched_dom *d)
{
	d->njobs--;
	if (d->passed_over && d->njobs < dom_cap(s)) {
		d->passed_over = 0;
		round_in(s, 1);
	}
	if (d->njobs == 0 && !d->passed_over) {
		LIST_REMOVE(d, hash);
		free(d->name);
		free(d);
	}
}

static void
job_free(struct sched *s, struct sched_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		LIST_REMOVE(&j->r[i], hash);
		free(j->r[i].address);
		free(j->r[i].orcpt);
	}
	s->nrcpts -= j->n;
	if (j->dom != NULL)
		dom_job_done(s, j->dom);
	free(j->r);
	free(j->sender);
	free(j->domain);
	free(j);
}

static void
round_in(struct sched *s, int64_t secs)
{
	struct timeval tv = { 0, 0 };
	int64_t now = time(NULL);

	if (s->stopping || s->mta_closed)
		return;
	if (secs < 0)
		secs = 0;
	if (evtimer_pending(s->ev_round, NULL) && s->round_at <= now + secs)
		return;
	s->round_at = now + secs;
	tv.tv_sec = (time_t)secs;
	evtimer_add(s->ev_round, &tv);
}

/* sched_kick - a new pass soon */
void
sched_kick(struct sched *s)
{
	if (s != NULL)
		round_in(s, 0);
}

/* sched_stored - new recipients: the pass goes on */
void
sched_stored(struct sched *s)
{
	if (s != NULL && !s->stopping && !s->mta_closed)
		event_active(s->ev_more, 0, 0);
}

static size_t
inflight_cap(struct sched *s)
{
	size_t cap = (size_t)s->conf->max_connections * SCHED_INFLIGHT_PER_CONN;

	return cap < 16 ? 16 : cap;
}

/* mark storage */
static struct sched_mark *
mark_add(struct sched *s, int64_t rcpt_id, int64_t msg_id, const char *address,
    enum queue_remote_outcome o, int64_t next, const char *error)
{
	struct sched_mark *m;

	if (s->nmarks == s->capmarks) {
		size_t cap = s->capmarks ? s->capmarks * 2 : 256;

		if ((m = reallocarray(s->marks, cap, sizeof(*m))) == NULL)
			fatal("%s: reallocarray", __func__);
		s->marks = m;
		s->capmarks = cap;
	}
	m = &s->marks[s->nmarks++];
	memset(m, 0, sizeof(*m));
	m->address = xstrdup(address);
	m->error = error != NULL ? xstrdup(error) : NULL;
	m->m.rcpt_id = rcpt_id;
	m->m.msg_id = msg_id;
	m->m.address = m->address;
	m->m.outcome = o;
	m->m.next_attempt = next;
	m->m.error = m->error;
	event_active(s->ev_commit, 0, 0);
	return m;
}

static struct sched_bounce *
bounce_get(struct sched *s, int64_t msg_id, const char *qid, int delayed)
{
	struct sched_bounce *b;

	/* the failures (or delays) of one message in this commit share one
	 * DSN; delays and failures go apart */
	for (size_t i = 0; i < s->nbounces; i++)
		if (s->bounces[i].msg_id == msg_id &&
		    s->bounces[i].delayed == delayed)
			return &s->bounces[i];
	if (s->nbounces == s->capbounces) {
		size_t cap = s->capbounces ? s->capbounces * 2 : 16;

		if ((b = reallocarray(s->bounces, cap, sizeof(*b))) == NULL)
			fatal("%s: reallocarray", __func__);
		s->bounces = b;
		s->capbounces = cap;
	}
	b = &s->bounces[s->nbounces++];
	memset(b, 0, sizeof(*b));
	b->msg_id = msg_id;
	b->delayed = delayed;
	snprintf(b->qid, sizeof(b->qid), "%s", qid);
	return b;
}

static char *
bounce_str(struct sched_bounce *b, const char *v)
{
	char **strs = reallocarray(b->strs, b->nstrs + 1, sizeof(*strs));

	if (strs == NULL)
		fatal("%s: reallocarray", __func__);
	b->strs = strs;
	return b->strs[b->nstrs++] = xstrdup(v);
}

static void
bounce_add(struct sched *s, int64_t msg_id, const char *qid,
    const char *address, const char *orcpt, const char *reply,
    const char *relay, int delayed)
{
	struct sched_bounce *b = bounce_get(s, msg_id, qid, delayed);
	struct bounce_rcpt *r = reallocarray(b->r, b->n + 1, sizeof(*r));
	char host[256];
	const char *br;

	if (r == NULL)
		fatal("%s: reallocarray", __func__);
	b->r = r;
	r = &b->r[b->n++];
	memset(r, 0, sizeof(*r));
	r->delayed = delayed;
	r->address = bounce_str(b, address);
	r->orcpt = bounce_str(b, orcpt);
	r->reply = bounce_str(b, reply);
	/* "host[addr]:port": the host name for Remote-MTA */
	snprintf(host, sizeof(host), "%s", relay != NULL ? relay : "");
	if ((br = strchr(host, '[')) != NULL)
		host[br - host] = '\0';
	r->remote_mta = bounce_str(b, host);
}

static void
bounce_release(struct sched_bounce *b)
{
	for (size_t i = 0; i < b->nstrs; i++)
		free(b->strs[i]);
	free(b->strs);
	free(b->r);
	memset(b, 0, sizeof(*b));
}

/*
 * A recipient failed for good: a bounce to the sender (unless NOTIFY
 * says no), or a dead letter when the sender is the null path.
 */
static void
fail_rcpt(struct sched *s, int64_t rcpt_id, int64_t msg_id, const char *qid,
    const char *sender, const char *address, const char *orcpt,
    uint8_t notify, const char *reply, const char *relay)
{
	char a[512], e[1024];

	log_escape_bare(a, sizeof(a), address, strlen(address));
	log_escape(e, sizeof(e), reply, strlen(reply));
	if (sender[0] == '\0') {
		mark_add(s, rcpt_id, msg_id, address, QUEUE_REMOTE_DEAD, 0,
		    reply);
		log_notice(LOG_CAT_QUEUE, "qid=%s event=dead_letter to=<%s> "
		    "reason=\"%s\"", qid, a, e);
		return;
	}
	mark_add(s, rcpt_id, msg_id, address, QUEUE_REMOTE_FAILED, 0, reply);
	if (notify != 0 && !(notify & PROTO_NOTIFY_FAILURE)) {
		log_info(LOG_CAT_QUEUE, "qid=%s event=no_bounce to=<%s> "
		    "reason=notify", qid, a);
		return;
	}
	bounce_add(s, msg_id, qid, address, orcpt, reply, relay, 0);
}

/*
 * A recipient was deferred: when it has waited delay_notice seconds
 * since arrival, its NOTIFY allows DELAY (absent NOTIFY means
 * FAILURE,DELAY, RFC 3461 4.1) and the sender is not the null path, the
 * sender gets one delay DSN; the mark remembers it in the same commit.
 */
static void
delay_check(struct sched *s, struct sched_job *j, struct sched_jr *jr,
    struct sched_mark *m, const char *reply, const char *relay, int64_t now)
{
	char a[512];

	if (s->conf->delay_notice == 0 || jr->delay_noticed ||
	    now - j->created < s->conf->delay_notice || j->sender[0] == '\0')
		return;
	if (jr->notify != 0 && (jr->notify & PROTO_NOTIFY_NEVER ||
	    !(jr->notify & PROTO_NOTIFY_DELAY)))
		return;
	jr->delay_noticed = 1;
	m->m.delay_notice = 1;
	bounce_add(s, j->msg_id, j->qid, jr->address, jr->orcpt, reply, relay,
	    1);
	log_info(LOG_CAT_QUEUE, "qid=%s event=delay_notice to=<%s> "
	    "delay=%llds", j->qid, log_escape_bare(a, sizeof(a), jr->address,
	    strlen(jr->address)), (long long)(now - j->created));
}

/*
 * A DSN about an outsider's message went without its content: one
 * event each (the sender address may be forged; the report is all the
 * third party gets).
 */
static void
outsider_events(struct sched *s, const struct queue_msg_copy *copies,
    const struct queue_store_result *bres, size_t nb, int64_t now)
{
	struct queue_event ev;
	char detail[600], to[512];

	for (size_t i = 0; i < nb; i++) {
		if (!(copies[i].flags & PROTO_MSGF_OUTSIDER))
			continue;
		snprintf(detail, sizeof(detail), "qid=%s bounce_qid=%s to=<%s>",
		    copies[i].qid, bres[i].qid, log_escape_bare(to, sizeof(to),
		    copies[i].sender, strlen(copies[i].sender)));
		memset(&ev, 0, sizeof(ev));
		ev.time = now;
		ev.type = "bounce_without_content";
		ev.client_ip = copies[i].client_ip;
		ev.user = "";
		ev.session = "";
		ev.detail = detail;
		log_notice(LOG_CAT_POLICY, "event=bounce_without_content %s",
		    detail);
		/* a failure was logged; the event is in the log anyway */
		(void)queue_db_event_add(s->db, &ev, 1);
	}
}

/*
 * The local Maildir of a bounce's recipient (the original sender), ""
 * when it is relayed or no mailbox of the configuration names it (a
 * bounce to such a sender goes out by its route).
 */
static void
bounce_mailbox(struct sched *s, const char *addr, char *out, size_t len)
{
	if (queue_route_mailbox(s->conf, addr, out, len) != QUEUE_ROUTE_LOCAL)
		out[0] = '\0';
}

/* The bounces of one group commit, built from s->bounces; owned. */
struct commit_batch {
	struct queue_remote_mark *v;		/* the outcomes, copied */
	struct queue_msg	*bm;		/* bounce messages, nb of them */
	struct queue_rcpt	*br;		/* their one recipient each */
	struct queue_store_result *bres;
	struct queue_msg_copy	*copies;	/* the messages bounced */
	char			**texts;	/* the bounces' bytes */
	char			(*mbox)[MAILDIR_NAME_MAX + 1];	/* local Maildir or "" */
	int			*dly;		/* bm[i] is a delay notice */
	size_t			 nb;
	int			 local;		/* a bounce goes to a Maildir */
};

static void
commit_alloc(struct sched *s, struct commit_batch *cb)
{
	size_t nb = s->nbounces + 1;

	memset(cb, 0, sizeof(*cb));
	if ((cb->v = calloc(s->nmarks, sizeof(*cb->v))) == NULL ||
	    (cb->bm = calloc(nb, sizeof(*cb->bm))) == NULL ||
	    (cb->br = calloc(nb, sizeof(*cb->br))) == NULL ||
	    (cb->bres = calloc(nb, sizeof(*cb->bres))) == NULL ||
	    (cb->copies = calloc(nb, sizeof(*cb->copies))) == NULL ||
	    (cb->texts = calloc(nb, sizeof(*cb->texts))) == NULL ||
	    (cb->mbox = calloc(nb, sizeof(*cb->mbox))) == NULL ||
	    (cb->dly = calloc(nb, sizeof(*cb->dly))) == NULL)
		fatal("%s: calloc", __func__);
	for (size_t i = 0; i < s->nmarks; i++)
		cb->v[i] = s->marks[i].m;
}

/* Build the bounce of b as cb's next message (none when b's is gone). */
static void
commit_bounce(struct sched *s, const struct sched_bounce *b,
    struct commit_batch *cb, int64_t now)
{
	size_t nb = cb->nb, tlen;
	struct queue_msg_copy *c = &cb->copies[nb];
	struct queue_msg *m = &cb->bm[nb];
	struct bounce_info bi;

	if (queue_db_msg_get(s->db, b->msg_id, c) != 1)
		return;		/* gone (an admin), or logged */
	memset(&bi, 0, sizeof(bi));
	bi.hostname = s->conf->hostname;
	bi.qid = c->qid;
	bi.sender = c->sender;
	bi.envid = c->envid;
	bi.ret = c->ret;
	bi.omit_original = (c->flags & PROTO_MSGF_OUTSIDER) != 0;
	bi.arrival = c->created;
	bi.now = now;
	bi.msg = c->data;
	bi.len = c->len;
	bi.rcpts = b->r;
	bi.n = b->n;
	if (bounce_build(&bi, &cb->texts[nb], &tlen) == -1)
		fatal("%s: bounce_build", __func__);
	bounce_mailbox(s, c->sender, cb->mbox[nb], sizeof(cb->mbox[nb]));
	cb->local |= cb->mbox[nb][0] != '\0';
	cb->br[nb].address = c->sender;
	cb->br[nb].orcpt = NULL;
	cb->br[nb].notify = PROTO_NOTIFY_NEVER;
	cb->br[nb].mailbox = cb->mbox[nb];
	m->created = now;
	m->sender = "";
	m->helo = s->conf->hostname;
	m->client_ip = "";
	m->listener = "bounce";
	m->ret = PROTO_RET_NONE;
	m->rcpts = &cb->br[nb];
	m->nrcpt = 1;
	m->data = (const uint8_t *)cb->texts[nb];
	m->len = tlen;
	cb->dly[nb] = b->delayed;
	cb->nb++;
}

/* Release cb and the marks and bounces it was built from. */
static void
commit_free(struct sched *s, struct commit_batch *cb)
{
	for (size_t i = 0; i < cb->nb; i++) {
		free(cb->texts[i]);
		queue_db_msg_copy_free(&cb->copies[i]);
	}
	for (size_t i = 0; i < s->nmarks; i++) {
		free(s->marks[i].address);
		free(s->marks[i].error);
		free(s->marks[i].relay);
		free(s->marks[i].reply);
	}
	s->nmarks = 0;
	for (size_t i = 0; i < s->nbounces; i++)
		bounce_release(&s->bounces[i]);
	s->nbounces = 0;
	free(cb->dly);
	free(cb->mbox);
	free(cb->texts);
	free(cb->copies);
	free(cb->bres);
	free(cb->br);
	free(cb->bm);
	free(cb->v);
}

/*
 * The group commit of outcomes: build the bounces, record everything
 * in one transaction. 0, or -1 when nothing was recorded.
 */
static int
commit_run(struct sched *s)
{
	struct commit_batch cb;
	int64_t now = time(NULL);
	size_t nb;
	char to[512];
	int rc;

	if (s->nmarks == 0)
		return 0;
	commit_alloc(s, &cb);
	for (size_t i = 0; i < s->nbounces; i++)
		commit_bounce(s, &s->bounces[i], &cb, now);
	rc = queue_db_remote_mark(s->db, cb.v, s->nmarks, cb.bm, cb.nb,
	    cb.bres, now);
	if (rc == 0) {
		for (size_t i = 0; i < cb.nb; i++)
			log_notice(LOG_CAT_QUEUE, "qid=%s event=%s "
			    "bounce_qid=%s to=<%s>", cb.copies[i].qid,
			    cb.dly[i] ? "delay_dsn" : "bounce", cb.bres[i].qid,
			    log_escape_bare(to, sizeof(to), cb.copies[i].sender,
			    strlen(cb.copies[i].sender)));
		outsider_events(s, cb.copies, cb.bres, cb.nb, now);
		if (cb.local && s->local_kick != NULL)
			s->local_kick(s->local_arg);
	}
	/* on failure nothing changed: the recipients, behind the cursor
	 * now, are tried again by a new pass */
	if (rc != 0)
		round_in(s, SCHED_RETRY_SECS);
	nb = cb.nb;
	commit_free(s, &cb);
	if (nb > 0)
		sched_kick(s);	/* the bounces are due now */
	return rc == 0 ? 0 : -1;
}

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)commit_run(arg);
}

/* send one job to the mta process */
static void
job_send(struct sched *s, struct sched_job *j, const struct queue_remote *any)
{
	struct proto_deliver_rcpt dr;
	struct proto_deliver d;
	struct queue_msg_copy c;
	struct ipc_msg m;
	int rc;

	if ((rc = queue_db_msg_get(s->db, j->msg_id, &c)) != 1) {
		/* gone meanwhile, or an error (logged): forget the job */
		TAILQ_REMOVE(&s->jobs, j, entry);
		s->njobs--;
		job_free(s, j);
		return;
	}
	d.qid = j->qid;
	d.created = j->created;
	d.sender = j->sender;
	d.envid = any->envid;
	d.ret = any->ret;
	d.flags = any->flags;
	d.domain = j->domain;
	d.nrcpt = (uint32_t)j->n;
	proto_deliver_enc(&m, j->id, &d);
	for (size_t i = 0; i < j->n; i++) {
		dr.id = (uint64_t)j->r[i].rcpt_id;
		dr.address = j->r[i].address;
		dr.orcpt = j->r[i].orcpt;
		dr.notify = j->r[i].notify;
		proto_deliver_rcpt_enc(&m, &dr);
	}
	proto_body_enc_bytes(&m, c.data, c.len);
	ipc_send(s->mta, &m);
	queue_db_msg_copy_free(&c);
}

static struct sched_job *
job_new(struct sched *s, const struct queue_remote *r, size_t row)
{
	struct sched_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("%s: calloc", __func__);
	j->id = ++s->next_id;
	j->row = row;
	j->msg_id = r->msg_id;
	snprintf(j->qid, sizeof(j->qid), "%s", r->qid);
	j->created = r->created;
	j->sender = xstrdup(r->sender);
	j->domain = xstrdup(r->domain);
	TAILQ_INSERT_TAIL(&s->jobs, j, entry);
	s->njobs++;
	return j;
}

static void
job_add_rcpt(struct sched *s, struct sched_job *j, const struct queue_remote *r)
{
	struct sched_jr *jr;

	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4;
		struct sched_jr *nr = calloc(cap, sizeof(*nr));

		if (nr == NULL)
			fatal("%s: calloc", __func__);
		/* the hash links point into the array: move them */
		for (size_t i = 0; i < j->n; i++) {
			nr[i] = j->r[i];
			LIST_REMOVE(&j->r[i], hash);
			LIST_INSERT_HEAD(bucket(s, nr[i].rcpt_id), &nr[i], hash);
		}
		free(j->r);
		j->r = nr;
		j->cap = cap;
	}
	jr = &j->r[j->n++];
	jr->rcpt_id = r->rcpt_id;
	jr->address = xstrdup(r->address);
	jr->orcpt = xstrdup(r->orcpt);
	jr->notify = r->notify;
	jr->attempts = r->attempts;
	jr->delay_noticed = r->delay_noticed;
	LIST_INSERT_HEAD(bucket(s, r->rcpt_id), jr, hash);
	s->nrcpts++;
}

/* dead letters past deadletter_expire go, every SCHED_EXPIRE_EVERY */
static void
round_expire(struct sched *s, int64_t now)
{
	int64_t del = 0;

	if (now - s->expired_at < SCHED_EXPIRE_EVERY)
		return;
	s->expired_at = now;
	if (queue_db_dead_expire(s->db, now - s->conf->deadletter_expire,
	    &del) == 0 && del > 0)
		log_notice(LOG_CAT_QUEUE, "event=deadletter_expired "
		    "count=%" PRId64, del);
}

/*
 * One due row of a round: failed when expired, else added to its job
 * (the same message and domain), a new one when its domain has a share
 * left. 1 when it was taken (failed or added), 0 when passed over, -1
 * when the in-flight window is full (the round stops).
 */
static int
round_row(struct sched *s, const struct queue_remote *r, size_t row,
    int64_t now, struct sched_job **first_new)
{
	struct sched_job *j;
	struct sched_dom *d;

	if (inflight(s, r->rcpt_id))
		return 0;
	if (now - r->created >= s->conf->max_lifetime) {
		char why[160];

		snprintf(why, sizeof(why), "500 4.4.7 message expired: "
		    "undelivered for %lld seconds, giving up",
		    (long long)(now - r->created));
		fail_rcpt(s, r->rcpt_id, r->msg_id, r->qid, r->sender,
		    r->address, r->orcpt, r->notify, why, "");
		return 1;
	}
	for (j = *first_new; j != NULL; j = TAILQ_NEXT(j, entry))
		if (j->msg_id == r->msg_id && strcmp(j->domain, r->domain) == 0)
			break;
	if (j == NULL) {
		if (s->njobs >= inflight_cap(s))
			return -1;
		d = dom_get(s, r->domain);
		if (d->njobs >= dom_cap(s)) {
			/* its share is out: the others go first */
			d->passed_over = 1;
			return 0;
		}
		j = job_new(s, r, row);
		j->dom = d;
		d->njobs++;
		if (*first_new == NULL)
			*first_new = j;
	}
	job_add_rcpt(s, j, r);
	return 1;
}

/*
 * The cursor is past the last due row: what comes later is stored
 * behind it (sched_stored) or deferred to a time after it. A new
 * pass from the first row, when the next one is due or within a
 * second while rows are due, finds what went back behind the
 * cursor: released by an admin, or an outcome not recorded.
 */
static void
round_rearm(struct sched *s, int64_t now, size_t fresh)
{
	int64_t when;
	int rc;

	if ((rc = queue_db_remote_next(s->db, &when)) == -1)
		round_in(s, SCHED_RETRY_SECS);
	else if (rc == 1) {
		if (when > now)
			round_in(s, when - now);
		else if (s->njobs == 0 || fresh > 0)
			round_in(s, 1);
		/* else: only jobs in flight are due; their results kick */
	}
}

/*
 * One round: due recipients after the cursor into jobs, jobs to the
 * mta. The cursor moves over every row dealt with (sent, in flight
 * already, expired) and stops before the first one that finds no free
 * slot, so a round reads about as many rows as it can send, however
 * long the queue: with 100,000 messages waiting, every result would
 * otherwise read the whole head of the queue again.
 */
static void
round_run(struct sched *s)
{
	struct queue_remote *v;
	struct sched_job *first_new = NULL, *j;
	size_t n = 0, cap = inflight_cap(s), max, fresh = 0;
	int64_t now = time(NULL);
	int full = 0, took;

	if (s->stopping || s->mta_closed)
		return;
	if (s->nmarks > 0)
		commit_cb(-1, 0, s);	/* outcomes first: they are not due */
	round_expire(s, now);
	if (s->paused_all)
		return;			/* resume kicks a new pass */
	if (s->njobs >= cap)
		return;			/* results make the next round */
	max = (cap - s->njobs) * SCHED_ROWS_PER_SLOT + SCHED_ROWS_PER_SLOT;
	if (max > SCHED_FETCH_MAX)
		max = SCHED_FETCH_MAX;
	if ((v = calloc(max, sizeof(*v))) == NULL)
		fatal("%s: calloc", __func__);
	if (queue_db_remote_fetch(s->db, now, s->cur_time, s->cur_id, v, max,
	    &n) == -1) {
		free(v);
		round_in(s, SCHED_RETRY_SECS);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if ((took = round_row(s, &v[i], i, now, &first_new)) == -1) {
			full = 1;
			break;
		}
		fresh += (size_t)took;
		s->cur_time = v[i].next_attempt;
		s->cur_id = v[i].rcpt_id;
	}
	/* send the new jobs, with the envelope of their first row */
	for (j = first_new; j != NULL; ) {
		struct sched_job *next = TAILQ_NEXT(j, entry);

		job_send(s, j, &v[j->row]);
		j = next;
	}
	queue_db_remote_free(v, n);
	free(v);
	if (full)
		return;			/* results make the next round */
	if (n == max) {
		event_active(s->ev_more, 0, 0);
		return;
	}
	round_rearm(s, now, fresh);
}

/* the round timer: a new pass from the first due row */
static void
pass_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched *s = arg;

	s->cur_time = -1;
	s->cur_id = 0;
	round_run(s);
}

/* more rows or free slots: the pass goes on from the cursor */
static void
more_cb(evutil_socket_t fd, short what, void *arg)
{
	round_run(arg);
}

/* PROTO_MTA_RESULT: outcomes of one job */
static void
result_recv(struct sched *s, uint64_t id, struct ipc_reader *r)
{
	struct sched_job *j;
	int64_t now = time(NULL);
	uint32_t n;

	TAILQ_FOREACH(j, &s->jobs, entry)
		if (j->id == id)
			break;
	if (j == NULL)
		fatalx("%s: result for unknown job %" PRIu64, __func__, id);
	if (proto_result_dec(r, &n) == -1 || n != j->n)
		fatalx("%s: job %" PRIu64 ": %" PRIu32 " results for %zu "
		    "recipients", __func__, id, n, j->n);
	for (uint32_t i = 0; i < n; i++) {
		struct sched_jr *jr = &j->r[i];
		struct proto_result_rcpt rr;
		const char *reply, *relay;
		uint8_t res;

		if (proto_result_rcpt_dec(r, &rr) == -1 ||
		    (int64_t)rr.id != jr->rcpt_id)
			fatalx("%s: job %" PRIu64 ": bad result %" PRIu32,
			    __func__, id, i);
		res = rr.result;
		reply = rr.reply;
		relay = rr.relay;
		switch (res) {
		case PROTO_MTA_OK: {
			struct sched_mark *m = mark_add(s, jr->rcpt_id,
			    j->msg_id, jr->address, QUEUE_REMOTE_DELIVERED, 0,
			    NULL);

			m->m.created = j->created;
			m->relay = relay != NULL ? xstrdup(relay) : NULL;
			m->reply = reply != NULL ? xstrdup(reply) : NULL;
			m->m.relay = m->relay;
			m->m.reply = m->reply;
			break;
		}
		case PROTO_MTA_TEMPFAIL:
			if (now - j->created >= s->conf->max_lifetime) {
				char why[1200];

				snprintf(why, sizeof(why), "%s (message "
				    "expired, giving up)", reply);
				fail_rcpt(s, jr->rcpt_id, j->msg_id, j->qid,
				    j->sender, jr->address, jr->orcpt,
				    jr->notify, why, relay);
				break;
			}
			delay_check(s, j, jr, mark_add(s, jr->rcpt_id,
			    j->msg_id, jr->address, QUEUE_REMOTE_DEFERRED,
			    now + sched_backoff(jr->attempts, s->conf->retry_min,
			    s->conf->retry_max), reply), reply, relay, now);
			break;
		case PROTO_MTA_PERMFAIL:
			fail_rcpt(s, jr->rcpt_id, j->msg_id, j->qid, j->sender,
			    jr->address, jr->orcpt, jr->notify, reply, relay);
			break;
		default:
			fatalx("%s: result %u", __func__, res);
		}
	}
	if (proto_end_dec(r) != 0)
		fatalx("%s: malformed result", __func__);
	TAILQ_REMOVE(&s->jobs, j, entry);
	s->njobs--;
	job_free(s, j);
	sched_stored(s);	/* a free slot */
}

static void
mta_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct sched *s = arg;

	if (type == PROTO_DNSBL_RESULT && s->dnsbl_cb != NULL) {
		s->dnsbl_cb(s->dnsbl_arg, id, r);
		return;
	}
	if (type != PROTO_MTA_RESULT)
		fatalx("%s: unexpected message %u from mta", __func__, type);
	result_recv(s, id, r);
}

/* sched_set_dnsbl - where the blacklist watch's outcomes go */
void
sched_set_dnsbl(struct sched *s, void (*cb)(void *, uint64_t,
    struct ipc_reader *), void *arg)
{
	s->dnsbl_cb = cb;
	s->dnsbl_arg = arg;
}

/* sched_mta_send - m to the mta process; 0, or -1 (discarded) when gone */
int
sched_mta_send(struct sched *s, struct ipc_msg *m)
{
	if (s == NULL || s->mta_closed) {
		ipc_msg_discard(m);
		return -1;
	}
	ipc_send(s->mta, m);
	return 0;
}

static void
mta_close_cb(struct ipc_peer *p, void *arg)
{
	struct sched *s = arg;

	if (!s->stopping)
		log_warn(LOG_CAT_QUEUE, "event=peer_closed peer=mta "
		    "inflight=%zu", s->njobs);
	s->mta_closed = 1;
	evtimer_del(s->ev_round);
	event_del(s->ev_more);
}

/* sched_new - the scheduler, with a first round at once */
struct sched *
sched_new(struct conf *conf, struct event_base *base, struct queue_db *db,
    int mta_fd, void (*local_kick)(void *), void *arg)
{
	struct sched *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s: calloc", __func__);
	s->conf = conf;
	s->base = base;
	s->db = db;
	s->local_kick = local_kick;
	s->local_arg = arg;
	TAILQ_INIT(&s->jobs);
	for (size_t i = 0; i < SCHED_BUCKETS; i++)
		LIST_INIT(&s->by_rcpt[i]);
	for (size_t i = 0; i < SCHED_DOM_BUCKETS; i++)
		LIST_INIT(&s->doms[i]);
	s->cur_time = -1;
	if ((s->ev_round = evtimer_new(base, pass_cb, s)) == NULL ||
	    (s->ev_more = event_new(base, -1, 0, more_cb, s)) == NULL ||
	    (s->ev_commit = event_new(base, -1, 0, commit_cb, s)) == NULL)
		fatal("%s: event_new", __func__);
	s->mta = ipc_peer_new(base, mta_fd, "mta", mta_msg_cb, mta_close_cb, s);
	sched_paused_changed(s);
	return s;
}

/* sched_paused_changed - read the paused destinations again, a new pass */
void
sched_paused_changed(struct sched *s)
{
	if (s == NULL)
		return;
	/* on an error the last known state stays: logged by queue_db */
	(void)queue_db_paused_load(s->db, &s->paused_all);
	if (s->paused_all)
		log_notice(LOG_CAT_QUEUE, "event=delivery_paused dest=all");
	round_in(s, 0);
}

/* sched_inflight - 1 when recipient rcpt_id is with the mta now */
int
sched_inflight(struct sched *s, int64_t rcpt_id)
{
	return s != NULL && inflight(s, rcpt_id);
}

/* sched_set_conf - the configuration after a reload */
void
sched_set_conf(struct sched *s, struct conf *conf)
{
	if (s != NULL)
		s->conf = conf;
}

/* sched_stop - no new rounds */
void
sched_stop(struct sched *s)
{
	if (s == NULL)
		return;
	s->stopping = 1;
	evtimer_del(s->ev_round);
	event_del(s->ev_more);
}

/* sched_free - release everything */
void
sched_free(struct sched *s)
{
	struct sched_job *j;

	if (s == NULL)
		return;
	if (s->nmarks > 0)
		commit_cb(-1, 0, s);	/* outcomes already known: keep them */
	while ((j = TAILQ_FIRST(&s->jobs)) != NULL) {
		TAILQ_REMOVE(&s->jobs, j, entry);
		job_free(s, j);
	}
	free(s->marks);
	free(s->bounces);
	ipc_peer_free(s->mta);
	event_free(s->ev_round);
	event_free(s->ev_more);
	event_free(s->ev_commit);
	free(s);
}

/* sched_fail - a recipient failed for good outside the mta: record it now */
int
sched_fail(struct sched *s, const struct sched_failure *f)
{
	return sched_fail_many(s, &f->r, 1, f->reason);
}

/* sched_fail_many - n recipients failed for good: one commit, now */
int
sched_fail_many(struct sched *s, const struct queue_pending_rcpt *r,
    size_t n, const char *reason)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		fail_rcpt(s, r[i].rcpt_id, r[i].msg_id, r[i].qid, r[i].sender,
		    r[i].address, r[i].orcpt, r[i].notify, reason, "");
	return commit_run(s);
}

/* sched_settle - record the outcomes waiting for the commit now */
int
sched_settle(struct sched *s)
{
	return s == NULL ? 0 : commit_run(s);
}
