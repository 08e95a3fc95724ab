/*
 * smtp_parse.h - pure parsers for SMTP command lines and DATA.
 */
#ifndef MOAT_SMTP_PARSE_H
#define MOAT_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "../mail/addr.h"

#define SMTP_LINE_MAX		512	/* command line incl. CRLF, RFC 5321 4.5.3.1.4 */
#define SMTP_TEXT_LINE_MAX	1000	/* text line incl. CRLF, RFC 5321 4.5.3.1.6 */

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_HELP,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_BDAT,
	SMTP_CMD_COUNT
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*args;		/* view: after the verb and one space */
	size_t		 argslen;
};

/*
 * smtp_parse_cmd - split a command line (without CRLF) into verb and
 * arguments. Returns 0, or -1 when the line holds NUL or other control
 * bytes (verb is then SMTP_CMD_UNKNOWN).
 */
int smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *out);
const char *smtp_verb_name(enum smtp_verb v);

/* MAIL FROM parameters (RFC 1870, 6152, 6531, 3461, 4954) */
struct smtp_mail_params {
	struct mail_addr addr;
	long	size;			/* SIZE=, -1 when absent */
	int	body_8bit;		/* BODY=8BITMIME */
	int	smtputf8;		/* SMTPUTF8 */
	int	ret;			/* 0 none, 1 FULL, 2 HDRS */
	char	envid[101];		/* ENVID=, xtext decoded, no control
					 * byte (encode it to write it) */
};

/* RCPT TO parameters */
struct smtp_rcpt_params {
	struct mail_addr addr;
	int	notify;			/* PROTO_NOTIFY_* bits, 0 when absent */
	char	orcpt[512];		/* ORCPT=, "addr-type;address" decoded
					 * by dsn_orcpt_decode */
};

enum smtp_param_err {
	SMTP_PARAM_OK = 0,
	SMTP_PARAM_SYNTAX,	/* 501 5.5.4 / 5.1.7 */
	SMTP_PARAM_ADDR,	/* address syntax: 501 5.1.3 or 5.1.7 */
	SMTP_PARAM_ADDR_UTF8,	/* 553 5.6.7 */
	SMTP_PARAM_UNKNOWN,	/* 555 5.5.4 unrecognised parameter */
};

/*
 * smtp_parse_mail - parse "FROM:<path> [params]". utf8_ok says whether
 * SMTPUTF8 was advertised. why gets a static reason on error.
 */
enum smtp_param_err smtp_parse_mail(const char *args, size_t len,
    struct smtp_mail_params *out, const char **why);
/* smtp_parse_rcpt - parse "TO:<path> [params]"; utf8 from MAIL */
enum smtp_param_err smtp_parse_rcpt(const char *args, size_t len, int utf8,
    struct smtp_rcpt_params *out, const char **why);

/*
 * DATA: a strict CRLF state machine. Only <CRLF>.<CRLF> ends the
 * message; a bare CR or LF, a NUL byte or an over-long line marks the
 * message bad but reading goes on to the real end, so the client and
 * the server stay in step and nothing smuggled is taken as a command.
 */
enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_BARE_EOL,	/* bare CR or LF */
	SMTP_DATA_NUL,
	SMTP_DATA_LONG_LINE,
	SMTP_DATA_TOO_BIG,
	SMTP_DATA_TOO_MANY_HOPS,
	SMTP_DATA_HEAD_TOO_BIG,	/* set by the session (smtp_head.h) */
};

#define SMTP_MSGID_MAX	250	/* bytes of a Message-ID kept for the log */

struct smtp_data {
	int	 state;		/* private */
	size_t	 linelen;	/* bytes in the current line so far */
	size_t	 size;		/* message bytes kept (after unstuffing) */
	size_t	 max_size;
	int	 in_headers;
	int	 received;	/* Received: headers seen */
	int	 max_received;
	char	 hdrname[12];	/* start of the current header line */
	size_t	 hdrlen;
	/* the first Message-ID: field's value, unfolded, cut at the max */
	int	 msgid_state;	/* private */
	char	 msgid[SMTP_MSGID_MAX + 1];
	size_t	 msgid_len;
	enum smtp_data_err err;	/* first error seen */
	int	 done;		/* end of data seen */
};

void smtp_data_init(struct smtp_data *d, size_t max_size, int max_received);

/*
 * smtp_data_feed - consume bytes of DATA. Message bytes (CRLF line
 * ends, dot-unstuffed) are passed to emit() in runs, unless an error
 * was seen. Returns the number of bytes consumed: it stops right after
 * the final <CRLF>.<CRLF> (d->done is set), so bytes after it remain
 * with the caller.
 */
size_t smtp_data_feed(struct smtp_data *d, const char *p, size_t len,
    void (*emit)(void *arg, const char *p, size_t len), void *arg);

/*
 * smtp_data_msgid - the value of the message's first Message-ID: header
 * field, without surrounding white space (as the client sent it: not
 * decoded, not checked), "" when it has none
 */
const char *smtp_data_msgid(struct smtp_data *d);

#endif
