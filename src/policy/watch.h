/*
 * watch.h - sliding-window traffic counters per sender (an
 * authenticated user or a relay client address): the signal that an
 * account was taken over and is being used to spam.
 */
#ifndef MOAT_WATCH_H
#define MOAT_WATCH_H

#include <stddef.h>
#include <time.h>

#define WATCH_BUCKETS	60	/* the window is cut into this many slices */
#define WATCH_DOMAINS	4096	/* distinct domains remembered per key */

struct watch;

struct watch_counts {
	int	messages;
	int	rcpts;		/* all recipients */
	int	ext_rcpts;	/* recipients outside our domains */
	int	ext_domains;	/* distinct outside domains */
	int	rejected;	/* recipients refused by remote servers */
};

struct watch *watch_new(int window);
void watch_free(struct watch *w);

/*
 * watch_message - count one message of key at now: nrcpt recipients, of
 * which the ones with ext[i] set go outside, to domains[i].
 */
void watch_message(struct watch *w, const char *key, time_t now, size_t nrcpt,
    const char *const *domains, const int *ext);

/* watch_rejected - n recipients of key were refused by remote servers */
void watch_rejected(struct watch *w, const char *key, time_t now, int n);

/* watch_get - the counts of key over the window ending at now */
void watch_get(struct watch *w, const char *key, time_t now,
    struct watch_counts *out);

/* watch_expire - forget keys idle for a whole window */
void watch_expire(struct watch *w, time_t now);

size_t watch_size(const struct watch *w);

#endif
