/*  =========================================================================
    mw_tiny_face - face-api's TinyFaceDetector, rebuilt layer for layer.

    The graph (src/tinyYolov2/TinyYolov2Base.ts runMobilenet with
    isFirstLayerConv2d, filterSizes [3,16,32,64,128,256,512]):

        conv0  3x3 conv 3->16 VALID + bias, leaky      then maxpool 2 s2 SAME
        conv1..4  pad 1, depthwise 3x3, pointwise 1x1 + bias, leaky,
                  each then maxpool 2 s2 SAME
        conv5  as conv1 (256->512), then maxpool 2 stride 1 SAME
        conv8  1x1 conv 512->25 + bias (linear)

    tfjs applies the bias after the whole separable conv, so the depthwise
    layer has no bias and the pointwise layer carries bias + leaky.

    Decoding (extractBoxes): per cell and anchor, score = sigmoid(t_obj)
    kept if > threshold; centre (col + sigmoid(tx)) / G and size
    exp(tw) * anchor / G, both scaled by the correction factor
    max(rw,rh)/rw (rw, rh = the image's size after the aspect-preserving
    resize, rounded), then to image pixels.  NMS sorts by ascending score
    (stable), pops the best and drops the rest with IoU > 0.4, on boxes
    scaled by the input size, as face-api does.  Arithmetic in double, like
    the JavaScript.
    ========================================================================= */
#include "inference/tiny_face.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const float mw_tiny_face_mean[3] = {117.001f, 114.697f, 97.404f};

static const double s_anchors[MW_TINY_FACE_ANCHORS][2] = {
    {1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061},
    {4.266906, 5.178857}, {9.041765, 10.66308},
};

