/*  =========================================================================
    replay_main.h - the replay driver shared by the fuzz targets: built with
    MW_FUZZ_REPLAY (no libFuzzer), a target runs LLVMFuzzerTestOneInput once
    per file of the folders or files it is given (default: its corpus,
    tests/fuzz/corpus/FUZZ_CORPUS under MW_SRCDIR), so that `make check`
    replays every corpus under valgrind.  Include it at the end of a target
    after defining FUZZ_NAME ("fuzz_x") and FUZZ_CORPUS ("x").
    ========================================================================= */
#ifdef MW_FUZZ_REPLAY
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, FUZZ_NAME ": cannot open %s\n", path);
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
        fprintf (stderr, FUZZ_NAME ": %s: no such file or directory\n", path);
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
        snprintf (def, sizeof def, "%s/tests/fuzz/corpus/" FUZZ_CORPUS, src ? src : ".");
        rc = s_run_path (def, &count);
    }
    for (int i = 1; i < argc; i++)
        if (s_run_path (argv[i], &count) != 0)
            rc = -1;
    printf (FUZZ_NAME ": %d inputs replayed%s\n", count, rc ? " (with errors)" : "");
    return rc == 0 && count > 0 ? 0 : 1;
}
#endif
