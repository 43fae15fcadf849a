/*  =========================================================================
    sched_sim - job placement across a simulated mesh (see simulate.h and
    docs/PLACEMENT.md).

    Every box and the analysis server is a real sched_handoff instance
    (scheduler/handoff.c, the daemon's state machine) on sim/netsim: the
    offers, replies, refusals, reservations, fallback to the server,
    timeouts and re-dispatches are the module's, not a model of them.  What
    is modelled is what the daemon gets from outside:

      * the runner: one worker per box (the server: `server_workers`), a
        lognormal service time per job (the job's noise times the box's
        median), started and finished through handoff's start and
        local_done like node/runner.c;
      * the cameras: Poisson arrivals per box, tripled inside bursts;
      * the gossip: every box samples itself every second (busy share of
        its runner, its queue), feeds the daemon's forecasters and encodes
        a real digest (scheduler/digest.h); a receiver sees each digest
        0.2..1 s after it was taken (drawn per receiver from a hash of
        (seed, box, sample, receiver), so receivers disagree as with
        epidemic gossip, without an event per receiver), and every 250 ms
        turns what it sees into placement's view with sched_digest_peer,
        as node/jobs.c does;
      * the links: netsim's, one-way 0.2..0.5 ms fixed per pair, 1 ms to
        the server, 1 Gb/s (a JOB carries a 60 KB frame).

    Messages go as flat copies of the module's structs (no wire codec: see
    sim/netsim.h); what a frame is, is a token naming the simulated job,
    and the size on the wire is given to netsim.  Time: netsim's
    microseconds; the module sees milliseconds.

    Randomness is split into streams so that the policies compare on the
    same input ("common random numbers"): each box draws its arrivals and
    the service-time noise of its jobs from its own stream, bursts come
    from one stream of their own, and each hand-off instance draws its
    choice of peers from its own generator.  Whatever a policy does, the
    frames that arrive, when they arrive and how long each takes to
    analyse are the same.
    ========================================================================= */
#include "scheduler/simulate.h"

#include "common/rand.h"
#include "common/selftest.h"
#include "scheduler/digest.h"
#include "scheduler/forecast.h"
#include "scheduler/handoff.h"
#include "sim/netsim.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MS            1000ULL         //  us per ms
#define S_SEC           1000000ULL      //  us per s
#define S_RING          4               //  digests kept per box (delay < 1 s, period 1 s)
#define S_HIST_BIN_US   100             //  latency histogram: 0.1 ms bins ...
#define S_HIST_BINS     100000          //  ... up to 10 s (then the last bin)
#define S_FRAME_BYTES   60000.0         //  one JPEG frame
#define S_MSG_BYTES     200             //  a data-plane message besides its frame
#define S_LINK_BPS      1e9             //  LAN
#define S_SERVER_LAT_US 1000            //  one way to the analysis server
#define S_SVC_P50_MS    7.1             //  TinyFaceDetector 416, one thread, this CPU
#define S_SVC_SIGMA     0.083           //  lognormal: p99 / p50 = 8.6 / 7.1
#define S_PEERS_US      (250 * S_MS)    //  peer view refresh (node/agent.c)
#define S_DRAIN_US      (120 * S_SEC)   //  bound on the drain after the last arrival
#define S_TOKEN         8               //  a frame: the simulated job's index and generation
#define S_NONE          UINT32_MAX
#define S_MODEL         "tiny-face"
#define S_BIN_US        (10 * S_MS)   //  the capacity floor's time step

typedef struct {
    uint64_t t_us;
    uint32_t seq;
    sched_digest_t d;   //  as a receiver decodes it
} sample_t;

typedef struct _sim_t sim_t;

typedef struct {
    sim_t *sim;
    uint32_t index;   //  netsim node
    sched_handoff_t *h;
    mw_id_t id;
    char addr[MW_ADDR_MAX + 1];
    bool server;
    double svc_p50_ms;                       //  median service time of this box
    double svc_est_ms;                       //  what it measured and advertises (p99: pessimistic)
    double base_rate;                        //  jobs per second outside events
    uint32_t boost;                          //  events covering it
    uint64_t arr_rng;                        //  arrivals and service noise
    uint64_t arrivals, arrivals_at_sample;   //  frames from its cameras (the digest's arrival rate)
    uint32_t running, workers;
    uint64_t busy_acc, busy_since, busy_at_sample, t_sample;
    double util_last;   //  busy share over the last sample period, 0..1
    sample_t ring[S_RING];
    uint32_t nsamples;
    sched_forecast_t *fc_util, *fc_queue;
    uint32_t *view;
    uint32_t nview;
} box_t;

