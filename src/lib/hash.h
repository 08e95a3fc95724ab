/*
 * hash.h - a small non-cryptographic hash for in-memory tables.
 */
#ifndef MOAT_HASH_H
#define MOAT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* hash_fnv1a - 32-bit FNV-1a of p[0..n). Pure. */
uint32_t hash_fnv1a(const void *p, size_t n);

#endif
