/*  =========================================================================
    mw_detection - what a detector returns: boxes in image pixels + score.
    Shared by the model decoders and the public API (detector.h).
    ========================================================================= */
#ifndef MW_DETECTION_H_INCLUDED
#define MW_DETECTION_H_INCLUDED

typedef struct {
    float x, y, w, h;   //  top-left corner and size, original image pixels
    float score;        //  0..1
} mw_detection_t;

#endif
