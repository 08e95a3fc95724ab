/*
 * smtp_parse.c - SMTP command lines, MAIL/RCPT parameters and DATA.
 *
 * Public: smtp_parse_cmd, smtp_verb_name, smtp_parse_mail,
 * smtp_parse_rcpt, smtp_data_init, smtp_data_feed.
 *
 * SECURITY: every byte here comes from the network. The functions are
 * pure (no I/O, no allocation) over (bytes, length), never read past
 * the length given, and are fuzzed (fuzz/fuzz_cmd.c, fuzz/fuzz_data.c).
 * DSN parameters (ENVID, ORCPT, AUTH=) are decoded by src/mail/dsn.c
 * and refused when they decode to a control byte (501 5.5.4): they are
 * kept decoded and encoded again by whoever writes them.
 * LIMITS: line lengths are enforced by the caller's read layer
 * (SMTP_LINE_MAX) and by the DATA machine (SMTP_TEXT_LINE_MAX).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "../io/proto.h"
#include "../mail/dsn.h"
#include "smtp_parse.h"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL }, { "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA }, { "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP }, { "QUIT", SMTP_CMD_QUIT },
	{ "HELP", SMTP_CMD_HELP }, { "VRFY", SMTP_CMD_VRFY },
	{ "EXPN", SMTP_CMD_EXPN }, { "STARTTLS", SMTP_CMD_STARTTLS },
	{ "AUTH", SMTP_CMD_AUTH }, { "BDAT", SMTP_CMD_BDAT },
};

/* smtp_verb_name - upper-case name of a verb, "unknown" otherwise */
const char *
smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "unknown";
}

/* smtp_parse_cmd - split a command line into verb and arguments */
int
smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out)
{
	size_t vlen = 0;

	out->verb = SMTP_CMD_UNKNOWN;
	out->args = line + len;
	out->argslen = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		/* control bytes (NUL, bare CR, ...) are never part of a command;
		 * TAB is tolerated as white space */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(verbs[i].name, line, vlen) == 0) {
			out->verb = verbs[i].verb;
			break;
		}
	}
	if (vlen < len) {
		out->args = line + vlen + 1;
		out->argslen = len - vlen - 1;
	}
	/* trailing white space is common and harmless */
	while (out->argslen > 0 && (out->args[out->argslen - 1] == ' ' ||
	    out->args[out->argslen - 1] == '\t'))
		out->argslen--;
	return 0;
}

/*
 * The reason a DSN parameter was refused. A decoded control byte is
 * named apart: written back, a CR LF would be a command of its own.
 */
static const char *
dsn_why(enum dsn_err e, const char *bad, const char *control)
{
	return e == DSN_ERR_CONTROL ? control : bad;
}

/* match "FROM:" / "TO:" (case-insensitive); RFC 5321 allows no space
 * after the colon, but many clients send one: tolerate it */
static int
skip_keyword(const char **p, size_t *len, const char *kw)
{
	size_t kl = strlen(kw);

	if (*len < kl || strncasecmp(*p, kw, kl) != 0)
		return -1;
	*p += kl;
	*len -= kl;
	while (*len > 0 && **p == ' ') {
		(*p)++;
		(*len)--;
	}
	return 0;
}

/* next_param - next "KEY[=VALUE]" separated by spaces */
static int
next_param(const char **p, size_t *len, const char **key, size_t *klen,
    const char **val, size_t *vlen)
{
	const char *s = *p, *end = *p + *len;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return 0;
	*key = s;
	while (s < end && *s != ' ' && *s != '=')
		s++;
	*klen = (size_t)(s - *key);
	*val = NULL;
	*vlen = 0;
	if (s < end && *s == '=') {
		s++;
		*val = s;
		while (s < end && *s != ' ')
			s++;
		*vlen = (size_t)(s - *val);
	}
	*len = (size_t)(end - s);
	*p = s;
	return 1;
}

static int
keyeq(const char *k, size_t klen, const char *want)
{
	return strlen(want) == klen && strncasecmp(k, want, klen) == 0;
}

static enum smtp_param_err
addr_error(enum addr_err e, const char **why)
{
	switch (e) {
	case ADDR_ERR_UTF8:
		*why = "non-ASCII address without SMTPUTF8";
		return SMTP_PARAM_ADDR_UTF8;
	case ADDR_ERR_TOO_LONG:
		*why = "address too long";
		return SMTP_PARAM_ADDR;
	default:
		*why = "bad address syntax";
		return SMTP_PARAM_ADDR;
	}
}

