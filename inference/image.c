/*  =========================================================================
    mw_image - decode (JPEG, PPM) and preprocess frames for the detectors.

    Why PPM at all: JPEG decoders differ (libjpeg-turbo vs the jpeg-js the
    reference uses differ by a few levels even with plain upsampling), so
    the exact-tensor comparisons with the original implementation feed both
    sides the same raw pixels, and P6 is the simplest container for them.

    JPEG is decoded with TJFLAG_FASTUPSAMPLE (libjpeg's
    do_fancy_upsampling = FALSE): jpeg-js replicates chroma samples, and
    this keeps us within ~3 levels of it instead of ~34 with fancy
    upsampling.  TJFLAG_STOPONWARNING turns "premature end of data" into an
    error instead of a half-grey frame.

    The resize follows tfjs-backend-cpu's ResizeBilinear: source position
    f = r * side / S (no half-pixel offset), r0 = floor(f),
    r1 = min(side - 1, ceil(f)), lerp along x then y, in double, stored as
    float32.  Pixels beyond the real image (the square's padding) are 0.
    ========================================================================= */
#include "inference/image.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

struct _mw_image_t {
    int width, height;
    uint8_t *data;
};

static void
s_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
}

static bool
s_size_ok (long w, long h, char *err, size_t errlen)
{
    if (w < 1 || h < 1 || w > MW_IMAGE_MAX_SIDE || h > MW_IMAGE_MAX_SIDE) {
        s_err (err, errlen, "image size %ldx%ld out of range (1..%d per side)", w, h, MW_IMAGE_MAX_SIDE);
        return false;
    }
    if ((uint64_t) w * (uint64_t) h > MW_IMAGE_MAX_PIXELS) {
        s_err (err, errlen, "image %ldx%ld has more than %u pixels", w, h, MW_IMAGE_MAX_PIXELS);
        return false;
    }
    return true;
}

mw_image_t *
mw_image_new (int width, int height)
{
    if (!s_size_ok (width, height, NULL, 0))
        return NULL;
    mw_image_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->width = width;
    self->height = height;
    self->data = calloc ((size_t) width * height, 3);
    if (!self->data) {
        free (self);
        return NULL;
    }
    return self;
}

void
mw_image_destroy (mw_image_t **self_p)
{
    assert (self_p);
    mw_image_t *self = *self_p;
    if (!self)
        return;
    free (self->data);
    free (self);
    *self_p = NULL;
}

int
mw_image_width (mw_image_t *self)
{
    assert (self);
    return self->width;
}

int
mw_image_height (mw_image_t *self)
{
    assert (self);
    return self->height;
}

uint8_t *
mw_image_data (mw_image_t *self)
{
    assert (self);
    return self->data;
}

static mw_image_t *
s_decode_jpeg (const uint8_t *data, size_t len, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress ();
    if (!tj) {
        s_err (err, errlen, "jpeg: cannot init decoder");
        return NULL;
    }
    mw_image_t *self = NULL;
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (len > (unsigned long) -1
        || tjDecompressHeader3 (tj, data, (unsigned long) len, &w, &h, &subsamp, &colorspace) != 0) {
        s_err (err, errlen, "jpeg: bad header: %s", tjGetErrorStr2 (tj));
        goto done;
    }
    if (w < 1 || h < 1) {
        //  libjpeg-turbo can "succeed" on a header cut short, with no size.
        s_err (err, errlen, "jpeg: truncated or invalid header (no frame size)");
        goto done;
    }
    if (!s_size_ok (w, h, err, errlen))
        goto done;
    self = mw_image_new (w, h);
    if (!self) {
        s_err (err, errlen, "jpeg: out of memory for %dx%d", w, h);
        goto done;
    }
    if (tjDecompress2 (tj, data, (unsigned long) len, self->data, w, w * 3, h, TJPF_RGB,
                       TJFLAG_FASTUPSAMPLE | TJFLAG_STOPONWARNING)
        != 0) {
        s_err (err, errlen, "jpeg: corrupt or truncated data: %s", tjGetErrorStr2 (tj));
        mw_image_destroy (&self);
    }
done:
    tjDestroy (tj);
    return self;
}

