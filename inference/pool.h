/*  =========================================================================
    mw_pool - a tiny fork-join thread pool for the CPU inference backend.

    One parallel_for at a time: the caller hands out `ntasks` indices, the
    workers (and the caller itself) take them from an atomic counter, and
    the call returns when all are done.  Workers are created once; between
    calls they spin briefly (a frame's layers come back to back) and then
    sleep on a condition variable, so an idle detector costs no CPU.
    Portable pthreads + C11 atomics: the field target is aarch64.
    ========================================================================= */
#ifndef MW_POOL_H_INCLUDED
#define MW_POOL_H_INCLUDED

#include <stdbool.h>

typedef struct _mw_pool_t mw_pool_t;

//  task (arg, index, thread): thread is 0..nthreads-1 (0 = the caller), for
//  per-thread scratch buffers.
typedef void (mw_pool_fn) (void *arg, int index, int thread);

//  nthreads <= 0: one per online CPU.  Returns NULL on failure.
mw_pool_t *mw_pool_new (int nthreads);
void mw_pool_destroy (mw_pool_t **self_p);
int mw_pool_size (mw_pool_t *self);
//  Run fn for index 0..ntasks-1 across the pool; returns when all are done.
void mw_pool_run (mw_pool_t *self, int ntasks, mw_pool_fn *fn, void *arg);
//  Number of online CPUs (at least 1).
int mw_pool_ncpus (void);

int mw_pool_test (bool verbose);

#endif
