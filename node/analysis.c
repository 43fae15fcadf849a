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
    ========================================================================= */
#include "node/analysis.h"
#include "common/log.h"
#include "common/sanitize.h"
#include "common/strbuf.h"
#include "gossip/crypto.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/metrics.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

typedef struct {
    mw_config_t *cfg;
    gossip_identity_t ident;
    gossip_keyring_t *keys;
    node_events_t *events;
    node_jobs_t *jobs;
    zsock_t *sub;
    zsock_t *control;
    node_metrics_t *metrics;   //  METRICS_PORT: the same job families as an agent's
    uint64_t events_seen;
} server_t;

static void
s_teardown (server_t *self)
{
    node_jobs_destroy (&self->jobs);
    node_metrics_destroy (&self->metrics);
    zsock_destroy (&self->sub);
    zsock_destroy (&self->control);
    node_events_destroy (&self->events);
    gossip_keyring_destroy (&self->keys);
}

static int
s_setup (server_t *self, char *err, size_t errlen)
{
    mw_config_t *cfg = self->cfg;
    const char *state_dir = mw_config_settings (cfg)->state_dir;
    mkdir (state_dir, 0700);
    if (gossip_identity_load (state_dir, &self->ident, err, errlen) != 0)
        return -1;
    mw_log_set_node (self->ident.id_hex);
    self->keys = gossip_keyring_new (mw_config_settings (cfg)->cluster_key);
    if (!self->keys) {
        snprintf (err, errlen, "CLUSTER_KEY is not a valid key");
        return -1;
    }
    const char *extra[MW_KEYRING_MAX];
    size_t n_extra =
        mw_config_split (cfg, mw_config_settings (cfg)->cluster_key_extra, extra, MW_KEYRING_MAX);
    for (size_t i = 0; i < n_extra; i++)
        gossip_keyring_add (self->keys, extra[i]);

    const char *ip = mw_config_settings (cfg)->mesh_addr;
    int port = (int) mw_config_settings (cfg)->vms_port;
    char bind[MW_ADDR_MAX + 1], adv[MW_ADDR_MAX + 1];
    if (!*ip)
        snprintf (bind, sizeof bind, "tcp://*:%d", port);
    else if (strchr (ip, ':'))
        snprintf (bind, sizeof bind, "tcp://[%s]:%d", ip, port);
    else
        snprintf (bind, sizeof bind, "tcp://%s:%d", ip, port);
    snprintf (adv, sizeof adv, "%s", bind);
    int events_port = (int) mw_config_settings (cfg)->events_port;
    if (events_port > 0) {
        self->events = node_events_new (*ip ? ip : NULL, events_port);
        if (!self->events) {
            snprintf (err, errlen, "cannot listen on EVENTS_PORT=%d", events_port);
            return -1;
        }
    }
    int metrics_port = (int) mw_config_settings (cfg)->metrics_port;
    if (metrics_port > 0) {
        self->metrics = node_metrics_new (*ip ? ip : NULL, metrics_port);
        if (!self->metrics) {
            snprintf (err, errlen, "cannot listen on METRICS_PORT=%d", metrics_port);
            return -1;
        }
    }
    node_jobs_opts_t jo = {cfg, &self->ident, self->keys, mw_wall_ms (), bind, adv, self->events, true};
    self->jobs = node_jobs_new (&jo, err, errlen);
    if (!self->jobs)
        return -1;

    //  The agents' event streams (JSON family: readable in the log).
    const char *subs[16];
    size_t n = mw_config_split (cfg, mw_config_settings (cfg)->events_sub, subs, 16);
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

    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    unlink (path);
    self->control = zsock_new (ZMQ_REP);
    if (self->control)
        zsock_set_maxmsgsize (self->control, 4096);
    mode_t old = umask (0077);
    int rc = self->control ? zsock_bind (self->control, "ipc://%s", path) : -1;
    umask (old);
    if (rc < 0) {
        snprintf (err, errlen, "cannot bind control socket %.200s", path);
        return -1;
    }
    mw_info ("analysis_server_started", "listen=%s events=%d follows=%zu", bind, events_port, n);
    return 0;
}

