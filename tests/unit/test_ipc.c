/*
 * test_ipc.c - framed messages over a real socketpair and event loop:
 * order and contents of many frames of many sizes, a frame larger than
 * the socket buffers, the frames sent before an end of file arrive
 * before it, an oversized header closes the peer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/event.h>

#include "io/ipc.h"

struct side {
	size_t		 got;		/* frames received */
	uint64_t	 last_id;
	int		 bad;		/* a frame out of order or wrong */
	int		 closed;
	size_t		 got_at_close;
};

struct fixture {
	struct event_base	*base;
	int			 sv[2];
	struct ipc_peer		*a, *b;
	struct side		 sa, sb;
};

/* the payload of frame id: len bytes derived from id and position */
static uint8_t
pattern(uint64_t id, size_t i)
{
	return (uint8_t)(id * 31 + i * 7);
}

static size_t
frame_len(uint64_t id)
{
	return (size_t)((id * 7919) % 20000);
}

static void
on_msg(struct ipc_peer *p, uint16_t type, uint64_t id, struct ipc_reader *r,
    void *arg)
{
	struct side *s = arg;
	const uint8_t *data;
	size_t len;

	data = ipc_get_bytes(r, &len);
	if (type != 7 || id != s->last_id + 1 || ipc_get_end(r) != 0)
		s->bad++;
	else if (len != (id == 1000000 ? 10u * 1024 * 1024 : frame_len(id)))
		s->bad++;
	else
		for (size_t i = 0; i < len; i++)
			if (data[i] != pattern(id, i)) {
				s->bad++;
				break;
			}
	s->last_id = id;
	s->got++;
}

static void
on_close(struct ipc_peer *p, void *arg)
{
	struct side *s = arg;

	s->closed++;
	s->got_at_close = s->got;
}

static void
send_frame(struct ipc_peer *p, uint64_t id, size_t len)
{
	struct ipc_msg m;
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(id, i);
	ipc_msg_init(&m, 7, id);
	ipc_put_bytes(&m, buf, len);
	ipc_send(p, &m);
	free(buf);
}

/* run the loop until cond holds or 10,000 turns passed */
#define RUN_UNTIL(fx, cond) do {					\
	for (int turn_ = 0; !(cond) && turn_ < 10000; turn_++)	\
		event_base_loop((fx)->base, EVLOOP_ONCE);		\
} while (0)

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || (fx->base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fx->sv) == -1)
		return -1;
	fx->a = ipc_peer_new(fx->base, fx->sv[0], "a", on_msg, on_close,
	    &fx->sa);
	fx->b = ipc_peer_new(fx->base, fx->sv[1], "b", on_msg, on_close,
	    &fx->sb);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	ipc_peer_free(fx->a);
	ipc_peer_free(fx->b);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* 2,000 frames of 0..20,000 bytes, both ways, in order and intact */
static void
test_many_frames(void **state)
{
	struct fixture *fx = *state;

	for (uint64_t id = 1; id <= 2000; id++) {
		send_frame(fx->a, id, frame_len(id));
		send_frame(fx->b, id, frame_len(id));
	}
	RUN_UNTIL(fx, fx->sb.got == 2000 && fx->sa.got == 2000);
	assert_int_equal(fx->sb.got, 2000);
	assert_int_equal(fx->sa.got, 2000);
	assert_int_equal(fx->sb.bad, 0);
	assert_int_equal(fx->sa.bad, 0);
	assert_int_equal(ipc_peer_pending(fx->a), 0);
	assert_int_equal(fx->sb.closed + fx->sa.closed, 0);
}

/* 10 MiB in one frame: more than the socket buffers take at once */
static void
test_large_frame(void **state)
{
	struct fixture *fx = *state;

	fx->sb.last_id = 1000000 - 1;
	send_frame(fx->a, 1000000, 10u * 1024 * 1024);
	RUN_UNTIL(fx, fx->sb.got == 1);
	assert_int_equal(fx->sb.got, 1);
	assert_int_equal(fx->sb.bad, 0);
	assert_int_equal(ipc_peer_pending(fx->a), 0);
}

/* a peer that sends and goes away: its frames first, then on_close */
static void
test_frames_then_eof(void **state)
{
	struct fixture *fx = *state;

	for (uint64_t id = 1; id <= 3; id++)
		send_frame(fx->a, id, frame_len(id));
	RUN_UNTIL(fx, ipc_peer_pending(fx->a) == 0);
	ipc_peer_free(fx->a);
	fx->a = NULL;
	RUN_UNTIL(fx, fx->sb.closed > 0);
	assert_int_equal(fx->sb.closed, 1);
	assert_int_equal(fx->sb.got_at_close, 3);
	assert_int_equal(fx->sb.bad, 0);
}

/* a header announcing more than IPC_MAX_FRAME closes the peer */
static void
test_oversized_frame(void **state)
{
	struct fixture *fx = *state;
	struct ipc_hdr h;
	int fd;

	ipc_peer_free(fx->a);		/* write raw bytes on its end */
	fx->a = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fx->sv) == -1)
		fail_msg("socketpair");
	ipc_peer_free(fx->b);
	fx->b = ipc_peer_new(fx->base, fx->sv[1], "b", on_msg, on_close,
	    &fx->sb);
	fd = fx->sv[0];
	memset(&h, 0, sizeof(h));
	h.len = IPC_MAX_FRAME + 1;
	h.type = 7;
	h.id = 1;
	assert_int_equal(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
	RUN_UNTIL(fx, fx->sb.closed > 0);
	assert_int_equal(fx->sb.closed, 1);
	assert_int_equal(fx->sb.got, 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_then_eof, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_oversized_frame, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
