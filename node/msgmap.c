/*  =========================================================================
    node_msgmap - the edge between the wire and the pure modules (see
    msgmap.h).

    Field for field and nothing else: no defaults, no checks beyond the
    type, because what a field may hold is the codec's business (it
    range-checks on decode) and what it means is the module's.  Strings
    have the same capacity on both sides; they are copied bounded and
    terminated all the same, so an unterminated one can never run off.
    ========================================================================= */
#include "node/msgmap.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_str (char *dst, size_t cap, const char *src)
{
    size_t n = strnlen (src, cap - 1);
    memcpy (dst, src, n);
    dst[n] = 0;
}

//  --------------------------------------------------------------------------
//  Election

int
node_msgmap_election_from_wire (const mw_msg_t *in, election_msg_t *out)
{
    assert (in && out);
    memset (out, 0, sizeof *out);
    switch (in->type) {
    case MW_MSG_HEARTBEAT: out->type = ELECTION_MSG_HEARTBEAT; break;
    case MW_MSG_VOTE_REQ: out->type = ELECTION_MSG_VOTE_REQ; break;
    case MW_MSG_VOTE: out->type = ELECTION_MSG_VOTE; break;
    default: return -1;
    }
    out->sender = in->sender;
    out->term = in->term;
    out->rank = in->rank;
    out->lease_ms = in->lease_ms;
    out->pre = in->pre != 0;
    out->granted = in->granted != 0;
    out->coordinator = in->coordinator;
    out->ballot = in->ballot;
    out->witnesses = in->witnesses;
    out->witness = in->witness != 0;
    out->lapsed = in->lapsed != 0;
    return 0;
}

