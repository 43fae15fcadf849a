/*  =========================================================================
    mw_backend - run-time choice between the CPU and CUDA backends.

    The field boxes (Jetson Orin) have a GPU, the dev machines and some edge
    boxes don't, and we ship one binary per architecture: so the choice is
    made when a detector is created, never at build time alone.  A build
    with --with-cuda links cudart (never libcuda: cudart loads the driver
    lazily), so cudaGetDeviceCount () simply fails on a machine without a
    driver and we fall back to the CPU.
    ========================================================================= */
#include "inference/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#ifdef MW_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

int
mw_backend_cuda_devices (void)
{
#ifdef MW_HAVE_CUDA
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount (&n);
    if (rc != cudaSuccess) {
        mw_debug ("infer_cuda_probe", "rc=%d msg=\"%s\"", (int) rc, cudaGetErrorString (rc));
        return 0;
    }
    return n;
#else
    return 0;
#endif
}

const mw_backend_ops_t *
mw_backend_select (mw_backend_kind_t want, char *err, size_t errlen)
{
    if (want == MW_BACKEND_CPU)
        return mw_backend_cpu ();
#ifdef MW_HAVE_CUDA
    const mw_backend_ops_t *cuda = mw_backend_cuda ();
    int devices = cuda ? mw_backend_cuda_devices () : 0;
    if (cuda && devices > 0)
        return cuda;
    if (want == MW_BACKEND_CUDA) {
        snprintf (err, errlen, "CUDA backend requested but %s",
                  cuda ? "no CUDA device is available" : "its kernels are not built in");
        return NULL;
    }
    mw_info ("infer_backend", "backend=cpu reason=%s", cuda ? "no_cuda_device" : "cuda_kernels_missing");
    return mw_backend_cpu ();
#else
    if (want == MW_BACKEND_CUDA) {
        snprintf (err, errlen, "CUDA backend requested but this build has no CUDA (configure --with-cuda)");
        return NULL;
    }
    return mw_backend_cpu ();
#endif
}

int
mw_backend_parse (const char *text)
{
    if (!text)
        return -1;
    if (strcmp (text, "auto") == 0)
        return MW_BACKEND_AUTO;
    if (strcmp (text, "cpu") == 0)
        return MW_BACKEND_CPU;
    if (strcmp (text, "cuda") == 0)
        return MW_BACKEND_CUDA;
    return -1;
}

//  --------------------------------------------------------------------------
//  Naive reference for the three ops (straight from the definitions in
//  net.h; slow on purpose, obviously right).

static float
s_ref_act (float x, mw_act_t act)
{
    if (act == MW_ACT_RELU6)
        return x < 0.f ? 0.f : x > 6.f ? 6.f : x;
    if (act == MW_ACT_LEAKY) {
        float m = x * 0.1f, r = x - m;
        return (r > 0.f ? r : 0.f) + m;
    }
    return x;
}

static void
s_ref_layer (const mw_net_t *net, const mw_layer_t *l, float *const *ptr)
{
    const mw_tdesc_t *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    const float *in = ptr[l->in];
    float *out = ptr[l->out];
    for (int oy = 0; oy < to->h; oy++)
        for (int ox = 0; ox < to->w; ox++)
            for (int co = 0; co < to->c; co++) {
                double acc = l->op == MW_OP_MAXPOOL ? -INFINITY : (l->bias ? l->bias[co] : 0.0);
                for (int ky = 0; ky < l->k; ky++)
                    for (int kx = 0; kx < l->k; kx++) {
                        int iy = oy * l->stride - l->pad_t + ky, ix = ox * l->stride - l->pad_l + kx;
                        if (iy < 0 || iy >= ti->h || ix < 0 || ix >= ti->w)
                            continue;
                        const float *x = in + ((size_t) iy * ti->w + ix) * ti->c;
                        if (l->op == MW_OP_MAXPOOL)
                            acc = fmax (acc, x[co]);
                        else if (l->op == MW_OP_DWCONV)
                            acc += (double) x[co] * l->weights[(ky * l->k + kx) * ti->c + co];
                        else
                            for (int ci = 0; ci < ti->c; ci++)
                                acc += (double) x[ci]
                                       * l->weights[((size_t) (ky * l->k + kx) * ti->c + ci) * l->cout + co];
                    }
                out[((size_t) oy * to->w + ox) * to->c + co] = s_ref_act ((float) acc, l->act);
            }
}

