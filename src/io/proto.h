/*
 * proto.h - the messages moat's processes send each other, and their
 * codecs (src/io/proto.c: one encoder and one decoder per message).
 *
 * Field order is part of the definition: each message lists its
 * fields in the order they are put and got.
 *
 *   parent ─┬─ smtp    (network, unprivileged, chrooted)
 *           ├─ queue   (owns queue.db, local delivery, events, scheduler)
 *           ├─ auth    (owns the users file, argon2id checks)
 *           ├─ mta     (outbound delivery)
 *           ├─ control (the admin socket, metrics)
 *           ├─ ca      (holds the TLS private key, signs for smtp)
 *           └─ lookup  (does a recipient exist: tables, LDAP, probes)
 *   smtp <-> queue, smtp <-> auth, smtp <-> ca, smtp <-> lookup,
 *   queue <-> mta, lookup <-> queue, control <-> queue, control <-> smtp:
 *   socketpairs made by the parent
 *   (see channels[] in src/daemon/parent.c).
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
	 *   str  qid (the queue id smtp chose when DATA began; the queue
	 *        keeps it unless it is taken)
	 *   u8   ret (0 none, 1 FULL, 2 HDRS)
	 *   u8   flags (PROTO_MSGF_*)
	 *   u32  number of recipients, then for each:
	 *        str rcpt address, str orcpt ("" when none), u8 notify bits
	 *        (1 NEVER, 2 SUCCESS, 4 FAILURE, 8 DELAY), str mailbox (the
	 *        local Maildir name when the recipient is local, else "")
	 *   bytes header section (our Received field first, then the
	 *        client's fields and the empty line that ended them, as the
	 *        steps at the dot left them: smtp_head.h)
	 *   bytes body (CRLF line ends, dot-unstuffed); when
	 *        PROTO_QUEUE_CHUNKs of the body came before under the same
	 *        id, the rest after them
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
	 * parent -> auth: a users file's contents (at start, reload and
	 * after a change).
	 *   bytes content
	 *   u8   which file (PROTO_USERS_MAIL: users_file, AUTH;
	 *        PROTO_USERS_CONSOLE: console_users, the web console)
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
	 * control -> queue, smtp, parent: run one control operation
	 * (src/ctl/ctl_msg.h). id = the control process's request id.
	 *   u32  op (enum ctl_op), already checked by the control process
	 *   u32  uid of the administrator who asked (SO_PEERCRED)
	 *   str  "" from the control socket; "console:LOGIN" from the web
	 *        console (the uid is then the daemon's own)
	 *   bytes arguments, encoded by ctl_req_encode
	 */
	PROTO_CTL_REQUEST,
	/*
	 * queue, smtp, parent -> control: the answer. id = the request's.
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
	/*
	 * smtp -> lookup: does this recipient exist? id = the session id.
	 *   u32  seq (per session; the answer carries it back, a stale
	 *        answer is dropped)
	 *   str  rcpt (addr_format's output)
	 *   str  local (the local part, unquoted, as the client gave it:
	 *        the lookup process lowercases it)
	 *   str  domain ("" for a bare <postmaster>)
	 *   u8   kind (PROTO_LOOKUP_LOCAL, PROTO_LOOKUP_ROUTED)
	 */
	PROTO_LOOKUP_RCPT,
	/*
	 * lookup -> smtp: the answer. id = the session id.
	 *   u32  seq (the request's)
	 *   u8   answer (PROTO_LOOKUP_FOUND, _NOTFOUND, _TEMPFAIL)
	 *   str  why (for the log: "ldap: timeout", "" when nothing to say)
	 *   u32  number of targets (FOUND: 1..LOOKUP_TARGETS_MAX, else 0),
	 *        then for each: str address, str mailbox (the local Maildir,
	 *        "" when the target is relayed)
	 */
	PROTO_LOOKUP_RESULT,
	/*
	 * lookup -> queue: send me the recipient verification cache (at
	 * the lookup process's start). The queue answers with one
	 * PROTO_VERIFY_PUT per row that has not expired. No fields.
	 */
	PROTO_VERIFY_LOAD,
	/*
	 * lookup -> queue: store one verification result (the row of that
	 * address is replaced). queue -> lookup: one cached row, in answer
	 * to PROTO_VERIFY_LOAD.
	 *   str  address (as written in the probe's RCPT TO)
	 *   u8   result (PROTO_VERIFY_FOUND or PROTO_VERIFY_NOTFOUND)
	 *   str  reply (the internal server's answer to RCPT, "250 2.1.5 ok")
	 *   i64  expires (unix seconds)
	 */
	PROTO_VERIFY_PUT,
	/*
	 * queue -> lookup: an admin flushed the verification cache
	 * (`moat verify flush [ADDR]`): forget that address, or all of
	 * them when it is "".
	 *   str  address
	 */
	PROTO_VERIFY_FLUSH = 26,
	/*
	 * child -> parent: up. Once when the child serves (smtp: its
	 * listeners accept; queue: queue.db is open), then once for every
	 * PROTO_RELOAD, when the child has applied what it could.
	 *   u8   what (PROTO_READY_START, PROTO_READY_RELOAD)
	 *   u8   ok (1: all applied; 0: note says what was not)
	 *   str  note ("" none)
	 */
	PROTO_READY = 27,
	/*
	 * parent -> smtp, queue: a request for the counts (both -1);
	 * smtp, queue -> parent: the answer, -1 for what it does not keep.
	 *   i64  sessions (smtp: open sessions)
	 *   i64  queued (queue: messages in queue.db)
	 */
	PROTO_COUNTS = 28,
	/*
	 * A new generation of the server's TLS certificates (a reload).
	 * parent's key loader -> ca, on ca's keys socket: the private keys;
	 * parent -> smtp, once ca has them: the certificate chains. Pair i
	 * of generation g is key id g * PROTO_TLS_PAIRS_MAX + i in CA_SIGN.
	 *   u32  generation
	 *   u32  count (1..PROTO_TLS_PAIRS_MAX), then for each:
	 *        bytes PEM (a key for ca, a chain for smtp)
	 */
	PROTO_TLS_KEYS = 29,
	/*
	 * A generation's state. ca -> parent: its keys are loaded (or
	 * not); smtp -> ca (on their signing socket) and parent -> ca: no
	 * session uses it any more, drop its keys.
	 *   u32  generation
	 *   u8   state (PROTO_TLS_LOADED, PROTO_TLS_FAILED, PROTO_TLS_RETIRED)
	 *   str  error ("" unless FAILED)
	 */
	PROTO_TLS_GEN = 30,
	/*
	 * smtp -> parent: who is the user of a local submission session
	 * (moat sendmail)? id = the session's id. The uid and gid are the
	 * peer's, from SO_PEERCRED on the accepted socket.
	 *   u32  uid
	 *   u32  gid
	 */
	PROTO_LOCAL_IDENT = 31,
	/*
	 * parent -> smtp: the answer. id = the session's id.
	 *   u8   verdict (PROTO_LOCAL_OK, PROTO_LOCAL_DENIED: not in
	 *        submit_users)
	 *   str  login name of the uid, "" when the uid has none
	 */
	PROTO_LOCAL_IDENTIFIED = 32,
	/*
	 * control -> auth: check a web console login against console_users.
	 * id = request id. The password is wiped by both after use.
	 *   str  user
	 *   bytes password ("" with certificate)
	 *   str  client_ip
	 *   u8   certificate: 1 when no password is checked because the
	 *        client's certificate, verified against console_client_ca
	 *        in the TLS handshake, names user; auth answers OK when
	 *        console_users has user
	 */
	PROTO_CONSOLE_LOGIN = 33,
	/*
	 * auth -> control: the answer. id = the request's.
	 *   u8   result (PROTO_AUTH_OK, PROTO_AUTH_BAD, PROTO_AUTH_TEMPFAIL)
	 */
	PROTO_CONSOLE_RESULT = 34,
	/*
	 * smtp -> queue: what smtp counted since its last PROTO_SERIES,
	 * for the queue's time series (queue_series.c); sent at most once
	 * a second, only when something was counted.
	 *   u32  rejections (refusals of every reason, `moat stats`' kinds)
	 *   u32  auth_failures
	 */
	PROTO_SERIES = 35,
	/*
	 * mta -> queue: the outcome of one check of the own addresses on
	 * the DNS blacklists (blacklist_watch). id = 0 for a periodic
	 * check, else the PROTO_DNSBL_CHECK's id.
	 *   i64  time the check began (unix seconds)
	 *   u32  number of results (address x zone), then for each:
	 *        str address (canonical), str zone,
	 *        u8  status (PROTO_DNSBL_CLEAN, _LISTED, _ERROR)
	 *        str answer (the A records of a listing, "127.0.0.2,...";
	 *            the error of an error; "" when clean)
	 *        str reason (the TXT record of a listing, "" none)
	 */
	PROTO_DNSBL_RESULT = 36,
	/*
	 * ca -> smtp, at start, one per DKIM signing key (dkim_sign) in
	 * the configuration's order. id = the key id of PROTO_DKIM_SIGN
	 * (0, 1, ...). The key itself never leaves ca.
	 *   str  domain (lowercased)
	 *   str  selector
	 *   u8   algorithm (PROTO_DKIM_RSA_SHA256, _ED25519_SHA256)
	 */
	PROTO_DKIM_KEY = 37,
	/*
	 * smtp -> ca: sign one DKIM header hash. id = request id.
	 *   u32  key id (index in PROTO_DKIM_KEYS)
	 *   bytes the SHA-256 of the canonical signed header fields (32)
	 */
	PROTO_DKIM_SIGN = 38,
	/*
	 * ca -> smtp: the answer. id = the request's.
	 *   u32  key id
	 *   u8   status (0 signed, 1 failed)
	 *   bytes signature ("" on failure)
	 */
	PROTO_DKIM_SIGNED = 39,
	/*
	 * queue -> mta: check the own addresses now (`moat blacklist
	 * check`); answered by a PROTO_DNSBL_RESULT with the same id. No
	 * fields.
	 */
	PROTO_DNSBL_CHECK = 40,
	/* 41..44: free */
	/*
	 * smtp -> queue: a user authenticated, sent before the 235 reply,
	 * so that the queue judges the login before any message of the
	 * session reaches it (quarantine_after_guessing).
	 *   str  user
	 *   str  client_ip
	 *   str  session
	 */
	PROTO_AUTH_LOGIN = 45,
	PROTO_MAX
};

