/*  =========================================================================
    cuda_vs_cpu - the CUDA backend against the CPU reference (issue 5).

    0. mw_backend_check () on the CUDA backend (random small nets against a
       naive double-precision reference, 1e-4).
    1. A synthetic net with random weights that exercises every code path
       of both backends: direct and implicit-GEMM convolutions (k = 1 and
       3, strides 1 and 2, TF SAME with uneven padding, explicit padding,
       channel counts that are not multiples of the tile sizes, no bias),
       depthwise and max-pool with odd sizes, the three activations, and
       two layers writing into views of one concatenated output.
    2. Both face-api models on the fixture pixels: TinyFaceDetector at
       320, 416 and 608 and SSD MobileNet v1 at 512, each on two images
       (the first CUDA run is eager, the second replays the captured CUDA
       graph with a new input), plus one profiled (event-timed) run.

    Every output element must agree to 1e-3 (absolute, or relative where
    |cpu| > 1).  Exit 0 pass, 1 fail, 77 skipped: a build without CUDA, no
    usable CUDA device, or (after the synthetic net passed) no model files.
    Models: MW_MODELS_DIR or $MW_SRCDIR/.cache/face-api/package/model.
    ========================================================================= */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/backend.h"
#include "inference/detector.h"
#include "inference/image.h"
#include "inference/net.h"

#define MW_TOL 1e-3

#ifdef MW_HAVE_CUDA
static unsigned long long s_seed = 0x9e3779b97f4a7c15ull;

static float
s_rand (void)   //  uniform in [-1, 1)
{
    s_seed = s_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float) ((s_seed >> 40) / (double) (1ull << 24)) * 2.f - 1.f;
}

//  Max |a-b| and max |a-b|/max(1,|a|); returns 0 if within MW_TOL.
static int
s_compare (const char *what, const float *cpu, const float *gpu, size_t n)
{
    double max_abs = 0, max_rel = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs ((double) cpu[i] - (double) gpu[i]);
        double rel = d / fmax (1.0, fabs ((double) cpu[i]));
        if (d > max_abs)
            max_abs = d;
        if (rel > max_rel || isnan (rel))
            max_rel = isnan (rel) ? INFINITY : rel, worst = i;
    }
    int bad = !(max_rel <= MW_TOL);
    printf ("  %-40s %8zu values  max|d| %.3g  max rel %.3g  %s", what, n, max_abs, max_rel,
            bad ? "FAIL" : "ok");
    if (bad)
        printf (" (worst [%zu] cpu %.6g cuda %.6g)", worst, (double) cpu[worst], (double) gpu[worst]);
    printf ("\n");
    return bad;
}

//  ---------------------------------------------------------------------
//  Synthetic net

typedef struct {
    mw_net_t *net;
    float *params;
    size_t used, cap;
} synth_t;

static float *
s_params (synth_t *s, size_t n, float scale)
{
    if (s->used + n > s->cap)
        return NULL;
    float *p = s->params + s->used;
    for (size_t i = 0; i < n; i++)
        p[i] = s_rand () * scale;
    s->used += n;
    return p;
}

static int
s_add (synth_t *s, mw_op_t op, int in, int out, int k, int stride, bool same, int pad, int cout, bool bias,
       mw_act_t act)
{
    const mw_tdesc_t *t = &s->net->tensors[in];
    int cin = t->c;
    if (op != MW_OP_CONV)
        cout = cin;
    float *w = NULL, *b = NULL;
    if (op == MW_OP_CONV)
        w = s_params (s, (size_t) k * k * cin * cout, 1.5f / sqrtf ((float) (k * k * cin)));
    else if (op == MW_OP_DWCONV)
        w = s_params (s, (size_t) k * k * cin, 0.5f);
    if (bias)
        b = s_params (s, (size_t) cout, 0.5f);
    if ((op != MW_OP_MAXPOOL && !w) || (bias && !b))
        return -1;
    char name[32];
    snprintf (name, sizeof name, "synth%d", s->net->nlayers);
    return mw_net_add (s->net, op, name, in, out, k, stride, same, pad, cout, w, b, act);
}

