/*  =========================================================================
    pkg_catalog - the box's packages: what it knows, what it holds, and
    the trust state that keeps old metadata from coming back.

    Where: STATE_DIR/pkg/, a SQLite database of its own (catalog.db, WAL,
    synchronous=FULL) beside the package data, not a table in the node's
    state.db.  Why a database of its own: the CLI publishes, lists and
    removes packages with or without a running agent (two processes on
    one file, which SQLite's WAL handles), a publish hashes and copies
    gigabytes and must not hold the write lock the agent's membership
    writer (state.db's write-behind thread) and event log need, and the
    package store is one folder an operator can size, move or wipe.

      catalog.db          packages (signed metadata, signature, manifest,
                          config, piece list, piece bitmap, state), blobs
                          (each package's layers: digest, offset, size),
                          trust (highest seq per line and key)
      data/<hex>.data     a package's layers concatenated in manifest order
                          (<hex> = its manifest digest): pieces are byte
                          ranges of this file; created sparse at full size
      files/NAME@VERSION/ the unpacked files (model, exec) or an OCI image
                          layout (oci-image), once complete and verified

    Every way a package arrives goes through pkg_catalog_accept (): the
    signature against the keyring, the structure against the signed
    digests, then, in one IMMEDIATE transaction, the trust decision
    (rollback, conflict, expiry) against the persisted trust state and the
    insert.  A refusal changes nothing.  The trust state only grows and is
    kept when a package is removed.

    Concurrency: the agent notices what other processes committed through
    pkg_catalog_data_version () (SQLite's data_version).  A fetch is a
    wish written here (`want`), so it survives the agent's restart.
    ========================================================================= */
#ifndef PKG_CATALOG_H_INCLUDED
#define PKG_CATALOG_H_INCLUDED

#include "pkg/layout.h"
#include "pkg/meta.h"
#include "pkg/sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PKG_STATE_AVAILABLE = 0,   //  known, not (wholly) here, nobody asked for it
    PKG_STATE_FETCHING,        //  asked for, pieces coming
    PKG_STATE_COMPLETE,        //  every piece here and verified, unpacked
    PKG_STATE_CORRUPT,         //  damaged on disk (verify found bad pieces)
    PKG_STATE_COUNT
} pkg_state_t;

const char *pkg_state_name (pkg_state_t s);

typedef struct {
    pkg_meta_t meta;
    char key_id[17];
    pkg_state_t state;
    bool want;    //  a fetch was asked for
    bool local;   //  published on this box
    uint32_t have;
    uint8_t bitmap[PKG_PIECES_MAX / 8];
    uint64_t added_ms;
    char error[256];    //  why the last fetch stopped, "" if it did not
    uint32_t sources;   //  peers holding pieces of it (the agent keeps this up to date)
} pkg_entry_t;

//  The signed parts of a package, as they travel.
typedef struct {
    const char *meta;
    size_t meta_len;
    const char *sig;
    size_t sig_len;
    const char *manifest;
    size_t manifest_len;
    const char *config;
    size_t config_len;
    const uint8_t *pieces;
    size_t pieces_len;
} pkg_parts_t;

typedef enum {
    PKG_ACCEPT_NEW = 0,   //  a package this box did not know
    PKG_ACCEPT_UPDATED,   //  known; re-signed with a higher seq (new expiry)
    PKG_ACCEPT_KNOWN,     //  exactly what the box holds: nothing changed
} pkg_accept_t;

typedef struct _pkg_catalog_t pkg_catalog_t;

pkg_catalog_t *pkg_catalog_open (const char *state_dir, char *err, size_t errlen);
void pkg_catalog_destroy (pkg_catalog_t **self_p);
const char *pkg_catalog_dir (pkg_catalog_t *self);
//  Changes whenever another connection committed (cheap to poll).
int64_t pkg_catalog_data_version (pkg_catalog_t *self);

//  Check and store a package's metadata (see above).  max_packages bounds
//  the catalog (a new package beyond it is refused as too_large).  local:
//  published here.  Returns PKG_OK (with *how) or the refusal, `detail`
//  saying why.
pkg_refuse_t pkg_catalog_accept (pkg_catalog_t *self, const pkg_keyring_t *ring, const pkg_parts_t *parts,
                                 uint64_t now_s, uint32_t max_packages, bool local, pkg_accept_t *how,
                                 pkg_meta_t *meta_out, char *detail, size_t detaillen);
//  Publish a .mwpkg: checked like the above before any big copy, then its
//  layers copied (each blob checked), pieces hashed against the signed
//  list, stored complete and unpacked.  progress (may be NULL) is called
//  with bytes done / total while copying and hashing.
typedef void (pkg_progress_fn) (void *ctx, uint64_t done, uint64_t total);
pkg_refuse_t pkg_catalog_publish (pkg_catalog_t *self, const pkg_keyring_t *ring, const char *path,
                                  uint64_t now_s, uint32_t max_packages, pkg_progress_fn *progress,
                                  void *pctx, pkg_accept_t *how, pkg_meta_t *meta_out, char *detail,
                                  size_t detaillen);

