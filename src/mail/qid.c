/*
 * qid.c - queue ids; see qid.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qid.h"

void
qid_make(char out[QID_SIZE], int64_t now, uint32_t counter,
    enum qid_origin origin)
{
	uint64_t v;

	v = ((uint64_t)now & 0xfffffffu) << 20 |
	    (origin == QID_SMTP ? 0x80000u : 0) | (counter & 0x7ffffu);
	snprintf(out, QID_SIZE, "%012" PRIx64, v);
}

int
qid_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == QID_LEN;
}
