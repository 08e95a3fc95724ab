/*
 * smtp_head.h - the header section of a message being received.
 *
 * The smtp process keeps a message's header section in memory until the
 * final dot and streams only the body to the queue, so every step at the
 * dot (authentication results, milters, DKIM signing) edits headers of
 * a message of any size. The section starts with our Received field and
 * ends after the empty line that ends the client's header fields; a line
 * that is neither a field nor a continuation also ends it (and is the
 * body's first line, as when a client sends no empty line).
 *
 * Public: smtp_head_init, smtp_head_free, smtp_head_reset, smtp_head_add,
 * smtp_head_feed, smtp_head_count, smtp_head_field, smtp_head_insert,
 * smtp_head_remove.
 * LIMITS: max bytes in all (smtp_head_feed says when it is passed).
 */
#ifndef SMTP_HEAD_H
#define SMTP_HEAD_H

#include <stddef.h>

struct evbuffer;

struct smtp_head {
	char	*buf;		/* owned, buf[0..len) */
	size_t	 len, cap;
	size_t	 max;		/* cap of len */
	size_t	 scan;		/* start of the line not yet classified */
	int	 done;		/* the section has ended (body bytes follow) */
	int	 blank;		/* it ended with an empty line */
};

/* one header field: name and the whole field, continuation lines and
 * the final CRLF included */
struct smtp_field {
	const char	*name;
	size_t		 namelen;
	size_t		 off, len;	/* of the whole field in buf */
	const char	*value;		/* after the colon, up to the final CRLF */
	size_t		 valuelen;
};

void smtp_head_init(struct smtp_head *, size_t max);
void smtp_head_free(struct smtp_head *);
void smtp_head_reset(struct smtp_head *);

/* smtp_head_add - append text of our own (the Received field) before any
 * of the client's; -1 out of memory or over max */
int smtp_head_add(struct smtp_head *, const char *p, size_t len);

/*
 * smtp_head_feed - message bytes as DATA's machine emits them (whole
 * CRLF lines, possibly split across calls). Bytes past the end of the
 * header section are appended to body. 0, or -1 when the section passes
 * max (nothing more is kept) or memory ran out.
 */
int smtp_head_feed(struct smtp_head *, const char *p, size_t len,
    struct evbuffer *body);

/* smtp_head_count - number of fields (ours included) */
size_t smtp_head_count(const struct smtp_head *);

/* smtp_head_field - the i-th field (from 0); -1 when there is none */
int smtp_head_field(const struct smtp_head *, size_t i, struct smtp_field *);

/*
 * smtp_head_insert - put a whole field ("Name: value\r\n", folded lines
 * allowed) before field i; i == count puts it after the last field
 * (before the empty line). The text is the caller's to have encoded.
 * -1 on out of memory (max does not apply: our own edits are bounded).
 */
int smtp_head_insert(struct smtp_head *, size_t i, const char *field,
    size_t len);

/* smtp_head_remove - delete field i; -1 when there is none */
int smtp_head_remove(struct smtp_head *, size_t i);

#endif
