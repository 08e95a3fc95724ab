/*
 * console_host.c - the Host header check of the web console.
 *
 * Public: console_host_ok.
 *
 * A page on a hostile site can have its name point at 127.0.0.1 (DNS
 * rebinding); the browser then sends it, same-origin, to the console,
 * with the hostile name in Host. So the console answers only a Host that
 * is the listener's address, localhost, or a name of console_hostnames.
 *
 * SECURITY: host is the client's, unescaped, of any length: it is parsed
 * here as uri-host [":" port] (RFC 9110 7.2) and only compared; numeric
 * addresses are compared as the bytes inet_pton makes of them, so
 * 127.000.0.1 or another spelling of the address matches nothing it
 * should not. Nothing of it is stored or logged here.
 * LIMITS: CONSOLE_HOST_MAX bytes of Host; a port of 1 to 5 digits.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "console/console_host.h"

/* 1 when s is 1 to 5 digits */
static int
port_ok(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= 5 && s[n] == '\0';
}

/* 1 when the numeric address text a is b (of family af) */
static int
same_addr(const char *a, int af, const unsigned char *b)
{
	unsigned char bin[16];

	return a != NULL && inet_pton(af, a, bin) == 1 &&
	    memcmp(bin, b, af == AF_INET6 ? 16 : 4) == 0;
}

/* console_host_ok - Host names the console */
int
console_host_ok(const char *host, const char *addr, char *const *names,
    size_t nnames)
{
	char name[CONSOLE_HOST_MAX + 1];
	unsigned char bin[16];
	const char *end;
	size_t len;
	int af = 0;

	if (host == NULL || (len = strlen(host)) == 0 ||
	    len > CONSOLE_HOST_MAX)
		return 0;
	if (host[0] == '[') {
		/* IP-literal: an IPv6 address in brackets */
		if ((end = strchr(host, ']')) == NULL)
			return 0;
		len = (size_t)(end - host - 1);
		memcpy(name, host + 1, len);
		name[len] = '\0';
		end++;
		if (inet_pton(AF_INET6, name, bin) != 1)
			return 0;
		af = AF_INET6;
	} else {
		len = strcspn(host, ":");
		memcpy(name, host, len);
		name[len] = '\0';
		end = host + len;
		if (len == 0)
			return 0;
		if (inet_pton(AF_INET, name, bin) == 1)
			af = AF_INET;
	}
	if (*end != '\0' && (*end != ':' || !port_ok(end + 1)))
		return 0;
	if (af != 0) {
		if (same_addr(addr, af, bin))
			return 1;
		for (size_t i = 0; i < nnames; i++)
			if (same_addr(names[i], af, bin))
				return 1;
		return 0;
	}
	if (strcasecmp(name, "localhost") == 0)
		return 1;
	for (size_t i = 0; i < nnames; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}
