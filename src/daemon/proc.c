/*
 * proc.c - moat's processes: the table of children, and how each one
 * starts as a fresh image of the moat binary.
 *
 * Public: proc_name, proc_runs, proc_stop_phase, proc_linked,
 * proc_signals_hold, proc_exe_open, proc_conf_digest, proc_start,
 * proc_exec_main.
 *
 * The parent forks; the child places the descriptors it is given at
 * fixed numbers and execs moat again with a hidden argument, as
 * OpenSMTPD does with "-x proc":
 *
 *   moat -X NAME [-c CONFIG] -d DIGEST
 *
 * The new image's main() sees -X before anything else and comes here
 * (proc_exec_main): it checks the descriptors, parses the configuration
 * again, runs the prepare hook as root, drops privileges and runs the
 * child's main. Nothing of the parent's heap survives and each child
 * has its own randomised address layout.
 *
 * Descriptors at exec (nothing else is open but 0, 1 and 2):
 *   PROC_FD_PEER(b)        this child's end of its socketpair with b
 *   PROC_FD_CONTROL        control: the listening control socket
 *   PROC_FD_LISTEN + i     smtp: conf->listeners[i]'s listening socket
 *   PROC_FD_SUBMIT         smtp: the submit_socket, when it is set
 *
 * SECURITY: the image exec'd is the file the parent was started from,
 * held open from the start (proc_exe_open), not a path looked up again:
 * an upgrade that replaces the binary while the daemon runs cannot
 * start children of another version (a mixed daemon whose processes
 * disagree on the IPC messages). -X is not in the usage text and gives
 * nothing a command line could not: a process started by hand refuses
 * to run unless every descriptor it expects is a socket of the right
 * kind, and the configuration it parses must be the parent's (the same
 * digest of the effective configuration) or it stops.
 * LIMITS: CONF_MAX_LISTENERS listeners.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sodium.h>

#include "../auth/auth_proc.h"
#include "../ca/ca_proc.h"
#include "../control/control.h"
#include "../io/tls.h"
#include "../io/tls_key.h"
#include "../io/tls_set.h"
#include "../lib/log.h"
#include "../lookup/lookup_proc.h"
#include "../mta/mta.h"
#include "../queue/queue_proc.h"
#include "../smtp/smtp.h"
#include "../console/console_tls.h"
#include "config.h"
#include "daemon.h"
#include "proc.h"

#define PROC_FD_PEER(b)		(3 + (b))
#define PROC_FD_CONTROL		(3 + PROC_COUNT)
#define PROC_FD_LISTEN		(4 + PROC_COUNT)
#define PROC_FD_KEYS		PROC_FD_CONTROL	/* ca's; control has none */
/* above every fixed number: where descriptors wait while they move */
#define PROC_FD_SUBMIT		(PROC_FD_LISTEN + CONF_MAX_LISTENERS)
#define PROC_FD_HIGH		(PROC_FD_SUBMIT + 1)

/*
 * The children. A process whose main is NULL is not started. Stop
 * phases: on SIGTERM the parent stops phase 0 first and the next phase
 * once every process of the one before has exited, so the network side
 * answers or aborts its sessions while the queue still commits.
 * prepare: work a child does before it drops root and enters its
 * chroot (files it must read once); -1 stops the daemon.
 */
struct proc_def {
	const char	*name;
	int		(*main)(struct proc_env *);
	int		(*prepare)(struct proc_env *);
	int		 chroot;	/* into empty_dir */
	int		 stop_phase;
};

static const struct proc_def procs[PROC_COUNT] = {
	[PROC_PARENT]	= { "main", NULL, NULL, 0, 0 },
	[PROC_SMTP]	= { "smtp", smtp_proc_main, smtp_proc_prepare, 1, 0 },
	[PROC_QUEUE]	= { "queue", queue_proc_main, NULL, 0, 2 },
	[PROC_AUTH]	= { "auth", auth_proc_main, NULL, 1, 2 },
	/* mta: no chroot, see mta_proc.c (resolv.conf, CA store);
	 * smarthost_auth_file is read as root */
	[PROC_MTA]	= { "mta", mta_proc_main, mta_proc_prepare, 0, 1 },
	[PROC_CONTROL]	= { "control", control_proc_main, NULL, 1, 0 },
	/* ca: tls_key is read as root */
	[PROC_CA]	= { "ca", ca_proc_main, ca_proc_prepare, 1, 1 },
	/* lookup: no chroot, it reads the table files and reaches the
	 * directories; the LDAP bind files are read as root */
	[PROC_LOOKUP]	= { "lookup", lookup_proc_main, lookup_proc_prepare, 0,
			    1 },
};

