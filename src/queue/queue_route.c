/*
 * queue_route.c - where an address goes under the configuration the
 * queue process holds (see queue_route.h).
 *
 * Public: queue_route_mailbox.
 *
 * SECURITY: addr comes from queue.db (an envelope address smtp parsed);
 * it is parsed again here and nothing of it is used unless it parses.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/config.h"
#include "mail/addr.h"
#include "policy/relay.h"
#include "queue/queue_route.h"

/* queue_route_mailbox - local Maildir, relayed, or a local unknown */
int
queue_route_mailbox(const struct conf *c, const char *addr, char *out,
    size_t len)
{
	struct mail_addr a;
	char path[ADDR_PATH_MAX + 3], full[2 * ADDR_PATH_MAX];
	struct relay_table t;
	int n;

	out[0] = '\0';
	n = snprintf(path, sizeof(path), "<%s>", addr);
	if (n < 0 || (size_t)n >= sizeof(path) || addr_parse_path(path,
	    (size_t)n, ADDR_F_UTF8, &a, NULL) != ADDR_OK)
		return QUEUE_ROUTE_REMOTE;
	conf_relay_table(c, &t);
	if (a.domain[0] != '\0' && (a.is_literal ||
	    !relay_is_local_domain(&t, a.domain)))
		return QUEUE_ROUTE_REMOTE;
	for (char *p = a.local_plain; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	snprintf(full, sizeof(full), "%s@%s", a.local_plain, a.domain);
	for (size_t i = 0; i < c->n_mailboxes; i++)
		if (strcmp(c->mailboxes[i], a.local_plain) == 0 ||
		    strcmp(c->mailboxes[i], full) == 0) {
			snprintf(out, len, "%s", c->mailboxes[i]);
			return QUEUE_ROUTE_LOCAL;
		}
	if (relay_is_role(a.local_plain) && c->role_mailbox[0] != '\0') {
		snprintf(out, len, "%s", c->role_mailbox);
		return QUEUE_ROUTE_LOCAL;
	}
	return QUEUE_ROUTE_UNKNOWN;
}
