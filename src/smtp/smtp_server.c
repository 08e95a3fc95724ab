/*
 * smtp_server.c - the network process: listeners, the session table,
 * and the IPC with the queue, auth, lookup and parent processes.
 *
 * Public: smtp_proc_prepare, smtp_proc_main, smtp_server_find,
 * smtp_server_event, smtp_server_ip_count, smtp_server_uid_count,
 * smtp_server_session_gone,
 * smtp_server_flush_soon, smtp_server_ban, smtp_server_is_suspended,
 * smtp_server_rdns_start, smtp_server_client_net, smtp_server_refused.
 *
 * Counters for `moat stats` (srv->stats) are plain integers bumped where
 * the event is seen: here at accept and for the refusals that are
 * security events (smtp_event_counts), in smtp_session.c for the rest.
 *
 * SECURITY: runs unprivileged in an empty chroot; it can reach the
 * queue database and the users file only through its IPC peers. It
 * holds no TLS private key: the handshakes' signatures are made by the
 * ca process (src/io/tls_key.c).
 * Messages from the siblings are checked field by field; a malformed
 * one is a bug and ends the process (the parent then stops the daemon).
 * LIMITS: max_sessions and max_sessions_per_ip (per client network,
 * client_prefix_v4/v6) are enforced at accept; on a proxy_protocol
 * listener (smtp_proxy.c) once the header has named the client.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sodium.h>

#include "../io/proto.h"
#include "../io/tls_set.h"
#include "../lib/hash.h"
#include "../lib/log.h"
#include "../policy/banlist.h"
#include "../policy/denylist.h"
#include "../lib/resolver.h"
#include "smtp_authwork.h"
#include "../policy/dnsbl.h"
#include "../policy/guard.h"
#include "../daemon/proc.h"
#include "smtp.h"
#include "smtp_ctl.h"
#include "smtp_rdns.h"
#include "../control/control_log.h"

static unsigned
ip_hash(const uint8_t addr[16])
{
	return hash_fnv1a(addr, 16) % SMTP_IP_BUCKETS;
}

/* smtp_server_client_net - "2001:db8:1:2::/64", "192.0.2.1/32" */
const char *
smtp_server_client_net(const struct smtp_server *srv, const uint8_t addr[16],
    char *buf, size_t len)
{
	struct cidr net;

	cidr_client_net(addr, srv->prefix_v4, srv->prefix_v6, &net);
	return cidr_format(&net, buf, len);
}

/* adjust and return the count of key in b */
static int
count_adjust(struct smtp_ipcount_bucket *b, const uint8_t addr[16], int delta)
{
	struct smtp_ipcount *e;


	LIST_FOREACH(e, b, entry)
		if (memcmp(e->addr, addr, 16) == 0)
			break;
	if (e == NULL) {
		if (delta <= 0 || (e = calloc(1, sizeof(*e))) == NULL)
			return 0;
		memcpy(e->addr, addr, 16);
		LIST_INSERT_HEAD(b, e, entry);
	}
	e->count += delta;
	if (e->count <= 0) {
		LIST_REMOVE(e, entry);
		free(e);
		return 0;
	}
	return e->count;
}

/* smtp_server_ip_count - adjust and return the session count of addr's net */
int
smtp_server_ip_count(struct smtp_server *srv, const uint8_t client[16],
    int delta)
{
	struct cidr net;

	cidr_client_net(client, srv->prefix_v4, srv->prefix_v6, &net);
	return count_adjust(&srv->by_ip[ip_hash(net.addr)], net.addr, delta);
}

/* smtp_server_uid_count - adjust and return the local sessions of uid */
int
smtp_server_uid_count(struct smtp_server *srv, uint32_t uid, int delta)
{
	uint8_t key[16] = { 0 };

	memcpy(key, &uid, sizeof(uid));
	return count_adjust(&srv->by_uid, key, delta);
}

/* smtp_server_find - the live session with this id, or NULL */
struct smtp_session *
smtp_server_find(struct smtp_server *srv, uint64_t id)
{
	struct smtp_session *s;

	LIST_FOREACH(s, &srv->by_id[id % SMTP_ID_BUCKETS], hash)
		if (s->id == id)
			return s;
	return NULL;
}

/*
 * The security events that are refusals, counted by reason for `moat
 * stats` where they are recorded; refusals without an event (unknown
 * user, data errors, max_sessions) are counted at their reply.
 */
static const struct {
	const char	*type;
	int		 reason;	/* enum smtp_reject, -1: AUTH failure */
} smtp_event_counts[] = {
	{ "relay_denied", SMTP_REJ_RELAY },
	{ "spoofed_sender", SMTP_REJ_SPOOF },
	{ "sender_mismatch", SMTP_REJ_MISMATCH },
	{ "dnsbl", SMTP_REJ_DNSBL },
	{ "limit", SMTP_REJ_LIMIT },
	{ "harvest", SMTP_REJ_LIMIT },
	{ "error_limit", SMTP_REJ_LIMIT },
	{ "improper_pipelining", SMTP_REJ_PIPELINING },
	{ "pregreet", SMTP_REJ_PIPELINING },
	{ "auth_fail", -1 },
	{ "auth_suspended", -1 },
};

