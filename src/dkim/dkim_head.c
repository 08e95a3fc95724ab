/*
 * dkim_head.c - the header section for DKIM: split into fields, the
 * fields a signature covers selected and hashed (RFC 6376 3.7, 5.4),
 * our DKIM-Signature field written.
 *
 * Public: dkim_head_split, dkim_head_find, dkim_head_hash, dkim_strip_b,
 * dkim_sign_headers, dkim_sign_begin, dkim_sign_finish, dkim_b64_encode.
 *
 * SECURITY: the header section comes from the client; fields are only
 * pointed at, never copied unbounded (a canonical field must fit
 * DKIM_CANON_FIELD bytes or the hash fails, which fails the signature).
 * LIMITS: DKIM_FIELDS_MAX fields, DKIM_CANON_FIELD bytes a canonical
 * field.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "dkim_head.h"

#define DKIM_CANON_FIELD	(64 * 1024)

const char *const dkim_sign_headers[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding", "content-language", "list-id",
	"list-unsubscribe", "list-unsubscribe-post", NULL
};

void
dkim_head_split(struct dkim_head *h, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct dkim_field *cur = NULL;

	h->n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl + 1 : end;
		const char *colon;
		size_t n;

		if (eol - p <= 2 && (*p == '\r' || *p == '\n'))
			break;		/* the empty line */
		if ((*p == ' ' || *p == '\t') && cur != NULL) {
			cur->len = (size_t)(eol - cur->p);
			p = eol;
			continue;
		}
		cur = NULL;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p || h->n == DKIM_FIELDS_MAX) {
			p = eol;
			continue;
		}
		n = (size_t)(colon - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= DKIM_FIELD_NAME) {
			p = eol;
			continue;
		}
		cur = &h->f[h->n++];
		cur->p = p;
		cur->len = (size_t)(eol - p);
		for (size_t i = 0; i < n; i++)
			cur->name[i] = (char)tolower((unsigned char)p[i]);
		cur->name[n] = '\0';
		p = eol;
	}
}

const struct dkim_field *
dkim_head_find(const struct dkim_head *h, const char *name)
{
	for (size_t i = h->n; i > 0; i--)
		if (strcmp(h->f[i - 1].name, name) == 0)
			return &h->f[i - 1];
	return NULL;
}

int
dkim_head_hash(enum dkim_canon canon, const struct dkim_head *h,
    char hdrs[][DKIM_FIELD_NAME], size_t n_hdrs, const char *sigfield,
    size_t siglen, uint8_t out[DKIM_HASH_LEN])
{
	uint8_t used[DKIM_FIELDS_MAX];
	EVP_MD_CTX *md;
	unsigned int olen = 0;
	char *buf;
	long n;
	int rc = -1;

	if ((buf = malloc(DKIM_CANON_FIELD)) == NULL)
		return -1;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < n_hdrs; i++) {
		for (size_t j = h->n; j > 0; j--) {
			const struct dkim_field *f = &h->f[j - 1];

			if (used[j - 1] || strcasecmp(f->name, hdrs[i]) != 0)
				continue;
			used[j - 1] = 1;
			if ((n = dkim_header_canon(canon, f->p, f->len, 1, buf,
			    DKIM_CANON_FIELD)) < 0)
				goto out;
			EVP_DigestUpdate(md, buf, (size_t)n);
			break;
		}
	}
	if ((n = dkim_header_canon(canon, sigfield, siglen, 0, buf,
	    DKIM_CANON_FIELD)) < 0)
		goto out;
	EVP_DigestUpdate(md, buf, (size_t)n);
	if (EVP_DigestFinal_ex(md, out, &olen) == 1 && olen == DKIM_HASH_LEN)
		rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

