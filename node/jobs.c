/*  =========================================================================
    node_jobs - inference jobs in the daemon (see jobs.h, docs/JOBS.md).

    Frames are owned in exactly one place at a time: the hand-off state
    machine keeps the origin's copy for as long as the job (and a possible
    escalation) lives; the runner gets its own copy when a job starts, so
    that a job given up on while it runs can be freed without waiting for
    the worker; a frame from the source is copied per job for the same
    reason.  Copies of a 100 KB JPEG cost microseconds; a use-after-free
    across threads costs a box.
    ========================================================================= */
#include "node/jobs.h"
#include "common/log.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "node/msgmap.h"
#include "node/runner.h"
#include "scheduler/digest.h"
#include "scheduler/handoff.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SOURCE_MAX_FILES 256
#define N_BUCKETS        11
static const double s_buckets[N_BUCKETS] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

typedef struct {
    uint64_t count[N_BUCKETS + 1];   //  last = +Inf
    double sum;
    uint64_t n;
} histo_t;

struct _node_jobs_t {
    mw_config_t *cfg;
    const gossip_identity_t *ident;
    bool server;
    node_events_t *events;
    gossip_replay_t *replay;
    gossip_transport_t *data;
    node_runner_t *runner;
    sched_handoff_t *handoff;
    char advertise[MW_ADDR_MAX + 1];
    uint16_t port;
    uint32_t workers, queue_max;
    //  Defaults for jobs from the control socket and the source.
    uint32_t deadline_ms;
    //  The frame source (SOURCE=dir:PATH[:FPS]).
    uint8_t *src_frame[SOURCE_MAX_FILES];
    size_t src_len[SOURCE_MAX_FILES];
    size_t src_n, src_next;
    double src_fps;
    uint64_t src_next_ms;
    char camera[MW_CAMERA_MAX + 1];
    char src_model[MW_MODEL_MAX + 1];
    //  Arrival rate: jobs per second, an EWMA over 1 s windows.
    uint64_t rate_window_start, rate_count;
    double arrival_rate;
    histo_t lat[4];   //  by handoff_path_t
    uint64_t submit_refused;
};

//  --------------------------------------------------------------------------
//  Callbacks from the state machine

static int
s_send (void *ctx, const char *addr, const handoff_msg_t *msg)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    mw_msg_t wire;
    mw_job_t body;
    if (node_msgmap_handoff_to_wire (msg, &wire, &body) != 0)
        return -1;
    return gossip_transport_send (self->data, addr, &wire);
}

static int
s_start (void *ctx, uint64_t tag, const char *model, const uint8_t *frame, size_t len)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    if (!self->runner || node_runner_idle (self->runner) <= 0)
        return -1;
    uint8_t *copy = malloc (len);
    if (!copy)
        return -1;
    memcpy (copy, frame, len);
    if (node_runner_submit (self->runner, tag, model, &copy, len) != 0) {
        free (copy);
        return -1;
    }
    return 0;
}

static bool
s_has_model (void *ctx, const char *model)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    return self->runner && node_runner_has_model (self->runner, model);
}

static double
s_svc_ms (void *ctx, const char *model)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    return self->runner ? node_runner_svc_ms (self->runner, model) : NODE_RUNNER_PRIOR_SSD_MS;
}

static void
s_histo_add (histo_t *h, double ms)
{
    size_t b = 0;
    while (b < N_BUCKETS && ms > s_buckets[b])
        b++;
    h->count[b]++;
    h->sum += ms;
    h->n++;
}

