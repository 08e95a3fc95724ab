/*
 * smtp.h - the network-facing SMTP process: server and sessions.
 */
#ifndef MOAT_SMTP_H
#define MOAT_SMTP_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <openssl/ssl.h>

#include "../daemon/config.h"
#include "../io/ipc.h"
#include "../mail/qid.h"
#include "smtp_authres.h"
#include "smtp_dkim.h"
#include "smtp_head.h"
#include "smtp_parse.h"

struct event_base;
struct event;
struct evconnlistener;
struct bufferevent;
struct evbuffer;

enum smtp_state {
	SMTP_STATE_CONNECTED,	/* banner not yet sent */
	SMTP_STATE_HELO,	/* waiting for EHLO/HELO */
	SMTP_STATE_IDLE,	/* greeted, no transaction */
	SMTP_STATE_MAIL,	/* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,	/* at least one recipient */
	SMTP_STATE_DATA,	/* reading message content */
	SMTP_STATE_AUTH,	/* reading an AUTH continuation line */
	SMTP_STATE_WAIT,	/* parked: waiting for queue or auth */
	SMTP_STATE_TLS,		/* flushing the 220 before the TLS handshake */
	SMTP_STATE_CLOSING,	/* flushing the last reply */
	SMTP_STATE_COUNT
};

/* what a session in SMTP_STATE_WAIT waits for; its wait_timer bounds it */
enum smtp_wait {
	SMTP_WAIT_NONE,
	SMTP_WAIT_QUEUE,	/* the queue's commit of a message */
	SMTP_WAIT_AUTH,		/* the auth process's password check */
	SMTP_WAIT_AUTH_PAUSE,	/* the pause before a failed AUTH's reply */
	SMTP_WAIT_DNSBL,	/* the DNSBL answer; MAIL held back */
	SMTP_WAIT_TARPIT,	/* the pause before an unknown user's reply */
	SMTP_WAIT_LOOKUP,	/* the lookup process's answer to a RCPT */
	SMTP_WAIT_IDENT,	/* the parent's login name of a local uid */
	SMTP_WAIT_DKIM,		/* ca's DKIM signatures, at the dot */
	SMTP_WAIT_AUTHRES,	/* DKIM key lookups of inbound mail, at the dot */
	SMTP_WAIT_MILTER,	/* the milters' answer to an SMTP event */
};

enum {
	SMTP_DNSBL_NONE,	/* not checked (exempt or no zones) */
	SMTP_DNSBL_PENDING,	/* lookups in flight */
	SMTP_DNSBL_WAITING,	/* MAIL parked until the answer */
	SMTP_DNSBL_DONE,
};

struct smtp_rcpt {
	char	addr[ADDR_PATH_MAX * 2];
	char	orcpt[512];
	int	notify;
	char	mailbox[256];		/* local Maildir name (at most
					 * MAILDIR_NAME_MAX), "" when relayed */
};

/*
 * The RCPT the lookup process is asked about (SMTP_WAIT_LOOKUP): its
 * answer names the recipients it stands for (one, or an alias's).
 */
struct smtp_lookup {
	uint32_t	seq;		/* of the last request; an answer
					 * with another is stale */
	char		to[ADDR_PATH_MAX * 2];	/* addr_format's output */
	char		orcpt[512];	/* the client's ORCPT, "" none */
	char		args[SMTP_LINE_MAX];	/* the RCPT's arguments (milters) */
	int		notify;
	int		utf8;		/* the address needs SMTPUTF8 */
	size_t		first;		/* tx->n_rcpts before the targets */
	int		failed;		/* a target could not be added: */
#define SMTP_LOOKUP_NOMEM	1	/* memory, or a string too long */
#define SMTP_LOOKUP_TOO_MANY	2	/* SMTP_RCPTS_MAX reached */
};

/*
 * One mail transaction: what lives from MAIL to the end of DATA. Made
 * at a MAIL that is accepted, freed whole when the transaction ends
 * (RSET, the reply after DATA, EHLO/HELO, STARTTLS, the session's end);
 * owned by its session (smtp_session.tx).
 */