/* smtp_server_event - record a security event through the queue process */
void
smtp_server_event(struct smtp_server *srv, const char *type, const char *ip,
    const char *user, const char *session, const char *detail)
{
	for (size_t i = 0; i < sizeof(smtp_event_counts) /
	    sizeof(smtp_event_counts[0]); i++)
		if (strcmp(type, smtp_event_counts[i].type) == 0) {
			if (smtp_event_counts[i].reason < 0)
				srv->stats.auth_fail++;
			else
				srv->stats.rejected[smtp_event_counts[i].reason]++;
			break;
		}
	proto_event_send(srv->queue, type, ip, user, session, detail);
}

static void
smtp_server_maybe_exit(struct smtp_server *srv)
{
	if (srv->shutting_down && srv->n_sessions == 0)
		event_base_loopexit(srv->base, NULL);
}

/*
 * smtp_server_session_gone - take a session out of service. It is freed
 * from the reaper, after the I/O callbacks that may still hold it.
 */
void
smtp_server_session_gone(struct smtp_server *srv, struct smtp_session *s)
{
	if (s->gone)
		return;
	s->gone = 1;
	if (s->flush_queued) {
		TAILQ_REMOVE(&srv->flushq, s, flush_entry);
		s->flush_queued = 0;
	}
	if (s->bev) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	}
	evtimer_del(s->wait_timer);
	if (s->lifetime)
		evtimer_del(s->lifetime);
	if (s->queue_full) {
		s->queue_full = 0;
		srv->n_queue_full--;
	}
	LIST_REMOVE(s, hash);
	TAILQ_REMOVE(&srv->sessions, s, entry);
	TAILQ_INSERT_TAIL(&srv->dead, s, entry);
	smtp_server_ip_count(srv, s->addr, -1);
	if (s->uid_counted)
		smtp_server_uid_count(srv, s->local_uid, -1);
	srv->n_sessions--;
	event_active(srv->reaper, EV_TIMEOUT, 0);
}

/*
 * Replies of plain sessions are written here, once the callbacks of this
 * loop turn are done: every reply a turn produced for a session (all the
 * answers to a pipelined group, say) goes out in one write, at once,
 * without waiting for the next poll to say the socket is writable, and
 * without the two epoll_ctl calls a bufferevent spends to ask.
 */
void
smtp_server_flush_soon(struct smtp_server *srv, struct smtp_session *s)
{
	if (s->flush_queued || s->gone)
		return;
	s->flush_queued = 1;
	TAILQ_INSERT_TAIL(&srv->flushq, s, flush_entry);
	event_active(srv->flusher, EV_TIMEOUT, 0);
}

static void
flusher_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;

	while ((s = TAILQ_FIRST(&srv->flushq)) != NULL) {
		TAILQ_REMOVE(&srv->flushq, s, flush_entry);
		s->flush_queued = 0;
		smtp_session_flush(s);
	}
}

static void
reaper_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;

	while ((s = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, s, entry);
		smtp_session_free(s);
	}
	smtp_server_maybe_exit(srv);
}

/* smtp_server_rebuild_deny - the lookup table of deny_networks */
static void
smtp_server_rebuild_deny(struct smtp_server *srv)
{
	const struct conf *c = srv->conf;
	size_t n = c->n_deny_networks;
	struct deny_entry *v = calloc(n ? n : 1, sizeof(*v));
	struct denylist *d;

	if (v == NULL) {
		log_err(LOG_CAT_POLICY, "event=deny_rebuild_failed reason=\"out of memory\"");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		v[i].net = c->deny_networks[i];
		v[i].why = "deny_networks";
	}
	if ((d = denylist_build(v, n)) == NULL)
		log_err(LOG_CAT_POLICY, "event=deny_rebuild_failed reason=\"out of memory\"");
	else {
		denylist_free(srv->deny);
		srv->deny = d;
	}
	free(v);
}

/*
 * smtp_server_ban - ban addr's client network now (a /64 for IPv6 by
 * default: the client holds all of it); the queue makes it persistent
 */
void
smtp_server_ban(struct smtp_server *srv, const uint8_t addr[16], int seconds,
    const char *reason, const char *origin)
{
	struct smtp_session *s, *tmp;
	struct proto_ban b;
	struct ipc_msg m;
	struct cidr net;
	char netstr[CIDR_STRLEN], ip[64];
	time_t expires = seconds > 0 ? time(NULL) + seconds : 0;

	cidr_client_net(addr, srv->prefix_v4, srv->prefix_v6, &net);
	cidr_format(&net, netstr, sizeof(netstr));
	cidr_addr_format(addr, ip, sizeof(ip));
	if (banlist_add(srv->bans, &net, expires, reason) == -1)
		log_err(LOG_CAT_POLICY, "event=ban_failed reason=\"out of memory\"");
	log_notice(LOG_CAT_POLICY, "event=ban client=%s net=%s seconds=%d "
	    "origin=%s reason=\"%s\"", ip, netstr, seconds, origin, reason);
	b.cidr = netstr;
	b.expires = (int64_t)expires;
	b.reason = reason;
	b.origin = origin;
	proto_ban_enc(&m, 0, &b);
	ipc_send(srv->queue, &m);
	{
		char detail[200];

		snprintf(detail, sizeof(detail), "net=%s seconds=%d origin=%s "
		    "reason=%s", netstr, seconds, origin, reason);
		smtp_server_event(srv, "ban", ip, "", "", detail);
	}
	/* the banned network's other sessions go too */
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		if (cidr_contains(&net, s->addr))
			smtp_session_kill(s, "421 4.7.0 Error: your address is banned",
			    "banned");
	}
}