typedef struct {
    uint64_t t0, deadline;   //  us
    double z;                //  service-time noise, N(0, 1), fixed at arrival
    uint32_t origin;
    uint32_t next_free;
    uint32_t gen;
    bool counted, live;
} job_t;

struct _sim_t {
    const sched_sim_cfg_t *cfg;
    sched_sim_result_t *res;
    netsim_t *net;
    int port;
    uint64_t warmup_us, end_arrivals;
    box_t *boxes;   //  n boxes, then the analysis server
    uint32_t n;
    job_t *jobs;
    uint32_t jobs_cap, free_job, gen;
    uint64_t burst_rng;
    double burst_rate;   //  per second
    uint32_t *hist;
    uint64_t hist_n;
    uint64_t busy_measured_us;
    uint32_t *arr_bins;   //  arrivals per S_BIN_US, for the capacity floor
    uint32_t n_bins;
    handoff_peer_t *peers;   //  scratch, view entries
    uint8_t *flat;           //  scratch, one flat message
    size_t flat_cap;
    int rc;   //  an error inside a callback
};

//  --------------------------------------------------------------------------
//  Random numbers (common/rand.h)

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

static uint64_t
s_transfer_us (void)
{
    return (uint64_t) (S_FRAME_BYTES * 8 / S_LINK_BPS * 1e6 + 0.5);
}

static uint64_t
s_svc_us (double p50_ms, double z)
{
    double ms = p50_ms * exp (S_SVC_SIGMA * z);
    return (uint64_t) (ms * S_MS) + 1;
}

static void
s_fail (sim_t *sim)
{
    sim->rc = -1;
    netsim_stop (sim->net);
}

//  --------------------------------------------------------------------------
//  Simulated jobs: the index and a generation travel in the job id and in
//  the frame, so a late message for a job that ended is recognised.

static void
s_token (uint32_t idx, uint32_t gen, uint8_t *b)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t) (idx >> (8 * i));
        b[4 + i] = (uint8_t) (gen >> (8 * i));
    }
}

static job_t *
s_job_of (sim_t *sim, const uint8_t *b, uint32_t *idx_out)
{
    uint32_t idx = 0, gen = 0;
    for (int i = 0; i < 4; i++) {
        idx |= (uint32_t) b[i] << (8 * i);
        gen |= (uint32_t) b[4 + i] << (8 * i);
    }
    if (idx >= sim->jobs_cap || !sim->jobs[idx].live || sim->jobs[idx].gen != gen)
        return NULL;
    if (idx_out)
        *idx_out = idx;
    return &sim->jobs[idx];
}

static uint32_t
s_job_new (sim_t *sim)
{
    if (sim->free_job == S_NONE) {
        uint32_t cap = sim->jobs_cap ? sim->jobs_cap * 2 : 4096;
        job_t *j = realloc (sim->jobs, (size_t) cap * sizeof *j);
        if (!j)
            return S_NONE;
        sim->jobs = j;
        for (uint32_t i = sim->jobs_cap; i < cap; i++) {
            j[i].next_free = i + 1 < cap ? i + 1 : S_NONE;
            j[i].live = false;
        }
        sim->free_job = sim->jobs_cap;
        sim->jobs_cap = cap;
    }
    uint32_t id = sim->free_job;
    sim->free_job = sim->jobs[id].next_free;
    return id;
}

typedef enum { END_DONE, END_FAILED } end_t;

//  A job's one and only end, at the origin, now: done (result back) or
//  failed.  Counted where it ended up: run here, on a peer, or sent to the
//  server (a job that failed after the server was asked, or before it
//  went anywhere at all, counts as the server's).
static void
s_job_end (sim_t *sim, uint32_t idx, end_t how, handoff_path_t path)
{
    job_t *j = &sim->jobs[idx];
    if (!j->live)
        return;
    sched_sim_result_t *r = sim->res;
    uint64_t now = netsim_now (sim->net);
    j->live = false;
    r->jobs_ended++;
    if (j->counted) {
        if (how == END_FAILED)
            r->failed++;
        else {
            uint64_t lat = now - j->t0;
            if (now <= j->deadline)
                r->in_time++;
            else
                r->late++;
            uint64_t bin = lat / S_HIST_BIN_US;
            sim->hist[bin < S_HIST_BINS ? bin : S_HIST_BINS - 1]++;
            sim->hist_n++;
        }
        if (path == HANDOFF_PATH_LOCAL)
            r->local++;
        else if (path == HANDOFF_PATH_PEER)
            r->peer++;
        else
            r->server++;
    }
    j->next_free = sim->free_job;
    sim->free_job = idx;
    if (now >= sim->end_arrivals && r->jobs_ended == r->jobs_total)
        netsim_stop (sim->net);
}

