/*  =========================================================================
    node_cameras - the agent's camera service (see cameras.h,
    docs/CAMERAS.md).

    Tables, all bounded: the registry (cam_registry, MW_CAM_MAX entries),
    the focuses (cam_focus, CAM_FOCUS_MAX), the cameras ingested here
    (NODE_CAMERAS_LOCAL_MAX slots), each slot's unfinished jobs
    (CAMERA_INFLIGHT <= 64), and the registry rows waiting to be written
    (at most the registry).  Remote input can fill them, never grow them.
    ========================================================================= */
#include "node/cameras.h"
#include "camera/cam_focus.h"
#include "camera/cam_ingest.h"
#include "camera/cam_registry.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/selftest.h"
#include "gossip/sign.h"
#include "inference/image.h"
#include "node/api.h"

#include <assert.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>

#define INFLIGHT_MAX 64
//  Remote registry changes are written in batches at most this often (a
//  local change is written before the CLI is answered).
#define PERSIST_MS 200
//  Placement is recomputed when the view changes, and at least this often.
#define PLACE_MS 1000
//  A focus refresh from a rule goes out at most once a second.
#define REFRESH_MIN_MS 1000

typedef struct {
    bool used;
    char id[CAM_ID_MAX + 1];
    char name[CAM_NAME_MAX + 1];
    char url[CAM_URL_MAX + 1];
    cam_geo_t geo;
    bool analysis;
    cam_mode_t base_mode;
    double fps;
    cam_ingest_t *ing;
    uint64_t gen;
    cam_mode_t mode;   //  as set on the ingest
    cam_state_t state;
    bool online;
    //  Focus.
    bool in_focus;
    cam_focus_t focus;   //  the one it is in (a copy)
    double focus_distance;
    //  Jobs.
    mw_jobid_t inflight[INFLIGHT_MAX];
    uint32_t n_inflight;
    uint64_t frames_in, frames_submitted, dropped_inflight, dropped_refused, jobs_done, jobs_failed;
    uint64_t last_frame_wall;
    uint64_t refused_until;   //  the job path refused our frames: hold off until then
    //  The latest frame (a copy, at most once a second), for latest.jpg.
    uint8_t *latest;
    size_t latest_len;
    uint64_t latest_capture_ms, latest_at;
} slot_t;

struct _node_cameras_t {
    mw_config_t *cfg;
    const gossip_identity_t *ident;
    char node_name[MW_NAME_MAX + 1];
    node_statedb_t *db;
    node_events_t *events;
    node_jobs_t *jobs;
    gossip_member_t *members;
    node_cameras_send_fn *send;
    void *send_ctx;
    //  Settings.
    double fps_default;
    uint32_t max_side, stall_ms, connect_ms, backoff_max_ms, inflight_max, sync_ms;
    int decode_threads;
    char decoder[16], model[MW_MODEL_MAX + 1], focus_model[MW_MODEL_MAX + 1];
    uint32_t deadline_ms;
    mw_detrule_t rule;
    uint32_t focus_radius_m, focus_ttl_ms;
    //  State.
    cam_registry_t *reg;
    cam_focus_table_t *focus;
    cam_sink_t *sink;
    slot_t slots[NODE_CAMERAS_LOCAL_MAX];
    uint64_t next_gen;
    uint64_t rng;
    bool place_dirty;
    uint64_t next_place_ms, next_sync_ms, next_persist_ms;
    //  Registry rows to write (ids), deduplicated.
    char (*dirty)[CAM_ID_MAX + 1];
    size_t n_dirty;
    uint64_t last_refresh_ms;
    bool over_warned;
    //  Counters.
    uint64_t records_in, records_applied, records_rejected, records_full, records_out;
    uint64_t summaries_out, digests_out, focus_in, focus_new, focus_relayed, focus_rejected, focus_out;
    uint64_t frames_orphaned;
    size_t latest_bytes;   //  all slots' latest frames together
    char name_buf[CAM_NAME_MAX + 1];
};

//  --------------------------------------------------------------------------
//  Helpers

static uint64_t
s_rand (node_cameras_t *self)
{
    return mw_splitmix64 (&self->rng);
}

static void
s_hex (const mw_id_t *id, char out[MW_ID_HEX_LEN + 1])
{
    gossip_wire_id_hex (id, out);
}

//  Alive members other than us (the caller frees the list).
static gossip_member_info_t *
s_peers (node_cameras_t *self, size_t *n_out)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    size_t k = 0;
    if (list) {
        n = gossip_member_list (self->members, list, n);
        for (size_t i = 0; i < n; i++)
            if (!list[i].is_self && list[i].state == MW_STATE_ALIVE && *list[i].addr)
                list[k++] = list[i];
    }
    *n_out = k;
    return list;
}

static void
s_send_to (node_cameras_t *self, const char *addr, mw_msg_t *msg)
{
    if (self->send && addr && *addr)
        self->send (self->send_ctx, addr, msg);
}

static bool
s_addr_of (node_cameras_t *self, const mw_id_t *id, char *addr, size_t cap)
{
    gossip_member_info_t m;
    if (gossip_member_lookup (self->members, id, &m) != 0 || !*m.addr || m.is_self)
        return false;
    snprintf (addr, cap, "%s", m.addr);
    return true;
}

static slot_t *
s_slot (node_cameras_t *self, const char *id)
{
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++)
        if (self->slots[i].used && !strcmp (self->slots[i].id, id))
            return &self->slots[i];
    return NULL;
}

static const char *
s_mode_name (cam_mode_t m)
{
    return m == CAM_MODE_IDLE ? "idle" : m == CAM_MODE_FOCUS ? "focus" : "normal";
}

//  --------------------------------------------------------------------------
//  Events

static void
s_camera_event (node_cameras_t *self, const char *name, slot_t *s, const char *reason)
{
    cam_ingest_stats_t st;
    memset (&st, 0, sizeof st);
    if (s->ing)
        cam_ingest_stats (s->ing, &st);
    mw_log (strcmp (name, "online") ? MW_LOG_WARN : MW_LOG_INFO,
            !strcmp (name, "online")    ? "camera_online"
            : !strcmp (name, "stalled") ? "camera_stalled"
                                        : "camera_offline",
            "camera=%s state=%s mode=%s reason=\"%s\"", s->id, cam_state_name (s->state),
            s_mode_name (s->mode), reason);
    node_event_t e;
    node_event_init (&e, "camera", name, self->ident->id_hex);
    node_event_str (&e, "camera", s->id);
    node_event_str (&e, "name", s->name);
    node_event_str (&e, "state", cam_state_name (s->state));
    node_event_str (&e, "reason", reason);
    node_event_str (&e, "mode", s_mode_name (s->mode));
    node_event_int (&e, "width", st.width);
    node_event_int (&e, "height", st.height);
    node_event_int (&e, "reconnects", (int64_t) st.reconnects);
    node_events_publish (self->events, &e);
}

static void
s_focus_event (node_cameras_t *self, const char *name, const cam_focus_t *f, const slot_t *s, uint32_t ttl_ms)
{
    char fid[2 * CAM_FOCUS_ID_LEN + 1], origin[MW_ID_HEX_LEN + 1];
    cam_focus_id_hex (&f->id, fid);
    s_hex (&f->origin, origin);
    mw_info (s ? (strcmp (name, "started") ? "focus_ended" : "focus_started") : "focus_requested",
             "focus=%s camera=%s origin=%s lat=%.6f lon=%.6f radius_m=%u ttl_ms=%u", fid,
             s            ? s->id
             : *f->camera ? f->camera
                          : "-",
             origin, f->lat, f->lon, f->radius_m, ttl_ms);
    node_event_t e;
    node_event_init (&e, "focus", name, self->ident->id_hex);
    node_event_str (&e, "focus", fid);
    node_event_str (&e, "origin", origin);
    node_event_str (&e, "origin_camera", *f->camera ? f->camera : NULL);
    node_event_str (&e, "trigger", f->trigger);
    node_event_num (&e, "lat", f->lat, 6);
    node_event_num (&e, "lon", f->lon, 6);
    node_event_int (&e, "radius_m", f->radius_m);
    node_event_int (&e, "ttl_ms", ttl_ms);
    node_event_int (&e, "created_ms", (int64_t) f->created_wall_ms);
    node_event_str (&e, "camera", s ? s->id : NULL);
    node_event_str (&e, "name", s ? s->name : NULL);
    if (s)
        node_event_num (&e, "distance_m", s->focus_distance, 1);
    else
        node_event_str (&e, "distance_m", NULL);
    node_events_publish (self->events, &e);
}

//  --------------------------------------------------------------------------
//  Registry: persistence and replication

static void
s_mark_dirty (node_cameras_t *self, const char *id)
{
    for (size_t i = 0; i < self->n_dirty; i++)
        if (!strcmp (self->dirty[i], id))
            return;
    if (self->n_dirty < MW_CAM_MAX)
        snprintf (self->dirty[self->n_dirty++], CAM_ID_MAX + 1, "%s", id);
}

//  Write the dirty rows in one transaction.  0/-1 (logged by the state DB).
static int
s_persist (node_cameras_t *self)
{
    if (!self->n_dirty || !self->db)
        return 0;
    node_statedb_camera_t *rows = calloc (self->n_dirty, sizeof *rows);
    if (!rows)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < self->n_dirty; i++) {
        const cam_record_t *r = cam_registry_get (self->reg, self->dirty[i]);
        if (!r)
            continue;   //  evicted tombstone: nothing newer to keep
        rows[n].id = r->id;
        rows[n].hlc = r->version.hlc;
        memcpy (rows[n].origin, r->version.origin.b, 8);
        rows[n].deleted = r->deleted;
        rows[n].json = r->json;
        n++;
    }
    int rc = node_statedb_cameras_put (self->db, rows, n);
    free (rows);
    //  Entries evicted from the registry leave the table too.
    for (size_t i = 0; rc == 0 && i < self->n_dirty; i++)
        if (!cam_registry_get (self->reg, self->dirty[i]))
            node_statedb_cameras_delete (self->db, self->dirty[i]);
    if (rc == 0)
        self->n_dirty = 0;
    return rc;
}

