/*  =========================================================================
    mw_ssd_mobilenet - face-api's SsdMobilenetv1, rebuilt layer for layer.

    Graph (src/ssdMobilenetv1/mobileNetV1.ts, predictionLayer.ts):

        conv_0      3x3 s2 SAME conv 3->32 + bn_offset, relu6
        block 1..13 depthwise 3x3 SAME (stride 2 in blocks 2,4,6,12)
                    + batch norm, relu6; pointwise 1x1 + bn_offset, relu6
                    (block 11's output feeds box predictor 0)
        extra       1x1 1024->256, 3x3 s2 ->512, 1x1 ->128, 3x3 s2 ->256,
                    1x1 ->128, 3x3 s2 ->256, 1x1 ->64, 3x3 s2 ->128
                    (each + bias, relu6, SAME)
        predictors  1x1 conv + bias on block11, block13, extra 1,3,5,7 with
                    3,6,6,6,6,6 anchors: 4 box encodings and 3 class logits
                    per anchor

    The depthwise batch norm beta + (x - mean) * gamma / sqrt(var + 0.001)
    is folded into the depthwise weights and a bias at load time.  Each
    predictor writes straight into its slice of the two outputs, so the
    (row, col, anchor) flattening and the concatenation cost nothing.

    Decoding (outputLayer.ts, nonMaxSuppression.ts, SsdMobilenetv1.ts), in
    float32 like the tfjs tensors: anchor size/centre, centre += t/10 *
    size, size *= exp(t/5); score = sigmoid(face logit).  NMS keeps
    score > minConfidence, sorts descending (stable), greedily drops boxes
    with IoU > 0.5 against any already selected, at most 100.  The result is
    clipped to [0,1], rescaled by 512/rw, 512/rh (undoing the square
    padding) and then by the image size.
    ========================================================================= */
#include "inference/ssd_mobilenet.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BN_EPS 0.0010000000474974513

const float *
mw_ssd_anchors (mw_weights_t *w, char *err, size_t errlen)
{
    return mw_weights_get (w, "Output/extra_dim", 3, (int[]){1, MW_SSD_ANCHORS, 4}, err, errlen);
}

