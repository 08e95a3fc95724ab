/*
 * fuzz_ldap_filter.c - libFuzzer target for the LDAP filter builder.
 *
 * The input is split at its first NUL: a local part and a domain, as an
 * SMTP client may send them. For any input: the filter built from a
 * template that ldap_filter_check accepts is printable ASCII, keeps the
 * template's parentheses balanced (the client's bytes add none), and
 * holds no '*' but the template's; every escape is a backslash and two
 * hex digits. The URI parser is fed the input too. A violated invariant
 * aborts (a crash for libFuzzer).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lookup/ldap_filter.h"

static const char *tmpl =
    "(|(mail=%s)(proxyAddresses=smtp:%s)(&(uid=%u)(dc=%d)))";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[1024], out[LDAP_FILTER_MAX];
	const char *local, *domain, *why;
	struct ldap_uri u;
	int depth = 0, stars = 0;
	size_t i;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	local = in;
	domain = strlen(in) < size ? in + strlen(in) + 1 : "";
	CHECK(ldap_filter_check(tmpl, &why) == 0);
	if (ldap_filter_build(tmpl, local, domain, out, sizeof(out)) == 0) {
		for (i = 0; out[i] != '\0'; i++) {
			CHECK(out[i] >= 0x20 && out[i] < 0x7f);
			if (out[i] == '(')
				depth++;
			if (out[i] == ')')
				CHECK(--depth >= 0);
			stars += out[i] == '*';
			if (out[i] == '\\')
				CHECK(isxdigit((unsigned char)out[i + 1]) &&
				    isxdigit((unsigned char)out[i + 2]));
		}
		CHECK(depth == 0 && stars == 0);
	}
	(void)ldap_filter_check(in, &why);
	if (ldap_uri_parse(in, &u, &why) == 0)
		CHECK(u.host[0] != '\0' && u.port >= 0 && u.port <= 65535);
	return 0;
}
