/*
 * rcpt_table.c - a set of recipient addresses (see rcpt_table.h).
 *
 * Public: rcpt_table_load, rcpt_table_parse, rcpt_table_from_list,
 * rcpt_table_find, rcpt_table_find_bare, rcpt_table_catchall,
 * rcpt_table_count, rcpt_table_free.
 *
 * One arena holds every entry as a NUL-terminated key, and an open
 * addressing table (linear probing, at most half full, sized once from
 * the number of lines) holds {FNV-1a hash, arena offset} per entry, so
 * a lookup is one or two probes and a string compare, and loading a
 * million lines is one read, one pass and no allocation per entry.
 * Keys never collide across forms: an address holds an '@' after a
 * non-empty local part, a catch-all starts with '@', a bare local part
 * (a dot-string) holds none.
 * SECURITY: the file is the administrator's, the lookup keys come from
 * a peer: they are only hashed and compared. FNV-1a is not keyed, but a
 * peer picks only what it asks for, not what is stored, so it cannot
 * lengthen the probe chains; a lookup key longer than any entry is a
 * miss without a probe.
 * LIMITS: TABLE_FILE_MAX bytes a file (32-bit offsets).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lookup/table_file.h"
#include "rcpt_table.h"

struct rt_slot {
	uint32_t	hash;
	uint32_t	off;		/* arena offset + 1; 0: free */
};

struct rt_catchall {
	uint32_t	off;
	unsigned	line;
};

struct rcpt_table {
	char			*arena;		/* keys, NUL-terminated; owned */
	size_t			 used, cap;
	struct rt_slot		*slots;		/* owned */
	size_t			 mask;
	size_t			 count;
	struct rt_catchall	*catchall;	/* owned */
	size_t			 n_catchall, cap_catchall;
	int			 flags;
};

static struct rcpt_table *
table_new(size_t entries, size_t arena, int flags)
{
	struct rcpt_table *t;
	size_t slots = 16;

	while (slots < entries * 2)
		slots *= 2;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->flags = flags;
	t->cap = arena;
	t->mask = slots - 1;
	if ((t->arena = malloc(arena)) == NULL ||
	    (t->slots = calloc(slots, sizeof(*t->slots))) == NULL) {
		rcpt_table_free(t);
		return NULL;
	}
	return t;
}

/* the slot that holds key, or the free slot where it would go */
static struct rt_slot *
probe(const struct rcpt_table *t, const char *key, size_t len, uint32_t h)
{
	size_t i = h & t->mask;
	struct rt_slot *s;

	for (;; i = (i + 1) & t->mask) {
		s = &t->slots[i];
		if (s->off == 0)
			return s;
		if (s->hash == h &&
		    memcmp(t->arena + s->off - 1, key, len + 1) == 0)
			return s;
	}
}

/* add a key; -1 when out of room (sizes are set by the caller) */
static int
insert(struct rcpt_table *t, const struct table_addr *a, unsigned line)
{
	uint32_t h = hash_fnv1a(a->key, a->key_len);
	struct rt_slot *s = probe(t, a->key, a->key_len, h);
	struct rt_catchall *nc;
	size_t ncap;

	if (s->off != 0)
		return 0;		/* a duplicate: already there */
	if (t->used + a->key_len + 1 > t->cap || (t->count + 1) * 2 >
	    t->mask + 1)
		return -1;
	memcpy(t->arena + t->used, a->key, a->key_len + 1);
	s->hash = h;
	s->off = (uint32_t)t->used + 1;
	if (a->kind == TA_CATCHALL) {
		if (t->n_catchall == t->cap_catchall) {
			ncap = t->cap_catchall ? t->cap_catchall * 2 : 8;
			nc = reallocarray(t->catchall, ncap, sizeof(*nc));
			if (nc == NULL)
				return -1;
			t->catchall = nc;
			t->cap_catchall = ncap;
		}
		t->catchall[t->n_catchall].off = (uint32_t)t->used;
		t->catchall[t->n_catchall++].line = line;
	}
	t->used += a->key_len + 1;
	t->count++;
	return 0;
}

static int
allow_of(int flags)
{
	return TA_ALLOW_CATCHALL | ((flags & RT_BARE) ? TA_ALLOW_BARE : 0);
}

