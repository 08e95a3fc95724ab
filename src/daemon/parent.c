/*
 * parent.c - the privileged parent: checks the configuration and its
 * files, takes the spool lock, binds the listeners and the control
 * socket, starts the children, supervises them, relays signals and
 * reloads as IPC messages.
 *
 * Public: daemon_check_files, daemon_serve, priv_drop.
 *
 *   parent (root) ── binds ports, reads config and users file
 *     ├── smtp     (moat user, chrooted)   every network session
 *     ├── queue    (moat user)             queue.db, Maildirs, events
 *     ├── auth     (moat user, chrooted)   argon2id checks
 *     ├── mta      (moat user)             outbound delivery
 *     ├── control  (moat user, chrooted)   the admin socket, metrics
 *     ├── ca       (moat user, chrooted)   the TLS private key, signs
 *     └── lookup   (moat user)             does a recipient exist
 *
 * Each child is forked and execs moat again ("moat -X NAME", proc.c):
 * it parses the configuration itself and shares nothing of the
 * parent's memory. The process table and the socketpairs between the
 * children are in proc.c.
 *
 * SECURITY: the parent never reads from the network. A child that
 * dies unexpectedly takes the whole daemon down (no half-alive server).
 * The TLS private key is read by the ca process only (the parent
 * checks it in a throw-away child). The spool lock and every
 * descriptor not meant for a child stay in the parent.
 * LIMITS: CONF_MAX_LISTENERS listeners.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "../auth/users.h"
#include "../auth/users_ctl.h"
#include "../ca/ca_dkim.h"
#include "../control/control.h"
#include "../control/control_log.h"
#include "../ctl/ctl_msg.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls.h"
#include "../lib/log.h"
#include "../lookup/ldap_dir.h"
#include "../lookup/lookup_tables.h"
#include "../mta/mta_auth.h"
#include "../relaytest/relaytest.h"
#include "../sendmail/submit.h"
#include "config.h"
#include "daemon.h"
#include "dirs.h"
#include "notify.h"
#include "proc.h"
#include "reload.h"
#include "version.h"

#define STOP_PHASES	3
#define WAITERS_MAX	16	/* admin requests waiting for one answer */
#define RELOAD_TIMEOUT_SECS 30	/* for every child to apply a reload */
#define COUNTS_EVERY_SECS 5	/* STATUS= to the service manager */
#define COUNTS_TIMEOUT_MS 2000	/* for smtp's and queue's counts */
#define RELOAD_TEXT_MAX	2048	/* what a reload could not apply */
#define STOP_DELAY_MS	200	/* `moat stop`: its answer leaves first */

/* admin requests (control's ids) waiting for the same answer */
struct waiters {
	uint64_t		 id[WAITERS_MAX];
	size_t			 n;
};

/* the last reload, for `moat status` and `moat reload` */
struct reload_state {
	int			 children;	/* answers still to come */
	uint32_t		 tls_gen;	/* ca's verdict on its keys too */
	int			 again;		/* asked again meanwhile */
	struct waiters		 now, next;	/* its askers, the next's */
	struct event		*timer;
	int			 refused;	/* the file did not parse */
	char			 restart[RELOAD_TEXT_MAX];	/* "a; b" */
	char			 errors[RELOAD_TEXT_MAX];	/* "a; b" */
	int			 nrestart, nerrors;
	time_t			 last;		/* when the last one ended, 0: never */
	char			 result[16];	/* "ok", "partial", "refused" */
	char			 last_restart[RELOAD_TEXT_MAX];
	char			 last_errors[RELOAD_TEXT_MAX];
};

struct parent {
	struct event_base	*base;
	struct conf		*conf;		/* in force; owned */
	struct conf		*conf0;		/* of the start: what only a
						 * restart changes; owned */
	time_t			 started;
	pid_t			 pid[PROC_COUNT];
	struct ipc_peer		*peer[PROC_COUNT];
	int			 stopping;
	int			 phase;		/* stop phase in progress */
	int			 status;	/* exit status */
	struct control_log	*ctl_log;	/* runtime log levels, owned */
	unsigned		 up;		/* children that said READY */
	int			 ready;		/* READY=1 said at start */
	struct reload_state	 rl;
	int64_t			 sessions, queued;	/* -1: not known */
	int			 counts_waiting;	/* answers still to come */
	struct waiters		 status_waiters;
	struct event		*counts_timer;	/* every COUNTS_EVERY_SECS */
	struct event		*counts_late;	/* an answer is late */
	struct event		*stop_timer;	/* `moat stop` */
	int			 keys_fd;	/* to ca's keys socket (tls.c) */
	uint32_t		 tls_gen;	/* the last generation made */
	uint32_t		 tls_pending;	/* waiting for ca, 0: none */
	struct evbuffer		*tls_chains;	/* its chains, for smtp */
	uint32_t		 tls_count;
	char			 submit_path[CONF_PATH_MAX];	/* the bound
						 * submit_socket, "": none */
};

/* priv_drop - become user, chrooted into dir when dir is not NULL */
void
priv_drop(const char *user, const char *chroot_dir)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("user %s does not exist", user);
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1)
			fatal("chroot %s", chroot_dir);
		if (chdir("/") == -1)
			fatal("chdir /");
	}
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", user);
	if (setuid(0) != -1 || geteuid() == 0)
		fatalx("privileges were not dropped");
	/* no core dumps with secrets, but stay traceable by root */
	(void)prctl(PR_SET_DUMPABLE, 0);
}

static int
bind_listener(const struct conf_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (strchr(l->address, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)l->port);
		if (inet_pton(AF_INET6, l->address, &s6->sin6_addr) != 1)
			return -1;
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)l->port);
		if (inet_pton(AF_INET, l->address, &s4->sin_addr) != 1)
			return -1;
		sslen = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1 ||
	    listen(fd, 4096) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Every session is a descriptor: take the hard limit, which root may
 * also raise, so max_sessions is what limits us rather than EMFILE.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (geteuid() == 0 && rl.rlim_max < 65536)
		rl.rlim_max = 65536;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info(LOG_CAT_DAEMON, "event=fd_limit limit=%llu",
		    (unsigned long long)rl.rlim_cur);
}

