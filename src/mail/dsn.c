/*
 * dsn.c - xtext (RFC 3461 4) and the ORCPT address forms (RFC 3461 4.2,
 * RFC 6533 3): one decoder and one encoder for each.
 *
 * Public: dsn_xtext_decode, dsn_xtext_encode, dsn_has_control,
 * dsn_decode_checked, dsn_orcpt_decode, dsn_orcpt_encode.
 *
 * A DSN parameter is decoded once when the client sends it, checked
 * (no control byte: a decoded CR LF would otherwise become a command of
 * its own at the next hop), stored decoded, and encoded again by
 * whoever writes it: the mta in its MAIL and RCPT commands, bounce.c in
 * a report. Nothing is ever written as it was received.
 *
 * SECURITY: the input is raw bytes from an SMTP peer, not NUL-terminated:
 * every read is checked against its length, every write against the
 * output size. The encoders' output holds only '!'..'~', so it cannot
 * end or split a command line whatever the stored value holds.
 * LIMITS: the caller's buffers; addr-type 32 characters.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dsn.h"

#define ADDR_TYPE_MAX	32

static int
hexval(int c, int lower_ok)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (lower_ok && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* an xtext character that stands for itself */
static int
is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* append one byte to dst, keeping room for the NUL */
static int
put(char *dst, size_t dstlen, size_t *o, char c)
{
	if (*o + 1 >= dstlen)
		return -1;
	dst[(*o)++] = c;
	return 0;
}

/* dsn_has_control - 1 when a C0 control byte or DEL is in (s, len) */
int
dsn_has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 1;
	}
	return 0;
}

/* dsn_xtext_decode - RFC 3461 xtext: "+HH" escapes, printable otherwise */
enum dsn_err
dsn_xtext_decode(const char *s, size_t len, char *dst, size_t dstlen,
    size_t *outlen)
{
	size_t o = 0;

	if (dstlen == 0)
		return DSN_ERR_TOO_LONG;
	dst[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (c == '+') {
			if (i + 2 >= len)
				return DSN_ERR_SYNTAX;
			hi = hexval((unsigned char)s[i + 1], 0);
			lo = hexval((unsigned char)s[i + 2], 0);
			if (hi < 0 || lo < 0)
				return DSN_ERR_SYNTAX;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (!is_xchar(c))
			return DSN_ERR_SYNTAX;
		if (put(dst, dstlen, &o, (char)c) == -1)
			return DSN_ERR_TOO_LONG;
	}
	dst[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return DSN_OK;
}

/* dsn_xtext_encode - bytes as xtext, "+HH" for all but plain characters */
enum dsn_err
dsn_xtext_encode(const char *s, size_t len, char *dst, size_t dstlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (dstlen == 0)
		return DSN_ERR_TOO_LONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_xchar(c)) {
			if (put(dst, dstlen, &o, (char)c) == -1)
				goto short_dst;
			continue;
		}
		if (put(dst, dstlen, &o, '+') == -1 ||
		    put(dst, dstlen, &o, hex[c >> 4]) == -1 ||
		    put(dst, dstlen, &o, hex[c & 15]) == -1)
			goto short_dst;
	}
	dst[o] = '\0';
	return DSN_OK;
short_dst:
	dst[0] = '\0';
	return DSN_ERR_TOO_LONG;
}

/* dsn_decode_checked - xtext decoded, control bytes refused */
enum dsn_err
dsn_decode_checked(const char *s, size_t len, char *dst, size_t dstlen)
{
	enum dsn_err e;
	size_t n;

	if ((e = dsn_xtext_decode(s, len, dst, dstlen, &n)) != DSN_OK)
		return e;
	return dsn_has_control(dst, n) ? DSN_ERR_CONTROL : DSN_OK;
}

/*
 * The code point of the well-formed UTF-8 sequence at p (at most avail
 * bytes) in *cp, its length as the result; 0 when malformed (truncated,
 * overlong, surrogate, beyond U+10FFFF; RFC 3629 4).
 */
static size_t
utf8_decode(const unsigned char *p, size_t avail, unsigned long *cp)
{
	size_t n, i;
	unsigned long v;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, v = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, v = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, v = p[0] & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return n;
}

/* append code point cp as UTF-8 */
static int
put_utf8(char *dst, size_t dstlen, size_t *o, unsigned long cp)
{
	unsigned char b[4];
	size_t n, i;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	for (i = 0; i < n; i++)
		if (put(dst, dstlen, o, (char)b[i]) == -1)
			return -1;
	return 0;
}

