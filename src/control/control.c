/*
 * control.c - the control process: moat's admin socket.
 *
 * The parent creates <spool_dir>/control.sock (mode 0660, group of the
 * admin group) before the children start; this process accepts on it,
 * checks each caller's credentials (SO_PEERCRED, SO_PEERGROUPS), reads
 * framed requests (ctl_msg.h), checks them with ctl_req_decode and
 * forwards them as PROTO_CTL_REQUEST, with the caller's uid, to the
 * process that can answer: smtp (sessions), queue (queue, bans, users,
 * events), the parent (log levels, status, reload, stop). The answer goes back unchanged.
 * `stats` asks smtp and queue and merges their tables with its own;
 * the metrics listener (control_http.c) renders the same merge.
 * The web console (src/console/) sends its requests through the same
 * dispatch, as a client without a socket (ctl_client.web), and its
 * logins to the auth process (PROTO_CONSOLE_LOGIN).
 * `user list` asks the parent (the users file) and the queue (account
 * states, counters) and merges them by name.
 *
 * Public: control_proc_main, control_peer_allowed, control_socket_create,
 * control_access_resolve.
 *
 * SECURITY: runs unprivileged in the empty chroot; it never opens the
 * queue or the users file. Callers other than root and the admin group
 * get one CTL_DENIED answer and are disconnected (and the refusal is a
 * security event). A request is untrusted input: a frame over
 * CTL_REQ_MAX or of another version is answered with an error and the
 * connection closed; a request whose arguments do not decode exactly is
 * answered CTL_BAD_REQUEST and goes nowhere. Only fixed, named
 * operations exist; there is no way to pass SQL or a command line.
 * LIMITS: CONTROL_CLIENTS_MAX connections, CONTROL_INFLIGHT_MAX
 * requests in flight per connection, CONTROL_IDLE_SECS idle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "console/console.h"
#include "control/control.h"
#include "daemon/version.h"
#include "control/control_http.h"
#include "control/control_log.h"
#include "ctl/ctl_msg.h"
#include "daemon/config.h"
#include "daemon/proc.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/log.h"

#define CONTROL_CLIENTS_MAX	64
#define CONTROL_INFLIGHT_MAX	16
#define CONTROL_IDLE_SECS	3600
#define CONTROL_GROUPS_MAX	256
#define CONTROL_STATS_PARTS	2	/* smtp and queue; parent and queue */

struct control;

/* One admin connection. Owned by control->clients. */
struct ctl_client {
	TAILQ_ENTRY(ctl_client) entry;
	struct control		*ctl;
	struct bufferevent	*bev;		/* owned, closes the fd */
	uid_t			 uid;
	pid_t			 pid;
	int			 closing;	/* free once the output is flushed */
	int			 inflight;
	struct console_conn	*web;		/* a console request: no bev,
						 * one answer, then freed */
};

/* A console login waiting for the auth process. */
struct login_wait {
	TAILQ_ENTRY(login_wait)	 entry;
	uint64_t		 seq;
	struct console_conn	*web;
};

/* A request waiting for its answers. Owned by control->pending. */
struct ctl_pending {
	TAILQ_ENTRY(ctl_pending) entry;
	uint64_t		 seq;		/* id of the forwarded request */
	struct ctl_client	*client;	/* NULL: gone, or a scrape */
	uint64_t		 client_id;
	struct control_http_conn *scrape;	/* a metrics scrape, or NULL */
	enum ctl_op		 op;
	int			 waiting;	/* answers still to come */
	struct ctl_answer	 parts[CONTROL_STATS_PARTS];
	int			 nparts;
	/* a request in two steps (chain_start): the parent, then the queue */
	int			 stage;		/* 1: the parent's answer next,
						 * 3: the queue's accounts, 2:
						 * the queue's last answer */
	struct ctl_req		 req;
	uid_t			 uid;
	char			 note[512];	/* the parent's message */
};

/* The process state; one, owned by control_proc_main. */
struct control {
	struct event_base	*base;		/* not owned */
	struct conf		*conf;		/* owned */
	struct ipc_peer		*peer[PROC_COUNT];	/* owned */
	struct evconnlistener	*evl;
	struct control_http	*http;
	struct console		*console;	/* the web console, or NULL */
	TAILQ_HEAD(, login_wait) logins;
	struct control_access	 access;
	TAILQ_HEAD(, ctl_client) clients;
	size_t			 nclients;
	TAILQ_HEAD(, ctl_pending) pending;
	uint64_t		 seq;
	time_t			 started;
	int64_t			 n_conn, n_req, n_denied, n_bad;	/* n_req: valid ones */
};

/* "file:line: " of the admin_group knob, or "file: " for its default */
static void
admin_group_error(const struct conf *c, char *err, size_t errlen,
    const char *what)
{
	int line = conf_knob_line(c, "admin_group");

	if (line > 0)
		snprintf(err, errlen, "%s:%d: admin_group '%s' %s", c->path,
		    line, c->admin_group, what);
	else
		snprintf(err, errlen, "%s: admin_group '%s' %s", c->path,
		    c->admin_group, what);
}

