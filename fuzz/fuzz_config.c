/*
 * fuzz_config.c - libFuzzer target: the configuration parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, err[1024];
	struct conf *c;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	c = conf_load_string(text, "fuzz.conf", err, sizeof(err));
	if (c == NULL && err[0] == '\0')
		abort();	/* every refusal says why */
	conf_free(c);
	free(text);
	return 0;
}
