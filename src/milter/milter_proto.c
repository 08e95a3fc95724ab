/*
 * milter_proto.c - the milter protocol's packets: framing, encoders
 * for the commands the MTA sends, the decoder of a filter's replies,
 * and the checks on what a filter wants written (reply texts, header
 * fields).
 *
 * Public: milter_frame, milter_reply_parse, milter_symlist_next,
 * milter_put_optneg, milter_put_cmd, milter_put_connect,
 * milter_put_macros, milter_put_body, milter_reply_text,
 * milter_header_name_ok, milter_header_put, milter_header_next,
 * milter_socket_parse.
 *
 * The protocol has no RFC; the facts come from Sendmail's libmilter
 * (mfdef.h, the packet and flag values) and Postfix's milter8 (the
 * MTA's semantics: indexes, SETSYMLIST, HDR_LEADSPC).
 *
 * SECURITY: a filter's replies come from another program over a socket
 * and are parsed as untrusted: a packet's length is bounded
 * (MILTER_PACKET_MAX) before anything is read, each field must lie
 * inside the packet, strings must end with their NUL, and bytes left
 * over make the packet malformed. What a filter asks us to send or
 * store (a reply text, a header) is checked and encoded here, where it
 * is written: no CR or LF reaches an SMTP reply, no bare CR, LF or NUL
 * a header.
 * LIMITS: MILTER_PACKET_MAX a packet, 998 bytes a header line.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <event2/buffer.h>

#include "milter_proto.h"

#define HEADER_LINE_MAX	998

enum milter_frame_res
milter_frame(const uint8_t *p, size_t len, size_t *plen)
{
	uint32_t n;

	if (len < 4)
		return MILTER_FRAME_MORE;
	memcpy(&n, p, 4);
	n = ntohl(n);
	if (n == 0 || n > MILTER_PACKET_MAX)
		return MILTER_FRAME_BAD;
	if (len - 4 < n)
		return MILTER_FRAME_MORE;
	*plen = (size_t)n + 4;
	return MILTER_FRAME_OK;
}

/* a reader over one packet's data */
struct rd {
	const uint8_t	*p;
	size_t		 len, off;
};

static int
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return -1;
	memcpy(v, r->p + r->off, 4);
	*v = ntohl(*v);
	r->off += 4;
	return 0;
}

static int
rd_str(struct rd *r, struct milter_str *s)
{
	const uint8_t *nul;

	if (r->off >= r->len)
		return -1;
	nul = memchr(r->p + r->off, '\0', r->len - r->off);
	if (nul == NULL)
		return -1;
	s->p = (const char *)r->p + r->off;
	s->len = (size_t)(nul - (r->p + r->off));
	r->off += s->len + 1;
	return 0;
}

int
milter_reply_parse(const uint8_t *p, size_t len, struct milter_reply *r,
    const char **why)
{
	struct rd rd;
	size_t plen;

	memset(r, 0, sizeof(*r));
	if (milter_frame(p, len, &plen) != MILTER_FRAME_OK || plen != len) {
		*why = "bad packet length";
		return -1;
	}
	r->cmd = p[4];
	rd.p = p + 5;
	rd.len = len - 5;
	rd.off = 0;
	*why = "malformed reply";
	switch (r->cmd) {
	case SMFIR_ACCEPT:
	case SMFIR_CONTINUE:
	case SMFIR_DISCARD:
	case SMFIR_PROGRESS:
	case SMFIR_REJECT:
	case SMFIR_SKIP:
	case SMFIR_TEMPFAIL:
		break;
	case SMFIR_REPLYCODE:
	case SMFIR_QUARANTINE:
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
		if (rd_str(&rd, &r->s1) == -1)
			return -1;
		break;
	case SMFIR_CHGFROM:
	case SMFIR_ADDRCPT_PAR:
		if (rd_str(&rd, &r->s1) == -1)
			return -1;
		if (rd.off < rd.len) {
			if (rd_str(&rd, &r->s2) == -1)
				return -1;
			r->has_s2 = 1;
		}
		break;
	case SMFIR_ADDHEADER:
		if (rd_str(&rd, &r->s1) == -1 || rd_str(&rd, &r->s2) == -1)
			return -1;
		break;
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (rd_u32(&rd, &r->index) == -1 || rd_str(&rd, &r->s1) == -1 ||
		    rd_str(&rd, &r->s2) == -1)
			return -1;
		break;
	case SMFIR_REPLBODY:
		r->body = rd.p;
		r->body_len = rd.len;
		rd.off = rd.len;
		break;
	case SMFIR_OPTNEG:
		if (rd_u32(&rd, &r->version) == -1 ||
		    rd_u32(&rd, &r->actions) == -1 ||
		    rd_u32(&rd, &r->protocol) == -1)
			return -1;
		r->symlists = rd.p + rd.off;
		r->symlists_len = rd.len - rd.off;
		rd.off = rd.len;
		{
			size_t off = 0;
			uint32_t st;
			struct milter_str names;
			int n;

			while ((n = milter_symlist_next(r, &off, &st,
			    &names)) == 1)
				;
			if (n == -1) {
				*why = "malformed macro lists";
				return -1;
			}
		}
		break;
	default:
		*why = "unknown reply";
		return -1;
	}
	if (rd.off != rd.len) {
		*why = "bytes left over in reply";
		return -1;
	}
	return 0;
}

