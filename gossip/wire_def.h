/*  =========================================================================
    gossip/wire_def.h - the mesh protocol's messages, defined once.

    Every message type, its number, its fields in wire order, each field's
    kind and limit, the struct member it maps to, and how many membership
    updates the type may carry, are listed here and nowhere else.  From
    these lists (X-macros: no generator runs at build time):

      gossip/wire.h    the mw_msg_type_t enum and MW_MSG_TYPE_MAX;
      gossip/wire.c    the field tables, the one encoder and the one bounded
                       decoder that walk them, the fault-injecting encoder
                       (tests/tools/mw-inject, tests/fuzz/make_corpus) and
                       the selftest's round-trip and malformed-input cases;
      gossip/mw-protodoc  the generated tables of docs/PROTOCOL.md, which
                       `make check` compares with this file.

    Plaintext layout (one msgpack array, no maps; docs/PROTOCOL.md §3):

        [ "MWP", version, type, <header fields>, <body fields by type>, updates ]

    Rows
    ----
    A message:   MSG (NAME, number, "text name", plane, max updates,
                      max plaintext bytes, since, "what it is for")
    Its body:    #define MW_WIRE_BODY_<NAME>(F)  one F row per field, in
                 wire order (empty for a type without body fields)
    A field:     F (struct, member, KIND, limit, aux, since, "meaning")

      struct  where the member lives: MSG (mw_msg_t), JOB (the mw_job_t a
              job message points to), UPDATE (mw_update_t), BOX
              (mw_wire_box_t).
      KIND    UINT   unsigned integer <= limit (ERANGE above it; negative is
                     ERANGE); member: uint8/16/32/64_t
              BOOL   0 or 1 (ERANGE otherwise); limit and aux unused (0)
              SIZE   an announced byte count <= limit (ETOOBIG above it;
                     ERANGE beyond the member's width)
              ID     bin of exactly sizeof (member) bytes (EMALFORMED
                     otherwise); limit unused (0)
              STR    str of <= limit bytes (ETOOBIG), no NUL inside
                     (EMALFORMED); member: char[limit + 1]
              BIN    bin of <= limit bytes (ETOOBIG); member: uint8_t
                     [limit], its length in <member>_len
              BLOB   bin of aux..limit bytes, allocated (EMALFORMED below
                     aux, ETOOBIG above limit); member: uint8_t *, its
                     length in <member>_len (uint32_t)
              LIST   array of <= limit aux records (ETOOBIG above);
                     member: a pointer to the records, their count in
                     n_<member> (uint32_t); aux: UPDATE or BOX
      since   the protocol version that added the field: 1, 2 for the
              node-key signatures (records' session, stamp, sig, pk; the
              election messages' signature), or 3 for issue 17 (the
              election's witnesses: HEARTBEAT witnesses, VOTE_REQ witness,
              VOTE lapsed; PUSH_PULL summary).

    The `updates` array that ends every message is not listed in the
    bodies: the MSG row's "max updates" gives its limit (0: must be empty).
    Every other limit is the field's own; the encoder checks the same
    limits as the decoder, so whatever is sent can be read.

    How to change the protocol
    --------------------------
    * A new field in an existing type: add one F row at the END of that
      type's body (fields are never inserted, removed, reordered or
      retyped), and the struct member it maps to (the build checks that
      the member's type fits the kind).  Outside a pre-release window
      (docs/PROTOCOL.md §6) give it since = MW_WIRE_VERSION + 1 and bump
      MW_WIRE_VERSION: decoders then read both versions, a version-1
      message simply lacks the field (left zero).  Keep MW_WIRE_SEND_VERSION
      at the old version for one release (nodes that can read the new field
      while still sending the old layout), then bump it.
          F (MSG, signature, BIN, MW_SIG_MAX, 0, 2, "Ed25519 signature over ...")
    * A new message type: one MSG row with the next number, and its
      MW_WIRE_BODY_<NAME> list.  The enum constant MW_MSG_<NAME> appears by
      itself.
    * Then: `make check` fails on docs/PROTOCOL.md until you run
      `build/gossip/mw-protodoc --update docs/PROTOCOL.md`, and on the
      golden vectors only if the bytes of an existing message changed
      (they must not, except with a version bump).
    ========================================================================= */
