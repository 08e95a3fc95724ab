/*
 * lookup_proc.c - the lookup process: does a recipient of one of our
 * domains exist, and which recipients does it stand for?
 *
 * Public: lookup_proc_prepare, lookup_proc_main, lookup_target_add,
 * lookup_targets_clear, lookup_targets_free.
 *
 * smtp sends PROTO_LOOKUP_RCPT for each RCPT relay_decide gave
 * RELAY_LOOKUP and parks that session; the answer, PROTO_LOOKUP_RESULT,
 * carries the session id and the request's seq back. Tables answer at
 * once, a directory or a probe later: requests in flight do not wait
 * for each other, each is a struct lk_req of its own.
 *
 * Each domain has its list of sources (struct lk_domain), made by
 * rules_sources in the order of the design: aliases (every domain), the
 * mailboxes (the mailboxes knob and mailboxes_file, local domains), the
 * domain's recipient table, its LDAP directory, verification probes
 * (routed domains). The aliases (aliases.c) also name the fallbacks: an
 * alias catch-all "@domain" and the role addresses postmaster@ and
 * abuse@ (into role_mailbox, every domain), which apply only when no
 * source finds the address itself. A routed domain without a source of
 * its own is asked about only for what an alias or a role address could
 * name; its other addresses pass (found, relayed to the route, as
 * relay_decide would have let them).
 *
 * Table files (mailboxes_file, recipient_tables, aliases_file) are
 * struct lk_file, shared by every domain and every configuration that
 * names them and watched: a file that changed (a stat once a second) or
 * a SIGHUP loads it again; a file that no longer loads keeps the table
 * it had and is logged with its file:line. A table that never loaded
 * makes its source answer TEMPFAIL: never accept-all, never
 * reject-all. A load runs on the event loop: lookups wait for it (a
 * million lines: a second or two, well within lookup_timeout).
 *
 * The combination rule is here once, in lk_ask, lk_source_done and
 * lk_answer, for every source alike: the first FOUND wins and the
 * sources after it are not asked; all NOTFOUND is NOTFOUND (or the
 * fallback, or a pass); otherwise (no FOUND, a TEMPFAIL) TEMPFAIL, or
 * a role address's fallback. A source is one function and its state
 * (lookup.h).
 *
 * SECURITY: runs as the moat user, not chrooted (it reads the table
 * files the configuration names). What it is asked comes from the
 * network through smtp: an address addr_parse_path accepted, at most
 * PROTO_ADDR_MAX bytes a field; a malformed message from smtp is fatal
 * (a sibling's bug). Peer strings are escaped where they are logged.
 * LIMITS: LOOKUP_TARGETS_MAX targets an answer, LK_SOURCES_MAX sources
 * a domain.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "../control/control_log.h"
#include "../daemon/config.h"
#include "../daemon/proc.h"
#include "../io/ipc.h"
#include "../io/proto.h"
#include "../lib/log.h"
#include "../policy/relay.h"
#include "../queue/maildir.h"
#include "lookup.h"
#include "lookup_ldap.h"
#include "lookup_proc.h"
#include "aliases.h"
#include "lookup_tables.h"
#include "rcpt_table.h"
#include "verify.h"

#define LK_SOURCES_MAX		8	/* sources of one domain */
#define LK_EVENT_SECS		10	/* one lookup_tempfail per source */
#define LK_WHY_MAX		256
#define LK_WATCH_SECS		1	/* table files are looked at */

/*
 * A table file: loaded once however many domains and configurations
 * name it, loaded again when it changes. Owned by lp->files while a
 * configuration (struct lk_rules) holds a reference.
 */
#define LK_F_ALIASES	0x100		/* lk_file.flags: the aliases file */
struct lk_file {
	char			*path;		/* owned */
	int			 flags;		/* RT_BARE: the mailboxes file,
						 * LK_F_ALIASES */
	struct rcpt_table	*tab;		/* owned; NULL: never loaded */
	struct aliases		*al;		/* LK_F_ALIASES: the same */
	struct stat		 st;		/* of the text last read */
	int			 missing;	/* stat failed, said once */
	int			 refs;
	LIST_ENTRY(lk_file)	 entry;
};
LIST_HEAD(lk_file_list, lk_file);

/* the sources of one domain, in the order they are asked */
struct lk_domain {
	char			*name;		/* owned, lowercased */
	enum lookup_kind	 kind;
	struct lk_file		*table;		/* recipient_tables, a ref */
	int			 pass;		/* what no source knows is
						 * found (routed, no source) */
	struct lookup_source	 src[LK_SOURCES_MAX];
	size_t			 n;
};

struct lookup_proc;

/* the mailboxes: the knob's list and the file */
struct lk_mailboxes {
	struct rcpt_table	*knob;		/* owned */
	struct lk_file		*file;		/* a ref, NULL: none */
};

/*
 * What one configuration makes: the domains and their sources.
 * Reference-counted: a reload makes new rules while requests still
 * wait on the old ones' sources; the last request frees them.
 */
struct lk_rules {
	int			 refs;
	struct lookup_proc	*lp;
	struct conf		*conf;		/* owned */
	struct lk_file		*aliases;	/* a ref, NULL: none */
	struct lk_domain	*dom;		/* owned, sorted by name */
	size_t			 ndom;
	struct lk_domain	 routed_other;	/* routed, no source of its own */
	struct lk_mailboxes	 mbox;
};

