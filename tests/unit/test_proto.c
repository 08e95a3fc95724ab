/*
 * test_proto.c - the codec of each IPC message (src/io/proto.c): every
 * message encoded, decoded and encoded again comes out the same; its
 * fields come back as they went in, in the order proto.h documents;
 * every cut short and every one with a byte too many is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "io/ipc.h"
#include "io/proto.h"

static const uint8_t head[] = "Subject: hi\r\n\r\n";
static const uint8_t body[] = "body\r\n";
static const uint8_t digest[32] = { 0x11, 0x22, 0x33, 0x44, 0xfe, 0 };

static struct evbuffer *
buf_of(const void *p, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	assert_non_null(b);
	assert_int_equal(evbuffer_add(b, p, len), 0);
	return b;
}

static void
enc_store(struct ipc_msg *m)
{
	struct proto_store s = { .sender = "a@example.org", .helo = "mx.test",
	    .client_ip = "192.0.2.1", .auth_user = "alice", .listener = "mx",
	    .envid = "ENV1", .qid = "6a1b2c3d4e5f", .ret = PROTO_RET_HDRS,
	    .flags = PROTO_MSGF_8BITMIME | PROTO_MSGF_HOLD, .nrcpt = 2 };
	struct proto_store_rcpt r1 = { .address = "b@example.net", .orcpt =
	    "rfc822;b@example.net", .notify = PROTO_NOTIFY_FAILURE,
	    .mailbox = "" };
	struct proto_store_rcpt r2 = { .address = "c@local.test", .orcpt = "",
	    .notify = 0, .mailbox = "c" };
	struct evbuffer *b = buf_of(body, sizeof(body) - 1);

	proto_store_enc(m, 7, &s);
	proto_store_rcpt_enc(m, &r1);
	proto_store_rcpt_enc(m, &r2);
	proto_store_head_enc(m, head, sizeof(head) - 1);
	proto_body_enc(m, b);
	evbuffer_free(b);
}

static void
enc_stored(struct ipc_msg *m)
{
	struct proto_stored s = { .status = PROTO_STORE_OK, .text = "Q1234" };

	proto_stored_enc(m, 7, &s);
}

static void
enc_chunk(struct ipc_msg *m)
{
	struct evbuffer *b = buf_of(body, sizeof(body) - 1);

	proto_chunk_enc(m, 7, b);
	evbuffer_free(b);
}

static void
enc_abort(struct ipc_msg *m)
{
	proto_empty_enc(m, PROTO_QUEUE_ABORT, 7);
}

static void
enc_event(struct ipc_msg *m)
{
	struct proto_event e = { .time = 1700000000, .type = "auth_fail",
	    .client_ip = "192.0.2.9", .user = "bob", .session = "s1",
	    .detail = "bad password" };

	proto_event_enc(m, 0, &e);
}

static void
enc_auth_check(struct ipc_msg *m)
{
	struct proto_auth_check a = { .mech = "PLAIN", .user = "alice",
	    .pass = (const uint8_t *)"se\0cret", .passlen = 7,
	    .client_ip = "2001:db8::1" };

	proto_auth_check_enc(m, 9, &a);
}

static void
enc_auth_result(struct ipc_msg *m)
{
	struct proto_auth_result a = { PROTO_AUTH_BAD };

	proto_auth_result_enc(m, 9, &a);
}

static void
enc_console_login(struct ipc_msg *m)
{
	struct proto_console_login a = { .user = "admin",
	    .pass = (const uint8_t *)"se\0cret", .passlen = 7,
	    .client_ip = "127.0.0.1", .certificate = 1 };

	proto_console_login_enc(m, 9, &a);
}

static void
enc_console_result(struct ipc_msg *m)
{
	struct proto_auth_result a = { PROTO_AUTH_OK };

	proto_console_result_enc(m, 9, &a);
}

static void
enc_shutdown(struct ipc_msg *m)
{
	proto_empty_enc(m, PROTO_SHUTDOWN, 0);
}

static void
enc_reload(struct ipc_msg *m)
{
	struct proto_reload rl = { .text = (const uint8_t *)"[smtp]\n",
	    .len = 7, .path = "/etc/moat/moat.conf" };

	proto_reload_enc(m, 0, &rl);
}

static void
enc_users(struct ipc_msg *m)
{
	struct proto_users u = { .text = (const uint8_t *)"alice:$argon2id$x\n",
	    .len = 18, .which = PROTO_USERS_CONSOLE };

	proto_users_enc(m, 0, &u);
}

static void
enc_ban(struct ipc_msg *m)
{
	struct proto_ban b = { .cidr = "192.0.2.0/24", .expires = 1800000000,
	    .reason = "auth failures", .origin = "auth" };

	proto_ban_enc(m, 0, &b);
}

static void
enc_deliver(struct ipc_msg *m)
{
	struct proto_deliver d = { .qid = "Q1", .created = 1700000001,
	    .sender = "", .envid = "E", .ret = PROTO_RET_FULL,
	    .flags = PROTO_MSGF_OUTSIDER, .domain = "example.net", .nrcpt = 2 };
	struct proto_deliver_rcpt r1 = { .id = 41, .address = "b@example.net",
	    .orcpt = "", .notify = PROTO_NOTIFY_NEVER };
	struct proto_deliver_rcpt r2 = { .id = 42, .address = "c@example.net",
	    .orcpt = "rfc822;c@example.net", .notify = 0 };

	proto_deliver_enc(m, 5, &d);
	proto_deliver_rcpt_enc(m, &r1);
	proto_deliver_rcpt_enc(m, &r2);
	proto_body_enc_bytes(m, body, sizeof(body) - 1);
}

static void
enc_result(struct ipc_msg *m)
{
	struct proto_result_rcpt r1 = { .id = 41, .result = PROTO_MTA_OK,
	    .reply = "250 2.0.0 ok", .relay = "mx[192.0.2.5]:25" };
	struct proto_result_rcpt r2 = { .id = 42, .result = PROTO_MTA_PERMFAIL,
	    .reply = "550 5.1.1 no such user", .relay = "" };

	proto_result_enc(m, 5, 2);
	proto_result_rcpt_enc(m, &r1);
	proto_result_rcpt_enc(m, &r2);
}

static void
enc_bans(struct ipc_msg *m)
{
	struct proto_bans_item b1 = { .cidr = "192.0.2.0/24", .expires = 0 };
	struct proto_bans_item b2 = { .cidr = "2001:db8::/32", .expires = 9 };
	struct ipc_msg items;

	ipc_msg_init(&items, 0, 0);
	proto_bans_item_enc(&items, &b1);
	proto_bans_item_enc(&items, &b2);
	proto_bans_enc(m, 0, 2, &items);
	ipc_msg_discard(&items);
}

static void
enc_user_state(struct ipc_msg *m)
{
	struct proto_user_state u = { .user = "alice", .state = "suspended" };

	proto_user_state_enc(m, 0, &u);
}

static void
enc_ctl_request(struct ipc_msg *m)
{
	struct evbuffer *b = buf_of("\1\2\3", 3);

	proto_ctl_request_enc(m, 3, 12, 1000, "console:admin", b);
	evbuffer_free(b);
}

static void
enc_ctl_answer(struct ipc_msg *m)
{
	struct evbuffer *b = buf_of("\0\0\0\0", 4);

	proto_ctl_answer_enc(m, 3, b);
	evbuffer_free(b);
}

static void
enc_log_level(struct ipc_msg *m)
{
	struct proto_log_level l = { 2, 4 };

	proto_log_level_enc(m, 0, &l);
}

static void
enc_ca_sign(struct ipc_msg *m)
{
	struct proto_ca_sign c = { .key_id = 0, .op = PROTO_CA_ECDSA,
	    .md_nid = 0, .in = digest, .inlen = sizeof(digest) };

	proto_ca_sign_enc(m, 11, &c);
}

static void
enc_dkim_key(struct ipc_msg *m)
{
	struct proto_dkim_key k = { .domain = "example.com",
	    .selector = "s1", .alg = PROTO_DKIM_ED25519_SHA256 };

	proto_dkim_key_enc(m, 1, &k);
}

static void
enc_dkim_sign(struct ipc_msg *m)
{
	struct proto_dkim_sign q = { .key_id = 1, .digest = digest,
	    .digestlen = 20 };

	proto_dkim_sign_enc(m, 12, &q);
}

static void
enc_dkim_signed(struct ipc_msg *m)
{
	struct proto_dkim_signed a = { .key_id = 1, .status = 0,
	    .sig = digest, .siglen = 20 };

	proto_dkim_signed_enc(m, 12, &a);
}

static void
enc_ca_signed(struct ipc_msg *m)
{
	struct proto_ca_signed c = { .status = 0, .sig = digest, .siglen = 20 };

	proto_ca_signed_enc(m, 11, &c);
}

static void
enc_ban_del(struct ipc_msg *m)
{
	struct proto_ban_del b = { .cidr = "2001:db8::/32" };

	proto_ban_del_enc(m, 0, &b);
}

static void
enc_lookup_rcpt(struct ipc_msg *m)
{
	struct proto_lookup_rcpt q = { .seq = 3, .rcpt = "Bob@corp.example",
	    .local = "Bob", .domain = "corp.example",
	    .kind = PROTO_LOOKUP_ROUTED };

	proto_lookup_rcpt_enc(m, 0x1234, &q);
}

static void
enc_lookup_result(struct ipc_msg *m)
{
	struct proto_lookup_result a = { .seq = 3, .answer =
	    PROTO_LOOKUP_FOUND, .why = "alias", .ntargets = 2 };
	struct proto_lookup_target t1 = { .address = "bob@corp.example",
	    .mailbox = "" };
	struct proto_lookup_target t2 = { .address = "alice@local.test",
	    .mailbox = "alice" };

	proto_lookup_result_enc(m, 0x1234, &a);
	proto_lookup_target_enc(m, &t1);
	proto_lookup_target_enc(m, &t2);
}

static void
enc_verify_load(struct ipc_msg *m)
{
	proto_empty_enc(m, PROTO_VERIFY_LOAD, 0);
}

static void
enc_verify_put(struct ipc_msg *m)
{
	struct proto_verify_put v = { .address = "\"a b\"@corp.example",
	    .result = PROTO_VERIFY_NOTFOUND,
	    .reply = "550 5.1.1 <\"a b\"@corp.example>: User unknown",
	    .expires = 1800000000 };

	proto_verify_put_enc(m, 0, &v);
}

static void
enc_verify_flush(struct ipc_msg *m)
{
	struct proto_verify_flush v = { .address = "bob@corp.example" };

	proto_verify_flush_enc(m, 0, &v);
}

static void
enc_ready(struct ipc_msg *m)
{
	struct proto_ready rd = { .what = PROTO_READY_RELOAD, .ok = 0,
	    .note = "aliases_file /etc/moat/aliases:3: no target" };

	proto_ready_enc(m, 0, &rd);
}

static void
enc_counts(struct ipc_msg *m)
{
	struct proto_counts c = { .sessions = 12, .queued = -1 };

	proto_counts_enc(m, 0, &c);
}

static void
enc_series(struct ipc_msg *m)
{
	struct proto_series c = { .rejections = 7, .auth_failures = 3 };

	proto_series_enc(m, 0, &c);
}

static void
enc_tls_keys(struct ipc_msg *m)
{
	struct proto_tls_keys k = { .gen = 3, .count = 2 };

	k.item[0].pem = (const uint8_t *)"-----BEGIN PRIVATE KEY-----";
	k.item[0].len = 27;
	k.item[1].pem = (const uint8_t *)"";
	k.item[1].len = 0;
	proto_tls_keys_enc(m, 0, &k);
}

static void
enc_tls_gen(struct ipc_msg *m)
{
	struct proto_tls_gen g = { .gen = 3, .state = PROTO_TLS_FAILED,
	    .error = "key.pem: cannot load key" };

	proto_tls_gen_enc(m, 0, &g);
}

static void
enc_local_ident(struct ipc_msg *m)
{
	struct proto_local_ident l = { .uid = 33, .gid = 33 };

	proto_local_ident_enc(m, 0, &l);
}

static void
enc_local_identified(struct ipc_msg *m)
{
	struct proto_local_identified l = { .verdict = PROTO_LOCAL_OK,
	    .login = "www-data" };

	proto_local_identified_enc(m, 0, &l);
}

static void
enc_auth_login(struct ipc_msg *m)
{
	struct proto_auth_login l = { .user = "alice", .client_ip =
	    "192.0.2.7", .session = "5f3a9c01d2e4" };

	proto_auth_login_enc(m, 0, &l);
}

static void
enc_dnsbl_result(struct ipc_msg *m)
{
	struct proto_dnsbl_item i1 = { .address = "192.0.2.10",
	    .zone = "bl.example", .status = PROTO_DNSBL_LISTED,
	    .answer = "127.0.0.2", .reason = "listed for spam" };
	struct proto_dnsbl_item i2 = { .address = "2001:db8::10",
	    .zone = "bl.example", .status = PROTO_DNSBL_ERROR,
	    .answer = "SERVFAIL", .reason = "" };

	proto_dnsbl_result_enc(m, 3, 1700000000, 2);
	proto_dnsbl_item_enc(m, &i1);
	proto_dnsbl_item_enc(m, &i2);
}

static void
enc_dnsbl_check(struct ipc_msg *m)
{
	proto_empty_enc(m, PROTO_DNSBL_CHECK, 3);
}

static const struct {
	uint16_t	 type;
	void		(*enc)(struct ipc_msg *);
} samples[] = {
	{ PROTO_QUEUE_STORE, enc_store },
	{ PROTO_QUEUE_STORED, enc_stored },
	{ PROTO_QUEUE_CHUNK, enc_chunk },
	{ PROTO_QUEUE_ABORT, enc_abort },
	{ PROTO_EVENT, enc_event },
	{ PROTO_AUTH_CHECK, enc_auth_check },
	{ PROTO_AUTH_RESULT, enc_auth_result },
	{ PROTO_SHUTDOWN, enc_shutdown },
	{ PROTO_RELOAD, enc_reload },
	{ PROTO_USERS, enc_users },
	{ PROTO_BAN_ADD, enc_ban },
	{ PROTO_MTA_DELIVER, enc_deliver },
	{ PROTO_MTA_RESULT, enc_result },
	{ PROTO_BANS_CHANGED, enc_bans },
	{ PROTO_USER_STATE, enc_user_state },
	{ PROTO_CTL_REQUEST, enc_ctl_request },
	{ PROTO_CTL_ANSWER, enc_ctl_answer },
	{ PROTO_LOG_LEVEL, enc_log_level },
	{ PROTO_CA_SIGN, enc_ca_sign },
	{ PROTO_CA_SIGNED, enc_ca_signed },
	{ PROTO_BAN_DEL, enc_ban_del },
	{ PROTO_LOOKUP_RCPT, enc_lookup_rcpt },
	{ PROTO_LOOKUP_RESULT, enc_lookup_result },
	{ PROTO_VERIFY_LOAD, enc_verify_load },
	{ PROTO_VERIFY_PUT, enc_verify_put },
	{ PROTO_VERIFY_FLUSH, enc_verify_flush },
	{ PROTO_READY, enc_ready },
	{ PROTO_COUNTS, enc_counts },
	{ PROTO_SERIES, enc_series },
	{ PROTO_TLS_KEYS, enc_tls_keys },
	{ PROTO_TLS_GEN, enc_tls_gen },
	{ PROTO_LOCAL_IDENT, enc_local_ident },
	{ PROTO_LOCAL_IDENTIFIED, enc_local_identified },
	{ PROTO_DKIM_KEY, enc_dkim_key },
	{ PROTO_DKIM_SIGN, enc_dkim_sign },
	{ PROTO_DKIM_SIGNED, enc_dkim_signed },
	{ PROTO_AUTH_LOGIN, enc_auth_login },
	{ PROTO_CONSOLE_LOGIN, enc_console_login },
	{ PROTO_CONSOLE_RESULT, enc_console_result },
	{ PROTO_DNSBL_RESULT, enc_dnsbl_result },
	{ PROTO_DNSBL_CHECK, enc_dnsbl_check },
};
/* message numbers left free between the defined ones: 41..44 */
#define PROTO_UNUSED	4
#define NSAMPLES	(sizeof(samples) / sizeof(samples[0]))

