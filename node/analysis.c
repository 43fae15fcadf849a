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

    Its session (the replay windows of the agents know it by it) is kept in
    its own state DB and only grows: a restart, even with the clock set
    back, never speaks with a session the agents have seen before.  Agents
    reach it before they know its id, so it alone accepts an OFFER or a JOB
    sealed unbound; everything it sends is sealed for the agent it answers.
    ========================================================================= */
#include "node/analysis.h"
#include "common/json.h"
#include "common/log.h"
#include "common/prom.h"
#include "common/sanitize.h"
#include "common/selftest.h"
#include "gossip/crypto.h"
#include "gossip/guard.h"
#include "node/control.h"
#include "node/curve.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/loop.h"
#include "node/metrics.h"
#include "node/statedb.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

struct _node_analysis_t {
    mw_config_t *cfg;
    node_loop_t *loop;
    gossip_identity_t ident;
    gossip_keyring_t *keys;
    node_events_t *events;
    node_curve_t *curve;
    gossip_guard_t *guard;
    node_evlog_t *log;   //  its events are numbered and kept too (docs/EVENTS.md)
    node_jobs_t *jobs;
    zsock_t *sub;
    node_control_t *control;
    node_metrics_t *metrics;   //  METRICS_PORT: the same job families as an agent's
    uint64_t events_seen;
    uint64_t next_load_ms;
    char listen[MW_ADDR_MAX + 1];
};
typedef struct _node_analysis_t server_t;