/* one RCPT being looked up; owned by lp->reqs until answered */
struct lk_req {
	struct lookup_proc	*lp;
	struct lk_rules		*rules;		/* a reference */
	const struct lk_domain	*dom;		/* in rules */
	uint64_t		 session;
	uint32_t		 seq;
	char			 addr[LOOKUP_ADDR_MAX];
	char			 local[LOOKUP_ADDR_MAX];
	char			 domain[LOOKUP_ADDR_MAX];
	struct lookup_query	 q;
	struct lookup_targets	 targets;
	struct lookup_targets	 fallback;
	int			 fallback_firm;
	size_t			 next;		/* the next source to ask */
	const struct lookup_source *asked;	/* the one asked last */
	int			 pending;	/* asked, no answer yet */
	int			 in_call;	/* inside the source's function */
	int			 found, tempfail;
	char			 why[LK_WHY_MAX];
	TAILQ_ENTRY(lk_req)	 entry;
};
TAILQ_HEAD(lk_req_list, lk_req);

/* the last lookup_tempfail event of one source */
struct lk_event_mark {
	char		 source[32];
	time_t		 at;
};

struct lookup_proc {
	struct event_base	*base;
	struct ipc_peer		*parent, *smtp, *queue;
	struct verifier		*verify;	/* NULL: no recipient_verify */
	struct lk_rules		*rules;		/* a reference: the current */
	struct lk_req_list	 reqs;
	struct lk_event_mark	 marks[LK_SOURCES_MAX * 2];
	struct lk_file_list	 files;
	struct event		*watch;		/* the files, each second */
};

/* lookup_target_add - one more target of a FOUND */
int
lookup_target_add(struct lookup_targets *t, const char *addr,
    const char *mailbox)
{
	struct lookup_target *v;

	if (t->n >= LOOKUP_TARGETS_MAX || strlen(addr) >= sizeof(v->addr) ||
	    strlen(mailbox) >= sizeof(v->mailbox))
		return -1;
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 1;

		if ((v = reallocarray(t->v, ncap, sizeof(*v))) == NULL)
			return -1;
		t->v = v;
		t->cap = ncap;
	}
	snprintf(t->v[t->n].addr, sizeof(t->v[t->n].addr), "%s", addr);
	snprintf(t->v[t->n].mailbox, sizeof(t->v[t->n].mailbox), "%s",
	    mailbox);
	t->n++;
	return 0;
}

/* lookup_targets_clear - no target left, the memory kept */
void
lookup_targets_clear(struct lookup_targets *t)
{
	t->n = 0;
}

