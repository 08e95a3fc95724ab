/*
 * control_log.h - runtime log levels: `moat log CATEGORY LEVEL [--for T]`.
 *
 * The parent owns the change: it sets its own level, sends
 * PROTO_LOG_LEVEL to every child, and sends the revert when the time
 * runs out. Children apply what they receive with control_log_apply.
 */
#ifndef MOAT_CONTROL_LOG_H
#define MOAT_CONTROL_LOG_H

#include <stdint.h>

struct event_base;
struct ipc_peer;
struct ipc_reader;
struct control_log;
struct conf;

/*
 * control_log_new - the parent's state; peers is the parent's array of
 * PROC_COUNT child peers (NULL entries: no such child), read at each
 * change, so it must outlive the control_log.
 */
struct control_log *control_log_new(struct event_base *base,
    struct ipc_peer *const *peers);
void control_log_free(struct control_log *cl);

/*
 * control_log_request - a PROTO_CTL_REQUEST from the control process
 * (LOG_GET or LOG_SET); the answer goes back on from. A malformed frame
 * is fatal (a sibling's bug).
 */
void control_log_request(struct control_log *cl, struct ipc_peer *from,
    uint64_t id, struct ipc_reader *r);

/*
 * control_log_reload - after a reload (old -> nc) applied nc's levels
 * here and sent nc to the children: the levels set at runtime (before:
 * the levels in force just before the reload) are set again where they
 * must stay; a pending --for revert goes to nc's level.
 */
void control_log_reload(struct control_log *cl, const struct conf *old,
    const struct conf *nc, const int *before);

/* control_log_apply - PROTO_LOG_LEVEL in a child; 0, or -1 if malformed */
int control_log_apply(struct ipc_reader *r);

/*
 * control_child_msg - SHUTDOWN (ends base's loop), RELOAD (ignored) and
 * LOG_LEVEL from the parent, for a child with nothing to reload (RELOAD
 * is answered PROTO_READY on parent): 1 when taken, 0 for another type;
 * malformed is fatal.
 */
int control_child_msg(struct event_base *base, struct ipc_peer *parent,
    uint16_t type, struct ipc_reader *r);

#endif
