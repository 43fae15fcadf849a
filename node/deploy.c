/*  =========================================================================
    node_deploy - the agent's deployment service (see deploy.h): the plan's
    copy and its exchange, the coordinator's duties, and the slots this box
    runs.
    ========================================================================= */
#include "node/deploy.h"

#include "common/json.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/sanitize.h"
#include "node/runner.h"
#include "node/supervisor.h"
#include "node/vms.h"
#include "pkg/catalog.h"
#include "pkg/desc.h"
#include "pkg/file.h"
#include "scheduler/deploy_plan.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_TICK_MS       250     //  slots and reports
#define S_PUSH_MS       10000   //  anti-entropy: the plan to two random members
#define S_REPORT_MS     60000   //  our unchanged report to every member (a change goes at once, twice more after)
#define S_ROLLOUT_MS    500      //  the coordinator's rollout step
#define S_ADOPT_MS      1000     //  a new coordinator waits this long (one exchange) before it writes
#define S_REPORTS_MAX   64       //  members whose report is kept
#define S_CMDS_MAX      16       //  commands waiting for the coordinator to adopt
#define S_REPORT_TTL_MS 180000   //  a report older than this is not shown as current (three refreshes lost)
#define S_OVERLAP_MS    60000    //  an exec variant's predecessor runs at most this long beside it

typedef struct {
    bool used;
    struct _node_deploy_t *owner;
    char slot[DEPLOY_SLOT_LEN];
    deploy_entry_t want;
    //  What runs.
    char run_name[PKG_NAME_MAX + 1], run_version[PKG_VERSION_MAX + 1];
    pkg_kind_t kind;
    node_sup_t *sup;
    //  An exec variant switch is warm: the variant being replaced keeps
    //  running (old_sup) until its successor is healthy (or fails, or
    //  S_OVERLAP_MS passed).  The two alternate between two names (so two
    //  cgroups): alt says which one the running supervisor has.
    node_sup_t *old_sup;
    uint64_t old_since;
    bool alt;
    char model_family[64];   //  a model package: the runner's model it replaces
    uint64_t model_gen;      //  ... and the generation it asked for (0: none)
    uint8_t state;           //  deploy_state_t
    char error[DEPLOY_ERROR_LEN];
    uint32_t restarts;   //  of the wanted version, over its supervisors
    uint64_t running_since;
    //  Scenario 3.
    int failures;       //  crash loops of the wanted version
    bool rolled_back;   //  running the fallback after failures
    bool repairing;     //  waiting for damaged pieces to come back
    uint8_t repair_pkg[32];
    uint64_t repair_started_ms;
    uint32_t repair_pieces;
    char repair_why[DEPLOY_ERROR_LEN];
    bool redeploy;   //  reinstall (unpack anew) before the next start
    uint64_t next_check_ms;
} s_slot_t;

typedef struct {
    bool used;
    deploy_report_t r;
    uint64_t at_ms;
} s_report_t;

struct _node_deploy_t {
    node_deploy_opts_t o;
    char state_dir[512];
    char node_name[MW_NAME_MAX + 1];
    char cgroup_root[256];
    char engine_pref[16];
    deploy_plan_t *plan;
    pkg_catalog_t *cat;
    uint64_t rng;
    uint64_t next_tick_ms, next_push_ms, next_report_ms, next_rollout_ms;
    bool plan_dirty;         //  push the plan to everybody soon
    bool report_dirty;       //  our report changed
    int report_repeats;      //  repeats of a changed report still due
    uint64_t report_print;   //  s_peers_print of the peers our last report went to
    s_slot_t slot[DEPLOY_BOX_SLOTS];
    s_report_t reports[S_REPORTS_MAX];
    //  Coordinator.
    election_ballot_t coord_b;
    uint64_t coord_since;
    deploy_cmd_t cmds[S_CMDS_MAX];
    size_t n_cmds;
    //  Container engine (oci-image): "" unknown, "none", or the engine.
    char engine[16];
    pid_t engine_probe;
    int engine_try;   //  index in the candidates being probed
    uint64_t stats_plans_in, stats_plans_refused, stats_cmds, stats_repairs, stats_rollbacks, stats_switches;
    //  Variants: the box's condition, from environment results.
    char env_map[512];
    deploy_variant_t variant;
    uint64_t next_prefetch_ms;
    //  The periodic check's hashing (seconds for a GB package) runs on a
    //  thread of its own, one check at a time; the loop applies what it
    //  found (pkg_catalog_scan_*).
    pthread_t scan_thread;
    bool scan_threaded;   //  scan_thread was started (not the fallback on the loop)
    bool scan_running;
    atomic_bool scan_done;
    pkg_scan_t *scan;
    int scan_slot;
    uint8_t scan_pkg[32];
};

static const char *s_engines[] = {"podman", "docker"};

static void
s_id_hex (const mw_id_t *id, char out[MW_ID_HEX_LEN + 1])
{
    for (int i = 0; i < MW_ID_LEN; i++)
        snprintf (out + 2 * i, 3, "%02x", id->b[i]);
}

static bool
s_is_me (node_deploy_t *self, const mw_id_t *id)
{
    return mw_id_eq (id, &self->o.ident->id);
}

//  ---------------------------------------------------------------------------
//  Events (pkg family: failed, repaired, redeployed, rolled_back, started)

static void
s_event (node_deploy_t *self, const char *name, const char *pkg, const char *version, const char *reason,
         int64_t pieces, int64_t bytes, double seconds)
{
    if (!self->o.events)
        return;
    node_event_t ev;
    node_event_init (&ev, "pkg", name, self->o.ident->id_hex);
    node_event_str (&ev, "name", pkg);
    node_event_str (&ev, "version", version);
    node_event_str (&ev, "digest", "");
    node_event_str (&ev, "reason", reason ? reason : "");
    node_event_str (&ev, "peer", NULL);
    node_event_int (&ev, "pieces", pieces);
    node_event_int (&ev, "bytes", bytes);
    node_event_num (&ev, "seconds", seconds, 3);
    node_events_publish (self->o.events, &ev);
}

static void
s_rollout_event (node_deploy_t *self, const char *name, const deploy_rollout_t *r, const char *reason)
{
    if (!self->o.events)
        return;
    node_event_t ev;
    node_event_init (&ev, "deploy", name, self->o.ident->id_hex);
    node_event_str (&ev, "name", r->name);
    node_event_str (&ev, "version", r->version);
    node_event_str (&ev, "slot", r->slot);
    node_event_int (&ev, "wave", r->wave);
    node_event_int (&ev, "waves", r->waves);
    node_event_str (&ev, "reason", reason ? reason : "");
    node_events_publish (self->o.events, &ev);
}

//  ---------------------------------------------------------------------------
//  The plan on disk

static void
s_plan_path (node_deploy_t *self, char *out, size_t cap)
{
    snprintf (out, cap, "%s/deploy/plan.bin", self->state_dir);
}

static void
s_plan_save (node_deploy_t *self)
{
    uint8_t *buf;
    size_t len;
    if (deploy_plan_pack (self->plan, &buf, &len) != 0)
        return;
    char dir[600], path[700], err[300];
    snprintf (dir, sizeof dir, "%s/deploy", self->state_dir);
    pkg_file_mkdirs (dir, 0700);
    s_plan_path (self, path, sizeof path);
    if (pkg_file_write (path, buf, len, 0600, false, err, sizeof err) != 0)
        mw_warn ("deploy_plan_save_failed", "reason=%s", mw_logq (err));
    free (buf);
}

static void
s_plan_changed (node_deploy_t *self)
{
    s_plan_save (self);
    self->plan_dirty = true;
    self->next_tick_ms = 0;
}

//  ---------------------------------------------------------------------------
//  Sending

static void
s_send (node_deploy_t *self, const mw_id_t *to, uint8_t type, const uint8_t *data, size_t len)
{
    gossip_member_info_t m;
    if (gossip_member_lookup (self->o.members, to, &m) != 0 || !*m.addr || m.is_self)
        return;
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = type;
    msg.deploy = (uint8_t *) data;   //  borrowed for the send (never freed through msg)
    msg.deploy_len = (uint32_t) len;
    gossip_transport_send_to (self->o.transport, m.addr, to, &msg);
}

//  Alive members other than us (at most max).
static size_t
s_peers (node_deploy_t *self, gossip_member_info_t *out, size_t max)
{
    size_t n = gossip_member_list (self->o.members, out, max), k = 0;
    for (size_t i = 0; i < n; i++)
        if (!out[i].is_self && (out[i].state == MW_STATE_ALIVE || out[i].state == MW_STATE_SUSPECT))
            out[k++] = out[i];
    return k;
}

//  An order-independent fingerprint of the peers s_peers lists, with their
//  incarnations: when it moves, someone joined, came back, or restarted
//  (a quick kill -9 and restart never leaves the list, but its incarnation
//  moves) and has not had our report.
static uint64_t
s_peers_print (const gossip_member_info_t *m, size_t n)
{
    uint64_t sum = n;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 0x9e3779b97f4a7c15ull;
        for (size_t b = 0; b < sizeof m[i].id.b; b++)
            h = (h ^ m[i].id.b[b]) * 0x100000001b3ull;
        sum += h ^ (m[i].incarnation * 0x9e3779b97f4a7c15ull);
    }
    return sum;
}

