/*
 * queue_guess.c - an account after a guessing attack: its login is
 * judged, and the addresses that guessed are banned once it is lost.
 *
 * Public: queue_guess_net, queue_guess_login, queue_guess_usual,
 * queue_guess_ban.
 *
 * A password list tried against one account from many addresses, each
 * failing too rarely to be banned by auth_fail_limit, is what the
 * account_attack alert of smtp names. When such an account then logs
 * in with the right password, the password was most likely found: a
 * login within guess_window of the attack, from an address that failed
 * for the account or from a network the account never logged in from,
 * is quarantined (the caller holds the account before its first
 * message is stored). A login from a known network that did not take
 * part is the owner's and is let through. The networks an account
 * logged in from are kept in login_nets (queue_db.c).
 *
 * The quarantine ends by itself when the owner's usual pattern is back
 * (queue_guess_usual), judged at a login and conservatively: the login
 * comes from a network the account logged in from before the attack
 * began (login_nets' first_seen before the first AUTH failure of the
 * attack), from an address that did not fail for it, and the account
 * has had no AUTH failure for guess_quiet_time. Only a hold made by the
 * quarantine itself ends so (not an admin's, not the watch's, not a
 * suspension). New mail then goes as usual; of the mail held meanwhile,
 * what came from an address that passes the same test (a usual network,
 * no failure for the account) is released, the rest stays held for the
 * admin.
 *
 * Once an account is held or suspended as compromised (this, the
 * watch's thresholds, or an admin), every address that failed AUTH for
 * it within guess_window is banned for ban_time_max, one by one or, with
 * guess_ban_aggregate, per /24 (IPv4) or /64 (IPv6): they are the
 * attack's, and likely its next. Each ban is an event naming the
 * account, stored in bans and sent to smtp (PROTO_BAN_ADD).
 *
 * The evidence is the events table: the auth_fail events smtp recorded
 * (client and attempted user) and its account_attack alerts.
 *
 * SECURITY: the user name and addresses were recorded from the network;
 * they reach SQL as bound parameters and the log escaped. An address
 * that does not parse is skipped. Addresses in relay_networks are never
 * banned (as the per-address AUTH rule never bans them).
 * LIMITS: QUEUE_GUESS_BANS_MAX bans per decision (the attack's
 * addresses, deduplicated by network).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "policy/relay.h"
#include "queue/queue_db.h"
#include "queue/queue_guess.h"

#define GUESS_NET_V4	24	/* a login network, and an aggregated ban */
#define GUESS_NET_V6	64

/* queue_guess_net - the network of ip as login_nets keeps it */
int
queue_guess_net(const char *ip, char *net, size_t len)
{
	uint8_t a[16];
	struct cidr c;

	if (cidr_addr_parse(ip, a) == -1)
		return -1;
	cidr_client_net(a, GUESS_NET_V4, GUESS_NET_V6, &c);
	cidr_format(&c, net, len);
	return 0;
}

/* queue_guess_login - see queue_guess.h */
int
queue_guess_login(const struct conf *c, struct queue_db *db, const char *user,
    const char *ip, time_t now, char *why, size_t len)
{
	struct queue_guess g;
	char net[CIDR_STRLEN];
	int seen, guessed;

	why[0] = '\0';
	if (queue_guess_net(ip, net, sizeof(net)) == -1)
		snprintf(net, sizeof(net), "%s", ip);
	if (queue_db_guess_get(db, user, ip, (int64_t)now - c->guess_window,
	    &g) == -1 || (seen = queue_db_login_net_seen(db, user, net)) == -1)
		return -1;
	/* the alert of smtp, or the failures it counts, from several
	 * addresses (after a restart smtp's own counters are gone) */
	guessed = g.attack || (g.failures >= c->account_fail_limit &&
	    g.addresses >= 2);
	if (c->quarantine_after_guessing && guessed &&
	    (g.from_ip || !seen)) {
		snprintf(why, len, "client=%s net=%s %s failures=%d "
		    "addresses=%d window=%ds", ip, net, g.from_ip ?
		    "failed_for_it=yes" : "new_network=yes", g.failures,
		    g.addresses, c->guess_window);
		return 1;
	}
	(void)queue_db_login_net_add(db, user, net, (int64_t)now);
	return 0;
}

/* the client addresses of an account's held mail */
struct guess_held {
	char	**ip;
	size_t	  n;
	int	  failed;		/* out of memory */
};

static void
guess_held_cb(void *arg, const char *ip)
{
	struct guess_held *h = arg;
	char **v;

	if (h->failed || (v = reallocarray(h->ip, h->n + 1,
	    sizeof(*v))) == NULL || (v[h->n] = strdup(ip)) == NULL) {
		h->failed = 1;
		return;
	}
	h->ip = v;
	h->n++;
}

/* the usual test for one address, its network into net; -1 error */
static int
guess_ip_usual(struct queue_db *db, struct queue_guess_usual *u,
    const char *ip, char net[CIDR_STRLEN])
{
	if (queue_guess_net(ip, net, CIDR_STRLEN) == -1)
		return 0;
	u->ip = ip;
	u->net = net;
	return queue_db_guess_usual(db, u);
}

