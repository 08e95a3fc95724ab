/*
 * main.c - moat(8): one binary, several subcommands.
 *
 *   moat serve [-c FILE]          run the daemon in the foreground
 *   moat check-config [-c FILE]   print the effective configuration
 *   (-c FILE, else $MOAT_CONFIG, else MOAT_CONFIG_PATH; --builtin: the
 *   configuration compiled in, as `make run` serves it)
 *   moat passwd USER [-c FILE]    add a user or change a password
 *   moat config [-c FILE | --builtin] [-d] [KNOB...]
 *                                 knobs changed from the defaults, or values
 *   moat config-doc               every knob with its default and bounds
 *   moat ldap-query [-c FILE] NAME [ADDRESS...]
 *                                 ask an [ldap NAME] directory about addresses
 *   moat relaytest HOST[:PORT] --local-domain D ...
 *                                 open-relay and smuggling battery
 *   moat doctor [-c FILE] [--json] the configuration audited, with fixes
 *   moat sendmail [-t] [-i] [-f SENDER] [-F NAME] [RCPT...]
 *                                 submit a message (standard input) to
 *                                 the running daemon; run as "sendmail"
 *                                 (argv[0]) it is the same
 *   moat mailq                    the queue (as "mailq", or sendmail -bp)
 *   moat version
 *
 * moat serve starts each of its children as "moat -X NAME ...", a
 * process argument left out of the usage text on purpose: main() hands
 * it to proc_exec_main (proc.c) before anything else.
 *
 * Public: main.
 * SECURITY: -X runs a child only on the descriptors moat serve passes
 * (proc.c checks them); passwd wipes the password it read.
 * LIMITS: those of the modules each subcommand runs.
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 * relaytest: 0 nothing relays, 1 relayed or smuggled, 2 usage error,
 * 3 server unreachable, 4 no verdict (the control case could not run).
 * doctor: 0 nothing above info, 3 warnings, 4 errors, 5 critical.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "../auth/users.h"
#include "../lib/log.h"
#include "../lookup/ldap_query.h"
#include "../relaytest/relaytest.h"
#include "conf_path.h"
#include "../sendmail/sendmail.h"
#include "config.h"
#include "daemon.h"
#include "proc.h"
#include "version.h"
#include "../ctl/ctl_cli.h"
#include "../ctl/doctor.h"
#include "../dkim/dkim_keygen.h"


#define CONFIG_USAGE \
	"usage: moat config [-c FILE | --builtin] [-d] [KNOB...]\n" \
	"  without KNOB: the knobs that differ from the defaults; with\n" \
	"  KNOB (NAME, SECTION.NAME, listener.L.NAME, ldap.D.NAME): values;\n" \
	"  -d: the defaults (relative paths below the file's directory)\n"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: moat serve [-c FILE | --builtin]\n"
	    "       moat check-config [-c FILE | --builtin]\n"
	    "       moat passwd USER [-c FILE]\n"
	    "       moat relaytest HOST[:PORT] --local-domain D "
	    "[--external-domain E]\n"
	    "              [--json] [--timeout S] [--from-ip ADDR] "
	    "[--no-smuggling]\n"
	    "              [--starttls | --tls]\n"
	    "       moat doctor [-c FILE] [--json] [--no-dns] "
	    "[--no-relay-test]\n"
	    "       moat config [-c FILE | --builtin] [-d] [KNOB...]\n"
	    "       moat config-doc\n"
	    "       moat dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] "
	    "[--bits N] [--dir DIR]\n"
	    "       moat ldap-query [-c FILE] NAME [ADDRESS...]\n"
	    "       moat sendmail [-t] [-i] [-f SENDER] [-F NAME] [-C FILE] "
	    "[RCPT...] < MESSAGE\n"
	    "       moat mailq [-C FILE]\n"
	    "       moat sessions|queue|ban|user|events|log|stats|status|"
	    "blacklist|\n"
	    "            verify|incident|console ...\n"
	    "                    (administration: moat COMMAND --help)\n"
	    "       moat reload | moat stop [--no-wait] | moat status\n"
	    "       moat version\n"
	    "The configuration: -c FILE, else $%s, else %s.\n",
	    MOAT_CONFIG_ENV, MOAT_CONFIG_PATH);
}

/* the usage of one command: its --help, and after its usage errors */
static const struct {
	const char	*cmd;
	const char	*text;
} cmd_usage[] = {
	{ "serve", "usage: moat serve [-c FILE | --builtin]\n" },
	{ "check-config", "usage: moat check-config [-c FILE | --builtin]\n" },
	{ "passwd", "usage: moat passwd USER [-c FILE]\n"
	    "       (the password on stdin, or asked twice on a terminal)\n" },
	{ "config", CONFIG_USAGE },
	{ "config-doc", "usage: moat config-doc\n" },
	{ "version", "usage: moat version\n" },
};

