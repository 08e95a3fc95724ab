/*
 * smtp_dot.c - the steps at the final dot; see smtp_dot.h.
 */
#include <stddef.h>

#include "smtp.h"
#include "smtp_dot.h"

static const struct {
	const char		*name;
	enum smtp_dot_rc	(*run)(struct smtp_session *);
} dot_steps[] = {
	{ "authres_strip", smtp_dot_authres_strip },	/* always: first */
	{ "authres", smtp_dot_authres },	/* inbound */
	{ "milter", smtp_dot_milter },	/* the listener's milters */
	{ "dkim_sign", smtp_dot_dkim_sign },
	{ "store", smtp_dot_store },	/* always last: it answers */
};

void
smtp_dot_start(struct smtp_session *s)
{
	s->tx->dot_step = 0;
	smtp_dot_next(s);
}

void
smtp_dot_next(struct smtp_session *s)
{
	size_t n = sizeof(dot_steps) / sizeof(dot_steps[0]);

	while (s->tx != NULL && (size_t)s->tx->dot_step < n) {
		if (dot_steps[s->tx->dot_step++].run(s) != SMTP_DOT_CONTINUE)
			return;
	}
}