static void
s_teardown (server_t *self)
{
    node_jobs_destroy (&self->jobs);
    node_metrics_destroy (&self->metrics);
    zsock_destroy (&self->sub);
    node_control_destroy (&self->control);
    node_events_destroy (&self->events);
    node_curve_destroy (&self->curve);
    gossip_guard_destroy (&self->guard);
    node_evlog_close (&self->log);
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
        mw_debug ("mesh_event", "topic=%s body=%s", mw_logv (topic), mw_logq (body));
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
    //  /metrics (METRICS_PORT): the jobs' families, refreshed with the load.
    mw_prom_t *text = self->metrics ? mw_prom_new () : NULL;
    if (text) {
        node_jobs_prometheus (self->jobs, text);
        if (mw_prom_text (text))
            node_metrics_publish (self->metrics, mw_prom_text (text), mw_prom_len (text));
        mw_prom_destroy (&text);
    }
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

    //  The session: persisted, strictly growing (see the banner).
    node_statedb_t *db = node_statedb_open (state_dir, err, errlen);
    uint64_t last = 0, session = mw_wall_ms ();
    if (!db || node_statedb_get_u64 (db, "session", &last) < 0) {
        node_statedb_close (&db);
        if (!*err)
            snprintf (err, errlen, "%s/state.db: cannot read state", state_dir);
        return -1;
    }
    if (session <= last)
        session = last + 1;   //  clock went back: still newer
    int wrc = node_statedb_set_u64 (db, "session", session);
    node_statedb_close (&db);
    if (wrc != 0) {
        snprintf (err, errlen, "%s/state.db: cannot write state", state_dir);
        return -1;
    }

    //  Caps on the connections anyone may open to VMS_PORT and the event
    //  stream, cut from the fd limit (see the agent's s_fd_budget).
    mallopt (M_MMAP_THRESHOLD, 256 * 1024);   //  see node/agent.c
    uint64_t nofile = gossip_guard_raise_nofile ();
    int64_t budget = (int64_t) (nofile * 70 / 100) - 128 - 64;
    self->guard = gossip_guard_new ((uint32_t) (budget < 32 ? 32 : budget));
    if (!self->guard) {
        snprintf (err, errlen, "cannot start the connection guard");
        return -1;
    }

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
    snprintf (self->listen, sizeof self->listen, "%s", bind);
    int events_port = (int) mw_config_settings (cfg)->events_port;
    if (events_port > 0) {
        self->events = node_curve_open_events (cfg, ip, events_port, self->guard, &self->curve, err, errlen);
        if (!self->events)
            return -1;
        node_evlog_opts_t lo = {(uint64_t) mw_config_settings (cfg)->events_keep,
                                (uint64_t) mw_config_settings (cfg)->events_keep_s * 1000, 0};
        self->log = node_evlog_open (state_dir, &lo, err, errlen);
        if (!self->log)
            return -1;
        node_events_attach_log (self->events, self->log);
    }
    //  /metrics on loopback unless the operator says otherwise
    //  (METRICS_BIND=mesh, for a scraper on the LAN), as on the agent.
    int metrics_port = (int) mw_config_settings (cfg)->metrics_port;
    if (metrics_port > 0) {
        bool mesh = strcmp (mw_config_settings (cfg)->metrics_bind, "mesh") == 0 && *ip;
        self->metrics = node_metrics_new (mesh ? ip : "127.0.0.1", metrics_port);
        if (!self->metrics) {
            snprintf (err, errlen, "cannot listen on METRICS_PORT=%d", metrics_port);
            return -1;
        }
    }
    node_jobs_opts_t jo = {cfg,          &self->ident, self->keys,  session, bind, adv,
                           self->events, true,         self->guard, 0,       0};
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
        //  Agents whose streams listen beyond loopback speak CURVE only.
        const char *cert = mw_config_settings (cfg)->events_sub_cert;
        if (*cert
            && node_curve_client_apply (self->sub, mw_config_settings (cfg)->events_sub_server_key, cert, err,
                                        errlen)
                   != 0)
            return -1;
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
    if (self->events) {
        node_service_t ev;
        node_events_service (self->events, &ev);
        node_loop_add (self->loop, &ev);
    }
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

//  --------------------------------------------------------------------------
//  Selftest: the server on its own thread; an agent's jobs glue (no
//  models, no peers) sends it a job over the data plane (offer, frame,
//  result), then the CLI's view of the server through its control socket.
//  Needs MW_MODELS_DIR and MW_DEMO_DIR (node/analysis_selftest.sh);
//  without them the server refuses the offer and that path is checked.

typedef struct {
    node_jobs_t *o;
    node_loop_t *loop;
    mw_jobid_t id;
    int state;   //  0 submit, 1 waiting
    int rc_submit;
    char err[160];
    const uint8_t *frame;
    size_t len;
    uint64_t deadline_ms;
    json_object *result;
} server_test_t;

static void
s_test_tick (void *ctx, uint64_t now)
{
    server_test_t *t = (server_test_t *) ctx;
    if (t->state == 0) {
        t->state = 1;
        uint8_t *copy = malloc (t->len);
        memcpy (copy, t->frame, t->len);
        t->rc_submit = node_jobs_submit (t->o, "gate", "tiny-face", 8000, 5, &copy, t->len, now, &t->id,
                                         t->err, sizeof t->err);
        if (t->rc_submit != 0)
            node_loop_stop (t->loop);
        return;
    }
    json_object *j = node_jobs_job_json (t->o, &t->id);
    const char *state = mw_json_get_str (j, "state", "");
    if (!strcmp (state, "done") || !strcmp (state, "failed") || now > t->deadline_ms) {
        t->result = j;
        node_loop_stop (t->loop);
    }
    else
        json_object_put (j);
}

static uint64_t
s_test_wakeup (void *ctx, uint64_t now)
{
    (void) ctx;
    return now + 20;
}

//  One job from the origin's glue to the server, until it ended.
static json_object *
s_test_job (server_test_t *t)
{
    t->state = 0;
    t->result = NULL;
    t->loop = node_loop_new (50);
    t->deadline_ms = mw_now_ms () + 25000;
    node_service_t so, st = {"test", t, NULL, NULL, s_test_tick, s_test_wakeup, NULL};
    node_jobs_service (t->o, &so);
    node_loop_add (t->loop, &so);
    node_loop_add (t->loop, &st);
    if (node_loop_run (t->loop) != 0)
        t->rc_submit = -1;
    node_loop_destroy (&t->loop);
    return t->result;
}

static mw_config_t *
s_test_cfg (const char *const *lines)
{
    mw_config_t *cfg = mw_config_new ();
    char err[256];
    for (size_t i = 0; cfg && lines[i]; i++) {
        char key[64];
        const char *eq = strchr (lines[i], '=');
        snprintf (key, sizeof key, "%.*s", (int) (eq - lines[i]), lines[i]);
        if (mw_config_set (cfg, key, eq + 1, "selftest", err, sizeof err) != 0) {
            fprintf (stderr, "config %s: %s\n", lines[i], err);
            mw_config_destroy (&cfg);
        }
    }
    return cfg;
}

static void *
s_test_server (void *arg)
{
    node_analysis_loop ((node_analysis_t *) arg);
    return NULL;
}

int
node_analysis_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    const char *models = getenv ("MW_MODELS_DIR");
    const char *demo = getenv ("MW_DEMO_DIR");
    bool real = models && *models && demo && *demo;
    if (!real)
        printf ("  no MW_MODELS_DIR/MW_DEMO_DIR: the server refuses the offer (that path is checked)\n");
    char dir_s[] = "/tmp/mw-server-XXXXXX", dir_o[] = "/tmp/mw-server-o-XXXXXX";
    if (!mkdtemp (dir_s) || !mkdtemp (dir_o))
        return -1;
    char key[64], err[512] = "";
    gossip_key_generate (key);
    int base = 24800 + (int) (getpid () % 400) * 4;   //  below the ephemeral ports (32768+)
    char k[80], sd[64], vp[32], ep[32], md[300], vu[64];
    snprintf (k, sizeof k, "CLUSTER_KEY=%s", key);
    snprintf (sd, sizeof sd, "STATE_DIR=%s", dir_s);
    snprintf (vp, sizeof vp, "VMS_PORT=%d", base);
    snprintf (ep, sizeof ep, "EVENTS_PORT=%d", base + 1);
    snprintf (md, sizeof md, "MODELS_DIR=%s", real ? models : "");
    snprintf (vu, sizeof vu, "VMS_URL=tcp://127.0.0.1");
    const char *ls[] = {k, sd, vp, ep, "MESH_ADDR=127.0.0.1", "ANALYSIS_WORKERS=1", real ? md : NULL, NULL};
    const char *lo[] = {"INFER_WORKERS=1", "ESCALATE_BELOW=0", "OFFER_TIMEOUT_MS=2000", vu, vp, NULL};
    mw_config_t *cs = s_test_cfg (ls), *co = s_test_cfg (lo);
    CHECK (cs && co, "configs");
    node_analysis_t *server = cs ? node_analysis_new (cs, err, sizeof err) : NULL;
    CHECK (server, "server: %s", err);
    gossip_identity_t id_o;
    CHECK (gossip_identity_load (dir_o, &id_o, err, sizeof err) == 0, "identity: %s", err);
    gossip_keyring_t *keys = gossip_keyring_new (key);
    char ep_o[64];
    snprintf (ep_o, sizeof ep_o, "tcp://127.0.0.1:%d", base + 2);
    node_jobs_opts_t oo = {co, &id_o, keys, mw_wall_ms (), ep_o, ep_o, NULL, false, NULL, 0, 0};
    node_jobs_t *o = co && keys ? node_jobs_new (&oo, err, sizeof err) : NULL;
    CHECK (o, "origin: %s", err);
    if (!server || !o) {
        node_analysis_destroy (&server);
        node_jobs_destroy (&o);
        gossip_keyring_destroy (&keys);
        mw_config_destroy (&cs);
        mw_config_destroy (&co);
        return -1;
    }
    char sub_ep[64];
    snprintf (sub_ep, sizeof sub_ep, "tcp://127.0.0.1:%d", base + 1);
    zsock_t *sub = zsock_new_sub (sub_ep, "json.server.load");
    zsock_set_rcvtimeo (sub, 3000);
    pthread_t th;
    pthread_create (&th, NULL, s_test_server, server);

    char path[512];
    snprintf (path, sizeof path, "%s/sample2.jpg", real ? demo : "/nonexistent");
    FILE *f = fopen (path, "rb");
    static uint8_t buf[1024 * 1024];
    size_t len = f ? fread (buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose (f);
    if (!len) {
        memcpy (buf, "not a jpeg", 10);
        len = 10;
    }
    server_test_t t;
    memset (&t, 0, sizeof t);
    t.o = o;
    t.frame = buf;
    t.len = len;
    //  Warm-up: the server loads its model on the first job, longer than
    //  the origin waits for a runner that promised a 15 ms job; that job
    //  may fail (server_timeout).  Its result still arrives at the server's
    //  side: wait for it, then the job that counts.
    json_object *r = NULL;
    if (real) {
        r = s_test_job (&t);
        if (verbose)
            printf ("  warm-up: %s\n", r ? mw_json_text (r, false) : "-");
        json_object_put (r);
        json_object *s = NULL;
        uint64_t until = mw_now_ms () + 20000;
        bool warm = false;
        while (!warm && mw_now_ms () < until) {
            if (node_control_call_str (dir_s, "status", 2000, &s, err, sizeof err) == 0)
                warm = mw_json_get_int (mw_json_get (s, "jobs"), "ran_for_peers", 0) >= 1;
            json_object_put (s);
            s = NULL;
            if (!warm)
                zclock_sleep (50);
        }
        CHECK (warm, "the server never finished its first job");
    }
    uint64_t t0 = mw_now_ms ();
    r = s_test_job (&t);
    CHECK (t.rc_submit == 0, "submit: %s", t.err);
    if (verbose)
        printf ("  job in %llu ms: %s\n", (unsigned long long) (mw_now_ms () - t0),
                r ? mw_json_text (r, false) : "-");
    const char *state = mw_json_get_str (r, "state", "-");
    if (real)
        CHECK (!strcmp (state, "done") && !strcmp (mw_json_get_str (r, "path", ""), "server")
                   && mw_json_get_int (r, "boxes", 0) > 0,
               "not done on the server: %s", r ? mw_json_text (r, false) : "-");
    else
        CHECK (!strcmp (state, "failed") && *mw_json_get_str (r, "reason", ""), "refused offer: %s",
               r ? mw_json_text (r, false) : "-");
    json_object_put (r);

    //  The server as the CLI sees it.
    json_object *s = NULL;
    CHECK (node_control_call_str (dir_s, "status", 2000, &s, err, sizeof err) == 0
               && !strcmp (mw_json_get_str (s, "role", ""), "analysis-server")
               && mw_json_get_int (mw_json_get (s, "jobs"), "ran_for_peers", -1) == (real ? 2 : 0),
           "server status: %s %s", err, s ? mw_json_text (s, false) : "-");
    json_object_put (s);
    CHECK (node_control_call_str (dir_s, "jobs", 2000, &s, err, sizeof err) == 0
               && json_object_array_length (s) == (real ? 2u : 0u),
           "server jobs: %s", err);
    json_object_put (s);
    CHECK (node_control_call_str (dir_s, "members", 2000, &s, err, sizeof err) == 1
               && !strcmp (mw_json_get_str (s, "error", ""), "unknown_request"),
           "members on a server: %s", err);
    json_object_put (s);
    //  Its load, once a second, typed as documented.
    char *topic = NULL, *body = NULL;
    CHECK (zsock_recv (sub, "ss", &topic, &body) == 0 && body, "no server.load");
    json_object *ev = body ? mw_json_parse (body, strlen (body), err, sizeof err) : NULL;
    CHECK (ev && json_object_is_type (mw_json_get (ev, "svc_ms"), json_type_double)
               && mw_json_get_int (ev, "workers", -1) == (real ? 1 : 0),
           "server.load: %s", body ? body : "-");
    json_object_put (ev);
    zstr_free (&topic);
    zstr_free (&body);
    CHECK (node_control_call_str (dir_s, "leave", 2000, &s, err, sizeof err) == 0, "leave: %s", err);
    json_object_put (s);
    pthread_join (th, NULL);

    zsock_destroy (&sub);
    node_jobs_destroy (&o);
    node_analysis_destroy (&server);
    CHECK (server == NULL, "destroy nulls");
    gossip_keyring_destroy (&keys);
    mw_config_destroy (&cs);
    mw_config_destroy (&co);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s %s", dir_s, dir_o);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
