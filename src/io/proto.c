/*
 * proto.c - the codec of each message moat's processes send each other
 * (the catalogue and the field order are in proto.h): for each message
 * its encoder and its decoder side by side, so that the two cannot
 * drift apart.
 *
 * Public: proto_*_enc, proto_*_dec for each message of proto.h;
 * proto_body_enc, proto_body_enc_bytes, proto_body_dec, proto_end_dec,
 * proto_empty_enc, proto_empty_dec, proto_event_send, proto_recode.
 *
 * SECURITY: the bytes decoded come from a sibling process, never from
 * the network directly; still every decoder reads only within the frame
 * (ipc_get_*), refuses a string longer than its buffer or holding a NUL,
 * a count of list items the frame cannot hold, and bytes left over.
 * LIMITS: the string buffers of proto.h (PROTO_*_MAX); one frame at most
 * IPC_MAX_FRAME bytes.
 */
#include <time.h>

#include <event2/buffer.h>

#include "../lib/log.h"
#include "ipc.h"
#include "proto.h"

/* the smallest encoded list items: a count past frame / size lies */
#define STORE_RCPT_MIN	13	/* three empty strings and a u8 */
#define DELIVER_RCPT_MIN 17	/* a u64, two empty strings and a u8 */
#define LOOKUP_TARGET_MIN 8	/* two empty strings */
#define DNSBL_ITEM_MIN	17	/* four empty strings and a u8 */

/* the next string field into buf: "" when malformed (r->err set) */
static const char *
get_str(struct ipc_reader *r, char *buf, size_t size)
{
	ipc_get_str(r, buf, size);
	return buf;
}

/* proto_empty_enc - a message without fields */
void
proto_empty_enc(struct ipc_msg *m, uint16_t type, uint64_t id)
{
	ipc_msg_init(m, type, id);
}

/* proto_empty_dec - 0 when the message is empty */
int
proto_empty_dec(struct ipc_reader *r)
{
	return ipc_get_end(r);
}

/* proto_end_dec - 0 when every field was read and none ran short */
int
proto_end_dec(struct ipc_reader *r)
{
	return ipc_get_end(r);
}

/* proto_store_enc - the head of PROTO_QUEUE_STORE */
void
proto_store_enc(struct ipc_msg *m, uint64_t id, const struct proto_store *s)
{
	ipc_msg_init(m, PROTO_QUEUE_STORE, id);
	ipc_put_str(m, s->sender);
	ipc_put_str(m, s->helo);
	ipc_put_str(m, s->client_ip);
	ipc_put_str(m, s->auth_user);
	ipc_put_str(m, s->listener);
	ipc_put_str(m, s->envid);
	ipc_put_str(m, s->qid);
	ipc_put_u8(m, s->ret);
	ipc_put_u8(m, s->flags);
	ipc_put_u32(m, s->nrcpt);
}

/* proto_store_dec - the head; -1 also for a count the frame cannot hold */
int
proto_store_dec(struct ipc_reader *r, struct proto_store *s)
{
	s->sender = get_str(r, s->buf[0], sizeof(s->buf[0]));
	s->helo = get_str(r, s->buf[1], sizeof(s->buf[1]));
	s->client_ip = get_str(r, s->buf[2], sizeof(s->buf[2]));
	s->auth_user = get_str(r, s->buf[3], sizeof(s->buf[3]));
	s->listener = get_str(r, s->buf[4], sizeof(s->buf[4]));
	s->envid = get_str(r, s->buf[5], sizeof(s->buf[5]));
	s->qid = get_str(r, s->buf[6], sizeof(s->buf[6]));
	s->ret = ipc_get_u8(r);
	s->flags = ipc_get_u8(r);
	s->nrcpt = ipc_get_u32(r);
	if (r->err || s->nrcpt == 0 || s->nrcpt > r->left / STORE_RCPT_MIN)
		return -1;
	return 0;
}

/* proto_store_rcpt_enc - one recipient of PROTO_QUEUE_STORE */
void
proto_store_rcpt_enc(struct ipc_msg *m, const struct proto_store_rcpt *rc)
{
	ipc_put_str(m, rc->address);
	ipc_put_str(m, rc->orcpt);
	ipc_put_u8(m, rc->notify);
	ipc_put_str(m, rc->mailbox);
}

/* proto_store_rcpt_dec - one recipient; -1 when a field ran short */
int
proto_store_rcpt_dec(struct ipc_reader *r, struct proto_store_rcpt *rc)
{
	rc->address = get_str(r, rc->buf[0], sizeof(rc->buf[0]));
	rc->orcpt = get_str(r, rc->buf[1], sizeof(rc->buf[1]));
	rc->notify = ipc_get_u8(r);
	rc->mailbox = get_str(r, rc->buf[2], sizeof(rc->buf[2]));
	return r->err ? -1 : 0;
}

/* proto_store_head_enc - the header section of a STORE */
void
proto_store_head_enc(struct ipc_msg *m, const void *p, size_t len)
{
	ipc_put_bytes(m, p, len);
}

int
proto_store_head_dec(struct ipc_reader *r, const uint8_t **p, size_t *len)
{
	*p = ipc_get_bytes(r, len);
	return r->err ? -1 : 0;
}

/* proto_body_enc - the message that ends a STORE or a DELIVER, moved */
void
proto_body_enc(struct ipc_msg *m, struct evbuffer *body)
{
	ipc_put_evbuffer(m, body);
}

/* proto_body_enc_bytes - the same from memory */
void
proto_body_enc_bytes(struct ipc_msg *m, const void *p, size_t len)
{
	ipc_put_bytes(m, p, len);
}

/* proto_body_dec - the body, and nothing after it */
int
proto_body_dec(struct ipc_reader *r, const uint8_t **p, size_t *len)
{
	*p = ipc_get_bytes(r, len);
	return ipc_get_end(r);
}

