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
 * Public: conf_path_choose, conf_path_load.
 *
 * SECURITY: the environment names a file the caller could name with -c
 * anyway; nothing here runs with more privileges than the caller.
 * LIMITS: none of its own.
 */
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