static void
s_event (void *ctx, const char *name, const handoff_info_t *info)
{
    node_jobs_t *self = (node_jobs_t *) ctx;
    char id[2 * MW_JOBID_LEN + 1], ran_on[MW_ID_HEX_LEN + 1] = "";
    gossip_wire_jobid_hex (&info->id, id);
    if (!gossip_wire_id_zero (&info->ran_on))
        gossip_wire_id_hex (&info->ran_on, ran_on);
    else if (info->path == HANDOFF_PATH_SERVER)
        snprintf (ran_on, sizeof ran_on, "server");
    char conf[32];
    snprintf (conf, sizeof conf, "%.3f", info->confidence);
    if (!strcmp (name, "done"))
        s_histo_add (&self->lat[info->path & 3], info->total_ms);
    //  Log line: one event per line, at info (the default level, warn,
    //  keeps them out of the way; tests and operators read them at info).
    char ev[48];
    snprintf (ev, sizeof ev, "job_%s", name);
    mw_log (MW_LOG_INFO, ev,
            "job=%s camera=%s model=%s path=%s ran_on=%s peer=%s attempts=%u boxes=%u conf=%s total_ms=%.1f "
            "queue_ms=%.1f transfer_ms=%.1f infer_ms=%.1f late=%d escalated=%d reason=\"%s\"",
            id, *info->camera ? info->camera : "-", info->model, handoff_path_name (info->path),
            *ran_on ? ran_on : "-", *info->peer_addr ? info->peer_addr : "-", info->attempts, info->n_boxes,
            conf, info->total_ms, info->queue_ms, info->transfer_ms, info->infer_ms, info->late,
            info->escalated, info->reason);
    const char *kv[] = {"job",        id,          "camera", info->camera,
                        "model",      info->model, "path",   handoff_path_name (info->path),
                        "ran_on",     ran_on,      "reason", info->reason,
                        "confidence", conf,        NULL};
    node_events_int_t ikv[] = {{"boxes", info->n_boxes},
                               {"total_ms", (int64_t) llround (info->total_ms)},
                               {"queue_ms", (int64_t) llround (info->queue_ms)},
                               {"transfer_ms", (int64_t) llround (info->transfer_ms)},
                               {"infer_ms", (int64_t) llround (info->infer_ms)},
                               {"late", info->late},
                               {"escalated", info->escalated},
                               {"attempts", info->attempts},
                               {NULL, 0}};
    node_events_publish (self->events, "job", name, self->ident->id_hex, kv, ikv);
}

//  --------------------------------------------------------------------------
//  The frame source

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  SOURCE=dir:PATH[:FPS]: every *.jpg / *.jpeg of the folder, read once,
//  replayed in name order at FPS.  The folder is read at start so that the
//  loop never touches the disk.
static int
s_source_open (node_jobs_t *self, const char *spec, char *err, size_t errlen)
{
    char path[256];
    snprintf (path, sizeof path, "%s", spec + 4);
    self->src_fps = 1;
    char *colon = strrchr (path, ':');
    if (colon) {
        self->src_fps = strtod (colon + 1, NULL);
        *colon = 0;
    }
    DIR *d = opendir (path);
    if (!d) {
        snprintf (err, errlen, "SOURCE: cannot open %.150s: %s", path, strerror (errno));
        return -1;
    }
    char *names[SOURCE_MAX_FILES];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir (d)) && n < SOURCE_MAX_FILES) {
        size_t l = strlen (e->d_name);
        if ((l > 4 && !strcasecmp (e->d_name + l - 4, ".jpg"))
            || (l > 5 && !strcasecmp (e->d_name + l - 5, ".jpeg")))
            names[n++] = strdup (e->d_name);
    }
    closedir (d);
    qsort (names, n, sizeof names[0], s_cmp_str);
    for (size_t i = 0; i < n; i++) {
        char file[512];
        snprintf (file, sizeof file, "%s/%s", path, names[i]);
        free (names[i]);
        FILE *f = fopen (file, "rb");
        if (!f)
            continue;
        struct stat st;
        if (fstat (fileno (f), &st) == 0 && st.st_size > 0 && st.st_size <= MW_FRAME_MAX) {
            uint8_t *buf = malloc ((size_t) st.st_size);
            if (buf && fread (buf, 1, (size_t) st.st_size, f) == (size_t) st.st_size) {
                self->src_frame[self->src_n] = buf;
                self->src_len[self->src_n++] = (size_t) st.st_size;
            }
            else
                free (buf);
        }
        else
            mw_warn ("source_skip", "file=%s reason=\"empty or over 4 MiB\"", file);
        fclose (f);
    }
    if (self->src_n == 0) {
        snprintf (err, errlen, "SOURCE: no readable .jpg/.jpeg (up to 4 MiB) in %.150s", path);
        return -1;
    }
    mw_info ("source_open", "path=%s frames=%zu fps=%.2f camera=%s", path, self->src_n, self->src_fps,
             self->camera);
    return 0;
}

static void
s_count_arrival (node_jobs_t *self, uint64_t now)
{
    if (!self->rate_window_start)
        self->rate_window_start = now;
    self->rate_count++;
}

