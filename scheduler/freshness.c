/*  =========================================================================
    sched_freshness - when our resource digest is news (see freshness.h).
    ========================================================================= */
#include "scheduler/freshness.h"
#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void
sched_freshness_defaults (sched_freshness_t *cfg)
{
    assert (cfg);
    //  15 s: an idle box's digest costs one spreading burst per 15 s
    //  (at N = 20 the 3 s of before were ~1.2 KB/s of GOSSIP per box, the
    //  largest share of an idle mesh's bytes after the heartbeats), and its
    //  age at every peer (15 s + about 1 s of spreading) stays under
    //  placement's limit for idle digests (placement_cfg_t.
    //  max_idle_digest_age_ms, 20 s).  An idle box's numbers are still
    //  within step_pct of the truth whatever the age: any larger move, and
    //  any sign of load, is published at once.
    cfg->max_age_ms = 15000;
    //  5 points: far above the sampling noise of an idle box (a fraction of
    //  a point), far below what moves a placement decision.
    cfg->step_pct = 5.0;
    cfg->busy_headroom = SCHED_DIGEST_BUSY_HEADROOM;
}

static bool
s_moved (double a, double b, double step)
{
    return fabs (a - b) >= step;
}

//  Fields that describe what the box is, not how loaded it is.
static bool
s_structure_changed (const sched_digest_t *a, const sched_digest_t *b)
{
    return a->version != b->version || a->flags != b->flags || a->jobs != b->jobs
           || a->job_port != b->job_port || a->workers != b->workers || a->queue_max != b->queue_max
           || a->api_port != b->api_port || a->api_https != b->api_https || a->mem_total_mb != b->mem_total_mb
           || s_moved (a->cpu_cores, b->cpu_cores, 0.1) || a->horizon_s[0] != b->horizon_s[0]
           || a->horizon_s[1] != b->horizon_s[1] || s_moved (a->svc_ms, b->svc_ms, 0.25 * (a->svc_ms + 1));
}

bool
sched_freshness_due (const sched_freshness_t *cfg, const sched_digest_t *sent, const sched_digest_t *now,
                     uint64_t since_ms)
{
    assert (cfg && now);
    if (!sent || cfg->max_age_ms == 0 || since_ms >= cfg->max_age_ms)
        return true;
    if (s_structure_changed (sent, now))
        return true;
    //  Busy: where placement decides, every sample counts.
    if (!sched_digest_idle (now, cfg->busy_headroom))
        return true;
    //  Was busy when published: the way back to idle is news too.
    if (!sched_digest_idle (sent, cfg->busy_headroom))
        return true;
    double step = cfg->step_pct;
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++) {
        if (s_moved (sent->cur[m], now->cur[m], step))
            return true;
        for (int h = 0; h < 2; h++)
            if (s_moved (sent->fc[m][h], now->fc[m][h], step)
                || s_moved (sent->ub[m][h], now->ub[m][h], step))
                return true;
    }
    if (s_moved (sent->spread[0], now->spread[0], step) || s_moved (sent->spread[1], now->spread[1], step))
        return true;
    if (s_moved (sent->arrival_rate, now->arrival_rate, 0.5) || s_moved (sent->temp_c, now->temp_c, 5.0))
        return true;
    return false;
}

int
sched_freshness_test (bool verbose)
{
    int rc = 0;
    sched_freshness_t cfg;
    sched_freshness_defaults (&cfg);
    sched_digest_t a = {0};
    a.version = SCHED_DIGEST_VERSION;
    a.cpu_cores = 4;
    a.mem_total_mb = 8192;
    a.horizon_s[0] = 5, a.horizon_s[1] = 30;
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++) {
        a.cur[m] = 10;
        for (int h = 0; h < 2; h++)
            a.fc[m][h] = 11, a.ub[m][h] = 15;
    }
    a.spread[0] = a.spread[1] = 2;
    sched_digest_t b = a;
    //  Nothing published yet, or the published one is old: due.
    CHECK (sched_freshness_due (&cfg, NULL, &a, 0), "first digest held back");
    CHECK (sched_freshness_due (&cfg, &a, &b, 15000), "stale digest held back");
    CHECK (!sched_freshness_due (&cfg, &a, &b, 14999), "an idle, unchanged digest published before max_age");
    //  An idle box whose numbers jitter: held back.
    b.ts_ms += 1000;
    b.cur[0] += 1.2;
    b.ub[0][0] += 4.9;
    b.spread[0] += 0.5;
    CHECK (!sched_freshness_due (&cfg, &a, &b, 1000), "idle jitter published");
    //  A move of a full step in any reading or forecast: due.
    b = a;
    b.fc[1][1] += 5;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "forecast step held back");
    b = a;
    b.cur[2] -= 6;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "reading step held back");
    b = a;
    b.temp_c = 6;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "temperature step held back");
    //  Structure: jobs, ports, capacity.
    b = a;
    b.api_port = 8080;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "API port change held back");
    b = a;
    b.jobs = true;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "jobs change held back");
    b = a;
    b.cpu_cores = 2;
    CHECK (sched_freshness_due (&cfg, &a, &b, 1000), "capacity change held back");
    //  Busy (little headroom, or a queue): every sample, and the first
    //  sample after it (the way back to idle).
    b = a;
    b.ub[0][0] = 75;
    b.cur[0] = 71;
    sched_digest_t c = b;
    c.cur[0] += 0.1;
    CHECK (sched_freshness_due (&cfg, &b, &c, 1000), "busy sample held back");
    CHECK (sched_freshness_due (&cfg, &b, &a, 1000), "back to idle held back");
    b = a;
    b.queue_len = 1;
    CHECK (sched_freshness_due (&cfg, &b, &b, 1000), "queued sample held back");
    //  max_age 0: every sample (the old behaviour).
    cfg.max_age_ms = 0;
    CHECK (sched_freshness_due (&cfg, &a, &a, 0), "max_age 0 held back");
    //  Over a quiet hour of jitter, an idle box publishes once per max_age.
    sched_freshness_defaults (&cfg);
    sched_digest_t sent = a;
    uint64_t sent_at = 0;
    int published = 0;
    uint64_t rng = 88172645463325252ull;
    for (uint64_t t = 1000; t <= 3600 * 1000; t += 1000) {
        sched_digest_t s = a;
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        s.cur[0] += (double) (rng % 300) / 100.0;   //  0..3 points of noise
        s.ub[0][0] += (double) ((rng >> 16) % 300) / 100.0;
        if (sched_freshness_due (&cfg, &sent, &s, t - sent_at)) {
            sent = s;
            sent_at = t;
            published++;
        }
    }
    CHECK (published >= 235 && published <= 245, "an idle box published %d digests in an hour", published);
    if (verbose)
        printf ("  idle box, an hour of 1 Hz samples: %d published (max age %u ms)\n", published,
                cfg.max_age_ms);
    return rc;
}
