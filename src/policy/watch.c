/*
 * watch.c - per-sender sliding windows of messages, recipients, outside
 * recipients, outside domains and remote rejections.
 *
 * Public: watch_new, watch_free, watch_message, watch_rejected,
 * watch_get, watch_expire, watch_size, watch_key_client,
 * watch_key_sender, watch_key_parse, watch_judge.
 *
 * The window is cut into WATCH_BUCKETS slices; a slice is reused (and
 * cleared) when its time comes round again, so counting costs O(1) and
 * reading costs O(WATCH_BUCKETS). Distinct domains are a small open
 * hash set of (domain hash, last seen); a domain counts while its last
 * sighting is inside the window. The set starts small and doubles as it
 * fills, up to WATCH_DOMAINS: an internal server's hundreds of senders,
 * each a key of its own, mostly write to a few domains.
 *
 * SECURITY: keys and domains come from stored envelopes (already
 * parsed); the table is bounded by watch_expire() and each domain set
 * by WATCH_DOMAINS (past that, new domains count as distinct).
 * LIMITS: WATCH_BUCKETS slices, WATCH_DOMAINS domains per key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/queue.h>

#include "watch.h"

#define WATCH_HASH	1024
#define WATCH_DOMAINS_FIRST 16	/* a new key's domain set */

struct watch_slice {
	time_t	start;		/* slice start; stale when outside the window */
	int	messages, rcpts, ext_rcpts, rejected;
};

struct watch_domain {
	uint64_t	hash;		/* 0: empty */
	time_t		seen;
};

struct watch_key {
	char			*key;
	struct watch_slice	 slice[WATCH_BUCKETS];
	struct watch_domain	*domains;	/* cap slots */
	uint16_t		*used;		/* indexes of slots ever filled */
	size_t			 nused;
	size_t			 cap;		/* a power of two, <= WATCH_DOMAINS */
	int			 overflow;	/* domain set full: extra count */
	time_t			 overflow_seen;
	time_t			 last;
	LIST_ENTRY(watch_key)	 entry;
};
LIST_HEAD(watch_bucket, watch_key);

struct watch {
	int			 window;
	int			 slice_len;
	struct watch_bucket	 b[WATCH_HASH];
	size_t			 n;
};

static uint64_t
hash_str(const char *s, int fold)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)(fold ? tolower((unsigned char)*s) : *s)) *
		    1099511628211ull;
	return h ? h : 1;
}

/* watch_new - counters over a window of seconds */
struct watch *
watch_new(int window)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->window = window > 0 ? window : 3600;
	w->slice_len = (w->window + WATCH_BUCKETS - 1) / WATCH_BUCKETS;
	return w;
}

static void
key_free(struct watch_key *k)
{
	free(k->key);
	free(k->domains);
	free(k->used);
	free(k);
}

void
watch_free(struct watch *w)
{
	struct watch_key *k;

	if (w == NULL)
		return;
	for (size_t i = 0; i < WATCH_HASH; i++)
		while ((k = LIST_FIRST(&w->b[i])) != NULL) {
			LIST_REMOVE(k, entry);
			key_free(k);
		}
	free(w);
}