void
node_msgmap_election_to_wire (const election_msg_t *in, mw_msg_t *out)
{
    assert (in && out);
    memset (out, 0, sizeof *out);
    switch (in->type) {
    case ELECTION_MSG_HEARTBEAT: out->type = MW_MSG_HEARTBEAT; break;
    case ELECTION_MSG_VOTE_REQ: out->type = MW_MSG_VOTE_REQ; break;
    case ELECTION_MSG_VOTE: out->type = MW_MSG_VOTE; break;
    default: assert (false); break;   //  the election sends nothing else
    }
    out->sender = in->sender;
    out->term = in->term;
    out->rank = in->rank;
    out->lease_ms = in->lease_ms;
    out->pre = in->pre ? 1 : 0;
    out->granted = in->granted ? 1 : 0;
    out->coordinator = in->coordinator;
    out->ballot = in->ballot;
    out->witnesses = in->witnesses;
    out->witness = in->witness ? 1 : 0;
    out->lapsed = in->lapsed ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  Job hand-off

int
node_msgmap_handoff_from_wire (const mw_msg_t *in, handoff_msg_t *out)
{
    assert (in && out);
    memset (out, 0, sizeof *out);
    switch (in->type) {
    case MW_MSG_JOB_OFFER: out->type = HANDOFF_MSG_OFFER; break;
    case MW_MSG_JOB_REPLY: out->type = HANDOFF_MSG_REPLY; break;
    case MW_MSG_JOB: out->type = HANDOFF_MSG_JOB; break;
    case MW_MSG_JOB_RESULT: out->type = HANDOFF_MSG_RESULT; break;
    case MW_MSG_JOB_CANCEL: out->type = HANDOFF_MSG_CANCEL; break;
    default: return -1;
    }
    const mw_job_t *j = in->job;
    if (!j) {
        memset (out, 0, sizeof *out);
        return -1;
    }
    out->sender = in->sender;
    s_str (out->addr, sizeof out->addr, in->addr);
    out->id = j->id;
    out->kind = j->kind;
    s_str (out->camera, sizeof out->camera, j->camera);
    s_str (out->model, sizeof out->model, j->model);
    out->deadline_ms = j->deadline_ms;
    out->priority = j->priority;
    out->frame_len = j->frame_len;
    out->frame = j->frame;
    out->status = j->status;
    s_str (out->reason, sizeof out->reason, j->reason);
    out->wait_ms = j->wait_ms;
    out->queue_ms = j->queue_ms;
    out->infer_ms = j->infer_ms;
    out->width = j->width;
    out->height = j->height;
    out->confidence = j->confidence;
    out->n_boxes = j->n_boxes;
    out->boxes = j->boxes;
    return 0;
}

int
node_msgmap_handoff_to_wire (const handoff_msg_t *in, mw_msg_t *out, mw_job_t *body)
{
    assert (in && out && body);
    memset (out, 0, sizeof *out);
    memset (body, 0, sizeof *body);
    switch (in->type) {
    case HANDOFF_MSG_OFFER: out->type = MW_MSG_JOB_OFFER; break;
    case HANDOFF_MSG_REPLY: out->type = MW_MSG_JOB_REPLY; break;
    case HANDOFF_MSG_JOB: out->type = MW_MSG_JOB; break;
    case HANDOFF_MSG_RESULT: out->type = MW_MSG_JOB_RESULT; break;
    case HANDOFF_MSG_CANCEL: out->type = MW_MSG_JOB_CANCEL; break;
    default: return -1;
    }
    out->sender = in->sender;
    s_str (out->addr, sizeof out->addr, in->addr);
    out->job = body;
    body->id = in->id;
    body->kind = in->kind;
    s_str (body->camera, sizeof body->camera, in->camera);
    s_str (body->model, sizeof body->model, in->model);
    body->deadline_ms = in->deadline_ms;
    body->priority = in->priority;
    body->frame_len = in->frame_len;
    //  Borrowed: the encoder only reads them, and nobody frees *out.
    body->frame = (uint8_t *) in->frame;
    body->status = in->status;
    s_str (body->reason, sizeof body->reason, in->reason);
    body->wait_ms = in->wait_ms;
    body->queue_ms = in->queue_ms;
    body->infer_ms = in->infer_ms;
    body->width = in->width;
    body->height = in->height;
    body->confidence = in->confidence;
    body->n_boxes = in->n_boxes;
    body->boxes = (mw_wire_box_t *) in->boxes;
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: every message the two modules send goes through the real
//  codec (translate, encode, decode, translate back) and comes back field
//  for field; what is not theirs is refused.

#include "common/selftest.h"

static int
s_election_roundtrip (const election_msg_t *m, election_msg_t *back)
{
    mw_msg_t w, d;
    node_msgmap_election_to_wire (m, &w);
    w.sender = m->sender;   //  what the transport stamps
    uint8_t *buf = NULL;
    size_t len = 0;
    if (gossip_wire_encode (&w, &buf, &len) != 0)
        return -1;
    int rc = gossip_wire_decode (buf, len, &d);
    free (buf);
    rc = rc == 0 ? node_msgmap_election_from_wire (&d, back) : -1;
    gossip_wire_msg_clear (&d);
    return rc;
}

static int
s_handoff_roundtrip (const handoff_msg_t *m, handoff_msg_t *back, mw_msg_t *decoded)
{
    mw_msg_t w;
    mw_job_t body;
    if (node_msgmap_handoff_to_wire (m, &w, &body) != 0)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (gossip_wire_encode (&w, &buf, &len) != 0)
        return -1;
    int rc = gossip_wire_decode (buf, len, decoded);
    free (buf);
    return rc == 0 ? node_msgmap_handoff_from_wire (decoded, back) : -1;
}

int
node_msgmap_test (bool verbose)
{
    int rc = 0;
    if (verbose)
        printf (" * node_msgmap: ");
    mw_id_t a = {{1, 2, 3, 4, 5, 6, 7, 8}}, b = {{8, 7, 6, 5, 4, 3, 2, 1}}, c = {{9, 9, 9, 9, 9, 9, 9, 9}};

    //  Election: each type with the fields it carries (election.h).
    election_msg_t em[3], back;
    memset (em, 0, sizeof em);
    em[0] = (election_msg_t){.type = ELECTION_MSG_HEARTBEAT,
                             .sender = a,
                             .term = 42,
                             .rank = 1109,
                             .lease_ms = 400,
                             .witnesses = 5};
    em[1] = (election_msg_t){.type = ELECTION_MSG_VOTE_REQ,
                             .sender = a,
                             .term = UINT64_MAX,
                             .rank = 7,
                             .pre = true,
                             .witness = true};
    em[2] = (election_msg_t){.type = ELECTION_MSG_VOTE,
                             .sender = b,
                             .term = 43,
                             .rank = 1100,
                             .pre = false,
                             .granted = true,
                             .coordinator = c,
                             .ballot = a,
                             .lapsed = true};
    for (int i = 0; i < 3; i++) {
        CHECK (s_election_roundtrip (&em[i], &back) == 0, "election type %d: round trip", em[i].type);
        CHECK (back.type == em[i].type && mw_id_eq (&back.sender, &em[i].sender) && back.term == em[i].term
                   && back.rank == em[i].rank && back.lease_ms == em[i].lease_ms && back.pre == em[i].pre
                   && back.granted == em[i].granted && mw_id_eq (&back.coordinator, &em[i].coordinator)
                   && mw_id_eq (&back.ballot, &em[i].ballot) && back.witnesses == em[i].witnesses
                   && back.witness == em[i].witness && back.lapsed == em[i].lapsed,
               "election type %d: fields changed", em[i].type);
    }
    //  Not an election message: refused, and *out says nothing.
    mw_msg_t w;
    memset (&w, 0, sizeof w);
    w.type = MW_MSG_PING;
    w.term = 5;
    CHECK (node_msgmap_election_from_wire (&w, &back) == -1 && back.type == 0 && back.term == 0, "ping");
    w.type = MW_MSG_JOB_OFFER;
    CHECK (node_msgmap_election_from_wire (&w, &back) == -1, "job offer as election");

    //  Hand-off: each type with the fields it carries (handoff.h).
    uint8_t frame[1000];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t) (i * 31 + 7);
    mw_wire_box_t boxes[3] = {{1, 2, 3, 4, 500000}, {10, 20, 30, 40, 999999}, {0, 0, 640, 480, 0}};
    handoff_msg_t hm[5];
    memset (hm, 0, sizeof hm);
    for (int i = 0; i < 5; i++) {
        hm[i].sender = b;
        if (i == 0 || i == 2)   //  OFFER, JOB: the reply-to
            snprintf (hm[i].addr, sizeof hm[i].addr, "tcp://10.1.2.3:7950");
        for (int k = 0; k < MW_JOBID_LEN; k++)
            hm[i].id.b[k] = (uint8_t) (k + 16 * i);
    }
    hm[0].type = HANDOFF_MSG_OFFER;
    hm[0].kind = MW_JOB_KIND_ESCALATE;
    snprintf (hm[0].model, sizeof hm[0].model, "ssd-mobilenet");
    hm[0].deadline_ms = 4321;
    hm[0].priority = 9;
    hm[0].frame_len = 123456;
    hm[1].type = HANDOFF_MSG_REPLY;
    hm[1].status = 1;
    hm[1].wait_ms = 77;
    snprintf (hm[1].reason, sizeof hm[1].reason, "busy: queue full");
    hm[2].type = HANDOFF_MSG_JOB;
    snprintf (hm[2].camera, sizeof hm[2].camera, "cam-7");
    snprintf (hm[2].model, sizeof hm[2].model, "tiny-face");
    hm[2].deadline_ms = 500;
    hm[2].priority = 3;
    hm[2].frame = frame;
    hm[2].frame_len = sizeof frame;
    hm[3].type = HANDOFF_MSG_RESULT;
    hm[3].kind = MW_JOB_KIND_RUN;
    hm[3].status = 2;
    snprintf (hm[3].reason, sizeof hm[3].reason, "bad_jpeg");
    snprintf (hm[3].model, sizeof hm[3].model, "tiny-face");
    hm[3].queue_ms = 12;
    hm[3].infer_ms = 34;
    hm[3].width = 640;
    hm[3].height = 480;
    hm[3].confidence = 640000;
    hm[3].n_boxes = 3;
    hm[3].boxes = boxes;
    hm[4].type = HANDOFF_MSG_CANCEL;
    snprintf (hm[4].reason, sizeof hm[4].reason, "taken: another peer accepted first");
    for (int i = 0; i < 5; i++) {
        handoff_msg_t h;
        mw_msg_t d;
        memset (&d, 0, sizeof d);
        CHECK (s_handoff_roundtrip (&hm[i], &h, &d) == 0, "handoff type %d: round trip", hm[i].type);
        const handoff_msg_t *x = &hm[i];
        CHECK (h.type == x->type && mw_id_eq (&h.sender, &x->sender) && !strcmp (h.addr, x->addr)
                   && !memcmp (h.id.b, x->id.b, MW_JOBID_LEN) && h.kind == x->kind
                   && !strcmp (h.camera, x->camera) && !strcmp (h.model, x->model)
                   && h.deadline_ms == x->deadline_ms && h.priority == x->priority
                   && h.frame_len == x->frame_len && h.status == x->status && !strcmp (h.reason, x->reason)
                   && h.wait_ms == x->wait_ms && h.queue_ms == x->queue_ms && h.infer_ms == x->infer_ms
                   && h.width == x->width && h.height == x->height && h.confidence == x->confidence
                   && h.n_boxes == x->n_boxes,
               "handoff type %d: fields changed", x->type);
        CHECK ((h.frame != NULL) == (x->frame != NULL)
                   && (!x->frame || memcmp (h.frame, x->frame, x->frame_len) == 0),
               "handoff type %d: frame", x->type);
        CHECK ((h.boxes != NULL) == (x->boxes != NULL)
                   && (!x->boxes || memcmp (h.boxes, x->boxes, x->n_boxes * sizeof *x->boxes) == 0),
               "handoff type %d: boxes", x->type);
        gossip_wire_msg_clear (&d);
    }
    //  Not a job message, or a job type without a body: refused.
    handoff_msg_t h;
    memset (&w, 0, sizeof w);
    w.type = MW_MSG_VOTE;
    CHECK (node_msgmap_handoff_from_wire (&w, &h) == -1, "vote as job");
    w.type = MW_MSG_JOB;
    CHECK (node_msgmap_handoff_from_wire (&w, &h) == -1 && h.type == 0, "job without body");
    mw_job_t body;
    hm[0].type = 0;
    CHECK (node_msgmap_handoff_to_wire (&hm[0], &w, &body) == -1, "unknown hand-off type");
    //  An unterminated string in a decoded message stays inside its field.
    mw_job_t raw;
    memset (&raw, 0, sizeof raw);
    memset (raw.reason, 'r', sizeof raw.reason);
    memset (raw.model, 'm', sizeof raw.model);
    memset (&w, 0, sizeof w);
    memset (w.addr, 'a', sizeof w.addr);
    w.type = MW_MSG_JOB_REPLY;
    w.job = &raw;
    CHECK (node_msgmap_handoff_from_wire (&w, &h) == 0 && strlen (h.reason) == MW_REASON_MAX
               && strlen (h.model) == MW_MODEL_MAX && strlen (h.addr) == MW_ADDR_MAX,
           "unterminated strings");
    if (verbose)
        printf ("%s\n", rc ? "FAILED" : "OK");
    return rc;
}
