/*
 * submit.c - local submission, the daemon's side: the socket and who
 * may use it (see submit.h).
 *
 * Public: submit_socket_create, submit_user_allowed, submit_ident.
 *
 * The parent binds submit_socket and hands it to smtp as the listener
 * of role local; smtp reads each connection's uid with SO_PEERCRED
 * (the kernel's word, never the client's) and asks the parent for the
 * login name, as the chrooted smtp process has no passwd database. The
 * session's user is then "local:LOGIN" ("local:UID" for a uid without
 * a name): the watch, the limits, the events and the logs treat it as
 * they treat an authenticated user.
 *
 * SECURITY: the socket is mode 0666 on purpose (Postfix's postdrop
 * and OpenSMTPD's enqueue socket let every local user submit); who
 * may is submit_users, decided here from the uid. A path that is not
 * a socket is never unlinked.
 * LIMITS: getpwuid and getgrouplist may block on a slow NSS source;
 * they run in the parent, never in the loop that serves sessions.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "../daemon/config.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../lib/log.h"
#include "submit.h"

/* the socket's directory: made 0755 (with its parents) when missing */
static int
submit_dir(const char *path, char *err, size_t errlen)
{
	char dir[CONF_PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		int last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == 0)
			(void)chmod(dir, 0755);	/* whatever the umask */
		else if (errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		if (last)
			break;
		*p = '/';
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	return 0;
}

/* submit_socket_create - see submit.h */
int
submit_socket_create(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a socket", path);
		return -1;
	}
	if (submit_dir(path, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket",
			    path);
			goto fail;
		}
		/* another daemon's, alive: not ours to take */
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
		    errno == EAGAIN) {
			snprintf(err, errlen, "%s is in use by a running daemon",
			    path);
			goto fail;
		}
		close(fd);
		if (unlink(path) == -1 ||
		    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	old = umask(0);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	umask(old);
	if (chmod(path, 0666) == -1 || listen(fd, 64) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		(void)unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* is login (uid, gid) a member of group name? */
static int
in_group(const char *name, const char *login, gid_t gid)
{
	struct group *gr;
	gid_t groups[256];
	int n = (int)(sizeof(groups) / sizeof(groups[0]));

	if ((gr = getgrnam(name)) == NULL)
		return 0;
	if (gr->gr_gid == gid)
		return 1;
	if (login == NULL)
		return 0;
	if (getgrouplist(login, gid, groups, &n) == -1)
		n = (int)(sizeof(groups) / sizeof(groups[0]));
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return 1;
	return 0;
}

/* submit_user_allowed - see submit.h */
int
submit_user_allowed(const struct conf *c, const char *login, uid_t uid,
    gid_t gid)
{
	for (size_t i = 0; i < c->n_submit_users; i++) {
		const char *u = c->submit_users[i];

		if (strcmp(u, "*") == 0)
			return 1;
		if (u[0] == '%' && in_group(u + 1, login, gid))
			return 1;
		if (login != NULL && strcmp(u, login) == 0)
			return 1;
	}
	return 0;
}

/* submit_ident - see submit.h */
void
submit_ident(const struct conf *c, struct ipc_peer *smtp, uint64_t id,
    struct ipc_reader *r)
{
	struct proto_local_ident q;
	struct proto_local_identified a;
	struct ipc_msg m;
	struct passwd *pw;
	const char *login = NULL;

	if (proto_local_ident_dec(r, &q) == -1)
		fatalx("%s: bad LOCAL_IDENT", __func__);
	/* a name the users file would take: printable, no spaces */
	if ((pw = getpwuid((uid_t)q.uid)) != NULL && pw->pw_name[0] != '\0' &&
	    strlen(pw->pw_name) < sizeof(a.login_buf) &&
	    strcspn(pw->pw_name, " \t\r\n\"\\=") == strlen(pw->pw_name))
		login = pw->pw_name;
	memset(&a, 0, sizeof(a));
	a.login = login != NULL ? login : "";
	a.verdict = submit_user_allowed(c, login, (uid_t)q.uid, (gid_t)q.gid) ?
	    PROTO_LOCAL_OK : PROTO_LOCAL_DENIED;
	proto_local_identified_enc(&m, id, &a);
	ipc_send(smtp, &m);
}
