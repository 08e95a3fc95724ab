/*
 * smtp_ctl.h - the network process's side of the control socket:
 * listing and killing sessions, session counts for stats.
 */
#ifndef MOAT_SMTP_CTL_H
#define MOAT_SMTP_CTL_H

#include <stdint.h>

struct smtp_server;
struct ipc_reader;

/* smtp_ctl_start - serve control requests on control_fd (-1: none) */
void smtp_ctl_start(struct smtp_server *srv, int control_fd);
/* smtp_ctl_stop - close the control peer */
void smtp_ctl_stop(void);

#endif
