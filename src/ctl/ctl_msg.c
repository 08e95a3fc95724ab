/*
 * ctl_msg.c - encoding and checking of control requests and answers.
 *
 * Public: ctl_op_name, ctl_op_target, ctl_op_changes, ctl_action_name,
 * ctl_action_from_name, ctl_user_state_name, ctl_user_state_from_name,
 * ctl_state_mask, ctl_state_name, ctl_duration_parse,
 * ctl_duration_format, ctl_size_format, ctl_filter_empty, ctl_incident_id,
 * ctl_req_encode, ctl_req_decode, ctl_ans_begin, ctl_ans_table,
 * ctl_ans_row, ctl_ans_end, ctl_ans_vsimple, ctl_answer_decode,
 * ctl_answer_free, ctl_answer_put_tables, ctl_table_find, ctl_table_col,
 * ctl_answer_send, ctl_answer_simple, ctl_request_read.
 *
 * Used on both sides: the CLI encodes requests and decodes answers; the
 * control process decodes (and so checks) every request before it is
 * forwarded, and the process that runs it decodes it again.
 *
 * SECURITY: requests come from local administrators through the
 * control socket, so they are untrusted input: every field is read
 * with a bounded reader, strings must fit CTL_STR_MAX and hold no
 * control characters, CIDRs must parse, enumerations and flags must be
 * in range, and nothing may be left over. A request that fails any of
 * this is answered CTL_BAD_REQUEST and changes nothing.
 * LIMITS: CTL_REQ_MAX bytes a request, CTL_ANSWER_MAX an answer,
 * CTL_STR_MAX a string, CTL_LIST_MAX rows of a list.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/ctl_msg.h"
#include "daemon/proc.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/duration.h"
#include "lib/log.h"

#define CTL_DURATION_MAX	(10LL * 366 * 86400)

static const struct {
	const char	*name;
	int		 target;
	int		 changes;
} ops[CTL_OP_COUNT] = {
	[CTL_OP_NONE] = { NULL, PROC_CONTROL, 0 },
	[CTL_OP_STATUS] = { "status", PROC_PARENT, 0 },
	[CTL_OP_SESSIONS] = { "sessions", PROC_SMTP, 0 },
	[CTL_OP_SESSION_KILL] = { "session_kill", PROC_SMTP, 1 },
	[CTL_OP_QUEUE_SUMMARY] = { "queue_summary", PROC_QUEUE, 0 },
	[CTL_OP_QUEUE_LIST] = { "queue_list", PROC_QUEUE, 0 },
	[CTL_OP_QUEUE_SHOW] = { "queue_show", PROC_QUEUE, 0 },
	[CTL_OP_QUEUE_ACT] = { "queue_act", PROC_QUEUE, 1 },
	[CTL_OP_EVENTS] = { "events", PROC_QUEUE, 0 },
	[CTL_OP_BAN_ADD] = { "ban_add", PROC_QUEUE, 1 },
	[CTL_OP_BAN_DEL] = { "ban_del", PROC_QUEUE, 1 },
	[CTL_OP_BAN_LIST] = { "ban_list", PROC_QUEUE, 0 },
	[CTL_OP_USER_LIST] = { "user_list", PROC_CONTROL, 0 },
	[CTL_OP_USER_STATE] = { "user_state", PROC_QUEUE, 1 },
	[CTL_OP_LOG_GET] = { "log_get", PROC_PARENT, 0 },
	[CTL_OP_LOG_SET] = { "log_set", PROC_PARENT, 1 },
	[CTL_OP_STATS] = { "stats", PROC_CONTROL, 0 },
	[CTL_OP_USER_PASSWD] = { "user_passwd", PROC_PARENT, 1 },
	[CTL_OP_VERIFY_LIST] = { "verify_list", PROC_QUEUE, 0 },
	[CTL_OP_VERIFY_FLUSH] = { "verify_flush", PROC_QUEUE, 1 },
	[CTL_OP_RELOAD] = { "reload", PROC_PARENT, 1 },
	[CTL_OP_STOP] = { "stop", PROC_PARENT, 1 },
	[CTL_OP_QUEUE_PAUSE] = { "queue_pause", PROC_QUEUE, 1 },
	[CTL_OP_QUEUE_RESUME] = { "queue_resume", PROC_QUEUE, 1 },
	[CTL_OP_USER_DEL] = { "user_del", PROC_CONTROL, 1 },
	[CTL_OP_USER_FORGET] = { "user_forget", PROC_QUEUE, 1 },
	[CTL_OP_CONSOLE_PASSWD] = { "console_passwd", PROC_PARENT, 1 },
	[CTL_OP_CONSOLE_USER_DEL] = { "console_user_del", PROC_PARENT, 1 },
	[CTL_OP_BLACKLIST] = { "blacklist", PROC_QUEUE, 0 },
	[CTL_OP_SERIES] = { "series", PROC_QUEUE, 0 },
	[CTL_OP_INCIDENTS] = { "incidents", PROC_QUEUE, 0 },
	[CTL_OP_INCIDENT] = { "incident", PROC_QUEUE, 0 },
};

static const char *action_names[CTL_ACT_COUNT] = {
	"delete", "hold", "release", "retry", "bounce", "requeue", "reinject"
};

static const char *user_state_names[CTL_USER_NSTATES] = {
	"active", "held", "suspended"
};

/* the queue's recipient states, numbered as stored (queue_db.h) */
static const char *state_names[] = {
	"queued", "deferred", "held", "delivered", "failed"
};
#define NSTATES	(sizeof(state_names) / sizeof(state_names[0]))

