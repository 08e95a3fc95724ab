/*
 * sendmail.c - moat sendmail: a message on standard input, submitted
 * over submit_socket to the running daemon, which speaks SMTP there (as
 * OpenSMTPD's enqueue does); and mailq.
 *
 * Public: sendmail_main, mailq_main.
 *
 *   moat sendmail [-t] [-i|-oi] [-f SENDER] [-F NAME] [-C FILE] [RCPT...]
 *   moat sendmail -bp        (= mailq)
 *
 * The whole message is read and checked before the daemon is asked
 * anything: a line over 998 bytes, a NUL, a bare CR, an empty message,
 * no recipients or a message over max_message_size end here with an
 * error and nothing sent. The daemon commits the message only at the
 * final dot and every recipient must be taken first, so a message is
 * queued whole or not at all.
 *
 * SECURITY: the daemon knows the submitting user by its uid
 * (SO_PEERCRED); nothing this program says about the user counts. The
 * sender and full name only shape the envelope and the From: field:
 * the full name is written as a quoted-string (encoded where it is
 * written), addresses with a space or control byte are refused.
 * LIMITS: the message is held in memory while it is checked: at most
 * max_message_size (the configuration's; 1 GiB when it cannot be read).
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <sodium.h>

#include "../ctl/ctl_cli.h"
#include "../ctl/ctl_msg.h"
#include "../daemon/config.h"
#include "sendmail.h"
#include "sendmail_msg.h"

#ifndef MOAT_CONFIG_PATH
#define MOAT_CONFIG_PATH	"/etc/moat/moat.conf"
#endif
#define SENDMAIL_DEFAULT_SOCKET	"/run/moat/submit.sock"
#define SENDMAIL_SIZE_CAP	(1L << 30)
#define SENDMAIL_TIMEOUT_SECS	300

struct sendmail {
	const char	*prog;		/* for messages */
	int		 header_rcpts;	/* -t */
	int		 dot_ends;	/* no -i / -oi */
	const char	*sender;	/* -f, NULL: LOGIN@DOMAIN */
	const char	*fullname;	/* -F */
	const char	*conf_path;	/* -C, MOAT_CONFIG, the default */
	int		 verbose;	/* -v */
	char		 socket[CONF_PATH_MAX];
	char		 domain[256];	/* for addresses without one */
	char		 hostname[256];
	long		 max_size;
	char		**rcpts;	/* the command line's, owned list */
	size_t		 n_rcpts;
	int		 fd;
	char		 rbuf[4096];
	size_t		 rlen;
};

static void
warnx_sm(struct sendmail *sm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warnx_sm(struct sendmail *sm, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", sm->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage_to(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [-t] [-i] [-f SENDER] [-F FULLNAME] "
	    "[-C CONFIG] [RECIPIENT ...] < MESSAGE\n"
	    "       %s -bp   (the queue, as mailq)\n", prog, prog);
}

static int
usage(struct sendmail *sm)
{
	usage_to(stderr, sm->prog);
	return EX_USAGE;
}

/* the configuration: where the socket is, our domain, the size limit */
static int
sendmail_conf(struct sendmail *sm)
{
	char err[1024];
	struct conf *c;
	const char *path = sm->conf_path;

	if (path == NULL)
		path = getenv("MOAT_CONFIG");
	if (path == NULL && access(MOAT_CONFIG_PATH, F_OK) == 0)
		path = MOAT_CONFIG_PATH;
	snprintf(sm->socket, sizeof(sm->socket), "%s", SENDMAIL_DEFAULT_SOCKET);
	sm->max_size = SENDMAIL_SIZE_CAP;
	if (gethostname(sm->hostname, sizeof(sm->hostname)) == -1 ||
	    sm->hostname[0] == '\0')
		snprintf(sm->hostname, sizeof(sm->hostname), "localhost");
	snprintf(sm->domain, sizeof(sm->domain), "%s", sm->hostname);
	if (path == NULL)
		return 0;
	if ((c = conf_load(path, err, sizeof(err))) == NULL) {
		warnx_sm(sm, "%s", err);
		return -1;
	}
	if (c->submit_socket[0] == '\0') {
		warnx_sm(sm, "%s: submit_socket is not set: local submission "
		    "is off", c->path);
		conf_free(c);
		return -1;
	}
	snprintf(sm->socket, sizeof(sm->socket), "%s", c->submit_socket);
	snprintf(sm->hostname, sizeof(sm->hostname), "%s", c->hostname);
	snprintf(sm->domain, sizeof(sm->domain), "%s", c->n_local_domains > 0 ?
	    c->local_domains[0] : c->hostname);
	sm->max_size = c->max_message_size;
	conf_free(c);
	return 0;
}

