/*
 * fuzz_smtp_head.c - libFuzzer target: the header section of a message.
 * Fed whole or in two pieces, the same bytes end the section; header
 * section and body together are the input; every field found lies
 * inside the section and can be removed and put back unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
feed(struct smtp_head *h, struct evbuffer *body, const char *p, size_t size,
    size_t cut)
{
	if (smtp_head_feed(h, p, cut, body) == -1)
		return -1;
	return smtp_head_feed(h, p + cut, size - cut, body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_head a, b;
	struct evbuffer *ba = evbuffer_new(), *bb = evbuffer_new();
	struct smtp_field f;
	size_t cut = size ? data[0] % (size + 1) : 0, n;
	int ra, rb;
	char *copy;

	if (ba == NULL || bb == NULL || (copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	smtp_head_init(&a, 4096);
	smtp_head_init(&b, 4096);
	ra = feed(&a, ba, copy, size, 0);
	rb = feed(&b, bb, copy, size, cut);
	if (ra != rb)
		abort();
	if (ra == 0) {
		if (a.len != b.len || a.done != b.done ||
		    a.len + evbuffer_get_length(ba) != size ||
		    (a.len && memcmp(a.buf, copy, a.len) != 0))
			abort();
		n = smtp_head_count(&a);
		for (size_t i = 0; i < n; i++) {
			char *saved;

			if (smtp_head_field(&a, i, &f) == -1 ||
			    f.off + f.len > a.len)
				abort();
			if ((saved = malloc(f.len ? f.len : 1)) == NULL)
				abort();
			memcpy(saved, a.buf + f.off, f.len);
			if (smtp_head_remove(&a, i) == -1 ||
			    smtp_head_insert(&a, i, saved, f.len) == -1 ||
			    memcmp(a.buf, copy, a.len) != 0)
				abort();
			free(saved);
		}
	}
	smtp_head_free(&a);
	smtp_head_free(&b);
	evbuffer_free(ba);
	evbuffer_free(bb);
	free(copy);
	return 0;
}
