/*
 * queue_logins.c - per-login metrics: for each user, messages stored,
 * their recipients and AUTH failures (moat_login_*{login="NAME"}); for
 * each relay client (an address of relay_networks sending without
 * AUTH), the same (moat_relay_client_*{client="ADDRESS"}). Counters
 * since the queue process started, in memory.
 *
 * Public: queue_logins_new, queue_logins_free, queue_logins_set_conf,
 * queue_logins_login, queue_logins_stored, queue_logins_auth_fail,
 * queue_logins_stats.
 *
 * At most login_metrics_max names (users and clients together) get
 * series of their own, in the order they first appear; the rest count
 * under login="other" and client="other". A name gets a series only
 * when it is known to be an account: it authenticated (now, or before:
 * login_nets) or a message was stored for it. An AUTH failure for any
 * other name counts under login="unknown": the names an attacker tries
 * never make series. A lowered cap keeps the series that exist.
 *
 * Whether a name never seen since start ever logged in is a question to
 * queue.db (login_nets); the names it said no to are remembered in a
 * small table (UNKNOWN_SLOTS, one name a slot, the newest wins), so that
 * a password list tried again and again does not ask SQLite each time.
 * A login of the name forgets it (login_nets gets its row at a login),
 * a reload forgets them all.
 *
 * SECURITY: user names are the users file's, addresses are relay
 * clients' (the administrator's networks); the one name from outside,
 * the one tried at AUTH, only reaches a label once it logged in.
 * Labels are escaped for the exposition format where they are written
 * (prom_label_escape).
 * LIMITS: login_metrics_max names (CONF bound 100000), each at most
 * PROTO_USER_MAX bytes; a hash table of twice as many slots.
 * UNKNOWN_SLOTS names known not to be accounts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "policy/relay.h"
#include "queue/queue_db.h"
#include "queue/queue_logins.h"

#define UNKNOWN_SLOTS	256	/* a power of two */

enum login_kind { LOGIN_USER, LOGIN_CLIENT };

struct login_counts {
	int64_t	messages, recipients, auth_failures;
};

struct login_entry {
	enum login_kind		 kind;
	char			 name[PROTO_USER_MAX];
	struct login_counts	 n;
};

/* Owned by the queue process (queue_proc.c). */
struct queue_logins {
	const struct conf	*conf;		/* not owned */
	struct queue_db		*db;		/* not owned */
	struct relay_table	 relay;		/* views into conf */
	struct login_entry	*v;		/* owned, n used */
	size_t			 n, cap;
	size_t			*slot;		/* owned: index + 1, 0 empty */
	size_t			 nslots;	/* a power of two */
	struct login_counts	 other[2];	/* by kind, beyond the cap */
	struct login_counts	 unknown;	/* AUTH for names never logged in */
	/* names queue.db said never logged in; "": an empty slot */
	char			 (*unknown_names)[PROTO_USER_MAX]; /* owned */
};

/* queue_logins_new - see queue_logins.h */
struct queue_logins *
queue_logins_new(const struct conf *c, struct queue_db *db)
{
	struct queue_logins *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->unknown_names = calloc(UNKNOWN_SLOTS,
	    sizeof(*l->unknown_names))) == NULL) {
		free(l);
		return NULL;
	}
	l->db = db;
	queue_logins_set_conf(l, c);
	return l;
}

/* queue_logins_free - see queue_logins.h */
void
queue_logins_free(struct queue_logins *l)
{
	if (l == NULL)
		return;
	free(l->v);
	free(l->slot);
	free(l->unknown_names);
	free(l);
}

/* queue_logins_set_conf - see queue_logins.h */
void
queue_logins_set_conf(struct queue_logins *l, const struct conf *c)
{
	l->conf = c;
	conf_relay_table(c, &l->relay);
	/* what an account is may have changed with the users file */
	memset(l->unknown_names, 0, UNKNOWN_SLOTS * sizeof(*l->unknown_names));
}

static size_t
login_hash(enum login_kind kind, const char *name)
{
	return (size_t)(hash_fnv1a(name, strlen(name)) * 2u + kind);
}

