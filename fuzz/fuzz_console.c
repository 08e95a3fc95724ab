/*
 * fuzz_console.c - libFuzzer target for what the web console reads from
 * a browser: the parameters of /api/OP (a query string or form body,
 * decoded by evhttp, into a ctl_req by console_api_req) and the Cookie
 * header (console_cookie_value).
 *
 * The first byte picks the operation (any, also one the allow-table
 * refuses); the rest is the query string, and as a NUL-ended string the
 * Cookie header. Invariants: a request console_api_req accepts encodes
 * and decodes again to the same request (so the socket's checks held);
 * a cookie value found is a part of the header that holds no ';' and
 * fits the buffer. A violated invariant aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "console/console_api.h"
#include "console/console_session.h"
#include "io/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "fuzz_console: invariant failed: %s " \
		    "(line %d)\n", #c, __LINE__); \
		abort(); \
	} \
} while (0)

static void
check_request(enum ctl_op op, const char *qs)
{
	struct evkeyvalq kv;
	struct ctl_req q, again;
	struct ipc_msg m;
	struct ipc_reader rd;
	char err[512];

	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(qs, &kv) == 0 &&
	    console_api_req(op, &kv, &q, err, sizeof(err)) == 0) {
		int changes;

		CHECK(console_api_op(ctl_op_name(op), &changes) == op);
		memset(&again, 0, sizeof(again));
		ipc_msg_init(&m, 0, 0);
		ctl_req_encode(&q, &m);
		ipc_reader_init(&rd, evbuffer_pullup(m.buf, -1),
		    evbuffer_get_length(m.buf));
		CHECK(ctl_req_decode(op, &rd, &again, err, sizeof(err)) == 0);
		CHECK(memcmp(&q, &again, sizeof(q)) == 0);
		ipc_msg_discard(&m);
	}
	evhttp_clear_headers(&kv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, buf[48];
	const char *v;
	enum ctl_op op;

	if (size < 1)
		return 0;
	op = (enum ctl_op)(data[0] % CTL_OP_COUNT);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	check_request(op, s);
	if ((v = console_cookie_value(s, "moat_console", buf,
	    sizeof(buf))) != NULL) {
		CHECK(strlen(v) < sizeof(buf));
		CHECK(strchr(v, ';') == NULL);
		CHECK(strstr(s, v) != NULL);
	}
	free(s);
	return 0;
}