/* socketpairs between children; the parent has one with every child */
static const struct { enum proc_id a, b; } channels[] = {
	{ PROC_SMTP, PROC_QUEUE },
	{ PROC_SMTP, PROC_AUTH },
	{ PROC_QUEUE, PROC_MTA },
	{ PROC_CONTROL, PROC_QUEUE },
	{ PROC_CONTROL, PROC_SMTP },
	{ PROC_SMTP, PROC_CA },		/* blocking round trips, tls_key.c */
	{ PROC_SMTP, PROC_LOOKUP },	/* RCPT lookups */
	{ PROC_LOOKUP, PROC_QUEUE },	/* events, the verification cache */
	{ PROC_CONTROL, PROC_AUTH },	/* web console logins */
	{ PROC_CONTROL, PROC_CA },	/* console handshakes, tls_key.c */
};

/* proc_name - the name of a process, as in its title "moat-NAME" */
const char *
proc_name(enum proc_id id)
{
	return id < PROC_COUNT ? procs[id].name : "?";
}

/* proc_runs - 1 when this build starts child id */
int
proc_runs(enum proc_id id)
{
	return id > PROC_PARENT && id < PROC_COUNT && procs[id].main != NULL;
}

/* proc_stop_phase - the SIGTERM phase in which child id is stopped */
int
proc_stop_phase(enum proc_id id)
{
	return id < PROC_COUNT ? procs[id].stop_phase : 0;
}

/* proc_linked - 1 when a and b (both started) share a socketpair */
int
proc_linked(enum proc_id a, enum proc_id b)
{
	if (a == b || (a != PROC_PARENT && !proc_runs(a)) ||
	    (b != PROC_PARENT && !proc_runs(b)))
		return 0;
	if (a == PROC_PARENT || b == PROC_PARENT)
		return 1;
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
		if ((channels[i].a == a && channels[i].b == b) ||
		    (channels[i].a == b && channels[i].b == a))
			return 1;
	return 0;
}

/*
 * proc_signals_hold - block (1) or unblock (0) the signals the parent
 * handles. From the moment the ports accept connections a client or a
 * service manager may signal us: the signals wait, blocked, until the
 * parent's handlers exist (a SIGHUP would otherwise kill it).
 */
void
proc_signals_hold(int hold)
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

/*
 * proc_exe_open - the running binary, held for exec. An O_PATH
 * descriptor of /proc/self/exe names the file this process runs even
 * if its path is replaced or removed later; readlink would give a path
 * to look up again at each exec. Close-on-exec: fexecve of an ELF file
 * needs the descriptor only until the kernel has opened it.
 */
int
proc_exe_open(char *err, size_t errlen)
{
	int fd;

	if ((fd = open("/proc/self/exe", O_PATH | O_CLOEXEC)) == -1)
		snprintf(err, errlen, "/proc/self/exe: %s (the children "
		    "exec the running binary)", strerror(errno));
	return fd;
}

/*
 * proc_conf_digest - a digest of c's effective configuration (what
 * check-config prints) as hex in hex[PROC_DIGEST_HEX]. -1: no memory.
 */
int
proc_conf_digest(const struct conf *c, char *hex)
{
	unsigned char h[(PROC_DIGEST_HEX - 1) / 2];
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return -1;
	conf_print(c, fp);
	if (fclose(fp) != 0) {
		free(text);
		return -1;
	}
	crypto_generichash(h, sizeof(h), (unsigned char *)text, len, NULL, 0);
	sodium_bin2hex(hex, PROC_DIGEST_HEX, h, sizeof(h));
	free(text);
	return 0;
}

