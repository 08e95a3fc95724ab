/*
 * dkim_tag.c - DKIM tag lists: the DKIM-Signature header and the key
 * record, parsed and checked (RFC 6376 3.2, 3.5, 3.6.1; RFC 8463).
 *
 * Public: dkim_tags_parse, dkim_tags_get, dkim_tags_free,
 * dkim_b64_decode, dkim_sig_parse, dkim_keyrec_parse.
 *
 * SECURITY: both inputs come from outside (a message's header, a DNS
 * answer): every length is checked against its buffer, a tag appears
 * once (a duplicate is an error, 3.2), a tag name is ALPHA *(ALNUM /
 * "_"), a value is printable ASCII other than ';' with FWS inside.
 * LIMITS: DKIM_TAGS_MAX tags, DKIM_HDRS_MAX names in h=, DKIM_B64_MAX
 * decoded bytes in b= and p=.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_tag.h"

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
dkim_tags_free(struct dkim_tags *t)
{
	free(t->copy);
	t->copy = NULL;
	t->n = 0;
}

int
dkim_tags_parse(struct dkim_tags *t, const char *text, size_t len,
    const char **why)
{
	char *p, *end;

	memset(t, 0, sizeof(*t));
	if ((t->copy = malloc(len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	memcpy(t->copy, text, len);
	t->copy[len] = '\0';
	if (memchr(text, '\0', len) != NULL) {
		*why = "NUL in tag list";
		goto bad;
	}
	p = t->copy;
	end = t->copy + len;
	while (p < end) {
		char *name, *val, *stop, *semi;
		size_t nlen;

		while (p < end && is_fws(*p))
			p++;
		if (p == end)
			break;		/* a trailing ';' */
		name = p;
		if (!isalpha((unsigned char)*p)) {
			*why = "bad tag name";
			goto bad;
		}
		while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		nlen = (size_t)(p - name);
		while (p < end && is_fws(*p))
			p++;
		if (p == end || *p != '=') {
			*why = "tag without '='";
			goto bad;
		}
		if (nlen >= sizeof(t->tag[0].name)) {
			*why = "tag name too long";
			goto bad;
		}
		p++;
		if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
			semi = end;
		while (p < semi && is_fws(*p))
			p++;
		val = p;
		stop = semi;
		while (stop > val && is_fws(stop[-1]))
			stop--;
		for (char *q = val; q < stop; q++)
			if (!is_fws(*q) && (*q < 0x21 || *q > 0x7e)) {
				*why = "bad character in tag value";
				goto bad;
			}
		if (t->n == DKIM_TAGS_MAX) {
			*why = "too many tags";
			goto bad;
		}
		memcpy(t->tag[t->n].name, name, nlen);
		t->tag[t->n].name[nlen] = '\0';
		*stop = '\0';
		t->tag[t->n].val = val;
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->tag[i].name, t->tag[t->n].name) == 0) {
				*why = "duplicate tag";
				goto bad;
			}
		t->n++;
		p = semi < end ? semi + 1 : end;
	}
	return 0;
bad:
	dkim_tags_free(t);
	return -1;
}

const char *
dkim_tags_get(const struct dkim_tags *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->tag[i].name, name) == 0)
			return t->tag[i].val;
	return NULL;
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
dkim_b64_decode(const char *s, uint8_t *out, size_t outcap)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0, pad = 0;

	for (; *s != '\0'; s++) {
		int v;

		if (is_fws(*s))
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_val(*s)) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == outcap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2)
		return -1;
	return (long)o;
}

/* a decimal tag value (t=, x=, l=): -1 when it is none */
static int64_t
tag_num(const char *v)
{
	int64_t n = 0;

	if (*v == '\0' || strlen(v) > 12)
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		n = n * 10 + (*v - '0');
	}
	return n;
}