static void
s_rate_tick (node_jobs_t *self, uint64_t now)
{
    if (!self->rate_window_start || now < self->rate_window_start + 1000)
        return;
    double secs = (double) (now - self->rate_window_start) / 1000.0;
    double r = (double) self->rate_count / secs;
    self->arrival_rate = self->arrival_rate * 0.7 + r * 0.3;
    self->rate_window_start = now;
    self->rate_count = 0;
}

static int
s_submit (node_jobs_t *self, const char *camera, const char *model, uint32_t deadline_ms, uint8_t priority,
          uint8_t **frame_p, size_t len, uint64_t now, mw_jobid_t *id_out, char *err, size_t errlen)
{
    mw_jobid_t id;
    randombytes_buf (id.b, sizeof id.b);
    int rc = sched_handoff_submit (self->handoff, &id, camera, model, deadline_ms, priority, frame_p, len,
                                   now, err, errlen);
    if (rc == 0) {
        s_count_arrival (self, now);
        if (id_out)
            *id_out = id;
    }
    else {
        self->submit_refused++;
        char hex[2 * MW_JOBID_LEN + 1];
        gossip_wire_jobid_hex (&id, hex);
        mw_warn ("job_refused", "job=%s camera=%s model=%s reason=\"%s\"", hex, camera, model, err);
    }
    return rc;
}

static void
s_source_tick (node_jobs_t *self, uint64_t now)
{
    if (!self->src_n)
        return;
    if (!self->src_next_ms)
        self->src_next_ms = now;   //  the first frame now, then one every 1/FPS
    //  Catch up at most a few frames after a stall rather than a burst.
    for (int k = 0; k < 4 && now >= self->src_next_ms; k++) {
        size_t i = self->src_next++ % self->src_n;
        uint8_t *copy = malloc (self->src_len[i]);
        if (!copy)
            return;
        memcpy (copy, self->src_frame[i], self->src_len[i]);
        char err[128];
        s_submit (self, self->camera, self->src_model, self->deadline_ms, 5, &copy, self->src_len[i], now,
                  NULL, err, sizeof err);
        self->src_next_ms += (uint64_t) (1000.0 / self->src_fps);
    }
    if (now >= self->src_next_ms)
        self->src_next_ms = now + (uint64_t) (1000.0 / self->src_fps);
}

//  --------------------------------------------------------------------------
//  Construction

//  tcp://HOST:PORT of the analysis server from VMS_URL (http://host[:p][/x],
//  tcp://host:p or a bare host) and VMS_PORT.
static int
s_server_endpoint (mw_config_t *cfg, char *out, size_t cap)
{
    const char *url = mw_config_settings (cfg)->vms_url;
    int port = (int) mw_config_settings (cfg)->vms_port;
    *out = 0;
    if (!*url || port <= 0)
        return -1;
    const char *h = strstr (url, "://");
    h = h ? h + 3 : url;
    char host[128];
    size_t n = 0;
    if (*h == '[') {   //  [v6]
        const char *e = strchr (h, ']');
        if (!e || (size_t) (e - h + 1) >= sizeof host)
            return -1;
        n = (size_t) (e - h + 1);
    }
    else
        n = strcspn (h, ":/");
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy (host, h, n);
    host[n] = 0;
    snprintf (out, cap, "tcp://%.70s:%d", host, port);
    return 0;
}