/* the entry of (kind, name), or NULL */
static struct login_entry *
login_find(struct queue_logins *l, enum login_kind kind, const char *name)
{
	if (l->nslots == 0)
		return NULL;
	for (size_t h = login_hash(kind, name) & (l->nslots - 1);
	    l->slot[h] != 0; h = (h + 1) & (l->nslots - 1)) {
		struct login_entry *e = &l->v[l->slot[h] - 1];

		if (e->kind == kind && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* put entry i in the hash table (which has room) */
static void
login_index(struct queue_logins *l, size_t i)
{
	size_t h = login_hash(l->v[i].kind, l->v[i].name) & (l->nslots - 1);

	while (l->slot[h] != 0)
		h = (h + 1) & (l->nslots - 1);
	l->slot[h] = i + 1;
}

/* a new entry for (kind, name); NULL when the cap is reached */
static struct login_entry *
login_add(struct queue_logins *l, enum login_kind kind, const char *name)
{
	/* the names of the shared series are never a name's own */
	if (l->n >= (size_t)l->conf->login_metrics_max ||
	    strlen(name) >= PROTO_USER_MAX || strcmp(name, "other") == 0 ||
	    strcmp(name, "unknown") == 0)
		return NULL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct login_entry *v;

		if ((v = reallocarray(l->v, cap, sizeof(*v))) == NULL)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	if ((l->n + 1) * 2 > l->nslots) {
		size_t ns = l->nslots ? l->nslots * 2 : 64, *slot;

		if ((slot = calloc(ns, sizeof(*slot))) == NULL)
			return NULL;
		free(l->slot);
		l->slot = slot;
		l->nslots = ns;
		for (size_t i = 0; i < l->n; i++)
			login_index(l, i);
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	l->v[l->n].kind = kind;
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	login_index(l, l->n);
	return &l->v[l->n++];
}

/* the counters of (kind, name): its own, made when known, else "other" */
static struct login_counts *
login_counts(struct queue_logins *l, enum login_kind kind, const char *name,
    int known)
{
	struct login_entry *e;

	if ((e = login_find(l, kind, name)) == NULL && known)
		e = login_add(l, kind, name);
	return e != NULL ? &e->n : &l->other[kind];
}

/* the slot of name among the names known never to have logged in */
static char *
unknown_slot(struct queue_logins *l, const char *name)
{
	return l->unknown_names[hash_fnv1a(name, strlen(name)) &
	    (UNKNOWN_SLOTS - 1)];
}

/*
 * name has logged in, ever (login_nets): 1 or 0; an answer "no" is
 * remembered, an error is not (and counts as no)
 */
static int
login_known(struct queue_logins *l, const char *name)
{
	char *slot = unknown_slot(l, name);
	int known;

	if (strcmp(slot, name) == 0)
		return 0;
	if ((known = queue_db_login_known(l->db, name)) == 0 &&
	    strlen(name) < PROTO_USER_MAX)
		memcpy(slot, name, strlen(name) + 1);
	return known == 1;
}

/* client_ip is a relay client's (relay_networks) */
static int
is_relay_client(struct queue_logins *l, const char *client_ip)
{
	uint8_t a[16];

	return client_ip != NULL && client_ip[0] != '\0' &&
	    cidr_addr_parse(client_ip, a) == 0 &&
	    relay_client_trusted(&l->relay, a);
}

/* queue_logins_login - see queue_logins.h */
void
queue_logins_login(struct queue_logins *l, const char *user)
{
	char *slot;

	if (user[0] == '\0')
		return;
	if (strcmp(slot = unknown_slot(l, user), user) == 0)
		slot[0] = '\0';
	(void)login_counts(l, LOGIN_USER, user, 1);
}

/* queue_logins_stored - see queue_logins.h */
void
queue_logins_stored(struct queue_logins *l, const char *auth_user,
    const char *client_ip, size_t nrcpt)
{
	struct login_counts *n;

	if (auth_user != NULL && auth_user[0] != '\0')
		n = login_counts(l, LOGIN_USER, auth_user, 1);
	else if (is_relay_client(l, client_ip))
		n = login_counts(l, LOGIN_CLIENT, client_ip, 1);
	else
		return;
	n->messages++;
	n->recipients += (int64_t)nrcpt;
}

/* queue_logins_auth_fail - see queue_logins.h */
void
queue_logins_auth_fail(struct queue_logins *l, const char *user,
    const char *client_ip)
{
	struct login_counts *n = NULL;

	if (user[0] != '\0' && login_find(l, LOGIN_USER, user) == NULL) {
		/* a name never seen since start: an account if it ever
		 * logged in; the rest, whatever an attacker tries, is one */
		if (!login_known(l, user))
			n = &l->unknown;
	} else if (user[0] == '\0')
		n = &l->unknown;
	if (n == NULL)
		n = login_counts(l, LOGIN_USER, user, 1);
	n->auth_failures++;
	if (is_relay_client(l, client_ip))
		login_counts(l, LOGIN_CLIENT, client_ip, 1)->auth_failures++;
}

/* the three rows of one series' counters */
static void
login_rows(const char *prefix, const char *label,
    const struct login_counts *n,
    void (*row)(struct ipc_msg *, const char *, const char *, int64_t),
    struct ipc_msg *ans)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_messages_total", prefix);
	row(ans, name, label, n->messages);
	snprintf(name, sizeof(name), "%s_recipients_total", prefix);
	row(ans, name, label, n->recipients);
	snprintf(name, sizeof(name), "%s_auth_failures_total", prefix);
	row(ans, name, label, n->auth_failures);
}

/* queue_logins_stats - see queue_logins.h */
void
queue_logins_stats(const struct queue_logins *l,
    void (*row)(struct ipc_msg *, const char *, const char *, int64_t),
    struct ipc_msg *ans)
{
	static const char *const prefix[] = { "login", "relay_client" };
	static const char *const label[] = { "login", "client" };
	/* each byte may become 3 (U+FFFD) */
	char esc[PROTO_USER_MAX * 3], lab[PROTO_USER_MAX * 3 + 16];

	for (size_t i = 0; i < l->n; i++) {
		const struct login_entry *e = &l->v[i];

		prom_label_escape(esc, sizeof(esc), e->name, strlen(e->name));
		snprintf(lab, sizeof(lab), "%s=\"%s\"", label[e->kind], esc);
		login_rows(prefix[e->kind], lab, &e->n, row, ans);
	}
	for (int k = LOGIN_USER; k <= LOGIN_CLIENT; k++) {
		snprintf(lab, sizeof(lab), "%s=\"other\"", label[k]);
		login_rows(prefix[k], lab, &l->other[k], row, ans);
	}
	login_rows("login", "login=\"unknown\"", &l->unknown, row, ans);
}