/* control_access_resolve - admin and daemon identities of a config */
int
control_access_resolve(const struct conf *c, struct control_access *a,
    char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(c->user);
	struct group *gr;

	a->admin_gid = -1;
	a->daemon_uid = a->daemon_gid = -1;
	/* without root there is no user change: the caller is the daemon */
	if (geteuid() == 0 && pw != NULL) {
		a->daemon_uid = (long)pw->pw_uid;
		a->daemon_gid = (long)pw->pw_gid;
	}
	if (c->admin_group[0] == '\0') {
		if (geteuid() != 0)
			a->admin_gid = (long)getegid();
		return 0;
	}
	if ((gr = getgrnam(c->admin_group)) == NULL) {
		admin_group_error(c, err, errlen, "does not exist");
		return -1;
	}
	if (pw != NULL && gr->gr_gid == pw->pw_gid) {
		char what[160];

		snprintf(what, sizeof(what), "is the group of user %s, which "
		    "every moat process runs as; name a group of admins",
		    c->user);
		admin_group_error(c, err, errlen, what);
		return -1;
	}
	a->admin_gid = (long)gr->gr_gid;
	return 0;
}

/* control_peer_allowed - root or an admin, never the daemon itself */
int
control_peer_allowed(uid_t uid, gid_t gid, const gid_t *groups,
    size_t ngroups, const struct control_access *a)
{
	if (uid == 0)
		return 1;
	if (a->daemon_uid >= 0 && ((long)uid == a->daemon_uid ||
	    (long)gid == a->daemon_gid))
		return 0;
	if (a->admin_gid < 0)
		return 0;
	if ((long)gid == a->admin_gid)
		return 1;
	for (size_t i = 0; i < ngroups; i++)
		if ((long)groups[i] == a->admin_gid)
			return 1;
	return 0;
}

/* control_socket_create - the listening socket, made by the parent */
int
control_socket_create(const char *spool_dir, long gid, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", spool_dir,
	    CTL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s/%s: path too long for a socket",
		    spool_dir, CTL_SOCKET_NAME);
		return -1;
	}
	if (unlink(sun.sun_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "unlink %s: %s", sun.sun_path,
		    strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* never a moment with looser permissions than 0660 */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if ((gid >= 0 && geteuid() == 0 &&
	    chown(sun.sun_path, 0, (gid_t)gid) == -1) ||
	    chmod(sun.sun_path, 0660) == -1 || listen(fd, 64) == -1) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		close(fd);
		unlink(sun.sun_path);
		return -1;
	}
	return fd;
}

/*
 * Clients.
 */

static void
client_free(struct ctl_client *c)
{
	struct control *ctl = c->ctl;
	struct ctl_pending *p;

	TAILQ_FOREACH(p, &ctl->pending, entry)
		if (p->client == c)
			p->client = NULL;
	if (c->bev == NULL) {
		/* a console request: in no list */
		free(c);
		return;
	}
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

/* Frame an answer payload (len bytes at p) to the client. */
static void
client_send(struct ctl_client *c, uint64_t id, const void *p, size_t len)
{
	struct ipc_hdr h;

	if (c->bev == NULL) {
		/* the console's one answer; c goes with its last pending */
		if (c->web != NULL)
			console_api_done(c->web, p, len);
		c->web = NULL;
		c->closing = 1;
		if (c->inflight == 0)
			client_free(c);
		return;
	}

	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = CTL_FRAME_ANSWER;
	h.pad = CTL_VERSION;
	h.id = id;
	if (bufferevent_write(c->bev, &h, sizeof(h)) == -1 ||
	    bufferevent_write(c->bev, p, len) == -1)
		log_warn(LOG_CAT_CONTROL, "event=write_failed uid=%ld",
		    (long)c->uid);
}

static void
client_send_msg(struct ctl_client *c, uint64_t id, struct ipc_msg *ans)
{
	size_t len = evbuffer_get_length(ans->buf);
	const uint8_t *p = evbuffer_pullup(ans->buf, -1);

	client_send(c, id, p ? p : (const uint8_t *)"", len);
	ipc_msg_discard(ans);
}

static void client_error(struct ctl_client *, uint64_t, enum ctl_status,
    const char *, ...) __attribute__((format(printf, 4, 5)));
static void
client_error(struct ctl_client *c, uint64_t id, enum ctl_status st,
    const char *fmt, ...)
{
	struct ipc_msg ans;
	va_list ap;

	va_start(ap, fmt);
	ctl_ans_vsimple(&ans, st, 512, fmt, ap);
	va_end(ap);
	client_send_msg(c, id, &ans);
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;

	if (c->closing)
		client_free(c);
}

/* Say why, then close once it is written. */
static void
client_close_after(struct ctl_client *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_free(c);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_info(LOG_CAT_CONTROL, "event=idle_timeout uid=%ld",
		    (long)c->uid);
	client_free(c);
}

static struct ctl_pending *
pending_new(struct control *ctl, struct ctl_client *c, uint64_t client_id,
    enum ctl_op op, int waiting)
{
	struct ctl_pending *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("%s: calloc", __func__);
	p->seq = ++ctl->seq;
	p->client = c;
	p->client_id = client_id;
	p->op = op;
	p->waiting = waiting;
	TAILQ_INSERT_TAIL(&ctl->pending, p, entry);
	if (c)
		c->inflight++;
	return p;
}

static void
pending_free(struct control *ctl, struct ctl_pending *p)
{
	TAILQ_REMOVE(&ctl->pending, p, entry);
	if (p->client && --p->client->inflight == 0 &&
	    p->client->bev == NULL && p->client->closing)
		client_free(p->client);
	for (int i = 0; i < p->nparts; i++)
		ctl_answer_free(&p->parts[i]);
	free(p);
}

static void
forward(struct control *ctl, struct ipc_peer *to, uint64_t seq,
    const struct ctl_req *q, uid_t uid)
{
	struct ipc_msg m, args;

	ipc_msg_init(&args, 0, 0);
	ctl_req_encode(q, &args);
	proto_ctl_request_enc(&m, seq, (uint32_t)q->op, (uint32_t)uid,
	    q->admin, args.buf);
	ipc_msg_discard(&args);
	ipc_send(to, &m);
}

/* stats: ask smtp and queue; the merge happens when both answered */
static void
stats_start(struct control *ctl, struct ctl_client *c, uint64_t client_id,
    struct control_http_conn *scrape)
{
	struct ctl_req q;
	struct ctl_pending *p;
	int want = 0;

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_STATS;
	want = (ctl->peer[PROC_SMTP] != NULL) + (ctl->peer[PROC_QUEUE] != NULL);
	p = pending_new(ctl, c, client_id, CTL_OP_STATS, want);
	p->scrape = scrape;
	if (ctl->peer[PROC_SMTP])
		forward(ctl, ctl->peer[PROC_SMTP], p->seq, &q, 0);
	if (ctl->peer[PROC_QUEUE])
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &q, 0);
}