/* proto_stored_enc - PROTO_QUEUE_STORED */
void
proto_stored_enc(struct ipc_msg *m, uint64_t id, const struct proto_stored *s)
{
	ipc_msg_init(m, PROTO_QUEUE_STORED, id);
	ipc_put_u8(m, s->status);
	ipc_put_str(m, s->text);
}

int
proto_stored_dec(struct ipc_reader *r, struct proto_stored *s)
{
	s->status = ipc_get_u8(r);
	s->text = get_str(r, s->buf, sizeof(s->buf));
	return ipc_get_end(r);
}

/* proto_chunk_enc - PROTO_QUEUE_CHUNK, the buffer's contents moved */
void
proto_chunk_enc(struct ipc_msg *m, uint64_t id, struct evbuffer *part)
{
	ipc_msg_init(m, PROTO_QUEUE_CHUNK, id);
	ipc_put_evbuffer(m, part);
}

int
proto_chunk_dec(struct ipc_reader *r, struct proto_chunk *c)
{
	c->data = ipc_get_bytes(r, &c->len);
	return ipc_get_end(r);
}

/* proto_event_enc - PROTO_EVENT */
void
proto_event_enc(struct ipc_msg *m, uint64_t id, const struct proto_event *e)
{
	ipc_msg_init(m, PROTO_EVENT, id);
	ipc_put_i64(m, e->time);
	ipc_put_str(m, e->type);
	ipc_put_str(m, e->client_ip);
	ipc_put_str(m, e->user);
	ipc_put_str(m, e->session);
	ipc_put_str(m, e->detail);
}

/* proto_event_send - a PROTO_EVENT stamped now, sent to peer */
void
proto_event_send(struct ipc_peer *peer, const char *type, const char *ip,
    const char *user, const char *session, const char *detail)
{
	struct proto_event e;
	struct ipc_msg m;

	e.time = (int64_t)time(NULL);
	e.type = type;
	e.client_ip = ip;
	e.user = user;
	e.session = session;
	e.detail = detail;
	proto_event_enc(&m, 0, &e);
	ipc_send(peer, &m);
}

int
proto_event_dec(struct ipc_reader *r, struct proto_event *e)
{
	e->time = ipc_get_i64(r);
	e->type = get_str(r, e->buf[0], sizeof(e->buf[0]));
	e->client_ip = get_str(r, e->buf[1], sizeof(e->buf[1]));
	e->user = get_str(r, e->buf[2], sizeof(e->buf[2]));
	e->session = get_str(r, e->buf[3], sizeof(e->buf[3]));
	e->detail = get_str(r, e->buf[4], sizeof(e->buf[4]));
	return ipc_get_end(r);
}

/* proto_auth_check_enc - PROTO_AUTH_CHECK */
void
proto_auth_check_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_auth_check *a)
{
	ipc_msg_init(m, PROTO_AUTH_CHECK, id);
	ipc_put_str(m, a->mech);
	ipc_put_str(m, a->user);
	ipc_put_bytes(m, a->pass, a->passlen);
	ipc_put_str(m, a->client_ip);
}

int
proto_auth_check_dec(struct ipc_reader *r, struct proto_auth_check *a)
{
	a->mech = get_str(r, a->mech_buf, sizeof(a->mech_buf));
	a->user = get_str(r, a->user_buf, sizeof(a->user_buf));
	a->pass = ipc_get_bytes(r, &a->passlen);
	a->client_ip = get_str(r, a->ip_buf, sizeof(a->ip_buf));
	return ipc_get_end(r);
}

/* proto_auth_result_enc - PROTO_AUTH_RESULT */
void
proto_auth_result_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_auth_result *a)
{
	ipc_msg_init(m, PROTO_AUTH_RESULT, id);
	ipc_put_u8(m, a->result);
}

int
proto_auth_result_dec(struct ipc_reader *r, struct proto_auth_result *a)
{
	a->result = ipc_get_u8(r);
	return ipc_get_end(r);
}

/* proto_console_login_enc - PROTO_CONSOLE_LOGIN */
void
proto_console_login_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_console_login *a)
{
	ipc_msg_init(m, PROTO_CONSOLE_LOGIN, id);
	ipc_put_str(m, a->user);
	ipc_put_bytes(m, a->pass, a->passlen);
	ipc_put_str(m, a->client_ip);
	ipc_put_u8(m, a->certificate);
}

int
proto_console_login_dec(struct ipc_reader *r, struct proto_console_login *a)
{
	a->user = get_str(r, a->user_buf, sizeof(a->user_buf));
	a->pass = ipc_get_bytes(r, &a->passlen);
	a->client_ip = get_str(r, a->ip_buf, sizeof(a->ip_buf));
	a->certificate = ipc_get_u8(r);
	if (a->certificate > 1)
		return -1;
	return ipc_get_end(r);
}

/* proto_console_result_enc - PROTO_CONSOLE_RESULT */
void
proto_console_result_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_auth_result *a)
{
	ipc_msg_init(m, PROTO_CONSOLE_RESULT, id);
	ipc_put_u8(m, a->result);
}

int
proto_console_result_dec(struct ipc_reader *r, struct proto_auth_result *a)
{
	return proto_auth_result_dec(r, a);
}

/* proto_reload_enc - PROTO_RELOAD */
void
proto_reload_enc(struct ipc_msg *m, uint64_t id, const struct proto_reload *rl)
{
	ipc_msg_init(m, PROTO_RELOAD, id);
	ipc_put_bytes(m, rl->text, rl->len);
	ipc_put_str(m, rl->path);
}

int
proto_reload_dec(struct ipc_reader *r, struct proto_reload *rl)
{
	rl->text = ipc_get_bytes(r, &rl->len);
	rl->path = get_str(r, rl->path_buf, sizeof(rl->path_buf));
	return ipc_get_end(r);
}

/* proto_users_enc - PROTO_USERS */
void
proto_users_enc(struct ipc_msg *m, uint64_t id, const struct proto_users *u)
{
	ipc_msg_init(m, PROTO_USERS, id);
	ipc_put_bytes(m, u->text, u->len);
	ipc_put_u8(m, u->which);
}

