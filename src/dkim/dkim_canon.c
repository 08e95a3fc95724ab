/*
 * dkim_canon.c - DKIM canonicalization, simple and relaxed (RFC 6376
 * 3.4), for signing and verifying.
 *
 * Public: dkim_body_init, dkim_body_update, dkim_body_final,
 * dkim_body_free, dkim_header_canon, dkim_canon_parse.
 *
 * The body is canonicalized byte by byte as DATA streams it, so the
 * message is never held whole: the only state is whether a CR, some
 * whitespace (relaxed) or empty lines are pending. Empty lines are
 * counted, not stored: they are hashed when a line with content follows
 * and dropped at the end (both canonicalizations ignore trailing empty
 * lines).
 * LIMITS: l= up to INT64_MAX; a header field of any length that fits
 * the caller's buffer.
 */
#include <string.h>
#include <strings.h>

#include "dkim_canon.h"

static void
out_flush(struct dkim_body *b)
{
	if (b->outlen == 0)
		return;
	EVP_DigestUpdate(b->md, b->out, b->outlen);
	b->outlen = 0;
}

/* one canonical byte, unless l= says the hash has all it takes */
static void
out_byte(struct dkim_body *b, uint8_t c)
{
	if (b->limit >= 0 && b->hashed >= (uint64_t)b->limit)
		return;
	b->hashed++;
	b->out[b->outlen++] = c;
	if (b->outlen == sizeof(b->out))
		out_flush(b);
}

static void
out_crlf(struct dkim_body *b)
{
	out_byte(b, '\r');
	out_byte(b, '\n');
}

/* a byte that is part of a line's content */
static void
body_content(struct dkim_body *b, uint8_t c)
{
	if (!b->inline_) {
		for (; b->blank > 0; b->blank--)
			out_crlf(b);
		b->inline_ = 1;
	}
	if (b->wsp) {
		out_byte(b, ' ');
		b->wsp = 0;
	}
	out_byte(b, c);
}

int
dkim_body_init(struct dkim_body *b, enum dkim_canon canon, int64_t limit)
{
	memset(b, 0, sizeof(*b));
	b->canon = canon;
	b->limit = limit;
	if ((b->md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(b->md);
		b->md = NULL;
		return -1;
	}
	return 0;
}

void
dkim_body_update(struct dkim_body *b, const void *p, size_t len)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = s[i];

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				/* the end of a line: its trailing WSP goes */
				b->wsp = 0;
				if (b->inline_)
					out_crlf(b);
				else
					b->blank++;
				b->inline_ = 0;
				continue;
			}
			body_content(b, '\r');
		}
		if (c == '\r')
			b->cr = 1;
		else if (b->canon == DKIM_CANON_RELAXED &&
		    (c == ' ' || c == '\t'))
			b->wsp = 1;
		else
			body_content(b, c);
	}
}

int
dkim_body_final(struct dkim_body *b, uint8_t out[DKIM_HASH_LEN])
{
	unsigned int n = 0;

	if (b->cr)
		body_content(b, '\r');
	b->cr = 0;
	b->wsp = 0;
	/* a last line without its CRLF gets one */
	if (b->inline_)
		out_crlf(b);
	/* simple: an empty body is one CRLF (relaxed: nothing) */
	else if (b->canon == DKIM_CANON_SIMPLE && b->hashed == 0)
		out_crlf(b);
	b->inline_ = 0;
	b->blank = 0;
	out_flush(b);
	if (EVP_DigestFinal_ex(b->md, out, &n) != 1 || n != DKIM_HASH_LEN)
		return -1;
	return 0;
}

void
dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}

long
dkim_header_canon(enum dkim_canon canon, const char *f, size_t len, int crlf,
    char *out, size_t outcap)
{
	size_t i = 0, o = 0, colon;
	const char *c;
	int wsp = 0, started = 0;

	/* without its final CRLF */
	while (len >= 2 && f[len - 2] == '\r' && f[len - 1] == '\n')
		len -= 2;
	if (canon == DKIM_CANON_SIMPLE) {
		if (len + 3 > outcap)
			return -1;
		memcpy(out, f, len);
		o = len;
		goto done;
	}
	if ((c = memchr(f, ':', len)) == NULL)
		return -1;
	colon = (size_t)(c - f);
	/* the name lowercased, without the whitespace before the colon */
	for (i = 0; i < colon; i++) {
		char ch = f[i];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (o + 1 >= outcap)
			return -1;
		out[o++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	if (o + 1 >= outcap)
		return -1;
	out[o++] = ':';
	/* the value unfolded, whitespace runs made one space, trimmed */
	for (i = colon + 1; i < len; i++) {
		char ch = f[i];

		if (ch == '\r' || ch == '\n')
			continue;
		if (ch == ' ' || ch == '\t') {
			wsp = 1;
			continue;
		}
		if (wsp && started) {
			if (o + 1 >= outcap)
				return -1;
			out[o++] = ' ';
		}
		wsp = 0;
		started = 1;
		if (o + 1 >= outcap)
			return -1;
		out[o++] = ch;
	}
done:
	if (crlf) {
		if (o + 3 > outcap)
			return -1;
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	return (long)o;
}

int
dkim_canon_parse(const char *s, enum dkim_canon *head, enum dkim_canon *body)
{
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);

	if (hl == 6 && strncasecmp(s, "simple", 6) == 0)
		*head = DKIM_CANON_SIMPLE;
	else if (hl == 7 && strncasecmp(s, "relaxed", 7) == 0)
		*head = DKIM_CANON_RELAXED;
	else
		return -1;
	/* "relaxed" alone: the body's is simple (RFC 6376 3.5 c=) */
	if (slash == NULL)
		*body = DKIM_CANON_SIMPLE;
	else if (strcasecmp(slash + 1, "simple") == 0)
		*body = DKIM_CANON_SIMPLE;
	else if (strcasecmp(slash + 1, "relaxed") == 0)
		*body = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}