static const char *const stat_cols[] = { "name", "labels", "value" };
static const enum ctl_kind stat_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT };

static void
stat_row(struct ipc_msg *m, const char *name, const char *labels, int64_t v)
{
	ctl_ans_row(m);
	ipc_put_str(m, name);
	ipc_put_str(m, labels);
	ipc_put_i64(m, v);
}

/* Every answer in: one "stats" table, ours first, then theirs. */
static void
stats_done(struct control *ctl, struct ctl_pending *p)
{
	struct ipc_msg ans;
	struct ctl_answer merged;
	int failed = 0;

	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "stats", 3, stat_cols, stat_kinds);
	stat_row(&ans, "build_info", "version=\"" MOAT_VERSION "\"", 1);
	stat_row(&ans, "uptime_seconds", "",
	    (int64_t)(time(NULL) - ctl->started));
	stat_row(&ans, "control_connections_total", "result=\"accepted\"",
	    ctl->n_conn - ctl->n_denied);
	stat_row(&ans, "control_connections_total", "result=\"denied\"",
	    ctl->n_denied);
	stat_row(&ans, "control_requests_total", "result=\"valid\"",
	    ctl->n_req);
	stat_row(&ans, "control_requests_total", "result=\"malformed\"",
	    ctl->n_bad);
	for (int i = 0; i < p->nparts; i++) {
		const struct ctl_table *t = ctl_table_find(&p->parts[i], "stats");

		if (p->parts[i].status != CTL_OK || t == NULL || t->ncols != 3) {
			failed = 1;
			continue;
		}
		for (size_t r = 0; r < t->nrows; r++) {
			const struct ctl_cell *x = &t->cells[r * 3];

			ctl_ans_row(&ans);
			ipc_put_str(&ans, x[0].s);
			ipc_put_str(&ans, x[1].s);
			ipc_put_i64(&ans, x[2].i);
		}
	}
	ctl_ans_end(&ans);
	if (p->scrape != NULL) {
		size_t len = evbuffer_get_length(ans.buf);
		const uint8_t *b = evbuffer_pullup(ans.buf, -1);

		if (!failed && ctl_answer_decode(b, len, &merged) == 0) {
			control_http_answer(p->scrape, &merged);
			ctl_answer_free(&merged);
		} else
			control_http_answer(p->scrape, NULL);
		ipc_msg_discard(&ans);
	} else if (p->client != NULL)
		client_send_msg(p->client, p->client_id, &ans);
	else
		ipc_msg_discard(&ans);
	pending_free(ctl, p);
}

/*
 * Requests in two steps, the parent first: `user del` (out of the users
 * file, then the queue forgets the account's state) and `user suspend|
 * hold NAME` (only a name the users file has: a typo must not leave a
 * row behind; ip: and other keys with ':' are the watch's, never in the
 * file, or an account the queue has mail of). 1 when q was taken here.
 */
