/*  =========================================================================
    node_jobs - inference jobs in the daemon (see jobs.h, docs/JOBS.md).

    Frames are owned in exactly one place at a time: the hand-off state
    machine keeps the origin's copy for as long as the job (and a possible
    escalation) lives; the runner gets its own copy when a job starts, so
    that a job given up on while it runs can be freed without waiting for
    the worker; a frame from the source is copied per job for the same
    reason.  Copies of a 100 KB JPEG cost microseconds; a use-after-free
    across threads costs a box.
    ========================================================================= */
#include "node/jobs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sanitize.h"
#include "common/selftest.h"
#include "gossip/sign.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "node/frameenc.h"
#include "inference/detector.h"
#include "inference/image.h"
#include "inference/ssd_mobilenet.h"
#include "inference/tiny_face.h"
#include "node/msgmap.h"
#include "node/runner.h"
#include "inference/image.h"
#include "scheduler/digest.h"
#include "scheduler/handoff.h"
#include "scheduler/tune.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOURCE_MAX_FILES 256
#define N_BUCKETS        11
//  Jobs whose frame info and detections are kept for the views (newest).
#define META_MAX 1024
//  Raw frames waiting for their JPEG before they leave for a runner.
#define ENC_PENDING_MAX 32
//  Milliseconds here; exported in seconds (meshwatch_job_latency_seconds).
static const double s_buckets[N_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

typedef struct {
    uint64_t count[N_BUCKETS + 1];   //  last = +Inf
    double sum;
    uint64_t n;
} histo_t;

//  What the views and events say about a job beyond the hand-off's own
//  record: where its frame came from, and the detections themselves.
typedef struct {
    bool used;
    mw_jobid_t id;
    char camera_name[NODE_JOBS_NAME_MAX + 1];
    bool has_name;
    uint64_t capture_ms;              //  0 = unknown
    uint32_t src_width, src_height;   //  the camera's frame (0 = as analysed)
    uint32_t width, height;           //  as analysed
    uint32_t n_boxes, n_precise;
    mw_wire_box_t *boxes, *precise;   //  edge result, precise result
    char precise_model[MW_MODEL_MAX + 1];
} job_meta_t;

//  A JOB message held back while its raw frame becomes a JPEG.
typedef struct {
    bool used;
    uint64_t tag;
    char addr[MW_ADDR_MAX + 1];
    void *flat;   //  the message without its frame (handoff_msg_flatten)
    size_t flat_len;
} enc_pending_t;

struct _node_jobs_t {
    mw_config_t *cfg;
    const gossip_identity_t *ident;
    bool server;
    node_events_t *events;
    gossip_replay_t *replay;
    gossip_transport_t *data;
    node_runner_t *runner;
    sched_handoff_t *handoff;
    char advertise[MW_ADDR_MAX + 1];
    uint16_t port;
    uint32_t workers, queue_max;
    //  Defaults for jobs from the control socket and the source.
    uint32_t deadline_ms;
    //  The frame source (SOURCE=dir:PATH[:FPS]).
    uint8_t *src_frame[SOURCE_MAX_FILES];
    size_t src_len[SOURCE_MAX_FILES];
    size_t src_n, src_next;
    double src_fps;
    uint64_t src_next_ms;
    char camera[MW_CAMERA_MAX + 1];
    char src_model[MW_MODEL_MAX + 1];
    //  Arrival rate: jobs per second, an EWMA over 1 s windows.
    uint64_t rate_window_start, rate_count;
    double arrival_rate;
    histo_t lat[4];   //  by handoff_path_t
    uint64_t submit_refused;
    //  Frame info and detections per job (a ring, newest at meta_next - 1).
    job_meta_t *meta;
    size_t meta_next;
    node_jobs_hooks_t hooks;
    //  JPEG encoding of raw frames that leave the box.
    node_frameenc_t *enc;
    enc_pending_t enc_pending[ENC_PENDING_MAX];
    uint64_t enc_tag;
    uint64_t enc_sent, enc_dropped;
    uint64_t next_prune_ms;
    //  Performance-based tuning (scheduler/tune.h): fed with every local
    //  completion and every ended job, stepped from the tick.  Measures
    //  always; changes the input size only with TUNE_ENABLE.
    sched_tune_t *tune;
    uint64_t tune_next_ms;
    int tune_cur_size;   //  the size of the completion being reported (0: none)
    uint64_t tune_count[TUNE_KEPT + 1];
    sched_tune_change_t tune_last;
    uint64_t tune_last_ms;
};

//  --------------------------------------------------------------------------
//  Callbacks from the state machine

static int
s_send_now (node_jobs_t *self, const char *addr, const handoff_msg_t *msg)
{
    mw_msg_t wire;
    mw_job_t body;
    if (node_msgmap_handoff_to_wire (msg, &wire, &body) != 0)
        return -1;
    return gossip_transport_send (self->data, addr, &wire);
}

static bool
s_is_raw (const uint8_t *frame, size_t len)
{
    return frame && len > 2 && frame[0] == 'P' && frame[1] == '6';
}

//  A raw camera frame never leaves the box as such: the JOB waits here
//  while the encoder thread makes the JPEG (s_enc_readable sends it).
static int
s_send (void *ctx, const char *addr, const handoff_msg_t *msg)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    if (msg->type != HANDOFF_MSG_JOB || !s_is_raw (msg->frame, msg->frame_len) || !self->enc)
        return s_send_now (self, addr, msg);
    enc_pending_t *p = NULL;
    for (int i = 0; i < ENC_PENDING_MAX && !p; i++)
        if (!self->enc_pending[i].used)
            p = &self->enc_pending[i];
    handoff_msg_t bare = *msg;
    bare.frame = NULL;
    bare.frame_len = 0;
    size_t flen = p ? handoff_msg_flatten (&bare, NULL, 0) : 0;
    void *flat = flen ? malloc (flen) : NULL;
    uint8_t *copy = flat ? malloc (msg->frame_len) : NULL;
    if (!copy) {
        free (flat);
        self->enc_dropped++;
        mw_warn ("job_frame_dropped", "reason=\"%s\"", p ? "out of memory" : "JPEG encoder busy");
        return -1;   //  the hand-off's timeouts place the job again
    }
    handoff_msg_flatten (&bare, flat, flen);
    memcpy (copy, msg->frame, msg->frame_len);
    uint64_t tag = ++self->enc_tag;
    if (node_frameenc_submit (self->enc, tag, &copy, msg->frame_len) != 0) {
        free (copy);
        free (flat);
        self->enc_dropped++;
        mw_warn ("job_frame_dropped", "reason=\"JPEG encoder queue full\"");
        return -1;
    }
    p->used = true;
    p->tag = tag;
    snprintf (p->addr, sizeof p->addr, "%s", addr);
    p->flat = flat;
    p->flat_len = flen;
    return 0;
}

static void
s_enc_readable (node_jobs_t *self)
{
    node_frameenc_result_t r;
    for (int i = 0; i < 64 && node_frameenc_recv (self->enc, &r) == 1; i++) {
        enc_pending_t *p = NULL;
        for (int k = 0; k < ENC_PENDING_MAX && !p; k++)
            if (self->enc_pending[k].used && self->enc_pending[k].tag == r.tag)
                p = &self->enc_pending[k];
        handoff_msg_t msg;
        if (p && r.status == 0 && handoff_msg_unflatten (p->flat, p->flat_len, &msg) == 0) {
            msg.frame = r.jpeg;
            msg.frame_len = (uint32_t) r.len;
            s_send_now (self, p->addr, &msg);
            self->enc_sent++;
        }
        else {
            self->enc_dropped++;
            mw_warn ("job_frame_dropped", "reason=\"JPEG encoding failed\"");
        }
        if (p) {
            free (p->flat);
            memset (p, 0, sizeof *p);
        }
        free (r.jpeg);
    }
}

static int
s_start (void *ctx, uint64_t tag, const char *model, const uint8_t *frame, size_t len)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    if (!self->runner || node_runner_idle (self->runner) <= 0)
        return -1;
    uint8_t *copy = malloc (len);
    if (!copy)
        return -1;
    memcpy (copy, frame, len);
    if (node_runner_submit (self->runner, tag, model, &copy, len) != 0) {
        free (copy);
        return -1;
    }
    return 0;
}

static bool
s_has_model (void *ctx, const char *model)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    return self->runner && node_runner_has_model (self->runner, model);
}

static double
s_svc_ms (void *ctx, const char *model)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    return self->runner ? node_runner_svc_ms (self->runner, model) : NODE_RUNNER_PRIOR_SSD_MS;
}

//  --------------------------------------------------------------------------
//  Frame info and detections

static job_meta_t *
s_meta_find (node_jobs_t *self, const mw_jobid_t *id)
{
    for (size_t k = 0; self->meta && k < META_MAX; k++) {
        job_meta_t *m = &self->meta[(self->meta_next + META_MAX - 1 - k) % META_MAX];
        if (m->used && !memcmp (m->id.b, id->b, MW_JOBID_LEN))
            return m;
    }
    return NULL;
}

static job_meta_t *
s_meta_new (node_jobs_t *self, const mw_jobid_t *id)
{
    if (!self->meta)
        return NULL;
    job_meta_t *m = &self->meta[self->meta_next];
    self->meta_next = (self->meta_next + 1) % META_MAX;
    free (m->boxes);
    free (m->precise);
    memset (m, 0, sizeof *m);
    m->used = true;
    m->id = *id;
    return m;
}

static mw_wire_box_t *
s_boxes_dup (const mw_wire_box_t *b, uint32_t n)
{
    if (!b || n == 0)
        return NULL;
    mw_wire_box_t *c = malloc (n * sizeof *c);
    if (c)
        memcpy (c, b, n * sizeof *c);
    return c;
}