static struct watch_key *
lookup(struct watch *w, const char *key, int create)
{
	struct watch_bucket *b = &w->b[hash_str(key, 0) % WATCH_HASH];
	struct watch_key *k;

	LIST_FOREACH(k, b, entry)
		if (strcmp(k->key, key) == 0)
			return k;
	if (!create || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if ((k->key = strdup(key)) == NULL) {
		key_free(k);
		return NULL;
	}
	LIST_INSERT_HEAD(b, k, entry);
	w->n++;
	return k;
}

/* the slice for now, cleared when it still holds an older period */
static struct watch_slice *
slice_at(struct watch *w, struct watch_key *k, time_t now)
{
	time_t start = now - now % w->slice_len;
	struct watch_slice *s = &k->slice[(start / w->slice_len) % WATCH_BUCKETS];

	if (s->start != start) {
		memset(s, 0, sizeof(*s));
		s->start = start;
	}
	return s;
}

/* twice the slots (the first ones for a new key), the live domains
 * moved over; -1 (the set unchanged) when memory runs out */
static int
domains_grow(struct watch *w, struct watch_key *k, time_t now)
{
	size_t cap = k->cap ? k->cap * 2 : WATCH_DOMAINS_FIRST, n = 0;
	struct watch_domain *d;
	uint16_t *used;

	if ((d = calloc(cap, sizeof(*d))) == NULL ||
	    (used = calloc(cap, sizeof(*used))) == NULL) {
		free(d);
		return -1;
	}
	for (size_t i = 0; i < k->nused; i++) {
		const struct watch_domain *o = &k->domains[k->used[i]];
		size_t j = o->hash & (cap - 1);

		if (o->seen <= now - w->window)
			continue;
		while (d[j].hash != 0)
			j = (j + 1) & (cap - 1);
		d[j] = *o;
		used[n++] = (uint16_t)j;
	}
	free(k->domains);
	free(k->used);
	k->domains = d;
	k->used = used;
	k->nused = n;
	k->cap = cap;
	return 0;
}

static void
domain_seen(struct watch *w, struct watch_key *k, const char *domain, time_t now)
{
	uint64_t h = hash_str(domain, 1);
	size_t i;

	/* at most half full, so probes stay short, until the cap */
	if (k->nused * 2 >= k->cap && k->cap < WATCH_DOMAINS)
		(void)domains_grow(w, k, now);
	i = h & (k->cap - 1);
	for (size_t probes = 0; probes < k->cap; probes++) {
		struct watch_domain *d = &k->domains[(i + probes) & (k->cap - 1)];

		/* an empty slot, the domain itself, or one gone stale */
		if (d->hash == 0 || d->hash == h || d->seen <= now - w->window) {
			if (d->hash == 0)
				k->used[k->nused++] = (uint16_t)((i + probes) &
				    (k->cap - 1));
			d->hash = h;
			d->seen = now;
			return;
		}
	}
	if (k->overflow_seen <= now - w->window)
		k->overflow = 0;
	k->overflow++;
	k->overflow_seen = now;
}

/* watch_message - count one stored message */
void
watch_message(struct watch *w, const char *key, time_t now, size_t nrcpt,
    const char *const *domains, const int *ext)
{
	struct watch_key *k = lookup(w, key, 1);
	struct watch_slice *s;

	if (k == NULL)
		return;
	k->last = now;
	s = slice_at(w, k, now);
	s->messages++;
	s->rcpts += (int)nrcpt;
	for (size_t i = 0; i < nrcpt; i++)
		if (ext[i]) {
			s->ext_rcpts++;
			domain_seen(w, k, domains[i], now);
		}
}

/* watch_rejected - remote servers refused n recipients of key */
void
watch_rejected(struct watch *w, const char *key, time_t now, int n)
{
	struct watch_key *k = lookup(w, key, 1);

	if (k == NULL)
		return;
	k->last = now;
	slice_at(w, k, now)->rejected += n;
}

/* watch_get - sums over the window */
void
watch_get(struct watch *w, const char *key, time_t now, struct watch_counts *out)
{
	struct watch_key *k = lookup(w, key, 0);

	memset(out, 0, sizeof(*out));
	if (k == NULL)
		return;
	for (size_t i = 0; i < WATCH_BUCKETS; i++) {
		const struct watch_slice *s = &k->slice[i];

		if (s->start <= now - w->window || s->start > now)
			continue;
		out->messages += s->messages;
		out->rcpts += s->rcpts;
		out->ext_rcpts += s->ext_rcpts;
		out->rejected += s->rejected;
	}
	/* only the slots ever filled: reading stays cheap for few domains */
	for (size_t i = 0; i < k->nused; i++)
		if (k->domains[k->used[i]].seen > now - w->window)
			out->ext_domains++;
	if (k->overflow_seen > now - w->window)
		out->ext_domains += k->overflow;
}

/* watch_expire - drop keys idle for a whole window */
void
watch_expire(struct watch *w, time_t now)
{
	for (size_t i = 0; i < WATCH_HASH; i++) {
		struct watch_key *k = LIST_FIRST(&w->b[i]), *next;

		for (; k != NULL; k = next) {
			next = LIST_NEXT(k, entry);
			if (k->last <= now - w->window) {
				LIST_REMOVE(k, entry);
				key_free(k);
				w->n--;
			}
		}
	}
}

size_t
watch_size(const struct watch *w)
{
	return w ? w->n : 0;
}

/* watch_key_client - "ip:ADDRESS" */
int
watch_key_client(char *buf, size_t len, const char *ip)
{
	int n = snprintf(buf, len, "ip:%s", ip);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* watch_sender_fold - ASCII only, as SQLite's lower() the hold
 * compares with: a UTF-8 local part is kept as it came */
int
watch_sender_fold(char *buf, size_t len, const char *sender)
{
	int n = snprintf(buf, len, "%s", sender);

	if (n < 0 || (size_t)n >= len)
		return -1;
	for (char *p = buf; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

/* watch_key_sender - "ip:ADDRESS/SENDER", SENDER folded, <> if "" */
int
watch_key_sender(char *buf, size_t len, const char *ip, const char *sender)
{
	int n = snprintf(buf, len, "ip:%s/", ip);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return watch_sender_fold(buf + n, len - (size_t)n,
	    sender[0] != '\0' ? sender : "<>");
}

/* watch_key_parse - the kind of a key, and an ip: key's parts */
int
watch_key_parse(const char *key, enum watch_key_kind *kind, char *ip,
    size_t iplen, char *sender, size_t senderlen)
{
	const char *a, *slash;
	size_t alen;

	if (strncmp(key, "ip:", 3) != 0) {
		*kind = WATCH_KEY_USER;
		return 0;
	}
	a = key + 3;
	slash = strchr(a, '/');
	alen = slash != NULL ? (size_t)(slash - a) : strlen(a);
	if (alen == 0 || alen >= iplen || strspn(a, "0123456789abcdefABCDEF.:")
	    < alen)
		return -1;
	memcpy(ip, a, alen);
	ip[alen] = '\0';
	if (slash == NULL) {
		*kind = WATCH_KEY_CLIENT;
		return 0;
	}
	if (slash[1] == '\0' || strlen(slash + 1) >= senderlen)
		return -1;
	*kind = WATCH_KEY_SENDER;
	snprintf(sender, senderlen, "%s", strcmp(slash + 1, "<>") == 0 ? "" :
	    slash + 1);
	return 0;
}

/* watch_judge - suspend before hold: the higher level wins */
enum watch_level
watch_judge(const struct watch_limits *l, long factor,
    const struct watch_counts *win, const struct watch_counts *day)
{
	if (win->ext_rcpts >= factor * l->suspend_ext_rcpts ||
	    win->ext_domains >= factor * l->suspend_ext_domains ||
	    day->ext_rcpts >= factor * l->suspend_ext_rcpts_day)
		return WATCH_PAST_SUSPEND;
	if (win->ext_rcpts >= factor * l->hold_ext_rcpts ||
	    win->ext_domains >= factor * l->hold_ext_domains ||
	    day->ext_rcpts >= factor * l->hold_ext_rcpts_day)
		return WATCH_PAST_HOLD;
	return WATCH_BELOW;
}
