/*  =========================================================================
    node_analysis - `meshwatch analysis-server` (see analysis.c): precise and
    fallback inference for the mesh, on VMS_PORT, over the mesh's data-plane
    protocol with the same cluster key.
    ========================================================================= */
#ifndef NODE_ANALYSIS_H_INCLUDED
#define NODE_ANALYSIS_H_INCLUDED

#include "config/config.h"

//  Run until SIGINT/SIGTERM.  Returns the process exit code.
int node_analysis_run (mw_config_t *cfg);

#endif