/* ctl_op_name - the name of an operation */
const char *
ctl_op_name(enum ctl_op op)
{
	return (op > CTL_OP_NONE && op < CTL_OP_COUNT) ? ops[op].name : NULL;
}

/* ctl_op_target - the process that answers op */
int
ctl_op_target(enum ctl_op op)
{
	return (op > CTL_OP_NONE && op < CTL_OP_COUNT) ? ops[op].target : -1;
}

/* ctl_op_changes - whether op changes state */
int
ctl_op_changes(enum ctl_op op)
{
	return (op > CTL_OP_NONE && op < CTL_OP_COUNT) ? ops[op].changes : 0;
}

/* ctl_action_name - "delete", "hold", ... */
const char *
ctl_action_name(enum ctl_action a)
{
	return a < CTL_ACT_COUNT ? action_names[a] : "?";
}

/* ctl_action_from_name - the action called s, or -1 */
int
ctl_action_from_name(const char *s)
{
	for (int i = 0; i < CTL_ACT_COUNT; i++)
		if (strcmp(s, action_names[i]) == 0)
			return i;
	return -1;
}

/* ctl_user_state_name - "active", "held" or "suspended" */
const char *
ctl_user_state_name(enum ctl_user_state s)
{
	return s < CTL_USER_NSTATES ? user_state_names[s] : "?";
}

/* ctl_user_state_from_name - the state called s, or -1 */
int
ctl_user_state_from_name(const char *s)
{
	for (int i = 0; i < CTL_USER_NSTATES; i++)
		if (strcmp(s, user_state_names[i]) == 0)
			return i;
	return -1;
}

/* ctl_state_name - a queue recipient state's name */
const char *
ctl_state_name(int state)
{
	return (state >= 0 && (size_t)state < NSTATES) ? state_names[state] :
	    "?";
}

/* ctl_state_mask - comma-separated state names into a bit mask */
int
ctl_state_mask(const char *s, uint32_t *mask)
{
	char buf[CTL_STR_MAX], *p, *tok, *save = NULL;

	*mask = 0;
	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	for (p = buf; (tok = strtok_r(p, ", ", &save)) != NULL; p = NULL) {
		size_t i;

		for (i = 0; i < NSTATES; i++)
			if (strcasecmp(tok, state_names[i]) == 0)
				break;
		if (i == NSTATES)
			return -1;
		*mask |= 1u << i;
	}
	return *mask ? 0 : -1;
}

/* ctl_duration_parse - "1h30m" and friends into seconds */
int
ctl_duration_parse(const char *s, int64_t *secs)
{
	int64_t v;

	if (duration_parse(s, DURATION_S, &v) != DURATION_OK || v <= 0 ||
	    v > CTL_DURATION_MAX)
		return -1;
	*secs = v;
	return 0;
}

/* ctl_duration_format - seconds as the two largest units */
char *
ctl_duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct { int64_t n; char c; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};

	if (secs < 0)
		secs = 0;
	for (size_t i = 0; i < 4; i++) {
		if (secs >= u[i].n || i == 3) {
			int64_t a = secs / u[i].n, rest = secs % u[i].n;

			if (i < 3 && rest / u[i + 1].n > 0)
				snprintf(buf, len, "%" PRId64 "%c%" PRId64 "%c", a,
				    u[i].c, rest / u[i + 1].n, u[i + 1].c);
			else
				snprintf(buf, len, "%" PRId64 "%c", a, u[i].c);
			break;
		}
	}
	return buf;
}

/* ctl_size_format - bytes with a binary suffix */
char *
ctl_size_format(int64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	double v = (double)bytes;
	int i = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRId64 "B", bytes < 0 ? 0 : bytes);
		return buf;
	}
	while (v >= 1024 && i < 3) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.1f%c", v, units[i]);
	return buf;
}

