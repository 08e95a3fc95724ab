/*
 * conf_path.c - the configuration file of a command.
 *
 * Every command that needs the configuration (serve, check-config,
 * passwd, ldap-query and the admin commands, which find the running
 * daemon's control socket through its spool_dir) takes it from the
 * same place: -c FILE, else $MOAT_CONFIG, else MOAT_CONFIG_PATH
 * (/etc/moat/moat.conf as installed). --builtin is the configuration
 * compiled in (a listener on 127.0.0.1:2525, paths below the current
 * directory), what `make run` serves.
 *
 * Public: conf_path_choose, conf_path_load, conf_path_spool_dir.
 *
 * SECURITY: the environment names a file the caller could name with -c
 * anyway; nothing here runs with more privileges than the caller.
 * LIMITS: none of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conf_path.h"

/* conf_path_choose - -c, then $MOAT_CONFIG, then the installed default */
const char *
conf_path_choose(const char *arg)
{
	const char *env;

	if (arg != NULL)
		return arg;
	if ((env = getenv(MOAT_CONFIG_ENV)) != NULL && env[0] != '\0')
		return env;
	return MOAT_CONFIG_PATH;
}

/* conf_path_load - the chosen configuration, or why not */
struct conf *
conf_path_load(const char *arg, int builtin, char *err, size_t errlen)
{
	const char *path;

	if (builtin)
		return conf_load(NULL, err, errlen);
	path = conf_path_choose(arg);
	/* not named on the command line: say how to name another */
	if (arg == NULL && access(path, F_OK) == -1 && errno == ENOENT) {
		snprintf(err, errlen, "%s: %s (use -c FILE or %s)", path,
		    strerror(ENOENT), MOAT_CONFIG_ENV);
		return NULL;
	}
	return conf_load(path, err, errlen);
}

/* conf_path_spool_dir - spool_dir of a file that does not parse */
int
conf_path_spool_dir(const char *arg, char *out, size_t outlen)
{
	const char *path = conf_path_choose(arg);
	char line[1100], value[1100] = "", text[1200], err[512], *p, *e;
	char abs[4096];
	struct conf *c;
	FILE *fp;
	int server = 0, n;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* the comment cut as the parser cuts it */
		line[conf_comment_cut(line, strcspn(line, "\r\n"))] = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '[') {
			server = strncmp(p, "[server]", 8) == 0;
			continue;
		}
		if (!server || strncmp(p, "spool_dir", 9) != 0)
			continue;
		for (p += 9; *p == ' ' || *p == '\t'; p++)
			;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		snprintf(value, sizeof(value), "%.*s", (int)(e - p), p);
	}
	fclose(fp);
	if (path[0] == '/')
		n = snprintf(abs, sizeof(abs), "%s", path);
	else if (getcwd(abs, sizeof(abs) / 2) != NULL)
		n = snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs),
		    "/%s", path);
	else
		return -1;
	if (n < 0 || (size_t)n >= sizeof(abs))
		return -1;
	snprintf(text, sizeof(text), "[server]\n%s%s%s", value[0] ?
	    "spool_dir = " : "", value, value[0] ? "\n" : "");
	if ((c = conf_load_string(text, abs, err, sizeof(err))) == NULL)
		return -1;
	n = snprintf(out, outlen, "%s", c->spool_dir);
	conf_free(c);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
