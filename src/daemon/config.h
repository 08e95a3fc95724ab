/*
 * config.h - moat.conf: one table of knobs, parsed with inih.
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include "../lib/cidr.h"
#include "../lib/log.h"
#include "../policy/relay.h"

#define CONF_MAX_LISTENERS	16
#define CONF_MAX_LDAP		16	/* [ldap NAME] sections */
#define CONF_LDAP_KNOBS		12	/* knobs of an [ldap NAME] section */
#define CONF_LISTENER_KNOBS	16	/* knobs of a [listener NAME] section */
#define CONF_MAX_MILTERS	16	/* [milter NAME] sections */
#define CONF_MILTER_KNOBS	8	/* knobs of a [milter NAME] section */
#define CONF_LISTENER_MILTERS	8	/* milters of one listener */
#define CONF_PATH_MAX		1024
#define CONF_TLS_PAIRS_MAX	16	/* tls_cert + tls_certificates */
#define CONF_KNOBS_MAX		192	/* knobs in the table, at most */
#define CONF_PROXY_FROM_MAX	32	/* proxy_from networks of a listener */

enum listener_role {
	ROLE_MX,		/* port 25: inbound for local domains */
	ROLE_SUBMISSION,	/* port 587: STARTTLS, then AUTH, then MAIL */
	ROLE_SUBMISSIONS,	/* port 465: implicit TLS, AUTH required */
	ROLE_LOCAL,		/* submit_socket: moat sendmail, the user is
				 * the peer's uid; never a [listener] role */
};

struct conf_listener {
	char	name[64];		/* from the section "[listener NAME]" */
	enum listener_role role;
	char	address[64];		/* numeric IPv4 or IPv6 */
	int	port;
	int	auth;			/* offer AUTH (only ever inside TLS) */
	int	auth_required;		/* AUTH required before MAIL */
	int	auth_relay;		/* authenticated users may relay */
	int	starttls;		/* offer STARTTLS (needs a certificate) */
	int	tls_required;		/* STARTTLS required before MAIL/AUTH */
	/*
	 * PROXY protocol (io/proxy_proto.h): the versions taken, PROXY_V1
	 * | PROXY_V2 bits, 0: none; only from the proxy_from networks.
	 * Stored in the struct: listeners are copied whole on reload.
	 */
	int	proxy_protocol;
	struct cidr proxy_from[CONF_PROXY_FROM_MAX];
	size_t	n_proxy_from;
	char	milters[512];		/* "NAME, NAME": [milter] sections,
					 * applied in this order */
	char	milter_names[CONF_LISTENER_MILTERS][64];	/* split */
	size_t	n_milters;
	int	line;			/* line of the section header */
	int	knob_line[CONF_LISTENER_KNOBS];	/* set on, 0: derived */
};

/* an [ldap NAME] section: a directory to look recipients up in */
struct conf_ldap {
	char	name[64];		/* from the section "[ldap NAME]" */
	char	**servers;		/* ldap:// or ldaps:// URIs, in order */
	size_t	  n_servers;
	char	tls[16];		/* starttls | ldaps | none */
	char	ca_file[CONF_PATH_MAX];	/* "": the system CA store */
	char	base[512];		/* search base DN */
	char	scope[8];		/* sub | one */
	char	filter[512];		/* template, see lookup/ldap_filter.h */
	char	bind_file[CONF_PATH_MAX];	/* "": anonymous; mode 0600 */
	int	timeout;		/* seconds: connect, bind, each search */
	int	cache_positive;		/* seconds a found address is cached */
	int	cache_negative;		/* seconds an unknown one is cached */
	int	cache_size;		/* entries in the cache, at most */
	int	line;			/* line of the section header */
	int	knob_line[CONF_LDAP_KNOBS];	/* see conf_ldap_knob_line */
};

/* a [milter NAME] section: a mail filter spoken to by smtp */
#define CONF_MILTER_TEMPFAIL	0	/* down or slow: 451 4.7.1 */
#define CONF_MILTER_ACCEPT	1	/* down or slow: go on without it */
struct conf_milter {
	char	name[64];		/* from the section "[milter NAME]" */
	char	socket[256];		/* inet:A:P | inet6:[A]:P | unix:PATH */
	int	connect_timeout;	/* seconds: TCP connect and OPTNEG */
	int	command_timeout;	/* seconds: each reply */
	int	eom_timeout;		/* seconds: the end-of-message reply */
	char	default_action[16];	/* tempfail | accept */
	int	action;			/* CONF_MILTER_*, from default_action */
	int	line;			/* line of the section header */
	int	knob_line[CONF_MILTER_KNOBS];
};

