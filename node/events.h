/*  =========================================================================
    node_events - the event stream the VMS subscribes to (ZeroMQ PUB).

    Every event goes out twice: topic "<family>.<event>" with one msgpack
    frame (a map), for C clients; and topic "json.<family>.<event>" with the
    same fields as one JSON frame, for everything else.  Subscribers filter
    by topic prefix, e.g. "member." or "json.".  A PUB never blocks: a slow
    subscriber loses events past its high-water mark, not us.
    ========================================================================= */
#ifndef NODE_EVENTS_H_INCLUDED
#define NODE_EVENTS_H_INCLUDED

#include "node/curve.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _node_events_t node_events_t;

//  Bind a PUB on tcp://<bind_ip>:<port>.  NULL on failure (logged).
node_events_t *node_events_new (const char *bind_ip, int port);
//  The same as a CURVE server (curve not NULL: only its allow-listed
//  subscribers complete a connection; see node/curve.h).
node_events_t *node_events_new_curve (const char *bind_ip, int port, node_curve_t *curve);
void node_events_destroy (node_events_t **self_p);
//  The PUB socket (for the connection guard).
zsock_t *node_events_sock (node_events_t *self);

//  An event with string and integer fields.  `kv` is a NULL-terminated list
//  of (key, value) string pairs; `ikv` a NULL-key-terminated list of integer
//  fields.  "event", "node" and "ts_ms" are added.
typedef struct {
    const char *key;
    int64_t value;
} node_events_int_t;

int node_events_publish (node_events_t *self, const char *family, const char *event, const char *node_id,
                         const char *const *kv, const node_events_int_t *ikv);

int node_events_test (bool verbose);

#endif
