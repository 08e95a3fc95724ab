/*
 * relay.h - the one function that decides whether a recipient is accepted.
 */
#ifndef MOAT_RELAY_H
#define MOAT_RELAY_H

#include <stdint.h>
#include "../mail/addr.h"
#include "../lib/cidr.h"

struct relay_table {
	char		**local_domains;	/* lowercased, no trailing dot */
	size_t		  n_local_domains;
	char		**lookup_domains;	/* routed domains with a
						 * recipient source, lowercased */
	size_t		  n_lookup_domains;
	int		  lookup_all_routed;	/* an aliases file: any routed
						 * address may be an alias */
	struct cidr	 *relay_networks;
	size_t		  n_relay_networks;
	char		**routes;		/* [delivery] routes, "DOMAIN=DEST" */
	size_t		  n_routes;
};

struct relay_client {
	uint8_t	addr[16];		/* mapped form, see cidr.h */
	int	authenticated;		/* AUTH succeeded in this session */
	int	auth_relay;		/* listener lets authenticated users relay */
	int	local;			/* local submission (moat sendmail): a
					 * user known by its uid */
};

enum relay_verdict {
	RELAY_LOOKUP,		/* our domain: whether the recipient exists
				 * is the lookup process's answer */
	RELAY_OUTBOUND,		/* a routed domain without a recipient
				 * source, or a foreign domain and the
				 * client may relay: 250 */
	RELAY_DENIED,		/* foreign domain and the client may not, or
				 * sender routing to a routed domain from a
				 * client that may not relay: 554 5.7.1 */
};

/*
 * relay_decide - accept or refuse one RCPT. rcpt is the output of
 * addr_parse_path (source route already stripped). The local part is
 * never routing for us: '%', '!' and '@' in it are plain characters.
 * In this order:
 *   1. an empty domain (bare <postmaster>) or a local domain gives
 *      RELAY_LOOKUP for every client, trusted or not (whether the
 *      mailbox exists is the lookup process's answer);
 *   2. a routed domain ([delivery] routes, relay_is_routed_domain):
 *      RELAY_DENIED for a local part with sender-specified routing
 *      ('@', '%', '!') from a client that may not relay; else
 *      RELAY_LOOKUP when the domain has a recipient source
 *      (lookup_domains), when an alias may name the address
 *      (lookup_all_routed) or for the role addresses postmaster and
 *      abuse; else RELAY_OUTBOUND (nothing could tell a user from none);
 *   3. any other domain, address literals included, gives RELAY_OUTBOUND
 *      for a client in relay_networks, one authenticated with
 *      auth_relay or a local submission, else RELAY_DENIED.
 * The null path gives RELAY_DENIED.
 * Pure: the caller logs the verdict.
 */
enum relay_verdict relay_decide(const struct relay_table *t,
    const struct relay_client *c, const struct mail_addr *rcpt);

/* relay_is_role - 1 for the local parts postmaster and abuse (any case) */
int relay_is_role(const char *local_plain);

/*
 * relay_has_source - 1 if the routed domain (any case) has a recipient
 * source of its own (lookup_domains)
 */
int relay_has_source(const struct relay_table *t, const char *domain);

/*
 * relay_is_local_domain - 1 if domain (any case) is exactly one of ours;
 * never for "" or an address literal
 */
int relay_is_local_domain(const struct relay_table *t, const char *domain);

/*
 * relay_is_routed_domain - 1 if domain has a [delivery] route: the
 * DOMAIN of a "DOMAIN=DEST" (any case), or a subdomain of a ".DOMAIN"
 * route. Mail for it is accepted from anyone and relayed to the route
 * (internal servers behind the edge). Never for "" or a literal.
 */
int relay_is_routed_domain(const struct relay_table *t, const char *domain);

/* relay_client_trusted - 1 if the address is in relay_networks */
int relay_client_trusted(const struct relay_table *t, const uint8_t addr[16]);

#endif