#ifndef GOSSIP_WIRE_DEF_H_INCLUDED
#define GOSSIP_WIRE_DEF_H_INCLUDED

//  The protocol's major version: decoders read versions 1..MW_WIRE_VERSION,
//  the encoder writes MW_WIRE_SEND_VERSION (see "How to change" above).
//  Version 2 (signed records and election messages) is sent at once, not
//  after a release of readers: a version-1 agent signs nothing, and a
//  version-2 mesh plane refuses its messages (`unsigned`, logged once a
//  minute per sender) instead of trusting them, so the mesh is upgraded as
//  a whole (docs/PROTOCOL.md section 6).  Version 3 (the election's
//  witnesses, docs/ELECTION.md) likewise: a version-2 node cannot read a
//  version-3 message, and a mesh plane that already needs UDP (PROTOCOL.md
//  section 1) is upgraded as a whole anyway.
#define MW_WIRE_VERSION      3
#define MW_WIRE_SEND_VERSION 3

//  Limits that only the wire defines (the others: common/types.h, wire.h).
//  A deadline is a budget for one frame, not a schedule: an hour is far
//  beyond any real one and keeps the arithmetic on it well inside 32 bits.
#define MW_JOB_DEADLINE_MAX 3600000u
#define MW_JOB_PRIORITY_MAX 9
//  Node keys (gossip/sign.h): an Ed25519 signature and public key.
#define MW_SIG_MAX 64
#define MW_PK_MAX  32

//  Header fields, in every message after magic, version and type (which
//  the codec writes and checks itself: their errors are EMAGIC, EVERSION,
//  ETYPE rather than a field's).
#define MW_WIRE_HEADER(F)                                                                                    \
    F (MSG, sender, ID, 0, 0, 1, "the sender's node id")                                                     \
    F (MSG, session, UINT, UINT64_MAX, 0, 1,                                                                 \
       "sender's boot session: wall-clock ms when it started (a receiver refuses a new "                     \
       "session later than its clock + MAX_CLOCK_SKEW_MS)")                                                  \
    F (MSG, seq, UINT, UINT64_MAX, 0, 1, "per session, strictly increasing per message sent")                \
    F (MSG, ts_ms, UINT, UINT64_MAX, 0, 1, "sender's wall clock (ms since the epoch) when sealed")

