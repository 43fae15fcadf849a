/*  =========================================================================
    sched_handoff - the life of an inference job across the mesh, as pure
    code: where it runs, what happens when a peer refuses, dies or stalls,
    and how it ends exactly once.

    Both ends of a hand-off live here:

      * the ORIGIN (the box whose camera produced the frame) admits the job
        to its own queue when it will finish in time; otherwise it offers it
        to peers chosen by scheduler/placement.h, one at a time or (PROBE)
        a few at once (OFFER -> REPLY), sends the frame to the first that
        accepts (JOB), withdraws the other offers (CANCEL), and waits for
        the RESULT.  Every REPLY is kept as a fresh sample of that peer's
        load for the next placements.  When no peer accepts, the job goes to the analysis
        server the same way; when the server refuses too, or is down, the
        job fails with an explicit reason.  A runner that goes quiet is
        given up after a timeout and the job is placed again; results are
        de-duplicated by job id, so a slow runner that answers after all
        cannot end a job twice;
      * the RUNNER (a peer, or the analysis server) answers an offer on its
        own current state (placement_admit), holds a short reservation for
        an accepted offer, queues the frame when it arrives, and sends the
        result back to the reply-to address.

    Every job ends in exactly one `done` or one `failed` event (the
    invariant the tests check by job id).  An edge result whose confidence
    is uncertain is then escalated: the frame goes to the analysis server's
    precise model, and the precise result (or its failure) follows as a
    second, linked event.

    The module owns no socket, thread or clock: the daemon gives it the
    time, the peers' state (from their gossiped digests) and the decoded
    messages, and it answers through callbacks: `send` a data-plane message,
    `start` a job on the local inference runner, `event` for the stream and
    the logs.  The transition table is in docs/JOBS.md.
    ========================================================================= */
#ifndef SCHED_HANDOFF_H_INCLUDED
#define SCHED_HANDOFF_H_INCLUDED

#include "common/types.h"
#include "scheduler/placement.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sched_handoff_t sched_handoff_t;

//  Peers whose last REPLY is remembered (a fixed bound: a burst of REPLYs
//  from a thousand peers replaces the oldest, it does not grow a table).
#define HANDOFF_HEARD_MAX 64

//  The hand-off's own messages (the data plane).  The daemon translates
//  them to and from the wire (node/msgmap.c); the simulator (sim/netsim.h)
//  passes them as they are.  Which fields a type carries:
//    OFFER   id, kind, model, deadline_ms, priority, frame_len
//    REPLY   id, status (1 accepted, 0 refused), wait_ms, reason
//    JOB     id, kind, camera, model, deadline_ms, priority, frame, frame_len
//    RESULT  id, kind, status (0 ok, else failed), reason, model, queue_ms,
//            infer_ms, width, height, confidence, boxes, n_boxes
//    CANCEL  id, reason
//  and every type the sender (set by whoever delivers it).  OFFER and JOB
//  also carry `addr`, the sender's data-plane endpoint, where the answers
//  go (as on the wire: a REPLY or RESULT goes back to the addr it answers).
typedef enum {
    HANDOFF_MSG_OFFER = 1,    //  origin -> peer: "can you run job J (model, budget, size)?"
    HANDOFF_MSG_REPLY = 2,    //  peer -> origin: accepted (reservation) or refused, with reason
    HANDOFF_MSG_JOB = 3,      //  origin -> runner: the job and its frame
    HANDOFF_MSG_RESULT = 4,   //  runner -> origin: detections, or a failure with reason
    HANDOFF_MSG_CANCEL = 5,   //  origin -> peer: "release the reservation for J" (another peer won)
} handoff_msg_type_t;

typedef struct {
    uint8_t type;                     //  handoff_msg_type_t
    mw_id_t sender;                   //  set by whoever delivers it (authenticated); ignored on send
    char addr[MW_ADDR_MAX + 1];       //  OFFER, JOB: the sender's data-plane endpoint (reply-to)
    mw_jobid_t id;                    //  the job
    uint8_t kind;                     //  mw_job_kind_t
    char camera[MW_CAMERA_MAX + 1];   //  JOB
    char model[MW_MODEL_MAX + 1];     //  OFFER, JOB, RESULT
    uint32_t deadline_ms;             //  budget left when sent (relative: no clock sync needed)
    uint8_t priority;                 //  0 (lowest) .. 9
    uint32_t frame_len;               //  OFFER: size of the frame to come; JOB: bytes in frame
    const uint8_t *frame;             //  JOB: the JPEG, borrowed for the call
    uint8_t status;                   //  REPLY: 1 accepted; RESULT: 0 ok, else a failure
    char reason[MW_REASON_MAX + 1];   //  REPLY (refused), RESULT (failed), CANCEL (why)
    uint32_t wait_ms;                 //  REPLY: the runner's predicted completion, ms (refused: 0 or
                                      //  what it would have been; old runners send 0)
    uint32_t queue_ms, infer_ms;      //  RESULT: time queued at the runner, inference time
    uint32_t width, height;           //  RESULT: frame size in pixels
    uint32_t confidence;              //  RESULT: mean detection score, millionths
    uint32_t n_boxes;                 //  RESULT: 0..MW_MAX_BOXES
    const mw_wire_box_t *boxes;       //  RESULT: borrowed for the call
} handoff_msg_t;

