/*
 * queue_watch.c - notice a taken-over account and stop it on its own.
 *
 * Public: queue_watch_new, queue_watch_free, queue_watch_set_conf,
 * queue_watch_held, queue_watch_stored, queue_watch_login,
 * queue_watch_lost.
 *
 * Every message stored for an authenticated user, or for a relay client
 * without AUTH, is counted in sliding windows (policy/watch.c): all
 * recipients, outside recipients, outside domains, over watch_window
 * and over a day. Past the hold_* thresholds (of the window, or the
 * *_day ones of the day) the configured watch_action is taken (alert,
 * hold or suspend); past the suspend_* thresholds the account is
 * suspended (a relay client's mail is held: an address cannot log in to
 * be refused).
 * A relay client is an internal server carrying many users' mail: it is
 * counted twice, per envelope sender ("ip:ADDRESS/SENDER", thresholds
 * times relay_sender_factor), so one taken-over mailbox behind it is
 * held alone, and as a whole ("ip:ADDRESS", thresholds times
 * relay_client_factor), the backstop for a run spread over senders.
 *
 * The windows survive a restart: each counted message is also a row of
 * watch_traffic in the queue database, written in one transaction a
 * second at most (never one per message) and at stop, and read back at
 * start. A crash forgets at most the last second; rows older than a day
 * are deleted as new ones are written.
 * Hold and suspend hold the sender's queued mail at once and all its
 * new mail as it is stored, so nothing of a spam run leaves.
 * A login right after a guessing attack holds the account before its
 * first message (queue_watch_login, queue_guess.c) until an admin
 * releases it or the owner's usual pattern is back (event
 * guess_quarantine_end), and an account lost
 * to hold or suspend gets the addresses that guessed at it banned. Every
 * decision is an event, a log line at warn with alert=yes, and a run of
 * the admin's alert_command, outside the mail queue.
 *
 * SECURITY: the alert command is run without a shell, with the details
 * in environment variables (no argument the sender controls is parsed).
 * LIMITS: the window's memory per sender is bounded (policy/watch.h);
 * WATCH_PENDING_MAX rows wait for the database at most.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "mail/addr.h"
#include "policy/relay.h"
#include "policy/watch.h"
#include "queue/queue_alert.h"
#include "queue/queue_db.h"
#include "queue/queue_guess.h"
#include "queue/queue_watch.h"

#define WATCH_DAY		86400
#define WATCH_PENDING_MAX	1024	/* rows written at once at most */

/* a counted message not yet in the database */
struct watch_pending {
	char	*sender;	/* owned: a user, or ip:ADDRESS */
	char	*mail_from;	/* owned: a relay client's sender, or NULL */
	char	*domains;	/* owned, distinct, space-separated */
	time_t	 time;
	int	 rcpts, ext_rcpts;
};

struct queue_watch {
	const struct conf	*conf;		/* not owned */
	struct queue_db		*db;		/* not owned */
	struct ipc_peer		*smtp;		/* not owned */
	struct relay_table	 relay;		/* views into conf */
	struct watch		*win;		/* watch_window, owned */
	struct watch		*day;		/* WATCH_DAY, owned */
	struct event		*flush_ev;	/* writes pending, owned */
	struct watch_pending	 pending[WATCH_PENDING_MAX];
	size_t			 npending;
	time_t			 last_expire;
	struct {
		uint64_t	 hash;		/* of the sender key */
		time_t		 until;
	} alerted[256];				/* alerts raised this window */
};

/* one alert per sender and window, however the counts jump */
static int
alert_once(struct queue_watch *w, const char *key, time_t now)
{
	uint64_t h = 1469598103934665603ull;
	size_t slot;

	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	slot = h % (sizeof(w->alerted) / sizeof(w->alerted[0]));
	if (w->alerted[slot].hash == h && w->alerted[slot].until > now)
		return 0;
	w->alerted[slot].hash = h;
	w->alerted[slot].until = now + w->conf->watch_window;
	return 1;
}

