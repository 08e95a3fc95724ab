/*
 * proxy_proto.h - the PROXY protocol header (haproxy's proxy-protocol.txt,
 * versions 1 and 2) a load balancer sends before the client's bytes.
 */
#ifndef MOAT_PROXY_PROTO_H
#define MOAT_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* which versions a listener takes (proxy_protocol = v1 | v2 | any) */
#define PROXY_V1	0x01
#define PROXY_V2	0x02

#define PROXY_V1_MAX	107	/* the spec's longest v1 line, CRLF included */
#define PROXY_V2_FIXED	16	/* signature, version/command, family, length */
#define PROXY_V2_LEN_MAX 1024	/* addresses and TLVs we read at most */
#define PROXY_HEADER_MAX (PROXY_V2_FIXED + PROXY_V2_LEN_MAX)

enum proxy_result {
	PROXY_DONE,	/* a whole header: see struct proxy_header */
	PROXY_MORE,	/* every byte so far belongs to a header: read on */
	PROXY_BAD,	/* not a header this listener takes; why says how */
};

struct proxy_header {
	int	version;		/* 1 or 2 */
	/*
	 * 1: the proxy names no client (v1 UNKNOWN, v2 LOCAL: a health
	 * check, v2 UNSPEC or UNIX): the connection's own addresses stand
	 * for it. 0: src and dst are AF_INET or AF_INET6.
	 */
	int	local;
	struct sockaddr_storage src;	/* the client, as the proxy saw it */
	struct sockaddr_storage dst;	/* the address it connected to */
	size_t	len;			/* bytes of the header */
};

/*
 * proxy_parse - the header at the start of buf (len bytes read so far),
 * of a version in versions (PROXY_V1 | PROXY_V2). PROXY_DONE fills out,
 * out->len bytes are the header and what follows is the client's.
 * PROXY_MORE: all len bytes are header bytes (so they may be consumed)
 * and it is not complete. PROXY_BAD: *why is a static reason. Pure: no
 * I/O, no allocation; at most PROXY_HEADER_MAX bytes are ever looked at.
 */
enum proxy_result proxy_parse(const uint8_t *buf, size_t len, int versions,
    struct proxy_header *out, const char **why);

/*
 * proxy_format - the header of version (PROXY_V1 or PROXY_V2) that says
 * src connected to dst (both AF_INET or both AF_INET6) into buf; its
 * length, or 0 when buf is short or the addresses will not do
 */
size_t proxy_format(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *buf, size_t len);

#endif
