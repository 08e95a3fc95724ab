/*
 * console_api.h - which control operations the web console may call,
 * and their arguments from a query string or form into a ctl_req.
 */
#ifndef MOAT_CONSOLE_API_H
#define MOAT_CONSOLE_API_H

#include <stddef.h>

#include "ctl/ctl_msg.h"

struct evkeyvalq;

/*
 * console_api_op - the operation /api/NAME names, when the console
 * allows it: CTL_OP_NONE for a name not in the allow-table. *changes is
 * set to 1 for an operation that changes state (POST only).
 */
enum ctl_op console_api_op(const char *name, int *changes);

/*
 * console_api_req - the arguments of op from params (decoded query or
 * form) into q: each parameter is one the operation takes (another one
 * is an error), converted as the CLI converts its option, then the
 * whole request goes through ctl_req_encode and ctl_req_decode, the
 * checks of the control socket. 0, or -1 with a reason in err.
 */
int console_api_req(enum ctl_op op, const struct evkeyvalq *params,
    struct ctl_req *q, char *err, size_t errlen);

#endif