static const char *
cmd_usage_text(const char *cmd)
{
	for (size_t i = 0; i < sizeof(cmd_usage) / sizeof(cmd_usage[0]); i++)
		if (strcmp(cmd_usage[i].cmd, cmd) == 0)
			return cmd_usage[i].text;
	return NULL;
}

/* a usage error of cmd: one line saying what, then cmd's usage; 2 */
static int
cmd_usage_error(const char *cmd, const char *why)
{
	fprintf(stderr, "moat: %s: %s\n%s", cmd, why, cmd_usage_text(cmd));
	return 2;
}

/* "-h" or "--help" among argv */
static int
wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	return 0;
}

/* the built-in configuration, asked for with --builtin */
static int builtin;

/* parse "-c FILE" or "--builtin" among argv; -1 on misuse */
static int
get_config_arg(int argc, char **argv, const char **path, const char **pos)
{
	*path = NULL;
	if (pos)
		*pos = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc || builtin)
				return -1;
			*path = argv[++i];
		} else if (strcmp(argv[i], "--builtin") == 0) {
			if (*path != NULL)
				return -1;
			builtin = 1;
		} else if (argv[i][0] == '-')
			return -1;
		else if (pos && *pos == NULL)
			*pos = argv[i];
		else
			return -1;
	}
	return 0;
}

static struct conf *
load(const char *path)
{
	char err[1024];
	struct conf *c = conf_path_load(path, builtin, err, sizeof(err));

	if (c == NULL)
		fprintf(stderr, "moat: %s\n", err);
	return c;
}

static int
check_config(struct conf *c)
{
	if (daemon_check_files(c) == -1) {
		conf_free(c);
		return 1;
	}
	conf_print(c, stdout);
	conf_free(c);
	return 0;
}

static int
serve(struct conf *c)
{
	log_init("moat", c->syslog);
	conf_apply_log_levels(c);
	return daemon_serve(c);
}

/* "[-c FILE]": run cmd on the configuration it names; exit status */
static int
with_config(const char *name, int argc, char **argv,
    int (*cmd)(struct conf *))
{
	const char *path;
	struct conf *c;

	if (get_config_arg(argc, argv, &path, NULL) == -1)
		return cmd_usage_error(name, argc > 0 &&
		    strcmp(argv[argc - 1], "-c") == 0 ? "-c needs a file" :
		    "unexpected argument");
	if ((c = load(path)) == NULL)
		return 1;
	return cmd(c);
}