int
milter_symlist_next(const struct milter_reply *r, size_t *off,
    uint32_t *stage, struct milter_str *names)
{
	struct rd rd = { r->symlists, r->symlists_len, *off };

	if (rd.off >= rd.len)
		return 0;
	if (rd_u32(&rd, stage) == -1 || rd_str(&rd, names) == -1)
		return -1;
	*off = rd.off;
	return 1;
}

static void
put_head(struct evbuffer *out, int cmd, size_t datalen)
{
	uint32_t n = htonl((uint32_t)(datalen + 1));
	uint8_t c = (uint8_t)cmd;

	evbuffer_add(out, &n, 4);
	evbuffer_add(out, &c, 1);
}

static void
put_u32(struct evbuffer *out, uint32_t v)
{
	v = htonl(v);
	evbuffer_add(out, &v, 4);
}

void
milter_put_optneg(struct evbuffer *out, uint32_t actions, uint32_t protocol)
{
	put_head(out, SMFIC_OPTNEG, 12);
	put_u32(out, MILTER_VERSION);
	put_u32(out, actions);
	put_u32(out, protocol);
}

void
milter_put_cmd(struct evbuffer *out, int cmd, const char *const *strs,
    size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += strlen(strs[i]) + 1;
	put_head(out, cmd, len);
	for (size_t i = 0; i < n; i++)
		evbuffer_add(out, strs[i], strlen(strs[i]) + 1);
}

void
milter_put_connect(struct evbuffer *out, const char *host, int family,
    uint16_t port, const char *addr)
{
	uint8_t f = (uint8_t)family;
	uint16_t np = htons(port);

	if (family == 'U') {
		put_head(out, SMFIC_CONNECT, strlen(host) + 2);
		evbuffer_add(out, host, strlen(host) + 1);
		evbuffer_add(out, &f, 1);
		return;
	}
	put_head(out, SMFIC_CONNECT, strlen(host) + 1 + 1 + 2 +
	    strlen(addr) + 1);
	evbuffer_add(out, host, strlen(host) + 1);
	evbuffer_add(out, &f, 1);
	evbuffer_add(out, &np, 2);
	evbuffer_add(out, addr, strlen(addr) + 1);
}

void
milter_put_macros(struct evbuffer *out, int cmd, const char *const *names,
    const char *const *values, size_t n)
{
	size_t len = 1;
	uint8_t c = (uint8_t)cmd;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1 + strlen(values[i]) + 1;
	put_head(out, SMFIC_MACRO, len);
	evbuffer_add(out, &c, 1);
	for (size_t i = 0; i < n; i++) {
		evbuffer_add(out, names[i], strlen(names[i]) + 1);
		evbuffer_add(out, values[i], strlen(values[i]) + 1);
	}
}

void
milter_put_body(struct evbuffer *out, const void *p, size_t len)
{
	put_head(out, SMFIC_BODY, len);
	evbuffer_add(out, p, len);
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int
milter_reply_text(const char *text, size_t len, char *out, size_t outlen,
    const char **why)
{
	size_t i = 0, o = 0;
	int code = -1;

	if (outlen < 8) {
		*why = "no room";
		return -1;
	}
	for (;;) {
		/* one line: CODE, '-' or ' ' (or the end), text */
		if (len - i < 3 || !is_digit(text[i]) || !is_digit(text[i + 1]) ||
		    !is_digit(text[i + 2]) || (text[i] != '4' && text[i] != '5')) {
			*why = "reply code is not 4xx or 5xx";
			return -1;
		}
		if (code == -1)
			code = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 +
			    (text[i + 2] - '0');
		else if (memcmp(text + i, out, 3) != 0) {
			*why = "lines with different reply codes";
			return -1;
		}
		if (i + 3 < len && text[i + 3] != ' ' && text[i + 3] != '-' &&
		    text[i + 3] != '\r') {
			*why = "no space after the reply code";
			return -1;
		}
		if (o + 4 >= outlen) {
			*why = "reply too long";
			return -1;
		}
		memcpy(out + o, text + i, 3);
		out[o + 3] = '-';
		o += 4;
		i += 3;
		if (i < len && (text[i] == ' ' || text[i] == '-'))
			i++;
		for (; i < len && text[i] != '\r' && text[i] != '\n'; i++) {
			unsigned char c = (unsigned char)text[i];

			if (o + 2 >= outlen) {
				*why = "reply too long";
				return -1;
			}
			out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
		}
		if (i >= len)
			break;
		/* CRLF (or a lone LF) between lines; text after it */
		if (text[i] == '\r')
			i++;
		if (i < len && text[i] == '\n')
			i++;
		if (i >= len)
			break;
		out[o++] = '\n';
	}
	/* the last line ends the reply: "CODE " */
	{
		size_t last = o;

		while (last > 0 && out[last - 1] != '\n')
			last--;
		out[last + 3] = ' ';
	}
	/* a line that is only the code gets no trailing space */
	out[o] = '\0';
	return code;
}

int
milter_header_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > 200)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == ':')
			return 0;
	}
	return 1;
}