//  P6 header token: a decimal number after whitespace and # comments.
static bool
s_ppm_number (const uint8_t *d, size_t len, size_t *pos, long *value)
{
    for (;;) {
        while (*pos < len && (d[*pos] == ' ' || d[*pos] == '\t' || d[*pos] == '\n' || d[*pos] == '\r'))
            (*pos)++;
        if (*pos < len && d[*pos] == '#') {
            while (*pos < len && d[*pos] != '\n')
                (*pos)++;
            continue;
        }
        break;
    }
    long v = 0;
    size_t start = *pos;
    while (*pos < len && d[*pos] >= '0' && d[*pos] <= '9' && *pos - start < 9)
        v = v * 10 + (d[(*pos)++] - '0');
    if (*pos == start || (*pos < len && d[*pos] >= '0' && d[*pos] <= '9'))
        return false;
    *value = v;
    return true;
}

int
mw_image_ppm_view (const uint8_t *data, size_t len, const uint8_t **pixels, int *width, int *height,
                   char *err, size_t errlen)
{
    size_t pos = 2;
    long w, h, maxval;
    if (!data || len < 3 || data[0] != 'P' || data[1] != '6' || !s_ppm_number (data, len, &pos, &w)
        || !s_ppm_number (data, len, &pos, &h) || !s_ppm_number (data, len, &pos, &maxval) || pos >= len
        || !(data[pos] == ' ' || data[pos] == '\n' || data[pos] == '\r' || data[pos] == '\t')) {
        s_err (err, errlen, "ppm: malformed P6 header");
        return -1;
    }
    pos++;
    if (maxval != 255) {
        s_err (err, errlen, "ppm: maxval %ld not supported (only 255)", maxval);
        return -1;
    }
    if (!s_size_ok (w, h, err, errlen))
        return -1;
    size_t need = (size_t) w * (size_t) h * 3;
    if (len - pos < need) {
        s_err (err, errlen, "ppm: truncated: %zu of %zu pixel bytes", len - pos, need);
        return -1;
    }
    *pixels = data + pos;
    *width = (int) w;
    *height = (int) h;
    return 0;
}

static mw_image_t *
s_decode_ppm (const uint8_t *data, size_t len, char *err, size_t errlen)
{
    const uint8_t *px;
    int w, h;
    if (mw_image_ppm_view (data, len, &px, &w, &h, err, errlen) != 0)
        return NULL;
    mw_image_t *self = mw_image_new (w, h);
    if (!self) {
        s_err (err, errlen, "ppm: out of memory for %dx%d", w, h);
        return NULL;
    }
    memcpy (self->data, px, (size_t) w * (size_t) h * 3);
    return self;
}

//  Is this JPEG progressive?  Walk the marker segments up to the first SOF
//  (bounded by len; anything odd reads as "not progressive": the decoder
//  itself will judge it).
static bool
s_jpeg_progressive (const uint8_t *d, size_t len)
{
    size_t p = 2;
    while (p + 4 <= len) {
        if (d[p] != 0xFF)
            return false;
        uint8_t m = d[p + 1];
        if (m == 0xFF) {   //  fill byte
            p++;
            continue;
        }
        //  SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
        size_t seg = (size_t) d[p + 2] << 8 | d[p + 3];
        if (seg < 2)
            return false;
        p += 2 + seg;
    }
    return false;
}

