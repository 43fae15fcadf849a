/*  =========================================================================
    mw-envprog - the environment program: an `exec` package built from this
    repository (docs/DEPLOY.md).  It reads the box's latest camera frame
    every --interval-ms, classifies the scene from image statistics and
    prints the seed's environment-information result as one JSON line on
    stdout, which the agent that supervises it reports (env.report, the VMS
    outbox) and uses to choose variants (ENV_RESULT_MAP):

        {"result":"1","class":"day","luma":0.62,"contrast":0.21,"saturation":0.34,"edges":0.081,"frame":"..."}

    Frames: --dir DIR (default $MESHWATCH_STATE_DIR/frames, where a box's
    frame source leaves its cameras' latest frames), the newest *.jpg in it; decoded with libturbojpeg, scaled down
    by the decoder to at most 320 pixels wide (the statistics do not need
    more).

    The heuristic (documented as one: no model, no training):
      luma        mean of Y (0..1)
      contrast    RMS contrast: standard deviation of Y (0..1)
      saturation  mean of (max(R,G,B) - min(R,G,B)) / max(R,G,B)
      edges       fraction of pixels whose Sobel gradient magnitude of Y is
                  above 0.25 (0..1)
      night           luma < 0.18                                  -> result 2
      low visibility  contrast < 0.10 or edges < 0.02, or
                      saturation < 0.08 with luma < 0.45 (fog, rain,
                      a wet lens: flat, grey, soft)                -> result 4
      day             otherwise                                    -> result 1
    The thresholds are options (--night-luma, --low-contrast, --low-edges,
    --grey-saturation).  A frame that cannot be read is skipped (a line on
    stderr), never reported.
    ========================================================================= */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

typedef struct {
    double luma, contrast, saturation, edges;
} s_stats_t;

static int
s_newest (const char *dir, char *out, size_t cap)
{
    DIR *d = opendir (dir);
    if (!d)
        return -1;
    struct dirent *e;
    struct timespec best = {0, 0};
    int found = -1;
    while ((e = readdir (d))) {
        size_t n = strlen (e->d_name);
        if (n < 5 || (strcmp (e->d_name + n - 4, ".jpg") && strcmp (e->d_name + n - 5, ".jpeg")))
            continue;
        char path[8400];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        if (found < 0 || st.st_mtim.tv_sec > best.tv_sec
            || (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)
            || (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec == best.tv_nsec
                && strcmp (path, out) > 0)) {
            if (strlen (path) >= cap)
                continue;
            best = st.st_mtim;
            memcpy (out, path, strlen (path) + 1);
            found = 0;
        }
    }
    closedir (d);
    return found;
}

static int
s_frame_stats (const char *path, s_stats_t *s)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    fseek (f, 0, SEEK_END);
    long len = ftell (f);
    fseek (f, 0, SEEK_SET);
    if (len <= 0 || len > 16 * 1024 * 1024) {
        fclose (f);
        return -1;
    }
    unsigned char *jpg = malloc ((size_t) len);
    if (!jpg || fread (jpg, 1, (size_t) len, f) != (size_t) len) {
        fclose (f);
        free (jpg);
        return -1;
    }
    fclose (f);
    tjhandle tj = tjInitDecompress ();
    int w, h, sub, cs, rc = -1;
    unsigned char *rgb = NULL;
    if (!tj || tjDecompressHeader3 (tj, jpg, (unsigned long) len, &w, &h, &sub, &cs) != 0)
        goto done;
    //  Let the decoder scale down (1/2, 1/4, 1/8) to at most 320 wide.
    int num = 1, den = 1;
    while (w * num / den > 320 && den < 8)
        den *= 2;
    int sw = TJSCALED (w, ((tjscalingfactor){num, den})), sh = TJSCALED (h, ((tjscalingfactor){num, den}));
    if (sw < 3 || sh < 3)
        goto done;
    rgb = malloc ((size_t) sw * (size_t) sh * 3);
    if (!rgb || tjDecompress2 (tj, jpg, (unsigned long) len, rgb, sw, 0, sh, TJPF_RGB, 0) != 0)
        goto done;
    size_t n = (size_t) sw * (size_t) sh;
    double *y = malloc (n * sizeof *y);
    if (!y)
        goto done;
    double sum = 0, sum2 = 0, sat = 0;
    for (size_t i = 0; i < n; i++) {
        double r = rgb[3 * i] / 255.0, g = rgb[3 * i + 1] / 255.0, b = rgb[3 * i + 2] / 255.0;
        double l = 0.299 * r + 0.587 * g + 0.114 * b;
        y[i] = l;
        sum += l;
        sum2 += l * l;
        double mx = fmax (r, fmax (g, b)), mn = fmin (r, fmin (g, b));
        sat += mx > 0 ? (mx - mn) / mx : 0;
    }
    s->luma = sum / (double) n;
    double var = sum2 / (double) n - s->luma * s->luma;
    s->contrast = var > 0 ? sqrt (var) : 0;
    s->saturation = sat / (double) n;
    size_t strong = 0, inner = 0;
    for (int j = 1; j < sh - 1; j++)
        for (int i = 1; i < sw - 1; i++) {
            const double *p = y + (size_t) j * (size_t) sw + (size_t) i;
            double gx = (p[-sw + 1] + 2 * p[1] + p[sw + 1]) - (p[-sw - 1] + 2 * p[-1] + p[sw - 1]);
            double gy = (p[sw - 1] + 2 * p[sw] + p[sw + 1]) - (p[-sw - 1] + 2 * p[-sw] + p[-sw + 1]);
            strong += sqrt (gx * gx + gy * gy) > 0.25;
            inner++;
        }
    s->edges = inner ? (double) strong / (double) inner : 0;
    free (y);
    rc = 0;
