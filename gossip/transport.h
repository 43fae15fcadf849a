/*  =========================================================================
    gossip_transport - mesh messages over ZeroMQ, sealed and replay-checked.

    Inbound, each node binds one ROUTER on its port.  Outbound, it keeps one
    more ROUTER that connects to peers (ZMQ_CONNECT_ROUTING_ID names each
    connection), so the loop polls two sockets per plane however many peers
    there are.  Every message is one-way (a datagram in spirit, as SWIM
    wants).  Sends never block the loop: a full queue (HWM) drops the
    message and counts it, and SWIM's timeouts treat that like loss.

    Where a message may go is the local code's decision, never a remote's:

      * outbound connections only to addresses registered here (members,
        configured seeds and servers, a beacon's sender for a while), at
        most out_max at once (least recently used closed first), sealed for
        the id registered with the address (unbound when none is known);
      * an address nobody registered is answered only through a *route*:
        the connection an authenticated message naming that address (a
        PING's or an OFFER's reply-to) came in on, so a request from an
        unknown node is answered on its own connection and no remote can
        make us connect anywhere.  Routes are bounded too (routes_max, LRU).

    Every inbound byte goes through the same gate, in this order: frame and
    size checks, the outsiders' allowance, envelope (AEAD, bound to our id
    and the plane), wire decode, binding (unbound only for the plane's few
    unbound types), replay window; each rejection is counted by reason so
    an operator (and the tests) can see forged, replayed or malformed
    traffic.  An authenticated message marks its connection trusted in the
    connection guard (gossip/guard.h), which cuts untrusted ones over its
    caps; frames from untrusted connections are authenticated only within
    untrusted_rate bytes a second (the rest are dropped unread), and the
    gate yields after turn_bytes of authentication, so that a flood of
    forged megabyte frames can neither take the CPU nor starve the loop's
    timers.
    ========================================================================= */
#ifndef GOSSIP_TRANSPORT_H_INCLUDED
#define GOSSIP_TRANSPORT_H_INCLUDED

#include "gossip/crypto.h"
#include "gossip/guard.h"
#include "gossip/sign.h"
#include "gossip/wire.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MW_REJ_SIZE = 0,        //  empty, oversized, or wrong frame count
    MW_REJ_ENVELOPE,        //  not an envelope (short, magic, version)
    MW_REJ_OTHER_CLUSTER,   //  sealed with a key we do not hold
    MW_REJ_AUTH,            //  forged, corrupted, or sealed for another node or plane
    MW_REJ_MALFORMED,       //  authenticated but not a valid message
    MW_REJ_REPLAY,          //  seen before / outside the window
    MW_REJ_STALE,           //  from an older session of the sender
    MW_REJ_CLOCK,           //  first contact with a timestamp far off our clock
    MW_REJ_PLANE,           //  a valid message of a type this plane does not carry
    MW_REJ_UNBOUND,         //  sealed unbound, but its type must be sealed for us
    MW_REJ_SESSION,         //  a new session from the future (or not certified)
    MW_REJ_BUDGET,          //  from an untrusted connection, beyond the outsiders' allowance
    MW_REJ_UNSIGNED,        //  an older protocol version than the plane's min_version (no signatures)
    MW_REJ_COUNT
} gossip_reject_t;

typedef struct {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t send_dropped;   //  HWM full, connect failure, or route gone
    uint64_t send_refused;   //  to an address nobody registered and no route leads to
    uint64_t rejected[MW_REJ_COUNT];
    uint64_t beacons_in, beacons_out, beacons_rejected;
    uint64_t peers_open;      //  outbound connections held now (<= out_max)
    uint64_t peers_known;     //  registered addresses now (<= peers_max)
    uint64_t routes;          //  reply routes held now (<= routes_max)
    uint64_t budget_yields;   //  times the gate stopped for the loop's timers
    //  Datagrams (part of msgs_in/out and bytes_in/out above).
    uint64_t dgrams_in, dgrams_out;
    uint64_t dgram_sources;   //  source addresses trusted now (<= sources_max)
    //  By message type (index = mw_msg_type_t): what each kind of message
    //  costs on this plane, sealed bytes (the wire's headers not included).
    //  Inbound counts authenticated messages only.
    uint64_t type_msgs_out[MW_MSG_TYPE_MAX + 1], type_bytes_out[MW_MSG_TYPE_MAX + 1];
    uint64_t type_msgs_in[MW_MSG_TYPE_MAX + 1], type_bytes_in[MW_MSG_TYPE_MAX + 1];
} gossip_transport_stats_t;

