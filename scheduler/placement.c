/*  =========================================================================
    sched_placement - where an inference job runs (see placement.h, and
    docs/PLACEMENT.md for the rules and the simulator that measures them).

    Everything here is a small formula over numbers the caller hands in.
    The numbers come from the network (a peer's digest) or from counters
    that may race with the job loop, so every function treats NaN,
    infinities, zero workers and absurd sizes as "do not know" and answers
    pessimistically: an unknown peer is one we do not send to, an unknown
    local state is one we do not admit into.  Nothing here asserts on
    input, only on NULL pointers where the API says they are required.

    Why the eta formulas look the way they do:

      * locally we know exactly how many jobs are ahead of a new one
        (queued, reserved for frames on their way, running).  With w
        service slots, a new job starts when the (ahead - w + 1)-th of
        those has left a slot; slots free up about every svc / w, and we
        count the running ones as if they had just started (pessimistic,
        and svc_ms is already the pessimistic service time).  So:

            wait = max (0, ahead - w + 1) / w * svc,   eta = wait + svc

        With one slot that is (queued + reserved + running) * svc + svc,
        the plain "everything ahead of me, then me" rule; with many slots
        it does not charge a wait while a slot is still free;

      * for a peer we only have its digest, one to two seconds old.  The
        backlog we plan for is the worst of three estimates: the reported
        queue (one instant), its forecast upper bound at the first horizon
        (a queue that is growing looks as long as it is about to be), and
        the mean number in an M/D/1 system at the peer's utilisation
        (Pollaczek-Khinchine with constant service: the measured service
        time has p99 / p50 = 1.2), rho + rho^2 / (2 (1 - rho)), with rho the utilisation upper bound
   plus trust_weight * spread (the forecaster's own error counts against the peer) - the utilisation
   is an average over the sampling period and catches the busy peer whose queue happened to be empty
   at the sample.  rho is capped at 0.95 (~10 jobs per slot): beyond that the queue forecast is what
   tells a saturated peer from a busy one. Then eta = link + backlog / w * svc + svc.  Taking the
   maximum and not the sum avoids counting the same backlog twice (the queue *is* what the
   utilisation produces).

    The forecast-aware choice draws two random peers among those predicted
    to fit and keeps the better one (power of two choices, Mitzenmacher
    2001).  The point is not to find the best peer - a digest that is a
    second old cannot tell which one is best - but to avoid the herd: if a
    hundred overloaded boxes all ask "who is least loaded?", they all get
    the same answer and all send there.  Two random choices keep almost all
    of the benefit of the best choice while the load spreads.
    ========================================================================= */
#include "common/rand.h"
#include "scheduler/placement.h"

#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Service-time inflation is capped at 1 / 0.05: past 95 % utilisation
//  the queue term carries the information.
#define S_MIN_FREE_SHARE 0.05
//  Scratch for placement_choose on the stack up to this many peers; more
//  go to the heap (membership views are partial, so rarely).
#define S_STACK_PEERS 256

static const char *s_policy_names[PLACEMENT_POLICY_COUNT] = {"local", "reactive", "random", "forecast"};

static size_t
s_rand_below (uint64_t *rng, size_t n)
{
    //  Modulo bias is 2^-50 for the pool sizes we draw from: irrelevant.
    return n ? (size_t) (mw_splitmix64 (rng) % n) : 0;
}

//  A configuration value from a file or a command line may be anything.
static double
s_safety (const placement_cfg_t *cfg)
{
    return isfinite (cfg->safety) && cfg->safety > 0 ? cfg->safety : 1.0;
}

static double
s_clamp_pct (double v, double if_nan)
{
    if (isnan (v))
        return if_nan;
    return v < 0 ? 0 : v > 100 ? 100 : v;
}

void
placement_cfg_defaults (placement_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->max_candidates = 3;
    cfg->reactive_threshold = 0.8;
    cfg->max_digest_age_ms = 5000;
    cfg->safety = 1.2;
    cfg->trust_weight = 1.0;
}

