/*  =========================================================================
    ops_cpu - the portable CPU backend: the three ops of net.h in plain C
    plus OpenBLAS sgemm, spread over all cores by one mw_pool.

    Design, in the order that matters for speed:

    * All memory is planned in prepare (): activations share one arena, a
      tensor's slot is reused once its last reader has run (greedy liveness
      allocation), and per-thread scratch for im2col is sized for the worst
      layer.  run () allocates nothing.
    * Convolutions are GEMMs on NHWC.  A 1x1 stride-1 convolution is
      C[M=H*W][cout] = A[M][cin] * W[cin][cout] with A the input itself; a
      k x k one first gathers (im2col) a band of output rows into scratch.
      Work is split in bands of output rows, one sgemm per band, and each
      band's bias + activation is applied while it is still in cache.
    * OpenBLAS runs single-threaded inside our pool threads (one thread per
      core, no second set of spinning BLAS threads).
    * The first layer of both models is a 3x3 convolution of a 3-channel
      image to 16 or 32 channels: GEMM with K=27 is a poor fit, so it gets a
      direct kernel whose inner loop runs over output channels (vectorised
      by the compiler for any SIMD width: SSE/AVX on x86, NEON on aarch64).
    * Depthwise and max-pool are direct loops with the channel loop
      innermost (NHWC makes it contiguous), bias and activation fused.
    ========================================================================= */
#include "inference/backend.h"
#include "inference/pool.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MW_CPU_ALIGN 64
//  Scratch floats per thread for im2col (1 MiB).
#define MW_CPU_SCRATCH (256 * 1024)

typedef struct {
    const mw_net_t *net;
    mw_pool_t *pool;
    int nthreads;
    float *arena;
    float **tptr;          //  per tensor
    float *scratch;        //  nthreads x scratch_elems
    size_t scratch_elems;
    double *profile;
} cpu_state_t;

typedef struct {
    cpu_state_t *st;
    const mw_layer_t *l;
    const float *in;
    float *out;
    int ih, iw, oh, ow;
    int rows_per_task;
} job_t;

static inline float
s_act (float x, mw_act_t act)
{
    if (act == MW_ACT_RELU6)
        return x < 0.f ? 0.f : x > 6.f ? 6.f : x;
    if (act == MW_ACT_LEAKY) {
        //  tfjs: relu(x - 0.1x) + 0.1x, with 0.1 as a float32.
        float m = x * 0.1f;
        float r = x - m;
        return (r > 0.f ? r : 0.f) + m;
    }
    return x;
}

//  Bias + activation over `rows` rows of `n` channels.
static void
s_epilogue (float *restrict c, size_t rows, int n, const float *restrict bias, mw_act_t act)
{
    for (size_t r = 0; r < rows; r++) {
        float *restrict row = c + r * (size_t) n;
        if (bias)
            for (int j = 0; j < n; j++)
                row[j] += bias[j];
        if (act == MW_ACT_RELU6)
            for (int j = 0; j < n; j++)
                row[j] = row[j] < 0.f ? 0.f : row[j] > 6.f ? 6.f : row[j];
        else if (act == MW_ACT_LEAKY)
            for (int j = 0; j < n; j++) {
                float m = row[j] * 0.1f, v = row[j] - m;
                row[j] = (v > 0.f ? v : 0.f) + m;
            }
    }
}

//  ---------------------------------------------------------------------
//  Convolution as GEMM (im2col for k > 1 or stride > 1)

static void
s_im2col (const job_t *j, int oy0, int oy1, float *restrict dst)
{
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, cin = l->cin;
    const size_t kk = (size_t) k * k * cin;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < j->ow; ox++) {
            float *row = dst + ((size_t) (oy - oy0) * j->ow + ox) * kk;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * s - l->pad_t + ky;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * s - l->pad_l + kx;
                    float *d = row + ((size_t) ky * k + kx) * cin;
                    if (iy < 0 || iy >= j->ih || ix < 0 || ix >= j->iw)
                        memset (d, 0, (size_t) cin * sizeof (float));
                    else
                        memcpy (d, j->in + ((size_t) iy * j->iw + ix) * cin, (size_t) cin * sizeof (float));
                }
            }
        }
}