/* one users file to auth; -1 with why when it could not be (logged) */
static int
send_users_file(struct parent *pa, const char *path, const char *knob,
    uint8_t which, char *why, size_t whylen)
{
	char err[512], *text;
	size_t len = 0;
	struct proto_users pu;
	struct ipc_msg m;
	struct stat st;

	int rc = 0;

	why[0] = '\0';
	if (stat(path, &st) == -1) {
		if (errno != ENOENT) {
			log_warn(LOG_CAT_AUTH, "event=users_unreadable path=%s "
			    "error=\"%s\"", path, strerror(errno));
			snprintf(why, whylen, "%s %.900s: %s", knob,
			    path, strerror(errno));
			rc = -1;
		}
		text = strdup("");
	} else if ((st.st_mode & 077) != 0) {
		log_err(LOG_CAT_AUTH, "event=users_refused path=%s reason=\"mode "
		    "%o: must not be readable by group or others (chmod 600)\"",
		    path, (unsigned)(st.st_mode & 0777));
		snprintf(why, whylen, "%s %.900s: mode %o: must not be "
		    "readable by group or others (chmod 600): no user can "
		    "log in", knob, path,
		    (unsigned)(st.st_mode & 0777));
		text = strdup("");
		rc = -1;
	} else if ((text = users_file_read(path, &len, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_AUTH, "event=users_unreadable error=\"%s\"", err);
		snprintf(why, whylen, "%s: the users stay as they were", err);
		return -1;
	}
	if (text == NULL)
		fatal("strdup");
	pu.text = (const uint8_t *)text;
	pu.len = len;
	pu.which = which;
	proto_users_enc(&m, 0, &pu);
	ipc_send(pa->peer[PROC_AUTH], &m);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

/* the users file and the console's to auth; -1 with why (the first) */
static int
send_users(struct parent *pa, char *why, size_t whylen)
{
	char why2[1024];
	int rc;

	rc = send_users_file(pa, pa->conf->users_file, "users_file",
	    PROTO_USERS_MAIL, why, whylen);
	if (send_users_file(pa, pa->conf->console_users, "console_users",
	    PROTO_USERS_CONSOLE, why2, sizeof(why2)) == -1) {
		if (rc == 0)
			snprintf(why, whylen, "%s", why2);
		rc = -1;
	}
	return rc;
}

static void
send_simple(struct parent *pa, int child, uint16_t type)
{
	struct ipc_msg m;

	if (pa->pid[child] <= 0)
		return;
	proto_empty_enc(&m, type, 0);
	ipc_send(pa->peer[child], &m);
}

/* stop the first phase that still has live processes */
static void
parent_stop_next(struct parent *pa)
{
	for (; pa->phase < STOP_PHASES; pa->phase++) {
		int live = 0;

		for (int i = 1; i < PROC_COUNT; i++)
			if (pa->pid[i] > 0 && proc_stop_phase(i) == pa->phase) {
				send_simple(pa, i, PROTO_SHUTDOWN);
				live++;
			}
		if (live)
			return;
	}
}

static void
parent_stop(struct parent *pa, int status)
{
	if (pa->stopping)
		return;
	pa->stopping = 1;
	pa->status = status;
	pa->phase = 0;
	notify_stopping();
	parent_stop_next(pa);
}

/* an admin request that waits for an answer; 0, -1 when too many */
static int
waiters_add(struct waiters *w, uint64_t id)
{
	if (w->n == WAITERS_MAX)
		return -1;
	w->id[w->n++] = id;
	return 0;
}

/* "a; b" += item */
static int
text_add(char *buf, size_t len, const char *item)
{
	size_t used = strlen(buf);

	if (used + 3 >= len)
		return -1;
	snprintf(buf + used, len - used, "%s%s", used ? "; " : "", item);
	return 0;
}

/*
 * The status line for the service manager (`systemctl status`): what
 * the daemon does, and what the last reload left undone.
 */
static void
status_line(const struct parent *pa, char *buf, size_t len)
{
	char q[32] = "?", s[32] = "?";

	if (pa->sessions < 0 && pa->queued < 0) {
		/* READY=1 comes first; the counts follow at once */
		snprintf(buf, len, "up; counting sessions and queued messages");
		return;
	}
	if (pa->sessions >= 0)
		snprintf(s, sizeof(s), "%lld", (long long)pa->sessions);
	if (pa->queued >= 0)
		snprintf(q, sizeof(q), "%lld", (long long)pa->queued);
	snprintf(buf, len, "%s session%s, %s message%s queued%s", s,
	    pa->sessions == 1 ? "" : "s", q, pa->queued == 1 ? "" : "s",
	    pa->rl.last_restart[0] ? "; a restart is needed for the last "
	    "reload" : "");
}

static const char *const reload_cols[] = { "kind", "what" };
static const enum ctl_kind reload_kinds[] = { CTL_KIND_STR, CTL_KIND_STR };

/* one row per item of "a; b" */
static void
reload_rows(struct ipc_msg *ans, const char *kind, const char *list)
{
	const char *p = list, *e;

	while (*p) {
		e = strstr(p, "; ");
		ctl_ans_row(ans);
		ipc_put_str(ans, kind);
		if (e == NULL) {
			ipc_put_str(ans, p);
			break;
		}
		{
			char item[RELOAD_TEXT_MAX];

			snprintf(item, sizeof(item), "%.*s", (int)(e - p), p);
			ipc_put_str(ans, item);
		}
		p = e + 2;
	}
}

/* the answer of `moat reload`: a table of what was not applied */
static void
reload_answer(struct parent *pa, uint64_t id)
{
	struct reload_state *rl = &pa->rl;
	struct ipc_msg ans;
	char msg[256];

	if (pa->peer[PROC_CONTROL] == NULL)
		return;
	if (rl->refused)
		snprintf(msg, sizeof(msg), "reload refused: the running "
		    "configuration stays");
	else if (rl->nrestart || rl->nerrors) {
		char r[64] = "", e[64] = "";

		if (rl->nrestart)
			snprintf(r, sizeof(r), "%d change%s need%s a restart",
			    rl->nrestart, rl->nrestart == 1 ? "" : "s",
			    rl->nrestart == 1 ? "s" : "");
		if (rl->nerrors)
			snprintf(e, sizeof(e), "%d error%s", rl->nerrors,
			    rl->nerrors == 1 ? "" : "s");
		snprintf(msg, sizeof(msg), "reloaded, but not all of it: %s%s%s",
		    r, r[0] && e[0] ? ", " : "", e);
	}
	else
		snprintf(msg, sizeof(msg), "reloaded");
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, rl->refused ? CTL_FAILED : CTL_OK, msg);
	ctl_ans_table(&ans, "reload", 2, reload_cols, reload_kinds);
	reload_rows(&ans, "error", rl->errors);
	reload_rows(&ans, "restart", rl->restart);
	ctl_ans_end(&ans);
	ctl_answer_send(pa->peer[PROC_CONTROL], id, &ans);
}

static void parent_reload(struct parent *);

/*
 * Every child has applied the reload (or RELOAD_TIMEOUT_SECS passed):
 * log, remember and answer what happened, READY=1 again.
 */
static void
reload_done(struct parent *pa)
{
	struct reload_state *rl = &pa->rl;
	char status[256], esc_r[RELOAD_TEXT_MAX * 2], esc_e[RELOAD_TEXT_MAX * 2];

	evtimer_del(rl->timer);
	rl->children = 0;
	rl->tls_gen = 0;
	rl->last = time(NULL);
	snprintf(rl->result, sizeof(rl->result), "%s", rl->refused ?
	    "refused" : rl->nrestart || rl->nerrors ? "partial" : "ok");
	snprintf(rl->last_restart, sizeof(rl->last_restart), "%s",
	    rl->restart);
	snprintf(rl->last_errors, sizeof(rl->last_errors), "%s", rl->errors);
	log_escape(esc_r, sizeof(esc_r), rl->restart, strlen(rl->restart));
	log_escape(esc_e, sizeof(esc_e), rl->errors, strlen(rl->errors));
	if (!rl->refused)
		log_notice(LOG_CAT_DAEMON, "event=reload_done path=%s "
		    "result=%s%s%s%s%s%s%s", pa->conf->path, rl->result, rl->nrestart ?
		    " restart_needed=\"" : "", esc_r, rl->nrestart ? "\"" : "",
		    rl->nerrors ? " errors=\"" : "", rl->nerrors ? esc_e : "",
		    rl->nerrors ? "\"" : "");
	for (size_t i = 0; i < rl->now.n; i++)
		reload_answer(pa, rl->now.id[i]);
	rl->now.n = 0;
	status_line(pa, status, sizeof(status));
	if (pa->ready)		/* else the start's READY=1 is still to come */
		notify_ready(status);
	if (rl->again || rl->next.n > 0) {
		rl->again = 0;
		parent_reload(pa);
	}
}

static void
reload_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct parent *pa = arg;
	char why[128];

	for (int i = 1; i < PROC_COUNT; i++)
		if (pa->pid[i] > 0 && (pa->rl.children & (1 << i))) {
			snprintf(why, sizeof(why), "%s: no answer to the reload "
			    "in %d s", proc_name(i), RELOAD_TIMEOUT_SECS);
			pa->rl.nerrors += text_add(pa->rl.errors,
			    sizeof(pa->rl.errors), why) == 0;
		}
	if (pa->rl.tls_gen != 0) {
		snprintf(why, sizeof(why), "ca: no word on the new TLS keys "
		    "in %d s", RELOAD_TIMEOUT_SECS);
		pa->rl.nerrors += text_add(pa->rl.errors,
		    sizeof(pa->rl.errors), why) == 0;
	}
	reload_done(pa);
}