#define PROTO_TLS_PAIRS_MAX	16	/* CONF_TLS_PAIRS_MAX */
#define PROTO_TLS_LOADED	0
#define PROTO_TLS_FAILED	1
#define PROTO_TLS_RETIRED	2

#define PROTO_LOCAL_OK		0
#define PROTO_LOCAL_DENIED	1

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
#define PROTO_MSGF_HOLD		8	/* store it held (a milter's
					 * quarantine, DMARC quarantine) */
#define PROTO_MSGF_OUTSIDER	4	/* from a client neither authenticated
					 * nor in relay_networks: its DSNs
					 * never carry its content */

#define PROTO_DKIM_RSA_SHA256	0	/* = enum dkim_alg */
#define PROTO_DKIM_ED25519_SHA256 1

#define PROTO_CA_RSA_PKCS1	1	/* PKCS#1 v1.5 over a DigestInfo */
#define PROTO_CA_RSA_PSS	2	/* raw RSA over a well-formed PSS block */
#define PROTO_CA_ECDSA		3	/* ECDSA over a digest, DER signature */

#define PROTO_LOOKUP_LOCAL	0	/* a local domain, or "" (postmaster) */
#define PROTO_LOOKUP_ROUTED	1	/* a routed (internal) domain */

#define PROTO_LOOKUP_FOUND	0
#define PROTO_LOOKUP_NOTFOUND	1
#define PROTO_LOOKUP_TEMPFAIL	2

