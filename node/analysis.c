/*  =========================================================================
    node_analysis - `meshwatch analysis-server`: the VMS-side box that takes
    the jobs no edge box has room for, and the uncertain frames that need
    the precise model.

    It is not a member of the mesh (it takes no part in membership or the
    election: the VMS box must not be able to hold the coordinator role, and
    the edge must keep working when it is gone), but it speaks the mesh's
    data-plane protocol with the same cluster key and replay defence, on
    VMS_PORT, so agents reach it at VMS_URL:VMS_PORT.  Jobs run through the
    same state machine as on an edge box (scheduler/handoff.h, runner side
    only), with a bounded queue: an offer beyond it is refused with the
    reason, never silently dropped.

    It follows the agents' event streams (EVENTS_SUB) to log what the mesh
    does, and publishes its own: job events and, once a second, its load
    ("server.load": queue, workers, service time) for the VMS.

    Like the agent, it is a composition of services on one loop
    (node/loop.h): the control socket (node/control.h: status, jobs, job,
    leave), the jobs glue (node/jobs.h), the follower of the agents'
    streams and the load publisher.
    ========================================================================= */
#include "node/analysis.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"
#include "gossip/crypto.h"
#include "node/control.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/loop.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

struct _node_analysis_t {
    mw_config_t *cfg;
    node_loop_t *loop;
    gossip_identity_t ident;
    gossip_keyring_t *keys;
    node_events_t *events;
    node_jobs_t *jobs;
    zsock_t *sub;
    node_control_t *control;
    uint64_t events_seen;
    uint64_t next_load_ms;
    char listen[MW_ADDR_MAX + 1];
};
typedef struct _node_analysis_t server_t;

static void
s_teardown (server_t *self)
{
    node_jobs_destroy (&self->jobs);
    zsock_destroy (&self->sub);
    node_control_destroy (&self->control);
    node_events_destroy (&self->events);
    gossip_keyring_destroy (&self->keys);
}

//  --------------------------------------------------------------------------
//  Control commands (and the jobs' own: job, jobs, submit)

static json_object *
s_ctl_status (void *ctx, const node_control_req_t *req)
{
    server_t *self = (server_t *) ctx;
    (void) req;
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "node", mw_json_str (self->ident.id_hex));
    mw_json_add (o, "role", mw_json_str ("analysis-server"));
    mw_json_add (o, "events_seen", mw_json_u64 (self->events_seen));
    mw_json_add (o, "jobs", node_jobs_status_json (self->jobs));
    return o;
}

static json_object *
s_ctl_leave (void *ctx, const node_control_req_t *req)
{
    server_t *self = (server_t *) ctx;
    (void) req;
    node_loop_stop (self->loop);
    json_object *o = json_object_new_object ();
    if (o)
        mw_json_add (o, "leaving", mw_json_bool (true));
    return o;
}

//  --------------------------------------------------------------------------
//  Services: the follower of the agents' streams, the load publisher

static int
s_sub_items (void *ctx, zmq_pollitem_t *items, int max)
{
    server_t *self = (server_t *) ctx;
    if (!self->sub)
        return 0;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
    return 1;
}

static void
s_sub_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    server_t *self = (server_t *) ctx;
    (void) item, (void) now;
    for (int i = 0; i < 256; i++) {
        zmsg_t *m = zmsg_recv_nowait (self->sub);
        if (!m)
            break;
        char *topic = zmsg_popstr (m);
        char *body = zmsg_popstr (m);
        self->events_seen++;
        mw_debug ("mesh_event", "topic=%s body=%s", topic ? topic : "-", body ? body : "-");
        zstr_free (&topic);
        zstr_free (&body);
        zmsg_destroy (&m);
    }
}

static void
s_load_tick (void *ctx, uint64_t now)
{
    server_t *self = (server_t *) ctx;
    if (now < self->next_load_ms)
        return;
    self->next_load_ms = now + 1000;
    node_jobs_digest_t d;
    node_jobs_digest (self->jobs, &d);
    node_event_t e;
    node_event_init (&e, "server", "load", self->ident.id_hex);
    node_event_int (&e, "queue", d.queue_len);
    node_event_int (&e, "queue_max", d.queue_max);
    node_event_int (&e, "workers", d.workers);
    node_event_num (&e, "svc_ms", d.svc_ms, 1);
    node_events_publish (self->events, &e);
}

static uint64_t
s_load_wakeup (void *ctx, uint64_t now)
{
    server_t *self = (server_t *) ctx;
    (void) now;
    return self->next_load_ms;
}

//  --------------------------------------------------------------------------
//  Start-up

