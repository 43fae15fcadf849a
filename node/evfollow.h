/*  =========================================================================
    node_evfollow - `meshwatch events --connect ... --since CURSOR`: replay
    what was missed, then follow live, without a gap.

    The live part is the box's ZeroMQ PUB (JSON family); the replay part is
    its HTTP API (GET /api/v1/events?after=..., a bearer token).  Every event
    carries its (epoch, seq), and seq grows by one per event, so the
    follower knows exactly what it has: it prints events in seq order, each
    once, from CURSOR + 1 on.  A live event beyond the next one expected (a
    slow-joiner's first messages, a PUB high-water-mark drop, the box
    restarted) makes it fetch the gap from the API first; while the PUB is
    quiet it asks the API now and then, so the last events before a quiet
    spell are never left behind.  A new epoch (the box's state DB was
    recreated) starts over at that log's beginning, said on stderr.

    Output: one line per event - the JSON object (--json), or the topic and
    its fields - flushed line by line, so a consumer killed at any moment
    resumes with the last seq it read.
    ========================================================================= */
#ifndef NODE_EVFOLLOW_H_INCLUDED
#define NODE_EVFOLLOW_H_INCLUDED

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *endpoint;   //  tcp://HOST:EVENTS_PORT
    const char *api;        //  http(s)://HOST:API_PORT
    const char *token;      //  bearer token
    const char *since;      //  "EPOCH-SEQ" or "SEQ"
    bool json;
    bool insecure;             //  https: accept any certificate (a test's self-signed one)
    const char *cacert;        //  https: the CA (or the box's certificate) to trust
    const char *server_key;    //  a CURVE stream (EVENTS_BIND=mesh): the box's key or certificate,
    const char *client_cert;   //  and our key pair (node/curve.h); NULL: plain
    int64_t count;             //  stop after this many (-1: never)
    volatile sig_atomic_t *stop;
} node_evfollow_opts_t;

//  Run until stop, count or an error.  Exit code: 0 ok, 1 the API refused
//  (401, 410 Gone: the cursor is older than the log keeps - the message
//  says so) or failed, 2 bad arguments.
int node_evfollow_run (const node_evfollow_opts_t *opts);

int node_evfollow_test (bool verbose);

#endif
