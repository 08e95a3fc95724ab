/*
 * queue_proc.c - the queue process.
 *
 * The one process that owns queue.db. It stores the messages smtp
 * hands over and answers each only once its COMMIT is on disk (250
 * means durable), records security events, and delivers mail for
 * local mailboxes into Maildirs.
 *
 * Group commit: a PROTO_QUEUE_STORE is parsed and appended to a
 * pending list, never committed from the message callback. The commit
 * is an event made active from there, so it runs once the read
 * callback has handed over every frame already read; all of them go
 * into one transaction. While that COMMIT waits for fsync, new frames
 * pile up in the socket and form the next batch. A read callback takes
 * at most 1 MiB (ipc.c), so while the smtp socket still holds unread
 * bytes the commit waits one more loop turn (a zero timer), up to
 * QP_BATCH_WAIT_MS after the oldest pending message or QP_BATCH_BYTES of
 * messages.
 *
 * Local delivery runs from its own timer, apart from the store path:
 * up to QUEUE_DELIVER_BATCH recipients or QP_DELIVER_BUDGET_MS a round
 * (its fsyncs block the loop; while messages wait to be stored it steps
 * aside, then runs shorter rounds, since 250 waits on the loop), then it
 * reschedules itself while work remains, or sleeps until the next
 * deferred recipient is due. At start it picks up whatever a crash left
 * behind.
 *
 * Exactly once: a recipient is marked delivered only after its file is
 * in new/ and new/ is fsync'ed, and the file is named after the
 * recipient (maildir_key), so an attempt after a crash in between finds
 * it and writes nothing. Rows are fetched in (next_attempt, id) order
 * and new ones sort last, so the deliveries a crash (or a failed mark)
 * may have cut short are among the first fetch afterwards: those, and
 * only those, are looked for in cur/ too (qp->unsure), where a reader
 * may have moved them meanwhile; the rest cost one stat of new/.
 * A temporary failure (a full disk, EIO, permissions) defers the
 * recipient QUEUE_RETRY_SECS, until max_lifetime has passed; then, or at
 * once for a permanent one (maildir_permanent), the recipient fails,
 * with a bounce or a dead letter (sched_fail) and an event.
 *
 * Public: queue_proc_main.
 *
 * SECURITY: frames come from sibling processes only; a frame that does
 * not parse exactly (wrong field order, short, bytes left over) or a
 * message type a peer may not send is a bug there: fatalx. Strings
 * from the network (addresses, HELO, AUTH user, event details) are
 * escaped before they are logged; mailbox names are checked again by
 * maildir_deliver_once before they make a path.
 * LIMITS: a string field at most PROTO_STR_MAX bytes, QUEUE_BATCH_MAX
 * messages a commit. A large message arrives in PROTO_QUEUE_CHUNKs kept
 * in an unlinked temporary file in spool_dir, and is read back into
 * memory for its commit only: smtp's max_message_size bounds it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "../lib/clock.h"
#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/fdio.h"
#include "lib/log.h"
#include "queue/maildir.h"
#include "queue/queue_db.h"
#include "daemon/proc.h"
#include "queue/queue_proc.h"
#include "queue/queue_verify.h"
#include "queue/queue_watch.h"
#include "queue/sched.h"
#include "queue/queue_ctl.h"
#include "queue/queue_dnsbl.h"
#include "queue/queue_route.h"
#include "queue/queue_logins.h"
#include "queue/queue_series.h"
#include "control/control_log.h"

#define QP_ESC		512	/* escaped copy of a field for the log */
#define QP_BATCH_WAIT_MS 10	/* longest a commit waits for unread frames */
#define QP_BATCH_BYTES	(16u * 1024 * 1024)	/* or for this much mail */
#define QP_DELIVER_BUDGET_MS 50	/* longest one delivery round blocks the loop */
#define QP_DELIVER_BUSY_MS 5	/* the same while smtp has frames waiting */
#define QP_DELIVER_YIELD_MS 100	/* delivery steps aside for stores this long */

/* One recipient of a pending message; strings owned. */
struct qp_rcpt {
	char	*address;
	char	*orcpt;
	char	*mailbox;
	uint8_t	 notify;
};

/* A PROTO_QUEUE_STORE waiting for the next commit. Owned by qp->stores. */
struct qp_store {
	TAILQ_ENTRY(qp_store) entry;
	uint64_t	 id;		/* smtp's transaction id */
	char		*sender;
	char		*helo;
	char		*client_ip;
	char		*auth_user;
	char		*listener;
	char		*envid;
	char		*qid;		/* the id smtp gave the client */
	uint8_t		 ret;
	uint8_t		 flags;
	struct qp_rcpt	*rcpt;
	struct queue_rcpt *qrcpt;	/* views into rcpt, for queue_db */
	size_t		 nrcpt;
	size_t		 nlocal;	/* recipients with a mailbox */
	uint8_t		*data;
	size_t		 len;
};

/*
 * A large message arriving in parts (PROTO_QUEUE_CHUNK): its bytes so
 * far, in an unlinked temporary file below spool_dir, so that neither
 * process holds it in memory while it is received. Its PROTO_QUEUE_STORE
 * reads it back for the commit; an abort or smtp going away closes it
 * and nothing is left. Owned by qp->partials.
 */
struct qp_partial {
	TAILQ_ENTRY(qp_partial) entry;
	uint64_t	 id;		/* smtp's transaction id */
	int		 fd;		/* owned; -1 when it could not be made */
	size_t		 len;
	int		 error;		/* errno of a failed write, else 0 */
};

/* A PROTO_EVENT waiting for the next commit. Owned by qp->events. */
struct qp_event {
	TAILQ_ENTRY(qp_event) entry;
	struct queue_event ev;		/* its strings are owned here */
};

/* The process state; one, owned by queue_proc_main. */
struct queue_proc {
	struct conf		*conf;
	int			 conf_owned;	/* from a reload: ours to free */
	struct event_base	*base;		/* not owned */
	struct queue_db		*db;
	struct ipc_peer		*parent;
	struct ipc_peer		*smtp;
	struct ipc_peer		*lookup;	/* events from the lookup process */
	int			 smtp_fd;	/* owned by smtp; for FIONREAD */
	int			 smtp_closed;

	TAILQ_HEAD(, qp_store)	 stores;
	size_t			 nstores;
	size_t			 store_bytes;	/* sum of their sizes */
	int64_t			 store_first_ms; /* when the oldest arrived */
	TAILQ_HEAD(, qp_event)	 events;
	TAILQ_HEAD(, qp_partial) partials;	/* messages arriving in parts */
	struct event		*ev_commit;	/* active or 0 timer: group commit */