//  Detections as a VMS reads them: class, score, the box in pixels of the
//  camera's frame and normalised (0..1).  Every detector here finds faces.
static json_object *
s_detections_json (const mw_wire_box_t *b, uint32_t n, uint32_t w, uint32_t h)
{
    json_object *a = json_object_new_array ();
    for (uint32_t i = 0; a && b && i < n; i++) {
        json_object *d = json_object_new_object (), *px = json_object_new_object (),
                    *nm = json_object_new_object ();
        if (!d || !px || !nm) {
            json_object_put (d);
            json_object_put (px);
            json_object_put (nm);
            break;
        }
        double x = b[i].x / (double) MW_FIXED_ONE, y = b[i].y / (double) MW_FIXED_ONE;
        double bw = b[i].w / (double) MW_FIXED_ONE, bh = b[i].h / (double) MW_FIXED_ONE;
        mw_json_add (d, "class", mw_json_str ("face"));
        mw_json_add (d, "score", mw_json_num (b[i].score / (double) MW_FIXED_ONE, 4));
        mw_json_add (px, "x", mw_json_num (x * w, 1));
        mw_json_add (px, "y", mw_json_num (y * h, 1));
        mw_json_add (px, "w", mw_json_num (bw * w, 1));
        mw_json_add (px, "h", mw_json_num (bh * h, 1));
        mw_json_add (nm, "x", mw_json_num (x, 6));
        mw_json_add (nm, "y", mw_json_num (y, 6));
        mw_json_add (nm, "w", mw_json_num (bw, 6));
        mw_json_add (nm, "h", mw_json_num (bh, 6));
        mw_json_add (d, "box", px);
        mw_json_add (d, "box_norm", nm);
        json_object_array_add (a, d);
    }
    return a;
}

//  The pixel size detections refer to: the camera's frame when known.
static void
s_pixel_size (const job_meta_t *m, uint32_t w, uint32_t h, uint32_t *pw, uint32_t *ph)
{
    *pw = m && m->src_width ? m->src_width : w;
    *ph = m && m->src_height ? m->src_height : h;
}

static void
s_histo_add (histo_t *h, double ms)
{
    size_t b = 0;
    while (b < N_BUCKETS && ms > s_buckets[b])
        b++;
    h->count[b]++;
    h->sum += ms;
    h->n++;
}

//  A job of ours ended: was it a deadline miss here (late, timed out, or
//  refused for want of capacity; not bad input), was it escalated?  Jobs
//  that ran on a peer or the server say nothing about this box's model.
static void
s_tune_outcome (node_jobs_t *self, const char *name, const handoff_info_t *info)
{
    if (!self->tune || !info->origin)
        return;
    bool done = !strcmp (name, "done"), failed = !strcmp (name, "failed");
    if (!(done && info->path == HANDOFF_PATH_LOCAL)
        && !(failed && info->path != HANDOFF_PATH_PEER && info->path != HANDOFF_PATH_SERVER))
        return;
    if (failed
        && (!strncmp (info->reason, "bad_", 4) || !strncmp (info->reason, "unknown_model", 13)
            || !strncmp (info->reason, "model_load_failed", 17)))
        return;
    int m = mw_model_parse (info->model);
    if (m < 0 || m >= TUNE_MODELS)
        return;
    int size = self->tune_cur_size ? self->tune_cur_size : sched_tune_size (self->tune, m);
    sched_tune_outcome (self->tune, m, size, failed || info->late, done && info->escalated, mw_now_ms ());
}

static void
s_event (void *ctx, const char *name, const handoff_info_t *info)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    char id[2 * MW_JOBID_LEN + 1], ran_on[MW_ID_HEX_LEN + 1] = "";
    gossip_wire_jobid_hex (&info->id, id);
    if (!gossip_wire_id_zero (&info->ran_on))
        gossip_wire_id_hex (&info->ran_on, ran_on);
    else if (info->path == HANDOFF_PATH_SERVER)
        snprintf (ran_on, sizeof ran_on, "server");
    char conf[32];
    snprintf (conf, sizeof conf, "%.3f", info->confidence);
    if (!strcmp (name, "done"))
        s_histo_add (&self->lat[info->path & 3], info->total_ms);
    s_tune_outcome (self, name, info);
    //  Keep the detections (the hand-off lends them for this call only).
    job_meta_t *meta = info->origin ? s_meta_find (self, &info->id) : NULL;
    bool result = !strcmp (name, "done") || !strcmp (name, "precise");
    if (meta && result) {
        bool precise = !strcmp (name, "precise");
        mw_wire_box_t **dst = precise ? &meta->precise : &meta->boxes;
        free (*dst);
        *dst = s_boxes_dup (info->boxes, info->n_boxes);
        if (precise) {
            meta->n_precise = *dst ? info->n_boxes : 0;
            snprintf (meta->precise_model, sizeof meta->precise_model, "%s", info->model);
        }
        else
            meta->n_boxes = *dst ? info->n_boxes : 0;
        if (info->width && info->height) {
            meta->width = info->width;
            meta->height = info->height;
        }
    }
    uint32_t pw = 0, ph = 0;
    s_pixel_size (meta, info->width, info->height, &pw, &ph);
    json_object *dets = s_detections_json (result ? info->boxes : NULL, result ? info->n_boxes : 0, pw, ph);
    //  Log line: one event per line, at info (the default level, warn,
    //  keeps them out of the way; tests and operators read them at info).
    char ev[48];
    snprintf (ev, sizeof ev, "job_%s", name);
    mw_log (MW_LOG_INFO, ev,
            "job=%s camera=%s model=%s path=%s ran_on=%s peer=%s attempts=%u boxes=%u conf=%s total_ms=%.1f "
            "queue_ms=%.1f transfer_ms=%.1f infer_ms=%.1f late=%d escalated=%d reason=%s",
            id, *info->camera ? mw_logv (info->camera) : "-", mw_logv (info->model),
            handoff_path_name (info->path), *ran_on ? ran_on : "-",
            *info->peer_addr ? mw_logv (info->peer_addr) : "-", info->attempts, info->n_boxes, conf,
            info->total_ms, info->queue_ms, info->transfer_ms, info->infer_ms, info->late, info->escalated,
            mw_logq (info->reason));
    //  The event: one field list (docs/EVENTS.md), the same types as in
    //  `meshwatch jobs --json`.
    node_event_t e;
    node_event_init (&e, "job", name, self->ident->id_hex);
    node_event_str (&e, "job", id);
    node_event_str (&e, "camera", info->camera);
    node_event_str (&e, "model", info->model);
    node_event_str (&e, "path", handoff_path_name (info->path));
    node_event_str (&e, "ran_on", *ran_on ? ran_on : NULL);
    node_event_str (&e, "reason", info->reason);
    node_event_num (&e, "confidence", info->confidence, 3);
    node_event_int (&e, "boxes", info->n_boxes);
    node_event_num (&e, "total_ms", info->total_ms, 1);
    node_event_num (&e, "queue_ms", info->queue_ms, 1);
    node_event_num (&e, "transfer_ms", info->transfer_ms, 1);
    node_event_num (&e, "infer_ms", info->infer_ms, 1);
    node_event_bool (&e, "late", info->late);
    node_event_bool (&e, "escalated", info->escalated);
    node_event_int (&e, "attempts", info->attempts);
    node_event_str (&e, "camera_name", meta && meta->has_name ? meta->camera_name : NULL);
    if (meta && meta->capture_ms)
        node_event_int (&e, "capture_ms", (int64_t) meta->capture_ms);
    else
        node_event_str (&e, "capture_ms", NULL);
    node_event_int (&e, "width", pw);
    node_event_int (&e, "height", ph);
    node_event_value (&e, "detections", dets);
    node_events_publish (self->events, &e);
    json_object_put (dets);
    //  Whoever fed the job (the camera service) learns how it ended.
    if (self->hooks.ended && info->origin
        && (result || !strcmp (name, "failed") || !strcmp (name, "escalation_failed"))) {
        node_jobs_end_t end = {name,
                               &info->id,
                               info->camera,
                               info->model,
                               info->n_boxes,
                               info->boxes,
                               meta ? meta->capture_ms : 0};
        self->hooks.ended (self->hooks.ctx, &end);
    }
}

//  --------------------------------------------------------------------------
//  The frame source

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  SOURCE=dir:PATH[:FPS]: every *.jpg / *.jpeg of the folder, read once,
//  replayed in name order at FPS.  The folder is read at start so that the
//  loop never touches the disk.
static int
s_source_open (node_jobs_t *self, const char *spec, char *err, size_t errlen)
{
    char path[256];
    snprintf (path, sizeof path, "%s", spec + 4);
    self->src_fps = 1;
    char *colon = strrchr (path, ':');
    if (colon) {
        self->src_fps = strtod (colon + 1, NULL);
        *colon = 0;
    }
    DIR *d = opendir (path);
    if (!d) {
        snprintf (err, errlen, "SOURCE: cannot open %.150s: %s", path, strerror (errno));
        return -1;
    }
    char *names[SOURCE_MAX_FILES];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir (d)) && n < SOURCE_MAX_FILES) {
        size_t l = strlen (e->d_name);
        if ((l > 4 && !strcasecmp (e->d_name + l - 4, ".jpg"))
            || (l > 5 && !strcasecmp (e->d_name + l - 5, ".jpeg")))
            names[n++] = strdup (e->d_name);
    }
    closedir (d);
    qsort (names, n, sizeof names[0], s_cmp_str);
    for (size_t i = 0; i < n; i++) {
        char file[512];
        snprintf (file, sizeof file, "%s/%s", path, names[i]);
        free (names[i]);
        FILE *f = fopen (file, "rb");
        if (!f)
            continue;
        struct stat st;
        if (fstat (fileno (f), &st) == 0 && st.st_size > 0 && st.st_size <= MW_FRAME_MAX) {
            uint8_t *buf = malloc ((size_t) st.st_size);
            if (buf && fread (buf, 1, (size_t) st.st_size, f) == (size_t) st.st_size) {
                self->src_frame[self->src_n] = buf;
                self->src_len[self->src_n++] = (size_t) st.st_size;
            }
            else
                free (buf);
        }
        else
            mw_warn ("source_skip", "file=%s reason=\"empty or over 4 MiB\"", file);
        fclose (f);
    }
    if (self->src_n == 0) {
        snprintf (err, errlen, "SOURCE: no readable .jpg/.jpeg (up to 4 MiB) in %.150s", path);
        return -1;
    }
    mw_info ("source_open", "path=%s frames=%zu fps=%.2f camera=%s", path, self->src_n, self->src_fps,
             self->camera);
    return 0;
}

static void
s_count_arrival (node_jobs_t *self, uint64_t now)
{
    if (!self->rate_window_start)
        self->rate_window_start = now;
    self->rate_count++;
}

static void
s_rate_tick (node_jobs_t *self, uint64_t now)
{
    if (!self->rate_window_start || now < self->rate_window_start + 1000)
        return;
    double secs = (double) (now - self->rate_window_start) / 1000.0;
    double r = (double) self->rate_count / secs;
    self->arrival_rate = self->arrival_rate * 0.7 + r * 0.3;
    self->rate_window_start = now;
    self->rate_count = 0;
}

