/*
 * session_policy.c - the checks an SMTP session makes of its client:
 * who may use which sender, what unknown recipients cost, when AUTH
 * failures ban a network or slow an account down, how slow DATA may be.
 *
 * Public: pol_sender, pol_unknown_rcpt, pol_auth_client, pol_ban_seconds,
 * pol_auth_account, pol_data_rate.
 *
 * Each is a pure function of the configuration and of the numbers the
 * session (and its guard windows) counted: no I/O, no logging, no
 * clock. The session logs the verdict, records the event and replies.
 *
 * SECURITY: the sender address and the AUTH user come from the peer;
 * they are compared (ASCII case-insensitive for domains and local
 * parts), never interpreted. The sender must have been parsed by
 * addr_parse_path; the AUTH user is what the auth process accepted.
 * LIMITS: an account's extra pause is at most 60 s; a ban at most
 * ban_time_max.
 */
#include <string.h>
#include <strings.h>

#include "../daemon/config.h"
#include "relay.h"
#include "session_policy.h"

#define POL_ACCOUNT_DELAY_MAX	60000	/* ms */

/* does the authenticated user own this sender address? */
static int
sender_owned(const struct conf *c, const struct relay_table *t,
    const char *user, const struct mail_addr *a)
{
	const char *at = addr_at(user);
	const char *mode = c->sender_identity;

	if (strcmp(mode, "any") == 0 || a->is_null)
		return 1;
	if (at != NULL) {
		/* user "alice@example.org": that address, or its domain */
		if (strcasecmp(a->domain, at + 1) != 0)
			return 0;
		if (strcmp(mode, "domain") == 0)
			return 1;
		return strlen(a->local_plain) == (size_t)(at - user) &&
		    strncasecmp(a->local_plain, user, (size_t)(at - user)) == 0;
	}
	/* user "alice": alice at any local domain (or any local address) */
	if (!relay_is_local_domain(t, a->domain))
		return 0;
	return strcmp(mode, "domain") == 0 || strcasecmp(a->local_plain, user) == 0;
}

/* pol_sender - see session_policy.h */
enum pol_verdict
pol_sender(const struct conf *c, const struct relay_table *t,
    const char *auth_user, const uint8_t addr[16], const struct mail_addr *from)
{
	if (auth_user != NULL)
		return sender_owned(c, t, auth_user, from) ? POL_OK : POL_REJECT;
	/* a routed domain is ours too: its internal server trusts our mail */
	if (c->reject_local_spoof && !from->is_null &&
	    (relay_is_local_domain(t, from->domain) ||
	    relay_is_routed_domain(t, from->domain)) &&
	    !relay_client_trusted(t, addr))
		return POL_REJECT;
	return POL_OK;
}

/* pol_unknown_rcpt - see session_policy.h */
enum pol_unknown
pol_unknown_rcpt(const struct conf *c, int session_count, int ip_count)
{
	if (session_count > c->max_unknown_rcpts ||
	    ip_count > c->max_unknown_rcpts_ip)
		return POL_UNKNOWN_CLOSE;
	if (c->tarpit_ms > 0 && session_count * 2 > c->max_unknown_rcpts)
		return POL_UNKNOWN_TARPIT;
	return POL_UNKNOWN_REPLY;
}

/* pol_auth_client - see session_policy.h */
enum pol_verdict
pol_auth_client(const struct conf *c, int failures, int trusted)
{
	if (failures >= c->auth_fail_limit && !trusted)
		return POL_REJECT;
	return POL_OK;
}

/* pol_ban_seconds - see session_policy.h */
int
pol_ban_seconds(const struct conf *c, int repeat)
{
	int secs = c->ban_time;

	for (int i = 0; i < repeat && secs < c->ban_time_max; i++)
		secs = secs > c->ban_time_max / 2 ? c->ban_time_max : secs * 2;
	if (secs > c->ban_time_max)
		secs = c->ban_time_max;
	return secs;
}

/* pol_auth_account - see session_policy.h */
int
pol_auth_account(const struct conf *c, int failures, int distinct, int *alert)
{
	long ms;

	*alert = 0;
	if (failures < c->account_fail_limit || distinct < 2)
		return 0;
	*alert = failures == c->account_fail_limit;
	ms = (long)(failures - c->account_fail_limit + 1) *
	    c->account_fail_delay_ms;
	return ms > POL_ACCOUNT_DELAY_MAX ? POL_ACCOUNT_DELAY_MAX : (int)ms;
}

/* pol_data_rate - see session_policy.h */
enum pol_verdict
pol_data_rate(const struct conf *c, long elapsed, size_t bytes)
{
	int rate = c->min_data_rate;

	if (rate <= 0 || elapsed < c->data_rate_grace || elapsed <= 0 ||
	    bytes / (size_t)elapsed >= (size_t)rate)
		return POL_OK;
	return POL_REJECT;
}
