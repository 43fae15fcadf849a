/*  =========================================================================
    node_runner - inference jobs on worker threads (see runner.h).

    Hand-off, loop -> worker: one slot per worker under the runner's mutex,
    and a condition variable per worker.  Not a PUSH socket: a PUSH would
    queue behind a busy worker instead of refusing, ownership of the frame
    would be split between zmq's queue and us, and "how many workers are
    idle" would need bookkeeping of its own.  With a slot, the job is a
    struct copy, submit is a pointer swap under a lock nobody holds for
    longer than that, and destroy frees whatever is still in a slot.

    Completions, worker -> loop: each worker has an inproc PUSH connected
    to the loop's PULL, and sends the result struct by value (about 5 KB,
    nothing next to a frame's inference).  By value, an unread completion
    belongs to zmq alone and is freed when the sockets close: destroying
    the runner with completions pending cannot leak.  The high-water marks
    are off and the send does not wait, so a loop that stops reading can
    never wedge a worker (and with it destroy's join): the number of
    completions in flight is bounded by what the loop submitted anyway.

    Ordering that matters: a worker marks itself idle *before* it sends
    its completion.  Otherwise a loop woken by the completion could still
    see that worker busy, submit nothing, and wait for a wake-up that
    never comes.
    ========================================================================= */
#include "node/runner.h"
#include "common/log.h"
#include "common/selftest.h"
#include "inference/detector.h"
#include "inference/image.h"
#include "inference/ssd_mobilenet.h"
#include "inference/tiny_face.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

#define NMODELS 2
//  A model found missing is looked for again after this long, so weights
//  installed while the node runs are picked up without a restart.
#define HAS_MODEL_RECHECK_MS 5000

typedef struct {
    uint64_t tag;
    char model[MW_MODEL_MAX + 1];
    uint8_t *frame;
    size_t frame_len;
} s_job_t;

typedef struct {
    node_runner_t *owner;
    int index;
    pthread_t thread;
    bool started;
    pthread_cond_t wake;
    zsock_t *push;   //  used by the worker thread only (after creation)
    //  guarded by owner->lock
    bool busy;     //  a job is in the slot or being processed
    s_job_t job;   //  slot: frame != NULL until the worker takes it
    //  worker thread only
    mw_detector_t *det[NMODELS];
    bool load_warned[NMODELS];
    char *dir[NMODELS];   //  where det[m] came from (NULL: models_dir)
    //  guarded by owner->lock: what this worker runs (the model-folder
    //  generation, the load generation: folder or input size, the size)
    uint64_t det_gen[NMODELS];
    uint64_t det_lgen[NMODELS];
    int det_size[NMODELS];
    //  guarded by owner->lock: a detector the loader thread built and
    //  warmed for this worker, taken between two jobs (NULL: none)
    mw_detector_t *pending[NMODELS];
    char *pending_dir[NMODELS];
    uint64_t pending_gen[NMODELS], pending_lgen[NMODELS];
    //  guarded by owner->lock: the detector a swap replaced, freed by the
    //  loader thread (freeing a net's buffers is milliseconds, not for
    //  the job path either)
    mw_detector_t *retired[NMODELS];
} s_worker_t;

typedef struct {
    double ms[NODE_RUNNER_SVC_WINDOW];
    uint64_t at[NODE_RUNNER_SVC_WINDOW];   //  mw_now_ms () when measured
    int count, next;
} s_window_t;

struct _node_runner_t {
    node_runner_cfg_t cfg;
    char *models_dir;
    zsock_t *pull;
    int nworkers;
    s_worker_t *workers;
    pthread_mutex_t lock;
    //  guarded by lock
    bool stop;
    bool hold;   //  selftest: workers leave jobs in their slots
    int idle;
    s_window_t svc[NMODELS];
    int has_model[NMODELS];   //  0 unknown, 1 present, -1 missing
    uint64_t has_model_at[NMODELS];
    //  Model packages (node_runner_set_model_dir): where each model comes
    //  from now (NULL: models_dir), its generation, the last load error.
    char *model_dir[NMODELS];
    uint64_t gen[NMODELS];
    char load_err[NMODELS][200];
    //  What every worker should run: the input size, and the load
    //  generation (moves with the folder or the size).  The loader thread
    //  builds the detectors of a new generation off the job path.
    int size[NMODELS];
    uint64_t lgen[NMODELS];
    pthread_t loader;
    bool loader_started;
    pthread_cond_t loader_wake;
};

static const double s_prior_ms[NMODELS] = {
    [MW_MODEL_TINY_FACE] = NODE_RUNNER_PRIOR_TINY_FACE_MS,
    [MW_MODEL_SSD_MOBILENET] = NODE_RUNNER_PRIOR_SSD_MS,
};
static const char *s_manifest[NMODELS] = {
    [MW_MODEL_TINY_FACE] = MW_TINY_FACE_MANIFEST,
    [MW_MODEL_SSD_MOBILENET] = MW_SSD_MANIFEST,
};

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

//  The model's index, or -1 for anything we do not run.
static int
s_model_index (const char *model)
{
    if (!model)
        return -1;
    int m = mw_model_parse (model);
    return m >= 0 && m < NMODELS ? m : -1;
}

//  A coordinate or score in [0, 1] to millionths; NaN is 0.
static uint32_t
s_fixed (double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 1)
        return MW_FIXED_ONE;
    return (uint32_t) lround (v * MW_FIXED_ONE);
}

static void
s_reason (node_runner_result_t *res, const char *what, const char *detail)
{
    res->status = -1;
    if (detail && *detail)
        snprintf (res->reason, sizeof res->reason, "%s: %s", what, detail);
    else
        snprintf (res->reason, sizeof res->reason, "%s", what);
}

//  A detector for model m from `dir` (NULL: models_dir) at input size
//  `size` (0: the model's own), run once on a blank frame when `warm`.
static mw_detector_t *
s_build (node_runner_t *self, int m, const char *dir, int size, bool warm, char *err, size_t errlen)
{
    mw_detector_config_t dc;
    mw_detector_config_defaults (&dc);
    dc.model = (mw_model_t) m;
    dc.models_dir = dir ? dir : self->models_dir;
    dc.threads = self->cfg.threads;
    dc.threshold = self->cfg.min_score;
    dc.input_size = size;
    dc.max_detections = MW_MAX_BOXES;
    mw_detector_t *det = mw_detector_new (&dc, err, errlen);
    if (det && warm) {
        //  Cold caches and first-touch pages cost the first run tens of
        //  ms: paid here, not by a job.
        uint8_t *blank = calloc (1, 96 * 64 * 3);
        if (blank)
            mw_detector_run (det, blank, 96, 64, 96 * 3);
        free (blank);
    }
    return det;
}