int
proto_users_dec(struct ipc_reader *r, struct proto_users *u)
{
	u->text = ipc_get_bytes(r, &u->len);
	u->which = ipc_get_u8(r);
	if (u->which != PROTO_USERS_MAIL && u->which != PROTO_USERS_CONSOLE)
		return -1;
	return ipc_get_end(r);
}

/* proto_ban_enc - PROTO_BAN_ADD */
void
proto_ban_enc(struct ipc_msg *m, uint64_t id, const struct proto_ban *b)
{
	ipc_msg_init(m, PROTO_BAN_ADD, id);
	ipc_put_str(m, b->cidr);
	ipc_put_i64(m, b->expires);
	ipc_put_str(m, b->reason);
	ipc_put_str(m, b->origin);
}

int
proto_ban_dec(struct ipc_reader *r, struct proto_ban *b)
{
	b->cidr = get_str(r, b->cidr_buf, sizeof(b->cidr_buf));
	b->expires = ipc_get_i64(r);
	b->reason = get_str(r, b->reason_buf, sizeof(b->reason_buf));
	b->origin = get_str(r, b->origin_buf, sizeof(b->origin_buf));
	return ipc_get_end(r);
}

/* proto_ban_del_enc - PROTO_BAN_DEL */
void
proto_ban_del_enc(struct ipc_msg *m, uint64_t id, const struct proto_ban_del *b)
{
	ipc_msg_init(m, PROTO_BAN_DEL, id);
	ipc_put_str(m, b->cidr);
}

int
proto_ban_del_dec(struct ipc_reader *r, struct proto_ban_del *b)
{
	b->cidr = get_str(r, b->cidr_buf, sizeof(b->cidr_buf));
	return ipc_get_end(r);
}

/* proto_bans_enc - PROTO_BANS_CHANGED: the count, then the items moved */
void
proto_bans_enc(struct ipc_msg *m, uint64_t id, uint32_t n,
    struct ipc_msg *items)
{
	ipc_msg_init(m, PROTO_BANS_CHANGED, id);
	ipc_put_u32(m, n);
	ipc_put_fields(m, items);
}

/* proto_bans_item_enc - one ban of the list */
void
proto_bans_item_enc(struct ipc_msg *items, const struct proto_bans_item *b)
{
	ipc_put_str(items, b->cidr);
	ipc_put_i64(items, b->expires);
}

int
proto_bans_dec(struct ipc_reader *r, uint32_t *n)
{
	*n = ipc_get_u32(r);
	return r->err ? -1 : 0;
}

int
proto_bans_item_dec(struct ipc_reader *r, struct proto_bans_item *b)
{
	b->cidr = get_str(r, b->cidr_buf, sizeof(b->cidr_buf));
	b->expires = ipc_get_i64(r);
	return r->err ? -1 : 0;
}

/* proto_deliver_enc - the head of PROTO_MTA_DELIVER */
void
proto_deliver_enc(struct ipc_msg *m, uint64_t id, const struct proto_deliver *d)
{
	ipc_msg_init(m, PROTO_MTA_DELIVER, id);
	ipc_put_str(m, d->qid);
	ipc_put_i64(m, d->created);
	ipc_put_str(m, d->sender);
	ipc_put_str(m, d->envid);
	ipc_put_u8(m, d->ret);
	ipc_put_u8(m, d->flags);
	ipc_put_str(m, d->domain);
	ipc_put_u32(m, d->nrcpt);
}

/* proto_deliver_dec - the head; -1 also for a count the frame cannot hold */
int
proto_deliver_dec(struct ipc_reader *r, struct proto_deliver *d)
{
	d->qid = get_str(r, d->buf[0], sizeof(d->buf[0]));
	d->created = ipc_get_i64(r);
	d->sender = get_str(r, d->buf[1], sizeof(d->buf[1]));
	d->envid = get_str(r, d->buf[2], sizeof(d->buf[2]));
	d->ret = ipc_get_u8(r);
	d->flags = ipc_get_u8(r);
	d->domain = get_str(r, d->buf[3], sizeof(d->buf[3]));
	d->nrcpt = ipc_get_u32(r);
	if (r->err || d->nrcpt == 0 || d->nrcpt > r->left / DELIVER_RCPT_MIN)
		return -1;
	return 0;
}

/* proto_deliver_rcpt_enc - one recipient of PROTO_MTA_DELIVER */
void
proto_deliver_rcpt_enc(struct ipc_msg *m, const struct proto_deliver_rcpt *rc)
{
	ipc_put_u64(m, rc->id);
	ipc_put_str(m, rc->address);
	ipc_put_str(m, rc->orcpt);
	ipc_put_u8(m, rc->notify);
}

int
proto_deliver_rcpt_dec(struct ipc_reader *r, struct proto_deliver_rcpt *rc)
{
	rc->id = ipc_get_u64(r);
	rc->address = get_str(r, rc->buf[0], sizeof(rc->buf[0]));
	rc->orcpt = get_str(r, rc->buf[1], sizeof(rc->buf[1]));
	rc->notify = ipc_get_u8(r);
	return r->err ? -1 : 0;
}

/* proto_result_enc - the count of PROTO_MTA_RESULT */
void
proto_result_enc(struct ipc_msg *m, uint64_t id, uint32_t n)
{
	ipc_msg_init(m, PROTO_MTA_RESULT, id);
	ipc_put_u32(m, n);
}

/* proto_result_rcpt_enc - one recipient's outcome */
void
proto_result_rcpt_enc(struct ipc_msg *m, const struct proto_result_rcpt *rc)
{
	ipc_put_u64(m, rc->id);
	ipc_put_u8(m, rc->result);
	ipc_put_str(m, rc->reply);
	ipc_put_str(m, rc->relay);
}