static void
s_cam_from_record (mw_wire_cam_t *c, const cam_record_t *r)
{
    memset (c, 0, sizeof *c);
    snprintf (c->id, sizeof c->id, "%s", r->id);
    c->hlc = r->version.hlc;
    c->origin = r->version.origin;
    c->deleted = r->deleted;
    if (!r->deleted && r->json)
        memcpy (c->json, r->json, r->json_len + 1);
}

//  Send records (chunks of MW_CAM_RECORDS_MAX) to one address.
static void
s_send_records (node_cameras_t *self, const char *addr, const cam_record_t *const *recs, size_t n)
{
    for (size_t at = 0; at < n; at += MW_CAM_RECORDS_MAX) {
        size_t k = n - at < MW_CAM_RECORDS_MAX ? n - at : MW_CAM_RECORDS_MAX;
        mw_wire_cam_t *cams = calloc (k, sizeof *cams);
        if (!cams)
            return;
        for (size_t i = 0; i < k; i++)
            s_cam_from_record (&cams[i], recs[at + i]);
        mw_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = MW_MSG_CAM_RECORDS;
        msg.cams = cams;
        msg.n_cams = (uint32_t) k;
        s_send_to (self, addr, &msg);
        self->records_out += k;
        free (cams);
    }
}

//  A local change goes to every alive member now.
static void
s_push_record (node_cameras_t *self, const cam_record_t *r)
{
    size_t n = 0;
    gossip_member_info_t *peers = s_peers (self, &n);
    for (size_t i = 0; peers && i < n; i++)
        s_send_records (self, peers[i].addr, &r, 1);
    free (peers);
}

static void
s_send_summary (node_cameras_t *self, const char *addr)
{
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_CAM_SUMMARY;
    msg.cam_count = (uint32_t) cam_registry_size (self->reg);
    msg.cam_hash = cam_registry_summary (self->reg);
    s_send_to (self, addr, &msg);
    self->summaries_out++;
}

static void
s_send_digest (node_cameras_t *self, const char *addr, bool reply)
{
    size_t n = cam_registry_size (self->reg);
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_CAM_DIGEST;
    msg.reply = reply;
    msg.camvs = n ? calloc (n, sizeof *msg.camvs) : NULL;
    if (n && !msg.camvs)
        return;
    for (size_t i = 0; i < n; i++) {
        const cam_record_t *r = cam_registry_at (self->reg, i);
        snprintf (msg.camvs[i].id, sizeof msg.camvs[i].id, "%s", r->id);
        msg.camvs[i].hlc = r->version.hlc;
        msg.camvs[i].origin = r->version.origin;
        msg.camvs[i].deleted = r->deleted;
    }
    msg.n_camvs = (uint32_t) n;
    s_send_to (self, addr, &msg);
    free (msg.camvs);
    self->digests_out++;
}

static void s_place (node_cameras_t *self, uint64_t now);

static void
s_on_summary (node_cameras_t *self, const mw_msg_t *msg)
{
    char addr[MW_ADDR_MAX + 1];
    if ((msg->cam_count != cam_registry_size (self->reg) || msg->cam_hash != cam_registry_summary (self->reg))
        && s_addr_of (self, &msg->sender, addr, sizeof addr))
        s_send_digest (self, addr, false);
}

static void
s_on_digest (node_cameras_t *self, const mw_msg_t *msg)
{
    char addr[MW_ADDR_MAX + 1];
    if (!s_addr_of (self, &msg->sender, addr, sizeof addr))
        return;
    //  What we hold newer than theirs, or they lack: records to them.
    size_t n = cam_registry_size (self->reg);
    const cam_record_t **send = n ? calloc (n, sizeof *send) : NULL;
    size_t k = 0;
    bool theirs_newer = false;
    for (size_t i = 0; send && i < n; i++) {
        const cam_record_t *r = cam_registry_at (self->reg, i);
        const mw_wire_camv_t *v = NULL;
        for (uint32_t j = 0; j < msg->n_camvs && !v; j++)
            if (!strcmp (msg->camvs[j].id, r->id))
                v = &msg->camvs[j];
        cam_version_t tv = {v ? v->hlc : 0, v ? v->origin : (mw_id_t){{0}}};
        if (!v || cam_version_cmp (&r->version, &tv) > 0)
            send[k++] = r;
    }
    //  And whether they hold anything newer than ours, or unknown to us.
    for (uint32_t j = 0; !msg->reply && j < msg->n_camvs && !theirs_newer; j++) {
        const cam_record_t *r = cam_registry_get (self->reg, msg->camvs[j].id);
        cam_version_t tv = {msg->camvs[j].hlc, msg->camvs[j].origin};
        theirs_newer = !r || cam_version_cmp (&tv, &r->version) > 0;
    }
    if (k)
        s_send_records (self, addr, send, k);
    free (send);
    if (theirs_newer)
        s_send_digest (self, addr, true);
}

static void
s_on_records (node_cameras_t *self, const mw_msg_t *msg, uint64_t now)
{
    uint64_t wall = mw_wall_ms ();
    int applied = 0;
    for (uint32_t i = 0; i < msg->n_cams; i++) {
        const mw_wire_cam_t *c = &msg->cams[i];
        cam_version_t v = {c->hlc, c->origin};
        char err[160];
        self->records_in++;
        cam_merge_t r = cam_registry_merge (self->reg, c->id, &v, c->deleted != 0, c->json, strlen (c->json),
                                            wall, false, NULL, err, sizeof err);
        if (r == CAM_MERGE_APPLIED) {
            self->records_applied++;
            s_mark_dirty (self, c->id);
            applied++;
        }
        else if (r == CAM_MERGE_REJECTED) {
            self->records_rejected++;
            mw_debug ("camera_record_rejected", "reason=\"%s\"", err);
        }
        else if (r == CAM_MERGE_FULL) {
            if (!self->records_full++)
                mw_warn ("camera_registry_full", "max=%d reason=\"new cameras from peers dropped\"",
                         MW_CAM_MAX);
        }
    }
    if (applied) {
        self->place_dirty = true;
        if (!self->next_persist_ms)
            self->next_persist_ms = now + PERSIST_MS;
    }
}

//  --------------------------------------------------------------------------
//  Placement: which cameras this box ingests

static uint64_t
s_rendezvous (const char *camera, const mw_id_t *member)
{
    uint8_t h[8];
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, sizeof h);
    crypto_generichash_update (&st, (const uint8_t *) camera, strlen (camera));
    crypto_generichash_update (&st, member->b, MW_ID_LEN);
    crypto_generichash_final (&st, h, sizeof h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return v;
}

//  Is `r` ingested here?  The named box if it is alive; else rendezvous
//  hashing over the alive members (us included).
static bool
s_is_mine (node_cameras_t *self, const cam_record_t *r, const gossip_member_info_t *alive, size_t n,
           char *box_out, size_t cap)
{
    const char *box = r->info.box;
    if (*box)
        for (size_t i = 0; i < n; i++)
            if (!strcmp (alive[i].name, box)) {
                snprintf (box_out, cap, "%s", alive[i].name);
                return alive[i].is_self;
            }
    const gossip_member_info_t *best = NULL;
    uint64_t best_h = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = s_rendezvous (r->id, &alive[i].id);
        if (!best || h > best_h) {
            best = &alive[i];
            best_h = h;
        }
    }
    snprintf (box_out, cap, "%s", best ? best->name : "");
    return best && best->is_self;
}

//  Alive (or suspect) members, us included: the placement's view.
static gossip_member_info_t *
s_view (node_cameras_t *self, size_t *n_out)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    size_t k = 0;
    if (list) {
        n = gossip_member_list (self->members, list, n);
        for (size_t i = 0; i < n; i++)
            if (list[i].is_self || list[i].state == MW_STATE_ALIVE || list[i].state == MW_STATE_SUSPECT)
                list[k++] = list[i];
    }
    *n_out = k;
    return list;
}

static cam_mode_t
s_want_mode (const slot_t *s)
{
    if (!s->analysis)
        return CAM_MODE_IDLE;
    return s->in_focus ? CAM_MODE_FOCUS : s->base_mode;
}

static void
s_apply_mode (slot_t *s)
{
    cam_mode_t m = s_want_mode (s);
    if (s->ing && m != s->mode) {
        cam_ingest_set_mode (s->ing, m);
        s->mode = m;
    }
}

static void
s_stop_slot (node_cameras_t *self, slot_t *s, const char *why)
{
    if (s->in_focus) {
        s->in_focus = false;
        s_focus_event (self, "ended", &s->focus, s, 0);
    }
    mw_info ("camera_stop", "camera=%s reason=\"%s\"", s->id, why);
    cam_ingest_destroy (&s->ing);
    self->latest_bytes -= s->latest_len;
    free (s->latest);
    memset (s, 0, sizeof *s);
}

static int
s_start_slot (node_cameras_t *self, slot_t *s, const cam_record_t *r)
{
    memset (s, 0, sizeof *s);
    s->used = true;
    snprintf (s->id, sizeof s->id, "%s", r->id);
    snprintf (s->name, sizeof s->name, "%s", r->info.name);
    snprintf (s->url, sizeof s->url, "%s", r->info.url);
    s->geo = (cam_geo_t){r->info.lat,     r->info.lon,         r->info.has_heading,
                         r->info.has_fov, r->info.heading_deg, r->info.fov_deg};
    s->analysis = r->info.analysis;
    s->base_mode = r->info.mode;
    s->fps = r->info.fps > 0 ? r->info.fps : self->fps_default;
    s->gen = ++self->next_gen;
    s->mode = s_want_mode (s);
    s->state = CAM_ST_CONNECTING;
    cam_ingest_cfg_t c;
    cam_ingest_cfg_defaults (&c);
    c.id = s->id;
    c.url = s->url;
    c.mode = s->mode;
    c.fps = s->fps;
    c.max_side = self->max_side;
    c.stall_ms = self->stall_ms;
    c.connect_timeout_ms = self->connect_ms;
    c.backoff_max_ms = self->backoff_max_ms;
    c.decoder = self->decoder;
    c.decode_threads = self->decode_threads;
    c.slot = (uint32_t) (s - self->slots);
    c.gen = s->gen;
    c.sink = self->sink;
    c.seed = s_rand (self);
    char err[160];
    s->ing = cam_ingest_new (&c, err, sizeof err);
    if (!s->ing) {
        mw_error ("camera_start_failed", "camera=%s reason=\"%s\"", s->id, err);
        memset (s, 0, sizeof *s);
        return -1;
    }
    mw_info ("camera_start", "camera=%s mode=%s fps=%.2f", s->id, s_mode_name (s->mode), s->fps);
    return 0;
}

