/*
 * queue_incident.h - incidents: what happened to one account or from
 * one client address, gathered from the queue's tables for `moat
 * incident list|show|export` and the console's incident pages
 * (CTL_OP_INCIDENTS, CTL_OP_INCIDENT).
 */
#ifndef MOAT_QUEUE_INCIDENT_H
#define MOAT_QUEUE_INCIDENT_H

#include <stdint.h>

struct ctl_req;
struct ipc_msg;
struct queue_db_ctl;
struct queue_incident;

/* queue_incident_new - the logins seen since start (in memory) */
struct queue_incident *queue_incident_new(void);
/* queue_incident_free - NULL is accepted */
void queue_incident_free(struct queue_incident *qi);

/*
 * queue_incident_login - user logged in with the right password from
 * ip (PROTO_AUTH_LOGIN): counted for the incidents' clients table.
 */
void queue_incident_login(struct queue_incident *qi, const char *user,
    const char *ip, int64_t now);

/*
 * queue_incident_answer - the whole answer to q (CTL_OP_INCIDENTS or
 * CTL_OP_INCIDENT, checked by ctl_req_decode) into ans, begun and
 * ended. 0, or -1 when the database failed (ans discarded).
 */
int queue_incident_answer(struct queue_incident *qi, struct queue_db_ctl *dc,
    const struct ctl_req *q, int64_t now, struct ipc_msg *ans);

#endif
