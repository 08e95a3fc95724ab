/*
 * smtp_dkim.h - DKIM signing in the smtp process: the body hashed as
 * DATA streams, the header hash signed by ca at the dot.
 */
#ifndef MOAT_SMTP_DKIM_H
#define MOAT_SMTP_DKIM_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct smtp_server;
struct smtp_session;
struct smtp_dkim_tx;
struct ipc_reader;

/* the signing keys ca announced (PROTO_DKIM_KEY) */
struct smtp_dkim_key {
	char	domain[256];
	char	selector[64];
	int	alg;			/* enum dkim_alg */
};

struct smtp_dkim_keys {
	struct smtp_dkim_key	*key;
	size_t			 n, cap;
	struct event		*ev;	/* the ca link is readable, owned */
	struct event		*later;	/* answers set aside, owned */
};

/* smtp_dkim_server_init - listen to the ca link; 0 or -1 */
int smtp_dkim_server_init(struct smtp_server *srv, int ca_fd);
void smtp_dkim_server_free(struct smtp_server *srv);

/*
 * smtp_dkim_tx_new - a transaction from a client whose mail is signed
 * (authenticated, relay client, local submission): its body is hashed
 * from now on. NULL when the server has no key.
 */
struct smtp_dkim_tx *smtp_dkim_tx_new(struct smtp_server *srv);
void smtp_dkim_tx_free(struct smtp_dkim_tx *t);

/* smtp_dkim_body - the body bytes of body from offset from on (those
 * just added) */
void smtp_dkim_body(struct smtp_dkim_tx *t, struct evbuffer *body,
    size_t from);

/* smtp_dkim_count - the signatures asked for at the dot */
int smtp_dkim_count(const struct smtp_dkim_tx *t);

/*
 * smtp_dkim_sign - at the dot, the message is whole: head is its
 * header section (up to and including the empty line). Sends one
 * PROTO_DKIM_SIGN per key of the From domain: the number sent (the
 * session waits for as many answers), 0 when the message is not signed
 * (no key for its From domain), -1 on failure (the message gets a
 * temporary failure).
 */
int smtp_dkim_sign(struct smtp_session *s, struct smtp_dkim_tx *t,
    const char *head, size_t headlen);

/*
 * smtp_dkim_fields - the DKIM-Signature fields made, to prepend to the
 * header section once every answer came (smtp_dkim_signed gave 1).
 */
struct evbuffer *smtp_dkim_fields(struct smtp_dkim_tx *t);

/*
 * smtp_dkim_signed - one answer for this transaction: 1 when it was
 * the last, 0 when more are due, -1 when ca failed.
 */
int smtp_dkim_signed(struct smtp_dkim_tx *t, uint32_t key_id, int status,
    const uint8_t *sig, size_t siglen);

/* the From domain of a header section into dom, lowercased; 0 or -1 */
int smtp_dkim_from_domain(const char *head, size_t len, char *dom,
    size_t cap);

#endif
