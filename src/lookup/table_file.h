/*
 * table_file.h - the text of the lookup process's table files: reading a
 * whole file, its lines, the words of a line and the address forms of
 * an entry (shared by rcpt_table and aliases).
 */
#ifndef MOAT_TABLE_FILE_H
#define MOAT_TABLE_FILE_H

#include <stddef.h>

#include "mail/addr.h"

/* largest table file: arena offsets are 32-bit */
#define TABLE_FILE_MAX	((size_t)1 << 31)

struct table_file {
	const char	*path;		/* for messages; not owned */
	const char	*buf;		/* the text, a NUL after it */
	size_t		 len;
	size_t		 pos;		/* start of the next line */
	unsigned	 line;		/* number of the line last returned */
	char		*owned;		/* buf when read from a file */
};

/* one line: CR LF or LF removed, surrounding blanks trimmed */
struct table_line {
	const char	*p;
	size_t		 len;
	int		 indented;	/* began with a space or a tab */
};

/*
 * table_file_read - read the whole of path (a regular file) with large
 * reads. A UTF-8 byte-order mark is skipped; UTF-16 text or a NUL byte
 * is an error. 0, or -1 with "path: what" / "path:line: what" in err.
 */
int table_file_read(struct table_file *f, const char *path, char *err,
    size_t errlen);

/*
 * table_file_mem - the same over len bytes in memory (not copied; they
 * must outlive f and need not end in a NUL, but must hold none).
 * name is used in messages. 0, or -1 with the error in err.
 */
int table_file_mem(struct table_file *f, const char *name, const char *buf,
    size_t len, char *err, size_t errlen);

/* table_file_lines - number of lines (an upper bound on entries) */
size_t table_file_lines(const struct table_file *f);

/*
 * table_file_next - the next line that is neither blank nor a comment
 * (first non-blank character '#'); 0 at the end of the file.
 */
int table_file_next(struct table_file *f, struct table_line *l);

/* table_file_err - "path:line: " and the message into err */
void table_file_err(const struct table_file *f, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void table_file_release(struct table_file *f);

/*
 * table_word - the next word of [*p, end): blanks and the characters of
 * seps separate words, a double-quoted part (with backslash escapes)
 * belongs to its word whatever it holds, and a word that starts with
 * '#' starts a comment that runs to the end (no more words). Sets
 * *w and *wlen and advances *p past the word; 0 when no word is left.
 * *p is left on the first byte after the word (a separator or end).
 */
int table_word(const char **p, const char *end, const char *seps,
    const char **w, size_t *wlen);

/* table_rest_blank - 1 when [p, end) holds only blanks or a comment */
int table_rest_blank(const char *p, const char *end);

enum table_addr_kind {
	TA_BARE,		/* "alice": a bare local part */
	TA_ADDR,		/* "alice@example.org" */
	TA_CATCHALL,		/* "@example.org" */
};

#define TABLE_KEY_MAX	(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1)

/*
 * One entry or target as the address parser read it. key: the
 * lookup form, plain local part and domain lowercased (ASCII) -
 * "alice", "alice@example.org", "@example.org"; text: the address as
 * addr_format writes it back (local part case and quoting kept), the
 * bare local part as written, or "@domain".
 */
struct table_addr {
	enum table_addr_kind	 kind;
	char			 key[TABLE_KEY_MAX];
	char			 text[ADDR_STRLEN + 1];
	const char		*domain;	/* in key: after '@', "" for bare */
	size_t			 key_len;
};

#define TA_ALLOW_BARE		0x01
#define TA_ALLOW_CATCHALL	0x02

/*
 * table_addr_parse - read one word w[0..n) as an entry with
 * addr_parse_path (SMTPUTF8 allowed). A bare local part must be a
 * dot-string (it may name a mailbox); address literals and source
 * routes are refused. 0, or -1 with *why a short reason. Pure.
 */
int table_addr_parse(const char *w, size_t n, int allow,
    struct table_addr *out, const char **why);

/* table_key - lowercase local "@" domain into buf (TABLE_KEY_MAX); its
 * length, or 0 when too long for any entry */
size_t table_key(char *buf, const char *local, const char *domain);

#endif