struct smtp_tx {
	struct smtp_mail_params	 mail;		/* MAIL FROM and its parameters */
	struct smtp_rcpt	*rcpts;		/* owned */
	size_t			 n_rcpts, cap_rcpts;
	size_t			 n_accepted;	/* RCPT commands taken (an
						 * alias may make several
						 * recipients, a duplicate
						 * none) */
	struct smtp_data	 data;		/* the DATA machine */
	struct smtp_head	 head;		/* the header section, held to the dot */
	struct evbuffer		*msg;		/* owned, the body being received */
	int			 streaming;	/* parts of it sent: PROTO_QUEUE_CHUNK */
	char			 qid[QID_SIZE];	/* named when DATA begins */
	uint8_t			 store_flags;	/* PROTO_MSGF_* the dot steps add */
	int			 dot_step;	/* next step at the dot (smtp_dot.c) */
	time_t			 data_started;	/* DATA: when 354 was sent */
	size_t			 data_bytes;	/* DATA: bytes read so far */
	size_t			 queued_bytes;	/* sent to the queue: what it
						 * stores and logs as size */
	struct smtp_dkim_tx	*dkim;		/* owned; NULL: not signed */
	struct smtp_authres_tx	*authres;	/* owned; NULL: not checked */
	int			 authres_forged; /* fields in our name removed */
};

/*
 * The AUTH exchange; its outcome is smtp_session.authenticated and
 * auth_user, which live as long as the session.
 */
struct smtp_auth {
	int	mech;			/* during SMTP_STATE_AUTH */
	int	step;
	char	login_user[256];	/* the name tried (never the password) */
	int	failures;		/* failed AUTH in this session */
	int	delay_ms;		/* extra pause: account under attack */
};

/* the DNSBL lookups of the client, started at connect */
struct smtp_dnsbl {
	int	state;			/* SMTP_DNSBL_* */
	int	score;
	char	zone[256];
	char	mail[SMTP_LINE_MAX];	/* MAIL args held back meanwhile */
};

/* unknown recipients: counted, and past a point answered slowly */
struct smtp_tarpit {
	int	unknown_rcpts;		/* RCPTs refused as unknown users */
	char	reply[700];		/* held back until the pause is over */
};

struct smtp_listener {
	struct smtp_server		*srv;
	const struct conf_listener	*conf;	/* points into srv->conf */
	size_t				 index;
	struct evconnlistener		*evl;
	uint64_t			 started;	/* sessions accepted */
};

/*
 * One per connection, from connect to close; owned by the server's
 * session list. What lives from MAIL to the end of DATA is in tx.
 */
struct smtp_session {
	uint64_t		 id;
	char			 idstr[17];
	struct smtp_server	*srv;
	struct smtp_listener	*listener;
	struct bufferevent	*bev;		/* plain or TLS, owned */
	int			 fd;		/* owned, closed at free */
	SSL			*ssl;		/* owned by bev once set */
	uint8_t			 addr[16];	/* the client's (a PROXY header's) */
	char			 ip[64];
	int			 port;
	char			 proxy_ip[64];	/* the load balancer, "": direct */
	time_t			 started;

	/* the state machine; smtp_set_state() changes state */
	enum smtp_state		 state;
	enum smtp_state		 resume;	/* state after WAIT */
	enum smtp_wait		 waiting;	/* in WAIT: for what */
	struct event		*wait_timer;	/* bounds every WAIT, owned */
	uint64_t		 wait_id;	/* request in flight */
	int			 quit_after_reply;	/* ended while its message commits */
	char			 quit_reply[160];	/* the 421 it then gets */

	/* what the client said and proved */
	int			 esmtp;		/* EHLO (not HELO) */
	char			 helo[256];
	int			 tls;
	char			 tls_desc[96];
	int			 authenticated;
	char			 auth_user[256];
	char			 rdns[256];	/* PTR name, "unknown", "": not known */
	int			 local;		/* on the submit_socket (moat
						 * sendmail): auth_user is
						 * "local:LOGIN" of local_uid */
	uint32_t		 local_uid;	/* SO_PEERCRED */
	int			 uid_counted;	/* in srv->by_uid */

