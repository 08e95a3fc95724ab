/*
 * lookup_ldap.c - the LDAP directories of the lookup process.
 *
 * Public: lookup_ldap_prepare, lookup_ldap_start, lookup_ldap_section,
 * lookup_ldap_state, lookup_ldap_src, lookup_ldap_reload,
 * lookup_ldap_stop.
 *
 * One ldap_dir per [ldap NAME] section, made at start and kept for the
 * life of the process, so its connection and its cache outlive the
 * configurations (struct lk_rules of lookup_proc.c) whose sources point
 * at it. The bind files are read as root in the prepare hook; after the
 * drop they cannot be read again, so a reload that changes an [ldap]
 * section (or adds one) is logged and takes a restart. A domain whose
 * section has no directory (added by a reload) gets TEMPFAIL, never an
 * accept-all nor a reject-all.
 *
 * SECURITY: the secrets are wiped once the directories hold their copy.
 * LIMITS: CONF_MAX_LDAP sections at start, LK_LDAP_MAX names in all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/config.h"
#include "../lib/log.h"
#include "lookup_ldap.h"

#define LK_LDAP_MAX	(2 * CONF_MAX_LDAP)

/* a section name and its directory; NULL: not there at start */
struct lk_ldap {
	char		 name[64];
	char		*sig;		/* the section at start, as text */
	struct ldap_dir	*dir;
};

static struct lk_ldap	 dirs[LK_LDAP_MAX];
static size_t		 ndirs;
static struct lk_ldap	 overflow = { "(too many)", NULL, NULL };
static struct ldap_secret secrets[CONF_MAX_LDAP];

/* the section's knobs as one string, to see a reload change them */
static char *
section_sig(const struct conf_ldap *l)
{
	char *s = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&s, &len);

	if (fp == NULL)
		return NULL;
	for (size_t i = 0; i < l->n_servers; i++)
		fprintf(fp, "%s\n", l->servers[i]);
	fprintf(fp, "|%s|%s|%s|%s|%s|%s|%d|%d|%d|%d", l->tls, l->ca_file,
	    l->base, l->scope, l->filter, l->bind_file, l->timeout,
	    l->cache_positive, l->cache_negative, l->cache_size);
	if (fclose(fp) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* lookup_ldap_prepare - read the bind files, as root */
int
lookup_ldap_prepare(const struct conf *c)
{
	char err[CONF_PATH_MAX + 256];

	for (size_t i = 0; i < c->n_ldap; i++) {
		if (c->ldap[i].bind_file[0] == '\0')
			continue;
		if (ldap_secret_load(c->ldap[i].bind_file, &secrets[i], err,
		    sizeof(err)) == -1) {
			log_err(LOG_CAT_RELAY, "event=ldap_bind_file_refused "
			    "ldap=%s error=\"%s\"", c->ldap[i].name, err);
			for (size_t j = 0; j < CONF_MAX_LDAP; j++)
				ldap_secret_wipe(&secrets[j]);
			return -1;
		}
	}
	return 0;
}

/* lookup_ldap_start - a directory per section */
int
lookup_ldap_start(struct event_base *base, const struct conf *c,
    ldap_event_fn *ev, void *evarg)
{
	char err[512];
	int rc = 0;

	for (size_t i = 0; i < c->n_ldap && rc == 0; i++) {
		struct lk_ldap *e = lookup_ldap_state(c->ldap[i].name);
		const struct conf_ldap *l = &c->ldap[i];

		if (e == &overflow || e->dir != NULL)
			fatalx("%s: section %s", __func__, l->name);
		e->sig = section_sig(l);
		if ((e->dir = ldap_dir_new(base, l, &secrets[i], err,
		    sizeof(err))) == NULL || e->sig == NULL) {
			log_err(LOG_CAT_RELAY, "event=ldap_failed ldap=%s "
			    "error=\"%s\"", l->name, e->dir == NULL ? err :
			    "out of memory");
			ldap_dir_free(e->dir);
			e->dir = NULL;
			free(e->sig);
			e->sig = NULL;
			rc = -1;
			continue;
		}
		ldap_dir_set_event(e->dir, ev, evarg);
		log_info(LOG_CAT_RELAY, "event=ldap_directory ldap=%s "
		    "servers=%zu bind=%s", l->name, l->n_servers,
		    secrets[i].binddn[0] ? "yes" : "anonymous");
	}
	for (size_t j = 0; j < CONF_MAX_LDAP; j++)
		ldap_secret_wipe(&secrets[j]);
	return rc;
}

/* lookup_ldap_section - recipient_ldap's section for domain */
const char *
lookup_ldap_section(const struct conf *c, const char *domain)
{
	size_t dl = strlen(domain);

	for (size_t i = 0; i < c->n_recipient_ldap; i++) {
		const char *item = c->recipient_ldap[i];

		if (strncmp(item, domain, dl) == 0 && item[dl] == '=')
			return item + dl + 1;
	}
	return NULL;
}

/* lookup_ldap_state - the entry of section name, made when new */
void *
lookup_ldap_state(const char *name)
{
	for (size_t i = 0; i < ndirs; i++)
		if (strcmp(dirs[i].name, name) == 0)
			return &dirs[i];
	if (ndirs >= LK_LDAP_MAX)
		return &overflow;
	snprintf(dirs[ndirs].name, sizeof(dirs[ndirs].name), "%s", name);
	return &dirs[ndirs++];
}

/* lookup_ldap_src - a recipient source over one directory */
void
lookup_ldap_src(void *state, const struct lookup_query *q,
    lookup_done_fn *done, void *arg)
{
	struct lk_ldap *e = state;
	char addr[2 * LOOKUP_ADDR_MAX];

	if (e->dir == NULL) {
		done(arg, LOOKUP_TEMPFAIL, "ldap: section added by a reload, "
		    "needs a restart");
		return;
	}
	snprintf(addr, sizeof(addr), "%s@%s", q->local, q->domain);
	ldap_dir_lookup(e->dir, addr, done, arg);
}

/* lookup_ldap_reload - say which [ldap] changes wait for a restart */
void
lookup_ldap_reload(const struct conf *nc)
{
	for (size_t i = 0; i < nc->n_ldap; i++) {
		const struct conf_ldap *l = &nc->ldap[i];
		struct lk_ldap *e = NULL;
		char *sig;

		for (size_t j = 0; j < ndirs; j++)
			if (strcmp(dirs[j].name, l->name) == 0)
				e = &dirs[j];
		if (e == NULL || e->dir == NULL) {
			log_warn(LOG_CAT_RELAY, "event=ldap_needs_restart "
			    "ldap=%s note=\"a new [ldap] section is used after "
			    "a restart; its domains get 451 until then\"",
			    l->name);
			continue;
		}
		sig = section_sig(l);
		if (sig == NULL || strcmp(sig, e->sig) != 0)
			log_warn(LOG_CAT_RELAY, "event=ldap_needs_restart "
			    "ldap=%s note=\"[ldap] changes take a restart "
			    "(the bind file is read as root); the section as "
			    "it was stays in use\"", l->name);
		free(sig);
	}
}

/* lookup_ldap_stop - close the directories */
void
lookup_ldap_stop(void)
{
	for (size_t i = 0; i < ndirs; i++) {
		ldap_dir_free(dirs[i].dir);
		free(dirs[i].sig);
		memset(&dirs[i], 0, sizeof(dirs[i]));
	}
	ndirs = 0;
}