/* PROTO_READY of a reload from child i */
static void
reload_child_done(struct parent *pa, int i, const struct proto_ready *rd)
{
	struct reload_state *rl = &pa->rl;
	char item[RELOAD_TEXT_MAX];

	if (!(rl->children & (1 << i)))
		return;		/* late, after the timeout */
	rl->children &= ~(1 << i);
	if (!rd->ok) {
		snprintf(item, sizeof(item), "%s: %s", proc_name(i),
		    rd->note[0] ? rd->note : "not applied");
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    item) == 0;
	}
	if (rl->children == 0 && rl->tls_gen == 0)
		reload_done(pa);
}

/*
 * A reload's certificates. A child reads and checks every pair of nc
 * and hands the keys to ca itself (tls_load_keys), so no key is ever in
 * this process; the chains come back here and go to smtp when ca says
 * it holds the keys (parent_tls_loaded), after the RELOAD that carries
 * the tls_* knobs. A bad pair fails the whole reload: "FILE:LINE: KNOB:
 * what" in err, and nothing changes. 0 or -1.
 */
static void parent_tls_retire(struct parent *, uint32_t);

static int
parent_tls_reload(struct parent *pa, const struct conf *nc, char *err,
    size_t errlen)
{
	static struct conf_tls_pair pairs[CONF_TLS_PAIRS_MAX];
	const char *certs[CONF_TLS_PAIRS_MAX], *keys[CONF_TLS_PAIRS_MAX];
	size_t n = conf_tls_pairs(nc, pairs, CONF_TLS_PAIRS_MAX);
	struct evbuffer *chains;
	char why[900];
	uint32_t gen;

	if (n == 0 || pa->keys_fd == -1 || pa->pid[PROC_CA] <= 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		certs[i] = pairs[i].cert;
		keys[i] = pairs[i].key;
	}
	if ((chains = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	gen = ++pa->tls_gen;
	if (tls_load_keys(certs, keys, n, pa->keys_fd, gen, chains, why,
	    sizeof(why)) == -1) {
		const char *knob = "tls_certificates";

		/* which knob: the default pair's errors name its file */
		if (strncmp(why, pairs[0].cert, strlen(pairs[0].cert)) == 0 &&
		    why[strlen(pairs[0].cert)] == ':')
			knob = "tls_cert";
		else if (strncmp(why, pairs[0].key, strlen(pairs[0].key)) == 0 &&
		    why[strlen(pairs[0].key)] == ':')
			knob = "tls_key";
		if (snprintf(err, errlen, "%s:%d: %s: %s", nc->path,
		    conf_knob_line(nc, knob), knob, why) >= (int)errlen)
			err[errlen - 1] = '\0';	/* cut, as it is */
		evbuffer_free(chains);
		return -1;
	}
	/* a reload before ca answered the one before: that one is void */
	if (pa->tls_pending != 0)
		parent_tls_retire(pa, pa->tls_pending);
	if (pa->tls_chains != NULL)
		evbuffer_free(pa->tls_chains);
	pa->tls_chains = chains;
	pa->tls_pending = gen;
	pa->tls_count = (uint32_t)n;
	return 0;
}

/* ca can drop generation gen, which smtp never got */
static void
parent_tls_retire(struct parent *pa, uint32_t gen)
{
	struct proto_tls_gen g;
	struct ipc_msg m;

	memset(&g, 0, sizeof(g));
	g.gen = gen;
	g.state = PROTO_TLS_RETIRED;
	proto_tls_gen_enc(&m, 0, &g);
	ipc_send(pa->peer[PROC_CA], &m);
}

/* ca's verdict on the reload's keys ends the reload's wait for it */
static void
parent_tls_verdict(struct parent *pa, uint32_t gen, const char *error)
{
	struct reload_state *rl = &pa->rl;
	char why[RELOAD_TEXT_MAX];

	if (rl->tls_gen != gen)
		return;		/* late, after the timeout */
	rl->tls_gen = 0;
	if (error != NULL) {
		snprintf(why, sizeof(why), "ca: the new TLS keys did not load "
		    "(the certificates in use stay): %s", error);
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    why) == 0;
	}
	if (rl->children == 0)
		reload_done(pa);
}

/* ca's answer to a reload's keys: smtp gets the chains, or nothing */
static void
parent_tls_loaded(struct parent *pa, struct ipc_reader *r)
{
	struct proto_tls_gen g;
	struct proto_tls_keys k;
	struct ipc_msg m;
	uint8_t *p;
	size_t len, off = 0;
	uint32_t n;

	if (proto_tls_gen_dec(r, &g) == -1 || g.state == PROTO_TLS_RETIRED)
		fatalx("%s: bad TLS_GEN from ca", __func__);
	if (g.gen != pa->tls_pending)
		return;		/* a reload replaced it (retired above) */
	pa->tls_pending = 0;
	if (g.state == PROTO_TLS_FAILED) {
		log_err(LOG_CAT_TLS, "event=tls_reload_failed generation=%u "
		    "error=\"%s\" action=\"keeping the certificates in use\"",
		    g.gen, g.error);
		evbuffer_free(pa->tls_chains);
		pa->tls_chains = NULL;
		parent_tls_verdict(pa, g.gen, g.error);
		return;
	}
	memset(&k, 0, sizeof(k));
	k.gen = g.gen;
	k.count = pa->tls_count;
	len = evbuffer_get_length(pa->tls_chains);
	p = evbuffer_pullup(pa->tls_chains, -1);
	for (uint32_t i = 0; i < k.count; i++) {
		if (len - off < sizeof(n))
			fatalx("%s: short chains", __func__);
		memcpy(&n, p + off, sizeof(n));
		off += sizeof(n);
		if (len - off < n)
			fatalx("%s: short chains", __func__);
		k.item[i].pem = p + off;
		k.item[i].len = n;
		off += n;
	}
	proto_tls_keys_enc(&m, 0, &k);
	ipc_send(pa->peer[PROC_SMTP], &m);
	evbuffer_free(pa->tls_chains);
	pa->tls_chains = NULL;
	log_notice(LOG_CAT_TLS, "event=tls_reload generation=%u "
	    "certificates=%u", k.gen, k.count);
	parent_tls_verdict(pa, k.gen, NULL);
}

/*
 * The one reload, of SIGHUP and of `moat reload` alike: parse the file
 * again; a bad one is refused whole and the running configuration
 * stays. A good one goes to every child, which applies what it can and
 * answers PROTO_READY; reload_done then says what needed a restart
 * (reload.c) and what failed. The levels set with `moat log` stay.
 */
static void
parent_reload(struct parent *pa)
{
	struct reload_state *rl = &pa->rl;
	char err[1024], why[RELOAD_TEXT_MAX];
	struct conf *nc;
	char *text;
	size_t len = 0;
	struct proto_reload prl;
	struct ipc_msg m;
	struct timeval tv = { RELOAD_TIMEOUT_SECS, 0 };
	int before[LOG_CAT_COUNT];

	if (pa->stopping)
		return;
	if (rl->children || rl->tls_gen) {	/* one is running: then another */
		rl->again = 1;
		return;
	}
	rl->now = rl->next;
	rl->next.n = 0;
	rl->refused = rl->nrestart = rl->nerrors = 0;
	rl->restart[0] = rl->errors[0] = '\0';
	if (pa->ready)
		notify_reloading();
	if (strcmp(pa->conf->path, "(builtin)") == 0) {
		log_notice(LOG_CAT_DAEMON, "event=reload config=builtin");
		if (send_users(pa, why, sizeof(why)) == -1)
			rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
			    why) == 0;
		reload_done(pa);
		return;
	}
	/* one reading: the children parse the very text checked here */
	if ((nc = conf_load_text(pa->conf->path, &text, &len, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_DAEMON, "event=reload_failed error=\"%s\" "
		    "action=\"keeping the running configuration\"", err);
		conf_free(nc);
		rl->refused = 1;
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    err) == 0;
		reload_done(pa);
		return;
	}
	/* the certificates first: a pair that does not load refuses it all */
	if (parent_tls_reload(pa, nc, err, sizeof(err)) == -1) {
		log_err(LOG_CAT_DAEMON, "event=reload_failed error=\"%s\" "
		    "action=\"keeping the running configuration\"", err);
		conf_free(nc);
		free(text);
		rl->refused = 1;
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    err) == 0;
		reload_done(pa);
		return;
	}
	/* the tables the lookup process loads again: their file:line */
	if (lookup_tables_check(nc, err, sizeof(err)) == -1) {
		snprintf(why, sizeof(why), "%s (the old contents stay)", err);
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    why) == 0;
	}
	log_notice(LOG_CAT_DAEMON, "event=reload path=%s", nc->path);
	if ((rl->nrestart = reload_needs_restart(pa->conf0, nc, rl->restart,
	    sizeof(rl->restart))) < 0)
		rl->nrestart = 0;
	for (int i = 0; i < LOG_CAT_COUNT; i++)
		before[i] = (int)log_get_level((enum log_cat)i);
	conf_apply_log_levels(nc);
	for (int i = 1; i < PROC_COUNT; i++) {
		if (pa->pid[i] <= 0)
			continue;
		prl.text = (const uint8_t *)text;
		prl.len = len;
		prl.path = nc->path;
		proto_reload_enc(&m, 0, &prl);
		ipc_send(pa->peer[i], &m);
		rl->children |= 1 << i;
	}
	free(text);
	/* after the RELOADs, which set the file's levels in the children */
	control_log_reload(pa->ctl_log, pa->conf, nc, before);
	if (pa->conf != pa->conf0)
		conf_free(pa->conf);
	pa->conf = nc;
	if (send_users(pa, why, sizeof(why)) == -1)
		rl->nerrors += text_add(rl->errors, sizeof(rl->errors),
		    why) == 0;
	/* done when every child and ca (on the keys) have answered */
	rl->tls_gen = pa->tls_pending;
	if (rl->children == 0 && rl->tls_gen == 0)
		reload_done(pa);
	else
		evtimer_add(rl->timer, &tv);
}

