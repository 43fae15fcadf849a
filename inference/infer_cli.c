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
#include "common/cliopt.h"
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
    //  Same rules as every meshwatch subcommand (common/cliopt.h): --help
    //  only prints, unknown options and bad values exit 2.
    if (mw_cliopt_wants_help (argc, argv)) {
        s_usage (stdout);
        return 0;
    }
    enum {
        O_MODEL = 256,
        O_MODELS_DIR,
        O_INPUT_SIZE,
        O_THRESHOLD,
        O_IMAGE,
        O_REPEAT,
        O_THREADS,
        O_BACKEND,
        O_JSON
    };
    static const struct option opts[] = {{"model", required_argument, NULL, O_MODEL},
                                         {"models-dir", required_argument, NULL, O_MODELS_DIR},
                                         {"input-size", required_argument, NULL, O_INPUT_SIZE},
                                         {"threshold", required_argument, NULL, O_THRESHOLD},
                                         {"image", required_argument, NULL, O_IMAGE},
                                         {"repeat", required_argument, NULL, O_REPEAT},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"backend", required_argument, NULL, O_BACKEND},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mw_cliopt_t *p = mw_cliopt_new ("infer", argc, argv, opts);
    if (!p)
        return 1;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0) {
        const char *v = mw_cliopt_arg (p);
        bool ok = true;
        int64_t n = 0;
        double d = 0;
        switch (c) {
        case O_JSON: json = true; break;
        case O_MODEL: {
            int m = mw_model_parse (v);
            ok = m >= 0;
            cfg.model = (mw_model_t) m;
            have_model = ok;
            break;
        }
        case O_MODELS_DIR: cfg.models_dir = v; break;
        case O_INPUT_SIZE:
            ok = mw_cliopt_parse_int (v, 32, 2048, &n) == 0;
            cfg.input_size = (int) n;
            break;
        case O_THRESHOLD:
            ok = mw_cliopt_parse_double (v, 0, 1, &d) == 0 && d < 1;
            cfg.threshold = (float) d;
            break;
        case O_IMAGE: image = v; break;
        case O_REPEAT:
            ok = mw_cliopt_parse_int (v, 1, 100000, &n) == 0;
            repeat = (int) n;
            break;
        case O_THREADS:
            ok = mw_cliopt_parse_int (v, 1, 64, &n) == 0;
            cfg.threads = (int) n;
            break;
        case O_BACKEND: {
            int bk = mw_backend_parse (v);
            ok = bk >= 0;
            cfg.backend = (mw_backend_kind_t) bk;
            break;
        }
        }
        if (!ok) {
            mw_cliopt_fail ("infer", "bad value for %s: '%.60s'", mw_cliopt_name (p), v);
            c = MW_CLIOPT_ERROR;
            break;
        }
    }
    int bad = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0;
    mw_cliopt_destroy (&p);
    if (bad)
        return 2;
    if (!have_model || !image)
        return mw_cliopt_fail ("infer", "--model and --image are required");
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