//  The detector for model m, loaded on first use.  NULL + err on failure;
//  the next job of that model tries again (the weights may have been
//  fixed), but only the first failure is logged.
static mw_detector_t *
s_detector (s_worker_t *w, int m, char *err, size_t errlen)
{
    if (w->det[m])
        return w->det[m];
    node_runner_t *self = w->owner;
    //  What the runner wants now; the loader thread may be building the
    //  same for us: whichever is newer wins at the swap.
    pthread_mutex_lock (&self->lock);
    free (w->dir[m]);
    w->dir[m] = self->model_dir[m] ? strdup (self->model_dir[m]) : NULL;
    w->det_gen[m] = self->gen[m];
    w->det_lgen[m] = self->lgen[m];
    w->det_size[m] = self->size[m];
    pthread_mutex_unlock (&self->lock);
    w->det[m] = s_build (self, m, w->dir[m], w->det_size[m], false, err, errlen);
    pthread_mutex_lock (&self->lock);
    w->det_size[m] = w->det[m] ? mw_detector_input_size (w->det[m]) : 0;
    pthread_mutex_unlock (&self->lock);
    if (!w->det[m] && !w->load_warned[m]) {
        mw_warn ("runner_load_failed", "worker=%d model=%s reason=\"%s\"", w->index,
                 mw_model_name ((mw_model_t) m), err);
        w->load_warned[m] = true;
    }
    else if (w->det[m])
        w->load_warned[m] = false;
    return w->det[m];
}

//  One job, start to finish, on the worker thread.  Returns the model
//  index when the job succeeded (its time goes into the estimate), else -1.
static int
s_process (s_worker_t *w, const s_job_t *job, node_runner_result_t *res)
{
    memset (res, 0, sizeof *res);
    res->tag = job->tag;
    snprintf (res->model, sizeof res->model, "%s", job->model);
    int m = s_model_index (job->model);
    if (m < 0) {
        s_reason (res, "unknown_model", NULL);
        return -1;
    }
    char err[256] = "";
    double t0 = s_now_ms ();
    //  A camera's frame arrives as raw RGB (a P6 PPM, node/jobs.h): run on
    //  it in place.  Anything else is a JPEG (or a PPM from a file) to
    //  decode, its size checked from the header first: an image bomb (a
    //  small file that says 8192 x 8192) is refused before any pixel is
    //  allocated.
    const uint8_t *px = NULL;
    int pw = 0, ph = 0;
    mw_image_t *img = NULL;
    bool raw = job->frame_len > 2 && job->frame[0] == 'P' && job->frame[1] == '6';
    if (raw && mw_image_ppm_view (job->frame, job->frame_len, &px, &pw, &ph, err, sizeof err) != 0) {
        s_reason (res, "bad_frame", err);
        return -1;
    }
    if (raw && (uint64_t) pw * (uint64_t) ph > w->owner->cfg.max_pixels) {
        snprintf (err, sizeof err, "%dx%d is more than %llu pixels", pw, ph,
                  (unsigned long long) w->owner->cfg.max_pixels);
        s_reason (res, "bad_frame", err);
        return -1;
    }
    if (!raw) {
        img = mw_image_decode_max (job->frame, job->frame_len, w->owner->cfg.max_pixels, err, sizeof err);
        if (!img) {
            s_reason (res, "bad_jpeg", err);
            return -1;
        }
        px = mw_image_data (img);
        pw = mw_image_width (img);
        ph = mw_image_height (img);
    }
    res->decode_ms = s_now_ms () - t0;
    res->width = (uint32_t) pw;
    res->height = (uint32_t) ph;
    mw_detector_t *det = s_detector (w, m, err, sizeof err);
    if (!det) {
        mw_image_destroy (&img);
        s_reason (res, "model_load_failed", err);
        return -1;
    }
    int n = mw_detector_run (det, px, pw, ph, (size_t) pw * 3);
    mw_image_destroy (&img);
    if (n < 0) {
        s_reason (res, "inference_failed", mw_detector_error (det));
        return -1;
    }
    mw_timing_t tm;
    mw_detector_timing (det, &tm);
    res->infer_ms = tm.preprocess_ms + tm.net_ms + tm.decode_ms;
    res->input_size = (uint32_t) mw_detector_input_size (det);

    //  Pixels to image-relative millionths.  Clamp the corners, not the
    //  size, so that x + w never passes the right edge either.
    const mw_detection_t *d = mw_detector_detections (det, NULL);
    double W = res->width, H = res->height;
    res->n_boxes = (uint32_t) (n < MW_MAX_BOXES ? n : MW_MAX_BOXES);
    for (uint32_t i = 0; i < res->n_boxes; i++) {
        uint32_t x0 = s_fixed (d[i].x / W), x1 = s_fixed ((d[i].x + d[i].w) / W);
        uint32_t y0 = s_fixed (d[i].y / H), y1 = s_fixed ((d[i].y + d[i].h) / H);
        res->boxes[i].x = x0;
        res->boxes[i].y = y0;
        res->boxes[i].w = x1 > x0 ? x1 - x0 : 0;
        res->boxes[i].h = y1 > y0 ? y1 - y0 : 0;
        res->boxes[i].score = s_fixed (d[i].score);
    }
    mw_confidence_t conf;
    mw_detector_summary (det, &conf);
    res->confidence = conf.count > 0 ? s_fixed (conf.mean_score) : 0;
    res->max_score = conf.count > 0 ? s_fixed (conf.max_score) : 0;
    return m;
}

