/*  =========================================================================
    sched_placement - where an inference job runs, as pure code.

    A box whose cameras produce more frames than it can analyse in time
    hands jobs to peers.  This module holds every decision on that path so
    that the daemon (node/jobs.c), the simulator (`meshwatch simulate`) and
    the tests run the very same code:

      * admission: will a job finish here before its deadline, given what
        is queued, running and reserved and the measured service time?  The
        same rule answers "accept or refuse" when a peer asks for a
        reservation: a peer decides on its own current state, never on what
        the asker believes about it, so many overloaded boxes cannot herd
        onto one peer whose gossiped forecast looked good a second ago;
      * offload: should this job leave the box at all (per policy);
      * choice: which peers to ask, in which order, from the gossiped
        digests (queue, own arrival rate, service time, CPU forecast),
        each peer's last answer to us, and the age of both.  The
        forecast-aware policy predicts which peers will not fit - the
        freshest observation of a peer's queue, drained by its age at the
        rate the peer's own cameras leave free - and then draws the list
        at random, a peer predicted not to fit a fifth as likely, so that
        offers spread instead of all going to the peer that looked best a
        second ago (docs/PLACEMENT.md says why a filter or a ranking lost
        to random choice).

    No I/O, no clock, no global randomness: the caller passes the state and
    a splitmix64 state (`rng`) it owns, so a run is reproducible.
    ========================================================================= */
#ifndef SCHED_PLACEMENT_H_INCLUDED
#define SCHED_PLACEMENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PLACEMENT_LOCAL = 0,   //  never hand off to a peer (server only when admission fails)
    PLACEMENT_REACTIVE,    //  hand off when *current* load is over a threshold; least-loaded peer now
    PLACEMENT_RANDOM,      //  hand off when admission fails; uniformly random peers
    PLACEMENT_FORECAST,    //  hand off when admission fails; forecasts rule out, chance picks (ours)
    PLACEMENT_PROBE,       //  hand off when admission fails; offer to probe_d random peers at once
    PLACEMENT_ORACLE,      //  simulator only: exact, zero-age view of every peer (the upper bound)
    PLACEMENT_POLICY_COUNT
} placement_policy_t;

typedef struct {
    uint32_t max_candidates;           //  peers offered one job before it goes to the server (3)
    double reactive_threshold;         //  REACTIVE: offload when current utilisation > this, 0..1 (0.8)
    uint32_t max_digest_age_ms;        //  a peer's digest older than this is not trusted (5000)...
    uint32_t max_idle_digest_age_ms;   //  ...unless it says idle and steady: then this (20000)
    double safety;                     //  predicted time is multiplied by this before comparing (1.2)
    uint32_t probe_d;                  //  PROBE: offers sent at once, first accept wins (2)
    uint32_t horizon_ms;               //  ORACLE: a peer's own arrivals this far ahead count (2000)
    double early;                      //  FORECAST: leave early at this share of the queue (0 = off)
    double unfit_weight;   //  FORECAST: draw weight of a peer predicted not to fit (0.2; 0 = never)
} placement_cfg_t;

void placement_cfg_defaults (placement_cfg_t *cfg);

//  A node's own execution state, as it knows it right now.
typedef struct {
    uint32_t queued;       //  jobs waiting in the local queue
    uint32_t running;      //  jobs in service
    uint32_t reserved;     //  reservations granted to peers whose frames have not arrived
    uint32_t workers;      //  parallel service slots (>= 1)
    uint32_t queue_max;    //  bounded queue: queued + reserved never exceeds it
    double svc_ms;         //  expected service time of one job (measured, pessimistic)
    double arrival_rate;   //  jobs/s its own sources submit (about the last second; 0 = unknown)
} placement_local_t;

//  Expected ms until a job admitted now completes here (wait + service).
double placement_local_eta_ms (const placement_local_t *l);
//  Local admission, and a peer's answer to a reservation: true when the
//  queue has room and safety * eta fits `budget_ms`.
bool placement_admit (const placement_cfg_t *cfg, const placement_local_t *l, uint32_t budget_ms);

