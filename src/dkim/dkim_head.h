/*
 * dkim_head.h - the header section as DKIM sees it: fields split,
 * selected by h=, hashed; the DKIM-Signature we make.
 */
#ifndef MOAT_DKIM_HEAD_H
#define MOAT_DKIM_HEAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dkim_canon.h"
#include "dkim_tag.h"

#define DKIM_FIELDS_MAX	1024	/* fields of a header section we look at */
#define DKIM_FIELD_NAME	80

struct dkim_field {
	const char	*p;		/* into the header section */
	size_t		 len;		/* with continuation lines and CRLF */
	char		 name[DKIM_FIELD_NAME];	/* lowercased */
};

struct dkim_head {
	struct dkim_field	f[DKIM_FIELDS_MAX];
	size_t			n;
};

/*
 * dkim_head_split - the fields of a header section (CRLF line ends, up
 * to the empty line or the end of text), past DKIM_FIELDS_MAX ignored
 * (they can be neither signed nor verified). A line that is no field
 * and no continuation is skipped.
 */
void dkim_head_split(struct dkim_head *h, const char *text, size_t len);

/* dkim_head_find - the last field named name, NULL when none */
const struct dkim_field *dkim_head_find(const struct dkim_head *h,
    const char *name);

/*
 * dkim_head_hash - the hash the signature signs (RFC 6376 3.7): the
 * fields h= names, each name taking the last instance not taken yet (a
 * name listed more often than present adds nothing: oversigning), then
 * sigfield (the DKIM-Signature with an empty b=) without its CRLF.
 * 0, or -1 when a field is too long or OpenSSL fails.
 */
int dkim_head_hash(enum dkim_canon canon, const struct dkim_head *h,
    char hdrs[][DKIM_FIELD_NAME], size_t n_hdrs, const char *sigfield,
    size_t siglen, uint8_t out[DKIM_HASH_LEN]);

/*
 * dkim_strip_b - the field with the value of its b= tag removed (not
 * bh=), into out (cap bytes); the length or -1.
 */
long dkim_strip_b(const char *field, size_t len, char *out, size_t cap);

/* what one signature of ours is made of */
struct dkim_signing {
	enum dkim_alg	 alg;
	const char	*domain;
	const char	*selector;
	time_t		 now;
	long		 expire;	/* x= after this many seconds; 0 none */
};

/* the default header set signed when present; From is signed twice */
extern const char *const dkim_sign_headers[];

/*
 * dkim_sign_begin - our DKIM-Signature field up to "b=" (no CRLF) into
 * field, and the hash to sign into digest, for the header section h and
 * the body hash bh. The field's length, or -1 (no room, OpenSSL).
 */
long dkim_sign_begin(const struct dkim_signing *ds, const struct dkim_head *h,
    const uint8_t bh[DKIM_HASH_LEN], char *field, size_t cap,
    uint8_t digest[DKIM_HASH_LEN]);

/*
 * dkim_sign_finish - the signature appended to the field of
 * dkim_sign_begin as base64 folded in lines, with the final CRLF.
 * The new length, or -1 when there is no room.
 */
long dkim_sign_finish(char *field, size_t len, size_t cap, const uint8_t *sig,
    size_t siglen);

/* dkim_b64_encode - base64 of in into out (NUL-terminated); length or -1 */
long dkim_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
