/*
 * dmarc.c - DMARC through libopendmarc; see dmarc.h.
 *
 * Public: dmarc_policy_name, dmarc_psl_load, dmarc_psl_free,
 * dmarc_org_domain, dmarc_record_check, dmarc_eval_new, dmarc_eval_spf,
 * dmarc_eval_dkim, dmarc_eval_result, dmarc_eval_free.
 *
 * The record is fetched by us (smtp_authwork.c, the configured
 * resolver) and handed to opendmarc_policy_store_dmarc: the library's
 * own lookups (res_query) are never called. Alignment and the policy
 * that applies are the library's (opendmarc_get_policy_to_enforce).
 * libopendmarc's list lookup (opendmarc_get_tld) has no answer for a
 * name under no rule of the list; the list's implicit "*" rule is
 * applied here then (the last label is the suffix). Its strict
 * alignment is mended here too (strict_misaligned).
 * SECURITY: records come from outside: parsed by libopendmarc within
 * DMARC_RECORD_MAX bytes (the caller's bound); its tag values are not
 * written anywhere by us.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendmarc/dmarc.h>

#include "dmarc.h"

/* exported by libopendmarc, not in its header */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

struct dmarc_eval {
	DMARC_POLICY_T	*pctx;
	char		 from[256];
};

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_REJECT:		return "reject";
	case DMARC_P_QUARANTINE:	return "quarantine";
	case DMARC_P_NONE:		break;
	}
	return "none";
}

int
dmarc_psl_load(const char *path)
{
	char copy[1024];

	snprintf(copy, sizeof(copy), "%s", path);
	/* the list's syntax: comments, wildcards, exceptions */
	return opendmarc_tld_read_file(copy, "//", "*.", "!") == 0 ? 0 : -1;
}

void
dmarc_psl_free(void)
{
	opendmarc_tld_shutdown();
}

void
dmarc_org_domain(const char *domain, char *out, size_t cap)
{
	u_char name[256], tld[256] = "";
	const char *p;

	snprintf((char *)name, sizeof(name), "%s", domain);
	if (opendmarc_get_tld(name, tld, sizeof(tld)) == 0 && tld[0] != '\0') {
		snprintf(out, cap, "%s", (const char *)tld);
		return;
	}
	/* no rule: the last label is the suffix, one more the domain */
	if ((p = strrchr(domain, '.')) != NULL)
		while (p > domain && p[-1] != '.')
			p--;
	snprintf(out, cap, "%s", p != NULL ? p : domain);
}

int
dmarc_record_check(const char *txt, const char **why)
{
	DMARC_POLICY_T *pctx;
	int rc;

	/* RFC 7489 6.4: v=DMARC1 first, the tags after a ';' */
	if (strncmp(txt, "v=DMARC1", 8) != 0 || (txt[8] != '\0' &&
	    txt[8] != ';' && txt[8] != ' ' && txt[8] != '\t')) {
		*why = "not a DMARC record";
		return -1;
	}
	if (strlen(txt) >= DMARC_RECORD_MAX) {
		*why = "record too long";
		return -1;
	}
	if ((pctx = opendmarc_policy_connect_init((u_char *)"0.0.0.0",
	    0)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	rc = opendmarc_policy_parse_dmarc(pctx, (u_char *)"check.invalid",
	    (u_char *)txt);
	opendmarc_policy_connect_shutdown(pctx);
	if (rc != DMARC_PARSE_OKAY) {
		*why = opendmarc_policy_status_to_str(rc);
		return -1;
	}
	return 0;
}

struct dmarc_eval *
dmarc_eval_new(const char *client, const char *from, const char *record,
    const char *record_domain)
{
	struct dmarc_eval *e;
	const char *why;

	if (dmarc_record_check(record, &why) == -1 ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	snprintf(e->from, sizeof(e->from), "%s", from);
	if ((e->pctx = opendmarc_policy_connect_init((u_char *)client,
	    strchr(client, ':') != NULL)) == NULL) {
		free(e);
		return NULL;
	}
	/* a record of the organizational domain: its sp= for the From's */
	if (opendmarc_policy_store_dmarc(e->pctx, (u_char *)record,
	    (u_char *)from, strcasecmp(record_domain, from) != 0 ?
	    (u_char *)record_domain : NULL) != DMARC_PARSE_OKAY) {
		dmarc_eval_free(e);
		return NULL;
	}
	return e;
}

/*
 * libopendmarc 1.4.2 finds a subdomain strictly aligned once both are
 * cut to their organizational domain: under adkim=s or aspf=s only an
 * identifier equal to the From domain is given to it as a pass.
 */
static int
strict_misaligned(struct dmarc_eval *e, int strict, const char *domain)
{
	return strict == DMARC_RECORD_A_STRICT &&
	    strcasecmp(domain, e->from) != 0;
}

void
dmarc_eval_spf(struct dmarc_eval *e, const char *domain, int pass, int helo)
{
	int aspf = 0;

	if (domain[0] == '\0')
		return;
	(void)opendmarc_policy_fetch_aspf(e->pctx, &aspf);
	if (strict_misaligned(e, aspf, domain))
		pass = 0;
	(void)opendmarc_policy_store_spf(e->pctx, (u_char *)domain,
	    pass ? DMARC_POLICY_SPF_OUTCOME_PASS :
	    DMARC_POLICY_SPF_OUTCOME_FAIL, helo ?
	    DMARC_POLICY_SPF_ORIGIN_HELO : DMARC_POLICY_SPF_ORIGIN_MAILFROM,
	    NULL);
}

void
dmarc_eval_dkim(struct dmarc_eval *e, const char *domain,
    const char *selector, int pass)
{
	int adkim = 0;

	if (domain[0] == '\0')
		return;
	(void)opendmarc_policy_fetch_adkim(e->pctx, &adkim);
	if (strict_misaligned(e, adkim, domain))
		pass = 0;
	(void)opendmarc_policy_store_dkim(e->pctx, (u_char *)domain,
	    (u_char *)selector, pass ? DMARC_POLICY_DKIM_OUTCOME_PASS :
	    DMARC_POLICY_DKIM_OUTCOME_FAIL, NULL);
}

static enum dmarc_policy
policy_of(int p)
{
	return p == DMARC_RECORD_P_REJECT ? DMARC_P_REJECT :
	    p == DMARC_RECORD_P_QUARANTINE ? DMARC_P_QUARANTINE : DMARC_P_NONE;
}

int
dmarc_eval_result(struct dmarc_eval *e, enum dmarc_policy *policy, int *pct)
{
	int verdict, p = 0, sp = 0;

	verdict = opendmarc_get_policy_to_enforce(e->pctx);
	(void)opendmarc_policy_fetch_p(e->pctx, &p);
	(void)opendmarc_policy_fetch_sp(e->pctx, &sp);
	if (opendmarc_policy_fetch_pct(e->pctx, pct) != DMARC_PARSE_OKAY)
		*pct = 100;
	*policy = policy_of(opendmarc_get_policy_token_used(e->pctx) ==
	    DMARC_USED_POLICY_IS_SP ? sp : p);
	return verdict == DMARC_POLICY_PASS;
}

void
dmarc_eval_free(struct dmarc_eval *e)
{
	if (e == NULL)
		return;
	opendmarc_policy_connect_shutdown(e->pctx);
	free(e);
}
