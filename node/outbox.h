/*  =========================================================================
    node_outbox - outbound deliveries that survive outages: one sink (a
    webhook, the seed's environment-info POST) fed from the durable event
    log (node/evlog.h).

    A sink is a cursor on the log, kept in the state DB (table
    outbox_cursor, one row per sink name): the last event it has dealt
    with.  A thread of its own reads the events after the cursor, keeps
    those its filter wants, and POSTs them one at a time, in log order
    (libcurl, keep-alive): the cursor moves past an event only once the
    receiver answered 2xx.  So delivery is at least once and in order,
    whatever happens in between - a receiver down for an hour, a 500, a
    kill -9 of the box (the event in flight is sent again after the
    restart).  Each delivery carries a stable id, the same on every attempt
    and every box restart: "<box id>-<epoch>-<seq>" of its event, in the
    `webhook-id` header, so a receiver de-duplicates by id.

    Retries: exponential backoff with jitter (from retry_min_ms, doubling, at
    most retry_max_ms; each wait drawn in [b/2, b]) on a connection error,
    a timeout, 5xx, 408 and 429.  Any other 4xx means the receiver refuses
    that body: retried a few times (NODE_OUTBOX_REJECT_TRIES), then skipped
    loudly (logged, counted) so one bad event cannot stop a sink forever.
    A cursor older than the log's retention (the sink was away longer than
    EVENTS_KEEP/EVENTS_KEEP_S) skips to the oldest event kept, loudly; a
    cursor of another epoch (the state DB was recreated) starts at the new
    log's beginning.

    Kinds:
      webhook  body {"type": topic, "timestamp": RFC 3339, "data": event}
               and the Standard Webhooks headers webhook-id,
               webhook-timestamp, webhook-signature ("v1," + base64 of
               HMAC-SHA256 over "id.timestamp.body" with the secret, the
               base64 after "whsec_"; libsodium); filter: a list of topics,
               "*" or "family.*".
      env      the seed's {"nid","date","time","result"} of each env.report
               event (the event carries those fields), same headers.
    ========================================================================= */
#ifndef NODE_OUTBOX_H_INCLUDED
#define NODE_OUTBOX_H_INCLUDED

#include "node/evlog.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_outbox_t node_outbox_t;

typedef enum { NODE_OUTBOX_WEBHOOK, NODE_OUTBOX_ENV } node_outbox_kind_t;

#define NODE_OUTBOX_REJECT_TRIES 5

typedef struct {
    const char *name;   //  the cursor's row and the logs' sink= ("webhook", "env")
    node_outbox_kind_t kind;
    const char *url;      //  http:// or https://
    const char *filter;   //  webhook: topics ("*" when NULL/empty); env: ignored
    const char *secret;   //  "whsec_<base64>" to sign; NULL/"": unsigned
    const char *state_dir;
    node_evlog_t *log;                     //  borrowed; outlives the sink
    const char *node_id;                   //  the box, first part of delivery ids
    uint32_t retry_min_ms, retry_max_ms;   //  0: 500 and 60000
    uint32_t timeout_ms;                   //  per attempt; 0: 5000
} node_outbox_opts_t;

//  Load the cursor and start the thread.  NULL with the reason (bad URL,
//  bad secret, state DB).
node_outbox_t *node_outbox_new (const node_outbox_opts_t *opts, char *err, size_t errlen);
//  Stops at once (an attempt in flight is aborted; its event is sent again
//  next time), keeps the cursor.
void node_outbox_destroy (node_outbox_t **self_p);

typedef struct {
    uint64_t cursor;        //  last seq dealt with
    uint64_t delivered;     //  2xx answers
    uint64_t attempts;      //  POSTs tried
    uint64_t failures;      //  attempts that failed (retried)
    uint64_t rejected;      //  events skipped after NODE_OUTBOX_REJECT_TRIES refusals
    uint64_t gone;          //  events lost to retention before delivery
    uint32_t retry_in_ms;   //  0, or the wait before the next attempt
    long last_status;       //  HTTP status of the last attempt (0: no answer)
    char last_error[128];
} node_outbox_stats_t;
void node_outbox_stats (node_outbox_t *self, node_outbox_stats_t *out);
json_object *node_outbox_stats_json (node_outbox_t *self);

//  The parts, pure (exposed for the selftest and the fuzz target):
//  does the filter (comma-separated topics, "*", "family.*") take topic?
bool node_outbox_match (const char *filter, const char *topic);
//  The Standard Webhooks signature "v1,<base64>" of id.ts.body with a
//  "whsec_" secret into out (cap >= 64).  0, or -1 (bad secret).
int node_outbox_sign (const char *secret, const char *id, uint64_t ts_s, const char *body, size_t len,
                      char *out, size_t cap);
//  Is this a usable secret ("whsec_" + base64 of 1..64 bytes)?
bool node_outbox_secret_ok (const char *secret);
//  Wait before attempt n+1 (n >= 1 failures so far), jittered by rng.
uint32_t node_outbox_backoff (uint32_t failures, uint32_t min_ms, uint32_t max_ms, uint64_t *rng);
//  The body POSTed for one event (malloc'ed), or NULL with why (an env
//  event without its fields).
char *node_outbox_body (node_outbox_kind_t kind, const char *topic, uint64_t ts_ms, const char *event_json,
                        size_t len, char *why, size_t whylen);

int node_outbox_test (bool verbose);

#endif