static mw_net_t *
s_synth_net (synth_t *s)
{
    memset (s, 0, sizeof *s);
    s->cap = 4u << 20;
    s->params = malloc (s->cap * sizeof (float));
    s->net = mw_net_new ();
    if (!s->params || !s->net)
        return NULL;
    s->net->owned = s->params;
    mw_net_t *n = s->net;
    int x = mw_net_tensor (n, 37, 45, 3);
    n->input = x;
    int t = s_add (s, MW_OP_CONV, x, -1, 3, 2, true, 0, 19, true, MW_ACT_RELU6);   //  direct, s2 SAME
    t = s_add (s, MW_OP_CONV, t, -1, 3, 1, false, 1, 40, true, MW_ACT_LEAKY);      //  gemm, pad 1
    t = s_add (s, MW_OP_MAXPOOL, t, -1, 2, 2, true, 0, 0, false, MW_ACT_NONE);     //  odd -> SAME
    t = s_add (s, MW_OP_DWCONV, t, -1, 3, 1, true, 0, 0, false, MW_ACT_RELU6);     //  no bias
    t = s_add (s, MW_OP_CONV, t, -1, 1, 1, false, 0, 70, true, MW_ACT_LEAKY);      //  plain 1x1
    int keep = t;
    t = s_add (s, MW_OP_DWCONV, t, -1, 3, 2, true, 0, 0, true, MW_ACT_LEAKY);     //  s2, pad 0/1
    t = s_add (s, MW_OP_MAXPOOL, t, -1, 2, 1, true, 0, 0, false, MW_ACT_NONE);    //  k2 s1 SAME
    t = s_add (s, MW_OP_MAXPOOL, t, -1, 3, 2, true, 0, 0, false, MW_ACT_RELU6);   //  k3 s2
    t = s_add (s, MW_OP_CONV, t, -1, 3, 2, true, 0, 130, false, MW_ACT_NONE);     //  gemm s2, N > 2 tiles
    t = s_add (s, MW_OP_CONV, t, -1, 1, 2, true, 0, 33, true, MW_ACT_RELU6);      //  1x1 s2 (not plain)
    if (keep < 0 || t < 0)
        return NULL;
    //  Two predictors writing into one concatenated output, like SSD's.
    const mw_tdesc_t *a = &n->tensors[keep], *b = &n->tensors[t];
    size_t na = (size_t) a->h * a->w * 6, nb = (size_t) b->h * b->w * 6;
    int cat = mw_net_tensor (n, (int) ((na + nb) / 6), 1, 6);
    if (cat < 0)
        return NULL;
    int va = mw_net_view (n, cat, 0, a->h, a->w, 6), vb = mw_net_view (n, cat, na, b->h, b->w, 6);
    if (s_add (s, MW_OP_CONV, keep, va, 1, 1, false, 0, 6, true, MW_ACT_NONE) < 0
        || s_add (s, MW_OP_CONV, t, vb, 1, 1, false, 0, 6, true, MW_ACT_NONE) < 0)
        return NULL;
    n->outputs[0] = cat;
    n->outputs[1] = t;
    n->noutputs = 2;
    return n;
}

