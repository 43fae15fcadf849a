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

      * for a peer we have its digest (its queue, a second or so old) and
        perhaps its last REPLY to us (milliseconds old): the newer of the
        two is the observation.  Since it was taken, the queue drained at
        most at the rate its slots free minus what the peer's own cameras
        add - nobody else sending - so the count we plan with is the
        observation less that drain over its age, never below zero.  That
        is deliberately not pessimistic: the peer answers on its own state
        anyway, and every pessimistic term (an M/D/1 backlog from the
        utilisation, the forecast's spread as distrust, a 95 % cap: the
        policy before issue 16) made peers that would have accepted look
        full and sent their jobs to the server.

    The forecast-aware choice then only steers chance: the list is drawn
    at random, a peer predicted not to fit `unfit_weight` times as likely
    as one predicted to fit, the predicted fits asked first.  A digest
    that is a second old cannot tell which peer is best, and if a hundred
    overloaded boxes all ask "who is least loaded?" they all get the same
    answer and all send there (Mitzenmacher, "How useful is old
    information?", 2000); near saturation every peer looks full and the
    draw is plain random choice, which the simulator's oracle (perfect
    knowledge) does not beat there.
    ========================================================================= */
#include "common/rand.h"
#include "scheduler/placement.h"

#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Utilisation is capped here: at 98 % the M/D/1 mean is 25 jobs per
//  slot, more than any deadline admits, so "saturated" needs no more.
#define S_RHO_MAX 0.98
//  An observation of a peer's queue is forgotten after at most this long
//  (the relaxation time of a saturated queue is longer; the digest of a
//  live peer is never that old).
#define S_TAU_MAX_MS 5000.0
//  Scratch for placement_choose on the stack up to this many peers; more
//  go to the heap (membership views are partial, so rarely).
#define S_STACK_PEERS 256

static const char *s_policy_names[PLACEMENT_POLICY_COUNT] = {"local",    "reactive", "random",
                                                             "forecast", "probe",    "oracle"};

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
    //  An idle box republishes every DIGEST_MAX_AGE_MS (15 s) and on any
    //  move (scheduler/freshness.h): its digest is true within a few
    //  points at any age, so old is not stale; 20 s leaves one lost
    //  republication's spreading time.
    cfg->max_idle_digest_age_ms = 20000;
    cfg->safety = 1.2;
    cfg->probe_d = 2;
    cfg->horizon_ms = 2000;
    cfg->early = 0;
    //  How likely a peer predicted not to fit is drawn, relative to one
    //  predicted to fit: 0.05 .. 0.5 were all within noise of random
    //  choice near saturation in the simulator, and lower saves messages
    //  at moderate load; 0 (never) is the hard filter that lost
    //  (docs/PLACEMENT.md).
    cfg->unfit_weight = 0.2;
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

//  Alive, with a digest, and one young enough to mean something.  A busy
//  peer republishes every sample, so one whose digest has not been
//  refreshed for max_digest_age_ms is probably partitioned or stuck; an
//  idle one republishes only on a change (or every DIGEST_MAX_AGE_MS), so
//  its limit is max_idle_digest_age_ms.  Every policy leaves a stale one
//  alone.
static bool
s_peer_usable (const placement_cfg_t *cfg, const placement_peer_t *p)
{
    uint32_t limit = p->idle && cfg->max_idle_digest_age_ms > cfg->max_digest_age_ms
                         ? cfg->max_idle_digest_age_ms
                         : cfg->max_digest_age_ms;
    return p->usable && p->digest_age_ms <= limit;
}

//  The utilisation we plan with: the larger of now and the point forecast
//  (sched_digest_peer hands in both), NaN and out of range as fully busy.
static double
s_rho (const placement_peer_t *p)
{
    double ub = s_clamp_pct (p->cpu_ub_pct, 100), now = s_clamp_pct (p->cpu_now_pct, 100);
    double rho = (ub > now ? ub : now) / 100.0;
    return rho < S_RHO_MAX ? rho : S_RHO_MAX;
}

