/*  =========================================================================
    node_runner - inference jobs off the event loop.

    The agent's loop (zmq_poll) must never block, but one frame costs
    5-100 ms of JPEG decoding and detector time.  The runner owns `workers`
    threads; the loop hands a job (model name + JPEG bytes) to an idle one
    and later reads the completion from a socket it polls like any other:

        node_runner_cfg_t cfg;
        node_runner_cfg_defaults (&cfg);
        cfg.models_dir = "/var/lib/meshwatch/models";
        node_runner_t *r = node_runner_new (&cfg, err, sizeof err);
        ...
        if (node_runner_idle (r) > 0)
            node_runner_submit (r, tag, "tiny-face", &jpeg, jpeg_len);
        ...   //  node_runner_sock (r) readable:
        node_runner_result_t res;
        while (node_runner_recv (r, &res) == 1)
            handle (&res);

    There is no queue inside: submit either gives the job to an idle worker
    at once or says -1, so the caller's own queue (with its priorities and
    deadlines) is the only one, and a job the caller no longer wants has
    never been committed to a thread.  A worker counts as idle again before
    its completion is sent, so a loop that reads a completion always finds
    node_runner_idle () > 0 and can refill the worker in the same pass.

    A frame is a JPEG, or raw RGB as a binary PPM (P6) - what the camera
    ingest delivers (camera/cam_ingest.h): the detector runs on its pixels
    in place, with no JPEG round trip.
    Each worker decodes a JPEG itself (the loop never touches pixels)
    and keeps one detector per model, loaded on first use: a detector is
    not thread-safe and holds its net's buffers, so sharing one would
    serialise the workers.  A model that cannot be loaded gives failed
    completions with the reason; the runner never exits for it.

    node_runner_svc_ms () is for admission: a pessimistic figure (the
    90th percentile) of the last 16 measured jobs of a model, decode plus
    inference; before the first measurement a prior per model (tiny-face
    15 ms, ssd-mobilenet 150 ms: the CPU backend on the edge box, one
    thread, a 1080p frame).  Only successful jobs are measured, and never
    the one-off model load, so a burst of bad frames or the first job does
    not skew it.
    ========================================================================= */
#ifndef NODE_RUNNER_H_INCLUDED
#define NODE_RUNNER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/wire.h"

typedef struct _node_runner_t node_runner_t;

typedef struct {
    const char *models_dir;   //  face-api's model/ folder (copied)
    int threads;              //  CPU threads for each detector (INFER_THREADS), >= 1
    float min_score;          //  detector score threshold, [0, 1); the edge uses ~0.3
    int workers;              //  worker threads, >= 1; each owns its detectors
    int tiny_face_size;       //  tiny-face input size, multiple of 32 (default 416)
    //  Frames whose header says they cost more (pixels; x3 progressive) are
    //  refused before decoding: "bad_jpeg: frame too large ...".  0 =
    //  MW_IMAGE_DEFAULT_MAX_PIXELS.  Decode memory: workers x 3 B x this.
    uint64_t max_pixels;
} node_runner_cfg_t;

//  Priors for node_runner_svc_ms before anything was measured, ms.
#define NODE_RUNNER_PRIOR_TINY_FACE_MS 15.0
#define NODE_RUNNER_PRIOR_SSD_MS       150.0
//  Measured jobs kept per model for the estimate.
#define NODE_RUNNER_SVC_WINDOW 16
//  ... and for at most this long (then the prior again: see node_runner_svc_ms).
#define NODE_RUNNER_SVC_MAX_AGE_MS 30000

//  threads 1, min_score 0.5 (face-api's default), workers 1, tiny-face 416,
//  models_dir NULL (must be set).
void node_runner_cfg_defaults (node_runner_cfg_t *cfg);

//  Start the workers.  NULL on bad configuration or when a thread or the
//  socket cannot be made; err says why.  Models are not loaded here.
node_runner_t *node_runner_new (const node_runner_cfg_t *cfg, char *err, size_t errlen);

