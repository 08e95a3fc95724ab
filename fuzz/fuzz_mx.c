/*
 * fuzz_mx.c - libFuzzer target: MX records from DNS answers
 * (mta_mx_parse_rdata, then what mta_dns.c does with the records:
 * sort, null MX, pruning of our own host).
 *
 * Input: records, each a u8 length and that many rdata bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mta/mta_route.h"

#define MX_MAX	16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const self[] = { "mx.example.org" };
	struct mta_mx mx[MX_MAX];
	size_t n = 0, len;
	uint8_t *rdata;

	while (size > 0 && n < MX_MAX) {
		len = data[0];
		data++, size--;
		if (len > size)
			len = size;
		/* an exact-size copy so that ASan sees any over-read */
		if ((rdata = malloc(len ? len : 1)) == NULL)
			return 0;
		memcpy(rdata, data, len);
		memset(&mx[n], 0, sizeof(mx[n]));
		if (mta_mx_parse_rdata(rdata, len, &mx[n]) == 0) {
			if (memchr(mx[n].host, '\0', sizeof(mx[n].host)) == NULL)
				abort();
			mx[n].rnd = (uint32_t)n * 2654435761u;
			n++;
		}
		free(rdata);
		data += len, size -= len;
	}
	mta_mx_sort(mx, n);
	for (size_t i = 1; i < n; i++)
		if (mx[i - 1].pref > mx[i].pref)
			abort();
	(void)mta_mx_is_null(mx, n);
	if (mta_mx_prune_self(mx, n, self, 1) > n)
		abort();
	return 0;
}