/* ctl_filter_empty - whether f selects by nothing */
int
ctl_filter_empty(const struct ctl_filter *f)
{
	return f->qid[0] == '\0' && f->from[0] == '\0' && f->to[0] == '\0' &&
	    f->to_domain[0] == '\0' && f->user[0] == '\0' &&
	    f->client[0] == '\0' && f->older_than == 0 &&
	    f->newer_than == 0 && f->states == 0 && f->flags == 0;
}

static void
put_filter(struct ipc_msg *m, const struct ctl_filter *f)
{
	ipc_put_str(m, f->qid);
	ipc_put_str(m, f->from);
	ipc_put_str(m, f->to);
	ipc_put_str(m, f->to_domain);
	ipc_put_str(m, f->user);
	ipc_put_str(m, f->client);
	ipc_put_i64(m, f->older_than);
	ipc_put_i64(m, f->newer_than);
	ipc_put_u32(m, f->states);
	ipc_put_u8(m, f->flags);
}

/* ctl_req_encode - a request's arguments in wire order */
void
ctl_req_encode(const struct ctl_req *r, struct ipc_msg *m)
{
	switch (r->op) {
	case CTL_OP_SESSION_KILL:
		ipc_put_u64(m, r->id);
		ipc_put_str(m, r->a);
		ipc_put_str(m, r->b);
		break;
	case CTL_OP_QUEUE_LIST:
		put_filter(m, &r->filter);
		ipc_put_u32(m, r->limit);
		break;
	case CTL_OP_QUEUE_SHOW:
		ipc_put_str(m, r->a);
		ipc_put_u8(m, r->flag);
		break;
	case CTL_OP_QUEUE_ACT:
		ipc_put_u8(m, r->action);
		put_filter(m, &r->filter);
		ipc_put_u8(m, r->flag);
		break;
	case CTL_OP_EVENTS:
		ipc_put_i64(m, r->since);
		ipc_put_str(m, r->a);
		ipc_put_str(m, r->b);
		ipc_put_str(m, r->c);
		ipc_put_u32(m, r->limit);
		ipc_put_i64(m, r->after);
		break;
	case CTL_OP_SERIES:
		ipc_put_i64(m, r->since);
		ipc_put_u32(m, r->limit);
		break;
	case CTL_OP_BAN_ADD:
		ipc_put_str(m, r->a);
		ipc_put_i64(m, r->duration);
		ipc_put_str(m, r->b);
		break;
	case CTL_OP_QUEUE_PAUSE:
		ipc_put_str(m, r->a);
		ipc_put_str(m, r->b);
		break;
	case CTL_OP_QUEUE_RESUME:
	case CTL_OP_BAN_DEL:
	case CTL_OP_VERIFY_LIST:
	case CTL_OP_VERIFY_FLUSH:
	case CTL_OP_USER_DEL:
	case CTL_OP_USER_FORGET:
	case CTL_OP_CONSOLE_USER_DEL:
		ipc_put_str(m, r->a);
		break;
	case CTL_OP_USER_STATE:
		ipc_put_str(m, r->a);
		ipc_put_u8(m, r->state);
		ipc_put_str(m, r->b);
		break;
	case CTL_OP_USER_PASSWD:
	case CTL_OP_CONSOLE_PASSWD:
		ipc_put_str(m, r->a);
		ipc_put_str(m, r->b);
		break;
	case CTL_OP_BLACKLIST:
		ipc_put_u8(m, r->flag);
		break;
	case CTL_OP_INCIDENTS:
		ipc_put_i64(m, r->since);
		break;
	case CTL_OP_INCIDENT:
		ipc_put_str(m, r->a);
		ipc_put_i64(m, r->since);
		break;
	case CTL_OP_LOG_SET:
		ipc_put_u8(m, r->cat);
		ipc_put_u8(m, r->level);
		ipc_put_i64(m, r->duration);
		break;
	default:
		break;		/* no arguments */
	}
}

/* A string argument: bounded, no control characters. */
static int
get_text(struct ipc_reader *rd, char *dst, const char *what, char *err,
    size_t errlen)
{
	ipc_get_str(rd, dst, CTL_STR_MAX);
	if (rd->err) {
		snprintf(err, errlen, "%s: missing or longer than %d bytes", what,
		    CTL_STR_MAX - 1);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)dst; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "%s: control character", what);
			return -1;
		}
	return 0;
}

static int
check_cidr(const char *s, const char *what, char *err, size_t errlen)
{
	struct cidr c;
	const char *why;

	if (s[0] != '\0' && cidr_parse(s, &c, &why) == -1) {
		char esc[64];

		snprintf(err, errlen, "%s: '%s' %s", what,
		    log_escape(esc, sizeof(esc), s, strlen(s)), why);
		return -1;
	}
	return 0;
}

