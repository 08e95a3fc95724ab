/*
 * smtp_head.c - the header section of a message being received; see
 * smtp_head.h.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp_head.h"

void
smtp_head_init(struct smtp_head *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	h->max = max;
}

void
smtp_head_free(struct smtp_head *h)
{
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = h->scan = 0;
}

void
smtp_head_reset(struct smtp_head *h)
{
	h->len = h->scan = 0;
	h->done = h->blank = 0;
}

static int
head_reserve(struct smtp_head *h, size_t more)
{
	size_t cap = h->cap ? h->cap : 1024;
	char *nb;

	if (more > SIZE_MAX / 2 - h->len)
		return -1;
	if (h->len + more <= h->cap)
		return 0;
	while (cap < h->len + more)
		cap *= 2;
	if ((nb = realloc(h->buf, cap)) == NULL)
		return -1;
	h->buf = nb;
	h->cap = cap;
	return 0;
}

int
smtp_head_add(struct smtp_head *h, const char *p, size_t len)
{
	if (h->len + len > h->max || head_reserve(h, len) == -1)
		return -1;
	if (len == 0)
		return 0;
	memcpy(h->buf + h->len, p, len);
	h->len += len;
	h->scan = h->len;	/* our own text is not the client's to classify */
	return 0;
}

/* RFC 5322 2.2: field-name is printable US-ASCII but ':'; obsolete
 * syntax allows white space before the colon */
static int
is_field_line(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] >= 33 && p[i] <= 126 && p[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < len && p[i] == ':';
}

/* the section ends at off: what follows goes to the body */
static int
head_end(struct smtp_head *h, size_t off, int blank, struct evbuffer *body)
{
	h->done = 1;
	h->blank = blank;
	if (off < h->len && evbuffer_add(body, h->buf + off, h->len - off) == -1)
		return -1;
	h->len = off;
	h->scan = off;
	return 0;
}

int
smtp_head_feed(struct smtp_head *h, const char *p, size_t len,
    struct evbuffer *body)
{
	const char *nl;

	if (len == 0)
		return 0;
	if (h->done)
		return evbuffer_add(body, p, len);
	if (len > h->max - h->len || head_reserve(h, len) == -1)
		return -1;
	memcpy(h->buf + h->len, p, len);
	h->len += len;
	while ((nl = memchr(h->buf + h->scan, '\n', h->len - h->scan)) != NULL) {
		const char *line = h->buf + h->scan;
		size_t n = (size_t)(nl - line) + 1;

		if (n == 2 && line[0] == '\r')
			return head_end(h, h->scan + n, 1, body);
		if (line[0] != ' ' && line[0] != '\t' && !is_field_line(line, n))
			return head_end(h, h->scan, 0, body);
		h->scan += n;
	}
	return 0;
}

/* the field that starts at off (a line start); 0 when there is none */
static size_t
field_at(const struct smtp_head *h, size_t off, struct smtp_field *f)
{
	size_t end = off, colon;
	const char *nl;

	if (off >= h->len || h->buf[off] == '\r')
		return 0;	/* the end, or the empty line */
	do {
		nl = memchr(h->buf + end, '\n', h->len - end);
		end = nl ? (size_t)(nl - h->buf) + 1 : h->len;
	} while (end < h->len && (h->buf[end] == ' ' || h->buf[end] == '\t'));
	f->off = off;
	f->len = end - off;
	f->name = h->buf + off;
	for (colon = off; colon < end && h->buf[colon] != ':'; colon++)
		;
	f->namelen = colon - off;
	while (f->namelen > 0 && (f->name[f->namelen - 1] == ' ' ||
	    f->name[f->namelen - 1] == '\t'))
		f->namelen--;
	f->value = colon < end ? h->buf + colon + 1 : h->buf + end;
	f->valuelen = (size_t)(h->buf + end - f->value);
	if (f->valuelen >= 2 && f->value[f->valuelen - 2] == '\r' &&
	    f->value[f->valuelen - 1] == '\n')
		f->valuelen -= 2;
	return f->len;
}

size_t
smtp_head_count(const struct smtp_head *h)
{
	struct smtp_field f;
	size_t off = 0, n = 0, l;

	while ((l = field_at(h, off, &f)) > 0) {
		off += l;
		n++;
	}
	return n;
}

int
smtp_head_field(const struct smtp_head *h, size_t i, struct smtp_field *f)
{
	size_t off = 0, l;

	while ((l = field_at(h, off, f)) > 0) {
		if (i-- == 0)
			return 0;
		off += l;
	}
	return -1;
}

/* offset where field i starts, or where a field after the last goes */
static size_t
field_offset(const struct smtp_head *h, size_t i)
{
	struct smtp_field f;
	size_t off = 0, l;

	while (i > 0 && (l = field_at(h, off, &f)) > 0) {
		off += l;
		i--;
	}
	return off;
}

int
smtp_head_insert(struct smtp_head *h, size_t i, const char *field,
    size_t len)
{
	size_t off = field_offset(h, i);

	if (head_reserve(h, len) == -1)
		return -1;
	memmove(h->buf + off + len, h->buf + off, h->len - off);
	memcpy(h->buf + off, field, len);
	h->len += len;
	if (h->scan >= off)
		h->scan += len;
	return 0;
}

int
smtp_head_remove(struct smtp_head *h, size_t i)
{
	struct smtp_field f;

	if (smtp_head_field(h, i, &f) == -1)
		return -1;
	memmove(h->buf + f.off, h->buf + f.off + f.len,
	    h->len - f.off - f.len);
	h->len -= f.len;
	if (h->scan >= f.off + f.len)
		h->scan -= f.len;
	return 0;
}
