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
#define CONF_PATH_MAX		1024

enum listener_role {
	ROLE_MX,		/* port 25: inbound for local domains */
	ROLE_SUBMISSION,	/* port 587: STARTTLS, then AUTH, then MAIL */
	ROLE_SUBMISSIONS,	/* port 465: implicit TLS, AUTH required */
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
	int	line;			/* line of the section header */
};

struct conf {
	char	path[CONF_PATH_MAX];	/* file it came from, "(builtin)" */

	/* [server] */
	char	hostname[256];
	char	user[64];		/* unprivileged user, when started as root */
	char	spool_dir[CONF_PATH_MAX];	/* queue.db, control socket */
	char	mail_dir[CONF_PATH_MAX];	/* Maildirs: mail_dir/<mailbox>/ */
	char	empty_dir[CONF_PATH_MAX];	/* chroot of the network process */
	char	users_file[CONF_PATH_MAX];	/* AUTH users, argon2id, mode 0600 */
	char	tls_cert[CONF_PATH_MAX];
	char	tls_key[CONF_PATH_MAX];
	int	syslog;

	/* [domains] */
	char	**local_domains;	/* lowercased */
	size_t	  n_local_domains;
	char	**mailboxes;		/* lowercased local parts */
	size_t	  n_mailboxes;

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

	/* [log]: category levels */
	int	log_level[LOG_CAT_COUNT];

	struct conf_listener listeners[CONF_MAX_LISTENERS];
	size_t	n_listeners;
};

/*
 * conf_load - read path (NULL: the built-in default configuration)
 * into a new conf. On error returns NULL and writes "file:line: what is
 * wrong" into err.
 */
struct conf *conf_load(const char *path, char *err, size_t errlen);

/* conf_load_string - same, from memory; name is used in messages */
struct conf *conf_load_string(const char *text, const char *name,
    char *err, size_t errlen);

void conf_free(struct conf *c);

/* conf_print - the effective configuration, in the file's own syntax */
void conf_print(const struct conf *c, FILE *fp);

/* conf_print_doc - every knob with its type, default, bounds and doc line */
void conf_print_doc(FILE *fp);

/* conf_relay_table - fill t with views into c (valid while c lives) */
void conf_relay_table(const struct conf *c, struct relay_table *t);

/* conf_apply_log_levels - set the log module's levels from c */
void conf_apply_log_levels(const struct conf *c);

const char *conf_role_name(enum listener_role r);

#endif
