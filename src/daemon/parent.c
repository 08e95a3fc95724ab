/*
 * parent.c - the privileged parent: binds the listeners, starts the
 * children, supervises them, relays signals as IPC messages.
 *
 * Public: daemon_serve, priv_drop.
 *
 *   parent (root) ── binds ports, reads config and users file
 *     ├── queue  (moat user)             queue.db, Maildirs, events
 *     ├── auth   (moat user, chrooted)   argon2id checks
 *     └── smtp   (moat user, chrooted)   every network session
 *
 * SECURITY: the parent never reads from the network. A child that
 * dies unexpectedly takes the whole daemon down (no half-alive server).
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "../auth/auth_proc.h"
#include "../auth/users.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls.h"
#include "../lib/log.h"
#include "../queue/queue_proc.h"
#include "../smtp/smtp.h"
#include "config.h"
#include "daemon.h"

enum { CHILD_SMTP, CHILD_QUEUE, CHILD_AUTH, CHILD_COUNT };

static const char *child_names[CHILD_COUNT] = { "smtp", "queue", "auth" };

struct parent {
	struct event_base	*base;
	struct conf		*conf;		/* owned */
	pid_t			 pid[CHILD_COUNT];
	struct ipc_peer		*peer[CHILD_COUNT];
	int			 stopping;
	int			 status;	/* exit status */
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

/* make_dir - mkdir -p of one level, then owner and mode */
static void
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char buf[CONF_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) == -1 && errno != EEXIST)
				fatal("mkdir %s", buf);
			*p = '/';
		}
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", buf);
	if (uid != (uid_t)-1 && chown(buf, uid, gid) == -1)
		fatal("chown %s", buf);
	if (chmod(buf, mode) == -1)
		fatal("chmod %s", buf);
}

static void
send_users(struct parent *pa)
{
	char err[512], *text;
	size_t len = 0;
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
	ipc_msg_init(&m, PROTO_USERS, 0);
	ipc_put_bytes(&m, text, len);
	ipc_send(pa->peer[CHILD_AUTH], &m);
	explicit_bzero(text, len);
	free(text);
}

static void
send_simple(struct parent *pa, int child, uint16_t type)
{
	struct ipc_msg m;

	if (pa->pid[child] <= 0)
		return;
	ipc_msg_init(&m, type, 0);
	ipc_send(pa->peer[child], &m);
}

static void
parent_stop(struct parent *pa, int status)
{
	if (pa->stopping)
		return;
	pa->stopping = 1;
	pa->status = status;
	/* the network side first: it answers or aborts its sessions while
	 * the queue still commits what they sent */
	if (pa->pid[CHILD_SMTP] > 0)
		send_simple(pa, CHILD_SMTP, PROTO_SHUTDOWN);
	else {
		send_simple(pa, CHILD_QUEUE, PROTO_SHUTDOWN);
		send_simple(pa, CHILD_AUTH, PROTO_SHUTDOWN);
	}
}

static void
parent_reload(struct parent *pa)
{
	char err[1024];
	struct conf *nc;
	FILE *fp;
	char *text = NULL;
	size_t cap = 0, len = 0, n;
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
	for (int i = 0; i < CHILD_COUNT; i++) {
		ipc_msg_init(&m, PROTO_RELOAD, 0);
		ipc_put_bytes(&m, text, len);
		ipc_put_str(&m, nc->path);
		ipc_send(pa->peer[i], &m);
	}
	free(text);
	conf_free(pa->conf);
	pa->conf = nc;
	send_users(pa);
	log_notice(LOG_CAT_DAEMON, "event=reload path=%s", nc->path);
}

static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	struct parent *pa = arg;
	pid_t pid;
	int st;

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
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			int i, alive = 0;

			for (i = 0; i < CHILD_COUNT; i++)
				if (pa->pid[i] == pid)
					break;
			if (i == CHILD_COUNT)
				continue;
			pa->pid[i] = 0;
			if (!pa->stopping || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				if (WIFSIGNALED(st))
					log_err(LOG_CAT_DAEMON, "event=child_died "
					    "child=%s signal=%d", child_names[i],
					    WTERMSIG(st));
				else if (!pa->stopping || WEXITSTATUS(st) != 0)
					log_err(LOG_CAT_DAEMON, "event=child_died "
					    "child=%s status=%d", child_names[i],
					    WEXITSTATUS(st));
				if (!pa->stopping)
					parent_stop(pa, 1);
				else if (WIFSIGNALED(st) || WEXITSTATUS(st) != 0)
					pa->status = 1;
			}
			if (i == CHILD_SMTP) {
				send_simple(pa, CHILD_QUEUE, PROTO_SHUTDOWN);
				send_simple(pa, CHILD_AUTH, PROTO_SHUTDOWN);
			}
			for (int j = 0; j < CHILD_COUNT; j++)
				alive += pa->pid[j] > 0;
			if (alive == 0)
				event_base_loopexit(pa->base, NULL);
		}
		break;
	}
}

static void
parent_peer_msg(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	log_warn(LOG_CAT_DAEMON, "event=unexpected_message peer=%s type=%u",
	    ipc_peer_name(p), type);
}

static void
parent_peer_close(struct ipc_peer *p, void *arg)
{
	/* the child's exit is handled through SIGCHLD */
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
}

static void
close_all_but(int keep[], int nkeep, int fds[], int nfds)
{
	for (int i = 0; i < nfds; i++) {
		int k = 0;

		for (int j = 0; j < nkeep; j++)
			if (fds[i] == keep[j])
				k = 1;
		if (!k && fds[i] >= 0)
			close(fds[i]);
	}
}