static void
s_conv_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    const mw_layer_t *l = j->l;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    if (oy0 >= oy1)
        return;
    const int n = l->cout;
    const size_t m = (size_t) (oy1 - oy0) * j->ow;
    const size_t kk = (size_t) l->k * l->k * l->cin;
    float *c = j->out + (size_t) oy0 * j->ow * n;
    const float *a;
    if (l->k == 1 && l->stride == 1 && !l->pad_t && !l->pad_l && !l->pad_b && !l->pad_r)
        a = j->in + (size_t) oy0 * j->iw * l->cin;
    else {
        float *scratch = j->st->scratch + (size_t) thread * j->st->scratch_elems;
        s_im2col (j, oy0, oy1, scratch);
        a = scratch;
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, n, (int) kk, 1.0f, a, (int) kk, l->weights, n,
                 0.0f, c, n);
    s_epilogue (c, m, n, l->bias, l->act);
}

//  Direct 3x3 convolution for a 3-channel input: the inner loop runs over
//  NC output channels (a compile-time constant, so it vectorises fully).
#define MW_DIRECT_CONV(NC)                                                                                    \
    static void s_conv_direct_##NC (const job_t *j, int oy0, int oy1)                                         \
    {                                                                                                         \
        const mw_layer_t *l = j->l;                                                                           \
        const int k = l->k, s = l->stride, cin = 3;                                                           \
        const float *restrict w = l->weights;                                                                 \
        for (int oy = oy0; oy < oy1; oy++)                                                                    \
            for (int ox = 0; ox < j->ow; ox++) {                                                              \
                float acc[NC];                                                                                \
                for (int co = 0; co < NC; co++)                                                               \
                    acc[co] = 0.f;                                                                            \
                for (int ky = 0; ky < k; ky++) {                                                              \
                    int iy = oy * s - l->pad_t + ky;                                                          \
                    if (iy < 0 || iy >= j->ih)                                                                \
                        continue;                                                                             \
                    for (int kx = 0; kx < k; kx++) {                                                          \
                        int ix = ox * s - l->pad_l + kx;                                                      \
                        if (ix < 0 || ix >= j->iw)                                                            \
                            continue;                                                                         \
                        const float *restrict x = j->in + ((size_t) iy * j->iw + ix) * cin;                   \
                        const float *restrict wt = w + ((size_t) ky * k + kx) * cin * NC;                     \
                        for (int ci = 0; ci < 3; ci++) {                                                      \
                            float xv = x[ci];                                                                 \
                            for (int co = 0; co < NC; co++)                                                   \
                                acc[co] += xv * wt[ci * NC + co];                                             \
                        }                                                                                     \
                    }                                                                                         \
                }                                                                                             \
                float *restrict o = j->out + ((size_t) oy * j->ow + ox) * NC;                                 \
                for (int co = 0; co < NC; co++)                                                               \
                    o[co] = s_act (acc[co] + (l->bias ? l->bias[co] : 0.f), l->act);                          \
            }                                                                                                 \
    }
MW_DIRECT_CONV (16)
MW_DIRECT_CONV (32)

static void
s_conv_direct_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    if (oy0 >= oy1)
        return;
    if (j->l->cout == 16)
        s_conv_direct_16 (j, oy0, oy1);
    else
        s_conv_direct_32 (j, oy0, oy1);
}

static bool
s_use_direct (const mw_layer_t *l)
{
    return l->op == MW_OP_CONV && l->cin == 3 && l->k == 3 && (l->cout == 16 || l->cout == 32);
}

//  ---------------------------------------------------------------------
//  Depthwise 3x3 and max-pool: direct, channels innermost.

static void
s_dw_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, C = l->cin;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < j->ow; ox++) {
            float *restrict o = j->out + ((size_t) oy * j->ow + ox) * C;
            if (l->bias)
                memcpy (o, l->bias, (size_t) C * sizeof (float));
            else
                memset (o, 0, (size_t) C * sizeof (float));
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * s - l->pad_t + ky;
                if (iy < 0 || iy >= j->ih)
                    continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * s - l->pad_l + kx;
                    if (ix < 0 || ix >= j->iw)
                        continue;
                    const float *restrict x = j->in + ((size_t) iy * j->iw + ix) * C;
                    const float *restrict w = l->weights + ((size_t) ky * k + kx) * C;
                    for (int c = 0; c < C; c++)
                        o[c] += x[c] * w[c];
                }
            }
            if (l->act != MW_ACT_NONE)
                for (int c = 0; c < C; c++)
                    o[c] = s_act (o[c], l->act);
        }
}