/* queue_guess_usual - see queue_guess.h */
int
queue_guess_usual(const struct conf *c, struct queue_db *db,
    const char *user, const char *ip, time_t now, char *why, size_t len,
    int64_t *released, int64_t *kept)
{
	struct queue_guess_usual u;
	struct guess_held h = { NULL, 0, 0 };
	char net[CIDR_STRLEN], other[CIDR_STRLEN];
	int64_t since, n;
	int r;

	why[0] = '\0';
	*released = *kept = 0;
	if ((r = queue_db_guess_quarantined(db, user, &since)) != 1)
		return r;
	u.user = user;
	u.held_since = since;
	u.attack_from = since - c->guess_window;
	u.quiet_since = (int64_t)now - c->guess_quiet_time;
	if ((r = guess_ip_usual(db, &u, ip, net)) != 1)
		return r;
	snprintf(why, len, "client=%s net=%s quarantined_since=%lld "
	    "quiet=%ds", ip, net, (long long)since, c->guess_quiet_time);
	/* the held mail: only the failures matter now, not the quiet */
	u.quiet_since = (int64_t)now + 1;
	if (queue_db_guess_held_clients(db, user, guess_held_cb, &h) == -1 ||
	    h.failed)
		r = -1;
	/* judged first, released after: an error releases nothing */
	for (size_t i = 0; r == 1 && i < h.n; i++) {
		int usual = guess_ip_usual(db, &u, h.ip[i], other);

		if (usual == -1)
			r = -1;
		else if (usual == 0) {
			free(h.ip[i]);
			h.ip[i] = NULL;
		}
	}
	for (size_t i = 0; i < h.n; i++) {
		if (r == 1 && h.ip[i] != NULL && queue_db_guess_release(db,
		    user, h.ip[i], (int64_t)now, &n) == 0)
			*released += n;
		free(h.ip[i]);
	}
	free(h.ip);
	if (r == 1 && queue_db_guess_held_count(db, user, kept) == -1)
		*kept = -1;
	return r;
}

/* the networks to ban, deduplicated */
struct guess_bans {
	const struct conf	*conf;
	struct relay_table	 relay;
	struct cidr		 net[QUEUE_GUESS_BANS_MAX];
	int			 count[QUEUE_GUESS_BANS_MAX];	/* addresses */
	size_t			 n;
	int			 skipped;
};

static void
guess_client_cb(void *arg, const char *ip)
{
	struct guess_bans *b = arg;
	struct cidr c;
	uint8_t a[16];

	if (cidr_addr_parse(ip, a) == -1 || relay_client_trusted(&b->relay, a))
		return;
	if (b->conf->guess_ban_aggregate)
		cidr_client_net(a, GUESS_NET_V4, GUESS_NET_V6, &c);
	else
		cidr_client_net(a, b->conf->client_prefix_v4,
		    b->conf->client_prefix_v6, &c);
	for (size_t i = 0; i < b->n; i++)
		if (b->net[i].prefix == c.prefix &&
		    memcmp(b->net[i].addr, c.addr, 16) == 0) {
			b->count[i]++;
			return;
		}
	if (b->n == QUEUE_GUESS_BANS_MAX) {
		b->skipped++;
		return;
	}
	b->net[b->n] = c;
	b->count[b->n++] = 1;
}

/* queue_guess_ban - see queue_guess.h */
int
queue_guess_ban(const struct conf *c, struct queue_db *db,
    struct ipc_peer *smtp, const char *user, time_t now)
{
	struct guess_bans *b;
	char uesc[1024], reason[PROTO_REASON_MAX], detail[1400];
	char net[CIDR_STRLEN];
	int64_t expires = (int64_t)now + c->ban_time_max;
	int n = 0;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		log_err(LOG_CAT_POLICY, "event=guess_ban_failed error=calloc");
		return -1;
	}
	b->conf = c;
	conf_relay_table(c, &b->relay);
	if (queue_db_guess_clients(db, user, (int64_t)now - c->guess_window,
	    guess_client_cb, b) == -1) {
		free(b);
		return -1;
	}
	log_escape(uesc, sizeof(uesc), user, strlen(user));
	for (size_t i = 0; i < b->n; i++) {
		struct queue_event ev;
		struct proto_ban pb;
		struct ipc_msg m;

		cidr_format(&b->net[i], net, sizeof(net));
		/* the reason is cut to what a ban keeps; the event has all */
		snprintf(reason, sizeof(reason), "guessed at account %.200s", uesc);
		if (queue_db_ban_add(db, net, reason, "guess", (int64_t)now,
		    expires) == -1)
			continue;
		snprintf(detail, sizeof(detail), "cidr=%s account=%s "
		    "addresses=%d for=%ds", net, uesc, b->count[i],
		    c->ban_time_max);
		log_warn(LOG_CAT_POLICY, "event=guess_ban %s alert=yes", detail);
		memset(&ev, 0, sizeof(ev));
		ev.time = (int64_t)now;
		ev.type = "guess_ban";
		ev.client_ip = net;
		ev.user = user;
		ev.detail = detail;
		(void)queue_db_event_add(db, &ev, 1);	/* logged */
		if (smtp != NULL) {
			pb.cidr = net;
			pb.expires = expires;
			pb.reason = reason;
			pb.origin = "guess";
			proto_ban_enc(&m, 0, &pb);
			ipc_send(smtp, &m);
		}
		n++;
	}
	if (b->skipped > 0)
		log_warn(LOG_CAT_POLICY, "event=guess_ban_truncated account=%s "
		    "banned=%d left=%d", uesc, n, b->skipped);
	free(b);
	return n;
}
