/*  =========================================================================
    mw_detector - load a face detector once, run it on frames.

    Glue between the pieces: weights (mw_weights) -> layer list (model
    builder) -> backend state (mw_backend), plus the per-model
    preprocessing constants and decoder.  All per-frame memory (backend
    activations, decoder scratch, the detections array) is allocated in
    mw_detector_new (), so a frame costs no malloc.
    ========================================================================= */
#include "inference/detector.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "inference/ssd_mobilenet.h"
#include "inference/tiny_face.h"

struct _mw_detector_t {
    mw_detector_config_t cfg;
    int S;
    mw_weights_t *weights;
    mw_net_t *net;
    const mw_backend_ops_t *ops;
    void *state;
    mw_norm_t norm;
    mw_tiny_face_decoder_t *tiny;
    mw_ssd_decoder_t *ssd;
    const float *anchors;
    mw_detection_t *dets;
    int ndets;
    mw_timing_t timing;
    char error[256];
};

void
mw_detector_config_defaults (mw_detector_config_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof (*cfg));
    cfg->model = MW_MODEL_TINY_FACE;
    cfg->threshold = 0.5f;
    cfg->backend = MW_BACKEND_AUTO;
    cfg->max_detections = 100;
}

int
mw_model_parse (const char *name)
{
    if (name && (strcmp (name, "tiny-face") == 0 || strcmp (name, "tiny") == 0))
        return MW_MODEL_TINY_FACE;
    if (name && (strcmp (name, "ssd-mobilenet") == 0 || strcmp (name, "ssd") == 0))
        return MW_MODEL_SSD_MOBILENET;
    return -1;
}

const char *
mw_model_name (mw_model_t model)
{
    return model == MW_MODEL_SSD_MOBILENET ? "ssd-mobilenet" : "tiny-face";
}

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

mw_detector_t *
mw_detector_new (const mw_detector_config_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    if (!cfg->models_dir || !*cfg->models_dir) {
        snprintf (err, errlen, "no models dir given");
        return NULL;
    }
    if (!(cfg->threshold >= 0.f && cfg->threshold < 1.f)) {
        snprintf (err, errlen, "threshold %g must be in [0, 1)", (double) cfg->threshold);
        return NULL;
    }
    if (cfg->max_detections < 1 || cfg->max_detections > 10000) {
        snprintf (err, errlen, "max_detections %d out of range (1..10000)", cfg->max_detections);
        return NULL;
    }
    mw_detector_t *self = calloc (1, sizeof (*self));
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->cfg.models_dir = NULL;   //  not kept
    if (cfg->model == MW_MODEL_TINY_FACE) {
        self->S = cfg->input_size ? cfg->input_size : 416;
        if (self->S < 32 || self->S > 2048 || self->S % 32) {
            snprintf (err, errlen, "tiny-face: input size %d must be a multiple of 32 in 32..2048", self->S);
            goto fail;
        }
        self->weights = mw_weights_load (cfg->models_dir, MW_TINY_FACE_MANIFEST, err, errlen);
        if (!self->weights)
            goto fail;
        self->net = mw_tiny_face_net (self->weights, self->S, err, errlen);
        self->tiny = mw_tiny_face_decoder_new (self->S);
        memcpy (self->norm.sub, mw_tiny_face_mean, sizeof self->norm.sub);
        self->norm.div = 255.f;
        self->norm.add = 0.f;
        if (!self->net || !self->tiny)
            goto fail;
    }
    else if (cfg->model == MW_MODEL_SSD_MOBILENET) {
        self->S = MW_SSD_INPUT;
        if (cfg->input_size && cfg->input_size != MW_SSD_INPUT) {
            snprintf (err, errlen, "ssd-mobilenet: input size is fixed at %d", MW_SSD_INPUT);
            goto fail;
        }
        self->weights = mw_weights_load (cfg->models_dir, MW_SSD_MANIFEST, err, errlen);
        if (!self->weights)
            goto fail;
        self->anchors = mw_ssd_anchors (self->weights, err, errlen);
        if (!self->anchors)
            goto fail;
        self->net = mw_ssd_net (self->weights, err, errlen);
        self->ssd = mw_ssd_decoder_new ();
        self->norm.div = 127.5f;
        self->norm.add = -1.f;
        if (!self->net || !self->ssd)
            goto fail;
    }
    else {
        snprintf (err, errlen, "unknown model %d", (int) cfg->model);
        goto fail;
    }
    self->dets = calloc ((size_t) cfg->max_detections, sizeof (mw_detection_t));
    if (!self->dets) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    self->ops = mw_backend_select (cfg->backend, err, errlen);
    if (!self->ops)
        goto fail;
    self->state = self->ops->prepare (self->net, cfg->threads, err, errlen);
    if (!self->state)
        goto fail;
    mw_info ("infer_load", "model=%s input=%d backend=%s layers=%d gflop=%.3f", mw_model_name (cfg->model),
             self->S, self->ops->name, self->net->nlayers, mw_net_flops (self->net) / 1e9);
    return self;
fail:
    mw_detector_destroy (&self);
    return NULL;
}