static int
chain_start(struct control *ctl, struct ctl_client *c, uint64_t client_id,
    const struct ctl_req *q)
{
	struct ctl_pending *p;
	struct ctl_req list;

	if (q->op != CTL_OP_USER_DEL && !(q->op == CTL_OP_USER_STATE &&
	    q->state != CTL_USER_ACTIVE && strchr(q->a, ':') == NULL))
		return 0;
	if (ctl->peer[PROC_PARENT] == NULL || ctl->peer[PROC_QUEUE] == NULL) {
		client_error(c, client_id, CTL_FAILED, "the %s process is not "
		    "running", ctl->peer[PROC_PARENT] == NULL ? "parent" :
		    "queue");
		return 1;
	}
	p = pending_new(ctl, c, client_id, q->op, 1);
	p->stage = 1;
	p->req = *q;
	p->uid = c->uid;
	if (q->op == CTL_OP_USER_DEL)
		forward(ctl, ctl->peer[PROC_PARENT], p->seq, q, c->uid);
	else {
		memset(&list, 0, sizeof(list));
		list.op = CTL_OP_USER_LIST;
		forward(ctl, ctl->peer[PROC_PARENT], p->seq, &list, c->uid);
	}
	return 1;
}

/* the users file (answer a of user list) has name */
static int
users_file_has(const struct ctl_answer *a, const char *name)
{
	const struct ctl_table *t = ctl_table_find(a, "users_file");

	for (size_t r = 0; t != NULL && t->ncols == 1 && r < t->nrows; r++)
		if (t->cells[r].s != NULL && strcmp(t->cells[r].s, name) == 0)
			return 1;
	return 0;
}

/* the parent answered the first step of p: the queue's turn, or the end */
static void
chain_next(struct control *ctl, struct ctl_pending *p, const uint8_t *ans,
    size_t len)
{
	struct ctl_answer a;
	struct ctl_req forget;

	if (ctl_answer_decode(ans, len, &a) == -1)
		fatalx("%s: malformed answer from the parent", __func__);
	if (a.status != CTL_OK) {
		if (p->client != NULL)
			client_send(p->client, p->client_id, ans, len);
		goto done;
	}
	if (p->op == CTL_OP_USER_STATE && !users_file_has(&a, p->req.a)) {
		/* not in the file: an account the queue knows (its mail)? */
		struct ctl_req list;

		memset(&list, 0, sizeof(list));
		list.op = CTL_OP_USER_LIST;
		p->stage = 3;
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &list, p->uid);
		ctl_answer_free(&a);
		return;
	}
	p->stage = 2;
	if (p->op == CTL_OP_USER_DEL) {
		snprintf(p->note, sizeof(p->note), "%s", a.message);
		memset(&forget, 0, sizeof(forget));
		forget.op = CTL_OP_USER_FORGET;
		snprintf(forget.a, sizeof(forget.a), "%s", p->req.a);
		snprintf(forget.admin, sizeof(forget.admin), "%s",
		    p->req.admin);
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &forget, p->uid);
	} else
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &p->req, p->uid);
	ctl_answer_free(&a);
	return;
done:
	ctl_answer_free(&a);
	pending_free(ctl, p);
}

/* the queue's accounts (answer of user list): the name is one, or no */
static void
chain_known(struct control *ctl, struct ctl_pending *p, const uint8_t *ans,
    size_t len)
{
	struct ctl_answer a;
	const struct ctl_table *t;
	int col, known = 0;

	if (ctl_answer_decode(ans, len, &a) == -1)
		fatalx("%s: malformed answer from the queue", __func__);
	if (a.status == CTL_OK && (t = ctl_table_find(&a, "users")) != NULL &&
	    (col = ctl_table_col(t, "user")) != -1)
		for (size_t r = 0; r < t->nrows && !known; r++)
			known = t->cells[r * t->ncols + (size_t)col].s != NULL &&
			    strcmp(t->cells[r * t->ncols + (size_t)col].s,
			    p->req.a) == 0;
	ctl_answer_free(&a);
	if (known) {
		p->stage = 2;
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &p->req, p->uid);
		return;
	}
	if (p->client != NULL)
		client_error(p->client, p->client_id, CTL_FAILED, "no user %s: "
		    "not in the users file, and no mail of it in the queue "
		    "(moat user list; a relay client is ip:ADDRESS); nothing "
		    "changed", p->req.a);
	pending_free(ctl, p);
}

/* user del: the queue answered too; one answer says both */
static void
chain_del_done(struct ctl_pending *p, const uint8_t *ans, size_t len)
{
	struct ctl_answer a;

	if (p->client == NULL)
		return;
	if (ctl_answer_decode(ans, len, &a) == -1)
		fatalx("%s: malformed answer from the queue", __func__);
	client_error(p->client, p->client_id, CTL_OK, "%s; %s", p->note,
	    a.status == CTL_OK ? a.message : "its account state could not be "
	    "removed");
	ctl_answer_free(&a);
}

