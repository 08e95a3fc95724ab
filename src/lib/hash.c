/*
 * hash.c - 32-bit FNV-1a, for the slots of in-memory caches and tables
 * keyed by addresses or names.
 *
 * Public: hash_fnv1a.
 *
 * SECURITY: not keyed: a peer who controls the keys (its address, in
 * the callers) can aim at one slot. Callers use it where a collision
 * costs only a cache miss or a longer probe, never correctness.
 * LIMITS: none.
 */
#include "lib/hash.h"

/* hash_fnv1a - FNV-1a, offset basis 2166136261, prime 16777619 */
uint32_t
hash_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}