static void
s_pool_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, C = l->cin;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = 0; ox < j->ow; ox++) {
            float *restrict o = j->out + ((size_t) oy * j->ow + ox) * C;
            bool first = true;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * s - l->pad_t + ky;
                if (iy < 0 || iy >= j->ih)
                    continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * s - l->pad_l + kx;
                    if (ix < 0 || ix >= j->iw)
                        continue;
                    const float *restrict x = j->in + ((size_t) iy * j->iw + ix) * C;
                    if (first)
                        memcpy (o, x, (size_t) C * sizeof (float));
                    else
                        for (int c = 0; c < C; c++)
                            o[c] = x[c] > o[c] ? x[c] : o[c];
                    first = false;
                }
            }
            if (l->act != MW_ACT_NONE)
                for (int c = 0; c < C; c++)
                    o[c] = s_act (o[c], l->act);
        }
}

//  ---------------------------------------------------------------------
//  Planning

//  Rows per task: GEMM bands want to be big (one or two per thread), the
//  im2col ones must fit the scratch, direct loops want a few per thread for
//  balance.
static int
s_rows_per_task (const cpu_state_t *st, const mw_layer_t *l, int oh, int ow)
{
    int tasks = st->nthreads * (l->op == MW_OP_CONV && !s_use_direct (l) ? 1 : 4);
    int rows = (oh + tasks - 1) / tasks;
    if (l->op == MW_OP_CONV && !s_use_direct (l)
        && !(l->k == 1 && l->stride == 1 && !l->pad_t && !l->pad_l && !l->pad_b && !l->pad_r)) {
        size_t per_row = (size_t) ow * l->k * l->k * l->cin;
        size_t fit = st->scratch_elems / per_row;
        if (fit < 1)
            fit = 1;
        if ((size_t) rows > fit)
            rows = (int) fit;
    }
    return rows < 1 ? 1 : rows;
}

static void *
s_alloc (size_t elems)
{
    void *p = NULL;
    if (posix_memalign (&p, MW_CPU_ALIGN, (elems ? elems : 1) * sizeof (float)) != 0)
        return NULL;
    return p;
}

static void s_release (void **state_p);

static void *
s_prepare (const mw_net_t *net, int threads, char *err, size_t errlen)
{
    assert (net);
    cpu_state_t *st = calloc (1, sizeof (*st));
    if (!st) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    st->net = net;
    st->pool = mw_pool_new (threads);
    if (!st->pool) {
        snprintf (err, errlen, "cannot start %d worker threads", threads);
        free (st);
        return NULL;
    }
    st->nthreads = mw_pool_size (st->pool);
    //  OpenBLAS runs inside our threads, one BLAS thread each.
    openblas_set_num_threads (1);

    //  Liveness of root tensors: first writer and last reader.
    int nt = net->ntensors, nl = net->nlayers;
    int *def = malloc ((size_t) nt * sizeof (int)), *last = malloc ((size_t) nt * sizeof (int));
    int *slot_of = malloc ((size_t) nt * sizeof (int));
    size_t *slot_size = calloc ((size_t) nt, sizeof (size_t));
    bool *slot_busy = calloc ((size_t) nt, sizeof (bool));
    size_t *slot_off = calloc ((size_t) nt, sizeof (size_t));
    st->tptr = calloc ((size_t) nt, sizeof (float *));
    if (!def || !last || !slot_of || !slot_size || !slot_busy || !slot_off || !st->tptr) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    for (int t = 0; t < nt; t++)
        def[t] = nl, last[t] = -1, slot_of[t] = -1;
#define ROOT(t) (net->tensors[t].parent < 0 ? (t) : net->tensors[t].parent)
    def[ROOT (net->input)] = -1;
    for (int i = 0; i < nl; i++) {
        int ro = ROOT (net->layers[i].out), ri = ROOT (net->layers[i].in);
        if (def[ro] > i)
            def[ro] = i;
        if (last[ri] < i)
            last[ri] = i;
    }
    for (int o = 0; o < net->noutputs; o++)
        last[ROOT (net->outputs[o])] = nl;
    last[ROOT (net->input)] = nl;   //  the caller writes it before run
    //  Greedy slot assignment in layer order.
    int nslots = 0;
    for (int step = -1; step <= nl; step++) {
        for (int t = 0; t < nt; t++) {
            if (net->tensors[t].parent >= 0 || def[t] != step || slot_of[t] >= 0)
                continue;
            size_t need = mw_net_tensor_elems (net, t);
            //  Smallest free slot that fits, else the largest free one
            //  (grown), else a new one.
            int best = -1, largest = -1;
            for (int s = 0; s < nslots; s++) {
                if (slot_busy[s])
                    continue;
                if (slot_size[s] >= need && (best < 0 || slot_size[s] < slot_size[best]))
                    best = s;
                if (largest < 0 || slot_size[s] > slot_size[largest])
                    largest = s;
            }
            if (best < 0)
                best = largest;
            if (best < 0)
                best = nslots++;
            if (slot_size[best] < need)
                slot_size[best] = need;
            slot_busy[best] = true;
            slot_of[t] = best;
        }
        for (int t = 0; t < nt; t++)
            if (slot_of[t] >= 0 && last[t] == step)
                slot_busy[slot_of[t]] = false;
    }
    size_t total = 0;
    for (int s = 0; s < nslots; s++) {
        slot_off[s] = total;
        total += (slot_size[s] + 15) & ~(size_t) 15;
    }
    st->arena = s_alloc (total);
    //  Scratch: enough for one output row of the widest im2col.
    st->scratch_elems = MW_CPU_SCRATCH;
    for (int i = 0; i < nl; i++) {
        const mw_layer_t *l = &net->layers[i];
        size_t row = (size_t) net->tensors[l->out].w * l->k * l->k * l->cin;
        if (l->op == MW_OP_CONV && row > st->scratch_elems)
            st->scratch_elems = row;
    }
    st->scratch = s_alloc (st->scratch_elems * (size_t) st->nthreads);
    if (!st->arena || !st->scratch) {
        snprintf (err, errlen, "out of memory (%zu MB of activations)", total * 4 >> 20);
        goto fail;
    }
    for (int t = 0; t < nt; t++)
        if (net->tensors[t].parent < 0 && slot_of[t] >= 0)
            st->tptr[t] = st->arena + slot_off[slot_of[t]];
    for (int t = 0; t < nt; t++)
        if (net->tensors[t].parent >= 0)
            st->tptr[t] = st->tptr[net->tensors[t].parent] + net->tensors[t].offset;
    //  Outputs written by several layers (views) start at zero nowhere: the
    //  layers cover them completely, but clear once for determinism.
    memset (st->arena, 0, total * sizeof (float));
#undef ROOT
    free (def);
    free (last);
    free (slot_of);
    free (slot_size);
    free (slot_busy);
    free (slot_off);
    return st;
fail:
    free (def);
    free (last);
    free (slot_of);
    free (slot_size);
    free (slot_busy);
    free (slot_off);
    s_release ((void **) &st);
    return NULL;
}

