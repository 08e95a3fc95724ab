/*
 * ctl_cli.c - moat's administration commands (the control socket's
 * client), in the spirit of postqueue, postsuper, qshape and smtpctl.
 *
 *   moat sessions [kill ID | kill --ip CIDR | kill --user NAME]
 *   moat queue [summary]
 *   moat queue list [FILTER] [--limit N]
 *   moat queue show QID [--body]
 *   moat queue delete|hold|release|retry|bounce|requeue [QID] FILTER
 *              [--dry-run]
 *   moat queue pause|resume DOMAIN|--all [--reason TEXT]
 *   moat queue deadletter list [FILTER] [--limit N]
 *   moat queue deadletter reinject|delete [QID] FILTER [--dry-run]
 *   moat ban add CIDR [--for 7d] [--reason TEXT] | ban del CIDR | ban list
 *   moat user list | user suspend|hold|unsuspend NAME [--reason TEXT]
 *   moat user passwd NAME (password on stdin; hashed here, argon2id)
 *   moat events [--since 1h] [--type T] [--ip CIDR] [--user NAME]
 *               [--limit N] [--follow]
 *   moat log [CATEGORY LEVEL [--for 30m]]
 *   moat incident list [--since DUR] | incident show user:NAME|client:ADDR
 *   moat incident export --user NAME | --client ADDR [--since DUR]
 *               [-o FILE] [--log FILE]
 *   moat stats [--series [--since 1h] [--limit N]] | moat status
 *   moat reload | moat stop [--no-wait] [--timeout DUR]
 *
 * FILTER: --from ADDR (<> for the null sender), --to ADDR, --to-domain D,
 * --user NAME, --client-ip CIDR, --older-than DUR, --newer-than DUR,
 * --state S[,S...], --dead, --all. Everywhere: -c FILE (the daemon's
 * configuration, for spool_dir; else $MOAT_CONFIG, else the installed
 * default), --builtin (the daemon of `make run`), --socket PATH, --json.
 *
 * Public: ctl_is_command, ctl_main, ctl_filter_option, ctl_read_password.
 *
 * SECURITY: runs with the caller's privileges; the daemon decides who
 * may do what (SO_PEERCRED). It talks only to a socket owned by root
 * (or by the caller, for a daemon not started as root), checked before
 * and after connect: not to one the daemon's user planted in spool_dir. Answers are untrusted for the terminal:
 * control characters in cells are replaced before printing, and JSON
 * strings are escaped. An answer frame over CTL_ANSWER_MAX is refused.
 * LIMITS: CTL_CLI_TIMEOUT_SECS per answer.
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "ctl/ctl_cli.h"
#include "ctl/incident_export.h"
#include "ctl/ctl_msg.h"
#include "daemon/conf_path.h"
#include "daemon/config.h"
#include "io/ipc.h"
#include "lib/cidr.h"
#include "lib/event_types.h"
#include "lib/fdio.h"
#include "ctl/ctl_json.h"
#include "lib/json.h"
#include "lib/log.h"

#define CTL_CLI_TIMEOUT_SECS	300
#define CTL_CELL_MAX		60	/* table mode cuts longer cells */

struct cli {
	const char	*conf_path;	/* -c, NULL: $MOAT_CONFIG or the default */
	int		 builtin;	/* --builtin: the daemon of `make run` */
	int		 quiet_conf;	/* reload: the daemon says what is wrong */
	int		 quiet_connect;	/* no message when it cannot connect */
	int		 connect_errno;	/* why it could not, 0 when it could */
	const char	*socket_path;
	int		 json;
	int		 titles;	/* each table under its name */
	int		 fd;
	uint64_t	 next_id;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const char *const commands[] = { "sessions", "queue", "ban", "user",
    "events", "log", "stats", "status", "verify", "blacklist", "reload",
    "stop", "incident", "console" };

/* ctl_is_command - one of ours */
int
ctl_is_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i]) == 0)
			return 1;
	return 0;
}

#define USAGE_DUR	"DUR: 90, 45s, 30m, 1h, 7d, 2w, 1h30m.\n"
#define USAGE_COMMON	"Options everywhere: -c FILE, --builtin, --socket PATH, " \
	"--json. Exit: 0 ok,\n1 failed, 2 usage. Without -c: $MOAT_CONFIG, else " \
	MOAT_CONFIG_PATH ".\n"

/* each command's own usage: `moat X --help` and X's usage errors */
static const struct {
	const char	*cmd;
	const char	*text;
} cmd_usage[] = {
	{ "sessions",
	    "usage: moat sessions [kill ID | kill --ip CIDR | kill --user NAME]\n" },
	{ "queue",
	    "usage: moat queue [summary]\n"
	    "       moat queue list [FILTER] [--limit N]\n"
	    "       moat queue show QID [--body]\n"
	    "       moat queue delete|hold|release|retry|bounce|requeue [QID] "
	    "[FILTER] [--dry-run]\n"
	    "       moat queue pause|resume DOMAIN|--all [--reason TEXT]\n"
	    "       moat queue deadletter list [FILTER] [--limit N]\n"
	    "       moat queue deadletter reinject|delete [QID] [FILTER] "
	    "[--dry-run]\n"
	    "FILTER: --from ADDR --to ADDR --to-domain DOMAIN --user NAME\n"
	    "        --client-ip CIDR --older-than DUR --newer-than DUR\n"
	    "        --state queued,deferred,held,delivered,failed --dead --all\n"
	    USAGE_DUR },
	{ "ban",
	    "usage: moat ban add CIDR [--for DUR] [--reason TEXT]\n"
	    "       moat ban del CIDR | moat ban list\n" USAGE_DUR },
	{ "verify",
	    "usage: moat verify list [ADDR] | moat verify flush [ADDR]\n" },
	{ "blacklist",
	    "usage: moat blacklist [show] | moat blacklist check\n"
	    "  the own addresses on the DNS blacklists (blacklist_watch);\n"
	    "  check: look them up now\n" },
	{ "user",
	    "usage: moat user list\n"
	    "       moat user suspend|hold NAME [--reason TEXT]\n"
	    "       moat user unsuspend|release NAME [--reason TEXT] "
	    "[--release]\n"
	    "       moat user del NAME\n"
	    "       moat user passwd NAME\n" },
	{ "events",
	    "usage: moat events [--since DUR] [--type T] [--ip CIDR] "
	    "[--user NAME]\n"
	    "                   [--limit N] [--follow]\n"
	    "       moat events --types\n" USAGE_DUR },
	{ "incident",
	    "usage: moat incident list [--since DUR]\n"
	    "       moat incident show user:NAME|client:ADDR [--since DUR]\n"
	    "       moat incident export --user NAME | --client ADDR "
	    "[--since DUR]\n"
	    "                            [-o FILE] [--log FILE]\n"
	    "Default --since: 7d. export writes a .tar.gz (mode 0600): "
	    "summary.txt,\nincident.json, events, sessions, queue, bans and "
	    "log lines (--log FILE,\nelse the journal).\n" USAGE_DUR },
	{ "log",
	    "usage: moat log [CATEGORY LEVEL [--for DUR]]\n"
	    "CATEGORY: smtp auth relay policy queue delivery dns tls control "
	    "daemon\n"
	    "LEVEL: err warn notice info debug\n" USAGE_DUR },
	{ "console",
	    "usage: moat console passwd NAME\n"
	    "       moat console user del NAME\n"
	    "The web console's logins (console_users), not mail users.\n" },
	{ "stats", "usage: moat stats\n"
	    "       moat stats --series [--since DUR] [--limit N]\n"
	    "  --series: per minute, messages in and out, AUTH failures, "
	    "rejections,\n"
	    "  queue size (the last hour by default, 7 days at most)\n"
	    USAGE_DUR },
	{ "status", "usage: moat status\n" },
	{ "reload", "usage: moat reload\n"
	    "  exit 0 reloaded, 3 applied but some changes need a restart,\n"
	    "  1 refused (the running configuration stays)\n" },
	{ "stop", "usage: moat stop [--no-wait] [--timeout DUR]\n" USAGE_DUR },
};