/* lookup_targets_free - the memory too */
void
lookup_targets_free(struct lookup_targets *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * The sources. Each answers through done, with the targets it names in
 * q->targets when it finds the recipient.
 */

/*
 * A local delivery's mailbox must be a Maildir name: a table entry
 * whose local part holds other characters cannot be delivered, which
 * the administrator should hear of and the client not be told yet.
 */
static void
found_local(const struct lookup_query *q, const char *mailbox,
    const char *source, lookup_done_fn *done, void *arg)
{
	char esc[4 * LOOKUP_ADDR_MAX];

	if (maildir_check_name(mailbox) == -1) {
		log_err(LOG_CAT_RELAY, "event=lookup_bad_mailbox source=%s "
		    "mailbox=\"%s\" note=\"not usable as a Maildir name: "
		    "letters, digits, . _ - + and one @\"", source,
		    log_escape(esc, sizeof(esc), mailbox, strlen(mailbox)));
		done(arg, LOOKUP_TEMPFAIL, "mailbox name not usable");
	} else if (lookup_target_add(q->targets, q->addr, mailbox) == -1)
		done(arg, LOOKUP_TEMPFAIL, "mailbox name too long");
	else
		done(arg, LOOKUP_FOUND, source);
}

/* the entry of table t for the query: the address, else a bare part */
static const char *
mailbox_find(const struct rcpt_table *t, const struct lookup_query *q)
{
	const char *e = NULL;

	if (q->domain[0] != '\0')
		e = rcpt_table_find(t, q->local, q->domain);
	return e != NULL ? e : rcpt_table_find_bare(t, q->local);
}

/*
 * The mailboxes (the knob, then the file): "user" in every local
 * domain, Maildir "user"; "user@domain" in that one, Maildir
 * "user@domain".
 */
static void
src_mailboxes(void *state, const struct lookup_query *q, lookup_done_fn *done,
    void *arg)
{
	const struct lk_mailboxes *mb = state;
	const char *e;

	if ((e = mailbox_find(mb->knob, q)) == NULL && mb->file != NULL) {
		if (mb->file->tab == NULL) {
			done(arg, LOOKUP_TEMPFAIL, "mailboxes_file not loaded");
			return;
		}
		e = mailbox_find(mb->file->tab, q);
	}
	if (e == NULL)
		done(arg, LOOKUP_NOTFOUND, NULL);
	else
		found_local(q, e, "mailboxes", done, arg);
}

/*
 * A recipient table: an address or the catch-all of its domain. Of a
 * local domain, the Maildir is the entry ("alice@example.org"); of a
 * routed one the address goes to the route as the client wrote it.
 */
static void
src_table(void *state, const struct lookup_query *q, lookup_done_fn *done,
    void *arg)
{
	const struct lk_file *f = state;
	const char *e;

	if (f->tab == NULL)
		done(arg, LOOKUP_TEMPFAIL, "recipient table not loaded");
	else if ((e = rcpt_table_find(f->tab, q->local, q->domain)) == NULL)
		done(arg, LOOKUP_NOTFOUND, NULL);
	else if (q->kind == LOOKUP_KIND_LOCAL)
		found_local(q, e, "table", done, arg);
	else
		done(arg, LOOKUP_FOUND, "table");
}

/* recipient_verify: the route's host is asked (verify.c); state is lp */
static void
src_verify(void *state, const struct lookup_query *q, lookup_done_fn *done,
    void *arg)
{
	struct lookup_proc *lp = state;

	if (lp->verify == NULL)
		done(arg, LOOKUP_TEMPFAIL, "verify: not started");
	else
		verifier_check(lp->verify, q->addr, q->domain, done, arg);
}

struct lk_rules;
static const char *local_mailbox(const struct lk_rules *, const char *,
    const char *, char *, size_t);

/*
 * One target of an alias into out: a bare local part is that local
 * mailbox (the recipient keeps the address the client gave); an
 * address of a local domain goes to the mailbox its sources name; one
 * of a routed or outside domain is relayed. -1 with *why.
 */
static int
alias_target(const struct lk_rules *ru, const struct lookup_query *q,
    const struct alias_target *t, struct lookup_targets *out,
    const char **why)
{
	char box[LOOKUP_ADDR_MAX], local[LOOKUP_ADDR_MAX];
	const char *at = strrchr(t->addr, '@');

	*why = "alias target too long";
	if (t->kind != ALIAS_T_LOCAL)
		return lookup_target_add(out, t->addr, "");
	if (at == NULL) {
		snprintf(box, sizeof(box), "%s", t->addr);
		lower(box);
	} else {
		snprintf(local, sizeof(local), "%.*s", (int)(at - t->addr),
		    t->addr);
		lower(local);
		(void)local_mailbox(ru, local, at + 1, box, sizeof(box));
	}
	if (maildir_check_name(box) == -1) {
		*why = "alias target is no Maildir name";
		return -1;
	}
	return lookup_target_add(out, at == NULL ? q->addr : t->addr, box);
}

/*
 * The aliases (and the role addresses, which need no aliases file): an
 * alias of the address or its local part is FOUND with its targets; a
 * catch-all or a role address's default is a fallback.
 */
static void
src_aliases(void *state, const struct lookup_query *q, lookup_done_fn *done,
    void *arg)
{
	const struct lk_rules *ru = state;
	const struct conf *c = ru->conf;
	const struct aliases *a = ru->aliases != NULL ? ru->aliases->al : NULL;
	struct alias_result res;
	struct lookup_targets *out;
	const char *why = NULL;
	char esc[4 * LOOKUP_ADDR_MAX];
	enum lookup_answer ans;

	memset(&res, 0, sizeof(res));
	switch (aliases_expand(a, q->local, q->domain, lookup_classify,
	    (void *)c, c->role_mailbox[0] != '\0' ? c->role_mailbox : NULL,
	    &res)) {
	case ALIAS_FOUND:
		out = q->targets;
		ans = LOOKUP_FOUND;
		break;
	case ALIAS_FALLBACK:
		out = q->fallback;
		/* the role default (no alias line) holds whatever happens */
		*q->fallback_firm = res.line == 0;
		ans = LOOKUP_NOTFOUND;
		break;
	case ALIAS_ERROR:
		log_warn(LOG_CAT_RELAY, "event=alias_failed to=<%s> why=\"%s\"",
		    log_escape_bare(esc, sizeof(esc), q->addr, strlen(q->addr)),
		    res.why);
		/* FALLTHROUGH */
	default:
		alias_result_clear(&res);
		if (ru->aliases != NULL && a == NULL)
			done(arg, LOOKUP_TEMPFAIL, "aliases_file not loaded");
		else
			done(arg, LOOKUP_NOTFOUND, NULL);
		return;
	}
	for (size_t i = 0; i < res.n; i++)
		if (alias_target(ru, q, &res.t[i], out, &why) == -1) {
			lookup_targets_clear(out);
			ans = LOOKUP_TEMPFAIL;
			break;
		}
	alias_result_clear(&res);
	done(arg, ans, ans == LOOKUP_TEMPFAIL ? why : "alias");
}

/*
 * Table files.
 */

/* 1 when st describes other text than f->st */
static int
file_changed(const struct lk_file *f, const struct stat *st)
{
	return st->st_dev != f->st.st_dev || st->st_ino != f->st.st_ino ||
	    st->st_size != f->st.st_size ||
	    st->st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
	    st->st_mtim.tv_nsec != f->st.st_mtim.tv_nsec ||
	    st->st_ctim.tv_sec != f->st.st_ctim.tv_sec ||
	    st->st_ctim.tv_nsec != f->st.st_ctim.tv_nsec;
}

/*
 * (Re)load f under configuration c: the new table replaces the old one,
 * or, when the file no longer loads, the old one stays and the error is
 * logged with its file:line. -1 when there is no table after all.
 */
static int
file_load(struct lk_file *f, const struct conf *c, const char *why)
{
	char err[CONF_PATH_MAX + 512], esc[4 * sizeof(err)];
	struct rcpt_table *tab = NULL;
	struct aliases *al = NULL;
	int had = f->tab != NULL || f->al != NULL;
	struct stat st;

	/* the stat first: a change while we read is seen at the next look */
	if (stat(f->path, &st) == 0)
		f->st = st;
	if ((f->flags & LK_F_ALIASES) ? (al = lookup_aliases_load(c, f->path,
	    err, sizeof(err))) == NULL : (tab = lookup_table_load(c, f->path,
	    f->flags, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_RELAY, "event=table_failed error=\"%s\" "
		    "action=\"%s\"", log_escape(esc, sizeof(esc), err,
		    strlen(err)), had ? "keeping the table loaded before" :
		    "its domains get 451 until it loads");
		return had ? 0 : -1;
	}
	rcpt_table_free(f->tab);
	aliases_free(f->al);
	f->tab = tab;
	f->al = al;
	f->missing = 0;
	log_notice(LOG_CAT_RELAY, "event=table_loaded path=%s entries=%zu "
	    "why=%s", log_escape(esc, sizeof(esc), f->path, strlen(f->path)),
	    al != NULL ? aliases_count(al) : rcpt_table_count(tab), why);
	return 0;
}

/*
 * The file path (flags), shared, a reference taken: loaded when new,
 * loaded again when reload (a SIGHUP). -1 in *failed when it has no
 * table.
 */
static struct lk_file *
file_get(struct lookup_proc *lp, const struct conf *c, const char *path,
    int flags, int reload, int *failed)
{
	struct lk_file *f;

	LIST_FOREACH(f, &lp->files, entry)
		if (f->flags == flags && strcmp(f->path, path) == 0)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL ||
		    (f->path = strdup(path)) == NULL)
			fatal("%s: calloc", __func__);
		f->flags = flags;
		LIST_INSERT_HEAD(&lp->files, f, entry);
		reload = 1;
	}
	f->refs++;
	if (reload && file_load(f, c, "configuration") == -1)
		*failed = -1;
	return f;
}

