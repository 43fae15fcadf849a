/*  =========================================================================
    sched_tune - performance-based tuning of a running model, as pure code.

    The seed's second optimisation scenario: the box measures, per running
    model, the p90 of its service time (decode + inference), deadline
    misses, mean confidence and the escalation rate, and adapts the model
    within bounds the operator sets.  The knob is TinyFaceDetector's input
    size (a smaller input is ~(S'/S)^2 the work, a larger one finds smaller
    faces): one of TUNE_INPUT_SIZES, starting from the home size.

        sched_tune_t *t = sched_tune_new (&cfg);
        sched_tune_sample (t, model, size, ms, conf, has_conf, now);  //  every completion
        sched_tune_outcome (t, model, size, missed, escalated, now);  //  every ended job
        sched_tune_change_t ch;
        if (sched_tune_step (t, model, now, &ch) == 1)
            ...   //  apply ch.to (and publish the change: ch has its reason and numbers)

    The rules (docs/DEPLOY.md, "Performance-based tuning"):

      * OVERLOAD: the p90 above the target, or the deadline-miss rate above
        its bound -> the next smaller size;
      * HOME: below the home size, with slack (the p90 scaled to the next
        size by area stays under 80 % of the target, no misses) -> the next
        larger size; an overload step is undone once the pressure is gone;
      * ACCURACY: at or above home, low mean confidence or a high
        escalation rate, with slack -> the next larger size;
      * hysteresis: a decision needs min_samples measured at the current
        size within the window, its condition holding for half a window,
        and hold_ms since the last change; the
        dead band between "overloaded" (p90 > target) and "slack" (p90 x
        area ratio < 0.8 target) means a p90 hovering at the target never
        flips the size back and forth;
      * canary: a change is kept only if the metric it meant to improve
        improved within canary_ms (overload: p90 down by 10 %, or misses
        halved; accuracy: confidence up by 0.02 without overload; home: no
        overload at the larger size), else it is reverted and the size
        it tried is barred for 4 x hold_ms.

    No clock, no socket, no thread: the caller gives the time.  Tables are
    fixed: TUNE_WINDOW samples and outcomes per model, whatever the rate.
    ========================================================================= */
#ifndef SCHED_TUNE_H_INCLUDED
#define SCHED_TUNE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sched_tune_t sched_tune_t;

#define TUNE_SIZES_MAX 8
#define TUNE_MODELS    2    //  the runner's models (mw_model_t): 0 tiny-face, 1 ssd-mobilenet
#define TUNE_WINDOW    64   //  samples (and outcomes) kept per model
#define TUNE_TINY_FACE 0    //  the one model whose input size is tunable

typedef struct {
    bool enable;
    int sizes[TUNE_SIZES_MAX];   //  ascending, multiples of 32
    int n_sizes;
    int home;               //  where it starts and returns to; one of sizes
    double p90_target_ms;   //  service time p90 above this: overloaded
    double miss_max;        //  deadline-miss fraction above this: overloaded
    double conf_low;        //  mean confidence below this: try a larger input (0: off)
    double esc_max;         //  escalation rate above this: try a larger input (0: off)
    uint32_t hold_ms;       //  at least this between two changes
    uint32_t canary_ms;     //  a change is judged after this
    uint32_t window_ms;     //  samples older than this do not count
    uint32_t min_samples;   //  measured at the current size before any decision
} sched_tune_cfg_t;

//  enable false, sizes 320,416,608, home 416, p90 150 ms, misses 5 %,
//  conf_low 0.5, esc_max 0 (off), hold 30 s, canary 15 s, window 20 s,
//  min_samples 10.
void sched_tune_cfg_defaults (sched_tune_cfg_t *cfg);

//  "320,416,608" -> ascending sizes, each a multiple of 32 in 64..1024, at
//  most TUNE_SIZES_MAX, no duplicates.  0, or -1 with the reason in err.
int sched_tune_parse_sizes (const char *text, sched_tune_cfg_t *cfg, char *err, size_t errlen);

//  NULL on a bad configuration (no sizes, home not among them, a target
//  <= 0, min_samples 0).
sched_tune_t *sched_tune_new (const sched_tune_cfg_t *cfg);
void sched_tune_destroy (sched_tune_t **self_p);

//  The input size model m should run now (home until a change; 0 for a
//  model whose size is not tuned).
int sched_tune_size (sched_tune_t *self, int m);

//  One completion of model m that ran at input size `size` (the size the
//  detector really had: during a swap the old one still answers).
//  conf: the mean score of its detections, counted when has_conf.
void sched_tune_sample (sched_tune_t *self, int m, int size, double ms, double conf, bool has_conf,
                        uint64_t now_ms);
//  One ended job of model m (ran here): missed its deadline (late or timed
//  out, or refused for want of capacity), and escalated or not.
void sched_tune_outcome (sched_tune_t *self, int m, int size, bool missed, bool escalated, uint64_t now_ms);

typedef enum {
    TUNE_DOWN = 1,   //  overload: smaller input
    TUNE_UP,         //  slack (home) or low confidence: larger input
    TUNE_REVERT,     //  the canary showed no improvement: back
    TUNE_KEPT,       //  the canary showed the improvement: the change stays
} sched_tune_action_t;

//  What the window says, at the size it measured.
typedef struct {
    int size;
    uint32_t samples, outcomes;
    double p90_ms;
    double miss_rate;   //  0..1 of outcomes
    double conf;        //  mean over samples with detections (-1: none)
    double esc_rate;    //  0..1 of outcomes
} sched_tune_stats_t;

typedef struct {
    int model;
    sched_tune_action_t action;
    int from, to;              //  sizes (KEPT: from -> to is the change kept)
    char reason[96];           //  "overload: p90 212.0 ms > 150 ms", ...
    sched_tune_stats_t now;    //  the numbers that triggered it
    sched_tune_stats_t base;   //  REVERT/KEPT: before the change
} sched_tune_change_t;

//  Decide for model m.  1 with *out filled when the size changes (DOWN,
//  UP, REVERT) or a canary ends (KEPT: the size stays), else 0.
int sched_tune_step (sched_tune_t *self, int m, uint64_t now_ms, sched_tune_change_t *out);

//  Current stats of model m (at its current size), whether a canary runs,
//  and the counts of changes so far.
typedef struct {
    int size;
    bool canary;        //  a change is being judged
    int canary_from;    //  ... coming from this size
    uint64_t changes;   //  DOWN + UP
    uint64_t reverts;   //  REVERT
    uint64_t last_change_ms;
    sched_tune_stats_t stats;
} sched_tune_state_t;
void sched_tune_state (sched_tune_t *self, int m, uint64_t now_ms, sched_tune_state_t *out);

const char *sched_tune_action_name (sched_tune_action_t a);

int sched_tune_test (bool verbose);

#endif
