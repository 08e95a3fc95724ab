/*
 * event_types.c - the registry of security event types.
 *
 * Public: event_type_find, event_type_at, event_type_count.
 * A type recorded anywhere (smtp_server_event, proto_event_send, the
 * queue's own events) must be listed here, in name order;
 * tests/integration/test_cli_events.py checks the sources against
 * `moat events --types`.
 */
#include <string.h>

#include "event_types.h"

static const struct event_type types[] = {
	{ "account_attack", "AUTH failures for one account from several "
	    "addresses past account_fail_limit: its AUTH is slowed" },
	{ "admin_kill", "an administrator ended sessions (moat sessions "
	    "kill)" },
	{ "admin_log", "an administrator changed a log level (moat log)" },
	{ "admin_passwd", "an administrator set a password (moat user "
	    "passwd)" },
	{ "admin_queue", "an administrator acted on queued mail (moat queue "
	    "delete|hold|release|retry|bounce|requeue, deadletter reinject)" },
	{ "admin_reload", "an administrator reloaded the configuration (moat "
	    "reload)" },
	{ "admin_stop", "an administrator stopped the daemon (moat stop)" },
	{ "auth_fail", "a failed AUTH: wrong password or unknown user "
	    "(failures= counts them per address)" },
	{ "auth_suspended", "AUTH with the right password by a suspended "
	    "user, refused" },
	{ "ban", "an address banned: AUTH failures, harvesting, or moat ban "
	    "add" },
	{ "bounce_without_content", "a bounce or delay notice about an "
	    "outsider's message, sent without the message" },
	{ "console_login", "an administrator logged in to the web console" },
	{ "console_login_fail", "a failed web console login: wrong password, "
	    "unknown login, or past console_login_limit" },
	{ "console_passwd", "an administrator set a web console password "
	    "(moat console passwd)" },
	{ "console_user_del", "an administrator removed a web console login "
	    "(moat console user del)" },
	{ "control_denied", "a caller refused at the control socket" },
	{ "delivery_failed", "a local delivery failed for good" },
	{ "dnsbl", "a client refused: listed on the DNS blocklists "
	    "(dnsbl_threshold)" },
	{ "error_limit", "a session closed after max_errors failed "
	    "commands" },
	{ "guess_ban", "an address that failed AUTH for an account "
	    "held or suspended as compromised, banned" },
	{ "guess_quarantine_end", "a login after guessing no longer held: "
	    "the owner's usual network, no AUTH failure for guess_quiet_time" },
	{ "harvest", "a client guessing recipients (max_unknown_rcpts, "
	    "max_unknown_rcpts_ip)" },
	{ "hold", "a sender's mail held: the compromised-account watch, or "
	    "moat user hold" },
	{ "improper_pipelining", "a client sent commands ahead of the "
	    "replies where RFC 2920 forbids it" },
	{ "ldap_unavailable", "no server of an [ldap] directory answered" },
	{ "limit", "a limit was hit: sessions, sessions per address, idle "
	    "commands, data rate" },
	{ "login_after_guessing", "a login right after a guessing attack "
	    "on the account: its mail is held" },
	{ "lookup_tempfail", "a recipient source could not answer (451 "
	    "4.4.3)" },
	{ "lookup_timeout", "a recipient lookup took longer than "
	    "lookup_timeout (451 4.4.3)" },
	{ "milter_unavailable", "a milter did not answer in time or broke "
	    "the protocol; its default_action applied" },
	{ "own_ip_delisted", "an own address is no longer listed on a DNS "
	    "blacklist (blacklist_watch)" },
	{ "own_ip_listed", "an own address is listed on a DNS blacklist "
	    "(blacklist_watch): alert_command runs" },
	{ "pregreet", "a client spoke before the greeting" },
	{ "proxy_error", "a bad PROXY protocol header from a load "
	    "balancer" },
	{ "proxy_refused", "a connection to a proxy_protocol listener from "
	    "outside proxy_from" },
	{ "queue_pause", "an administrator paused delivery to a destination "
	    "or to all (moat queue pause)" },
	{ "queue_resume", "an administrator resumed delivery (moat queue "
	    "resume)" },
	{ "relay_denied", "a relay attempt refused (554 5.7.1)" },
	{ "sender_mismatch", "an authenticated user gave a sender that is "
	    "not theirs (sender_identity)" },
	{ "session_lifetime", "a session hit session_lifetime" },
	{ "spoofed_sender", "an outsider used a local or routed domain as "
	    "sender (reject_local_spoof)" },
	{ "submit_denied", "a local user outside submit_users tried moat "
	    "sendmail" },
	{ "suspend", "an account suspended: the compromised-account watch, "
	    "or moat user suspend" },
	{ "unban", "a ban lifted (moat ban del)" },
	{ "unsuspend", "a sender active again (moat user unsuspend|"
	    "release)" },
	{ "user_del", "an administrator removed a user from the users file "
	    "(moat user del)" },
	{ "verify_flush", "an administrator emptied the recipient "
	    "verification cache (moat verify flush)" },
	{ "watch_alert", "a sender past a watch threshold, with "
	    "watch_action = alert" },
};
#define NTYPES	(sizeof(types) / sizeof(types[0]))

/* event_type_find - by name; the list is short: a linear search */
const struct event_type *
event_type_find(const char *name)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (strcmp(types[i].name, name) == 0)
			return &types[i];
	return NULL;
}

/* event_type_at - row i, NULL past the end */
const struct event_type *
event_type_at(size_t i)
{
	return i < NTYPES ? &types[i] : NULL;
}

/* event_type_count - the number of rows */
size_t
event_type_count(void)
{
	return NTYPES;
}