//  Planes: the mesh plane (MESH_PORT, beacons), the data plane (JOB_PORT,
//  VMS_PORT; docs/PROTOCOL.md §7.1) and the package plane (PKG_PORT,
//  docs/PACKAGES.md).
#define MW_WIRE_MESSAGES(MSG)                                                                                \
    MSG (BEACON, 1, "beacon", MESH, 0, MW_BEACON_PLAIN_MAX, 1,                                               \
         "UDP discovery: cluster X, node Y, reach me at Z")                                                  \
    MSG (PING, 2, "ping", MESH, MW_MAX_UPDATES, MW_MSG_MAX, 1, "SWIM direct probe")                          \
    MSG (ACK, 3, "ack", MESH, MW_MAX_UPDATES, MW_MSG_MAX, 1,                                                 \
         "answer to PING (direct, or relayed for PING_REQ)")                                                 \
    MSG (PING_REQ, 4, "ping-req", MESH, MW_MAX_UPDATES, MW_MSG_MAX, 1,                                       \
         "probe target T for me (indirect probe)")                                                           \
    MSG (NACK, 5, "nack", MESH, MW_MAX_UPDATES, MW_MSG_MAX, 1,                                               \
         "Lifeguard: the relay got no ack from T in time")                                                   \
    MSG (GOSSIP, 6, "gossip", MESH, MW_MAX_UPDATES, MW_MSG_MAX, 1, "updates only (dissemination tick)")      \
    MSG (PUSH_PULL, 7, "push-pull", MESH, MW_MAX_MEMBERS, MW_MSG_MAX, 1,                                     \
         "full state; asks for the receiver's full state")                                                   \
    MSG (PUSH_PULL_REPLY, 8, "push-pull-reply", MESH, MW_MAX_MEMBERS, MW_MSG_MAX, 1,                         \
         "full state, in answer to PUSH_PULL")                                                               \
    MSG (HEARTBEAT, 9, "heartbeat", MESH, 0, MW_MSG_MAX, 1,                                                  \
         "coordinator to members: I hold term T, lease L")                                                   \
    MSG (VOTE_REQ, 10, "vote-req", MESH, 0, MW_MSG_MAX, 1, "candidate to members: (pre-)vote for term T?")   \
    MSG (VOTE, 11, "vote", MESH, 0, MW_MSG_MAX, 1, "answer to VOTE_REQ, or to a stale HEARTBEAT")            \
    MSG (JOB_OFFER, 12, "job_offer", DATA, 0, MW_JOB_MSG_MAX, 1,                                             \
         "origin to peer: can you run job J (model, budget, size)?")                                         \
    MSG (JOB_REPLY, 13, "job_reply", DATA, 0, MW_JOB_MSG_MAX, 1,                                             \
         "peer to origin: accepted (reservation) or refused, with a reason")                                 \
    MSG (JOB, 14, "job", DATA, 0, MW_JOB_MSG_MAX, 1, "origin to runner: the job and its frame")              \
    MSG (JOB_RESULT, 15, "job_result", DATA, 0, MW_JOB_MSG_MAX, 1,                                           \
         "runner to origin: detections, or a failure with a reason")                                         \
    MSG (PKG_INDEX, 16, "pkg_index", PKG, 0, MW_PKG_MSG_MAX, 1,                                              \
         "the packages this box knows: digest, seq, held / partly held / fetching")                          \
    MSG (PKG_META_REQ, 17, "pkg_meta_req", PKG, 0, MW_PKG_MSG_MAX, 1, "send me package P's signed parts")    \
    MSG (PKG_META, 18, "pkg_meta", PKG, 0, MW_PKG_MSG_MAX, 1,                                                \
         "package P: signed metadata, signature, manifest, config, piece list")                              \
    MSG (PKG_HAVE, 19, "pkg_have", PKG, 0, MW_PKG_MSG_MAX, 1, "the pieces of P this box holds (bitmap)")     \
    MSG (PKG_REQ, 20, "pkg_req", PKG, 0, MW_PKG_MSG_MAX, 1,                                                  \
         "send me piece I of P (or: I no longer want it)")                                                   \
    MSG (PKG_PIECE, 21, "pkg_piece", PKG, 0, MW_PKG_MSG_MAX, 1, "piece I of P")                              \
    MSG (PKG_REFUSE, 22, "pkg_refuse", PKG, 0, MW_PKG_MSG_MAX, 1,                                            \
         "I will not send piece I of P now: busy, not held, unknown package")                                \
    MSG (DEPLOY_PLAN, 23, "deploy_plan", MESH, 0, MW_MSG_MAX, 1,                                             \
         "the deployment plan as the sender holds it (every box, every 2 s and on a change)")                \
    MSG (DEPLOY_REPORT, 24, "deploy_report", MESH, 0, MW_MSG_MAX, 1,                                         \
         "what the sender runs, per slot: state, version, restarts, last error")                             \
    MSG (DEPLOY_CMD, 25, "deploy_cmd", MESH, 0, MW_MSG_MAX, 1,                                               \
         "a deploy or undeploy, forwarded to the coordinator")                                               \
    MSG (JOB_CANCEL, 26, "job_cancel", DATA, 0, MW_JOB_MSG_MAX, 1,                                           \
         "origin to peer: release your reservation for job J (another peer accepted first)")                 \
    MSG (CAM_SUMMARY, 27, "cam_summary", MESH, 0, MW_MSG_MAX, 1,                                             \
         "camera registry anti-entropy: what I hold, in brief; a digest back if yours differs")              \
    MSG (CAM_DIGEST, 28, "cam_digest", MESH, 0, MW_MSG_MAX, 1,                                               \
         "every camera version I hold: send me the records newer at you")                                    \
    MSG (CAM_RECORDS, 29, "cam_records", MESH, 0, MW_MSG_MAX, 1,                                             \
         "camera records (documents or tombstones) newer than the receiver's")                               \
    MSG (FOCUS, 30, "focus", MESH, 0, MW_MSG_MAX, 1,                                                         \
         "scenario 4: the cameras around a point concentrate on it for a while")