//  --------------------------------------------------------------------------
//  What the daemon does for the hand-off module (handoff_ops_t)

static int
s_op_send (void *ctx, const char *addr, const handoff_msg_t *msg)
{
    box_t *b = (box_t *) ctx;
    sim_t *sim = b->sim;
    if (strncmp (addr, "sim://", 6) != 0)
        return -1;
    uint32_t to = (uint32_t) strtoul (addr + 6, NULL, 10);
    if (to > sim->n)
        return -1;
    job_t *j = s_job_of (sim, msg->id.b, NULL);
    if (j && j->counted) {
        //  Every data-plane message counts; offers and refusals are the
        //  peers' (the server's admission is the fallback, as before).
        bool peers = !b->server && to != sim->n;
        sim->res->messages++;
        sim->res->offers += peers && msg->type == HANDOFF_MSG_OFFER;
        sim->res->refusals += peers && msg->type == HANDOFF_MSG_REPLY && !msg->status;
    }
    size_t len = handoff_msg_flatten (msg, NULL, 0);
    if (len > sim->flat_cap) {
        uint8_t *f = realloc (sim->flat, len);
        if (!f) {
            s_fail (sim);
            return -1;
        }
        sim->flat = f;
        sim->flat_cap = len;
    }
    handoff_msg_flatten (msg, sim->flat, len);
    size_t wire = S_MSG_BYTES + (msg->type == HANDOFF_MSG_JOB ? (size_t) S_FRAME_BYTES : 0);
    return netsim_send (sim->net, b->index, to, sim->port, sim->flat, len, wire);
}

static void
s_runner_done (netsim_t *net, void *arg, uint64_t tag)
{
    box_t *b = (box_t *) arg;
    uint64_t now = netsim_now (net);
    double infer_ms = 0;
    b->running--;
    if (!b->server) {
        b->busy_acc += now - b->busy_since;
        infer_ms = (double) (now - b->busy_since) / S_MS;
    }
    handoff_local_result_t r = {0, NULL, 640, 480, infer_ms, 0, NULL, 0};
    sched_handoff_local_done (b->h, tag, &r, now / S_MS);
    netsim_poke (net, b->index, b->sim->port);
}

static int
s_op_start (void *ctx, uint64_t tag, const char *model, const uint8_t *frame, size_t len)
{
    box_t *b = (box_t *) ctx;
    sim_t *sim = b->sim;
    if (b->running >= b->workers)
        return -1;
    //  The job's own noise (a job that ended at its origin meanwhile still
    //  runs here: the median then).
    job_t *j = len >= S_TOKEN ? s_job_of (sim, frame, NULL) : NULL;
    uint64_t now = netsim_now (sim->net);
    uint64_t svc = s_svc_us (b->server ? S_SVC_P50_MS : b->svc_p50_ms, j ? j->z : 0);
    if (netsim_at (sim->net, now + svc, s_runner_done, b, tag) != 0) {
        s_fail (sim);
        return -1;
    }
    b->running++;
    if (!b->server) {
        b->busy_since = now;
        if (now >= sim->warmup_us && now < sim->end_arrivals)
            sim->busy_measured_us += svc;
    }
    return 0;
}

static bool
s_op_has_model (void *ctx, const char *model)
{
    return true;
}

static double
s_op_svc_ms (void *ctx, const char *model)
{
    return ((box_t *) ctx)->svc_est_ms;
}

static void
s_op_event (void *ctx, const char *name, const handoff_info_t *info)
{
    box_t *b = (box_t *) ctx;
    bool done = !strcmp (name, "done");
    if (!info->origin || (!done && strcmp (name, "failed") != 0))
        return;
    uint32_t idx;
    if (s_job_of (b->sim, info->id.b, &idx))
        s_job_end (b->sim, idx, done ? END_DONE : END_FAILED, info->path);
}

//  The link cost a viewer puts in its view of a peer: offer round trip,
//  frame over, result back.
static double
s_link_ms (sim_t *sim, uint32_t from, uint32_t to)
{
    return (4.0 * (double) netsim_latency_us (sim->net, from, to) + (double) s_transfer_us ()) / S_MS;
}

