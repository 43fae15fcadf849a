/*  =========================================================================
    cam_ingest - one camera's RTSP stream, pulled and decoded in-process
    with FFmpeg's libraries on a thread of its own, never on the agent's
    event loop.

    Each camera is a state machine, an explicit table (cam_fsm_step):

        CONNECTING --first frame--> STREAMING --no frame for STALL_MS--> STALLED
            |                          |  ^                                 |
            | fail / deadline          |  +--------- a frame again ---------+
            v                          v                                    |
         BACKOFF <--- EOF, error -------+<--- still nothing (2 x STALL_MS) --+
            |
            +--- 0.5 s .. 30 s (exponential, +-20 % jitter) ---> CONNECTING

    RTSP runs over TCP.  Every blocking FFmpeg call (open, stream info,
    read) is bounded by our own deadline through an AVIOInterruptCB:
    FFmpeg's own RTSP timeout was measured to give up only after ~8.5 s
    on a frozen server and never during a 6 s freeze, so the agent keeps
    its own watchdog on *decoded frames*.  A camera whose port refused
    the connection is probed (a TCP connect every 0.5 s) during its
    back-off, so a camera that reboots is streaming again within a second
    or two of its server coming back, whatever the back-off had grown to;
    the back-off still spaces out the RTSP sessions (a camera that accepts
    TCP but fails RTSP is not hammered).

    Modes set the analysis rate: IDLE decodes keyframes only
    (AVDISCARD_NONKEY: most of the decode cost is skipped) and delivers at
    most one per keyframe; NORMAL delivers the camera's fps (by the
    stream's timestamps, so a 25 fps stream at fps 5 gives every fifth
    frame, exactly); FOCUS delivers every frame.  Only delivered frames are
    converted (libswscale) to RGB, scaled to fit MAX_SIDE, and written as
    a binary PPM (P6) that the inference runner reads without a JPEG round
    trip.

    Frames and state changes reach the loop through a cam_sink: a bounded
    queue and an eventfd the loop polls.  At most two frames of a camera
    wait in it; a camera whose frames are not taken loses the newest, and
    counts them as dropped.
    ========================================================================= */
#ifndef CAM_INGEST_H_INCLUDED
#define CAM_INGEST_H_INCLUDED

#include "camera/cam_registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  ---- the state machine (pure) -----------------------------------------

typedef enum {
    CAM_ST_CONNECTING = 0,
    CAM_ST_STREAMING,
    CAM_ST_STALLED,
    CAM_ST_BACKOFF,
    CAM_ST_STOPPED,
    CAM_ST_COUNT
} cam_state_t;

typedef enum {
    CAM_IN_FRAME = 0,   //  a frame was decoded
    CAM_IN_FAIL,        //  open/read/decode failed, or the stream ended
    CAM_IN_WATCHDOG,    //  the deadline passed without a frame
    CAM_IN_RETRY,       //  the back-off is over (or the probe found the port open)
    CAM_IN_STOP,        //  the camera was removed or the agent stops
    CAM_IN_COUNT
} cam_input_t;

//  What a transition asks the ingest to do.
#define CAM_ACT_ONLINE  0x01   //  announce camera.online
#define CAM_ACT_STALLED 0x02   //  announce camera.stalled
#define CAM_ACT_OFFLINE 0x04   //  announce camera.offline (once per outage)
#define CAM_ACT_CLOSE   0x08   //  close the stream
#define CAM_ACT_BACKOFF 0x10   //  start a back-off (failures + 1)
#define CAM_ACT_CONNECT 0x20   //  open the stream (a reconnect when it was up before)
#define CAM_ACT_HEALTHY 0x40   //  reset the failure count

typedef struct {
    cam_state_t state;
    bool down_announced;   //  camera.offline said since the last online
    bool ever_online;
    uint32_t failures;   //  consecutive, for the back-off
} cam_fsm_t;

//  Apply one input; returns the CAM_ACT_* flags.  Inputs a state does not
//  expect change nothing (0).
int cam_fsm_step (cam_fsm_t *fsm, cam_input_t in);
const char *cam_state_name (cam_state_t s);   //  "connecting", ...
//  The back-off before attempt `failures` (1 = first failure): min * 2^(f-1)
//  capped at max, times a jitter factor in [0.8, 1.2) from r in [0, 1).
uint32_t cam_backoff_ms (uint32_t failures, uint32_t min_ms, uint32_t max_ms, double r);

