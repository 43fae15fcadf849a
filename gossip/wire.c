/*  =========================================================================
    gossip_wire - the one wire codec of the mesh (see wire.h, and
    docs/PROTOCOL.md, which is the normative text for the layout below).

    Encoding goes through msgpack-c's packer: it always picks the shortest
    form, so what we send is canonical.  Decoding does NOT go through
    msgpack_unpack: a generic unpacker builds a whole object tree first and
    only then lets us look at it, which means it allocates from counts an
    attacker wrote before we had a chance to check them.  Instead a small
    reader walks the buffer field by field in the order we expect, checks
    each length against its limit before touching the bytes behind it, and
    allocates exactly once (the updates array) after the count has been
    checked against both its limit and the bytes actually left.  That keeps
    the decoder's memory bounded by the limits, not by the input.

    Plaintext layout (one msgpack array, no maps):

        [ "MWP", version, type, sender, session, seq, ts_ms, <body by type>, updates ]

    Body by type:
        BEACON           cluster:str, name:str, addr:str           (updates: must be empty)
        PING             probe:uint32, target:bin8, addr:str
        ACK              probe:uint32
        PING_REQ         probe:uint32, target:bin8, target_addr:str, addr:str
        NACK             probe:uint32
        GOSSIP           (none)
        PUSH_PULL        join:uint(0|1)
        PUSH_PULL_REPLY  (none)
        HEARTBEAT        term:uint64, lease_ms:uint32, rank:uint32      (updates: must be empty)
        VOTE_REQ         term:uint64, pre:uint(0|1), rank:uint32        (updates: must be empty)
        VOTE             term:uint64, pre:uint(0|1), granted:uint(0|1), coordinator:bin8,
                         rank:uint32, ballot:bin8                       (updates: must be empty)
        JOB_OFFER        id:bin16, kind:uint(<2), model:str, deadline_ms:uint(<=3600000),
                         priority:uint(<=9), frame_len:uint(<=MW_FRAME_MAX), addr:str
        JOB_REPLY        id:bin16, status:uint(0|1), wait_ms:uint32, reason:str
        JOB              id:bin16, kind:uint(<2), camera:str, model:str, deadline_ms:uint,
                         priority:uint(<=9), frame:bin(1..MW_FRAME_MAX), addr:str
        JOB_RESULT       id:bin16, kind:uint(<2), status:uint8, reason:str, model:str,
                         queue_ms:uint32, infer_ms:uint32, width:uint32, height:uint32,
                         confidence:uint(<=MW_FIXED_ONE), boxes:array(<=MW_MAX_BOXES) of box
                                                  (job types: updates must be empty)

    Box (array of 5, fixed point in millionths, each <= MW_FIXED_ONE):
        [ x, y, w, h, score ]

    Whole-message limits: MW_JOB_MSG_MAX for the job types, MW_MSG_MAX for
    every other type (a membership message has no business being megabytes
    long, whichever socket it arrived on).

    Update (array of 7):
        [ id:bin8, name:str, addr:str, state:uint(<4), incarnation:uint64, from:bin8, digest:bin(<=64) ]
    ========================================================================= */
#include "gossip/wire.h"
#include "gossip/crypto.h"

#include <assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Number of body fields per type (index = type), between ts_ms and updates.
static const uint8_t s_body_fields[MW_MSG_TYPE_MAX + 1] = {
    0, /* unused */ 3,    /* BEACON */ 3,    /* PING */ 1,      /* ACK */ 4, /* PING_REQ */
    1, /* NACK */ 0,      /* GOSSIP */ 1,    /* PUSH_PULL */ 0,              /* PUSH_PULL_REPLY */
    3, /* HEARTBEAT */ 3, /* VOTE_REQ */ 6,                                  /* VOTE */
    7, /* JOB_OFFER */ 4, /* JOB_REPLY */ 8, /* JOB */ 11,                   /* JOB_RESULT */
};
#define HEADER_FIELDS 7   //  magic, version, type, sender, session, seq, ts_ms
#define UPDATE_FIELDS 7

//  Smallest possible encoding of one update: fixarray, bin8 id (2+8),
//  fixstr name, fixstr addr, fixint state, fixint incarnation, bin8 from
//  (2+8), empty bin8 digest (2).  Lets the decoder refuse a count the bytes
//  left cannot possibly hold, before it allocates for that count.
#define UPDATE_MIN_WIRE 27

//  The same idea for jobs.  A job body is a fixed-size struct, but it is
//  allocated only once the bytes left could hold the smallest job body (a
//  REPLY: bin8 id (2+16), fixint status, fixint wait, fixstr reason, then
//  the empty updates array), so a truncated header costs no allocation.
#define JOB_MIN_WIRE 22
//  Smallest box: fixarray and five fixints.
#define BOX_MIN_WIRE 6
#define BOX_FIELDS   5
//  A deadline is a budget for one frame, not a schedule: an hour is far
//  beyond any real one and keeps the arithmetic on it well inside 32 bits.
#define JOB_DEADLINE_MAX 3600000u
#define JOB_PRIORITY_MAX 9

//  A beacon goes out as one zbeacon frame of at most MW_BEACON_MAX bytes once
//  sealed, so its plaintext must leave room for the envelope.  Both sides
//  enforce it: the sender learns at encode time rather than by silence.
#define BEACON_PLAIN_MAX (MW_BEACON_MAX - MW_ENVELOPE_OVERHEAD)

static uint32_t
s_max_updates (int type)
{
    //  Job messages travel on the data plane, which knows nothing of
    //  membership: nothing to piggyback there.
    if (gossip_wire_is_job_type (type))
        return 0;
    switch (type) {
    case MW_MSG_BEACON:
    case MW_MSG_HEARTBEAT:   //  election messages stay small: no piggyback
    case MW_MSG_VOTE_REQ:
    case MW_MSG_VOTE: return 0;
    case MW_MSG_PUSH_PULL:
    case MW_MSG_PUSH_PULL_REPLY: return MW_MAX_MEMBERS;
    default: return MW_MAX_UPDATES;
    }
}

//  --------------------------------------------------------------------------
//  Encoder

static bool
s_str_ok (const char *s, size_t max)
{
    return strnlen (s, max + 1) <= max;
}

static int
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t len = strlen (s);
    return msgpack_pack_str_with_body (pk, s, len);
}

static int
s_pack_id (msgpack_packer *pk, const mw_id_t *id)
{
    return msgpack_pack_bin_with_body (pk, id->b, MW_ID_LEN);
}

//  The job body's limits, for the fields its type carries (the others are
//  not sent, so they cannot break anything).
static int
s_check_job (const mw_msg_t *msg)
{
    const mw_job_t *j = msg->job;
    if (!j)
        return MW_WIRE_EMALFORMED;
    int type = msg->type;
    bool has_kind = type != MW_MSG_JOB_REPLY;
    bool has_model = type != MW_MSG_JOB_REPLY;
    bool has_reason = type == MW_MSG_JOB_REPLY || type == MW_MSG_JOB_RESULT;
    bool has_budget = type == MW_MSG_JOB_OFFER || type == MW_MSG_JOB;
    if ((has_model && !s_str_ok (j->model, MW_MODEL_MAX))
        || (has_reason && !s_str_ok (j->reason, MW_REASON_MAX))
        || (type == MW_MSG_JOB && !s_str_ok (j->camera, MW_CAMERA_MAX)))
        return MW_WIRE_ETOOBIG;
    if ((has_kind && j->kind > MW_JOB_KIND_ESCALATE)
        || (has_budget && (j->deadline_ms > JOB_DEADLINE_MAX || j->priority > JOB_PRIORITY_MAX))
        || (type == MW_MSG_JOB_REPLY && j->status > 1))
        return MW_WIRE_ERANGE;
    if (type == MW_MSG_JOB_OFFER && j->frame_len > MW_FRAME_MAX)
        return MW_WIRE_ETOOBIG;
    if (type == MW_MSG_JOB) {
        if (j->frame_len > MW_FRAME_MAX)
            return MW_WIRE_ETOOBIG;
        if (j->frame_len == 0 || !j->frame)
            return MW_WIRE_EMALFORMED;   //  a job without a frame is no job
    }
    if (type == MW_MSG_JOB_RESULT) {
        if (j->n_boxes > MW_MAX_BOXES)
            return MW_WIRE_ETOOBIG;
        if (j->n_boxes > 0 && !j->boxes)
            return MW_WIRE_EMALFORMED;
        if (j->confidence > MW_FIXED_ONE)
            return MW_WIRE_ERANGE;
        for (uint32_t i = 0; i < j->n_boxes; i++) {
            const mw_wire_box_t *b = &j->boxes[i];
            if (b->x > MW_FIXED_ONE || b->y > MW_FIXED_ONE || b->w > MW_FIXED_ONE || b->h > MW_FIXED_ONE
                || b->score > MW_FIXED_ONE)
                return MW_WIRE_ERANGE;
        }
    }
    return MW_WIRE_OK;
}

static int
s_pack_jobid (msgpack_packer *pk, const mw_jobid_t *id)
{
    return msgpack_pack_bin_with_body (pk, id->b, MW_JOBID_LEN);
}

//  Job body, in the order of the table at the top of this file.  The caller
//  has run s_check_job.
static int
s_pack_job (msgpack_packer *pk, const mw_msg_t *msg)
{
    const mw_job_t *j = msg->job;
    int err = s_pack_jobid (pk, &j->id);
    switch (msg->type) {
    case MW_MSG_JOB_OFFER:
        err |= msgpack_pack_uint32 (pk, j->kind);
        err |= s_pack_str (pk, j->model);
        err |= msgpack_pack_uint32 (pk, j->deadline_ms);
        err |= msgpack_pack_uint32 (pk, j->priority);
        err |= msgpack_pack_uint32 (pk, j->frame_len);
        err |= s_pack_str (pk, msg->addr);
        break;
    case MW_MSG_JOB_REPLY:
        err |= msgpack_pack_uint32 (pk, j->status);
        err |= msgpack_pack_uint32 (pk, j->wait_ms);
        err |= s_pack_str (pk, j->reason);
        break;
    case MW_MSG_JOB:
        err |= msgpack_pack_uint32 (pk, j->kind);
        err |= s_pack_str (pk, j->camera);
        err |= s_pack_str (pk, j->model);
        err |= msgpack_pack_uint32 (pk, j->deadline_ms);
        err |= msgpack_pack_uint32 (pk, j->priority);
        err |= msgpack_pack_bin_with_body (pk, j->frame, j->frame_len);
        err |= s_pack_str (pk, msg->addr);
        break;
    case MW_MSG_JOB_RESULT:
        err |= msgpack_pack_uint32 (pk, j->kind);
        err |= msgpack_pack_uint32 (pk, j->status);
        err |= s_pack_str (pk, j->reason);
        err |= s_pack_str (pk, j->model);
        err |= msgpack_pack_uint32 (pk, j->queue_ms);
        err |= msgpack_pack_uint32 (pk, j->infer_ms);
        err |= msgpack_pack_uint32 (pk, j->width);
        err |= msgpack_pack_uint32 (pk, j->height);
        err |= msgpack_pack_uint32 (pk, j->confidence);
        err |= msgpack_pack_array (pk, j->n_boxes);
        for (uint32_t i = 0; i < j->n_boxes && !err; i++) {
            const mw_wire_box_t *b = &j->boxes[i];
            err |= msgpack_pack_array (pk, BOX_FIELDS);
            err |= msgpack_pack_uint32 (pk, b->x);
            err |= msgpack_pack_uint32 (pk, b->y);
            err |= msgpack_pack_uint32 (pk, b->w);
            err |= msgpack_pack_uint32 (pk, b->h);
            err |= msgpack_pack_uint32 (pk, b->score);
        }
        break;
    default: break;
    }
    return err;
}

