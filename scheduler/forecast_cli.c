/*  =========================================================================
    meshwatch forecast - evaluate the forecaster on a recorded trace.

        meshwatch forecast --trace FILE.csv [--horizon S] [--json]

    FILE.csv holds `timestamp,value` lines (timestamp in seconds, may be
    fractional; a header line and `#` comments are skipped).  Every sample
    is fed to the forecaster exactly as the agent feeds it; the forecast
    made at t for t + S is scored against the first sample at or after
    t + S (within half a step).  Printed side by side with the naive
    forecast (the last value): MAE, MAPE (over samples whose actual value
    is not 0), and the share of samples above the upper bound.  Samples
    before the bound is ready (the first residual window) are not scored,
    for either model, so both are judged on the same samples.
    ========================================================================= */
#include "scheduler/forecast.h"
#include "common/cliopt.h"
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mw_forecast_cli_main (int argc, char **argv);

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: meshwatch forecast --trace FILE.csv [--horizon SECONDS] [--json]\n"
                "  evaluates the Holt forecaster on a timestamp,value trace against the\n"
                "  last-value forecast: MAE, MAPE and the share of samples above the bound\n");
}

//  Read the trace.  0/-1 (message printed).
static int
s_load (const char *path, double **t_out, double **x_out, size_t *n_out)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "meshwatch forecast: %s: %s\n", path, strerror (errno));
        return -1;
    }
    size_t cap = 1024, n = 0;
    double *t = malloc (cap * sizeof *t), *x = malloc (cap * sizeof *x);
    char line[256];
    size_t lineno = 0;
    while (t && x && fgets (line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p)
            continue;
        char *end = NULL;
        double ts = strtod (p, &end);
        if (end == p || *end != ',') {
            if (n == 0 && lineno == 1)
                continue;   //  header
            fprintf (stderr, "meshwatch forecast: %s:%zu: expected timestamp,value\n", path, lineno);
            goto fail;
        }
        char *v = end + 1, *vend = NULL;
        double val = strtod (v, &vend);
        if (vend == v || !isfinite (val) || !isfinite (ts)) {
            fprintf (stderr, "meshwatch forecast: %s:%zu: bad value\n", path, lineno);
            goto fail;
        }
        if (n > 0 && ts <= t[n - 1]) {
            fprintf (stderr, "meshwatch forecast: %s:%zu: timestamps must increase\n", path, lineno);
            goto fail;
        }
        if (n == cap) {
            cap *= 2;
            double *t2 = realloc (t, cap * sizeof *t);
            if (t2)
                t = t2;
            double *x2 = t2 ? realloc (x, cap * sizeof *x) : NULL;
            if (!t2 || !x2) {
                fprintf (stderr, "meshwatch forecast: out of memory\n");
                goto fail;
            }
            x = x2;
        }
        t[n] = ts;
        x[n] = val;
        n++;
    }
    fclose (f);
    if (!t || !x || n < 3) {
        fprintf (stderr, "meshwatch forecast: %s: fewer than 3 samples\n", path);
        free (t), free (x);
        return -1;
    }
    *t_out = t, *x_out = x, *n_out = n;
    return 0;
fail:
    fclose (f);
    free (t), free (x);
    return -1;
}

typedef struct {
    double mae, mape, above;
    size_t n, n_mape;
} s_stats_t;

