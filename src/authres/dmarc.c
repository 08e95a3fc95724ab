/*
 * dmarc.c - DMARC (RFC 7489) pieces that need no DNS: the policy
 * record's tags, the organizational domain by the public suffix list,
 * and identifier alignment. The lookups and the verdict are
 * smtp_authwork.c's and smtp_authres.c's.
 *
 * Public: dmarc_record_parse, dmarc_policy_name, dmarc_psl_load,
 * dmarc_psl_set, dmarc_psl_free, dmarc_org_domain, dmarc_aligned.
 *
 * SECURITY: records come from outside: parsed within their length,
 * unknown tags ignored (RFC 7489 6.3). The list is read from a file of
 * the system (Debian's publicsuffix) before the chroot.
 * LIMITS: rules of at most 253 bytes; the list is kept sorted in
 * memory (about 10,000 rules).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"

static char **rules;		/* sorted, lower case; "*.x", "!x.y" kept */
static size_t n_rules;

static int
rule_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
dmarc_psl_free(void)
{
	for (size_t i = 0; i < n_rules; i++)
		free(rules[i]);
	free(rules);
	rules = NULL;
	n_rules = 0;
}

int
dmarc_psl_set(const char *text, size_t len)
{
	size_t cap = 0;

	dmarc_psl_free();
	for (size_t i = 0; i < len; ) {
		size_t e = i, l;
		char *r;

		while (e < len && text[e] != '\n')
			e++;
		l = e;
		/* a rule is the line up to white space */
		for (size_t k = i; k < e; k++)
			if (text[k] == ' ' || text[k] == '\t' ||
			    text[k] == '\r') {
				l = k;
				break;
			}
		if (l > i && l - i < 254 && !(l - i >= 2 && text[i] == '/' &&
		    text[i + 1] == '/')) {
			if (n_rules == cap) {
				char **nr;

				cap = cap ? cap * 2 : 1024;
				if ((nr = realloc(rules, cap * sizeof(*nr))) ==
				    NULL)
					goto fail;
				rules = nr;
			}
			if ((r = strndup(text + i, l - i)) == NULL)
				goto fail;
			for (char *p = r; *p != '\0'; p++)
				*p = (char)tolower((unsigned char)*p);
			rules[n_rules++] = r;
		}
		i = e + 1;
	}
	qsort(rules, n_rules, sizeof(*rules), rule_cmp);
	return 0;
fail:
	dmarc_psl_free();
	return -1;
}