/* user list: the users file (parent) and the accounts' states (queue) */
static void
users_start(struct control *ctl, struct ctl_client *c, uint64_t client_id)
{
	struct ctl_req q;
	struct ctl_pending *p;
	int want;

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_USER_LIST;
	want = (ctl->peer[PROC_PARENT] != NULL) + (ctl->peer[PROC_QUEUE] != NULL);
	if (want == 0) {
		client_error(c, client_id, CTL_FAILED, "the queue process is not "
		    "running");
		return;
	}
	p = pending_new(ctl, c, client_id, CTL_OP_USER_LIST, want);
	if (ctl->peer[PROC_PARENT])
		forward(ctl, ctl->peer[PROC_PARENT], p->seq, &q, c->uid);
	if (ctl->peer[PROC_QUEUE])
		forward(ctl, ctl->peer[PROC_QUEUE], p->seq, &q, c->uid);
}

struct user_merge {
	const char	*name;		/* not owned */
	int		 in_file;
	long		 row;		/* in the queue's table, -1: none */
};

static int
user_merge_cmp(const void *a, const void *b)
{
	const struct user_merge *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* the same name: the one with a queue row first */
	return c != 0 ? c : (x->row < 0) - (y->row < 0);
}

static const char *const umerge_cols[] = { "user", "in_file", "state",
    "reason", "updated", "queued", "messages_1h", "auth_events_24h",
    "events_24h" };
static const enum ctl_kind umerge_kinds[] = { CTL_KIND_STR, CTL_KIND_FLAG,
    CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_INT, CTL_KIND_INT };

/* Both answers in: one row per name of either, the file's flag, counters. */
static void
users_done(struct control *ctl, struct ctl_pending *p)
{
	const struct ctl_table *file = NULL, *q = NULL;
	struct user_merge *v;
	struct ipc_msg ans;
	size_t n = 0, cap = 0;
	int cq[8] = { 0 };
	static const char *const qcols[8] = { "user", "state", "reason",
	    "updated", "queued", "messages_1h", "auth_events_24h",
	    "events_24h" };
	char msg[128] = "";

	for (int i = 0; i < p->nparts; i++) {
		const struct ctl_table *t;

		if (p->parts[i].status != CTL_OK)
			continue;
		if ((t = ctl_table_find(&p->parts[i], "users_file")) != NULL)
			file = t;
		if ((t = ctl_table_find(&p->parts[i], "users")) != NULL)
			q = t;
	}
	for (int k = 0; q != NULL && k < 8; k++)
		if ((cq[k] = ctl_table_col(q, qcols[k])) == -1)
			q = NULL;
	if (file == NULL || ctl_table_col(file, "user") != 0)
		file = NULL;
	if (file == NULL)
		snprintf(msg, sizeof(msg), "the users file could not be read");
	else if (q == NULL)
		snprintf(msg, sizeof(msg), "account states unavailable");
	cap = (file ? file->nrows : 0) + (q ? q->nrows : 0) + 1;
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		fatal("%s: calloc", __func__);
	for (size_t r = 0; file != NULL && r < file->nrows; r++) {
		v[n].name = file->cells[r * file->ncols].s;
		v[n].in_file = 1;
		v[n++].row = -1;
	}
	for (size_t r = 0; q != NULL && r < q->nrows; r++) {
		v[n].name = q->cells[r * q->ncols + cq[0]].s;
		v[n++].row = (long)r;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].name == NULL)
			v[i].name = "";
	qsort(v, n, sizeof(*v), user_merge_cmp);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, msg);
	ctl_ans_table(&ans, "users", 9, umerge_cols, umerge_kinds);
	for (size_t i = 0; i < n; ) {
		size_t j = i;
		int in_file = 0;
		long row = -1;

		for (; j < n && strcmp(v[j].name, v[i].name) == 0; j++) {
			in_file |= v[j].in_file;
			if (row < 0)
				row = v[j].row;
		}
		ctl_ans_row(&ans);
		ipc_put_str(&ans, v[i].name);
		ipc_put_i64(&ans, in_file);
		if (row >= 0) {
			const struct ctl_cell *x = &q->cells[(size_t)row * q->ncols];

			ipc_put_str(&ans, x[cq[1]].s ? x[cq[1]].s : "");
			ipc_put_str(&ans, x[cq[2]].s ? x[cq[2]].s : "");
			for (int k = 3; k < 8; k++)
				ipc_put_i64(&ans, x[cq[k]].i);
		} else {
			ipc_put_str(&ans, "active");
			ipc_put_str(&ans, "");
			for (int k = 3; k < 8; k++)
				ipc_put_i64(&ans, 0);
		}
		i = j;
	}
	ctl_ans_end(&ans);
	free(v);
	if (p->client != NULL)
		client_send_msg(p->client, p->client_id, &ans);
	else
		ipc_msg_discard(&ans);
	pending_free(ctl, p);
}

