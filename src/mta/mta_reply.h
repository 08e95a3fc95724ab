/*
 * mta_reply.h - the mta's reader of a next hop's replies, one line at a
 * time (RFC 5321 4.2): pure, so that it can be tested and fuzzed apart
 * from the session that feeds it.
 */
#ifndef MOAT_MTA_REPLY_H
#define MOAT_MTA_REPLY_H

#include <stddef.h>

#define MTA_REPLY_BAD	(-1)	/* not "DDD[ -]text", or a code that changed */
#define MTA_REPLY_MORE	0	/* a continuation line: more to come */
#define MTA_REPLY_DONE	1	/* the last line: *code is set */

/*
 * A reply being read: buf holds the first line and, when join is set,
 * the text of the lines after it, cut at bufsz - 1 bytes.
 */
struct mta_reply_buf {
	char	*buf;
	size_t	 bufsz;
	size_t	 len;		/* 0: the next line is a reply's first */
	int	 join;
};

int mta_reply_line(struct mta_reply_buf *r, const char *line, size_t n,
    int *code);

#endif
