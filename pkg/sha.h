/*  =========================================================================
    pkg_sha - SHA-256 for package digests (blobs, pieces, manifests).

    OpenSSL's libcrypto rather than libsodium's crypto_hash_sha256: the
    same function, but libcrypto uses the CPU's SHA extensions (ARMv8's on
    the Jetson's Cortex-A78AE, SHA-NI on x86): measured here 1.76 GB/s
    against libsodium's 0.17 GB/s.  Every byte of a package is hashed at
    least twice on each box (each piece on arrival, each blob when it is
    unpacked), so this is most of a box's CPU during a distribution.
    libsodium stays for everything else (Ed25519, BLAKE2b, the envelope).

    The low-level SHA256_* calls: on the stack, no allocation to fail or
    leak, the same in OpenSSL 1.1 (Ubuntu 20.04 on the Jetsons) and 3.x
    (where they are deprecated but kept, and as fast).
    ========================================================================= */
#ifndef PKG_SHA_H_INCLUDED
#define PKG_SHA_H_INCLUDED

#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

typedef SHA256_CTX pkg_sha256_state;

static inline void
pkg_sha256_init (pkg_sha256_state *st)
{
    SHA256_Init (st);
}

static inline void
pkg_sha256_update (pkg_sha256_state *st, const void *data, size_t len)
{
    SHA256_Update (st, data, len);
}

static inline void
pkg_sha256_final (pkg_sha256_state *st, uint8_t out[32])
{
    SHA256_Final (out, st);
}

#endif