int
proto_result_dec(struct ipc_reader *r, uint32_t *n)
{
	*n = ipc_get_u32(r);
	return r->err ? -1 : 0;
}

int
proto_result_rcpt_dec(struct ipc_reader *r, struct proto_result_rcpt *rc)
{
	rc->id = ipc_get_u64(r);
	rc->result = ipc_get_u8(r);
	rc->reply = get_str(r, rc->reply_buf, sizeof(rc->reply_buf));
	rc->relay = get_str(r, rc->relay_buf, sizeof(rc->relay_buf));
	return r->err ? -1 : 0;
}

/* proto_user_state_enc - PROTO_USER_STATE */
void
proto_user_state_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_user_state *u)
{
	ipc_msg_init(m, PROTO_USER_STATE, id);
	ipc_put_str(m, u->user);
	ipc_put_str(m, u->state);
}

int
proto_user_state_dec(struct ipc_reader *r, struct proto_user_state *u)
{
	u->user = get_str(r, u->user_buf, sizeof(u->user_buf));
	u->state = get_str(r, u->state_buf, sizeof(u->state_buf));
	return ipc_get_end(r);
}

/* proto_ctl_request_enc - PROTO_CTL_REQUEST, the arguments moved */
void
proto_ctl_request_enc(struct ipc_msg *m, uint64_t id, uint32_t op,
    uint32_t uid, const char *admin, struct evbuffer *args)
{
	ipc_msg_init(m, PROTO_CTL_REQUEST, id);
	ipc_put_u32(m, op);
	ipc_put_u32(m, uid);
	ipc_put_str(m, admin);
	ipc_put_evbuffer(m, args);
}

int
proto_ctl_request_dec(struct ipc_reader *r, struct proto_ctl_request *q)
{
	q->op = ipc_get_u32(r);
	q->uid = ipc_get_u32(r);
	q->admin = get_str(r, q->admin_buf, sizeof(q->admin_buf));
	q->args = ipc_get_bytes(r, &q->len);
	return ipc_get_end(r);
}

/* proto_ctl_answer_enc - PROTO_CTL_ANSWER, the answer moved */
void
proto_ctl_answer_enc(struct ipc_msg *m, uint64_t id, struct evbuffer *ans)
{
	ipc_msg_init(m, PROTO_CTL_ANSWER, id);
	ipc_put_evbuffer(m, ans);
}

int
proto_ctl_answer_dec(struct ipc_reader *r, struct proto_ctl_answer *a)
{
	a->data = ipc_get_bytes(r, &a->len);
	return ipc_get_end(r);
}

/* proto_log_level_enc - PROTO_LOG_LEVEL */
void
proto_log_level_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_log_level *l)
{
	ipc_msg_init(m, PROTO_LOG_LEVEL, id);
	ipc_put_u8(m, l->cat);
	ipc_put_u8(m, l->level);
}

int
proto_log_level_dec(struct ipc_reader *r, struct proto_log_level *l)
{
	l->cat = ipc_get_u8(r);
	l->level = ipc_get_u8(r);
	return ipc_get_end(r);
}

/* proto_ca_sign_enc - PROTO_CA_SIGN */
void
proto_ca_sign_enc(struct ipc_msg *m, uint64_t id, const struct proto_ca_sign *c)
{
	ipc_msg_init(m, PROTO_CA_SIGN, id);
	ipc_put_u32(m, c->key_id);
	ipc_put_u8(m, c->op);
	ipc_put_u32(m, c->md_nid);
	ipc_put_bytes(m, c->in, c->inlen);
}

int
proto_ca_sign_dec(struct ipc_reader *r, struct proto_ca_sign *c)
{
	c->key_id = ipc_get_u32(r);
	c->op = ipc_get_u8(r);
	c->md_nid = ipc_get_u32(r);
	c->in = ipc_get_bytes(r, &c->inlen);
	return ipc_get_end(r);
}

/* proto_ca_signed_enc - PROTO_CA_SIGNED */
void
proto_ca_signed_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_ca_signed *c)
{
	ipc_msg_init(m, PROTO_CA_SIGNED, id);
	ipc_put_u8(m, c->status);
	ipc_put_bytes(m, c->sig, c->siglen);
}

int
proto_ca_signed_dec(struct ipc_reader *r, struct proto_ca_signed *c)
{
	c->status = ipc_get_u8(r);
	c->sig = ipc_get_bytes(r, &c->siglen);
	return ipc_get_end(r);
}

/* proto_dkim_key_enc - PROTO_DKIM_KEY */
void
proto_dkim_key_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_dkim_key *k)
{
	ipc_msg_init(m, PROTO_DKIM_KEY, id);
	ipc_put_str(m, k->domain);
	ipc_put_str(m, k->selector);
	ipc_put_u8(m, k->alg);
}

int
proto_dkim_key_dec(struct ipc_reader *r, struct proto_dkim_key *k)
{
	k->domain = get_str(r, k->buf[0], sizeof(k->buf[0]));
	k->selector = get_str(r, k->buf[1], sizeof(k->buf[1]));
	k->alg = ipc_get_u8(r);
	if (ipc_get_end(r) == -1 || k->alg > PROTO_DKIM_ED25519_SHA256)
		return -1;
	return 0;
}

/* proto_dkim_sign_enc - PROTO_DKIM_SIGN */
void
proto_dkim_sign_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_dkim_sign *q)
{
	ipc_msg_init(m, PROTO_DKIM_SIGN, id);
	ipc_put_u32(m, q->key_id);
	ipc_put_bytes(m, q->digest, q->digestlen);
}

int
proto_dkim_sign_dec(struct ipc_reader *r, struct proto_dkim_sign *q)
{
	q->key_id = ipc_get_u32(r);
	q->digest = ipc_get_bytes(r, &q->digestlen);
	return ipc_get_end(r);
}