static int
check_secs(int64_t v, const char *what, char *err, size_t errlen)
{
	if (v < 0 || v > CTL_DURATION_MAX) {
		snprintf(err, errlen, "%s: out of range", what);
		return -1;
	}
	return 0;
}

static int
check_qid(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || strspn(s, "0123456789abcdefABCDEF") != n) {
		snprintf(err, errlen, "queue id: not a queue id");
		return -1;
	}
	return 0;
}

static int
get_filter(struct ipc_reader *rd, struct ctl_filter *f, char *err,
    size_t errlen)
{
	if (get_text(rd, f->qid, "qid", err, errlen) == -1 ||
	    get_text(rd, f->from, "from", err, errlen) == -1 ||
	    get_text(rd, f->to, "to", err, errlen) == -1 ||
	    get_text(rd, f->to_domain, "to-domain", err, errlen) == -1 ||
	    get_text(rd, f->user, "user", err, errlen) == -1 ||
	    get_text(rd, f->client, "client-ip", err, errlen) == -1)
		return -1;
	f->older_than = ipc_get_i64(rd);
	f->newer_than = ipc_get_i64(rd);
	f->states = ipc_get_u32(rd);
	f->flags = ipc_get_u8(rd);
	if (rd->err) {
		snprintf(err, errlen, "filter: truncated");
		return -1;
	}
	if (f->qid[0] && check_qid(f->qid, err, errlen) == -1)
		return -1;
	if (check_cidr(f->client, "client-ip", err, errlen) == -1 ||
	    check_secs(f->older_than, "older-than", err, errlen) == -1 ||
	    check_secs(f->newer_than, "newer-than", err, errlen) == -1)
		return -1;
	if (f->states >= (1u << NSTATES)) {
		snprintf(err, errlen, "state: unknown state");
		return -1;
	}
	if (f->flags & ~(CTL_FILTER_ALL | CTL_FILTER_DEAD)) {
		snprintf(err, errlen, "filter: unknown flags");
		return -1;
	}
	/* --all --dead: every dead letter */
	if ((f->flags & CTL_FILTER_ALL) && (f->qid[0] || f->from[0] ||
	    f->to[0] || f->to_domain[0] || f->user[0] || f->client[0] ||
	    f->older_than || f->newer_than || f->states)) {
		snprintf(err, errlen, "--all excludes every other filter");
		return -1;
	}
	return 0;
}

/*
 * A user name as the users file takes it (users_name_valid: printable
 * ASCII, no ':' or space) and an argon2id hash string made by the CLI:
 * never anything that could add or split a line of that file.
 */
static int
check_passwd(const char *user, const char *hash, char *err, size_t errlen)
{
	static const char prefix[] = "$argon2id$";

	if (user[0] == '\0') {
		snprintf(err, errlen, "user: missing");
		return -1;
	}
	for (const char *p = user; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':') {
			snprintf(err, errlen, "user: bad character");
			return -1;
		}
	if (strncmp(hash, prefix, sizeof(prefix) - 1) != 0 ||
	    strlen(hash) > CTL_HASH_MAX) {
		snprintf(err, errlen, "hash: not an argon2id hash");
		return -1;
	}
	for (const char *p = hash; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':') {
			snprintf(err, errlen, "hash: bad character");
			return -1;
		}
	return 0;
}

/*
 * The decoder of each request's arguments: read them in wire order and
 * check them. -1 with err set refuses the request; 0 leaves the check
 * for bytes run short or left over to ctl_req_decode.
 */
typedef int (*req_dec_fn)(struct ipc_reader *, struct ctl_req *, char *,
    size_t);

static int
dec_session_kill(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->id = ipc_get_u64(rd);
	if (get_text(rd, r->a, "cidr", err, errlen) == -1 ||
	    get_text(rd, r->b, "user", err, errlen) == -1 ||
	    check_cidr(r->a, "cidr", err, errlen) == -1)
		return -1;
	if ((r->id != 0) + (r->a[0] != '\0') + (r->b[0] != '\0') != 1) {
		snprintf(err, errlen, "give exactly one of: session id, "
		    "--ip CIDR, --user NAME");
		return -1;
	}
	return 0;
}

static int
dec_queue_list(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_filter(rd, &r->filter, err, errlen) == -1)
		return -1;
	r->limit = ipc_get_u32(rd);
	if (r->limit > CTL_LIST_MAX) {
		snprintf(err, errlen, "limit: at most %d", CTL_LIST_MAX);
		return -1;
	}
	return 0;
}