/* count one message into a window; domains: its distinct outside ones */
static void
count_message(struct watch *win, const char *key, time_t when, int rcpts,
    int ext_rcpts, const char *const *domains, size_t ndomains)
{
	const char **dom;
	int *ext;

	if (rcpts <= 0)
		return;
	if ((dom = calloc((size_t)rcpts, sizeof(*dom))) == NULL ||
	    (ext = calloc((size_t)rcpts, sizeof(*ext))) == NULL) {
		free(dom);
		return;
	}
	/* the outside recipients first, over the distinct domains */
	for (int i = 0; i < rcpts; i++) {
		ext[i] = i < ext_rcpts;
		dom[i] = ndomains > 0 ? domains[(size_t)i % ndomains] : "";
	}
	watch_message(win, key, when, (size_t)rcpts, dom, ext);
	free(dom);
	free(ext);
}

/* a stored row into both windows under key */
static void
count_row(struct queue_watch *w, const char *key,
    const struct queue_watch_row *r, const char *const *dom, size_t nd)
{
	count_message(w->day, key, r->time, r->rcpts, r->ext_rcpts, dom, nd);
	if (r->time > time(NULL) - w->conf->watch_window)
		count_message(w->win, key, r->time, r->rcpts, r->ext_rcpts,
		    dom, nd);
}

/* one stored row back into the windows */
static void
load_row_cb(void *arg, const struct queue_watch_row *r)
{
	struct queue_watch *w = arg;
	const char *dom[WATCH_DOMAINS];
	char key[WATCH_KEY_MAX], *copy, *p, *tok;
	size_t nd = 0;

	if ((copy = strdup(r->ext_domains)) == NULL)
		return;
	for (p = copy; (tok = strsep(&p, " ")) != NULL && nd < WATCH_DOMAINS;)
		if (*tok != '\0')
			dom[nd++] = tok;
	count_row(w, r->sender, r, dom, nd);
	/* a relay client's row counts for its sender too */
	if (r->mail_from != NULL && w->conf->relay_sender_watch &&
	    strncmp(r->sender, "ip:", 3) == 0 &&
	    watch_key_sender(key, sizeof(key), r->sender + 3,
	    r->mail_from) == 0)
		count_row(w, key, r, dom, nd);
	free(copy);
}

/* write the pending rows in one transaction; drop the day-old ones */
static void
watch_flush(struct queue_watch *w)
{
	struct queue_watch_row rows[WATCH_PENDING_MAX];

	if (w->npending == 0)
		return;
	for (size_t i = 0; i < w->npending; i++) {
		rows[i].sender = w->pending[i].sender;
		rows[i].time = w->pending[i].time;
		rows[i].rcpts = w->pending[i].rcpts;
		rows[i].ext_rcpts = w->pending[i].ext_rcpts;
		rows[i].ext_domains = w->pending[i].domains;
		rows[i].mail_from = w->pending[i].mail_from;
	}
	/* a failure was logged: the counts stay in memory all the same */
	(void)queue_db_watch_add(w->db, rows, w->npending);
	(void)queue_db_watch_expire(w->db, (int64_t)time(NULL) - WATCH_DAY);
	for (size_t i = 0; i < w->npending; i++) {
		free(w->pending[i].sender);
		free(w->pending[i].mail_from);
		free(w->pending[i].domains);
	}
	w->npending = 0;
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	watch_flush(arg);
}

/* both windows afresh from the database */
static void
watch_load(struct queue_watch *w)
{
	watch_free(w->win);
	watch_free(w->day);
	w->win = watch_new(w->conf->watch_window);
	w->day = watch_new(WATCH_DAY);
	if (w->win == NULL || w->day == NULL)
		return;
	(void)queue_db_watch_load(w->db, (int64_t)time(NULL) - WATCH_DAY,
	    load_row_cb, w);
}

struct queue_watch *
queue_watch_new(const struct conf *conf, struct queue_db *db,
    struct ipc_peer *smtp, struct event_base *base)
{
	struct queue_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->db = db;
	w->smtp = smtp;
	if (base != NULL &&
	    (w->flush_ev = evtimer_new(base, flush_cb, w)) == NULL) {
		free(w);
		return NULL;
	}
	queue_watch_set_conf(w, conf);
	if (w->win == NULL || w->day == NULL) {
		queue_watch_free(w);
		return NULL;
	}
	return w;
}

