/*  =========================================================================
    pkg_layout - packages as OCI image layouts, in and out.

    A package is an OCI image layout (image-spec v1.1), not a format of our
    own, so the tools a site already has can read it:

      oci-layout                      {"imageLayoutVersion": "1.0.0"}
      index.json                      one manifest, annotated with the
                                      package's name and version
      blobs/sha256/<hex>              the manifest, the config blob (the
                                      meshwatch manifest, pkg_desc) and the
                                      layers
      meshwatch/metadata.json         the signed metadata (pkg_meta) ...
      meshwatch/metadata.json.minisig ... and its minisign signature, so
                                      `minisign -Vm meshwatch/metadata.json`
                                      checks an unpacked package by hand

    The manifest's artifactType is application/vnd.meshwatch.package.v1+json.
    Model and exec packages have one layer: an uncompressed, reproducible
    tar of the files (sorted names, zero times and owners), so the same
    files always give the same digest and pieces are plain byte ranges of
    the weights.  An oci-image package carries a container image as it
    came (its manifest, its config, its layers, each a layer of ours), so
    export hands docker or podman the image byte for byte.  A .mwpkg file
    is the layout in one tar.

    Pieces are cut from the layers concatenated in manifest order (the
    manifest and config are small and travel with the metadata).

    Every JSON document is read with json-c, strictly bounded; tar is
    libarchive both ways; digests are SHA-256 (libsodium).
    ========================================================================= */
#ifndef PKG_LAYOUT_H_INCLUDED
#define PKG_LAYOUT_H_INCLUDED

#include "pkg/desc.h"
#include "pkg/meta.h"
#include "pkg/sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_LAYERS_MAX   128
#define PKG_MANIFEST_MAX 65536
#define PKG_INDEX_MAX    64

#define PKG_ARTIFACT_TYPE      "application/vnd.meshwatch.package.v1+json"
#define PKG_MT_CONFIG          "application/vnd.meshwatch.package.config.v1+json"
#define PKG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define PKG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define PKG_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define PKG_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define PKG_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define PKG_MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define PKG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define PKG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define PKG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define PKG_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define PKG_META_FILE "meshwatch/metadata.json"
#define PKG_SIG_FILE  "meshwatch/metadata.json.minisig"

//  A content descriptor.
typedef struct {
    char media_type[128];
    uint8_t digest[32];
    uint64_t size;
    char title[256];   //  org.opencontainers.image.title, "" if none
} pkg_blob_t;

//  An image or artifact manifest (OCI, or Docker schema 2 before
//  pkg_manifest_to_oci).
typedef struct {
    char media_type[128];
    char artifact_type[128];
    pkg_blob_t config;
    pkg_blob_t layers[PKG_LAYERS_MAX];
    uint32_t n_layers;
} pkg_manifest_t;

int pkg_manifest_parse (const char *text, size_t len, pkg_manifest_t *m, char *err, size_t errlen);
char *pkg_manifest_encode (const pkg_manifest_t *m, size_t *len);
//  Docker schema 2 media types to their OCI names (what skopeo does when
//  copying to an OCI layout).  True if anything changed.
bool pkg_manifest_to_oci (pkg_manifest_t *m);
//  The layers' total size, or UINT64_MAX beyond PKG_SIZE_MAX.
uint64_t pkg_manifest_layers_size (const pkg_manifest_t *m);

//  One entry of an OCI index (or a Docker manifest list).
typedef struct {
    char media_type[128];
    uint8_t digest[32];
    uint64_t size;
    char os[32], arch[32], arch_variant[32];
    char ref[128];   //  org.opencontainers.image.ref.name
    char artifact_type[128];
} pkg_index_entry_t;

int pkg_index_parse (const char *text, size_t len, pkg_index_entry_t *entries, size_t max, size_t *n,
                     char *err, size_t errlen);
char *pkg_index_encode (const pkg_index_entry_t *entries, size_t n, size_t *len);

//  Piece digests over a stream of `size` bytes fed in order.
typedef struct _pkg_piecer_t pkg_piecer_t;
pkg_piecer_t *pkg_piecer_new (uint64_t size, uint32_t piece_size);
void pkg_piecer_destroy (pkg_piecer_t **self_p);
void pkg_piecer_feed (pkg_piecer_t *self, const void *data, size_t len);
//  After exactly `size` bytes: the list (32 bytes per piece, owned by the
//  piecer) and its SHA-256.  -1 if a different number of bytes was fed.
int pkg_piecer_finish (pkg_piecer_t *self, const uint8_t **list, size_t *list_len, uint8_t digest[32]);

//  SHA-256 of a buffer.
void pkg_sha256 (const void *data, size_t len, uint8_t out[32]);

//  The structural check shared by every way a package arrives (file,
//  network): the manifest, config and piece list against the metadata
//  that signed them.  Fills *manifest and *desc.  PKG_OK, or
//  PKG_REFUSE_TAMPERED_MANIFEST / PKG_REFUSE_MALFORMED with err.
pkg_refuse_t pkg_layout_check (const pkg_meta_t *meta, const char *manifest, size_t manifest_len,
                               const char *config, size_t config_len, const uint8_t *pieces,
                               size_t pieces_len, pkg_manifest_t *m, pkg_desc_t *desc, char *err,
                               size_t errlen);

//  Blob bytes for the writers: layer `layer`, `len` bytes from `off`.
typedef int (pkg_blob_reader_fn) (void *ctx, uint32_t layer, uint64_t off, void *buf, size_t len);