/* `moat reload`: its answer comes when the reload is done */
static void
parent_reload_request(struct parent *pa, struct ipc_peer *from, uint64_t id,
    uint32_t uid)
{
	char detail[64];

	if (waiters_add(&pa->rl.next, id) == -1) {
		ctl_answer_simple(from, id, CTL_FAILED, "too many reloads "
		    "asked for at once");
		return;
	}
	snprintf(detail, sizeof(detail), "uid=%lu op=reload",
	    (unsigned long)uid);
	log_notice(LOG_CAT_DAEMON, "event=reload_requested %s", detail);
	if (pa->peer[PROC_QUEUE] != NULL)
		proto_event_send(pa->peer[PROC_QUEUE], "admin_reload", "", "",
		    "", detail);
	parent_reload(pa);
}

/*
 * Counts: the sessions (smtp) and the queued messages (queue), asked
 * every COUNTS_EVERY_SECS when a service manager listens, and for each
 * `moat status`.
 */
static void
counts_poll(struct parent *pa)
{
	struct proto_counts c = { -1, -1 };
	struct ipc_msg m;
	struct timeval tv = { COUNTS_TIMEOUT_MS / 1000,
	    (COUNTS_TIMEOUT_MS % 1000) * 1000 };

	if (pa->counts_waiting > 0)
		return;
	for (int i = PROC_SMTP; i <= PROC_QUEUE; i++) {
		if (pa->pid[i] <= 0 || pa->peer[i] == NULL)
			continue;
		proto_counts_enc(&m, 0, &c);
		ipc_send(pa->peer[i], &m);
		pa->counts_waiting++;
	}
	evtimer_add(pa->counts_late, &tv);
}

static void status_answer(struct parent *, uint64_t);

/* the counts are in (or late): STATUS=, and the waiting `moat status` */
static void
counts_done(struct parent *pa)
{
	char status[256];

	pa->counts_waiting = 0;
	evtimer_del(pa->counts_late);
	for (size_t i = 0; i < pa->status_waiters.n; i++)
		status_answer(pa, pa->status_waiters.id[i]);
	pa->status_waiters.n = 0;
	if (!pa->stopping && pa->rl.children == 0) {
		status_line(pa, status, sizeof(status));
		notify_status(status);
	}
}

static void
counts_late_cb(evutil_socket_t fd, short what, void *arg)
{
	counts_done(arg);
}

static void
counts_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	counts_poll(arg);
}

/* PROTO_COUNTS from smtp or queue */
static void
counts_msg(struct parent *pa, struct ipc_reader *r)
{
	struct proto_counts c;

	if (proto_counts_dec(r, &c) == -1)
		fatalx("%s: bad COUNTS", __func__);
	if (c.sessions >= 0)
		pa->sessions = c.sessions;
	if (c.queued >= 0)
		pa->queued = c.queued;
	if (pa->counts_waiting > 0 && --pa->counts_waiting == 0)
		counts_done(pa);
}

static const char *const daemon_cols[] = { "version", "pid", "config",
    "started", "uptime", "sessions", "queued", "reloaded", "reload_result",
    "reload_restart_needed", "reload_errors" };
static const enum ctl_kind daemon_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_STR, CTL_KIND_TIME, CTL_KIND_DUR, CTL_KIND_INT, CTL_KIND_INT,
    CTL_KIND_TIME, CTL_KIND_STR, CTL_KIND_STR, CTL_KIND_STR };
static const char *const listen_cols[] = { "listener", "address", "port",
    "role" };
static const enum ctl_kind listen_kinds[] = { CTL_KIND_STR, CTL_KIND_STR,
    CTL_KIND_INT, CTL_KIND_STR };
static const char *const child_cols[] = { "process", "pid", "state" };
static const enum ctl_kind child_kinds[] = { CTL_KIND_STR, CTL_KIND_INT,
    CTL_KIND_STR };

