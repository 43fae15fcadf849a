/*  =========================================================================
    mw_selftest - the one soft assertion the module selftests share.

    CHECK (cond, fmt, ...) reports a failed condition with file and line and
    sets the local `rc` to -1, but carries on, so that one run shows every
    broken case rather than the first.  A selftest that must stop at the
    first failure (because later steps depend on it) uses its own goto.
    ========================================================================= */
#ifndef MW_SELFTEST_H_INCLUDED
#define MW_SELFTEST_H_INCLUDED

#include <stdio.h>

#define CHECK(c, ...)                                                                                        \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            fprintf (stderr, __VA_ARGS__);                                                                   \
            fprintf (stderr, "\n");                                                                          \
            rc = -1;                                                                                         \
        }                                                                                                    \
    } while (0)

#endif
