/*  =========================================================================
    pkg_meta - a package's signed metadata, and the trust decision on it.

    What a publisher signs for each publish (docs/PACKAGES.md):

      {"type": "meshwatch.package.metadata", "spec": 1,
       "name": "facedet", "version": "1.2.0", "variant": "weather=sunny",
       "kind": "model", "seq": 1765400000, "expires": 1773176000,
       "manifest": "sha256:<hex>", "manifest_size": 612,
       "size": 67108864, "piece_size": 1048576, "piece_count": 64,
       "pieces": "sha256:<hex>"}

    `seq` is the metadata version: it only grows within a package line
    (name + variant; `sunny` and `rainy` builds are two lines), so a box
    that has seen seq 7 refuses seq 6 (rollback).  `expires` (Unix
    seconds) bounds how long a captured metadata file can be replayed
    (freeze).  `manifest` pins the OCI manifest, which pins the config and
    every layer (mix-and-match).  The layers, concatenated in manifest
    order, are `size` bytes cut into `piece_count` pieces of `piece_size`
    (the last one shorter); `pieces` is the SHA-256 of the list of the
    pieces' SHA-256 digests (32 bytes each, in order), so the signature
    covers every piece while the signed text stays a few hundred bytes;
    the list itself travels beside it and is checked against this digest.

    The text is canonical (json-c, fixed key order, no spaces), so the
    same metadata always has the same bytes and the same signature.
    Parsing is strict: exact types, every field present, bounded strings,
    a piece geometry that adds up.  This module holds no state: the
    highest seq seen comes from the catalog (pkg_catalog).
    ========================================================================= */
#ifndef PKG_META_H_INCLUDED
#define PKG_META_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_NAME_MAX    64
#define PKG_VERSION_MAX 64
#define PKG_VARIANT_MAX 255
#define PKG_META_MAX    4096                 //  bytes of metadata text
#define PKG_PIECE_MIN   (64u * 1024)         //  smallest piece
#define PKG_PIECE_MAX   (2u * 1024 * 1024)   //  largest: one data-plane frame with room to spare
#define PKG_PIECES_MAX  16384u               //  pieces per package (bitmap 2 KiB, list 512 KiB)
#define PKG_SIZE_MAX    ((uint64_t) PKG_PIECES_MAX * PKG_PIECE_MAX)   //  32 GiB
//  At least this many pieces when the size allows: a piece is forwarded
//  only once whole and verified, so the smaller the pieces the sooner a
//  box passes on what it got (pkg/swarm.c's model, N = 10 and 20: 64
//  pieces take 1.19-1.41x one transfer, 512 pieces 1.04-1.08x).
#define PKG_PIECES_WANT 512u

typedef enum { PKG_KIND_MODEL = 0, PKG_KIND_EXEC, PKG_KIND_OCI_IMAGE, PKG_KIND_COUNT } pkg_kind_t;

typedef struct {
    char name[PKG_NAME_MAX + 1];
    char version[PKG_VERSION_MAX + 1];
    char variant[PKG_VARIANT_MAX + 1];   //  canonical "k=v,k=v" (sorted by key), "" for none
    pkg_kind_t kind;
    uint64_t seq;
    uint64_t expires;   //  Unix seconds
    uint8_t manifest[32];
    uint64_t manifest_size;
    uint64_t size;
    uint32_t piece_size;
    uint32_t piece_count;
    uint8_t pieces[32];   //  SHA-256 of the piece digest list
} pkg_meta_t;

//  Why a box refuses a package (the `reason` of pkg.refused).
typedef enum {
    PKG_OK = 0,
    PKG_REFUSE_MALFORMED,           //  metadata or manifest that does not parse or add up
    PKG_REFUSE_UNSIGNED,            //  no signature
    PKG_REFUSE_UNTRUSTED_KEY,       //  signed by a key not in TRUSTED_KEYS
    PKG_REFUSE_BAD_SIGNATURE,       //  signature or trusted comment does not verify
    PKG_REFUSE_ROLLBACK,            //  seq lower than one seen for the line
    PKG_REFUSE_EXPIRED,             //  past `expires`
    PKG_REFUSE_CONFLICT,            //  same line and seq (or name@version) with other contents
    PKG_REFUSE_TAMPERED_MANIFEST,   //  manifest, config or piece list not the signed digest
    PKG_REFUSE_TAMPERED_BLOB,       //  a blob whose SHA-256 is not its digest
    PKG_REFUSE_BAD_PIECE,           //  a piece whose SHA-256 is not in the signed list
    PKG_REFUSE_TOO_LARGE,           //  beyond the box's limits
    PKG_REFUSE_COUNT
} pkg_refuse_t;

const char *pkg_refuse_name (pkg_refuse_t r);
const char *pkg_kind_name (pkg_kind_t k);
//  -1 if not a kind.
int pkg_kind_parse (const char *text);

//  The piece size for `size` bytes: a power of two, at least
//  PKG_PIECE_MIN, as large as keeps PKG_PIECES_WANT pieces but at most
//  1 MiB, larger only to stay within PKG_PIECES_MAX.  0 if size is 0 or
//  beyond PKG_SIZE_MAX.
uint32_t pkg_meta_piece_size_for (uint64_t size);
//  How many pieces and how long piece i is.
uint32_t pkg_meta_piece_count (uint64_t size, uint32_t piece_size);
uint32_t pkg_meta_piece_len (const pkg_meta_t *m, uint32_t i);

//  Canonical text (malloc'ed, NUL ended, *len without it); NULL on a
//  field out of its limits.
char *pkg_meta_encode (const pkg_meta_t *m, size_t *len);
//  Strict parse.  0, or -1 with the reason in err.
int pkg_meta_decode (const char *text, size_t len, pkg_meta_t *m, char *err, size_t errlen);

//  Names, versions and variants are what file names and CLI arguments are
//  made of: names [a-z0-9][a-z0-9._-]*, versions [A-Za-z0-9][A-Za-z0-9._+-]*.
bool pkg_meta_name_ok (const char *s);
bool pkg_meta_version_ok (const char *s);
//  "k=v,k2=v2" with keys [a-z0-9_.-]+ and values [A-Za-z0-9_.+-]+, each
//  key once; written back sorted by key into out.  0/-1.
int pkg_meta_variant_canon (const char *in, char *out, size_t cap);
//  Split "NAME@VERSION".  0/-1.
int pkg_meta_ref_parse (const char *ref, char name[PKG_NAME_MAX + 1], char version[PKG_VERSION_MAX + 1]);

//  "sha256:<64 hex>" <-> 32 bytes.
void pkg_digest_str (const uint8_t d[32], char out[72]);
int pkg_digest_parse (const char *s, uint8_t d[32]);
void pkg_hex (const uint8_t *d, size_t n, char *out);   //  2n + 1

//  The trust decision (pure): given a verified signature, what the box
//  has seen of this line (highest seq, 0 = nothing) and whether it
//  already holds this exact metadata, the time, and the refusal reason.
//  PKG_OK means "store it".  `detail` explains a refusal.
typedef struct {
    uint64_t highest_seq;      //  over all trusted keys, for this line
    bool same_seq_known;       //  the catalog holds metadata with this seq for the line...
    bool same_seq_identical;   //  ...and it is byte for byte this one
    bool ref_known;            //  name@version is in the catalog...
    bool ref_same_manifest;    //  ...with this manifest digest
} pkg_meta_seen_t;

pkg_refuse_t pkg_meta_judge (const pkg_meta_t *m, const pkg_meta_seen_t *seen, uint64_t now_s, char *detail,
                             size_t detaillen);

int pkg_meta_test (bool verbose);

#endif