static void s_focus_eval (node_cameras_t *self, uint64_t now);

//  Start, stop or update the ingest of every camera as the registry and
//  the view say.
static void
s_place (node_cameras_t *self, uint64_t now)
{
    self->place_dirty = false;
    self->next_place_ms = now + PLACE_MS;
    size_t n_view = 0;
    gossip_member_info_t *view = s_view (self, &n_view);
    if (!view)
        return;
    //  Stop what is no longer ours (removed, moved, URL changed).
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++) {
        slot_t *s = &self->slots[i];
        if (!s->used)
            continue;
        const cam_record_t *r = cam_registry_get (self->reg, s->id);
        char box[MW_NAME_MAX + 1];
        if (!r || r->deleted)
            s_stop_slot (self, s, "removed");
        else if (!s_is_mine (self, r, view, n_view, box, sizeof box))
            s_stop_slot (self, s, "placed elsewhere");
        else if (strcmp (r->info.url, s->url))
            s_stop_slot (self, s, "url changed");
        else {
            //  Settings that do not need a new session.
            snprintf (s->name, sizeof s->name, "%s", r->info.name);
            s->geo = (cam_geo_t){r->info.lat,     r->info.lon,         r->info.has_heading,
                                 r->info.has_fov, r->info.heading_deg, r->info.fov_deg};
            s->analysis = r->info.analysis;
            s->base_mode = r->info.mode;
            double fps = r->info.fps > 0 ? r->info.fps : self->fps_default;
            if (fps != s->fps && s->ing)
                cam_ingest_set_fps (s->ing, fps);
            s->fps = fps;
            s_apply_mode (s);
        }
    }
    //  Start what is ours and not running.
    size_t n = cam_registry_size (self->reg);
    for (size_t i = 0; i < n; i++) {
        const cam_record_t *r = cam_registry_at (self->reg, i);
        char box[MW_NAME_MAX + 1];
        if (r->deleted || s_slot (self, r->id) || !s_is_mine (self, r, view, n_view, box, sizeof box))
            continue;
        slot_t *free_slot = NULL;
        for (int k = 0; k < NODE_CAMERAS_LOCAL_MAX && !free_slot; k++)
            if (!self->slots[k].used)
                free_slot = &self->slots[k];
        if (!free_slot) {
            if (!self->over_warned)
                mw_warn ("camera_over_capacity",
                         "max=%d camera=%s reason=\"this box ingests no more cameras\"",
                         NODE_CAMERAS_LOCAL_MAX, r->id);
            self->over_warned = true;
            break;
        }
        s_start_slot (self, free_slot, r);
    }
    free (view);
    s_focus_eval (self, now);
}

//  --------------------------------------------------------------------------
//  Focus

static void
s_focus_to_msg (const cam_focus_t *f, uint32_t ttl_ms, uint8_t hops, mw_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    msg->type = MW_MSG_FOCUS;
    memcpy (msg->focus_id.b, f->id.b, MW_JOBID_LEN);
    msg->focus_origin = f->origin;
    snprintf (msg->focus_camera, sizeof msg->focus_camera, "%s", f->camera);
    snprintf (msg->focus_trigger, sizeof msg->focus_trigger, "%s", f->trigger);
    msg->lat_e6 = (uint32_t) llround ((f->lat + 90.0) * 1e6);
    msg->lon_e6 = (uint32_t) llround ((f->lon + 180.0) * 1e6);
    msg->radius_m = f->radius_m;
    msg->ttl_ms = ttl_ms;
    msg->created_ms = f->created_wall_ms;
    msg->hops = hops;
}

//  Send a focus to `n` alive members (all when n is 0), chosen at random.
static void
s_focus_send (node_cameras_t *self, const cam_focus_t *f, uint64_t now, uint8_t hops, size_t n,
              const mw_id_t *skip)
{
    uint32_t ttl = f->expires_ms > now ? (uint32_t) (f->expires_ms - now) : 0;
    if (ttl == 0)
        return;
    size_t k = 0;
    gossip_member_info_t *peers = s_peers (self, &k);
    if (!peers)
        return;
    //  Fisher-Yates prefix: n random members.
    size_t want = n == 0 || n > k ? k : n;
    for (size_t i = 0; i < want; i++) {
        size_t j = i + (size_t) (s_rand (self) % (k - i));
        gossip_member_info_t t = peers[i];
        peers[i] = peers[j];
        peers[j] = t;
    }
    mw_msg_t msg;
    s_focus_to_msg (f, ttl, hops, &msg);
    for (size_t i = 0; i < want; i++) {
        if (skip && mw_id_eq (&peers[i].id, skip))
            continue;
        s_send_to (self, peers[i].addr, &msg);
        self->focus_out++;
    }
    free (peers);
}

//  Which of our cameras each focus covers: switch modes, say so.
static void
s_focus_eval (node_cameras_t *self, uint64_t now)
{
    cam_focus_expire (self->focus, now);
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++) {
        slot_t *s = &self->slots[i];
        if (!s->used)
            continue;
        double d = 0;
        const cam_focus_t *f = s->analysis ? cam_focus_match (self->focus, &s->geo, now, &d) : NULL;
        if (f && !s->in_focus) {
            s->in_focus = true;
            s->focus = *f;
            s->focus_distance = d;
            s_apply_mode (s);
            s_focus_event (self, "started", f, s, (uint32_t) (f->expires_ms - now));
        }
        else if (f && s->in_focus) {
            s->focus = *f;   //  extended, or another focus took over
            s->focus_distance = d;
        }
        else if (!f && s->in_focus) {
            s->in_focus = false;
            s_apply_mode (s);
            s_focus_event (self, "ended", &s->focus, s, s->focus.ttl_ms);
        }
    }
}

json_object *
node_cameras_focus (node_cameras_t *self, const char *camera, double lat, double lon, uint32_t radius_m,
                    uint32_t ttl_s, const char *trigger, uint64_t now, char *err, size_t errlen)
{
    assert (self && trigger);
    if (camera) {
        const cam_record_t *r = cam_registry_get (self->reg, camera);
        if (!r || r->deleted) {
            snprintf (err, errlen, "no camera %.64s in the registry",
                      cam_id_valid (camera) ? camera : "(bad id)");
            return NULL;
        }
        lat = r->info.lat;
        lon = r->info.lon;
    }
    cam_focus_t f;
    memset (&f, 0, sizeof f);
    f.lat = lat;
    f.lon = lon;
    f.radius_m = radius_m ? radius_m : self->focus_radius_m;
    f.ttl_ms = ttl_s ? ttl_s * 1000 : self->focus_ttl_ms;
    f.origin = self->ident->id;
    f.created_wall_ms = mw_wall_ms ();
    snprintf (f.camera, sizeof f.camera, "%s", camera ? camera : "");
    snprintf (f.trigger, sizeof f.trigger, "%s", trigger);
    randombytes_buf (f.id.b, sizeof f.id.b);
    if (cam_focus_check (&f, err, errlen) != 0)
        return NULL;
    //  A running focus nearby: refresh it rather than make another.
    const cam_focus_t *near = cam_focus_near (self->focus, lat, lon, f.radius_m, now);
    bool coalesced = near != NULL;
    if (near) {
        cam_focus_t r = *near;
        r.ttl_ms = f.ttl_ms;
        f = r;
    }
    cam_focus_apply_t a = cam_focus_apply (self->focus, &f, now);
    if (a == CAM_FOCUS_FULL) {
        snprintf (err, errlen, "%d focuses running: no room for another", CAM_FOCUS_MAX);
        return NULL;
    }
    const cam_focus_t *cur = cam_focus_get (self->focus, &f.id);
    if (!cur) {
        snprintf (err, errlen, "focus refused");
        return NULL;
    }
    f = *cur;
    if (a == CAM_FOCUS_NEW || a == CAM_FOCUS_REFRESHED) {
        s_focus_event (self, "requested", &f, NULL, f.ttl_ms);
        s_focus_send (self, &f, now, 0, 0, NULL);
        s_focus_eval (self, now);
    }
    char fid[2 * CAM_FOCUS_ID_LEN + 1];
    cam_focus_id_hex (&f.id, fid);
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "focus", mw_json_str (fid));
        mw_json_add (o, "coalesced", mw_json_bool (coalesced));
        mw_json_add (o, "lat", mw_json_num (f.lat, 6));
        mw_json_add (o, "lon", mw_json_num (f.lon, 6));
        mw_json_add (o, "radius_m", mw_json_u64 (f.radius_m));
        mw_json_add (o, "ttl_ms", mw_json_u64 (f.expires_ms > now ? f.expires_ms - now : 0));
        mw_json_add (o, "camera", *f.camera ? mw_json_str (f.camera) : NULL);
    }
    return o;
}

static void
s_on_focus (node_cameras_t *self, const mw_msg_t *msg, uint64_t now)
{
    self->focus_in++;
    cam_focus_t f;
    memset (&f, 0, sizeof f);
    memcpy (f.id.b, msg->focus_id.b, CAM_FOCUS_ID_LEN);
    f.origin = msg->focus_origin;
    snprintf (f.camera, sizeof f.camera, "%s", msg->focus_camera);
    snprintf (f.trigger, sizeof f.trigger, "%s", msg->focus_trigger);
    f.lat = msg->lat_e6 / 1e6 - 90.0;
    f.lon = msg->lon_e6 / 1e6 - 180.0;
    f.radius_m = msg->radius_m;
    f.ttl_ms = msg->ttl_ms;
    f.created_wall_ms = msg->created_ms;
    cam_focus_apply_t a = cam_focus_apply (self->focus, &f, now);
    if (a == CAM_FOCUS_NEW) {
        self->focus_new++;
        s_focus_eval (self, now);
        //  Relay a first sighting: a datagram lost on the way to one box
        //  still reaches it through another.
        if (msg->hops < NODE_CAMERAS_RELAY_HOPS) {
            const cam_focus_t *cur = cam_focus_get (self->focus, &f.id);
            if (cur) {
                s_focus_send (self, cur, now, (uint8_t) (msg->hops + 1), NODE_CAMERAS_RELAY_FANOUT,
                              &msg->sender);
                self->focus_relayed++;
            }
        }
    }
    else if (a == CAM_FOCUS_REFRESHED)
        s_focus_eval (self, now);
    else if (a == CAM_FOCUS_FULL || a == CAM_FOCUS_INVALID) {
        if (!self->focus_rejected++)
            mw_warn ("focus_rejected", "reason=\"%s\"", a == CAM_FOCUS_FULL ? "table full" : "out of range");
    }
}

