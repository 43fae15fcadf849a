/*  =========================================================================
    backend_cuda - the three ops of net.h as CUDA kernels (--with-cuda).

    Same contract as ops_cpu.c (see backend.h), same numbers to ~1e-5:

    * prepare () does every allocation: one device arena holding every root
      tensor (views are pointers into their root), one device buffer with
      every layer's weights and biases (uploaded once), a pinned host input
      buffer and one pinned host buffer per output, a stream and the
      profiling events.  run () allocates nothing.
    * run () = H2D copy of the input, one kernel per layer, D2H copies of
      the outputs, stream synchronise.  After the first eager run the whole
      sequence is captured once in a CUDA graph and later runs launch the
      graph (MW_CUDA_NO_GRAPH=1 in the environment turns that off; so does
      profiling, which needs events between the layers).
    * Kernels (no cuBLAS, so the CUDA build only needs cudart):
        - CONV with cin > 4: implicit GEMM, C[M = oh*ow][cout] =
          A[M][k*k*cin] * W[k*k*cin][cout] with A gathered from the NHWC
          input on the fly (the plain 1x1 stride-1 case reads the input as
          A directly); 64x64 output tile per 256-thread block, 4x4 per
          thread, K in steps of 16 through shared memory; bias +
          activation fused in the epilogue.
        - CONV with cin <= 4 (the first layer of both models): direct, one
          thread per output element, output channel fastest.
        - DWCONV, MAXPOOL: direct, one thread per output element, channel
          fastest (NHWC makes a warp's loads contiguous), bias/activation
          fused.  Bias first then taps, in the same order as the CPU.
      Activations are computed exactly as the CPU does (leaky 0.1 as
      relu(x - 0.1x) + 0.1x with explicit round-to-nearest ops, so nvcc
      cannot fuse them into an FMA with a different rounding).
    * Every CUDA call is checked; a failure is -1 / NULL with a message in
      err, never an abort.
    ========================================================================= */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern "C" {
#include "inference/backend.h"
#include "common/log.h"
}

#define MW_CUDA_THREADS 256
//  Tiles of the implicit-GEMM convolution.
#define MW_BM 64
#define MW_BN 64
#define MW_BK 16
//  Device buffers are carved at 64-float (256-byte) boundaries.
#define MW_CUDA_ALIGN 64

typedef struct {
    const mw_net_t *net;
    int device;
    cudaStream_t stream;
    float *d_act;   //  every root tensor
    size_t act_elems;
    float **dptr;   //  per tensor, device
    float *d_par;   //  weights + biases
    size_t par_elems;
    const float **d_w;   //  per layer, device (NULL for MAXPOOL)
    const float **d_b;   //  per layer, device or NULL
    float *h_in;         //  pinned
    size_t in_elems;
    float *h_out[MW_NET_MAX_OUTPUTS];   //  pinned
    size_t out_elems[MW_NET_MAX_OUTPUTS];
    cudaEvent_t *ev;   //  nlayers + 1, for profiling
    double *profile;
    bool use_graph;
    int eager_runs;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
} cuda_state_t;