void
queue_watch_free(struct queue_watch *w)
{
	if (w == NULL)
		return;
	watch_flush(w);
	if (w->flush_ev != NULL)
		event_free(w->flush_ev);
	watch_free(w->win);
	watch_free(w->day);
	free(w);
}

/* queue_watch_set_conf - new thresholds; the windows are read again from
 * the database only when the window's length, or whether senders of
 * relay clients are counted, changed */
void
queue_watch_set_conf(struct queue_watch *w, const struct conf *conf)
{
	int same = w->win != NULL && w->conf != NULL &&
	    w->conf->watch_window == conf->watch_window &&
	    w->conf->relay_sender_watch == conf->relay_sender_watch;

	w->conf = conf;
	conf_relay_table(conf, &w->relay);
	if (same)
		return;
	watch_flush(w);
	watch_load(w);
}

/*
 * The keys of a message's sender (policy/watch.h): an authenticated
 * user's name into user; for a relay client "ip:ADDRESS" into client
 * and, when counted, "ip:ADDRESS/SENDER" into one ("" when not). 0 when
 * the message is nobody's of ours (inbound mail from the Internet).
 */
static int
sender_keys(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *sender, char *user, char *client,
    char *one, size_t len)
{
	uint8_t a[16];

	user[0] = client[0] = one[0] = '\0';
	if (auth_user != NULL && auth_user[0] != '\0') {
		snprintf(user, len, "%s", auth_user);
		return 1;
	}
	if (client_ip == NULL || cidr_addr_parse(client_ip, a) == -1 ||
	    !relay_client_trusted(&w->relay, a) ||
	    watch_key_client(client, len, client_ip) == -1)
		return 0;
	if (w->conf->relay_sender_watch && sender != NULL &&
	    watch_key_sender(one, len, client_ip, sender) == -1)
		one[0] = '\0';
	return 1;
}

/* held or suspended (a missing row is active; a failed read is not) */
static int
key_held(struct queue_watch *w, const char *key)
{
	char state[32];

	if (key[0] == '\0' ||
	    queue_db_sender_state(w->db, key, state, sizeof(state)) == -1)
		return 0;
	return strcmp(state, "active") != 0;
}

/* queue_watch_held - is this sender held or suspended? */
int
queue_watch_held(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *sender)
{
	char user[WATCH_KEY_MAX], client[WATCH_KEY_MAX], one[WATCH_KEY_MAX];

	if (!sender_keys(w, auth_user, client_ip, sender, user, client, one,
	    WATCH_KEY_MAX))
		return 0;
	return key_held(w, user) || key_held(w, client) || key_held(w, one);
}

/* a key and its parts, for the log, the events and the alert command */
struct watch_who {
	const char		*key;
	enum watch_key_kind	 kind;
	char			 ip[64];		/* "" for a user */
	char			 sender[WATCH_KEY_MAX];	/* "" for <> */
};

static int
watch_who(struct watch_who *k, const char *key)
{
	k->key = key;
	k->ip[0] = k->sender[0] = '\0';
	return watch_key_parse(key, &k->kind, k->ip, sizeof(k->ip), k->sender,
	    sizeof(k->sender));
}

/* run alert_command with the decision's details (queue_alert.c) */
static void
run_alert_command(struct queue_watch *w, const char *type,
    const struct watch_who *k, const char *client, const char *detail)
{
	struct queue_alert a;

	a.event = type;
	a.user = k->kind == WATCH_KEY_USER ? k->key : "";
	a.client = client != NULL ? client : k->ip;
	a.sender = k->kind == WATCH_KEY_SENDER ?
	    k->sender[0] != '\0' ? k->sender : "<>" : "";
	a.detail = detail;
	queue_alert_run(w->conf->alert_command, &a);
}

/*
 * record, log and announce one decision about a sender: action alert,
 * hold or suspend; type names the event (NULL: the action's own), client
 * the address it is about when the key is a user (NULL: none)
 */
