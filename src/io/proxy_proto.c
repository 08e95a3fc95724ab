/*
 * proxy_proto.c - parse the PROXY protocol header, v1 (a text line) and
 * v2 (binary), as haproxy's proxy-protocol.txt defines them.
 *
 * Public: proxy_parse, proxy_format (the sender's side, for the relay
 * battery against a proxy_protocol listener and for tests).
 *
 * The caller reads from the socket only what proxy_parse says is header
 * (PROXY_MORE: every byte so far is), so the client's own bytes after
 * the header stay unread for the SMTP session.
 *
 * SECURITY: the input is a peer's bytes, trusted only because the
 * connection came from a proxy_from network; every field is checked.
 * LIMITS: v1 at most PROXY_V1_MAX bytes (CRLF included), printable
 * ASCII only; v2 at most PROXY_V2_LEN_MAX bytes after the fixed part,
 * whose TLVs must tile it exactly (they are skipped, not interpreted).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "proxy_proto.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";

#define V1_FIELDS	6	/* PROXY proto src dst sport dport */

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static enum proxy_result
bad(const char **why, const char *reason)
{
	*why = reason;
	return PROXY_BAD;
}

/* 1 when the first n bytes of buf are the first n of sig */
static int
prefix_of(const uint8_t *buf, size_t n, const void *sig, size_t siglen)
{
	return memcmp(buf, sig, n < siglen ? n : siglen) == 0;
}

static void
set_v4(struct sockaddr_storage *ss, const uint8_t a[4], uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, a, 4);
	sin->sin_port = htons(port);
}

static void
set_v6(struct sockaddr_storage *ss, const uint8_t a[16], uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, a, 16);
	sin6->sin6_port = htons(port);
}