//  --------------------------------------------------------------------------
//  Jobs

static const char *
s_hook_name (void *ctx, const char *camera)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    const cam_record_t *r = camera ? cam_registry_get (self->reg, camera) : NULL;
    if (!r || r->deleted)
        return NULL;
    snprintf (self->name_buf, sizeof self->name_buf, "%s", r->info.name);
    return self->name_buf;
}

static void
s_hook_ended (void *ctx, const node_jobs_end_t *end)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    slot_t *s = s_slot (self, end->camera);
    bool ours = false;
    if (s && (!strcmp (end->event, "done") || !strcmp (end->event, "failed")))
        for (uint32_t i = 0; i < s->n_inflight && !ours; i++)
            if (!memcmp (s->inflight[i].b, end->id->b, MW_JOBID_LEN)) {
                s->inflight[i] = s->inflight[--s->n_inflight];
                ours = true;
            }
    if (ours) {
        if (!strcmp (end->event, "done"))
            s->jobs_done++;
        else
            s->jobs_failed++;
    }
    //  The security event: a result of one of our cameras matching FOCUS_ON.
    if (!s || !self->rule.n || (strcmp (end->event, "done") && strcmp (end->event, "precise")))
        return;
    bool hit = false;
    for (uint32_t i = 0; i < end->n_boxes && !hit; i++)
        hit = mw_detrule_match (&self->rule, "face", end->boxes[i].score / (double) MW_FIXED_ONE);
    uint64_t now = mw_now_ms ();
    if (!hit || now < self->last_refresh_ms + REFRESH_MIN_MS)
        return;
    self->last_refresh_ms = now;
    char err[128];
    json_object *o = node_cameras_focus (self, s->id, 0, 0, 0, 0, "rule", now, err, sizeof err);
    if (!o)
        mw_warn ("focus_failed", "camera=%s reason=\"%s\"", s->id, err);
    json_object_put (o);
}

static void
s_on_frame (node_cameras_t *self, slot_t *s, cam_note_t *n, uint64_t now)
{
    s->frames_in++;
    s->last_frame_wall = n->capture_ms;
    //  The latest frame for the API: a copy once a second, within budget.
    if (now >= s->latest_at + 1000
        && self->latest_bytes - s->latest_len + n->len <= NODE_CAMERAS_LATEST_BUDGET) {
        uint8_t *c = realloc (s->latest, n->len);
        if (c) {
            memcpy (c, n->ppm, n->len);
            self->latest_bytes = self->latest_bytes - s->latest_len + n->len;
            s->latest = c;
            s->latest_len = n->len;
            s->latest_capture_ms = n->capture_ms;
            s->latest_at = now;
        }
    }
    if (!s->analysis || !self->jobs)
        return;   //  watched, not analysed (the caller frees the frame)
    if (s->n_inflight >= self->inflight_max) {
        s->dropped_inflight++;
        return;
    }
    if (now < s->refused_until) {
        s->dropped_refused++;
        return;
    }
    //  Focus: the precise model while the local queue has room.
    const char *model = self->model;
    uint8_t prio = 5;
    if (n->mode == CAM_MODE_FOCUS || s->in_focus) {
        prio = 9;
        node_jobs_digest_t d;
        node_jobs_digest (self->jobs, &d);
        if (d.queue_len * 2 < d.queue_max)
            model = self->focus_model;
    }
    node_jobs_frame_info_t info = {s->name, n->capture_ms, n->src_width, n->src_height, true};
    char err[160];
    mw_jobid_t id;
    uint8_t *frame = n->ppm;
    n->ppm = NULL;
    if (node_jobs_submit_frame (self->jobs, s->id, model, self->deadline_ms, prio, &frame, n->len, now, &info,
                                &id, err, sizeof err)
        == 0) {
        if (s->refused_until)
            mw_info ("camera_analysed", "camera=%s reason=\"frames become jobs again\"", s->id);
        s->refused_until = 0;
        s->frames_submitted++;
        s->inflight[s->n_inflight++] = id;
    }
    else {
        //  Nobody can run the model (no models here, no peer, no server),
        //  or too many jobs in flight: said once, then frames are dropped
        //  (and counted) for 5 s before the next try.
        if (!s->refused_until)
            mw_warn ("camera_unanalysed", "camera=%s model=%s reason=\"%s\"", s->id, model, err);
        s->refused_until = now + 5000;
        s->dropped_refused++;
    }
    free (frame);
}

static void
s_on_state (node_cameras_t *self, slot_t *s, const cam_note_t *n)
{
    s->state = n->state;
    if (n->actions & CAM_ACT_ONLINE) {
        s->online = true;
        s_camera_event (self, "online", s, n->reason);
    }
    if (n->actions & CAM_ACT_STALLED)
        s_camera_event (self, "stalled", s, n->reason);
    if (n->actions & CAM_ACT_OFFLINE) {
        s->online = false;
        s_camera_event (self, "offline", s, n->reason);
    }
}

//  --------------------------------------------------------------------------
//  The service

static int
s_svc_items (void *ctx, zmq_pollitem_t *items, int max)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){NULL, cam_sink_fd (self->sink), ZMQ_POLLIN, 0};
    return 1;
}

static void
s_svc_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    (void) item;
    cam_note_t n;
    //  Bounded: the loop keeps turning under a flood of frames.
    for (int i = 0; i < 256 && cam_sink_pop (self->sink, &n) == 1; i++) {
        slot_t *s = n.slot < NODE_CAMERAS_LOCAL_MAX ? &self->slots[n.slot] : NULL;
        if (!s || !s->used || s->gen != n.gen) {
            self->frames_orphaned += n.kind == CAM_NOTE_FRAME;
            free (n.ppm);   //  from a camera stopped since
            continue;
        }
        if (n.kind == CAM_NOTE_FRAME)
            s_on_frame (self, s, &n, now);
        else
            s_on_state (self, s, &n);
        free (n.ppm);
    }
}

static void
s_svc_tick (void *ctx, uint64_t now)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    if (self->next_persist_ms && now >= self->next_persist_ms) {
        self->next_persist_ms = 0;
        if (s_persist (self) != 0)
            self->next_persist_ms = now + 1000;   //  try again (the rows stay dirty)
    }
    if (self->place_dirty || now >= self->next_place_ms)
        s_place (self, now);
    if (cam_focus_next_expiry (self->focus) <= now)
        s_focus_eval (self, now);
    if (self->sync_ms && now >= self->next_sync_ms) {
        //  Anti-entropy with one random alive member; jitter keeps a mesh
        //  that started together from syncing in lockstep.
        self->next_sync_ms = now + self->sync_ms * 3 / 4 + s_rand (self) % (self->sync_ms / 2 + 1);
        size_t n = 0;
        gossip_member_info_t *peers = s_peers (self, &n);
        if (peers && n)
            s_send_summary (self, peers[s_rand (self) % n].addr);
        free (peers);
    }
}

static uint64_t
s_svc_wakeup (void *ctx, uint64_t now)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    uint64_t w = self->next_place_ms;
    if (self->place_dirty)
        w = now;
    if (self->next_persist_ms && self->next_persist_ms < w)
        w = self->next_persist_ms;
    uint64_t f = cam_focus_next_expiry (self->focus);
    if (f < w)
        w = f;
    if (self->sync_ms && self->next_sync_ms < w)
        w = self->next_sync_ms;
    return w < now ? now : w;
}

static uint64_t
s_svc_leave (void *ctx, uint64_t now)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    s_persist (self);
    return now;
}

void
node_cameras_service (node_cameras_t *self, node_service_t *svc)
{
    assert (self && svc);
    memset (svc, 0, sizeof *svc);
    svc->name = "cameras";
    svc->ctx = self;
    svc->pollitems = s_svc_items;
    svc->readable = s_svc_readable;
    svc->tick = s_svc_tick;
    svc->next_wakeup = s_svc_wakeup;
    svc->leave = s_svc_leave;
}

bool
node_cameras_handle (node_cameras_t *self, const mw_msg_t *msg, uint64_t now)
{
    switch (msg->type) {
    case MW_MSG_CAM_SUMMARY: s_on_summary (self, msg); return true;
    case MW_MSG_CAM_DIGEST: s_on_digest (self, msg); return true;
    case MW_MSG_CAM_RECORDS: s_on_records (self, msg, now); return true;
    case MW_MSG_FOCUS: s_on_focus (self, msg, now); return true;
    default: return false;
    }
}

void
node_cameras_member (node_cameras_t *self, const gossip_member_info_t *m, bool up, uint64_t now)
{
    self->place_dirty = true;
    if (!up || m->is_self || !*m->addr)
        return;
    //  A member that joins or comes back (a healed partition): compare
    //  registries, and give it the focuses running now.
    s_send_summary (self, m->addr);
    cam_focus_t list[CAM_FOCUS_MAX];
    size_t n = cam_focus_list (self->focus, now, list, CAM_FOCUS_MAX);
    for (size_t i = 0; i < n; i++) {
        mw_msg_t msg;
        s_focus_to_msg (&list[i], (uint32_t) (list[i].expires_ms - now), NODE_CAMERAS_RELAY_HOPS, &msg);
        s_send_to (self, m->addr, &msg);
        self->focus_out++;
    }
}

//  --------------------------------------------------------------------------
//  Construction

static void
s_load_row (void *ctx, const node_statedb_camera_t *row)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    cam_version_t v = {row->hlc, {{0}}};
    memcpy (v.origin.b, row->origin, 8);
    char err[160];
    const char *json = row->json ? row->json : "";
    if (cam_registry_merge (self->reg, row->id, &v, row->deleted, json, strlen (json), mw_wall_ms (), true,
                            NULL, err, sizeof err)
        < 0)
        mw_warn ("camera_row_skipped", "camera=%.64s reason=\"%s\"", cam_id_valid (row->id) ? row->id : "?",
                 err);
}

