/*
 * relaytest.h - open-relay and SMTP smuggling battery against any SMTP
 * server: `moat relaytest` and `relaytest_on_start`.
 */
#ifndef MOAT_RELAYTEST_H
#define MOAT_RELAYTEST_H

#include <stddef.h>
#include <stdio.h>

struct conf;

#define RELAYTEST_DEFAULT_EXTERNAL	"relaytest.invalid"
#define RELAYTEST_DOMAIN_MAX	200	/* a domain given to the battery */
#define RELAYTEST_PATH_MAX	512	/* "<...>" of a sender or recipient */
#define RELAYTEST_TEXT_MAX	128	/* reply text kept for the report */
#define RELAYTEST_LINE_MAX	2048	/* one reply line, CRLF included */
#define RELAYTEST_REPLY_MAX	16384	/* one whole (multi-line) reply */

enum relaytest_kind {
	RELAYTEST_K_CONTROL,	/* postmaster@L: must be accepted */
	RELAYTEST_K_EXTERNAL,	/* final domain is E: 2xx = relayed */
	RELAYTEST_K_AMBIGUOUS,	/* domain is L or the server's own literal,
				 * E hidden in the local part: 2xx = check */
	RELAYTEST_K_SMUGGLE,	/* DATA to postmaster@L with a bad end */
};

enum relaytest_verdict {
	RELAYTEST_PASS,
	RELAYTEST_WARN,		/* accepted (check), or untested */
	RELAYTEST_FAIL,		/* relayed, or smuggled commands answered */
	RELAYTEST_ERROR,	/* the case could not be run */
};

struct relaytest_case {
	char			 name[32];	/* trick, e.g. "percent-hack" */
	char			 sender[RELAYTEST_PATH_MAX];	/* with <> */
	char			 rcpt[RELAYTEST_PATH_MAX];	/* with <> */
	enum relaytest_kind	 kind;
	int			 vector;	/* RELAYTEST_K_SMUGGLE: index */
};

/* one parsed reply: code, number of lines, first line's text */
struct relaytest_reply {
	int	code;
	int	lines;
	char	text[RELAYTEST_TEXT_MAX];	/* printable ASCII only */
};

struct relaytest_result {
	struct relaytest_case	 c;
	const char		*stage;		/* "RCPT", "MAIL", "DATA", ... */
	int			 code;		/* 0: none */
	char			 text[RELAYTEST_TEXT_MAX];
	enum relaytest_verdict	 verdict;
	char			 note[96];	/* "relayed", "refused", ... */
};

enum relaytest_tls {
	RELAYTEST_TLS_NONE,
	RELAYTEST_TLS_STARTTLS,	/* STARTTLS after EHLO, then EHLO again */
	RELAYTEST_TLS_IMPLICIT,	/* TLS from the first byte (port 465) */
};

struct relaytest_opts {
	const char	*host;		/* name or numeric address */
	const char	*port;		/* numeric */
	const char	*local_domain;
	const char	*external_domain;	/* NULL: the default */
	const char	*from_ip;	/* NULL: any source address */
	int		 timeout_ms;	/* per connect and per reply */
	int		 smuggling;	/* run the smuggling vectors too */
	/*
	 * PROXY_V1 or PROXY_V2 (io/proxy_proto.h), 0 none: every connection
	 * starts with a PROXY header naming an outside client (192.0.2.1,
	 * 2001:db8::1), for a listener behind a load balancer
	 */
	int		 proxy;
	enum relaytest_tls tls;	/* the tricks inside TLS */
};

/*
 * relaytest_reply_parse - find one complete reply at the start of buf.
 * Returns 1 and sets *out and *consumed (bytes up to and including the
 * last line's LF), 0 when more bytes are needed, -1 when malformed (a
 * line smtp_reply_line refuses: not a code of [1-5][0-9][0-9] and ' ' or
 * '-', codes differing between lines; a line longer than
 * RELAYTEST_LINE_MAX or a reply over RELAYTEST_REPLY_MAX). Lines end in
 * CRLF; a bare LF is tolerated. Pure; never reads past buf+len.
 */
int relaytest_reply_parse(const char *buf, size_t len,
    struct relaytest_reply *out, size_t *consumed);

