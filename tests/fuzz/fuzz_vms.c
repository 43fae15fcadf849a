/*  =========================================================================
    fuzz_vms - libFuzzer target for the VMS interface's parsers of remote
    input: event cursors (`after=`, Last-Event-ID, --since), the API's route
    matcher and If-None-Match, request bodies (POST /api/v1/env, JSON), the
    outbox's topic filter and the bodies it builds from logged events.

    Input: one selector byte, then the text (NUL-separated parts where a
    parser takes two):
      0 cursor            node_evlog_cursor_parse
      1 METHOD\0PATH      node_api_route_find (and the {id} it extracts)
      2 INM\0ETAG         node_api_etag_match
      3 FILTER\0TOPIC     node_outbox_match
      4 JSON              node_outbox_body (env and webhook), as an event
      5 JSON              a request body: mw_json_parse, then "result"
    Every parser must return (no crash, no read past the input, no leak);
    results are checked for the few invariants they promise.

    Built two ways, as the other targets:
      clang -fsanitize=fuzzer,address,undefined ... (tests/fuzz/run-fuzz-vms.sh)
      cc -DMW_FUZZ_REPLAY ...   replays tests/fuzz/corpus/vms in `make check`
                                (under valgrind: tests/fuzz/replay-vms.sh)
    ========================================================================= */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "node/api.h"
#include "node/evlog.h"
#include "node/outbox.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    //  A NUL-terminated copy (the parsers take C strings, as they get them
    //  from libmicrohttpd), with the first NUL splitting two parts.
    char *text = malloc (size + 1);
    if (!text)
        return 0;
    memcpy (text, data + 1, size - 1);
    text[size - 1] = 0;
    const char *a = text, *b = text + strlen (text);
    if ((size_t) (b - text) < size - 1)
        b++;   //  the part after the first NUL
    switch (data[0] % 6) {
    case 0: {
        uint64_t e = 0, s = 0;
        if (node_evlog_cursor_parse (a, &e, &s) == 0 && e >= (UINT64_C (1) << 53))
            abort ();   //  an epoch is below 2^53 (JSON-safe), always
        break;
    }
    case 1: {
        char id[160], allow[64];
        int r = node_api_route_find (a, b, id, sizeof id, allow, sizeof allow);
        if (r >= 0 && strlen (id) >= sizeof id)
            abort ();
        char name[128];
        if (r >= 0 && strstr (node_api_route_name ((size_t) r, name, sizeof name), "{id}")
            && (strchr (id, '/') || !*id))
            abort ();   //  {id} is one non-empty segment
        break;
    }
    case 2: node_api_etag_match (a, b); break;
    case 3: node_outbox_match (a, b); break;
    case 4: {
        char why[160];
        char *body = node_outbox_body (NODE_OUTBOX_ENV, "env.report", 1, a, strlen (a), why, sizeof why);
        if (!body && !why[0])
            abort ();   //  a refusal says why
        free (body);
        body = node_outbox_body (NODE_OUTBOX_WEBHOOK, "x.y", UINT64_MAX / 2, a, strlen (a), why, sizeof why);
        free (body);
        break;
    }
    case 5: {
        char err[200];
        json_object *o = mw_json_parse (a, strlen (a), err, sizeof err);
        if (o)
            (void) mw_json_get_str (o, "result", NULL);
        else if (!err[0])
            abort ();
        json_object_put (o);
        break;
    }
    }
    free (text);
    return 0;
}

#ifdef MW_FUZZ_REPLAY
static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
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

int
main (int argc, char **argv)
{
    char def[4096];
    const char *dir = argc > 1 ? argv[1] : NULL;
    if (!dir) {
        const char *src = getenv ("MW_SRCDIR");
        snprintf (def, sizeof def, "%s/tests/fuzz/corpus/vms", src ? src : ".");
        dir = def;
    }
    DIR *d = opendir (dir);
    if (!d) {
        fprintf (stderr, "fuzz_vms: %s: cannot open\n", dir);
        return 1;
    }
    int count = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[4400];
        snprintf (full, sizeof full, "%s/%s", dir, e->d_name);
        count++;
        if (s_run_file (full) != 0)
            rc = -1;
    }
    closedir (d);
    printf ("fuzz_vms: %d inputs replayed%s\n", count, rc ? " (with errors)" : "");
    return rc == 0 && count > 0 ? 0 : 1;
}
#endif