typedef struct _gossip_transport_t gossip_transport_t;

//  The largest sealed message sent as one datagram: an Ethernet or Wi-Fi
//  MTU of 1500 less IPv6 and UDP headers, with room to spare (no IP
//  fragmentation, which would turn one lost fragment into a lost message).
#define MW_DGRAM_MAX 1400

//  A transport's settings.  The mesh transport carries membership and
//  election messages; the data plane (jobs, frames) is a second transport
//  with its own port, size limit, queues and replay window, so that bulk
//  frames never delay a heartbeat and the membership socket keeps its small
//  size limit.
typedef struct {
    size_t max_plain;             //  largest plaintext accepted and sent (<= MW_JOB_MSG_MAX)
    int peer_hwm;                 //  messages queued per outbound connection (and per reply pipe)
    int router_hwm;               //  messages queued per inbound connection
    bool data_plane;              //  true: only job types pass the gate; false: only the others
    bool pkg_plane;               //  true: only package types pass (data_plane must be false)
    int sndbuf;                   //  SO_SNDBUF of each outbound connection, bytes (0: the system's)
    int tos;                      //  IP TOS byte of every connection (0: default)
    uint32_t unbound_types;       //  bit 1 << type: types accepted when sealed unbound
    uint32_t out_max;             //  outbound connections held at once
    uint32_t peers_max;           //  registered addresses
    uint32_t routes_max;          //  reply routes
    size_t turn_bytes;            //  bytes authenticated per slice before recv yields
    size_t untrusted_rate;        //  bytes/s (and burst) authenticated for untrusted connections
    gossip_guard_t *guard;        //  borrowed; NULL: no connection caps
    gossip_guard_rules_t rules;   //  the inbound listener's caps (with a guard)
    //  Datagrams: a UDP socket on the same address and port as the ROUTER.
    //  A message that seals to at most dgram_max bytes, for an address
    //  registered here (or answered through a datagram route), leaves as
    //  one UDP datagram: no connection, no retransmission, no head-of-line
    //  blocking, no TCP acknowledgement on the air.  Bigger ones (full
    //  state) go over TCP.  0 = TCP only.
    size_t dgram_max;
    uint32_t sources_max;   //  datagram source addresses remembered as trusted
    uint8_t min_version;    //  older protocol versions are refused (`unsigned`); 0: any
} gossip_transport_opts_t;

//  Mesh defaults: MW_MSG_MAX, HWM 128 out / 16 in, PUSH_PULL may come
//  unbound (a join to a seed's address), 64 connections, 2 MiB per slice,
//  2 MiB/s for untrusted connections, protocol version 2 at least (a
//  version-1 agent signs neither its records nor its election messages);
//  datagrams up to MW_DGRAM_MAX.
void gossip_transport_opts_defaults (gossip_transport_opts_t *opts);
//  Data plane defaults: MW_JOB_MSG_MAX, HWM 32 out / 4 in, nothing unbound
//  (the analysis server adds JOB_OFFER and JOB), 64 connections, 8 MiB per
//  slice and 8 MiB/s for untrusted connections.
void gossip_transport_opts_data (gossip_transport_opts_t *opts);
//  Package plane defaults: MW_PKG_MSG_MAX, 16 messages queued per
//  outbound connection (control messages; the uploader itself keeps at
//  most one piece per peer on its way and the rest in its own queue, where
//  it can still choose and cancel), 4 inbound per connection, nothing
//  unbound, 256 KiB socket send buffers (so that what the kernel holds for
//  a peer is a few ms of link, not seconds), and DSCP CS1 (TOS 0x20), the
//  scavenger class: Wi-Fi's WMM sends it as background traffic, after
//  heartbeats and jobs, and so does any router or shaper that honours DSCP.
void gossip_transport_opts_pkg (gossip_transport_opts_t *opts);

//  Bind the inbound ROUTER on `bind_endpoint` (e.g. "tcp://10.0.0.1:7946").
//  The keyring and replay window are borrowed (owned by the caller).
gossip_transport_t *gossip_transport_new (const char *bind_endpoint, const gossip_identity_t *ident,
                                          gossip_keyring_t *keys, gossip_replay_t *replay, uint64_t session);
