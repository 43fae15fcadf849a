/*  =========================================================================
    sign_bench - what node-key signatures cost in CPU (tests/bench/sign.sh).

    Prints the median microseconds per record signature, record check,
    election message signature and check, and public-key-to-id check
    (gossip_sign_bench: batches of 200, median over ROUNDS batches), and
    what that means for a box at N members (each record check is paid once
    per record version a box learns, each election check once per message).
    ========================================================================= */
#include "gossip/sign.h"

#include <stdio.h>
#include <stdlib.h>

int
main (int argc, char **argv)
{
    int rounds = argc > 1 ? atoi (argv[1]) : 21;
    gossip_sign_cost_t c;
    if (gossip_sign_bench (rounds, &c) != 0) {
        fprintf (stderr, "sign_bench: rounds must be 1..101\n");
        return 1;
    }
    printf ("node-key signatures (Ed25519, libsodium), median of %d batches of 200, us per operation:\n",
            rounds);
    printf ("  record    sign %6.1f   verify %6.1f\n", c.record_sign_us, c.record_verify_us);
    printf ("  election  sign %6.1f   verify %6.1f\n", c.msg_sign_us, c.msg_verify_us);
    printf ("  pk -> id check %6.2f\n", c.pk_check_us);
    printf ("  heartbeat pair MAC %6.2f   verify %6.2f   (pair key derived once per peer: %6.1f)\n", c.mac_us,
            c.mac_verify_us, c.pair_derive_us);
    //  Idle load at N: every member re-signs its record when its digest
    //  changes (about once a second with forecasts on), and every box
    //  checks each such version once; a coordinator's heartbeats (one per
    //  follower per interval) are checked once each.
    static const int sizes[] = {5, 20, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k];
        double per_s = (double) (n - 1) * c.record_verify_us + c.record_sign_us;
        printf (
            "  N=%-3d one record version per member per second: %.2f ms CPU/s per box (%.3f %% of a core)\n",
            n, per_s / 1000.0, per_s / 10000.0);
    }
    return 0;
}
