/*
 * fuzz_incident_log.c - libFuzzer target for incident_log_match, the
 * filter `moat incident export` runs over moat's log lines (which hold
 * what peers sent: user names, addresses, details).
 *
 * The input is one line; it is matched against a user, a network and
 * an address list. Invariants: the answer is 0 or 1; a line matches for
 * the user only if it contains the user's name; a line with no '='
 * never matches.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/incident_export.h"
#include "lib/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "fuzz_incident_log: invariant failed: %s " \
		    "(line %d)\n", #c, __LINE__); \
		abort(); \
	} \
} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const addrs[] = { "192.0.2.7", "2001:db8::7" };
	struct cidr net;
	const char *why;
	char *line;
	int u, n, a;

	if (size > 16384)
		return 0;
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (cidr_parse("198.51.100.0/24", &net, &why) == -1)
		abort();
	u = incident_log_match(line, "alice", NULL, NULL, 0);
	n = incident_log_match(line, NULL, &net, NULL, 0);
	a = incident_log_match(line, NULL, NULL, addrs, 2);
	CHECK(u == 0 || u == 1);
	CHECK(n == 0 || n == 1);
	CHECK(a == 0 || a == 1);
	if (u)
		CHECK(strstr(line, "alice") != NULL);
	if (strchr(line, '=') == NULL)
		CHECK(u == 0 && n == 0 && a == 0);
	free(line);
	return 0;
}
