/*
 * banlist.h - the dynamic bans, refused at accept() like the deny list,
 * changed one ban at a time.
 */
#ifndef MOAT_BANLIST_H
#define MOAT_BANLIST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../lib/cidr.h"
#include "denylist.h"

#define BAN_WHY_MAX	96

struct banlist;

struct banlist *banlist_new(void);
void banlist_free(struct banlist *b);

/*
 * banlist_add - ban net until expires (0: never), replacing a ban of
 * the same network. why is copied (cut at BAN_WHY_MAX - 1 bytes).
 * 0, or -1 when out of memory. O(1) on average.
 */
int banlist_add(struct banlist *b, const struct cidr *net, time_t expires,
    const char *why);

/* banlist_del - lift the ban of exactly net; 1 when there was one */
int banlist_del(struct banlist *b, const struct cidr *net);

/* banlist_clear - lift every ban */
void banlist_clear(struct banlist *b);

/*
 * banlist_match - a ban covering addr (mapped form) not expired at now,
 * or NULL. One hash lookup per prefix length in use.
 */
const struct deny_entry *banlist_match(const struct banlist *b,
    const uint8_t addr[16], time_t now);

/* banlist_expire - drop the bans expired at now; how many went */
size_t banlist_expire(struct banlist *b, time_t now);

size_t banlist_size(const struct banlist *b);

#endif
