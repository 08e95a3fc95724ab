/*
 * sock_source.c - bind an outbound socket to a source address
 * (source_address_v4, source_address_v6) before it connects: the mta's
 * deliveries and the lookup process's verification probes leave from
 * the same address.
 *
 * Public: sock_bind_source.
 *
 * SECURITY: the address comes from the configuration (checked there).
 * LIMITS: none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/sock_source.h"

/* sock_bind_source - fd leaves from src ("": the system's choice) */
int
sock_bind_source(int fd, int family, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (src == NULL || src[0] == '\0')
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		len = sizeof(*s4);
		if (inet_pton(AF_INET, src, &s4->sin_addr) != 1)
			goto inval;
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		len = sizeof(*s6);
		if (inet_pton(AF_INET6, src, &s6->sin6_addr) != 1)
			goto inval;
	} else
		goto inval;
#ifdef IP_BIND_ADDRESS_NO_PORT
	/* the port is chosen at connect: no ephemeral port per address */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
#endif
	(void)one;
	return bind(fd, (struct sockaddr *)&ss, len);
inval:
	errno = EINVAL;
	return -1;
}