/* proto_dkim_signed_enc - PROTO_DKIM_SIGNED */
void
proto_dkim_signed_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_dkim_signed *a)
{
	ipc_msg_init(m, PROTO_DKIM_SIGNED, id);
	ipc_put_u32(m, a->key_id);
	ipc_put_u8(m, a->status);
	ipc_put_bytes(m, a->sig, a->siglen);
}

int
proto_dkim_signed_dec(struct ipc_reader *r, struct proto_dkim_signed *a)
{
	a->key_id = ipc_get_u32(r);
	a->status = ipc_get_u8(r);
	a->sig = ipc_get_bytes(r, &a->siglen);
	return ipc_get_end(r);
}

/* proto_lookup_rcpt_enc - PROTO_LOOKUP_RCPT */
void
proto_lookup_rcpt_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_lookup_rcpt *q)
{
	ipc_msg_init(m, PROTO_LOOKUP_RCPT, id);
	ipc_put_u32(m, q->seq);
	ipc_put_str(m, q->rcpt);
	ipc_put_str(m, q->local);
	ipc_put_str(m, q->domain);
	ipc_put_u8(m, q->kind);
}

int
proto_lookup_rcpt_dec(struct ipc_reader *r, struct proto_lookup_rcpt *q)
{
	q->seq = ipc_get_u32(r);
	q->rcpt = get_str(r, q->buf[0], sizeof(q->buf[0]));
	q->local = get_str(r, q->buf[1], sizeof(q->buf[1]));
	q->domain = get_str(r, q->buf[2], sizeof(q->buf[2]));
	q->kind = ipc_get_u8(r);
	if (q->kind != PROTO_LOOKUP_LOCAL && q->kind != PROTO_LOOKUP_ROUTED)
		return -1;
	return ipc_get_end(r);
}

/* proto_lookup_result_enc - the head of PROTO_LOOKUP_RESULT */
void
proto_lookup_result_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_lookup_result *a)
{
	ipc_msg_init(m, PROTO_LOOKUP_RESULT, id);
	ipc_put_u32(m, a->seq);
	ipc_put_u8(m, a->answer);
	ipc_put_str(m, a->why);
	ipc_put_u32(m, a->ntargets);
}

/* proto_lookup_target_enc - one target of a FOUND answer */
void
proto_lookup_target_enc(struct ipc_msg *m, const struct proto_lookup_target *t)
{
	ipc_put_str(m, t->address);
	ipc_put_str(m, t->mailbox);
}

/*
 * proto_lookup_result_dec - the head; -1 also for an unknown answer, a
 * FOUND without targets, targets with another answer, or more than
 * PROTO_LOOKUP_TARGETS_MAX or the frame can hold
 */
int
proto_lookup_result_dec(struct ipc_reader *r, struct proto_lookup_result *a)
{
	a->seq = ipc_get_u32(r);
	a->answer = ipc_get_u8(r);
	a->why = get_str(r, a->why_buf, sizeof(a->why_buf));
	a->ntargets = ipc_get_u32(r);
	if (r->err || a->answer > PROTO_LOOKUP_TEMPFAIL ||
	    (a->answer == PROTO_LOOKUP_FOUND) != (a->ntargets > 0) ||
	    a->ntargets > PROTO_LOOKUP_TARGETS_MAX ||
	    a->ntargets > r->left / LOOKUP_TARGET_MIN)
		return -1;
	return 0;
}

int
proto_lookup_target_dec(struct ipc_reader *r, struct proto_lookup_target *t)
{
	t->address = get_str(r, t->buf[0], sizeof(t->buf[0]));
	t->mailbox = get_str(r, t->buf[1], sizeof(t->buf[1]));
	return r->err ? -1 : 0;
}

/* proto_verify_put_enc - PROTO_VERIFY_PUT */
void
proto_verify_put_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_verify_put *v)
{
	ipc_msg_init(m, PROTO_VERIFY_PUT, id);
	ipc_put_str(m, v->address);
	ipc_put_u8(m, v->result);
	ipc_put_str(m, v->reply);
	ipc_put_i64(m, v->expires);
}

int
proto_verify_put_dec(struct ipc_reader *r, struct proto_verify_put *v)
{
	v->address = get_str(r, v->address_buf, sizeof(v->address_buf));
	v->result = ipc_get_u8(r);
	v->reply = get_str(r, v->reply_buf, sizeof(v->reply_buf));
	v->expires = ipc_get_i64(r);
	if (v->result != PROTO_VERIFY_FOUND && v->result != PROTO_VERIFY_NOTFOUND)
		return -1;
	return ipc_get_end(r);
}

/* proto_verify_flush_enc - PROTO_VERIFY_FLUSH */
void
proto_verify_flush_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_verify_flush *v)
{
	ipc_msg_init(m, PROTO_VERIFY_FLUSH, id);
	ipc_put_str(m, v->address);
}

int
proto_verify_flush_dec(struct ipc_reader *r, struct proto_verify_flush *v)
{
	v->address = get_str(r, v->address_buf, sizeof(v->address_buf));
	return ipc_get_end(r);
}

/* proto_ready_enc - PROTO_READY */
void
proto_ready_enc(struct ipc_msg *m, uint64_t id, const struct proto_ready *rd)
{
	ipc_msg_init(m, PROTO_READY, id);
	ipc_put_u8(m, rd->what);
	ipc_put_u8(m, rd->ok);
	ipc_put_str(m, rd->note);
}

int
proto_ready_dec(struct ipc_reader *r, struct proto_ready *rd)
{
	rd->what = ipc_get_u8(r);
	rd->ok = ipc_get_u8(r);
	rd->note = get_str(r, rd->note_buf, sizeof(rd->note_buf));
	if (rd->what > PROTO_READY_RELOAD || rd->ok > 1)
		return -1;
	return ipc_get_end(r);
}

