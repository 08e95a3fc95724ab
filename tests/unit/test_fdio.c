/*
 * test_fdio.c - fdio_write_all and fdio_read_all over a pipe: whole
 * buffers across short counts, end of file; fdio_send_all to a socket
 * whose peer is gone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "lib/fdio.h"

static void
test_round_trip(void **state)
{
	static uint8_t in[200000], out[sizeof(in)];
	int fds[2];
	pid_t pid;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	assert_int_equal(pipe(fds), 0);
	/* more than a pipe holds: the writer is a child, reads are short */
	if ((pid = fork()) == 0) {
		close(fds[0]);
		_exit(fdio_write_all(fds[1], in, sizeof(in)) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	close(fds[1]);
	assert_int_equal(fdio_read_all(fds[0], out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* the writer is done: a further read is the end of file */
	assert_int_equal(fdio_read_all(fds[0], out, 1), -1);
	assert_int_equal(errno, ECONNRESET);
	close(fds[0]);
}

static void
test_errors(void **state)
{
	uint8_t b[4] = { 0 };
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fdio_write_all(fds[1], b, 0), 0);
	assert_int_equal(fdio_read_all(fds[0], b, 0), 0);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(fdio_write_all(fds[1], b, sizeof(b)), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(fdio_read_all(fds[0], b, sizeof(b)), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_send(void **state)
{
	uint8_t b[100] = { 1 }, got[sizeof(b)];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fdio_send_all(sv[0], b, sizeof(b)), 0);
	assert_int_equal(fdio_read_all(sv[1], got, sizeof(got)), 0);
	assert_memory_equal(b, got, sizeof(b));
	/* the peer is gone: EPIPE, and no SIGPIPE ends the test */
	close(sv[1]);
	assert_int_equal(fdio_send_all(sv[0], b, sizeof(b)), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_send),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
