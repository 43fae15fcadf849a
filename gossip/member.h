/*  =========================================================================
    gossip_member - SWIM membership with Lifeguard's refinements, as pure code.

    This module decides who is in the mesh.  It owns no socket, reads no
    clock and keeps no global state: the daemon hands it decoded messages
    and the current time, and it answers through two callbacks, `send`
    (a message for one peer) and `event` (a member changed state).  The
    same code therefore runs unchanged inside a discrete-event simulator,
    and given the same seed and the same inputs it makes the same choices.

    Protocol, in short (docs/MEMBERSHIP.md is the long version, with the
    transition table, the defaults and the detection-time arithmetic):

      * failure detection: every probe period, PING the next member of a
        shuffled round-robin; no ACK within the probe timeout -> PING_REQ to
        k relays; no ACK by the end of the period -> SUSPECT.  Relays that
        get no answer say so with a NACK (Lifeguard), which tells us that
        *we* are healthy enough to hear them.
      * suspicion: a suspect becomes DEAD when its timer fires; the timer
        starts long and shrinks with every independent confirmation
        (Lifeguard).  A node that hears itself suspected or declared dead
        refutes with a higher incarnation.
      * dissemination: state changes piggyback on every message, each sent
        a bounded number of times, plus a GOSSIP tick and periodic
        push-pull full-state syncs (which also make joins fast).
      * local health (Lifeguard LHA): a node that misses probes without
        hearing nacks, or has to refute, slows its own probing down.

    Callbacks: `send` and `event` are called synchronously from inside
    tick/handle/join/leave/set_digest.  They may call the read-only
    functions (size, list, lookup, knows_alive, incarnation, health) but
    must not call tick/handle/join/leave/set_digest (queue instead).
    No event is raised about ourselves.
    ========================================================================= */
#ifndef GOSSIP_MEMBER_H_INCLUDED
#define GOSSIP_MEMBER_H_INCLUDED

#include "gossip/crypto.h"
#include "gossip/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gossip_member_t gossip_member_t;

typedef struct {
    uint32_t probe_interval_ms;      //  SWIM protocol period
    uint32_t probe_timeout_ms;       //  direct ack wait before indirect probes
    uint32_t indirect_k;             //  relays for PING_REQ
    uint32_t suspicion_mult;         //  suspicion min = mult * probe_interval * log10(N+1), floored
    uint32_t suspicion_min_ms;       //  floor for the suspicion timeout
    uint32_t suspicion_max_mult;     //  Lifeguard: max timeout = min * this; shrinks with confirmations
    uint32_t gossip_interval_ms;     //  dissemination tick
    uint32_t gossip_fanout;          //  peers per gossip tick
    uint32_t retransmit_mult;        //  an update is sent retransmit_mult * ceil(log10(N+1)) times
    uint32_t pushpull_interval_ms;   //  periodic full-state sync with one random peer (0 = off)
    uint32_t dead_reap_ms;           //  keep dead/left members this long, then forget them
    uint32_t awareness_max;          //  Lifeguard local health cap (probe timing scales by 1+score)
    //  Loss tolerance (docs/MEMBERSHIP.md, "Loss"): a probe that is not
    //  answered is sent again, so that one lost datagram is not a failed
    //  probe; a suspicion shortens to its minimum only on this many
    //  independent confirmations (0: indirect_k), never more than N - 2.
    uint32_t probe_retries;   //  direct PINGs resent within the probe timeout (and one in the indirect phase)
    uint32_t suspicion_k;     //  Lifeguard K
    //  Bounds against floods (docs/MEMBERSHIP.md, "Bounds"); 0 = default.
    uint32_t max_members;    //  hard cap on the table, self and dead/left included
    uint32_t insert_rate;    //  new member ids one sender may introduce per second (token bucket)
    uint32_t insert_burst;   //  ... and at once (a full state to a joiner must fit)
} gossip_member_cfg_t;

//  Fill `cfg` with the LAN defaults (5-100 boxes over TCP).
void gossip_member_cfg_defaults (gossip_member_cfg_t *cfg);

typedef enum {
    GOSSIP_MEMBER_EV_JOIN = 1,   //  became known alive (first time, or back after dead/left/reaped)
    GOSSIP_MEMBER_EV_SUSPECT,
    GOSSIP_MEMBER_EV_ALIVE,   //  suspect refuted, or incarnation bump/addr change while alive
    GOSSIP_MEMBER_EV_DEAD,
    GOSSIP_MEMBER_EV_LEAVE,    //  graceful leave
    GOSSIP_MEMBER_EV_REAP,     //  forgotten after dead_reap_ms
    GOSSIP_MEMBER_EV_UPDATE,   //  only the digest (or a suspect's incarnation) changed
} gossip_member_event_t;

typedef struct {
    mw_id_t id;
    char name[MW_NAME_MAX + 1];
    char addr[MW_ADDR_MAX + 1];
    mw_state_t state;
    uint64_t incarnation;
    uint64_t last_heard_ms;    //  last direct message from it, or alive update about it; 0 = never
    uint64_t direct_ms;        //  last message from the member itself; 0 = only heard of (gossip)
    uint64_t reached_ms;       //  last answer from it to a probe of ours; 0 = never (not verified)
    uint64_t state_since_ms;   //  when it entered its current state
    uint16_t digest_len;
    uint8_t digest[MW_DIGEST_MAX];
    bool is_self;
} gossip_member_info_t;

//  `msg` has type + body + updates filled; the daemon fills sender/session/
//  seq/ts, encodes, seals and queues it without blocking (it may drop it).
//  The callee must not keep pointers into msg.
typedef void (gossip_member_send_fn) (void *ctx, const char *addr, const mw_msg_t *msg);
typedef void (gossip_member_event_fn) (void *ctx, gossip_member_event_t ev,
                                       const gossip_member_info_t *member);