/*
 * The address is parsed twice when SMTPUTF8 follows it: once without
 * UTF-8 to find out whether it is needed; the parameters decide.
 */
static int
has_smtputf8(const char *p, size_t len)
{
	const char *key, *val;
	size_t klen, vlen;

	while (next_param(&p, &len, &key, &klen, &val, &vlen))
		if (keyeq(key, klen, "SMTPUTF8") && val == NULL)
			return 1;
	return 0;
}

/* smtp_parse_mail - "FROM:<path> [SIZE= BODY= SMTPUTF8 RET= ENVID= AUTH=]" */
enum smtp_param_err
smtp_parse_mail(const char *args, size_t len, struct smtp_mail_params *out,
    const char **why)
{
	const char *p = args, *key, *val;
	size_t n = len, used, klen, vlen;
	enum addr_err ae;
	enum dsn_err de;
	int flags = ADDR_F_ALLOW_NULL;

	memset(out, 0, sizeof(*out));
	out->size = -1;
	*why = "syntax error";
	if (skip_keyword(&p, &n, "FROM:") == -1 || n == 0 || *p != '<') {
		*why = "syntax: MAIL FROM:<address>";
		return SMTP_PARAM_SYNTAX;
	}
	/* find the end of the path before looking at parameters */
	{
		const char *gt = memchr(p, '>', n);

		if (gt != NULL && has_smtputf8(gt + 1, n - (size_t)(gt + 1 - p)))
			flags |= ADDR_F_UTF8;
	}
	if ((ae = addr_parse_path(p, n, flags, &out->addr, &used)) != ADDR_OK)
		return addr_error(ae, why);
	if (!out->addr.is_null && out->addr.domain[0] == '\0') {
		*why = "sender address must have a domain";
		return SMTP_PARAM_ADDR;
	}
	p += used;
	n -= used;
	if (n > 0 && *p != ' ') {
		*why = "syntax: garbage after address";
		return SMTP_PARAM_SYNTAX;
	}
	while (next_param(&p, &n, &key, &klen, &val, &vlen)) {
		if (keyeq(key, klen, "SIZE")) {
			char num[21];
			char *end;

			if (val == NULL || vlen == 0 || vlen > 20)
				return *why = "bad SIZE", SMTP_PARAM_SYNTAX;
			memcpy(num, val, vlen);
			num[vlen] = '\0';
			for (size_t i = 0; i < vlen; i++)
				if (!isdigit((unsigned char)num[i]))
					return *why = "bad SIZE", SMTP_PARAM_SYNTAX;
			out->size = strtol(num, &end, 10);
			if (out->size < 0)
				out->size = 0x7fffffffL;
		} else if (keyeq(key, klen, "BODY")) {
			if (val && keyeq(val, vlen, "8BITMIME"))
				out->body_8bit = 1;
			else if (val && keyeq(val, vlen, "7BIT"))
				out->body_8bit = 0;
			else
				return *why = "bad BODY", SMTP_PARAM_SYNTAX;
		} else if (keyeq(key, klen, "SMTPUTF8")) {
			if (val != NULL)
				return *why = "SMTPUTF8 takes no value", SMTP_PARAM_SYNTAX;
			out->smtputf8 = 1;
		} else if (keyeq(key, klen, "RET")) {
			if (val && keyeq(val, vlen, "FULL"))
				out->ret = PROTO_RET_FULL;
			else if (val && keyeq(val, vlen, "HDRS"))
				out->ret = PROTO_RET_HDRS;
			else
				return *why = "bad RET", SMTP_PARAM_SYNTAX;
		} else if (keyeq(key, klen, "ENVID")) {
			if (val == NULL || vlen == 0 || vlen > DSN_ENVID_MAX)
				return *why = "bad ENVID", SMTP_PARAM_SYNTAX;
			if ((de = dsn_decode_checked(val, vlen, out->envid,
			    sizeof(out->envid))) != DSN_OK)
				return *why = dsn_why(de, "bad ENVID",
				    "control character in ENVID"), SMTP_PARAM_SYNTAX;
		} else if (keyeq(key, klen, "AUTH")) {
			char mailbox[SMTP_LINE_MAX];

			/* RFC 4954 5: checked, then neither trusted nor kept */
			if (val == NULL || vlen == 0)
				return *why = "bad AUTH", SMTP_PARAM_SYNTAX;
			if (!keyeq(val, vlen, "<>") &&
			    (de = dsn_decode_checked(val, vlen, mailbox,
			    sizeof(mailbox))) != DSN_OK)
				return *why = dsn_why(de, "bad AUTH",
				    "control character in AUTH"), SMTP_PARAM_SYNTAX;
		} else {
			*why = "unrecognised MAIL parameter";
			return SMTP_PARAM_UNKNOWN;
		}
	}
	return SMTP_PARAM_OK;
}