int
node_jobs_submit (node_jobs_t *self, const char *camera, const char *model, uint32_t deadline_ms,
                  uint8_t priority, uint8_t **frame_p, size_t len, uint64_t now, mw_jobid_t *id_out,
                  char *err, size_t errlen)
{
    return node_jobs_submit_frame (self, camera, model, deadline_ms, priority, frame_p, len, now, NULL,
                                   id_out, err, errlen);
}

int
node_jobs_submit_frame (node_jobs_t *self, const char *camera, const char *model, uint32_t deadline_ms,
                        uint8_t priority, uint8_t **frame_p, size_t len, uint64_t now,
                        const node_jobs_frame_info_t *finfo, mw_jobid_t *id_out, char *err, size_t errlen)
{
    mw_jobid_t id;
    randombytes_buf (id.b, sizeof id.b);
    //  The record first: the hand-off may end the job inside submit.
    job_meta_t *m = s_meta_new (self, &id);
    if (m) {
        const char *name = finfo ? finfo->camera_name : NULL;
        if (!name && self->hooks.camera_name)
            name = self->hooks.camera_name (self->hooks.ctx, camera);
        if (name) {
            snprintf (m->camera_name, sizeof m->camera_name, "%s", name);
            m->has_name = true;
        }
        if (finfo) {
            m->capture_ms = finfo->capture_ms;
            m->src_width = finfo->src_width;
            m->src_height = finfo->src_height;
        }
    }
    //  An image bomb is refused at the door, from its header: whichever box
    //  would run it would refuse it too, after carrying it across the LAN.
    //  (A header that does not parse is left to the runner: "bad_jpeg".)
    int w, h, rc = 0;
    uint64_t cost;
    char perr[160];
    uint64_t max = (uint64_t) mw_config_settings (self->cfg)->max_frame_pixels;
    if (*frame_p && mw_image_probe (*frame_p, len, &w, &h, &cost, perr, sizeof perr) == 0 && cost > max) {
        snprintf (err, errlen, "frame too large: %dx%d = %llu px > MAX_FRAME_PIXELS=%llu", w, h,
                  (unsigned long long) cost, (unsigned long long) max);
        free (*frame_p);   //  ours now, as sched_handoff_submit's would be
        *frame_p = NULL;
        rc = -1;
    }
    if (rc == 0)
        rc = sched_handoff_submit (self->handoff, &id, camera, model, deadline_ms, priority, frame_p, len,
                                   now, err, errlen);
    if (rc != 0 && m && !memcmp (m->id.b, id.b, MW_JOBID_LEN))
        m->used = false;   //  never a job: no record (the ring slot is reused)
    if (rc == 0) {
        s_count_arrival (self, now);
        if (id_out)
            *id_out = id;
    }
    else {
        self->submit_refused++;
        char hex[2 * MW_JOBID_LEN + 1];
        gossip_wire_jobid_hex (&id, hex);
        if (!finfo || !finfo->quiet)
            mw_warn ("job_refused", "job=%s camera=%s model=%s reason=%s", hex, mw_logv (camera),
                     mw_logv (model), mw_logq (err));
    }
    return rc;
}

static void
s_source_tick (node_jobs_t *self, uint64_t now)
{
    if (!self->src_n)
        return;
    if (!self->src_next_ms)
        self->src_next_ms = now;   //  the first frame now, then one every 1/FPS
    //  Catch up at most a few frames after a stall rather than a burst.
    for (int k = 0; k < 4 && now >= self->src_next_ms; k++) {
        size_t i = self->src_next++ % self->src_n;
        uint8_t *copy = malloc (self->src_len[i]);
        if (!copy)
            return;
        memcpy (copy, self->src_frame[i], self->src_len[i]);
        char err[128];
        node_jobs_submit (self, self->camera, self->src_model, self->deadline_ms, 5, &copy, self->src_len[i],
                          now, NULL, err, sizeof err);
        self->src_next_ms += (uint64_t) (1000.0 / self->src_fps);
    }
    if (now >= self->src_next_ms)
        self->src_next_ms = now + (uint64_t) (1000.0 / self->src_fps);
}

//  --------------------------------------------------------------------------
//  Construction

//  tcp://HOST:PORT of the analysis server from VMS_URL (http://host[:p][/x],
//  tcp://host:p or a bare host) and VMS_PORT.
static int
s_server_endpoint (mw_config_t *cfg, char *out, size_t cap)
{
    const char *url = mw_config_settings (cfg)->vms_url;
    int port = (int) mw_config_settings (cfg)->vms_port;
    *out = 0;
    if (!*url || port <= 0)
        return -1;
    const char *h = strstr (url, "://");
    h = h ? h + 3 : url;
    char host[128];
    size_t n = 0;
    if (*h == '[') {   //  [v6]
        const char *e = strchr (h, ']');
        if (!e || (size_t) (e - h + 1) >= sizeof host)
            return -1;
        n = (size_t) (e - h + 1);
    }
    else
        n = strcspn (h, ":/");
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy (host, h, n);
    host[n] = 0;
    snprintf (out, cap, "tcp://%.70s:%d", host, port);
    return 0;
}

//  The analysis server runs whatever agents send it (overflow of any
//  model, escalations to the precise one): without every model it would
//  accept jobs only to fail them.  Refuse to start, naming what is missing.
static int
s_server_models (mw_config_t *cfg, char *err, size_t errlen)
{
    const char *dir = mw_config_settings (cfg)->models_dir;
    const char *need[][2] = {{"tiny-face", MW_TINY_FACE_MANIFEST}, {"ssd-mobilenet", MW_SSD_MANIFEST}};
    char missing[300] = "";
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        char path[512];
        snprintf (path, sizeof path, "%s/%s", dir, need[i][1]);
        if (access (path, R_OK) != 0)
            snprintf (missing + strlen (missing), sizeof missing - strlen (missing), "%s%s (%s)",
                      *missing ? ", " : "", need[i][0], need[i][1]);
    }
    if (!*missing)
        return 0;
    snprintf (err, errlen,
              "MODELS_DIR=%.200s has no %s: the analysis server runs every model agents send it "
              "(inference/models/fetch-models.sh fetches them)",
              dir, missing);
    return -1;
}

//  The tuner from TUNE_*: 0, or -1 with the reason (a bad size list, the
//  start size not among them while tuning is on).
static int
s_tune_new (node_jobs_t *self, char *err, size_t errlen)
{
    const mw_settings_t *st = mw_config_settings (self->cfg);
    sched_tune_cfg_t tc;
    sched_tune_cfg_defaults (&tc);
    char why[160];
    if (sched_tune_parse_sizes (st->tune_input_sizes, &tc, why, sizeof why) != 0) {
        snprintf (err, errlen, "TUNE_INPUT_SIZES: %s", why);
        return -1;
    }
    tc.enable = st->tune_enable != 0;
    tc.home = (int) st->tiny_face_size;
    bool listed = false;
    for (int i = 0; i < tc.n_sizes; i++)
        listed |= tc.sizes[i] == tc.home;
    if (!listed) {
        if (tc.enable) {
            snprintf (err, errlen, "TINY_FACE_SIZE %d is not one of TUNE_INPUT_SIZES %s", tc.home,
                      st->tune_input_sizes);
            return -1;
        }
        tc.sizes[0] = tc.home;   //  measure only: the size never changes
        tc.n_sizes = 1;
    }
    tc.p90_target_ms = (double) st->tune_p90_target_ms;
    tc.miss_max = st->tune_miss_max;
    tc.conf_low = st->tune_conf_low;
    tc.esc_max = st->tune_escalate_max;
    tc.hold_ms = (uint32_t) st->tune_hold_ms;
    tc.canary_ms = (uint32_t) st->tune_canary_ms;
    tc.window_ms = (uint32_t) st->tune_window_ms;
    tc.min_samples = (uint32_t) st->tune_min_samples;
    self->tune = sched_tune_new (&tc);
    if (!self->tune) {
        snprintf (err, errlen, "TUNE_*: a bad combination");
        return -1;
    }
    return 0;
}

