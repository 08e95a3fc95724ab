/*
 * config.c - moat.conf: one table of knobs, parsed with inih.
 *
 * Public: conf_load, conf_load_text, conf_load_string, conf_load_bytes, conf_free,
 * conf_print, conf_print_doc, conf_knob_line, conf_relay_table,
 * conf_apply_log_levels, conf_role_name, conf_ldap_find,
 * conf_ldap_knob_line.
 *
 * Every knob of the ten fixed sections ([server] [domains] [relay]
 * [limits] [policy] [watch] [delivery] [control] [submit] [log]) is one row of
 * knobs[], every knob of a "[listener NAME]" section (one per
 * listener) one row of lknobs[], every knob of an "[ldap NAME]" section
 * (a directory for recipient lookups) one row of dknobs[]: name, type, default text, bounds, offset
 * into the struct and a doc line. Defaults are applied by parsing the
 * default text with the code that parses the file, so the table cannot
 * hold a default the parser would refuse; conf_print and conf_print_doc
 * walk the same rows, so nothing can be parsed but not printed.
 *
 * inih, as Debian builds it, passes no line number to the handler and
 * does not report section headers, so the text goes to ini_parse_stream
 * through conf_reader, which counts lines, parses section headers itself
 * and marks continuation lines (an indented line continues the value
 * above it: more items for a list). conf_reader mirrors inih's rules
 * for comments, continuations and headers with the library defaults
 * (multi-line values and ';' inline comments on); nothing here changes
 * inih's global settings. conf_reader also cuts a '#' comment after a
 * value (a '#' after white space), which inih would keep in the value.
 *
 * Durations (CT_DUR, CT_DUR_MS) take units: 30s, 10m, 2h, 7d, 500ms,
 * 1h30m; a plain number is in the knob's own unit (duration.h).
 *
 * SECURITY: the file is written by the administrator, yet nothing in it
 * is ignored: unknown sections and keys, duplicate keys, bad values and
 * numbers out of range are errors. Mailbox names become directory names
 * under mail_dir, so '/', a leading dot and ".." are refused.
 * relay_networks that cover every IPv4 or every global IPv6 address (an
 * open relay) are refused. Values
 * echoed in error messages go through log_escape.
 * LIMITS: a file of at most CONF_FILE_MAX bytes, lines of at most
 * CONF_LINE_MAX bytes (inih's fixed line buffer; a longer line is an
 * error, never split), lists of at most CONF_LIST_MAX items of at most
 * CONF_ITEM_MAX bytes, CONF_MAX_LISTENERS listeners, CONF_MAX_LDAP [ldap]
 * sections.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "../io/proxy_proto.h"
#include "../io/tls.h"
#include "../policy/dnsbl.h"
#include "../control/control_http.h"
#include "config.h"
#include "../lib/duration.h"
#include "../mta/mta_route.h"
#include "../lookup/ldap_filter.h"
#include "../milter/milter_proto.h"

#define CONF_FILE_MAX	(1024 * 1024)
#define CONF_LINE_MAX	(INI_MAX_LINE - 2)	/* bytes, without CR LF */
#define CONF_LIST_MAX	1024
#define CONF_ITEM_MAX	255
#define CONF_WRAP	72		/* conf_print folds lists here */
#define CONF_WHY_MAX	256

enum conf_type {
	CT_STRING,
	CT_PATH,
	CT_HOSTNAME,
	CT_INT,
	CT_SIZE,		/* bytes; suffix k M G: powers of 1024 */
	CT_BOOL,
	CT_LIST,		/* strings; each item normalised by check */
	CT_CIDRS,
	CT_LEVEL,
	CT_ADDR,		/* numeric IPv4/IPv6, stored canonical */
	CT_ROLE,
	CT_NETS,		/* networks in an array of the struct itself */
	CT_PROXY,		/* no | v1 | v2 | any */
	CT_DUR,			/* seconds; units 30s 10m 2h 7d (duration.h) */
	CT_DUR_MS,		/* milliseconds; units 500ms 2s ... */
};

static const char *type_names[] = {
	[CT_STRING] = "string",
	[CT_PATH] = "path",
	[CT_HOSTNAME] = "hostname",
	[CT_INT] = "integer",
	[CT_SIZE] = "size",
	[CT_BOOL] = "boolean",
	[CT_LIST] = "list",
	[CT_CIDRS] = "cidr list",
	[CT_LEVEL] = "log level",
	[CT_ADDR] = "address",
	[CT_ROLE] = "role",
	[CT_NETS] = "cidr list",
	[CT_PROXY] = "no, v1, v2 or any",
	[CT_DUR] = "duration, seconds",
	[CT_DUR_MS] = "duration, milliseconds",
};

#define CF_EMPTY	0x01	/* the empty string is a valid value */
#define CF_SYSHOST	0x02	/* default gethostname(), def if unusable */
#define CF_REQUIRED	0x04	/* no default: must be set */
#define CF_BYROLE	0x08	/* default follows the listener's role */
#define CF_NOCAP	0x10	/* a list without CONF_LIST_MAX (and
				 * without the check for duplicates, which
				 * would be quadratic) */
#define CF_ROUTES	0x20	/* list items are DOMAIN=DEST; an item without
				 * '=' is one more DEST of the item before */

/* one knob; off/size/off_n are into struct conf or struct conf_listener */
struct conf_knob {
	const char	*section;	/* NULL in lknobs[] */
	const char	*name;
	enum conf_type	 type;
	int		 flags;		/* CF_* */
	const char	*def;		/* default as text; NULL: see flags */
	long long	 min, max;	/* CT_INT, CT_SIZE */
	size_t		 off;		/* the member */
	size_t		 size;		/* sizeof the member */
	size_t		 off_n;		/* lists: the size_t item count */
	int		(*check)(char *, const char **);	/* normalise */
	const char	*doc;
};

static int check_domain(char *, const char **);
static int check_mailbox(char *, const char **);
static int check_mailbox_entry(char *, const char **);
static int check_role_mailbox(char *, const char **);
static int check_domain_path(char *, const char **);
static int check_domain_name(char *, const char **);
static int check_user(char *, const char **);
static int check_route(char *, const char **);
static int check_dest(char *, const char **);
static int check_tls_mode(char *, const char **);
static int check_cert_pair(char *, const char **);
static int check_tls_protocol(char *, const char **);
static int check_tls_ciphers(char *, const char **);
static int check_tls_ciphersuites(char *, const char **);
static int check_dns_server(char *, const char **);
static int check_addr_v4(char *, const char **);
static int check_addr_v6(char *, const char **);
static int check_addr_pref(char *, const char **);
static int check_addr_any(char *, const char **);
static int check_blacklist_zone(char *, const char **);
static int check_identity(char *, const char **);
static int check_action(char *, const char **);
static int check_dnsbl_zone(char *, const char **);
static int check_group(char *, const char **);
static int check_submit_user(char *, const char **);
static int check_metrics(char *, const char **);
static int check_console(char *, const char **);
static int check_ldap_uri(char *, const char **);
static int check_ldap_tls(char *, const char **);
static int check_ldap_scope(char *, const char **);
static int check_ldap_filter(char *, const char **);
static int check_dkim_sign(char *, const char **);
static int check_authserv_id(char *, const char **);
static int check_milter_names(char *, const char **);
static int check_milter_socket(char *, const char **);
static int check_milter_action(char *, const char **);

#define CM(m)	offsetof(struct conf, m), sizeof(((struct conf *)0)->m)
#define LM(m)	offsetof(struct conf_listener, m), \
		sizeof(((struct conf_listener *)0)->m)

