/*
 * resolver.c - the libunbound context of a process that resolves: the
 * forwarder or /etc/resolv.conf, asynchronous mode (the resolver runs
 * in a thread and signals answers on a descriptor), and that descriptor
 * watched on the event loop, where ub_process runs the callbacks. So
 * nothing that resolves ever blocks its loop.
 *
 * Public: resolver_new, resolver_attach, resolver_ctx, resolver_free.
 *
 * SECURITY: the server comes from the configuration (dns_server);
 * resolv.conf is read once, here, before any chroot. Answers are the
 * callers' to check.
 * LIMITS: none here; the callers bound their lookups in flight.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <unbound.h>

#include "lib/log.h"
#include "lib/resolver.h"

/* Owned by the module that made it (dnsbl, smtp_rdns, the mta). */
struct resolver {
	struct ub_ctx	*ub;
	struct event	*ev;		/* ub_fd on the loop, or NULL */
	const char	*name;		/* for logs; a string constant */
};

static void
resolver_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	int rc;

	if ((rc = ub_process(r->ub)) != 0)
		log_warn(LOG_CAT_DNS, "event=resolver_process_error "
		    "resolver=%s error=\"%s\"", r->name, ub_strerror(rc));
}

/* forward everything to server, loopback included; 0 or a ub error */
static int
resolver_forward(struct ub_ctx *ub, const char *server, int flags)
{
	int rc;

	/* a resolver on the loopback (a local cache, or a test's own DNS
	 * server) is a forwarder like any other */
	if ((rc = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0)
		return rc;
	/* libunbound would answer 127/8's reverse names itself */
	if ((flags & RESOLVER_LOOPBACK_PTR) && (rc = ub_ctx_set_option(ub,
	    "local-zone:", "127.in-addr.arpa. transparent")) != 0)
		return rc;
	return ub_ctx_set_fwd(ub, server);
}

/* resolver_new - the context, not yet on a loop */
struct resolver *
resolver_new(const char *name, const char *server, int flags, char *err,
    size_t errlen)
{
	struct resolver *r;
	const char *step;
	int rc = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->ub = ub_ctx_create()) == NULL) {
		free(r);
		snprintf(err, errlen, "resolver setup: out of memory");
		return NULL;
	}
	r->name = name;
	if (server != NULL && server[0] != '\0') {
		step = server;
		rc = resolver_forward(r->ub, server, flags);
	} else {
		step = "/etc/resolv.conf";
		if ((rc = ub_ctx_resolvconf(r->ub, NULL)) != 0 &&
		    (flags & RESOLVER_ROOT_FALLBACK)) {
			log_warn(LOG_CAT_DNS, "event=resolvconf_failed "
			    "resolver=%s error=\"%s\" action=\"resolving from "
			    "the root\"", name, ub_strerror(rc));
			rc = 0;
		}
	}
	if (rc == 0 && !(flags & RESOLVER_SYNC)) {
		step = "async mode";
		rc = ub_ctx_async(r->ub, 1);
	}
	if (rc != 0) {
		snprintf(err, errlen, "resolver setup (%s): %s", step,
		    ub_strerror(rc));
		resolver_free(r);
		return NULL;
	}
	return r;
}

/* resolver_attach - watch the resolver's descriptor on base */
int
resolver_attach(struct resolver *r, struct event_base *base)
{
	if (r->ev != NULL)
		event_free(r->ev);
	r->ev = event_new(base, ub_fd(r->ub), EV_READ | EV_PERSIST,
	    resolver_fd_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) == -1)
		return -1;
	return 0;
}

/* resolver_ctx - for the lookups */
struct ub_ctx *
resolver_ctx(const struct resolver *r)
{
	return r->ub;
}

/* resolver_free - the event first, then the context */
void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	if (r->ev != NULL)
		event_free(r->ev);
	ub_ctx_delete(r->ub);
	free(r);
}
