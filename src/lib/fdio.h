/*
 * fdio.h - whole reads and writes on a blocking descriptor.
 */
#ifndef MOAT_FDIO_H
#define MOAT_FDIO_H

#include <stddef.h>

/*
 * fdio_write_all - write all len bytes of buf, again after EINTR and
 * short writes. 0, or -1 with errno set.
 */
int fdio_write_all(int fd, const void *buf, size_t len);

/*
 * fdio_send_all - fdio_write_all for a socket whose peer may be gone:
 * send(2) with MSG_NOSIGNAL, so that is EPIPE, not SIGPIPE.
 */
int fdio_send_all(int fd, const void *buf, size_t len);

/*
 * fdio_read_all - read exactly len bytes into buf, again after EINTR and
 * short reads. 0, or -1 with errno set (ECONNRESET at end of file).
 */
int fdio_read_all(int fd, void *buf, size_t len);

#endif