static void
watch_decide(struct queue_watch *w, const char *key, const char *action,
    const char *counts, const char *type, const char *client)
{
	struct queue_event ev;
	struct watch_who k;
	time_t now = time(NULL);
	char esc[WATCH_KEY_MAX * 4], from[WATCH_KEY_MAX * 4];
	char who[WATCH_KEY_MAX * 4 + 96], detail[WATCH_KEY_MAX * 4 + 512];
	char before[32];
	int is_ip, lost = 0;

	if (watch_who(&k, key) == -1)
		return;
	is_ip = k.kind != WATCH_KEY_USER;
	log_escape(esc, sizeof(esc), key, strlen(key));
	/* the client and the sender by name, in the log and the event */
	who[0] = '\0';
	if (k.kind == WATCH_KEY_SENDER)
		snprintf(who, sizeof(who), "client=%s mail_from=<%s> ", k.ip,
		    k.sender[0] != '\0' ? log_escape_bare(from, sizeof(from),
		    k.sender, strlen(k.sender)) : "");
	else if (k.kind == WATCH_KEY_CLIENT)
		snprintf(who, sizeof(who), "client=%s ", k.ip);
	snprintf(detail, sizeof(detail), "%s%s", k.kind == WATCH_KEY_SENDER ?
	    who : "", counts);
	if (strcmp(action, "alert") != 0) {
		int64_t held = 0;
		/* an address cannot be suspended from AUTH: its mail is held */
		const char *state = strcmp(action, "suspend") == 0 && !is_ip ?
		    "suspended" : "held";

		/* the account is lost from active: its guessers are banned */
		lost = !is_ip && queue_db_sender_state(w->db, key, before,
		    sizeof(before)) == 0 && strcmp(before, "active") == 0;
		if (queue_db_sender_set(w->db, key, state, detail, now, &held) == -1)
			return;
		log_warn(LOG_CAT_POLICY, "event=%s sender=\"%s\" %sstate=%s "
		    "held_recipients=%lld %s alert=yes", type != NULL ? type :
		    action, esc, who, state, (long long)held, counts);
		if (!is_ip) {
			struct proto_user_state us;
			struct ipc_msg m;

			/* smtp closes a suspended user's sessions, refuses AUTH */
			us.user = key;
			us.state = state;
			proto_user_state_enc(&m, 0, &us);
			ipc_send(w->smtp, &m);
		}
	} else
		log_warn(LOG_CAT_POLICY, "event=watch_alert sender=\"%s\" %s%s "
		    "alert=yes", esc, who, counts);
	memset(&ev, 0, sizeof(ev));
	ev.time = now;
	ev.type = type != NULL ? type : strcmp(action, "alert") == 0 ?
	    "watch_alert" : action;
	ev.client_ip = is_ip ? k.ip : client;
	ev.user = is_ip ? NULL : key;
	ev.session = NULL;
	ev.detail = detail;
	(void)queue_db_event_add(w->db, &ev, 1);
	run_alert_command(w, ev.type, &k, client, detail);
	if (lost)
		(void)queue_guess_ban(w->conf, w->db, w->smtp, key, now);
}

static int
domain_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* the distinct outside domains of a message, space-separated (owned) */
static char *
distinct_domains(const char *const *domains, const int *ext, size_t nrcpt)
{
	const char **v;
	size_t n = 0, len = 1;
	char *out, *p;

	if ((v = calloc(nrcpt ? nrcpt : 1, sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < nrcpt; i++)
		if (ext[i] && domains[i][0] != '\0' &&
		    strchr(domains[i], ' ') == NULL)
			v[n++] = domains[i];
	qsort(v, n, sizeof(*v), domain_cmp);
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	if ((out = p = malloc(len)) == NULL) {
		free(v);
		return NULL;
	}
	*p = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcasecmp(v[i], v[i - 1]) == 0)
			continue;
		p += sprintf(p, "%s%s", p == out ? "" : " ", v[i]);
	}
	free(v);
	return out;
}

/* keep one counted message for the database, written within a second */
static void
watch_remember(struct queue_watch *w, const char *key, const char *mail_from,
    time_t now, size_t nrcpt, const char *const *domains, const int *ext)
{
	struct watch_pending *p;
	int next = 0;

	if (w->npending == WATCH_PENDING_MAX)
		watch_flush(w);
	p = &w->pending[w->npending];
	p->mail_from = NULL;
	if ((p->sender = strdup(key)) == NULL ||
	    (mail_from != NULL && (p->mail_from = strdup(mail_from)) == NULL) ||
	    (p->domains = distinct_domains(domains, ext, nrcpt)) == NULL) {
		free(p->sender);
		free(p->mail_from);
		return;
	}
	p->time = now;
	p->rcpts = (int)nrcpt;
	for (size_t i = 0; i < nrcpt; i++)
		next += ext[i] != 0;
	p->ext_rcpts = next;
	if (w->npending++ == 0 && w->flush_ev != NULL) {
		struct timeval tv = { 1, 0 };

		evtimer_add(w->flush_ev, &tv);
	}
}

