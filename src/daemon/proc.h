/*
 * proc.h - moat's processes: what each is handed when it starts, and
 * how the parent starts it (fork, then exec of moat itself: proc.c).
 */
#ifndef MOAT_PROC_H
#define MOAT_PROC_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "../control/control.h"

struct conf;
struct event_base;

/* the processes; channels between them are listed in parent.c */
enum proc_id {
	PROC_PARENT,
	PROC_SMTP,	/* network sessions */
	PROC_QUEUE,	/* queue.db, Maildirs, events, scheduler */
	PROC_AUTH,	/* password checks */
	PROC_MTA,	/* outbound delivery */
	PROC_CONTROL,	/* the admin socket */
	PROC_CA,	/* the TLS private key */
	PROC_LOOKUP,	/* does a recipient exist: tables, directories */
	PROC_COUNT
};

struct proc_env {
	struct conf		*conf;		/* owned by the process */
	struct event_base	*base;
	int			 peer[PROC_COUNT];	/* socketpair end, -1: none */
	const int		*listen_fds;	/* smtp: in conf->listeners order */
	size_t			 n_listen;
	struct tls_set		*tls;		/* smtp: NULL without certificate */
	struct ssl_ctx_st	*console_tls;	/* control: NULL: plain HTTP */
	int			 keys_fd;	/* ca: where a reload's keys come */
	int			 submit_fd;	/* smtp: submit_socket, -1: off */
	int			 control_fd;	/* control: listening UNIX socket */
	struct control_access	 access;	/* control: who may use the socket */
	void			*prepared;	/* what the prepare hook made */
};

/* what the parent hands child id (proc_start) */
struct proc_start {
	int			 exe_fd;	/* proc_exe_open */
	const struct conf	*conf;		/* the child parses it again */
	const char		*digest;	/* proc_conf_digest of conf */
	const int		*peer;		/* [PROC_COUNT], -1: none */
	const int		*listen_fds;	/* smtp's, conf->listeners order */
	size_t			 n_listen;
	int			 submit_fd;	/* smtp's submit_socket, -1: off */
	int			 control_fd;	/* control's listening socket */
	int			 keys_fd;	/* ca's end of its keys socket */
};

#define PROC_DIGEST_HEX	33	/* 16 bytes as hex, and the NUL */

const char *proc_name(enum proc_id id);
int proc_runs(enum proc_id id);
int proc_stop_phase(enum proc_id id);
int proc_linked(enum proc_id a, enum proc_id b);
void proc_signals_hold(int hold);
int proc_exe_open(char *err, size_t errlen);
int proc_conf_digest(const struct conf *c, char *hex);
pid_t proc_start(enum proc_id id, const struct proc_start *ps);
int proc_exec_main(int argc, char **argv);

#endif
