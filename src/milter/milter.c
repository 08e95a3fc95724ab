/*
 * milter.c - a session's chain of mail filters: one connection per
 * filter on libevent bufferevents, the protocol's state machine, the
 * answers of the chain to each SMTP event.
 *
 * Public: milter_chain_new, milter_chain_free, milter_chain_connect,
 * milter_chain_helo, milter_chain_mail, milter_chain_rcpt,
 * milter_chain_data, milter_chain_headers, milter_chain_body,
 * milter_chain_eom, milter_chain_abort, milter_chain_backlog,
 * milter_chain_edits, milter_chain_new_body, milter_chain_due_ms.
 *
 * Each filter gets every event at once (they work in parallel); the
 * chain's answer takes them in the listener's order: the first filter
 * that refuses decides, modifications are applied filter by filter.
 * On one connection a command is written only once the filter has
 * answered the one before (commands whose reply it waived, SMFIP_NR_*,
 * go straight on): header and body events queue up meanwhile and count
 * as the chain's backlog, which the session keeps bounded by pausing
 * the client. Every wait for a reply has a timer (connect_timeout,
 * command_timeout, eom_timeout, which SMFIR_PROGRESS starts again); a
 * filter that times out, closes, or breaks the protocol is dropped for
 * the rest of the session and answers with its default_action from
 * then on: tempfail (451 4.7.1) or accept (as if it were not there).
 *
 * SECURITY: a filter's bytes are parsed by milter_proto.c (bounded
 * packets, checked fields); a reply that does not fit the command it
 * answers, or a modification the filter did not negotiate, breaks the
 * connection. Reply texts and header values are checked and encoded
 * where they are written (milter_reply_text, milter_header_put).
 * LIMITS: MILTER_PACKET_MAX a packet; a replacement body at most
 * MILTER_NEWBODY_MAX; 1,000 modifications per filter and message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../daemon/config.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "milter.h"

#define MILTER_NEWBODY_MAX	(64L * 1024 * 1024)
#define MILTER_EDITS_MAX	1000
#define MILTER_LOW_MARK		(256 * 1024)	/* backlog: drained below */
#define MILTER_UNAVAILABLE	"451 4.7.1 Service unavailable - try again later"

enum mc_state {
	MC_CONNECTING,		/* TCP (or UNIX) connect under way */
	MC_NEGOTIATING,		/* OPTNEG written */
	MC_READY,
	MC_ACCEPTED,		/* accepted the whole connection: no events */
	MC_DEAD,		/* gone: default_action from now on */
};

/* one command waiting to be written, or written and awaiting a reply */
struct mcmd {
	TAILQ_ENTRY(mcmd) entry;
	struct evbuffer	*pkt;		/* its macros, then itself */
	int		 cmd;		/* SMFIC_* */
	int		 want_reply;
	int		 stage;		/* its reply answers the chain's event */
	size_t		 bytes;
};
TAILQ_HEAD(mcmd_list, mcmd);

/* the answer of one filter */
struct mans {
	enum milter_verdict verdict;
	char		 reply[1024];
	int		 code;
	int		 unavailable;
};

struct milter_conn {
	struct milter_chain	*ch;
	const struct conf_milter *conf;	/* &conf_copy */
	struct conf_milter	 conf_copy;	/* a reload frees the config's */
	struct bufferevent	*bev;		/* owned */
	struct event		*timer;		/* owned */
	int64_t			 due;		/* the timer's end, monotonic ms;
						 * 0 not armed */
	enum mc_state		 state;
	uint32_t		 version, actions, protocol;
	char			*symlist[MILTER_ST_COUNT];	/* owned; NULL:
						 * every macro */
	struct mcmd_list	 out;
	struct mcmd		*inflight;	/* owned */
	size_t			 backlog;	/* bytes in out */
	int			 in_msg;	/* MAIL sent, no EOM/ABORT yet */
	int			 msg_done;	/* message decided early */
	struct mans		 msg;		/* ... so */
	int			 skip_body;	/* SMFIR_SKIP */
	int			 pending;	/* owes the chain an answer */
	struct mans		 ans;
	int			 quarantine;
	char			 qwhy[256];
	struct milter_edits	 edits;		/* this EOM's */
	size_t			 n_edits;
	struct evbuffer		*newbody;	/* REPLBODY, owned */
};

struct milter_chain {
	struct event_base	*base;
	struct milter_conn	*conns;		/* owned, n of them */
	size_t			 n;
	char			 logid[32];
	milter_done_cb		*done;
	milter_down_cb		*down;
	milter_drained_cb	*drained;
	void			*arg;
	int			 stage;		/* SMFIC_* of the event, 0 none */
	size_t			 pending;	/* filters yet to answer it */
	struct event		*kick;		/* answers from the loop */
	struct event		*drain;		/* drained, from the loop */
	struct milter_result	 res;
	struct milter_edits	 edits;		/* the last EOM's, merged */
	struct evbuffer		*newbody;	/* owned */
	int			 full;		/* the drained callback is owed */
};

static void mc_pump(struct milter_conn *);
static void mc_dead(struct milter_conn *, const char *why);

