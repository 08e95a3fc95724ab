/*
 * ldap_dir.c - recipient lookups in an LDAP or Active Directory
 * directory, for the lookup process.
 *
 * Public: ldap_secret_load, ldap_secret_wipe, ldap_dir_new,
 * ldap_dir_set_event, ldap_dir_lookup, ldap_dir_name, ldap_dir_free.
 *
 * One connection per directory, to the first of its servers that
 * answers. Searches go out with ldap_search_ext and their answers are
 * read with ldap_result and a zero timeout when the connection's
 * descriptor (LDAP_OPT_DESC, non-blocking) is readable: any number of
 * lookups share the connection, each with its own timer, and none waits
 * for another or holds up the loop.
 *
 * Connecting is the one part libldap only does blocking: the TCP
 * connect, the TLS handshake (ldaps, or after StartTLS) and the bind
 * are synchronous calls bounded by LDAP_OPT_NETWORK_TIMEOUT and
 * LDAP_OPT_TIMEOUT. A server that drops packets would hold the loop for
 * `timeout` seconds per server and attempt, and the lookup process also
 * answers tables and aliases, so the connect runs in a short-lived
 * thread of its own (struct ldap_attempt): it walks the servers in
 * order, each bounded by `timeout`, and hands back a bound LDAP handle
 * through a pipe; from then on only the loop's thread touches that
 * handle. The thread sees nothing of the directory but its own copy of
 * what it needs, so a directory freed meanwhile just drops its reference.
 * Lookups that arrive during the attempt wait for it (their own timers
 * run); when every server failed they get TEMPFAIL, the event
 * ldap_unavailable goes out, and for a short while (1 s, doubling to
 * LDAP_RETRY_MAX) lookups get TEMPFAIL at once instead of a new attempt.
 * A connection that breaks is replaced at once, its searches sent again
 * on the new one (once); one that lets a search go unanswered for
 * `timeout` seconds is taken as hung and replaced too.
 *
 * Answers: an entry -> FOUND; none -> NOTFOUND; anything else (no
 * connection, a refused bind, a timeout, an error result such as
 * noSuchObject for a wrong base or busy/unavailable) -> TEMPFAIL. So a
 * directory that is down or broken never accepts every recipient nor
 * refuses every one. Answers are cached, FOUND for cache_positive and
 * NOTFOUND for cache_negative seconds, TEMPFAIL never; a cached answer
 * is served until it expires, also while the directory is down (the
 * cache rides out a short outage), never after.
 *
 * SECURITY: addresses come from SMTP clients; they reach the filter only
 * through ldap_filter_build (RFC 4515 escaping where they are written)
 * and the logs only through log_escape. The bind password is read as
 * root from a 0600 file, kept in memory for reconnects, wiped on free;
 * it is never logged. TLS: the certificate must chain to ca_file (or
 * the system store) and name the server (LDAP_OPT_X_TLS_REQUIRE_CERT
 * demand), TLS 1.2 at least. /etc/ldap/ldap.conf and ~/.ldaprc are not
 * read (LDAPNOINIT): the [ldap] section is the whole configuration. The
 * cache hashes with keyed SipHash (libsodium), so clients cannot aim
 * addresses at one bucket.
 * LIMITS: cache_size entries; one connect attempt at a time; a filter
 * of LDAP_FILTER_MAX bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ldap.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "../daemon/config.h"
#include "../lib/log.h"
#include "ldap_dir.h"
#include "ldap_filter.h"

#define LDAP_RETRY_MIN		1	/* seconds after a failed attempt */
#define LDAP_RETRY_MAX		8
#define LDAP_WHY_MAX		512
#define LDAP_LOG_CAT		LOG_CAT_RELAY

enum ldap_tls_mode { LDT_STARTTLS, LDT_LDAPS, LDT_NONE };

enum ldap_state {
	LDS_DOWN,		/* no connection */
	LDS_CONNECTING,		/* an attempt's thread runs */
	LDS_UP,			/* ld is bound, searches go out */
};

/*
 * One connect attempt, shared by the thread that makes it and the
 * directory that waits for it; the last of the two to let go frees it.
 * The thread owns ld until it writes to done[1]; then the directory
 * takes it.
 */