double
placement_local_eta_ms (const placement_local_t *l)
{
    assert (l);
    if (!isfinite (l->svc_ms) || l->svc_ms < 0)
        return INFINITY;
    double w = l->workers ? l->workers : 1;
    //  In double: three u32 counters cannot overflow it.
    double ahead = (double) l->queued + l->reserved + l->running;
    double slots_to_wait = ahead - w + 1;
    double wait = slots_to_wait > 0 ? slots_to_wait / w * l->svc_ms : 0;
    return wait + l->svc_ms;
}

bool
placement_admit (const placement_cfg_t *cfg, const placement_local_t *l, uint32_t budget_ms)
{
    assert (cfg);
    assert (l);
    //  Room first: a bounded queue is what keeps a box from promising more
    //  than it has memory for, whatever the eta says.
    if ((uint64_t) l->queued + l->reserved >= l->queue_max)
        return false;
    double eta = placement_local_eta_ms (l);
    return isfinite (eta) && s_safety (cfg) * eta <= (double) budget_ms;
}

//  Alive, with a digest, and one young enough to mean something.  A peer
//  whose digest has not been refreshed for max_digest_age_ms is probably
//  partitioned or stuck; every policy leaves it alone.
static bool
s_peer_usable (const placement_cfg_t *cfg, const placement_peer_t *p)
{
    return p->usable && p->digest_age_ms <= cfg->max_digest_age_ms;
}

double
placement_peer_eta_ms (const placement_cfg_t *cfg, const placement_peer_t *p)
{
    assert (cfg);
    assert (p);
    if (!s_peer_usable (cfg, p))
        return INFINITY;
    if (!isfinite (p->svc_ms) || p->svc_ms < 0 || !isfinite (p->link_ms) || p->link_ms < 0)
        return INFINITY;
    double w = p->workers ? p->workers : 1;
    //  Backlog: the worse of now and the forecast bound.  A NaN forecast
    //  (not ready, garbage) falls back to the reported length.
    double queue = p->queue_len;
    if (isfinite (p->queue_fc) && p->queue_fc > queue)
        queue = p->queue_fc;
    else if (isinf (p->queue_fc) && p->queue_fc > 0)
        return INFINITY;   //  "no bound we can back": do not bet a deadline on it
    //  Expected busy share over the horizon, pessimistic: the bound plus
    //  the forecaster's own error.  Unknown counts as fully busy.
    double ub = s_clamp_pct (p->cpu_ub_pct, 100);
    if (ub < s_clamp_pct (p->cpu_now_pct, 100))
        ub = s_clamp_pct (p->cpu_now_pct, 100);
    double tw = isfinite (cfg->trust_weight) && cfg->trust_weight > 0 ? cfg->trust_weight : 0;
    double spread = isfinite (p->spread_pct) && p->spread_pct > 0 ? p->spread_pct : 0;
    double rho = (ub + tw * spread) / 100.0;
    if (!(rho <= 1 - S_MIN_FREE_SHARE))
        rho = 1 - S_MIN_FREE_SHARE;
    //  A box busy rho of the time holds rho + rho^2 / (2 (1 - rho)) jobs
    //  on average (Pollaczek-Khinchine, M/D/1: our service times are
    //  nearly constant, p99 / p50 = 8.6 / 7.1).  M/M/1's rho / (1 - rho)
    //  doubles the queueing term and, in the simulator at a 200 ms
    //  deadline, filtered out peers that would have accepted.  The reported queue is one instant;
    //  the utilisation is an average over the period: the backlog we plan for is the worst of the
    //  sample, its forecast bound and what that utilisation implies.
    double implied = (rho + rho * rho / (2 * (1 - rho))) * w;
    if (implied > queue)
        queue = implied;
    return p->link_ms + queue / w * p->svc_ms + p->svc_ms;
}

bool
placement_should_offload (const placement_cfg_t *cfg, placement_policy_t policy,
                          const placement_local_t *self, double util_now, uint32_t budget_ms)
{
    assert (cfg);
    assert (self);
    switch (policy) {
    case PLACEMENT_REACTIVE:
        //  The classic rule: over the threshold, leave - even if the job
        //  would have fitted here.  NaN utilisation compares false: the
        //  admission test alone decides then.
        if (util_now > cfg->reactive_threshold)
            return true;
        return !placement_admit (cfg, self, budget_ms);
    case PLACEMENT_RANDOM:
    case PLACEMENT_FORECAST: return !placement_admit (cfg, self, budget_ms);
    case PLACEMENT_LOCAL:
    default: return false;
    }
}

