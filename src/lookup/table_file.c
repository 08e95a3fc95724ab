/*
 * table_file.c - reading the table files of the lookup process and
 * the entries they hold (see table_file.h).
 *
 * Public: table_file_read, table_file_mem, table_file_lines,
 * table_file_next, table_file_err, table_file_release, table_word,
 * table_rest_blank, table_addr_parse, table_key.
 *
 * The files come from the administrator, often exported from Windows
 * or Exchange: CR LF line ends and a UTF-8 byte-order mark are taken as
 * they come; UTF-16 (what Windows PowerShell writes by default) is
 * refused with a message that says so rather than read as garbage.
 * SECURITY: a file is read whole into memory; every scan is bounded by
 * its length. Entries are checked by the one address parser (addr.c).
 * LIMITS: TABLE_FILE_MAX bytes a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "table_file.h"

#define READ_CHUNK	(1u << 20)	/* bytes asked of one read(2) at least */

static int
is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static int
ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

/* the checks both sources share: byte-order marks, NUL bytes */
static int
check_text(struct table_file *f, char *err, size_t errlen)
{
	const unsigned char *b = (const unsigned char *)f->buf;
	const char *nul;
	size_t i;

	if (f->len >= 2 && ((b[0] == 0xff && b[1] == 0xfe) ||
	    (b[0] == 0xfe && b[1] == 0xff))) {
		snprintf(err, errlen, "%s: UTF-16 text (save it as UTF-8 or "
		    "ASCII)", f->path);
		return -1;
	}
	if (f->len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) {
		f->buf += 3;
		f->len -= 3;
	}
	if ((nul = memchr(f->buf, '\0', f->len)) != NULL) {
		f->line = 1;
		for (i = 0; f->buf + i < nul; i++)
			f->line += f->buf[i] == '\n';
		table_file_err(f, err, errlen, "NUL byte (a binary or UTF-16 "
		    "file?)");
		return -1;
	}
	return 0;
}

/* table_file_mem - a table from bytes in memory */
int
table_file_mem(struct table_file *f, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->path = name;
	f->buf = buf != NULL ? buf : "";
	f->len = buf != NULL ? len : 0;
	if (f->len > TABLE_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %zu bytes", name,
		    TABLE_FILE_MAX);
		return -1;
	}
	return check_text(f, err, errlen);
}