struct ldap_attempt {
	pthread_mutex_t	 mu;
	int		 refs;
	int		 done[2];	/* pipe: the thread writes one byte */
	/* inputs: copies */
	char		**uris;
	size_t		 n_uris;
	enum ldap_tls_mode tls;
	char		 ca_file[CONF_PATH_MAX];
	struct ldap_secret sec;
	int		 timeout;
	/* outputs */
	LDAP		*ld;
	int		 server;	/* index into uris */
	char		 why[LDAP_WHY_MAX];
};

/* one lookup; owned by the directory's waiting or sent list */
struct ldap_req {
	TAILQ_ENTRY(ldap_req) entry;
	struct ldap_dir	*d;
	char		*addr;		/* the cache key */
	char		*filter;
	lookup_done_fn	*cb;
	void		*arg;
	struct event	*timer;
	int		 msgid;		/* -1: not sent */
	int		 found;		/* entries seen */
	int		 sent_again;	/* after a broken connection */
	uint64_t	 rx_at_send;	/* the directory's rx_count then */
	uint64_t	 sent_at;	/* ms, monotonic */
};
TAILQ_HEAD(ldap_reqs, ldap_req);

/* a cached answer; in a hash chain and the LRU list */
struct ldap_cached {
	struct ldap_cached *hnext;
	TAILQ_ENTRY(ldap_cached) lru;
	uint64_t	 h;
	uint64_t	 expires;	/* ms, monotonic */
	enum lookup_answer answer;
	char		 key[];
};
TAILQ_HEAD(ldap_lru, ldap_cached);

/* a directory; owned by the lookup process */
struct ldap_dir {
	struct event_base *base;
	char		 name[64];
	char		**uris;
	size_t		 n_uris;
	enum ldap_tls_mode tls;
	char		 ca_file[CONF_PATH_MAX];
	char		 basedn[512];
	int		 scope;
	char		 filter[512];
	int		 timeout;
	int		 ttl_pos, ttl_neg;
	struct ldap_secret sec;

	enum ldap_state	 state;
	LDAP		*ld;
	int		 server;	/* index of the server ld talks to */
	struct event	*ev_read;
	uint64_t	 rx_count;	/* messages read on any connection */
	struct ldap_attempt *att;
	struct event	*ev_att;
	uint64_t	 retry_at;	/* ms: no attempt before */
	int		 retry_delay;	/* s */
	uint64_t	 last_event;	/* ms: the last ldap_unavailable */
	int		 warned;	/* down was logged */

	struct ldap_reqs waiting;	/* for a connection */
	struct ldap_reqs sent;		/* on ld */

	struct ldap_cached **buckets;
	size_t		 nbuckets;	/* a power of two */
	size_t		 ncached, max_cached;
	struct ldap_lru	 lru;		/* most recently used first */
	unsigned char	 hkey[crypto_shorthash_KEYBYTES];

	ldap_event_fn	*event_fn;
	void		*event_arg;
};

static void attempt_start(struct ldap_dir *);
static void conn_lost(struct ldap_dir *, const char *);
static void req_send(struct ldap_dir *, struct ldap_req *);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The bind file.
 */

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* one "key = value" of a bind_file into dst; -1 with err set */
static int
secret_field(const char *path, int lineno, const char *key, const char *val,
    int *seen, char *dst, size_t size, char *err, size_t errlen)
{
	if ((*seen)++) {
		snprintf(err, errlen, "%s:%d: a second %s", path, lineno, key);
		return -1;
	}
	if (*val == '\0' || strlen(val) >= size) {
		snprintf(err, errlen, "%s:%d: %s is empty or longer than %zu",
		    path, lineno, key, size - 1);
		return -1;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

/* ldap_secret_load - read and check a bind_file */
int
ldap_secret_load(const char *path, struct ldap_secret *out, char *err,
    size_t errlen)
{
	char buf[LDAP_SECRET_FILE_MAX + 1], *line, *next, *eq, *key, *val;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, lineno = 0, ret = -1, have_dn = 0, have_pw = 0;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto done;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %03o: a bind password file "
		    "must not be readable by group or others (chmod 600); "
		    "refused", path, (unsigned)(st.st_mode & 0777));
		goto done;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %ld, not root; "
		    "refused", path, (long)st.st_uid);
		goto done;
	}
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		len += (size_t)n;
	}
	if (len >= sizeof(buf) - 1) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    LDAP_SECRET_FILE_MAX - 1);
		goto done;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: has a NUL byte", path);
		goto done;
	}
	for (line = buf; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected binddn = DN or "
			    "password = PASSWORD", path, lineno);
			goto done;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (strcmp(key, "binddn") == 0) {
			if (secret_field(path, lineno, key, val, &have_dn,
			    out->binddn, sizeof(out->binddn), err, errlen))
				goto done;
		} else if (strcmp(key, "password") == 0) {
			if (secret_field(path, lineno, key, val, &have_pw,
			    out->password, sizeof(out->password), err, errlen))
				goto done;
		} else {
			char q[64];

			snprintf(err, errlen, "%s:%d: unknown key '%s' "
			    "(binddn, password)", path, lineno,
			    log_escape(q, sizeof(q), key, strlen(key)));
			goto done;
		}
	}
	if (!have_dn || !have_pw) {
		snprintf(err, errlen, "%s: needs both binddn and password",
		    path);
		goto done;
	}
	ret = 0;
done:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (ret == -1)
		ldap_secret_wipe(out);
	return ret;
}

/* ldap_secret_wipe - zero s */
void
ldap_secret_wipe(struct ldap_secret *s)
{
	explicit_bzero(s, sizeof(*s));
}

/*
 * The connect attempt, in a thread of its own.
 */

static void
attempt_unref(struct ldap_attempt *a)
{
	int last;

	pthread_mutex_lock(&a->mu);
	last = --a->refs == 0;
	pthread_mutex_unlock(&a->mu);
	if (!last)
		return;
	if (a->ld != NULL)
		ldap_unbind_ext(a->ld, NULL, NULL);
	for (size_t i = 0; i < a->n_uris; i++)
		free(a->uris[i]);
	free(a->uris);
	close(a->done[0]);
	close(a->done[1]);
	ldap_secret_wipe(&a->sec);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* "what failed: libldap's words (its diagnostic)" */
static void
ldap_why(LDAP *ld, int rc, const char *what, char *why, size_t len)
{
	char *diag = NULL;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(why, len, "%s: %s%s%s%s", what, ldap_err2string(rc),
	    diag != NULL && *diag != '\0' ? " (" : "",
	    diag != NULL ? diag : "", diag != NULL && *diag != '\0' ? ")" :
	    "");
	ldap_memfree(diag);
}

/* connect, TLS and bind to one server; NULL with the reason in why */
static LDAP *
connect_one(struct ldap_attempt *a, const char *uri, char *why, size_t len)
{
	LDAP *ld = NULL;
	struct timeval tv = { a->timeout, 0 };
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, rc;
	struct berval cred;

	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		ldap_why(NULL, rc, "init", why, len);
		return NULL;
	}
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)) {
		snprintf(why, len, "init: cannot set options");
		goto fail;
	}
	if (a->tls != LDT_NONE) {
		if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT,
		    &demand)) != LDAP_OPT_SUCCESS ||
		    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
		    a->ca_file)) != LDAP_OPT_SUCCESS ||
		    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN,
		    &tls12)) != LDAP_OPT_SUCCESS ||
		    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX,
		    &zero)) != LDAP_OPT_SUCCESS) {
			ldap_why(ld, rc, "tls setup (ca_file)", why, len);
			goto fail;
		}
	}
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS) {
		ldap_why(ld, rc, a->tls == LDT_LDAPS ? "connect/tls" :
		    "connect", why, len);
		goto fail;
	}
	if (a->tls == LDT_STARTTLS &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		ldap_why(ld, rc, "starttls", why, len);
		goto fail;
	}
	if (a->sec.binddn[0] != '\0') {
		cred.bv_val = a->sec.password;
		cred.bv_len = strlen(a->sec.password);
		if ((rc = ldap_sasl_bind_s(ld, a->sec.binddn, LDAP_SASL_SIMPLE,
		    &cred, NULL, NULL, NULL)) != LDAP_SUCCESS) {
			ldap_why(ld, rc, "bind", why, len);
			goto fail;
		}
	}
	return ld;
fail:
	ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

static void *
attempt_run(void *arg)
{
	struct ldap_attempt *a = arg;
	char why[LDAP_WHY_MAX];
	size_t used = 0;
	LDAP *ld = NULL;
	int n;

	a->why[0] = '\0';
	for (size_t i = 0; i < a->n_uris && ld == NULL; i++) {
		if ((ld = connect_one(a, a->uris[i], why, sizeof(why))) !=
		    NULL) {
			a->server = (int)i;
			break;
		}
		n = snprintf(a->why + used, sizeof(a->why) - used, "%s%s %s",
		    used ? "; " : "", a->uris[i], why);
		if (n > 0)
			used += (size_t)n < sizeof(a->why) - used ? (size_t)n :
			    sizeof(a->why) - used - 1;
	}
	a->ld = ld;
	/* one byte into an empty pipe: cannot block, cannot fail but EINTR */
	while (write(a->done[1], "", 1) == -1 && errno == EINTR)
		;
	attempt_unref(a);
	return NULL;
}

