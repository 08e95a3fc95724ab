/*
 * doctor.c - `moat doctor`: which configuration, the checks that read
 * only it and the files it names, and the report (a table grouped by
 * check, or JSON).
 *
 *   moat doctor [-c FILE | --builtin] [--socket PATH] [--json]
 *               [--no-dns] [--no-relay-test] [--address ADDR]...
 *
 * The configuration audited is the running daemon's (`status` names its
 * file); without a daemon, the one every admin command uses (-c, else
 * $MOAT_CONFIG, else the installed default), and the checks that need
 * it (the relay battery) are skipped with a note.
 *
 * Public: doctor_main.
 * SECURITY: runs with the caller's privileges and only reads: stat() of
 * the files the configuration names (their contents are never read,
 * but for the certificates' expiry), the control socket's status, and
 * the network checks of doctor_live.c and doctor_dns.c. Text from the
 * network is reduced to printable ASCII before it is reported.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl/ctl_cli.h"
#include "ctl/ctl_msg.h"
#include "ctl/doctor.h"
#include "daemon/conf_path.h"
#include "daemon/config.h"
#include "lib/cidr.h"
#include "lib/json.h"
#include "lib/log.h"

#define DOCTOR_USAGE \
	"usage: moat doctor [-c FILE | --builtin] [--socket PATH] [--json]\n" \
	"                   [--no-dns] [--no-relay-test] [--address ADDR]...\n" \
	"  exit 0 nothing above info, 3 warnings, 4 errors, 5 critical,\n" \
	"  1 failed (no configuration), 2 usage\n"

#define CERT_SOON_DAYS	14	/* a certificate expiring sooner: warning */

/* --- listeners: AUTH where the Internet talks ---------------------- */

static void
check_auth_on_mx(struct doctor_report *r, const struct conf *c)
{
	int bad = 0;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];

		if (l->role != ROLE_MX || (!l->auth && !l->auth_relay))
			continue;
		bad = 1;
		doctor_add(r, "auth_on_mx", DOCTOR_ERROR, "listener %s (mx, "
		    "%s port %d) offers AUTH%s: one guessed password and the "
		    "server every outside host talks to relays spam",
		    l->name, l->address, l->port, l->auth_relay ?
		    " and lets authenticated users relay" : "");
		doctor_fix(r, "in [listener %s]: auth = no and auth_relay = "
		    "no; users submit on a submission (587) or submissions "
		    "(465) listener", l->name);
	}
	if (!bad)
		doctor_add(r, "auth_on_mx", DOCTOR_OK, "no mx listener offers "
		    "AUTH");
}

/* --- relay_networks ------------------------------------------------- */

static void
check_relay_networks(struct doctor_report *r, const struct conf *c)
{
	char net[CIDR_STRLEN], why[256];
	enum doctor_sev sev;

	if (c->n_relay_networks == 0) {
		doctor_add(r, "relay_networks", DOCTOR_OK, "empty: only "
		    "authenticated users relay");
		return;
	}
	for (size_t i = 0; i < c->n_relay_networks; i++) {
		cidr_format(&c->relay_networks[i], net, sizeof(net));
		sev = doctor_relay_net(&c->relay_networks[i], why, sizeof(why));
		doctor_add(r, "relay_networks", sev, "%s: %s", net, why);
		if (sev >= DOCTOR_WARNING)
			doctor_fix(r, "[relay] relay_networks: list only the "
			    "hosts that must relay without AUTH (internal "
			    "servers, /32 or /128 each); people authenticate "
			    "on a submission listener");
	}
}

/* --- TLS ------------------------------------------------------------ */

/* a certificate's expiry: error when past, warning when near */
static void
check_cert_expiry(struct doctor_report *r, const char *path)
{
	X509 *x = NULL;
	FILE *fp;
	int days = 0, secs = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		doctor_add(r, "tls", DOCTOR_WARNING, "certificate %s: %s",
		    path, strerror(errno));
		return;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL || ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(x)) != 1) {
		doctor_add(r, "tls", DOCTOR_WARNING, "certificate %s: not a "
		    "PEM certificate with a readable expiry", path);
		X509_free(x);
		return;
	}
	X509_free(x);
	if (days < 0 || (days == 0 && secs <= 0)) {
		doctor_add(r, "tls", DOCTOR_ERROR, "certificate %s has "
		    "expired", path);
		doctor_fix(r, "renew it, then moat reload");
	} else if (days < CERT_SOON_DAYS) {
		doctor_add(r, "tls", DOCTOR_WARNING, "certificate %s expires "
		    "in %d day%s", path, days, days == 1 ? "" : "s");
		doctor_fix(r, "renew it, then moat reload");
	}
}