//  Check one CUDA call; on failure fill err and jump to `fail`.
#define MW_CK(call)                                                                                          \
    do {                                                                                                     \
        cudaError_t rc_ = (call);                                                                            \
        if (rc_ != cudaSuccess) {                                                                            \
            snprintf (err, errlen, "cuda: %s: %s (%d)", #call, cudaGetErrorString (rc_), (int) rc_);         \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

//  ---------------------------------------------------------------------
//  Kernels

__device__ __forceinline__ float
k_act (float x, int act)
{
    if (act == MW_ACT_RELU6)
        return x < 0.f ? 0.f : x > 6.f ? 6.f : x;
    if (act == MW_ACT_LEAKY) {
        float m = __fmul_rn (x, 0.1f);
        float r = __fsub_rn (x, m);
        return __fadd_rn (r > 0.f ? r : 0.f, m);
    }
    return x;
}

typedef struct {
    const float *in;
    float *out;
    const float *w;
    const float *b;   //  or NULL
    int ih, iw, cin;
    int oh, ow, cout;
    int k, s, pt, pl;
    int act;
    int M, K;   //  GEMM view: M = oh*ow, K = k*k*cin, N = cout
} conv_args_t;

//  Implicit-GEMM convolution.  PLAIN: 1x1, stride 1, no padding, so A is
//  the input itself ([M][cin], row-major).
template <bool PLAIN>
__global__ void
__launch_bounds__ (MW_CUDA_THREADS) k_conv_gemm (conv_args_t a)
{
    __shared__ __align__ (16) float As[MW_BK][MW_BM + 4];   //  A^T tile
    __shared__ __align__ (16) float Bs[MW_BK][MW_BN];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.x * MW_BM, n0 = blockIdx.y * MW_BN;   //  M on x: no 65535 limit
    const int N = a.cout, M = a.M, K = a.K;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += MW_BK) {
        //  A tile: 64 rows x 16 k; consecutive threads take consecutive k
        //  (contiguous channels in NHWC).
#pragma unroll
        for (int r = 0; r < (MW_BM * MW_BK) / MW_CUDA_THREADS; r++) {
            int e = tid + r * MW_CUDA_THREADS;
            int mm = e / MW_BK, kk = e % MW_BK;
            int m = m0 + mm, k = k0 + kk;
            float v = 0.f;
            if (m < M && k < K) {
                if (PLAIN)
                    v = __ldg (a.in + (size_t) m * K + k);
                else {
                    int oy = m / a.ow, ox = m - oy * a.ow;
                    int tap = k / a.cin, ci = k - tap * a.cin;
                    int ky = tap / a.k, kx = tap - ky * a.k;
                    int iy = oy * a.s - a.pt + ky, ix = ox * a.s - a.pl + kx;
                    if (iy >= 0 && iy < a.ih && ix >= 0 && ix < a.iw)
                        v = __ldg (a.in + ((size_t) iy * a.iw + ix) * a.cin + ci);
                }
            }
            As[kk][mm] = v;
        }
        //  B tile: 16 k x 64 n, coalesced along n.
#pragma unroll
        for (int r = 0; r < (MW_BK * MW_BN) / MW_CUDA_THREADS; r++) {
            int e = tid + r * MW_CUDA_THREADS;
            int kk = e / MW_BN, nn = e % MW_BN;
            int k = k0 + kk, n = n0 + nn;
            Bs[kk][nn] = (k < K && n < N) ? __ldg (a.w + (size_t) k * N + n) : 0.f;
        }
        __syncthreads ();
#pragma unroll
        for (int kk = 0; kk < MW_BK; kk++) {
            float4 av = *reinterpret_cast<const float4 *> (&As[kk][ty * 4]);
            float4 bv = *reinterpret_cast<const float4 *> (&Bs[kk][tx * 4]);
            float ar[4] = {av.x, av.y, av.z, av.w};
            float br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] = fmaf (ar[i], br[j], acc[i][j]);
        }
        __syncthreads ();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M)
            continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) {
                float v = acc[i][j];
                if (a.b)
                    v += __ldg (a.b + n);
                a.out[(size_t) m * N + n] = k_act (v, a.act);
            }
        }
    }
}

//  Direct convolution for a few input channels: one thread per output
//  element, output channel fastest.
__global__ void
__launch_bounds__ (MW_CUDA_THREADS) k_conv_direct (conv_args_t a)
{
    const int total = a.M * a.cout;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
        int co = idx % a.cout, m = idx / a.cout;
        int oy = m / a.ow, ox = m - oy * a.ow;
        float acc = 0.f;
        for (int ky = 0; ky < a.k; ky++) {
            int iy = oy * a.s - a.pt + ky;
            if (iy < 0 || iy >= a.ih)
                continue;
            for (int kx = 0; kx < a.k; kx++) {
                int ix = ox * a.s - a.pl + kx;
                if (ix < 0 || ix >= a.iw)
                    continue;
                const float *x = a.in + ((size_t) iy * a.iw + ix) * a.cin;
                const float *w = a.w + ((size_t) ky * a.k + kx) * a.cin * a.cout + co;
                for (int ci = 0; ci < a.cin; ci++)
                    acc = fmaf (__ldg (x + ci), __ldg (w + (size_t) ci * a.cout), acc);
            }
        }
        if (a.b)
            acc += __ldg (a.b + co);
        a.out[idx] = k_act (acc, a.act);
    }
}

