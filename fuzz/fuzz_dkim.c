/*
 * fuzz_dkim.c - libFuzzer target: the DKIM inputs that come from
 * outside. The first byte picks one: a DKIM-Signature value, a key
 * record, a header section (split, b= stripped, canonicalized and
 * hashed as a verifier does), a body (both canonicalizations).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authres/authres.h"
#include "dkim/dkim_canon.h"
#include "dkim/dkim_head.h"
#include "dkim/dkim_tag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dkim_head head;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *why;
	size_t len = size - 1;
	struct dkim_sig sig;
	struct dkim_keyrec k;
	struct dkim_body b;
	uint8_t out[DKIM_HASH_LEN];
	char *buf;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (dkim_sig_parse(&sig, p, len, &why) == 0 &&
		    (sig.n_hdrs == 0 || sig.blen == 0))
			abort();
		break;
	case 1:
		if (dkim_keyrec_parse(&k, p, len, &why) == 0 &&
		    k.plen > sizeof(k.p))
			abort();
		break;
	case 2:
		dkim_head_split(&head, p, len);
		if ((buf = malloc(len + 1)) == NULL)
			return 0;
		for (size_t i = 0; i < head.n; i++) {
			long n = dkim_strip_b(head.f[i].p, head.f[i].len, buf,
			    len + 1);

			if (n > (long)head.f[i].len)
				abort();
			if (n >= 0 && dkim_sig_parse(&sig, buf, (size_t)n,
			    &why) == 0)
				dkim_head_hash(sig.hcanon, &head, sig.hdrs,
				    sig.n_hdrs, buf, (size_t)n, out);
		}
		free(buf);
		break;
	case 3:
		for (int c = DKIM_CANON_SIMPLE; c <= DKIM_CANON_RELAXED; c++) {
			if (dkim_body_init(&b, (enum dkim_canon)c, len / 2) == -1)
				return 0;
			dkim_body_update(&b, p, len / 3);
			dkim_body_update(&b, p + len / 3, len - len / 3);
			dkim_body_final(&b, out);
			dkim_body_free(&b);
		}
		break;
	case 4:
		authres_claims_id(p, len, "mx.example");
		break;
	}
	return 0;
}