#define PROTO_LOOKUP_TARGETS_MAX 1000	/* targets of one answer */

#define PROTO_VERIFY_FOUND	0	/* the internal server said 2xx */
#define PROTO_VERIFY_NOTFOUND	1	/* it said 5xx */

#define PROTO_READY_START	0
#define PROTO_READY_RELOAD	1

#define PROTO_MTA_OK		0
#define PROTO_MTA_TEMPFAIL	1
#define PROTO_MTA_PERMFAIL	2

/*
 * The codecs (proto.c): one struct per message, its encoder and its
 * decoder. An encoder starts the ipc_msg (the caller sends or discards
 * it); a message with a list has an encoder for its head, one for each
 * item and, where it ends with a message body, one for the body. A
 * decoder returns 0, or -1 when a field ran short or was malformed or
 * bytes were left over (what to do then is the caller's: fatal from a
 * sibling). Decoded strings point into the struct's own buffers (a
 * string longer than its buffer is malformed); decoded bytes are views
 * into the frame, valid while the frame is.
 */
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct ipc_msg;
struct ipc_peer;
struct ipc_reader;

#define PROTO_STR_MAX	4096	/* a string of a queue or mta message,
				 * NUL included */
#define PROTO_PATH_MAX	1024	/* a configuration path (CONF_PATH_MAX) */
#define PROTO_CIDR_MAX	80	/* a network in a ban */
#define PROTO_REASON_MAX 256	/* a ban's reason */
#define PROTO_ORIGIN_MAX 64	/* a ban's origin */
#define PROTO_QID_MAX	128	/* a queue id or the reason of a failed store */
#define PROTO_USER_MAX	256	/* a user name (USERS_NAME_MAX + 1) */
#define PROTO_STATE_MAX	32	/* an account state */
#define PROTO_MECH_MAX	16	/* an AUTH mechanism */
#define PROTO_IP_MAX	64	/* a client address */
#define PROTO_REPLY_MAX	1024	/* an mta result's reply */
#define PROTO_RELAY_MAX	512	/* an mta result's relay */
#define PROTO_ADDR_MAX	512	/* an address or a part of one (lookup) */