/* A checked request of c to the process that answers it. */
static void
dispatch(struct control *ctl, struct ctl_client *c, uint64_t id,
    const struct ctl_req *q)
{
	struct ctl_pending *p;
	struct ipc_peer *to;
	int target;

	if (chain_start(ctl, c, id, q))
		return;
	target = ctl_op_target(q->op);
	if (target == PROC_CONTROL) {
		if (q->op == CTL_OP_USER_LIST)
			users_start(ctl, c, id);
		else
			stats_start(ctl, c, id, NULL);
		return;
	}
	if (target < 0 || target >= PROC_COUNT ||
	    (to = ctl->peer[target]) == NULL) {
		client_error(c, id, CTL_FAILED, "the %s process is not "
		    "running", target >= 0 ? proc_name(target) : "?");
		return;
	}
	p = pending_new(ctl, c, id, q->op, 1);
	forward(ctl, to, p->seq, q, c->uid);
}

/* One complete frame from a client. */
static void
client_request(struct ctl_client *c, const struct ipc_hdr *h,
    const uint8_t *payload)
{
	struct control *ctl = c->ctl;
	struct ipc_reader r = { payload, h->len, 0 };
	struct ctl_req q;
	char err[512];

	if (ctl_req_decode((enum ctl_op)h->type, &r, &q, err, sizeof(err)) == -1) {
		ctl->n_bad++;
		log_notice(LOG_CAT_CONTROL, "event=bad_request uid=%ld op=%u "
		    "reason=\"%s\"", (long)c->uid, h->type, err);
		client_error(c, h->id, CTL_BAD_REQUEST, "%s", err);
		return;
	}
	ctl->n_req++;
	log_info(LOG_CAT_CONTROL, "event=request uid=%ld pid=%ld op=%s",
	    (long)c->uid, (long)c->pid, ctl_op_name(q.op));
	if (c->inflight >= CONTROL_INFLIGHT_MAX) {
		client_error(c, h->id, CTL_FAILED, "too many requests in flight");
		return;
	}
	dispatch(ctl, c, h->id, &q);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ipc_hdr h;

	while (!c->closing && evbuffer_get_length(in) >= sizeof(h)) {
		evbuffer_copyout(in, &h, sizeof(h));
		if (h.pad != CTL_VERSION) {
			c->ctl->n_bad++;
			client_error(c, h.id, CTL_BAD_REQUEST, "protocol version %u "
			    "not supported (this daemon speaks %d)", h.pad,
			    CTL_VERSION);
			client_close_after(c);
			return;
		}
		if (h.len > CTL_REQ_MAX) {
			c->ctl->n_bad++;
			log_notice(LOG_CAT_CONTROL, "event=bad_request uid=%ld "
			    "reason=\"request too large\" len=%u", (long)c->uid,
			    h.len);
			client_error(c, h.id, CTL_BAD_REQUEST, "request too large "
			    "(%u bytes, at most %u)", h.len, CTL_REQ_MAX);
			client_close_after(c);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(h) + h.len)
			return;
		client_request(c, &h, evbuffer_pullup(in, (ssize_t)(sizeof(h) +
		    h.len)) + sizeof(h));
		evbuffer_drain(in, sizeof(h) + h.len);
	}
}