node_cameras_t *
node_cameras_new (const node_cameras_opts_t *o, char *err, size_t errlen)
{
    assert (o && o->cfg && o->ident && o->members);
    node_cameras_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    const mw_settings_t *st = mw_config_settings (o->cfg);
    self->cfg = o->cfg;
    self->ident = o->ident;
    snprintf (self->node_name, sizeof self->node_name, "%s", o->node_name ? o->node_name : "");
    self->db = o->db;
    self->events = o->events;
    self->jobs = o->jobs;
    self->members = o->members;
    self->send = o->send;
    self->send_ctx = o->send_ctx;
    self->fps_default = (double) st->camera_fps;
    self->max_side = (uint32_t) st->camera_max_side;
    self->stall_ms = (uint32_t) st->camera_stall_ms;
    self->connect_ms = (uint32_t) st->camera_connect_timeout_ms;
    self->backoff_max_ms = (uint32_t) st->camera_backoff_max_ms;
    self->decode_threads = (int) st->camera_decode_threads;
    self->inflight_max = (uint32_t) st->camera_inflight;
    self->sync_ms = (uint32_t) st->camera_sync_ms;
    snprintf (self->decoder, sizeof self->decoder, "%s", st->camera_decoder);
    snprintf (self->model, sizeof self->model, "%s", st->camera_model);
    snprintf (self->focus_model, sizeof self->focus_model, "%s", st->focus_model);
    self->deadline_ms = (uint32_t) st->deadline_ms;
    self->focus_radius_m = (uint32_t) st->focus_radius_m;
    self->focus_ttl_ms = (uint32_t) st->focus_ttl_s * 1000;
    char rerr[96];
    if (mw_detrule_parse (st->focus_on, &self->rule, rerr, sizeof rerr) != 0) {
        snprintf (err, errlen, "FOCUS_ON: %s", rerr);
        node_cameras_destroy (&self);
        return NULL;
    }
    randombytes_buf (&self->rng, sizeof self->rng);
    self->reg = cam_registry_new (MW_CAM_MAX, &o->ident->id, (uint64_t) st->max_clock_skew_ms);
    self->focus = cam_focus_table_new ();
    self->sink = cam_sink_new ();
    self->dirty = calloc (MW_CAM_MAX, sizeof *self->dirty);
    if (!self->reg || !self->focus || !self->sink || !self->dirty) {
        snprintf (err, errlen, "out of memory (camera tables)");
        node_cameras_destroy (&self);
        return NULL;
    }
    if (self->db && node_statedb_cameras_each (self->db, s_load_row, self) < 0) {
        snprintf (err, errlen, "state DB: cannot read the camera registry");
        node_cameras_destroy (&self);
        return NULL;
    }
    if (self->jobs) {
        node_jobs_hooks_t h = {s_hook_name, s_hook_ended, self};
        node_jobs_set_hooks (self->jobs, &h);
    }
    self->place_dirty = true;
    uint64_t now = mw_now_ms ();
    self->next_place_ms = now;
    self->next_sync_ms = now + (self->sync_ms ? self->sync_ms / 2 : 0);
    mw_info ("cameras_started", "registry=%zu focus_on=%s", cam_registry_live (self->reg),
             *st->focus_on ? st->focus_on : "-");
    return self;
}

void
node_cameras_destroy (node_cameras_t **self_p)
{
    assert (self_p);
    node_cameras_t *self = *self_p;
    if (!self)
        return;
    if (self->jobs)
        node_jobs_set_hooks (self->jobs, NULL);
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++) {
        cam_ingest_destroy (&self->slots[i].ing);
        free (self->slots[i].latest);
    }
    if (self->reg)
        s_persist (self);
    cam_sink_destroy (&self->sink);
    cam_focus_table_destroy (&self->focus);
    cam_registry_destroy (&self->reg);
    free (self->dirty);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Views and the API

static json_object *
s_camera_json (node_cameras_t *self, const cam_record_t *r, const gossip_member_info_t *view, size_t n_view,
               uint64_t now)
{
    json_object *o = cam_record_json (r);
    if (!o || r->deleted)
        return o;
    char box[MW_NAME_MAX + 1] = "";
    bool mine = view && s_is_mine (self, r, view, n_view, box, sizeof box);
    mw_json_add (o, "analysed_by", *box ? mw_json_str (box) : NULL);
    slot_t *s = mine ? s_slot (self, r->id) : NULL;
    json_object *in = NULL;
    if (s && s->ing && (in = json_object_new_object ())) {
        cam_ingest_stats_t st;
        cam_ingest_stats (s->ing, &st);
        mw_json_add (in, "state", mw_json_str (cam_state_name (st.state)));
        mw_json_add (in, "mode", mw_json_str (s_mode_name (s->mode)));
        mw_json_add (in, "fps", mw_json_num (s->fps, 2));
        mw_json_add (in, "width", mw_json_u64 (st.width));
        mw_json_add (in, "height", mw_json_u64 (st.height));
        mw_json_add (in, "decoder", mw_json_str (st.decoder));
        mw_json_add (in, "frames_decoded", mw_json_u64 (st.frames_decoded));
        mw_json_add (in, "frames_delivered", mw_json_u64 (s->frames_in));
        mw_json_add (in, "frames_analysed", mw_json_u64 (s->frames_submitted));
        mw_json_add (in, "frames_dropped",
                     mw_json_u64 (st.frames_dropped + s->dropped_inflight + s->dropped_refused));
        //  The same drops by reason, as /metrics has them: "sink" frames
        //  never reached the loop (not in frames_delivered), the others did.
        json_object *why = json_object_new_object ();
        if (why) {
            mw_json_add (why, "sink", mw_json_u64 (st.frames_dropped));
            mw_json_add (why, "inflight", mw_json_u64 (s->dropped_inflight));
            mw_json_add (why, "refused", mw_json_u64 (s->dropped_refused));
            mw_json_add (in, "frames_dropped_by", why);
        }
        mw_json_add (in, "jobs_in_flight", mw_json_u64 (s->n_inflight));
        mw_json_add (in, "jobs_done", mw_json_u64 (s->jobs_done));
        mw_json_add (in, "jobs_failed", mw_json_u64 (s->jobs_failed));
        mw_json_add (in, "reconnects", mw_json_u64 (st.reconnects));
        mw_json_add (in, "reason", mw_json_str (st.reason));
        mw_json_add (in, "state_ms", mw_json_u64 (now > st.state_since_ms ? now - st.state_since_ms : 0));
        mw_json_add (in, "last_frame_ms", st.last_frame_ms ? mw_json_u64 (now - st.last_frame_ms) : NULL);
        mw_json_add (in, "cpu_ms", mw_json_num (st.thread_cpu_ns / 1e6, 1));
        mw_json_add (in, "decode_cpu_ms", mw_json_num (st.decode_cpu_ns / 1e6, 1));
        if (s->in_focus) {
            char fid[2 * CAM_FOCUS_ID_LEN + 1];
            cam_focus_id_hex (&s->focus.id, fid);
            mw_json_add (in, "focus", mw_json_str (fid));
        }
        else
            mw_json_add (in, "focus", NULL);
    }
    mw_json_add (o, "ingest", in);
    return o;
}

json_object *
node_cameras_api_list (node_cameras_t *self)
{
    assert (self);
    size_t n_view = 0;
    gossip_member_info_t *view = s_view (self, &n_view);
    json_object *a = json_object_new_array ();
    uint64_t now = mw_now_ms ();
    for (size_t i = 0; a && i < cam_registry_size (self->reg); i++) {
        const cam_record_t *r = cam_registry_at (self->reg, i);
        if (!r->deleted)
            json_object_array_add (a, s_camera_json (self, r, view, n_view, now));
    }
    free (view);
    return a;
}

json_object *
node_cameras_api_get (node_cameras_t *self, const char *id)
{
    assert (self);
    const cam_record_t *r = cam_registry_get (self->reg, id);
    if (!r || r->deleted)
        return NULL;
    size_t n_view = 0;
    gossip_member_info_t *view = s_view (self, &n_view);
    json_object *o = s_camera_json (self, r, view, n_view, mw_now_ms ());
    free (view);
    return o;
}

//  A local change: on disk before the answer, then to every member.
static int
s_commit_local (node_cameras_t *self, const cam_record_t *r, char *err, size_t errlen)
{
    s_mark_dirty (self, r->id);
    if (s_persist (self) != 0) {
        snprintf (err, errlen, "cannot write the state DB");
        return -1;
    }
    s_push_record (self, r);
    self->place_dirty = true;
    return 0;
}

json_object *
node_cameras_api_put (node_cameras_t *self, const char *json, size_t len, char *err, size_t errlen)
{
    assert (self && err);
    const cam_record_t *r = NULL;
    if (cam_registry_put (self->reg, json, len, mw_wall_ms (), &r, err, errlen) != 0)
        return NULL;
    if (s_commit_local (self, r, err, errlen) != 0)
        return NULL;
    mw_info ("camera_added", "camera=%s", r->id);
    return node_cameras_api_get (self, r->id);
}

int
node_cameras_api_delete (node_cameras_t *self, const char *id, char *err, size_t errlen)
{
    assert (self && err);
    const cam_record_t *r = NULL;
    if (cam_registry_remove (self->reg, id, mw_wall_ms (), &r, err, errlen) != 0)
        return -1;
    mw_info ("camera_removed", "camera=%s", r->id);
    return s_commit_local (self, r, err, errlen);
}

//  camera-add, JSON
static json_object *
s_ctl_add (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    zframe_t *f = zmsg_first (req->msg);
    f = zmsg_next (req->msg);
    if (!f || zframe_size (f) == 0)
        return node_control_error ("bad_request", "camera-add: no JSON document");
    char err[256];
    json_object *o =
        node_cameras_api_put (self, (const char *) zframe_data (f), zframe_size (f), err, sizeof err);
    return o ? o : node_control_error ("refused", "%s", err);
}

static json_object *
s_ctl_list (void *ctx, const node_control_req_t *req)
{
    (void) req;
    return node_cameras_api_list ((node_cameras_t *) ctx);
}

static json_object *
s_ctl_show (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    if (!cam_id_valid (req->args))
        return node_control_error ("bad_request", "camera ID: an id is 1..64 of A-Z a-z 0-9 . _ : -");
    json_object *o = node_cameras_api_get (self, req->args);
    return o ? o : node_control_error ("not_found", "no camera %s", req->args);
}

