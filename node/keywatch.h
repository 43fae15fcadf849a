/*  =========================================================================
    node_keywatch - notice a box that hears only traffic sealed with a key
    it does not hold.

    An agent given the wrong CLUSTER_KEY is otherwise silent: every packet
    of its would-be peers fails authentication (and is counted), it runs
    alone, elects itself and logs nothing at any level.  This watches the
    two kinds of evidence - messages and beacons sealed with another key,
    and valid messages from peers - and says when to warn: other-key
    traffic for at least `quiet_ms` with no valid message in between, then
    again at most every `repeat_ms` while it lasts.  A box that also hears
    its own mesh is not warned about (a neighbour with a wrong key is that
    neighbour's problem, and its own warning says so).

    Pure logic: the caller passes the time; sources are strings (beacon IP
    addresses; the mesh port gives none), at most 8 distinct are kept.
    ========================================================================= */
#ifndef NODE_KEYWATCH_H_INCLUDED
#define NODE_KEYWATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_keywatch_t node_keywatch_t;

#define NODE_KEYWATCH_SOURCES 8

node_keywatch_t *node_keywatch_new (uint32_t quiet_ms, uint32_t repeat_ms);
void node_keywatch_destroy (node_keywatch_t **self_p);

//  `count` messages sealed with a key we do not hold, from `source` (an
//  address, or NULL when unknown).
void node_keywatch_other (node_keywatch_t *self, const char *source, uint64_t count, uint64_t now_ms);
//  A valid message from a peer: the mesh is there, nothing to warn about.
void node_keywatch_valid (node_keywatch_t *self, uint64_t now_ms);
//  Time to warn?  Then `line` gets "count=N window_s=S sources=A,B,..." and
//  the counts start again.
bool node_keywatch_due (node_keywatch_t *self, uint64_t now_ms, char *line, size_t cap);

int node_keywatch_test (bool verbose);

#endif