static void
s_push_plan (node_deploy_t *self, bool all)
{
    uint8_t *buf;
    size_t len;
    if (deploy_plan_pack (self->plan, &buf, &len) != 0)
        return;
    gossip_member_info_t *m = malloc (S_REPORTS_MAX * sizeof *m);
    size_t n = m ? s_peers (self, m, S_REPORTS_MAX) : 0;
    if (all)
        for (size_t i = 0; i < n; i++)
            s_send (self, &m[i].id, MW_MSG_DEPLOY_PLAN, buf, len);
    else
        for (int k = 0; k < 2 && n > 0; k++)
            s_send (self, &m[mw_splitmix64 (&self->rng) % n].id, MW_MSG_DEPLOY_PLAN, buf, len);
    free (m);
    free (buf);
}

//  ---------------------------------------------------------------------------
//  Reports

static s_report_t *
s_report_slot (node_deploy_t *self, const mw_id_t *box, bool make)
{
    for (int i = 0; i < S_REPORTS_MAX; i++)
        if (self->reports[i].used && mw_id_eq (&self->reports[i].r.box, box))
            return &self->reports[i];
    if (!make)
        return NULL;
    for (int i = 0; i < S_REPORTS_MAX; i++)
        if (!self->reports[i].used) {
            self->reports[i].used = true;
            return &self->reports[i];
        }
    //  Full: the oldest report of a box that is no longer a member goes.
    int old = -1;
    for (int i = 0; i < S_REPORTS_MAX; i++)
        if (!gossip_member_knows_alive (self->o.members, &self->reports[i].r.box)
            && (old < 0 || self->reports[i].at_ms < self->reports[old].at_ms))
            old = i;
    return old >= 0 ? &self->reports[old] : NULL;
}

static void
s_my_report (node_deploy_t *self, deploy_report_t *r, uint64_t now)
{
    memset (r, 0, sizeof *r);
    r->box = self->o.ident->id;
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        s_slot_t *s = &self->slot[i];
        if (!s->used)
            continue;
        deploy_actual_t *a = &r->slot[r->n++];
        snprintf (a->slot, sizeof a->slot, "%s", s->slot);
        snprintf (a->name, sizeof a->name, "%s", s->want.name);
        snprintf (a->version, sizeof a->version, "%s", s->want.version);
        if ((s->sup && node_sup_state (s->sup) == NODE_SUP_RUNNING)
            || (!s->sup && s->model_gen && s->state >= DEPLOY_RUNNING && s->running_since))
            snprintf (a->active, sizeof a->active, "%s", s->run_version);
        if (s->want.variant_by[0] && self->variant.chosen)
            snprintf (a->variant, sizeof a->variant, "%s", self->variant.current);
        a->state = s->state;
        a->restarts = s->restarts + (s->sup ? node_sup_restarts (s->sup) : 0);
        uint64_t up = s->running_since && s->state >= DEPLOY_RUNNING ? now - s->running_since : 0;
        a->running_ms = up > UINT32_MAX ? UINT32_MAX : (uint32_t) up;
        //  Printable ASCII only on the wire.
        size_t k = 0;
        for (size_t j = 0; s->error[j] && k < sizeof a->error - 1; j++)
            a->error[k++] = (s->error[j] >= 0x20 && s->error[j] < 0x7f) ? s->error[j] : '?';
        a->error[k] = 0;
        a->applied = s->want.stamp;
    }
}

static void
s_send_report (node_deploy_t *self, uint64_t now)
{
    deploy_report_t r;
    s_my_report (self, &r, now);
    s_report_t *mine = s_report_slot (self, &r.box, true);
    if (mine) {
        mine->r = r;
        mine->at_ms = now;
    }
    uint8_t *buf;
    size_t len;
    if (deploy_report_pack (&r, &buf, &len) != 0)
        return;
    gossip_member_info_t *m = malloc (S_REPORTS_MAX * sizeof *m);
    size_t n = m ? s_peers (self, m, S_REPORTS_MAX) : 0;
    for (size_t i = 0; i < n; i++)
        s_send (self, &m[i].id, MW_MSG_DEPLOY_REPORT, buf, len);
    if (m)
        self->report_print = s_peers_print (m, n);
    free (m);
    free (buf);
}

//  ---------------------------------------------------------------------------
//  Slots: what this box runs

static s_slot_t *
s_slot_find (node_deploy_t *self, const char *slot, bool make)
{
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++)
        if (self->slot[i].used && strcmp (self->slot[i].slot, slot) == 0)
            return &self->slot[i];
    if (!make)
        return NULL;
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++)
        if (!self->slot[i].used) {
            memset (&self->slot[i], 0, sizeof self->slot[i]);
            self->slot[i].used = true;
            snprintf (self->slot[i].slot, sizeof self->slot[i].slot, "%s", slot);
            return &self->slot[i];
        }
    return NULL;
}

static void
s_set_state (node_deploy_t *self, s_slot_t *s, uint8_t st, const char *error)
{
    if (s->state != st || (error && strcmp (s->error, error) != 0)) {
        mw_info ("deploy_state", "slot=%s package=%s@%s state=%s error=%s", mw_logv (s->slot),
                 mw_logv (s->want.name), mw_logv (s->want.version), deploy_state_name (st),
                 mw_logq (error ? error : ""));
        self->report_dirty = true;
    }
    s->state = st;
    if (error)
        snprintf (s->error, sizeof s->error, "%s", error);
}

static void
s_slot_stop (s_slot_t *s)
{
    node_sup_destroy (&s->sup);
    node_sup_destroy (&s->old_sup);
    s->run_name[0] = s->run_version[0] = 0;
    s->running_since = 0;
}

static void s_env_result (node_deploy_t *self, const char *result, const char *source);

//  A line of a supervised program's stdout: {"result":"R", ...} is an
//  environment result (the environment program's), reported as env.report
//  (VMS outbox) - which comes back to us through node_vms_on_env.
typedef struct {
    node_deploy_t *self;
    s_slot_t *slot;
} s_line_ctx_t;

static void
s_sup_line (void *ctx, const char *line)
{
    s_slot_t *s = (s_slot_t *) ctx;
    node_deploy_t *self = s->owner;
    if (line[0] != '{')
        return;
    json_object *o = json_tokener_parse (line);
    if (!o)
        return;
    json_object *r = NULL;
    if (json_object_object_get_ex (o, "result", &r) && json_object_is_type (r, json_type_string)) {
        char source[96];
        snprintf (source, sizeof source, "pkg:%.40s@%.40s", s->run_name, s->run_version);
        const char *result = json_object_get_string (r);
        if (self->o.vms) {
            uint64_t seq;
            char why[160];
            if (node_vms_env_report (self->o.vms, result, source, &seq, why, sizeof why) != 0)
                mw_warn ("deploy_env_refused", "source=%s reason=%s", mw_logv (source), mw_logq (why));
        }
        else
            s_env_result (self, result, source);
    }
    json_object_put (o);
}

//  The supervisor's changes: a death or a recovery changes what we report.
static void
s_sup_change (void *ctx, node_sup_state_t st, const char *why)
{
    s_slot_t *s = (s_slot_t *) ctx;
    (void) st;
    (void) why;
    //  Picked up by s_slot_step on the next tick (the loop ticks us soon:
    //  next_wakeup is at most S_TICK_MS away).
    (void) s;
}

//  Does a canonical variant string ("k=v,k=v") hold key=tag?
static bool
s_has_tag (const char *variant, const char *key, const char *tag)
{
    char want[80];
    snprintf (want, sizeof want, "%s=%s", key, tag);
    size_t n = strlen (want);
    for (const char *p = variant; p && *p;) {
        if (!strncmp (p, want, n) && (p[n] == 0 || p[n] == ','))
            return true;
        p = strchr (p, ',');
        if (p)
            p++;
    }
    return false;
}

//  The newest package of `name` whose variant has key=tag (its version in
//  out); with want_all, every package of `name` with a `key` tag is asked
//  for (fetched ahead).  True if one matches.
static bool
s_variant_pkg (node_deploy_t *self, const char *name, const char *key, const char *tag, char *out, size_t cap,
               bool want_all)
{
    pkg_entry_t *list = NULL;
    size_t n = 0;
    if (pkg_catalog_list (self->cat, &list, &n) != 0)
        return false;
    uint64_t best = 0;
    bool found = false;
    char prefix[40];
    snprintf (prefix, sizeof prefix, "%s=", key);
    for (size_t i = 0; i < n; i++) {
        const pkg_entry_t *e = &list[i];
        if (strcmp (e->meta.name, name) != 0)
            continue;
        if (want_all && strstr (e->meta.variant, prefix) && e->state != PKG_STATE_COMPLETE && !e->want)
            pkg_catalog_set_want (self->cat, e->meta.manifest, true);
        if (tag && s_has_tag (e->meta.variant, key, tag) && (!found || e->meta.seq > best)
            && strlen (e->meta.version) < cap) {
            best = e->meta.seq;
            snprintf (out, cap, "%s", e->meta.version);
            found = true;
        }
    }
    free (list);
    return found;
}

