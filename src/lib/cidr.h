/*
 * cidr.h - IPv4/IPv6 networks and addresses.
 */
#ifndef MOAT_CIDR_H
#define MOAT_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * An IPv4 network is stored as an IPv4-mapped IPv6 network
 * (::ffff:a.b.c.d/96+n): 192.0.2.0/24 has prefix 120. "::/0" contains
 * every address, IPv4 included; "0.0.0.0/0" only the IPv4 ones.
 */
struct cidr {
	uint8_t addr[16];
	int	prefix;		/* 0..128, on the mapped form */
};

/* big enough for cidr_format and cidr_addr_format output */
#define CIDR_STRLEN	64

/*
 * cidr_parse - parse "192.0.2.0/24", "2001:db8::/32" or a bare address
 * (a host route). The prefix length is decimal, 0..32 for IPv4 text and
 * 0..128 for IPv6 text. Host bits set beyond the prefix are an error.
 * Returns 0, or -1 with a static reason in *why ("bad address",
 * "bad prefix length", "prefix length out of range", "host bits set").
 */
int cidr_parse(const char *s, struct cidr *out, const char **why);

/* cidr_addr_from_sa - 16-byte mapped form of a sockaddr; -1 if not inet */
int cidr_addr_from_sa(const struct sockaddr *sa, uint8_t out[16]);

/* cidr_addr_parse - text IPv4/IPv6 address to mapped form; -1 on error */
int cidr_addr_parse(const char *s, uint8_t out[16]);

/* cidr_addr_is_v4 - 1 when addr (mapped form) is an IPv4 address */
int cidr_addr_is_v4(const uint8_t addr[16]);

/* cidr_contains - 1 when addr (mapped form) lies inside net */
int cidr_contains(const struct cidr *net, const uint8_t addr[16]);

/* cidr_mask - the network of prefix bits (0..128, mapped form) of addr */
void cidr_mask(const uint8_t addr[16], int prefix, struct cidr *out);

/*
 * cidr_client_net - the network of prefix_v4 bits (IPv4 text: 0..32)
 * or prefix_v6 bits (0..128) that holds addr (mapped form): the unit
 * in which a client is counted and banned.
 */
void cidr_client_net(const uint8_t addr[16], int prefix_v4, int prefix_v6,
    struct cidr *out);

/* cidr_format - "a.b.c.d/n" or "x::/n" into buf; truncated when short */
char *cidr_format(const struct cidr *net, char *buf, size_t len);

/*
 * cidr_addr_format - address (mapped form) as text, IPv4-mapped ones as
 * a dotted quad; truncated when buf is short
 */
char *cidr_addr_format(const uint8_t addr[16], char *buf, size_t len);

#endif