/* PROTO_QUEUE_STORE: the head, then nrcpt recipients, then the body */
struct proto_store {
	const char	*sender, *helo, *client_ip, *auth_user, *listener;
	const char	*envid;
	const char	*qid;		/* the id smtp chose */
	uint8_t		 ret, flags;
	uint32_t	 nrcpt;		/* the decoder refuses 0 */
	char		 buf[7][PROTO_STR_MAX];	/* decoded strings */
};
struct proto_store_rcpt {
	const char	*address, *orcpt;
	uint8_t		 notify;
	const char	*mailbox;
	char		 buf[3][PROTO_STR_MAX];
};
void proto_store_enc(struct ipc_msg *, uint64_t id, const struct proto_store *);
void proto_store_rcpt_enc(struct ipc_msg *, const struct proto_store_rcpt *);
int proto_store_dec(struct ipc_reader *, struct proto_store *);
int proto_store_rcpt_dec(struct ipc_reader *, struct proto_store_rcpt *);

/* the header section of PROTO_QUEUE_STORE, after its recipients */
void proto_store_head_enc(struct ipc_msg *, const void *, size_t);
int proto_store_head_dec(struct ipc_reader *, const uint8_t **, size_t *);

/* the body that ends PROTO_QUEUE_STORE and PROTO_MTA_DELIVER */
void proto_body_enc(struct ipc_msg *, struct evbuffer *);	/* drains it */
void proto_body_enc_bytes(struct ipc_msg *, const void *, size_t);
int proto_body_dec(struct ipc_reader *, const uint8_t **, size_t *);

/* PROTO_QUEUE_STORED */
struct proto_stored {
	uint8_t		 status;	/* PROTO_STORE_* */
	const char	*text;		/* queue id or reason */
	char		 buf[PROTO_QID_MAX];
};
void proto_stored_enc(struct ipc_msg *, uint64_t id, const struct proto_stored *);
int proto_stored_dec(struct ipc_reader *, struct proto_stored *);

/* PROTO_QUEUE_CHUNK */
struct proto_chunk {
	const uint8_t	*data;
	size_t		 len;
};
void proto_chunk_enc(struct ipc_msg *, uint64_t id, struct evbuffer *);
int proto_chunk_dec(struct ipc_reader *, struct proto_chunk *);

/* PROTO_QUEUE_ABORT, PROTO_SHUTDOWN: no fields */
void proto_empty_enc(struct ipc_msg *, uint16_t type, uint64_t id);
int proto_empty_dec(struct ipc_reader *);

/* PROTO_EVENT */
struct proto_event {
	int64_t		 time;
	const char	*type, *client_ip, *user, *session, *detail;
	char		 buf[5][PROTO_STR_MAX];
};
void proto_event_enc(struct ipc_msg *, uint64_t id, const struct proto_event *);
int proto_event_dec(struct ipc_reader *, struct proto_event *);
/* proto_event_send - a PROTO_EVENT stamped with the time now, sent */
void proto_event_send(struct ipc_peer *, const char *type, const char *ip,
    const char *user, const char *session, const char *detail);