static void
file_unref(struct lk_file *f)
{
	if (f == NULL || --f->refs > 0)
		return;
	LIST_REMOVE(f, entry);
	rcpt_table_free(f->tab);
	aliases_free(f->al);
	free(f->path);
	free(f);
}

/* a file changed (or went away): load it again */
static void
watch_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct lookup_proc *lp = arg;
	char esc[4 * CONF_PATH_MAX];
	struct lk_file *f;
	struct stat st;

	LIST_FOREACH(f, &lp->files, entry) {
		if (stat(f->path, &st) == -1) {
			if (!f->missing)
				log_warn(LOG_CAT_RELAY, "event=table_missing "
				    "path=%s error=\"%s\" action=\"keeping "
				    "the table loaded before\"", log_escape(esc,
				    sizeof(esc), f->path, strlen(f->path)),
				    strerror(errno));
			f->missing = 1;
			continue;
		}
		if (file_changed(f, &st))
			(void)file_load(f, lp->rules->conf, "changed");
	}
}

/*
 * The rules of one configuration.
 */

static void
domain_add_source(struct lk_domain *d, const char *name, lookup_source_fn *fn,
    void *state)
{
	if (d->n >= LK_SOURCES_MAX)
		fatalx("%s: more than %d sources for %s", __func__,
		    LK_SOURCES_MAX, d->name);
	d->src[d->n].name = name;
	d->src[d->n].fn = fn;
	d->src[d->n].state = state;
	d->n++;
}

static int
cmp_domain(const void *a, const void *b)
{
	return strcmp(((const struct lk_domain *)a)->name,
	    ((const struct lk_domain *)b)->name);
}

/* the domain named name (lowercased), NULL when it has no entry */
static const struct lk_domain *
rules_domain(const struct lk_rules *ru, const char *name)
{
	struct lk_domain key;

	key.name = (char *)name;
	return ru->ndom == 0 ? NULL : bsearch(&key, ru->dom, ru->ndom,
	    sizeof(*ru->dom), cmp_domain);
}

/* the entry of domain name, made when new */
static struct lk_domain *
rules_domain_get(struct lk_rules *ru, const char *name, enum lookup_kind kind)
{
	struct lk_domain *d;

	for (size_t i = 0; i < ru->ndom; i++)
		if (strcmp(ru->dom[i].name, name) == 0)
			return &ru->dom[i];
	d = &ru->dom[ru->ndom++];
	memset(d, 0, sizeof(*d));
	if ((d->name = strdup(name)) == NULL)
		fatal("%s: strdup", __func__);
	lower(d->name);
	d->kind = kind;
	return d;
}

/*
 * The sources of a domain, in the order they are asked. A source of
 * another module is one more line here: its function and its state.
 */
/* d is one of the recipient_verify domains */
static int
rules_verifies(const struct lk_rules *ru, const struct lk_domain *d)
{
	const struct conf *c = ru->conf;

	for (size_t i = 0; d->name != NULL && i < c->n_recipient_verify; i++)
		if (strcasecmp(c->recipient_verify[i], d->name) == 0)
			return 1;
	return 0;
}

