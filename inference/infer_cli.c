/*  =========================================================================
    mw_infer_cli - `meshwatch infer`: one image through one face detector.

        meshwatch infer --model tiny-face|ssd-mobilenet [--models-dir DIR]
                        [--input-size N] [--threshold T] --image FILE
                        [--json] [--repeat K] [--threads N]
                        [--backend auto|cpu|cuda]

    For operators (is the model dir right? what does the box see?) and for
    scripts and benchmarks (--json, --repeat).  The models dir defaults to
    $MW_MODELS_DIR.  Human output is a table; --json prints one object
        {"model":..,"width":..,"height":..,"detections":[{"x","y","w","h",
         "score"}],"ms":..}
    where ms is the median time per frame over the --repeat runs
    (preprocess + forward + decode; JPEG decoding is reported separately in
    the human output only).  Errors: one line on stderr, exit 1 (runtime)
    or 2 (usage).
    ========================================================================= */
#include "inference/infer_cli.h"
#include "common/json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inference/detector.h"

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch infer --model tiny-face|ssd-mobilenet [--models-dir DIR]\n"
                "                       [--input-size N] [--threshold T] --image FILE [--json]\n"
                "                       [--repeat K] [--threads N] [--backend auto|cpu|cuda]\n"
                "  --models-dir   face-api's model/ folder (default $MW_MODELS_DIR)\n"
                "  --input-size   tiny-face: multiple of 32 (default 416); ssd-mobilenet: 512\n"
                "  --threshold    minimum score, 0..1 (default 0.5)\n"
                "  --repeat       run K times and report the median time (default 1)\n"
                "  --threads      CPU threads (default: all cores)\n");
}

static bool
s_parse_int (const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = (int) v;
    return true;
}

