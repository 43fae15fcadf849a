/*  =========================================================================
    sched_sim - job placement across a simulated mesh.

    N boxes and an analysis server, each a real sched_handoff instance
    (the daemon's hand-off state machine: offers, refusals, reservations,
    fallback, timeouts) on the deterministic network simulator
    (sim/netsim.h).  Around them, a model of what the daemon gets from
    outside: one worker per box with its own (heterogeneous, stochastic)
    service time, cameras that burst when an event happens near them, and
    gossiped digests (real scheduler/digest.h encodings of the daemon's
    forecasts) that arrive 0.2 to 1 s late.  Every decision is the
    modules' own; the model is described in docs/PLACEMENT.md.

    Pure: no I/O, no clock; a run is a function of its configuration
    (seed included).  The report (table, JSON) is mw_simulate_cli_main's.
    ========================================================================= */
#ifndef SCHED_SIMULATE_H_INCLUDED
#define SCHED_SIMULATE_H_INCLUDED

#include "scheduler/placement.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t nodes;   //  boxes (2..100000)
    placement_policy_t policy;
    uint64_t seed;
    double duration_s;         //  measured period: jobs arriving in it are counted
    double warmup_s;           //  simulated before it (forecasters fill), not counted
    uint32_t deadline_ms;      //  per job, from frame arrival to result at the origin
    uint32_t cameras;          //  per box; base rate 2..5 fps each
    double load;               //  mean utilisation outside events (sizes frames to jobs)
    double event_cover;        //  mean share of boxes inside an event
    uint32_t event_boxes;      //  boxes an event covers: a centre and its neighbours on the ring
    double event_factor;       //  frame-rate multiplier inside an event (3)
    uint32_t view;             //  peers a box knows (partial membership view)
    uint32_t queue_max;        //  per box
    uint32_t server_workers;   //  analysis server slots (8; 0..64)
    uint32_t server_queue_max;
    uint32_t horizon_s;   //  forecast horizon gossiped in the digest
    placement_cfg_t placement;
} sched_sim_cfg_t;

typedef struct {
    placement_policy_t policy;
    uint32_t nodes;
    uint64_t seed;
    double duration_s;
    uint64_t jobs;                    //  arrived in the measured period
    uint64_t in_time, late, failed;   //  in_time + late + failed == jobs
    uint64_t local, peer, server;     //  where they went: sum == jobs
    uint64_t messages;                //  OFFER, REPLY, JOB, RESULT (to peers and the server)
    uint64_t offers, refusals;        //  to and from peers
    uint64_t events;                  //  bursts started in the measured period
    double deadline_miss_rate;        //  (late + failed) / jobs
    double local_share, peer_share, server_share;
    double messages_per_job;
    double p50_ms, p99_ms;             //  latency of the jobs that completed
    double mean_util;                  //  box busy share over the measured period
    double floor_miss_rate;            //  lower bound for any placement: the mesh as one pool
    uint64_t sim_events;               //  events processed (a cost figure)
    uint64_t jobs_total, jobs_ended;   //  warm-up included: ended == total
} sched_sim_result_t;

//  100 boxes, forecast, seed 1, 60 s after 15 s warm-up,
//  deadline 500 ms, 4 cameras, load 0.5, 15 % of boxes in an event of 10,
//  x3, view 32, queue 64, server 8 workers / 512, horizon 2 s.
void sched_sim_cfg_defaults (sched_sim_cfg_t *cfg);
//  Run one simulation.  0, or -1 on a bad configuration or out of memory.
int sched_sim_run (const sched_sim_cfg_t *cfg, sched_sim_result_t *res);

int sched_simulate_test (bool verbose);

#endif