struct conf {
	char	path[CONF_PATH_MAX];	/* file it came from, "(builtin)" */
	int	knob_line[CONF_KNOBS_MAX];	/* see conf_knob_line */

	/* [server] */
	char	hostname[256];
	char	user[64];		/* unprivileged user, when started as root */
	char	spool_dir[CONF_PATH_MAX];	/* queue.db, control socket */
	char	mail_dir[CONF_PATH_MAX];	/* Maildirs: mail_dir/<mailbox>/ */
	char	empty_dir[CONF_PATH_MAX];	/* chroot of the network process */
	char	users_file[CONF_PATH_MAX];	/* AUTH users, argon2id, mode 0600 */
	int	password_min_length;	/* moat passwd, moat user passwd */
	char	tls_cert[CONF_PATH_MAX];
	char	tls_key[CONF_PATH_MAX];
	char	**tls_certificates;	/* "CERT:KEY", absolute paths */
	size_t	  n_tls_certificates;
	char	**tls_protocols;	/* "TLSv1.2", "TLSv1.3" */
	size_t	  n_tls_protocols;
	char	tls_ciphers[512];	/* TLS 1.2 cipher list */
	char	tls_ciphersuites[512];	/* TLS 1.3 suites */
	int	tls_ticket_lifetime;	/* seconds a ticket key encrypts, 0 off */
	int	syslog;
	int	relaytest_on_start;	/* relay battery at start */

	/* [domains] */
	char	**local_domains;	/* lowercased */
	size_t	  n_local_domains;
	char	**mailboxes;		/* lowercased "user" or "user@domain" */
	size_t	  n_mailboxes;
	char	mailboxes_file[CONF_PATH_MAX];	/* more of them, a line each */
	char	aliases_file[CONF_PATH_MAX];	/* "": no aliases */
	char	role_mailbox[65];	/* postmaster@, abuse@ of every domain */
	char	**recipient_tables;	/* "DOMAIN=PATH", path made absolute */
	size_t	  n_recipient_tables;
	char	**recipient_ldap;	/* "DOMAIN=LDAPNAME" */
	size_t	  n_recipient_ldap;
	char	**recipient_verify;	/* routed domains probed at RCPT */
	size_t	  n_recipient_verify;
	int	verify_cache_positive;	/* seconds */
	int	verify_cache_negative;
	int	lookup_timeout;		/* seconds a RCPT waits for the lookup */
	/* derived, not a knob: the routed domains with a recipient source
	 * (recipient_tables, _ldap, _verify), lowercased, each once */
	char	**lookup_domains;
	size_t	  n_lookup_domains;

	/* [relay] */
	struct cidr *relay_networks;
	size_t	  n_relay_networks;

	/* [limits] */
	long	max_message_size;	/* bytes, advertised with SIZE */
	int	max_recipients;
	int	max_sessions;
	int	max_sessions_per_ip;
	int	max_errors;
	int	timeout_command;	/* seconds, RFC 5321 4.5.3.2 */
	int	timeout_data;		/* seconds between DATA blocks */
	int	auth_fail_delay_ms;	/* same pause for every failed AUTH */
	int	max_received_headers;

	/* [dkim] */
	char	**dkim_sign;		/* "domain:selector:keyfile" */
	size_t	  n_dkim_sign;
	int	dkim_expire;		/* x= after this many seconds; 0 none */

	/* [authentication] */
	char	authserv_id[256];	/* "": hostname */
	int	dkim_verify;
	int	spf_check;
	int	dmarc_check;
	int	dmarc_reject;		/* p=reject failures: 550 5.7.1 */
	int	dmarc_quarantine;	/* p=quarantine failures: held */

	/* [policy] */
	struct cidr *deny_networks;	/* refused at accept(), never expire */
	size_t	  n_deny_networks;
	char	**dnsbl_zones;		/* "zone" or "zone*weight" */
	size_t	  n_dnsbl_zones;
	int	dnsbl_threshold;
	int	events_retention;	/* seconds the events table keeps a row */
	int	events_max;		/* rows at most */
	char	sender_identity[16];	/* own | domain | any */
	int	reject_local_spoof;
	int	reverse_dns;		/* PTR of each client, for moat sessions */
	int	auth_fail_limit;
	int	auth_fail_window;
	int	ban_time;
	int	ban_time_max;
	int	client_prefix_v4;	/* a client is counted and banned */
	int	client_prefix_v6;	/* per network of this many bits */
	int	account_fail_limit;
	int	account_fail_delay_ms;
	int	session_lifetime;
	int	max_idle_commands;
	int	max_unknown_rcpts;
	int	max_unknown_rcpts_ip;
	int	harvest_window;
	int	tarpit_ms;
	int	min_data_rate;
	int	data_rate_grace;

