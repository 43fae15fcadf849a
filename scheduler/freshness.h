/*  =========================================================================
    sched_freshness - when our resource digest is news worth gossiping,
    as pure code (issue 17, "digests that cost what they carry").

    The digest is resampled every COLLECT_INTERVAL_MS (1 s), and every
    sample differs from the last (its sample time at least), so spreading
    every sample costs each box a steady stream of GOSSIP messages (about
    5.5 KB/s per box at N = 20, measured) even on a mesh where nothing
    happens.  What placement needs is not a young digest but a *true
    enough* one.  So a new sample is published (gossip_member_set_digest)
    only when:

      * something structural changed (jobs on/off, ports, workers, queue
        capacity, CPU or memory capacity, horizons, flags): always;
      * the box is busy: forecast headroom below `busy_headroom` %, or a
        job queue (now or forecast): every sample, because that is where
        placement decides and where the numbers move;
      * a reading, a forecast or its upper bound, or the spread moved by
        at least `step_pct` points since the published one; the queue
        length or the job arrival rate moved (by 1 job, 0.5 jobs/s); the
        temperature by 5 degrees C;
      * the published one is `max_age_ms` old (an idle, steady box: peers
        learn it is still there and still idle).

    The freshness peers get (docs/FORECASTS.md, "Freshness"): from a busy
    box, or one whose numbers move, a digest at most one collect interval
    plus the spreading time old (p99 <= 2 s at N = 20); from an idle, steady
    box, values within `step_pct` points of the truth, published at most
    `max_age_ms` ago (15 s: under placement's 20 s limit for idle digests).

    No clock, no socket: the agent passes what it published and when.
    ========================================================================= */
#ifndef SCHED_FRESHNESS_H_INCLUDED
#define SCHED_FRESHNESS_H_INCLUDED

#include "scheduler/digest.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t max_age_ms;    //  an unchanged digest is published again after this (0: every sample)
    double step_pct;        //  a reading or forecast that moved this many points is news
    double busy_headroom;   //  below this forecast headroom (%), every sample is news
} sched_freshness_t;

//  max_age 15 s, step 5 points, busy below 30 % headroom.
void sched_freshness_defaults (sched_freshness_t *cfg);

//  Whether `now` must be published, given the digest published last
//  (`sent`, NULL: none yet) `since_ms` ago.
bool sched_freshness_due (const sched_freshness_t *cfg, const sched_digest_t *sent, const sched_digest_t *now,
                          uint64_t since_ms);

int sched_freshness_test (bool verbose);

#endif
