/*
 * relaytest.c - the open-relay and SMTP smuggling battery: a blocking
 * SMTP client that tries every classic address trick against any
 * server, and the end-of-data smuggling vectors against its local
 * postmaster (the seed's ORDB test, built in).
 *
 * Public: relaytest_reply_parse, relaytest_domain_valid,
 * relaytest_expand, relaytest_vector_count, relaytest_vector_name,
 * relaytest_smuggle_payload, relaytest_run, relaytest_print_table,
 * relaytest_print_json, relaytest_status, relaytest_main,
 * relaytest_on_start.
 *
 * Every case gets a fresh connection: banner, EHLO (HELO fallback),
 * MAIL FROM:<sender>, RCPT TO:<rcpt>, QUIT. No DATA ever follows a RCPT
 * to an outside recipient, so nothing is relayed even by an open relay.
 * A 2xx to a RCPT whose final domain is the external one is FAIL
 * (relayed); a 2xx to a RCPT whose domain is the local one (or the
 * server's own address literal) with the external domain hidden in the
 * local part is WARN (accepted: only a relay if the server then routes
 * on the local part). Tricks whose recipient domain is local run with
 * two senders only: sender-based relay permission is already covered by
 * the external tricks with every sender, and each such RCPT counts as
 * an unknown local recipient against the server's harvest limits.
 *
 * Smuggling: to postmaster@L, one DATA whose body holds a bad
 * end-of-data (bare LF or CR around the dot) followed by a smuggled
 * MAIL/RCPT/DATA, then the real CRLF.CRLF. A sound server answers once;
 * a vulnerable one answers the smuggled commands too (more replies
 * within a short quiet window): FAIL. The smuggled recipient is
 * postmaster@L, not the outside domain, so even a vulnerable open relay
 * gets no DATA for outside.
 *
 * SECURITY: server replies are untrusted: parsed by the pure
 * relaytest_reply_parse with line and reply limits (each line read by
 * smtp_reply_line, the mta's reader too), and only printable
 * ASCII of them is kept for the report. Domains from the command line
 * are restricted to letters, digits, '-' and '.', so they cannot end or
 * change a command. The tool only connects where it is told to. Under
 * `moat serve` (relaytest_on_start) the battery runs in a child of its
 * own, unprivileged and chrooted, so the root parent still never reads
 * a byte from a socket.
 * LIMITS: RELAYTEST_LINE_MAX a reply line, RELAYTEST_REPLY_MAX a reply;
 * every connect and reply waits at most the timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../daemon/config.h"
#include "../daemon/daemon.h"
#include "../io/proxy_proto.h"
#include "../lib/cidr.h"
#include "../lib/fdio.h"
#include "../lib/json.h"
#include "../lib/log.h"
#include "../mail/smtp_reply.h"
#include "../policy/relay.h"
#include "relaytest.h"

#define LOCALPART	"relaytest"
#define FOREIGN_LIT	"[192.0.2.1]"	/* TEST-NET-1: text only, never used */
/* the outside client a PROXY header names (TEST-NET-1, documentation) */
#define PROXY_CLIENT4	"192.0.2.1"
#define PROXY_CLIENT6	"2001:db8::1"
#define QUIET_MS	1000	/* smuggling: silence that ends the count */
#define ESC_MAX		(RELAYTEST_PATH_MAX * 4 + 8)	/* log_escape output */

/*
 * The tricks. In the templates {L} is the local domain, {E} the
 * external one, {U} the external one in upper case, {S} the server's own
 * address literal.
 */
static const struct trick {
	const char		*name;
	const char		*rcpt;
	enum relaytest_kind	 kind;
} tricks[] = {
	{ "plain",		"<" LOCALPART "@{E}>",	RELAYTEST_K_EXTERNAL },
	{ "upper-case",		"<" LOCALPART "@{U}>",	RELAYTEST_K_EXTERNAL },
	{ "trailing-dot",	"<" LOCALPART "@{E}.>",	RELAYTEST_K_EXTERNAL },
	{ "foreign-literal",	"<" LOCALPART "@" FOREIGN_LIT ">",
	    RELAYTEST_K_EXTERNAL },
	{ "source-route",	"<@{L}:" LOCALPART "@{E}>",
	    RELAYTEST_K_EXTERNAL },
	{ "source-route-lit",	"<@{S}:" LOCALPART "@{E}>",
	    RELAYTEST_K_EXTERNAL },
	{ "at-at",		"<" LOCALPART "@@{E}>",	RELAYTEST_K_EXTERNAL },
	{ "at-at-route",	"<@@{L}:" LOCALPART "@{E}>",
	    RELAYTEST_K_EXTERNAL },
	{ "percent-bare",	"<" LOCALPART "%{E}>",	RELAYTEST_K_EXTERNAL },
	{ "bang-bare",		"<{E}!" LOCALPART ">",	RELAYTEST_K_EXTERNAL },
	{ "quoted-bare",	"<\"" LOCALPART "@{E}\">",
	    RELAYTEST_K_EXTERNAL },
	{ "percent-hack",	"<" LOCALPART "%{E}@{L}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "percent-lit",	"<" LOCALPART "%{E}@{S}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "bang-path",		"<{E}!" LOCALPART "@{L}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "bang-lit",		"<{E}!" LOCALPART "@{S}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted",		"<\"" LOCALPART "@{E}\"@{L}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted-lit",		"<\"" LOCALPART "@{E}\"@{S}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "quoted-percent",	"<\"" LOCALPART "%{E}\"@{L}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "double-at",		"<" LOCALPART "@{E}@{L}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "double-at-lit",	"<" LOCALPART "@{E}@{S}>",
	    RELAYTEST_K_AMBIGUOUS },
	{ "own-literal",	"<" LOCALPART "@{S}>",	RELAYTEST_K_AMBIGUOUS },
};

/* senders; ambiguous: also used with the ambiguous tricks */
static const struct {
	const char	*tmpl;
	int		 ambiguous;
} senders[] = {
	{ "<>", 1 },
	{ "<" LOCALPART ">", 0 },
	{ "<postmaster@{L}>", 1 },
	{ "<someone@{E}>", 0 },
	{ "<postmaster@{S}>", 0 },
};