mw_net_t *
mw_tiny_face_net (mw_weights_t *w, int S, char *err, size_t errlen)
{
    assert (w);
    if (S < 32 || S > 2048 || S % 32 != 0) {
        snprintf (err, errlen, "tiny-face: input size %d must be a multiple of 32 in 32..2048", S);
        return NULL;
    }
    static const int filters[7] = {3, 16, 32, 64, 128, 256, 512};
    mw_net_t *net = mw_net_new ();
    if (!net) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char name[64];
    int t = net->input = mw_net_tensor (net, S, S, 3);
    const float *cw = mw_weights_get (w, "conv0/filters", 4, (int[]){3, 3, 3, 16}, err, errlen);
    const float *cb = cw ? mw_weights_get (w, "conv0/bias", 1, (int[]){16}, err, errlen) : NULL;
    if (!cb)
        goto fail;
    t = mw_net_add (net, MW_OP_CONV, "conv0", t, -1, 3, 1, false, 0, 16, cw, cb, MW_ACT_LEAKY);
    t = t < 0
            ? t
            : mw_net_add (net, MW_OP_MAXPOOL, "conv0/pool", t, -1, 2, 2, true, 0, 0, NULL, NULL, MW_ACT_NONE);
    for (int i = 1; i <= 5 && t >= 0; i++) {
        int cin = filters[i], cout = filters[i + 1];
        snprintf (name, sizeof name, "conv%d/depthwise_filter", i);
        const float *dw = mw_weights_get (w, name, 4, (int[]){3, 3, cin, 1}, err, errlen);
        snprintf (name, sizeof name, "conv%d/pointwise_filter", i);
        const float *pw = dw ? mw_weights_get (w, name, 4, (int[]){1, 1, cin, cout}, err, errlen) : NULL;
        snprintf (name, sizeof name, "conv%d/bias", i);
        const float *b = pw ? mw_weights_get (w, name, 1, (int[]){cout}, err, errlen) : NULL;
        if (!b)
            goto fail;
        snprintf (name, sizeof name, "conv%d/dw", i);
        t = mw_net_add (net, MW_OP_DWCONV, name, t, -1, 3, 1, false, 1, 0, dw, NULL, MW_ACT_NONE);
        snprintf (name, sizeof name, "conv%d/pw", i);
        t = t < 0 ? t : mw_net_add (net, MW_OP_CONV, name, t, -1, 1, 1, false, 0, cout, pw, b, MW_ACT_LEAKY);
        snprintf (name, sizeof name, "conv%d/pool", i);
        t = t < 0 ? t
                  : mw_net_add (net, MW_OP_MAXPOOL, name, t, -1, 2, i == 5 ? 1 : 2, true, 0, 0, NULL, NULL,
                                MW_ACT_NONE);
    }
    const float *ow =
        t < 0 ? NULL : mw_weights_get (w, "conv8/filters", 4, (int[]){1, 1, 512, 25}, err, errlen);
    const float *ob = ow ? mw_weights_get (w, "conv8/bias", 1, (int[]){25}, err, errlen) : NULL;
    if (t < 0 && ow == NULL)
        snprintf (err, errlen, "tiny-face: cannot build the net (out of memory)");
    if (!ob)
        goto fail;
    t = mw_net_add (net, MW_OP_CONV, "conv8", t, -1, 1, 1, false, 0, 25, ow, ob, MW_ACT_NONE);
    if (t < 0 || net->tensors[t].h != S / 32) {
        snprintf (err, errlen, "tiny-face: cannot build the net");
        goto fail;
    }
    net->outputs[0] = t;
    net->noutputs = 1;
    return net;
fail:
    mw_net_destroy (&net);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Decoding

typedef struct {
    double x, y, w, h;   //  relative to the image (0..1)
    double score;
} cand_t;

struct _mw_tiny_face_decoder_t {
    int S, G, max;
    cand_t *cand;
    int *order;
    bool *alive;
};

mw_tiny_face_decoder_t *
mw_tiny_face_decoder_new (int S)
{
    assert (S >= 32 && S % 32 == 0);
    mw_tiny_face_decoder_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->S = S;
    self->G = S / 32;
    self->max = self->G * self->G * MW_TINY_FACE_ANCHORS;
    self->cand = malloc ((size_t) self->max * sizeof (cand_t));
    self->order = malloc ((size_t) self->max * sizeof (int));
    self->alive = malloc ((size_t) self->max * sizeof (bool));
    if (!self->cand || !self->order || !self->alive)
        mw_tiny_face_decoder_destroy (&self);
    return self;
}

void
mw_tiny_face_decoder_destroy (mw_tiny_face_decoder_t **self_p)
{
    assert (self_p);
    mw_tiny_face_decoder_t *self = *self_p;
    if (!self)
        return;
    free (self->cand);
    free (self->order);
    free (self->alive);
    free (self);
    *self_p = NULL;
}

static double
s_sigmoid (double x)
{
    return 1.0 / (1.0 + exp (-x));
}

//  face-api iou() on boxes scaled by s (the scale is kept for fidelity).
static double
s_iou (const cand_t *a, const cand_t *b, double s)
{
    double al = a->x * s, at = a->y * s, ar = (a->x + a->w) * s, ab = (a->y + a->h) * s;
    double bl = b->x * s, bt = b->y * s, br = (b->x + b->w) * s, bb = (b->y + b->h) * s;
    double w = fmax (0.0, fmin (ar, br) - fmax (al, bl));
    double h = fmax (0.0, fmin (ab, bb) - fmax (at, bt));
    double inter = w * h;
    return inter / ((ar - al) * (ab - at) + (br - bl) * (bb - bt) - inter);
}

//  Insertion sort by (score, index) ascending: stable, and n is small
//  (boxes above the threshold).
static void
s_sort_ascending (const cand_t *c, int *order, int n)
{
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && c[order[j]].score > c[v].score) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}