static void
check_tls(struct doctor_report *r, const struct conf *c)
{
	struct conf_tls_pair pairs[CONF_TLS_PAIRS_MAX];
	size_t np = conf_tls_pairs(c, pairs, CONF_TLS_PAIRS_MAX);
	size_t before = r->n;
	int v13 = 0;

	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];

		if (np == 0) {
			doctor_add(r, "tls", l->role == ROLE_MX ?
			    DOCTOR_WARNING : DOCTOR_ERROR, "listener %s (%s): "
			    "no certificate, so no TLS%s", l->name,
			    conf_role_name(l->role), l->role == ROLE_MX ?
			    ": mail reaches you in clear, and senders that "
			    "require TLS cannot deliver" : ": passwords "
			    "cannot be protected and AUTH is never offered");
			doctor_fix(r, "[server] tls_cert and tls_key (a "
			    "certificate naming %s)", c->hostname);
			continue;
		}
		if (l->role != ROLE_SUBMISSIONS && !l->starttls) {
			doctor_add(r, "tls", l->role == ROLE_MX ?
			    DOCTOR_WARNING : DOCTOR_ERROR, "listener %s (%s): "
			    "STARTTLS is not offered", l->name,
			    conf_role_name(l->role));
			doctor_fix(r, "in [listener %s]: starttls = yes",
			    l->name);
		}
		if (l->role == ROLE_SUBMISSION && l->starttls &&
		    !l->tls_required) {
			doctor_add(r, "tls", DOCTOR_WARNING, "listener %s "
			    "(submission): TLS is not required before AUTH "
			    "and MAIL", l->name);
			doctor_fix(r, "in [listener %s]: tls_required = yes",
			    l->name);
		}
	}
	for (size_t i = 0; i < c->n_tls_protocols; i++)
		if (strcmp(c->tls_protocols[i], "TLSv1.3") == 0)
			v13 = 1;
	if (np > 0 && !v13) {
		doctor_add(r, "tls", DOCTOR_INFO, "tls_protocols leaves out "
		    "TLSv1.3");
		doctor_fix(r, "[server] tls_protocols = TLSv1.2, TLSv1.3");
	}
	for (size_t i = 0; i < np; i++)
		check_cert_expiry(r, pairs[i].cert);
	if (r->n == before)
		doctor_add(r, "tls", DOCTOR_OK, "%zu certificate%s; STARTTLS "
		    "or implicit TLS on every listener", np, np == 1 ? "" : "s");
}

/* --- secrets: who can read them ------------------------------------- */

static void
check_secret(struct doctor_report *r, const char *what, const char *path,
    uid_t daemon_uid, int *count)
{
	char why[256], fix[DOCTOR_TEXT_MAX], dir[CONF_PATH_MAX], *slash;
	enum doctor_sev sev;
	struct stat st;

	if (path == NULL || path[0] == '\0')
		return;
	(*count)++;
	if (stat(path, &st) == -1) {
		doctor_add(r, "secrets", errno == ENOENT ? DOCTOR_INFO :
		    DOCTOR_WARNING, "%s %s: %s", what, path, strerror(errno));
		return;
	}
	sev = doctor_secret_mode(path, st.st_mode, st.st_uid, st.st_gid,
	    daemon_uid, why, sizeof(why), fix, sizeof(fix));
	if (sev != DOCTOR_OK) {
		doctor_add(r, "secrets", sev, "%s %s: %s", what, path, why);
		doctor_fix(r, "%s", fix);
	}
	/* a directory anyone may write to: the file can be swapped */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) &&
		    !(st.st_mode & S_ISVTX)) {
			doctor_add(r, "secrets", DOCTOR_CRITICAL, "%s %s: its "
			    "directory %s is writable by anyone", what, path,
			    dir);
			doctor_fix(r, "chmod o-w %s", dir);
		}
	}
}

