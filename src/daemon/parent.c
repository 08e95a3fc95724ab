/*
 * parent.c - the privileged parent: binds the listeners, starts the
 * children, supervises them, relays signals as IPC messages.
 *
 * Public: daemon_serve, priv_drop.
 *
 *   parent (root) ── binds ports, reads config and users file
 *     ├── queue  (moat user)             queue.db, Maildirs, events
 *     ├── auth   (moat user, chrooted)   argon2id checks
 *     ├── ca     (moat user, chrooted)   the TLS private key, signs
 *     └── smtp   (moat user, chrooted)   every network session
 *
 * SECURITY: the parent never reads from the network. A child that
 * dies unexpectedly takes the whole daemon down (no half-alive server).
 * The TLS private key is read by the ca process only (the parent
 * checks it in a throw-away child), so no child is forked with it.
 * LIMITS: none.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "../auth/auth_proc.h"
#include "../auth/users.h"
#include "../auth/users_ctl.h"
#include "../ca/ca_proc.h"
#include "../control/control.h"
#include "../control/control_log.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls.h"
#include "../io/tls_key.h"
#include "../lib/log.h"
#include "../mta/mta.h"
#include "../mta/mta_auth.h"
#include "../queue/queue_proc.h"
#include "../relaytest/relaytest.h"
#include "../smtp/smtp.h"
#include "config.h"
#include "daemon.h"
#include "dirs.h"
#include "proc.h"

/*
 * The children. A process whose main is NULL is not started. Stop
 * phases: on SIGTERM the parent stops phase 0 first and the next phase
 * once every process of the one before has exited, so the network side
 * answers or aborts its sessions while the queue still commits.
 */
struct proc_def {
	const char	*name;
	int		(*main)(struct proc_env *);
	int		 chroot;	/* into empty_dir */
	int		 stop_phase;
};

static const struct proc_def procs[PROC_COUNT] = {
	[PROC_PARENT]	= { "main", NULL, 0, 0 },
	[PROC_SMTP]	= { "smtp", smtp_proc_main, 1, 0 },
	[PROC_QUEUE]	= { "queue", queue_proc_main, 0, 2 },
	[PROC_AUTH]	= { "auth", auth_proc_main, 1, 2 },
	/* mta: no chroot, see mta_proc.c (resolv.conf, CA store) */
	[PROC_MTA]	= { "mta", mta_proc_main, 0, 1 },
	[PROC_CONTROL]	= { "control", control_proc_main, 1, 0 },
	[PROC_CA]	= { "ca", ca_proc_main, 1, 1 },
};

/*
 * Work a child does before it drops root and enters its chroot (files
 * it must read once: resolver configuration, ...). -1 stops the daemon.
 */
static int (*const prepare[PROC_COUNT])(struct proc_env *) = {
	[PROC_SMTP]	= smtp_proc_prepare,
	[PROC_MTA]	= mta_proc_prepare,	/* smarthost_auth_file, as root */
	[PROC_CA]	= ca_proc_prepare,	/* tls_key, as root */
};

/* socketpairs between children; the parent has one with every child */
static const struct { enum proc_id a, b; } channels[] = {
	{ PROC_SMTP, PROC_QUEUE },
	{ PROC_SMTP, PROC_AUTH },
	{ PROC_QUEUE, PROC_MTA },
	{ PROC_CONTROL, PROC_QUEUE },
	{ PROC_CONTROL, PROC_SMTP },
	{ PROC_SMTP, PROC_CA },		/* blocking round trips, tls_key.c */
};

#define STOP_PHASES	3

struct parent {
	struct event_base	*base;
	struct conf		*conf;		/* owned */
	pid_t			 pid[PROC_COUNT];
	struct ipc_peer		*peer[PROC_COUNT];
	int			 stopping;
	int			 phase;		/* stop phase in progress */
	int			 status;	/* exit status */
	struct control_log	*ctl_log;	/* runtime log levels, owned */
};

/* proc_name - the name of a process, as in its title "moat-NAME" */
const char *
proc_name(enum proc_id id)
{
	return id < PROC_COUNT ? procs[id].name : "?";
}

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

/*
 * proc_event_base - the event loop of a child. With the epoll change
 * list, enabling and disabling I/O (which bufferevents do for every
 * reply) costs no epoll_ctl until the loop polls again, and changes
 * that cancel out cost none at all.
 */