/* end-of-data smuggling vectors */
static const struct {
	const char	*name;
	const char	*bytes;
} vectors[] = {
	{ "lf-dot-lf",		"\n.\n" },
	{ "lf-dot-crlf",	"\n.\r\n" },
	{ "cr-dot-cr",		"\r.\r" },
	{ "crlf-dot-lf",	"\r\n.\n" },
	{ "lf-dot-cr",		"\n.\r" },
	{ "crlf-dot-cr",	"\r\n.\r" },
};

#define NTRICKS		(sizeof(tricks) / sizeof(tricks[0]))
#define NSENDERS	(sizeof(senders) / sizeof(senders[0]))
#define NVECTORS	(sizeof(vectors) / sizeof(vectors[0]))

static const char *verdict_names[] = {
	[RELAYTEST_PASS] = "PASS", [RELAYTEST_WARN] = "WARN",
	[RELAYTEST_FAIL] = "FAIL", [RELAYTEST_ERROR] = "ERROR",
};

/* copy src[0..n) into dst as printable ASCII ('?' for the rest) */
static void
copy_printable(char *dst, size_t dstlen, const char *src, size_t n)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; i < n && i + 1 < dstlen; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/*
 * relaytest_reply_parse - find one complete reply at the start of buf:
 * the lines are cut here, and read by the one reply reader
 * (smtp_reply_line)
 */
int
relaytest_reply_parse(const char *buf, size_t len,
    struct relaytest_reply *out, size_t *consumed)
{
	char first[4];		/* the first line's code: all that is kept */
	struct smtp_reply_buf r = { first, sizeof(first), 0, 0 };
	size_t pos = 0;
	int rc, code = 0;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	for (;;) {
		const char *p = buf + pos, *lf;
		size_t ll, n;

		if ((lf = memchr(p, '\n', len - pos)) == NULL)
			return len - pos >= RELAYTEST_LINE_MAX ||
			    len >= RELAYTEST_REPLY_MAX ? -1 : 0;
		ll = (size_t)(lf - p) + 1;
		if (ll > RELAYTEST_LINE_MAX || pos + ll > RELAYTEST_REPLY_MAX)
			return -1;
		n = ll - 1;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((rc = smtp_reply_line(&r, p, n, &code)) == SMTP_REPLY_BAD)
			return -1;
		if (out->lines++ == 0 && n > 4)
			copy_printable(out->text, sizeof(out->text), p + 4, n - 4);
		pos += ll;
		if (rc == SMTP_REPLY_DONE) {
			out->code = code;
			*consumed = pos;
			return 1;
		}
	}
}

/* relaytest_domain_valid - a plain domain name, nothing more */
int
relaytest_domain_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > RELAYTEST_DOMAIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* expand a template; -1 when out is too short */
static int
expand_tmpl(const char *t, const char *local, const char *ext,
    const char *self, char *out, size_t outlen)
{
	size_t o = 0;

	while (*t != '\0') {
		const char *v = NULL;
		int upper = 0;

		if (t[0] == '{' && t[1] != '\0' && t[2] == '}') {
			switch (t[1]) {
			case 'L': v = local; break;
			case 'E': v = ext; break;
			case 'U': v = ext; upper = 1; break;
			case 'S': v = self; break;
			default: fatalx("%s: bad template %s", __func__, t);
			}
			t += 3;
			for (; *v != '\0'; v++) {
				char ch = *v;

				if (upper && ch >= 'a' && ch <= 'z')
					ch = (char)(ch - 'a' + 'A');
				if (o + 1 >= outlen)
					return -1;
				out[o++] = ch;
			}
			continue;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *t++;
	}
	out[o] = '\0';
	return 0;
}

/* self is "[a.b.c.d]" or "[IPv6:...]" as made by addr_literal */
static int
literal_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || n > 64 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	for (size_t i = 1; i + 1 < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
		    s[i] == '.' || s[i] == ':' || s[i] == 'I' || s[i] == 'P' ||
		    s[i] == 'v' || s[i] == '6'))
			return 0;
	return 1;
}