int
mw_image_probe (const uint8_t *data, size_t len, int *width, int *height, uint64_t *cost_pixels, char *err,
                size_t errlen)
{
    *width = *height = 0;
    *cost_pixels = 0;
    if (!data || len < 3) {
        s_err (err, errlen, "image: empty or too short (%zu bytes)", len);
        return -1;
    }
    long w = 0, h = 0;
    bool progressive = false;
    if (data[0] == 0xFF && data[1] == 0xD8) {
        tjhandle tj = tjInitDecompress ();
        int iw = 0, ih = 0, subsamp = 0, colorspace = 0;
        int rc = tj && len <= (unsigned long) -1
                     ? tjDecompressHeader3 (tj, data, (unsigned long) len, &iw, &ih, &subsamp, &colorspace)
                     : -1;
        if (rc != 0 || iw < 1 || ih < 1)
            s_err (err, errlen, "jpeg: bad header: %s", tj ? tjGetErrorStr2 (tj) : "no decoder");
        if (tj)
            tjDestroy (tj);
        if (rc != 0 || iw < 1 || ih < 1)
            return -1;
        w = iw, h = ih;
        progressive = s_jpeg_progressive (data, len);
    }
    else if (data[0] == 'P' && data[1] == '6') {
        size_t pos = 2;
        long maxval;
        if (!s_ppm_number (data, len, &pos, &w) || !s_ppm_number (data, len, &pos, &h)
            || !s_ppm_number (data, len, &pos, &maxval)) {
            s_err (err, errlen, "ppm: malformed P6 header");
            return -1;
        }
    }
    else {
        s_err (err, errlen, "image: not a JPEG or binary PPM (P6) file");
        return -1;
    }
    if (!s_size_ok (w, h, err, errlen))
        return -1;
    *width = (int) w;
    *height = (int) h;
    *cost_pixels = (uint64_t) w * (uint64_t) h * (progressive ? 3 : 1);
    return 0;
}

mw_image_t *
mw_image_decode_max (const uint8_t *data, size_t len, uint64_t max_pixels, char *err, size_t errlen)
{
    int w, h;
    uint64_t cost;
    if (mw_image_probe (data, len, &w, &h, &cost, err, errlen) != 0)
        return NULL;
    if (!max_pixels)
        max_pixels = MW_IMAGE_MAX_PIXELS;
    if (cost > max_pixels) {
        if (cost == (uint64_t) w * h)
            s_err (err, errlen, "frame too large: %dx%d = %llu px > MAX_FRAME_PIXELS=%llu", w, h,
                   (unsigned long long) cost, (unsigned long long) max_pixels);
        else
            s_err (err, errlen, "frame too large: progressive %dx%d costs %llu px > MAX_FRAME_PIXELS=%llu", w,
                   h, (unsigned long long) cost, (unsigned long long) max_pixels);
        return NULL;
    }
    return mw_image_decode (data, len, err, errlen);
}

mw_image_t *
mw_image_decode (const uint8_t *data, size_t len, char *err, size_t errlen)
{
    if (!data || len < 3) {
        s_err (err, errlen, "image: empty or too short (%zu bytes)", len);
        return NULL;
    }
    if (data[0] == 0xFF && data[1] == 0xD8)
        return s_decode_jpeg (data, len, err, errlen);
    if (data[0] == 'P' && data[1] == '6')
        return s_decode_ppm (data, len, err, errlen);
    s_err (err, errlen, "image: not a JPEG or binary PPM (P6) file");
    return NULL;
}

mw_image_t *
mw_image_load (const char *path, char *err, size_t errlen)
{
    assert (path);
    FILE *f = fopen (path, "rb");
    if (!f) {
        s_err (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (f), &st) != 0 || !S_ISREG (st.st_mode) || (uint64_t) st.st_size > MW_IMAGE_MAX_FILE) {
        s_err (err, errlen, "%s: not a regular file of at most %u bytes", path, MW_IMAGE_MAX_FILE);
        fclose (f);
        return NULL;
    }
    size_t len = (size_t) st.st_size;
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf || (len && fread (buf, 1, len, f) != len)) {
        s_err (err, errlen, "%s: read failed", path);
        free (buf);
        fclose (f);
        return NULL;
    }
    fclose (f);
    char derr[200];
    mw_image_t *self = mw_image_decode (buf, len, derr, sizeof derr);
    if (!self)
        s_err (err, errlen, "%s: %s", path, derr);
    free (buf);
    return self;
}

int
mw_image_save_ppm (mw_image_t *self, const char *path)
{
    assert (self && path);
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    fprintf (f, "P6\n%d %d\n255\n", self->width, self->height);
    size_t n = (size_t) self->width * self->height * 3;
    int rc = fwrite (self->data, 1, n, f) == n ? 0 : -1;
    if (fclose (f) != 0)
        rc = -1;
    return rc;
}

