/*
 * fuzz_dsn.c - libFuzzer target for the DSN parameter encodings.
 *
 * For any input: an xtext that decodes encodes to printable ASCII only
 * and decodes back to the same bytes; dsn_decode_checked never lets a
 * control byte through; an ORCPT that decodes is written with no byte
 * outside '!'..'~' and decodes back to the same stored value. A
 * violated invariant aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "fuzz_dsn: invariant failed: %s (line %d)\n", \
		    #c, __LINE__); \
		abort(); \
	} \
} while (0)

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
			return 0;
	return 1;
}

static void
check_xtext(const char *s, size_t size)
{
	char dec[4200], enc[3 * 4200 + 1], again[4200];
	size_t n, n2;

	if (dsn_xtext_decode(s, size, dec, sizeof(dec), &n) != DSN_OK)
		return;
	CHECK(n <= size);
	CHECK(dsn_xtext_encode(dec, n, enc, sizeof(enc)) == DSN_OK);
	CHECK(printable(enc));
	CHECK(dsn_xtext_decode(enc, strlen(enc), again, sizeof(again), &n2) ==
	    DSN_OK);
	CHECK(n2 == n && memcmp(again, dec, n) == 0);
	if (dsn_decode_checked(s, size, dec, sizeof(dec)) == DSN_OK)
		CHECK(!dsn_has_control(dec, strlen(dec)) && strlen(dec) == n);
}

static void
check_orcpt(const char *s, size_t size, int utf8)
{
	char stored[4200], enc[9 * 4200 + 1], again[4200];

	if (dsn_orcpt_decode(s, size, utf8, stored, sizeof(stored)) != DSN_OK)
		return;
	CHECK(!dsn_has_control(stored, strlen(stored)));
	CHECK(dsn_orcpt_encode(stored, enc, sizeof(enc)) == DSN_OK);
	CHECK(printable(enc));
	CHECK(dsn_orcpt_decode(enc, strlen(enc), 0, again, sizeof(again)) ==
	    DSN_OK);
	CHECK(strcmp(again, stored) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	if (size > 4096)
		return 0;
	check_xtext(s, size);
	check_orcpt(s, size, 0);
	check_orcpt(s, size, 1);
	return 0;
}
