/*  =========================================================================
    node_load - this node's resource picture, for the agent: sampling
    (node_collector), one forecaster per metric (sched_forecast), our
    gossiped digest (sched_digest), and its views (the members JSON, the
    Prometheus exposition).

    It exists so that the agent's loop gains one call per second and its
    views one call per member, instead of the agent knowing about
    forecasters and quantisation.  Called only from the agent's thread.
    ========================================================================= */
#ifndef NODE_LOAD_H_INCLUDED
#define NODE_LOAD_H_INCLUDED

#include "common/prom.h"
#include "gossip/member.h"
#include "gossip/transport.h"
#include "node/collector.h"
#include "scheduler/digest.h"

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_load_t node_load_t;

//  horizons_s: one or two horizons (seconds); root: "" for the real box.
//  NULL on bad arguments or when /proc cannot be read (logged).
node_load_t *node_load_new (uint32_t interval_ms, const uint32_t *horizons_s, size_t n_horizons,
                            const char *root);
void node_load_destroy (node_load_t **self_p);
//  Sample, feed the forecasters and encode our digest into buf (cap >=
//  SCHED_DIGEST_SIZE).  now_ms: monotonic; wall_ms: the wall clock (stamped
//  into the digest so receivers can age it).  Returns the digest length, -1
//  if the sample failed.
int node_load_tick (node_load_t *self, uint64_t now_ms, uint64_t wall_ms, uint8_t *buf, size_t cap);
//  The scheduler's inputs: inference queue length and job arrival rate.
void node_load_set_inputs (node_load_t *self, uint32_t queue_len, double arrival_rate);
//  Inference jobs we run, for peers deciding whether to offer us work:
//  data-plane port (0 = none), service time of one job, parallel workers,
//  queue capacity.  Goes into the next digest.
//  The package-plane port our digest advertises (0: none).
void node_load_set_pkg_port (node_load_t *self, uint16_t pkg_port);
void node_load_set_jobs (node_load_t *self, uint16_t job_port, double svc_ms, uint32_t workers,
                         uint32_t queue_max);
//  Our HTTP API as other hosts reach it (port 0: none), for
//  GET /api/v1/boxes on every box.  Goes into the next digest.
void node_load_set_api (node_load_t *self, uint16_t api_port, bool https);
//  Latest sample (zeroed before the first tick).
const node_collect_sample_t *node_load_sample (node_load_t *self);

//  A member's digest (peers' and ours) as the "load" object of `members`,
//  wall_ms = now; NULL (JSON null) when it has none.
json_object *node_load_member_json (const gossip_member_info_t *m, uint64_t wall_ms);

//  The whole Prometheus exposition: node_* (seed names) from the latest
//  sample, meshwatch_* from the arguments and our forecasts.
void node_load_prometheus (node_load_t *self, mw_prom_t *out, const gossip_member_info_t *list, size_t n,
                           const gossip_transport_stats_t *st, uint64_t wall_ms);

int node_load_test (bool verbose);

#endif