	struct event		*ev_deliver;	/* local delivery timer */
	int64_t			 deliver_at;	/* when ev_deliver fires */
	int64_t			 deliver_yield_ms; /* stepping aside since */
	struct queue_local	 local[QUEUE_DELIVER_BATCH];
	int			 recovering;	/* the first fetch is still to come */
	int64_t			*unsure;	/* recipients whose file may be */
	size_t			 nunsure, capunsure; /* in the Maildir already */

	struct sched		*sched;		/* outbound delivery, sched.c */
	struct queue_ctl	*ctl;		/* control operations, queue_ctl.c */
	struct queue_watch	*watch;		/* compromised accounts, queue_watch.c */
	struct queue_dnsbl	*dnsbl;		/* own blacklist listings */
	struct queue_series	*series;	/* per-minute counts, queue_series.c */
	struct queue_logins	*logins;	/* per-login metrics, queue_logins.c */
	struct event		*ev_events;	/* keeps the events table bounded */
	int			 stopping;
	int64_t			 stop_deadline;
	struct event		*ev_drain;	/* at exit: wait for smtp to read */
	int64_t			 queued;	/* messages, as last counted */
	int64_t			 queued_at_ms;	/* when (0: never) */
	int64_t			 queued_ttl_ms;	/* how long that count serves */

	/* scratch for one commit, allocated once */
	struct queue_msg	 batch[QUEUE_BATCH_MAX];
	struct queue_store_result res[QUEUE_BATCH_MAX];
};

static char *
qp_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal("%s: strdup", __func__);
	return d;
}

static void
qp_store_free(struct qp_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].address);
		free(s->rcpt[i].orcpt);
		free(s->rcpt[i].mailbox);
	}
	free(s->rcpt);
	free(s->qrcpt);
	free(s->sender);
	free(s->helo);
	free(s->client_ip);
	free(s->auth_user);
	free(s->listener);
	free(s->envid);
	free(s->data);
	free(s);
}

static void
qp_event_free(struct qp_event *e)
{
	if (e == NULL)
		return;
	free((char *)e->ev.type);
	free((char *)e->ev.client_ip);
	free((char *)e->ev.user);
	free((char *)e->ev.session);
	free((char *)e->ev.detail);
	free(e);
}

static void
qp_reply(struct queue_proc *qp, uint64_t id, int status, const char *text)
{
	struct proto_stored st;
	struct ipc_msg m;

	if (qp->smtp_closed)
		return;
	st.status = (uint8_t)status;
	st.text = text;
	proto_stored_enc(&m, id, &st);
	ipc_send(qp->smtp, &m);
}

static const char *
qp_status_text(int status)
{
	switch (status) {
	case PROTO_STORE_DISKFULL:
		return "queue disk full";
	case PROTO_STORE_TEMPFAIL:
		return "queue temporarily unavailable";
	default:
		return "queue error";
	}
}

/* Make the group commit run once the current callbacks are done. */
static void
qp_commit_soon(struct queue_proc *qp)
{
	event_active(qp->ev_commit, 0, 0);
}

/* Bytes smtp has written that we have not read yet (0 on error). */
static int
qp_smtp_unread(struct queue_proc *qp)
{
	int unread = 0;

	if (qp->smtp_closed || ioctl(qp->smtp_fd, FIONREAD, &unread) == -1)
		return 0;
	return unread;
}

/* Whether messages wait to be read or committed. */
static int
qp_store_waiting(struct queue_proc *qp)
{
	return qp->nstores > 0 || qp_smtp_unread(qp) > 0;
}

/*
 * Whether the commit should wait one loop turn for more frames: smtp
 * has written bytes we have not read yet, and the batch is neither old
 * nor big. The zero timer runs after the next read callback.
 */
static int
qp_commit_wait(struct queue_proc *qp)
{
	static const struct timeval zero = { 0, 0 };

	if (qp->nstores == 0 || qp->nstores >= QUEUE_BATCH_MAX ||
	    qp->store_bytes >= QP_BATCH_BYTES ||
	    clock_mono_ms() - qp->store_first_ms >= QP_BATCH_WAIT_MS ||
	    qp_smtp_unread(qp) <= 0)
		return 0;
	evtimer_add(qp->ev_commit, &zero);
	return 1;
}

/* (Re)arm the delivery timer to fire in secs, unless it fires sooner. */
static void
qp_deliver_in(struct queue_proc *qp, int64_t secs)
{
	struct timeval tv;
	int64_t now = time(NULL);

	if (qp->stopping)
		return;
	if (secs < 0)
		secs = 0;
	if (evtimer_pending(qp->ev_deliver, NULL) && qp->deliver_at <= now + secs)
		return;
	qp->deliver_at = now + secs;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = 0;
	evtimer_add(qp->ev_deliver, &tv);
}

static void
qp_partial_free(struct queue_proc *qp, struct qp_partial *p)
{
	TAILQ_REMOVE(&qp->partials, p, entry);
	if (p->fd != -1)
		close(p->fd);
	free(p);
}

static struct qp_partial *
qp_partial_find(struct queue_proc *qp, uint64_t id)
{
	struct qp_partial *p;

	TAILQ_FOREACH(p, &qp->partials, entry)
		if (p->id == id)
			return p;
	return NULL;
}

