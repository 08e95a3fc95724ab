/*
 * smtp_milter.c - what a session tells its milters besides the events
 * themselves (the macros, the MAIL and RCPT arguments), and the
 * modifications they ask for at the end of a message, applied to the
 * transaction: header fields of tx->head, the sender, the recipients,
 * the body.
 *
 * Public: smtp_milter_macros, smtp_milter_argv, smtp_milter_apply.
 *
 * SECURITY: the modifications come from the filters, outside programs:
 * a header name must be a field name, a value is encoded as it is
 * written (milter_header_put: CRLF line ends, continuation lines folded,
 * no NUL or bare CR); an address is parsed as a client's would be and
 * written by addr_format; a new body gets CRLF line ends. What cannot
 * be applied is logged and skipped, never half-applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "../io/proto.h"
#include "../lib/log.h"
#include "../milter/milter.h"
#include "../policy/relay.h"
#include "smtp.h"
#include "smtp_dkim.h"

static size_t
mac(struct milter_macro *m, char buf[][600], size_t n, const char *name,
    const char *v1, const char *v2)
{
	snprintf(buf[n], sizeof(buf[n]), "%.290s%.300s", v1, v2);
	m[n].name = name;
	m[n].value = buf[n];
	return n + 1;
}

size_t
smtp_milter_macros(struct smtp_session *s, int cmd, struct milter_macro *m,
    char buf[][600])
{
	const struct conf *c = s->srv->conf;
	char addr[ADDR_PATH_MAX * 2];
	size_t n = 0;
	const char *rdns = s->rdns[0] != '\0' ? s->rdns : "unknown";

	switch (cmd) {
	case SMFIC_CONNECT:
		n = mac(m, buf, n, "j", c->hostname, "");
		n = mac(m, buf, n, "{daemon_name}", s->listener->conf->name, "");
		n = mac(m, buf, n, "{client_addr}", s->ip, "");
		snprintf(addr, sizeof(addr), "%d", s->port);
		n = mac(m, buf, n, "{client_port}", addr, "");
		n = mac(m, buf, n, "{client_name}", rdns, "");
		n = mac(m, buf, n, "{client_ptr}", rdns, "");
		snprintf(addr, sizeof(addr), "%.256s [%s]", rdns, s->ip);
		n = mac(m, buf, n, "_", addr, "");
		n = mac(m, buf, n, "v", "moat", "");
		break;
	case SMFIC_HELO:
		if (s->tls) {
			n = mac(m, buf, n, "{tls_version}", s->ssl != NULL ? SSL_get_version(s->ssl) : "", "");
			n = mac(m, buf, n, "{cipher}", s->ssl != NULL ?
			    SSL_get_cipher_name(s->ssl) : "", "");
		}
		break;
	case SMFIC_MAIL:
		if (s->tx != NULL) {
			addr_format(&s->tx->mail.addr, addr, sizeof(addr));
			n = mac(m, buf, n, "{mail_addr}", addr, "");
			n = mac(m, buf, n, "{mail_host}", s->tx->mail.addr.domain, "");
			n = mac(m, buf, n, "{mail_mailer}", "smtp", "");
		}
		if (s->authenticated) {
			n = mac(m, buf, n, "{auth_authen}", s->auth_user, "");
			n = mac(m, buf, n, "{auth_type}", s->auth.mech == 1 ? "PLAIN" : "LOGIN", "");
		}
		break;
	case SMFIC_RCPT:
		if (s->tx != NULL && s->tx->n_rcpts > s->milter_first) {
			const struct smtp_rcpt *r =
			    &s->tx->rcpts[s->milter_first];
			const char *at = strrchr(r->addr, '@');

			n = mac(m, buf, n, "{rcpt_addr}", r->addr, "");
			n = mac(m, buf, n, "{rcpt_host}", at != NULL ? at + 1 : "", "");
			n = mac(m, buf, n, "{rcpt_mailer}", r->mailbox[0] != '\0' ? "local" : "smtp", "");
		}
		break;
	case SMFIC_DATA:
	case SMFIC_BODYEOB:
		if (s->tx != NULL && s->tx->qid[0] != '\0')
			n = mac(m, buf, n, "i", s->tx->qid, "");
		if (s->authenticated)
			n = mac(m, buf, n, "{auth_authen}", s->auth_user, "");
		break;
	}
	return n;
}

size_t
smtp_milter_argv(const char *addr, const char *args, size_t len, char *buf,
    size_t buflen, const char **argv, size_t max)
{
	const char *gt = memchr(args, '>', len);
	size_t argc = 0, o = 0, i;
	int n;

	n = snprintf(buf, buflen, "<%s>", addr);
	if (n < 0 || (size_t)n >= buflen)
		return 0;
	argv[argc++] = buf;
	o = (size_t)n + 1;
	if (gt == NULL)
		return argc;
	i = (size_t)(gt - args) + 1;
	while (i < len && argc < max) {
		size_t start;

		while (i < len && args[i] == ' ')
			i++;
		start = i;
		while (i < len && args[i] != ' ')
			i++;
		if (i == start || o + (i - start) + 1 > buflen)
			break;
		memcpy(buf + o, args + start, i - start);
		buf[o + (i - start)] = '\0';
		argv[argc++] = buf + o;
		o += i - start + 1;
	}
	return argc;
}

/* a filter's address ("<a@b>" or "a@b") parsed like a client's */
static int
edit_addr(const char *s, struct mail_addr *a, char *out, size_t outlen,
    int allow_null)
{
	char path[ADDR_PATH_MAX + 3];
	size_t consumed;

	if (s[0] == '<')
		snprintf(path, sizeof(path), "%s", s);
	else
		snprintf(path, sizeof(path), "<%s>", s);
	if (addr_parse_path(path, strlen(path), allow_null ?
	    ADDR_F_ALLOW_NULL : 0, a, &consumed) != ADDR_OK ||
	    consumed != strlen(path))
		return -1;
	addr_format(a, out, outlen);
	return 0;
}

