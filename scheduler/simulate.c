/*  =========================================================================
    sched_sim - discrete-event simulator of job placement (see simulate.h
    and docs/PLACEMENT.md).

    Time is in microseconds.  One binary heap holds every future event,
    ordered by (time, sequence number) so that ties resolve the same way on
    every run.  Per job the work is O(view + log heap): a box only ever
    looks at the `view` peers it knows (a partial membership view, as SWIM
    gives at large N), never at the whole mesh, so N = 1000 costs what
    N = 100 does per job.

    Randomness is split into streams so that the policies compare on the
    same input ("common random numbers"): each box draws its arrivals and
    the service-time noise of its jobs from its own stream, bursts come
    from one stream of their own, and the choice of peers from a third
    per-box stream.  Whatever a policy does, the frames that arrive, when
    they arrive and how long each takes to analyse are the same.

    The gossip delay is not an event per receiver (that would be N x view
    events a second): a box keeps its last few digests, and the delay with
    which receiver r sees digest k of box b is a hash of (seed, b, k, r),
    drawn uniformly in 0.2..1 s.  Receivers therefore see different
    versions at the same instant, as they do with epidemic gossip.
    ========================================================================= */
#include "common/rand.h"
#include "scheduler/simulate.h"

#include "common/selftest.h"
#include "scheduler/forecast.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MS            1000ULL      //  us per ms
#define S_SEC           1000000ULL   //  us per s
#define S_MAX_CAND      16           //  candidates kept per job
#define S_RING          4            //  digests kept per box (delay < 1 s, period 1 s)
#define S_HIST_BIN_US   100          //  latency histogram: 0.1 ms bins ...
#define S_HIST_BINS     100000       //  ... up to 10 s (then the last bin)
#define S_FRAME_BYTES   60000.0      //  one JPEG frame
#define S_LINK_BPS      1e9          //  LAN
#define S_SERVER_LAT_US 1000         //  one way to the analysis server
#define S_SVC_P50_MS    7.1          //  TinyFaceDetector 416, one thread, this CPU
#define S_SVC_SIGMA     0.083        //  lognormal: p99 / p50 = 8.6 / 7.1
#define S_NONE          UINT32_MAX

typedef enum {
    EV_ARRIVAL = 0,   //  a = box: a frame to analyse
    EV_DONE,          //  a = box: its worker finished its current job
    EV_SAMPLE,        //  a = box: digest sample (1 s period)
    EV_BURST,         //  an event starts somewhere
    EV_BURST_END,     //  a = centre box
    EV_OFFER,         //  a = job, b = peer: OFFER reaches the peer
    EV_REPLY,         //  a = job, b = 1 accepted / 0 refused: REPLY reaches the origin
    EV_JOB,           //  a = job, b = peer: the frame reaches the peer
    EV_SRV_JOB,       //  a = job: the frame reaches the server
    EV_SRV_DONE,      //  a = job: the server finished it
} ev_type_t;

typedef struct {
    uint64_t t;
    uint64_t seq;
    uint32_t type;
    uint32_t a, b;
} ev_t;

typedef struct {
    uint64_t t_us;
    uint32_t seq;
    uint32_t queue;
    double util_pct, util_ub, util_spread, queue_ub;
} sample_t;

typedef struct {
    double svc_p50_ms;   //  median service time of this box
    double svc_est_ms;   //  what it measured and advertises (p99: pessimistic)
    double base_rate;    //  jobs per second outside events
    uint32_t boost;      //  events covering it
    uint64_t arr_rng;    //  arrivals and service noise
    uint64_t pol_rng;    //  placement_choose
    uint32_t *q;         //  FIFO of job ids, capacity queue_max
    uint32_t qhead, qlen, reserved;
    uint32_t cur;   //  job in service or S_NONE
    uint64_t busy_acc, busy_since, busy_at_sample, t_sample;
    double util_last;   //  busy share over the last sample period, 0..1
    sample_t ring[S_RING];
    uint32_t nsamples;
    sched_forecast_t *fc_util, *fc_queue;
    uint32_t *view;
    uint32_t nview;
} box_t;

typedef struct {
    uint64_t t0, deadline;
    double z;   //  service-time noise, N(0, 1), fixed at arrival
    uint32_t origin;
    uint32_t next_free;
    uint8_t cand_n, cand_i;
    bool counted;
    uint32_t cand[S_MAX_CAND];
} job_t;

