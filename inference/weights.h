/*  =========================================================================
    mw_weights - TensorFlow.js weights-manifest loader (face-api model/ dir).

    A tfjs model ships as `<name>-weights_manifest.json` plus one or more
    `.bin` shards.  The manifest lists tensors (name, shape, dtype and an
    optional quantisation {dtype, scale, min}); their bytes are packed back
    to back, in manifest order, across the group's shards with no
    alignment.  We dequantise everything once at load time into one float32
    arena (value = q*scale + min, computed in double like tfjs) and then
    hand out const pointers by name, checking the shape the caller expects.

    Everything here is file input: nothing asserts on it, every size is
    bounded and checked before use, and a failure is a message in `err`.
    ========================================================================= */
#ifndef MW_WEIGHTS_H_INCLUDED
#define MW_WEIGHTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_WEIGHTS_MAX_DIMS 6
//  Bounds on what we accept from a manifest (the SSD model is 5.6 MB,
//  151 entries): generous but finite.
#define MW_WEIGHTS_MAX_MANIFEST (4u << 20)   //  bytes of JSON
#define MW_WEIGHTS_MAX_ENTRIES  4096
#define MW_WEIGHTS_MAX_ELEMS    (64u << 20)    //  floats, all tensors together
#define MW_WEIGHTS_MAX_BIN      (256u << 20)   //  bytes of .bin, all shards

typedef struct _mw_weights_t mw_weights_t;

//  Load `<dir>/<manifest>` and the shards it names (relative to dir).
//  Returns NULL with a message in err (if err != NULL) on any failure.
mw_weights_t *mw_weights_load (const char *dir, const char *manifest, char *err, size_t errlen);

//  Same from memory: the manifest JSON and the concatenation of all shards
//  in manifest order (used by the fuzzer and the tests).
mw_weights_t *mw_weights_load_buffer (const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
                                      char *err, size_t errlen);

void mw_weights_destroy (mw_weights_t **self_p);

//  Tensor `name` with exactly `ndims` dims equal to `shape` (ndims 0 =
//  scalar).  Returns NULL and a message in err if it is missing or its shape
//  differs.  The pointer lives as long as the weights object.
const float *mw_weights_get (mw_weights_t *self, const char *name, int ndims, const int *shape, char *err,
                             size_t errlen);

size_t mw_weights_count (mw_weights_t *self);
//  Total float32 elements held.
size_t mw_weights_elems (mw_weights_t *self);

int mw_weights_test (bool verbose);

#endif
