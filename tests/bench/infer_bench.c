/*  =========================================================================
    infer_bench - latency, throughput and GFLOP/s of the face detectors.

    usage: infer_bench --models-dir DIR [--model tiny-face|ssd-mobilenet]
                       [--input-size N] [--threads N] [--repeat K]
                       [--image FILE] [--profile]

    Runs one warm-up frame and then K timed frames (batch 1) and prints
    one table row: p50/p99 of the forward pass alone and of the whole
    frame (preprocess + net + decode, JPEG decoding excluded), frames/s
    and the achieved GFLOP/s (FLOPs counted per layer from the net).
    --profile adds a per-layer table (ms, GFLOP/s) averaged over the runs.
    Called by tests/bench/infer-bench.sh for the full matrix.
    ========================================================================= */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/detector.h"

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_pct (double *v, int n, double p)
{
    int i = (int) (p * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

int
main (int argc, char **argv)
{
    mw_detector_config_t cfg;
    mw_detector_config_defaults (&cfg);
    const char *image = NULL;
    int repeat = 50;
    bool profile = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--models-dir") && v)
            cfg.models_dir = v, i++;
        else if (!strcmp (a, "--model") && v && mw_model_parse (v) >= 0)
            cfg.model = mw_model_parse (v), i++;
        else if (!strcmp (a, "--input-size") && v)
            cfg.input_size = atoi (v), i++;
        else if (!strcmp (a, "--threads") && v)
            cfg.threads = atoi (v), i++;
        else if (!strcmp (a, "--repeat") && v)
            repeat = atoi (v), i++;
        else if (!strcmp (a, "--image") && v)
            image = v, i++;
        else if (!strcmp (a, "--profile"))
            profile = true;
        else {
            fprintf (stderr, "infer_bench: bad argument %s\n", a);
            return 2;
        }
    }
    if (repeat < 1 || repeat > 100000) {
        fprintf (stderr, "infer_bench: --repeat out of range\n");
        return 2;
    }
    char err[256];
    mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
    if (!det) {
        fprintf (stderr, "infer_bench: %s\n", err);
        return 1;
    }
    mw_image_t *img = NULL;
    if (image)
        img = mw_image_load (image, err, sizeof err);
    else {
        //  A synthetic 1280x720 frame (the cost does not depend on content).
        img = mw_image_new (1280, 720);
        for (size_t i = 0; img && i < 1280u * 720 * 3; i++)
            mw_image_data (img)[i] = (uint8_t) ((i * 2654435761u) >> 24);
    }
    if (!img) {
        fprintf (stderr, "infer_bench: %s\n", image ? err : "out of memory");
        mw_detector_destroy (&det);
        return 1;
    }
    const mw_net_t *net = mw_detector_net (det);
    double *layer_ms = calloc ((size_t) net->nlayers, sizeof (double));
    double *net_ms = calloc ((size_t) repeat, sizeof (double));
    double *frame_ms = calloc ((size_t) repeat, sizeof (double));
    if (!layer_ms || !net_ms || !frame_ms) {
        fprintf (stderr, "infer_bench: out of memory\n");
        return 1;
    }
    mw_detector_run_image (det, img);   //  warm-up
    if (profile)
        mw_detector_profile (det, layer_ms);
    double total = 0;
    for (int r = 0; r < repeat; r++) {
        if (mw_detector_run_image (det, img) < 0) {
            fprintf (stderr, "infer_bench: %s\n", mw_detector_error (det));
            return 1;
        }
        mw_timing_t t;
        mw_detector_timing (det, &t);
        net_ms[r] = t.net_ms;
        frame_ms[r] = t.preprocess_ms + t.net_ms + t.decode_ms;
        total += frame_ms[r];
    }
    mw_detector_profile (det, NULL);
    double flops = mw_net_flops (net);
    qsort (net_ms, (size_t) repeat, sizeof (double), s_cmp);
    qsort (frame_ms, (size_t) repeat, sizeof (double), s_cmp);
    double p50 = s_pct (net_ms, repeat, 0.5);
    printf ("%-13s %5d %7d %8.2f %8.2f %9.2f %9.2f %8.1f %8.1f %7.3f  %s\n", mw_model_name (cfg.model),
            mw_detector_input_size (det), cfg.threads, p50, s_pct (net_ms, repeat, 0.99),
            s_pct (frame_ms, repeat, 0.5), s_pct (frame_ms, repeat, 0.99), 1000.0 * repeat / total,
            flops / (p50 * 1e6), flops / 1e9, mw_detector_backend (det));
    if (profile) {
        printf ("\n%-14s %-7s %4s %13s %13s %9s %8s %8s\n", "layer", "op", "k/s", "in", "out", "MFLOP", "ms",
                "GFLOP/s");
        static const char *ops[] = {"conv", "dwconv", "maxpool"};
        for (int i = 0; i < net->nlayers; i++) {
            const mw_layer_t *l = &net->layers[i];
            const mw_tdesc_t *a = &net->tensors[l->in], *b = &net->tensors[l->out];
            char in[32], out[32];
            snprintf (in, sizeof in, "%dx%dx%d", a->h, a->w, a->c);
            snprintf (out, sizeof out, "%dx%dx%d", b->h, b->w, b->c);
            double ms = layer_ms[i] / repeat;
            printf ("%-14s %-7s %d/%d %13s %13s %9.1f %8.3f %8.1f\n", l->name, ops[l->op], l->k, l->stride,
                    in, out, l->flops / 1e6, ms, ms > 0 ? l->flops / (ms * 1e6) : 0);
        }
    }
    free (layer_ms);
    free (net_ms);
    free (frame_ms);
    mw_image_destroy (&img);
    mw_detector_destroy (&det);
    return 0;
}