//  Incarnations above this are refused (in updates and here), so that a
//  refutation (incarnation + 1) can never overflow.
#define GOSSIP_MEMBER_INC_MAX (UINT64_C (1) << 62)

//  Create a member table holding ourselves, alive at `incarnation`, under
//  node key `ident` (copied: it signs our record and our verdicts; our id
//  is its id) in boot session `session` (> 0; our record carries it, and
//  peers accept our messages of a new session only once a record signed
//  by us names it).  `cfg` NULL means defaults.  Returns NULL on bad
//  arguments or out of memory.
gossip_member_t *gossip_member_new (const gossip_member_cfg_t *cfg, const gossip_identity_t *ident,
                                    uint64_t session, const char *name, const char *addr,
                                    uint64_t incarnation, uint64_t seed, gossip_member_send_fn *send,
                                    gossip_member_event_fn *event, void *ctx);
void gossip_member_destroy (gossip_member_t **self_p);

//  Drive timers; call every ~10-20 ms (the simulator: at next_wakeup).
void gossip_member_tick (gossip_member_t *self, uint64_t now_ms);
//  Earliest time at which tick() has work (>= now_ms).
uint64_t gossip_member_next_wakeup (gossip_member_t *self, uint64_t now_ms);
//  One decoded, authenticated, replay-checked message (BEACONs are ignored).
void gossip_member_handle (gossip_member_t *self, const mw_msg_t *msg, uint64_t now_ms);
//  Send PUSH_PULL(join=1) with our full state to `addr`.  0/-1.
int gossip_member_join (gossip_member_t *self, const char *addr, uint64_t now_ms);
//  Mark ourselves LEFT (incarnation + 1) and tell several peers right away.
void gossip_member_leave (gossip_member_t *self, uint64_t now_ms);
//  Our current incarnation (persist it; it grows when we refute).
uint64_t gossip_member_incarnation (gossip_member_t *self);
//  Our opaque digest; rides on our alive record (see MEMBERSHIP.md, "Digest").
void gossip_member_set_digest (gossip_member_t *self, const uint8_t *digest, size_t len, uint64_t now_ms);
size_t gossip_member_size (gossip_member_t *self);          //  all states, incl. self
size_t gossip_member_alive_count (gossip_member_t *self);   //  alive + suspect, incl. self
//  Self first, then the others sorted by id.  Returns the number written.
size_t gossip_member_list (gossip_member_t *self, gossip_member_info_t *out, size_t max);
int gossip_member_lookup (gossip_member_t *self, const mw_id_t *id, gossip_member_info_t *out);
bool gossip_member_knows_alive (gossip_member_t *self, const mw_id_t *id);   //  alive or suspect
//  The node key of `id` (a member in any state, or ourselves): true and
//  *pk filled (pk may be NULL), or false when we hold no record of it.
//  Every member entered the table with a record that verified under it.
bool gossip_member_pk (gossip_member_t *self, const mw_id_t *id, uint8_t pk[MW_PK_MAX]);
//  The replay gate's question (gossip_replay_set_gate): may `id` speak in
//  `session`?  Yes when `id` is no member of ours (first contact: the clock
//  rule bounds it), when the record we hold of it names that session or a
//  later one, or when `carrier` (the message bringing the session) carries
//  the member's own record naming it, signed by the member.  No otherwise:
//  a key holder cannot raise another node's session.  A record that fails
//  its check spends the failure budget like any other (`now` for it).
bool gossip_member_session_certified (gossip_member_t *self, const mw_id_t *id, uint64_t session,
                                      const mw_msg_t *carrier, uint64_t now);
uint32_t gossip_member_health (gossip_member_t *self);   //  Lifeguard score, 0 = healthy

//  Additions (not in the original contract; safe to ignore).
//  Current suspicion timeout bounds for the present cluster size (ms).
void gossip_member_suspicion_bounds (gossip_member_t *self, uint64_t *min_ms, uint64_t *max_ms);
//  Counters for metrics: messages/updates sent, refutations made, inserts refused.
typedef struct {
    uint64_t msgs_sent;
    uint64_t updates_sent;
    uint64_t refutes;
    uint64_t probes;
    uint64_t probes_failed;
    //  Bounds (docs/MEMBERSHIP.md, "Bounds"): new ids refused, members evicted.
    uint64_t refused_rate;         //  the sender (or all senders together) introduced ids too fast
    uint64_t refused_full;         //  the table was full of members we have heard from directly
    uint64_t refused_unverified;   //  too many alive members we have never heard from directly
    uint64_t evicted;              //  dead/left reaped early, or never-heard members, to make room
    uint64_t pushpull_refused;     //  full-state requests not answered (rate limit)
    uint64_t pushpull_same;        //  anti-entropy summaries that matched ours: no full state sent
    //  Node-key signatures (gossip/sign.h): records refused, and checked.
    uint64_t refused_unsigned;   //  a record without a signature
    uint64_t refused_nokey;      //  its signer's key unknown (a newcomer relayed before it met us, a
                                 //  verdict by a node we do not know)
    uint64_t refused_badsig;     //  the signature does not verify: forged, tampered, or signed by another
    uint64_t verify_shed;        //  not checked: the budget for failed checks was spent (a flood)
    uint64_t verified;           //  records whose signature verified
} gossip_member_stats_t;
void gossip_member_stats (gossip_member_t *self, gossip_member_stats_t *out);

int gossip_member_test (bool verbose);

#endif