//  The version this slot should run now: the fallback after a rollback,
//  the variant for the box's condition, or the entry's.
static const char *
s_target (node_deploy_t *self, s_slot_t *s, char *buf, size_t cap)
{
    if (s->rolled_back)
        return s->want.fallback;
    if (s->want.variant_by[0] && self->variant.chosen
        && s_variant_pkg (self, s->want.name, s->want.variant_by, self->variant.current, buf, cap, false))
        return buf;
    return s->want.version;
}

//  Read the package's manifest (config blob).  0/-1.
static int
s_desc (node_deploy_t *self, const pkg_entry_t *e, pkg_desc_t *d, char *err, size_t errlen)
{
    pkg_parts_t p;
    if (pkg_catalog_parts (self->cat, e->meta.manifest, &p) != 0) {
        snprintf (err, errlen, "no parts");
        return -1;
    }
    int rc = pkg_desc_decode (p.config, p.config_len, d, err, errlen);
    pkg_catalog_parts_free (&p);
    return rc;
}

//  The container engine (oci-image): probed once, in a child, never on the loop.
static void
s_engine_probe (node_deploy_t *self)
{
    if (self->engine[0] || self->engine_probe > 0)
        return;
    if (!strcmp (self->engine_pref, "none")) {
        snprintf (self->engine, sizeof self->engine, "none");
        return;
    }
    const char *cand = strcmp (self->engine_pref, "auto") ? self->engine_pref : s_engines[self->engine_try];
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = open ("/dev/null", O_RDWR);
        dup2 (fd, 0);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execlp (cand, cand, "info", (char *) NULL);
        _exit (127);
    }
    self->engine_probe = pid > 0 ? pid : 0;
    if (pid < 0)
        snprintf (self->engine, sizeof self->engine, "none");
}

static void
s_engine_poll (node_deploy_t *self)
{
    if (self->engine_probe <= 0)
        return;
    int status;
    if (waitpid (self->engine_probe, &status, WNOHANG) != self->engine_probe)
        return;
    self->engine_probe = 0;
    const char *cand = strcmp (self->engine_pref, "auto") ? self->engine_pref : s_engines[self->engine_try];
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0) {
        snprintf (self->engine, sizeof self->engine, "%s", cand);
        mw_info ("deploy_engine", "engine=%s", cand);
    }
    else if (!strcmp (self->engine_pref, "auto") && ++self->engine_try < 2)
        s_engine_probe (self);
    else {
        snprintf (self->engine, sizeof self->engine, "none");
        mw_warn ("deploy_no_engine", "reason=\"no working container engine (podman/docker info failed)\"");
    }
}

//  Start what the slot should run (the package is complete and checked).
static int
s_start (node_deploy_t *self, s_slot_t *s, const pkg_entry_t *e, uint64_t now)
{
    char err[256];
    pkg_desc_t d;
    if (s_desc (self, e, &d, err, sizeof err) != 0) {
        s_set_state (self, s, DEPLOY_FAILED, err);
        return -1;
    }
    //  A variant switch of a healthy exec program is warm: the running
    //  variant serves until the new one passes its health check.  Any
    //  other change (a new version, a repair, a rollback) stops it first.
    bool warm = e->meta.kind == PKG_KIND_EXEC && s->want.variant_by[0] && s->sup && s->kind == PKG_KIND_EXEC
                && node_sup_state (s->sup) == NODE_SUP_RUNNING && !strcmp (s->run_name, e->meta.name)
                && strcmp (s->run_version, e->meta.version) != 0 && !s->rolled_back && !s->redeploy;
    if (warm) {
        node_sup_destroy (&s->old_sup);
        s->old_sup = s->sup;
        s->sup = NULL;
        s->old_since = now;
        s->alt = !s->alt;
        mw_info ("deploy_warm_start", "slot=%s package=%s from=%s to=%s", mw_logv (s->slot),
                 mw_logv (e->meta.name), mw_logv (s->run_version), mw_logv (e->meta.version));
        s->run_name[0] = s->run_version[0] = 0;
        s->running_since = 0;
    }
    else {
        s_slot_stop (s);
        s->alt = false;
    }
    node_sup_spec_t sp;
    node_sup_spec_defaults (&sp);
    snprintf (sp.name, sizeof sp.name, "%.15s-%.40s%s", s->slot, e->meta.name, s->alt ? ".b" : "");
    pkg_catalog_files_path (self->cat, e->meta.name, e->meta.version, sp.dir, sizeof sp.dir);
    snprintf (sp.env[0], sizeof sp.env[0], "MESHWATCH_STATE_DIR=%s", self->state_dir);
    snprintf (sp.env[1], sizeof sp.env[1], "MESHWATCH_SLOT=%s", s->slot);
    snprintf (sp.env[2], sizeof sp.env[2], "MESHWATCH_PACKAGE=%s@%s", e->meta.name, e->meta.version);
    snprintf (sp.env[3], sizeof sp.env[3], "MESHWATCH_PACKAGE_DIR=%s", sp.dir);
    snprintf (sp.cgroup_root, sizeof sp.cgroup_root, "%s", self->cgroup_root);
    snprintf (sp.cgroup_parent, sizeof sp.cgroup_parent, "meshwatch/%s", self->o.ident->id_hex);
    s->kind = e->meta.kind;
    if (e->meta.kind == PKG_KIND_EXEC) {
        if (!d.entry[0]) {
            s_set_state (self, s, DEPLOY_FAILED, "the package has no exec.entry");
            return -1;
        }
        snprintf (sp.entry, sizeof sp.entry, "%s", d.entry);
        snprintf (sp.health, sizeof sp.health, "%s", d.health);
        sp.cpu_percent = d.cpu_percent;
        sp.memory_mb = d.memory_mb;
    }
    else if (e->meta.kind == PKG_KIND_OCI_IMAGE) {
        s_engine_probe (self);
        if (!self->engine[0]) {
            s_set_state (self, s, DEPLOY_STARTING, "probing the container engine");
            return 1;   //  again next tick
        }
        if (!strcmp (self->engine, "none")) {
            s_set_state (self, s, DEPLOY_FAILED, "no container engine");
            return -1;
        }
        //  The package's files are an OCI image layout: the engine runs it
        //  from there (its oci: transport), removed when it stops.
        snprintf (sp.entry, sizeof sp.entry, "exec %.15s run --rm --name mw-%.15s oci:%s:%s", self->engine,
                  s->slot, sp.dir, e->meta.version);
    }
    else {
        //  A model: the runner loads it from the package's folder (the one
        //  holding the family's manifest: the top or one level down).
        if (!self->o.runner) {
            s_set_state (self, s, DEPLOY_FAILED, "no inference runner here (JOB_PORT off)");
            return -1;
        }
        const char *manifest =
            !strcmp (d.model_family, "tiny-face")       ? "tiny_face_detector_model-weights_manifest.json"
            : !strcmp (d.model_family, "ssd-mobilenet") ? "ssd_mobilenetv1_model-weights_manifest.json"
                                                        : NULL;
        if (!manifest) {
            s_set_state (self, s, DEPLOY_FAILED, "unknown model family");
            return -1;
        }
        char mdir[1200] = "", probe[1400];
        snprintf (probe, sizeof probe, "%s/%s", sp.dir, manifest);
        if (access (probe, R_OK) == 0)
            snprintf (mdir, sizeof mdir, "%s", sp.dir);
        else {
            DIR *dd = opendir (sp.dir);
            struct dirent *de;
            while (dd && (de = readdir (dd)) && !mdir[0]) {
                if (de->d_name[0] == '.')
                    continue;
                snprintf (probe, sizeof probe, "%s/%s/%s", sp.dir, de->d_name, manifest);
                if (access (probe, R_OK) == 0)
                    snprintf (mdir, sizeof mdir, "%s/%s", sp.dir, de->d_name);
            }
            if (dd)
                closedir (dd);
        }
        if (!mdir[0]) {
            s_set_state (self, s, DEPLOY_FAILED, "the package holds no manifest of its model family");
            return -1;
        }
        node_sup_destroy (&s->sup);
        s->running_since = 0;
        snprintf (s->model_family, sizeof s->model_family, "%s", d.model_family);
        s->model_gen = node_runner_set_model_dir (self->o.runner, s->model_family, mdir);
        snprintf (s->run_name, sizeof s->run_name, "%s", e->meta.name);
        snprintf (s->run_version, sizeof s->run_version, "%s", e->meta.version);
        if (!s->rolled_back)
            s_set_state (self, s, DEPLOY_STARTING, "");
        return 0;
    }

    s->owner = self;
    s->sup = node_sup_new (&sp, mw_splitmix64 (&self->rng), s_sup_line, s_sup_change, s);
    if (!s->sup || node_sup_start (s->sup, now) != 0) {
        s_set_state (self, s, DEPLOY_FAILED, s->sup ? node_sup_last_error (s->sup) : "out of memory");
        node_sup_destroy (&s->sup);
        return -1;
    }
    snprintf (s->run_name, sizeof s->run_name, "%s", e->meta.name);
    snprintf (s->run_version, sizeof s->run_version, "%s", e->meta.version);
    //  After a rollback the slot stays rolled_back, with why.
    if (!s->rolled_back)
        s_set_state (self, s, DEPLOY_STARTING, "");
    return 0;
}

