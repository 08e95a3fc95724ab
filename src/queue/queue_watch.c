/*
 * queue_watch.c - notice a taken-over account and stop it on its own.
 *
 * Public: queue_watch_new, queue_watch_free, queue_watch_set_conf,
 * queue_watch_held, queue_watch_stored.
 *
 * Every message stored for an authenticated user, or for a relay client
 * without AUTH, is counted in sliding windows (policy/watch.c): all
 * recipients, outside recipients, outside domains. Past the hold_*
 * thresholds the configured watch_action is taken (alert, hold or
 * suspend); past the suspend_* thresholds the account is suspended (a
 * relay client's mail is held: an address cannot log in to be refused).
 * Hold and suspend hold the sender's queued mail at once and all its
 * new mail as it is stored, so nothing of a spam run leaves. Every
 * decision is an event, a log line at warn with alert=yes, and a run of
 * the admin's alert_command, outside the mail queue.
 *
 * SECURITY: the alert command is run without a shell, with the details
 * in environment variables (no argument the sender controls is parsed).
 * LIMITS: the window's memory per sender is bounded (policy/watch.h).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "daemon/config.h"
#include "io/ipc.h"
#include "io/proto.h"
#include "lib/cidr.h"
#include "lib/log.h"
#include "policy/relay.h"
#include "policy/watch.h"
#include "queue/queue_db.h"
#include "queue/queue_watch.h"

struct queue_watch {
	const struct conf	*conf;		/* not owned */
	struct queue_db		*db;		/* not owned */
	struct ipc_peer		*smtp;		/* not owned */
	struct relay_table	 relay;		/* views into conf */
	struct watch		*win;		/* owned */
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