static bool
s_parse_float (const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof (s, &end);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int
mw_infer_cli_main (int argc, char **argv)
{
    mw_detector_config_t cfg;
    mw_detector_config_defaults (&cfg);
    cfg.models_dir = getenv ("MW_MODELS_DIR");
    const char *image = NULL;
    bool json = false, have_model = false;
    int repeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp (a, "-h") || !strcmp (a, "--help")) {
            s_usage (stdout);
            return 0;
        }
        else if (!strcmp (a, "--json"))
            json = true;
        else if (!v) {
            fprintf (stderr, "infer: %s needs a value (or is unknown)\n", a);
            s_usage (stderr);
            return 2;
        }
        else {
            i++;
            if (!strcmp (a, "--model")) {
                int m = mw_model_parse (v);
                ok = m >= 0;
                cfg.model = (mw_model_t) m;
                have_model = ok;
            }
            else if (!strcmp (a, "--models-dir"))
                cfg.models_dir = v;
            else if (!strcmp (a, "--input-size"))
                ok = s_parse_int (v, 32, 2048, &cfg.input_size);
            else if (!strcmp (a, "--threshold"))
                ok = s_parse_float (v, &cfg.threshold) && cfg.threshold >= 0.f && cfg.threshold < 1.f;
            else if (!strcmp (a, "--image"))
                image = v;
            else if (!strcmp (a, "--repeat"))
                ok = s_parse_int (v, 1, 100000, &repeat);
            else if (!strcmp (a, "--threads"))
                ok = s_parse_int (v, 1, 64, &cfg.threads);
            else if (!strcmp (a, "--backend")) {
                int b = mw_backend_parse (v);
                ok = b >= 0;
                cfg.backend = (mw_backend_kind_t) b;
            }
            else {
                fprintf (stderr, "infer: unknown option %s\n", a);
                s_usage (stderr);
                return 2;
            }
            if (!ok) {
                fprintf (stderr, "infer: bad value for %s: '%s'\n", a, v);
                return 2;
            }
        }
    }
    if (!have_model || !image) {
        fprintf (stderr, "infer: --model and --image are required\n");
        s_usage (stderr);
        return 2;
    }
    if (!cfg.models_dir || !*cfg.models_dir) {
        fprintf (
            stderr,
            "infer: no models dir: give --models-dir DIR (face-api's model/ folder) or set MW_MODELS_DIR\n");
        return 2;
    }
    char err[512];
    double t0 = s_now_ms ();
    mw_image_t *img = mw_image_load (image, err, sizeof err);
    double decode_ms = s_now_ms () - t0;
    if (!img) {
        fprintf (stderr, "infer: %s\n", err);
        return 1;
    }
    t0 = s_now_ms ();
    mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
    double load_ms = s_now_ms () - t0;
    if (!det) {
        fprintf (stderr, "infer: %s\n", err);
        mw_image_destroy (&img);
        return 1;
    }
    double *ms = calloc ((size_t) repeat, sizeof (double));
    double *net_ms = calloc ((size_t) repeat, sizeof (double));
    int rc = 0, n = 0;
    if (!ms || !net_ms) {
        fprintf (stderr, "infer: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int r = 0; r < repeat; r++) {
        n = mw_detector_run_image (det, img);
        if (n < 0) {
            fprintf (stderr, "infer: %s\n", mw_detector_error (det));
            rc = 1;
            goto done;
        }
        mw_timing_t t;
        mw_detector_timing (det, &t);
        ms[r] = t.preprocess_ms + t.net_ms + t.decode_ms;
        net_ms[r] = t.net_ms;
    }
    qsort (ms, (size_t) repeat, sizeof (double), s_cmp_double);
    qsort (net_ms, (size_t) repeat, sizeof (double), s_cmp_double);
    const mw_detection_t *d = mw_detector_detections (det, NULL);
    const int W = mw_image_width (img), H = mw_image_height (img);
    if (json) {
        json_object *o = json_object_new_object ();
        json_object *dets = json_object_new_array ();
        for (int i = 0; dets && i < n; i++) {
            json_object *b = json_object_new_object ();
            if (!b)
                break;
            mw_json_add (b, "x", mw_json_num (d[i].x, 3));
            mw_json_add (b, "y", mw_json_num (d[i].y, 3));
            mw_json_add (b, "w", mw_json_num (d[i].w, 3));
            mw_json_add (b, "h", mw_json_num (d[i].h, 3));
            mw_json_add (b, "score", mw_json_num (d[i].score, 6));
            json_object_array_add (dets, b);
        }
        if (o && dets) {
            mw_json_add (o, "model", mw_json_str (mw_model_name (cfg.model)));
            mw_json_add (o, "width", mw_json_i64 (W));
            mw_json_add (o, "height", mw_json_i64 (H));
            mw_json_add (o, "detections", dets);
            dets = NULL;
            mw_json_add (o, "ms", mw_json_num (ms[repeat / 2], 3));
            printf ("%s\n", mw_json_text (o, false));
        }
        json_object_put (dets);
        json_object_put (o);
    }
    else {
        mw_confidence_t conf;
        mw_detector_summary (det, &conf);
        printf ("%s  %dx%d  model %s (input %d, threshold %.2f, backend %s)\n", image, W, H,
                mw_model_name (cfg.model), mw_detector_input_size (det), (double) cfg.threshold,
                mw_detector_backend (det));
        printf ("  #      x        y        w        h    score\n");
        for (int i = 0; i < n; i++)
            printf ("%3d %8.1f %8.1f %8.1f %8.1f   %.4f\n", i + 1, (double) d[i].x, (double) d[i].y,
                    (double) d[i].w, (double) d[i].h, (double) d[i].score);
        printf ("faces: %d  max score %.4f  mean score %.4f\n", conf.count, (double) conf.max_score,
                (double) conf.mean_score);
        printf (
            "time: %.2f ms/frame median of %d (forward %.2f ms); jpeg decode %.2f ms, model load %.1f ms\n",
            ms[repeat / 2], repeat, net_ms[repeat / 2], decode_ms, load_ms);
    }
done:
    free (ms);
    free (net_ms);
    mw_detector_destroy (&det);
    mw_image_destroy (&img);
    return rc;
}
