/*
 * incident_export.c - `moat incident export`: everything known of one
 * incident in one archive, for the administrator, a colleague or an
 * abuse desk.
 *
 * Public: incident_export, incident_log_match.
 *
 * The parts come from the daemon's named operations (the same the CLI
 * and the console use): CTL_OP_INCIDENT (incident.json, and the
 * summary.txt written from it by incident_summary.c), CTL_OP_EVENTS
 * (events.json, events.txt), CTL_OP_SESSIONS (sessions.json: the live
 * sessions of the user or from the client), CTL_OP_QUEUE_LIST
 * (queue.json), CTL_OP_BAN_LIST (bans.json: the incident's bans). The
 * log lines are moat's own: from the file --log names, else from the
 * journal (`journalctl -t moat`, where stderr and syslog both land
 * under systemd); summary.txt says which, or why there are none.
 * The archive is a gzip'd POSIX tar written by libarchive, members
 * under one directory named like the file.
 *
 * SECURITY: the archive holds user names and addresses: it is written
 * to a new file of mode 0600 (O_EXCL: never through a symbolic link)
 * beside the one named, which it replaces by rename() once complete. journalctl runs without a shell, its pattern made of
 * regex-escaped literals. Cells are JSON-escaped (ctl_json.c); the
 * text files replace control characters.
 * LIMITS: LOG_LINES_MAX log lines of LOG_LINE_MAX bytes each;
 * CTL_LIST_MAX events and messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <archive.h>
#include <archive_entry.h>

#include "ctl/ctl_json.h"
#include "ctl/ctl_msg.h"
#include "ctl/incident_export.h"
#include "ctl/incident_summary.h"
#include "lib/cidr.h"
#include "lib/json.h"

#define LOG_LINES_MAX		100000
#define LOG_LINE_MAX		8192
#define EXPORT_SINCE_DEFAULT	(7 * 86400)
#define EXPORT_REGEX_MAX	4096

/* One file of the archive, built in memory. */
struct member {
	const char	*name;
	char		*data;
	size_t		 len;
	FILE		*fp;		/* open_memstream over data, len */
};

/* What the incident is about, for the log lines and the filters. */
struct subject {
	int		 is_user;
	char		 name[CTL_STR_MAX];
	struct cidr	 net;		/* a client incident's network */
	const char	**addrs;	/* an account's clients (views) */
	size_t		 naddrs;
};

static void
member_open(struct member *m, const char *name)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	if ((m->fp = open_memstream(&m->data, &m->len)) == NULL) {
		fprintf(stderr, "moat: open_memstream: %s\n", strerror(errno));
		exit(1);
	}
}

static int
member_close(struct member *m)
{
	if (m->fp != NULL && fclose(m->fp) != 0) {
		m->fp = NULL;
		return -1;
	}
	m->fp = NULL;
	return 0;
}