typedef struct {
    const sched_sim_cfg_t *cfg;
    sched_sim_result_t *res;
    uint64_t now, seq, end_arrivals, warmup_us;
    ev_t *heap;
    size_t heap_n, heap_cap;
    box_t *boxes;
    job_t *jobs;
    uint32_t jobs_cap, free_job;
    uint64_t burst_rng;
    double burst_rate;   //  per second
    //  Server: `server_workers` slots, one FIFO.
    uint32_t *sq;
    uint32_t sq_head, sq_len, s_running;
    uint32_t *hist;
    uint64_t hist_n;
    uint64_t busy_measured_us;
    placement_peer_t *peers;   //  scratch, view entries
} sim_t;

//  --------------------------------------------------------------------------
//  Random numbers (common/rand.h: the splitmix64 of placement.c and
//  gossip/member.c)

//  Uniform in (0, 1): never 0, so that log () is safe.
static double
s_unif (uint64_t *rng)
{
    return ((mw_splitmix64 (rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double
s_exp (uint64_t *rng, double rate)
{
    return -log (s_unif (rng)) / rate;
}

static double
s_normal (uint64_t *rng)
{
    //  Box-Muller, one of the pair: simple, and cheap next to the rest.
    return sqrt (-2.0 * log (s_unif (rng))) * cos (6.283185307179586 * s_unif (rng));
}

static uint64_t
s_hash (uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t s = a ^ (b * UINT64_C (0x9E3779B97F4A7C15)) ^ (c * UINT64_C (0xC2B2AE3D27D4EB4F))
                 ^ (d * UINT64_C (0x165667B19E3779F9));
    return mw_splitmix64 (&s);
}

//  One-way latency between two boxes: fixed per pair, 0.2..0.5 ms.
static uint64_t
s_lat_us (const sim_t *sim, uint32_t i, uint32_t j)
{
    uint32_t lo = i < j ? i : j, hi = i < j ? j : i;
    return 200 + s_hash (sim->cfg->seed, lo, hi, 1) % 301;
}

static uint64_t
s_transfer_us (void)
{
    return (uint64_t) (S_FRAME_BYTES * 8 / S_LINK_BPS * 1e6 + 0.5);
}

//  --------------------------------------------------------------------------
//  Event heap

static int
s_push (sim_t *sim, uint64_t t, uint32_t type, uint32_t a, uint32_t b)
{
    if (sim->heap_n == sim->heap_cap) {
        size_t cap = sim->heap_cap ? sim->heap_cap * 2 : 1024;
        ev_t *h = realloc (sim->heap, cap * sizeof *h);
        if (!h)
            return -1;
        sim->heap = h;
        sim->heap_cap = cap;
    }
    ev_t e = {t, sim->seq++, type, a, b};
    size_t i = sim->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        ev_t *q = &sim->heap[p];
        if (q->t < e.t || (q->t == e.t && q->seq < e.seq))
            break;
        sim->heap[i] = *q;
        i = p;
    }
    sim->heap[i] = e;
    return 0;
}

static bool
s_less (const ev_t *x, const ev_t *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static ev_t
s_pop (sim_t *sim)
{
    ev_t top = sim->heap[0];
    ev_t last = sim->heap[--sim->heap_n];
    size_t i = 0, n = sim->heap_n;
    while (true) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_less (&sim->heap[c + 1], &sim->heap[c]))
            c++;
        if (!s_less (&sim->heap[c], &last))
            break;
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n)
        sim->heap[i] = last;
    return top;
}

//  --------------------------------------------------------------------------
//  Jobs

static uint32_t
s_job_new (sim_t *sim)
{
    if (sim->free_job == S_NONE) {
        uint32_t cap = sim->jobs_cap ? sim->jobs_cap * 2 : 4096;
        job_t *j = realloc (sim->jobs, (size_t) cap * sizeof *j);
        if (!j)
            return S_NONE;
        sim->jobs = j;
        for (uint32_t i = sim->jobs_cap; i < cap; i++)
            j[i].next_free = i + 1 < cap ? i + 1 : S_NONE;
        sim->free_job = sim->jobs_cap;
        sim->jobs_cap = cap;
    }
    uint32_t id = sim->free_job;
    sim->free_job = sim->jobs[id].next_free;
    return id;
}

typedef enum { END_DONE, END_FAILED } end_t;

//  A job's one and only end: result back at the origin at `t_result`, or
//  failed (nobody could take it).
static void
s_job_end (sim_t *sim, uint32_t id, end_t how, uint64_t t_result)
{
    job_t *j = &sim->jobs[id];
    sched_sim_result_t *r = sim->res;
    r->jobs_ended++;
    if (j->counted) {
        if (how == END_FAILED)
            r->failed++;
        else {
            uint64_t lat = t_result - j->t0;
            if (t_result <= j->deadline)
                r->in_time++;
            else
                r->late++;
            uint64_t bin = lat / S_HIST_BIN_US;
            sim->hist[bin < S_HIST_BINS ? bin : S_HIST_BINS - 1]++;
            sim->hist_n++;
        }
    }
    j->next_free = sim->free_job;
    sim->free_job = id;
}

//  Budget left at time t, in ms, after `reserve_us` still to spend on the
//  way (transfers).  0 when nothing is left.
static uint32_t
s_budget_ms (const job_t *j, uint64_t t, uint64_t reserve_us)
{
    uint64_t need = t + reserve_us;
    if (need >= j->deadline)
        return 0;
    uint64_t left = (j->deadline - need) / S_MS;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t) left;
}

//  --------------------------------------------------------------------------
//  Boxes

static placement_local_t
s_local (const sim_t *sim, const box_t *b)
{
    placement_local_t l = {b->qlen, b->cur != S_NONE, b->reserved, 1, sim->cfg->queue_max, b->svc_est_ms};
    return l;
}

static uint64_t
s_svc_us (double p50_ms, double z)
{
    double ms = p50_ms * exp (S_SVC_SIGMA * z);
    return (uint64_t) (ms * S_MS) + 1;
}

static int
s_box_start (sim_t *sim, uint32_t bi)
{
    box_t *b = &sim->boxes[bi];
    if (b->cur != S_NONE || b->qlen == 0)
        return 0;
    uint32_t id = b->q[b->qhead];
    b->qhead = (b->qhead + 1) % sim->cfg->queue_max;
    b->qlen--;
    b->cur = id;
    b->busy_since = sim->now;
    uint64_t svc = s_svc_us (b->svc_p50_ms, sim->jobs[id].z);
    if (sim->now >= sim->warmup_us && sim->now < sim->end_arrivals)
        sim->busy_measured_us += svc;
    return s_push (sim, sim->now + svc, EV_DONE, bi, 0);
}

//  Queue a job the box admitted (itself, or a peer's after a reservation).
static int
s_box_enqueue (sim_t *sim, uint32_t bi, uint32_t id)
{
    box_t *b = &sim->boxes[bi];
    //  Admission keeps queued + reserved < queue_max, and a reservation
    //  becomes a queued job one for one, so there is always room.
    assert (b->qlen < sim->cfg->queue_max);
    b->q[(b->qhead + b->qlen) % sim->cfg->queue_max] = id;
    b->qlen++;
    return s_box_start (sim, bi);
}

static int
s_box_done (sim_t *sim, uint32_t bi)
{
    box_t *b = &sim->boxes[bi];
    uint32_t id = b->cur;
    b->cur = S_NONE;
    b->busy_acc += sim->now - b->busy_since;
    job_t *j = &sim->jobs[id];
    if (j->origin == bi)
        s_job_end (sim, id, END_DONE, sim->now);
    else {
        //  RESULT back to the origin: nothing waits on it but the clock.
        sim->res->messages += j->counted;
        s_job_end (sim, id, END_DONE, sim->now + s_lat_us (sim, bi, j->origin));
    }
    return s_box_start (sim, bi);
}

//  The sampler: what the daemon does every second - measure, feed the
//  forecasters, publish a digest.
static int
s_box_sample (sim_t *sim, uint32_t bi)
{
    box_t *b = &sim->boxes[bi];
    uint64_t busy = b->busy_acc + (b->cur != S_NONE ? sim->now - b->busy_since : 0);
    uint64_t span = sim->now - b->t_sample;
    double util = span ? (double) (busy - b->busy_at_sample) / (double) span : 0;
    b->busy_at_sample = busy;
    b->t_sample = sim->now;
    b->util_last = util > 1 ? 1 : util;
    uint32_t queue = b->qlen + b->reserved;
    uint64_t t_ms = sim->now / S_MS;
    sched_forecast_update (b->fc_util, t_ms, 100.0 * b->util_last);
    sched_forecast_update (b->fc_queue, t_ms, queue);
    sched_forecast_out_t fu, fq;
    sample_t *s = &b->ring[b->nsamples % S_RING];
    s->t_us = sim->now;
    s->seq = b->nsamples++;
    s->queue = queue;
    s->util_pct = 100.0 * b->util_last;
    //  Before the forecaster has residuals its bound is the clamp's top
    //  (fully busy, full queue): a box that knows nothing promises nothing.
    s->util_ub = sched_forecast_get (b->fc_util, 0, &fu) == 0 ? fu.upper : 100;
    s->util_spread = sched_forecast_get (b->fc_util, 0, &fu) == 0 ? fu.spread : 0;
    s->queue_ub = sched_forecast_get (b->fc_queue, 0, &fq) == 0 ? fq.upper : queue;
    if (sim->now + S_SEC < sim->end_arrivals)
        return s_push (sim, sim->now + S_SEC, EV_SAMPLE, bi, 0);
    return 0;
}

//  What box `viewer` knows about box `bi` right now: the newest digest
//  that has reached it.
static void
s_peer_view (const sim_t *sim, uint32_t viewer, uint32_t bi, placement_peer_t *p)
{
    const box_t *b = &sim->boxes[bi];
    memset (p, 0, sizeof *p);
    uint32_t have = b->nsamples < S_RING ? b->nsamples : S_RING;
    for (uint32_t k = 0; k < have; k++) {
        const sample_t *s = &b->ring[(b->nsamples - 1 - k) % S_RING];
        uint64_t delay = 200000 + s_hash (sim->cfg->seed, bi, s->seq, viewer) % 800001;
        if (s->t_us + delay > sim->now)
            continue;
        p->usable = true;
        p->digest_age_ms = (uint32_t) ((sim->now - s->t_us) / S_MS);
        p->cpu_now_pct = s->util_pct;
        p->cpu_ub_pct = s->util_ub;
        p->spread_pct = s->util_spread;
        p->queue_len = s->queue;
        p->queue_fc = s->queue_ub;
        break;
    }
    p->workers = 1;
    p->svc_ms = b->svc_est_ms;
    //  Offer round trip, frame over, result back.
    p->link_ms = (4.0 * s_lat_us (sim, viewer, bi) + s_transfer_us ()) / S_MS;
}

//  --------------------------------------------------------------------------
//  Hand-off

static int
s_to_server (sim_t *sim, uint32_t id)
{
    job_t *j = &sim->jobs[id];
    sim->res->server += j->counted;
    sim->res->messages += j->counted;   //  JOB
    return s_push (sim, sim->now + S_SERVER_LAT_US + s_transfer_us (), EV_SRV_JOB, id, 0);
}

static int
s_offer (sim_t *sim, uint32_t id)
{
    job_t *j = &sim->jobs[id];
    uint32_t peer = j->cand[j->cand_i];
    sim->res->messages += j->counted;
    sim->res->offers += j->counted;
    return s_push (sim, sim->now + s_lat_us (sim, j->origin, peer), EV_OFFER, id, peer);
}

//  Nobody (else) takes it: here if it still fits, else the server.
static int
s_fallback (sim_t *sim, uint32_t id)
{
    job_t *j = &sim->jobs[id];
    box_t *b = &sim->boxes[j->origin];
    placement_local_t l = s_local (sim, b);
    if (placement_admit (&sim->cfg->placement, &l, s_budget_ms (j, sim->now, 0))) {
        sim->res->local += j->counted;
        return s_box_enqueue (sim, j->origin, id);
    }
    return s_to_server (sim, id);
}

static int
s_arrival (sim_t *sim, uint32_t bi)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    box_t *b = &sim->boxes[bi];
    double rate = b->base_rate * (b->boost ? cfg->event_factor : 1.0);
    uint64_t next = sim->now + (uint64_t) (s_exp (&b->arr_rng, rate) * S_SEC) + 1;
    if (next < sim->end_arrivals && s_push (sim, next, EV_ARRIVAL, bi, 0))
        return -1;

    uint32_t id = s_job_new (sim);
    if (id == S_NONE)
        return -1;
    job_t *j = &sim->jobs[id];
    j->t0 = sim->now;
    j->deadline = sim->now + (uint64_t) cfg->deadline_ms * S_MS;
    j->z = s_normal (&b->arr_rng);
    j->origin = bi;
    j->cand_n = j->cand_i = 0;
    j->counted = sim->now >= sim->warmup_us;
    sim->res->jobs_total++;
    sim->res->jobs += j->counted;

    placement_local_t l = s_local (sim, b);
    uint32_t budget = cfg->deadline_ms;
    if (placement_should_offload (&cfg->placement, cfg->policy, &l, b->util_last, budget)) {
        for (uint32_t k = 0; k < b->nview; k++)
            s_peer_view (sim, bi, b->view[k], &sim->peers[k]);
        uint32_t pick[S_MAX_CAND];
        size_t n = placement_choose (&cfg->placement, cfg->policy, sim->peers, b->nview, budget, &b->pol_rng,
                                     pick, S_MAX_CAND);
        for (size_t k = 0; k < n; k++)
            j->cand[k] = b->view[pick[k]];
        j->cand_n = (uint8_t) n;
        if (n > 0)
            return s_offer (sim, id);
    }
    return s_fallback (sim, id);
}

