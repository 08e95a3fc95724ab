/*
 * banlist.c - the dynamic bans: a hash table of networks, one table
 * slot per (prefix length, network address).
 *
 * Public: banlist_new, banlist_free, banlist_add, banlist_del,
 * banlist_clear, banlist_match, banlist_expire, banlist_size.
 *
 * Bans come and go one at a time (a defence bans a client network, an
 * admin adds or lifts one), so unlike the deny list, which is sorted
 * once from the configuration, this table changes in place: adding or
 * lifting a ban costs O(1), never a rebuild of the whole set. A lookup
 * masks the address to each prefix length that has bans (in practice
 * one or two: the configured client networks, /32 and /64) and looks
 * that network up.
 *
 * SECURITY: networks come from the queue process (the bans table) and
 * from smtp's own defences; the address looked up comes from accept().
 * LIMITS: bans are limited only by memory (about 150 bytes each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/hash.h"
#include "banlist.h"

struct ban {
	struct ban		*next;		/* in its bucket */
	struct deny_entry	 e;		/* e.why points at why */
	char			 why[BAN_WHY_MAX];
};

struct banlist {
	struct ban	**b;
	size_t		  nbuckets;	/* a power of two */
	size_t		  n;
	size_t		  per_prefix[129];	/* bans of each length */
};

#define BAN_BUCKETS_MIN	64

static uint32_t
net_hash(const struct cidr *net)
{
	/* FNV-1a over the 16 address bytes, then the prefix as a 17th */
	return (hash_fnv1a(net->addr, 16) ^ (uint32_t)net->prefix) *
	    16777619u;
}

static int
net_equal(const struct cidr *a, const struct cidr *b)
{
	return a->prefix == b->prefix && memcmp(a->addr, b->addr, 16) == 0;
}

/* banlist_new - no bans */
struct banlist *
banlist_new(void)
{
	struct banlist *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->nbuckets = BAN_BUCKETS_MIN;
	if ((b->b = calloc(b->nbuckets, sizeof(*b->b))) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
banlist_clear(struct banlist *b)
{
	for (size_t i = 0; i < b->nbuckets; i++)
		while (b->b[i] != NULL) {
			struct ban *x = b->b[i];

			b->b[i] = x->next;
			free(x);
		}
	b->n = 0;
	memset(b->per_prefix, 0, sizeof(b->per_prefix));
}

void
banlist_free(struct banlist *b)
{
	if (b == NULL)
		return;
	banlist_clear(b);
	free(b->b);
	free(b);
}

/* the slot holding net's ban (or where it would go) */
static struct ban **
slot(const struct banlist *b, const struct cidr *net)
{
	struct ban **p = &b->b[net_hash(net) & (b->nbuckets - 1)];

	while (*p != NULL && !net_equal(&(*p)->e.net, net))
		p = &(*p)->next;
	return p;
}

/* twice the buckets once there are more bans than buckets */
static void
grow(struct banlist *b)
{
	size_t nb = b->nbuckets * 2;
	struct ban **v;

	if (b->n < b->nbuckets || (v = calloc(nb, sizeof(*v))) == NULL)
		return;		/* without memory: longer chains, still right */
	for (size_t i = 0; i < b->nbuckets; i++)
		while (b->b[i] != NULL) {
			struct ban *x = b->b[i];
			size_t j = net_hash(&x->e.net) & (nb - 1);

			b->b[i] = x->next;
			x->next = v[j];
			v[j] = x;
		}
	free(b->b);
	b->b = v;
	b->nbuckets = nb;
}

/* banlist_add - ban one network, or change its ban */
int
banlist_add(struct banlist *b, const struct cidr *net, time_t expires,
    const char *why)
{
	struct ban **p, *x;
	struct cidr n;

	if (net->prefix < 0 || net->prefix > 128)
		return -1;
	cidr_mask(net->addr, net->prefix, &n);	/* host bits never count */
	p = slot(b, &n);
	if ((x = *p) == NULL) {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			return -1;
		x->e.net = n;
		x->e.why = x->why;
		*p = x;
		b->n++;
		b->per_prefix[net->prefix]++;
	}
	x->e.expires = expires;
	snprintf(x->why, sizeof(x->why), "%s", why != NULL ? why : "");
	grow(b);
	return 0;
}

static void
unlink_ban(struct banlist *b, struct ban **p)
{
	struct ban *x = *p;

	*p = x->next;
	b->per_prefix[x->e.net.prefix]--;
	b->n--;
	free(x);
}

/* banlist_del - lift one network's ban */
int
banlist_del(struct banlist *b, const struct cidr *net)
{
	struct ban **p;
	struct cidr n;

	if (net->prefix < 0 || net->prefix > 128)
		return 0;
	cidr_mask(net->addr, net->prefix, &n);
	if (*(p = slot(b, &n)) == NULL)
		return 0;
	unlink_ban(b, p);
	return 1;
}

/* banlist_match - the live ban covering addr, or NULL */
const struct deny_entry *
banlist_match(const struct banlist *b, const uint8_t addr[16], time_t now)
{
	if (b == NULL || b->n == 0)
		return NULL;
	for (int p = 128; p >= 0; p--) {
		struct cidr net;
		struct ban *x;

		if (b->per_prefix[p] == 0)
			continue;
		cidr_mask(addr, p, &net);
		x = *slot(b, &net);
		if (x != NULL && (x->e.expires == 0 || x->e.expires > now))
			return &x->e;
	}
	return NULL;
}

/* banlist_expire - lift the bans whose time is up */
size_t
banlist_expire(struct banlist *b, time_t now)
{
	size_t gone = 0;

	for (size_t i = 0; i < b->nbuckets; i++) {
		struct ban **p = &b->b[i];

		while (*p != NULL) {
			if ((*p)->e.expires != 0 && (*p)->e.expires <= now) {
				unlink_ban(b, p);
				gone++;
			} else
				p = &(*p)->next;
		}
	}
	return gone;
}

size_t
banlist_size(const struct banlist *b)
{
	return b ? b->n : 0;
}
