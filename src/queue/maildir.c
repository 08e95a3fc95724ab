/*
 * maildir.c - local delivery into Maildirs.
 *
 * The classic Maildir protocol: write the message under a unique name
 * in tmp/, fsync it, rename it into new/, fsync new/. A reader never
 * sees a partial file, and a crash leaves at worst a file in tmp/.
 * Maildir files use LF line ends, so CRLF pairs become LF on the way.
 *
 * Exactly once: the queue names each delivery after its message and
 * recipient (maildir_key), so an attempt after a crash that came
 * between the rename and the queue's record of it finds the file of the
 * earlier one (in new/ by one stat, or in cur/ where a reader moved it)
 * and writes nothing.
 *
 * Public: maildir_check_name, maildir_key, maildir_deliver,
 * maildir_deliver_once, maildir_permanent.
 *
 * SECURITY: the mailbox name comes from the configuration by way of the
 * network process; it is checked here ([a-z0-9._+-], no leading '.',
 * so no '/' and no "..") before it touches a path. Every step below
 * mail_dir goes through *at() calls on directory descriptors opened
 * with O_NOFOLLOW, so a symlink planted inside a mailbox is not
 * followed. The return path must parse as an address (addr.c), so it
 * holds no control byte and cannot inject a header line; it is written
 * as addr_format makes it.
 * LIMITS: mailbox names of MAILDIR_NAME_MAX bytes; the mailbox and its
 * tmp/new/cur must be real directories, not symlinks. Looking in cur/
 * reads it whole: only when asked (MAILDIR_LOOK_CUR).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/fdio.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "queue/maildir.h"

#define MD_WBUF		65536
#define MD_DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

static unsigned int md_counter;

/* maildir_check_name - validate a mailbox name */
int
maildir_check_name(const char *name)
{
	size_t i;
	int ats = 0;

	if (name == NULL || name[0] == '\0' || name[0] == '.' ||
	    name[0] == '@')
		return -1;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= MAILDIR_NAME_MAX)
			return -1;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '+' || c == '-')
			continue;
		if (c == '@' && ats++ == 0 && name[i + 1] != '\0')
			continue;
		return -1;
	}
	return 0;
}