//  OFFER at the peer: it answers on its own current state, never on what
//  the asker believed.  The budget it checks is what is left once the
//  reply, the frame and the result have crossed the link.
static int
s_on_offer (sim_t *sim, uint32_t id, uint32_t pi)
{
    job_t *j = &sim->jobs[id];
    box_t *p = &sim->boxes[pi];
    uint64_t lat = s_lat_us (sim, j->origin, pi);
    placement_local_t l = s_local (sim, p);
    uint32_t budget = s_budget_ms (j, sim->now, 3 * lat + s_transfer_us ());
    bool ok = budget > 0 && placement_admit (&sim->cfg->placement, &l, budget);
    if (ok)
        p->reserved++;
    else
        sim->res->refusals += j->counted;
    sim->res->messages += j->counted;   //  REPLY
    return s_push (sim, sim->now + lat, EV_REPLY, id, ok);
}

static int
s_on_reply (sim_t *sim, uint32_t id, bool accepted)
{
    job_t *j = &sim->jobs[id];
    if (accepted) {
        uint32_t pi = j->cand[j->cand_i];
        sim->res->peer += j->counted;
        sim->res->messages += j->counted;   //  JOB
        return s_push (sim, sim->now + s_lat_us (sim, j->origin, pi) + s_transfer_us (), EV_JOB, id, pi);
    }
    if (++j->cand_i < j->cand_n)
        return s_offer (sim, id);
    return s_fallback (sim, id);
}

