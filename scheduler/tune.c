/*  =========================================================================
    sched_tune - performance-based tuning of a running model (see tune.h).

    Per model: two rings (completions with their size, latency and
    confidence; ended jobs with miss and escalation flags), the size now,
    and at most one change being judged (the canary).  Every statistic is
    taken over the samples measured at the current size since it was
    chosen and within the window, so numbers from before a swap (the old
    detector answers until the new one is warm) never judge the new size.
    ========================================================================= */
#include "scheduler/tune.h"
#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t at;
    float ms, conf;
    int16_t size;
    bool has_conf;
} s_sample_t;

typedef struct {
    uint64_t at;
    int16_t size;
    bool missed, escalated;
} s_outcome_t;

typedef enum { WHY_NONE = 0, WHY_OVERLOAD, WHY_HOME, WHY_ACCURACY } s_why_t;

typedef struct {
    int size;
    s_sample_t s[TUNE_WINDOW];
    int s_next, s_count;
    s_outcome_t o[TUNE_WINDOW];
    int o_next, o_count;
    uint64_t size_since;   //  samples before this do not count (0: all)
    uint64_t last_change;
    bool changed;
    bool canary;
    int canary_from;
    s_why_t canary_why;
    uint64_t canary_start;
    sched_tune_stats_t canary_base;
    uint64_t over_since, slack_since;   //  when the condition began (0: it does not hold)
    int barred;                         //  a size a canary rejected, not tried again before barred_until
    uint64_t barred_until;
    uint64_t changes, reverts;
} s_model_t;

struct _sched_tune_t {
    sched_tune_cfg_t cfg;
    s_model_t models[TUNE_MODELS];
};

void
sched_tune_cfg_defaults (sched_tune_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->sizes[0] = 320;
    cfg->sizes[1] = 416;
    cfg->sizes[2] = 608;
    cfg->n_sizes = 3;
    cfg->home = 416;
    cfg->p90_target_ms = 150;
    cfg->miss_max = 0.05;
    cfg->conf_low = 0.5;
    cfg->esc_max = 0;
    cfg->hold_ms = 30000;
    cfg->canary_ms = 15000;
    cfg->window_ms = 20000;
    cfg->min_samples = 10;
}