node_jobs_t *
node_jobs_new (const node_jobs_opts_t *opts, char *err, size_t errlen)
{
    node_jobs_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    mw_config_t *cfg = opts->cfg;
    self->cfg = cfg;
    self->ident = opts->ident;
    self->server = opts->server;
    self->events = opts->events;
    snprintf (self->advertise, sizeof self->advertise, "%s", opts->advertise);
    const char *colon = strrchr (opts->advertise, ':');
    self->port = colon ? (uint16_t) atoi (colon + 1) : 0;
    self->deadline_ms = (uint32_t) mw_config_settings (cfg)->deadline_ms;

    self->replay = gossip_replay_new ((uint64_t) mw_config_settings (cfg)->max_clock_skew_ms);
    gossip_transport_opts_t topts;
    gossip_transport_opts_data (&topts);
    if (self->replay)
        self->data = gossip_transport_new_opts (opts->bind_endpoint, opts->ident, opts->keys, self->replay,
                                                opts->session, &topts);
    if (!self->data) {
        snprintf (err, errlen, "cannot listen on %s for jobs (%s in use?)", opts->bind_endpoint,
                  opts->server ? "VMS_PORT" : "JOB_PORT");
        node_jobs_destroy (&self);
        return NULL;
    }

    self->workers = (uint32_t) (opts->server ? mw_config_settings (cfg)->analysis_workers
                                             : mw_config_settings (cfg)->infer_workers);
    self->queue_max = (uint32_t) (opts->server ? mw_config_settings (cfg)->analysis_queue_max
                                               : mw_config_settings (cfg)->job_queue_max);
    const char *models = mw_config_settings (cfg)->models_dir;
    if (self->workers > 0 && *models) {
        node_runner_cfg_t rcfg;
        node_runner_cfg_defaults (&rcfg);
        rcfg.models_dir = models;
        rcfg.workers = (int) self->workers;
        rcfg.threads = (int) mw_config_settings (cfg)->infer_threads;
        rcfg.min_score = (float) mw_config_settings (cfg)->min_score;
        char rerr[256] = "";
        self->runner = node_runner_new (&rcfg, rerr, sizeof rerr);
        if (!self->runner) {
            snprintf (err, errlen, "MODELS_DIR=%s: %s", models, rerr);
            node_jobs_destroy (&self);
            return NULL;
        }
        if (!node_runner_has_model (self->runner, "tiny-face")
            && !node_runner_has_model (self->runner, "ssd-mobilenet"))
            mw_warn ("models_missing", "dir=%s reason=\"no face-api manifest found: this box runs no jobs\"",
                     models);
    }
    else {
        if (self->workers > 0)
            mw_info ("jobs_no_models", "reason=\"MODELS_DIR not set: jobs are handed off, none run here\"");
        self->workers = 0;
    }

    handoff_cfg_t hcfg;
    handoff_cfg_defaults (&hcfg);
    placement_policy_parse (mw_config_settings (cfg)->placement_policy, &hcfg.policy);
    hcfg.queue_max = self->queue_max;
    hcfg.workers = self->workers;
    hcfg.max_inflight = (uint32_t) mw_config_settings (cfg)->job_max_inflight;
    hcfg.offer_timeout_ms = (uint32_t) mw_config_settings (cfg)->offer_timeout_ms;
    hcfg.grace_ms = (uint32_t) mw_config_settings (cfg)->job_grace_ms;
    hcfg.server = opts->server;
    hcfg.escalate_below = mw_config_settings (cfg)->escalate_below;
    const char *band = mw_config_settings (cfg)->escalate_band;
    if (*band) {
        char *end = NULL;
        hcfg.band_lo = strtod (band, &end);
        hcfg.band_hi = *end == ',' ? strtod (end + 1, NULL) : 0;
    }
    snprintf (hcfg.escalate_model, sizeof hcfg.escalate_model, "%s",
              mw_config_settings (cfg)->escalate_model);
    char server[MW_ADDR_MAX + 1] = "";
    hcfg.has_server = !opts->server && s_server_endpoint (cfg, server, sizeof server) == 0;
    handoff_ops_t ops = {s_send, s_start, s_has_model, s_svc_ms, s_event, self, NULL};
    self->handoff = sched_handoff_new (&hcfg, &opts->ident->id, self->advertise, &ops);
    if (!self->handoff) {
        snprintf (err, errlen, "bad job settings (JOB_QUEUE_MAX, JOB_MAX_INFLIGHT, INFER_WORKERS)");
        node_jobs_destroy (&self);
        return NULL;
    }
    if (hcfg.has_server)
        sched_handoff_set_server (self->handoff, server);

    if (!opts->server) {
        const char *cam = mw_config_settings (cfg)->camera_id;
        if (*cam)
            snprintf (self->camera, sizeof self->camera, "%s", cam);
        else
            snprintf (self->camera, sizeof self->camera, "%.58s-cam0", mw_config_settings (cfg)->node_name);
        snprintf (self->src_model, sizeof self->src_model, "%s", mw_config_settings (cfg)->source_model);
        const char *src = mw_config_settings (cfg)->source;
        if (*src && s_source_open (self, src, err, errlen) != 0) {
            node_jobs_destroy (&self);
            return NULL;
        }
    }
    mw_info ("jobs_started", "data=%s workers=%u queue=%u policy=%s server=%s", self->advertise,
             self->workers, self->queue_max, placement_policy_name (hcfg.policy), *server ? server : "-");
    return self;
}