//  Depthwise k x k: one thread per output element, channel fastest.
__global__ void
__launch_bounds__ (MW_CUDA_THREADS) k_dwconv (conv_args_t a)
{
    const int C = a.cin, total = a.M * C;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
        int c = idx % C, m = idx / C;
        int oy = m / a.ow, ox = m - oy * a.ow;
        float acc = a.b ? __ldg (a.b + c) : 0.f;
        for (int ky = 0; ky < a.k; ky++) {
            int iy = oy * a.s - a.pt + ky;
            if (iy < 0 || iy >= a.ih)
                continue;
            for (int kx = 0; kx < a.k; kx++) {
                int ix = ox * a.s - a.pl + kx;
                if (ix < 0 || ix >= a.iw)
                    continue;
                acc = fmaf (__ldg (a.in + ((size_t) iy * a.iw + ix) * C + c),
                            __ldg (a.w + (ky * a.k + kx) * C + c), acc);
            }
        }
        a.out[idx] = k_act (acc, a.act);
    }
}

//  Max pool with TF SAME padding: padded cells are ignored.
__global__ void
__launch_bounds__ (MW_CUDA_THREADS) k_maxpool (conv_args_t a)
{
    const int C = a.cin, total = a.M * C;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += gridDim.x * blockDim.x) {
        int c = idx % C, m = idx / C;
        int oy = m / a.ow, ox = m - oy * a.ow;
        float v = 0.f;
        bool first = true;
        for (int ky = 0; ky < a.k; ky++) {
            int iy = oy * a.s - a.pt + ky;
            if (iy < 0 || iy >= a.ih)
                continue;
            for (int kx = 0; kx < a.k; kx++) {
                int ix = ox * a.s - a.pl + kx;
                if (ix < 0 || ix >= a.iw)
                    continue;
                float x = __ldg (a.in + ((size_t) iy * a.iw + ix) * C + c);
                v = first ? x : (x > v ? x : v);
                first = false;
            }
        }
        a.out[idx] = k_act (v, a.act);
    }
}

//  ---------------------------------------------------------------------
//  Host side

static size_t
s_round_up (size_t n)
{
    return (n + MW_CUDA_ALIGN - 1) & ~(size_t) (MW_CUDA_ALIGN - 1);
}

static size_t
s_weight_elems (const mw_layer_t *l)
{
    if (l->op == MW_OP_CONV)
        return (size_t) l->k * l->k * l->cin * l->cout;
    if (l->op == MW_OP_DWCONV)
        return (size_t) l->k * l->k * l->cin;
    return 0;
}

static int
s_blocks (int total)
{
    int b = (total + MW_CUDA_THREADS - 1) / MW_CUDA_THREADS;
    return b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b;
}

