/*
 * smtp_dkim.c - DKIM signing in the smtp process (RFC 6376, RFC 8463).
 *
 * Public: smtp_dkim_server_init, smtp_dkim_server_free, smtp_dkim_tx_new,
 * smtp_dkim_tx_free, smtp_dkim_body, smtp_dkim_count, smtp_dkim_sign,
 * smtp_dkim_fields, smtp_dkim_signed, smtp_dkim_from_domain.
 *
 * This process holds no key. At start ca announces its keys (domain,
 * selector, algorithm: PROTO_DKIM_KEY). While DATA streams, the body of
 * a message to sign is canonicalized (relaxed) and hashed on the fly:
 * nothing of it is kept. At the dot the From domain picks the keys;
 * for each one the DKIM-Signature field is written up to "b=", the hash
 * of the signed header fields and that field goes to ca
 * (PROTO_DKIM_SIGN), and the session waits, the others go on. Each
 * PROTO_DKIM_SIGNED completes its field; with the last, the fields go
 * in front of the header section (held by the session to the dot,
 * smtp_head.c) and the steps at the dot go on (smtp_dot.c).
 *
 * The link to ca is shared with the TLS handshakes' blocking round
 * trips (src/io/tls_key.c): requests are written whole there, answers
 * read here when the link is readable, or set aside by a handshake and
 * handled from the loop right after (smtp_dkim_keys.later).
 * SECURITY: the header section comes from the client; it is only
 * hashed (dkim_head.c bounds it) and its From domain is only compared
 * with ours. Messages from ca are checked like any sibling's: malformed
 * is fatal.
 * LIMITS: SMTP_DKIM_SIGS_MAX signatures a message.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../dkim/dkim_canon.h"
#include "../dkim/dkim_head.h"
#include "../dkim/dkim_key.h"
#include "../io/evbuf.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../io/tls_key.h"
#include "../lib/log.h"
#include "../mail/addr.h"
#include "../policy/session_policy.h"
#include "smtp.h"
#include "smtp_dkim.h"

#define SMTP_DKIM_SIGS_MAX	4
#define SMTP_DKIM_FIELD_MAX	8192

struct smtp_dkim_sig {
	char		field[SMTP_DKIM_FIELD_MAX];
	size_t		len;
	uint32_t	key;
	int		done;
};

struct smtp_dkim_tx {
	struct smtp_server	*srv;
	struct dkim_body	 body;
	struct smtp_dkim_sig	 sig[SMTP_DKIM_SIGS_MAX];
	size_t			 n_sig, n_done;
	struct evbuffer		*fields;
};

/* the fields of the header section being signed: one at a time, this
 * process has one thread (and the struct is too large for each tx) */
static struct dkim_head signing_head;

/* ---- the ca link ---- */

static void
dkim_key_add(struct smtp_server *srv, uint64_t id, struct ipc_reader *r)
{
	struct smtp_dkim_keys *k = &srv->dkim;
	struct proto_dkim_key pk;
	struct smtp_dkim_key *nk;

	if (proto_dkim_key_dec(r, &pk) == -1 || id != k->n ||
	    k->n == PROTO_DKIM_KEYS_MAX)
		fatalx("%s: bad DKIM_KEY from ca", __func__);
	if (k->n == k->cap) {
		size_t cap = k->cap == 0 ? 4 : k->cap * 2;

		if ((nk = reallocarray(k->key, cap, sizeof(*nk))) == NULL)
			fatal("%s", __func__);
		k->key = nk;
		k->cap = cap;
	}
	nk = &k->key[k->n++];
	snprintf(nk->domain, sizeof(nk->domain), "%s", pk.domain);
	snprintf(nk->selector, sizeof(nk->selector), "%s", pk.selector);
	nk->alg = pk.alg;
	log_debug(LOG_CAT_SMTP, "event=dkim_key domain=%s selector=%s alg=%s",
	    nk->domain, nk->selector, nk->alg == DKIM_ALG_ED25519_SHA256 ?
	    "ed25519-sha256" : "rsa-sha256");
}

static void
dkim_answer(struct smtp_server *srv, uint64_t id, struct ipc_reader *r)
{
	struct proto_dkim_signed a;
	struct smtp_session *s;

	if (proto_dkim_signed_dec(r, &a) == -1)
		fatalx("%s: bad DKIM_SIGNED from ca", __func__);
	/* a session gone (or timed out, which closes it) drops its answer */
	if ((s = smtp_server_find(srv, id)) == NULL)
		return;
	smtp_session_dkim_signed(s, a.key_id, a.status, a.sig, a.siglen);
}