node_jobs_t *
node_jobs_new (const node_jobs_opts_t *opts, char *err, size_t errlen)
{
    node_jobs_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    mw_config_t *cfg = opts->cfg;
    self->cfg = cfg;
    self->ident = opts->ident;
    if (opts->server && s_server_models (cfg, err, errlen) != 0) {
        node_jobs_destroy (&self);
        return NULL;
    }
    self->server = opts->server;
    self->events = opts->events;
    snprintf (self->advertise, sizeof self->advertise, "%s", opts->advertise);
    const char *colon = strrchr (opts->advertise, ':');
    self->port = colon ? (uint16_t) atoi (colon + 1) : 0;
    self->deadline_ms = (uint32_t) mw_config_settings (cfg)->deadline_ms;

    self->replay = gossip_replay_new ((uint64_t) mw_config_settings (cfg)->max_clock_skew_ms);
    gossip_transport_opts_t topts;
    gossip_transport_opts_data (&topts);
    //  Agents send every job message sealed for the node they chose; only
    //  the analysis server is reached before anyone knows its id (VMS_URL
    //  names an address), so only it takes an unbound OFFER or JOB.
    if (opts->server)
        topts.unbound_types = 1u << MW_MSG_JOB_OFFER | 1u << MW_MSG_JOB;
    topts.guard = opts->guard;
    if (opts->out_max)
        topts.out_max = opts->out_max;
    if (opts->conn_max)
        topts.rules.max = opts->conn_max;
    if (self->replay)
        self->data = gossip_transport_new_opts (opts->bind_endpoint, opts->ident, opts->keys, self->replay,
                                                opts->session, &topts);
    if (!self->data) {
        snprintf (err, errlen, "cannot listen on %s for jobs (%s in use?)", opts->bind_endpoint,
                  opts->server ? "VMS_PORT" : "JOB_PORT");
        node_jobs_destroy (&self);
        return NULL;
    }

    self->workers = (uint32_t) (opts->server ? mw_config_settings (cfg)->analysis_workers
                                             : mw_config_settings (cfg)->infer_workers);
    self->queue_max = (uint32_t) (opts->server ? mw_config_settings (cfg)->analysis_queue_max
                                               : mw_config_settings (cfg)->job_queue_max);
    const char *models = mw_config_settings (cfg)->models_dir;
    if (self->workers > 0 && *models) {
        node_runner_cfg_t rcfg;
        node_runner_cfg_defaults (&rcfg);
        rcfg.models_dir = models;
        rcfg.workers = (int) self->workers;
        rcfg.threads = (int) mw_config_settings (cfg)->infer_threads;
        rcfg.min_score = (float) mw_config_settings (cfg)->min_score;
        rcfg.max_pixels = (uint64_t) mw_config_settings (cfg)->max_frame_pixels;
        rcfg.tiny_face_size = (int) mw_config_settings (cfg)->tiny_face_size;
        char rerr[256] = "";
        self->runner = node_runner_new (&rcfg, rerr, sizeof rerr);
        if (!self->runner) {
            snprintf (err, errlen, "MODELS_DIR=%s: %s", models, rerr);
            node_jobs_destroy (&self);
            return NULL;
        }
        if (s_tune_new (self, err, errlen) != 0) {
            node_jobs_destroy (&self);
            return NULL;
        }
        if (!node_runner_has_model (self->runner, "tiny-face")
            && !node_runner_has_model (self->runner, "ssd-mobilenet"))
            mw_warn ("models_missing", "dir=%s reason=\"no face-api manifest found: this box runs no jobs\"",
                     models);
    }
    else {
        if (self->workers > 0)
            mw_info ("jobs_no_models", "reason=\"MODELS_DIR not set: jobs are handed off, none run here\"");
        self->workers = 0;
    }

    self->meta = calloc (META_MAX, sizeof *self->meta);
    if (!self->meta) {
        snprintf (err, errlen, "out of memory");
        node_jobs_destroy (&self);
        return NULL;
    }
    if (!opts->server) {
        self->enc = node_frameenc_new (90, ENC_PENDING_MAX);
        if (!self->enc) {
            snprintf (err, errlen, "cannot start the JPEG encoder thread");
            node_jobs_destroy (&self);
            return NULL;
        }
    }

    handoff_cfg_t hcfg;
    handoff_cfg_defaults (&hcfg);
    placement_policy_parse (mw_config_settings (cfg)->placement_policy, &hcfg.policy);
    hcfg.queue_max = self->queue_max;
    hcfg.workers = self->workers;
    hcfg.max_inflight = (uint32_t) mw_config_settings (cfg)->job_max_inflight;
    hcfg.offer_timeout_ms = (uint32_t) mw_config_settings (cfg)->offer_timeout_ms;
    hcfg.grace_ms = (uint32_t) mw_config_settings (cfg)->job_grace_ms;
    hcfg.server = opts->server;
    hcfg.escalate_below = mw_config_settings (cfg)->escalate_below;
    const char *band = mw_config_settings (cfg)->escalate_band;
    if (*band) {
        char *end = NULL;
        hcfg.band_lo = strtod (band, &end);
        hcfg.band_hi = *end == ',' ? strtod (end + 1, NULL) : 0;
    }
    snprintf (hcfg.escalate_model, sizeof hcfg.escalate_model, "%s",
              mw_config_settings (cfg)->escalate_model);
    char server[MW_ADDR_MAX + 1] = "";
    hcfg.has_server = !opts->server && s_server_endpoint (cfg, server, sizeof server) == 0;
    handoff_ops_t ops = {s_send, s_start, s_has_model, s_svc_ms, s_event, self, NULL};
    self->handoff = sched_handoff_new (&hcfg, &opts->ident->id, self->advertise, &ops);
    if (!self->handoff) {
        snprintf (err, errlen, "bad job settings (JOB_QUEUE_MAX, JOB_MAX_INFLIGHT, INFER_WORKERS)");
        node_jobs_destroy (&self);
        return NULL;
    }
    if (hcfg.has_server) {
        sched_handoff_set_server (self->handoff, server);
        //  Configured, so ours to connect to; its id is not known here.
        gossip_transport_peer_add (self->data, server, NULL, 0);
    }

    if (!opts->server) {
        const char *cam = mw_config_settings (cfg)->camera_id;
        if (*cam)
            snprintf (self->camera, sizeof self->camera, "%s", cam);
        else
            snprintf (self->camera, sizeof self->camera, "%.58s-cam0", mw_config_settings (cfg)->node_name);
        snprintf (self->src_model, sizeof self->src_model, "%s", mw_config_settings (cfg)->source_model);
        const char *src = mw_config_settings (cfg)->source;
        if (*src && s_source_open (self, src, err, errlen) != 0) {
            node_jobs_destroy (&self);
            return NULL;
        }
    }
    mw_info ("jobs_started", "data=%s workers=%u queue=%u policy=%s server=%s", self->advertise,
             self->workers, self->queue_max, placement_policy_name (hcfg.policy), *server ? server : "-");
    return self;
}

void
node_jobs_destroy (node_jobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_jobs_t *self = *self_p;
    sched_handoff_destroy (&self->handoff);
    node_runner_destroy (&self->runner);
    sched_tune_destroy (&self->tune);
    node_frameenc_destroy (&self->enc);
    for (int i = 0; i < ENC_PENDING_MAX; i++)
        free (self->enc_pending[i].flat);
    for (size_t i = 0; self->meta && i < META_MAX; i++) {
        free (self->meta[i].boxes);
        free (self->meta[i].precise);
    }
    free (self->meta);
    if (self->data)
        gossip_transport_set_linger (self->data, 100);
    gossip_transport_destroy (&self->data);
    gossip_replay_destroy (&self->replay);
    for (size_t i = 0; i < self->src_n; i++)
        free (self->src_frame[i]);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Loop

int
node_jobs_pollitems (node_jobs_t *self, zmq_pollitem_t *items, int max)
{
    //  The count needed, even when `max` is smaller (the loop grows and asks again).
    int n = gossip_transport_pollitems (self->data, items, max);
    if (self->runner) {
        if (n < max)
            items[n] = (zmq_pollitem_t){zsock_resolve (node_runner_sock (self->runner)), 0, ZMQ_POLLIN, 0};
        n++;
    }
    if (self->enc) {
        if (n < max)
            items[n] = (zmq_pollitem_t){zsock_resolve (node_frameenc_sock (self->enc)), 0, ZMQ_POLLIN, 0};
        n++;
    }
    return n;
}

void
node_jobs_readable (node_jobs_t *self, uint64_t now)
{
    //  Bounded batches, like the mesh socket: timers keep running under a flood.
    for (int i = 0; i < 64; i++) {
        mw_msg_t msg;
        int r = gossip_transport_recv (self->data, &msg);
        if (r < 0)
            break;
        if (r == 1) {
            handoff_msg_t hm;
            if (node_msgmap_handoff_from_wire (&msg, &hm) == 0)
                sched_handoff_handle (self->handoff, &hm, now);
            gossip_wire_msg_clear (&msg);
        }
    }
    if (self->runner) {
        node_runner_result_t *res = malloc (sizeof *res);
        for (int i = 0; res && i < 64 && node_runner_recv (self->runner, res) == 1; i++) {
            handoff_local_result_t r = {
                res->status,  res->reason, res->width,     res->height, res->decode_ms + res->infer_ms,
                res->n_boxes, res->boxes,  res->confidence};
            int m = mw_model_parse (res->model);
            if (self->tune && res->status == 0 && m >= 0 && m < TUNE_MODELS)
                sched_tune_sample (self->tune, m, (int) res->input_size, res->decode_ms + res->infer_ms,
                                   res->confidence / (double) MW_FIXED_ONE, res->n_boxes > 0, now);
            self->tune_cur_size = res->status == 0 ? (int) res->input_size : 0;
            sched_handoff_local_done (self->handoff, res->tag, &r, now);
            self->tune_cur_size = 0;
        }
        free (res);
    }
    if (self->enc)
        s_enc_readable (self);
    //  A completion frees a worker: start the next job now, not at the next tick.
    sched_handoff_tick (self->handoff, now);
}

void
node_jobs_forget (node_jobs_t *self, const mw_id_t *id)
{
    if (self && id)
        gossip_replay_forget (self->replay, id);
}

//  One decision per model; a change goes to the runner (swapped in
//  between jobs by its loader thread), the log and the event stream.
static void
s_tune_tick (node_jobs_t *self, uint64_t now)
{
    for (int m = 0; m < TUNE_MODELS; m++) {
        sched_tune_change_t ch;
        if (sched_tune_step (self->tune, m, now, &ch) != 1)
            continue;
        const char *model = mw_model_name ((mw_model_t) m);
        if (ch.action != TUNE_KEPT && self->runner
            && node_runner_set_input_size (self->runner, model, ch.to) != 0)
            mw_error ("model_tune_failed", "model=%s size=%d", model, ch.to);
        self->tune_count[ch.action]++;
        self->tune_last = ch;
        self->tune_last_ms = now;
        //  An overload is something wrong: loud.  The rest is routine.
        mw_log (
            ch.action == TUNE_DOWN || ch.action == TUNE_REVERT ? MW_LOG_WARN : MW_LOG_INFO, "model_tuned",
            "model=%s action=%s from=%d to=%d p90_ms=%.1f miss_rate=%.3f conf=%.3f esc_rate=%.3f samples=%u "
            "reason=%s",
            model, sched_tune_action_name (ch.action), ch.from, ch.to, ch.now.p90_ms, ch.now.miss_rate,
            ch.now.conf, ch.now.esc_rate, ch.now.samples, mw_logq (ch.reason));
        node_event_t e;
        node_event_init (&e, "model", "tuned", self->ident->id_hex);
        node_event_str (&e, "model", model);
        node_event_str (&e, "action", sched_tune_action_name (ch.action));
        node_event_int (&e, "from", ch.from);
        node_event_int (&e, "to", ch.to);
        node_event_str (&e, "reason", ch.reason);
        node_event_num (&e, "p90_ms", ch.now.p90_ms, 1);
        node_event_num (&e, "miss_rate", ch.now.miss_rate, 3);
        node_event_num (&e, "confidence", ch.now.conf, 3);
        node_event_num (&e, "escalation_rate", ch.now.esc_rate, 3);
        node_event_int (&e, "samples", ch.now.samples);
        node_events_publish (self->events, &e);
    }
}

void
node_jobs_tick (node_jobs_t *self, uint64_t now)
{
    if (now >= self->next_prune_ms) {
        //  Idle connections, stale reply routes, peers no longer advertised.
        if (self->next_prune_ms)
            gossip_transport_prune (self->data, now, 120000);
        self->next_prune_ms = now + 10000;
    }
    s_source_tick (self, now);
    s_rate_tick (self, now);
    sched_handoff_tick (self->handoff, now);
    if (self->tune && now >= self->tune_next_ms) {
        self->tune_next_ms = now + 250;
        s_tune_tick (self, now);
    }
}

uint64_t
node_jobs_next_wakeup (node_jobs_t *self, uint64_t now)
{
    uint64_t next = sched_handoff_next_wakeup (self->handoff, now);
    if (self->src_n && self->src_next_ms < next)
        next = self->src_next_ms < now ? now : self->src_next_ms;
    return next;
}

static int
s_svc_items (void *ctx, zmq_pollitem_t *items, int max)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    return node_jobs_pollitems (self, items, max);
}

