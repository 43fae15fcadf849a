/*  =========================================================================
    mw_loghup - SIGHUP reopens LOG_FILE; it never stops the process.

    logrotate renames the log and sends SIGHUP (postrotate): the agent must
    then write to a new file of the old name, and must not die (SIGHUP's
    default action is to terminate, and a logrotate that stopped the
    service was a reported bug).

    The signal handler only writes one byte to a pipe (async-signal-safe);
    a small thread reads the pipe, reopens the file (mw_log_reopen) and logs
    `log_reopened` there, or `log_reopen_failed` to the old file and to
    stderr.  mw_loghup_new blocks SIGHUP in the calling thread, so create it
    before other threads: they inherit the mask and a SIGHUP never
    interrupts them (some loops, czmq's pollers among them, stop on EINTR).
    Threads that existed before (a BLAS pool started at load time) may
    still run the handler: it is harmless there.  One at a time per process.
    ========================================================================= */
#ifndef MW_LOGHUP_H_INCLUDED
#define MW_LOGHUP_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _mw_loghup_t mw_loghup_t;

//  Install the handler and start the thread.  NULL on failure (then SIGHUP
//  keeps whatever disposition it had).
mw_loghup_t *mw_loghup_new (void);
//  Stop the thread; SIGHUP gets back its disposition from before new.
void mw_loghup_destroy (mw_loghup_t **self_p);
//  SIGHUPs handled so far (each one reopened, or tried to).
uint64_t mw_loghup_count (mw_loghup_t *self);

int mw_loghup_test (bool verbose);

#endif