static const char *
cmd_name(int cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return "connect";
	case SMFIC_HELO: return "helo";
	case SMFIC_MAIL: return "mail";
	case SMFIC_RCPT: return "rcpt";
	case SMFIC_DATA: return "data";
	case SMFIC_HEADER: return "header";
	case SMFIC_EOH: return "eoh";
	case SMFIC_BODY: return "body";
	case SMFIC_BODYEOB: return "eom";
	case SMFIC_OPTNEG: return "optneg";
	default: return "?";
	}
}

static int
msg_event(int cmd)
{
	return cmd == SMFIC_RCPT || cmd == SMFIC_DATA || cmd == SMFIC_HEADER ||
	    cmd == SMFIC_EOH || cmd == SMFIC_BODY || cmd == SMFIC_BODYEOB;
}

static void
edits_clear(struct milter_edits *l)
{
	struct milter_edit *e;

	while ((e = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, e, entry);
		free(e->s1);
		free(e->s2);
		free(e);
	}
}

static void
mcmd_free(struct mcmd *c)
{
	if (c == NULL)
		return;
	evbuffer_free(c->pkt);
	free(c);
}

static void
mc_clear_out(struct milter_conn *mc)
{
	struct mcmd *c;

	while ((c = TAILQ_FIRST(&mc->out)) != NULL) {
		TAILQ_REMOVE(&mc->out, c, entry);
		mcmd_free(c);
	}
	mc->backlog = 0;
}

/* the answer a filter gives while it is gone */
static void
mc_default(struct milter_conn *mc, struct mans *a)
{
	memset(a, 0, sizeof(*a));
	if (mc->conf->action == CONF_MILTER_ACCEPT) {
		a->verdict = MILTER_CONTINUE;
		return;
	}
	a->verdict = MILTER_TEMPFAIL;
	a->unavailable = 1;
}

static void
mc_arm(struct milter_conn *mc, int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(mc->timer, &tv);
	mc->due = clock_mono_ms() + seconds * 1000L;
}

static void
mc_disarm(struct milter_conn *mc)
{
	evtimer_del(mc->timer);
	mc->due = 0;
}

/* the backlog went below its low mark: the session may send more */
static void
chain_check_drained(struct milter_chain *ch)
{
	if (ch->full && milter_chain_backlog(ch) < MILTER_LOW_MARK) {
		ch->full = 0;
		if (ch->drained != NULL)
			ch->drained(ch->arg);
	}
}

static void
chain_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	chain_check_drained(arg);
}

/* the chain's event is answered by every filter: call done from the loop */
static void
chain_answered(struct milter_chain *ch)
{
	event_active(ch->kick, EV_TIMEOUT, 1);
}

/* mc's answer to the chain's event */
static void
mc_answer(struct milter_conn *mc, const struct mans *a)
{
	if (!mc->pending)
		return;
	mc->pending = 0;
	mc->ans = *a;
	if (--mc->ch->pending == 0)
		chain_answered(mc->ch);
}

static void
mc_dead(struct milter_conn *mc, const char *why)
{
	struct milter_chain *ch = mc->ch;
	struct mans a;

	if (mc->state == MC_DEAD)
		return;
	log_warn(LOG_CAT_SMTP, "session=%s event=milter_unavailable "
	    "milter=%s socket=%s reason=\"%s\" action=%s", ch->logid,
	    mc->conf->name, mc->conf->socket, why, mc->conf->default_action);
	mc->state = MC_DEAD;
	mc_disarm(mc);
	if (mc->bev != NULL) {
		bufferevent_free(mc->bev);
		mc->bev = NULL;
	}
	mc_clear_out(mc);
	mcmd_free(mc->inflight);
	mc->inflight = NULL;
	mc->in_msg = 0;
	edits_clear(&mc->edits);
	mc->n_edits = 0;
	if (ch->down != NULL)
		ch->down(ch->arg, mc->conf->name, why);
	mc_default(mc, &a);
	mc_answer(mc, &a);
	/* its backlog is gone: a session paused for it reads on (from the
	 * loop, as this may be called from inside the session's call) */
	if (ch->full && ch->drain != NULL)
		event_active(ch->drain, EV_TIMEOUT, 1);
}

static void
mc_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct milter_conn *mc = arg;
	char why[64];

	snprintf(why, sizeof(why), "no answer to %s in time",
	    mc->state == MC_CONNECTING ? "connect" : mc->inflight != NULL ?
	    cmd_name(mc->inflight->cmd) : cmd_name(SMFIC_OPTNEG));
	mc_dead(mc, why);
}