struct queue_watch *
queue_watch_new(const struct conf *conf, struct queue_db *db,
    struct ipc_peer *smtp)
{
	struct queue_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->db = db;
	w->smtp = smtp;
	queue_watch_set_conf(w, conf);
	if (w->win == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void
queue_watch_free(struct queue_watch *w)
{
	if (w == NULL)
		return;
	watch_free(w->win);
	free(w);
}

/* queue_watch_set_conf - new thresholds; the counts start afresh only
 * when the window's length changed */
void
queue_watch_set_conf(struct queue_watch *w, const struct conf *conf)
{
	int same = w->win != NULL && w->conf != NULL &&
	    w->conf->watch_window == conf->watch_window;

	w->conf = conf;
	conf_relay_table(conf, &w->relay);
	if (same)
		return;
	watch_free(w->win);
	w->win = watch_new(conf->watch_window);
}

/* the key of a watched sender: "user" or "ip:ADDR"; 0 when not watched */
static int
sender_key(struct queue_watch *w, const char *auth_user, const char *client_ip,
    char *key, size_t len)
{
	uint8_t a[16];

	if (auth_user != NULL && auth_user[0] != '\0') {
		snprintf(key, len, "%s", auth_user);
		return 1;
	}
	/* inbound mail from the Internet is not "sent by" anyone of ours */
	if (client_ip == NULL || cidr_addr_parse(client_ip, a) == -1 ||
	    !relay_client_trusted(&w->relay, a))
		return 0;
	snprintf(key, len, "ip:%s", client_ip);
	return 1;
}

/* queue_watch_held - is this sender held or suspended? */
int
queue_watch_held(struct queue_watch *w, const char *auth_user,
    const char *client_ip)
{
	char key[320], state[32];

	if (!sender_key(w, auth_user, client_ip, key, sizeof(key)))
		return 0;
	if (queue_db_sender_state(w->db, key, state, sizeof(state)) == -1)
		return 0;
	return strcmp(state, "active") != 0;
}

/* run alert_command, detached: a double fork leaves no zombie behind */
static void
run_alert_command(struct queue_watch *w, const char *type, const char *key,
    const char *detail)
{
	const char *cmd = w->conf->alert_command;
	pid_t pid;

	if (cmd[0] == '\0')
		return;
	if ((pid = fork()) == -1) {
		log_err(LOG_CAT_POLICY, "event=alert_command_failed error=fork");
		return;
	}
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		setenv("MOAT_EVENT", type, 1);
		if (strncmp(key, "ip:", 3) == 0) {
			setenv("MOAT_CLIENT", key + 3, 1);
			setenv("MOAT_USER", "", 1);
		} else {
			setenv("MOAT_USER", key, 1);
			setenv("MOAT_CLIENT", "", 1);
		}
		setenv("MOAT_DETAIL", detail, 1);
		signal(SIGPIPE, SIG_DFL);
		execl(cmd, cmd, (char *)NULL);
		_exit(127);
	}
	(void)waitpid(pid, NULL, 0);
}

/* record, log and announce one decision about a sender */
static void
watch_decide(struct queue_watch *w, const char *key, const char *action,
    const char *detail)
{
	struct queue_event ev;
	int is_ip = strncmp(key, "ip:", 3) == 0;
	time_t now = time(NULL);
	char esc[600];

	log_escape(esc, sizeof(esc), key, strlen(key));
	if (strcmp(action, "alert") != 0) {
		int64_t held = 0;
		/* an address cannot be suspended from AUTH: its mail is held */
		const char *state = strcmp(action, "suspend") == 0 && !is_ip ?
		    "suspended" : "held";

		if (queue_db_sender_set(w->db, key, state, detail, now, &held) == -1)
			return;
		log_warn(LOG_CAT_POLICY, "event=%s sender=\"%s\" state=%s "
		    "held_recipients=%lld %s alert=yes", action, esc, state,
		    (long long)held, detail);
		if (!is_ip) {
			struct ipc_msg m;

			/* smtp closes a suspended user's sessions, refuses AUTH */
			ipc_msg_init(&m, PROTO_USER_STATE, 0);
			ipc_put_str(&m, key);
			ipc_put_str(&m, state);
			ipc_send(w->smtp, &m);
		}
	} else
		log_warn(LOG_CAT_POLICY, "event=watch_alert sender=\"%s\" %s "
		    "alert=yes", esc, detail);
	memset(&ev, 0, sizeof(ev));
	ev.time = now;
	ev.type = strcmp(action, "alert") == 0 ? "watch_alert" : action;
	ev.client_ip = is_ip ? key + 3 : NULL;
	ev.user = is_ip ? NULL : key;
	ev.session = NULL;
	ev.detail = detail;
	(void)queue_db_event_add(w->db, &ev, 1);
	run_alert_command(w, ev.type, key, detail);
}

/* queue_watch_stored - count one message; act past the thresholds */
void
queue_watch_stored(struct queue_watch *w, const char *auth_user,
    const char *client_ip, const char *qid, const struct queue_rcpt *rcpts,
    size_t nrcpt)
{
	const struct conf *c = w->conf;
	const char **domains;
	int *ext;
	char key[320], state[32], detail[256];
	struct watch_counts n;
	time_t now = time(NULL);
	const char *action = NULL;
	long long f;

	if (!sender_key(w, auth_user, client_ip, key, sizeof(key)) || nrcpt == 0)
		return;
	if ((domains = calloc(nrcpt, sizeof(*domains))) == NULL ||
	    (ext = calloc(nrcpt, sizeof(*ext))) == NULL) {
		free(domains);
		return;
	}
	for (size_t i = 0; i < nrcpt; i++) {
		const char *at = strrchr(rcpts[i].address, '@');

		domains[i] = at ? at + 1 : "";
		ext[i] = rcpts[i].mailbox == NULL || rcpts[i].mailbox[0] == '\0';
	}
	watch_message(w->win, key, now, nrcpt, domains, ext);
	free(domains);
	free(ext);
	if (now - w->last_expire > 60) {
		watch_expire(w->win, now);
		w->last_expire = now;
	}
	watch_get(w->win, key, now, &n);
	snprintf(detail, sizeof(detail), "qid=%s messages=%d external_rcpts=%d "
	    "external_domains=%d window=%ds", qid, n.messages, n.ext_rcpts,
	    n.ext_domains, c->watch_window);
	if (queue_db_sender_state(w->db, key, state, sizeof(state)) == -1)
		return;
	/* a relay client is a server: many users' mail comes from it */
	f = strncmp(key, "ip:", 3) == 0 ? c->relay_client_factor : 1;
	if (n.ext_rcpts >= f * c->suspend_external_rcpts ||
	    n.ext_domains >= f * c->suspend_external_domains) {
		/* an address is only ever held; hold once */
		if (strcmp(state, "suspended") != 0 &&
		    !(strncmp(key, "ip:", 3) == 0 && strcmp(state, "held") == 0))
			action = "suspend";
	} else if (n.ext_rcpts >= f * c->hold_external_rcpts ||
	    n.ext_domains >= f * c->hold_external_domains) {
		if (strcmp(state, "active") == 0) {
			action = c->watch_action;
			/* an alert is raised once per window, not per message */
			if (strcmp(action, "alert") == 0 && !alert_once(w, key, now))
				action = NULL;
		}
	}
	if (action != NULL)
		watch_decide(w, key, action, detail);
}
