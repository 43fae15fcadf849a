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
    float **tptr;     //  per tensor
    float *scratch;   //  nthreads x scratch_elems
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
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) m, n, (int) kk, 1.0f, a, (int) kk,
                 l->weights, n, 0.0f, c, n);
    s_epilogue (c, m, n, l->bias, l->act);
}

//  ---------------------------------------------------------------------
//  Vector helpers: GCC/clang vector extensions, 8 floats.  They compile to
//  two SSE or NEON registers, or one AVX register in the x86-64-v3 clone
//  that MW_CLONES adds (picked at load time by the ifunc resolver), so the
//  same source is fast on the Jetson (aarch64) and on x86 dev boxes.

#define MW_INLINE static inline __attribute__ ((always_inline))

typedef float v8f __attribute__ ((vector_size (32)));
typedef int32_t v8i __attribute__ ((vector_size (32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(MW_NO_CLONES)
#define MW_CLONES __attribute__ ((target_clones ("arch=x86-64-v3", "default")))
#else
#define MW_CLONES
#endif

//  Helpers as statement-expression macros rather than functions, so that no
//  32-byte vector is ever passed by value (GCC's x86-64 psabi note).
#define s_ld(p)                                                                                              \
    ({                                                                                                       \
        v8f v_;                                                                                              \
        memcpy (&v_, (p), sizeof v_);                                                                        \
        v_;                                                                                                  \
    })
#define s_st(p, v)                                                                                           \
    do {                                                                                                     \
        v8f v_ = (v);                                                                                        \
        memcpy ((p), &v_, sizeof v_);                                                                        \
    } while (0)
#define s_vmax(a, b)                                                                                         \
    ({                                                                                                       \
        v8f a_ = (a), b_ = (b);                                                                              \
        v8i gt_ = a_ > b_;                                                                                   \
        (v8f) (((v8i) a_ & gt_) | ((v8i) b_ & ~gt_));                                                        \
    })
//  Activation: ReLU6 = clip to [0, 6]; leaky as tfjs, relu(x - 0.1x) + 0.1x.
#define s_vact(x, act)                                                                                       \
    ({                                                                                                       \
        v8f x_ = (x);                                                                                        \
        const v8f zero_ = {0};                                                                               \
        if ((act) == MW_ACT_RELU6) {                                                                         \
            const v8f six_ = zero_ + 6.f;                                                                    \
            x_ = (v8f) ((v8i) x_ & (x_ > zero_));                                                            \
            v8i big_ = x_ > six_;                                                                            \
            x_ = (v8f) (((v8i) x_ & ~big_) | ((v8i) six_ & big_));                                           \
        }                                                                                                    \
        else if ((act) == MW_ACT_LEAKY) {                                                                    \
            v8f m_ = x_ * 0.1f, r_ = x_ - m_;                                                                \
            x_ = (v8f) ((v8i) r_ & (r_ > zero_)) + m_;                                                       \
        }                                                                                                    \
        x_;                                                                                                  \
    })

//  Is the k x k window of output (oy, ox) fully inside the input?
static inline bool
s_inside_y (const job_t *j, int oy)
{
    int iy = oy * j->l->stride - j->l->pad_t;
    return iy >= 0 && iy + j->l->k <= j->ih;
}

static inline bool
s_inside_x (const job_t *j, int ox)
{
    int ix = ox * j->l->stride - j->l->pad_l;
    return ix >= 0 && ix + j->l->k <= j->iw;
}

//  First and last+1 output columns whose window is inside.
static void
s_inner_cols (const job_t *j, int *x0, int *x1)
{
    int a = 0, b = j->ow;
    while (a < b && !s_inside_x (j, a))
        a++;
    while (b > a && !s_inside_x (j, b - 1))
        b--;
    *x0 = a;
    *x1 = b;
}

//  ---------------------------------------------------------------------
//  Direct 3x3 convolution of a 3-channel image (both models' first layer)

//  One output pixel, any padding (the slow path for the borders).
static void
s_conv3_pixel (const job_t *j, int oy, int ox)
{
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, cin = l->cin, nc = l->cout;
    float *o = j->out + ((size_t) oy * j->ow + ox) * nc;
    for (int co = 0; co < nc; co++)
        o[co] = l->bias ? l->bias[co] : 0.f;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s - l->pad_t + ky;
        if (iy < 0 || iy >= j->ih)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - l->pad_l + kx;
            if (ix < 0 || ix >= j->iw)
                continue;
            const float *x = j->in + ((size_t) iy * j->iw + ix) * cin;
            const float *w = l->weights + ((size_t) ky * k + kx) * cin * nc;
            for (int ci = 0; ci < cin; ci++)
                for (int co = 0; co < nc; co++)
                    o[co] += x[ci] * w[ci * nc + co];
        }
    }
    for (int co = 0; co < nc; co++)
        o[co] = s_act (o[co], l->act);
}

//  P pixels x NV vectors of output channels, all taps inside: the
//  accumulators stay in registers for the 27 taps.
#define MW_UNROLL _Pragma ("GCC unroll 8")
MW_INLINE void
s_conv3_block (const job_t *j, int oy, int ox0, const int P, const int NV)
{
    const mw_layer_t *l = j->l;
    const int s = l->stride, nc = NV * 8;
    v8f acc[4][4];
    MW_UNROLL for (int p = 0; p < P; p++) MW_UNROLL for (int v = 0; v < NV; v++) acc[p][v] =
        l->bias ? s_ld (l->bias + 8 * v) : (v8f){0};
    const float *base = j->in + (size_t) (oy * s - l->pad_t) * j->iw * 3 + (size_t) (ox0 * s - l->pad_l) * 3;
    const size_t rs = (size_t) j->iw * 3;
    MW_UNROLL for (int ky = 0; ky < 3; ky++) MW_UNROLL for (int kx = 0; kx < 3; kx++)
        MW_UNROLL for (int ci = 0; ci < 3; ci++)
    {
        const float *w = l->weights + ((size_t) (ky * 3 + kx) * 3 + ci) * nc;
        const float *x = base + ky * rs + kx * 3 + ci;
        v8f wv[4];
        MW_UNROLL for (int v = 0; v < NV; v++) wv[v] = s_ld (w + 8 * v);
        MW_UNROLL for (int p = 0; p < P; p++)
        {
            float xv = x[p * s * 3];
            MW_UNROLL for (int v = 0; v < NV; v++) acc[p][v] += xv * wv[v];
        }
    }
    MW_UNROLL for (int p = 0; p < P; p++)
    {
        float *o = j->out + ((size_t) oy * j->ow + ox0 + p) * nc;
        MW_UNROLL for (int v = 0; v < NV; v++) s_st (o + 8 * v, s_vact (acc[p][v], l->act));
    }
}

MW_CLONES static void
s_conv3_rows (const job_t *j, int oy0, int oy1)
{
    const int NV = j->l->cout / 8, P = NV == 2 ? 4 : 2;
    int x0, x1;
    s_inner_cols (j, &x0, &x1);
    for (int oy = oy0; oy < oy1; oy++) {
        if (!s_inside_y (j, oy)) {
            for (int ox = 0; ox < j->ow; ox++)
                s_conv3_pixel (j, oy, ox);
            continue;
        }
        int ox = 0;
        for (; ox < x0; ox++)
            s_conv3_pixel (j, oy, ox);
        if (NV == 2)
            for (; ox + 4 <= x1; ox += 4)
                s_conv3_block (j, oy, ox, 4, 2);
        else
            for (; ox + 2 <= x1; ox += 2)
                s_conv3_block (j, oy, ox, 2, 4);
        for (; ox < j->ow; ox++)
            s_conv3_pixel (j, oy, ox);
        (void) P;
    }
}

//  ---------------------------------------------------------------------
//  Pointwise (1x1) convolution, register-blocked: P pixels x 32 output
//  channels of accumulators, K broadcast-FMA steps.  For the small-K
//  layers (K <= MW_PW_MAXK) this beats sgemm, whose packing overhead
//  dominates there; the big ones go to OpenBLAS.

#define MW_PW_MAXK 64
#define MW_PW_P    6
//  Pixels per cache block: the block of A (MW_PW_MB x K floats) stays in
//  L1/L2 while every 16-channel panel of W passes over it.
#define MW_PW_MB 96

//  P pixels x 16 channels: 2P accumulators + 2 weight vectors + 1
//  broadcast <= 15 registers (AVX2 has 16, NEON 32).
MW_INLINE void
s_pw_block (const float *restrict a, int K, const float *restrict w, int N, const float *bias, mw_act_t act,
            float *restrict c, const int P)
{
    v8f acc[MW_PW_P][2];
    MW_UNROLL for (int p = 0; p < P; p++)
    {
        acc[p][0] = bias ? s_ld (bias) : (v8f){0};
        acc[p][1] = bias ? s_ld (bias + 8) : (v8f){0};
    }
    for (int k = 0; k < K; k++) {
        const float *wk = w + (size_t) k * N;
        v8f w0 = s_ld (wk), w1 = s_ld (wk + 8);
        MW_UNROLL for (int p = 0; p < P; p++)
        {
            float x = a[(size_t) p * K + k];
            acc[p][0] += x * w0;
            acc[p][1] += x * w1;
        }
    }
    MW_UNROLL for (int p = 0; p < P; p++)
    {
        s_st (c + (size_t) p * N, s_vact (acc[p][0], act));
        s_st (c + (size_t) p * N + 8, s_vact (acc[p][1], act));
    }
}

MW_CLONES static void
s_pw_rows (const float *a, size_t m, int K, const float *w, int N, const float *bias, mw_act_t act, float *c)
{
    for (size_t i0 = 0; i0 < m; i0 += MW_PW_MB) {
        size_t i1 = i0 + MW_PW_MB < m ? i0 + MW_PW_MB : m;
        for (int n0 = 0; n0 < N; n0 += 16) {
            const float *b = bias ? bias + n0 : NULL;
            size_t i = i0;
            for (; i + MW_PW_P <= i1; i += MW_PW_P)
                s_pw_block (a + i * K, K, w + n0, N, b, act, c + i * N + n0, MW_PW_P);
            for (; i < i1; i++)
                s_pw_block (a + i * K, K, w + n0, N, b, act, c + i * N + n0, 1);
        }
    }
}

static int s_pw_maxk = MW_PW_MAXK;

static bool
s_use_pw (const mw_layer_t *l)
{
    static int mode = -1;   //  MW_PW=blas|own for experiments
    if (mode < 0) {
        const char *e = getenv ("MW_PW");
        mode = e && !strcmp (e, "blas") ? 0 : e && !strcmp (e, "own") ? 2 : 1;
        const char *k = getenv ("MW_PW_MAXK");
        if (k)
            s_pw_maxk = atoi (k);
    }
    bool fits = l->op == MW_OP_CONV && l->k == 1 && l->stride == 1 && !l->pad_t && !l->pad_l && !l->pad_b
                && !l->pad_r && l->cout % 16 == 0;
    return fits && (mode == 2 || (mode == 1 && l->cin <= s_pw_maxk));
}

static void
s_pw_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    const mw_layer_t *l = j->l;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    if (oy0 >= oy1)
        return;
    size_t m = (size_t) (oy1 - oy0) * j->ow;
    s_pw_rows (j->in + (size_t) oy0 * j->iw * l->cin, m, l->cin, l->weights, l->cout, l->bias, l->act,
               j->out + (size_t) oy0 * j->ow * l->cout);
}