static void
s_control (server_t *self, uint64_t now)
{
    zmsg_t *req = zmsg_recv_nowait (self->control);
    if (!req)
        return;
    char cmd[64] = "";
    zframe_t *f = zmsg_first (req);
    if (zmsg_size (req) == 1 && f && zframe_size (f) > 0 && zframe_size (f) < sizeof cmd) {
        memcpy (cmd, zframe_data (f), zframe_size (f));
        cmd[zframe_size (f)] = 0;
    }
    mw_strbuf_t *out = mw_strbuf_new ();
    const char *status = "ok";
    if (!out) {
        zmsg_destroy (&req);
        return;
    }
    if (*cmd && node_jobs_control (self->jobs, req, cmd, out, &status, now))
        ;
    else if (!strcmp (cmd, "status") || !strcmp (cmd, "status --json")) {
        mw_strbuf_printf (out, "{\"node\":\"%s\",\"role\":\"analysis-server\",\"events_seen\":%llu,\"jobs\":",
                          self->ident.id_hex, (unsigned long long) self->events_seen);
        node_jobs_status_json (self->jobs, out);
        mw_strbuf_printf (out, "}\n");
    }
    else {
        status = "error";
        mw_strbuf_printf (out, "unknown request (the analysis server answers status and jobs)\n");
    }
    zmsg_destroy (&req);
    const char *text = mw_strbuf_str (out);
    zstr_sendx (self->control, status, text ? text : "", NULL);
    mw_strbuf_destroy (&out);
}

//  Once a second with the load event: the jobs' families for /metrics.
static void
s_publish_metrics (server_t *self)
{
    mw_strbuf_t *text = mw_strbuf_new ();
    if (!self->metrics || !text) {
        mw_strbuf_destroy (&text);
        return;
    }
    node_jobs_prometheus (self->jobs, text);
    if (mw_strbuf_str (text))
        node_metrics_publish (self->metrics, mw_strbuf_str (text), mw_strbuf_len (text));
    mw_strbuf_destroy (&text);
}

static void
s_publish_load (server_t *self)
{
    node_jobs_digest_t d;
    node_jobs_digest (self->jobs, &d);
    char svc[32];
    snprintf (svc, sizeof svc, "%.1f", d.svc_ms);
    const char *kv[] = {"svc_ms", svc, NULL};
    node_events_int_t ikv[] = {
        {"queue", d.queue_len}, {"queue_max", d.queue_max}, {"workers", d.workers}, {NULL, 0}};
    node_events_publish (self->events, "server", "load", self->ident.id_hex, kv, ikv);
}

int
node_analysis_run (mw_config_t *cfg)
{
    server_t server;
    memset (&server, 0, sizeof server);
    server_t *self = &server;
    self->cfg = cfg;
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    char err[512] = "";
    if (s_setup (self, err, sizeof err) != 0) {
        fprintf (stderr, "meshwatch analysis-server: %s\n", err);
        mw_error ("start_failed", "reason=\"%s\"", err);
        s_teardown (self);
        return 1;
    }
    zmq_pollitem_t items[5];
    int n = 0;
    items[n++] = (zmq_pollitem_t){zsock_resolve (self->control), 0, ZMQ_POLLIN, 0};
    int sub_item = -1;
    if (self->sub) {
        sub_item = n;
        items[n++] = (zmq_pollitem_t){zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0};
    }
    int jobs_item = n;
    n += node_jobs_pollitems (self->jobs, items + n, 5 - n);
    uint64_t next_load = 0;
    while (!s_stop) {
        uint64_t now = mw_now_ms ();
        node_jobs_tick (self->jobs, now);
        if (now >= next_load) {
            s_publish_load (self);
            s_publish_metrics (self);
            next_load = now + 1000;
        }
        uint64_t next = node_jobs_next_wakeup (self->jobs, now);
        if (next > next_load)
            next = next_load;
        long timeout = next > now ? (long) (next - now) : 0;
        if (zmq_poll (items, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        now = mw_now_ms ();
        if (items[0].revents & ZMQ_POLLIN)
            s_control (self, now);
        if (sub_item >= 0 && (items[sub_item].revents & ZMQ_POLLIN))
            for (int i = 0; i < 256; i++) {
                zmsg_t *m = zmsg_recv_nowait (self->sub);
                if (!m)
                    break;
                char *topic = zmsg_popstr (m);
                char *body = zmsg_popstr (m);
                self->events_seen++;
                mw_debug ("mesh_event", "topic=%s body=%s", mw_logv (topic), mw_logq (body));
                zstr_free (&topic);
                zstr_free (&body);
                zmsg_destroy (&m);
            }
        bool ready = false;
        for (int k = jobs_item; k < n; k++)
            ready |= (items[k].revents & ZMQ_POLLIN) != 0;
        if (ready)
            node_jobs_readable (self->jobs, now);
    }
    mw_info ("analysis_server_stopped", "events_seen=%llu", (unsigned long long) self->events_seen);
    s_teardown (self);
    return 0;
}
