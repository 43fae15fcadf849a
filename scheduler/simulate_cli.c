/*  =========================================================================
    meshwatch simulate - run the placement simulator and report.

        meshwatch simulate --nodes N --policy POLICY|all --seed S
                           [--duration S] [--warmup S] [--deadline-ms MS]
                           [--load U] [--server-workers W] [--view V]
                           [--event-cover F] [--event-boxes K] [--horizon S]
                           [--early F] [--unfit-weight W] [--json]
        meshwatch simulate --sweep [--nodes N,N..] [--load U,U..]
                           [--deadline-ms MS,MS..] [--seeds K] [--seed S0]
                           [--duration S] [--warmup S] [...] [--json]

    POLICY is local, reactive, random, forecast, probe or oracle.  One
    policy prints one result; `--policy all` runs the six on the same input
    (same seed: same frames, same bursts, same service times) one after the
    other.  Without --json, a table.  With --json, one object per policy;
    for `all`, an object {"nodes", "seed", "duration", "runs": [...]} whose
    runs hold one such object each, in the order above.

    --sweep runs the placement sweep (scheduler/sweep.h): every N x load x
    deadline cell (default the grid: N 100,1000; load 0.3, 0.5,
    0.7, 0.85, 0.95; deadline 200, 300, 500 ms), K seeds (5) from S0 (1),
    oracle, probe, random and forecast on the same input; per cell the
    means and the verdicts PASS/FAIL (progress on stderr).  Exit 0 when
    every cell passes, 3 when one fails; 1 when a run failed, 2 on bad
    usage.
    ========================================================================= */
#include "scheduler/simulate.h"
#include "common/cliopt.h"
#include "scheduler/sweep.h"
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int mw_simulate_cli_main (int argc, char **argv);

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch simulate --nodes N --policy POLICY|all --seed S\n"
                "                          [--duration SECONDS] [--warmup SECONDS]\n"
                "                          [--deadline-ms MS] [--load U] [--server-workers W]\n"
                "                          [--view V] [--event-cover F] [--event-boxes K]\n"
                "                          [--horizon SECONDS] [--early F] [--unfit-weight W] [--json]\n"
                "       meshwatch simulate --sweep [--nodes N,N..] [--load U,U..]\n"
                "                          [--deadline-ms MS,MS..] [--seeds K] [--seed S0] [...] [--json]\n"
                "  discrete-event simulation of job hand-off across N boxes (docs/PLACEMENT.md);\n"
                "  POLICY: local, reactive, random, forecast, probe, oracle (simulator only).\n"
                "  --sweep: the placement sweep with PASS/FAIL per cell (exit 3 if one fails)\n");
}