static void
s_svc_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    (void) item;   //  one drain serves both sockets
    node_jobs_readable ((node_jobs_t *) ctx, now);
}

static void
s_svc_tick (void *ctx, uint64_t now)
{
    node_jobs_tick ((node_jobs_t *) ctx, now);
}

static uint64_t
s_svc_wakeup (void *ctx, uint64_t now)
{
    return node_jobs_next_wakeup ((node_jobs_t *) ctx, now);
}

void
node_jobs_service (node_jobs_t *self, node_service_t *svc)
{
    assert (self && svc);
    memset (svc, 0, sizeof *svc);
    svc->name = "jobs";
    svc->ctx = self;
    svc->pollitems = s_svc_items;
    svc->readable = s_svc_readable;
    svc->tick = s_svc_tick;
    svc->next_wakeup = s_svc_wakeup;
}

void
node_jobs_update_peers (node_jobs_t *self, gossip_member_t *members, uint64_t wall_ms)
{
    size_t n = gossip_member_size (members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    handoff_peer_t *peers = calloc (n ? n : 1, sizeof *peers);
    size_t k = 0;
    if (list && peers) {
        n = gossip_member_list (members, list, n);
        for (size_t i = 0; i < n; i++) {
            gossip_member_info_t *m = &list[i];
            sched_digest_t d;
            //  Only members we have heard from ourselves: a digest gossiped
            //  for an id nobody has heard from could draw camera frames to
            //  any address a forger names.
            if (m->is_self || m->state != MW_STATE_ALIVE || !(m->direct_ms || m->reached_ms) || !m->digest_len
                || sched_digest_decode (m->digest, m->digest_len, &d) != 0 || !d.jobs || !d.job_port)
                continue;
            //  The member's mesh address with the data-plane port.
            const char *c = strrchr (m->addr, ':');
            if (!c)
                continue;
            handoff_peer_t *p = &peers[k];
            p->id = m->id;
            snprintf (p->addr, sizeof p->addr, "%.*s:%u", (int) (c - m->addr), m->addr, d.job_port);
            //  A peer we may connect to, sealed for its id; kept while it
            //  is advertised (refreshed here every call, expires at prune).
            gossip_transport_peer_add (self->data, p->addr, &m->id, 30000);
            sched_digest_peer (&d, wall_ms, NODE_RUNNER_PRIOR_TINY_FACE_MS, &p->p);
            p->p.link_ms = 0.5;   //  a LAN round trip; the frame's own time is added per job
            k++;
        }
        sched_handoff_set_peers (self->handoff, peers, k);
    }
    free (list);
    free (peers);
}

void
node_jobs_set_util (node_jobs_t *self, double util)
{
    sched_handoff_set_util (self->handoff, util);
}

void
node_jobs_digest (node_jobs_t *self, node_jobs_digest_t *out)
{
    memset (out, 0, sizeof *out);
    out->port = self->workers ? self->port : 0;
    out->svc_ms = self->runner ? node_runner_svc_ms (self->runner, "tiny-face") : 0;
    out->workers = self->workers;
    out->queue_max = self->queue_max;
    out->queue_len = sched_handoff_queue_len (self->handoff);
    out->arrival_rate = self->arrival_rate;
}

//  --------------------------------------------------------------------------
//  Views

static json_object *
s_info_json (node_jobs_t *self, const handoff_info_t *i)
{
    char id[2 * MW_JOBID_LEN + 1], ran[MW_ID_HEX_LEN + 1] = "";
    gossip_wire_jobid_hex (&i->id, id);
    if (!gossip_wire_id_zero (&i->ran_on))
        gossip_wire_id_hex (&i->ran_on, ran);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "id", mw_json_str (id));
    mw_json_add (o, "camera", mw_json_str (i->camera));
    mw_json_add (o, "model", mw_json_str (i->model));
    mw_json_add (o, "state", mw_json_str (handoff_state_name (i->state)));
    mw_json_add (o, "path", mw_json_str (handoff_path_name (i->path)));
    mw_json_add (o, "origin", mw_json_bool (i->origin));
    mw_json_add (o, "ran_on", *ran ? mw_json_str (ran) : NULL);
    mw_json_add (o, "peer_addr", mw_json_str (i->peer_addr));
    mw_json_add (o, "escalated", mw_json_bool (i->escalated));
    mw_json_add (o, "late", mw_json_bool (i->late));
    mw_json_add (o, "attempts", mw_json_u64 (i->attempts));
    mw_json_add (o, "deadline_ms", mw_json_u64 (i->deadline_ms));
    mw_json_add (o, "total_ms", mw_json_num (i->total_ms, 1));
    mw_json_add (o, "queue_ms", mw_json_num (i->queue_ms, 1));
    mw_json_add (o, "transfer_ms", mw_json_num (i->transfer_ms, 1));
    mw_json_add (o, "infer_ms", mw_json_num (i->infer_ms, 1));
    mw_json_add (o, "boxes", mw_json_u64 (i->n_boxes));
    mw_json_add (o, "confidence", mw_json_num (i->confidence, 3));
    mw_json_add (o, "max_score", mw_json_num (i->max_score, 3));
    mw_json_add (o, "reason", mw_json_str (i->reason));
    //  The frame and the detections themselves (origin jobs).
    job_meta_t *m = i->origin ? s_meta_find (self, &i->id) : NULL;
    uint32_t pw = 0, ph = 0;
    s_pixel_size (m, m && m->width ? m->width : i->width, m && m->height ? m->height : i->height, &pw, &ph);
    mw_json_add (o, "camera_name", m && m->has_name ? mw_json_str (m->camera_name) : NULL);
    mw_json_add (o, "capture_ms", m && m->capture_ms ? mw_json_u64 (m->capture_ms) : NULL);
    mw_json_add (o, "width", mw_json_u64 (pw));
    mw_json_add (o, "height", mw_json_u64 (ph));
    mw_json_add (o, "detections", s_detections_json (m ? m->boxes : NULL, m ? m->n_boxes : 0, pw, ph));
    json_object *precise = NULL;
    if (m && *m->precise_model) {
        precise = json_object_new_object ();
        if (precise) {
            mw_json_add (precise, "model", mw_json_str (m->precise_model));
            mw_json_add (precise, "detections", s_detections_json (m->precise, m->n_precise, pw, ph));
        }
    }
    mw_json_add (o, "precise", precise);
    return o;
}

#define RECENT_MAX 512

json_object *
node_jobs_job_json (node_jobs_t *self, const mw_jobid_t *id)
{
    assert (self && id);
    handoff_info_t *list = calloc (RECENT_MAX, sizeof *list);
    if (!list)
        return NULL;
    size_t n = sched_handoff_recent (self->handoff, list, RECENT_MAX);
    json_object *o = NULL;
    for (size_t i = 0; i < n && !o; i++)
        if (!memcmp (list[i].id.b, id->b, MW_JOBID_LEN) && list[i].origin)
            o = s_info_json (self, &list[i]);
    free (list);
    return o;
}

json_object *
node_jobs_list_json (node_jobs_t *self)
{
    assert (self);
    json_object *a = json_object_new_array ();
    handoff_info_t *list = calloc (RECENT_MAX, sizeof *list);
    if (!a || !list) {
        free (list);
        json_object_put (a);
        return NULL;
    }
    size_t n = sched_handoff_recent (self->handoff, list, RECENT_MAX);
    for (size_t i = 0; i < n; i++)
        json_object_array_add (a, s_info_json (self, &list[i]));
    free (list);
    return a;
}

//  A text frame of at most cap - 1 bytes as a C string.  -1 if it is longer,
//  holds a NUL byte or is not UTF-8: such a camera id or model name would
//  not survive the logs, the JSON views and the wire intact.
static int
s_frame_text (zframe_t *f, char *buf, size_t cap)
{
    size_t n = f ? zframe_size (f) : 0;
    if (n >= cap || (n && memchr (zframe_data (f), 0, n)))
        return -1;
    if (n)
        memcpy (buf, zframe_data (f), n);
    buf[n] = 0;
    return mw_json_utf8_valid (buf) ? 0 : -1;
}

//  submit, camera, model, deadline_ms, priority, jpeg
static json_object *
s_ctl_submit (void *ctx, const node_control_req_t *req)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    if (self->server)
        return node_control_error ("refused", "the analysis server takes jobs from the mesh only");
    char camera[MW_CAMERA_MAX + 1], model[MW_MODEL_MAX + 1], dl[16], pr[8];
    zframe_t *f = zmsg_first (req->msg);
    if (s_frame_text (f = zmsg_next (req->msg), camera, sizeof camera) != 0)
        return node_control_error ("refused", "camera id: at most %d bytes of UTF-8 text without NUL",
                                   MW_CAMERA_MAX);
    if (s_frame_text (f = zmsg_next (req->msg), model, sizeof model) != 0)
        return node_control_error ("refused", "model: at most %d bytes of UTF-8 text without NUL",
                                   MW_MODEL_MAX);
    if (s_frame_text (f = zmsg_next (req->msg), dl, sizeof dl) != 0
        || s_frame_text (f = zmsg_next (req->msg), pr, sizeof pr) != 0)
        return node_control_error ("bad_request", "deadline and priority are short decimal numbers");
    f = zmsg_next (req->msg);
    long deadline = *dl ? strtol (dl, NULL, 10) : (long) self->deadline_ms;
    long prio = strtol (pr, NULL, 10);
    size_t len = zframe_size (f);
    uint8_t *frame = len ? malloc (len) : NULL;
    if (frame)
        memcpy (frame, zframe_data (f), len);
    char err[160] = "";
    mw_jobid_t id;
    if (deadline <= 0 || deadline > 3600000)
        deadline = 0;   //  the state machine refuses it with the reason
    if (prio < 0 || prio > 255)
        prio = 255;
    if (node_jobs_submit (self, camera, model, (uint32_t) deadline, (uint8_t) prio, &frame, len, req->now_ms,
                          &id, err, sizeof err)
        != 0)
        return node_control_error ("refused", "%s", err);
    char hex[2 * MW_JOBID_LEN + 1];
    gossip_wire_jobid_hex (&id, hex);
    //  Start it now if it queued locally: the CLI is waiting.
    sched_handoff_tick (self->handoff, req->now_ms);
    json_object *o = json_object_new_object ();
    if (o)
        mw_json_add (o, "id", mw_json_str (hex));
    return o;
}