/* `moat status`: the daemon, its listeners (as bound) and children */
static void
status_answer(struct parent *pa, uint64_t id)
{
	struct reload_state *rl = &pa->rl;
	struct ipc_msg ans;
	time_t now = time(NULL);

	if (pa->peer[PROC_CONTROL] == NULL)
		return;
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, pa->stopping ? "moat is stopping" :
	    "moat is running");
	ctl_ans_table(&ans, "daemon", sizeof(daemon_cols) /
	    sizeof(daemon_cols[0]), daemon_cols, daemon_kinds);
	ctl_ans_row(&ans);
	ipc_put_str(&ans, MOAT_VERSION);
	ipc_put_i64(&ans, (int64_t)getpid());
	ipc_put_str(&ans, pa->conf->path);
	ipc_put_i64(&ans, (int64_t)pa->started);
	ipc_put_i64(&ans, (int64_t)(now - pa->started));
	ipc_put_i64(&ans, pa->sessions);
	ipc_put_i64(&ans, pa->queued);
	ipc_put_i64(&ans, (int64_t)rl->last);
	ipc_put_str(&ans, rl->last ? rl->result : "");
	ipc_put_str(&ans, rl->last_restart);
	ipc_put_str(&ans, rl->last_errors);
	ctl_ans_table(&ans, "listeners", 4, listen_cols, listen_kinds);
	for (size_t i = 0; i < pa->conf0->n_listeners; i++) {
		const struct conf_listener *l = &pa->conf0->listeners[i];

		ctl_ans_row(&ans);
		ipc_put_str(&ans, l->name);
		ipc_put_str(&ans, l->address);
		ipc_put_i64(&ans, l->port);
		ipc_put_str(&ans, conf_role_name(l->role));
	}
	ctl_ans_table(&ans, "children", 3, child_cols, child_kinds);
	for (int i = 1; i < PROC_COUNT; i++) {
		if (!proc_runs(i))
			continue;
		ctl_ans_row(&ans);
		ipc_put_str(&ans, proc_name(i));
		ipc_put_i64(&ans, (int64_t)pa->pid[i]);
		ipc_put_str(&ans, pa->pid[i] <= 0 ? "gone" :
		    (pa->up & (1u << i)) ? "up" : "starting");
	}
	ctl_ans_end(&ans);
	ctl_answer_send(pa->peer[PROC_CONTROL], id, &ans);
}

static void
stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	parent_stop(arg, 0);
}

/* `moat stop`: answered at once with our pid; the stop follows */
static void
parent_stop_request(struct parent *pa, struct ipc_peer *from, uint64_t id,
    uint32_t uid)
{
	static const char *const cols[] = { "pid" };
	static const enum ctl_kind kinds[] = { CTL_KIND_INT };
	struct timeval tv = { 0, STOP_DELAY_MS * 1000 };
	struct ipc_msg ans;
	char detail[64];

	snprintf(detail, sizeof(detail), "uid=%lu op=stop",
	    (unsigned long)uid);
	log_notice(LOG_CAT_DAEMON, "event=stop_requested %s", detail);
	if (pa->peer[PROC_QUEUE] != NULL)
		proto_event_send(pa->peer[PROC_QUEUE], "admin_stop", "", "", "",
		    detail);
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "stopping");
	ctl_ans_table(&ans, "stop", 1, cols, kinds);
	ctl_ans_row(&ans);
	ipc_put_i64(&ans, (int64_t)getpid());
	ctl_ans_end(&ans);
	ctl_answer_send(from, id, &ans);
	/* a moment for the answer to reach the admin before control stops */
	evtimer_add(pa->stop_timer, &tv);
}

/* PROTO_READY of the start from child i: READY=1 once all are up */
static void
ready_child(struct parent *pa, int i)
{
	char status[256];

	pa->up |= 1u << i;
	for (int c = 1; c < PROC_COUNT; c++)
		if (proc_runs(c) && !(pa->up & (1u << c)))
			return;
	if (pa->ready || pa->stopping)
		return;
	pa->ready = 1;
	log_notice(LOG_CAT_DAEMON, "event=ready pid=%ld", (long)getpid());
	status_line(pa, status, sizeof(status));
	notify_ready(status);
	if (notify_init())	/* the STATUS= numbers now, not in 5 s */
		counts_poll(pa);
}

static void
parent_reap(struct parent *pa)
{
	pid_t pid;
	int st, i, alive = 0, phase_alive = 0;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 1; i < PROC_COUNT; i++)
			if (pa->pid[i] == pid)
				break;
		if (i == PROC_COUNT)
			continue;
		pa->pid[i] = 0;
		if (WIFSIGNALED(st))
			log_err(LOG_CAT_DAEMON, "event=child_died child=%s signal=%d",
			    proc_name(i), WTERMSIG(st));
		else if (!pa->stopping || WEXITSTATUS(st) != 0)
			log_err(LOG_CAT_DAEMON, "event=child_died child=%s status=%d",
			    proc_name(i), WEXITSTATUS(st));
		if (!pa->stopping)
			parent_stop(pa, 1);	/* no half-alive server */
		else if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0)
			pa->status = 1;
	}
	for (i = 1; i < PROC_COUNT; i++) {
		alive += pa->pid[i] > 0;
		if (pa->pid[i] > 0 && proc_stop_phase(i) <= pa->phase)
			phase_alive++;
	}
	if (alive == 0)
		event_base_loopexit(pa->base, NULL);
	else if (pa->stopping && phase_alive == 0) {
		pa->phase++;
		parent_stop_next(pa);
	}
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct parent *pa = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_notice(LOG_CAT_DAEMON, "event=signal signal=%s",
		    sig == SIGTERM ? "TERM" : "INT");
		parent_stop(pa, 0);
		break;
	case SIGHUP:
		parent_reload(pa);
		break;
	case SIGCHLD:
		parent_reap(pa);
		break;
	}
}

static void
parent_peer_msg(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct parent *pa = arg;
	char why[RELOAD_TEXT_MAX];
	int from;

	for (from = 1; from < PROC_COUNT; from++)
		if (pa->peer[from] == p)
			break;
	if (type == PROTO_READY && from < PROC_COUNT) {
		struct proto_ready rd;

		if (proto_ready_dec(r, &rd) == -1)
			fatalx("%s: bad READY from %s", __func__,
			    ipc_peer_name(p));
		if (rd.what == PROTO_READY_START)
			ready_child(pa, from);
		else
			reload_child_done(pa, from, &rd);
		return;
	}
	if (type == PROTO_COUNTS && (from == PROC_SMTP || from == PROC_QUEUE)) {
		counts_msg(pa, r);
		return;
	}
	/* `moat user list|passwd`: the parent owns the users file */
	if (type == PROTO_CTL_REQUEST && p == pa->peer[PROC_CONTROL]) {
		struct ipc_reader peek = *r;
		struct proto_ctl_request q;
		struct ctl_req cq;
		uint32_t uid;

		(void)proto_ctl_request_dec(&peek, &q);	/* checked below */
		if (users_ctl_is_op(q.op)) {
			if (users_ctl_request(users_ctl_console_op(q.op) ?
			    pa->conf->console_users : pa->conf->users_file, p,
			    pa->peer[PROC_QUEUE], id, r) == 1)
				(void)send_users(pa, why, sizeof(why));
			return;
		}
		/* `moat reload|stop|status`: the parent's own */
		if (q.op == CTL_OP_RELOAD || q.op == CTL_OP_STOP ||
		    q.op == CTL_OP_STATUS) {
			if (ctl_request_read(p, id, r, &cq, &uid) == -1)
				return;
			if (cq.op == CTL_OP_RELOAD)
				parent_reload_request(pa, p, id, uid);
			else if (cq.op == CTL_OP_STOP)
				parent_stop_request(pa, p, id, uid);
			else if (waiters_add(&pa->status_waiters, id) == -1)
				ctl_answer_simple(p, id, CTL_FAILED, "too many "
				    "status requests at once");
			else
				counts_poll(pa);
			return;
		}
	}
	/* ca holds a reload's keys: smtp may have the certificates */
	if (type == PROTO_TLS_GEN && p == pa->peer[PROC_CA]) {
		parent_tls_loaded(pa, r);
		return;
	}
	/* moat sendmail: the login name of a local session's uid */
	if (type == PROTO_LOCAL_IDENT && p == pa->peer[PROC_SMTP]) {
		submit_ident(pa->conf, p, id, r);
		return;
	}
	/* `moat log`: the parent owns runtime log levels (control_log.c) */
	if (type == PROTO_CTL_REQUEST && p == pa->peer[PROC_CONTROL] &&
	    pa->ctl_log != NULL) {
		control_log_request(pa->ctl_log, p, id, r);
		return;
	}
	log_warn(LOG_CAT_DAEMON, "event=unexpected_message peer=%s type=%u",
	    ipc_peer_name(p), type);
}

