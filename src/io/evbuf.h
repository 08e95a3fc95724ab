/*
 * evbuf.h - helpers over libevent's evbuffers.
 */
#ifndef MOAT_EVBUF_H
#define MOAT_EVBUF_H

#include <stddef.h>

struct evbuffer;

typedef void evbuf_walk_cb(void *arg, const void *p, size_t len);

/*
 * evbuf_walk - hand bytes from..to of b to fn, in its own pieces (no
 * copy, no pullup); nothing when from >= to or to is past the end.
 */
void evbuf_walk(struct evbuffer *b, size_t from, size_t to,
    evbuf_walk_cb *fn, void *arg);

#endif