void
mw_detector_destroy (mw_detector_t **self_p)
{
    assert (self_p);
    mw_detector_t *self = *self_p;
    if (!self)
        return;
    if (self->state)
        self->ops->release (&self->state);
    mw_tiny_face_decoder_destroy (&self->tiny);
    mw_ssd_decoder_destroy (&self->ssd);
    mw_net_destroy (&self->net);
    mw_weights_destroy (&self->weights);
    free (self->dets);
    free (self);
    *self_p = NULL;
}

int
mw_detector_run (mw_detector_t *self, const uint8_t *rgb, int width, int height, size_t stride)
{
    assert (self);
    self->ndets = 0;
    if (!rgb || width < 1 || height < 1 || width > MW_IMAGE_MAX_SIDE || height > MW_IMAGE_MAX_SIDE
        || (uint64_t) width * height > MW_IMAGE_MAX_PIXELS || stride < (size_t) width * 3) {
        snprintf (self->error, sizeof self->error, "bad frame %dx%d stride %zu", width, height, stride);
        return -1;
    }
    double t0 = s_now_ms ();
    mw_image_preprocess (rgb, width, height, stride, self->S, &self->norm, self->ops->input (self->state));
    double t1 = s_now_ms ();
    if (self->ops->run (self->state, self->error, sizeof self->error) != 0)
        return -1;
    double t2 = s_now_ms ();
    if (self->cfg.model == MW_MODEL_TINY_FACE)
        self->ndets = mw_tiny_face_decode (self->tiny, self->ops->output (self->state, 0), width, height,
                                           self->cfg.threshold, self->dets, self->cfg.max_detections);
    else
        self->ndets = mw_ssd_decode (self->ssd, self->ops->output (self->state, 0),
                                     self->ops->output (self->state, 1), self->anchors, width, height,
                                     self->cfg.threshold, self->dets, self->cfg.max_detections);
    double t3 = s_now_ms ();
    self->timing.preprocess_ms = t1 - t0;
    self->timing.net_ms = t2 - t1;
    self->timing.decode_ms = t3 - t2;
    return self->ndets;
}

int
mw_detector_run_image (mw_detector_t *self, mw_image_t *image)
{
    assert (self && image);
    return mw_detector_run (self, mw_image_data (image), mw_image_width (image), mw_image_height (image),
                            (size_t) mw_image_width (image) * 3);
}

const mw_detection_t *
mw_detector_detections (mw_detector_t *self, int *count)
{
    assert (self);
    if (count)
        *count = self->ndets;
    return self->dets;
}