static void
guard_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;
	time_t now = time(NULL);

	/* windows are at most a day long; repeat-ban counters last a week */
	guard_expire(srv->guard, now, 7 * 86400);
	banlist_expire(srv->bans, now);
}

/*
 * The queue's time series counts smtp's refusals and AUTH failures a
 * minute: what was counted since the last report goes to the queue,
 * once a second at most and only when there is something.
 */
static void
series_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;
	struct proto_series ps;
	struct ipc_msg m;
	uint64_t rej = 0;

	for (int i = 0; i < SMTP_REJ_COUNT; i++)
		rej += srv->stats.rejected[i];
	if (rej == srv->series_rejected &&
	    srv->stats.auth_fail == srv->series_auth_fail)
		return;
	ps.rejections = (uint32_t)(rej - srv->series_rejected);
	ps.auth_failures = (uint32_t)(srv->stats.auth_fail -
	    srv->series_auth_fail);
	srv->series_rejected = rej;
	srv->series_auth_fail = srv->stats.auth_fail;
	proto_series_enc(&m, 0, &ps);
	ipc_send(srv->queue, &m);
}

/* smtp_server_refused - see smtp.h: refused before a single byte is read */
int
smtp_server_refused(struct smtp_server *srv, struct smtp_listener *l, int fd,
    const uint8_t addr[16])
{
	static const char msg[] = "554 5.7.1 Access denied\r\n";
	const struct deny_entry *e;
	char ip[64];

	if ((e = denylist_match(srv->deny, addr, time(NULL))) == NULL &&
	    (e = banlist_match(srv->bans, addr, time(NULL))) == NULL)
		return 0;
	log_info(LOG_CAT_POLICY, "event=refused client=%s listener=%s "
	    "reason=\"%s\"", cidr_addr_format(addr, ip, sizeof(ip)),
	    l->conf->name, e->why);
	(void)!write(fd, msg, sizeof(msg) - 1);
	close(fd);
	srv->stats.rejected[SMTP_REJ_BANNED]++;
	return 1;
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct smtp_listener *l = arg;
	struct smtp_server *srv = l->srv;
	uint8_t addr[16];

	/* behind a load balancer the checks wait for the client's address */
	if (l->conf->proxy_protocol) {
		smtp_proxy_accept(l, fd, sa, salen);
		return;
	}
	if (cidr_addr_from_sa(sa, addr) == 0 &&
	    smtp_server_refused(srv, l, fd, addr))
		return;
	l->started++;
	smtp_session_start(srv, l, fd, sa, salen, NULL);
}

static void
accept_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	evconnlistener_enable(arg);
}

static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct smtp_listener *l = arg;
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: back off a little instead of spinning */
	log_warn(LOG_CAT_SMTP, "event=accept_error listener=%s error=\"%s\"",
	    l->conf->name, evutil_socket_error_to_string(e));
	evconnlistener_disable(evl);
	{
		struct timeval tv = { 0, 100000 };

		event_base_once(l->srv->base, -1, EV_TIMEOUT, accept_resume_cb,
		    evl, &tv);
	}
}

static void
smtp_server_shutdown(struct smtp_server *srv)
{
	struct smtp_session *s, *tmp;

	if (srv->shutting_down)
		return;
	srv->shutting_down = 1;
	log_notice(LOG_CAT_DAEMON, "event=shutdown sessions=%zu", srv->n_sessions);
	for (size_t i = 0; i < srv->n_listeners; i++)
		evconnlistener_disable(srv->listeners[i].evl);
	smtp_proxy_close_all(srv);
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		smtp_session_shutdown(s);	/* may move s to the dead list */
	}
	/* sessions still waiting for their last reply get a few seconds */
	{
		struct timeval tv = { 10, 0 };

		event_add(srv->shutdown_timer, &tv);
	}
	smtp_server_maybe_exit(srv);
}

static void
shutdown_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_server *srv = arg;

	log_warn(LOG_CAT_DAEMON, "event=shutdown_timeout sessions=%zu",
	    srv->n_sessions);
	event_base_loopexit(srv->base, NULL);
}

