/*  =========================================================================
    sched_forecast - Holt forecasts with an adaptive upper bound (see
    forecast.h).

    Bookkeeping in one picture, per horizon h:

        update(t, x) --> bank of Holt models --> forecast for t + h
                                                    |
                                  pending ring <----+  (one entry per sample:
                                       |                target time, every
        update(t', x') with t' >= target                model's prediction,
                                       |                the bound we issued)
                                       v
                  residual x' - pred, per model --> residual window (bound,
                                                    spread) + running error
                                                    (which model answers)

    Residuals are therefore true h-step-ahead errors, measured the way the
    scheduler will suffer them.  Everything is sized at creation; update()
    allocates nothing, so the agent can run it every second forever.
    ========================================================================= */
#include "scheduler/forecast.h"
#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The bank.  Kept small: each member costs a prediction per pending entry.
//  alpha (level), beta (trend), phi (trend damping: far horizons must not
//  extrapolate a short burst's slope for 30 s).
typedef struct {
    double alpha, beta, phi;
} holt_params_t;

static const holt_params_t s_bank[] = {
    {0.50, 0.30, 0.90},   //  fast: follows bursts and ramps
    {0.30, 0.10, 0.95},   //  medium
    {0.15, 0.05, 0.98},   //  slow drift (long ramps)
    {0.15, 0.00, 0.00},   //  smooth level (noise around a plateau)
    {1.00, 0.00, 0.00},   //  last value (naive)
};
#define K             (sizeof s_bank / sizeof s_bank[0])
#define DEFAULT_MODEL 1
#define ERR_DECAY     0.95   //  running error: ~20 recent evaluations matter
#define ACI_GAMMA     0.02   //  step of the adaptive quantile level

typedef struct {
    uint64_t target_ms;
    double pred[K];
    double upper;   //  the bound we issued (NAN: not ready then)
} pending_t;

typedef struct {
    uint32_t horizon_ms;
    pending_t *ring;
    size_t cap, head, n;
    double *resid;   //  [K][window], circular per model
    size_t resid_pos, resid_n;
    double err[K];   //  running mean absolute error per model
    uint64_t evals;
    double miss_alpha;   //  adaptive miss level (1 - quantile level)
} horizon_t;

typedef struct {
    double level, trend;
} holt_state_t;

struct _sched_forecast_t {
    sched_forecast_cfg_t cfg;
    holt_state_t st[K];
    uint64_t n, last_t;
    double last_x;
    double step_ms;   //  running mean sampling interval
    horizon_t hz[SCHED_FORECAST_MAX_H];
    double *scratch;   //  window-sized, for quantiles
};

void
sched_forecast_cfg_defaults (sched_forecast_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->interval_ms = 1000;
    cfg->horizon_ms[0] = 5000;
    cfg->horizon_ms[1] = 30000;
    cfg->n_horizons = 2;
    cfg->window = 60;
    cfg->coverage = 0.95;
}

sched_forecast_t *
sched_forecast_new (const sched_forecast_cfg_t *cfg)
{
    assert (cfg);
    if (cfg->n_horizons == 0 || cfg->n_horizons > SCHED_FORECAST_MAX_H || cfg->interval_ms == 0
        || cfg->window < 4 || cfg->window > 100000 || !(cfg->coverage > 0.5 && cfg->coverage < 1.0))
        return NULL;
    for (size_t h = 0; h < cfg->n_horizons; h++)
        if (cfg->horizon_ms[h] == 0)
            return NULL;
    sched_forecast_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->step_ms = cfg->interval_ms;
    self->scratch = calloc (cfg->window, sizeof (double));
    if (!self->scratch)
        goto fail;
    for (size_t h = 0; h < cfg->n_horizons; h++) {
        horizon_t *hz = &self->hz[h];
        hz->horizon_ms = cfg->horizon_ms[h];
        //  One entry per sample in flight, with slack for jittery sampling.
        size_t cap = 2 * (size_t) (cfg->horizon_ms[h] / cfg->interval_ms) + 8;
        hz->cap = cap > 4096 ? 4096 : cap;
        hz->ring = calloc (hz->cap, sizeof *hz->ring);
        hz->resid = calloc ((size_t) K * cfg->window, sizeof (double));
        if (!hz->ring || !hz->resid)
            goto fail;
        hz->miss_alpha = 1.0 - cfg->coverage;
    }
    return self;
fail:
    sched_forecast_destroy (&self);
    return NULL;
}