/* the filter's reply to OPTNEG: what it wants, within what we offered */
static int
mc_optneg(struct milter_conn *mc, const struct milter_reply *r,
    const char **why)
{
	size_t off = 0;
	uint32_t st;
	struct milter_str names;

	if (r->cmd != SMFIR_OPTNEG) {
		*why = "no OPTNEG reply";
		return -1;
	}
	if (r->version < 2 || r->version > MILTER_VERSION) {
		*why = "protocol version not supported";
		return -1;
	}
	if ((r->actions & ~(uint32_t)MILTER_ACTIONS) != 0) {
		*why = "actions asked for that were not offered";
		return -1;
	}
	mc->version = r->version;
	mc->actions = r->actions;
	mc->protocol = r->protocol & MILTER_PROTOCOL;
	if (mc->version < 4)
		mc->protocol |= SMFIP_NODATA;
	while (milter_symlist_next(r, &off, &st, &names) == 1) {
		if (st >= MILTER_ST_COUNT || !(mc->actions & SMFIF_SETSYMLIST))
			continue;
		free(mc->symlist[st]);
		mc->symlist[st] = strndup(names.p, names.len);
	}
	mc->state = MC_READY;
	mc_disarm(mc);
	log_debug(LOG_CAT_SMTP, "session=%s event=milter_ready milter=%s "
	    "version=%u actions=0x%x protocol=0x%x", mc->ch->logid,
	    mc->conf->name, mc->version, mc->actions, mc->protocol);
	return 0;
}

/* the modification r needs this action negotiated */
static int
edit_allowed(const struct milter_conn *mc, int cmd)
{
	uint32_t need;

	switch (cmd) {
	case SMFIR_ADDHEADER: need = SMFIF_ADDHDRS; break;
	case SMFIR_INSHEADER: need = SMFIF_ADDHDRS | SMFIF_CHGHDRS; break;
	case SMFIR_CHGHEADER: need = SMFIF_CHGHDRS; break;
	case SMFIR_CHGFROM: need = SMFIF_CHGFROM; break;
	case SMFIR_ADDRCPT: need = SMFIF_ADDRCPT; break;
	case SMFIR_ADDRCPT_PAR: need = SMFIF_ADDRCPT_PAR; break;
	case SMFIR_DELRCPT: need = SMFIF_DELRCPT; break;
	case SMFIR_REPLBODY: need = SMFIF_CHGBODY; break;
	case SMFIR_QUARANTINE: need = SMFIF_QUARANTINE; break;
	default: return 0;
	}
	/* INSHEADER: libmilter asks for ADDHDRS; either will do */
	return (mc->actions & need) != 0;
}

static int
mc_edit(struct milter_conn *mc, const struct milter_reply *r,
    const char **why)
{
	struct milter_edit *e;

	if (!edit_allowed(mc, r->cmd)) {
		*why = "modification not negotiated";
		return -1;
	}
	if (r->cmd == SMFIR_QUARANTINE) {
		mc->quarantine = 1;
		snprintf(mc->qwhy, sizeof(mc->qwhy), "%.*s", (int)r->s1.len,
		    r->s1.p);
		return 0;
	}
	if (r->cmd == SMFIR_REPLBODY) {
		if (mc->newbody == NULL && (mc->newbody = evbuffer_new()) ==
		    NULL) {
			*why = "out of memory";
			return -1;
		}
		if (evbuffer_get_length(mc->newbody) + r->body_len >
		    MILTER_NEWBODY_MAX) {
			*why = "replacement body too large";
			return -1;
		}
		evbuffer_add(mc->newbody, r->body, r->body_len);
		return 0;
	}
	if (++mc->n_edits > MILTER_EDITS_MAX) {
		*why = "too many modifications";
		return -1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->s1 = strndup(r->s1.p, r->s1.len)) == NULL) {
		free(e);
		*why = "out of memory";
		return -1;
	}
	e->cmd = r->cmd;
	e->index = r->index;
	e->l1 = r->s1.len;
	if (r->cmd == SMFIR_ADDHEADER || r->cmd == SMFIR_INSHEADER ||
	    r->cmd == SMFIR_CHGHEADER || r->has_s2) {
		if ((e->s2 = malloc(r->s2.len + 1)) == NULL) {
			free(e->s1);
			free(e);
			*why = "out of memory";
			return -1;
		}
		memcpy(e->s2, r->s2.p, r->s2.len);
		e->s2[r->s2.len] = '\0';
		e->l2 = r->s2.len;
	}
	e->leadspc = (mc->protocol & SMFIP_HDR_LEADSPC) != 0;
	e->milter = mc->conf->name;
	TAILQ_INSERT_TAIL(&mc->edits, e, entry);
	return 0;
}