/* "\x{HEX}" at s[*i] (RFC 6533 EmbeddedUnicodeChar): the code point */
static int
embedded_char(const char *s, size_t len, size_t *i, unsigned long *cp)
{
	size_t j = *i, digits = 0;
	unsigned long v = 0;
	int h;

	if (j + 3 >= len || s[j + 1] != 'x' || s[j + 2] != '{')
		return -1;
	for (j += 3; j < len && s[j] != '}'; j++) {
		if ((h = hexval((unsigned char)s[j], 1)) < 0 || ++digits > 6)
			return -1;
		v = v * 16 + (unsigned long)h;
	}
	if (j == len || digits == 0 || v > 0x10ffff ||
	    (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*i = j;
	*cp = v;
	return 0;
}

/*
 * The address of a "utf-8" ORCPT (RFC 6533 utf-8-addr-xtext, or
 * utf-8-addr-unitext under SMTPUTF8) decoded into UTF-8. "+HH" is
 * taken as in xtext too, for senders that encode it so.
 */
static enum dsn_err
utf8_addr_decode(const char *s, size_t len, int utf8, char *dst,
    size_t dstlen, size_t *o)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned long cp;
		size_t n;
		int hi, lo;

		if (c == '\\') {
			if (embedded_char(s, len, &i, &cp) == -1)
				return DSN_ERR_SYNTAX;
			if (put_utf8(dst, dstlen, o, cp) == -1)
				return DSN_ERR_TOO_LONG;
		} else if (c == '+') {
			if (i + 2 >= len ||
			    (hi = hexval((unsigned char)s[i + 1], 0)) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2], 0)) < 0)
				return DSN_ERR_SYNTAX;
			if (put(dst, dstlen, o, (char)(hi * 16 + lo)) == -1)
				return DSN_ERR_TOO_LONG;
			i += 2;
		} else if (c >= 0x80) {
			if (!utf8 || (n = utf8_decode((const unsigned char *)s + i,
			    len - i, &cp)) == 0)
				return DSN_ERR_SYNTAX;
			for (size_t k = 0; k < n; k++)
				if (put(dst, dstlen, o, s[i + k]) == -1)
					return DSN_ERR_TOO_LONG;
			i += n - 1;
		} else if (is_xchar(c)) {
			if (put(dst, dstlen, o, (char)c) == -1)
				return DSN_ERR_TOO_LONG;
		} else
			return DSN_ERR_SYNTAX;
	}
	return DSN_OK;
}

/* 1 when (s, len) is all well-formed UTF-8 */
static int
utf8_valid(const char *s, size_t len)
{
	unsigned long cp;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		if ((unsigned char)s[i] < 0x80) {
			n = 1;
			continue;
		}
		if ((n = utf8_decode((const unsigned char *)s + i, len - i,
		    &cp)) == 0)
			return 0;
	}
	return 1;
}

/* length of the addr-type atom ending at ';', 0 when malformed */
static size_t
addr_type_len(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] != ';'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') || i >= ADDR_TYPE_MAX)
			return 0;
	}
	return i < len ? i : 0;
}

static int
is_utf8_type(const char *s, size_t n)
{
	return n == 5 && strncasecmp(s, "utf-8", 5) == 0;
}

/* dsn_orcpt_decode - "addr-type;xtext" into "addr-type;decoded" */
enum dsn_err
dsn_orcpt_decode(const char *s, size_t len, int utf8, char *dst,
    size_t dstlen)
{
	size_t tl = addr_type_len(s, len), o, n;
	enum dsn_err e;

	if (tl == 0 || tl + 1 >= len)
		return DSN_ERR_SYNTAX;
	if (tl + 2 > dstlen)
		return DSN_ERR_TOO_LONG;
	memcpy(dst, s, tl + 1);
	o = tl + 1;
	if (is_utf8_type(s, tl)) {
		if ((e = utf8_addr_decode(s + tl + 1, len - tl - 1, utf8, dst,
		    dstlen, &o)) != DSN_OK)
			return e;
		dst[o] = '\0';
		if (!utf8_valid(dst + tl + 1, o - tl - 1))
			return DSN_ERR_SYNTAX;
	} else {
		if ((e = dsn_xtext_decode(s + tl + 1, len - tl - 1, dst + o,
		    dstlen - o, &n)) != DSN_OK)
			return e;
		o += n;
	}
	dst[o] = '\0';
	return dsn_has_control(dst + tl + 1, o - tl - 1) ? DSN_ERR_CONTROL :
	    DSN_OK;
}

/* the utf-8-addr-xtext form of a UTF-8 address */
static enum dsn_err
utf8_addr_encode(const char *s, size_t len, char *dst, size_t dstlen,
    size_t *o)
{
	unsigned long cp;
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)s[i];
		char esc[16];

		if (c < 0x80) {
			n = 1;
			cp = c;
		} else if ((n = utf8_decode((const unsigned char *)s + i,
		    len - i, &cp)) == 0)
			return DSN_ERR_SYNTAX;
		if (cp < 0x80 && is_xchar((unsigned char)cp) && cp != '\\') {
			if (put(dst, dstlen, o, (char)cp) == -1)
				return DSN_ERR_TOO_LONG;
			continue;
		}
		snprintf(esc, sizeof(esc), "\\x{%02lX}", cp);
		for (const char *p = esc; *p != '\0'; p++)
			if (put(dst, dstlen, o, *p) == -1)
				return DSN_ERR_TOO_LONG;
	}
	return DSN_OK;
}

/* dsn_orcpt_encode - the stored ORCPT as an outbound parameter value */
enum dsn_err
dsn_orcpt_encode(const char *stored, char *dst, size_t dstlen)
{
	size_t len = strlen(stored), tl = addr_type_len(stored, len), o;
	enum dsn_err e;

	if (dstlen > 0)
		dst[0] = '\0';
	if (tl == 0 || tl + 1 >= len)
		return DSN_ERR_SYNTAX;
	if (tl + 2 > dstlen)
		return DSN_ERR_TOO_LONG;
	memcpy(dst, stored, tl + 1);
	o = tl + 1;
	if (is_utf8_type(stored, tl))
		e = utf8_addr_encode(stored + o, len - o, dst, dstlen, &o);
	else {
		e = dsn_xtext_encode(stored + o, len - o, dst + o, dstlen - o);
		o += strlen(dst + o);
	}
	if (e != DSN_OK) {
		dst[0] = '\0';
		return e;
	}
	dst[o] = '\0';
	return DSN_OK;
}