gossip_transport_t *gossip_transport_new_opts (const char *bind_endpoint, const gossip_identity_t *ident,
                                               gossip_keyring_t *keys, gossip_replay_t *replay,
                                               uint64_t session, const gossip_transport_opts_t *opts);
void gossip_transport_destroy (gossip_transport_t **self_p);

//  The inbound socket, and the outbound one (replies to us arrive there).
zsock_t *gossip_transport_sock (gossip_transport_t *self);
zsock_t *gossip_transport_sock_out (gossip_transport_t *self);
//  Both, and the datagram socket when there is one, as poll items
//  (ZMQ_POLLIN).  Writes at most `max` and returns how many it needs (2 or
//  3), so a caller with less room can grow and ask again.
int gossip_transport_pollitems (gossip_transport_t *self, zmq_pollitem_t *items, int max);

//  Register an address we may connect to, with the node id living there
//  (NULL: not known yet, messages to it are sealed unbound).  ttl_ms 0
//  keeps it until removed; otherwise it expires (at prune) unless added
//  again.  0, or -1 if the table is full or the address is not tcp://.
int gossip_transport_peer_add (gossip_transport_t *self, const char *addr, const mw_id_t *id,
                               uint32_t ttl_ms);
//  Unregister (and disconnect) an address.
void gossip_transport_peer_remove (gossip_transport_t *self, const char *addr);
bool gossip_transport_peer_known (gossip_transport_t *self, const char *addr);

//  Fill the header of `msg` (sender, session, seq, ts), sign it when its type
//  must be signed (gossip/sign.h: election messages, for the receiver it is
//  sealed for), encode, seal and
//  queue it to `addr` without blocking.  0, or -1 if it was dropped or
//  refused (no registration, no route).
int gossip_transport_send (gossip_transport_t *self, const char *addr, mw_msg_t *msg);
//  The same, sealed for `to` whatever id the address is registered with
//  (the caller knows whom it means: a PING's target, an election peer).
int gossip_transport_send_to (gossip_transport_t *self, const char *addr, const mw_id_t *to, mw_msg_t *msg);
//  Fill the header and seal for `to` (NULL: unbound) on this transport's
//  plane, into a malloc'ed buffer.  0/-1.
int gossip_transport_seal (gossip_transport_t *self, mw_msg_t *msg, const mw_id_t *to, uint8_t **out,
                           size_t *len);
//  The same for a beacon (always unbound, beacon plane).
int gossip_transport_seal_beacon (gossip_transport_t *self, mw_msg_t *msg, uint8_t **out, size_t *len);

//  Read one inbound message (from either socket) into *msg.  Returns 1 if
//  a valid message from another node was read, 0 if something was read and
//  rejected (counted), or -1 if nothing could be read (or the slice's
//  authentication budget is spent: come back after the timers).  Clear
//  *msg after a 1.
int gossip_transport_recv (gossip_transport_t *self, mw_msg_t *msg);
//  Run a beacon payload through the same gate.  1/0 as above.
int gossip_transport_open_beacon (gossip_transport_t *self, const uint8_t *data, size_t len, mw_msg_t *msg);

//  Drop the connection to `addr` and what is queued on it (peer dead, or
//  changed address); the registration stays.
void gossip_transport_forget_addr (gossip_transport_t *self, const char *addr);
//  Close connections idle for more than idle_ms, drop routes as old, and
//  expired registrations.
void gossip_transport_prune (gossip_transport_t *self, uint64_t now_ms, uint64_t idle_ms);
//  Before shutting down: give queued messages up to linger_ms to leave.
void gossip_transport_set_linger (gossip_transport_t *self, int linger_ms);

//  How a HEARTBEAT is authenticated (gossip/sign.h, "Pair MACs"): with a
//  pair-key table and a way to find a receiver's public key (the member
//  table's, which ties it to the id), a heartbeat to a known receiver
//  carries a 16-byte MAC instead of an Ed25519 signature; without either
//  (or for a receiver whose key is unknown) it is signed.  Both borrowed.
typedef bool (gossip_transport_pk_fn) (void *ctx, const mw_id_t *id, uint8_t pk[MW_PK_MAX]);
void gossip_transport_set_pairkeys (gossip_transport_t *self, gossip_pairkeys_t *keys,
                                    gossip_transport_pk_fn *pk_of, void *ctx);

const gossip_transport_stats_t *gossip_transport_stats (gossip_transport_t *self);
const char *gossip_transport_reject_name (gossip_reject_t r);

int gossip_transport_test (bool verbose);

#endif
