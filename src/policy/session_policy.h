/*
 * session_policy.h - the checks an SMTP session makes of its client, as
 * pure functions of the configuration and what the session counted:
 * sender identity, unknown recipients, AUTH failures, the data rate.
 */
#ifndef MOAT_SESSION_POLICY_H
#define MOAT_SESSION_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "../mail/addr.h"

struct conf;
struct relay_table;

/* a policy verdict: go on, refuse, or try again later */
enum pol_verdict {
	POL_OK,
	POL_REJECT,
	POL_TEMPFAIL,
};

/*
 * pol_sender - may this client use sender from? auth_user is the
 * authenticated user, NULL when the client did not authenticate; addr
 * its address (mapped form). An authenticated user may use only the
 * senders it owns (sender_identity: "own" its address, "domain" its
 * domain, "any" every one; a user without '@' owns its name at any
 * local domain); a client with neither AUTH nor relay rights may not
 * claim a local or routed domain when reject_local_spoof is on. The
 * null sender is always allowed. POL_REJECT: refused; which refusal it
 * is follows from auth_user (NULL: spoofing, else not owned).
 */
enum pol_verdict pol_sender(const struct conf *c, const struct relay_table *t,
    const char *auth_user, const uint8_t addr[16], const struct mail_addr *from);

/* what to do with an RCPT refused as an unknown user */
enum pol_unknown {
	POL_UNKNOWN_REPLY,	/* refuse it now */
	POL_UNKNOWN_TARPIT,	/* refuse it after tarpit_ms */
	POL_UNKNOWN_CLOSE,	/* harvesting: 421 and close */
};

/*
 * pol_unknown_rcpt - the session has refused session_count unknown
 * recipients (this one included), its client network ip_count within
 * harvest_window. Past max_unknown_rcpts, or past max_unknown_rcpts_ip,
 * the session ends; past half of max_unknown_rcpts each refusal waits
 * tarpit_ms (when it is not 0).
 */
enum pol_unknown pol_unknown_rcpt(const struct conf *c, int session_count,
    int ip_count);

/*
 * pol_auth_client - failures AUTH failures from one client network
 * within auth_fail_window: POL_REJECT (ban it) from auth_fail_limit on,
 * unless the client is trusted (in relay_networks).
 */
enum pol_verdict pol_auth_client(const struct conf *c, int failures,
    int trusted);

/*
 * pol_ban_seconds - how long a ban lasts for a network banned repeat
 * times before: ban_time, doubled for each earlier ban, at most
 * ban_time_max.
 */
int pol_ban_seconds(const struct conf *c, int repeat);

/*
 * pol_auth_account - failures AUTH failures for one account within
 * auth_fail_window, from distinct client addresses. From
 * account_fail_limit on, when they came from two addresses or more, its
 * failed replies are slowed: returns the extra pause in ms (0: none,
 * at most 60000). *alert is set to 1 exactly when failures reaches the
 * limit (once per attack), else 0.
 */
int pol_auth_account(const struct conf *c, int failures, int distinct,
    int *alert);

/*
 * pol_data_rate - a DATA phase elapsed seconds long has read bytes:
 * POL_REJECT when, after data_rate_grace, it is below min_data_rate
 * bytes a second (0: no minimum).
 */
enum pol_verdict pol_data_rate(const struct conf *c, long elapsed,
    size_t bytes);

#endif