//  ---- mesh plane ----------------------------------------------------------

#define MW_WIRE_BODY_BEACON(F)                                                                               \
    F (MSG, cluster, STR, MW_CLUSTER_MAX, 0, 1, "the sender's CLUSTER_NAME")                                 \
    F (MSG, name, STR, MW_NAME_MAX, 0, 1, "the sender's NODE_NAME")                                          \
    F (MSG, addr, STR, MW_ADDR_MAX, 0, 1, "the sender's mesh endpoint, tcp://ip:port")

#define MW_WIRE_BODY_PING(F)                                                                                 \
    F (MSG, probe, UINT, UINT32_MAX, 0, 1, "probe number chosen by the prober")                              \
    F (MSG, target, ID, 0, 0, 1, "the id the prober believes it probes")                                     \
    F (MSG, addr, STR, MW_ADDR_MAX, 0, 1, "where the answer goes")

#define MW_WIRE_BODY_ACK(F) F (MSG, probe, UINT, UINT32_MAX, 0, 1, "the probe answered")

#define MW_WIRE_BODY_PING_REQ(F)                                                                             \
    F (MSG, probe, UINT, UINT32_MAX, 0, 1, "probe number chosen by the prober")                              \
    F (MSG, target, ID, 0, 0, 1, "the node the relay is asked to probe")                                     \
    F (MSG, target_addr, STR, MW_ADDR_MAX, 0, 1, "the target's endpoint")                                    \
    F (MSG, addr, STR, MW_ADDR_MAX, 0, 1, "where the answer goes")

#define MW_WIRE_BODY_NACK(F) F (MSG, probe, UINT, UINT32_MAX, 0, 1, "the probe answered")

#define MW_WIRE_BODY_GOSSIP(F)

#define MW_WIRE_BODY_PUSH_PULL(F)                                                                            \
    F (MSG, join, BOOL, 0, 0, 1, "1 when the sender is joining the mesh")                                    \
    F (MSG, summary, UINT, UINT64_MAX, 0, 3,                                                                 \
       "with no updates: a hash of the sender's member table (anti-entropy: a full state only if it "        \
       "differs)")

#define MW_WIRE_BODY_PUSH_PULL_REPLY(F)

#define MW_WIRE_BODY_HEARTBEAT(F)                                                                            \
    F (MSG, term, UINT, UINT64_MAX, 0, 1, "the ballot's counter")                                            \
    F (MSG, lease_ms, UINT, UINT32_MAX, 0, 1, "lease granted by this heartbeat (0 = resign)")                \
    F (MSG, rank, UINT, UINT32_MAX, 0, 1, "the ballot's rank")                                               \
    F (MSG, signature, BIN, MW_SIG_MAX, 0, 2, MW_WIRE_MAC_DOC)                                               \
    F (MSG, witnesses, UINT, 255, 0, 3,                                                                      \
       "the coordinator's witnesses (this receiver is one: lease_ms is the short lease); 0 = not a witness")

#define MW_WIRE_BODY_VOTE_REQ(F)                                                                             \
    F (MSG, term, UINT, UINT64_MAX, 0, 1, "the ballot's counter")                                            \
    F (MSG, pre, BOOL, 0, 0, 1, "1 = pre-vote")                                                              \
    F (MSG, rank, UINT, UINT32_MAX, 0, 1, "the ballot's rank")                                               \
    F (MSG, signature, BIN, MW_SIG_MAX, 0, 2, MW_WIRE_SIG_DOC)                                               \
    F (MSG, witness, BOOL, 0, 0, 3, "1 = the candidate stands as a witness whose short lease lapsed")

