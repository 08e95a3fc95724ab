/*
 * fuzz_addr.c - libFuzzer target for addr_parse_path.
 *
 * Parses the input under every flag combination and checks invariants:
 * consumed within the input and 0 on error, output strings NUL-terminated
 * and within their limits, flags respected, adding a flag never turns a
 * valid path invalid, and addr_format output parses back to the same
 * address. A violated invariant aborts (a crash for libFuzzer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "fuzz_addr: invariant failed: %s (line %d)\n", \
		    #c, __LINE__); \
		abort(); \
	} \
} while (0)

static int
same_addr(const struct mail_addr *a, const struct mail_addr *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->local_plain, b->local_plain) == 0 &&
	    strcmp(a->domain, b->domain) == 0 &&
	    a->is_null == b->is_null && a->is_literal == b->is_literal &&
	    a->utf8 == b->utf8;
}

static void
check_one(const char *s, size_t size, int flags, const struct mail_addr *a,
    size_t consumed, enum addr_err r)
{
	char fmt[ADDR_STRLEN], again[ADDR_STRLEN + 2];
	struct mail_addr b;
	size_t n, c2;

	CHECK(r == ADDR_OK || r == ADDR_ERR_SYNTAX || r == ADDR_ERR_TOO_LONG ||
	    r == ADDR_ERR_UTF8);
	CHECK(consumed <= size);
	if (r != ADDR_OK) {
		CHECK(consumed == 0);
		CHECK(a->local[0] == '\0' && a->domain[0] == '\0');
		return;
	}
	CHECK(consumed >= 2 && consumed <= ADDR_PATH_MAX);
	CHECK(s[0] == '<' && s[consumed - 1] == '>');
	CHECK(memchr(a->local, '\0', sizeof(a->local)) != NULL);
	CHECK(memchr(a->local_plain, '\0', sizeof(a->local_plain)) != NULL);
	CHECK(memchr(a->domain, '\0', sizeof(a->domain)) != NULL);
	CHECK(strlen(a->local_plain) <= ADDR_LOCAL_MAX);
	CHECK(strlen(a->local) <= 2 * ADDR_LOCAL_MAX + 2);
	CHECK(strlen(a->domain) <= ADDR_DOMAIN_MAX);
	if (!(flags & ADDR_F_UTF8))
		CHECK(!a->utf8);
	if (!(flags & ADDR_F_ALLOW_NULL))
		CHECK(!a->is_null);
	if (a->is_null)
		CHECK(a->local[0] == '\0' && a->domain[0] == '\0' &&
		    consumed == 2);
	else
		CHECK(a->local_plain[0] != '\0');
	if (a->is_literal)
		CHECK(a->domain[0] == '[');
	if (!a->is_null && a->domain[0] == '\0')
		CHECK(strcmp(a->local, "postmaster") == 0);

	/* formatting: never longer than the path without its brackets */
	addr_format(a, fmt, sizeof(fmt));
	n = strlen(fmt);
	CHECK(n + 2 <= consumed);
	/* and it parses back to the same address */
	snprintf(again, sizeof(again), "<%s>", fmt);
	CHECK(addr_parse_path(again, n + 2, flags, &b, &c2) == ADDR_OK);
	CHECK(c2 == n + 2);
	CHECK(same_addr(a, &b));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mail_addr out[4];
	size_t consumed[4];
	enum addr_err r[4];
	int f;

	for (f = 0; f < 4; f++) {
		consumed[f] = 777;
		r[f] = addr_parse_path(s, size, f, &out[f], &consumed[f]);
		check_one(s, size, f, &out[f], consumed[f], r[f]);
	}
	/* a flag only ever widens what is accepted, and changes nothing else */
	for (f = 0; f < 4; f++) {
		if (r[f] != ADDR_OK)
			continue;
		CHECK(r[f | ADDR_F_UTF8] == ADDR_OK);
		CHECK(r[f | ADDR_F_ALLOW_NULL] == ADDR_OK);
		CHECK(same_addr(&out[f], &out[f | ADDR_F_UTF8]));
		CHECK(same_addr(&out[f], &out[f | ADDR_F_ALLOW_NULL]));
		CHECK(consumed[f] == consumed[f | ADDR_F_UTF8]);
	}
	/* an ASCII-only result under SMTPUTF8 is valid without it */
	for (f = 0; f < 4; f++)
		if ((f & ADDR_F_UTF8) && r[f] == ADDR_OK && !out[f].utf8 &&
		    !out[f].had_route)
			CHECK(r[f & ~ADDR_F_UTF8] == ADDR_OK);
	return 0;
}
