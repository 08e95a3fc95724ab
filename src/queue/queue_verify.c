/*
 * queue_verify.c - the queue process's part of recipient verification
 * (src/lookup/verify.c probes, the lookup process remembers): the
 * answers survive a restart as rows of queue.db's verify_cache table.
 * The lookup process sends each new answer (PROTO_VERIFY_PUT) and asks
 * for all of them when it starts (PROTO_VERIFY_LOAD). Expired rows are
 * deleted on the queue's housekeeping timer. An admin's list and flush
 * are queue_ctl.c's, on the admin's connection.
 *
 * Public: queue_verify_recv, queue_verify_expire.
 *
 * SECURITY: the messages come from the lookup process (a sibling): one
 * that does not decode is fatal. Addresses and replies were a client's
 * and an internal server's; they are bound as SQL parameters
 * (queue_db.c) and escaped when logged.
 * LIMITS: PROTO_ADDR_MAX an address, PROTO_REPLY_MAX a reply.
 */
#include <string.h>
#include <time.h>

#include "io/ipc.h"
#include "io/proto.h"
#include "lib/log.h"
#include "queue/queue_db.h"
#include "queue/queue_verify.h"

struct load_ctx {
	struct ipc_peer	*lookup;
	size_t		 n;
};

static void
load_row_cb(void *arg, const struct queue_verify_row *row)
{
	struct load_ctx *lc = arg;
	struct proto_verify_put vp;
	struct ipc_msg m;

	if (strlen(row->address) >= PROTO_ADDR_MAX ||
	    (row->result != PROTO_VERIFY_FOUND &&
	    row->result != PROTO_VERIFY_NOTFOUND))
		return;		/* not a row of ours */
	vp.address = row->address;
	vp.result = (uint8_t)row->result;
	vp.reply = row->reply;
	vp.expires = row->expires;
	/* a reply cut to what the message holds */
	if (strlen(row->reply) >= PROTO_REPLY_MAX) {
		memcpy(vp.reply_buf, row->reply, PROTO_REPLY_MAX - 1);
		vp.reply_buf[PROTO_REPLY_MAX - 1] = '\0';
		vp.reply = vp.reply_buf;
	}
	proto_verify_put_enc(&m, 0, &vp);
	ipc_send(lc->lookup, &m);
	lc->n++;
}

/* queue_verify_recv - LOAD answered with the live rows, PUT stored */
int
queue_verify_recv(struct queue_db *db, struct ipc_peer *lookup, uint16_t type,
    struct ipc_reader *r)
{
	struct proto_verify_put vp;
	struct queue_verify_row row;
	struct load_ctx lc = { lookup, 0 };
	int64_t now = time(NULL);

	switch (type) {
	case PROTO_VERIFY_LOAD:
		if (proto_empty_dec(r) == -1)
			fatalx("%s: malformed verify load", __func__);
		if (queue_db_verify_load(db, now, load_row_cb, &lc) == 0)
			log_info(LOG_CAT_QUEUE, "event=verify_cache_sent rows=%zu",
			    lc.n);
		return 0;
	case PROTO_VERIFY_PUT:
		if (proto_verify_put_dec(r, &vp) == -1)
			fatalx("%s: malformed verify put", __func__);
		row.address = vp.address;
		row.result = vp.result;
		row.reply = vp.reply;
		row.updated = now;
		row.expires = vp.expires;
		/* lost on a database error: the address is probed again */
		queue_db_verify_put(db, &row);
		return 0;
	default:
		return -1;
	}
}

/* queue_verify_expire - expired rows go */
void
queue_verify_expire(struct queue_db *db)
{
	int64_t deleted;

	if (queue_db_verify_expire(db, time(NULL), &deleted) == 0 &&
	    deleted > 0)
		log_info(LOG_CAT_QUEUE, "event=verify_cache_expired rows=%lld",
		    (long long)deleted);
}