//  Build a package file.  Model and exec: `paths` (files and folders)
//  become one layer tar.  oci-image: `blobs` (files as they are, in
//  order: the image manifest, its config, its layers).  Pieces hashed,
//  metadata signed with `key`, the .mwpkg written temp-fsync-rename.
typedef struct {
    const char *path;
    char media_type[128];
    char title[256];
} pkg_build_blob_t;

typedef struct {
    pkg_desc_t desc;
    const char *const *paths;
    size_t n_paths;
    const pkg_build_blob_t *blobs;
    size_t n_blobs;
    const pkg_seckey_t *key;
    bool legacy_sig;    //  sign with minisign's legacy "Ed" form
    uint64_t seq;       //  0: the current Unix time
    uint64_t expires;   //  Unix seconds
    const char *out;
    const char *tmpdir;   //  where the layer tar is made (NULL: next to out)
} pkg_build_opts_t;

int pkg_build (const pkg_build_opts_t *o, pkg_meta_t *meta_out, char *err, size_t errlen);

//  A .mwpkg being read.  open() reads everything small (index, manifest,
//  config, metadata and signature) and checks the structure against the
//  metadata; the signature is the caller's to check (pkg_sign_verify on
//  pkg_archive_meta); layers stay in the file until copy_layers.
typedef struct _pkg_archive_t pkg_archive_t;

//  NULL with *why set (PKG_REFUSE_*) and the reason in err.
pkg_archive_t *pkg_archive_open (const char *path, pkg_refuse_t *why, char *err, size_t errlen);
void pkg_archive_destroy (pkg_archive_t **self_p);
const char *pkg_archive_meta_text (pkg_archive_t *self, size_t *len);
//  NULL if the package carries no signature.
const char *pkg_archive_sig_text (pkg_archive_t *self, size_t *len);
const pkg_meta_t *pkg_archive_meta (pkg_archive_t *self);
const pkg_manifest_t *pkg_archive_manifest (pkg_archive_t *self);
const pkg_desc_t *pkg_archive_desc (pkg_archive_t *self);
const char *pkg_archive_manifest_text (pkg_archive_t *self, size_t *len);
const char *pkg_archive_config_text (pkg_archive_t *self, size_t *len);
//  Write the layers into fd, concatenated in manifest order from offset
//  0, each checked against its digest as it streams.  PKG_OK, or
//  PKG_REFUSE_TAMPERED_BLOB (a blob whose bytes are not its digest, or
//  missing), or PKG_REFUSE_MALFORMED (I/O), with err.
pkg_refuse_t pkg_archive_copy_layers (pkg_archive_t *self, int fd, char *err, size_t errlen);

//  Write a .mwpkg from parts (export, and the last step of build).
int pkg_layout_write_mwpkg (const char *out, const char *meta, size_t meta_len, const char *sig,
                            size_t sig_len, const char *manifest, size_t manifest_len, const char *config,
                            size_t config_len, const pkg_manifest_t *m, pkg_blob_reader_fn *reader, void *ctx,
                            char *err, size_t errlen);

//  Export the container image an oci-image package carries: an OCI
//  archive (index -> the image's own manifest, tagged `tag`) or a Docker
//  archive (manifest.json with RepoTags name:tag), what `docker load`,
//  `podman load` and `skopeo` read.  `m` is the package manifest (layer 0
//  the image manifest, layer 1 its config, then its layers).
typedef enum { PKG_EXPORT_OCI = 0, PKG_EXPORT_DOCKER } pkg_export_format_t;
int pkg_layout_write_image (const char *out, pkg_export_format_t format, const char *name, const char *tag,
                            const pkg_manifest_t *m, pkg_blob_reader_fn *reader, void *ctx, char *err,
                            size_t errlen);
//  The same image as an OCI layout directory (for `pkg path`).
int pkg_layout_write_image_dir (const char *dir, const char *tag, const pkg_manifest_t *m,
                                pkg_blob_reader_fn *reader, void *ctx, char *err, size_t errlen);

//  Unpack the tar at [off, off + len) of fd into dir: regular files,
//  folders and symlinks that stay inside dir only, no absolute or ".."
//  names, no devices, no sparse files.  0, or -1 with err.
int pkg_layout_untar (int fd, uint64_t off, uint64_t len, const char *dir, char *err, size_t errlen);
//  The same, checking the bytes read against `digest` (SHA-256) on the way,
//  so a completed download is read once: 0, -1 (err), or -2 when the layer
//  is not its digest (what was unpacked must then be thrown away).
int pkg_layout_untar_verify (int fd, uint64_t off, uint64_t len, const char *dir, const uint8_t digest[32],
                             char *err, size_t errlen);

//  Compare the files unpacked in `dir` with the layer's tar (at off, len
//  in fd) byte for byte: for each regular file that differs, `bad` is
//  called with the byte ranges of the layer that carry the differing
//  bytes ([from, to), 64 KiB granules of the file's data), or its whole
//  tar entry when it is missing or of another size.  Returns how many
//  files differ, or -1 with err when the layer cannot be read.
typedef void (pkg_layout_bad_fn) (void *ctx, uint64_t from, uint64_t to, const char *name);
int pkg_layout_check_tree (int fd, uint64_t off, uint64_t len, const char *dir, pkg_layout_bad_fn *bad,
                           void *ctx, char *err, size_t errlen);

int pkg_layout_test (bool verbose);

#endif