double
placement_peer_ahead (const placement_cfg_t *cfg, const placement_peer_t *p)
{
    assert (cfg);
    assert (p);
    if (!s_peer_usable (cfg, p))
        return INFINITY;
    if (!isfinite (p->svc_ms) || p->svc_ms <= 0)
        return INFINITY;
    double w = p->workers ? p->workers : 1;
    //  The freshest observation: the digest (queued jobs; the running ones
    //  are about the busy share), or the peer's last REPLY when that is
    //  newer (its own count, ours included when it accepted).
    double obs = (double) p->queue_len + s_rho (p) * w;
    double age = p->digest_age_ms;
    if (p->heard_age_ms < p->digest_age_ms) {
        if (isinf (p->heard_ahead) && p->heard_ahead > 0)
            return INFINITY;   //  it told us it cannot run this model at all
        if (isfinite (p->heard_ahead) && p->heard_ahead >= 0) {
            obs = p->heard_ahead;
            age = p->heard_age_ms;
        }
    }
    //  Since then the queue drained at most at the rate its slots free
    //  minus what its own cameras add (nobody else sending): an old
    //  observation of a full queue says less than a fresh one, and a box
    //  whose own cameras outrun it stays full however old the news.
    double lambda = isfinite (p->arrival_rate) && p->arrival_rate > 0 ? p->arrival_rate : 0;
    double drain = w * 1000.0 / p->svc_ms - lambda;
    if (drain > 0)
        obs -= drain * age / 1000.0;
    return obs > 0 ? obs : 0;
}

double
placement_peer_eta_ms (const placement_cfg_t *cfg, const placement_peer_t *p)
{
    assert (cfg);
    assert (p);
    if (!isfinite (p->link_ms) || p->link_ms < 0)
        return INFINITY;
    double ahead = placement_peer_ahead (cfg, p);
    if (!isfinite (ahead))
        return INFINITY;
    double w = p->workers ? p->workers : 1;
    //  As placement_local_eta_ms, on the expected count.
    double wait = ahead - w + 1 > 0 ? (ahead - w + 1) / w * p->svc_ms : 0;
    return p->link_ms + wait + p->svc_ms;
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
    case PLACEMENT_FORECAST:
        if (!placement_admit (cfg, self, budget_ms))
            return true;
        //  Early departure (off by default, see docs/PLACEMENT.md for what
        //  it measured): when our own sources outrun us, leave once the
        //  queue holds `early` of what the budget admits, so that a job
        //  every peer refuses can still fall back to our queue.
        if (cfg->early > 0 && isfinite (self->svc_ms) && self->svc_ms > 0) {
            double w = self->workers ? self->workers : 1;
            double ahead = (double) self->queued + self->reserved + self->running;
            double limit = ((double) budget_ms / s_safety (cfg) - self->svc_ms) / self->svc_ms * w + w - 1;
            if (self->arrival_rate > w * 1000.0 / self->svc_ms && ahead >= cfg->early * limit)
                return true;
        }
        return false;
    case PLACEMENT_RANDOM:
    case PLACEMENT_PROBE:
    case PLACEMENT_ORACLE: return !placement_admit (cfg, self, budget_ms);
    case PLACEMENT_LOCAL:
    default: return false;
    }
}