/* proto_tls_keys_enc - PROTO_TLS_KEYS */
void
proto_tls_keys_enc(struct ipc_msg *m, uint64_t id, const struct proto_tls_keys *k)
{
	if (k->count == 0 || k->count > PROTO_TLS_PAIRS_MAX)
		fatalx("%s: %u pairs", __func__, k->count);
	ipc_msg_init(m, PROTO_TLS_KEYS, id);
	ipc_put_u32(m, k->gen);
	ipc_put_u32(m, k->count);
	for (uint32_t i = 0; i < k->count; i++)
		ipc_put_bytes(m, k->item[i].pem, k->item[i].len);
}

int
proto_tls_keys_dec(struct ipc_reader *r, struct proto_tls_keys *k)
{
	k->gen = ipc_get_u32(r);
	k->count = ipc_get_u32(r);
	if (r->err || k->count == 0 || k->count > PROTO_TLS_PAIRS_MAX)
		return -1;
	for (uint32_t i = 0; i < k->count; i++)
		k->item[i].pem = ipc_get_bytes(r, &k->item[i].len);
	return ipc_get_end(r);
}

/* proto_tls_gen_enc - PROTO_TLS_GEN */
void
proto_tls_gen_enc(struct ipc_msg *m, uint64_t id, const struct proto_tls_gen *g)
{
	ipc_msg_init(m, PROTO_TLS_GEN, id);
	ipc_put_u32(m, g->gen);
	ipc_put_u8(m, g->state);
	ipc_put_str(m, g->error);
}

int
proto_tls_gen_dec(struct ipc_reader *r, struct proto_tls_gen *g)
{
	g->gen = ipc_get_u32(r);
	g->state = ipc_get_u8(r);
	ipc_get_str(r, g->error, sizeof(g->error));
	if (g->state > PROTO_TLS_RETIRED)
		return -1;
	return ipc_get_end(r);
}

/* proto_ready_send - tell the parent */
void
proto_ready_send(struct ipc_peer *p, uint8_t what, int ok, const char *note)
{
	struct proto_ready rd = { what, ok ? 1 : 0, note ? note : "", "" };
	struct ipc_msg m;

	proto_ready_enc(&m, 0, &rd);
	ipc_send(p, &m);
}

/* proto_counts_enc - PROTO_COUNTS */
void
proto_counts_enc(struct ipc_msg *m, uint64_t id, const struct proto_counts *c)
{
	ipc_msg_init(m, PROTO_COUNTS, id);
	ipc_put_i64(m, c->sessions);
	ipc_put_i64(m, c->queued);
}

int
proto_counts_dec(struct ipc_reader *r, struct proto_counts *c)
{
	c->sessions = ipc_get_i64(r);
	c->queued = ipc_get_i64(r);
	return ipc_get_end(r);
}

/* proto_series_enc - PROTO_SERIES */
void
proto_series_enc(struct ipc_msg *m, uint64_t id, const struct proto_series *c)
{
	ipc_msg_init(m, PROTO_SERIES, id);
	ipc_put_u32(m, c->rejections);
	ipc_put_u32(m, c->auth_failures);
}

int
proto_series_dec(struct ipc_reader *r, struct proto_series *c)
{
	c->rejections = ipc_get_u32(r);
	c->auth_failures = ipc_get_u32(r);
	return ipc_get_end(r);
}

/* proto_local_ident_enc - PROTO_LOCAL_IDENT */
void
proto_local_ident_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_local_ident *l)
{
	ipc_msg_init(m, PROTO_LOCAL_IDENT, id);
	ipc_put_u32(m, l->uid);
	ipc_put_u32(m, l->gid);
}

int
proto_local_ident_dec(struct ipc_reader *r, struct proto_local_ident *l)
{
	l->uid = ipc_get_u32(r);
	l->gid = ipc_get_u32(r);
	return ipc_get_end(r);
}

/* proto_local_identified_enc - PROTO_LOCAL_IDENTIFIED */
void
proto_local_identified_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_local_identified *l)
{
	ipc_msg_init(m, PROTO_LOCAL_IDENTIFIED, id);
	ipc_put_u8(m, l->verdict);
	ipc_put_str(m, l->login);
}

int
proto_local_identified_dec(struct ipc_reader *r,
    struct proto_local_identified *l)
{
	l->verdict = ipc_get_u8(r);
	l->login = get_str(r, l->login_buf, sizeof(l->login_buf));
	if (l->verdict != PROTO_LOCAL_OK && l->verdict != PROTO_LOCAL_DENIED)
		return -1;
	return ipc_get_end(r);
}

/* proto_dnsbl_result_enc - the head of PROTO_DNSBL_RESULT */
void
proto_dnsbl_result_enc(struct ipc_msg *m, uint64_t id, int64_t time,
    uint32_t n)
{
	ipc_msg_init(m, PROTO_DNSBL_RESULT, id);
	ipc_put_i64(m, time);
	ipc_put_u32(m, n);
}

/* proto_dnsbl_item_enc - one address on one zone */
void
proto_dnsbl_item_enc(struct ipc_msg *m, const struct proto_dnsbl_item *it)
{
	ipc_put_str(m, it->address);
	ipc_put_str(m, it->zone);
	ipc_put_u8(m, it->status);
	ipc_put_str(m, it->answer);
	ipc_put_str(m, it->reason);
}

int
proto_dnsbl_result_dec(struct ipc_reader *r, int64_t *time, uint32_t *n)
{
	*time = ipc_get_i64(r);
	*n = ipc_get_u32(r);
	return r->err || *n > r->left / DNSBL_ITEM_MIN ? -1 : 0;
}

int
proto_dnsbl_item_dec(struct ipc_reader *r, struct proto_dnsbl_item *it)
{
	it->address = get_str(r, it->addr_buf, sizeof(it->addr_buf));
	it->zone = get_str(r, it->zone_buf, sizeof(it->zone_buf));
	it->status = ipc_get_u8(r);
	it->answer = get_str(r, it->answer_buf, sizeof(it->answer_buf));
	it->reason = get_str(r, it->reason_buf, sizeof(it->reason_buf));
	return r->err || it->status > PROTO_DNSBL_ERROR ? -1 : 0;
}