/* the payload of a sample, copied out; *len set */
static uint8_t *
sample_bytes(size_t i, size_t *len)
{
	struct ipc_msg m;
	uint8_t *p;

	samples[i].enc(&m);
	assert_int_equal(m.type, samples[i].type);
	*len = evbuffer_get_length(m.buf);
	p = malloc(*len + 1);
	assert_non_null(p);
	evbuffer_remove(m.buf, p, *len);
	ipc_msg_discard(&m);
	return p;
}

static int
recode(uint16_t type, const uint8_t *p, size_t len, uint8_t **out,
    size_t *outlen)
{
	struct ipc_reader r;
	struct ipc_msg m;

	ipc_reader_init(&r, p, len);
	if (proto_recode(type, 1, &r, &m) == -1)
		return -1;
	*outlen = evbuffer_get_length(m.buf);
	*out = malloc(*outlen + 1);
	assert_non_null(*out);
	evbuffer_remove(m.buf, *out, *outlen);
	ipc_msg_discard(&m);
	return 0;
}

/* every message: decoded and encoded again, the same bytes */
static void
test_roundtrip(void **state)
{
	assert_int_equal(NSAMPLES, PROTO_MAX - 1 - PROTO_UNUSED);
	for (size_t i = 0; i < NSAMPLES; i++) {
		size_t len, outlen;
		uint8_t *p = sample_bytes(i, &len), *out;

		if (recode(samples[i].type, p, len, &out, &outlen) == -1)
			fail_msg("type %u: got refused, want decoded",
			    samples[i].type);
		if (outlen != len || memcmp(out, p, len) != 0)
			fail_msg("type %u: got %zu other bytes, want the %zu "
			    "encoded", samples[i].type, outlen, len);
		free(out);
		free(p);
	}
}

