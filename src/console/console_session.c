/*
 * console_session.c - the web console's sessions and failed logins.
 *
 * Public: console_cookie_value, console_sessions_init, console_session_new,
 * console_session_find, console_session_end, console_csrf_ok,
 * console_client_key, console_login_begin, console_login_end.
 *
 * A session is an id (the cookie) and a CSRF token, each 32 bytes from
 * libsodium's randombytes, base64url; both live only in the control
 * process's memory (a restart logs everyone out). A session ends after
 * idle seconds without a request, or at logout.
 *
 * SECURITY: the Cookie header is the client's: its value is copied only
 * when it fits the caller's buffer (a session id is exactly
 * CONSOLE_TOKEN_LEN). Ids and tokens are compared with sodium_memcmp over their
 * whole fixed length, so the time taken tells nothing of a guess.
 * Failed logins are counted per client network (console_client_key: an
 * IPv4 address, an IPv6 /64 by default, as SMTP clients are counted) in
 * a fixed window; a login is counted as pending from the moment it goes
 * to auth, so many guesses sent at once cannot all pass the check before
 * the first verdict: past fail_limit (failures and pending together) the
 * login is refused before any password check.
 * LIMITS: CONSOLE_SESSIONS_MAX sessions (the least recently used goes),
 * CONSOLE_FAIL_SLOTS networks tracked (the oldest window with no login
 * pending goes).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "console/console_session.h"
#include "lib/cidr.h"

/* console_cookie_value - name's value in a Cookie header */
const char *
console_cookie_value(const char *h, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name);

	while (h != NULL && *h != '\0') {
		size_t n;

		h += strspn(h, " \t;");
		n = strcspn(h, ";");
		if (n > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
			if (n - nl - 1 >= len)
				return NULL;
			memcpy(buf, h + nl + 1, n - nl - 1);
			buf[n - nl - 1] = '\0';
			return buf;
		}
		h += n;
	}
	return NULL;
}

/* console_sessions_init - an empty table */
void
console_sessions_init(struct console_sessions *t, int idle, int fail_limit,
    int prefix_v4, int prefix_v6)
{
	memset(t, 0, sizeof(*t));
	t->idle = idle;
	t->fail_limit = fail_limit;
	t->prefix_v4 = prefix_v4;
	t->prefix_v6 = prefix_v6;
}

static int
token_new(char *dst)
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(dst, CONSOLE_TOKEN_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	return strlen(dst) == CONSOLE_TOKEN_LEN ? 0 : -1;
}

/* console_session_new - a fresh id and token for login */
struct console_session *
console_session_new(struct console_sessions *t, const char *login,
    time_t now)
{
	struct console_session *s = &t->s[0];

	for (size_t i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
		if (t->s[i].id[0] == '\0' || now - t->s[i].last > t->idle) {
			s = &t->s[i];
			break;
		}
		if (t->s[i].last < s->last)
			s = &t->s[i];
	}
	memset(s, 0, sizeof(*s));
	if (token_new(s->id) == -1 || token_new(s->csrf) == -1) {
		memset(s, 0, sizeof(*s));
		return NULL;
	}
	snprintf(s->login, sizeof(s->login), "%s", login);
	s->last = now;
	return s;
}

/* console_session_find - the session of a cookie value, touched */
struct console_session *
console_session_find(struct console_sessions *t, const char *cookie,
    time_t now)
{
	if (cookie == NULL || strlen(cookie) != CONSOLE_TOKEN_LEN)
		return NULL;
	for (size_t i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
		struct console_session *s = &t->s[i];

		if (s->id[0] == '\0' ||
		    sodium_memcmp(s->id, cookie, CONSOLE_TOKEN_LEN) != 0)
			continue;
		if (now - s->last > t->idle) {
			console_session_end(s);
			return NULL;
		}
		s->last = now;
		return s;
	}
	return NULL;
}

/* console_session_end - logout */
void
console_session_end(struct console_session *s)
{
	sodium_memzero(s, sizeof(*s));
}

/* console_csrf_ok - the header's token is the session's */
int
console_csrf_ok(const struct console_session *s, const char *token)
{
	return token != NULL && strlen(token) == CONSOLE_TOKEN_LEN &&
	    sodium_memcmp(s->csrf, token, CONSOLE_TOKEN_LEN) == 0;
}

/* console_client_key - the network a client's logins are counted in */
void
console_client_key(const uint8_t *addr, int prefix_v4, int prefix_v6,
    uint8_t key[16])
{
	struct cidr net;

	cidr_client_net(addr, prefix_v4, prefix_v6, &net);
	memcpy(key, net.addr, 16);
}

/*
 * the slot of addr's network, a free one, or the oldest window's with no
 * login pending (reset)
 */
static struct console_fail *
fail_slot(struct console_sessions *t, const uint8_t *addr, time_t now)
{
	struct console_fail *f, *old = NULL;
	uint8_t key[16];

	console_client_key(addr, t->prefix_v4, t->prefix_v6, key);
	for (size_t i = 0; i < CONSOLE_FAIL_SLOTS; i++) {
		f = &t->fail[i];
		if (f->used && memcmp(f->net, key, 16) == 0) {
			if (now - f->since >= CONSOLE_FAIL_WINDOW) {
				f->count = 0;
				f->since = now;
			}
			return f;
		}
		if (!f->used)
			old = f;
		else if (f->pending == 0 && (old == NULL || (old->used &&
		    f->since < old->since)))
			old = f;
	}
	/* at most CONSOLE_WAITING_MAX slots have a login pending */
	if (old == NULL)
		old = &t->fail[0];
	memset(old, 0, sizeof(*old));
	old->used = 1;
	memcpy(old->net, key, 16);
	old->since = now;
	return old;
}

/* console_login_begin - under the limit with the pending ones: counted */
int
console_login_begin(struct console_sessions *t, const uint8_t *addr,
    time_t now)
{
	struct console_fail *f = fail_slot(t, addr, now);

	if (f->count + f->pending >= t->fail_limit)
		return 0;
	f->pending++;
	return 1;
}

/* console_login_end - auth's verdict came */
int
console_login_end(struct console_sessions *t, const uint8_t *addr,
    int failed, time_t now)
{
	struct console_fail *f = fail_slot(t, addr, now);

	if (f->pending > 0)
		f->pending--;
	if (failed)
		f->count++;
	return f->count;
}
