/*
 * auth_proc.c - argon2id password checks, away from the network process.
 *
 * Public: auth_proc_main.
 *
 * argon2id is slow on purpose (tens of milliseconds, 64 MiB); running
 * it here keeps the event loop that serves sessions free. The users
 * table arrives from the parent over IPC (PROTO_USERS), so this process
 * runs chrooted and unprivileged and never opens the file itself.
 * An unknown user's password is checked against another user's hash
 * (and refused whatever the result), so that unknown users and wrong
 * passwords cost exactly the same work, with the same parameters.
 *
 * The web console's logins (PROTO_CONSOLE_LOGIN from the control process)
 * are checked the same way against their own table, console_users: an
 * AUTH user is no console admin, nor the reverse.
 *
 * SECURITY: passwords are wiped after use and never logged; a user name
 * is compared exactly. Malformed messages from siblings are fatal.
 * LIMITS: one check at a time; the smtp and control processes queue
 * requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#include "../daemon/config.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../control/control_log.h"
#include "../lib/log.h"
#include "../daemon/proc.h"
#include "auth_proc.h"
#include "users.h"

struct auth_proc {
	struct event_base	*base;
	struct ipc_peer		*parent, *smtp, *control;
	struct users		*users;		/* owned */
	struct users		*console;	/* owned: console_users */
};

/*
 * The verdict of pass (wiped here) for user in u: an unknown user costs
 * the same argon2id work as a wrong password (another user's hash).
 */
static uint8_t
auth_verify(const struct users *u, const char *user, const uint8_t *p,
    size_t pwlen)
{
	const char *hash;
	uint8_t result;
	char *pass;

	if ((pass = malloc(pwlen + 1)) == NULL)
		return PROTO_AUTH_TEMPFAIL;
	memcpy(pass, p, pwlen);
	pass[pwlen] = '\0';
	hash = users_hash(u, user);
	if (hash == NULL) {
		/* same work as a real check, then refuse */
		const char *other = users_any_hash(u);

		if (other != NULL) {
			int same_work = crypto_pwhash_str_verify(other, pass, pwlen);

			(void)same_work;
		}
		result = PROTO_AUTH_BAD;
	} else if (crypto_pwhash_str_verify(hash, pass, pwlen) == 0)
		result = PROTO_AUTH_OK;
	else
		result = PROTO_AUTH_BAD;
	sodium_memzero(pass, pwlen);
	free(pass);
	return result;
}

/* smtp's only message: PROTO_AUTH_CHECK */
static void
auth_check(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct auth_proc *ap = arg;
	struct proto_auth_check q;
	struct proto_auth_result a;
	struct ipc_msg m;
	uint8_t result;

	ipc_expect(p, type, PROTO_AUTH_CHECK);
	/* user names longer than we store cannot exist: treat as bad */
	if (proto_auth_check_dec(r, &q) == -1)
		result = PROTO_AUTH_BAD;
	else
		result = auth_verify(ap->users, q.user, q.pass, q.passlen);
	a.result = result;
	proto_auth_result_enc(&m, id, &a);
	ipc_send(ap->smtp, &m);
}

/* control's only message: PROTO_CONSOLE_LOGIN */
static void
console_check(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct auth_proc *ap = arg;
	struct proto_console_login q;
	struct proto_auth_result a;
	struct ipc_msg m;

	memset(&q, 0, sizeof(q));
	ipc_expect(p, type, PROTO_CONSOLE_LOGIN);
	if (proto_console_login_dec(r, &q) == -1)
		a.result = PROTO_AUTH_BAD;
	else if (q.certificate)
		/* control's TLS verified the certificate that names q.user */
		a.result = q.passlen == 0 && users_hash(ap->console, q.user) !=
		    NULL ? PROTO_AUTH_OK : PROTO_AUTH_BAD;
	else
		a.result = auth_verify(ap->console, q.user, q.pass, q.passlen);
	/* the frame's copy of the password: wiped too */
	if (q.pass != NULL && q.passlen > 0)
		sodium_memzero((void *)(uintptr_t)q.pass, q.passlen);
	proto_console_result_enc(&m, id, &a);
	ipc_send(ap->control, &m);
}

static void
parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct auth_proc *ap = arg;

	switch (type) {
	case PROTO_USERS: {
		struct proto_users pu;
		char err[512];
		struct users *u;

		if (proto_users_dec(r, &pu) == -1)
			fatalx("%s: bad USERS", __func__);
		if ((u = users_parse((const char *)pu.text, pu.len,
		    pu.which == PROTO_USERS_CONSOLE ? "console_users" : "users",
		    err, sizeof(err))) == NULL) {
			log_err(LOG_CAT_AUTH, "event=users_rejected error=\"%s\"", err);
			return;
		}
		if (pu.which == PROTO_USERS_CONSOLE) {
			users_free(ap->console);
			ap->console = u;
		} else {
			users_free(ap->users);
			ap->users = u;
		}
		log_info(LOG_CAT_AUTH, "event=users_loaded count=%zu file=%s",
		    users_count(u),
		    pu.which == PROTO_USERS_CONSOLE ? "console_users" : "users");
		break;
	}
	default:
		if (control_child_msg(ap->base, p, type, r))
			break;
		fatalx("%s: unexpected message %u from parent", __func__, type);
	}
}

static void
peer_close_cb(struct ipc_peer *p, void *arg)
{
	struct auth_proc *ap = arg;

	/* the smtp process closing first is part of a normal shutdown */
	event_base_loopexit(ap->base, NULL);
}

/* auth_proc_main - serve password checks until shutdown */
int
auth_proc_main(struct proc_env *env)
{
	struct conf *conf = env->conf;
	struct event_base *base = env->base;
	int parent_fd = env->peer[PROC_PARENT];
	int smtp_fd = env->peer[PROC_SMTP];
	struct auth_proc ap;

	memset(&ap, 0, sizeof(ap));
	ap.base = base;
	ap.parent = ipc_peer_new(base, parent_fd, "parent", parent_msg_cb,
	    peer_close_cb, &ap);
	ap.smtp = ipc_peer_new(base, smtp_fd, "smtp", auth_check,
	    peer_close_cb, &ap);
	if (env->peer[PROC_CONTROL] >= 0)
		ap.control = ipc_peer_new(base, env->peer[PROC_CONTROL],
		    "control", console_check, peer_close_cb, &ap);
	proto_ready_send(ap.parent, PROTO_READY_START, 1, NULL);
	event_base_dispatch(base);
	ipc_peer_free(ap.parent);
	ipc_peer_free(ap.smtp);
	ipc_peer_free(ap.control);
	users_free(ap.users);
	users_free(ap.console);
	conf_free(conf);
	return 0;
}