#define MW_WIRE_BODY_VOTE(F)                                                                                 \
    F (MSG, term, UINT, UINT64_MAX, 0, 1, "the ballot's counter")                                            \
    F (MSG, pre, BOOL, 0, 0, 1, "1 = pre-vote")                                                              \
    F (MSG, granted, BOOL, 0, 0, 1, "1 = yes")                                                               \
    F (MSG, coordinator, ID, 0, 0, 1, "the coordinator the voter follows (zero = none)")                     \
    F (MSG, rank, UINT, UINT32_MAX, 0, 1, "the ballot's rank")                                               \
    F (MSG, ballot, ID, 0, 0, 1, "the ballot's id")                                                          \
    F (MSG, signature, BIN, MW_SIG_MAX, 0, 2, MW_WIRE_SIG_DOC)                                               \
    F (MSG, lapsed, BOOL, 0, 0, 3, "1 = the voter is a witness that lost the coordinator itself (no lease)")

//  The election messages' signature (gossip/sign.h).
#define MW_WIRE_SIG_DOC "Ed25519 signature of the sender over the message (this field empty) and its receiver"
//  A heartbeat's: the signature, or a pair MAC (gossip/sign.h, "Pair MACs").
#define MW_WIRE_MAC_DOC                                                                                      \
    "the signature as above (64 bytes), or 16 bytes: keyed BLAKE2b over the same bytes under the key the "   \
    "sender and receiver share (X25519 of their node keys)"

//  ---- cameras (camera/, docs/CAMERAS.md) ------------------------------------

#define MW_WIRE_BODY_CAM_SUMMARY(F)                                                                          \
    F (MSG, cam_count, UINT, MW_CAM_MAX, 0, 1, "entries held (cameras and tombstones)")                      \
    F (MSG, cam_hash, UINT, UINT64_MAX, 0, 1, "order-independent hash of every (id, version) held")

#define MW_WIRE_BODY_CAM_DIGEST(F)                                                                           \
    F (MSG, reply, BOOL, 0, 0, 1, "1 answers a digest: send records, no digest back")                        \
    F (MSG, camvs, LIST, MW_CAM_MAX, CAMV, 1, "every entry held")

#define MW_WIRE_BODY_CAM_RECORDS(F) F (MSG, cams, LIST, MW_CAM_RECORDS_MAX, CAM, 1, "the records")

#define MW_WIRE_BODY_FOCUS(F)                                                                                \
    F (MSG, focus_id, ID, 0, 0, 1, "the focus id (random): a copy seen again changes nothing")               \
    F (MSG, focus_origin, ID, 0, 0, 1, "the box that created it")                                            \
    F (MSG, focus_camera, STR, MW_CAMERA_MAX, 0, 1, "the camera where it happened (empty: a point)")         \
    F (MSG, focus_trigger, STR, MW_FOCUS_TRIGGER_MAX, 0, 1, "rule, cli or api")                              \
    F (MSG, lat_e6, UINT, 180000000, 0, 1, "latitude + 90, millionths of a degree")                          \
    F (MSG, lon_e6, UINT, 360000000, 0, 1, "longitude + 180, millionths of a degree")                        \
    F (MSG, radius_m, UINT, MW_FOCUS_RADIUS_MAX_M, 0, 1, "cameras within this distance join, metres")        \
    F (MSG, ttl_ms, UINT, MW_FOCUS_TTL_MAX_MS, 0, 1, "time left when sent (relative: no clock sync)")        \
    F (MSG, created_ms, UINT, UINT64_MAX, 0, 1, "the origin's wall clock at creation (display only)")        \
    F (MSG, hops, UINT, 8, 0, 1, "relays so far (a relayed copy is relayed on only below the limit)")

//  A camera's version, the element of a digest.
#define MW_WIRE_RECORD_CAMV(F)                                                                               \
    F (CAMV, id, STR, MW_CAMERA_MAX, 0, 1, "the camera id")                                                  \
    F (CAMV, hlc, UINT, UINT64_MAX, 0, 1, "version: hybrid logical clock, wall ms x 65536 + counter")        \
    F (CAMV, origin, ID, 0, 0, 1, "version: the box that made the change (breaks clock ties)")               \
    F (CAMV, deleted, BOOL, 0, 0, 1, "1 = a tombstone")

