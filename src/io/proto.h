/*
 * proto.h - the messages moat's processes send each other.
 *
 * Field order is part of the definition: each message lists its
 * fields in the order they are put and got.
 *
 *   parent ─┬─ smtp  (network, unprivileged, chrooted)
 *           ├─ queue (owns queue.db, local delivery, events)
 *           └─ auth  (owns the users file, argon2id checks)
 *   smtp <-> queue, smtp <-> auth: socketpairs made by the parent.
 */
#ifndef MOAT_PROTO_H
#define MOAT_PROTO_H

enum proto_type {
	/*
	 * smtp -> queue: store one message durably.
	 * id = smtp's transaction id.
	 *   str  sender (address, "" for <>)
	 *   str  helo
	 *   str  client_ip
	 *   str  auth_user ("" when none)
	 *   str  listener name
	 *   str  envid ("" when none)
	 *   u8   ret (0 none, 1 FULL, 2 HDRS)
	 *   u8   flags (1 8BITMIME, 2 SMTPUTF8)
	 *   u32  number of recipients, then for each:
	 *        str rcpt address, str orcpt ("" when none), u8 notify bits
	 *        (1 NEVER, 2 SUCCESS, 4 FAILURE, 8 DELAY), str mailbox (the
	 *        local Maildir name when the recipient is local, else "")
	 *   bytes message (headers and body, CRLF line ends, dot-unstuffed,
	 *        with our Received header first)
	 */
	PROTO_QUEUE_STORE = 1,
	/*
	 * queue -> smtp: the outcome of PROTO_QUEUE_STORE.
	 * id = the transaction id from the request.
	 *   u8   status (0 stored durably, 1 temporary failure, 2 disk full)
	 *   str  queue id (when stored) or a reason
	 */
	PROTO_QUEUE_STORED,
	/*
	 * any -> queue: record a security event (events table + log).
	 *   i64  time (unix seconds)
	 *   str  type ("auth_fail", "relay_denied", ...)
	 *   str  client_ip
	 *   str  user ("" when none)
	 *   str  session id
	 *   str  detail
	 */
	PROTO_EVENT,
	/*
	 * smtp -> auth: check a password. id = request id.
	 *   str  mechanism, str user, bytes password, str client_ip
	 */
	PROTO_AUTH_CHECK,
	/*
	 * auth -> smtp: the answer. id = request id.
	 *   u8   result (0 ok, 1 bad credentials, 2 temporary failure)
	 */
	PROTO_AUTH_RESULT,
	/* parent -> children: stop accepting, finish, exit 0. No fields. */
	PROTO_SHUTDOWN,
	/*
	 * parent -> children: a new configuration was loaded.
	 *   bytes the configuration text (already validated by the parent)
	 *   str   the path it came from
	 */
	PROTO_RELOAD,
	/*
	 * parent -> auth: the users file's contents (at start and reload).
	 *   bytes content
	 */
	PROTO_USERS,
	PROTO_MAX
};

#define PROTO_STORE_OK		0
#define PROTO_STORE_TEMPFAIL	1
#define PROTO_STORE_DISKFULL	2

#define PROTO_AUTH_OK		0
#define PROTO_AUTH_BAD		1
#define PROTO_AUTH_TEMPFAIL	2

#define PROTO_RET_NONE		0
#define PROTO_RET_FULL		1
#define PROTO_RET_HDRS		2

#define PROTO_NOTIFY_NEVER	1
#define PROTO_NOTIFY_SUCCESS	2
#define PROTO_NOTIFY_FAILURE	4
#define PROTO_NOTIFY_DELAY	8

#define PROTO_MSGF_8BITMIME	1
#define PROTO_MSGF_SMTPUTF8	2

#endif
