/*
 * queue_guess.h - an account after a guessing attack: the login that
 * follows it, and the bans of the addresses that guessed.
 */
#ifndef MOAT_QUEUE_GUESS_H
#define MOAT_QUEUE_GUESS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conf;
struct ipc_peer;
struct queue_db;

#define QUEUE_GUESS_BANS_MAX	4096	/* networks banned per decision */

/* queue_guess_net - ip's network as login_nets keeps it (/24, /64) */
int queue_guess_net(const char *ip, char *net, size_t len);

/*
 * queue_guess_login - user logged in from ip at now. 1 when the login
 * follows a guessing attack within guess_window and comes from an
 * address that failed for the account or from a network it never logged
 * in from, and quarantine_after_guessing is on: why gets the evidence.
 * 0 when not: the network is remembered as the account's. -1 when the
 * database could not tell.
 */
int queue_guess_login(const struct conf *c, struct queue_db *db,
    const char *user, const char *ip, time_t now, char *why, size_t len);

/*
 * queue_guess_usual - user, quarantined by queue_guess_login, logged in
 * from ip at now: 1 when that is the owner's usual pattern again (see
 * queue_guess.c), with the evidence in why and the held mail that came
 * from the account's usual networks made due (*released recipients;
 * *kept stay held); the caller makes the account active. 0 when not
 * (or not quarantined), -1 when the database could not tell.
 */
int queue_guess_usual(const struct conf *c, struct queue_db *db,
    const char *user, const char *ip, time_t now, char *why, size_t len,
    int64_t *released, int64_t *kept);

/*
 * queue_guess_ban - user is held or suspended as compromised: ban each
 * address (or network, guess_ban_aggregate) that failed AUTH for it
 * within guess_window, an event each, and tell smtp (NULL: not). The
 * number of bans, or -1.
 */
int queue_guess_ban(const struct conf *c, struct queue_db *db,
    struct ipc_peer *smtp, const char *user, time_t now);

#endif
