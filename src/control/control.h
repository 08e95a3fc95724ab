/*
 * control.h - the control process: the admin socket (and the optional
 * Prometheus metrics listener), forwarding each checked request to the
 * process that can answer it.
 */
#ifndef MOAT_CONTROL_H
#define MOAT_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct proc_env;

/*
 * control_proc_main - serve env->control_fd until the parent says stop.
 * Runs unprivileged and chrooted. Returns 0 after a clean exit.
 */
int control_proc_main(struct proc_env *env);

/*
 * control_peer_allowed - the access rule: root, or a member (primary or
 * supplementary) of admin_gid (-1: root only). 1 allowed, 0 refused.
 */
int control_peer_allowed(uid_t uid, gid_t gid, const gid_t *groups,
    size_t ngroups, long admin_gid);

/*
 * control_socket_create - in the parent, as root, before the children
 * start: <spool_dir>/control.sock, removed first if it exists, mode
 * 0660, owner root, group gid (-1: unchanged). Returns the listening
 * descriptor, or -1 with a reason in err.
 */
int control_socket_create(const char *spool_dir, long gid, char *err,
    size_t errlen);

#endif
