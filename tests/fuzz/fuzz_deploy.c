/*  =========================================================================
    fuzz_deploy - libFuzzer target for the deployment plan's wire forms
    (scheduler/deploy_plan.c): DEPLOY_PLAN, DEPLOY_REPORT and DEPLOY_CMD
    bodies come from peers, and the plan also from STATE_DIR/deploy/plan.bin.

    The first byte picks the parser (0 plan, 1 report, 2 command), the rest
    is its input.  What unpacks must merge into a plan without breaking its
    bounds, pack again, and unpack to the same digest (the canonical form:
    a box never reads what it would not write).

    Built two ways, like the other targets:
      clang -fsanitize=fuzzer,address,undefined ...  (tests/fuzz/run-fuzz-deploy.sh)
      cc -DMW_FUZZ_REPLAY ...   replays tests/fuzz/corpus/deploy in `make check`.
    The seed corpus is written by tests/fuzz/make_corpus (plans with
    epochs, entries, tombstones and rollouts; reports; commands).
    ========================================================================= */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scheduler/deploy_plan.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] % 3 == 0) {
        deploy_plan_t *in = deploy_plan_unpack (p, n);
        if (!in)
            return 0;
        deploy_plan_t *mine = deploy_plan_new ();
        if (!mine)
            abort ();
        deploy_plan_merge (mine, in);
        if (deploy_plan_entries (mine) > DEPLOY_ENTRIES_MAX
            || deploy_plan_rollouts (mine) > DEPLOY_ROLLOUTS_MAX)
            abort ();
        uint8_t *buf;
        size_t len;
        if (deploy_plan_pack (in, &buf, &len) != 0)
            abort ();
        //  Canonical: what was read packs to the very same bytes.
        if (len != n || memcmp (buf, p, n) != 0)
            abort ();
        free (buf);
        deploy_plan_destroy (&mine);
        deploy_plan_destroy (&in);
    }
    else if (data[0] % 3 == 1) {
        deploy_report_t r;
        if (deploy_report_unpack (p, n, &r) == 0) {
            uint8_t *buf;
            size_t len;
            if (deploy_report_pack (&r, &buf, &len) != 0 || len != n || memcmp (buf, p, n) != 0)
                abort ();
            free (buf);
        }
    }
    else {
        deploy_cmd_t c;
        if (deploy_cmd_unpack (p, n, &c) == 0) {
            uint8_t *buf;
            size_t len;
            if (deploy_cmd_pack (&c, &buf, &len) != 0 || len != n || memcmp (buf, p, n) != 0)
                abort ();
            free (buf);
        }
    }
    return 0;
}

#define FUZZ_NAME   "fuzz_deploy"
#define FUZZ_CORPUS "deploy"
#include "tests/fuzz/replay_main.h"
