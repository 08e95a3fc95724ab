/*
 * ipc.h - small typed messages between moat's processes.
 *
 * A frame is a 16-byte header {u32 len, u16 type, u16 pad, u64 id}
 * followed by len bytes of fields. Fields are appended one by one with
 * ipc_put_* and read back in the same order with ipc_get_*; a reader
 * that runs short or has bytes left over fails (ipc_get_end).
 */
#ifndef MOAT_IPC_H
#define MOAT_IPC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;

#define IPC_HDR_LEN	16
#define IPC_MAX_FRAME	(256u * 1024 * 1024)	/* sanity cap for siblings */

struct ipc_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t pad;
	uint64_t id;
};

/* A message under construction. */
struct ipc_msg {
	struct evbuffer	*buf;		/* payload only */
	uint16_t	 type;
	uint64_t	 id;
};

/* A received message being read field by field. Views into the frame. */
struct ipc_reader {
	const uint8_t	*p;
	size_t		 left;
	int		 err;		/* set once a read ran short */
};

struct ipc_peer;
typedef void (*ipc_msg_cb)(struct ipc_peer *, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg);
typedef void (*ipc_close_cb)(struct ipc_peer *, void *arg);

/*
 * ipc_peer_new - wrap one end of a socketpair. on_msg runs for each
 * complete frame; on_close when the other side goes away or sends a
 * malformed frame (fatal for siblings: the caller decides).
 */
struct ipc_peer *ipc_peer_new(struct event_base *base, int fd, const char *name,
    ipc_msg_cb on_msg, ipc_close_cb on_close, void *arg);
void ipc_peer_free(struct ipc_peer *p);
const char *ipc_peer_name(const struct ipc_peer *p);
/* bytes queued for sending, for back-pressure */
size_t ipc_peer_pending(const struct ipc_peer *p);
/* ipc_peer_on_drain - cb runs each time everything queued was written */
typedef void (*ipc_drain_cb)(struct ipc_peer *, void *arg);
void ipc_peer_on_drain(struct ipc_peer *p, ipc_drain_cb cb);

void ipc_msg_init(struct ipc_msg *m, uint16_t type, uint64_t id);
void ipc_put_u8(struct ipc_msg *m, uint8_t v);
void ipc_put_u32(struct ipc_msg *m, uint32_t v);
void ipc_put_u64(struct ipc_msg *m, uint64_t v);
void ipc_put_i64(struct ipc_msg *m, int64_t v);
void ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len);	/* u32 length + bytes */
void ipc_put_str(struct ipc_msg *m, const char *s);			/* NULL is sent as "" */
/* ipc_put_evbuffer - u32 length + the buffer's contents, moved (drains src) */
void ipc_put_evbuffer(struct ipc_msg *m, struct evbuffer *src);
/* ipc_put_fields - append the fields of src, moved (src stays empty) */
void ipc_put_fields(struct ipc_msg *m, struct ipc_msg *src);
/* ipc_send - frame and queue the message; frees its buffer */
void ipc_send(struct ipc_peer *p, struct ipc_msg *m);
/* ipc_msg_discard - free a message that will not be sent */
void ipc_msg_discard(struct ipc_msg *m);

/* ipc_reader_init - read the fields of len bytes at p */
void ipc_reader_init(struct ipc_reader *r, const void *p, size_t len);
uint8_t ipc_get_u8(struct ipc_reader *r);
uint32_t ipc_get_u32(struct ipc_reader *r);
uint64_t ipc_get_u64(struct ipc_reader *r);
int64_t ipc_get_i64(struct ipc_reader *r);
/* ipc_get_bytes - view of the next length-prefixed field */
const uint8_t *ipc_get_bytes(struct ipc_reader *r, size_t *len);
/* ipc_get_str - copy a string field into dst (truncation is an error) */
void ipc_get_str(struct ipc_reader *r, char *dst, size_t dstlen);
/* ipc_get_end - 0 when every byte was read and no read ran short */
int ipc_get_end(struct ipc_reader *r);

/*
 * ipc_expect - a message of another type than want from p is fatal (a
 * sibling's bug): for the callback of a peer that sends one type only
 */
void ipc_expect(const struct ipc_peer *p, uint16_t type, uint16_t want);

#endif
