/*
 * queue_proc.h - the queue process: owns queue.db, group-commits the
 * messages smtp hands over, records events, delivers to local Maildirs.
 */
#ifndef MOAT_QUEUE_PROC_H
#define MOAT_QUEUE_PROC_H

struct conf;
struct event_base;

#define QUEUE_BATCH_MAX		1024	/* messages in one commit */
#define QUEUE_DELIVER_BATCH	64	/* local deliveries per round */
#define QUEUE_RETRY_SECS	60	/* delay after a failed local delivery */
#define QUEUE_DRAIN_SECS	5	/* at exit, wait this long for smtp to read */

/*
 * queue_proc_main - run the queue process on base until the parent
 * sends PROTO_SHUTDOWN or a peer goes away. Runs unprivileged, with
 * conf->spool_dir and conf->mail_dir used as given (relative to the
 * cwd or absolute). The socketpair ends in env->peer are owned (and
 * closed) from here on. Returns 0 after a clean exit, -1
 * (logged) when the queue database cannot be opened.
 */
struct proc_env;
int queue_proc_main(struct proc_env *env);

#endif
