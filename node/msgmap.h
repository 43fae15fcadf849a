/*  =========================================================================
    node_msgmap - the edge between the wire and the pure modules.

    The election (scheduler/election.h) and the job hand-off
    (scheduler/handoff.h) have their own message structs, so that they
    know nothing of the wire codec and run unchanged in the simulator
    (sim/netsim.h).  The daemon decodes mw_msg_t off the wire; these
    functions, and only these, translate between the two, field for field.
    Nothing is allocated: a translation borrows what it points to (a
    frame, a box list) from its input for as long as that lives.
    ========================================================================= */
#ifndef NODE_MSGMAP_H_INCLUDED
#define NODE_MSGMAP_H_INCLUDED

#include "gossip/wire.h"
#include "scheduler/election.h"
#include "scheduler/handoff.h"

#include <stdbool.h>

//  A decoded HEARTBEAT, VOTE_REQ or VOTE as the election's message.  0, or
//  -1 when `in` is of another type (*out is then zeroed).
int node_msgmap_election_from_wire (const mw_msg_t *in, election_msg_t *out);
//  The election's message as a wire message for the transport (which
//  stamps the header).  *out is overwritten; it owns nothing.
void node_msgmap_election_to_wire (const election_msg_t *in, mw_msg_t *out);

//  A decoded job message (OFFER, REPLY, JOB, RESULT) as the hand-off's
//  message; frame and boxes point into in->job.  0, or -1 when `in` is of
//  another type or carries no job body.
int node_msgmap_handoff_from_wire (const mw_msg_t *in, handoff_msg_t *out);
//  The hand-off's message as a wire message: *out gets `body` (the
//  caller's storage) as its job, and borrows frame and boxes from `in`
//  (the transport only reads them; do not gossip_wire_msg_clear *out).
//  0, or -1 on an unknown type.
int node_msgmap_handoff_to_wire (const handoff_msg_t *in, mw_msg_t *out, mw_job_t *body);

int node_msgmap_test (bool verbose);

#endif