void
node_jobs_destroy (node_jobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    node_jobs_t *self = *self_p;
    sched_handoff_destroy (&self->handoff);
    node_runner_destroy (&self->runner);
    if (self->data)
        gossip_transport_set_linger (self->data, 100);
    gossip_transport_destroy (&self->data);
    gossip_replay_destroy (&self->replay);
    for (size_t i = 0; i < self->src_n; i++)
        free (self->src_frame[i]);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Loop

int
node_jobs_pollitems (node_jobs_t *self, zmq_pollitem_t *items, int max)
{
    int n = 0;
    if (n < max)
        items[n++] = (zmq_pollitem_t){zsock_resolve (gossip_transport_sock (self->data)), 0, ZMQ_POLLIN, 0};
    if (self->runner && n < max)
        items[n++] = (zmq_pollitem_t){zsock_resolve (node_runner_sock (self->runner)), 0, ZMQ_POLLIN, 0};
    return n;
}

void
node_jobs_readable (node_jobs_t *self, uint64_t now)
{
    //  Bounded batches, like the mesh socket: timers keep running under a flood.
    for (int i = 0; i < 64; i++) {
        mw_msg_t msg;
        int r = gossip_transport_recv (self->data, &msg);
        if (r < 0)
            break;
        if (r == 1) {
            handoff_msg_t hm;
            if (node_msgmap_handoff_from_wire (&msg, &hm) == 0)
                sched_handoff_handle (self->handoff, &hm, now);
            gossip_wire_msg_clear (&msg);
        }
    }
    if (self->runner) {
        node_runner_result_t *res = malloc (sizeof *res);
        for (int i = 0; res && i < 64 && node_runner_recv (self->runner, res) == 1; i++) {
            handoff_local_result_t r = {
                res->status,  res->reason, res->width,     res->height, res->decode_ms + res->infer_ms,
                res->n_boxes, res->boxes,  res->confidence};
            sched_handoff_local_done (self->handoff, res->tag, &r, now);
        }
        free (res);
    }
    //  A completion frees a worker: start the next job now, not at the next tick.
    sched_handoff_tick (self->handoff, now);
}

void
node_jobs_tick (node_jobs_t *self, uint64_t now)
{
    s_source_tick (self, now);
    s_rate_tick (self, now);
    sched_handoff_tick (self->handoff, now);
}

uint64_t
node_jobs_next_wakeup (node_jobs_t *self, uint64_t now)
{
    uint64_t next = sched_handoff_next_wakeup (self->handoff, now);
    if (self->src_n && self->src_next_ms < next)
        next = self->src_next_ms < now ? now : self->src_next_ms;
    return next;
}

void
node_jobs_update_peers (node_jobs_t *self, gossip_member_t *members, uint64_t wall_ms)
{
    size_t n = gossip_member_size (members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    handoff_peer_t *peers = calloc (n ? n : 1, sizeof *peers);
    size_t k = 0;
    if (list && peers) {
        n = gossip_member_list (members, list, n);
        for (size_t i = 0; i < n; i++) {
            gossip_member_info_t *m = &list[i];
            sched_digest_t d;
            if (m->is_self || m->state != MW_STATE_ALIVE || !m->digest_len
                || sched_digest_decode (m->digest, m->digest_len, &d) != 0 || !d.jobs || !d.job_port)
                continue;
            //  The member's mesh address with the data-plane port.
            const char *c = strrchr (m->addr, ':');
            if (!c)
                continue;
            handoff_peer_t *p = &peers[k];
            p->id = m->id;
            snprintf (p->addr, sizeof p->addr, "%.*s:%u", (int) (c - m->addr), m->addr, d.job_port);
            sched_digest_peer (&d, wall_ms, NODE_RUNNER_PRIOR_TINY_FACE_MS, &p->p);
            p->p.link_ms = 0.5;   //  a LAN round trip; the frame's own time is added per job
            k++;
        }
        sched_handoff_set_peers (self->handoff, peers, k);
    }
    free (list);
    free (peers);
}

void
node_jobs_set_util (node_jobs_t *self, double util)
{
    sched_handoff_set_util (self->handoff, util);
}

void
node_jobs_digest (node_jobs_t *self, node_jobs_digest_t *out)
{
    memset (out, 0, sizeof *out);
    out->port = self->workers ? self->port : 0;
    out->svc_ms = self->runner ? node_runner_svc_ms (self->runner, "tiny-face") : 0;
    out->workers = self->workers;
    out->queue_max = self->queue_max;
    out->queue_len = sched_handoff_queue_len (self->handoff);
    out->arrival_rate = self->arrival_rate;
}

//  --------------------------------------------------------------------------
//  Views

static void
s_info_json (mw_strbuf_t *out, const handoff_info_t *i)
{
    char id[2 * MW_JOBID_LEN + 1], ran[MW_ID_HEX_LEN + 1] = "";
    gossip_wire_jobid_hex (&i->id, id);
    if (!gossip_wire_id_zero (&i->ran_on))
        gossip_wire_id_hex (&i->ran_on, ran);
    mw_strbuf_printf (out, "{\"id\":\"%s\",\"camera\":", id);
    mw_strbuf_json_str (out, i->camera);
    mw_strbuf_printf (out, ",\"model\":");
    mw_strbuf_json_str (out, i->model);
    mw_strbuf_printf (
        out, ",\"state\":\"%s\",\"path\":\"%s\",\"origin\":%s,\"ran_on\":", handoff_state_name (i->state),
        handoff_path_name (i->path), i->origin ? "true" : "false");
    if (*ran)
        mw_strbuf_printf (out, "\"%s\"", ran);
    else
        mw_strbuf_printf (out, "null");
    mw_strbuf_printf (out, ",\"peer_addr\":");
    mw_strbuf_json_str (out, i->peer_addr);
    mw_strbuf_printf (
        out,
        ",\"escalated\":%s,\"late\":%s,\"attempts\":%u,\"deadline_ms\":%u,\"total_ms\":%.1f,"
        "\"queue_ms\":%.1f,\"transfer_ms\":%.1f,\"infer_ms\":%.1f,\"boxes\":%u,\"confidence\":%.3f,"
        "\"max_score\":%.3f,\"reason\":",
        i->escalated ? "true" : "false", i->late ? "true" : "false", i->attempts, i->deadline_ms, i->total_ms,
        i->queue_ms, i->transfer_ms, i->infer_ms, i->n_boxes, i->confidence, i->max_score);
    mw_strbuf_json_str (out, i->reason);
    mw_strbuf_printf (out, "}");
}

static void
s_jobs_view (node_jobs_t *self, mw_strbuf_t *out, bool json, const mw_jobid_t *only)
{
    handoff_info_t *list = calloc (512, sizeof *list);
    if (!list)
        return;
    size_t n = sched_handoff_recent (self->handoff, list, 512);
    if (only) {
        for (size_t i = 0; i < n; i++)
            if (!memcmp (list[i].id.b, only->b, MW_JOBID_LEN) && list[i].origin) {
                s_info_json (out, &list[i]);
                mw_strbuf_printf (out, "\n");
                break;
            }
        free (list);
        return;
    }
    if (json) {
        mw_strbuf_printf (out, "[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                mw_strbuf_printf (out, ",");
            s_info_json (out, &list[i]);
        }
        mw_strbuf_printf (out, "]\n");
    }
    else {
        mw_strbuf_printf (out, "%-12s %-14s %-8s %-7s %-16s %-4s %8s %5s %6s  %s\n", "JOB", "CAMERA", "STATE",
                          "PATH", "RAN ON", "ESC", "TOTAL ms", "BOXES", "CONF", "REASON");
        for (size_t i = 0; i < n; i++) {
            const handoff_info_t *j = &list[i];
            char id[2 * MW_JOBID_LEN + 1], ran[MW_ID_HEX_LEN + 1] = "-";
            gossip_wire_jobid_hex (&j->id, id);
            id[12] = 0;
            if (!gossip_wire_id_zero (&j->ran_on))
                gossip_wire_id_hex (&j->ran_on, ran);
            mw_strbuf_printf (out, "%-12s %-14.14s %-8s %-7s %-16s %-4s %8.1f %5u %6.3f  %s%s\n", id,
                              j->origin ? j->camera : "(for a peer)", handoff_state_name (j->state),
                              handoff_path_name (j->path), ran, j->escalated ? "yes" : "-", j->total_ms,
                              j->n_boxes, j->confidence, j->late ? "late " : "", j->reason);
        }
        if (n == 0)
            mw_strbuf_printf (out, "(no jobs yet)\n");
    }
    free (list);
}

static char *
s_frame_str (zframe_t *f, char *buf, size_t cap)
{
    size_t n = f ? zframe_size (f) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy (buf, zframe_data (f), n);
    buf[n] = 0;
    return buf;
}

bool
node_jobs_control (node_jobs_t *self, zmsg_t *req, const char *cmd, mw_strbuf_t *out, const char **status,
                   uint64_t now)
{
    *status = "ok";
    if (!strcmp (cmd, "submit")) {
        //  submit, camera, model, deadline_ms, priority, jpeg
        if (zmsg_size (req) != 6 || self->server) {
            *status = "error";
            mw_strbuf_printf (out, "submit: expected camera, model, deadline, priority and a frame\n");
            return true;
        }
        char camera[MW_CAMERA_MAX + 2], model[MW_MODEL_MAX + 2], dl[16], pr[8];
        zframe_t *f = zmsg_first (req);
        s_frame_str (f = zmsg_next (req), camera, sizeof camera);
        s_frame_str (f = zmsg_next (req), model, sizeof model);
        s_frame_str (f = zmsg_next (req), dl, sizeof dl);
        s_frame_str (f = zmsg_next (req), pr, sizeof pr);
        f = zmsg_next (req);
        long deadline = *dl ? strtol (dl, NULL, 10) : (long) self->deadline_ms;
        long prio = strtol (pr, NULL, 10);
        size_t len = zframe_size (f);
        uint8_t *frame = len ? malloc (len) : NULL;
        if (frame)
            memcpy (frame, zframe_data (f), len);
        char err[160] = "";
        mw_jobid_t id;
        if (deadline <= 0 || deadline > 3600000)
            deadline = 0;   //  the state machine refuses it with the reason
        if (prio < 0 || prio > 255)
            prio = 255;
        if (s_submit (self, camera, model, (uint32_t) deadline, (uint8_t) prio, &frame, len, now, &id, err,
                      sizeof err)
            != 0) {
            *status = "error";
            mw_strbuf_printf (out, "%s\n", err);
            return true;
        }
        char hex[2 * MW_JOBID_LEN + 1];
        gossip_wire_jobid_hex (&id, hex);
        mw_strbuf_printf (out, "%s\n", hex);
        //  Start it now if it queued locally: the CLI is waiting.
        sched_handoff_tick (self->handoff, now);
        return true;
    }
    if (!strncmp (cmd, "job ", 4)) {
        mw_jobid_t id;
        char hex[2 * MW_JOBID_LEN + 1];
        snprintf (hex, sizeof hex, "%.32s", cmd + 4);
        if (gossip_wire_jobid_parse (hex, &id) != 0) {
            *status = "error";
            mw_strbuf_printf (out, "job: not a job id\n");
            return true;
        }
        s_jobs_view (self, out, true, &id);
        if (mw_strbuf_len (out) == 0) {
            *status = "error";
            mw_strbuf_printf (out, "unknown job (never submitted here, or too old)\n");
        }
        return true;
    }
    if (!strcmp (cmd, "jobs") || !strcmp (cmd, "jobs --json")) {
        s_jobs_view (self, out, !strcmp (cmd, "jobs --json"), NULL);
        return true;
    }
    return false;
}

void
node_jobs_prometheus (node_jobs_t *self, mw_strbuf_t *out)
{
    handoff_stats_t st;
    sched_handoff_stats (self->handoff, &st);
    mw_strbuf_printf (out, "# HELP meshwatch_jobs_total Inference jobs of this box's cameras by outcome.\n"
                           "# TYPE meshwatch_jobs_total counter\n");
    mw_strbuf_printf (out, "meshwatch_jobs_total{outcome=\"submitted\"} %llu\n",
                      (unsigned long long) st.submitted);
    mw_strbuf_printf (out, "meshwatch_jobs_total{outcome=\"done\"} %llu\n", (unsigned long long) st.done);
    mw_strbuf_printf (out, "meshwatch_jobs_total{outcome=\"failed\"} %llu\n", (unsigned long long) st.failed);
    mw_strbuf_printf (out, "meshwatch_jobs_total{outcome=\"late\"} %llu\n", (unsigned long long) st.late);
    mw_strbuf_printf (out, "meshwatch_jobs_total{outcome=\"refused\"} %llu\n",
                      (unsigned long long) self->submit_refused);
    mw_strbuf_printf (out, "# HELP meshwatch_jobs_path_total Finished jobs by where they ran.\n"
                           "# TYPE meshwatch_jobs_path_total counter\n");
    for (int p = 1; p < 4; p++)
        mw_strbuf_printf (out, "meshwatch_jobs_path_total{path=\"%s\"} %llu\n",
                          handoff_path_name ((handoff_path_t) p), (unsigned long long) st.by_path[p]);
    mw_strbuf_printf (out, "# HELP meshwatch_job_handoff_total Hand-off protocol events.\n"
                           "# TYPE meshwatch_job_handoff_total counter\n");
    struct {
        const char *k;
        uint64_t v;
    } h[] = {{"offer_sent", st.offers_sent},
             {"offer_accepted", st.offers_accepted},
             {"offer_refused", st.offers_refused},
             {"offer_timeout", st.offers_timeout},
             {"runner_timeout", st.runner_timeouts},
             {"redispatched", st.redispatched},
             {"duplicate_result", st.duplicates},
             {"escalated", st.escalated},
             {"precise", st.precise},
             {"escalation_failed", st.escalation_failed},
             {"ran_for_peer", st.remote_done},
             {"refused_peer", st.remote_refused}};
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++)
        mw_strbuf_printf (out, "meshwatch_job_handoff_total{event=\"%s\"} %llu\n", h[i].k,
                          (unsigned long long) h[i].v);
    mw_strbuf_printf (out, "# HELP meshwatch_job_latency_ms Submit to result, by path.\n"
                           "# TYPE meshwatch_job_latency_ms histogram\n");
    for (int p = 1; p < 4; p++) {
        const histo_t *hg = &self->lat[p];
        uint64_t cum = 0;
        const char *name = handoff_path_name ((handoff_path_t) p);
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += hg->count[b];
            mw_strbuf_printf (out, "meshwatch_job_latency_ms_bucket{path=\"%s\",le=\"%g\"} %llu\n", name,
                              s_buckets[b], (unsigned long long) cum);
        }
        cum += hg->count[N_BUCKETS];
        mw_strbuf_printf (out, "meshwatch_job_latency_ms_bucket{path=\"%s\",le=\"+Inf\"} %llu\n", name,
                          (unsigned long long) cum);
        mw_strbuf_printf (out, "meshwatch_job_latency_ms_sum{path=\"%s\"} %.3f\n", name, hg->sum);
        mw_strbuf_printf (out, "meshwatch_job_latency_ms_count{path=\"%s\"} %llu\n", name,
                          (unsigned long long) hg->n);
    }
    mw_strbuf_printf (out,
                      "# HELP meshwatch_job_queue_length Jobs in the local queue.\n"
                      "# TYPE meshwatch_job_queue_length gauge\nmeshwatch_job_queue_length %u\n",
                      sched_handoff_queue_len (self->handoff));
}