static void
parent_peer_close(struct ipc_peer *p, void *arg)
{
	/* the child's exit is handled through SIGCHLD */
}

/* pairs[a][b] is a's end of the a-b socketpair, -1: none */
static int pairs[PROC_COUNT][PROC_COUNT];
/* the parent's key loaders -> ca: [0] the parent's end, [1] ca's */
static int keys_pair[2] = { -1, -1 };

static void
make_pairs(void)
{
	int sv[2];

	for (int a = 0; a < PROC_COUNT; a++)
		for (int b = 0; b < PROC_COUNT; b++)
			pairs[a][b] = -1;
	for (int a = 0; a < PROC_COUNT; a++)
		for (int b = a + 1; b < PROC_COUNT; b++) {
			if (!proc_linked(a, b))
				continue;
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			    sv) == -1)
				fatal("socketpair");
			pairs[a][b] = sv[0];
			pairs[b][a] = sv[1];
		}
	if (proc_runs(PROC_CA) && socketpair(AF_UNIX, SOCK_STREAM |
	    SOCK_CLOEXEC, 0, keys_pair) == -1)
		fatal("socketpair");
}

/* "file:line: what" for a knob naming a file; no line if a default */
static void
file_error(const struct conf *c, const char *knob, const char *what)
{
	int line = conf_knob_line(c, knob);

	if (line > 0)
		fprintf(stderr, "moat: %s:%d: %s\n", c->path, line, what);
	else
		fprintf(stderr, "moat: %s: %s\n", c->path, what);
}

/*
 * A file an unprivileged check cannot read is reported and skipped:
 * serve reads it as root.
 */
static int
file_unreadable(const struct conf *c, const char *knob, const char *path)
{
	char why[CONF_PATH_MAX + 128];

	if (geteuid() == 0 || access(path, R_OK) == 0 || errno != EACCES)
		return 0;
	snprintf(why, sizeof(why), "warning: %s %s: not checked: permission "
	    "denied to uid %ld (moat serve reads it as root)", knob, path,
	    (long)geteuid());
	file_error(c, knob, why);
	return 1;
}

/* a recipient table an unprivileged check cannot read: reported */
static int
tables_unreadable(const struct conf *c)
{
	int n = 0;

	for (size_t i = 0; i < c->n_recipient_tables; i++)
		n += file_unreadable(c, "recipient_tables",
		    lookup_table_path(c->recipient_tables[i]));
	return n > 0;
}

/*
 * An [ldap NAME] section's bind_file (mode 0600, binddn and password)
 * and ca_file, refused with the line of the knob that names them.
 */
static int
check_ldap_files(const struct conf *c, const struct conf_ldap *l,
    int lenient)
{
	char err[CONF_PATH_MAX + 256];
	struct ldap_secret sec;
	int line, bad = 0;
	SSL_CTX *ctx;

	if (l->bind_file[0] != '\0' && !(lenient && geteuid() != 0 &&
	    access(l->bind_file, R_OK) == -1 && errno == EACCES) &&
	    ldap_secret_load(l->bind_file, &sec, err, sizeof(err)) == -1) {
		line = conf_ldap_knob_line(l, "bind_file");
		fprintf(stderr, "moat: %s:%d: ldap %s: bind_file %s\n",
		    c->path, line, l->name, err);
		bad = 1;
	}
	ldap_secret_wipe(&sec);
	if (l->ca_file[0] != '\0' && strcmp(l->tls, "none") != 0) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL || SSL_CTX_load_verify_locations(ctx,
		    l->ca_file, NULL) != 1) {
			line = conf_ldap_knob_line(l, "ca_file");
			fprintf(stderr, "moat: %s:%d: ldap %s: ca_file %s: no "
			    "CA certificate could be loaded\n", c->path, line,
			    l->name, l->ca_file);
			bad = 1;
		}
		SSL_CTX_free(ctx);
	}
	return bad ? -1 : 0;
}

/* the DKIM signing keys load as the ca process will load them */
static int
check_dkim_keys(const struct conf *c, int lenient)
{
	char err[CONF_PATH_MAX + 512];
	struct ca_dkim *d;

	for (size_t i = 0; lenient && i < c->n_dkim_sign; i++)
		if (file_unreadable(c, "dkim_sign",
		    strchr(strchr(c->dkim_sign[i], ':') + 1, ':') + 1))
			return 0;
	if ((d = ca_dkim_load(c, err, sizeof(err))) == NULL) {
		file_error(c, "dkim_sign", err);
		return -1;
	}
	ca_dkim_free(d);
	return 0;
}

/*
 * The files the configuration names are usable. serve passes serve=1;
 * check-config 0, and may skip (with a warning) a file it has no right
 * to read. The TLS keys (tls_key, tls_client_key) are checked in a
 * child (tls_check_pair).
 */
