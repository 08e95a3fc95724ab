/*
 * tls_set.c - the server's certificates of one generation, by name.
 *
 * Public: tls_set_key_id, tls_set_new, tls_set_ssl_new, tls_set_retire,
 * tls_set_gen, tls_set_match.
 *
 * A set is what one start or one reload loaded: chains grouped by the
 * names their leaf certificates carry (subjectAltName DNS names, the
 * CN when there is none), one SSL_CTX a group. OpenSSL holds one
 * certificate per key type in a context, so an RSA and an ECDSA chain
 * for the same names go into one context and the handshake offers the
 * one the client's signature algorithms (TLS 1.3) or cipher list (1.2)
 * can use. The servername callback moves a connection to the context
 * whose names match the client's SNI (Postfix's tls_server_sni_maps,
 * nginx's server_name, without a table: the certificates say it);
 * otherwise it stays on the first, the default.
 *
 * Lifetimes: the owner (smtp) holds the current set. A reload makes a
 * new one and retires the old: new sessions get the new certificates,
 * while every connection made from the old set keeps it (and all its
 * contexts: the SNI callback of a handshake that has not begun may
 * still switch between them) until the connection is freed. The last
 * one frees the set and tells the ca process that its keys can go.
 * SECURITY: the SNI name is the peer's; it is only compared, and
 * logged escaped.
 * LIMITS: TLS_SET_PAIRS_MAX chains; 64 names a certificate are used.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "../lib/log.h"
#include "proto.h"
#include "tls.h"
#include "tls_key.h"
#include "tls_set.h"
#include "tls_ticket.h"

#define NAMES_MAX	64

/* a generation's pairs travel in one PROTO_TLS_KEYS */
_Static_assert(TLS_SET_PAIRS_MAX == PROTO_TLS_PAIRS_MAX, "pairs a generation");

struct tls_group {
	SSL_CTX		*ctx;		/* owned reference */
	char		*names[NAMES_MAX];	/* lowercased, owned */
	size_t		 n_names;
	int		 has_rsa, has_ec;
	int		 rsa_i, ec_i;	/* the pairs that gave them */
	int		 lent_rsa, lent_ec;	/* the default's, lent */
};

struct tls_set {
	uint32_t	 gen;
	struct tls_group grp[TLS_SET_PAIRS_MAX];
	size_t		 n;
	int		 retired;	/* the owner let it go */
	size_t		 conns;		/* connections made from it, alive */
};

static int ssl_set_idx = -1;

/* tls_set_key_id - pair i of generation gen, as the ca knows it */
uint32_t
tls_set_key_id(uint32_t gen, size_t i)
{
	return gen * TLS_SET_PAIRS_MAX + (uint32_t)i;
}

/* tls_set_gen - the set's generation */
uint32_t
tls_set_gen(const struct tls_set *set)
{
	return set->gen;
}

/* tls_set_match - pattern (a name or *.domain) covers host */
int
tls_set_match(const char *pattern, const char *host)
{
	const char *dot;
	size_t hl = strlen(host);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* one whole label: "a.example.org", never "example.org" */
		if ((dot = memchr(host, '.', hl)) == NULL || dot == host)
			return 0;
		return strlen(pattern + 1) == hl - (size_t)(dot - host) &&
		    strncasecmp(pattern + 1, dot, hl - (size_t)(dot - host)) == 0;
	}
	return strlen(pattern) == hl && strncasecmp(pattern, host, hl) == 0;
}

static void
set_free(struct tls_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		SSL_CTX_free(set->grp[i].ctx);
		for (size_t j = 0; j < set->grp[i].n_names; j++)
			free(set->grp[i].names[j]);
	}
	tls_key_retire(set->gen);
	log_info(LOG_CAT_TLS, "event=tls_generation_freed generation=%u",
	    set->gen);
	free(set);
}

/* an SSL is freed: the set goes with its last connection once retired */
static void
ssl_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct tls_set *set = ptr;

	if (set == NULL)
		return;
	if (set->conns == 0)
		fatalx("%s: generation %u has no connection", __func__,
		    set->gen);
	if (--set->conns == 0 && set->retired)
		set_free(set);
}

