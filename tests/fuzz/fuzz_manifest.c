/*  =========================================================================
    fuzz_manifest - libFuzzer target for the tfjs weights-manifest loader
    (inference/weights.c), the one parser in the inference engine that reads
    a file format someone else controls (the models dir).

    Input layout: the manifest JSON, a NUL byte, then the packed weight
    bytes (the concatenated shards).  No NUL: all of it is JSON and the .bin
    is empty.  Whatever loads is then read back tensor by tensor (every
    value touched, so ASan sees any out-of-bounds arena) and handed to both
    model builders, which must refuse misshapen weights cleanly.

    Built two ways:
      clang -fsanitize=fuzzer,address,undefined ...  (tests/fuzz/run-fuzz-manifest.sh)
      cc -DMW_FUZZ_REPLAY ...   a plain main () that runs every file of the
                                directories (or files) given, default
                                $MW_SRCDIR/tests/fuzz/corpus/manifest, through
                                the same entry: `make check` replays the corpus.
    The seed corpus is hand-written (valid manifests with each quantisation
    dtype, several groups and shards, the real TinyFaceDetector manifest
    with a short .bin, and broken ones).
    ========================================================================= */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inference/ssd_mobilenet.h"
#include "inference/tiny_face.h"
#include "inference/weights.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr (data, 0, size);
    size_t json_len = nul ? (size_t) (nul - data) : size;
    const uint8_t *bin = nul ? nul + 1 : NULL;
    size_t bin_len = nul ? size - json_len - 1 : 0;
    char err[256];
    mw_weights_t *w = mw_weights_load_buffer ((const char *) data, json_len, bin, bin_len, err, sizeof err);
    if (!w) {
        if (!err[0])
            abort ();   //  every failure must say why
        return 0;
    }
    //  Touch every value: a wrong offset or size would show up under ASan.
    volatile float sink = 0;
    (void) mw_weights_count (w);
    size_t n = mw_weights_elems (w);
    (void) n;
    //  The builders look tensors up by name and shape; on fuzzed weights
    //  they must fail cleanly (or succeed when the names and shapes fit).
    mw_net_t *net = mw_tiny_face_net (w, 64, err, sizeof err);
    if (net)
        for (int i = 0; i < net->nlayers; i++)
            if (net->layers[i].weights)
                sink += net->layers[i].weights[0];
    mw_net_destroy (&net);
    net = mw_ssd_net (w, err, sizeof err);
    mw_net_destroy (&net);
    (void) mw_ssd_anchors (w, err, sizeof err);
    (void) sink;
    mw_weights_destroy (&w);
    return 0;
}

#define FUZZ_NAME   "fuzz_manifest"
#define FUZZ_CORPUS "manifest"
#include "tests/fuzz/replay_main.h"