static const char *usage_cmd;	/* the command being run */

static const char *
usage_text(const char *cmd)
{
	for (size_t i = 0; i < sizeof(cmd_usage) / sizeof(cmd_usage[0]); i++)
		if (cmd != NULL && strcmp(cmd_usage[i].cmd, cmd) == 0)
			return cmd_usage[i].text;
	return NULL;
}

/* a usage error: one line saying what is wrong, then the command's usage */
static int
usage(const char *why)
{
	const char *text = usage_text(usage_cmd);

	if (why)
		fprintf(stderr, "moat: %s: %s\n", usage_cmd, why);
	else
		fprintf(stderr, "moat: %s: unexpected or missing arguments\n",
		    usage_cmd);
	if (text != NULL)
		fputs(text, stderr);
	fputs(USAGE_COMMON, stderr);
	return 2;
}

static int
copy_arg(char *dst, const char *src, const char *what, char *err,
    size_t errlen)
{
	if (strlen(src) >= CTL_STR_MAX) {
		snprintf(err, errlen, "%s: longer than %d bytes", what,
		    CTL_STR_MAX - 1);
		return -1;
	}
	snprintf(dst, CTL_STR_MAX, "%s", src);
	return 0;
}

static int
cidr_arg(char *dst, const char *src, const char *what, char *err,
    size_t errlen)
{
	struct cidr c;
	const char *why;

	if (cidr_parse(src, &c, &why) == -1) {
		snprintf(err, errlen, "%s: '%s' %s", what, src, why);
		return -1;
	}
	return copy_arg(dst, src, what, err, errlen);
}

/* ctl_filter_option - one queue filter option */
int
ctl_filter_option(int argc, char **argv, int *i, struct ctl_filter *f,
    char *err, size_t errlen)
{
	const char *o = argv[*i], *v;

	if (strcmp(o, "--all") == 0) {
		f->flags |= CTL_FILTER_ALL;
		return 1;
	}
	if (strcmp(o, "--dead") == 0) {
		f->flags |= CTL_FILTER_DEAD;
		return 1;
	}
	if (strcmp(o, "--from") != 0 && strcmp(o, "--to") != 0 &&
	    strcmp(o, "--to-domain") != 0 && strcmp(o, "--user") != 0 &&
	    strcmp(o, "--client-ip") != 0 && strcmp(o, "--older-than") != 0 &&
	    strcmp(o, "--newer-than") != 0 && strcmp(o, "--state") != 0)
		return 0;
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "%s needs a value", o);
		return -1;
	}
	v = argv[++*i];
	if (strcmp(o, "--from") == 0)
		return copy_arg(f->from, v, o, err, errlen) == 0 ? 1 : -1;
	if (strcmp(o, "--to") == 0)
		return copy_arg(f->to, v, o, err, errlen) == 0 ? 1 : -1;
	if (strcmp(o, "--to-domain") == 0)
		return copy_arg(f->to_domain, v, o, err, errlen) == 0 ? 1 : -1;
	if (strcmp(o, "--user") == 0)
		return copy_arg(f->user, v, o, err, errlen) == 0 ? 1 : -1;
	if (strcmp(o, "--client-ip") == 0)
		return cidr_arg(f->client, v, o, err, errlen) == 0 ? 1 : -1;
	if (strcmp(o, "--state") == 0) {
		if (ctl_state_mask(v, &f->states) == -1) {
			snprintf(err, errlen, "--state: '%s': want queued, deferred, "
			    "held, delivered or failed", v);
			return -1;
		}
		return 1;
	}
	if (ctl_duration_parse(v, strcmp(o, "--older-than") == 0 ?
	    &f->older_than : &f->newer_than) == -1) {
		snprintf(err, errlen, "%s: '%s' is not a duration (30m, 1h, 7d)",
		    o, v);
		return -1;
	}
	return 1;
}

/*
 * Talking to the daemon.
 */

static int
cli_socket_path(struct cli *c)
{
	char err[1024], spool[CONF_PATH_MAX];
	struct conf *conf;
	int n;

	if (c->socket_path != NULL)
		n = snprintf(c->path, sizeof(c->path), "%s", c->socket_path);
	else {
		if ((conf = conf_path_load(c->conf_path, c->builtin, err,
		    sizeof(err))) != NULL) {
			n = snprintf(c->path, sizeof(c->path), "%s/%s",
			    conf->spool_dir, CTL_SOCKET_NAME);
			conf_free(conf);
		} else if (!c->builtin && conf_path_spool_dir(c->conf_path,
		    spool, sizeof(spool)) == 0) {
			/* an edit with a mistake: the daemon runs the version
			 * it loaded; reload says what is wrong, with its line */
			if (!c->quiet_conf)
				fprintf(stderr, "moat: warning: %s\n", err);
			n = snprintf(c->path, sizeof(c->path), "%s/%s", spool,
			    CTL_SOCKET_NAME);
		} else {
			if (!c->quiet_connect)
				fprintf(stderr, "moat: %s\n", err);
			return -1;
		}
	}
	if (n < 0 || (size_t)n >= sizeof(c->path)) {
		fprintf(stderr, "moat: control socket path too long\n");
		return -1;
	}
	return 0;
}

/*
 * The control socket is made by the daemon's parent as root (or, for a
 * daemon not started as root, by its user): a socket at that path owned
 * by anyone else was put there by someone else, such as the daemon's
 * own user, which owns spool_dir and could rename the real one away to
 * collect what admins send. 0 when st may be the daemon's socket.
 */
static int
cli_socket_trusted(const struct cli *c, const struct stat *st)
{
	if (!S_ISSOCK(st->st_mode)) {
		fprintf(stderr, "moat: %s is not a socket\n", c->path);
		return -1;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		fprintf(stderr, "moat: refusing %s: it belongs to uid %ld, not "
		    "root: the daemon did not make it\n", c->path,
		    (long)st->st_uid);
		return -1;
	}
	return 0;
}

static void
cli_connect_error(struct cli *c, int e)
{
	c->connect_errno = e;
	if (c->quiet_connect)
		return;
	if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr, "moat: the daemon is not running (no "
		    "control socket at %s)\n", c->path);
	else if (e == EACCES || e == EPERM)
		fprintf(stderr, "moat: permission denied: %s (only root "
		    "and the admin group may use it)\n", c->path);
	else
		fprintf(stderr, "moat: cannot connect to %s: %s\n",
		    c->path, strerror(e));
}

