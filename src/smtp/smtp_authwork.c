/*
 * smtp_authwork.c - SPF checks (spf.c: libspf2) and DMARC record
 * lookups on a few worker threads of the smtp process, so that the
 * synchronous evaluation of a record (include, redirect, mx: one
 * lookup after the other) never runs on the event loop. Each thread has its own
 * libunbound context in synchronous mode (dns_server or resolv.conf,
 * set up before the chroot); a finished job goes back over a pipe and
 * its callback runs on the loop.
 *
 * Public: authwork_new, authwork_start, authwork_submit, authwork_free.
 *
 * SECURITY: answers are read by spf_dns.c (bounded, fuzzed), records
 * parsed by libspf2 and libopendmarc; a job names its session by id and
 * a generation, so the loop drops the answer of a transaction gone.
 * At the end a thread still waiting for DNS is given a second; then the
 * pool is left to the exiting process rather than freed under it.
 * LIMITS: AUTHWORK_THREADS threads, AUTHWORK_QUEUE_MAX jobs queued; a
 * job beyond that is refused (the caller records temperror). A slow
 * DNS server holds a thread as long as libunbound retries; the session
 * waits at most SMTP_AUTHRES_WAIT_MS for it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <unbound.h>

#include "../lib/log.h"
#include "../lib/resolver.h"
#include "smtp_authwork.h"

#define AUTHWORK_THREADS	2
#define AUTHWORK_QUEUE_MAX	4096
#define AUTHWORK_RR_MAX		64
#define DMARC_PSL_PATH		"/usr/share/publicsuffix/public_suffix_list.dat"

/* one thread's lookups: the last answer is kept until the next one */
struct authwork_dns {
	struct resolver		*res;
	struct ub_result	*last;
	const uint8_t		*rd[AUTHWORK_RR_MAX];
	size_t			 rl[AUTHWORK_RR_MAX];
};

/* Owned by the smtp server. */
struct authwork {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct authwork_job	*head, *tail;
	size_t			 queued;
	int			 stop, started;
	int			 pipe[2];	/* threads write job pointers */
	struct event		*ev;
	authwork_done_fn	 done;
	struct authwork_dns	 dns[AUTHWORK_THREADS];
	pthread_t		 th[AUTHWORK_THREADS];
};

static int
dns_lookup(void *arg, const char *name, int type, const uint8_t *const **rd,
    const size_t **rl)
{
	struct authwork_dns *d = arg;
	struct ub_result *res = NULL;
	int n = 0;

	if (d->last != NULL) {
		ub_resolve_free(d->last);
		d->last = NULL;
	}
	if (ub_resolve(resolver_ctx(d->res), name, type, 1, &res) != 0 ||
	    res == NULL)
		return -1;
	d->last = res;
	if (res->rcode != 0 && !res->nxdomain)
		return -1;	/* SERVFAIL, REFUSED: temporary */
	if (!res->havedata)
		return 0;
	for (; n < AUTHWORK_RR_MAX && res->data[n] != NULL; n++) {
		d->rd[n] = (const uint8_t *)res->data[n];
		d->rl[n] = (size_t)res->len[n];
	}
	*rd = d->rd;
	*rl = d->rl;
	return n;
}

/* _dmarc.NAME: 1 with the record in r, 0 none, -1 temporary failure */
static int
dmarc_fetch(struct authwork_dns *d, const char *domain, char *r, size_t cap)
{
	const uint8_t *const *rd;
	const size_t *rl;
	char qname[300];
	const char *why;
	int n;

	snprintf(qname, sizeof(qname), "_dmarc.%s", domain);
	if ((n = dns_lookup(d, qname, SPF_TYPE_TXT, &rd, &rl)) < 0)
		return -1;
	for (int k = 0; k < n; k++) {
		size_t len = 0;

		for (size_t i = 0; i < rl[k]; ) {
			size_t sl = rd[k][i++];

			if (i + sl > rl[k] || len + sl >= cap)
				break;
			memcpy(r + len, rd[k] + i, sl);
			len += sl;
			i += sl;
		}
		r[len] = '\0';
		/* the first record that is DMARC's (RFC 7489 6.6.3) */
		if (strlen(r) == len && dmarc_record_check(r, &why) == 0)
			return 1;
	}
	r[0] = '\0';
	return 0;
}

