/*  =========================================================================
    node_usage - the seed's usage report: POST {"code":"0000",
    "message":"처리성공","username":NODE_NAME,"cpu":<percent>,
    "memory":<percent>} to USAGE_URL every USAGE_INTERVAL seconds.

    The existing monitoring server keeps receiving what the seed sent, but
    the POST never runs on the agent's loop: a thread of its own does it
    with libcurl, with a hard timeout, and backs off exponentially (up to
    60 s) while the receiver fails.  The agent only ever stores the latest
    numbers under a mutex (node_usage_set), which cannot block on the
    network: a dead or slow receiver never delays gossip or the CLI.
    ========================================================================= */
#ifndef NODE_USAGE_H_INCLUDED
#define NODE_USAGE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct _node_usage_t node_usage_t;

//  Start the poster.  The first POST goes out once node_usage_set has been
//  called.  NULL on bad arguments (empty url, interval 0) or when libcurl
//  or the thread cannot start (logged).
node_usage_t *node_usage_new (const char *url, const char *username, uint32_t interval_s,
                              uint32_t timeout_ms);
//  Stop the thread (an in-flight POST is aborted at once) and free.
void node_usage_destroy (node_usage_t **self_p);
//  Latest readings, in percent.
void node_usage_set (node_usage_t *self, double cpu_pct, double mem_pct);

typedef struct {
    uint64_t posts_ok, posts_failed;
    uint32_t backoff_s;   //  current delay before the next attempt
} node_usage_stats_t;
void node_usage_stats (node_usage_t *self, node_usage_stats_t *out);

//  The JSON body for given values (exposed for the selftest).  Caller frees.
char *node_usage_body (const char *username, double cpu_pct, double mem_pct);

int node_usage_test (bool verbose);

#endif