/* a token's value without its quotes and trailing punctuation */
static void
token_value(const char *v, size_t n, char *out, size_t len)
{
	if (n > 0 && v[0] == '"') {
		v++;
		n--;
	}
	while (n > 0 && strchr("\",;", v[n - 1]) != NULL)
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* incident_log_match - see incident_export.h */
int
incident_log_match(const char *line, const char *user, const struct cidr *net,
    const char *const *addrs, size_t naddrs)
{
	const char *p = line;

	while (*p) {
		size_t n = strcspn(p, " \t\r\n");
		const char *eq = memchr(p, '=', n);
		char val[CTL_STR_MAX];
		uint8_t a[16];

		if (eq != NULL) {
			size_t klen = (size_t)(eq - p);

			token_value(eq + 1, n - klen - 1, val, sizeof(val));
			if (user != NULL && klen >= 4 &&
			    strncmp(eq - 4, "user", 4) == 0 &&
			    strcmp(val, user) == 0)
				return 1;
			if (cidr_addr_parse(val, a) == 0) {
				if (net != NULL && cidr_contains(net, a))
					return 1;
				for (size_t i = 0; i < naddrs; i++)
					if (strcmp(addrs[i], val) == 0)
						return 1;
			}
		}
		p += n;
		p += strspn(p, " \t\r\n");
	}
	return 0;
}

/* copy lines of fp about the subject to out; how many */
static int64_t
log_copy(FILE *fp, const struct subject *s, FILE *out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int64_t kept = 0;

	while ((n = getline(&line, &cap, fp)) != -1 && kept < LOG_LINES_MAX) {
		if ((size_t)n > LOG_LINE_MAX) {
			line[LOG_LINE_MAX] = '\0';
			n = LOG_LINE_MAX;
		}
		if (!incident_log_match(line, s->is_user ? s->name : NULL,
		    s->is_user ? NULL : &s->net, s->addrs, s->naddrs))
			continue;
		for (char *c = line; *c; c++)
			if (((unsigned char)*c < 0x20 && *c != '\n' &&
			    *c != '\t') || *c == 0x7f)
				*c = '?';
		fputs(line, out);
		if (n > 0 && line[n - 1] != '\n')
			fputc('\n', out);
		kept++;
	}
	free(line);
	return kept;
}

/* literal s into a PCRE pattern, metacharacters escaped */
static void
regex_add(char *re, size_t len, const char *s)
{
	size_t n = strlen(re);

	if (n > 0 && n + 1 < len)
		re[n++] = '|';
	for (; *s && n + 2 < len; s++) {
		if (strchr("\\^$.|?*+()[]{}", *s) != NULL)
			re[n++] = '\\';
		re[n++] = *s;
	}
	re[n] = '\0';
}

/*
 * The journal's lines about the subject: journalctl -t moat, as root
 * or a member of systemd-journal / adm. -1 when it cannot say.
 */
static int64_t
log_journal(const struct subject *s, int64_t since, FILE *out, char *why,
    size_t whylen)
{
	char re[EXPORT_REGEX_MAX], at[32];
	int pfd[2], status;
	int64_t kept;
	pid_t pid;
	FILE *in;

	re[0] = '\0';
	regex_add(re, sizeof(re), s->name);
	for (size_t i = 0; i < s->naddrs; i++)
		regex_add(re, sizeof(re), s->addrs[i]);
	snprintf(at, sizeof(at), "@%" PRId64, since);
	if (pipe(pfd) == -1) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(pfd[1], 1);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 2);
		}
		close(pfd[0]);
		close(pfd[1]);
		/* a network's incident: its lines are found by address */
		if (!s->is_user && strchr(s->name, '/') != NULL)
			execlp("journalctl", "journalctl", "-t", "moat", "-q",
			    "--no-pager", "-o", "short-iso", "--since", at,
			    (char *)NULL);
		else
			execlp("journalctl", "journalctl", "-t", "moat", "-q",
			    "--no-pager", "-o", "short-iso", "--since", at,
			    "--grep", re, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if ((in = fdopen(pfd[0], "r")) == NULL) {
		close(pfd[0]);
		waitpid(pid, &status, 0);
		snprintf(why, whylen, "fdopen: %s", strerror(errno));
		return -1;
	}
	kept = log_copy(in, s, out);
	fclose(in);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (kept > 0)
		return kept;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(why, whylen, "journalctl is not installed; name moat's "
		    "log file with --log FILE");
		return -1;
	}
	/* journalctl --grep exits 1 when nothing matched */
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		snprintf(why, whylen, "journalctl -t moat could not read the "
		    "journal (not root or in group systemd-journal, or no "
		    "journald); name moat's log file with --log FILE");
		return -1;
	}
	return 0;
}

