/*
 * dkim_tag.h - DKIM tag lists (RFC 6376 3.2): the DKIM-Signature
 * header's value and the key record's TXT, both from outside.
 */
#ifndef MOAT_DKIM_TAG_H
#define MOAT_DKIM_TAG_H

#include <stddef.h>
#include <stdint.h>

#include "dkim_canon.h"

#define DKIM_TAGS_MAX	32
#define DKIM_HDRS_MAX	64	/* names in h= */
#define DKIM_B64_MAX	2048	/* b=, p= decoded: RSA 8192 bits in SPKI */

struct dkim_tag {
	char		 name[16];
	const char	*val;		/* into the list's copy, FWS trimmed */
};

struct dkim_tags {
	char		*copy;		/* owned, NUL-separated */
	struct dkim_tag	 tag[DKIM_TAGS_MAX];
	size_t		 n;
};

/* dkim_tags_parse - split text; 0, or -1 with why set (tags freed) */
int dkim_tags_parse(struct dkim_tags *t, const char *text, size_t len,
    const char **why);
/* dkim_tags_get - the value of tag name, NULL when absent */
const char *dkim_tags_get(const struct dkim_tags *t, const char *name);
void dkim_tags_free(struct dkim_tags *t);

/* dkim_b64_decode - base64 with FWS anywhere; length, or -1 */
long dkim_b64_decode(const char *s, uint8_t *out, size_t outcap);

enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };

/* a DKIM-Signature header, parsed and checked (RFC 6376 3.5, 6.1.1) */
struct dkim_sig {
	enum dkim_alg	 alg;
	enum dkim_canon	 hcanon, bcanon;
	char		 domain[256];	/* d= */
	char		 selector[128];	/* s= */
	char		 auid[320];	/* i=, default "@d" */
	char		 hdrs[DKIM_HDRS_MAX][80];	/* h=, lowercased */
	size_t		 n_hdrs;
	uint8_t		 bh[DKIM_HASH_LEN];	/* bh=, decoded */
	uint8_t		 b[DKIM_B64_MAX];	/* b=, decoded */
	size_t		 blen;
	int64_t		 length;	/* l=, -1 when absent */
	int64_t		 t, x;		/* 0 when absent */
};

/*
 * dkim_sig_parse - the value of a DKIM-Signature header (after the
 * colon). 0, or -1 with why: a syntax error, a missing tag, v= not 1,
 * an algorithm other than rsa-sha256 and ed25519-sha256, h= without
 * from, i= outside d=.
 */
int dkim_sig_parse(struct dkim_sig *sig, const char *val, size_t len,
    const char **why);

/* a key record (RFC 6376 3.6.1) */
struct dkim_keyrec {
	enum dkim_alg	 alg;		/* k=: rsa (default) or ed25519 */
	uint8_t		 p[DKIM_B64_MAX];	/* p=, decoded */
	size_t		 plen;		/* 0: revoked */
	int		 sha256_ok;	/* h= absent or lists sha256 */
	int		 testing;	/* t=y */
	int		 strict;	/* t=s: i= must be d= exactly */
};

/* dkim_keyrec_parse - a TXT record's text; 0, or -1 with why */
int dkim_keyrec_parse(struct dkim_keyrec *k, const char *txt, size_t len,
    const char **why);

#endif
