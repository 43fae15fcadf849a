/*  =========================================================================
    gossip_beacon - when to broadcast a discovery beacon: Trickle (RFC 6206)
    as pure code (see beacon.h for why and the rules).

    State is one interval: its length, its start, the point t in [I/2, I)
    where the beacon is due, whether t has passed, and how many beacons of
    our mesh were heard since the interval began.  The first half of every
    interval only listens, so that boxes whose intervals are not aligned
    still hear each other before deciding (RFC 6206 §4.5, "short-listen").
    ========================================================================= */
#include "gossip/beacon.h"
#include "common/rand.h"
#include "common/selftest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _gossip_beacon_t {
    gossip_beacon_cfg_t cfg;
    uint64_t rng;
    uint32_t interval;   //  I, ms
    uint64_t start;      //  this interval began
    uint64_t due;        //  t: the beacon is due (start + [I/2, I))
    bool decided;        //  t passed in this interval (sent or suppressed)
    uint32_t heard;      //  c: beacons of our mesh heard in this interval
    bool alone;          //  no peer alive: no suppression, cap alone_ms
    gossip_beacon_stats_t stats;
};

void
gossip_beacon_cfg_defaults (gossip_beacon_cfg_t *cfg)
{
    assert (cfg);
    cfg->fast_ms = 500;
    cfg->quiet_ms = 60000;
    cfg->alone_ms = 2000;
    cfg->redundancy = 1;
}

static uint32_t
s_cap (const gossip_beacon_t *self)
{
    return self->alone ? self->cfg.alone_ms : self->cfg.quiet_ms;
}

//  A new interval of the current length from `now`.
static void
s_begin (gossip_beacon_t *self, uint64_t now)
{
    self->start = now;
    self->heard = 0;
    self->decided = false;
    uint32_t half = self->interval / 2;
    self->due = now + half + (half ? mw_splitmix64 (&self->rng) % half : 0);
    self->stats.interval_ms = self->interval;
}

//  Back to the fast interval (RFC 6206: only if the interval is longer,
//  so that a burst of changes does not keep restarting the listen half).
static void
s_reset (gossip_beacon_t *self, uint64_t now)
{
    if (self->interval <= self->cfg.fast_ms)
        return;
    self->interval = self->cfg.fast_ms;
    self->stats.resets++;
    s_begin (self, now);
}

gossip_beacon_t *
gossip_beacon_new (const gossip_beacon_cfg_t *cfg, uint64_t seed, uint64_t now_ms)
{
    gossip_beacon_cfg_t c;
    if (cfg)
        c = *cfg;
    else
        gossip_beacon_cfg_defaults (&c);
    if (c.alone_ms == 0)
        c.alone_ms = 4 * c.fast_ms;
    if (c.fast_ms == 0 || c.quiet_ms < c.fast_ms || c.alone_ms < c.fast_ms || c.redundancy == 0)
        return NULL;
    gossip_beacon_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = c;
    self->rng = seed;
    self->alone = true;   //  until the view says otherwise
    self->interval = c.fast_ms;
    s_begin (self, now_ms);
    //  Just started: the first beacon leaves at once.
    self->due = now_ms;
    return self;
}

