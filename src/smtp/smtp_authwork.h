/*
 * smtp_authwork.h - SPF checks and DMARC record lookups on worker
 * threads of the smtp process, their answers posted back to its loop.
 */
#ifndef MOAT_SMTP_AUTHWORK_H
#define MOAT_SMTP_AUTHWORK_H

#include <stddef.h>
#include <stdint.h>

#include "../authres/dmarc.h"
#include "../spf/spf.h"

struct event_base;
struct smtp_server;
struct authwork;

enum authwork_kind { AUTHWORK_SPF, AUTHWORK_DMARC };

struct authwork_job {
	enum authwork_kind	 kind;
	struct smtp_server	*srv;
	uint64_t		 session_id, gen;
	/* SPF in */
	uint8_t			 ip[16];
	char			 sender[520];
	char			 helo[256];
	/* SPF: the domain checked; DMARC: the From domain */
	char			 domain[256];
	/* out */
	enum spf_result		 spf;
	const char		*why;		/* static text or NULL */
	int			 dmarc_found;	/* 1 record, 0 none, -1 temp */
	char			 dmarc[DMARC_RECORD_MAX];	/* the record */
	char			 dmarc_domain[256];	/* where it was */
	struct authwork_job	*next;
};

/* the answer of a job, on the loop; the job is freed after it */
typedef void (*authwork_done_fn)(struct authwork_job *j);

/*
 * authwork_new - before the chroot: threads' resolvers (server as for
 * resolver_new) and the public suffix list. NULL with err set.
 */
struct authwork *authwork_new(const char *server, char *err, size_t errlen);

/* authwork_start - after the fork: the threads, answers on base */
int authwork_start(struct authwork *w, struct event_base *base,
    authwork_done_fn done);

/* authwork_submit - queue j (owned from here): 0, or -1 when full */
int authwork_submit(struct authwork *w, struct authwork_job *j);

void authwork_free(struct authwork *w);

#endif