//  ---- the sink -----------------------------------------------------------

typedef struct _cam_sink_t cam_sink_t;

typedef enum { CAM_NOTE_FRAME = 1, CAM_NOTE_STATE = 2 } cam_note_kind_t;

typedef struct {
    cam_note_kind_t kind;
    uint32_t slot;   //  the ingest's slot and generation, as configured
    uint64_t gen;
    //  FRAME: a P6 PPM (owned by the note: free () it, or pass it on)
    uint8_t *ppm;
    size_t len;
    uint32_t width, height;           //  the PPM's size
    uint32_t src_width, src_height;   //  the camera's
    uint64_t capture_ms;              //  wall clock (see docs/CAMERAS.md)
    bool keyframe;
    cam_mode_t mode;   //  the mode it was delivered in
    //  STATE
    cam_state_t state, prev;
    int actions;   //  CAM_ACT_* of the transition
    char reason[96];
} cam_note_t;

#define CAM_SINK_MAX 512   //  notes waiting, all cameras together

cam_sink_t *cam_sink_new (void);
void cam_sink_destroy (cam_sink_t **self_p);
//  The eventfd the loop polls (readable when notes wait).
int cam_sink_fd (cam_sink_t *self);
//  Take one note: 1, or 0 when none waits.
int cam_sink_pop (cam_sink_t *self, cam_note_t *out);
//  Notes waiting.
size_t cam_sink_size (cam_sink_t *self);

//  ---- one camera's ingest -----------------------------------------------

typedef struct {
    const char *id;    //  camera id (thread name, logs)
    const char *url;   //  rtsp://...
    cam_mode_t mode;
    double fps;                    //  NORMAL's rate (> 0)
    uint32_t max_side;             //  delivered frames fit in max_side x max_side
    uint32_t stall_ms;             //  no decoded frame this long: stalled
    uint32_t connect_timeout_ms;   //  open + first frame
    uint32_t backoff_min_ms, backoff_max_ms;
    uint32_t probe_ms;     //  TCP probe period during a back-off after a refusal (0 = off)
    const char *decoder;   //  cam_decode backend: "auto", "cpu", "nvv4l2"
    int decode_threads;
    uint32_t slot;
    uint64_t gen;
    cam_sink_t *sink;   //  borrowed; outlives the ingest
    uint64_t seed;      //  jitter
} cam_ingest_cfg_t;

//  Defaults: NORMAL, fps 5, max side 1280, stall 4000, connect 5000,
//  back-off 500..30000, probe 500, decoder "auto", 1 thread.
void cam_ingest_cfg_defaults (cam_ingest_cfg_t *cfg);

typedef struct _cam_ingest_t cam_ingest_t;

//  Start the camera's thread.  NULL with the reason in err.
cam_ingest_t *cam_ingest_new (const cam_ingest_cfg_t *cfg, char *err, size_t errlen);
//  Stop (interrupting whatever FFmpeg is doing), join, free.
void cam_ingest_destroy (cam_ingest_t **self_p);
void cam_ingest_set_mode (cam_ingest_t *self, cam_mode_t mode);
void cam_ingest_set_fps (cam_ingest_t *self, double fps);

typedef struct {
    cam_state_t state;
    cam_mode_t mode;
    uint64_t frames_decoded, frames_delivered, frames_dropped;
    uint64_t packets, bytes;
    uint64_t reconnects, failures_total;
    uint32_t width, height;   //  the stream's (0 until known)
    double keyint_ms;         //  keyframe interval seen
    char decoder[64];
    char reason[96];           //  the last failure
    uint64_t state_since_ms;   //  monotonic
    uint64_t last_frame_ms;    //  monotonic, 0 = never
    uint64_t thread_cpu_ns;    //  CPU time of the camera's thread
    uint64_t decode_cpu_ns;    //  of which in the decoder (send + receive)
} cam_ingest_stats_t;
void cam_ingest_stats (cam_ingest_t *self, cam_ingest_stats_t *out);

int cam_ingest_test (bool verbose);

#endif
