/*
 * ossl_error.c - OpenSSL's error queue in our error messages.
 *
 * Public: ossl_error.
 */
#include <stdio.h>

#include <openssl/err.h>

#include "ossl_error.h"

int
ossl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
	return -1;
}
