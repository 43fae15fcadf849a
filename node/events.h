/*  =========================================================================
    node_events - the event stream the VMS subscribes to (ZeroMQ PUB).

    An event is built once: a topic ("<family>.<event>") and one ordered
    list of typed fields (string, integer, number, boolean, null).  The
    same list is then serialised twice: topic "<family>.<event>" with one
    msgpack frame (a map), for C clients; and topic "json.<family>.<event>"
    with one JSON frame, for everything else.  Both carry the same keys,
    values and types (a number is a float64 in msgpack, an integer an int).
    Subscribers filter by topic prefix, e.g. "member." or "json.".  A PUB
    never blocks: a slow subscriber loses events past its high-water mark,
    not us.

    Every topic and its fields are declared once, in the schema table in
    events.c, which docs/EVENTS.md documents (the selftest checks the two
    agree, and tests/node/events_live_lo.sh checks live events against the
    document).  Every event starts with "event" (its name), "node" (the
    publisher's id), "ts_ms" (wall clock, ms since the epoch), "epoch" and
    "seq": with `node`, the event's id in the box's durable log.

    With a log attached (node_events_attach_log, node/evlog.h), publishing
    numbers the event and queues it for the log's writer; the PUB frames
    go out from the loop service once its row is committed, so whatever a
    subscriber has seen is on disk.  Without one (tests), the event goes
    out at once with a seq counted in memory and epoch 0.
    ========================================================================= */
#ifndef NODE_EVENTS_H_INCLUDED
#define NODE_EVENTS_H_INCLUDED

#include "node/curve.h"
#include "node/evlog.h"
#include "node/loop.h"

#include <czmq.h>
#include <json.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _node_events_t node_events_t;

//  Bind a PUB on tcp://<bind_ip>:<port>; port 0: no PUB (the events still
//  reach the log).  NULL on failure (logged).
node_events_t *node_events_new (const char *bind_ip, int port);
//  The same as a CURVE server (curve not NULL: only its allow-listed
//  subscribers complete a connection; see node/curve.h).
node_events_t *node_events_new_curve (const char *bind_ip, int port, node_curve_t *curve);
void node_events_destroy (node_events_t **self_p);
//  The PUB socket (for the connection guard).
zsock_t *node_events_sock (node_events_t *self);
//  Number and keep every event in `log` (borrowed; outlives self), and send
//  it on the PUB only once committed (node_events_service).
void node_events_attach_log (node_events_t *self, node_evlog_t *log);
//  The loop service that sends committed events on the PUB.
void node_events_service (node_events_t *self, node_service_t *svc);

typedef enum {
    NODE_EV_STRING,
    NODE_EV_INTEGER,
    NODE_EV_NUMBER,
    NODE_EV_BOOLEAN,
    NODE_EV_NULL,
    NODE_EV_JSON   //  an array or object (e.g. a job's detections)
} node_ev_type_t;

#define NODE_EVENT_MAX_FIELDS 32

typedef struct {
    const char *key;   //  a literal
    node_ev_type_t type;
    const char *s;   //  borrowed until published
    int64_t i;
    double d;
    int decimals;   //  numbers: digits after the point in JSON
    bool b;
    json_object *j;   //  NODE_EV_JSON: borrowed until published
} node_event_field_t;

typedef struct {
    char family[24], name[32];
    node_event_field_t f[NODE_EVENT_MAX_FIELDS];
    int n;
} node_event_t;

//  Start an event: adds event, node, ts_ms, epoch and seq (the last two
//  are filled in by node_events_publish).  Field values are borrowed
//  (strings must live until node_events_publish).
void node_event_init (node_event_t *ev, const char *family, const char *name, const char *node_id);
//  s NULL: JSON null / msgpack nil.
void node_event_str (node_event_t *ev, const char *key, const char *s);
void node_event_int (node_event_t *ev, const char *key, int64_t v);
void node_event_num (node_event_t *ev, const char *key, double v, int decimals);
void node_event_bool (node_event_t *ev, const char *key, bool v);
//  An array or object (strings, numbers, booleans, null inside); NULL gives
//  null.  In msgpack it becomes the same structure (JSON numbers with a
//  fraction as float64, the others as integers).
void node_event_value (node_event_t *ev, const char *key, json_object *v);

//  The two serialisations of one field list.
json_object *node_event_json (const node_event_t *ev);
int node_event_msgpack (const node_event_t *ev, msgpack_sbuffer *out);
//  0 if the event matches its topic's schema (names, order, types); else -1
//  with the first difference in why.
int node_event_check (const node_event_t *ev, char *why, size_t whylen);

//  Number the event, log it, send both frames (at once without a log, once
//  committed with one).  An event that does not match its schema is a bug:
//  logged once per topic, and still sent.  self NULL: no stream, no-op.
//  0, or -1 (not serialisable, or the log's queue is full: dropped).  With
//  seq_out, the seq it got (0 if none).
int node_events_publish (node_events_t *self, const node_event_t *ev);
int node_events_publish_seq (node_events_t *self, const node_event_t *ev, uint64_t *seq_out);
//  The log attached, or NULL.
node_evlog_t *node_events_log (node_events_t *self);

int node_events_test (bool verbose);

#endif
