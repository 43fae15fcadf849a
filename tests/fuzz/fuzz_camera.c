/*  =========================================================================
    fuzz_camera - libFuzzer target for the camera registry's JSON parser
    (camera/cam_registry.c): the one parser that reads documents from
    outside twice over - `meshwatch camera add` and the VMS's HTTP API on a
    box, and every peer's CAM_RECORDS on every other box.

    Input: the document.  It goes through cam_info_parse, then into a small
    registry as a local put and as a remote record (merge), then through the
    JSON views; whatever was accepted must come back out readable and
    consistent (same id, same version, a view that parses).  ASan/UBSan
    (or valgrind in the replay) see the rest.

    Built two ways, as tests/fuzz/fuzz_manifest.c:
      clang -fsanitize=fuzzer,address,undefined ...  (tests/fuzz/run-fuzz-camera.sh)
      cc -DMW_FUZZ_REPLAY ...   a plain main () replaying the corpus
                                ($MW_SRCDIR/tests/fuzz/corpus/camera) in make check.
    ========================================================================= */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "camera/cam_registry.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    cam_info_t info;
    json_object *doc = NULL;
    int ok = cam_info_parse ((const char *) data, size, &info, &doc, err, sizeof err);
    if (ok == 0) {
        //  Accepted: typed fields within their rules.
        if (!cam_id_valid (info.id) || !(info.lat >= -90 && info.lat <= 90)
            || !(info.lon >= -180 && info.lon <= 180)
            || (info.has_fov && !(info.fov_deg > 0 && info.fov_deg <= 360)) || info.fps < 0
            || info.fps > CAM_FPS_MAX || !doc)
            abort ();
        json_object_put (doc);
    }
    else if (doc || !*err)
        abort ();   //  a refusal says why and hands nothing back
    mw_id_t me = {{1}}, peer = {{2}};
    cam_registry_t *reg = cam_registry_new (4, &me, CAM_SKEW_DEFAULT_MS);
    if (!reg)
        return 0;
    const cam_record_t *r = NULL;
    uint64_t t = 1700000000000ull;
    int put = cam_registry_put (reg, (const char *) data, size, t, &r, err, sizeof err);
    if ((put == 0) != (ok == 0))
        abort ();   //  the registry takes exactly what the parser takes
    if (put == 0) {
        json_object *view = cam_record_json (r);
        const char *text = view ? mw_json_text (view, false) : NULL;
        json_object *back = text ? mw_json_parse (text, strlen (text), err, sizeof err) : NULL;
        if (!back || strcmp (mw_json_get_str (back, "id", ""), r->id))
            abort ();
        json_object_put (back);
        json_object_put (view);
        //  The same record as a peer's (newer): the stored text parses again.
        char id[CAM_ID_MAX + 1];
        snprintf (id, sizeof id, "%s", r->id);
        char *copy = strdup (r->json);
        cam_version_t v = {(t + 5) << 16, peer};
        if (cam_registry_merge (reg, id, &v, false, copy, strlen (copy), t + 5, false, NULL, err, sizeof err)
            != CAM_MERGE_APPLIED)
            abort ();
        free (copy);
        cam_registry_assign (reg, id, "box-x", t + 10, NULL, err, sizeof err);
        cam_registry_remove (reg, id, t + 20, NULL, err, sizeof err);
    }
    //  A remote record of any id with this document: accepted only if it
    //  parses and its id matches.
    cam_version_t v = {(t + 30) << 16, peer};
    cam_merge_t m = cam_registry_merge (reg, "fuzz-id", &v, false, (const char *) data, size, t + 30, false,
                                        NULL, err, sizeof err);
    if (m == CAM_MERGE_APPLIED && (ok != 0 || strcmp (info.id, "fuzz-id")))
        abort ();
    json_object *list = cam_registry_list_json (reg, true);
    json_object_put (list);
    cam_registry_destroy (&reg);
    return 0;
}

#ifdef MW_FUZZ_REPLAY
static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = malloc (1 << 20);
    size_t n = buf ? fread (buf, 1, 1 << 20, f) : 0;
    fclose (f);
    if (!buf)
        return -1;
    LLVMFuzzerTestOneInput (buf, n);
    free (buf);
    return 0;
}

int
main (int argc, char **argv)
{
    const char *src = getenv ("MW_SRCDIR");
    char dflt[4096];
    snprintf (dflt, sizeof dflt, "%s/tests/fuzz/corpus/camera", src && *src ? src : ".");
    int files = 0, rc = 0;
    for (int i = 1; i <= (argc > 1 ? argc - 1 : 1); i++) {
        const char *p = argc > 1 ? argv[i] : dflt;
        struct stat st;
        if (stat (p, &st) != 0) {
            fprintf (stderr, "fuzz_camera: %s: no such file or directory\n", p);
            rc = 1;
            continue;
        }
        if (!S_ISDIR (st.st_mode)) {
            rc |= s_run_file (p) != 0;
            files++;
            continue;
        }
        DIR *d = opendir (p);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[8192];
            snprintf (path, sizeof path, "%s/%s", p, e->d_name);
            rc |= s_run_file (path) != 0;
            files++;
        }
        if (d)
            closedir (d);
    }
    printf ("fuzz_camera: %d inputs replayed\n", files);
    return rc || files == 0 ? 1 : 0;
}
#endif