//  A camera's record, the element of a transfer.
#define MW_WIRE_RECORD_CAM(F)                                                                                \
    F (CAM, id, STR, MW_CAMERA_MAX, 0, 1, "the camera id")                                                   \
    F (CAM, hlc, UINT, UINT64_MAX, 0, 1, "version: hybrid logical clock")                                    \
    F (CAM, origin, ID, 0, 0, 1, "version: the box that made the change")                                    \
    F (CAM, deleted, BOOL, 0, 0, 1, "1 = a tombstone")                                                       \
    F (CAM, json, STR, MW_CAM_JSON_MAX, 0, 1, "the camera's JSON document, checked again by the receiver")

//  One member's state record, the element of `updates`.
#define MW_WIRE_RECORD_UPDATE(F)                                                                             \
    F (UPDATE, id, ID, 0, 0, 1, "the member's node id")                                                      \
    F (UPDATE, name, STR, MW_NAME_MAX, 0, 1, "its NODE_NAME")                                                \
    F (UPDATE, addr, STR, MW_ADDR_MAX, 0, 1, "its mesh endpoint")                                            \
    F (UPDATE, state, UINT, MW_STATE_COUNT - 1, 0, 1, "0 alive, 1 suspect, 2 dead, 3 left")                  \
    F (UPDATE, incarnation, UINT, UINT64_MAX, 0, 1, "the member's incarnation")                              \
    F (UPDATE, from, ID, 0, 0, 1, "who asserts the state (the member itself for alive/left)")                \
    F (UPDATE, digest, BIN, MW_DIGEST_MAX, 0, 1, "opaque (resource forecasts, scheduler/digest.h)")          \
    F (UPDATE, session, UINT, UINT64_MAX, 0, 2,                                                              \
       "alive/left: the member's boot session, certified by the signature (0 in suspect/dead)")              \
    F (UPDATE, stamp, UINT, UINT64_MAX, 0, 2,                                                                \
       "alive/left: version of the record within (incarnation, session), raised at every re-signing")        \
    F (UPDATE, sig, BIN, MW_SIG_MAX, 0, 2,                                                                   \
       "Ed25519 signature: alive/left by the member, suspect/dead by `from` (gossip/sign.h)")                \
    F (UPDATE, pk, BIN, MW_PK_MAX, 0, 2,                                                                     \
       "the member's public key, in full states and introductions only (else empty)")

//  ---- data plane (inference jobs) -----------------------------------------

#define MW_WIRE_BODY_JOB_OFFER(F)                                                                            \
    F (JOB, id, ID, 0, 0, 1, "the job id (random)")                                                          \
    F (JOB, kind, UINT, MW_JOB_KIND_ESCALATE, 0, 1,                                                          \
       "0 run (hand-off, or fallback to the server), 1 escalate")                                            \
    F (JOB, model, STR, MW_MODEL_MAX, 0, 1, "the model to run")                                              \
    F (JOB, deadline_ms, UINT, MW_JOB_DEADLINE_MAX, 0, 1, "budget left when sent (relative: no clock sync)") \
    F (JOB, priority, UINT, MW_JOB_PRIORITY_MAX, 0, 1, "0 (lowest) .. 9")                                    \
    F (JOB, frame_len, SIZE, MW_FRAME_MAX, 0, 1, "size of the frame to come")                                \
    F (MSG, addr, STR, MW_ADDR_MAX, 0, 1, "reply-to: the origin's data-plane endpoint")

#define MW_WIRE_BODY_JOB_REPLY(F)                                                                            \
    F (JOB, id, ID, 0, 0, 1, "the job id")                                                                   \
    F (JOB, status, BOOL, 0, 0, 1, "1 accepted, 0 refused")                                                  \
    F (JOB, wait_ms, UINT, UINT32_MAX, 0, 1, "the runner's predicted completion")                            \
    F (JOB, reason, STR, MW_REASON_MAX, 0, 1, "why refused, or why failed")

