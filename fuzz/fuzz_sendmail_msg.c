/*
 * fuzz_sendmail_msg.c - libFuzzer target for smsg_prepare, the reading
 * of moat sendmail's standard input.
 *
 * The first byte chooses the flags (lone dot ends, -t). Invariants of
 * an accepted input: the output is CRLF lines only (no bare CR or LF,
 * no NUL), none over SMSG_LINE_MAX plus its stuffed dot, no line is a
 * lone "." (it would end DATA), and every recipient has neither a space
 * nor a control byte. A violated invariant aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sendmail/sendmail_msg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smsg m;
	char err[256];
	size_t start = 0;
	int flags;

	if (size < 1)
		return 0;
	flags = data[0] & (SMSG_F_DOT_ENDS | SMSG_F_HEADER_RCPTS);
	if (smsg_prepare((const char *)data + 1, size - 1, flags, &m, err,
	    sizeof(err)) == -1) {
		CHECK(err[0] != '\0');
		return 0;
	}
	for (size_t i = 0; i < m.len; i++) {
		CHECK(m.data[i] != '\0');
		if (m.data[i] == '\r') {
			CHECK(i + 1 < m.len && m.data[i + 1] == '\n');
			continue;
		}
		if (m.data[i] != '\n')
			continue;
		CHECK(i > 0 && m.data[i - 1] == '\r');
		CHECK(i - 1 - start <= SMSG_LINE_MAX + 1);
		CHECK(!(i - 1 - start == 1 && m.data[start] == '.'));
		start = i + 1;
	}
	CHECK(start == m.len);
	for (size_t i = 0; i < m.n_rcpts; i++) {
		CHECK(m.rcpts[i][0] != '\0');
		for (const char *p = m.rcpts[i]; *p != '\0'; p++)
			CHECK((unsigned char)*p > ' ' && *p != 0x7f);
	}
	smsg_free(&m);
	return 0;
}
