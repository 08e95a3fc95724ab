/*
 * milter_proto.h - the Sendmail milter protocol, version 6, as the MTA
 * speaks it: packet framing, the commands we send, the replies a
 * filter sends back (pure functions, no I/O), and the checks on what a
 * filter asks us to write (reply codes, header fields, addresses).
 *
 * A packet is a 32-bit length in network order (the command byte and
 * its data), one command byte, then the data. Strings are NUL-ended.
 */
#ifndef MOAT_MILTER_PROTO_H
#define MOAT_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct evbuffer;

#define MILTER_VERSION		6
#define MILTER_CHUNK_MAX	65535	/* body bytes in one SMFIC_BODY */
/* a reply longer than this is a broken filter; REPLBODY comes in chunks */
#define MILTER_PACKET_MAX	(1024 * 1024)

/* commands, MTA -> filter */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* replies, filter -> MTA */
#define SMFIR_ADDRCPT		'+'
#define SMFIR_DELRCPT		'-'
#define SMFIR_ADDRCPT_PAR	'2'
#define SMFIR_ACCEPT		'a'
#define SMFIR_REPLBODY		'b'
#define SMFIR_CONTINUE		'c'
#define SMFIR_DISCARD		'd'
#define SMFIR_CHGFROM		'e'
#define SMFIR_ADDHEADER		'h'
#define SMFIR_INSHEADER		'i'
#define SMFIR_CHGHEADER		'm'
#define SMFIR_PROGRESS		'p'
#define SMFIR_QUARANTINE	'q'
#define SMFIR_REJECT		'r'
#define SMFIR_SKIP		's'
#define SMFIR_TEMPFAIL		't'
#define SMFIR_REPLYCODE		'y'
#define SMFIR_OPTNEG		'O'	/* the answer to SMFIC_OPTNEG */

/* actions a filter may ask for (SMFIF_*) */
#define SMFIF_ADDHDRS		0x001
#define SMFIF_CHGBODY		0x002
#define SMFIF_ADDRCPT		0x004
#define SMFIF_DELRCPT		0x008
#define SMFIF_CHGHDRS		0x010
#define SMFIF_QUARANTINE	0x020
#define SMFIF_CHGFROM		0x040
#define SMFIF_ADDRCPT_PAR	0x080
#define SMFIF_SETSYMLIST	0x100
#define MILTER_ACTIONS		0x1ff	/* every one: we offer them all */

/* protocol flags (SMFIP_*): events not sent, replies not expected */
#define SMFIP_NOCONNECT		0x00000001
#define SMFIP_NOHELO		0x00000002
#define SMFIP_NOMAIL		0x00000004
#define SMFIP_NORCPT		0x00000008
#define SMFIP_NOBODY		0x00000010
#define SMFIP_NOHDRS		0x00000020
#define SMFIP_NOEOH		0x00000040
#define SMFIP_NR_HDR		0x00000080
#define SMFIP_NOUNKNOWN		0x00000100
#define SMFIP_NODATA		0x00000200
#define SMFIP_SKIP		0x00000400
#define SMFIP_RCPT_REJ		0x00000800
#define SMFIP_NR_CONN		0x00001000
#define SMFIP_NR_HELO		0x00002000
#define SMFIP_NR_MAIL		0x00004000
#define SMFIP_NR_RCPT		0x00008000
#define SMFIP_NR_DATA		0x00010000
#define SMFIP_NR_UNKN		0x00020000
#define SMFIP_NR_EOH		0x00040000
#define SMFIP_NR_BODY		0x00080000
#define SMFIP_HDR_LEADSPC	0x00100000
/*
 * What we offer: every event may be left out and every reply waived,
 * SKIP, and header values with their leading space. Not offered:
 * RCPT_REJ (refused recipients are never shown) and the unknown-command
 * event (we never pass one on).
 */
#define MILTER_PROTOCOL		(0x001fffff & ~(SMFIP_RCPT_REJ | \
				    SMFIP_NOUNKNOWN | SMFIP_NR_UNKN))

/* macro stages of SMFIR_SETSYMLIST */
enum milter_stage {
	MILTER_ST_CONNECT = 0,
	MILTER_ST_HELO,
	MILTER_ST_MAIL,
	MILTER_ST_RCPT,
	MILTER_ST_DATA,
	MILTER_ST_EOM,
	MILTER_ST_EOH,
	MILTER_ST_COUNT
};

/* framing: what milter_frame says about the bytes at hand */
enum milter_frame_res {
	MILTER_FRAME_MORE = 0,		/* not a whole packet yet */
	MILTER_FRAME_OK,		/* *plen bytes: one whole packet */
	MILTER_FRAME_BAD,		/* length 0 or over MILTER_PACKET_MAX */
};

