/*
 * relay.c - the one decision whether a recipient is accepted (see relay.h).
 *
 * Public: relay_decide, relay_is_local_domain, relay_is_routed_domain,
 * relay_client_trusted, relay_is_role, relay_has_source.
 *
 * Order of the decision:
 *   1. the domain is empty (bare <postmaster>) or exactly one of ours:
 *      RELAY_LOOKUP, for every client, so a trusted client never
 *      relays an unknown local user out: the lookup process answers
 *      whether the mailbox exists and which Maildir it is.
 *   2. a routed domain (an internal server behind us): from anyone,
 *      except that a local part with sender-specified routing ('@',
 *      '%' or '!', as in "victim%elsewhere@corp") is RELAY_DENIED
 *      unless the client may relay (step 3): the internal server might
 *      honour the routing, and the two would be an open relay. Then
 *      RELAY_LOOKUP when something can tell whether the recipient
 *      exists (a recipient source of the domain, an alias, the role
 *      addresses), else RELAY_OUTBOUND: the internal server decides,
 *      after we accepted (the daemon warns about such a domain).
 *   3. any other domain, address literals included: RELAY_OUTBOUND when
 *      the client is in relay_networks, authenticated on a listener
 *      with auth_relay, or a local user of moat sendmail (known by its
 *      uid, like an authenticated user), else RELAY_DENIED.
 *
 * SECURITY: rcpt comes from addr_parse_path, i.e. from the peer, with the
 * source route already removed. The local part is never routing here:
 * '%', '!', '@' are plain characters, so "a%b@ours" is only an unknown
 * mailbox; for a routed domain they are refused from untrusted clients,
 * as the next hop may read them as routing.
 * Domains match exactly (ASCII case-insensitive): no suffix or prefix
 * matching, and an IP literal is never local. Pure: no I/O, no logging
 * (the caller logs the verdict with its session id).
 * LIMITS: linear scans of the domain and network tables; they are
 * small (the mailboxes, which are not, live in the lookup process).
 */
#include <string.h>

#include "relay.h"

static int
ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

/* exact comparison, ASCII letters case-insensitive, other bytes as is */
static int
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

/* relay_is_local_domain - 1 if domain (any case) is exactly one of ours */
int
relay_is_local_domain(const struct relay_table *t, const char *domain)
{
	size_t i;

	/* no empty names and never an address literal */
	if (domain == NULL || domain[0] == '\0' || domain[0] == '[')
		return 0;
	for (i = 0; i < t->n_local_domains; i++)
		if (t->local_domains[i] != NULL &&
		    ascii_caseeq(t->local_domains[i], domain))
			return 1;
	return 0;
}

/* relay_is_routed_domain - 1 if domain has a [delivery] route */
int
relay_is_routed_domain(const struct relay_table *t, const char *domain)
{
	size_t i, dlen;

	if (domain == NULL || domain[0] == '\0' || domain[0] == '[')
		return 0;
	dlen = strlen(domain);
	for (i = 0; i < t->n_routes; i++) {
		const char *r = t->routes[i], *eq = strchr(r, '=');
		size_t rlen = eq != NULL ? (size_t)(eq - r) : 0;
		char rd[256];

		if (rlen == 0 || rlen >= sizeof(rd))
			continue;
		memcpy(rd, r, rlen);
		rd[rlen] = '\0';
		if (rd[0] != '.' ? ascii_caseeq(rd, domain) :
		    (dlen > rlen && ascii_caseeq(rd, domain + dlen - rlen)))
			return 1;
	}
	return 0;
}

/* relay_client_trusted - 1 if the address is in relay_networks */
int
relay_client_trusted(const struct relay_table *t, const uint8_t addr[16])
{
	size_t i;

	for (i = 0; i < t->n_relay_networks; i++)
		if (cidr_contains(&t->relay_networks[i], addr))
			return 1;
	return 0;
}

/* relay_is_role - postmaster and abuse, in any case */
int
relay_is_role(const char *local_plain)
{
	return ascii_caseeq(local_plain, "postmaster") ||
	    ascii_caseeq(local_plain, "abuse");
}

/* relay_has_source - the routed domain has a recipient source */
int
relay_has_source(const struct relay_table *t, const char *domain)
{
	for (size_t i = 0; i < t->n_lookup_domains; i++)
		if (ascii_caseeq(t->lookup_domains[i], domain))
			return 1;
	return 0;
}

/*
 * in relay_networks, authenticated on a listener that lets users relay,
 * or a local submission (its user is its uid)
 */
static int
client_may_relay(const struct relay_table *t, const struct relay_client *c)
{
	return relay_client_trusted(t, c->addr) ||
	    (c->authenticated && c->auth_relay) || c->local;
}

/*
 * "user%site", "site!user" or a quoted "user@site" in a local part:
 * routing chosen by the sender (Postfix's allow_untrusted_routing = no)
 */
static int
has_sender_routing(const char *local_plain)
{
	return strpbrk(local_plain, "@%!") != NULL;
}

/* relay_decide - accept or refuse one RCPT (see the order above) */
enum relay_verdict
relay_decide(const struct relay_table *t, const struct relay_client *c,
    const struct mail_addr *rcpt)
{
	/*
	 * The null path is no recipient. Only a caller bug (ADDR_F_ALLOW_NULL
	 * on RCPT) gets here; refuse rather than crash on peer input.
	 */
	if (rcpt->is_null)
		return RELAY_DENIED;
	if (rcpt->domain[0] == '\0' ||
	    (!rcpt->is_literal && relay_is_local_domain(t, rcpt->domain)))
		return RELAY_LOOKUP;
	/*
	 * A routed domain: inbound for an internal server, from anyone, but
	 * without sender-specified routing from a client that may not relay:
	 * the internal server might honour "a%b@corp" and relay for it.
	 */
	if (!rcpt->is_literal && relay_is_routed_domain(t, rcpt->domain)) {
		if (!client_may_relay(t, c) &&
		    has_sender_routing(rcpt->local_plain))
			return RELAY_DENIED;
		return relay_has_source(t, rcpt->domain) ||
		    t->lookup_all_routed || relay_is_role(rcpt->local_plain) ?
		    RELAY_LOOKUP : RELAY_OUTBOUND;
	}
	return client_may_relay(t, c) ? RELAY_OUTBOUND : RELAY_DENIED;
}
