/*
 * mta.h - the outbound delivery process: jobs from the queue,
 * destinations (a queue per domain or route), SMTP/LMTP client sessions.
 */
#ifndef MOAT_MTA_H
#define MOAT_MTA_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "io/proto.h"
#include "mta/mta_auth.h"
#include "mta/mta_route.h"

struct event_base;
struct event;
struct bufferevent;
struct conf;
struct ipc_peer;
struct resolver;

#define MTA_REPLY_MAX	512	/* a reply kept for the result and the log */
#define MTA_HOPS_MAX	64	/* addresses tried for one destination */
#define MTA_DEST_TTL	300	/* seconds a resolved destination is kept */
#define MTA_DEST_DOWN_MAX 60	/* seconds an unreachable one defers at once */

/* One recipient of a job. */
struct mta_jrcpt {
	uint64_t	 id;		/* recipient row id in queue.db */
	char		*address;	/* owned */
	char		*orcpt;		/* owned, "" when none */
	uint8_t		 notify;
	int		 done;		/* result set */
	int		 accepted;	/* RCPT got 2xx in this transaction */
	uint8_t		 result;	/* PROTO_MTA_* */
	char		 reply[MTA_REPLY_MAX];
};

/* One PROTO_MTA_DELIVER; owned by its destination's queue or session. */
struct mta_job {
	TAILQ_ENTRY(mta_job) entry;
	uint64_t	 id;
	char		 qid[16];
	int64_t		 created;
	char		*sender;	/* owned */
	char		*envid;		/* owned */
	uint8_t		 ret, flags;
	char		 domain[MTA_HOST_MAX];
	struct mta_jrcpt *rcpt;		/* owned */
	size_t		 nrcpt;
	uint8_t		*data;		/* owned */
	size_t		 len;
};
TAILQ_HEAD(mta_job_list, mta_job);

/* One address to try, in order. */
struct mta_hop {
	char		 name[MTA_HOST_MAX];	/* host name (or the literal) */
	char		 addr[64];		/* numeric */
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	size_t		 dest;			/* its destination: route.v[] */
};

enum mta_dest_state {
	MTA_DEST_NEW,		/* not resolved */
	MTA_DEST_RESOLVING,	/* DNS queries out */
	MTA_DEST_READY,		/* hops[] usable */
};

/* A destination queue: one domain's jobs; owned by the mta's list. */
struct mta_dq {
	TAILQ_ENTRY(mta_dq) entry;
	struct mta		*mta;
	char			 key[MTA_HOST_MAX];	/* recipient domain */
	enum mta_route_kind	 kind;
	struct mta_hosts	 route;		/* where, in order: host, port,
						 * TLS, LMTP of each */
	enum mta_dest_state	 state;
	int64_t			 resolved_at;
	struct mta_hop		 hops[MTA_HOPS_MAX];
	size_t			 nhops;
	/* resolution in progress */
	struct mta_resolve	*res;		/* owned by mta_dns.c */
	int			 pending;	/* queries out */
	size_t			 nmx;		/* mail hosts looked up */
	int			 dns_temp;	/* a lookup failed temporarily */
	int			 dns_nx;	/* the domain does not exist */
	int			 ninternal;	/* MX hops at internal addresses */
	/* a routing failure for every job: "" when none */
	char			 error[MTA_REPLY_MAX];
	uint8_t			 error_result;
	struct mta_job_list	 jobs;		/* waiting for a session */
	size_t			 njobs;
	int			 nsess;		/* sessions of this destination */
	int			 retired;	/* a reload routes its domain
						 * elsewhere: no new jobs */
	int64_t			 down_until;	/* nothing could be reached:
						 * jobs deferred at once till then */
	int			 nconnecting;	/* not yet ready for a job */
	int			 failed_conn;	/* a session ended before READY */
	int64_t			 next_connect;	/* no new connection before */
	int			 conn_backoff;	/* seconds, doubled a failure */
	int			 slot_wait;	/* jobs wait for a free slot of
						 * max_connections */
	char			 last_error[MTA_REPLY_MAX];
};
TAILQ_HEAD(mta_dq_list, mta_dq);

enum mta_state {
	MTA_STATE_CONNECT,	/* TCP connection being opened */
	MTA_STATE_BANNER,	/* waiting for the 220 greeting */
	MTA_STATE_EHLO,		/* EHLO (or LHLO) sent */
	MTA_STATE_HELO,		/* HELO sent after EHLO was refused */
	MTA_STATE_STARTTLS,	/* STARTTLS sent */
	MTA_STATE_TLS,		/* handshake running */
	MTA_STATE_AUTH,		/* AUTH sent (inside TLS), 235 expected */
	MTA_STATE_READY,	/* greeted, between transactions */
	MTA_STATE_TX,		/* MAIL, RCPT, DATA replies expected */
	MTA_STATE_BODY,		/* message sent, final reply expected */
	MTA_STATE_RSET,		/* RSET after a failed transaction */
	MTA_STATE_QUIT,		/* QUIT sent */
	MTA_STATE_DEAD,		/* on the dead list, freed at loop end */
	MTA_STATE_COUNT
};