/* every line of f into a new table */
static struct rcpt_table *
parse_file(struct table_file *f, int flags, char *err, size_t errlen)
{
	struct rcpt_table *t;
	struct table_line l;
	struct table_addr a;
	const char *p, *end, *w, *why;
	size_t wlen;

	if ((t = table_new(table_file_lines(f), f->len + 2, flags)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", f->path);
		return NULL;
	}
	while (table_file_next(f, &l)) {
		p = l.p;
		end = l.p + l.len;
		if (!table_word(&p, end, "", &w, &wlen))
			continue;
		if (!table_rest_blank(p, end)) {
			table_file_err(f, err, errlen, "one address a line "
			    "(text after the first word)");
			goto fail;
		}
		if (table_addr_parse(w, wlen, allow_of(flags), &a, &why)) {
			table_file_err(f, err, errlen, "%s", why);
			goto fail;
		}
		if (insert(t, &a, f->line) == -1) {
			table_file_err(f, err, errlen, "out of memory");
			goto fail;
		}
	}
	return t;
fail:
	rcpt_table_free(t);
	return NULL;
}

/* rcpt_table_parse - a table from bytes */
struct rcpt_table *
rcpt_table_parse(const char *name, const char *text, size_t len, int flags,
    char *err, size_t errlen)
{
	struct table_file f;

	if (table_file_mem(&f, name, text, len, err, errlen) == -1)
		return NULL;
	return parse_file(&f, flags, err, errlen);
}

/* rcpt_table_load - a table from a file */
struct rcpt_table *
rcpt_table_load(const char *path, int flags, char *err, size_t errlen)
{
	struct rcpt_table *t;
	struct table_file f;

	if (table_file_read(&f, path, err, errlen) == -1)
		return NULL;
	t = parse_file(&f, flags, err, errlen);
	table_file_release(&f);
	return t;
}

/* rcpt_table_from_list - a table from the words of a list knob */
struct rcpt_table *
rcpt_table_from_list(char **items, size_t n, int flags, char *err,
    size_t errlen)
{
	struct rcpt_table *t;
	struct table_addr a;
	const char *why;
	size_t i, arena = 1;

	for (i = 0; i < n; i++)
		arena += strlen(items[i]) + 1;
	if ((t = table_new(n, arena, flags)) == NULL) {
		snprintf(err, errlen, "mailboxes: out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (table_addr_parse(items[i], strlen(items[i]),
		    allow_of(flags), &a, &why) == -1) {
			snprintf(err, errlen, "mailboxes: \"%s\": %s",
			    items[i], why);
			goto fail;
		}
		if (insert(t, &a, (unsigned)i + 1) == -1) {
			snprintf(err, errlen, "mailboxes: out of memory");
			goto fail;
		}
	}
	return t;
fail:
	rcpt_table_free(t);
	return NULL;
}

static const char *
find_key(const struct rcpt_table *t, const char *key, size_t len)
{
	const struct rt_slot *s;

	s = probe(t, key, len, hash_fnv1a(key, len));
	return s->off != 0 ? t->arena + s->off - 1 : NULL;
}

/* rcpt_table_find - exact address, then the catch-all of its domain */
const char *
rcpt_table_find(const struct rcpt_table *t, const char *local,
    const char *domain)
{
	char key[TABLE_KEY_MAX];
	const char *hit, *at;
	size_t len;

	if (t == NULL || local[0] == '\0' || domain[0] == '\0' ||
	    (len = table_key(key, local, domain)) == 0)
		return NULL;
	if ((hit = find_key(t, key, len)) != NULL)
		return hit;
	/* the catch-all key "@domain" is the tail of the same buffer */
	at = key + strlen(local);
	return find_key(t, at, len - (size_t)(at - key));
}

/* rcpt_table_find_bare - a bare local part */
const char *
rcpt_table_find_bare(const struct rcpt_table *t, const char *local)
{
	char key[TABLE_KEY_MAX];
	size_t len;

	if (t == NULL || !(t->flags & RT_BARE) || local[0] == '\0' ||
	    strchr(local, '@') != NULL ||
	    (len = table_key(key, local, NULL)) == 0)
		return NULL;
	return find_key(t, key, len);
}

/* rcpt_table_catchall - the i-th "@domain" entry */
const char *
rcpt_table_catchall(const struct rcpt_table *t, size_t i, unsigned *line)
{
	if (t == NULL || i >= t->n_catchall)
		return NULL;
	if (line != NULL)
		*line = t->catchall[i].line;
	return t->arena + t->catchall[i].off;
}

size_t
rcpt_table_count(const struct rcpt_table *t)
{
	return t != NULL ? t->count : 0;
}

void
rcpt_table_free(struct rcpt_table *t)
{
	if (t == NULL)
		return;
	free(t->arena);
	free(t->slots);
	free(t->catchall);
	free(t);
}
