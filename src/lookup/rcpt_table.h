/*
 * rcpt_table.h - a set of recipient addresses loaded from a file
 * (recipient_tables, mailboxes_file) or a list (mailboxes).
 */
#ifndef MOAT_RCPT_TABLE_H
#define MOAT_RCPT_TABLE_H

#include <stddef.h>

struct rcpt_table;

/*
 * Lines: an address "local@domain", a catch-all "@domain", or with
 * RT_BARE a bare local part (mailboxes_file); '#' comments (a whole
 * line, or after the entry and a blank), blank lines, surrounding
 * blanks, CR LF line ends. Entries are checked by the address parser
 * and stored lowercased (ASCII), a quoted local part in its plain form.
 * A duplicate is counted once. Errors: "path:line: what is wrong".
 */
#define RT_BARE	0x01

/* rcpt_table_load - read path; NULL with err set on any bad line */
struct rcpt_table *rcpt_table_load(const char *path, int flags, char *err,
    size_t errlen);

/*
 * rcpt_table_parse - the same from len bytes in memory (need not end
 * in a NUL); name stands for the path in messages.
 */
struct rcpt_table *rcpt_table_parse(const char *name, const char *text,
    size_t len, int flags, char *err, size_t errlen);

/*
 * rcpt_table_from_list - from n entries (the mailboxes knob); errors
 * name the item: "mailboxes: \"x y\": what is wrong".
 */
struct rcpt_table *rcpt_table_from_list(char **items, size_t n, int flags,
    char *err, size_t errlen);

/*
 * rcpt_table_find - the stored entry that matches local@domain (any
 * case): the exact address, else the catch-all "@domain"; NULL if none.
 * local is the plain local part (mail_addr.local_plain). O(1).
 */
const char *rcpt_table_find(const struct rcpt_table *t, const char *local,
    const char *domain);

/* rcpt_table_find_bare - the bare entry local (RT_BARE tables), or NULL */
const char *rcpt_table_find_bare(const struct rcpt_table *t,
    const char *local);

/*
 * rcpt_table_catchall - the i-th catch-all entry ("@domain") in file
 * order and its line (*line may be NULL); NULL after the last. For the
 * caller's own rules (a catch-all of a local domain is refused).
 */
const char *rcpt_table_catchall(const struct rcpt_table *t, size_t i,
    unsigned *line);

/* rcpt_table_count - distinct entries */
size_t rcpt_table_count(const struct rcpt_table *t);

/* rcpt_table_free - accepts NULL */
void rcpt_table_free(struct rcpt_table *t);

#endif
