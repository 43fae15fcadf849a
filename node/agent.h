/*  =========================================================================
    node_agent - the meshwatch daemon: one identical agent on every box.

    Wires the parts together and owns the event loop: the mesh transport
    (gossip_transport), SWIM membership (gossip_member, pure logic driven
    from here), LAN discovery (gossip_discovery), the state DB, the VMS event
    stream and the owner-only control socket the CLI talks to.  Nothing in
    the loop blocks: sends are non-blocking and every timer is polled.
    ========================================================================= */
#ifndef NODE_AGENT_H_INCLUDED
#define NODE_AGENT_H_INCLUDED

#include "config/config.h"

#include <stdbool.h>

//  Run the agent until SIGINT/SIGTERM (graceful leave) or a fatal start-up
//  error.  Returns the process exit code (0 ok, 1 runtime failure).
int node_agent_run (mw_config_t *cfg);

#endif
