/*  =========================================================================
    gossip_crypto - the envelope every mesh packet travels in, the cluster
    keyring, replay defence, and the node's long-term key pair.

    Envelope (docs/SECURITY.md has the threat model):

        'M' 'W' | version(1) | key_id(1) | nonce(24) | XChaCha20-Poly1305 ciphertext+tag

    The AEAD's associated data is the 4 header bytes, the receiver's node
    id and a plane byte (mesh, data, beacon): none of them can be altered,
    and bytes sealed for one node or one plane do not open at another.
    The receiver's id costs nothing on the wire (a receiver knows its own
    id); a message whose sender cannot know it (a beacon, a join to a seed
    address, an offer to the analysis server) is sealed "unbound" with a
    zero id and says so in the version byte's high bit, and each receiver
    accepts unbound envelopes only for the few types that need them.
    key_id is the first byte of BLAKE2b("meshwatch-key-id" || key)
    and lets a receiver pick the right key from the keyring at once; a
    keyring holds one primary key (used to seal) and up to 3 older ones
    (accepted when opening), so the cluster key can be rotated with no
    downtime: add the new key as secondary everywhere, make it primary
    everywhere, drop the old one.

    Replay defence lives in gossip_replay: per sender, the highest session
    seen and, within that session, a 512-wide sliding window over seq; plus a
    timestamp freshness bound for senders not seen before, and a ceiling on
    any new session (it is the sender's boot time, so it cannot lie in the
    future: a forged session of 2^64-1 would otherwise fence the real sender
    out for good).  A new session can further be gated by the caller
    (gossip_replay_set_gate): the agent accepts one only when the member's
    signed record certifies it (gossip/sign.h).
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
#define MW_ENVELOPE_VERSION  2      //  byte 2, low 7 bits
#define MW_ENVELOPE_UNBOUND  0x80   //  byte 2, high bit: sealed to no particular receiver

//  Planes: bound into the associated data, so that a packet for one is
//  never accepted on another (a captured beacon is no mesh message, a
//  membership message is no job).
#define MW_PLANE_MESH   1   //  MESH_PORT: membership and election
#define MW_PLANE_DATA   2   //  JOB_PORT / VMS_PORT: jobs and frames
#define MW_PLANE_BEACON 3   //  UDP discovery
#define MW_PLANE_PKG    4   //  PKG_PORT: AI package distribution

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

//  Seal plaintext with the primary key for receiver `to` on `plane`; `to`
//  NULL (or all zero) seals unbound.  *out is malloc'ed.  0/-1.
int gossip_crypto_seal (gossip_keyring_t *self, const mw_id_t *to, uint8_t plane, const uint8_t *plain,
                        size_t plain_len, uint8_t **out, size_t *out_len);
//  Open an envelope as receiver `me` (NULL: accept only unbound ones) on
//  `plane`; *out is malloc'ed plaintext; *bound (may be NULL) tells whether
//  it was sealed for `me` rather than unbound.  0 or MW_CRYPTO_E*.
int gossip_crypto_open (gossip_keyring_t *self, const mw_id_t *me, uint8_t plane, const uint8_t *data,
                        size_t len, uint8_t **out, size_t *out_len, bool *bound);

//  Replay window ---------------------------------------------------------
typedef struct _gossip_replay_t gossip_replay_t;

#define MW_REPLAY_OK      0
#define MW_REPLAY_EREPLAY -30   //  seq already seen, or older than the window
#define MW_REPLAY_ESTALE  -31   //  older session than the one we know
#define MW_REPLAY_ECLOCK  -32   //  unknown sender and ts outside the freshness bound
//  A new session in the future (beyond now + skew), or one the gate refused.
#define MW_REPLAY_ESESSION -33

//  max_skew_ms: how far a first message's ts may be from our clock.
gossip_replay_t *gossip_replay_new (uint64_t max_skew_ms);
void gossip_replay_destroy (gossip_replay_t **self_p);
//  Check and, if accepted, record (sender, session, seq).  now_wall_ms is our
//  wall clock.  Returns MW_REPLAY_OK or a negative code.
int gossip_replay_check (gossip_replay_t *self, const mw_id_t *sender, uint64_t session, uint64_t seq,
                         uint64_t ts_ms, uint64_t now_wall_ms);
//  Forget a sender (reaped member) to bound memory.
void gossip_replay_forget (gossip_replay_t *self, const mw_id_t *sender);
//  Senders held (at most MW_REPLAY_MAX_SENDERS; the least recent goes first).
size_t gossip_replay_size (gossip_replay_t *self);
#define MW_REPLAY_MAX_SENDERS 4096

//  Check a decoded message (sender, session, seq, ts_ms); the message is
//  what the gate gets as `carrier`, so that a record inside it can vouch
//  for the session it brings.
int gossip_replay_check_msg (gossip_replay_t *self, const mw_msg_t *msg, uint64_t now_wall_ms);

//  A session the table has not seen for a sender (a reboot's, or a first
//  contact's) is what a key holder could forge within the clock bound:
//  raise a real node's session so that its genuine packets look stale.
//  The gate lets the caller decide from something the forger cannot make:
//  the agent accepts it only when the member's signed record (known, or
//  carried in `carrier`, the message itself; NULL from gossip_replay_check)
//  names that session or a later one, and lets a sender that is no member
//  through (first contact is bounded by the clock rule).  `known`: the
//  table holds an older session (`old_session`) of the sender; false for
//  a first contact (`old_session` 0).  Not asked within a session.  A
//  refusal is MW_REPLAY_ESESSION.  NULL (the default) accepts every one.
typedef bool (gossip_replay_gate_fn) (void *ctx, const mw_id_t *sender, bool known, uint64_t old_session,
                                      uint64_t new_session, const mw_msg_t *carrier);
void gossip_replay_set_gate (gossip_replay_t *self, gossip_replay_gate_fn *gate, void *ctx);

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
//  An identity from a 32-byte seed (the same seed, the same key pair: the
//  simulators' nodes), or from fresh randomness (tests/tools/mw-inject's
//  own key).  0/-1.  Nothing is written to disk.
int gossip_identity_from_seed (const uint8_t seed[32], gossip_identity_t *ident);
int gossip_identity_generate (gossip_identity_t *ident);

int gossip_crypto_test (bool verbose);

#endif
