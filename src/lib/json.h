/*
 * json.h - JSON string output.
 */
#ifndef MOAT_JSON_H
#define MOAT_JSON_H

#include <stdio.h>

/*
 * json_write_str - s (NULL: "") as a JSON string, quotes included.
 * Valid UTF-8 is written as it is; '"', '\\' and control characters are
 * escaped; a byte that is not part of valid UTF-8 becomes \ufffd, so
 * the output is always valid JSON in valid UTF-8.
 */
void json_write_str(FILE *fp, const char *s);

#endif