static int
cli_connect(struct cli *c)
{
	struct stat before, after;
	struct sockaddr_un sun;
	struct timeval tv = { CTL_CLI_TIMEOUT_SECS, 0 };

	if (c->fd >= 0)
		return 0;
	if (cli_socket_path(c) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "moat: socket: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (lstat(c->path, &before) == -1) {
		cli_connect_error(c, errno);
		goto fail;
	}
	if (cli_socket_trusted(c, &before) == -1)
		goto fail;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		cli_connect_error(c, errno);
		goto fail;
	}
	/* the same file as checked: not swapped in between */
	if (lstat(c->path, &after) == -1 || after.st_dev != before.st_dev ||
	    after.st_ino != before.st_ino) {
		fprintf(stderr, "moat: %s changed while connecting\n", c->path);
		goto fail;
	}
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

/* Send one request, read its answer. -1: nothing usable (reported). */
static int
cli_call(struct cli *c, const struct ctl_req *q, struct ctl_answer *a)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	uint8_t *payload = NULL, *body;
	size_t len;
	int rc = -1;

	if (cli_connect(c) == -1)
		return -1;
	ipc_msg_init(&m, 0, 0);
	ctl_req_encode(q, &m);
	len = evbuffer_get_length(m.buf);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = (uint16_t)q->op;
	h.pad = CTL_VERSION;
	h.id = ++c->next_id;
	body = evbuffer_pullup(m.buf, -1);
	if ((fdio_write_all(c->fd, &h, sizeof(h)) == -1 ||
	    (len > 0 && fdio_write_all(c->fd, body, len) == -1)) &&
	    errno != EPIPE && errno != ECONNRESET) {
		/* EPIPE: the daemon refused us; its reason is waiting */
		fprintf(stderr, "moat: write to %s: %s\n", c->path,
		    strerror(errno));
		goto done;
	}
	for (;;) {
		if (fdio_read_all(c->fd, &h, sizeof(h)) == -1) {
			fprintf(stderr, "moat: no answer from the daemon: %s\n",
			    errno == EAGAIN ? "timed out" : strerror(errno));
			goto done;
		}
		if (h.type != CTL_FRAME_ANSWER || h.len > CTL_ANSWER_MAX) {
			fprintf(stderr, "moat: malformed answer from the daemon\n");
			goto done;
		}
		if ((payload = malloc(h.len ? h.len : 1)) == NULL) {
			fprintf(stderr, "moat: out of memory\n");
			goto done;
		}
		if (fdio_read_all(c->fd, payload, h.len) == -1) {
			fprintf(stderr, "moat: answer cut short: %s\n",
			    strerror(errno));
			goto done;
		}
		/* id 0: the daemon refused the connection itself */
		if (h.id == c->next_id || h.id == 0)
			break;
		free(payload);
		payload = NULL;
	}
	if (ctl_answer_decode(payload, h.len, a) == -1) {
		fprintf(stderr, "moat: malformed answer from the daemon\n");
		goto done;
	}
	rc = 0;
done:
	free(payload);
	ipc_msg_discard(&m);
	return rc;
}

/*
 * Output.
 */

/* A cell as the table shows it: human units, safe characters. */
static void
cell_text(const struct ctl_table *t, size_t r, size_t c, int absolute,
    char *buf, size_t len)
{
	const struct ctl_cell *x = &t->cells[r * t->ncols + c];
	time_t now = time(NULL);
	char d[32];

	switch (t->cols[c].kind) {
	case CTL_KIND_STR:
		snprintf(buf, len, "%s", x->s && x->s[0] ? x->s : "-");
		for (char *p = buf; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (strlen(buf) > CTL_CELL_MAX && len > CTL_CELL_MAX)
			snprintf(buf + CTL_CELL_MAX - 3, 4, "...");
		break;
	case CTL_KIND_INT:
		snprintf(buf, len, "%" PRId64, x->i);
		break;
	case CTL_KIND_DUR:
		ctl_duration_format(x->i, buf, len);
		break;
	case CTL_KIND_SIZE:
		ctl_size_format(x->i, buf, len);
		break;
	case CTL_KIND_FLAG:
		snprintf(buf, len, "%s", x->i ? "yes" : "no");
		break;
	case CTL_KIND_TIME:
		if (x->i == 0)
			snprintf(buf, len, "-");
		else if (absolute) {
			time_t tt = (time_t)x->i;
			struct tm tm;

			localtime_r(&tt, &tm);
			strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
		} else if (x->i <= now)
			snprintf(buf, len, "%s ago", ctl_duration_format(now - x->i,
			    d, sizeof(d)));
		else
			snprintf(buf, len, "in %s", ctl_duration_format(x->i - now,
			    d, sizeof(d)));
		break;
	default:
		snprintf(buf, len, "?");
	}
}

static void
print_text_cell(const char *s)
{
	/* headers or a body: keep line ends, show other controls */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n' || *p == '\t' || (*p >= 0x20 && *p != 0x7f))
			putchar(*p);
		else
			printf("\\x%02x", *p);
	}
	if (s[0] && s[strlen(s) - 1] != '\n')
		putchar('\n');
}

static void
print_table(const struct ctl_table *t)
{
	size_t *w;
	char buf[512];
	int absolute = strcmp(t->name, "events") == 0 ||
	    strcmp(t->name, "timeline") == 0;

	if (t->ncols == 1 && t->cols[0].kind == CTL_KIND_STR) {
		for (size_t r = 0; r < t->nrows; r++)
			print_text_cell(t->cells[r].s ? t->cells[r].s : "");
		return;
	}
	if (t->ncols == 2 && strcmp(t->cols[0].name, "field") == 0) {
		for (size_t r = 0; r < t->nrows; r++) {
			cell_text(t, r, 1, 0, buf, sizeof(buf));
			printf("%-12s %s\n", t->cells[r * 2].s, buf);
		}
		return;
	}
	/* one record (queue show's envelope): a column a line */
	if (t->nrows == 1 && strcmp(t->name, "envelope") == 0) {
		for (size_t c = 0; c < t->ncols; c++) {
			cell_text(t, 0, c, 0, buf, sizeof(buf));
			printf("%-12s %s\n", t->cols[c].name, buf);
		}
		return;
	}
	if (t->nrows == 0) {
		printf("no %s\n", t->name);
		return;
	}
	if ((w = calloc(t->ncols, sizeof(*w))) == NULL)
		return;
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = strlen(t->cols[c].name);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			cell_text(t, r, c, absolute, buf, sizeof(buf));
			if (strlen(buf) > w[c])
				w[c] = strlen(buf);
		}
	for (size_t c = 0; c < t->ncols; c++)
		printf("%s%-*s", c ? "  " : "", c + 1 < t->ncols ? (int)w[c] : 0,
		    t->cols[c].name);
	printf("\n");
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			int right = t->cols[c].kind != CTL_KIND_STR;

			cell_text(t, r, c, absolute, buf, sizeof(buf));
			if (c + 1 == t->ncols && !right)
				printf("%s%s", c ? "  " : "", buf);
			else
				printf("%s%*s", c ? "  " : "", right ? (int)w[c] :
				    -(int)w[c], buf);
		}
		printf("\n");
	}
	free(w);
}

static int
exit_status(const struct ctl_answer *a)
{
	switch (a->status) {
	case CTL_OK:
		return 0;
	case CTL_BAD_REQUEST:
		return 2;
	default:
		return 1;
	}
}

