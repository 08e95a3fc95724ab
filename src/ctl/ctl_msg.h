/*
 * ctl_msg.h - the control socket's requests and answers.
 *
 * A request is a fixed, named, versioned operation with typed
 * arguments (never SQL, never a shell line). On the control socket a
 * frame is the IPC header {u32 len, u16 type, u16 pad, u64 id}:
 *
 *   client -> daemon  type = enum ctl_op, pad = CTL_VERSION, id chosen by
 *                     the client; payload = the operation's arguments,
 *                     in the order ctl_req_encode puts them.
 *   daemon -> client  type = CTL_FRAME_ANSWER, pad = CTL_VERSION, id of
 *                     the request; payload = an answer (below).
 *
 * An answer is: u8 status (enum ctl_status), str message, then records,
 * each starting with a u8 tag: CTL_REC_TABLE (str name, u32 ncols, then
 * per column str name and u8 kind), CTL_REC_ROW (one cell per column of
 * the table above it: i64 for numeric kinds, str for CTL_KIND_STR), and
 * finally CTL_REC_END. Rows stream without counts so a producer never
 * has to know how many it will write.
 */
#ifndef MOAT_CTL_MSG_H
#define MOAT_CTL_MSG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct ipc_msg;
struct ipc_peer;
struct ipc_reader;

#define CTL_VERSION		1
#define CTL_FRAME_ANSWER	0x7a00
#define CTL_REQ_MAX		(64u * 1024)		/* request payload */
#define CTL_ANSWER_MAX		(256u * 1024 * 1024)	/* answer payload */
#define CTL_STR_MAX		256	/* any string argument, NUL included */
#define CTL_LIST_MAX		1000000	/* rows of one list */
#define CTL_SOCKET_NAME		"control.sock"
#define CTL_HASH_MAX		128	/* USER_PASSWD hash (users.h) */

enum ctl_op {
	CTL_OP_NONE = 0,
	CTL_OP_STATUS,		/* parent: version, pid, uptime, counts,
				 * listeners, children, the last reload */
	CTL_OP_SESSIONS,	/* smtp */
	CTL_OP_SESSION_KILL,	/* smtp: one of id, cidr, user */
	CTL_OP_QUEUE_SUMMARY,	/* queue: by destination domain */
	CTL_OP_QUEUE_LIST,	/* queue: filter, limit */
	CTL_OP_QUEUE_SHOW,	/* queue: qid, body flag */
	CTL_OP_QUEUE_ACT,	/* queue: action, filter, dry run */
	CTL_OP_EVENTS,		/* queue: since, type, cidr, user, limit, after */
	CTL_OP_BAN_ADD,		/* queue: cidr, duration, reason */
	CTL_OP_BAN_DEL,		/* queue: cidr */
	CTL_OP_BAN_LIST,	/* queue */
	CTL_OP_USER_LIST,	/* parent (users file) and queue together */
	CTL_OP_USER_STATE,	/* queue: user, state, reason */
	CTL_OP_LOG_GET,		/* parent */
	CTL_OP_LOG_SET,		/* parent: category, level, duration */
	CTL_OP_STATS,		/* control, smtp and queue together */
	CTL_OP_USER_PASSWD,	/* parent: user, argon2id hash */
	CTL_OP_VERIFY_LIST,	/* queue: address ("" all) */
	CTL_OP_VERIFY_FLUSH,	/* queue, then lookup: address ("" all) */
	CTL_OP_RELOAD = 20,	/* parent: read the configuration again */
	CTL_OP_STOP = 21,	/* parent: stop the daemon */
	CTL_OP_QUEUE_PAUSE = 22,	/* queue: domain ("*" all), reason */
	CTL_OP_QUEUE_RESUME = 23,	/* queue: domain ("*" all) */
	CTL_OP_USER_DEL = 26,	/* parent (users file), then queue: user */
	CTL_OP_USER_FORGET = 27,	/* queue: user (its state row) */
	CTL_OP_CONSOLE_PASSWD = 28,	/* parent: console login, argon2id hash */
	CTL_OP_CONSOLE_USER_DEL = 29,	/* parent: console login */
	CTL_OP_SERIES = 30,	/* queue: since, limit; the per-minute series */
	CTL_OP_INCIDENTS = 32,	/* queue: since */
	CTL_OP_INCIDENT = 33,	/* queue: "user:NAME" or "client:ADDR", since */
	CTL_OP_BLACKLIST = 34,	/* queue (the mta checks): flag 1 check now */
	CTL_OP_COUNT
};

