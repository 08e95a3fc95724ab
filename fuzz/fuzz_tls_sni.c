/*
 * fuzz_tls_sni.c - libFuzzer target for tls_set_match, which compares
 * a client's SNI name with a certificate's names.
 *
 * The input is split at its first NUL into a pattern and a host (the
 * peer's part). Invariants: no crash or overread; the match ignores
 * case and one trailing dot of the host; a plain pattern matches only
 * itself; a wildcard never matches a host without a dot in it.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "io/tls_set.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *host, *upper;
	size_t plen, hlen;
	int m;

	if ((buf = malloc(size + 2)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	plen = strlen(buf);
	host = buf + plen + (plen < size ? 1 : 0);
	if (plen == size)
		host = buf + size + 1;
	hlen = strlen(host);
	m = tls_set_match(buf, host);
	if ((upper = strdup(host)) != NULL) {
		for (char *p = upper; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
		CHECK(tls_set_match(buf, upper) == m);
		free(upper);
	}
	if (!(buf[0] == '*' && buf[1] == '.') && m)
		CHECK(strncasecmp(buf, host, plen) == 0 &&
		    (hlen == plen || (hlen == plen + 1 && host[plen] == '.')));
	if (buf[0] == '*' && buf[1] == '.' && m)
		CHECK(memchr(host, '.', hlen) != NULL);
	free(buf);
	return 0;
}
