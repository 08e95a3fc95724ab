/*
 * qid.h - queue ids: 12 hex digits, 28 bits of the time in seconds
 * (repeats every 8.5 years) then a 20-bit counter that starts at a random
 * value. Ids sort by time. The smtp process names a message when its
 * DATA begins, so the Received field and the client's 250 carry the id
 * the queue keeps; the queue names what it makes itself (bounces). The
 * counter's top bit tells the two apart, so they never collide; a
 * restart within the same second collides only by chance, and the
 * queue's UNIQUE column catches that.
 *
 * Public: qid_make, qid_valid.
 */
#ifndef MOAT_QID_H
#define MOAT_QID_H

#include <stdint.h>

#define QID_LEN		12	/* hex digits */
#define QID_SIZE	(QID_LEN + 1)

enum qid_origin {
	QID_QUEUE = 0,		/* made by the queue process */
	QID_SMTP = 1,		/* chosen by the smtp process */
};

void qid_make(char out[QID_SIZE], int64_t now, uint32_t counter,
    enum qid_origin origin);

/* qid_valid - 12 lowercase hex digits */
int qid_valid(const char *s);

#endif