static void
rules_sources(struct lk_rules *ru, struct lk_domain *d)
{
	const char *ldap;

	/* 1. aliases: every domain; the role addresses' fallback too */
	domain_add_source(d, "aliases", src_aliases, ru);
	/* 2. the mailboxes: local domains */
	if (d->kind == LOOKUP_KIND_LOCAL)
		domain_add_source(d, "mailboxes", src_mailboxes, &ru->mbox);
	/* 3. the domain's recipient table */
	if (d->table != NULL)
		domain_add_source(d, "table", src_table, d->table);
	/* 4. the domain's LDAP directory (lookup_ldap.c, ldap_dir.c) */
	if (d->name != NULL &&
	    (ldap = lookup_ldap_section(ru->conf, d->name)) != NULL)
		domain_add_source(d, "ldap", lookup_ldap_src,
		    lookup_ldap_state(ldap));
	/* 5. verification probes: routed domains (verify.c) */
	if (d->kind == LOOKUP_KIND_ROUTED && rules_verifies(ru, d))
		domain_add_source(d, "verify", src_verify, ru->lp);
}

/*
 * The Maildir of local@domain (lowercased) of a local domain, for an
 * alias target: the entry the mailboxes or the domain's table have,
 * else the local part. Returns box.
 */
static const char *
local_mailbox(const struct lk_rules *ru, const char *local,
    const char *domain, char *box, size_t len)
{
	const struct rcpt_table *tabs[3] = { ru->mbox.knob,
	    ru->mbox.file != NULL ? ru->mbox.file->tab : NULL, NULL };
	const struct lk_domain *d = rules_domain(ru, domain);
	const char *e = NULL;

	if (d != NULL && d->table != NULL)
		tabs[2] = d->table->tab;
	for (size_t i = 0; i < 3 && e == NULL; i++)
		e = rcpt_table_find(tabs[i], local, domain);
	for (size_t i = 0; i < 2 && e == NULL; i++)
		e = rcpt_table_find_bare(tabs[i], local);
	snprintf(box, len, "%s", e != NULL ? e : local);
	return box;
}

static void
rules_free(struct lk_rules *ru)
{
	if (ru == NULL)
		return;
	for (size_t i = 0; i < ru->ndom; i++) {
		free(ru->dom[i].name);
		file_unref(ru->dom[i].table);
	}
	free(ru->dom);
	rcpt_table_free(ru->mbox.knob);
	file_unref(ru->mbox.file);
	file_unref(ru->aliases);
	conf_free(ru->conf);
	free(ru);
}

static void
rules_unref(struct lk_rules *ru)
{
	if (ru != NULL && --ru->refs == 0)
		rules_free(ru);
}

/*
 * rules_new - the domains and sources of configuration c (taken, freed
 * with the rules). Its table files are loaded when new to lp, or again
 * when reload; -1 in *failed when one of them has no table (its source
 * answers TEMPFAIL).
 */
static struct lk_rules *
rules_new(struct lookup_proc *lp, struct conf *c, int reload, int *failed)
{
	char err[512];
	struct lk_rules *ru;
	struct lk_domain *d;
	size_t max;

	*failed = 0;
	if ((ru = calloc(1, sizeof(*ru))) == NULL)
		fatal("%s: calloc", __func__);
	ru->refs = 1;
	ru->lp = lp;
	ru->conf = c;
	max = c->n_local_domains + c->n_lookup_domains +
	    c->n_recipient_tables + 1;
	if ((ru->dom = calloc(max, sizeof(*ru->dom))) == NULL)
		fatal("%s: calloc", __func__);
	/* the knob was checked when the configuration was parsed */
	if ((ru->mbox.knob = rcpt_table_from_list(c->mailboxes, c->n_mailboxes,
	    RT_BARE, err, sizeof(err))) == NULL)
		fatalx("%s: mailboxes: %s", __func__, err);
	if (c->mailboxes_file[0] != '\0')
		ru->mbox.file = file_get(lp, c, c->mailboxes_file, RT_BARE,
		    reload, failed);
	if (c->aliases_file[0] != '\0')
		ru->aliases = file_get(lp, c, c->aliases_file, LK_F_ALIASES,
		    reload, failed);
	/* "": a bare <postmaster>, and the local domains */
	(void)rules_domain_get(ru, "", LOOKUP_KIND_LOCAL);
	for (size_t i = 0; i < c->n_local_domains; i++)
		(void)rules_domain_get(ru, c->local_domains[i],
		    LOOKUP_KIND_LOCAL);
	for (size_t i = 0; i < c->n_lookup_domains; i++)
		(void)rules_domain_get(ru, c->lookup_domains[i],
		    LOOKUP_KIND_ROUTED);
	for (size_t i = 0; i < c->n_recipient_tables; i++) {
		char name[256];
		size_t n = strcspn(c->recipient_tables[i], "=");

		snprintf(name, sizeof(name), "%.*s", (int)n,
		    c->recipient_tables[i]);
		lower(name);
		/* local or routed: the configuration made sure */
		d = rules_domain_get(ru, name, LOOKUP_KIND_ROUTED);
		if (d->table == NULL)
			d->table = file_get(lp, c, lookup_table_path(
			    c->recipient_tables[i]), 0, reload, failed);
	}
	for (size_t i = 0; i < ru->ndom; i++)
		rules_sources(ru, &ru->dom[i]);
	qsort(ru->dom, ru->ndom, sizeof(*ru->dom), cmp_domain);
	ru->routed_other.name = NULL;
	ru->routed_other.kind = LOOKUP_KIND_ROUTED;
	ru->routed_other.pass = 1;
	rules_sources(ru, &ru->routed_other);
	return ru;
}