static int
s_run_synth (const mw_backend_ops_t *cuda, mw_net_t *net)
{
    char err[256] = "";
    const mw_backend_ops_t *cpu = mw_backend_cpu ();
    void *sc = cpu->prepare (net, 0, err, sizeof err);
    void *sg = sc ? cuda->prepare (net, 0, err, sizeof err) : NULL;
    if (!sc || !sg) {
        printf ("FAIL: synthetic net: prepare: %s\n", err);
        if (sc)
            cpu->release (&sc);
        return 1;
    }
    int fails = 0;
    size_t nin = mw_net_tensor_elems (net, net->input);
    for (int r = 0; r < 3; r++) {   //  eager, graph, graph
        float *ic = cpu->input (sc), *ig = cuda->input (sg);
        for (size_t i = 0; i < nin; i++)
            ic[i] = ig[i] = s_rand () * 2.f;
        if (cpu->run (sc, err, sizeof err) || cuda->run (sg, err, sizeof err)) {
            printf ("FAIL: synthetic net: run: %s\n", err);
            fails++;
            break;
        }
        for (int o = 0; o < net->noutputs; o++) {
            char what[64];
            snprintf (what, sizeof what, "synthetic run %d output %d", r + 1, o);
            fails += s_compare (what, cpu->output (sc, o), cuda->output (sg, o),
                                mw_net_tensor_elems (net, net->outputs[o]));
        }
    }
    cpu->release (&sc);
    cuda->release (&sg);
    return fails;
}

//  ---------------------------------------------------------------------
//  The real models

static int
s_run_model (const char *models_dir, mw_model_t model, int size, mw_image_t **images, int nimages)
{
    char err[256] = "";
    mw_detector_config_t cfg;
    mw_detector_config_defaults (&cfg);
    cfg.models_dir = models_dir;
    cfg.model = model;
    cfg.input_size = size;
    cfg.backend = MW_BACKEND_CPU;
    mw_detector_t *cpu = mw_detector_new (&cfg, err, sizeof err);
    cfg.backend = MW_BACKEND_CUDA;
    mw_detector_t *gpu = cpu ? mw_detector_new (&cfg, err, sizeof err) : NULL;
    if (!cpu || !gpu) {
        printf ("FAIL: %s %d: %s\n", mw_model_name (model), size, err);
        mw_detector_destroy (&cpu);
        return 1;
    }
    int fails = strcmp (mw_detector_backend (gpu), "cuda") != 0;
    const mw_net_t *net = mw_detector_net (gpu);
    double *layer_ms = calloc ((size_t) net->nlayers, sizeof (double));
    //  eager, graph (new input), profiled (events, eager again)
    for (int r = 0; r < nimages + 1 && !fails; r++) {
        mw_image_t *img = images[r % nimages];
        if (r == nimages && layer_ms)
            mw_detector_profile (gpu, layer_ms);
        int nc = mw_detector_run_image (cpu, img), ng = mw_detector_run_image (gpu, img);
        if (nc < 0 || ng < 0) {
            printf ("FAIL: %s %d run %d: %s\n", mw_model_name (model), size, r + 1,
                    mw_detector_error (nc < 0 ? cpu : gpu));
            fails++;
            break;
        }
        for (int o = 0; o < net->noutputs; o++) {
            size_t n = 0, n2 = 0;
            const float *c = mw_detector_output (cpu, o, &n), *g = mw_detector_output (gpu, o, &n2);
            char what[80];
            snprintf (what, sizeof what, "%s %d run %d%s out %d (%d/%d dets)", mw_model_name (model), size,
                      r + 1,
                      r == 0         ? " eager"
                      : r == nimages ? " prof"
                                     : " graph",
                      o, nc, ng);
            fails += n != n2 || s_compare (what, c, g, n);
        }
    }
    if (layer_ms && !fails) {
        double total = 0;
        for (int i = 0; i < net->nlayers; i++)
            total += layer_ms[i];
        printf ("  %s %d: %d layers, %.3f ms of kernels (one profiled run)\n", mw_model_name (model), size,
                net->nlayers, total);
    }
    mw_detector_profile (gpu, NULL);
    free (layer_ms);
    mw_detector_destroy (&cpu);
    mw_detector_destroy (&gpu);
    return fails;
}
#endif

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
#ifndef MW_HAVE_CUDA
    printf ("SKIP: cuda_vs_cpu: this build has no CUDA backend (configure --with-cuda to build it)\n");
    return 77;