	struct smtp_tx		*tx;		/* owned; NULL outside MAIL..DATA */

	/* the listener's milters (src/milter), NULL when none */
	struct milter_chain	*milters;	/* owned */
	int			 milter_event;	/* SMFIC_* waited for */
	size_t			 milter_first;	/* RCPT: tx->n_rcpts before it */
	int			 milter_head_sent;	/* header section sent */
	int			 milter_full;	/* reading stopped: backlog */
	int			 milter_connect;	/* the connection's answer: */
#define SMTP_MILTER_CONN_PENDING 1	/* still to come (HELO waits) */
#define SMTP_MILTER_CONN_REJECT	2	/* refused: HELO gets 554 */
#define SMTP_MILTER_CONN_TEMPFAIL 3	/* HELO gets 421 */
	struct smtp_lookup	 lookup;	/* the RCPT being looked up */

	/* defences */
	struct smtp_auth	 auth;		/* the AUTH exchange */
	struct smtp_dnsbl	 dnsbl;		/* the client's DNSBL answer */
	struct smtp_tarpit	 tarpit;	/* unknown recipients */
	int			 errors;
	int			 idle_cmds;	/* commands in a row outside a transaction */
	int			 discard_line;	/* skipping an over-long line */
	struct event		*lifetime;	/* session_lifetime, owned */

	/* for moat sessions and the disconnect line */
	const char		*last_cmd;	/* verb of the last command (static) */
	int			 n_msgs;
	size_t			 bytes_in;

	/* output, and the server's lists */
	int			 gone;		/* out of service, waiting for the reaper */
	int			 direct;	/* plain socket: replies written by
						 * smtp_server_flush, see there */
	int			 flush_queued;	/* on srv->flushq */
	int			 output_full;	/* reading stopped: replies pile up */
	int			 queue_full;	/* reading stopped: queue backlog */
	LIST_ENTRY(smtp_session) hash;		/* srv->by_id */
	TAILQ_ENTRY(smtp_session) entry;	/* srv->sessions or srv->dead */
	TAILQ_ENTRY(smtp_session) flush_entry;	/* srv->flushq */
};
TAILQ_HEAD(smtp_session_list, smtp_session);
LIST_HEAD(smtp_session_bucket, smtp_session);

#define SMTP_ID_BUCKETS		4096
#define SMTP_IP_BUCKETS		4096

/* rejection reasons counted for `moat stats` (smtp_ctl.c names them) */
enum smtp_reject {
	SMTP_REJ_RELAY,		/* relay access denied */
	SMTP_REJ_UNKNOWN_USER,	/* RCPT to an unknown local user */
	SMTP_REJ_SPOOF,		/* outsider claiming a local domain */
	SMTP_REJ_MISMATCH,	/* AUTH user sending as someone else */
	SMTP_REJ_DNSBL,
	SMTP_REJ_LIMIT,		/* session, rate, error and harvest limits */
	SMTP_REJ_BANNED,	/* refused at accept: deny list or ban */
	SMTP_REJ_PIPELINING,	/* improper pipelining, talking first */
	SMTP_REJ_DATA,		/* message refused at the final dot */
	SMTP_REJ_COUNT
};

/* lifetime counters since start: plain integers, bumped in place */
struct smtp_stats {
	uint64_t	rejected[SMTP_REJ_COUNT];
	uint64_t	auth_ok, auth_fail;
};

struct smtp_ipcount {
	uint8_t	addr[16];
	int	count;
	LIST_ENTRY(smtp_ipcount) entry;
};
LIST_HEAD(smtp_ipcount_bucket, smtp_ipcount);

struct tls_set;