/*
 * The cache.
 */

static uint64_t
cache_hash(const struct ldap_dir *d, const char *key)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, (const unsigned char *)key, strlen(key),
	    d->hkey);
	memcpy(&h, out, sizeof(h));
	return h;
}

static void
cache_remove(struct ldap_dir *d, struct ldap_cached *c)
{
	struct ldap_cached **pp = &d->buckets[c->h & (d->nbuckets - 1)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	TAILQ_REMOVE(&d->lru, c, lru);
	d->ncached--;
	free(c);
}

/* the live answer for key; expired entries go */
static struct ldap_cached *
cache_get(struct ldap_dir *d, const char *key)
{
	struct ldap_cached *c;
	uint64_t h;

	if (d->nbuckets == 0)
		return NULL;
	h = cache_hash(d, key);
	for (c = d->buckets[h & (d->nbuckets - 1)]; c != NULL; c = c->hnext)
		if (c->h == h && strcmp(c->key, key) == 0)
			break;
	if (c == NULL)
		return NULL;
	if (c->expires <= now_ms()) {
		cache_remove(d, c);
		return NULL;
	}
	TAILQ_REMOVE(&d->lru, c, lru);
	TAILQ_INSERT_HEAD(&d->lru, c, lru);
	return c;
}

static void
cache_put(struct ldap_dir *d, const char *key, enum lookup_answer a)
{
	struct ldap_cached *c;
	int ttl = a == LOOKUP_FOUND ? d->ttl_pos : d->ttl_neg;
	size_t klen = strlen(key);

	if (d->nbuckets == 0 || ttl <= 0 || a == LOOKUP_TEMPFAIL)
		return;
	if ((c = cache_get(d, key)) != NULL)
		cache_remove(d, c);
	while (d->ncached >= d->max_cached && !TAILQ_EMPTY(&d->lru))
		cache_remove(d, TAILQ_LAST(&d->lru, ldap_lru));
	if ((c = malloc(sizeof(*c) + klen + 1)) == NULL)
		return;		/* not cached: the next lookup asks again */
	memcpy(c->key, key, klen + 1);
	c->h = cache_hash(d, key);
	c->answer = a;
	c->expires = now_ms() + (uint64_t)ttl * 1000;
	c->hnext = d->buckets[c->h & (d->nbuckets - 1)];
	d->buckets[c->h & (d->nbuckets - 1)] = c;
	TAILQ_INSERT_HEAD(&d->lru, c, lru);
	d->ncached++;
}

/*
 * Lookups.
 */

static void
req_free(struct ldap_req *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->addr);
	free(r->filter);
	free(r);
}

/* answer r, unlinked from whichever list holds it, and free it */
static void
req_done(struct ldap_dir *d, struct ldap_req *r, struct ldap_reqs *from,
    enum lookup_answer a, const char *why)
{
	char q[128];

	if (from != NULL)
		TAILQ_REMOVE(from, r, entry);
	cache_put(d, r->addr, a);
	log_debug(LDAP_LOG_CAT, "event=ldap_answer ldap=%s rcpt=\"%s\" "
	    "answer=%s%s%s%s", d->name, log_escape(q, sizeof(q), r->addr,
	    strlen(r->addr)), a == LOOKUP_FOUND ? "found" : a ==
	    LOOKUP_NOTFOUND ? "notfound" : "tempfail", why ? " why=\"" : "",
	    why ? why : "", why ? "\"" : "");
	r->cb(r->arg, a, why);
	req_free(r);
}

/* at most one ldap_unavailable a LDAP_EVENT_INTERVAL; always a log line */
static void
dir_unavailable(struct ldap_dir *d, const char *why)
{
	char detail[LDAP_WHY_MAX + 96], q[LDAP_WHY_MAX];
	uint64_t now = now_ms();

	log_escape(q, sizeof(q), why, strlen(why));
	log_warn(LDAP_LOG_CAT, "event=ldap_unavailable ldap=%s why=\"%s\"",
	    d->name, q);
	d->warned = 1;
	if (d->event_fn == NULL || (d->last_event != 0 &&
	    now - d->last_event < (uint64_t)LDAP_EVENT_INTERVAL * 1000))
		return;
	d->last_event = now;
	snprintf(detail, sizeof(detail), "ldap=%s why=\"%s\"", d->name, q);
	d->event_fn(d->event_arg, "ldap_unavailable", detail);
}