void
gossip_beacon_destroy (gossip_beacon_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

void
gossip_beacon_heard (gossip_beacon_t *self, uint64_t now_ms)
{
    assert (self);
    (void) now_ms;
    self->heard++;
    self->stats.heard++;
}

void
gossip_beacon_view (gossip_beacon_t *self, size_t peers, bool changed, uint64_t now_ms)
{
    assert (self);
    bool alone = peers == 0;
    bool became_alone = alone && !self->alone;
    self->alone = alone;
    if (changed || became_alone)
        s_reset (self, now_ms);
    else if (self->interval > s_cap (self)) {
        //  Alone again with a long interval (a settled box whose peers all
        //  left): shorten it to the alone cap now.
        self->interval = s_cap (self);
        s_begin (self, now_ms);
    }
}

bool
gossip_beacon_tick (gossip_beacon_t *self, uint64_t now_ms)
{
    assert (self);
    bool send = false;
    if (!self->decided && now_ms >= self->due) {
        self->decided = true;
        if (self->alone || self->heard < self->cfg.redundancy) {
            send = true;
            self->stats.sent++;
        }
        else
            self->stats.suppressed++;
    }
    if (self->decided && now_ms >= self->start + self->interval) {
        uint64_t doubled = (uint64_t) self->interval * 2;
        self->interval = doubled > s_cap (self) ? s_cap (self) : (uint32_t) doubled;
        s_begin (self, now_ms);
    }
    return send;
}

uint64_t
gossip_beacon_next_wakeup (gossip_beacon_t *self, uint64_t now_ms)
{
    assert (self);
    uint64_t t = self->decided ? self->start + self->interval : self->due;
    return t < now_ms ? now_ms : t;
}

void
gossip_beacon_stats (const gossip_beacon_t *self, gossip_beacon_stats_t *out)
{
    assert (self && out);
    *out = self->stats;
}

//  --------------------------------------------------------------------------
//  Selftest: instances on a virtual clock in one broadcast domain (every
//  beacon is heard by every other box at once, as on one LAN segment).

typedef struct {
    gossip_beacon_t *b[128];
    size_t n;
    uint64_t now;
    uint64_t sent[128];
    uint64_t first_sent[128];   //  time of each box's first beacon (UINT64_MAX: none yet)
} s_net_t;

//  Run every instance until `until`; returns beacons sent mesh-wide.
static uint64_t
s_run (s_net_t *net, uint64_t until)
{
    uint64_t total = 0;
    while (1) {
        uint64_t t = UINT64_MAX;
        size_t who = 0;
        for (size_t i = 0; i < net->n; i++) {
            uint64_t w = gossip_beacon_next_wakeup (net->b[i], net->now);
            if (w < t) {
                t = w;
                who = i;
            }
        }
        if (t > until)
            break;
        net->now = t;
        if (gossip_beacon_tick (net->b[who], t)) {
            total++;
            net->sent[who]++;
            if (net->first_sent[who] == UINT64_MAX)
                net->first_sent[who] = t;
            for (size_t j = 0; j < net->n; j++)
                if (j != who)
                    gossip_beacon_heard (net->b[j], t);
        }
    }
    net->now = until;
    return total;
}

static void
s_net_free (s_net_t *net)
{
    for (size_t i = 0; i < net->n; i++)
        gossip_beacon_destroy (&net->b[i]);
    net->n = 0;
}

int
gossip_beacon_test (bool verbose)
{
    int rc = 0;
    gossip_beacon_cfg_t cfg;
    gossip_beacon_cfg_defaults (&cfg);

    //  Bad settings are refused.
    gossip_beacon_cfg_t bad = cfg;
    bad.fast_ms = 0;
    CHECK (gossip_beacon_new (&bad, 1, 0) == NULL, "fast_ms 0 accepted");
    bad = cfg;
    bad.quiet_ms = cfg.fast_ms - 1;
    CHECK (gossip_beacon_new (&bad, 1, 0) == NULL, "quiet < fast accepted");
    bad = cfg;
    bad.redundancy = 0;
    CHECK (gossip_beacon_new (&bad, 1, 0) == NULL, "redundancy 0 accepted");

    //  One box alone: its first beacon leaves at once, then it never goes
    //  quieter than alone_ms, and nothing suppresses it.
    s_net_t net;
    memset (&net, 0, sizeof net);
    memset (net.first_sent, 0xff, sizeof net.first_sent);
    net.b[0] = gossip_beacon_new (&cfg, 7, 1000);
    net.n = 1;
    net.now = 1000;
    CHECK (net.b[0] && gossip_beacon_next_wakeup (net.b[0], 1000) == 1000, "first beacon not due at start");
    gossip_beacon_view (net.b[0], 0, false, 1000);
    uint64_t alone = s_run (&net, 1000 + 60000);
    CHECK (net.first_sent[0] == 1000, "first beacon at %llu, not at start",
           (unsigned long long) net.first_sent[0]);
    //  Intervals 0.5, 1, 2, 2, ... s with the beacon in the second half.
    CHECK (alone >= 28 && alone <= 34, "alone for a minute: %llu beacons (expected ~30)",
           (unsigned long long) alone);
    gossip_beacon_stats_t st;
    gossip_beacon_stats (net.b[0], &st);
    CHECK (st.interval_ms == cfg.alone_ms && st.suppressed == 0, "alone: interval %u, %llu suppressed",
           st.interval_ms, (unsigned long long) st.suppressed);
    if (verbose)
        printf ("  alone: %llu beacons in 60 s, interval %u ms\n", (unsigned long long) alone,
                st.interval_ms);
    s_net_free (&net);

    //  Meshes of 5, 20 and 100 boxes started within a second: beacons go
    //  quiet; once settled, about `redundancy` per quiet interval in all,
    //  so far below 2 per box per minute; a change brings one beacon within
    //  fast_ms, then quiet again.
    size_t sizes[] = {5, 20, 100};
    for (size_t s = 0; s < 3; s++) {
        memset (&net, 0, sizeof net);
        memset (net.first_sent, 0xff, sizeof net.first_sent);
        size_t n = sizes[s];
        uint64_t rng = 42 + s;
        for (size_t i = 0; i < n; i++) {
            uint64_t t0 = 1000 + mw_splitmix64 (&rng) % 1000;
            net.b[i] = gossip_beacon_new (&cfg, mw_splitmix64 (&rng), t0);
            if (!net.b[i]) {
                rc = -1;
                break;
            }
            //  Each joins the others at once: its view is the mesh.
            gossip_beacon_view (net.b[i], n - 1, true, t0);
            net.n++;
        }
        net.now = 1000;
        uint64_t start = s_run (&net, 1000 + 300000);        //  five minutes to settle
        uint64_t settled = s_run (&net, net.now + 600000);   //  then ten
        double per_box_min = (double) settled / (double) n / 10.0;
        uint64_t max_box = 0;
        for (size_t i = 0; i < n; i++) {
            gossip_beacon_stats (net.b[i], &st);
            CHECK (st.interval_ms == cfg.quiet_ms, "N=%zu: box %zu interval %u after settling", n, i,
                   st.interval_ms);
        }
        memset (net.sent, 0, sizeof net.sent);
        //  A change at every box at once (a join everyone saw): a beacon
        //  within fast_ms, and a handful in all until quiet again.
        uint64_t t_change = net.now;
        for (size_t i = 0; i < n; i++)
            gossip_beacon_view (net.b[i], n - 1, true, t_change);
        uint64_t first = UINT64_MAX;
        memset (net.first_sent, 0xff, sizeof net.first_sent);
        uint64_t after = s_run (&net, t_change + 300000);
        for (size_t i = 0; i < n; i++) {
            if (net.first_sent[i] < first)
                first = net.first_sent[i];
            if (net.sent[i] > max_box)
                max_box = net.sent[i];
        }
        if (verbose)
            printf (
                "  N=%zu: %llu beacons in the first 5 min, then %llu in 10 min (%.3f per box per minute); "
                "after a change: first in %llu ms, %llu in 5 min (max %llu from one box)\n",
                n, (unsigned long long) start, (unsigned long long) settled, per_box_min,
                (unsigned long long) (first - t_change), (unsigned long long) after,
                (unsigned long long) max_box);
        CHECK (per_box_min <= 2.0, "N=%zu: %.2f beacons per box per minute settled", n, per_box_min);
        CHECK (settled <= 10 * 3 * cfg.redundancy, "N=%zu: %llu beacons mesh-wide in 10 settled minutes", n,
               (unsigned long long) settled);
        CHECK (first != UINT64_MAX && first - t_change <= cfg.fast_ms,
               "N=%zu: no beacon within %u ms of a change", n, cfg.fast_ms);
        CHECK (after <= 30, "N=%zu: %llu beacons in the 5 min after a change", n, (unsigned long long) after);
        //  A box left alone beacons at once and keeps to alone_ms.
        gossip_beacon_view (net.b[0], 0, true, net.now);
        net.n = 1;
        uint64_t t_alone = net.now;
        memset (net.first_sent, 0xff, sizeof net.first_sent);
        uint64_t lone = s_run (&net, t_alone + 10000);
        CHECK (net.first_sent[0] <= t_alone + cfg.fast_ms && lone >= 5,
               "N=%zu: box left alone sent %llu beacons in 10 s, first after %llu ms", n,
               (unsigned long long) lone, (unsigned long long) (net.first_sent[0] - t_alone));
        net.n = n;
        s_net_free (&net);
    }
    gossip_beacon_t *b = gossip_beacon_new (NULL, 1, 0);
    CHECK (b != NULL, "defaults refused");
    gossip_beacon_destroy (&b);
    CHECK (b == NULL, "destroy does not null");
    return rc;
}