/* A new temporary file for a message arriving in parts; -1 on error. */
static int
qp_partial_open(struct queue_proc *qp)
{
	char path[CONF_PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/.partial.XXXXXX", qp->conf->spool_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	(void)unlink(path);	/* gone with the descriptor, even after a crash */
	return fd;
}

/* PROTO_QUEUE_CHUNK: append to the message's temporary file. */
static void
qp_chunk_recv(struct queue_proc *qp, uint64_t id, struct ipc_reader *r)
{
	struct qp_partial *p;
	struct proto_chunk c;
	const uint8_t *data;
	size_t len;

	if (proto_chunk_dec(r, &c) != 0)
		fatalx("%s: malformed chunk from smtp", __func__);
	data = c.data;
	len = c.len;
	if ((p = qp_partial_find(qp, id)) == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			fatal("%s: calloc", __func__);
		p->id = id;
		if ((p->fd = qp_partial_open(qp)) == -1)
			p->error = errno;
		TAILQ_INSERT_TAIL(&qp->partials, p, entry);
	}
	if (p->error != 0)
		return;		/* its STORE gets the temporary failure */
	if (fdio_write_all(p->fd, data, len) == -1) {
		p->error = errno;
		log_err(LOG_CAT_QUEUE, "event=store_failed reason=\"%s\" "
		    "size=%zu", strerror(errno), p->len + len);
		return;
	}
	p->len += len;
}

/* PROTO_QUEUE_ABORT: the message arriving in parts is abandoned. */
static void
qp_abort_recv(struct queue_proc *qp, uint64_t id, struct ipc_reader *r)
{
	struct qp_partial *p;

	if (proto_empty_dec(r) != 0)
		fatalx("%s: malformed abort from smtp", __func__);
	if ((p = qp_partial_find(qp, id)) != NULL)
		qp_partial_free(qp, p);
}

/*
 * The whole message of a STORE: its header section, then the body's
 * parts in its temporary file (if any), then the rest of the body in the
 * STORE itself. NULL and errno set on error.
 */
static uint8_t *
qp_store_body(struct queue_proc *qp, uint64_t id, const uint8_t *head,
    size_t headlen, const uint8_t *last, size_t lastlen, size_t *len)
{
	struct qp_partial *p = qp_partial_find(qp, id);
	size_t have = p ? p->len : 0, got = 0;
	uint8_t *buf = NULL, *body;
	ssize_t n;
	int err = 0;

	if (p != NULL && p->error != 0)
		err = p->error;
	else if (have > SIZE_MAX - lastlen - headlen - 1 ||
	    (buf = malloc(headlen + have + lastlen + 1)) == NULL)
		err = ENOMEM;
	body = buf + headlen;
	while (err == 0 && got < have) {
		n = pread(p->fd, body + got, have - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			err = n == 0 ? EIO : errno;
		else
			got += (size_t)n;
	}
	if (p != NULL)
		qp_partial_free(qp, p);
	if (err != 0) {
		free(buf);
		errno = err;
		return NULL;
	}
	memcpy(buf, head, headlen);
	memcpy(body + have, last, lastlen);
	*len = headlen + have + lastlen;
	return buf;
}

/*
 * PROTO_QUEUE_STORE: parse in the field order of proto.h and append to
 * the pending list. An allocation failure for the message is answered
 * with a temporary failure at once; nothing else is.
 */
static void
qp_store_recv(struct queue_proc *qp, uint64_t id, struct ipc_reader *r)
{
	struct proto_store h;
	struct proto_store_rcpt prc;
	struct qp_store *s;
	const uint8_t *data, *head;
	uint32_t nrcpt;
	size_t len, headlen;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s: calloc", __func__);
	s->id = id;
	/* a count of recipients the frame cannot hold lies */
	if (proto_store_dec(r, &h) == -1)
		fatalx("%s: malformed message from smtp (%" PRIu32
		    " recipients)", __func__, h.nrcpt);
	s->sender = qp_strdup(h.sender);
	s->helo = qp_strdup(h.helo);
	s->client_ip = qp_strdup(h.client_ip);
	s->auth_user = qp_strdup(h.auth_user);
	s->listener = qp_strdup(h.listener);
	s->envid = qp_strdup(h.envid);
	s->qid = qp_strdup(h.qid);
	s->ret = h.ret;
	s->flags = h.flags;
	nrcpt = h.nrcpt;
	if ((s->rcpt = calloc(nrcpt, sizeof(*s->rcpt))) == NULL ||
	    (s->qrcpt = calloc(nrcpt, sizeof(*s->qrcpt))) == NULL)
		fatal("%s: calloc", __func__);
	for (uint32_t i = 0; i < nrcpt; i++) {
		struct qp_rcpt *rc = &s->rcpt[i];

		(void)proto_store_rcpt_dec(r, &prc);	/* checked at the end */
		rc->address = qp_strdup(prc.address);
		rc->orcpt = qp_strdup(prc.orcpt);
		rc->notify = prc.notify;
		rc->mailbox = qp_strdup(prc.mailbox);
		s->nrcpt++;
		s->qrcpt[i].address = rc->address;
		s->qrcpt[i].orcpt = rc->orcpt;
		s->qrcpt[i].notify = rc->notify;
		s->qrcpt[i].mailbox = rc->mailbox;
		if (rc->mailbox[0] != '\0')
			s->nlocal++;
	}
	if (proto_store_head_dec(r, &head, &headlen) != 0 ||
	    proto_body_dec(r, &data, &len) != 0)
		fatalx("%s: malformed message from smtp", __func__);

	if ((s->data = qp_store_body(qp, id, head, headlen, data, len,
	    &s->len)) == NULL) {
		int diskfull = errno == ENOSPC || errno == EDQUOT;

		log_err(LOG_CAT_QUEUE, "event=store_failed reason=\"%s\" size=%zu",
		    strerror(errno), len);
		qp_reply(qp, id, diskfull ? PROTO_STORE_DISKFULL :
		    PROTO_STORE_TEMPFAIL, diskfull ? "queue disk full" :
		    "cannot store the message");
		qp_store_free(s);
		return;
	}
	len = s->len;
	if (qp->nstores == 0)
		qp->store_first_ms = clock_mono_ms();
	TAILQ_INSERT_TAIL(&qp->stores, s, entry);
	qp->nstores++;
	qp->store_bytes += len;
	qp_commit_soon(qp);
}

/* PROTO_EVENT: log now, insert with the next commit. */
static void
qp_event_recv(struct queue_proc *qp, struct ipc_reader *r)
{
	struct proto_event pe;
	struct qp_event *e;
	char t[64], c[QP_ESC], u[QP_ESC], s[QP_ESC], d[QP_ESC];

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("%s: calloc", __func__);
	if (proto_event_dec(r, &pe) != 0)
		fatalx("%s: malformed event", __func__);
	e->ev.time = pe.time;
	e->ev.type = qp_strdup(pe.type);
	e->ev.client_ip = qp_strdup(pe.client_ip);
	e->ev.user = qp_strdup(pe.user);
	e->ev.session = qp_strdup(pe.session);
	e->ev.detail = qp_strdup(pe.detail);

	log_notice(LOG_CAT_POLICY,
	    "event=%s client=%s user=%s session=%s detail=\"%s\"",
	    log_escape_bare(t, sizeof(t), e->ev.type, strlen(e->ev.type)),
	    e->ev.client_ip[0] ? log_escape_bare(c, sizeof(c),
	    e->ev.client_ip, strlen(e->ev.client_ip)) : "-",
	    /* a name tried at AUTH is the client's: a space too is escaped */
	    e->ev.user[0] ? log_escape_bare(u, sizeof(u), e->ev.user,
	    strlen(e->ev.user)) : "-",
	    e->ev.session[0] ? log_escape_bare(s, sizeof(s), e->ev.session,
	    strlen(e->ev.session)) : "-",
	    log_escape(d, sizeof(d), e->ev.detail, strlen(e->ev.detail)));
	TAILQ_INSERT_TAIL(&qp->events, e, entry);
	qp_commit_soon(qp);
	if (strcmp(e->ev.type, "auth_fail") == 0)
		queue_logins_auth_fail(qp->logins, e->ev.user, e->ev.client_ip);
}

/* Insert the pending events, in one transaction of their own. */
static void
qp_commit_events(struct queue_proc *qp)
{
	struct queue_event ev[64];
	struct qp_event *e;
	size_t n;

	while (!TAILQ_EMPTY(&qp->events)) {
		n = 0;
		TAILQ_FOREACH(e, &qp->events, entry) {
			if (n == sizeof(ev) / sizeof(ev[0]))
				break;
			ev[n++] = e->ev;
		}
		/* a failure was logged; the events are in the log anyway */
		(void)queue_db_event_add(qp->db, ev, n);
		while (n-- > 0) {
			e = TAILQ_FIRST(&qp->events);
			TAILQ_REMOVE(&qp->events, e, entry);
			qp_event_free(e);
		}
	}
}

/*
 * PROTO_AUTH_LOGIN: judged now, before any message of the session (they
 * come after it on this channel). The session's AUTH failures and
 * alerts may still wait for the next commit: they go in first.
 */
static void qp_ctl_kick(void *);

static void
qp_login_recv(struct queue_proc *qp, struct ipc_reader *r)
{
	struct proto_auth_login l;

	if (proto_auth_login_dec(r, &l) != 0)
		fatalx("%s: malformed login", __func__);
	qp_commit_events(qp);
	queue_ctl_login(qp->ctl, l.user, l.client_ip);
	queue_logins_login(qp->logins, l.user);
	/* a quarantine that ended may have released held mail */
	if (queue_watch_login(qp->watch, l.user, l.client_ip, l.session) > 0)
		qp_ctl_kick(qp);
}

/*
 * The group commit: every message pending now, up to QUEUE_BATCH_MAX,
 * in one transaction; then one answer each.
 */
static void
qp_commit_run(struct queue_proc *qp)
{
	struct qp_store *s;
	char from[QP_ESC], client[QP_ESC], user[QP_ESC];
	size_t n = 0, nlocal = 0;

	TAILQ_FOREACH(s, &qp->stores, entry) {
		struct queue_msg *m = &qp->batch[n];

		if (n == QUEUE_BATCH_MAX)
			break;
		memset(m, 0, sizeof(*m));
		m->sender = s->sender;
		m->helo = s->helo;
		m->client_ip = s->client_ip;
		m->auth_user = s->auth_user;
		m->listener = s->listener;
		m->envid = s->envid;
		m->ret = s->ret;
		m->flags = s->flags & ~PROTO_MSGF_HOLD;
		m->rcpts = s->qrcpt;
		m->nrcpt = s->nrcpt;
		m->data = s->data;
		m->len = s->len;
		m->qid = s->qid;
		m->held = (s->flags & PROTO_MSGF_HOLD) ||
		    queue_watch_held(qp->watch, s->auth_user, s->client_ip,
		    s->sender);
		n++;
	}
	if (n > 0) {
		(void)queue_db_store_batch(qp->db, qp->batch, n, qp->res);
		log_debug(LOG_CAT_QUEUE, "event=commit messages=%zu left=%zu",
		    n, qp->nstores - n);
	}

	for (size_t i = 0; i < n; i++) {
		const struct queue_store_result *res = &qp->res[i];

		s = TAILQ_FIRST(&qp->stores);
		TAILQ_REMOVE(&qp->stores, s, entry);
		qp->nstores--;
		qp->store_bytes -= s->len;
		if (res->status == PROTO_STORE_OK) {
			if (s->qid[0] != '\0' && strcmp(s->qid, res->qid) != 0)
				log_warn(LOG_CAT_QUEUE, "qid=%s event=qid_taken "
				    "proposed=%s", res->qid, s->qid);
			qp_reply(qp, s->id, PROTO_STORE_OK, res->qid);
			log_info(LOG_CAT_QUEUE,
			    "qid=%s from=<%s> nrcpt=%zu size=%zu client=%s user=%s",
			    res->qid,
			    log_escape_bare(from, sizeof(from), s->sender,
			    strlen(s->sender)),
			    s->nrcpt, s->len,
			    log_escape(client, sizeof(client), s->client_ip,
			    strlen(s->client_ip)),
			    s->auth_user[0] ? log_escape(user, sizeof(user),
			    s->auth_user, strlen(s->auth_user)) : "-");
			nlocal += s->nlocal;
			queue_watch_stored(qp->watch, s->auth_user, s->client_ip,
			    s->sender, res->qid, s->qrcpt, s->nrcpt);
			queue_ctl_stored(qp->ctl, s->auth_user, s->nrcpt);
			queue_logins_stored(qp->logins, s->auth_user,
			    s->client_ip, s->nrcpt);
		} else
			qp_reply(qp, s->id, res->status,
			    qp_status_text(res->status));
		qp_store_free(s);
	}

	qp_commit_events(qp);

	if (nlocal > 0)
		qp_deliver_in(qp, 0);
	if (n > 0)
		sched_stored(qp->sched);	/* remote recipients may be new */
	if (!TAILQ_EMPTY(&qp->stores)) {
		qp->store_first_ms = clock_mono_ms();
		qp_commit_soon(qp);
	}
}

static void
qp_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_proc *qp = arg;

	if (!qp_commit_wait(qp))
		qp_commit_run(qp);
}

static void
qp_log_delivery(const struct queue_local *l, enum log_level lvl,
    const char *status, const char *error)
{
	char to[QP_ESC], mbox[QP_ESC], e[QP_ESC];

	log_escape_bare(to, sizeof(to), l->address, strlen(l->address));
	log_escape(mbox, sizeof(mbox), l->mailbox, strlen(l->mailbox));
	if (error == NULL)
		log_event(LOG_CAT_DELIVERY, lvl, "qid=%s to=<%s> mailbox=%s"
		    " status=%s", l->qid, to, mbox, status);
	else
		log_event(LOG_CAT_DELIVERY, lvl, "qid=%s to=<%s> mailbox=%s"
		    " status=%s attempts=%d error=\"%s\"", l->qid, to, mbox,
		    status, l->attempts + 1,
		    log_escape(e, sizeof(e), error, strlen(error)));
}

/* Remember that recipient id's file may be in its Maildir already. */
static void
qp_unsure_add(struct queue_proc *qp, int64_t id)
{
	int64_t *v;

	for (size_t i = 0; i < qp->nunsure; i++)
		if (qp->unsure[i] == id)
			return;
	if (qp->nunsure == qp->capunsure) {
		size_t cap = qp->capunsure ? qp->capunsure * 2 :
		    QUEUE_DELIVER_BATCH;

		if ((v = reallocarray(qp->unsure, cap, sizeof(*v))) == NULL)
			fatal("%s: reallocarray", __func__);
		qp->unsure = v;
		qp->capunsure = cap;
	}
	qp->unsure[qp->nunsure++] = id;
}

/* Whether recipient id's file may be there already; forgets it. */
static int
qp_unsure_take(struct queue_proc *qp, int64_t id)
{
	for (size_t i = 0; i < qp->nunsure; i++)
		if (qp->unsure[i] == id) {
			qp->unsure[i] = qp->unsure[--qp->nunsure];
			return 1;
		}
	return 0;
}

/* A failure for good is an event too: a mailbox an admin must look at. */
static void
qp_fail_event(struct queue_proc *qp, const struct queue_local *l, int64_t now)
{
	struct queue_event ev;
	char detail[1024], to[QP_ESC];

	snprintf(detail, sizeof(detail), "qid=%s to=<%s> mailbox=%s error=%s",
	    l->qid, log_escape(to, sizeof(to), l->address, strlen(l->address)),
	    l->mailbox, l->error);
	memset(&ev, 0, sizeof(ev));
	ev.time = now;
	ev.type = "delivery_failed";
	ev.detail = detail;
	(void)queue_db_event_add(qp->db, &ev, 1);	/* logged on failure */
}

/*
 * Recipient l failed for good, or expired (max_lifetime passed while it
 * failed for a reason that may pass): the scheduler records it with a
 * bounce or a dead letter at once. When that cannot be recorded it is
 * deferred, to fail again.
 */
static void
qp_fail(struct queue_proc *qp, struct queue_local *l, int64_t now,
    int expired)
{
	struct sched_failure f;
	char reason[512];

	if (expired)
		snprintf(reason, sizeof(reason), "451 4.4.7 mailbox "
		    "unavailable: %s (message expired, giving up)", l->error);
	else
		snprintf(reason, sizeof(reason), "550 5.2.0 mailbox "
		    "unavailable: %s", l->error);
	memset(&f, 0, sizeof(f));
	f.r.rcpt_id = l->rcpt_id;
	f.r.msg_id = l->msg_id;
	f.r.qid = l->qid;
	f.r.sender = l->sender;
	f.r.address = l->address;
	f.r.orcpt = l->orcpt;
	f.r.notify = l->notify;
	f.reason = reason;
	if (sched_fail(qp->sched, &f) == -1) {
		l->outcome = QUEUE_LOCAL_DEFERRED;
		l->next_attempt = now + QUEUE_RETRY_SECS;
		qp_log_delivery(l, LOG_LVL_ERR, "deferred", l->error);
		return;
	}
	l->outcome = QUEUE_LOCAL_FAILED;
	qp_log_delivery(l, LOG_LVL_ERR, "failed", l->error);
	qp_fail_event(qp, l, now);
}

/* Deliver one recipient into its Maildir and set its outcome. */
static void
qp_deliver_one(struct queue_proc *qp, struct queue_local *l, int64_t now)
{
	char key[MAILDIR_KEY_MAX];
	int flags = qp_unsure_take(qp, l->rcpt_id) ? MAILDIR_LOOK_CUR : 0;

	if (maildir_key(key, sizeof(key), l->created, l->qid, l->rcpt_id) ==
	    -1) {
		l->outcome = QUEUE_LOCAL_HELD;		/* a corrupt record */
		snprintf(l->error, sizeof(l->error), "queue record has a bad "
		    "queue id");
		qp_log_delivery(l, LOG_LVL_ERR, "held", l->error);
		return;
	}
	switch (maildir_deliver_once(qp->conf->mail_dir, l->mailbox, key,
	    flags, l->sender, l->data, l->len, l->error, sizeof(l->error))) {
	case MAILDIR_DELIVERED:
		l->outcome = QUEUE_LOCAL_DELIVERED;
		qp_log_delivery(l, LOG_LVL_INFO, "delivered", NULL);
		break;
	case MAILDIR_FOUND:		/* an attempt a crash cut short */
		l->outcome = QUEUE_LOCAL_DELIVERED;
		qp_log_delivery(l, LOG_LVL_NOTICE,
		    "delivered found=earlier_attempt", NULL);
		break;
	case MAILDIR_TEMPFAIL:
		if (now - l->created >= qp->conf->max_lifetime) {
			qp_fail(qp, l, now, 1);
			break;
		}
		l->outcome = QUEUE_LOCAL_DEFERRED;
		l->next_attempt = now + QUEUE_RETRY_SECS;
		qp_log_delivery(l, LOG_LVL_WARN, "deferred", l->error);
		break;
	case MAILDIR_PERMFAIL:
		qp_fail(qp, l, now, 0);
		break;
	}
}

/*
 * One round of local delivery: fetch what is due, write each into its
 * Maildir, record the outcomes in one transaction, reschedule.
 */
static void
qp_deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_proc *qp = arg;
	int64_t now = time(NULL), start_ms = clock_mono_ms(), when, budget;
	size_t n = 0;
	int rc, more = 0;

	if (qp->stopping)
		return;
	/*
	 * Messages waiting to be stored come first, their 250 waits on
	 * the loop: step aside for up to QP_DELIVER_YIELD_MS, then do a
	 * short round, so local delivery slows under load but never stops.
	 */
	budget = QP_DELIVER_BUDGET_MS;
	if (qp_store_waiting(qp)) {
		if (qp->deliver_yield_ms == 0)
			qp->deliver_yield_ms = start_ms;
		if (start_ms - qp->deliver_yield_ms < QP_DELIVER_YIELD_MS) {
			qp_deliver_in(qp, 0);
			return;
		}
		budget = QP_DELIVER_BUSY_MS;
	}
	qp->deliver_yield_ms = 0;
	if (queue_db_local_fetch(qp->db, now, qp->local, QUEUE_DELIVER_BATCH,
	    &n) == -1) {
		qp_deliver_in(qp, QUEUE_RETRY_SECS);
		return;
	}
	if (qp->recovering) {
		/* the head of the queue: what a crash may have cut short */
		for (size_t i = 0; i < n; i++)
			qp_unsure_add(qp, qp->local[i].rcpt_id);
		qp->recovering = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct queue_local *l = &qp->local[i];

		/* fsyncs block the loop: leave the rest for the next turn */
		if (i > 0 && clock_mono_ms() - start_ms >= budget) {
			more = 1;
			break;
		}
		if (l->outcome == QUEUE_LOCAL_HELD) {	/* corrupt record */
			qp_log_delivery(l, LOG_LVL_ERR, "held", l->error);
			continue;
		}
		qp_deliver_one(qp, l, now);
	}
	rc = queue_db_local_mark(qp->db, qp->local, n, now);
	if (rc == -1) {
		/* tried again next round: a reader may move them meanwhile */
		for (size_t i = 0; i < n; i++)
			if (qp->local[i].outcome == QUEUE_LOCAL_DELIVERED)
				qp_unsure_add(qp, qp->local[i].rcpt_id);
	}
	queue_db_local_free(qp->local, n);
	if (rc == -1) {
		qp_deliver_in(qp, QUEUE_RETRY_SECS);
		return;
	}
	if (more || n == QUEUE_DELIVER_BATCH) {
		qp_deliver_in(qp, 0);		/* more may be waiting */
		return;
	}
	if ((rc = queue_db_local_next(qp->db, &when)) == 1)
		qp_deliver_in(qp, when - now > 0 ? when - now : 1);
	else if (rc == -1)
		qp_deliver_in(qp, QUEUE_RETRY_SECS);
}

