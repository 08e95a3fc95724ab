/*
 * aliases.c - the aliases table and its expansion (see aliases.h).
 *
 * Public: aliases_load, aliases_parse, aliases_count, aliases_free,
 * aliases_expand, alias_result_clear, alias_is_role.
 *
 * The table: one arena for the names and targets (lookup key and
 * written form of each), an array of aliases each pointing at a run of
 * targets, and an open addressing index {FNV-1a hash, alias} over the
 * names. Loading checks everything that can be known without a
 * recipient: syntax (the one address parser), the domains of names and
 * targets, names given twice, and aliases that lead only into loops
 * (a reverse walk from the deliverable targets, linear in the file).
 * Expansion is a depth-first walk that marks the aliases it enters:
 * an alias met again on the way down is a loop and dropped, met again
 * after it was done it has already given its targets.
 * SECURITY: the file is the administrator's; local and domain passed
 * to aliases_expand come from a peer and are only hashed and compared.
 * An outside target is never produced from a line without "external",
 * checked at load and again at expansion (the classifier may differ).
 * Pure: no I/O but the read of the file, no logging.
 * LIMITS: ALIAS_TARGETS_MAX targets an alias and an expansion,
 * ALIAS_DEPTH_MAX levels, EXPAND_VISITS_MAX aliases entered by one
 * expansion; TABLE_FILE_MAX bytes a file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/hash.h"
#include "lookup/table_file.h"
#include "aliases.h"

#define EXPAND_VISITS_MAX	10000	/* aliases entered by one expansion */

struct al_entry {
	uint32_t	key;		/* arena: "sales", "sales@d", "@d" */
	uint32_t	first;		/* its first target */
	uint32_t	n;		/* targets */
	unsigned	line;
	int		external;	/* outside targets allowed */
};

struct al_target {
	uint32_t	key;		/* arena: lookup form */
	uint32_t	text;		/* arena: written form */
	uint32_t	local_len;	/* of key; key_len when bare */
	uint32_t	key_len;
	int		bare;
};

struct al_slot {
	uint32_t	hash;
	uint32_t	idx;		/* alias + 1; 0: free */
};

