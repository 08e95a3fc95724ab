/*
 * fuzz_reply.c - libFuzzer target: SMTP replies as a client reads them
 * (relaytest_reply_parse: framing and limits around smtp_reply_line),
 * reply after reply as a pipelining client would. The line reader alone
 * is fuzz_smtp_reply.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relaytest/relaytest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relaytest_reply rep;
	size_t off = 0, used;
	char *copy;
	int rc;

	/* an exact-size copy so that ASan sees any over-read */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	while (off < size) {
		used = 0;
		rc = relaytest_reply_parse(copy + off, size - off, &rep, &used);
		if (rc != 1)
			break;
		if (used == 0 || used > size - off || rep.code < 100 ||
		    rep.code > 999 || rep.lines < 1 ||
		    memchr(rep.text, '\0', sizeof(rep.text)) == NULL)
			abort();
		off += used;
	}
	free(copy);
	return 0;
}
