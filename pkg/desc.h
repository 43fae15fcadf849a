/*  =========================================================================
    pkg_desc - what a package is: the meshwatch manifest, stored as the
    OCI config blob of the package (media type
    application/vnd.meshwatch.package.config.v1+json).

      {"name": "facedet", "version": "1.2.0", "kind": "model",
       "variant": {"weather": "sunny"},
       "model": {"family": "tiny-face", "input_sizes": [416, 608]},
       "exec": {"entry": "bin/run --port 9000", "health": "bin/check",
                "resources": {"cpu_percent": 50, "memory_mb": 512, "gpu": true}},
       "requires": {"arch": "arm64", "cuda": "11.4", "jetpack": "5.1"},
       "image": {"manifest": "sha256:...",
                 "media_type": "application/vnd.oci.image.manifest.v1+json"}}

    `model` describes weights the inference engine loads, `exec` a program
    the agent supervises (part 2 runs it), `image` (kind oci-image) names
    the wrapped container image's own manifest, which travels as the
    package's first layer so that export can hand podman or docker the
    image byte for byte.  Sections that do not apply are absent.

    The config blob is pinned by the manifest, which the signed metadata
    pins, so it is as trusted as the signature.  Parsing is still strict on
    every field it knows (types, lengths) and ignores fields it does not
    (a later release may add some).
    ========================================================================= */
#ifndef PKG_DESC_H_INCLUDED
#define PKG_DESC_H_INCLUDED

#include "pkg/meta.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_DESC_MAX       65536   //  bytes of config blob
#define PKG_DESC_CMD_MAX   1024
#define PKG_DESC_SIZES_MAX 16

typedef struct {
    char name[PKG_NAME_MAX + 1];
    char version[PKG_VERSION_MAX + 1];
    pkg_kind_t kind;
    char variant[PKG_VARIANT_MAX + 1];   //  canonical "k=v,..."
    //  model
    char model_family[64];
    uint32_t input_sizes[PKG_DESC_SIZES_MAX];
    uint32_t n_input_sizes;
    //  exec
    char entry[PKG_DESC_CMD_MAX + 1];
    char health[PKG_DESC_CMD_MAX + 1];
    uint32_t cpu_percent;   //  0 = not stated
    uint32_t memory_mb;
    bool gpu;
    //  requires
    char arch[32];
    char cuda[32];
    char jetpack[32];
    //  oci-image
    uint8_t image_manifest[32];
    char image_media_type[128];
} pkg_desc_t;

//  The config blob's text (malloc'ed), NULL if a field is out of bounds
//  (with the reason in err).
char *pkg_desc_encode (const pkg_desc_t *d, size_t *len, char *err, size_t errlen);
int pkg_desc_decode (const char *text, size_t len, pkg_desc_t *d, char *err, size_t errlen);

int pkg_desc_test (bool verbose);

#endif