#else
    synth_t s;
    mw_net_t *net = s_synth_net (&s);
    if (!net) {
        printf ("FAIL: cannot build the synthetic net\n");
        return 1;
    }
    const mw_backend_ops_t *cuda = mw_backend_cuda ();
    int devices = mw_backend_cuda_devices ();
    if (devices == 0) {
        //  The backend must refuse cleanly (a message, no abort) and AUTO
        //  must fall back to the CPU.
        char err[256] = "", err2[256] = "";
        void *st = cuda ? cuda->prepare (net, 0, err, sizeof err) : NULL;
        const mw_backend_ops_t *auto_ops = mw_backend_select (MW_BACKEND_AUTO, err2, sizeof err2);
        int bad = st != NULL || (cuda && !err[0]) || auto_ops != mw_backend_cpu ();
        if (st)
            cuda->release (&st);
        mw_net_destroy (&net);
        if (bad) {
            printf ("FAIL: no CUDA device, yet the CUDA backend did not refuse cleanly (%s)\n", err);
            return 1;
        }
        printf ("SKIP: cuda_vs_cpu: built with CUDA but no CUDA device is usable here (%s); "
                "auto selection falls back to the CPU\n",
                err[0] ? err : "no backend");
        return 77;
    }
    printf ("cuda_vs_cpu: %d CUDA device(s), tolerance %g\n", devices, MW_TOL);
    //  The shared conformance check (naive double reference, 1e-4).
    int fails = mw_backend_check (cuda, 0, true) != 0;
    printf ("  mw_backend_check (cuda): %s\n", fails ? "FAIL" : "ok");
    fails += s_run_synth (cuda, net);
    mw_net_destroy (&net);

    const char *srcdir = getenv ("MW_SRCDIR") ? getenv ("MW_SRCDIR") : ".";
    char dir[2048], path[4096], err[256] = "";
    if (getenv ("MW_MODELS_DIR"))
        snprintf (dir, sizeof dir, "%s", getenv ("MW_MODELS_DIR"));
    else
        snprintf (dir, sizeof dir, "%s/.cache/face-api/package/model", srcdir);
    mw_image_t *images[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        snprintf (path, sizeof path, "%s/tests/fixtures/faceapi/pixels/small%d.ppm", srcdir, i + 1);
        images[i] = mw_image_load (path, err, sizeof err);
        if (!images[i]) {
            printf ("FAIL: %s: %s\n", path, err);
            fails++;
        }
    }
    snprintf (path, sizeof path, "%s/%s", dir, "tiny_face_detector_model-weights_manifest.json");
    FILE *f = fopen (path, "rb");
    if (!f) {
        for (int i = 0; i < 2; i++)
            mw_image_destroy (&images[i]);
        if (fails) {
            printf ("FAIL: cuda_vs_cpu: %d mismatches\n", fails);
            return 1;
        }
        printf ("SKIP: cuda_vs_cpu: synthetic net passed, but no face-api models in %s "
                "(run inference/models/fetch-models.sh or set MW_MODELS_DIR)\n",
                dir);
        return 77;
    }
    fclose (f);
    if (images[0] && images[1]) {
        static const int tiny_sizes[] = {320, 416, 608};
        for (size_t i = 0; i < sizeof tiny_sizes / sizeof tiny_sizes[0]; i++)
            fails += s_run_model (dir, MW_MODEL_TINY_FACE, tiny_sizes[i], images, 2);
        fails += s_run_model (dir, MW_MODEL_SSD_MOBILENET, 512, images, 2);
    }
    for (int i = 0; i < 2; i++)
        mw_image_destroy (&images[i]);
    printf ("%s: cuda_vs_cpu (%d mismatches)\n", fails ? "FAIL" : "PASS", fails);
    return fails ? 1 : 0;
#endif
}
