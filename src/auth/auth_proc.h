/*
 * auth_proc.h - the process that checks passwords.
 */
#ifndef MOAT_AUTH_PROC_H
#define MOAT_AUTH_PROC_H

struct event_base;
struct conf;

/* auth_proc_main - serve PROTO_AUTH_CHECK until shutdown; exit status */
int auth_proc_main(struct conf *conf, struct event_base *base, int parent_fd,
    int smtp_fd);

#endif
