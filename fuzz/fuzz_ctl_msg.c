/*
 * fuzz_ctl_msg.c - libFuzzer target: the control protocol's decoders,
 * a request's arguments (ctl_req_decode, what the daemon reads from an
 * admin client) and an answer (ctl_answer_decode, what the CLI reads).
 *
 * Input: u32 op (little-endian), then the argument bytes; the whole
 * input is also decoded as an answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_msg.h"
#include "io/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
request(const uint8_t *data, size_t size)
{
	struct ipc_reader rd;
	struct ctl_req r;
	char err[256];
	uint32_t op;

	if (size < sizeof(op))
		return;
	memcpy(&op, data, sizeof(op));
	rd.p = data + sizeof(op);
	rd.left = size - sizeof(op);
	rd.err = 0;
	/* only small op numbers exist: try them all, not just 1 in 2^32 */
	if (ctl_req_decode((enum ctl_op)(op % 64), &rd, &r, err,
	    sizeof(err)) == 0 && memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rd.left > size)
		abort();
}

static void
answer(const uint8_t *data, size_t size)
{
	struct ctl_answer a;

	memset(&a, 0, sizeof(a));
	if (ctl_answer_decode(data, size, &a) == 0)
		ctl_answer_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	/* an exact-size copy so that ASan sees any over-read */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	request(copy, size);
	answer(copy, size);
	free(copy);
	return 0;
}
