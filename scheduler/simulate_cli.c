/*  =========================================================================
    meshwatch simulate - run the placement simulator and report.

        meshwatch simulate --nodes N --policy local|reactive|random|forecast|all
                           --seed S [--duration S] [--warmup S] [--deadline-ms MS]
                           [--load U] [--server-workers W] [--view V]
                           [--event-cover F] [--event-boxes K] [--horizon S] [--json]

    One policy prints one result; `--policy all` runs the four on the same
    input (same seed: same frames, same bursts, same service times) one
    after the other.  Without --json, a table.  With --json, one object per
    policy; for `all`, an object {"nodes", "seed", "duration", "runs": [...]}
    whose runs hold one such object each, in the order local, reactive,
    random, forecast.  Exit 0, 1 when a run failed, 2 on bad usage.
    ========================================================================= */
#include "scheduler/simulate.h"
#include "common/cliopt.h"
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
    fprintf (f, "usage: meshwatch simulate --nodes N --policy local|reactive|random|forecast|all\n"
                "                          --seed S [--duration SECONDS] [--warmup SECONDS]\n"
                "                          [--deadline-ms MS] [--load U] [--server-workers W]\n"
                "                          [--view V] [--event-cover F] [--event-boxes K]\n"
                "                          [--horizon SECONDS] [--json]\n"
                "  discrete-event simulation of job hand-off across N boxes (docs/PLACEMENT.md)\n");
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

int
mw_simulate_cli_main (int argc, char **argv)
{
    sched_sim_cfg_t cfg;
    sched_sim_cfg_defaults (&cfg);
    bool json = false, all = false, have_nodes = false, have_policy = false, have_seed = false;
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
        case O_NODES:
            bad = s_parse_u64 (v, 2, 100000, &u);
            cfg.nodes = (uint32_t) u;
            have_nodes = true;
            break;
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
        case O_DEADLINE_MS:
            bad = s_parse_u64 (v, 1, 3600000, &u);
            cfg.deadline_ms = (uint32_t) u;
            break;
        case O_LOAD:
            bad = s_parse_double (v, 0.01, 10, &d);
            cfg.load = d;
            break;
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
    if (!have_nodes || !have_policy || !have_seed)
        return mw_cliopt_fail ("simulate", "--nodes, --policy and --seed are required");

    placement_policy_t first = all ? PLACEMENT_LOCAL : cfg.policy;
    placement_policy_t last = all ? PLACEMENT_FORECAST : cfg.policy;
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