/* relaytest_expand - the table of cases for L, E and the server literal */
size_t
relaytest_expand(const char *local, const char *external, const char *self,
    int smuggling, struct relaytest_case **out, char *err, size_t errlen)
{
	struct relaytest_case *v, *c;
	size_t n = 0, cap;

	*out = NULL;
	if (!relaytest_domain_valid(local)) {
		snprintf(err, errlen, "bad local domain '%s'", local);
		return 0;
	}
	if (!relaytest_domain_valid(external)) {
		snprintf(err, errlen, "bad external domain '%s'", external);
		return 0;
	}
	if (!literal_valid(self)) {
		snprintf(err, errlen, "bad address literal '%s'", self);
		return 0;
	}
	cap = 1 + NTRICKS * NSENDERS + NVECTORS;
	if ((v = calloc(cap, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	/* the control case: a server that refuses this proves nothing */
	c = &v[n++];
	snprintf(c->name, sizeof(c->name), "control");
	snprintf(c->sender, sizeof(c->sender), "<>");
	snprintf(c->rcpt, sizeof(c->rcpt), "<postmaster@%s>", local);
	c->kind = RELAYTEST_K_CONTROL;
	for (size_t t = 0; t < NTRICKS; t++)
		for (size_t s = 0; s < NSENDERS; s++) {
			if (tricks[t].kind == RELAYTEST_K_AMBIGUOUS &&
			    !senders[s].ambiguous)
				continue;
			c = &v[n++];
			snprintf(c->name, sizeof(c->name), "%s", tricks[t].name);
			c->kind = tricks[t].kind;
			if (expand_tmpl(senders[s].tmpl, local, external, self,
			    c->sender, sizeof(c->sender)) == -1 ||
			    expand_tmpl(tricks[t].rcpt, local, external, self,
			    c->rcpt, sizeof(c->rcpt)) == -1)
				fatalx("%s: path too long", __func__);
		}
	for (size_t i = 0; smuggling && i < NVECTORS; i++) {
		c = &v[n++];
		snprintf(c->name, sizeof(c->name), "smuggle-%s",
		    vectors[i].name);
		snprintf(c->sender, sizeof(c->sender), "<>");
		snprintf(c->rcpt, sizeof(c->rcpt), "<postmaster@%s>", local);
		c->kind = RELAYTEST_K_SMUGGLE;
		c->vector = (int)i;
	}
	*out = v;
	return n;
}

/* relaytest_vector_count - number of smuggling end-of-data vectors */
size_t
relaytest_vector_count(void)
{
	return NVECTORS;
}

/* relaytest_vector_name - "lf-dot-lf" and so on; NULL out of range */
const char *
relaytest_vector_name(size_t i)
{
	return i < NVECTORS ? vectors[i].name : NULL;
}

/* relaytest_smuggle_payload - the DATA bytes of smuggling vector i */
size_t
relaytest_smuggle_payload(size_t i, const char *local, const char *external,
    char *buf, size_t buflen)
{
	int n;

	if (i >= NVECTORS)
		return 0;
	n = snprintf(buf, buflen,
	    "From: <" LOCALPART "@%s>\r\n"
	    "To: <postmaster@%s>\r\n"
	    "Subject: moat relaytest smuggling probe (%s)\r\n"
	    "\r\n"
	    "moat relaytest checks how this server ends DATA; delete this.\r\n"
	    "probe%s"
	    "MAIL FROM:<" LOCALPART "@%s>\r\n"
	    "RCPT TO:<postmaster@%s>\r\n"
	    "DATA\r\n"
	    "Subject: moat relaytest SMUGGLED message (%s)\r\n"
	    "\r\n"
	    "smuggled\r\n.\r\n",
	    external, local, vectors[i].name, vectors[i].bytes, external,
	    local, vectors[i].name);
	if (n < 0 || (size_t)n >= buflen)
		return 0;
	return (size_t)n;
}

/* --- the blocking client ------------------------------------------- */

struct rt_target {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct sockaddr_storage	 from;
	socklen_t		 fromlen;	/* 0: any source */
	int			 timeout_ms;
	int			 proxy;		/* relaytest_opts.proxy */
	SSL_CTX			*tls;		/* NULL: plain SMTP only */
};

struct rt_conn {
	int	fd;
	SSL	*ssl;		/* after STARTTLS or on connect, else NULL */
	size_t	len;
	char	buf[RELAYTEST_REPLY_MAX];
	char	self[80];	/* server's address literal */
	char	me[80];		/* our address literal, for EHLO */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" of a socket address */
static void
addr_literal(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a,
			    sizeof(a));
			snprintf(buf, len, "[%s]", a);
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			snprintf(buf, len, "[IPv6:%s]", a);
		}
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]", a);
	}
}