/*
 * The routed domains that take any recipient: the internal server
 * refuses an unknown one only after we accepted it, and we bounce to a
 * sender who may be forged (backscatter). Said at start and reload.
 */
static void
rules_warn(const struct conf *c)
{
	struct relay_table t;

	conf_relay_table(c, &t);
	for (size_t i = 0; i < c->n_routes; i++) {
		char d[256];
		size_t n = strcspn(c->routes[i], "=");

		snprintf(d, sizeof(d), "%.*s", (int)n, c->routes[i]);
		if (d[0] == '.' || relay_is_local_domain(&t, d) ||
		    relay_has_source(&t, d))
			continue;
		log_warn(LOG_CAT_RELAY, "event=routed_without_recipients "
		    "domain=%s note=\"any local part is accepted and relayed; "
		    "the internal server's refusals become bounces to senders "
		    "that may be forged (backscatter): give it "
		    "recipient_tables, recipient_ldap or recipient_verify\"", d);
	}
}

/*
 * The combination rule, for every source alike.
 */

static void lk_ask(struct lk_req *);

/* at most one lookup_tempfail event per source per LK_EVENT_SECS */
static void
lk_tempfail_event(struct lk_req *r, const char *source, const char *why)
{
	struct lookup_proc *lp = r->lp;
	struct lk_event_mark *m = NULL, *oldest = &lp->marks[0];
	time_t now = time(NULL);
	char detail[LK_WHY_MAX + 64], session[17];

	for (size_t i = 0; i < sizeof(lp->marks) / sizeof(lp->marks[0]); i++) {
		if (strcmp(lp->marks[i].source, source) == 0) {
			m = &lp->marks[i];
			break;
		}
		if (lp->marks[i].at < oldest->at)
			oldest = &lp->marks[i];
	}
	if (m != NULL && now - m->at < LK_EVENT_SECS)
		return;
	if (m == NULL) {
		m = oldest;
		snprintf(m->source, sizeof(m->source), "%s", source);
	}
	m->at = now;
	snprintf(detail, sizeof(detail), "source=%s why=%s", source,
	    why != NULL ? why : "-");
	snprintf(session, sizeof(session), "%016llx",
	    (unsigned long long)r->session);
	proto_event_send(lp->queue, "lookup_tempfail", "", "", session, detail);
}

/* a source answered (now, or later from the event loop) */
static void
lk_source_done(void *arg, enum lookup_answer a, const char *why)
{
	struct lk_req *r = arg;

	if (!r->pending)
		fatalx("%s: source %s answered twice", __func__,
		    r->asked != NULL ? r->asked->name : "?");
	r->pending = 0;
	switch (a) {
	case LOOKUP_FOUND:
		r->found = 1;
		snprintf(r->why, sizeof(r->why), "%s", why != NULL ? why :
		    r->asked->name);
		break;
	case LOOKUP_TEMPFAIL:
		r->tempfail = 1;
		snprintf(r->why, sizeof(r->why), "%s", why != NULL ? why :
		    r->asked->name);
		lk_tempfail_event(r, r->asked->name, why);
		/* FALLTHROUGH */
	case LOOKUP_NOTFOUND:
		lookup_targets_clear(&r->targets);
		break;
	}
	if (!r->in_call)
		lk_ask(r);
}

static void
lk_req_free(struct lk_req *r)
{
	TAILQ_REMOVE(&r->lp->reqs, r, entry);
	lookup_targets_free(&r->targets);
	lookup_targets_free(&r->fallback);
	rules_unref(r->rules);
	free(r);
}

/* the answer to smtp; the request is done */
static void
lk_answer(struct lk_req *r)
{
	struct proto_lookup_result a;
	struct proto_lookup_target t;
	struct ipc_msg m;
	char box[2 * LOOKUP_ADDR_MAX], esc[4 * LOOKUP_ADDR_MAX];

	/* nobody found the address itself: its fallback, or it passes */
	if (!r->found && r->fallback.n > 0 && (!r->tempfail ||
	    r->fallback_firm)) {
		struct lookup_targets none = r->targets;

		r->targets = r->fallback;
		r->fallback = none;
		r->found = 1;
		snprintf(r->why, sizeof(r->why), "%s", r->fallback_firm ?
		    "role address" : "alias catch-all");
	} else if (!r->found && !r->tempfail && r->dom->pass) {
		r->found = 1;
		snprintf(r->why, sizeof(r->why), "no recipient source");
	}
	a.seq = r->seq;
	a.answer = r->found ? PROTO_LOOKUP_FOUND : r->tempfail ?
	    PROTO_LOOKUP_TEMPFAIL : PROTO_LOOKUP_NOTFOUND;
	a.why = r->found || r->tempfail ? r->why : "";
	/* a FOUND that named nobody: the address itself */
	if (r->found && r->targets.n == 0) {
		if (r->q.kind == LOOKUP_KIND_ROUTED)
			box[0] = '\0';
		else if (r->domain[0] == '\0')
			snprintf(box, sizeof(box), "%s", r->local);
		else
			snprintf(box, sizeof(box), "%s@%s", r->local, r->domain);
		if (lookup_target_add(&r->targets, r->addr, box) == -1) {
			a.answer = PROTO_LOOKUP_TEMPFAIL;
			a.why = "mailbox name too long";
		}
	}
	a.ntargets = a.answer == PROTO_LOOKUP_FOUND ? (uint32_t)r->targets.n : 0;
	log_debug(LOG_CAT_RELAY, "event=lookup session=%016llx to=<%s> "
	    "answer=%s targets=%u", (unsigned long long)r->session,
	    log_escape_bare(esc, sizeof(esc), r->addr, strlen(r->addr)),
	    a.answer == PROTO_LOOKUP_FOUND ? "found" : a.answer ==
	    PROTO_LOOKUP_NOTFOUND ? "notfound" : "tempfail", a.ntargets);
	proto_lookup_result_enc(&m, r->session, &a);
	for (uint32_t i = 0; i < a.ntargets; i++) {
		t.address = r->targets.v[i].addr;
		t.mailbox = r->targets.v[i].mailbox;
		proto_lookup_target_enc(&m, &t);
	}
	ipc_send(r->lp->smtp, &m);
	lk_req_free(r);
}