#define K_STR(sec, m, type, def, flags, check, doc) \
	{ sec, #m, type, flags, def, 0, 0, CM(m), 0, check, doc }
#define K_NUM(sec, m, type, def, lo, hi, doc) \
	{ sec, #m, type, 0, def, lo, hi, CM(m), 0, NULL, doc }
#define K_BOOL(sec, m, def, doc) \
	{ sec, #m, CT_BOOL, 0, def, 0, 1, CM(m), 0, NULL, doc }
#define K_LIST(sec, m, type, def, check, doc) \
	K_LISTF(sec, m, type, def, 0, check, doc)
#define K_LISTF(sec, m, type, def, flags, check, doc) \
	{ sec, #m, type, flags, def, 0, 0, CM(m), offsetof(struct conf, n_##m), \
	  check, doc }
#define K_LOG(cat, name, doc) \
	{ "log", name, CT_LEVEL, 0, "info", 0, 0, CM(log_level[cat]), 0, \
	  NULL, doc }
#define L_KNOB(m, type, flags, def, lo, hi, doc) \
	{ NULL, #m, type, flags, def, lo, hi, LM(m), 0, NULL, doc }
#define L_NETS(m, def, doc) \
	{ NULL, #m, CT_NETS, 0, def, 0, 0, LM(m), \
	  offsetof(struct conf_listener, n_##m), NULL, doc }
#define DM(m)	offsetof(struct conf_ldap, m), \
		sizeof(((struct conf_ldap *)0)->m)
#define D_KNOB(m, type, flags, def, lo, hi, check, doc) \
	{ NULL, #m, type, flags, def, lo, hi, DM(m), 0, check, doc }
#define D_LIST(m, flags, check, doc) \
	{ NULL, #m, CT_LIST, flags, NULL, 0, 0, DM(m), \
	  offsetof(struct conf_ldap, n_##m), check, doc }

/* The fixed sections, grouped by section in the order they print. */
static const struct conf_knob knobs[] = {
	K_STR("server", hostname, CT_HOSTNAME, "localhost", CF_SYSHOST, NULL,
	    "Name in the greeting, the EHLO reply and Received: headers."),
	K_STR("server", user, CT_STRING, "_moat", 0, check_user,
	    "Unprivileged user the daemon runs as when started as root."),
	K_STR("server", spool_dir, CT_PATH, "var/spool", 0, NULL,
	    "Directory of the queue database, the control socket and moat.lock (one daemon per spool); made 0750 for user if missing, refused if set up otherwise."),
	K_STR("server", mail_dir, CT_PATH, "var/mail", 0, NULL,
	    "Maildirs of the local mailboxes: mail_dir/MAILBOX/; made 0750 for user if missing, refused if set up otherwise."),
	K_STR("server", empty_dir, CT_PATH, "var/empty", 0, NULL,
	    "Empty directory the network process is chrooted to; made root 0755 if missing, refused if set up otherwise."),
	K_STR("server", users_file, CT_PATH, "var/users", 0, NULL,
	    "AUTH users with argon2id hashes; must be mode 0600."),
	K_NUM("server", password_min_length, CT_INT, "10", 1, 1024,
	    "Shortest password moat passwd and moat user passwd accept, in bytes."),
	K_STR("server", tls_cert, CT_PATH, "", CF_EMPTY, NULL,
	    "Certificate chain (PEM). Empty: no TLS, no AUTH."),
	K_STR("server", tls_key, CT_PATH, "", CF_EMPTY, NULL,
	    "Private key (PEM) of tls_cert; set both or neither."),
	K_LIST("server", tls_certificates, CT_LIST, "", check_cert_pair,
	    "More certificates as CERT:KEY pairs (PEM files). A client's SNI name picks the pair whose certificate names it (subjectAltName, else CN; *.domain matches one label); tls_cert is the default. Two pairs for the same names with an RSA and an ECDSA key are offered together: the client's signature algorithms pick."),
	K_LIST("server", tls_protocols, CT_LIST, "TLSv1.2 TLSv1.3",
	    check_tls_protocol,
	    "TLS versions the server accepts: TLSv1.2, TLSv1.3 or both."),
	K_STR("server", tls_ciphers, CT_STRING,
	    "HIGH:!aNULL:!kRSA:!PSK:!SRP:!CAMELLIA:!ARIA", 0, check_tls_ciphers,
	    "TLS 1.2 cipher list (OpenSSL syntax); RSA key exchange and anonymous suites are always off."),
	K_STR("server", tls_ciphersuites, CT_STRING,
	    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
	    0, check_tls_ciphersuites, "TLS 1.3 cipher suites (OpenSSL syntax)."),
	K_NUM("server", tls_ticket_lifetime, CT_DUR, "43200", 0, 604800,
	    "Seconds a session-ticket key encrypts new tickets before a fresh random one replaces it; the previous key still decrypts, so a ticket resumes for up to twice this. 0: no tickets. Keys live in memory only and survive reloads."),
	K_BOOL("server", syslog, "no",
	    "Log to syslog (facility mail) instead of stderr."),
	K_BOOL("server", relaytest_on_start, "no",
	    "Run the relay battery against each mx listener at start; refuse to run if it relays or has no verdict."),

	K_LIST("domains", local_domains, CT_LIST, "localhost", check_domain,
	    "Domains delivered here; mail for any other domain is relayed."),
	K_LISTF("domains", mailboxes, CT_LIST, "postmaster", CF_NOCAP,
	    check_mailbox_entry,
	    "Local mailboxes: a local part (in every local domain, Maildir mail_dir/USER) or user@domain (that local domain only, Maildir mail_dir/user@domain); no limit on their number."),
	K_STR("domains", mailboxes_file, CT_PATH, "", CF_EMPTY, NULL,
	    "More mailboxes, one a line as in mailboxes ('#' comments); reloaded on SIGHUP and when it changes."),
	K_STR("domains", aliases_file, CT_PATH, "", CF_EMPTY, NULL,
	    "Aliases, NAME: target, target, ... a line (see moat.conf.example); reloaded on SIGHUP and when it changes."),
	K_STR("domains", role_mailbox, CT_STRING, "postmaster", CF_EMPTY,
	    check_role_mailbox,
	    "Local mailbox of postmaster@ and abuse@ of every domain, local or routed, unless an alias or a recipient source names them; empty: only what a source names (RFC 5321 wants a postmaster)."),
	K_LIST("domains", recipient_tables, CT_LIST, "", check_domain_path,
	    "DOMAIN=PATH: the file of the valid addresses of a local or routed domain (local@domain or @domain a line); one file may serve several domains; reloaded on SIGHUP and when it changes."),
	K_LIST("domains", recipient_ldap, CT_LIST, "", check_domain_name,
	    "DOMAIN=LDAPNAME: the [ldap LDAPNAME] directory that knows the recipients of a local or routed domain."),
	K_LIST("domains", recipient_verify, CT_LIST, "", check_domain,
	    "Routed domains whose recipients are checked with the route's host at RCPT (MAIL FROM:<>, RCPT TO:, never DATA)."),
	K_NUM("domains", verify_cache_positive, CT_DUR, "604800", 0, 31536000,
	    "Seconds a recipient the route's host accepted is remembered."),
	K_NUM("domains", verify_cache_negative, CT_DUR, "10800", 0, 31536000,
	    "Seconds a recipient the route's host refused is remembered."),
	K_NUM("domains", lookup_timeout, CT_DUR, "10", 1, 300,
	    "Seconds a RCPT waits for the recipient lookup before 451 4.4.3."),

	K_LIST("relay", relay_networks, CT_CIDRS, "", NULL,
	    "Client networks that may relay without AUTH; none may cover every IPv4 or global IPv6 address."),

	K_NUM("limits", max_message_size, CT_SIZE, "10M", 1024, 1LL << 30,
	    "Largest message accepted, advertised with SIZE."),
	K_NUM("limits", max_recipients, CT_INT, "100", 100, 10000,
	    "RCPT commands accepted per message (RFC 5321: at least 100)."),
	K_NUM("limits", max_sessions, CT_INT, "1000", 1, 100000,
	    "Concurrent SMTP sessions."),
	K_NUM("limits", max_sessions_per_ip, CT_INT, "20", 1, 100000,
	    "Concurrent SMTP sessions from one client address."),
	K_NUM("limits", max_errors, CT_INT, "20", 1, 1000,
	    "Failed commands in a session before 421 and close."),
	K_NUM("limits", timeout_command, CT_DUR, "300", 1, 3600,
	    "Seconds to wait for a command (RFC 5321 4.5.3.2)."),
	K_NUM("limits", timeout_data, CT_DUR, "180", 1, 3600,
	    "Seconds to wait between blocks of DATA."),
	K_NUM("limits", auth_fail_delay_ms, CT_DUR_MS, "1000", 0, 60000,
	    "Milliseconds before the reply to every failed AUTH."),
	K_NUM("limits", max_received_headers, CT_INT, "50", 1, 1000,
	    "Received: headers above which a message is a loop."),

	K_LIST("policy", deny_networks, CT_CIDRS, "", NULL,
	    "Networks refused at connect, before any byte is read."),
	K_LIST("policy", dnsbl_zones, CT_LIST, "", check_dnsbl_zone,
	    "DNS blocklists to ask about clients, each ZONE or ZONE*WEIGHT (empty: off)."),
	K_NUM("policy", dnsbl_threshold, CT_INT, "1", 1, 1000,
	    "Total weight of the listing zones at which a client is refused."),
	K_NUM("policy", events_retention, CT_DUR, "2592000", 3600, 315360000,
	    "Seconds a security event is kept in the events table."),
	K_NUM("policy", events_max, CT_INT, "1000000", 1000, 100000000,
	    "Rows the events table keeps at most; the oldest go first."),
	K_STR("policy", sender_identity, CT_STRING, "own", 0, check_identity,
	    "Envelope senders an authenticated user may use: own, domain or any."),
	K_BOOL("policy", reject_local_spoof, "yes",
	    "Refuse local- and routed-domain senders from clients without AUTH or relay rights."),
	K_BOOL("policy", reverse_dns, "yes",
	    "Look up each client's reverse DNS name (shown by moat sessions)."),
	K_NUM("policy", auth_fail_limit, CT_INT, "5", 1, 1000,
	    "AUTH failures from one address within auth_fail_window that ban it."),
	K_NUM("policy", auth_fail_window, CT_DUR, "600", 1, 86400,
	    "Seconds over which AUTH failures are counted."),
	K_NUM("policy", ban_time, CT_DUR, "3600", 1, 31536000,
	    "Seconds of a first ban; each repeat offence doubles it."),
	K_NUM("policy", ban_time_max, CT_DUR, "604800", 1, 31536000,
	    "Longest ban in seconds, however often an address offends."),
	K_NUM("policy", client_prefix_v4, CT_INT, "32", 16, 32,
	    "IPv4 clients are counted (AUTH failures, unknown recipients, sessions) and banned per network of this prefix length."),
	K_NUM("policy", client_prefix_v6, CT_INT, "64", 32, 128,
	    "IPv6 clients are counted and banned per network of this prefix length: a host has a whole /64 to rotate through."),
	K_NUM("policy", account_fail_limit, CT_INT, "10", 1, 1000,
	    "AUTH failures for one account within auth_fail_window, from several addresses, that raise an alert and slow its AUTH."),
	K_NUM("policy", account_fail_delay_ms, CT_DUR_MS, "2000", 0, 60000,
	    "Extra AUTH delay per failure over account_fail_limit, in milliseconds."),
	K_NUM("policy", session_lifetime, CT_DUR, "600", 2, 86400,
	    "Seconds a session may last in all; hitting it is an alert. A relay_networks client in DATA finishes its message first."),
	K_NUM("policy", max_idle_commands, CT_INT, "20", 1, 10000,
	    "NOOP, RSET, VRFY, HELP and the like in a row without a transaction before 421."),
	K_NUM("policy", max_unknown_rcpts, CT_INT, "5", 1, 1000,
	    "Unknown local recipients in one session before 421 (directory harvesting)."),
	K_NUM("policy", max_unknown_rcpts_ip, CT_INT, "20", 1, 100000,
	    "Unknown local recipients from one address within harvest_window before it is refused."),
	K_NUM("policy", harvest_window, CT_DUR, "3600", 1, 86400,
	    "Seconds over which unknown recipients per address are counted."),
	K_NUM("policy", tarpit_ms, CT_DUR_MS, "1000", 0, 60000,
	    "Delay before replies to a client that looks like a harvester, in ms."),
	K_NUM("policy", min_data_rate, CT_INT, "256", 0, 100000000,
	    "Bytes per second a client must keep up during DATA after data_rate_grace (0: off)."),
	K_NUM("policy", data_rate_grace, CT_DUR, "30", 1, 3600,
	    "Seconds of DATA before min_data_rate is enforced."),

	K_STR("watch", watch_action, CT_STRING, "hold", 0, check_action,
	    "What the hold_* thresholds do: alert, hold or suspend."),
	K_STR("watch", alert_command, CT_PATH, "", CF_EMPTY, NULL,
	    "Command run for every alert, with MOAT_EVENT, MOAT_USER, MOAT_CLIENT, MOAT_SENDER (a relay client's envelope sender) and MOAT_DETAIL set."),
	K_NUM("watch", watch_window, CT_DUR, "3600", 60, 86400,
	    "Seconds over which each sender's traffic is counted."),
	K_NUM("watch", hold_external_rcpts, CT_INT, "200", 1, 10000000,
	    "Outside recipients per window from one sender that trigger watch_action."),
	K_NUM("watch", hold_external_domains, CT_INT, "100", 1, 10000000,
	    "Distinct outside domains per window from one sender that trigger watch_action."),
	K_NUM("watch", suspend_external_rcpts, CT_INT, "1000", 1, 10000000,
	    "Outside recipients per window that suspend the account (relay clients: held)."),
	K_NUM("watch", suspend_external_domains, CT_INT, "300", 1, 10000000,
	    "Distinct outside domains per window that suspend the account."),
	K_NUM("watch", hold_external_rcpts_day, CT_INT, "1000", 1, 100000000,
	    "Outside recipients per day (the last 24 hours) from one sender that trigger watch_action: a sender kept just under the hourly threshold."),
	K_NUM("watch", suspend_external_rcpts_day, CT_INT, "5000", 1, 100000000,
	    "Outside recipients per day that suspend the account (relay clients: held)."),
	K_NUM("watch", relay_client_factor, CT_INT, "25", 1, 10000,
	    "A relay client address without AUTH (an internal server, many users' mail): its thresholds are the hold_* and suspend_* values times this, a backstop over all its senders."),
	K_BOOL("watch", relay_sender_watch, "yes",
	    "Also count a relay client's mail per envelope sender (key ip:ADDRESS/SENDER): one taken-over mailbox behind an internal server is held alone."),
	K_NUM("watch", relay_sender_factor, CT_INT, "1", 1, 10000,
	    "The thresholds of one envelope sender behind a relay client are the hold_* and suspend_* values times this."),
	K_NUM("watch", rejected_alert, CT_INT, "50", 1, 10000000,
	    "Recipients refused by remote servers per window that raise an alert."),
	K_BOOL("watch", quarantine_after_guessing, "yes",
	    "Hold an account's mail from its first message when it logs in after a distributed guessing attack (account_attack, or failures from several addresses within guess_window) from an address that failed for it or from a network it never logged in from; an admin releases it (moat user unsuspend)."),
	K_NUM("watch", guess_quiet_time, CT_DUR, "86400", 1, 2592000,
	    "A login held by quarantine_after_guessing is the owner's again (new mail no longer held; event guess_quarantine_end) when the account logs in from a network it used before the attack and has had no AUTH failure for this many seconds."),
	K_NUM("watch", guess_window, CT_DUR, "86400", 600, 2592000,
	    "Seconds a guessing attack on an account is remembered: for quarantine_after_guessing, and for the addresses banned when the account is held or suspended."),
	K_BOOL("watch", guess_ban_aggregate, "no",
	    "Ban the networks of the addresses that guessed at a held or suspended account (/24 for IPv4, /64 for IPv6) rather than each address."),

	{ "delivery", "routes", CT_LIST, CF_ROUTES, "", 0, 0, CM(routes),
	  offsetof(struct conf, n_routes), check_route,
	  "Static routes DOMAIN=DEST[,DEST...], each DEST [host]:port, host:port (MX of host), lmtp:[host]:port or lmtp:unix:/path, optional /none, /opportunistic or /verify, tried in order when one does not answer; .DOMAIN for subdomains; a domain routed twice is an error." },
	K_STR("delivery", smarthost, CT_STRING, "", CF_EMPTY, check_dest,
	    "Relay everything without a route through this [host]:port (or DEST[,DEST...], tried in order); empty: MX lookup."),
	K_STR("delivery", smarthost_auth_file, CT_PATH, "", CF_EMPTY, NULL,
	    "Credentials for AUTH to the smarthost (user:password, or host user:password a line), sent only over TLS; must be mode 0600."),
	K_BOOL("delivery", smarthost_tls_verify, "yes",
	    "A peer that gets smarthost_auth_file credentials must present a certificate that chains to the CA store and names it; no: any certificate (check-config warns)."),
	K_STR("delivery", tls_ca_file, CT_PATH, "", CF_EMPTY, NULL,
	    "CA certificates (PEM) that verify outbound TLS peers; empty: the system CA store."),
	K_STR("delivery", tls, CT_STRING, "opportunistic", 0, check_tls_mode,
	    "Outbound STARTTLS: none, opportunistic (when offered) or verify (required, certificate checked)."),
	K_STR("delivery", dns_server, CT_STRING, "", CF_EMPTY, check_dns_server,
	    "Resolver ADDR or ADDR@PORT for MX and address lookups; empty: /etc/resolv.conf."),
	K_STR("delivery", source_address_v4, CT_STRING, "", CF_EMPTY,
	    check_addr_v4,
	    "Local IPv4 address outbound connections come from; empty: the system's choice."),
	K_STR("delivery", source_address_v6, CT_STRING, "", CF_EMPTY,
	    check_addr_v6,
	    "Local IPv6 address outbound connections come from; empty: the system's choice."),
	K_BOOL("delivery", blacklist_watch, "yes",
	    "Check moat's own public addresses against blacklist_zones every blacklist_interval: a listing is an event (own_ip_listed), an alert_command run and the metric moat_dnsbl_listed; moat status shows it. Queries go to dns_server (Spamhaus refuses queries from public resolvers: use a resolver of your own)."),
	K_LIST("delivery", blacklist_addresses, CT_LIST, "", check_addr_any,
	    "Own addresses to check, IPv4 or IPv6; empty: the addresses outbound connections use (source_address_v4/_v6, else the kernel's choice for a route to a public address, skipped when it is private, loopback or otherwise not global)."),
	K_LIST("delivery", blacklist_zones, CT_LIST,
	    "zen.spamhaus.org, bl.spamcop.net, b.barracudacentral.org, psbl.surriel.com",
	    check_blacklist_zone,
	    "DNS blacklists the own addresses are looked up in (an A record in 127.0.0.0/8 is a listing, its TXT the reason; Spamhaus's 127.255.255.x refusals count as errors)."),
	K_NUM("delivery", blacklist_interval, CT_DUR, "3600", 1, 604800,
	    "Seconds between two checks of the own addresses; the first runs at start."),
	K_STR("delivery", address_preference, CT_STRING, "any", 0,
	    check_addr_pref,
	    "Order of a mail host's addresses: any (IPv4, then IPv6, as DNS gives them), ipv4 or ipv6 (that family first, the other after)."),
	K_STR("delivery", tls_client_cert, CT_PATH, "", CF_EMPTY, NULL,
	    "Certificate chain (PEM) presented when an outbound TLS peer asks for one (Microsoft 365 inbound connectors); empty: none."),
	K_STR("delivery", tls_client_key, CT_PATH, "", CF_EMPTY, NULL,
	    "Private key (PEM) of tls_client_cert, read as root at start; set both or neither."),
	K_NUM("delivery", retry_min, CT_DUR, "300", 1, 86400,
	    "Seconds before the first retry of a deferred recipient; doubles each time."),
	K_NUM("delivery", retry_max, CT_DUR, "14400", 1, 604800,
	    "Longest delay between two retries, in seconds."),
	K_NUM("delivery", max_lifetime, CT_DUR, "432000", 1, 2592000,
	    "Seconds a message may stay in the queue before it bounces."),
	K_NUM("delivery", delay_notice, CT_DUR, "14400", 0, 2592000,
	    "Seconds a recipient may be deferred before the sender gets one delay notice (DSN); 0: never."),
	K_NUM("delivery", deadletter_expire, CT_DUR, "2592000", 60, 31536000,
	    "Seconds a dead letter (an undeliverable bounce) is kept."),
	K_NUM("delivery", max_connections, CT_INT, "100", 1, 10000,
	    "Outbound SMTP connections in all."),
	K_NUM("delivery", max_connections_per_dest, CT_INT, "20", 1, 10000,
	    "Outbound SMTP connections to one destination (domain or route); at most three quarters of max_connections when that is more than 1."),
	K_NUM("delivery", max_messages_per_connection, CT_INT, "100", 1, 100000,
	    "Messages sent over one outbound connection before it is closed."),
	K_NUM("delivery", timeout_connect, CT_DUR, "30", 1, 600,
	    "Seconds to wait for an outbound connection."),
	K_NUM("delivery", timeout_client, CT_DUR, "300", 1, 3600,
	    "Seconds to wait for each reply of a peer (the end of data: twice that)."),
	K_NUM("delivery", test_smtp_port, CT_INT, "25", 1, 65535,
	    "TEST ONLY: port of MX and address hosts instead of 25."),

	K_LIST("dkim", dkim_sign, CT_LIST, "", check_dkim_sign,
	    "DKIM keys DOMAIN:SELECTOR:KEYFILE (PEM, RSA of 1024 bits or more or Ed25519, mode 0600, made by moat dkim keygen): mail from authenticated users, relay clients and local submission whose From domain is DOMAIN gets one signature per key of that domain (an RSA and an Ed25519 selector: two). Empty: no signing."),
	K_NUM("dkim", dkim_expire, CT_DUR, "0", 0, 31536000,
	    "Seconds a DKIM signature stays valid (its x= tag); 0: no x=."),

	K_STR("authentication", authserv_id, CT_STRING, "", CF_EMPTY,
	    check_authserv_id,
	    "The authserv-id of the Authentication-Results field written on mx listeners (RFC 8601); any field of a message that claims it is removed first. Empty: hostname."),
	K_BOOL("authentication", dkim_verify, "yes",
	    "Verify the DKIM signatures of mail from outside on mx listeners (keys looked up with dns_server) and report them in the Authentication-Results field."),
	K_BOOL("authentication", spf_check, "yes",
	    "Check SPF (RFC 7208) for mail from outside on mx listeners: the MAIL FROM domain (the HELO name for the null sender) with the client's address, from MAIL FROM on, with dns_server; the result goes into the Authentication-Results field (spf=... smtp.mailfrom=...). Never refuses mail by itself."),
	K_BOOL("authentication", dmarc_check, "yes",
	    "Evaluate DMARC (RFC 7489) for mail from outside on mx listeners: the policy of the From domain (_dmarc.DOMAIN, else of its organizational domain by Debian's public suffix list) against the aligned SPF and DKIM results; dmarc=... header.from=... in the Authentication-Results field. Needs spf_check and dkim_verify for a pass by either."),
	K_BOOL("authentication", dmarc_reject, "no",
	    "Refuse at the dot with 550 5.7.1 the mail that fails DMARC whose domain publishes p=reject (its pct= applied). No: such mail is delivered, marked dmarc=fail."),
	K_BOOL("authentication", dmarc_quarantine, "yes",
	    "Store held (moat queue list --state held; release or delete by hand) the mail that fails DMARC whose domain publishes p=quarantine (its pct= applied). No: delivered with dmarc=fail. (p=reject failures: dmarc_reject.)"),

	K_STR("control", admin_group, CT_STRING, "", CF_EMPTY, check_group,
	    "Group whose members may use the control socket besides root; empty: root only. Never the user's own group."),
	K_STR("control", metrics_listen, CT_STRING, "", CF_EMPTY, check_metrics,
	    "Prometheus metrics on ADDR:PORT (a port over 1023: the control process has no privileges); empty: off. An address other than loopback needs metrics_allow."),
	K_LIST("control", metrics_allow, CT_CIDRS, "", NULL,
	    "Networks that may scrape /metrics (others get 403); empty: anyone who can reach metrics_listen, which must then be loopback."),
	K_NUM("control", login_metrics_max, CT_INT, "100", 0, 100000,
	    "Per-login series in /metrics and moat stats (moat_login_*: messages, recipients, AUTH failures per user and per relay client) at most; beyond it they count under login=\"other\" or client=\"other\"; 0: none. AUTH failures for a name that never logged in count under login=\"unknown\"."),

	K_STR("console", console_listen, CT_STRING, "", CF_EMPTY, check_console,
	    "The web console on ADDR:PORT (a port over 1023), e.g. 127.0.0.1:8025; empty: off. Plain HTTP: only a loopback address is accepted (reach it over an SSH tunnel); any other address needs console_tls_cert and console_tls_key."),
	K_STR("console", console_tls_cert, CT_PATH, "", CF_EMPTY, NULL,
	    "PEM certificate chain of the console (leaf first); set with console_tls_key, the console speaks only HTTPS. Its own pair, not the SMTP one."),
	K_STR("console", console_tls_key, CT_PATH, "", CF_EMPTY, NULL,
	    "PEM private key of console_tls_cert: read as root at start by the ca process, which signs the console's handshakes; the control process never has it."),
	K_STR("console", console_client_ca, CT_PATH, "", CF_EMPTY, NULL,
	    "PEM CA certificates: a client certificate they signed whose subject CN (or emailAddress) is a login of console_users logs in without a password; a certificate they did not sign is refused in the handshake. Empty: password logins only. Needs console_tls_cert."),
	K_STR("console", console_users, CT_PATH, "var/console_users", 0, NULL,
	    "The console's logins (moat console passwd NAME): NAME:argon2id hash lines, mode 0600, written by the daemon; separate from users_file."),
	K_NUM("console", console_idle, CT_DUR, "1800", 60, 86400,
	    "A console login ends after this long without a request."),
	K_NUM("console", console_login_limit, CT_INT, "5", 1, 1000,
	    "Failed console logins per client address in 15 minutes; the next is refused without a password check until the window passes."),

	K_STR("submit", submit_socket, CT_PATH, "", CF_EMPTY, NULL,
	    "UNIX socket of local submission (moat sendmail, mailq), e.g. /run/moat/submit.sock; made mode 0666 by the parent, its directory 0755 if missing; empty: off."),
	K_LIST("submit", submit_users, CT_LIST, "*", check_submit_user,
	    "Local users who may submit with moat sendmail: login names, %GROUP for a group's members, * for everyone."),
	K_NUM("submit", submit_max_sessions, CT_INT, "20", 1, 10000,
	    "Concurrent local submission sessions of one local user (uid): one user cannot use up the others' share; max_sessions bounds them all."),

	K_LOG(LOG_CAT_SMTP, "smtp", "SMTP sessions and commands."),
	K_LOG(LOG_CAT_AUTH, "auth", "AUTH attempts and results."),
	K_LOG(LOG_CAT_RELAY, "relay", "Relay decisions for each RCPT."),
	K_LOG(LOG_CAT_POLICY, "policy", "Limits and policy rejections."),
	K_LOG(LOG_CAT_QUEUE, "queue", "Queue commits and the scheduler."),
	K_LOG(LOG_CAT_DELIVERY, "delivery",
	    "Local delivery and outbound relay."),
	K_LOG(LOG_CAT_DNS, "dns", "DNS lookups."),
	K_LOG(LOG_CAT_TLS, "tls", "TLS handshakes and certificates."),
	K_LOG(LOG_CAT_CONTROL, "control", "The control socket."),
	K_LOG(LOG_CAT_DAEMON, "daemon", "Start, stop, processes, signals."),
};
#define NKNOBS	(sizeof(knobs) / sizeof(knobs[0]))
_Static_assert(NKNOBS <= CONF_KNOBS_MAX, "raise CONF_KNOBS_MAX");

enum {
	LK_ROLE,
	LK_ADDRESS,
	LK_PORT,
	LK_AUTH,
	LK_AUTH_REQUIRED,
	LK_AUTH_RELAY,
	LK_STARTTLS,
	LK_TLS_REQUIRED,
	LK_PROXY_PROTOCOL,
	LK_PROXY_FROM,
	LK_MILTERS,
	LK_COUNT
};

/* Knobs of a [listener NAME] section. */
static const struct conf_knob lknobs[LK_COUNT] = {
	[LK_ROLE] = L_KNOB(role, CT_ROLE, 0, "mx", 0, 0,
	    "mx (inbound, port 25), submission (587) or submissions (465)."),
	[LK_ADDRESS] = L_KNOB(address, CT_ADDR, CF_REQUIRED, NULL, 0, 0,
	    "Numeric IPv4 or IPv6 address; 0.0.0.0 or :: for all."),
	[LK_PORT] = L_KNOB(port, CT_INT, CF_BYROLE, NULL, 1, 65535,
	    "TCP port; default 25 (mx), 587 (submission), 465 (submissions)."),
	[LK_AUTH] = L_KNOB(auth, CT_BOOL, CF_BYROLE, NULL, 0, 1,
	    "Offer AUTH, only ever inside TLS; mx: no, others: yes."),
	[LK_AUTH_REQUIRED] = L_KNOB(auth_required, CT_BOOL, CF_BYROLE, NULL,
	    0, 1, "Require AUTH before MAIL; mx: no, others: yes."),
	[LK_AUTH_RELAY] = L_KNOB(auth_relay, CT_BOOL, CF_BYROLE, NULL, 0, 1,
	    "Authenticated users may relay; mx: no, others: yes."),
	[LK_STARTTLS] = L_KNOB(starttls, CT_BOOL, CF_BYROLE, NULL, 0, 1,
	    "Offer STARTTLS; mx: if tls_cert is set, submission: yes, "
	    "submissions: no."),
	[LK_TLS_REQUIRED] = L_KNOB(tls_required, CT_BOOL, CF_BYROLE, NULL,
	    0, 1, "Refuse MAIL and AUTH before TLS; mx: no, others: yes."),
	[LK_PROXY_PROTOCOL] = L_KNOB(proxy_protocol, CT_PROXY, 0, "no", 0, 0,
	    "PROXY protocol header (a load balancer's, before TLS and the "
	    "greeting) required: no, v1, v2 or any; its client address then "
	    "stands for the connection's. Needs proxy_from."),
	[LK_PROXY_FROM] = L_NETS(proxy_from, "",
	    "Networks of the load balancers that may send the PROXY header; "
	    "a connection from elsewhere is refused unread."),
	[LK_MILTERS] = { NULL, "milters", CT_STRING, CF_EMPTY, "", 0, 0,
	    LM(milters), 0, check_milter_names,
	    "[milter NAME] sections whose filters see this listener's mail, "
	    "comma-separated, applied in this order; empty: none." },
};

static const struct {
	const char	*name;
	int		 value;
} proxy_names[] = {
	{ "no", 0 }, { "v1", PROXY_V1 }, { "v2", PROXY_V2 },
	{ "any", PROXY_V1 | PROXY_V2 },
};

enum {
	DK_SERVERS,
	DK_TLS,
	DK_CA_FILE,
	DK_BASE,
	DK_SCOPE,
	DK_FILTER,
	DK_BIND_FILE,
	DK_TIMEOUT,
	DK_CACHE_POSITIVE,
	DK_CACHE_NEGATIVE,
	DK_CACHE_SIZE,
	DK_COUNT
};
_Static_assert(DK_COUNT <= CONF_LDAP_KNOBS, "raise CONF_LDAP_KNOBS");
_Static_assert(LK_COUNT <= CONF_LISTENER_KNOBS, "raise CONF_LISTENER_KNOBS");

/* Knobs of an [ldap NAME] section. */
static const struct conf_knob dknobs[DK_COUNT] = {
	[DK_SERVERS] = D_LIST(servers, CF_REQUIRED, check_ldap_uri,
	    "Directory servers ldap://HOST[:PORT] or ldaps://HOST[:PORT], tried in this order."),
	[DK_TLS] = D_KNOB(tls, CT_STRING, 0, "starttls", 0, 0, check_ldap_tls,
	    "starttls (ldap:// URIs), ldaps (ldaps:// URIs) or none (loopback URIs only); the certificate must chain to ca_file and name the URI's host."),
	[DK_CA_FILE] = D_KNOB(ca_file, CT_PATH, CF_EMPTY, "", 0, 0, NULL,
	    "CA certificates (PEM) that verify the servers; empty: the system CA store."),
	[DK_BASE] = D_KNOB(base, CT_STRING, CF_REQUIRED, NULL, 0, 0, NULL,
	    "Search base DN, e.g. dc=corp,dc=example."),
	[DK_SCOPE] = D_KNOB(scope, CT_STRING, 0, "sub", 0, 0, check_ldap_scope,
	    "sub (the whole subtree below base) or one (its children only)."),
	[DK_FILTER] = D_KNOB(filter, CT_STRING, CF_REQUIRED, NULL, 0, 0,
	    check_ldap_filter,
	    "Filter template: %s the address, %u the local part, %d the domain, each RFC 4515-escaped; e.g. (|(mail=%s)(proxyAddresses=smtp:%s))."),
	[DK_BIND_FILE] = D_KNOB(bind_file, CT_PATH, CF_EMPTY, "", 0, 0, NULL,
	    "File with \"binddn = DN\" and \"password = ...\" lines, mode 0600, read as root at start; empty: anonymous."),
	[DK_TIMEOUT] = D_KNOB(timeout, CT_DUR, 0, "5", 1, 60, NULL,
	    "Seconds for a connection (TCP, TLS, bind) to one server and for each search; past it the recipient gets 451."),
	[DK_CACHE_POSITIVE] = D_KNOB(cache_positive, CT_DUR, 0, "3600", 0,
	    604800, NULL,
	    "Seconds a found address is remembered (also while the directory is down); 0: not cached."),
	[DK_CACHE_NEGATIVE] = D_KNOB(cache_negative, CT_DUR, 0, "300", 0,
	    86400, NULL,
	    "Seconds an unknown address is remembered: a new mailbox gets mail at most this late; 0: not cached."),
	[DK_CACHE_SIZE] = D_KNOB(cache_size, CT_INT, 0, "100000", 0, 10000000,
	    NULL,
	    "Cached answers at most; the least recently used go first."),
};

enum {
	MK_SOCKET,
	MK_CONNECT_TIMEOUT,
	MK_COMMAND_TIMEOUT,
	MK_EOM_TIMEOUT,
	MK_DEFAULT_ACTION,
	MK_COUNT
};
_Static_assert(MK_COUNT <= CONF_MILTER_KNOBS, "raise CONF_MILTER_KNOBS");

#define MM(m)	offsetof(struct conf_milter, m), \
		sizeof(((struct conf_milter *)0)->m)
#define M_KNOB(m, type, flags, def, lo, hi, check, doc) \
	{ NULL, #m, type, flags, def, lo, hi, MM(m), 0, check, doc }

/* Knobs of a [milter NAME] section. */
static const struct conf_knob mknobs[MK_COUNT] = {
	[MK_SOCKET] = M_KNOB(socket, CT_STRING, CF_REQUIRED, NULL, 0, 0,
	    check_milter_socket,
	    "inet:ADDRESS:PORT, inet6:[ADDRESS]:PORT (numeric) or unix:PATH; a unix path is opened inside the smtp process's chroot (empty_dir), so prefer inet."),
	[MK_CONNECT_TIMEOUT] = M_KNOB(connect_timeout, CT_DUR, 0, "5", 1, 300,
	    NULL, "Seconds to connect and negotiate with the filter."),
	[MK_COMMAND_TIMEOUT] = M_KNOB(command_timeout, CT_DUR, 0, "10", 1,
	    600, NULL, "Seconds the filter has to answer each command."),
	[MK_EOM_TIMEOUT] = M_KNOB(eom_timeout, CT_DUR, 0, "30", 1, 3600, NULL,
	    "Seconds the filter has to answer the end of a message (each progress report starts them again)."),
	[MK_DEFAULT_ACTION] = M_KNOB(default_action, CT_STRING, 0, "tempfail",
	    0, 0, check_milter_action,
	    "When the filter is down, slow or broken: tempfail (451 4.7.1) or accept (go on without it)."),
};

static const char *role_names[] = {
	[ROLE_MX] = "mx",
	[ROLE_SUBMISSION] = "submission",
	[ROLE_SUBMISSIONS] = "submissions",
};

static const struct {
	const char	*name;
	int		 value;
} bool_names[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
	{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
};

enum conf_sec {
	SEC_NONE,		/* before the first header */
	SEC_FIXED,		/* one of the sections of knobs[] */
	SEC_LISTENER,
	SEC_LDAP,
	SEC_MILTER,
	SEC_BAD,		/* malformed header: inih reports it */
};

struct conf_parse {
	struct conf	*c;		/* being built, owned by the caller */
	const char	*file;		/* name in messages */
	const char	*text;		/* whole input, NUL-terminated */
	size_t		 pos;		/* of the next line in text */
	int		 lineno;	/* of the line inih is handling */
	int		 in_value;	/* inih's prev_name is set */
	int		 cont;		/* this line continues the last value */
	int		 syntax_line;	/* first line conf_reader finds bad */
	const char	*syntax_why;
	enum conf_sec	 sec;
	const char	*secname;	/* SEC_FIXED: row's section */
	struct conf_listener *l;	/* SEC_LISTENER */
	struct conf_ldap *ld;		/* SEC_LDAP */
	struct conf_milter *mi;		/* SEC_MILTER */
	const struct conf_knob *last;	/* knob of the last name=value */
	void		*last_base;
	struct conf_listener *last_l;
	struct conf_ldap *last_ld;
	struct conf_milter *last_mi;
	int		 seen[NKNOBS];	/* line a knob was set on, 0: never */
	int		 lseen[CONF_MAX_LISTENERS][LK_COUNT];
	const char	*base;		/* relative paths are below it; NULL */
	int		 failed;
	int		 err_line;
	char		 err[2 * CONF_PATH_MAX + 512];	/* paths in it */
};

/*
 * Small helpers.
 */

static void conf_error(struct conf_parse *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* first error wins; line 0: a message without a line number */
static void
conf_error(struct conf_parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = 1;
	p->err_line = line;
	if (line > 0)
		n = snprintf(p->err, sizeof(p->err), "%s:%d: ", p->file, line);
	else
		n = snprintf(p->err, sizeof(p->err), "%s: ", p->file);
	if (n < 0 || (size_t)n >= sizeof(p->err))
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - n, fmt, ap);
	va_end(ap);
}

/* quote - untrusted text, escaped and cut, for a message */
static const char *
quote(char *buf, size_t len, const char *s, size_t n)
{
	return log_escape(buf, len, s, n);
}

static void *
kptr(const struct conf_knob *k, void *base)
{
	return (char *)base + k->off;
}

static const void *
kcptr(const struct conf_knob *k, const void *base)
{
	return (const char *)base + k->off;
}

static void
store_num(const struct conf_knob *k, void *base, long long v)
{
	if (k->size == sizeof(int)) {
		int x = (int)v;

		memcpy(kptr(k, base), &x, sizeof(x));
	} else if (k->size == sizeof(long)) {
		long x = (long)v;

		memcpy(kptr(k, base), &x, sizeof(x));
	} else
		fatalx("%s: %s: member of size %zu", __func__, k->name,
		    k->size);
}

static long long
load_num(const struct conf_knob *k, const void *base)
{
	if (k->size == sizeof(int)) {
		int x;

		memcpy(&x, kcptr(k, base), sizeof(x));
		return x;
	} else if (k->size == sizeof(long)) {
		long x;

		memcpy(&x, kcptr(k, base), sizeof(x));
		return x;
	}
	fatalx("%s: %s: member of size %zu", __func__, k->name, k->size);
}

/* list members: the array pointer and its count */
static void *
list_arr(const struct conf_knob *k, const void *base)
{
	void *a;

	memcpy(&a, kcptr(k, base), sizeof(a));
	return a;
}

static void
list_set(const struct conf_knob *k, void *base, void *a, size_t n)
{
	memcpy(kptr(k, base), &a, sizeof(a));
	memcpy((char *)base + k->off_n, &n, sizeof(n));
}

static size_t
list_count(const struct conf_knob *k, const void *base)
{
	size_t n;

	memcpy(&n, (const char *)base + k->off_n, sizeof(n));
	return n;
}

static void
list_clear(const struct conf_knob *k, void *base)
{
	size_t i, n = list_count(k, base);
	void *a = list_arr(k, base);

	if (k->type == CT_LIST)
		for (i = 0; i < n; i++)
			free(((char **)a)[i]);
	free(a);
	list_set(k, base, NULL, 0);
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * Item checks: normalise in place, or return -1 with a reason.
 */

/* a host name: LDH labels, no trailing dot kept, last label not numeric */
static int
check_domain(char *s, const char **why)
{
	size_t len, lab = 0;
	const char *p, *last;
	int alpha = 0;

	*why = "is not a valid host name";
	lower(s);
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	if (len == 0 || len > 253)
		return -1;
	last = s;
	for (p = s; ; p++) {
		if (*p == '.' || *p == '\0') {
			if (lab == 0 || lab > 63 || p[-1] == '-')
				return -1;
			if (*p == '\0')
				break;
			lab = 0;
			last = p + 1;
			continue;
		}
		if (lab == 0 && *p == '-')
			return -1;
		if (!(islower((unsigned char)*p) ||
		    isdigit((unsigned char)*p) || *p == '-'))
			return -1;
		lab++;
	}
	/* a numeric top label would make "192.0.2.1" a domain */
	for (p = last; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			alpha = 1;
	return alpha ? 0 : -1;
}

/* a mailbox is a directory name under mail_dir: no '/', no leading dot */
static int
check_mailbox(char *s, const char **why)
{
	size_t len;
	const char *p;

	*why = "is not a valid mailbox name (letters, digits, . _ - + only)";
	lower(s);
	len = strlen(s);
	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return -1;
	for (p = s; *p != '\0'; p++)
		if (!(islower((unsigned char)*p) ||
		    isdigit((unsigned char)*p) || strchr("._-+", *p) != NULL))
			return -1;
	return 0;
}

/* [domains] mailboxes: a mailbox name, or one at a domain */
static int
check_mailbox_entry(char *s, const char **why)
{
	char *at = strchr(s, '@');

	if (at == NULL)
		return check_mailbox(s, why);
	*at = '\0';
	if (check_mailbox(s, why) == -1 || check_domain(at + 1, why) == -1) {
		*at = '@';
		*why = "is not a mailbox: USER or USER@DOMAIN (letters, "
		    "digits, . _ - + in USER)";
		return -1;
	}
	*at = '@';
	return 0;
}

/* role_mailbox: a mailbox name, or empty */
static int
check_role_mailbox(char *s, const char **why)
{
	return s[0] == '\0' ? 0 : check_mailbox(s, why);
}

/* DOMAIN=VALUE: a domain lowercased, a value that is not empty */
static int
check_domain_eq(char *s, const char **why, const char *want)
{
	char *eq = strchr(s, '=');

	*why = want;
	if (eq == NULL || eq == s || eq[1] == '\0')
		return -1;
	*eq = '\0';
	if (check_domain(s, why) == -1) {
		*eq = '=';
		*why = want;
		return -1;
	}
	*eq = '=';
	return 0;
}

/* recipient_tables: DOMAIN=PATH (a relative path: see conf_finish) */
static int
check_domain_path(char *s, const char **why)
{
	return check_domain_eq(s, why, "must be DOMAIN=PATH");
}

/* recipient_ldap: DOMAIN=NAME, the name of an [ldap NAME] section */
static int
check_domain_name(char *s, const char **why)
{
	const char *eq;

	if (check_domain_eq(s, why, "must be DOMAIN=LDAPNAME") == -1)
		return -1;
	eq = strchr(s, '=') + 1;
	if (strspn(eq, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(eq)) {
		*why = "must be DOMAIN=LDAPNAME (letters, digits, . _ - in "
		    "the name)";
		return -1;
	}
	return 0;
}

/* a host name, or "" for hostname */
static int
check_authserv_id(char *s, const char **why)
{
	return s[0] == '\0' ? 0 : check_domain(s, why);
}

/* DOMAIN:SELECTOR:KEYFILE; the domain lowercased */
static int
check_dkim_sign(char *s, const char **why)
{
	char *c1 = strchr(s, ':'), *c2, dom[256];
	size_t sl;

	*why = "must be DOMAIN:SELECTOR:KEYFILE";
	if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL ||
	    c2[1] == '\0' || (size_t)(c1 - s) >= sizeof(dom))
		return -1;
	memcpy(dom, s, (size_t)(c1 - s));
	dom[c1 - s] = '\0';
	if (check_domain(dom, why) == -1) {
		*why = "must be DOMAIN:SELECTOR:KEYFILE (DOMAIN a host name)";
		return -1;
	}
	memcpy(s, dom, strlen(dom));	/* lowercased, same length */
	sl = (size_t)(c2 - c1 - 1);
	if (sl == 0 || sl > 63 || strspn(c1 + 1, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != sl) {
		*why = "must be DOMAIN:SELECTOR:KEYFILE (SELECTOR letters, "
		    "digits, . _ -)";
		return -1;
	}
	if (c2[1] != '/') {
		*why = "must be DOMAIN:SELECTOR:KEYFILE (KEYFILE an absolute "
		    "path)";
		return -1;
	}
	return 0;
}

/* a POSIX-ish user name */
static int
check_user(char *s, const char **why)
{
	size_t len = strlen(s);
	const char *p;

	*why = "is not a valid user name";
	if (len == 0 || len > 32 || s[0] == '-' || isdigit((unsigned char)s[0]))
		return -1;
	for (p = s; *p != '\0'; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
		    *p == '.'))
			return -1;
	return 0;
}

/* [control] admin_group: a group name, or empty */
static int
check_group(char *s, const char **why)
{
	if (s[0] == '\0')
		return 0;
	if (check_user(s, why) == -1) {
		*why = "is not a valid group name";
		return -1;
	}
	return 0;
}

/* [submit] submit_users: "*", a login name or "%GROUP" */
static int
check_submit_user(char *s, const char **why)
{
	if (strcmp(s, "*") == 0)
		return 0;
	if (s[0] == '%') {
		if (check_user(s + 1, why) == -1) {
			*why = "is not a valid %GROUP";
			return -1;
		}
		return 0;
	}
	return check_user(s, why);
}

/* [control] metrics_listen: ADDR:PORT, or empty */
static int
check_metrics(char *s, const char **why)
{
	char addr[64];
	int port, loopback;

	*why = "must be ADDR:PORT with a numeric address (127.0.0.1:9100, "
	    "[::1]:9100)";
	if (s[0] == '\0')
		return 0;
	return control_http_parse_listen(s, addr, sizeof(addr), &port,
	    &loopback);
}

/* [console] console_listen: ADDR:PORT, or empty */
static int
check_console(char *s, const char **why)
{
	return check_metrics(s, why);
}

/* [ldap] servers: ldap://HOST[:PORT] or ldaps://HOST[:PORT] */
static int
check_ldap_uri(char *s, const char **why)
{
	struct ldap_uri u;

	return ldap_uri_parse(s, &u, why);
}

/* [ldap] tls: starttls | ldaps | none */
static int
check_ldap_tls(char *s, const char **why)
{
	*why = "must be starttls, ldaps or none";
	lower(s);
	return (strcmp(s, "starttls") == 0 || strcmp(s, "ldaps") == 0 ||
	    strcmp(s, "none") == 0) ? 0 : -1;
}

/* [ldap] scope: sub | one */
static int
check_ldap_scope(char *s, const char **why)
{
	*why = "must be sub or one";
	lower(s);
	return (strcmp(s, "sub") == 0 || strcmp(s, "one") == 0) ? 0 : -1;
}

/* a listener's milters: names separated by commas (and spaces) */
static int
check_milter_names(char *s, const char **why)
{
	char out[sizeof(((struct conf_listener *)0)->milters)];
	size_t o = 0, n = 0;
	const char *p = s;

	*why = "must be [milter] section names separated by commas";
	while (*p != '\0') {
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t,");
		if (len >= 64 || strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < len)
			return -1;
		if (++n > CONF_LISTENER_MILTERS) {
			*why = "too many milters (at most 8)";
			return -1;
		}
		if (o + len + 2 >= sizeof(out))
			return -1;
		if (o > 0) {
			out[o++] = ',';
			out[o++] = ' ';
		}
		memcpy(out + o, p, len);
		o += len;
		p += len;
	}
	out[o] = '\0';
	memcpy(s, out, o + 1);
	return 0;
}

static int
check_milter_socket(char *s, const char **why)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return milter_socket_parse(s, &ss, &len, why);
}

static int
check_milter_action(char *s, const char **why)
{
	lower(s);
	*why = "must be tempfail or accept";
	return strcmp(s, "tempfail") == 0 || strcmp(s, "accept") == 0 ? 0 : -1;
}

/* [ldap] filter: a template ldap_filter_build takes */
static int
check_ldap_filter(char *s, const char **why)
{
	return ldap_filter_check(s, why);
}

/* sender_identity: own | domain | any */
static int
check_identity(char *s, const char **why)
{
	*why = "must be own, domain or any";
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return (strcmp(s, "own") == 0 || strcmp(s, "domain") == 0 ||
	    strcmp(s, "any") == 0) ? 0 : -1;
}

/* a [delivery] route: DOMAIN=DEST[,DEST...] (mta_route_parse) */
static int
check_route(char *s, const char **why)
{
	struct mta_route r;

	return mta_route_parse(s, &r, why);
}

/* the smarthost: empty or destinations (mta_hosts_parse) */
static int
check_dest(char *s, const char **why)
{
	struct mta_hosts h;

	if (s[0] == '\0')
		return 0;
	return mta_hosts_parse(s, &h, why);
}

/* source_address_v4: empty or a numeric IPv4 address */
static int
check_addr_v4(char *s, const char **why)
{
	struct in_addr a;

	*why = "is not a numeric IPv4 address";
	return s[0] == '\0' || inet_pton(AF_INET, s, &a) == 1 ? 0 : -1;
}

/* source_address_v6: empty or a numeric IPv6 address */
static int
check_addr_v6(char *s, const char **why)
{
	struct in6_addr a;

	*why = "is not a numeric IPv6 address";
	return s[0] == '\0' || inet_pton(AF_INET6, s, &a) == 1 ? 0 : -1;
}

/* blacklist_addresses: a numeric IPv4 or IPv6 address, kept canonical */
static int
check_addr_any(char *s, const char **why)
{
	unsigned char bin[16];

	*why = "is not a numeric IPv4 or IPv6 address";
	if (inet_pton(AF_INET, s, bin) == 1)
		return inet_ntop(AF_INET, bin, s, strlen(s) + 1) != NULL ? 0 : -1;
	if (inet_pton(AF_INET6, s, bin) == 1)
		return inet_ntop(AF_INET6, bin, s, strlen(s) + 1) != NULL ? 0 : -1;
	return -1;
}

/* blacklist_zones: a DNS zone, no weight */
static int
check_blacklist_zone(char *s, const char **why)
{
	if (check_domain(s, why) == -1) {
		*why = "is not a DNS zone name";
		return -1;
	}
	return 0;
}

/* address_preference: any | ipv4 | ipv6 */
static int
check_addr_pref(char *s, const char **why)
{
	*why = "must be any, ipv4 or ipv6";
	lower(s);
	return (strcmp(s, "any") == 0 || strcmp(s, "ipv4") == 0 ||
	    strcmp(s, "ipv6") == 0) ? 0 : -1;
}

/* [delivery] tls: none | opportunistic | verify */
static int
check_tls_mode(char *s, const char **why)
{
	*why = "must be none, opportunistic or verify";
	lower(s);
	return (strcmp(s, "none") == 0 || strcmp(s, "opportunistic") == 0 ||
	    strcmp(s, "verify") == 0) ? 0 : -1;
}

/* tls_certificates: CERT:KEY, two paths */
static int
check_cert_pair(char *s, const char **why)
{
	char *colon = strchr(s, ':');

	*why = "must be CERT:KEY (two paths)";
	return colon != NULL && colon != s && colon[1] != '\0' &&
	    strchr(colon + 1, ':') == NULL ? 0 : -1;
}

/* tls_protocols: the versions we speak (older ones are never offered) */
static int
check_tls_protocol(char *s, const char **why)
{
	*why = "is not TLSv1.2 or TLSv1.3 (older versions are not offered)";
	return tls_protocol_version(s) != 0 ? 0 : -1;
}

static int
check_tls_ciphers(char *s, const char **why)
{
	return tls_ciphers_check(s, 0, why);
}

static int
check_tls_ciphersuites(char *s, const char **why)
{
	return tls_ciphers_check(s, 1, why);
}

/* dns_server: empty, a numeric address, or ADDR@PORT */
static int
check_dns_server(char *s, const char **why)
{
	char addr[64], *at, *end;
	unsigned char bin[16];
	long port;

	*why = "is not a numeric address, optionally followed by @PORT";
	if (s[0] == '\0')
		return 0;
	if (strlen(s) >= sizeof(addr))
		return -1;
	snprintf(addr, sizeof(addr), "%s", s);
	if ((at = strchr(addr, '@')) != NULL) {
		*at++ = '\0';
		port = strtol(at, &end, 10);
		if (*at == '\0' || *end != '\0' || port < 1 || port > 65535)
			return -1;
	}
	return inet_pton(AF_INET, addr, bin) == 1 ||
	    inet_pton(AF_INET6, addr, bin) == 1 ? 0 : -1;
}

/* watch_action: alert | hold | suspend */
static int
check_action(char *s, const char **why)
{
	*why = "must be alert, hold or suspend";
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return (strcmp(s, "alert") == 0 || strcmp(s, "hold") == 0 ||
	    strcmp(s, "suspend") == 0) ? 0 : -1;
}

/* a DNSBL zone: a domain name, optionally *WEIGHT (1..100) */
static int
check_dnsbl_zone(char *s, const char **why)
{
	char zone[256], *star = strchr(s, '*');
	int w;

	*why = "must be ZONE or ZONE*WEIGHT (weight 1..100)";
	if (dnsbl_parse_zone(s, zone, sizeof(zone), &w) == -1)
		return -1;
	if (star)
		*star = '\0';
	if (check_domain(s, why) == -1)
		return -1;
	if (star)
		*star = '*';
	return 0;
}

/*
 * Values.
 */

/* decimal, optional '-' and (sizes) k/M/G; saturates instead of wrapping */
static int
parse_number(const char *s, int is_size, long long *out)
{
	long long v, mult = 1;
	char *end;

	if (!(isdigit((unsigned char)s[0]) ||
	    (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (is_size && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mult = 1LL << 10; break;
		case 'm': case 'M': mult = 1LL << 20; break;
		case 'g': case 'G': mult = 1LL << 30; break;
		default: return -1;
		}
		end++;
	}
	if (*end != '\0')
		return -1;
	if (v > LLONG_MAX / mult)
		v = LLONG_MAX;
	else if (v < LLONG_MIN / mult)
		v = LLONG_MIN;
	else
		v *= mult;
	*out = v;
	return 0;
}

static char *
fmt_num(const struct conf_knob *k, long long v, char *buf, size_t len)
{
	static const char suffix[] = "GMk";
	int i;

	if (k->type == CT_DUR || k->type == CT_DUR_MS)
		return duration_format(v, k->type == CT_DUR ? DURATION_S :
		    DURATION_MS, buf, len);
	if (k->type == CT_SIZE && v != 0) {
		for (i = 0; i < 3; i++) {
			long long unit = 1LL << (10 * (3 - i));

			if (v % unit == 0) {
				snprintf(buf, len, "%lld%c", v / unit,
				    suffix[i]);
				return buf;
			}
		}
	}
	snprintf(buf, len, "%lld", v);
	return buf;
}

/* next item of a list: separated by commas and/or white space */
static const char *
item_next(const char *s, const char **end)
{
	static const char sep[] = ", \t\r\n\v\f";

	s += strspn(s, sep);
	if (*s == '\0')
		return NULL;
	*end = s + strcspn(s, sep);
	return s;
}

/* the domain of a route item, lowercased, without a trailing dot */
static void
route_domain(const char *item, char *out, size_t len)
{
	size_t n = strcspn(item, "=");

	if (n >= len)
		n = len - 1;
	memcpy(out, item, n);
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';
	lower(out);
}

/* routes: is the domain of item routed by one of strs[0..n)? */
static int
route_twice(char **strs, size_t n, const char *item)
{
	char a[CONF_ITEM_MAX + 1], b[CONF_ITEM_MAX + 1];

	route_domain(item, a, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		route_domain(strs[i], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return 1;
	}
	return 0;
}

/*
 * routes: item (no '=') is one more destination of the route before it,
 * as in "corp.example=[10.0.0.5]:25, [10.0.0.6]:25", which the list
 * syntax splits at the comma. The route is stored joined with ','.
 */
static int
route_more(const struct conf_knob *k, void *base, const char *item,
    char *why, size_t whylen)
{
	char **strs = list_arr(k, base), *joined, q[80];
	size_t n = list_count(k, base);
	const char *cwhy;

	quote(q, sizeof(q), item, strlen(item));
	if (n == 0) {
		snprintf(why, whylen, "'%s' is a destination without DOMAIN= "
		    "before it", q);
		return -1;
	}
	if (asprintf(&joined, "%s,%s", strs[n - 1], item) == -1) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (k->check(joined, &cwhy) == -1) {
		snprintf(why, whylen, "'%s' %s", q, cwhy);
		free(joined);
		return -1;
	}
	free(strs[n - 1]);
	strs[n - 1] = joined;
	return 0;
}

/* the item s..e into item, quoted into q[80] for messages; -1 if too long */
static int
item_take(const char *s, const char *e, char item[CONF_ITEM_MAX + 1],
    char q[80], char *why, size_t whylen)
{
	size_t len = (size_t)(e - s);

	quote(q, 80, s, len);
	if (len > CONF_ITEM_MAX) {
		snprintf(why, whylen, "'%s' is longer than %d characters", q,
		    CONF_ITEM_MAX);
		return -1;
	}
	memcpy(item, s, len);
	item[len] = '\0';
	return 0;
}

static int
item_net(const char *item, const char *q, struct cidr *net, char *why,
    size_t whylen)
{
	const char *cwhy;

	if (cidr_parse(item, net, &cwhy) == 0)
		return 0;
	snprintf(why, whylen, "'%s' is not a network: %s", q,
	    cwhy != NULL ? cwhy : "bad");
	return -1;
}

static int
set_list(const struct conf_knob *k, void *base, const char *val, int append,
    char *why, size_t whylen)
{
	char item[CONF_ITEM_MAX + 1], q[80];
	const char *s, *e, *cwhy;
	size_t i, n;
	struct cidr net, *nets;
	char **strs, *dup;

	if (!append)
		list_clear(k, base);
	for (s = val; (s = item_next(s, &e)) != NULL; s = e) {
		if (item_take(s, e, item, q, why, whylen) == -1)
			return -1;
		n = list_count(k, base);
		if (k->type == CT_CIDRS) {
			if (item_net(item, q, &net, why, whylen) == -1)
				return -1;
			nets = list_arr(k, base);
			for (i = 0; i < n; i++)
				if (memcmp(&nets[i], &net, sizeof(net)) == 0)
					break;
			if (i < n)
				continue;
		} else if ((k->flags & CF_ROUTES) && strchr(item, '=') == NULL) {
			if (route_more(k, base, item, why, whylen) == -1)
				return -1;
			continue;
		} else {
			if (k->check != NULL && k->check(item, &cwhy) == -1) {
				snprintf(why, whylen, "'%s' %s", q, cwhy);
				return -1;
			}
			strs = list_arr(k, base);
			if ((k->flags & CF_ROUTES) && route_twice(strs, n, item)) {
				snprintf(why, whylen, "'%s' routes a domain that "
				    "has a route already (one route a domain; "
				    "list its hosts as DOMAIN=DEST,DEST)", q);
				return -1;
			}
			for (i = 0; i < n && !(k->flags & CF_NOCAP); i++)
				if (strcmp(strs[i], item) == 0)
					break;
			if (i < n && !(k->flags & CF_NOCAP))
				continue;
		}
		if (n >= CONF_LIST_MAX && !(k->flags & CF_NOCAP)) {
			snprintf(why, whylen, "more than %d items",
			    CONF_LIST_MAX);
			return -1;
		}
		if (k->type == CT_CIDRS) {
			nets = reallocarray(list_arr(k, base), n + 1,
			    sizeof(*nets));
			if (nets == NULL)
				goto nomem;
			nets[n] = net;
			list_set(k, base, nets, n + 1);
		} else {
			if ((dup = strdup(item)) == NULL)
				goto nomem;
			strs = reallocarray(list_arr(k, base), n + 1,
			    sizeof(*strs));
			if (strs == NULL) {
				free(dup);
				goto nomem;
			}
			strs[n] = dup;
			list_set(k, base, strs, n + 1);
		}
	}
	return 0;
nomem:
	snprintf(why, whylen, "out of memory");
	return -1;
}

/*
 * CT_NETS: networks in an array of the struct itself, k->size bytes, so
 * that a listener (copied whole on reload) owns no memory
 */
static int
set_nets(const struct conf_knob *k, void *base, const char *val, int append,
    char *why, size_t whylen)
{
	struct cidr *nets = kptr(k, base), net;
	size_t i, n = append ? list_count(k, base) : 0;
	size_t max = k->size / sizeof(*nets);
	char item[CONF_ITEM_MAX + 1], q[80];
	const char *s, *e;

	for (s = val; (s = item_next(s, &e)) != NULL; s = e) {
		if (item_take(s, e, item, q, why, whylen) == -1)
			return -1;
		if (item_net(item, q, &net, why, whylen) == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (memcmp(&nets[i], &net, sizeof(net)) == 0)
				break;
		if (i < n)
			continue;
		if (n >= max) {
			snprintf(why, whylen, "more than %zu networks", max);
			return -1;
		}
		nets[n++] = net;
	}
	memcpy((char *)base + k->off_n, &n, sizeof(n));
	return 0;
}

static int
set_string(const struct conf_knob *k, void *base, const char *val,
    char *why, size_t whylen)
{
	char buf[CONF_PATH_MAX], q[80];
	size_t len = strlen(val);
	const char *p, *cwhy;

	quote(q, sizeof(q), val, len);
	if (len == 0 && !(k->flags & CF_EMPTY)) {
		snprintf(why, whylen, "must not be empty");
		return -1;
	}
	if (len >= k->size || len >= sizeof(buf)) {
		snprintf(why, whylen, "longer than %zu characters",
		    k->size - 1);
		return -1;
	}
	for (p = val; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, whylen, "'%s' has control characters", q);
			return -1;
		}
	memcpy(buf, val, len + 1);
	if (k->type == CT_HOSTNAME && check_domain(buf, &cwhy) == -1) {
		snprintf(why, whylen, "'%s' %s", q, cwhy);
		return -1;
	}
	if (k->check != NULL && k->check(buf, &cwhy) == -1) {
		snprintf(why, whylen, "'%s' %s", q, cwhy);
		return -1;
	}
	memcpy(kptr(k, base), buf, strlen(buf) + 1);
	return 0;
}

/* canonical text of a numeric address; family and bytes for comparisons */
static int
parse_addr(const char *s, int *family, uint8_t bin[16], char *canon,
    size_t len)
{
	memset(bin, 0, 16);
	if (inet_pton(AF_INET, s, bin) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, bin) == 1)
		*family = AF_INET6;
	else
		return -1;
	if (canon != NULL && inet_ntop(*family, bin, canon, len) == NULL)
		return -1;
	return 0;
}

/*
 * conf_set: parse val into the member of k in base. append: a
 * continuation line, more items for a list. Returns 0, or -1 with a
 * reason (without the knob's name) in why.
 */
static int
conf_set(const struct conf_knob *k, void *base, const char *val, int append,
    char *why, size_t whylen)
{
	char q[80], b1[32], lc[16];
	char canon[INET6_ADDRSTRLEN];
	uint8_t bin[16];
	long long v;
	int64_t dv;
	size_t i;
	int r, fam;

	quote(q, sizeof(q), val, strlen(val));
	if (append && k->type != CT_LIST && k->type != CT_CIDRS &&
	    k->type != CT_NETS) {
		snprintf(why, whylen, "unexpected indented line '%s' (only "
		    "lists continue on indented lines)", q);
		return -1;
	}
	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_HOSTNAME:
		return set_string(k, base, val, why, whylen);
	case CT_LIST:
	case CT_CIDRS:
		return set_list(k, base, val, append, why, whylen);
	case CT_NETS:
		return set_nets(k, base, val, append, why, whylen);
	case CT_PROXY:
		for (i = 0; i < sizeof(proxy_names) / sizeof(proxy_names[0]);
		    i++)
			if (strcasecmp(val, proxy_names[i].name) == 0) {
				store_num(k, base, proxy_names[i].value);
				return 0;
			}
		snprintf(why, whylen, "'%s' is not no, v1, v2 or any", q);
		return -1;
	case CT_DUR:
	case CT_DUR_MS:
		switch (duration_parse(val, k->type == CT_DUR ? DURATION_S :
		    DURATION_MS, &dv)) {
		case DURATION_OK:
			v = dv;
			break;
		case DURATION_FRACTION:
			snprintf(why, whylen, "'%s' is not a whole number of "
			    "seconds", q);
			return -1;
		case DURATION_RANGE:
			v = LLONG_MAX;	/* the maximum below names the bound */
			break;
		default:
			snprintf(why, whylen, "'%s' is not a duration (a number "
			    "of %s, or with units: 500ms, 30s, 10m, 2h, 7d, 1h30m)",
			    q, k->type == CT_DUR ? "seconds" : "milliseconds");
			return -1;
		}
		goto bounds;
	case CT_INT:
	case CT_SIZE:
		if (parse_number(val, k->type == CT_SIZE, &v) == -1) {
			snprintf(why, whylen, "'%s' is not %s", q,
			    k->type == CT_SIZE ? "a size (a number, optionally "
			    "followed by k, M or G)" : "a number");
			return -1;
		}
bounds:
		if (v < k->min) {
			snprintf(why, whylen, "%s is below the minimum %s", q,
			    fmt_num(k, k->min, b1, sizeof(b1)));
			return -1;
		}
		if (v > k->max) {
			snprintf(why, whylen, "%s is above the maximum %s", q,
			    fmt_num(k, k->max, b1, sizeof(b1)));
			return -1;
		}
		store_num(k, base, v);
		return 0;
	case CT_BOOL:
		for (i = 0; i < sizeof(bool_names) / sizeof(bool_names[0]); i++)
			if (strcasecmp(val, bool_names[i].name) == 0) {
				store_num(k, base, bool_names[i].value);
				return 0;
			}
		snprintf(why, whylen, "'%s' is not a boolean (yes, no, true, "
		    "false, on, off, 1, 0)", q);
		return -1;
	case CT_LEVEL:
		r = -1;
		if (strlen(val) < sizeof(lc)) {
			memcpy(lc, val, strlen(val) + 1);
			lower(lc);
			r = log_level_from_name(lc);
		}
		if (r < 0) {
			snprintf(why, whylen, "'%s' is not a log level (err, "
			    "warn, notice, info, debug)", q);
			return -1;
		}
		store_num(k, base, r);
		return 0;
	case CT_ROLE:
		for (i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
			if (strcasecmp(val, role_names[i]) == 0) {
				store_num(k, base, (long long)i);
				return 0;
			}
		snprintf(why, whylen, "'%s' is not a role (mx, submission, "
		    "submissions)", q);
		return -1;
	case CT_ADDR:
		if (parse_addr(val, &fam, bin, canon, sizeof(canon)) == -1 ||
		    strlen(canon) >= k->size) {
			snprintf(why, whylen, "'%s' is not a numeric IPv4 or "
			    "IPv6 address", q);
			return -1;
		}
		memcpy(kptr(k, base), canon, strlen(canon) + 1);
		return 0;
	}
	fatalx("%s: %s: type %d", __func__, k->name, (int)k->type);
}

/* set a knob to its default text; a default the parser refuses is a bug */
static int
conf_default(struct conf_parse *p, const struct conf_knob *k, void *base,
    const char *val)
{
	char why[CONF_WHY_MAX];

	if (conf_set(k, base, val, 0, why, sizeof(why)) == 0)
		return 0;
	if (strcmp(why, "out of memory") == 0) {
		conf_error(p, 0, "out of memory");
		return -1;
	}
	fatalx("%s: default of %s: %s", __func__, k->name, why);
}

static int
conf_defaults(struct conf_parse *p)
{
	const struct conf_knob *k;
	char host[256], why[CONF_WHY_MAX];
	size_t i;

	for (i = 0; i < NKNOBS; i++) {
		k = &knobs[i];
		if (k->flags & CF_SYSHOST) {
			if (gethostname(host, sizeof(host)) == 0) {
				host[sizeof(host) - 1] = '\0';
				lower(host);
				if (conf_set(k, p->c, host, 0, why,
				    sizeof(why)) == 0)
					continue;
			}
		}
		if (conf_default(p, k, p->c, k->def) == -1)
			return -1;
	}
	return 0;
}

/*
 * The reader: lines, headers and continuations for inih.
 */

/* a section name: letters, digits, . _ - only, shorter than size */
static int
valid_section_name(const char *s, size_t size)
{
	size_t len = strlen(s);

	if (len == 0 || len >= size)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/*
 * "[WORD NAME]" (s, the text between the brackets, NUL-terminated and
 * writable): -1 when s is not a WORD section, 0 when it is one with a
 * missing or bad name (the error is set), 1 with the name in *name.
 */
static int
named_section(struct conf_parse *p, char *s, const char *word,
    const char *a_what, const char *what, size_t size, char **name)
{
	size_t wl = strlen(word);
	char q[80], *n, *e;

	if (strncmp(s, word, wl) != 0 ||
	    (s[wl] != '\0' && !isspace((unsigned char)s[wl])))
		return -1;
	for (n = s + wl; isspace((unsigned char)*n); n++)
		;
	for (e = n; *e != '\0' && !isspace((unsigned char)*e); e++)
		;
	if (*n == '\0') {
		conf_error(p, p->lineno, "%s section needs a name: [%s NAME]",
		    a_what, word);
		return 0;
	}
	if (*e != '\0' || !valid_section_name(n, size)) {
		conf_error(p, p->lineno, "bad %s name '%s' (letters, digits, "
		    ". _ - only, at most %zu)", what, quote(q, sizeof(q), n,
		    strlen(n)), size - 1);
		return 0;
	}
	*name = n;
	return 1;
}

/* start an [ldap NAME] section with the table's defaults */
static struct conf_ldap *
ldap_new(struct conf_parse *p, const char *name, int line)
{
	struct conf *c = p->c;
	struct conf_ldap *l;
	size_t i;

	if (c->n_ldap >= CONF_MAX_LDAP) {
		conf_error(p, line, "too many [ldap] sections (at most %d)",
		    CONF_MAX_LDAP);
		return NULL;
	}
	for (i = 0; i < c->n_ldap; i++)
		if (strcmp(c->ldap[i].name, name) == 0) {
			conf_error(p, line, "duplicate section [ldap %s] "
			    "(first on line %d)", name, c->ldap[i].line);
			return NULL;
		}
	l = &c->ldap[c->n_ldap++];
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->line = line;
	for (i = 0; i < DK_COUNT; i++)
		if (dknobs[i].def != NULL &&
		    conf_default(p, &dknobs[i], l, dknobs[i].def) == -1)
			return NULL;
	return l;
}

/* start a [milter NAME] section with the table's defaults */
static struct conf_milter *
milter_new(struct conf_parse *p, const char *name, int line)
{
	struct conf *c = p->c;
	struct conf_milter *m;
	size_t i;

	if (c->n_milter >= CONF_MAX_MILTERS) {
		conf_error(p, line, "too many [milter] sections (at most %d)",
		    CONF_MAX_MILTERS);
		return NULL;
	}
	for (i = 0; i < c->n_milter; i++)
		if (strcmp(c->milter[i].name, name) == 0) {
			conf_error(p, line, "duplicate section [milter %s] "
			    "(first on line %d)", name, c->milter[i].line);
			return NULL;
		}
	m = &c->milter[c->n_milter++];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->line = line;
	for (i = 0; i < MK_COUNT; i++)
		if (mknobs[i].def != NULL &&
		    conf_default(p, &mknobs[i], m, mknobs[i].def) == -1)
			return NULL;
	return m;
}

static const char *
fixed_section(const char *name)
{
	size_t i;

	for (i = 0; i < NKNOBS; i++)
		if (strcmp(knobs[i].section, name) == 0)
			return knobs[i].section;
	return NULL;
}

/* start a listener: table defaults now, role-derived ones in conf_finish */
static struct conf_listener *
listener_new(struct conf_parse *p, const char *name, int line)
{
	struct conf *c = p->c;
	struct conf_listener *l;
	size_t i;

	if (c->n_listeners >= CONF_MAX_LISTENERS) {
		conf_error(p, line, "too many listeners (at most %d)",
		    CONF_MAX_LISTENERS);
		return NULL;
	}
	for (i = 0; i < c->n_listeners; i++)
		if (strcmp(c->listeners[i].name, name) == 0) {
			conf_error(p, line, "duplicate listener '%s' (first "
			    "on line %d)", name, c->listeners[i].line);
			return NULL;
		}
	l = &c->listeners[c->n_listeners];
	memset(l, 0, sizeof(*l));
	memset(p->lseen[c->n_listeners], 0, sizeof(p->lseen[0]));
	c->n_listeners++;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->line = line;
	for (i = 0; i < LK_COUNT; i++)
		if (lknobs[i].def != NULL &&
		    conf_default(p, &lknobs[i], l, lknobs[i].def) == -1)
			return NULL;
	return l;
}

/* a "[...]" header; text is what lies between the brackets */
static void
conf_section(struct conf_parse *p, const char *text, size_t len)
{
	char sec[CONF_LINE_MAX + 1], q[80];
	char *s, *name;

	while (len > 0 && isspace((unsigned char)*text)) {
		text++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	memcpy(sec, text, len);
	sec[len] = '\0';
	s = sec;
	p->sec = SEC_BAD;
	if ((p->secname = fixed_section(s)) != NULL) {
		p->sec = SEC_FIXED;
		return;
	}
	switch (named_section(p, s, "listener", "a listener", "listener",
	    sizeof(((struct conf_listener *)0)->name), &name)) {
	case 1:
		if ((p->l = listener_new(p, name, p->lineno)) != NULL)
			p->sec = SEC_LISTENER;
		/* FALLTHROUGH */
	case 0:
		return;
	}
	switch (named_section(p, s, "ldap", "an ldap", "ldap section",
	    sizeof(((struct conf_ldap *)0)->name), &name)) {
	case 1:
		if ((p->ld = ldap_new(p, name, p->lineno)) != NULL)
			p->sec = SEC_LDAP;
		/* FALLTHROUGH */
	case 0:
		return;
	}
	switch (named_section(p, s, "milter", "a milter", "milter section",
	    sizeof(((struct conf_milter *)0)->name), &name)) {
	case 1:
		if ((p->mi = milter_new(p, name, p->lineno)) != NULL)
			p->sec = SEC_MILTER;
		/* FALLTHROUGH */
	case 0:
		return;
	}
	conf_error(p, p->lineno, "unknown section [%s]",
	    quote(q, sizeof(q), s, strlen(s)));
}

/* 1 when inih would see an inline comment at s[i] */
static int
inline_comment(const char *s, size_t i)
{
	return s[i] == ';' && i > 0 && isspace((unsigned char)s[i - 1]);
}

/* classify one line as inih will: comment, continuation, header, pair */
static void
conf_line(struct conf_parse *p, const char *line)
{
	const char *start = line;
	size_t i;

	p->cont = 0;
	while (*start != '\0' && isspace((unsigned char)*start))
		start++;
	if (*start == '\0' || *start == ';' || *start == '#')
		return;
	if (p->in_value && start > line) {
		p->cont = 1;
		return;
	}
	if (*start == '[') {
		p->in_value = 0;
		p->last = NULL;
		p->l = NULL;
		p->ld = NULL;
		p->mi = NULL;
		for (i = 1; start[i] != '\0' && start[i] != ']' &&
		    !inline_comment(start, i); i++)
			;
		if (start[i] != ']') {
			p->sec = SEC_BAD;
			if (p->syntax_line == 0) {
				p->syntax_line = p->lineno;
				p->syntax_why = "section header without ']'";
			}
			return;
		}
		conf_section(p, start + 1, i - 1);
		return;
	}
	for (i = 0; start[i] != '\0' && start[i] != '=' && start[i] != ':' &&
	    !inline_comment(start, i); i++)
		;
	if ((start[i] != '=' && start[i] != ':') && p->syntax_line == 0) {
		p->syntax_line = p->lineno;
		p->syntax_why = "expected name = value";
	}
}

/*
 * conf_comment_cut - the length of line without a comment after its
 * value: a '#' or ';' after white space starts one ("port = 25  # smtp"),
 * as inih has it for ';'; one without white space before it is part of
 * the value. No value needs " #": not a path, a host, a filter or a
 * list item.
 */
size_t
conf_comment_cut(const char *line, size_t len)
{
	for (size_t i = 1; i < len; i++)
		if ((line[i] == '#' || line[i] == ';') &&
		    isspace((unsigned char)line[i - 1]))
			return i;
	return len;
}

/* an fgets for inih over p->text that counts lines and refuses long ones */
static char *
conf_reader(char *buf, int num, void *arg)
{
	struct conf_parse *p = arg;
	const char *s = p->text + p->pos, *nl;
	size_t len, max;

	if (p->failed || *s == '\0' || num < 3)
		return NULL;
	nl = strchr(s, '\n');
	len = nl != NULL ? (size_t)(nl - s) : strlen(s);
	p->pos += len + (nl != NULL);
	p->lineno++;
	if (p->lineno == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	max = (size_t)num - 2;
	if (max > CONF_LINE_MAX)
		max = CONF_LINE_MAX;
	if (len > max) {
		conf_error(p, p->lineno, "line longer than %zu characters",
		    max);
		return NULL;
	}
	memcpy(buf, s, len);
	len = conf_comment_cut(buf, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	conf_line(p, buf);
	return buf;
}

/* inih's callback: one name = value pair, or one continuation line */
static int
conf_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_parse *p = arg;
	const struct conf_knob *k = NULL;
	char why[CONF_WHY_MAX], q[80], lpre[96] = "";
	void *base;
	int *seen, cont = p->cont;
	size_t i;

	p->in_value = 1;
	if (p->failed)
		return 0;
	if (cont) {
		if (p->last == NULL)
			return 0;	/* the line above failed already */
		k = p->last;
		base = p->last_base;
		if (p->last_l != NULL)
			snprintf(lpre, sizeof(lpre), "listener %s: ",
			    p->last_l->name);
		if (p->last_ld != NULL)
			snprintf(lpre, sizeof(lpre), "ldap %s: ",
			    p->last_ld->name);
		if (p->last_mi != NULL)
			snprintf(lpre, sizeof(lpre), "milter %s: ",
			    p->last_mi->name);
		goto set;
	}
	p->last = NULL;
	quote(q, sizeof(q), name, strlen(name));
	switch (p->sec) {
	case SEC_NONE:
		conf_error(p, p->lineno, "key '%s' before the first [section]",
		    q);
		return 0;
	case SEC_BAD:
		return 0;	/* inih reports the header */
	case SEC_FIXED:
		for (i = 0; i < NKNOBS; i++)
			if (strcmp(knobs[i].section, p->secname) == 0 &&
			    strcmp(knobs[i].name, name) == 0)
				break;
		if (i == NKNOBS) {
			conf_error(p, p->lineno, "unknown key '%s' in [%s]", q,
			    p->secname);
			return 0;
		}
		k = &knobs[i];
		seen = &p->seen[i];
		base = p->c;
		if (*seen != 0) {
			conf_error(p, p->lineno, "duplicate key '%s' in [%s] "
			    "(first on line %d)", k->name, p->secname, *seen);
			return 0;
		}
		break;
	case SEC_LISTENER:
		for (i = 0; i < LK_COUNT; i++)
			if (strcmp(lknobs[i].name, name) == 0)
				break;
		if (i == LK_COUNT) {
			conf_error(p, p->lineno, "unknown key '%s' in "
			    "[listener %s]", q, p->l->name);
			return 0;
		}
		k = &lknobs[i];
		seen = &p->lseen[p->l - p->c->listeners][i];
		base = p->l;
		if (*seen != 0) {
			conf_error(p, p->lineno, "duplicate key '%s' in "
			    "[listener %s] (first on line %d)", k->name,
			    p->l->name, *seen);
			return 0;
		}
		snprintf(lpre, sizeof(lpre), "listener %s: ", p->l->name);
		break;
	case SEC_LDAP:
		for (i = 0; i < DK_COUNT; i++)
			if (strcmp(dknobs[i].name, name) == 0)
				break;
		if (i == DK_COUNT) {
			conf_error(p, p->lineno, "unknown key '%s' in "
			    "[ldap %s]", q, p->ld->name);
			return 0;
		}
		k = &dknobs[i];
		seen = &p->ld->knob_line[i];
		base = p->ld;
		if (*seen != 0) {
			conf_error(p, p->lineno, "duplicate key '%s' in "
			    "[ldap %s] (first on line %d)", k->name,
			    p->ld->name, *seen);
			return 0;
		}
		snprintf(lpre, sizeof(lpre), "ldap %s: ", p->ld->name);
		break;
	case SEC_MILTER:
		for (i = 0; i < MK_COUNT; i++)
			if (strcmp(mknobs[i].name, name) == 0)
				break;
		if (i == MK_COUNT) {
			conf_error(p, p->lineno, "unknown key '%s' in "
			    "[milter %s]", q, p->mi->name);
			return 0;
		}
		k = &mknobs[i];
		seen = &p->mi->knob_line[i];
		base = p->mi;
		if (*seen != 0) {
			conf_error(p, p->lineno, "duplicate key '%s' in "
			    "[milter %s] (first on line %d)", k->name,
			    p->mi->name, *seen);
			return 0;
		}
		snprintf(lpre, sizeof(lpre), "milter %s: ", p->mi->name);
		break;
	default:
		fatalx("%s: section state %d", __func__, (int)p->sec);
	}
	*seen = p->lineno;
	p->last = k;
	p->last_base = base;
	p->last_l = p->sec == SEC_LISTENER ? p->l : NULL;
	p->last_ld = p->sec == SEC_LDAP ? p->ld : NULL;
	p->last_mi = p->sec == SEC_MILTER ? p->mi : NULL;
set:
	if (conf_set(k, base, value, cont, why, sizeof(why)) == -1) {
		conf_error(p, p->lineno, "%s%s: %s", lpre, k->name, why);
		p->last = NULL;
		return 0;
	}
	return 1;
}

/*
 * After the whole file: listeners and rules that span knobs.
 */

static void
listener_derive(struct conf_parse *p, struct conf_listener *l, const int *seen)
{
	int have_tls = p->c->tls_cert[0] != '\0';
	static const int ports[] = {
		[ROLE_MX] = 25,
		[ROLE_SUBMISSION] = 587,
		[ROLE_SUBMISSIONS] = 465,
	};
	int mx = l->role == ROLE_MX;

	if (!seen[LK_PORT])
		l->port = ports[l->role];
	if (!seen[LK_AUTH])
		l->auth = !mx;
	if (!seen[LK_AUTH_REQUIRED])
		l->auth_required = !mx;
	if (!seen[LK_AUTH_RELAY])
		l->auth_relay = !mx;
	if (!seen[LK_STARTTLS])
		l->starttls = mx ? have_tls : l->role == ROLE_SUBMISSION;
	if (!seen[LK_TLS_REQUIRED])
		l->tls_required = !mx;
}

/*
 * The local submission listener: no TLS (a local socket), no AUTH (the
 * user is the peer's uid, SO_PEERCRED), and its users relay as
 * authenticated users do.
 */
static void
submit_listener_derive(struct conf *c)
{
	struct conf_listener *l = &c->submit_listener;

	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "local");
	l->role = ROLE_LOCAL;
	l->auth_relay = 1;
}

/* rules for one listener; the first broken one is the error */
static void
listener_check(struct conf_parse *p, const struct conf_listener *l)
{
	const char *role = conf_role_name(l->role);
	int have_tls = p->c->tls_cert[0] != '\0';
	int implicit = l->role == ROLE_SUBMISSIONS;

	if (!have_tls && l->role != ROLE_MX)
		conf_error(p, l->line, "listener %s: role %s needs tls_cert "
		    "and tls_key", l->name, role);
	else if (!have_tls && l->auth)
		conf_error(p, l->line, "listener %s: auth needs tls_cert and "
		    "tls_key", l->name);
	else if (!have_tls && l->starttls)
		conf_error(p, l->line, "listener %s: starttls needs tls_cert "
		    "and tls_key", l->name);
	else if (implicit && l->starttls)
		conf_error(p, l->line, "listener %s: starttls with role "
		    "submissions, which speaks TLS from the first byte",
		    l->name);
	else if (!implicit && l->tls_required && !l->starttls)
		conf_error(p, l->line, "listener %s: tls_required needs "
		    "starttls", l->name);
	else if (!implicit && l->auth && !l->starttls)
		conf_error(p, l->line, "listener %s: auth needs starttls "
		    "(AUTH is offered only inside TLS)", l->name);
	else if (l->auth_required && !l->auth)
		conf_error(p, l->line, "listener %s: auth_required needs auth",
		    l->name);
	else if (l->auth_relay && !l->auth)
		conf_error(p, l->line, "listener %s: auth_relay needs auth",
		    l->name);
}

static const char *nets_catch_all(const struct cidr *, size_t,
    const struct cidr **);

/*
 * A PROXY header sets the client address, so only the load balancers
 * may send one: proxy_from is required, and may not take in everyone.
 */
static void
listener_check_proxy(struct conf_parse *p, const struct conf_listener *l,
    const int *seen)
{
	const struct cidr *one;
	const char *what;
	char buf[CIDR_STRLEN];

	if (l->proxy_protocol == 0)
		return;
	if (l->n_proxy_from == 0) {
		conf_error(p, seen[LK_PROXY_PROTOCOL], "listener %s: "
		    "proxy_protocol needs proxy_from (the load balancers' "
		    "networks)", l->name);
		return;
	}
	if ((what = nets_catch_all(l->proxy_from, l->n_proxy_from,
	    &one)) == NULL)
		return;
	if (one != NULL)
		conf_error(p, seen[LK_PROXY_FROM], "listener %s: proxy_from: "
		    "'%s' covers %s (any host could claim any client "
		    "address)", l->name, cidr_format(one, buf, sizeof(buf)),
		    what);
	else
		conf_error(p, seen[LK_PROXY_FROM], "listener %s: proxy_from: "
		    "together cover %s (any host could claim any client "
		    "address)", l->name, what);
}

static int
is_wildcard(const uint8_t bin[16])
{
	static const uint8_t zero[16];

	return memcmp(bin, zero, sizeof(zero)) == 0;
}

/* two sockets that cannot both be bound: same port, same family, overlap */
static void
listener_clash(struct conf_parse *p, size_t n)
{
	const struct conf_listener *a, *b = &p->c->listeners[n];
	uint8_t ba[16], bb[16];
	int fa, fb;
	size_t i;

	if (parse_addr(b->address, &fb, bb, NULL, 0) == -1)
		fatalx("%s: listener %s: address %s", __func__, b->name,
		    b->address);
	for (i = 0; i < n; i++) {
		a = &p->c->listeners[i];
		if (a->port != b->port ||
		    parse_addr(a->address, &fa, ba, NULL, 0) == -1 || fa != fb)
			continue;
		if (memcmp(ba, bb, sizeof(ba)) == 0)
			conf_error(p, b->line, "listener %s: %s port %d is "
			    "already used by listener %s (line %d)", b->name,
			    b->address, b->port, a->name, a->line);
		else if (is_wildcard(ba) || is_wildcard(bb))
			conf_error(p, b->line, "listener %s: %s port %d "
			    "overlaps listener %s on %s port %d (line %d)",
			    b->name, b->address, b->port, a->name, a->address,
			    a->port, a->line);
	}
}

/* 1 when the union of nets takes in every address of target */
static int
nets_cover(const struct cidr *nets, size_t n, const struct cidr *target)
{
	struct cidr half;
	int inside = 0;

	for (size_t i = 0; i < n; i++) {
		if (nets[i].prefix <= target->prefix &&
		    cidr_contains(&nets[i], target->addr))
			return 1;
		/* a smaller network within target: its halves may be covered */
		if (nets[i].prefix > target->prefix &&
		    cidr_contains(target, nets[i].addr))
			inside = 1;
	}
	if (!inside || target->prefix >= 128)
		return 0;
	half = *target;
	half.prefix++;
	if (!nets_cover(nets, n, &half))
		return 0;
	half.addr[target->prefix / 8] |= (uint8_t)(0x80 >> (target->prefix % 8));
	return nets_cover(nets, n, &half);
}

/*
 * nets_catch_all - whether nets take in every IPv4 address (0.0.0.0/0,
 * ::/0, ::ffff:0:0/96, 0.0.0.0/1 with 128.0.0.0/1, ...) or every global
 * IPv6 address (2000::/3): NULL if not, else which, with the one network
 * that does it alone in *one (NULL: only together)
 */
static const char *
nets_catch_all(const struct cidr *nets, size_t n, const struct cidr **one)
{
	static const struct { const char *net, *what; } everything[] = {
		{ "0.0.0.0/0", "every IPv4 address" },
		{ "2000::/3", "every global IPv6 address" },
	};
	struct cidr all;

	for (size_t e = 0; e < sizeof(everything) / sizeof(everything[0]);
	    e++) {
		if (cidr_parse(everything[e].net, &all, NULL) == -1)
			fatalx("%s: %s", __func__, everything[e].net);
		if (!nets_cover(nets, n, &all))
			continue;
		*one = NULL;
		for (size_t i = 0; i < n && *one == NULL; i++)
			if (nets_cover(&nets[i], 1, &all))
				*one = &nets[i];
		return everything[e].what;
	}
	return NULL;
}

/* relay_networks that take in the whole Internet make an open relay */
static void
relay_catch_all(struct conf_parse *p, int line)
{
	const struct conf *c = p->c;
	const struct cidr *one;
	const char *what;
	char buf[CIDR_STRLEN];

	if ((what = nets_catch_all(c->relay_networks, c->n_relay_networks,
	    &one)) == NULL)
		return;
	if (one != NULL)
		conf_error(p, line, "relay_networks: '%s' covers %s (an open "
		    "relay); list your own servers' networks",
		    cidr_format(one, buf, sizeof(buf)), what);
	else
		conf_error(p, line, "relay_networks: together cover %s (an "
		    "open relay); list your own servers' networks", what);
}

/*
 * A relative path means the same from wherever moat starts: it is
 * resolved against the directory of the file that says it (p->base).
 * The n knobs of tab in base, set on lines[i]; pre starts a message.
 */
static void
resolve_table_paths(struct conf_parse *p, const struct conf_knob *tab,
    size_t n, void *base, const int *lines, const char *pre)
{
	char buf[CONF_PATH_MAX], q[80];
	int w;

	for (size_t i = 0; i < n && p->base != NULL; i++) {
		const struct conf_knob *k = &tab[i];
		char *val = kptr(k, base);

		if (k->type != CT_PATH || val[0] == '\0' || val[0] == '/')
			continue;
		w = snprintf(buf, sizeof(buf), "%s/%s", p->base, val);
		if (w < 0 || (size_t)w >= k->size || (size_t)w >= sizeof(buf)) {
			conf_error(p, lines[i], "%s%s: '%s' below %s is longer "
			    "than %zu characters", pre, k->name, quote(q,
			    sizeof(q), val, strlen(val)), p->base, k->size - 1);
			return;
		}
		memcpy(val, buf, (size_t)w + 1);
	}
}

static void
resolve_paths(struct conf_parse *p)
{
	resolve_table_paths(p, knobs, NKNOBS, p->c, p->seen, "");
}

/* a [milter NAME] section: its socket is required */
static void
milter_check(struct conf_parse *p, struct conf_milter *m)
{
	if (m->knob_line[MK_SOCKET] == 0) {
		conf_error(p, m->line, "milter %s: socket is required",
		    m->name);
		return;
	}
	m->action = strcmp(m->default_action, "accept") == 0 ?
	    CONF_MILTER_ACCEPT : CONF_MILTER_TEMPFAIL;
}

/* a listener's milters: each names a [milter] section, each once */
static void
listener_milters(struct conf_parse *p, struct conf_listener *l, int line)
{
	const char *q = l->milters;

	l->n_milters = 0;
	while (*q != '\0') {
		size_t len = strcspn(q, ",");
		char *name = l->milter_names[l->n_milters];

		memcpy(name, q, len);
		name[len] = '\0';
		if (conf_milter_find(p->c, name) == NULL) {
			conf_error(p, line, "listener %s: milters: no section "
			    "[milter %s]", l->name, name);
			return;
		}
		for (size_t i = 0; i < l->n_milters; i++)
			if (strcmp(l->milter_names[i], name) == 0) {
				conf_error(p, line, "listener %s: milters: %s "
				    "named twice", l->name, name);
				return;
			}
		l->n_milters++;
		q += len;
		while (*q == ',' || *q == ' ')
			q++;
	}
}

/*
 * An [ldap NAME] section: its required knobs, and tls that fits every
 * server. tls = none sends the bind password and every recipient in
 * clear, so it is only for a server on this host.
 */
static void
ldap_check(struct conf_parse *p, struct conf_ldap *l)
{
	static const int required[] = { DK_SERVERS, DK_BASE, DK_FILTER };
	struct ldap_uri u;
	const char *why;
	char q[80];
	int tline = l->knob_line[DK_TLS] ? l->knob_line[DK_TLS] :
	    l->knob_line[DK_SERVERS];

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (l->knob_line[required[i]] == 0) {
			conf_error(p, l->line, "ldap %s: %s is required",
			    l->name, dknobs[required[i]].name);
			return;
		}
	for (size_t i = 0; i < l->n_servers; i++) {
		if (ldap_uri_parse(l->servers[i], &u, &why) == -1)
			fatalx("%s: %s", __func__, l->servers[i]);
		quote(q, sizeof(q), l->servers[i], strlen(l->servers[i]));
		if (strcmp(l->tls, "ldaps") == 0 && !u.ldaps)
			conf_error(p, tline, "ldap %s: tls = ldaps needs "
			    "ldaps:// servers, not '%s'", l->name, q);
		else if (strcmp(l->tls, "starttls") == 0 && u.ldaps)
			conf_error(p, tline, "ldap %s: tls = starttls needs "
			    "ldap:// servers; '%s' speaks TLS from the first "
			    "byte (tls = ldaps)", l->name, q);
		else if (strcmp(l->tls, "none") == 0 && u.ldaps)
			conf_error(p, tline, "ldap %s: tls = none with the "
			    "ldaps:// server '%s'", l->name, q);
		else if (strcmp(l->tls, "none") == 0 && !u.loopback)
			conf_error(p, tline, "ldap %s: tls = none would send "
			    "the bind password and the recipients in clear "
			    "to '%s'; only a loopback server may go without "
			    "TLS (use starttls or ldaps)", l->name, q);
		if (p->failed)
			return;
	}
	snprintf(q, sizeof(q), "ldap %s: ", l->name);
	resolve_table_paths(p, dknobs, DK_COUNT, l, l->knob_line, q);
}

/* the row of knob name in knobs[] */
static size_t
knob_index(const char *name)
{
	for (size_t i = 0; i < NKNOBS; i++)
		if (strcmp(knobs[i].name, name) == 0)
			return i;
	fatalx("%s: no knob %s", __func__, name);
}

/* "DOMAIN=..." or "DOMAIN": the domain into buf */
static const char *
item_domain(const char *item, char *buf, size_t len)
{
	size_t n = strcspn(item, "=");

	snprintf(buf, len, "%.*s", (int)n, item);
	return buf;
}

/* the domain of list item i of knob k appears again later in it */
static int
domain_repeated(char *const *items, size_t n, size_t i)
{
	char a[256], b[256];

	item_domain(items[i], a, sizeof(a));
	for (size_t j = 0; j < i; j++)
		if (strcmp(item_domain(items[j], b, sizeof(b)), a) == 0)
			return 1;
	return 0;
}

/* add domain (lowercased already) to c->lookup_domains once; -1 no memory */
static int
lookup_domain_add(struct conf *c, const char *domain)
{
	char **v;

	for (size_t i = 0; i < c->n_lookup_domains; i++)
		if (strcmp(c->lookup_domains[i], domain) == 0)
			return 0;
	if ((v = reallocarray(c->lookup_domains, c->n_lookup_domains + 1,
	    sizeof(*v))) == NULL)
		return -1;
	c->lookup_domains = v;
	if ((v[c->n_lookup_domains] = strdup(domain)) == NULL)
		return -1;
	c->n_lookup_domains++;
	return 0;
}

/*
 * [domains]: each domain a recipient source names is one of ours
 * (recipient_verify: a routed one), a user@domain mailbox is in a local
 * domain, relative table paths go below p->base; the routed domains
 * with a source are collected in c->lookup_domains for relay_decide.
 */
static void
recipients_finish(struct conf_parse *p)
{
	static const char *lists[] = { "recipient_tables", "recipient_ldap",
	    "recipient_verify" };
	struct conf *c = p->c;
	struct relay_table t;
	char d[256], q[80], buf[CONF_PATH_MAX];
	size_t k;

	conf_relay_table(c, &t);
	k = knob_index("mailboxes");
	for (size_t i = 0; i < c->n_mailboxes; i++) {
		const char *at = strchr(c->mailboxes[i], '@');

		if (at != NULL && !relay_is_local_domain(&t, at + 1)) {
			conf_error(p, p->seen[k], "mailboxes: '%s': %s is not "
			    "one of local_domains", quote(q, sizeof(q),
			    c->mailboxes[i], strlen(c->mailboxes[i])), at + 1);
			return;
		}
	}
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		const struct conf_knob *kn = &knobs[k = knob_index(lists[l])];
		char **items = list_arr(kn, c);
		size_t n = list_count(kn, c);
		int verify = l == 2;

		for (size_t i = 0; i < n; i++) {
			int local, routed;

			item_domain(items[i], d, sizeof(d));
			local = relay_is_local_domain(&t, d);
			routed = relay_is_routed_domain(&t, d);
			if (domain_repeated(items, n, i)) {
				conf_error(p, p->seen[k], "%s: %s is listed "
				    "twice", kn->name, d);
				return;
			}
			if (verify ? !routed || local : !routed && !local) {
				conf_error(p, p->seen[k], "%s: %s is not %s",
				    kn->name, d, verify ? "a routed domain "
				    "([delivery] routes): only an internal "
				    "server can be asked" : "one of "
				    "local_domains nor a routed domain");
				return;
			}
			if (l == 1 && conf_ldap_find(c,
			    strchr(items[i], '=') + 1) == NULL) {
				conf_error(p, p->seen[k], "%s: %s: there is no "
				    "section [ldap %s]", kn->name, d,
				    strchr(items[i], '=') + 1);
				return;
			}
			if (routed && !local && lookup_domain_add(c, d) == -1) {
				conf_error(p, 0, "out of memory");
				return;
			}
			/* a relative table path: below the file's directory */
			if (l == 0 && p->base != NULL &&
			    strchr(items[i], '=')[1] != '/') {
				int w = snprintf(buf, sizeof(buf), "%s=%s/%s", d,
				    p->base, strchr(items[i], '=') + 1);
				char *dup;

				if (w < 0 || (size_t)w >= sizeof(buf) ||
				    (dup = strdup(buf)) == NULL) {
					conf_error(p, p->seen[k], "%s: the path "
					    "of %s below %s is too long",
					    kn->name, d, p->base);
					return;
				}
				free(items[i]);
				items[i] = dup;
			}
		}
	}
}

/* the line that set a fixed-section knob, 0: its default */
static int
knob_seen(const struct conf_parse *p, const char *name)
{
	return p->seen[knob_index(name)];
}

/*
 * tls_certificates: only beside tls_cert (the default pair), at most
 * CONF_TLS_PAIRS_MAX pairs in all, relative paths below p->base;
 * tls_protocols: at least one.
 */
static void
tls_finish(struct conf_parse *p)
{
	struct conf *c = p->c;
	int line = knob_seen(p, "tls_certificates");
	char buf[2 * CONF_PATH_MAX + 2], *dup, *colon;
	const char *cert, *key;
	int w;

	if (c->n_tls_protocols == 0) {
		conf_error(p, knob_seen(p, "tls_protocols"), "tls_protocols: "
		    "name TLSv1.2, TLSv1.3 or both");
		return;
	}
	if (c->n_tls_certificates == 0)
		return;
	if (c->tls_cert[0] == '\0') {
		conf_error(p, line, "tls_certificates needs tls_cert and "
		    "tls_key (the default pair)");
		return;
	}
	if (c->n_tls_certificates + 1 > CONF_TLS_PAIRS_MAX) {
		conf_error(p, line, "tls_certificates: %zu pairs, at most %d "
		    "with tls_cert", c->n_tls_certificates,
		    CONF_TLS_PAIRS_MAX);
		return;
	}
	for (size_t i = 0; i < c->n_tls_certificates && p->base != NULL; i++) {
		colon = strchr(c->tls_certificates[i], ':');
		*colon = '\0';
		cert = c->tls_certificates[i];
		key = colon + 1;
		w = snprintf(buf, sizeof(buf), "%s%s%s:%s%s%s",
		    cert[0] == '/' ? "" : p->base, cert[0] == '/' ? "" : "/", cert,
		    key[0] == '/' ? "" : p->base, key[0] == '/' ? "" : "/", key);
		*colon = ':';
		if (w < 0 || (size_t)w >= sizeof(buf) ||
		    (dup = strdup(buf)) == NULL) {
			conf_error(p, line, "tls_certificates: the paths below "
			    "%s are too long", p->base);
			return;
		}
		free(c->tls_certificates[i]);
		c->tls_certificates[i] = dup;
	}
}

/* conf_tls_pairs - tls_cert/tls_key, then tls_certificates */
size_t
conf_tls_pairs(const struct conf *c, struct conf_tls_pair *out, size_t max)
{
	size_t n = 0;

	if (c->tls_cert[0] == '\0')
		return 0;
	if (n < max) {
		snprintf(out[n].cert, sizeof(out[n].cert), "%s", c->tls_cert);
		snprintf(out[n].key, sizeof(out[n].key), "%s", c->tls_key);
		out[n].knob = "tls_cert";
		n++;
	}
	for (size_t i = 0; i < c->n_tls_certificates && n < max; i++, n++) {
		const char *item = c->tls_certificates[i];
		size_t clen = strcspn(item, ":");

		snprintf(out[n].cert, sizeof(out[n].cert), "%.*s", (int)clen,
		    item);
		snprintf(out[n].key, sizeof(out[n].key), "%s", item + clen + 1);
		out[n].knob = "tls_certificates";
	}
	return n;
}

/* conf_tls_opts - the tls_* knobs as tls_server_ctx_new takes them */
void
conf_tls_opts(const struct conf *c, struct tls_opts *o)
{
	o->min_version = TLS1_3_VERSION;
	o->max_version = TLS1_2_VERSION;
	for (size_t i = 0; i < c->n_tls_protocols; i++) {
		int v = tls_protocol_version(c->tls_protocols[i]);

		if (v < o->min_version)
			o->min_version = v;
		if (v > o->max_version)
			o->max_version = v;
	}
	o->ciphers = c->tls_ciphers;
	o->ciphersuites = c->tls_ciphersuites;
	o->ticket_lifetime = c->tls_ticket_lifetime;
}

/* metrics off loopback are for the networks metrics_allow names only */
static void
metrics_open(struct conf_parse *p)
{
	const struct conf *c = p->c;
	char addr[64];
	int port, loopback;

	if (c->metrics_listen[0] == '\0' || c->n_metrics_allow > 0 ||
	    control_http_parse_listen(c->metrics_listen, addr, sizeof(addr),
	    &port, &loopback) == -1 || loopback)
		return;
	conf_error(p, knob_seen(p, "metrics_listen"), "metrics_listen: %s is "
	    "not a loopback address; set metrics_allow to the networks that "
	    "may scrape it", addr);
}

/*
 * without TLS the console is plain HTTP: a password and a session
 * cookie in clear text have no business off loopback (an SSH tunnel
 * reaches it)
 */
static void
console_open(struct conf_parse *p)
{
	const struct conf *c = p->c;
	char addr[64];
	int port, loopback;

	if ((c->console_tls_cert[0] == '\0') !=
	    (c->console_tls_key[0] == '\0')) {
		conf_error(p, knob_seen(p, c->console_tls_cert[0] != '\0' ?
		    "console_tls_cert" : "console_tls_key"),
		    "console_tls_cert and console_tls_key must be set together");
		return;
	}
	if (c->console_client_ca[0] != '\0' && c->console_tls_cert[0] == '\0') {
		conf_error(p, knob_seen(p, "console_client_ca"),
		    "console_client_ca needs console_tls_cert and "
		    "console_tls_key (client certificates come over TLS)");
		return;
	}
	if (c->console_listen[0] == '\0' || c->console_tls_cert[0] != '\0' ||
	    control_http_parse_listen(c->console_listen, addr, sizeof(addr),
	    &port, &loopback) == -1 || loopback)
		return;
	conf_error(p, knob_seen(p, "console_listen"), "console_listen: %s is "
	    "not a loopback address; without console_tls_cert and "
	    "console_tls_key the console speaks plain HTTP, so only "
	    "loopback is allowed (reach it through an SSH tunnel)", addr);
}

static void
conf_finish(struct conf_parse *p)
{
	struct conf *c = p->c;
	struct conf_listener *l;
	size_t i, icert = 0, ikey = 0, irelay = 0;

	for (i = 0; i < NKNOBS; i++) {
		if (strcmp(knobs[i].name, "tls_cert") == 0)
			icert = i;
		if (strcmp(knobs[i].name, "tls_key") == 0)
			ikey = i;
		if (strcmp(knobs[i].name, "relay_networks") == 0)
			irelay = i;
	}
	relay_catch_all(p, p->seen[irelay]);
	metrics_open(p);
	console_open(p);
	resolve_paths(p);
	if (!p->failed)
		recipients_finish(p);
	if (p->failed)
		return;
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
		conf_error(p, p->seen[icert] ? p->seen[icert] : p->seen[ikey],
		    "tls_cert and tls_key must be set together");
		return;
	}
	tls_finish(p);
	if (p->failed)
		return;
	if ((c->tls_client_cert[0] == '\0') != (c->tls_client_key[0] == '\0')) {
		conf_error(p, knob_seen(p, c->tls_client_cert[0] != '\0' ?
		    "tls_client_cert" : "tls_client_key"),
		    "tls_client_cert and tls_client_key must be set together");
		return;
	}
	submit_listener_derive(c);
	if (c->n_listeners == 0) {
		/* the built-in listener, as if written in the file */
		l = listener_new(p, "smtp", 0);
		if (l == NULL ||
		    conf_default(p, &lknobs[LK_ADDRESS], l, "127.0.0.1") ||
		    conf_default(p, &lknobs[LK_PORT], l, "2525"))
			return;
		p->lseen[0][LK_ADDRESS] = p->lseen[0][LK_PORT] = -1;
	}
	for (i = 0; i < c->n_listeners && !p->failed; i++) {
		l = &c->listeners[i];
		if (!p->lseen[i][LK_ADDRESS]) {
			conf_error(p, l->line, "listener %s: address is "
			    "required", l->name);
			return;
		}
		listener_derive(p, l, p->lseen[i]);
		listener_check(p, l);
		if (!p->failed)
			listener_check_proxy(p, l, p->lseen[i]);
		listener_clash(p, i);
	}
	for (i = 0; i < c->n_ldap && !p->failed; i++)
		ldap_check(p, &c->ldap[i]);
	for (i = 0; i < c->n_milter && !p->failed; i++)
		milter_check(p, &c->milter[i]);
	for (i = 0; i < c->n_listeners && !p->failed; i++)
		listener_milters(p, &c->listeners[i], p->lseen[i][LK_MILTERS]);
}

/*
 * file names the text in messages; path goes into c->path; base is the
 * directory relative paths are resolved against (NULL: left relative).
 */
static struct conf *
conf_parse_text(const char *text, const char *file, const char *path,
    const char *base, char *err, size_t errlen)
{
	struct conf_parse *p;
	struct conf *c = NULL;
	int r;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", file);
		free(p);
		return NULL;
	}
	p->c = c;
	p->file = file;
	p->text = text;
	p->base = base;
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (conf_defaults(p) == 0) {
		r = ini_parse_stream(conf_reader, p, conf_handler, p);
		if (r > 0 && (!p->failed || r < p->err_line)) {
			p->failed = 0;
			conf_error(p, r, "syntax error%s%s",
			    r == p->syntax_line ? ": " : "",
			    r == p->syntax_line ? p->syntax_why : "");
		} else if (r < 0)
			conf_error(p, 0, "out of memory");
	}
	if (!p->failed)
		conf_finish(p);
	for (size_t i = 0; i < NKNOBS; i++)
		c->knob_line[i] = p->seen[i];
	for (size_t i = 0; i < c->n_listeners; i++)
		memcpy(c->listeners[i].knob_line, p->lseen[i],
		    sizeof(p->lseen[i]));
	if (p->failed) {
		snprintf(err, errlen, "%s", p->err);
		conf_free(c);
		c = NULL;
	}
	free(p);
	return c;
}

/* conf_knob_line - where a knob was set, 0: its default */
int
conf_knob_line(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < NKNOBS; i++)
		if (strcmp(knobs[i].name, name) == 0)
			return c->knob_line[i];
	return 0;
}

/*
 * abs_path - path made absolute against the current directory, and the
 * directory it is in; -1 when the current directory is unknown or the
 * result too long.
 */
static int
abs_path(const char *path, char abs[CONF_PATH_MAX], char dir[CONF_PATH_MAX])
{
	char cwd[CONF_PATH_MAX];
	char *slash;
	int n;

	if (path[0] == '/')
		n = snprintf(abs, CONF_PATH_MAX, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	else
		n = snprintf(abs, CONF_PATH_MAX, "%s/%s", strcmp(cwd, "/") ?
		    cwd : "", path);
	if (n < 0 || n >= CONF_PATH_MAX)
		return -1;
	memcpy(dir, abs, (size_t)n + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';	/* a file in / */
	else
		*slash = '\0';
	return 0;
}

/*
 * conf_load - read path (NULL: the built-in defaults, the blacklist
 * watch off) into a new conf.
 * Relative paths in the file are below the file's directory, those of
 * the built-in defaults below the current directory; c->path is
 * absolute, so a child that parses the text again gets the same paths.
 */
struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
	return conf_load_text(path, NULL, NULL, err, errlen);
}

/*
 * conf_load_defaults - every knob at its default, relative paths below
 * path's directory as they would be for that file (moat config -d)
 */
struct conf *
conf_load_defaults(const char *path, char *err, size_t errlen)
{
	char abs[CONF_PATH_MAX], dir[CONF_PATH_MAX];

	if (abs_path(path, abs, dir) == -1) {
		snprintf(err, errlen, "%s: cannot make the path absolute: %s",
		    path, strerror(errno));
		return NULL;
	}
	return conf_parse_text("", "(defaults)", abs, dir, err, errlen);
}

/*
 * conf_load_text - conf_load that also hands back the text it parsed
 * (NUL-ended, *lenp bytes; the caller frees it): what is sent on to
 * others is exactly what was checked, however the file changes after.
 */
struct conf *
conf_load_text(const char *path, char **textp, size_t *lenp, char *err,
    size_t errlen)
{
	struct conf *c = NULL;
	FILE *fp;
	char *buf = NULL, *nul;
	char abs[CONF_PATH_MAX], dir[CONF_PATH_MAX];
	size_t len = 0, n;
	int line;

	if (path == NULL) {
		if (getcwd(dir, sizeof(dir)) == NULL) {
			snprintf(err, errlen, "(builtin): current directory: "
			    "%s", strerror(errno));
			return NULL;
		}
		/* the built-in configuration (make run) is for trying moat
		 * out: it asks no DNS blacklist about the machine */
		return conf_parse_text("[delivery]\nblacklist_watch = no\n",
		    "(builtin)", "(builtin)", dir, err, errlen);
	}
	if (abs_path(path, abs, dir) == -1) {
		snprintf(err, errlen, "%s: cannot make the path absolute: %s",
		    path, strerror(errno));
		return NULL;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto done;
	}
	while (len <= CONF_FILE_MAX &&
	    (n = fread(buf + len, 1, CONF_FILE_MAX + 1 - len, fp)) > 0)
		len += n;
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		goto done;
	}
	if (len > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONF_FILE_MAX);
		goto done;
	}
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		line = 1;
		for (n = 0; buf + n < nul; n++)
			line += buf[n] == '\n';
		snprintf(err, errlen, "%s:%d: NUL byte", path, line);
		goto done;
	}
	buf[len] = '\0';
	c = conf_parse_text(buf, path, abs, dir, err, errlen);
	if (c != NULL && textp != NULL) {
		*textp = buf;
		*lenp = len;
		buf = NULL;
	}
done:
	free(buf);
	fclose(fp);
	return c;
}

/*
 * conf_load_string - conf_load from memory; name is used in messages,
 * and an absolute name (a reload's c->path) places relative paths below
 * its directory as conf_load did
 */
struct conf *
conf_load_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	char abs[CONF_PATH_MAX], dir[CONF_PATH_MAX];
	const char *base = NULL;

	if (name == NULL)
		name = "(string)";
	if (name[0] == '/' && abs_path(name, abs, dir) == 0)
		base = dir;
	return conf_parse_text(text != NULL ? text : "", name, name, base,
	    err, errlen);
}

/* conf_load_bytes - same, from len bytes that need not end in a NUL */
struct conf *
conf_load_bytes(const void *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct conf *c;
	char *copy;

	if ((copy = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	c = conf_load_string(copy, name, err, errlen);
	free(copy);
	return c;
}

/* conf_free - release c and the lists it owns; NULL is fine */
void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKNOBS; i++)
		if (knobs[i].type == CT_LIST || knobs[i].type == CT_CIDRS)
			list_clear(&knobs[i], c);
	for (i = 0; i < c->n_ldap; i++)
		list_clear(&dknobs[DK_SERVERS], &c->ldap[i]);
	for (i = 0; i < c->n_lookup_domains; i++)
		free(c->lookup_domains[i]);
	free(c->lookup_domains);
	free(c);
}

/*
 * Printing.
 */

static void
fmt_scalar(const struct conf_knob *k, const void *base, char *buf, size_t len)
{
	long long v;

	switch (k->type) {
	case CT_STRING:
	case CT_PATH:
	case CT_HOSTNAME:
	case CT_ADDR:
		snprintf(buf, len, "%s", (const char *)kcptr(k, base));
		return;
	case CT_INT:
	case CT_SIZE:
	case CT_DUR:
	case CT_DUR_MS:
		fmt_num(k, load_num(k, base), buf, len);
		return;
	case CT_BOOL:
		snprintf(buf, len, "%s", load_num(k, base) ? "yes" : "no");
		return;
	case CT_LEVEL:
		snprintf(buf, len, "%s",
		    log_level_name((enum log_level)load_num(k, base)));
		return;
	case CT_ROLE:
		v = load_num(k, base);
		snprintf(buf, len, "%s",
		    conf_role_name((enum listener_role)v));
		return;
	case CT_PROXY:
		v = load_num(k, base);
		for (size_t i = 0; i < sizeof(proxy_names) /
		    sizeof(proxy_names[0]); i++)
			if (proxy_names[i].value == v) {
				snprintf(buf, len, "%s", proxy_names[i].name);
				return;
			}
		break;
	case CT_LIST:
	case CT_CIDRS:
	case CT_NETS:
		break;
	}
	fatalx("%s: %s: type %d", __func__, k->name, (int)k->type);
}

/* item i of a list knob as text (a network formatted into buf) */
static const char *
list_item(const struct conf_knob *k, const void *base, size_t i, char *buf,
    size_t len)
{
	if (k->type == CT_CIDRS)
		return cidr_format(&((const struct cidr *)list_arr(k, base))[i],
		    buf, len);
	if (k->type == CT_NETS)
		return cidr_format(&((const struct cidr *)kcptr(k, base))[i],
		    buf, len);
	return ((char *const *)list_arr(k, base))[i];
}

/* "name = value", folding lists onto indented lines that re-parse */
static void
print_knob(FILE *fp, const struct conf_knob *k, const void *base)
{
	char buf[CONF_PATH_MAX + 64];
	const char *item;
	size_t i, n, col, ilen, on_line = 0;

	if (k->type != CT_LIST && k->type != CT_CIDRS && k->type != CT_NETS) {
		fmt_scalar(k, base, buf, sizeof(buf));
		/* keep within the line limit a value that came in with "k=v" */
		if (buf[0] == '\0')
			fprintf(fp, "%s =\n", k->name);
		else if (strlen(k->name) + 3 + strlen(buf) <= CONF_LINE_MAX)
			fprintf(fp, "%s = %s\n", k->name, buf);
		else
			fprintf(fp, "%s=%s\n", k->name, buf);
		return;
	}
	n = list_count(k, base);
	col = (size_t)fprintf(fp, "%s =", k->name);
	for (i = 0; i < n; i++) {
		item = list_item(k, base, i, buf, sizeof(buf));
		ilen = strlen(item);
		if (i > 0) {
			fputc(',', fp);
			col++;
		}
		if (col + 1 + ilen <= CONF_WRAP ||
		    (on_line == 0 && col + 1 + ilen <= CONF_LINE_MAX)) {
			fprintf(fp, " %s", item);
			col += 1 + ilen;
			on_line++;
		} else {
			fprintf(fp, "\n\t%s", item);
			col = 8 + ilen;
			on_line = 1;
		}
	}
	fputc('\n', fp);
}

/* conf_print - the effective configuration, in the file's own syntax */
void
conf_print(const struct conf *c, FILE *fp)
{
	const char *sec = NULL;
	size_t i, j;

	for (i = 0; i < NKNOBS; i++) {
		if (sec == NULL || strcmp(sec, knobs[i].section) != 0) {
			fprintf(fp, "%s[%s]\n", sec != NULL ? "\n" : "",
			    knobs[i].section);
			sec = knobs[i].section;
		}
		print_knob(fp, &knobs[i], c);
	}
	for (i = 0; i < c->n_listeners; i++) {
		fprintf(fp, "\n[listener %s]\n", c->listeners[i].name);
		for (j = 0; j < LK_COUNT; j++)
			print_knob(fp, &lknobs[j], &c->listeners[i]);
	}
	for (i = 0; i < c->n_ldap; i++) {
		fprintf(fp, "\n[ldap %s]\n", c->ldap[i].name);
		for (j = 0; j < DK_COUNT; j++)
			print_knob(fp, &dknobs[j], &c->ldap[i]);
	}
	for (i = 0; i < c->n_milter; i++) {
		fprintf(fp, "\n[milter %s]\n", c->milter[i].name);
		for (j = 0; j < MK_COUNT; j++)
			print_knob(fp, &mknobs[j], &c->milter[i]);
	}
}

/* print_knob into a new string (free it); NULL: out of memory */
static char *
knob_text(const struct conf_knob *k, const void *base)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	print_knob(fp, k, base);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* conf_print_changed - the knobs that differ from the defaults */
int
conf_print_changed(const struct conf *c, FILE *fp)
{
	char err[CONF_PATH_MAX + 256], *a, *b;
	const char *sec = NULL;
	struct conf *d;
	size_t i, j;
	int blank = 0;

	/* the defaults as a file beside c's would have them: same paths */
	d = c->path[0] == '/' ? conf_load_string("", c->path, err,
	    sizeof(err)) : conf_load(NULL, err, sizeof(err));
	if (d == NULL)
		return -1;
	for (i = 0; i < NKNOBS; i++) {
		a = knob_text(&knobs[i], c);
		b = knob_text(&knobs[i], d);
		if (a == NULL || b == NULL) {
			free(a);
			free(b);
			conf_free(d);
			return -1;
		}
		if (strcmp(a, b) != 0) {
			if (sec == NULL || strcmp(sec, knobs[i].section) != 0) {
				fprintf(fp, "%s[%s]\n", blank ? "\n" : "",
				    knobs[i].section);
				sec = knobs[i].section;
				blank = 1;
			}
			fputs(a, fp);
		}
		free(a);
		free(b);
	}
	conf_free(d);
	for (i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];

		if (l->line == 0)
			continue;	/* the built-in one */
		fprintf(fp, "%s[listener %s]\n", blank ? "\n" : "", l->name);
		blank = 1;
		for (j = 0; j < LK_COUNT; j++)
			if (l->knob_line[j] > 0)
				print_knob(fp, &lknobs[j], l);
	}
	for (i = 0; i < c->n_ldap; i++) {
		fprintf(fp, "%s[ldap %s]\n", blank ? "\n" : "",
		    c->ldap[i].name);
		blank = 1;
		for (j = 0; j < DK_COUNT; j++)
			if (c->ldap[i].knob_line[j] > 0)
				print_knob(fp, &dknobs[j], &c->ldap[i]);
	}
	return 0;
}

/* a value alone: a scalar, or list items joined by ", " */
static void
print_value(FILE *fp, const struct conf_knob *k, const void *base)
{
	char buf[CONF_PATH_MAX + 64];
	size_t n;

	if (k->type != CT_LIST && k->type != CT_CIDRS && k->type != CT_NETS) {
		fmt_scalar(k, base, buf, sizeof(buf));
		fprintf(fp, "%s\n", buf);
		return;
	}
	n = list_count(k, base);
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s%s", i ? ", " : "", list_item(k, base, i, buf,
		    sizeof(buf)));
	fputc('\n', fp);
}

/* name in tab[0..n) (section NULL: any), or NULL */
static const struct conf_knob *
knob_find(const struct conf_knob *tab, size_t n, const char *section,
    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i].name, name) == 0 && (section == NULL ||
		    strcmp(tab[i].section, section) == 0))
			return &tab[i];
	return NULL;
}

/* conf_print_value - one knob's value, by NAME or SECTION[.NAME].KNOB */
int
conf_print_value(const struct conf *c, const char *name, FILE *fp)
{
	char buf[256], *dot, *dot2;
	const struct conf_knob *k;

	if (strlen(name) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", name);
	if ((dot = strchr(buf, '.')) == NULL) {
		if ((k = knob_find(knobs, NKNOBS, NULL, buf)) == NULL)
			return -1;
		print_value(fp, k, c);
		return 0;
	}
	*dot++ = '\0';
	if ((dot2 = strrchr(dot, '.')) == NULL) {
		if ((k = knob_find(knobs, NKNOBS, buf, dot)) == NULL)
			return -1;
		print_value(fp, k, c);
		return 0;
	}
	*dot2++ = '\0';
	if (strcmp(buf, "listener") == 0) {
		for (size_t i = 0; i < c->n_listeners; i++)
			if (strcmp(c->listeners[i].name, dot) == 0 &&
			    (k = knob_find(lknobs, LK_COUNT, NULL, dot2)) !=
			    NULL) {
				print_value(fp, k, &c->listeners[i]);
				return 0;
			}
	} else if (strcmp(buf, "ldap") == 0) {
		const struct conf_ldap *l = conf_ldap_find(c, dot);

		if (l != NULL &&
		    (k = knob_find(dknobs, DK_COUNT, NULL, dot2)) != NULL) {
			print_value(fp, k, l);
			return 0;
		}
	}
	return -1;
}

static void
print_doc_knob(FILE *fp, const struct conf_knob *k)
{
	char lo[32], hi[32];

	fprintf(fp, "  %s (%s", k->name, type_names[k->type]);
	if (k->flags & CF_REQUIRED)
		fprintf(fp, ", required");
	else if (k->flags & CF_SYSHOST)
		fprintf(fp, ", default: the system host name");
	else if (k->flags & CF_BYROLE)
		fprintf(fp, ", default: by role");
	else if (k->def != NULL && k->def[0] == '\0')
		fprintf(fp, ", default: empty");
	else if (k->def != NULL)
		fprintf(fp, ", default: %s", k->def);
	if (k->type == CT_INT || k->type == CT_SIZE || k->type == CT_DUR ||
	    k->type == CT_DUR_MS)
		fprintf(fp, ", %s..%s", fmt_num(k, k->min, lo, sizeof(lo)),
		    fmt_num(k, k->max, hi, sizeof(hi)));
	fprintf(fp, ")\n      %s\n", k->doc);
}

/* conf_print_doc - every knob with its type, default, bounds and doc line */
void
conf_print_doc(FILE *fp)
{
	const char *sec = NULL;
	size_t i;

	fprintf(fp, "Relative paths are below the configuration file's "
	    "directory.\nDurations take units (500ms, 30s, 10m, 2h, 7d, "
	    "1h30m); a plain number is\nin the knob's unit. A '#' or ';' "
	    "after white space starts a comment.\n\n");
	for (i = 0; i < NKNOBS; i++) {
		if (sec == NULL || strcmp(sec, knobs[i].section) != 0) {
			fprintf(fp, "%s[%s]\n", sec != NULL ? "\n" : "",
			    knobs[i].section);
			sec = knobs[i].section;
		}
		print_doc_knob(fp, &knobs[i]);
	}
	fprintf(fp, "\n[listener NAME]\n"
	    "  One section per listening socket, at most %d. Without any:\n"
	    "  [listener smtp] address 127.0.0.1, port 2525, role mx.\n",
	    CONF_MAX_LISTENERS);
	for (i = 0; i < LK_COUNT; i++)
		print_doc_knob(fp, &lknobs[i]);
	fprintf(fp, "\n[ldap NAME]\n"
	    "  A directory (LDAP, Active Directory) that recipients are looked\n"
	    "  up in, named by recipient_ldap; at most %d sections.\n",
	    CONF_MAX_LDAP);
	for (i = 0; i < DK_COUNT; i++)
		print_doc_knob(fp, &dknobs[i]);
	fprintf(fp, "\n[milter NAME]\n"
	    "  A mail filter (Sendmail milter protocol 6: rspamd, opendkim,\n"
	    "  clamav-milter) that listeners name in milters; at most %d.\n",
	    CONF_MAX_MILTERS);
	for (i = 0; i < MK_COUNT; i++)
		print_doc_knob(fp, &mknobs[i]);
}

/* conf_milter_find - the [milter NAME] section called name, NULL if none */
const struct conf_milter *
conf_milter_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_milter; i++)
		if (strcmp(c->milter[i].name, name) == 0)
			return &c->milter[i];
	return NULL;
}

/* conf_ldap_find - the [ldap NAME] section called name, NULL if none */
const struct conf_ldap *
conf_ldap_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_ldap; i++)
		if (strcmp(c->ldap[i].name, name) == 0)
			return &c->ldap[i];
	return NULL;
}

