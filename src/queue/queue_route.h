/*
 * queue_route.h - where an address is delivered under the current
 * configuration, as the queue process can tell: a local Maildir or
 * relayed. For bounces to our own senders, `moat queue requeue` and
 * dead letters put back into the queue.
 */
#ifndef MOAT_QUEUE_ROUTE_H
#define MOAT_QUEUE_ROUTE_H

#include <stddef.h>

struct conf;

#define QUEUE_ROUTE_REMOTE	0	/* not a local domain: relayed */
#define QUEUE_ROUTE_LOCAL	1	/* a local mailbox, into out */
#define QUEUE_ROUTE_UNKNOWN	(-1)	/* a local domain, no mailbox known */

/*
 * queue_route_mailbox - the route of addr (as addr_format stored it)
 * under c: QUEUE_ROUTE_LOCAL with its Maildir in out (a mailbox of the
 * `mailboxes` knob, "user" or "user@domain", or role_mailbox for
 * postmaster and abuse), QUEUE_ROUTE_REMOTE for a domain that is not
 * local (routed or outside), QUEUE_ROUTE_UNKNOWN for a local domain
 * whose mailbox only the lookup process could name (mailboxes_file,
 * aliases, tables, LDAP are not asked here). out is "" unless local.
 */
int queue_route_mailbox(const struct conf *c, const char *addr, char *out,
    size_t len);

#endif