/* the field whose name is name, the index-th such (1-based) */
static int
head_find(const struct smtp_head *h, const char *name, size_t nlen,
    uint32_t index, size_t *at)
{
	struct smtp_field f;
	uint32_t nth = 0;

	for (size_t i = 0; smtp_head_field(h, i, &f) == 0; i++)
		if (f.namelen == nlen && strncasecmp(f.name, name, nlen) == 0 &&
		    ++nth == index) {
			*at = i;
			return 0;
		}
	return -1;
}

static int
edit_header(struct smtp_session *s, const struct milter_edit *e)
{
	struct smtp_head *h = &s->tx->head;
	struct evbuffer *f;
	size_t at, count = smtp_head_count(h);
	int rc = -1;

	if (!milter_header_name_ok(e->s1, e->l1))
		return -1;
	if ((f = evbuffer_new()) == NULL)
		return -1;
	if (e->cmd != SMFIR_CHGHEADER || e->l2 > 0)
		if (milter_header_put(f, e->s1, e->l1, e->s2, e->l2,
		    e->leadspc) == -1)
			goto done;
	switch (e->cmd) {
	case SMFIR_ADDHEADER:
		at = count;
		break;
	case SMFIR_INSHEADER:
		at = e->index < count ? e->index : count;
		break;
	default:	/* SMFIR_CHGHEADER: a field that is not there is no error */
		if (head_find(h, e->s1, e->l1, e->index == 0 ? 1 : e->index,
		    &at) == -1) {
			rc = 0;
			goto done;
		}
		if (smtp_head_remove(h, at) == -1)
			goto done;
		if (e->l2 == 0) {
			rc = 0;
			goto done;
		}
		break;
	}
	rc = smtp_head_insert(h, at, (const char *)evbuffer_pullup(f, -1),
	    evbuffer_get_length(f));
done:
	evbuffer_free(f);
	return rc;
}

/* recipients whose address is addr go */
static void
edit_delrcpt(struct smtp_session *s, const char *addr)
{
	struct smtp_tx *tx = s->tx;
	size_t i, o = 0;

	for (i = 0; i < tx->n_rcpts; i++) {
		if (strcasecmp(tx->rcpts[i].addr, addr) == 0)
			continue;
		if (o != i)
			tx->rcpts[o] = tx->rcpts[i];
		o++;
	}
	tx->n_rcpts = o;
}

/*
 * the new body, CRLF line ends, in place of the one received; its size
 * is what is written, after the line ends are made CRLF
 */