//  Enqueue one layer on the stream (no synchronisation).
static cudaError_t
s_launch (cuda_state_t *st, int i)
{
    const mw_net_t *net = st->net;
    const mw_layer_t *l = &net->layers[i];
    const mw_tdesc_t *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
    conv_args_t a;
    a.in = st->dptr[l->in];
    a.out = st->dptr[l->out];
    a.w = st->d_w[i];
    a.b = st->d_b[i];
    a.ih = ti->h;
    a.iw = ti->w;
    a.cin = l->cin;
    a.oh = to->h;
    a.ow = to->w;
    a.cout = l->cout;
    a.k = l->k;
    a.s = l->stride;
    a.pt = l->pad_t;
    a.pl = l->pad_l;
    a.act = (int) l->act;
    a.M = to->h * to->w;
    a.K = l->k * l->k * l->cin;
    if (l->op == MW_OP_CONV && l->cin <= 4)
        k_conv_direct<<<s_blocks (a.M * a.cout), MW_CUDA_THREADS, 0, st->stream>>> (a);
    else if (l->op == MW_OP_CONV) {
        dim3 grid ((a.M + MW_BM - 1) / MW_BM, (a.cout + MW_BN - 1) / MW_BN);
        bool plain = l->k == 1 && l->stride == 1 && !l->pad_t && !l->pad_l && !l->pad_b && !l->pad_r;
        if (plain)
            k_conv_gemm<true><<<grid, MW_CUDA_THREADS, 0, st->stream>>> (a);
        else
            k_conv_gemm<false><<<grid, MW_CUDA_THREADS, 0, st->stream>>> (a);
    }
    else if (l->op == MW_OP_DWCONV)
        k_dwconv<<<s_blocks (a.M * a.cin), MW_CUDA_THREADS, 0, st->stream>>> (a);
    else
        k_maxpool<<<s_blocks (a.M * a.cin), MW_CUDA_THREADS, 0, st->stream>>> (a);
    return cudaGetLastError ();
}

//  Enqueue a whole forward pass: input in, every layer, outputs out.
//  With `events`, record st->ev[i] before layer i and ev[nlayers] at the end.
//  *bad: the layer whose launch failed (-1: a copy or an event).
static cudaError_t
s_enqueue (cuda_state_t *st, bool events, int *bad)
{
    *bad = -1;
    const mw_net_t *net = st->net;
    cudaError_t rc = cudaMemcpyAsync (st->dptr[net->input], st->h_in, st->in_elems * sizeof (float),
                                      cudaMemcpyHostToDevice, st->stream);
    for (int i = 0; rc == cudaSuccess && i < net->nlayers; i++) {
        if (events)
            rc = cudaEventRecord (st->ev[i], st->stream);
        if (rc == cudaSuccess && (rc = s_launch (st, i)) != cudaSuccess)
            *bad = i;
    }
    if (rc == cudaSuccess && events)
        rc = cudaEventRecord (st->ev[net->nlayers], st->stream);
    for (int o = 0; rc == cudaSuccess && o < net->noutputs; o++)
        rc = cudaMemcpyAsync (st->h_out[o], st->dptr[net->outputs[o]], st->out_elems[o] * sizeof (float),
                              cudaMemcpyDeviceToHost, st->stream);
    return rc;
}

static void s_release (void **state_p);