int
dmarc_psl_load(const char *path)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	for (;;) {
		if (len + 65536 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 262144;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	rc = dmarc_psl_set(buf, len);
	free(buf);
	return rc;
}

static int
has_rule(const char *prefix, const char *name)
{
	char key[260];
	const char *k = key;

	if (snprintf(key, sizeof(key), "%s%s", prefix, name) >=
	    (int)sizeof(key))
		return 0;
	for (char *p = key; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return n_rules > 0 && bsearch(&k, rules, n_rules, sizeof(*rules),
	    rule_cmp) != NULL;
}

const char *
dmarc_org_domain(const char *domain)
{
	const char *labels[128];
	size_t n = 0, suffix = 1;	/* labels in the public suffix */

	for (const char *p = domain; n < 128; ) {
		labels[n++] = p;
		if ((p = strchr(p, '.')) == NULL)
			break;
		p++;
	}
	/* the longest matching rule; an exception wins (publicsuffix.org) */
	for (size_t i = 0; i < n; i++) {
		size_t k = n - i;	/* labels of labels[i] */

		if (has_rule("!", labels[i])) {
			suffix = k - 1;
			break;
		}
		if (has_rule("", labels[i]) || (i + 1 < n &&
		    has_rule("*.", labels[i + 1]))) {
			suffix = k;
			break;
		}
	}
	if (suffix >= n)
		return domain;	/* a public suffix itself */
	return labels[n - suffix - 1];
}

int
dmarc_aligned(const char *a, const char *b, int strict)
{
	if (a == NULL || b == NULL || a[0] == '\0' || b[0] == '\0')
		return 0;
	if (strcasecmp(a, b) == 0)
		return 1;
	return !strict && strcasecmp(dmarc_org_domain(a),
	    dmarc_org_domain(b)) == 0;
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? "reject" : p == DMARC_P_QUARANTINE ?
	    "quarantine" : "none";
}

static int
policy(const char *v, size_t l, enum dmarc_policy *p)
{
	if (l == 4 && strncasecmp(v, "none", 4) == 0)
		*p = DMARC_P_NONE;
	else if (l == 10 && strncasecmp(v, "quarantine", 10) == 0)
		*p = DMARC_P_QUARANTINE;
	else if (l == 6 && strncasecmp(v, "reject", 6) == 0)
		*p = DMARC_P_REJECT;
	else
		return -1;
	return 0;
}

int
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r,
    const char **why)
{
	int first = 1, have_p = 0, have_sp = 0;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	for (size_t i = 0; i < len; ) {
		size_t e = i, ns, ne, vs, ve;

		while (e < len && txt[e] != ';')
			e++;
		ns = i;
		while (ns < e && (txt[ns] == ' ' || txt[ns] == '\t'))
			ns++;
		ne = ns;
		while (ne < e && isalnum((unsigned char)txt[ne]))
			ne++;
		vs = ne;
		while (vs < e && (txt[vs] == ' ' || txt[vs] == '\t'))
			vs++;
		if (ne == ns && vs == e) {	/* an empty tag: "...;" */
			i = e + 1;
			continue;
		}
		if (vs == e || txt[vs] != '=') {
			*why = "bad tag";
			return -1;
		}
		vs++;
		while (vs < e && (txt[vs] == ' ' || txt[vs] == '\t'))
			vs++;
		ve = e;
		while (ve > vs && (txt[ve - 1] == ' ' || txt[ve - 1] == '\t'))
			ve--;
#define TAG(s)	(ne - ns == sizeof(s) - 1 && strncasecmp(txt + ns, s, \
		    sizeof(s) - 1) == 0)
		if (first) {
			if (!TAG("v") || ve - vs != 6 ||
			    strncmp(txt + vs, "DMARC1", 6) != 0) {
				*why = "not a DMARC record";
				return -1;
			}
			first = 0;
		} else if (TAG("p")) {
			if (policy(txt + vs, ve - vs, &r->p) == -1) {
				*why = "bad p=";
				return -1;
			}
			have_p = 1;
		} else if (TAG("sp")) {
			if (policy(txt + vs, ve - vs, &r->sp) == 0)
				have_sp = 1;
		} else if (TAG("adkim") || TAG("aspf")) {
			int s = ve - vs == 1 && (txt[vs] == 's' || txt[vs] == 'S');

			if (ve - vs != 1 || (!s && txt[vs] != 'r' &&
			    txt[vs] != 'R')) {
				*why = "bad alignment mode";
				return -1;
			}
			if (TAG("adkim"))
				r->strict_dkim = s;
			else
				r->strict_spf = s;
		} else if (TAG("pct")) {
			int v = 0;

			if (ve == vs || ve - vs > 3) {
				*why = "bad pct=";
				return -1;
			}
			for (size_t k = vs; k < ve; k++) {
				if (!isdigit((unsigned char)txt[k])) {
					*why = "bad pct=";
					return -1;
				}
				v = v * 10 + (txt[k] - '0');
			}
			r->pct = v > 100 ? 100 : v;
		}
#undef TAG
		i = e + 1;
	}
	if (first) {
		*why = "not a DMARC record";
		return -1;
	}
	if (!have_p) {
		*why = "no p=";
		return -1;
	}
	if (!have_sp)
		r->sp = r->p;
	return 0;
}