/* Print an answer the way the user asked; the exit status. */
static int
show(struct cli *c, const struct ctl_answer *a)
{
	if (c->json) {
		ctl_json_write(stdout, a);
		return exit_status(a);
	}
	if (a->status != CTL_OK) {
		fprintf(stderr, "moat: %s\n", a->message[0] ? a->message :
		    ctl_status_name(a->status));
		return exit_status(a);
	}
	for (size_t i = 0; i < a->ntables; i++) {
		if (i > 0)
			printf("\n");
		if (c->titles && a->tables[i].nrows > 0)
			printf("%s:\n", a->tables[i].name);
		print_table(&a->tables[i]);
	}
	if (a->message[0])
		printf("%s\n", a->message);
	return 0;
}

/* show an answer, then free it; the exit status */
static int
show_free(struct cli *c, struct ctl_answer *a)
{
	int rc = show(c, a);

	ctl_answer_free(a);
	return rc;
}

static int
run(struct cli *c, const struct ctl_req *q)
{
	struct ctl_answer a;

	if (cli_call(c, q, &a) == -1)
		return 1;
	return show_free(c, &a);
}

/* call op, which takes no arguments; -1: no answer (reported) */
static int
cli_call_op(struct cli *c, enum ctl_op op, struct ctl_answer *a)
{
	struct ctl_req q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	return cli_call(c, &q, a);
}

/*
 * Commands. Each gets the arguments after its name, global options
 * already removed.
 */

static int
cmd_sessions(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];

	memset(&q, 0, sizeof(q));
	if (argc == 0) {
		q.op = CTL_OP_SESSIONS;
		return run(c, &q);
	}
	if (strcmp(argv[0], "kill") != 0 || argc < 2 || argc > 3)
		return usage(NULL);
	q.op = CTL_OP_SESSION_KILL;
	if (strcmp(argv[1], "--ip") == 0 && argc == 3) {
		if (cidr_arg(q.a, argv[2], "--ip", err, sizeof(err)) == -1)
			return usage(err);
	} else if (strcmp(argv[1], "--user") == 0 && argc == 3) {
		if (copy_arg(q.b, argv[2], "--user", err, sizeof(err)) == -1)
			return usage(err);
	} else if (argc == 2) {
		char *end;

		errno = 0;
		q.id = strtoull(argv[1], &end, 16);
		if (errno || *end || q.id == 0 || end - argv[1] > 16)
			return usage("kill: not a session id (16 hex digits)");
	} else
		return usage(NULL);
	return run(c, &q);
}

/* `moat queue pause|resume DOMAIN|--all [--reason TEXT]` */
static int
cmd_queue_pause(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];
	int pause = strcmp(argv[0], "pause") == 0;

	memset(&q, 0, sizeof(q));
	q.op = pause ? CTL_OP_QUEUE_PAUSE : CTL_OP_QUEUE_RESUME;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0 && q.a[0] == '\0')
			snprintf(q.a, sizeof(q.a), "*");
		else if (pause && strcmp(argv[i], "--reason") == 0 &&
		    i + 1 < argc) {
			if (copy_arg(q.b, argv[++i], "--reason", err,
			    sizeof(err)) == -1)
				return usage(err);
		} else if (argv[i][0] != '-' && q.a[0] == '\0' &&
		    strchr(argv[i], '*') == NULL) {
			if (copy_arg(q.a, argv[i], "domain", err,
			    sizeof(err)) == -1)
				return usage(err);
		} else {
			snprintf(err, sizeof(err), "queue %s: unknown argument "
			    "'%s'", argv[0], argv[i]);
			return usage(err);
		}
	}
	if (q.a[0] == '\0') {
		snprintf(err, sizeof(err), "queue %s: which destination? (a "
		    "domain, or --all)", argv[0]);
		return usage(err);
	}
	return run(c, &q);
}

static int
cmd_queue(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];
	const char *sub = argc > 0 ? argv[0] : "summary";
	int i, act, dead = 0;

	memset(&q, 0, sizeof(q));
	if (strcmp(sub, "pause") == 0 || strcmp(sub, "resume") == 0)
		return cmd_queue_pause(c, argc, argv);
	/* deadletter SUB ...: SUB over the dead letters (--dead) */
	if (strcmp(sub, "deadletter") == 0) {
		if (argc < 2 || (strcmp(argv[1], "list") != 0 &&
		    strcmp(argv[1], "reinject") != 0 &&
		    strcmp(argv[1], "delete") != 0))
			return usage("queue deadletter: list, reinject or delete");
		dead = 1;
		q.filter.flags |= CTL_FILTER_DEAD;
		argc--;
		argv++;
		sub = argv[0];
	} else if (strcmp(sub, "reinject") == 0)
		return usage("queue reinject: dead letters only (moat queue "
		    "deadletter reinject)");
	if (strcmp(sub, "summary") == 0) {
		if (argc > 1)
			return usage(NULL);
		q.op = CTL_OP_QUEUE_SUMMARY;
		return run(c, &q);
	}
	if (strcmp(sub, "show") == 0) {
		q.op = CTL_OP_QUEUE_SHOW;
		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--body") == 0)
				q.flag = 1;
			else if (q.a[0] == '\0' && argv[i][0] != '-') {
				if (copy_arg(q.a, argv[i], "qid", err,
				    sizeof(err)) == -1)
					return usage(err);
			} else
				return usage(NULL);
		}
		if (q.a[0] == '\0')
			return usage("show: which message? (a queue id)");
		return run(c, &q);
	}
	if (strcmp(sub, "list") == 0)
		q.op = CTL_OP_QUEUE_LIST;
	else if ((act = ctl_action_from_name(sub)) != -1) {
		q.op = CTL_OP_QUEUE_ACT;
		q.action = (uint8_t)act;
	} else
		return usage(NULL);
	for (i = 1; i < argc; i++) {
		int r = ctl_filter_option(argc, argv, &i, &q.filter, err,
		    sizeof(err));

		if (r == -1)
			return usage(err);
		if (r == 1)
			continue;
		if (strcmp(argv[i], "--dry-run") == 0 && q.op == CTL_OP_QUEUE_ACT)
			q.flag = 1;
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc &&
		    q.op == CTL_OP_QUEUE_LIST) {
			char *end;
			unsigned long n = strtoul(argv[++i], &end, 10);

			if (*end || n == 0 || n > CTL_LIST_MAX)
				return usage("--limit: 1..1000000");
			q.limit = (uint32_t)n;
		} else if (argv[i][0] != '-' && q.filter.qid[0] == '\0') {
			if (copy_arg(q.filter.qid, argv[i], "qid", err,
			    sizeof(err)) == -1)
				return usage(err);
		} else {
			snprintf(err, sizeof(err), "queue %s: unknown argument "
			    "'%s'", sub, argv[i]);
			return usage(err);
		}
	}
	if (q.op == CTL_OP_QUEUE_ACT && ctl_filter_empty(&q.filter))
		return usage("no filter: give a queue id or filter, or --all "
		    "for every message");
	/* --dead alone selects every dead letter: say so with --all */
	if (dead && q.op == CTL_OP_QUEUE_ACT &&
	    q.filter.flags == CTL_FILTER_DEAD && q.filter.qid[0] == '\0' &&
	    q.filter.from[0] == '\0' && q.filter.to[0] == '\0' &&
	    q.filter.to_domain[0] == '\0' && q.filter.older_than == 0 &&
	    q.filter.newer_than == 0)
		return usage("no filter: give a queue id or filter, or --all "
		    "for every dead letter");
	return run(c, &q);
}