/* maildir_key - the part of a delivery's file name all its attempts share */
int
maildir_key(char *out, size_t len, int64_t time, const char *qid,
    int64_t rcpt_id)
{
	int n;

	if (qid[0] == '\0')
		return -1;
	for (const char *p = qid; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z')))
			return -1;
	n = snprintf(out, len, "%lld.Q%sR%lld", (long long)time, qid,
	    (long long)rcpt_id);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * maildir_permanent - whether a failure with errno err is one no retry
 * can mend: the Maildir is not made of directories (a file or a symlink
 * where one must be), a name or return path we refuse, a file larger
 * than the file system allows. The rest (a full disk or quota, I/O
 * errors, permissions an admin can fix, no memory) may pass.
 */
int
maildir_permanent(int err)
{
	switch (err) {
	case ENOTDIR:
	case ELOOP:
	case EINVAL:
	case ENAMETOOLONG:
	case EFBIG:
		return 1;
	default:
		return 0;
	}
}

/*
 * The return path goes into a header: it must be an address the one
 * parser accepts (then it holds no control byte), and it is written as
 * addr_format makes it, a local part quoted and escaped where RFC 5322
 * wants it ("a>b"@example.net is one). -1 when it does not parse.
 */
static int
format_return_path(const char *s, char *out, size_t outlen)
{
	char path[ADDR_PATH_MAX + 3];
	struct mail_addr a;
	size_t n = strlen(s), used;

	if (n + 2 >= sizeof(path))
		return -1;
	path[0] = '<';
	memcpy(path + 1, s, n);
	path[n + 1] = '>';
	if (addr_parse_path(path, n + 2, ADDR_F_ALLOW_NULL | ADDR_F_UTF8, &a,
	    &used) != ADDR_OK || used != n + 2)
		return -1;
	addr_format(&a, out, outlen);
	return 0;
}

/*
 * This host's name as the Maildir spec wants it in file names: '/'
 * and ':' would break the name, so they become \057 and \072.
 */
static void
md_hostname(char *out, size_t outlen)
{
	char h[256];
	size_t o = 0;

	if (gethostname(h, sizeof(h)) == -1 || h[0] == '\0')
		snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = '\0';
	for (const char *p = h; *p && o + 5 < outlen; p++) {
		if (*p == '/') {
			memcpy(out + o, "\\057", 4);
			o += 4;
		} else if (*p == ':') {
			memcpy(out + o, "\\072", 4);
			o += 4;
		} else
			out[o++] = *p;
	}
	out[o] = '\0';
}

/* mkdirat that accepts an existing directory; reports creation. */
static int
md_mkdir(int dfd, const char *name, int *created)
{
	if (mkdirat(dfd, name, 0700) == 0) {
		*created = 1;
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Write the Return-Path line, then data with each CRLF turned into LF. */
static int
md_write(int fd, const char *return_path, const uint8_t *data, size_t len)
{
	char *buf;
	size_t o;
	int n, rc = -1;

	if ((buf = malloc(MD_WBUF)) == NULL)
		return -1;
	/* return_path fits: it is checked shorter than the buffer first */
	n = snprintf(buf, MD_WBUF, "Return-Path: <%s>\n", return_path);
	if (n < 0 || n >= MD_WBUF) {
		errno = EINVAL;
		goto out;
	}
	o = (size_t)n;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		buf[o++] = (char)data[i];
		if (o == MD_WBUF) {
			if (fdio_write_all(fd, buf, o) == -1)
				goto out;
			o = 0;
		}
	}
	if (o > 0 && fdio_write_all(fd, buf, o) == -1)
		goto out;
	rc = 0;
out:
	free(buf);
	return rc;
}

/*
 * An earlier attempt's file: new/NAME, or cur/KEY.* where a reader
 * moved it (adding ":2,FLAGS", perhaps a new host part) when look_cur.
 * new/ first: a reader moves files from new/ to cur/, never back, so a
 * file that moves meanwhile is seen in one of the two. The directory
 * it is found in is fsync'ed before it counts: the rename that put it
 * there may not be on disk yet when a crash came right after it.
 * 1 found, 0 not, -1 error (errno set, *step says where).
 */
static int
md_find(int box, int new, const char *name, const char *key, int look_cur,
    const char **step)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	size_t klen = strlen(key);
	int cur, found = 0, saved;

	*step = "new";
	if (fstatat(new, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {	/* not ours: in the way */
			errno = EEXIST;
			return -1;
		}
		return fsync(new) == -1 ? -1 : 1;
	}
	if (errno != ENOENT)
		return -1;
	if (!look_cur)
		return 0;
	*step = "cur";
	if ((cur = openat(box, "cur", MD_DIR_FLAGS)) == -1)
		return -1;
	if ((d = fdopendir(cur)) == NULL) {
		saved = errno;
		close(cur);
		errno = saved;
		return -1;
	}
	errno = 0;
	while (!found && (e = readdir(d)) != NULL)
		found = strncmp(e->d_name, key, klen) == 0 &&
		    e->d_name[klen] == '.';
	if (!found && errno != 0)
		found = -1;		/* a read error is not "absent" */
	else if (found && fsync(cur) == -1)
		found = -1;
	saved = errno;
	closedir(d);
	errno = saved;
	return found;
}

/* tmp/NAME for writing; one left by an attempt a crash cut short goes */
static int
md_create(int tmp, const char *name)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd;

	if ((fd = openat(tmp, name, flags, 0600)) == -1 && errno == EEXIST &&
	    unlinkat(tmp, name, 0) == 0)
		fd = openat(tmp, name, flags, 0600);
	return fd;
}

/* The directories of one delivery; -1: not open. */
struct md_dirs {
	int	top;		/* mail_dir */
	int	box;		/* mail_dir/MAILBOX */
	int	tmp;
	int	new;
};

/* close what is open, errno kept */
static void
md_dirs_close(struct md_dirs *d)
{
	int saved = errno;

	if (d->new != -1)
		close(d->new);
	if (d->tmp != -1)
		close(d->tmp);
	if (d->box != -1)
		close(d->box);
	if (d->top != -1)
		close(d->top);
	d->top = d->box = d->tmp = d->new = -1;
	errno = saved;
}

/*
 * Open mail_dir/MAILBOX and its tmp/ and new/, making what is missing
 * (cur/ too) and fsyncing the directories that gained an entry. 0, or
 * -1 with errno set and *step saying where.
 */
static int
md_dirs_open(const char *mail_dir, const char *mailbox, struct md_dirs *d,
    const char **step)
{
	int made_box = 0, made_sub = 0;

	d->top = d->box = d->tmp = d->new = -1;
	*step = mail_dir;
	if ((d->top = open(mail_dir, MD_DIR_FLAGS & ~O_NOFOLLOW)) == -1)
		return -1;
	*step = mailbox;
	if (md_mkdir(d->top, mailbox, &made_box) == -1 ||
	    (d->box = openat(d->top, mailbox, MD_DIR_FLAGS)) == -1)
		return -1;
	*step = "tmp";
	if (md_mkdir(d->box, "tmp", &made_sub) == -1 ||
	    (d->tmp = openat(d->box, "tmp", MD_DIR_FLAGS)) == -1)
		return -1;
	*step = "new";
	if (md_mkdir(d->box, "new", &made_sub) == -1 ||
	    (d->new = openat(d->box, "new", MD_DIR_FLAGS)) == -1)
		return -1;
	*step = "cur";
	if (md_mkdir(d->box, "cur", &made_sub) == -1)
		return -1;
	/* new directories must survive a crash as much as the file does */
	*step = "fsync";
	if (made_sub && fsync(d->box) == -1)
		return -1;
	if (made_box && fsync(d->top) == -1)
		return -1;
	return 0;
}

/*
 * Write tmp/NAME, fsync it, rename it into new/ and fsync new/. 0, or
 * -1 with errno set, *step saying where and no file left behind.
 */
static int
md_file(const struct md_dirs *d, const char *name, const char *return_path,
    const uint8_t *data, size_t len, const char **step)
{
	int fd, n, saved;

	*step = "tmp file";
	if ((fd = md_create(d->tmp, name)) == -1)
		return -1;
	*step = "write";
	if (md_write(fd, return_path, data, len) == -1)
		goto unlink;
	*step = "fsync";
	if (fsync(fd) == -1)
		goto unlink;
	*step = "close";
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto unlink;
	*step = "rename";
	if (renameat(d->tmp, name, d->new, name) == -1)
		goto unlink;
	*step = "fsync new";
	if (fsync(d->new) == -1) {
		/*
		 * The rename is durable only once new/ is. Take the file
		 * back out and fail: it is delivered again later, rather
		 * than perhaps lost.
		 */
		saved = errno;
		unlinkat(d->new, name, 0);
		errno = saved;
		return -1;
	}
	return 0;
unlink:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlinkat(d->tmp, name, 0);
	errno = saved;
	return -1;
}

/*
 * Deliver under the file name KEY.HOST: the work of maildir_deliver
 * and maildir_deliver_once. MAILDIR_FOUND when an earlier attempt's
 * file is there already (md_find). On failure errno is set and err
 * says which step failed.
 */
static enum maildir_result
md_deliver(const char *mail_dir, const char *mailbox, const char *key,
    int look_cur, const char *return_path, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	static char host[1024];
	char name[1400], rpath[ADDR_STRLEN];
	struct md_dirs d;
	const char *step;
	int saved, n;

	if (maildir_check_name(mailbox) == -1) {
		snprintf(err, errlen, "bad mailbox name");
		errno = EINVAL;
		return MAILDIR_PERMFAIL;
	}
	if (format_return_path(return_path != NULL ? return_path : "", rpath,
	    sizeof(rpath)) == -1) {
		snprintf(err, errlen, "bad return path");
		errno = EINVAL;
		return MAILDIR_PERMFAIL;
	}
	if (host[0] == '\0')
		md_hostname(host, sizeof(host));
	if (md_dirs_open(mail_dir, mailbox, &d, &step) == -1)
		goto fail;
	n = snprintf(name, sizeof(name), "%s.%s", key, host);
	if (n < 0 || (size_t)n >= sizeof(name))
		fatalx("%s: file name too long", __func__);	/* host < 1024 */
	if ((n = md_find(d.box, d.new, name, key, look_cur, &step)) == -1)
		goto fail;
	if (n == 0 && md_file(&d, name, rpath, data, len, &step) == -1)
		goto fail;
	md_dirs_close(&d);
	return n == 1 ? MAILDIR_FOUND : MAILDIR_DELIVERED;
fail:
	saved = errno;
	snprintf(err, errlen, "%s: %s", step, strerror(saved));
	md_dirs_close(&d);
	errno = saved;
	return maildir_permanent(saved) ? MAILDIR_PERMFAIL : MAILDIR_TEMPFAIL;
}

/* maildir_deliver - deliver one message into mail_dir/mailbox */
int
maildir_deliver(const char *mail_dir, const char *mailbox,
    const char *return_path, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	char key[128];
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(key, sizeof(key), "%lld.M%ldP%ldQ%u", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), ++md_counter);
	switch (md_deliver(mail_dir, mailbox, key, 0, return_path, data, len,
	    err, errlen)) {
	case MAILDIR_DELIVERED:
		return 0;
	case MAILDIR_FOUND:		/* a fresh name that is taken */
		snprintf(err, errlen, "new: %s exists", key);
		errno = EEXIST;
		return -1;
	default:
		return -1;
	}
}

/* maildir_deliver_once - deliver under a name of the delivery's own */
enum maildir_result
maildir_deliver_once(const char *mail_dir, const char *mailbox,
    const char *key, int flags, const char *return_path, const uint8_t *data,
    size_t len, char *err, size_t errlen)
{
	return md_deliver(mail_dir, mailbox, key, flags & MAILDIR_LOOK_CUR,
	    return_path, data, len, err, errlen);
}