/* the client's SNI name picks the group whose certificate names it */
static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_set *set = SSL_get_ex_data(ssl, ssl_set_idx);
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (set == NULL || host == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < set->n; i++)
		for (size_t j = 0; j < set->grp[i].n_names; j++)
			if (tls_set_match(set->grp[i].names[j], host)) {
				if (SSL_get_SSL_CTX(ssl) != set->grp[i].ctx &&
				    SSL_set_SSL_CTX(ssl, set->grp[i].ctx) == NULL)
					return SSL_TLSEXT_ERR_ALERT_FATAL;
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_OK;	/* the default certificate */
}

static int
add_name(struct tls_group *g, const char *name, size_t len)
{
	char *s;

	if (g->n_names == NAMES_MAX || len == 0 || memchr(name, '\0', len))
		return 0;
	if ((s = strndup(name, len)) == NULL)
		return -1;
	for (char *p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	g->names[g->n_names++] = s;
	return 0;
}

/* the DNS names of a leaf certificate, else its CN */
static int
leaf_names(X509 *x, struct tls_group *g)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	X509_NAME *subj;
	int rc = 0, i;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && rc == 0;
	    i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);

		if (gn->type == GEN_DNS)
			rc = add_name(g, (const char *)ASN1_STRING_get0_data(
			    gn->d.dNSName), (size_t)ASN1_STRING_length(
			    gn->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (rc == 0 && g->n_names == 0 && (subj = X509_get_subject_name(x)) !=
	    NULL && (i = X509_NAME_get_index_by_NID(subj, NID_commonName,
	    -1)) >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));

		rc = add_name(g, (const char *)ASN1_STRING_get0_data(cn),
		    (size_t)ASN1_STRING_length(cn));
	}
	ERR_clear_error();
	return rc;
}

/* the same names, in any order */
static int
same_names(const struct tls_group *a, const struct tls_group *b)
{
	if (a->n_names != b->n_names)
		return 0;
	for (size_t i = 0; i < a->n_names; i++) {
		size_t j;

		for (j = 0; j < b->n_names; j++)
			if (strcmp(a->names[i], b->names[j]) == 0)
				break;
		if (j == b->n_names)
			return 0;
	}
	return 1;
}

/* chain i into group g: its certificate slot, chain and stand-in key */
static int
group_add(struct tls_group *g, STACK_OF(X509) *chain, uint32_t key_id,
    char *err, size_t errlen)
{
	X509 *leaf = sk_X509_value(chain, 0);

	if (SSL_CTX_use_certificate(g->ctx, leaf) != 1) {
		snprintf(err, errlen, "cannot use the certificate");
		ERR_clear_error();
		return -1;
	}
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(g->ctx, sk_X509_value(chain, i)) != 1) {
			snprintf(err, errlen, "cannot use the chain");
			ERR_clear_error();
			return -1;
		}
	return tls_key_use(g->ctx, leaf, key_id, err, errlen);
}

/*
 * A name with only an ECDSA certificate (or only an RSA one) would fail
 * the handshake of a client that cannot use that type, where without
 * SNI it would have had the default certificate. Each other context gets
 * the default's chain of the type it lacks: such a client gets what it
 * would have got without naming the host, the others the named one.
 */
static int
lend_default(struct tls_set *set, uint32_t gen,
    const struct tls_set_pem *pems, char *why, size_t whylen)
{
	const struct tls_group *d = &set->grp[0];

	for (size_t k = 1; k < set->n; k++) {
		struct tls_group *g = &set->grp[k];

		for (int ec = 0; ec <= 1; ec++) {
			int i = ec ? d->ec_i : d->rsa_i;
			STACK_OF(X509) *chain;

			if (!(ec ? d->has_ec : d->has_rsa) ||
			    (ec ? g->has_ec : g->has_rsa))
				continue;
			if ((chain = tls_chain_pem(pems[i].pem, pems[i].len,
			    why, whylen)) == NULL)
				return -1;
			if (group_add(g, chain, tls_set_key_id(gen, (size_t)i),
			    why, whylen) == -1) {
				sk_X509_pop_free(chain, X509_free);
				return -1;
			}
			sk_X509_pop_free(chain, X509_free);
			if (ec)
				g->lent_ec = 1;
			else
				g->lent_rsa = 1;
		}
	}
	return 0;
}