static float *
s_input (void *state)
{
    cpu_state_t *st = state;
    return st->tptr[st->net->input];
}

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
s_run (void *state, char *err, size_t errlen)
{
    cpu_state_t *st = state;
    const mw_net_t *net = st->net;
    for (int i = 0; i < net->nlayers; i++) {
        const mw_layer_t *l = &net->layers[i];
        double t0 = st->profile ? s_now_ms () : 0;
        job_t j = { .st = st, .l = l, .in = st->tptr[l->in], .out = st->tptr[l->out] };
        j.ih = net->tensors[l->in].h;
        j.iw = net->tensors[l->in].w;
        j.oh = net->tensors[l->out].h;
        j.ow = net->tensors[l->out].w;
        j.rows_per_task = s_rows_per_task (st, l, j.oh, j.ow);
        int tasks = (j.oh + j.rows_per_task - 1) / j.rows_per_task;
        mw_pool_fn *fn = l->op == MW_OP_DWCONV ? s_dw_task
                         : l->op == MW_OP_MAXPOOL ? s_pool_task
                         : s_use_direct (l)       ? s_conv_direct_task
                                                  : s_conv_task;
        mw_pool_run (st->pool, tasks, fn, &j);
        if (st->profile)
            st->profile[i] += s_now_ms () - t0;
    }
    (void) err;
    (void) errlen;
    return 0;
}

static const float *
s_output (void *state, int index)
{
    cpu_state_t *st = state;
    assert (index >= 0 && index < st->net->noutputs);
    return st->tptr[st->net->outputs[index]];
}

static void
s_profile (void *state, double *layer_ms)
{
    ((cpu_state_t *) state)->profile = layer_ms;
}

static void
s_release (void **state_p)
{
    assert (state_p);
    cpu_state_t *st = *state_p;
    if (!st)
        return;
    mw_pool_destroy (&st->pool);
    free (st->arena);
    free (st->scratch);
    free (st->tptr);
    free (st);
    *state_p = NULL;
}

static const mw_backend_ops_t s_cpu_ops = {
    .name = "cpu",
    .prepare = s_prepare,
    .input = s_input,
    .run = s_run,
    .output = s_output,
    .release = s_release,
    .profile = s_profile,
};

const mw_backend_ops_t *
mw_backend_cpu (void)
{
    return &s_cpu_ops;
}