static int
cmd_ban(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];

	memset(&q, 0, sizeof(q));
	if (argc == 0 || strcmp(argv[0], "list") == 0) {
		if (argc > 1)
			return usage(NULL);
		q.op = CTL_OP_BAN_LIST;
		return run(c, &q);
	}
	if (argc < 2)
		return usage(NULL);
	if (cidr_arg(q.a, argv[1], "CIDR", err, sizeof(err)) == -1)
		return usage(err);
	if (strcmp(argv[0], "del") == 0) {
		if (argc != 2)
			return usage(NULL);
		q.op = CTL_OP_BAN_DEL;
		return run(c, &q);
	}
	if (strcmp(argv[0], "add") != 0)
		return usage(NULL);
	q.op = CTL_OP_BAN_ADD;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--for") == 0 && i + 1 < argc) {
			if (ctl_duration_parse(argv[++i], &q.duration) == -1)
				return usage("--for: not a duration (30m, 1h, 7d)");
		} else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
			if (copy_arg(q.b, argv[++i], "--reason", err,
			    sizeof(err)) == -1)
				return usage(err);
		} else
			return usage(NULL);
	}
	return run(c, &q);
}

/* incident_export's way to the daemon */
static int
incident_call(void *arg, const struct ctl_req *q, struct ctl_answer *a)
{
	return cli_call(arg, q, a);
}

/*
 * moat incident list [--since DUR]
 * moat incident show user:NAME|client:ADDR [--since DUR]
 * moat incident export --user NAME | --client ADDR [--since DUR]
 *     [-o FILE] [--log FILE]
 */
static int
cmd_incident(struct cli *c, int argc, char **argv)
{
	struct incident_export_opts o;
	struct ctl_req q;
	char err[512], id[CTL_STR_MAX + 8];
	const char *kind, *value;
	int i = 1;

	memset(&q, 0, sizeof(q));
	memset(&o, 0, sizeof(o));
	if (argc == 0)
		return usage(NULL);
	if (strcmp(argv[0], "list") == 0)
		q.op = CTL_OP_INCIDENTS;
	else if (strcmp(argv[0], "show") == 0 && argc >= 2) {
		q.op = CTL_OP_INCIDENT;
		if (copy_arg(q.a, argv[1], "incident", err, sizeof(err)) == -1)
			return usage(err);
		i = 2;
	} else if (strcmp(argv[0], "export") != 0)
		return usage(NULL);
	id[0] = '\0';
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			if (ctl_duration_parse(argv[++i], &q.since) == -1)
				return usage("--since: not a duration (1h, 7d)");
		} else if (q.op == 0 && (strcmp(argv[i], "--user") == 0 ||
		    strcmp(argv[i], "--client") == 0) && i + 1 < argc &&
		    id[0] == '\0') {
			snprintf(id, sizeof(id), "%s:%s", argv[i] + 2,
			    argv[i + 1]);
			i++;
		} else if (q.op == 0 && strcmp(argv[i], "-o") == 0 &&
		    i + 1 < argc)
			o.out = argv[++i];
		else if (q.op == 0 && strcmp(argv[i], "--log") == 0 &&
		    i + 1 < argc)
			o.log_file = argv[++i];
		else
			return usage(NULL);
	}
	if (q.op == CTL_OP_INCIDENT &&
	    ctl_incident_id(q.a, &kind, &value, err, sizeof(err)) == -1)
		return usage(err);
	/* show: several tables, each under its name */
	c->titles = q.op == CTL_OP_INCIDENT;
	if (q.op != 0)
		return run(c, &q);
	if (id[0] == '\0')
		return usage("export: give --user NAME or --client ADDR");
	if (strlen(id) >= CTL_STR_MAX ||
	    ctl_incident_id(id, &kind, &value, err, sizeof(err)) == -1)
		return usage(strlen(id) >= CTL_STR_MAX ? "export: name too long" :
		    err);
	o.id = id;
	o.since = q.since;
	return incident_export(&o, incident_call, c);
}

/* moat verify list|flush [ADDR]: the recipient verification cache */
static int
cmd_verify(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];

	memset(&q, 0, sizeof(q));
	if (argc == 0 || argc > 2)
		return usage(NULL);
	if (strcmp(argv[0], "list") == 0)
		q.op = CTL_OP_VERIFY_LIST;
	else if (strcmp(argv[0], "flush") == 0)
		q.op = CTL_OP_VERIFY_FLUSH;
	else
		return usage(NULL);
	if (argc == 2 && copy_arg(q.a, argv[1], "ADDR", err, sizeof(err)) == -1)
		return usage(err);
	return run(c, &q);
}

/* blacklist [show|check]: the watch's state, or a check made now */
static int
cmd_blacklist(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_BLACKLIST;
	if (argc > 1)
		return usage(NULL);
	if (argc == 1 && strcmp(argv[0], "check") == 0)
		q.flag = 1;
	else if (argc == 1 && strcmp(argv[0], "show") != 0)
		return usage(NULL);
	return run(c, &q);
}

/*
 * status: the listings of the own addresses as "blacklists:" lines (or
 * the table in a's tables for --json); nothing when the queue does not
 * answer: the daemon's own status stands alone
 */
static void
status_blacklist(struct cli *c, struct ctl_answer *a)
{
	const struct ctl_table *t;
	struct ctl_answer b;
	struct ctl_table *v;
	size_t listed = 0;

	if (cli_call_op(c, CTL_OP_BLACKLIST, &b) == -1)
		return;
	if (b.status != CTL_OK ||
	    (t = ctl_table_find(&b, "blacklist")) == NULL || t->ncols != 8) {
		ctl_answer_free(&b);
		return;
	}
	if (c->json) {		/* the table moves into a */
		if ((v = realloc(a->tables, (a->ntables + 1) *
		    sizeof(*v))) != NULL) {
			a->tables = v;
			a->tables[a->ntables++] = *t;
			memset((struct ctl_table *)t, 0, sizeof(*t));
		}
		ctl_answer_free(&b);
		return;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		const struct ctl_cell *x = &t->cells[r * t->ncols];

		if (!x[2].i)
			continue;
		listed++;
		printf("%-22s %s listed on %s (%s%s%s)\n", "blacklists:", x[0].s,
		    x[1].s, x[4].s, x[5].s[0] ? ": " : "", x[5].s);
	}
	if (listed == 0)
		printf("%-22s %s\n", "blacklists:", t->nrows > 0 ?
		    "not listed" : b.message);
	ctl_answer_free(&b);
}

