/*
 * lookup_tables.h - the table files of the configuration (mailboxes_file,
 * recipient_tables, aliases_file), loaded with the rules the
 * configuration adds, for
 * the lookup process and for the parent's check at start.
 */
#ifndef MOAT_LOOKUP_TABLES_H
#define MOAT_LOOKUP_TABLES_H

#include <stddef.h>

#include "aliases.h"

struct conf;
struct rcpt_table;

/*
 * lookup_classify - what domain is to configuration arg (a const
 * struct conf *): local, routed or outside; for aliases.c
 */
enum alias_domain lookup_classify(void *arg, const char *domain);

/* lookup_aliases_load - aliases_load with c's domains; NULL, err set */
struct aliases *lookup_aliases_load(const struct conf *c, const char *path,
    char *err, size_t errlen);

/*
 * lookup_table_load - the table at path: a recipient table (flags 0)
 * or the mailboxes file (RT_BARE). A catch-all "@domain" of a local
 * domain is an error (an alias "@domain: mailbox" says where such mail
 * goes), and so is any catch-all in the mailboxes file. NULL with
 * "path:line: what is wrong" in err.
 */
struct rcpt_table *lookup_table_load(const struct conf *c, const char *path,
    int flags, char *err, size_t errlen);

/*
 * lookup_tables_check - every table file c names loads (each once);
 * 0, or -1 with the first error in err. For check-config and the start.
 */
int lookup_tables_check(const struct conf *c, char *err, size_t errlen);

/* lookup_table_path - the PATH of a "DOMAIN=PATH" recipient_tables item */
const char *lookup_table_path(const char *item);

#endif
