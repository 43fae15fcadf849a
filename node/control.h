/*  =========================================================================
    node_control - the control protocol between the CLI and a local daemon
    (agent or analysis server), both ends.

    Server: a ZeroMQ REP socket on ipc://STATE_DIR/control.sock, owner-only
    (created under umask 077, chmod 0600, in a 0700 directory).  A request
    is a text frame "VERB [ARGS]" (printable ASCII, at most 255 bytes),
    optionally followed by data frames for the commands that take them
    (`submit` carries a JPEG).  The reply is always two frames: "ok" or
    "error", then one JSON document built with json-c.  An error's document
    is {"error": CODE, "detail": TEXT}; CODE is one of bad_request,
    unknown_request, refused, not_found, unavailable, internal.

    Commands are registered by the services that own them (a dispatch table:
    verb, how many frames it takes, handler).  A handler gets the parsed
    request and returns the reply document; it never blocks (REP answers
    one request at a time, on the loop's thread).  A trailing "--json" in
    ARGS, as sent by older CLIs, is ignored: the agent always answers JSON
    and the CLI decides how to show it.

    Client: node_control_call () sends one request and parses the reply
    (json_tokener, strict); the CLI renders it (node/cli_render.c).
    ========================================================================= */
#ifndef NODE_CONTROL_H_INCLUDED
#define NODE_CONTROL_H_INCLUDED

#include "node/loop.h"

#include <czmq.h>
#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_control_t node_control_t;

typedef struct {
    const char *verb;
    const char *args;   //  after the verb, trimmed; "" if none
    zmsg_t *msg;        //  the whole request: frame 0 is "VERB ARGS"
    uint64_t now_ms;
} node_control_req_t;

//  Returns the reply document (the caller of the handler frees it); NULL
//  means out of memory (answered as an internal error).
typedef json_object *(node_control_fn) (void *ctx, const node_control_req_t *req);

#define NODE_CONTROL_MAX_COMMANDS 32
#define NODE_CONTROL_REQ_MAX      255

//  Bind STATE_DIR/control.sock.  max_msg: the largest request accepted
//  (bytes, all frames).  NULL with the reason in err.
node_control_t *node_control_new (const char *state_dir, int64_t max_msg, char *err, size_t errlen);
void node_control_destroy (node_control_t **self_p);
//  Register VERB: frames = how many frames the request has in all (1 for a
//  plain command).  0, or -1 when the table is full or VERB is taken.
int node_control_on (node_control_t *self, const char *verb, int frames, node_control_fn *fn, void *ctx);
//  The loop service answering requests.
void node_control_service (node_control_t *self, node_service_t *svc);
//  Requests answered (ok or error).
uint64_t node_control_answered (node_control_t *self);

//  {"error": code, "detail": printf-style text}.
json_object *node_control_error (const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
bool node_control_is_error (json_object *reply);

//  Client: send `*request_p` (destroyed) to STATE_DIR's daemon, wait up to
//  timeout_ms for the reply.  Returns 0 (ok: *reply_p is the document), 1
//  (the daemon answered with an error document in *reply_p), 3 (no daemon,
//  no answer or an unreadable answer: the reason in err).
int node_control_call (const char *state_dir, zmsg_t **request_p, int timeout_ms, json_object **reply_p,
                       char *err, size_t errlen);
//  Same for a one-frame request.
int node_control_call_str (const char *state_dir, const char *request, int timeout_ms, json_object **reply_p,
                           char *err, size_t errlen);

int node_control_test (bool verbose);

#endif