/* every message cut short anywhere, or with a byte more: refused */
static void
test_truncated_and_trailing(void **state)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		size_t len, outlen;
		uint8_t *p = sample_bytes(i, &len), *out;

		for (size_t cut = 0; cut < len; cut++)
			if (recode(samples[i].type, p, cut, &out, &outlen) == 0)
				fail_msg("type %u cut at %zu of %zu: got "
				    "decoded, want refused", samples[i].type,
				    cut, len);
		p[len] = 'x';
		if (recode(samples[i].type, p, len + 1, &out, &outlen) == 0)
			fail_msg("type %u with a trailing byte: got decoded, "
			    "want refused", samples[i].type);
		free(p);
	}
}

/* m, built by hand, is the same as sample i; m is discarded */
static void
assert_wire(struct ipc_msg *m, size_t i)
{
	size_t len;
	uint8_t *p = sample_bytes(i, &len);

	assert_int_equal(evbuffer_get_length(m->buf), len);
	assert_memory_equal(evbuffer_pullup(m->buf, -1), p, len);
	ipc_msg_discard(m);
	free(p);
}

/* the order of proto.h, written field by field as before the codecs */
static void
test_wire_store(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, PROTO_QUEUE_STORE, 7);
	ipc_put_str(&m, "a@example.org");
	ipc_put_str(&m, "mx.test");
	ipc_put_str(&m, "192.0.2.1");
	ipc_put_str(&m, "alice");
	ipc_put_str(&m, "mx");
	ipc_put_str(&m, "ENV1");
	ipc_put_str(&m, "6a1b2c3d4e5f");
	ipc_put_u8(&m, PROTO_RET_HDRS);
	ipc_put_u8(&m, PROTO_MSGF_8BITMIME | PROTO_MSGF_HOLD);
	ipc_put_u32(&m, 2);
	ipc_put_str(&m, "b@example.net");
	ipc_put_str(&m, "rfc822;b@example.net");
	ipc_put_u8(&m, PROTO_NOTIFY_FAILURE);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "c@local.test");
	ipc_put_str(&m, "");
	ipc_put_u8(&m, 0);
	ipc_put_str(&m, "c");
	ipc_put_bytes(&m, head, sizeof(head) - 1);
	ipc_put_bytes(&m, body, sizeof(body) - 1);
	assert_wire(&m, 0);
}

