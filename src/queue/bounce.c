/*
 * bounce.c - build delivery status notifications (RFC 3464): a
 * multipart/report (RFC 6522) with a text part for people, a
 * message/delivery-status part with one block per recipient, and the
 * original message (RET=FULL) or its headers; nothing of it when the
 * message came from an outsider (omit_original: its sender may be
 * forged, and a bounce with its content would be backscatter).
 *
 * Public: bounce_build, bounce_status.
 *
 * Pure: the scheduler gathers what to report, this module only writes
 * the bytes; the unit tests parse the result.
 *
 * SECURITY: the peer's reply text and the addresses end up in header
 * fields: everything but printable ASCII is replaced, lines are never
 * broken by them, and each is cut at BOUNCE_FIELD_MAX. The original
 * message is included as it was received (it is the sender's own),
 * except for an outsider's: its sender may be forged, so nothing of it
 * goes back. RET=HDRS returns header fields only, blank line or not.
 * LIMITS: BOUNCE_FULL_MAX of the original; larger ones return headers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "io/proto.h"
#include "mail/dsn.h"
#include "queue/bounce.h"

/* a string literal, without its NUL */
#define ADDS(e, lit)	evbuffer_add((e), (lit), sizeof(lit) - 1)
#define BOUNCE_FIELD_MAX	800	/* bytes of one untrusted value */

/* printable ASCII only, no CR/LF, cut at BOUNCE_FIELD_MAX */
static void
add_clean(struct evbuffer *b, const char *s)
{
	char buf[BOUNCE_FIELD_MAX + 1];
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n < BOUNCE_FIELD_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	evbuffer_add(b, buf, n);
}

static void
rfc5322_date(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* bounce_status - the enhanced code of a reply, or one from its class */
char *
bounce_status(const char *reply, char *buf, size_t len)
{
	int cls = (reply != NULL && (reply[0] == '4' || reply[0] == '5' ||
	    reply[0] == '2')) ? reply[0] - '0' : 5;
	const char *p;
	int a, b, c, n = 0;

	if (reply != NULL && strlen(reply) > 4 &&
	    (p = reply + 4) && sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 &&
	    n > 0 && (p[n] == ' ' || p[n] == '\0') && a == cls) {
		snprintf(buf, len, "%d.%d.%d", a, b, c);
		return buf;
	}
	snprintf(buf, len, "%d.0.0", cls);
	return buf;
}

/* a header field's first line: 1*ftext ":" (RFC 5322 3.6.8) */
static int
is_field_start(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] >= 33 && p[i] <= 126 && p[i] != ':'; i++)
		;
	return i > 0 && i < n && p[i] == ':';
}

/*
 * The header section of msg: its lines up to and including the empty
 * line. Without an empty line it ends before the first line that is
 * neither a field nor the continuation of one, so a message with no
 * blank line still returns only its header fields (RET=HDRS).
 */
static size_t
header_len(const uint8_t *msg, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const uint8_t *nl = memchr(msg + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		size_t n = end - pos;

		if ((n == 2 && msg[pos] == '\r' && msg[pos + 1] == '\n') ||
		    (n == 1 && msg[pos] == '\n'))
			return end;		/* the empty line */
		if (!(pos > 0 && (msg[pos] == ' ' || msg[pos] == '\t')) &&
		    !is_field_start(msg + pos, n))
			return pos;		/* body text without a blank line */
		pos = end;
	}
	return len;
}

/*
 * Original-Recipient: the decoded ORCPT when it is printable ASCII, else
 * its encoded form (xtext, utf-8-addr-xtext), which is ASCII: never a
 * '?' in place of the address's characters.
 */
static void
add_orcpt(struct evbuffer *e, const char *orcpt)
{
	char enc[BOUNCE_FIELD_MAX + 1];
	const char *p;

	for (p = orcpt; *p != '\0' && *p >= 0x20 && *p < 0x7f; p++)
		;
	ADDS(e, "Original-Recipient: ");
	if (*p == '\0')
		add_clean(e, orcpt);
	else if (dsn_orcpt_encode(orcpt, enc, sizeof(enc)) == DSN_OK)
		add_clean(e, enc);
	else
		add_clean(e, orcpt);
	ADDS(e, "\r\n");
}

/* the whole original goes back (RET=FULL, not too big), not its headers */
static int
original_whole(const struct bounce_info *b)
{
	return b->ret == PROTO_RET_FULL && b->len <= BOUNCE_FULL_MAX;
}

/* the third part: the whole original (RET=FULL, not too big) or its headers */
static void
add_original(struct evbuffer *e, const struct bounce_info *b, const char *bnd)
{
	size_t n = b->len;

	evbuffer_add_printf(e, "--%s\r\n", bnd);
	if (original_whole(b))
		ADDS(e, "Content-Description: Undelivered Message\r\n"
		    "Content-Type: message/rfc822\r\n\r\n");
	else {
		n = header_len(b->msg, b->len);
		ADDS(e, "Content-Description: Undelivered Message "
		    "Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n");
	}
	evbuffer_add(e, b->msg, n);
	if (n < 2 || memcmp(b->msg + n - 2, "\r\n", 2) != 0)
		ADDS(e, "\r\n");
}

