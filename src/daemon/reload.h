/*
 * reload.h - what a reload cannot apply: the knobs read only at start.
 */
#ifndef MOAT_RELOAD_H
#define MOAT_RELOAD_H

#include <stddef.h>

struct conf;

/*
 * reload_needs_restart - the changes from running (the configuration
 * the daemon started with) to next that only a restart applies, as
 * "what (old -> new); ..." into buf (cut at len, always terminated);
 * the number of them, -1 when out of memory.
 */
int reload_needs_restart(const struct conf *running, const struct conf *next,
    char *buf, size_t len);

#endif
