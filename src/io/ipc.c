/*
 * ipc.c - framed, typed messages over socketpairs (see ipc.h).
 *
 * Public: ipc_peer_new, ipc_peer_free, ipc_peer_name, ipc_peer_pending,
 * ipc_peer_on_drain, ipc_msg_init, ipc_msg_discard, ipc_send, ipc_put_*
 * (ipc_put_str, ipc_put_bytes, ipc_put_evbuffer, ipc_put_fields, ...),
 * ipc_reader_init, ipc_get_* (ipc_get_str, ipc_get_bytes, ipc_get_end,
 * ...), ipc_expect.
 *
 * SECURITY: peers are sibling processes of the same daemon; a frame
 * whose length exceeds IPC_MAX_FRAME closes the peer. Field readers
 * never read past the frame and flag short reads in r->err.
 * LIMITS: one frame at most IPC_MAX_FRAME bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "../lib/log.h"
#include "ipc.h"

#define IPC_READ_CHUNK	(256 * 1024 - 512)	/* one read(2); a 256 KiB chain */
#define IPC_READ_TURN	(4 * IPC_READ_CHUNK)	/* a read callback at most */

struct ipc_peer {
	int			 fd;		/* owned */
	struct event		*rev;		/* persistent read */
	struct event		*wev;		/* while the socket is full */
	struct event		*flush;		/* end of loop turn: write */
	struct evbuffer		*in, *out;
	const char		*name;		/* static */
	ipc_msg_cb		 on_msg;
	ipc_close_cb		 on_close;
	ipc_drain_cb		 on_drain;	/* NULL: nobody waits */
	void			*arg;
	int			 closed;
};

static void
ipc_close(struct ipc_peer *p)
{
	if (p->closed)
		return;
	p->closed = 1;
	event_del(p->rev);
	event_del(p->wev);
	evbuffer_drain(p->out, evbuffer_get_length(p->out));
	p->on_close(p, p->arg);
}

/* every whole frame in p->in to on_msg */
static void
ipc_frames(struct ipc_peer *p)
{
	struct evbuffer *in = p->in;
	struct ipc_hdr h;
	struct ipc_reader r;
	uint8_t *frame;

	while (!p->closed && evbuffer_get_length(in) >= IPC_HDR_LEN) {
		evbuffer_copyout(in, &h, sizeof(h));
		if (h.len > IPC_MAX_FRAME) {
			log_err(LOG_CAT_DAEMON, "event=ipc_error peer=%s "
			    "reason=\"frame too large\" len=%u", p->name, h.len);
			ipc_close(p);
			return;
		}
		if (evbuffer_get_length(in) < IPC_HDR_LEN + (size_t)h.len)
			return;
		frame = evbuffer_pullup(in, IPC_HDR_LEN + (ssize_t)h.len);
		ipc_reader_init(&r, frame + IPC_HDR_LEN, h.len);
		p->on_msg(p, h.type, h.id, &r, p->arg);
		/* on_msg may have closed the peer but never frees it */
		evbuffer_drain(in, IPC_HDR_LEN + (size_t)h.len);
	}
}

/*
 * Read what the socket holds, in large reads (a bufferevent of libevent
 * 2.1 reads 4 KiB a callback: two callbacks and four syscalls for one
 * 5 KB message), then hand over the frames; end of file or an error
 * closes the peer after the frames that came before it.
 */
static void
ipc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_peer *p = arg;
	struct evbuffer_iovec v;
	size_t got = 0;
	ssize_t n;
	int eof = 0;

	while (got < IPC_READ_TURN) {
		if (evbuffer_reserve_space(p->in, IPC_READ_CHUNK, &v, 1) < 1)
			fatal("%s: evbuffer_reserve_space", __func__);
		n = read(fd, v.iov_base, v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(p->in, &v, 1);
			got += (size_t)n;
			if ((size_t)n < IPC_READ_CHUNK)
				break;		/* the socket is empty */
			continue;
		}
		evbuffer_commit_space(p->in, &v, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			eof = 1;
		break;
	}
	ipc_frames(p);
	if (eof)
		ipc_close(p);
}