//  ORACLE: just before a box chooses, its view becomes the truth - each
//  peer's exact count of jobs ahead (queued, reserved, running) and the
//  exact rate of its own cameras now - at age 0.  No box can know this;
//  it is the bound the other policies are measured against.
static void
s_op_refresh (void *ctx, uint64_t now_ms)
{
    box_t *v = (box_t *) ctx;
    sim_t *sim = v->sim;
    (void) now_ms;
    for (uint32_t m = 0; m < v->nview; m++) {
        box_t *b = &sim->boxes[v->view[m]];
        placement_local_t l;
        sched_handoff_local (b->h, S_MODEL, &l);
        handoff_peer_t *p = &sim->peers[m];
        memset (p, 0, sizeof *p);
        p->id = b->id;
        memcpy (p->addr, b->addr, sizeof p->addr);
        p->p.usable = true;
        p->p.cpu_now_pct = p->p.cpu_ub_pct = 100.0 * b->util_last;
        p->p.queue_len = l.queued + l.reserved + l.running;
        p->p.queue_fc = p->p.queue_len;
        p->p.workers = b->workers;
        p->p.svc_ms = b->svc_est_ms;
        p->p.link_ms = s_link_ms (sim, v->index, b->index);
        p->p.arrival_rate = b->base_rate * (b->boost ? sim->cfg->event_factor : 1.0);
        p->p.heard_age_ms = UINT32_MAX;
    }
    sched_handoff_set_peers (v->h, sim->peers, v->nview);
}

//  The hand-off module as a netsim service.
static void
s_svc_handle (void *ctx, uint32_t node, uint32_t from, void *msg, size_t len, uint64_t now_us)
{
    sim_t *sim = (sim_t *) ctx;
    handoff_msg_t m;
    if (handoff_msg_unflatten (msg, len, &m) != 0)
        return;
    m.sender = sim->boxes[from].id;   //  what the transport authenticates
    sched_handoff_handle (sim->boxes[node].h, &m, now_us / S_MS);
}

static void
s_svc_tick (void *ctx, uint32_t node, uint64_t now_us)
{
    sim_t *sim = (sim_t *) ctx;
    sched_handoff_tick (sim->boxes[node].h, now_us / S_MS);
}

static uint64_t
s_svc_wakeup (void *ctx, uint32_t node, uint64_t now_us)
{
    sim_t *sim = (sim_t *) ctx;
    return sched_handoff_next_wakeup (sim->boxes[node].h, now_us / S_MS) * S_MS;
}

//  --------------------------------------------------------------------------
//  Host timers: cameras, the sampler and digest, the peer view, bursts

static void
s_arrival (netsim_t *net, void *arg, uint64_t bi)
{
    sim_t *sim = (sim_t *) arg;
    const sched_sim_cfg_t *cfg = sim->cfg;
    box_t *b = &sim->boxes[bi];
    uint64_t now = netsim_now (net);
    double rate = b->base_rate * (b->boost ? cfg->event_factor : 1.0);
    uint64_t next = now + (uint64_t) (s_exp (&b->arr_rng, rate) * S_SEC) + 1;
    if (next < sim->end_arrivals && netsim_at (net, next, s_arrival, sim, bi) != 0)
        return s_fail (sim);

    uint32_t idx = s_job_new (sim);
    if (idx == S_NONE)
        return s_fail (sim);
    job_t *j = &sim->jobs[idx];
    j->t0 = now;
    j->deadline = now + (uint64_t) cfg->deadline_ms * S_MS;
    j->z = s_normal (&b->arr_rng);
    j->origin = (uint32_t) bi;
    j->counted = now >= sim->warmup_us;
    j->live = true;
    j->gen = ++sim->gen;
    sim->res->jobs_total++;
    sim->res->jobs += j->counted;
    b->arrivals++;
    if (now / S_BIN_US < sim->n_bins)
        sim->arr_bins[now / S_BIN_US]++;
    mw_jobid_t id;
    memset (&id, 0, sizeof id);
    s_token (idx, j->gen, id.b);
    uint8_t *frame = malloc (S_TOKEN);
    if (!frame)
        return s_fail (sim);
    s_token (idx, j->gen, frame);
    char err[96];
    if (sched_handoff_submit (b->h, &id, "cam", S_MODEL, cfg->deadline_ms, 5, &frame, S_TOKEN, now / S_MS,
                              err, sizeof err)
        != 0)
        s_job_end (sim, idx, END_FAILED, HANDOFF_PATH_LOCAL);   //  refused at the door (table full)
    netsim_poke (net, b->index, sim->port);
}