static json_object *
s_ctl_rm (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    if (!cam_id_valid (req->args))
        return node_control_error ("bad_request", "camera-rm ID: an id is 1..64 of A-Z a-z 0-9 . _ : -");
    char err[160];
    if (node_cameras_api_delete (self, req->args, err, sizeof err) != 0)
        return node_control_error (strstr (err, "no camera") ? "not_found" : "refused", "%s", err);
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "id", mw_json_str (req->args));
        mw_json_add (o, "deleted", mw_json_bool (true));
    }
    return o;
}

//  camera-assign ID [BOX]
static json_object *
s_ctl_assign (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    char id[CAM_ID_MAX + 2] = "", box[MW_NAME_MAX + 2] = "";
    const char *sp = strchr (req->args, ' ');
    size_t n = sp ? (size_t) (sp - req->args) : strlen (req->args);
    if (n > CAM_ID_MAX || (sp && strlen (sp + 1) > MW_NAME_MAX))
        return node_control_error ("bad_request", "camera-assign ID [BOX]");
    memcpy (id, req->args, n);
    if (sp)
        snprintf (box, sizeof box, "%s", sp + 1);
    if (!cam_id_valid (id))
        return node_control_error ("bad_request", "camera-assign: an id is 1..64 of A-Z a-z 0-9 . _ : -");
    const cam_record_t *r = NULL;
    char err[160];
    if (cam_registry_assign (self->reg, id, box, mw_wall_ms (), &r, err, sizeof err) != 0)
        return node_control_error (strstr (err, "no camera") ? "not_found" : "refused", "%s", err);
    if (s_commit_local (self, r, err, sizeof err) != 0)
        return node_control_error ("internal", "%s", err);
    return node_cameras_api_get (self, id);
}

//  focus camera=ID | lat=L lon=L, [radius_m=R] [ttl_s=T]
static json_object *
s_ctl_focus (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    char camera[CAM_ID_MAX + 1] = "";
    double lat = NAN, lon = NAN;
    long radius = 0, ttl = 0;
    char args[NODE_CONTROL_REQ_MAX + 1];
    snprintf (args, sizeof args, "%s", req->args);
    char *save = NULL;
    for (char *t = strtok_r (args, " ", &save); t; t = strtok_r (NULL, " ", &save)) {
        char *eq = strchr (t, '=');
        char *end = NULL;
        if (!eq)
            return node_control_error ("bad_request", "focus: KEY=VALUE expected, got '%.40s'", t);
        *eq++ = 0;
        if (!strcmp (t, "camera") && strlen (eq) <= CAM_ID_MAX)
            snprintf (camera, sizeof camera, "%s", eq);
        else if (!strcmp (t, "lat"))
            lat = strtod (eq, &end);
        else if (!strcmp (t, "lon"))
            lon = strtod (eq, &end);
        else if (!strcmp (t, "radius_m"))
            radius = strtol (eq, &end, 10);
        else if (!strcmp (t, "ttl_s"))
            ttl = strtol (eq, &end, 10);
        else
            return node_control_error ("bad_request", "focus: unknown key '%.20s'", t);
        if (end && *end)
            return node_control_error ("bad_request", "focus: %s is not a number", t);
    }
    if (!*camera && (isnan (lat) || isnan (lon)))
        return node_control_error ("bad_request", "focus: camera=ID, or lat=L lon=L");
    if (radius < 0 || radius > MW_FOCUS_RADIUS_MAX_M || ttl < 0 || ttl > MW_FOCUS_TTL_MAX_MS / 1000)
        return node_control_error ("bad_request", "focus: radius_m 1..%d, ttl_s 1..%d", MW_FOCUS_RADIUS_MAX_M,
                                   MW_FOCUS_TTL_MAX_MS / 1000);
    char err[160];
    json_object *o = node_cameras_focus (self, *camera ? camera : NULL, lat, lon, (uint32_t) radius,
                                         (uint32_t) ttl, "cli", req->now_ms, err, sizeof err);
    return o ? o : node_control_error ("refused", "%s", err);
}

static json_object *
s_ctl_focuses (void *ctx, const node_control_req_t *req)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    uint64_t now = req->now_ms;
    cam_focus_t list[CAM_FOCUS_MAX];
    size_t n = cam_focus_list (self->focus, now, list, CAM_FOCUS_MAX);
    json_object *o = json_object_new_object ();
    json_object *fa = json_object_new_array ();
    json_object *ca = json_object_new_array ();
    if (!o || !fa || !ca) {
        json_object_put (o);
        json_object_put (fa);
        json_object_put (ca);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const cam_focus_t *f = &list[i];
        char fid[2 * CAM_FOCUS_ID_LEN + 1], origin[MW_ID_HEX_LEN + 1];
        cam_focus_id_hex (&f->id, fid);
        s_hex (&f->origin, origin);
        json_object *x = json_object_new_object ();
        if (!x)
            break;
        mw_json_add (x, "focus", mw_json_str (fid));
        mw_json_add (x, "origin", mw_json_str (origin));
        mw_json_add (x, "origin_camera", *f->camera ? mw_json_str (f->camera) : NULL);
        mw_json_add (x, "trigger", mw_json_str (f->trigger));
        mw_json_add (x, "lat", mw_json_num (f->lat, 6));
        mw_json_add (x, "lon", mw_json_num (f->lon, 6));
        mw_json_add (x, "radius_m", mw_json_u64 (f->radius_m));
        mw_json_add (x, "ttl_ms", mw_json_u64 (f->expires_ms - now));
        mw_json_add (x, "created_ms", mw_json_u64 (f->created_wall_ms));
        json_object *cams = json_object_new_array ();
        for (int k = 0; cams && k < NODE_CAMERAS_LOCAL_MAX; k++)
            if (self->slots[k].used && self->slots[k].in_focus
                && !memcmp (self->slots[k].focus.id.b, f->id.b, CAM_FOCUS_ID_LEN))
                json_object_array_add (cams, mw_json_str (self->slots[k].id));
        mw_json_add (x, "cameras_here", cams);
        json_object_array_add (fa, x);
    }
    for (int k = 0; k < NODE_CAMERAS_LOCAL_MAX; k++) {
        slot_t *s = &self->slots[k];
        if (!s->used)
            continue;
        json_object *x = json_object_new_object ();
        if (!x)
            break;
        mw_json_add (x, "camera", mw_json_str (s->id));
        mw_json_add (x, "name", mw_json_str (s->name));
        mw_json_add (x, "mode", mw_json_str (s_mode_name (s->mode)));
        if (s->in_focus) {
            char fid[2 * CAM_FOCUS_ID_LEN + 1];
            cam_focus_id_hex (&s->focus.id, fid);
            mw_json_add (x, "focus", mw_json_str (fid));
            mw_json_add (x, "distance_m", mw_json_num (s->focus_distance, 1));
        }
        else {
            mw_json_add (x, "focus", NULL);
            mw_json_add (x, "distance_m", NULL);
        }
        json_object_array_add (ca, x);
    }
    mw_json_add (o, "focuses", fa);
    mw_json_add (o, "cameras", ca);
    return o;
}

int
node_cameras_latest_jpeg (node_cameras_t *self, const char *id, uint8_t **jpeg, size_t *len,
                          uint64_t *capture_ms, char *err, size_t errlen)
{
    assert (self && jpeg && len);
    *jpeg = NULL;
    *len = 0;
    slot_t *s = id ? s_slot (self, id) : NULL;
    if (!s) {
        snprintf (err, errlen, "camera %.64s is not ingested on this box (see analysed_by)",
                  id && cam_id_valid (id) ? id : "?");
        return -1;
    }
    const uint8_t *px;
    int w, h;
    if (!s->latest || mw_image_ppm_view (s->latest, s->latest_len, &px, &w, &h, err, errlen) != 0) {
        snprintf (err, errlen, "no frame of %s yet", s->id);
        return -1;
    }
    //  On the loop: ~5 ms for a 720p frame, only when a VMS asks.
    tjhandle tj = tjInitCompress ();
    unsigned char *out = NULL;
    unsigned long olen = 0;
    int rc =
        tj && tjCompress2 (tj, px, w, w * 3, h, TJPF_RGB, &out, &olen, TJSAMP_420, 85, TJFLAG_FASTDCT) == 0
            ? 0
            : -1;
    if (rc == 0 && (*jpeg = malloc (olen))) {
        memcpy (*jpeg, out, olen);
        *len = olen;
    }
    else {
        snprintf (err, errlen, "JPEG encoding failed");
        rc = -1;
    }
    tjFree (out);
    if (tj)
        tjDestroy (tj);
    if (capture_ms)
        *capture_ms = s->latest_capture_ms;
    return rc;
}

//  --------------------------------------------------------------------------
//  The HTTP API's routes (node/api.h): the same operations as the CLI's.

static void
s_api_list (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    (void) req;
    resp->json = node_cameras_api_list ((node_cameras_t *) ctx);
    if (!resp->json)
        node_api_resp_error (resp, 503, "unavailable", "out of memory");
}

static void
s_api_get (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    resp->json = node_cameras_api_get ((node_cameras_t *) ctx, req->id);
    if (!resp->json)
        node_api_resp_error (resp, 404, "not_found", "no camera '%.64s'", req->id ? req->id : "");
}