static void
smtp_server_reload(struct smtp_server *srv, const uint8_t *text, size_t len,
    const char *path)
{
	char err[512];
	struct conf *nc;

	if ((nc = conf_load_bytes(text, len, path, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DAEMON, "event=reload_failed error=\"%s\"", err);
		proto_ready_send(srv->parent, PROTO_READY_RELOAD, 0, err);
		return;
	}
	/* listeners are bound by the parent: their sections cannot change,
	 * only everything else; sessions keep pointers into listener
	 * configs, so keep the old listener array in the new conf */
	memcpy(nc->listeners, srv->conf->listeners, sizeof(nc->listeners));
	nc->n_listeners = srv->conf->n_listeners;
	conf_free(srv->conf);
	srv->conf = nc;
	conf_relay_table(nc, &srv->relay);
	conf_apply_log_levels(nc);
	smtp_server_rebuild_deny(srv);
	for (size_t i = 0; i < srv->n_listeners; i++)
		srv->listeners[i].conf = i < nc->n_listeners ?
		    &nc->listeners[i] : &nc->submit_listener;
	log_notice(LOG_CAT_DAEMON, "event=reloaded path=%s", path);
	proto_ready_send(srv->parent, PROTO_READY_RELOAD, 1, NULL);
}

/*
 * A reload's certificates (the ca has their keys): new sessions get
 * them, sessions under way keep theirs (tls_set.c). The knobs are the
 * configuration's of this reload, which came first.
 */
static void
smtp_server_tls_keys(struct smtp_server *srv, struct ipc_reader *r)
{
	struct tls_set_pem pems[PROTO_TLS_PAIRS_MAX];
	struct proto_tls_keys k;
	struct tls_set *set;
	struct tls_opts o;
	char err[512];

	if (proto_tls_keys_dec(r, &k) == -1)
		fatalx("%s: bad TLS_KEYS", __func__);
	for (uint32_t i = 0; i < k.count; i++) {
		pems[i].pem = k.item[i].pem;
		pems[i].len = k.item[i].len;
	}
	conf_tls_opts(srv->conf, &o);
	if ((set = tls_set_new(&o, k.gen, pems, k.count, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_TLS, "event=tls_reload_failed generation=%u "
		    "error=\"%s\" action=\"keeping the certificates in use\"",
		    k.gen, err);
		return;
	}
	if (srv->tls == NULL) {
		/* TLS was off at start: the listeners know nothing of it */
		log_warn(LOG_CAT_TLS, "event=tls_reload_ignored reason=\"TLS "
		    "was off at start: turning it on needs a restart\"");
		tls_set_retire(set);
		return;
	}
	log_notice(LOG_CAT_TLS, "event=tls_reloaded generation=%u "
	    "previous=%u certificates=%u", k.gen, tls_set_gen(srv->tls),
	    k.count);
	tls_set_retire(srv->tls);
	srv->tls = set;
}

static void
parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct smtp_server *srv = arg;

	switch (type) {
	case PROTO_SHUTDOWN:
		if (proto_empty_dec(r) == -1)
			fatalx("%s: bad SHUTDOWN", __func__);
		smtp_server_shutdown(srv);
		break;
	case PROTO_LOG_LEVEL:		/* moat log CAT LEVEL */
		if (control_log_apply(r) == -1)
			fatalx("%s: bad LOG_LEVEL", __func__);
		break;
	case PROTO_RELOAD: {
		struct proto_reload rl;

		if (proto_reload_dec(r, &rl) == -1)
			fatalx("%s: bad RELOAD", __func__);
		smtp_server_reload(srv, rl.text, rl.len, rl.path);
		break;
	}
	case PROTO_COUNTS: {		/* moat status, STATUS= */
		struct proto_counts c;
		struct ipc_msg m;

		if (proto_counts_dec(r, &c) == -1)
			fatalx("%s: bad COUNTS", __func__);
		c.sessions = (int64_t)srv->n_sessions;
		c.queued = -1;
		proto_counts_enc(&m, 0, &c);
		ipc_send(srv->parent, &m);
		break;
	}
	case PROTO_TLS_KEYS:
		smtp_server_tls_keys(srv, r);
		break;
	case PROTO_LOCAL_IDENTIFIED: {
		struct proto_local_identified li;
		struct smtp_session *s;

		if (proto_local_identified_dec(r, &li) == -1)
			fatalx("%s: bad LOCAL_IDENTIFIED", __func__);
		if ((s = smtp_server_find(srv, id)) != NULL)
			smtp_session_local_ident(s, li.verdict, li.login);
		break;
	}
	default:
		fatalx("%s: unexpected message %u from parent", __func__, type);
	}
}

/* sessions from an address the deny list or a ban now refuses end at once */
static void
smtp_server_kill_denied(struct smtp_server *srv)
{
	struct smtp_session *s, *tmp;
	time_t now = time(NULL);

	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		if ((srv->deny != NULL &&
		    denylist_match(srv->deny, s->addr, now) != NULL) ||
		    banlist_match(srv->bans, s->addr, now) != NULL)
			smtp_session_kill(s, "421 4.7.0 Error: your address is "
			    "banned", "banned");
	}
}

