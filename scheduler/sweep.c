/*  =========================================================================
    sched_sweep - the placement sweep and its verdicts (see sweep.h and
    docs/PLACEMENT.md).

    Why the comparisons allow two standard errors: two policies that are
    equally good still end a run with different miss counts, because a
    different choice early on changes every later queue (the runs share
    their input, not their trajectory).  Near saturation, where every
    policy - perfect knowledge included - misses the same jobs for want of
    capacity, a strict "<=" would be a coin toss.  Counts of rare events
    are about Poisson, so the difference of two counts a and b has a
    standard deviation of about sqrt (a + b); "a <= b + 2 sqrt (a + b)"
    passes equal policies and fails a real regression (the placement of
    issue 16 missed 1.5 to 3 times as many: tens of standard errors).
    ========================================================================= */
#include "scheduler/sweep.h"

#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const placement_policy_t s_policies[SWEEP_POLICIES] = {PLACEMENT_ORACLE, PLACEMENT_PROBE,
                                                              PLACEMENT_RANDOM, PLACEMENT_FORECAST};
static const char *s_verdict_names[SWEEP_VERDICTS] = {"miss", "half", "server", "msgs", "oracle"};

const char *
sched_sweep_policy_name (int policy)
{
    return policy >= 0 && policy < SWEEP_POLICIES ? placement_policy_name (s_policies[policy]) : "unknown";
}

const char *
sched_sweep_verdict_name (int verdict)
{
    return verdict >= 0 && verdict < SWEEP_VERDICTS ? s_verdict_names[verdict] : "unknown";
}

//  a <= factor * b, within two standard errors of the counts.
static bool
s_le (uint64_t a, uint64_t b, double factor)
{
    return (double) a <= factor * (double) b + 2 * sqrt ((double) a + (double) b);
}

static uint64_t
s_misses (const sched_sim_result_t *r)
{
    return r->late + r->failed;
}

//  A verdict over the seeds: FAIL if any seed fails.
static void
s_and (sched_sweep_verdict_t *v, bool ok)
{
    if (*v == SWEEP_NA)
        *v = SWEEP_PASS;
    if (!ok)
        *v = SWEEP_FAIL;
}

void
sched_sweep_judge (sched_sweep_cell_t *cell)
{
    assert (cell);
    assert (cell->seeds >= 1 && cell->seeds <= SCHED_SWEEP_SEEDS_MAX);
    memset (cell->verdict, 0, sizeof cell->verdict);
    cell->half_infeasible = false;
    double n = cell->seeds;
    cell->floor_miss = 0;
    for (int p = 0; p < SWEEP_POLICIES; p++) {
        cell->miss[p] = cell->server[p] = cell->peer[p] = cell->msgs[p] = cell->p99[p] = 0;
        for (uint32_t s = 0; s < cell->seeds; s++) {
            const sched_sim_result_t *r = &cell->runs[s][p];
            cell->miss[p] += r->deadline_miss_rate / n;
            cell->server[p] += r->server_share / n;
            cell->peer[p] += r->peer_share / n;
            cell->msgs[p] += r->messages_per_job / n;
            cell->p99[p] += r->p99_ms / n;
        }
    }
    for (uint32_t s = 0; s < cell->seeds; s++) {
        const sched_sim_result_t *o = &cell->runs[s][SWEEP_ORACLE];
        const sched_sim_result_t *r = &cell->runs[s][SWEEP_RANDOM];
        const sched_sim_result_t *f = &cell->runs[s][SWEEP_FORECAST];
        cell->floor_miss += f->floor_miss_rate / n;
        s_and (&cell->verdict[SWEEP_V_MISS], s_le (s_misses (f), s_misses (r), 1.0));
        if (cell->load >= 0.7 - 1e-9) {
            //  Strict: this one is a factor, not an equality of two draws.
            s_and (&cell->verdict[SWEEP_V_HALF], 2 * s_misses (f) <= s_misses (r));
            if (2 * s_misses (o) > s_misses (r))
                cell->half_infeasible = true;
        }
        s_and (&cell->verdict[SWEEP_V_SERVER], s_le (f->server, r->server, 1.0));
        s_and (&cell->verdict[SWEEP_V_MSGS], s_le (f->messages, r->messages, 1.0));
        if (cell->load <= 0.85 + 1e-9)
            s_and (&cell->verdict[SWEEP_V_ORACLE], s_le (s_misses (f), s_misses (o), 1.5));
    }
}