/* every descriptor from lo up is closed at exec */
static void
cloexec_from(int lo)
{
	struct rlimit rl;

	if (close_range((unsigned)lo, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = 65536;
	for (rlim_t fd = (rlim_t)lo; fd < rl.rlim_cur; fd++)
		(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/*
 * In the forked child, before exec: each passed descriptor goes to its
 * fixed number, the only ones without close-on-exec. They are first
 * copied above every fixed number, so that moving one never overwrites
 * another still to move. Returns the binary's descriptor, -1 on error.
 */
static int
place_fds(enum proc_id id, const struct proc_start *ps)
{
	struct { int src, dst; } mv[PROC_COUNT + 2 + CONF_MAX_LISTENERS];
	size_t n = 0;
	int exe;

	for (int b = 0; b < PROC_COUNT; b++)
		if (ps->peer[b] >= 0) {
			mv[n].src = ps->peer[b];
			mv[n++].dst = PROC_FD_PEER(b);
		}
	if (id == PROC_CONTROL) {
		mv[n].src = ps->control_fd;
		mv[n++].dst = PROC_FD_CONTROL;
	}
	if (id == PROC_CA) {
		mv[n].src = ps->keys_fd;
		mv[n++].dst = PROC_FD_KEYS;
	}
	for (size_t i = 0; id == PROC_SMTP && i < ps->n_listen; i++) {
		mv[n].src = ps->listen_fds[i];
		mv[n++].dst = PROC_FD_LISTEN + (int)i;
	}
	if (id == PROC_SMTP && ps->submit_fd >= 0) {
		mv[n].src = ps->submit_fd;
		mv[n++].dst = PROC_FD_SUBMIT;
	}
	for (size_t i = 0; i < n; i++)
		if ((mv[i].src = fcntl(mv[i].src, F_DUPFD_CLOEXEC,
		    PROC_FD_HIGH)) == -1)
			return -1;
	if ((exe = fcntl(ps->exe_fd, F_DUPFD_CLOEXEC, PROC_FD_HIGH)) == -1)
		return -1;
	cloexec_from(3);	/* the spool lock, other children's ends, ... */
	for (size_t i = 0; i < n; i++)	/* dup2: the copy is not cloexec */
		if (dup2(mv[i].src, mv[i].dst) == -1)
			return -1;
	return exe;
}

/*
 * proc_start - fork child id and exec it as "moat -X NAME"; returns
 * its pid in the parent. A child that cannot exec exits 1, which the
 * parent sees as a child that died.
 */
pid_t
proc_start(enum proc_id id, const struct proc_start *ps)
{
	char *argv[8];
	int exe, argc = 0;
	pid_t pid;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		return pid;
	log_set_proc(procs[id].name);
	/* only the parent acts on signals (see proc_exec_main): ignored
	 * now, a signal that comes before the new image runs is lost */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	argv[argc++] = "moat";
	argv[argc++] = "-X";
	argv[argc++] = (char *)procs[id].name;
	if (strcmp(ps->conf->path, "(builtin)") != 0) {
		argv[argc++] = "-c";
		argv[argc++] = (char *)ps->conf->path;
	}
	argv[argc++] = "-d";
	argv[argc++] = (char *)ps->digest;
	argv[argc] = NULL;
	/* the service manager hears only the parent (notify.c) */
	unsetenv("NOTIFY_SOCKET");
	if ((exe = place_fds(id, ps)) != -1)
		fexecve(exe, argv, environ);
	log_err(LOG_CAT_DAEMON, "event=exec_failed child=%s error=\"%s\"",
	    procs[id].name, strerror(errno));
	_exit(1);
}

/* "moat -X NAME [-c CONFIG] -d DIGEST" */
struct exec_args {
	enum proc_id	 id;
	const char	*path;		/* NULL: the built-in configuration */
	const char	*digest;
};

static int
exec_args(int argc, char **argv, struct exec_args *a)
{
	memset(a, 0, sizeof(*a));
	if (argc < 3 || strcmp(argv[1], "-X") != 0)
		return -1;
	for (a->id = PROC_PARENT + 1; a->id < PROC_COUNT; a->id++)
		if (proc_runs(a->id) && strcmp(argv[2], procs[a->id].name) == 0)
			break;
	if (a->id == PROC_COUNT)
		return -1;
	for (int i = 3; i < argc; i += 2) {
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "-c") == 0 && a->path == NULL)
			a->path = argv[i + 1];
		else if (strcmp(argv[i], "-d") == 0 && a->digest == NULL)
			a->digest = argv[i + 1];
		else
			return -1;
	}
	return a->digest != NULL ? 0 : -1;
}

/* fd is a stream socket of family (AF_UNIX, or AF_INET: IPv4 or IPv6),
 * listening or not */
static int
fd_is_socket(int fd, int family, int listening)
{
	struct stat st;
	int v;
	socklen_t len = sizeof(v);

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == -1 ||
	    v != SOCK_STREAM)
		return 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == -1 ||
	    (family == AF_UNIX ? v != AF_UNIX : v != AF_INET && v != AF_INET6))
		return 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 ||
	    (v != 0) != (listening != 0))
		return 0;
	return 1;
}

