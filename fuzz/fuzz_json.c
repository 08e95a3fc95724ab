/*
 * fuzz_json.c - libFuzzer target: json_write_str on any bytes; the
 * output must be one JSON string in valid UTF-8 with no raw control
 * byte, whatever the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if p[0..n) is well-formed UTF-8 without C0 controls or DEL */
static int
clean_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, cp;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 9;
		if (need == 9 || c > 0xf4 || i + need >= n)
			return 0;
		cp = c & (0x3f >> need);
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *out = NULL;
	size_t len = 0;
	FILE *fp;

	if ((in = malloc(size + 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if ((fp = open_memstream(&out, &len)) == NULL) {
		free(in);
		return 0;
	}
	json_write_str(fp, in);
	fclose(fp);
	if (len < 2 || out[0] != '"' || out[len - 1] != '"' ||
	    !clean_utf8((const unsigned char *)out, len))
		abort();
	free(out);
	free(in);
	return 0;
}
