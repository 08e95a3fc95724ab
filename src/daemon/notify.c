/*
 * notify.c - tell the service manager how the daemon is (sd_notify).
 *
 * Under systemd with Type=notify, $NOTIFY_SOCKET names a datagram
 * socket; the parent says READY=1 once the listeners answer and every
 * child is up, RELOADING=1 (with the CLOCK_MONOTONIC time systemd 253
 * wants for Type=notify-reload; older ones ignore it) and READY=1
 * around a reload, STOPPING=1 when it begins to stop, and STATUS= with
 * sessions and queue size every few seconds. Without $NOTIFY_SOCKET
 * nothing is sent. The children never speak to the manager: the parent
 * takes the variable out of their environment (proc.c).
 *
 * Public: notify_init, notify_ready, notify_reloading, notify_stopping,
 * notify_status.
 *
 * SECURITY: the status text is built by the parent from numbers and
 * its own words; a newline would start another assignment, so any is
 * replaced.
 * LIMITS: NOTIFY_MAX bytes a message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "../lib/log.h"
#include "notify.h"

#define NOTIFY_MAX	512

static int notify_on;

/* notify_init - whether a manager listens */
int
notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	notify_on = s != NULL && s[0] != '\0';
	return notify_on;
}

static void
notify_send(const char *what, const char *status)
{
	char msg[NOTIFY_MAX];
	int n, r;

	if (!notify_on)
		return;
	if (status != NULL)
		n = snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", what,
		    what[0] ? "\n" : "", status);
	else
		n = snprintf(msg, sizeof(msg), "%s", what);
	if (n < 0)
		return;
	/* one assignment per line: a newline in the status would add one */
	if (status != NULL)
		for (char *p = strstr(msg, "STATUS=") + 7; *p; p++)
			if (*p == '\n')
				*p = ' ';
	if ((r = sd_notify(0, msg)) < 0)
		log_warn(LOG_CAT_DAEMON, "event=notify_failed error=\"%s\"",
		    strerror(-r));
}

/* notify_ready - up (after the start, after a reload) */
void
notify_ready(const char *status)
{
	notify_send("READY=1", status);
}

/* notify_reloading - a reload begins */
void
notify_reloading(void)
{
	struct timespec ts;
	char what[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(what, sizeof(what), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	notify_send(what, "reloading");
}

/* notify_stopping - the stop begins */
void
notify_stopping(void)
{
	notify_send("STOPPING=1", "stopping");
}

/* notify_status - the one-line status */
void
notify_status(const char *status)
{
	notify_send("", status);
}