static void
conn_close(struct rt_conn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* send all of buf, inside TLS when it is on; 0 or -1 */
static int
conn_send(struct rt_conn *c, const void *buf, size_t len)
{
	size_t done;

	if (c->ssl == NULL)
		return fdio_send_all(c->fd, buf, len);
	if (len == 0)
		return 0;
	return SSL_write_ex(c->ssl, buf, len, &done) == 1 && done == len ?
	    0 : -1;
}

/*
 * a TLS handshake as a client on c (blocking, bounded by the socket's
 * timeouts). The server's certificate is not checked: the battery asks
 * what the server accepts, not who it is. 0 or -1.
 */
static int
conn_tls(const struct rt_target *t, struct rt_conn *c)
{
	/* bytes read before the handshake must not count after it */
	c->len = 0;
	if (t->tls == NULL || (c->ssl = SSL_new(t->tls)) == NULL)
		return -1;
	if (SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	return 0;
}

/* the PROXY header first: an outside client connected to t->ss */
static int
proxy_send(const struct rt_target *t, int fd)
{
	struct sockaddr_storage src;
	uint8_t hdr[PROXY_HEADER_MAX];
	size_t n;

	memset(&src, 0, sizeof(src));
	src.ss_family = t->ss.ss_family;
	if (t->ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&src;

		inet_pton(AF_INET, PROXY_CLIENT4, &s4->sin_addr);
		s4->sin_port = htons(40000);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src;

		inet_pton(AF_INET6, PROXY_CLIENT6, &s6->sin6_addr);
		s6->sin6_port = htons(40000);
	}
	if ((n = proxy_format(t->proxy, (struct sockaddr *)&src,
	    (const struct sockaddr *)&t->ss, hdr, sizeof(hdr))) == 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return fdio_send_all(fd, hdr, n);
}

/* connect with a timeout; -1 with errno set */
static int
conn_open(const struct rt_target *t, struct rt_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct timeval tv;
	struct pollfd pfd;
	int fd, flags, soerr = 0, r;
	socklen_t el = sizeof(soerr);

	c->fd = -1;
	c->ssl = NULL;
	c->len = 0;
	if ((fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (t->fromlen && bind(fd, (const struct sockaddr *)&t->from,
	    t->fromlen) == -1)
		goto fail;
	tv.tv_sec = t->timeout_ms / 1000;
	tv.tv_usec = (t->timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, (const struct sockaddr *)&t->ss, t->sslen) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			r = poll(&pfd, 1, t->timeout_ms);
		while (r == -1 && errno == EINTR);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &el) == -1)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, flags);
	if (t->proxy && proxy_send(t, fd) == -1)
		goto fail;
	c->fd = fd;
	addr_literal((const struct sockaddr *)&t->ss, c->self, sizeof(c->self));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_literal((struct sockaddr *)&ss, c->me, sizeof(c->me));
	else
		snprintf(c->me, sizeof(c->me), "relaytest.invalid");
	return 0;
fail:
	r = errno;
	close(fd);
	errno = r;
	return -1;
}

/*
 * read one reply within timeout_ms: 1 got it, 0 timed out, -1 closed or
 * failed, -2 malformed
 */
static int
conn_read(struct rt_conn *c, int timeout_ms, struct relaytest_reply *rep)
{
	long long deadline = now_ms() + timeout_ms;
	struct pollfd pfd;
	size_t used;
	ssize_t n;
	int r;

	for (;;) {
		r = relaytest_reply_parse(c->buf, c->len, rep, &used);
		if (r == 1) {
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return 1;
		}
		if (r == -1 || c->len == sizeof(c->buf))
			return -2;
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
			pfd.fd = c->fd;
			pfd.events = POLLIN;
			r = poll(&pfd, 1, (int)left);
			if (r == -1 && errno == EINTR)
				continue;
			if (r == 0)
				return 0;
			if (r == -1)
				return -1;
		}
		if (c->ssl != NULL) {
			size_t got;

			if (SSL_read_ex(c->ssl, c->buf + c->len,
			    sizeof(c->buf) - c->len, &got) != 1) {
				int e = SSL_get_error(c->ssl, 0);

				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ)
					continue;
				return -1;
			}
			c->len += got;
			continue;
		}
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* send "line\r\n" and read the reply: 1 got it, else as conn_read */
static int
conn_cmd(struct rt_conn *c, int timeout_ms, struct relaytest_reply *rep,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
conn_cmd(struct rt_conn *c, int timeout_ms, struct relaytest_reply *rep,
    const char *fmt, ...)
{
	char line[RELAYTEST_PATH_MAX + 32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		fatalx("%s: command too long", __func__);
	memcpy(line + n, "\r\n", 2);
	if (conn_send(c, line, (size_t)n + 2) == -1)
		return -1;
	return conn_read(c, timeout_ms, rep);
}

static void
set_result(struct relaytest_result *r, const char *stage,
    const struct relaytest_reply *rep, enum relaytest_verdict v,
    const char *note)
{
	r->stage = stage;
	r->code = rep ? rep->code : 0;
	if (rep)
		snprintf(r->text, sizeof(r->text), "%s", rep->text);
	r->verdict = v;
	snprintf(r->note, sizeof(r->note), "%s", note);
}

/* a step did not get a usable reply */
static void
step_failed(struct relaytest_result *r, const char *stage, int rc,
    const struct relaytest_reply *rep)
{
	char note[96];

	if (rc == 1) {
		/* refused before the trick could be tried: untested */
		snprintf(note, sizeof(note), "untested: %s refused", stage);
		set_result(r, stage, rep, RELAYTEST_WARN, note);
		return;
	}
	snprintf(note, sizeof(note), "%s: %s", stage, rc == 0 ? "timeout" :
	    rc == -2 ? "malformed reply" : "connection lost");
	set_result(r, stage, NULL, RELAYTEST_ERROR, note);
}

static int
is2xx(const struct relaytest_reply *rep)
{
	return rep->code >= 200 && rep->code < 300;
}

/* the smuggling part of a case, after RCPT was accepted */
static void
run_smuggle(const struct relaytest_opts *o, const char *external,
    struct rt_conn *c, struct relaytest_result *r)
{
	struct relaytest_reply rep, first;
	char payload[2048], note[96];
	size_t n;
	int rc, count = 0, quiet = o->timeout_ms < QUIET_MS ?
	    o->timeout_ms : QUIET_MS;

	if ((rc = conn_cmd(c, o->timeout_ms, &rep, "DATA")) != 1 ||
	    rep.code != 354) {
		step_failed(r, "DATA", rc, &rep);
		return;
	}
	n = relaytest_smuggle_payload((size_t)r->c.vector, o->local_domain,
	    external, payload, sizeof(payload));
	if (n == 0)
		fatalx("%s: payload too long", __func__);
	if (conn_send(c, payload, n) == -1) {
		step_failed(r, "DATA", -1, NULL);
		return;
	}
	if ((rc = conn_read(c, o->timeout_ms, &first)) != 1) {
		if (rc == 0)
			set_result(r, "END", NULL, RELAYTEST_WARN,
			    "no reply to the end of data");
		else
			step_failed(r, "END", rc, NULL);
		return;
	}
	/* an unsolicited 421 (the server closing) is no sign of smuggling */
	count = 1;
	while (count < 100 && conn_read(c, quiet, &rep) == 1)
		if (rep.code != 421)
			count++;
	if (count > 1) {
		snprintf(note, sizeof(note), "smuggled commands answered "
		    "(%d replies)", count);
		set_result(r, "END", &first, RELAYTEST_FAIL, note);
	} else
		set_result(r, "END", &first, RELAYTEST_PASS, is2xx(&first) ?
		    "one message, one reply" : "rejected, one reply");
}

/*
 * run one case on c (already connected when c->fd != -1, else
 * connected here); 0, or -1 when the connection could not be made
 */
static int
run_case(const struct relaytest_opts *o, const struct rt_target *t,
    const char *external, struct rt_conn *c, struct relaytest_result *r)
{
	struct relaytest_reply rep;
	int rc, tmo = o->timeout_ms;

	if (c->fd == -1 && conn_open(t, c) == -1) {
		char note[96];

		snprintf(note, sizeof(note), "connect: %s", strerror(errno));
		set_result(r, "CONNECT", NULL, RELAYTEST_ERROR, note);
		return -1;
	}
	if (o->tls == RELAYTEST_TLS_IMPLICIT && c->ssl == NULL &&
	    conn_tls(t, c) == -1) {
		set_result(r, "TLS", NULL, RELAYTEST_ERROR,
		    "TLS handshake failed");
		goto done;
	}
	if ((rc = conn_read(c, tmo, &rep)) != 1 || !is2xx(&rep)) {
		step_failed(r, "BANNER", rc, &rep);
		goto done;
	}
	if ((rc = conn_cmd(c, tmo, &rep, "EHLO %s", c->me)) != 1 ||
	    !is2xx(&rep)) {
		if (rc != 1 || rep.code == 421 ||
		    (rc = conn_cmd(c, tmo, &rep, "HELO %s", c->me)) != 1 ||
		    !is2xx(&rep)) {
			step_failed(r, "HELO", rc, &rep);
			goto done;
		}
	}
	if (o->tls == RELAYTEST_TLS_STARTTLS) {
		if ((rc = conn_cmd(c, tmo, &rep, "STARTTLS")) != 1 ||
		    rep.code != 220) {
			step_failed(r, "STARTTLS", rc, &rep);
			goto done;
		}
		if (conn_tls(t, c) == -1) {
			set_result(r, "STARTTLS", NULL, RELAYTEST_ERROR,
			    "TLS handshake failed");
			goto done;
		}
		if ((rc = conn_cmd(c, tmo, &rep, "EHLO %s", c->me)) != 1 ||
		    !is2xx(&rep)) {
			step_failed(r, "HELO", rc, &rep);
			goto done;
		}
	}
	if ((rc = conn_cmd(c, tmo, &rep, "MAIL FROM:%s", r->c.sender)) != 1) {
		step_failed(r, "MAIL", rc, &rep);
		goto done;
	}
	if (!is2xx(&rep)) {
		if (rep.code == 421)
			step_failed(r, "MAIL", rc, &rep);
		else
			set_result(r, "MAIL", &rep, r->c.kind ==
			    RELAYTEST_K_EXTERNAL || r->c.kind ==
			    RELAYTEST_K_AMBIGUOUS ? RELAYTEST_PASS :
			    RELAYTEST_WARN, r->c.kind == RELAYTEST_K_EXTERNAL ||
			    r->c.kind == RELAYTEST_K_AMBIGUOUS ?
			    "refused at MAIL" : "untested: MAIL refused");
		goto done;
	}
	if ((rc = conn_cmd(c, tmo, &rep, "RCPT TO:%s", r->c.rcpt)) != 1) {
		step_failed(r, "RCPT", rc, &rep);
		goto done;
	}
	switch (r->c.kind) {
	case RELAYTEST_K_EXTERNAL:
		if (is2xx(&rep))
			set_result(r, "RCPT", &rep, RELAYTEST_FAIL, "relayed");
		else
			set_result(r, "RCPT", &rep, RELAYTEST_PASS, "refused");
		break;
	case RELAYTEST_K_AMBIGUOUS:
		if (is2xx(&rep))
			set_result(r, "RCPT", &rep, RELAYTEST_WARN,
			    "accepted (check)");
		else
			set_result(r, "RCPT", &rep, RELAYTEST_PASS, "refused");
		break;
	case RELAYTEST_K_CONTROL:
		if (is2xx(&rep))
			set_result(r, "RCPT", &rep, RELAYTEST_PASS,
			    "accepted (expected)");
		else
			set_result(r, "RCPT", &rep, RELAYTEST_WARN,
			    "control refused: the battery proves little");
		break;
	case RELAYTEST_K_SMUGGLE:
		if (!is2xx(&rep))
			step_failed(r, "RCPT", rc, &rep);
		else
			run_smuggle(o, external, c, r);
		break;
	}
done:
	if (c->fd != -1) {
		/* polite, but never wait long for the goodbye */
		if (conn_send(c, "QUIT\r\n", 6) == 0)
			conn_read(c, tmo < 1000 ? tmo : 1000, &rep);
		conn_close(c);
	}
	return 0;
}

/* split HOST[:PORT], [V6]:PORT or a bare IPv6 address */
static int
split_hostport(const char *s, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon = strrchr(s, ':');
	const char *p = NULL;
	size_t n;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (e == NULL || (e[1] != '\0' && e[1] != ':'))
			return -1;
		n = (size_t)(e - s - 1);
		if (e[1] == ':')
			p = e + 2;
		s++;
	} else if (colon != NULL && strchr(s, ':') == colon) {
		n = (size_t)(colon - s);
		p = colon + 1;
	} else
		n = strlen(s);
	if (n == 0 || n >= hl)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (p == NULL)
		p = "25";
	if (strlen(p) == 0 || strlen(p) >= pl || strspn(p, "0123456789") !=
	    strlen(p) || atoi(p) < 1 || atoi(p) > 65535)
		return -1;
	snprintf(port, pl, "%s", p);
	return 0;
}

/*
 * t: o->host's first address that connects (from o->from_ip when set),
 * with c the connection to it. 0, or -1 with a reason in err and
 * *unreachable set when the host could not be reached.
 */
static int
target_connect(const struct relaytest_opts *o, struct rt_target *t,
    struct rt_conn *c, int *unreachable, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai, *from = NULL;
	int gai, lasterr = 0, rc = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (o->from_ip) {
		hints.ai_flags = AI_NUMERICHOST;
		if ((gai = getaddrinfo(o->from_ip, NULL, &hints, &from)) != 0) {
			snprintf(err, errlen, "bad source address '%s': %s",
			    o->from_ip, gai_strerror(gai));
			return -1;
		}
		hints.ai_family = from->ai_family;
		memcpy(&t->from, from->ai_addr, from->ai_addrlen);
		t->fromlen = from->ai_addrlen;
		hints.ai_flags = 0;
	}
	if ((gai = getaddrinfo(o->host, o->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", o->host,
		    gai_strerror(gai));
		*unreachable = 1;
		goto done;
	}
	/* the first address that connects is the target of every case */
	c->fd = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		memcpy(&t->ss, ai->ai_addr, ai->ai_addrlen);
		t->sslen = ai->ai_addrlen;
		if (conn_open(t, c) == 0)
			break;
		lasterr = errno;
	}
	if (ai == NULL) {
		snprintf(err, errlen, "cannot connect to %s port %s: %s",
		    o->host, o->port, strerror(lasterr));
		*unreachable = 1;
		goto done;
	}
	rc = 0;
done:
	if (res)
		freeaddrinfo(res);
	if (from)
		freeaddrinfo(from);
	return rc;
}

/* relaytest_run - run the battery against o->host */
size_t
relaytest_run(const struct relaytest_opts *o, struct relaytest_result **out,
    int *unreachable, char *err, size_t errlen)
{
	const char *ext = o->external_domain ? o->external_domain :
	    RELAYTEST_DEFAULT_EXTERNAL;
	struct relaytest_case *cases = NULL;
	struct relaytest_result *results = NULL;
	struct rt_target t;
	struct rt_conn *c = NULL;
	size_t n = 0;

	*out = NULL;
	*unreachable = 0;
	memset(&t, 0, sizeof(t));
	t.timeout_ms = o->timeout_ms;
	t.proxy = o->proxy;
	if (!relaytest_domain_valid(o->local_domain) ||
	    !relaytest_domain_valid(ext)) {
		snprintf(err, errlen, "bad domain '%s'",
		    relaytest_domain_valid(ext) ? o->local_domain : ext);
		return 0;
	}
	if ((c = malloc(sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	c->fd = -1;
	c->ssl = NULL;
	if (o->tls != RELAYTEST_TLS_NONE) {
		if ((t.tls = SSL_CTX_new(TLS_client_method())) == NULL) {
			snprintf(err, errlen, "cannot make a TLS context");
			goto done;
		}
		SSL_CTX_set_verify(t.tls, SSL_VERIFY_NONE, NULL);
	}
	if (target_connect(o, &t, c, unreachable, err, errlen) == -1)
		goto done;
	if ((n = relaytest_expand(o->local_domain, ext, c->self, o->smuggling,
	    &cases, err, errlen)) == 0) {
		conn_close(c);
		goto done;
	}
	if ((results = calloc(n, sizeof(*results))) == NULL) {
		snprintf(err, errlen, "out of memory");
		conn_close(c);
		n = 0;
		goto done;
	}
	/* the control case first, on the connection already open */
	results[0].c = cases[0];
	run_case(o, &t, ext, c, &results[0]);
	if (results[0].verdict == RELAYTEST_ERROR ||
	    strcmp(results[0].stage, "BANNER") == 0 ||
	    strcmp(results[0].stage, "HELO") == 0) {
		snprintf(err, errlen, "%s port %s does not talk to us: %s%s%s",
		    o->host, o->port, results[0].note, results[0].text[0] ?
		    ": " : "", results[0].text);
		*unreachable = 1;
		free(results);
		results = NULL;
		n = 0;
		goto done;
	}
	for (size_t i = 1; i < n; i++) {
		results[i].c = cases[i];
		run_case(o, &t, ext, c, &results[i]);
	}
done:
	free(c);
	free(cases);
	if (t.tls != NULL)
		SSL_CTX_free(t.tls);
	*out = results;
	return n;
}

/* --- reports -------------------------------------------------------- */

static void
reply_col(const struct relaytest_result *r, char *buf, size_t len)
{
	if (r->code)
		snprintf(buf, len, "%s %d", r->stage ? r->stage : "-", r->code);
	else
		snprintf(buf, len, "%s -", r->stage ? r->stage : "-");
}

/* relaytest_print_table - aligned table and summary of the results */
void
relaytest_print_table(FILE *fp, const char *target,
    const struct relaytest_result *r, size_t n)
{
	int w[4] = { 4, 6, 9, 5 };	/* CASE SENDER RECIPIENT REPLY */
	size_t cnt[4] = { 0 }, ext = 0, relayed = 0, smug = 0, smugfail = 0;
	char reply[48];

	for (size_t i = 0; i < n; i++) {
		int l[4];

		reply_col(&r[i], reply, sizeof(reply));
		l[0] = (int)strlen(r[i].c.name);
		l[1] = (int)strlen(r[i].c.sender);
		l[2] = (int)strlen(r[i].c.rcpt);
		l[3] = (int)strlen(reply);
		for (int k = 0; k < 4; k++)
			if (l[k] > w[k])
				w[k] = l[k];
	}
	fprintf(fp, "%-*s  %-*s  %-*s  %-*s  %-7s %s\n", w[0], "CASE", w[1],
	    "SENDER", w[2], "RECIPIENT", w[3], "REPLY", "VERDICT", "NOTE");
	for (size_t i = 0; i < n; i++) {
		reply_col(&r[i], reply, sizeof(reply));
		fprintf(fp, "%-*s  %-*s  %-*s  %-*s  %-7s %s%s%s\n", w[0],
		    r[i].c.name, w[1], r[i].c.sender, w[2], r[i].c.rcpt, w[3],
		    reply, verdict_names[r[i].verdict], r[i].note,
		    r[i].text[0] ? ": " : "", r[i].text);
		cnt[r[i].verdict]++;
		if (r[i].c.kind == RELAYTEST_K_SMUGGLE) {
			smug++;
			smugfail += r[i].verdict == RELAYTEST_FAIL;
		} else if (r[i].c.kind != RELAYTEST_K_CONTROL) {
			ext++;
			relayed += r[i].verdict == RELAYTEST_FAIL;
		}
	}
	fprintf(fp, "\n%s: %zu cases: %zu PASS, %zu FAIL, %zu WARN, "
	    "%zu ERROR\n", target, n, cnt[RELAYTEST_PASS],
	    cnt[RELAYTEST_FAIL], cnt[RELAYTEST_WARN], cnt[RELAYTEST_ERROR]);
	fprintf(fp, "relay: %zu of %zu tricks relayed\n", relayed, ext);
	if (smug)
		fprintf(fp, "smuggling: %zu of %zu vectors had smuggled "
		    "commands answered\n", smugfail, smug);
	else
		fprintf(fp, "smuggling: not tested\n");
	switch (relaytest_status(r, n)) {
	case RELAYTEST_EXIT_PASS:
		fprintf(fp, "result: PASS\n");
		break;
	case RELAYTEST_EXIT_RELAYED:
		fprintf(fp, "result: FAIL (open relay or smuggling)\n");
		break;
	case RELAYTEST_EXIT_NO_VERDICT:
		fprintf(fp, "result: NO VERDICT (the control case, mail to "
		    "postmaster, could not run: the server refuses what it "
		    "must accept, so its refusals prove nothing; test a port "
		    "that takes mail without AUTH)\n");
		break;
	default:
		fprintf(fp, "result: INCOMPLETE (some cases could not be "
		    "run)\n");
	}
}

static const char *kind_names[] = {
	[RELAYTEST_K_CONTROL] = "control",
	[RELAYTEST_K_EXTERNAL] = "external",
	[RELAYTEST_K_AMBIGUOUS] = "local",
	[RELAYTEST_K_SMUGGLE] = "smuggling",
};

/* relaytest_print_json - the results as a JSON array */
void
relaytest_print_json(FILE *fp, const struct relaytest_result *r, size_t n)
{
	fprintf(fp, "[");
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s\n  {\"case\": ", i ? "," : "");
		json_write_str(fp, r[i].c.name);
		fprintf(fp, ", \"kind\": \"%s\", \"sender\": ",
		    kind_names[r[i].c.kind]);
		json_write_str(fp, r[i].c.sender);
		fprintf(fp, ", \"recipient\": ");
		json_write_str(fp, r[i].c.rcpt);
		fprintf(fp, ", \"stage\": ");
		json_write_str(fp, r[i].stage ? r[i].stage : "");
		if (r[i].code)
			fprintf(fp, ", \"code\": %d, \"reply\": ", r[i].code);
		else
			fprintf(fp, ", \"code\": null, \"reply\": ");
		json_write_str(fp, r[i].text);
		fprintf(fp, ", \"verdict\": \"%s\", \"note\": ",
		    verdict_names[r[i].verdict]);
		json_write_str(fp, r[i].note);
		fprintf(fp, "}");
	}
	fprintf(fp, "\n]\n");
}

/* 1 when the control case (mail the server must take) was accepted */
static int
control_passed(const struct relaytest_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].c.kind == RELAYTEST_K_CONTROL)
			return r[i].verdict == RELAYTEST_PASS;
	return 0;
}

/*
 * relaytest_status - 1 relayed or smuggled (whatever else happened),
 * 4 no verdict (the control case did not run: a server that refuses
 * even postmaster's mail refuses every trick too, which proves
 * nothing), 3 incomplete, 0 clean
 */
int
relaytest_status(const struct relaytest_result *r, size_t n)
{
	int error = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].verdict == RELAYTEST_FAIL)
			return RELAYTEST_EXIT_RELAYED;
		error |= r[i].verdict == RELAYTEST_ERROR;
	}
	if (!control_passed(r, n))
		return RELAYTEST_EXIT_NO_VERDICT;
	return error ? RELAYTEST_EXIT_INCOMPLETE : RELAYTEST_EXIT_PASS;
}