/* past its thresholds, what to do about key (NULL: nothing) */
static const char *
key_action(struct queue_watch *w, const char *key, long factor,
    struct watch_counts *n, struct watch_counts *d, time_t now)
{
	const struct conf *c = w->conf;
	const struct watch_limits lim = {
		c->hold_external_rcpts, c->hold_external_domains,
		c->hold_external_rcpts_day, c->suspend_external_rcpts,
		c->suspend_external_domains, c->suspend_external_rcpts_day,
	};
	int is_ip = strncmp(key, "ip:", 3) == 0;
	enum watch_level lv;
	char state[32];

	watch_get(w->win, key, now, n);
	watch_get(w->day, key, now, d);
	if ((lv = watch_judge(&lim, factor, n, d)) == WATCH_BELOW ||
	    queue_db_sender_state(w->db, key, state, sizeof(state)) == -1)
		return NULL;
	if (lv == WATCH_PAST_SUSPEND) {
		/* an address is only ever held; hold once */
		if (strcmp(state, "suspended") != 0 &&
		    !(is_ip && strcmp(state, "held") == 0))
			return "suspend";
		return NULL;
	}
	if (strcmp(state, "active") != 0)
		return NULL;
	/* an alert is raised once per window, not per message */
	if (strcmp(c->watch_action, "alert") == 0 && !alert_once(w, key, now))
		return NULL;
	return c->watch_action;
}

/* judge key after a message; decide when past its thresholds */
static void
judge_key(struct queue_watch *w, const char *key, long factor,
    const char *qid, time_t now)
{
	struct watch_counts n, d;
	const char *action;
	char counts[320];

	if ((action = key_action(w, key, factor, &n, &d, now)) == NULL)
		return;
	snprintf(counts, sizeof(counts), "qid=%s messages=%d external_rcpts=%d "
	    "external_domains=%d window=%ds external_rcpts_day=%d", qid,
	    n.messages, n.ext_rcpts, n.ext_domains, w->conf->watch_window,
	    d.ext_rcpts);
	watch_decide(w, key, action, counts, NULL, NULL);
}

/* queue_watch_stored - count one message; act past the thresholds */
void
queue_watch_stored(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *sender, const char *qid,
    const struct queue_rcpt *rcpts, size_t nrcpt)
{
	const struct conf *c = w->conf;
	const char **domains;
	int *ext;
	char user[WATCH_KEY_MAX], client[WATCH_KEY_MAX], one[WATCH_KEY_MAX];
	char mail_from[WATCH_KEY_MAX];
	const char *key;
	time_t now = time(NULL);

	if (!sender_keys(w, auth_user, client_ip, sender, user, client, one,
	    WATCH_KEY_MAX) || nrcpt == 0)
		return;
	key = user[0] != '\0' ? user : client;
	if ((domains = calloc(nrcpt, sizeof(*domains))) == NULL ||
	    (ext = calloc(nrcpt, sizeof(*ext))) == NULL) {
		free(domains);
		return;
	}
	for (size_t i = 0; i < nrcpt; i++) {
		domains[i] = addr_domain_of(rcpts[i].address, NULL);
		ext[i] = rcpts[i].mailbox == NULL || rcpts[i].mailbox[0] == '\0';
	}
	watch_message(w->win, key, now, nrcpt, domains, ext);
	watch_message(w->day, key, now, nrcpt, domains, ext);
	if (one[0] != '\0') {
		watch_message(w->win, one, now, nrcpt, domains, ext);
		watch_message(w->day, one, now, nrcpt, domains, ext);
	}
	/* a relay client's row keeps its sender, as its key has it */
	watch_remember(w, key, key == client && sender != NULL &&
	    watch_sender_fold(mail_from, sizeof(mail_from), sender) == 0 ?
	    mail_from : NULL, now, nrcpt, domains, ext);
	free(domains);
	free(ext);
	if (now - w->last_expire > 60) {
		watch_expire(w->win, now);
		watch_expire(w->day, now);
		w->last_expire = now;
	}
	if (key == user) {
		judge_key(w, user, 1, qid, now);
		return;
	}
	/* the sender on its own first: it is the one to name */
	if (one[0] != '\0')
		judge_key(w, one, c->relay_sender_factor, qid, now);
	judge_key(w, client, c->relay_client_factor, qid, now);
}