/* a final reply to the command in flight */
static int
mc_final(struct milter_conn *mc, const struct milter_reply *r,
    const char **why)
{
	struct mcmd *c = mc->inflight;
	struct mans a;

	memset(&a, 0, sizeof(a));
	switch (r->cmd) {
	case SMFIR_CONTINUE:
	case SMFIR_SKIP:
		a.verdict = MILTER_CONTINUE;
		break;
	case SMFIR_ACCEPT:
		a.verdict = MILTER_CONTINUE;
		if (c->cmd == SMFIC_CONNECT || c->cmd == SMFIC_HELO)
			mc->state = MC_ACCEPTED;
		else if (c->cmd != SMFIC_BODYEOB) {
			mc->msg_done = 1;
			mc->msg.verdict = MILTER_CONTINUE;
		}
		break;
	case SMFIR_REJECT:
		a.verdict = MILTER_REJECT;
		break;
	case SMFIR_TEMPFAIL:
		a.verdict = MILTER_TEMPFAIL;
		break;
	case SMFIR_DISCARD:
		a.verdict = MILTER_DISCARD;
		break;
	case SMFIR_REPLYCODE:
		a.code = milter_reply_text(r->s1.p, r->s1.len, a.reply,
		    sizeof(a.reply), why);
		if (a.code == -1)
			return -1;
		a.verdict = a.code >= 500 ? MILTER_REJECT : MILTER_TEMPFAIL;
		break;
	default:
		*why = "unexpected reply";
		return -1;
	}
	if (r->cmd == SMFIR_SKIP) {
		if (c->cmd != SMFIC_BODY || !(mc->protocol & SMFIP_SKIP)) {
			*why = "SKIP not after a body chunk";
			return -1;
		}
		mc->skip_body = 1;
	}
	mc->inflight = NULL;
	mc_disarm(mc);
	if (c->cmd == SMFIC_BODYEOB)
		mc->in_msg = 0;
	if (c->cmd == SMFIC_MAIL && a.verdict != MILTER_CONTINUE &&
	    a.verdict != MILTER_DISCARD)
		mc->in_msg = 0;
	/* a message-level refusal or discard before its end holds for it */
	if (msg_event(c->cmd) && c->cmd != SMFIC_BODYEOB &&
	    a.verdict != MILTER_CONTINUE && !(c->cmd == SMFIC_RCPT &&
	    a.verdict != MILTER_DISCARD)) {
		mc->msg_done = 1;
		mc->msg = a;
	}
	if ((c->cmd == SMFIC_MAIL || c->cmd == SMFIC_RCPT) &&
	    a.verdict == MILTER_DISCARD) {
		mc->msg_done = 1;
		mc->msg = a;
		a.verdict = MILTER_CONTINUE;
	}
	if (c->stage)
		mc_answer(mc, &a);
	mcmd_free(c);
	return 0;
}

static int
mc_reply(struct milter_conn *mc, const uint8_t *p, size_t len)
{
	struct milter_reply r;
	const char *why;

	if (milter_reply_parse(p, len, &r, &why) == -1)
		goto bad;
	if (mc->state == MC_NEGOTIATING) {
		if (mc_optneg(mc, &r, &why) == -1)
			goto bad;
		mc_pump(mc);
		return 0;
	}
	if (mc->inflight == NULL) {
		why = "reply without a command";
		goto bad;
	}
	switch (r.cmd) {
	case SMFIR_PROGRESS:
		if (mc->inflight->cmd != SMFIC_BODYEOB) {
			why = "progress outside the end of message";
			goto bad;
		}
		mc_arm(mc, mc->conf->eom_timeout);
		return 0;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
	case SMFIR_CHGFROM:
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_DELRCPT:
	case SMFIR_REPLBODY:
	case SMFIR_QUARANTINE:
		if (mc->inflight->cmd != SMFIC_BODYEOB) {
			why = "modification outside the end of message";
			goto bad;
		}
		if (mc_edit(mc, &r, &why) == -1)
			goto bad;
		return 0;
	case SMFIR_OPTNEG:
		why = "OPTNEG reply out of place";
		goto bad;
	}
	if (mc_final(mc, &r, &why) == -1)
		goto bad;
	mc_pump(mc);
	return 0;
bad:
	mc_dead(mc, why);
	return -1;
}

static void
mc_read_cb(struct bufferevent *bev, void *arg)
{
	struct milter_conn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t have, plen;
	uint8_t *p;

	while (mc->state != MC_DEAD && (have = evbuffer_get_length(in)) >= 4) {
		uint32_t n;

		if ((p = evbuffer_pullup(in, 4)) == NULL)
			return;
		memcpy(&n, p, 4);
		n = ntohl(n);
		if (n == 0 || n > MILTER_PACKET_MAX) {
			mc_dead(mc, "bad packet length");
			return;
		}
		plen = (size_t)n + 4;
		if (have < plen)
			return;
		if ((p = evbuffer_pullup(in, (ssize_t)plen)) == NULL) {
			mc_dead(mc, "out of memory");
			return;
		}
		if (mc_reply(mc, p, plen) == -1)
			return;		/* mc_dead freed bev */
		evbuffer_drain(in, plen);
	}
}

static void
mc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conn *mc = arg;
	char why[128];

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		/*
		 * Commands whose reply the filter waived follow each other
		 * unanswered: with Nagle each would wait for the delayed ACK
		 * of the one before
		 */
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		mc->state = MC_NEGOTIATING;
		milter_put_optneg(bufferevent_get_output(bev), MILTER_ACTIONS,
		    MILTER_PROTOCOL);
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed%s",
		    mc->state == MC_CONNECTING ? " at connect" : "");
	else
		snprintf(why, sizeof(why), "%s", errno ? strerror(errno) :
		    "i/o error");
	mc_dead(mc, why);
}

/* c gets no reply: a stage it answered goes on */
static void
mc_pass(struct milter_conn *mc, struct mcmd *c)
{
	struct mans a;

	if (c->stage) {
		memset(&a, 0, sizeof(a));
		a.verdict = MILTER_CONTINUE;
		mc_answer(mc, &a);
	}
	mcmd_free(c);
}

static void event_flags(int, uint32_t *, uint32_t *);