/* smtp_parse_rcpt - "TO:<path> [NOTIFY= ORCPT=]" */
enum smtp_param_err
smtp_parse_rcpt(const char *args, size_t len, int utf8,
    struct smtp_rcpt_params *out, const char **why)
{
	const char *p = args, *key, *val;
	size_t n = len, used, klen, vlen;
	enum addr_err ae;

	memset(out, 0, sizeof(*out));
	*why = "syntax error";
	if (skip_keyword(&p, &n, "TO:") == -1 || n == 0 || *p != '<') {
		*why = "syntax: RCPT TO:<address>";
		return SMTP_PARAM_SYNTAX;
	}
	ae = addr_parse_path(p, n, utf8 ? ADDR_F_UTF8 : 0, &out->addr, &used);
	if (ae != ADDR_OK)
		return addr_error(ae, why);
	p += used;
	n -= used;
	if (n > 0 && *p != ' ') {
		*why = "syntax: garbage after address";
		return SMTP_PARAM_SYNTAX;
	}
	while (next_param(&p, &n, &key, &klen, &val, &vlen)) {
		if (keyeq(key, klen, "NOTIFY")) {
			const char *v = val, *end;

			if (val == NULL || vlen == 0)
				return *why = "bad NOTIFY", SMTP_PARAM_SYNTAX;
			end = val + vlen;
			while (v < end) {
				const char *c = memchr(v, ',', (size_t)(end - v));
				size_t wl = c ? (size_t)(c - v) : (size_t)(end - v);

				if (keyeq(v, wl, "NEVER"))
					out->notify |= PROTO_NOTIFY_NEVER;
				else if (keyeq(v, wl, "SUCCESS"))
					out->notify |= PROTO_NOTIFY_SUCCESS;
				else if (keyeq(v, wl, "FAILURE"))
					out->notify |= PROTO_NOTIFY_FAILURE;
				else if (keyeq(v, wl, "DELAY"))
					out->notify |= PROTO_NOTIFY_DELAY;
				else
					return *why = "bad NOTIFY", SMTP_PARAM_SYNTAX;
				v += wl + (c ? 1 : 0);
			}
			if ((out->notify & PROTO_NOTIFY_NEVER) &&
			    out->notify != PROTO_NOTIFY_NEVER)
				return *why = "NOTIFY=NEVER stands alone", SMTP_PARAM_SYNTAX;
		} else if (keyeq(key, klen, "ORCPT")) {
			enum dsn_err de;

			if (val == NULL || vlen == 0 || vlen > DSN_ORCPT_MAX + 33)
				return *why = "bad ORCPT", SMTP_PARAM_SYNTAX;
			if ((de = dsn_orcpt_decode(val, vlen, utf8, out->orcpt,
			    sizeof(out->orcpt))) != DSN_OK)
				return *why = dsn_why(de, "bad ORCPT",
				    "control character in ORCPT"), SMTP_PARAM_SYNTAX;
		} else {
			*why = "unrecognised RCPT parameter";
			return SMTP_PARAM_UNKNOWN;
		}
	}
	return SMTP_PARAM_OK;
}

/* DATA machine states */
enum {
	D_BOL,		/* at the start of a line */
	D_DOT,		/* "." at the start of a line */
	D_DOT_CR,	/* ".\r" at the start of a line */
	D_TEXT,		/* inside a line */
	D_CR,		/* "\r" inside a line */
};

/* smtp_data_init - start reading one message */
void
smtp_data_init(struct smtp_data *d, size_t max_size, int max_received)
{
	memset(d, 0, sizeof(*d));
	d->state = D_BOL;
	d->max_size = max_size;
	d->max_received = max_received;
	d->in_headers = 1;
}

static void
data_error(struct smtp_data *d, enum smtp_data_err e)
{
	if (d->err == SMTP_DATA_OK)
		d->err = e;
}

enum { MSGID_NONE, MSGID_IN, MSGID_DONE };