/* At exit: leave once smtp has read our last answers, or at the deadline. */
static void
qp_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_proc *qp = arg;
	struct timeval tv = { 0, 50 * 1000 };

	if (!TAILQ_EMPTY(&qp->stores) || !TAILQ_EMPTY(&qp->events))
		qp_commit_run(qp);
	if (qp->smtp_closed || (qp->nstores == 0 &&
	    ipc_peer_pending(qp->smtp) == 0) ||
	    time(NULL) >= qp->stop_deadline) {
		event_base_loopexit(qp->base, NULL);
		return;
	}
	evtimer_add(qp->ev_drain, &tv);
}

/*
 * Finish: commit what is pending, answer it, stop delivering, and leave
 * the loop once the answers are written (or QUEUE_DRAIN_SECS passed).
 * Messages still arriving meanwhile are committed the same way.
 */
static void
qp_stop(struct queue_proc *qp)
{
	if (qp->stopping)
		return;
	qp->stopping = 1;
	qp->stop_deadline = time(NULL) + QUEUE_DRAIN_SECS;
	sched_stop(qp->sched);
	evtimer_del(qp->ev_deliver);
	log_notice(LOG_CAT_QUEUE, "event=stopping pending=%zu", qp->nstores);
	qp_drain_cb(-1, 0, qp);
}