/*
 * Ask the next sources until one is waited for (its answer comes back
 * to lk_source_done) or the answer is known: a FOUND, or no source left.
 */
static void
lk_ask(struct lk_req *r)
{
	while (!r->found && r->next < r->dom->n) {
		r->asked = &r->dom->src[r->next++];
		r->pending = 1;
		r->in_call = 1;
		r->asked->fn(r->asked->state, &r->q, lk_source_done, r);
		r->in_call = 0;
		if (r->pending)
			return;
	}
	lk_answer(r);
}

/* PROTO_LOOKUP_RCPT: a new request, answered now or later */
static void
lk_request(struct lookup_proc *lp, uint64_t id, struct ipc_reader *rd)
{
	struct proto_lookup_rcpt q;
	struct lk_req *r;

	if (proto_lookup_rcpt_dec(rd, &q) == -1)
		fatalx("%s: bad LOOKUP_RCPT", __func__);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s: calloc", __func__);
	r->lp = lp;
	r->rules = lp->rules;
	r->rules->refs++;
	r->session = id;
	r->seq = q.seq;
	snprintf(r->addr, sizeof(r->addr), "%s", q.rcpt);
	snprintf(r->local, sizeof(r->local), "%s", q.local);
	snprintf(r->domain, sizeof(r->domain), "%s", q.domain);
	lower(r->local);
	lower(r->domain);
	r->q.addr = r->addr;
	r->q.local = r->local;
	r->q.domain = r->domain;
	r->q.kind = q.kind == PROTO_LOOKUP_ROUTED ? LOOKUP_KIND_ROUTED :
	    LOOKUP_KIND_LOCAL;
	r->q.targets = &r->targets;
	r->q.fallback = &r->fallback;
	r->q.fallback_firm = &r->fallback_firm;
	/* a domain smtp's configuration has and ours not (a reload in
	 * between): a routed one passes as before, a local one has the
	 * mailboxes of every local domain */
	if ((r->dom = rules_domain(r->rules, r->domain)) == NULL ||
	    r->dom->kind != r->q.kind)
		r->dom = r->q.kind == LOOKUP_KIND_ROUTED ?
		    &r->rules->routed_other : rules_domain(r->rules, "");
	TAILQ_INSERT_TAIL(&lp->reqs, r, entry);
	lk_ask(r);
}

/*
 * IPC.
 */

static void
smtp_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	ipc_expect(p, type, PROTO_LOOKUP_RCPT);
	lk_request(arg, id, r);
}

/* the queue's messages: the verification cache's rows and flushes */
static void
queue_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct lookup_proc *lp = arg;
	struct proto_verify_put vp;
	struct proto_verify_flush vf;

	switch (type) {
	case PROTO_VERIFY_PUT:
		if (proto_verify_put_dec(r, &vp) == -1)
			fatalx("%s: bad VERIFY_PUT", __func__);
		if (lp->verify != NULL)
			verifier_cached(lp->verify, &vp);
		break;
	case PROTO_VERIFY_FLUSH:
		if (proto_verify_flush_dec(r, &vf) == -1)
			fatalx("%s: bad VERIFY_FLUSH", __func__);
		if (lp->verify != NULL)
			verifier_flush(lp->verify, vf.address);
		break;
	default:
		fatalx("%s: unexpected message %u from queue", __func__, type);
	}
}

/*
 * The verifier, made the first time a configuration has
 * recipient_verify, then kept (with its cache) for the process's life;
 * a reload gives it the new routes and TTLs.
 */
static void
lk_verifier(struct lookup_proc *lp, const struct conf *c)
{
	char err[512];

	if (lp->verify != NULL) {
		if (verifier_set_conf(lp->verify, c, err, sizeof(err)) == -1)
			log_err(LOG_CAT_RELAY, "event=verify_reload_failed "
			    "error=\"%s\"", err);
		return;
	}
	if (c->n_recipient_verify == 0)
		return;
	/* without it the verify source answers TEMPFAIL: 451, never 550 */
	if ((lp->verify = verifier_new(lp->base, c, lp->queue, err,
	    sizeof(err))) == NULL)
		log_err(LOG_CAT_RELAY, "event=verify_unavailable error=\"%s\"",
		    err);
}