static int
dec_queue_show(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "qid", err, errlen) == -1 ||
	    check_qid(r->a, err, errlen) == -1)
		return -1;
	r->flag = ipc_get_u8(rd);
	if (r->flag > 1) {
		snprintf(err, errlen, "body: bad flag");
		return -1;
	}
	return 0;
}

static int
dec_queue_act(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->action = ipc_get_u8(rd);
	if (r->action >= CTL_ACT_COUNT) {
		snprintf(err, errlen, "unknown queue action");
		return -1;
	}
	if (get_filter(rd, &r->filter, err, errlen) == -1)
		return -1;
	r->flag = ipc_get_u8(rd);
	if (r->flag > 1) {
		snprintf(err, errlen, "dry-run: bad flag");
		return -1;
	}
	if (ctl_filter_empty(&r->filter)) {
		snprintf(err, errlen, "no filter: give one, or --all for "
		    "every message");
		return -1;
	}
	/* dead letters alone select every one: only with --all */
	if (r->filter.flags == CTL_FILTER_DEAD) {
		struct ctl_filter f = r->filter;

		f.flags = 0;
		if (ctl_filter_empty(&f)) {
			snprintf(err, errlen, "no filter: give one, or --all "
			    "for all dead letters");
			return -1;
		}
	}
	return 0;
}

static int
dec_events(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->since = ipc_get_i64(rd);
	if (get_text(rd, r->a, "type", err, errlen) == -1 ||
	    get_text(rd, r->b, "ip", err, errlen) == -1 ||
	    get_text(rd, r->c, "user", err, errlen) == -1 ||
	    check_cidr(r->b, "ip", err, errlen) == -1)
		return -1;
	r->limit = ipc_get_u32(rd);
	r->after = ipc_get_i64(rd);
	if (check_secs(r->since, "since", err, errlen) == -1)
		return -1;
	if (r->limit > CTL_LIST_MAX || r->after < 0) {
		snprintf(err, errlen, "limit or position out of range");
		return -1;
	}
	return 0;
}

/* the time series: seconds back (at most the 7 days kept), rows */
#define CTL_SERIES_SINCE_MAX	(7 * 86400)

static int
dec_series(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->since = ipc_get_i64(rd);
	r->limit = ipc_get_u32(rd);
	if (rd->err)
		return 0;		/* refused as malformed */
	if (r->since < 0 || r->since > CTL_SERIES_SINCE_MAX) {
		snprintf(err, errlen, "since: out of range (at most 7 days)");
		return -1;
	}
	if (r->limit > CTL_LIST_MAX) {
		snprintf(err, errlen, "limit: out of range");
		return -1;
	}
	return 0;
}

/* the network of a ban request: given, and a network */
static int
check_ban_cidr(const struct ctl_req *r, char *err, size_t errlen)
{
	if (r->a[0] == '\0') {
		snprintf(err, errlen, "cidr: missing");
		return -1;
	}
	return check_cidr(r->a, "cidr", err, errlen);
}

static int
dec_ban_add(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "cidr", err, errlen) == -1)
		return -1;
	r->duration = ipc_get_i64(rd);
	if (get_text(rd, r->b, "reason", err, errlen) == -1 ||
	    check_secs(r->duration, "for", err, errlen) == -1)
		return -1;
	return check_ban_cidr(r, err, errlen);
}

static int
dec_ban_del(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "cidr", err, errlen) == -1)
		return -1;
	return check_ban_cidr(r, err, errlen);
}

/*
 * A destination to pause or resume: "*" (all), or a domain name as a
 * recipient's domain is stored (printable, no space, '@' or '/'); the
 * queue lowercases it.
 */
static int
check_dest(const char *d, char *err, size_t errlen)
{
	if (strcmp(d, "*") == 0)
		return 0;
	if (d[0] == '\0' || strlen(d) > 253) {
		snprintf(err, errlen, "domain: missing or too long");
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)d; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '@' || *p == '/' ||
		    *p == '*') {
			snprintf(err, errlen, "domain: bad character");
			return -1;
		}
	return 0;
}

static int
dec_queue_pause(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "domain", err, errlen) == -1 ||
	    get_text(rd, r->b, "reason", err, errlen) == -1)
		return -1;
	return check_dest(r->a, err, errlen);
}

static int
dec_queue_resume(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "domain", err, errlen) == -1)
		return -1;
	return check_dest(r->a, err, errlen);
}

/* an address of the verification cache, or "" for all of them */
static int
dec_verify(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	return get_text(rd, r->a, "address", err, errlen);
}

