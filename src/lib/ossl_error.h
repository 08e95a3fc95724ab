/*
 * ossl_error.h - OpenSSL's error queue in our error messages.
 */
#ifndef MOAT_OSSL_ERROR_H
#define MOAT_OSSL_ERROR_H

#include <stddef.h>

/*
 * ossl_error - "what: the library's reason" (or what alone when OpenSSL
 * queued nothing) into err; the queue is cleared. Returns -1, for
 * "return ossl_error(...)".
 */
int ossl_error(char *err, size_t errlen, const char *what);

#endif