//  The loader thread: for every worker whose detector is of an older load
//  generation (a model package came, the input size changed), build the
//  new detector and run it once on a blank frame - on this thread, while
//  the worker goes on with jobs on the old one - and leave it in the
//  worker's pending slot.  The worker takes it between two jobs (a
//  pointer swap), so a swap costs the jobs' latency nothing but the CPU
//  this thread shares with them.  A load that fails leaves the old
//  detector in place and says why (node_runner_model_status).
static void *
s_loader_run (void *arg)
{
    node_runner_t *self = (node_runner_t *) arg;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        //  First what the workers swapped out.
        mw_detector_t *old = NULL;
        for (int i = 0; i < self->nworkers && !old; i++)
            for (int k = 0; k < NMODELS && !old; k++)
                if (self->workers[i].retired[k]) {
                    old = self->workers[i].retired[k];
                    self->workers[i].retired[k] = NULL;
                }
        if (old) {
            pthread_mutex_unlock (&self->lock);
            mw_detector_destroy (&old);
            pthread_mutex_lock (&self->lock);
            continue;
        }
        s_worker_t *w = NULL;
        int m = -1;
        for (int i = 0; i < self->nworkers && !w; i++)
            for (int k = 0; k < NMODELS && !w; k++) {
                s_worker_t *c = &self->workers[i];
                if (c->det_lgen[k] != self->lgen[k]
                    && (!c->pending[k] || c->pending_lgen[k] != self->lgen[k]))
                    w = c, m = k;
            }
        if (!w) {
            pthread_cond_wait (&self->loader_wake, &self->lock);
            continue;
        }
        uint64_t gen = self->gen[m], lgen = self->lgen[m];
        int size = self->size[m];
        char *dir = self->model_dir[m] ? strdup (self->model_dir[m]) : NULL;
        pthread_mutex_unlock (&self->lock);
        char err[256] = "";
        double t0 = s_now_ms ();
        mw_detector_t *det = s_build (self, m, dir, size, true, err, sizeof err);
        double ms = s_now_ms () - t0;
        pthread_mutex_lock (&self->lock);
        if (lgen != self->lgen[m] || self->stop) {
            //  Superseded while it loaded: build the newest instead.
            pthread_mutex_unlock (&self->lock);
            mw_detector_destroy (&det);
            free (dir);
            pthread_mutex_lock (&self->lock);
            continue;
        }
        if (!det) {
            w->det_gen[m] = gen;   //  tried: the old detector stays
            w->det_lgen[m] = lgen;
            snprintf (self->load_err[m], sizeof self->load_err[m], "%s", err);
            free (dir);
            mw_warn ("runner_load_failed", "worker=%d model=%s size=%d reason=\"%s\"", w->index,
                     mw_model_name ((mw_model_t) m), size, err);
            continue;
        }
        mw_detector_t *stale = w->pending[m];
        char *stale_dir = w->pending_dir[m];
        w->pending[m] = det;
        w->pending_dir[m] = dir;
        w->pending_gen[m] = gen;
        w->pending_lgen[m] = lgen;
        pthread_cond_signal (&w->wake);
        pthread_mutex_unlock (&self->lock);
        mw_detector_destroy (&stale);
        free (stale_dir);
        mw_info ("runner_model_loaded", "worker=%d model=%s size=%d load_ms=%.1f", w->index,
                 mw_model_name ((mw_model_t) m), size, ms);
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  Between two jobs: take what the loader prepared.  Called with the lock
//  held; returns with it held.
static void
s_swap (s_worker_t *w)
{
    node_runner_t *self = w->owner;
    for (int m = 0; m < NMODELS; m++) {
        if (!w->pending[m])
            continue;
        double t0 = s_now_ms ();
        mw_detector_t *det = w->pending[m];
        char *dir = w->pending_dir[m];
        w->pending[m] = NULL;
        w->pending_dir[m] = NULL;
        if (w->det[m] && w->pending_lgen[m] <= w->det_lgen[m]) {
            //  The worker loaded something as new itself meanwhile.
            pthread_mutex_unlock (&self->lock);
            mw_detector_destroy (&det);
            free (dir);
            pthread_mutex_lock (&self->lock);
            continue;
        }
        mw_detector_t *old = w->det[m];
        char *old_dir = w->dir[m];
        w->det[m] = det;
        w->dir[m] = dir;
        w->det_gen[m] = w->pending_gen[m];
        w->det_lgen[m] = w->pending_lgen[m];
        w->det_size[m] = mw_detector_input_size (det);
        w->load_warned[m] = false;
        if (w->det_gen[m] == self->gen[m] && w->det_lgen[m] == self->lgen[m])
            self->load_err[m][0] = 0;
        uint64_t gen = w->det_gen[m];
        int size = w->det_size[m];
        mw_detector_t *older = w->retired[m];   //  the loader has not got to it: rare
        w->retired[m] = old;
        pthread_cond_signal (&self->loader_wake);
        pthread_mutex_unlock (&self->lock);
        mw_detector_destroy (&older);
        free (old_dir);
        //  swap_ms: what the swap cost this worker between two jobs (a
        //  pointer swap; the load and the freeing were not here).
        mw_info ("runner_model_swapped", "worker=%d model=%s gen=%llu size=%d swap_ms=%.2f dir=%s", w->index,
                 mw_model_name ((mw_model_t) m), (unsigned long long) gen, size, s_now_ms () - t0,
                 dir ? dir : self->models_dir);
        pthread_mutex_lock (&self->lock);
    }
}

static bool
s_swap_due (s_worker_t *w)
{
    for (int m = 0; m < NMODELS; m++)
        if (w->pending[m])
            return true;
    return false;
}

static void *
s_worker_run (void *arg)
{
    s_worker_t *w = (s_worker_t *) arg;
    node_runner_t *self = w->owner;
    //  5 KB: kept off the stack of a thread we did not size.
    node_runner_result_t *res = malloc (sizeof *res);
    void *push = zsock_resolve (w->push);
    //  Load every installed model now, and run it once on a blank frame,
    //  rather than on the first job: a cold first job costs the model load
    //  plus cold caches (tens of ms, 200+ for SSD), which is exactly when an
    //  origin waits on the wait this box promised from its prior and gives
    //  up on it.  The loop is not held up: this is the worker's thread, and
    //  a job given meanwhile simply starts after it.
    for (int m = 0; m < NMODELS; m++) {
        char path[4096], err[256];
        snprintf (path, sizeof path, "%s/%s", self->models_dir, s_manifest[m]);
        if (access (path, R_OK) != 0)
            continue;
        mw_detector_t *det = s_detector (w, m, err, sizeof err);
        if (det) {
            uint8_t *blank = calloc (1, 96 * 64 * 3);
            if (blank)
                mw_detector_run (det, blank, 96, 64, 96 * 3);
            free (blank);
        }
    }
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stop && (!w->busy || self->hold) && !s_swap_due (w))
            pthread_cond_wait (&w->wake, &self->lock);
        if (self->stop)
            break;
        //  Between two jobs: take a detector the loader prepared.
        if (s_swap_due (w))
            s_swap (w);
        if (self->stop)
            break;
        if (!w->busy || self->hold)
            continue;
        s_job_t job = w->job;
        w->job.frame = NULL;   //  ours now
        pthread_mutex_unlock (&self->lock);

        int m = -1;
        if (res)
            m = s_process (w, &job, res);
        free (job.frame);

        pthread_mutex_lock (&self->lock);
        if (m >= 0) {
            s_window_t *win = &self->svc[m];
            win->ms[win->next] = res->decode_ms + res->infer_ms;
            win->at[win->next] = mw_now_ms ();
            win->next = (win->next + 1) % NODE_RUNNER_SVC_WINDOW;
            if (win->count < NODE_RUNNER_SVC_WINDOW)
                win->count++;
        }
        w->busy = false;   //  before the send: see the top of the file
        self->idle++;
        pthread_mutex_unlock (&self->lock);

        //  Out of memory for the result is the one job whose completion
        //  cannot be sent; the caller's deadline covers it.
        if (!res || zmq_send (push, res, sizeof *res, ZMQ_DONTWAIT) != (int) sizeof *res)
            mw_error ("runner_send_failed", "worker=%d tag=%llu reason=\"%s\"", w->index,
                      (unsigned long long) job.tag, res ? zmq_strerror (zmq_errno ()) : "out of memory");
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    for (int m = 0; m < NMODELS; m++) {
        mw_detector_destroy (&w->det[m]);
        free (w->dir[m]);
        w->dir[m] = NULL;
    }
    free (res);
    return NULL;
}