struct smtp_server {
	struct event_base	*base;
	struct conf		*conf;		/* owned; replaced on reload */
	struct relay_table	 relay;		/* views into conf */
	struct tls_set		*tls;		/* current certificates, NULL: none */
	/* conf->listeners in order, then the submit_socket's (role local) */
	struct smtp_listener	 listeners[CONF_MAX_LISTENERS + 1];
	size_t			 n_listeners;
	struct ipc_peer		*parent, *queue, *auth, *lookup;
	struct smtp_session_list sessions;
	struct smtp_session_list dead;		/* to free at loop end */
	struct event		*reaper;
	TAILQ_HEAD(, smtp_session) flushq;	/* replies to write */
	struct event		*flusher;
	TAILQ_HEAD(, smtp_proxied) proxied;	/* waiting for their PROXY header */
	size_t			 n_proxied;
	struct smtp_session_bucket by_id[SMTP_ID_BUCKETS];
	struct smtp_ipcount_bucket by_ip[SMTP_IP_BUCKETS];
	struct smtp_ipcount_bucket by_uid;	/* local sessions: key uid */
	size_t			 n_sessions;
	size_t			 n_queue_full;	/* sessions with queue_full set */
	uint64_t		 next_id;
	uint64_t		 id_salt;
	uint32_t		 qid_ctr;	/* starts random (qid.h) */
	int			 shutting_down;
	struct event		*shutdown_timer;

	/* defences */
	struct denylist		*deny;		/* deny_networks, owned */
	struct banlist		*bans;		/* dynamic bans, owned */
	struct event		*bans_wait;	/* accept without them, owned */
	int			 accepting;	/* listeners enabled */
	int			 prefix_v4, prefix_v6;	/* client networks */
	struct guard		*guard;		/* failure windows, owned */
	struct event		*guard_timer;	/* expires old windows and bans */
	struct event		*series_timer;	/* counts to the queue, 1/s */
	uint64_t		 series_rejected, series_auth_fail;	/* sent */
	struct dnsbl		*dnsbl;		/* NULL when no zones, owned */
	struct smtp_rdns	*rdns;		/* NULL when off or failed, owned */
	char			**suspended;	/* suspended accounts, owned */
	size_t			 n_suspended;
	time_t			 lookup_timeout_event;	/* last one sent */
	time_t			 milter_down_event;	/* last milter_unavailable */
	struct smtp_stats	 stats;
	struct smtp_dkim_keys	 dkim;		/* ca's signing keys */
	struct resolver		*authres;	/* DKIM key lookups; NULL: off */
	struct authwork		*authwork;	/* SPF, DMARC; NULL: off */
};

/*
 * smtp_proc_main - run the network process: fds[] are the bound
 * listening sockets in the order of conf->listeners. Returns the exit
 * status. Already chrooted and unprivileged when called.
 */
struct proc_env;
int smtp_proc_main(struct proc_env *env);
/* smtp_proc_prepare - before chroot: the DNSBL resolver; -1 on error */
int smtp_proc_prepare(struct proc_env *env);

/*
 * session side, smtp_session.c; smtp_session_start: sa is the client
 * (the one a PROXY header names), proxy_ip the load balancer or NULL
 */
void smtp_session_start(struct smtp_server *srv, struct smtp_listener *l,
    int fd, const struct sockaddr *sa, int salen, const char *proxy_ip);
void smtp_session_stored(struct smtp_session *s, int status, const char *qid);
void smtp_session_auth_result(struct smtp_session *s, int result);
/* smtp_session_local_ident - the parent's PROTO_LOCAL_IDENTIFIED */
void smtp_session_local_ident(struct smtp_session *s, int verdict,
    const char *login);
void smtp_session_shutdown(struct smtp_session *s);
/*
 * The lookup process's answer to a RCPT (smtp_server.c decodes it):
 * smtp_session_lookup_wants says whether s waits for answer seq; then
 * each target of a FOUND goes to smtp_session_lookup_target, and the
 * answer itself to smtp_session_lookup_done (PROTO_LOOKUP_*).
 */
int smtp_session_lookup_wants(struct smtp_session *s, uint32_t seq);
void smtp_session_lookup_target(struct smtp_session *s, const char *addr,
    const char *mailbox);
void smtp_session_lookup_done(struct smtp_session *s, int answer,
    const char *why);
/* smtp_session_authres_done - the last key lookup of the message came */
void smtp_session_authres_done(struct smtp_session *s);
/* smtp_session_dkim_signed - ca's answer to one PROTO_DKIM_SIGN */
void smtp_session_dkim_signed(struct smtp_session *s, uint32_t key_id,
    int status, const uint8_t *sig, size_t siglen);
