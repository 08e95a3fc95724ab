/*
 * notify.h - the service manager's view of the daemon: systemd's
 * sd_notify protocol (Type=notify), spoken by the parent only.
 */
#ifndef MOAT_NOTIFY_H
#define MOAT_NOTIFY_H

/* notify_init - 1 when a service manager listens ($NOTIFY_SOCKET), else 0 */
int notify_init(void);
/* notify_ready - READY=1 and STATUS=status */
void notify_ready(const char *status);
/* notify_reloading - RELOADING=1 with MONOTONIC_USEC (systemd 253) */
void notify_reloading(void);
/* notify_stopping - STOPPING=1 */
void notify_stopping(void);
/* notify_status - STATUS=status alone */
void notify_status(const char *status);

#endif