/* ctl_read_password - one line from stdin, without echo on a terminal */
int
ctl_read_password(const char *prompt, char *buf, size_t len)
{
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	if (fgets(buf, (int)len, stdin) == NULL) {
		if (tty) {
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fprintf(stderr, "\n");
		}
		return -1;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/*
 * ctl_password_check - a new password for user against c: at least
 * password_min_length bytes (-1 and a message when not); a user that
 * is no local mailbox gets a warning only (an account that only sends,
 * a web application's, is fine)
 */
int
ctl_password_check(const struct conf *c, const char *user, const char *pw)
{
	size_t n = strlen(pw);
	int have = 0;

	if (n < (size_t)c->password_min_length) {
		fprintf(stderr, "moat: password refused: %zu character%s, at "
		    "least %d wanted (password_min_length)\n", n,
		    n == 1 ? "" : "s", c->password_min_length);
		return -1;
	}
	for (size_t i = 0; i < c->n_mailboxes; i++)
		if (strcasecmp(c->mailboxes[i], user) == 0)
			have = 1;
	if (!have && c->mailboxes_file[0] == '\0')
		fprintf(stderr, "moat: warning: %s is not one of mailboxes: it "
		    "may send (AUTH) but gets no mail here\n", user);
	return 0;
}

/*
 * user passwd NAME: the password is read and hashed here, so only the
 * argon2id hash crosses the socket; the daemon's parent writes the
 * users file and hands it to the auth process at once.
 */
static int
cmd_user_passwd(struct cli *c, const char *user, enum ctl_op op)
{
	struct ctl_req q;
	struct conf *conf = NULL;
	char pw1[512], pw2[512], err[1024];
	int rc = 1;

	memset(&q, 0, sizeof(q));
	q.op = op;
	if (copy_arg(q.a, user, "user", err, sizeof(err)) == -1)
		return usage(err);
	for (const char *p = user; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return usage("passwd: bad user name");
	pw2[0] = '\0';
	if (ctl_read_password("Password: ", pw1, sizeof(pw1)) == -1) {
		fprintf(stderr, "moat: no password given\n");
		goto done;
	}
	if (isatty(STDIN_FILENO) &&
	    (ctl_read_password("Again: ", pw2, sizeof(pw2)) == -1 ||
	    strcmp(pw1, pw2) != 0)) {
		fprintf(stderr, "moat: passwords do not match\n");
		goto done;
	}
	if (pw1[0] == '\0') {
		fprintf(stderr, "moat: empty password refused\n");
		goto done;
	}
	/* the rules of the daemon's configuration, found as the socket is */
	if ((conf = conf_path_load(c->conf_path, c->builtin, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "moat: %s\n", err);
		goto done;
	}
	if (op == CTL_OP_CONSOLE_PASSWD) {
		/* an administrator's: the length rule, no mailbox */
		if (strlen(pw1) < (size_t)conf->password_min_length) {
			fprintf(stderr, "moat: password refused: at least %d "
			    "characters wanted (password_min_length)\n",
			    conf->password_min_length);
			goto done;
		}
	} else if (ctl_password_check(conf, user, pw1) == -1)
		goto done;
	if (crypto_pwhash_str(q.b, pw1, strlen(pw1),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		fprintf(stderr, "moat: out of memory hashing the password\n");
		goto done;
	}
	rc = run(c, &q);
done:
	sodium_memzero(pw1, sizeof(pw1));
	sodium_memzero(pw2, sizeof(pw2));
	conf_free(conf);
	return rc;
}

/*
 * unsuspend --release: the held mail of the account goes, as `moat
 * queue release --user NAME` (--client-ip for an ip: key) would do it
 */
static int
user_release_mail(struct cli *c, const char *key)
{
	struct ctl_req q;
	const char *slash;
	char err[512];

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_QUEUE_ACT;
	q.action = CTL_ACT_RELEASE;
	if (strncmp(key, "ip:", 3) != 0) {
		if (copy_arg(q.filter.user, key, "user", err, sizeof(err)) == -1)
			return usage(err);
	} else {
		/* ip:ADDRESS[/SENDER] */
		snprintf(q.filter.client, sizeof(q.filter.client), "%.*s",
		    (int)((slash = strchr(key + 3, '/')) != NULL ?
		    (size_t)(slash - key - 3) : strlen(key + 3)), key + 3);
		if (slash != NULL)
			snprintf(q.filter.from, sizeof(q.filter.from), "%s",
			    slash + 1);
	}
	return run(c, &q);
}

static int
cmd_user(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	struct ctl_answer a;
	char err[512];
	int release = 0, rc;

	memset(&q, 0, sizeof(q));
	if (argc == 0 || strcmp(argv[0], "list") == 0) {
		if (argc > 1)
			return usage(NULL);
		q.op = CTL_OP_USER_LIST;
		return run(c, &q);
	}
	if (argc < 2)
		return usage(strcmp(argv[0], "suspend") == 0 ||
		    strcmp(argv[0], "hold") == 0 || strcmp(argv[0], "del") == 0 ||
		    strcmp(argv[0], "unsuspend") == 0 ||
		    strcmp(argv[0], "release") == 0 ||
		    strcmp(argv[0], "passwd") == 0 ? "which user?" : NULL);
	if (strcmp(argv[0], "passwd") == 0)
		return argc == 2 ? cmd_user_passwd(c, argv[1],
		    CTL_OP_USER_PASSWD) : usage(NULL);
	if (strcmp(argv[0], "del") == 0) {
		if (argc != 2)
			return usage("del: one user");
		q.op = CTL_OP_USER_DEL;
		if (copy_arg(q.a, argv[1], "user", err, sizeof(err)) == -1)
			return usage(err);
		return run(c, &q);
	}
	q.op = CTL_OP_USER_STATE;
	if (strcmp(argv[0], "suspend") == 0)
		q.state = CTL_USER_SUSPENDED;
	else if (strcmp(argv[0], "hold") == 0)
		q.state = CTL_USER_HELD;
	else if (strcmp(argv[0], "unsuspend") == 0 ||
	    strcmp(argv[0], "release") == 0)
		q.state = CTL_USER_ACTIVE;
	else
		return usage(NULL);
	if (copy_arg(q.a, argv[1], "user", err, sizeof(err)) == -1)
		return usage(err);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
			if (copy_arg(q.b, argv[++i], "--reason", err,
			    sizeof(err)) == -1)
				return usage(err);
		} else if (strcmp(argv[i], "--release") == 0 &&
		    q.state == CTL_USER_ACTIVE)
			release = 1;
		else
			return usage(NULL);
	}
	if (!release)
		return run(c, &q);
	/* --release: the state's answer would say the mail is still held,
	 * which the release below makes untrue; its failure is shown */
	if (cli_call(c, &q, &a) == -1)
		return 1;
	if (a.status != CTL_OK || c->json) {
		rc = show(c, &a);
		ctl_answer_free(&a);
		if (rc != 0)
			return rc;
	} else {
		printf("%s is now active\n", q.a);
		ctl_answer_free(&a);
	}
	return user_release_mail(c, q.a);
}

/*
 * console passwd NAME, console user del NAME: the web console's logins,
 * written by the daemon's parent into console_users (argon2id, as user
 * passwd does for AUTH)
 */
static int
cmd_console(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	char err[512];

	if (argc == 2 && strcmp(argv[0], "passwd") == 0)
		return cmd_user_passwd(c, argv[1], CTL_OP_CONSOLE_PASSWD);
	if (argc == 3 && strcmp(argv[0], "user") == 0 &&
	    strcmp(argv[1], "del") == 0) {
		memset(&q, 0, sizeof(q));
		q.op = CTL_OP_CONSOLE_USER_DEL;
		if (copy_arg(q.a, argv[2], "user", err, sizeof(err)) == -1)
			return usage(err);
		return run(c, &q);
	}
	return usage(argc == 0 ? "passwd NAME or user del NAME" : NULL);
}

/* events --types: the registry, as a table or JSON */
static int
print_event_types(const struct cli *c)
{
	const struct event_type *t;
	size_t w = 4;

	if (c->json) {
		printf("{\"status\":\"ok\",\"message\":\"\",\"types\":[");
		for (size_t i = 0; (t = event_type_at(i)) != NULL; i++) {
			printf("%s{\"type\":", i ? "," : "");
			json_write_str(stdout, t->name);
			printf(",\"description\":");
			json_write_str(stdout, t->doc);
			printf("}");
		}
		printf("]}\n");
		return 0;
	}
	for (size_t i = 0; (t = event_type_at(i)) != NULL; i++)
		if (strlen(t->name) > w)
			w = strlen(t->name);
	printf("%-*s  %s\n", (int)w, "type", "description");
	for (size_t i = 0; (t = event_type_at(i)) != NULL; i++)
		printf("%-*s  %s\n", (int)w, t->name, t->doc);
	return 0;
}

/* events --type T with a T no code records: say which ones exist */
static int
unknown_event_type(const char *name)
{
	const struct event_type *t;
	char q[80];

	fprintf(stderr, "moat: events: unknown event type '%s'; the types "
	    "are:\n", log_escape(q, sizeof(q), name, strlen(name)));
	for (size_t i = 0; (t = event_type_at(i)) != NULL; i++)
		fprintf(stderr, "%s%s", i ? (i % 6 ? " " : "\n  ") : "  ",
		    t->name);
	fprintf(stderr, "\n(moat events --types describes them)\n");
	return 2;
}

/* moat stats, or the time series: moat stats --series [--since DUR] */
static int
cmd_stats(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_STATS;
	if (argc == 0)
		return run(c, &q);
	if (strcmp(argv[0], "--series") != 0)
		return usage(NULL);
	q.op = CTL_OP_SERIES;
	q.since = 3600;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage(NULL);
		if (strcmp(argv[i], "--since") == 0) {
			if (ctl_duration_parse(argv[++i], &q.since) == -1 ||
			    q.since <= 0 || q.since > 7 * 86400)
				return usage("--since: a duration up to 7d");
		} else if (strcmp(argv[i], "--limit") == 0) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end || v == 0 || v > CTL_LIST_MAX)
				return usage("--limit: 1..1000000");
			q.limit = (uint32_t)v;
		} else
			return usage(NULL);
	}
	return run(c, &q);
}

