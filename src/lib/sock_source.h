/*
 * sock_source.h - outbound connections from a chosen local address.
 */
#ifndef MOAT_SOCK_SOURCE_H
#define MOAT_SOCK_SOURCE_H

/*
 * sock_bind_source - bind fd (a socket of family AF_INET or AF_INET6,
 * not yet connected) to the numeric address src, port chosen at
 * connect; "" binds nothing. 0, or -1 with errno set (EINVAL: src is
 * not an address of that family).
 */
int sock_bind_source(int fd, int family, const char *src);

#endif
