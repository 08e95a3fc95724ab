/*
 * fdio.c - whole reads and writes on a blocking descriptor: the loops
 * around read(2) and write(2) that EINTR and short counts call for.
 *
 * Public: fdio_write_all, fdio_read_all.
 *
 * SECURITY: no parsing; the caller bounds len by its buffer.
 * LIMITS: none; a descriptor with a timeout (SO_RCVTIMEO) ends a read
 * with EAGAIN.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "lib/fdio.h"

/* the loop of both: write (out) or read all len bytes at p */
static int
fdio_all(int fd, uint8_t *p, const uint8_t *out, size_t len)
{
	while (len > 0) {
		ssize_t n = out != NULL ? write(fd, out, len) :
		    read(fd, p, len);

		if (n == 0 && out == NULL) {
			errno = ECONNRESET;
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (out != NULL)
			out += n;
		else
			p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fdio_write_all - all of buf, or -1 */
int
fdio_write_all(int fd, const void *buf, size_t len)
{
	return fdio_all(fd, NULL, buf, len);
}

/* fdio_read_all - exactly len bytes, or -1 */
int
fdio_read_all(int fd, void *buf, size_t len)
{
	return fdio_all(fd, buf, NULL, len);
}
