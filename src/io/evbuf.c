/*
 * evbuf.c - helpers over libevent's evbuffers.
 *
 * Public: evbuf_walk.
 */
#include <event2/buffer.h>

#include "evbuf.h"

void
evbuf_walk(struct evbuffer *b, size_t from, size_t to, evbuf_walk_cb *fn,
    void *arg)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	int n;

	if (to > evbuffer_get_length(b))
		return;
	while (from < to) {
		if (evbuffer_ptr_set(b, &pos, from, EVBUFFER_PTR_SET) == -1 ||
		    (n = evbuffer_peek(b, (ev_ssize_t)(to - from), &pos, v,
		    16)) <= 0)
			return;
		for (int i = 0; i < n && i < 16 && from < to; i++) {
			size_t take = v[i].iov_len < to - from ?
			    v[i].iov_len : to - from;

			fn(arg, v[i].iov_base, take);
			from += take;
		}
	}
}