static void *
s_prepare (const mw_net_t *net, int threads, char *err, size_t errlen)
{
    (void) threads;
    if (!net || net->nlayers < 1 || net->noutputs < 1) {
        snprintf (err, errlen, "cuda: empty net");
        return NULL;
    }
    cuda_state_t *st = (cuda_state_t *) calloc (1, sizeof (*st));
    float *h_par = NULL;
    size_t *root_off = NULL;
    int ndev = 0;
    const int nt = net->ntensors, nl = net->nlayers;
    if (!st) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    st->net = net;
    st->dptr = (float **) calloc ((size_t) nt, sizeof (float *));
    st->d_w = (const float **) calloc ((size_t) nl, sizeof (float *));
    st->d_b = (const float **) calloc ((size_t) nl, sizeof (float *));
    st->ev = (cudaEvent_t *) calloc ((size_t) nl + 1, sizeof (cudaEvent_t));
    root_off = (size_t *) calloc ((size_t) nt, sizeof (size_t));
    if (!st->dptr || !st->d_w || !st->d_b || !st->ev || !root_off) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    MW_CK (cudaGetDeviceCount (&ndev));
    if (ndev < 1) {
        snprintf (err, errlen, "cuda: no device");
        goto fail;
    }
    st->device = 0;
    MW_CK (cudaSetDevice (st->device));
    MW_CK (cudaStreamCreateWithFlags (&st->stream, cudaStreamNonBlocking));
    for (int i = 0; i <= nl; i++)
        MW_CK (cudaEventCreate (&st->ev[i]));

    //  Activations: every root tensor gets its own slice of one arena
    //  (no reuse: the largest model needs tens of MB, and a slice per
    //  tensor keeps the captured graph trivially correct).
    for (int t = 0; t < nt; t++)
        if (net->tensors[t].parent < 0) {
            root_off[t] = st->act_elems;
            st->act_elems += s_round_up (mw_net_tensor_elems (net, t));
        }
    MW_CK (cudaMalloc ((void **) &st->d_act, st->act_elems * sizeof (float)));
    MW_CK (cudaMemset (st->d_act, 0, st->act_elems * sizeof (float)));
    for (int t = 0; t < nt; t++) {
        const mw_tdesc_t *d = &net->tensors[t];
        st->dptr[t] = d->parent < 0 ? st->d_act + root_off[t] : st->d_act + root_off[d->parent] + d->offset;
    }

    //  Weights and biases: packed once on the host, one upload.
    for (int i = 0; i < nl; i++) {
        const mw_layer_t *l = &net->layers[i];
        st->par_elems += s_round_up (s_weight_elems (l));
        if (l->bias)
            st->par_elems += s_round_up ((size_t) l->cout);
        if (l->op != MW_OP_MAXPOOL && !l->weights) {
            snprintf (err, errlen, "cuda: layer %s has no weights", l->name);
            goto fail;
        }
    }
    if (st->par_elems) {
        h_par = (float *) calloc (st->par_elems, sizeof (float));
        if (!h_par) {
            snprintf (err, errlen, "out of memory");
            goto fail;
        }
        MW_CK (cudaMalloc ((void **) &st->d_par, st->par_elems * sizeof (float)));
        size_t off = 0;
        for (int i = 0; i < nl; i++) {
            const mw_layer_t *l = &net->layers[i];
            size_t we = s_weight_elems (l);
            if (we) {
                memcpy (h_par + off, l->weights, we * sizeof (float));
                st->d_w[i] = st->d_par + off;
                off += s_round_up (we);
            }
            if (l->bias) {
                memcpy (h_par + off, l->bias, (size_t) l->cout * sizeof (float));
                st->d_b[i] = st->d_par + off;
                off += s_round_up ((size_t) l->cout);
            }
        }
        MW_CK (cudaMemcpy (st->d_par, h_par, st->par_elems * sizeof (float), cudaMemcpyHostToDevice));
    }

    //  Pinned staging buffers.
    st->in_elems = mw_net_tensor_elems (net, net->input);
    MW_CK (cudaMallocHost ((void **) &st->h_in, st->in_elems * sizeof (float)));
    memset (st->h_in, 0, st->in_elems * sizeof (float));
    for (int o = 0; o < net->noutputs; o++) {
        st->out_elems[o] = mw_net_tensor_elems (net, net->outputs[o]);
        MW_CK (cudaMallocHost ((void **) &st->h_out[o], st->out_elems[o] * sizeof (float)));
        memset (st->h_out[o], 0, st->out_elems[o] * sizeof (float));
    }
    MW_CK (cudaDeviceSynchronize ());
    {
        const char *no_graph = getenv ("MW_CUDA_NO_GRAPH");
        st->use_graph = !(no_graph && *no_graph && strcmp (no_graph, "0") != 0);
    }
    mw_debug ("infer_cuda_prepare", "device=%d activations_mb=%.1f params_mb=%.1f layers=%d graph=%d",
              st->device, st->act_elems * 4.0 / 1048576, st->par_elems * 4.0 / 1048576, nl,
              (int) st->use_graph);
    free (h_par);
    free (root_off);
    return st;
fail:
    free (h_par);
    free (root_off);
    s_release ((void **) &st);
    return NULL;
}

static float *
s_input (void *state)
{
    return ((cuda_state_t *) state)->h_in;
}

