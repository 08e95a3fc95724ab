/*
 * console_session.h - the web console's logins in memory: session ids,
 * their CSRF tokens and idle times, and the failed logins per address.
 */
#ifndef MOAT_CONSOLE_SESSION_H
#define MOAT_CONSOLE_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CONSOLE_SESSIONS_MAX	64
#define CONSOLE_TOKEN_LEN	43	/* 32 random bytes, base64url */
#define CONSOLE_LOGIN_MAX	64
#define CONSOLE_FAIL_SLOTS	256
#define CONSOLE_FAIL_WINDOW	900	/* seconds */

struct console_session {
	char	 id[CONSOLE_TOKEN_LEN + 1];	/* the cookie; "" unused */
	char	 csrf[CONSOLE_TOKEN_LEN + 1];	/* X-CSRF-Token */
	char	 login[CONSOLE_LOGIN_MAX];
	time_t	 last;				/* last request */
};

/* the failed and pending logins of one client network */
struct console_fail {
	uint8_t	 net[16];			/* console_client_key */
	int	 used;
	int	 count;				/* failures in the window */
	int	 pending;			/* sent to auth, no verdict */
	time_t	 since;				/* window start */
};

struct console_sessions {
	struct console_session	 s[CONSOLE_SESSIONS_MAX];
	struct console_fail	 fail[CONSOLE_FAIL_SLOTS];
	int			 idle;		/* seconds */
	int			 fail_limit;	/* per client and window */
	int			 prefix_v4;	/* a client's network, bits */
	int			 prefix_v6;
};

/*
 * console_cookie_value - the value of cookie name in a Cookie header
 * (NULL: none), copied into buf; NULL when absent or longer than len - 1
 */
const char *console_cookie_value(const char *header, const char *name,
    char *buf, size_t len);

/*
 * console_sessions_init - empty, with the idle time and failure limit;
 * failures are counted per network of prefix_v4 bits (IPv4, 0..32) or
 * prefix_v6 bits (IPv6) of the client's address
 */
void console_sessions_init(struct console_sessions *t, int idle,
    int fail_limit, int prefix_v4, int prefix_v6);

/*
 * console_session_new - a new session for login at now (the oldest one
 * goes when the table is full); NULL only when randomness fails
 */
struct console_session *console_session_new(struct console_sessions *t,
    const char *login, time_t now);

/*
 * console_session_find - the live session whose id is cookie (compared
 * in constant time); touches it. NULL: none, or idle too long (then
 * removed).
 */
struct console_session *console_session_find(struct console_sessions *t,
    const char *cookie, time_t now);

/* console_session_end - forget s (logout) */
void console_session_end(struct console_session *s);

/* console_csrf_ok - 1 when token is s's CSRF token (constant time) */
int console_csrf_ok(const struct console_session *s, const char *token);

/*
 * console_client_key - the network of addr (16 bytes, v4-mapped) whose
 * logins are counted together, as 16 bytes in key: prefix_v4 bits of an
 * IPv4 address, prefix_v6 bits of an IPv6 one (a host has a /64)
 */
void console_client_key(const uint8_t *addr, int prefix_v4, int prefix_v6,
    uint8_t key[16]);

/*
 * console_login_begin - a login of addr goes to auth: 0 (refuse it
 * without a check) when the failures in the window and the logins of
 * its network still waiting for auth reach fail_limit; else 1, and it
 * waits (counted) until console_login_end
 * console_login_end - auth answered the login begun for addr; failed: a
 * wrong password (counted). Returns the failures in the window.
 */
int console_login_begin(struct console_sessions *t, const uint8_t *addr,
    time_t now);
int console_login_end(struct console_sessions *t, const uint8_t *addr,
    int failed, time_t now);

#endif