/*
 * The listeners accept once the bans are known, so that a banned client
 * does not slip in while the queue process is still opening its
 * database; connections meanwhile wait in the kernel's backlog. Without
 * an answer from the queue in SMTP_BANS_WAIT_SECS they accept anyway.
 */
#define SMTP_BANS_WAIT_SECS	5

static void
smtp_server_start_accepting(struct smtp_server *srv, const char *why)
{
	if (srv->accepting || srv->shutting_down)
		return;
	srv->accepting = 1;
	evtimer_del(srv->bans_wait);
	for (size_t i = 0; i < srv->n_listeners; i++)
		evconnlistener_enable(srv->listeners[i].evl);
	log_info(LOG_CAT_DAEMON, "event=accepting reason=\"%s\"", why);
	/* the service is up when the listeners answer */
	proto_ready_send(srv->parent, PROTO_READY_START, 1, NULL);
}

static void
bans_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warn(LOG_CAT_POLICY, "event=bans_missing seconds=%d note=\"no ban "
	    "list from the queue: accepting without it\"", SMTP_BANS_WAIT_SECS);
	smtp_server_start_accepting(arg, "no ban list");
}

/* PROTO_BANS_CHANGED, at start: the queue's full list replaces ours */
static void
smtp_server_bans_msg(struct smtp_server *srv, struct ipc_reader *r)
{
	struct proto_bans_item b;
	uint32_t n;
	size_t k = 0;

	(void)proto_bans_dec(r, &n);
	banlist_clear(srv->bans);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct cidr c;
		const char *why;

		if (proto_bans_item_dec(r, &b) == -1)
			break;
		if (cidr_parse(b.cidr, &c, &why) == -1) {
			log_warn(LOG_CAT_POLICY, "event=bad_ban cidr=%s reason=\"%s\"",
			    b.cidr, why);
			continue;
		}
		if (banlist_add(srv->bans, &c, (time_t)b.expires, "banned") == 0)
			k++;
	}
	if (proto_end_dec(r) == -1)
		fatalx("%s: bad BANS_CHANGED", __func__);
	log_info(LOG_CAT_POLICY, "event=bans_loaded count=%zu", k);
	smtp_server_kill_denied(srv);
	smtp_server_start_accepting(srv, "bans loaded");
}

/* PROTO_BAN_ADD from the queue: one ban an admin added or changed */
static void
smtp_server_ban_add_msg(struct smtp_server *srv, struct ipc_reader *r)
{
	struct proto_ban b;
	struct cidr c;
	const char *why;

	if (proto_ban_dec(r, &b) == -1 || cidr_parse(b.cidr, &c, &why) == -1)
		fatalx("%s: bad BAN_ADD", __func__);
	if (banlist_add(srv->bans, &c, (time_t)b.expires, "banned") == -1)
		log_err(LOG_CAT_POLICY, "event=ban_failed cidr=%s reason=\"out "
		    "of memory\"", b.cidr);
	log_info(LOG_CAT_POLICY, "event=ban_added cidr=%s origin=%s", b.cidr,
	    b.origin);
	smtp_server_kill_denied(srv);
}

/* PROTO_BAN_DEL from the queue: an admin lifted a ban */
static void
smtp_server_ban_del_msg(struct smtp_server *srv, struct ipc_reader *r)
{
	struct proto_ban_del b;
	struct cidr c;
	const char *why;

	if (proto_ban_del_dec(r, &b) == -1 || cidr_parse(b.cidr, &c, &why) == -1)
		fatalx("%s: bad BAN_DEL", __func__);
	banlist_del(srv->bans, &c);
	log_info(LOG_CAT_POLICY, "event=ban_lifted cidr=%s", b.cidr);
}

/* smtp_server_is_suspended - AUTH for this account is refused */
int
smtp_server_is_suspended(struct smtp_server *srv, const char *user)
{
	for (size_t i = 0; i < srv->n_suspended; i++)
		if (strcmp(srv->suspended[i], user) == 0)
			return 1;
	return 0;
}

/* PROTO_USER_STATE: a suspended account loses its live sessions */
static void
smtp_server_user_state_msg(struct smtp_server *srv, struct ipc_reader *r)
{
	struct proto_user_state us;
	const char *user, *state;
	struct smtp_session *s, *tmp;

	if (proto_user_state_dec(r, &us) == -1)
		fatalx("%s: bad USER_STATE", __func__);
	user = us.user;
	state = us.state;
	for (size_t i = 0; i < srv->n_suspended; i++)
		if (strcmp(srv->suspended[i], user) == 0) {
			free(srv->suspended[i]);
			srv->suspended[i] = srv->suspended[--srv->n_suspended];
			break;
		}
	if (strcmp(state, "suspended") != 0)
		return;
	{
		char **nv = reallocarray(srv->suspended, srv->n_suspended + 1,
		    sizeof(*nv));

		if (nv == NULL || (nv[srv->n_suspended] = strdup(user)) == NULL)
			fatal("%s: out of memory", __func__);
		srv->suspended = nv;
		srv->n_suspended++;
	}
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		if (s->authenticated && strcmp(s->auth_user, user) == 0) {
			log_notice(LOG_CAT_POLICY, "session=%s event=suspended_session "
			    "client=%s user=%s", s->idstr, s->ip, user);
			smtp_session_kill(s, "421 4.7.0 Error: account suspended",
			    "account suspended");
		}
	}
}