/* --- moat relaytest ------------------------------------------------- */

static void
relaytest_usage(FILE *fp)
{
	fprintf(fp, "usage: moat relaytest HOST[:PORT] --local-domain D "
	    "[--external-domain E]\n"
	    "           [--json] [--timeout S] [--from-ip ADDR] "
	    "[--no-smuggling]\n"
	    "           [--starttls | --tls]\n");
}

/* "--name VALUE" or "--name=VALUE": the value, or NULL */
static const char *
opt_value(const char *name, int argc, char **argv, int *i, int *bad)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

/* relaytest_main - `moat relaytest ...`; argv starts after the verb */
int
relaytest_main(int argc, char **argv)
{
	struct relaytest_opts o;
	struct relaytest_result *r = NULL;
	const char *target = NULL, *v;
	char host[256], port[8], err[512], label[300];
	int json = 0, bad = 0, unreachable, status;
	double secs = 10;
	size_t n;

	memset(&o, 0, sizeof(o));
	o.smuggling = 1;
	for (int i = 0; i < argc && !bad; i++) {
		if ((v = opt_value("--local-domain", argc, argv, &i, &bad)))
			o.local_domain = v;
		else if ((v = opt_value("--external-domain", argc, argv, &i,
		    &bad)))
			o.external_domain = v;
		else if ((v = opt_value("--from-ip", argc, argv, &i, &bad)))
			o.from_ip = v;
		else if ((v = opt_value("--timeout", argc, argv, &i, &bad))) {
			char *end;

			secs = strtod(v, &end);
			if (end == v || *end != '\0' || !(secs >= 0.1 &&
			    secs <= 3600))
				bad = 1;
		} else if (bad)
			break;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--no-smuggling") == 0)
			o.smuggling = 0;
		else if (strcmp(argv[i], "--starttls") == 0)
			o.tls = RELAYTEST_TLS_STARTTLS;
		else if (strcmp(argv[i], "--tls") == 0)
			o.tls = RELAYTEST_TLS_IMPLICIT;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			relaytest_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || target != NULL)
			bad = 1;
		else
			target = argv[i];
	}
	if (bad || target == NULL || o.local_domain == NULL) {
		relaytest_usage(stderr);
		return 2;
	}
	if (split_hostport(target, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		fprintf(stderr, "moat: relaytest: bad target '%s'\n", target);
		relaytest_usage(stderr);
		return 2;
	}
	if (!relaytest_domain_valid(o.local_domain) ||
	    (o.external_domain && !relaytest_domain_valid(o.external_domain))) {
		fprintf(stderr, "moat: relaytest: bad domain '%s'\n",
		    relaytest_domain_valid(o.local_domain) ?
		    o.external_domain : o.local_domain);
		return 2;
	}
	o.host = host;
	o.port = port;
	o.timeout_ms = (int)(secs * 1000);
	n = relaytest_run(&o, &r, &unreachable, err, sizeof(err));
	if (n == 0) {
		fprintf(stderr, "moat: relaytest: %s\n", err);
		return unreachable ? 3 : 2;
	}
	if (strchr(host, ':'))
		snprintf(label, sizeof(label), "[%s]:%s", host, port);
	else
		snprintf(label, sizeof(label), "%s:%s", host, port);
	if (json)
		relaytest_print_json(stdout, r, n);
	else
		relaytest_print_table(stdout, label, r, n);
	status = relaytest_status(r, n);
	free(r);
	return status;
}