//  Check the package's pieces and installed files; damaged ones are
//  dropped (to be fetched again).  Returns pieces dropped, -1 on error.
static int
s_check (node_deploy_t *self, const pkg_entry_t *e, uint32_t *files, char *why, size_t whylen)
{
    uint32_t bad = 0, badf = 0, nf = 0;
    char err[256] = "";
    *files = 0;
    if (pkg_catalog_verify (self->cat, e->meta.manifest, &bad, err, sizeof err) != 0) {
        snprintf (why, whylen, "verify: %s", err);
        return -1;
    }
    if (bad == 0 && pkg_catalog_check_files (self->cat, e->meta.manifest, &badf, &nf, err, sizeof err) != 0) {
        snprintf (why, whylen, "files: %s", err);
        return -1;
    }
    *files = nf;
    if (bad + badf)
        snprintf (why, whylen, "%u damaged pieces, %u damaged files", bad + badf, nf);
    return (int) (bad + badf);
}

static void *
s_scan_run (void *arg)
{
    node_deploy_t *self = (node_deploy_t *) arg;
    pkg_scan_run (self->scan);
    atomic_store (&self->scan_done, true);
    return NULL;
}

//  Start the periodic check of slot s's package on the scan thread.
static void
s_scan_start (node_deploy_t *self, s_slot_t *s, const pkg_entry_t *e)
{
    char err[256] = "";
    self->scan = pkg_catalog_scan_prepare (self->cat, e->meta.manifest, PKG_SCAN_PIECES | PKG_SCAN_FILES, err,
                                           sizeof err);
    if (!self->scan) {
        mw_warn ("deploy_check_failed", "slot=%s reason=%s", mw_logv (s->slot), mw_logq (err));
        return;
    }
    self->scan_slot = (int) (s - self->slot);
    memcpy (self->scan_pkg, e->meta.manifest, 32);
    atomic_store (&self->scan_done, false);
    self->scan_threaded = pthread_create (&self->scan_thread, NULL, s_scan_run, self) == 0;
    if (!self->scan_threaded) {
        //  No thread: hash here rather than not at all.
        pkg_scan_run (self->scan);
        atomic_store (&self->scan_done, true);
    }
    self->scan_running = true;
}

static void s_repair (node_deploy_t *self, s_slot_t *s, const pkg_entry_t *e, int pieces, const char *why,
                      uint64_t now);

//  A finished check: drop what it found damaged and repair the slot, if it
//  still runs the package that was checked.
static void
s_scan_collect (node_deploy_t *self, uint64_t now)
{
    if (!self->scan_running || !atomic_load (&self->scan_done))
        return;
    if (self->scan_threaded)
        pthread_join (self->scan_thread, NULL);
    self->scan_threaded = false;
    self->scan_running = false;
    uint32_t bad = 0, files = 0;
    char err[256] = "";
    int rc = pkg_catalog_scan_apply (self->cat, self->scan, &bad, &files, err, sizeof err);
    pkg_scan_destroy (&self->scan);
    s_slot_t *s = &self->slot[self->scan_slot];
    if (rc != 0) {
        mw_warn ("deploy_check_failed", "slot=%s reason=%s", mw_logv (s->slot), mw_logq (err));
        return;
    }
    pkg_entry_t e;
    if (bad == 0 || !s->used || s->repairing
        || pkg_catalog_find (self->cat, s->run_name, s->run_version, &e) != 0
        || memcmp (e.meta.manifest, self->scan_pkg, 32) != 0)
        return;
    char why[DEPLOY_ERROR_LEN];
    snprintf (why, sizeof why, "%u damaged pieces, %u damaged files", bad, files);
    s_repair (self, s, &e, (int) bad, why, now);
}

//  Begin a repair: the damaged pieces were dropped; fetch them again.
static void
s_repair (node_deploy_t *self, s_slot_t *s, const pkg_entry_t *e, int pieces, const char *why, uint64_t now)
{
    s_slot_stop (s);
    s->repairing = true;
    memcpy (s->repair_pkg, e->meta.manifest, 32);
    s->repair_started_ms = now;
    s->repair_pieces = (uint32_t) pieces;
    snprintf (s->repair_why, sizeof s->repair_why, "%s", why);
    pkg_catalog_set_want (self->cat, e->meta.manifest, true);
    mw_warn ("deploy_repair", "slot=%s package=%s@%s reason=%s", mw_logv (s->slot), mw_logv (e->meta.name),
             mw_logv (e->meta.version), mw_logq (why));
    s_event (self, "failed", e->meta.name, e->meta.version, why, pieces, 0, 0);
    s_set_state (self, s, DEPLOY_FETCHING, why);
}

//  One slot, one step towards its entry.
static void
s_slot_step (node_deploy_t *self, s_slot_t *s, uint64_t now)
{
    char vbuf[PKG_VERSION_MAX + 1];
    const char *version = s_target (self, s, vbuf, sizeof vbuf);
    if (s->old_sup && (!s->sup || now - s->old_since > S_OVERLAP_MS)) {
        //  Its successor failed to start, or never got healthy: no program
        //  of this slot runs beside another for long.
        mw_warn ("deploy_warm_abandoned", "slot=%s overlap_ms=%llu", mw_logv (s->slot),
                 (unsigned long long) (now - s->old_since));
        node_sup_destroy (&s->old_sup);
    }
    if (!s->want.name[0] || !version[0]) {
        if (!s->want.name[0]) {
            s_slot_stop (s);
            if (s->model_gen && self->o.runner)
                node_runner_set_model_dir (self->o.runner, s->model_family, NULL);   //  back to MODELS_DIR
            s->model_gen = 0;
            s->used = false;
            self->report_dirty = true;
            return;
        }
    }
    //  Running the target already: follow the supervisor.
    if ((s->sup || s->model_gen) && !strcmp (s->run_name, s->want.name) && !strcmp (s->run_version, version)
        && !s->redeploy) {
        node_sup_state_t st = NODE_SUP_STARTING;
        char merr[200] = "";
        if (s->sup)
            st = node_sup_state (s->sup);
        else {
            //  A model: running once every worker of the runner has it.
            int ms =
                node_runner_model_status (self->o.runner, s->model_family, s->model_gen, merr, sizeof merr);
            st = ms == 1 ? NODE_SUP_RUNNING : ms == 0 ? NODE_SUP_STARTING : NODE_SUP_FAILED;
            if (ms == 2)
                snprintf (merr, sizeof merr, "another slot loaded model %.30s since", s->model_family);
        }
        if (st == NODE_SUP_RUNNING && s->old_sup) {
            //  The new variant is healthy: now the old one goes.
            mw_info ("deploy_warm_swap", "slot=%s package=%s@%s overlap_ms=%llu", mw_logv (s->slot),
                     mw_logv (s->run_name), mw_logv (s->run_version),
                     (unsigned long long) (now - s->old_since));
            node_sup_destroy (&s->old_sup);
        }
        if (st == NODE_SUP_RUNNING) {
            if (!s->running_since) {
                s->running_since = s->sup ? node_sup_running_since (s->sup) : now;
                s_event (self, "started", s->run_name, s->run_version, s->rolled_back ? "rolled back" : "", 0,
                         0, 0);
            }
            s_set_state (self, s, s->rolled_back ? DEPLOY_ROLLED_BACK : DEPLOY_RUNNING, NULL);
        }
        else if (st == NODE_SUP_STARTING || st == NODE_SUP_BACKOFF) {
            s->running_since = 0;
            if (!s->rolled_back)
                s_set_state (self, s, DEPLOY_STARTING, s->sup ? node_sup_last_error (s->sup) : "loading");
        }
        else if (st == NODE_SUP_FAILED) {
            char why[DEPLOY_ERROR_LEN];
            snprintf (why, sizeof why, "%s", s->sup ? node_sup_last_error (s->sup) : merr);
            if (s->sup)
                s->restarts += node_sup_restarts (s->sup);
            s_slot_stop (s);
            s->model_gen = 0;
            if (s->rolled_back) {
                //  The fallback fails too: nothing left to try.
                s_set_state (self, s, DEPLOY_FAILED, why);
                s_event (self, "failed", s->want.name, version, why, 0, 0, 0);
                return;
            }
            s->failures++;
            s_event (self, "failed", s->want.name, s->want.version, why, 0, 0, 0);
            if (s->failures == 1) {
                //  Scenario 3: re-verify, repair what is damaged, reinstall,
                //  restart once.
                pkg_entry_t e;
                if (pkg_catalog_find (self->cat, s->want.name, s->want.version, &e) == 0) {
                    uint32_t files;
                    char cw[DEPLOY_ERROR_LEN];
                    int bad = s_check (self, &e, &files, cw, sizeof cw);
                    if (bad > 0) {
                        s_repair (self, s, &e, bad, cw, now);
                        return;
                    }
                }
                s->redeploy = true;
                snprintf (s->repair_why, sizeof s->repair_why, "%s", why);
                s_set_state (self, s, DEPLOY_STARTING, why);
            }
            else if (s->want.fallback[0]) {
                s->rolled_back = true;
                self->stats_rollbacks++;
                char rb[DEPLOY_ERROR_LEN];
                snprintf (rb, sizeof rb, "%.60s; back to %.20s", why, s->want.fallback);
                mw_warn ("deploy_rolled_back", "slot=%s package=%s from=%s to=%s reason=%s",
                         mw_logv (s->slot), mw_logv (s->want.name), mw_logv (s->want.version),
                         mw_logv (s->want.fallback), mw_logq (why));
                s_event (self, "rolled_back", s->want.name, s->want.version, rb, 0, 0, 0);
                s_set_state (self, s, DEPLOY_ROLLED_BACK, rb);
            }
            else {
                s_set_state (self, s, DEPLOY_FAILED, why);
                return;
            }
        }
        //  Periodic check of what is installed: hashed on the scan thread
        //  (s_scan_collect applies it); one check at a time, the others
        //  wait their turn.
        if ((s->sup || s->model_gen) && now >= s->next_check_ms && !self->scan_running) {
            s->next_check_ms = now + self->o.check_ms;
            pkg_entry_t e;
            if (pkg_catalog_find (self->cat, s->run_name, s->run_version, &e) == 0
                && e.state == PKG_STATE_COMPLETE)
                s_scan_start (self, s, &e);
        }
        return;
    }
    if (s->state == DEPLOY_FAILED && !s->repairing && !s->redeploy && s->sup == NULL)
        return;   //  given up on this entry: a new one moves it
    //  Install the target: here, complete, checked.
    pkg_entry_t e;
    if (pkg_catalog_find (self->cat, s->want.name, version, &e) != 0) {
        s_set_state (self, s, DEPLOY_PENDING, "waiting for the mesh to announce the package");
        return;
    }
    if (e.state != PKG_STATE_COMPLETE) {
        if (!e.want)
            pkg_catalog_set_want (self->cat, e.meta.manifest, true);
        char prog[DEPLOY_ERROR_LEN];
        snprintf (prog, sizeof prog, "%u of %u pieces%s%.60s", e.have, e.meta.piece_count,
                  e.error[0] ? ": " : "", e.error);
        s_set_state (self, s, DEPLOY_FETCHING, s->repairing ? s->repair_why : prog);
        return;
    }
    if (s->repairing && !memcmp (s->repair_pkg, e.meta.manifest, 32)) {
        double secs = (double) (now - s->repair_started_ms) / 1000.0;
        self->stats_repairs++;
        mw_warn ("deploy_repaired", "slot=%s package=%s@%s pieces=%u seconds=%.3f", mw_logv (s->slot),
                 mw_logv (e.meta.name), mw_logv (e.meta.version), s->repair_pieces, secs);
        s_event (self, "repaired", e.meta.name, e.meta.version, s->repair_why, s->repair_pieces,
                 (int64_t) s->repair_pieces * e.meta.piece_size, secs);
        s->repairing = false;
    }
    else {
        //  At every start: the installed files against the layers.
        uint32_t files;
        char cw[DEPLOY_ERROR_LEN];
        int bad = s_check (self, &e, &files, cw, sizeof cw);
        if (bad > 0) {
            s_repair (self, s, &e, bad, cw, now);
            return;
        }
    }
    if (s->redeploy) {
        //  Unpack anew from the verified data: the program gets exactly
        //  what was signed, whatever happened to its folder.
        char err[256];
        if (pkg_catalog_finish (self->cat, e.meta.manifest, err, sizeof err) != PKG_OK) {
            s_set_state (self, s, DEPLOY_FAILED, err);
            s->redeploy = false;
            return;
        }
        s->redeploy = false;
        s_event (self, "redeployed", e.meta.name, e.meta.version, s->repair_why, 0, 0, 0);
    }
    if (s_start (self, s, &e, now) == 0)
        s->next_check_ms = now + self->o.check_ms;
}