static int
s_on_job (sim_t *sim, uint32_t id, uint32_t pi)
{
    box_t *p = &sim->boxes[pi];
    assert (p->reserved > 0);
    p->reserved--;
    return s_box_enqueue (sim, pi, id);
}

static int
s_server_start (sim_t *sim)
{
    while (sim->s_running < sim->cfg->server_workers && sim->sq_len > 0) {
        uint32_t id = sim->sq[sim->sq_head];
        sim->sq_head = (sim->sq_head + 1) % sim->cfg->server_queue_max;
        sim->sq_len--;
        sim->s_running++;
        if (s_push (sim, sim->now + s_svc_us (S_SVC_P50_MS, sim->jobs[id].z), EV_SRV_DONE, id, 0))
            return -1;
    }
    return 0;
}

//  The analysis server admits by the same rule as a box; when it cannot
//  finish in time (or its queue is full) the job fails.
static int
s_on_srv_job (sim_t *sim, uint32_t id)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    job_t *j = &sim->jobs[id];
    placement_local_t l = {
        sim->sq_len,         sim->s_running,        0,
        cfg->server_workers, cfg->server_queue_max, S_SVC_P50_MS * exp (2.326 * S_SVC_SIGMA)};
    uint32_t budget = s_budget_ms (j, sim->now, S_SERVER_LAT_US);
    if (budget == 0 || !placement_admit (&cfg->placement, &l, budget)) {
        s_job_end (sim, id, END_FAILED, 0);
        return 0;
    }
    sim->sq[(sim->sq_head + sim->sq_len) % cfg->server_queue_max] = id;
    sim->sq_len++;
    return s_server_start (sim);
}