/* --- relaytest_on_start --------------------------------------------- */

/* loopback source addresses tried, in order, for a listener reached
 * through the loopback */
static const char *loop_src4[] = { "127.0.0.1", "127.0.0.2", "127.0.1.1",
    "127.255.255.254" };

/* relaytest_plan - how the battery reaches listener l as an outsider */
int
relaytest_plan(const struct relay_table *rt, const struct conf_listener *l,
    struct relaytest_plan *p)
{
	const char *host = l->address, *src = NULL, *client;
	uint8_t addr[16];
	int loop4;

	memset(p, 0, sizeof(*p));
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(p->host, sizeof(p->host), "%s", host);
	loop4 = strncmp(host, "127.", 4) == 0;
	for (size_t i = 0; i < (loop4 ? sizeof(loop_src4) /
	    sizeof(loop_src4[0]) : 1) && src == NULL; i++) {
		const char *cand = loop4 ? loop_src4[i] : host;

		if (cidr_addr_parse(cand, addr) == -1)
			continue;
		if (!l->proxy_protocol) {
			if (!relay_client_trusted(rt, addr))
				src = cand;
			continue;
		}
		/* behind a load balancer: from one of ours in proxy_from,
		 * naming an outside client in a PROXY header */
		for (size_t j = 0; j < l->n_proxy_from; j++)
			if (cidr_contains(&l->proxy_from[j], addr)) {
				src = cand;
				break;
			}
	}
	if (src == NULL) {
		snprintf(p->skip, sizeof(p->skip), l->proxy_protocol ?
		    "no source address we could use is in proxy_from" :
		    "every source address we could use is in relay_networks: "
		    "the result would mean nothing");
		return -1;
	}
	snprintf(p->src, sizeof(p->src), "%s", src);
	if (l->proxy_protocol) {
		client = strchr(host, ':') ? PROXY_CLIENT6 : PROXY_CLIENT4;
		if (cidr_addr_parse(client, addr) == -1)
			fatalx("%s: client address", __func__);
		if (relay_client_trusted(rt, addr)) {
			snprintf(p->skip, sizeof(p->skip), "%s is in "
			    "relay_networks: the result would mean nothing",
			    client);
			return -1;
		}
		p->proxy = (l->proxy_protocol & PROXY_V1) ? PROXY_V1 : PROXY_V2;
	}
	return 0;
}

