/*
 * doctor.h - `moat doctor`: the running configuration audited against
 * the lessons of a relay abuse (AUTH on the outward-facing server, wide
 * relay networks, credentials others can read, a server nobody tested
 * as an outsider) and today's practice (TLS, reverse DNS, MX and SPF).
 */
#ifndef MOAT_DOCTOR_H
#define MOAT_DOCTOR_H

#include <stddef.h>
#include <sys/types.h>

struct cidr;
struct conf;

enum doctor_sev {
	DOCTOR_OK,
	DOCTOR_INFO,
	DOCTOR_WARNING,
	DOCTOR_ERROR,
	DOCTOR_CRITICAL,
};

/* exit statuses of `moat doctor`: 1 (failed) and 2 (usage) as elsewhere */
#define DOCTOR_EXIT_CLEAN	0	/* nothing above info */
#define DOCTOR_EXIT_WARNING	3
#define DOCTOR_EXIT_ERROR	4
#define DOCTOR_EXIT_CRITICAL	5

#define DOCTOR_TEXT_MAX		512	/* a finding's text, its fix */

struct doctor_finding {
	char		 check[24];	/* "relay_networks", "tls", ... */
	enum doctor_sev	 sev;
	char		 what[DOCTOR_TEXT_MAX];
	char		 fix[DOCTOR_TEXT_MAX];	/* "" when nothing to do */
};

/* the findings of one run, in the order the checks made them */
struct doctor_report {
	struct doctor_finding	*f;
	size_t			 n, cap;
	int			 oom;	/* a finding was lost */
};

/* doctor_add - a finding of check; its fix follows with doctor_fix */
void doctor_add(struct doctor_report *r, const char *check,
    enum doctor_sev sev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* doctor_fix - the fix of the finding added last */
void doctor_fix(struct doctor_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* doctor_sev_name - "ok", "info", "warning", "error", "critical" */
const char *doctor_sev_name(enum doctor_sev s);

/* doctor_worst - the highest severity of r (DOCTOR_OK when empty) */
enum doctor_sev doctor_worst(const struct doctor_report *r);

/* doctor_exit_status - DOCTOR_EXIT_* for the worst severity */
int doctor_exit_status(enum doctor_sev worst);

/*
 * doctor_relay_net - how wide a relay_networks entry is: ok inside the
 * loopback, or a private range (RFC 1918, shared 100.64/10, link-local,
 * IPv6 ULA) of /24 (IPv6 /48) or narrower; warning for a private range
 * wider than that; info for a public network of /29 (/64) or narrower
 * (a partner's host: make sure), warning down to /24 (/48), error wider
 * than that, critical below /8 (/16) or every address. why says which.
 * Pure.
 */
enum doctor_sev doctor_relay_net(const struct cidr *n, char *why,
    size_t whylen);

/*
 * doctor_secret_mode - the mode and owner of a file holding a secret
 * (read by the daemon as root before it drops privileges): critical
 * when anyone may write it, error when anyone may read it or its group
 * may write it, warning when a group other than root's may read it or
 * it belongs to someone other than root (daemon_uid: the daemon's own
 * user, which its chrooted children run as). why says what is wrong,
 * fix the exact chmod/chown for path. DOCTOR_OK (why, fix "") when
 * nothing is. Pure.
 */
enum doctor_sev doctor_secret_mode(const char *path, mode_t mode, uid_t uid,
    gid_t gid, uid_t daemon_uid, char *why, size_t whylen, char *fix,
    size_t fixlen);

/*
 * The checks that reach out: the relay battery against the daemon's own
 * listeners (doctor_live.c), and reverse DNS, MX and SPF of our names
 * through the configured dns_server (doctor_dns.c).
 */
void doctor_relay_selftest(struct doctor_report *r, const struct conf *c);
/*
 * doctor_dns: the outbound addresses are addrs (n of them, numeric) when
 * given (behind NAT the public ones), else the configured or routed ones
 */
void doctor_dns(struct doctor_report *r, const struct conf *c,
    char *const *addrs, size_t n);

/* doctor_main - `moat doctor [-c FILE] [--json] ...`; argv after the verb */
int doctor_main(int argc, char **argv);

#endif
