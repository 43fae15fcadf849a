/*  =========================================================================
    node_metrics - the Prometheus endpoint: GET /metrics over HTTP.

    libmicrohttpd serves from its own thread.  That thread never touches
    the agent's state: the agent renders a complete text snapshot (the
    exposition format, version 0.0.4) once a second and hands it over under
    a mutex; a scrape copies the latest snapshot and nothing else.  A slow
    or hostile scraper therefore costs the agent loop nothing.

    Hardening: only GET/HEAD of /metrics; other paths 404, other methods
    405; the per-connection memory pool is small (16 KiB), so a huge
    request header gets libmicrohttpd's own 431 error instead of growing;
    connections and their idle time are capped.
    ========================================================================= */
#ifndef NODE_METRICS_H_INCLUDED
#define NODE_METRICS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_metrics_t node_metrics_t;

//  Listen on ip:port (ip NULL or "" = every interface; port 0 = any free
//  port, see node_metrics_port).  NULL (logged) when the port cannot be bound.
node_metrics_t *node_metrics_new (const char *ip, int port);
void node_metrics_destroy (node_metrics_t **self_p);
//  Replace the snapshot served (copied).  0/-1 (out of memory: the old one stays).
int node_metrics_publish (node_metrics_t *self, const char *text, size_t len);
//  The bound port.
int node_metrics_port (node_metrics_t *self);
//  Scrapes served (200 only).
uint64_t node_metrics_scrapes (node_metrics_t *self);

int node_metrics_test (bool verbose);

#endif