/* write what waits; what the socket does not take waits for EV_WRITE */
static void
ipc_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_peer *p = arg;
	int n;

	while (!p->closed && evbuffer_get_length(p->out) > 0) {
		if ((n = evbuffer_write(p->out, p->fd)) > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(p->wev, NULL);
			return;
		}
		log_err(LOG_CAT_DAEMON, "event=ipc_error peer=%s reason=\"%s\"",
		    p->name, n == -1 ? strerror(errno) : "short write");
		ipc_close(p);
		return;
	}
	event_del(p->wev);
	if (!p->closed && p->on_drain != NULL)
		p->on_drain(p, p->arg);
}

/* ipc_peer_new - wrap one end of a socketpair */
struct ipc_peer *
ipc_peer_new(struct event_base *base, int fd, const char *name,
    ipc_msg_cb on_msg, ipc_close_cb on_close, void *arg)
{
	struct ipc_peer *p;
	int sz = 4 * 1024 * 1024;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("%s: calloc", __func__);
	/* large socket buffers let many messages queue up while the
	 * other side is busy (this is what feeds group commit) */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	p->fd = fd;
	p->name = name;
	p->on_msg = on_msg;
	p->on_close = on_close;
	p->arg = arg;
	if ((p->in = evbuffer_new()) == NULL ||
	    (p->out = evbuffer_new()) == NULL ||
	    (p->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read_cb,
	    p)) == NULL ||
	    (p->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, ipc_flush_cb,
	    p)) == NULL ||
	    (p->flush = event_new(base, -1, 0, ipc_flush_cb, p)) == NULL ||
	    event_add(p->rev, NULL) == -1)
		fatal("%s: event_new", __func__);
	return p;
}

/* ipc_peer_free - release the peer and close its descriptor */
void
ipc_peer_free(struct ipc_peer *p)
{
	if (p == NULL)
		return;
	event_free(p->rev);
	event_free(p->wev);
	event_free(p->flush);
	evbuffer_free(p->in);
	evbuffer_free(p->out);
	close(p->fd);
	free(p);
}

/* ipc_peer_name - the name given at creation */
const char *
ipc_peer_name(const struct ipc_peer *p)
{
	return p->name;
}


/* ipc_peer_on_drain - call cb whenever the output has all been written */
void
ipc_peer_on_drain(struct ipc_peer *p, ipc_drain_cb cb)
{
	p->on_drain = cb;
}

/* ipc_peer_pending - bytes not yet written to the socket */
size_t
ipc_peer_pending(const struct ipc_peer *p)
{
	return evbuffer_get_length(p->out);
}

/* ipc_msg_init - start a message */
void
ipc_msg_init(struct ipc_msg *m, uint16_t type, uint64_t id)
{
	if ((m->buf = evbuffer_new()) == NULL)
		fatal("%s: evbuffer_new", __func__);
	m->type = type;
	m->id = id;
}

static void
put(struct ipc_msg *m, const void *p, size_t len)
{
	if (evbuffer_add(m->buf, p, len) == -1)
		fatal("%s: evbuffer_add", __func__);
}

void ipc_put_u8(struct ipc_msg *m, uint8_t v) { put(m, &v, 1); }
void ipc_put_u32(struct ipc_msg *m, uint32_t v) { put(m, &v, 4); }
void ipc_put_u64(struct ipc_msg *m, uint64_t v) { put(m, &v, 8); }
void ipc_put_i64(struct ipc_msg *m, int64_t v) { put(m, &v, 8); }

void
ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > IPC_MAX_FRAME)
		fatalx("%s: field too large", __func__);
	ipc_put_u32(m, (uint32_t)len);
	put(m, p, len);
}