/*
 * relaytest_domain_valid - 1 if s is a plain domain name (letters,
 * digits, '-', '.', no empty label) of at most RELAYTEST_DOMAIN_MAX
 * octets: nothing that could end or change an SMTP command.
 */
int relaytest_domain_valid(const char *s);

/*
 * relaytest_expand - the table of cases for local domain L, external
 * domain E and self, the server's own address literal ("[127.0.0.1]",
 * "[IPv6:::1]"): the control case first, then every trick with its
 * senders, then (smuggling != 0) the smuggling vectors. Returns the
 * number of cases (an array the caller frees with free()), or 0 with a
 * reason in err when a domain is invalid.
 */
size_t relaytest_expand(const char *local, const char *external,
    const char *self, int smuggling, struct relaytest_case **out,
    char *err, size_t errlen);

/* relaytest_vector_count - number of smuggling end-of-data vectors */
size_t relaytest_vector_count(void);

/* relaytest_vector_name - "lf-dot-lf" and so on; NULL out of range */
const char *relaytest_vector_name(size_t i);

/*
 * relaytest_smuggle_payload - the DATA bytes of smuggling vector i for
 * local domain L and external domain E, ending in the only CRLF.CRLF:
 * a message, the bad end-of-data, a smuggled MAIL/RCPT/DATA and its
 * body. Returns the length written (NUL-terminated), or 0 when buf is
 * short or i out of range.
 */
size_t relaytest_smuggle_payload(size_t i, const char *local,
    const char *external, char *buf, size_t buflen);

/*
 * relaytest_run - run the battery against o->host. Returns the number
 * of results (*out, freed by the caller with free()), or 0 with a
 * reason in err when the server could not be reached or the options
 * are invalid (*unreachable tells which).
 */
size_t relaytest_run(const struct relaytest_opts *o,
    struct relaytest_result **out, int *unreachable, char *err,
    size_t errlen);

/* relaytest_print_table - aligned table and summary of the results */
void relaytest_print_table(FILE *fp, const char *target,
    const struct relaytest_result *r, size_t n);

/* relaytest_print_json - the results as a JSON array */
void relaytest_print_json(FILE *fp, const struct relaytest_result *r,
    size_t n);

/* exit statuses of `moat relaytest` (2: usage error) */
#define RELAYTEST_EXIT_PASS		0	/* nothing relayed */
#define RELAYTEST_EXIT_RELAYED		1	/* relayed or smuggled */
#define RELAYTEST_EXIT_INCOMPLETE	3	/* unreachable, or cases not run */
#define RELAYTEST_EXIT_NO_VERDICT	4	/* the control case did not run */

/* relaytest_status - exit status of a run: RELAYTEST_EXIT_* */
int relaytest_status(const struct relaytest_result *r, size_t n);

struct conf_listener;
struct relay_table;

/* how the battery reaches one of our own listeners as an outsider */
struct relaytest_plan {
	char	host[64];	/* the listener's address; a wildcard: loopback */
	char	src[64];	/* the client's address, not in relay_networks */
	int	proxy;		/* PROXY_V1 or PROXY_V2 (relaytest_opts), 0 */
	char	skip[160];	/* why it cannot be tested, "" when it can */
};

/*
 * relaytest_plan - fill p for listener l: a loopback listener is
 * reached from the first 127.x address not in relay_networks, any other
 * from its own address; a listener behind a load balancer from one of
 * ours in its proxy_from, with a PROXY header naming an outside client.
 * 0, or -1 with p->skip saying why the result would mean nothing.
 */
int relaytest_plan(const struct relay_table *rt,
    const struct conf_listener *l, struct relaytest_plan *p);

/* relaytest_main - `moat relaytest ...`; argv starts after the verb */
int relaytest_main(int argc, char **argv);

/*
 * relaytest_on_start - for `moat serve` with relaytest_on_start: run the
 * relay part (no DATA) against every mx listener of c from the loopback,
 * in a child process of its own (unprivileged, chrooted into empty_dir)
 * that the caller waits for; a listener whose every usable client
 * address is in relay_networks is skipped with a warning. Logs every
 * failing case. Returns 0 when nothing relays, -1 when something does
 * or a listener could not be tested.
 */
int relaytest_on_start(const struct conf *c);

#endif
