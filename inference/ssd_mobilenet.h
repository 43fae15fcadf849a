/*  =========================================================================
    mw_ssd_mobilenet - face-api SsdMobilenetv1 (MobileNet v1 SSD, 5.6 MB).

    Fixed input 512x512, normalised v/127.5 - 1.  The net has two outputs:
    box encodings [5118,4] (ty, tx, th, tw) and class logits [5118,3]
    (background, face, unused), in face-api's concatenation order.
    ========================================================================= */
#ifndef MW_SSD_MOBILENET_H_INCLUDED
#define MW_SSD_MOBILENET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "inference/detection.h"
#include "inference/net.h"
#include "inference/weights.h"

#define MW_SSD_MANIFEST    "ssd_mobilenetv1_model-weights_manifest.json"
#define MW_SSD_INPUT       512
#define MW_SSD_ANCHORS     5118
#define MW_SSD_IOU         0.5
#define MW_SSD_MAX_RESULTS 100

//  Builds the net and folds the depthwise batch norms into its own copy of
//  the weights.  The net also points into `weights` (keep it alive).
mw_net_t *mw_ssd_net (mw_weights_t *weights, char *err, size_t errlen);
//  The anchors [5118][4] (ymin, xmin, ymax, xmax), or NULL + message.
const float *mw_ssd_anchors (mw_weights_t *weights, char *err, size_t errlen);

typedef struct _mw_ssd_decoder_t mw_ssd_decoder_t;
mw_ssd_decoder_t *mw_ssd_decoder_new (void);
void mw_ssd_decoder_destroy (mw_ssd_decoder_t **self_p);
//  Decode + NMS (IoU 0.5, at most 100) for an image of width x height.
int mw_ssd_decode (mw_ssd_decoder_t *self, const float *boxes, const float *logits, const float *anchors,
                   int width, int height, float min_confidence, mw_detection_t *dets, int max_dets);

int mw_ssd_mobilenet_test (bool verbose);

#endif