//  Check every limit the decoder checks, so that what we encode always
//  decodes (the beacon size and total size are checked after packing).
static int
s_check (const mw_msg_t *msg)
{
    if (msg->type < 1 || msg->type > MW_MSG_TYPE_MAX)
        return MW_WIRE_ETYPE;
    if (!s_str_ok (msg->cluster, MW_CLUSTER_MAX) || !s_str_ok (msg->name, MW_NAME_MAX)
        || !s_str_ok (msg->addr, MW_ADDR_MAX) || !s_str_ok (msg->target_addr, MW_ADDR_MAX))
        return MW_WIRE_ETOOBIG;
    if (msg->join > 1 || msg->pre > 1 || msg->granted > 1)
        return MW_WIRE_ERANGE;
    if (msg->n_updates > s_max_updates (msg->type))
        return MW_WIRE_ETOOBIG;
    if (msg->n_updates > 0 && !msg->updates)
        return MW_WIRE_EMALFORMED;
    for (uint32_t i = 0; i < msg->n_updates; i++) {
        const mw_update_t *u = &msg->updates[i];
        if (!s_str_ok (u->name, MW_NAME_MAX) || !s_str_ok (u->addr, MW_ADDR_MAX)
            || u->digest_len > MW_DIGEST_MAX)
            return MW_WIRE_ETOOBIG;
        if (u->state >= MW_STATE_COUNT)
            return MW_WIRE_ERANGE;
    }
    if (gossip_wire_is_job_type (msg->type))
        return s_check_job (msg);
    return MW_WIRE_OK;
}

int
gossip_wire_encode (const mw_msg_t *msg, uint8_t **out, size_t *out_len)
{
    assert (msg && out && out_len);
    *out = NULL;
    *out_len = 0;
    int rc = s_check (msg);
    if (rc)
        return rc;

    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);

    //  Packer calls return nonzero only when the buffer cannot grow; OR them
    //  together and check once.
    int err = 0;
    err |= msgpack_pack_array (&pk, HEADER_FIELDS + s_body_fields[msg->type] + 1);
    err |= msgpack_pack_str_with_body (&pk, MW_WIRE_MAGIC, 3);
    err |= msgpack_pack_uint32 (&pk, MW_WIRE_VERSION);
    err |= msgpack_pack_uint32 (&pk, msg->type);
    err |= s_pack_id (&pk, &msg->sender);
    err |= msgpack_pack_uint64 (&pk, msg->session);
    err |= msgpack_pack_uint64 (&pk, msg->seq);
    err |= msgpack_pack_uint64 (&pk, msg->ts_ms);

    //  Job bodies are packed apart from the mesh types' switch below.
    if (gossip_wire_is_job_type (msg->type))
        err |= s_pack_job (&pk, msg);

    switch (msg->type) {
    case MW_MSG_BEACON:
        err |= s_pack_str (&pk, msg->cluster);
        err |= s_pack_str (&pk, msg->name);
        err |= s_pack_str (&pk, msg->addr);
        break;
    case MW_MSG_PING:
        err |= msgpack_pack_uint32 (&pk, msg->probe);
        err |= s_pack_id (&pk, &msg->target);
        err |= s_pack_str (&pk, msg->addr);
        break;
    case MW_MSG_PING_REQ:
        err |= msgpack_pack_uint32 (&pk, msg->probe);
        err |= s_pack_id (&pk, &msg->target);
        err |= s_pack_str (&pk, msg->target_addr);
        err |= s_pack_str (&pk, msg->addr);
        break;
    case MW_MSG_ACK:
    case MW_MSG_NACK: err |= msgpack_pack_uint32 (&pk, msg->probe); break;
    case MW_MSG_PUSH_PULL: err |= msgpack_pack_uint32 (&pk, msg->join); break;
    case MW_MSG_HEARTBEAT:
        err |= msgpack_pack_uint64 (&pk, msg->term);
        err |= msgpack_pack_uint32 (&pk, msg->lease_ms);
        err |= msgpack_pack_uint32 (&pk, msg->rank);
        break;
    case MW_MSG_VOTE_REQ:
        err |= msgpack_pack_uint64 (&pk, msg->term);
        err |= msgpack_pack_uint32 (&pk, msg->pre);
        err |= msgpack_pack_uint32 (&pk, msg->rank);
        break;
    case MW_MSG_VOTE:
        err |= msgpack_pack_uint64 (&pk, msg->term);
        err |= msgpack_pack_uint32 (&pk, msg->pre);
        err |= msgpack_pack_uint32 (&pk, msg->granted);
        err |= s_pack_id (&pk, &msg->coordinator);
        err |= msgpack_pack_uint32 (&pk, msg->rank);
        err |= s_pack_id (&pk, &msg->ballot);
        break;
    default:   //  GOSSIP, PUSH_PULL_REPLY: no body
        break;
    }

    err |= msgpack_pack_array (&pk, msg->n_updates);
    for (uint32_t i = 0; i < msg->n_updates && !err; i++) {
        const mw_update_t *u = &msg->updates[i];
        err |= msgpack_pack_array (&pk, UPDATE_FIELDS);
        err |= s_pack_id (&pk, &u->id);
        err |= s_pack_str (&pk, u->name);
        err |= s_pack_str (&pk, u->addr);
        err |= msgpack_pack_uint32 (&pk, u->state);
        err |= msgpack_pack_uint64 (&pk, u->incarnation);
        err |= s_pack_id (&pk, &u->from);
        err |= msgpack_pack_bin_with_body (&pk, u->digest, u->digest_len);
    }
    if (err) {
        msgpack_sbuffer_destroy (&sb);
        return MW_WIRE_ENOMEM;
    }
    size_t max = gossip_wire_is_job_type (msg->type) ? MW_JOB_MSG_MAX : MW_MSG_MAX;
    if (sb.size > max || (msg->type == MW_MSG_BEACON && sb.size > BEACON_PLAIN_MAX)) {
        msgpack_sbuffer_destroy (&sb);
        return MW_WIRE_ETOOBIG;
    }
    *out_len = sb.size;
    *out = (uint8_t *) msgpack_sbuffer_release (&sb);   //  malloc'ed by sbuffer: free () it
    return MW_WIRE_OK;
}

//  --------------------------------------------------------------------------
//  Decoder: a strict reader over [p, end).  Every function returns 0 or a
//  MW_WIRE_E* code and advances p only past what it consumed.

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} reader_t;

static size_t
s_left (const reader_t *r)
{
    return (size_t) (r->end - r->p);
}

static int
s_rd_be (reader_t *r, size_t n, uint64_t *value)
{
    if (s_left (r) < n)
        return MW_WIRE_ETRUNC;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | r->p[i];
    r->p += n;
    *value = v;
    return 0;
}

static int
s_rd_tag (reader_t *r, uint8_t *tag)
{
    if (s_left (r) < 1)
        return MW_WIRE_ETRUNC;
    *tag = *r->p++;
    return 0;
}

//  Any msgpack integer form; negative values are out of range for every
//  field we have.  Signed forms holding non-negative values are accepted so
//  that other msgpack implementations interoperate.
static int
s_rd_uint (reader_t *r, uint64_t *value)
{
    uint8_t tag;
    int rc = s_rd_tag (r, &tag);
    if (rc)
        return rc;
    if (tag <= 0x7f) {
        *value = tag;
        return 0;
    }
    if (tag >= 0xe0)
        return MW_WIRE_ERANGE;   //  negative fixint
    if (tag >= 0xcc && tag <= 0xcf)
        return s_rd_be (r, (size_t) 1 << (tag - 0xcc), value);
    if (tag >= 0xd0 && tag <= 0xd3) {
        size_t n = (size_t) 1 << (tag - 0xd0);
        uint64_t v;
        rc = s_rd_be (r, n, &v);
        if (rc)
            return rc;
        if (v >> (n * 8 - 1))   //  sign bit set
            return MW_WIRE_ERANGE;
        *value = v;
        return 0;
    }
    return MW_WIRE_EMALFORMED;
}

static int
s_rd_u32 (reader_t *r, uint32_t *value)
{
    uint64_t v;
    int rc = s_rd_uint (r, &v);
    if (rc)
        return rc;
    if (v > UINT32_MAX)
        return MW_WIRE_ERANGE;
    *value = (uint32_t) v;
    return 0;
}

static int
s_rd_array (reader_t *r, uint32_t *count)
{
    uint8_t tag;
    int rc = s_rd_tag (r, &tag);
    if (rc)
        return rc;
    uint64_t n;
    if (tag >= 0x90 && tag <= 0x9f)
        n = tag & 0x0f;
    else if (tag == 0xdc)
        rc = s_rd_be (r, 2, &n);
    else if (tag == 0xdd)
        rc = s_rd_be (r, 4, &n);
    else
        return MW_WIRE_EMALFORMED;
    if (rc)
        return rc;
    *count = (uint32_t) n;
    return 0;
}

//  Reads a str header only: the caller checks the length before the body.
static int
s_rd_str_hdr (reader_t *r, uint32_t *len)
{
    uint8_t tag;
    int rc = s_rd_tag (r, &tag);
    if (rc)
        return rc;
    uint64_t n;
    if (tag >= 0xa0 && tag <= 0xbf)
        n = tag & 0x1f;
    else if (tag == 0xd9)
        rc = s_rd_be (r, 1, &n);
    else if (tag == 0xda)
        rc = s_rd_be (r, 2, &n);
    else if (tag == 0xdb)
        rc = s_rd_be (r, 4, &n);
    else
        return MW_WIRE_EMALFORMED;
    if (rc)
        return rc;
    *len = (uint32_t) n;
    return 0;
}

//  A string into out[max + 1]: longer than max is ETOOBIG (never truncated),
//  an embedded NUL is EMALFORMED (it would silently cut the C string).
static int
s_rd_str (reader_t *r, char *out, size_t max)
{
    uint32_t len;
    int rc = s_rd_str_hdr (r, &len);
    if (rc)
        return rc;
    if (len > max)
        return MW_WIRE_ETOOBIG;
    if (s_left (r) < len)
        return MW_WIRE_ETRUNC;
    if (memchr (r->p, 0, len))
        return MW_WIRE_EMALFORMED;
    memcpy (out, r->p, len);
    out[len] = 0;
    r->p += len;
    return 0;
}

static int
s_rd_bin (reader_t *r, const uint8_t **data, uint32_t *len, size_t max)
{
    uint8_t tag;
    int rc = s_rd_tag (r, &tag);
    if (rc)
        return rc;
    uint64_t n;
    if (tag == 0xc4)
        rc = s_rd_be (r, 1, &n);
    else if (tag == 0xc5)
        rc = s_rd_be (r, 2, &n);
    else if (tag == 0xc6)
        rc = s_rd_be (r, 4, &n);
    else
        return MW_WIRE_EMALFORMED;
    if (rc)
        return rc;
    if (n > max)
        return MW_WIRE_ETOOBIG;
    if (s_left (r) < n)
        return MW_WIRE_ETRUNC;
    *data = r->p;
    *len = (uint32_t) n;
    r->p += n;
    return 0;
}

//  A node id is a bin of exactly MW_ID_LEN bytes; any other length is a
//  malformed field, not a size-limit matter.
static int
s_rd_fixed_bin (reader_t *r, uint8_t *out, size_t want)
{
    const uint8_t *data;
    uint32_t len;
    int rc = s_rd_bin (r, &data, &len, UINT32_MAX);
    if (rc)
        return rc;
    if (len != want)
        return MW_WIRE_EMALFORMED;
    memcpy (out, data, want);
    return 0;
}

static int
s_rd_id (reader_t *r, mw_id_t *id)
{
    return s_rd_fixed_bin (r, id->b, MW_ID_LEN);
}

static int
s_rd_update (reader_t *r, mw_update_t *u)
{
    uint32_t n;
    int rc = s_rd_array (r, &n);
    if (rc)
        return rc;
    if (n != UPDATE_FIELDS)
        return MW_WIRE_EMALFORMED;
    if ((rc = s_rd_id (r, &u->id)) || (rc = s_rd_str (r, u->name, MW_NAME_MAX))
        || (rc = s_rd_str (r, u->addr, MW_ADDR_MAX)))
        return rc;
    uint64_t v;
    if ((rc = s_rd_uint (r, &v)))
        return rc;
    if (v >= MW_STATE_COUNT)
        return MW_WIRE_ERANGE;
    u->state = (uint8_t) v;
    if ((rc = s_rd_uint (r, &u->incarnation)) || (rc = s_rd_id (r, &u->from)))
        return rc;
    const uint8_t *digest;
    uint32_t dlen;
    if ((rc = s_rd_bin (r, &digest, &dlen, MW_DIGEST_MAX)))
        return rc;
    memcpy (u->digest, digest, dlen);
    u->digest_len = (uint16_t) dlen;
    return 0;
}

