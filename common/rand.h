/*  =========================================================================
    mw_rand - the one pseudo-random generator of the pure modules.

    splitmix64: tiny, good enough for choosing peers and timer jitter, and
    the same on every platform.  The state always belongs to the caller, so
    that the daemon, the simulators and the tests each decide how a run is
    seeded (same seed, same run).  Nothing here is for secrets: keys and
    ids come from libsodium.
    ========================================================================= */
#ifndef MW_RAND_H_INCLUDED
#define MW_RAND_H_INCLUDED

#include <stdint.h>

static inline uint64_t
mw_splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += UINT64_C (0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#endif