//  Stop and join the workers (a frame being processed is finished first:
//  at most one job's time) and free.  Pending and unread completions are
//  dropped; they never come.
void node_runner_destroy (node_runner_t **self_p);

//  True if `model` is a known name and its weights manifest is present in
//  models_dir.  Looked up once per model, then cached.
bool node_runner_has_model (node_runner_t *self, const char *model);

//  Give one job to an idle worker.  On success takes ownership of *frame_p
//  (malloc'ed JPEG or P6 bytes), nulls it and returns 0.  Never blocks.  Returns
//  -1, leaving *frame_p with the caller, when no worker is idle or on bad
//  arguments (no frame, frame_len 0, no model or a name longer than
//  MW_MODEL_MAX).  An unknown model name is not a bad argument: it gives a
//  failed completion ("unknown_model"), like any other job failure.
int node_runner_submit (node_runner_t *self, uint64_t tag, const char *model, uint8_t **frame_p,
                        size_t frame_len);

//  Workers free right now.
int node_runner_idle (node_runner_t *self);
int node_runner_workers (node_runner_t *self);

//  The socket the loop polls: readable when a completion is ready.  Owned
//  by the runner; read it only through node_runner_recv.
zsock_t *node_runner_sock (node_runner_t *self);

typedef struct {
    uint64_t tag;   //  as given to submit
    int status;     //  0 ok, -1 failed
    //  Failed: "bad_jpeg: <detail>", "bad_frame: <detail>" (a malformed
    //  raw frame), "unknown_model", "model_load_failed:
    //  <detail>" or "inference_failed: <detail>".
    char reason[MW_REASON_MAX + 1];
    char model[MW_MODEL_MAX + 1];
    uint32_t width, height;              //  frame size, pixels (0 if not decoded)
    double decode_ms, infer_ms;          //  JPEG decode; detector run (pre + net + post)
    uint32_t n_boxes;                    //  <= MW_MAX_BOXES, best first
    mw_wire_box_t boxes[MW_MAX_BOXES];   //  image-relative, millionths, within 0..MW_FIXED_ONE
    uint32_t confidence;                 //  mean score, millionths (0 when no detection)
    uint32_t max_score;                  //  millionths
    uint32_t input_size;                 //  the detector's input size (0 if none ran)
} node_runner_result_t;

//  Read one completion without blocking.  1 = *out filled, 0 = none ready.
int node_runner_recv (node_runner_t *self, node_runner_result_t *out);

//  Pessimistic service time (decode + infer), ms, for `model`; see above.
//  Unknown names get the largest prior.  Safe to call from any thread.
double node_runner_svc_ms (node_runner_t *self, const char *model);

//  Model packages (docs/DEPLOY.md): run `model` (tiny-face, ssd-mobilenet)
//  from `dir` (a folder holding its manifest and shards) instead of
//  models_dir; NULL: back to models_dir.  The runner's loader thread
//  builds the new detector for each worker and runs it once on a blank
//  frame while the worker goes on with jobs on the old one; the worker
//  swaps it in between two jobs (a pointer swap) and drops the old one:
//  no job runs on a half-loaded model, none is lost, none waits on a load,
//  a failed load keeps the old detector.  Returns the new generation (0:
//  unknown model or no memory).
uint64_t node_runner_set_model_dir (node_runner_t *self, const char *model, const char *dir);
//  Where generation `gen` of `model` is: 1 every worker runs it, 0 not
//  yet, 2 superseded by a later call, -1 it failed to load (err).
int node_runner_model_status (node_runner_t *self, const char *model, uint64_t gen, char *err, size_t errlen);

//  Performance tuning (scheduler/tune.h): run tiny-face at input `size`
//  (a multiple of 32 in 32..2048) from now on, swapped in like a model
//  package (above).  -1 for another model or a bad size.
int node_runner_set_input_size (node_runner_t *self, const char *model, int size);
//  The input size `model` should run at; *running: the size every worker
//  runs now, 0 while they differ (a swap under way) or none is loaded.
int node_runner_input_size (node_runner_t *self, const char *model, int *running);

int node_runner_test (bool verbose);

#endif