static int
dec_user_state(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "user", err, errlen) == -1)
		return -1;
	r->state = ipc_get_u8(rd);
	if (get_text(rd, r->b, "reason", err, errlen) == -1)
		return -1;
	if (r->a[0] == '\0' || strchr(r->a, ' ') != NULL) {
		snprintf(err, errlen, "user: missing or has a space");
		return -1;
	}
	if (r->state >= CTL_USER_NSTATES) {
		snprintf(err, errlen, "state: unknown user state");
		return -1;
	}
	return 0;
}

/* user del, user forget: a name as the users file or the watch has it */
static int
dec_user_name(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "user", err, errlen) == -1)
		return -1;
	if (r->a[0] == '\0' || strchr(r->a, ' ') != NULL) {
		snprintf(err, errlen, "user: missing or has a space");
		return -1;
	}
	return 0;
}

static int
dec_user_passwd(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	if (get_text(rd, r->a, "user", err, errlen) == -1 ||
	    get_text(rd, r->b, "hash", err, errlen) == -1)
		return -1;
	return check_passwd(r->a, r->b, err, errlen);
}

static int
dec_log_set(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->cat = ipc_get_u8(rd);
	r->level = ipc_get_u8(rd);
	r->duration = ipc_get_i64(rd);
	if (rd->err)
		return 0;		/* refused as malformed */
	if (r->cat >= LOG_CAT_COUNT || r->level >= LOG_LVL_COUNT) {
		snprintf(err, errlen, "unknown category or level");
		return -1;
	}
	return check_secs(r->duration, "for", err, errlen);
}

/* blacklist: 0 the current state, 1 check now */
static int
dec_blacklist(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->flag = ipc_get_u8(rd);
	if (!rd->err && r->flag > 1) {
		snprintf(err, errlen, "check: must be 0 or 1");
		return -1;
	}
	return 0;
}

/* ctl_incident_id - "user:NAME" or "client:CIDR" into its parts */
int
ctl_incident_id(const char *id, const char **kind, const char **value,
    char *err, size_t errlen)
{
	const char *v;

	if (strncmp(id, "user:", 5) == 0) {
		v = id + 5;
		if (v[0] == '\0' || strchr(v, ' ') != NULL) {
			snprintf(err, errlen, "user name missing or has a "
			    "space");
			return -1;
		}
		*kind = "user";
	} else if (strncmp(id, "client:", 7) == 0) {
		v = id + 7;
		if (v[0] == '\0') {
			snprintf(err, errlen, "client address missing");
			return -1;
		}
		if (check_cidr(v, "client", err, errlen) == -1)
			return -1;
		*kind = "client";
	} else {
		snprintf(err, errlen, "not user:NAME or client:ADDR");
		return -1;
	}
	*value = v;
	return 0;
}

static int
dec_incidents(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	r->since = ipc_get_i64(rd);
	return check_secs(r->since, "since", err, errlen);
}

static int
dec_incident(struct ipc_reader *rd, struct ctl_req *r, char *err,
    size_t errlen)
{
	const char *kind, *value;

	if (get_text(rd, r->a, "incident", err, errlen) == -1)
		return -1;
	r->since = ipc_get_i64(rd);
	if (check_secs(r->since, "since", err, errlen) == -1)
		return -1;
	if (ctl_incident_id(r->a, &kind, &value, err, errlen) == -1) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "incident: %s", why);
		return -1;
	}
	return 0;
}

/* the operations with arguments; the others take none */
static const req_dec_fn req_dec[CTL_OP_COUNT] = {
	[CTL_OP_SESSION_KILL] = dec_session_kill,
	[CTL_OP_QUEUE_LIST] = dec_queue_list,
	[CTL_OP_QUEUE_SHOW] = dec_queue_show,
	[CTL_OP_QUEUE_ACT] = dec_queue_act,
	[CTL_OP_EVENTS] = dec_events,
	[CTL_OP_BAN_ADD] = dec_ban_add,
	[CTL_OP_BAN_DEL] = dec_ban_del,
	[CTL_OP_USER_STATE] = dec_user_state,
	[CTL_OP_USER_PASSWD] = dec_user_passwd,
	[CTL_OP_LOG_SET] = dec_log_set,
	[CTL_OP_VERIFY_LIST] = dec_verify,
	[CTL_OP_VERIFY_FLUSH] = dec_verify,
	[CTL_OP_QUEUE_PAUSE] = dec_queue_pause,
	[CTL_OP_QUEUE_RESUME] = dec_queue_resume,
	[CTL_OP_USER_DEL] = dec_user_name,
	[CTL_OP_USER_FORGET] = dec_user_name,
	[CTL_OP_CONSOLE_PASSWD] = dec_user_passwd,
	[CTL_OP_CONSOLE_USER_DEL] = dec_user_name,
	[CTL_OP_BLACKLIST] = dec_blacklist,
	[CTL_OP_SERIES] = dec_series,
	[CTL_OP_INCIDENTS] = dec_incidents,
	[CTL_OP_INCIDENT] = dec_incident,
};

