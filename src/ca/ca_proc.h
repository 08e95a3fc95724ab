/*
 * ca_proc.h - the process that holds the TLS private key.
 */
#ifndef MOAT_CA_PROC_H
#define MOAT_CA_PROC_H

struct proc_env;

/* ca_proc_prepare - read the TLS keys, as root, before the chroot; 0 or -1 */
int ca_proc_prepare(struct proc_env *env);

/* ca_proc_main - answer PROTO_CA_SIGN until shutdown; exit status */
int ca_proc_main(struct proc_env *env);

#endif