static void
qp_smtp_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct queue_proc *qp = arg;

	switch (type) {
	case PROTO_QUEUE_STORE:
		qp_store_recv(qp, id, r);
		break;
	case PROTO_QUEUE_CHUNK:
		qp_chunk_recv(qp, id, r);
		break;
	case PROTO_QUEUE_ABORT:
		qp_abort_recv(qp, id, r);
		break;
	case PROTO_EVENT:
		qp_event_recv(qp, r);
		break;
	case PROTO_AUTH_LOGIN:
		qp_login_recv(qp, r);
		break;
	case PROTO_SERIES:
		queue_series_smtp(qp->series, r);
		break;
	case PROTO_BAN_ADD:		/* stored: queue_ctl.c */
		queue_ctl_ban_add(qp->ctl, r);
		break;
	default:
		fatalx("%s: unexpected message type %u from smtp", __func__,
		    type);
	}
}

/*
 * PROTO_RELOAD: the new configuration, checked by the parent already, is
 * parsed again here and replaces ours: watch thresholds and actions,
 * retries, lifetimes, notices, events retention and log levels take
 * effect at once. The database and the Maildirs stay where they are
 * (spool_dir and mail_dir need a restart).
 */
static void
qp_reload(struct queue_proc *qp, const uint8_t *text, size_t len,
    const char *path)
{
	char err[512];
	struct conf *nc;

	if ((nc = conf_load_bytes(text, len, path, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_QUEUE, "event=reload_failed error=\"%s\"", err);
		proto_ready_send(qp->parent, PROTO_READY_RELOAD, 0, err);
		return;
	}
	if (strcmp(nc->spool_dir, qp->conf->spool_dir) != 0 ||
	    strcmp(nc->mail_dir, qp->conf->mail_dir) != 0) {
		log_warn(LOG_CAT_QUEUE, "event=reload note=\"spool_dir and "
		    "mail_dir changes need a restart; the old ones stay\"");
		snprintf(nc->spool_dir, sizeof(nc->spool_dir), "%s",
		    qp->conf->spool_dir);
		snprintf(nc->mail_dir, sizeof(nc->mail_dir), "%s",
		    qp->conf->mail_dir);
	}
	queue_watch_set_conf(qp->watch, nc);
	queue_dnsbl_set_conf(qp->dnsbl, nc);
	queue_logins_set_conf(qp->logins, nc);
	sched_set_conf(qp->sched, nc);
	conf_apply_log_levels(nc);
	proto_ready_send(qp->parent, PROTO_READY_RELOAD, 1, NULL);
	/* the first configuration is the parent's, inherited at fork */
	if (qp->conf_owned)
		conf_free(qp->conf);
	qp->conf = nc;
	qp->conf_owned = 1;
	log_notice(LOG_CAT_QUEUE, "event=reloaded path=%s", path);
}

/*
 * PROTO_COUNTS from the parent (`moat status`, the service manager's
 * STATUS=): the messages in the queue. Counting walks the smallest index
 * of the message table; a count that took long serves a hundred times
 * as long, so counting never takes more than 1% of the process.
 */
static void
qp_counts(struct queue_proc *qp, struct ipc_reader *r)
{
	struct proto_counts c;
	struct ipc_msg m;
	int64_t now = clock_mono_ms(), took;

	if (proto_counts_dec(r, &c) == -1)
		fatalx("%s: malformed COUNTS", __func__);
	if (qp->queued_at_ms == 0 ||
	    now - qp->queued_at_ms >= qp->queued_ttl_ms) {
		(void)queue_db_count_messages(qp->db, &qp->queued);
		took = clock_mono_ms() - now;
		qp->queued_at_ms = now;
		qp->queued_ttl_ms = took * 100;
	}
	c.sessions = -1;
	c.queued = qp->queued;
	proto_counts_enc(&m, 0, &c);
	ipc_send(qp->parent, &m);
}

static void
qp_parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct queue_proc *qp = arg;
	struct proto_reload rl;
	char esc[QP_ESC];

	switch (type) {
	case PROTO_SHUTDOWN:
		if (proto_empty_dec(r) != 0)
			fatalx("%s: malformed shutdown", __func__);
		log_notice(LOG_CAT_QUEUE, "event=shutdown");
		qp_stop(qp);
		break;
	case PROTO_RELOAD:
		if (proto_reload_dec(r, &rl) != 0)
			fatalx("%s: malformed reload", __func__);
		qp_reload(qp, rl.text, rl.len, log_escape(esc, sizeof(esc),
		    rl.path, strlen(rl.path)));
		break;
	case PROTO_EVENT:
		qp_event_recv(qp, r);
		break;
	case PROTO_LOG_LEVEL:		/* moat log CAT LEVEL */
		if (control_log_apply(r) == -1)
			fatalx("%s: malformed log level", __func__);
		break;
	case PROTO_COUNTS:
		qp_counts(qp, r);
		break;
	default:
		fatalx("%s: unexpected message type %u from parent", __func__,
		    type);
	}
}

