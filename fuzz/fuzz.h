/*
 * fuzz.h - what every libFuzzer target here shares: the entry point's
 * prototype and CHECK, which aborts (a finding) on a broken invariant.
 */
#ifndef MOAT_FUZZ_H
#define MOAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s: invariant failed: %s (line %d)\n", \
		    __FILE__, #c, __LINE__); \
		abort(); \
	} \
} while (0)

#endif
