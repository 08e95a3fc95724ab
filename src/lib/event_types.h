/*
 * event_types.h - the one list of security event types: every type a
 * process records in the events table (moat events) is a row here, so
 * `moat events --types`, `--type T` and moat(8) agree with the code.
 */
#ifndef MOAT_EVENT_TYPES_H
#define MOAT_EVENT_TYPES_H

#include <stddef.h>

struct event_type {
	const char	*name;		/* the events table's type */
	const char	*doc;		/* one line: what happened */
};

/* event_type_find - the row of name, NULL when no such type */
const struct event_type *event_type_find(const char *name);

/* event_type_at - row i (0..event_type_count()-1), in name order */
const struct event_type *event_type_at(size_t i);
size_t event_type_count(void);

#endif