//  What the daemon does every second (node/load.c): measure, feed the
//  forecasters, publish a digest.  Here the digest is encoded and decoded
//  at once, as every receiver would decode it.
static void
s_sample (netsim_t *net, void *arg, uint64_t bi)
{
    sim_t *sim = (sim_t *) arg;
    const sched_sim_cfg_t *cfg = sim->cfg;
    box_t *b = &sim->boxes[bi];
    uint64_t now = netsim_now (net);
    uint64_t busy = b->busy_acc + (b->running ? now - b->busy_since : 0);
    uint64_t span = now - b->t_sample;
    double util = span ? (double) (busy - b->busy_at_sample) / (double) span : 0;
    b->busy_at_sample = busy;
    double rate = span ? (double) (b->arrivals - b->arrivals_at_sample) * S_SEC / (double) span : 0;
    b->arrivals_at_sample = b->arrivals;
    b->t_sample = now;
    b->util_last = util > 1 ? 1 : util;
    sched_handoff_set_util (b->h, b->util_last);
    uint32_t queue = sched_handoff_queue_len (b->h);
    uint64_t t_ms = now / S_MS;
    sched_forecast_update (b->fc_util, t_ms, 100.0 * b->util_last);
    sched_forecast_update (b->fc_queue, t_ms, queue);

    sched_digest_t d;
    memset (&d, 0, sizeof d);
    d.version = SCHED_DIGEST_VERSION;
    d.ts_ms = (uint32_t) t_ms;
    d.cur[SCHED_DIGEST_CPU] = 100.0 * b->util_last;
    d.queue_len = queue;
    d.arrival_rate = rate;
    d.horizon_s[0] = d.horizon_s[1] = cfg->horizon_s;
    //  As node_load_tick: no bound before the forecaster has residuals
    //  (the larger of now and the point forecast instead).
    sched_forecast_out_t o;
    if (sched_forecast_get (b->fc_util, 0, &o) == 0) {
        d.fc[SCHED_DIGEST_CPU][0] = d.fc[SCHED_DIGEST_CPU][1] = o.value;
        double ub =
            o.ready ? o.upper : (o.value > d.cur[SCHED_DIGEST_CPU] ? o.value : d.cur[SCHED_DIGEST_CPU]);
        d.ub[SCHED_DIGEST_CPU][0] = d.ub[SCHED_DIGEST_CPU][1] = ub;
        d.spread[0] = o.spread;
    }
    d.jobs = true;
    d.job_port = 1;
    d.svc_ms = b->svc_est_ms;
    d.workers = b->workers;
    d.queue_max = cfg->queue_max;
    if (sched_forecast_get (b->fc_queue, 0, &o) == 0) {
        double ub = o.ready ? o.upper : (o.value > queue ? o.value : queue);
        d.queue_ub = isfinite (ub) && ub > 0 ? ub : 0;
    }
    uint8_t buf[SCHED_DIGEST_SIZE];
    sample_t *s = &b->ring[b->nsamples % S_RING];
    if (sched_digest_encode (&d, buf, sizeof buf) < 0 || sched_digest_decode (buf, sizeof buf, &s->d) != 0)
        return s_fail (sim);
    s->t_us = now;
    s->seq = b->nsamples++;
    if (now + S_SEC < sim->end_arrivals && netsim_at (net, now + S_SEC, s_sample, sim, bi) != 0)
        s_fail (sim);
}

//  What box `viewer` knows of its view every 250 ms (node/jobs.c,
//  node_jobs_update_peers): the newest digest of each peer that has
//  reached it.
static void
s_peers (netsim_t *net, void *arg, uint64_t vi)
{
    sim_t *sim = (sim_t *) arg;
    box_t *v = &sim->boxes[vi];
    uint64_t now = netsim_now (net);
    size_t k = 0;
    for (uint32_t m = 0; m < v->nview; m++) {
        const box_t *b = &sim->boxes[v->view[m]];
        uint32_t have = b->nsamples < S_RING ? b->nsamples : S_RING;
        for (uint32_t r = 0; r < have; r++) {
            const sample_t *s = &b->ring[(b->nsamples - 1 - r) % S_RING];
            uint64_t delay = 200000 + s_hash (sim->cfg->seed, b->index, s->seq, vi) % 800001;
            if (s->t_us + delay > now)
                continue;
            handoff_peer_t *p = &sim->peers[k++];
            p->id = b->id;
            memcpy (p->addr, b->addr, sizeof p->addr);
            sched_digest_peer (&s->d, now / S_MS, S_SVC_P50_MS, &p->p);
            p->p.link_ms = s_link_ms (sim, v->index, b->index);
            break;
        }
    }
    sched_handoff_set_peers (v->h, sim->peers, k);
    if (now + S_PEERS_US < sim->end_arrivals && netsim_at (net, now + S_PEERS_US, s_peers, sim, vi) != 0)
        s_fail (sim);
}

