/*
 * proc.h - what each of moat's processes is handed when it starts.
 */
#ifndef MOAT_PROC_H
#define MOAT_PROC_H

#include <stddef.h>
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
	PROC_COUNT
};

struct proc_env {
	struct conf		*conf;		/* owned by the process */
	struct event_base	*base;
	int			 peer[PROC_COUNT];	/* socketpair end, -1: none */
	const int		*listen_fds;	/* smtp: in conf->listeners order */
	size_t			 n_listen;
	SSL_CTX			*tls;		/* smtp: NULL without certificate */
	int			 control_fd;	/* control: listening UNIX socket */
	struct control_access	 access;	/* control: who may use the socket */
	void			*prepared;	/* what the prepare hook made */
};

const char *proc_name(enum proc_id id);

#endif