int
milter_header_put(struct evbuffer *out, const char *name, size_t nlen,
    const char *value, size_t vlen, int leadspc)
{
	size_t col, i;
	int bol = 0;	/* at the start of a continuation line */

	if (evbuffer_add(out, name, nlen) == -1 ||
	    evbuffer_add(out, ":", 1) == -1)
		return -1;
	col = nlen + 1;
	if (!leadspc) {
		if (evbuffer_add(out, " ", 1) == -1)
			return -1;
		col++;
	}
	for (i = 0; i < vlen; i++) {
		char c = value[i];

		if (c == '\0' || (c == '\r' && (i + 1 >= vlen ||
		    value[i + 1] != '\n')))
			continue;
		if (c == '\r')
			continue;	/* its LF follows */
		if (c == '\n') {
			if (evbuffer_add(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
			bol = 1;
			continue;
		}
		if (bol && c != ' ' && c != '\t') {
			if (evbuffer_add(out, "\t", 1) == -1)
				return -1;
			col++;
		}
		bol = 0;
		if (col >= HEADER_LINE_MAX) {
			/* fold rather than cut when we can: at least keep
			 * every line within RFC 5322's limit */
			if (evbuffer_add(out, "\r\n\t", 3) == -1)
				return -1;
			col = 1;
		}
		if (evbuffer_add(out, &c, 1) == -1)
			return -1;
		col++;
	}
	if (bol && evbuffer_add(out, "\t", 1) == -1)
		return -1;
	return evbuffer_add(out, "\r\n", 2);
}

int
milter_header_next(const char *p, size_t len, size_t *off,
    struct milter_str *name, char *val, size_t vmax, size_t *vlen,
    int leadspc, size_t *raw_start, size_t *raw_len)
{
	size_t i = *off, colon, end, o = 0;

	if (i >= len || (len - i >= 2 && p[i] == '\r' && p[i + 1] == '\n'))
		return 0;
	/* the field's end: a CRLF not followed by a space or tab */
	for (end = i; ; end++) {
		if (end + 1 >= len) {
			end = len;
			break;
		}
		if (p[end] == '\r' && p[end + 1] == '\n' && (end + 2 >= len ||
		    (p[end + 2] != ' ' && p[end + 2] != '\t'))) {
			end += 2;
			break;
		}
	}
	for (colon = i; colon < end && p[colon] != ':'; colon++)
		;
	if (colon == end || !milter_header_name_ok(p + i, colon - i))
		return -1;
	name->p = p + i;
	name->len = colon - i;
	*raw_start = i;
	*raw_len = end - i;
	i = colon + 1;
	if (!leadspc && i < end && p[i] == ' ')
		i++;
	/* the value without its last CRLF; folding CRLFs become '\n' */
	if (end >= 2 && p[end - 2] == '\r' && p[end - 1] == '\n')
		end -= 2;
	for (; i < end; i++) {
		if (p[i] == '\r' && i + 1 < end && p[i + 1] == '\n')
			continue;
		if (o + 1 < vmax)
			val[o++] = p[i];
	}
	if (vmax > 0)
		val[o] = '\0';
	*vlen = o;
	*off = *raw_start + *raw_len;
	return 1;
}

int
milter_socket_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **why)
{
	char host[128];
	const char *p, *colon;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	*why = "must be inet:ADDRESS:PORT, inet6:[ADDRESS]:PORT or unix:PATH";
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		p = spec + 5;
		if (*p != '/' || strlen(p) >= sizeof(un->sun_path)) {
			*why = "unix: needs an absolute path (inside the smtp "
			    "process's chroot) shorter than 108 bytes";
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, p, strlen(p) + 1);
		*sslen = sizeof(*un);
		return 0;
	}
	if (strncmp(spec, "inet6:[", 7) == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		p = spec + 7;
		if ((colon = strchr(p, ']')) == NULL || colon[1] != ':' ||
		    (size_t)(colon - p) >= sizeof(host))
			return -1;
		memcpy(host, p, (size_t)(colon - p));
		host[colon - p] = '\0';
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			*why = "inet6: needs a numeric IPv6 address (the smtp "
			    "process cannot resolve names)";
			return -1;
		}
		s6->sin6_family = AF_INET6;
		colon++;
		*sslen = sizeof(*s6);
	} else if (strncmp(spec, "inet:", 5) == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		p = spec + 5;
		if ((colon = strrchr(p, ':')) == NULL ||
		    (size_t)(colon - p) >= sizeof(host))
			return -1;
		memcpy(host, p, (size_t)(colon - p));
		host[colon - p] = '\0';
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			*why = "inet: needs a numeric IPv4 address (the smtp "
			    "process cannot resolve names)";
			return -1;
		}
		s4->sin_family = AF_INET;
		*sslen = sizeof(*s4);
	} else
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
		*why = "port must be 1..65535";
		return -1;
	}
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}
