/*
 * utf8.h - well-formed UTF-8 (RFC 3629).
 */
#ifndef MOAT_UTF8_H
#define MOAT_UTF8_H

#include <stddef.h>

/*
 * utf8_seq_len - length (2 to 4) of the well-formed multi-byte UTF-8
 * sequence starting at p (at most avail bytes), or 0: ASCII, truncated,
 * bad continuation byte, overlong form, surrogate (U+D800..U+DFFF) or
 * beyond U+10FFFF. Pure.
 */
size_t utf8_seq_len(const unsigned char *p, size_t avail);

#endif