#define MW_WIRE_BODY_JOB(F)                                                                                  \
    F (JOB, id, ID, 0, 0, 1, "the job id")                                                                   \
    F (JOB, kind, UINT, MW_JOB_KIND_ESCALATE, 0, 1, "0 run, 1 escalate")                                     \
    F (JOB, camera, STR, MW_CAMERA_MAX, 0, 1, "the camera id")                                               \
    F (JOB, model, STR, MW_MODEL_MAX, 0, 1, "the model to run")                                              \
    F (JOB, deadline_ms, UINT, MW_JOB_DEADLINE_MAX, 0, 1, "budget left when sent")                           \
    F (JOB, priority, UINT, MW_JOB_PRIORITY_MAX, 0, 1, "0 (lowest) .. 9")                                    \
    F (JOB, frame, BLOB, MW_FRAME_MAX, 1, 1, "the JPEG; its length is the job's frame_len")                  \
    F (MSG, addr, STR, MW_ADDR_MAX, 0, 1, "reply-to: the origin's data-plane endpoint")

#define MW_WIRE_BODY_JOB_RESULT(F)                                                                           \
    F (JOB, id, ID, 0, 0, 1, "the job id")                                                                   \
    F (JOB, kind, UINT, MW_JOB_KIND_ESCALATE, 0, 1, "echoes the job's")                                      \
    F (JOB, status, UINT, UINT8_MAX, 0, 1, "0 ok, 1..255 a failure")                                         \
    F (JOB, reason, STR, MW_REASON_MAX, 0, 1, "why refused, or why failed")                                  \
    F (JOB, model, STR, MW_MODEL_MAX, 0, 1, "the model that ran")                                            \
    F (JOB, queue_ms, UINT, UINT32_MAX, 0, 1, "time queued at the runner")                                   \
    F (JOB, infer_ms, UINT, UINT32_MAX, 0, 1, "inference time")                                              \
    F (JOB, width, UINT, UINT32_MAX, 0, 1, "frame width in pixels")                                          \
    F (JOB, height, UINT, UINT32_MAX, 0, 1, "frame height in pixels")                                        \
    F (JOB, confidence, UINT, MW_FIXED_ONE, 0, 1, "mean detection score, millionths")                        \
    F (JOB, boxes, LIST, MW_MAX_BOXES, BOX, 1, "the detections")

//  ---- package plane (AI packages, docs/PACKAGES.md) ------------------------

#define MW_WIRE_BODY_PKG_INDEX(F)                                                                            \
    F (MSG, pkg_entries, BLOB, MW_PKG_INDEX_BYTES, 0, 1,                                                     \
       "packed entries: manifest SHA-256 (32), seq (8, big-endian), flags (1: 1 held, 2 partly, 4 "          \
       "fetching)")

#define MW_WIRE_BODY_PKG_META_REQ(F) F (MSG, pkg, ID, 0, 0, 1, "the package (its manifest's SHA-256)")

#define MW_WIRE_BODY_PKG_META(F)                                                                             \
    F (MSG, pkg, ID, 0, 0, 1, "the package")                                                                 \
    F (MSG, pkg_meta, BLOB, MW_PKG_META_MAX, 1, 1, "the signed metadata (JSON)")                             \
    F (MSG, pkg_sig, BLOB, MW_PKG_SIG_MAX, 0, 1, "its minisign signature (empty: unsigned)")                 \
    F (MSG, pkg_manifest, BLOB, MW_PKG_MANIFEST_MAX, 1, 1, "the OCI manifest")                               \
    F (MSG, pkg_config, BLOB, MW_PKG_MANIFEST_MAX, 1, 1, "the config blob (meshwatch manifest)")             \
    F (MSG, pkg_pieces, BLOB, MW_PKG_PIECES_MAX * 32, 32, 1, "the pieces' SHA-256 digests, in order")

