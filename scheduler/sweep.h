/*  =========================================================================
    sched_sweep - the placement sweep: the simulator (scheduler/simulate.h)
    over a grid of mesh sizes, loads, deadlines and seeds, the same input
    for four policies (oracle, probe, random, forecast), and the verdicts
    of the placement acceptance (docs/PLACEMENT.md, "The sweep") per cell.

    One cell is one (nodes, load, deadline) with `seeds` seeds; every seed
    runs the four policies on the same frames, bursts and service times
    (common random numbers).  The verdicts compare FORECAST with RANDOM and
    with ORACLE seed by seed, so a cell passes only if every seed does:

      miss      FORECAST misses no more deadlines than RANDOM (within two
                standard errors of the two miss counts)
      half      at load >= 0.7: FORECAST misses at most 0.5 x RANDOM's;
                marked infeasible where ORACLE (perfect, zero-age
                knowledge) does not either - the mesh is out of capacity
      server    FORECAST's server share <= RANDOM's (two standard errors)
      msgs      FORECAST's messages per job <= RANDOM's (two standard errors)
      oracle    at load <= 0.85: FORECAST misses at most 1.5 x ORACLE's
                (two standard errors)

    Pure: the runs are sched_sim_run; printing is the caller's
    (simulate_cli.c, `meshwatch simulate --sweep`).
    ========================================================================= */
#ifndef SCHED_SWEEP_H_INCLUDED
#define SCHED_SWEEP_H_INCLUDED

#include "scheduler/simulate.h"

#include <stdbool.h>
#include <stdint.h>

#define SCHED_SWEEP_SEEDS_MAX 32

//  The sweep's policies, in the order of the results.
enum { SWEEP_ORACLE = 0, SWEEP_PROBE, SWEEP_RANDOM, SWEEP_FORECAST, SWEEP_POLICIES };

typedef enum { SWEEP_NA = 0, SWEEP_PASS, SWEEP_FAIL } sched_sweep_verdict_t;

enum { SWEEP_V_MISS = 0, SWEEP_V_HALF, SWEEP_V_SERVER, SWEEP_V_MSGS, SWEEP_V_ORACLE, SWEEP_VERDICTS };

typedef struct {
    uint32_t nodes;
    double load;
    uint32_t deadline_ms;
    uint32_t seeds;   //  1..SCHED_SWEEP_SEEDS_MAX: seeds seed0 .. seed0 + seeds - 1
    sched_sim_result_t runs[SCHED_SWEEP_SEEDS_MAX][SWEEP_POLICIES];
    //  Means over the seeds, per policy.
    double miss[SWEEP_POLICIES], server[SWEEP_POLICIES], peer[SWEEP_POLICIES], msgs[SWEEP_POLICIES];
    double p99[SWEEP_POLICIES], floor_miss;
    sched_sweep_verdict_t verdict[SWEEP_VERDICTS];
    bool half_infeasible;   //  ORACLE misses more than 0.5 x RANDOM's in some seed
} sched_sweep_cell_t;

//  Called before each run (progress): cell-local seed index and policy.
typedef void (sched_sweep_progress_fn) (void *arg, const sched_sweep_cell_t *cell, uint32_t seed_index,
                                        int policy);

//  Run one cell: `base` gives everything but nodes, load, deadline, seed
//  and policy.  0, or -1 when a run fails (bad configuration, memory).
int sched_sweep_cell (const sched_sim_cfg_t *base, uint32_t nodes, double load, uint32_t deadline_ms,
                      uint64_t seed0, uint32_t seeds, sched_sweep_cell_t *cell,
                      sched_sweep_progress_fn *progress, void *arg);

//  The means and verdicts of a cell whose runs are filled in (sched_sweep_cell
//  calls it; separate so that the rules can be tested on made-up runs).
void sched_sweep_judge (sched_sweep_cell_t *cell);

//  True when no verdict of the cell is FAIL, except `half` where it is
//  infeasible (ORACLE fails it too).
bool sched_sweep_cell_ok (const sched_sweep_cell_t *cell);

const char *sched_sweep_policy_name (int policy);     //  "oracle", "probe", "random", "forecast"
const char *sched_sweep_verdict_name (int verdict);   //  "miss", "half", "server", "msgs", "oracle"

int sched_sweep_test (bool verbose);

#endif