/* ctl_req_decode - read and check the arguments of op */
int
ctl_req_decode(enum ctl_op op, struct ipc_reader *rd, struct ctl_req *r,
    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	if (ctl_op_name(op) == NULL) {
		snprintf(err, errlen, "unknown operation %d", (int)op);
		return -1;
	}
	if (req_dec[op] != NULL && req_dec[op](rd, r, err, errlen) == -1)
		return -1;
	if (ipc_get_end(rd) == -1) {
		snprintf(err, errlen, "%s: malformed arguments (short or bytes "
		    "left over)", ctl_op_name(op));
		return -1;
	}
	return 0;
}

/* ctl_ans_begin - status and message */
void
ctl_ans_begin(struct ipc_msg *m, enum ctl_status st, const char *msg)
{
	ipc_put_u8(m, (uint8_t)st);
	ipc_put_str(m, msg);
}

/* ctl_ans_table - start a table */
void
ctl_ans_table(struct ipc_msg *m, const char *name, size_t ncols,
    const char *const *names, const enum ctl_kind *kinds)
{
	ipc_put_u8(m, CTL_REC_TABLE);
	ipc_put_str(m, name);
	ipc_put_u32(m, (uint32_t)ncols);
	for (size_t i = 0; i < ncols; i++) {
		ipc_put_str(m, names[i]);
		ipc_put_u8(m, (uint8_t)kinds[i]);
	}
}

/* ctl_ans_row - start a row of the last table */
void
ctl_ans_row(struct ipc_msg *m)
{
	ipc_put_u8(m, CTL_REC_ROW);
}

/* ctl_ans_end - close the answer */
void
ctl_ans_end(struct ipc_msg *m)
{
	ipc_put_u8(m, CTL_REC_END);
}

static char *
dup_field(struct ipc_reader *r)
{
	size_t len;
	const uint8_t *p = ipc_get_bytes(r, &len);
	char *s;

	if (r->err || memchr(p, '\0', len) != NULL) {
		r->err = 1;
		return NULL;
	}
	if ((s = malloc(len + 1)) == NULL)
		fatal("%s: malloc", __func__);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static void
table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].s);
	for (size_t i = 0; i < t->ncols; i++)
		free(t->cols[i].name);
	free(t->cells);
	free(t->cols);
	free(t->name);
}

/* ctl_answer_free - release a decoded answer */
void
ctl_answer_free(struct ctl_answer *a)
{
	for (size_t i = 0; i < a->ntables; i++)
		table_free(&a->tables[i]);
	free(a->tables);
	free(a->message);
	memset(a, 0, sizeof(*a));
}

