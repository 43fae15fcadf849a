/*  =========================================================================
    gossip_wire - the one wire codec of the mesh (msgpack-c).

    Every mesh message, on TCP (ZeroMQ) or in a UDP beacon, is a msgpack
    document sealed in the crypto envelope (gossip/crypto.h).  This module
    only turns mw_msg_t structs into plaintext bytes and back; it knows
    nothing of keys or sockets.  docs/PROTOCOL.md is the normative text.

    Plaintext layout (msgpack array, fixed order, no maps, so that unknown
    or missing fields are detectable and every field has a size limit):

        [ magic "MWP", version, type, sender(bin 8), session, seq, ts_ms, body... ]

    Decoding is strict and bounds-checked: every string and array has a
    maximum, every integer a range, and a distinct negative code tells
    which rule a malformed input broke.  The decoder never reads past the
    buffer it is given and never allocates more than the limits allow.
    ========================================================================= */
#ifndef GOSSIP_WIRE_H_INCLUDED
#define GOSSIP_WIRE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/types.h"

#define MW_WIRE_MAGIC   "MWP"
#define MW_WIRE_VERSION 1

#define MW_MAX_UPDATES 64             //  piggybacked updates in one message
#define MW_MAX_MEMBERS 1024           //  members in one push-pull state transfer
#define MW_MSG_MAX     (256 * 1024)   //  largest plaintext of a membership/election message
#define MW_BEACON_MAX  255            //  zbeacon's payload limit (sealed size)

//  Inference jobs (docs/PROTOCOL.md §jobs).  They travel on the data plane:
//  a second transport on JOB_PORT (and the analysis server's VMS_PORT), so
//  a multi-megabyte frame never queues in front of a heartbeat, and the
//  membership socket keeps its small size limit.
#define MW_JOB_MSG_MAX (MW_FRAME_MAX + 16 * 1024)   //  largest plaintext on the data plane

//  Decoder return codes (all negative; 0 = ok).
#define MW_WIRE_OK         0
#define MW_WIRE_ETRUNC     -1   //  input ends inside a value
#define MW_WIRE_EMAGIC     -2   //  not our magic
#define MW_WIRE_EVERSION   -3   //  protocol version we do not speak
#define MW_WIRE_ETYPE      -4   //  unknown message type
#define MW_WIRE_EMALFORMED -5   //  wrong msgpack type or field count
#define MW_WIRE_ETOOBIG    -6   //  a field or the whole message exceeds its limit
#define MW_WIRE_ERANGE     -7   //  integer or enum value out of range
#define MW_WIRE_ENOMEM     -8   //  allocation failed

//  Member states, as seen in views and updates.
typedef enum {
    MW_STATE_ALIVE = 0,
    MW_STATE_SUSPECT = 1,
    MW_STATE_DEAD = 2,
    MW_STATE_LEFT = 3,
} mw_state_t;
#define MW_STATE_COUNT 4

//  One member's state record: what SWIM disseminates and push-pull transfers.
typedef struct {
    mw_id_t id;
    char name[MW_NAME_MAX + 1];
    char addr[MW_ADDR_MAX + 1];   //  mesh endpoint, "tcp://ip:port"
    uint8_t state;                //  mw_state_t
    uint64_t incarnation;
    mw_id_t from;                    //  who asserts it (suspect/dead); the member itself otherwise
    uint16_t digest_len;             //  0..MW_DIGEST_MAX
    uint8_t digest[MW_DIGEST_MAX];   //  opaque; the forecasts issue defines it
} mw_update_t;

typedef enum {
    MW_MSG_BEACON = 1,      //  UDP discovery: "cluster X, node Y, reach me at Z"
    MW_MSG_PING = 2,        //  SWIM direct probe
    MW_MSG_ACK = 3,         //  answer to PING (direct, or relayed for PING_REQ)
    MW_MSG_PING_REQ = 4,    //  "probe target T for me" (indirect probe)
    MW_MSG_NACK = 5,        //  Lifeguard: relay got no ack from T in time
    MW_MSG_GOSSIP = 6,      //  updates only (dissemination tick)
    MW_MSG_PUSH_PULL = 7,   //  full state, asks for the receiver's full state
    MW_MSG_PUSH_PULL_REPLY = 8,
    //  Coordinator election (scheduler/election.h, docs/ELECTION.md).
    //  Additive within version 1: older decoders of this version never saw
    //  them on the wire because no node sent them before this change.
    MW_MSG_HEARTBEAT = 9,   //  coordinator -> members: "I hold term T, lease L"
    MW_MSG_VOTE_REQ = 10,   //  candidate -> members: (pre-)vote for term T?
    MW_MSG_VOTE = 11,       //  answer to VOTE_REQ, or to a stale HEARTBEAT
    //  Inference jobs (node/jobs.h), data plane only.  Additive within
    //  version 1 like the election types.
    MW_MSG_JOB_OFFER = 12,    //  origin -> peer: "can you run job J (model, budget, size)?"
    MW_MSG_JOB_REPLY = 13,    //  peer -> origin: accepted (reservation) or refused, with reason
    MW_MSG_JOB = 14,          //  origin -> runner: the job and its frame
    MW_MSG_JOB_RESULT = 15,   //  runner -> origin: detections, or a failure with reason
    MW_MSG_TYPE_MAX = 15,
} mw_msg_type_t;

//  mw_id_t, mw_jobid_t, mw_job_kind_t and mw_wire_box_t: common/types.h.