/*
 * The owner's usual pattern is back (queue_guess_usual): the account is
 * active again, smtp is told, and the end is an event, a log line at
 * warn with alert=yes and a run of alert_command.
 */
static void
watch_quarantine_end(struct queue_watch *w, const char *user, const char *ip,
    const char *session, const char *why, int64_t released, int64_t kept)
{
	struct proto_user_state us;
	struct queue_event ev;
	struct watch_who k;
	struct ipc_msg m;
	char esc[WATCH_KEY_MAX * 4], detail[1024], net[CIDR_STRLEN];
	time_t now = time(NULL);
	int64_t held;

	snprintf(detail, sizeof(detail), "session=%s %s released=%lld "
	    "still_held=%lld", session, why, (long long)released,
	    (long long)kept);
	if (watch_who(&k, user) == -1 ||
	    queue_db_sender_set(w->db, user, "active", detail, now,
	    &held) == -1)
		return;
	if (queue_guess_net(ip, net, sizeof(net)) == 0)
		(void)queue_db_login_net_add(w->db, user, net, (int64_t)now);
	us.user = user;
	us.state = "active";
	proto_user_state_enc(&m, 0, &us);
	ipc_send(w->smtp, &m);
	log_warn(LOG_CAT_POLICY, "event=guess_quarantine_end sender=\"%s\" "
	    "state=active %s alert=yes", log_escape(esc, sizeof(esc), user,
	    strlen(user)), detail);
	memset(&ev, 0, sizeof(ev));
	ev.time = now;
	ev.type = "guess_quarantine_end";
	ev.client_ip = ip;
	ev.user = user;
	ev.detail = detail;
	(void)queue_db_event_add(w->db, &ev, 1);
	run_alert_command(w, ev.type, &k, ip, detail);
}

/*
 * queue_watch_login - user logged in from ip (PROTO_AUTH_LOGIN, which
 * smtp sends before its 235, so before any message of the session):
 * after a guessing attack the account is held at once, so that its
 * first message is stored held (queue_watch_held at the commit); a
 * login of the owner's usual pattern ends that hold again.
 */
int64_t
queue_watch_login(struct queue_watch *w, const char *user, const char *ip,
    const char *session)
{
	char state[32], why[512], counts[640];
	int64_t released, kept;

	if (user[0] == '\0' || strncmp(user, "ip:", 3) == 0 ||
	    queue_db_sender_state(w->db, user, state, sizeof(state)) == -1)
		return 0;
	/* a held account's logins teach nothing about its owner, unless
	 * they show its usual pattern again after a quarantine */
	if (strcmp(state, "held") == 0) {
		if (queue_guess_usual(w->conf, w->db, user, ip, time(NULL), why,
		    sizeof(why), &released, &kept) != 1)
			return 0;
		watch_quarantine_end(w, user, ip, session, why, released, kept);
		return released;
	}
	if (strcmp(state, "active") != 0)
		return 0;
	if (queue_guess_login(w->conf, w->db, user, ip, time(NULL), why,
	    sizeof(why)) != 1)
		return 0;
	snprintf(counts, sizeof(counts), "session=%s %s", session, why);
	watch_decide(w, user, "hold", counts, "login_after_guessing", ip);
	return 0;
}

/* queue_watch_lost - an admin held or suspended user: ban its guessers */
void
queue_watch_lost(struct queue_watch *w, const char *user)
{
	if (user[0] != '\0' && strncmp(user, "ip:", 3) != 0)
		(void)queue_guess_ban(w->conf, w->db, w->smtp, user, time(NULL));
}