struct aliases {
	char		*arena;		/* owned; grows, so offsets only */
	size_t		 used, cap;
	struct al_entry	*e;		/* owned */
	size_t		 ne, cap_e;
	struct al_target *t;		/* owned */
	size_t		 nt, cap_t;
	struct al_slot	*slots;		/* owned */
	size_t		 mask;
};

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if ((np = reallocarray(*p, ncap, size)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

/* copy s (n bytes and a NUL) into the arena; its offset, or -1 */
static int64_t
arena_add(struct aliases *a, const char *s, size_t n)
{
	size_t off = a->used;
	void *p = a->arena;

	if (a->used + n + 1 > UINT32_MAX)
		return -1;
	if (grow(&p, &a->cap, a->used + n + 1, 1) == -1)
		return -1;
	a->arena = p;
	memcpy(a->arena + off, s, n);
	a->arena[off + n] = '\0';
	a->used += n + 1;
	return (int64_t)off;
}

/* the alias named key[0..len), -1 when none */
static long
find(const struct aliases *a, const char *key, size_t len)
{
	uint32_t h;
	size_t i;
	const struct al_slot *s;
	const char *k;

	if (a == NULL || a->slots == NULL)
		return -1;
	h = hash_fnv1a(key, len);
	for (i = h & a->mask;; i = (i + 1) & a->mask) {
		s = &a->slots[i];
		if (s->idx == 0)
			return -1;
		k = a->arena + a->e[s->idx - 1].key;
		if (s->hash == h && memcmp(k, key, len) == 0 && k[len] == '\0')
			return (long)s->idx - 1;
	}
}

/*
 * The alias of a bare local part; a quoted local part that holds an
 * '@' ("a@b"@example.org) is never one, whatever names it spells.
 */
static long
find_local(const struct aliases *a, const char *key, size_t local_len)
{
	if (memchr(key, '@', local_len) != NULL)
		return -1;
	return find(a, key, local_len);
}

/*
 * The alias for an address key "local@domain" of one of our domains:
 * the address, its local part, its domain's catch-all; -1 when none.
 */
static long
find_addr(const struct aliases *a, const char *key, size_t len,
    size_t local_len)
{
	long r;

	if ((r = find(a, key, len)) >= 0 ||
	    (r = find_local(a, key, local_len)) >= 0)
		return r;
	return find(a, key + local_len, len - local_len);
}

/* the alias a target names (-1: none); outside targets name none */
static long
resolve(const struct aliases *a, const struct al_target *t,
    enum alias_domain dk)
{
	const char *key = a->arena + t->key;

	if (t->bare)
		return find(a, key, t->key_len);
	if (dk == ALIAS_DOM_OUTSIDE)
		return -1;
	return find_addr(a, key, t->key_len, t->local_len);
}

static enum alias_domain
classify(const struct aliases *a, const struct al_target *t,
    alias_classify_fn *cls, void *arg)
{
	if (t->bare)
		return ALIAS_DOM_LOCAL;
	return cls(arg, a->arena + t->key + t->local_len + 1);
}

/* ---- loading ---- */

struct loader {
	struct table_file	*f;
	struct aliases		*a;
	alias_classify_fn	*cls;
	void			*arg;
	char			*err;
	size_t			 errlen;
};

/* an error about an earlier line than the one being read */
static void
err_at(struct loader *ld, unsigned line, const char *what)
{
	snprintf(ld->err, ld->errlen, "%s:%u: %s", ld->f->path, line, what);
}

static int
nomem(struct loader *ld)
{
	table_file_err(ld->f, ld->err, ld->errlen, "out of memory");
	return -1;
}

/* the targets in [p, end) for the last alias */
static int
parse_targets(struct loader *ld, const char *p, const char *end)
{
	struct aliases *a = ld->a;
	struct al_entry *e = &a->e[a->ne - 1];
	struct al_target *t;
	struct table_addr ta;
	const char *w, *why;
	int64_t key, text;
	size_t n;
	void *vp;

	while (table_word(&p, end, ",", &w, &n)) {
		if (table_addr_parse(w, n, TA_ALLOW_BARE, &ta, &why) == -1) {
			table_file_err(ld->f, ld->err, ld->errlen,
			    "target \"%.*s\": %s", (int)(n > 80 ? 80 : n), w,
			    why);
			return -1;
		}
		if (ta.kind == TA_ADDR && !e->external &&
		    ld->cls(ld->arg, ta.domain) == ALIAS_DOM_OUTSIDE) {
			table_file_err(ld->f, ld->err, ld->errlen,
			    "target %s is not in a local or routed domain "
			    "(begin the line with \"external\" to allow it)",
			    ta.text);
			return -1;
		}
		if (e->n == ALIAS_TARGETS_MAX) {
			table_file_err(ld->f, ld->err, ld->errlen,
			    "more than %d targets", ALIAS_TARGETS_MAX);
			return -1;
		}
		vp = a->t;
		if (grow(&vp, &a->cap_t, a->nt + 1, sizeof(*a->t)) == -1)
			return nomem(ld);
		a->t = vp;
		if ((key = arena_add(a, ta.key, ta.key_len)) == -1 ||
		    (text = arena_add(a, ta.text, strlen(ta.text))) == -1)
			return nomem(ld);
		t = &a->t[a->nt++];
		t->key = (uint32_t)key;
		t->text = (uint32_t)text;
		t->key_len = (uint32_t)ta.key_len;
		t->bare = ta.kind == TA_BARE;
		t->local_len = (uint32_t)(t->bare ? ta.key_len :
		    (size_t)(ta.domain - ta.key) - 1);
		e->n++;
	}
	return 0;
}

/* "[external] NAME: targets" */
static int
parse_alias(struct loader *ld, const char *p, const char *end)
{
	struct aliases *a = ld->a;
	struct al_entry *e;
	struct table_addr na;
	const char *w, *why;
	int64_t key;
	size_t n;
	int external = 0;
	void *vp;

	if (!table_word(&p, end, ":", &w, &n))
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	/* "external NAME:", but "external:" names an alias */
	if (n == 8 && strncasecmp(w, "external", 8) == 0 && p < end &&
	    *p != ':' && table_word(&p, end, ":", &w, &n)) {
		external = 1;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if (p == end || *p != ':') {
		table_file_err(ld->f, ld->err, ld->errlen,
		    "\"NAME: target, ...\" expected");
		return -1;
	}
	p++;
	if (table_addr_parse(w, n, TA_ALLOW_BARE | TA_ALLOW_CATCHALL, &na,
	    &why) == -1) {
		table_file_err(ld->f, ld->err, ld->errlen, "alias \"%.*s\": %s",
		    (int)(n > 80 ? 80 : n), w, why);
		return -1;
	}
	if (na.kind != TA_BARE &&
	    ld->cls(ld->arg, na.domain) == ALIAS_DOM_OUTSIDE) {
		table_file_err(ld->f, ld->err, ld->errlen, "alias %s: %s is "
		    "neither a local nor a routed domain", na.text, na.domain);
		return -1;
	}
	vp = a->e;
	if (grow(&vp, &a->cap_e, a->ne + 1, sizeof(*a->e)) == -1)
		return nomem(ld);
	a->e = vp;
	if ((key = arena_add(a, na.key, na.key_len)) == -1)
		return nomem(ld);
	e = &a->e[a->ne++];
	e->key = (uint32_t)key;
	e->first = (uint32_t)a->nt;
	e->n = 0;
	e->line = ld->f->line;
	e->external = external;
	return parse_targets(ld, p, end);
}

/* the index over the names; a name given twice is an error */
static int
build_index(struct loader *ld)
{
	struct aliases *a = ld->a;
	struct al_slot *s;
	char what[200];
	const char *k;
	size_t slots = 16, i, j, len;
	uint32_t h;

	while (slots < a->ne * 2)
		slots *= 2;
	if ((a->slots = calloc(slots, sizeof(*a->slots))) == NULL)
		return nomem(ld);
	a->mask = slots - 1;
	for (i = 0; i < a->ne; i++) {
		k = a->arena + a->e[i].key;
		len = strlen(k);
		h = hash_fnv1a(k, len);
		for (j = h & a->mask;; j = (j + 1) & a->mask) {
			s = &a->slots[j];
			if (s->idx == 0)
				break;
			if (s->hash == h &&
			    strcmp(a->arena + a->e[s->idx - 1].key, k) == 0) {
				snprintf(what, sizeof(what), "alias %s given "
				    "twice (first on line %u)", k,
				    a->e[s->idx - 1].line);
				err_at(ld, a->e[i].line, what);
				return -1;
			}
		}
		s->hash = h;
		s->idx = (uint32_t)i + 1;
	}
	return 0;
}

/*
 * Aliases that lead only into loops: an alias is deliverable when one
 * of its targets is a leaf (no alias, an outside address, or the alias
 * itself) or names a deliverable alias. Walk back from the leaves over
 * the reversed edges; whatever is not reached delivers nothing.
 */
static int
check_loops(struct loader *ld)
{
	struct aliases *a = ld->a;
	uint32_t *start = NULL, *from = NULL, *queue = NULL;
	uint8_t *ok = NULL;
	long *to = NULL, r;
	size_t i, k, qh = 0, qt = 0, pos;
	char what[200];
	int rc = -1;

	if (a->ne == 0)
		return 0;
	if ((start = calloc(a->ne + 1, sizeof(*start))) == NULL ||
	    (from = calloc(a->nt + 1, sizeof(*from))) == NULL ||
	    (to = calloc(a->nt + 1, sizeof(*to))) == NULL ||
	    (queue = calloc(a->ne, sizeof(*queue))) == NULL ||
	    (ok = calloc(a->ne, 1)) == NULL) {
		nomem(ld);
		goto done;
	}
	for (i = 0; i < a->ne; i++) {
		for (k = a->e[i].first; k < a->e[i].first + a->e[i].n; k++) {
			r = resolve(a, &a->t[k],
			    classify(a, &a->t[k], ld->cls, ld->arg));
			to[k] = r;
			if (r < 0 || (size_t)r == i) {
				if (!ok[i]) {
					ok[i] = 1;
					queue[qt++] = (uint32_t)i;
				}
			} else
				start[r + 1]++;
		}
	}
	for (i = 0; i < a->ne; i++)
		start[i + 1] += start[i];
	/* from[start[r]..start[r+1]) lists the aliases that name r */
	for (i = 0; i < a->ne; i++)
		for (k = a->e[i].first; k < a->e[i].first + a->e[i].n; k++)
			if (to[k] >= 0 && (size_t)to[k] != i) {
				pos = start[to[k]]++;
				from[pos] = (uint32_t)i;
			}
	/* start[r] is now the end of r's run: the run begins at start[r-1] */
	while (qh < qt) {
		size_t f = queue[qh++], b = f ? start[f - 1] : 0;

		for (k = b; k < start[f]; k++)
			if (!ok[from[k]]) {
				ok[from[k]] = 1;
				queue[qt++] = from[k];
			}
	}
	for (i = 0; i < a->ne; i++)
		if (!ok[i]) {
			snprintf(what, sizeof(what), "alias %s: every target "
			    "leads back into a loop of aliases (nothing to "
			    "deliver)", a->arena + a->e[i].key);
			err_at(ld, a->e[i].line, what);
			goto done;
		}
	rc = 0;
done:
	free(start);
	free(from);
	free(to);
	free(queue);
	free(ok);
	return rc;
}

/* the last alias got no target, on its line or the lines below it */
static int
empty_alias(struct loader *ld)
{
	const struct al_entry *e;
	char what[200];

	if (ld->a->ne == 0 || ld->a->e[ld->a->ne - 1].n > 0)
		return 0;
	e = &ld->a->e[ld->a->ne - 1];
	snprintf(what, sizeof(what), "alias %s has no targets",
	    ld->a->arena + e->key);
	err_at(ld, e->line, what);
	return -1;
}

static struct aliases *
parse_file(struct table_file *f, alias_classify_fn *cls, void *arg,
    char *err, size_t errlen)
{
	struct loader ld = { f, NULL, cls, arg, err, errlen };
	struct table_line l;

	if ((ld.a = calloc(1, sizeof(*ld.a))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", f->path);
		return NULL;
	}
	while (table_file_next(f, &l)) {
		if (l.indented) {
			if (ld.a->ne == 0) {
				table_file_err(f, err, errlen, "a line that "
				    "begins with a blank continues the alias "
				    "above it, and there is none");
				goto fail;
			}
			if (parse_targets(&ld, l.p, l.p + l.len) == -1)
				goto fail;
			continue;
		}
		if (empty_alias(&ld) || parse_alias(&ld, l.p, l.p + l.len) == -1)
			goto fail;
	}
	if (empty_alias(&ld) || build_index(&ld) == -1 || check_loops(&ld) == -1)
		goto fail;
	return ld.a;
fail:
	aliases_free(ld.a);
	return NULL;
}

/* aliases_parse - a table from bytes */
struct aliases *
aliases_parse(const char *name, const char *text, size_t len,
    alias_classify_fn *cls, void *arg, char *err, size_t errlen)
{
	struct table_file f;

	if (table_file_mem(&f, name, text, len, err, errlen) == -1)
		return NULL;
	return parse_file(&f, cls, arg, err, errlen);
}

/* aliases_load - a table from a file */
struct aliases *
aliases_load(const char *path, alias_classify_fn *cls, void *arg, char *err,
    size_t errlen)
{
	struct aliases *a;
	struct table_file f;

	if (table_file_read(&f, path, err, errlen) == -1)
		return NULL;
	a = parse_file(&f, cls, arg, err, errlen);
	table_file_release(&f);
	return a;
}

size_t
aliases_count(const struct aliases *a)
{
	return a != NULL ? a->ne : 0;
}

void
aliases_free(struct aliases *a)
{
	if (a == NULL)
		return;
	free(a->arena);
	free(a->e);
	free(a->t);
	free(a->slots);
	free(a);
}

/* ---- expansion ---- */

/* a small growing map from u32 keys to u32 values (key 0 unused) */
struct u32map {
	uint32_t	*k, *v;
	size_t		 mask, n;
};

static uint32_t *
map_slot(const struct u32map *m, uint32_t key)
{
	size_t i = (key * 2654435761u) & m->mask;

	while (m->k[i] != 0 && m->k[i] != key)
		i = (i + 1) & m->mask;
	return &m->k[i];
}

static uint32_t
map_get(const struct u32map *m, uint32_t key)
{
	uint32_t *s;

	if (m->k == NULL)
		return 0;
	s = map_slot(m, key);
	return *s == key ? m->v[s - m->k] : 0;
}

static int
map_put(struct u32map *m, uint32_t key, uint32_t val)
{
	struct u32map big;
	uint32_t *s;
	size_t i, slots;

	if (m->k == NULL || (m->n + 1) * 2 > m->mask + 1) {
		slots = m->k == NULL ? 64 : (m->mask + 1) * 2;
		big.mask = slots - 1;
		big.n = m->n;
		big.k = calloc(slots, sizeof(*big.k));
		big.v = calloc(slots, sizeof(*big.v));
		if (big.k == NULL || big.v == NULL) {
			free(big.k);
			free(big.v);
			return -1;
		}
		for (i = 0; m->k != NULL && i <= m->mask; i++)
			if (m->k[i] != 0) {
				s = map_slot(&big, m->k[i]);
				*s = m->k[i];
				big.v[s - big.k] = m->v[i];
			}
		free(m->k);
		free(m->v);
		*m = big;
	}
	s = map_slot(m, key);
	if (*s == 0)
		m->n++;
	*s = key;
	m->v[s - m->k] = val;
	return 0;
}

static void
map_free(struct u32map *m)
{
	free(m->k);
	free(m->v);
}

struct expander {
	const struct aliases	*a;
	alias_classify_fn	*cls;
	void			*arg;
	struct alias_result	*res;
	struct u32map		 state;	/* alias + 1 -> 1 entered, 2 done */
	struct u32map		 heads;	/* key hash | 1 -> last target + 1 */
	uint32_t		*keys;	/* arena key of each target */
	uint32_t		*next;	/* earlier target, same hash, + 1 */
	size_t			 visits;
};

/* why: "alias NAME: what (aliases line N)" */
static int
fail(struct expander *x, const char *name, unsigned line, const char *what)
{
	snprintf(x->res->why, sizeof(x->res->why), "alias %s: %s (aliases "
	    "line %u)", name, what, line);
	return -1;
}

/* add a target unless the same address is there already */
static int
emit(struct expander *x, const struct al_target *t, enum alias_kind kind)
{
	struct alias_result *r = x->res;
	const char *key = x->a->arena + t->key;
	uint32_t h = hash_fnv1a(key, t->key_len) | 1, i;
	void *vp;

	for (i = map_get(&x->heads, h); i != 0; i = x->next[i - 1])
		if (strcmp(x->a->arena + x->keys[i - 1], key) == 0)
			return 0;
	if (r->n == ALIAS_TARGETS_MAX) {
		snprintf(r->why, sizeof(r->why), "more than %d targets",
		    ALIAS_TARGETS_MAX);
		return -1;
	}
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;

		if ((vp = reallocarray(r->t, ncap, sizeof(*r->t))) == NULL)
			goto nomem;
		r->t = vp;
		if ((vp = reallocarray(x->keys, ncap, sizeof(*x->keys))) ==
		    NULL)
			goto nomem;
		x->keys = vp;
		if ((vp = reallocarray(x->next, ncap, sizeof(*x->next))) ==
		    NULL)
			goto nomem;
		x->next = vp;
		r->cap = ncap;
	}
	x->keys[r->n] = t->key;
	x->next[r->n] = map_get(&x->heads, h);
	if (map_put(&x->heads, h, (uint32_t)r->n + 1) == -1)
		goto nomem;
	r->t[r->n].kind = kind;
	snprintf(r->t[r->n].addr, sizeof(r->t[r->n].addr), "%s",
	    x->a->arena + t->text);
	r->n++;
	return 0;
nomem:
	snprintf(r->why, sizeof(r->why), "out of memory");
	return -1;
}

static int
expand_alias(struct expander *x, uint32_t ai, int depth)
{
	const struct aliases *a = x->a;
	const struct al_entry *e = &a->e[ai];
	const struct al_target *t;
	const char *name = a->arena + e->key;
	enum alias_domain dk;
	enum alias_kind kind;
	uint32_t st;
	long r;
	size_t k;

	if (depth > ALIAS_DEPTH_MAX)
		return fail(x, name, e->line, "aliases nested more than 16 "
		    "deep");
	if (++x->visits > EXPAND_VISITS_MAX)
		return fail(x, name, e->line, "the expansion enters too many "
		    "aliases");
	if (map_put(&x->state, ai + 1, 1) == -1)
		return fail(x, name, e->line, "out of memory");
	for (k = e->first; k < e->first + e->n; k++) {
		t = &a->t[k];
		dk = classify(a, t, x->cls, x->arg);
		kind = dk == ALIAS_DOM_LOCAL ? ALIAS_T_LOCAL :
		    dk == ALIAS_DOM_ROUTED ? ALIAS_T_ROUTED : ALIAS_T_OUTSIDE;
		if (dk == ALIAS_DOM_OUTSIDE && !e->external)
			return fail(x, name, e->line, "an outside target on a "
			    "line without \"external\"");
		r = resolve(a, t, dk);
		if (r < 0 || (uint32_t)r == ai) {
			if (emit(x, t, kind) == -1)
				return -1;
			continue;
		}
		st = map_get(&x->state, (uint32_t)r + 1);
		if (st == 1)
			x->res->loops++;
		else if (st == 0 &&
		    expand_alias(x, (uint32_t)r, depth + 1) == -1)
			return -1;
	}
	return map_put(&x->state, ai + 1, 2) == -1 ?
	    fail(x, name, e->line, "out of memory") : 0;
}

/* aliases_expand - the targets an address stands for */
enum alias_status
aliases_expand(const struct aliases *a, const char *local,
    const char *domain, alias_classify_fn *cls, void *arg,
    const char *role_mailbox, struct alias_result *res)
{
	struct expander x;
	char key[TABLE_KEY_MAX];
	size_t len, ll = strlen(local);
	long r = -1;
	int catchall = 0, rc;

	alias_result_clear(res);
	if (ll == 0 || (len = table_key(key, local, domain[0] != '\0' ?
	    domain : NULL)) == 0)
		return res->status = ALIAS_NONE;
	/* the classifier sees the domain lowercased, as it is stored */
	if (domain[0] != '\0' && cls(arg, key + ll + 1) == ALIAS_DOM_OUTSIDE)
		return res->status = ALIAS_NONE;
	if (domain[0] == '\0')
		r = find_local(a, key, len);
	else if ((r = find(a, key, len)) < 0 &&
	    (r = find_local(a, key, ll)) < 0) {
		r = find(a, key + ll, len - ll);
		catchall = r >= 0;
	}
	if (r < 0) {
		if (role_mailbox == NULL || !alias_is_role(local))
			return res->status = ALIAS_NONE;
		if ((res->t = calloc(1, sizeof(*res->t))) == NULL) {
			snprintf(res->why, sizeof(res->why), "out of memory");
			return res->status = ALIAS_ERROR;
		}
		res->cap = res->n = 1;
		res->t[0].kind = ALIAS_T_LOCAL;
		snprintf(res->t[0].addr, sizeof(res->t[0].addr), "%s",
		    role_mailbox);
		return res->status = ALIAS_FALLBACK;
	}
	memset(&x, 0, sizeof(x));
	x.a = a;
	x.cls = cls;
	x.arg = arg;
	x.res = res;
	res->line = a->e[r].line;
	rc = expand_alias(&x, (uint32_t)r, 0);
	map_free(&x.state);
	map_free(&x.heads);
	free(x.keys);
	free(x.next);
	if (rc == 0 && res->n == 0)
		rc = fail(&x, a->arena + a->e[r].key, a->e[r].line,
		    "every target leads back into a loop of aliases");
	if (rc == -1) {
		free(res->t);
		res->t = NULL;
		res->n = res->cap = 0;
		return res->status = ALIAS_ERROR;
	}
	return res->status = catchall ? ALIAS_FALLBACK : ALIAS_FOUND;
}

void
alias_result_clear(struct alias_result *res)
{
	free(res->t);
	memset(res, 0, sizeof(*res));
}

/* alias_is_role - the role addresses every domain has (RFC 2142) */
int
alias_is_role(const char *local)
{
	return strcasecmp(local, "postmaster") == 0 ||
	    strcasecmp(local, "abuse") == 0;
}
