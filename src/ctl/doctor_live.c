/*
 * doctor_live.c - `moat doctor`'s open-relay self-test: the relay part
 * of the battery (src/relaytest: every address trick, no DATA ever)
 * against each SMTP listener the daemon runs, as an outside client:
 * plain, and again inside TLS where the listener offers STARTTLS (on a
 * submissions listener, inside implicit TLS only).
 *
 * A loopback listener is reached from a 127.x address not in
 * relay_networks. When every such address is in relay_networks, the
 * listener is still tried if the entry that covers the client is one
 * doctor_relay_net finds wide (error or worse): that entry lets the
 * Internet in too, so what our client gets, outsiders get.
 *
 * Public: doctor_relay_selftest.
 * SECURITY: replies are parsed and reduced to printable ASCII by the
 * battery; no DATA follows a RCPT to an outside recipient.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/doctor.h"
#include "daemon/config.h"
#include "lib/cidr.h"
#include "policy/relay.h"
#include "relaytest/relaytest.h"

#define SELFTEST_TIMEOUT_MS	5000

/*
 * plan: every client address we could use is in relay_networks; use the
 * first anyway when its entry is wide (that entry admits outsiders too).
 * 0 with p filled, -1 when the result would mean nothing.
 */
static int
plan_wide(const struct conf *c, struct relaytest_plan *p, char *net,
    size_t netlen)
{
	const char *cand = strncmp(p->host, "127.", 4) == 0 ? "127.0.0.1" :
	    p->host;
	uint8_t addr[16];
	char why[256];

	if (cidr_addr_parse(cand, addr) == -1)
		return -1;
	for (size_t i = 0; i < c->n_relay_networks; i++) {
		if (!cidr_contains(&c->relay_networks[i], addr) ||
		    doctor_relay_net(&c->relay_networks[i], why, sizeof(why)) <
		    DOCTOR_ERROR)
			continue;
		cidr_format(&c->relay_networks[i], net, netlen);
		snprintf(p->src, sizeof(p->src), "%s", cand);
		p->skip[0] = '\0';
		return 0;
	}
	return -1;
}

/* name is an item of list ("a, b, c") */
static int
listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return 1;
	return 0;
}

static void
run_one(struct doctor_report *r, const struct conf *c,
    const struct conf_listener *l, const struct relaytest_plan *p,
    enum relaytest_tls tls, const char *wide)
{
	static const char *const mode[] = { "", " inside STARTTLS",
	    " inside TLS" };
	struct relaytest_opts o;
	struct relaytest_result *res = NULL;
	char port[8], err[512], tricks[DOCTOR_TEXT_MAX / 2], first[200];
	size_t n, fail = 0, check = 0;
	int unreachable;

	memset(&o, 0, sizeof(o));
	snprintf(port, sizeof(port), "%d", l->port);
	o.host = p->host;
	o.port = port;
	o.local_domain = c->local_domains[0];
	o.from_ip = p->src;
	o.timeout_ms = SELFTEST_TIMEOUT_MS;
	o.proxy = p->proxy;
	o.tls = tls;
	if ((n = relaytest_run(&o, &res, &unreachable, err, sizeof(err))) == 0) {
		doctor_add(r, "relay_test", DOCTOR_WARNING, "listener %s%s: "
		    "the battery could not run: %s", l->name, mode[tls], err);
		return;
	}
	tricks[0] = first[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t tl = strlen(tricks);

		if (res[i].verdict != RELAYTEST_FAIL &&
		    !(res[i].verdict == RELAYTEST_WARN &&
		    strcmp(res[i].note, "accepted (check)") == 0))
			continue;
		if (res[i].verdict == RELAYTEST_FAIL)
			fail++;
		else
			check++;
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "MAIL FROM:%.80s "
			    "RCPT TO:%.80s got %d", res[i].c.sender, res[i].c.rcpt,
			    res[i].code);
		/* each trick once, however many senders it took */
		if (!listed(tricks, res[i].c.name) &&
		    tl + strlen(res[i].c.name) + 3 < sizeof(tricks))
			snprintf(tricks + tl, sizeof(tricks) - tl, "%s%s",
			    tl ? ", " : "", res[i].c.name);
	}
	if (fail > 0) {
		doctor_add(r, "relay_test", DOCTOR_CRITICAL, "listener %s%s "
		    "relays for an outside client (%s%s%s): %zu case%s "
		    "accepted an outside recipient, tricks: %s; e.g. %s",
		    l->name, mode[tls], p->src, wide[0] ? " in relay_networks "
		    : "", wide, fail, fail == 1 ? "" : "s", tricks, first);
		doctor_fix(r, "%s", wide[0] ? "narrow relay_networks to the "
		    "hosts that must relay" : "[log] relay = debug shows which "
		    "rule let it through; narrow relay_networks, auth_relay");
	} else if (check > 0) {
		doctor_add(r, "relay_test", DOCTOR_WARNING, "listener %s%s: "
		    "%zu ambiguous address%s accepted (a relay only if "
		    "something routes on the local part), tricks: %s; e.g. %s",
		    l->name, mode[tls], check, check == 1 ? "" : "es", tricks,
		    first);
		doctor_fix(r, "make sure no alias or table turns such local "
		    "parts into outside addresses");
	} else
		doctor_add(r, "relay_test", DOCTOR_OK, "listener %s%s: no "
		    "outside recipient accepted in %zu cases from %s",
		    l->name, mode[tls], n, p->src);
	free(res);
}

void
doctor_relay_selftest(struct doctor_report *r, const struct conf *c)
{
	struct conf_tls_pair pairs[1];
	struct relay_table rt;
	struct relaytest_plan p;
	char wide[CIDR_STRLEN];
	int tls = conf_tls_pairs(c, pairs, 1) > 0;

	if (c->n_local_domains == 0 ||
	    !relaytest_domain_valid(c->local_domains[0])) {
		doctor_add(r, "relay_test", DOCTOR_WARNING, "skipped: the "
		    "first local domain cannot be used in a test address");
		return;
	}
	conf_relay_table(c, &rt);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];

		wide[0] = '\0';
		if (relaytest_plan(&rt, l, &p) == -1 && (l->proxy_protocol ||
		    plan_wide(c, &p, wide, sizeof(wide)) == -1)) {
			doctor_add(r, "relay_test", DOCTOR_INFO, "listener %s "
			    "not tested: %s", l->name, p.skip);
			continue;
		}
		if (l->role == ROLE_SUBMISSIONS) {
			run_one(r, c, l, &p, RELAYTEST_TLS_IMPLICIT, wide);
			continue;
		}
		run_one(r, c, l, &p, RELAYTEST_TLS_NONE, wide);
		if (tls && l->starttls)
			run_one(r, c, l, &p, RELAYTEST_TLS_STARTTLS, wide);
	}
}