static void
queue_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;
	struct proto_stored st;

	if (type == PROTO_BANS_CHANGED) {
		smtp_server_bans_msg(srv, r);
		return;
	}
	if (type == PROTO_BAN_ADD) {
		smtp_server_ban_add_msg(srv, r);
		return;
	}
	if (type == PROTO_BAN_DEL) {
		smtp_server_ban_del_msg(srv, r);
		return;
	}
	if (type == PROTO_USER_STATE) {
		smtp_server_user_state_msg(srv, r);
		return;
	}
	if (type != PROTO_QUEUE_STORED)
		fatalx("%s: unexpected message %u from queue", __func__, type);
	if (proto_stored_dec(r, &st) == -1)
		fatalx("%s: bad QUEUE_STORED", __func__);
	if ((s = smtp_server_find(srv, id)) != NULL)
		smtp_session_stored(s, st.status, st.text);
}

/* everything for the queue was written: sessions held back read on */
static void
queue_drain_cb(struct ipc_peer *p, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s, *tmp;

	for (s = TAILQ_FIRST(&srv->sessions); s != NULL && srv->n_queue_full > 0;
	    s = tmp) {
		tmp = TAILQ_NEXT(s, entry);
		smtp_session_queue_drained(s);
	}
}

static void
auth_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;
	struct proto_auth_result a;

	if (type != PROTO_AUTH_RESULT)
		fatalx("%s: unexpected message %u from auth", __func__, type);
	if (proto_auth_result_dec(r, &a) == -1)
		fatalx("%s: bad AUTH_RESULT", __func__);
	if ((s = smtp_server_find(srv, id)) != NULL)
		smtp_session_auth_result(s, a.result);
}

/*
 * The lookup process's answers. One for a session that went away or
 * stopped waiting (timed out, killed) is read and dropped: its seq is
 * no longer the one the session waits for.
 */
static void
lookup_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s;
	struct proto_lookup_result a;
	struct proto_lookup_target t;

	ipc_expect(p, type, PROTO_LOOKUP_RESULT);
	if (proto_lookup_result_dec(r, &a) == -1)
		fatalx("%s: bad LOOKUP_RESULT", __func__);
	if ((s = smtp_server_find(srv, id)) != NULL &&
	    !smtp_session_lookup_wants(s, a.seq))
		s = NULL;
	for (uint32_t i = 0; i < a.ntargets; i++) {
		if (proto_lookup_target_dec(r, &t) == -1)
			fatalx("%s: bad LOOKUP_RESULT target", __func__);
		if (s != NULL)
			smtp_session_lookup_target(s, t.address, t.mailbox);
	}
	if (proto_end_dec(r) == -1)
		fatalx("%s: bad LOOKUP_RESULT end", __func__);
	if (s != NULL)
		smtp_session_lookup_done(s, a.answer, a.why);
}

static void
peer_close_cb(struct ipc_peer *p, void *arg)
{
	struct smtp_server *srv = arg;

	/*
	 * Shutting down, the sessions still waiting want only the queue's
	 * commit: siblings that stop first (auth, lookup, when control
	 * goes) change nothing; without the queue no answer can come.
	 */
	if (srv->shutting_down && p != srv->parent) {
		if (p == srv->queue)
			event_base_loopexit(srv->base, NULL);
		return;
	}
	/* a sibling or the parent went away: no half-alive server */
	log_err(LOG_CAT_DAEMON, "event=peer_lost peer=%s", ipc_peer_name(p));
	exit(1);
}

/* the reverse DNS resolver made before chroot; one smtp process */
static struct smtp_rdns *prepared_rdns;
static struct resolver *prepared_authres;
static struct authwork *prepared_authwork;