enum ctl_status {
	CTL_OK = 0,
	CTL_FAILED = 1,		/* the operation failed; nothing changed */
	CTL_BAD_REQUEST = 2,	/* malformed or invalid arguments */
	CTL_DENIED = 3,		/* the caller may not use the socket */
};

/* column kinds: how the CLI shows a value; JSON gets it raw */
enum ctl_kind {
	CTL_KIND_STR = 0,
	CTL_KIND_INT,
	CTL_KIND_TIME,		/* unix seconds, 0: none */
	CTL_KIND_DUR,		/* seconds */
	CTL_KIND_SIZE,		/* bytes */
	CTL_KIND_FLAG,		/* 0 or 1: JSON a number, a table yes/no */
	CTL_KIND_COUNT
};

enum ctl_rec {
	CTL_REC_END = 0,
	CTL_REC_TABLE = 1,
	CTL_REC_ROW = 2,
};

enum ctl_action {
	CTL_ACT_DELETE = 0,
	CTL_ACT_HOLD,
	CTL_ACT_RELEASE,
	CTL_ACT_RETRY,
	CTL_ACT_BOUNCE,
	CTL_ACT_REQUEUE,	/* route again by the configuration, due now */
	CTL_ACT_REINJECT,	/* dead letters back into the queue */
	CTL_ACT_COUNT
};

enum ctl_user_state {
	CTL_USER_ACTIVE = 0,
	CTL_USER_HELD,
	CTL_USER_SUSPENDED,
	CTL_USER_NSTATES
};

#define CTL_FILTER_ALL		0x01	/* explicitly every message */
#define CTL_FILTER_DEAD		0x02	/* dead letters only */

/* queue filters, the same for list and every action */
struct ctl_filter {
	char		qid[CTL_STR_MAX];	/* one message */
	char		from[CTL_STR_MAX];	/* sender address, "<>" null */
	char		to[CTL_STR_MAX];	/* a recipient address */
	char		to_domain[CTL_STR_MAX];	/* a recipient domain */
	char		user[CTL_STR_MAX];	/* authenticated submitter */
	char		client[CTL_STR_MAX];	/* client address CIDR */
	int64_t		older_than;		/* seconds, 0: any */
	int64_t		newer_than;		/* seconds, 0: any */
	uint32_t	states;			/* 1 << queue state, 0: any */
	uint8_t		flags;			/* CTL_FILTER_* */
};

/* one decoded request; only the members of its op are meaningful */
struct ctl_req {
	enum ctl_op	 op;
	struct ctl_filter filter;	/* QUEUE_LIST, QUEUE_ACT */
	uint32_t	 limit;		/* QUEUE_LIST, EVENTS, SERIES; 0: default */
	uint8_t		 action;	/* QUEUE_ACT: enum ctl_action */
	uint8_t		 flag;		/* QUEUE_ACT dry run, QUEUE_SHOW body,
					 * BLACKLIST check now */
	uint64_t	 id;		/* SESSION_KILL session id */
	int64_t		 since;		/* EVENTS, SERIES, INCIDENT(S): seconds
					 * back, 0: all (incidents: a week) */
	int64_t		 after;		/* EVENTS: only ids above */
	int64_t		 duration;	/* BAN_ADD, LOG_SET seconds, 0: none */
	uint8_t		 state;		/* USER_STATE: enum ctl_user_state */
	uint8_t		 cat, level;	/* LOG_SET */
	char		 a[CTL_STR_MAX];	/* qid, cidr, user, type, address,
						 * domain, incident */
	char		 b[CTL_STR_MAX];	/* reason, user (kill), cidr, hash */
	char		 c[CTL_STR_MAX];	/* events: user */
	char		 admin[80];	/* who, beside the uid (ctl_request_read):
					 * "" or "console:LOGIN" */
};

/* One decoded answer (client side, and the control process's merges). */
struct ctl_col {
	char		*name;
	enum ctl_kind	 kind;
};

struct ctl_cell {
	int64_t		 i;
	char		*s;		/* CTL_KIND_STR, owned */
};

struct ctl_table {
	char		*name;
	struct ctl_col	*cols;
	size_t		 ncols;
	struct ctl_cell	*cells;		/* nrows * ncols */
	size_t		 nrows, cap;
};

struct ctl_answer {
	enum ctl_status	 status;
	char		*message;
	struct ctl_table *tables;
	size_t		 ntables;
};

/* op names as the CLI and the logs say them; NULL when out of range */
const char *ctl_op_name(enum ctl_op op);
/* which process answers an op: a PROC_* value */
int ctl_op_target(enum ctl_op op);
/* 1 when the op changes state (recorded as an event) */
int ctl_op_changes(enum ctl_op op);

