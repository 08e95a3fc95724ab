/*
 * conf_path.h - which configuration file a command reads: -c FILE, else
 * $MOAT_CONFIG, else the installed default (MOAT_CONFIG_PATH, from the
 * Makefile's SYSCONFDIR); --builtin names the built-in configuration.
 */
#ifndef MOAT_CONF_PATH_H
#define MOAT_CONF_PATH_H

#include <stddef.h>

struct conf;

#ifndef MOAT_CONFIG_PATH
#define MOAT_CONFIG_PATH	"/etc/moat/moat.conf"
#endif
#define MOAT_CONFIG_ENV		"MOAT_CONFIG"

/* conf_path_choose - arg (-c), else $MOAT_CONFIG when set, else the default */
const char *conf_path_choose(const char *arg);

/*
 * conf_path_load - the configuration a command runs on: builtin, or the
 * file conf_path_choose names. A chosen file that does not exist says
 * how to name another ("PATH: No such file or directory (use -c FILE or
 * MOAT_CONFIG)"); NULL with the reason in err.
 */
struct conf *conf_path_load(const char *arg, int builtin, char *err,
    size_t errlen);

/*
 * conf_path_spool_dir - spool_dir of a file that does not parse (an
 * edit not yet reloaded): its [server] spool_dir line alone, parsed as
 * the file's would be (the default when it has none), so the admin
 * commands still reach the daemon that runs the previous version. 0 and
 * out set, or -1.
 */
int conf_path_spool_dir(const char *arg, char *out, size_t outlen);

#endif
