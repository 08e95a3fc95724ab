/*
 * smtp_dot.h - what happens to a message between its final dot and the
 * reply: a fixed list of steps run in order (forged
 * Authentication-Results fields removed, inbound authentication,
 * milters, DKIM signing, then the store). A step may answer at once or
 * park the session on something asynchronous (another process, a milter)
 * and call smtp_dot_next when its answer comes; other sessions go on
 * meanwhile. A step that refuses the message replies, ends the
 * transaction and stops the list.
 *
 * Public: smtp_dot_start, smtp_dot_next.
 */
#ifndef SMTP_DOT_H
#define SMTP_DOT_H

struct smtp_session;

enum smtp_dot_rc {
	SMTP_DOT_CONTINUE = 0,	/* done: the next step runs now */
	SMTP_DOT_PARKED,	/* it calls smtp_dot_next when done */
	SMTP_DOT_ENDED,		/* it answered the client; the list stops */
};

/* smtp_dot_start - the message passed DATA's checks: run the steps */
void smtp_dot_start(struct smtp_session *s);

/* smtp_dot_next - an asynchronous step is done: run the rest */
void smtp_dot_next(struct smtp_session *s);

/* the steps; each in the module that owns it */
enum smtp_dot_rc smtp_dot_authres_strip(struct smtp_session *s); /* smtp_session.c */
enum smtp_dot_rc smtp_dot_authres(struct smtp_session *s);	/* smtp_session.c */
enum smtp_dot_rc smtp_dot_dkim_sign(struct smtp_session *s);	/* smtp_session.c */
enum smtp_dot_rc smtp_dot_milter(struct smtp_session *s);	/* smtp_session.c */
enum smtp_dot_rc smtp_dot_store(struct smtp_session *s);	/* smtp_session.c */

#endif
