/*
 * fuzz_rcpt_table.c - libFuzzer target for the recipient table parser
 * (rcpt_table_parse) and its lookups.
 *
 * The first byte picks the flags, the rest is the file. Invariants: an
 * error is "name:line: ..." or "name: ..." and NULL; a table never holds
 * more entries than lines; every word of every line that loaded is
 * found again under its own local part and domain (any case); each
 * catch-all answers for a fresh local part of its domain.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lookup/rcpt_table.h"
#include "mail/addr.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcpt_table *t;
	const char *text, *e, *dom;
	char err[512], local[ADDR_LOCAL_MAX + 2];
	size_t len, lines = 1, i, ll;
	unsigned line;
	int flags;

	if (size == 0)
		return 0;
	flags = data[0] & RT_BARE;
	text = (const char *)data + 1;
	len = size - 1;
	err[0] = '\0';
	t = rcpt_table_parse("f", text, len, flags, err, sizeof(err));
	if (t == NULL) {
		CHECK(strncmp(err, "f:", 2) == 0);
		return 0;
	}
	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	CHECK(rcpt_table_count(t) <= lines);
	for (i = 0; (e = rcpt_table_catchall(t, i, &line)) != NULL; i++) {
		CHECK(e[0] == '@' && line >= 1 && line <= lines);
		CHECK(rcpt_table_find(t, "zz-fresh", e + 1) == e);
	}
	/* each plain line looks itself up */
	{
		const char *p = text, *nl;

		if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3;	/* the byte-order mark the parser skips */

		while (p < text + len) {
			nl = memchr(p, '\n', (size_t)(text + len - p));
			ll = nl != NULL ? (size_t)(nl - p) : (size_t)(text +
			    len - p);
			/* a plain "local@domain" line, no blanks, no quotes */
			dom = memchr(p, '@', ll);
			if (dom != NULL && dom > p && (size_t)(dom - p) <
			    sizeof(local) - 1 && memchr(p, '"', ll) == NULL &&
			    memchr(p, ' ', ll) == NULL &&
			    memchr(p, '\t', ll) == NULL &&
			    memchr(p, '\r', ll) == NULL &&
			    memchr(p, '#', ll) == NULL &&
			    memchr(dom + 1, '@', ll - (size_t)(dom - p) - 1) ==
			    NULL) {
				char d[ADDR_DOMAIN_MAX + 1];
				size_t dl = ll - (size_t)(dom - p) - 1;

				if (dl < sizeof(d)) {
					memcpy(local, p, (size_t)(dom - p));
					local[dom - p] = '\0';
					memcpy(d, dom + 1, dl);
					d[dl] = '\0';
					CHECK(rcpt_table_find(t, local, d) !=
					    NULL);
				}
			}
			p += ll + 1;
		}
	}
	rcpt_table_free(t);
	return 0;
}
