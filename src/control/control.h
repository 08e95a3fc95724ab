/*
 * control.h - the control process: the admin socket (and the optional
 * Prometheus metrics listener), forwarding each checked request to the
 * process that can answer it.
 */
#ifndef MOAT_CONTROL_H
#define MOAT_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct conf;
struct proc_env;

/*
 * Who may use the control socket, worked out by the parent at start-up.
 * The daemon's own user and group are what every child and
 * alert_command run as: they are never admins.
 */
struct control_access {
	long	admin_gid;	/* admin group, -1: root only */
	long	daemon_uid;	/* the children's user, -1: not started */
	long	daemon_gid;	/* as root (no user of its own), its group */
};

/*
 * control_proc_main - serve env->control_fd until the parent says stop.
 * Runs unprivileged and chrooted. Returns 0 after a clean exit.
 */
int control_proc_main(struct proc_env *env);

/*
 * control_access_resolve - the access rule of configuration c: the
 * daemon's user and group (when started as root) and the admin group
 * (admin_group; empty: root only, or the caller's own group when not
 * root). -1 with "file:line: what" in err when admin_group does not
 * exist or is the daemon's own group.
 */
int control_access_resolve(const struct conf *c, struct control_access *a,
    char *err, size_t errlen);

/*
 * control_peer_allowed - the access rule: root; never the daemon's user,
 * nor a caller whose primary group is the daemon's; otherwise a member
 * (primary or supplementary) of the admin group. 1 allowed, 0 refused.
 */
int control_peer_allowed(uid_t uid, gid_t gid, const gid_t *groups,
    size_t ngroups, const struct control_access *a);

/*
 * control_socket_create - in the parent, as root, before the children
 * start: <spool_dir>/control.sock, removed first if it exists, mode
 * 0660, owner root, group gid (-1: unchanged). Returns the listening
 * descriptor, or -1 with a reason in err.
 */
int control_socket_create(const char *spool_dir, long gid, char *err,
    size_t errlen);

#endif