/* the messages set aside on the link */
static void
dkim_link_take(struct smtp_server *srv)
{
	uint8_t buf[CA_LINK_MSG_MAX];
	struct ipc_reader r;
	struct ipc_hdr h;

	while (tls_key_ca_next(&h, buf, sizeof(buf)) == 1) {
		ipc_reader_init(&r, buf, h.len);
		switch (h.type) {
		case PROTO_DKIM_KEY:
			dkim_key_add(srv, h.id, &r);
			break;
		case PROTO_DKIM_SIGNED:
			dkim_answer(srv, h.id, &r);
			break;
		default:
			fatalx("%s: unexpected message %u from ca", __func__,
			    h.type);
		}
	}
}

static void
dkim_link_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;

	if (tls_key_ca_read() == -1) {
		/* ca is gone: the parent is stopping everything */
		event_del(srv->dkim.ev);
		return;
	}
	dkim_link_take(srv);
}

static void
dkim_link_later_cb(evutil_socket_t fd, short ev, void *arg)
{
	dkim_link_take(arg);
}

/* called by tls_key.c when it set messages aside, maybe mid-handshake */
static void
dkim_link_notify(void *arg)
{
	struct smtp_server *srv = arg;

	event_active(srv->dkim.later, EV_TIMEOUT, 0);
}

int
smtp_dkim_server_init(struct smtp_server *srv, int ca_fd)
{
	struct smtp_dkim_keys *k = &srv->dkim;

	if (ca_fd == -1)
		return 0;
	if ((k->ev = event_new(srv->base, ca_fd, EV_READ | EV_PERSIST,
	    dkim_link_read_cb, srv)) == NULL ||
	    (k->later = event_new(srv->base, -1, 0, dkim_link_later_cb,
	    srv)) == NULL || event_add(k->ev, NULL) == -1 ||
	    tls_key_ca_link(ca_fd, dkim_link_notify, srv) == -1)
		return -1;
	return 0;
}

void
smtp_dkim_server_free(struct smtp_server *srv)
{
	struct smtp_dkim_keys *k = &srv->dkim;

	if (k->ev != NULL)
		event_free(k->ev);
	if (k->later != NULL)
		event_free(k->later);
	free(k->key);
	memset(k, 0, sizeof(*k));
}

/* ---- one transaction ---- */

struct smtp_dkim_tx *
smtp_dkim_tx_new(struct smtp_server *srv)
{
	struct smtp_dkim_tx *t;

	if (srv->dkim.n == 0 || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->srv = srv;
	if ((t->fields = evbuffer_new()) == NULL ||
	    dkim_body_init(&t->body, DKIM_CANON_RELAXED, -1) == -1) {
		smtp_dkim_tx_free(t);
		return NULL;
	}
	return t;
}

void
smtp_dkim_tx_free(struct smtp_dkim_tx *t)
{
	if (t == NULL)
		return;
	dkim_body_free(&t->body);
	if (t->fields != NULL)
		evbuffer_free(t->fields);
	free(t);
}

static void
dkim_body_piece(void *arg, const void *p, size_t len)
{
	dkim_body_update(arg, p, len);
}

void
smtp_dkim_body(struct smtp_dkim_tx *t, struct evbuffer *body, size_t from)
{
	evbuf_walk(body, from, evbuffer_get_length(body), dkim_body_piece,
	    &t->body);
}

int
smtp_dkim_count(const struct smtp_dkim_tx *t)
{
	return (int)t->n_sig;
}

/* the addr-spec of a From field: in angle brackets, or bare; -1 none */
static int
from_addr_span(const struct dkim_field *f, const char **a, size_t *alen)
{
	const char *v, *end, *lt;

	if ((v = memchr(f->p, ':', f->len)) == NULL)
		return -1;
	v++;
	end = f->p + f->len;
	if ((lt = memchr(v, '<', (size_t)(end - v))) != NULL) {
		v = lt + 1;
		if ((end = memchr(v, '>', (size_t)(end - v))) == NULL)
			return -1;
	}
	while (v < end && strchr(" \t\r\n", *v) != NULL)
		v++;
	while (end > v && strchr(" \t\r\n>", end[-1]) != NULL)
		end--;
	*a = v;
	*alen = (size_t)(end - v);
	return *alen > 0 ? 0 : -1;
}

/* the one From field of the header section; NULL when none or several
 * (which From a receiver shows is then not ours to vouch for) */
static const struct dkim_field *
from_field(const char *head, size_t len)
{
	const struct dkim_field *f = NULL;

	dkim_head_split(&signing_head, head, len);
	for (size_t i = 0; i < signing_head.n; i++)
		if (strcmp(signing_head.f[i].name, "from") == 0) {
			if (f != NULL)
				return NULL;
			f = &signing_head.f[i];
		}
	return f;
}

int
smtp_dkim_from_domain(const char *head, size_t len, char *dom, size_t cap)
{
	const struct dkim_field *f;
	const char *v, *at;
	size_t n, alen;

	if ((f = from_field(head, len)) == NULL ||
	    from_addr_span(f, &v, &alen) == -1)
		return -1;
	if ((at = memrchr(v, '@', alen)) == NULL)
		return -1;
	at++;
	n = (size_t)(v + alen - at);
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)at[i]) && at[i] != '-' &&
		    at[i] != '.')
			return -1;
		dom[i] = (char)tolower((unsigned char)at[i]);
	}
	dom[n] = '\0';
	return 0;
}