static void
test_wire_deliver(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, PROTO_MTA_DELIVER, 5);
	ipc_put_str(&m, "Q1");
	ipc_put_i64(&m, 1700000001);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "E");
	ipc_put_u8(&m, PROTO_RET_FULL);
	ipc_put_u8(&m, PROTO_MSGF_OUTSIDER);
	ipc_put_str(&m, "example.net");
	ipc_put_u32(&m, 2);
	ipc_put_u64(&m, 41);
	ipc_put_str(&m, "b@example.net");
	ipc_put_str(&m, "");
	ipc_put_u8(&m, PROTO_NOTIFY_NEVER);
	ipc_put_u64(&m, 42);
	ipc_put_str(&m, "c@example.net");
	ipc_put_str(&m, "rfc822;c@example.net");
	ipc_put_u8(&m, 0);
	ipc_put_bytes(&m, body, sizeof(body) - 1);
	assert_wire(&m, 11);
}

static void
test_wire_event(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, PROTO_EVENT, 0);
	ipc_put_i64(&m, 1700000000);
	ipc_put_str(&m, "auth_fail");
	ipc_put_str(&m, "192.0.2.9");
	ipc_put_str(&m, "bob");
	ipc_put_str(&m, "s1");
	ipc_put_str(&m, "bad password");
	assert_wire(&m, 4);
}