int
sched_tune_parse_sizes (const char *text, sched_tune_cfg_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    int sizes[TUNE_SIZES_MAX], n = 0;
    const char *p = text ? text : "";
    while (*p) {
        char *end = NULL;
        long v = strtol (p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            snprintf (err, errlen, "input sizes: not a list of numbers: %.40s", text);
            return -1;
        }
        if (v < 64 || v > 1024 || v % 32) {
            snprintf (err, errlen, "input size %ld: a multiple of 32 in 64..1024", v);
            return -1;
        }
        if (n == TUNE_SIZES_MAX) {
            snprintf (err, errlen, "more than %d input sizes", TUNE_SIZES_MAX);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (sizes[i] == v) {
                snprintf (err, errlen, "input size %ld given twice", v);
                return -1;
            }
        sizes[n++] = (int) v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) {
        snprintf (err, errlen, "no input sizes");
        return -1;
    }
    //  Insertion sort: at most 8.
    for (int i = 1; i < n; i++) {
        int x = sizes[i], j = i - 1;
        for (; j >= 0 && sizes[j] > x; j--)
            sizes[j + 1] = sizes[j];
        sizes[j + 1] = x;
    }
    memcpy (cfg->sizes, sizes, sizeof sizes);
    cfg->n_sizes = n;
    return 0;
}

static int
s_index (const sched_tune_cfg_t *cfg, int size)
{
    for (int i = 0; i < cfg->n_sizes; i++)
        if (cfg->sizes[i] == size)
            return i;
    return -1;
}

sched_tune_t *
sched_tune_new (const sched_tune_cfg_t *cfg)
{
    assert (cfg);
    if (cfg->n_sizes < 1 || cfg->n_sizes > TUNE_SIZES_MAX || s_index (cfg, cfg->home) < 0
        || !(cfg->p90_target_ms > 0) || cfg->min_samples == 0 || cfg->min_samples > TUNE_WINDOW)
        return NULL;
    sched_tune_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->models[TUNE_TINY_FACE].size = cfg->home;
    return self;
}

void
sched_tune_destroy (sched_tune_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

int
sched_tune_size (sched_tune_t *self, int m)
{
    assert (self);
    return m >= 0 && m < TUNE_MODELS ? self->models[m].size : 0;
}

void
sched_tune_sample (sched_tune_t *self, int m, int size, double ms, double conf, bool has_conf,
                   uint64_t now_ms)
{
    assert (self);
    if (m < 0 || m >= TUNE_MODELS || !(ms >= 0) || size < 0 || size > 4096)
        return;
    s_model_t *mm = &self->models[m];
    s_sample_t *s = &mm->s[mm->s_next];
    s->at = now_ms;
    s->ms = (float) ms;
    s->conf = (float) (has_conf && conf >= 0 && conf <= 1 ? conf : 0);
    s->has_conf = has_conf && conf >= 0 && conf <= 1;
    s->size = (int16_t) size;
    mm->s_next = (mm->s_next + 1) % TUNE_WINDOW;
    if (mm->s_count < TUNE_WINDOW)
        mm->s_count++;
}

void
sched_tune_outcome (sched_tune_t *self, int m, int size, bool missed, bool escalated, uint64_t now_ms)
{
    assert (self);
    if (m < 0 || m >= TUNE_MODELS || size < 0 || size > 4096)
        return;
    s_model_t *mm = &self->models[m];
    s_outcome_t *o = &mm->o[mm->o_next];
    o->at = now_ms;
    o->size = (int16_t) size;
    o->missed = missed;
    o->escalated = escalated;
    mm->o_next = (mm->o_next + 1) % TUNE_WINDOW;
    if (mm->o_count < TUNE_WINDOW)
        mm->o_count++;
}

//  The window at the current size: samples since the size was chosen and
//  not older than window_ms.
static void
s_stats (sched_tune_t *self, int m, uint64_t now, sched_tune_stats_t *st)
{
    s_model_t *mm = &self->models[m];
    memset (st, 0, sizeof *st);
    st->size = mm->size;
    st->conf = -1;
    float v[TUNE_WINDOW];
    double conf_sum = 0;
    int n = 0, nc = 0;
    for (int i = 0; i < mm->s_count; i++) {
        const s_sample_t *s = &mm->s[i];
        if ((mm->size && s->size != mm->size) || s->at < mm->size_since || now - s->at > self->cfg.window_ms)
            continue;
        v[n++] = s->ms;
        if (s->has_conf) {
            conf_sum += s->conf;
            nc++;
        }
    }
    st->samples = (uint32_t) n;
    if (n > 0) {
        for (int i = 1; i < n; i++) {
            float x = v[i];
            int j = i - 1;
            for (; j >= 0 && v[j] > x; j--)
                v[j + 1] = v[j];
            v[j + 1] = x;
        }
        int rank = (int) ceil (0.9 * n);
        st->p90_ms = v[rank - 1];
    }
    if (nc > 0)
        st->conf = conf_sum / nc;
    int no = 0, miss = 0, esc = 0;
    for (int i = 0; i < mm->o_count; i++) {
        const s_outcome_t *o = &mm->o[i];
        if ((mm->size && o->size != mm->size) || o->at < mm->size_since || now - o->at > self->cfg.window_ms)
            continue;
        no++;
        miss += o->missed;
        esc += o->escalated;
    }
    st->outcomes = (uint32_t) no;
    if (no > 0) {
        st->miss_rate = (double) miss / no;
        st->esc_rate = (double) esc / no;
    }
}

static bool
s_overloaded (const sched_tune_cfg_t *cfg, const sched_tune_stats_t *st)
{
    return st->p90_ms > cfg->p90_target_ms
           || (st->outcomes >= cfg->min_samples && st->miss_rate > cfg->miss_max);
}

//  Room for the next size: the p90 scaled by area under 80 % of the
//  target, and (nearly) no misses.  The gap between this and
//  s_overloaded is the dead band that keeps the size from flapping.
static bool
s_slack (const sched_tune_cfg_t *cfg, const sched_tune_stats_t *st, int next)
{
    double ratio = (double) next / st->size;
    return st->p90_ms * ratio * ratio <= 0.8 * cfg->p90_target_ms
           && (st->outcomes == 0 || st->miss_rate <= cfg->miss_max / 2);
}

static bool
s_low_accuracy (const sched_tune_cfg_t *cfg, const sched_tune_stats_t *st)
{
    return (cfg->conf_low > 0 && st->conf >= 0 && st->conf < cfg->conf_low)
           || (cfg->esc_max > 0 && st->outcomes >= cfg->min_samples && st->esc_rate > cfg->esc_max);
}

static bool
s_allowed (s_model_t *mm, int size, uint64_t now)
{
    return !(mm->barred == size && now < mm->barred_until);
}

static void
s_change (sched_tune_t *self, int m, sched_tune_action_t a, int to, s_why_t why, uint64_t now,
          sched_tune_change_t *out)
{
    s_model_t *mm = &self->models[m];
    out->action = a;
    out->from = mm->size;
    out->to = to;
    mm->size = to;
    mm->size_since = now;
    mm->last_change = now;
    mm->changed = true;
    mm->over_since = mm->slack_since = 0;
    if (a == TUNE_REVERT) {
        mm->canary = false;
        mm->reverts++;
        return;
    }
    mm->changes++;
    mm->canary = true;
    mm->canary_from = out->from;
    mm->canary_why = why;
    mm->canary_start = now;
    mm->canary_base = out->now;
}

int
sched_tune_step (sched_tune_t *self, int m, uint64_t now, sched_tune_change_t *out)
{
    assert (self);
    assert (out);
    const sched_tune_cfg_t *cfg = &self->cfg;
    if (!cfg->enable || m != TUNE_TINY_FACE)
        return 0;
    s_model_t *mm = &self->models[m];
    memset (out, 0, sizeof *out);
    out->model = m;
    s_stats (self, m, now, &out->now);
    const sched_tune_stats_t *st = &out->now;

    if (mm->canary) {
        uint64_t elapsed = now - mm->canary_start;
        if (elapsed < cfg->canary_ms)
            return 0;
        const sched_tune_stats_t *b = &mm->canary_base;
        out->base = *b;
        bool judged = st->samples >= cfg->min_samples;
        //  Nothing measured (no jobs came): nothing says it hurt either.
        if (!judged && elapsed < 4ull * cfg->canary_ms)
            return 0;
        bool improved = true;
        if (!judged)
            snprintf (out->reason, sizeof out->reason, "kept: too few jobs to judge (%u)", st->samples);
        else if (mm->canary_why == WHY_OVERLOAD) {
            improved =
                st->p90_ms <= 0.9 * b->p90_ms || (b->miss_rate > 0 && st->miss_rate <= b->miss_rate / 2);
            snprintf (out->reason, sizeof out->reason, "%s: p90 %.1f -> %.1f ms, misses %.0f%% -> %.0f%%",
                      improved ? "improved" : "no improvement", b->p90_ms, st->p90_ms, 100 * b->miss_rate,
                      100 * st->miss_rate);
        }
        else if (mm->canary_why == WHY_HOME) {
            improved = !s_overloaded (cfg, st);
            snprintf (out->reason, sizeof out->reason, "%s at %d: p90 %.1f ms (target %.0f), misses %.0f%%",
                      improved ? "no overload" : "overloaded", st->size, st->p90_ms, cfg->p90_target_ms,
                      100 * st->miss_rate);
        }
        else {
            bool conf_up = b->conf >= 0 && st->conf >= b->conf + 0.02;
            bool esc_down = cfg->esc_max > 0 && st->esc_rate < b->esc_rate;
            improved = !s_overloaded (cfg, st) && (conf_up || esc_down);
            snprintf (out->reason, sizeof out->reason,
                      "%s: confidence %.3f -> %.3f, escalations %.0f%% -> %.0f%%",
                      improved ? "improved" : "no improvement", b->conf, st->conf, 100 * b->esc_rate,
                      100 * st->esc_rate);
        }
        mm->canary = false;
        if (improved) {
            out->action = TUNE_KEPT;
            out->from = mm->canary_from;
            out->to = mm->size;
            return 1;
        }
        mm->barred = mm->size;
        mm->barred_until = now + 4ull * cfg->hold_ms;
        s_change (self, m, TUNE_REVERT, mm->canary_from, WHY_NONE, now, out);
        return 1;
    }

    if (st->samples < cfg->min_samples) {
        mm->over_since = mm->slack_since = 0;
        return 0;
    }
    int idx = s_index (cfg, mm->size);
    if (idx < 0)
        return 0;
    //  Hysteresis in time: a condition must hold for half a window (a
    //  burst of two slow jobs at the start of a load is not an overload
    //  yet, and the numbers the canary compares with are the load's).
    bool over = s_overloaded (cfg, st);
    int next = idx + 1 < cfg->n_sizes ? cfg->sizes[idx + 1] : 0;
    bool slack = !over && next && s_slack (cfg, st, next);
    mm->over_since = over ? (mm->over_since ? mm->over_since : now) : 0;
    mm->slack_since = slack ? (mm->slack_since ? mm->slack_since : now) : 0;
    uint64_t persist = cfg->window_ms / 2;
    if (mm->changed && now - mm->last_change < cfg->hold_ms)
        return 0;
    if (over) {
        if (now - mm->over_since < persist || idx == 0 || !s_allowed (mm, cfg->sizes[idx - 1], now))
            return 0;
        if (st->p90_ms > cfg->p90_target_ms)
            snprintf (out->reason, sizeof out->reason, "overload: p90 %.1f ms > target %.0f ms", st->p90_ms,
                      cfg->p90_target_ms);
        else
            snprintf (out->reason, sizeof out->reason, "overload: deadline misses %.0f%% > %.0f%%",
                      100 * st->miss_rate, 100 * cfg->miss_max);
        s_change (self, m, TUNE_DOWN, cfg->sizes[idx - 1], WHY_OVERLOAD, now, out);
        return 1;
    }
    if (!slack || now - mm->slack_since < persist || !s_allowed (mm, next, now))
        return 0;
    double ratio = (double) next / mm->size;
    if (mm->size < cfg->home) {
        snprintf (out->reason, sizeof out->reason,
                  "slack: p90 %.1f ms x %.2f <= 80%% of %.0f ms, towards home %d", st->p90_ms, ratio * ratio,
                  cfg->p90_target_ms, cfg->home);
        s_change (self, m, TUNE_UP, next, WHY_HOME, now, out);
        return 1;
    }
    if (s_low_accuracy (cfg, st)) {
        if (cfg->conf_low > 0 && st->conf >= 0 && st->conf < cfg->conf_low)
            snprintf (out->reason, sizeof out->reason,
                      "low confidence: mean %.3f < %.2f, p90 %.1f ms has room", st->conf, cfg->conf_low,
                      st->p90_ms);
        else
            snprintf (out->reason, sizeof out->reason, "escalations %.0f%% > %.0f%%, p90 %.1f ms has room",
                      100 * st->esc_rate, 100 * cfg->esc_max, st->p90_ms);
        s_change (self, m, TUNE_UP, next, WHY_ACCURACY, now, out);
        return 1;
    }
    return 0;
}

void
sched_tune_state (sched_tune_t *self, int m, uint64_t now, sched_tune_state_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    if (m < 0 || m >= TUNE_MODELS)
        return;
    s_model_t *mm = &self->models[m];
    out->size = mm->size;
    out->canary = mm->canary;
    out->canary_from = mm->canary_from;
    out->changes = mm->changes;
    out->reverts = mm->reverts;
    out->last_change_ms = mm->last_change;
    s_stats (self, m, now, &out->stats);
}

const char *
sched_tune_action_name (sched_tune_action_t a)
{
    switch (a) {
    case TUNE_DOWN: return "down";
    case TUNE_UP: return "up";
    case TUNE_REVERT: return "revert";
    case TUNE_KEPT: return "kept";
    }
    return "?";
}

//  --------------------------------------------------------------------------
//  Selftest: synthetic metric streams.  A job costs base x (size/416)^2 x
//  load ms; confidence is given per size.

typedef struct {
    sched_tune_t *t;
    uint64_t now;
    int changes[8];   //  by action
    int last_from, last_to;
    sched_tune_change_t last;
} s_run_t;

//  Feed `secs` seconds of 5 jobs/s at `load` and step every 100 ms.
static void
s_feed (s_run_t *r, int secs, double base, double load, double conf_at_320, double conf_per_32, bool verbose)
{
    for (int i = 0; i < secs * 10; i++) {
        r->now += 100;
        int size = sched_tune_size (r->t, TUNE_TINY_FACE);
        if (i % 2 == 0) {
            double ratio = size / 416.0;
            double ms = base * ratio * ratio * load * (1 + 0.05 * ((i / 2) % 3));
            double conf = conf_at_320 + conf_per_32 * (size - 320) / 32.0;
            sched_tune_sample (r->t, TUNE_TINY_FACE, size, ms, conf, true, r->now);
            sched_tune_outcome (r->t, TUNE_TINY_FACE, size, false, false, r->now);
        }
        sched_tune_change_t ch;
        if (sched_tune_step (r->t, TUNE_TINY_FACE, r->now, &ch) == 1) {
            r->changes[ch.action]++;
            r->last = ch;
            if (verbose)
                printf ("  t=%5.1f s %-6s %d -> %d: %s\n", r->now / 1000.0,
                        sched_tune_action_name (ch.action), ch.from, ch.to, ch.reason);
        }
    }
}

int
sched_tune_test (bool verbose)
{
    int rc = 0;
    sched_tune_cfg_t cfg;
    char err[128];
    sched_tune_cfg_defaults (&cfg);
    CHECK (sched_tune_parse_sizes ("608,320,416", &cfg, err, sizeof err) == 0 && cfg.n_sizes == 3
               && cfg.sizes[0] == 320 && cfg.sizes[2] == 608,
           "parse and sort");
    CHECK (sched_tune_parse_sizes ("320,330", &cfg, err, sizeof err) == -1, "330 accepted");
    CHECK (sched_tune_parse_sizes ("320,,416", &cfg, err, sizeof err) == -1, "empty item accepted");
    CHECK (sched_tune_parse_sizes ("320,320", &cfg, err, sizeof err) == -1, "duplicate accepted");
    CHECK (sched_tune_parse_sizes ("", &cfg, err, sizeof err) == -1, "no sizes accepted");
    CHECK (sched_tune_parse_sizes ("64,96,128,160,192,224,256,288,320", &cfg, err, sizeof err) == -1,
           "9 sizes accepted");
    CHECK (sched_tune_parse_sizes ("99999999999999999999", &cfg, err, sizeof err) == -1, "huge accepted");
    CHECK (sched_tune_parse_sizes ("320,416,608", &cfg, err, sizeof err) == 0, "parse");
    cfg.enable = true;
    cfg.hold_ms = 10000;
    cfg.canary_ms = 5000;
    cfg.window_ms = 5000;
    cfg.min_samples = 10;
    cfg.p90_target_ms = 100;
    cfg.conf_low = 0.5;
    sched_tune_cfg_t bad = cfg;
    bad.home = 400;
    CHECK (sched_tune_new (&bad) == NULL, "home not among the sizes accepted");
    bad = cfg;
    bad.min_samples = 0;
    CHECK (sched_tune_new (&bad) == NULL, "min_samples 0 accepted");

    //  1. Overload -> smaller input, kept (p90 improved); the pressure
    //  goes -> back home after the hold, kept.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        CHECK (r.t && sched_tune_size (r.t, TUNE_TINY_FACE) == 416, "starts at home");
        CHECK (sched_tune_size (r.t, 1) == 0, "ssd is not tuned");
        s_feed (&r, 20, 60, 1.0, 0.7, 0.02, verbose);   //  60 ms at 416: fine
        CHECK (r.changes[TUNE_DOWN] + r.changes[TUNE_UP] == 0, "changed without cause");
        s_feed (&r, 3, 60, 2.5, 0.7, 0.02, verbose);   //  150 ms: overloaded
        CHECK (r.changes[TUNE_DOWN] == 1 && r.last.to == 320 && strstr (r.last.reason, "overload: p90"),
               "overload did not step down: %s", r.last.reason);
        CHECK (r.last.now.p90_ms > 100 && r.last.now.size == 416, "the numbers that triggered it");
        s_feed (&r, 6, 60, 2.5, 0.7, 0.02, verbose);   //  the canary: ~89 ms at 320
        CHECK (r.changes[TUNE_KEPT] == 1 && r.last.base.p90_ms > r.last.now.p90_ms,
               "overload step not kept: %s", r.last.reason);
        s_feed (&r, 20, 60, 2.5, 0.7, 0.02, verbose);   //  still loaded: stays
        CHECK (sched_tune_size (r.t, TUNE_TINY_FACE) == 320, "left 320 under load");
        s_feed (&r, 20, 60, 1.0, 0.7, 0.02, verbose);   //  load gone: 35 ms at 320
        CHECK (r.changes[TUNE_UP] == 1 && sched_tune_size (r.t, TUNE_TINY_FACE) == 416
                   && strstr (r.last.reason, "no overload"),
               "did not return home: %d %s", sched_tune_size (r.t, TUNE_TINY_FACE), r.last.reason);
        //  At home with high confidence: it stays there.
        s_feed (&r, 60, 60, 1.0, 0.7, 0.02, verbose);
        CHECK (sched_tune_size (r.t, TUNE_TINY_FACE) == 416 && r.changes[TUNE_UP] == 1, "moved above home");
        sched_tune_state_t s;
        sched_tune_state (r.t, TUNE_TINY_FACE, r.now, &s);
        CHECK (s.changes == 2 && s.reverts == 0 && !s.canary && s.stats.samples >= 10, "state");
        sched_tune_destroy (&r.t);
        CHECK (r.t == NULL, "destroy nulls");
    }
    //  2. Slack + low confidence -> larger input; kept when confidence rose.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        s_feed (&r, 6, 30, 1.0, 0.35, 0.03, verbose);   //  30 ms, conf 0.44 at 416
        CHECK (r.changes[TUNE_UP] == 1 && sched_tune_size (r.t, TUNE_TINY_FACE) == 608
                   && strstr (r.last.reason, "low confidence"),
               "slack + low confidence did not step up: %s", r.last.reason);
        s_feed (&r, 6, 30, 1.0, 0.35, 0.03, verbose);
        CHECK (r.changes[TUNE_KEPT] == 1 && sched_tune_size (r.t, TUNE_TINY_FACE) == 608, "not kept");
        sched_tune_destroy (&r.t);
    }
    //  3. Low confidence without slack: no change.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        s_feed (&r, 60, 80, 1.0, 0.35, 0.03, verbose);   //  80 ms: 171 ms at 608 predicted
        CHECK (r.changes[TUNE_UP] + r.changes[TUNE_DOWN] == 0, "stepped without room");
        sched_tune_destroy (&r.t);
    }
    //  4. A change that did not help: a larger input whose confidence stays
    //  (the low confidence is the scene's, not the size's) -> reverted after
    //  the canary, and not tried again for 4 holds.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        s_feed (&r, 12, 30, 1.0, 0.40, 0.0, verbose);
        CHECK (r.changes[TUNE_UP] == 1, "no step up on low confidence");
        s_feed (&r, 6, 30, 1.0, 0.40, 0.0, verbose);
        CHECK (r.changes[TUNE_REVERT] == 1 && sched_tune_size (r.t, TUNE_TINY_FACE) == 416
                   && r.last.from == 608 && r.last.to == 416 && strstr (r.last.reason, "no improvement"),
               "not reverted: %s", r.last.reason);
        s_feed (&r, 25, 30, 1.0, 0.40, 0.0, verbose);
        CHECK (r.changes[TUNE_UP] == 1, "tried the barred size again within 4 holds");
        s_feed (&r, 20, 30, 1.0, 0.40, 0.0, verbose);
        CHECK (r.changes[TUNE_UP] == 2, "never tried again after the bar");
        sched_tune_destroy (&r.t);
    }
    //  5. An overload a smaller input does not relieve (the box is starved
    //  whatever the size: every job costs the same) -> reverted.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        s_feed (&r, 12, 60, 1.0, 0.7, 0.0, verbose);
        for (int i = 0; i < 80; i++) {
            r.now += 100;
            int size = sched_tune_size (r.t, TUNE_TINY_FACE);
            if (i % 2 == 0)
                sched_tune_sample (r.t, TUNE_TINY_FACE, size, 200, 0.7, true, r.now);
            sched_tune_change_t ch;
            if (sched_tune_step (r.t, TUNE_TINY_FACE, r.now, &ch) == 1) {
                r.changes[ch.action]++;
                r.last = ch;
            }
        }
        CHECK (r.changes[TUNE_DOWN] == 1 && r.changes[TUNE_REVERT] == 1 && sched_tune_size (r.t, 0) == 416,
               "an unhelpful step down not reverted: %s", r.last.reason);
        sched_tune_destroy (&r.t);
    }
    //  6. Flapping: the load alternates every 2 s between just above and
    //  just below the target.  One step down, then no oscillation: the dead
    //  band holds it at 320 (slack would need p90 x 1.69 <= 80 ms).
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        for (int k = 0; k < 150; k++)
            s_feed (&r, 2, 60, k % 2 ? 1.75 : 1.45, 0.7, 0.02, false);
        sched_tune_state_t s;
        sched_tune_state (r.t, TUNE_TINY_FACE, r.now, &s);
        CHECK (s.changes <= 1 && s.reverts == 0, "flapping: %llu changes, %llu reverts in 5 min",
               (unsigned long long) s.changes, (unsigned long long) s.reverts);
        if (verbose)
            printf ("  flapping load, 5 min: %llu change(s), size %d\n", (unsigned long long) s.changes,
                    s.size);
        sched_tune_destroy (&r.t);
    }
    //  7. Deadline misses alone (p90 fine) are an overload; samples from
    //  before the change never judge the new size.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        sched_tune_change_t ch;
        int got = 0;
        for (int i = 0; i < 60 && !got; i++) {
            r.now += 100;
            sched_tune_sample (r.t, 0, 416, 50, 0.7, true, r.now);
            sched_tune_outcome (r.t, 0, 416, i % 3 == 0, false, r.now);
            got = sched_tune_step (r.t, 0, r.now, &ch);
        }
        CHECK (got == 1 && ch.action == TUNE_DOWN && strstr (ch.reason, "deadline misses"),
               "misses did not step down: %s", ch.reason);
        //  The old detector still answers at 416 during the swap: ignored.
        sched_tune_sample (r.t, 0, 416, 500, 0.7, true, r.now + 1);
        sched_tune_state_t s;
        sched_tune_state (r.t, 0, r.now + 2, &s);
        CHECK (s.stats.samples == 0 && s.stats.size == 320, "a sample of the old size counted");
        //  Garbage input is ignored, bounded.
        for (int i = 0; i < 100000; i++)
            sched_tune_sample (r.t, i % 5 - 1, i % 7 == 0 ? -5 : 320, i % 11 == 0 ? NAN : 1e9, 7, true,
                               r.now);
        sched_tune_state (r.t, 0, r.now + 2, &s);
        CHECK (s.stats.samples <= TUNE_WINDOW, "window bound");
        sched_tune_destroy (&r.t);
    }
    //  8. Two slow jobs among normal ones (a page-fault storm, one huge
    //  frame): no overload.
    {
        s_run_t r = {sched_tune_new (&cfg), 0, {0}, 0, 0, {0}};
        s_feed (&r, 10, 60, 1.0, 0.7, 0.02, false);
        for (int i = 0; i < 2; i++)
            sched_tune_sample (r.t, 0, 416, 900, 0.7, true, r.now);
        s_feed (&r, 10, 60, 1.0, 0.7, 0.02, false);
        CHECK (r.changes[TUNE_DOWN] == 0, "two slow jobs stepped down");
        sched_tune_destroy (&r.t);
    }
    //  9. Disabled: never changes.
    {
        sched_tune_cfg_t off = cfg;
        off.enable = false;
        s_run_t r = {sched_tune_new (&off), 0, {0}, 0, 0, {0}};
        s_feed (&r, 30, 60, 3.0, 0.7, 0.0, false);
        CHECK (r.changes[TUNE_DOWN] == 0 && sched_tune_size (r.t, 0) == 416, "disabled but changed");
        sched_tune_destroy (&r.t);
    }
    return rc;
}