static int
check_files(const struct conf *c, int serve)
{
	char err[CONF_PATH_MAX + 256];
	int lenient = !serve, bad = 0;
	struct control_access access;
	static struct conf_tls_pair tp[CONF_TLS_PAIRS_MAX];
	size_t n_pairs = conf_tls_pairs(c, tp, CONF_TLS_PAIRS_MAX);

	if (lenient && control_access_resolve(c, &access, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		bad = 1;
	}

	for (size_t i = 0; i < n_pairs; i++) {
		const struct conf_tls_pair *t = &tp[i];
		int dflt = strcmp(t->knob, "tls_cert") == 0;

		if (lenient && (file_unreadable(c, t->knob, t->cert) ||
		    file_unreadable(c, dflt ? "tls_key" : t->knob, t->key)))
			continue;
		if (tls_check_pair(t->cert, t->key, err, sizeof(err)) == -1) {
			/* the key's errors name the key file */
			file_error(c, !dflt ? t->knob : strstr(err,
			    "load certificate") == NULL ? "tls_key" :
			    "tls_cert", err);
			bad = 1;
		}
	}
	if (c->smarthost_auth_file[0] != '\0' && !(lenient &&
	    file_unreadable(c, "smarthost_auth_file", c->smarthost_auth_file))) {
		struct mta_auth *a = mta_auth_load(c->smarthost_auth_file, err,
		    sizeof(err));

		if (a == NULL) {
			file_error(c, "smarthost_auth_file", err);
			bad = 1;
		}
		mta_auth_free(a);
		if (!c->smarthost_tls_verify)
			file_error(c, "smarthost_tls_verify", "warning: "
			    "smarthost_tls_verify = no: the smarthost "
			    "credentials go to any TLS peer, certificate "
			    "unchecked; whoever intercepts the connection "
			    "gets them");
	}
	for (size_t i = 0; i < c->n_ldap; i++)
		if (check_ldap_files(c, &c->ldap[i], lenient) == -1)
			bad = 1;
	if (check_dkim_keys(c, lenient) == -1)
		bad = 1;
	/* the lookup process's tables: their own "file:line:" */
	if (!(lenient && (file_unreadable(c, "mailboxes_file",
	    c->mailboxes_file) || file_unreadable(c, "aliases_file",
	    c->aliases_file) || tables_unreadable(c))) &&
	    lookup_tables_check(c, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		bad = 1;
	}
	if (c->tls_client_cert[0] != '\0' && !(lenient &&
	    (file_unreadable(c, "tls_client_cert", c->tls_client_cert) ||
	    file_unreadable(c, "tls_client_key", c->tls_client_key))) &&
	    tls_check_pair(c->tls_client_cert, c->tls_client_key, err,
	    sizeof(err)) == -1) {
		file_error(c, strstr(err, "load certificate") == NULL ?
		    "tls_client_key" : "tls_client_cert", err);
		bad = 1;
	}
	if (c->console_tls_cert[0] != '\0' && !(lenient &&
	    (file_unreadable(c, "console_tls_cert", c->console_tls_cert) ||
	    file_unreadable(c, "console_tls_key", c->console_tls_key))) &&
	    tls_check_pair(c->console_tls_cert, c->console_tls_key, err,
	    sizeof(err)) == -1) {
		file_error(c, strstr(err, "load certificate") == NULL ?
		    "console_tls_key" : "console_tls_cert", err);
		bad = 1;
	}
	if (c->console_client_ca[0] != '\0' && !(lenient &&
	    file_unreadable(c, "console_client_ca", c->console_client_ca))) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

		if (ctx == NULL || SSL_CTX_load_verify_locations(ctx,
		    c->console_client_ca, NULL) != 1) {
			snprintf(err, sizeof(err), "console_client_ca %s: no CA "
			    "certificate could be loaded", c->console_client_ca);
			file_error(c, "console_client_ca", err);
			bad = 1;
		}
		SSL_CTX_free(ctx);
	}
	if (c->tls_ca_file[0] != '\0' && !(lenient &&
	    file_unreadable(c, "tls_ca_file", c->tls_ca_file))) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

		if (ctx == NULL || SSL_CTX_load_verify_locations(ctx,
		    c->tls_ca_file, NULL) != 1) {
			snprintf(err, sizeof(err), "tls_ca_file %s: no CA "
			    "certificate could be loaded", c->tls_ca_file);
			file_error(c, "tls_ca_file", err);
			bad = 1;
		}
		SSL_CTX_free(ctx);
	}
	return bad ? -1 : 0;
}

/*
 * The spool first, and its lock: a second daemon on the same spool stops
 * there, before it binds a port or replaces the control socket. uid and
 * gid: the unprivileged user, or -1 when not started as root.
 */
static int
start_dirs(const struct conf *c, struct dirs *d, uid_t uid, gid_t gid)
{
	char err[2 * CONF_PATH_MAX + 256];
	uid_t self = geteuid();
	uid_t owner = uid != (uid_t)-1 ? uid : self;

	if (dirs_own(d, c->spool_dir, 0750, owner, gid, err, sizeof(err)) ||
	    dirs_lock(d, c->spool_dir, err, sizeof(err))) {
		file_error(c, "spool_dir", err);
		return -1;
	}
	if (dirs_own(d, c->mail_dir, 0750, owner, gid, err, sizeof(err))) {
		file_error(c, "mail_dir", err);
		return -1;
	}
	if (dirs_own(d, c->empty_dir, 0755, self, self == 0 ? 0 : getegid(),
	    err, sizeof(err)) || dirs_empty(c->empty_dir, err, sizeof(err))) {
		file_error(c, "empty_dir", err);
		return -1;
	}
	return 0;
}

/* daemon_check_files - the files the configuration names are usable */
int
daemon_check_files(const struct conf *c)
{
	return check_files(c, 0);
}

/* what a start makes before the children run, for them */
struct start {
	int			 exe_fd;	/* the binary the children exec */
	int			 lfd[CONF_MAX_LISTENERS];
	size_t			 n_listen;	/* bound so far */
	int			 ctl_fd;
	int			 submit_fd;	/* submit_socket, -1: off */
	struct control_access	 access;
	uid_t			 uid;		/* the children's, -1: no change */
	gid_t			 gid;
	struct dirs		 dirs;
};

/* start_undo - a start that failed takes back what it made */
static int
start_undo(struct start *st)
{
	while (st->n_listen > 0)
		close(st->lfd[--st->n_listen]);
	if (st->ctl_fd != -1)
		close(st->ctl_fd);
	if (st->submit_fd != -1)
		close(st->submit_fd);
	dirs_undo(&st->dirs);
	close(st->exe_fd);
	return -1;
}

/*
 * Everything that can be checked without touching the disk: the
 * children's user, the control socket's access, the files the
 * configuration names. The binary is held first: the children exec
 * the very file this parent was started from.
 */
