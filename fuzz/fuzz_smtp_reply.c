/*
 * fuzz_smtp_reply.c - libFuzzer target: an SMTP server's replies as the
 * mta reads them (smtp_reply_line), line after line as CRLF splits them,
 * with and without joining continuation lines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[512];		/* as much as the mta keeps */
	struct smtp_reply_buf r = { buf, sizeof(buf), 0, 0 };
	size_t off = 0;
	int code, rc;

	if (size == 0)
		return 0;
	r.join = data[0] & 1;
	off = 1;
	while (off < size) {
		const uint8_t *eol = memmem(data + off, size - off, "\r\n", 2);
		size_t n = eol != NULL ? (size_t)(eol - data) - off : size - off;
		char *line;

		/* an exact-size copy so that ASan sees any over-read */
		if ((line = malloc(n ? n : 1)) == NULL)
			return 0;
		memcpy(line, data + off, n);
		code = -1;
		rc = smtp_reply_line(&r, line, n, &code);
		free(line);
		if (rc == SMTP_REPLY_BAD) {
			r.len = 0;
		} else if (rc == SMTP_REPLY_DONE) {
			if (code < 0 || code > 999 || r.len != 0 ||
			    memchr(buf, '\0', sizeof(buf)) == NULL)
				abort();
		} else if (r.len == 0 || r.len >= sizeof(buf) ||
		    buf[r.len] != '\0')
			abort();
		off += n + (eol != NULL ? 2 : 0);
	}
	return 0;
}