/* "-fSENDER" or "-f SENDER": the value, NULL when missing */
static const char *
opt_value(int argc, char **argv, int *i, size_t skip)
{
	if (argv[*i][skip] != '\0')
		return argv[*i] + skip;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static int
add_cli_rcpt(struct sendmail *sm, const char *arg)
{
	struct smsg tmp;
	char err[256];

	/* "a@b, c@d" in one argument, as cron and scripts pass them */
	memset(&tmp, 0, sizeof(tmp));
	tmp.rcpts = sm->rcpts;
	tmp.n_rcpts = sm->n_rcpts;
	if (smsg_addr_list(&tmp, arg, strlen(arg), err, sizeof(err)) == -1) {
		sm->rcpts = tmp.rcpts;
		sm->n_rcpts = tmp.n_rcpts;
		warnx_sm(sm, "%s", err);
		return -1;
	}
	sm->rcpts = tmp.rcpts;
	sm->n_rcpts = tmp.n_rcpts;
	return 0;
}

/*
 * The options of sendmail(8) that cron, PHP's mail(), Mutt and the
 * like pass. Meaningful ones are honoured; some describe what we do
 * anyway and are taken silently (-oem, -odb, -B8BITMIME, -bm, -m);
 * others are ignored with a warning; anything else is a usage error.
 * Returns 0, 1 for -bp, or -1 after a message (EX_USAGE).
 */
static int
parse_options(struct sendmail *sm, int argc, char **argv, int *first)
{
	int i, bp = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0)
			return 2;
		if (strcmp(a, "-t") == 0)
			sm->header_rcpts = 1;
		else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
			sm->dot_ends = 0;
		else if (a[1] == 'f' || a[1] == 'r') {
			if ((v = opt_value(argc, argv, &i, 2)) == NULL)
				goto missing;
			sm->sender = v;
		} else if (a[1] == 'F') {
			if ((v = opt_value(argc, argv, &i, 2)) == NULL)
				goto missing;
			sm->fullname = v;
		} else if (a[1] == 'C') {
			if ((v = opt_value(argc, argv, &i, 2)) == NULL)
				goto missing;
			sm->conf_path = v;
		} else if (strcmp(a, "-bp") == 0)
			bp = 1;
		else if (strcmp(a, "-bm") == 0 || strcmp(a, "-m") == 0 ||
		    strcmp(a, "-om") == 0 || strcmp(a, "-oem") == 0 ||
		    strcmp(a, "-oee") == 0 || strcmp(a, "-oep") == 0 ||
		    strcmp(a, "-em") == 0 || strcmp(a, "-ee") == 0 ||
		    strcmp(a, "-ep") == 0 || strcmp(a, "-odb") == 0 ||
		    strcmp(a, "-odi") == 0 || strcmp(a, "-odq") == 0 ||
		    strcmp(a, "-U") == 0) {
			/* errors to stderr and the exit status, delivery in
			 * the background: what we do anyway */
		} else if (a[1] == 'B') {
			/* 8BITMIME or 7BIT: BODY= follows the bytes read */
			if (opt_value(argc, argv, &i, 2) == NULL)
				goto missing;
		} else if (strcmp(a, "-v") == 0)
			sm->verbose = 1;
		else if (a[1] == 'o' && (a[2] == 'Q' || a[2] == 'X' ||
		    a[2] == 'A' || a[2] == 'L'))
			warnx_sm(sm, "%s ignored (no meaning here)", a);
		else if (a[1] == 'N' || a[1] == 'R' || a[1] == 'V' ||
		    a[1] == 'X' || a[1] == 'L' || a[1] == 'h') {
			if (opt_value(argc, argv, &i, 2) == NULL)
				goto missing;
			warnx_sm(sm, "-%c ignored (no meaning here)", a[1]);
		} else if (a[1] == 'b' || a[1] == 'q' || a[1] == 'I') {
			warnx_sm(sm, "%s is not supported: moat sendmail only "
			    "submits (-bm) and lists the queue (-bp)", a);
			return -1;
		} else {
			warnx_sm(sm, "unknown option %s", a);
			usage(sm);
			return -1;
		}
		continue;
missing:
		warnx_sm(sm, "option %.2s needs a value", a);
		usage(sm);
		return -1;
	}
	*first = i;
	return bp;
}

