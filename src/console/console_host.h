/*
 * console_host.h - whether a request's Host names the web console (DNS
 * rebinding: a hostile page whose name now points at the console's
 * address still sends its own name in Host).
 */
#ifndef MOAT_CONSOLE_HOST_H
#define MOAT_CONSOLE_HOST_H

#include <stddef.h>

#define CONSOLE_HOST_MAX	262	/* a name of 253, ":" and a port */

/*
 * console_host_ok - 1 when host (a Host header's value; NULL: none) is
 * addr (console_listen's numeric address), "localhost" or one of
 * names[0..nnames) (lower case; numeric addresses as inet_ntop writes
 * them), with or without ":PORT"; an IPv6 address in brackets. Names
 * compare without regard to case. 0 otherwise.
 */
int console_host_ok(const char *host, const char *addr,
    char *const *names, size_t nnames);

#endif