/*
 * The lookup process: its security events (lookup_tempfail, ...), and
 * the recipient verification cache (queue_verify.c).
 */
static void
qp_lookup_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct queue_proc *qp = arg;

	switch (type) {
	case PROTO_EVENT:
		qp_event_recv(qp, r);
		break;
	case PROTO_VERIFY_LOAD:
	case PROTO_VERIFY_PUT:
		queue_verify_recv(qp->db, p, type, r);
		break;
	default:
		fatalx("%s: unexpected message type %u from lookup", __func__,
		    type);
	}
}

/* the lookup process stops before us (stop phase 1): nothing to do */
static void
qp_lookup_close_cb(struct ipc_peer *p, void *arg)
{
	log_info(LOG_CAT_QUEUE, "event=peer_closed peer=%s", ipc_peer_name(p));
}

/*
 * A peer went away (or sent a frame ipc could not read). The peer is
 * freed by queue_proc_main after the loop, never here.
 */
static void
qp_close_cb(struct ipc_peer *p, void *arg)
{
	struct queue_proc *qp = arg;
	struct qp_store *s;

	log_notice(LOG_CAT_QUEUE, "event=peer_closed peer=%s", ipc_peer_name(p));
	if (p == qp->smtp) {
		/*
		 * Nobody is left to answer: the client never got its 250
		 * and still owns the message. Committing would only make
		 * a duplicate when it sends again.
		 */
		qp->smtp_closed = 1;
		queue_ctl_smtp_closed(qp->ctl);
		if (qp->nstores > 0)
			log_warn(LOG_CAT_QUEUE, "event=store_dropped count=%zu"
			    " reason=smtp_closed", qp->nstores);
		while ((s = TAILQ_FIRST(&qp->stores)) != NULL) {
			TAILQ_REMOVE(&qp->stores, s, entry);
			qp_store_free(s);
		}
		while (!TAILQ_EMPTY(&qp->partials))
			qp_partial_free(qp, TAILQ_FIRST(&qp->partials));
		qp->nstores = 0;
		qp->store_bytes = 0;
	}
	qp_stop(qp);
}

