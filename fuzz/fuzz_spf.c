/*
 * fuzz_spf.c - libFuzzer target: SPF records and DNS answers from
 * outside (spf_check with every TXT answer the input, A and MX answers
 * cut from it), macros (spf_expand), and DMARC records
 * (dmarc_record_parse, dmarc_org_domain).
 *
 * Input: any bytes; the first byte picks the client's address family.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authres/dmarc.h"
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
	struct dmarc_record r;
	char out[300], *text;
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
	(void)spf_expand(&q, "d.example", text, size, out, sizeof(out));
	(void)spf_record_check(text, &why);
	(void)dmarc_record_parse(text, size, &r, &why);
	if (memchr(data, '\0', size) == NULL && size < 254)
		(void)dmarc_org_domain(text);
	free(text);
	return 0;
}