/* The message's header: the DSN's own fields, then the MIME preamble. */
static void
add_head(struct evbuffer *e, const struct bounce_info *b, int failed,
    const char *date, const char *bnd)
{
	evbuffer_add_printf(e, "Date: %s\r\n", date);
	evbuffer_add_printf(e, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>\r\n", b->hostname);
	ADDS(e, "To: <");
	add_clean(e, b->sender);
	ADDS(e, ">\r\n");
	evbuffer_add_printf(e, "Subject: %s\r\n", failed ?
	    "Undelivered Mail Returned to Sender" :
	    "Delayed Mail (still being retried)");
	evbuffer_add_printf(e, "Message-ID: <%s.%lld.dsn@%s>\r\n", b->qid,
	    (long long)b->now, b->hostname);
	ADDS(e, "Auto-Submitted: auto-replied\r\n");
	ADDS(e, "MIME-Version: 1.0\r\n");
	evbuffer_add_printf(e, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", bnd);
	ADDS(e, "This is a MIME-encapsulated message.\r\n\r\n");
}

/* Part 1, for people. */
static void
add_notification(struct evbuffer *e, const struct bounce_info *b, int failed,
    const char *bnd)
{
	evbuffer_add_printf(e, "--%s\r\n", bnd);
	ADDS(e, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	evbuffer_add_printf(e, "This is the mail system at host %s.\r\n\r\n",
	    b->hostname);
	/* say what is attached: the message, its header section, nothing */
	if (failed)
		evbuffer_add_printf(e, "Your message could not be delivered "
		    "to one or more recipients.\r\n%s"
		    "This is a permanent error.\r\n\r\n", b->omit_original ?
		    "It came from outside and is not returned. " :
		    original_whole(b) ? "It is attached below. " :
		    b->ret == PROTO_RET_FULL ? "It is too large to return: "
		    "its header section is attached below.\r\n" :
		    "Its header section is attached below, not the whole "
		    "message.\r\n");
	else
		evbuffer_add_printf(e, "Your message could not be delivered "
		    "yet. It is still being retried;\r\nyou need not send it "
		    "again.\r\n\r\n");
	for (size_t i = 0; i < b->n; i++) {
		const struct bounce_rcpt *r = &b->rcpts[i];

		ADDS(e, "<");
		add_clean(e, r->address);
		ADDS(e, ">: ");
		add_clean(e, r->reply);
		ADDS(e, "\r\n");
	}
	ADDS(e, "\r\n");
}

/* The per-recipient fields of the delivery report (RFC 3464 2.3). */
static void
add_rcpt_report(struct evbuffer *e, const struct bounce_rcpt *r,
    const char *date)
{
	char st[32];

	ADDS(e, "\r\nFinal-Recipient: rfc822; ");
	add_clean(e, r->address);
	ADDS(e, "\r\n");
	if (r->orcpt != NULL && r->orcpt[0] != '\0')
		add_orcpt(e, r->orcpt);
	evbuffer_add_printf(e, "Action: %s\r\n", r->delayed ? "delayed" :
	    "failed");
	evbuffer_add_printf(e, "Status: %s\r\n",
	    bounce_status(r->reply, st, sizeof(st)));
	if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
		ADDS(e, "Remote-MTA: dns; ");
		add_clean(e, r->remote_mta);
		ADDS(e, "\r\n");
		ADDS(e, "Diagnostic-Code: smtp; ");
	} else
		ADDS(e, "Diagnostic-Code: X-Moat; ");
	add_clean(e, r->reply);
	ADDS(e, "\r\n");
	evbuffer_add_printf(e, "Last-Attempt-Date: %s\r\n", date);
}

/* Part 2, for machines: message/delivery-status. */
static void
add_report(struct evbuffer *e, const struct bounce_info *b, const char *date,
    const char *bnd)
{
	char arrival[64];

	rfc5322_date(b->arrival, arrival, sizeof(arrival));
	evbuffer_add_printf(e, "--%s\r\n", bnd);
	ADDS(e, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	evbuffer_add_printf(e, "Reporting-MTA: dns; %s\r\n", b->hostname);
	evbuffer_add_printf(e, "X-Moat-Queue-ID: %s\r\n", b->qid);
	if (b->envid != NULL && b->envid[0] != '\0') {
		ADDS(e, "Original-Envelope-Id: ");
		add_clean(e, b->envid);
		ADDS(e, "\r\n");
	}
	evbuffer_add_printf(e, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < b->n; i++)
		add_rcpt_report(e, &b->rcpts[i], date);
	ADDS(e, "\r\n");
}

/* bounce_build - the DSN message for b */
int
bounce_build(const struct bounce_info *b, char **out, size_t *outlen)
{
	struct evbuffer *e;
	char date[64], bnd[96];
	size_t n;
	int failed = 0;

	*out = NULL;
	*outlen = 0;
	if ((e = evbuffer_new()) == NULL)
		return -1;
	for (size_t i = 0; i < b->n; i++)
		failed += !b->rcpts[i].delayed;
	rfc5322_date(b->now, date, sizeof(date));
	snprintf(bnd, sizeof(bnd), "%s.%lld/%s", b->qid, (long long)b->now,
	    b->hostname);
	add_head(e, b, failed, date, bnd);
	add_notification(e, b, failed, bnd);
	add_report(e, b, date, bnd);
	/* 3: the original, or its headers, unless it is left out */
	if (!b->omit_original)
		add_original(e, b, bnd);
	evbuffer_add_printf(e, "\r\n--%s--\r\n", bnd);

	n = evbuffer_get_length(e);
	if ((*out = malloc(n + 1)) == NULL) {
		evbuffer_free(e);
		return -1;
	}
	evbuffer_remove(e, *out, n);
	(*out)[n] = '\0';
	*outlen = n;
	evbuffer_free(e);
	return 0;
}