int
mw_tiny_face_decode (mw_tiny_face_decoder_t *self, const float *raw, int width, int height, float threshold,
                     mw_detection_t *dets, int max_dets)
{
    assert (self && raw && width > 0 && height > 0 && (dets || max_dets == 0));
    const int G = self->G;
    const double S = self->S;
    const double scale = S / (width > height ? width : height);
    const double rw = floor (width * scale + 0.5), rh = floor (height * scale + 0.5);
    const double side = rw > rh ? rw : rh;
    const double cfx = side / rw, cfy = side / rh;
    int n = 0;
    for (int row = 0; row < G; row++)
        for (int col = 0; col < G; col++)
            for (int a = 0; a < MW_TINY_FACE_ANCHORS; a++) {
                const float *v = raw + ((size_t) (row * G + col) * MW_TINY_FACE_ANCHORS + a) * 5;
                double score = s_sigmoid (v[4]);
                if (threshold > 0 && !(score > threshold))
                    continue;
                double cx = (col + s_sigmoid (v[0])) / G * cfx;
                double cy = (row + s_sigmoid (v[1])) / G * cfy;
                double w = exp (v[2]) * s_anchors[a][0] / G * cfx;
                double h = exp (v[3]) * s_anchors[a][1] / G * cfy;
                cand_t *c = &self->cand[n++];
                c->x = cx - w / 2;
                c->y = cy - h / 2;
                c->w = w;
                c->h = h;
                c->score = score;
            }
    for (int i = 0; i < n; i++)
        self->order[i] = i, self->alive[i] = true;
    s_sort_ascending (self->cand, self->order, n);
    int out = 0;
    //  Pop the best remaining, suppress the others that overlap it.
    for (int top = n - 1; top >= 0; top--) {
        int cur = self->order[top];
        if (!self->alive[cur])
            continue;
        if (out < max_dets) {
            const cand_t *c = &self->cand[cur];
            dets[out].x = (float) (c->x * width);
            dets[out].y = (float) (c->y * height);
            dets[out].w = (float) (c->w * width);
            dets[out].h = (float) (c->h * height);
            dets[out].score = (float) c->score;
            out++;
        }
        for (int k = top - 1; k >= 0; k--) {
            int o = self->order[k];
            if (self->alive[o] && s_iou (&self->cand[cur], &self->cand[o], S) > MW_TINY_FACE_IOU)
                self->alive[o] = false;
        }
    }
    return out;
}

//  --------------------------------------------------------------------------

int
mw_tiny_face_test (bool verbose)
{
    int fails = 0;
    //  Decode a synthetic output: two overlapping boxes in one cell (the
    //  weaker is suppressed) and one elsewhere.
    mw_tiny_face_decoder_t *d = mw_tiny_face_decoder_new (64);   //  G = 2
    if (!d)
        return -1;
    float raw[2 * 2 * 25];
    for (int i = 0; i < 100; i++)
        raw[i] = (i % 5 == 4) ? -10.f : 0.f;
    raw[4] = 2.f;         //  cell (0,0) anchor 0, score .881
    raw[5 + 4] = 1.f;     //  cell (0,0) anchor 1 (bigger box, overlaps)
    raw[5 + 2] = -1.5f;   //  make anchor 1's box about anchor 0's size
    raw[5 + 3] = -1.5f;
    raw[3 * 25 + 4] = 0.5f;   //  cell (1,1) anchor 0, score .622
    mw_detection_t dets[8];
    int n = mw_tiny_face_decode (d, raw, 64, 64, 0.5f, dets, 8);
    if (verbose)
        for (int i = 0; i < n; i++)
            printf ("  det %d: %.2f %.2f %.2f %.2f %.3f\n", i, dets[i].x, dets[i].y, dets[i].w, dets[i].h,
                    dets[i].score);
    fails += n != 2;
    fails += !(n >= 1 && fabsf (dets[0].score - 0.8808f) < 1e-3f);
    //  Box of cell (0,0) anchor 0: centre 0.25*64 = 16, w = 1.603231/2*64.
    fails += !(n >= 1 && fabsf (dets[0].x - (16.f - 1.603231f * 16.f)) < 1e-3f);
    fails += !(n >= 2 && dets[1].score < dets[0].score && dets[1].x > 20.f);
    //  Threshold strictly greater.
    raw[4] = 0.f;
    raw[5 + 4] = -10.f;
    raw[3 * 25 + 4] = -10.f;
    fails += mw_tiny_face_decode (d, raw, 64, 64, 0.5f, dets, 8) != 0;
    mw_tiny_face_decoder_destroy (&d);
    fails += d != NULL;
    return fails ? -1 : 0;
}