static json_object *
s_ctl_job (void *ctx, const node_control_req_t *req)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    mw_jobid_t id;
    if (strlen (req->args) != 2 * MW_JOBID_LEN || gossip_wire_jobid_parse (req->args, &id) != 0)
        return node_control_error ("bad_request", "job: not a job id (%d hex digits)", 2 * MW_JOBID_LEN);
    json_object *o = node_jobs_job_json (self, &id);
    return o ? o : node_control_error ("not_found", "unknown job (never submitted here, or too old)");
}

static json_object *
s_ctl_jobs (void *ctx, const node_control_req_t *req)
{
    (void) req;
    return node_jobs_list_json ((node_jobs_t *) ctx);
}

int
node_jobs_control_register (node_jobs_t *self, node_control_t *ctl)
{
    assert (self && ctl);
    int rc = node_control_on (ctl, "submit", 6, s_ctl_submit, self);
    rc |= node_control_on (ctl, "job", 1, s_ctl_job, self);
    rc |= node_control_on (ctl, "jobs", 1, s_ctl_jobs, self);
    return rc ? -1 : 0;
}

void
node_jobs_set_hooks (node_jobs_t *self, const node_jobs_hooks_t *hooks)
{
    assert (self);
    if (hooks)
        self->hooks = *hooks;
    else
        memset (&self->hooks, 0, sizeof self->hooks);
}

//  Per model: the measured window (docs/DEPLOY.md) and the tuner's changes.
static void
s_tune_prometheus (node_jobs_t *self, mw_prom_t *out)
{
    uint64_t now = mw_now_ms ();
    sched_tune_state_t ts[TUNE_MODELS];
    for (int m = 0; m < TUNE_MODELS; m++)
        sched_tune_state (self->tune, m, now, &ts[m]);
    struct {
        const char *name, *help;
    } g[] = {
        {"meshwatch_model_p90_seconds", "Service time (decode + inference) p90 over the tuning window."},
        {"meshwatch_model_deadline_miss_ratio", "Jobs run here that missed their deadline, over the window."},
        {"meshwatch_model_confidence", "Mean detection score over the window (-1: no detection)."},
        {"meshwatch_model_escalation_ratio", "Jobs run here that were escalated, over the window."},
        {"meshwatch_model_input_size", "The input size the model runs at (0: not tuned)."},
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        mw_prom_family (out, g[k].name, "gauge", g[k].help);
        for (int m = 0; m < TUNE_MODELS; m++) {
            const sched_tune_stats_t *st = &ts[m].stats;
            double v = k == 0   ? st->p90_ms / 1000.0
                       : k == 1 ? st->miss_rate
                       : k == 2 ? st->conf
                       : k == 3 ? st->esc_rate
                                : (double) ts[m].size;
            mw_prom_num (out, g[k].name, v, 4, "model", mw_model_name ((mw_model_t) m), NULL);
        }
    }
    mw_prom_family (out, "meshwatch_model_tune_total", "counter",
                    "Input-size decisions of the tuner, by action.");
    for (int a = TUNE_DOWN; a <= TUNE_KEPT; a++)
        mw_prom_u64 (out, "meshwatch_model_tune_total", self->tune_count[a], "model", "tiny-face", "action",
                     sched_tune_action_name ((sched_tune_action_t) a), NULL);
}

void
node_jobs_prometheus (node_jobs_t *self, mw_prom_t *out)
{
    handoff_stats_t st;
    sched_handoff_stats (self->handoff, &st);
    mw_prom_family (out, "meshwatch_jobs_total", "counter",
                    "Inference jobs of this box's cameras by outcome.");
    mw_prom_u64 (out, "meshwatch_jobs_total", st.submitted, "outcome", "submitted", NULL);
    mw_prom_u64 (out, "meshwatch_jobs_total", st.done, "outcome", "done", NULL);
    mw_prom_u64 (out, "meshwatch_jobs_total", st.failed, "outcome", "failed", NULL);
    mw_prom_u64 (out, "meshwatch_jobs_total", st.late, "outcome", "late", NULL);
    mw_prom_u64 (out, "meshwatch_jobs_total", self->submit_refused, "outcome", "refused", NULL);
    mw_prom_family (out, "meshwatch_jobs_path_total", "counter", "Finished jobs by where they ran.");
    for (int p = 1; p < 4; p++)
        mw_prom_u64 (out, "meshwatch_jobs_path_total", st.by_path[p], "path",
                     handoff_path_name ((handoff_path_t) p), NULL);
    mw_prom_family (out, "meshwatch_job_handoff_total", "counter", "Hand-off protocol events.");
    struct {
        const char *k;
        uint64_t v;
    } h[] = {{"offer_sent", st.offers_sent},
             {"offer_accepted", st.offers_accepted},
             {"offer_refused", st.offers_refused},
             {"offer_timeout", st.offers_timeout},
             {"runner_timeout", st.runner_timeouts},
             {"redispatched", st.redispatched},
             {"duplicate_result", st.duplicates},
             {"escalated", st.escalated},
             {"precise", st.precise},
             {"escalation_failed", st.escalation_failed},
             {"ran_for_peer", st.remote_done},
             {"refused_peer", st.remote_refused},
             {"cancel_sent", st.cancels_sent},
             {"cancelled_by_peer", st.remote_cancelled}};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        mw_prom_u64 (out, "meshwatch_job_handoff_total", h[i].v, "event", h[i].k, NULL);
    //  Prometheus wants base units: seconds, though we count in ms.
    mw_prom_family (out, "meshwatch_job_latency_seconds", "histogram", "Submit to result, by path.");
    for (int p = 1; p < 4; p++) {
        const histo_t *hg = &self->lat[p];
        uint64_t cum = 0;
        const char *name = handoff_path_name ((handoff_path_t) p);
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += hg->count[b];
            char le[32];
            snprintf (le, sizeof le, "%g", s_buckets[b] / 1000.0);
            mw_prom_u64 (out, "meshwatch_job_latency_seconds_bucket", cum, "path", name, "le", le, NULL);
        }
        cum += hg->count[N_BUCKETS];
        mw_prom_u64 (out, "meshwatch_job_latency_seconds_bucket", cum, "path", name, "le", "+Inf", NULL);
        mw_prom_num (out, "meshwatch_job_latency_seconds_sum", hg->sum / 1000.0, 6, "path", name, NULL);
        mw_prom_u64 (out, "meshwatch_job_latency_seconds_count", hg->n, "path", name, NULL);
    }
    mw_prom_family (out, "meshwatch_job_queue_length", "gauge", "Jobs in the local queue.");
    mw_prom_u64 (out, "meshwatch_job_queue_length", sched_handoff_queue_len (self->handoff), NULL);
    if (self->tune)
        s_tune_prometheus (self, out);
}

//  The "tuning" object of `status`: tiny-face's size (wanted, and what
//  every worker runs), the window's numbers, the canary, the last change.
static json_object *
s_tune_json (node_jobs_t *self)
{
    uint64_t now = mw_now_ms ();
    sched_tune_state_t ts;
    sched_tune_state (self->tune, TUNE_TINY_FACE, now, &ts);
    const mw_settings_t *cs = mw_config_settings (self->cfg);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    int running = 0;
    if (self->runner)
        node_runner_input_size (self->runner, "tiny-face", &running);
    mw_json_add (o, "enabled", mw_json_bool (cs->tune_enable != 0));
    mw_json_add (o, "model", mw_json_str ("tiny-face"));
    mw_json_add (o, "size", mw_json_u64 ((uint64_t) ts.size));
    mw_json_add (o, "running_size", mw_json_u64 ((uint64_t) running));
    mw_json_add (o, "home", mw_json_u64 ((uint64_t) cs->tiny_face_size));
    mw_json_add (o, "sizes", mw_json_str (cs->tune_input_sizes));
    mw_json_add (o, "p90_target_ms", mw_json_u64 ((uint64_t) cs->tune_p90_target_ms));
    mw_json_add (o, "samples", mw_json_u64 (ts.stats.samples));
    mw_json_add (o, "p90_ms", mw_json_num (ts.stats.p90_ms, 1));
    mw_json_add (o, "miss_rate", mw_json_num (ts.stats.miss_rate, 3));
    mw_json_add (o, "confidence", mw_json_num (ts.stats.conf, 3));
    mw_json_add (o, "escalation_rate", mw_json_num (ts.stats.esc_rate, 3));
    mw_json_add (o, "canary", mw_json_bool (ts.canary));
    mw_json_add (o, "changes", mw_json_u64 (ts.changes));
    mw_json_add (o, "reverts", mw_json_u64 (ts.reverts));
    json_object *last = NULL;
    if (self->tune_last_ms && (last = json_object_new_object ())) {
        mw_json_add (last, "action", mw_json_str (sched_tune_action_name (self->tune_last.action)));
        mw_json_add (last, "from", mw_json_u64 ((uint64_t) self->tune_last.from));
        mw_json_add (last, "to", mw_json_u64 ((uint64_t) self->tune_last.to));
        mw_json_add (last, "reason", mw_json_str (self->tune_last.reason));
        mw_json_add (last, "age_s", mw_json_num ((double) (now - self->tune_last_ms) / 1000.0, 1));
    }
    mw_json_add (o, "last", last);
    return o;
}

