/*
 * test_maildir.c - local delivery into Maildirs: file layout and
 * content (Return-Path, CRLF to LF), names that must be refused, and
 * failures that must leave nothing behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/maildir.h"
#include "unit_tmp.h"

static int
setup(void **state)
{
	char *dir = malloc(64);

	if (dir == NULL)
		return -1;
	if (unit_tmp_dir(dir, 64, "md") == -1) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	char *dir = *state;

	unit_tmp_remove(dir);
	free(dir);
	return 0;
}

/* Number of entries in dir (not . and ..); the last one's name in name. */
static int
count_dir(const char *dir, char *name, size_t namelen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (name)
			snprintf(name, namelen, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* The whole of a file, NUL-terminated; *len its size. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd != -1);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
test_names(void **state)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{ "alice", 0 },
		{ "bob.smith", 0 },
		{ "a+tag", 0 },
		{ "x_y-z", 0 },
		{ "0", 0 },
		{ "a.", 0 },
		{ "a..b", 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
		{ "alice@example.org", 0 },
		{ "a@b", 0 },
		{ "@example.org", -1 },
		{ "alice@", -1 },
		{ "a@b@c", -1 },
		{ "a@../b", -1 },
		{ "", -1 },
		{ ".", -1 },
		{ "..", -1 },
		{ ".hidden", -1 },
		{ "../etc", -1 },
		{ "a/b", -1 },
		{ "/abs", -1 },
		{ "Alice", -1 },
		{ "a b", -1 },
		{ "a\nb", -1 },
		{ "a\\b", -1 },
		{ "a:b", -1 },
		{ "caf\xc3\xa9", -1 },
		{ "a*", -1 },
	};
	int bad = 0;

	assert_int_equal(maildir_check_name(NULL), -1);
	{
		char longest[MAILDIR_NAME_MAX + 2];

		memset(longest, 'a', sizeof(longest));
		longest[MAILDIR_NAME_MAX] = '\0';
		assert_int_equal(maildir_check_name(longest), 0);
		longest[MAILDIR_NAME_MAX] = 'a';
		longest[MAILDIR_NAME_MAX + 1] = '\0';
		assert_int_equal(maildir_check_name(longest), -1);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = maildir_check_name(cases[i].name);

		if (got != cases[i].want) {
			print_error("maildir_check_name(\"%s\"): got %d, want %d\n",
			    cases[i].name, got, cases[i].want);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d name(s) wrong", bad);
}

static void
test_deliver(void **state)
{
	const char *md = *state;
	static const char msg[] =
	    "Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\nline 1\r\n"
	    "bare\rcr and bare\nlf\r\n.leading dot\r\nlast\r\n";
	static const char want[] =
	    "Return-Path: <bob@example.org>\n"
	    "Received: from a\n\tby b\nSubject: hi\n\nline 1\n"
	    "bare\rcr and bare\nlf\n.leading dot\nlast\n";
	char path[1024], name[256], err[256];
	struct stat st;
	size_t len;
	char *got;

	err[0] = '\0';
	assert_int_equal(maildir_deliver(md, "alice", "bob@example.org",
	    (const uint8_t *)msg, sizeof(msg) - 1, err, sizeof(err)), 0);

	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/alice%s", md, sub[i]);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		if ((st.st_mode & 0777) != 0700)
			fail_msg("%s mode: got %o, want 700", path, st.st_mode & 0777);
	}
	snprintf(path, sizeof(path), "%s/alice/tmp", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/alice/cur", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/alice/new", md);
	assert_int_equal(count_dir(path, name, sizeof(name)), 1);
	/* time.M<usec>P<pid>Q<n>.host */
	if (strstr(name, ".M") == NULL || strstr(name, "P") == NULL ||
	    strstr(name, "Q") == NULL || strchr(name, '/') || strchr(name, ':'))
		fail_msg("file name: got %s, want time.MusecPpidQn.host", name);

	snprintf(path, sizeof(path), "%s/alice/new/%s", md, name);
	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 0777) != 0600)
		fail_msg("file mode: got %o, want 600", st.st_mode & 0777);
	got = slurp(path, &len);
	if (len != sizeof(want) - 1 || memcmp(got, want, len) != 0)
		fail_msg("content: got \"%s\", want \"%s\"", got, want);
	free(got);

	/* a second delivery is a second file */
	assert_int_equal(maildir_deliver(md, "alice", "", (const uint8_t *)"x\r\n",
	    3, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/alice/new", md);
	assert_int_equal(count_dir(path, NULL, 0), 2);
}

/* The null sender; an empty message; an existing Maildir. */
static void
test_null_sender(void **state)
{
	const char *md = *state;
	char path[1024], name[256], err[256];
	size_t len;
	char *got;

	snprintf(path, sizeof(path), "%s/carol", md);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(maildir_deliver(md, "carol", NULL, NULL, 0, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/carol/new", md);
	assert_int_equal(count_dir(path, name, sizeof(name)), 1);
	snprintf(path, sizeof(path), "%s/carol/new/%s", md, name);
	got = slurp(path, &len);
	assert_string_equal(got, "Return-Path: <>\n");
	free(got);
}

/* Larger than the write buffer, with CRLF pairs across its edges. */
static void
test_large(void **state)
{
	const char *md = *state;
	size_t n = 300 * 1000, o = 0, w = 0, len;
	char *in = malloc(n), *want = malloc(n + 64), *got;
	char path[1024], name[256], err[256];

	assert_non_null(in);
	assert_non_null(want);
	w = (size_t)snprintf(want, 64, "Return-Path: <a@b>\n");
	while (o + 40 < n) {
		/* lines of varying length so CRLF lands on every offset */
		size_t l = 1 + (o * 7) % 37;

		memset(in + o, 'a' + (int)(o % 26), l);
		memcpy(want + w, in + o, l);
		o += l;
		w += l;
		in[o++] = '\r';
		in[o++] = '\n';
		want[w++] = '\n';
	}
	assert_int_equal(maildir_deliver(md, "big", "a@b", (const uint8_t *)in,
	    o, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/big/new", md);
	assert_int_equal(count_dir(path, name, sizeof(name)), 1);
	snprintf(path, sizeof(path), "%s/big/new/%s", md, name);
	got = slurp(path, &len);
	assert_int_equal(len, w);
	assert_memory_equal(got, want, w);
	free(got);
	free(in);
	free(want);
}

static void
test_refused(void **state)
{
	const char *md = *state;
	static const char *const bad_names[] = {
		"../escape", "a/b", ".", "..", ".x", "", "UPPER", "a b",
	};
	static const char *const bad_paths[] = {
		"a@b\r\nX-Injected: 1", "a@b\n", "a\x01@b", "<a@b>", "a@b>\r\n",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		err[0] = '\0';
		errno = 0;
		if (maildir_deliver(md, bad_names[i], "a@b", (const uint8_t *)"x",
		    1, err, sizeof(err)) != -1)
			fail_msg("mailbox \"%s\": got 0, want -1", bad_names[i]);
		if (errno != EINVAL || err[0] == '\0')
			fail_msg("mailbox \"%s\": got errno %d err \"%s\", want"
			    " EINVAL and a reason", bad_names[i], errno, err);
	}
	assert_int_equal(maildir_deliver(md, NULL, "a@b", (const uint8_t *)"x",
	    1, err, sizeof(err)), -1);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		errno = 0;
		if (maildir_deliver(md, "ok", bad_paths[i], (const uint8_t *)"x",
		    1, err, sizeof(err)) != -1 || errno != EINVAL)
			fail_msg("return path %zu: got accepted, want EINVAL", i);
	}
	/* nothing was created, here or above */
	assert_int_equal(count_dir(md, NULL, 0), 0);
	assert_int_equal(access("/tmp/escape", F_OK), -1);
}

static void
test_env_failures(void **state)
{
	const char *md = *state;
	char path[512], target[512], err[256];

	/* mail_dir missing */
	snprintf(path, sizeof(path), "%s/nonexistent", md);
	errno = 0;
	assert_int_equal(maildir_deliver(path, "alice", "a@b",
	    (const uint8_t *)"x", 1, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "No such file"));

	/* a mailbox that is a symlink is not followed */
	snprintf(target, sizeof(target), "%s/target", md);
	assert_int_equal(mkdir(target, 0700), 0);
	snprintf(path, sizeof(path), "%s/link", md);
	assert_int_equal(symlink(target, path), 0);
	errno = 0;
	assert_int_equal(maildir_deliver(md, "link", "a@b", (const uint8_t *)"x",
	    1, err, sizeof(err)), -1);
	assert_true(errno == ELOOP || errno == ENOTDIR);
	assert_int_equal(count_dir(target, NULL, 0), 0);

	/* new/ that is a file */
	snprintf(path, sizeof(path), "%s/dave", md);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dave/new", md);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(maildir_deliver(md, "dave", "a@b", (const uint8_t *)"x",
	    1, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOTDIR);
}

/* A write that fails half way (EFBIG): -1, and nothing left in tmp/ or new/. */
static void
test_write_fails(void **state)
{
	const char *md = *state;
	struct rlimit old, lim;
	size_t n = 1024 * 1024;
	char *big = malloc(n), path[512], err[256];
	int rc, saved;

	assert_non_null(big);
	memset(big, 'z', n);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = maildir_deliver(md, "erin", "a@b", (const uint8_t *)big, n, err,
	    sizeof(err));
	saved = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	free(big);

	assert_int_equal(rc, -1);
	assert_int_equal(saved, EFBIG);
	assert_non_null(strstr(err, "write"));
	snprintf(path, sizeof(path), "%s/erin/tmp", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/erin/new", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
}

/* maildir_key: the message's time, its queue id and the recipient row. */
static void
test_key(void **state)
{
	char key[MAILDIR_KEY_MAX], small[8];

	assert_int_equal(maildir_key(key, sizeof(key), 1700000000,
	    "0123456789ab", 42), 0);
	assert_string_equal(key, "1700000000.Q0123456789abR42");
	assert_int_equal(maildir_key(key, sizeof(key), 0, "", 1), -1);
	assert_int_equal(maildir_key(key, sizeof(key), 0, "a/b", 1), -1);
	assert_int_equal(maildir_key(key, sizeof(key), 0, "a.b", 1), -1);
	assert_int_equal(maildir_key(key, sizeof(key), 0, "a:b", 1), -1);
	assert_int_equal(maildir_key(small, sizeof(small), 1700000000, "ab", 1),
	    -1);
}

/* How many files in md/box/sub have names that start with prefix. */
static int
count_prefix(const char *md, const char *box, const char *sub,
    const char *prefix)
{
	char path[1024];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s/%s", md, box, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* A second attempt finds the first one's file in new/ and writes nothing. */
static void
test_once_new(void **state)
{
	const char *md = *state;
	char err[256], path[1024], name[256];
	size_t len;
	char *got;

	assert_int_equal(maildir_deliver_once(md, "alice", "100.QaR1", 0, "a@b",
	    (const uint8_t *)"one\r\n", 5, err, sizeof(err)), MAILDIR_DELIVERED);
	assert_int_equal(maildir_deliver_once(md, "alice", "100.QaR1", 0, "a@b",
	    (const uint8_t *)"two\r\n", 5, err, sizeof(err)), MAILDIR_FOUND);
	/* another recipient of the same message is another file; R1 is
	 * not a prefix of R12 */
	assert_int_equal(maildir_deliver_once(md, "alice", "100.QaR12", 0,
	    "a@b", (const uint8_t *)"three\r\n", 7, err, sizeof(err)),
	    MAILDIR_DELIVERED);
	snprintf(path, sizeof(path), "%s/alice/new", md);
	assert_int_equal(count_dir(path, NULL, 0), 2);
	assert_int_equal(count_prefix(md, "alice", "new", "100.QaR1."), 1);
	snprintf(path, sizeof(path), "%s/alice/tmp", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	/* a directory under the name is not a delivery */
	snprintf(path, sizeof(path), "%s/alice/new/100.QaR2.", md);
	assert_int_equal(gethostname(path + strlen(path),
	    sizeof(path) - strlen(path)), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(maildir_deliver_once(md, "alice", "100.QaR2", 0, "a@b",
	    (const uint8_t *)"x\r\n", 3, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_int_equal(rmdir(path), 0);
	/* the first attempt's content stayed */
	assert_int_equal(maildir_key(name, sizeof(name), 100, "a", 1), 0);
	snprintf(path, sizeof(path), "%s/alice/new/%s.", md, name);
	assert_int_equal(gethostname(path + strlen(path),
	    sizeof(path) - strlen(path)), 0);
	got = slurp(path, &len);
	assert_non_null(strstr(got, "\none\n"));
	free(got);
}

/*
 * A reader moved the file to cur/ and added ":2,S": found only when
 * asked to look there (after a crash).
 */
static void
test_once_cur(void **state)
{
	const char *md = *state;
	char err[256], from[1024], to[1100], name[256], path[1024];

	assert_int_equal(maildir_deliver_once(md, "bob", "200.QbR7", 0, "a@b",
	    (const uint8_t *)"x\r\n", 3, err, sizeof(err)), MAILDIR_DELIVERED);
	snprintf(path, sizeof(path), "%s/bob/new", md);
	assert_int_equal(count_dir(path, name, sizeof(name)), 1);
	snprintf(from, sizeof(from), "%s/bob/new/%s", md, name);
	snprintf(to, sizeof(to), "%s/bob/cur/%s:2,S", md, name);
	assert_int_equal(rename(from, to), 0);

	/* a neighbour whose key the wanted one is a prefix of: no match */
	snprintf(to, sizeof(to), "%s/bob/cur/200.QbR77.host:2,", md);
	assert_int_equal(close(open(to, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(maildir_deliver_once(md, "bob", "200.QbR7",
	    MAILDIR_LOOK_CUR, "a@b", (const uint8_t *)"x\r\n", 3, err,
	    sizeof(err)), MAILDIR_FOUND);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	/* another host part, as after a move to another machine */
	snprintf(from, sizeof(from), "%s/bob/cur/200.QbR8.elsewhere:2,RS", md);
	assert_int_equal(close(open(from, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(maildir_deliver_once(md, "bob", "200.QbR8",
	    MAILDIR_LOOK_CUR, "a@b", (const uint8_t *)"x\r\n", 3, err,
	    sizeof(err)), MAILDIR_FOUND);
	/* not looked for in cur/ unless asked: one stat of new/ only */
	assert_int_equal(maildir_deliver_once(md, "bob", "200.QbR7", 0, "a@b",
	    (const uint8_t *)"x\r\n", 3, err, sizeof(err)), MAILDIR_DELIVERED);
	assert_int_equal(count_dir(path, NULL, 0), 1);
}

/* A file left in tmp/ by an attempt a crash cut short is replaced. */
static void
test_once_tmp_leftover(void **state)
{
	const char *md = *state;
	char err[256], path[1024], name[256];
	size_t len;
	char *got;
	int fd;

	assert_int_equal(maildir_deliver_once(md, "carol", "300.QcR1", 0, "a@b",
	    (const uint8_t *)"x\r\n", 3, err, sizeof(err)), MAILDIR_DELIVERED);
	snprintf(path, sizeof(path), "%s/carol/new", md);
	assert_int_equal(count_dir(path, name, sizeof(name)), 1);
	/* the same name for another key, half written, in tmp/ */
	memcpy(name, "300.QcR2", 8);
	snprintf(path, sizeof(path), "%s/carol/tmp/%s", md, name);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1);
	assert_int_equal(write(fd, "partial", 7), 7);
	close(fd);
	assert_int_equal(maildir_deliver_once(md, "carol", "300.QcR2", 0, "a@b",
	    (const uint8_t *)"whole\r\n", 7, err, sizeof(err)),
	    MAILDIR_DELIVERED);
	snprintf(path, sizeof(path), "%s/carol/tmp", md);
	assert_int_equal(count_dir(path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/carol/new/%s", md, name);
	got = slurp(path, &len);
	assert_non_null(strstr(got, "\nwhole\n"));
	assert_null(strstr(got, "partial"));
	free(got);
}

/* Which failures a retry cannot mend, and what deliver_once says. */
static void
test_permanent(void **state)
{
	const char *md = *state;
	static const struct {
		int err;
		int want;
	} cases[] = {
		{ ENOTDIR, 1 }, { ELOOP, 1 }, { EINVAL, 1 }, { EFBIG, 1 },
		{ ENAMETOOLONG, 1 },
		{ ENOSPC, 0 }, { EDQUOT, 0 }, { EIO, 0 }, { EACCES, 0 },
		{ EPERM, 0 }, { EROFS, 0 }, { ENOENT, 0 }, { ENOMEM, 0 },
		{ EMFILE, 0 }, { EAGAIN, 0 },
	};
	char path[1024], err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (maildir_permanent(cases[i].err) != cases[i].want)
			fail_msg("maildir_permanent(%s): got %d, want %d",
			    strerror(cases[i].err), !cases[i].want,
			    cases[i].want);

	/* new/ that is a file */
	snprintf(path, sizeof(path), "%s/dave", md);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/dave/new", md);
	assert_int_equal(close(open(path, O_WRONLY | O_CREAT, 0600)), 0);
	assert_int_equal(maildir_deliver_once(md, "dave", "1.QaR1", 0, "a@b",
	    (const uint8_t *)"x", 1, err, sizeof(err)), MAILDIR_PERMFAIL);
	assert_non_null(strstr(err, "new"));
	assert_int_equal(maildir_deliver_once(md, "Bad", "1.QaR1", 0, "a@b",
	    (const uint8_t *)"x", 1, err, sizeof(err)), MAILDIR_PERMFAIL);
	assert_int_equal(maildir_deliver_once(md, "erin", "1.QaR1", 0,
	    "a@b\r\nX: y", (const uint8_t *)"x", 1, err, sizeof(err)),
	    MAILDIR_PERMFAIL);
	/* mail_dir missing: an admin can mend that */
	snprintf(path, sizeof(path), "%s/nonexistent", md);
	assert_int_equal(maildir_deliver_once(path, "alice", "1.QaR1", 0, "a@b",
	    (const uint8_t *)"x", 1, err, sizeof(err)), MAILDIR_TEMPFAIL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
		cmocka_unit_test(test_key),
		cmocka_unit_test_setup_teardown(test_once_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_cur, setup, teardown),
		cmocka_unit_test_setup_teardown(test_once_tmp_leftover, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_permanent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
