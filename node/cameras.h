/*  =========================================================================
    node_cameras - the agent's camera service: the registry replicated
    across the mesh, the RTSP ingest of this box's cameras, their frames
    into the job path, and scenario 4 (focus).  docs/CAMERAS.md.

    The pure parts live in camera/: the registry's parsing and merge rule
    (cam_registry), the focus geometry and table (cam_focus), the ingest's
    state table and its FFmpeg threads (cam_ingest).  This module is the
    glue, one service on the agent's loop:

      registry    every change is written to the state DB (local changes
                  before the CLI gets its answer), pushed to every alive
                  member at once (CAM_RECORDS), and reconciled by
                  anti-entropy: a CAM_SUMMARY to a random member every
                  CAMERA_SYNC_MS and to every member that (re)joins - after
                  a partition heals - answered by digests and records
      placement   a camera is ingested by the box its document names
                  ("box"), or, when that box is not alive or none is
                  named, by the alive member that rendezvous hashing of
                  (camera id, member id) picks: every box computes the same
                  answer from its own view, and a dead box's cameras move
      ingest      one cam_ingest thread per camera here (at most
                  NODE_CAMERAS_LOCAL_MAX); their frames (raw RGB) become
                  jobs (node_jobs_submit_frame) - at most CAMERA_INFLIGHT
                  unfinished per camera, the rest dropped and counted
      focus       FOCUS_ON on our cameras' results, or `meshwatch focus`,
                  creates a focus (or refreshes a nearby one), sent to
                  every alive member and relayed by each box that sees it
                  first; each box switches its covered cameras to focus
                  mode (every frame, the precise model where the queue has
                  room, priority 9) until the focus expires

    Events: camera.online/stalled/offline, focus.requested/started/ended.
    Control: camera-add, cameras, camera, camera-rm, camera-assign, focus,
    focuses.  /metrics: per-camera frames, drops, reconnects, state.
    ========================================================================= */
#ifndef NODE_CAMERAS_H_INCLUDED
#define NODE_CAMERAS_H_INCLUDED

#include "common/prom.h"
#include "config/config.h"
#include "gossip/crypto.h"
#include "gossip/member.h"
#include "gossip/wire.h"
#include "node/control.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/loop.h"
#include "node/statedb.h"

#include <json.h>
#include <stdbool.h>
#include <stdint.h>

//  Cameras one box ingests at most.
#define NODE_CAMERAS_LOCAL_MAX 64
//  A box that sees a focus first relays it to this many members.
#define NODE_CAMERAS_RELAY_FANOUT 3
#define NODE_CAMERAS_RELAY_HOPS   3

typedef struct _node_cameras_t node_cameras_t;

//  Send a mesh-plane message to `addr` (the transport stamps the header;
//  never blocks).
typedef void (node_cameras_send_fn) (void *ctx, const char *addr, mw_msg_t *msg);

typedef struct {
    mw_config_t *cfg;
    const gossip_identity_t *ident;
    const char *node_name;
    node_statedb_t *db;         //  borrowed
    node_events_t *events;      //  borrowed; may be NULL
    node_jobs_t *jobs;          //  borrowed; NULL: cameras are watched, not analysed
    gossip_member_t *members;   //  borrowed: the view (alive members, addresses)
    node_cameras_send_fn *send;
    void *send_ctx;
} node_cameras_opts_t;

//  Loads the registry from the state DB.  NULL with the reason in err.
node_cameras_t *node_cameras_new (const node_cameras_opts_t *opts, char *err, size_t errlen);
//  Stops every ingest thread (each within a second) and frees.
void node_cameras_destroy (node_cameras_t **self_p);

//  The loop service: the ingest sink's fd, timers (anti-entropy, focus
//  expiry, placement, persistence).
void node_cameras_service (node_cameras_t *self, node_service_t *svc);
//  A decoded mesh message: true if it was ours (CAM_*, FOCUS) and handled.
bool node_cameras_handle (node_cameras_t *self, const mw_msg_t *msg, uint64_t now_ms);
//  A member joined or came back (true), or went away (false): sync with it,
//  place cameras again.
void node_cameras_member (node_cameras_t *self, const gossip_member_info_t *m, bool up, uint64_t now_ms);

int node_cameras_control_register (node_cameras_t *self, node_control_t *ctl);
//  The VMS's HTTP API (node/api.h, docs/API.md): GET/POST /api/v1/cameras,
//  GET/PUT/DELETE /api/v1/cameras/{id}, GET /api/v1/cameras/{id}/latest.jpg
//  and POST /api/v1/focus, handled on the loop.  0, or -1 if a route is
//  not in the API's table.
typedef struct _node_api_t node_api_t;
int node_cameras_api_register (node_cameras_t *self, node_api_t *api);
//  The latest frame of a camera ingested here as a JPEG (malloc'ed into
//  *jpeg), with its capture time.  Frames are kept at most once a second
//  per camera, within NODE_CAMERAS_LATEST_BUDGET bytes for all cameras.
//  0, or -1 with the reason (not here, no frame yet).
#define NODE_CAMERAS_LATEST_BUDGET (64u << 20)
int node_cameras_latest_jpeg (node_cameras_t *self, const char *id, uint8_t **jpeg, size_t *len,
                              uint64_t *capture_ms, char *err, size_t errlen);
void node_cameras_prometheus (node_cameras_t *self, mw_prom_t *out);
json_object *node_cameras_status_json (node_cameras_t *self);

//  The registry as JSON documents, for an HTTP API (the VMS's
//  /api/v1/cameras).  Call on the loop's thread.  list: every camera
//  (cam_record_json plus where it is analysed); get: one, or NULL;
//  put: add or replace from the seed's document (the stored record, or
//  NULL with the reason in err, naming the field); delete: 0, or -1 with
//  the reason.  Changes are persisted and replicated like the CLI's.
json_object *node_cameras_api_list (node_cameras_t *self);
json_object *node_cameras_api_get (node_cameras_t *self, const char *id);
json_object *node_cameras_api_put (node_cameras_t *self, const char *json, size_t len, char *err,
                                   size_t errlen);
int node_cameras_api_delete (node_cameras_t *self, const char *id, char *err, size_t errlen);

//  Start (or refresh, when one runs nearby) a focus.  camera: a registry
//  id (its position is the point) or NULL with lat/lon.  radius_m, ttl_s:
//  0 = FOCUS_RADIUS_M, FOCUS_TTL_S.  The focus document ({"focus",
//  "coalesced", ...}), or NULL with the reason.
json_object *node_cameras_focus (node_cameras_t *self, const char *camera, double lat, double lon,
                                 uint32_t radius_m, uint32_t ttl_s, const char *trigger, uint64_t now_ms,
                                 char *err, size_t errlen);

int node_cameras_test (bool verbose);

#endif