//  An unsigned integer no greater than max (ERANGE otherwise).
static int
s_rd_umax (reader_t *r, uint64_t max, uint32_t *value)
{
    uint64_t v;
    int rc = s_rd_uint (r, &v);
    if (rc)
        return rc;
    if (v > max)
        return MW_WIRE_ERANGE;
    *value = (uint32_t) v;
    return 0;
}

static int
s_rd_u8max (reader_t *r, uint64_t max, uint8_t *value)
{
    uint32_t v;
    int rc = s_rd_umax (r, max, &v);
    if (rc == 0)
        *value = (uint8_t) v;
    return rc;
}

//  A job id, like a node id, is a bin of exactly its length.
static int
s_rd_jobid (reader_t *r, mw_jobid_t *id)
{
    return s_rd_fixed_bin (r, id->b, MW_JOBID_LEN);
}

static int
s_rd_box (reader_t *r, mw_wire_box_t *b)
{
    uint32_t n;
    int rc = s_rd_array (r, &n);
    if (rc)
        return rc;
    if (n != BOX_FIELDS)
        return MW_WIRE_EMALFORMED;
    if ((rc = s_rd_umax (r, MW_FIXED_ONE, &b->x)) || (rc = s_rd_umax (r, MW_FIXED_ONE, &b->y))
        || (rc = s_rd_umax (r, MW_FIXED_ONE, &b->w)) || (rc = s_rd_umax (r, MW_FIXED_ONE, &b->h))
        || (rc = s_rd_umax (r, MW_FIXED_ONE, &b->score)))
        return rc;
    return 0;
}

//  The frame of a JOB: the one big field of the protocol.  Its length is
//  checked against MW_FRAME_MAX and the bytes left (s_rd_bin) before the
//  copy is allocated, so a forged length costs nothing.
static int
s_rd_frame (reader_t *r, mw_job_t *j)
{
    const uint8_t *data;
    uint32_t len;
    int rc = s_rd_bin (r, &data, &len, MW_FRAME_MAX);
    if (rc)
        return rc;
    if (len == 0)
        return MW_WIRE_EMALFORMED;
    j->frame = (uint8_t *) malloc (len);
    if (!j->frame)
        return MW_WIRE_ENOMEM;
    memcpy (j->frame, data, len);
    j->frame_len = len;
    return 0;
}

static int
s_rd_boxes (reader_t *r, mw_job_t *j)
{
    uint32_t count;
    int rc = s_rd_array (r, &count);
    if (rc)
        return rc;
    if (count > MW_MAX_BOXES)
        return MW_WIRE_ETOOBIG;
    if ((uint64_t) count * BOX_MIN_WIRE > s_left (r))
        return MW_WIRE_ETRUNC;
    if (count == 0)
        return 0;
    j->boxes = (mw_wire_box_t *) calloc (count, sizeof (mw_wire_box_t));
    if (!j->boxes)
        return MW_WIRE_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        if ((rc = s_rd_box (r, &j->boxes[i])))
            return rc;
        j->n_boxes = i + 1;
    }
    return 0;
}

//  Job body (types 12..15), in the order of the table at the top.  On
//  error whatever was allocated hangs off msg->job for the caller's clear.
static int
s_rd_job (reader_t *r, mw_msg_t *msg)
{
    if (s_left (r) < JOB_MIN_WIRE)
        return MW_WIRE_ETRUNC;
    mw_job_t *j = (mw_job_t *) calloc (1, sizeof (mw_job_t));
    if (!j)
        return MW_WIRE_ENOMEM;
    msg->job = j;
    int rc = s_rd_jobid (r, &j->id);
    if (rc)
        return rc;
    switch (msg->type) {
    case MW_MSG_JOB_OFFER:
        //  frame_len is only announced here, yet checked against the limit
        //  now, so that a runner never reserves room for a frame it would
        //  refuse when it comes.
        if ((rc = s_rd_u8max (r, MW_JOB_KIND_ESCALATE, &j->kind))
            || (rc = s_rd_str (r, j->model, MW_MODEL_MAX))
            || (rc = s_rd_umax (r, JOB_DEADLINE_MAX, &j->deadline_ms))
            || (rc = s_rd_u8max (r, JOB_PRIORITY_MAX, &j->priority)) || (rc = s_rd_u32 (r, &j->frame_len)))
            return rc;
        if (j->frame_len > MW_FRAME_MAX)
            return MW_WIRE_ETOOBIG;
        return s_rd_str (r, msg->addr, MW_ADDR_MAX);
    case MW_MSG_JOB_REPLY:
        if ((rc = s_rd_u8max (r, 1, &j->status)) || (rc = s_rd_u32 (r, &j->wait_ms)))
            return rc;
        return s_rd_str (r, j->reason, MW_REASON_MAX);
    case MW_MSG_JOB:
        if ((rc = s_rd_u8max (r, MW_JOB_KIND_ESCALATE, &j->kind))
            || (rc = s_rd_str (r, j->camera, MW_CAMERA_MAX)) || (rc = s_rd_str (r, j->model, MW_MODEL_MAX))
            || (rc = s_rd_umax (r, JOB_DEADLINE_MAX, &j->deadline_ms))
            || (rc = s_rd_u8max (r, JOB_PRIORITY_MAX, &j->priority)) || (rc = s_rd_frame (r, j)))
            return rc;
        return s_rd_str (r, msg->addr, MW_ADDR_MAX);
    case MW_MSG_JOB_RESULT:
        if ((rc = s_rd_u8max (r, MW_JOB_KIND_ESCALATE, &j->kind))
            || (rc = s_rd_u8max (r, UINT8_MAX, &j->status)) || (rc = s_rd_str (r, j->reason, MW_REASON_MAX))
            || (rc = s_rd_str (r, j->model, MW_MODEL_MAX)) || (rc = s_rd_u32 (r, &j->queue_ms))
            || (rc = s_rd_u32 (r, &j->infer_ms)) || (rc = s_rd_u32 (r, &j->width))
            || (rc = s_rd_u32 (r, &j->height)) || (rc = s_rd_umax (r, MW_FIXED_ONE, &j->confidence)))
            return rc;
        return s_rd_boxes (r, j);
    default: return MW_WIRE_ETYPE;   //  not reached: the caller checked the type
    }
}

static int
s_decode (reader_t *r, size_t len, mw_msg_t *msg)
{
    uint32_t n;
    int rc = s_rd_array (r, &n);
    if (rc)
        return rc;

    //  Magic, version and type come first and are checked before the field
    //  count, so that a message from another protocol or version gets the
    //  code that says so rather than a generic "malformed".
    if (n < 1)
        return MW_WIRE_EMALFORMED;
    uint32_t mlen;
    rc = s_rd_str_hdr (r, &mlen);
    if (rc == MW_WIRE_EMALFORMED)
        return MW_WIRE_EMAGIC;
    if (rc)
        return rc;
    if (mlen != 3)
        return MW_WIRE_EMAGIC;
    if (s_left (r) < 3)
        return MW_WIRE_ETRUNC;
    if (memcmp (r->p, MW_WIRE_MAGIC, 3) != 0)
        return MW_WIRE_EMAGIC;
    r->p += 3;

    if (n < 2)
        return MW_WIRE_EMALFORMED;
    uint64_t v;
    rc = s_rd_uint (r, &v);
    if (rc == MW_WIRE_ERANGE || (rc == 0 && v != MW_WIRE_VERSION))
        return MW_WIRE_EVERSION;
    if (rc)
        return rc;

    if (n < 3)
        return MW_WIRE_EMALFORMED;
    rc = s_rd_uint (r, &v);
    if (rc == MW_WIRE_ERANGE || (rc == 0 && (v < 1 || v > MW_MSG_TYPE_MAX)))
        return MW_WIRE_ETYPE;
    if (rc)
        return rc;
    msg->type = (uint8_t) v;
    if (msg->type == MW_MSG_BEACON && len > BEACON_PLAIN_MAX)
        return MW_WIRE_ETOOBIG;
    //  Only job messages may be as big as the data plane allows.
    if (!gossip_wire_is_job_type (msg->type) && len > MW_MSG_MAX)
        return MW_WIRE_ETOOBIG;
    if (n != HEADER_FIELDS + s_body_fields[msg->type] + 1u)
        return MW_WIRE_EMALFORMED;

    if ((rc = s_rd_id (r, &msg->sender)) || (rc = s_rd_uint (r, &msg->session))
        || (rc = s_rd_uint (r, &msg->seq)) || (rc = s_rd_uint (r, &msg->ts_ms)))
        return rc;

    //  Job bodies are read apart from the mesh types' switch below.
    if (gossip_wire_is_job_type (msg->type) && (rc = s_rd_job (r, msg)))
        return rc;

    switch (msg->type) {
    case MW_MSG_BEACON:
        if ((rc = s_rd_str (r, msg->cluster, MW_CLUSTER_MAX)) || (rc = s_rd_str (r, msg->name, MW_NAME_MAX))
            || (rc = s_rd_str (r, msg->addr, MW_ADDR_MAX)))
            return rc;
        break;
    case MW_MSG_PING:
        if ((rc = s_rd_u32 (r, &msg->probe)) || (rc = s_rd_id (r, &msg->target))
            || (rc = s_rd_str (r, msg->addr, MW_ADDR_MAX)))
            return rc;
        break;
    case MW_MSG_PING_REQ:
        if ((rc = s_rd_u32 (r, &msg->probe)) || (rc = s_rd_id (r, &msg->target))
            || (rc = s_rd_str (r, msg->target_addr, MW_ADDR_MAX))
            || (rc = s_rd_str (r, msg->addr, MW_ADDR_MAX)))
            return rc;
        break;
    case MW_MSG_ACK:
    case MW_MSG_NACK:
        if ((rc = s_rd_u32 (r, &msg->probe)))
            return rc;
        break;
    case MW_MSG_PUSH_PULL:
        if ((rc = s_rd_uint (r, &v)))
            return rc;
        if (v > 1)
            return MW_WIRE_ERANGE;
        msg->join = (uint8_t) v;
        break;
    case MW_MSG_HEARTBEAT:
        if ((rc = s_rd_uint (r, &msg->term)) || (rc = s_rd_u32 (r, &msg->lease_ms))
            || (rc = s_rd_u32 (r, &msg->rank)))
            return rc;
        break;
    case MW_MSG_VOTE_REQ:
    case MW_MSG_VOTE:
        if ((rc = s_rd_uint (r, &msg->term)) || (rc = s_rd_uint (r, &v)))
            return rc;
        if (v > 1)
            return MW_WIRE_ERANGE;
        msg->pre = (uint8_t) v;
        if (msg->type == MW_MSG_VOTE_REQ) {
            if ((rc = s_rd_u32 (r, &msg->rank)))
                return rc;
            break;
        }
        if ((rc = s_rd_uint (r, &v)))
            return rc;
        if (v > 1)
            return MW_WIRE_ERANGE;
        msg->granted = (uint8_t) v;
        //  The ballot (term, rank, ballot) the answer is about: the one
        //  granted, or the voter's highest in a refusal.
        if ((rc = s_rd_id (r, &msg->coordinator)) || (rc = s_rd_u32 (r, &msg->rank))
            || (rc = s_rd_id (r, &msg->ballot)))
            return rc;
        break;
    default: break;
    }

    uint32_t count;
    if ((rc = s_rd_array (r, &count)))
        return rc;
    if (count > s_max_updates (msg->type))
        return MW_WIRE_ETOOBIG;
    //  Checked before allocating: the count must fit in the bytes left.
    if ((uint64_t) count * UPDATE_MIN_WIRE > s_left (r))
        return MW_WIRE_ETRUNC;
    if (count > 0) {
        msg->updates = (mw_update_t *) calloc (count, sizeof (mw_update_t));
        if (!msg->updates)
            return MW_WIRE_ENOMEM;
        for (uint32_t i = 0; i < count; i++) {
            if ((rc = s_rd_update (r, &msg->updates[i])))
                return rc;
            msg->n_updates = i + 1;
        }
    }
    if (r->p != r->end)
        return MW_WIRE_EMALFORMED;   //  trailing bytes after the array
    return MW_WIRE_OK;
}