/* PROTO_AUTH_CHECK */
struct proto_auth_check {
	const char	*mech, *user;
	const uint8_t	*pass;
	size_t		 passlen;
	const char	*client_ip;
	char		 mech_buf[PROTO_MECH_MAX], user_buf[PROTO_USER_MAX];
	char		 ip_buf[PROTO_IP_MAX];
};
void proto_auth_check_enc(struct ipc_msg *, uint64_t id,
    const struct proto_auth_check *);
int proto_auth_check_dec(struct ipc_reader *, struct proto_auth_check *);

/* PROTO_CONSOLE_LOGIN */
struct proto_console_login {
	const char	*user;
	const uint8_t	*pass;
	size_t		 passlen;
	const char	*client_ip;
	uint8_t		 certificate;	/* 1: a client certificate's login */
	char		 user_buf[PROTO_USER_MAX], ip_buf[PROTO_IP_MAX];
};
void proto_console_login_enc(struct ipc_msg *, uint64_t id,
    const struct proto_console_login *);
int proto_console_login_dec(struct ipc_reader *, struct proto_console_login *);
/* PROTO_CONSOLE_RESULT: struct proto_auth_result */
struct proto_auth_result;
void proto_console_result_enc(struct ipc_msg *, uint64_t id,
    const struct proto_auth_result *);
int proto_console_result_dec(struct ipc_reader *, struct proto_auth_result *);

/* PROTO_AUTH_RESULT */
struct proto_auth_result {
	uint8_t		 result;	/* PROTO_AUTH_* */
};
void proto_auth_result_enc(struct ipc_msg *, uint64_t id,
    const struct proto_auth_result *);
int proto_auth_result_dec(struct ipc_reader *, struct proto_auth_result *);

/* PROTO_RELOAD */
struct proto_reload {
	const uint8_t	*text;
	size_t		 len;
	const char	*path;
	char		 path_buf[PROTO_PATH_MAX];
};
void proto_reload_enc(struct ipc_msg *, uint64_t id, const struct proto_reload *);
int proto_reload_dec(struct ipc_reader *, struct proto_reload *);

/* PROTO_USERS */
#define PROTO_USERS_MAIL	0
#define PROTO_USERS_CONSOLE	1
struct proto_users {
	const uint8_t	*text;
	size_t		 len;
	uint8_t		 which;		/* PROTO_USERS_* */
};
void proto_users_enc(struct ipc_msg *, uint64_t id, const struct proto_users *);
int proto_users_dec(struct ipc_reader *, struct proto_users *);

/* PROTO_BAN_ADD */
struct proto_ban {
	const char	*cidr;
	int64_t		 expires;
	const char	*reason, *origin;
	char		 cidr_buf[PROTO_CIDR_MAX], reason_buf[PROTO_REASON_MAX];
	char		 origin_buf[PROTO_ORIGIN_MAX];
};
void proto_ban_enc(struct ipc_msg *, uint64_t id, const struct proto_ban *);
int proto_ban_dec(struct ipc_reader *, struct proto_ban *);

/* PROTO_BAN_DEL */
struct proto_ban_del {
	const char	*cidr;
	char		 cidr_buf[PROTO_CIDR_MAX];
};
void proto_ban_del_enc(struct ipc_msg *, uint64_t id,
    const struct proto_ban_del *);
int proto_ban_del_dec(struct ipc_reader *, struct proto_ban_del *);

/*
 * PROTO_BANS_CHANGED: the items are encoded apart (proto_bans_item_enc
 * into a message of type 0), then moved behind their count.
 */
struct proto_bans_item {
	const char	*cidr;
	int64_t		 expires;
	char		 cidr_buf[PROTO_CIDR_MAX];
};
void proto_bans_enc(struct ipc_msg *, uint64_t id, uint32_t n,
    struct ipc_msg *items);
void proto_bans_item_enc(struct ipc_msg *items, const struct proto_bans_item *);
int proto_bans_dec(struct ipc_reader *, uint32_t *n);
int proto_bans_item_dec(struct ipc_reader *, struct proto_bans_item *);