/* daemon_serve - the parent's life */
int
daemon_serve(struct conf *conf)
{
	struct parent pa;
	struct passwd *pw = NULL;
	int lfd[CONF_MAX_LISTENERS];
	int pc[CHILD_COUNT][2], sq[2], sa[2];
	SSL_CTX *tls = NULL;
	struct event *sigev[4];
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char err[1024];
	int all[CONF_MAX_LISTENERS + 2 * CHILD_COUNT + 4], nall = 0;

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
	make_dir(conf->spool_dir, 0750, uid, gid);
	make_dir(conf->mail_dir, 0750, uid, gid);
	make_dir(conf->empty_dir, 0755, geteuid() == 0 ? 0 : (uid_t)-1, 0);

	if (conf->tls_cert[0]) {
		if ((tls = tls_server_ctx(conf->tls_cert, conf->tls_key, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "moat: %s\n", err);
			return 1;
		}
	}
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct conf_listener *l = &conf->listeners[i];

		if ((lfd[i] = bind_listener(l)) == -1) {
			fprintf(stderr, "moat: listener %s: cannot listen on %s port "
			    "%d: %s\n", l->name, l->address, l->port, strerror(errno));
			return 1;
		}
		all[nall++] = lfd[i];
		log_notice(LOG_CAT_DAEMON, "event=listen listener=%s address=%s "
		    "port=%d role=%s", l->name, l->address, l->port,
		    conf_role_name(l->role));
	}
	for (int i = 0; i < CHILD_COUNT; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pc[i]) == -1)
			fatal("socketpair");
		all[nall++] = pc[i][0];
		all[nall++] = pc[i][1];
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sq) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sa) == -1)
		fatal("socketpair");
	all[nall++] = sq[0]; all[nall++] = sq[1];
	all[nall++] = sa[0]; all[nall++] = sa[1];
	tzset();
	fflush(NULL);

	for (int c = 0; c < CHILD_COUNT; c++) {
		pid_t pid = fork();

		if (pid == -1)
			fatal("fork");
		if (pid > 0) {
			pa.pid[c] = pid;
			continue;
		}
		child_setup(child_names[c]);
		if (c == CHILD_QUEUE) {
			int keep[] = { pc[c][1], sq[1] };
			struct event_base *base;

			close_all_but(keep, 2, all, nall);
			if (tls)
				SSL_CTX_free(tls);
			priv_drop(conf->user, NULL);
			if ((base = event_base_new()) == NULL)
				fatalx("event_base_new");
			_exit(queue_proc_main(conf, base, pc[c][1], sq[1]));
		} else if (c == CHILD_AUTH) {
			int keep[] = { pc[c][1], sa[1] };
			struct event_base *base;

			close_all_but(keep, 2, all, nall);
			if (tls)
				SSL_CTX_free(tls);
			priv_drop(conf->user, conf->empty_dir);
			if ((base = event_base_new()) == NULL)
				fatalx("event_base_new");
			_exit(auth_proc_main(conf, base, pc[c][1], sa[1]));
		} else {
			int keep[CONF_MAX_LISTENERS + 3], nk = 0;
			struct event_base *base;

			for (size_t i = 0; i < conf->n_listeners; i++)
				keep[nk++] = lfd[i];
			keep[nk++] = pc[c][1];
			keep[nk++] = sq[0];
			keep[nk++] = sa[0];
			close_all_but(keep, nk, all, nall);
			priv_drop(conf->user, conf->empty_dir);
			if ((base = event_base_new()) == NULL)
				fatalx("event_base_new");
			_exit(smtp_proc_main(conf, base, tls, lfd, pc[c][1], sq[0],
			    sa[0]));
		}
	}

	/* the parent keeps only its ends of the control pairs */
	for (size_t i = 0; i < conf->n_listeners; i++)
		close(lfd[i]);
	for (int i = 0; i < CHILD_COUNT; i++)
		close(pc[i][1]);
	close(sq[0]); close(sq[1]); close(sa[0]); close(sa[1]);
	if (tls)
		SSL_CTX_free(tls);
	signal(SIGPIPE, SIG_IGN);
	if ((pa.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (int i = 0; i < CHILD_COUNT; i++)
		pa.peer[i] = ipc_peer_new(pa.base, pc[i][0], child_names[i],
		    parent_peer_msg, parent_peer_close, &pa);
	for (int i = 0; i < 4; i++) {
		sigev[i] = evsignal_new(pa.base, sigs[i], signal_cb, &pa);
		evsignal_add(sigev[i], NULL);
	}
	send_users(&pa);
	log_notice(LOG_CAT_DAEMON, "event=started pid=%ld smtp=%ld queue=%ld "
	    "auth=%ld", (long)getpid(), (long)pa.pid[CHILD_SMTP],
	    (long)pa.pid[CHILD_QUEUE], (long)pa.pid[CHILD_AUTH]);
	event_base_dispatch(pa.base);

	for (int i = 0; i < CHILD_COUNT; i++)
		if (pa.pid[i] > 0)
			kill(pa.pid[i], SIGTERM);
	for (int i = 0; i < 4; i++)
		event_free(sigev[i]);
	for (int i = 0; i < CHILD_COUNT; i++)
		ipc_peer_free(pa.peer[i]);
	event_base_free(pa.base);
	log_notice(LOG_CAT_DAEMON, "event=stopped status=%d", pa.status);
	conf_free(pa.conf);
	return pa.status;
}