int
gossip_wire_decode (const uint8_t *data, size_t len, mw_msg_t *msg)
{
    assert (msg);
    assert (data || len == 0);
    memset (msg, 0, sizeof (*msg));
    //  The largest message of any type; s_decode applies the smaller limit
    //  of the non-job types once it knows the type.
    if (len > MW_JOB_MSG_MAX)
        return MW_WIRE_ETOOBIG;
    static const uint8_t empty[1];
    if (!data)
        data = empty;   //  NULL + 0 is undefined behaviour in C
    reader_t r = {data, data + len};
    int rc = s_decode (&r, len, msg);
    if (rc)
        gossip_wire_msg_clear (msg);   //  never hand back half a message
    return rc;
}

void
gossip_wire_msg_clear (mw_msg_t *msg)
{
    if (!msg)
        return;
    free (msg->updates);
    if (msg->job) {
        free (msg->job->frame);
        free (msg->job->boxes);
        free (msg->job);
    }
    memset (msg, 0, sizeof (*msg));
}

//  Deep copy of a job body into dst->job (NULL on entry).  0/-1; on -1
//  whatever was allocated hangs off dst for the caller's clear.
static int
s_job_copy (mw_msg_t *dst, const mw_job_t *src)
{
    mw_job_t *j = (mw_job_t *) malloc (sizeof (mw_job_t));
    if (!j)
        return -1;
    *j = *src;
    j->frame = NULL;
    j->boxes = NULL;
    dst->job = j;
    if (src->frame && src->frame_len > 0) {
        j->frame = (uint8_t *) malloc (src->frame_len);
        if (!j->frame)
            return -1;
        memcpy (j->frame, src->frame, src->frame_len);
    }
    if (src->boxes && src->n_boxes > 0) {
        j->boxes = (mw_wire_box_t *) malloc ((size_t) src->n_boxes * sizeof (mw_wire_box_t));
        if (!j->boxes)
            return -1;
        memcpy (j->boxes, src->boxes, (size_t) src->n_boxes * sizeof (mw_wire_box_t));
    }
    return 0;
}

int
gossip_wire_msg_copy (mw_msg_t *dst, const mw_msg_t *src)
{
    assert (dst && src && dst != src);
    *dst = *src;
    dst->updates = NULL;
    dst->n_updates = 0;
    dst->job = NULL;
    if (src->n_updates > 0) {
        if (!src->updates)
            return -1;
        dst->updates = (mw_update_t *) malloc ((size_t) src->n_updates * sizeof (mw_update_t));
        if (!dst->updates)
            return -1;
        memcpy (dst->updates, src->updates, (size_t) src->n_updates * sizeof (mw_update_t));
        dst->n_updates = src->n_updates;
    }
    if (src->job && s_job_copy (dst, src->job) != 0) {
        gossip_wire_msg_clear (dst);   //  never half a copy: dst owns nothing shared
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Text helpers

const char *
gossip_wire_strerror (int code)
{
    switch (code) {
    case MW_WIRE_OK: return "ok";
    case MW_WIRE_ETRUNC: return "truncated";
    case MW_WIRE_EMAGIC: return "bad magic";
    case MW_WIRE_EVERSION: return "unsupported version";
    case MW_WIRE_ETYPE: return "unknown message type";
    case MW_WIRE_EMALFORMED: return "malformed";
    case MW_WIRE_ETOOBIG: return "field or message too big";
    case MW_WIRE_ERANGE: return "value out of range";
    case MW_WIRE_ENOMEM: return "out of memory";
    //  The crypto and replay codes share the negative space, so one
    //  function can name any code a receive path produces.
    case MW_CRYPTO_ESHORT: return "envelope too short";
    case MW_CRYPTO_EMAGIC: return "not an envelope";
    case MW_CRYPTO_EVERSION: return "unsupported envelope version";
    case MW_CRYPTO_EKEY: return "unknown key id";
    case MW_CRYPTO_EAUTH: return "authentication failed";
    case MW_CRYPTO_ETOOBIG: return "envelope too big";
    case MW_REPLAY_EREPLAY: return "replayed or too old";
    case MW_REPLAY_ESTALE: return "stale session";
    case MW_REPLAY_ECLOCK: return "timestamp outside clock skew bound";
    case MW_REPLAY_ESESSION: return "session in the future or not certified";
    default: return "unknown error";
    }
}

const char *
gossip_wire_type_name (int type)
{
    static const char *names[] = {
        "unknown",         "beacon",    "ping",     "ack",  "ping-req",  "nack",      "gossip", "push-pull",
        "push-pull-reply", "heartbeat", "vote-req", "vote", "job_offer", "job_reply", "job",    "job_result"};
    if (type < 1 || type > MW_MSG_TYPE_MAX)
        return "unknown";
    return names[type];
}

const char *
gossip_wire_state_name (int state)
{
    static const char *names[] = {"alive", "suspect", "dead", "left"};
    if (state < 0 || state >= MW_STATE_COUNT)
        return "unknown";
    return names[state];
}

//  Ids of any length as lower-case hex and back (node ids, job ids).
static void
s_hex_encode (const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 0x0f];
    }
    out[2 * n] = 0;
}