typedef enum {
    HANDOFF_PATH_NONE = 0,
    HANDOFF_PATH_LOCAL,    //  ran on the origin
    HANDOFF_PATH_PEER,     //  handed off to a peer
    HANDOFF_PATH_SERVER,   //  sent to the analysis server
} handoff_path_t;

typedef enum {
    HANDOFF_QUEUED = 0,   //  waiting: local queue, or an offer in flight
    HANDOFF_RUNNING,      //  in service locally, or the frame is at a runner
    HANDOFF_DONE,
    HANDOFF_FAILED,
} handoff_state_t;

typedef struct {
    placement_policy_t policy;
    placement_cfg_t placement;
    uint32_t queue_max;                      //  local queue (own + peers' jobs)
    uint32_t workers;                        //  local inference slots; 0 = this node runs no jobs
    uint32_t max_inflight;                   //  origin jobs not yet ended
    uint32_t offer_timeout_ms;               //  no REPLY within this: next candidate
    uint32_t reserve_ms;                     //  an accepted offer holds a slot this long
    uint32_t grace_ms;                       //  a job may end late by this much, then fails "timeout"
    uint32_t runner_timeout_min_ms;          //  floor of the wait for a remote result
    uint32_t max_attempts;                   //  placements per job (first one included)
    bool server;                             //  this is the analysis server: runs, never offloads
    bool has_server;                         //  an analysis server is configured (fallback, escalation)
    double escalate_below;                   //  escalate when mean score < this (0 = off) ...
    double band_lo, band_hi;                 //  ... or when any score is in [lo, hi) (lo >= hi = off)
    char escalate_model[MW_MODEL_MAX + 1];   //  the precise model on the server
    double link_mbps;                        //  for the transfer part of a peer's cost
} handoff_cfg_t;

void handoff_cfg_defaults (handoff_cfg_t *cfg);

//  One message as one contiguous copy (the struct, then the frame, then the
//  boxes), for in-process transports such as the simulator: flatten
//  writes at most `cap` bytes and returns the size it needs (call with cap
//  0 to size the buffer); unflatten points frame and boxes back into the
//  buffer (which must stay alive and be 8-byte aligned, as malloc's is).
//  0, or -1 when `len` does not hold what the struct says.
size_t handoff_msg_flatten (const handoff_msg_t *msg, void *buf, size_t cap);
int handoff_msg_unflatten (void *buf, size_t len, handoff_msg_t *out);

//  A peer that could take jobs, as the daemon sees it now.
typedef struct {
    mw_id_t id;
    char addr[MW_ADDR_MAX + 1];   //  its data-plane endpoint
    placement_peer_t p;           //  from its digest (placement.h)
} handoff_peer_t;

//  A job as reported (events, `meshwatch jobs`).
typedef struct {
    mw_jobid_t id;
    char camera[MW_CAMERA_MAX + 1];
    char model[MW_MODEL_MAX + 1];
    handoff_state_t state;
    handoff_path_t path;
    bool origin;                       //  false: we ran it for someone else
    mw_id_t ran_on;                    //  zero until known (server: zero, see server_addr)
    char peer_addr[MW_ADDR_MAX + 1];   //  where it was sent (peer or server), or ""
    bool escalated;                    //  sent for precise analysis
    bool late;                         //  ended after its deadline
    uint32_t attempts;
    char reason[MW_REASON_MAX + 1];   //  failed / refused / escalation failed
    uint64_t submitted_ms;
    uint32_t deadline_ms;
    double queue_ms, transfer_ms, infer_ms, total_ms;
    //  The result (done, precise).
    uint32_t width, height;
    uint32_t n_boxes;
    const mw_wire_box_t *boxes;   //  valid during the event callback only
    double confidence;            //  mean score 0..1
    double max_score;
} handoff_info_t;

