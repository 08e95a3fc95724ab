/*
 * proto.h - the messages moat's processes send each other.
 *
 * Field order is part of the definition: each message lists its
 * fields in the order they are put and got.
 *
 *   parent ─┬─ smtp  (network, unprivileged, chrooted)
 *           ├─ queue (owns queue.db, local delivery, events)
 *           ├─ auth  (owns the users file, argon2id checks)
 *           └─ ca    (holds the TLS private key, signs for smtp)
 *   smtp <-> queue, smtp <-> auth, smtp <-> ca: socketpairs made by the
 *   parent (see channels[] in src/daemon/parent.c).
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
	 *        with our Received header first); when PROTO_QUEUE_CHUNKs
	 *        came before under the same id, the rest after them
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
	 * smtp -> queue: the next part of a large message while it is being
	 * received, kept in a temporary file until its PROTO_QUEUE_STORE
	 * (same id) commits it; a small message goes in the STORE alone.
	 *   bytes part of the message
	 */
	PROTO_QUEUE_CHUNK,
	/*
	 * smtp -> queue: the message whose chunks came under this id was
	 * abandoned (client gone, refused at the final dot, session ended):
	 * its temporary file goes, nothing is stored. No fields.
	 */
	PROTO_QUEUE_ABORT,
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
	/*
	 * smtp -> queue: ban a client network (a defence decided in smtp,
	 * e.g. repeated AUTH failures), already applied by smtp. The queue
	 * stores it in the bans table; nothing comes back.
	 * queue -> smtp: one ban an admin added or changed (`moat ban add`).
	 * Each ban is one message: applying it costs smtp O(1), whatever
	 * the number of bans.
	 *   str  cidr
	 *   i64  expires (unix seconds, 0 never)
	 *   str  reason
	 *   str  origin ("auth", "harvest", "admin", ...)
	 */
	PROTO_BAN_ADD,
	/*
	 * queue -> mta: deliver one message to the recipients of one
	 * destination domain. id = the queue's job id (echoed in the result).
	 *   str  qid
	 *   i64  created (unix seconds, for the delay in the log)
	 *   str  sender (address, "" for <>)
	 *   str  envid ("" when none)
	 *   u8   ret (PROTO_RET_*)
	 *   u8   flags (PROTO_MSGF_*)
	 *   str  domain (lowercased: the routing key)
	 *   u32  number of recipients (at least 1), then for each:
	 *        u64 recipient row id, str address, str orcpt ("" when
	 *        none), u8 notify bits (PROTO_NOTIFY_*)
	 *   bytes message (CRLF line ends, not dot-stuffed)
	 */
	PROTO_MTA_DELIVER,
	/*
	 * mta -> queue: the outcome of one PROTO_MTA_DELIVER, once every
	 * recipient has one. id = the job id.
	 *   u32  number of recipients (as in the request), then for each:
	 *        u64 recipient row id
	 *        u8  result (PROTO_MTA_OK 2xx, PROTO_MTA_TEMPFAIL 4xx or no
	 *            answer, PROTO_MTA_PERMFAIL 5xx or a permanent routing
	 *            error: null MX, loop, no such domain)
	 *        str reply: the SMTP code, enhanced status and text of the
	 *            peer ("250 2.0.0 ok"), or our own in the same form
	 *        str relay ("host[address]:port", "" when none was reached)
	 */
	PROTO_MTA_RESULT,
	/*
	 * queue -> smtp: the full current list of dynamic bans, sent once
	 * at start (changes follow as PROTO_BAN_ADD and PROTO_BAN_DEL;
	 * expired bans are dropped by each side on its own).
	 *   u32  number of bans, then for each:
	 *        str cidr ("192.0.2.0/24", "2001:db8::/32", host routes /32
	 *            or /128)
	 *        i64 expires (unix seconds, 0 never)
	 */
	PROTO_BANS_CHANGED,
	/*
	 * queue -> smtp, queue -> auth: an account's state changed (admin
	 * `moat user suspend`, or a defence). Sent for every row of the
	 * user_state table at start, then on each change.
	 *   str  user (as authenticated)
	 *   str  state ("active", "held" or "suspended")
	 */
	PROTO_USER_STATE,
	/*
	 * control -> queue, smtp, mta, parent: run one control operation
	 * (src/ctl/ctl_msg.h). id = the control process's request id.
	 *   u32  op (enum ctl_op), already checked by the control process
	 *   u32  uid of the administrator who asked (SO_PEERCRED)
	 *   bytes arguments, encoded by ctl_req_encode
	 */
	PROTO_CTL_REQUEST,
	/*
	 * queue, smtp, mta, parent -> control: the answer. id = the request's.
	 *   bytes answer (ctl_msg.h: status, message, records)
	 */
	PROTO_CTL_ANSWER,
	/*
	 * parent -> children: set one log category's level now (runtime
	 * `moat log CAT LEVEL`; the parent sends the revert when it expires).
	 *   u8   category (enum log_cat)
	 *   u8   level (enum log_level)
	 */
	PROTO_LOG_LEVEL,
	/*
	 * smtp -> ca: one private-key operation of a TLS handshake, on the
	 * smtp side a blocking round trip (src/io/tls_key.c). id = request
	 * id, increasing.
	 *   u32  key id (0: tls_key)
	 *   u8   operation (PROTO_CA_*)
	 *   u32  digest NID (PROTO_CA_RSA_PKCS1), else 0
	 *   bytes input: the digest (PKCS1, ECDSA) or the PSS-encoded block
	 *        of the modulus' size (PROTO_CA_RSA_PSS)
	 */
	PROTO_CA_SIGN,
	/*
	 * ca -> smtp: the answer. id = the request's.
	 *   u8   status (0 signed, 1 refused or failed)
	 *   bytes signature (RSA: modulus size; ECDSA: DER), "" on failure
	 */
	PROTO_CA_SIGNED,
	/*
	 * queue -> smtp: an admin lifted the ban of exactly this network
	 * (`moat ban del`).
	 *   str  cidr
	 */
	PROTO_BAN_DEL,
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
#define PROTO_MSGF_OUTSIDER	4	/* from a client neither authenticated
					 * nor in relay_networks: its DSNs
					 * never carry its content */

#define PROTO_CA_RSA_PKCS1	1	/* PKCS#1 v1.5 over a DigestInfo */
#define PROTO_CA_RSA_PSS	2	/* raw RSA over a well-formed PSS block */
#define PROTO_CA_ECDSA		3	/* ECDSA over a digest, DER signature */

#define PROTO_MTA_OK		0
#define PROTO_MTA_TEMPFAIL	1
#define PROTO_MTA_PERMFAIL	2

#endif
