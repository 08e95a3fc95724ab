/*
 * auth_proc.h - the process that checks passwords.
 */
#ifndef MOAT_AUTH_PROC_H
#define MOAT_AUTH_PROC_H

struct event_base;
struct conf;

/* auth_proc_main - serve PROTO_AUTH_CHECK until shutdown; exit status */
struct proc_env;
int auth_proc_main(struct proc_env *env);

#endif