/* conf_ldap_knob_line - where knob name of l was set, 0: its default */
int
conf_ldap_knob_line(const struct conf_ldap *l, const char *name)
{
	for (size_t i = 0; i < DK_COUNT; i++)
		if (strcmp(dknobs[i].name, name) == 0)
			return l->knob_line[i];
	return 0;
}

/* conf_relay_table - fill t with views into c (valid while c lives) */
void
conf_relay_table(const struct conf *c, struct relay_table *t)
{
	t->local_domains = c->local_domains;
	t->n_local_domains = c->n_local_domains;
	t->lookup_domains = c->lookup_domains;
	t->n_lookup_domains = c->n_lookup_domains;
	t->lookup_all_routed = c->aliases_file[0] != '\0';
	t->relay_networks = c->relay_networks;
	t->n_relay_networks = c->n_relay_networks;
	t->routes = c->routes;
	t->n_routes = c->n_routes;
}

/* conf_apply_log_levels - set the log module's levels from c */
void
conf_apply_log_levels(const struct conf *c)
{
	int i;

	for (i = 0; i < LOG_CAT_COUNT; i++)
		log_set_level((enum log_cat)i, (enum log_level)c->log_level[i]);
}

/* conf_role_name - "mx", "submission" or "submissions" */
const char *
conf_role_name(enum listener_role r)
{
	if ((size_t)r < sizeof(role_names) / sizeof(role_names[0]))
		return role_names[r];
	if (r == ROLE_LOCAL)
		return "local";
	return "?";
}