/* PROTO_MTA_DELIVER: the head, then nrcpt recipients, then the body */
struct proto_deliver {
	const char	*qid;
	int64_t		 created;
	const char	*sender, *envid;
	uint8_t		 ret, flags;
	const char	*domain;
	uint32_t	 nrcpt;		/* the decoder refuses 0 */
	char		 buf[4][PROTO_STR_MAX];
};
struct proto_deliver_rcpt {
	uint64_t	 id;
	const char	*address, *orcpt;
	uint8_t		 notify;
	char		 buf[2][PROTO_STR_MAX];
};
void proto_deliver_enc(struct ipc_msg *, uint64_t id,
    const struct proto_deliver *);
void proto_deliver_rcpt_enc(struct ipc_msg *, const struct proto_deliver_rcpt *);
int proto_deliver_dec(struct ipc_reader *, struct proto_deliver *);
int proto_deliver_rcpt_dec(struct ipc_reader *, struct proto_deliver_rcpt *);

/* PROTO_MTA_RESULT: the count, then one item each, then proto_end_dec */
struct proto_result_rcpt {
	uint64_t	 id;
	uint8_t		 result;	/* PROTO_MTA_* */
	const char	*reply, *relay;
	char		 reply_buf[PROTO_REPLY_MAX], relay_buf[PROTO_RELAY_MAX];
};
void proto_result_enc(struct ipc_msg *, uint64_t id, uint32_t n);
void proto_result_rcpt_enc(struct ipc_msg *, const struct proto_result_rcpt *);
int proto_result_dec(struct ipc_reader *, uint32_t *n);
int proto_result_rcpt_dec(struct ipc_reader *, struct proto_result_rcpt *);
/* proto_end_dec - 0 when nothing is left of a message with a list */
int proto_end_dec(struct ipc_reader *);

/* PROTO_LOCAL_IDENT */
struct proto_local_ident {
	uint32_t	 uid, gid;
};
void proto_local_ident_enc(struct ipc_msg *, uint64_t id,
    const struct proto_local_ident *);
int proto_local_ident_dec(struct ipc_reader *, struct proto_local_ident *);

/* PROTO_LOCAL_IDENTIFIED */
struct proto_local_identified {
	uint8_t		 verdict;	/* PROTO_LOCAL_* */
	const char	*login;
	char		 login_buf[PROTO_USER_MAX];
};
void proto_local_identified_enc(struct ipc_msg *, uint64_t id,
    const struct proto_local_identified *);
int proto_local_identified_dec(struct ipc_reader *,
    struct proto_local_identified *);

/* PROTO_USER_STATE */
struct proto_user_state {
	const char	*user, *state;
	char		 user_buf[PROTO_USER_MAX], state_buf[PROTO_STATE_MAX];
};
void proto_user_state_enc(struct ipc_msg *, uint64_t id,
    const struct proto_user_state *);
int proto_user_state_dec(struct ipc_reader *, struct proto_user_state *);

/* PROTO_CTL_REQUEST: args is encoded by ctl_req_encode */
#define PROTO_ADMIN_MAX	80
struct proto_ctl_request {
	uint32_t	 op, uid;
	const char	*admin;		/* "" or "console:LOGIN" */
	const uint8_t	*args;		/* decoded */
	size_t		 len;
	char		 admin_buf[PROTO_ADMIN_MAX];
};
void proto_ctl_request_enc(struct ipc_msg *, uint64_t id, uint32_t op,
    uint32_t uid, const char *admin, struct evbuffer *args);	/* drains args */
int proto_ctl_request_dec(struct ipc_reader *, struct proto_ctl_request *);

/* PROTO_CTL_ANSWER */
struct proto_ctl_answer {
	const uint8_t	*data;
	size_t		 len;
};
void proto_ctl_answer_enc(struct ipc_msg *, uint64_t id, struct evbuffer *);
int proto_ctl_answer_dec(struct ipc_reader *, struct proto_ctl_answer *);

/* PROTO_LOG_LEVEL (the decoder does not check the ranges) */
struct proto_log_level {
	uint8_t		 cat, level;
};
void proto_log_level_enc(struct ipc_msg *, uint64_t id,
    const struct proto_log_level *);
int proto_log_level_dec(struct ipc_reader *, struct proto_log_level *);

