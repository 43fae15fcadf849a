/*  =========================================================================
    node_vms - the VMS interface of an agent, in one place: the durable
    event log (node/evlog.h) behind the event stream, the HTTP API
    (node/api.h) with its tokens (node/tokens.h), the outboxes
    (node/outbox.h: WEBHOOK_URL, and the seed's environment-info POST to
    VMS_URL:VMS_ENV_PORT), and environment reports.

    The agent creates it once its event stream and control socket exist,
    adds its services to the loop, and feeds it the state and boxes
    documents (node_vms_set_docs) once a second and on view changes.  Other
    modules reach the API through node_vms_api () to plug in their routes
    (the camera registry, focus).

    Control commands it registers (the CLI's token and env subcommands):
      token_create NAME [ro]   -> {"name", "token", "read_only"}  (the only
                                  time the token's text is shown)
      token_list               -> [{name, read_only, created_ms, ...}]
      token_revoke NAME        -> {"name", "revoked": true}
      env_report RESULT        -> {"id": "EPOCH-SEQ", "seq", "nid", ...}

    Environment reports: the seed's environment AI result ("4") for this
    box, from `meshwatch env report --result R` or POST /api/v1/env, becomes
    an env.report event {nid, result, date, time, source} in the log; the
    env outbox turns each into {"nid","date","time","result"} for the VMS.
    nid is ENV_NID, else "0x" + the first 8 hex digits of the box's id (the
    seed numbered its boxes 0x01, 0x02...: set ENV_NID to keep that
    numbering; the default is unique per box without configuration).
    ========================================================================= */
#ifndef NODE_VMS_H_INCLUDED
#define NODE_VMS_H_INCLUDED

#include "config/config.h"
#include "node/api.h"
#include "node/control.h"
#include "node/events.h"
#include "node/loop.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _node_vms_t node_vms_t;

typedef struct {
    mw_config_t *cfg;
    const char *node_id;
    const char *mesh_ip;       //  the address API_BIND=mesh listens on ("": every interface)
    node_events_t *events;     //  borrowed: numbered and logged from now on
    node_control_t *control;   //  borrowed: the commands above are registered on it
} node_vms_opts_t;

//  NULL with the reason (state DB, API port, TLS files, outbox URLs...).
node_vms_t *node_vms_new (const node_vms_opts_t *opts, char *err, size_t errlen);
//  Stops the outboxes and the API; detaches and closes the log (after
//  committing what is queued).
void node_vms_destroy (node_vms_t **self_p);

//  Add the event stream's and the API's services to the loop.
void node_vms_services (node_vms_t *self, node_loop_t *loop);
//  The API, or NULL when API_PORT=0.
node_api_t *node_vms_api (node_vms_t *self);
//  Our API's base URL as other hosts reach it ("" when off or loopback
//  only), and the port and scheme that go into our digest.
const char *node_vms_api_url (node_vms_t *self);
int node_vms_api_port_public (node_vms_t *self, bool *https);
//  The log (for the event stream's epoch in documents).
node_evlog_t *node_vms_log (node_vms_t *self);

//  Snapshots for GET /api/v1/state and /boxes (taken over; dropped when the
//  API is off).
void node_vms_set_docs (node_vms_t *self, json_object *state, json_object *boxes);
//  Publish an env.report event.  0 with its seq, -1 with why (bad result).
int node_vms_env_report (node_vms_t *self, const char *result, const char *source, uint64_t *seq, char *why,
                         size_t whylen);
//  Called with every result accepted by node_vms_env_report (after it is
//  published): the deployments choose variants from them.  One observer.
typedef void (node_vms_env_fn) (void *ctx, const char *result, const char *source);
void node_vms_on_env (node_vms_t *self, node_vms_env_fn *fn, void *ctx);
//  The env.report's nid for this box.
const char *node_vms_nid (node_vms_t *self);
//  {"log": {...}, "api": {...}|null, "outboxes": [...]} for `status`.
json_object *node_vms_status_json (node_vms_t *self);
//  The log's, the API's and the outboxes' counters for /metrics.
struct _mw_prom_t;
void node_vms_prometheus (node_vms_t *self, struct _mw_prom_t *out);

int node_vms_test (bool verbose);

#endif
