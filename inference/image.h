/*  =========================================================================
    mw_image - RGB frames in, model input tensors out.

    Decoding: JPEG through libturbojpeg and binary PPM (P6, maxval 255) for
    exact pixel comparisons with the reference.  Sizes come from the header
    and are checked (1..65535 per side, at most MW_IMAGE_MAX_PIXELS) before
    any pixel memory is allocated; a truncated or corrupt file is an error,
    not a grey image.

    Preprocessing is face-api's NetInput.toBatchTensor (S, isCenter=false):
    pad to a square with zeros at the bottom or right, bilinear resize to
    S x S with tf.image.resizeBilinear (alignCorners = false,
    halfPixelCenters = false), then a per-channel affine normalisation
        out = (v - sub[c]) / div + add
    done in float32 in the same order as tfjs.
    ========================================================================= */
#ifndef MW_IMAGE_H_INCLUDED
#define MW_IMAGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_IMAGE_MAX_PIXELS (64u * 1024 * 1024)
#define MW_IMAGE_MAX_SIDE   65535
//  Default frame limit of the daemon (MAX_FRAME_PIXELS): 4096 x 4096.  4K
//  UHD (8.3 MP) and 12 MP fisheye cameras fit; the models see 416-512 px
//  anyway.  A decode at the limit costs 48 MB of RGB.
#define MW_IMAGE_DEFAULT_MAX_PIXELS (4096u * 4096)
//  Largest file we read into memory.
#define MW_IMAGE_MAX_FILE (256u << 20)

typedef struct _mw_image_t mw_image_t;

typedef struct {
    float sub[3];
    float div;
    float add;
} mw_norm_t;

//  A zeroed width x height RGB image; NULL if the size is out of range.
mw_image_t *mw_image_new (int width, int height);
//  Decode JPEG or PPM (P6) by looking at the first bytes.
mw_image_t *mw_image_decode (const uint8_t *data, size_t len, char *err, size_t errlen);
//  A frame's size from its header alone, and what decoding it would cost
//  in pixels' worth of RGB (width x height, x3 for a progressive JPEG:
//  libjpeg then holds every DCT coefficient of the image, up to 6 bytes a
//  pixel, besides the 3 of the output).  0, or -1 with err.
int mw_image_probe (const uint8_t *data, size_t len, int *width, int *height, uint64_t *cost_pixels,
                    char *err, size_t errlen);
//  mw_image_decode, refused from the header (before any pixel memory) when
//  the cost passes max_pixels (0 = MW_IMAGE_MAX_PIXELS): an image bomb,
//  e.g. a 1 MiB JPEG that says 8192 x 8192 (192 MB to decode).
mw_image_t *mw_image_decode_max (const uint8_t *data, size_t len, uint64_t max_pixels, char *err,
                                 size_t errlen);
mw_image_t *mw_image_load (const char *path, char *err, size_t errlen);
//  A binary PPM (P6, maxval 255) read in place: *pixels points into data
//  (packed RGB, width*3 bytes a row).  The camera ingest hands frames to
//  the runner this way: no JPEG round trip, no copy.  0, or -1 with err.
int mw_image_ppm_view (const uint8_t *data, size_t len, const uint8_t **pixels, int *width, int *height,
                       char *err, size_t errlen);
void mw_image_destroy (mw_image_t **self_p);

int mw_image_width (mw_image_t *self);
int mw_image_height (mw_image_t *self);
//  Packed RGB, width*3 bytes a row.
uint8_t *mw_image_data (mw_image_t *self);
int mw_image_save_ppm (mw_image_t *self, const char *path);

//  Pad + resize + normalise an RGB frame (stride bytes a row) into out,
//  [size][size][3] floats.
void mw_image_preprocess (const uint8_t *rgb, int width, int height, size_t stride, int size,
                          const mw_norm_t *norm, float *out);

int mw_image_test (bool verbose);

#endif
