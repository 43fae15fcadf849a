/*  =========================================================================
    gossip_crypto - the envelope every mesh packet travels in, the cluster
    keyring, replay defence, and the node's long-term key pair.

    Envelope (docs/SECURITY.md has the threat model):

        'M' 'W' | version(1) | key_id(1) | nonce(24) | XChaCha20-Poly1305 ciphertext+tag

    The 4 header bytes are the AEAD's associated data, so they cannot be
    altered.  key_id is the first byte of BLAKE2b("meshwatch-key-id" || key)
    and lets a receiver pick the right key from the keyring at once; a
    keyring holds one primary key (used to seal) and up to 3 older ones
    (accepted when opening), so the cluster key can be rotated with no
    downtime: add the new key as secondary everywhere, make it primary
    everywhere, drop the old one.

    Replay defence lives in gossip_replay: per sender, the highest session
    seen and, within that session, a 64-wide sliding window over seq; plus a
    timestamp freshness bound for senders not seen before.
    ========================================================================= */
#ifndef GOSSIP_CRYPTO_H_INCLUDED
#define GOSSIP_CRYPTO_H_INCLUDED

#include "gossip/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MW_KEY_LEN           32
#define MW_ENVELOPE_HDR      28   //  magic(2) + version(1) + key_id(1) + nonce(24)
#define MW_ENVELOPE_OVERHEAD 44   //  header + 16-byte tag
#define MW_KEYRING_MAX       4

//  Error codes of gossip_crypto_open (negative, distinct from wire codes).
#define MW_CRYPTO_ESHORT   -20   //  shorter than an envelope
#define MW_CRYPTO_EMAGIC   -21   //  not an envelope
#define MW_CRYPTO_EVERSION -22   //  envelope version we do not speak
#define MW_CRYPTO_EKEY     -23   //  no key with that key id (other cluster)
#define MW_CRYPTO_EAUTH    -24   //  authentication failed (forged/corrupted/wrong key)
#define MW_CRYPTO_ETOOBIG  -25

typedef struct _gossip_keyring_t gossip_keyring_t;

//  Create a keyring from the primary key, base64 (standard alphabet, 32
//  bytes decoded).  Returns NULL if the text is not a valid key.
gossip_keyring_t *gossip_keyring_new (const char *primary_b64);
void gossip_keyring_destroy (gossip_keyring_t **self_p);
//  Add an accepted-only (older or next) key.  Returns 0, -1 if invalid/full.
int gossip_keyring_add (gossip_keyring_t *self, const char *key_b64);
//  Validate a base64 key without building a keyring.
bool gossip_key_valid (const char *key_b64);
//  Write a new random key as base64 (44 chars + NUL) into out.
void gossip_key_generate (char out[64]);

//  Seal plaintext with the primary key; *out is malloc'ed.  0/-1.
int gossip_crypto_seal (gossip_keyring_t *self, const uint8_t *plain, size_t plain_len, uint8_t **out,
                        size_t *out_len);
//  Open an envelope; *out is malloc'ed plaintext.  0 or MW_CRYPTO_E*.
int gossip_crypto_open (gossip_keyring_t *self, const uint8_t *data, size_t len, uint8_t **out,
                        size_t *out_len);

//  Replay window ---------------------------------------------------------
typedef struct _gossip_replay_t gossip_replay_t;

#define MW_REPLAY_OK      0
#define MW_REPLAY_EREPLAY -30   //  seq already seen, or older than the window
#define MW_REPLAY_ESTALE  -31   //  older session than the one we know
#define MW_REPLAY_ECLOCK  -32   //  unknown sender and ts outside the freshness bound

//  max_skew_ms: how far a first message's ts may be from our clock.
gossip_replay_t *gossip_replay_new (uint64_t max_skew_ms);
void gossip_replay_destroy (gossip_replay_t **self_p);
//  Check and, if accepted, record (sender, session, seq).  now_wall_ms is our
//  wall clock.  Returns MW_REPLAY_OK or a negative code.
int gossip_replay_check (gossip_replay_t *self, const mw_id_t *sender, uint64_t session, uint64_t seq,
                         uint64_t ts_ms, uint64_t now_wall_ms);
//  Forget a sender (reaped member) to bound memory.
void gossip_replay_forget (gossip_replay_t *self, const mw_id_t *sender);

//  Node identity ---------------------------------------------------------
typedef struct {
    uint8_t pk[32];   //  Ed25519 public key
    uint8_t sk[64];   //  Ed25519 secret key
    mw_id_t id;       //  first 8 bytes of BLAKE2b-256(pk)
    char id_hex[MW_ID_HEX_LEN + 1];
} gossip_identity_t;

//  Load STATE_DIR/node.key, or create it (dir 0700, file 0600, written via
//  temp + fsync + rename so a kill -9 never leaves half a key).  Returns 0,
//  or -1 with a reason in errbuf.
int gossip_identity_load (const char *state_dir, gossip_identity_t *ident, char *errbuf, size_t errlen);

int gossip_crypto_test (bool verbose);

#endif
