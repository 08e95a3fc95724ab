/*
 * smtp_reply.h - the reader of an SMTP server's replies, one line at a
 * time (RFC 5321 4.2), for every client of ours (the mta, relaytest):
 * pure, so that it can be tested and fuzzed apart from the I/O that
 * feeds it.
 */
#ifndef MOAT_SMTP_REPLY_H
#define MOAT_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_BAD	(-1)	/* not "DDD[ -]text", or a code that changed */
#define SMTP_REPLY_MORE	0	/* a continuation line: more to come */
#define SMTP_REPLY_DONE	1	/* the last line: *code is set */

#define SMTP_REPLY_LINE_MAX	4096	/* a reply line longer than this: bad */

/*
 * A reply being read: buf holds the first line and, when join is set,
 * the text of the lines after it, cut at bufsz - 1 bytes. bufsz is at
 * least 4: the first line's code is what the next lines are held to.
 */
struct smtp_reply_buf {
	char	*buf;
	size_t	 bufsz;
	size_t	 len;		/* 0: the next line is a reply's first */
	int	 join;
};

/*
 * smtp_reply_line - one line (n bytes, no CRLF, NUL bytes allowed in the
 * text) of a reply: a code of [1-5][0-9][0-9], then the end, ' ' or '-'.
 * SMTP_REPLY_DONE with *code set on the last line, and r->len back to 0
 * for the next reply; SMTP_REPLY_MORE; SMTP_REPLY_BAD.
 */
int smtp_reply_line(struct smtp_reply_buf *r, const char *line, size_t n,
    int *code);

#endif