/* the value of a knob that may not exist in this build, "" if none */
static void
knob_value(const struct conf *c, const char *name, char *out, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *fp;

	out[0] = '\0';
	if ((fp = open_memstream(&buf, &n)) == NULL)
		return;
	if (conf_print_value(c, name, fp) == -1) {
		fclose(fp);
		free(buf);
		return;
	}
	fclose(fp);
	snprintf(out, len, "%s", buf ? buf : "");
	free(buf);
	out[strcspn(out, "\n")] = '\0';
}

static void
check_secrets(struct doctor_report *r, const struct conf *c)
{
	struct passwd *pw = getpwnam(c->user);
	uid_t duid = pw ? pw->pw_uid : (uid_t)-1;
	char path[CONF_PATH_MAX], what[128];
	size_t before = r->n;
	int count = 0;

	check_secret(r, "users_file", c->users_file, duid, &count);
	check_secret(r, "tls_key", c->tls_key, duid, &count);
	for (size_t i = 0; i < c->n_tls_certificates; i++) {
		const char *colon = strrchr(c->tls_certificates[i], ':');

		if (colon != NULL)
			check_secret(r, "tls_certificates key", colon + 1,
			    duid, &count);
	}
	check_secret(r, "tls_client_key", c->tls_client_key, duid, &count);
	check_secret(r, "smarthost_auth_file", c->smarthost_auth_file, duid,
	    &count);
	for (size_t i = 0; i < c->n_ldap; i++) {
		snprintf(what, sizeof(what), "[ldap %s] bind_file",
		    c->ldap[i].name);
		check_secret(r, what, c->ldap[i].bind_file, duid, &count);
	}
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		const char *p = strchr(c->dkim_sign[i], ':');

		if (p != NULL && (p = strchr(p + 1, ':')) != NULL)
			check_secret(r, "dkim_sign key", p + 1, duid, &count);
	}
	/* the web console's logins and key, when the console is on */
	if (c->console_listen[0] != '\0') {
		knob_value(c, "console_users", path, sizeof(path));
		check_secret(r, "console_users", path, duid, &count);
		check_secret(r, "console_tls_key", c->console_tls_key, duid,
		    &count);
	}
	if (r->n == before)
		doctor_add(r, "secrets", DOCTOR_OK, "%d file%s with secrets: "
		    "root's alone", count, count == 1 ? "" : "s");
}

/* --- what the seed's admin lacked: logs, alerts, limits -------------- */

