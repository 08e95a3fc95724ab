/*
 * smtp_authres.h - inbound authentication of mail on mx listeners: the
 * message's DKIM signatures verified, an Authentication-Results field
 * (RFC 8601) written, forged ones in our name removed.
 */
#ifndef MOAT_SMTP_AUTHRES_H
#define MOAT_SMTP_AUTHRES_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct resolver;
struct smtp_head;
struct smtp_server;
struct smtp_session;
struct smtp_authres_tx;
struct event_base;
struct authwork_job;

/* what DMARC asks of a failure (its policy, pct= applied) */
enum smtp_dmarc_action {
	SMTP_DMARC_NONE, SMTP_DMARC_QUARANTINE, SMTP_DMARC_REJECT
};

/* smtp_authres_spf_start - at MAIL FROM: the SPF check of sender (""
 * for the null sender: helo) from ip (mapped form), on a worker */
void smtp_authres_spf_start(struct smtp_authres_tx *t, const uint8_t ip[16],
    const char *sender, const char *helo);

/* smtp_authres_work_done - a worker's answer (smtp_authwork.c) */
void smtp_authres_work_done(struct authwork_job *j);

/* smtp_authres_action - after smtp_authres_apply: DMARC's demand */
enum smtp_dmarc_action smtp_authres_action(const struct smtp_authres_tx *t);

/* smtp_authres_resolver - the resolver for key lookups, made before the
 * chroot (dns_server); NULL with err */
struct resolver *smtp_authres_resolver(const char *server, char *err,
    size_t errlen);

struct conf;
/* smtp_authres_wanted - inbound checks configured: dkim_verify and an mx
 * listener */
int smtp_authres_wanted(const struct conf *c);

/* smtp_authres_tx_new - a message whose signatures are checked */
struct smtp_authres_tx *smtp_authres_tx_new(struct smtp_server *srv,
    uint64_t session_id);
void smtp_authres_tx_free(struct smtp_authres_tx *t);

/*
 * smtp_authres_body - DATA went on: once the header section has ended,
 * its signatures are parsed and the body bytes of body from offset from
 * on are hashed for each.
 */
void smtp_authres_body(struct smtp_authres_tx *t, const struct smtp_head *h,
    struct evbuffer *body, size_t from);

/*
 * smtp_authres_finish - at the dot: hashes checked, one key lookup per
 * signature started. The number started (the session waits for
 * smtp_session_authres_done), 0 when the results are ready.
 */
int smtp_authres_finish(struct smtp_authres_tx *t, const struct smtp_head *h);

/* smtp_authres_give_up - lookups still out count as temperror */
void smtp_authres_give_up(struct smtp_authres_tx *t);

/*
 * smtp_authres_apply - the results into h: our Authentication-Results
 * field right below our Received field. 0, or -1 out of memory.
 * summary gets "dkim=pass ..." for the log.
 */
int smtp_authres_apply(struct smtp_authres_tx *t, struct smtp_head *h,
    const char *authserv_id, char *summary, size_t cap);

/*
 * smtp_authres_strip - every Authentication-Results field of h that
 * claims authserv_id removed (RFC 8601 5: only we write in our name),
 * whether or not the message is checked: the number removed.
 */
int smtp_authres_strip(struct smtp_head *h, const char *authserv_id);

#endif
