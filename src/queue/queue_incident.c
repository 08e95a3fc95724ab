/*
 * queue_incident.c - one account's or one client's incident, gathered
 * from the queue's tables: what an administrator otherwise puts
 * together by hand from the events, the queue, the bans and the logs.
 *
 * Public: queue_incident_new, queue_incident_free, queue_incident_login,
 * queue_incident_answer.
 *
 * An incident is named "user:NAME" (an account) or "client:ADDR" (an
 * address or network). Its parts, over the last `since` seconds:
 *   timeline  the security events of the account (AUTH failures for it,
 *             account_attack, login_after_guessing, hold, suspend,
 *             guess_ban...) and those of its clients that name no
 *             account (relay attempts, limits, bans); for a client, its
 *             events
 *   clients   each address that failed AUTH for it or logged in (logins
 *             are counted in memory from PROTO_AUTH_LOGIN since start)
 *   held      its messages with a held recipient; queued: the others
 *             still waiting
 *   left      its messages delivered to remote hosts (sent_log, kept a
 *             week by the queue); unknown without that table
 *   bans      the bans in force over its clients, and the guess_ban
 *             networks named for the account
 * CTL_OP_INCIDENTS lists the current incidents: accounts held,
 * suspended or alerted on (events of the kinds in inc_kinds), clients
 * whose watch key is held or suspended, and bans other than guess_ban's
 * (those belong to their account's incident), each with the numbers of
 * its CTL_OP_INCIDENT answer.
 *
 * SECURITY: names and addresses come from an admin's request (checked
 * by ctl_req_decode) and from the tables, which hold what network peers
 * sent; they reach SQL only as bound parameters (queue_db_ctl.c) and
 * the answer as length-prefixed strings: the CLI, the JSON and the
 * console encode them where they write them.
 * LIMITS: INC_TIMELINE_MAX events, INC_ROWS_MAX messages of each list,
 * INC_CLIENTS_MAX clients, INC_LIST_MAX incidents, INC_LOGINS_MAX
 * remembered (user, address) logins.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl_msg.h"
#include "io/ipc.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "queue/queue_db.h"
#include "queue/queue_db_ctl.h"
#include "queue/queue_incident.h"

#define INC_TIMELINE_MAX	5000
#define INC_ROWS_MAX		10000
#define INC_CLIENTS_MAX		256
#define INC_LIST_MAX		200
#define INC_LOGINS_MAX		4096
#define INC_SINCE_DEFAULT	(7 * 86400)
#define INC_ADDR_MAX		64	/* an address or a CIDR as text */

/*
 * What an incident is called after, strongest first: the account's
 * state, or the worst thing its events say. The event types of the
 * middle rows make an account an incident of its own.
 */
static const struct {
	const char	*event;		/* NULL: from the state only */
	const char	*kind;
	int		 lists;		/* makes an incident by itself */
} inc_kinds[] = {
	{ "suspend", "suspended", 1 },
	{ "hold", "held", 1 },
	{ "login_after_guessing", "login_after_guessing", 1 },
	{ "guess_ban", "guess_ban", 1 },
	{ "account_attack", "account_attack", 1 },
	{ "watch_alert", "watch_alert", 1 },
	{ "ban", "ban", 0 },
	{ "relay_denied", "relay_denied", 0 },
	{ "auth_fail", "auth_fail", 0 },
};
#define NKINDS	(sizeof(inc_kinds) / sizeof(inc_kinds[0]))

/* A (user, address) that logged in, with how often. */
struct inc_login {
	char	*user;
	char	 ip[INC_ADDR_MAX];
	int64_t	 n, last;
};

/* Owned by queue_ctl.c. */
struct queue_incident {
	struct inc_login *l;		/* owned, INC_LOGINS_MAX at most */
	size_t		 n;
};

struct inc_event {
	int64_t	 id, time;
	char	*type, *client, *user, *detail;
};

struct inc_client {
	char	 addr[INC_ADDR_MAX];
	int64_t	 failures, logins;
};

struct inc_msg {
	char	*qid, *from, *to;
	int64_t	 time;
};

struct inc_ban {
	char	*cidr, *reason;
	int64_t	 until, created;
};

