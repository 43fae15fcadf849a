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

#ifdef MW_FUZZ_REPLAY
static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "fuzz_deploy: cannot open %s\n", path);
        return -1;
    }
    fseek (f, 0, SEEK_END);
    long len = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = malloc (len > 0 ? (size_t) len : 1);
    if (!buf || (len > 0 && fread (buf, 1, (size_t) len, f) != (size_t) len)) {
        fclose (f);
        free (buf);
        return -1;
    }
    fclose (f);
    LLVMFuzzerTestOneInput (buf, (size_t) (len > 0 ? len : 0));
    free (buf);
    return 0;
}

static int
s_run_path (const char *path, int *count)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        fprintf (stderr, "fuzz_deploy: %s: no such file or directory\n", path);
        return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
        (*count)++;
        return s_run_file (path);
    }
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir (dir))) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf (full, sizeof full, "%s/%s", path, e->d_name);
        if (s_run_path (full, count) != 0)
            rc = -1;
    }
    closedir (dir);
    return rc;
}

int
main (int argc, char **argv)
{
    int count = 0, rc = 0;
    char def[4096];
    if (argc < 2) {
        const char *src = getenv ("MW_SRCDIR");
        snprintf (def, sizeof def, "%s/tests/fuzz/corpus/deploy", src ? src : ".");
        rc = s_run_path (def, &count);
    }
    for (int i = 1; i < argc; i++)
        if (s_run_path (argv[i], &count) != 0)
            rc = -1;
    printf ("fuzz_deploy: %d inputs replayed%s\n", count, rc ? " (with errors)" : "");
    return rc == 0 && count > 0 ? 0 : 1;
}
#endif
