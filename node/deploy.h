/*  =========================================================================
    node_deploy - the agent's deployment service: it keeps its copy of the
    plan (scheduler/deploy_plan.h), and makes this box run its part.

      * plan: persisted in STATE_DIR/deploy/plan.bin (write-temp-fsync-
        rename: a kill -9 keeps the last whole plan), pushed to every
        member on a change and to two random members every 5 s (anti-
        entropy); a copy that arrives is merged entry by entry, each
        stamp's ballot first checked with election_accept_decision ()
        when it is above what this box has seen;
      * commands: `meshwatch deploy` / `undeploy` on any box resolve the
        targets there (--to names or ids, --all, --where name=GLOB) and go
        to the coordinator (DEPLOY_CMD); the coordinator applies them once
        it has held its ballot for a second (one exchange of plans), and
        moves rollouts on from the reports every 500 ms;
      * reports: what this box runs, per slot, to every member every 2 s
        and on a change; every box keeps every member's last report, so
        `meshwatch deployments` shows the same on every box;
      * convergence, per slot: the package is fetched through the swarm
        (pkg_catalog_set_want; the package service does it), its installed
        files checked against its layers, and started: an `exec` package
        under node_sup (cgroup, health, backoff, crash loop), an
        `oci-image` package through podman or docker when `ENGINE info`
        works there (else failed: no container engine), a `model` package
        into the inference runner (node_runner_set_model_dir: every worker
        loads it and runs it on a blank frame between two jobs, then drops
        the old one; running once every worker has it);
      * variants: an entry with a variant key (deploy --variant-by KEY)
        runs, on each box, the package of that name whose variant tag
        KEY=TAG matches the box's condition (the newest such; the entry's
        version until a condition is known).  The condition is the last
        environment result mapped by ENV_RESULT_MAP, with hysteresis
        (ENV_SWITCH_READINGS agreeing readings, ENV_SWITCH_DWELL_S); results
        come from `meshwatch env report`, POST /api/v1/env, or JSON lines a
        supervised program prints ({"result":"4"}), which are reported as
        env.report (and so reach the VMS outbox).  Every variant of the
        package is fetched ahead, so a switch never waits on the network;
        an exec program is stopped, then the other started (no warm swap
        for exec packages);
      * scenario 3: a crash loop, or installed files found damaged (at
        every start and every DEPLOY_CHECK_S), makes the box re-verify the
        package: damaged pieces are fetched again from peers (only those),
        the files unpacked anew, the program restarted (pkg.repaired or
        pkg.redeployed); a second crash loop of the same version rolls the
        slot back to its previous version (pkg.rolled_back), reported as
        rolled_back - a rollout that sees it stops.

    Long work here (hashing a package) runs on the loop; packages of the
    tests and the seed's models (tens of MB) take well under a second.
    ========================================================================= */
#ifndef NODE_DEPLOY_H_INCLUDED
#define NODE_DEPLOY_H_INCLUDED

#include "gossip/crypto.h"
#include "gossip/member.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "node/control.h"
#include "node/events.h"
#include "node/loop.h"
#include "scheduler/election.h"

#include <json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _node_deploy_t node_deploy_t;

typedef struct {
    const char *state_dir;
    const gossip_identity_t *ident;
    const char *node_name;
    gossip_member_t *members;        //  borrowed
    gossip_transport_t *transport;   //  borrowed: the mesh plane
    election_t *election;            //  borrowed
    node_events_t *events;           //  borrowed; may be NULL
    uint32_t check_ms;               //  DEPLOY_CHECK_S
    uint32_t wave_timeout_ms;        //  DEPLOY_WAVE_TIMEOUT_S
    const char *cgroup_root;         //  CGROUP_ROOT ("" none)
    const char *container_engine;    //  CONTAINER_ENGINE
    struct _node_vms_t *vms;         //  borrowed; may be NULL: env results in and out
    struct _node_runner_t *runner;   //  borrowed; may be NULL: model packages load into it
    const char *env_result_map;      //  ENV_RESULT_MAP ("1:sunny,4:rainy")
    uint32_t env_switch_readings;    //  ENV_SWITCH_READINGS
    uint32_t env_switch_dwell_ms;    //  ENV_SWITCH_DWELL_S
} node_deploy_opts_t;

node_deploy_t *node_deploy_new (const node_deploy_opts_t *opts, char *err, size_t errlen);
void node_deploy_destroy (node_deploy_t **self_p);

void node_deploy_service (node_deploy_t *self, node_service_t *svc);
//  A DEPLOY_* message from the mesh (the transport authenticated sender).
void node_deploy_handle (node_deploy_t *self, const mw_msg_t *msg, uint64_t now_ms);
int node_deploy_control_register (node_deploy_t *self, node_control_t *ctl);
json_object *node_deploy_status_json (node_deploy_t *self);

//  The CLI: `meshwatch deploy|undeploy|deployments|rollout ...`.
int node_deploy_cli_main (int argc, char **argv);

#endif