/* write what the filter may take now */
static void
mc_pump(struct milter_conn *mc)
{
	struct milter_chain *ch = mc->ch;
	struct mcmd *c;

	while (mc->state == MC_READY && mc->inflight == NULL &&
	    (c = TAILQ_FIRST(&mc->out)) != NULL) {
		TAILQ_REMOVE(&mc->out, c, entry);
		mc->backlog -= c->bytes;
		if ((c->cmd == SMFIC_BODY && mc->skip_body) ||
		    (msg_event(c->cmd) && mc->msg_done && !c->stage)) {
			mcmd_free(c);
			continue;
		}
		/* queued before the negotiation: its flags are known now */
		if (c->cmd != SMFIC_ABORT && c->cmd != SMFIC_BODYEOB) {
			uint32_t no, nr;

			event_flags(c->cmd, &no, &nr);
			if (mc->protocol & no) {
				mc_pass(mc, c);
				continue;
			}
			c->want_reply = !(mc->protocol & nr);
		}
		bufferevent_write_buffer(mc->bev, c->pkt);
		if (!c->want_reply) {
			mc_pass(mc, c);
			continue;
		}
		mc->inflight = c;
		mc_arm(mc, c->cmd == SMFIC_BODYEOB ? mc->conf->eom_timeout :
		    mc->conf->command_timeout);
	}
	chain_check_drained(ch);
}

/* mc_macros_wanted - macro name is on the filter's list for stage */
static int
mc_macro_wanted(const struct milter_conn *mc, int stage, const char *name)
{
	const char *l = mc->symlist[stage], *p;
	size_t nl = strlen(name), bare = nl;
	const char *bn = name;

	if (l == NULL)
		return 1;
	if (nl > 2 && name[0] == '{') {
		bn = name + 1;
		bare = nl - 2;
	}
	for (p = l; *p != '\0'; ) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, " ,");
		if (len == 0)
			break;
		if ((len == nl && memcmp(p, name, nl) == 0) ||
		    (len == bare && memcmp(p, bn, bare) == 0) ||
		    (len == bare + 2 && p[0] == '{' &&
		    memcmp(p + 1, bn, bare) == 0))
			return 1;
		p += len;
	}
	return 0;
}

static int
stage_of(int cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return MILTER_ST_CONNECT;
	case SMFIC_HELO: return MILTER_ST_HELO;
	case SMFIC_MAIL: return MILTER_ST_MAIL;
	case SMFIC_RCPT: return MILTER_ST_RCPT;
	case SMFIC_DATA: return MILTER_ST_DATA;
	case SMFIC_BODYEOB: return MILTER_ST_EOM;
	case SMFIC_EOH: return MILTER_ST_EOH;
	default: return -1;
	}
}

/* the event's flags: not sent (NO*), no reply (NR_*) */
static void
event_flags(int cmd, uint32_t *no, uint32_t *nr)
{
	*no = *nr = 0;
	switch (cmd) {
	case SMFIC_CONNECT: *no = SMFIP_NOCONNECT; *nr = SMFIP_NR_CONN; break;
	case SMFIC_HELO: *no = SMFIP_NOHELO; *nr = SMFIP_NR_HELO; break;
	case SMFIC_MAIL: *no = SMFIP_NOMAIL; *nr = SMFIP_NR_MAIL; break;
	case SMFIC_RCPT: *no = SMFIP_NORCPT; *nr = SMFIP_NR_RCPT; break;
	case SMFIC_DATA: *no = SMFIP_NODATA; *nr = SMFIP_NR_DATA; break;
	case SMFIC_HEADER: *no = SMFIP_NOHDRS; *nr = SMFIP_NR_HDR; break;
	case SMFIC_EOH: *no = SMFIP_NOEOH; *nr = SMFIP_NR_EOH; break;
	case SMFIC_BODY: *no = SMFIP_NOBODY; *nr = SMFIP_NR_BODY; break;
	default: break;
	}
}

/*
 * mc_queue - one command for mc, with its macros; stage: its answer is
 * owed to the chain's event. The command is built by put (into pkt).
 */
static struct mcmd *
mc_queue(struct milter_conn *mc, int cmd, int stage,
    const struct milter_macro *mac, size_t nmac)
{
	struct mcmd *c;
	uint32_t no, nr;
	int st = stage_of(cmd);

	event_flags(cmd, &no, &nr);
	if ((mc->state == MC_READY && (mc->protocol & no)) ||
	    mc->state == MC_DEAD || mc->state == MC_ACCEPTED)
		return NULL;
	if (msg_event(cmd) && mc->msg_done)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->pkt = evbuffer_new()) == NULL) {
		free(c);
		mc_dead(mc, "out of memory");
		return NULL;
	}
	c->cmd = cmd;
	/* mc_pump settles both once the filter has negotiated */
	c->want_reply = !(mc->protocol & nr);
	c->stage = stage;
	if (nmac > 0 && st >= 0) {
		const char *names[32], *values[32];
		size_t k = 0;

		for (size_t i = 0; i < nmac && k < 32; i++)
			if (mac[i].value != NULL &&
			    mc_macro_wanted(mc, st, mac[i].name)) {
				names[k] = mac[i].name;
				values[k++] = mac[i].value;
			}
		if (k > 0)
			milter_put_macros(c->pkt, cmd, names, values, k);
	}
	return c;
}