uint64_t
node_runner_set_model_dir (node_runner_t *self, const char *model, const char *dir)
{
    assert (self);
    int m = s_model_index (model);
    if (m < 0)
        return 0;
    char *copy = dir ? strdup (dir) : NULL;
    if (dir && !copy)
        return 0;
    pthread_mutex_lock (&self->lock);
    free (self->model_dir[m]);
    self->model_dir[m] = copy;
    uint64_t gen = ++self->gen[m];
    self->lgen[m]++;
    self->load_err[m][0] = 0;
    self->has_model[m] = 0;   //  ask the disk again
    pthread_cond_signal (&self->loader_wake);
    pthread_mutex_unlock (&self->lock);
    mw_info ("runner_model_dir", "model=%s gen=%llu dir=%s", model, (unsigned long long) gen,
             dir ? dir : self->models_dir);
    return gen;
}

int
node_runner_model_status (node_runner_t *self, const char *model, uint64_t gen, char *err, size_t errlen)
{
    assert (self);
    int m = s_model_index (model);
    if (m < 0) {
        snprintf (err, errlen, "unknown model %s", model ? model : "");
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 1;
    if (self->gen[m] != gen)
        rc = 2;
    else {
        for (int i = 0; i < self->nworkers; i++)
            if (self->workers[i].det_gen[m] != gen)
                rc = 0;
        if (rc == 1 && self->load_err[m][0]) {
            snprintf (err, errlen, "%s", self->load_err[m]);
            rc = -1;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
node_runner_set_input_size (node_runner_t *self, const char *model, int size)
{
    assert (self);
    if (s_model_index (model) != MW_MODEL_TINY_FACE || size < 32 || size > 2048 || size % 32)
        return -1;
    int m = MW_MODEL_TINY_FACE;
    pthread_mutex_lock (&self->lock);
    if (self->size[m] != size) {
        self->size[m] = size;
        self->lgen[m]++;
        pthread_cond_signal (&self->loader_wake);
    }
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
node_runner_input_size (node_runner_t *self, const char *model, int *running)
{
    assert (self);
    int m = s_model_index (model);
    if (m < 0)
        return 0;
    pthread_mutex_lock (&self->lock);
    int target = self->size[m], all = -1;
    for (int i = 0; i < self->nworkers; i++) {
        int s = self->workers[i].det_size[m];
        all = all == -1 || all == s ? s : 0;
    }
    pthread_mutex_unlock (&self->lock);
    if (running)
        *running = all < 0 ? 0 : all;
    return target;
}

void
node_runner_cfg_defaults (node_runner_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->threads = 1;
    cfg->min_score = 0.5f;
    cfg->workers = 1;
    cfg->tiny_face_size = 416;
    cfg->max_pixels = MW_IMAGE_DEFAULT_MAX_PIXELS;
}

node_runner_t *
node_runner_new (const node_runner_cfg_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    char dummy[1];
    if (!err || errlen == 0)
        err = dummy, errlen = sizeof dummy;
    if (!cfg->models_dir || !*cfg->models_dir) {
        snprintf (err, errlen, "no models dir given");
        return NULL;
    }
    if (cfg->workers < 1 || cfg->workers > 64 || cfg->threads < 1) {
        snprintf (err, errlen, "workers %d (1..64) and threads %d (>= 1) out of range", cfg->workers,
                  cfg->threads);
        return NULL;
    }
    if (!(cfg->min_score >= 0.f && cfg->min_score < 1.f)) {
        snprintf (err, errlen, "min_score %g must be in [0, 1)", (double) cfg->min_score);
        return NULL;
    }
    int S = cfg->tiny_face_size;
    if (S < 32 || S > 2048 || S % 32) {
        snprintf (err, errlen, "tiny_face_size %d must be a multiple of 32 in 32..2048", S);
        return NULL;
    }
    node_runner_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->models_dir = strdup (cfg->models_dir);
    self->cfg.models_dir = self->models_dir;
    self->nworkers = cfg->workers;
    self->workers = calloc ((size_t) cfg->workers, sizeof *self->workers);
    self->size[MW_MODEL_TINY_FACE] = S;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->loader_wake, NULL);
    if (!self->models_dir || !self->workers) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    //  One endpoint per runner: the agent and a test may hold several.  A
    //  counter, not the address: libzmq releases an inproc name only when
    //  its reaper has closed the socket, so a runner allocated where a
    //  destroyed one lived could find "its" name still taken.
    static atomic_uint s_runner_seq;
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://node-runner-%u", atomic_fetch_add (&s_runner_seq, 1));
    self->pull = zsock_new (ZMQ_PULL);
    if (!self->pull) {
        snprintf (err, errlen, "cannot create the completion socket");
        goto fail;
    }
    zsock_set_rcvhwm (self->pull, 0);
    if (zsock_bind (self->pull, "%s", ep) != 0) {
        snprintf (err, errlen, "cannot bind %s: %s", ep, zmq_strerror (zmq_errno ()));
        goto fail;
    }
    for (int i = 0; i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        w->owner = self;
        w->index = i;
        pthread_cond_init (&w->wake, NULL);
        w->push = zsock_new (ZMQ_PUSH);
        if (!w->push) {
            snprintf (err, errlen, "cannot create a worker socket");
            goto fail;
        }
        zsock_set_sndhwm (w->push, 0);
        if (zsock_connect (w->push, "%s", ep) != 0) {
            snprintf (err, errlen, "cannot connect %s: %s", ep, zmq_strerror (zmq_errno ()));
            goto fail;
        }
        if (pthread_create (&w->thread, NULL, s_worker_run, w) != 0) {
            snprintf (err, errlen, "cannot start worker thread %d", i);
            goto fail;
        }
        w->started = true;
        self->idle++;   //  no worker runs a job yet: no lock needed
    }
    if (pthread_create (&self->loader, NULL, s_loader_run, self) != 0) {
        snprintf (err, errlen, "cannot start the loader thread");
        goto fail;
    }
    self->loader_started = true;
    mw_info ("runner_started", "workers=%d threads=%d min_score=%.2f models=%s", self->nworkers, cfg->threads,
             (double) cfg->min_score, self->models_dir);
    return self;
fail:
    node_runner_destroy (&self);
    return NULL;
}

void
node_runner_destroy (node_runner_t **self_p)
{
    assert (self_p);
    node_runner_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    for (int i = 0; self->workers && i < self->nworkers; i++)
        if (self->workers[i].started)
            pthread_cond_signal (&self->workers[i].wake);
    pthread_cond_signal (&self->loader_wake);
    pthread_mutex_unlock (&self->lock);
    //  The loader first: it may be handing a detector to a worker.
    if (self->loader_started)
        pthread_join (self->loader, NULL);
    //  A worker in the middle of a frame finishes it: detectors cannot be
    //  interrupted, and it is one job's time at most.  Its completion
    //  still finds the PULL open and is dropped with it.
    for (int i = 0; self->workers && i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        if (w->started)
            pthread_join (w->thread, NULL);
        free (w->job.frame);   //  submitted, never started
        for (int m = 0; m < NMODELS; m++) {
            mw_detector_destroy (&w->pending[m]);   //  prepared, never taken
            mw_detector_destroy (&w->retired[m]);
            free (w->pending_dir[m]);
        }
        zsock_destroy (&w->push);
        if (w->owner)
            pthread_cond_destroy (&w->wake);
    }
    zsock_destroy (&self->pull);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->loader_wake);
    for (int m = 0; m < NMODELS; m++)
        free (self->model_dir[m]);
    free (self->workers);
    free (self->models_dir);
    free (self);
    *self_p = NULL;
}

bool
node_runner_has_model (node_runner_t *self, const char *model)
{
    assert (self);
    int m = s_model_index (model);
    if (m < 0)
        return false;
    uint64_t now = mw_now_ms ();
    pthread_mutex_lock (&self->lock);
    int known = self->has_model[m];
    bool stale = known < 0 && now - self->has_model_at[m] >= HAS_MODEL_RECHECK_MS;
    char dir[2048];
    snprintf (dir, sizeof dir, "%s", self->model_dir[m] ? self->model_dir[m] : self->models_dir);
    pthread_mutex_unlock (&self->lock);
    if (known == 0 || stale) {
        //  One access () now and then; not worth holding the lock for.
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, s_manifest[m]);
        known = access (path, R_OK) == 0 ? 1 : -1;
        pthread_mutex_lock (&self->lock);
        self->has_model[m] = known;
        self->has_model_at[m] = now;
        pthread_mutex_unlock (&self->lock);
    }
    return known > 0;
}

int
node_runner_submit (node_runner_t *self, uint64_t tag, const char *model, uint8_t **frame_p, size_t frame_len)
{
    assert (self);
    if (!frame_p || !*frame_p || frame_len == 0 || !model || strlen (model) > MW_MODEL_MAX)
        return -1;
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->nworkers && !self->stop; i++) {
        s_worker_t *w = &self->workers[i];
        if (w->busy)
            continue;
        w->busy = true;
        self->idle--;
        w->job.tag = tag;
        snprintf (w->job.model, sizeof w->job.model, "%s", model);
        w->job.frame = *frame_p;
        w->job.frame_len = frame_len;
        *frame_p = NULL;
        pthread_cond_signal (&w->wake);
        rc = 0;
        break;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
node_runner_idle (node_runner_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    int idle = self->idle;
    pthread_mutex_unlock (&self->lock);
    return idle;
}

int
node_runner_workers (node_runner_t *self)
{
    assert (self);
    return self->nworkers;
}

zsock_t *
node_runner_sock (node_runner_t *self)
{
    assert (self);
    return self->pull;
}

int
node_runner_recv (node_runner_t *self, node_runner_result_t *out)
{
    assert (self);
    assert (out);
    //  zmq_recv truncates to the buffer: a frame of any other size would
    //  not be one of ours, and is skipped rather than half-read.
    while (true) {
        int n = zmq_recv (zsock_resolve (self->pull), out, sizeof *out, ZMQ_DONTWAIT);
        if (n < 0)
            return 0;
        if (n == (int) sizeof *out)
            return 1;
        mw_error ("runner_bad_completion", "size=%d", n);
    }
}

double
node_runner_svc_ms (node_runner_t *self, const char *model)
{
    assert (self);
    int m = s_model_index (model);
    if (m < 0)
        return NODE_RUNNER_PRIOR_SSD_MS;
    //  Only recent measurements count.  Admission refuses jobs the box
    //  would finish late, so a box whose estimate a loaded burst pushed up
    //  would otherwise refuse every job and never measure again: once its
    //  samples age out it is back on the prior, takes a job, and measures.
    double v[NODE_RUNNER_SVC_WINDOW];
    uint64_t now = mw_now_ms ();
    int n = 0;
    pthread_mutex_lock (&self->lock);
    const s_window_t *win = &self->svc[m];
    for (int i = 0; i < win->count; i++)
        if (now - win->at[i] <= NODE_RUNNER_SVC_MAX_AGE_MS)
            v[n++] = win->ms[i];
    pthread_mutex_unlock (&self->lock);
    if (n == 0)
        return s_prior_ms[m];
    //  Insertion sort of at most 16 values, then the nearest-rank p90: with
    //  a full window that is the second largest, so one outlier (a page
    //  fault storm, a huge frame) does not set admission on its own.
    for (int i = 1; i < n; i++) {
        double x = v[i];
        int j = i - 1;
        for (; j >= 0 && v[j] > x; j--)
            v[j + 1] = v[j];
        v[j + 1] = x;
    }
    int rank = (int) ceil (0.9 * n);
    return v[rank - 1];
}

//  --------------------------------------------------------------------------
//  Selftest

static void
s_hold (node_runner_t *self, bool hold)
{
    pthread_mutex_lock (&self->lock);
    self->hold = hold;
    for (int i = 0; i < self->nworkers; i++)
        pthread_cond_signal (&self->workers[i].wake);
    pthread_mutex_unlock (&self->lock);
}

//  Wait up to timeout_ms for one completion (the selftest may run under
//  valgrind: generous).
static int
s_wait (node_runner_t *self, node_runner_result_t *out, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (node_runner_sock (self)), 0, ZMQ_POLLIN, 0};
    double until = s_now_ms () + timeout_ms;
    while (true) {
        if (node_runner_recv (self, out) == 1)
            return 1;
        double left = until - s_now_ms ();
        if (left <= 0)
            return 0;
        zmq_poll (&item, 1, (long) left);
    }
}

static uint8_t *
s_dup (const void *data, size_t len)
{
    uint8_t *p = malloc (len);
    if (p)
        memcpy (p, data, len);
    return p;
}

static uint8_t *
s_read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    if (fseek (f, 0, SEEK_END) == 0) {
        long n = ftell (f);
        if (n > 0 && fseek (f, 0, SEEK_SET) == 0 && (buf = malloc ((size_t) n))) {
            if (fread (buf, 1, (size_t) n, f) == (size_t) n)
                *len = (size_t) n;
            else {
                free (buf);
                buf = NULL;
            }
        }
    }
    fclose (f);
    return buf;
}

//  A JPEG with faces: face-api's demo sample1.jpg, which the cache holds
//  next to model/, else the committed fixture pixels/small1.ppm (an exact
//  downscale of it) encoded here.
static uint8_t *
s_fixture_jpeg (const char *models_dir, size_t *len, char *what, size_t whatlen)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/../demo/sample1.jpg", models_dir);
    uint8_t *jpeg = s_read_file (path, len);
    if (jpeg) {
        snprintf (what, whatlen, "%s", path);
        return jpeg;
    }
    const char *srcdir = getenv ("MW_SRCDIR") ? getenv ("MW_SRCDIR") : ".";
    snprintf (path, sizeof path, "%s/tests/fixtures/faceapi/pixels/small1.ppm", srcdir);
    char err[256];
    mw_image_t *img = mw_image_load (path, err, sizeof err);
    if (!img)
        return NULL;
    tjhandle tj = tjInitCompress ();
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    if (tj
        && tjCompress2 (tj, mw_image_data (img), mw_image_width (img), 0, mw_image_height (img), TJPF_RGB,
                        &out, &outlen, TJSAMP_444, 95, 0)
               == 0) {
        jpeg = s_dup (out, outlen);
        *len = outlen;
        snprintf (what, whatlen, "%s (encoded)", path);
    }
    tjFree (out);
    if (tj)
        tjDestroy (tj);
    mw_image_destroy (&img);
    return jpeg;
}

