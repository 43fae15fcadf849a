/*  =========================================================================
    pkg_import - container images from what a site already has, staged for
    an oci-image package:

      docker-archive:FILE        what `docker save` writes (manifest.json,
                                 the config, layer tars)
      oci-archive:FILE[:REF]     an OCI image layout in a tar (skopeo,
                                 podman save --format oci-archive, buildah)
      registry:HOST:PORT/REPO:TAG  (or ...@sha256:DIGEST) the Docker
                                 Registry HTTP API v2 over HTTP - a LAN
                                 registry:2 like the seed's;
      registry+https:...         the same over HTTPS

    Every blob is checked against its digest as it streams to disk (a
    registry or archive that serves other bytes than it names is refused).
    Manifest lists and OCI indexes are resolved to one platform (the one
    asked for, else this machine's).  Docker schema 2 manifests become OCI
    manifests (what skopeo does copying to an OCI layout: new media types,
    same blobs); OCI manifests are kept byte for byte.
    ========================================================================= */
#ifndef PKG_IMPORT_H_INCLUDED
#define PKG_IMPORT_H_INCLUDED

#include "pkg/layout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A staged image: its blobs are files in dir (named by hex digest).
typedef struct {
    char dir[4096];
    char *manifest;   //  the OCI image manifest's bytes (malloc'ed)
    size_t manifest_len;
    pkg_manifest_t m;
    uint8_t manifest_digest[32];
    char arch[32], os[32];      //  from the image config
    char name[128], tag[128];   //  what the source calls it ("" if nothing)
} pkg_image_t;

//  Stage `src` into a new folder under workdir.  arch: the platform to
//  take from a multi-platform image (NULL: this machine's).  0, or -1 with
//  the reason in err (the folder is removed).
int pkg_import (const char *src, const char *arch, const char *workdir, pkg_image_t *img, char *err,
                size_t errlen);
//  Remove the staged folder and free the manifest.
void pkg_image_cleanup (pkg_image_t *img);
//  The file holding blob `d` in the staged image.
void pkg_image_blob_path (const pkg_image_t *img, const uint8_t d[32], char *out, size_t cap);
//  This machine's architecture in OCI's words (amd64, arm64, ...).
const char *pkg_import_host_arch (void);

int pkg_import_test (bool verbose);

#endif