static void
check_defences(struct doctor_report *r, const struct conf *c)
{
	size_t before = r->n;
	int quiet = 1;
	int have_pm = c->role_mailbox[0] != '\0' || c->aliases_file[0] ||
	    c->mailboxes_file[0];

	if (c->log_level[LOG_CAT_AUTH] < LOG_LVL_NOTICE) {
		doctor_add(r, "logging", DOCTOR_WARNING, "[log] auth = %s: "
		    "failed AUTH is not logged, so a guessed account is "
		    "found late", log_level_name(c->log_level[LOG_CAT_AUTH]));
		doctor_fix(r, "[log] auth = info (or notice)");
	}
	if (c->auth_fail_limit > 20) {
		doctor_add(r, "defences", DOCTOR_WARNING, "auth_fail_limit = "
		    "%d: an address may guess that often before it is banned",
		    c->auth_fail_limit);
		doctor_fix(r, "[policy] auth_fail_limit = 5");
	}
	if (c->account_fail_limit > 50) {
		doctor_add(r, "defences", DOCTOR_WARNING, "account_fail_limit "
		    "= %d: a password list spread over many addresses raises "
		    "no alert until then", c->account_fail_limit);
		doctor_fix(r, "[policy] account_fail_limit = 10");
	}
	if (c->auth_fail_delay_ms == 0) {
		doctor_add(r, "defences", DOCTOR_INFO, "auth_fail_delay_ms = 0: "
		    "failed AUTH is answered at once");
		doctor_fix(r, "[limits] auth_fail_delay_ms = 1000");
	}
	if (strcmp(c->watch_action, "alert") == 0) {
		doctor_add(r, "watch", DOCTOR_WARNING, "watch_action = alert: "
		    "a stolen account's mail keeps leaving while you read the "
		    "alert");
		doctor_fix(r, "[watch] watch_action = hold");
	}
	if (!c->quarantine_after_guessing) {
		doctor_add(r, "watch", DOCTOR_WARNING, "quarantine_after_"
		    "guessing = no: a login right after a guessing attack "
		    "sends freely");
		doctor_fix(r, "[watch] quarantine_after_guessing = yes");
	}
	if (c->alert_command[0] == '\0') {
		doctor_add(r, "watch", DOCTOR_WARNING, "no alert_command: "
		    "alerts (a held account, a guessing attack) reach only the "
		    "log");
		doctor_fix(r, "[watch] alert_command = a script that mails or "
		    "pages you (MOAT_EVENT, MOAT_USER, MOAT_DETAIL are set)");
	}
	for (size_t i = 0; i < c->n_mailboxes && !have_pm; i++)
		if (strcasecmp(c->mailboxes[i], "postmaster") == 0)
			have_pm = 1;
	if (!have_pm) {
		doctor_add(r, "mailboxes", DOCTOR_WARNING, "no postmaster@ or "
		    "abuse@ mailbox: reports about your server (blocklists, "
		    "other admins) go nowhere");
		doctor_fix(r, "[domains] role_mailbox = postmaster (and "
		    "postmaster in mailboxes)");
	}
	if (!c->relaytest_on_start) {
		doctor_add(r, "relay_test", DOCTOR_INFO, "relaytest_on_start = "
		    "no: a configuration that relays still starts");
		doctor_fix(r, "[server] relaytest_on_start = yes");
	}
	for (size_t i = before; i < r->n && quiet; i++)
		quiet = r->f[i].sev < DOCTOR_WARNING;
	if (quiet)
		doctor_add(r, "defences", DOCTOR_OK, "AUTH logged, bans and "
		    "alerts on, compromised accounts held, postmaster present");
}

/* --- the control socket and who may use it -------------------------- */

