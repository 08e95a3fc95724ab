/*
 * test_sock_source.c - binding an outbound socket to a source address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/sock_source.h"

static void
test_bind(void **state)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char buf[INET_ADDRSTRLEN];
	int fd;

	(void)state;
	/* "": nothing bound */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sock_bind_source(fd, AF_INET, ""), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(sin.sin_addr.s_addr, htonl(INADDR_ANY));
	close(fd);
	/* an address of the machine */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(sock_bind_source(fd, AF_INET, "127.0.0.3"), 0);
	len = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.3");
	close(fd);
	/* not an address of that family */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	assert_int_equal(sock_bind_source(fd, AF_INET, "::1"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sock_bind_source(fd, AF_UNIX, "127.0.0.1"), -1);
	/* an address the machine does not have */
	assert_int_equal(sock_bind_source(fd, AF_INET, "192.0.2.77"), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