static void
mc_push(struct milter_conn *mc, struct mcmd *c)
{
	c->bytes = evbuffer_get_length(c->pkt);
	mc->backlog += c->bytes;
	TAILQ_INSERT_TAIL(&mc->out, c, entry);
	if (c->stage) {
		mc->pending = 1;
		mc->ch->pending++;
	}
}

/* ---- the chain ---- */

static void
chain_kick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct milter_chain *ch = arg;
	struct milter_result *res = &ch->res;
	int stage = ch->stage;
	size_t i;

	if (ch->pending != 0 || stage == 0)
		return;
	ch->stage = 0;
	memset(res, 0, sizeof(*res));
	res->verdict = MILTER_CONTINUE;
	for (i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		const struct mans *a = &mc->ans;

		/* a message decided before its end: that is the answer */
		if (stage == SMFIC_BODYEOB && mc->msg_done &&
		    mc->msg.verdict != MILTER_CONTINUE)
			a = &mc->msg;
		if (stage == SMFIC_BODYEOB && mc->quarantine && !res->quarantine) {
			res->quarantine = 1;
			snprintf(res->quarantine_why,
			    sizeof(res->quarantine_why), "%s", mc->qwhy);
			if (res->milter == NULL)
				res->milter = mc->conf->name;
		}
		if (res->verdict != MILTER_CONTINUE ||
		    a->verdict == MILTER_CONTINUE)
			continue;
		if (a->verdict == MILTER_DISCARD && stage != SMFIC_BODYEOB)
			continue;
		res->verdict = a->verdict;
		res->code = a->code;
		res->unavailable = a->unavailable;
		snprintf(res->reply, sizeof(res->reply), "%s", a->reply);
		res->milter = mc->conf->name;
	}
	if (stage == SMFIC_BODYEOB) {
		/* modifications in chain order; the last new body wins */
		edits_clear(&ch->edits);
		if (ch->newbody != NULL) {
			evbuffer_free(ch->newbody);
			ch->newbody = NULL;
		}
		for (i = 0; i < ch->n; i++) {
			struct milter_conn *mc = &ch->conns[i];

			TAILQ_CONCAT(&ch->edits, &mc->edits, entry);
			mc->n_edits = 0;
			mc->quarantine = 0;
			if (mc->newbody != NULL) {
				if (ch->newbody != NULL)
					evbuffer_free(ch->newbody);
				ch->newbody = mc->newbody;
				mc->newbody = NULL;
			}
		}
		/* filters that decided early still wait for the message end */
		milter_chain_abort(ch);
	}
	ch->done(ch->arg, res);
}

struct milter_chain *
milter_chain_new(struct event_base *base,
    const struct conf_milter *const *milters, size_t n, const char *logid,
    milter_done_cb *done, milter_down_cb *down, milter_drained_cb *drained,
    void *arg)
{
	struct milter_chain *ch;
	size_t i;

	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return NULL;
	ch->base = base;
	ch->done = done;
	ch->down = down;
	ch->drained = drained;
	ch->arg = arg;
	snprintf(ch->logid, sizeof(ch->logid), "%s", logid);
	TAILQ_INIT(&ch->edits);
	if ((ch->kick = event_new(base, -1, 0, chain_kick_cb, ch)) == NULL ||
	    (ch->drain = event_new(base, -1, 0, chain_drain_cb, ch)) == NULL ||
	    (ch->conns = calloc(n, sizeof(*ch->conns))) == NULL) {
		milter_chain_free(ch);
		return NULL;
	}
	ch->n = n;
	for (i = 0; i < n; i++) {
		struct milter_conn *mc = &ch->conns[i];

		mc->ch = ch;
		mc->conf_copy = *milters[i];
		mc->conf = &mc->conf_copy;
		TAILQ_INIT(&mc->out);
		TAILQ_INIT(&mc->edits);
		mc->state = MC_CONNECTING;
	}
	for (i = 0; i < n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		struct sockaddr_storage ss;
		socklen_t sslen;
		const char *why;

		if ((mc->timer = evtimer_new(base, mc_timer_cb, mc)) == NULL) {
			mc->state = MC_DEAD;
			continue;
		}
		if (milter_socket_parse(mc->conf->socket, &ss, &sslen,
		    &why) == -1) {
			mc_dead(mc, why);
			continue;
		}
		mc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (mc->bev == NULL) {
			mc_dead(mc, "out of memory");
			continue;
		}
		bufferevent_setcb(mc->bev, mc_read_cb, NULL, mc_event_cb, mc);
		bufferevent_setwatermark(mc->bev, EV_READ, 0,
		    MILTER_PACKET_MAX + 8);
		mc_arm(mc, mc->conf->connect_timeout);
		if (bufferevent_socket_connect(mc->bev, (struct sockaddr *)&ss,
		    (int)sslen) == -1) {
			mc_dead(mc, errno ? strerror(errno) : "connect failed");
			continue;
		}
	}
	return ch;
}