long
dkim_strip_b(const char *field, size_t len, char *out, size_t cap)
{
	const char *colon = memchr(field, ':', len);
	size_t i, o = 0;

	if (colon == NULL || len >= cap)
		return -1;
	i = (size_t)(colon - field) + 1;
	memcpy(out, field, i);
	o = i;
	/* copy tag by tag; the value of the tag named exactly b is dropped */
	while (i < len) {
		size_t start = i, name, nend;
		const char *semi = memchr(field + i, ';', len - i);
		size_t stop = semi != NULL ? (size_t)(semi - field) : len;

		name = start;
		while (name < stop && strchr(" \t\r\n", field[name]) != NULL)
			name++;
		nend = name;
		while (nend < stop && (isalnum((unsigned char)field[nend]) ||
		    field[nend] == '_'))
			nend++;
		if (nend - name == 1 && field[name] == 'b') {
			const char *eq = memchr(field + nend, '=', stop - nend);

			if (eq != NULL) {
				size_t keep = (size_t)(eq - field) + 1 - start;

				memcpy(out + o, field + start, keep);
				o += keep;
				i = stop;
				continue;
			}
		}
		memcpy(out + o, field + start, stop - start);
		o += stop - start;
		i = stop;
		if (i < len) {
			out[o++] = ';';
			i++;
		}
	}
	out[o] = '\0';
	return (long)o;
}

long
dkim_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if ((len + 2) / 3 * 4 + 1 > cap)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* append printf text to field; -1 when it does not fit */
static int
field_add(char *field, size_t *len, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
field_add(char *field, size_t *len, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(field + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

long
dkim_sign_begin(const struct dkim_signing *ds, const struct dkim_head *h,
    const uint8_t bh[DKIM_HASH_LEN], char *field, size_t cap,
    uint8_t digest[DKIM_HASH_LEN])
{
	char hdrs[DKIM_HDRS_MAX][DKIM_FIELD_NAME];
	char bh64[64];
	size_t n = 0, len = 0, line;

	/* the usual set, those present, and From once more */
	for (size_t i = 0; dkim_sign_headers[i] != NULL; i++)
		if (dkim_head_find(h, dkim_sign_headers[i]) != NULL)
			snprintf(hdrs[n++], DKIM_FIELD_NAME, "%s",
			    dkim_sign_headers[i]);
	snprintf(hdrs[n++], DKIM_FIELD_NAME, "from");
	dkim_b64_encode(bh, DKIM_HASH_LEN, bh64, sizeof(bh64));
	if (field_add(field, &len, cap, "DKIM-Signature: v=1; a=%s; "
	    "c=relaxed/relaxed; d=%s; s=%s;\r\n\tt=%lld;",
	    ds->alg == DKIM_ALG_ED25519_SHA256 ? "ed25519-sha256" :
	    "rsa-sha256", ds->domain, ds->selector, (long long)ds->now) == -1)
		return -1;
	if (ds->expire > 0 && field_add(field, &len, cap, " x=%lld;",
	    (long long)ds->now + ds->expire) == -1)
		return -1;
	if (field_add(field, &len, cap, " h=") == -1)
		return -1;
	line = 12;
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(hdrs[i]) + 1;

		if (line + w > 76) {
			if (field_add(field, &len, cap, "\r\n\t") == -1)
				return -1;
			line = 8;
		}
		if (field_add(field, &len, cap, "%s%s", hdrs[i],
		    i + 1 < n ? ":" : ";") == -1)
			return -1;
		line += w;
	}
	if (field_add(field, &len, cap, "\r\n\tbh=%s;\r\n\tb=", bh64) == -1)
		return -1;
	if (dkim_head_hash(DKIM_CANON_RELAXED, h, hdrs, n, field, len,
	    digest) == -1)
		return -1;
	return (long)len;
}

long
dkim_sign_finish(char *field, size_t len, size_t cap, const uint8_t *sig,
    size_t siglen)
{
	char b64[DKIM_B64_MAX * 2];
	long n;
	size_t first = 70;	/* "\tb=" starts the line */

	if ((n = dkim_b64_encode(sig, siglen, b64, sizeof(b64))) < 0)
		return -1;
	for (size_t i = 0; i < (size_t)n; ) {
		size_t take = (size_t)n - i < first ? (size_t)n - i : first;

		if (i > 0 && field_add(field, &len, cap, "\r\n\t ") == -1)
			return -1;
		if (field_add(field, &len, cap, "%.*s", (int)take, b64 + i) == -1)
			return -1;
		i += take;
		first = 72;
	}
	if (field_add(field, &len, cap, "\r\n") == -1)
		return -1;
	return (long)len;
}
