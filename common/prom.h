/*  =========================================================================
    mw_prom - one writer for the Prometheus text exposition format (0.0.4).

    Every /metrics producer (resources and forecasts, membership and
    transport counters, jobs, the analysis server) writes through this, so
    the rules live in one place:

      * `# HELP` text escapes `\` and newlines; `# TYPE` is one of the
        format's types;
      * label values escape `\`, `"` and newlines, and invalid UTF-8
        becomes U+FFFD: a peer name from the wire can hold anything and
        must never break a scrape;
      * metric and label names are checked against the format's grammar
        (they are literals in our code: a bad one is a bug, asserted);
      * values: integers exactly, doubles with the caller's precision,
        non-finite doubles as +Inf / -Inf / NaN.

    Labels are passed as NULL-terminated name, value pairs:
        mw_prom_u64 (p, "meshwatch_jobs_total", n, "outcome", "done", NULL);
    ========================================================================= */
#ifndef MW_PROM_H_INCLUDED
#define MW_PROM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _mw_prom_t mw_prom_t;

mw_prom_t *mw_prom_new (void);
void mw_prom_destroy (mw_prom_t **self_p);

//  # HELP and # TYPE lines of a family; type: counter, gauge, histogram,
//  summary or untyped.
void mw_prom_family (mw_prom_t *self, const char *name, const char *type, const char *help);
//  One sample line; the labels follow `v` as name, value pairs, then NULL.
void mw_prom_u64 (mw_prom_t *self, const char *name, uint64_t v, ...) __attribute__ ((sentinel));
//  decimals < 0: shortest form ("%g").
void mw_prom_num (mw_prom_t *self, const char *name, double v, int decimals, ...) __attribute__ ((sentinel));

//  The text so far (NULL after an allocation failure) and its length.
const char *mw_prom_text (mw_prom_t *self);
size_t mw_prom_len (mw_prom_t *self);

int mw_prom_test (bool verbose);

#endif
