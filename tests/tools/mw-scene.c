/*  =========================================================================
    mw-scene - write a synthetic camera frame of a kind of scene (test tool:
    the environment program's inputs, tests/deploy/env_variant_ns.sh).

    Usage: mw-scene day|rain|night OUT.jpg [SEED]

      day    bright, saturated, sharp: coloured blocks with hard edges and
             a sky gradient (what a sunny scene gives the statistics)
      rain   mid-dark grey, low contrast, soft: smooth noise without edges
             (fog, rain, a wet lens)
      night  nearly black with a few lights
    320 x 240 RGB, libturbojpeg quality 90.
    ========================================================================= */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

int
main (int argc, char **argv)
{
    if (argc < 3 || (strcmp (argv[1], "day") && strcmp (argv[1], "rain") && strcmp (argv[1], "night"))) {
        fprintf (stderr, "usage: mw-scene day|rain|night OUT.jpg [SEED]\n");
        return 1;
    }
    const int w = 320, h = 240;
    unsigned long long rng = argc > 3 ? strtoull (argv[3], NULL, 10) * 2654435761ULL + 1 : 12345;
    unsigned char *img = malloc ((size_t) w * h * 3);
    if (!img)
        return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = img + 3 * ((size_t) y * w + (size_t) x);
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int noise = (int) ((rng >> 33) % 9) - 4;
            if (!strcmp (argv[1], "day")) {
                if (y < h / 3) {   //  sky
                    p[0] = (unsigned char) (90 + y / 2);
                    p[1] = (unsigned char) (160 + y / 3);
                    p[2] = 250;
                }
                else {   //  blocks: buildings, cars, grass
                    int bx = x / 40, by = y / 30, c = (bx * 7 + by * 3) % 5;
                    static const unsigned char col[5][3] = {
                        {230, 40, 30}, {40, 200, 60}, {250, 220, 40}, {240, 240, 240}, {30, 90, 220}};
                    for (int k = 0; k < 3; k++)
                        p[k] = (unsigned char) (col[c][k] + noise < 0     ? 0
                                                : col[c][k] + noise > 255 ? 255
                                                                          : col[c][k] + noise);
                }
            }
            else if (!strcmp (argv[1], "rain")) {
                double v = 88 + 6 * sin (x / 37.0) + 5 * cos (y / 29.0) + noise / 2.0;
                p[0] = (unsigned char) v;
                p[1] = (unsigned char) (v + 2);
                p[2] = (unsigned char) (v + 4);
            }
            else {
                int light = ((x / 50) % 3 == 0 && (y / 40) % 2 == 0 && x % 50 < 4 && y % 40 < 4);
                int v = light ? 220 : 8 + noise / 2;
                p[0] = p[1] = (unsigned char) (v < 0 ? 0 : v);
                p[2] = (unsigned char) (v < 0 ? 0 : v);
            }
        }
    tjhandle tj = tjInitCompress ();
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    if (!tj || tjCompress2 (tj, img, w, 0, h, TJPF_RGB, &jpg, &len, TJSAMP_420, 90, 0) != 0) {
        fprintf (stderr, "mw-scene: %s\n", tjGetErrorStr ());
        return 1;
    }
    FILE *f = fopen (argv[2], "wb");
    if (!f || fwrite (jpg, 1, len, f) != len) {
        fprintf (stderr, "mw-scene: cannot write %s\n", argv[2]);
        return 1;
    }
    fclose (f);
    tjFree (jpg);
    tjDestroy (tj);
    free (img);
    return 0;
}