static int
s_on_srv_done (sim_t *sim, uint32_t id)
{
    sim->s_running--;
    sim->res->messages += sim->jobs[id].counted;   //  RESULT
    s_job_end (sim, id, END_DONE, sim->now + S_SERVER_LAT_US);
    return s_server_start (sim);
}

//  --------------------------------------------------------------------------
//  Bursts: a Poisson process of events; each covers a centre box and its
//  nearest neighbours on the ring and multiplies their frame rate.

static void
s_burst_mark (sim_t *sim, uint32_t centre, int delta)
{
    uint32_t n = sim->cfg->nodes, k = sim->cfg->event_boxes;
    if (k > n)
        k = n;
    for (uint32_t d = 0; d < k; d++) {
        //  centre, +1, -1, +2, -2, ...
        int64_t off = (d + 1) / 2;
        if (d % 2 == 0)
            off = -off;
        uint32_t bi = (uint32_t) (((int64_t) centre + off + (int64_t) n * 4) % n);
        sim->boxes[bi].boost += delta;
    }
}

static int
s_burst (sim_t *sim)
{
    uint32_t centre = (uint32_t) (mw_splitmix64 (&sim->burst_rng) % sim->cfg->nodes);
    double len_s = 5 + 15 * s_unif (&sim->burst_rng);
    s_burst_mark (sim, centre, +1);
    if (sim->now >= sim->warmup_us)
        sim->res->events++;
    if (s_push (sim, sim->now + (uint64_t) (len_s * S_SEC), EV_BURST_END, centre, 0))
        return -1;
    uint64_t next = sim->now + (uint64_t) (s_exp (&sim->burst_rng, sim->burst_rate) * S_SEC);
    if (next < sim->end_arrivals)
        return s_push (sim, next, EV_BURST, 0, 0);
    return 0;
}