static int on_start_run(const struct conf *, const struct conf_listener *,
    const char *, const char *, int);

/* run the relay part against one listener; 0 clean or skipped, -1 not */
static int
on_start_listener(const struct conf *c, const struct relay_table *rt,
    const struct conf_listener *l)
{
	struct relaytest_plan p;

	if (relaytest_plan(rt, l, &p) == -1) {
		log_warn(LOG_CAT_DAEMON, "event=relaytest_skipped listener=%s "
		    "address=%s reason=\"%s\"", l->name, p.host, p.skip);
		return 0;
	}
	return on_start_run(c, l, p.host, p.src, p.proxy);
}

/*
 * the battery against listener l at host from src; proxy: each
 * connection starts with a PROXY header (relaytest_opts.proxy)
 */
static int
on_start_run(const struct conf *c, const struct conf_listener *l,
    const char *host, const char *src, int proxy)
{
	struct relaytest_opts o;
	struct relaytest_result *r = NULL;
	char err[512], a[ESC_MAX], b[ESC_MAX];
	size_t n, fail = 0, warn = 0;
	int unreachable;
	const char *verdict;

	if (!relaytest_domain_valid(c->local_domains[0])) {
		log_warn(LOG_CAT_DAEMON, "event=relaytest_skipped listener=%s "
		    "reason=\"local domain not testable\"", l->name);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.proxy = proxy;
	o.host = host;
	o.local_domain = c->local_domains[0];
	o.from_ip = src;
	o.timeout_ms = 5000;
	o.smuggling = 0;
	{
		char port[8];

		snprintf(port, sizeof(port), "%d", l->port);
		o.port = port;
		n = relaytest_run(&o, &r, &unreachable, err, sizeof(err));
	}
	if (n == 0) {
		log_err(LOG_CAT_DAEMON, "event=relaytest_error listener=%s "
		    "error=\"%s\"", l->name, log_escape(a, sizeof(a), err,
		    strlen(err)));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (r[i].verdict == RELAYTEST_PASS)
			continue;
		log_event(LOG_CAT_DAEMON, r[i].verdict == RELAYTEST_WARN ?
		    LOG_LVL_WARN : LOG_LVL_ERR, "event=relaytest_%s "
		    "listener=%s case=%s sender=\"%s\" rcpt=\"%s\" stage=%s "
		    "code=%d note=\"%s\"", r[i].verdict == RELAYTEST_WARN ?
		    "check" : "fail", l->name, r[i].c.name,
		    log_escape(a, sizeof(a), r[i].c.sender,
		    strlen(r[i].c.sender)), log_escape(b, sizeof(b),
		    r[i].c.rcpt, strlen(r[i].c.rcpt)), r[i].stage ?
		    r[i].stage : "-", r[i].code, r[i].note);
		fail += r[i].verdict == RELAYTEST_FAIL ||
		    r[i].verdict == RELAYTEST_ERROR;
		warn += r[i].verdict == RELAYTEST_WARN;
	}
	/* a refused control case proves the refusals meant nothing */
	verdict = relaytest_status(r, n) == RELAYTEST_EXIT_NO_VERDICT ?
	    "no_verdict" : fail ? "fail" : "pass";
	log_event(LOG_CAT_DAEMON, strcmp(verdict, "pass") == 0 ?
	    LOG_LVL_NOTICE : LOG_LVL_ERR, "event=relaytest listener=%s "
	    "address=%s port=%d source=%s%s cases=%zu fail=%zu warn=%zu "
	    "result=%s", l->name, host, l->port, src, !proxy ? "" :
	    strchr(host, ':') ? " client=" PROXY_CLIENT6 :
	    " client=" PROXY_CLIENT4, n, fail, warn, verdict);
	free(r);
	return strcmp(verdict, "pass") == 0 ? 0 : -1;
}

/*
 * relaytest_on_start - the relay battery against our own mx listeners.
 * The parent never reads from the network: the battery runs in a child
 * of its own, unprivileged and chrooted like the network process, and
 * the parent only waits for its exit status.
 */
int
relaytest_on_start(const struct conf *c)
{
	struct relay_table rt;
	pid_t pid;
	int rc = 0, st;

	if ((pid = fork()) == -1) {
		log_err(LOG_CAT_DAEMON, "event=relaytest_error error=\"fork: "
		    "%s\"", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		while (waitpid(pid, &st, 0) == -1)
			if (errno != EINTR) {
				log_err(LOG_CAT_DAEMON, "event=relaytest_error "
				    "error=\"waitpid: %s\"", strerror(errno));
				return -1;
			}
		return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
	}
	/* the child: the parent's signal handlers are not ours */
	(void)prctl(PR_SET_NAME, "moat-relaytest");
	log_set_proc("relaytest");
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	priv_drop(c->user, c->empty_dir);
	conf_relay_table(c, &rt);
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].role == ROLE_MX &&
		    on_start_listener(c, &rt, &c->listeners[i]) == -1)
			rc = -1;
	_exit(rc == 0 ? 0 : 1);
}