//  An environment result (ours, from any source): the box's condition.
static void
s_env_result (node_deploy_t *self, const char *result, const char *source)
{
    char tag[DEPLOY_VERSION_LEN];
    if (!deploy_variant_map (self->env_map, result, tag, sizeof tag))
        return;   //  not mapped: no variant says anything about it
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    char was[DEPLOY_VERSION_LEN];
    snprintf (was, sizeof was, "%s", self->variant.current);
    if (deploy_variant_feed (&self->variant, tag, now, self->o.env_switch_readings,
                             self->o.env_switch_dwell_ms)) {
        self->stats_switches++;
        char why[160];
        snprintf (why, sizeof why, "%.20s -> %.20s after %u readings (result %.8s from %.30s)",
                  was[0] ? was : "-", self->variant.current, self->variant.count, result, source);
        mw_warn ("deploy_variant", "variant=%s reason=%s", mw_logv (self->variant.current), mw_logq (why));
        for (int i = 0; i < DEPLOY_BOX_SLOTS; i++)
            if (self->slot[i].used && self->slot[i].want.variant_by[0]) {
                deploy_rollout_t r = {0};
                snprintf (r.name, sizeof r.name, "%s", self->slot[i].want.name);
                snprintf (r.version, sizeof r.version, "%s", self->variant.current);
                snprintf (r.slot, sizeof r.slot, "%s", self->slot[i].slot);
                s_rollout_event (self, "variant", &r, why);
            }
        self->next_tick_ms = 0;
        self->report_dirty = true;
    }
}

static void
s_on_env (void *ctx, const char *result, const char *source)
{
    s_env_result ((node_deploy_t *) ctx, result, source);
}

//  Bring the slots in line with our entries in the plan.
static void
s_converge (node_deploy_t *self, uint64_t now)
{
    //  Every variant of a package deployed by variant, fetched ahead.
    if (now >= self->next_prefetch_ms) {
        self->next_prefetch_ms = now + 2000;
        for (int i = 0; i < DEPLOY_BOX_SLOTS; i++)
            if (self->slot[i].used && self->slot[i].want.variant_by[0]) {
                char v[PKG_VERSION_MAX + 1];
                s_variant_pkg (self, self->slot[i].want.name, self->slot[i].want.variant_by, NULL, v,
                               sizeof v, true);
            }
    }
    for (size_t i = 0; i < deploy_plan_entries (self->plan); i++) {
        const deploy_entry_t *e = deploy_plan_entry_at (self->plan, i);
        if (!s_is_me (self, &e->box))
            continue;
        s_slot_t *s = s_slot_find (self, e->slot, e->name[0] != 0);
        if (!s)
            continue;
        if (deploy_stamp_cmp (&s->want.stamp, &e->stamp) != 0) {
            bool same = !strcmp (s->want.name, e->name) && !strcmp (s->want.version, e->version);
            mw_info ("deploy_entry", "slot=%s package=%s@%s fallback=%s term=%" PRIu64 " seq=%" PRIu64,
                     mw_logv (e->slot), mw_logv (e->name), mw_logv (e->version), mw_logv (e->fallback),
                     e->stamp.b.n, e->stamp.seq);
            s->want = *e;
            if (!same) {
                s->failures = 0;
                s->rolled_back = false;
                s->restarts = 0;
                s->redeploy = false;
                s->state = DEPLOY_PENDING;
                s->error[0] = 0;
            }
            self->report_dirty = true;
        }
    }
    s_scan_collect (self, now);
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++)
        if (self->slot[i].used)
            s_slot_step (self, &self->slot[i], now);
}

//  ---------------------------------------------------------------------------
//  The coordinator

static void
s_note (void *ctx, const char *event, const deploy_rollout_t *r, const char *detail)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    mw_info ("deploy_rollout", "event=%s package=%s@%s slot=%s wave=%u reason=%s", event, mw_logv (r->name),
             mw_logv (r->version), mw_logv (r->slot), r->wave, mw_logq (detail));
    s_rollout_event (self, event + 8, r, detail);   //  "rollout." prefix off: deploy.wave, .done, .stopped
}

