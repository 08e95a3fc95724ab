/*
 * lookup_tables.c - the table files the configuration names, loaded with
 * the configuration's own rules on top of rcpt_table's syntax.
 *
 * Public: lookup_table_load, lookup_tables_check, lookup_table_path,
 * lookup_classify, lookup_aliases_load.
 *
 * The lookup process loads them (and loads them again when they change);
 * the parent loads each once at start and check-config too, so that a
 * bad file is a "file:line: what is wrong" and no start, not a process
 * that dies later.
 *
 * SECURITY: the files are the administrator's; rcpt_table.c parses them.
 * LIMITS: those of rcpt_table.c (TABLE_FILE_MAX).
 */
#include <stdio.h>
#include <string.h>

#include "../daemon/config.h"
#include "../policy/relay.h"
#include "lookup_tables.h"
#include "rcpt_table.h"

/* lookup_table_path - the PATH of "DOMAIN=PATH" */
const char *
lookup_table_path(const char *item)
{
	const char *eq = strchr(item, '=');

	return eq != NULL ? eq + 1 : item;
}

/* lookup_table_load - a table file and the configuration's rules */
struct rcpt_table *
lookup_table_load(const struct conf *c, const char *path, int flags,
    char *err, size_t errlen)
{
	struct relay_table t;
	struct rcpt_table *tab;
	const char *ca;
	unsigned line;

	if ((tab = rcpt_table_load(path, flags, err, errlen)) == NULL)
		return NULL;
	conf_relay_table(c, &t);
	for (size_t i = 0; (ca = rcpt_table_catchall(tab, i, &line)) != NULL;
	    i++) {
		if (flags & RT_BARE)
			snprintf(err, errlen, "%s:%u: %s: a catch-all is no "
			    "mailbox (an alias \"%s: MAILBOX\" in aliases_file "
			    "says where such mail goes)", path, line, ca, ca);
		else if (relay_is_local_domain(&t, ca + 1))
			snprintf(err, errlen, "%s:%u: %s: a catch-all of a local "
			    "domain is no mailbox (an alias \"%s: MAILBOX\" in "
			    "aliases_file says where such mail goes)", path,
			    line, ca, ca);
		else
			continue;
		rcpt_table_free(tab);
		return NULL;
	}
	return tab;
}

/* lookup_classify - local, routed or outside, for aliases.c */
enum alias_domain
lookup_classify(void *arg, const char *domain)
{
	const struct conf *c = arg;
	struct relay_table t;

	conf_relay_table(c, &t);
	if (relay_is_local_domain(&t, domain))
		return ALIAS_DOM_LOCAL;
	if (relay_is_routed_domain(&t, domain))
		return ALIAS_DOM_ROUTED;
	return ALIAS_DOM_OUTSIDE;
}

/* lookup_aliases_load - the aliases file, c's domains classifying */
struct aliases *
lookup_aliases_load(const struct conf *c, const char *path, char *err,
    size_t errlen)
{
	return aliases_load(path, lookup_classify, (void *)c, err, errlen);
}

/* 1 when path is the PATH of one of the first n recipient_tables items */
static int
seen_before(const struct conf *c, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(lookup_table_path(c->recipient_tables[i]), path) == 0)
			return 1;
	return 0;
}

/* lookup_tables_check - every table file loads, each once */
int
lookup_tables_check(const struct conf *c, char *err, size_t errlen)
{
	struct rcpt_table *tab;
	struct aliases *al;

	if (c->aliases_file[0] != '\0') {
		if ((al = lookup_aliases_load(c, c->aliases_file, err,
		    errlen)) == NULL)
			return -1;
		aliases_free(al);
	}
	if (c->mailboxes_file[0] != '\0') {
		if ((tab = lookup_table_load(c, c->mailboxes_file, RT_BARE, err,
		    errlen)) == NULL)
			return -1;
		rcpt_table_free(tab);
	}
	for (size_t i = 0; i < c->n_recipient_tables; i++) {
		const char *path = lookup_table_path(c->recipient_tables[i]);

		if (seen_before(c, i, path))
			continue;
		if ((tab = lookup_table_load(c, path, 0, err, errlen)) == NULL)
			return -1;
		rcpt_table_free(tab);
	}
	return 0;
}
