/*
 * smtp_reply.c - the reader of an SMTP server's replies, line by line:
 * the code, continuation lines and the text kept of them. The mta reads
 * its next hops' replies with it, relaytest the replies of the server
 * under test.
 *
 * Public: smtp_reply_line.
 *
 * SECURITY: the lines come from the peer, untrusted. A line that is not
 * a code of [1-5][0-9][0-9] followed by end, ' ' or '-', one longer than
 * SMTP_REPLY_LINE_MAX, or a continuation line whose code differs from
 * the first line's is refused (the caller then ends the session). What
 * is kept is cut at the buffer's size, stops at a NUL byte and is always
 * NUL-terminated.
 * LIMITS: SMTP_REPLY_LINE_MAX a line; the caller's buffer a reply.
 */
#include <string.h>

#include "mail/smtp_reply.h"

static int
reply_line_ok(const char *line, size_t n)
{
	return n >= 3 && n <= SMTP_REPLY_LINE_MAX &&
	    line[0] >= '1' && line[0] <= '5' &&
	    line[1] >= '0' && line[1] <= '9' &&
	    line[2] >= '0' && line[2] <= '9' &&
	    (n == 3 || line[3] == ' ' || line[3] == '-');
}

/* append at most bufsz - 1 - len bytes of s (n long); stays terminated */
static void
reply_append(struct smtp_reply_buf *r, const char *s, size_t n)
{
	size_t room = r->bufsz - 1 - r->len;

	if (n > room)
		n = room;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

/* smtp_reply_line - one line of a reply: DONE, MORE or BAD */
int
smtp_reply_line(struct smtp_reply_buf *r, const char *line, size_t n,
    int *code)
{
	const char *nul;

	if (!reply_line_ok(line, n))
		return SMTP_REPLY_BAD;
	/* the text stops at a NUL byte: the rest never reaches a string */
	if ((nul = memchr(line, '\0', n)) != NULL)
		n = (size_t)(nul - line);
	if (r->len == 0) {
		r->buf[0] = '\0';
		reply_append(r, line, n);
	} else {
		if (memcmp(r->buf, line, 3) != 0)
			return SMTP_REPLY_BAD;
		if (r->join && n > 4) {
			reply_append(r, " ", 1);
			reply_append(r, line + 4, n - 4);
		}
	}
	if (n > 3 && line[3] == '-')
		return SMTP_REPLY_MORE;
	*code = (r->buf[0] - '0') * 100 + (r->buf[1] - '0') * 10 +
	    (r->buf[2] - '0');
	r->len = 0;
	return SMTP_REPLY_DONE;
}