static int
s_hex_digit (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Exactly 2n hex digits into b[n]; b is untouched on error.
static int
s_hex_decode (const char *hex, uint8_t *b, size_t n)
{
    if (!hex || strnlen (hex, 2 * n + 1) != 2 * n)
        return -1;
    uint8_t tmp[MW_JOBID_LEN > MW_ID_LEN ? MW_JOBID_LEN : MW_ID_LEN];
    assert (n <= sizeof tmp);
    for (size_t i = 0; i < n; i++) {
        int hi = s_hex_digit (hex[2 * i]);
        int lo = s_hex_digit (hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        tmp[i] = (uint8_t) (hi << 4 | lo);
    }
    memcpy (b, tmp, n);
    return 0;
}

void
gossip_wire_id_hex (const mw_id_t *id, char out[MW_ID_HEX_LEN + 1])
{
    s_hex_encode (id->b, MW_ID_LEN, out);
}

int
gossip_wire_id_parse (const char *hex, mw_id_t *id)
{
    return id ? s_hex_decode (hex, id->b, MW_ID_LEN) : -1;
}

bool
gossip_wire_id_eq (const mw_id_t *a, const mw_id_t *b)
{
    return mw_id_eq (a, b);
}

bool
gossip_wire_id_zero (const mw_id_t *id)
{
    return mw_id_zero (id);
}

void
gossip_wire_jobid_hex (const mw_jobid_t *id, char out[2 * MW_JOBID_LEN + 1])
{
    s_hex_encode (id->b, MW_JOBID_LEN, out);
}

int
gossip_wire_jobid_parse (const char *hex, mw_jobid_t *id)
{
    return id ? s_hex_decode (hex, id->b, MW_JOBID_LEN) : -1;
}

bool
gossip_wire_is_job_type (int type)
{
    return type >= MW_MSG_JOB_OFFER && type <= MW_MSG_JOB_RESULT;
}

//  --------------------------------------------------------------------------
//  Selftest

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf (stderr, "gossip_wire_test: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

static uint64_t
s_rand (uint64_t *state)
{
    //  xorshift64*: fixed seed, so a failure is reproducible.
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void
s_fill_str (char *dst, size_t len, char base)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (char) (base + (char) (i % 26));
    dst[len] = 0;
}

static void
s_fill_id (mw_id_t *id, uint8_t seed)
{
    for (int i = 0; i < MW_ID_LEN; i++)
        id->b[i] = (uint8_t) (seed * 31 + i * 7 + 1);
}

//  Job body sizes s_make uses: small enough that the byte-by-byte tests
//  stay fast; s_make_job again gives the maxima.
#define JOB_T_FRAME 96
#define JOB_T_BOXES 6

//  (Re)builds msg->job for msg->type with every field the type carries at
//  its maximum, a frame of frame_len bytes (JOB) and n_boxes boxes
//  (RESULT).  Returns 0/-1.
static int
s_make_job (mw_msg_t *msg, uint32_t frame_len, uint32_t n_boxes)
{
    if (msg->job) {
        free (msg->job->frame);
        free (msg->job->boxes);
        free (msg->job);
    }
    mw_job_t *j = (mw_job_t *) calloc (1, sizeof (mw_job_t));
    msg->job = j;
    if (!j)
        return -1;
    for (int i = 0; i < MW_JOBID_LEN; i++)
        j->id.b[i] = (uint8_t) (0xc0 + i * 3);
    int type = msg->type;
    if (type == MW_MSG_JOB_OFFER || type == MW_MSG_JOB)
        s_fill_str (msg->addr, MW_ADDR_MAX, 'r');   //  reply-to
    if (type != MW_MSG_JOB_REPLY) {
        j->kind = MW_JOB_KIND_ESCALATE;
        s_fill_str (j->model, MW_MODEL_MAX, 'm');
    }
    if (type == MW_MSG_JOB_OFFER || type == MW_MSG_JOB) {
        j->deadline_ms = JOB_DEADLINE_MAX;
        j->priority = JOB_PRIORITY_MAX;
        j->frame_len = type == MW_MSG_JOB_OFFER ? MW_FRAME_MAX : frame_len;
    }
    if (type == MW_MSG_JOB) {
        s_fill_str (j->camera, MW_CAMERA_MAX, 'k');
        j->frame = (uint8_t *) malloc (frame_len ? frame_len : 1);
        if (!j->frame)
            return -1;
        for (uint32_t i = 0; i < frame_len; i++)
            j->frame[i] = (uint8_t) (i * 131 + (i >> 8));
    }
    if (type == MW_MSG_JOB_REPLY) {
        j->status = 1;
        j->wait_ms = UINT32_MAX;
        s_fill_str (j->reason, MW_REASON_MAX, 'e');
    }
    if (type == MW_MSG_JOB_RESULT) {
        j->status = UINT8_MAX;
        s_fill_str (j->reason, MW_REASON_MAX, 'f');
        j->queue_ms = j->infer_ms = UINT32_MAX;
        j->width = 1920;
        j->height = UINT32_MAX;
        j->confidence = MW_FIXED_ONE;
        j->n_boxes = n_boxes;
        if (n_boxes) {
            j->boxes = (mw_wire_box_t *) calloc (n_boxes, sizeof (mw_wire_box_t));
            if (!j->boxes)
                return -1;
        }
        for (uint32_t i = 0; i < n_boxes; i++) {
            mw_wire_box_t *b = &j->boxes[i];
            b->x = i * 3900;
            b->y = MW_FIXED_ONE - i;
            b->w = i % 2 ? MW_FIXED_ONE : 0;
            b->h = 123456;
            b->score = MW_FIXED_ONE - i * 1000;
        }
    }
    return 0;
}

//  Builds a message of `type` with every field at its maximum (strings at
//  full length, integers at their top), n_updates updates of which the
//  strings/digest have the given lengths.  Returns 0/-1.
static int
s_make (mw_msg_t *msg, int type, uint32_t n_updates, size_t ustr, size_t udig)
{
    memset (msg, 0, sizeof (*msg));
    msg->type = (uint8_t) type;
    s_fill_id (&msg->sender, 1);
    msg->session = UINT64_MAX - 1;
    msg->seq = UINT64_MAX;
    msg->ts_ms = 1700000000000ULL;
    switch (type) {
    case MW_MSG_BEACON:
        //  A beacon must fit zbeacon once sealed: full cluster and name,
        //  and the longest addr that still fits.
        s_fill_str (msg->cluster, MW_CLUSTER_MAX, 'a');
        s_fill_str (msg->name, MW_NAME_MAX, 'A');
        s_fill_str (msg->addr, 64, 'a');
        break;
    case MW_MSG_PING:
        msg->probe = UINT32_MAX;
        s_fill_id (&msg->target, 2);
        s_fill_str (msg->addr, MW_ADDR_MAX, 'a');
        break;
    case MW_MSG_PING_REQ:
        msg->probe = UINT32_MAX;
        s_fill_id (&msg->target, 3);
        s_fill_str (msg->target_addr, MW_ADDR_MAX, 'b');
        s_fill_str (msg->addr, MW_ADDR_MAX, 'c');
        break;
    case MW_MSG_ACK:
    case MW_MSG_NACK: msg->probe = UINT32_MAX; break;
    case MW_MSG_PUSH_PULL: msg->join = 1; break;
    case MW_MSG_HEARTBEAT:
        msg->term = UINT64_MAX;
        msg->lease_ms = UINT32_MAX;
        msg->rank = UINT32_MAX;
        break;
    case MW_MSG_VOTE_REQ:
        msg->term = UINT64_MAX;
        msg->pre = 1;
        msg->rank = UINT32_MAX;
        break;
    case MW_MSG_VOTE:
        msg->term = UINT64_MAX;
        msg->pre = 1;
        msg->granted = 1;
        s_fill_id (&msg->coordinator, 4);
        msg->rank = UINT32_MAX;
        s_fill_id (&msg->ballot, 5);
        break;
    default: break;
    }
    if (gossip_wire_is_job_type (type) && s_make_job (msg, JOB_T_FRAME, JOB_T_BOXES) != 0)
        return -1;
    if (n_updates) {
        msg->updates = (mw_update_t *) calloc (n_updates, sizeof (mw_update_t));
        if (!msg->updates)
            return -1;
        msg->n_updates = n_updates;
        for (uint32_t i = 0; i < n_updates; i++) {
            mw_update_t *u = &msg->updates[i];
            s_fill_id (&u->id, (uint8_t) (i + 10));
            s_fill_str (u->name, ustr < MW_NAME_MAX ? ustr : MW_NAME_MAX, 'n');
            s_fill_str (u->addr, ustr, 'd');
            u->state = (uint8_t) (i % MW_STATE_COUNT);
            u->incarnation = UINT64_MAX - i;
            s_fill_id (&u->from, (uint8_t) (i + 99));
            u->digest_len = (uint16_t) udig;
            for (size_t k = 0; k < udig; k++)
                u->digest[k] = (uint8_t) (k ^ i);
        }
    }
    return 0;
}

static bool
s_job_eq (const mw_job_t *a, const mw_job_t *b)
{
    if (!a || !b)
        return a == b;
    if (memcmp (a->id.b, b->id.b, MW_JOBID_LEN) || a->kind != b->kind || strcmp (a->camera, b->camera)
        || strcmp (a->model, b->model) || a->deadline_ms != b->deadline_ms || a->priority != b->priority
        || a->frame_len != b->frame_len || a->status != b->status || strcmp (a->reason, b->reason)
        || a->wait_ms != b->wait_ms || a->queue_ms != b->queue_ms || a->infer_ms != b->infer_ms
        || a->width != b->width || a->height != b->height || a->confidence != b->confidence
        || a->n_boxes != b->n_boxes)
        return false;
    if ((a->frame == NULL) != (b->frame == NULL) || (a->frame && memcmp (a->frame, b->frame, a->frame_len)))
        return false;
    if (a->n_boxes && memcmp (a->boxes, b->boxes, a->n_boxes * sizeof (mw_wire_box_t)))
        return false;
    return true;
}

static bool
s_msg_eq (const mw_msg_t *a, const mw_msg_t *b)
{
    if (a->type != b->type || !gossip_wire_id_eq (&a->sender, &b->sender) || a->session != b->session
        || a->seq != b->seq || a->ts_ms != b->ts_ms || strcmp (a->cluster, b->cluster)
        || strcmp (a->name, b->name) || strcmp (a->addr, b->addr) || a->probe != b->probe
        || !gossip_wire_id_eq (&a->target, &b->target) || strcmp (a->target_addr, b->target_addr)
        || a->join != b->join || a->n_updates != b->n_updates || a->term != b->term
        || a->lease_ms != b->lease_ms || a->rank != b->rank || a->pre != b->pre || a->granted != b->granted
        || !gossip_wire_id_eq (&a->coordinator, &b->coordinator)
        || !gossip_wire_id_eq (&a->ballot, &b->ballot))
        return false;
    if (!s_job_eq (a->job, b->job))
        return false;
    for (uint32_t i = 0; i < a->n_updates; i++) {
        const mw_update_t *x = &a->updates[i], *y = &b->updates[i];
        if (!gossip_wire_id_eq (&x->id, &y->id) || strcmp (x->name, y->name) || strcmp (x->addr, y->addr)
            || x->state != y->state || x->incarnation != y->incarnation
            || !gossip_wire_id_eq (&x->from, &y->from) || x->digest_len != y->digest_len
            || memcmp (x->digest, y->digest, x->digest_len))
            return false;
    }
    return true;
}

//  Test packer: writes a message field by field like the encoder, but with
//  one deliberate fault, to check the decoder's answer to each rule.
typedef enum {
    F_NONE,
    F_NOT_ARRAY,     //  a map where the array should be
    F_MAGIC_VALUE,   //  "MWX"
    F_MAGIC_TYPE,    //  an integer where "MWP" should be
    F_MAGIC_LONG,    //  "MWPX"
    F_VERSION_0,
    F_VERSION_2,
    F_VERSION_NEG,
    F_TYPE_0,
    F_TYPE_9,
    F_TYPE_STR,
    F_FIELDS_EXTRA,     //  one element more than the type has
    F_FIELDS_MISSING,   //  one element less
    F_SENDER_7,
    F_SENDER_9,
    F_SENDER_STR,
    F_SESSION_NEG,
    F_SESSION_STR,
    F_SEQ_NIL,
    F_STR1_LONG,       //  first string of the body one byte over its limit
    F_STR1_NUL,        //  first string of the body has a NUL inside
    F_STR1_BIN,        //  first string of the body sent as bin
    F_STR_LAST_LONG,   //  last string of the body over its limit
    F_PROBE_BIG,       //  2^32
    F_JOIN_2,
    F_UPDATES_OVER,   //  one update more than the type allows
    F_UPDATES_HUGE,   //  array32 header claiming 2^32-1 updates
    F_UPDATES_MAP,
    F_UPD_FIELDS_6,
    F_UPD_ID_7,
    F_UPD_NAME_LONG,
    F_UPD_ADDR_LONG,
    F_UPD_NAME_NUL,
    F_UPD_STATE_4,
    F_UPD_INC_NEG,
    F_UPD_DIGEST_65,
    F_UPD_DIGEST_STR,
    F_TERM_NEG,   //  election term negative
    F_U32_BIG,    //  lease_ms / pre-vote rank / ... 2^32
    F_FLAG_2,     //  pre (VOTE_REQ, VOTE) = 2
    F_GRANTED_2,
    F_COORD_7,    //  VOTE coordinator id of 7 bytes
    F_BALLOT_9,   //  VOTE ballot id of 9 bytes
    F_TRAILING,
    F_COUNT
} fault_t;

static void
s_t_str (msgpack_packer *pk, const char *s, size_t max, bool longer, bool nul, bool as_bin)
{
    char buf[256];
    size_t len = strlen (s);
    memcpy (buf, s, len);
    if (longer) {
        memset (buf, 'x', max + 1);
        len = max + 1;
    }
    if (nul) {
        if (len == 0)
            buf[len++] = 'z';
        buf[len / 2] = 0;
    }
    if (as_bin)
        msgpack_pack_bin_with_body (pk, buf, len);
    else
        msgpack_pack_str_with_body (pk, buf, len);
}

static void
s_t_id (msgpack_packer *pk, const mw_id_t *id, size_t len, bool as_str)
{
    uint8_t buf[16] = {0};
    memcpy (buf, id->b, MW_ID_LEN);
    if (as_str)
        msgpack_pack_str_with_body (pk, buf, len);
    else
        msgpack_pack_bin_with_body (pk, buf, len);
}

//  Job body faults: one per decoder rule of the job types.
typedef enum {
    JF_NONE,
    JF_ID_15,    //  job id one byte short
    JF_ID_STR,   //  job id sent as str
    JF_KIND_2,
    JF_MODEL_LONG,
    JF_MODEL_NUL,
    JF_CAMERA_LONG,
    JF_REASON_LONG,
    JF_ADDR_LONG,      //  reply-to over MW_ADDR_MAX
    JF_DEADLINE_BIG,   //  JOB_DEADLINE_MAX + 1
    JF_PRIO_10,
    JF_FRAME_LEN_BIG,   //  OFFER announces MW_FRAME_MAX + 1
    JF_FRAME_EMPTY,
    JF_FRAME_BIG,     //  bin32 header claiming MW_FRAME_MAX + 1 bytes
    JF_FRAME_TRUNC,   //  bin32 header claiming more bytes than follow
    JF_FRAME_STR,
    JF_STATUS_2,   //  REPLY status is a yes/no
    JF_STATUS_256,
    JF_WAIT_BIG,      //  2^32
    JF_CONF_BIG,      //  MW_FIXED_ONE + 1
    JF_BOXES_OVER,    //  MW_MAX_BOXES + 1
    JF_BOXES_HUGE,    //  array32 header claiming 2^32-1 boxes
    JF_BOXES_TRUNC,   //  array16 header claiming more boxes than follow
    JF_BOXES_MAP,
    JF_BOX_FIELDS_4,
    JF_BOX_COORD_BIG,
    JF_BOX_SCORE_BIG,
    JF_COUNT
} job_fault_t;

//  Expected decoder answer for job fault f in a message of `type`; 1 = the
//  fault does not apply to this type (skip).
static int
s_jexpect (job_fault_t f, int type)
{
    bool offer = type == MW_MSG_JOB_OFFER, reply = type == MW_MSG_JOB_REPLY;
    bool job = type == MW_MSG_JOB, result = type == MW_MSG_JOB_RESULT;
    switch (f) {
    case JF_NONE: return 0;
    case JF_ID_15:
    case JF_ID_STR: return MW_WIRE_EMALFORMED;
    case JF_KIND_2: return reply ? 1 : MW_WIRE_ERANGE;
    case JF_MODEL_LONG: return reply ? 1 : MW_WIRE_ETOOBIG;
    case JF_MODEL_NUL: return reply ? 1 : MW_WIRE_EMALFORMED;
    case JF_CAMERA_LONG: return job ? MW_WIRE_ETOOBIG : 1;
    case JF_REASON_LONG: return reply || result ? MW_WIRE_ETOOBIG : 1;
    case JF_ADDR_LONG: return offer || job ? MW_WIRE_ETOOBIG : 1;
    case JF_DEADLINE_BIG:
    case JF_PRIO_10: return offer || job ? MW_WIRE_ERANGE : 1;
    case JF_FRAME_LEN_BIG: return offer ? MW_WIRE_ETOOBIG : 1;
    case JF_FRAME_EMPTY:
    case JF_FRAME_STR: return job ? MW_WIRE_EMALFORMED : 1;
    case JF_FRAME_BIG: return job ? MW_WIRE_ETOOBIG : 1;
    case JF_FRAME_TRUNC: return job ? MW_WIRE_ETRUNC : 1;
    case JF_STATUS_2:
    case JF_WAIT_BIG: return reply ? MW_WIRE_ERANGE : 1;
    case JF_STATUS_256:
    case JF_CONF_BIG:
    case JF_BOX_COORD_BIG:
    case JF_BOX_SCORE_BIG: return result ? MW_WIRE_ERANGE : 1;
    case JF_BOXES_OVER:
    case JF_BOXES_HUGE: return result ? MW_WIRE_ETOOBIG : 1;
    case JF_BOXES_TRUNC: return result ? MW_WIRE_ETRUNC : 1;
    case JF_BOXES_MAP:
    case JF_BOX_FIELDS_4: return result ? MW_WIRE_EMALFORMED : 1;
    default: return 1;
    }
}

//  Packs the job body of msg with fault f.  Returns false when the fault
//  ends the message there (a length that claims more than follows).
static bool
s_t_job (msgpack_packer *pk, const mw_msg_t *msg, job_fault_t f)
{
    const mw_job_t *j = msg->job;
    int type = msg->type;
    if (f == JF_ID_STR)
        msgpack_pack_str_with_body (pk, j->id.b, MW_JOBID_LEN);
    else
        msgpack_pack_bin_with_body (pk, j->id.b, f == JF_ID_15 ? MW_JOBID_LEN - 1 : MW_JOBID_LEN);
    uint32_t kind = f == JF_KIND_2 ? 2 : j->kind;
    if (type == MW_MSG_JOB_REPLY) {
        msgpack_pack_uint32 (pk, f == JF_STATUS_2 ? 2 : j->status);
        msgpack_pack_uint64 (pk, f == JF_WAIT_BIG ? (uint64_t) UINT32_MAX + 1 : j->wait_ms);
        s_t_str (pk, j->reason, MW_REASON_MAX, f == JF_REASON_LONG, false, false);
        return true;
    }
    msgpack_pack_uint32 (pk, kind);
    if (type == MW_MSG_JOB_RESULT) {
        msgpack_pack_uint32 (pk, f == JF_STATUS_256 ? 256 : j->status);
        s_t_str (pk, j->reason, MW_REASON_MAX, f == JF_REASON_LONG, false, false);
        s_t_str (pk, j->model, MW_MODEL_MAX, f == JF_MODEL_LONG, f == JF_MODEL_NUL, false);
        msgpack_pack_uint32 (pk, j->queue_ms);
        msgpack_pack_uint32 (pk, j->infer_ms);
        msgpack_pack_uint32 (pk, j->width);
        msgpack_pack_uint32 (pk, j->height);
        msgpack_pack_uint32 (pk, f == JF_CONF_BIG ? MW_FIXED_ONE + 1 : j->confidence);
        uint32_t nb = f == JF_BOXES_OVER ? MW_MAX_BOXES + 1 : j->n_boxes;
        if (f == JF_BOXES_HUGE) {
            msgpack_pack_array (pk, UINT32_MAX);
            return true;
        }
        if (f == JF_BOXES_TRUNC) {
            msgpack_pack_array (pk, 200);
            return false;
        }
        if (f == JF_BOXES_MAP)
            msgpack_pack_map (pk, nb);
        else
            msgpack_pack_array (pk, nb);
        for (uint32_t i = 0; i < nb; i++) {
            mw_wire_box_t b = {1, 2, 3, 4, 5};
            if (i < j->n_boxes)
                b = j->boxes[i];
            bool last = i + 1 == nb;   //  the fault goes into the last box
            msgpack_pack_array (pk, last && f == JF_BOX_FIELDS_4 ? 4 : BOX_FIELDS);
            msgpack_pack_uint32 (pk, last && f == JF_BOX_COORD_BIG ? MW_FIXED_ONE + 1 : b.x);
            msgpack_pack_uint32 (pk, b.y);
            msgpack_pack_uint32 (pk, b.w);
            msgpack_pack_uint32 (pk, b.h);
            if (!(last && f == JF_BOX_FIELDS_4))
                msgpack_pack_uint32 (pk, last && f == JF_BOX_SCORE_BIG ? MW_FIXED_ONE + 1 : b.score);
        }
        return true;
    }
    //  OFFER, JOB
    if (type == MW_MSG_JOB)
        s_t_str (pk, j->camera, MW_CAMERA_MAX, f == JF_CAMERA_LONG, false, false);
    s_t_str (pk, j->model, MW_MODEL_MAX, f == JF_MODEL_LONG, f == JF_MODEL_NUL, false);
    msgpack_pack_uint32 (pk, f == JF_DEADLINE_BIG ? JOB_DEADLINE_MAX + 1 : j->deadline_ms);
    msgpack_pack_uint32 (pk, f == JF_PRIO_10 ? 10 : j->priority);
    if (type == MW_MSG_JOB_OFFER)
        msgpack_pack_uint32 (pk, f == JF_FRAME_LEN_BIG ? MW_FRAME_MAX + 1 : j->frame_len);
    else if (f == JF_FRAME_BIG) {
        msgpack_pack_bin (pk, MW_FRAME_MAX + 1);   //  header only: refused before the body
        return false;
    }
    else if (f == JF_FRAME_TRUNC) {
        msgpack_pack_bin (pk, 100000);
        msgpack_pack_bin_body (pk, j->frame, j->frame_len);
        return false;
    }
    else if (f == JF_FRAME_STR)
        msgpack_pack_str_with_body (pk, j->frame, j->frame_len);
    else
        msgpack_pack_bin_with_body (pk, j->frame, f == JF_FRAME_EMPTY ? 0 : j->frame_len);
    s_t_str (pk, msg->addr, MW_ADDR_MAX, f == JF_ADDR_LONG, false, false);
    return true;
}

//  A whole job message with fault f in its body.
static void
s_t_job_msg (msgpack_packer *pk, const mw_msg_t *msg, job_fault_t f)
{
    msgpack_pack_array (pk, HEADER_FIELDS + s_body_fields[msg->type] + 1);
    msgpack_pack_str_with_body (pk, MW_WIRE_MAGIC, 3);
    msgpack_pack_uint32 (pk, MW_WIRE_VERSION);
    msgpack_pack_uint32 (pk, msg->type);
    s_pack_id (pk, &msg->sender);
    msgpack_pack_uint64 (pk, msg->session);
    msgpack_pack_uint64 (pk, msg->seq);
    msgpack_pack_uint64 (pk, msg->ts_ms);
    if (s_t_job (pk, msg, f))
        msgpack_pack_array (pk, 0);
}

static void
s_t_pack (msgpack_packer *pk, const mw_msg_t *msg, fault_t f)
{
    int type = msg->type;
    int n = HEADER_FIELDS + s_body_fields[type] + 1;
    if (f == F_FIELDS_EXTRA)
        n++;
    if (f == F_FIELDS_MISSING)
        n--;
    if (f == F_NOT_ARRAY)
        msgpack_pack_map (pk, (size_t) n);
    else
        msgpack_pack_array (pk, (size_t) n);

    if (f == F_MAGIC_TYPE)
        msgpack_pack_uint32 (pk, 7);
    else
        msgpack_pack_str_with_body (pk, f == F_MAGIC_VALUE ? "MWX" : "MWPX", f == F_MAGIC_LONG ? 4 : 3);
    if (f == F_MAGIC_VALUE || f == F_MAGIC_LONG) {
        //  (the body after a bad magic does not matter)
    }
    if (f == F_VERSION_NEG)
        msgpack_pack_int32 (pk, -1);
    else
        msgpack_pack_uint32 (pk, f == F_VERSION_0 ? 0 : f == F_VERSION_2 ? 2 : 1);
    if (f == F_TYPE_STR)
        msgpack_pack_str_with_body (pk, "ping", 4);
    else
        msgpack_pack_uint32 (pk, f == F_TYPE_0 ? 0 : f == F_TYPE_9 ? MW_MSG_TYPE_MAX + 1 : (uint32_t) type);
    s_t_id (pk, &msg->sender, f == F_SENDER_7 ? 7 : f == F_SENDER_9 ? 9 : 8, f == F_SENDER_STR);
    if (f == F_SESSION_NEG)
        msgpack_pack_int64 (pk, -5);
    else if (f == F_SESSION_STR)
        msgpack_pack_str_with_body (pk, "1", 1);
    else
        msgpack_pack_uint64 (pk, msg->session);
    if (f == F_SEQ_NIL)
        msgpack_pack_nil (pk);
    else
        msgpack_pack_uint64 (pk, msg->seq);
    msgpack_pack_uint64 (pk, msg->ts_ms);

    bool l1 = f == F_STR1_LONG, n1 = f == F_STR1_NUL, b1 = f == F_STR1_BIN;
    bool ll = f == F_STR_LAST_LONG;
    uint64_t probe = f == F_PROBE_BIG ? (uint64_t) UINT32_MAX + 1 : msg->probe;
    if (gossip_wire_is_job_type (type))
        s_t_job (pk, msg, JF_NONE);
    switch (type) {
    case MW_MSG_BEACON:
        s_t_str (pk, msg->cluster, MW_CLUSTER_MAX, l1, n1, b1);
        s_t_str (pk, msg->name, MW_NAME_MAX, false, false, false);
        s_t_str (pk, msg->addr, MW_ADDR_MAX, ll, false, false);
        break;
    case MW_MSG_PING:
        msgpack_pack_uint64 (pk, probe);
        s_t_id (pk, &msg->target, 8, false);
        s_t_str (pk, msg->addr, MW_ADDR_MAX, l1 || ll, n1, b1);
        break;
    case MW_MSG_PING_REQ:
        msgpack_pack_uint64 (pk, probe);
        s_t_id (pk, &msg->target, 8, false);
        s_t_str (pk, msg->target_addr, MW_ADDR_MAX, l1, n1, b1);
        s_t_str (pk, msg->addr, MW_ADDR_MAX, ll, false, false);
        break;
    case MW_MSG_ACK:
    case MW_MSG_NACK: msgpack_pack_uint64 (pk, probe); break;
    case MW_MSG_PUSH_PULL: msgpack_pack_uint32 (pk, f == F_JOIN_2 ? 2 : msg->join); break;
    case MW_MSG_HEARTBEAT:
    case MW_MSG_VOTE_REQ:
    case MW_MSG_VOTE:
        if (f == F_TERM_NEG)
            msgpack_pack_int64 (pk, -3);
        else
            msgpack_pack_uint64 (pk, msg->term);
        if (type == MW_MSG_HEARTBEAT)
            msgpack_pack_uint64 (pk, f == F_U32_BIG ? (uint64_t) UINT32_MAX + 1 : msg->lease_ms);
        else
            msgpack_pack_uint32 (pk, f == F_FLAG_2 ? 2 : msg->pre);
        if (type == MW_MSG_VOTE) {
            msgpack_pack_uint32 (pk, f == F_GRANTED_2 ? 2 : msg->granted);
            s_t_id (pk, &msg->coordinator, f == F_COORD_7 ? 7 : 8, false);
            msgpack_pack_uint64 (pk, f == F_U32_BIG ? (uint64_t) UINT32_MAX + 1 : msg->rank);
            s_t_id (pk, &msg->ballot, f == F_BALLOT_9 ? 9 : 8, false);
        }
        else
            msgpack_pack_uint64 (pk, f == F_U32_BIG && type == MW_MSG_VOTE_REQ ? (uint64_t) UINT32_MAX + 1
                                                                               : msg->rank);
        break;
    default: break;
    }
    if (f == F_FIELDS_MISSING)
        return;   //  updates array left off

    uint32_t nu = msg->n_updates;
    if (f == F_UPDATES_OVER)
        nu = s_max_updates (type) + 1;
    if (f == F_UPDATES_MAP)
        msgpack_pack_map (pk, nu);
    else if (f == F_UPDATES_HUGE)
        msgpack_pack_array (pk, UINT32_MAX);
    else
        msgpack_pack_array (pk, nu);
    for (uint32_t i = 0; i < nu; i++) {
        mw_update_t dflt;
        memset (&dflt, 0, sizeof dflt);
        const mw_update_t *u = i < msg->n_updates ? &msg->updates[i] : &dflt;
        bool last = i + 1 == nu;   //  the fault goes into the last update
        msgpack_pack_array (pk, last && f == F_UPD_FIELDS_6 ? 6 : UPDATE_FIELDS);
        s_t_id (pk, &u->id, last && f == F_UPD_ID_7 ? 7 : 8, false);
        s_t_str (pk, u->name, MW_NAME_MAX, last && f == F_UPD_NAME_LONG, last && f == F_UPD_NAME_NUL, false);
        s_t_str (pk, u->addr, MW_ADDR_MAX, last && f == F_UPD_ADDR_LONG, false, false);
        msgpack_pack_uint32 (pk, last && f == F_UPD_STATE_4 ? 4 : u->state);
        if (last && f == F_UPD_INC_NEG)
            msgpack_pack_int8 (pk, -1);
        else
            msgpack_pack_uint64 (pk, u->incarnation);
        if (!(last && f == F_UPD_FIELDS_6))
            s_t_id (pk, &u->from, 8, false);
        uint8_t dig[MW_DIGEST_MAX + 1] = {0};
        memcpy (dig, u->digest, u->digest_len);
        if (last && f == F_UPD_DIGEST_STR)
            msgpack_pack_str_with_body (pk, dig, u->digest_len);
        else
            msgpack_pack_bin_with_body (pk, dig, last && f == F_UPD_DIGEST_65 ? 65 : u->digest_len);
    }
    if (f == F_TRAILING)
        msgpack_pack_nil (pk);
}

//  Expected decoder answer for fault f in a message of `type` with
//  n_updates updates; 1 = fault does not apply to this type (skip).
static int
s_expect (fault_t f, int type, uint32_t n_updates)
{
    bool has_str = type == MW_MSG_BEACON || type == MW_MSG_PING || type == MW_MSG_PING_REQ;
    bool has_probe = type >= MW_MSG_PING && type <= MW_MSG_NACK;
    bool upd = n_updates > 0;
    bool elect = type >= MW_MSG_HEARTBEAT && type <= MW_MSG_VOTE;
    switch (f) {
    case F_NONE: return 0;
    case F_NOT_ARRAY:
    case F_FIELDS_EXTRA:
    case F_FIELDS_MISSING:
    case F_SENDER_7:
    case F_SENDER_9:
    case F_SENDER_STR:
    case F_SESSION_STR:
    case F_SEQ_NIL:
    case F_UPDATES_MAP:
    case F_TRAILING: return MW_WIRE_EMALFORMED;
    case F_MAGIC_VALUE:
    case F_MAGIC_TYPE:
    case F_MAGIC_LONG: return MW_WIRE_EMAGIC;
    case F_VERSION_0:
    case F_VERSION_2:
    case F_VERSION_NEG: return MW_WIRE_EVERSION;
    case F_TYPE_0:
    case F_TYPE_9: return MW_WIRE_ETYPE;
    case F_TYPE_STR: return MW_WIRE_EMALFORMED;
    case F_SESSION_NEG: return MW_WIRE_ERANGE;
    case F_STR1_LONG:
    case F_STR_LAST_LONG: return has_str ? MW_WIRE_ETOOBIG : 1;
    case F_STR1_NUL:
    case F_STR1_BIN: return has_str ? MW_WIRE_EMALFORMED : 1;
    case F_PROBE_BIG: return has_probe ? MW_WIRE_ERANGE : 1;
    case F_JOIN_2: return type == MW_MSG_PUSH_PULL ? MW_WIRE_ERANGE : 1;
    case F_TERM_NEG: return elect ? MW_WIRE_ERANGE : 1;
    case F_U32_BIG: return elect ? MW_WIRE_ERANGE : 1;
    case F_FLAG_2: return type == MW_MSG_VOTE_REQ || type == MW_MSG_VOTE ? MW_WIRE_ERANGE : 1;
    case F_GRANTED_2: return type == MW_MSG_VOTE ? MW_WIRE_ERANGE : 1;
    case F_COORD_7:
    case F_BALLOT_9: return type == MW_MSG_VOTE ? MW_WIRE_EMALFORMED : 1;
    case F_UPDATES_OVER:
    case F_UPDATES_HUGE: return MW_WIRE_ETOOBIG;
    case F_UPD_FIELDS_6:
    case F_UPD_ID_7:
    case F_UPD_NAME_NUL:
    case F_UPD_DIGEST_STR: return upd ? MW_WIRE_EMALFORMED : 1;
    case F_UPD_NAME_LONG:
    case F_UPD_ADDR_LONG:
    case F_UPD_DIGEST_65: return upd ? MW_WIRE_ETOOBIG : 1;
    case F_UPD_STATE_4:
    case F_UPD_INC_NEG: return upd ? MW_WIRE_ERANGE : 1;
    default: return 1;
    }
}

int
gossip_wire_test (bool verbose)
{
    mw_msg_t msg, back, copy;
    memset (&msg, 0, sizeof msg);
    memset (&back, 0, sizeof back);
    memset (&copy, 0, sizeof copy);
    uint8_t *buf = NULL, *mut = NULL;
    size_t len = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);

    //  1. Round trip of every type, every field at its maximum.
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        uint32_t nu = s_max_updates (type);
        //  Full-state messages: MW_MAX_MEMBERS updates of everyday size
        //  (all-maximal ones do not fit MW_MSG_MAX, checked below).
        bool full = nu == MW_MAX_MEMBERS;
        CHECK (s_make (&msg, type, nu, full ? 40 : MW_ADDR_MAX, full ? 32 : MW_DIGEST_MAX) == 0);
        CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
        CHECK (len <= MW_MSG_MAX);
        CHECK (gossip_wire_decode (buf, len, &back) == 0);
        CHECK (s_msg_eq (&msg, &back));
        CHECK (gossip_wire_msg_copy (&copy, &back) == 0);
        CHECK (s_msg_eq (&copy, &msg));
        if (verbose)
            printf (" * round trip %-16s %3u updates: %zu bytes\n", gossip_wire_type_name (type), nu, len);
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&msg);
        gossip_wire_msg_clear (&back);
        gossip_wire_msg_clear (&copy);
    }
    //  Minimal messages too (empty strings, zero integers).
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        msg.type = (uint8_t) type;
        if (gossip_wire_is_job_type (type)) {
            //  A job type needs its body; the smallest JOB has a 1-byte frame.
            CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_EMALFORMED);
            CHECK (buf == NULL);
            msg.job = (mw_job_t *) calloc (1, sizeof (mw_job_t));
            CHECK (msg.job);
            if (type == MW_MSG_JOB) {
                msg.job->frame = (uint8_t *) calloc (1, 1);
                CHECK (msg.job->frame);
                msg.job->frame_len = 1;
            }
        }
        CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
        CHECK (gossip_wire_decode (buf, len, &back) == 0);
        CHECK (s_msg_eq (&msg, &back));
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&back);
        gossip_wire_msg_clear (&msg);
    }

    //  2. Encoder limits.
    CHECK (s_make (&msg, MW_MSG_PUSH_PULL, MW_MAX_MEMBERS, MW_ADDR_MAX, MW_DIGEST_MAX) == 0);
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);   //  > MW_MSG_MAX
    CHECK (buf == NULL);
    msg.n_updates = 10;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
    free (buf);
    buf = NULL;
    msg.updates[3].state = MW_STATE_COUNT;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ERANGE);
    msg.updates[3].state = 0;
    msg.updates[4].digest_len = MW_DIGEST_MAX + 1;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
    msg.updates[4].digest_len = 0;
    memset (msg.updates[5].name, 'q', sizeof msg.updates[5].name);   //  unterminated
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
    s_fill_str (msg.updates[5].name, 3, 'a');
    msg.join = 2;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ERANGE);
    msg.join = 0;
    msg.n_updates = MW_MAX_MEMBERS + 1;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
    msg.n_updates = 10;
    msg.type = MW_MSG_GOSSIP;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
    free (buf);
    buf = NULL;
    msg.type = 0;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETYPE);
    msg.type = MW_MSG_TYPE_MAX + 1;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETYPE);
    msg.type = MW_MSG_BEACON;
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);   //  beacon with updates
    gossip_wire_msg_clear (&msg);
    CHECK (s_make (&msg, MW_MSG_BEACON, 0, 0, 0) == 0);
    s_fill_str (msg.addr, MW_ADDR_MAX, 'a');   //  does not fit a sealed beacon
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
    memset (msg.cluster, 'c', sizeof msg.cluster);
    CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
    gossip_wire_msg_clear (&msg);
    CHECK (buf == NULL);

    //  2b. Jobs: the largest messages of the protocol round-trip (a JOB with
    //  a MW_FRAME_MAX frame, a RESULT with MW_MAX_BOXES boxes), and every
    //  encoder limit of the job body is hit once.
    for (int type = MW_MSG_JOB_OFFER; type <= MW_MSG_JOB_RESULT; type++) {
        CHECK (s_make (&msg, type, 0, 0, 0) == 0);
        CHECK (s_make_job (&msg, MW_FRAME_MAX, MW_MAX_BOXES) == 0);
        CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
        CHECK (len <= MW_JOB_MSG_MAX);
        CHECK (type != MW_MSG_JOB || len > MW_MSG_MAX);   //  bigger than any mesh message
        CHECK (gossip_wire_decode (buf, len, &back) == 0);
        CHECK (s_msg_eq (&msg, &back));
        CHECK (gossip_wire_msg_copy (&copy, &back) == 0);
        CHECK (s_msg_eq (&copy, &msg));
        CHECK (copy.job != back.job && (!copy.job->frame || copy.job->frame != back.job->frame));
        CHECK (!copy.job->boxes || copy.job->boxes != back.job->boxes);
        if (verbose)
            printf (" * round trip %-16s (max): %zu bytes\n", gossip_wire_type_name (type), len);
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&back);
        gossip_wire_msg_clear (&copy);
        CHECK (back.job == NULL && copy.job == NULL);
        //  No body at all.
        mw_job_t *saved = msg.job;
        msg.job = NULL;
        CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_EMALFORMED);
        msg.job = saved;
        //  Job types carry no updates.
        msg.n_updates = 1;
        msg.updates = (mw_update_t *) calloc (1, sizeof (mw_update_t));
        CHECK (msg.updates);
        CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
        gossip_wire_msg_clear (&msg);
        CHECK (buf == NULL);
    }
    {
        //  One limit at a time, restored after each: `enc` is the expected code.
#define JOB_LIMIT(type_, field_, bad_, enc_)                                                                 \
    do {                                                                                                     \
        CHECK (s_make (&msg, (type_), 0, 0, 0) == 0);                                                        \
        msg.job->field_ = (bad_);                                                                            \
        CHECK (gossip_wire_encode (&msg, &buf, &len) == (enc_));                                             \
        CHECK (buf == NULL);                                                                                 \
        gossip_wire_msg_clear (&msg);                                                                        \
    } while (0)
        JOB_LIMIT (MW_MSG_JOB_OFFER, kind, 2, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_OFFER, priority, JOB_PRIORITY_MAX + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_OFFER, deadline_ms, JOB_DEADLINE_MAX + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_OFFER, frame_len, MW_FRAME_MAX + 1, MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB_REPLY, status, 2, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB, kind, 2, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB, priority, JOB_PRIORITY_MAX + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB, deadline_ms, JOB_DEADLINE_MAX + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB, frame_len, MW_FRAME_MAX + 1, MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB, frame_len, 0, MW_WIRE_EMALFORMED);
        JOB_LIMIT (MW_MSG_JOB_RESULT, kind, 2, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, confidence, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, n_boxes, MW_MAX_BOXES + 1, MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB_RESULT, boxes[JOB_T_BOXES - 1].x, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, boxes[0].y, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, boxes[1].w, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, boxes[2].h, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        JOB_LIMIT (MW_MSG_JOB_RESULT, boxes[3].score, MW_FIXED_ONE + 1, MW_WIRE_ERANGE);
        //  Strings: unterminated at the array's end means one over the limit.
        JOB_LIMIT (MW_MSG_JOB_OFFER, model[MW_MODEL_MAX], 'x', MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB, camera[MW_CAMERA_MAX], 'x', MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB, model[MW_MODEL_MAX], 'x', MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB_REPLY, reason[MW_REASON_MAX], 'x', MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB_RESULT, reason[MW_REASON_MAX], 'x', MW_WIRE_ETOOBIG);
        JOB_LIMIT (MW_MSG_JOB_RESULT, model[MW_MODEL_MAX], 'x', MW_WIRE_ETOOBIG);
#undef JOB_LIMIT
        //  A JOB whose frame pointer is missing; a RESULT whose boxes are.
        CHECK (s_make (&msg, MW_MSG_JOB, 0, 0, 0) == 0);
        free (msg.job->frame);
        msg.job->frame = NULL;
        CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_EMALFORMED);
        gossip_wire_msg_clear (&msg);
        CHECK (s_make (&msg, MW_MSG_JOB_RESULT, 0, 0, 0) == 0);
        free (msg.job->boxes);
        msg.job->boxes = NULL;
        CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_EMALFORMED);
        gossip_wire_msg_clear (&msg);
        //  Reply-to over its limit.
        CHECK (s_make (&msg, MW_MSG_JOB_OFFER, 0, 0, 0) == 0);
        memset (msg.addr, 'a', sizeof msg.addr);
        CHECK (gossip_wire_encode (&msg, &buf, &len) == MW_WIRE_ETOOBIG);
        gossip_wire_msg_clear (&msg);
        CHECK (buf == NULL);
    }

    //  3b. Every decoder rule of the job bodies, one fault at a time.
    {
        int jfaults_run = 0;
        for (int type = MW_MSG_JOB_OFFER; type <= MW_MSG_JOB_RESULT; type++) {
            CHECK (s_make (&msg, type, 0, 0, 0) == 0);
            for (int f = JF_NONE; f < JF_COUNT; f++) {
                int expect = s_jexpect ((job_fault_t) f, type);
                if (expect == 1)
                    continue;
                msgpack_sbuffer_clear (&sb);
                msgpack_packer pk;
                msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
                s_t_job_msg (&pk, &msg, (job_fault_t) f);
                int rc = gossip_wire_decode ((const uint8_t *) sb.data, sb.size, &back);
                if (rc != expect)
                    fprintf (stderr, "gossip_wire_test: type %d job fault %d: got %d (%s), want %d\n", type,
                             f, rc, gossip_wire_strerror (rc), expect);
                CHECK (rc == expect);
                if (rc == 0)
                    CHECK (s_msg_eq (&msg, &back));
                else
                    CHECK (back.job == NULL && back.type == 0);
                gossip_wire_msg_clear (&back);
                jfaults_run++;
            }
            gossip_wire_msg_clear (&msg);
        }
        if (verbose)
            printf (" * %d job fault cases gave the expected code\n", jfaults_run);
    }

    //  3. Every decoder rule, one fault at a time, for every type.
    int faults_run = 0;
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        uint32_t nu = s_max_updates (type) == 0 ? 0 : 2;
        CHECK (s_make (&msg, type, nu, 20, 8) == 0);
        if (type == MW_MSG_BEACON)
            s_fill_str (msg.addr, 20, 'a');
        for (int f = F_NONE; f < F_COUNT; f++) {
            int expect = s_expect ((fault_t) f, type, nu);
            if (expect == 1)
                continue;
            msgpack_sbuffer_clear (&sb);
            msgpack_packer pk;
            msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
            s_t_pack (&pk, &msg, (fault_t) f);
            int rc = gossip_wire_decode ((const uint8_t *) sb.data, sb.size, &back);
            if (rc != expect)
                fprintf (stderr, "gossip_wire_test: type %d fault %d: got %d (%s), want %d\n", type, f, rc,
                         gossip_wire_strerror (rc), expect);
            CHECK (rc == expect);
            if (rc == 0)
                CHECK (s_msg_eq (&msg, &back));
            else
                CHECK (back.updates == NULL && back.n_updates == 0 && back.type == 0);
            gossip_wire_msg_clear (&back);
            faults_run++;
        }
        gossip_wire_msg_clear (&msg);
    }
    if (verbose)
        printf (" * %d fault cases gave the expected code\n", faults_run);

    //  Too big as a whole, a beacon too big for zbeacon, an empty input.
    {
        //  Over the data plane's limit: refused before a byte is read.  A
        //  non-job type over MW_MSG_MAX: refused once its type is known; a
        //  job type of that size is read on (and here fails on its body).
        uint8_t *big = (uint8_t *) calloc (1, MW_JOB_MSG_MAX + 1);
        CHECK (big);
        int rc = gossip_wire_decode (big, MW_JOB_MSG_MAX + 1, &back);
        int rc_ping = MW_WIRE_OK, rc_job = MW_WIRE_OK;
        //  A valid PING, then a valid JOB, each followed by zeros up to
        //  MW_MSG_MAX + 1 bytes: the PING is refused as too big, the JOB is
        //  read to its end and refused for the trailing bytes.
        if (s_make (&msg, MW_MSG_PING, 0, 0, 0) == 0 && gossip_wire_encode (&msg, &buf, &len) == 0) {
            memcpy (big, buf, len);
            rc_ping = gossip_wire_decode (big, MW_MSG_MAX + 1, &back);
        }
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&msg);
        memset (big, 0, MW_MSG_MAX + 1);
        if (s_make (&msg, MW_MSG_JOB, 0, 0, 0) == 0 && gossip_wire_encode (&msg, &buf, &len) == 0) {
            memcpy (big, buf, len);
            rc_job = gossip_wire_decode (big, MW_MSG_MAX + 1, &back);
        }
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&msg);
        free (big);
        CHECK (rc == MW_WIRE_ETOOBIG);
        CHECK (rc_ping == MW_WIRE_ETOOBIG);
        CHECK (rc_job == MW_WIRE_EMALFORMED);
        CHECK (back.job == NULL);
        CHECK (gossip_wire_decode (NULL, 0, &back) == MW_WIRE_ETRUNC);
        CHECK (s_make (&msg, MW_MSG_BEACON, 0, 0, 0) == 0);
        s_fill_str (msg.addr, MW_ADDR_MAX, 'a');
        msgpack_sbuffer_clear (&sb);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
        s_t_pack (&pk, &msg, F_NONE);
        CHECK (gossip_wire_decode ((const uint8_t *) sb.data, sb.size, &back) == MW_WIRE_ETOOBIG);
        gossip_wire_msg_clear (&msg);
    }
    //  Non-canonical integer forms decode (other msgpack encoders use them).
    {
        const uint8_t ping[] = {
            0x9b, 0xa3, 'M', 'W', 'P',  0xd0, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0,    0x02, 0xc4, 0x08, 1,
            2,    3,    4,   5,   6,    7,    8,    0xd3, 0, 0, 0, 0, 0, 0, 0,    9,    0x05, 0x06, 0xce,
            0,    0,    0,   7,   0xc4, 0x08, 0,    0,    0, 0, 0, 0, 0, 0, 0xd9, 0x01, 'a',  0x90};
        CHECK (gossip_wire_decode (ping, sizeof ping, &back) == 0);
        CHECK (back.type == MW_MSG_PING && back.session == 9 && back.seq == 5 && back.ts_ms == 6);
        CHECK (back.probe == 7 && strcmp (back.addr, "a") == 0);
        gossip_wire_msg_clear (&back);
    }

    //  4. Truncation at every byte offset of a valid message of each type.
    for (int type = 1; type <= MW_MSG_TYPE_MAX; type++) {
        uint32_t nu = s_max_updates (type);
        if (nu > 8)
            nu = type == MW_MSG_PING ? MW_MAX_UPDATES : 8;
        CHECK (s_make (&msg, type, nu, 30, 16) == 0);
        CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
        for (size_t cut = 0; cut < len; cut++) {
            //  A fresh copy of exactly `cut` bytes, so ASan/valgrind see any
            //  read past the end.
            mut = (uint8_t *) malloc (cut ? cut : 1);
            CHECK (mut);
            memcpy (mut, buf, cut);
            int rc = gossip_wire_decode (mut, cut, &back);
            CHECK (rc < 0);
            CHECK (back.updates == NULL);
            CHECK (back.job == NULL);
            free (mut);
            mut = NULL;
        }
        if (verbose)
            printf (" * %s: all %zu truncations rejected\n", gossip_wire_type_name (type), len);
        free (buf);
        buf = NULL;
        gossip_wire_msg_clear (&msg);
    }

    //  5. Random mutations, fixed seed.  Whatever the decoder accepts must
    //  re-encode and decode to the same message.
    {
        uint64_t seed = 0x6d65736877617463ULL;
        int accepted = 0;
        const int iterations = 4000;
        for (int it = 0; it < iterations; it++) {
            int type = 1 + (int) (s_rand (&seed) % MW_MSG_TYPE_MAX);
            uint32_t nu = s_max_updates (type) == 0 ? 0 : (uint32_t) (s_rand (&seed) % 4);
            CHECK (s_make (&msg, type, nu, 1 + s_rand (&seed) % 20, s_rand (&seed) % 9) == 0);
            if (type == MW_MSG_BEACON)
                s_fill_str (msg.addr, 20, 'a');
            CHECK (gossip_wire_encode (&msg, &buf, &len) == 0);
            gossip_wire_msg_clear (&msg);
            size_t mlen = len + 8;
            mut = (uint8_t *) malloc (mlen);
            CHECK (mut);
            memcpy (mut, buf, len);
            int n_mut = 1 + (int) (s_rand (&seed) % 4);
            mlen = len;
            for (int k = 0; k < n_mut; k++) {
                uint64_t r = s_rand (&seed);
                size_t pos = (size_t) (r >> 8) % mlen;
                switch (r % 5) {
                case 0: mut[pos] ^= (uint8_t) (1u << ((r >> 40) % 8)); break;
                case 1: mut[pos] = (uint8_t) (r >> 48); break;
                case 2: mut[pos] = (uint8_t) ((r >> 48) & 1 ? 0xff : 0x00); break;
                case 3:   //  cut
                    mlen = pos + 1;
                    break;
                default:   //  append a byte
                    if (mlen < len + 8)
                        mut[mlen++] = (uint8_t) (r >> 48);
                    break;
                }
            }
            int rc = gossip_wire_decode (mut, mlen, &back);
            CHECK (rc <= 0 && rc >= MW_WIRE_ENOMEM);
            if (rc == 0) {
                accepted++;
                uint8_t *re = NULL;
                size_t re_len = 0;
                CHECK (gossip_wire_encode (&back, &re, &re_len) == 0);
                rc = gossip_wire_decode (re, re_len, &copy);
                free (re);
                CHECK (rc == 0);
                CHECK (s_msg_eq (&back, &copy));
                gossip_wire_msg_clear (&copy);
            }
            gossip_wire_msg_clear (&back);
            free (mut);
            mut = NULL;
            free (buf);
            buf = NULL;
        }
        if (verbose)
            printf (" * %d mutations: %d still decoded (and round-tripped)\n", iterations, accepted);
    }

    //  6. Text helpers.
    {
        mw_id_t id, id2;
        for (int i = 0; i < MW_ID_LEN; i++)
            id.b[i] = (uint8_t) (0xa0 + i * 0x11);
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&id, hex);
        CHECK (strcmp (hex, "a0b1c2d3e4f50617") == 0);
        CHECK (gossip_wire_id_parse (hex, &id2) == 0 && gossip_wire_id_eq (&id, &id2));
        CHECK (gossip_wire_id_parse ("A0B1C2D3E4F50617", &id2) == 0 && gossip_wire_id_eq (&id, &id2));
        CHECK (gossip_wire_id_parse ("a0b1c2d3e4f5061", &id2) == -1);
        CHECK (gossip_wire_id_parse ("a0b1c2d3e4f506177", &id2) == -1);
        CHECK (gossip_wire_id_parse ("a0b1c2d3e4f5061g", &id2) == -1);
        CHECK (gossip_wire_id_parse (NULL, &id2) == -1);
        CHECK (!gossip_wire_id_zero (&id));
        memset (&id2, 0, sizeof id2);
        CHECK (gossip_wire_id_zero (&id2));
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_PING_REQ), "ping-req") == 0);
        CHECK (strcmp (gossip_wire_type_name (0), "unknown") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_TYPE_MAX + 1), "unknown") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_VOTE), "vote") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_JOB_OFFER), "job_offer") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_JOB_REPLY), "job_reply") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_JOB), "job") == 0);
        CHECK (strcmp (gossip_wire_type_name (MW_MSG_JOB_RESULT), "job_result") == 0);
        for (int t = 0; t <= MW_MSG_TYPE_MAX + 1; t++)
            CHECK (gossip_wire_is_job_type (t) == (t >= 12 && t <= 15));
        mw_jobid_t jid, jid2;
        for (int i = 0; i < MW_JOBID_LEN; i++)
            jid.b[i] = (uint8_t) (i * 0x11 + 0x0f);
        char jhex[2 * MW_JOBID_LEN + 1];
        gossip_wire_jobid_hex (&jid, jhex);
        CHECK (strcmp (jhex, "0f2031425364758697a8b9cadbecfd0e") == 0);
        CHECK (gossip_wire_jobid_parse (jhex, &jid2) == 0);
        CHECK (memcmp (jid.b, jid2.b, MW_JOBID_LEN) == 0);
        CHECK (gossip_wire_jobid_parse ("0F2031425364758697A8B9CADBECFD0E", &jid2) == 0);
        CHECK (memcmp (jid.b, jid2.b, MW_JOBID_LEN) == 0);
        CHECK (gossip_wire_jobid_parse ("0f2031425364758697a8b9cadbecfd0", &jid2) == -1);
        CHECK (gossip_wire_jobid_parse ("0f2031425364758697a8b9cadbecfd0e0", &jid2) == -1);
        CHECK (gossip_wire_jobid_parse ("0f2031425364758697a8b9cadbecfd0g", &jid2) == -1);
        CHECK (gossip_wire_jobid_parse (NULL, &jid2) == -1);
        CHECK (strcmp (gossip_wire_state_name (MW_STATE_SUSPECT), "suspect") == 0);
        CHECK (strcmp (gossip_wire_state_name (4), "unknown") == 0);
        CHECK (strcmp (gossip_wire_strerror (MW_WIRE_ETRUNC), "truncated") == 0);
        CHECK (strcmp (gossip_wire_strerror (MW_WIRE_EMAGIC), "bad magic") == 0);
        for (int c = MW_WIRE_ENOMEM; c < 0; c++)
            CHECK (strcmp (gossip_wire_strerror (c), "unknown error") != 0);
    }

    msgpack_sbuffer_destroy (&sb);
    return 0;

fail:
    free (buf);
    free (mut);
    gossip_wire_msg_clear (&msg);
    gossip_wire_msg_clear (&back);
    gossip_wire_msg_clear (&copy);
    msgpack_sbuffer_destroy (&sb);
    return -1;
}
