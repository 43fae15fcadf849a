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

#include <stdio.h>
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
    if (verbose)
        printf ("  backend: auto=%s cuda_devices=%d (%s)\n", b ? b->name : "none", mw_backend_cuda_devices (), err);
    return fails ? -1 : 0;
}