/* smtp_proc_prepare - resolver setup needs /etc/resolv.conf: before chroot */
int
smtp_proc_prepare(struct proc_env *env)
{
	const struct conf *c = env->conf;
	char err[256];

	/* reverse names are for people: without them the server still runs */
	if (c->reverse_dns && (prepared_rdns = smtp_rdns_new(c->dns_server,
	    err, sizeof(err))) == NULL)
		log_warn(LOG_CAT_DNS, "event=rdns_setup_failed error=\"%s\" "
		    "action=\"sessions are listed without names\"", err);
	if (smtp_authres_wanted(c) && (prepared_authres =
	    smtp_authres_resolver(c->dns_server, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DNS, "event=dkim_verify_setup_failed "
		    "error=\"%s\"", err);
		return -1;
	}
	if (smtp_authres_wanted(c) && (c->spf_check || c->dmarc_check) &&
	    (prepared_authwork = authwork_new(c->dns_server, err,
	    sizeof(err))) == NULL) {
		log_err(LOG_CAT_DNS, "event=spf_setup_failed error=\"%s\"",
		    err);
		return -1;
	}
	if (c->n_dnsbl_zones == 0)
		return 0;
	env->prepared = dnsbl_new(env->base, c->dns_server, c->dnsbl_zones,
	    c->n_dnsbl_zones, NULL, NULL, err, sizeof(err));
	if (env->prepared == NULL) {
		log_err(LOG_CAT_DNS, "event=dnsbl_setup_failed error=\"%s\"", err);
		return -1;
	}
	return 0;
}

/* name: the PTR name, "" none, NULL failed (shown as "-") */
static void
smtp_rdns_set(struct smtp_session *s, const char *name)
{
	char esc[SMTP_RDNS_NAME_MAX * 4];

	if (name == NULL)
		return;
	snprintf(s->rdns, sizeof(s->rdns), "%s", name[0] ? name : "unknown");
	log_debug(LOG_CAT_DNS, "session=%s event=rdns client=%s name=%s",
	    s->idstr, s->ip, log_escape(esc, sizeof(esc), s->rdns,
	    strlen(s->rdns)));
}

static void
rdns_answer_cb(uint64_t cookie, const char *name, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s = smtp_server_find(srv, cookie);

	if (s != NULL)
		smtp_rdns_set(s, name);
}

/* smtp_server_rdns_start - the client's name, from the cache or later */
void
smtp_server_rdns_start(struct smtp_server *srv, struct smtp_session *s)
{
	const char *name;

	if (srv->rdns != NULL &&
	    smtp_rdns_lookup(srv->rdns, s->addr, s->id, &name) == 1)
		smtp_rdns_set(s, name);
}

static void
dnsbl_answer_cb(uint64_t cookie, int score, const char *zone, void *arg)
{
	struct smtp_server *srv = arg;
	struct smtp_session *s = smtp_server_find(srv, cookie);

	if (s != NULL)
		smtp_session_dnsbl(s, score, zone);
}

/* the server's own state: tables, loop events, defences; fatal on failure */
static struct smtp_server *
smtp_server_new(struct proc_env *env)
{
	struct event_base *base = env->base;
	struct smtp_server *srv;
	struct timeval tv = { 60, 0 };

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		fatal("%s: calloc", __func__);
	srv->base = base;
	srv->conf = env->conf;
	srv->tls = env->tls;
	conf_relay_table(srv->conf, &srv->relay);
	TAILQ_INIT(&srv->sessions);
	TAILQ_INIT(&srv->dead);
	TAILQ_INIT(&srv->proxied);
	randombytes_buf(&srv->id_salt, sizeof(srv->id_salt));
	srv->id_salt &= 0xffffffff00000000ull;
	randombytes_buf(&srv->qid_ctr, sizeof(srv->qid_ctr));
	srv->reaper = event_new(base, -1, 0, reaper_cb, srv);
	TAILQ_INIT(&srv->flushq);
	srv->flusher = event_new(base, -1, 0, flusher_cb, srv);
	if (srv->reaper == NULL || srv->flusher == NULL)
		fatalx("%s: event_new", __func__);
	srv->shutdown_timer = evtimer_new(base, shutdown_timer_cb, srv);
	/* client networks keep the prefixes of the start: session counts
	 * taken under one prefix must be given back under the same */
	srv->prefix_v4 = srv->conf->client_prefix_v4;
	srv->prefix_v6 = srv->conf->client_prefix_v6;
	if ((srv->guard = guard_new(GUARD_KEYS_MAX)) == NULL ||
	    (srv->bans = banlist_new()) == NULL)
		fatal("%s: guard_new", __func__);
	srv->guard_timer = event_new(base, -1, EV_PERSIST, guard_timer_cb, srv);
	event_add(srv->guard_timer, &tv);
	if ((srv->series_timer = event_new(base, -1, EV_PERSIST,
	    series_timer_cb, srv)) == NULL)
		fatalx("%s: event_new", __func__);
	{
		struct timeval one = { 1, 0 };

		event_add(srv->series_timer, &one);
	}
	smtp_server_rebuild_deny(srv);
	if ((srv->dnsbl = env->prepared) != NULL)
		dnsbl_set_callback(srv->dnsbl, dnsbl_answer_cb, srv);
	if ((srv->rdns = prepared_rdns) != NULL &&
	    smtp_rdns_attach(srv->rdns, base, rdns_answer_cb, srv) == -1) {
		log_warn(LOG_CAT_DNS, "event=rdns_setup_failed error=\"cannot "
		    "watch the resolver\"");
		smtp_rdns_free(srv->rdns);
		srv->rdns = NULL;
	}
	prepared_rdns = NULL;
	if ((srv->authres = prepared_authres) != NULL &&
	    resolver_attach(srv->authres, base) == -1)
		fatalx("%s: cannot watch the DKIM resolver", __func__);
	prepared_authres = NULL;
	if ((srv->authwork = prepared_authwork) != NULL &&
	    authwork_start(srv->authwork, base, smtp_authres_work_done) == -1)
		fatalx("%s: cannot start the SPF workers", __func__);
	prepared_authwork = NULL;
	return srv;
}

/* the IPC peers: parent, queue, auth, lookup, control */
static void
smtp_server_peers(struct smtp_server *srv, struct proc_env *env)
{
	srv->parent = ipc_peer_new(srv->base, env->peer[PROC_PARENT], "parent",
	    parent_msg_cb, peer_close_cb, srv);
	srv->queue = ipc_peer_new(srv->base, env->peer[PROC_QUEUE], "queue",
	    queue_msg_cb, peer_close_cb, srv);
	/* the ca link: DKIM keys and signatures (the TLS handshakes' round
	 * trips share it, src/io/tls_key.c) */
	if (smtp_dkim_server_init(srv, env->peer[PROC_CA]) == -1)
		fatalx("%s: cannot watch the ca link", __func__);
	ipc_peer_on_drain(srv->queue, queue_drain_cb);
	srv->auth = ipc_peer_new(srv->base, env->peer[PROC_AUTH], "auth",
	    auth_msg_cb, peer_close_cb, srv);
	srv->lookup = ipc_peer_new(srv->base, env->peer[PROC_LOOKUP], "lookup",
	    lookup_msg_cb, peer_close_cb, srv);
	smtp_ctl_start(srv, env->peer[PROC_CONTROL]);
}

/*
 * The listeners on the sockets the parent bound, disabled until the ban
 * list is here (or SMTP_BANS_WAIT_SECS passed).
 */
static void
smtp_server_listen(struct smtp_server *srv, const int *listen_fds,
    int submit_fd)
{
	struct timeval tv = { SMTP_BANS_WAIT_SECS, 0 };
	size_t n = srv->conf->n_listeners + (submit_fd >= 0);

	for (size_t i = 0; i < n; i++) {
		struct smtp_listener *l = &srv->listeners[i];
		int local = i == srv->conf->n_listeners;

		l->srv = srv;
		l->conf = local ? &srv->conf->submit_listener :
		    &srv->conf->listeners[i];
		l->index = i;
		l->evl = evconnlistener_new(srv->base, accept_cb, l,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
		    LEV_OPT_DISABLED, -1, local ? submit_fd : listen_fds[i]);
		if (l->evl == NULL)
			fatal("%s: evconnlistener_new", __func__);
		evconnlistener_set_error_cb(l->evl, accept_error_cb);
		srv->n_listeners++;
	}
	if ((srv->bans_wait = evtimer_new(srv->base, bans_wait_cb, srv)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(srv->bans_wait, &tv);
}

/* after the loop: every session, then what the server owns */
static void
smtp_server_free(struct smtp_server *srv)
{
	struct smtp_session *s;

	for (size_t i = 0; i < srv->n_listeners; i++)
		evconnlistener_free(srv->listeners[i].evl);
	smtp_proxy_close_all(srv);
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		smtp_server_session_gone(srv, s);
	while ((s = TAILQ_FIRST(&srv->dead)) != NULL) {
		TAILQ_REMOVE(&srv->dead, s, entry);
		smtp_session_free(s);
	}
	ipc_peer_free(srv->parent);
	ipc_peer_free(srv->queue);
	ipc_peer_free(srv->auth);
	ipc_peer_free(srv->lookup);
	smtp_ctl_stop();
	event_free(srv->reaper);
	event_free(srv->flusher);
	event_free(srv->shutdown_timer);
	event_free(srv->guard_timer);
	event_free(srv->series_timer);
	event_free(srv->bans_wait);
	guard_free(srv->guard);
	dnsbl_free(srv->dnsbl);
	smtp_rdns_free(srv->rdns);
	smtp_dkim_server_free(srv);
	resolver_free(srv->authres);
	authwork_free(srv->authwork);
	denylist_free(srv->deny);
	banlist_free(srv->bans);
	for (size_t i = 0; i < srv->n_suspended; i++)
		free(srv->suspended[i]);
	free(srv->suspended);
	for (size_t i = 0; i <= SMTP_IP_BUCKETS; i++) {
		struct smtp_ipcount_bucket *b = i < SMTP_IP_BUCKETS ?
		    &srv->by_ip[i] : &srv->by_uid;
		struct smtp_ipcount *e;

		while ((e = LIST_FIRST(b)) != NULL) {
			LIST_REMOVE(e, entry);
			free(e);
		}
	}
	conf_free(srv->conf);
	free(srv);
}

/* smtp_proc_main - run the network process until shutdown */
int
smtp_proc_main(struct proc_env *env)
{
	struct smtp_server *srv;

	srv = smtp_server_new(env);
	smtp_server_peers(srv, env);
	smtp_server_listen(srv, env->listen_fds, env->submit_fd);
	log_info(LOG_CAT_DAEMON, "event=ready listeners=%zu", srv->n_listeners);
	event_base_dispatch(srv->base);
	smtp_server_free(srv);
	return 0;
}