void
milter_chain_free(struct milter_chain *ch)
{
	if (ch == NULL)
		return;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];

		if (mc->bev != NULL) {
			/* a courtesy: the socket closes right after */
			if (mc->state == MC_READY || mc->state == MC_ACCEPTED) {
				struct evbuffer *o = bufferevent_get_output(
				    mc->bev);

				milter_put_cmd(o, SMFIC_QUIT, NULL, 0);
				evbuffer_write(o, bufferevent_getfd(mc->bev));
			}
			bufferevent_free(mc->bev);
		}
		if (mc->timer != NULL)
			event_free(mc->timer);
		mc_clear_out(mc);
		mcmd_free(mc->inflight);
		edits_clear(&mc->edits);
		if (mc->newbody != NULL)
			evbuffer_free(mc->newbody);
		for (int s = 0; s < MILTER_ST_COUNT; s++)
			free(mc->symlist[s]);
	}
	free(ch->conns);
	if (ch->kick != NULL)
		event_free(ch->kick);
	if (ch->drain != NULL)
		event_free(ch->drain);
	edits_clear(&ch->edits);
	if (ch->newbody != NULL)
		evbuffer_free(ch->newbody);
	free(ch);
}

/* start an event that each filter answers */
static void
chain_begin(struct milter_chain *ch, int cmd)
{
	if (ch->stage != 0)
		fatalx("%s: event %s while %s is under way", __func__,
		    cmd_name(cmd), cmd_name(ch->stage));
	ch->stage = cmd;
	ch->pending = 0;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];

		mc->pending = 0;
		if (mc->state == MC_DEAD)
			mc_default(mc, &mc->ans);
		else {
			memset(&mc->ans, 0, sizeof(mc->ans));
			mc->ans.verdict = MILTER_CONTINUE;
		}
	}
}

static void
chain_end(struct milter_chain *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		mc_pump(&ch->conns[i]);
	if (ch->pending == 0)
		chain_answered(ch);
}

void
milter_chain_connect(struct milter_chain *ch, const char *host, int family,
    uint16_t port, const char *addr, const struct milter_macro *mac,
    size_t nmac)
{
	chain_begin(ch, SMFIC_CONNECT);
	for (size_t i = 0; i < ch->n; i++) {
		struct mcmd *c = mc_queue(&ch->conns[i], SMFIC_CONNECT, 1,
		    mac, nmac);

		if (c == NULL)
			continue;
		milter_put_connect(c->pkt, host, family, port, addr);
		mc_push(&ch->conns[i], c);
	}
	chain_end(ch);
}

/* an event whose data are strings */
static void
chain_strs(struct milter_chain *ch, int cmd, const char *const *strs,
    size_t n, const struct milter_macro *mac, size_t nmac)
{
	chain_begin(ch, cmd);
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		struct mcmd *c;

		if (cmd == SMFIC_MAIL && mc->state != MC_DEAD &&
		    mc->state != MC_ACCEPTED) {
			mc->in_msg = 1;
			mc->msg_done = 0;
			mc->skip_body = 0;
			memset(&mc->msg, 0, sizeof(mc->msg));
		}
		if ((c = mc_queue(mc, cmd, 1, mac, nmac)) == NULL)
			continue;
		milter_put_cmd(c->pkt, cmd, strs, n);
		mc_push(mc, c);
	}
	chain_end(ch);
}

void
milter_chain_helo(struct milter_chain *ch, const char *helo,
    const struct milter_macro *mac, size_t nmac)
{
	chain_strs(ch, SMFIC_HELO, &helo, 1, mac, nmac);
}

void
milter_chain_mail(struct milter_chain *ch, const char *const *argv,
    size_t argc, const struct milter_macro *mac, size_t nmac)
{
	chain_strs(ch, SMFIC_MAIL, argv, argc, mac, nmac);
}

void
milter_chain_rcpt(struct milter_chain *ch, const char *const *argv,
    size_t argc, const struct milter_macro *mac, size_t nmac)
{
	chain_strs(ch, SMFIC_RCPT, argv, argc, mac, nmac);
}

void
milter_chain_data(struct milter_chain *ch, const struct milter_macro *mac,
    size_t nmac)
{
	chain_strs(ch, SMFIC_DATA, NULL, 0, mac, nmac);
}

void
milter_chain_eom(struct milter_chain *ch, const struct milter_macro *mac,
    size_t nmac)
{
	chain_begin(ch, SMFIC_BODYEOB);
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		struct mcmd *c;

		edits_clear(&mc->edits);
		mc->n_edits = 0;
		mc->quarantine = 0;
		if (mc->newbody != NULL) {
			evbuffer_free(mc->newbody);
			mc->newbody = NULL;
		}
		if ((c = mc_queue(mc, SMFIC_BODYEOB, 1, mac, nmac)) == NULL)
			continue;
		milter_put_cmd(c->pkt, SMFIC_BODYEOB, NULL, 0);
		c->want_reply = c->stage = 1;	/* never waived */
		mc_push(mc, c);
	}
	chain_end(ch);
}

