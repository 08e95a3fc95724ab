/*
 * users_ctl.c - `moat user list` and `moat user passwd` in the parent.
 *
 * The users file is the parent's: it reads it for the auth process and
 * is the only process allowed to write it. `user list` answers the
 * names in it (table "users_file"; the control process merges them with
 * the queue's account states). `user passwd NAME` arrives with an
 * argon2id hash the CLI made (the password itself never crosses the
 * socket); the file is rewritten atomically (users_file_set) and the
 * caller re-sends it to the auth process, so the new password works at
 * once, without SIGHUP.
 *
 * `user del NAME` removes the name's line the same way. `console passwd
 * NAME` and `console user del NAME` do the same to console_users, the
 * web console's logins (the parent gives the path).
 *
 * Public: users_ctl_is_op, users_ctl_request.
 *
 * SECURITY: requests were checked by the control process and are
 * decoded again here (ctl_req_decode: the name without ':' or white
 * space, the hash an "$argon2id$" string of printable characters), so
 * nothing can add or split a line. Hashes are never answered or logged.
 * Every change is an event with the administrator's uid.
 * LIMITS: those of the users file (users.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../ctl/ctl_msg.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../lib/log.h"
#include "users.h"
#include "users_ctl.h"

/* users_ctl_is_op - the operations the parent answers about users */
int
users_ctl_is_op(uint32_t op)
{
	return op == CTL_OP_USER_LIST || op == CTL_OP_USER_PASSWD ||
	    op == CTL_OP_USER_DEL || users_ctl_console_op(op);
}

/* users_ctl_console_op - the operations on console_users (not users_file) */
int
users_ctl_console_op(uint32_t op)
{
	return op == CTL_OP_CONSOLE_PASSWD || op == CTL_OP_CONSOLE_USER_DEL;
}

static void
uc_event(struct ipc_peer *queue, const char *type, const char *user,
    const char *detail)
{
	if (queue == NULL)
		return;
	proto_event_send(queue, type, "", user, "", detail);
}

static void
uc_list(const char *path, struct ipc_peer *from, uint64_t id)
{
	static const char *const cols[] = { "user" };
	static const enum ctl_kind kinds[] = { CTL_KIND_STR };
	struct users *u = NULL;
	struct ipc_msg ans;
	char err[512], *text;
	size_t len = 0;

	if (access(path, F_OK) == -1 && errno == ENOENT) {
		/* no file yet: no users */
		if ((text = strdup("")) == NULL)
			fatal("%s: strdup", __func__);
	} else if ((text = users_file_read(path, &len, err, sizeof(err))) ==
	    NULL) {
		ctl_answer_simple(from, id, CTL_FAILED, "%s", err);
		return;
	}
	u = users_parse(text, len, path, err, sizeof(err));
	explicit_bzero(text, len);
	free(text);
	if (u == NULL) {
		ctl_answer_simple(from, id, CTL_FAILED, "%s", err);
		return;
	}
	ipc_msg_init(&ans, 0, 0);
	ctl_ans_begin(&ans, CTL_OK, "");
	ctl_ans_table(&ans, "users_file", 1, cols, kinds);
	for (size_t i = 0; i < users_count(u); i++) {
		ctl_ans_row(&ans);
		ipc_put_str(&ans, users_name(u, i));
	}
	ctl_ans_end(&ans);
	users_free(u);
	ctl_answer_send(from, id, &ans);
}

static int
uc_passwd(const char *path, struct ipc_peer *from, struct ipc_peer *queue,
    uint64_t id, uint32_t uid, const struct ctl_req *q)
{
	char err[1024], detail[96], esc[CTL_STR_MAX * 4];

	if (users_file_set(path, q->a, q->b, err, sizeof(err)) == -1) {
		log_err(LOG_CAT_AUTH, "event=passwd_failed uid=%" PRIu32
		    " error=\"%s\"", uid, err);
		ctl_answer_simple(from, id, CTL_FAILED, "%s; nothing changed", err);
		return 0;
	}
	snprintf(detail, sizeof(detail), "uid=%" PRIu32 " op=%s", uid,
	    ctl_op_name(q->op));
	log_notice(LOG_CAT_AUTH, "event=passwd user=%s uid=%" PRIu32,
	    log_escape_bare(esc, sizeof(esc), q->a, strlen(q->a)), uid);
	uc_event(queue, q->op == CTL_OP_CONSOLE_PASSWD ? "console_passwd" :
	    "admin_passwd", q->a, detail);
	ctl_answer_simple(from, id, CTL_OK, "password for %s set in %s",
	    q->a, path);
	return 1;
}

/*
 * user del NAME: out of the users file (its AUTH stops at once: the
 * caller re-sends the file to the auth process). The control process
 * then asks the queue to forget the account's state.
 */
static int
uc_del(const char *path, struct ipc_peer *from, struct ipc_peer *queue,
    uint64_t id, uint32_t uid, const struct ctl_req *q)
{
	char err[1024], detail[96], esc[CTL_STR_MAX * 4];
	int r = users_file_del(path, q->a, err, sizeof(err));

	if (r == -1) {
		log_err(LOG_CAT_AUTH, "event=user_del_failed uid=%" PRIu32
		    " error=\"%s\"", uid, err);
		ctl_answer_simple(from, id, CTL_FAILED, "%s; nothing changed",
		    err);
		return 0;
	}
	if (r == 1 && q->op == CTL_OP_CONSOLE_USER_DEL) {
		ctl_answer_simple(from, id, CTL_FAILED, "no console login %s "
		    "in %s; nothing changed", q->a, path);
		return 0;
	}
	if (r == 1) {
		ctl_answer_simple(from, id, CTL_FAILED, "no user %s in %s; "
		    "nothing changed (the file's users are those moat user "
		    "list shows with in_file yes)", q->a, path);
		return 0;
	}
	snprintf(detail, sizeof(detail), "uid=%" PRIu32 " op=%s", uid,
	    ctl_op_name(q->op));
	log_notice(LOG_CAT_AUTH, "event=user_del user=%s uid=%" PRIu32,
	    log_escape_bare(esc, sizeof(esc), q->a, strlen(q->a)), uid);
	uc_event(queue, q->op == CTL_OP_CONSOLE_USER_DEL ? "console_user_del" :
	    "user_del", q->a, detail);
	ctl_answer_simple(from, id, CTL_OK, "%s removed from %s", q->a, path);
	return 1;
}

/* users_ctl_request - run one users operation for the control process */
int
users_ctl_request(const char *path, struct ipc_peer *from,
    struct ipc_peer *queue, uint64_t id, struct ipc_reader *r)
{
	struct ctl_req q;
	uint32_t uid;

	if (ctl_request_read(from, id, r, &q, &uid) == -1)
		return 0;
	switch (q.op) {
	case CTL_OP_USER_LIST:
		uc_list(path, from, id);
		return 0;
	case CTL_OP_USER_PASSWD:
	case CTL_OP_CONSOLE_PASSWD:
		return uc_passwd(path, from, queue, id, uid, &q);
	case CTL_OP_USER_DEL:
	case CTL_OP_CONSOLE_USER_DEL:
		return uc_del(path, from, queue, id, uid, &q);
	default:
		ctl_answer_simple(from, id, CTL_BAD_REQUEST,
		    "%s is not a users operation", ctl_op_name(q.op));
		return 0;
	}
}