static void
s_coordinate (node_deploy_t *self, uint64_t now)
{
    if (!election_is_coordinator (self->o.election)) {
        self->coord_since = 0;
        return;
    }
    election_ballot_t b;
    election_ballot (self->o.election, &b);
    if (!self->coord_since || election_ballot_cmp (&b, &self->coord_b) != 0) {
        self->coord_b = b;
        self->coord_since = now;
        self->plan_dirty = true;
        return;
    }
    if (now - self->coord_since < S_ADOPT_MS)
        return;
    bool changed = deploy_plan_adopt (self->plan, &b) == 1;
    if (changed)
        mw_info ("deploy_adopted", "term=%" PRIu64 " entries=%zu", b.n, deploy_plan_entries (self->plan));
    for (size_t i = 0; i < self->n_cmds; i++) {
        char err[128];
        if (deploy_plan_apply (self->plan, &b, &self->cmds[i], err, sizeof err) == 0) {
            changed = true;
            mw_info ("deploy_applied", "op=%s package=%s@%s boxes=%u waves=%u",
                     self->cmds[i].op == DEPLOY_CMD_DEPLOY ? "deploy" : "undeploy",
                     mw_logv (self->cmds[i].name), mw_logv (self->cmds[i].version), self->cmds[i].n_boxes,
                     self->cmds[i].waves);
        }
        else
            mw_warn ("deploy_refused", "package=%s reason=%s", mw_logv (self->cmds[i].name), mw_logq (err));
    }
    self->n_cmds = 0;
    if (now >= self->next_rollout_ms) {
        self->next_rollout_ms = now + S_ROLLOUT_MS;
        //  The reports of the members in the view: fresh ones as they are,
        //  a member with none yet as an empty one (not healthy).
        gossip_member_info_t *m = malloc (S_REPORTS_MAX * sizeof *m);
        deploy_report_t *reps = malloc (S_REPORTS_MAX * sizeof *reps);
        size_t n = 0;
        if (m && reps) {
            size_t k = gossip_member_list (self->o.members, m, S_REPORTS_MAX);
            for (size_t i = 0; i < k && n < S_REPORTS_MAX; i++) {
                if (m[i].state != MW_STATE_ALIVE && m[i].state != MW_STATE_SUSPECT && !m[i].is_self)
                    continue;
                s_report_t *r = s_report_slot (self, &m[i].id, false);
                if (r && now - r->at_ms <= S_REPORT_TTL_MS)
                    reps[n] = r->r;
                else {
                    memset (&reps[n], 0, sizeof reps[n]);
                    reps[n].box = m[i].id;
                }
                n++;
            }
            if (deploy_plan_rollout_step (self->plan, &b, reps, n, now, self->o.wave_timeout_ms, s_note, self)
                > 0)
                changed = true;
        }
        free (m);
        free (reps);
    }
    if (changed)
        s_plan_changed (self);
}

//  ---------------------------------------------------------------------------
//  Messages

//  A stamp's ballot is believable here: not above what this box has seen,
//  or acceptable as the next coordinator's.
static bool
s_ballot_ok (node_deploy_t *self, const election_ballot_t *b)
{
    election_ballot_t hi;
    election_ballot (self->o.election, &hi);
    return election_ballot_cmp (b, &hi) <= 0 || election_accept_decision (self->o.election, b);
}

static void
s_on_plan (node_deploy_t *self, const mw_msg_t *msg)
{
    deploy_plan_t *in = deploy_plan_unpack (msg->deploy, msg->deploy_len);
    if (!in) {
        self->stats_plans_refused++;
        mw_warn ("deploy_plan_malformed", "from=%s bytes=%u", mw_logv (""), msg->deploy_len);
        return;
    }
    self->stats_plans_in++;
    deploy_plan_t *ok = deploy_plan_new ();
    if (ok) {
        for (size_t i = 0; i < deploy_plan_epochs (in); i++)
            if (s_ballot_ok (self, &deploy_plan_epoch_at (in, i)->ballot))
                deploy_plan_merge_epoch (ok, deploy_plan_epoch_at (in, i));
        for (size_t i = 0; i < deploy_plan_entries (in); i++)
            if (s_ballot_ok (self, &deploy_plan_entry_at (in, i)->stamp.b))
                deploy_plan_merge_entry (ok, deploy_plan_entry_at (in, i));
        for (size_t i = 0; i < deploy_plan_rollouts (in); i++)
            if (s_ballot_ok (self, &deploy_plan_rollout_at (in, i)->stamp.b))
                deploy_plan_merge_rollout (ok, deploy_plan_rollout_at (in, i));
        if (deploy_plan_merge (self->plan, ok) > 0)
            s_plan_changed (self);
        deploy_plan_destroy (&ok);
    }
    deploy_plan_destroy (&in);
}

void
node_deploy_handle (node_deploy_t *self, const mw_msg_t *msg, uint64_t now)
{
    if (msg->type == MW_MSG_DEPLOY_PLAN)
        s_on_plan (self, msg);
    else if (msg->type == MW_MSG_DEPLOY_REPORT) {
        deploy_report_t r;
        //  A box speaks for itself only.
        if (deploy_report_unpack (msg->deploy, msg->deploy_len, &r) != 0 || !mw_id_eq (&r.box, &msg->sender))
            return;
        s_report_t *slot = s_report_slot (self, &r.box, true);
        if (slot) {
            slot->r = r;
            slot->at_ms = now;
        }
    }
    else if (msg->type == MW_MSG_DEPLOY_CMD) {
        deploy_cmd_t c;
        if (deploy_cmd_unpack (msg->deploy, msg->deploy_len, &c) != 0)
            return;
        if (!election_is_coordinator (self->o.election)) {
            mw_warn ("deploy_cmd_not_coordinator", "package=%s", mw_logv (c.name));
            return;
        }
        if (self->n_cmds < S_CMDS_MAX) {
            self->cmds[self->n_cmds++] = c;
            self->stats_cmds++;
            self->next_tick_ms = 0;
        }
    }
}

//  ---------------------------------------------------------------------------
//  The loop service

static int
s_items (void *ctx, zmq_pollitem_t *items, int max)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    int n = 0;
    for (int i = 0; i < DEPLOY_BOX_SLOTS && n < max; i++) {
        if (self->slot[i].used && self->slot[i].sup)
            n += node_sup_pollitems (self->slot[i].sup, items + n, max - n);
        if (self->slot[i].used && self->slot[i].old_sup && n < max)
            n += node_sup_pollitems (self->slot[i].old_sup, items + n, max - n);
    }
    return n;
}

static void
s_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        if (self->slot[i].used && self->slot[i].sup && node_sup_owns (self->slot[i].sup, item)) {
            node_sup_readable (self->slot[i].sup, item, now);
            return;
        }
        if (self->slot[i].used && self->slot[i].old_sup && node_sup_owns (self->slot[i].old_sup, item)) {
            node_sup_readable (self->slot[i].old_sup, item, now);
            return;
        }
    }
}

static void
s_tick (void *ctx, uint64_t now)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        if (self->slot[i].used && self->slot[i].sup)
            node_sup_tick (self->slot[i].sup, now);
        if (self->slot[i].used && self->slot[i].old_sup)
            node_sup_tick (self->slot[i].old_sup, now);
    }
    s_engine_poll (self);
    if (now >= self->next_tick_ms) {
        self->next_tick_ms = now + S_TICK_MS;
        s_coordinate (self, now);
        s_converge (self, now);
        //  A newcomer (or a member back from the dead) gets our report now,
        //  not at the next refresh.
        gossip_member_info_t *m = malloc (S_REPORTS_MAX * sizeof *m);
        if (m && s_peers_print (m, s_peers (self, m, S_REPORTS_MAX)) != self->report_print)
            self->report_dirty = true;
        free (m);
    }
    if (self->plan_dirty) {
        self->plan_dirty = false;
        s_push_plan (self, true);
        self->next_push_ms = now + S_PUSH_MS;
    }
    else if (now >= self->next_push_ms) {
        s_push_plan (self, false);
        self->next_push_ms = now + S_PUSH_MS;
    }
    if (self->report_dirty || now >= self->next_report_ms) {
        //  A change goes at once and again 1 s and 3 s later (reports are
        //  datagrams on a lossy link: the coordinator's rollout waits on
        //  them), then the unchanged report every S_REPORT_MS: an idle
        //  mesh of 20 paid ~0.36 KB/s per box at 5 s.
        if (self->report_dirty)
            self->report_repeats = 2;
        self->report_dirty = false;
        s_send_report (self, now);
        if (self->report_repeats > 0)
            self->next_report_ms = now + (self->report_repeats-- == 2 ? 1000 : 2000);
        else
            self->next_report_ms = now + S_REPORT_MS;
    }
}

static uint64_t
s_wakeup (void *ctx, uint64_t now)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    uint64_t w = self->next_tick_ms;
    if (self->next_push_ms < w)
        w = self->next_push_ms;
    if (self->next_report_ms < w)
        w = self->next_report_ms;
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        if (self->slot[i].used && self->slot[i].sup) {
            uint64_t s = node_sup_next_wakeup (self->slot[i].sup, now);
            if (s < w)
                w = s;
        }
        if (self->slot[i].used && self->slot[i].old_sup) {
            uint64_t s = node_sup_next_wakeup (self->slot[i].old_sup, now);
            if (s < w)
                w = s;
        }
    }
    if (self->engine_probe > 0 && now + 100 < w)
        w = now + 100;
    return w;
}

static uint64_t
s_leave (void *ctx, uint64_t now)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    //  Programs stop with the agent: SIGTERM now, the agent's exit kills
    //  what is left (node_deploy_destroy).
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        if (self->slot[i].used && self->slot[i].sup)
            node_sup_stop (self->slot[i].sup, now);
        if (self->slot[i].used && self->slot[i].old_sup)
            node_sup_stop (self->slot[i].old_sup, now);
    }
    return now;
}

void
node_deploy_service (node_deploy_t *self, node_service_t *svc)
{
    *svc = (node_service_t){"deploy", self, s_items, s_readable, s_tick, s_wakeup, s_leave};
}

//  ---------------------------------------------------------------------------
//  Control: deploy, undeploy, deployments, rollout

