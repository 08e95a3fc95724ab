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

#include <event2/event.h>
#include <openssl/ssl.h>

#include "../auth/users.h"
#include "../auth/users_ctl.h"
#include "../ca/ca_dkim.h"
#include "../control/control.h"
#include "../control/control_log.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls.h"
#include "../lib/log.h"
#include "../lookup/ldap_dir.h"
#include "../lookup/lookup_tables.h"
#include "../mta/mta_auth.h"
#include "../relaytest/relaytest.h"
#include "config.h"
#include "daemon.h"
#include "dirs.h"
#include "proc.h"

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

/* pairs[a][b] is a's end of the a-b socketpair, -1: none */
static int pairs[PROC_COUNT][PROC_COUNT];

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
	ps.control_fd = st->ctl_fd;
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
	close(st->exe_fd);
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

	signal(SIGPIPE, SIG_IGN);
	if ((pa->base = event_base_new()) == NULL)
		fatalx("event_base_new");
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
	send_users(pa);
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
	pa.conf = conf;
	if (start_check(conf, &st) == -1)
		return 1;
	proc_signals_hold(1);
	if (start_bind(conf, &st) == -1)
		return 1;
	make_pairs();
	tzset();
	raise_fd_limit();
	fflush(NULL);
	start_children(&pa, &st);
	parent_run(&pa);
	snprintf(sock, sizeof(sock), "%s/control.sock", pa.conf->spool_dir);
	(void)unlink(sock);
	log_notice(LOG_CAT_DAEMON, "event=stopped status=%d", pa.status);
	conf_free(pa.conf);
	return pa.status;
}