static int
start_check(const struct conf *conf, struct start *st)
{
	struct passwd *pw;
	char err[1024];

	memset(st, 0, sizeof(*st));
	st->ctl_fd = -1;
	st->submit_fd = -1;
	st->uid = (uid_t)-1;
	st->gid = (gid_t)-1;
	dirs_init(&st->dirs);
	if ((st->exe_fd = proc_exe_open(err, sizeof(err))) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		return -1;
	}
	if (geteuid() == 0) {
		if ((pw = getpwnam(conf->user)) == NULL) {
			fprintf(stderr, "moat: user '%s' does not exist; create it "
			    "with: useradd --system --no-create-home --shell "
			    "/usr/sbin/nologin %s\n", conf->user, conf->user);
			return start_undo(st);
		}
		st->uid = pw->pw_uid;
		st->gid = pw->pw_gid;
	} else
		log_warn(LOG_CAT_DAEMON, "event=unprivileged uid=%ld note=\"not "
		    "started as root: no chroot and no user change\"",
		    (long)geteuid());
	/* the control socket's access: root and the admin group only */
	if (control_access_resolve(conf, &st->access, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		return start_undo(st);
	}
	if (check_files(conf, 1) == -1)
		return start_undo(st);
	return 0;
}

/*
 * The directories and the lock, the listeners, the control socket:
 * nothing is touched before this point; a failure from here on takes
 * back the directories this start made.
 */
static int
start_bind(const struct conf *conf, struct start *st)
{
	char err[1024];

	if (start_dirs(conf, &st->dirs, st->uid, st->gid) == -1)
		return start_undo(st);
	for (; st->n_listen < conf->n_listeners; st->n_listen++) {
		const struct conf_listener *l = &conf->listeners[st->n_listen];

		if ((st->lfd[st->n_listen] = bind_listener(l)) == -1) {
			fprintf(stderr, "moat: listener %s: cannot listen on %s port "
			    "%d: %s\n", l->name, l->address, l->port, strerror(errno));
			return start_undo(st);
		}
		log_notice(LOG_CAT_DAEMON, "event=listen listener=%s address=%s "
		    "port=%d role=%s", l->name, l->address, l->port,
		    conf_role_name(l->role));
	}
	/* local submission: smtp's listener of role local */
	if (conf->submit_socket[0] != '\0') {
		if ((st->submit_fd = submit_socket_create(conf->submit_socket,
		    err, sizeof(err))) == -1) {
			file_error(conf, "submit_socket", err);
			return start_undo(st);
		}
		log_notice(LOG_CAT_DAEMON, "event=listen listener=local "
		    "path=%s role=local", conf->submit_socket);
	}
	/* made as root, after the lock: never another daemon's socket */
	if ((st->ctl_fd = control_socket_create(conf->spool_dir,
	    st->access.admin_gid, err, sizeof(err))) == -1) {
		fprintf(stderr, "moat: control socket: %s\n", err);
		return start_undo(st);
	}
	dirs_forget(&st->dirs);
	return 0;
}

/*
 * Each child is forked and execs moat again (proc.c) with its ends of
 * its socketpairs and, for smtp and control, the sockets bound here;
 * then the parent keeps only its own ends. The spool lock stays here.
 */
static void
start_children(struct parent *pa, struct start *st)
{
	char digest[PROC_DIGEST_HEX];
	struct proc_start ps;

	if (proc_conf_digest(pa->conf, digest) == -1)
		fatalx("%s: out of memory", __func__);
	memset(&ps, 0, sizeof(ps));
	ps.exe_fd = st->exe_fd;
	ps.conf = pa->conf;
	ps.digest = digest;
	ps.listen_fds = st->lfd;
	ps.n_listen = st->n_listen;
	ps.submit_fd = st->submit_fd;
	ps.control_fd = st->ctl_fd;
	ps.keys_fd = keys_pair[1];
	for (int c = PROC_PARENT + 1; c < PROC_COUNT; c++) {
		if (!proc_runs(c))
			continue;
		ps.peer = pairs[c];
		pa->pid[c] = proc_start(c, &ps);
	}
	for (int a = PROC_PARENT + 1; a < PROC_COUNT; a++)
		for (int b = 0; b < PROC_COUNT; b++)
			if (pairs[a][b] >= 0) {
				close(pairs[a][b]);
				pairs[a][b] = -1;
			}
	while (st->n_listen > 0)
		close(st->lfd[--st->n_listen]);
	close(st->ctl_fd);
	if (st->submit_fd != -1)
		close(st->submit_fd);
	close(st->exe_fd);
	if (keys_pair[1] != -1)
		close(keys_pair[1]);
	pa->keys_fd = keys_pair[0];
}

/* relaytest_on_start: the listeners are bound and the children run;
 * the battery runs in a child of its own and we wait for it. A
 * configuration that relays never serves. */
static void
parent_relaytest(struct parent *pa)
{
	if (pa->stopping || !pa->conf->relaytest_on_start ||
	    relaytest_on_start(pa->conf) != -1)
		return;
	log_err(LOG_CAT_DAEMON, "event=relaytest_refused action=stop "
	    "reason=\"the relay battery failed against our own "
	    "listeners\"");
	parent_stop(pa, 1);
}

/* the parent's event loop, from the children's start to their end */
static void
parent_run(struct parent *pa)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct event *sigev[4];
	struct timeval every = { COUNTS_EVERY_SECS, 0 };
	char why[RELOAD_TEXT_MAX];

	signal(SIGPIPE, SIG_IGN);
	if ((pa->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((pa->rl.timer = evtimer_new(pa->base, reload_timeout_cb,
	    pa)) == NULL || (pa->counts_late = evtimer_new(pa->base,
	    counts_late_cb, pa)) == NULL || (pa->counts_timer =
	    event_new(pa->base, -1, EV_PERSIST, counts_timer_cb, pa)) == NULL ||
	    (pa->stop_timer = evtimer_new(pa->base, stop_timer_cb, pa)) == NULL)
		fatalx("%s: event_new", __func__);
	/* STATUS= for the service manager; `moat status` asks for itself */
	if (notify_init())
		event_add(pa->counts_timer, &every);
	for (int i = 1; i < PROC_COUNT; i++)
		if (pa->pid[i] > 0)
			pa->peer[i] = ipc_peer_new(pa->base, pairs[PROC_PARENT][i],
			    proc_name(i), parent_peer_msg, parent_peer_close, pa);
	pa->ctl_log = control_log_new(pa->base, pa->peer);
	for (int i = 0; i < 4; i++) {
		sigev[i] = evsignal_new(pa->base, sigs[i], signal_cb, pa);
		evsignal_add(sigev[i], NULL);
	}
	proc_signals_hold(0);	/* what came meanwhile is delivered now */
	(void)send_users(pa, why, sizeof(why));
	log_notice(LOG_CAT_DAEMON, "event=started pid=%ld smtp=%ld queue=%ld "
	    "auth=%ld mta=%ld control=%ld lookup=%ld", (long)getpid(),
	    (long)pa->pid[PROC_SMTP], (long)pa->pid[PROC_QUEUE],
	    (long)pa->pid[PROC_AUTH], (long)pa->pid[PROC_MTA],
	    (long)pa->pid[PROC_CONTROL], (long)pa->pid[PROC_LOOKUP]);
	/* a child may have died before the signal event existed */
	parent_reap(pa);
	parent_relaytest(pa);
	if (pa->stopping || pa->pid[PROC_SMTP] > 0)
		event_base_dispatch(pa->base);

	for (int i = 1; i < PROC_COUNT; i++)
		if (pa->pid[i] > 0)
			kill(pa->pid[i], SIGKILL);
	for (int i = 0; i < 4; i++)
		event_free(sigev[i]);
	event_free(pa->rl.timer);
	event_free(pa->counts_late);
	event_free(pa->counts_timer);
	event_free(pa->stop_timer);
	for (int i = 1; i < PROC_COUNT; i++)
		ipc_peer_free(pa->peer[i]);
	control_log_free(pa->ctl_log);
	event_base_free(pa->base);
}

/* daemon_serve - the parent's life */
int
daemon_serve(struct conf *conf)
{
	struct parent pa;
	struct start st;
	char sock[CONF_PATH_MAX + 32];

	memset(&pa, 0, sizeof(pa));
	pa.conf = pa.conf0 = conf;
	pa.started = time(NULL);
	pa.sessions = pa.queued = -1;
	pa.keys_fd = -1;
	if (start_check(conf, &st) == -1)
		return 1;
	proc_signals_hold(1);
	if (start_bind(conf, &st) == -1)
		return 1;
	if (st.submit_fd != -1)
		snprintf(pa.submit_path, sizeof(pa.submit_path), "%s",
		    conf->submit_socket);
	make_pairs();
	tzset();
	raise_fd_limit();
	fflush(NULL);
	start_children(&pa, &st);
	parent_run(&pa);
	/* where it was made: spool_dir as at the start */
	snprintf(sock, sizeof(sock), "%s/control.sock", pa.conf0->spool_dir);
	(void)unlink(sock);
	/* the one bound at start: a reload cannot move it */
	if (pa.submit_path[0] != '\0')
		(void)unlink(pa.submit_path);
	log_notice(LOG_CAT_DAEMON, "event=stopped status=%d", pa.status);
	if (pa.conf != pa.conf0)
		conf_free(pa.conf);
	conf_free(pa.conf0);
	return pa.status;
}