//  Resolve targets: "all", or a comma-separated list of names or id
//  prefixes, and/or where=name=GLOB.  Returns how many, -1 with err.
static int
s_targets (node_deploy_t *self, const char *to, const char *where, deploy_cmd_t *c, char *err, size_t errlen)
{
    gossip_member_info_t *m = malloc (S_REPORTS_MAX * sizeof *m);
    if (!m) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    size_t n = gossip_member_list (self->o.members, m, S_REPORTS_MAX);
    c->n_boxes = 0;
    //  The canary is the first box; keep the order stable (by name).
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp (m[j].name, m[i].name) < 0) {
                gossip_member_info_t t = m[i];
                m[i] = m[j];
                m[j] = t;
            }
    int rc = 0;
    if (to && *to && strcmp (to, "all") != 0) {
        char list[256];
        snprintf (list, sizeof list, "%s", to);
        char *save = NULL;
        for (char *tok = strtok_r (list, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) {
                char hex[MW_ID_HEX_LEN + 1];
                s_id_hex (&m[i].id, hex);
                if (!strcmp (m[i].name, tok) || (strlen (tok) >= 4 && !strncmp (hex, tok, strlen (tok)))) {
                    found = true;
                    if (c->n_boxes < DEPLOY_ROLLOUT_BOXES)
                        c->box[c->n_boxes++] = m[i].id;
                }
            }
            if (!found) {
                snprintf (err, errlen, "no member named %.60s", tok);
                rc = -1;
                break;
            }
        }
    }
    else
        for (size_t i = 0; i < n && c->n_boxes < DEPLOY_ROLLOUT_BOXES; i++) {
            if (m[i].state != MW_STATE_ALIVE && m[i].state != MW_STATE_SUSPECT && !m[i].is_self)
                continue;
            if (where && *where) {
                if (strncmp (where, "name=", 5) != 0) {
                    snprintf (err, errlen, "--where knows name=GLOB");
                    rc = -1;
                    break;
                }
                if (fnmatch (where + 5, m[i].name, 0) != 0)
                    continue;
            }
            c->box[c->n_boxes++] = m[i].id;
        }
    free (m);
    if (rc == 0 && c->n_boxes == 0) {
        snprintf (err, errlen, "no box matches");
        rc = -1;
    }
    return rc < 0 ? -1 : (int) c->n_boxes;
}

//  Hand a command to the coordinator (ourselves, or over the mesh).
static json_object *
s_submit (node_deploy_t *self, const deploy_cmd_t *c)
{
    mw_id_t coord;
    if (!election_coordinator (self->o.election, &coord))
        return node_control_error ("unavailable", "no coordinator yet: try again in a moment");
    char hex[MW_ID_HEX_LEN + 1];
    s_id_hex (&coord, hex);
    if (s_is_me (self, &coord)) {
        if (self->n_cmds >= S_CMDS_MAX)
            return node_control_error ("unavailable", "too many commands waiting");
        self->cmds[self->n_cmds++] = *c;
        self->stats_cmds++;
        self->next_tick_ms = 0;
    }
    else {
        uint8_t *buf;
        size_t len;
        if (deploy_cmd_pack (c, &buf, &len) != 0)
            return node_control_error ("internal", "cannot pack the command");
        s_send (self, &coord, MW_MSG_DEPLOY_CMD, buf, len);
        free (buf);
    }
    json_object *o = json_object_new_object ();
    mw_json_add (o, "coordinator", mw_json_str (hex));
    mw_json_add (o, "package", mw_json_str (c->name));
    mw_json_add (o, "version", mw_json_str (c->version));
    json_object *boxes = json_object_new_array ();
    for (uint32_t i = 0; i < c->n_boxes; i++) {
        s_id_hex (&c->box[i], hex);
        json_object_array_add (boxes, mw_json_str (hex));
    }
    mw_json_add (o, "boxes", boxes);
    return o;
}

//  Copy a name; false when it does not fit (refused, never cut).
static bool
s_copy (char *dst, size_t cap, const char *src)
{
    size_t n = strlen (src);
    if (n >= cap)
        return false;
    memcpy (dst, src, n + 1);
    return true;
}

//  "key=value" tokens of a request.
static const char *
s_arg (const char *args, const char *key, char *out, size_t cap)
{
    size_t kl = strlen (key);
    const char *p = args;
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!strncmp (p, key, kl) && p[kl] == '=') {
            size_t n = strcspn (p + kl + 1, " ");
            snprintf (out, cap, "%.*s", (int) (n < cap ? n : cap - 1), p + kl + 1);
            return out;
        }
        p = strchr (p, ' ');
    }
    out[0] = 0;
    return NULL;
}

static json_object *
s_ctl_deploy (void *ctx, const node_control_req_t *req)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    char ref[128], to[256], where[128], slot[32], vb[32], waves[8], health[16];
    deploy_cmd_t c = {.op = DEPLOY_CMD_DEPLOY};
    s_arg (req->args, "pkg", ref, sizeof ref);
    char *at = strchr (ref, '@');
    if (!at)
        return node_control_error ("bad_request", "deploy needs NAME@VERSION");
    *at = 0;
    s_arg (req->args, "slot", slot, sizeof slot);
    s_arg (req->args, "variant_by", vb, sizeof vb);
    if (!s_copy (c.name, sizeof c.name, ref) || !s_copy (c.version, sizeof c.version, at + 1)
        || !s_copy (c.slot, sizeof c.slot, slot[0] ? slot : "main")
        || !s_copy (c.variant_by, sizeof c.variant_by, vb))
        return node_control_error ("bad_request", "a name, version, slot or variant key is too long");
    c.waves = (uint8_t) atoi (s_arg (req->args, "waves", waves, sizeof waves) ? waves : "0");
    c.health_ms =
        (uint32_t) atoi (s_arg (req->args, "health_s", health, sizeof health) ? health : "30") * 1000u;
    if (!deploy_name_ok (c.name, sizeof c.name) || !deploy_name_ok (c.version, sizeof c.version)
        || !deploy_name_ok (c.slot, sizeof c.slot)
        || (c.variant_by[0] && !deploy_name_ok (vb, sizeof c.variant_by)) || c.waves > DEPLOY_WAVES_MAX)
        return node_control_error ("bad_request", "bad name, version, slot, variant key or waves");
    s_arg (req->args, "to", to, sizeof to);
    s_arg (req->args, "where", where, sizeof where);
    char err[128];
    if (s_targets (self, to, where, &c, err, sizeof err) < 0)
        return node_control_error ("bad_request", "%s", err);
    return s_submit (self, &c);
}

static json_object *
s_ctl_undeploy (void *ctx, const node_control_req_t *req)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    char name[80], to[256], where[128], slot[32];
    deploy_cmd_t c = {.op = DEPLOY_CMD_UNDEPLOY};
    s_arg (req->args, "pkg", name, sizeof name);
    char *at = strchr (name, '@');
    if (at)
        *at = 0;
    s_arg (req->args, "slot", slot, sizeof slot);
    if (!s_copy (c.name, sizeof c.name, name) || !s_copy (c.slot, sizeof c.slot, slot))
        return node_control_error ("bad_request", "a name or slot is too long");
    if (!deploy_name_ok (c.name, sizeof c.name) || (c.slot[0] && !deploy_name_ok (c.slot, sizeof c.slot)))
        return node_control_error ("bad_request", "undeploy needs NAME");
    s_arg (req->args, "to", to, sizeof to);
    s_arg (req->args, "where", where, sizeof where);
    char err[128];
    if ((to[0] && strcmp (to, "all")) || where[0]) {
        if (s_targets (self, to, where, &c, err, sizeof err) < 0)
            return node_control_error ("bad_request", "%s", err);
    }
    return s_submit (self, &c);
}

static json_object *
s_stamp_json (const deploy_stamp_t *s)
{
    json_object *o = json_object_new_object ();
    char hex[MW_ID_HEX_LEN + 1];
    s_id_hex (&s->b.id, hex);
    mw_json_add (o, "term", mw_json_u64 (s->b.n));
    mw_json_add (o, "by", mw_json_str (hex));
    mw_json_add (o, "seq", mw_json_u64 (s->seq));
    return o;
}

static json_object *
s_rollout_json (const deploy_rollout_t *r)
{
    json_object *o = json_object_new_object ();
    mw_json_add (o, "package", mw_json_str (r->name));
    mw_json_add (o, "version", mw_json_str (r->version));
    mw_json_add (o, "slot", mw_json_str (r->slot));
    mw_json_add (o, "state", mw_json_str (deploy_rollout_state_name (r->state)));
    mw_json_add (o, "wave", mw_json_u64 (r->wave));
    mw_json_add (o, "waves", mw_json_u64 (r->waves));
    mw_json_add (o, "health_s", mw_json_num (r->health_ms / 1000.0, -1));
    mw_json_add (o, "reason", mw_json_str (r->reason));
    json_object *boxes = json_object_new_array ();
    for (uint32_t i = 0; i < r->n_boxes; i++) {
        json_object *b = json_object_new_object ();
        char hex[MW_ID_HEX_LEN + 1];
        s_id_hex (&r->box[i], hex);
        mw_json_add (b, "box", mw_json_str (hex));
        mw_json_add (b, "wave", mw_json_u64 (r->box_wave[i]));
        json_object_array_add (boxes, b);
    }
    mw_json_add (o, "boxes", boxes);
    mw_json_add (o, "stamp", s_stamp_json (&r->stamp));
    return o;
}