/* a string inside a packet: not owned, NUL-ended at p[len] */
struct milter_str {
	const char	*p;
	size_t		 len;
};

/* one reply, decoded; views into the packet it came from */
struct milter_reply {
	int		 cmd;		/* SMFIR_* */
	uint32_t	 index;		/* INSHEADER, CHGHEADER */
	struct milter_str s1;		/* header name, address, reply text,
					 * quarantine reason */
	struct milter_str s2;		/* header value, ESMTP arguments */
	int		 has_s2;	/* CHGFROM, ADDRCPT_PAR: given */
	const uint8_t	*body;		/* REPLBODY */
	size_t		 body_len;
	/* OPTNEG */
	uint32_t	 version, actions, protocol;
	const uint8_t	*symlists;	/* after the three words, checked */
	size_t		 symlists_len;
};

/*
 * milter_frame - is there a whole packet at p (len bytes)? OK with its
 * size (length word included) in *plen.
 */
enum milter_frame_res milter_frame(const uint8_t *p, size_t len,
    size_t *plen);

/*
 * milter_reply_parse - one packet (length word included, as framed)
 * into r; -1 with *why when it is malformed: an unknown command, a
 * string without its NUL, bytes left over, a field missing.
 */
int milter_reply_parse(const uint8_t *p, size_t len, struct milter_reply *r,
    const char **why);

/*
 * milter_symlist_next - the next (stage, macro names) of an OPTNEG
 * reply's lists; 1 with them, 0 at the end, -1 malformed. *off starts
 * at 0.
 */
int milter_symlist_next(const struct milter_reply *r, size_t *off,
    uint32_t *stage, struct milter_str *names);

/* encoders: append one packet to out */
void milter_put_optneg(struct evbuffer *out, uint32_t actions,
    uint32_t protocol);
/* cmd alone, or with strings (each written with its NUL) */
void milter_put_cmd(struct evbuffer *out, int cmd, const char *const *strs,
    size_t n);
/* SMFIC_CONNECT: family '4', '6', 'L' or 'U' (no port nor address) */
void milter_put_connect(struct evbuffer *out, const char *host, int family,
    uint16_t port, const char *addr);
/* SMFIC_MACRO for command cmd: names[i] = values[i] */
void milter_put_macros(struct evbuffer *out, int cmd,
    const char *const *names, const char *const *values, size_t n);
/* SMFIC_BODY: len at most MILTER_CHUNK_MAX */
void milter_put_body(struct evbuffer *out, const void *p, size_t len);

/*
 * milter_reply_text - the text of SMFIR_REPLYCODE checked and made safe
 * to send: "CODE[ -]X.Y.Z text" lines, CRLF between them, the code 4xx
 * or 5xx and the same on every line. Written into out (at most outlen,
 * lines separated by '\n', each "CODE-..." but the last "CODE ...");
 * bytes outside printable ASCII become '?'. Returns the code, or -1
 * with *why when the text is no SMTP reply.
 */
int milter_reply_text(const char *text, size_t len, char *out, size_t outlen,
    const char **why);

/*
 * milter_header_name_ok - a field name a filter may add: printable
 * ASCII without ':' (RFC 5322 ftext), 1 to 200 bytes.
 */
int milter_header_name_ok(const char *name, size_t len);

/*
 * milter_header_value_put - a filter's header value as it goes into the
 * message: each '\n' or CRLF starts a continuation line (one that does
 * not begin with a space or tab gets one), a lone CR and NUL are
 * dropped, lines are cut at 998 bytes. leadspc: the filter sends its
 * leading space itself (SMFIP_HDR_LEADSPC), else one is written after
 * the colon. Appends "Name:[ ]value\r\n" to out; -1 when out is full.
 */
int milter_header_put(struct evbuffer *out, const char *name, size_t nlen,
    const char *value, size_t vlen, int leadspc);

/*
 * milter_header_next - the next field of a header section (CRLF line
 * ends, folding kept) at p[*off..len): its name, and its value with the
 * CRLFs of folding turned into '\n' and the space after the colon
 * removed unless leadspc, as the milter protocol carries it, into
 * val (at most vmax bytes, cut beyond). 1 with a field (*off moved past
 * it), 0 at the blank line or the end, -1 when a line is no field.
 * *raw_start and *raw_len give the field's own bytes.
 */
int milter_header_next(const char *p, size_t len, size_t *off,
    struct milter_str *name, char *val, size_t vmax, size_t *vlen,
    int leadspc, size_t *raw_start, size_t *raw_len);

/*
 * milter_socket_parse - "inet:ADDR:PORT", "inet6:[ADDR]:PORT" (numeric
 * addresses: the smtp process resolves no names) or "unix:/PATH" into
 * ss; -1 with *why.
 */
int milter_socket_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, const char **why);

#endif