void
milter_chain_headers(struct milter_chain *ch, const char *head, size_t len)
{
	char *val;

	if ((val = malloc(len + 1)) == NULL)
		return;
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		int leadspc = (mc->protocol & SMFIP_HDR_LEADSPC) != 0;
		struct milter_str name;
		size_t off = 0, vlen, rs, rl;
		struct mcmd *c;

		while (milter_header_next(head, len, &off, &name, val, len + 1,
		    &vlen, leadspc, &rs, &rl) == 1) {
			char nm[256];
			const char *strs[2] = { nm, val };

			if ((c = mc_queue(mc, SMFIC_HEADER, 0, NULL, 0)) == NULL)
				break;
			snprintf(nm, sizeof(nm), "%.*s", (int)name.len, name.p);
			milter_put_cmd(c->pkt, SMFIC_HEADER, strs, 2);
			mc_push(mc, c);
		}
		if ((c = mc_queue(mc, SMFIC_EOH, 0, NULL, 0)) != NULL) {
			milter_put_cmd(c->pkt, SMFIC_EOH, NULL, 0);
			mc_push(mc, c);
		}
		mc_pump(mc);
	}
	free(val);
}

void
milter_chain_body(struct milter_chain *ch, const void *p, size_t len)
{
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		const char *b = p;
		size_t left = len;

		if (mc->skip_body)
			continue;
		while (left > 0) {
			size_t n = left > MILTER_CHUNK_MAX ? MILTER_CHUNK_MAX :
			    left;
			struct mcmd *c;

			/* fill the last queued chunk first: fewer packets */
			c = TAILQ_LAST(&mc->out, mcmd_list);
			if (c != NULL && c->cmd == SMFIC_BODY &&
			    c->bytes - 5 < MILTER_CHUNK_MAX) {
				size_t room = MILTER_CHUNK_MAX - (c->bytes - 5);
				size_t take = n < room ? n : room;
				uint8_t *h = evbuffer_pullup(c->pkt, 5);
				uint32_t l;

				memcpy(&l, h, 4);
				l = htonl(ntohl(l) + (uint32_t)take);
				memcpy(h, &l, 4);
				evbuffer_add(c->pkt, b, take);
				c->bytes += take;
				mc->backlog += take;
				b += take;
				left -= take;
				continue;
			}
			if ((c = mc_queue(mc, SMFIC_BODY, 0, NULL, 0)) == NULL)
				break;
			milter_put_body(c->pkt, b, n);
			mc_push(mc, c);
			b += n;
			left -= n;
		}
		mc_pump(mc);
	}
	if (milter_chain_backlog(ch) >= MILTER_LOW_MARK)
		ch->full = 1;
}

size_t
milter_chain_backlog(const struct milter_chain *ch)
{
	size_t n = 0;

	for (size_t i = 0; i < ch->n; i++)
		n += ch->conns[i].backlog;
	return n;
}

void
milter_chain_abort(struct milter_chain *ch)
{
	for (size_t i = 0; i < ch->n; i++) {
		struct milter_conn *mc = &ch->conns[i];
		struct mcmd *c, *next;

		if (!mc->in_msg || (mc->state != MC_READY &&
		    mc->state != MC_CONNECTING && mc->state != MC_NEGOTIATING))
			continue;
		/* what the message still had queued goes unsent */
		for (c = TAILQ_FIRST(&mc->out); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (msg_event(c->cmd) && !c->stage) {
				TAILQ_REMOVE(&mc->out, c, entry);
				mc->backlog -= c->bytes;
				mcmd_free(c);
			}
		}
		mc->in_msg = 0;
		mc->msg_done = 0;
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->pkt = evbuffer_new()) == NULL) {
			free(c);
			mc_dead(mc, "out of memory");
			continue;
		}
		c->cmd = SMFIC_ABORT;
		milter_put_cmd(c->pkt, SMFIC_ABORT, NULL, 0);
		mc_push(mc, c);
		mc_pump(mc);
	}
}

struct milter_edits *
milter_chain_edits(struct milter_chain *ch)
{
	return &ch->edits;
}

struct evbuffer *
milter_chain_new_body(struct milter_chain *ch)
{
	return ch->newbody;
}

/*
 * A filter owing the chain an answer gives it, or is given up on, by the
 * end of its current timer plus the timeouts of the commands queued up
 * to the event's own (SMFIR_PROGRESS moves the end on).
 */
static int64_t
mc_due(const struct milter_conn *mc, int64_t now)
{
	const struct mcmd *c;
	int64_t due = mc->due > now ? mc->due : now;

	TAILQ_FOREACH(c, &mc->out, entry) {
		if (c->want_reply)
			due += (c->cmd == SMFIC_BODYEOB ?
			    mc->conf->eom_timeout :
			    mc->conf->command_timeout) * 1000L;
		if (c->stage)
			break;
	}
	return due;
}

int
milter_chain_due_ms(const struct milter_chain *ch)
{
	int64_t now = clock_mono_ms(), last = now;

	if (ch->stage == 0)
		return 0;
	for (size_t i = 0; i < ch->n; i++) {
		const struct milter_conn *mc = &ch->conns[i];
		int64_t due;

		if (!mc->pending || mc->state == MC_DEAD)
			continue;
		if ((due = mc_due(mc, now)) > last)
			last = due;
	}
	return last - now > INT32_MAX ? INT32_MAX : (int)(last - now);
}