/* tls_set_new - the contexts of generation gen */
struct tls_set *
tls_set_new(const struct tls_opts *o, uint32_t gen,
    const struct tls_set_pem *pems, size_t n, char *err, size_t errlen)
{
	struct tls_set *set;
	char why[512];

	if (n == 0 || n > TLS_SET_PAIRS_MAX)
		fatalx("%s: %zu chains", __func__, n);
	if (ssl_set_idx < 0 && (ssl_set_idx = SSL_get_ex_new_index(0, NULL,
	    NULL, NULL, ssl_free_cb)) < 0) {
		snprintf(err, errlen, "tls: SSL_get_ex_new_index");
		return NULL;
	}
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	set->gen = gen;
	for (size_t i = 0; i < n; i++) {
		STACK_OF(X509) *chain;
		struct tls_group cand, *g = NULL;
		int ec;

		memset(&cand, 0, sizeof(cand));
		if ((chain = tls_chain_pem(pems[i].pem, pems[i].len, why,
		    sizeof(why))) == NULL)
			goto fail_i;
		ec = EVP_PKEY_get_base_id(X509_get0_pubkey(
		    sk_X509_value(chain, 0))) == EVP_PKEY_EC;
		if (leaf_names(sk_X509_value(chain, 0), &cand) == -1) {
			snprintf(why, sizeof(why), "out of memory");
			goto fail_chain;
		}
		/* a group with these names and a free slot of this type */
		for (size_t k = 0; k < set->n && g == NULL; k++)
			if (same_names(&set->grp[k], &cand) &&
			    !(ec ? set->grp[k].has_ec : set->grp[k].has_rsa))
				g = &set->grp[k];
		if (g != NULL) {
			for (size_t j = 0; j < cand.n_names; j++)
				free(cand.names[j]);
		} else {
			g = &set->grp[set->n];
			*g = cand;
			if ((g->ctx = tls_server_ctx_new(o, why,
			    sizeof(why))) == NULL)
				goto fail_chain;
			set->n++;
			tls_ticket_setup(g->ctx, o->ticket_lifetime);
			SSL_CTX_set_tlsext_servername_callback(g->ctx,
			    servername_cb);
		}
		if (group_add(g, chain, tls_set_key_id(gen, i), why,
		    sizeof(why)) == -1)
			goto fail_chain;
		if (ec) {
			g->has_ec = 1;
			g->ec_i = (int)i;
		} else {
			g->has_rsa = 1;
			g->rsa_i = (int)i;
		}
		sk_X509_pop_free(chain, X509_free);
		continue;
fail_chain:
		sk_X509_pop_free(chain, X509_free);
fail_i:
		snprintf(err, errlen, "certificate %zu: %s", i + 1, why);
		set_free(set);
		return NULL;
	}
	if (lend_default(set, gen, pems, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "certificate 1: %s", why);
		set_free(set);
		return NULL;
	}
	for (size_t k = 0; k < set->n; k++)
		log_info(LOG_CAT_TLS, "event=tls_certificate generation=%u "
		    "context=%zu names=%zu first=%s rsa=%s ecdsa=%s", gen, k,
		    set->grp[k].n_names, set->grp[k].n_names ?
		    set->grp[k].names[0] : "-", set->grp[k].has_rsa ? "yes" :
		    set->grp[k].lent_rsa ? "default" : "no",
		    set->grp[k].has_ec ? "yes" : set->grp[k].lent_ec ?
		    "default" : "no");
	return set;
}

/* tls_set_ssl_new - a connection of the default context */
SSL *
tls_set_ssl_new(struct tls_set *set)
{
	SSL *ssl;

	if ((ssl = SSL_new(set->grp[0].ctx)) == NULL)
		return NULL;
	if (SSL_set_ex_data(ssl, ssl_set_idx, set) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	set->conns++;
	return ssl;
}

/* tls_set_retire - freed now or with its last connection */
void
tls_set_retire(struct tls_set *set)
{
	if (set == NULL)
		return;
	set->retired = 1;
	if (set->conns == 0)
		set_free(set);
}
