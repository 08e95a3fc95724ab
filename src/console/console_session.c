/*
 * console_session.c - the web console's sessions and failed logins.
 *
 * Public: console_cookie_value, console_sessions_init, console_session_new,
 * console_session_find, console_session_end, console_csrf_ok,
 * console_login_allowed, console_login_failed.
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
 * Failed logins are counted per client address in a fixed window; past
 * fail_limit the login is refused before any password check.
 * LIMITS: CONSOLE_SESSIONS_MAX sessions (the least recently used goes),
 * CONSOLE_FAIL_SLOTS addresses tracked (the oldest window goes).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "console/console_session.h"

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
console_sessions_init(struct console_sessions *t, int idle, int fail_limit)
{
	memset(t, 0, sizeof(*t));
	t->idle = idle;
	t->fail_limit = fail_limit;
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

/* the slot of addr, a free one, or the oldest window's (reset) */
static struct console_fail *
fail_slot(struct console_sessions *t, const uint8_t *addr, time_t now)
{
	struct console_fail *f, *old = &t->fail[0];

	for (size_t i = 0; i < CONSOLE_FAIL_SLOTS; i++) {
		f = &t->fail[i];
		if (f->used && memcmp(f->addr, addr, 16) == 0) {
			if (now - f->since >= CONSOLE_FAIL_WINDOW) {
				f->count = 0;
				f->since = now;
			}
			return f;
		}
		if (!f->used || (old->used && f->since < old->since))
			old = f;
	}
	memset(old, 0, sizeof(*old));
	old->used = 1;
	memcpy(old->addr, addr, 16);
	old->since = now;
	return old;
}

/* console_login_allowed - under the limit in this window */
int
console_login_allowed(struct console_sessions *t, const uint8_t *addr,
    time_t now)
{
	return fail_slot(t, addr, now)->count < t->fail_limit;
}

/* console_login_failed - one more failure of addr */
int
console_login_failed(struct console_sessions *t, const uint8_t *addr,
    time_t now)
{
	struct console_fail *f = fail_slot(t, addr, now);

	return ++f->count;
}