//  Bursts: a Poisson process of events; each covers a centre box and its
//  nearest neighbours on the ring and multiplies their frame rate.
static void
s_burst_mark (sim_t *sim, uint32_t centre, int delta)
{
    uint32_t n = sim->n, k = sim->cfg->event_boxes;
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

static void
s_burst_end (netsim_t *net, void *arg, uint64_t centre)
{
    s_burst_mark ((sim_t *) arg, (uint32_t) centre, -1);
}

static void
s_burst (netsim_t *net, void *arg, uint64_t unused)
{
    sim_t *sim = (sim_t *) arg;
    uint64_t now = netsim_now (net);
    uint32_t centre = (uint32_t) (mw_splitmix64 (&sim->burst_rng) % sim->n);
    double len_s = 5 + 15 * s_unif (&sim->burst_rng);
    s_burst_mark (sim, centre, +1);
    if (now >= sim->warmup_us)
        sim->res->events++;
    if (netsim_at (net, now + (uint64_t) (len_s * S_SEC), s_burst_end, sim, centre) != 0)
        return s_fail (sim);
    uint64_t next = now + (uint64_t) (s_exp (&sim->burst_rng, sim->burst_rate) * S_SEC);
    if (next < sim->end_arrivals && netsim_at (net, next, s_burst, sim, 0) != 0)
        s_fail (sim);
}

//  The last arrival is in: stop once every job has ended (now, or at the
//  last end).
static void
s_arrivals_over (netsim_t *net, void *arg, uint64_t unused)
{
    sim_t *sim = (sim_t *) arg;
    if (sim->res->jobs_ended == sim->res->jobs_total)
        netsim_stop (net);
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
        for (uint32_t i = 0; i <= sim->n; i++) {
            box_t *b = &sim->boxes[i];
            sched_handoff_destroy (&b->h);
            free (b->view);
            sched_forecast_destroy (&b->fc_util);
            sched_forecast_destroy (&b->fc_queue);
        }
    netsim_destroy (&sim->net);
    free (sim->boxes);
    free (sim->jobs);
    free (sim->hist);
    free (sim->arr_bins);
    free (sim->peers);
    free (sim->flat);
}

static int
s_box_init (sim_t *sim, box_t *b, uint32_t i, bool server)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    b->sim = sim;
    b->index = i;
    b->server = server;
    //  An id per box and seed: each hand-off instance seeds its choice of
    //  peers from its id.
    uint64_t idv = s_hash (cfg->seed, i, 0x1D, 0) | 1;
    memcpy (b->id.b, &idv, MW_ID_LEN);
    snprintf (b->addr, sizeof b->addr, "sim://%u", i);
    handoff_cfg_t hc;
    handoff_cfg_defaults (&hc);
    hc.policy = cfg->policy;
    hc.placement = cfg->placement;
    hc.escalate_below = 0;   //  no escalation: the runner reports no boxes anyway
    hc.link_mbps = 0;        //  the frame's transfer is in each peer's link cost already
    if (server) {
        hc.server = true;
        hc.workers = cfg->server_workers;
        hc.queue_max = cfg->server_queue_max;
        b->svc_p50_ms = S_SVC_P50_MS;
        b->svc_est_ms = S_SVC_P50_MS * exp (2.326 * S_SVC_SIGMA);
    }
    else {
        hc.has_server = true;
        hc.workers = 1;
        hc.queue_max = cfg->queue_max;
    }
    b->workers = hc.workers;
    handoff_ops_t ops = {s_op_send, s_op_start, s_op_has_model, s_op_svc_ms, s_op_event, b, NULL};
    if (!server && cfg->policy == PLACEMENT_ORACLE)
        ops.refresh_peers = s_op_refresh;
    b->h = sched_handoff_new (&hc, &b->id, b->addr, &ops);
    if (!b->h)
        return -1;
    netsim_host (sim->net, i, sim->port, true);
    netsim_start (sim->net, i);
    return 0;
}

