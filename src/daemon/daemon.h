/*
 * daemon.h - the privileged parent and the subcommands of moat(8).
 */
#ifndef MOAT_DAEMON_H
#define MOAT_DAEMON_H

struct conf;

/*
 * daemon_check_files - the files the configuration names can be used:
 * the TLS certificate and key load and match, the smarthost credentials
 * file parses and is mode 0600. Prints "file:line: what is wrong" for
 * each that cannot; returns 0 or -1.
 */
int daemon_check_files(const struct conf *c);

/* daemon_serve - bind, start the children, supervise; exit status */
int daemon_serve(struct conf *conf);

/*
 * priv_drop - become user (when root), optionally chrooted into dir.
 * Must be called after everything that needs files outside the chroot.
 */
void priv_drop(const char *user, const char *chroot_dir);

#endif
