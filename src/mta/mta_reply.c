/*
 * mta_reply.c - the mta's reader of a next hop's replies.
 *
 * Public: mta_reply_line.
 *
 * SECURITY: the lines come from the next hop, untrusted. A line that is
 * not three digits followed by end, ' ' or '-', one longer than
 * MTA_LINE_MAX, or a continuation line whose code differs from the
 * first line's is refused (the session then ends). What is kept is cut
 * at the buffer's size and always NUL-terminated.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mta/mta.h"
#include "mta/mta_reply.h"

static int
reply_line_ok(const char *line, size_t n)
{
	return n >= 3 && n <= MTA_LINE_MAX &&
	    isdigit((unsigned char)line[0]) &&
	    isdigit((unsigned char)line[1]) &&
	    isdigit((unsigned char)line[2]) &&
	    (n == 3 || line[3] == ' ' || line[3] == '-');
}

/* append at most bufsz - 1 - len bytes of s (n long); stays terminated */
static void
reply_append(struct mta_reply_buf *r, const char *s, size_t n)
{
	size_t room = r->bufsz - 1 - r->len;

	if (n > room)
		n = room;
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

/*
 * mta_reply_line - one line (n bytes, no CRLF, NUL bytes allowed in the
 * text) of a reply. MTA_REPLY_DONE with *code set on the last line, and
 * r->len back to 0 for the next reply; MTA_REPLY_MORE; MTA_REPLY_BAD.
 */
int
mta_reply_line(struct mta_reply_buf *r, const char *line, size_t n,
    int *code)
{
	const char *nul;

	if (!reply_line_ok(line, n))
		return MTA_REPLY_BAD;
	/* the text stops at a NUL byte: the rest never reaches a string */
	if ((nul = memchr(line, '\0', n)) != NULL)
		n = (size_t)(nul - line);
	if (r->len == 0) {
		r->buf[0] = '\0';
		reply_append(r, line, n);
	} else {
		if (memcmp(r->buf, line, 3) != 0)
			return MTA_REPLY_BAD;
		if (r->join && n > 4) {
			reply_append(r, " ", 1);
			reply_append(r, line + 4, n - 4);
		}
	}
	if (n > 3 && line[3] == '-')
		return MTA_REPLY_MORE;
	*code = (r->buf[0] - '0') * 100 + (r->buf[1] - '0') * 10 +
	    (r->buf[2] - '0');
	r->len = 0;
	return MTA_REPLY_DONE;
}