void
node_jobs_status_json (node_jobs_t *self, mw_strbuf_t *out)
{
    handoff_stats_t st;
    sched_handoff_stats (self->handoff, &st);
    mw_strbuf_printf (
        out,
        "{\"data_addr\":\"%s\",\"workers\":%u,\"queue\":%u,\"queue_max\":%u,\"submitted\":%llu,"
        "\"done\":%llu,\"failed\":%llu,\"local\":%llu,\"peer\":%llu,\"server\":%llu,\"ran_for_peers\":%llu,"
        "\"svc_ms\":%.1f",
        self->advertise, self->workers, sched_handoff_queue_len (self->handoff), self->queue_max,
        (unsigned long long) st.submitted, (unsigned long long) st.done, (unsigned long long) st.failed,
        (unsigned long long) st.by_path[HANDOFF_PATH_LOCAL],
        (unsigned long long) st.by_path[HANDOFF_PATH_PEER],
        (unsigned long long) st.by_path[HANDOFF_PATH_SERVER], (unsigned long long) st.remote_done,
        self->runner ? node_runner_svc_ms (self->runner, "tiny-face") : 0.0);
    //  The data plane's gate: what peers sent that was refused, by reason.
    const gossip_transport_stats_t *ts = gossip_transport_stats (self->data);
    mw_strbuf_printf (
        out, ",\"data_plane\":{\"msgs_in\":%llu,\"msgs_out\":%llu,\"send_dropped\":%llu,\"rejected\":{",
        (unsigned long long) ts->msgs_in, (unsigned long long) ts->msgs_out,
        (unsigned long long) ts->send_dropped);
    for (int r = 0; r < MW_REJ_COUNT; r++)
        mw_strbuf_printf (out, "%s\"%s\":%llu", r ? "," : "",
                          gossip_transport_reject_name ((gossip_reject_t) r),
                          (unsigned long long) ts->rejected[r]);
    mw_strbuf_printf (out, "}}}");
}
