/*
 * queue_verify.h - the queue's side of the recipient verification
 * cache: the rows of queue.db's verify_cache for the lookup process.
 */
#ifndef MOAT_QUEUE_VERIFY_H
#define MOAT_QUEUE_VERIFY_H

#include <stdint.h>

struct ipc_peer;
struct ipc_reader;
struct queue_db;

/*
 * queue_verify_recv - a PROTO_VERIFY_LOAD (answered with a
 * PROTO_VERIFY_PUT per live row, to lookup) or a PROTO_VERIFY_PUT (the
 * row stored) from the lookup process. 0, or -1 when type is neither.
 * A malformed message is fatal (it comes from a sibling).
 */
int queue_verify_recv(struct queue_db *db, struct ipc_peer *lookup,
    uint16_t type, struct ipc_reader *r);

/* queue_verify_expire - delete the rows that have expired */
void queue_verify_expire(struct queue_db *db);

#endif