static bool
s_boxes_ok (const node_runner_result_t *r)
{
    for (uint32_t i = 0; i < r->n_boxes; i++) {
        const mw_wire_box_t *b = &r->boxes[i];
        if (b->w == 0 || b->h == 0 || b->x + b->w > MW_FIXED_ONE || b->y + b->h > MW_FIXED_ONE
            || b->score == 0 || b->score > MW_FIXED_ONE)
            return false;
    }
    return true;
}

//  Everything that needs no weights: a runner on a models dir that does
//  not exist.
static int
s_test_no_models (bool verbose)
{
    int rc = 0;
    node_runner_cfg_t cfg;
    char err[256];
    node_runner_cfg_defaults (&cfg);
    CHECK (node_runner_new (&cfg, err, sizeof err) == NULL, "no models dir accepted");
    cfg.models_dir = "/nonexistent-mw-models";
    cfg.workers = 0;
    CHECK (node_runner_new (&cfg, err, sizeof err) == NULL, "0 workers accepted");
    cfg.workers = 2;
    cfg.tiny_face_size = 100;
    CHECK (node_runner_new (&cfg, err, sizeof err) == NULL, "tiny_face_size 100 accepted");
    cfg.tiny_face_size = 416;
    node_runner_t *r = node_runner_new (&cfg, err, sizeof err);
    CHECK (r, "new: %s", err);
    if (!r)
        return rc;
    CHECK (node_runner_workers (r) == 2 && node_runner_idle (r) == 2, "2 workers idle");
    CHECK (!node_runner_has_model (r, "tiny-face"), "tiny-face without weights");
    CHECK (!node_runner_has_model (r, "nope") && !node_runner_has_model (r, NULL), "unknown model");
    CHECK (node_runner_svc_ms (r, "tiny-face") == NODE_RUNNER_PRIOR_TINY_FACE_MS
               && node_runner_svc_ms (r, "ssd-mobilenet") == NODE_RUNNER_PRIOR_SSD_MS,
           "priors");

    //  Bad arguments leave the frame with the caller.
    static const uint8_t junk[] = "this is not a jpeg";
    //  An 8x8 grey PPM: decodes (mw_image_decode reads P6 too), so the job
    //  gets as far as loading the model.
    uint8_t ppm[11 + 8 * 8 * 3];
    memcpy (ppm, "P6\n8 8\n255\n", 11);
    memset (ppm + 11, 128, sizeof ppm - 11);
    uint8_t *frame = s_dup (junk, sizeof junk);
    uint8_t *none = NULL;
    CHECK (node_runner_submit (r, 1, "tiny-face", &none, 10) == -1, "NULL frame");
    CHECK (node_runner_submit (r, 1, "tiny-face", &frame, 0) == -1 && frame, "empty frame");
    CHECK (node_runner_submit (r, 1, NULL, &frame, sizeof junk) == -1 && frame, "no model");
    CHECK (node_runner_submit (r, 1, "a-model-name-well-beyond-thirty-two-characters", &frame, sizeof junk)
                   == -1
               && frame,
           "long model name");

    //  Garbage bytes, an unknown model, a model without weights.
    CHECK (node_runner_submit (r, 11, "tiny-face", &frame, sizeof junk) == 0 && !frame, "submit");
    frame = s_dup (ppm, sizeof ppm);
    CHECK (node_runner_submit (r, 12, "nope", &frame, sizeof ppm) == 0, "submit unknown");
    node_runner_result_t *res = malloc (sizeof *res);
    bool seen[2] = {false, false};
    for (int i = 0; i < 2 && res; i++) {
        CHECK (s_wait (r, res, 60000) == 1, "completion %d", i);
        if (res->tag == 11) {
            seen[0] = true;
            CHECK (res->status == -1 && strncmp (res->reason, "bad_jpeg: ", 10) == 0, "garbage: %d %s",
                   res->status, res->reason);
        }
        else if (res->tag == 12) {
            seen[1] = true;
            CHECK (res->status == -1 && strcmp (res->reason, "unknown_model") == 0
                       && strcmp (res->model, "nope") == 0,
                   "unknown: %d %s", res->status, res->reason);
        }
        if (verbose)
            printf ("  tag %llu: %s\n", (unsigned long long) res->tag, res->reason);
    }
    CHECK (seen[0] && seen[1], "both completions");
    frame = s_dup (ppm, sizeof ppm);
    CHECK (node_runner_submit (r, 13, "tiny-face", &frame, sizeof ppm) == 0, "submit ppm");
    if (res && s_wait (r, res, 60000) == 1) {
        CHECK (res->tag == 13 && res->status == -1 && strncmp (res->reason, "model_load_failed: ", 19) == 0
                   && res->width == 8 && res->height == 8,
               "load failure: %d %s", res->status, res->reason);
        if (verbose)
            printf ("  tag 13: %s\n", res->reason);
    }
    else
        CHECK (false, "no completion for the model-less job");
    CHECK (node_runner_recv (r, res) == 0, "a completion too many");

    //  Busy: with the workers held, every slot fills and one more job is
    //  refused (and stays with the caller).  Destroying then frees the
    //  frames that never started.
    s_hold (r, true);
    for (int i = 0; i < 2; i++) {
        frame = s_dup (junk, sizeof junk);
        CHECK (node_runner_submit (r, 20 + i, "tiny-face", &frame, sizeof junk) == 0, "fill %d", i);
    }
    CHECK (node_runner_idle (r) == 0, "idle with all workers busy");
    frame = s_dup (junk, sizeof junk);
    CHECK (node_runner_submit (r, 22, "tiny-face", &frame, sizeof junk) == -1 && frame,
           "submit to a busy runner");
    free (frame);
    //  Let them run; leave their completions unread.
    s_hold (r, false);
    for (int i = 0; i < 200 && node_runner_idle (r) < 2; i++)
        zclock_sleep (10);
    zmq_pollitem_t item = {zsock_resolve (node_runner_sock (r)), 0, ZMQ_POLLIN, 0};
    CHECK (zmq_poll (&item, 1, 5000) == 1, "completions readable");
    //  And two more held in their slots.
    s_hold (r, true);
    for (int i = 0; i < 2; i++) {
        frame = s_dup (junk, sizeof junk);
        CHECK (node_runner_submit (r, 30 + i, "tiny-face", &frame, sizeof junk) == 0, "held %d", i);
    }
    node_runner_destroy (&r);
    CHECK (r == NULL, "destroy nulls");
    free (res);
    return rc;
}