typedef struct {
    uint32_t idx;
    double key;     //  FORECAST: weight; REACTIVE: cpu_now; ORACLE: projected load
    uint32_t tie;   //  queue length (REACTIVE)
    bool fits;      //  FORECAST: predicted to fit the budget
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

//  ORACLE's order: least projected load, then lowest index.
static bool
s_key_less (const s_cand_t *a, const s_cand_t *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    return a->idx < b->idx;
}

//  Moves the smallest of pool[k..np) by `less` to pool[k].
static void
s_select (s_cand_t *pool, size_t k, size_t np, bool (*less) (const s_cand_t *, const s_cand_t *))
{
    size_t best = k;
    for (size_t j = k + 1; j < np; j++)
        if (less (&pool[j], &pool[best]))
            best = j;
    s_cand_t t = pool[k];
    pool[k] = pool[best];
    pool[best] = t;
}

//  Index in pool[0..np) drawn with probability key / sum of keys (keys
//  are positive).
static size_t
s_draw_weighted (const s_cand_t *pool, size_t np, uint64_t *rng)
{
    double total = 0;
    for (size_t j = 0; j < np; j++)
        total += pool[j].key;
    double x = (double) (mw_splitmix64 (rng) >> 11) * (1.0 / 9007199254740992.0) * total;
    for (size_t j = 0; j < np; j++) {
        x -= pool[j].key;
        if (x < 0)
            return j;
    }
    return np - 1;
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
    double unfit = isfinite (cfg->unfit_weight) && cfg->unfit_weight > 0
                       ? (cfg->unfit_weight < 1 ? cfg->unfit_weight : 1)
                       : 0;
    for (size_t i = 0; i < n; i++) {
        const placement_peer_t *p = &peers[i];
        if (!s_peer_usable (cfg, p))
            continue;
        s_cand_t c = {(uint32_t) i, 0, 0, false};
        if (policy == PLACEMENT_FORECAST) {
            double eta = placement_peer_eta_ms (cfg, p);
            if (!isfinite (eta))
                continue;   //  unusable numbers, or a model it does not run
            c.fits = safety * eta <= (double) budget_ms;
            c.key = c.fits ? 1.0 : unfit;
            if (!(c.key > 0))
                continue;   //  weight 0: the hard filter
        }
        else if (policy == PLACEMENT_ORACLE) {
            //  Exact: queue_len is what is ahead right now.  The peer
            //  accepts when this fits; among those, the one whose own
            //  cameras leave it the most room over the horizon.
            if (!isfinite (p->svc_ms) || p->svc_ms <= 0 || !isfinite (p->link_ms) || p->link_ms < 0)
                continue;
            placement_local_t l = {p->queue_len, 0, 0, p->workers ? p->workers : 1, UINT32_MAX, p->svc_ms, 0};
            double eta = p->link_ms + placement_local_eta_ms (&l);
            if (!(safety * eta <= (double) budget_ms))
                continue;
            double rate = isfinite (p->arrival_rate) && p->arrival_rate > 0 ? p->arrival_rate : 0;
            double h = cfg->horizon_ms;
            //  Work it will have over the horizon, beyond what it can do.
            c.key = ((double) p->queue_len + rate * h / 1000.0) * p->svc_ms / l.workers - h;
        }
        else if (policy == PLACEMENT_REACTIVE) {
            c.key = s_clamp_pct (p->cpu_now_pct, 100);
            c.tie = p->queue_len;
        }
        pool[np++] = c;
    }

    size_t k = 0;
    if (policy == PLACEMENT_REACTIVE || policy == PLACEMENT_ORACLE) {
        //  Partial selection sort: max is a handful, the pool a few dozen.
        for (; k < max && k < np; k++) {
            s_select (pool, k, np, policy == PLACEMENT_REACTIVE ? s_reactive_less : s_key_less);
            out[k] = pool[k].idx;
        }
    }
    else if (policy == PLACEMENT_FORECAST) {
        //  Who is asked is drawn at random, a peer predicted not to fit
        //  unfit_weight times as likely as one predicted to fit (without
        //  replacement: no duplicates); in what order, the predicted fits
        //  first.  The forecast makes the list, chance picks from it: a
        //  digest is too old to tell the best peer, all askers agreeing on
        //  one would herd, and near saturation, where every peer looks
        //  full, the draw is plain random choice - which, with the peers'
        //  own admission, is as good as perfect knowledge there.
        size_t m = 0;
        for (; m < max && np > 0; m++) {
            size_t j = s_draw_weighted (pool, np, rng);
            s_cand_t t = pool[j];
            pool[j] = pool[np - 1];
            pool[--np] = t;   //  the draws collect at the end of the pool, in order
        }
        for (int pass = 1; pass >= 0; pass--)
            for (size_t a = m; a-- > 0;)
                if (pool[np + a].fits == (pass == 1))
                    out[k++] = pool[np + a].idx;
    }
    else {
        //  RANDOM, PROBE: partial Fisher-Yates.
        for (; k < max && np > 0; k++) {
            size_t j = s_rand_below (rng, np);
            out[k] = pool[j].idx;
            pool[j] = pool[--np];
        }
    }
    if (pool != stack)
        free (pool);
    return k;
}

uint32_t
placement_batch (const placement_cfg_t *cfg, placement_policy_t policy)
{
    assert (cfg);
    if (policy != PLACEMENT_PROBE)
        return 1;
    return cfg->probe_d >= 1 ? cfg->probe_d : 1;
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
    p.heard_age_ms = UINT32_MAX;
    return p;
}

int
placement_test (bool verbose)
{
    int rc = 0;
    placement_cfg_t cfg;
    placement_cfg_defaults (&cfg);
    CHECK (cfg.max_candidates == 3 && cfg.safety == 1.2 && cfg.max_digest_age_ms == 5000
               && cfg.max_idle_digest_age_ms == 20000,
           "defaults");

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
    placement_local_t l = {0, 0, 0, 1, 8, 10.0, 0};
    CHECK (placement_local_eta_ms (&l) == 10.0, "idle: service only, %f", placement_local_eta_ms (&l));
    l.running = 1;
    l.queued = 2;
    CHECK (placement_local_eta_ms (&l) == 40.0, "1 worker, 3 ahead: 30 + 10");
    l.reserved = 1;
    CHECK (placement_local_eta_ms (&l) == 50.0, "a reservation counts as a job ahead");
    placement_local_t srv = {0, 3, 0, 8, 64, 8.0, 0};
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
    placement_local_t huge = {UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, UINT32_MAX, 1.0, 0};
    CHECK (!placement_admit (&cfg, &huge, UINT32_MAX), "no overflow on huge counters");
    placement_cfg_t bad = cfg;
    bad.safety = NAN;
    l = (placement_local_t){0, 0, 0, 1, 8, 10.0, 0};
    CHECK (placement_admit (&bad, &l, 10), "NaN safety = 1");

    //  should_offload.
    l = (placement_local_t){0, 1, 0, 1, 8, 10.0, 0};
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

    //  Peer: jobs ahead, from the freshest observation, drained by age.
    placement_peer_t p = s_test_peer (0, 0);
    CHECK (placement_peer_ahead (&cfg, &p) == 0 && placement_peer_eta_ms (&cfg, &p) == 11.0,
           "idle peer: link + service, %f", placement_peer_eta_ms (&cfg, &p));
    p = s_test_peer (100, 5);
    p.digest_age_ms = 0;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 5.98) < 1e-9, "queue + busy share (capped at 0.98)");
    CHECK (fabs (placement_peer_eta_ms (&cfg, &p) - (1 + 59.8 + 10)) < 1e-9, "eta on the count");
    p = s_test_peer (100, 20);
    p.digest_age_ms = 100;   //  10 jobs drain in 100 ms at 10 ms each
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 10.98) < 1e-9, "an older digest drained: %f",
           placement_peer_ahead (&cfg, &p));
    p.arrival_rate = 60;   //  its own cameras refill 6 of them
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 16.98) < 1e-9, "own arrivals slow the drain");
    p.arrival_rate = 150;
    p.digest_age_ms = 4000;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 20.98) < 1e-9, "own cameras outrun it: full however old");
    p = s_test_peer (50, 20);
    p.digest_age_ms = 5000;
    CHECK (placement_peer_ahead (&cfg, &p) == 0, "five seconds drain anything (never negative)");
    p = s_test_peer (100, 20);
    p.digest_age_ms = 100;
    p.heard_age_ms = 10;
    p.heard_ahead = 3;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 2) < 1e-9, "a fresher REPLY replaces the digest");
    p.heard_age_ms = 2000;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 10.98) < 1e-9, "an older REPLY does not");
    p.heard_age_ms = 10;
    p.heard_ahead = INFINITY;
    CHECK (isinf (placement_peer_ahead (&cfg, &p)) && isinf (placement_peer_eta_ms (&cfg, &p)),
           "it said it cannot run the model");
    p.heard_ahead = NAN;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 10.98) < 1e-9, "a NaN REPLY sample is ignored");
    p.heard_ahead = -5;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 10.98) < 1e-9, "a negative one too");
    p = s_test_peer (100, 0);
    p.digest_age_ms = 5001;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "stale digest");
    p.idle = true;   //  an idle box republishes on change only: 5 s is not stale for it...
    CHECK (isfinite (placement_peer_eta_ms (&cfg, &p)), "idle digest, 5 s: still trusted");
    p.digest_age_ms = 20001;   //  ...but 20 s is
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "idle digest, 20 s: stale");
    p = s_test_peer (10, 0);
    p.usable = false;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "unusable");
    p = s_test_peer (NAN, 0);
    p.cpu_ub_pct = NAN;
    p.digest_age_ms = 0;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 0.98) < 1e-9, "NaN utilisation = fully busy");
    p = s_test_peer (10, 0);
    p.svc_ms = NAN;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "NaN service");
    p.svc_ms = 0;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "zero service");
    p = s_test_peer (10, 0);
    p.link_ms = -1;
    CHECK (isinf (placement_peer_eta_ms (&cfg, &p)), "negative link");
    p = s_test_peer (10, 3);
    p.arrival_rate = NAN;
    CHECK (placement_peer_ahead (&cfg, &p) == 0, "NaN arrival rate: unknown, full drain");
    p = s_test_peer (-50, 0);
    p.cpu_ub_pct = 1e300;
    p.digest_age_ms = 0;
    CHECK (fabs (placement_peer_ahead (&cfg, &p) - 0.98) < 1e-9, "out of range percentages clamped");

    //  Early departure (off by default): own sources outrunning the box
    //  make a job leave at `early` of what the budget admits.
    l = (placement_local_t){2, 0, 1, 1, 64, 10.0, 150};   //  3 ahead; 150 jobs/s > 100
    CHECK (!placement_should_offload (&cfg, PLACEMENT_FORECAST, &l, 1.0, 500), "early off: stays");
    placement_cfg_t early = cfg;
    early.early = 0.05;   //  500 / 1.2 ms admit ~41 ahead: leave from ~2
    CHECK (placement_should_offload (&early, PLACEMENT_FORECAST, &l, 1.0, 500), "early: leaves");
    l.arrival_rate = 90;
    CHECK (!placement_should_offload (&early, PLACEMENT_FORECAST, &l, 1.0, 500), "early: own rate fits");
    l.arrival_rate = 150;
    CHECK (!placement_should_offload (&early, PLACEMENT_RANDOM, &l, 1.0, 500), "early is forecast's only");

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

    //  FORECAST and RANDOM: no duplicates, only usable peers; FORECAST
    //  lists the peers predicted to fit before the others, whatever the
    //  draws.
    placement_cfg_t wide = cfg;
    wide.max_candidates = 16;
    for (int i = 0; i < 64; i++) {
        peers[i] = s_test_peer ((i * 37) % 100, (uint32_t) ((i * 11) % 40));
        if (i % 9 == 0)
            peers[i].svc_ms = NAN;
        if (i % 13 == 0)
            peers[i].digest_age_ms = UINT32_MAX;
    }
    int fits_first = 1, no_dups = 1, usable_only = 1;
    size_t total_fc = 0;
    for (int trial = 0; trial < 2000; trial++) {
        placement_policy_t pol = trial % 2 ? PLACEMENT_FORECAST : PLACEMENT_RANDOM;
        uint32_t budget = 50 + (uint32_t) (trial % 400);
        k = placement_choose (&wide, pol, peers, 64, budget, &rng, out, 16);
        bool seen[64] = {false}, unfit_seen = false;
        for (size_t i = 0; i < k; i++) {
            if (out[i] >= 64 || seen[out[i]])
                no_dups = 0;
            else
                seen[out[i]] = true;
            double eta = placement_peer_eta_ms (&wide, &peers[out[i]]);
            bool fits = wide.safety * eta <= budget;
            if (pol == PLACEMENT_FORECAST && fits && unfit_seen)
                fits_first = 0;
            unfit_seen |= !fits;
            if (!s_peer_usable (&wide, &peers[out[i]]) || !isfinite (peers[out[i]].svc_ms))
                usable_only = pol == PLACEMENT_RANDOM && isnan (peers[out[i]].svc_ms) ? usable_only : 0;
        }
        if (pol == PLACEMENT_FORECAST)
            total_fc += k;
    }
    CHECK (fits_first, "forecast listed a peer predicted not to fit before one that fits");
    //  unfit_weight 0: the hard filter, never a peer predicted not to fit.
    placement_cfg_t hard = wide;
    hard.unfit_weight = 0;
    int only_fits = 1;
    for (int trial = 0; trial < 500; trial++) {
        uint32_t budget = 50 + (uint32_t) (trial % 400);
        k = placement_choose (&hard, PLACEMENT_FORECAST, peers, 64, budget, &rng, out, 16);
        for (size_t i = 0; i < k; i++)
            if (!(hard.safety * placement_peer_eta_ms (&hard, &peers[out[i]]) <= budget))
                only_fits = 0;
    }
    CHECK (only_fits, "unfit_weight 0 chose a peer predicted not to fit");
    CHECK (no_dups, "duplicate or out-of-range candidate");
    CHECK (usable_only, "an unusable peer was chosen");
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
    //  peers.  REACTIVE sends every first offer to the same peer; FORECAST
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
        CHECK (hits_fc[i] >= 8 && hits_fc[i] <= 32, "forecast herd: peer %d got %d of 100", i, hits_fc[i]);
    CHECK (hits_re[0] == 100, "reactive herds (documents the failure mode): %d", hits_re[0]);
    //  The forecast steers without excluding: one peer predicted to fit
    //  among four predicted full (their own cameras outrun them) is asked
    //  first in most lists - it is in the three draws about 95 % of the
    //  time, and then first - while the full ones are still drawn now and
    //  then (a prediction is not a refusal).
    for (int i = 0; i < 5; i++) {
        peers[i] = s_test_peer (100, 60);
        peers[i].arrival_rate = 150;
    }
    peers[3] = s_test_peer (20, 0);
    int first_fit = 0, full_asked = 0;
    for (int asker = 0; asker < 1000; asker++) {
        uint64_t own = (uint64_t) asker * 77;
        k = placement_choose (&cfg, PLACEMENT_FORECAST, peers, 5, 500, &own, out, 16);
        first_fit += k == 3 && out[0] == 3;
        for (size_t i = 0; i < k; i++)
            full_asked += out[i] != 3;
    }
    CHECK (first_fit > 900 && first_fit < 990, "fit first in %d of 1000 lists", first_fit);
    CHECK (full_asked > 1500, "the full ones dropped out: asked %d times", full_asked);
    //  ORACLE: only exact fits, least projected load first.
    //  0, 10, 20, 30, 40 ahead at 10 ms each: the first three fit 300 ms;
    //  their own cameras add 120, 0 and 40 jobs over the 2 s horizon, so
    //  the order is #1 (10 in all), #2 (60), #0 (120).
    const double rates[5] = {60, 0, 20, 0, 0};
    for (int i = 0; i < 5; i++) {
        peers[i] = s_test_peer (0, (uint32_t) (10 * i));
        peers[i].digest_age_ms = 0;
        peers[i].arrival_rate = rates[i];
    }
    k = placement_choose (&cfg, PLACEMENT_ORACLE, peers, 5, 300, &rng, out, 16);
    CHECK (k == 3 && out[0] == 1 && out[1] == 2 && out[2] == 0,
           "oracle: fits by projected load, %zu: %u %u %u", k, out[0], out[1], out[2]);
    CHECK (placement_batch (&cfg, PLACEMENT_PROBE) == 2 && placement_batch (&cfg, PLACEMENT_FORECAST) == 1,
           "probe batch");
    placement_cfg_t zero = cfg;
    zero.probe_d = 0;
    CHECK (placement_batch (&zero, PLACEMENT_PROBE) == 1, "probe_d 0 = 1");
    if (verbose)
        printf (
            "placement_test: herd forecast %d/%d/%d/%d/%d, reactive %d; fit first %d/1000, full asked %d\n",
            hits_fc[0], hits_fc[1], hits_fc[2], hits_fc[3], hits_fc[4], hits_re[0], first_fit, full_asked);
    return rc;
}
