/*
 * sendmail_msg.c - standard input of moat sendmail into an SMTP message
 * (see sendmail_msg.h).
 *
 * Public: smsg_prepare, smsg_addr_list, smsg_free.
 *
 * SECURITY: the input is the local user's, untrusted as any input: a
 * line is at most SMSG_LINE_MAX octets, a CR only ends a line with its
 * LF (a bare CR is refused, not passed to the server's strict DATA
 * machine), a NUL is refused, and an address with a space or a control
 * byte never reaches a RCPT command line.
 * LIMITS: SMSG_RCPTS_MAX header recipients, SMSG_ADDR_MAX octets each;
 * the caller bounds the input's size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sendmail_msg.h"

void
smsg_free(struct smsg *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_rcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->data);
	memset(m, 0, sizeof(*m));
}

/* one address, trimmed, into m->rcpts; "" is skipped */
static int
add_rcpt(struct smsg *m, const char *a, size_t len, char *err, size_t errlen)
{
	char **n;

	while (len > 0 && (*a == ' ' || *a == '\t'))
		a++, len--;
	while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	if (len >= SMSG_ADDR_MAX) {
		snprintf(err, errlen, "a recipient address is longer than %d "
		    "bytes", SMSG_ADDR_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f ||
		    a[i] == '<' || a[i] == '>') {
			snprintf(err, errlen, "bad recipient address '%.*s'",
			    (int)(len > 80 ? 80 : len), a);
			return -1;
		}
	if (m->n_rcpts >= SMSG_RCPTS_MAX) {
		snprintf(err, errlen, "more than %d recipients in the header",
		    SMSG_RCPTS_MAX);
		return -1;
	}
	if ((n = realloc(m->rcpts, (m->n_rcpts + 1) * sizeof(*n))) == NULL ||
	    (n[m->n_rcpts] = strndup(a, len)) == NULL) {
		if (n != NULL)
			m->rcpts = n;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->rcpts = n;
	m->n_rcpts++;
	return 0;
}

/*
 * smsg_addr_list - RFC 5322 address-list: elements split on ',' and
 * ';' outside quotes, comments and angle brackets; an element's
 * address is what is inside <...> (a source route "@a,@b:" dropped)
 * or, without brackets, the element less its comments; a group's
 * "name:" is dropped.
 */
int
smsg_addr_list(struct smsg *m, const char *v, size_t len, char *err,
    size_t errlen)
{
	char cur[SMSG_ADDR_MAX], ang[SMSG_ADDR_MAX];
	size_t n = 0, an = 0;
	int quote = 0, depth = 0, in_ang = 0, have_ang = 0;

	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? v[i] : ',';

		if (quote) {
			if (c == '\\' && i + 1 < len) {
				if (n + 2 < sizeof(cur)) {
					cur[n++] = c;
					cur[n++] = v[i + 1];
				}
				i++;
				continue;
			}
			if (c == '"')
				quote = 0;
			if (n + 1 < sizeof(cur))
				cur[n++] = c;
			if (in_ang && an + 1 < sizeof(ang))
				ang[an++] = c;
			continue;
		}
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		switch (c) {
		case '"':
			quote = 1;
			if (n + 1 < sizeof(cur))
				cur[n++] = c;
			if (in_ang && an + 1 < sizeof(ang))
				ang[an++] = c;
			continue;
		case '(':
			depth = 1;
			continue;
		case '<':
			in_ang = 1;
			have_ang = 1;
			an = 0;
			continue;
		case '>':
			in_ang = 0;
			continue;
		case ':':
			if (in_ang) {
				/* "<@a,@b:user@c>": the route goes */
				an = 0;
				continue;
			}
			n = 0;		/* a group's display name */
			continue;
		case ',':
			if (in_ang) {
				if (an + 1 < sizeof(ang))
					ang[an++] = c;
				continue;
			}
			/* FALLTHROUGH */
		case ';':
			if (have_ang ? add_rcpt(m, ang, an, err, errlen) :
			    add_rcpt(m, cur, n, err, errlen))
				return -1;
			n = an = 0;
			have_ang = in_ang = 0;
			continue;
		default:
			break;
		}
		if (in_ang) {
			if (an + 1 >= sizeof(ang))
				goto toolong;
			ang[an++] = c;
		} else {
			if (n + 1 >= sizeof(cur))
				goto toolong;
			cur[n++] = c;
		}
	}
	return 0;
toolong:
	snprintf(err, errlen, "a recipient address is longer than %d bytes",
	    SMSG_ADDR_MAX - 1);
	return -1;
}

/* the name of a header field line: "To:" -> 1 when it is name */
static int
field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':')
		return 0;
	return strncasecmp(line, name, n) == 0;
}