static int
cmd_passwd(int argc, char **argv)
{
	const char *path, *user;
	struct conf *c;
	char pw1[512], pw2[512], hash[crypto_pwhash_STRBYTES], err[1024];
	int rc = 1;

	if (get_config_arg(argc, argv, &path, &user) == -1)
		return cmd_usage_error("passwd", "unexpected argument");
	if (user == NULL)
		return cmd_usage_error("passwd", "which user?");
	if (!users_name_valid(user)) {
		fprintf(stderr, "moat: bad user name '%s'\n", user);
		return 2;
	}
	if ((c = load(path)) == NULL)
		return 1;
	if (ctl_read_password("Password: ", pw1, sizeof(pw1)) == -1) {
		fprintf(stderr, "moat: no password given\n");
		goto done;
	}
	if (isatty(STDIN_FILENO)) {
		if (ctl_read_password("Again: ", pw2, sizeof(pw2)) == -1 ||
		    strcmp(pw1, pw2) != 0) {
			fprintf(stderr, "moat: passwords do not match\n");
			goto done;
		}
	}
	if (pw1[0] == '\0') {
		fprintf(stderr, "moat: empty password refused\n");
		goto done;
	}
	if (ctl_password_check(c, user, pw1) == -1)
		goto done;
	if (crypto_pwhash_str(hash, pw1, strlen(pw1),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		fprintf(stderr, "moat: out of memory hashing the password\n");
		goto done;
	}
	if (users_file_set(c->users_file, user, hash, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat: %s\n", err);
		goto done;
	}
	printf("moat: password for %s set in %s (a running moat uses it "
	    "after moat reload; moat user passwd sets it at once)\n", user,
	    c->users_file);
	rc = 0;
done:
	sodium_memzero(pw1, sizeof(pw1));
	sodium_memzero(pw2, sizeof(pw2));
	conf_free(c);
	return rc;
}

/*
 * config [-c FILE | --builtin] [-d] [KNOB...]: without a knob, the knobs that differ
 * from the defaults (postconf -n); with knobs, their values; -d: the
 * defaults instead of the file's values.
 */
static int
cmd_config(int argc, char **argv)
{
	const char *path = NULL;
	struct conf *c;
	int defaults = 0, nknobs = 0, rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-d") == 0)
			defaults = 1;
		else if (strcmp(argv[i], "--builtin") == 0)
			builtin = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("%s", CONFIG_USAGE);
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "moat: config: unknown option '%s'\n%s",
			    argv[i], CONFIG_USAGE);
			return 2;
		} else
			argv[nknobs++] = argv[i];
	}
	if (defaults) {
		/* relative paths as they would be for the chosen file; with
		 * none, the built-in configuration (all defaults, here) */
		const char *file = builtin ? NULL : conf_path_choose(path);
		char err[1024];

		if (file != NULL && (path != NULL || access(file, F_OK) == 0))
			c = conf_load_defaults(file, err, sizeof(err));
		else {
			builtin = 1;
			c = load(NULL);
			err[0] = '\0';
		}
		if (c == NULL && err[0] != '\0')
			fprintf(stderr, "moat: %s\n", err);
	} else
		c = load(path);
	if (c == NULL)
		return 1;
	if (nknobs == 0) {
		if (defaults)
			conf_print(c, stdout);
		else if (conf_print_changed(c, stdout) == -1) {
			fprintf(stderr, "moat: out of memory\n");
			rc = 1;
		}
	}
	for (int i = 0; i < nknobs; i++) {
		if (nknobs > 1)
			printf("%s = ", argv[i]);
		fflush(stdout);
		if (conf_print_value(c, argv[i], stdout) == -1) {
			if (nknobs > 1)
				printf("\n");
			fprintf(stderr, "moat: config: unknown knob '%s' (NAME, "
			    "SECTION.NAME, listener.LISTENER.NAME or "
			    "ldap.LDAPNAME.NAME; moat config-doc lists them)\n",
			    argv[i]);
			rc = 1;
		}
	}
	conf_free(c);
	return rc;
}

/* the name the binary was run by: "sendmail" and "mailq" are links */
static const char *
prog_name(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	return slash != NULL ? slash + 1 : argv0;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	/* a child of moat serve, exec'd (proc.c): nothing else runs first */
	if (argc > 1 && strcmp(argv[1], "-X") == 0)
		return proc_exec_main(argc, argv);
	if (sodium_init() < 0) {
		fprintf(stderr, "moat: libsodium failed to initialise\n");
		return 1;
	}
	log_init("moat", 0);
	/* run as sendmail(8) or mailq(1): every argument is theirs */
	if (argc > 0 && strcmp(prog_name(argv[0]), "sendmail") == 0)
		return sendmail_main(argc, argv);
	if (argc > 0 && strcmp(prog_name(argv[0]), "mailq") == 0)
		return mailq_main(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (cmd_usage_text(cmd) != NULL && wants_help(argc - 2, argv + 2)) {
		printf("%s", cmd_usage_text(cmd));
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return with_config(cmd, argc - 2, argv + 2, serve);
	if (strcmp(cmd, "check-config") == 0)
		return with_config(cmd, argc - 2, argv + 2, check_config);
	/* administration through the control socket: src/ctl (`moat user
	 * passwd` too: the running daemon writes the file and uses it) */
	if (ctl_is_command(cmd))
		return ctl_main(argc - 1, argv + 1);
	if (strcmp(cmd, "passwd") == 0)
		return cmd_passwd(argc - 2, argv + 2);
	if (strcmp(cmd, "sendmail") == 0)
		return sendmail_main(argc - 1, argv + 1);
	if (strcmp(cmd, "mailq") == 0)
		return mailq_main(argc - 1, argv + 1);
	if (strcmp(cmd, "relaytest") == 0)
		return relaytest_main(argc - 2, argv + 2);
	if (strcmp(cmd, "doctor") == 0)
		return doctor_main(argc - 2, argv + 2);
	if (strcmp(cmd, "dkim") == 0)
		return dkim_main(argc - 2, argv + 2);
	if (strcmp(cmd, "ldap-query") == 0)
		return ldap_query_main(argc - 2, argv + 2);
	if (strcmp(cmd, "config") == 0)
		return cmd_config(argc - 2, argv + 2);
	if (strcmp(cmd, "config-doc") == 0) {
		conf_print_doc(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("moat %s\n", MOAT_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "moat: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