/* the scheduler stored a bounce for a local mailbox */
/* the events table keeps events_retention seconds, events_max rows;
 * the time series and the sent log 7 days; expired verification
 * answers go too */
static void
qp_events_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_proc *qp = arg;
	int64_t deleted;

	if (queue_db_events_expire(qp->db, (int64_t)time(NULL) -
	    qp->conf->events_retention, qp->conf->events_max, &deleted) == 0 &&
	    deleted > 0)
		log_info(LOG_CAT_QUEUE, "event=events_expired rows=%lld",
		    (long long)deleted);
	if (queue_db_series_expire(qp->db, (int64_t)time(NULL) -
	    QUEUE_SERIES_KEEP, &deleted) == 0 && deleted > 0)
		log_info(LOG_CAT_QUEUE, "event=series_expired rows=%lld",
		    (long long)deleted);
	queue_verify_expire(qp->db);
}

static void
qp_local_kick(void *arg)
{
	qp_deliver_in(arg, 0);
}

/* control: release or retry made recipients due */
/* an admin held or suspended an account: ban its guessers */
static void
qp_ctl_lost(void *arg, const char *user)
{
	struct queue_proc *qp = arg;

	queue_watch_lost(qp->watch, user);
}

static void
qp_ctl_kick(void *arg)
{
	struct queue_proc *qp = arg;

	qp_deliver_in(qp, 0);
	if (qp->sched != NULL)
		sched_kick(qp->sched);
}

/*
 * The queue operations' hooks (queue_ctl.h): the configuration in
 * force, the scheduler's jobs, paused destinations, dead letters.
 */
static const struct conf *
qp_ctl_conf(void *arg)
{
	return ((struct queue_proc *)arg)->conf;
}

static int
qp_ctl_inflight(void *arg, int64_t rcpt_id)
{
	return sched_inflight(((struct queue_proc *)arg)->sched, rcpt_id);
}

static void
qp_ctl_paused(void *arg)
{
	sched_paused_changed(((struct queue_proc *)arg)->sched);
}

static int
qp_ctl_settle(void *arg)
{
	return sched_settle(((struct queue_proc *)arg)->sched);
}

/* `moat queue bounce`: the scheduler fails them as a delivery would */
static int
qp_ctl_fail(void *arg, const struct queue_pending_rcpt *r, size_t n,
    const char *reason)
{
	return sched_fail_many(((struct queue_proc *)arg)->sched, r, n,
	    reason);
}

/* a dead letter's recipient: its stored Maildir while its domain is
 * still local, else where the configuration sends it now */
static void
qp_reinject_route(void *arg, const char *address, const char *mailbox,
    char *out, size_t len)
{
	const struct conf *c = arg;
	int r = queue_route_mailbox(c, address, out, len);

	if (r != QUEUE_ROUTE_REMOTE && mailbox[0] != '\0')
		snprintf(out, len, "%s", mailbox);
	else if (r == QUEUE_ROUTE_UNKNOWN)
		out[0] = '\0';		/* no Maildir known: by its route */
}