//  0 found, 1 absent, -1 error.
int pkg_catalog_get (pkg_catalog_t *self, const uint8_t manifest[32], pkg_entry_t *e);
int pkg_catalog_find (pkg_catalog_t *self, const char *name, const char *version, pkg_entry_t *e);
//  Every package, by name then seq (malloc'ed array, free () it).
int pkg_catalog_list (pkg_catalog_t *self, pkg_entry_t **entries, size_t *n);
//  The signed parts (each malloc'ed; pkg_catalog_parts_free).  0/1/-1.
int pkg_catalog_parts (pkg_catalog_t *self, const uint8_t manifest[32], pkg_parts_t *parts);
void pkg_catalog_parts_free (pkg_parts_t *parts);
//  The highest seq seen for a line (name + variant) over all keys.
int pkg_catalog_highest_seq (pkg_catalog_t *self, const char *name, const char *variant, uint64_t *seq);

//  Ask for a package (want) or drop the wish.  A wish for a complete
//  package changes nothing.  0/-1.
int pkg_catalog_set_want (pkg_catalog_t *self, const uint8_t manifest[32], bool want);
//  Persist the pieces held.  Callers sync the data file first: the bitmap
//  never claims a piece that is not on disk.  0/-1.
int pkg_catalog_save_bitmap (pkg_catalog_t *self, const uint8_t manifest[32], const uint8_t *bitmap,
                             uint32_t have);
int pkg_catalog_set_state (pkg_catalog_t *self, const uint8_t manifest[32], pkg_state_t state,
                           const char *error);
//  How many peers hold pieces (written by the agent when it changes).
int pkg_catalog_set_sources (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t sources);

//  Refusals are noted here too (the last PKG_REFUSALS_KEPT), so that the
//  agent reports the CLI's as events like its own (pkg.refused).
#define PKG_REFUSALS_KEPT 200
int pkg_catalog_note_refusal (pkg_catalog_t *self, const char *name, const char *version, pkg_refuse_t reason,
                              const char *detail, const char *source);
typedef void (pkg_refusal_fn) (void *ctx, const char *name, const char *version, const char *reason,
                               const char *detail, const char *source);
//  Those after id `after`, in order; *last = the newest id seen.
int pkg_catalog_refusals (pkg_catalog_t *self, int64_t after, pkg_refusal_fn *fn, void *ctx, int64_t *last);

//  Forget a package: row, data, files.  The trust state stays.  0/1/-1.
int pkg_catalog_remove (pkg_catalog_t *self, const uint8_t manifest[32]);

void pkg_catalog_data_path (pkg_catalog_t *self, const uint8_t manifest[32], char *out, size_t cap);
void pkg_catalog_files_path (pkg_catalog_t *self, const char *name, const char *version, char *out,
                             size_t cap);
//  Open (and with create, make sparse at `size`) a package's data file.
int pkg_catalog_data_open (pkg_catalog_t *self, const uint8_t manifest[32], bool create, uint64_t size);

//  Every piece is here: check each blob's digest over the data file,
//  unpack, mark complete.  PKG_OK or PKG_REFUSE_TAMPERED_BLOB /
//  PKG_REFUSE_MALFORMED (I/O, unpacking) with err.
pkg_refuse_t pkg_catalog_finish (pkg_catalog_t *self, const uint8_t manifest[32], char *err, size_t errlen);
//  Hash every piece held again; damaged ones leave the bitmap (a fetch
//  repairs them) and the package becomes corrupt.  *bad = how many.
//  0, or -1 on I/O errors.
int pkg_catalog_verify (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t *bad, char *err,
                        size_t errlen);
//  Compare the unpacked files (files/NAME@VERSION) of a complete model or
//  exec package with its layers: the pieces that carry a file that is
//  missing or differs are dropped from the bitmap and punched out of the
//  data file (a fetch brings exactly them again from peers, not from this
//  disk; finishing unpacks anew) and the package becomes corrupt.  *bad = pieces dropped, *files = files that differ.  0, or -1
//  on I/O errors.
int pkg_catalog_check_files (pkg_catalog_t *self, const uint8_t manifest[32], uint32_t *bad, uint32_t *files,
                             char *err, size_t errlen);

//  The same checks in three steps, so that the hashing (seconds for a GB
//  package) can run on another thread: prepare (on the catalog's thread:
//  copies the bitmap, piece digests and layers, opens the data file),
//  pkg_scan_run (any thread: reads only the data file and the installed
//  files), apply (the catalog's thread: drops the damaged pieces found
//  that are still held, punches out those that carry damaged files, marks
//  the package corrupt; *bad = pieces dropped, *files = files that differ).
//  PKG_SCAN_FILES compares the files only when no piece is damaged.
#define PKG_SCAN_PIECES 1
#define PKG_SCAN_FILES  2
typedef struct _pkg_scan_t pkg_scan_t;
pkg_scan_t *pkg_catalog_scan_prepare (pkg_catalog_t *self, const uint8_t manifest[32], int modes, char *err,
                                      size_t errlen);
void pkg_scan_run (pkg_scan_t *scan);
int pkg_catalog_scan_apply (pkg_catalog_t *self, pkg_scan_t *scan, uint32_t *bad, uint32_t *files, char *err,
                            size_t errlen);
void pkg_scan_destroy (pkg_scan_t **scan_p);
//  Write an archive: model and exec packages as a .mwpkg (signed, ready
//  to publish elsewhere), oci-image ones as a Docker or OCI archive.
int pkg_catalog_export (pkg_catalog_t *self, const uint8_t manifest[32], const char *format, const char *out,
                        char *err, size_t errlen);

int pkg_catalog_test (bool verbose);

#endif