void
ipc_put_str(struct ipc_msg *m, const char *s)
{
	if (s == NULL)
		s = "";
	ipc_put_bytes(m, s, strlen(s));
}

void
ipc_put_evbuffer(struct ipc_msg *m, struct evbuffer *src)
{
	size_t len = evbuffer_get_length(src);

	if (len > IPC_MAX_FRAME)
		fatalx("%s: field too large", __func__);
	ipc_put_u32(m, (uint32_t)len);
	if (evbuffer_add_buffer(m->buf, src) == -1)
		fatal("%s: evbuffer_add_buffer", __func__);
}

/* ipc_put_fields - append the fields of src, moved */
void
ipc_put_fields(struct ipc_msg *m, struct ipc_msg *src)
{
	if (evbuffer_add_buffer(m->buf, src->buf) == -1)
		fatal("%s: evbuffer_add_buffer", __func__);
}

/* ipc_send - frame and queue the message; frees its buffer */
void
ipc_send(struct ipc_peer *p, struct ipc_msg *m)
{
	struct ipc_hdr h;
	size_t len = evbuffer_get_length(m->buf);

	if (len > IPC_MAX_FRAME)
		fatalx("%s: message too large", __func__);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)len;
	h.type = m->type;
	h.id = m->id;
	if (!p->closed) {
		if (evbuffer_add(p->out, &h, sizeof(h)) == -1 ||
		    evbuffer_add_buffer(p->out, m->buf) == -1)
			fatal("%s: evbuffer_add", __func__);
		/* written once this loop turn's callbacks are done: the
		 * messages of a turn leave in one write */
		event_active(p->flush, EV_TIMEOUT, 0);
	}
	evbuffer_free(m->buf);
	m->buf = NULL;
}

void
ipc_msg_discard(struct ipc_msg *m)
{
	if (m->buf)
		evbuffer_free(m->buf);
	m->buf = NULL;
}

/* ipc_reader_init - read the fields of len bytes at p */
void
ipc_reader_init(struct ipc_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->left = len;
	r->err = 0;
}

static int
get(struct ipc_reader *r, void *dst, size_t len)
{
	if (r->err || r->left < len) {
		r->err = 1;
		memset(dst, 0, len);
		return -1;
	}
	memcpy(dst, r->p, len);
	r->p += len;
	r->left -= len;
	return 0;
}

uint8_t ipc_get_u8(struct ipc_reader *r) { uint8_t v; get(r, &v, 1); return v; }
uint32_t ipc_get_u32(struct ipc_reader *r) { uint32_t v; get(r, &v, 4); return v; }
uint64_t ipc_get_u64(struct ipc_reader *r) { uint64_t v; get(r, &v, 8); return v; }
int64_t ipc_get_i64(struct ipc_reader *r) { int64_t v; get(r, &v, 8); return v; }

const uint8_t *
ipc_get_bytes(struct ipc_reader *r, size_t *len)
{
	uint32_t n = ipc_get_u32(r);
	const uint8_t *p;

	if (r->err || r->left < n) {
		r->err = 1;
		*len = 0;
		return (const uint8_t *)"";
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	*len = n;
	return p;
}

void
ipc_get_str(struct ipc_reader *r, char *dst, size_t dstlen)
{
	size_t n;
	const uint8_t *p = ipc_get_bytes(r, &n);

	if (n >= dstlen || memchr(p, '\0', n) != NULL) {
		r->err = 1;
		if (dstlen)
			dst[0] = '\0';
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

int
ipc_get_end(struct ipc_reader *r)
{
	return (r->err || r->left != 0) ? -1 : 0;
}

/* ipc_expect - fatal unless type is want */
void
ipc_expect(const struct ipc_peer *p, uint16_t type, uint16_t want)
{
	if (type != want)
		fatalx("unexpected message %u from %s (want %u)", type,
		    p->name, want);
}