typedef struct {
    uint32_t idx;
    double key;     //  eta (FORECAST) or cpu_now (REACTIVE)
    uint32_t tie;   //  queue length (REACTIVE)
} s_cand_t;

//  REACTIVE's order: lowest current utilisation, then shortest queue, then
//  lowest index (so the order is total and the result deterministic).
static bool
s_reactive_less (const s_cand_t *a, const s_cand_t *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    if (a->tie != b->tie)
        return a->tie < b->tie;
    return a->idx < b->idx;
}

size_t
placement_choose (const placement_cfg_t *cfg, placement_policy_t policy, const placement_peer_t *peers,
                  size_t n, uint32_t budget_ms, uint64_t *rng, uint32_t *out, size_t max)
{
    assert (cfg);
    if (max > cfg->max_candidates)
        max = cfg->max_candidates;
    if (policy == PLACEMENT_LOCAL || policy >= PLACEMENT_POLICY_COUNT || max == 0 || n == 0 || !peers || !out)
        return 0;
    //  Indices are u32 on the wire and in `out`: a larger view is cut.
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    uint64_t fixed_rng = 0;
    if (!rng)
        rng = &fixed_rng;

    s_cand_t stack[S_STACK_PEERS];
    s_cand_t *pool = n <= S_STACK_PEERS ? stack : malloc (n * sizeof *pool);
    if (!pool)
        return 0;   //  no memory: nobody to ask, the job goes to the server

    //  The pool: who may be asked at all under this policy.
    size_t np = 0;
    double safety = s_safety (cfg);
    for (size_t i = 0; i < n; i++) {
        const placement_peer_t *p = &peers[i];
        if (!s_peer_usable (cfg, p))
            continue;
        s_cand_t c = {(uint32_t) i, 0, 0};
        if (policy == PLACEMENT_FORECAST) {
            c.key = placement_peer_eta_ms (cfg, p);
            if (!(isfinite (c.key) && safety * c.key <= (double) budget_ms))
                continue;   //  predicted not to fit: do not waste an offer
        }
        else if (policy == PLACEMENT_REACTIVE) {
            c.key = s_clamp_pct (p->cpu_now_pct, 100);
            c.tie = p->queue_len;
        }
        pool[np++] = c;
    }

    size_t k = 0;
    if (policy == PLACEMENT_REACTIVE) {
        //  Partial selection sort: max is a handful, the pool a few dozen.
        for (; k < max && k < np; k++) {
            size_t best = k;
            for (size_t j = k + 1; j < np; j++)
                if (s_reactive_less (&pool[j], &pool[best]))
                    best = j;
            s_cand_t t = pool[k];
            pool[k] = pool[best];
            pool[best] = t;
            out[k] = pool[k].idx;
        }
    }
    else if (policy == PLACEMENT_RANDOM) {
        //  Partial Fisher-Yates.
        for (; k < max && np > 0; k++) {
            size_t j = s_rand_below (rng, np);
            out[k] = pool[j].idx;
            pool[j] = pool[--np];
        }
    }
    else {
        //  Power of two choices, repeated: each pick leaves the pool, so
        //  the list has no duplicates and the second candidate is as
        //  randomised as the first.
        for (; k < max && np > 0; k++) {
            size_t a = s_rand_below (rng, np), pick = a;
            if (np > 1) {
                size_t b = s_rand_below (rng, np - 1);
                if (b >= a)
                    b++;   //  distinct from a, still uniform
                if (pool[b].key < pool[a].key)
                    pick = b;
            }
            out[k] = pool[pick].idx;
            pool[pick] = pool[--np];
        }
    }
    if (pool != stack)
        free (pool);
    return k;
}

const char *
placement_policy_name (placement_policy_t policy)
{
    return policy < PLACEMENT_POLICY_COUNT ? s_policy_names[policy] : "unknown";
}