	/* [watch] */
	char	watch_action[16];	/* alert | hold | suspend */
	char	alert_command[CONF_PATH_MAX];
	int	watch_window;
	int	hold_external_rcpts;
	int	hold_external_domains;
	int	suspend_external_rcpts;
	int	suspend_external_domains;
	int	hold_external_rcpts_day;	/* the same over a day */
	int	suspend_external_rcpts_day;
	int	relay_client_factor;	/* thresholds times this for "ip:" keys */
	int	relay_sender_watch;	/* count ip:ADDRESS/SENDER keys too */
	int	relay_sender_factor;	/* thresholds times this for those */
	int	rejected_alert;
	int	quarantine_after_guessing; /* hold a login after guessing */
	int	guess_window;		/* seconds an attack is remembered */
	int	guess_quiet_time;	/* no AUTH failure this long: usual again */
	int	guess_ban_aggregate;	/* ban the guessers' /24 or /64 */

	/* [delivery]: outbound mail, the mta process and the scheduler */
	char	**routes;		/* "DOMAIN=DEST[,DEST...]", mta/mta_route.h */
	size_t	  n_routes;
	char	smarthost[CONF_PATH_MAX];	/* DEST[,DEST...], "" for none */
	char	source_address_v4[64];	/* "": the system's choice */
	char	source_address_v6[64];
	char	address_preference[8];	/* any | ipv4 | ipv6 */
	int	blacklist_watch;	/* own addresses checked on DNSBLs */
	char	**blacklist_addresses;	/* canonical; none: outbound's */
	size_t	  n_blacklist_addresses;
	char	**blacklist_zones;
	size_t	  n_blacklist_zones;
	int	blacklist_interval;	/* seconds between checks */
	char	tls_client_cert[CONF_PATH_MAX];	/* "": no client certificate */
	char	tls_client_key[CONF_PATH_MAX];
	char	smarthost_auth_file[CONF_PATH_MAX];	/* "": no AUTH, mode 0600 */
	int	smarthost_tls_verify;	/* credentials only to a verified peer */
	char	tls_ca_file[CONF_PATH_MAX];	/* outbound CAs, "": system store */
	int	delay_notice;		/* seconds deferred before a delay DSN, 0 off */
	char	tls[16];		/* none | opportunistic | verify */
	char	dns_server[64];		/* "ADDR" or "ADDR@PORT", "": resolv.conf */
	int	retry_min;		/* seconds, first retry */
	int	retry_max;		/* seconds, longest backoff */
	int	max_lifetime;		/* seconds in the queue before a bounce */
	int	deadletter_expire;	/* seconds a dead letter is kept */
	int	max_connections;	/* outbound, in all */
	int	max_connections_per_dest;
	int	max_messages_per_connection;
	int	timeout_connect;	/* seconds */
	int	timeout_client;		/* seconds per reply (RFC 5321 4.5.3.2) */
	int	test_smtp_port;		/* TEST ONLY: port of MX/A hosts, else 25 */

	/* [control] */
	char	admin_group[64];	/* "": root only */
	char	metrics_listen[80];	/* "ADDR:PORT", "": off */
	struct cidr *metrics_allow;	/* who may scrape; needed off loopback */
	size_t	  n_metrics_allow;
	int	login_metrics_max;	/* moat_login_* series at most */

	/* [console]: the web console (src/console/) */
	char	console_listen[80];	/* "ADDR:PORT" on loopback, "": off */
	char	console_users[CONF_PATH_MAX];	/* NAME:argon2id, mode 0600 */
	char	console_tls_cert[CONF_PATH_MAX];	/* "": plain HTTP */
	char	console_tls_key[CONF_PATH_MAX];	/* read by ca only */
	char	console_client_ca[CONF_PATH_MAX];	/* "": no client certs */
	int	console_idle;		/* seconds without a request */
	int	console_login_limit;	/* failures per address, 15 minutes */

	/* [submit]: local submission (moat sendmail) */
	char	submit_socket[CONF_PATH_MAX];	/* "": off */
	char	**submit_users;		/* login, %GROUP or "*" */
	size_t	  n_submit_users;
	int	submit_max_sessions;