/* a child started by hand, or a descriptor lost on the way, stops here */
static void __attribute__((noreturn))
exec_refuse(int fd, const char *what)
{
	log_err(LOG_CAT_DAEMON, "event=exec_refused descriptor=%d reason=\"not "
	    "%s: -X is only for the processes moat serve starts\"", fd, what);
	_exit(1);
}

/* the descriptors this child expects are the sockets the parent passes */
static void
exec_check_peers(enum proc_id id)
{
	for (int b = 0; b < PROC_COUNT; b++)
		if (proc_linked(id, b) &&
		    !fd_is_socket(PROC_FD_PEER(b), AF_UNIX, 0))
			exec_refuse(PROC_FD_PEER(b), "a socketpair");
	if (id == PROC_CONTROL && !fd_is_socket(PROC_FD_CONTROL, AF_UNIX, 1))
		exec_refuse(PROC_FD_CONTROL, "the control socket");
	if (id == PROC_CA && !fd_is_socket(PROC_FD_KEYS, AF_UNIX, 0))
		exec_refuse(PROC_FD_KEYS, "the keys socket");
}

/* smtp's listeners: listening, on the ports of the configuration */
static void
exec_check_listeners(enum proc_id id, const struct conf *c)
{
	for (size_t i = 0; id == PROC_SMTP && i < c->n_listeners; i++) {
		int fd = PROC_FD_LISTEN + (int)i;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		in_port_t port;

		if (!fd_is_socket(fd, AF_INET, 1) ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
			exec_refuse(fd, "a listening TCP socket");
		port = ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port;
		if (ntohs(port) != c->listeners[i].port)
			exec_refuse(fd, "the socket of its listener");
	}
	if (id == PROC_SMTP && c->submit_socket[0] != '\0' &&
	    !fd_is_socket(PROC_FD_SUBMIT, AF_UNIX, 1))
		exec_refuse(PROC_FD_SUBMIT, "the listening submit_socket");
}

/*
 * The configuration again, from the file the parent read; it must be
 * the parent's (the file may have changed since the parent read it).
 */
static struct conf *
exec_conf(const struct exec_args *a)
{
	char err[1024], digest[PROC_DIGEST_HEX];
	struct conf *c;

	if ((c = conf_load(a->path, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DAEMON, "event=exec_refused error=\"%s\"", err);
		_exit(1);
	}
	if (proc_conf_digest(c, digest) == -1)
		fatalx("%s: out of memory", __func__);
	if (strcmp(digest, a->digest) != 0) {
		log_err(LOG_CAT_DAEMON, "event=exec_refused reason=\"the "
		    "configuration is not the one the daemon started with "
		    "(changed while it started?)\"");
		_exit(1);
	}
	return c;
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

_Static_assert(CONF_TLS_PAIRS_MAX == TLS_SET_PAIRS_MAX, "pairs a generation");

/*
 * smtp's certificates, generation 0: the chains read as root (the
 * chroot has none), the keys' ids those ca_proc_prepare loads.
 */
static int
smtp_tls_load(const struct conf *c, int ca_fd, struct tls_set **out,
    char *err, size_t errlen)
{
	struct conf_tls_pair pairs[CONF_TLS_PAIRS_MAX];
	struct tls_set_pem pems[CONF_TLS_PAIRS_MAX];
	struct evbuffer *b[CONF_TLS_PAIRS_MAX];
	size_t n = conf_tls_pairs(c, pairs, CONF_TLS_PAIRS_MAX), i;
	struct tls_opts o;
	int rc = -1;

	*out = NULL;
	if (n == 0)
		return 0;
	if (tls_key_link(ca_fd) == -1) {
		snprintf(err, errlen, "tls: cannot set up key methods");
		return -1;
	}
	conf_tls_opts(c, &o);
	for (i = 0; i < n; i++) {
		if ((b[i] = evbuffer_new()) == NULL)
			fatal("%s: evbuffer_new", __func__);
		if (tls_read_file(pairs[i].cert, b[i], err, errlen) == -1) {
			evbuffer_free(b[i]);
			goto done;
		}
		pems[i].pem = evbuffer_pullup(b[i], -1);
		pems[i].len = evbuffer_get_length(b[i]);
	}
	if ((*out = tls_set_new(&o, 0, pems, n, err, errlen)) != NULL)
		rc = 0;
done:
	while (i > 0)
		evbuffer_free(b[--i]);
	return rc;
}

/* the proc_env of child id, from the fixed descriptors */
static void
exec_env(enum proc_id id, struct conf *c, struct proc_env *env)
{
	static int lfd[CONF_MAX_LISTENERS];
	char err[1024];

	memset(env, 0, sizeof(*env));
	env->conf = c;
	for (int b = 0; b < PROC_COUNT; b++)
		env->peer[b] = proc_linked(id, b) ? PROC_FD_PEER(b) : -1;
	env->control_fd = id == PROC_CONTROL ? PROC_FD_CONTROL : -1;
	env->keys_fd = id == PROC_CA ? PROC_FD_KEYS : -1;
	if (control_access_resolve(c, &env->access, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (id == PROC_SMTP) {
		for (size_t i = 0; i < c->n_listeners; i++)
			lfd[i] = PROC_FD_LISTEN + (int)i;
		env->listen_fds = lfd;
		env->n_listen = c->n_listeners;
		env->submit_fd = c->submit_socket[0] != '\0' ?
		    PROC_FD_SUBMIT : -1;
		/* the keys' private halves stay in the ca process */
		if (smtp_tls_load(c, env->peer[PROC_CA], &env->tls, err,
		    sizeof(err)) == -1) {
			log_err(LOG_CAT_TLS, "event=tls_failed error=\"%s\"", err);
			_exit(1);
		}
	}
	/* the console's key stays in ca too; its chain is read as root */
	if (id == PROC_CONTROL && (env->console_tls = console_tls_ctx(c,
	    env->peer[PROC_CA], err, sizeof(err))) == NULL && err[0] != '\0') {
		log_err(LOG_CAT_TLS, "event=console_tls_failed error=\"%s\"",
		    err);
		_exit(1);
	}
	if ((env->base = proc_event_base()) == NULL)
		fatalx("event_base_new");
}

/*
 * proc_exec_main - the new image of a child ("moat -X NAME ..."):
 * rebuild its proc_env, prepare as root, drop privileges, run its main.
 * Exits, never returns but with a usage error (2).
 */
int
proc_exec_main(int argc, char **argv)
{
	struct exec_args a;
	struct proc_env env;
	struct conf *c;
	char title[32];

	log_init("moat", 0);
	if (exec_args(argc, argv, &a) == -1) {
		fprintf(stderr, "moat: -X: only for the processes moat serve "
		    "starts\n");
		return 2;
	}
	log_set_proc(procs[a.id].name);
	/* a service manager signals the whole group: only the parent acts
	 * on signals, the children stop when it tells them over IPC (or
	 * when its end of the socketpair closes) */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	proc_signals_hold(0);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	exec_check_peers(a.id);
	c = exec_conf(&a);
	exec_check_listeners(a.id, c);
	log_init("moat", c->syslog);
	conf_apply_log_levels(c);
	/* named once it has its configuration: "moat-NAME" is a child
	 * that runs as the parent configured it */
	snprintf(title, sizeof(title), "moat-%s", procs[a.id].name);
	(void)prctl(PR_SET_NAME, title);
	tzset();		/* before the chroot hides the zone files */
	exec_env(a.id, c, &env);
	if (procs[a.id].prepare != NULL && procs[a.id].prepare(&env) == -1)
		_exit(1);
	priv_drop(c->user, procs[a.id].chroot ? c->empty_dir : NULL);
	_exit(procs[a.id].main(&env) == 0 ? 0 : 1);
}