void
mw_detector_summary (mw_detector_t *self, mw_confidence_t *conf)
{
    assert (self && conf);
    memset (conf, 0, sizeof (*conf));
    conf->count = self->ndets;
    double sum = 0;
    for (int i = 0; i < self->ndets; i++) {
        sum += self->dets[i].score;
        if (self->dets[i].score > conf->max_score)
            conf->max_score = self->dets[i].score;
    }
    conf->mean_score = self->ndets ? (float) (sum / self->ndets) : 0.f;
}

void
mw_detector_timing (mw_detector_t *self, mw_timing_t *timing)
{
    assert (self && timing);
    *timing = self->timing;
}

const char *
mw_detector_error (mw_detector_t *self)
{
    assert (self);
    return self->error;
}

const char *
mw_detector_backend (mw_detector_t *self)
{
    assert (self);
    return self->ops->name;
}

int
mw_detector_input_size (mw_detector_t *self)
{
    assert (self);
    return self->S;
}

const float *
mw_detector_output (mw_detector_t *self, int index, size_t *elems)
{
    assert (self);
    if (index < 0 || index >= self->net->noutputs)
        return NULL;
    if (elems)
        *elems = mw_net_tensor_elems (self->net, self->net->outputs[index]);
    return self->ops->output (self->state, index);
}

const mw_net_t *
mw_detector_net (mw_detector_t *self)
{
    assert (self);
    return self->net;
}

void
mw_detector_profile (mw_detector_t *self, double *layer_ms)
{
    assert (self);
    if (self->ops->profile)
        self->ops->profile (self->state, layer_ms);
}

//  --------------------------------------------------------------------------
//  Selftest: configuration errors always; a real run when the models are
//  there (MW_MODELS_DIR, or $MW_SRCDIR/.cache/face-api/package/model).

int
mw_detector_test (bool verbose)
{
    int fails = 0;
    char err[256];
    mw_detector_config_t cfg;
    mw_detector_config_defaults (&cfg);
    fails += mw_detector_new (&cfg, err, sizeof err) != NULL;   //  no dir
    cfg.models_dir = "/nonexistent-mw-models";
    fails += mw_detector_new (&cfg, err, sizeof err) != NULL;
    if (verbose)
        printf ("  missing dir: %s\n", err);
    cfg.input_size = 100;
    fails += mw_detector_new (&cfg, err, sizeof err) != NULL;
    fails += mw_model_parse ("ssd-mobilenet") != MW_MODEL_SSD_MOBILENET || mw_model_parse ("x") != -1;

    char dir[4096];
    const char *env = getenv ("MW_MODELS_DIR");
    if (env)
        snprintf (dir, sizeof dir, "%s", env);
    else
        snprintf (dir, sizeof dir, "%s/.cache/face-api/package/model",
                  getenv ("MW_SRCDIR") ? getenv ("MW_SRCDIR") : ".");
    mw_detector_config_defaults (&cfg);
    cfg.models_dir = dir;
    cfg.input_size = 320;
    mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
    if (!det) {
        if (verbose)
            printf ("  no models (%s): skipping the run\n", err);
        return fails ? -1 : 0;
    }
    //  A flat grey frame: no faces, and the run must work twice.
    mw_image_t *img = mw_image_new (200, 100);
    memset (mw_image_data (img), 128, 200 * 100 * 3);
    for (int i = 0; i < 2; i++)
        fails += mw_detector_run_image (det, img) != 0;
    mw_confidence_t conf;
    mw_detector_summary (det, &conf);
    fails += conf.count != 0 || conf.max_score != 0.f;
    size_t n = 0;
    fails += mw_detector_output (det, 0, &n) == NULL || n != 10 * 10 * 25;
    fails += mw_detector_run (det, mw_image_data (img), 0, 10, 0) != -1 || !*mw_detector_error (det);
    mw_image_destroy (&img);
    mw_detector_destroy (&det);
    fails += det != NULL;
    return fails ? -1 : 0;
}
