/*  =========================================================================
    gossip_wire - the one wire codec of the mesh (msgpack-c).

    Every mesh message, on TCP (ZeroMQ) or in a UDP beacon, is a msgpack
    document sealed in the crypto envelope (gossip/crypto.h).  This module
    only turns mw_msg_t structs into plaintext bytes and back; it knows
    nothing of keys or sockets.

    The messages are defined once, in gossip/wire_def.h: type numbers,
    fields in order, kinds, limits, and the struct member each field maps
    to.  The encoder and the bounded decoder walk tables built from that
    definition; docs/PROTOCOL.md's message tables are generated from it
    (gossip/mw-protodoc).

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
#include "gossip/wire_def.h"

#define MW_WIRE_MAGIC "MWP"

#define MW_MAX_UPDATES 64             //  piggybacked updates in one message
#define MW_MAX_MEMBERS 1024           //  members in one push-pull state transfer
#define MW_MSG_MAX     (256 * 1024)   //  largest plaintext of a membership/election message
#define MW_BEACON_MAX  255            //  zbeacon's payload limit (sealed size)
//  A beacon goes out as one zbeacon frame of at most MW_BEACON_MAX bytes once
//  sealed, so its plaintext leaves room for the envelope (44 bytes,
//  MW_ENVELOPE_OVERHEAD in gossip/crypto.h; wire.c checks they agree).
#define MW_BEACON_PLAIN_MAX (MW_BEACON_MAX - 44)

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
    //  Version 2: the node keys (gossip/sign.h).  An alive or left record
    //  is signed by the member itself (session and stamp included), a
    //  suspect or dead one by `from`; pk (the member's, so that a receiver
    //  that never met it can check id = BLAKE2b-256 (pk)[:8]) travels only
    //  in full states and introductions.
    uint64_t session;   //  alive/left: the member's boot session
    uint64_t stamp;     //  alive/left: the record's version within (incarnation, session)
    uint8_t sig[MW_SIG_MAX];
    uint16_t sig_len;   //  0 or MW_SIG_MAX
    uint8_t pk[MW_PK_MAX];
    uint16_t pk_len;   //  0 or MW_PK_MAX
} mw_update_t;

//  Message types, numbered as in gossip/wire_def.h (MW_WIRE_MESSAGES):
//  MW_MSG_BEACON = 1 .. MW_MSG_FOCUS = 30, contiguous (the codec's
//  tables are indexed by type).  Types 9..11 (election), 12..15 and 26
//  (jobs, data plane only), 16..22 (packages, package plane only),
//  23..25 (deployments) and 27..30 (cameras, mesh plane) were added
//  before any release (docs/PROTOCOL.md §6).
#define MW_WIRE_ENUM_(NAME, number, ...) MW_MSG_##NAME = number,
#define MW_WIRE_ONE_(...)                +1
typedef enum {
    MW_WIRE_MESSAGES (MW_WIRE_ENUM_)
    //  Types are numbered 1..N without gaps (wire.c checks it).
    MW_MSG_TYPE_MAX = 0 MW_WIRE_MESSAGES (MW_WIRE_ONE_),
} mw_msg_type_t;
#undef MW_WIRE_ENUM_
#undef MW_WIRE_ONE_

//  mw_id_t, mw_jobid_t, mw_job_kind_t and mw_wire_box_t: common/types.h.

//  The body of a job message (types 12..15); which fields each type carries,
//  in which order, is gossip/wire_def.h's (OFFER and JOB also use msg.addr,
//  the reply-to).
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

//  Camera registry replication (camera/cam_registry.h): a camera's version,
//  the element of a digest; and a whole record, the element of a transfer.
typedef struct {
    char id[MW_CAMERA_MAX + 1];
    uint64_t hlc;   //  hybrid logical clock: wall ms << 16 | counter
    mw_id_t origin;
    uint8_t deleted;
} mw_wire_camv_t;

typedef struct {
    char id[MW_CAMERA_MAX + 1];
    uint64_t hlc;
    mw_id_t origin;
    uint8_t deleted;
    char json[MW_CAM_JSON_MAX + 1];   //  the document ("" for a tombstone)
} mw_wire_cam_t;

typedef struct {
    //  The protocol version it was decoded from (1..MW_WIRE_VERSION); the
    //  encoder ignores it and writes MW_WIRE_SEND_VERSION.
    uint8_t version;
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
    uint64_t summary;                    //  PUSH_PULL (version 3), no updates: the sender's table hash
    uint64_t term;                       //  HEARTBEAT, VOTE_REQ, VOTE: election term
    uint32_t lease_ms;                   //  HEARTBEAT: lease granted by this heartbeat (0 = resign)
    uint32_t rank;                       //  HEARTBEAT, VOTE_REQ, VOTE: ballot rank (see ballot)
    uint8_t pre;                         //  VOTE_REQ, VOTE: 1 = pre-vote
    uint8_t granted;                     //  VOTE: 1 = yes
    mw_id_t coordinator;                 //  VOTE: the coordinator the voter follows (zero = none)
    mw_id_t ballot;                      //  VOTE: id of the ballot (term, rank, ballot) answered
                                         //  (HEARTBEAT, VOTE_REQ: the ballot's id is the sender)
    uint8_t signature[MW_SIG_MAX];       //  HEARTBEAT, VOTE_REQ, VOTE (version 2): the sender's
    uint16_t signature_len;              //  Ed25519 signature (gossip/sign.h), 0 or MW_SIG_MAX
    uint8_t witnesses;                   //  HEARTBEAT (version 3): the coordinator's witness count
                                         //  when the receiver is one of them, else 0
    uint8_t witness;                     //  VOTE_REQ (version 3): the candidate is a witness
    uint8_t lapsed;                      //  VOTE (version 3): the voter holds no lease itself
                                         //  (docs/ELECTION.md section 3, "Witnesses")

    //  Updates: piggybacked (PING, ACK, PING_REQ, NACK, GOSSIP; at most
    //  MW_MAX_UPDATES) or full state (PUSH_PULL*, at most MW_MAX_MEMBERS).
    //  Owned by the message: gossip_wire_msg_clear () frees it.
    mw_update_t *updates;
    uint32_t n_updates;

    //  Job types only (12..15): owned by the message, NULL otherwise.
    mw_job_t *job;

    //  Package plane (types 16..22, docs/PACKAGES.md).  The byte fields are
    //  owned by the message (gossip_wire_msg_clear frees them).
    uint8_t pkg[MW_PKG_ID_LEN];   //  the package: SHA-256 of its manifest
    uint32_t piece;               //  PKG_REQ, PKG_PIECE, PKG_REFUSE
    uint32_t pkg_have;            //  PKG_HAVE: pieces held
    uint8_t pkg_cancel;           //  PKG_REQ: 1 = withdraw the request
    uint8_t pkg_why;              //  PKG_REFUSE: 1 busy, 2 not held, 3 unknown package
    uint8_t *pkg_entries;         //  PKG_INDEX: packed entries (MW_PKG_INDEX_ENTRY bytes each)
    uint32_t pkg_entries_len;
    uint8_t *pkg_meta;   //  PKG_META: the signed metadata, its signature, manifest, config, piece list
    uint32_t pkg_meta_len;
    uint8_t *pkg_sig;
    uint32_t pkg_sig_len;
    uint8_t *pkg_manifest;
    uint32_t pkg_manifest_len;
    uint8_t *pkg_config;
    uint32_t pkg_config_len;
    uint8_t *pkg_pieces;
    uint32_t pkg_pieces_len;
    uint8_t *pkg_bitmap;   //  PKG_HAVE
    uint32_t pkg_bitmap_len;
    uint8_t *pkg_data;   //  PKG_PIECE
    uint32_t pkg_data_len;

    //  Deployments (types 23..25): the packed plan, report or command,
    //  owned by the message.
    uint8_t *deploy;
    uint32_t deploy_len;

    //  Camera registry (types 27..29): CAM_SUMMARY, CAM_DIGEST, CAM_RECORDS.  The lists are
    //  owned by the message (gossip_wire_msg_clear frees them).
    uint32_t cam_count;      //  SUMMARY: entries held
    uint64_t cam_hash;       //  SUMMARY: cam_registry_summary
    uint8_t reply;           //  DIGEST: 1 answers a digest
    mw_wire_camv_t *camvs;   //  DIGEST
    uint32_t n_camvs;
    mw_wire_cam_t *cams;   //  RECORDS
    uint32_t n_cams;

    //  FOCUS (type 30, scenario 4).
    mw_jobid_t focus_id;
    mw_id_t focus_origin;
    char focus_camera[MW_CAMERA_MAX + 1];
    char focus_trigger[MW_FOCUS_TRIGGER_MAX + 1];
    uint32_t lat_e6, lon_e6;   //  (degrees + 90 / + 180) in millionths: no floats on the wire
    uint32_t radius_m, ttl_ms;
    uint64_t created_ms;
    uint8_t hops;
} mw_msg_t;

//  Encode `msg` into a freshly allocated buffer (*out, *out_len); caller frees
//  with free ().  Returns 0, or a negative code when a field breaks a limit
//  (the encoder checks the same limits as the decoder).
int gossip_wire_encode (const mw_msg_t *msg, uint8_t **out, size_t *out_len);
//  The same, in protocol `version` (1..MW_WIRE_VERSION) rather than
//  MW_WIRE_SEND_VERSION: a signature covers the encoding a message was
//  sent in (gossip/sign.c).  MW_WIRE_EVERSION for another version.
int gossip_wire_encode_version (const mw_msg_t *msg, uint8_t version, uint8_t **out, size_t *out_len);

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
bool gossip_wire_is_pkg_type (int type);                         //  16..22

//  --------------------------------------------------------------------------
//  The definition as tables (built from gossip/wire_def.h), for the tools
//  that must follow it: the doc generator, the fault-injecting encoder's
//  users, the fuzz corpus writer.

typedef enum {
    MW_WIRE_UINT,   //  unsigned integer <= max (ERANGE above)
    MW_WIRE_BOOL,   //  0 or 1 (ERANGE above)
    MW_WIRE_SIZE,   //  announced byte count <= max (ETOOBIG above)
    MW_WIRE_ID,     //  bin of exactly `size` bytes (EMALFORMED otherwise)
    MW_WIRE_STR,    //  str of <= max bytes (ETOOBIG), no NUL (EMALFORMED)
    MW_WIRE_BIN,    //  bin of <= max bytes, inline
    MW_WIRE_BLOB,   //  bin of min..max bytes, allocated
    MW_WIRE_LIST,   //  array of <= max records of `rec`
} mw_wire_kind_t;

//  Where a field's member lives.
typedef enum {
    MW_WIRE_IN_MSG,      //  mw_msg_t
    MW_WIRE_IN_JOB,      //  *mw_msg_t.job (mw_job_t)
    MW_WIRE_IN_UPDATE,   //  mw_update_t (element of `updates`)
    MW_WIRE_IN_BOX,      //  mw_wire_box_t (element of `boxes`)
    MW_WIRE_IN_CAMV,     //  mw_wire_camv_t (element of `camvs`)
    MW_WIRE_IN_CAM,      //  mw_wire_cam_t (element of `cams`)
} mw_wire_in_t;

typedef enum { MW_WIRE_PLANE_MESH, MW_WIRE_PLANE_DATA, MW_WIRE_PLANE_PKG } mw_wire_plane_t;

typedef struct mw_wire_record_s mw_wire_record_t;

typedef struct {
    const char *name;              //  "probe", as in the struct and the docs
    uint8_t kind;                  //  mw_wire_kind_t
    uint8_t in;                    //  mw_wire_in_t
    uint8_t since;                 //  protocol version that added it
    uint8_t size;                  //  sizeof the member (UINT/BOOL/SIZE: its width; ID: its length)
    uint16_t offset;               //  offsetof the member
    uint16_t len_offset;           //  BIN/BLOB: offsetof <member>_len; LIST: n_<member>
    uint8_t len_size;              //  and its sizeof
    uint64_t min, max;             //  BLOB: length bounds; LIST: count; STR/BIN: length; UINT/SIZE: value
    const char *max_name;          //  the limit as written in the definition ("MW_NAME_MAX")
    const mw_wire_record_t *rec;   //  LIST: the element
    const char *doc;
} mw_wire_field_t;

struct mw_wire_record_s {
    const char *name;   //  "update", "box"
    size_t size;        //  sizeof the element struct
    const mw_wire_field_t *fields;
    uint32_t n_fields;
};

typedef struct {
    uint8_t type;           //  mw_msg_type_t
    const char *name;       //  "ping-req" (gossip_wire_type_name)
    const char *ident;      //  "PING_REQ"
    uint8_t plane;          //  mw_wire_plane_t
    uint8_t since;          //  protocol version that added it
    uint32_t max_updates;   //  0: the updates array must be empty
    size_t max_bytes;       //  largest plaintext of this type
    const char *max_bytes_name;
    const mw_wire_field_t *fields;   //  body fields, then `updates` (always the last)
    uint32_t n_fields;               //  including `updates`
    const char *doc;
} mw_wire_msg_def_t;

//  The definition of `type`, or NULL for a number that is no type.
const mw_wire_msg_def_t *gossip_wire_def (int type);
//  The header fields after magic, version and type (sender .. ts_ms).
const mw_wire_field_t *gossip_wire_header (uint32_t *n_fields);
//  A field of `type` by name: "probe", "updates", "updates.state",
//  "boxes.score" (an element's field), or a header field ("sender");
//  NULL if the type has none.
const mw_wire_field_t *gossip_wire_field (int type, const char *path);

//  --------------------------------------------------------------------------
//  Deliberately broken encodings (tests, tests/tools/mw-inject, fuzz seeds):
//  the encoder's own walk with one fault at one field, so that a test tool
//  never carries its own copy of the layout.

typedef enum {
    MW_WIRE_FAULT_NONE = 0,
    MW_WIRE_FAULT_DROP,       //  the field left out, its array's count one less
    MW_WIRE_FAULT_EXTRA,      //  the field written twice, its array's count one more
    MW_WIRE_FAULT_KIND,       //  another msgpack kind: nil for an integer, bin for a str,
                              //  str for a bin, map for an array
    MW_WIRE_FAULT_OVER,       //  one past the limit: integer max + 1, max + 1 bytes or
                              //  elements, an id one byte long
    MW_WIRE_FAULT_UNDER,      //  below it: a negative integer, an id one byte short, a
                              //  blob shorter than its minimum
    MW_WIRE_FAULT_NUL,        //  a NUL byte inside a str
    MW_WIRE_FAULT_HUGE,       //  a str/bin/array header claiming 2^32 - 1, nothing behind
    MW_WIRE_FAULT_CLAIM,      //  a header claiming the limit (an id: its length), nothing behind
    MW_WIRE_FAULT_VALUE,      //  a value of the right kind the field never has (magic
                              //  "MWX", version 0, type 0)
    MW_WIRE_FAULT_TRAILING,   //  (whole message) a byte after the top-level array
    MW_WIRE_FAULT_COUNT
} mw_wire_fault_kind_t;

//  Returned by gossip_wire_encode_fault when the fault cannot be made at
//  that field (no such field, or e.g. OVER on a uint64).  Never a decoder
//  code.
#define MW_WIRE_ENOFAULT -9

//  Encodes msg like gossip_wire_encode, with one fault.  `field` names a
//  field as gossip_wire_field () does, or "magic", "version", "type"; NULL
//  means the top-level array (KIND, DROP, EXTRA, HUGE, TRAILING).  A fault
//  in an element's field goes into the last element (the list must not be
//  empty).  The message is not checked against the limits (it may break
//  others on purpose); the encoding ends right after a HUGE or CLAIM
//  header.  0, MW_WIRE_ENOFAULT, MW_WIRE_ETYPE (no such type) or
//  MW_WIRE_ENOMEM.
int gossip_wire_encode_fault (const mw_msg_t *msg, const char *field, mw_wire_fault_kind_t fault,
                              uint8_t **out, size_t *out_len);
const char *gossip_wire_fault_name (mw_wire_fault_kind_t fault);   //  "drop", ...

//  Fills *msg (zeroed first) with a valid message of `type`: every field
//  the type carries (in MW_WIRE_SEND_VERSION), strings and byte fields str_len bytes long and each
//  list list_len elements long (both capped at the field's limit, a blob
//  at least its minimum), integers at their maximum when seed is 0, else
//  pseudo-random within their limits.  For round trips, fuzz seeds and test
//  traffic: what it builds follows the definition, so a new field or type
//  is covered without a test edit.  Free with gossip_wire_msg_clear ().
//  0, MW_WIRE_ETYPE or MW_WIRE_ENOMEM.
int gossip_wire_msg_fill (mw_msg_t *msg, int type, size_t str_len, uint32_t list_len, uint64_t seed);

int gossip_wire_test (bool verbose);

#endif