/* PROTO_CA_SIGN */
struct proto_ca_sign {
	uint32_t	 key_id;
	uint8_t		 op;		/* PROTO_CA_* */
	uint32_t	 md_nid;
	const uint8_t	*in;
	size_t		 inlen;
};
void proto_ca_sign_enc(struct ipc_msg *, uint64_t id,
    const struct proto_ca_sign *);
int proto_ca_sign_dec(struct ipc_reader *, struct proto_ca_sign *);

/* PROTO_CA_SIGNED */
struct proto_ca_signed {
	uint8_t		 status;	/* 0 signed */
	const uint8_t	*sig;
	size_t		 siglen;
};
void proto_ca_signed_enc(struct ipc_msg *, uint64_t id,
    const struct proto_ca_signed *);
int proto_ca_signed_dec(struct ipc_reader *, struct proto_ca_signed *);

/* PROTO_TLS_KEYS */
struct proto_tls_keys {
	uint32_t	 gen;
	uint32_t	 count;
	struct {
		const uint8_t	*pem;
		size_t		 len;
	}		 item[PROTO_TLS_PAIRS_MAX];
};
void proto_tls_keys_enc(struct ipc_msg *, uint64_t id,
    const struct proto_tls_keys *);
int proto_tls_keys_dec(struct ipc_reader *, struct proto_tls_keys *);

/* PROTO_TLS_GEN */
struct proto_tls_gen {
	uint32_t	 gen;
	uint8_t		 state;		/* PROTO_TLS_* */
	char		 error[512];
};
void proto_tls_gen_enc(struct ipc_msg *, uint64_t id,
    const struct proto_tls_gen *);
int proto_tls_gen_dec(struct ipc_reader *, struct proto_tls_gen *);

/* PROTO_DKIM_KEY */
#define PROTO_DKIM_KEYS_MAX	64
struct proto_dkim_key {
	const char	*domain;
	const char	*selector;
	uint8_t		 alg;
	char		 buf[2][256];
};
void proto_dkim_key_enc(struct ipc_msg *, uint64_t id,
    const struct proto_dkim_key *);
int proto_dkim_key_dec(struct ipc_reader *, struct proto_dkim_key *);

/* PROTO_DKIM_SIGN */
struct proto_dkim_sign {
	uint32_t	 key_id;
	const uint8_t	*digest;
	size_t		 digestlen;
};
void proto_dkim_sign_enc(struct ipc_msg *, uint64_t id,
    const struct proto_dkim_sign *);
int proto_dkim_sign_dec(struct ipc_reader *, struct proto_dkim_sign *);

/* PROTO_DKIM_SIGNED */
struct proto_dkim_signed {
	uint32_t	 key_id;
	uint8_t		 status;	/* 0 signed */
	const uint8_t	*sig;
	size_t		 siglen;
};
void proto_dkim_signed_enc(struct ipc_msg *, uint64_t id,
    const struct proto_dkim_signed *);
int proto_dkim_signed_dec(struct ipc_reader *, struct proto_dkim_signed *);

/* PROTO_LOOKUP_RCPT */
struct proto_lookup_rcpt {
	uint32_t	 seq;
	const char	*rcpt, *local, *domain;
	uint8_t		 kind;		/* PROTO_LOOKUP_LOCAL, _ROUTED */
	char		 buf[3][PROTO_ADDR_MAX];
};
void proto_lookup_rcpt_enc(struct ipc_msg *, uint64_t id,
    const struct proto_lookup_rcpt *);
int proto_lookup_rcpt_dec(struct ipc_reader *, struct proto_lookup_rcpt *);

/* PROTO_LOOKUP_RESULT: the head, then ntargets targets, then proto_end_dec */
struct proto_lookup_result {
	uint32_t	 seq;
	uint8_t		 answer;	/* PROTO_LOOKUP_FOUND, ... */
	const char	*why;
	uint32_t	 ntargets;	/* the decoder refuses more than
					 * PROTO_LOOKUP_TARGETS_MAX */
	char		 why_buf[PROTO_REASON_MAX];
};
struct proto_lookup_target {
	const char	*address, *mailbox;
	char		 buf[2][PROTO_ADDR_MAX];
};
void proto_lookup_result_enc(struct ipc_msg *, uint64_t id,
    const struct proto_lookup_result *);
void proto_lookup_target_enc(struct ipc_msg *,
    const struct proto_lookup_target *);
