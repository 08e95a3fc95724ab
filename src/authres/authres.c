/*
 * authres.c - the Authentication-Results header field (RFC 8601).
 *
 * Public: authres_format, authres_claims_id.
 *
 * SECURITY: authres_claims_id reads a field from the client, within
 * len, nesting of comments bounded; the field it is asked about is
 * removed when it claims our authserv-id (RFC 8601 5: a forged result
 * in our name must not reach the users).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "authres.h"

static int
add(char *out, size_t *len, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
add(char *out, size_t *len, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

long
authres_format(const char *authserv_id, const struct authres_result *r,
    size_t n, char *out, size_t cap)
{
	size_t len = 0;

	if (cap == 0 || add(out, &len, cap, "Authentication-Results: %s;",
	    authserv_id) == -1)
		return -1;
	if (n == 0 && add(out, &len, cap, " none") == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (add(out, &len, cap, "%s\r\n\t%s=%s", i > 0 ? ";" : "",
		    r[i].method, r[i].result) == -1)
			return -1;
		if (r[i].reason != NULL) {
			if (add(out, &len, cap, " reason=\"") == -1)
				return -1;
			for (const char *p = r[i].reason; *p != '\0'; p++)
				if (*p >= 0x20 && *p < 0x7f && add(out, &len,
				    cap, "%s%c", *p == '"' || *p == '\\' ?
				    "\\" : "", *p) == -1)
					return -1;
			if (add(out, &len, cap, "\"") == -1)
				return -1;
		}
		if (r[i].props != NULL && add(out, &len, cap, " %s",
		    r[i].props) == -1)
			return -1;
	}
	if (add(out, &len, cap, "\r\n") == -1)
		return -1;
	return (long)len;
}

int
authres_claims_id(const char *v, size_t len, const char *id)
{
	size_t i = 0, start, idl = strlen(id);
	int depth = 0;

	/* CFWS: whitespace, folding, comments (nested, escapes) */
	while (i < len) {
		char c = v[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			i++;
			continue;
		}
		if (c == '(') {
			if (++depth > 32)
				return 0;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			i++;
		else
			break;
	}
	start = i;
	while (i < len && v[i] != ';' && v[i] != ' ' && v[i] != '\t' &&
	    v[i] != '\r' && v[i] != '\n' && v[i] != '(')
		i++;
	/* a quoted authserv-id: "mx.example" */
	if (i - start >= 2 && v[start] == '"' && v[i - 1] == '"') {
		start++;
		i--;
	}
	return i - start == idl && strncasecmp(v + start, id, idl) == 0;
}