int
mw_forecast_cli_main (int argc, char **argv)
{
    const char *trace = NULL;
    long horizon = 5;
    bool json = false;
    //  Same rules as every meshwatch subcommand (common/cliopt.h).
    if (mw_cliopt_wants_help (argc, argv)) {
        s_usage (stdout);
        return 0;
    }
    enum { O_TRACE = 256, O_HORIZON, O_JSON };
    static const struct option opts[] = {{"trace", required_argument, NULL, O_TRACE},
                                         {"horizon", required_argument, NULL, O_HORIZON},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mw_cliopt_t *p = mw_cliopt_new ("forecast", argc, argv, opts);
    if (!p)
        return 1;
    int c;
    int64_t h = horizon;
    while ((c = mw_cliopt_next (p)) >= 0) {
        if (c == O_TRACE)
            trace = mw_cliopt_arg (p);
        else if (c == O_JSON)
            json = true;
        else if (c == O_HORIZON && mw_cliopt_int (p, 1, 3600, &h) != 0) {
            c = MW_CLIOPT_ERROR;
            break;
        }
    }
    horizon = (long) h;
    int bad = c == MW_CLIOPT_ERROR || mw_cliopt_no_rest (p) != 0;
    mw_cliopt_destroy (&p);
    if (bad)
        return 2;
    if (!trace)
        return mw_cliopt_fail ("forecast", "--trace FILE.csv is required");
    double *t = NULL, *x = NULL;
    size_t n = 0;
    if (s_load (trace, &t, &x, &n) != 0)
        return 1;
    double step = (t[n - 1] - t[0]) / (double) (n - 1);
    sched_forecast_cfg_t cfg;
    sched_forecast_cfg_defaults (&cfg);
    cfg.interval_ms = step * 1000 >= 1 ? (uint32_t) (step * 1000) : 1;
    cfg.horizon_ms[0] = (uint32_t) horizon * 1000;
    cfg.n_horizons = 1;
    sched_forecast_t *f = sched_forecast_new (&cfg);
    double *fc = calloc (n, sizeof *fc), *ub = calloc (n, sizeof *ub);
    bool *ready = calloc (n, sizeof *ready);
    if (!f || !fc || !ub || !ready) {
        fprintf (stderr, "meshwatch forecast: out of memory\n");
        sched_forecast_destroy (&f);
        free (t), free (x), free (fc), free (ub), free (ready);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        sched_forecast_update (f, (uint64_t) llround ((t[i] - t[0]) * 1000.0) + 1, x[i]);
        sched_forecast_out_t o;
        sched_forecast_get (f, 0, &o);
        fc[i] = o.value, ub[i] = o.upper, ready[i] = o.ready;
    }
    s_stats_t holt = {0}, naive = {0};
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        double target = t[i] + (double) horizon;
        if (j < i)
            j = i;
        while (j < n && t[j] < target - step / 2)
            j++;
        if (j >= n)
            break;
        if (!ready[i])
            continue;
        double a = x[j];
        holt.mae += fabs (a - fc[i]);
        naive.mae += fabs (a - x[i]);
        holt.above += a > ub[i];
        if (fabs (a) > 1e-9) {
            holt.mape += fabs (a - fc[i]) / fabs (a);
            naive.mape += fabs (a - x[i]) / fabs (a);
            holt.n_mape++;
        }
        holt.n++;
    }
    naive.n = holt.n, naive.n_mape = holt.n_mape;
    int rc = 0;
    if (holt.n == 0) {
        fprintf (stderr, "meshwatch forecast: %s: trace too short for a %ld s horizon\n", trace, horizon);
        rc = 1;
    }
    else {
        double dn = (double) holt.n, dm = holt.n_mape ? (double) holt.n_mape : 1;
        double gain = naive.mae > 0 ? 100.0 * (1.0 - holt.mae / naive.mae) : 0;
        if (json) {
            //  The trace's path is the user's: any character, escaped by json-c.
            json_object *o = json_object_new_object ();
            json_object *h = json_object_new_object ();
            json_object *nv = json_object_new_object ();
            if (!o || !h || !nv) {
                json_object_put (o);
                json_object_put (h);
                json_object_put (nv);
                fprintf (stderr, "meshwatch forecast: out of memory\n");
                return 1;
            }
            mw_json_add (o, "trace", mw_json_str (trace));
            mw_json_add (o, "samples", mw_json_u64 (n));
            mw_json_add (o, "step_s", mw_json_num (step, 3));
            mw_json_add (o, "horizon_s", mw_json_i64 (horizon));
            mw_json_add (o, "scored", mw_json_u64 (holt.n));
            mw_json_add (h, "mae", mw_json_num (holt.mae / dn, 4));
            mw_json_add (h, "mape", mw_json_num (100 * holt.mape / dm, 2));
            mw_json_add (h, "above_bound", mw_json_num (holt.above / dn, 4));
            mw_json_add (o, "holt", h);
            mw_json_add (nv, "mae", mw_json_num (naive.mae / dn, 4));
            mw_json_add (nv, "mape", mw_json_num (100 * naive.mape / dm, 2));
            mw_json_add (o, "naive", nv);
            mw_json_add (o, "mae_gain_pct", mw_json_num (gain, 1));
            printf ("%s\n", mw_json_text (o, false));
            json_object_put (o);
        }
        else {
            printf ("trace %s: %zu samples, step %.2f s, horizon %ld s, %zu scored\n", trace, n, step,
                    horizon, holt.n);
            printf ("%-8s %10s %10s %14s\n", "model", "MAE", "MAPE %", "above bound %");
            printf ("%-8s %10.3f %10.2f %14.1f\n", "holt", holt.mae / dn, 100 * holt.mape / dm,
                    100 * holt.above / dn);
            printf ("%-8s %10.3f %10.2f %14s\n", "naive", naive.mae / dn, 100 * naive.mape / dm, "-");
            printf ("holt MAE is %.1f %% %s than naive\n", fabs (gain), gain >= 0 ? "lower" : "higher");
        }
    }
    sched_forecast_destroy (&f);
    free (t), free (x), free (fc), free (ub), free (ready);
    return rc;
}