//  POST (any id: the document's) and PUT (the path's id, which the
//  document may leave out).
static void
s_api_put_doc (node_cameras_t *self, const node_api_req_t *req, node_api_resp_t *resp, bool put)
{
    if (!req->body || !json_object_is_type (req->body, json_type_object)) {
        node_api_resp_error (resp, 400, "bad_request", "the body must be the camera's JSON object");
        return;
    }
    json_object *doc = json_object_get (req->body);
    if (put) {
        if (!cam_registry_get (self->reg, req->id) || cam_registry_get (self->reg, req->id)->deleted) {
            json_object_put (doc);
            node_api_resp_error (resp, 404, "not_found", "no camera '%.64s' (POST /api/v1/cameras adds one)",
                                 req->id ? req->id : "");
            return;
        }
        json_object *v = NULL;
        if (json_object_object_get_ex (doc, "id", &v) && strcmp (json_object_get_string (v), req->id)) {
            json_object_put (doc);
            node_api_resp_error (resp, 400, "bad_request", "field \"id\": not the path's id '%.64s'",
                                 req->id);
            return;
        }
        if (!v) {
            //  A copy with the path's id (the caller's object stays as given).
            json_object *c = NULL;
            if (json_object_deep_copy (doc, &c, NULL) == 0) {
                json_object_object_add (c, "id", json_object_new_string (req->id));
                json_object_put (doc);
                doc = c;
            }
        }
    }
    const char *text =
        json_object_to_json_string_ext (doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char err[256];
    json_object *o = node_cameras_api_put (self, text, strlen (text), err, sizeof err);
    json_object_put (doc);
    if (!o) {
        if (strstr (err, "registry full"))
            node_api_resp_error (resp, 503, "unavailable", "%s", err);
        else
            node_api_resp_error (resp, 400, "bad_request", "%s", err);
        return;
    }
    resp->status = put ? 200 : 201;
    resp->json = o;
}

static void
s_api_post (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    s_api_put_doc ((node_cameras_t *) ctx, req, resp, false);
}

static void
s_api_put (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    s_api_put_doc ((node_cameras_t *) ctx, req, resp, true);
}

static void
s_api_delete (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    char err[160];
    if (!req->id || node_cameras_api_delete ((node_cameras_t *) ctx, req->id, err, sizeof err) != 0) {
        node_api_resp_error (resp, 404, "not_found", "%s", req->id ? err : "no id");
        return;
    }
    resp->json = json_object_new_object ();
    mw_json_add (resp->json, "id", mw_json_str (req->id));
    mw_json_add (resp->json, "deleted", mw_json_bool (true));
}

static void
s_api_latest (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    uint8_t *jpeg = NULL;
    size_t len = 0;
    char err[160];
    if (node_cameras_latest_jpeg ((node_cameras_t *) ctx, req->id, &jpeg, &len, NULL, err, sizeof err) != 0) {
        node_api_resp_error (resp, 404, "not_found", "%s", err);
        return;
    }
    resp->data = jpeg;
    resp->len = len;
    snprintf (resp->content_type, sizeof resp->content_type, "image/jpeg");
}

//  {"camera": ID} or {"lat", "lon"}, with "radius_m" and "ttl_s".
static void
s_api_focus (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    node_cameras_t *self = (node_cameras_t *) ctx;
    json_object *b = req->body;
    if (!b || !json_object_is_type (b, json_type_object)) {
        node_api_resp_error (resp, 400, "bad_request",
                             "the body must be {camera} or {lat, lon}, with radius_m, ttl_s");
        return;
    }
    const char *camera = mw_json_get_str (b, "camera", NULL);
    double lat = mw_json_get_num (b, "lat", NAN), lon = mw_json_get_num (b, "lon", NAN);
    double radius = mw_json_get_num (b, "radius_m", 0), ttl = mw_json_get_num (b, "ttl_s", 0);
    if (!camera && (isnan (lat) || isnan (lon))) {
        node_api_resp_error (resp, 400, "bad_request", "field \"camera\", or \"lat\" and \"lon\": missing");
        return;
    }
    if (!(radius >= 0 && radius <= MW_FOCUS_RADIUS_MAX_M)
        || !(ttl >= 0 && ttl <= MW_FOCUS_TTL_MAX_MS / 1000)) {
        node_api_resp_error (resp, 400, "bad_request", "field \"radius_m\" 1..%d, \"ttl_s\" 1..%d",
                             MW_FOCUS_RADIUS_MAX_M, MW_FOCUS_TTL_MAX_MS / 1000);
        return;
    }
    char err[160];
    json_object *o = node_cameras_focus (self, camera, lat, lon, (uint32_t) radius, (uint32_t) ttl, "api",
                                         req->now_ms, err, sizeof err);
    if (!o) {
        node_api_resp_error (resp, 400, "bad_request", "%s", err);
        return;
    }
    resp->status = 202;
    resp->json = o;
}

int
node_cameras_api_register (node_cameras_t *self, node_api_t *api)
{
    assert (self);
    if (!api)
        return 0;
    int rc = node_api_handle (api, "GET", "/api/v1/cameras", s_api_list, self);
    rc |= node_api_handle (api, "POST", "/api/v1/cameras", s_api_post, self);
    rc |= node_api_handle (api, "GET", "/api/v1/cameras/{id}", s_api_get, self);
    rc |= node_api_handle (api, "PUT", "/api/v1/cameras/{id}", s_api_put, self);
    rc |= node_api_handle (api, "DELETE", "/api/v1/cameras/{id}", s_api_delete, self);
    rc |= node_api_handle (api, "GET", "/api/v1/cameras/{id}/latest.jpg", s_api_latest, self);
    rc |= node_api_handle (api, "POST", "/api/v1/focus", s_api_focus, self);
    return rc ? -1 : 0;
}

int
node_cameras_control_register (node_cameras_t *self, node_control_t *ctl)
{
    int rc = node_control_on (ctl, "camera-add", 2, s_ctl_add, self);
    rc |= node_control_on (ctl, "cameras", 1, s_ctl_list, self);
    rc |= node_control_on (ctl, "camera", 1, s_ctl_show, self);
    rc |= node_control_on (ctl, "camera-rm", 1, s_ctl_rm, self);
    rc |= node_control_on (ctl, "camera-assign", 1, s_ctl_assign, self);
    rc |= node_control_on (ctl, "focus", 1, s_ctl_focus, self);
    rc |= node_control_on (ctl, "focuses", 1, s_ctl_focuses, self);
    return rc ? -1 : 0;
}

void
node_cameras_prometheus (node_cameras_t *self, mw_prom_t *out)
{
    mw_prom_family (out, "meshwatch_cameras_registry", "gauge",
                    "Cameras in the mesh registry (tombstones apart).");
    mw_prom_u64 (out, "meshwatch_cameras_registry", cam_registry_live (self->reg), NULL);
    mw_prom_family (out, "meshwatch_focuses", "gauge", "Focuses running (scenario 4).");
    mw_prom_u64 (out, "meshwatch_focuses", cam_focus_count (self->focus, mw_now_ms ()), NULL);
    mw_prom_family (out, "meshwatch_camera_frames_decoded_total", "counter",
                    "Frames decoded, per camera here.");
    mw_prom_family (out, "meshwatch_camera_frames_analysed_total", "counter",
                    "Frames that became jobs, per camera here.");
    mw_prom_family (out, "meshwatch_camera_frames_dropped_total", "counter",
                    "Frames not analysed: the loop was behind (sink), the camera's jobs were all in flight, "
                    "or the job was refused.");
    mw_prom_family (out, "meshwatch_camera_reconnects_total", "counter",
                    "Sessions opened again after the camera had been online.");
    mw_prom_family (out, "meshwatch_camera_decode_cpu_seconds_total", "counter",
                    "CPU time of the camera's ingest thread (decode, convert).");
    mw_prom_family (out, "meshwatch_camera_state", "gauge", "1 for the camera's ingest state.");
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++) {
        slot_t *s = &self->slots[i];
        if (!s->used || !s->ing)
            continue;
        cam_ingest_stats_t st;
        cam_ingest_stats (s->ing, &st);
        mw_prom_u64 (out, "meshwatch_camera_frames_decoded_total", st.frames_decoded, "camera", s->id, NULL);
        mw_prom_u64 (out, "meshwatch_camera_frames_analysed_total", s->frames_submitted, "camera", s->id,
                     NULL);
        mw_prom_u64 (out, "meshwatch_camera_frames_dropped_total", st.frames_dropped, "camera", s->id,
                     "reason", "sink", NULL);
        mw_prom_u64 (out, "meshwatch_camera_frames_dropped_total", s->dropped_inflight, "camera", s->id,
                     "reason", "inflight", NULL);
        mw_prom_u64 (out, "meshwatch_camera_frames_dropped_total", s->dropped_refused, "camera", s->id,
                     "reason", "refused", NULL);
        mw_prom_u64 (out, "meshwatch_camera_reconnects_total", st.reconnects, "camera", s->id, NULL);
        mw_prom_num (out, "meshwatch_camera_decode_cpu_seconds_total", st.thread_cpu_ns / 1e9, 3, "camera",
                     s->id, NULL);
        for (int k = 0; k < CAM_ST_STOPPED; k++)
            mw_prom_u64 (out, "meshwatch_camera_state", st.state == (cam_state_t) k, "camera", s->id, "state",
                         cam_state_name ((cam_state_t) k), NULL);
    }
}

json_object *
node_cameras_status_json (node_cameras_t *self)
{
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    size_t here = 0, streaming = 0, focus = 0;
    for (int i = 0; i < NODE_CAMERAS_LOCAL_MAX; i++)
        if (self->slots[i].used) {
            here++;
            streaming += self->slots[i].state == CAM_ST_STREAMING;
            focus += self->slots[i].in_focus;
        }
    mw_json_add (o, "registry", mw_json_u64 (cam_registry_live (self->reg)));
    mw_json_add (o, "registry_entries", mw_json_u64 (cam_registry_size (self->reg)));
    mw_json_add (o, "here", mw_json_u64 (here));
    mw_json_add (o, "streaming", mw_json_u64 (streaming));
    mw_json_add (o, "in_focus", mw_json_u64 (focus));
    mw_json_add (o, "focuses", mw_json_u64 (cam_focus_count (self->focus, mw_now_ms ())));
    mw_json_add (o, "records_in", mw_json_u64 (self->records_in));
    mw_json_add (o, "records_applied", mw_json_u64 (self->records_applied));
    mw_json_add (o, "records_rejected", mw_json_u64 (self->records_rejected));
    mw_json_add (o, "records_dropped_full", mw_json_u64 (self->records_full));
    mw_json_add (o, "records_out", mw_json_u64 (self->records_out));
    mw_json_add (o, "focus_in", mw_json_u64 (self->focus_in));
    mw_json_add (o, "focus_out", mw_json_u64 (self->focus_out));
    mw_json_add (o, "focus_rejected", mw_json_u64 (self->focus_rejected));
    return o;
}

//  --------------------------------------------------------------------------
//  Selftest: two services wired back to back (a fake transport that hands
//  each message straight to the other side through the real codec), a
//  view with both members: a camera added on A reaches B; edits on each
//  side of a "partition" converge on the last writer after a sync; a
//  focus from A starts on B's camera and ends after its ttl.

typedef struct {
    node_cameras_t *peer;
    const mw_id_t *from;   //  the sender's id, as the transport stamps it
    int sent;
} test_link_t;