/* One incident being gathered; everything owned. */
struct inc {
	int		 is_user;
	int		 counts_only;	/* the list: no message rows */
	const char	*name;		/* the account or the CIDR, not owned */
	char		 id[CTL_STR_MAX];
	int64_t		 now, since;
	struct cidr	 net;		/* client: the incident's network */
	struct inc_event *ev;
	size_t		 nev, evcap;
	int64_t		 events;	/* all, the timeline's cut aside */
	int		 has[NKINDS];
	struct inc_client *cl;
	size_t		 ncl, clcap;
	char		**nets;		/* guess_ban networks of the account */
	size_t		 nnets, netcap;
	struct inc_msg	*held, *queued, *left;
	size_t		 nheld, heldcap, nqueued, queuedcap, nleft, leftcap;
	int64_t		 held_total, queued_total, left_rcpts;
	int		 left_known;
	struct inc_ban	*bans;
	size_t		 nbans, bancap;
	char		**users;	/* client: the accounts it used */
	size_t		 nusers, usercap;
	char		 state[32];
	int64_t		 first, last;
};

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	if ((p = reallocarray(p, *cap, size)) == NULL)
		fatal("%s: reallocarray", __func__);
	return p;
}

static char *
xstrdup(const char *s)
{
	char *d;

	if ((d = strdup(s ? s : "")) == NULL)
		fatal("%s: strdup", __func__);
	return d;
}

/* queue_incident_new - an empty memory of logins */
struct queue_incident *
queue_incident_new(void)
{
	struct queue_incident *qi;

	if ((qi = calloc(1, sizeof(*qi))) == NULL)
		fatal("%s: calloc", __func__);
	return qi;
}

/* queue_incident_free - release the logins */
void
queue_incident_free(struct queue_incident *qi)
{
	if (qi == NULL)
		return;
	for (size_t i = 0; i < qi->n; i++)
		free(qi->l[i].user);
	free(qi->l);
	free(qi);
}

/* queue_incident_login - count one login; the oldest is forgotten */
void
queue_incident_login(struct queue_incident *qi, const char *user,
    const char *ip, int64_t now)
{
	struct inc_login *x = NULL;

	if (qi == NULL || user[0] == '\0' || strlen(ip) >= INC_ADDR_MAX)
		return;
	for (size_t i = 0; i < qi->n; i++)
		if (strcmp(qi->l[i].ip, ip) == 0 &&
		    strcmp(qi->l[i].user, user) == 0) {
			x = &qi->l[i];
			break;
		}
	if (x == NULL) {
		if (qi->l == NULL && (qi->l = calloc(INC_LOGINS_MAX,
		    sizeof(*qi->l))) == NULL)
			fatal("%s: calloc", __func__);
		if (qi->n < INC_LOGINS_MAX)
			x = &qi->l[qi->n++];
		else {
			x = &qi->l[0];
			for (size_t i = 1; i < qi->n; i++)
				if (qi->l[i].last < x->last)
					x = &qi->l[i];
			free(x->user);
		}
		x->user = xstrdup(user);
		snprintf(x->ip, sizeof(x->ip), "%s", ip);
		x->n = 0;
	}
	x->n++;
	x->last = now;
}

static void
inc_free(struct inc *in)
{
	for (size_t i = 0; i < in->nev; i++) {
		free(in->ev[i].type);
		free(in->ev[i].client);
		free(in->ev[i].user);
		free(in->ev[i].detail);
	}
	free(in->ev);
	free(in->cl);
	for (size_t i = 0; i < in->nnets; i++)
		free(in->nets[i]);
	free(in->nets);
	for (int k = 0; k < 3; k++) {
		struct inc_msg *m = k == 0 ? in->held : k == 1 ? in->queued :
		    in->left;
		size_t n = k == 0 ? in->nheld : k == 1 ? in->nqueued : in->nleft;

		for (size_t i = 0; i < n; i++) {
			free(m[i].qid);
			free(m[i].from);
			free(m[i].to);
		}
		free(m);
	}
	for (size_t i = 0; i < in->nbans; i++) {
		free(in->bans[i].cidr);
		free(in->bans[i].reason);
	}
	free(in->bans);
	for (size_t i = 0; i < in->nusers; i++)
		free(in->users[i]);
	free(in->users);
}

static void
inc_seen(struct inc *in, int64_t t)
{
	if (t <= 0)
		return;
	if (in->first == 0 || t < in->first)
		in->first = t;
	if (t > in->last)
		in->last = t;
}