/* smtp_session_dnsbl - the DNSBL answer for this session's client */
void smtp_session_dnsbl(struct smtp_session *s, int score, const char *zone);
/* smtp_session_kill - send reply (if the session can still talk), close */
void smtp_session_kill(struct smtp_session *s, const char *reply, const char *why);
void smtp_session_free(struct smtp_session *s);
/* smtp_session_queue_drained - the queue took our backlog: read DATA on */
void smtp_session_queue_drained(struct smtp_session *s);
/* smtp_session_flush - write the replies waiting for a direct session */
void smtp_session_flush(struct smtp_session *s);

/*
 * smtp_tx_rcpt_add - one more recipient of s's transaction; -1 when out
 * of memory (nothing replied)
 */
int smtp_tx_rcpt_add(struct smtp_session *s, const char *addr,
    const char *orcpt, int notify, const char *mailbox);
#define SMTP_CHUNK	(1024 * 1024)	/* a larger body goes in parts */
/*
 * smtp_tx_send_chunk - the body in s->tx->msg goes to the queue as one
 * part of the message (counted in queued_bytes); tx->msg is empty after
 */
void smtp_tx_send_chunk(struct smtp_session *s);

/* milters, smtp_milter.c: what the session tells them, what they edit */
struct milter_macro;
/* smtp_milter_macros - the macros of event cmd (SMFIC_*) into m (at
 * most 16), their values in buf; returns how many */
size_t smtp_milter_macros(struct smtp_session *s, int cmd,
    struct milter_macro *m, char buf[][600]);
/* smtp_milter_argv - "<addr>" and the ESMTP parameters of a MAIL or
 * RCPT argument line, for the milters; returns argc (at most max) */
size_t smtp_milter_argv(const char *addr, const char *args, size_t len,
    char *buf, size_t buflen, const char **argv, size_t max);
/* smtp_milter_apply - the end of message's modifications on s->tx */
void smtp_milter_apply(struct smtp_session *s);

/* PROXY protocol listeners, smtp_proxy.c */
struct smtp_proxied;
/* smtp_proxy_accept - a connection to read a PROXY header from first */
void smtp_proxy_accept(struct smtp_listener *l, int fd,
    const struct sockaddr *sa, int salen);
/* smtp_proxy_close_all - close the connections still without a header */
void smtp_proxy_close_all(struct smtp_server *srv);

/* server side, smtp_server.c */
/*
 * smtp_server_refused - addr is denied or banned: fd has its 554 and is
 * closed, 1; else 0
 */
int smtp_server_refused(struct smtp_server *srv, struct smtp_listener *l,
    int fd, const uint8_t addr[16]);
struct smtp_session *smtp_server_find(struct smtp_server *srv, uint64_t id);
void smtp_server_event(struct smtp_server *srv, const char *type,
    const char *ip, const char *user, const char *session, const char *detail);
int smtp_server_ip_count(struct smtp_server *srv, const uint8_t addr[16], int delta);
int smtp_server_uid_count(struct smtp_server *srv, uint32_t uid, int delta);
void smtp_server_session_gone(struct smtp_server *srv, struct smtp_session *s);
/* smtp_server_flush_soon - s has replies: write them before the loop polls */
void smtp_server_flush_soon(struct smtp_server *srv, struct smtp_session *s);
/* smtp_server_ban - ban addr for seconds (0 never), close its sessions */
void smtp_server_ban(struct smtp_server *srv, const uint8_t addr[16],
    int seconds, const char *reason, const char *origin);
/* smtp_server_is_suspended - 1 when AUTH must refuse this account */
int smtp_server_is_suspended(struct smtp_server *srv, const char *user);
/* smtp_server_rdns_start - look the client's name up (at connect) */
void smtp_server_rdns_start(struct smtp_server *srv, struct smtp_session *s);
/*
 * smtp_server_client_net - the network addr is counted and banned in
 * (client_prefix_v4/v6) as text, for keys and logs; returns buf
 */
const char *smtp_server_client_net(const struct smtp_server *srv,
    const uint8_t addr[16], char *buf, size_t len);

#endif
