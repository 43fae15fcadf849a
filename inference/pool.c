/*  =========================================================================
    mw_pool - a tiny fork-join thread pool for the CPU inference backend.

    Why not OpenMP: OpenBLAS (pthread build on Debian) and an OpenMP runtime
    would each keep their own spinning threads, and on a 2-core box two
    sets of spinners fight.  One small pool that we control, with OpenBLAS
    called single-threaded from inside it, keeps exactly one thread per core.

    Protocol: the caller publishes (fn, arg, ntasks) under the mutex and
    bumps `generation`; workers wake (after a short spin on the generation
    counter, or from the condition variable), grab indices from `next`
    until exhausted, and count themselves out in `active`.  The caller works
    too and then waits for `active` to reach zero.
    ========================================================================= */
#include "inference/pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MW_POOL_MAX  64
#define MW_POOL_SPIN 20000

struct _mw_pool_t {
    int nthreads;
    pthread_t threads[MW_POOL_MAX];
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint generation;
    atomic_int next;
    atomic_int active;   //  workers still inside the current job
    int ntasks;
    mw_pool_fn *fn;
    void *arg;
    bool stop;
};

typedef struct {
    mw_pool_t *pool;
    int id;
} worker_arg_t;

static void
s_work (mw_pool_t *self, int thread)
{
    int n = self->ntasks;
    for (;;) {
        int i = atomic_fetch_add_explicit (&self->next, 1, memory_order_relaxed);
        if (i >= n)
            break;
        self->fn (self->arg, i, thread);
    }
}

static void *
s_worker (void *varg)
{
    worker_arg_t *wa = varg;
    mw_pool_t *self = wa->pool;
    int id = wa->id;
    free (wa);
    unsigned seen = 0;
    for (;;) {
        //  Spin a little first: the next layer usually follows at once.
        int spins = 0;
        while (atomic_load_explicit (&self->generation, memory_order_acquire) == seen && spins < MW_POOL_SPIN)
            spins++;
        pthread_mutex_lock (&self->mutex);
        while (!self->stop && atomic_load (&self->generation) == seen)
            pthread_cond_wait (&self->wake, &self->mutex);
        if (self->stop) {
            pthread_mutex_unlock (&self->mutex);
            break;
        }
        seen = atomic_load (&self->generation);
        pthread_mutex_unlock (&self->mutex);
        s_work (self, id);
        if (atomic_fetch_sub_explicit (&self->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock (&self->mutex);
            pthread_cond_signal (&self->done);
            pthread_mutex_unlock (&self->mutex);
        }
    }
    return NULL;
}

int
mw_pool_ncpus (void)
{
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MW_POOL_MAX ? MW_POOL_MAX : (int) n;
}

mw_pool_t *
mw_pool_new (int nthreads)
{
    if (nthreads <= 0)
        nthreads = mw_pool_ncpus ();
    if (nthreads > MW_POOL_MAX)
        nthreads = MW_POOL_MAX;
    mw_pool_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->nthreads = 1;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->wake, NULL);
    pthread_cond_init (&self->done, NULL);
    for (int i = 1; i < nthreads; i++) {
        worker_arg_t *wa = malloc (sizeof (*wa));
        if (!wa)
            break;
        wa->pool = self;
        wa->id = i;
        if (pthread_create (&self->threads[i], NULL, s_worker, wa) != 0) {
            free (wa);
            break;
        }
        self->nthreads++;
    }
    if (self->nthreads != nthreads) {
        mw_pool_destroy (&self);
        return NULL;
    }
    return self;
}

void
mw_pool_destroy (mw_pool_t **self_p)
{
    assert (self_p);
    mw_pool_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->mutex);
    self->stop = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->mutex);
    for (int i = 1; i < self->nthreads; i++)
        pthread_join (self->threads[i], NULL);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->done);
    free (self);
    *self_p = NULL;
}

int
mw_pool_size (mw_pool_t *self)
{
    assert (self);
    return self->nthreads;
}

void
mw_pool_run (mw_pool_t *self, int ntasks, mw_pool_fn *fn, void *arg)
{
    assert (self && fn && ntasks >= 0);
    if (ntasks == 0)
        return;
    if (self->nthreads == 1 || ntasks == 1) {
        for (int i = 0; i < ntasks; i++)
            fn (arg, i, 0);
        return;
    }
    pthread_mutex_lock (&self->mutex);
    self->fn = fn;
    self->arg = arg;
    self->ntasks = ntasks;
    atomic_store (&self->next, 0);
    atomic_store (&self->active, self->nthreads - 1);
    atomic_fetch_add_explicit (&self->generation, 1, memory_order_release);
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->mutex);
    s_work (self, 0);
    //  Wait for the workers: spin first, then sleep.
    for (int spins = 0;
         atomic_load_explicit (&self->active, memory_order_acquire) > 0 && spins < MW_POOL_SPIN; spins++)
        ;
    if (atomic_load_explicit (&self->active, memory_order_acquire) > 0) {
        pthread_mutex_lock (&self->mutex);
        while (atomic_load (&self->active) > 0)
            pthread_cond_wait (&self->done, &self->mutex);
        pthread_mutex_unlock (&self->mutex);
    }
}

//  --------------------------------------------------------------------------

typedef struct {
    atomic_int hits[1000];
    atomic_long sum;
} test_arg_t;

static void
s_test_task (void *varg, int index, int thread)
{
    test_arg_t *t = varg;
    atomic_fetch_add (&t->hits[index], 1);
    atomic_fetch_add (&t->sum, index);
    (void) thread;
}

int
mw_pool_test (bool verbose)
{
    int fails = 0;
    for (int n = 1; n <= 4; n++) {
        mw_pool_t *pool = mw_pool_new (n);
        if (!pool || mw_pool_size (pool) != n) {
            fprintf (stderr, "mw_pool_test: new(%d) failed\n", n);
            return -1;
        }
        for (int round = 0; round < 200; round++) {
            static test_arg_t t;
            for (int i = 0; i < 1000; i++)
                atomic_store (&t.hits[i], 0);
            atomic_store (&t.sum, 0);
            int tasks = 1 + (round * 37) % 1000;
            mw_pool_run (pool, tasks, s_test_task, &t);
            for (int i = 0; i < 1000; i++)
                if (atomic_load (&t.hits[i]) != (i < tasks)) {
                    fails++;
                    break;
                }
            if (atomic_load (&t.sum) != (long) tasks * (tasks - 1) / 2)
                fails++;
        }
        mw_pool_destroy (&pool);
        if (pool)
            fails++;
    }
    if (verbose)
        printf ("  pool: %d cpus\n", mw_pool_ncpus ());
    return fails ? -1 : 0;
}