void
sched_forecast_destroy (sched_forecast_t **self_p)
{
    assert (self_p);
    sched_forecast_t *self = *self_p;
    if (!self)
        return;
    for (size_t h = 0; h < SCHED_FORECAST_MAX_H; h++) {
        free (self->hz[h].ring);
        free (self->hz[h].resid);
    }
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

static double
s_clamp (const sched_forecast_t *self, double v)
{
    if (self->cfg.lo < self->cfg.hi) {
        if (v < self->cfg.lo)
            return self->cfg.lo;
        if (v > self->cfg.hi)
            return self->cfg.hi;
    }
    return v;
}

//  Model k's forecast `steps` samples ahead (damped trend: the sum
//  phi + phi^2 + ... + phi^steps, which stays bounded for phi < 1).
static double
s_predict (const sched_forecast_t *self, size_t k, double steps)
{
    const holt_params_t *p = &s_bank[k];
    double damp = 0;
    if (p->beta > 0) {
        if (p->phi >= 1.0)
            damp = steps;
        else
            damp = p->phi * (1.0 - pow (p->phi, steps)) / (1.0 - p->phi);
    }
    return self->st[k].level + damp * self->st[k].trend;
}

static size_t
s_best (const horizon_t *hz)
{
    if (hz->evals == 0)
        return DEFAULT_MODEL;
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (hz->err[k] < hz->err[best])
            best = k;
    return best;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y ? 1 : 0;
}

//  Quantile at level q of model k's residuals (linear interpolation).
static double
s_resid_quantile (sched_forecast_t *self, const horizon_t *hz, size_t k, double q)
{
    size_t n = hz->resid_n;
    memcpy (self->scratch, hz->resid + k * self->cfg.window, n * sizeof (double));
    qsort (self->scratch, n, sizeof (double), s_cmp_double);
    if (q <= 0)
        return self->scratch[0];
    if (q >= 1)
        return self->scratch[n - 1];
    double pos = q * (double) (n - 1);
    size_t i = (size_t) pos;
    double frac = pos - (double) i;
    return i + 1 < n ? self->scratch[i] * (1 - frac) + self->scratch[i + 1] * frac : self->scratch[i];
}

static double
s_resid_mae (const sched_forecast_t *self, const horizon_t *hz, size_t k)
{
    if (hz->resid_n == 0)
        return 0;
    double sum = 0;
    const double *r = hz->resid + k * self->cfg.window;
    for (size_t i = 0; i < hz->resid_n; i++)
        sum += fabs (r[i]);
    return sum / (double) hz->resid_n;
}

static size_t
s_min_resid (const sched_forecast_t *self)
{
    return self->cfg.window < 10 ? self->cfg.window : 10;
}

int
sched_forecast_get (sched_forecast_t *self, size_t h, sched_forecast_out_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    if (h >= self->cfg.n_horizons || self->n == 0)
        return -1;
    horizon_t *hz = &self->hz[h];
    size_t k = s_best (hz);
    double steps = (double) hz->horizon_ms / (self->step_ms > 1 ? self->step_ms : 1);
    out->horizon_ms = hz->horizon_ms;
    out->value = s_predict (self, k, steps);
    out->spread = s_resid_mae (self, hz, k);
    out->ready = hz->resid_n >= s_min_resid (self);
    if (out->ready) {
        //  Quantile level 1 - miss_alpha; past 1 (many misses in a row)
        //  the bound widens beyond the largest residual seen.
        double q = 1.0 - hz->miss_alpha;
        double off = s_resid_quantile (self, hz, k, q);
        if (q > 1.0)
            off += (q - 1.0) * 20.0 * (out->spread > 0 ? out->spread : 1.0);
        out->upper = out->value + (off > 0 ? off : 0);
    }
    else
        //  No residuals yet: a bound we cannot back is no bound at all.
        out->upper = self->cfg.lo < self->cfg.hi ? self->cfg.hi : INFINITY;
    out->value = s_clamp (self, out->value);
    out->upper = s_clamp (self, out->upper);
    if (out->upper < out->value)
        out->upper = out->value;
    return 0;
}

//  A sample arrived: score every pending forecast whose target time it
//  reaches (within half a step).
static void
s_evaluate (sched_forecast_t *self, horizon_t *hz, uint64_t t, double x)
{
    size_t w = self->cfg.window;
    uint64_t slack = (uint64_t) (self->step_ms / 2);
    while (hz->n > 0 && hz->ring[hz->head].target_ms <= t + slack) {
        const pending_t *p = &hz->ring[hz->head];
        for (size_t k = 0; k < K; k++) {
            double r = x - p->pred[k];
            hz->resid[k * w + hz->resid_pos] = r;
            hz->err[k] = hz->evals ? ERR_DECAY * hz->err[k] + (1 - ERR_DECAY) * fabs (r) : fabs (r);
        }
        hz->resid_pos = (hz->resid_pos + 1) % w;
        if (hz->resid_n < w)
            hz->resid_n++;
        hz->evals++;
        if (!isnan (p->upper)) {
            double miss = x > p->upper ? 1.0 : 0.0;
            hz->miss_alpha += ACI_GAMMA * ((1.0 - self->cfg.coverage) - miss);
            if (hz->miss_alpha < -0.5)
                hz->miss_alpha = -0.5;   //  bounded: a long bad run must not
            if (hz->miss_alpha > 0.5)    //  leave the bound wide for ever
                hz->miss_alpha = 0.5;
        }
        hz->head = (hz->head + 1) % hz->cap;
        hz->n--;
    }
}

int
sched_forecast_update (sched_forecast_t *self, uint64_t t, double x)
{
    assert (self);
    if (!isfinite (x) || (self->n > 0 && t <= self->last_t))
        return -1;
    if (self->n == 0) {
        for (size_t k = 0; k < K; k++) {
            self->st[k].level = x;
            self->st[k].trend = 0;
        }
    }
    else {
        //  Running mean of the sampling interval: horizons are in time, the
        //  models step per sample.
        double dt = (double) (t - self->last_t);
        self->step_ms = 0.9 * self->step_ms + 0.1 * dt;
        for (size_t k = 0; k < K; k++) {
            const holt_params_t *p = &s_bank[k];
            holt_state_t *s = &self->st[k];
            double prev = s->level;
            s->level = p->alpha * x + (1 - p->alpha) * (s->level + p->phi * s->trend);
            s->trend = p->beta * (s->level - prev) + (1 - p->beta) * p->phi * s->trend;
        }
    }
    for (size_t h = 0; h < self->cfg.n_horizons; h++)
        s_evaluate (self, &self->hz[h], t, x);
    self->n++;
    self->last_t = t;
    self->last_x = x;

    //  Issue this sample's forecasts and remember them for scoring.
    for (size_t h = 0; h < self->cfg.n_horizons; h++) {
        horizon_t *hz = &self->hz[h];
        sched_forecast_out_t out;
        sched_forecast_get (self, h, &out);
        if (hz->n == hz->cap) {   //  sampling far faster than configured
            hz->head = (hz->head + 1) % hz->cap;
            hz->n--;
        }
        pending_t *p = &hz->ring[(hz->head + hz->n) % hz->cap];
        p->target_ms = t + hz->horizon_ms;
        double steps = (double) hz->horizon_ms / (self->step_ms > 1 ? self->step_ms : 1);
        for (size_t k = 0; k < K; k++)
            p->pred[k] = s_clamp (self, s_predict (self, k, steps));
        p->upper = out.ready ? out.upper : NAN;
        hz->n++;
    }
    return 0;
}

double
sched_forecast_last (sched_forecast_t *self)
{
    assert (self);
    return self->last_x;
}

uint64_t
sched_forecast_count (sched_forecast_t *self)
{
    assert (self);
    return self->n;
}

int
sched_forecast_parse_horizons (const char *text, sched_forecast_cfg_t *cfg)
{
    assert (text);
    assert (cfg);
    size_t n = 0;
    uint32_t hs[SCHED_FORECAST_MAX_H];
    const char *p = text;
    while (*p) {
        char *end = NULL;
        long v = strtol (p, &end, 10);
        if (end == p || v < 1 || v > 3600 || n == SCHED_FORECAST_MAX_H)
            return -1;
        hs[n++] = (uint32_t) v * 1000;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    if (n == 0)
        return -1;
    memcpy (cfg->horizon_ms, hs, n * sizeof hs[0]);
    cfg->n_horizons = n;
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: synthetic series with a fixed seed.  Holt must beat the last
//  value on a noisy ramp and on a periodic load, and the bound must cover
//  at least 90 % of the samples it was issued for.

static uint64_t
s_rng (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double
s_gauss (uint64_t *s)
{
    double u1 = ((double) (s_rng (s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double) (s_rng (s) >> 11) / 9007199254740992.0;
    return sqrt (-2.0 * log (u1)) * cos (2 * M_PI * u2);
}

typedef struct {
    double mae, mae_naive, coverage;
    size_t n;
} s_score_t;

//  Run a series of n 1 Hz samples through a forecaster at horizon index h
//  and score it against the naive forecast on the same samples.
static int
s_score (const double *x, size_t n, size_t h, s_score_t *out)
{
    sched_forecast_cfg_t cfg;
    sched_forecast_cfg_defaults (&cfg);
    cfg.lo = 0;
    cfg.hi = 100;
    sched_forecast_t *f = sched_forecast_new (&cfg);
    if (!f)
        return -1;
    size_t steps = cfg.horizon_ms[h] / 1000;
    double *fc = calloc (n, sizeof *fc), *ub = calloc (n, sizeof *ub);
    bool *ok = calloc (n, sizeof *ok);
    if (!fc || !ub || !ok) {
        free (fc), free (ub), free (ok);
        sched_forecast_destroy (&f);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        sched_forecast_update (f, 1000 + i * 1000, x[i]);
        sched_forecast_out_t o;
        sched_forecast_get (f, h, &o);
        fc[i] = o.value;
        ub[i] = o.upper;
        ok[i] = o.ready;
    }
    memset (out, 0, sizeof *out);
    size_t covered = 0;
    for (size_t i = 0; i + steps < n; i++) {
        if (!ok[i])
            continue;
        double a = x[i + steps];
        out->mae += fabs (a - fc[i]);
        out->mae_naive += fabs (a - x[i]);
        covered += a <= ub[i];
        out->n++;
    }
    if (out->n) {
        out->mae /= (double) out->n;
        out->mae_naive /= (double) out->n;
        out->coverage = (double) covered / (double) out->n;
    }
    free (fc), free (ub), free (ok);
    sched_forecast_destroy (&f);
    return 0;
}

int
sched_forecast_test (bool verbose)
{
    int rc = 0;

    sched_forecast_cfg_t cfg;
    sched_forecast_cfg_defaults (&cfg);
    CHECK (sched_forecast_parse_horizons ("5,30", &cfg) == 0 && cfg.n_horizons == 2
               && cfg.horizon_ms[1] == 30000,
           "parse 5,30");
    CHECK (sched_forecast_parse_horizons ("10", &cfg) == 0 && cfg.n_horizons == 1, "parse 10");
    CHECK (sched_forecast_parse_horizons ("", &cfg) == -1, "parse empty");
    CHECK (sched_forecast_parse_horizons ("5,x", &cfg) == -1, "parse junk");
    CHECK (sched_forecast_parse_horizons ("0", &cfg) == -1, "parse zero");
    CHECK (sched_forecast_parse_horizons ("1,2,3,4,5", &cfg) == -1, "parse too many");
    sched_forecast_cfg_defaults (&cfg);
    cfg.n_horizons = 0;
    CHECK (sched_forecast_new (&cfg) == NULL, "no horizon accepted");

    //  Constant input: forecast is the constant, bound hugs it.
    sched_forecast_cfg_defaults (&cfg);
    sched_forecast_t *f = sched_forecast_new (&cfg);
    CHECK (f, "new");
    if (!f)
        return -1;
    sched_forecast_out_t o;
    CHECK (sched_forecast_get (f, 0, &o) == -1, "get before any sample");
    for (int i = 0; i < 100; i++)
        sched_forecast_update (f, 1000 + (uint64_t) i * 1000, 42.0);
    CHECK (sched_forecast_update (f, 1000, 1.0) == -1, "old sample accepted");
    CHECK (sched_forecast_update (f, 200000, NAN) == -1, "NaN accepted");
    CHECK (sched_forecast_get (f, 1, &o) == 0 && o.ready, "get");
    CHECK (fabs (o.value - 42.0) < 1e-6 && fabs (o.upper - 42.0) < 1e-6 && o.spread < 1e-6,
           "constant: %f %f %f", o.value, o.upper, o.spread);
    CHECK (sched_forecast_get (f, 2, &o) == -1, "horizon out of range");
    sched_forecast_destroy (&f);
    CHECK (f == NULL, "destroy nulls");

    //  Synthetic traces, fixed seed.
    enum { N = 600 };
    double *x = calloc (N, sizeof *x);
    if (!x)
        return -1;
    const char *names[] = {"ramp", "periodic", "step"};
    for (int t = 0; t < 3; t++) {
        uint64_t seed = 0x5eed0001 + (uint64_t) t;
        for (size_t i = 0; i < N; i++) {
            double v;
            if (t == 0)   //  idle to busy: 5 % -> 95 % over 10 minutes
                v = 5 + 90.0 * (double) i / N + 3 * s_gauss (&seed);
            else if (t == 1)   //  120 s period, amplitude 30
                v = 50 + 30 * sin (2 * M_PI * (double) i / 120.0) + 3 * s_gauss (&seed);
            else   //  steps between 20 % and 70 % every 90 s
                v = ((i / 90) % 2 ? 70 : 20) + 3 * s_gauss (&seed);
            x[i] = v < 0 ? 0 : v > 100 ? 100 : v;
        }
        for (size_t h = 0; h < 2; h++) {
            s_score_t s = {0};
            CHECK (s_score (x, N, h, &s) == 0, "score");
            if (verbose)
                printf ("  %-8s h=%2us: MAE holt %.2f naive %.2f, coverage %.1f %% (n=%zu)\n", names[t],
                        h ? 30 : 5, s.mae, s.mae_naive, 100 * s.coverage, s.n);
            if (t < 2 && h == 0)
                CHECK (s.mae < s.mae_naive, "%s: holt MAE %.2f >= naive %.2f", names[t], s.mae, s.mae_naive);
            CHECK (s.coverage >= 0.90, "%s h=%zu: coverage %.3f < 0.90", names[t], h, s.coverage);
        }
    }
    free (x);
    return rc;
}
