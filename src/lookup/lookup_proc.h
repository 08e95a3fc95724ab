/*
 * lookup_proc.h - the process that answers whether a recipient exists.
 */
#ifndef MOAT_LOOKUP_PROC_H
#define MOAT_LOOKUP_PROC_H

struct proc_env;

/*
 * lookup_proc_prepare - what must be read as root before the process
 * drops privileges (the LDAP bind files); 0, or -1 to stop the daemon
 */
int lookup_proc_prepare(struct proc_env *env);

/* lookup_proc_main - answer PROTO_LOOKUP_RCPT until shutdown; exit status */
int lookup_proc_main(struct proc_env *env);

#endif
