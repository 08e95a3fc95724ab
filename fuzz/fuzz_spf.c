/*
 * fuzz_spf.c - libFuzzer target: DNS answers from outside read by our
 * libspf2 DNS layer (spf_dns.c) during spf_check: every TXT, MX and PTR
 * answer the input, A and AAAA answers cut from it; and the input as a
 * record for spf_record_check.
 *
 * Input: any bytes; the first byte picks the client's address family.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t	*data;
	size_t		 size;
	uint8_t		*copy;		/* exact size: ASan sees over-reads */
	const uint8_t	*rd[2];
	size_t		 rl[2];
};

static int
lookup(void *arg, const char *name, int type, const uint8_t *const **rd,
    const size_t **rl)
{
	struct fz *f = arg;
	size_t len = f->size;

	free(f->copy);
	if (type == SPF_TYPE_A)
		len = len < 4 ? len : 4;
	else if (type == SPF_TYPE_AAAA)
		len = len < 16 ? len : 16;
	if ((f->copy = malloc(len ? len : 1)) == NULL)
		return -1;
	memcpy(f->copy, f->data, len);
	f->rd[0] = f->rd[1] = f->copy;
	f->rl[0] = f->rl[1] = len;
	*rd = f->rd;
	*rl = f->rl;
	/* a name from the input may ask for anything: bounded answers */
	return strlen(name) % 3 == 0 ? -1 : 1 + (name[0] == 'x');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .data = data, .size = size };
	struct spf_query q = { .sender = "a.b@s.example", .domain =
	    "d.example", .helo = "h.example", .lookup = lookup, .arg = &f };
	char *text;
	const char *why;

	if (size > 0 && data[0] & 1) {
		q.ip[10] = q.ip[11] = 0xff;
		q.ip[12] = 192;
	} else
		q.ip[0] = 0x20;
	(void)spf_check(&q, &why);
	free(f.copy);
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)spf_record_check(text, &why);
	free(text);
	return 0;
}