static uint32_t s_rng = 12345;
static float
s_rand (void)
{
    s_rng = s_rng * 1664525u + 1013904223u;
    return (float) ((s_rng >> 8) & 0xffff) / 32768.f - 1.f;
}

//  Hand out the next n floats of the parameter pool.
static const float *
s_take (float *params, size_t *p, size_t n)
{
    *p += n;
    return params + *p - n;
}

//  Build one random test net; returns the count of floats used in `params`.
static mw_net_t *
s_check_net (int variant, float *params, size_t *used)
{
    mw_net_t *net = mw_net_new ();
    size_t p = 0;
#define PARAMS(n) s_take (params, &p, (n))
    switch (variant) {
    case 0: {   //  tiny-face style: VALID conv0 3->16, pool s2, dw pad 1, pw 16->32 leaky, pool s1
        int t = net->input = mw_net_tensor (net, 21, 21, 3);
        t = mw_net_add (net, MW_OP_CONV, "c0", t, -1, 3, 1, false, 0, 16, PARAMS (432), PARAMS (16),
                        MW_ACT_LEAKY);
        t = mw_net_add (net, MW_OP_MAXPOOL, "p0", t, -1, 2, 2, true, 0, 0, NULL, NULL, MW_ACT_NONE);
        t = mw_net_add (net, MW_OP_DWCONV, "d1", t, -1, 3, 1, false, 1, 0, PARAMS (144), NULL, MW_ACT_NONE);
        t = mw_net_add (net, MW_OP_CONV, "p1", t, -1, 1, 1, false, 0, 32, PARAMS (512), PARAMS (32),
                        MW_ACT_LEAKY);
        t = mw_net_add (net, MW_OP_MAXPOOL, "p1", t, -1, 2, 1, true, 0, 0, NULL, NULL, MW_ACT_NONE);
        t = mw_net_add (net, MW_OP_CONV, "c8", t, -1, 1, 1, false, 0, 25, PARAMS (800), PARAMS (25),
                        MW_ACT_NONE);
        net->outputs[0] = t;
        net->noutputs = 1;
        break;
    }
    case 1: {   //  ssd style: conv 3x3 s2 SAME 3->32 relu6, dw s1/s2 + bias relu6, big-K pw, 3x3 s2 conv, views
        int t = net->input = mw_net_tensor (net, 18, 18, 3);
        t = mw_net_add (net, MW_OP_CONV, "c0", t, -1, 3, 2, true, 0, 32, PARAMS (864), PARAMS (32),
                        MW_ACT_RELU6);
        t = mw_net_add (net, MW_OP_DWCONV, "d1", t, -1, 3, 1, true, 0, 0, PARAMS (288), PARAMS (32),
                        MW_ACT_RELU6);
        t = mw_net_add (net, MW_OP_CONV, "p1", t, -1, 1, 1, true, 0, 160, PARAMS (5120), PARAMS (160),
                        MW_ACT_RELU6);
        t = mw_net_add (net, MW_OP_DWCONV, "d2", t, -1, 3, 2, true, 0, 0, PARAMS (1440), PARAMS (160),
                        MW_ACT_RELU6);
        int f = mw_net_add (net, MW_OP_CONV, "p2", t, -1, 1, 1, true, 0, 96, PARAMS (15360), PARAMS (96),
                            MW_ACT_RELU6);
        int e = mw_net_add (net, MW_OP_CONV, "e1", f, -1, 3, 2, true, 0, 40, PARAMS (34560), PARAMS (40),
                            MW_ACT_RELU6);
        //  two predictors into one output through views
        size_t a0 = (size_t) 5 * 5 * 3, a1 = (size_t) 3 * 3 * 2;
        int out = mw_net_tensor (net, (int) (a0 + a1), 1, 4);
        int v0 = mw_net_view (net, out, 0, 5, 5, 12), v1 = mw_net_view (net, out, a0 * 4, 3, 3, 8);
        mw_net_add (net, MW_OP_CONV, "b0", f, v0, 1, 1, true, 0, 12, PARAMS (1152), PARAMS (12), MW_ACT_NONE);
        mw_net_add (net, MW_OP_CONV, "b1", e, v1, 1, 1, true, 0, 8, PARAMS (320), PARAMS (8), MW_ACT_NONE);
        net->outputs[0] = out;
        net->outputs[1] = e;
        net->noutputs = 2;
        break;
    }
    }
#undef PARAMS
    *used = p;
    return net;
}

