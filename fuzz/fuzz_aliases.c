/*
 * fuzz_aliases.c - libFuzzer target for the aliases parser
 * (aliases_parse) and expansion.
 *
 * The input is an aliases file; example.org is local, corp.example
 * routed, the rest outside. Invariants: an error is "name:..." and
 * NULL; for words of the input as local parts in each domain, an
 * expansion is ALIAS_NONE with no targets, FOUND/FALLBACK with 1 to
 * ALIAS_TARGETS_MAX targets (no outside target unless the file says
 * "external", bare targets without '@', no two alike), or ALIAS_ERROR
 * with a reason and no targets, never a loop the load let through.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "lookup/aliases.h"

#define WORDS_MAX	40

static enum alias_domain
cls(void *arg, const char *domain)
{
	if (strcmp(domain, "example.org") == 0)
		return ALIAS_DOM_LOCAL;
	if (strcmp(domain, "corp.example") == 0)
		return ALIAS_DOM_ROUTED;
	return ALIAS_DOM_OUTSIDE;
}

static void
check(const struct aliases *a, const char *local, const char *domain,
    int external)
{
	static const char *role[] = { NULL, "postmaster" };
	struct alias_result r;
	enum alias_status st;
	size_t i, j;

	for (int k = 0; k < 2; k++) {
		memset(&r, 0, sizeof(r));
		st = aliases_expand(a, local, domain, cls, NULL, role[k], &r);
		CHECK(st == r.status);
		switch (st) {
		case ALIAS_NONE:
			CHECK(r.n == 0);
			break;
		case ALIAS_FOUND:
		case ALIAS_FALLBACK:
			CHECK(r.n >= 1 && r.n <= ALIAS_TARGETS_MAX);
			for (i = 0; i < r.n; i++) {
				CHECK(r.t[i].addr[0] != '\0');
				if (r.t[i].kind == ALIAS_T_OUTSIDE)
					CHECK(external);
				for (j = 0; j < i; j++)
					CHECK(strcmp(r.t[i].addr,
					    r.t[j].addr) != 0);
			}
			break;
		case ALIAS_ERROR:
			CHECK(r.n == 0 && r.why[0] != '\0');
			CHECK(strstr(r.why, "loop") == NULL);
			break;
		default:
			CHECK(0);
		}
		alias_result_clear(&r);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *domains[] = { "example.org", "corp.example", "" };
	const char *text = (const char *)data, *p, *end = text + size;
	char err[512], word[80];
	struct aliases *a;
	size_t n, d;
	int words = 0, external;

	err[0] = '\0';
	a = aliases_parse("f", text, size, cls, NULL, err, sizeof(err));
	if (a == NULL) {
		CHECK(strncmp(err, "f:", 2) == 0);
		return 0;
	}
	/* an outside target needs the word, in any case */
	{
		char *copy = strndup(text, size);

		external = copy != NULL && strcasestr(copy, "external") !=
		    NULL;
		free(copy);
	}
	/* runs of letters, digits and . - _ + as local parts */
	for (p = text; p < end && words < WORDS_MAX; ) {
		for (n = 0; p + n < end && n < sizeof(word) - 1 &&
		    (p[n] == '.' || p[n] == '-' || p[n] == '_' ||
		    p[n] == '+' || (p[n] >= 'a' && p[n] <= 'z') ||
		    (p[n] >= 'A' && p[n] <= 'Z') ||
		    (p[n] >= '0' && p[n] <= '9')); n++)
			;
		if (n > 0) {
			memcpy(word, p, n);
			word[n] = '\0';
			for (d = 0; d < 3; d++)
				check(a, word, domains[d], external);
			words++;
			p += n;
		} else
			p++;
	}
	aliases_free(a);
	return 0;
}
