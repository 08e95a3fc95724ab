/*
 * spf_dns.c - libspf2's DNS layer over our lookup function; see
 * spf_dns.h.
 *
 * Public: spf_dns_init.
 *
 * libspf2 asks for a name and a type and takes an SPF_dns_rr_t: the
 * wire rdata of our answer is turned into its form (A and AAAA as
 * addresses, MX and PTR as dotted names, TXT as the strings joined).
 * RFC 7208 4.6.4 is kept here over the whole check: each include,
 * redirect, a, mx, ptr and exists counts one lookup (the addresses of
 * an MX or PTR answer's names are part of their term), more than
 * SPF_LOOKUPS_MAX, or more than SPF_VOID_MAX empty answers, stop the
 * check: the lookup is answered TRY_AGAIN and spf.c makes the result
 * permerror. Type SPF (99) is answered "no data" without asking: RFC
 * 7208 3.1 retired it.
 * SECURITY: answers come from outside: every rdata is read within its
 * length; names longer than 253 characters or with a label over 63 are
 * dropped.
 * LIMITS: SPF_DNS_TARGETS_MAX names of an MX or PTR answer are
 * remembered (libspf2 looks at 10 at most).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf_dns.h"

/* a domain name in wire form (no compression) into out: 0 or -1 */
static int
wire_name(const uint8_t *p, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = p[i++];

		if (l == 0) {
			if (o == 0 && cap > 1)
				out[o++] = '.';
			out[o] = '\0';
			return o > 0 && o <= 253 ? 0 : -1;
		}
		if (l > 63 || i + l > len || o + l + 2 > cap)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	return -1;
}

/* one answer record into rr's slot n: 1 when kept, 0 skipped, -1 memory */
static int
rr_put(SPF_dns_rr_t *rr, int n, int type, const uint8_t *rd, size_t rl)
{
	char name[256];
	size_t len = 0;

	switch (type) {
	case ns_t_a:
		if (rl != 4)
			return 0;
		if (SPF_dns_rr_buf_realloc(rr, n, 4) != SPF_E_SUCCESS)
			return -1;
		memcpy(&rr->rr[n]->a, rd, 4);
		return 1;
	case ns_t_aaaa:
		if (rl != 16)
			return 0;
		if (SPF_dns_rr_buf_realloc(rr, n, 16) != SPF_E_SUCCESS)
			return -1;
		memcpy(&rr->rr[n]->aaaa, rd, 16);
		return 1;
	case ns_t_mx:
	case ns_t_ptr:
		if (type == ns_t_mx && rl < 3)
			return 0;
		if (wire_name(type == ns_t_mx ? rd + 2 : rd, type == ns_t_mx ?
		    rl - 2 : rl, name, sizeof(name)) == -1)
			return 0;
		if (SPF_dns_rr_buf_realloc(rr, n, strlen(name) + 1) !=
		    SPF_E_SUCCESS)
			return -1;
		memcpy(rr->rr[n]->mx, name, strlen(name) + 1);
		return 1;
	case ns_t_txt:
		/* the character-strings joined: at most rl - 1 bytes */
		if (SPF_dns_rr_buf_realloc(rr, n, rl + 1) != SPF_E_SUCCESS)
			return -1;
		for (size_t i = 0; i < rl; ) {
			size_t sl = rd[i++];

			if (sl > rl - i)
				sl = rl - i;
			memcpy(rr->rr[n]->txt + len, rd + i, sl);
			len += sl;
			i += sl;
		}
		rr->rr[n]->txt[len] = '\0';
		return 1;
	}
	return 0;
}

static int
is_target(const struct spf_dns *d, const char *name)
{
	for (int i = 0; i < d->n_targets; i++)
		if (strcasecmp(d->targets[i], name) == 0)
			return 1;
	return 0;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *server, const char *domain, ns_type type,
    int should_cache)
{
	struct spf_dns *d = (struct spf_dns *)server;
	const uint8_t *const *rd = NULL;
	const size_t *rl = NULL;
	SPF_dns_rr_t *rr;
	int n, kept = 0, counts;

	if (type == ns_t_spf)
		return SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
	/* the first lookup is the checked domain's own record: free */
	counts = d->queries++ > 0 && !((type == ns_t_a || type == ns_t_aaaa) &&
	    is_target(d, domain));
	if (d->over != NULL || (counts && ++d->terms > SPF_LOOKUPS_MAX)) {
		if (d->over == NULL)
			d->over = "too many DNS lookups";
		return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	}
	if ((n = d->lookup(d->arg, domain, type, &rd, &rl)) < 0)
		return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	if (n == 0 && counts && ++d->voids > SPF_VOID_MAX) {
		d->over = "too many void lookups";
		return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	}
	if ((rr = SPF_dns_rr_new_init(server, domain, type, 0,
	    n == 0 ? NO_DATA : NETDB_SUCCESS)) == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		int r = rr_put(rr, kept, type, rd[i], rl[i]);

		if (r == -1) {
			rr->herrno = TRY_AGAIN;
			rr->num_rr = 0;
			return rr;
		}
		kept += r;
	}
	rr->num_rr = kept;
	if (kept == 0)
		rr->herrno = NO_DATA;
	if (type == ns_t_mx || type == ns_t_ptr) {
		d->n_targets = 0;
		for (int i = 0; i < kept && i < SPF_DNS_TARGETS_MAX; i++)
			snprintf(d->targets[d->n_targets++],
			    sizeof(d->targets[0]), "%s", rr->rr[i]->mx);
	}
	if (d->queries == 1 && type == ns_t_txt)
		for (int i = 0; i < kept; i++)
			if (strncasecmp(rr->rr[i]->txt, "v=spf1", 6) == 0 &&
			    (rr->rr[i]->txt[6] == ' ' ||
			    rr->rr[i]->txt[6] == '\0'))
				d->top_spf = 1;
	return rr;
}

void
spf_dns_init(struct spf_dns *d, spf_lookup_fn lookup, void *arg)
{
	memset(d, 0, sizeof(*d));
	/* no destroy: SPF_server_free leaves the layer to us */
	d->layer.lookup = layer_lookup;
	d->layer.name = "moat";
	d->lookup = lookup;
	d->arg = arg;
}
