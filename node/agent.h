/*  =========================================================================
    node_agent - the meshwatch daemon: one identical agent on every box.

    Wires the parts together as services on one event loop (node/loop.h):
    the mesh transport (gossip_transport), SWIM membership (gossip_member,
    pure logic driven from here), LAN discovery (gossip_discovery), the
    state DB, the coordinator election, forecasts and /metrics, inference
    jobs, the VMS event stream and the owner-only control socket the CLI
    talks to (node/control.h).  Nothing in the loop blocks: sends are
    non-blocking and every timer is polled.
    ========================================================================= */
#ifndef NODE_AGENT_H_INCLUDED
#define NODE_AGENT_H_INCLUDED

#include "config/config.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _node_agent_t node_agent_t;

//  Run the agent until SIGINT/SIGTERM or `meshwatch leave` (graceful leave)
//  or a fatal start-up error.  Returns the process exit code (0 ok, 1
//  runtime failure).
int node_agent_run (mw_config_t *cfg);

//  The same in parts (several agents in one process: the selftest).
//  new: identity, state DB, sockets, every service; NULL with the reason.
//  cfg is borrowed for the agent's life.
node_agent_t *node_agent_new (mw_config_t *cfg, char *err, size_t errlen);
//  Also leave when *flag becomes non-zero (a signal handler's flag).
void node_agent_watch (node_agent_t *self, volatile sig_atomic_t *flag);
//  Run until the graceful leave is over: 0, or -1 if polling failed.
int node_agent_loop (node_agent_t *self);
void node_agent_destroy (node_agent_t **self_p);

int node_agent_test (bool verbose);

#endif
