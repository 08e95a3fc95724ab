/*
 * fuzz_data.c - libFuzzer target: the DATA state machine. Feeding the
 * input whole and in two pieces must give the same verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t emitted;

static void
emit(void *arg, const char *p, size_t len)
{
	(void)arg;
	(void)p;
	emitted += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data a, b;
	size_t ua, ub, cut = size ? data[0] % (size + 1) : 0;
	char *copy;

	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	emitted = 0;
	smtp_data_init(&a, 4096, 5);
	ua = smtp_data_feed(&a, copy, size, emit, NULL);
	if (ua > size || a.size > 4096 || emitted != a.size)
		abort();
	smtp_data_init(&b, 4096, 5);
	ub = smtp_data_feed(&b, copy, cut, emit, NULL);
	if (!b.done)
		ub += smtp_data_feed(&b, copy + ub, size - ub, emit, NULL);
	if (ua != ub || a.done != b.done || a.err != b.err)
		abort();
	/* the Message-ID kept does not depend on where the input was cut */
	if (strcmp(smtp_data_msgid(&a), smtp_data_msgid(&b)) != 0 ||
	    strlen(smtp_data_msgid(&a)) > SMTP_MSGID_MAX)
		abort();
	free(copy);
	return 0;
}