#define MW_WIRE_BODY_PKG_HAVE(F)                                                                             \
    F (MSG, pkg, ID, 0, 0, 1, "the package")                                                                 \
    F (MSG, pkg_have, UINT, MW_PKG_PIECES_MAX, 0, 1, "pieces held")                                          \
    F (MSG, pkg_bitmap, BLOB, MW_PKG_PIECES_MAX / 8, 0, 1, "piece i is bit 7 - i % 8 of byte i / 8")

#define MW_WIRE_BODY_PKG_REQ(F)                                                                              \
    F (MSG, pkg, ID, 0, 0, 1, "the package")                                                                 \
    F (MSG, piece, UINT, MW_PKG_PIECES_MAX - 1, 0, 1, "the piece")                                           \
    F (MSG, pkg_cancel, BOOL, 0, 0, 1, "1 = withdraw the request")

#define MW_WIRE_BODY_PKG_PIECE(F)                                                                            \
    F (MSG, pkg, ID, 0, 0, 1, "the package")                                                                 \
    F (MSG, piece, UINT, MW_PKG_PIECES_MAX - 1, 0, 1, "the piece")                                           \
    F (MSG, pkg_data, BLOB, MW_PKG_PIECE_MAX, 1, 1, "its bytes")

#define MW_WIRE_BODY_PKG_REFUSE(F)                                                                           \
    F (MSG, pkg, ID, 0, 0, 1, "the package")                                                                 \
    F (MSG, piece, UINT, MW_PKG_PIECES_MAX - 1, 0, 1, "the piece")                                           \
    F (MSG, pkg_why, UINT, 3, 0, 1, "1 busy (ask later or elsewhere), 2 not held, 3 unknown package")

//  ---- deployments (docs/DEPLOY.md) -------------------------------------------
//  The bodies are scheduler/deploy_plan.c's packed forms (a kind byte and
//  a format number first; fixed-width fields; every byte checked on
//  unpacking), so the plan has one layout for the wire, the state file
//  and the fuzzer.

#define MW_WIRE_BODY_DEPLOY_PLAN(F)                                                                          \
    F (MSG, deploy, BLOB, MW_DEPLOY_PLAN_BYTES, 6, 1,                                                        \
       "the packed plan: epochs (ballot, fence), entries (box, slot, package, version, fallback, "           \
       "variant key, stamp), rollouts")

#define MW_WIRE_BODY_DEPLOY_REPORT(F)                                                                        \
    F (MSG, deploy, BLOB, MW_DEPLOY_REPORT_BYTES, 11, 1,                                                     \
       "the packed report: box, then per slot package, version wanted and active, variant, state, "          \
       "restarts, running time, last error, the stamp applied")

#define MW_WIRE_BODY_DEPLOY_CMD(F)                                                                           \
    F (MSG, deploy, BLOB, MW_DEPLOY_CMD_BYTES, 8, 1,                                                         \
       "the packed command: op, package, version, slot, variant key, waves, health window, target boxes")

//  Additive within version 1, like the election types: a node that does
//  not know it drops it (ETYPE), and the reservation lapses by itself.
#define MW_WIRE_BODY_JOB_CANCEL(F)                                                                           \
    F (JOB, id, ID, 0, 0, 1, "the job whose reservation the sender withdraws")                               \
    F (JOB, reason, STR, MW_REASON_MAX, 0, 1, "why: another peer accepted first, or the offer timed out")

//  One detection: image-relative, fixed point in millionths, so that no
//  NaN or infinity can ever be decoded.
#define MW_WIRE_RECORD_BOX(F)                                                                                \
    F (BOX, x, UINT, MW_FIXED_ONE, 0, 1, "left edge")                                                        \
    F (BOX, y, UINT, MW_FIXED_ONE, 0, 1, "top edge")                                                         \
    F (BOX, w, UINT, MW_FIXED_ONE, 0, 1, "width")                                                            \
    F (BOX, h, UINT, MW_FIXED_ONE, 0, 1, "height")                                                           \
    F (BOX, score, UINT, MW_FIXED_ONE, 0, 1, "detection score")

#endif