static struct event_base *
proc_event_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void
send_users(struct parent *pa)
{
	char err[512], *text;
	size_t len = 0;
	struct proto_users pu;
	struct ipc_msg m;
	struct stat st;

	if (stat(pa->conf->users_file, &st) == -1) {
		if (errno != ENOENT)
			log_warn(LOG_CAT_AUTH, "event=users_unreadable path=%s "
			    "error=\"%s\"", pa->conf->users_file, strerror(errno));
		text = strdup("");
	} else if ((st.st_mode & 077) != 0) {
		log_err(LOG_CAT_AUTH, "event=users_refused path=%s reason=\"mode "
		    "%o: must not be readable by group or others (chmod 600)\"",
		    pa->conf->users_file, (unsigned)(st.st_mode & 0777));
		text = strdup("");
	} else if ((text = users_file_read(pa->conf->users_file, &len, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_AUTH, "event=users_unreadable error=\"%s\"", err);
		return;
	}
	if (text == NULL)
		fatal("strdup");
	pu.text = (const uint8_t *)text;
	pu.len = len;
	proto_users_enc(&m, 0, &pu);
	ipc_send(pa->peer[PROC_AUTH], &m);
	explicit_bzero(text, len);
	free(text);
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
			if (pa->pid[i] > 0 && procs[i].stop_phase == pa->phase) {
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
	parent_stop_next(pa);
}

static void
parent_reload(struct parent *pa)
{
	char err[1024];
	struct conf *nc;
	FILE *fp;
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	struct proto_reload rl;
	struct ipc_msg m;

	if (strcmp(pa->conf->path, "(builtin)") == 0) {
		log_notice(LOG_CAT_DAEMON, "event=reload config=builtin");
		send_users(pa);
		return;
	}
	if ((nc = conf_load(pa->conf->path, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DAEMON, "event=reload_failed error=\"%s\" "
		    "action=\"keeping the running configuration\"", err);
		return;
	}
	if ((fp = fopen(pa->conf->path, "r")) == NULL) {
		conf_free(nc);
		return;
	}
	do {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 16384;
			if ((text = realloc(text, cap)) == NULL)
				fatal("realloc");
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
	} while (n > 0);
	fclose(fp);
	conf_apply_log_levels(nc);
	for (int i = 1; i < PROC_COUNT; i++) {
		if (pa->pid[i] <= 0)
			continue;
		rl.text = (const uint8_t *)text;
		rl.len = len;
		rl.path = nc->path;
		proto_reload_enc(&m, 0, &rl);
		ipc_send(pa->peer[i], &m);
	}
	free(text);
	conf_free(pa->conf);
	pa->conf = nc;
	send_users(pa);
	log_notice(LOG_CAT_DAEMON, "event=reload path=%s", nc->path);
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
			    procs[i].name, WTERMSIG(st));
		else if (!pa->stopping || WEXITSTATUS(st) != 0)
			log_err(LOG_CAT_DAEMON, "event=child_died child=%s status=%d",
			    procs[i].name, WEXITSTATUS(st));
		if (!pa->stopping)
			parent_stop(pa, 1);	/* no half-alive server */
		else if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0)
			pa->status = 1;
	}
	for (i = 1; i < PROC_COUNT; i++) {
		alive += pa->pid[i] > 0;
		if (pa->pid[i] > 0 && procs[i].stop_phase <= pa->phase)
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

	/* `moat user list|passwd`: the parent owns the users file */
	if (type == PROTO_CTL_REQUEST && p == pa->peer[PROC_CONTROL]) {
		struct ipc_reader peek = *r;
		struct proto_ctl_request q;

		(void)proto_ctl_request_dec(&peek, &q);	/* checked below */
		if (users_ctl_is_op(q.op)) {
			if (users_ctl_request(pa->conf->users_file, p,
			    pa->peer[PROC_QUEUE], id, r) == 1)
				send_users(pa);
			return;
		}
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

/*
 * From the moment the ports accept connections a client or a service
 * manager may signal us: the signals wait, blocked, until the parent's
 * handlers exist (a SIGHUP would otherwise kill it).
 */
static void
signals_hold(int hold)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
}

/* the children keep only the descriptors they need */
static void
child_setup(const char *name)
{
	char title[32];

	snprintf(title, sizeof(title), "moat-%s", name);
	(void)prctl(PR_SET_NAME, title);
	log_set_proc(name);
	/* a service manager signals the whole group: only the parent acts
	 * on signals, the children stop when it tells them over IPC (or
	 * when its end of the socketpair closes) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signals_hold(0);
}

/* fds[PROC_COUNT][PROC_COUNT]: fds[a][b] is a's end of the a-b pair */
static int pairs[PROC_COUNT][PROC_COUNT];

static void
close_others(int self, const int *listen_fds, size_t n_listen)
{
	for (int a = 0; a < PROC_COUNT; a++)
		for (int b = 0; b < PROC_COUNT; b++)
			if (a != self && pairs[a][b] >= 0) {
				close(pairs[a][b]);
				pairs[a][b] = -1;
			}
	if (self != PROC_SMTP)
		for (size_t i = 0; i < n_listen; i++)
			close(listen_fds[i]);
}

static void
make_pair(int a, int b)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	pairs[a][b] = sv[0];
	pairs[b][a] = sv[1];
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

/*
 * The files the configuration names are usable. serve passes serve=1;
 * check-config 0, and may skip (with a warning) a file it has no right
 * to read. The TLS key is checked in a child (tls_check_pair).
 */
static int
check_files(const struct conf *c, int serve)
{
	char err[CONF_PATH_MAX + 256];
	int lenient = !serve, bad = 0;
	struct control_access access;

	if (lenient && control_access_resolve(c, &access, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		bad = 1;
	}

	if (c->tls_cert[0] != '\0' && !(lenient &&
	    (file_unreadable(c, "tls_cert", c->tls_cert) ||
	    file_unreadable(c, "tls_key", c->tls_key))) &&
	    tls_check_pair(c->tls_cert, c->tls_key, err, sizeof(err)) == -1) {
		/* the key's errors name the key file */
		file_error(c, strstr(err, "load certificate") == NULL ?
		    "tls_key" : "tls_cert", err);
		bad = 1;
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

/* daemon_serve - the parent's life */
int
daemon_serve(struct conf *conf)
{
	struct parent pa;
	struct passwd *pw = NULL;
	int lfd[CONF_MAX_LISTENERS];
	struct event *sigev[4];
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct control_access access;
	int ctl_fd = -1;
	char err[1024];
	struct dirs dirs;

	memset(&pa, 0, sizeof(pa));
	pa.conf = conf;
	if (geteuid() == 0) {
		if ((pw = getpwnam(conf->user)) == NULL) {
			fprintf(stderr, "moat: user '%s' does not exist; create it "
			    "with: useradd --system --no-create-home --shell "
			    "/usr/sbin/nologin %s\n", conf->user, conf->user);
			return 1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else
		log_warn(LOG_CAT_DAEMON, "event=unprivileged uid=%ld note=\"not "
		    "started as root: no chroot and no user change\"",
		    (long)geteuid());
	/* the control socket's access: root and the admin group only */
	if (control_access_resolve(conf, &access, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		return 1;
	}
	if (check_files(conf, 1) == -1)
		return 1;
	/* nothing is touched before this point; a failure from here on
	 * takes back the directories this start made */
	dirs_init(&dirs);
	signals_hold(1);
	if (start_dirs(conf, &dirs, uid, gid) == -1) {
		dirs_undo(&dirs);
		return 1;
	}
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct conf_listener *l = &conf->listeners[i];

		if ((lfd[i] = bind_listener(l)) == -1) {
			fprintf(stderr, "moat: listener %s: cannot listen on %s port "
			    "%d: %s\n", l->name, l->address, l->port, strerror(errno));
			while (i > 0)
				close(lfd[--i]);
			dirs_undo(&dirs);
			return 1;
		}
		log_notice(LOG_CAT_DAEMON, "event=listen listener=%s address=%s "
		    "port=%d role=%s", l->name, l->address, l->port,
		    conf_role_name(l->role));
	}
	/* made as root, after the lock: never another daemon's socket */
	if ((ctl_fd = control_socket_create(conf->spool_dir, access.admin_gid,
	    err, sizeof(err))) == -1) {
		fprintf(stderr, "moat: control socket: %s\n", err);
		for (size_t i = 0; i < conf->n_listeners; i++)
			close(lfd[i]);
		dirs_undo(&dirs);
		return 1;
	}
	dirs_forget(&dirs);
	for (int a = 0; a < PROC_COUNT; a++)
		for (int b = 0; b < PROC_COUNT; b++)
			pairs[a][b] = -1;
	for (int i = 1; i < PROC_COUNT; i++)
		if (procs[i].main)
			make_pair(PROC_PARENT, i);
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
		if (procs[channels[i].a].main && procs[channels[i].b].main)
			make_pair(channels[i].a, channels[i].b);
	tzset();
	raise_fd_limit();
	fflush(NULL);

	for (int c = 1; c < PROC_COUNT; c++) {
		struct proc_env env;
		pid_t pid;

		if (procs[c].main == NULL)
			continue;
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid > 0) {
			pa.pid[c] = pid;
			continue;
		}
		child_setup(procs[c].name);
		close_others(c, lfd, conf->n_listeners);
		close(dirs.lock_fd);	/* the parent's: no spool file here */
		memset(&env, 0, sizeof(env));
		env.conf = conf;
		for (int b = 0; b < PROC_COUNT; b++)
			env.peer[b] = pairs[c][b];
		env.control_fd = -1;
		env.access = access;
		if (c == PROC_CONTROL)
			env.control_fd = ctl_fd;
		else
			close(ctl_fd);
		if (c == PROC_SMTP) {
			env.listen_fds = lfd;
			env.n_listen = conf->n_listeners;
			/* the key's private half stays in the ca process */
			if (conf->tls_cert[0] != '\0' && (env.tls =
			    tls_key_server_ctx(conf->tls_cert, pairs[c][PROC_CA],
			    err, sizeof(err))) == NULL) {
				log_err(LOG_CAT_TLS, "event=tls_failed error=\"%s\"",
				    err);
				_exit(1);
			}
		}
		if ((env.base = proc_event_base()) == NULL)
			fatalx("event_base_new");
		if (prepare[c] != NULL && prepare[c](&env) == -1)
			_exit(1);
		priv_drop(conf->user, procs[c].chroot ? conf->empty_dir : NULL);
		_exit(procs[c].main(&env) == 0 ? 0 : 1);
	}

	/* the parent keeps only its ends of its own pairs */
	close_others(PROC_PARENT, lfd, conf->n_listeners);
	close(ctl_fd);
	signal(SIGPIPE, SIG_IGN);
	if ((pa.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (int i = 1; i < PROC_COUNT; i++)
		if (pa.pid[i] > 0)
			pa.peer[i] = ipc_peer_new(pa.base, pairs[PROC_PARENT][i],
			    procs[i].name, parent_peer_msg, parent_peer_close, &pa);
	pa.ctl_log = control_log_new(pa.base, pa.peer);
	for (int i = 0; i < 4; i++) {
		sigev[i] = evsignal_new(pa.base, sigs[i], signal_cb, &pa);
		evsignal_add(sigev[i], NULL);
	}
	signals_hold(0);	/* what came meanwhile is delivered now */
	send_users(&pa);
	log_notice(LOG_CAT_DAEMON, "event=started pid=%ld smtp=%ld queue=%ld "
	    "auth=%ld mta=%ld control=%ld", (long)getpid(),
	    (long)pa.pid[PROC_SMTP], (long)pa.pid[PROC_QUEUE],
	    (long)pa.pid[PROC_AUTH], (long)pa.pid[PROC_MTA],
	    (long)pa.pid[PROC_CONTROL]);
	/* a child may have died before the signal event existed */
	parent_reap(&pa);
	/* relaytest_on_start: the listeners are bound and the children run;
	 * the battery runs in a child of its own and we wait for it. A
	 * configuration that relays never serves. */
	if (!pa.stopping && pa.conf->relaytest_on_start &&
	    relaytest_on_start(pa.conf) == -1) {
		log_err(LOG_CAT_DAEMON, "event=relaytest_refused action=stop "
		    "reason=\"the relay battery failed against our own "
		    "listeners\"");
		parent_stop(&pa, 1);
	}
	if (pa.stopping || pa.pid[PROC_SMTP] > 0)
		event_base_dispatch(pa.base);

	for (int i = 1; i < PROC_COUNT; i++)
		if (pa.pid[i] > 0)
			kill(pa.pid[i], SIGKILL);
	for (int i = 0; i < 4; i++)
		event_free(sigev[i]);
	for (int i = 1; i < PROC_COUNT; i++)
		ipc_peer_free(pa.peer[i]);
	control_log_free(pa.ctl_log);
	event_base_free(pa.base);
	{
		char sock[CONF_PATH_MAX + 32];

		snprintf(sock, sizeof(sock), "%s/control.sock",
		    pa.conf->spool_dir);
		(void)unlink(sock);
	}
	log_notice(LOG_CAT_DAEMON, "event=stopped status=%d", pa.status);
	conf_free(pa.conf);
	return pa.status;
}