/* table_file_read - the whole file, in as few reads as its size allows */
int
table_file_read(struct table_file *f, const char *path, char *err,
    size_t errlen)
{
	struct stat st;
	size_t cap, len = 0;
	ssize_t n;
	char *buf = NULL, *nb;
	int fd;

	memset(f, 0, sizeof(*f));
	f->path = path;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	/* room for the size seen now, and a chunk more if it grows */
	cap = (size_t)st.st_size + READ_CHUNK;
	if ((buf = malloc(cap + 1)) == NULL)
		goto nomem;
	for (;;) {
		if (len == cap) {
			if (cap > TABLE_FILE_MAX)
				break;
			if ((nb = realloc(buf, cap * 2 + 1)) == NULL)
				goto nomem;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > TABLE_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path,
		    TABLE_FILE_MAX);
		goto fail;
	}
	close(fd);
	buf[len] = '\0';
	f->owned = buf;
	f->buf = buf;
	f->len = len;
	if (check_text(f, err, errlen) == -1) {
		table_file_release(f);
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
fail:
	free(buf);
	close(fd);
	return -1;
}

/* table_file_lines - newlines + 1 */
size_t
table_file_lines(const struct table_file *f)
{
	const char *p = f->buf, *end = f->buf + f->len;
	size_t n = 1;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* table_file_next - the next line with content */
int
table_file_next(struct table_file *f, struct table_line *l)
{
	const char *s, *e, *nl, *end = f->buf + f->len;

	while (f->pos < f->len) {
		s = f->buf + f->pos;
		nl = memchr(s, '\n', (size_t)(end - s));
		e = nl != NULL ? nl : end;
		f->pos = (size_t)(e - f->buf) + (nl != NULL);
		f->line++;
		l->indented = s < e && is_blank(*s);
		while (s < e && is_blank(*s))
			s++;
		while (e > s && (is_blank(e[-1]) || e[-1] == '\r'))
			e--;
		if (s == e || *s == '#')
			continue;
		l->p = s;
		l->len = (size_t)(e - s);
		return 1;
	}
	return 0;
}

/* table_file_err - "path:line: what" */
void
table_file_err(const struct table_file *f, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return;
	n = snprintf(err, errlen, "%s:%u: ", f->path, f->line);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

void
table_file_release(struct table_file *f)
{
	free(f->owned);
	memset(f, 0, sizeof(*f));
}

/* table_word - the next word, quoted parts kept whole */
int
table_word(const char **p, const char *end, const char *seps,
    const char **w, size_t *wlen)
{
	const char *s = *p;
	int quoted = 0;

	while (s < end && (is_blank(*s) || strchr(seps, *s) != NULL))
		s++;
	if (s == end || *s == '#') {
		*p = end;
		return 0;
	}
	*w = s;
	for (; s < end; s++) {
		if (quoted) {
			if (*s == '\\' && s + 1 < end)
				s++;
			else if (*s == '"')
				quoted = 0;
		} else if (*s == '"')
			quoted = 1;
		else if (is_blank(*s) || strchr(seps, *s) != NULL)
			break;
	}
	*wlen = (size_t)(s - *w);
	*p = s;
	return 1;
}

/* table_rest_blank - nothing but blanks and maybe a comment */
int
table_rest_blank(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p == end || *p == '#';
}

/* table_key - the lookup form of local@domain (domain NULL: bare) */
size_t
table_key(char *buf, const char *local, const char *domain)
{
	size_t ll = strlen(local), dl = domain != NULL ? strlen(domain) : 0;
	size_t i, n;

	if (ll > ADDR_LOCAL_MAX || dl > ADDR_DOMAIN_MAX)
		return 0;
	for (i = 0; i < ll; i++)
		buf[i] = (char)ascii_lower((unsigned char)local[i]);
	n = ll;
	if (domain != NULL) {
		buf[n++] = '@';
		for (i = 0; i < dl; i++)
			buf[n++] = (char)ascii_lower((unsigned char)domain[i]);
	}
	buf[n] = '\0';
	return n;
}

/* parse "<" w [suffix] ">" with the one address parser */
static enum addr_err
parse_wrapped(const char *w, size_t n, const char *suffix,
    struct mail_addr *a)
{
	char path[ADDR_PATH_MAX + 1];
	size_t sl = strlen(suffix), used;
	enum addr_err r;

	if (n + sl + 2 > ADDR_PATH_MAX)
		return ADDR_ERR_TOO_LONG;
	path[0] = '<';
	memcpy(path + 1, w, n);
	memcpy(path + 1 + n, suffix, sl);
	path[1 + n + sl] = '>';
	r = addr_parse_path(path, n + sl + 2, ADDR_F_UTF8, a, &used);
	return r != ADDR_OK || used == n + sl + 2 ? r : ADDR_ERR_SYNTAX;
}

static const char *
addr_why(enum addr_err r, const char *what)
{
	return r == ADDR_ERR_TOO_LONG ? "too long" : what;
}

/* table_addr_parse - one entry word, checked by addr_parse_path */
int
table_addr_parse(const char *w, size_t n, int allow, struct table_addr *out,
    const char **why)
{
	struct mail_addr a;
	enum addr_err r;

	memset(out, 0, sizeof(*out));
	if (n >= 5 && strncasecmp(w, "smtp:", 5) == 0) {
		*why = "an Exchange \"smtp:\" prefix (remove it)";
		return -1;
	}
	if (n > 0 && w[0] == '@') {
		/* "@domain": the domain as the parser reads one */
		if (!(allow & TA_ALLOW_CATCHALL)) {
			*why = "a catch-all \"@domain\" is not allowed here";
			return -1;
		}
		if (n + 1 > ADDR_PATH_MAX)
			r = ADDR_ERR_TOO_LONG;
		else {
			char tmp[ADDR_PATH_MAX];

			/* "x@domain": the local part only makes it a path */
			tmp[0] = 'x';
			memcpy(tmp + 1, w, n);
			r = parse_wrapped(tmp, n + 1, "", &a);
		}
		if (r != ADDR_OK || a.is_literal || a.had_route) {
			*why = addr_why(r, "not a valid \"@domain\"");
			return -1;
		}
		out->kind = TA_CATCHALL;
		out->key_len = (size_t)snprintf(out->key, sizeof(out->key),
		    "@%s", a.domain);
		out->domain = out->key + 1;
		memcpy(out->text, out->key, out->key_len + 1);
		return 0;
	}
	r = parse_wrapped(w, n, "", &a);
	if (r == ADDR_OK && a.domain[0] != '\0') {
		if (a.is_literal) {
			*why = "an address literal is not allowed";
			return -1;
		}
		if (a.had_route) {
			*why = "a source route is not allowed";
			return -1;
		}
		out->kind = TA_ADDR;
		out->key_len = table_key(out->key, a.local_plain, a.domain);
		out->domain = addr_domain_of(out->key, NULL);
		addr_format(&a, out->text, sizeof(out->text));
		return 0;
	}
	if (memchr(w, '@', n) != NULL) {
		*why = addr_why(r, "not a valid address");
		return -1;
	}
	if (!(allow & TA_ALLOW_BARE)) {
		*why = "not an address (local@domain)";
		return -1;
	}
	if ((r = parse_wrapped(w, n, "@x", &a)) != ADDR_OK || a.quoted) {
		*why = addr_why(r, "not a valid local part");
		return -1;
	}
	out->kind = TA_BARE;
	out->key_len = table_key(out->key, a.local_plain, NULL);
	out->domain = out->key + out->key_len;
	memcpy(out->text, w, n);
	out->text[n] = '\0';
	return 0;
}