//  --------------------------------------------------------------------------
//  Setup, run, teardown

void
sched_sim_cfg_defaults (sched_sim_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->nodes = 100;
    cfg->policy = PLACEMENT_FORECAST;
    cfg->seed = 1;
    cfg->duration_s = 60;
    cfg->warmup_s = 15;
    cfg->deadline_ms = 500;
    cfg->cameras = 4;
    cfg->load = 0.5;
    cfg->event_cover = 0.15;
    cfg->event_boxes = 10;
    cfg->event_factor = 3;
    cfg->view = 32;
    cfg->queue_max = 64;
    cfg->server_workers = 8;
    cfg->server_queue_max = 512;
    cfg->horizon_s = 2;
    placement_cfg_defaults (&cfg->placement);
}

static void
s_free (sim_t *sim)
{
    if (sim->boxes)
        for (uint32_t i = 0; i < sim->cfg->nodes; i++) {
            box_t *b = &sim->boxes[i];
            free (b->q);
            free (b->view);
            sched_forecast_destroy (&b->fc_util);
            sched_forecast_destroy (&b->fc_queue);
        }
    free (sim->boxes);
    free (sim->heap);
    free (sim->jobs);
    free (sim->sq);
    free (sim->hist);
    free (sim->peers);
}

static int
s_setup (sim_t *sim)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    uint32_t n = cfg->nodes;
    uint64_t setup_rng = cfg->seed ^ UINT64_C (0x5E7095E7095E7095);
    sim->burst_rng = cfg->seed ^ UINT64_C (0xB0257B0257B0257B);
    sim->free_job = S_NONE;
    sim->boxes = calloc (n, sizeof *sim->boxes);
    sim->sq = calloc (cfg->server_queue_max, sizeof *sim->sq);
    sim->hist = calloc (S_HIST_BINS, sizeof *sim->hist);
    sim->peers = calloc (cfg->view ? cfg->view : 1, sizeof *sim->peers);
    if (!sim->boxes || !sim->sq || !sim->hist || !sim->peers)
        return -1;

    sched_forecast_cfg_t fu, fq;
    sched_forecast_cfg_defaults (&fu);
    fu.horizon_ms[0] = cfg->horizon_s * 1000;
    fu.n_horizons = 1;
    fu.lo = 0;
    fu.hi = 100;
    fq = fu;
    fq.hi = cfg->queue_max;

    //  Each box: a speed (Jetson-class boxes differ: 1..4 x slower than
    //  the reference CPU), cameras at 2..5 fps.  Frames are scaled to jobs
    //  so that a box of average camera count runs at `load` of its own
    //  capacity: installers size cameras to boxes, roughly.
    double *fps = calloc (n, sizeof *fps), fps_sum = 0;
    if (!fps)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t c = 0; c < cfg->cameras; c++)
            fps[i] += 2 + 3 * s_unif (&setup_rng);
        fps_sum += fps[i];
    }
    double fps_mean = fps_sum / n;
    for (uint32_t i = 0; i < n; i++) {
        box_t *b = &sim->boxes[i];
        double factor = 1 + 3 * s_unif (&setup_rng);
        b->svc_p50_ms = S_SVC_P50_MS * factor;
        b->svc_est_ms = b->svc_p50_ms * exp (2.326 * S_SVC_SIGMA);
        double mean_ms = b->svc_p50_ms * exp (S_SVC_SIGMA * S_SVC_SIGMA / 2);
        b->base_rate = cfg->load * (1000.0 / mean_ms) * fps[i] / fps_mean;
        b->arr_rng = s_hash (cfg->seed, i, 0xA11, 0);
        b->pol_rng = s_hash (cfg->seed, i, 0x9011C7, 0);
        b->cur = S_NONE;
        b->q = calloc (cfg->queue_max, sizeof *b->q);
        b->fc_util = sched_forecast_new (&fu);
        b->fc_queue = sched_forecast_new (&fq);
        //  Partial view: `view` distinct random peers (or everybody).
        b->nview = cfg->view < n - 1 ? cfg->view : n - 1;
        b->view = calloc (b->nview ? b->nview : 1, sizeof *b->view);
        if (!b->q || !b->fc_util || !b->fc_queue || !b->view) {
            free (fps);
            return -1;
        }
        if (b->nview == n - 1)
            for (uint32_t k = 0, j = 0; j < n; j++) {
                if (j != i)
                    b->view[k++] = j;
            }
        else
            for (uint32_t k = 0; k < b->nview;) {
                uint32_t j = (uint32_t) (mw_splitmix64 (&setup_rng) % n);
                bool dup = j == i;
                for (uint32_t m = 0; m < k && !dup; m++)
                    dup = b->view[m] == j;
                if (!dup)
                    b->view[k++] = j;
            }
        uint64_t first = (uint64_t) (s_exp (&b->arr_rng, b->base_rate) * S_SEC);
        uint64_t phase = mw_splitmix64 (&setup_rng) % S_SEC;
        if (s_push (sim, first, EV_ARRIVAL, i, 0) || s_push (sim, phase, EV_SAMPLE, i, 0)) {
            free (fps);
            return -1;
        }
    }
    free (fps);
    //  Bursts: rate such that `event_cover` of the boxes are, on average,
    //  inside one (mean length 12.5 s).
    uint32_t k = cfg->event_boxes < n ? cfg->event_boxes : n;
    sim->burst_rate = cfg->event_cover * n / ((k ? k : 1) * 12.5);
    if (sim->burst_rate > 0) {
        uint64_t first = (uint64_t) (s_exp (&sim->burst_rng, sim->burst_rate) * S_SEC);
        if (first < sim->end_arrivals && s_push (sim, first, EV_BURST, 0, 0))
            return -1;
    }
    return 0;
}