/* the subject's name and network from the incident's id */
static int
subject_init(struct subject *s, const char *id)
{
	const char *kind, *value, *why;
	char err[256];

	memset(s, 0, sizeof(*s));
	if (ctl_incident_id(id, &kind, &value, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		return -1;
	}
	s->is_user = strcmp(kind, "user") == 0;
	snprintf(s->name, sizeof(s->name), "%s", value);
	if (!s->is_user && cidr_parse(value, &s->net, &why) == -1) {
		fprintf(stderr, "moat: %s: %s\n", value, why);
		return -1;
	}
	return 0;
}

/* rows of t the subject's, as {"status":..,NAME:[..]} */
static void
json_rows_of(FILE *fp, const struct ctl_answer *a, const char *name,
    int (*keep)(const struct ctl_table *, size_t, const void *),
    const void *arg)
{
	const struct ctl_table *t = ctl_table_find(a, name);
	size_t k = 0;

	fprintf(fp, "{\"status\":\"%s\",\"message\":",
	    ctl_status_name(a->status));
	json_write_str(fp, a->message);
	fprintf(fp, ",\"%s\":[", name);
	for (size_t r = 0; t != NULL && r < t->nrows; r++) {
		if (!keep(t, r, arg))
			continue;
		if (k++)
			fputc(',', fp);
		ctl_json_row(fp, t, r);
	}
	fputs("]}\n", fp);
}

/* a session of the subject: its user, or a client in its network */
static int
keep_session(const struct ctl_table *t, size_t r, const void *arg)
{
	const struct subject *s = arg;
	int c = ctl_table_col(t, s->is_user ? "user" : "client");
	const char *v;
	uint8_t a[16];

	if (c < 0)
		return 0;
	v = t->cells[r * t->ncols + (size_t)c].s;
	if (v == NULL)
		return 0;
	if (s->is_user)
		return strcmp(v, s->name) == 0;
	return cidr_addr_parse(v, a) == 0 && cidr_contains(&s->net, a);
}

/* a ban the incident names */
static int
keep_ban(const struct ctl_table *t, size_t r, const void *arg)
{
	const struct ctl_table *mine = arg;
	int c = ctl_table_col(t, "cidr"), m;

	if (c < 0 || mine == NULL || (m = ctl_table_col(mine, "cidr")) < 0)
		return 0;
	for (size_t i = 0; i < mine->nrows; i++) {
		const char *x = mine->cells[i * mine->ncols + (size_t)m].s;
		const char *y = t->cells[r * t->ncols + (size_t)c].s;

		if (x && y && strcmp(x, y) == 0)
			return 1;
	}
	return 0;
}

/* events.txt: one line an event, UTC times, controls replaced */
static void
events_text(FILE *fp, const struct ctl_answer *a)
{
	const struct ctl_table *t = ctl_table_find(a, "events");
	static const char *const cols[] = { "type", "client", "user",
	    "session", "detail" };

	if (t == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		int tc = ctl_table_col(t, "time");
		time_t tt = tc < 0 ? 0 : (time_t)t->cells[r * t->ncols +
		    (size_t)tc].i;
		struct tm tm;
		char when[32];

		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fputs(when, fp);
		for (size_t k = 0; k < 5; k++) {
			int c = ctl_table_col(t, cols[k]);
			const char *v = c < 0 ? NULL : t->cells[r * t->ncols +
			    (size_t)c].s;

			fprintf(fp, " %s=", cols[k]);
			for (; v && *v; v++)
				fputc(((unsigned char)*v < 0x20 || *v == 0x7f) ?
				    '?' : *v, fp);
		}
		fputc('\n', fp);
	}
}

/* the file's name: incident-KIND-NAME-STAMP, safe characters only */
static void
base_name(const struct subject *s, int64_t now, char *buf, size_t len)
{
	time_t tt = (time_t)now;
	struct tm tm;
	char stamp[32];
	size_t n;

	gmtime_r(&tt, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	n = (size_t)snprintf(buf, len, "incident-%s-%s-%s", s->is_user ?
	    "user" : "client", s->name, stamp);
	for (size_t i = 9; i < n && i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-_@", buf[i]) == NULL)
			buf[i] = '_';
}

static int
archive_put(struct archive *ar, const char *dir, const struct member *m,
    int64_t now)
{
	struct archive_entry *e;
	char path[512];
	int rc = 0;

	if ((e = archive_entry_new()) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, m->name);
	archive_entry_set_pathname(e, path);
	archive_entry_set_size(e, (la_int64_t)m->len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_mtime(e, (time_t)now, 0);
	if (archive_write_header(ar, e) != ARCHIVE_OK ||
	    (m->len > 0 && archive_write_data(ar, m->data, m->len) !=
	    (la_ssize_t)m->len))
		rc = -1;
	archive_entry_free(e);
	return rc;
}

/*
 * The file the archive is written to before it takes path's name: in
 * path's directory (rename is atomic only there), created new (O_EXCL)
 * and 0600. -1 when it cannot be made (reported).
 */
static int
archive_temp(const char *path, char *tmp, size_t len)
{
	const char *slash = strrchr(path, '/');
	int fd, n;

	if (slash == NULL)
		n = snprintf(tmp, len, ".%s.XXXXXX", path);
	else
		n = snprintf(tmp, len, "%.*s/.%s.XXXXXX", (int)(slash - path),
		    path, slash + 1);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "moat: %s: name too long\n", path);
		return -1;
	}
	/* mkostemp: O_CREAT | O_EXCL, mode 0600 */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		fprintf(stderr, "moat: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * The archive, mode 0600, members under dir: written whole to a
 * temporary file, which then replaces path. On any failure the
 * temporary is removed and a file that was at path stays as it was.
 */
static int
archive_write_all(const char *path, const char *dir, struct member *m,
    size_t n, int64_t now)
{
	struct archive *ar;
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if ((fd = archive_temp(path, tmp, sizeof(tmp))) == -1)
		return -1;
	if ((ar = archive_write_new()) == NULL ||
	    archive_write_add_filter_gzip(ar) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(ar) != ARCHIVE_OK ||
	    archive_write_open_fd(ar, fd) != ARCHIVE_OK)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = archive_put(ar, dir, &m[i], now);
	if (ar != NULL) {
		if (rc == -1 || archive_write_close(ar) != ARCHIVE_OK) {
			fprintf(stderr, "moat: %s: %s\n", path,
			    archive_error_string(ar) ? archive_error_string(ar) :
			    "cannot write the archive");
			rc = -1;
		}
		archive_write_free(ar);
	}
	if (rc == 0 && fsync(fd) == -1) {
		fprintf(stderr, "moat: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (close(fd) == -1 && rc == 0) {
		fprintf(stderr, "moat: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && rename(tmp, path) == -1) {
		fprintf(stderr, "moat: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	if (rc == -1)
		unlink(tmp);
	return rc;
}

enum { M_SUMMARY, M_INCIDENT, M_EVENTS, M_EVENTS_TXT, M_SESSIONS, M_QUEUE,
    M_BANS, M_LOG, M_N };

/* incident_export - gather, summarize, write */
int
incident_export(const struct incident_export_opts *o, incident_call_fn call,
    void *arg)
{
	static const char *const names[M_N] = { "summary.txt",
	    "incident.json", "events.json", "events.txt", "sessions.json",
	    "queue.json", "bans.json", "log.txt" };
	struct ctl_answer inc, ev, sess, queue, bans;
	struct incident_extra x;
	struct member m[M_N];
	struct subject s;
	struct ctl_req q;
	const struct ctl_table *cl;
	char base[CTL_STR_MAX + 64], out[sizeof(base) + 8], why[512],
	    source[4200];
	int64_t now = (int64_t)time(NULL), since;
	int rc = 1, have = 0;

	if (subject_init(&s, o->id) == -1)
		return 2;
	since = o->since > 0 ? o->since : EXPORT_SINCE_DEFAULT;
	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_INCIDENT;
	snprintf(q.a, sizeof(q.a), "%s", o->id);
	q.since = since;
	if (call(arg, &q, &inc) == -1)
		return 1;
	have = 1;
	if (inc.status != CTL_OK) {
		fprintf(stderr, "moat: %s\n", inc.message);
		goto done;
	}
	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_EVENTS;
	q.since = since;
	q.limit = CTL_LIST_MAX;
	snprintf(s.is_user ? q.c : q.b, CTL_STR_MAX, "%s", s.name);
	if (call(arg, &q, &ev) == -1)
		goto done;
	have = 2;
	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_SESSIONS;
	if (call(arg, &q, &sess) == -1)
		goto done;
	have = 3;
	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_QUEUE_LIST;
	snprintf(s.is_user ? q.filter.user : q.filter.client, CTL_STR_MAX,
	    "%s", s.name);
	if (call(arg, &q, &queue) == -1)
		goto done;
	have = 4;
	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_BAN_LIST;
	if (call(arg, &q, &bans) == -1)
		goto done;
	have = 5;

	/* an account's log lines: its name, and its clients' addresses */
	if (s.is_user && (cl = ctl_table_find(&inc, "clients")) != NULL &&
	    ctl_table_col(cl, "address") == 0) {
		if ((s.addrs = calloc(cl->nrows + 1, sizeof(*s.addrs))) == NULL)
			goto done;
		for (size_t r = 0; r < cl->nrows; r++)
			if (cl->cells[r * cl->ncols].s != NULL)
				s.addrs[s.naddrs++] = cl->cells[r * cl->ncols].s;
	}
	for (int i = 0; i < M_N; i++)
		member_open(&m[i], names[i]);
	memset(&x, 0, sizeof(x));
	x.generated = now;
	x.sessions = -1;
	why[0] = '\0';
	if (o->log_file != NULL) {
		FILE *lf = fopen(o->log_file, "r");

		if (lf == NULL) {
			fprintf(stderr, "moat: --log %s: %s\n", o->log_file,
			    strerror(errno));
			goto close;
		}
		x.log_lines = log_copy(lf, &s, m[M_LOG].fp);
		fclose(lf);
		snprintf(source, sizeof(source), "the file %s", o->log_file);
		x.log_source = source;
	} else if ((x.log_lines = log_journal(&s, now - since, m[M_LOG].fp,
	    why, sizeof(why))) >= 0) {
		snprintf(source, sizeof(source), "the journal (journalctl -t "
		    "moat)");
		x.log_source = source;
	} else {
		x.log_lines = 0;
		x.log_why = why;
	}
	if (sess.status == CTL_OK) {
		const struct ctl_table *t = ctl_table_find(&sess, "sessions");

		x.sessions = 0;
		for (size_t r = 0; t != NULL && r < t->nrows; r++)
			x.sessions += keep_session(t, r, &s);
	}
	if (incident_summary(m[M_SUMMARY].fp, &inc, &x) == -1) {
		fprintf(stderr, "moat: the daemon's incident has no summary\n");
		goto close;
	}
	ctl_json_write(m[M_INCIDENT].fp, &inc);
	ctl_json_write(m[M_EVENTS].fp, &ev);
	events_text(m[M_EVENTS_TXT].fp, &ev);
	json_rows_of(m[M_SESSIONS].fp, &sess, "sessions", keep_session, &s);
	ctl_json_write(m[M_QUEUE].fp, &queue);
	json_rows_of(m[M_BANS].fp, &bans, "bans", keep_ban,
	    ctl_table_find(&inc, "bans"));
	rc = 0;
close:
	for (int i = 0; i < M_N; i++)
		if (member_close(&m[i]) == -1)
			rc = 1;
	base_name(&s, now, base, sizeof(base));
	if (rc == 0) {
		if (o->out != NULL)
			snprintf(out, sizeof(out), "%s", o->out);
		else
			snprintf(out, sizeof(out), "%s.tar.gz", base);
		if (archive_write_all(out, base, m, M_N, now) == -1)
			rc = 1;
		else
			printf("%s: %s held, %s left, %s banned, %" PRId64
			    " log line(s)\n", out, incident_value(&inc, "held"),
			    incident_value(&inc, "left"),
			    incident_value(&inc, "bans"), x.log_lines);
	}
	for (int i = 0; i < M_N; i++)
		free(m[i].data);
done:
	free(s.addrs);
	if (have >= 5)
		ctl_answer_free(&bans);
	if (have >= 4)
		ctl_answer_free(&queue);
	if (have >= 3)
		ctl_answer_free(&sess);
	if (have >= 2)
		ctl_answer_free(&ev);
	if (have >= 1)
		ctl_answer_free(&inc);
	return rc;
}