static void
test_wire_lookup(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, PROTO_LOOKUP_RCPT, 0x1234);
	ipc_put_u32(&m, 3);
	ipc_put_str(&m, "Bob@corp.example");
	ipc_put_str(&m, "Bob");
	ipc_put_str(&m, "corp.example");
	ipc_put_u8(&m, PROTO_LOOKUP_ROUTED);
	assert_wire(&m, 21);
	ipc_msg_init(&m, PROTO_LOOKUP_RESULT, 0x1234);
	ipc_put_u32(&m, 3);
	ipc_put_u8(&m, PROTO_LOOKUP_FOUND);
	ipc_put_str(&m, "alias");
	ipc_put_u32(&m, 2);
	ipc_put_str(&m, "bob@corp.example");
	ipc_put_str(&m, "");
	ipc_put_str(&m, "alice@local.test");
	ipc_put_str(&m, "alice");
	assert_wire(&m, 22);
}

/* a lookup answer whose count disagrees with its answer: refused */
static void
test_lookup_counts(void **state)
{
	static const struct { uint8_t answer; uint32_t n; int want; } cases[] = {
		{ PROTO_LOOKUP_FOUND, 0, -1 },
		{ PROTO_LOOKUP_FOUND, 1, 0 },
		{ PROTO_LOOKUP_NOTFOUND, 0, 0 },
		{ PROTO_LOOKUP_NOTFOUND, 1, -1 },
		{ PROTO_LOOKUP_TEMPFAIL, 0, 0 },
		{ 3, 0, -1 },
		{ PROTO_LOOKUP_FOUND, PROTO_LOOKUP_TARGETS_MAX + 1, -1 },
	};
	struct proto_lookup_result a = { .why = "" }, h;
	struct ipc_reader r;
	struct ipc_msg m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a.answer = cases[i].answer;
		a.ntargets = cases[i].n;
		proto_lookup_result_enc(&m, 1, &a);
		for (uint32_t t = 0; t < cases[i].n; t++) {
			ipc_put_str(&m, "a@b.example");
			ipc_put_str(&m, "");
		}
		ipc_reader_init(&r, evbuffer_pullup(m.buf, -1),
		    evbuffer_get_length(m.buf));
		if (proto_lookup_result_dec(&r, &h) != cases[i].want)
			fail_msg("answer %u with %u targets: got %s", cases[i].answer,
			    cases[i].n, cases[i].want ? "accepted" : "refused");
		ipc_msg_discard(&m);
	}
}