static int
s_setup (sim_t *sim)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    uint32_t n = cfg->nodes;
    uint64_t setup_rng = cfg->seed ^ UINT64_C (0x5E7095E7095E7095);
    sim->n = n;
    sim->burst_rng = cfg->seed ^ UINT64_C (0xB0257B0257B0257B);
    sim->free_job = S_NONE;
    sim->boxes = calloc (n + 1, sizeof *sim->boxes);
    sim->hist = calloc (S_HIST_BINS, sizeof *sim->hist);
    sim->peers = calloc (cfg->view ? cfg->view : 1, sizeof *sim->peers);
    sim->net = netsim_new (n + 1, cfg->seed);
    sim->n_bins = (uint32_t) (sim->end_arrivals / S_BIN_US + 1);
    sim->arr_bins = calloc (sim->n_bins, sizeof *sim->arr_bins);
    if (!sim->boxes || !sim->hist || !sim->peers || !sim->net || !sim->arr_bins)
        return -1;
    netsim_service_t svc = {"handoff", s_svc_handle, s_svc_tick, s_svc_wakeup};
    sim->port = netsim_service (sim->net, &svc, sim);
    netsim_link_t lan;
    netsim_link_defaults (&lan);
    lan.lat_min_us = 200;
    lan.lat_max_us = 500;
    lan.lat_per_pair = true;
    lan.bandwidth_bps = S_LINK_BPS;
    netsim_set_link (sim->net, &lan);
    netsim_link_t srv = lan;
    srv.lat_min_us = srv.lat_max_us = S_SERVER_LAT_US;
    for (uint32_t i = 0; i < n; i++)
        if (netsim_set_pair (sim->net, i, n, &srv) != 0 || netsim_set_pair (sim->net, n, i, &srv) != 0)
            return -1;

    sched_forecast_cfg_t fu, fq;
    sched_forecast_cfg_defaults (&fu);
    fu.horizon_ms[0] = cfg->horizon_s * 1000;
    fu.n_horizons = 1;
    fu.lo = 0;
    fu.hi = 100;
    fq = fu;
    fq.hi = 0;   //  as the daemon's: the queue is not clamped

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
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        box_t *b = &sim->boxes[i];
        double factor = 1 + 3 * s_unif (&setup_rng);
        b->svc_p50_ms = S_SVC_P50_MS * factor;
        b->svc_est_ms = b->svc_p50_ms * exp (2.326 * S_SVC_SIGMA);
        double mean_ms = b->svc_p50_ms * exp (S_SVC_SIGMA * S_SVC_SIGMA / 2);
        b->base_rate = cfg->load * (1000.0 / mean_ms) * fps[i] / fps_mean;
        b->arr_rng = s_hash (cfg->seed, i, 0xA11, 0);
        b->fc_util = sched_forecast_new (&fu);
        b->fc_queue = sched_forecast_new (&fq);
        //  Partial view: `view` distinct random peers (or everybody).
        b->nview = cfg->view < n - 1 ? cfg->view : n - 1;
        b->view = calloc (b->nview ? b->nview : 1, sizeof *b->view);
        if (!b->fc_util || !b->fc_queue || !b->view || s_box_init (sim, b, i, false) != 0) {
            rc = -1;
            break;
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
        uint64_t peers_phase = s_hash (cfg->seed, i, 0x9EE75, 0) % S_PEERS_US;
        if ((first < sim->end_arrivals && netsim_at (sim->net, first, s_arrival, sim, i) != 0)
            || netsim_at (sim->net, phase, s_sample, sim, i) != 0
            || netsim_at (sim->net, peers_phase, s_peers, sim, i) != 0)
            rc = -1;
    }
    free (fps);
    if (rc != 0 || s_box_init (sim, &sim->boxes[n], n, true) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        sched_handoff_set_server (sim->boxes[i].h, sim->boxes[n].addr);
    //  Bursts: rate such that `event_cover` of the boxes are, on average,
    //  inside one (mean length 12.5 s).
    uint32_t k = cfg->event_boxes < n ? cfg->event_boxes : n;
    sim->burst_rate = cfg->event_cover * n / ((k ? k : 1) * 12.5);
    if (sim->burst_rate > 0) {
        uint64_t first = (uint64_t) (s_exp (&sim->burst_rng, sim->burst_rate) * S_SEC);
        if (first < sim->end_arrivals && netsim_at (sim->net, first, s_burst, sim, 0) != 0)
            return -1;
    }
    return netsim_at (sim->net, sim->end_arrivals, s_arrivals_over, sim, 0);
}