/* extensions the peer offered in its EHLO reply */
#define MTA_EXT_STARTTLS	0x01
#define MTA_EXT_PIPELINING	0x02
#define MTA_EXT_SIZE		0x04
#define MTA_EXT_8BITMIME	0x08
#define MTA_EXT_SMTPUTF8	0x10
#define MTA_EXT_DSN		0x20
#define MTA_EXT_AUTH_PLAIN	0x40
#define MTA_EXT_AUTH_LOGIN	0x80

/* One outbound connection; owned by mta->sessions (or mta->dead). */
struct mta_session {
	TAILQ_ENTRY(mta_session) entry;
	struct mta		*mta;
	struct mta_dq		*dq;
	uint64_t		 id;
	char			 idstr[17];
	enum mta_state		 state;
	int			 fd;		/* owned until TLS takes it */
	struct bufferevent	*bev;		/* owned */
	SSL			*ssl;		/* owned by bev */
	size_t			 hop;		/* index into dq->hops */
	int			 lmtp;
	enum mta_tls		 tls_mode;
	int			 tls;		/* TLS is up */
	int			 notls;		/* handshake failed: plaintext */
	char			 tls_desc[96];
	unsigned		 ext;		/* MTA_EXT_* */
	uint64_t		 size_max;	/* SIZE from EHLO, 0: none */
	char			 relay[MTA_HOST_MAX + 80];	/* for logs */
	const struct mta_cred	*cred;		/* m->auth's, NULL: no AUTH */
	int			 auth_step;	/* AUTH LOGIN: 334s answered */
	/* the reply being read */
	int			 code;
	char			 reply[MTA_REPLY_MAX];
	size_t			 reply_len;
	/* the transaction */
	struct mta_job		*job;		/* owned while set */
	size_t			 cmd_sent;	/* MAIL=0, RCPT i=1+i, DATA */
	size_t			 cmd_acked;
	size_t			 naccepted;
	size_t			 lmtp_left;	/* LMTP replies after the dot */
	int			 nmsgs;		/* transactions on this connection */
	char			 last_error[MTA_REPLY_MAX];
	time_t			 started;
	int64_t			 deadline_ms;	/* the timeout set last, when */
};
TAILQ_HEAD(mta_session_list, mta_session);

/* The process; one. */
struct mta {
	struct conf		*conf;		/* owned */
	struct event_base	*base;
	struct ipc_peer		*parent, *queue;
	struct resolver		*res;		/* lib/resolver.c */
	struct mta_dnsbl	*dnsbl;		/* mta_dnsbl.c, the watch */
	SSL_CTX			*tls;		/* client context */
	struct mta_route	*routes;	/* parsed conf->routes */
	size_t			 nroutes;
	struct mta_hosts	 smarthost;
	int			 have_smarthost;
	struct mta_auth		*auth;		/* owned, NULL: no credentials */
	int			 addr_pref;	/* AF_UNSPEC, AF_INET, AF_INET6 */
	enum mta_tls		 tls_default;
	struct mta_dq_list	 dqs;
	struct mta_session_list	 sessions;
	struct mta_session_list	 dead;
	struct event		*reaper;
	int			 nsess;
	int			 starving;	/* destinations with jobs, no
						 * session and no free slot */
	struct event		*tick;		/* a second: backoffs end */
	uint64_t		 next_id;
	int			 stopping;
	struct event		*stop_timer;
};

/* mta_proc.c */
struct proc_env;
int mta_proc_main(struct proc_env *env);
/* mta_proc_prepare - before priv_drop: read smarthost_auth_file and
 * the client certificate's key */
int mta_proc_prepare(struct proc_env *env);
void mta_job_finish(struct mta *m, struct mta_job *j, const char *relay,
    const char *tls_desc);
void mta_dq_run(struct mta_dq *d);
void mta_dq_resolved(struct mta_dq *d);
void mta_dq_fail_jobs(struct mta_dq *d, uint8_t result, const char *reply);
void mta_session_gone(struct mta_session *s);

/* mta_session.c */
struct mta_session *mta_session_new(struct mta_dq *d);
void mta_session_free(struct mta_session *s);
void mta_session_stop(struct mta_session *s);
/* mta_session_kick - an idle session takes the next job of its queue */
void mta_session_kick(struct mta_session *s);
/* mta_session_dot_stuff - append data to out dot-stuffed, ending CRLF.CRLF */
struct evbuffer;
int mta_session_dot_stuff(struct evbuffer *out, const uint8_t *data,
    size_t len);

/* mta_dns.c */
int mta_dns_init(struct mta *m, char *err, size_t errlen);
void mta_dns_free(struct mta *m);
void mta_dns_resolve(struct mta_dq *d);

#endif
