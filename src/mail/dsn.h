/*
 * dsn.h - the encodings of the DSN parameters of MAIL and RCPT
 * (RFC 3461 xtext, RFC 6533 utf-8-addr-xtext): decoded once when a
 * client sends them, encoded again where they are written.
 */
#ifndef MOAT_DSN_H
#define MOAT_DSN_H

#include <stddef.h>

#define DSN_ENVID_MAX	100	/* RFC 3461 4.4: xtext characters */
#define DSN_ORCPT_MAX	500	/* RFC 3461 4.2: xtext characters */

enum dsn_err {
	DSN_OK = 0,
	DSN_ERR_SYNTAX,		/* malformed (xtext, addr-type, escape) */
	DSN_ERR_CONTROL,	/* decodes to a C0 control byte or DEL */
	DSN_ERR_TOO_LONG,	/* does not fit the output */
};

/*
 * dsn_xtext_decode - RFC 3461 4 xtext (s, len) into dst: "+HH" (upper
 * case hex) is one byte, every other character of 33..126 but '+' and
 * '=' stands for itself. dst is NUL-terminated; *outlen (may be NULL)
 * gets the decoded length, which may count NUL bytes. Pure.
 */
enum dsn_err dsn_xtext_decode(const char *s, size_t len, char *dst,
    size_t dstlen, size_t *outlen);

/*
 * dsn_xtext_encode - bytes (s, len) as xtext into dst (NUL-terminated):
 * '!'..'~' except '+' and '=' as they are, every other byte "+HH".
 * The output holds only xtext characters: no space, no control byte.
 * DSN_ERR_TOO_LONG when dst is short (dst is then ""). Pure.
 */
enum dsn_err dsn_xtext_encode(const char *s, size_t len, char *dst,
    size_t dstlen);

/*
 * dsn_has_control - 1 when (s, len) holds a C0 control byte (NUL, CR,
 * LF, TAB, ESC, ...) or DEL: such a value is refused wherever it came
 * from, as it would end or split a command line or a header.
 */
int dsn_has_control(const char *s, size_t len);

/*
 * dsn_decode_checked - decode an xtext parameter value and refuse
 * control bytes: DSN_ERR_CONTROL for them, DSN_ERR_SYNTAX for bad xtext.
 */
enum dsn_err dsn_decode_checked(const char *s, size_t len, char *dst,
    size_t dstlen);

/*
 * dsn_orcpt_decode - the value of ORCPT= ("addr-type;address") into
 * dst as "addr-type;decoded-address". addr-type is an atom of letters,
 * digits and '-' (at most 32). The address is xtext; for the "utf-8"
 * type (RFC 6533) also "\x{HEX}" escapes and, when utf8 (SMTPUTF8 was
 * given), raw well-formed UTF-8. The decoded address must be non-empty
 * and free of control bytes (DSN_ERR_CONTROL). Pure.
 */
enum dsn_err dsn_orcpt_decode(const char *s, size_t len, int utf8, char *dst,
    size_t dstlen);

/*
 * dsn_orcpt_encode - a stored "addr-type;decoded-address" as the value
 * of an outbound ORCPT= parameter: xtext, or utf-8-addr-xtext for the
 * "utf-8" type (non-ASCII, '+', '=', '\\' and controls as "\x{HEX}").
 * DSN_ERR_SYNTAX when stored is not of that form (then leave ORCPT
 * out), DSN_ERR_TOO_LONG when dst is short. Pure.
 */
enum dsn_err dsn_orcpt_encode(const char *stored, char *dst, size_t dstlen);

#endif
