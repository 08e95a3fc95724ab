/*
 * lookup.h - the types the recipient sources of the lookup process
 * share.
 */
#ifndef MOAT_LOOKUP_H
#define MOAT_LOOKUP_H

enum lookup_answer { LOOKUP_FOUND, LOOKUP_NOTFOUND, LOOKUP_TEMPFAIL };
/* a source's answer; why: short text for logs ("ldap: timeout"), may be NULL */
typedef void lookup_done_fn(void *arg, enum lookup_answer a, const char *why);

#endif