static void
control_event(struct control *ctl, const char *type, const char *detail)
{
	if (ctl->peer[PROC_QUEUE] == NULL)
		return;
	proto_event_send(ctl->peer[PROC_QUEUE], type, "", "", "", detail);
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control *ctl = arg;
	struct ctl_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[CONTROL_GROUPS_MAX];
	socklen_t glen = sizeof(groups);
	size_t ngroups = 0;
	struct timeval idle = { CONTROL_IDLE_SECS, 0 };
	int allowed;

	ctl->n_conn++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn(LOG_CAT_CONTROL, "event=peercred_failed error=\"%s\"",
		    strerror(errno));
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		ngroups = glen / sizeof(gid_t);
	allowed = control_peer_allowed(cred.uid, cred.gid, groups, ngroups,
	    &ctl->access);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(ctl->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn(LOG_CAT_CONTROL, "event=accept_failed reason=\"out of "
		    "memory\"");
		free(c);
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->uid = cred.uid;
	c->pid = cred.pid;
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (!allowed) {
		char detail[96];

		ctl->n_denied++;
		snprintf(detail, sizeof(detail), "uid=%ld gid=%ld pid=%ld",
		    (long)cred.uid, (long)cred.gid, (long)cred.pid);
		log_warn(LOG_CAT_CONTROL, "event=denied %s", detail);
		control_event(ctl, "control_denied", detail);
		client_error(c, 0, CTL_DENIED, "permission denied: uid %ld is "
		    "neither root nor in the admin group", (long)cred.uid);
		client_close_after(c);
		return;
	}
	if (ctl->nclients > CONTROL_CLIENTS_MAX) {
		client_error(c, 0, CTL_FAILED, "too many control connections");
		client_close_after(c);
		return;
	}
	log_debug(LOG_CAT_CONTROL, "event=connect uid=%ld pid=%ld",
	    (long)cred.uid, (long)cred.pid);
}

/*
 * Sibling processes.
 */

static struct ctl_pending *
pending_find(struct control *ctl, uint64_t seq)
{
	struct ctl_pending *p;

	TAILQ_FOREACH(p, &ctl->pending, entry)
		if (p->seq == seq)
			return p;
	return NULL;
}

static void
peer_answer(struct control *ctl, uint64_t id, struct ipc_reader *r)
{
	struct proto_ctl_answer a;
	struct ctl_pending *p;
	const uint8_t *ans;
	size_t len;

	if (proto_ctl_answer_dec(r, &a) == -1)
		fatalx("%s: malformed answer", __func__);
	ans = a.data;
	len = a.len;
	if ((p = pending_find(ctl, id)) == NULL) {
		log_warn(LOG_CAT_CONTROL, "event=stray_answer id=%" PRIu64, id);
		return;
	}
	if (p->stage == 1) {
		chain_next(ctl, p, ans, len);
		return;
	}
	if (p->stage == 3) {
		chain_known(ctl, p, ans, len);
		return;
	}
	if (p->stage == 2 && p->op == CTL_OP_USER_DEL) {
		chain_del_done(p, ans, len);
		pending_free(ctl, p);
		return;
	}
	if (p->op == CTL_OP_STATS || p->op == CTL_OP_USER_LIST) {
		if (p->nparts < CONTROL_STATS_PARTS &&
		    ctl_answer_decode(ans, len, &p->parts[p->nparts]) == 0)
			p->nparts++;
		if (--p->waiting > 0)
			return;
		if (p->op == CTL_OP_STATS)
			stats_done(ctl, p);
		else
			users_done(ctl, p);
		return;
	}
	if (p->client != NULL)
		client_send(p->client, p->client_id, ans, len);
	pending_free(ctl, p);
}

/* auth's verdict on a console login */
static void
login_answer(struct control *ctl, uint64_t id, struct ipc_reader *r)
{
	struct proto_auth_result a;
	struct login_wait *w;

	if (proto_console_result_dec(r, &a) == -1)
		fatalx("%s: malformed console login answer", __func__);
	TAILQ_FOREACH(w, &ctl->logins, entry)
		if (w->seq == id)
			break;
	if (w == NULL) {
		log_warn(LOG_CAT_CONTROL, "event=stray_login_answer id=%" PRIu64,
		    id);
		return;
	}
	TAILQ_REMOVE(&ctl->logins, w, entry);
	console_login_done(w->web, a.result);
	free(w);
}

static void
sibling_msg_cb(struct ipc_peer *peer, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct control *ctl = arg;

	if (type == PROTO_CONSOLE_RESULT && peer == ctl->peer[PROC_AUTH]) {
		login_answer(ctl, id, r);
		return;
	}
	if (type != PROTO_CTL_ANSWER)
		fatalx("%s: unexpected message %u from %s", __func__, type,
		    ipc_peer_name(peer));
	peer_answer(ctl, id, r);
}

static void
parent_msg_cb(struct ipc_peer *peer, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct control *ctl = arg;
	struct proto_reload rl;

	switch (type) {
	case PROTO_SHUTDOWN:
		if (proto_empty_dec(r) == -1)
			fatalx("%s: bad SHUTDOWN", __func__);
		log_notice(LOG_CAT_CONTROL, "event=shutdown");
		event_base_loopexit(ctl->base, NULL);
		break;
	case PROTO_RELOAD:
		if (proto_reload_dec(r, &rl) == -1)
			fatalx("%s: bad RELOAD", __func__);
		/* the socket and the metrics listener need a restart */
		proto_ready_send(peer, PROTO_READY_RELOAD, 1, NULL);
		break;
	case PROTO_LOG_LEVEL:
		if (control_log_apply(r) == -1)
			fatalx("%s: bad LOG_LEVEL", __func__);
		break;
	case PROTO_CTL_ANSWER:
		peer_answer(ctl, id, r);
		break;
	default:
		fatalx("%s: unexpected message %u from parent", __func__, type);
	}
}

static void
peer_close_cb(struct ipc_peer *peer, void *arg)
{
	struct control *ctl = arg;

	/* a sibling or the parent went away: the daemon is stopping */
	log_notice(LOG_CAT_CONTROL, "event=peer_closed peer=%s",
	    ipc_peer_name(peer));
	event_base_loopexit(ctl->base, NULL);
}

static void
scrape_cb(struct control_http_conn *hc, void *arg)
{
	stats_start(arg, NULL, 0, hc);
}

/*
 * The web console's hooks: logins go to auth, requests through dispatch
 * as a client without a socket, events to the queue.
 */
static void
console_login_cb(void *arg, struct console_conn *web, const char *user,
    const uint8_t *pass, size_t passlen, const char *ip)
{
	struct control *ctl = arg;
	struct proto_console_login q;
	struct login_wait *w;
	struct ipc_msg m;

	if (ctl->peer[PROC_AUTH] == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL) {
		console_login_done(web, PROTO_AUTH_TEMPFAIL);
		return;
	}
	w->seq = ++ctl->seq;
	w->web = web;
	TAILQ_INSERT_TAIL(&ctl->logins, w, entry);
	memset(&q, 0, sizeof(q));
	q.user = user;
	q.pass = pass != NULL ? pass : (const uint8_t *)"";
	q.passlen = passlen;
	q.client_ip = ip;
	q.certificate = pass == NULL;
	proto_console_login_enc(&m, w->seq, &q);
	ipc_send(ctl->peer[PROC_AUTH], &m);
}

static void
console_request_cb(void *arg, struct console_conn *web, struct ctl_req *q)
{
	struct control *ctl = arg;
	struct ctl_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		console_api_done(web, NULL, 0);
		return;
	}
	c->ctl = ctl;
	c->web = web;
	c->uid = geteuid();
	c->pid = getpid();
	ctl->n_req++;
	log_info(LOG_CAT_CONTROL, "event=request admin=%s op=%s", q->admin,
	    ctl_op_name(q->op));
	dispatch(ctl, c, 0, q);
}