/* the header recipients of a field (its continuation lines joined) */
static int
field_rcpts(struct smsg *m, const char *f, size_t len, char *err,
    size_t errlen)
{
	const char *colon = memchr(f, ':', len);

	return smsg_addr_list(m, colon + 1, len - (size_t)(colon + 1 - f),
	    err, errlen);
}

/* smsg_prepare - see sendmail_msg.h */
int
smsg_prepare(const char *in, size_t len, int flags, struct smsg *m,
    char *err, size_t errlen)
{
	size_t pos = 0, cap, lineno = 0;
	int in_header = 1, dropping = 0, content = 0;
	char *field = NULL;		/* the To/Cc/Bcc field being collected,
					 * its continuation lines joined */
	size_t flen = 0, fcap = 0;
	int fkeep = 0;

	memset(m, 0, sizeof(*m));
	/* every LF may become CRLF and every line may gain a dot; a NUL
	 * follows the text */
	cap = len * 2 + 4;
	if ((m->data = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (pos < len) {
		const char *line = in + pos, *lf;
		size_t ll, next;

		lineno++;
		lf = memchr(line, '\n', len - pos);
		ll = lf != NULL ? (size_t)(lf - line) : len - pos;
		next = pos + ll + (lf != NULL);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll > SMSG_LINE_MAX) {
			snprintf(err, errlen, "line %zu is longer than %d bytes "
			    "(RFC 5322); nothing was sent", lineno,
			    SMSG_LINE_MAX);
			goto fail;
		}
		if (memchr(line, '\0', ll) != NULL) {
			snprintf(err, errlen, "line %zu has a NUL byte; nothing "
			    "was sent", lineno);
			goto fail;
		}
		if (memchr(line, '\r', ll) != NULL) {
			snprintf(err, errlen, "line %zu has a CR without LF; "
			    "nothing was sent", lineno);
			goto fail;
		}
		pos = next;
		if ((flags & SMSG_F_DOT_ENDS) && ll == 1 && line[0] == '.')
			break;
		if (ll > 0)
			content = 1;
		for (size_t i = 0; i < ll; i++)
			if ((unsigned char)line[i] & 0x80)
				m->eightbit = 1;
		if (in_header) {
			int cont = ll > 0 && (line[0] == ' ' || line[0] == '\t');

			/* a field ends where the next begins: take it then */
			if (!cont) {
				if (fkeep && field_rcpts(m, field, flen, err,
				    errlen) == -1)
					goto fail;
				flen = 0;
				fkeep = dropping = 0;
			}
			if (ll == 0 || (!cont && memchr(line, ':', ll) == NULL))
				in_header = 0;	/* the body, or no header */
			else if (!cont) {
				m->has_from |= field_is(line, ll, "From");
				m->has_date |= field_is(line, ll, "Date");
				m->has_msgid |= field_is(line, ll, "Message-ID");
				if (flags & SMSG_F_HEADER_RCPTS) {
					fkeep = field_is(line, ll, "To") ||
					    field_is(line, ll, "Cc") ||
					    field_is(line, ll, "Bcc");
					dropping = field_is(line, ll, "Bcc");
				}
			}
			if (in_header && fkeep) {
				if (flen + ll + 1 > fcap) {
					char *nf;

					fcap = (flen + ll + 1) * 2;
					if ((nf = realloc(field, fcap)) == NULL) {
						snprintf(err, errlen,
						    "out of memory");
						goto fail;
					}
					field = nf;
				}
				memcpy(field + flen, line, ll);
				flen += ll;
				field[flen] = '\0';
			}
			if (in_header && dropping)
				continue;
		}
		if (ll > 0 && line[0] == '.')
			m->data[m->len++] = '.';
		memcpy(m->data + m->len, line, ll);
		m->len += ll;
		m->data[m->len++] = '\r';
		m->data[m->len++] = '\n';
		m->lines++;
	}
	if (in_header && fkeep && field_rcpts(m, field, flen, err,
	    errlen) == -1)
		goto fail;
	m->data[m->len] = '\0';
	free(field);
	if (!content) {
		snprintf(err, errlen, "the message is empty (nothing but empty "
		    "lines); nothing was sent");
		smsg_free(m);
		return -1;
	}
	return 0;
fail:
	free(field);
	smsg_free(m);
	return -1;
}