//  Source sample position for output index r (tfjs, no half-pixel centres).
static void
s_coord (int r, double ratio, int side, int *i0, int *i1, double *frac)
{
    double f = ratio * r;
    int lo = (int) floor (f);
    if (lo < 0)
        lo = 0;
    int hi = (int) ceil (f);
    if (hi > side - 1)
        hi = side - 1;
    *i0 = lo;
    *i1 = hi;
    *frac = f - lo;
}

void
mw_image_preprocess (const uint8_t *rgb, int width, int height, size_t stride, int size,
                     const mw_norm_t *norm, float *out)
{
    assert (rgb && width > 0 && height > 0 && stride >= (size_t) width * 3 && size > 0 && norm && out);
    const int side = width > height ? width : height;
    const double ratio = (double) side / size;
    //  Column coordinates once; x >= width reads the zero padding.
    int xs[2 * 4096];
    double xf[4096];
    int *x0 = xs, *x1 = xs + 4096;
    assert (size <= 4096);
    for (int c = 0; c < size; c++)
        s_coord (c, ratio, side, &x0[c], &x1[c], &xf[c]);
    for (int r = 0; r < size; r++) {
        int y0, y1;
        double yf;
        s_coord (r, ratio, side, &y0, &y1, &yf);
        const uint8_t *row0 = y0 < height ? rgb + (size_t) y0 * stride : NULL;
        const uint8_t *row1 = y1 < height ? rgb + (size_t) y1 * stride : NULL;
        float *o = out + (size_t) r * size * 3;
        for (int c = 0; c < size; c++) {
            const int a = x0[c], b = x1[c];
            for (int ch = 0; ch < 3; ch++) {
                double tl = row0 && a < width ? row0[a * 3 + ch] : 0.0;
                double tr = row0 && b < width ? row0[b * 3 + ch] : 0.0;
                double bl = row1 && a < width ? row1[a * 3 + ch] : 0.0;
                double br = row1 && b < width ? row1[b * 3 + ch] : 0.0;
                double top = tl + (tr - tl) * xf[c];
                double bot = bl + (br - bl) * xf[c];
                float v = (float) (top + (bot - top) * yf);
                float t = (v - norm->sub[ch]) / norm->div;
                o[c * 3 + ch] = norm->add != 0.f ? t + norm->add : t;
            }
        }
    }
}

//  --------------------------------------------------------------------------

