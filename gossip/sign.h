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
        B is no message for C).

    Canonical bytes: a record's are a fixed binary layout (below, in
    sign.c), independent of how msgpack wrote it; a message's are the
    codec's own encoding of it with its signature field empty, in the
    protocol version it was sent in (the codec writes the shortest forms,
    so an honest sender's bytes and the receiver's re-encoding agree).

    Pure: no state, no clock.  Ed25519 is deterministic, so the simulator
    and the selftests replay exactly.
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

//  Costs, for tests/bench/sign.sh: microseconds per record signature, per
//  record verification, per message signature and verification (median of
//  `rounds` timed batches).
typedef struct {
    double record_sign_us, record_verify_us, msg_sign_us, msg_verify_us, pk_check_us;
} gossip_sign_cost_t;
int gossip_sign_bench (int rounds, gossip_sign_cost_t *out);

int gossip_sign_test (bool verbose);

#endif