const char *ctl_action_name(enum ctl_action a);
int ctl_action_from_name(const char *s);
const char *ctl_user_state_name(enum ctl_user_state s);
int ctl_user_state_from_name(const char *s);

/*
 * ctl_state_mask - "queued,held" into a mask of 1 << QUEUE_RCPT_*;
 * returns -1 for an unknown name.
 */
int ctl_state_mask(const char *s, uint32_t *mask);
const char *ctl_state_name(int state);

/*
 * ctl_duration_parse - "90", "45s", "30m", "1h", "7d", "2w" and sums like
 * "1h30m" into seconds. Returns -1 for anything else, 0 or a value above
 * ten years.
 */
int ctl_duration_parse(const char *s, int64_t *secs);
/* ctl_duration_format - "3d4h", "12m5s", "7s" into buf; returns buf */
char *ctl_duration_format(int64_t secs, char *buf, size_t len);
/* ctl_size_format - "512B", "1.5K", "12.0M" into buf; returns buf */
char *ctl_size_format(int64_t bytes, char *buf, size_t len);

/*
 * ctl_incident_id - split an incident's name, "user:NAME" or
 * "client:ADDR" (an address or a CIDR), into its kind ("user" or
 * "client") and what follows; 0, or -1 with a reason in err.
 */
int ctl_incident_id(const char *id, const char **kind, const char **value,
    char *err, size_t errlen);

/* ctl_filter_empty - 1 when the filter selects by nothing (nor --all) */
int ctl_filter_empty(const struct ctl_filter *f);

/*
 * ctl_req_encode - the arguments of r->op, in wire order, into m.
 * ctl_req_decode - read the arguments of op from rd into r, checking
 * every one (lengths, CIDR syntax, names, ranges). Returns 0, or -1
 * with a reason in err (the answer's message).
 */
void ctl_req_encode(const struct ctl_req *r, struct ipc_msg *m);
int ctl_req_decode(enum ctl_op op, struct ipc_reader *rd, struct ctl_req *r,
    char *err, size_t errlen);

/*
 * ctl_request_read - the body of a PROTO_CTL_REQUEST (u32 op, u32 uid,
 * bytes arguments) from a sibling: a malformed frame is fatal; bad
 * arguments are answered CTL_BAD_REQUEST on from and give -1. 0 with
 * q and *uid filled otherwise.
 */
int ctl_request_read(struct ipc_peer *from, uint64_t id, struct ipc_reader *r,
    struct ctl_req *q, uint32_t *uid);

/*
 * ctl_req_who - who asked, for events and logs: "uid=N", or "uid=N
 * admin=console:LOGIN" when the web console did; returns buf
 */
char *ctl_req_who(const struct ctl_req *q, uint32_t uid, char *buf,
    size_t len);

/* Building an answer: begin, then tables and rows, then end. */
void ctl_ans_begin(struct ipc_msg *m, enum ctl_status st, const char *msg);
void ctl_ans_table(struct ipc_msg *m, const char *name, size_t ncols,
    const char *const *names, const enum ctl_kind *kinds);
void ctl_ans_row(struct ipc_msg *m);	/* then one ipc_put_* per column */
void ctl_ans_end(struct ipc_msg *m);
/*
 * ctl_ans_vsimple - start m and make it a whole answer without tables:
 * st and the message of fmt, cut to max - 1 bytes (at most 1023)
 */
void ctl_ans_vsimple(struct ipc_msg *m, enum ctl_status st, size_t max,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/*
 * ctl_answer_decode - parse an answer payload; 0, or -1 when malformed
 * (then a is left empty). ctl_answer_free releases what it owns.
 */
int ctl_answer_decode(const uint8_t *p, size_t len, struct ctl_answer *a);
void ctl_answer_free(struct ctl_answer *a);
/* ctl_answer_encode - the decoded form back into m (after ctl_ans_begin) */
void ctl_answer_put_tables(struct ipc_msg *m, const struct ctl_answer *a);
/* ctl_table_find - a table by name, or NULL */
const struct ctl_table *ctl_table_find(const struct ctl_answer *a,
    const char *name);
/* ctl_table_col - index of a column by name, -1 if none */
int ctl_table_col(const struct ctl_table *t, const char *name);

/*
 * ctl_answer_send - send ans (begun with ctl_ans_begin and ended) to p
 * as PROTO_CTL_ANSWER with id; ans's buffer is consumed.
 * ctl_answer_simple - an answer without tables.
 */
void ctl_answer_send(struct ipc_peer *p, uint64_t id, struct ipc_msg *ans);
void ctl_answer_simple(struct ipc_peer *p, uint64_t id, enum ctl_status st,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
