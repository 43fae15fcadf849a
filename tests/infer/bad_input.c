/*  =========================================================================
    bad_input - hostile or broken files give a clear error, never a crash.

    usage: bad_input --models DIR [--demo DIR] [-v]

    Images: missing, zero-size, not an image, truncated JPEG (cut in the
    header and in the scan data), JPEG whose header claims 60000x60000
    (refused from the header, before any pixel memory), PPM 0x0 / huge /
    short, plus corrupted scan data and degenerate but valid sizes (1x1,
    4000x1) that must run.  Manifests (a copy of the model dir, edited):
    wrong shape with the same element count, short .bin, long .bin,
    missing tensor, not JSON, missing .bin, SSD anchors misshapen, a shard
    path escaping the dir.  Each must fail in mw_detector_new () /
    mw_image_load () with a message containing the expected words.
    Exit 0 pass, 1 fail.  Run it under ASan or valgrind for the "never a
    crash" half (make memcheck-infer does).
    ========================================================================= */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "inference/detector.h"

static int s_fails, s_checks;
static bool s_verbose;
static char s_tmp[256];

static void
s_expect (const char *what, bool failed, const char *err, const char *words)
{
    s_checks++;
    bool ok = failed && err[0] && (!words || strstr (err, words));
    if (!ok)
        s_fails++;
    printf ("%s %s: %s\n", ok ? "ok  " : "FAIL", what, failed ? err : "(no error!)");
}

static int
s_write (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    int rc = fwrite (data, 1, len, f) == len ? 0 : -1;
    fclose (f);
    return rc;
}

static uint8_t *
s_read (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = malloc ((size_t) n + 1);
    if (buf && fread (buf, 1, (size_t) n, f) != (size_t) n) {
        free (buf);
        buf = NULL;
    }
    fclose (f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t) n;
    }
    return buf;
}

static void
s_image_case (const char *what, const void *data, size_t len, const char *words)
{
    char path[512], err[512] = "";
    snprintf (path, sizeof path, "%s/img.bin", s_tmp);
    s_write (path, data, len);
    mw_image_t *img = mw_image_load (path, err, sizeof err);
    s_expect (what, img == NULL, err, words);
    mw_image_destroy (&img);
}

//  Replace the first `from` by `to` in a copy of text.
static char *
s_replace (const char *text, const char *from, const char *to)
{
    const char *at = strstr (text, from);
    if (!at)
        return NULL;
    size_t n = strlen (text) - strlen (from) + strlen (to);
    char *out = malloc (n + 1);
    size_t pre = (size_t) (at - text);
    memcpy (out, text, pre);
    strcpy (out + pre, to);
    strcat (out, at + strlen (from));
    return out;
}

//  A models dir in s_tmp/models with the manifest edited and the .bin cut
//  or extended by `bin_delta` bytes (or absent when bin_delta < -1000000).
static void
s_manifest_case (const char *what, const char *models, mw_model_t model, const char *from, const char *to,
                 long bin_delta, const char *words)
{
    const char *manifest = model == MW_MODEL_TINY_FACE ? "tiny_face_detector_model-weights_manifest.json"
                                                       : "ssd_mobilenetv1_model-weights_manifest.json";
    const char *bin =
        model == MW_MODEL_TINY_FACE ? "tiny_face_detector_model.bin" : "ssd_mobilenetv1_model.bin";
    char path[1200], dir[600], err[512] = "";
    size_t jlen = 0, blen = 0;
    snprintf (path, sizeof path, "%s/%s", models, manifest);
    char *json = (char *) s_read (path, &jlen);
    snprintf (path, sizeof path, "%s/%s", models, bin);
    uint8_t *data = s_read (path, &blen);
    if (!json || !data) {
        printf ("FAIL %s: cannot read the model files in %s\n", what, models);
        s_fails++;
        free (json);
        free (data);
        return;
    }
    char *edited = from ? s_replace (json, from, to) : strdup (to ? to : json);
    if (!edited) {
        printf ("FAIL %s: '%s' not in the manifest\n", what, from);
        s_fails++;
        free (json);
        free (data);
        return;
    }
    snprintf (dir, sizeof dir, "%s/models", s_tmp);
    snprintf (path, sizeof path, "%s/%s", dir, manifest);
    s_write (path, edited, strlen (edited));
    snprintf (path, sizeof path, "%s/%s", dir, bin);
    unlink (path);
    if (bin_delta > -1000000) {
        uint8_t *ext = realloc (data, blen + 16);
        data = ext;
        memset (data + blen, 0, 16);
        s_write (path, data, (size_t) ((long) blen + bin_delta));
    }
    mw_detector_config_t cfg;
    mw_detector_config_defaults (&cfg);
    cfg.model = model;
    cfg.models_dir = dir;
    cfg.threads = 1;
    mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
    s_expect (what, det == NULL, err, words);
    mw_detector_destroy (&det);
    free (edited);
    free (json);
    free (data);
}