int proto_lookup_result_dec(struct ipc_reader *, struct proto_lookup_result *);
int proto_lookup_target_dec(struct ipc_reader *, struct proto_lookup_target *);

/* PROTO_VERIFY_LOAD: no fields (proto_empty_enc, proto_empty_dec) */

/* PROTO_VERIFY_PUT (the decoder refuses another result) */
struct proto_verify_put {
	const char	*address;
	uint8_t		 result;	/* PROTO_VERIFY_* */
	const char	*reply;
	int64_t		 expires;
	char		 address_buf[PROTO_ADDR_MAX];
	char		 reply_buf[PROTO_REPLY_MAX];
};
void proto_verify_put_enc(struct ipc_msg *, uint64_t id,
    const struct proto_verify_put *);
int proto_verify_put_dec(struct ipc_reader *, struct proto_verify_put *);

/* PROTO_VERIFY_FLUSH */
struct proto_verify_flush {
	const char	*address;	/* "": every address */
	char		 address_buf[PROTO_ADDR_MAX];
};
void proto_verify_flush_enc(struct ipc_msg *, uint64_t id,
    const struct proto_verify_flush *);
int proto_verify_flush_dec(struct ipc_reader *, struct proto_verify_flush *);

/* PROTO_READY */
struct proto_ready {
	uint8_t		 what;		/* PROTO_READY_* */
	uint8_t		 ok;
	const char	*note;
	char		 note_buf[PROTO_STR_MAX];
};
void proto_ready_enc(struct ipc_msg *, uint64_t id, const struct proto_ready *);
int proto_ready_dec(struct ipc_reader *, struct proto_ready *);
/* proto_ready_send - a PROTO_READY of what, ok and note (NULL: "") to p */
void proto_ready_send(struct ipc_peer *p, uint8_t what, int ok,
    const char *note);

/* PROTO_COUNTS */
struct proto_counts {
	int64_t		 sessions;
	int64_t		 queued;
};
void proto_counts_enc(struct ipc_msg *, uint64_t id, const struct proto_counts *);
int proto_counts_dec(struct ipc_reader *, struct proto_counts *);

/* PROTO_SERIES */
struct proto_series {
	uint32_t	 rejections;
	uint32_t	 auth_failures;
};
void proto_series_enc(struct ipc_msg *, uint64_t id, const struct proto_series *);
int proto_series_dec(struct ipc_reader *, struct proto_series *);
/* PROTO_DNSBL_RESULT */
#define PROTO_DNSBL_CLEAN	0
#define PROTO_DNSBL_LISTED	1
#define PROTO_DNSBL_ERROR	2
#define PROTO_DNSBL_TEXT_MAX	256	/* an answer or a reason */
struct proto_dnsbl_item {
	const char	*address, *zone;
	uint8_t		 status;	/* PROTO_DNSBL_* */
	const char	*answer, *reason;
	char		 addr_buf[PROTO_IP_MAX], zone_buf[256];
	char		 answer_buf[PROTO_DNSBL_TEXT_MAX];
	char		 reason_buf[PROTO_DNSBL_TEXT_MAX];
};
void proto_dnsbl_result_enc(struct ipc_msg *, uint64_t id, int64_t time,
    uint32_t n);
void proto_dnsbl_item_enc(struct ipc_msg *, const struct proto_dnsbl_item *);
int proto_dnsbl_result_dec(struct ipc_reader *, int64_t *time, uint32_t *n);
int proto_dnsbl_item_dec(struct ipc_reader *, struct proto_dnsbl_item *);

/* PROTO_AUTH_LOGIN */
struct proto_auth_login {
	const char	*user, *client_ip, *session;
	char		 user_buf[PROTO_USER_MAX], ip_buf[PROTO_IP_MAX];
	char		 session_buf[PROTO_QID_MAX];
};
void proto_auth_login_enc(struct ipc_msg *, uint64_t id,
    const struct proto_auth_login *);
int proto_auth_login_dec(struct ipc_reader *, struct proto_auth_login *);

/*
 * proto_recode - decode a message of any type and encode it again: 0
 * with out ready (a message that decodes comes out byte for byte as it
 * went in), -1 when it does not decode (out holds nothing). For tests.
 */
int proto_recode(uint16_t type, uint64_t id, struct ipc_reader *r,
    struct ipc_msg *out);

#endif