static void
s_conv_direct_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    if (oy0 < oy1)
        s_conv3_rows (j, oy0, oy1);
}

static bool
s_use_direct (const mw_layer_t *l)
{
    return l->op == MW_OP_CONV && l->cin == 3 && l->k == 3 && (l->cout == 16 || l->cout == 32);
}

//  ---------------------------------------------------------------------
//  Depthwise 3x3 and max-pool: direct, channels innermost.

static void
s_dw_pixel (const job_t *j, int oy, int ox)
{
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, C = l->cin;
    float *o = j->out + ((size_t) oy * j->ow + ox) * C;
    for (int c = 0; c < C; c++)
        o[c] = l->bias ? l->bias[c] : 0.f;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s - l->pad_t + ky;
        if (iy < 0 || iy >= j->ih)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - l->pad_l + kx;
            if (ix < 0 || ix >= j->iw)
                continue;
            const float *x = j->in + ((size_t) iy * j->iw + ix) * C;
            const float *w = l->weights + ((size_t) ky * k + kx) * C;
            for (int c = 0; c < C; c++)
                o[c] += x[c] * w[c];
        }
    }
    for (int c = 0; c < C; c++)
        o[c] = s_act (o[c], l->act);
}

//  Interior pixels of one row, 8 channels at a time: the 9 weight vectors
//  and the bias stay in registers across the row.
MW_CLONES static void
s_dw_row (const job_t *j, int oy, int x0, int x1)
{
    const mw_layer_t *l = j->l;
    const int s = l->stride, C = l->cin;
    const float *rows[3];
    for (int ky = 0; ky < 3; ky++)
        rows[ky] = j->in + (size_t) (oy * s - l->pad_t + ky) * j->iw * C;
    for (int c = 0; c < C; c += 8) {
        v8f w[9], b = l->bias ? s_ld (l->bias + c) : (v8f){0};
        for (int t = 0; t < 9; t++)
            w[t] = s_ld (l->weights + (size_t) t * C + c);
        for (int ox = x0; ox < x1; ox++) {
            const int ix = ox * s - l->pad_l;
            v8f acc = b;
            for (int ky = 0; ky < 3; ky++) {
                const float *x = rows[ky] + (size_t) ix * C + c;
                acc += s_ld (x) * w[ky * 3];
                acc += s_ld (x + C) * w[ky * 3 + 1];
                acc += s_ld (x + 2 * C) * w[ky * 3 + 2];
            }
            s_st (j->out + ((size_t) oy * j->ow + ox) * C + c, s_vact (acc, l->act));
        }
    }
}

