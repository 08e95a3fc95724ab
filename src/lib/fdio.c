/*
 * fdio.c - whole reads and writes on a blocking descriptor: the loops
 * around read(2), write(2) and send(2) that EINTR and short counts call
 * for.
 *
 * Public: fdio_write_all, fdio_send_all, fdio_read_all.
 *
 * SECURITY: no parsing; the caller bounds len by its buffer.
 * LIMITS: none; a descriptor with a timeout (SO_RCVTIMEO) ends a read
 * with EAGAIN.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/socket.h>

#include "lib/fdio.h"

enum fdio_op {
	FDIO_READ,
	FDIO_WRITE,
	FDIO_SEND,
};

/* the loop of all three: len bytes between fd and p */
static int
fdio_all(int fd, enum fdio_op op, uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (op == FDIO_READ)
			n = read(fd, p, len);
		else if (op == FDIO_WRITE)
			n = write(fd, p, len);
		else
			n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == 0 && op == FDIO_READ) {
			errno = ECONNRESET;
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fdio_write_all - all of buf, or -1 */
int
fdio_write_all(int fd, const void *buf, size_t len)
{
	/* written from, never to */
	return fdio_all(fd, FDIO_WRITE, (uint8_t *)(uintptr_t)buf, len);
}

/* fdio_send_all - all of buf to a socket, without SIGPIPE, or -1 */
int
fdio_send_all(int fd, const void *buf, size_t len)
{
	return fdio_all(fd, FDIO_SEND, (uint8_t *)(uintptr_t)buf, len);
}

/* fdio_read_all - exactly len bytes, or -1 */
int
fdio_read_all(int fd, void *buf, size_t len)
{
	return fdio_all(fd, FDIO_READ, buf, len);
}
