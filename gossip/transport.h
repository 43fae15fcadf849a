/*  =========================================================================
    gossip_transport - mesh messages over ZeroMQ, sealed and replay-checked.

    Inbound, each node binds one ROUTER on MESH_PORT.  Outbound, it keeps one
    DEALER per peer endpoint, connected lazily and dropped when the peer is
    forgotten or idle.  Every message is one-way (a datagram in spirit, as
    SWIM wants): an ACK travels back through the acker's own DEALER to the
    prober's ROUTER.  Sends never block the loop: a full queue (HWM) drops
    the message and counts it, and SWIM's timeouts treat that like loss.

    Every inbound byte goes through the same gate, in this order: frame and
    size checks, envelope (AEAD), wire decode, replay window; each rejection
    is counted by reason so an operator (and the tests) can see forged,
    replayed or malformed traffic.
    ========================================================================= */
#ifndef GOSSIP_TRANSPORT_H_INCLUDED
#define GOSSIP_TRANSPORT_H_INCLUDED

#include "gossip/crypto.h"
#include "gossip/wire.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MW_REJ_SIZE = 0,        //  empty, oversized, or wrong frame count
    MW_REJ_ENVELOPE,        //  not an envelope (short, magic, version)
    MW_REJ_OTHER_CLUSTER,   //  sealed with a key we do not hold
    MW_REJ_AUTH,            //  forged or corrupted (AEAD failed)
    MW_REJ_MALFORMED,       //  authenticated but not a valid message
    MW_REJ_REPLAY,          //  seen before / outside the window
    MW_REJ_STALE,           //  from an older session of the sender
    MW_REJ_CLOCK,           //  first contact with a timestamp far off our clock
    MW_REJ_PLANE,           //  a valid message of a type this plane does not carry
    MW_REJ_COUNT
} gossip_reject_t;

typedef struct {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t send_dropped;   //  HWM full or connect failure
    uint64_t rejected[MW_REJ_COUNT];
    uint64_t beacons_in, beacons_out, beacons_rejected;
    uint64_t peers_open;   //  DEALERs currently held
} gossip_transport_stats_t;

typedef struct _gossip_transport_t gossip_transport_t;

//  Bind the ROUTER on `bind_endpoint` (e.g. "tcp://10.0.0.1:7946").  The
//  keyring and replay window are borrowed (owned by the caller).
gossip_transport_t *gossip_transport_new (const char *bind_endpoint, const gossip_identity_t *ident,
                                          gossip_keyring_t *keys, gossip_replay_t *replay, uint64_t session);
void gossip_transport_destroy (gossip_transport_t **self_p);

//  A transport for another plane.  The mesh transport above carries
//  membership and election messages; the data plane (jobs, frames) is a
//  second transport with its own port, size limit, queues and replay
//  window, so that bulk frames never delay a heartbeat and the membership
//  socket keeps its small size limit.
typedef struct {
    size_t max_plain;   //  largest plaintext accepted and sent (<= MW_JOB_MSG_MAX)
    int peer_hwm;       //  messages queued per peer DEALER
    int router_hwm;     //  messages queued inbound
    bool data_plane;    //  true: only job types pass the gate; false: only the others
    bool pkg_plane;     //  true: only package types pass (data_plane must be false)
    int sndbuf;         //  SO_SNDBUF of each outbound connection, bytes (0: the system's)
    int tos;            //  IP TOS byte of every connection (0: default)
} gossip_transport_opts_t;

//  Mesh defaults: MW_MSG_MAX, 128, 4096, not data plane.
void gossip_transport_opts_defaults (gossip_transport_opts_t *opts);
//  Data plane defaults: MW_JOB_MSG_MAX, 32, 256, data plane.
void gossip_transport_opts_data (gossip_transport_opts_t *opts);
//  Package plane defaults: MW_PKG_MSG_MAX, 16 messages queued per peer
//  (control messages; the uploader itself keeps at most one piece per
//  peer on its way and the rest in its own queue, where it can still
//  choose and cancel), 64 inbound, 256 KiB socket send buffers (so that
//  what the kernel holds for a peer is a few ms of link, not seconds), and
//  DSCP CS1 (TOS 0x20), the scavenger class: Wi-Fi's WMM sends it as
//  background traffic, after heartbeats and jobs, and so does any router
//  or shaper that honours DSCP.
void gossip_transport_opts_pkg (gossip_transport_opts_t *opts);
gossip_transport_t *gossip_transport_new_opts (const char *bind_endpoint, const gossip_identity_t *ident,
                                               gossip_keyring_t *keys, gossip_replay_t *replay,
                                               uint64_t session, const gossip_transport_opts_t *opts);

//  The inbound socket, for zmq_poll.
zsock_t *gossip_transport_sock (gossip_transport_t *self);

//  True if a message to `addr` would be queued now (its connection's queue
//  has room; a connection not made yet counts as room).
bool gossip_transport_writable (gossip_transport_t *self, const char *addr);

//  Fill the header of `msg` (sender, session, seq, ts), encode, seal and
//  queue it to `addr` without blocking.  0, or -1 if it was dropped.
int gossip_transport_send (gossip_transport_t *self, const char *addr, mw_msg_t *msg);
//  Fill the header and seal into a malloc'ed buffer (beacons).  0/-1.
int gossip_transport_seal (gossip_transport_t *self, mw_msg_t *msg, uint8_t **out, size_t *len);

//  Read one inbound message into *msg.  Returns 1 if a valid message from
//  another node was read, 0 if something was read and rejected (counted), or
//  -1 if nothing could be read.  Clear *msg after a 1.
int gossip_transport_recv (gossip_transport_t *self, mw_msg_t *msg);
//  Run a beacon payload through the same gate.  1/0 as above.
int gossip_transport_open_beacon (gossip_transport_t *self, const uint8_t *data, size_t len, mw_msg_t *msg);

//  Drop the DEALER to `addr` (peer reaped or changed address).
void gossip_transport_forget_addr (gossip_transport_t *self, const char *addr);
//  Close DEALERs idle for more than idle_ms.
void gossip_transport_prune (gossip_transport_t *self, uint64_t now_ms, uint64_t idle_ms);
//  Before shutting down: give queued messages up to linger_ms to leave.
void gossip_transport_set_linger (gossip_transport_t *self, int linger_ms);

const gossip_transport_stats_t *gossip_transport_stats (gossip_transport_t *self);
const char *gossip_transport_reject_name (gossip_reject_t r);

int gossip_transport_test (bool verbose);

#endif
