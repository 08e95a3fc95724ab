/*
 * utf8.c - well-formed UTF-8 sequences, RFC 3629 section 4: what the
 * address parser accepts under SMTPUTF8 and what JSON output passes
 * through unchanged.
 *
 * Public: utf8_seq_len.
 *
 * SECURITY: input is untrusted bytes; never reads past p + avail.
 * LIMITS: none.
 */
#include <stddef.h>

#include "lib/utf8.h"

/* utf8_seq_len - a multi-byte sequence's length, or 0 */
size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	unsigned char b0;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (avail == 0)
		return 0;
	b0 = p[0];
	if (b0 >= 0xc2 && b0 <= 0xdf)
		n = 2;
	else if (b0 >= 0xe0 && b0 <= 0xef) {
		n = 3;
		if (b0 == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (b0 == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		n = 4;
		if (b0 == 0xf0)
			lo = 0x90;	/* overlong */
		else if (b0 == 0xf4)
			hi = 0x8f;	/* > U+10FFFF */
	} else
		return 0;	/* ASCII, continuation, 0xc0/0xc1, 0xf5.. */
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}
