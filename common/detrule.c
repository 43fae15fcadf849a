/*  =========================================================================
    mw_detrule - a rule on detections (see detrule.h).
    ========================================================================= */
#include "common/detrule.h"
#include "common/selftest.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
mw_detrule_parse (const char *text, mw_detrule_t *out, char *err, size_t errlen)
{
    assert (out);
    memset (out, 0, sizeof *out);
    if (!text || !*text)
        return 0;
    const char *p = text;
    while (*p) {
        if (out->n == MW_DETRULE_MAX) {
            snprintf (err, errlen, "at most %d rules", MW_DETRULE_MAX);
            return -1;
        }
        size_t n = 0;
        while (n < 15 && (isalnum ((unsigned char) p[n]) || p[n] == '_' || p[n] == '-'))
            n++;
        if (n == 0 || strncmp (p + n, ">=", 2) != 0) {
            snprintf (err, errlen, "want CLASS>=SCORE[,CLASS>=SCORE...], e.g. face>=0.8");
            return -1;
        }
        memcpy (out->r[out->n].cls, p, n);
        out->r[out->n].cls[n] = 0;
        p += n + 2;
        char *end = NULL;
        double s = strtod (p, &end);
        if (end == p || !(s >= 0 && s <= 1) || (*end && *end != ',')) {
            snprintf (err, errlen, "score after '%s>=' must be a number in 0..1", out->r[out->n].cls);
            return -1;
        }
        out->r[out->n++].min_score = s;
        p = *end ? end + 1 : end;
    }
    return 0;
}

bool
mw_detrule_match (const mw_detrule_t *rule, const char *cls, double score)
{
    for (size_t i = 0; i < rule->n; i++)
        if (!strcmp (rule->r[i].cls, cls) && score >= rule->r[i].min_score)
            return true;
    return false;
}

int
mw_detrule_test (bool verbose)
{
    int rc = 0;
    mw_detrule_t rule;
    char err[128];
    CHECK (mw_detrule_parse ("face>=0.8", &rule, err, sizeof err) == 0 && rule.n == 1, "rule: %s", err);
    CHECK (mw_detrule_match (&rule, "face", 0.8) && !mw_detrule_match (&rule, "face", 0.79)
               && !mw_detrule_match (&rule, "car", 0.99),
           "rule match");
    CHECK (mw_detrule_parse ("face>=0.9,person>=0.5", &rule, err, sizeof err) == 0 && rule.n == 2
               && mw_detrule_match (&rule, "person", 0.6),
           "two rules");
    CHECK (mw_detrule_parse ("", &rule, err, sizeof err) == 0 && rule.n == 0
               && !mw_detrule_match (&rule, "face", 1),
           "empty rule");
    const char *bad_rules[] = {
        "face", "face>0.8", "face>=2", "face>=x", ">=0.5", "face>=0.5;", "a>=1,b>=1,c>=1,d>=1,e>=1"};
    for (size_t i = 0; i < sizeof bad_rules / sizeof bad_rules[0]; i++) {
        CHECK (mw_detrule_parse (bad_rules[i], &rule, err, sizeof err) == -1, "rule '%s' accepted",
               bad_rules[i]);
        if (verbose)
            printf ("  %s: %s\n", bad_rules[i], err);
    }
    return rc;
}
