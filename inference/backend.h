/*  =========================================================================
    mw_backend - the boundary between a model and the hardware it runs on.

    A backend is a small vtable over an mw_net_t (see net.h for the three
    ops it must implement).  The life cycle is the same everywhere:

        state = ops->prepare (net, threads, err, errlen);   // once per model
        float *in = ops->input (state);     // host buffer, [S,S,3] NHWC
        ... write the preprocessed frame into `in` ...
        ops->run (state, err, errlen);      // 0 or -1
        const float *o = ops->output (state, i);   // host, net->outputs[i]
        ops->release (&state);

    prepare () does every allocation (activations, scratch, device copies
    of the weights), so run () never allocates.  The CPU backend is
    ops_cpu.c.  A CUDA backend (backend_cuda.cu, --with-cuda) implements the
    same struct: prepare uploads weights and cudaMallocs the activations,
    input () returns a pinned host staging buffer, run () copies it in,
    launches one kernel per layer (or a captured CUDA graph), copies the
    outputs back to pinned host buffers and synchronises.

    Selection is at run time: with MW_BACKEND_AUTO, CUDA is used when the
    binary was built with MW_HAVE_CUDA and cudaGetDeviceCount () reports a
    device; otherwise the CPU backend.
    ========================================================================= */
#ifndef MW_BACKEND_H_INCLUDED
#define MW_BACKEND_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "inference/net.h"

typedef enum { MW_BACKEND_AUTO = 0, MW_BACKEND_CPU, MW_BACKEND_CUDA } mw_backend_kind_t;

typedef struct {
    const char *name;
    //  threads: host threads to use (<= 0: all cores).  NULL on failure.
    void *(*prepare) (const mw_net_t *net, int threads, char *err, size_t errlen);
    float *(*input) (void *state);
    int (*run) (void *state, char *err, size_t errlen);
    const float *(*output) (void *state, int index);
    void (*release) (void **state_p);
    //  Optional (may be NULL): accumulate per-layer milliseconds into
    //  layer_ms[net->nlayers] on every run (NULL turns it off).
    void (*profile) (void *state, double *layer_ms);
} mw_backend_ops_t;

//  The CPU backend (always there).
const mw_backend_ops_t *mw_backend_cpu (void);
#ifdef MW_HAVE_CUDA
//  The CUDA backend, or NULL if it is not available in this build.
const mw_backend_ops_t *mw_backend_cuda (void);
#endif

//  Number of usable CUDA devices (0 without MW_HAVE_CUDA or a driver).
int mw_backend_cuda_devices (void);

//  Pick a backend.  AUTO: CUDA if compiled in and a device exists, else
//  CPU.  CUDA when not available: NULL and a message.
const mw_backend_ops_t *mw_backend_select (mw_backend_kind_t want, char *err, size_t errlen);

//  "auto" | "cpu" | "cuda" -> kind, or -1.
int mw_backend_parse (const char *text);

//  Conformance check for any backend: random small nets covering every op
//  variant the models use (direct 3x3 on 3 channels, 1x1 GEMM with small
//  and large K, 3x3 stride-2 SAME conv, depthwise stride 1/2 with and
//  without bias, max-pool stride 1/2, the three activations, views into a
//  shared output) against a naive reference.  Returns 0 if every output is
//  within 1e-4 (relative to max(1, |value|)).  The CUDA backend should
//  pass it too.
int mw_backend_check (const mw_backend_ops_t *ops, int threads, bool verbose);

int mw_backend_test (bool verbose);

#endif
