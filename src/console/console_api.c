/*
 * console_api.c - the web console's allow-table and argument decoding.
 *
 * Public: console_api_op, console_api_req.
 *
 * /api/NAME reaches the operation NAME (ctl_op_name) only when this
 * table lists it; reload, stop, log levels and every password operation
 * are not reachable from a browser. An operation that changes state is
 * POST only. Each operation takes the parameters its row names, the
 * same the CLI's options set: "since=1h", "ip=192.0.2.0/24",
 * "state=held", "dry_run=1" ...
 *
 * SECURITY: parameters are untrusted input: each value must fit its
 * field (CTL_STR_MAX), numbers and durations parse whole, a parameter
 * the operation does not take or one given twice is refused, and the
 * request built from them is encoded and decoded again by ctl_msg.c,
 * which checks it exactly as for the control socket (CIDRs, names,
 * ranges). Nothing here builds SQL or a command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "console/console_api.h"
#include "io/ipc.h"

/* the parameters an operation takes */
enum {
	P_FILTER	= 0x0001,	/* qid from to domain user client
					 * older_than newer_than state all dead */
	P_LIMIT		= 0x0002,
	P_SINCE		= 0x0004,
	P_AFTER		= 0x0008,
	P_DURATION	= 0x0010,	/* "for" */
	P_ID		= 0x0020,	/* session id, hex */
	P_DRY_RUN	= 0x0040,
	P_BODY		= 0x0080,
	P_ACTION	= 0x0100,
	P_STATE		= 0x0200,	/* user_state: active|held|suspended */
};

/*
 * a, b, c: the names of the string parameters that go into ctl_req's
 * a, b and c (NULL: none)
 */
static const struct api_op {
	enum ctl_op	 op;
	int		 changes;
	unsigned	 params;
	const char	*a, *b, *c;
} api_ops[] = {
	{ CTL_OP_STATUS, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_STATS, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_SESSIONS, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_SESSION_KILL, 1, P_ID, "ip", "user", NULL },
	{ CTL_OP_QUEUE_SUMMARY, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_QUEUE_LIST, 0, P_FILTER | P_LIMIT, NULL, NULL, NULL },
	{ CTL_OP_QUEUE_SHOW, 0, P_BODY, "qid", NULL, NULL },
	{ CTL_OP_QUEUE_ACT, 1, P_FILTER | P_ACTION | P_DRY_RUN, NULL, NULL,
	    NULL },
	{ CTL_OP_QUEUE_PAUSE, 1, 0, "domain", "reason", NULL },
	{ CTL_OP_QUEUE_RESUME, 1, 0, "domain", NULL, NULL },
	{ CTL_OP_EVENTS, 0, P_SINCE | P_LIMIT | P_AFTER, "type", "ip",
	    "user" },
	{ CTL_OP_BAN_LIST, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_BAN_ADD, 1, P_DURATION, "cidr", "reason", NULL },
	{ CTL_OP_BAN_DEL, 1, 0, "cidr", NULL, NULL },
	{ CTL_OP_USER_LIST, 0, 0, NULL, NULL, NULL },
	{ CTL_OP_USER_STATE, 1, P_STATE, "user", "reason", NULL },
	{ CTL_OP_VERIFY_LIST, 0, 0, "address", NULL, NULL },
	{ CTL_OP_VERIFY_FLUSH, 1, 0, "address", NULL, NULL },
	{ CTL_OP_SERIES, 0, P_SINCE | P_LIMIT, NULL, NULL, NULL },
	{ CTL_OP_INCIDENTS, 0, P_SINCE, NULL, NULL, NULL },
	{ CTL_OP_INCIDENT, 0, P_SINCE, "id", NULL, NULL },
};
#define NAPI_OPS	(sizeof(api_ops) / sizeof(api_ops[0]))

static const struct api_op *
api_find(enum ctl_op op)
{
	for (size_t i = 0; i < NAPI_OPS; i++)
		if (api_ops[i].op == op)
			return &api_ops[i];
	return NULL;
}

/* console_api_op - NAME in the allow-table */
enum ctl_op
console_api_op(const char *name, int *changes)
{
	for (size_t i = 0; i < NAPI_OPS; i++)
		if (strcmp(ctl_op_name(api_ops[i].op), name) == 0) {
			*changes = api_ops[i].changes;
			return api_ops[i].op;
		}
	*changes = 0;
	return CTL_OP_NONE;
}

static int
set_str(char *dst, const char *v, const char *name, char *err, size_t errlen)
{
	if (strlen(v) >= CTL_STR_MAX) {
		snprintf(err, errlen, "%s: longer than %d bytes", name,
		    CTL_STR_MAX - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
set_secs(int64_t *dst, const char *v, const char *name, char *err,
    size_t errlen)
{
	if (ctl_duration_parse(v, dst) == -1) {
		snprintf(err, errlen, "%s: not a duration (30m, 1h, 7d)", name);
		return -1;
	}
	return 0;
}

static int
set_uint(uint64_t *dst, const char *v, int base, uint64_t max,
    const char *name, char *err, size_t errlen)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, base);
	if (v[0] == '\0' || v[0] == '-' || v[0] == '+' || *end != '\0' ||
	    errno != 0 || n > max) {
		snprintf(err, errlen, "%s: not a number", name);
		return -1;
	}
	*dst = n;
	return 0;
}

static int
set_flag(uint8_t *dst, const char *v, const char *name, char *err,
    size_t errlen)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
		*dst = 1;
	else if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
		*dst = 0;
	else {
		snprintf(err, errlen, "%s: 1 or 0", name);
		return -1;
	}
	return 0;
}