int
mw_image_test (bool verbose)
{
    int fails = 0;
    char err[256];
    //  PPM round trip and bad headers.
    const char ppm[] = "P6\n# c\n2 1\n255\n\x01\x02\x03\x04\x05\x06";
    mw_image_t *img = mw_image_decode ((const uint8_t *) ppm, sizeof ppm - 1, err, sizeof err);
    fails += !(img && mw_image_width (img) == 2 && mw_image_height (img) == 1 && mw_image_data (img)[5] == 6);
    //  Preprocess: 2x1 padded to 2x2, resized to 4: row 0 from pixel row 0,
    //  rows 2..3 from the zero padding.
    if (img) {
        float out[4 * 4 * 3];
        mw_norm_t id = {{0, 0, 0}, 1.f, 0.f};
        mw_image_preprocess (mw_image_data (img), 2, 1, 6, 4, &id, out);
        //  x: f = 0, .5, 1, 1.5 -> 1, 2.5, 4, 4 for channel 0
        fails += !(out[0] == 1.f && out[3] == 2.5f && out[6] == 4.f && out[9] == 4.f);
        //  row 1: f = 0.5 between row 0 and the padding row
        fails += !(out[12] == 0.5f);
        fails += !(out[24] == 0.f && out[47] == 0.f);
        mw_norm_t tiny = {{117.001f, 114.697f, 97.404f}, 255.f, 0.f};
        mw_image_preprocess (mw_image_data (img), 2, 1, 6, 2, &tiny, out);
        fails += !(out[0] == (1.f - 117.001f) / 255.f);
        mw_image_destroy (&img);
    }
    const char *bad[] = {"P6\n2 1\n65535\n",       "P6\n0 1\n255\n", "P6\n2 1\n255\n\x01",
                         "P6 99999 99999 255 ",    "GIF89a",         "P6\n2",
                         "\xff\xd8\xff\xe0garbage"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        mw_image_t *b = mw_image_decode ((const uint8_t *) bad[i], strlen (bad[i]), err, sizeof err);
        fails += b != NULL || err[0] == 0;
        if (verbose)
            printf ("  bad image %zu: %s\n", i, err);
        mw_image_destroy (&b);
    }
    //  A real JPEG round trip through turbojpeg: encode a gradient, decode
    //  it, then truncate it.
    mw_image_t *g = mw_image_new (64, 48);
    for (int i = 0; i < 64 * 48 * 3; i++)
        mw_image_data (g)[i] = (uint8_t) (i * 7);
    tjhandle tj = tjInitCompress ();
    unsigned char *jpg = NULL;
    unsigned long jlen = 0;
    if (tj
        && tjCompress2 (tj, mw_image_data (g), 64, 64 * 3, 48, TJPF_RGB, &jpg, &jlen, TJSAMP_420, 90, 0)
               == 0) {
        mw_image_t *d = mw_image_decode (jpg, jlen, err, sizeof err);
        fails += !(d && mw_image_width (d) == 64 && mw_image_height (d) == 48);
        mw_image_destroy (&d);
        d = mw_image_decode (jpg, jlen / 2, err, sizeof err);
        fails += d != NULL;
        if (verbose)
            printf ("  truncated jpeg: %s\n", err);
        mw_image_destroy (&d);
    }
    else
        fails++;
    //  Image bombs: the same JPEG claiming 8192 x 8192 in its SOF is refused
    //  from the header by the default limit (no 192 MB decode is tried);
    //  a progressive one costs three times its pixels.
    if (jpg) {
        uint8_t *bomb = malloc (jlen);
        memcpy (bomb, jpg, jlen);
        for (unsigned long i = 2; i + 8 < jlen; i++)
            if (bomb[i] == 0xFF && bomb[i + 1] == 0xC0) {
                bomb[i + 5] = 0x20, bomb[i + 6] = 0x00;   //  height 8192
                bomb[i + 7] = 0x20, bomb[i + 8] = 0x00;   //  width 8192
                break;
            }
        int w = 0, h = 0;
        uint64_t cost = 0;
        fails += !(mw_image_probe (bomb, jlen, &w, &h, &cost, err, sizeof err) == 0 && w == 8192 && h == 8192
                   && cost == 8192ull * 8192);
        mw_image_t *d = mw_image_decode_max (bomb, jlen, MW_IMAGE_DEFAULT_MAX_PIXELS, err, sizeof err);
        fails += d != NULL || !strstr (err, "MAX_FRAME_PIXELS");
        if (verbose)
            printf ("  8192x8192 bomb: %s\n", err);
        mw_image_destroy (&d);
        //  the real one passes the same limit
        d = mw_image_decode_max (jpg, jlen, MW_IMAGE_DEFAULT_MAX_PIXELS, err, sizeof err);
        fails += !(d && mw_image_width (d) == 64);
        mw_image_destroy (&d);
        free (bomb);
    }
    tjFree (jpg);
    jpg = NULL;
    if (tj
        && tjCompress2 (tj, mw_image_data (g), 64, 64 * 3, 48, TJPF_RGB, &jpg, &jlen, TJSAMP_444, 90,
                        TJFLAG_PROGRESSIVE)
               == 0) {
        int w = 0, h = 0;
        uint64_t cost = 0;
        fails += !(mw_image_probe (jpg, jlen, &w, &h, &cost, err, sizeof err) == 0 && cost == 3 * 64 * 48);
        mw_image_t *d = mw_image_decode_max (jpg, jlen, 64 * 48 * 2, err, sizeof err);
        fails += d != NULL || !strstr (err, "progressive");
        if (verbose)
            printf ("  progressive under a tight limit: %s\n", err);
        mw_image_destroy (&d);
        d = mw_image_decode_max (jpg, jlen, 64 * 48 * 3, err, sizeof err);
        fails += d == NULL;
        mw_image_destroy (&d);
    }
    else
        fails++;
    tjFree (jpg);
    tjDestroy (tj);
    mw_image_destroy (&g);
    fails +=
        mw_image_new (0, 5) != NULL || mw_image_new (65536, 2) != NULL || mw_image_new (10000, 10000) != NULL;
    return fails ? -1 : 0;
}