static void
s_test_send (void *ctx, const char *addr, mw_msg_t *msg)
{
    test_link_t *l = (test_link_t *) ctx;
    (void) addr;
    if (!l->peer)
        return;
    //  Through the codec, as on the wire.
    uint8_t *buf = NULL;
    size_t len = 0;
    mw_msg_t copy = *msg, back;
    copy.sender = *l->from;
    if (gossip_wire_encode (&copy, &buf, &len) == 0 && gossip_wire_decode (buf, len, &back) == 0)
        node_cameras_handle (l->peer, &back, mw_now_ms ());
    gossip_wire_msg_clear (&back);
    free (buf);
    l->sent++;
}

static void
s_test_member_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    (void) ctx, (void) addr, (void) msg;
}

static mw_config_t *
s_test_cfg (const char *state_dir, const char *name)
{
    mw_config_t *cfg = mw_config_new ();
    char err[256];
    const char *lines[][2] = {{"STATE_DIR", state_dir},  {"NODE_NAME", name},        {"CAMERA_SYNC_MS", "0"},
                              {"FOCUS_RADIUS_M", "300"}, {"CAMERA_STALL_MS", "500"}, {NULL, NULL}};
    for (int i = 0; cfg && lines[i][0]; i++)
        if (mw_config_set (cfg, lines[i][0], lines[i][1], "selftest", err, sizeof err) != 0)
            mw_config_destroy (&cfg);
    return cfg;
}

//  A view holding `self` and `other` alive.
static gossip_member_t *
s_test_view (const gossip_identity_t *self, const char *self_name, const gossip_identity_t *other,
             const char *other_name)
{
    gossip_member_cfg_t mc;
    gossip_member_cfg_defaults (&mc);
    gossip_member_t *v = gossip_member_new (&mc, self, 1700000000000ULL, self_name, "tcp://127.0.0.1:1", 1, 7,
                                            s_test_member_send, NULL, NULL);
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_GOSSIP;
    msg.sender = other->id;
    mw_update_t up;
    memset (&up, 0, sizeof up);
    up.id = up.from = other->id;
    snprintf (up.name, sizeof up.name, "%s", other_name);
    snprintf (up.addr, sizeof up.addr, "tcp://127.0.0.1:2");
    up.state = MW_STATE_ALIVE;
    up.incarnation = 1;
    //  The other's own record, as it signs it (gossip/sign.h), its key along.
    up.session = 1700000000000ULL;
    up.stamp = 1;
    if (gossip_sign_record (other, &up) != 0) {
        gossip_member_destroy (&v);
        return NULL;
    }
    memcpy (up.pk, other->pk, MW_PK_MAX);
    up.pk_len = MW_PK_MAX;
    msg.updates = &up;
    msg.n_updates = 1;
    gossip_member_handle (v, &msg, mw_now_ms ());
    return v;
}

static const char *
s_test_doc (char *buf, size_t cap, const char *id, double lat, const char *box, const char *desc)
{
    snprintf (buf, cap,
              "{\"name\":\"%s\",\"type\":1,\"gps\":{\"latitude\":\"%.6f\",\"longitude\":\"126.98\"},"
              "\"ip\":\"127.0.0.1\",\"isSupportAnnalysis\":\"YES\",\"url\":\"rtsp://127.0.0.1:9/%s\","
              "\"box\":\"%s\",\"description\":\"%s\"}",
              id, lat, id, box, desc);
    return buf;
}

int
node_cameras_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    char da[] = "/tmp/mw-cams-a-XXXXXX", db_[] = "/tmp/mw-cams-b-XXXXXX";
    if (!mkdtemp (da) || !mkdtemp (db_))
        return -1;
    char err[256] = "";
    gossip_identity_t ia, ib;
    CHECK (gossip_identity_load (da, &ia, err, sizeof err) == 0
               && gossip_identity_load (db_, &ib, err, sizeof err) == 0,
           "identities: %s", err);
    mw_config_t *ca = s_test_cfg (da, "box-a"), *cb = s_test_cfg (db_, "box-b");
    node_statedb_t *sa = node_statedb_open (da, err, sizeof err),
                   *sb = node_statedb_open (db_, err, sizeof err);
    gossip_member_t *va = s_test_view (&ia, "box-a", &ib, "box-b"),
                    *vb = s_test_view (&ib, "box-b", &ia, "box-a");
    test_link_t la = {NULL, &ia.id, 0}, lb = {NULL, &ib.id, 0};
    node_cameras_opts_t oa = {ca, &ia, "box-a", sa, NULL, NULL, va, s_test_send, &la};
    node_cameras_opts_t ob = {cb, &ib, "box-b", sb, NULL, NULL, vb, s_test_send, &lb};
    node_cameras_t *a = ca && sa && va ? node_cameras_new (&oa, err, sizeof err) : NULL;
    CHECK (a, "a: %s", err);
    node_cameras_t *b = cb && sb && vb ? node_cameras_new (&ob, err, sizeof err) : NULL;
    CHECK (b, "b: %s", err);
    if (!a || !b)
        goto done;
    la.peer = b;
    lb.peer = a;
    uint64_t now = mw_now_ms ();
    //  Added on A (assigned to B): stored on A, pushed to B, placed on B.
    char doc[1024];
    s_test_doc (doc, sizeof doc, "gate", 37.57, "box-b", "v1");
    json_object *o = node_cameras_api_put (a, doc, strlen (doc), err, sizeof err);
    CHECK (o && !strcmp (mw_json_get_str (o, "analysed_by", ""), "box-b"), "put on a: %s",
           o ? mw_json_text (o, false) : err);
    json_object_put (o);
    o = node_cameras_api_get (b, "gate");
    CHECK (o && !strcmp (mw_json_get_str (o, "name", ""), "gate"), "replicated to b");
    json_object_put (o);
    s_place (a, now);
    s_place (b, now);
    CHECK (!s_slot (a, "gate") && s_slot (b, "gate") && s_slot (b, "gate")->ing, "ingested on b only");
    //  Refused documents name the field; nothing stored.
    CHECK (!node_cameras_api_put (a, "{\"name\":\"x\"}", 12, err, sizeof err)
               && strstr (err, "field \"type\""),
           "bad doc: %s", err);
    CHECK (!node_cameras_api_get (a, "x") && !node_cameras_api_get (b, "x"), "nothing half-stored");

    //  A partition: each side edits; after the heal one sync converges on
    //  the later edit everywhere.
    la.peer = lb.peer = NULL;
    const cam_record_t *r = NULL;
    s_test_doc (doc, sizeof doc, "gate", 37.57, "box-b", "edit-a");
    CHECK (cam_registry_put (a->reg, doc, strlen (doc), mw_wall_ms (), &r, err, sizeof err) == 0, "edit a");
    s_mark_dirty (a, "gate");
    usleep (2000);
    s_test_doc (doc, sizeof doc, "gate", 37.57, "box-b", "edit-b");
    CHECK (cam_registry_put (b->reg, doc, strlen (doc), mw_wall_ms (), &r, err, sizeof err) == 0, "edit b");
    s_mark_dirty (b, "gate");
    CHECK (cam_registry_summary (a->reg) != cam_registry_summary (b->reg), "diverged");
    la.peer = b;
    lb.peer = a;
    gossip_member_info_t mb;
    gossip_member_lookup (va, &ib.id, &mb);
    node_cameras_member (a, &mb, true, now);   //  B is back: A sends its summary
    CHECK (cam_registry_summary (a->reg) == cam_registry_summary (b->reg), "converged after the heal");
    CHECK (strstr (cam_registry_get (a->reg, "gate")->json, "edit-b")
               && strstr (cam_registry_get (b->reg, "gate")->json, "edit-b"),
           "the later edit won on both sides");
    //  Persisted: a reopened state DB holds the converged record.
    CHECK (s_persist (a) == 0 && s_persist (b) == 0, "persist");

    //  Focus at the camera's position from A: B's camera joins, then ends.
    o = node_cameras_focus (a, "gate", 0, 0, 0, 1, "cli", now, err, sizeof err);
    CHECK (o && !mw_json_get_bool (o, "coalesced", true), "focus: %s", o ? mw_json_text (o, false) : err);
    json_object_put (o);
    slot_t *s = s_slot (b, "gate");
    CHECK (s && s->in_focus && s->mode == CAM_MODE_FOCUS, "b's camera in focus");
    o = node_cameras_focus (a, NULL, 37.5701, 126.98, 300, 1, "cli", now, err, sizeof err);
    CHECK (o && mw_json_get_bool (o, "coalesced", false), "a focus 11 m away coalesces");
    json_object_put (o);
    CHECK (cam_focus_count (b->focus, now) == 1, "one focus on b");
    s_focus_eval (b, now + 1500);
    CHECK (s && !s->in_focus && s->mode == CAM_MODE_NORMAL, "back to normal after the ttl");
    //  Far away: untouched.
    o = node_cameras_focus (a, NULL, 37.60, 126.98, 300, 5, "cli", now, err, sizeof err);
    json_object_put (o);
    CHECK (s && !s->in_focus, "a focus 3 km away leaves it alone");

    //  Removal replicates as a tombstone; B stops ingesting.
    CHECK (node_cameras_api_delete (a, "gate", err, sizeof err) == 0, "delete: %s", err);
    s_place (b, now);
    CHECK (!node_cameras_api_get (b, "gate") && !s_slot (b, "gate"), "removed on b");
    if (verbose)
        printf ("  messages a->b %d, b->a %d\n", la.sent, lb.sent);
done:
    node_cameras_destroy (&a);
    node_cameras_destroy (&b);
    CHECK (a == NULL, "destroy nulls");
    //  Reopened: the tombstone survived.
    if (sa) {
        node_statedb_close (&sa);
        sa = node_statedb_open (da, err, sizeof err);
        oa.db = sa;
        a = sa ? node_cameras_new (&oa, err, sizeof err) : NULL;
        CHECK (a && cam_registry_size (a->reg) == 1 && cam_registry_live (a->reg) == 0,
               "tombstone persisted");
        node_cameras_destroy (&a);
    }
    gossip_member_destroy (&va);
    gossip_member_destroy (&vb);
    node_statedb_close (&sa);
    node_statedb_close (&sb);
    mw_config_destroy (&ca);
    mw_config_destroy (&cb);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s %s", da, db_);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