static void
check_control(struct doctor_report *r, const struct conf *c)
{
	struct passwd *pw = getpwnam(c->user);
	struct group *gr = NULL;
	char path[CONF_PATH_MAX + 32];
	struct stat st;
	size_t before = r->n;

	if (c->admin_group[0] != '\0' &&
	    (gr = getgrnam(c->admin_group)) != NULL && pw != NULL) {
		int member = pw->pw_gid == gr->gr_gid;

		for (char **m = gr->gr_mem; m && *m && !member; m++)
			member = strcmp(*m, c->user) == 0;
		if (member) {
			doctor_add(r, "control", DOCTOR_ERROR, "the daemon's "
			    "user %s is in admin_group %s: what reads the "
			    "network would administer the server", c->user,
			    c->admin_group);
			doctor_fix(r, "gpasswd -d %s %s (or a group of admins "
			    "only)", c->user, c->admin_group);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", c->spool_dir, CTL_SOCKET_NAME);
	if (lstat(path, &st) == 0) {
		if (st.st_mode & S_IRWXO) {
			doctor_add(r, "control", DOCTOR_CRITICAL, "control "
			    "socket %s has mode %04o: anyone may connect",
			    path, (unsigned)(st.st_mode & 07777));
			doctor_fix(r, "chmod 660 %s (moat makes it so: was it "
			    "changed by hand?)", path);
		} else if (st.st_uid != 0 && geteuid() == 0) {
			doctor_add(r, "control", DOCTOR_ERROR, "control socket "
			    "%s belongs to uid %ld, not root", path,
			    (long)st.st_uid);
			doctor_fix(r, "restart the daemon as root");
		}
	}
	if (stat(c->spool_dir, &st) == 0 && (st.st_mode & S_IWOTH)) {
		doctor_add(r, "control", DOCTOR_CRITICAL, "spool_dir %s is "
		    "writable by anyone", c->spool_dir);
		doctor_fix(r, "chmod 750 %s", c->spool_dir);
	}
	if (r->n == before)
		doctor_add(r, "control", DOCTOR_OK, "control socket for root%s%s",
		    gr ? " and group " : "", gr ? c->admin_group : " only");
}

/* --- who the server says it is, who it runs as ----------------------- */

static void
check_identity(struct doctor_report *r, const struct conf *c)
{
	struct passwd *pw = getpwnam(c->user);

	if (strchr(c->hostname, '.') == NULL ||
	    strcasecmp(c->hostname, "localhost") == 0 ||
	    strncasecmp(c->hostname, "localhost.", 10) == 0) {
		doctor_add(r, "hostname", DOCTOR_WARNING, "hostname %s is not "
		    "a public name: it is the EHLO and greeting name, and "
		    "receivers refuse or score a bare or local one",
		    c->hostname);
		doctor_fix(r, "[server] hostname = the name the PTR of your "
		    "outbound address gives (mx.example.org)");
	}
	if (pw != NULL && pw->pw_uid == 0) {
		doctor_add(r, "user", DOCTOR_CRITICAL, "user = %s: the children "
		    "that read the network run as root", c->user);
		doctor_fix(r, "[server] user = _moat (a user of its own, "
		    "nothing else runs as it)");
	} else if (pw == NULL && geteuid() == 0)
		doctor_add(r, "user", DOCTOR_WARNING, "user %s does not exist: "
		    "the daemon cannot start as root", c->user);
	if (c->smarthost_auth_file[0] != '\0' && !c->smarthost_tls_verify) {
		doctor_add(r, "tls", DOCTOR_WARNING, "smarthost_tls_verify = "
		    "no: the smarthost credentials go to whoever answers, "
		    "with any certificate");
		doctor_fix(r, "[delivery] smarthost_tls_verify = yes (and "
		    "tls_ca_file for a private CA)");
	}
}

/* --- the report ------------------------------------------------------ */

/* printable ASCII only: findings quote what servers and files said */
static void
put_clean(FILE *fp, const char *s)
{
	for (; *s; s++)
		fputc(*s >= ' ' && *s <= '~' ? *s : '?', fp);
}

static void
print_table(FILE *fp, const struct doctor_report *r, const char *conf,
    const char *source)
{
	const char *last = "";
	size_t w = 5;

	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->f[i].check) > w)
			w = strlen(r->f[i].check);
	fprintf(fp, "moat doctor: ");
	put_clean(fp, conf);
	fprintf(fp, " (%s)\n\n%-*s  %-8s  %s\n", source, (int)w, "CHECK",
	    "SEVERITY", "FINDING / FIX");
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_finding *f = &r->f[i];
		int first = strcmp(f->check, last) != 0;

		if (first && i > 0)
			fputc('\n', fp);
		fprintf(fp, "%-*s  %-8s  ", (int)w, first ? f->check : "",
		    doctor_sev_name(f->sev));
		put_clean(fp, f->what);
		fputc('\n', fp);
		if (f->fix[0]) {
			fprintf(fp, "%-*s  %-8s  fix: ", (int)w, "", "");
			put_clean(fp, f->fix);
			fputc('\n', fp);
		}
		last = f->check;
	}
	fprintf(fp, "\nworst: %s\n", doctor_sev_name(doctor_worst(r)));
}

static void
print_json(FILE *fp, const struct doctor_report *r, const char *conf,
    const char *source)
{
	enum doctor_sev w = doctor_worst(r);

	fprintf(fp, "{\"config\":");
	json_write_str(fp, conf);
	fprintf(fp, ",\"source\":");
	json_write_str(fp, source);
	fprintf(fp, ",\"worst\":\"%s\",\"exit\":%d,\"findings\":[",
	    doctor_sev_name(w), doctor_exit_status(w));
	for (size_t i = 0; i < r->n; i++) {
		fprintf(fp, "%s{\"check\":", i ? "," : "");
		json_write_str(fp, r->f[i].check);
		fprintf(fp, ",\"severity\":\"%s\",\"finding\":",
		    doctor_sev_name(r->f[i].sev));
		json_write_str(fp, r->f[i].what);
		fprintf(fp, ",\"fix\":");
		json_write_str(fp, r->f[i].fix);
		fputc('}', fp);
	}
	fprintf(fp, "]}\n");
}