static void
req_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ldap_req *r = arg;
	struct ldap_dir *d = r->d;
	int hung;

	if (r->msgid < 0) {
		req_done(d, r, &d->waiting, LOOKUP_TEMPFAIL,
		    "ldap: no connection within the timeout");
		return;
	}
	/*
	 * Nothing at all came back since this search went out, and it went
	 * out long enough ago (not just before the lookup's own deadline,
	 * after a slow connect): the connection is hung.
	 */
	hung = d->rx_count == r->rx_at_send &&
	    now_ms() - r->sent_at >= (uint64_t)d->timeout * 500;
	(void)ldap_abandon_ext(d->ld, r->msgid, NULL, NULL);
	TAILQ_REMOVE(&d->sent, r, entry);
	if (hung) {
		dir_unavailable(d, "the server stopped answering");
		conn_lost(d, "timeout");
	}
	req_done(d, r, NULL, LOOKUP_TEMPFAIL, "ldap: timeout");
}

/* a result message for r: its code decides between NOTFOUND and TEMPFAIL */
static void
req_result(struct ldap_dir *d, struct ldap_req *r, LDAPMessage *msg)
{
	char *diag = NULL, why[LDAP_WHY_MAX];
	int code = LDAP_OTHER;

	if (ldap_parse_result(d->ld, msg, &code, NULL, &diag, NULL, NULL,
	    0) != LDAP_SUCCESS)
		code = LDAP_DECODING_ERROR;
	if (r->found > 0 && (code == LDAP_SUCCESS ||
	    code == LDAP_SIZELIMIT_EXCEEDED))
		req_done(d, r, &d->sent, LOOKUP_FOUND, NULL);
	else if (code == LDAP_SUCCESS)
		req_done(d, r, &d->sent, LOOKUP_NOTFOUND, NULL);
	else {
		snprintf(why, sizeof(why), "ldap: search: %s%s%s%s",
		    ldap_err2string(code), diag && *diag ? " (" : "",
		    diag ? diag : "", diag && *diag ? ")" : "");
		log_warn(LDAP_LOG_CAT, "event=ldap_search_failed ldap=%s "
		    "server=%s code=%d why=\"%s\"", d->name,
		    d->uris[d->server], code, why);
		req_done(d, r, &d->sent, LOOKUP_TEMPFAIL, why);
	}
	ldap_memfree(diag);
}

static struct ldap_req *
req_by_msgid(struct ldap_dir *d, int msgid)
{
	struct ldap_req *r;

	TAILQ_FOREACH(r, &d->sent, entry)
		if (r->msgid == msgid)
			return r;
	return NULL;
}

/* the connection is readable: every complete message, none waited for */
static void
conn_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ldap_dir *d = arg;
	struct timeval zero = { 0, 0 };
	LDAPMessage *msg;
	struct ldap_req *r;
	int rc, err = LDAP_SERVER_DOWN;

	while (d->state == LDS_UP) {
		msg = NULL;
		rc = ldap_result(d->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (rc == 0)
			return;
		if (rc == -1) {
			(void)ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &err);
			conn_lost(d, ldap_err2string(err));
			return;
		}
		d->rx_count++;
		r = req_by_msgid(d, ldap_msgid(msg));
		if (r != NULL) {
			if (rc == LDAP_RES_SEARCH_ENTRY)
				r->found++;
			else if (rc == LDAP_RES_SEARCH_RESULT)
				req_result(d, r, msg);
		}
		ldap_msgfree(msg);
	}
}

/* the search for r on the connection; a failure breaks the connection */
static void
req_send(struct ldap_dir *d, struct ldap_req *r)
{
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	struct timeval limit = { d->timeout, 0 };
	int rc, msgid;

	rc = ldap_search_ext(d->ld, d->basedn, d->scope, r->filter, no_attrs,
	    0, NULL, NULL, &limit, 1, &msgid);
	if (rc != LDAP_SUCCESS) {
		TAILQ_INSERT_TAIL(&d->waiting, r, entry);
		conn_lost(d, ldap_err2string(rc));
		return;
	}
	r->msgid = msgid;
	r->found = 0;
	r->rx_at_send = d->rx_count;
	r->sent_at = now_ms();
	TAILQ_INSERT_TAIL(&d->sent, r, entry);
}

