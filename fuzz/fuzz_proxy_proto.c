/*
 * fuzz_proxy_proto.c - libFuzzer target for proxy_parse.
 *
 * Parses the input under each version mask and checks invariants: a
 * header ends within the input and within the limits of its version,
 * its addresses are IPv4 or IPv6 unless it names no client, a version
 * the mask leaves out is never returned, the result does not depend on
 * bytes past the header, and feeding the input one byte longer at a
 * time (as a socket might) gives MORE until the same answer, and
 * proxy_format of what was read, in either version, reads back the same
 * addresses. A violated
 * invariant aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/proxy_proto.h"

static void
check_one(const uint8_t *data, size_t size, int versions)
{
	struct proxy_header h, h2;
	enum proxy_result r, r2;
	uint8_t again[PROXY_HEADER_MAX];
	const char *why;
	size_t n;

	r = proxy_parse(data, size, versions, &h, &why);
	CHECK(r == PROXY_DONE || r == PROXY_MORE || r == PROXY_BAD);
	if (r == PROXY_BAD)
		CHECK(why != NULL && why[0] != '\0');
	if (r == PROXY_MORE)
		CHECK(size < PROXY_HEADER_MAX);
	if (r != PROXY_DONE)
		return;
	CHECK(h.len > 0 && h.len <= size && h.len <= PROXY_HEADER_MAX);
	CHECK(h.version == 1 || h.version == 2);
	CHECK(versions & (h.version == 1 ? PROXY_V1 : PROXY_V2));
	if (h.version == 1)
		CHECK(h.len <= PROXY_V1_MAX && data[h.len - 2] == '\r' &&
		    data[h.len - 1] == '\n');
	if (!h.local) {
		CHECK(h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6);
		CHECK(h.dst.ss_family == h.src.ss_family);
	}
	/* what follows the header plays no part */
	r2 = proxy_parse(data, h.len, versions, &h2, &why);
	CHECK(r2 == PROXY_DONE && memcmp(&h, &h2, sizeof(h)) == 0);
	/* every shorter prefix is MORE: the reader may consume it */
	for (n = 0; n < h.len; n++)
		CHECK(proxy_parse(data, n, versions, &h2, &why) == PROXY_MORE);
	if (h.local)
		return;
	for (int v = PROXY_V1; v <= PROXY_V2; v++) {
		n = proxy_format(v, (struct sockaddr *)&h.src,
		    (struct sockaddr *)&h.dst, again, sizeof(again));
		CHECK(n > 0);
		CHECK(proxy_parse(again, n, v, &h2, &why) == PROXY_DONE);
		CHECK(h2.len == n && !h2.local);
		CHECK(memcmp(&h.src, &h2.src, sizeof(h.src)) == 0);
		CHECK(memcmp(&h.dst, &h2.dst, sizeof(h.dst)) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one(data, size, PROXY_V1);
	check_one(data, size, PROXY_V2);
	check_one(data, size, PROXY_V1 | PROXY_V2);
	return 0;
}
