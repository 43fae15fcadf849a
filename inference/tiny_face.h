/*  =========================================================================
    mw_tiny_face - face-api TinyFaceDetector (tiny YOLOv2, 5 anchors, 193 KB).

    Build the layer list for one input size (a multiple of 32) from the
    model's weights, and decode its [G,G,25] output (G = S/32) into boxes
    with face-api's extractBoxes + NMS (IoU 0.4).
    ========================================================================= */
#ifndef MW_TINY_FACE_H_INCLUDED
#define MW_TINY_FACE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "inference/detection.h"
#include "inference/net.h"
#include "inference/weights.h"

#define MW_TINY_FACE_MANIFEST "tiny_face_detector_model-weights_manifest.json"
#define MW_TINY_FACE_ANCHORS  5
#define MW_TINY_FACE_IOU      0.4

//  Input normalisation: (v - mean) / 255.
extern const float mw_tiny_face_mean[3];

//  NULL with a message on a missing/misshapen weight or a bad size.  The
//  net points into `weights`, which must outlive it.
mw_net_t *mw_tiny_face_net (mw_weights_t *weights, int input_size, char *err, size_t errlen);

//  Scratch for the decoder, sized for one input size (no allocation per
//  frame).  NULL on allocation failure.
typedef struct _mw_tiny_face_decoder_t mw_tiny_face_decoder_t;
mw_tiny_face_decoder_t *mw_tiny_face_decoder_new (int input_size);
void mw_tiny_face_decoder_destroy (mw_tiny_face_decoder_t **self_p);

//  Decode raw [G,G,25] for an image of width x height; keeps boxes whose
//  score > threshold, NMS, writes at most max_dets in descending score
//  order.  Returns the count.
int mw_tiny_face_decode (mw_tiny_face_decoder_t *self, const float *raw, int width, int height,
                         float threshold, mw_detection_t *dets, int max_dets);

int mw_tiny_face_test (bool verbose);

#endif
