/*
 * prom.h - the Prometheus text exposition format's label values.
 */
#ifndef MOAT_PROM_H
#define MOAT_PROM_H

#include <stddef.h>

/*
 * prom_label_escape - src[0..srclen) as the inside of a quoted label
 * value into dst (NUL-terminated, never cut inside an escape): \ as \\,
 * " as \", a line feed as \n; another control byte or a byte that is
 * not well-formed UTF-8 becomes U+FFFD, so the text stays valid UTF-8.
 * Returns dst. Pure.
 */
char *prom_label_escape(char *dst, size_t dstlen, const char *src,
    size_t srclen);

#endif
