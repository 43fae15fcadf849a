/*  =========================================================================
    mw-mkjpeg - write a real JPEG of a given size in pixels and in bytes
    (test tool: image bombs for tests/jobs/jobs_image_bomb_ns.sh).

    Usage: mw-mkjpeg WIDTH HEIGHT BYTES OUT.jpg [--progressive]

    A greyscale image, mid-grey with random noise in its first rows; the
    number of noisy rows is adjusted so that the file comes out near BYTES
    (within 10 %).  So a 1 MiB file can honestly say 8192 x 8192: decoding
    it as RGB takes 192 MB, which is what a bomb is.  Greyscale keeps this
    tool's own buffer at WIDTH x HEIGHT bytes.
    ========================================================================= */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

int
main (int argc, char **argv)
{
    if (argc < 5) {
        fprintf (stderr, "usage: mw-mkjpeg WIDTH HEIGHT BYTES OUT.jpg [--progressive]\n");
        return 1;
    }
    long w = atol (argv[1]), h = atol (argv[2]), want = atol (argv[3]);
    int flags = argc > 5 && !strcmp (argv[5], "--progressive") ? TJFLAG_PROGRESSIVE : 0;
    if (w < 8 || h < 8 || w > 65535 || h > 65535 || want < 1000) {
        fprintf (stderr, "mw-mkjpeg: bad size\n");
        return 1;
    }
    unsigned char *img = malloc ((size_t) w * (size_t) h);
    tjhandle tj = tjInitCompress ();
    if (!img || !tj)
        return 1;
    unsigned long long rng = 88172645463325252ULL;
    long rows = want / w + 1;   //  noise costs about a byte a pixel at quality 90
    unsigned char *jpg = NULL;
    unsigned long len = 0;
    for (int attempt = 0; attempt < 6; attempt++) {
        if (rows > h)
            rows = h;
        memset (img, 128, (size_t) w * (size_t) h);
        for (long i = 0; i < rows * w; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            img[i] = (unsigned char) rng;
        }
        tjFree (jpg);
        jpg = NULL;
        if (tjCompress2 (tj, img, (int) w, (int) w, (int) h, TJPF_GRAY, &jpg, &len, TJSAMP_GRAY, 90, flags)
            != 0) {
            fprintf (stderr, "mw-mkjpeg: %s\n", tjGetErrorStr2 (tj));
            return 1;
        }
        if ((long) len > want * 9 / 10 && (long) len < want * 11 / 10)
            break;
        long per_row = (long) len / (rows ? rows : 1);
        rows = per_row > 0 ? want / per_row : rows * 2;
    }
    FILE *f = fopen (argv[4], "wb");
    if (!f || fwrite (jpg, 1, len, f) != len || fclose (f) != 0) {
        fprintf (stderr, "mw-mkjpeg: cannot write %s\n", argv[4]);
        return 1;
    }
    printf ("mw-mkjpeg: %s %ldx%ld %lu bytes%s\n", argv[4], w, h, len, flags ? " progressive" : "");
    tjFree (jpg);
    tjDestroy (tj);
    free (img);
    return 0;
}
