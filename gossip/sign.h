/*  =========================================================================
    gossip_sign - node-key signatures: who said it, whatever the cluster key.

    The cluster key (gossip/crypto.h) says "a member sent this"; it does not
    say which one, so before this module any key holder could speak for any
    node id.  Every node has an Ed25519 key pair whose public key hashes to
    its id (id = BLAKE2b-256 (pk)[:8], gossip_identity_t), and this module
    signs and checks, with those keys, the two things that carry authority:

      * membership records (mw_update_t): an alive or left record is what a
        member says about itself (state, incarnation, name, address,
        digest, its boot session and the record's stamp) and is signed by
        that member; a suspect or dead record is one member's verdict on
        another (id, state, incarnation, from) and is signed by `from`.  A
        signed record verifies wherever it is relayed: the signature covers
        the record alone, not the message it rides in.
      * election messages (HEARTBEAT, VOTE_REQ, VOTE): signed by their
        sender over the whole message as encoded (header included: sender,
        session, seq and timestamp, so a captured one is only ever a replay
        the replay window drops) and over the receiver's id (so one sent to
        B is no message for C); a HEARTBEAT may instead carry a 16-byte MAC
        under the key its sender and receiver share (below).

    Canonical bytes: a record's are a fixed binary layout (below, in
    sign.c), independent of how msgpack wrote it; a message's are the
    codec's own encoding of it with its signature field empty, in the
    protocol version it was sent in (the codec writes the shortest forms,
    so an honest sender's bytes and the receiver's re-encoding agree).

    Pure but for the pair-key table (a cache): no clock.  Ed25519 is
    deterministic, so the simulator and the selftests replay exactly.
    ========================================================================= */
#ifndef GOSSIP_SIGN_H_INCLUDED
#define GOSSIP_SIGN_H_INCLUDED

#include "gossip/crypto.h"
#include "gossip/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOSSIP_SIGN_LEN 64   //  = MW_SIG_MAX
#define GOSSIP_PK_LEN   32   //  = MW_PK_MAX

//  True when `pk` (pk_len bytes) is a public key whose id is `id`.
bool gossip_sign_pk_ok (const uint8_t *pk, size_t pk_len, const mw_id_t *id);
//  The id a public key hashes to.
void gossip_sign_pk_id (const uint8_t pk[GOSSIP_PK_LEN], mw_id_t *id);

//  Records ----------------------------------------------------------------

//  Whose key signs `u`: the member itself for alive and left (their `from`
//  must be the member), `from` for suspect and dead.
const mw_id_t *gossip_sign_record_signer (const mw_update_t *u);
//  Sign `u` (sig, sig_len) as `signer`, who must be gossip_sign_record_signer
//  (u): -1 otherwise (nobody signs for another id), or for a state out of
//  range.  Suspect and dead records are signed over id, state, incarnation
//  and from only: the rest of such a record says nothing (senders leave
//  name, addr, digest, session and stamp empty; receivers ignore them).
int gossip_sign_record (const gossip_identity_t *signer, mw_update_t *u);
//  True when `u` carries a signature that `pk` (the signer's key, which
//  the caller has tied to the signer's id) made over it.
bool gossip_sign_record_verify (const uint8_t pk[GOSSIP_PK_LEN], const mw_update_t *u);

//  Messages ---------------------------------------------------------------

//  The types that must be signed: HEARTBEAT, VOTE_REQ, VOTE.
bool gossip_sign_msg_needed (int type);
//  Sign `msg` (header already stamped: sender = signer's id, session, seq,
//  ts) for receiver `to` (NULL or zero: unbound), in MW_WIRE_SEND_VERSION.
//  0, or -1 (another sender id, a type that has no signature field, or
//  the message does not encode).
int gossip_sign_msg (const gossip_identity_t *signer, const mw_id_t *to, mw_msg_t *msg);
//  True when `msg` (as decoded: its version is the one it was sent in)
//  carries its sender's signature by `pk`, made for receiver `me`.
bool gossip_sign_msg_verify (const uint8_t pk[GOSSIP_PK_LEN], const mw_id_t *me, const mw_msg_t *msg);

//  Pair MACs (HEARTBEAT) -------------------------------------------------
//
//  A heartbeat goes to every follower ten times a second, and only its
//  receiver ever checks it (it is never relayed as proof), so it needs
//  what a signature proves to the receiver - "the sender's key made this,
//  for me" - but not to third parties.  A 16-byte keyed BLAKE2b under the
//  key the two nodes share does that with 48 bytes less on the wire per
//  heartbeat (0.5 KB/s per follower, 9 KB/s of the coordinator's sends at
//  N = 20) and a fraction of the CPU: the pair key is X25519 of the two
//  node keys (their Ed25519 keys converted, as libsodium provides), which
//  only the two holders can compute.  A key holder who is neither still
//  cannot speak in either's name.  VOTE_REQ and VOTE keep signatures.
#define GOSSIP_MAC_LEN 16

//  True for the types that may carry a pair MAC instead of a signature.
bool gossip_sign_mac_type (int type);
//  MAC `msg` (header stamped, sender = the key's holder) for receiver `to`
//  under `key` (gossip_pairkeys_get): 0, or -1 (a type without a MAC, or
//  the message does not encode).
int gossip_sign_msg_mac (const uint8_t key[32], const mw_id_t *to, mw_msg_t *msg);
//  True when `msg` (as decoded) carries a MAC made under `key` for `me`.
bool gossip_sign_msg_mac_verify (const uint8_t key[32], const mw_id_t *me, const mw_msg_t *msg);

//  The pair keys this node shares with its peers, derived once each (an
//  X25519 is ~10x a MAC) and kept for at most `max` peers (then the table
//  starts over: a key is cheap to derive again).
typedef struct _gossip_pairkeys_t gossip_pairkeys_t;
//  `me` is borrowed and must outlive the table.  NULL on failure.
gossip_pairkeys_t *gossip_pairkeys_new (const gossip_identity_t *me, size_t max);
void gossip_pairkeys_destroy (gossip_pairkeys_t **self_p);
//  The key shared with the holder of `peer_pk`: 0, or -1 (not a valid
//  public key, or our own).
int gossip_pairkeys_get (gossip_pairkeys_t *self, const uint8_t peer_pk[GOSSIP_PK_LEN], uint8_t key[32]);
//  Keys held now (<= max).
size_t gossip_pairkeys_size (gossip_pairkeys_t *self);

//  Costs, for tests/bench/sign.sh: microseconds per record signature, per
//  record verification, per message signature and verification (median of
//  `rounds` timed batches).
typedef struct {
    double record_sign_us, record_verify_us, msg_sign_us, msg_verify_us, pk_check_us;
    double mac_us, mac_verify_us, pair_derive_us;   //  a heartbeat's pair MAC; one pair key
} gossip_sign_cost_t;
int gossip_sign_bench (int rounds, gossip_sign_cost_t *out);

int gossip_sign_test (bool verbose);

#endif
