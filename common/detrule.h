/*  =========================================================================
    mw_detrule - a rule on detections: CLASS>=SCORE[,CLASS>=SCORE...].

    FOCUS_ON=face>=0.8 (camera/cam_focus.h, scenario 4) says which results
    are a security event: any detection of a listed class scoring at least
    that.  Pure and tiny, in common/ because the config checks a value when
    it is read (config/config.c) and the camera service applies it.
    ========================================================================= */
#ifndef MW_DETRULE_H_INCLUDED
#define MW_DETRULE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define MW_DETRULE_MAX 4   //  alternatives in one rule

typedef struct {
    size_t n;
    struct {
        char cls[16];
        double min_score;
    } r[MW_DETRULE_MAX];
} mw_detrule_t;

//  "" gives an empty rule (never matches).  0, or -1 with the reason.
int mw_detrule_parse (const char *text, mw_detrule_t *out, char *err, size_t errlen);
//  Does a detection of class `cls` scoring `score` match?
bool mw_detrule_match (const mw_detrule_t *rule, const char *cls, double score);

int mw_detrule_test (bool verbose);

#endif
