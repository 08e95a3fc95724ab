/*
 * sendmail_msg.h - a message read by moat sendmail, made ready for
 * SMTP: a pure function over the bytes of standard input.
 */
#ifndef MOAT_SENDMAIL_MSG_H
#define MOAT_SENDMAIL_MSG_H

#include <stddef.h>

#define SMSG_LINE_MAX	998		/* octets a line, CRLF apart (RFC 5322) */
#define SMSG_RCPTS_MAX	1000		/* recipients taken from the header */
#define SMSG_ADDR_MAX	512

/* what smsg_prepare makes; smsg_free releases it */
struct smsg {
	char	*data;			/* CRLF lines, dot-stuffed, without
					 * the final "." line, a NUL after
					 * them; owned */
	size_t	 len;
	size_t	 lines;
	int	 eightbit;		/* a byte over 0x7f */
	int	 has_from, has_date, has_msgid;	/* header fields present */
	char	**rcpts;		/* -t: To, Cc, Bcc; owned */
	size_t	 n_rcpts;
};

#define SMSG_F_DOT_ENDS	0x01		/* a lone "." ends the message (no -i) */
#define SMSG_F_HEADER_RCPTS 0x02	/* -t: collect To, Cc, Bcc; drop Bcc */

/*
 * smsg_prepare - in/len as read (LF or CRLF line ends, the last line
 * with or without one) into m: every line ends in CRLF, a line that
 * starts with "." gets another, Bcc: goes (with its continuation lines)
 * when SMSG_F_HEADER_RCPTS. 0, or -1 with a message naming the line in
 * err: a line over SMSG_LINE_MAX, a NUL, a CR not followed by LF, a
 * message with nothing but empty lines, a recipient that cannot be one.
 */
int smsg_prepare(const char *in, size_t len, int flags, struct smsg *m,
    char *err, size_t errlen);

/*
 * smsg_addr_list - the addresses of one address-list header value
 * (RFC 5322 3.4: display names, comments, quoted strings, groups) are
 * appended to m->rcpts. -1 with err set on a bad or too long address.
 */
int smsg_addr_list(struct smsg *m, const char *v, size_t len, char *err,
    size_t errlen);

void smsg_free(struct smsg *m);

#endif
