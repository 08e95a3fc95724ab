/*
 * prom.c - label values for the Prometheus text format (version 0.0.4):
 * a value is written between double quotes, so a backslash, a double
 * quote and a line feed are escaped; the format is UTF-8, so a byte
 * that is not well-formed UTF-8 (and any other control byte, which a
 * scraper's line handling may choke on) becomes U+FFFD.
 *
 * Public: prom_label_escape.
 *
 * SECURITY: values may come from outside (a user name tried at AUTH, a
 * client's address); this is the encoding at the point of writing.
 * LIMITS: the output is cut at dstlen, between characters.
 */
#include <string.h>

#include "lib/prom.h"
#include "lib/utf8.h"

#define PROM_REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */

/* prom_label_escape - see prom.h */
char *
prom_label_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < srclen;) {
		char esc[3];
		const char *out = (const char *)&p[i];
		size_t n = 1, take = 1;

		if (p[i] == '\\' || p[i] == '"' || p[i] == '\n') {
			esc[0] = '\\';
			esc[1] = p[i] == '\n' ? 'n' : (char)p[i];
			out = esc;
			n = 2;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			out = PROM_REPLACEMENT;
			n = 3;
		} else if (p[i] >= 0x80) {
			if ((take = utf8_seq_len(&p[i], srclen - i)) == 0) {
				out = PROM_REPLACEMENT;
				n = 3;
				take = 1;
			} else
				n = take;
		}
		if (o + n >= dstlen)
			break;
		memcpy(dst + o, out, n);
		o += n;
		i += take;
	}
	dst[o] = '\0';
	return dst;
}