//  One peer as seen through gossip (its digest), through its last answer
//  to us (a REPLY is a fresh sample of its load, for free) and the link.
typedef struct {
    bool usable;              //  alive (not suspect), runs jobs, digest present
    uint32_t digest_age_ms;   //  age of the digest
    bool idle;               //  the digest says idle and steady (sched_digest_idle): refreshed on change only
    double cpu_now_pct;      //  current utilisation, 0..100 (REACTIVE reads this)
    double cpu_ub_pct;       //  utilisation expected at the first horizon (point forecast or now), 0..100
    double spread_pct;       //  forecast trust: mean abs residual, percent (lower = better)
    uint32_t queue_len;      //  reported queue length (ORACLE: exact jobs ahead, see below)
    double queue_fc;         //  forecast (upper) queue length at the first horizon
    uint32_t workers;        //  service slots (>= 1)
    double svc_ms;           //  the peer's service time per job
    double link_ms;          //  transfer cost: round trip + frame bytes / bandwidth
    double arrival_rate;     //  jobs/s its own sources submit (0: unknown; ORACLE: exact)
    uint32_t heard_age_ms;   //  age of its last REPLY to us (UINT32_MAX: none)
    double heard_ahead;      //  jobs ahead of a new one at that REPLY (ours included if it accepted)
} placement_peer_t;

//  ORACLE is a bound, not a policy a box can run: the simulator fills
//  queue_len with the exact number of jobs ahead (queued + reserved +
//  running) at the moment of the decision, digest_age_ms 0, and
//  arrival_rate with the exact rate of the peer's own cameras now.

//  Expected number of jobs ahead of a new one at `p` now (queued,
//  reserved and running), from the freshest of its digest and its last
//  REPLY, each weighed by its age: an observation decays towards what the
//  peer's utilisation implies (M/D/1) with the queue's relaxation time,
//  svc / (1 - sqrt (rho))^2.  Infinity when !usable or stale.
double placement_peer_ahead (const placement_cfg_t *cfg, const placement_peer_t *p);

//  Predicted completion time (ms) of a job sent now to `p`: link + wait
//  behind placement_peer_ahead + service.  Infinity when !usable or stale.
double placement_peer_eta_ms (const placement_cfg_t *cfg, const placement_peer_t *p);

//  Should a job with `budget_ms` left leave this box?  `util_now` is the
//  current utilisation 0..1 (REACTIVE).  LOCAL: never.  REACTIVE: when
//  util_now > threshold or admission fails.  RANDOM, FORECAST, PROBE,
//  ORACLE: when admission fails.
bool placement_should_offload (const placement_cfg_t *cfg, placement_policy_t policy,
                               const placement_local_t *self, double util_now, uint32_t budget_ms);

//  Candidate peers for one job, in the order to offer it: writes at most
//  `max` (and at most cfg->max_candidates) indices into `peers` to `out`
//  and returns how many.  LOCAL: 0.  REACTIVE: usable peers by lowest
//  current utilisation.  RANDOM, PROBE: usable peers at random.  FORECAST:
//  peers predicted to fit the budget, drawn at random with a weight of
//  their spare capacity; then the others, most likely to fit first.
//  ORACLE: peers that fit, least projected load first.  `rng` is a
//  splitmix64 state owned by the caller.
size_t placement_choose (const placement_cfg_t *cfg, placement_policy_t policy, const placement_peer_t *peers,
                         size_t n, uint32_t budget_ms, uint64_t *rng, uint32_t *out, size_t max);

const char *placement_policy_name (placement_policy_t policy);   //  "local", "reactive", ...
//  Offers a job's first round sends at once: probe_d for PROBE, else 1.
uint32_t placement_batch (const placement_cfg_t *cfg, placement_policy_t policy);
int placement_policy_parse (const char *name, placement_policy_t *policy);   //  0/-1

int placement_test (bool verbose);

#endif
