/*  =========================================================================
    fuzz_pkg - libFuzzer target for every parser of AI packages: the signed
    metadata (pkg_meta), the meshwatch manifest (pkg_desc), OCI manifests
    and indexes (pkg_layout), minisign signatures and keys (pkg_sign), the
    structural check that ties them together, and PKG_INDEX's packed
    entries (pkg_service).  The piece messages themselves (PKG_REQ,
    PKG_PIECE, ...) go through the wire decoder, fuzzed by fuzz_wire with
    the seeds tests/fuzz/make_corpus writes for them.

    Input: the first byte picks the parser (mod S_TARGETS), the rest is its
    input.  Target 5 (layout check) splits the rest at NUL bytes into
    metadata, manifest, config and piece list.

    Built two ways, like fuzz_manifest:
      clang -fsanitize=fuzzer,address,undefined ...  (tests/fuzz/run-fuzz-pkg.sh)
      cc -DMW_FUZZ_REPLAY ...  a main () that replays the corpus
                               (tests/fuzz/corpus/pkg, under valgrind in
                               `make check`: tests/fuzz/replay-pkg.sh)
    ========================================================================= */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pkg/desc.h"
#include "pkg/layout.h"
#include "pkg/meta.h"
#include "pkg/service.h"
#include "pkg/sign.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_TARGETS 8

//  A fixed trust anchor: signatures in the corpus are made with it.
static const char *s_pub = "untrusted comment: minisign public key C32948BFE486831C\n"
                           "RWQcg4bkv0gpw3gCrBcadiT/EfKs06GHwEUOpnI69VeOOd82WhX+HYeW\n";

static void
s_entry (void *ctx, const uint8_t digest[32], uint64_t seq, uint8_t flags)
{
    (void) digest;
    *(uint64_t *) ctx += seq + flags;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int target = data[0] % S_TARGETS;
    const char *text = (const char *) data + 1;
    size_t len = size - 1;
    char err[600];
    err[0] = 0;
    switch (target) {
    case 0: {
        pkg_meta_t m;
        if (pkg_meta_decode (text, len, &m, err, sizeof err) == 0) {
            //  What decodes must encode to the same bytes (canonical form).
            size_t n = 0;
            char *back = pkg_meta_encode (&m, &n);
            if (!back || n != len || memcmp (back, text, len) != 0)
                abort ();
            free (back);
            (void) pkg_meta_piece_len (&m, m.piece_count - 1);
        }
        else if (!err[0])
            abort ();
        break;
    }
    case 1: {
        pkg_desc_t d;
        if (pkg_desc_decode (text, len, &d, err, sizeof err) == 0) {
            size_t n = 0;
            char *back = pkg_desc_encode (&d, &n, err, sizeof err);
            pkg_desc_t again;
            if (back && pkg_desc_decode (back, n, &again, err, sizeof err) != 0)
                abort ();   //  what we write we must read
            free (back);
        }
        else if (!err[0])
            abort ();
        break;
    }
    case 2: {
        pkg_manifest_t m;
        if (pkg_manifest_parse (text, len, &m, err, sizeof err) == 0) {
            pkg_manifest_to_oci (&m);
            size_t n = 0;
            char *back = pkg_manifest_encode (&m, &n);
            pkg_manifest_t again;
            if (back && pkg_manifest_parse (back, n, &again, err, sizeof err) != 0)
                abort ();
            free (back);
        }
        break;
    }
    case 3: {
        pkg_index_entry_t e[PKG_INDEX_MAX];
        size_t n = 0;
        (void) pkg_index_parse (text, len, e, PKG_INDEX_MAX, &n, err, sizeof err);
        if (n > PKG_INDEX_MAX)
            abort ();
        break;
    }
    case 4: {
        //  A signature file over a fixed message.
        pkg_keyring_t *ring = pkg_keyring_new ();
        pkg_pubkey_t *k = pkg_pubkey_parse (s_pub, strlen (s_pub), err, sizeof err);
        pkg_keyring_add (ring, &k);
        pkg_sig_info_t info;
        (void) pkg_sign_verify (ring, "hello\n", 6, text, len, &info, err, sizeof err);
        char id[17];
        (void) pkg_sign_key_id (text, len, id);
        pkg_keyring_destroy (&ring);
        break;
    }
    case 5: {
        //  metadata NUL manifest NUL config NUL pieces
        const char *parts[4] = {text, "", "", ""};
        size_t lens[4] = {len, 0, 0, 0};
        int k = 0;
        for (size_t i = 0; i < len && k < 3; i++)
            if (text[i] == 0) {
                lens[k] = (size_t) (text + i - parts[k]);
                parts[++k] = text + i + 1;
                lens[k] = len - i - 1;
            }
        pkg_meta_t m;
        if (pkg_meta_decode (parts[0], lens[0], &m, err, sizeof err) == 0) {
            pkg_manifest_t man;
            pkg_desc_t d;
            (void) pkg_layout_check (&m, parts[1], lens[1], parts[2], lens[2], (const uint8_t *) parts[3],
                                     lens[3], &man, &d, err, sizeof err);
        }
        break;
    }
    case 6: {
        pkg_pubkey_t *pk = pkg_pubkey_parse (text, len, err, sizeof err);
        pkg_pubkey_destroy (&pk);
        pkg_seckey_t *sk = pkg_seckey_parse (text, len, err, sizeof err);
        pkg_seckey_destroy (&sk);
        char canon[PKG_VARIANT_MAX + 1];
        char *z = strndup (text, len);
        if (z) {
            (void) pkg_meta_variant_canon (z, canon, sizeof canon);
            char n[PKG_NAME_MAX + 1], v[PKG_VERSION_MAX + 1];
            (void) pkg_meta_ref_parse (z, n, v);
            free (z);
        }
        break;
    }
    case 7: {
        uint64_t sum = 0;
        (void) pkg_service_index_parse ((const uint8_t *) text, len, s_entry, &sum);
        break;
    }
    }
    return 0;
}

#define FUZZ_NAME   "fuzz_pkg"
#define FUZZ_CORPUS "pkg"
#include "tests/fuzz/replay_main.h"