static int
copy_tag(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* h=: colon-separated names with FWS around them */
static int
sig_hdrs(struct dkim_sig *sig, const char *v)
{
	int from = 0;

	sig->n_hdrs = 0;
	while (*v != '\0') {
		size_t n = 0;
		char *d;

		while (is_fws(*v))
			v++;
		if (sig->n_hdrs == DKIM_HDRS_MAX)
			return -1;
		d = sig->hdrs[sig->n_hdrs];
		while (*v != '\0' && *v != ':' && !is_fws(*v)) {
			if (n + 1 >= sizeof(sig->hdrs[0]) || *v < 0x21 ||
			    *v > 0x7e)
				return -1;
			d[n++] = (char)tolower((unsigned char)*v++);
		}
		d[n] = '\0';
		while (is_fws(*v))
			v++;
		if (n == 0 || (*v != ':' && *v != '\0'))
			return -1;
		if (strcmp(d, "from") == 0)
			from = 1;
		sig->n_hdrs++;
		if (*v == ':')
			v++;
	}
	return from ? 0 : -1;
}

/* the domain part of i= is d= or a subdomain of it */
static int
auid_in_domain(const char *auid, const char *domain)
{
	const char *at = strrchr(auid, '@');
	size_t al, dl = strlen(domain);

	if (at == NULL)
		return 0;
	at++;
	al = strlen(at);
	if (al == dl)
		return strcasecmp(at, domain) == 0;
	return al > dl && at[al - dl - 1] == '.' &&
	    strcasecmp(at + al - dl, domain) == 0;
}

int
dkim_sig_parse(struct dkim_sig *sig, const char *val, size_t len,
    const char **why)
{
	struct dkim_tags t;
	const char *v;
	long n;
	int rc = -1;

	memset(sig, 0, sizeof(*sig));
	sig->length = -1;
	if (dkim_tags_parse(&t, val, len, why) == -1)
		return -1;
	if ((v = dkim_tags_get(&t, "v")) == NULL || strcmp(v, "1") != 0) {
		*why = "v= is not 1";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "a")) == NULL) {
		*why = "no a=";
		goto out;
	}
	if (strcasecmp(v, "rsa-sha256") == 0)
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (strcasecmp(v, "ed25519-sha256") == 0)
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else {
		*why = "unsupported algorithm";
		goto out;
	}
	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	if ((v = dkim_tags_get(&t, "c")) != NULL &&
	    dkim_canon_parse(v, &sig->hcanon, &sig->bcanon) == -1) {
		*why = "bad c=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "d")) == NULL ||
	    copy_tag(sig->domain, sizeof(sig->domain), v) == -1) {
		*why = "bad or no d=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "s")) == NULL ||
	    copy_tag(sig->selector, sizeof(sig->selector), v) == -1) {
		*why = "bad or no s=";
		goto out;
	}
	for (const char *q = sig->domain; *q != '\0'; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.') {
			*why = "bad d=";
			goto out;
		}
	for (const char *q = sig->selector; *q != '\0'; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' &&
		    *q != '_') {
			*why = "bad s=";
			goto out;
		}
	if ((v = dkim_tags_get(&t, "h")) == NULL || sig_hdrs(sig, v) == -1) {
		*why = "bad or no h= (h= must list from)";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "bh")) == NULL ||
	    dkim_b64_decode(v, sig->bh, sizeof(sig->bh)) != DKIM_HASH_LEN) {
		*why = "bad or no bh=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "b")) == NULL ||
	    (n = dkim_b64_decode(v, sig->b, sizeof(sig->b))) <= 0) {
		*why = "bad or no b=";
		goto out;
	}
	sig->blen = (size_t)n;
	if ((v = dkim_tags_get(&t, "i")) != NULL) {
		if (copy_tag(sig->auid, sizeof(sig->auid), v) == -1 ||
		    !auid_in_domain(sig->auid, sig->domain)) {
			*why = "i= not within d=";
			goto out;
		}
	} else
		snprintf(sig->auid, sizeof(sig->auid), "@%s", sig->domain);
	if ((v = dkim_tags_get(&t, "l")) != NULL &&
	    (sig->length = tag_num(v)) < 0) {
		*why = "bad l=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "t")) != NULL && (sig->t = tag_num(v)) < 0) {
		*why = "bad t=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "x")) != NULL &&
	    ((sig->x = tag_num(v)) < 0 || (sig->t > 0 && sig->x < sig->t))) {
		*why = "bad x=";
		goto out;
	}
	if ((v = dkim_tags_get(&t, "q")) != NULL &&
	    strncasecmp(v, "dns/txt", 7) != 0) {
		*why = "q= other than dns/txt";
		goto out;
	}
	rc = 0;
out:
	dkim_tags_free(&t);
	return rc;
}

/* a colon-separated list of v contains word */
static int
list_has(const char *v, const char *word)
{
	size_t wl = strlen(word);

	while (*v != '\0') {
		const char *e;
		size_t n;

		while (is_fws(*v) || *v == ':')
			v++;
		e = v;
		while (*e != '\0' && *e != ':' && !is_fws(*e))
			e++;
		n = (size_t)(e - v);
		if (n == wl && strncasecmp(v, word, n) == 0)
			return 1;
		v = e;
	}
	return 0;
}

int
dkim_keyrec_parse(struct dkim_keyrec *k, const char *txt, size_t len,
    const char **why)
{
	struct dkim_tags t;
	const char *v;
	long n;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (dkim_tags_parse(&t, txt, len, why) == -1)
		return -1;
	if ((v = dkim_tags_get(&t, "v")) != NULL && strcmp(v, "DKIM1") != 0) {
		*why = "v= is not DKIM1";
		goto out;
	}
	k->alg = DKIM_ALG_RSA_SHA256;
	if ((v = dkim_tags_get(&t, "k")) != NULL) {
		if (strcasecmp(v, "ed25519") == 0)
			k->alg = DKIM_ALG_ED25519_SHA256;
		else if (strcasecmp(v, "rsa") != 0) {
			*why = "unsupported key type";
			goto out;
		}
	}
	k->sha256_ok = (v = dkim_tags_get(&t, "h")) == NULL ||
	    list_has(v, "sha256");
	if ((v = dkim_tags_get(&t, "t")) != NULL) {
		k->testing = list_has(v, "y");
		k->strict = list_has(v, "s");
	}
	if ((v = dkim_tags_get(&t, "p")) == NULL) {
		*why = "no p=";
		goto out;
	}
	if ((n = dkim_b64_decode(v, k->p, sizeof(k->p))) < 0) {
		*why = "bad p=";
		goto out;
	}
	k->plen = (size_t)n;
	rc = 0;
out:
	dkim_tags_free(&t);
	return rc;
}
