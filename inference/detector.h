/*  =========================================================================
    mw_detector - the inference API the scheduler calls.

        mw_detector_config_t cfg;
        mw_detector_config_defaults (&cfg);
        cfg.model = MW_MODEL_TINY_FACE;
        cfg.models_dir = "/var/lib/meshwatch/models";   // face-api model/
        char err[256];
        mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
        ...
        int n = mw_detector_run (det, rgb, width, height, stride);   // per frame
        const mw_detection_t *d = mw_detector_detections (det, NULL);
        mw_confidence_t conf;
        mw_detector_summary (det, &conf);
        ...
        mw_detector_destroy (&det);

    Loading builds the net for the configured input size and picks the
    backend (CUDA if built in and a device exists, else CPU); everything a
    frame needs is allocated then, so run () allocates nothing.  A detector
    is not thread-safe: use one per thread (or serialise calls).
    ========================================================================= */
#ifndef MW_DETECTOR_H_INCLUDED
#define MW_DETECTOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inference/backend.h"
#include "inference/detection.h"
#include "inference/image.h"

typedef enum { MW_MODEL_TINY_FACE = 0, MW_MODEL_SSD_MOBILENET = 1 } mw_model_t;

typedef struct {
    mw_model_t model;
    const char *models_dir;      //  face-api's model/ folder
    int input_size;              //  tiny-face: multiple of 32 (default 416); ssd: 512 (0 = default)
    float threshold;             //  score threshold (default 0.5)
    int threads;                 //  CPU threads, <= 0: all cores
    mw_backend_kind_t backend;   //  default AUTO
    int max_detections;          //  default 100
} mw_detector_config_t;

typedef struct {
    int count;
    float max_score;   //  0 when count == 0
    float mean_score;
} mw_confidence_t;

typedef struct {
    double preprocess_ms;   //  pad + resize + normalise
    double net_ms;          //  forward pass
    double decode_ms;       //  boxes + NMS
} mw_timing_t;

typedef struct _mw_detector_t mw_detector_t;

void mw_detector_config_defaults (mw_detector_config_t *cfg);
//  "tiny-face" | "ssd-mobilenet" -> model, or -1.
int mw_model_parse (const char *name);
const char *mw_model_name (mw_model_t model);

mw_detector_t *mw_detector_new (const mw_detector_config_t *cfg, char *err, size_t errlen);
void mw_detector_destroy (mw_detector_t **self_p);

//  Run on a packed RGB frame (stride bytes a row).  Returns the number of
//  detections (0..max_detections) or -1 (see mw_detector_error).
int mw_detector_run (mw_detector_t *self, const uint8_t *rgb, int width, int height, size_t stride);
int mw_detector_run_image (mw_detector_t *self, mw_image_t *image);

//  Results of the last run, best first.  count may be NULL.
const mw_detection_t *mw_detector_detections (mw_detector_t *self, int *count);
void mw_detector_summary (mw_detector_t *self, mw_confidence_t *conf);
void mw_detector_timing (mw_detector_t *self, mw_timing_t *timing);
const char *mw_detector_error (mw_detector_t *self);

//  Introspection (tests, benchmark).
const char *mw_detector_backend (mw_detector_t *self);
int mw_detector_input_size (mw_detector_t *self);
//  Raw output `index` of the last run and its element count (tiny-face:
//  0 = [G,G,25]; ssd: 0 = boxes [5118,4], 1 = logits [5118,3]).
const float *mw_detector_output (mw_detector_t *self, int index, size_t *elems);
const mw_net_t *mw_detector_net (mw_detector_t *self);
//  Per-layer timing accumulation (NULL to stop); layer_ms[net->nlayers].
void mw_detector_profile (mw_detector_t *self, double *layer_ms);

int mw_detector_test (bool verbose);

#endif