static int
s_parse_u64 (const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int
s_parse_double (const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static json_object *
s_json_one (const sched_sim_result_t *r)
{
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "policy", mw_json_str (placement_policy_name (r->policy)));
    mw_json_add (o, "nodes", mw_json_u64 (r->nodes));
    mw_json_add (o, "seed", mw_json_u64 (r->seed));
    mw_json_add (o, "duration", mw_json_num (r->duration_s, -1));
    mw_json_add (o, "jobs", mw_json_u64 (r->jobs));
    mw_json_add (o, "in_time", mw_json_u64 (r->in_time));
    mw_json_add (o, "late", mw_json_u64 (r->late));
    mw_json_add (o, "failed", mw_json_u64 (r->failed));
    mw_json_add (o, "deadline_miss_rate", mw_json_num (r->deadline_miss_rate, 6));
    mw_json_add (o, "local_share", mw_json_num (r->local_share, 6));
    mw_json_add (o, "peer_share", mw_json_num (r->peer_share, 6));
    mw_json_add (o, "server_share", mw_json_num (r->server_share, 6));
    mw_json_add (o, "messages_per_job", mw_json_num (r->messages_per_job, 4));
    mw_json_add (o, "offers", mw_json_u64 (r->offers));
    mw_json_add (o, "refusals", mw_json_u64 (r->refusals));
    mw_json_add (o, "p50_latency_ms", mw_json_num (r->p50_ms, 1));
    mw_json_add (o, "p99_latency_ms", mw_json_num (r->p99_ms, 1));
    mw_json_add (o, "mean_util", mw_json_num (r->mean_util, 4));
    mw_json_add (o, "floor_miss_rate", mw_json_num (r->floor_miss_rate, 6));
    mw_json_add (o, "events", mw_json_u64 (r->events));
    return o;
}

static void
s_table_head (FILE *f)
{
    fprintf (f, "%-9s %6s %9s %9s %7s %7s %7s %8s %8s %8s %5s\n", "policy", "nodes", "jobs", "miss", "local",
             "peer", "server", "msg/job", "p50 ms", "p99 ms", "util");
}

static void
s_table_row (FILE *f, const sched_sim_result_t *r)
{
    fprintf (f, "%-9s %6u %9llu %9.5f %7.4f %7.4f %7.4f %8.3f %8.1f %8.1f %5.2f\n",
             placement_policy_name (r->policy), r->nodes, (unsigned long long) r->jobs, r->deadline_miss_rate,
             r->local_share, r->peer_share, r->server_share, r->messages_per_job, r->p50_ms, r->p99_ms,
             r->mean_util);
}

//  A comma list of up to `max` numbers in [lo, hi]: the count, or -1.
static int
s_parse_list (const char *s, double lo, double hi, bool integer, double *out, int max)
{
    if (!s || !*s)
        return -1;
    int n = 0;
    const char *p = s;
    while (*p) {
        char item[32];
        size_t len = strcspn (p, ",");
        if (len == 0 || len >= sizeof item || n == max)
            return -1;
        memcpy (item, p, len);
        item[len] = 0;
        double v = 0;
        uint64_t u = 0;
        if (integer ? s_parse_u64 (item, (uint64_t) lo, (uint64_t) hi, &u) != 0
                    : s_parse_double (item, lo, hi, &v) != 0)
            return -1;
        out[n++] = integer ? (double) u : v;
        p += len;
        if (*p == ',' && !*++p)
            return -1;   //  trailing comma
    }
    return n;
}

#define S_GRID_MAX 16

static void
s_sweep_progress (void *arg, const sched_sweep_cell_t *cell, uint32_t seed_index, int policy)
{
    int *at = (int *) arg;
    fprintf (stderr, "\rsweep: cell %d/%d  N=%u load=%.2f deadline=%u ms  seed %u/%u  %-8s ", at[0], at[1],
             cell->nodes, cell->load, cell->deadline_ms, seed_index + 1, cell->seeds,
             sched_sweep_policy_name (policy));
    fflush (stderr);
}

static const char *
s_verdict_text (const sched_sweep_cell_t *c, int v)
{
    if (c->verdict[v] == SWEEP_NA)
        return "-";
    if (c->verdict[v] == SWEEP_PASS)
        return "PASS";
    return v == SWEEP_V_HALF && c->half_infeasible ? "FAIL*" : "FAIL";
}

static json_object *
s_sweep_json (const sched_sweep_cell_t *c)
{
    json_object *o = json_object_new_object (), *v = json_object_new_object (),
                *ps = json_object_new_array ();
    if (!o || !v || !ps) {
        json_object_put (o);
        json_object_put (v);
        json_object_put (ps);
        return NULL;
    }
    mw_json_add (o, "nodes", mw_json_u64 (c->nodes));
    mw_json_add (o, "load", mw_json_num (c->load, -1));
    mw_json_add (o, "deadline_ms", mw_json_u64 (c->deadline_ms));
    mw_json_add (o, "seeds", mw_json_u64 (c->seeds));
    mw_json_add (o, "floor_miss_rate", mw_json_num (c->floor_miss, 6));
    mw_json_add (o, "ok", mw_json_bool (sched_sweep_cell_ok (c)));
    mw_json_add (o, "half_infeasible", mw_json_bool (c->half_infeasible));
    for (int i = 0; i < SWEEP_VERDICTS; i++)
        mw_json_add (v, sched_sweep_verdict_name (i),
                     mw_json_str (c->verdict[i] == SWEEP_NA     ? "n/a"
                                  : c->verdict[i] == SWEEP_PASS ? "pass"
                                                                : "fail"));
    mw_json_add (o, "verdicts", v);
    for (int p = 0; p < SWEEP_POLICIES; p++) {
        json_object *r = json_object_new_object ();
        if (!r)
            continue;
        mw_json_add (r, "policy", mw_json_str (sched_sweep_policy_name (p)));
        mw_json_add (r, "deadline_miss_rate", mw_json_num (c->miss[p], 6));
        mw_json_add (r, "server_share", mw_json_num (c->server[p], 6));
        mw_json_add (r, "peer_share", mw_json_num (c->peer[p], 6));
        mw_json_add (r, "messages_per_job", mw_json_num (c->msgs[p], 4));
        mw_json_add (r, "p99_latency_ms", mw_json_num (c->p99[p], 1));
        json_object_array_add (ps, r);
    }
    mw_json_add (o, "policies", ps);
    return o;
}

static void
s_sweep_row (FILE *f, const sched_sweep_cell_t *c)
{
    //  One markdown row per policy; the verdicts on the forecast row.
    for (int p = 0; p < SWEEP_POLICIES; p++) {
        double o = c->miss[SWEEP_ORACLE];
        char ratio[32];
        if (o > 0)
            snprintf (ratio, sizeof ratio, "%.2f", c->miss[p] / o);
        else
            snprintf (ratio, sizeof ratio, "%s", c->miss[p] > 0 ? "inf" : "-");
        fprintf (f, "| %u | %.2f | %u | %s | %.5f | %.4f | %.4f | %.3f | %.1f | %s | %.5f |", c->nodes,
                 c->load, c->deadline_ms, sched_sweep_policy_name (p), c->miss[p], c->server[p], c->peer[p],
                 c->msgs[p], c->p99[p], ratio, c->floor_miss);
        if (p == SWEEP_FORECAST)
            fprintf (f, " %s | %s | %s | %s | %s | %s |\n", s_verdict_text (c, SWEEP_V_MISS),
                     s_verdict_text (c, SWEEP_V_HALF), s_verdict_text (c, SWEEP_V_SERVER),
                     s_verdict_text (c, SWEEP_V_MSGS), s_verdict_text (c, SWEEP_V_ORACLE),
                     sched_sweep_cell_ok (c) ? "**PASS**" : "**FAIL**");
        else
            fprintf (f, " | | | | | |\n");
    }
}

static int
s_sweep (const sched_sim_cfg_t *base, const char *nodes_s, const char *loads_s, const char *deadlines_s,
         uint32_t seeds, uint64_t seed0, bool json)
{
    double nodes[S_GRID_MAX], loads[S_GRID_MAX], deadlines[S_GRID_MAX];
    double def_nodes[] = {100, 1000}, def_loads[] = {0.3, 0.5, 0.7, 0.85, 0.95}, def_dl[] = {200, 300, 500};
    int nn = 2, nl = 5, nd = 3;
    memcpy (nodes, def_nodes, sizeof def_nodes);
    memcpy (loads, def_loads, sizeof def_loads);
    memcpy (deadlines, def_dl, sizeof def_dl);
    if ((nodes_s && (nn = s_parse_list (nodes_s, 2, 100000, true, nodes, S_GRID_MAX)) < 0)
        || (loads_s && (nl = s_parse_list (loads_s, 0.01, 10, false, loads, S_GRID_MAX)) < 0)
        || (deadlines_s && (nd = s_parse_list (deadlines_s, 1, 3600000, true, deadlines, S_GRID_MAX)) < 0))
        return mw_cliopt_fail ("simulate",
                               "--sweep: --nodes, --load and --deadline-ms take comma lists "
                               "(at most %d values each, in range)",
                               S_GRID_MAX);
    if (seeds < 1 || seeds > SCHED_SWEEP_SEEDS_MAX)
        return mw_cliopt_fail ("simulate", "--seeds: 1..%d", SCHED_SWEEP_SEEDS_MAX);
    sched_sweep_cell_t *cell = malloc (sizeof *cell);
    if (!cell) {
        fprintf (stderr, "meshwatch simulate: out of memory\n");
        return 1;
    }
    int at[2] = {0, nn * nl * nd}, failed = 0, rc = 0;
    json_object *cells = json ? json_object_new_array () : NULL;
    if (json && !cells) {
        free (cell);
        fprintf (stderr, "meshwatch simulate: out of memory\n");
        return 1;
    }
    if (!json) {
        printf ("### placement sweep: %u seeds from %llu, %g s measured after %g s warm-up\n\n", seeds,
                (unsigned long long) seed0, base->duration_s, base->warmup_s);
        printf (
            "| N | load | deadline ms | policy | miss rate | server share | peer share | msg/job | p99 ms | "
            "miss / oracle | floor | miss | half | server | msgs | oracle | cell |\n");
        printf ("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    }
    fflush (stdout);
    for (int i = 0; i < nn && rc == 0; i++)
        for (int l = 0; l < nl && rc == 0; l++)
            for (int d = 0; d < nd && rc == 0; d++) {
                at[0]++;
                if (sched_sweep_cell (base, (uint32_t) nodes[i], loads[l], (uint32_t) deadlines[d], seed0,
                                      seeds, cell, s_sweep_progress, at)
                    != 0) {
                    fprintf (stderr, "\nmeshwatch simulate: sweep: a run failed (configuration or memory)\n");
                    rc = 1;
                    break;
                }
                fprintf (stderr, "\r%*s\r", 78, "");
                failed += !sched_sweep_cell_ok (cell);
                if (json)
                    json_object_array_add (cells, s_sweep_json (cell));
                else {
                    s_sweep_row (stdout, cell);
                    fflush (stdout);
                }
            }
    if (json) {
        json_object *doc = json_object_new_object ();
        if (doc) {
            mw_json_add (doc, "seeds", mw_json_u64 (seeds));
            mw_json_add (doc, "first_seed", mw_json_u64 (seed0));
            mw_json_add (doc, "duration", mw_json_num (base->duration_s, -1));
            mw_json_add (doc, "warmup", mw_json_num (base->warmup_s, -1));
            mw_json_add (doc, "cells", cells);
            mw_json_add (doc, "cells_failed", mw_json_u64 ((uint64_t) failed));
            printf ("%s\n", mw_json_text (doc, true));
            json_object_put (doc);
        }
        else {
            json_object_put (cells);
            rc = rc ? rc : 1;
        }
    }
    else
        printf ("\n%d of %d cells FAIL.  Verdicts on the forecast row (docs/PLACEMENT.md, \"The sweep\"): "
                "miss <= random's, half <= 0.5 x random's at load >= 0.7 (FAIL* = the oracle fails it too: "
                "out of capacity), server share <= random's, msgs <= random's, oracle <= 1.5 x oracle's at "
                "load <= 0.85; all but half within two standard errors of the counts, every seed.\n",
                failed, at[1]);
    free (cell);
    return rc ? rc : failed ? 3 : 0;
}

int
mw_simulate_cli_main (int argc, char **argv)
{
    sched_sim_cfg_t cfg;
    sched_sim_cfg_defaults (&cfg);
    bool json = false, all = false, sweep = false, have_nodes = false, have_policy = false, have_seed = false;
    const char *nodes_s = NULL, *load_s = NULL, *deadline_s = NULL;
    uint64_t seeds = 5;
    //  Same rules as every meshwatch subcommand (common/cliopt.h).
    if (mw_cliopt_wants_help (argc, argv)) {
        s_usage (stdout);
        return 0;
    }
    enum {
        O_NODES = 256,
        O_POLICY,
        O_SEED,
        O_DURATION,
        O_WARMUP,
        O_DEADLINE_MS,
        O_LOAD,
        O_SERVER_WORKERS,
        O_EVENT_COVER,
        O_EVENT_BOXES,
        O_HORIZON,
        O_VIEW,
        O_EARLY,
        O_UNFIT_WEIGHT,
        O_SWEEP,
        O_SEEDS,
        O_JSON
    };
    static const struct option opts[] = {{"nodes", required_argument, NULL, O_NODES},
                                         {"policy", required_argument, NULL, O_POLICY},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"duration", required_argument, NULL, O_DURATION},
                                         {"warmup", required_argument, NULL, O_WARMUP},
                                         {"deadline-ms", required_argument, NULL, O_DEADLINE_MS},
                                         {"load", required_argument, NULL, O_LOAD},
                                         {"server-workers", required_argument, NULL, O_SERVER_WORKERS},
                                         {"event-cover", required_argument, NULL, O_EVENT_COVER},
                                         {"event-boxes", required_argument, NULL, O_EVENT_BOXES},
                                         {"horizon", required_argument, NULL, O_HORIZON},
                                         {"view", required_argument, NULL, O_VIEW},
                                         {"early", required_argument, NULL, O_EARLY},
                                         {"unfit-weight", required_argument, NULL, O_UNFIT_WEIGHT},
                                         {"sweep", no_argument, NULL, O_SWEEP},
                                         {"seeds", required_argument, NULL, O_SEEDS},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mw_cliopt_t *p = mw_cliopt_new ("simulate", argc, argv, opts);
    if (!p)
        return 1;
    int c;
    while ((c = mw_cliopt_next (p)) >= 0) {
        const char *v = mw_cliopt_arg (p);
        uint64_t u = 0;
        double d = 0;
        int bad = 0;
        switch (c) {
        case O_JSON: json = true; break;
        case O_SWEEP: sweep = true; break;
        //  Lists in a sweep: parsed once the mode is known.
        case O_NODES:
            nodes_s = v;
            have_nodes = true;
            break;
        case O_LOAD: load_s = v; break;
        case O_DEADLINE_MS: deadline_s = v; break;
        case O_SEEDS: bad = s_parse_u64 (v, 1, SCHED_SWEEP_SEEDS_MAX, &seeds); break;
        case O_POLICY:
            if (strcmp (v, "all") == 0)
                all = true;
            else
                bad = placement_policy_parse (v, &cfg.policy);
            have_policy = true;
            break;
        case O_SEED:
            bad = s_parse_u64 (v, 0, UINT64_MAX, &u);
            cfg.seed = u;
            have_seed = true;
            break;
        case O_DURATION: bad = s_parse_double (v, 1, 86400, &cfg.duration_s); break;
        case O_WARMUP: bad = s_parse_double (v, 0, 3600, &cfg.warmup_s); break;
        case O_SERVER_WORKERS:
            bad = s_parse_u64 (v, 0, 64, &u);
            cfg.server_workers = (uint32_t) u;
            break;
        case O_EVENT_COVER: bad = s_parse_double (v, 0, 1, &cfg.event_cover); break;
        case O_EVENT_BOXES:
            bad = s_parse_u64 (v, 1, 100000, &u);
            cfg.event_boxes = (uint32_t) u;
            break;
        case O_HORIZON:
            bad = s_parse_u64 (v, 1, 255, &u);
            cfg.horizon_s = (uint32_t) u;
            break;
        case O_VIEW:
            bad = s_parse_u64 (v, 1, 4096, &u);
            cfg.view = (uint32_t) u;
            break;
        case O_EARLY:
            bad = s_parse_double (v, 0, 1, &d);
            cfg.placement.early = d;
            break;
        case O_UNFIT_WEIGHT:
            bad = s_parse_double (v, 0, 1, &d);
            cfg.placement.unfit_weight = d;
            break;
        }
        if (bad) {
            mw_cliopt_fail ("simulate", "bad value for %s: '%.60s'", mw_cliopt_name (p), v);
            c = MW_CLIOPT_ERROR;
            break;
        }
    }
    int bad = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0;
    mw_cliopt_destroy (&p);
    if (bad)
        return 2;
    if (sweep) {
        if (have_policy)
            return mw_cliopt_fail ("simulate", "--sweep runs its own policies: no --policy");
        return s_sweep (&cfg, nodes_s, load_s, deadline_s, (uint32_t) seeds, have_seed ? cfg.seed : 1, json);
    }
    if (!have_nodes || !have_policy || !have_seed)
        return mw_cliopt_fail ("simulate", "--nodes, --policy and --seed are required");
    uint64_t u = 0;
    double d = 0;
    if (s_parse_u64 (nodes_s, 2, 100000, &u) != 0)
        return mw_cliopt_fail ("simulate", "bad value for --nodes: '%.60s'", nodes_s);
    cfg.nodes = (uint32_t) u;
    if (load_s) {
        if (s_parse_double (load_s, 0.01, 10, &d) != 0)
            return mw_cliopt_fail ("simulate", "bad value for --load: '%.60s'", load_s);
        cfg.load = d;
    }
    if (deadline_s) {
        if (s_parse_u64 (deadline_s, 1, 3600000, &u) != 0)
            return mw_cliopt_fail ("simulate", "bad value for --deadline-ms: '%.60s'", deadline_s);
        cfg.deadline_ms = (uint32_t) u;
    }

    placement_policy_t first = all ? PLACEMENT_LOCAL : cfg.policy;
    placement_policy_t last = all ? (placement_policy_t) (PLACEMENT_POLICY_COUNT - 1) : cfg.policy;
    sched_sim_result_t res[PLACEMENT_POLICY_COUNT];
    double wall[PLACEMENT_POLICY_COUNT] = {0};
    for (int p = first; p <= (int) last; p++) {
        cfg.policy = (placement_policy_t) p;
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        if (sched_sim_run (&cfg, &res[p]) != 0) {
            fprintf (stderr, "meshwatch simulate: %s: run failed (configuration or memory)\n",
                     placement_policy_name (cfg.policy));
            return 1;
        }
        clock_gettime (CLOCK_MONOTONIC, &t1);
        wall[p] = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    }
    if (json) {
        json_object *doc = NULL;
        if (!all)
            doc = s_json_one (&res[first]);
        else {
            doc = json_object_new_object ();
            json_object *runs = json_object_new_array ();
            for (int p = first; runs && p <= (int) last; p++)
                json_object_array_add (runs, s_json_one (&res[p]));
            if (doc) {
                mw_json_add (doc, "nodes", mw_json_u64 (cfg.nodes));
                mw_json_add (doc, "seed", mw_json_u64 (cfg.seed));
                mw_json_add (doc, "duration", mw_json_num (cfg.duration_s, -1));
                mw_json_add (doc, "runs", runs);
            }
            else
                json_object_put (runs);
        }
        if (!doc) {
            fprintf (stderr, "meshwatch simulate: out of memory\n");
            return 1;
        }
        printf ("%s\n", mw_json_text (doc, all));
        json_object_put (doc);
    }
    else {
        printf ("meshwatch simulate: %u boxes, seed %llu, %g s measured after %g s warm-up, "
                "deadline %u ms, server %u workers\n",
                cfg.nodes, (unsigned long long) cfg.seed, cfg.duration_s, cfg.warmup_s, cfg.deadline_ms,
                cfg.server_workers);
        s_table_head (stdout);
        for (int p = first; p <= (int) last; p++)
            s_table_row (stdout, &res[p]);
        for (int p = first; p <= (int) last; p++)
            fprintf (stderr, "  %s: %.2f s wall, %llu events\n",
                     placement_policy_name ((placement_policy_t) p), wall[p],
                     (unsigned long long) res[p].sim_events);
    }
    return 0;
}