int
main (int argc, char **argv)
{
    const char *models = NULL, *demo = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp (argv[i], "--demo") && i + 1 < argc)
            demo = argv[++i];
        else if (!strcmp (argv[i], "-v"))
            s_verbose = true;
        else {
            fprintf (stderr, "usage: bad_input --models DIR [--demo DIR] [-v]\n");
            return 2;
        }
    }
    snprintf (s_tmp, sizeof s_tmp, "/tmp/mw-bad-input.XXXXXX");
    if (!mkdtemp (s_tmp)) {
        perror ("mkdtemp");
        return 1;
    }
    char path[512], err[512];
    snprintf (path, sizeof path, "%s/models", s_tmp);
    if (mkdir (path, 0700) != 0) {
        perror ("mkdir");
        return 1;
    }

    //  --- images -------------------------------------------------------
    snprintf (path, sizeof path, "%s/does-not-exist.jpg", s_tmp);
    mw_image_t *img = mw_image_load (path, err, sizeof err);
    s_expect ("missing image file", img == NULL, err, "cannot open");
    s_image_case ("zero-size file", "", 0, "too short");
    s_image_case ("text file", "hello, I am not a picture\n", 26, "not a JPEG");
    s_image_case ("PPM 0x0", "P6\n0 0\n255\n", 11, "out of range");
    s_image_case ("PPM 9000x9000 (81 Mpx)", "P6\n9000 9000\n255\n", 17, "pixels");
    s_image_case ("PPM short pixel data", "P6\n4 4\n255\nabc", 14, "truncated");
    s_image_case ("PPM maxval 65535", "P6\n1 1\n65535\n\0\0\0\0\0\0", 20, "maxval");

    //  A real JPEG to cut and patch: the demo image, or one we encode.
    size_t jlen = 0;
    uint8_t *jpg = NULL;
    if (demo) {
        snprintf (path, sizeof path, "%s/sample1.jpg", demo);
        jpg = s_read (path, &jlen);
    }
    if (!jpg) {
        tjhandle tj = tjInitCompress ();
        uint8_t *rgb = malloc (320 * 240 * 3);
        for (int i = 0; i < 320 * 240 * 3; i++)
            rgb[i] = (uint8_t) (i * 13 + (i >> 7));
        unsigned char *out = NULL;
        unsigned long olen = 0;
        tjCompress2 (tj, rgb, 320, 320 * 3, 240, TJPF_RGB, &out, &olen, TJSAMP_420, 85, 0);
        jpg = malloc (olen);
        memcpy (jpg, out, olen);
        jlen = olen;
        tjFree (out);
        tjDestroy (tj);
        free (rgb);
    }
    s_image_case ("JPEG cut in the header", jpg, 40, "jpeg");
    s_image_case ("JPEG cut in the scan data", jpg, jlen / 3, "truncated");
    //  Header claiming 60000x60000: patch the SOFn frame size.
    uint8_t *big = malloc (jlen);
    memcpy (big, jpg, jlen);
    bool patched = false;
    for (size_t i = 2; i + 9 < jlen; i++)
        if (big[i] == 0xFF && big[i + 1] >= 0xC0 && big[i + 1] <= 0xC2) {
            big[i + 5] = 60000 >> 8, big[i + 6] = 60000 & 0xff;   //  height
            big[i + 7] = 60000 >> 8, big[i + 8] = 60000 & 0xff;   //  width
            patched = true;
            break;
        }
    if (patched)
        s_image_case ("JPEG header 60000x60000 (3.6 Gpx)", big, jlen, "pixels");
    //  Corrupted scan data: must not crash (an error or a garbled image are
    //  both fine).
    memcpy (big, jpg, jlen);
    for (size_t i = jlen / 2; i < jlen / 2 + 64 && i < jlen; i++)
        big[i] ^= 0x5a;
    snprintf (path, sizeof path, "%s/corrupt.jpg", s_tmp);
    s_write (path, big, jlen);
    img = mw_image_load (path, err, sizeof err);
    printf ("ok   corrupted JPEG scan data: %s\n", img ? "decoded (garbled)" : err);
    mw_image_destroy (&img);
    free (big);
    free (jpg);

    //  Degenerate but valid frames run through both models.
    for (int m = 0; m < 2; m++) {
        mw_detector_config_t cfg;
        mw_detector_config_defaults (&cfg);
        cfg.model = (mw_model_t) m;
        cfg.models_dir = models;
        cfg.threads = 1;
        mw_detector_t *det = models ? mw_detector_new (&cfg, err, sizeof err) : NULL;
        if (!det) {
            printf ("FAIL cannot load %s: %s\n", mw_model_name (cfg.model), models ? err : "no --models");
            s_fails++;
            continue;
        }
        static const int sizes[][2] = {{1, 1}, {4000, 1}, {1, 3000}, {33, 17}};
        for (int s = 0; s < 4; s++) {
            mw_image_t *f = mw_image_new (sizes[s][0], sizes[s][1]);
            memset (mw_image_data (f), 200, (size_t) sizes[s][0] * sizes[s][1] * 3);
            int n = mw_detector_run_image (det, f);
            s_checks++;
            if (n < 0)
                s_fails++;
            printf ("%s %s on a %dx%d frame: %d detections\n", n >= 0 ? "ok  " : "FAIL",
                    mw_model_name (cfg.model), sizes[s][0], sizes[s][1], n);
            mw_image_destroy (&f);
        }
        //  A NULL / zero-size frame is refused by the API.
        s_expect ("zero-size frame", mw_detector_run (det, (const uint8_t *) "", 0, 0, 0) < 0,
                  mw_detector_error (det), "bad frame");
        mw_detector_destroy (&det);
    }

    //  --- manifests ----------------------------------------------------
    if (models) {
        s_manifest_case ("manifest: conv0 shape [3,3,16,3] (same size)", models, MW_MODEL_TINY_FACE,
                         "\"shape\":[3,3,3,16]", "\"shape\":[3,3,16,3]", 0, "expected [3,3,3,16]");
        s_manifest_case ("manifest: short .bin", models, MW_MODEL_TINY_FACE, NULL, NULL, -1, "short");
        s_manifest_case ("manifest: .bin one byte long", models, MW_MODEL_TINY_FACE, NULL, NULL, 1,
                         "trailing");
        s_manifest_case ("manifest: missing conv8/bias", models, MW_MODEL_TINY_FACE, "\"conv8/bias\"",
                         "\"conv8/biaz\"", 0, "missing");
        s_manifest_case ("manifest: conv1 shape bigger than the .bin", models, MW_MODEL_TINY_FACE,
                         "\"shape\":[1,1,16,32]", "\"shape\":[1,1,16,33]", 0, "short");
        s_manifest_case ("manifest: not JSON", models, MW_MODEL_TINY_FACE, NULL, "<html>404</html>", 0,
                         "invalid JSON");
        s_manifest_case ("manifest: truncated JSON", models, MW_MODEL_TINY_FACE, NULL,
                         "[{\"weights\":[{\"name\":\"conv0/filters\"", 0, "invalid JSON");
        s_manifest_case ("manifest: .bin missing", models, MW_MODEL_TINY_FACE, NULL, NULL, -2000000,
                         "cannot open");
        s_manifest_case ("manifest: shard path ../", models, MW_MODEL_TINY_FACE,
                         "\"tiny_face_detector_model.bin\"", "\"../tiny_face_detector_model.bin\"", 0,
                         "plain file name");
        s_manifest_case ("manifest: negative dim", models, MW_MODEL_TINY_FACE, "\"shape\":[16]",
                         "\"shape\":[-16]", 0, "out of range");
        s_manifest_case ("manifest: SSD anchors [1,4,5118]", models, MW_MODEL_SSD_MOBILENET, "[1,5118,4]",
                         "[1,4,5118]", 0, "Output/extra_dim");
        s_manifest_case ("manifest: SSD short .bin", models, MW_MODEL_SSD_MOBILENET, NULL, NULL, -4, "short");
        //  Missing models dir altogether.
        mw_detector_config_t cfg;
        mw_detector_config_defaults (&cfg);
        cfg.models_dir = "/nonexistent/models";
        mw_detector_t *det = mw_detector_new (&cfg, err, sizeof err);
        s_expect ("models dir missing", det == NULL, err, "cannot open");
    }
    else
        printf ("# no --models: manifest cases skipped\n");

    //  Clean up the scratch dir.
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    if (system (cmd) != 0)
        fprintf (stderr, "bad_input: could not remove %s\n", s_tmp);
    printf ("%d checks, %d failed\n", s_checks, s_fails);
    return s_fails ? 1 : 0;
}
