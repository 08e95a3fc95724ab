/*
 * dirs.c - the directories moat owns, and one daemon per spool.
 *
 * Public: dirs_init, dirs_own, dirs_empty, dirs_lock, dirs_undo,
 * dirs_forget.
 *
 * moat makes spool_dir, mail_dir and empty_dir when they are missing,
 * with the owner and mode it needs. An existing directory is used only
 * when it already has that owner and mode: moat never changes the owner
 * or mode of a directory it did not make (a default "var/mail" read
 * from "/" would otherwise take over the system's /var/mail).
 *
 * A second `moat serve` on the same spool stops at dirs_lock, before it
 * binds a port or replaces the running daemon's control socket. A start
 * that fails later takes back the directories it made (dirs_undo).
 *
 * SECURITY: runs as root in the parent, on paths from the configuration
 * (the administrator's). No directory that exists is chowned or
 * chmodded; the lock file is opened with O_NOFOLLOW.
 * LIMITS: DIRS_MAX directories made in one start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "dirs.h"

/* dirs_init - nothing made, no lock */
void
dirs_init(struct dirs *d)
{
	memset(d, 0, sizeof(*d));
	d->lock_fd = -1;
}

static int
remember(struct dirs *d, const char *path, char *err, size_t errlen)
{
	if (d->n_made >= DIRS_MAX || (d->made[d->n_made] = strdup(path)) ==
	    NULL) {
		snprintf(err, errlen, "%s: too many directories to make", path);
		return -1;
	}
	d->n_made++;
	return 0;
}

/* mkdir, remembered; 1 made, 0 it was there, -1 error */
static int
make_one(struct dirs *d, const char *path, mode_t mode, char *err,
    size_t errlen)
{
	if (mkdir(path, mode) == 0)
		return remember(d, path, err, errlen) == 0 ? 1 : -1;
	if (errno == EEXIST)
		return 0;
	snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
	return -1;
}

static const char *
user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid %ld", (long)uid);
	return buf;
}

/* an existing directory: ours, as we would have made it, or refused */
static int
check_existing(const char *path, mode_t mode, uid_t uid, char *err,
    size_t errlen)
{
	char have[64], want[64];
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (st.st_uid != uid || (st.st_mode & 07777) != mode) {
		snprintf(err, errlen, "%s exists with owner %s and mode %04o, "
		    "not %s and %04o: moat uses only a directory it made or "
		    "one already set up so, and changes no other; name a new "
		    "directory (moat makes it) or set this one up", path,
		    user_name(st.st_uid, have, sizeof(have)),
		    (unsigned)(st.st_mode & 07777),
		    user_name(uid, want, sizeof(want)), (unsigned)mode);
		return -1;
	}
	return 0;
}

/* dirs_own - path is a directory of uid with mode, made if missing */
int
dirs_own(struct dirs *d, const char *path, mode_t mode, uid_t uid,
    gid_t gid, char *err, size_t errlen)
{
	char buf[CONF_PATH_MAX];
	size_t len;
	int r;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	/* "spool/" is "spool": not a parent made 0755, then refused */
	for (len = strlen(buf); len > 1 && buf[len - 1] == '/'; len--)
		buf[len - 1] = '\0';
	/* the parents: made 0755 when missing, left alone when there */
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		r = make_one(d, buf, 0755, err, errlen);
		if (r == 1 && chmod(buf, 0755) == -1) {	/* whatever umask */
			snprintf(err, errlen, "%s: %s", buf, strerror(errno));
			r = -1;
		}
		*p = '/';
		if (r == -1)
			return -1;
	}
	if ((r = make_one(d, buf, 0700, err, errlen)) == -1)
		return -1;
	if (r == 0)
		return check_existing(buf, mode, uid, err, errlen);
	if ((geteuid() == 0 && chown(buf, uid, gid) == -1) ||
	    chmod(buf, mode) == -1) {
		snprintf(err, errlen, "%s: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

/* dirs_empty - path has no entries */
int
dirs_empty(const char *path, char *err, size_t errlen)
{
	DIR *dp;
	struct dirent *de;
	int n = 0;

	if ((dp = opendir(path)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dp);
	if (n > 0) {
		snprintf(err, errlen, "%s is not empty: the network process is "
		    "chrooted into it", path);
		return -1;
	}
	return 0;
}

/* the pid the other daemon wrote into the lock file, or 0 */
static long
lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* dirs_lock - one daemon per spool */
int
dirs_lock(struct dirs *d, const char *spool_dir, char *err, size_t errlen)
{
	char path[CONF_PATH_MAX + 16], pid[32];
	int fd, made = 1, n;

	n = snprintf(path, sizeof(path), "%s/%s", spool_dir, DIRS_LOCK_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", spool_dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd == -1 && errno == EEXIST) {
		made = 0;
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		long other = lock_holder(fd);

		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "spool_dir %s is in use by another "
			    "moat (pid %ld): one daemon per spool", spool_dir,
			    other);
		else
			snprintf(err, errlen, "flock %s: %s", path,
			    strerror(errno));
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	d->lock_fd = fd;
	if (made && (d->lock_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

/* dirs_undo - a failed start takes back what it made */
void
dirs_undo(struct dirs *d)
{
	if (d->lock_path != NULL)
		(void)unlink(d->lock_path);
	if (d->lock_fd != -1)
		close(d->lock_fd);
	d->lock_fd = -1;
	while (d->n_made > 0) {
		d->n_made--;
		(void)rmdir(d->made[d->n_made]);
	}
	dirs_forget(d);
}

/* dirs_forget - keep what was made; the lock stays held */
void
dirs_forget(struct dirs *d)
{
	for (size_t i = 0; i < d->n_made; i++)
		free(d->made[i]);
	d->n_made = 0;
	free(d->lock_path);
	d->lock_path = NULL;
}
