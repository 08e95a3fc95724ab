/*
 * doctor_rules.c - the pure rules of `moat doctor`: severities, exit
 * statuses, how wide a relay network is, whether a secret's mode and
 * owner let others read it.
 *
 * Public: doctor_add, doctor_fix, doctor_sev_name, doctor_worst,
 * doctor_exit_status, doctor_relay_net, doctor_secret_mode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl/doctor.h"
#include "lib/cidr.h"

void
doctor_add(struct doctor_report *r, const char *check, enum doctor_sev sev,
    const char *fmt, ...)
{
	struct doctor_finding *f;
	va_list ap;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;

		if ((f = realloc(r->f, cap * sizeof(*f))) == NULL) {
			r->oom = 1;
			return;
		}
		r->f = f;
		r->cap = cap;
	}
	f = &r->f[r->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->check, sizeof(f->check), "%s", check);
	f->sev = sev;
	va_start(ap, fmt);
	vsnprintf(f->what, sizeof(f->what), fmt, ap);
	va_end(ap);
}

void
doctor_fix(struct doctor_report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(r->f[r->n - 1].fix, sizeof(r->f[r->n - 1].fix), fmt, ap);
	va_end(ap);
}

const char *
doctor_sev_name(enum doctor_sev s)
{
	static const char *const names[] = { "ok", "info", "warning", "error",
	    "critical" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

enum doctor_sev
doctor_worst(const struct doctor_report *r)
{
	enum doctor_sev w = DOCTOR_OK;

	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].sev > w)
			w = r->f[i].sev;
	return w;
}

int
doctor_exit_status(enum doctor_sev worst)
{
	switch (worst) {
	case DOCTOR_CRITICAL:
		return DOCTOR_EXIT_CRITICAL;
	case DOCTOR_ERROR:
		return DOCTOR_EXIT_ERROR;
	case DOCTOR_WARNING:
		return DOCTOR_EXIT_WARNING;
	default:
		return DOCTOR_EXIT_CLEAN;
	}
}

/* the ranges that never leave a site, as text for cidr_parse */
static const struct {
	const char	*net;
	const char	*name;
	int		 loopback;
} special[] = {
	{ "127.0.0.0/8", "loopback", 1 },
	{ "::1/128", "loopback", 1 },
	{ "10.0.0.0/8", "private", 0 },
	{ "172.16.0.0/12", "private", 0 },
	{ "192.168.0.0/16", "private", 0 },
	{ "100.64.0.0/10", "shared (carrier-grade NAT)", 0 },
	{ "169.254.0.0/16", "link-local", 0 },
	{ "fc00::/7", "unique local", 0 },
	{ "fe80::/10", "link-local", 0 },
};

/* n lies wholly inside s */
static int
net_inside(const struct cidr *n, const struct cidr *s)
{
	return n->prefix >= s->prefix && cidr_contains(s, n->addr);
}

enum doctor_sev
doctor_relay_net(const struct cidr *n, char *why, size_t whylen)
{
	struct cidr s;
	const char *e;
	int v4 = cidr_addr_is_v4(n->addr) && n->prefix >= 96;
	int len = v4 ? n->prefix - 96 : n->prefix;
	int narrow = v4 ? 24 : 48, host = v4 ? 29 : 64, huge = v4 ? 8 : 16;

	if (len == 0) {
		snprintf(why, whylen, "every %saddress: an open relay",
		    v4 ? "IPv4 " : "");
		return DOCTOR_CRITICAL;
	}
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		if (cidr_parse(special[i].net, &s, &e) == -1 ||
		    !net_inside(n, &s))
			continue;
		if (special[i].loopback || len >= narrow) {
			snprintf(why, whylen, "%s, /%d", special[i].name, len);
			return DOCTOR_OK;
		}
		snprintf(why, whylen, "a whole %s range (/%d, wider than "
		    "/%d): every machine in it may relay, a compromised "
		    "workstation too", special[i].name, len, narrow);
		return DOCTOR_WARNING;
	}
	if (len < huge) {
		snprintf(why, whylen, "public, /%d: a large part of the "
		    "Internet may relay", len);
		return DOCTOR_CRITICAL;
	}
	if (len < narrow) {
		snprintf(why, whylen, "public, /%d (wider than /%d): "
		    "thousands of outside hosts may relay", len, narrow);
		return DOCTOR_ERROR;
	}
	if (len < host) {
		snprintf(why, whylen, "public, /%d: every host in it may "
		    "relay; are all of them yours?", len);
		return DOCTOR_WARNING;
	}
	snprintf(why, whylen, "public, /%d: make sure it is yours and "
	    "stays so", len);
	return DOCTOR_INFO;
}

enum doctor_sev
doctor_secret_mode(const char *path, mode_t mode, uid_t uid, gid_t gid,
    uid_t daemon_uid, char *why, size_t whylen, char *fix, size_t fixlen)
{
	enum doctor_sev sev = DOCTOR_OK;
	const char *mw = NULL, *ow = NULL;
	int chmod_needed = (mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0 ||
	    (gid != 0 && (mode & S_IRGRP));

	why[0] = fix[0] = '\0';
	if (mode & S_IWOTH) {
		sev = DOCTOR_CRITICAL;
		mw = "anyone may write it";
	} else if (mode & S_IROTH) {
		sev = DOCTOR_ERROR;
		mw = "anyone may read it";
	} else if (mode & S_IWGRP) {
		sev = DOCTOR_ERROR;
		mw = "its group may write it";
	} else if (gid != 0 && (mode & S_IRGRP)) {
		sev = DOCTOR_WARNING;
		mw = "its group (not root's) may read it";
	} else if (mode & (S_IXGRP | S_IXOTH)) {
		sev = DOCTOR_WARNING;
		mw = "others may execute it";
	}
	if (uid != 0) {
		ow = uid == daemon_uid ? "it belongs to the daemon's own user, "
		    "whose children read the network" : "it belongs to a user "
		    "other than root";
		if (sev < DOCTOR_WARNING)
			sev = DOCTOR_WARNING;
	}
	if (sev == DOCTOR_OK)
		return sev;
	snprintf(why, whylen, "mode %04o, uid %ld, gid %ld: %s%s%s",
	    (unsigned)(mode & 07777), (long)uid, (long)gid, mw ? mw : "",
	    mw && ow ? "; " : "", ow ? ow : "");
	snprintf(fix, fixlen, "%s%s%s%s%s", uid != 0 || gid != 0 ?
	    "chown root:root " : "", uid != 0 || gid != 0 ? path : "",
	    (uid != 0 || gid != 0) && chmod_needed ? " && " : "",
	    chmod_needed ? "chmod 600 " : "", chmod_needed ? path : "");
	return sev;
}
