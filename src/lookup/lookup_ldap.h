/*
 * lookup_ldap.h - the [ldap NAME] directories of the lookup process:
 * made once at start, kept across reloads, one recipient source each.
 */
#ifndef MOAT_LOOKUP_LDAP_H
#define MOAT_LOOKUP_LDAP_H

#include "lookup.h"
#include "ldap_dir.h"

struct conf;
struct event_base;

/*
 * lookup_ldap_prepare - as root, before the drop: read the bind_file of
 * every [ldap] section. -1 (logged) when one is unusable: the daemon
 * does not start without the credentials the administrator gave.
 */
int lookup_ldap_prepare(const struct conf *c);

/*
 * lookup_ldap_start - a directory for every [ldap] section of c, with
 * the credentials prepare read (then wiped); their ldap_unavailable
 * events go to ev. -1 (logged) on failure.
 */
int lookup_ldap_start(struct event_base *base, const struct conf *c,
    ldap_event_fn *ev, void *evarg);

/*
 * lookup_ldap_section - the [ldap] section recipient_ldap names for
 * domain (lowercased), NULL when none.
 */
const char *lookup_ldap_section(const struct conf *c, const char *domain);

/*
 * lookup_ldap_state - the source state for section name, for
 * lookup_ldap_src; a section that was not there at start (added by a
 * reload) has no directory and its source answers TEMPFAIL until a
 * restart. Lives until lookup_ldap_stop.
 */
void *lookup_ldap_state(const char *name);

/* lookup_ldap_src - the source: asks the directory about q's address */
void lookup_ldap_src(void *state, const struct lookup_query *q,
    lookup_done_fn *done, void *arg);

/*
 * lookup_ldap_reload - a new configuration: its [ldap] sections are
 * compared with the running ones, and a change is logged (it takes a
 * restart: the bind files are read as root).
 */
void lookup_ldap_reload(const struct conf *nc);

/* lookup_ldap_stop - close every directory (waiting lookups: TEMPFAIL) */
void lookup_ldap_stop(void);

#endif
