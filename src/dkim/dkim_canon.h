/*
 * dkim_canon.h - DKIM canonicalization (RFC 6376 3.4): the body hashed
 * as it streams, header fields one at a time.
 */
#ifndef MOAT_DKIM_CANON_H
#define MOAT_DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define DKIM_HASH_LEN	32	/* SHA-256, the only hash we make or take */

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/*
 * The body hash of one canonicalization, fed any split of the body's
 * bytes (CRLF line ends). Empty lines are held back until a line with
 * content shows they were not the body's last.
 */
struct dkim_body {
	EVP_MD_CTX	*md;		/* owned */
	enum dkim_canon	 canon;
	int64_t		 limit;		/* l=: bytes hashed at most; -1 all */
	uint64_t	 hashed;	/* canonical bytes hashed so far */
	size_t		 blank;		/* empty lines held back */
	int		 cr;		/* a CR held back */
	int		 wsp;		/* relaxed: whitespace held back */
	int		 inline_;	/* the line has content */
	uint8_t		 out[4096];	/* canonical bytes not yet hashed */
	size_t		 outlen;
};

/* dkim_body_init - 0, or -1 when OpenSSL fails */
int dkim_body_init(struct dkim_body *b, enum dkim_canon canon, int64_t limit);
void dkim_body_update(struct dkim_body *b, const void *p, size_t len);
/* dkim_body_final - the hash of the canonical body into out; 0 or -1 */
int dkim_body_final(struct dkim_body *b, uint8_t out[DKIM_HASH_LEN]);
void dkim_body_free(struct dkim_body *b);

/*
 * dkim_header_canon - one header field (name, colon, value, its
 * continuation lines, with or without the final CRLF) canonicalized
 * into out (NUL-terminated, with the final CRLF when crlf). Returns the
 * length, or -1 when it does not fit in outcap.
 */
long dkim_header_canon(enum dkim_canon canon, const char *field, size_t len,
    int crlf, char *out, size_t outcap);

/* dkim_canon_parse - "relaxed/simple" (c=) into the two; 0 or -1 */
int dkim_canon_parse(const char *s, enum dkim_canon *head,
    enum dkim_canon *body);

#endif
