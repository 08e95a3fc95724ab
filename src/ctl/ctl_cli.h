/*
 * ctl_cli.h - the administrator's commands: moat sessions, queue, ban,
 * user, events, log, stats, status. They talk to the running daemon
 * through its control socket.
 */
#ifndef MOAT_CTL_CLI_H
#define MOAT_CTL_CLI_H

#include <stddef.h>
#include <stdint.h>

struct ctl_filter;

/* ctl_is_command - 1 when name is one of the commands of ctl_main */
int ctl_is_command(const char *name);

/*
 * ctl_main - run "name args..." (argv[0] is the command name). Exit
 * status: 0 done, 1 the operation failed (or the daemon is not running,
 * or access was refused), 2 usage error.
 */
int ctl_main(int argc, char **argv);

/*
 * ctl_read_password - one line from stdin into buf (without its line
 * end), not echoed when stdin is a terminal; 0, or -1 at end of input.
 */
int ctl_read_password(const char *prompt, char *buf, size_t len);

struct conf;
/*
 * ctl_password_check - user's new password pw against c: -1 (and a
 * message on stderr) when shorter than password_min_length; a warning
 * only when user is no local mailbox. 0 when it may be set.
 */
int ctl_password_check(const struct conf *c, const char *user,
    const char *pw);

/*
 * ctl_filter_option - if argv[*i] is a queue filter option, consume it
 * (and its value) into f and return 1; 0 when it is not one; -1 with a
 * reason in err when its value is bad or missing.
 */
int ctl_filter_option(int argc, char **argv, int *i, struct ctl_filter *f,
    char *err, size_t errlen);

/*
 * ctl_daemon_config - ask the running daemon (`status`) which file it
 * loaded: 1 with its path in out ("(builtin)" for the built-in one); 0
 * when no daemon answers on the control socket of conf_path (or
 * builtin, or socket_path), why saying so; -1 when not even the
 * configuration naming the socket could be read. Prints nothing.
 */
int ctl_daemon_config(const char *conf_path, int builtin,
    const char *socket_path, char *out, size_t len, char *why,
    size_t whylen);

#endif
