/*  =========================================================================
    node_analysis - `meshwatch analysis-server` (see analysis.c): precise and
    fallback inference for the mesh, on VMS_PORT, over the mesh's data-plane
    protocol with the same cluster key.
    ========================================================================= */
#ifndef NODE_ANALYSIS_H_INCLUDED
#define NODE_ANALYSIS_H_INCLUDED

#include "config/config.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _node_analysis_t node_analysis_t;

//  Run until SIGINT/SIGTERM or `leave`.  Returns the process exit code.
int node_analysis_run (mw_config_t *cfg);

//  The same in parts (the selftest runs a server next to a client).
node_analysis_t *node_analysis_new (mw_config_t *cfg, char *err, size_t errlen);
void node_analysis_watch (node_analysis_t *self, volatile sig_atomic_t *flag);
int node_analysis_loop (node_analysis_t *self);
void node_analysis_destroy (node_analysis_t **self_p);

int node_analysis_test (bool verbose);

#endif