json_object *
node_jobs_status_json (node_jobs_t *self)
{
    handoff_stats_t st;
    sched_handoff_stats (self->handoff, &st);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "data_addr", mw_json_str (self->advertise));
    mw_json_add (o, "workers", mw_json_u64 (self->workers));
    mw_json_add (o, "queue", mw_json_u64 (sched_handoff_queue_len (self->handoff)));
    mw_json_add (o, "queue_max", mw_json_u64 (self->queue_max));
    mw_json_add (o, "submitted", mw_json_u64 (st.submitted));
    mw_json_add (o, "done", mw_json_u64 (st.done));
    mw_json_add (o, "failed", mw_json_u64 (st.failed));
    mw_json_add (o, "local", mw_json_u64 (st.by_path[HANDOFF_PATH_LOCAL]));
    mw_json_add (o, "peer", mw_json_u64 (st.by_path[HANDOFF_PATH_PEER]));
    mw_json_add (o, "server", mw_json_u64 (st.by_path[HANDOFF_PATH_SERVER]));
    mw_json_add (o, "ran_for_peers", mw_json_u64 (st.remote_done));
    //  Offers withdrawn (PLACEMENT_POLICY=probe): sent by us, honoured for others.
    mw_json_add (o, "cancels_sent", mw_json_u64 (st.cancels_sent));
    mw_json_add (o, "cancelled_for_peers", mw_json_u64 (st.remote_cancelled));
    mw_json_add (o, "svc_ms",
                 mw_json_num (self->runner ? node_runner_svc_ms (self->runner, "tiny-face") : 0.0, 1));
    if (self->tune)
        mw_json_add (o, "tuning", s_tune_json (self));
    //  The data plane's gate: what peers sent that was refused, by reason.
    const gossip_transport_stats_t *ts = gossip_transport_stats (self->data);
    json_object *dp = json_object_new_object ();
    json_object *rej = json_object_new_object ();
    if (dp && rej) {
        mw_json_add (dp, "msgs_in", mw_json_u64 (ts->msgs_in));
        mw_json_add (dp, "bytes_in", mw_json_u64 (ts->bytes_in));
        mw_json_add (dp, "msgs_out", mw_json_u64 (ts->msgs_out));
        mw_json_add (dp, "send_dropped", mw_json_u64 (ts->send_dropped));
        mw_json_add (dp, "send_refused", mw_json_u64 (ts->send_refused));
        mw_json_add (dp, "peers_open", mw_json_u64 (ts->peers_open));
        mw_json_add (dp, "peers_known", mw_json_u64 (ts->peers_known));
        mw_json_add (dp, "routes", mw_json_u64 (ts->routes));
        mw_json_add (dp, "budget_yields", mw_json_u64 (ts->budget_yields));
        mw_json_add (dp, "replay_senders", mw_json_u64 (gossip_replay_size (self->replay)));
        for (int r = 0; r < MW_REJ_COUNT; r++)
            mw_json_add (rej, gossip_transport_reject_name ((gossip_reject_t) r),
                         mw_json_u64 (ts->rejected[r]));
        mw_json_add (dp, "rejected", rej);
        rej = NULL;
    }
    json_object_put (rej);
    mw_json_add (o, "data_plane", dp);
    return o;
}

//  --------------------------------------------------------------------------
//  Selftest: a job through the data plane on loopback.  Box O runs no
//  jobs (no models); box P runs them.  O learns of P as a membership view
//  would tell it (an alive member whose digest advertises P's job port),
//  hands the frame to P, and gets the result back.  Both sides are the
//  real glue: transports, replay windows, runner threads, state machines,
//  driven by node_loop.  Needs MW_MODELS_DIR and MW_DEMO_DIR (set by
//  node/jobs_selftest.sh); without them only the refusal path runs.

typedef struct {
    node_jobs_t *o, *p;
    node_jobs_t *on;   //  where this run submits
    const char *camera;
    node_loop_t *loop;
    mw_jobid_t id;
    bool submitted;
    int rc_submit;
    char err[160];
    uint8_t *frame;
    size_t len;
    const char *model;
    uint64_t deadline_ms;   //  of the whole test
    json_object *result;
} jobs_test_t;

static void
s_test_member_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    (void) ctx, (void) addr, (void) msg;   //  membership's own traffic: not part of this test
}

static void
s_test_tick (void *ctx, uint64_t now)
{
    jobs_test_t *t = (jobs_test_t *) ctx;
    if (!t->submitted) {
        t->submitted = true;
        uint8_t *copy = malloc (t->len);
        memcpy (copy, t->frame, t->len);
        t->rc_submit = node_jobs_submit (t->on, t->camera, t->model, 5000, 5, &copy, t->len, now, &t->id,
                                         t->err, sizeof t->err);
        if (t->rc_submit != 0)
            node_loop_stop (t->loop);
        return;
    }
    json_object *j = node_jobs_job_json (t->on, &t->id);
    const char *state = mw_json_get_str (j, "state", "");
    if (!strcmp (state, "done") || !strcmp (state, "failed") || now > t->deadline_ms) {
        t->result = j;
        node_loop_stop (t->loop);
    }
    else
        json_object_put (j);
}

static uint64_t
s_test_wakeup (void *ctx, uint64_t now)
{
    (void) ctx;
    return now + 20;
}

//  One job submitted on `on`, with both boxes' glue in one loop, until it
//  ended.  The result document, or NULL.
static json_object *
s_test_run (jobs_test_t *t, node_jobs_t *on, const char *camera)
{
    t->on = on;
    t->camera = camera;
    t->submitted = false;
    t->result = NULL;
    t->loop = node_loop_new (50);
    t->deadline_ms = mw_now_ms () + 20000;
    node_service_t so, sp, st = {"test", t, NULL, NULL, s_test_tick, s_test_wakeup, NULL};
    node_jobs_service (t->o, &so);
    node_jobs_service (t->p, &sp);
    node_loop_add (t->loop, &so);
    node_loop_add (t->loop, &sp);
    node_loop_add (t->loop, &st);
    if (node_loop_run (t->loop) != 0)
        t->rc_submit = -1;
    node_loop_destroy (&t->loop);
    return t->result;
}

static mw_config_t *
s_test_cfg (const char *const *lines)
{
    mw_config_t *cfg = mw_config_new ();
    char err[256];
    for (size_t i = 0; cfg && lines[i]; i++) {
        char key[64];
        const char *eq = strchr (lines[i], '=');
        snprintf (key, sizeof key, "%.*s", (int) (eq - lines[i]), lines[i]);
        if (mw_config_set (cfg, key, eq + 1, "selftest", err, sizeof err) != 0) {
            fprintf (stderr, "config %s: %s\n", lines[i], err);
            mw_config_destroy (&cfg);
        }
    }
    return cfg;
}