/* proto_auth_login_enc - PROTO_AUTH_LOGIN */
void
proto_auth_login_enc(struct ipc_msg *m, uint64_t id,
    const struct proto_auth_login *l)
{
	ipc_msg_init(m, PROTO_AUTH_LOGIN, id);
	ipc_put_str(m, l->user);
	ipc_put_str(m, l->client_ip);
	ipc_put_str(m, l->session);
}

int
proto_auth_login_dec(struct ipc_reader *r, struct proto_auth_login *l)
{
	l->user = get_str(r, l->user_buf, sizeof(l->user_buf));
	l->client_ip = get_str(r, l->ip_buf, sizeof(l->ip_buf));
	l->session = get_str(r, l->session_buf, sizeof(l->session_buf));
	return ipc_get_end(r);
}

/*
 * Decode one message and encode it again: what proto_recode runs. A
 * message without a list has the same shape for each: RECODE makes it.
 */
#define RECODE(name, type)						\
static int								\
recode_##name(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)	\
{									\
	struct type x;							\
									\
	if (proto_##name##_dec(r, &x) == -1)				\
		return -1;						\
	proto_##name##_enc(out, id, &x);				\
	return 0;							\
}

RECODE(stored, proto_stored)
RECODE(tls_keys, proto_tls_keys)
RECODE(tls_gen, proto_tls_gen)
RECODE(event, proto_event)
RECODE(auth_check, proto_auth_check)
RECODE(auth_result, proto_auth_result)
RECODE(reload, proto_reload)
RECODE(users, proto_users)
RECODE(ban, proto_ban)
RECODE(ban_del, proto_ban_del)
RECODE(user_state, proto_user_state)
RECODE(log_level, proto_log_level)
RECODE(ca_sign, proto_ca_sign)
RECODE(ca_signed, proto_ca_signed)
RECODE(verify_put, proto_verify_put)
RECODE(verify_flush, proto_verify_flush)
RECODE(lookup_rcpt, proto_lookup_rcpt)
RECODE(local_ident, proto_local_ident)
RECODE(local_identified, proto_local_identified)
RECODE(ready, proto_ready)
RECODE(counts, proto_counts)
RECODE(series, proto_series)
RECODE(dkim_key, proto_dkim_key)
RECODE(dkim_sign, proto_dkim_sign)
RECODE(dkim_signed, proto_dkim_signed)
RECODE(auth_login, proto_auth_login)
RECODE(console_login, proto_console_login)

static int
recode_console_result(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	struct proto_auth_result x;

	if (proto_console_result_dec(r, &x) == -1)
		return -1;
	proto_console_result_enc(out, id, &x);
	return 0;
}

/* the bytes of p in an evbuffer, for the encoders that move one */
static struct evbuffer *
recode_buf(const void *p, size_t len)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL || evbuffer_add(b, p, len) == -1)
		fatalx("%s: evbuffer", __func__);
	return b;
}

static int
recode_bytes(uint16_t type, struct ipc_reader *r, uint64_t id,
    struct ipc_msg *out)
{
	struct proto_ctl_request q;
	struct proto_chunk c;
	struct evbuffer *b;

	if (type == PROTO_CTL_REQUEST) {
		if (proto_ctl_request_dec(r, &q) == -1)
			return -1;
		b = recode_buf(q.args, q.len);
		proto_ctl_request_enc(out, id, q.op, q.uid, q.admin, b);
	} else {
		if (proto_chunk_dec(r, &c) == -1)	/* the same shape */
			return -1;
		b = recode_buf(c.data, c.len);
		if (type == PROTO_CTL_ANSWER)
			proto_ctl_answer_enc(out, id, b);
		else
			proto_chunk_enc(out, id, b);
	}
	evbuffer_free(b);
	return 0;
}

