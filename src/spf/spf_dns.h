/*
 * spf_dns.h - libspf2's DNS layer (SPF_dns_server_t) over a lookup
 * function of ours (spf_lookup_fn: a worker thread's libunbound
 * context, a table in the tests), so that libspf2 never calls
 * res_query and asks the server the configuration names (dns_server).
 */
#ifndef MOAT_SPF_DNS_H
#define MOAT_SPF_DNS_H

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <spf2/spf.h>

#include "spf.h"

#define SPF_DNS_TARGETS_MAX	10	/* MX or PTR names of one answer */

/*
 * One check's layer: it also keeps RFC 7208 4.6.4's limits across
 * include and redirect (libspf2 counts them per record only): a lookup
 * beyond them is answered TRY_AGAIN and over names the limit.
 */
struct spf_dns {
	SPF_dns_server_t	 layer;		/* first: libspf2 sees this */
	spf_lookup_fn		 lookup;
	void			*arg;
	int			 queries;	/* asked so far */
	int			 terms;		/* lookups that count */
	int			 voids;		/* of those, empty answers */
	const char		*over;		/* NULL, or the limit passed */
	int			 top_spf;	/* the first answer had v=spf1 */
	char			 targets[SPF_DNS_TARGETS_MAX][256];
	int			 n_targets;	/* of the last MX or PTR answer */
};

/* spf_dns_init - d ready for one check with lookup(arg, ...) */
void spf_dns_init(struct spf_dns *d, spf_lookup_fn lookup, void *arg);

#endif