int
node_jobs_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    const char *models = getenv ("MW_MODELS_DIR");
    const char *demo = getenv ("MW_DEMO_DIR");
    bool real = models && *models && demo && *demo;
    if (!real)
        printf ("  no MW_MODELS_DIR/MW_DEMO_DIR: only the refusal path runs\n");
    char dir_o[] = "/tmp/mw-jobs-o-XXXXXX", dir_p[] = "/tmp/mw-jobs-p-XXXXXX";
    if (!mkdtemp (dir_o) || !mkdtemp (dir_p))
        return -1;
    char key[64], err[512] = "";
    gossip_key_generate (key);
    gossip_identity_t id_o, id_p;
    CHECK (gossip_identity_load (dir_o, &id_o, err, sizeof err) == 0, "identity: %s", err);
    CHECK (gossip_identity_load (dir_p, &id_p, err, sizeof err) == 0, "identity: %s", err);
    gossip_keyring_t *keys = gossip_keyring_new (key);
    CHECK (keys, "keyring");
    int base = 23200 + (int) (getpid () % 400) * 4;   //  below the ephemeral ports (32768+)
    char ep_o[64], ep_p[64], mdir[300];
    snprintf (ep_o, sizeof ep_o, "tcp://127.0.0.1:%d", base);
    snprintf (ep_p, sizeof ep_p, "tcp://127.0.0.1:%d", base + 1);
    snprintf (mdir, sizeof mdir, "MODELS_DIR=%s", real ? models : "");
    const char *lo[] = {"INFER_WORKERS=1", "OFFER_TIMEOUT_MS=2000", "ESCALATE_BELOW=0", NULL};
    const char *lp[] = {"INFER_WORKERS=1", "OFFER_TIMEOUT_MS=2000", "ESCALATE_BELOW=0", real ? mdir : NULL,
                        NULL};
    mw_config_t *co = s_test_cfg (lo), *cp = s_test_cfg (lp);
    //  O publishes its job events: the test reads json.job.done.
    int ev_port = base + 2;
    node_events_t *events = node_events_new ("127.0.0.1", ev_port);
    CHECK (co && cp && events, "configs, events");
    node_jobs_opts_t oo = {co, &id_o, keys, mw_wall_ms (), ep_o, ep_o, events, false, NULL, 0, 0};
    node_jobs_opts_t op = {cp, &id_p, keys, mw_wall_ms (), ep_p, ep_p, NULL, false, NULL, 0, 0};
    node_jobs_t *o = node_jobs_new (&oo, err, sizeof err);
    CHECK (o, "origin: %s", err);
    node_jobs_t *p = node_jobs_new (&op, err, sizeof err);
    CHECK (p, "peer: %s", err);
    if (!o || !p || !keys || !events) {
        node_jobs_destroy (&o);
        node_jobs_destroy (&p);
        node_events_destroy (&events);
        gossip_keyring_destroy (&keys);
        mw_config_destroy (&co);
        mw_config_destroy (&cp);
        return -1;
    }

    //  Without a peer, a box with no models refuses at the door.
    uint8_t *junk = malloc (4);
    memcpy (junk, "abcd", 4);
    mw_jobid_t jid;
    CHECK (node_jobs_submit (o, "c", "tiny-face", 1000, 5, &junk, 4, mw_now_ms (), &jid, err, sizeof err)
                   == -1
               && strstr (err, "unknown model") && junk == NULL,
           "no peer: %s", err);

    //  O's view: P alive, with the digest P would gossip.
    gossip_member_cfg_t mcfg;
    gossip_member_cfg_defaults (&mcfg);
    gossip_member_t *view = gossip_member_new (&mcfg, &id_o, 1700000000000ULL, "o", "tcp://127.0.0.1:1", 1, 7,
                                               s_test_member_send, NULL, NULL);
    node_jobs_digest_t pd;
    node_jobs_digest (p, &pd);
    sched_digest_t d;
    memset (&d, 0, sizeof d);
    d.ts_ms = (uint32_t) mw_wall_ms ();
    d.cpu_cores = 2;
    d.horizon_s[0] = 5;
    d.horizon_s[1] = 30;
    d.jobs = true;
    d.job_port = pd.port;
    d.svc_ms = pd.svc_ms > 0 ? pd.svc_ms : 50;
    d.workers = pd.workers ? pd.workers : 1;
    d.queue_max = pd.queue_max;
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_GOSSIP;
    msg.sender = id_p.id;
    mw_update_t up;
    memset (&up, 0, sizeof up);
    up.id = id_p.id;
    up.from = id_p.id;
    snprintf (up.name, sizeof up.name, "p");
    snprintf (up.addr, sizeof up.addr, "tcp://127.0.0.1:%d",
              base + 3);   //  its mesh port; jobs use d.job_port
    up.state = MW_STATE_ALIVE;
    up.incarnation = 1;
    int dlen = sched_digest_encode (&d, up.digest, sizeof up.digest);
    up.digest_len = (uint16_t) (dlen > 0 ? dlen : 0);
    //  P's own record, as P signs it (gossip/sign.h), its key along.
    up.session = 1700000000000ULL;
    up.stamp = 1;
    CHECK (gossip_sign_record (&id_p, &up) == 0, "sign P's record");
    memcpy (up.pk, id_p.pk, MW_PK_MAX);
    up.pk_len = MW_PK_MAX;
    msg.updates = &up;
    msg.n_updates = 1;
    gossip_member_handle (view, &msg, mw_now_ms ());
    node_jobs_update_peers (o, view, mw_wall_ms ());

    //  P without models advertises no job port: O still has nowhere to go.
    char path[512];
    if (!real) {
        uint8_t *x = malloc (4);
        memcpy (x, "abcd", 4);
        CHECK (node_jobs_submit (o, "c", "tiny-face", 1000, 5, &x, 4, mw_now_ms (), &jid, err, sizeof err)
                   == -1,
               "no models anywhere, yet accepted");
        goto cleanup;
    }
    snprintf (path, sizeof path, "%s/sample1.jpg", demo);
    FILE *f = fopen (path, "rb");
    uint8_t buf[512 * 1024];
    size_t len = f ? fread (buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose (f);
    CHECK (len > 0, "cannot read %s", path);
    jobs_test_t t;
    memset (&t, 0, sizeof t);
    t.o = o;
    t.p = p;
    t.frame = buf;
    t.len = len;
    t.model = "tiny-face";
    //  Warm-up: one job on P itself, so that its model is loaded (the
    //  first use loads it, longer than an origin waits for a runner that
    //  promised a 15 ms job; the jobs scenarios warm their boxes the same way).
    json_object *r = s_test_run (&t, p, "warm-up");
    CHECK (t.rc_submit == 0 && r, "warm-up on P: %s", t.err);
    if (verbose)
        printf ("  warm-up on P: %s\n", r ? mw_json_text (r, false) : "-");
    json_object_put (r);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", ev_port);
    zsock_t *sub = zsock_new_sub (ep, "json.job.");
    zsock_set_rcvtimeo (sub, 2000);
    zclock_sleep (100);   //  the subscription reaches the PUB
    //  P's digest again, as the agent's gossip would have refreshed it
    //  during the warm-up (the hand-off ages a view by the time since it
    //  was set; a model load can take longer than the 5 s a digest lives).
    d.ts_ms = (uint32_t) mw_wall_ms ();
    dlen = sched_digest_encode (&d, up.digest, sizeof up.digest);
    up.digest_len = (uint16_t) (dlen > 0 ? dlen : 0);
    up.incarnation = 2;
    gossip_member_handle (view, &msg, mw_now_ms ());
    node_jobs_update_peers (o, view, mw_wall_ms ());
    uint64_t t0 = mw_now_ms ();
    r = s_test_run (&t, o, "cam \"1\"\n}");
    CHECK (t.rc_submit == 0, "submit with a peer: %s", t.err);
    const char *state = mw_json_get_str (r, "state", "-");
    if (verbose)
        printf ("  job in %llu ms: %s\n", (unsigned long long) (mw_now_ms () - t0),
                r ? mw_json_text (r, false) : "-");
    char p_hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&id_p.id, p_hex);
    CHECK (!strcmp (state, "done") && !strcmp (mw_json_get_str (r, "path", ""), "peer")
               && !strcmp (mw_json_get_str (r, "ran_on", ""), p_hex) && mw_json_get_int (r, "boxes", 0) > 0,
           "job not done on the peer: %s", r ? mw_json_text (r, false) : "-");
    json_object *sp_st = node_jobs_status_json (p);
    CHECK (mw_json_get_int (sp_st, "ran_for_peers", 0) == 1, "peer's ran_for_peers");
    json_object_put (sp_st);
    CHECK (!strcmp (mw_json_get_str (r, "camera", ""), "cam \"1\"\n}"), "camera round trip");
    CHECK (json_object_is_type (mw_json_get (r, "escalated"), json_type_boolean)
               && json_object_is_type (mw_json_get (r, "confidence"), json_type_double),
           "types in jobs --json");

    //  The job's events on O's stream: handed_off, then done/failed, typed
    //  as docs/EVENTS.md says.
    bool ended = false;
    for (int i = 0; i < 8 && !ended; i++) {
        char *topic = NULL, *body = NULL;
        if (zsock_recv (sub, "ss", &topic, &body) != 0)
            break;
        json_object *e = mw_json_parse (body, strlen (body), err, sizeof err);
        CHECK (e, "event not JSON: %s", body);
        if (!strcmp (topic, "json.job.done") || !strcmp (topic, "json.job.failed")) {
            ended = true;
            CHECK (json_object_is_type (mw_json_get (e, "confidence"), json_type_double)
                       && json_object_is_type (mw_json_get (e, "escalated"), json_type_boolean)
                       && json_object_is_type (mw_json_get (e, "late"), json_type_boolean)
                       && !strcmp (mw_json_get_str (e, "camera", ""), "cam \"1\"\n}"),
                   "job event: %s", body);
        }
        json_object_put (e);
        zstr_free (&topic);
        zstr_free (&body);
    }
    CHECK (ended, "no job.done/failed event");
    json_object_put (r);

    //  /metrics of O: the job counted on its path.
    mw_prom_t *pm = mw_prom_new ();
    node_jobs_prometheus (o, pm);
    CHECK (strstr (mw_prom_text (pm), "meshwatch_jobs_path_total{path=\"peer\"} 1\n"), "prometheus:\n%s",
           mw_prom_text (pm));
    mw_prom_destroy (&pm);
    json_object *list = node_jobs_list_json (o);
    CHECK (list && json_object_array_length (list) == 1, "jobs list");
    json_object_put (list);

    //  A camera's frame, raw RGB (P6): on P it runs on the pixels as they
    //  are; from O it leaves as a JPEG made by the encoder thread.  The
    //  result carries the detections themselves.
    char e2[256];
    mw_image_t *img = mw_image_decode (buf, len, e2, sizeof e2);
    CHECK (img, "decode sample1: %s", e2);
    if (img) {
        //  Half size (as the ingest scales a frame to fit CAMERA_MAX_SIDE).
        int hw = mw_image_width (img) / 2, hh = mw_image_height (img) / 2;
        char hdr[32];
        int hl = snprintf (hdr, sizeof hdr, "P6\n%d %d\n255\n", hw, hh);
        size_t plen = (size_t) hl + (size_t) hw * hh * 3;
        uint8_t *ppm = malloc (plen);
        memcpy (ppm, hdr, (size_t) hl);
        for (int y = 0; y < hh; y++)
            for (int x = 0; x < hw; x++)
                memcpy (ppm + hl + ((size_t) y * hw + x) * 3,
                        mw_image_data (img) + ((size_t) (2 * y) * mw_image_width (img) + 2 * x) * 3, 3);
        t.frame = ppm;
        t.len = plen;
        r = s_test_run (&t, p, "raw-local");
        json_object *dets = mw_json_get (r, "detections");
        CHECK (r && !strcmp (mw_json_get_str (r, "state", ""), "done")
                   && !strcmp (mw_json_get_str (r, "path", ""), "local")
                   && mw_json_get_int (r, "boxes", 0) > 0 && json_object_is_type (dets, json_type_array)
                   && (int64_t) json_object_array_length (dets) == mw_json_get_int (r, "boxes", -1)
                   && mw_json_get_int (r, "width", 0) == hw,
               "raw frame on P: %s", r ? mw_json_text (r, false) : "-");
        json_object *d0 =
            json_object_is_type (dets, json_type_array) ? json_object_array_get_idx (dets, 0) : NULL;
        CHECK (d0 && !strcmp (mw_json_get_str (d0, "class", ""), "face")
                   && mw_json_get_num (d0, "score", 0) > 0.3
                   && mw_json_get_num (mw_json_get (d0, "box"), "w", 0) > 50
                   && mw_json_get_num (mw_json_get (d0, "box_norm"), "w", 0) > 0.02
                   && mw_json_get_num (mw_json_get (d0, "box_norm"), "w", 1) < 1,
               "a detection: %s", d0 ? mw_json_text (d0, false) : "-");
        if (verbose)
            printf ("  raw on P: %s\n", r ? mw_json_text (r, false) : "-");
        json_object_put (r);
        uint64_t sent = o->enc_sent;
        r = s_test_run (&t, o, "raw-peer");
        CHECK (r && !strcmp (mw_json_get_str (r, "state", ""), "done")
                   && !strcmp (mw_json_get_str (r, "path", ""), "peer") && mw_json_get_int (r, "boxes", 0) > 0
                   && o->enc_sent == sent + 1,
               "raw frame handed to P as a JPEG: %s (encoded %llu)", r ? mw_json_text (r, false) : "-",
               (unsigned long long) (o->enc_sent - sent));
        json_object_put (r);
        free (ppm);
        mw_image_destroy (&img);
    }

    zsock_destroy (&sub);
cleanup:
    gossip_member_destroy (&view);
    node_jobs_destroy (&o);
    node_jobs_destroy (&p);
    CHECK (o == NULL, "destroy nulls");
    node_events_destroy (&events);
    gossip_keyring_destroy (&keys);
    mw_config_destroy (&co);
    mw_config_destroy (&cp);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s %s", dir_o, dir_p);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}

struct _node_runner_t *
node_jobs_runner (node_jobs_t *self)
{
    return self ? self->runner : NULL;
}