/* one of the queue filter's parameters; 1 taken, 0 not a filter's, -1 */
static int
set_filter(struct ctl_filter *f, const char *k, const char *v, char *err,
    size_t errlen)
{
	uint8_t flag;

	if (strcmp(k, "qid") == 0)
		return set_str(f->qid, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "from") == 0)
		return set_str(f->from, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "to") == 0)
		return set_str(f->to, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "domain") == 0)
		return set_str(f->to_domain, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "user") == 0)
		return set_str(f->user, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "client") == 0)
		return set_str(f->client, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "older_than") == 0)
		return set_secs(&f->older_than, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "newer_than") == 0)
		return set_secs(&f->newer_than, v, k, err, errlen) == 0 ? 1 : -1;
	if (strcmp(k, "state") == 0) {
		if (ctl_state_mask(v, &f->states) == -1) {
			snprintf(err, errlen, "state: unknown state");
			return -1;
		}
		return 1;
	}
	if (strcmp(k, "all") == 0 || strcmp(k, "dead") == 0) {
		if (set_flag(&flag, v, k, err, errlen) == -1)
			return -1;
		if (flag)
			f->flags |= k[0] == 'a' ? CTL_FILTER_ALL : CTL_FILTER_DEAD;
		return 1;
	}
	return 0;
}

/* one parameter of op into q; -1 with err */
static int
set_param(const struct api_op *o, struct ctl_req *q, const char *k,
    const char *v, char *err, size_t errlen)
{
	uint64_t n;
	int r, s;

	if (o->a != NULL && strcmp(k, o->a) == 0)
		return set_str(q->a, v, k, err, errlen);
	if (o->b != NULL && strcmp(k, o->b) == 0)
		return set_str(q->b, v, k, err, errlen);
	if (o->c != NULL && strcmp(k, o->c) == 0)
		return set_str(q->c, v, k, err, errlen);
	if ((o->params & P_FILTER) &&
	    (r = set_filter(&q->filter, k, v, err, errlen)) != 0)
		return r == 1 ? 0 : -1;
	if ((o->params & P_LIMIT) && strcmp(k, "limit") == 0) {
		if (set_uint(&n, v, 10, CTL_LIST_MAX, k, err, errlen) == -1)
			return -1;
		q->limit = (uint32_t)n;
		return 0;
	}
	if ((o->params & P_SINCE) && strcmp(k, "since") == 0)
		return set_secs(&q->since, v, k, err, errlen);
	if ((o->params & P_AFTER) && strcmp(k, "after") == 0) {
		if (set_uint(&n, v, 10, INT64_MAX, k, err, errlen) == -1)
			return -1;
		q->after = (int64_t)n;
		return 0;
	}
	if ((o->params & P_DURATION) && strcmp(k, "for") == 0)
		return set_secs(&q->duration, v, k, err, errlen);
	if ((o->params & P_ID) && strcmp(k, "id") == 0)
		return set_uint(&q->id, v, 16, UINT64_MAX, k, err, errlen);
	if ((o->params & P_DRY_RUN) && strcmp(k, "dry_run") == 0)
		return set_flag(&q->flag, v, k, err, errlen);
	if ((o->params & P_BODY) && strcmp(k, "body") == 0)
		return set_flag(&q->flag, v, k, err, errlen);
	if ((o->params & P_ACTION) && strcmp(k, "action") == 0) {
		if ((s = ctl_action_from_name(v)) == -1) {
			snprintf(err, errlen, "action: unknown action");
			return -1;
		}
		q->action = (uint8_t)s;
		return 0;
	}
	if ((o->params & P_STATE) && strcmp(k, "state") == 0) {
		if ((s = ctl_user_state_from_name(v)) == -1) {
			snprintf(err, errlen, "state: active, held or suspended");
			return -1;
		}
		q->state = (uint8_t)s;
		return 0;
	}
	snprintf(err, errlen, "%s takes no parameter by that name",
	    ctl_op_name(o->op));
	return -1;
}

/* console_api_req - params into q, checked as the socket checks them */
int
console_api_req(enum ctl_op op, const struct evkeyvalq *params,
    struct ctl_req *q, char *err, size_t errlen)
{
	const struct api_op *o = api_find(op);
	const struct evkeyval *kv, *kv2;
	struct ctl_req built;
	struct ipc_msg m;
	struct ipc_reader rd;
	size_t len;
	int rc;

	if (o == NULL) {
		snprintf(err, errlen, "not an operation of the console");
		return -1;
	}
	memset(&built, 0, sizeof(built));
	built.op = op;
	TAILQ_FOREACH(kv, params, next) {
		for (kv2 = TAILQ_NEXT(kv, next); kv2 != NULL;
		    kv2 = TAILQ_NEXT(kv2, next))
			if (strcmp(kv->key, kv2->key) == 0) {
				snprintf(err, errlen, "a parameter given twice");
				return -1;
			}
		if (set_param(o, &built, kv->key, kv->value, err, errlen) == -1)
			return -1;
	}
	/* through the socket's wire form and its checks */
	ipc_msg_init(&m, 0, 0);
	ctl_req_encode(&built, &m);
	len = evbuffer_get_length(m.buf);
	ipc_reader_init(&rd, evbuffer_pullup(m.buf, -1), len);
	memset(q, 0, sizeof(*q));
	rc = ctl_req_decode(op, &rd, q, err, errlen);
	ipc_msg_discard(&m);
	return rc;
}