/* the findings of one check together, checks in their first order */
static void
group_by_check(struct doctor_report *r)
{
	for (size_t i = 1; i < r->n; i++) {
		size_t j = i, home;

		/* where the group of r->f[i] ends, if it started before */
		for (home = 0; home < i; home++)
			if (strcmp(r->f[home].check, r->f[i].check) == 0)
				break;
		if (home == i)
			continue;
		while (home + 1 < i && strcmp(r->f[home + 1].check,
		    r->f[i].check) == 0)
			home++;
		if (home + 1 == i)
			continue;
		{
			struct doctor_finding t = r->f[i];

			for (j = i; j > home + 1; j--)
				r->f[j] = r->f[j - 1];
			r->f[home + 1] = t;
		}
	}
}

/* doctor_main - moat doctor */
int
doctor_main(int argc, char **argv)
{
	const char *conf_arg = NULL, *socket_path = NULL, *source;
	char running[CONF_PATH_MAX], why[512], err[1024];
	struct doctor_report rep;
	struct conf *c = NULL;
	char **addrs = NULL;
	size_t naddrs = 0;
	uint8_t a[16];
	int json = 0, builtin = 0, dns = 1, selftest = 1, live, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_arg = argv[++i];
		else if (strcmp(argv[i], "--builtin") == 0)
			builtin = 1;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			socket_path = argv[++i];
		else if (strcmp(argv[i], "--no-dns") == 0)
			dns = 0;
		else if (strcmp(argv[i], "--no-relay-test") == 0)
			selftest = 0;
		else if (strcmp(argv[i], "--address") == 0 && i + 1 < argc &&
		    cidr_addr_parse(argv[i + 1], a) == 0) {
			if (addrs == NULL && (addrs = calloc((size_t)argc,
			    sizeof(*addrs))) == NULL)
				return 1;
			addrs[naddrs++] = argv[++i];
		}
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(DOCTOR_USAGE, stdout);
			free(addrs);
			return 0;
		} else {
			fprintf(stderr, "moat: doctor: %s '%s'\n%s",
			    strcmp(argv[i], "--address") == 0 ? "--address "
			    "needs a numeric address, not" : "unexpected argument",
			    i + 1 < argc && strcmp(argv[i], "--address") == 0 ?
			    argv[i + 1] : argv[i], DOCTOR_USAGE);
			free(addrs);
			return 2;
		}
	}
	if ((live = ctl_daemon_config(conf_arg, builtin, socket_path, running,
	    sizeof(running), why, sizeof(why))) == 1) {
		source = "the running daemon's";
		c = strcmp(running, "(builtin)") == 0 ?
		    conf_load(NULL, err, sizeof(err)) :
		    conf_load(running, err, sizeof(err));
	} else {
		source = "no daemon answers";
		c = conf_path_load(conf_arg, builtin, err, sizeof(err));
	}
	if (c == NULL) {
		fprintf(stderr, "moat: doctor: %s\n", err);
		free(addrs);
		return 1;
	}
	memset(&rep, 0, sizeof(rep));
	check_auth_on_mx(&rep, c);
	check_relay_networks(&rep, c);
	check_tls(&rep, c);
	check_identity(&rep, c);
	check_secrets(&rep, c);
	check_defences(&rep, c);
	check_control(&rep, c);
	if (!selftest)
		doctor_add(&rep, "relay_test", DOCTOR_INFO, "skipped "
		    "(--no-relay-test)");
	else if (live == 1)
		doctor_relay_selftest(&rep, c);
	else
		doctor_add(&rep, "relay_test", DOCTOR_INFO, "skipped: %s",
		    live == 0 ? why : "the daemon's control socket is unknown");
	if (dns)
		doctor_dns(&rep, c, addrs, naddrs);
	else
		doctor_add(&rep, "dns", DOCTOR_INFO, "skipped (--no-dns)");
	group_by_check(&rep);
	if (rep.oom) {
		fprintf(stderr, "moat: doctor: out of memory\n");
		rc = 1;
	} else {
		if (json)
			print_json(stdout, &rep, c->path, source);
		else
			print_table(stdout, &rep, c->path, source);
		rc = doctor_exit_status(doctor_worst(&rep));
	}
	free(rep.f);
	free(addrs);
	conf_free(c);
	return rc;
}
