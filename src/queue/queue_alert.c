/*
 * queue_alert.c - run the administrator's alert_command.
 *
 * Public: queue_alert_run.
 *
 * The command runs detached (a double fork leaves no zombie behind and
 * the queue never waits for it), without a shell, with the alert's
 * details in environment variables: nothing a sender or a DNS answer
 * controls is ever parsed as a command line.
 *
 * SECURITY: cmd is the administrator's (alert_command); the values are
 * passed as the environment only.
 * LIMITS: none; one fork per alert.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "queue/queue_alert.h"

/* queue_alert_run - cmd with a in its environment, detached */
void
queue_alert_run(const char *cmd, const struct queue_alert *a)
{
	pid_t pid;

	if (cmd == NULL || cmd[0] == '\0')
		return;
	if ((pid = fork()) == -1) {
		log_err(LOG_CAT_POLICY, "event=alert_command_failed error=fork");
		return;
	}
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		setenv("MOAT_EVENT", a->event ? a->event : "", 1);
		setenv("MOAT_USER", a->user ? a->user : "", 1);
		setenv("MOAT_CLIENT", a->client ? a->client : "", 1);
		setenv("MOAT_SENDER", a->sender ? a->sender : "", 1);
		setenv("MOAT_DETAIL", a->detail ? a->detail : "", 1);
		signal(SIGPIPE, SIG_DFL);
		execl(cmd, cmd, (char *)NULL);
		_exit(127);
	}
	(void)waitpid(pid, NULL, 0);
}