/*
 * A user's mail (AUTH, or moat sendmail by its login) is signed only
 * for a From address the user may send as (sender_identity), as its
 * envelope sender is checked: a hacked account or web application must
 * not get our signature on someone else's address. A relay client (an
 * internal server) speaks for every address of our domains.
 */
static int
from_owned(struct smtp_session *s, const char *head, size_t len)
{
	const struct dkim_field *f;
	struct mail_addr a;
	const char *v, *user;
	char path[ADDR_PATH_MAX + 3];
	size_t alen;

	if (!s->authenticated)
		return 1;
	if ((f = from_field(head, len)) == NULL ||
	    from_addr_span(f, &v, &alen) == -1 || alen + 3 > sizeof(path))
		return 0;
	snprintf(path, sizeof(path), "<%.*s>", (int)alen, v);
	if (addr_parse_path(path, strlen(path), 0, &a, NULL) != ADDR_OK)
		return 0;
	user = s->auth_user;
	if (s->local && strncmp(user, "local:", 6) == 0)
		user += 6;
	return pol_sender(s->srv->conf, &s->srv->relay, user, s->addr,
	    &a) == POL_OK;
}

int
smtp_dkim_sign(struct smtp_session *s, struct smtp_dkim_tx *t,
    const char *head, size_t headlen)
{
	struct smtp_dkim_keys *k = &t->srv->dkim;
	struct dkim_signing ds;
	uint8_t bh[DKIM_HASH_LEN], digest[DKIM_HASH_LEN];
	char dom[256];
	time_t now = time(NULL);

	if (!from_owned(s, head, headlen) ||
	    smtp_dkim_from_domain(head, headlen, dom, sizeof(dom)) == -1)
		return 0;
	if (dkim_body_final(&t->body, bh) == -1)
		return -1;
	/* signing_head holds the fields smtp_dkim_from_domain split */
	for (size_t i = 0; i < k->n; i++) {
		struct smtp_dkim_sig *sg;
		struct proto_dkim_sign q;
		struct ipc_msg m;
		long n;

		if (strcmp(k->key[i].domain, dom) != 0)
			continue;
		if (t->n_sig == SMTP_DKIM_SIGS_MAX)
			break;
		sg = &t->sig[t->n_sig];
		ds.alg = (enum dkim_alg)k->key[i].alg;
		ds.domain = k->key[i].domain;
		ds.selector = k->key[i].selector;
		ds.now = now;
		ds.expire = t->srv->conf->dkim_expire;
		if ((n = dkim_sign_begin(&ds, &signing_head, bh, sg->field,
		    sizeof(sg->field), digest)) < 0)
			return -1;
		sg->len = (size_t)n;
		sg->key = (uint32_t)i;
		q.key_id = (uint32_t)i;
		q.digest = digest;
		q.digestlen = sizeof(digest);
		proto_dkim_sign_enc(&m, s->id, &q);
		if (tls_key_ca_send(&m) == -1)
			return -1;
		t->n_sig++;
	}
	return (int)t->n_sig;
}

int
smtp_dkim_signed(struct smtp_dkim_tx *t, uint32_t key_id, int status,
    const uint8_t *sig, size_t siglen)
{
	struct smtp_dkim_sig *sg = NULL;
	long n;

	for (size_t i = 0; i < t->n_sig; i++)
		if (t->sig[i].key == key_id && !t->sig[i].done)
			sg = &t->sig[i];
	if (sg == NULL)
		fatalx("%s: DKIM_SIGNED for key %u not asked", __func__, key_id);
	sg->done = 1;
	t->n_done++;
	if (status != 0 || (n = dkim_sign_finish(sg->field, sg->len,
	    sizeof(sg->field), sig, siglen)) < 0)
		return -1;
	sg->len = (size_t)n;
	if (t->n_done < t->n_sig)
		return 0;
	/* in the configuration's order, whatever order the answers took */
	for (size_t i = 0; i < t->n_sig; i++)
		evbuffer_add(t->fields, t->sig[i].field, t->sig[i].len);
	return 1;
}

struct evbuffer *
smtp_dkim_fields(struct smtp_dkim_tx *t)
{
	return t->fields;
}