/* a message's record and its recipients (deliver's and store's) */
#define RECODE_RCPTS(name)						\
static int								\
recode_##name##_rcpts(struct ipc_reader *r, uint64_t id,		\
    struct ipc_msg *out)						\
{									\
	struct proto_##name h;						\
	struct proto_##name##_rcpt rc;					\
									\
	if (proto_##name##_dec(r, &h) == -1)				\
		return -1;						\
	proto_##name##_enc(out, id, &h);				\
	for (uint32_t i = 0; i < h.nrcpt; i++) {			\
		if (proto_##name##_rcpt_dec(r, &rc) == -1)		\
			return -1;					\
		proto_##name##_rcpt_enc(out, &rc);			\
	}								\
	return 0;							\
}

RECODE_RCPTS(deliver)
RECODE_RCPTS(store)

/* a message's body, last */
static int
recode_body(struct ipc_reader *r, struct ipc_msg *out)
{
	const uint8_t *p;
	size_t len;

	if (proto_body_dec(r, &p, &len) == -1)
		return -1;
	proto_body_enc_bytes(out, p, len);
	return 0;
}

static int
recode_deliver(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	if (recode_deliver_rcpts(r, id, out) == -1)
		return -1;
	return recode_body(r, out);
}

/* store's: the header section between the recipients and the body */
static int
recode_store(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	const uint8_t *p;
	size_t len;

	if (recode_store_rcpts(r, id, out) == -1 ||
	    proto_store_head_dec(r, &p, &len) == -1)
		return -1;
	proto_store_head_enc(out, p, len);
	return recode_body(r, out);
}

static int
recode_result(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	struct proto_result_rcpt rc;
	uint32_t n;

	if (proto_result_dec(r, &n) == -1)
		return -1;
	proto_result_enc(out, id, n);
	for (uint32_t i = 0; i < n; i++) {
		if (proto_result_rcpt_dec(r, &rc) == -1)
			return -1;
		proto_result_rcpt_enc(out, &rc);
	}
	return proto_end_dec(r);
}

static int
recode_dnsbl_result(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	struct proto_dnsbl_item it;
	int64_t time;
	uint32_t n;

	if (proto_dnsbl_result_dec(r, &time, &n) == -1)
		return -1;
	proto_dnsbl_result_enc(out, id, time, n);
	for (uint32_t i = 0; i < n; i++) {
		if (proto_dnsbl_item_dec(r, &it) == -1)
			return -1;
		proto_dnsbl_item_enc(out, &it);
	}
	return proto_end_dec(r);
}

static int
recode_bans(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	struct proto_bans_item b;
	struct ipc_msg items;
	uint32_t n;
	int rc = 0;

	if (proto_bans_dec(r, &n) == -1)
		return -1;
	ipc_msg_init(&items, 0, 0);
	for (uint32_t i = 0; i < n && rc == 0; i++)
		if ((rc = proto_bans_item_dec(r, &b)) == 0)
			proto_bans_item_enc(&items, &b);
	if (rc == 0 && proto_end_dec(r) == 0)
		proto_bans_enc(out, id, n, &items);
	else
		rc = -1;
	ipc_msg_discard(&items);
	return rc;
}

static int
recode_lookup_result(struct ipc_reader *r, uint64_t id, struct ipc_msg *out)
{
	struct proto_lookup_result a;
	struct proto_lookup_target t;

	if (proto_lookup_result_dec(r, &a) == -1)
		return -1;
	proto_lookup_result_enc(out, id, &a);
	for (uint32_t i = 0; i < a.ntargets; i++) {
		if (proto_lookup_target_dec(r, &t) == -1)
			return -1;
		proto_lookup_target_enc(out, &t);
	}
	return proto_end_dec(r);
}

static int
recode_empty(uint16_t type, struct ipc_reader *r, uint64_t id,
    struct ipc_msg *out)
{
	if (proto_empty_dec(r) == -1)
		return -1;
	proto_empty_enc(out, type, id);
	return 0;
}

/*
 * proto_recode - decode a message of any type and encode it again into
 * out: 0 (out to be sent or discarded), or -1 when it does not decode
 * or the type is unknown (out holds nothing). A message that decodes
 * comes out byte for byte as it went in: the check that each encoder
 * and its decoder agree (unit tests, fuzzing).
 */
int
proto_recode(uint16_t type, uint64_t id, struct ipc_reader *r,
    struct ipc_msg *out)
{
	int rc;

	out->buf = NULL;
	switch (type) {
	case PROTO_QUEUE_STORE:	rc = recode_store(r, id, out); break;
	case PROTO_QUEUE_STORED: rc = recode_stored(r, id, out); break;
	case PROTO_QUEUE_CHUNK:
	case PROTO_CTL_REQUEST:
	case PROTO_CTL_ANSWER:	rc = recode_bytes(type, r, id, out); break;
	case PROTO_QUEUE_ABORT:
	case PROTO_DNSBL_CHECK:
	case PROTO_VERIFY_LOAD:
	case PROTO_SHUTDOWN:	rc = recode_empty(type, r, id, out); break;
	case PROTO_EVENT:	rc = recode_event(r, id, out); break;
	case PROTO_AUTH_CHECK:	rc = recode_auth_check(r, id, out); break;
	case PROTO_AUTH_RESULT:	rc = recode_auth_result(r, id, out); break;
	case PROTO_RELOAD:	rc = recode_reload(r, id, out); break;
	case PROTO_USERS:	rc = recode_users(r, id, out); break;
	case PROTO_CONSOLE_LOGIN: rc = recode_console_login(r, id, out); break;
	case PROTO_CONSOLE_RESULT: rc = recode_console_result(r, id, out); break;
	case PROTO_BAN_ADD:	rc = recode_ban(r, id, out); break;
	case PROTO_MTA_DELIVER:	rc = recode_deliver(r, id, out); break;
	case PROTO_MTA_RESULT:	rc = recode_result(r, id, out); break;
	case PROTO_BANS_CHANGED: rc = recode_bans(r, id, out); break;
	case PROTO_USER_STATE:	rc = recode_user_state(r, id, out); break;
	case PROTO_LOG_LEVEL:	rc = recode_log_level(r, id, out); break;
	case PROTO_CA_SIGN:	rc = recode_ca_sign(r, id, out); break;
	case PROTO_CA_SIGNED:	rc = recode_ca_signed(r, id, out); break;
	case PROTO_BAN_DEL:	rc = recode_ban_del(r, id, out); break;
	case PROTO_LOOKUP_RCPT:	rc = recode_lookup_rcpt(r, id, out); break;
	case PROTO_LOOKUP_RESULT: rc = recode_lookup_result(r, id, out); break;
	case PROTO_VERIFY_PUT:	rc = recode_verify_put(r, id, out); break;
	case PROTO_VERIFY_FLUSH: rc = recode_verify_flush(r, id, out); break;
	case PROTO_LOCAL_IDENT:	rc = recode_local_ident(r, id, out); break;
	case PROTO_LOCAL_IDENTIFIED:
		rc = recode_local_identified(r, id, out);
		break;
	case PROTO_READY: rc = recode_ready(r, id, out); break;
	case PROTO_COUNTS: rc = recode_counts(r, id, out); break;
	case PROTO_SERIES: rc = recode_series(r, id, out); break;
	case PROTO_TLS_KEYS:	rc = recode_tls_keys(r, id, out); break;
	case PROTO_TLS_GEN:	rc = recode_tls_gen(r, id, out); break;
	case PROTO_DKIM_KEY:	rc = recode_dkim_key(r, id, out); break;
	case PROTO_DKIM_SIGN:	rc = recode_dkim_sign(r, id, out); break;
	case PROTO_DKIM_SIGNED:	rc = recode_dkim_signed(r, id, out); break;
	case PROTO_AUTH_LOGIN:	rc = recode_auth_login(r, id, out); break;
	case PROTO_DNSBL_RESULT: rc = recode_dnsbl_result(r, id, out); break;
	default:		rc = -1; break;
	}
	if (rc == -1)
		ipc_msg_discard(out);
	return rc;
}
