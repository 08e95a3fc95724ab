/*
 * milter.h - the MTA side of the milter protocol for one SMTP session:
 * a chain of filters (a listener's milters, in order), one connection
 * each, asynchronous on the session's event loop.
 *
 * The session tells the chain each SMTP event (connect, HELO, MAIL,
 * RCPT, DATA, the header section, body bytes, the end of the message,
 * abort); an event that needs an answer ends in the chain's done
 * callback, always called from the event loop (never from inside the
 * call that started the event), once every filter has answered or
 * given up. Header and body events are streamed: they wait in the
 * chain (milter_chain_backlog) until each filter takes them.
 */
#ifndef MOAT_MILTER_H
#define MOAT_MILTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "milter_proto.h"

struct event_base;
struct evbuffer;
struct conf_milter;

enum milter_verdict {
	MILTER_CONTINUE,	/* go on (an accept of the event, too) */
	MILTER_REJECT,		/* 5xx */
	MILTER_TEMPFAIL,	/* 4xx */
	MILTER_DISCARD,		/* accept the message and drop it */
};

/* the outcome of one event over the whole chain */
struct milter_result {
	enum milter_verdict verdict;
	char		 reply[1024];	/* checked SMTP reply lines ('\n'
					 * between them), "" for ours */
	int		 code;		/* of reply, 0 when "" */
	const char	*milter;	/* the filter that decided */
	int		 unavailable;	/* decided by default_action */
	int		 quarantine;	/* EOM: a filter quarantined it */
	char		 quarantine_why[256];
};

/* a macro the session provides: {name} or a one-letter one */
struct milter_macro {
	const char	*name;
	const char	*value;
};

/* one modification asked for at the end of a message, in order */
struct milter_edit {
	int		 cmd;		/* SMFIR_ADDHEADER ... SMFIR_DELRCPT */
	uint32_t	 index;
	char		*s1, *s2;	/* owned, NUL-ended, s2 may be NULL */
	size_t		 l1, l2;
	int		 leadspc;	/* header values: HDR_LEADSPC */
	const char	*milter;	/* its filter's name */
	TAILQ_ENTRY(milter_edit) entry;
};
TAILQ_HEAD(milter_edits, milter_edit);

typedef void milter_done_cb(void *arg, const struct milter_result *);
/* a filter became unusable: for the log and a rate-limited event */
typedef void milter_down_cb(void *arg, const char *milter, const char *why);
/* the backlog went below its low mark: body bytes may come again */
typedef void milter_drained_cb(void *arg);

struct milter_chain;

/*
 * milter_chain_new - connect to each of the n filters (in order) for a
 * session; logid names it in logs. NULL when out of memory.
 */
struct milter_chain *milter_chain_new(struct event_base *base,
    const struct conf_milter *const *milters, size_t n, const char *logid,
    milter_done_cb *done, milter_down_cb *down, milter_drained_cb *drained,
    void *arg);
/* milter_chain_free - QUIT to each filter, close, free; NULL is fine */
void milter_chain_free(struct milter_chain *);

/* events that end in the done callback */
void milter_chain_connect(struct milter_chain *, const char *host,
    int family, uint16_t port, const char *addr,
    const struct milter_macro *, size_t);
void milter_chain_helo(struct milter_chain *, const char *helo,
    const struct milter_macro *, size_t);
/* argv[0] is "<address>", then the ESMTP parameters */
void milter_chain_mail(struct milter_chain *, const char *const *argv,
    size_t argc, const struct milter_macro *, size_t);
void milter_chain_rcpt(struct milter_chain *, const char *const *argv,
    size_t argc, const struct milter_macro *, size_t);
void milter_chain_data(struct milter_chain *, const struct milter_macro *,
    size_t);
/*
 * milter_chain_eom - the end of the message: each filter's answer and
 * its modifications (milter_chain_edits, milter_chain_new_body) are
 * there when done is called.
 */
void milter_chain_eom(struct milter_chain *, const struct milter_macro *,
    size_t);

/* streamed events: no done callback; a refusal shows at the EOM */
/* the header section (CRLF lines, up to and without the blank line) */
void milter_chain_headers(struct milter_chain *, const char *head,
    size_t len);
void milter_chain_body(struct milter_chain *, const void *p, size_t len);
/* milter_chain_backlog - bytes waiting for the filters to take them */
size_t milter_chain_backlog(const struct milter_chain *);

/*
 * milter_chain_due_ms - the most milliseconds from now until the chain
 * answers the event under way, by the filters or by their own timers
 * (default_action); 0 when none is under way. Progress reports of a
 * filter move it on.
 */
int milter_chain_due_ms(const struct milter_chain *);

/* the message is over without an EOM (RSET, refused, client gone) */
void milter_chain_abort(struct milter_chain *);

/* the modifications of the last EOM, in chain order; valid until the
 * next event */
struct milter_edits *milter_chain_edits(struct milter_chain *);
/* a replacement body (CRLF lines), NULL when none; owned by the chain */
struct evbuffer *milter_chain_new_body(struct milter_chain *);

#endif