/* decoded fields: the values that went in */
static void
test_fields(void **state)
{
	struct proto_store s;
	struct proto_store_rcpt rc;
	struct proto_result_rcpt rr;
	struct proto_auth_check a;
	struct ipc_reader r;
	const uint8_t *b;
	size_t len, blen;
	uint32_t n;
	uint8_t *p;

	p = sample_bytes(0, &len);
	ipc_reader_init(&r, p, len);
	assert_int_equal(proto_store_dec(&r, &s), 0);
	assert_string_equal(s.sender, "a@example.org");
	assert_string_equal(s.client_ip, "192.0.2.1");
	assert_string_equal(s.envid, "ENV1");
	assert_string_equal(s.qid, "6a1b2c3d4e5f");
	assert_int_equal(s.ret, PROTO_RET_HDRS);
	assert_int_equal(s.nrcpt, 2);
	assert_int_equal(proto_store_rcpt_dec(&r, &rc), 0);
	assert_string_equal(rc.orcpt, "rfc822;b@example.net");
	assert_int_equal(rc.notify, PROTO_NOTIFY_FAILURE);
	assert_int_equal(proto_store_rcpt_dec(&r, &rc), 0);
	assert_string_equal(rc.mailbox, "c");
	assert_int_equal(proto_store_head_dec(&r, &b, &blen), 0);
	assert_int_equal(blen, sizeof(head) - 1);
	assert_int_equal(proto_body_dec(&r, &b, &blen), 0);
	assert_int_equal(blen, sizeof(body) - 1);
	free(p);

	p = sample_bytes(5, &len);
	ipc_reader_init(&r, p, len);
	assert_int_equal(proto_auth_check_dec(&r, &a), 0);
	assert_string_equal(a.mech, "PLAIN");
	assert_string_equal(a.user, "alice");
	assert_int_equal(a.passlen, 7);
	assert_memory_equal(a.pass, "se\0cret", 7);
	assert_string_equal(a.client_ip, "2001:db8::1");
	free(p);

	p = sample_bytes(12, &len);
	ipc_reader_init(&r, p, len);
	assert_int_equal(proto_result_dec(&r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(proto_result_rcpt_dec(&r, &rr), 0);
	assert_int_equal(rr.id, 41);
	assert_string_equal(rr.relay, "mx[192.0.2.5]:25");
	assert_int_equal(proto_result_rcpt_dec(&r, &rr), 0);
	assert_int_equal(rr.result, PROTO_MTA_PERMFAIL);
	assert_string_equal(rr.reply, "550 5.1.1 no such user");
	assert_int_equal(proto_end_dec(&r), 0);
	free(p);
}

/* PROTO_BAN_DEL with a cidr field of these bytes: decoded? */
static int
ban_del_of(const void *p, size_t len)
{
	struct proto_ban_del b;
	struct ipc_reader r;
	struct ipc_msg m;
	int rc;

	ipc_msg_init(&m, PROTO_BAN_DEL, 0);
	ipc_put_bytes(&m, p, len);
	ipc_reader_init(&r, evbuffer_pullup(m.buf, -1),
	    evbuffer_get_length(m.buf));
	rc = proto_ban_del_dec(&r, &b);
	ipc_msg_discard(&m);
	return rc;
}

/* strings: too long for the buffer, or holding a NUL, are refused */
static void
test_bad_strings(void **state)
{
	char big[PROTO_CIDR_MAX];

	memset(big, 'a', sizeof(big));
	assert_int_equal(ban_del_of(big, PROTO_CIDR_MAX - 1), 0);
	assert_int_equal(ban_del_of(big, PROTO_CIDR_MAX), -1);
	assert_int_equal(ban_del_of("10.0.0.0\0/8", 11), -1);
}

/* a count of recipients the frame cannot hold, or none: refused */
static void
test_bad_counts(void **state)
{
	struct proto_store s = { .sender = "", .helo = "", .client_ip = "",
	    .auth_user = "", .listener = "", .envid = "", .qid = "" };
	struct proto_store h;
	struct ipc_reader r;
	struct ipc_msg m;

	for (uint32_t n = 0; n < 3; n += 2) {
		s.nrcpt = n;	/* 0, then 2 with room for one only */
		proto_store_enc(&m, 1, &s);
		ipc_put_bytes(&m, "", 0);
		ipc_put_bytes(&m, "", 0);
		ipc_put_bytes(&m, "", 0);
		ipc_put_u8(&m, 0);
		ipc_reader_init(&r, evbuffer_pullup(m.buf, -1),
		    evbuffer_get_length(m.buf));
		if (proto_store_dec(&r, &h) != -1)
			fail_msg("%u recipients: got accepted, want refused", n);
		ipc_msg_discard(&m);
	}
}

/* a verification result other than found or not found: refused */
static void
test_bad_verify_result(void **state)
{
	struct proto_verify_put v = { .address = "a@b.example",
	    .result = 2, .reply = "451 4.3.0 later", .expires = 1 };
	struct proto_verify_put h;
	struct ipc_reader r;
	struct ipc_msg m;

	proto_verify_put_enc(&m, 1, &v);
	ipc_reader_init(&r, evbuffer_pullup(m.buf, -1),
	    evbuffer_get_length(m.buf));
	if (proto_verify_put_dec(&r, &h) != -1)
		fail_msg("result 2: got accepted, want refused");
	ipc_msg_discard(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_wire_store),
		cmocka_unit_test(test_wire_deliver),
		cmocka_unit_test(test_wire_event),
		cmocka_unit_test(test_wire_lookup),
		cmocka_unit_test(test_lookup_counts),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_bad_counts),
		cmocka_unit_test(test_bad_verify_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
