/*  =========================================================================
    node_jobs - inference jobs in the daemon: the data plane, the local
    runner, the hand-off state machine, the frame source, and their views.

    The decisions are pure code elsewhere (scheduler/handoff.h for a job's
    life, scheduler/placement.h for where it runs); inference happens on
    worker threads (node/runner.h).  This module is the glue the agent and
    the analysis server share: it owns the data-plane transport (a second
    ZeroMQ ROUTER on JOB_PORT, or VMS_PORT for the server, with its own
    size limit and replay window), feeds the state machine with decoded
    messages, runner completions, the time and the peers' digests, and
    turns its callbacks into sends, runner submissions, events, log lines,
    `meshwatch jobs` and /metrics.

    Nothing here blocks the loop: sends are non-blocking, inference runs on
    the runner's threads, the source's frames are read once at start.
    ========================================================================= */
#ifndef NODE_JOBS_H_INCLUDED
#define NODE_JOBS_H_INCLUDED

#include "common/prom.h"
#include "config/config.h"
#include "gossip/crypto.h"
#include "gossip/guard.h"
#include "gossip/member.h"
#include "node/control.h"
#include "node/events.h"
#include "node/loop.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct _node_jobs_t node_jobs_t;

typedef struct {
    mw_config_t *cfg;
    const gossip_identity_t *ident;
    gossip_keyring_t *keys;   //  borrowed
    uint64_t session;
    const char *bind_endpoint;   //  "tcp://IP:PORT" (or tcp://*:PORT for the server)
    const char *advertise;       //  where peers send replies: "tcp://IP:PORT"
    node_events_t *events;       //  borrowed; may be NULL
    bool server;                 //  the analysis server: runs jobs from the mesh, no cameras
    gossip_guard_t *guard;       //  borrowed; may be NULL: caps on the data port's connections
    uint32_t out_max;            //  outbound connections held at once (0: the default)
    uint32_t conn_max;           //  connections the data port accepts (0: the default)
} node_jobs_opts_t;

//  NULL on failure, with the reason in err (bad config, port in use, models).
node_jobs_t *node_jobs_new (const node_jobs_opts_t *opts, char *err, size_t errlen);
void node_jobs_destroy (node_jobs_t **self_p);

//  Sockets to poll (data plane in and out, runner): fills at most `max`,
//  returns how many it needs (node_loop's contract: a caller with less room
//  grows and asks again).  Call node_jobs_readable () when any of them is readable.
int node_jobs_pollitems (node_jobs_t *self, zmq_pollitem_t *items, int max);
void node_jobs_readable (node_jobs_t *self, uint64_t now_ms);
void node_jobs_tick (node_jobs_t *self, uint64_t now_ms);
uint64_t node_jobs_next_wakeup (node_jobs_t *self, uint64_t now_ms);
//  The four hooks above as one loop service (no leave hook).
void node_jobs_service (node_jobs_t *self, node_service_t *svc);

//  Submit one frame as a job of this box's camera `camera`.  The frame is
//  taken (*frame_p NULL after).  0 with the id, or -1 with the reason.
int node_jobs_submit (node_jobs_t *self, const char *camera, const char *model, uint32_t deadline_ms,
                      uint8_t priority, uint8_t **frame_p, size_t len, uint64_t now_ms, mw_jobid_t *id_out,
                      char *err, size_t errlen);

//  A frame with what is known of it: from a camera of the registry, the
//  frame is raw RGB (a P6 PPM; JPEG-encoded only if it leaves the box).
#define NODE_JOBS_NAME_MAX 128   //  a camera's registry name, bytes
typedef struct {
    const char *camera_name;          //  the registry's name (NULL: ask hooks.camera_name)
    uint64_t capture_ms;              //  wall clock, ms since the epoch (0 = unknown)
    uint32_t src_width, src_height;   //  the camera's frame size (0 = the frame's own)
    bool quiet;                       //  a refusal is the caller's to log (a camera at 25 fps)
} node_jobs_frame_info_t;
int node_jobs_submit_frame (node_jobs_t *self, const char *camera, const char *model, uint32_t deadline_ms,
                            uint8_t priority, uint8_t **frame_p, size_t len, uint64_t now_ms,
                            const node_jobs_frame_info_t *info, mw_jobid_t *id_out, char *err, size_t errlen);

//  How one of our jobs ended: event is "done", "failed", "precise" or
//  "escalation_failed"; boxes are lent for the call.
typedef struct {
    const char *event;
    const mw_jobid_t *id;
    const char *camera;
    const char *model;
    uint32_t n_boxes;
    const mw_wire_box_t *boxes;
    uint64_t capture_ms;
} node_jobs_end_t;
typedef struct {
    //  The registry name of a camera id, or NULL (lent until the next call).
    const char *(*camera_name) (void *ctx, const char *camera);
    void (*ended) (void *ctx, const node_jobs_end_t *end);
    void *ctx;
} node_jobs_hooks_t;
//  NULL clears them.
void node_jobs_set_hooks (node_jobs_t *self, const node_jobs_hooks_t *hooks);

//  The peers that may take jobs, from the membership view and the digests
//  (their job port, service time, queue and forecasts).
void node_jobs_update_peers (node_jobs_t *self, gossip_member_t *members, uint64_t wall_ms);
//  A member was reaped: forget its replay state (the data plane's own).
void node_jobs_forget (node_jobs_t *self, const mw_id_t *id);
//  Current utilisation 0..1 (the reactive policy's input).
void node_jobs_set_util (node_jobs_t *self, double util);

//  What our digest advertises, and the scheduler's inputs.
typedef struct {
    uint16_t port;   //  0: we run no jobs
    double svc_ms;
    uint32_t workers, queue_max, queue_len;
    double arrival_rate;   //  jobs/s submitted here (EWMA)
} node_jobs_digest_t;
void node_jobs_digest (node_jobs_t *self, node_jobs_digest_t *out);

//  Control commands (node/control.h): "submit" (6 frames: submit, camera,
//  model, deadline_ms, priority, jpeg; replies {"id": ...}), "job ID" (the
//  job's document), "jobs" (an array of them, newest first).
int node_jobs_control_register (node_jobs_t *self, node_control_t *ctl);
//  The runner (model packages swap models in it: node/deploy.c); NULL if none.
struct _node_runner_t *node_jobs_runner (node_jobs_t *self);
//  One job's document (the same as in "jobs"), or NULL if we hold no such
//  origin job.
json_object *node_jobs_job_json (node_jobs_t *self, const mw_jobid_t *id);
//  Every job we hold (origin and run for peers), newest first.
json_object *node_jobs_list_json (node_jobs_t *self);

//  Prometheus families: counters and latency histograms per path.
void node_jobs_prometheus (node_jobs_t *self, mw_prom_t *out);
//  The "jobs" object of `status`.
json_object *node_jobs_status_json (node_jobs_t *self);

int node_jobs_test (bool verbose);

#endif
