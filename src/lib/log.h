/*
 * log.h - one key=value line per event, per-category levels.
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_cat {
	LOG_CAT_SMTP,
	LOG_CAT_AUTH,
	LOG_CAT_RELAY,
	LOG_CAT_POLICY,
	LOG_CAT_QUEUE,
	LOG_CAT_DELIVERY,
	LOG_CAT_DNS,
	LOG_CAT_TLS,
	LOG_CAT_CONTROL,
	LOG_CAT_DAEMON,
	LOG_CAT_COUNT
};

/* Levels, most severe first; a category logs events at or above its level. */
enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_COUNT
};

void log_init(const char *progname, int use_syslog);
void log_set_proc(const char *procname);
void log_set_level(enum log_cat cat, enum log_level lvl);
enum log_level log_get_level(enum log_cat cat);
int log_enabled(enum log_cat cat, enum log_level lvl);

/* name <-> value; return -1 for unknown names */
int log_cat_from_name(const char *name);
int log_level_from_name(const char *name);
const char *log_cat_name(enum log_cat cat);
const char *log_level_name(enum log_level lvl);

/* log_event - write "level=... cat=... <fmt>" as one line */
void log_event(enum log_cat cat, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vevent(enum log_cat cat, enum log_level lvl, const char *fmt, va_list ap);

/*
 * log_escape - copy untrusted bytes into dst as a printable, quotable
 * token: printable ASCII except '"' and '\\' is kept, the rest becomes
 * \xHH. Always NUL-terminates; truncates with "..." when dst is short.
 * Returns dst.
 */
char *log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);
/*
 * log_escape_bare - log_escape that also escapes the space, for a value
 * written without quotes (to=<...>): a peer's "x y=z" makes no key.
 */
char *log_escape_bare(char *dst, size_t dstlen, const char *src,
    size_t srclen);

/* fatal errors: a broken invariant or an unusable environment at start */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_err(cat, ...)    log_event(cat, LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(cat, ...)   log_event(cat, LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(cat, ...) log_event(cat, LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(cat, ...)   do { if (log_enabled(cat, LOG_LVL_INFO)) log_event(cat, LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define log_debug(cat, ...)  do { if (log_enabled(cat, LOG_LVL_DEBUG)) log_event(cat, LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
