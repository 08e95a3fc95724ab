/*
 * fuzz_dnsbl_answer.c - libFuzzer target: what a DNS blacklist answers
 * about an own address (mta_dnsbl_verdict over A records,
 * mta_dnsbl_txt over TXT records).
 *
 * Input: records, each a u8 length and that many rdata bytes; every
 * record goes to both.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/proto.h"
#include "mta/mta_dnsbl.h"

#define REC_MAX	16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec[REC_MAX], out[PROTO_DNSBL_TEXT_MAX], txt[64] = "";
	int len[REC_MAX], v;
	size_t n = 0, l;

	while (size > 0 && n < REC_MAX) {
		l = data[0];
		data++, size--;
		if (l > size)
			l = size;
		/* an exact-size copy so that ASan sees any over-read */
		if ((rec[n] = malloc(l ? l : 1)) == NULL)
			break;
		memcpy(rec[n], data, l);
		len[n] = (int)l;
		mta_dnsbl_txt((const uint8_t *)rec[n], l, txt, sizeof(txt));
		if (strlen(txt) >= sizeof(txt))
			abort();
		for (const char *p = txt; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
		data += l, size -= l;
		n++;
	}
	v = mta_dnsbl_verdict(rec, len, n, out, sizeof(out));
	if (v != PROTO_DNSBL_CLEAN && v != PROTO_DNSBL_LISTED &&
	    v != PROTO_DNSBL_ERROR)
		abort();
	if (memchr(out, '\0', sizeof(out)) == NULL)
		abort();
	while (n > 0)
		free(rec[--n]);
	return 0;
}