static int
cmd_events(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	struct ctl_answer a;
	char err[512];
	int follow = 0, rc;

	memset(&q, 0, sizeof(q));
	q.op = CTL_OP_EVENTS;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];

		if (strcmp(o, "--follow") == 0 || strcmp(o, "-f") == 0) {
			follow = 1;
			continue;
		}
		if (strcmp(o, "--types") == 0) {
			if (argc != 1)
				return usage("--types goes alone");
			return print_event_types(c);
		}
		if (i + 1 >= argc)
			return usage(NULL);
		if (strcmp(o, "--since") == 0) {
			if (ctl_duration_parse(argv[++i], &q.since) == -1)
				return usage("--since: not a duration (30m, 1h, 7d)");
		} else if (strcmp(o, "--type") == 0) {
			if (event_type_find(argv[i + 1]) == NULL)
				return unknown_event_type(argv[i + 1]);
			if (copy_arg(q.a, argv[++i], o, err, sizeof(err)) == -1)
				return usage(err);
		} else if (strcmp(o, "--ip") == 0) {
			if (cidr_arg(q.b, argv[++i], o, err, sizeof(err)) == -1)
				return usage(err);
		} else if (strcmp(o, "--user") == 0) {
			if (copy_arg(q.c, argv[++i], o, err, sizeof(err)) == -1)
				return usage(err);
		} else if (strcmp(o, "--limit") == 0) {
			char *end;
			unsigned long n = strtoul(argv[++i], &end, 10);

			if (*end || n == 0 || n > CTL_LIST_MAX)
				return usage("--limit: 1..1000000");
			q.limit = (uint32_t)n;
		} else
			return usage(NULL);
	}
	if (!follow)
		return run(c, &q);
	for (int header = !c->json;;) {
		const struct ctl_table *t;

		if (cli_call(c, &q, &a) == -1)
			return 1;
		if (a.status != CTL_OK || (t = ctl_table_find(&a, "events")) ==
		    NULL) {
			rc = show_free(c, &a);
			return rc ? rc : 1;
		}
		if (header) {
			/* the columns once, as the table would show them */
			for (size_t k = 1; k < t->ncols; k++)
				printf("%s%s", k > 1 ? "  " : "",
				    t->cols[k].name);
			printf("\n");
			header = 0;
		}
		for (size_t r = 0; r < t->nrows; r++) {
			char buf[512];

			if (c->json) {
				ctl_json_row(stdout, t, r);
				printf("\n");
			} else {
				for (size_t k = 1; k < t->ncols; k++) {
					cell_text(t, r, k, 1, buf, sizeof(buf));
					printf("%s%s", k > 1 ? "  " : "", buf);
				}
				printf("\n");
			}
			q.after = t->cells[r * t->ncols].i;
		}
		fflush(stdout);
		ctl_answer_free(&a);
		q.since = 0;
		q.limit = 1000;
		sleep(1);
	}
}

static int
cmd_log(struct cli *c, int argc, char **argv)
{
	struct ctl_req q;
	int cat, lvl;

	memset(&q, 0, sizeof(q));
	if (argc == 0) {
		q.op = CTL_OP_LOG_GET;
		return run(c, &q);
	}
	if (argc != 2 && argc != 4)
		return usage(NULL);
	if ((cat = log_cat_from_name(argv[0])) == -1)
		return usage("unknown category (smtp auth relay policy queue "
		    "delivery dns tls control daemon)");
	if ((lvl = log_level_from_name(argv[1])) == -1)
		return usage("unknown level (err warn notice info debug)");
	if (argc == 4 && (strcmp(argv[2], "--for") != 0 ||
	    ctl_duration_parse(argv[3], &q.duration) == -1))
		return usage("--for: not a duration (30s, 30m, 1h)");
	q.op = CTL_OP_LOG_SET;
	q.cat = (uint8_t)cat;
	q.level = (uint8_t)lvl;
	return run(c, &q);
}

/*
 * reload: "reloaded", or what could not be applied. Exit 0 when all of
 * it was, 3 when it was applied but for what needs a restart or failed
 * (a service manager's reload is then reported failed, as it should),
 * 1 when the file was refused and the running configuration stays.
 */
static int
cmd_reload(struct cli *c, int argc, char **argv)
{
	const struct ctl_table *t;
	struct ctl_answer a;
	char what[512];
	int rc, unapplied;

	if (argc != 0)
		return usage(NULL);
	c->quiet_conf = 1;
	if (cli_call_op(c, CTL_OP_RELOAD, &a) == -1)
		return 1;
	t = ctl_table_find(&a, "reload");
	if (c->json || a.status == CTL_DENIED || t == NULL || t->ncols != 2) {
		unapplied = t != NULL && t->nrows > 0;
		rc = show_free(c, &a);
		return rc == 0 && unapplied ? 3 : rc;
	}
	fprintf(a.status == CTL_OK ? stdout : stderr, "%s%s\n",
	    a.status == CTL_OK ? "" : "moat: ", a.message);
	for (size_t r = 0; r < t->nrows; r++) {
		const char *kind = t->cells[r * 2].s, *item = t->cells[r * 2 + 1].s;

		snprintf(what, sizeof(what), "%s", item ? item : "");
		for (char *p = what; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		fprintf(a.status == CTL_OK ? stdout : stderr, "  %s: %s\n",
		    kind && strcmp(kind, "restart") == 0 ?
		    "needs a restart" : "error", what);
	}
	rc = a.status != CTL_OK ? exit_status(&a) : t->nrows > 0 ? 3 : 0;
	ctl_answer_free(&a);
	return rc;
}

/*
 * Whether process pid is still there (EPERM: there, not ours). A zombie
 * has stopped: only its parent has yet to collect its status.
 */
static int
pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *fp;
	int zombie = 0;

	if (kill(pid, 0) == -1 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "re")) != NULL) {
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    (p = strrchr(buf, ')')) != NULL)
			zombie = p[1] == ' ' && p[2] == 'Z';
		fclose(fp);
	}
	return !zombie;
}

