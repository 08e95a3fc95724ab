/*
 * fuzz_console.c - libFuzzer target for what the web console reads from
 * a browser: the parameters of /api/OP (a query string or form body,
 * decoded by evhttp, into a ctl_req by console_api_req), the Cookie
 * header (console_cookie_value) and the Host header (console_host_ok).
 *
 * The first byte picks the operation (any, also one the allow-table
 * refuses); the rest is the query string, and as a NUL-ended string the
 * Cookie header. Invariants: a request console_api_req accepts encodes
 * and decodes again to the same request (so the socket's checks held);
 * a cookie value found is a part of the header that holds no ';' and
 * fits the buffer; a Host accepted is at most CONSOLE_HOST_MAX bytes and
 * one of the names allowed (or an address the listener's, in brackets
 * when IPv6) with at most a port after it. A violated invariant aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "console/console_api.h"
#include "console/console_host.h"
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

/* an accepted Host starts with an allowed name and ends with a port */
static void
check_host(const char *s)
{
	static char *names[] = { "console.example.org", "192.0.2.7" };
	static const char *starts[] = { "127.0.0.1", "localhost",
	    "console.example.org", "192.0.2.7", "[" };
	size_t n = 0, len;

	if (!console_host_ok(s, "127.0.0.1", names, 2))
		return;
	CHECK(strlen(s) <= CONSOLE_HOST_MAX);
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		len = strlen(starts[i]);
		if (strncasecmp(s, starts[i], len) == 0) {
			n = s[0] == '[' ? strcspn(s, "]") + 1 : len;
			break;
		}
	}
	CHECK(n > 0);
	CHECK(s[n] == '\0' || (s[n] == ':' &&
	    strspn(s + n + 1, "0123456789") == strlen(s + n + 1)));
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
	check_host(s);
	if ((v = console_cookie_value(s, "moat_console", buf,
	    sizeof(buf))) != NULL) {
		CHECK(strlen(v) < sizeof(buf));
		CHECK(strchr(v, ';') == NULL);
		CHECK(strstr(s, v) != NULL);
	}
	free(s);
	return 0;
}