/*
 * PROTO_RELOAD: new rules from the new configuration; requests in
 * flight finish with the old ones.
 */
static void
lk_reload(struct lookup_proc *lp, const uint8_t *text, size_t len,
    const char *path)
{
	char err[1024];
	struct lk_rules *ru;
	struct conf *nc;
	int failed;

	if ((nc = conf_load_bytes(text, len, path, err, sizeof(err))) == NULL) {
		log_err(LOG_CAT_DAEMON, "event=reload_failed error=\"%s\"", err);
		proto_ready_send(lp->parent, PROTO_READY_RELOAD, 0, err);
		return;
	}
	conf_apply_log_levels(nc);
	/* a table that fails keeps what it had (logged by file_load) */
	ru = rules_new(lp, nc, 1, &failed);
	snprintf(err, sizeof(err), "lookup: %d table file%s could not be "
	    "loaded again: the old contents stay", failed, failed == 1 ? "" :
	    "s");
	proto_ready_send(lp->parent, PROTO_READY_RELOAD, failed == 0,
	    failed ? err : NULL);
	lk_verifier(lp, nc);
	rules_unref(lp->rules);
	lp->rules = ru;
	rules_warn(ru->conf);
	lookup_ldap_reload(ru->conf);
	log_notice(LOG_CAT_DAEMON, "event=reloaded path=%s", path);
}

static void
parent_msg_cb(struct ipc_peer *p, uint16_t type, uint64_t id,
    struct ipc_reader *r, void *arg)
{
	struct lookup_proc *lp = arg;
	struct proto_reload rl;

	if (type == PROTO_RELOAD) {
		if (proto_reload_dec(r, &rl) == -1)
			fatalx("%s: bad RELOAD", __func__);
		lk_reload(lp, rl.text, rl.len, rl.path);
		return;
	}
	/* SHUTDOWN, LOG_LEVEL */
	if (!control_child_msg(lp->base, p, type, r))
		fatalx("%s: unexpected message %u from parent", __func__, type);
}

static void
peer_close_cb(struct ipc_peer *p, void *arg)
{
	struct lookup_proc *lp = arg;

	/* smtp goes first in a normal stop; anything else stops us too */
	event_base_loopexit(lp->base, NULL);
}

/* a directory's ldap_unavailable, to the queue's events */
static void
lk_ldap_event(void *arg, const char *type, const char *detail)
{
	struct lookup_proc *lp = arg;

	proto_event_send(lp->queue, type, "", "", "", detail);
}

/* lookup_proc_prepare - the LDAP bind files, read as root */
int
lookup_proc_prepare(struct proc_env *env)
{
	return lookup_ldap_prepare(env->conf);
}

/* lookup_proc_main - answer RCPT lookups until shutdown */
int
lookup_proc_main(struct proc_env *env)
{
	struct timeval tv = { LK_WATCH_SECS, 0 };
	struct lookup_proc lp;
	struct lk_req *r;
	int failed;

	memset(&lp, 0, sizeof(lp));
	lp.base = env->base;
	TAILQ_INIT(&lp.reqs);
	LIST_INIT(&lp.files);
	/* the directories first: the rules' sources point at them */
	if (lookup_ldap_start(lp.base, env->conf, lk_ldap_event, &lp) == -1)
		return 1;
	/* the parent loaded the tables as root: one we cannot read as the
	 * moat user stops the daemon (logged), rather than 451 for ever */
	lp.rules = rules_new(&lp, env->conf, 0, &failed);
	if (failed) {
		rules_unref(lp.rules);
		return 1;
	}
	rules_warn(env->conf);
	if ((lp.watch = event_new(lp.base, -1, EV_PERSIST, watch_cb,
	    &lp)) == NULL || event_add(lp.watch, &tv) == -1)
		fatalx("%s: event_new", __func__);
	lp.parent = ipc_peer_new(lp.base, env->peer[PROC_PARENT], "parent",
	    parent_msg_cb, peer_close_cb, &lp);
	lp.smtp = ipc_peer_new(lp.base, env->peer[PROC_SMTP], "smtp",
	    smtp_msg_cb, peer_close_cb, &lp);
	lp.queue = ipc_peer_new(lp.base, env->peer[PROC_QUEUE], "queue",
	    queue_msg_cb, peer_close_cb, &lp);
	lk_verifier(&lp, env->conf);
	log_info(LOG_CAT_DAEMON, "event=ready domains=%zu",
	    lp.rules->ndom);
	proto_ready_send(lp.parent, PROTO_READY_START, 1, NULL);
	event_base_dispatch(lp.base);
	/* lookups still waiting on a directory get TEMPFAIL, unsent */
	lookup_ldap_stop();
	/* probes under way never call back after this */
	verifier_free(lp.verify);
	while ((r = TAILQ_FIRST(&lp.reqs)) != NULL)
		lk_req_free(r);
	ipc_peer_free(lp.parent);
	ipc_peer_free(lp.smtp);
	ipc_peer_free(lp.queue);
	event_free(lp.watch);
	rules_unref(lp.rules);
	return 0;
}