static void
edit_body(struct smtp_session *s, struct evbuffer *nb)
{
	struct smtp_tx *tx = s->tx;
	size_t len = evbuffer_get_length(nb), i;
	const char *p = (const char *)evbuffer_pullup(nb, -1);
	struct ipc_msg m;

	if (tx->streaming) {
		/* the parts already with the queue are not this message's */
		proto_empty_enc(&m, PROTO_QUEUE_ABORT, s->id);
		ipc_send(s->srv->queue, &m);
		tx->streaming = 0;
	}
	tx->queued_bytes = 0;
	evbuffer_drain(tx->msg, evbuffer_get_length(tx->msg));
	/* a signature covers the new body: hash it again from the start */
	if (tx->dkim != NULL) {
		smtp_dkim_tx_free(tx->dkim);
		tx->dkim = smtp_dkim_tx_new(s->srv);
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			evbuffer_add(tx->msg, "\r\n", 2);
		else if (p[i] == '\r' && (i + 1 >= len || p[i + 1] != '\n'))
			continue;
		else
			evbuffer_add(tx->msg, p + i, 1);
		if (evbuffer_get_length(tx->msg) >= SMTP_CHUNK) {
			if (tx->dkim != NULL)
				smtp_dkim_body(tx->dkim, tx->msg, 0);
			smtp_tx_send_chunk(s);
		}
	}
	if (tx->dkim != NULL)
		smtp_dkim_body(tx->dkim, tx->msg, 0);
	tx->data.size = tx->head.len + tx->queued_bytes +
	    evbuffer_get_length(tx->msg);
}

void
smtp_milter_apply(struct smtp_session *s)
{
	struct milter_edits *l = milter_chain_edits(s->milters);
	struct milter_edit *e;
	struct evbuffer *nb;
	struct mail_addr a;
	char addr[ADDR_PATH_MAX * 2], esc[600];
	const char *what;
	int rc;

	TAILQ_FOREACH(e, l, entry) {
		rc = 0;
		switch (e->cmd) {
		case SMFIR_ADDHEADER:
		case SMFIR_INSHEADER:
		case SMFIR_CHGHEADER:
			what = e->cmd == SMFIR_ADDHEADER ? "add_header" :
			    e->cmd == SMFIR_INSHEADER ? "insert_header" :
			    e->l2 == 0 ? "delete_header" : "change_header";
			rc = edit_header(s, e);
			break;
		case SMFIR_CHGFROM:
			what = "change_sender";
			if ((rc = edit_addr(e->s1, &a, addr, sizeof(addr),
			    1)) == 0)
				s->tx->mail.addr = a;
			break;
		case SMFIR_ADDRCPT:
		case SMFIR_ADDRCPT_PAR:
			what = "add_recipient";
			if ((rc = edit_addr(e->s1, &a, addr, sizeof(addr),
			    0)) == -1)
				break;
			/* a local mailbox is named by the lookup process:
			 * only recipients we relay can be added here */
			if (a.domain[0] == '\0' ||
			    relay_is_local_domain(&s->srv->relay, a.domain)) {
				rc = -1;
				break;
			}
			rc = smtp_tx_rcpt_add(s, addr, "", 0, "");
			break;
		case SMFIR_DELRCPT:
			what = "delete_recipient";
			if ((rc = edit_addr(e->s1, &a, addr, sizeof(addr),
			    0)) == 0)
				edit_delrcpt(s, addr);
			break;
		default:
			continue;
		}
		log_escape(esc, sizeof(esc), e->s1, e->l1);
		if (rc == -1)
			log_notice(LOG_CAT_SMTP, "session=%s qid=%s "
			    "event=milter_edit_refused milter=%s edit=%s "
			    "arg=\"%s\"", s->idstr, s->tx->qid, e->milter, what,
			    esc);
		else
			log_debug(LOG_CAT_SMTP, "session=%s qid=%s "
			    "event=milter_edit milter=%s edit=%s arg=\"%s\"",
			    s->idstr, s->tx->qid, e->milter, what, esc);
	}
	if ((nb = milter_chain_new_body(s->milters)) != NULL) {
		edit_body(s, nb);
		log_debug(LOG_CAT_SMTP, "session=%s qid=%s event=milter_edit "
		    "edit=replace_body size=%zu", s->idstr, s->tx->qid,
		    s->tx->data.size - s->tx->head.len);
	}
}
