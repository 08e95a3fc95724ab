/*
 * mta_dnsbl_rr.c - what a DNS blacklist answered about an own address,
 * and which own addresses are worth asking about.
 *
 * Public: mta_dnsbl_verdict, mta_dnsbl_txt, mta_dnsbl_addr_global.
 *
 * Pure functions over bytes and strings, unit-tested and fuzzed apart
 * from the event loop (mta_dnsbl.c).
 *
 * SECURITY: the rdata comes from DNS answers (untrusted): A records
 * count only with exactly four bytes, TXT character-strings are read
 * within the rdata length and come out as printable ASCII.
 * LIMITS: the caller's buffers; output is cut, never overrun.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "io/proto.h"
#include "mta/mta_dnsbl.h"
#include "mta/mta_route.h"

/* append s to out (NUL-terminated, size outlen), cut when full */
static void
append(char *out, size_t outlen, const char *s)
{
	size_t o = strlen(out);

	if (o + 1 < outlen)
		snprintf(out + o, outlen - o, "%s", s);
}

/* mta_dnsbl_verdict - listed, refused or clean */
int
mta_dnsbl_verdict(char *const *rdata, const int *len, size_t n, char *out,
    size_t outlen)
{
	char listed[256] = "", refused[256] = "", other[256] = "", a[16];
	const uint8_t *p;
	char *to;

	for (size_t i = 0; i < n; i++) {
		if (len[i] != 4)
			continue;
		p = (const uint8_t *)rdata[i];
		snprintf(a, sizeof(a), "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
		/* 127.255.255.0/24: the list refused to answer (Spamhaus:
		 * a public resolver, or over the free limit) */
		to = p[0] != 127 ? other : p[1] == 255 && p[2] == 255 ?
		    refused : listed;

		if (to[0] != '\0')
			append(to, sizeof(listed), ",");
		append(to, sizeof(listed), a);
	}
	out[0] = '\0';
	if (listed[0] != '\0') {
		snprintf(out, outlen, "%s", listed);
		return PROTO_DNSBL_LISTED;
	}
	if (refused[0] != '\0') {
		snprintf(out, outlen, "query refused by the list (%s)", refused);
		return PROTO_DNSBL_ERROR;
	}
	if (other[0] != '\0') {
		snprintf(out, outlen, "answer outside 127.0.0.0/8 (%s)", other);
		return PROTO_DNSBL_ERROR;
	}
	return PROTO_DNSBL_CLEAN;
}

/* mta_dnsbl_txt - the strings of one TXT record, printable */
void
mta_dnsbl_txt(const uint8_t *rdata, size_t len, char *out, size_t outlen)
{
	size_t o, i = 0;

	if (outlen == 0)
		return;
	o = strnlen(out, outlen - 1);
	out[o] = '\0';
	if (o > 0 && len > 0)
		append(out, outlen, "; ");
	o = strlen(out);
	while (i < len) {
		size_t slen = rdata[i++];

		if (slen > len - i)
			slen = len - i;		/* a short string: what is there */
		for (size_t k = 0; k < slen && o + 1 < outlen; k++) {
			uint8_t c = rdata[i + k];

			out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		i += slen;
	}
	out[o] = '\0';
}

/* mta_dnsbl_addr_global - an address the Internet could know us by */
int
mta_dnsbl_addr_global(const char *addr)
{
	uint8_t b[16];
	int internal;

	if ((internal = mta_addr_is_internal(addr)) == -1)
		return -1;
	if (internal)
		return 0;
	if (inet_pton(AF_INET, addr, b) == 1)
		return !((b[0] == 192 && b[1] == 0 && b[2] == 2) ||
		    (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
		    (b[0] == 203 && b[1] == 0 && b[2] == 113) ||
		    (b[0] == 198 && (b[1] & 0xfe) == 18));	/* 198.18/15 */
	if (inet_pton(AF_INET6, addr, b) != 1)
		return -1;
	return !(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d &&
	    b[3] == 0xb8);					/* 2001:db8::/32 */
}