int
mw_backend_check (const mw_backend_ops_t *ops, int threads, bool verbose)
{
    int fails = 0;
    float *params = malloc (70000 * sizeof (float));
    if (!params)
        return -1;
    for (int variant = 0; variant < 2; variant++) {
        size_t used = 0;
        mw_net_t *net = s_check_net (variant, params, &used);
        for (size_t i = 0; i < used; i++)
            params[i] = s_rand () * 0.5f;
        char err[256] = "";
        void *st = net && used <= 70000 ? ops->prepare (net, threads, err, sizeof err) : NULL;
        if (!st) {
            fprintf (stderr, "mw_backend_check: %s: prepare failed: %s\n", ops->name, err);
            mw_net_destroy (&net);
            fails++;
            continue;
        }
        //  Reference run on separately allocated tensors.
        float **ref = calloc ((size_t) net->ntensors, sizeof (float *));
        for (int t = 0; t < net->ntensors; t++)
            if (net->tensors[t].parent < 0)
                ref[t] = calloc (mw_net_tensor_elems (net, t), sizeof (float));
        for (int t = 0; t < net->ntensors; t++)
            if (net->tensors[t].parent >= 0)
                ref[t] = ref[net->tensors[t].parent] + net->tensors[t].offset;
        size_t nin = mw_net_tensor_elems (net, net->input);
        float *in = ops->input (st);
        for (size_t i = 0; i < nin; i++)
            in[i] = ref[net->input][i] = s_rand () * 2.f;
        for (int run = 0; run < 2; run++) {   //  twice: no state may leak between runs
            if (ops->run (st, err, sizeof err) != 0) {
                fprintf (stderr, "mw_backend_check: %s: run failed: %s\n", ops->name, err);
                fails++;
            }
        }
        for (int i = 0; i < net->nlayers; i++)
            s_ref_layer (net, &net->layers[i], ref);
        for (int o = 0; o < net->noutputs; o++) {
            const float *got = ops->output (st, o), *want = ref[net->outputs[o]];
            size_t n = mw_net_tensor_elems (net, net->outputs[o]);
            double worst = 0;
            for (size_t i = 0; i < n; i++) {
                double d = fabs ((double) got[i] - want[i]) / fmax (1.0, fabs (want[i]));
                if (!(d <= worst))
                    worst = isnan (d) ? INFINITY : d;
            }
            if (worst > 1e-4)
                fails++;
            if (verbose || worst > 1e-4)
                printf ("  %s net %d output %d: %zu values, max rel diff %.2e\n", ops->name, variant, o, n,
                        worst);
        }
        for (int t = 0; t < net->ntensors; t++)
            if (net->tensors[t].parent < 0)
                free (ref[t]);
        free (ref);
        ops->release (&st);
        mw_net_destroy (&net);
    }
    free (params);
    return fails ? -1 : 0;
}

int
mw_backend_test (bool verbose)
{
    char err[256] = "";
    int fails = 0;
    const mw_backend_ops_t *b = mw_backend_select (MW_BACKEND_AUTO, err, sizeof err);
    fails += b == NULL;
    fails += mw_backend_select (MW_BACKEND_CPU, err, sizeof err) != mw_backend_cpu ();
    if (mw_backend_cuda_devices () == 0)
        fails += mw_backend_select (MW_BACKEND_CUDA, err, sizeof err) != NULL || err[0] == 0;
    fails += mw_backend_parse ("cpu") != MW_BACKEND_CPU || mw_backend_parse ("gpu") != -1;
    for (int threads = 1; threads <= 3; threads++)
        fails += mw_backend_check (mw_backend_cpu (), threads, verbose) != 0;
    if (verbose)
        printf ("  backend: auto=%s cuda_devices=%d (%s)\n", b ? b->name : "none", mw_backend_cuda_devices (),
                err);
    return fails ? -1 : 0;
}
