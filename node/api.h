/*  =========================================================================
    node_api - the HTTP JSON API a VMS uses (API_PORT; docs/API.md, the
    OpenAPI document docs/openapi.json, served at /api/v1/openapi.json).

    libmicrohttpd serves it from one thread of its own (epoll, suspend and
    resume); that thread never touches the agent's state:

      * GET /api/v1/state and /boxes are snapshots the loop publishes
        (node_api_set_doc: once a second and when the view changes), each
        with its ETag, so a conditional GET costs a hash compare;
      * GET /api/v1/events and the Server-Sent Events stream read the
        durable log (node/evlog.h), which is thread-safe; a stream that has
        caught up is suspended until the log's writer commits more;
      * every other route is a *handler* that runs on the loop: the HTTP
        thread suspends the connection, queues the request (bounded) and
        wakes the loop service; the loop runs the handler, which fills in a
        reply; the connection is resumed with it.  A handler may ask for
        its reply to wait until an event it published is committed
        (resp->wait_seq): a 2xx then means "on disk".

    The routes are a fixed table (api.c), the contract with docs/openapi.json
    (the selftest checks both ways).  Modules plug their handlers into it
    with node_api_handle (): the camera registry its /api/v1/cameras routes,
    focus its POST /api/v1/focus.  A table route that nobody handles answers
    501 with a JSON error.

    Security: every route but GET /api/v1/health needs a bearer token
    (node/tokens.h); a read-only token gets 403 on POST/PUT/DELETE.  Limits:
    API_MAX_CONNECTIONS, API_MAX_PER_IP, API_TIMEOUT_S (idle), a 32 KiB
    header pool per connection (bigger headers are refused), API_MAX_BODY
    (413), API_SSE_MAX streams, a bounded loop queue (503).  TLS with
    API_TLS_CERT/API_TLS_KEY (libmicrohttpd's GnuTLS).
    ========================================================================= */
#ifndef NODE_API_H_INCLUDED
#define NODE_API_H_INCLUDED

#include "node/evlog.h"
#include "node/loop.h"
#include "node/tokens.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_api_t node_api_t;

typedef struct {
    const char *bind_ip;              //  NULL or "": every interface
    int port;                         //  0: any free port (node_api_port)
    const char *tls_cert, *tls_key;   //  PEM files; NULL/"": plain HTTP
    unsigned max_connections, max_per_ip, timeout_s, sse_max;
    size_t max_body;
    node_evlog_t *log;       //  borrowed; NULL: the events routes answer 503
    node_tokens_t *tokens;   //  borrowed; required
    const char *node_id;     //  this box (health, errors)
} node_api_opts_t;

//  Listen.  NULL with the reason (port in use, bad TLS files...).
node_api_t *node_api_new (const node_api_opts_t *opts, char *err, size_t errlen);
//  Answers what is pending with 503, stops the server thread.
void node_api_destroy (node_api_t **self_p);
int node_api_port (node_api_t *self);
bool node_api_tls (node_api_t *self);

//  The loop service: runs the queued handler requests, keeps idle event
//  streams alive.
void node_api_service (node_api_t *self, node_service_t *svc);

//  Publish a snapshot document ("state" or "boxes"): serialised and hashed
//  here (on the loop), served by the HTTP thread.  Takes doc's reference.
//  Unchanged text keeps its ETag.  0/-1.
int node_api_set_doc (node_api_t *self, const char *name, json_object *doc);

//  A request as a loop handler sees it.  Everything is valid during the call.
typedef struct {
    const char *method;       //  "GET", "POST", "PUT", "DELETE"
    const char *path;         //  as requested, e.g. /api/v1/cameras/cam7
    const char *id;           //  the {id} segment (URL-decoded), or NULL
    json_object *body;        //  the parsed JSON body (POST/PUT), or NULL
    const char *token_name;   //  who asks
    uint64_t now_ms;
} node_api_req_t;

//  Its reply: status (default 200) and either json (a document) or data
//  (malloc'ed bytes with content_type, e.g. a JPEG).  Both are taken over.
typedef struct {
    unsigned status;
    json_object *json;
    void *data;
    size_t len;
    char content_type[64];
    uint64_t wait_seq;   //  reply once this event seq is committed (0: at once)
} node_api_resp_t;

typedef void (node_api_fn) (void *ctx, const node_api_req_t *req, node_api_resp_t *resp);

//  Handle METHOD PATTERN (a route of the table, e.g. "GET",
//  "/api/v1/cameras/{id}") with fn on the loop.  0, or -1 when the table
//  has no such route.
int node_api_handle (node_api_t *self, const char *method, const char *pattern, node_api_fn *fn, void *ctx);
//  An error reply: {"error": code, "detail": text} with status.
void node_api_resp_error (node_api_resp_t *resp, unsigned status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

typedef struct {
    uint64_t requests, unauthorized, forbidden, not_modified, loop_calls, loop_queue_full;
    uint64_t sse_open, sse_total, events_served;
} node_api_stats_t;
void node_api_stats (node_api_t *self, node_api_stats_t *out);

//  The routes of the table, one "METHOD PATTERN" per call (i from 0 until
//  NULL): for the docs check and `meshwatch` itself.
const char *node_api_route_name (size_t i, char *buf, size_t len);
//  The OpenAPI document served at /api/v1/openapi.json (docs/openapi.json,
//  built in).
const char *node_api_openapi (size_t *len);

//  The request parsers, pure (also the fuzz target's, tests/fuzz/fuzz_vms.c):
//  does an If-None-Match value (ETags, W/ allowed, or *) match etag?
bool node_api_etag_match (const char *if_none_match, const char *etag);
//  The table's route for METHOD PATH: its index (the {id} segment into id),
//  -1 no such path (404), -2 the path with another method (405; the
//  methods it has into allow).
int node_api_route_find (const char *method, const char *path, char *id, size_t idlen, char *allow,
                         size_t allowlen);

int node_api_test (bool verbose);

#endif