/*
 * The connection dropped (or is hung): searches on it wait again, once,
 * for the next connection, which is asked for at once.
 */
static void
conn_lost(struct ldap_dir *d, const char *why)
{
	struct ldap_req *r;

	log_notice(LDAP_LOG_CAT, "event=ldap_connection_lost ldap=%s "
	    "server=%s why=\"%s\"", d->name, d->uris[d->server], why);
	if (d->ev_read != NULL) {
		event_free(d->ev_read);
		d->ev_read = NULL;
	}
	if (d->ld != NULL) {
		ldap_unbind_ext(d->ld, NULL, NULL);
		d->ld = NULL;
	}
	d->state = LDS_DOWN;
	while ((r = TAILQ_FIRST(&d->sent)) != NULL) {
		TAILQ_REMOVE(&d->sent, r, entry);
		if (r->sent_again++) {
			req_done(d, r, NULL, LOOKUP_TEMPFAIL,
			    "ldap: connection lost");
			continue;
		}
		r->msgid = -1;
		TAILQ_INSERT_TAIL(&d->waiting, r, entry);
	}
	if (!TAILQ_EMPTY(&d->waiting))
		attempt_start(d);
}

/* an attempt finished: take its handle, or fail what waits */
static void
attempt_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ldap_dir *d = arg;
	struct ldap_attempt *a = d->att;
	struct ldap_req *r;
	char byte, why[LDAP_WHY_MAX + 16];
	int sd = -1, fl;

	if (read(fd, &byte, 1) != 1)
		return;		/* EINTR: the event comes again */
	event_free(d->ev_att);
	d->ev_att = NULL;
	d->att = NULL;
	if (a->ld != NULL &&
	    (ldap_get_option(a->ld, LDAP_OPT_DESC, &sd) != LDAP_OPT_SUCCESS ||
	    sd < 0 || (fl = fcntl(sd, F_GETFL)) == -1 ||
	    fcntl(sd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (d->ev_read = event_new(d->base, sd, EV_READ | EV_PERSIST,
	    conn_read_cb, d)) == NULL || event_add(d->ev_read, NULL) == -1)) {
		snprintf(a->why, sizeof(a->why), "no descriptor for the "
		    "connection");
		if (d->ev_read != NULL) {
			event_free(d->ev_read);
			d->ev_read = NULL;
		}
		ldap_unbind_ext(a->ld, NULL, NULL);
		a->ld = NULL;
	}
	if (a->ld != NULL) {
		d->ld = a->ld;
		a->ld = NULL;
		d->server = a->server;
		d->state = LDS_UP;
		d->retry_delay = 0;
		if (d->warned || a->server > 0)
			log_notice(LDAP_LOG_CAT, "event=ldap_connected ldap=%s "
			    "server=%s", d->name, d->uris[d->server]);
		else
			log_info(LDAP_LOG_CAT, "event=ldap_connected ldap=%s "
			    "server=%s", d->name, d->uris[d->server]);
		d->warned = 0;
		attempt_unref(a);
		while (d->state == LDS_UP &&
		    (r = TAILQ_FIRST(&d->waiting)) != NULL) {
			TAILQ_REMOVE(&d->waiting, r, entry);
			req_send(d, r);
		}
		return;
	}
	d->state = LDS_DOWN;
	d->retry_delay = d->retry_delay == 0 ? LDAP_RETRY_MIN :
	    d->retry_delay * 2 > LDAP_RETRY_MAX ? LDAP_RETRY_MAX :
	    d->retry_delay * 2;
	d->retry_at = now_ms() + (uint64_t)d->retry_delay * 1000;
	snprintf(why, sizeof(why), "%s", a->why[0] ? a->why : "no server");
	attempt_unref(a);
	dir_unavailable(d, why);
	while ((r = TAILQ_FIRST(&d->waiting)) != NULL)
		req_done(d, r, &d->waiting, LOOKUP_TEMPFAIL,
		    "ldap: directory unavailable");
}