static void
s_dw_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    int x0, x1;
    s_inner_cols (j, &x0, &x1);
    bool fast = j->l->k == 3 && j->l->cin % 8 == 0;
    for (int oy = oy0; oy < oy1; oy++) {
        if (!fast || !s_inside_y (j, oy)) {
            for (int ox = 0; ox < j->ow; ox++)
                s_dw_pixel (j, oy, ox);
            continue;
        }
        for (int ox = 0; ox < x0; ox++)
            s_dw_pixel (j, oy, ox);
        s_dw_row (j, oy, x0, x1);
        for (int ox = x1; ox < j->ow; ox++)
            s_dw_pixel (j, oy, ox);
    }
}

static void
s_pool_pixel (const job_t *j, int oy, int ox)
{
    const mw_layer_t *l = j->l;
    const int k = l->k, s = l->stride, C = l->cin;
    float *o = j->out + ((size_t) oy * j->ow + ox) * C;
    bool first = true;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * s - l->pad_t + ky;
        if (iy < 0 || iy >= j->ih)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * s - l->pad_l + kx;
            if (ix < 0 || ix >= j->iw)
                continue;
            const float *x = j->in + ((size_t) iy * j->iw + ix) * C;
            if (first)
                memcpy (o, x, (size_t) C * sizeof (float));
            else
                for (int c = 0; c < C; c++)
                    o[c] = x[c] > o[c] ? x[c] : o[c];
            first = false;
        }
    }
    for (int c = 0; c < C; c++)
        o[c] = s_act (o[c], l->act);
}