/* a v1 port: 1 to 5 decimal digits, 0..65535 */
static int
v1_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* "PROXY TCP4|TCP6 src dst sport dport" or "PROXY UNKNOWN ..." */
static enum proxy_result
v1_line(const char *line, struct proxy_header *out, const char **why)
{
	char copy[PROXY_V1_MAX + 1], *f[V1_FIELDS], *p;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	size_t n = 0;
	int af;

	strcpy(copy, line);	/* shorter than PROXY_V1_MAX: checked */
	/* fields are separated by exactly one space */
	for (p = copy; n < V1_FIELDS; n++) {
		f[n] = p;
		if ((p = strchr(p, ' ')) == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
		/* anything may follow UNKNOWN; the addresses are not used */
		out->local = 1;
		return PROXY_DONE;
	}
	if (n < 2)
		return bad(why, "v1: no protocol");
	if (strcmp(f[1], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		af = AF_INET6;
	else
		return bad(why, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	if (n < V1_FIELDS || p != NULL)
		return bad(why, "v1: not six fields");
	if (inet_pton(af, f[2], src) != 1 || inet_pton(af, f[3], dst) != 1)
		return bad(why, "v1: bad address");
	if (v1_port(f[4], &sport) == -1 || v1_port(f[5], &dport) == -1)
		return bad(why, "v1: bad port");
	if (af == AF_INET) {
		set_v4(&out->src, src, sport);
		set_v4(&out->dst, dst, dport);
	} else {
		set_v6(&out->src, src, sport);
		set_v6(&out->dst, dst, dport);
	}
	out->local = 0;
	return PROXY_DONE;
}

static enum proxy_result
v1_parse(const uint8_t *buf, size_t len, struct proxy_header *out,
    const char **why)
{
	char line[PROXY_V1_MAX + 1];
	size_t i;

	for (i = 0; i < len && i < PROXY_V1_MAX; i++) {
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return bad(why, "v1: bare LF");
			memcpy(line, buf, i - 1);
			line[i - 1] = '\0';
			out->version = 1;
			out->len = i + 1;
			return v1_line(line, out, why);
		}
		if (buf[i] == '\r') {
			if (i + 1 < len && buf[i + 1] != '\n')
				return bad(why, "v1: bare CR");
		} else if (buf[i] < 0x20 || buf[i] > 0x7e)
			return bad(why, "v1: not printable ASCII");
	}
	if (i >= PROXY_V1_MAX)
		return bad(why, "v1: longer than 107 bytes");
	return PROXY_MORE;
}

/* the TLVs after the addresses: type, 16-bit length, value; skipped */
static int
v2_tlvs_fit(const uint8_t *p, size_t len)
{
	size_t n;

	while (len > 0) {
		if (len < 3)
			return 0;
		n = be16(p + 1);
		if (n > len - 3)
			return 0;
		p += 3 + n;
		len -= 3 + n;
	}
	return 1;
}

static enum proxy_result
v2_parse(const uint8_t *buf, size_t len, struct proxy_header *out,
    const char **why)
{
	const uint8_t *a = buf + PROXY_V2_FIXED;
	size_t alen, need;
	int cmd, fam, proto;

	if (len < PROXY_V2_FIXED)
		return PROXY_MORE;
	if ((buf[12] >> 4) != 2)
		return bad(why, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd > 1)
		return bad(why, "v2: command is not LOCAL or PROXY");
	fam = buf[13] >> 4;
	proto = buf[13] & 0x0f;
	if (fam > 3 || proto > 2)
		return bad(why, "v2: unknown address family or protocol");
	alen = be16(buf + 14);
	if (alen > PROXY_V2_LEN_MAX)
		return bad(why, "v2: header too long");
	if (len < PROXY_V2_FIXED + alen)
		return PROXY_MORE;
	out->version = 2;
	out->len = PROXY_V2_FIXED + alen;
	out->local = 1;
	if (cmd == 0) {
		/* LOCAL: the proxy's own connection (a health check) */
		return PROXY_DONE;
	}
	switch (fam) {
	case 1:		/* AF_INET: 4 + 4 + 2 + 2 */
		need = 12;
		break;
	case 2:		/* AF_INET6: 16 + 16 + 2 + 2 */
		need = 36;
		break;
	case 3:		/* AF_UNIX: 108 + 108 */
		need = 216;
		break;
	default:	/* AF_UNSPEC: no address */
		need = 0;
		break;
	}
	if (alen < need)
		return bad(why, "v2: addresses cut short");
	if (!v2_tlvs_fit(a + need, alen - need))
		return bad(why, "v2: bad TLV");
	if (fam == 1 || fam == 2) {
		if (proto != 1)
			return bad(why, "v2: not a stream connection");
		if (fam == 1) {
			set_v4(&out->src, a, be16(a + 8));
			set_v4(&out->dst, a + 4, be16(a + 10));
		} else {
			set_v6(&out->src, a, be16(a + 32));
			set_v6(&out->dst, a + 16, be16(a + 34));
		}
		out->local = 0;
	}
	/* UNSPEC and UNIX name no IP client: the connection's stand */
	return PROXY_DONE;
}

/* proxy_parse - see proxy_proto.h */
enum proxy_result
proxy_parse(const uint8_t *buf, size_t len, int versions,
    struct proxy_header *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len == 0)
		return PROXY_MORE;
	if (prefix_of(buf, len, v2_sig, sizeof(v2_sig))) {
		if (!(versions & PROXY_V2))
			return bad(why, "v2 header on a v1 listener");
		if (len < sizeof(v2_sig))
			return PROXY_MORE;
		return v2_parse(buf, len, out, why);
	}
	if (prefix_of(buf, len, v1_sig, sizeof(v1_sig) - 1)) {
		if (!(versions & PROXY_V1))
			return bad(why, "v1 header on a v2 listener");
		if (len < sizeof(v1_sig) - 1)
			return PROXY_MORE;
		return v1_parse(buf, len, out, why);
	}
	return bad(why, "not a PROXY protocol header");
}

/* proxy_format - see proxy_proto.h */
size_t
proxy_format(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	const void *sa, *da;
	size_t alen, need;
	uint16_t sp, dp;
	int af = src->sa_family, n;

	if (af != dst->sa_family || (af != AF_INET && af != AF_INET6))
		return 0;
	if (af == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)src;
		const struct sockaddr_in *d4 = (const void *)dst;

		sa = &s4->sin_addr, da = &d4->sin_addr, alen = 4;
		sp = ntohs(s4->sin_port), dp = ntohs(d4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)src;
		const struct sockaddr_in6 *d6 = (const void *)dst;

		sa = &s6->sin6_addr, da = &d6->sin6_addr, alen = 16;
		sp = ntohs(s6->sin6_port), dp = ntohs(d6->sin6_port);
	}
	if (version == PROXY_V1) {
		inet_ntop(af, sa, a, sizeof(a));
		inet_ntop(af, da, b, sizeof(b));
		n = snprintf((char *)buf, len, "PROXY %s %s %s %u %u\r\n",
		    af == AF_INET ? "TCP4" : "TCP6", a, b, sp, dp);
		return n > 0 && (size_t)n < len ? (size_t)n : 0;
	}
	if (version != PROXY_V2)
		return 0;
	need = PROXY_V2_FIXED + 2 * alen + 4;
	if (len < need)
		return 0;
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = 0x21;				/* version 2, PROXY */
	buf[13] = af == AF_INET ? 0x11 : 0x21;	/* TCP over IPv4 / IPv6 */
	buf[14] = 0;
	buf[15] = (uint8_t)(2 * alen + 4);
	memcpy(buf + 16, sa, alen);
	memcpy(buf + 16 + alen, da, alen);
	buf[16 + 2 * alen] = (uint8_t)(sp >> 8);
	buf[17 + 2 * alen] = (uint8_t)sp;
	buf[18 + 2 * alen] = (uint8_t)(dp >> 8);
	buf[19 + 2 * alen] = (uint8_t)dp;
	return need;
}
