/*
 * fuzz_proto.c - libFuzzer target: the decoder of every IPC message
 * (src/io/proto.c). The first byte picks the message type, the rest is
 * its body. Whatever decodes must encode again to the very same bytes
 * (the encoder and the decoder of a message agree); whatever does not
 * must be refused without reading past the body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "io/ipc.h"
#include "io/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_reader r;
	struct ipc_msg m;
	uint16_t type;
	size_t len;

	if (size < 1 || size > 65536)
		return 0;
	type = data[0] % (PROTO_MAX + 1);	/* 0 and PROTO_MAX: unknown */
	ipc_reader_init(&r, data + 1, size - 1);
	if (proto_recode(type, 42, &r, &m) == -1)
		return 0;
	len = evbuffer_get_length(m.buf);
	if (m.type != type || m.id != 42 || len != size - 1 ||
	    (len > 0 && memcmp(evbuffer_pullup(m.buf, -1), data + 1, len) != 0))
		abort();
	ipc_msg_discard(&m);
	return 0;
}