//  What the daemon must do for the module.
typedef struct {
    //  Queue a data-plane message to `addr` (never blocks); what it points
    //  to (frame, boxes) is borrowed for the call.  0/-1.
    int (*send) (void *ctx, const char *addr, const handoff_msg_t *msg);
    //  Start a job on the local runner: `tag` comes back with the result
    //  (handoff_local_done).  The frame is borrowed for the call only.
    //  0, or -1 if the runner cannot take it now.
    int (*start) (void *ctx, uint64_t tag, const char *model, const uint8_t *frame, size_t len);
    //  Can the local runner load this model?
    bool (*has_model) (void *ctx, const char *model);
    //  Pessimistic service time of one job of `model` here, ms.
    double (*svc_ms) (void *ctx, const char *model);
    //  An event: name is "done", "failed", "handed_off", "fallback_vms",
    //  "escalated", "precise", "escalation_failed", "redispatched",
    //  "refused" (runner side).  `info` describes the job at that moment.
    void (*event) (void *ctx, const char *name, const handoff_info_t *info);
    void *ctx;
    //  Optional (after ctx, so that positional initialisers of the above
    //  stay valid): called just before the module chooses peers for a job,
    //  so that a caller with a fresher view than its last set_peers can
    //  call sched_handoff_set_peers now.  The simulator's ORACLE does; the
    //  daemon has nothing fresher than its 250 ms refresh and leaves it
    //  NULL.
    void (*refresh_peers) (void *ctx, uint64_t now_ms);
} handoff_ops_t;

//  `self_id`: our node id.  NULL on bad configuration.
sched_handoff_t *sched_handoff_new (const handoff_cfg_t *cfg, const mw_id_t *self_id, const char *self_addr,
                                    const handoff_ops_t *ops);
void sched_handoff_destroy (sched_handoff_t **self_p);

//  The analysis server's data-plane endpoint ("" = none).
void sched_handoff_set_server (sched_handoff_t *self, const char *addr);
//  The peers that may take jobs (copied; at most 1024).  The module adds
//  what it heard from each in its REPLYs (a fresh sample of its load:
//  placement weighs it against the digest by age), kept across calls for
//  the HANDOFF_HEARD_MAX peers heard from most recently.
void sched_handoff_set_peers (sched_handoff_t *self, const handoff_peer_t *peers, size_t n);
//  Our current utilisation 0..1 (the REACTIVE policy reads it).
void sched_handoff_set_util (sched_handoff_t *self, double util);

//  A new job from a camera or `meshwatch submit`.  Takes ownership of
//  *frame_p (malloc'ed) and nulls it, also on failure.  0, or -1 with a
//  reason in `err` (bad model, frame too big, too many jobs in flight):
//  nothing was queued and no event will follow.
int sched_handoff_submit (sched_handoff_t *self, const mw_jobid_t *id, const char *camera, const char *model,
                          uint32_t deadline_ms, uint8_t priority, uint8_t **frame_p, size_t frame_len,
                          uint64_t now_ms, char *err, size_t errlen);

//  A received data-plane message (unknown types are ignored).
void sched_handoff_handle (sched_handoff_t *self, const handoff_msg_t *msg, uint64_t now_ms);
//  The local runner finished the job started with `tag`.  status 0 = ok.
typedef struct {
    int status;
    const char *reason;
    uint32_t width, height;
    double infer_ms;
    uint32_t n_boxes;
    const mw_wire_box_t *boxes;
    uint32_t confidence;   //  millionths
} handoff_local_result_t;
void sched_handoff_local_done (sched_handoff_t *self, uint64_t tag, const handoff_local_result_t *r,
                               uint64_t now_ms);
//  Timers (offers, runners, reservations, expiry) and the local queue.
void sched_handoff_tick (sched_handoff_t *self, uint64_t now_ms);
uint64_t sched_handoff_next_wakeup (sched_handoff_t *self, uint64_t now_ms);

//  The local execution state (placement_admit's input; the digest's).
void sched_handoff_local (sched_handoff_t *self, const char *model, placement_local_t *out);
//  Jobs in the local queue (own and peers').
uint32_t sched_handoff_queue_len (sched_handoff_t *self);

//  Recent jobs, newest first (origin jobs and jobs run for others).
//  Fills at most `max`, returns how many.  Boxes are not included.
size_t sched_handoff_recent (sched_handoff_t *self, handoff_info_t *out, size_t max);

typedef struct {
    uint64_t submitted, done, failed, late;
    uint64_t by_path[4];   //  done jobs by handoff_path_t
    uint64_t offers_sent, offers_accepted, offers_refused, offers_timeout;
    uint64_t runner_timeouts, redispatched, duplicates, escalated, precise, escalation_failed;
    uint64_t remote_accepted, remote_refused, remote_done;
    uint64_t msgs_sent;                        //  data-plane messages sent
    uint64_t cancels_sent, remote_cancelled;   //  reservations released: asked by us, for others
} handoff_stats_t;
void sched_handoff_stats (sched_handoff_t *self, handoff_stats_t *out);

const char *handoff_path_name (handoff_path_t p);     //  "local", "peer", "server", "none"
const char *handoff_state_name (handoff_state_t s);   //  "queued", "running", "done", "failed"

int sched_handoff_test (bool verbose);

#endif