/* the client row of addr, added when new (NULL past INC_CLIENTS_MAX) */
static struct inc_client *
inc_client(struct inc *in, const char *addr)
{
	uint8_t a[16];

	/* a network (a guess_ban's) or no address: not a client */
	if (addr == NULL || addr[0] == '\0' || strlen(addr) >= INC_ADDR_MAX ||
	    cidr_addr_parse(addr, a) == -1)
		return NULL;
	for (size_t i = 0; i < in->ncl; i++)
		if (strcmp(in->cl[i].addr, addr) == 0)
			return &in->cl[i];
	if (in->ncl >= INC_CLIENTS_MAX)
		return NULL;
	in->cl = grow(in->cl, &in->clcap, in->ncl, sizeof(*in->cl));
	memset(&in->cl[in->ncl], 0, sizeof(in->cl[0]));
	snprintf(in->cl[in->ncl].addr, INC_ADDR_MAX, "%s", addr);
	return &in->cl[in->ncl++];
}

static void
str_add(char ***v, size_t *n, size_t *cap, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	*v = grow(*v, cap, *n, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

/* An event of the incident: the timeline, its kind, its client. */
static void
inc_event_cb(void *arg, int64_t evid, const struct queue_event *e)
{
	struct inc *in = arg;
	struct inc_event *x;
	struct inc_client *c;

	for (size_t k = 0; k < NKINDS; k++)
		if (strcmp(e->type, inc_kinds[k].event) == 0)
			in->has[k] = 1;
	inc_seen(in, e->time);
	if (strcmp(e->type, "guess_ban") == 0 && e->client_ip[0])
		str_add(&in->nets, &in->nnets, &in->netcap, e->client_ip);
	if ((c = inc_client(in, e->client_ip)) != NULL &&
	    strcmp(e->type, "auth_fail") == 0)
		c->failures++;
	if (!in->is_user && e->user[0] && in->nusers < INC_CLIENTS_MAX)
		str_add(&in->users, &in->nusers, &in->usercap, e->user);
	in->ev = grow(in->ev, &in->evcap, in->nev, sizeof(*in->ev));
	x = &in->ev[in->nev++];
	x->id = evid;
	x->time = e->time;
	x->type = xstrdup(e->type);
	x->client = xstrdup(e->client_ip);
	x->user = xstrdup(e->user);
	x->detail = xstrdup(e->detail);
}

/* A client's event that names no account, for an account's incident. */
static void
inc_client_event_cb(void *arg, int64_t evid, const struct queue_event *e)
{
	struct inc *in = arg;

	if (e->user[0] != '\0')
		return;		/* its own account's are there already */
	in->events++;
	inc_event_cb(arg, evid, e);
}

static int
inc_event_order(const void *a, const void *b)
{
	const struct inc_event *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
inc_events(struct inc *in, struct queue_db_ctl *dc)
{
	struct queue_events_query q;
	size_t nmain;

	memset(&q, 0, sizeof(q));
	q.since = in->since;
	q.limit = INC_TIMELINE_MAX;
	if (in->is_user)
		q.user = in->name;
	else
		q.client_cidr = in->name;
	if ((in->events = queue_db_ctl_events_count(dc, &q)) < 0 ||
	    queue_db_ctl_events(dc, &q, inc_event_cb, in) == -1)
		return -1;
	if (!in->is_user)
		return 0;
	/* what its clients did without naming it: relay attempts, limits */
	nmain = in->ncl;
	for (size_t i = 0; i < nmain; i++) {
		char addr[INC_ADDR_MAX];

		snprintf(addr, sizeof(addr), "%s", in->cl[i].addr);
		q.user = NULL;
		q.client_cidr = addr;
		if (queue_db_ctl_events(dc, &q, inc_client_event_cb, in) == -1)
			return -1;
	}
	if (in->nev > 1)
		qsort(in->ev, in->nev, sizeof(*in->ev), inc_event_order);
	if (in->nev > INC_TIMELINE_MAX) {
		size_t cut = in->nev - INC_TIMELINE_MAX;

		for (size_t i = 0; i < cut; i++) {
			free(in->ev[i].type);
			free(in->ev[i].client);
			free(in->ev[i].user);
			free(in->ev[i].detail);
		}
		memmove(in->ev, in->ev + cut, INC_TIMELINE_MAX *
		    sizeof(*in->ev));
		in->nev = INC_TIMELINE_MAX;
	}
	return 0;
}

static int
inc_in_net(const struct inc *in, const char *addr)
{
	uint8_t a[16];

	return cidr_addr_parse(addr, a) == 0 && cidr_contains(&in->net, a);
}

/* the logins remembered: of the account, or from the network */
static void
inc_logins(struct inc *in, const struct queue_incident *qi)
{
	for (size_t i = 0; qi != NULL && i < qi->n; i++) {
		const struct inc_login *l = &qi->l[i];
		struct inc_client *c;

		if (l->last < in->since)
			continue;
		if (in->is_user ? strcmp(l->user, in->name) != 0 :
		    !inc_in_net(in, l->ip))
			continue;
		if ((c = inc_client(in, l->ip)) != NULL)
			c->logins += l->n;
		if (!in->is_user)
			str_add(&in->users, &in->nusers, &in->usercap, l->user);
		inc_seen(in, l->last);
	}
}

static void
inc_msg_add(struct inc_msg **v, size_t *n, size_t *cap, const char *qid,
    const char *from, const char *to, int64_t t)
{
	struct inc_msg *m;

	*v = grow(*v, cap, *n, sizeof(**v));
	m = &(*v)[(*n)++];
	m->qid = xstrdup(qid);
	m->from = xstrdup(from);
	m->to = xstrdup(to);
	m->time = t;
}

static void
inc_queue_cb(void *arg, const struct queue_list_row *r)
{
	struct inc *in = arg;

	inc_seen(in, r->created);
	if (r->states & (1 << QUEUE_RCPT_HELD))
		inc_msg_add(&in->held, &in->nheld, &in->heldcap, r->qid,
		    r->sender, r->rcpts, r->created);
	else if (r->states & ((1 << QUEUE_RCPT_QUEUED) |
	    (1 << QUEUE_RCPT_DEFERRED)))
		inc_msg_add(&in->queued, &in->nqueued, &in->queuedcap, r->qid,
		    r->sender, r->rcpts, r->created);
}

static void
inc_sent_cb(void *arg, const struct queue_sent_row *r)
{
	struct inc *in = arg;

	inc_seen(in, r->time);
	in->left_rcpts += r->nrcpt;
	inc_msg_add(&in->left, &in->nleft, &in->leftcap, r->qid, r->sender,
	    r->rcpts, r->time);
}

static int
inc_queue(struct inc *in, struct queue_db_ctl *dc)
{
	struct ctl_filter f;
	int rc;

	memset(&f, 0, sizeof(f));
	if (in->is_user)
		snprintf(f.user, sizeof(f.user), "%s", in->name);
	else
		snprintf(f.client, sizeof(f.client), "%s", in->name);
	if (!in->counts_only && queue_db_ctl_list(dc, &f, in->now,
	    INC_ROWS_MAX, inc_queue_cb, in) == -1)
		return -1;
	in->held_total = in->nheld;
	in->queued_total = in->nqueued;
	/* the lists are cut at INC_ROWS_MAX, the list of incidents has
	 * none: count apart (queued then counts a message with held and
	 * waiting recipients twice) */
	if (in->counts_only || in->nheld + in->nqueued >= INC_ROWS_MAX) {
		f.states = 1u << QUEUE_RCPT_HELD;
		if ((in->held_total = queue_db_ctl_count(dc, &f, in->now)) < 0)
			return -1;
		f.states = (1u << QUEUE_RCPT_QUEUED) |
		    (1u << QUEUE_RCPT_DEFERRED);
		if ((in->queued_total = queue_db_ctl_count(dc, &f,
		    in->now)) < 0)
			return -1;
	}
	rc = queue_db_ctl_sent(dc, in->since, in->is_user ? in->name : NULL,
	    in->is_user ? NULL : in->name, INC_ROWS_MAX, inc_sent_cb, in);
	if (rc == -1)
		return -1;
	in->left_known = rc == 0;
	return 0;
}

/* a ban over the incident: its networks, or over one of its clients */
static void
inc_ban_cb(void *arg, const struct queue_ban *b)
{
	struct inc *in = arg;
	struct cidr bn;
	const char *why;
	int ours = 0;
	struct inc_ban *x;

	if (cidr_parse(b->cidr, &bn, &why) == -1)
		return;
	for (size_t i = 0; !ours && i < in->nnets; i++)
		ours = strcmp(in->nets[i], b->cidr) == 0;
	for (size_t i = 0; !ours && i < in->ncl; i++) {
		uint8_t a[16];

		ours = cidr_addr_parse(in->cl[i].addr, a) == 0 &&
		    cidr_contains(&bn, a);
	}
	/* a client incident: the ban covers its network or lies in it */
	if (!ours && !in->is_user)
		ours = cidr_contains(&bn, in->net.addr) ||
		    cidr_contains(&in->net, bn.addr);
	if (!ours)
		return;
	in->bans = grow(in->bans, &in->bancap, in->nbans, sizeof(*in->bans));
	x = &in->bans[in->nbans++];
	x->cidr = xstrdup(b->cidr);
	x->reason = xstrdup(b->reason[0] ? b->reason : b->origin);
	x->until = b->expires;
	x->created = b->created;
	if (!in->is_user)
		inc_seen(in, b->created);
}

/* the account's state, or a client's watch key's */
static int
inc_state(struct inc *in, struct queue_db_ctl *dc)
{
	char key[CTL_STR_MAX + 8];
	int rc;

	if (in->is_user)
		snprintf(key, sizeof(key), "%s", in->name);
	else
		snprintf(key, sizeof(key), "ip:%s", in->name);
	if ((rc = queue_db_ctl_user_get(dc, key, in->state,
	    sizeof(in->state))) == -1)
		return -1;
	if (rc == 1)
		snprintf(in->state, sizeof(in->state), "active");
	if (!in->is_user && strcmp(in->state, "active") == 0 && in->nbans > 0)
		snprintf(in->state, sizeof(in->state), "banned");
	return 0;
}

/* what the incident is called: its state, else its strongest event */
static const char *
inc_kind(const struct inc *in)
{
	if (strcmp(in->state, "suspended") == 0 ||
	    strcmp(in->state, "held") == 0)
		return in->state;
	for (size_t k = 0; k < NKINDS; k++)
		if (in->has[k])
			return inc_kinds[k].kind;
	if (in->nbans > 0)
		return "ban";
	return "events";
}

/* Gather the incident called id since in->since. 0 or -1. */
static int
inc_gather(struct inc *in, struct queue_incident *qi, struct queue_db_ctl *dc,
    const char *id)
{
	const char *kind, *value, *why;
	char err[256];

	snprintf(in->id, sizeof(in->id), "%s", id);
	if (ctl_incident_id(in->id, &kind, &value, err, sizeof(err)) == -1)
		fatalx("%s: unchecked incident %s", __func__, id);
	in->is_user = strcmp(kind, "user") == 0;
	in->name = value;
	if (!in->is_user && cidr_parse(value, &in->net, &why) == -1)
		fatalx("%s: unchecked incident %s", __func__, id);
	if (inc_events(in, dc) == -1)
		return -1;
	inc_logins(in, qi);
	if (inc_queue(in, dc) == -1 ||
	    queue_db_ctl_ban_list(dc, in->now, inc_ban_cb, in) == -1 ||
	    inc_state(in, dc) == -1)
		return -1;
	return 0;
}

/*
 * The answer of CTL_OP_INCIDENT.
 */

static const char *
iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void
kv(struct ipc_msg *m, const char *key, const char *value)
{
	ctl_ans_row(m);
	ipc_put_str(m, key);
	ipc_put_str(m, value);
}

static void
kv_int(struct ipc_msg *m, const char *key, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	kv(m, key, buf);
}

static int64_t
inc_failures(const struct inc *in)
{
	int64_t n = 0;

	for (size_t i = 0; i < in->ncl; i++)
		n += in->cl[i].failures;
	return n;
}

static int64_t
inc_logins_total(const struct inc *in)
{
	int64_t n = 0;

	for (size_t i = 0; i < in->ncl; i++)
		n += in->cl[i].logins;
	return n;
}

static void
inc_summary(struct ipc_msg *m, const struct inc *in)
{
	static const char *const cols[] = { "key", "value" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR, CTL_KIND_STR };
	char t[64], users[1024];
	size_t n = 0;

	ctl_ans_table(m, "summary", 2, cols, kinds);
	kv(m, "id", in->id);
	kv(m, "kind", inc_kind(in));
	kv(m, "state", in->state);
	kv(m, "since", iso_time(in->since, t, sizeof(t)));
	kv(m, "first", iso_time(in->first, t, sizeof(t)));
	kv(m, "last", iso_time(in->last, t, sizeof(t)));
	kv_int(m, "events", in->events);
	kv_int(m, "auth_failures", inc_failures(in));
	kv_int(m, "clients", (int64_t)in->ncl);
	kv_int(m, "logins", inc_logins_total(in));
	kv_int(m, "held", in->held_total);
	kv_int(m, "queued", in->queued_total);
	if (in->left_known) {
		kv_int(m, "left", (int64_t)in->nleft);
		kv_int(m, "left_recipients", in->left_rcpts);
		kv(m, "left_source", "sent_log");
	} else {
		kv(m, "left", "unknown");
		kv(m, "left_source", "none: this queue.db keeps no sent_log");
	}
	kv_int(m, "bans", (int64_t)in->nbans);
	if (!in->is_user) {
		users[0] = '\0';
		for (size_t i = 0; i < in->nusers && n < sizeof(users); i++)
			n += (size_t)snprintf(users + n, sizeof(users) - n, "%s%s",
			    i ? " " : "", in->users[i]);
		kv(m, "users", users);
	}
	if ((int64_t)in->nev < in->events)
		kv_int(m, "timeline_cut", in->events - (int64_t)in->nev);
}

static void
inc_msgs(struct ipc_msg *m, const char *name, const struct inc_msg *v,
    size_t n)
{
	static const char *const cols[] = { "qid", "from", "to", "time" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
	    CTL_KIND_STR, CTL_KIND_TIME };

	ctl_ans_table(m, name, 4, cols, kinds);
	for (size_t i = 0; i < n; i++) {
		ctl_ans_row(m);
		ipc_put_str(m, v[i].qid);
		ipc_put_str(m, v[i].from[0] ? v[i].from : "<>");
		ipc_put_str(m, v[i].to);
		ipc_put_i64(m, v[i].time);
	}
}

static void
inc_show(struct ipc_msg *m, const struct inc *in)
{
	static const char *const tl_cols[] = { "time", "type", "client",
	    "user", "detail" };
	static const enum ctl_kind tl_kinds[] = { CTL_KIND_TIME, CTL_KIND_STR,
	    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR };
	static const char *const ban_cols[] = { "cidr", "until", "reason" };
	static const enum ctl_kind ban_kinds[] = { CTL_KIND_STR, CTL_KIND_TIME,
	    CTL_KIND_STR };
	static const char *const cl_cols[] = { "address", "failures",
	    "logins" };
	static const enum ctl_kind cl_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
	    CTL_KIND_INT };

	inc_summary(m, in);
	ctl_ans_table(m, "timeline", 5, tl_cols, tl_kinds);
	for (size_t i = 0; i < in->nev; i++) {
		ctl_ans_row(m);
		ipc_put_i64(m, in->ev[i].time);
		ipc_put_str(m, in->ev[i].type);
		ipc_put_str(m, in->ev[i].client);
		ipc_put_str(m, in->ev[i].user);
		ipc_put_str(m, in->ev[i].detail);
	}
	inc_msgs(m, "held", in->held, in->nheld);
	inc_msgs(m, "queued", in->queued, in->nqueued);
	inc_msgs(m, "left", in->left, in->nleft);
	ctl_ans_table(m, "bans", 3, ban_cols, ban_kinds);
	for (size_t i = 0; i < in->nbans; i++) {
		ctl_ans_row(m);
		ipc_put_str(m, in->bans[i].cidr);
		ipc_put_i64(m, in->bans[i].until);
		ipc_put_str(m, in->bans[i].reason);
	}
	ctl_ans_table(m, "clients", 3, cl_cols, cl_kinds);
	for (size_t i = 0; i < in->ncl; i++) {
		ctl_ans_row(m);
		ipc_put_str(m, in->cl[i].addr);
		ipc_put_i64(m, in->cl[i].failures);
		ipc_put_i64(m, in->cl[i].logins);
	}
}

/*
 * The list of CTL_OP_INCIDENTS: the candidates' names, deduplicated.
 */
struct inc_names {
	char	**v;
	size_t	  n, cap;
	int64_t	  since, now;
};

static void
names_add(struct inc_names *l, const char *kind, const char *name)
{
	char id[CTL_STR_MAX], err[256];
	const char *k, *v;
	size_t len;

	if (l->n >= INC_LIST_MAX || name[0] == '\0')
		return;
	/* a single address as it is written, not as a /32 or /128 */
	len = strlen(name);
	if (strcmp(kind, "client") == 0 && ((len > 3 &&
	    strcmp(name + len - 3, "/32") == 0 && strchr(name, ':') == NULL) ||
	    (len > 4 && strcmp(name + len - 4, "/128") == 0)))
		len -= strchr(name, ':') ? 4 : 3;
	if ((size_t)snprintf(id, sizeof(id), "%s:%.*s", kind, (int)len, name) >=
	    sizeof(id) || ctl_incident_id(id, &k, &v, err, sizeof(err)) == -1)
		return;
	str_add(&l->v, &l->n, &l->cap, id);
}

/* a watch key: an account, or ip:ADDRESS[/SENDER] for a relay client */
static void
names_key(struct inc_names *l, const char *key)
{
	char addr[INC_ADDR_MAX];

	if (strncmp(key, "ip:", 3) != 0) {
		names_add(l, "user", key);
		return;
	}
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(key + 3, "/"),
	    key + 3);
	names_add(l, "client", addr);
}

static void
names_state_cb(void *arg, const char *user, const char *state)
{
	if (strcmp(state, "active") != 0)
		names_key(arg, user);
}

static void
names_event_cb(void *arg, int64_t evid, const struct queue_event *e)
{
	if (e->user[0])
		names_key(arg, e->user);
}

static void
names_ban_cb(void *arg, const struct queue_ban *b)
{
	/* guess_ban's bans are parts of their account's incident */
	if (strcmp(b->origin, "guess") != 0)
		names_add(arg, "client", b->cidr);
}

static int
inc_list(struct queue_incident *qi, struct queue_db_ctl *dc,
    struct inc_names *l, struct ipc_msg *m)
{
	static const char *const cols[] = { "id", "kind", "first", "last",
	    "events", "held", "left", "state" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
	    CTL_KIND_TIME, CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT,
	    CTL_KIND_INT, CTL_KIND_STR };
	struct queue_events_query q;

	if (queue_db_ctl_user_states(dc, names_state_cb, l) == -1)
		return -1;
	for (size_t k = 0; k < NKINDS; k++) {
		if (!inc_kinds[k].lists)
			continue;
		memset(&q, 0, sizeof(q));
		q.since = l->since;
		q.type = inc_kinds[k].event;
		q.limit = CTL_LIST_MAX;
		if (queue_db_ctl_events(dc, &q, names_event_cb, l) == -1)
			return -1;
	}
	if (queue_db_ctl_ban_list(dc, l->now, names_ban_cb, l) == -1)
		return -1;
	ctl_ans_table(m, "incidents", 8, cols, kinds);
	for (size_t i = 0; i < l->n; i++) {
		struct inc in;

		memset(&in, 0, sizeof(in));
		in.now = l->now;
		in.since = l->since;
		in.counts_only = 1;
		if (inc_gather(&in, qi, dc, l->v[i]) == -1) {
			inc_free(&in);
			return -1;
		}
		ctl_ans_row(m);
		ipc_put_str(m, in.id);
		ipc_put_str(m, inc_kind(&in));
		ipc_put_i64(m, in.first);
		ipc_put_i64(m, in.last);
		ipc_put_i64(m, in.events);
		ipc_put_i64(m, in.held_total);
		ipc_put_i64(m, in.left_known ? (int64_t)in.nleft : -1);
		ipc_put_str(m, in.state);
		inc_free(&in);
	}
	return 0;
}

/* queue_incident_answer - the answer to INCIDENTS or INCIDENT */
int
queue_incident_answer(struct queue_incident *qi, struct queue_db_ctl *dc,
    const struct ctl_req *q, int64_t now, struct ipc_msg *ans)
{
	int64_t since = now - (q->since > 0 ? q->since : INC_SINCE_DEFAULT);
	int rc;

	ctl_ans_begin(ans, CTL_OK, "");
	if (q->op == CTL_OP_INCIDENTS) {
		struct inc_names l;

		memset(&l, 0, sizeof(l));
		l.since = since;
		l.now = now;
		rc = inc_list(qi, dc, &l, ans);
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
	} else {
		struct inc in;

		memset(&in, 0, sizeof(in));
		in.now = now;
		in.since = since;
		if ((rc = inc_gather(&in, qi, dc, q->a)) == 0)
			inc_show(ans, &in);
		inc_free(&in);
	}
	if (rc == -1) {
		ipc_msg_discard(ans);
		return -1;
	}
	ctl_ans_end(ans);
	return 0;
}
