/*
 * json.c - JSON string output for the command line tools (`--json`).
 *
 * Public: json_write_str.
 *
 * SECURITY: the strings come from peers by way of the daemon (addresses,
 * HELO names, reply texts) and may hold any byte. What is written is
 * always valid JSON and valid UTF-8: quotes, backslashes and control
 * characters (C0 and DEL) are escaped, and a byte that does not start a
 * well-formed UTF-8 sequence (RFC 3629: shortest form, no surrogates, at
 * most U+10FFFF) becomes U+FFFD, as \ufffd.
 * LIMITS: none; strings are NUL-terminated, so a NUL ends one.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lib/json.h"
#include "lib/utf8.h"

/* json_write_str - a JSON string, always valid */
void
json_write_str(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *end = p + strlen((const char *)p);
	size_t n;

	fputc('"', fp);
	while (p < end) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", fp);
		else if (*p == '\r')
			fputs("\\r", fp);
		else if (*p == '\t')
			fputs("\\t", fp);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else if (*p < 0x80)
			fputc(*p, fp);
		else if ((n = utf8_seq_len(p, (size_t)(end - p))) == 0)
			fputs("\\ufffd", fp);
		else {
			fwrite(p, 1, n, fp);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', fp);
}
