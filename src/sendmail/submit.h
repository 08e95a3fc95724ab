/*
 * submit.h - the daemon's side of local submission (moat sendmail): the
 * socket the parent binds and the parent's answer to "who is this uid".
 */
#ifndef MOAT_SUBMIT_H
#define MOAT_SUBMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conf;
struct ipc_peer;
struct ipc_reader;

/*
 * submit_socket_create - bind and listen on path (mode 0666, so every
 * local user can connect; its directory made 0755 when missing). A
 * socket a running daemon answers on is refused; a stale one is
 * replaced. Returns the descriptor, or -1 with err set.
 */
int submit_socket_create(const char *path, char *err, size_t errlen);

/*
 * submit_user_allowed - 1 when the user login (uid, primary gid) may
 * submit under submit_users ("*", login names, %GROUP), else 0. login
 * is NULL for a uid without a name: only "*" lets it in.
 */
int submit_user_allowed(const struct conf *c, const char *login, uid_t uid,
    gid_t gid);

/*
 * submit_ident - the parent's answer to a PROTO_LOCAL_IDENT from smtp:
 * the uid's login name (from the passwd database, which the chrooted
 * smtp process cannot read) and whether it may submit.
 */
void submit_ident(const struct conf *c, struct ipc_peer *smtp, uint64_t id,
    struct ipc_reader *r);

#endif