//  2x2 max-pool, interior pixels of one row.
MW_CLONES static void
s_pool_row (const job_t *j, int oy, int x0, int x1)
{
    const mw_layer_t *l = j->l;
    const int s = l->stride, C = l->cin;
    const float *r0 = j->in + (size_t) (oy * s - l->pad_t) * j->iw * C;
    const float *r1 = r0 + (size_t) j->iw * C;
    for (int ox = x0; ox < x1; ox++) {
        const size_t ix = (size_t) (ox * s - l->pad_l) * C;
        float *o = j->out + ((size_t) oy * j->ow + ox) * C;
        for (int c = 0; c < C; c += 8) {
            v8f m = s_vmax (s_vmax (s_ld (r0 + ix + c), s_ld (r0 + ix + C + c)),
                            s_vmax (s_ld (r1 + ix + c), s_ld (r1 + ix + C + c)));
            s_st (o + c, s_vact (m, l->act));
        }
    }
}

static void
s_pool_task (void *arg, int index, int thread)
{
    const job_t *j = arg;
    int oy0 = index * j->rows_per_task;
    int oy1 = oy0 + j->rows_per_task;
    if (oy1 > j->oh)
        oy1 = j->oh;
    int x0, x1;
    s_inner_cols (j, &x0, &x1);
    bool fast = j->l->k == 2 && j->l->cin % 8 == 0;
    for (int oy = oy0; oy < oy1; oy++) {
        if (!fast || !s_inside_y (j, oy)) {
            for (int ox = 0; ox < j->ow; ox++)
                s_pool_pixel (j, oy, ox);
            continue;
        }
        for (int ox = 0; ox < x0; ox++)
            s_pool_pixel (j, oy, ox);
        s_pool_row (j, oy, x0, x1);
        for (int ox = x1; ox < j->ow; ox++)
            s_pool_pixel (j, oy, ox);
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
    int tasks = st->nthreads * (l->op == MW_OP_CONV && !s_use_direct (l) && !s_use_pw (l) ? 1 : 4);
    int rows = (oh + tasks - 1) / tasks;
    if (l->op == MW_OP_CONV && !s_use_direct (l) && !s_use_pw (l)
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
        job_t j = {.st = st, .l = l, .in = st->tptr[l->in], .out = st->tptr[l->out]};
        j.ih = net->tensors[l->in].h;
        j.iw = net->tensors[l->in].w;
        j.oh = net->tensors[l->out].h;
        j.ow = net->tensors[l->out].w;
        j.rows_per_task = s_rows_per_task (st, l, j.oh, j.ow);
        int tasks = (j.oh + j.rows_per_task - 1) / j.rows_per_task;
        mw_pool_fn *fn = l->op == MW_OP_DWCONV    ? s_dw_task
                         : l->op == MW_OP_MAXPOOL ? s_pool_task
                         : s_use_direct (l)       ? s_conv_direct_task
                         : s_use_pw (l)           ? s_pw_task
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