/* a byte of the Message-ID field being read (d->msgid_state MSGID_IN) */
static void
data_msgid_byte(struct smtp_data *d, char c)
{
	/* a line that does not start with white space ends the field */
	if (d->hdrlen == 0 && c != ' ' && c != '\t') {
		d->msgid_state = MSGID_DONE;
		return;
	}
	if (d->msgid_len == 0 && (c == ' ' || c == '\t'))
		return;
	if (d->msgid_len < SMTP_MSGID_MAX)
		d->msgid[d->msgid_len++] = c;
}

/*
 * Count Received: header lines while still in the header section, and
 * keep the first Message-ID: field's value.
 */
static void
data_header_byte(struct smtp_data *d, char c)
{
	if (!d->in_headers)
		return;
	if (d->msgid_state == MSGID_IN)
		data_msgid_byte(d, c);
	if (d->hdrlen < sizeof(d->hdrname)) {
		d->hdrname[d->hdrlen++] = c;
		if (d->hdrlen == 9 && strncasecmp(d->hdrname, "received:", 9) == 0) {
			if (++d->received > d->max_received)
				data_error(d, SMTP_DATA_TOO_MANY_HOPS);
		}
		if (d->hdrlen == 11 && d->msgid_state == MSGID_NONE &&
		    strncasecmp(d->hdrname, "message-id:", 11) == 0)
			d->msgid_state = MSGID_IN;
	}
}

/* smtp_data_msgid - the first Message-ID's value, "" when none */
const char *
smtp_data_msgid(struct smtp_data *d)
{
	while (d->msgid_len > 0 && (d->msgid[d->msgid_len - 1] == ' ' ||
	    d->msgid[d->msgid_len - 1] == '\t'))
		d->msgid_len--;
	d->msgid[d->msgid_len] = '\0';
	return d->msgid;
}

/* a byte of a line's text: a LF without its CR is an error */
static void
data_text_byte(struct smtp_data *d, char c)
{
	if (c == '\n')
		data_error(d, SMTP_DATA_BARE_EOL);
	else
		data_header_byte(d, c);
	d->state = D_TEXT;
}

/* smtp_data_feed - consume DATA bytes; see smtp_parse.h */
size_t
smtp_data_feed(struct smtp_data *d, const char *p, size_t len,
    void (*emit)(void *arg, const char *p, size_t len), void *arg)
{
	size_t i, run = 0;	/* run: start of bytes not yet emitted */

#define FLUSH(upto) do {						\
	size_t n_ = (upto) - run;					\
	if (n_ > 0 && d->err == SMTP_DATA_OK) {				\
		if (d->size + n_ > d->max_size)				\
			data_error(d, SMTP_DATA_TOO_BIG);		\
		else {							\
			d->size += n_;					\
			emit(arg, p + run, n_);				\
		}							\
	}								\
} while (0)

	for (i = 0; i < len && !d->done; i++) {
		char c = p[i];

		if (c == '\0')
			data_error(d, SMTP_DATA_NUL);
		if (++d->linelen > SMTP_TEXT_LINE_MAX)
			data_error(d, SMTP_DATA_LONG_LINE);
		switch (d->state) {
		case D_BOL:
			d->hdrlen = 0;
			if (c == '.') {
				FLUSH(i);
				run = i + 1;	/* the dot is never message data */
				d->state = D_DOT;
			} else if (c == '\r')
				d->state = D_CR;
			else
				data_text_byte(d, c);
			break;
		case D_DOT:
			if (c == '\r') {
				/* maybe the end: hold the CR back */
				run = i + 1;
				d->state = D_DOT_CR;
			} else	/* dot-stuffed line: the dot was dropped */
				data_text_byte(d, c);
			break;
		case D_DOT_CR:
			if (c == '\n') {
				d->done = 1;
				run = i + 1;
			} else {
				data_error(d, SMTP_DATA_BARE_EOL);
				d->state = c == '\r' ? D_CR : D_TEXT;
			}
			break;
		case D_TEXT:
			if (c == '\r')
				d->state = D_CR;
			else
				data_text_byte(d, c);
			break;
		case D_CR:
			if (c == '\n') {
				/* an empty line ends the header section */
				if (d->linelen == 2)
					d->in_headers = 0;
				d->linelen = 0;
				d->state = D_BOL;
			} else if (c != '\r') {
				data_error(d, SMTP_DATA_BARE_EOL);
				d->state = D_TEXT;
			} else
				data_error(d, SMTP_DATA_BARE_EOL);
			break;
		}
	}
	if (!d->done)
		FLUSH(i);
#undef FLUSH
	return i;
}