static void
run_job(struct authwork_dns *d, struct authwork_job *j)
{
	if (j->kind == AUTHWORK_SPF) {
		struct spf_query q = {
			.sender = j->sender, .domain = j->domain,
			.helo = j->helo, .lookup = dns_lookup, .arg = d,
		};

		memcpy(q.ip, j->ip, 16);
		j->spf = spf_check(&q, &j->why);
		return;
	}
	snprintf(j->dmarc_domain, sizeof(j->dmarc_domain), "%s", j->domain);
	if ((j->dmarc_found = dmarc_fetch(d, j->domain, j->dmarc,
	    sizeof(j->dmarc))) == 0) {
		char org[256];

		dmarc_org_domain(j->domain, org, sizeof(org));
		if (strcasecmp(org, j->domain) != 0) {
			snprintf(j->dmarc_domain, sizeof(j->dmarc_domain),
			    "%s", org);
			j->dmarc_found = dmarc_fetch(d, org, j->dmarc,
			    sizeof(j->dmarc));
		}
	}
}

struct thread_arg {
	struct authwork	*w;
	int		 idx;
};

static struct thread_arg targs[AUTHWORK_THREADS];

static void *
worker(void *arg)
{
	struct thread_arg *ta = arg;
	struct authwork *w = ta->w;
	struct authwork_dns *d = &w->dns[ta->idx];

	for (;;) {
		struct authwork_job *j;

		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		j = w->head;
		if ((w->head = j->next) == NULL)
			w->tail = NULL;
		w->queued--;
		pthread_mutex_unlock(&w->mu);
		run_job(d, j);
		if (d->last != NULL) {
			ub_resolve_free(d->last);
			d->last = NULL;
		}
		j->next = NULL;
		/* a pointer is written whole (PIPE_BUF) */
		if (write(w->pipe[1], &j, sizeof(j)) != sizeof(j))
			free(j);
	}
	return NULL;
}

static void
answers_cb(evutil_socket_t fd, short what, void *arg)
{
	struct authwork *w = arg;
	struct authwork_job *j[64];
	ssize_t n;

	if ((n = read(fd, j, sizeof(j))) <= 0)
		return;
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(j[0]); i++) {
		w->done(j[i]);
		free(j[i]);
	}
}

struct authwork *
authwork_new(const char *server, char *err, size_t errlen)
{
	struct authwork *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->pipe[0] = w->pipe[1] = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (int i = 0; i < AUTHWORK_THREADS; i++)
		if ((w->dns[i].res = resolver_new("spf", server,
		    RESOLVER_SYNC, err, errlen)) == NULL) {
			authwork_free(w);
			return NULL;
		}
	if (pipe(w->pipe) == -1) {
		snprintf(err, errlen, "pipe failed");
		authwork_free(w);
		return NULL;
	}
	/* without the list every suffix is one label: logged, not fatal */
	if (dmarc_psl_load(DMARC_PSL_PATH) == -1)
		log_warn(LOG_CAT_DNS, "event=psl_unreadable path=%s "
		    "action=\"organizational domains by the last two labels\"",
		    DMARC_PSL_PATH);
	return w;
}

int
authwork_start(struct authwork *w, struct event_base *base,
    authwork_done_fn done)
{
	w->done = done;
	evutil_make_socket_nonblocking(w->pipe[0]);
	if ((w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST,
	    answers_cb, w)) == NULL || event_add(w->ev, NULL) == -1)
		return -1;
	for (int i = 0; i < AUTHWORK_THREADS; i++) {
		targs[i].w = w;
		targs[i].idx = i;
		if (pthread_create(&w->th[i], NULL, worker, &targs[i]) != 0)
			return -1;
		w->started++;
	}
	return 0;
}

int
authwork_submit(struct authwork *w, struct authwork_job *j)
{
	pthread_mutex_lock(&w->mu);
	if (w->queued >= AUTHWORK_QUEUE_MAX || w->started == 0) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	j->next = NULL;
	if (w->tail != NULL)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void
authwork_free(struct authwork *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* a thread inside a lookup ends when libunbound gives up: at most
	 * a second is waited for, then w is left to the exiting process */
	for (int i = 0; i < w->started; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_timedjoin_np(w->th[i], NULL, &ts) != 0)
			return;
	}
	while (w->head != NULL) {
		struct authwork_job *j = w->head;

		w->head = j->next;
		free(j);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	for (int i = 0; i < 2; i++)
		if (w->pipe[i] != -1)
			close(w->pipe[i]);
	for (int i = 0; i < AUTHWORK_THREADS; i++)
		resolver_free(w->dns[i].res);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	dmarc_psl_free();
}