done:
    free (rgb);
    free (jpg);
    if (tj)
        tjDestroy (tj);
    return rc;
}

static void
s_usage (FILE *f)
{
    fprintf (f,
             "usage: mw-envprog [--dir DIR] [--interval-ms MS] [--once] [--night-luma X] [--low-contrast X]\n"
             "                  [--low-edges X] [--grey-saturation X]\n\n"
             "Classifies the newest JPEG frame in DIR (default $MESHWATCH_STATE_DIR/frames) every MS "
             "(default 2000) as day (result 1), night (2)\n"
             "or low visibility (4) from luminance, contrast, saturation and edge density, and prints\n"
             "one JSON line per frame: {\"result\":\"R\",\"class\":...,\"luma\":...}.  A heuristic (see\n"
             "the source's header for the rule and thresholds).\n");
}

int
main (int argc, char **argv)
{
    const char *dir = NULL;
    long interval = 2000;
    bool once = false;
    double night_luma = 0.18, low_contrast = 0.10, low_edges = 0.02, grey_sat = 0.08;
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                         {"interval-ms", required_argument, NULL, 'i'},
                                         {"once", no_argument, NULL, 'o'},
                                         {"night-luma", required_argument, NULL, 'n'},
                                         {"low-contrast", required_argument, NULL, 'c'},
                                         {"low-edges", required_argument, NULL, 'e'},
                                         {"grey-saturation", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'i': interval = atol (optarg); break;
        case 'o': once = true; break;
        case 'n': night_luma = atof (optarg); break;
        case 'c': low_contrast = atof (optarg); break;
        case 'e': low_edges = atof (optarg); break;
        case 's': grey_sat = atof (optarg); break;
        case 'h': s_usage (stdout); return 0;
        default: s_usage (stderr); return 2;
        }
    }
    char def[4096];
    if (!dir && getenv ("MESHWATCH_STATE_DIR")) {
        snprintf (def, sizeof def, "%s/frames", getenv ("MESHWATCH_STATE_DIR"));
        dir = def;
    }
    if (!dir || interval < 50 || interval > 3600000 || optind != argc) {
        s_usage (stderr);
        return 2;
    }
    setvbuf (stdout, NULL, _IOLBF, 0);
    for (;;) {
        char path[8400] = "";
        s_stats_t s;
        if (s_newest (dir, path, sizeof path) != 0)
            fprintf (stderr, "mw-envprog: no frame in %s\n", dir);
        else if (s_frame_stats (path, &s) != 0)
            fprintf (stderr, "mw-envprog: cannot read %s\n", path);
        else {
            const char *cls = "day", *result = "1";
            if (s.luma < night_luma)
                cls = "night", result = "2";
            else if (s.contrast < low_contrast || s.edges < low_edges
                     || (s.saturation < grey_sat && s.luma < 0.45))
                cls = "low_visibility", result = "4";
            const char *base = strrchr (path, '/');
            base = base ? base + 1 : path;
            for (const char *q = base; *q; q++)
                if (*q == '"' || *q == '\\' || (unsigned char) *q < 0x20 || (unsigned char) *q > 0x7e)
                    base = "?";   //  JSON-safe names only
            printf ("{\"result\":\"%s\",\"class\":\"%s\",\"luma\":%.3f,\"contrast\":%.3f,\"saturation\":%.3f,"
                    "\"edges\":%.4f,\"frame\":\"%s\"}\n",
                    result, cls, s.luma, s.contrast, s.saturation, s.edges, base);
        }
        if (once)
            return 0;
        usleep ((useconds_t) interval * 1000);
    }
}