static json_object *
s_ctl_deployments (void *ctx, const node_control_req_t *req)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    uint64_t now = req->now_ms;
    json_object *o = json_object_new_object ();
    char hex[MW_ID_HEX_LEN + 1], dg[20];
    mw_id_t coord;
    if (election_coordinator (self->o.election, &coord)) {
        s_id_hex (&coord, hex);
        mw_json_add (o, "coordinator", mw_json_str (hex));
    }
    else
        mw_json_add (o, "coordinator", NULL);
    snprintf (dg, sizeof dg, "%016" PRIx64, deploy_plan_digest (self->plan));
    mw_json_add (o, "plan_digest", mw_json_str (dg));
    //  Our own report, fresh.
    deploy_report_t mine;
    s_my_report (self, &mine, now);
    s_report_t *ms = s_report_slot (self, &mine.box, true);
    if (ms) {
        ms->r = mine;
        ms->at_ms = now;
    }
    json_object *arr = json_object_new_array ();
    for (size_t i = 0; i < deploy_plan_entries (self->plan); i++) {
        const deploy_entry_t *e = deploy_plan_entry_at (self->plan, i);
        if (!e->name[0])
            continue;   //  undeployed
        json_object *row = json_object_new_object ();
        s_id_hex (&e->box, hex);
        gossip_member_info_t mi;
        bool known = gossip_member_lookup (self->o.members, &e->box, &mi) == 0;
        mw_json_add (row, "box", mw_json_str (hex));
        mw_json_add (row, "name", mw_json_str (known ? mi.name : ""));
        mw_json_add (row, "slot", mw_json_str (e->slot));
        mw_json_add (row, "package", mw_json_str (e->name));
        mw_json_add (row, "version", mw_json_str (e->version));
        mw_json_add (row, "fallback", mw_json_str (e->fallback));
        mw_json_add (row, "variant_by", mw_json_str (e->variant_by));
        mw_json_add (row, "stamp", s_stamp_json (&e->stamp));
        s_report_t *r = s_report_slot (self, &e->box, false);
        const deploy_actual_t *a = NULL;
        for (uint32_t k = 0; r && k < r->r.n; k++)
            if (!strcmp (r->r.slot[k].slot, e->slot))
                a = &r->r.slot[k];
        json_object *act = json_object_new_object ();
        bool current = a && !strcmp (a->name, e->name) && !strcmp (a->version, e->version);
        mw_json_add (act, "state", mw_json_str (a ? deploy_state_name (a->state) : "pending"));
        mw_json_add (act, "current", mw_json_bool (current));
        mw_json_add (act, "version", mw_json_str (a ? a->version : ""));
        mw_json_add (act, "active", mw_json_str (a ? a->active : ""));
        mw_json_add (act, "variant", mw_json_str (a ? a->variant : ""));
        mw_json_add (act, "restarts", mw_json_u64 (a ? a->restarts : 0));
        mw_json_add (act, "running_s", mw_json_num (a ? a->running_ms / 1000.0 : 0, 1));
        mw_json_add (act, "error", mw_json_str (a ? a->error : ""));
        mw_json_add (act, "report_age_s", r ? mw_json_num ((double) (now - r->at_ms) / 1000.0, 1) : NULL);
        mw_json_add (row, "actual", act);
        json_object_array_add (arr, row);
    }
    mw_json_add (o, "deployments", arr);
    json_object *ro = json_object_new_array ();
    for (size_t i = 0; i < deploy_plan_rollouts (self->plan); i++)
        json_object_array_add (ro, s_rollout_json (deploy_plan_rollout_at (self->plan, i)));
    mw_json_add (o, "rollouts", ro);
    return o;
}

static json_object *
s_ctl_rollout (void *ctx, const node_control_req_t *req)
{
    node_deploy_t *self = (node_deploy_t *) ctx;
    (void) req;
    json_object *o = json_object_new_object ();
    json_object *ro = json_object_new_array ();
    for (size_t i = 0; i < deploy_plan_rollouts (self->plan); i++)
        json_object_array_add (ro, s_rollout_json (deploy_plan_rollout_at (self->plan, i)));
    mw_json_add (o, "rollouts", ro);
    return o;
}

int
node_deploy_control_register (node_deploy_t *self, node_control_t *ctl)
{
    int rc = node_control_on (ctl, "deploy", 1, s_ctl_deploy, self);
    rc |= node_control_on (ctl, "undeploy", 1, s_ctl_undeploy, self);
    rc |= node_control_on (ctl, "deployments", 1, s_ctl_deployments, self);
    rc |= node_control_on (ctl, "rollout", 1, s_ctl_rollout, self);
    return rc;
}

json_object *
node_deploy_status_json (node_deploy_t *self)
{
    json_object *o = json_object_new_object ();
    char dg[20];
    snprintf (dg, sizeof dg, "%016" PRIx64, deploy_plan_digest (self->plan));
    mw_json_add (o, "plan_digest", mw_json_str (dg));
    mw_json_add (o, "entries", mw_json_u64 (deploy_plan_entries (self->plan)));
    mw_json_add (o, "plans_in", mw_json_u64 (self->stats_plans_in));
    mw_json_add (o, "plans_refused", mw_json_u64 (self->stats_plans_refused));
    mw_json_add (o, "commands", mw_json_u64 (self->stats_cmds));
    mw_json_add (o, "repairs", mw_json_u64 (self->stats_repairs));
    mw_json_add (o, "rollbacks", mw_json_u64 (self->stats_rollbacks));
    mw_json_add (o, "engine", mw_json_str (self->engine[0] ? self->engine : "unknown"));
    mw_json_add (o, "variant", self->variant.chosen ? mw_json_str (self->variant.current) : NULL);
    mw_json_add (o, "variant_switches", mw_json_u64 (self->stats_switches));
    return o;
}

//  ---------------------------------------------------------------------------

node_deploy_t *
node_deploy_new (const node_deploy_opts_t *opts, char *err, size_t errlen)
{
    node_deploy_t *self = (node_deploy_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->o = *opts;
    snprintf (self->state_dir, sizeof self->state_dir, "%s", opts->state_dir);
    snprintf (self->node_name, sizeof self->node_name, "%s", opts->node_name ? opts->node_name : "");
    snprintf (self->cgroup_root, sizeof self->cgroup_root, "%s", opts->cgroup_root ? opts->cgroup_root : "");
    snprintf (self->engine_pref, sizeof self->engine_pref, "%s",
              opts->container_engine && *opts->container_engine ? opts->container_engine : "auto");
    self->o.state_dir = self->state_dir;
    snprintf (self->env_map, sizeof self->env_map, "%s", opts->env_result_map ? opts->env_result_map : "");
    if (!self->o.env_switch_readings)
        self->o.env_switch_readings = 3;
    if (opts->vms)
        node_vms_on_env (opts->vms, s_on_env, self);
    if (!self->o.check_ms)
        self->o.check_ms = 60000;
    if (!self->o.wave_timeout_ms)
        self->o.wave_timeout_ms = 600000;
    self->rng = (uint64_t) time (NULL) ^ ((uint64_t) getpid () << 32);
    for (int i = 0; i < MW_ID_LEN; i++)
        self->rng = self->rng * 131 + opts->ident->id.b[i];
    self->cat = pkg_catalog_open (self->state_dir, err, errlen);
    if (!self->cat) {
        free (self);
        return NULL;
    }
    //  The plan as it was (a restart, a kill -9): the last whole file.
    char path[700];
    s_plan_path (self, path, sizeof path);
    size_t len = 0;
    char perr[200];
    char *buf = pkg_file_read (path, MW_DEPLOY_PLAN_BYTES, &len, perr, sizeof perr);
    if (buf) {
        self->plan = deploy_plan_unpack ((const uint8_t *) buf, len);
        if (!self->plan)
            mw_warn ("deploy_plan_unreadable", "path=%s reason=\"malformed: starting empty, peers fill it\"",
                     mw_logv (path));
        free (buf);
    }
    if (!self->plan)
        self->plan = deploy_plan_new ();
    if (!self->plan) {
        pkg_catalog_destroy (&self->cat);
        free (self);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    return self;
}

void
node_deploy_destroy (node_deploy_t **self_p)
{
    assert (self_p);
    node_deploy_t *self = *self_p;
    if (!self)
        return;
    if (self->scan_running && self->scan_threaded)
        pthread_join (self->scan_thread, NULL);   //  at most one package's hashing
    pkg_scan_destroy (&self->scan);
    for (int i = 0; i < DEPLOY_BOX_SLOTS; i++) {
        node_sup_destroy (&self->slot[i].sup);
        node_sup_destroy (&self->slot[i].old_sup);
    }
    if (self->engine_probe > 0) {
        kill (self->engine_probe, SIGKILL);
        waitpid (self->engine_probe, NULL, 0);
    }
    deploy_plan_destroy (&self->plan);
    pkg_catalog_destroy (&self->cat);
    free (self);
    *self_p = NULL;
}