//  The body of a job message (types 12..15).  Which fields a type carries:
//    OFFER  id, kind, model, deadline_ms, priority, frame_len          (+ msg.addr: reply-to)
//    REPLY  id, status (1 accepted, 0 refused), wait_ms, reason
//    JOB    id, kind, camera, model, deadline_ms, priority, frame      (+ msg.addr: reply-to)
//    RESULT id, kind, status (0 ok, else failed), reason, model, queue_ms,
//           infer_ms, width, height, confidence, boxes
typedef struct {
    mw_jobid_t id;
    uint8_t kind;   //  mw_job_kind_t
    char camera[MW_CAMERA_MAX + 1];
    char model[MW_MODEL_MAX + 1];
    uint32_t deadline_ms;             //  budget left when sent (relative: no clock sync needed)
    uint8_t priority;                 //  0 (lowest) .. 9
    uint32_t frame_len;               //  OFFER: size of the frame to come; JOB: bytes in frame
    uint8_t *frame;                   //  JOB: the JPEG, owned (gossip_wire_msg_clear frees it)
    uint8_t status;                   //  REPLY: 1 accepted; RESULT: 0 ok, else a failure
    char reason[MW_REASON_MAX + 1];   //  REPLY (refused), RESULT (failed)
    uint32_t wait_ms;                 //  REPLY: the runner's predicted completion, ms
    uint32_t queue_ms, infer_ms;      //  RESULT: time queued at the runner, inference time
    uint32_t width, height;           //  RESULT: frame size in pixels
    uint32_t confidence;              //  RESULT: mean detection score, millionths
    uint32_t n_boxes;                 //  RESULT: 0..MW_MAX_BOXES
    mw_wire_box_t *boxes;             //  RESULT: owned
} mw_job_t;

typedef struct {
    //  Header: in every message.
    uint8_t type;   //  mw_msg_type_t
    mw_id_t sender;
    uint64_t session;   //  sender's boot session (wall ms at start); replay defence
    uint64_t seq;       //  per session, strictly increasing per message sent
    uint64_t ts_ms;     //  sender's wall clock when sealed

    //  Body, by type.  Unused fields are zero.
    char cluster[MW_CLUSTER_MAX + 1];    //  BEACON
    char name[MW_NAME_MAX + 1];          //  BEACON
    char addr[MW_ADDR_MAX + 1];          //  BEACON: sender's endpoint; PING/PING_REQ: where to answer
    uint32_t probe;                      //  PING, ACK, PING_REQ, NACK: probe number
    mw_id_t target;                      //  PING (who the prober thinks it pings), PING_REQ
    char target_addr[MW_ADDR_MAX + 1];   //  PING_REQ
    uint8_t join;                        //  PUSH_PULL: 1 when the sender is joining
    uint64_t term;                       //  HEARTBEAT, VOTE_REQ, VOTE: election term
    uint32_t lease_ms;                   //  HEARTBEAT: lease granted by this heartbeat (0 = resign)
    uint32_t rank;                       //  HEARTBEAT, VOTE_REQ, VOTE: ballot rank (see ballot)
    uint8_t pre;                         //  VOTE_REQ, VOTE: 1 = pre-vote
    uint8_t granted;                     //  VOTE: 1 = yes
    mw_id_t coordinator;                 //  VOTE: the coordinator the voter follows (zero = none)
    mw_id_t ballot;                      //  VOTE: id of the ballot (term, rank, ballot) answered
                                         //  (HEARTBEAT, VOTE_REQ: the ballot's id is the sender)

    //  Updates: piggybacked (PING, ACK, PING_REQ, NACK, GOSSIP; at most
    //  MW_MAX_UPDATES) or full state (PUSH_PULL*, at most MW_MAX_MEMBERS).
    //  Owned by the message: gossip_wire_msg_clear () frees it.
    mw_update_t *updates;
    uint32_t n_updates;

    //  Job types only (12..15): owned by the message, NULL otherwise.
    mw_job_t *job;
} mw_msg_t;

//  Encode `msg` into a freshly allocated buffer (*out, *out_len); caller frees
//  with free ().  Returns 0, or a negative code when a field breaks a limit
//  (the encoder checks the same limits as the decoder).
int gossip_wire_encode (const mw_msg_t *msg, uint8_t **out, size_t *out_len);

//  Decode `len` bytes into *msg (which is overwritten; call
//  gossip_wire_msg_clear () afterwards, also on error).  Returns 0 or a
//  negative MW_WIRE_E* code.
int gossip_wire_decode (const uint8_t *data, size_t len, mw_msg_t *msg);

//  Free the updates array (and a job body with its frame and boxes) and
//  zero the message.
void gossip_wire_msg_clear (mw_msg_t *msg);

//  Deep copy (updates and job body included).  Returns 0/-1.
int gossip_wire_msg_copy (mw_msg_t *dst, const mw_msg_t *src);

//  Text helpers.
const char *gossip_wire_strerror (int code);      //  "truncated", "bad magic", ...
const char *gossip_wire_type_name (int type);     //  "ping", ... or "unknown"
const char *gossip_wire_state_name (int state);   //  "alive"|"suspect"|"dead"|"left"
void gossip_wire_id_hex (const mw_id_t *id, char out[MW_ID_HEX_LEN + 1]);
int gossip_wire_id_parse (const char *hex, mw_id_t *id);   //  0/-1
bool gossip_wire_id_eq (const mw_id_t *a, const mw_id_t *b);
bool gossip_wire_id_zero (const mw_id_t *id);
//  Job ids: 32 hex digits.
void gossip_wire_jobid_hex (const mw_jobid_t *id, char out[2 * MW_JOBID_LEN + 1]);
int gossip_wire_jobid_parse (const char *hex, mw_jobid_t *id);   //  0/-1
bool gossip_wire_is_job_type (int type);                         //  12..15

int gossip_wire_test (bool verbose);

#endif
