/*
 * log.c - event logging.
 *
 * Every event is one line: "moat[pid]: proc=smtp level=info cat=smtp k=v ...".
 * Lines go to stderr (one write(2) each, so lines from several processes
 * sharing stderr never interleave) or to syslog. When stderr is the
 * journal's stream (systemd sets $JOURNAL_STREAM to its device and inode),
 * a line starts with its syslog priority ("<6>proc=smtp ..."): the journal
 * adds the name and pid itself and keeps the level, so `journalctl -p
 * warning` works.
 *
 * Public: log_init, log_set_proc, log_set_level, log_get_level,
 * log_enabled, log_cat_from_name, log_level_from_name, log_cat_name,
 * log_level_name, log_event, log_vevent, log_escape, log_escape_bare,
 * fatal, fatalx (log_err, log_notice, ... are macros over log_event).
 *
 * SECURITY: callers pass peer bytes through log_escape() first; this
 * module never interprets its arguments beyond printf formatting.
 * LIMITS: a line is cut at 2048 bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <sys/stat.h>

#include "log.h"

static const char *cat_names[LOG_CAT_COUNT] = {
	"smtp", "auth", "relay", "policy", "queue", "delivery", "dns", "tls",
	"control", "daemon"
};
static const char *level_names[LOG_LVL_COUNT] = {
	"err", "warn", "notice", "info", "debug"
};
static const int level_syslog[LOG_LVL_COUNT] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};

static enum log_level levels[LOG_CAT_COUNT] = {
	LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO,
	LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO, LOG_LVL_INFO
};
static const char *log_prog = "moat";
static const char *log_proc = "main";
static int log_syslog;
static int log_journal;		/* stderr is the journal's stream */
static long log_pid;		/* cached: one syscall less per line */

/* whether stderr is the stream $JOURNAL_STREAM ("DEV:INODE") names */
static int
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, int use_syslog)
{
	log_prog = progname;
	log_syslog = use_syslog;
	log_journal = !use_syslog && stderr_is_journal();
	log_pid = (long)getpid();
	if (use_syslog)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_proc(const char *procname)
{
	log_proc = procname;
	log_pid = (long)getpid();	/* called in each child after fork */
}

void
log_set_level(enum log_cat cat, enum log_level lvl)
{
	if (cat < LOG_CAT_COUNT && lvl < LOG_LVL_COUNT)
		levels[cat] = lvl;
}

enum log_level
log_get_level(enum log_cat cat)
{
	return levels[cat];
}

int
log_enabled(enum log_cat cat, enum log_level lvl)
{
	return lvl <= levels[cat];
}

int
log_cat_from_name(const char *name)
{
	for (int i = 0; i < LOG_CAT_COUNT; i++)
		if (strcmp(cat_names[i], name) == 0)
			return i;
	return -1;
}

int
log_level_from_name(const char *name)
{
	for (int i = 0; i < LOG_LVL_COUNT; i++)
		if (strcmp(level_names[i], name) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return LOG_LVL_WARN;
	if (strcmp(name, "error") == 0)
		return LOG_LVL_ERR;
	return -1;
}

const char *
log_cat_name(enum log_cat cat)
{
	return cat < LOG_CAT_COUNT ? cat_names[cat] : "?";
}

const char *
log_level_name(enum log_level lvl)
{
	return lvl < LOG_LVL_COUNT ? level_names[lvl] : "?";
}

void
log_vevent(enum log_cat cat, enum log_level lvl, const char *fmt, va_list ap)
{
	char line[2048];
	int n, off;

	if (!log_enabled(cat, lvl))
		return;
	if (log_syslog) {
		off = snprintf(line, sizeof(line), "proc=%s level=%s cat=%s ",
		    log_proc, level_names[lvl], cat_names[cat]);
	} else if (log_journal) {
		off = snprintf(line, sizeof(line), "<%d>proc=%s level=%s "
		    "cat=%s ", level_syslog[lvl], log_proc, level_names[lvl],
		    cat_names[cat]);
	} else {
		off = snprintf(line, sizeof(line),
		    "%s[%ld]: proc=%s level=%s cat=%s ", log_prog,
		    log_pid ? log_pid : (long)getpid(),
		    log_proc, level_names[lvl], cat_names[cat]);
	}
	if (off < 0 || (size_t)off >= sizeof(line))
		off = 0;
	n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
	if (n < 0)
		n = 0;
	off += n;
	if ((size_t)off > sizeof(line) - 2)
		off = sizeof(line) - 2;
	if (log_syslog) {
		line[off] = '\0';
		syslog(level_syslog[lvl], "%s", line);
	} else {
		line[off++] = '\n';
		(void)!write(STDERR_FILENO, line, off);
	}
}

void
log_event(enum log_cat cat, enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(cat, lvl, fmt, ap);
	va_end(ap);
}

/* escape src; a space too when the value is written without quotes */
static char *
escape(char *dst, size_t dstlen, const char *src, size_t srclen, int bare)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];
		size_t need = (c > (bare ? 0x20 : 0x1f) && c < 0x7f && c != '"' &&
		    c != '\\') ? 1 : 4;

		if (o + need + 4 > dstlen) {
			if (o + 4 <= dstlen) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

/* log_escape - untrusted bytes as a token for a quoted value */
char *
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	return escape(dst, dstlen, src, srclen, 0);
}

/* log_escape_bare - untrusted bytes as a token for an unquoted value */
char *
log_escape_bare(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	return escape(dst, dstlen, src, srclen, 1);
}

static void
vfatal(int with_errno, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		log_event(LOG_CAT_DAEMON, LOG_LVL_ERR, "event=fatal msg=\"%s: %s\"",
		    msg, strerror(saved));
	else
		log_event(LOG_CAT_DAEMON, LOG_LVL_ERR, "event=fatal msg=\"%s\"", msg);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfatal(0, fmt, ap);
	va_end(ap);
	exit(1);
}