/* a thread that connects; lookups wait in d->waiting meanwhile */
static void
attempt_start(struct ldap_dir *d)
{
	struct ldap_attempt *a;
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->done[0] = a->done[1] = -1;
	if (pipe2(a->done, O_CLOEXEC) == -1 ||
	    (a->uris = calloc(d->n_uris, sizeof(*a->uris))) == NULL) {
		if (a->done[0] != -1) {
			close(a->done[0]);
			close(a->done[1]);
		}
		free(a);
		goto fail;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->refs = 1;
	for (size_t i = 0; i < d->n_uris; i++) {
		if ((a->uris[i] = strdup(d->uris[i])) == NULL) {
			a->n_uris = i;
			attempt_unref(a);
			goto fail;
		}
	}
	a->n_uris = d->n_uris;
	a->tls = d->tls;
	memcpy(a->ca_file, d->ca_file, sizeof(a->ca_file));
	a->sec = d->sec;
	a->timeout = d->timeout;
	if ((d->ev_att = event_new(d->base, a->done[0], EV_READ | EV_PERSIST,
	    attempt_done_cb, d)) == NULL || event_add(d->ev_att, NULL) == -1) {
		if (d->ev_att != NULL)
			event_free(d->ev_att);
		d->ev_att = NULL;
		attempt_unref(a);
		goto fail;
	}
	a->refs = 2;
	/* the thread takes no signals: the loop's thread handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, attempt_run, a);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		a->refs = 1;
		event_free(d->ev_att);
		d->ev_att = NULL;
		attempt_unref(a);
		goto fail;
	}
	d->att = a;
	d->state = LDS_CONNECTING;
	return;
fail:
	log_err(LDAP_LOG_CAT, "event=ldap_attempt_failed ldap=%s why=\"%s\"",
	    d->name, strerror(errno));
	d->state = LDS_DOWN;
	d->retry_at = now_ms() + LDAP_RETRY_MIN * 1000;
	{
		struct ldap_req *r;

		while ((r = TAILQ_FIRST(&d->waiting)) != NULL)
			req_done(d, r, &d->waiting, LOOKUP_TEMPFAIL,
			    "ldap: cannot start a connection");
	}
}

/*
 * Public.
 */

/* ldap_dir_new - a directory for one [ldap NAME] section */
struct ldap_dir *
ldap_dir_new(struct event_base *base, const struct conf_ldap *lc,
    const struct ldap_secret *sec, char *err, size_t errlen)
{
	struct ldap_dir *d;
	const char *ca;
	int v;

	/* the section is the whole configuration: no ldap.conf, no .ldaprc */
	setenv("LDAPNOINIT", "1", 1);
	/* libldap's global state is set up here, in the loop's thread */
	(void)ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
	if (sodium_init() < 0) {
		snprintf(err, errlen, "ldap %s: libsodium init", lc->name);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	d->base = base;
	TAILQ_INIT(&d->waiting);
	TAILQ_INIT(&d->sent);
	TAILQ_INIT(&d->lru);
	snprintf(d->name, sizeof(d->name), "%s", lc->name);
	if ((d->uris = calloc(lc->n_servers, sizeof(*d->uris))) == NULL)
		goto nomem;
	for (; d->n_uris < lc->n_servers; d->n_uris++)
		if ((d->uris[d->n_uris] = strdup(lc->servers[d->n_uris])) ==
		    NULL)
			goto nomem;
	if (d->n_uris == 0) {
		snprintf(err, errlen, "ldap %s: no servers", lc->name);
		ldap_dir_free(d);
		return NULL;
	}
	d->tls = strcmp(lc->tls, "ldaps") == 0 ? LDT_LDAPS :
	    strcmp(lc->tls, "none") == 0 ? LDT_NONE : LDT_STARTTLS;
	ca = lc->ca_file[0] != '\0' ? lc->ca_file :
	    X509_get_default_cert_file();
	snprintf(d->ca_file, sizeof(d->ca_file), "%s", ca);
	snprintf(d->basedn, sizeof(d->basedn), "%s", lc->base);
	snprintf(d->filter, sizeof(d->filter), "%s", lc->filter);
	d->scope = strcmp(lc->scope, "one") == 0 ? LDAP_SCOPE_ONELEVEL :
	    LDAP_SCOPE_SUBTREE;
	d->timeout = lc->timeout;
	d->ttl_pos = lc->cache_positive;
	d->ttl_neg = lc->cache_negative;
	if (sec != NULL)
		d->sec = *sec;
	if (lc->cache_size > 0 && (d->ttl_pos > 0 || d->ttl_neg > 0)) {
		d->max_cached = (size_t)lc->cache_size;
		for (d->nbuckets = 64; d->nbuckets < d->max_cached &&
		    d->nbuckets < ((size_t)1 << 24); d->nbuckets <<= 1)
			;
		if ((d->buckets = calloc(d->nbuckets,
		    sizeof(*d->buckets))) == NULL)
			goto nomem;
		crypto_shorthash_keygen(d->hkey);
	}
	return d;
nomem:
	snprintf(err, errlen, "ldap %s: out of memory", lc->name);
	ldap_dir_free(d);
	return NULL;
}

/* ldap_dir_set_event - where ldap_unavailable events go */
void
ldap_dir_set_event(struct ldap_dir *d, ldap_event_fn *fn, void *arg)
{
	d->event_fn = fn;
	d->event_arg = arg;
}

/* ldap_dir_name - the section's name */
const char *
ldap_dir_name(const struct ldap_dir *d)
{
	return d->name;
}

/* ldap_dir_lookup - FOUND, NOTFOUND or TEMPFAIL for addr, via cb */
void
ldap_dir_lookup(struct ldap_dir *d, const char *addr, lookup_done_fn *cb,
    void *arg)
{
	struct ldap_cached *c;
	struct ldap_req *r;
	struct timeval tv = { d->timeout, 0 };
	char local[LDAP_FILTER_MAX], filter[LDAP_FILTER_MAX];
	const char *at = strrchr(addr, '@');
	size_t llen;

	if ((c = cache_get(d, addr)) != NULL) {
		cb(arg, c->answer, "ldap: cached");
		return;
	}
	llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	if (llen >= sizeof(local)) {
		cb(arg, LOOKUP_NOTFOUND, "ldap: address too long");
		return;
	}
	memcpy(local, addr, llen);
	local[llen] = '\0';
	if (ldap_filter_build(d->filter, local, at != NULL ? at + 1 : "",
	    filter, sizeof(filter)) == -1) {
		cb(arg, LOOKUP_NOTFOUND, "ldap: address too long for the "
		    "filter");
		return;
	}
	if (d->state == LDS_DOWN && now_ms() < d->retry_at) {
		cb(arg, LOOKUP_TEMPFAIL, "ldap: directory unavailable");
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->addr = strdup(addr)) == NULL ||
	    (r->filter = strdup(filter)) == NULL ||
	    (r->timer = evtimer_new(d->base, req_timeout_cb, r)) == NULL ||
	    evtimer_add(r->timer, &tv) == -1) {
		if (r != NULL)
			req_free(r);
		cb(arg, LOOKUP_TEMPFAIL, "ldap: out of memory");
		return;
	}
	r->d = d;
	r->cb = cb;
	r->arg = arg;
	r->msgid = -1;
	switch (d->state) {
	case LDS_UP:
		req_send(d, r);
		break;
	case LDS_CONNECTING:
		TAILQ_INSERT_TAIL(&d->waiting, r, entry);
		break;
	case LDS_DOWN:
		TAILQ_INSERT_TAIL(&d->waiting, r, entry);
		attempt_start(d);
		break;
	}
}

/* ldap_dir_free - close, answer what waits with TEMPFAIL, free */
void
ldap_dir_free(struct ldap_dir *d)
{
	struct ldap_req *r;
	struct ldap_cached *c;

	if (d == NULL)
		return;
	d->state = LDS_DOWN;
	while ((r = TAILQ_FIRST(&d->sent)) != NULL)
		req_done(d, r, &d->sent, LOOKUP_TEMPFAIL, "ldap: closing");
	while ((r = TAILQ_FIRST(&d->waiting)) != NULL)
		req_done(d, r, &d->waiting, LOOKUP_TEMPFAIL, "ldap: closing");
	if (d->ev_read != NULL)
		event_free(d->ev_read);
	if (d->ld != NULL)
		ldap_unbind_ext(d->ld, NULL, NULL);
	if (d->ev_att != NULL)
		event_free(d->ev_att);
	if (d->att != NULL)
		attempt_unref(d->att);	/* the thread frees it when done */
	while ((c = TAILQ_FIRST(&d->lru)) != NULL)
		cache_remove(d, c);
	free(d->buckets);
	for (size_t i = 0; i < d->n_uris; i++)
		free(d->uris[i]);
	free(d->uris);
	ldap_secret_wipe(&d->sec);
	free(d);
}
