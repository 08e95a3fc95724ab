/*
 * bounce.h - delivery status notifications (RFC 3464, RFC 6522).
 */
#ifndef MOAT_BOUNCE_H
#define MOAT_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#define BOUNCE_FULL_MAX	(1024 * 1024)	/* larger originals: headers only */

/* One recipient to report. Views, owned by the caller. */
struct bounce_rcpt {
	const char	*address;
	const char	*orcpt;		/* "type;addr" from ORCPT, NULL or "" */
	const char	*reply;		/* "550 5.1.1 text" or our own reason */
	const char	*remote_mta;	/* host name, NULL or "" when none */
	int		 delayed;	/* 1: Action delayed, 0: failed */
};

/* What a DSN is about. Views, owned by the caller. */
struct bounce_info {
	const char	*hostname;	/* ours: Reporting-MTA, From */
	const char	*qid;		/* of the original message */
	const char	*sender;	/* the original envelope sender: To */
	const char	*envid;		/* NULL or "" */
	int		 ret;		/* PROTO_RET_*: FULL returns the whole,
					 * else the header section */
	int		 omit_original;	/* 1: none of the original at all (it
					 * came from an outsider: the sender
					 * address may be forged) */
	int64_t		 arrival;	/* unix time the original came in */
	int64_t		 now;
	const uint8_t	*msg;		/* the original, CRLF */
	size_t		 len;
	const struct bounce_rcpt *rcpts;
	size_t		 n;
};

/*
 * bounce_build - the whole DSN message (headers and body, CRLF) in a
 * new buffer *out of *outlen bytes (free it). Returns 0, -1 on ENOMEM.
 */
int bounce_build(const struct bounce_info *b, char **out, size_t *outlen);

/*
 * bounce_status - the enhanced status code ("5.1.1") of a reply, or
 * one made from its class ("5.0.0", "4.0.0") into buf. Returns buf.
 */
char *bounce_status(const char *reply, char *buf, size_t len);

#endif
