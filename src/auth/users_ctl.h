/*
 * users_ctl.h - the users file's control operations, run by the parent
 * (root, the only process that may read or write that file).
 */
#ifndef MOAT_USERS_CTL_H
#define MOAT_USERS_CTL_H

#include <stdint.h>

struct ipc_peer;
struct ipc_reader;

/* users_ctl_is_op - 1 when op (enum ctl_op) is answered here */
int users_ctl_is_op(uint32_t op);
int users_ctl_console_op(uint32_t op);

/*
 * users_ctl_request - one PROTO_CTL_REQUEST (user_list or user_passwd)
 * from the control process at from, about the users file at path; the
 * answer goes back to from, a change is recorded as an event through
 * queue (may be NULL). Returns 1 when the file changed (the caller then
 * sends it to the auth process), else 0.
 */
int users_ctl_request(const char *path, struct ipc_peer *from,
    struct ipc_peer *queue, uint64_t id, struct ipc_reader *r);

#endif