static int
qp_ctl_reinject(void *arg, int64_t dead_id, char qid[QUEUE_QID_SIZE])
{
	struct queue_proc *qp = arg;

	return queue_db_dead_reinject(qp->db, dead_id, qp->conf->hostname,
	    qp_reinject_route, qp->conf, qid);
}

/* queue_proc_main - run the queue process until told to stop */
int
queue_proc_main(struct proc_env *env)
{
	struct conf *conf = env->conf;
	struct event_base *base = env->base;
	int parent_fd = env->peer[PROC_PARENT];
	int smtp_fd = env->peer[PROC_SMTP];
	struct queue_proc *qp;
	struct qp_store *s;
	struct qp_event *e;
	char err[1024];

	log_set_proc("queue");
	/* a peer that went away must make writes fail, not kill us */
	signal(SIGPIPE, SIG_IGN);
	if ((qp = calloc(1, sizeof(*qp))) == NULL)
		fatal("%s: calloc", __func__);
	qp->conf = conf;
	qp->base = base;
	qp->smtp_fd = smtp_fd;
	TAILQ_INIT(&qp->stores);
	TAILQ_INIT(&qp->events);
	TAILQ_INIT(&qp->partials);

	if ((qp->db = queue_db_open(conf->spool_dir, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_QUEUE, "event=db_open_failed err=\"%s\"", err);
		free(qp);
		return -1;
	}
	if ((qp->ev_commit = event_new(base, -1, 0, qp_commit_cb, qp)) == NULL ||
	    (qp->ev_deliver = evtimer_new(base, qp_deliver_cb, qp)) == NULL ||
	    (qp->ev_drain = evtimer_new(base, qp_drain_cb, qp)) == NULL)
		fatal("%s: event_new", __func__);
	qp->parent = ipc_peer_new(base, parent_fd, "parent", qp_parent_msg_cb,
	    qp_close_cb, qp);
	qp->smtp = ipc_peer_new(base, smtp_fd, "smtp", qp_smtp_msg_cb,
	    qp_close_cb, qp);
	qp->lookup = ipc_peer_new(base, env->peer[PROC_LOOKUP], "lookup",
	    qp_lookup_msg_cb, qp_lookup_close_cb, qp);
	if ((qp->ctl = queue_ctl_new(base, conf, env->peer[PROC_CONTROL],
	    qp->smtp, qp_ctl_kick, qp, err, sizeof(err))) == NULL)
		log_err(LOG_CAT_QUEUE, "event=control_unavailable err=\"%s\"",
		    err);
	queue_ctl_set_stats(qp->ctl, queue_db_stats(qp->db));
	queue_ctl_set_lookup(qp->ctl, qp->lookup);

	if ((qp->watch = queue_watch_new(conf, qp->db, qp->smtp,
	    qp->base)) == NULL)
		fatal("%s: queue_watch_new", __func__);
	if ((qp->series = queue_series_new(base, qp->db)) == NULL)
		fatal("%s: queue_series_new", __func__);
	queue_ctl_set_series(qp->ctl, qp->series);
	if ((qp->logins = queue_logins_new(conf, qp->db)) == NULL)
		fatal("%s: queue_logins_new", __func__);
	queue_ctl_set_logins(qp->ctl, qp->logins);
	if ((qp->ev_events = event_new(base, -1, EV_PERSIST, qp_events_expire_cb,
	    qp)) == NULL)
		fatal("%s: event_new", __func__);
	{
		struct timeval tv = { 600, 0 };

		event_add(qp->ev_events, &tv);
		qp_events_expire_cb(-1, 0, qp);
	}

	log_notice(LOG_CAT_QUEUE, "event=started spool=%s mail_dir=%s",
	    conf->spool_dir, conf->mail_dir);
	/* deliveries a crash left pending: once (qp_deliver_one) */
	qp->recovering = 1;
	qp_deliver_in(qp, 0);
	/* remote recipients too: the scheduler starts with a round */
	if (env->peer[PROC_MTA] >= 0)
		qp->sched = sched_new(conf, base, qp->db, env->peer[PROC_MTA],
		    qp_local_kick, qp);
	qp->dnsbl = queue_dnsbl_new(conf, qp->db, qp->sched);
	if (qp->sched != NULL)
		sched_set_dnsbl(qp->sched, queue_dnsbl_result, qp->dnsbl);
	queue_ctl_set_dnsbl(qp->ctl, qp->dnsbl);
	{
		struct queue_ctl_delivery dl = { qp_ctl_conf, qp_ctl_inflight,
		    qp_ctl_paused, qp_ctl_reinject, qp, qp_ctl_lost,
		    qp_ctl_settle, qp_ctl_fail };

		if (qp->sched == NULL) {	/* no one to fail them */
			dl.settle = NULL;
			dl.fail = NULL;
		}
		queue_ctl_set_delivery(qp->ctl, &dl);
	}
	/* queue.db is open, the scheduler runs */
	proto_ready_send(qp->parent, PROTO_READY_START, 1, NULL);

	if (event_base_dispatch(base) == -1)
		log_err(LOG_CAT_QUEUE, "event=loop_failed");

	while ((s = TAILQ_FIRST(&qp->stores)) != NULL) {
		TAILQ_REMOVE(&qp->stores, s, entry);
		qp_store_free(s);
	}
	while ((e = TAILQ_FIRST(&qp->events)) != NULL) {
		TAILQ_REMOVE(&qp->events, e, entry);
		qp_event_free(e);
	}
	while (!TAILQ_EMPTY(&qp->partials))
		qp_partial_free(qp, TAILQ_FIRST(&qp->partials));
	sched_free(qp->sched);
	queue_ctl_set_dnsbl(qp->ctl, NULL);
	queue_dnsbl_free(qp->dnsbl);
	queue_watch_free(qp->watch);
	queue_series_free(qp->series);
	queue_logins_free(qp->logins);
	event_free(qp->ev_events);
	queue_ctl_free(qp->ctl);
	ipc_peer_free(qp->smtp);
	ipc_peer_free(qp->lookup);
	ipc_peer_free(qp->parent);
	event_free(qp->ev_drain);
	event_free(qp->ev_deliver);
	event_free(qp->ev_commit);
	free(qp->unsure);
	queue_db_close(qp->db);
	if (qp->conf_owned)
		conf_free(qp->conf);
	free(qp);
	log_notice(LOG_CAT_QUEUE, "event=stopped");
	return 0;
}