	/* [log]: category levels */
	int	log_level[LOG_CAT_COUNT];

	struct conf_listener listeners[CONF_MAX_LISTENERS];
	size_t	n_listeners;
	/* derived, not a section: the listener of submit_socket (role
	 * local), when it is set; never among listeners[] */
	struct conf_listener submit_listener;

	struct conf_ldap ldap[CONF_MAX_LDAP];
	size_t	n_ldap;
	struct conf_milter milter[CONF_MAX_MILTERS];
	size_t	n_milter;
};

/*
 * conf_load - read path (NULL: the built-in default configuration)
 * into a new conf. On error returns NULL and writes "file:line: what is
 * wrong" into err.
 */
struct conf *conf_load(const char *path, char *err, size_t errlen);
/* conf_load_defaults - the defaults, relative paths below path's directory */
struct conf *conf_load_defaults(const char *path, char *err, size_t errlen);
/*
 * conf_load_text - conf_load that also gives the text it parsed (the
 * caller frees *textp), for what passes the configuration on
 */
struct conf *conf_load_text(const char *path, char **textp, size_t *lenp,
    char *err, size_t errlen);
/*
 * conf_comment_cut - the length of a line without its trailing comment
 * ('#' or ';' after white space), as the parser cuts it
 */
size_t conf_comment_cut(const char *line, size_t len);

/*
 * conf_load_string - same, from memory; name is used in messages. An
 * absolute name places relative paths below its directory, as conf_load
 * places them below the file's (the built-in defaults: below the
 * current directory).
 */
struct conf *conf_load_string(const char *text, const char *name,
    char *err, size_t errlen);

/* conf_load_bytes - the same from len bytes (a reload's IPC frame) */
struct conf *conf_load_bytes(const void *text, size_t len, const char *name,
    char *err, size_t errlen);

void conf_free(struct conf *c);

/*
 * conf_knob_line - the line of c->path that set knob name (a [server],
 * [delivery] ... knob, not a listener's), 0 when it kept its default:
 * for "file:line:" errors found after parsing (files a knob names).
 */
int conf_knob_line(const struct conf *c, const char *name);

/*
 * conf_ldap_find - the [ldap NAME] section called name, NULL if none.
 * conf_ldap_knob_line - the line that set knob name of section l, 0
 * when it kept its default.
 */
const struct conf_ldap *conf_ldap_find(const struct conf *c, const char *name);
/* conf_milter_find - the [milter NAME] section called name, NULL if none */
const struct conf_milter *conf_milter_find(const struct conf *c,
    const char *name);
int conf_ldap_knob_line(const struct conf_ldap *l, const char *name);

/* conf_print - the effective configuration, in the file's own syntax */
void conf_print(const struct conf *c, FILE *fp);

/*
 * conf_print_changed - like conf_print, only the knobs whose value
 * differs from the default (postconf -n); of [listener] and [ldap]
 * sections, the knobs the file sets. -1: out of memory.
 */
int conf_print_changed(const struct conf *c, FILE *fp);

/*
 * conf_print_value - the value of one knob on a line of its own: NAME
 * or SECTION.NAME of a fixed section, listener.LNAME.NAME or
 * ldap.DNAME.NAME; lists as "a, b, c". -1: no such knob.
 */
int conf_print_value(const struct conf *c, const char *name, FILE *fp);

/* conf_print_doc - every knob with its type, default, bounds and doc line */
void conf_print_doc(FILE *fp);

/* conf_relay_table - fill t with views into c (valid while c lives) */
void conf_relay_table(const struct conf *c, struct relay_table *t);

/* conf_apply_log_levels - set the log module's levels from c */
void conf_apply_log_levels(const struct conf *c);

const char *conf_role_name(enum listener_role r);

/* one certificate and its key: tls_cert/tls_key or a tls_certificates item */
struct conf_tls_pair {
	char		 cert[CONF_PATH_MAX];
	char		 key[CONF_PATH_MAX];
	const char	*knob;		/* the knob that names it */
};

/*
 * conf_tls_pairs - the server's certificates, the default (tls_cert)
 * first; at most max (CONF_TLS_PAIRS_MAX is every one). 0: no TLS.
 */
size_t conf_tls_pairs(const struct conf *c, struct conf_tls_pair *out,
    size_t max);

struct tls_opts;
/* conf_tls_opts - the tls_* knobs for tls_server_ctx_new (tls.h) */
void conf_tls_opts(const struct conf *c, struct tls_opts *o);

#endif