/* stop: asks, then waits until the daemon's parent is gone */
static int
cmd_stop(struct cli *c, int argc, char **argv)
{
	const struct ctl_table *t;
	struct ctl_answer a;
	int64_t timeout = 120;
	int wait = 1;
	pid_t pid = 0;
	time_t until;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-wait") == 0)
			wait = 0;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (ctl_duration_parse(argv[++i], &timeout) == -1)
				return usage("stop: --timeout: not a duration "
				    "(30s, 2m)");
		} else
			return usage(NULL);
	}
	if (cli_call_op(c, CTL_OP_STOP, &a) == -1)
		return 1;
	if (a.status != CTL_OK)
		return show_free(c, &a);
	if ((t = ctl_table_find(&a, "stop")) != NULL && t->nrows == 1 &&
	    t->ncols == 1)
		pid = (pid_t)t->cells[0].i;
	ctl_answer_free(&a);
	if (wait && pid > 0) {
		until = time(NULL) + (time_t)timeout;
		while (pid_alive(pid) && time(NULL) < until)
			usleep(50000);
		if (pid_alive(pid)) {
			if (c->json)
				printf("{\"status\":\"failed\",\"message\":"
				    "\"still running\",\"pid\":%ld}\n",
				    (long)pid);
			else
				fprintf(stderr, "moat: pid %ld still running "
				    "after %llds\n", (long)pid,
				    (long long)timeout);
			return 1;
		}
	}
	if (c->json)
		printf("{\"status\":\"ok\",\"message\":\"%s\",\"pid\":%ld}\n",
		    wait ? "stopped" : "stopping", (long)pid);
	else
		printf("%s (pid %ld)\n", wait ? "stopped" : "stopping",
		    (long)pid);
	return 0;
}

/* status: the daemon's row as "name: value" lines, then the tables */
static int
cmd_status(struct cli *c, int argc, char **argv)
{
	const struct ctl_table *t;
	struct ctl_answer a;
	char buf[512];

	if (argc != 0)
		return usage(NULL);
	if (cli_call_op(c, CTL_OP_STATUS, &a) == -1)
		return 1;
	if (c->json && a.status == CTL_OK)
		status_blacklist(c, &a);
	if (c->json || a.status != CTL_OK ||
	    (t = ctl_table_find(&a, "daemon")) == NULL || t->nrows != 1)
		return show_free(c, &a);
	printf("%s\n", a.message);
	for (size_t k = 0; k < t->ncols; k++) {
		cell_text(t, 0, k, strcmp(t->cols[k].name, "started") == 0,
		    buf, sizeof(buf));
		if (t->cols[k].kind == CTL_KIND_INT && t->cells[k].i < 0)
			snprintf(buf, sizeof(buf), "?");
		if (t->cols[k].kind == CTL_KIND_STR && strcmp(buf, "-") == 0 &&
		    strncmp(t->cols[k].name, "reload_", 7) == 0)
			continue;	/* no reload yet, or nothing to say */
		printf("%-22s %s\n", t->cols[k].name, buf);
	}
	status_blacklist(c, &a);
	for (size_t i = 0; i < a.ntables; i++)
		if (&a.tables[i] != t) {
			printf("\n");
			print_table(&a.tables[i]);
		}
	ctl_answer_free(&a);
	return 0;
}

/* ctl_daemon_config - the file the running daemon loaded (status) */
int
ctl_daemon_config(const char *conf_path, int builtin, const char *socket_path,
    char *out, size_t len, char *why, size_t whylen)
{
	const struct ctl_table *t;
	struct ctl_answer a;
	struct cli c;
	int col, rc = 0;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.conf_path = conf_path;
	c.builtin = builtin;
	c.socket_path = socket_path;
	c.quiet_conf = 1;
	c.quiet_connect = 1;
	signal(SIGPIPE, SIG_IGN);
	snprintf(why, whylen, "no answer from the daemon");
	if (cli_socket_path(&c) == -1)
		return -1;
	if (cli_call_op(&c, CTL_OP_STATUS, &a) == -1) {
		if (c.connect_errno == ENOENT || c.connect_errno == ECONNREFUSED)
			snprintf(why, whylen, "the daemon is not running (no "
			    "control socket at %s)", c.path);
		else if (c.connect_errno != 0)
			snprintf(why, whylen, "cannot ask the daemon: %s: %s",
			    c.path, strerror(c.connect_errno));
		goto done;
	}
	if (a.status == CTL_OK && (t = ctl_table_find(&a, "daemon")) != NULL &&
	    t->nrows == 1 && (col = ctl_table_col(t, "config")) >= 0 &&
	    t->cols[col].kind == CTL_KIND_STR && t->cells[col].s != NULL) {
		snprintf(out, len, "%s", t->cells[col].s);
		rc = 1;
	} else
		snprintf(why, whylen, "the daemon's status: %s", a.message ?
		    a.message : "no answer");
	ctl_answer_free(&a);
done:
	if (c.fd >= 0)
		close(c.fd);
	return rc;
}

/* ctl_main - one administration command */
int
ctl_main(int argc, char **argv)
{
	struct cli c;
	char **args;
	int n = 0, rc;
	const char *cmd = argv[0];
	struct ctl_req q;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	usage_cmd = cmd;
	signal(SIGPIPE, SIG_IGN);
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) == NULL)
		return 1;
	/* global options, anywhere after the command */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			c.conf_path = argv[++i];
		else if (strcmp(argv[i], "--builtin") == 0)
			c.builtin = 1;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			c.socket_path = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			free(args);
			fputs(usage_text(cmd) ? usage_text(cmd) : "", stdout);
			fputs(USAGE_COMMON, stdout);
			return 0;
		} else
			args[n++] = argv[i];
	}
	memset(&q, 0, sizeof(q));
	if (strcmp(cmd, "sessions") == 0)
		rc = cmd_sessions(&c, n, args);
	else if (strcmp(cmd, "queue") == 0)
		rc = cmd_queue(&c, n, args);
	else if (strcmp(cmd, "ban") == 0)
		rc = cmd_ban(&c, n, args);
	else if (strcmp(cmd, "user") == 0)
		rc = cmd_user(&c, n, args);
	else if (strcmp(cmd, "events") == 0)
		rc = cmd_events(&c, n, args);
	else if (strcmp(cmd, "log") == 0)
		rc = cmd_log(&c, n, args);
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_verify(&c, n, args);
	else if (strcmp(cmd, "blacklist") == 0)
		rc = cmd_blacklist(&c, n, args);
	else if (strcmp(cmd, "incident") == 0)
		rc = cmd_incident(&c, n, args);
	else if (strcmp(cmd, "reload") == 0)
		rc = cmd_reload(&c, n, args);
	else if (strcmp(cmd, "stop") == 0)
		rc = cmd_stop(&c, n, args);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&c, n, args);
	else if (strcmp(cmd, "console") == 0)
		rc = cmd_console(&c, n, args);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(&c, n, args);
	else
		rc = usage(NULL);
	if (c.fd >= 0)
		close(c.fd);
	free(args);
	return rc;
}
