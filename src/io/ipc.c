/*
 * ipc.c - framed, typed messages over socketpairs (see ipc.h).
 *
 * Public: ipc_peer_new, ipc_peer_free, ipc_send, ipc_put_*, ipc_get_*.
 *
 * SECURITY: peers are sibling processes of the same daemon; a frame
 * whose length exceeds IPC_MAX_FRAME closes the peer. Field readers
 * never read past the frame and flag short reads in r->err.
 * LIMITS: one frame at most IPC_MAX_FRAME bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "../lib/log.h"
#include "ipc.h"

struct ipc_peer {
	struct bufferevent	*bev;		/* owned, closes fd */
	const char		*name;		/* static */
	ipc_msg_cb		 on_msg;
	ipc_close_cb		 on_close;
	void			*arg;
	int			 closed;
};

static void
ipc_read_cb(struct bufferevent *bev, void *arg)
{
	struct ipc_peer *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct ipc_hdr h;
	struct ipc_reader r;
	uint8_t *frame;

	while (!p->closed && evbuffer_get_length(in) >= IPC_HDR_LEN) {
		evbuffer_copyout(in, &h, sizeof(h));
		if (h.len > IPC_MAX_FRAME) {
			log_err(LOG_CAT_DAEMON, "event=ipc_error peer=%s "
			    "reason=\"frame too large\" len=%u", p->name, h.len);
			p->closed = 1;
			p->on_close(p, p->arg);
			return;
		}
		if (evbuffer_get_length(in) < IPC_HDR_LEN + (size_t)h.len)
			return;
		frame = evbuffer_pullup(in, IPC_HDR_LEN + (ssize_t)h.len);
		r.p = frame + IPC_HDR_LEN;
		r.left = h.len;
		r.err = 0;
		p->on_msg(p, h.type, h.id, &r, p->arg);
		/* on_msg may have closed the peer but never frees it */
		evbuffer_drain(in, IPC_HDR_LEN + (size_t)h.len);
	}
}

static void
ipc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ipc_peer *p = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (!p->closed) {
			p->closed = 1;
			p->on_close(p, p->arg);
		}
	}
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
	p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL)
		fatal("%s: bufferevent_socket_new", __func__);
	p->name = name;
	p->on_msg = on_msg;
	p->on_close = on_close;
	p->arg = arg;
	bufferevent_setcb(p->bev, ipc_read_cb, NULL, ipc_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	return p;
}

/* ipc_peer_free - release the peer and close its descriptor */
void
ipc_peer_free(struct ipc_peer *p)
{
	if (p == NULL)
		return;
	bufferevent_free(p->bev);
	free(p);
}

/* ipc_peer_name - the name given at creation */
const char *
ipc_peer_name(const struct ipc_peer *p)
{
	return p->name;
}


/* ipc_peer_pending - bytes not yet written to the socket */
size_t
ipc_peer_pending(const struct ipc_peer *p)
{
	return evbuffer_get_length(bufferevent_get_output(p->bev));
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
		struct evbuffer *out = bufferevent_get_output(p->bev);

		if (evbuffer_add(out, &h, sizeof(h)) == -1 ||
		    evbuffer_add_buffer(out, m->buf) == -1)
			fatal("%s: evbuffer_add", __func__);
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