static void
console_event_cb(void *arg, const char *type, const char *ip,
    const char *user, const char *detail)
{
	struct control *ctl = arg;

	if (ctl->peer[PROC_QUEUE] != NULL)
		proto_event_send(ctl->peer[PROC_QUEUE], type, ip, user, "",
		    detail);
}

static const struct console_hooks console_hooks = {
	console_login_cb, console_request_cb, console_event_cb
};

/* control_proc_main - the control process */
int
control_proc_main(struct proc_env *env)
{
	struct control *ctl;
	struct ctl_client *c;
	struct ctl_pending *p;
	struct login_wait *w;
	char err[512];

	log_set_proc("control");
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		fatal("%s: calloc", __func__);
	ctl->base = env->base;
	ctl->conf = env->conf;
	ctl->access = env->access;
	ctl->started = time(NULL);
	TAILQ_INIT(&ctl->clients);
	TAILQ_INIT(&ctl->pending);
	TAILQ_INIT(&ctl->logins);
	for (int i = 0; i < PROC_COUNT; i++) {
		/* ca's link is console_tls.c's blocking round trips */
		if (env->peer[i] < 0 || i == PROC_CA)
			continue;
		ctl->peer[i] = ipc_peer_new(ctl->base, env->peer[i],
		    proc_name(i), i == PROC_PARENT ? parent_msg_cb :
		    sibling_msg_cb, peer_close_cb, ctl);
	}
	if (env->control_fd >= 0) {
		ctl->evl = evconnlistener_new(ctl->base, accept_cb, ctl,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
		    env->control_fd);
		if (ctl->evl == NULL)
			fatal("%s: evconnlistener_new", __func__);
	}
	if (ctl->conf->metrics_listen[0] != '\0') {
		if ((ctl->http = control_http_new(ctl->base,
		    ctl->conf->metrics_listen, ctl->conf->metrics_allow,
		    ctl->conf->n_metrics_allow, scrape_cb, ctl, err,
		    sizeof(err))) == NULL)
			log_err(LOG_CAT_CONTROL, "event=metrics_failed error=\"%s\"",
			    err);
		else
			log_notice(LOG_CAT_CONTROL, "event=metrics_listen "
			    "address=%s", ctl->conf->metrics_listen);
	}
	if (ctl->conf->console_listen[0] != '\0') {
		if ((ctl->console = console_new(ctl->base, ctl->conf,
		    env->console_tls, &console_hooks, ctl, err,
		    sizeof(err))) == NULL) {
			log_err(LOG_CAT_CONTROL, "event=console_failed error=\"%s\"",
			    err);
			SSL_CTX_free(env->console_tls);
		} else
			log_notice(LOG_CAT_CONTROL, "event=console_listen "
			    "address=%s", ctl->conf->console_listen);
	}
	log_notice(LOG_CAT_CONTROL, "event=started admin_gid=%ld",
	    ctl->access.admin_gid);
	if (ctl->peer[PROC_PARENT] != NULL)
		proto_ready_send(ctl->peer[PROC_PARENT], PROTO_READY_START, 1,
		    NULL);
	event_base_dispatch(ctl->base);

	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL)
		client_free(c);
	while ((p = TAILQ_FIRST(&ctl->pending)) != NULL) {
		if (p->scrape)
			control_http_answer(p->scrape, NULL);
		if (p->client != NULL && p->client->web != NULL)
			client_send(p->client, 0, NULL, 0);
		pending_free(ctl, p);
	}
	while ((w = TAILQ_FIRST(&ctl->logins)) != NULL) {
		TAILQ_REMOVE(&ctl->logins, w, entry);
		console_login_done(w->web, PROTO_AUTH_TEMPFAIL);
		free(w);
	}
	console_free(ctl->console);
	control_http_free(ctl->http);
	if (ctl->evl)
		evconnlistener_free(ctl->evl);
	for (int i = 0; i < PROC_COUNT; i++)
		ipc_peer_free(ctl->peer[i]);
	conf_free(ctl->conf);
	free(ctl);
	return 0;
}