static int
s_test_models (bool verbose, const char *dir)
{
    int rc = 0;
    size_t jlen = 0;
    char what[4300] = "";
    uint8_t *jpeg = s_fixture_jpeg (dir, &jlen, what, sizeof what);
    CHECK (jpeg, "no fixture JPEG (demo/sample1.jpg or pixels/small1.ppm)");
    if (!jpeg)
        return rc;
    if (verbose)
        printf ("  fixture: %s, %zu bytes\n", what, jlen);
    node_runner_cfg_t cfg;
    node_runner_cfg_defaults (&cfg);
    cfg.models_dir = dir;
    cfg.workers = 2;
    cfg.min_score = 0.3f;
    char err[256];
    node_runner_t *r = node_runner_new (&cfg, err, sizeof err);
    CHECK (r, "new: %s", err);
    node_runner_result_t *res = malloc (sizeof *res);
    if (!r || !res)
        goto done;
    CHECK (node_runner_has_model (r, "tiny-face"), "tiny-face weights in %s", dir);
    CHECK (node_runner_svc_ms (r, "tiny-face") == NODE_RUNNER_PRIOR_TINY_FACE_MS, "prior");

    //  The first job also loads the model: its time must not count.
    const int jobs = 3;
    double last_total = 0;
    for (int i = 0; i < jobs; i++) {
        uint8_t *frame = s_dup (jpeg, jlen);
        CHECK (node_runner_submit (r, 100 + i, "tiny-face", &frame, jlen) == 0, "submit %d", i);
        free (frame);
        if (s_wait (r, res, 300000) != 1) {
            CHECK (false, "no completion for job %d", i);
            break;
        }
        CHECK (res->tag == (uint64_t) (100 + i) && res->status == 0, "job %d: %d %s", i, res->status,
               res->reason);
        CHECK (res->n_boxes > 0 && s_boxes_ok (res), "job %d: %u boxes", i, res->n_boxes);
        CHECK (res->width > 0 && res->height > 0 && res->confidence > 0 && res->max_score >= res->confidence
                   && res->decode_ms > 0 && res->infer_ms > 0,
               "job %d: summary", i);
        last_total = res->decode_ms + res->infer_ms;
        if (verbose) {
            printf ("  job %d: %ux%u decode %.1f ms infer %.1f ms, %u faces, mean %.3f max %.3f, "
                    "svc_ms %.1f\n",
                    i, res->width, res->height, res->decode_ms, res->infer_ms, res->n_boxes,
                    res->confidence / 1e6, res->max_score / 1e6, node_runner_svc_ms (r, "tiny-face"));
            for (uint32_t b = 0; b < res->n_boxes; b++)
                printf ("    box %u: x %u y %u w %u h %u score %u\n", b, res->boxes[b].x, res->boxes[b].y,
                        res->boxes[b].w, res->boxes[b].h, res->boxes[b].score);
        }
        if (i == 0)
            CHECK (node_runner_svc_ms (r, "tiny-face") == last_total, "one measurement: svc %.3f != %.3f",
                   node_runner_svc_ms (r, "tiny-face"), last_total);
    }
    double svc = node_runner_svc_ms (r, "tiny-face");
    CHECK (svc != NODE_RUNNER_PRIOR_TINY_FACE_MS && svc > 0, "svc_ms still the prior");
    CHECK (node_runner_svc_ms (r, "ssd-mobilenet") == NODE_RUNNER_PRIOR_SSD_MS, "ssd measured without a job");
    printf ("  node_runner: tiny-face svc_ms %.1f after %d jobs (%s)\n", svc, jobs, what);

    //  A model package: the same weights from another folder.  Every
    //  worker swaps between jobs (status 1), a job after it still detects;
    //  a folder without weights fails (-1) and the old detector stays.
    {
        uint64_t gen = node_runner_set_model_dir (r, "tiny-face", dir);
        int st = 0;
        for (int k = 0;
             k < 600 && (st = node_runner_model_status (r, "tiny-face", gen, err, sizeof err)) == 0; k++)
            usleep (10000);
        CHECK (gen == 1 && st == 1, "swap to the package folder: gen %llu status %d",
               (unsigned long long) gen, st);
        uint64_t bad = node_runner_set_model_dir (r, "tiny-face", "/nonexistent-mw-package");
        for (int k = 0;
             k < 600 && (st = node_runner_model_status (r, "tiny-face", bad, err, sizeof err)) == 0; k++)
            usleep (10000);
        CHECK (st == -1 && err[0], "a folder without weights: status %d", st);
        CHECK (node_runner_model_status (r, "tiny-face", gen, err, sizeof err) == 2,
               "the older generation is superseded");
        uint8_t *frame = s_dup (jpeg, jlen);
        CHECK (node_runner_submit (r, 300, "tiny-face", &frame, jlen) == 0, "submit after a failed swap");
        free (frame);
        CHECK (s_wait (r, res, 300000) == 1 && res->status == 0 && res->n_boxes > 0,
               "the old detector still runs after a failed load");
    }

    //  Input size at run time (the tuner's knob): jobs keep running while
    //  the loader prepares 320; every worker ends on it, and a job after
    //  the swap reports it and still detects.  Bad sizes and models are
    //  refused.
    {
        uint64_t gen = node_runner_set_model_dir (r, "tiny-face", dir);   //  the good folder again
        int st = 0;
        for (int k = 0;
             k < 600 && (st = node_runner_model_status (r, "tiny-face", gen, err, sizeof err)) == 0; k++)
            usleep (10000);
        CHECK (st == 1, "back to the good folder: %d", st);
        CHECK (node_runner_set_input_size (r, "tiny-face", 330) == -1, "size 330 accepted");
        CHECK (node_runner_set_input_size (r, "ssd-mobilenet", 320) == -1, "ssd size accepted");
        int running = 0;
        CHECK (node_runner_input_size (r, "tiny-face", &running) == 416 && running == 416, "416 at start: %d",
               running);
        CHECK (node_runner_set_input_size (r, "tiny-face", 320) == 0, "set 320");
        int done = 0;
        for (int k = 0; k < 200 && (node_runner_input_size (r, "tiny-face", &running), running != 320); k++) {
            uint8_t *frame = s_dup (jpeg, jlen);
            if (node_runner_submit (r, 400 + k, "tiny-face", &frame, jlen) == 0
                && s_wait (r, res, 300000) == 1 && res->status == 0)
                done++;
            free (frame);
        }
        CHECK (running == 320, "the workers never ran 320");
        uint8_t *frame = s_dup (jpeg, jlen);
        CHECK (node_runner_submit (r, 450, "tiny-face", &frame, jlen) == 0, "submit at 320");
        free (frame);
        CHECK (s_wait (r, res, 300000) == 1 && res->status == 0 && res->input_size == 320 && res->n_boxes > 0,
               "a job at 320: status %d size %u boxes %u", res->status, res->input_size, res->n_boxes);
        if (verbose)
            printf ("  input size 416 -> 320: %d jobs done during the swap\n", done);
        CHECK (node_runner_set_input_size (r, "tiny-face", 416) == 0, "back to 416");
    }

    //  Destroy with work in flight: both workers mid-frame.
    for (int i = 0; i < 2; i++) {
        uint8_t *frame = s_dup (jpeg, jlen);
        CHECK (node_runner_submit (r, 200 + i, "tiny-face", &frame, jlen) == 0, "in flight %d", i);
        free (frame);
    }
done:
    node_runner_destroy (&r);
    free (res);
    free (jpeg);
    return rc;
}