static double
s_percentile (const sim_t *sim, double q)
{
    if (sim->hist_n == 0)
        return 0;
    uint64_t want = (uint64_t) ceil (q * (double) sim->hist_n), acc = 0;
    if (want == 0)
        want = 1;
    for (uint32_t i = 0; i < S_HIST_BINS; i++) {
        acc += sim->hist[i];
        if (acc >= want)
            return (i + 1) * (double) S_HIST_BIN_US / S_MS;   //  bin's upper edge
    }
    return (double) S_HIST_BINS * S_HIST_BIN_US / S_MS;
}

int
sched_sim_run (const sched_sim_cfg_t *cfg, sched_sim_result_t *res)
{
    assert (cfg);
    assert (res);
    memset (res, 0, sizeof *res);
    if (cfg->nodes < 2 || cfg->nodes > 100000 || cfg->policy >= PLACEMENT_POLICY_COUNT
        || !(cfg->duration_s > 0 && cfg->duration_s <= 86400)
        || !(cfg->warmup_s >= 0 && cfg->warmup_s <= 3600) || cfg->deadline_ms == 0 || cfg->cameras == 0
        || !(cfg->load > 0 && cfg->load <= 10) || !(cfg->event_cover >= 0 && cfg->event_cover <= 1)
        || !(cfg->event_factor >= 1) || cfg->queue_max == 0 || cfg->server_queue_max == 0
        || cfg->horizon_s == 0 || cfg->horizon_s > 255 || cfg->view > 4096)
        return -1;
    sim_t sim;
    memset (&sim, 0, sizeof sim);
    sim.cfg = cfg;
    sim.res = res;
    sim.warmup_us = (uint64_t) (cfg->warmup_s * S_SEC);
    sim.end_arrivals = sim.warmup_us + (uint64_t) (cfg->duration_s * S_SEC);
    res->policy = cfg->policy;
    res->nodes = cfg->nodes;
    res->seed = cfg->seed;
    res->duration_s = cfg->duration_s;

    int rc = s_setup (&sim);
    //  Arrivals stop at the end of the measured period; what is in flight
    //  then drains, so that every job ends.
    while (rc == 0 && sim.heap_n > 0) {
        ev_t e = s_pop (&sim);
        sim.now = e.t;
        res->sim_events++;
        switch ((ev_type_t) e.type) {
        case EV_ARRIVAL: rc = s_arrival (&sim, e.a); break;
        case EV_DONE: rc = s_box_done (&sim, e.a); break;
        case EV_SAMPLE: rc = s_box_sample (&sim, e.a); break;
        case EV_BURST: rc = s_burst (&sim); break;
        case EV_BURST_END: s_burst_mark (&sim, e.a, -1); break;
        case EV_OFFER: rc = s_on_offer (&sim, e.a, e.b); break;
        case EV_REPLY: rc = s_on_reply (&sim, e.a, e.b != 0); break;
        case EV_JOB: rc = s_on_job (&sim, e.a, e.b); break;
        case EV_SRV_JOB: rc = s_on_srv_job (&sim, e.a); break;
        case EV_SRV_DONE: rc = s_on_srv_done (&sim, e.a); break;
        }
    }
    if (rc == 0) {
        double jobs = res->jobs ? (double) res->jobs : 1;
        res->deadline_miss_rate = (double) (res->late + res->failed) / jobs;
        res->local_share = (double) res->local / jobs;
        res->peer_share = (double) res->peer / jobs;
        res->server_share = (double) res->server / jobs;
        res->messages_per_job = (double) res->messages / jobs;
        res->p50_ms = s_percentile (&sim, 0.50);
        res->p99_ms = s_percentile (&sim, 0.99);
        res->mean_util = (double) sim.busy_measured_us / ((double) cfg->nodes * cfg->duration_s * S_SEC);
    }
    s_free (&sim);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest

int
sched_simulate_test (bool verbose)
{
    int rc = 0;
    sched_sim_cfg_t cfg;
    sched_sim_cfg_defaults (&cfg);
    cfg.nodes = 20;
    cfg.duration_s = 20;
    cfg.warmup_s = 12;
    cfg.seed = 7;
    cfg.event_cover = 0.6;   //  small mesh: make sure bursts happen (~6 in 20 s)
    sched_sim_result_t r[PLACEMENT_POLICY_COUNT], again;
    for (int p = 0; p < PLACEMENT_POLICY_COUNT; p++) {
        cfg.policy = (placement_policy_t) p;
        sched_sim_result_t *x = &r[p];
        CHECK (sched_sim_run (&cfg, x) == 0, "run %d", p);
        CHECK (x->jobs > 0, "%d: no jobs", p);
        CHECK (x->in_time + x->late + x->failed == x->jobs,
               "%d: conservation of outcomes %llu + %llu + %llu != %llu", p, (unsigned long long) x->in_time,
               (unsigned long long) x->late, (unsigned long long) x->failed, (unsigned long long) x->jobs);
        CHECK (x->local + x->peer + x->server == x->jobs, "%d: conservation of placements", p);
        CHECK (x->jobs_ended == x->jobs_total, "%d: every job ends exactly once", p);
        CHECK (x->messages_per_job >= 0 && x->deadline_miss_rate >= 0 && x->deadline_miss_rate <= 1,
               "%d: ranges", p);
        CHECK (x->p50_ms > 0 && x->p50_ms <= x->p99_ms, "%d: latency order", p);
        CHECK (x->events > 0, "%d: no burst", p);
        if (verbose)
            printf ("sched_simulate_test: %-8s jobs %llu miss %.4f local %.3f peer %.3f server "
                    "%.3f msg/job %.3f p99 %.1f ms util %.2f\n",
                    placement_policy_name (x->policy), (unsigned long long) x->jobs, x->deadline_miss_rate,
                    x->local_share, x->peer_share, x->server_share, x->messages_per_job, x->p99_ms,
                    x->mean_util);
    }
    CHECK (r[PLACEMENT_LOCAL].peer == 0 && r[PLACEMENT_LOCAL].offers == 0, "local policy sent to peers");
    CHECK (r[PLACEMENT_FORECAST].peer > 0 && r[PLACEMENT_REACTIVE].peer > 0 && r[PLACEMENT_RANDOM].peer > 0,
           "hand-off policies never handed off");
    //  Same input for every policy (common random numbers).
    for (int p = 1; p < PLACEMENT_POLICY_COUNT; p++)
        CHECK (r[p].jobs == r[0].jobs && r[p].events == r[0].events, "same arrivals, policy %d", p);
    //  Determinism: the same seed gives the same numbers.
    cfg.policy = PLACEMENT_FORECAST;
    CHECK (sched_sim_run (&cfg, &again) == 0, "rerun");
    CHECK (again.jobs == r[PLACEMENT_FORECAST].jobs && again.messages == r[PLACEMENT_FORECAST].messages
               && again.in_time == r[PLACEMENT_FORECAST].in_time && again.peer == r[PLACEMENT_FORECAST].peer
               && again.sim_events == r[PLACEMENT_FORECAST].sim_events
               && again.p99_ms == r[PLACEMENT_FORECAST].p99_ms,
           "determinism");
    cfg.seed = 8;
    CHECK (sched_sim_run (&cfg, &again) == 0 && again.sim_events != r[PLACEMENT_FORECAST].sim_events,
           "another seed, another run");
    //  Bad configurations are refused, not crashed on.
    sched_sim_cfg_t bad = cfg;
    bad.nodes = 1;
    CHECK (sched_sim_run (&bad, &again) == -1, "1 node");
    bad = cfg;
    bad.duration_s = NAN;
    CHECK (sched_sim_run (&bad, &again) == -1, "NaN duration");
    bad = cfg;
    bad.policy = PLACEMENT_POLICY_COUNT;
    CHECK (sched_sim_run (&bad, &again) == -1, "bad policy");
    //  A two-box mesh with a tiny view works too.
    bad = cfg;
    bad.nodes = 2;
    bad.view = 1;
    bad.duration_s = 3;
    bad.warmup_s = 0;
    CHECK (sched_sim_run (&bad, &again) == 0 && again.jobs_ended == again.jobs_total, "2 boxes");
    return rc;
}
