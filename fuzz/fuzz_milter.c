/*
 * fuzz_milter.c - libFuzzer target for what a filter sends: the input is
 * a stream of milter packets, framed and parsed one by one as the client
 * does. Invariants: a framed packet lies inside the input and under
 * MILTER_PACKET_MAX, a parsed reply's strings lie inside its packet and
 * end with their NUL, an OPTNEG's macro lists read to their end, a reply
 * text that is taken has only printable ASCII and a 4xx/5xx code on every
 * line, a header value written from it has no bare CR or LF and no NUL.
 * A violated invariant aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "milter/milter_proto.h"

static void
check_str(const uint8_t *p, size_t len, const struct milter_str *s)
{
	if (s->p == NULL)
		return;
	CHECK((const uint8_t *)s->p >= p + 5 &&
	    (const uint8_t *)s->p + s->len < p + len);
	CHECK(s->p[s->len] == '\0' && memchr(s->p, '\0', s->len) == NULL);
}

static void
check_reply(const uint8_t *p, size_t len)
{
	struct milter_reply r;
	const char *why;
	char text[1024];
	int code;

	if (milter_reply_parse(p, len, &r, &why) == -1) {
		CHECK(why != NULL);
		return;
	}
	check_str(p, len, &r.s1);
	check_str(p, len, &r.s2);
	if (r.cmd == SMFIR_OPTNEG) {
		size_t off = 0;
		uint32_t st;
		struct milter_str names;
		int n;

		while ((n = milter_symlist_next(&r, &off, &st, &names)) == 1)
			CHECK(off <= r.symlists_len);
		CHECK(n == 0);
	}
	if (r.cmd == SMFIR_REPLYCODE &&
	    (code = milter_reply_text(r.s1.p, r.s1.len, text, sizeof(text),
	    &why)) != -1) {
		CHECK(code >= 400 && code <= 599);
		for (const char *t = text; *t != '\0'; t++)
			CHECK(*t == '\n' || (*t >= 0x20 && *t < 0x7f));
		for (const char *t = text; t != NULL; ) {
			CHECK(strncmp(t, text, 3) == 0);
			CHECK(t[3] == ' ' || t[3] == '-');
			t = strchr(t, '\n');
			if (t != NULL)
				t++;
		}
	}
	if ((r.cmd == SMFIR_ADDHEADER || r.cmd == SMFIR_CHGHEADER) &&
	    milter_header_name_ok(r.s1.p, r.s1.len)) {
		struct evbuffer *b = evbuffer_new();
		const char *h;
		size_t n;

		CHECK(b != NULL);
		CHECK(milter_header_put(b, r.s1.p, r.s1.len, r.s2.p, r.s2.len,
		    0) == 0);
		n = evbuffer_get_length(b);
		h = (const char *)evbuffer_pullup(b, -1);
		CHECK(n >= 2 && h[n - 2] == '\r' && h[n - 1] == '\n');
		for (size_t i = 0; i < n; i++) {
			CHECK(h[i] != '\0');
			if (h[i] == '\r')
				CHECK(i + 1 < n && h[i + 1] == '\n');
			if (h[i] == '\n') {
				CHECK(i > 0 && h[i - 1] == '\r');
				CHECK(i + 1 == n || h[i + 1] == ' ' ||
				    h[i + 1] == '\t');
			}
		}
		evbuffer_free(b);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, plen;

	while (off < size) {
		enum milter_frame_res f = milter_frame(data + off, size - off,
		    &plen);

		if (f != MILTER_FRAME_OK)
			break;
		CHECK(plen >= 5 && plen <= size - off &&
		    plen <= MILTER_PACKET_MAX + 4);
		check_reply(data + off, plen);
		off += plen;
	}
	return 0;
}
