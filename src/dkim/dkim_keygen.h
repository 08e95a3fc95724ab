/*
 * dkim_keygen.h - `moat dkim keygen`: a signing key and its DNS record.
 */
#ifndef MOAT_DKIM_KEYGEN_H
#define MOAT_DKIM_KEYGEN_H

#include <stddef.h>

/* dkim_main - `moat dkim ARGS`; the exit status (2: usage) */
int dkim_main(int argc, char **argv);

/*
 * dkim_txt_format - the zone-file line of a key record: the name, then
 * the text in quoted strings of at most 255 bytes; length or -1.
 */
long dkim_txt_format(const char *domain, const char *selector,
    const char *record, char *out, size_t cap);

#endif
