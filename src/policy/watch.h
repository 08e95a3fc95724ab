/*
 * watch.h - sliding-window traffic counters per sender (an
 * authenticated user, a relay client address, or one envelope sender
 * of a relay client): the signal that an account was taken over and is
 * being used to spam; the keys that name those senders, and the
 * thresholds that judge their counts.
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

/*
 * Keys. An authenticated user is its name; a relay client (an internal
 * server in relay_networks, no AUTH) is "ip:ADDRESS", and one envelope
 * sender behind it "ip:ADDRESS/SENDER": the first '/' ends the address
 * (an address never holds one), SENDER is the envelope sender with its
 * ASCII letters lowercased, "<>" for the null sender (bounces).
 */
#define WATCH_KEY_MAX	600	/* "ip:" + address + "/" + sender, with room */

enum watch_key_kind {
	WATCH_KEY_USER,		/* an authenticated user */
	WATCH_KEY_CLIENT,	/* ip:ADDRESS: the whole relay client */
	WATCH_KEY_SENDER,	/* ip:ADDRESS/SENDER: one sender behind it */
};

/* watch_sender_fold - sender with its ASCII letters lowercased, as
 * keys hold it ("" stays "": <>); -1 when it does not fit */
int watch_sender_fold(char *buf, size_t len, const char *sender);

/* watch_key_client - "ip:ADDRESS" into buf; -1 when it does not fit */
int watch_key_client(char *buf, size_t len, const char *ip);

/* watch_key_sender - "ip:ADDRESS/SENDER" into buf (sender "" is <>);
 * -1 when it does not fit */
int watch_key_sender(char *buf, size_t len, const char *ip,
    const char *sender);

/*
 * watch_key_parse - the kind of key; for ip: keys the address into ip
 * and (WATCH_KEY_SENDER) the sender as the message table stores it
 * (lowercased, "" for <>) into sender. -1 for an ip: key that is
 * malformed or does not fit.
 */
int watch_key_parse(const char *key, enum watch_key_kind *kind, char *ip,
    size_t iplen, char *sender, size_t senderlen);

/* the thresholds a key is judged by, before its factor */
struct watch_limits {
	int	hold_ext_rcpts, hold_ext_domains, hold_ext_rcpts_day;
	int	suspend_ext_rcpts, suspend_ext_domains, suspend_ext_rcpts_day;
};

enum watch_level {
	WATCH_BELOW,		/* nothing to do */
	WATCH_PAST_HOLD,	/* past a hold_* threshold: watch_action */
	WATCH_PAST_SUSPEND,	/* past a suspend_* threshold */
};

/* watch_judge - where the window (win) and day counts stand against
 * the limits times factor */
enum watch_level watch_judge(const struct watch_limits *l, long factor,
    const struct watch_counts *win, const struct watch_counts *day);

#endif
