/*  =========================================================================
    sched_forecast - short-horizon forecasts of one resource series, as pure
    code.

    Hand-off decisions must be made on where load is going, not where it
    was.  This module turns a series of (time, value) samples - CPU %,
    memory %, GPU %, queue length - into, for each configured horizon
    (5 s and 30 s by default):

      * a point forecast: Holt's double exponential smoothing (level +
        damped trend).  One fixed pair of smoothing constants is always
        wrong for some load (a compile is noise around a plateau, a ramp is
        all trend), so a small bank of Holt models runs side by side and,
        per horizon, the one with the lowest recent error answers.  The bank
        includes the degenerate members "last value" (alpha 1) and "smooth
        level" (beta 0), so the forecaster is never much worse than naive;
      * an upper prediction bound: the forecast plus a quantile of the
        recent residuals *at that horizon* (not one-step residuals: errors
        grow with the horizon).  The quantile level adapts to the realised
        coverage (adaptive conformal inference, Gibbs & Candès 2021), so
        the bound keeps covering ~`coverage` of samples even when the
        residuals are not stationary;
      * a trust figure: the mean absolute residual at that horizon, in the
        series' own units.  A noisy peer has a large spread; the scheduler
        can then be cautious with it.

    No I/O, no clocks: the caller passes the sample time, so the daemon,
    the simulator, the `meshwatch forecast` evaluator and the tests all run
    the same code.  Memory is bounded at creation.
    ========================================================================= */
#ifndef SCHED_FORECAST_H_INCLUDED
#define SCHED_FORECAST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_FORECAST_MAX_H 4   //  horizons per forecaster

typedef struct _sched_forecast_t sched_forecast_t;

typedef struct {
    uint32_t interval_ms;                        //  nominal sampling period (sizes the buffers)
    uint32_t horizon_ms[SCHED_FORECAST_MAX_H];   //  forecast horizons
    size_t n_horizons;
    uint32_t window;   //  residuals kept per horizon (bound and spread)
    double coverage;   //  target share of samples at or under the upper bound
    double lo, hi;     //  clamp forecasts and bounds to [lo, hi]; lo >= hi = no clamp
} sched_forecast_cfg_t;

//  1 s sampling, horizons 5 s and 30 s, 60 residuals, 95 % coverage, no clamp.
void sched_forecast_cfg_defaults (sched_forecast_cfg_t *cfg);

//  NULL on bad configuration (no horizon, horizon 0, interval 0) or out of memory.
sched_forecast_t *sched_forecast_new (const sched_forecast_cfg_t *cfg);
void sched_forecast_destroy (sched_forecast_t **self_p);

//  Feed one sample.  Samples must come in time order; a sample not newer
//  than the previous one is ignored (returns -1), as is a non-finite value.
int sched_forecast_update (sched_forecast_t *self, uint64_t t_ms, double value);

typedef struct {
    double value;    //  point forecast at now + horizon
    double upper;    //  upper prediction bound
    double spread;   //  mean absolute residual at this horizon (trust: lower is better)
    uint32_t horizon_ms;
    bool ready;   //  enough residuals seen for the bound to mean something
} sched_forecast_out_t;

//  Forecast for horizon index `h` (0-based, in cfg order).  0, or -1 when
//  no sample has been seen yet or `h` is out of range.
int sched_forecast_get (sched_forecast_t *self, size_t h, sched_forecast_out_t *out);
//  Last sample value (0 before any).
double sched_forecast_last (sched_forecast_t *self);
//  Samples seen.
uint64_t sched_forecast_count (sched_forecast_t *self);

//  Parse "5,30" (seconds) into cfg->horizon_ms.  0/-1 (empty, > MAX_H
//  items, a value outside 1..3600).
int sched_forecast_parse_horizons (const char *text, sched_forecast_cfg_t *cfg);

int sched_forecast_test (bool verbose);

#endif