bool
sched_sweep_cell_ok (const sched_sweep_cell_t *cell)
{
    assert (cell);
    for (int v = 0; v < SWEEP_VERDICTS; v++)
        if (cell->verdict[v] == SWEEP_FAIL && !(v == SWEEP_V_HALF && cell->half_infeasible))
            return false;
    return true;
}

int
sched_sweep_cell (const sched_sim_cfg_t *base, uint32_t nodes, double load, uint32_t deadline_ms,
                  uint64_t seed0, uint32_t seeds, sched_sweep_cell_t *cell, sched_sweep_progress_fn *progress,
                  void *arg)
{
    assert (base && cell);
    memset (cell, 0, sizeof *cell);
    if (seeds == 0 || seeds > SCHED_SWEEP_SEEDS_MAX)
        return -1;
    cell->nodes = nodes;
    cell->load = load;
    cell->deadline_ms = deadline_ms;
    cell->seeds = seeds;
    sched_sim_cfg_t cfg = *base;
    cfg.nodes = nodes;
    cfg.load = load;
    cfg.deadline_ms = deadline_ms;
    for (uint32_t s = 0; s < seeds; s++)
        for (int p = 0; p < SWEEP_POLICIES; p++) {
            if (progress)
                progress (arg, cell, s, p);
            cfg.seed = seed0 + s;
            cfg.policy = s_policies[p];
            if (sched_sim_run (&cfg, &cell->runs[s][p]) != 0)
                return -1;
        }
    sched_sweep_judge (cell);
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: the rules on made-up runs, then a small sweep (the issue's
//  acceptance in miniature: a placement that loses to random choice fails
//  `make check`).

static void
t_run (sched_sim_result_t *r, uint64_t jobs, uint64_t missed, uint64_t server, uint64_t messages)
{
    memset (r, 0, sizeof *r);
    r->jobs = jobs;
    r->failed = missed;
    r->in_time = jobs - missed;
    r->server = server;
    r->messages = messages;
    r->deadline_miss_rate = (double) missed / (double) jobs;
    r->server_share = (double) server / (double) jobs;
    r->messages_per_job = (double) messages / (double) jobs;
}

int
sched_sweep_test (bool verbose)
{
    int rc = 0;
    static sched_sweep_cell_t c;

    //  The rules.  Equal policies pass; noise within two standard errors
    //  passes; a real regression fails; `half` is strict and only above
    //  0.7; `oracle` only up to 0.85.
    memset (&c, 0, sizeof c);
    c.seeds = 1;
    c.load = 0.5;
    t_run (&c.runs[0][SWEEP_ORACLE], 100000, 1000, 900, 200000);
    t_run (&c.runs[0][SWEEP_PROBE], 100000, 1000, 900, 250000);
    t_run (&c.runs[0][SWEEP_RANDOM], 100000, 1000, 900, 200000);
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 1050, 950, 190000);
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_MISS] == SWEEP_PASS && c.verdict[SWEEP_V_SERVER] == SWEEP_PASS
               && c.verdict[SWEEP_V_MSGS] == SWEEP_PASS && c.verdict[SWEEP_V_ORACLE] == SWEEP_PASS
               && c.verdict[SWEEP_V_HALF] == SWEEP_NA && sched_sweep_cell_ok (&c),
           "within noise: pass");
    CHECK (fabs (c.miss[SWEEP_FORECAST] - 0.0105) < 1e-12 && fabs (c.msgs[SWEEP_PROBE] - 2.5) < 1e-12,
           "means");
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 1100, 900, 190000);   //  1100 > 1000 + 2 sqrt (2100) = 1091.7
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_MISS] == SWEEP_FAIL && !sched_sweep_cell_ok (&c), "beyond noise: fail");
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 1000, 900, 201200);   //  > 200000 + 2 sqrt (401200) = 201266.8
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_MSGS] == SWEEP_PASS, "1200 messages more of 200000: noise");
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 1000, 900, 201300);
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_MSGS] == SWEEP_FAIL, "1300 more: fail");
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 1000, 1000, 200000);   //  1000 > 900 + 2 sqrt (1900) = 987.2
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_SERVER] == SWEEP_FAIL, "server share beyond noise: fail");
    t_run (&c.runs[0][SWEEP_ORACLE], 100000, 100, 900, 200000);
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 200, 900, 200000);   //  200 > 150 + 2 sqrt (300) = 184.6
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_ORACLE] == SWEEP_FAIL && c.verdict[SWEEP_V_MISS] == SWEEP_PASS, "oracle x 1.5");
    c.load = 0.9;
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_ORACLE] == SWEEP_NA && c.verdict[SWEEP_V_HALF] == SWEEP_PASS
               && !c.half_infeasible,
           "0.9: oracle n/a, half 200 <= 500");
    t_run (&c.runs[0][SWEEP_FORECAST], 100000, 501, 900, 200000);
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_HALF] == SWEEP_FAIL && !sched_sweep_cell_ok (&c), "half is strict");
    t_run (&c.runs[0][SWEEP_ORACLE], 100000, 990, 900, 200000);
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_HALF] == SWEEP_FAIL && c.half_infeasible && sched_sweep_cell_ok (&c),
           "half infeasible when the oracle fails it too");
    //  Zero misses everywhere: every verdict passes (0 <= 0).
    c.load = 0.7;
    for (int p = 0; p < SWEEP_POLICIES; p++)
        t_run (&c.runs[0][p], 5000, 0, 0, 100);
    sched_sweep_judge (&c);
    for (int v = 0; v < SWEEP_VERDICTS; v++)
        CHECK (c.verdict[v] == SWEEP_PASS, "zero misses: %s", sched_sweep_verdict_name (v));
    //  Every seed must pass: one bad seed of two fails the cell.
    c.seeds = 2;
    for (int p = 0; p < SWEEP_POLICIES; p++)
        t_run (&c.runs[1][p], 5000, 0, 0, 100);
    t_run (&c.runs[1][SWEEP_FORECAST], 5000, 50, 0, 100);
    sched_sweep_judge (&c);
    CHECK (c.verdict[SWEEP_V_MISS] == SWEEP_FAIL, "one bad seed fails the cell");
    CHECK (strcmp (sched_sweep_policy_name (SWEEP_FORECAST), "forecast") == 0
               && strcmp (sched_sweep_policy_name (SWEEP_POLICIES), "unknown") == 0
               && strcmp (sched_sweep_verdict_name (SWEEP_V_HALF), "half") == 0,
           "names");

    //  The sweep in miniature, on the simulator: 40 boxes, 12 s after 10 s
    //  of warm-up, 2 seeds, a moderate and a saturated load with the
    //  default bursts, 300 ms.  Every verdict must pass (`half` at 0.9 only
    //  where the oracle shows it feasible).
    sched_sim_cfg_t base;
    sched_sim_cfg_defaults (&base);
    base.duration_s = 12;
    base.warmup_s = 10;
    base.event_cover = 0.3;   //  a small mesh: make sure bursts happen
    const double loads[] = {0.6, 0.9};
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        CHECK (sched_sweep_cell (&base, 40, loads[i], 300, 1, 2, &c, NULL, NULL) == 0, "sweep cell");
        for (uint32_t s = 0; s < c.seeds; s++)
            for (int p = 0; p < SWEEP_POLICIES; p++)
                CHECK (c.runs[s][p].jobs > 0 && c.runs[s][p].jobs == c.runs[s][0].jobs
                           && c.runs[s][p].jobs_ended == c.runs[s][p].jobs_total,
                       "same input, every job ended: seed %u %s", s, sched_sweep_policy_name (p));
        for (int v = 0; v < SWEEP_VERDICTS; v++)
            CHECK (c.verdict[v] != SWEEP_FAIL || (v == SWEEP_V_HALF && c.half_infeasible),
                   "load %.2f: %s FAIL (forecast miss %.5f server %.4f msg/job %.3f; random %.5f %.4f %.3f; "
                   "oracle %.5f)",
                   loads[i], sched_sweep_verdict_name (v), c.miss[SWEEP_FORECAST], c.server[SWEEP_FORECAST],
                   c.msgs[SWEEP_FORECAST], c.miss[SWEEP_RANDOM], c.server[SWEEP_RANDOM], c.msgs[SWEEP_RANDOM],
                   c.miss[SWEEP_ORACLE]);
        //  The sweep must exercise what it judges: work handed off, and
        //  at the saturated load, misses to compare.
        CHECK (c.peer[SWEEP_FORECAST] > 0.01 && c.peer[SWEEP_RANDOM] > 0.01, "load %.2f: nothing handed off",
               loads[i]);
        if (loads[i] > 0.8)
            CHECK (c.miss[SWEEP_RANDOM] > 0, "load %.2f: no misses to compare", loads[i]);
        if (verbose)
            for (int p = 0; p < SWEEP_POLICIES; p++)
                printf ("sched_sweep_test: load %.2f %-8s miss %.5f server %.4f peer %.4f msg/job %.3f "
                        "p99 %.1f\n",
                        loads[i], sched_sweep_policy_name (p), c.miss[p], c.server[p], c.peer[p], c.msgs[p],
                        c.p99[p]);
    }
    return rc;
}