//  Capture one forward pass into st->exec.  On any failure the graph is
//  simply not used (eager launches keep working).
static void
s_capture (cuda_state_t *st)
{
    cudaGraph_t graph = NULL;
    cudaError_t rc = cudaStreamBeginCapture (st->stream, cudaStreamCaptureModeThreadLocal);
    if (rc == cudaSuccess) {
        int bad;
        cudaError_t rc2 = s_enqueue (st, false, &bad);
        rc = cudaStreamEndCapture (st->stream, &graph);
        if (rc == cudaSuccess)
            rc = rc2;
    }
    if (rc == cudaSuccess)
        rc = cudaGraphInstantiate (&st->exec, graph, 0);
    if (rc != cudaSuccess) {
        mw_warn ("infer_cuda_graph", "disabled=1 msg=\"%s\"", cudaGetErrorString (rc));
        cudaGetLastError ();   //  clear a non-sticky error
        if (graph)
            cudaGraphDestroy (graph);
        st->exec = NULL;
        st->use_graph = false;
        return;
    }
    st->graph = graph;
}

static int
s_run (void *state, char *err, size_t errlen)
{
    cuda_state_t *st = (cuda_state_t *) state;
    const mw_net_t *net = st->net;
    bool events = st->profile != NULL;
    int bad = -1;
    cudaError_t rc;
    MW_CK (cudaSetDevice (st->device));
    if (events || !st->use_graph || st->eager_runs == 0) {
        if ((rc = s_enqueue (st, events, &bad)) != cudaSuccess) {
            snprintf (err, errlen, "cuda: launch of layer %d (%s) failed: %s (%d)", bad,
                      bad >= 0 ? net->layers[bad].name : "copy", cudaGetErrorString (rc), (int) rc);
            return -1;
        }
        MW_CK (cudaStreamSynchronize (st->stream));
        st->eager_runs++;
        if (events)
            for (int i = 0; i < net->nlayers; i++) {
                float ms = 0.f;
                MW_CK (cudaEventElapsedTime (&ms, st->ev[i], st->ev[i + 1]));
                st->profile[i] += ms;
            }
        //  The first run checked every kernel; capture the sequence now.
        if (st->use_graph && !st->exec)
            s_capture (st);
        return 0;
    }
    MW_CK (cudaGraphLaunch (st->exec, st->stream));
    MW_CK (cudaStreamSynchronize (st->stream));
    return 0;
fail:
    return -1;
}

static const float *
s_output (void *state, int index)
{
    cuda_state_t *st = (cuda_state_t *) state;
    if (index < 0 || index >= st->net->noutputs)
        return NULL;
    return st->h_out[index];
}

static void
s_profile (void *state, double *layer_ms)
{
    ((cuda_state_t *) state)->profile = layer_ms;
}

//  Frees whatever prepare got to; errors are ignored (nothing to report
//  them to, and a failed free must not stop the others).
static void
s_release (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    cuda_state_t *st = (cuda_state_t *) *state_p;
    if (st->stream)
        cudaStreamSynchronize (st->stream);
    if (st->exec)
        cudaGraphExecDestroy (st->exec);
    if (st->graph)
        cudaGraphDestroy (st->graph);
    if (st->ev)
        for (int i = 0; i <= st->net->nlayers; i++)
            if (st->ev[i])
                cudaEventDestroy (st->ev[i]);
    for (int o = 0; o < MW_NET_MAX_OUTPUTS; o++)
        if (st->h_out[o])
            cudaFreeHost (st->h_out[o]);
    if (st->h_in)
        cudaFreeHost (st->h_in);
    if (st->d_par)
        cudaFree (st->d_par);
    if (st->d_act)
        cudaFree (st->d_act);
    if (st->stream)
        cudaStreamDestroy (st->stream);
    cudaGetLastError ();
    free (st->ev);
    free (st->d_w);
    free (st->d_b);
    free (st->dptr);
    free (st);
    *state_p = NULL;
}

static const mw_backend_ops_t s_cuda_ops = {
    "cuda", s_prepare, s_input, s_run, s_output, s_release, s_profile,
};

extern "C" const mw_backend_ops_t *
mw_backend_cuda (void)
{
    return &s_cuda_ops;
}