/*
 * Standard input, whole, with the checks that must stop a 100 MB line
 * or a huge message early rather than after reading it all.
 */
static int
read_input(struct sendmail *sm, char **out, size_t *outlen)
{
	size_t cap = 65536, len = 0, line = 0, lineno = 1;
	char *buf = malloc(cap);
	ssize_t n;

	if (buf == NULL) {
		warnx_sm(sm, "out of memory");
		return EX_OSERR;
	}
	for (;;) {
		if (len == cap) {
			char *nb;

			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				warnx_sm(sm, "out of memory");
				return EX_OSERR;
			}
			buf = nb;
		}
		if ((n = read(STDIN_FILENO, buf + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			warnx_sm(sm, "reading standard input: %s",
			    strerror(errno));
			free(buf);
			return EX_IOERR;
		}
		if (n == 0)
			break;
		for (size_t i = len; i < len + (size_t)n; i++) {
			if (buf[i] == '\n') {
				line = 0;
				lineno++;
			} else if (++line > SMSG_LINE_MAX + 1) {
				warnx_sm(sm, "line %zu is longer than %d bytes "
				    "(RFC 5322); nothing was sent", lineno,
				    SMSG_LINE_MAX);
				free(buf);
				return EX_DATAERR;
			}
		}
		len += (size_t)n;
		if ((long)len > sm->max_size) {
			warnx_sm(sm, "the message is larger than "
			    "max_message_size (%ld bytes); nothing was sent",
			    sm->max_size);
			free(buf);
			return EX_DATAERR;
		}
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* a local part without domain gets ours, as sendmail does */
static int
qualify(struct sendmail *sm, const char *a, char *out, size_t outlen)
{
	int n = strchr(a, '@') != NULL ? snprintf(out, outlen, "%s", a) :
	    snprintf(out, outlen, "%s@%s", a, sm->domain);

	if (n < 0 || (size_t)n >= outlen) {
		warnx_sm(sm, "address too long: %.80s", a);
		return -1;
	}
	return 0;
}

/*
 * Talking to the daemon.
 */

static int
sm_write(struct sendmail *sm, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(sm->fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One reply, all its lines: its code, and its last line in text.
 * -1 when the connection broke or timed out.
 */
static int
sm_reply(struct sendmail *sm, char *text, size_t tlen)
{
	for (;;) {
		char *nl = memchr(sm->rbuf, '\n', sm->rlen);
		ssize_t n;

		if (nl != NULL) {
			size_t ll = (size_t)(nl - sm->rbuf) + 1;
			int code, last;

			sm->rbuf[ll - 1] = '\0';
			if (ll >= 2 && sm->rbuf[ll - 2] == '\r')
				sm->rbuf[ll - 2] = '\0';
			last = ll < 5 || sm->rbuf[3] != '-';
			code = atoi(sm->rbuf);
			snprintf(text, tlen, "%.1000s", sm->rbuf);
			if (sm->verbose)
				fprintf(stderr, "<<< %s\n", sm->rbuf);
			memmove(sm->rbuf, sm->rbuf + ll, sm->rlen - ll);
			sm->rlen -= ll;
			if (code < 200 || code > 599)
				return -1;
			if (last)
				return code;
			continue;
		}
		if (sm->rlen == sizeof(sm->rbuf))
			return -1;
		n = read(sm->fd, sm->rbuf + sm->rlen, sizeof(sm->rbuf) - sm->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		sm->rlen += (size_t)n;
	}
}

/* a command and its reply code (-1: the connection broke) */
static int
sm_cmd(struct sendmail *sm, char *text, size_t tlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
sm_cmd(struct sendmail *sm, char *text, size_t tlen, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	if (sm->verbose)
		fprintf(stderr, ">>> %s\n", line);
	memcpy(line + n, "\r\n", 2);
	if (sm_write(sm, line, (size_t)n + 2) == -1)
		return -1;
	return sm_reply(sm, text, tlen);
}

/* the exit status of a refusal: 4xx try later, 5.1.x no such user */
static int
refusal_status(int code, const char *text)
{
	if (code >= 400 && code < 500)
		return EX_TEMPFAIL;
	if (strlen(text) > 6 && strncmp(text + 4, "5.1.", 4) == 0)
		return EX_NOUSER;
	if (strlen(text) > 6 && strncmp(text + 4, "5.7.1", 5) == 0 &&
	    strstr(text, "may not submit") != NULL)
		return EX_NOPERM;
	return EX_UNAVAILABLE;
}

static int
sm_connect(struct sendmail *sm)
{
	struct sockaddr_un sun;
	struct timeval tv = { SENDMAIL_TIMEOUT_SECS, 0 };

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sm->socket) >=
	    (int)sizeof(sun.sun_path)) {
		warnx_sm(sm, "%s: path too long for a socket", sm->socket);
		return EX_CONFIG;
	}
	if ((sm->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		warnx_sm(sm, "socket: %s", strerror(errno));
		return EX_OSERR;
	}
	setsockopt(sm->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sm->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(sm->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED)
			warnx_sm(sm, "the mail daemon is not running (no "
			    "submission socket at %s); nothing was sent, try "
			    "again later", sm->socket);
		else
			warnx_sm(sm, "cannot connect to %s: %s; nothing was "
			    "sent", sm->socket, strerror(e));
		close(sm->fd);
		sm->fd = -1;
		return e == EACCES ? EX_NOPERM : EX_TEMPFAIL;
	}
	return 0;
}

/* "Full Name" as a quoted-string (RFC 5322 3.2.4), bytes under ' ' out */
static void
quote_name(const char *name, char *out, size_t outlen)
{
	size_t o = 0;

	out[o++] = '"';
	for (const char *p = name; *p != '\0' && o + 4 < outlen; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			continue;
		if (*p == '"' || *p == '\\')
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* From:, Date: and Message-ID: when the message has none */
static void
added_fields(struct sendmail *sm, const struct smsg *m, const char *sender,
    char *out, size_t outlen)
{
	char date[64], name[600];
	size_t o = 0;
	time_t now = time(NULL);
	struct tm tm;

	out[0] = '\0';
	if (!m->has_from) {
		if (sm->fullname != NULL && sm->fullname[0] != '\0') {
			quote_name(sm->fullname, name, sizeof(name));
			o += (size_t)snprintf(out + o, outlen - o,
			    "From: %s <%s>\r\n", name, sender);
		} else
			o += (size_t)snprintf(out + o, outlen - o,
			    "From: %s\r\n", sender);
	}
	if (!m->has_date && o < outlen) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		o += (size_t)snprintf(out + o, outlen - o, "Date: %s\r\n", date);
	}
	if (!m->has_msgid && o < outlen)
		snprintf(out + o, outlen - o, "Message-ID: <%lld.%08x@%s>\r\n",
		    (long long)now, randombytes_random(), sm->hostname);
}

static int default_sender(struct sendmail *, char *, size_t);

/* the SMTP dialogue: 0 when the daemon queued the message */
static int
submit(struct sendmail *sm, const struct smsg *m, const char *sender,
    char **rcpts, size_t n_rcpts)
{
	char from[SMSG_ADDR_MAX + 256];

	char text[1024], extra[2048];
	int code, rc;

	if ((rc = sm_connect(sm)) != 0)
		return rc;
	if ((code = sm_reply(sm, text, sizeof(text))) != 220)
		goto refused;
	if ((code = sm_cmd(sm, text, sizeof(text), "EHLO localhost")) != 250)
		goto refused;
	/* -f '' (the null sender) still has an author */
	if (sender[0] != '\0')
		snprintf(from, sizeof(from), "%s", sender);
	else if (default_sender(sm, from, sizeof(from)) == -1)
		snprintf(from, sizeof(from), "MAILER-DAEMON@%s", sm->domain);
	added_fields(sm, m, from, extra, sizeof(extra));
	if ((code = sm_cmd(sm, text, sizeof(text), "MAIL FROM:<%s> SIZE=%zu%s",
	    sender, m->len + strlen(extra), m->eightbit ? " BODY=8BITMIME" :
	    "")) != 250)
		goto refused;
	for (size_t i = 0; i < n_rcpts; i++)
		if ((code = sm_cmd(sm, text, sizeof(text), "RCPT TO:<%s>",
		    rcpts[i])) != 250 && code != 251)
			goto refused;
	if ((code = sm_cmd(sm, text, sizeof(text), "DATA")) != 354)
		goto refused;
	if (sm_write(sm, extra, strlen(extra)) == -1 ||
	    sm_write(sm, m->data, m->len) == -1 ||
	    sm_write(sm, ".\r\n", 3) == -1)
		goto broken;
	if ((code = sm_reply(sm, text, sizeof(text))) != 250)
		goto refused;
	(void)sm_cmd(sm, text, sizeof(text), "QUIT");
	close(sm->fd);
	return 0;
refused:
	if (code == -1)
		goto broken;
	warnx_sm(sm, "refused: %s; nothing was sent", text);
	close(sm->fd);
	return refusal_status(code, text);
broken:
	warnx_sm(sm, "the mail daemon closed the connection; nothing was "
	    "sent, try again later");
	close(sm->fd);
	return EX_TEMPFAIL;
}

/* the login of the real uid, for the default sender only */
static int
default_sender(struct sendmail *sm, char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(getuid());
	char login[64];

	if (pw != NULL)
		snprintf(login, sizeof(login), "%s", pw->pw_name);
	else
		snprintf(login, sizeof(login), "uid%ld", (long)getuid());
	return qualify(sm, login, out, outlen);
}

/* sendmail_main - see sendmail.h */
int
sendmail_main(int argc, char **argv)
{
	struct sendmail sm;
	struct smsg m;
	char *in = NULL, err[512], sender[SMSG_ADDR_MAX + 256];
	char bare[SMSG_ADDR_MAX + 256];
	char **rcpts = NULL;
	size_t inlen = 0, n = 0, flen;
	int first, rc, bp;
	const char *slash = strrchr(argv[0], '/');

	memset(&sm, 0, sizeof(sm));
	memset(&m, 0, sizeof(m));
	sm.prog = slash != NULL ? slash + 1 : argv[0];
	sm.dot_ends = 1;
	sm.fd = -1;
	if ((bp = parse_options(&sm, argc, argv, &first)) == -1) {
		rc = EX_USAGE;
		goto done;
	}
	if (bp == 2) {
		usage_to(stdout, sm.prog);
		rc = 0;
		goto done;
	}
	if (bp) {
		char *qargv[4] = { argv[0], NULL, NULL, NULL };

		if (sm.conf_path != NULL) {
			qargv[1] = "-C";
			qargv[2] = (char *)sm.conf_path;
		}
		rc = mailq_main(sm.conf_path != NULL ? 3 : 1, qargv);
		goto done;
	}
	for (int i = first; i < argc; i++)
		if (add_cli_rcpt(&sm, argv[i]) == -1) {
			rc = EX_USAGE;
			goto done;
		}
	if (!sm.header_rcpts && sm.n_rcpts == 0) {
		warnx_sm(&sm, "no recipients: name them, or use -t to take "
		    "them from To:, Cc: and Bcc:");
		rc = EX_USAGE;
		goto done;
	}
	if (sendmail_conf(&sm) == -1) {
		rc = EX_CONFIG;
		goto done;
	}
	if (sm.sender != NULL && sm.sender[0] == '<' &&
	    (flen = strlen(sm.sender)) >= 2 && sm.sender[flen - 1] == '>') {
		/* -f '<>' and -f '<addr>', as Postfix and Exim take them */
		snprintf(bare, sizeof(bare), "%.*s", (int)(flen - 2),
		    sm.sender + 1);
		sm.sender = bare;
	}
	if (sm.sender != NULL && (strchr(sm.sender, '<') != NULL ||
	    strchr(sm.sender, '>') != NULL || strpbrk(sm.sender, " \t\r\n") !=
	    NULL)) {
		warnx_sm(&sm, "bad sender address '%.80s'", sm.sender);
		rc = EX_USAGE;
		goto done;
	}
	if (sm.sender != NULL && sm.sender[0] == '\0')
		sender[0] = '\0';		/* -f '' : the null sender */
	else if ((sm.sender != NULL ? qualify(&sm, sm.sender, sender,
	    sizeof(sender)) : default_sender(&sm, sender, sizeof(sender))) == -1) {
		rc = EX_USAGE;
		goto done;
	}
	if ((rc = read_input(&sm, &in, &inlen)) != 0)
		goto done;
	if (smsg_prepare(in, inlen, (sm.dot_ends ? SMSG_F_DOT_ENDS : 0) |
	    (sm.header_rcpts ? SMSG_F_HEADER_RCPTS : 0), &m, err,
	    sizeof(err)) == -1) {
		warnx_sm(&sm, "%s", err);
		rc = EX_DATAERR;
		goto done;
	}
	/* the command line's recipients, and -t's from the header */
	if ((rcpts = calloc(sm.n_rcpts + m.n_rcpts + 1, sizeof(*rcpts))) ==
	    NULL) {
		rc = EX_OSERR;
		goto done;
	}
	for (size_t i = 0; i < sm.n_rcpts + m.n_rcpts; i++) {
		const char *a = i < sm.n_rcpts ? sm.rcpts[i] :
		    m.rcpts[i - sm.n_rcpts];
		char q[SMSG_ADDR_MAX + 256];

		if (qualify(&sm, a, q, sizeof(q)) == -1) {
			rc = EX_DATAERR;
			goto done;
		}
		if ((rcpts[n++] = strdup(q)) == NULL) {
			rc = EX_OSERR;
			goto done;
		}
	}
	if (n == 0) {
		warnx_sm(&sm, "no recipients: the message has no To:, Cc: or "
		    "Bcc: address; nothing was sent");
		rc = EX_DATAERR;
		goto done;
	}
	rc = submit(&sm, &m, sender, rcpts, n);
done:
	for (size_t i = 0; i < n; i++)
		free(rcpts[i]);
	free(rcpts);
	for (size_t i = 0; i < sm.n_rcpts; i++)
		free(sm.rcpts[i]);
	free(sm.rcpts);
	smsg_free(&m);
	free(in);
	return rc;
}

/*
 * mailq_main - moat queue list through the control socket: root and
 * the admin group only, as for every admin command. A user outside
 * them is told so before the control socket is tried.
 */
int
mailq_main(int argc, char **argv)
{
	const char *conf_path = NULL;
	char *qargv[6];
	int n = 0;
	const char *slash = strrchr(argv[0], '/');
	const char *prog = slash != NULL ? slash + 1 : argv[0];
	struct conf *c;
	char err[1024], sock[CONF_PATH_MAX + 32];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			conf_path = argv[++i];
		else if (strncmp(argv[i], "-C", 2) == 0 && argv[i][2] != '\0')
			conf_path = argv[i] + 2;
		else if (strcmp(argv[i], "--help") == 0) {
			printf("usage: %s [-C CONFIG]\n", prog);
			return 0;
		} else if (strcmp(argv[i], "-v") != 0 &&
		    strcmp(argv[i], "-bp") != 0) {
			fprintf(stderr, "%s: unknown option %s\nusage: %s "
			    "[-C CONFIG]\n", prog, argv[i], prog);
			return EX_USAGE;
		}
	}
	if (conf_path == NULL)
		conf_path = getenv("MOAT_CONFIG");
	if (conf_path == NULL && access(MOAT_CONFIG_PATH, F_OK) == 0)
		conf_path = MOAT_CONFIG_PATH;
	if ((c = conf_load(conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/%s", c->spool_dir, CTL_SOCKET_NAME);
	conf_free(c);
	if (access(sock, W_OK) == -1 && (errno == EACCES || errno == EPERM)) {
		fprintf(stderr, "%s: permission denied: mailq needs root or "
		    "the admin group\n", prog);
		return 1;
	}
	qargv[n++] = "queue";
	qargv[n++] = "list";
	if (conf_path != NULL) {
		qargv[n++] = "-c";
		qargv[n++] = (char *)conf_path;
	}
	qargv[n] = NULL;
	return ctl_main(n, qargv);
}