int
placement_policy_parse (const char *name, placement_policy_t *policy)
{
    if (!name || !policy)
        return -1;
    for (int i = 0; i < PLACEMENT_POLICY_COUNT; i++)
        if (strcmp (name, s_policy_names[i]) == 0) {
            *policy = (placement_policy_t) i;
            return 0;
        }
    return -1;
}

//  --------------------------------------------------------------------------
//  Selftest

static placement_peer_t
s_test_peer (double cpu, uint32_t queue)
{
    placement_peer_t p;
    memset (&p, 0, sizeof p);
    p.usable = true;
    p.digest_age_ms = 1000;
    p.cpu_now_pct = cpu;
    p.cpu_ub_pct = cpu;
    p.spread_pct = 0;
    p.queue_len = queue;
    p.queue_fc = queue;
    p.workers = 1;
    p.svc_ms = 10;
    p.link_ms = 1;
    return p;
}

int
placement_test (bool verbose)
{
    int rc = 0;
    placement_cfg_t cfg;
    placement_cfg_defaults (&cfg);
    CHECK (cfg.max_candidates == 3 && cfg.safety == 1.2 && cfg.max_digest_age_ms == 5000, "defaults");

    //  Names.
    for (int i = 0; i < PLACEMENT_POLICY_COUNT; i++) {
        placement_policy_t p = PLACEMENT_POLICY_COUNT;
        CHECK (placement_policy_parse (placement_policy_name ((placement_policy_t) i), &p) == 0
                   && (int) p == i,
               "name round trip %d", i);
    }
    placement_policy_t pp = PLACEMENT_LOCAL;
    CHECK (placement_policy_parse ("Forecast", &pp) == -1, "names are exact");
    CHECK (placement_policy_parse ("", &pp) == -1 && placement_policy_parse (NULL, &pp) == -1, "empty name");
    CHECK (strcmp (placement_policy_name (PLACEMENT_POLICY_COUNT), "unknown") == 0, "bad policy");

    //  Local eta and admission.
    placement_local_t l = {0, 0, 0, 1, 8, 10.0};
    CHECK (placement_local_eta_ms (&l) == 10.0, "idle: service only, %f", placement_local_eta_ms (&l));
    l.running = 1;
    l.queued = 2;
    CHECK (placement_local_eta_ms (&l) == 40.0, "1 worker, 3 ahead: 30 + 10");
    l.reserved = 1;
    CHECK (placement_local_eta_ms (&l) == 50.0, "a reservation counts as a job ahead");
    placement_local_t srv = {0, 3, 0, 8, 64, 8.0};
    CHECK (placement_local_eta_ms (&srv) == 8.0, "free slot on 8 workers: no wait");
    srv.running = 8;
    srv.queued = 8;
    CHECK (fabs (placement_local_eta_ms (&srv) - (9.0 / 8 * 8 + 8)) < 1e-9, "8 busy + 8 queued");
    CHECK (placement_admit (&cfg, &l, 60) && !placement_admit (&cfg, &l, 59), "safety 1.2 x 50 = 60");
    l.queued = 7;   //  7 + 1 reserved = queue_max
    CHECK (!placement_admit (&cfg, &l, 100000), "full queue refuses whatever the budget");
    l.queued = 0;
    l.reserved = 0;
    l.workers = 0;   //  garbage: counted as one
    CHECK (placement_local_eta_ms (&l) == 20.0, "workers 0 = 1");
    l.svc_ms = NAN;
    CHECK (isinf (placement_local_eta_ms (&l)) && !placement_admit (&cfg, &l, UINT32_MAX),
           "NaN service time never admits");
    l.svc_ms = -3;
    CHECK (!placement_admit (&cfg, &l, UINT32_MAX), "negative service time never admits");
    placement_local_t huge = {UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, UINT32_MAX, 1.0};
    CHECK (!placement_admit (&cfg, &huge, UINT32_MAX), "no overflow on huge counters");
    placement_cfg_t bad = cfg;
    bad.safety = NAN;
    l = (placement_local_t){0, 0, 0, 1, 8, 10.0};
    CHECK (placement_admit (&bad, &l, 10), "NaN safety = 1");

    //  should_offload.
    l = (placement_local_t){0, 1, 0, 1, 8, 10.0};
    CHECK (!placement_should_offload (&cfg, PLACEMENT_LOCAL, &l, 1.0, 1), "local never");
    CHECK (placement_should_offload (&cfg, PLACEMENT_REACTIVE, &l, 0.9, 1000),
           "reactive over threshold leaves though it fits");
    CHECK (!placement_should_offload (&cfg, PLACEMENT_REACTIVE, &l, 0.5, 1000),
           "reactive under threshold, fits: stays");
    CHECK (!placement_should_offload (&cfg, PLACEMENT_REACTIVE, &l, NAN, 1000),
           "reactive NaN util: admission decides");
    CHECK (placement_should_offload (&cfg, PLACEMENT_REACTIVE, &l, 0.1, 5), "reactive no fit");
    CHECK (!placement_should_offload (&cfg, PLACEMENT_FORECAST, &l, 0.99, 1000), "forecast: fits, stays");
    CHECK (placement_should_offload (&cfg, PLACEMENT_FORECAST, &l, 0.0, 5)
               && placement_should_offload (&cfg, PLACEMENT_RANDOM, &l, 0.0, 5),
           "forecast/random: no fit, leave");

    //  Peer eta.
    placement_peer_t p = s_test_peer (0, 0);
    CHECK (placement_peer_eta_ms (&cfg, &p) == 11.0, "idle peer: link + service, %f",
           placement_peer_eta_ms (&cfg, &p));
    p.queue_len = 2;
    p.queue_fc = 5;
    CHECK (placement_peer_eta_ms (&cfg, &p) == 61.0, "forecast queue counts when worse");
    p.queue_fc = 1;
    CHECK (placement_peer_eta_ms (&cfg, &p) == 31.0, "reported queue counts when worse");
    p = s_test_peer (50, 0);
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - 18.5) < 1e-9, "50 %% busy: 0.75 ahead");
    p.spread_pct = 25;
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - 29.75) < 1e-9, "spread counts against headroom");
    p = s_test_peer (100, 0);
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - 110.75) < 1e-9, "utilisation capped at 0.95: ~10 ahead");
    p = s_test_peer (50, 10);
    CHECK (placement_peer_eta_ms (&cfg, &p) == 111.0, "worst of queue and M/D/1, not the sum");
    p = s_test_peer (100, 0);
    p.digest_age_ms = 5001;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "stale digest");
    p = s_test_peer (10, 0);
    p.usable = false;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "unusable");
    p = s_test_peer (NAN, 0);
    p.cpu_ub_pct = NAN;
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - 110.75) < 1e-9, "NaN utilisation = fully busy");
    p = s_test_peer (10, 0);
    p.svc_ms = NAN;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "NaN service");
    p = s_test_peer (10, 0);
    p.link_ms = -1;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "negative link");
    p = s_test_peer (10, 0);
    p.queue_fc = INFINITY;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "unbacked forecast bound");
    p.queue_fc = NAN;
    CHECK (isfinite (placement_peer_eta_ms (&cfg, &p)), "NaN forecast: reported queue");
    p = s_test_peer (-50, 0);
    p.cpu_ub_pct = 1e300;
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - 110.75) < 1e-9, "out of range percentages clamped");

    //  choose: empty and degenerate inputs.
    uint64_t rng = 42;
    uint32_t out[16];
    placement_peer_t peers[64];
    for (int pol = 0; pol < PLACEMENT_POLICY_COUNT; pol++) {
        CHECK (placement_choose (&cfg, (placement_policy_t) pol, peers, 0, 500, &rng, out, 16) == 0,
               "empty view, %d", pol);
        CHECK (placement_choose (&cfg, (placement_policy_t) pol, NULL, 5, 500, &rng, out, 16) == 0,
               "NULL view");
        for (int i = 0; i < 10; i++) {
            peers[i] = s_test_peer (10, 0);
            peers[i].digest_age_ms = 6000;
        }
        CHECK (placement_choose (&cfg, (placement_policy_t) pol, peers, 10, 500, &rng, out, 16) == 0,
               "all stale, %d", pol);
        for (int i = 0; i < 10; i++)
            peers[i] = s_test_peer (10, 0);
        CHECK (placement_choose (&cfg, (placement_policy_t) pol, peers, 10, 500, &rng, out, 0) == 0, "max 0");
        CHECK (placement_choose (&cfg, (placement_policy_t) pol, peers, 10, 500, NULL, out, 16)
                   == (pol == PLACEMENT_LOCAL ? 0u : 3u),
               "NULL rng works, capped at max_candidates");
    }
    CHECK (placement_choose (&cfg, PLACEMENT_POLICY_COUNT, peers, 10, 500, &rng, out, 16) == 0, "bad policy");

    //  REACTIVE: by current utilisation, ties by queue, only usable ones.
    for (int i = 0; i < 8; i++)
        peers[i] = s_test_peer (80 - i * 10, 0);   //  7 is the least busy (10 %)
    peers[6].queue_len = 3;                        //  20 % but a queue
    peers[5].cpu_now_pct = 20;                     //  20 %, no queue: before 6
    peers[7].usable = false;
    size_t k = placement_choose (&cfg, PLACEMENT_REACTIVE, peers, 8, 500, &rng, out, 16);
    CHECK (k == 3 && out[0] == 5 && out[1] == 6 && out[2] == 4, "reactive order %u %u %u", out[0], out[1],
           out[2]);

    //  FORECAST and RANDOM: no duplicates, FORECAST never returns a peer
    //  predicted not to fit, whatever the draws.
    placement_cfg_t wide = cfg;
    wide.max_candidates = 16;
    for (int i = 0; i < 64; i++) {
        peers[i] = s_test_peer ((i * 37) % 100, (uint32_t) ((i * 11) % 40));
        if (i % 9 == 0)
            peers[i].svc_ms = NAN;
        if (i % 13 == 0)
            peers[i].digest_age_ms = UINT32_MAX;
    }
    int never_unfit = 1, no_dups = 1;
    size_t total_fc = 0;
    for (int trial = 0; trial < 2000; trial++) {
        placement_policy_t pol = trial % 2 ? PLACEMENT_FORECAST : PLACEMENT_RANDOM;
        uint32_t budget = 50 + (uint32_t) (trial % 400);
        k = placement_choose (&wide, pol, peers, 64, budget, &rng, out, 16);
        bool seen[64] = {false};
        for (size_t i = 0; i < k; i++) {
            if (out[i] >= 64 || seen[out[i]])
                no_dups = 0;
            else
                seen[out[i]] = true;
            double eta = placement_peer_eta_ms (&wide, &peers[out[i]]);
            if (pol == PLACEMENT_FORECAST && !(wide.safety * eta <= budget))
                never_unfit = 0;
            if (!peers[out[i]].usable || peers[out[i]].digest_age_ms > wide.max_digest_age_ms)
                never_unfit = 0;
        }
        if (pol == PLACEMENT_FORECAST)
            total_fc += k;
    }
    CHECK (never_unfit, "p2c returned a peer that cannot fit");
    CHECK (no_dups, "duplicate or out-of-range candidate");
    CHECK (total_fc > 0, "forecast found nobody at all");

    //  Garbage everywhere: no crash, nothing unusable chosen.
    uint64_t g = 7;
    for (int trial = 0; trial < 500; trial++) {
        for (int i = 0; i < 64; i++) {
            uint64_t r = mw_splitmix64 (&g);
            double vals[] = {NAN, INFINITY, -INFINITY, -1, 0, 50, 1e308, 99.9};
            placement_peer_t *q = &peers[i];
            q->usable = r & 1;
            q->digest_age_ms = (uint32_t) (r >> 8);
            q->cpu_now_pct = vals[(r >> 16) & 7];
            q->cpu_ub_pct = vals[(r >> 19) & 7];
            q->spread_pct = vals[(r >> 22) & 7];
            q->queue_len = (uint32_t) (r >> 32);
            q->queue_fc = vals[(r >> 25) & 7];
            q->workers = (uint32_t) ((r >> 28) & 3);
            q->svc_ms = vals[(r >> 40) & 7];
            q->link_ms = vals[(r >> 43) & 7];
        }
        for (int pol = 0; pol < PLACEMENT_POLICY_COUNT; pol++) {
            k = placement_choose (&wide, (placement_policy_t) pol, peers, 64, (uint32_t) mw_splitmix64 (&g),
                                  &rng, out, 16);
            for (size_t i = 0; i < k; i++)
                CHECK (out[i] < 64 && peers[out[i]].usable, "garbage: chose an unusable peer");
        }
    }

    //  Determinism: same rng state, same answer.
    for (int i = 0; i < 64; i++)
        peers[i] = s_test_peer ((i * 7) % 60, (uint32_t) (i % 5));
    uint32_t a[16], b[16];
    uint64_t r1 = 1234, r2 = 1234;
    size_t ka = placement_choose (&wide, PLACEMENT_FORECAST, peers, 64, 500, &r1, a, 16);
    size_t kb = placement_choose (&wide, PLACEMENT_FORECAST, peers, 64, 500, &r2, b, 16);
    CHECK (ka == kb && ka > 0 && memcmp (a, b, ka * sizeof *a) == 0 && r1 == r2, "determinism");

    //  More peers than the stack scratch: the heap path.
    placement_peer_t *many = calloc (1000, sizeof *many);
    if (many) {
        for (int i = 0; i < 1000; i++)
            many[i] = s_test_peer (i % 100, 0);
        k = placement_choose (&cfg, PLACEMENT_REACTIVE, many, 1000, 500, &rng, out, 16);
        CHECK (k == 3 && out[0] == 0 && out[1] == 100 && out[2] == 200, "1000 peers, reactive");
        k = placement_choose (&cfg, PLACEMENT_FORECAST, many, 1000, 500, &rng, out, 16);
        CHECK (k == 3, "1000 peers, forecast");
        free (many);
    }

    //  Herd avoidance: 100 overloaded askers, one digest view of 5 equal
    //  peers.  REACTIVE sends every first offer to the same peer; p2c
    //  spreads them.  Expected 20 each; a uniform spread lands in 8..32
    //  with overwhelming probability (binomial, sd 4).
    for (int i = 0; i < 5; i++)
        peers[i] = s_test_peer (30, 2);
    int hits_fc[5] = {0}, hits_re[5] = {0};
    for (int asker = 0; asker < 100; asker++) {
        uint64_t own = UINT64_C (0x5EED) + (uint64_t) asker;   //  each box its own rng
        if (placement_choose (&cfg, PLACEMENT_FORECAST, peers, 5, 500, &own, out, 1) == 1)
            hits_fc[out[0]]++;
        if (placement_choose (&cfg, PLACEMENT_REACTIVE, peers, 5, 500, &own, out, 1) == 1)
            hits_re[out[0]]++;
    }
    for (int i = 0; i < 5; i++)
        CHECK (hits_fc[i] >= 8 && hits_fc[i] <= 32, "p2c herd: peer %d got %d of 100", i, hits_fc[i]);
    CHECK (hits_re[0] == 100, "reactive herds (documents the failure mode): %d", hits_re[0]);
    //  And p2c prefers the better of two: one clearly better peer among
    //  five gets picked in about 2/5 of first choices (it wins every draw
    //  it is in), not 1/5 and not all of them.
    peers[3] = s_test_peer (0, 0);
    int best = 0;
    for (int asker = 0; asker < 1000; asker++) {
        uint64_t own = (uint64_t) asker * 77;
        if (placement_choose (&cfg, PLACEMENT_FORECAST, peers, 5, 500, &own, out, 1) == 1 && out[0] == 3)
            best++;
    }
    CHECK (best > 300 && best < 500, "p2c preference: best peer first in %d of 1000", best);
    if (verbose)
        printf ("placement_test: herd p2c %d/%d/%d/%d/%d, reactive %d; p2c best %d/1000\n", hits_fc[0],
                hits_fc[1], hits_fc[2], hits_fc[3], hits_fc[4], hits_re[0], best);
    return rc;
}