static int
s_setup (server_t *self, char *err, size_t errlen)
{
    mw_config_t *cfg = self->cfg;
    const char *state_dir = mw_config_str (cfg, "STATE_DIR");
    mkdir (state_dir, 0700);
    if (gossip_identity_load (state_dir, &self->ident, err, errlen) != 0)
        return -1;
    mw_log_set_node (self->ident.id_hex);
    self->keys = gossip_keyring_new (mw_config_str (cfg, "CLUSTER_KEY"));
    if (!self->keys) {
        snprintf (err, errlen, "CLUSTER_KEY is not a valid key");
        return -1;
    }
    const char *extra[MW_KEYRING_MAX];
    size_t n_extra = mw_config_list (cfg, "CLUSTER_KEY_EXTRA", extra, MW_KEYRING_MAX);
    for (size_t i = 0; i < n_extra; i++)
        gossip_keyring_add (self->keys, extra[i]);

    const char *ip = mw_config_str (cfg, "MESH_ADDR");
    int port = (int) mw_config_int (cfg, "VMS_PORT");
    char bind[MW_ADDR_MAX + 1], adv[MW_ADDR_MAX + 1];
    if (!*ip)
        snprintf (bind, sizeof bind, "tcp://*:%d", port);
    else if (strchr (ip, ':'))
        snprintf (bind, sizeof bind, "tcp://[%s]:%d", ip, port);
    else
        snprintf (bind, sizeof bind, "tcp://%s:%d", ip, port);
    snprintf (adv, sizeof adv, "%s", bind);
    snprintf (self->listen, sizeof self->listen, "%s", bind);
    int events_port = (int) mw_config_int (cfg, "EVENTS_PORT");
    if (events_port > 0) {
        self->events = node_events_new (*ip ? ip : NULL, events_port);
        if (!self->events) {
            snprintf (err, errlen, "cannot listen on EVENTS_PORT=%d", events_port);
            return -1;
        }
    }
    node_jobs_opts_t jo = {cfg, &self->ident, self->keys, mw_wall_ms (), bind, adv, self->events, true};
    self->jobs = node_jobs_new (&jo, err, errlen);
    if (!self->jobs)
        return -1;

    //  The agents' event streams (JSON family: readable in the log).
    const char *subs[16];
    size_t n = mw_config_list (cfg, "EVENTS_SUB", subs, 16);
    if (n) {
        self->sub = zsock_new (ZMQ_SUB);
        if (!self->sub)
            return -1;
        zsock_set_maxmsgsize (self->sub, 64 * 1024);
        zsock_set_subscribe (self->sub, "json.");
        for (size_t i = 0; i < n; i++)
            if (zsock_connect (self->sub, "tcp://%s", subs[i]) < 0)
                mw_warn ("events_sub_failed", "endpoint=%s", subs[i]);
    }

    //  Requests carry no frame here (submit is refused with the reason).
    self->control = node_control_new (state_dir, 4096, err, errlen);
    if (!self->control)
        return -1;
    node_control_on (self->control, "status", 1, s_ctl_status, self);
    node_control_on (self->control, "leave", 1, s_ctl_leave, self);
    node_jobs_control_register (self->jobs, self->control);
    mw_info ("analysis_server_started", "listen=%s events=%d follows=%zu", bind, events_port, n);
    return 0;
}

void
node_analysis_destroy (node_analysis_t **self_p)
{
    assert (self_p);
    node_analysis_t *self = *self_p;
    if (!self)
        return;
    s_teardown (self);
    node_loop_destroy (&self->loop);
    free (self);
    *self_p = NULL;
}

node_analysis_t *
node_analysis_new (mw_config_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    node_analysis_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->loop = node_loop_new (1000);
    if (!self->loop || s_setup (self, err, errlen) != 0) {
        if (!*err)
            snprintf (err, errlen, "out of memory");
        node_analysis_destroy (&self);
        return NULL;
    }
    node_service_t control, jobs;
    node_control_service (self->control, &control);
    node_jobs_service (self->jobs, &jobs);
    node_service_t follow = {"follow", self, s_sub_items, s_sub_readable, NULL, NULL, NULL};
    node_service_t load = {"load", self, NULL, NULL, s_load_tick, s_load_wakeup, NULL};
    node_loop_add (self->loop, &jobs);
    node_loop_add (self->loop, &load);
    node_loop_add (self->loop, &control);
    node_loop_add (self->loop, &follow);
    return self;
}

void
node_analysis_watch (node_analysis_t *self, volatile sig_atomic_t *flag)
{
    assert (self);
    node_loop_watch (self->loop, flag);
}

int
node_analysis_loop (node_analysis_t *self)
{
    assert (self);
    int rc = node_loop_run (self->loop);
    mw_info ("analysis_server_stopped", "events_seen=%llu", (unsigned long long) self->events_seen);
    return rc;
}

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

int
node_analysis_run (mw_config_t *cfg)
{
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    char err[512] = "";
    node_analysis_t *self = node_analysis_new (cfg, err, sizeof err);
    if (!self) {
        fprintf (stderr, "meshwatch analysis-server: %s\n", err);
        mw_error ("start_failed", "reason=\"%s\"", err);
        return 1;
    }
    node_analysis_watch (self, &s_stop);
    int rc = node_analysis_loop (self);
    node_analysis_destroy (&self);
    return rc == 0 ? 0 : 1;
}
