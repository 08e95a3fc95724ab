/*
 * queue_alert.h - alert_command, run for the queue's alerts.
 */
#ifndef MOAT_QUEUE_ALERT_H
#define MOAT_QUEUE_ALERT_H

/* The environment of one run; NULL members are set to "". */
struct queue_alert {
	const char	*event;		/* MOAT_EVENT */
	const char	*user;		/* MOAT_USER */
	const char	*client;	/* MOAT_CLIENT */
	const char	*sender;	/* MOAT_SENDER */
	const char	*detail;	/* MOAT_DETAIL */
};

/*
 * queue_alert_run - run cmd ("" : nothing) without a shell, detached,
 * with a's fields in the environment; never waits for it to finish
 */
void queue_alert_run(const char *cmd, const struct queue_alert *a);

#endif