/* ctl_answer_decode - parse an answer */
int
ctl_answer_decode(const uint8_t *p, size_t len, struct ctl_answer *a)
{
	struct ipc_reader r = { p, len, 0 };
	struct ctl_table *t = NULL;
	uint8_t tag;

	memset(a, 0, sizeof(*a));
	a->status = ipc_get_u8(&r);
	if ((a->message = dup_field(&r)) == NULL || a->status > CTL_DENIED)
		goto bad;
	for (;;) {
		tag = ipc_get_u8(&r);
		if (r.err)
			goto bad;
		if (tag == CTL_REC_END)
			break;
		if (tag == CTL_REC_TABLE) {
			uint32_t ncols;
			struct ctl_table *nt;

			if ((nt = reallocarray(a->tables, a->ntables + 1,
			    sizeof(*nt))) == NULL)
				fatal("%s: realloc", __func__);
			a->tables = nt;
			t = &a->tables[a->ntables++];
			memset(t, 0, sizeof(*t));
			t->name = dup_field(&r);
			ncols = ipc_get_u32(&r);
			if (r.err || ncols == 0 || ncols > 64)
				goto bad;
			if ((t->cols = calloc(ncols, sizeof(*t->cols))) == NULL)
				fatal("%s: calloc", __func__);
			for (uint32_t i = 0; i < ncols; i++) {
				t->cols[i].name = dup_field(&r);
				t->ncols++;
				t->cols[i].kind = ipc_get_u8(&r);
				if (r.err || t->cols[i].kind >= CTL_KIND_COUNT)
					goto bad;
			}
		} else if (tag == CTL_REC_ROW && t != NULL) {
			struct ctl_cell *row;

			if (t->nrows == t->cap) {
				size_t ncap = t->cap ? t->cap * 2 : 16;

				if ((row = reallocarray(t->cells, ncap * t->ncols,
				    sizeof(*row))) == NULL)
					fatal("%s: realloc", __func__);
				t->cells = row;
				t->cap = ncap;
			}
			row = &t->cells[t->nrows * t->ncols];
			memset(row, 0, t->ncols * sizeof(*row));
			t->nrows++;
			for (size_t i = 0; i < t->ncols; i++) {
				if (t->cols[i].kind == CTL_KIND_STR) {
					if ((row[i].s = dup_field(&r)) == NULL)
						goto bad;
				} else
					row[i].i = ipc_get_i64(&r);
			}
			if (r.err)
				goto bad;
		} else
			goto bad;
	}
	if (ipc_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	ctl_answer_free(a);
	return -1;
}

/* ctl_answer_put_tables - re-encode decoded tables (no END) */
void
ctl_answer_put_tables(struct ipc_msg *m, const struct ctl_answer *a)
{
	for (size_t i = 0; i < a->ntables; i++) {
		const struct ctl_table *t = &a->tables[i];

		ipc_put_u8(m, CTL_REC_TABLE);
		ipc_put_str(m, t->name);
		ipc_put_u32(m, (uint32_t)t->ncols);
		for (size_t c = 0; c < t->ncols; c++) {
			ipc_put_str(m, t->cols[c].name);
			ipc_put_u8(m, (uint8_t)t->cols[c].kind);
		}
		for (size_t r = 0; r < t->nrows; r++) {
			ipc_put_u8(m, CTL_REC_ROW);
			for (size_t c = 0; c < t->ncols; c++) {
				const struct ctl_cell *x = &t->cells[r * t->ncols + c];

				if (t->cols[c].kind == CTL_KIND_STR)
					ipc_put_str(m, x->s);
				else
					ipc_put_i64(m, x->i);
			}
		}
	}
}

/* ctl_table_find - a table by name */
const struct ctl_table *
ctl_table_find(const struct ctl_answer *a, const char *name)
{
	for (size_t i = 0; i < a->ntables; i++)
		if (a->tables[i].name && strcmp(a->tables[i].name, name) == 0)
			return &a->tables[i];
	return NULL;
}

/* ctl_table_col - a column's index by name */
int
ctl_table_col(const struct ctl_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ctl_ans_vsimple - a whole answer: a status and a message, no tables */
void
ctl_ans_vsimple(struct ipc_msg *m, enum ctl_status st, size_t max,
    const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, max < sizeof(buf) ? max : sizeof(buf), fmt, ap);
	ipc_msg_init(m, 0, 0);
	ctl_ans_begin(m, st, buf);
	ctl_ans_end(m);
}

/* ctl_answer_send - wrap an answer in PROTO_CTL_ANSWER */
void
ctl_answer_send(struct ipc_peer *p, uint64_t id, struct ipc_msg *ans)
{
	struct ipc_msg m;

	proto_ctl_answer_enc(&m, id, ans->buf);
	ipc_msg_discard(ans);
	ipc_send(p, &m);
}

/* ctl_answer_simple - an answer that is only a status and a message */
void
ctl_answer_simple(struct ipc_peer *p, uint64_t id, enum ctl_status st,
    const char *fmt, ...)
{
	struct ipc_msg ans;
	va_list ap;

	va_start(ap, fmt);
	ctl_ans_vsimple(&ans, st, 1024, fmt, ap);
	va_end(ap);
	ctl_answer_send(p, id, &ans);
}

/* ctl_request_read - unwrap and check one request from the control process */
int
ctl_request_read(struct ipc_peer *from, uint64_t id, struct ipc_reader *r,
    struct ctl_req *q, uint32_t *uid)
{
	struct proto_ctl_request pq;
	struct ipc_reader ar;
	char err[512];

	if (proto_ctl_request_dec(r, &pq) == -1)
		fatalx("%s: malformed request from control", __func__);
	*uid = pq.uid;
	ipc_reader_init(&ar, pq.args, pq.len);
	if (ctl_req_decode((enum ctl_op)pq.op, &ar, q, err, sizeof(err)) == -1) {
		ctl_answer_simple(from, id, CTL_BAD_REQUEST, "%s", err);
		return -1;
	}
	snprintf(q->admin, sizeof(q->admin), "%s", pq.admin);
	return 0;
}

/* ctl_req_who - "uid=N", or "uid=N admin=console:LOGIN" for the console */
char *
ctl_req_who(const struct ctl_req *q, uint32_t uid, char *buf, size_t len)
{
	if (q->admin[0] != '\0')
		snprintf(buf, len, "uid=%" PRIu32 " admin=%s", uid, q->admin);
	else
		snprintf(buf, len, "uid=%" PRIu32, uid);
	return buf;
}