//  A lower bound on the misses of any placement: all boxes and the server
//  as one pool of capacity (jobs per second, each box at its own mean
//  service rate), zero-cost hand-off, a fluid queue in front of it that
//  may hold what the pool can serve within the deadline; what arrives
//  beyond that is lost.  Where a policy's misses are near this floor,
//  the mesh is out of capacity and no choice of peers can do better.
static double
s_floor_miss_rate (const sim_t *sim)
{
    const sched_sim_cfg_t *cfg = sim->cfg;
    double mean_of_p50 = exp (S_SVC_SIGMA * S_SVC_SIGMA / 2);   //  lognormal mean / median
    double cap = cfg->server_workers * 1000.0 / (S_SVC_P50_MS * mean_of_p50);
    for (uint32_t i = 0; i < sim->n; i++)
        cap += 1000.0 / (sim->boxes[i].svc_p50_ms * mean_of_p50);
    double step = cap * (double) S_BIN_US / S_SEC, hold = cap * cfg->deadline_ms / 1000.0;
    double backlog = 0, lost = 0;
    for (uint32_t b = 0; b < sim->n_bins; b++) {
        backlog += sim->arr_bins[b];
        backlog = backlog > step ? backlog - step : 0;
        if (backlog > hold) {
            if ((uint64_t) b * S_BIN_US >= sim->warmup_us)
                lost += backlog - hold;
            backlog = hold;
        }
    }
    return sim->res->jobs ? lost / (double) sim->res->jobs : 0;
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
        || !(cfg->warmup_s >= 0 && cfg->warmup_s <= 3600) || cfg->deadline_ms == 0
        || cfg->deadline_ms > 3600000 || cfg->cameras == 0 || !(cfg->load > 0 && cfg->load <= 10)
        || !(cfg->event_cover >= 0 && cfg->event_cover <= 1) || !(cfg->event_factor >= 1)
        || cfg->queue_max == 0 || cfg->queue_max > 4096 || cfg->server_workers > 64
        || cfg->server_queue_max == 0 || cfg->server_queue_max > 4096 || cfg->horizon_s == 0
        || cfg->horizon_s > 255 || cfg->view > 4096)
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
    //  then drains (every job ends by its deadline plus the module's grace)
    //  and the run stops once the last one has.
    if (rc == 0)
        netsim_run_until (sim.net, sim.end_arrivals + S_DRAIN_US);
    if (rc == 0 && sim.rc != 0)
        rc = sim.rc;
    if (rc == 0) {
        netsim_stats_t st;
        netsim_stats (sim.net, NETSIM_ALL, &st);
        res->sim_events = st.events;
        double jobs = res->jobs ? (double) res->jobs : 1;
        res->deadline_miss_rate = (double) (res->late + res->failed) / jobs;
        res->local_share = (double) res->local / jobs;
        res->peer_share = (double) res->peer / jobs;
        res->server_share = (double) res->server / jobs;
        res->messages_per_job = (double) res->messages / jobs;
        res->p50_ms = s_percentile (&sim, 0.50);
        res->p99_ms = s_percentile (&sim, 0.99);
        res->floor_miss_rate = s_floor_miss_rate (&sim);
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
    bad = cfg;
    bad.server_workers = 65;   //  more than a hand-off instance runs
    CHECK (sched_sim_run (&bad, &again) == -1, "65 server workers");
    //  No analysis server capacity: what no peer takes fails, and every
    //  job still ends once.
    bad = cfg;
    bad.server_workers = 0;
    bad.load = 0.9;
    bad.duration_s = 10;
    CHECK (sched_sim_run (&bad, &again) == 0 && again.failed > 0 && again.jobs_ended == again.jobs_total
               && again.in_time + again.late + again.failed == again.jobs,
           "no server: %llu failed", (unsigned long long) again.failed);
    //  A two-box mesh with a tiny view works too.
    bad = cfg;
    bad.nodes = 2;
    bad.view = 1;
    bad.duration_s = 3;
    bad.warmup_s = 0;
    CHECK (sched_sim_run (&bad, &again) == 0 && again.jobs_ended == again.jobs_total, "2 boxes");
    return rc;
}