int
node_runner_test (bool verbose)
{
    int rc = 0;
    //  The model-less runner logs its load failure by design: not noise
    //  for the test log.
    mw_log_level_t level = mw_log_get_level ();
    if (!verbose && level < MW_LOG_ERROR)
        mw_log_set_level (MW_LOG_ERROR);
    if (s_test_no_models (verbose) != 0)
        rc = -1;
    mw_log_set_level (level);
    //  Models as the inference tests find them: MW_MODELS_DIR, else the
    //  cache (fetch-models.sh's layout) under $MW_CACHE or the source tree.
    char dir[4096];
    if (getenv ("MW_MODELS_DIR") && *getenv ("MW_MODELS_DIR"))
        snprintf (dir, sizeof dir, "%s", getenv ("MW_MODELS_DIR"));
    else if (getenv ("MW_CACHE") && *getenv ("MW_CACHE"))
        snprintf (dir, sizeof dir, "%s/face-api/package/model", getenv ("MW_CACHE"));
    else
        snprintf (dir, sizeof dir, "%s/.cache/face-api/package/model",
                  getenv ("MW_SRCDIR") ? getenv ("MW_SRCDIR") : ".");
    char path[4200];
    snprintf (path, sizeof path, "%s/%s", dir, MW_TINY_FACE_MANIFEST);
    if (access (path, R_OK) != 0) {
        printf ("  node_runner: SKIP the detection run: no face-api models in %s "
                "(run inference/models/fetch-models.sh or set MW_MODELS_DIR)\n",
                dir);
        return rc;
    }
    if (s_test_models (verbose, dir) != 0)
        rc = -1;
    return rc;
}
