/*
 * cidr.c - IPv4/IPv6 networks and addresses in one 16-byte form.
 *
 * Public: cidr_parse, cidr_addr_from_sa, cidr_addr_parse, cidr_contains,
 * cidr_mask, cidr_client_net, cidr_format, cidr_addr_format,
 * cidr_addr_is_v4.
 *
 * Every address is kept as 16 bytes; IPv4 a.b.c.d becomes the
 * IPv4-mapped IPv6 address ::ffff:a.b.c.d, so an IPv4 /n is a /(96+n)
 * on the mapped form and one comparison covers both families. Note that
 * "::/0" therefore also contains every IPv4 client, while "0.0.0.0/0"
 * (mapped /96) contains only IPv4 clients.
 *
 * SECURITY: input comes from the configuration and from the kernel
 * (peer sockaddrs), never from an SMTP peer. Text is handed to
 * inet_pton only after a length check; prefixes are decimal only.
 * LIMITS: none beyond the address sizes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int
is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, v4mapped, sizeof(v4mapped)) == 0;
}

/* parse one address of bounded length; *is_v4 says which text form it had */
static int
addr_parse_n(const char *s, size_t n, uint8_t out[16], int *is_v4)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in_addr a4;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (strchr(tmp, ':') != NULL) {
		if (inet_pton(AF_INET6, tmp, out) != 1)
			return -1;
		*is_v4 = 0;
		return 0;
	}
	if (inet_pton(AF_INET, tmp, &a4) != 1)
		return -1;
	memcpy(out, v4mapped, sizeof(v4mapped));
	memcpy(out + 12, &a4, 4);
	*is_v4 = 1;
	return 0;
}

/* 1 when any bit at or after position prefix is set */
static int
host_bits_set(const uint8_t a[16], int prefix)
{
	int i = prefix / 8;

	if (prefix % 8 != 0) {
		if (a[i] & (0xff >> (prefix % 8)))
			return 1;
		i++;
	}
	for (; i < 16; i++)
		if (a[i] != 0)
			return 1;
	return 0;
}

/* cidr_parse - "192.0.2.0/24", "2001:db8::/32" or a bare host address */
int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
	const char *slash, *p;
	const char *dummy;
	int is_v4, n, max;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	memset(out, 0, sizeof(*out));
	if (s == NULL || *s == '\0') {
		*why = "bad address";
		return -1;
	}
	slash = strchr(s, '/');
	if (addr_parse_n(s, slash ? (size_t)(slash - s) : strlen(s),
	    out->addr, &is_v4) == -1) {
		*why = "bad address";
		return -1;
	}
	max = is_v4 ? 32 : 128;
	if (slash == NULL) {
		n = max;
	} else {
		/* decimal digits only: no sign, no spaces, at most 3 digits */
		p = slash + 1;
		if (*p == '\0' || strlen(p) > 3 ||
		    strspn(p, "0123456789") != strlen(p)) {
			*why = "bad prefix length";
			return -1;
		}
		n = 0;
		for (; *p != '\0'; p++)
			n = n * 10 + (*p - '0');
		if (n > max) {
			*why = "prefix length out of range";
			return -1;
		}
	}
	out->prefix = is_v4 ? 96 + n : n;
	if (host_bits_set(out->addr, out->prefix)) {
		*why = "host bits set";
		return -1;
	}
	return 0;
}

/* cidr_addr_from_sa - 16-byte mapped form of an AF_INET/AF_INET6 sockaddr */
int
cidr_addr_from_sa(const struct sockaddr *sa, uint8_t out[16])
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (sa == NULL)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, v4mapped, sizeof(v4mapped));
		memcpy(out + 12, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(out, &sin6->sin6_addr, 16);
		return 0;
	default:
		return -1;
	}
}

/* cidr_addr_parse - text IPv4/IPv6 address to the mapped form */
int
cidr_addr_parse(const char *s, uint8_t out[16])
{
	int is_v4;

	if (s == NULL)
		return -1;
	return addr_parse_n(s, strlen(s), out, &is_v4);
}

/* cidr_contains - 1 when addr (mapped form) lies inside net */
int
cidr_contains(const struct cidr *net, const uint8_t addr[16])
{
	int full, rest;

	if (net->prefix < 0 || net->prefix > 128)
		return 0;
	full = net->prefix / 8;
	rest = net->prefix % 8;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	if (rest != 0) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));

		if ((net->addr[full] & mask) != (addr[full] & mask))
			return 0;
	}
	return 1;
}

/* cidr_mask - the network of prefix bits (mapped form) holding addr */
void
cidr_mask(const uint8_t addr[16], int prefix, struct cidr *out)
{
	int p = prefix < 0 ? 0 : prefix > 128 ? 128 : prefix;

	memset(out->addr, 0, sizeof(out->addr));
	memcpy(out->addr, addr, (size_t)p / 8);
	if (p % 8 != 0)
		out->addr[p / 8] = addr[p / 8] & (uint8_t)(0xff << (8 - p % 8));
	out->prefix = p;
}

/* cidr_client_net - the network a client is counted and banned in */
void
cidr_client_net(const uint8_t addr[16], int prefix_v4, int prefix_v6,
    struct cidr *out)
{
	cidr_mask(addr, is_v4mapped(addr) ? 96 + prefix_v4 : prefix_v6, out);
}

/* cidr_format - "a.b.c.d/n" or "x::/n" into buf (truncated if short) */
char *
cidr_format(const struct cidr *net, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n = net->prefix;

	if (len == 0)
		return buf;
	cidr_addr_format(net->addr, a, sizeof(a));
	/* an IPv4 network only when the prefix covers the whole mapping */
	if (is_v4mapped(net->addr) && n >= 96)
		n -= 96;
	else if (inet_ntop(AF_INET6, net->addr, a, sizeof(a)) == NULL)
		a[0] = '\0';
	snprintf(buf, len, "%s/%d", a, n);
	return buf;
}

/* cidr_addr_format - address as text, IPv4-mapped ones as a dotted quad */
char *
cidr_addr_format(const uint8_t addr[16], char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	const char *r;

	if (len == 0)
		return buf;
	if (is_v4mapped(addr))
		r = inet_ntop(AF_INET, addr + 12, a, sizeof(a));
	else
		r = inet_ntop(AF_INET6, addr, a, sizeof(a));
	snprintf(buf, len, "%s", r != NULL ? a : "");
	return buf;
}

/* cidr_addr_is_v4 - an IPv4-mapped address (::ffff:a.b.c.d) */
int
cidr_addr_is_v4(const uint8_t addr[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	return memcmp(addr, prefix, sizeof(prefix)) == 0;
}
