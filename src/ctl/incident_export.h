/*
 * incident_export.h - `moat incident export`: one .tar.gz with all that
 * is known of an incident (summary.txt, incident.json, events.json,
 * events.txt, sessions.json, queue.json, bans.json, log.txt).
 */
#ifndef MOAT_INCIDENT_EXPORT_H
#define MOAT_INCIDENT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

struct cidr;
struct ctl_answer;
struct ctl_req;

struct incident_export_opts {
	const char	*id;		/* "user:NAME" or "client:ADDR" */
	int64_t		 since;		/* seconds back, 0: the default week */
	const char	*out;		/* NULL: incident-KIND-NAME-TIME.tar.gz */
	const char	*log_file;	/* NULL: the journal (journalctl -t moat) */
};

/* one request to the daemon: 0 with a filled in, -1 (said on stderr) */
typedef int (*incident_call_fn)(void *arg, const struct ctl_req *q,
    struct ctl_answer *a);

/*
 * incident_export - ask the daemon (call) for the incident's parts,
 * read its log lines and write the archive, mode 0600. The exit status
 * of the command: 0, 1 failed (said on stderr).
 */
int incident_export(const struct incident_export_opts *o,
    incident_call_fn call, void *arg);

/*
 * incident_log_match - 1 when a log line is about the incident: a
 * key=value whose key ends in "user" and whose value is user (user
 * not NULL), or whose value is an address in net (net not NULL) or
 * one of addrs[0..naddrs). Values may be double-quoted. Pure.
 */
int incident_log_match(const char *line, const char *user,
    const struct cidr *net, const char *const *addrs, size_t naddrs);

#endif