mw_net_t *
mw_ssd_net (mw_weights_t *w, char *err, size_t errlen)
{
    assert (w);
    static const int ch[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
    mw_net_t *net = mw_net_new ();
    if (!net) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    //  Folded depthwise weights and biases: sum over blocks of 10*c floats.
    size_t fold = 0;
    for (int i = 1; i <= 13; i++)
        fold += 10 * (size_t) ch[i - 1];
    net->owned = malloc (fold * sizeof (float));
    if (!net->owned) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    float *owned = net->owned;
    char name[96], lname[48];
    int t = net->input = mw_net_tensor (net, MW_SSD_INPUT, MW_SSD_INPUT, 3);
    const float *cw =
        mw_weights_get (w, "MobilenetV1/Conv2d_0_pointwise/weights", 4, (int[]){3, 3, 3, 32}, err, errlen);
    const float *cb = cw ? mw_weights_get (w, "MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", 1,
                                           (int[]){32}, err, errlen)
                         : NULL;
    if (!cb)
        goto fail;
    t = mw_net_add (net, MW_OP_CONV, "conv_0", t, -1, 3, 2, true, 0, 32, cw, cb, MW_ACT_RELU6);
    int conv11 = -1;
    for (int i = 1; i <= 13 && t >= 0; i++) {
        int cin = ch[i - 1], cout = ch[i];
        int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        const float *p[5];
        static const char *part[5] = {"depthwise_weights", "BatchNorm/gamma", "BatchNorm/beta",
                                      "BatchNorm/moving_mean", "BatchNorm/moving_variance"};
        for (int k = 0; k < 5; k++) {
            snprintf (name, sizeof name, "MobilenetV1/Conv2d_%d_depthwise/%s", i, part[k]);
            p[k] = k == 0 ? mw_weights_get (w, name, 4, (int[]){3, 3, cin, 1}, err, errlen)
                          : mw_weights_get (w, name, 1, (int[]){cin}, err, errlen);
            if (!p[k])
                goto fail;
        }
        float *fw = owned, *fb = owned + 9 * (size_t) cin;
        owned += 10 * (size_t) cin;
        for (int c = 0; c < cin; c++) {
            double s = p[1][c] / sqrt ((double) p[4][c] + S_BN_EPS);
            for (int k = 0; k < 9; k++)
                fw[k * cin + c] = (float) (p[0][k * cin + c] * s);
            fb[c] = (float) (p[2][c] - p[3][c] * s);
        }
        snprintf (lname, sizeof lname, "block%d/dw", i);
        t = mw_net_add (net, MW_OP_DWCONV, lname, t, -1, 3, stride, true, 0, 0, fw, fb, MW_ACT_RELU6);
        snprintf (name, sizeof name, "MobilenetV1/Conv2d_%d_pointwise/weights", i);
        const float *pw = mw_weights_get (w, name, 4, (int[]){1, 1, cin, cout}, err, errlen);
        snprintf (name, sizeof name, "MobilenetV1/Conv2d_%d_pointwise/convolution_bn_offset", i);
        const float *pb = pw ? mw_weights_get (w, name, 1, (int[]){cout}, err, errlen) : NULL;
        if (!pb)
            goto fail;
        snprintf (lname, sizeof lname, "block%d/pw", i);
        t = t < 0 ? t : mw_net_add (net, MW_OP_CONV, lname, t, -1, 1, 1, true, 0, cout, pw, pb, MW_ACT_RELU6);
        if (i == 11)
            conv11 = t;
    }
    if (t < 0)
        goto oom;
    //  Extra feature layers.
    static const int extra_out[8] = {256, 512, 128, 256, 128, 256, 64, 128};
    int feat[6] = {conv11, t, -1, -1, -1, -1};
    int cin = 1024;
    for (int i = 0; i < 8; i++) {
        int k = (i % 2) ? 3 : 1, stride = (i % 2) ? 2 : 1;
        snprintf (name, sizeof name, "Prediction/Conv2d_%d_pointwise/weights", i);
        const float *pw = mw_weights_get (w, name, 4, (int[]){k, k, cin, extra_out[i]}, err, errlen);
        snprintf (name, sizeof name, "Prediction/Conv2d_%d_pointwise/convolution_bn_offset", i);
        const float *pb = pw ? mw_weights_get (w, name, 1, (int[]){extra_out[i]}, err, errlen) : NULL;
        if (!pb)
            goto fail;
        snprintf (lname, sizeof lname, "extra%d", i);
        t = mw_net_add (net, MW_OP_CONV, lname, t, -1, k, stride, true, 0, extra_out[i], pw, pb,
                        MW_ACT_RELU6);
        if (t < 0)
            goto oom;
        if (i % 2)
            feat[2 + i / 2] = t;
        cin = extra_out[i];
    }
    //  Box predictors, writing into slices of the two outputs.
    int boxes = mw_net_tensor (net, MW_SSD_ANCHORS, 1, 4);
    int logits = mw_net_tensor (net, MW_SSD_ANCHORS, 1, 3);
    if (boxes < 0 || logits < 0)
        goto oom;
    size_t anchor = 0;
    for (int b = 0; b < 6; b++) {
        const mw_tdesc_t f = net->tensors[feat[b]];
        int na = b == 0 ? 3 : 6;
        const float *bw, *bb, *kw, *kb;
        snprintf (name, sizeof name, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/weights", b);
        bw = mw_weights_get (w, name, 4, (int[]){1, 1, f.c, na * 4}, err, errlen);
        snprintf (name, sizeof name, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/biases", b);
        bb = bw ? mw_weights_get (w, name, 1, (int[]){na * 4}, err, errlen) : NULL;
        snprintf (name, sizeof name, "Prediction/BoxPredictor_%d/ClassPredictor/weights", b);
        kw = bb ? mw_weights_get (w, name, 4, (int[]){1, 1, f.c, na * 3}, err, errlen) : NULL;
        snprintf (name, sizeof name, "Prediction/BoxPredictor_%d/ClassPredictor/biases", b);
        kb = kw ? mw_weights_get (w, name, 1, (int[]){na * 3}, err, errlen) : NULL;
        if (!kb)
            goto fail;
        size_t n = (size_t) f.h * f.w * na;
        if (anchor + n > MW_SSD_ANCHORS) {
            snprintf (err, errlen, "ssd: anchor count mismatch");
            goto fail;
        }
        int vb = mw_net_view (net, boxes, anchor * 4, f.h, f.w, na * 4);
        int vl = mw_net_view (net, logits, anchor * 3, f.h, f.w, na * 3);
        snprintf (lname, sizeof lname, "box%d/enc", b);
        if (vb < 0 || vl < 0
            || mw_net_add (net, MW_OP_CONV, lname, feat[b], vb, 1, 1, true, 0, na * 4, bw, bb, MW_ACT_NONE)
                   < 0)
            goto oom;
        snprintf (lname, sizeof lname, "box%d/cls", b);
        if (mw_net_add (net, MW_OP_CONV, lname, feat[b], vl, 1, 1, true, 0, na * 3, kw, kb, MW_ACT_NONE) < 0)
            goto oom;
        anchor += n;
    }
    if (anchor != MW_SSD_ANCHORS) {
        snprintf (err, errlen, "ssd: %zu anchors from the predictors, expected %d", anchor, MW_SSD_ANCHORS);
        goto fail;
    }
    net->outputs[0] = boxes;
    net->outputs[1] = logits;
    net->noutputs = 2;
    return net;
oom:
    snprintf (err, errlen, "ssd: cannot build the net (out of memory)");
fail:
    mw_net_destroy (&net);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Decoding

typedef struct {
    float ymin, xmin, ymax, xmax;
    float score;
    int index;
} cand_t;

struct _mw_ssd_decoder_t {
    cand_t *cand;
    int *selected;
};

mw_ssd_decoder_t *
mw_ssd_decoder_new (void)
{
    mw_ssd_decoder_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->cand = malloc (MW_SSD_ANCHORS * sizeof (cand_t));
    self->selected = malloc (MW_SSD_ANCHORS * sizeof (int));
    if (!self->cand || !self->selected)
        mw_ssd_decoder_destroy (&self);
    return self;
}

void
mw_ssd_decoder_destroy (mw_ssd_decoder_t **self_p)
{
    assert (self_p);
    mw_ssd_decoder_t *self = *self_p;
    if (!self)
        return;
    free (self->cand);
    free (self->selected);
    free (self);
    *self_p = NULL;
}

//  nonMaxSuppression.ts IOU (with min/max normalisation).
static double
s_iou (const cand_t *a, const cand_t *b)
{
    double ay0 = fmin (a->ymin, a->ymax), ax0 = fmin (a->xmin, a->xmax);
    double ay1 = fmax (a->ymin, a->ymax), ax1 = fmax (a->xmin, a->xmax);
    double by0 = fmin (b->ymin, b->ymax), bx0 = fmin (b->xmin, b->xmax);
    double by1 = fmax (b->ymin, b->ymax), bx1 = fmax (b->xmin, b->xmax);
    double area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
    if (area_a <= 0 || area_b <= 0)
        return 0.0;
    double ih = fmax (fmin (ay1, by1) - fmax (ay0, by0), 0.0);
    double iw = fmax (fmin (ax1, bx1) - fmax (ax0, bx0), 0.0);
    double inter = ih * iw;
    return inter / (area_a + area_b - inter);
}

static int
s_cmp_desc (const void *pa, const void *pb)
{
    const cand_t *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->index - b->index;   //  stable, like Array.prototype.sort
}

int
mw_ssd_decode (mw_ssd_decoder_t *self, const float *boxes, const float *logits, const float *anchors,
               int width, int height, float min_confidence, mw_detection_t *dets, int max_dets)
{
    assert (self && boxes && logits && anchors && width > 0 && height > 0 && (dets || max_dets == 0));
    int n = 0;
    for (int i = 0; i < MW_SSD_ANCHORS; i++) {
        //  Scores first: most anchors are dropped here.
        float score = (float) (1.0 / (1.0 + exp (-(double) logits[i * 3 + 1])));
        if (!(score > min_confidence))
            continue;
        const float *an = anchors + (size_t) i * 4, *t = boxes + (size_t) i * 4;
        float ha = an[2] - an[0], wa = an[3] - an[1];
        float cya = an[0] + ha / 2.f, cxa = an[1] + wa / 2.f;
        float hh = (float) exp ((double) (t[2] / 5.f)) * ha / 2.f;
        float hw = (float) exp ((double) (t[3] / 5.f)) * wa / 2.f;
        float cy = t[0] / 10.f * ha + cya;
        float cx = t[1] / 10.f * wa + cxa;
        cand_t *c = &self->cand[n++];
        c->ymin = cy - hh;
        c->xmin = cx - hw;
        c->ymax = cy + hh;
        c->xmax = cx + hw;
        c->score = score;
        c->index = i;
    }
    qsort (self->cand, (size_t) n, sizeof (cand_t), s_cmp_desc);
    int nsel = 0;
    for (int i = 0; i < n && nsel < MW_SSD_MAX_RESULTS; i++) {
        bool keep = true;
        for (int j = nsel - 1; j >= 0 && keep; j--)
            if (s_iou (&self->cand[i], &self->cand[self->selected[j]]) > MW_SSD_IOU)
                keep = false;
        if (keep)
            self->selected[nsel++] = i;
    }
    const double scale = (double) MW_SSD_INPUT / (width > height ? width : height);
    const double padx = MW_SSD_INPUT / floor (width * scale + 0.5);
    const double pady = MW_SSD_INPUT / floor (height * scale + 0.5);
    int out = 0;
    for (int k = 0; k < nsel && out < max_dets; k++) {
        const cand_t *c = &self->cand[self->selected[k]];
        double top = fmax (0.0, c->ymin) * pady, bottom = fmin (1.0, c->ymax) * pady;
        double left = fmax (0.0, c->xmin) * padx, right = fmin (1.0, c->xmax) * padx;
        dets[out].x = (float) (left * width);
        dets[out].y = (float) (top * height);
        dets[out].w = (float) ((right - left) * width);
        dets[out].h = (float) ((bottom - top) * height);
        dets[out].score = c->score;
        out++;
    }
    return out;
}

//  --------------------------------------------------------------------------

int
mw_ssd_mobilenet_test (bool verbose)
{
    int fails = 0;
    mw_ssd_decoder_t *d = mw_ssd_decoder_new ();
    if (!d)
        return -1;
    float *boxes = calloc (MW_SSD_ANCHORS * 4, sizeof (float));
    float *logits = calloc (MW_SSD_ANCHORS * 3, sizeof (float));
    float *anchors = calloc (MW_SSD_ANCHORS * 4, sizeof (float));
    for (int i = 0; i < MW_SSD_ANCHORS; i++) {
        logits[i * 3 + 1] = -10.f;
        float *a = anchors + i * 4;
        a[0] = 0.1f, a[1] = 0.1f, a[2] = 0.3f, a[3] = 0.3f;
    }
    //  Three confident anchors: 0 and 1 overlap (1 is dropped), 2 apart.
    logits[0 * 3 + 1] = 3.f;
    logits[1 * 3 + 1] = 2.f;
    logits[2 * 3 + 1] = 1.f;
    anchors[2 * 4 + 0] = 0.6f, anchors[2 * 4 + 1] = 0.6f, anchors[2 * 4 + 2] = 0.8f,
                    anchors[2 * 4 + 3] = 0.8f;
    boxes[1 * 4 + 0] = 0.5f;   //  shift anchor 1 by 0.05*0.2 in y
    mw_detection_t dets[8];
    //  640x480: rw = 512, rh = 384, pady = 4/3.
    int n = mw_ssd_decode (d, boxes, logits, anchors, 640, 480, 0.5f, dets, 8);
    if (verbose)
        for (int i = 0; i < n; i++)
            printf ("  det %d: %.2f %.2f %.2f %.2f %.3f\n", i, dets[i].x, dets[i].y, dets[i].w, dets[i].h,
                    dets[i].score);
    fails += n != 2;
    fails += !(n == 2 && fabsf (dets[0].x - 64.f) < 1e-3f && fabsf (dets[0].y - 0.1f * 480 * 4 / 3) < 1e-2f);
    fails += !(n == 2 && fabsf (dets[0].score - 0.9526f) < 1e-3f && dets[1].score < 0.74f);
    free (boxes);
    free (logits);
    free (anchors);
    mw_ssd_decoder_destroy (&d);
    return fails ? -1 : 0;
}
