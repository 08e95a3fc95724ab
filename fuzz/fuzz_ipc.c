/*
 * fuzz_ipc.c - libFuzzer target: the IPC frame reader (src/io/ipc.c) as
 * a process meets it, bytes arriving on a socketpair: headers, lengths,
 * frames cut at the end of the input, then every field reader on each
 * frame's body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "io/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int closed;
static volatile uint8_t sink;

/* read the body as the message types do: every reader, in turn */
static void
on_msg(struct ipc_peer *p, uint16_t type, uint64_t id, struct ipc_reader *r,
    void *arg)
{
	const uint8_t *b;
	size_t len;
	char s[64];

	while (!r->err && r->left > 0) {
		switch (type % 6) {
		case 0:
			(void)ipc_get_u8(r);
			break;
		case 1:
			(void)ipc_get_u32(r);
			break;
		case 2:
			(void)ipc_get_u64(r);
			break;
		case 3:
			(void)ipc_get_i64(r);
			break;
		case 4:
			b = ipc_get_bytes(r, &len);
			if (!r->err && len > 0)
				sink = b[0] ^ b[len - 1];	/* both ends */
			break;
		default:
			ipc_get_str(r, s, sizeof(s));
			if (!r->err && memchr(s, '\0', sizeof(s)) == NULL)
				abort();
		}
		type++;
	}
	(void)ipc_get_end(r);
}

static void
on_close(struct ipc_peer *p, void *arg)
{
	closed = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	struct ipc_peer *p;
	int sv[2];

	if (base == NULL && (base = event_base_new()) == NULL)
		abort();
	if (size > 65536 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		return 0;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);		/* end of file after the input */
	closed = 0;
	p = ipc_peer_new(base, sv[0], "fuzz", on_msg, on_close, NULL);
	while (!closed)
		event_base_loop(base, EVLOOP_ONCE);
	ipc_peer_free(p);
	return 0;
}
