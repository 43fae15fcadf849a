/*  =========================================================================
    node_cli - control-socket client and the text views (see cli_render.h).
    ========================================================================= */
#include "node/cli_render.h"
#include "common/sanitize.h"
#include "common/json.h"
#include "common/selftest.h"
#include "node/control.h"

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALL_TIMEOUT_MS 2000

//  --------------------------------------------------------------------------
//  Terminal-safe text

char *
node_cli_safe (const char *s, char *out, size_t cap)
{
    //  One escaper for every string that reaches a terminal or a log
    //  (common/sanitize.h): control bytes, invalid UTF-8, C1 and bidi or
    //  invisible code points escaped; a cut never splits a character.
    if (!cap)
        return out;
    return mw_sanitize (out, cap, s, SIZE_MAX, MW_SANITIZE_TERM);
}

//  A table cell: safe text, cut to `width` characters (marked with '~'),
//  padded to it.
static void
s_cell (mw_strbuf_t *out, const char *text, int width)
{
    char safe[512];
    node_cli_safe (text, safe, sizeof safe);
    int chars = 0;
    size_t cut = 0;
    for (const char *p = safe; *p;) {
        size_t n = mw_json_utf8_seq (p);
        if (!n)
            n = 1;
        if (chars == width) {
            //  Longer than the column: the last character becomes '~'.
            size_t last = cut;
            while (last > 0 && ((unsigned char) safe[last - 1] & 0xc0) == 0x80)
                last--;
            if (last > 0)
                last--;
            safe[last] = '~';
            safe[last + 1] = 0;
            cut = last + 1;
            break;
        }
        chars++;
        p += n;
        cut = (size_t) (p - safe);
    }
    safe[cut] = 0;
    mw_strbuf_printf (out, "%s%*s", safe, width > chars ? width - chars : 0, "");
}

//  --------------------------------------------------------------------------
//  Views

static json_object *
s_at (json_object *a, size_t i)
{
    return a && json_object_is_type (a, json_type_array) && i < json_object_array_length (a)
               ? json_object_array_get_idx (a, i)
               : NULL;
}

static double
s_idx_num (json_object *a, size_t i)
{
    json_object *v = s_at (a, i);
    return v ? json_object_get_double (v) : NAN;
}

static void
s_members (mw_strbuf_t *out, json_object *list, json_object *status)
{
    mw_strbuf_printf (out, " %-16s  %-20s  %-26s  %-7s  %11s  %10s", "ID", "NAME", "ADDRESS", "STATE",
                      "INCARNATION", "HEARD");
    mw_strbuf_printf (out, "  CPU%%  MEM%%  GPU%%      Q  CPU@h0  CPU@h1  UB@h0  HEAD%%     AGE\n");
    size_t n = json_object_is_type (list, json_type_array) ? json_object_array_length (list) : 0;
    size_t alive = 0;
    const char *coord = NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *m = s_at (list, i);
        bool is_coord = mw_json_get_bool (m, "coordinator", false);
        if (is_coord)
            coord = mw_json_get_str (m, "id", "?");
        const char *state = mw_json_get_str (m, "state", "?");
        alive += !strcmp (state, "alive");
        char heard[32];
        if (mw_json_get_bool (m, "self", false))
            snprintf (heard, sizeof heard, "(self)");
        else if (!mw_json_get (m, "last_heard_ms"))
            snprintf (heard, sizeof heard, "never");
        else
            snprintf (heard, sizeof heard, "%.1fs ago", mw_json_get_num (m, "last_heard_ms", 0) / 1000.0);
        //  The coordinator is marked with a '*' before its id.
        mw_strbuf_printf (out, "%s", is_coord ? "*" : " ");
        s_cell (out, mw_json_get_str (m, "id", "?"), 16);
        mw_strbuf_printf (out, "  ");
        s_cell (out, mw_json_get_str (m, "name", ""), 20);
        mw_strbuf_printf (out, "  ");
        s_cell (out, mw_json_get_str (m, "addr", ""), 26);
        mw_strbuf_printf (out, "  ");
        s_cell (out, state, 7);
        mw_strbuf_printf (out, "  %11llu  %10s", (unsigned long long) mw_json_get_u64 (m, "incarnation", 0),
                          heard);
        json_object *l = mw_json_get (m, "load");
        if (!l || !json_object_is_type (l, json_type_object))
            mw_strbuf_printf (out, "  %4s  %4s  %4s  %5s  %6s  %6s  %5s  %5s  %6s", "-", "-", "-", "-", "-",
                              "-", "-", "-", "-");
        else {
            char gpu[16];
            if (mw_json_get (l, "gpu"))
                snprintf (gpu, sizeof gpu, "%4.0f", mw_json_get_num (l, "gpu", 0));
            else
                snprintf (gpu, sizeof gpu, "%4s", "-");
            json_object *fc = mw_json_get (mw_json_get (l, "forecast"), "cpu");
            json_object *ub = mw_json_get (mw_json_get (l, "upper"), "cpu");
            mw_strbuf_printf (out, "  %4.0f  %4.0f  %s  %5.0f  %6.1f  %6.1f  %5.1f  %5.1f  %5.1fs",
                              mw_json_get_num (l, "cpu", 0), mw_json_get_num (l, "memory", 0), gpu,
                              mw_json_get_num (l, "queue", 0), s_idx_num (fc, 0), s_idx_num (fc, 1),
                              s_idx_num (ub, 0), mw_json_get_num (l, "headroom", 0),
                              mw_json_get_num (l, "age_ms", 0) / 1000.0);
        }
        mw_strbuf_printf (out, "\n");
    }
    mw_strbuf_printf (out, "%zu members, %zu alive", n, alive);
    if (coord) {
        char safe[64];
        mw_strbuf_printf (out, "; * coordinator %s", node_cli_safe (coord, safe, sizeof safe));
        if (mw_json_get (status, "term"))
            mw_strbuf_printf (out, " (term %.0f)", mw_json_get_num (status, "term", 0));
    }
    else
        mw_strbuf_printf (out, "; no coordinator");
    mw_strbuf_printf (out, "\n");
}

//  One line for a daemon's "jobs" object of `status`.
static void
s_jobs_summary (mw_strbuf_t *out, json_object *j)
{
    json_object *dp = mw_json_get (j, "data_plane");
    char addr[160];
    mw_strbuf_printf (
        out,
        "jobs        %s: %.0f workers, queue %.0f/%.0f, svc %.1f ms; submitted %.0f, done %.0f, "
        "failed %.0f (local %.0f, peer %.0f, server %.0f), ran for peers %.0f\n",
        node_cli_safe (mw_json_get_str (j, "data_addr", "-"), addr, sizeof addr),
        mw_json_get_num (j, "workers", 0), mw_json_get_num (j, "queue", 0),
        mw_json_get_num (j, "queue_max", 0), mw_json_get_num (j, "svc_ms", 0),
        mw_json_get_num (j, "submitted", 0), mw_json_get_num (j, "done", 0), mw_json_get_num (j, "failed", 0),
        mw_json_get_num (j, "local", 0), mw_json_get_num (j, "peer", 0), mw_json_get_num (j, "server", 0),
        mw_json_get_num (j, "ran_for_peers", 0));
    if (dp) {
        mw_strbuf_printf (out, "data plane  in %.0f msgs, out %.0f msgs, dropped %.0f; rejected",
                          mw_json_get_num (dp, "msgs_in", 0), mw_json_get_num (dp, "msgs_out", 0),
                          mw_json_get_num (dp, "send_dropped", 0));
        json_object *rej = mw_json_get (dp, "rejected");
        if (rej && json_object_is_type (rej, json_type_object)) {
            json_object_object_foreach (rej, k, v)
            {
                mw_strbuf_printf (out, " %s=%.0f", k, json_object_get_double (v));
            }
        }
        mw_strbuf_printf (out, "\n");
    }
}

//  The VMS interface's part of status: the log, the API, the outboxes.
static void
s_vms_summary (mw_strbuf_t *out, json_object *v)
{
    char a[200];
    json_object *l = mw_json_get (v, "log");
    mw_strbuf_printf (out,
                      "event log   epoch %llu, seq %llu..%llu, queued %.0f, dropped %.0f, %.0f commits "
                      "(largest %.0f, slowest %.1f ms)\n",
                      (unsigned long long) mw_json_get_u64 (l, "epoch", 0),
                      (unsigned long long) mw_json_get_u64 (l, "oldest", 0),
                      (unsigned long long) mw_json_get_u64 (l, "last", 0), mw_json_get_num (l, "queued", 0),
                      mw_json_get_num (l, "dropped", 0), mw_json_get_num (l, "commits", 0),
                      mw_json_get_num (l, "batch_max", 0), mw_json_get_num (l, "worst_commit_ms", 0));
    json_object *api = mw_json_get (v, "api");
    if (api && !json_object_is_type (api, json_type_null))
        mw_strbuf_printf (
            out, "api         port %.0f%s, %s; %.0f tokens, %.0f requests (%.0f refused 401), %.0f streams\n",
            mw_json_get_num (api, "port", 0), mw_json_get_bool (api, "tls", false) ? " (TLS)" : "",
            mw_json_is_null (api, "url") ? "loopback only"
                                         : node_cli_safe (mw_json_get_str (api, "url", ""), a, sizeof a),
            mw_json_get_num (api, "tokens", 0), mw_json_get_num (api, "requests", 0),
            mw_json_get_num (api, "unauthorized", 0), mw_json_get_num (api, "streams_open", 0));
    else
        mw_strbuf_printf (out, "api         off (API_PORT=0)\n");
    json_object *ob = mw_json_get (v, "outboxes");
    size_t n = ob && json_object_is_type (ob, json_type_array) ? json_object_array_length (ob) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx (ob, i);
        char b[200];
        mw_strbuf_printf (
            out, "outbox      %s -> %s: %.0f delivered, %.0f behind, %.0f failed attempts%s%s\n",
            node_cli_safe (mw_json_get_str (o, "sink", "?"), a, sizeof a),
            node_cli_safe (mw_json_get_str (o, "url", "?"), b, sizeof b), mw_json_get_num (o, "delivered", 0),
            mw_json_get_num (o, "behind", 0), mw_json_get_num (o, "failures", 0),
            mw_json_is_null (o, "last_error") ? "" : "; last: ", mw_json_get_str (o, "last_error", ""));
    }
}

static void
s_status (mw_strbuf_t *out, json_object *st)
{
    char a[160], b[160], c[160];
    if (!strcmp (mw_json_get_str (st, "role", ""), "analysis-server")) {
        mw_strbuf_printf (out, "node        %s (analysis server)\nevents seen %.0f\n",
                          node_cli_safe (mw_json_get_str (st, "node", "?"), a, sizeof a),
                          mw_json_get_num (st, "events_seen", 0));
        if (mw_json_get (st, "jobs"))
            s_jobs_summary (out, mw_json_get (st, "jobs"));
        return;
    }
    mw_strbuf_printf (out, "node        %s (%s)\naddress     %s\ncluster     ",
                      node_cli_safe (mw_json_get_str (st, "id", "?"), a, sizeof a),
                      node_cli_safe (mw_json_get_str (st, "name", "?"), b, sizeof b),
                      node_cli_safe (mw_json_get_str (st, "addr", "?"), c, sizeof c));
    mw_strbuf_printf (out, "%s\n", node_cli_safe (mw_json_get_str (st, "cluster", "?"), a, sizeof a));
    mw_strbuf_printf (out, "incarnation %llu\nuptime      %.1f s\nhealth      %.0f\n",
                      (unsigned long long) mw_json_get_u64 (st, "incarnation", 0),
                      mw_json_get_num (st, "uptime_ms", 0) / 1000.0, mw_json_get_num (st, "health", 0));
    json_object *m = mw_json_get (st, "members");
    mw_strbuf_printf (out, "members     %.0f alive, %.0f suspect, %.0f dead, %.0f left\n",
                      mw_json_get_num (m, "alive", 0), mw_json_get_num (m, "suspect", 0),
                      mw_json_get_num (m, "dead", 0), mw_json_get_num (m, "left", 0));
    json_object *bal = mw_json_get (st, "ballot");
    mw_strbuf_printf (
        out, "term        %.0f (%s; ballot %.0f.%.0f.%s)\ncoordinator %s", mw_json_get_num (st, "term", 0),
        node_cli_safe (mw_json_get_str (st, "role", "?"), a, sizeof a), mw_json_get_num (bal, "term", 0),
        mw_json_get_num (bal, "rank", 0), node_cli_safe (mw_json_get_str (bal, "id", "?"), b, sizeof b),
        node_cli_safe (mw_json_get_str (st, "coordinator", "none"), c, sizeof c));
    if (!mw_json_get (st, "lease_age_ms"))
        mw_strbuf_printf (out, ", no lease yet\n");
    else if (mw_json_get_num (st, "witness", 0) > 0)
        mw_strbuf_printf (out, ", lease renewed %.0f ms ago (a witness, one of %.0f)\n",
                          mw_json_get_num (st, "lease_age_ms", 0), mw_json_get_num (st, "witness", 0));
    else
        mw_strbuf_printf (out, ", lease renewed %.0f ms ago\n", mw_json_get_num (st, "lease_age_ms", 0));
    json_object *s = mw_json_get (st, "stats");
    mw_strbuf_printf (out, "traffic     in %.0f msgs / %.0f B, out %.0f msgs / %.0f B, dropped %.0f\n",
                      mw_json_get_num (s, "msgs_in", 0), mw_json_get_num (s, "bytes_in", 0),
                      mw_json_get_num (s, "msgs_out", 0), mw_json_get_num (s, "bytes_out", 0),
                      mw_json_get_num (s, "send_dropped", 0));
    mw_strbuf_printf (out, "rejected   ");
    json_object *rej = mw_json_get (s, "rejected");
    if (rej && json_object_is_type (rej, json_type_object)) {
        json_object_object_foreach (rej, k, v)
        {
            mw_strbuf_printf (out, " %s=%.0f", k, json_object_get_double (v));
        }
    }
    mw_strbuf_printf (out, "\n");
    //  Floods and disks (docs/MEMBERSHIP.md "Bounds", README "Disk full").
    json_object *bo = mw_json_get (st, "members_bounds");
    if (bo)
        mw_strbuf_printf (
            out, "bounds      max %.0f members; refused rate=%.0f full=%.0f unverified=%.0f; evicted %.0f\n",
            mw_json_get_num (bo, "max", 0), mw_json_get_num (bo, "refused_rate", 0),
            mw_json_get_num (bo, "refused_full", 0), mw_json_get_num (bo, "refused_unverified", 0),
            mw_json_get_num (bo, "evicted", 0));
    json_object *db = mw_json_get (st, "statedb");
    if (db) {
        bool degraded = mw_json_get_bool (db, "degraded", false);
        mw_strbuf_printf (
            out, "state db    %s, %.0f pending, %.0f flushes, %.0f failed%s%s\n",
            degraded ? "DEGRADED (serving from memory)" : "ok", mw_json_get_num (db, "pending", 0),
            mw_json_get_num (db, "flushes", 0),
            mw_json_get_num (db, "flush_failures", 0) + mw_json_get_num (db, "sync_failures", 0),
            degraded ? ": " : "",
            degraded ? node_cli_safe (mw_json_get_str (db, "last_error", ""), a, sizeof a) : "");
    }
    json_object *lp = mw_json_get (st, "loop");
    if (lp)
        mw_strbuf_printf (out, "loop        worst turn %.0f ms over %.0f turns\n",
                          mw_json_get_num (lp, "worst_turn_ms", 0), mw_json_get_num (lp, "turns", 0));
    if (mw_json_get (st, "jobs"))
        s_jobs_summary (out, mw_json_get (st, "jobs"));
    if (mw_json_get (st, "vms"))
        s_vms_summary (out, mw_json_get (st, "vms"));
}

static void
s_jobs (mw_strbuf_t *out, json_object *list)
{
    mw_strbuf_printf (out, "%-12s %-14s %-8s %-7s %-16s %-4s %8s %5s %6s  %s\n", "JOB", "CAMERA", "STATE",
                      "PATH", "RAN ON", "ESC", "TOTAL ms", "BOXES", "CONF", "REASON");
    size_t n = json_object_is_type (list, json_type_array) ? json_object_array_length (list) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *j = s_at (list, i);
        char id[16], reason[256];
        snprintf (id, sizeof id, "%.12s", mw_json_get_str (j, "id", "?"));
        s_cell (out, id, 12);
        mw_strbuf_printf (out, " ");
        s_cell (out,
                mw_json_get_bool (j, "origin", false) ? mw_json_get_str (j, "camera", "") : "(for a peer)",
                14);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (j, "state", "?"), 8);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (j, "path", "?"), 7);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (j, "ran_on", "-"), 16);
        mw_strbuf_printf (
            out, " %-4s %8.1f %5.0f %6.3f  %s%s\n", mw_json_get_bool (j, "escalated", false) ? "yes" : "-",
            mw_json_get_num (j, "total_ms", 0), mw_json_get_num (j, "boxes", 0),
            mw_json_get_num (j, "confidence", 0), mw_json_get_bool (j, "late", false) ? "late " : "",
            node_cli_safe (mw_json_get_str (j, "reason", ""), reason, sizeof reason));
    }
    if (n == 0)
        mw_strbuf_printf (out, "(no jobs yet)\n");
}

static void s_detections (mw_strbuf_t *out, json_object *dets);

//  A finished job in one line (and its detections, one line each).
static void
s_job_line (mw_strbuf_t *out, json_object *j)
{
    char id[80], ran[80], path[32], reason[256];
    node_cli_safe (mw_json_get_str (j, "id", "?"), id, sizeof id);
    const char *state = mw_json_get_str (j, "state", "?");
    mw_strbuf_printf (out, "job %s %s", id,
                      !strcmp (state, "done") || !strcmp (state, "failed") ? state : "?");
    if (!strcmp (state, "done")) {
        mw_strbuf_printf (out, " on %s (%s) in %.1f ms: %.0f detections, confidence %.3f%s\n",
                          node_cli_safe (mw_json_get_str (j, "ran_on", "?"), ran, sizeof ran),
                          node_cli_safe (mw_json_get_str (j, "path", "?"), path, sizeof path),
                          mw_json_get_num (j, "total_ms", 0), mw_json_get_num (j, "boxes", 0),
                          mw_json_get_num (j, "confidence", 0),
                          mw_json_get_bool (j, "escalated", false) ? ", escalated" : "");
        s_detections (out, mw_json_get (j, "detections"));
    }
    else
        mw_strbuf_printf (out, ": %s\n",
                          node_cli_safe (mw_json_get_str (j, "reason", ""), reason, sizeof reason));
}

//  The detections of a job, one line each.
static void
s_detections (mw_strbuf_t *out, json_object *dets)
{
    size_t n = dets && json_object_is_type (dets, json_type_array) ? json_object_array_length (dets) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *d = s_at (dets, i), *b = mw_json_get (d, "box");
        char cls[64];
        mw_strbuf_printf (out, "  %s %.3f at %.0f,%.0f size %.0fx%.0f px\n",
                          node_cli_safe (mw_json_get_str (d, "class", "?"), cls, sizeof cls),
                          mw_json_get_num (d, "score", 0), mw_json_get_num (b, "x", 0),
                          mw_json_get_num (b, "y", 0), mw_json_get_num (b, "w", 0),
                          mw_json_get_num (b, "h", 0));
    }
}

static void
s_cameras (mw_strbuf_t *out, json_object *list)
{
    mw_strbuf_printf (out, "%-16s %-16s %-12s %-10s %-6s %5s %8s %8s %7s %4s  %s\n", "ID", "NAME",
                      "ANALYSED BY", "STATE", "MODE", "FPS", "DECODED", "ANALYSED", "DROPPED", "RECN",
                      "POSITION");
    size_t n = json_object_is_type (list, json_type_array) ? json_object_array_length (list) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = s_at (list, i), *in = mw_json_get (c, "ingest");
        s_cell (out, mw_json_get_str (c, "id", "?"), 16);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (c, "name", ""), 16);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (c, "analysed_by", "-"), 12);
        mw_strbuf_printf (out, " ");
        if (in) {
            s_cell (out, mw_json_get_str (in, "state", "?"), 10);
            mw_strbuf_printf (out, " ");
            s_cell (out, mw_json_get_str (in, "mode", "?"), 6);
            mw_strbuf_printf (
                out, " %5.1f %8.0f %8.0f %7.0f %4.0f", mw_json_get_num (in, "fps", 0),
                mw_json_get_num (in, "frames_decoded", 0), mw_json_get_num (in, "frames_analysed", 0),
                mw_json_get_num (in, "frames_dropped", 0), mw_json_get_num (in, "reconnects", 0));
        }
        else
            mw_strbuf_printf (out, "%-10s %-6s %5s %8s %8s %7s %4s", "elsewhere", "-", "-", "-", "-", "-",
                              "-");
        mw_strbuf_printf (out, "  %.5f,%.5f\n", mw_json_get_num (c, "lat", 0), mw_json_get_num (c, "lon", 0));
    }
    mw_strbuf_printf (out, "%zu camera%s\n", n, n == 1 ? "" : "s");
}

static void
s_camera (mw_strbuf_t *out, json_object *c)
{
    char a[1100], b[200];
    mw_strbuf_printf (out, "camera      %s (%s)\n",
                      node_cli_safe (mw_json_get_str (c, "id", "?"), a, sizeof a),
                      node_cli_safe (mw_json_get_str (c, "name", "?"), b, sizeof b));
    mw_strbuf_printf (out, "url         %s\n", node_cli_safe (mw_json_get_str (c, "url", "?"), a, sizeof a));
    mw_strbuf_printf (out, "position    %.6f, %.6f", mw_json_get_num (c, "lat", 0),
                      mw_json_get_num (c, "lon", 0));
    if (mw_json_get (c, "heading_deg"))
        mw_strbuf_printf (out, ", heading %.1f deg", mw_json_get_num (c, "heading_deg", 0));
    if (mw_json_get (c, "fov_deg"))
        mw_strbuf_printf (out, ", field of view %.1f deg", mw_json_get_num (c, "fov_deg", 0));
    mw_strbuf_printf (out, "\nanalysis    %s, mode %s, fps %s\n",
                      mw_json_get_bool (c, "analysis", false) ? "yes" : "no",
                      mw_json_get_str (c, "mode", "?"),
                      mw_json_get (c, "fps") ? mw_json_text (mw_json_get (c, "fps"), false) : "(default)");
    mw_strbuf_printf (out, "box         %s (analysed by %s)\n",
                      node_cli_safe (mw_json_get_str (c, "box", "(any)"), a, sizeof a),
                      node_cli_safe (mw_json_get_str (c, "analysed_by", "-"), b, sizeof b));
    json_object *v = mw_json_get (c, "version");
    mw_strbuf_printf (out, "version     %.0f by %s\n", mw_json_get_num (v, "ms", 0),
                      node_cli_safe (mw_json_get_str (v, "origin", "?"), a, sizeof a));
    json_object *in = mw_json_get (c, "ingest");
    if (in) {
        mw_strbuf_printf (out, "ingest      %s for %.1f s, mode %s, %.0fx%.0f %s",
                          mw_json_get_str (in, "state", "?"), mw_json_get_num (in, "state_ms", 0) / 1000.0,
                          mw_json_get_str (in, "mode", "?"), mw_json_get_num (in, "width", 0),
                          mw_json_get_num (in, "height", 0),
                          node_cli_safe (mw_json_get_str (in, "decoder", ""), b, sizeof b));
        if (*mw_json_get_str (in, "reason", ""))
            mw_strbuf_printf (out, ", last problem: %s",
                              node_cli_safe (mw_json_get_str (in, "reason", ""), a, sizeof a));
        mw_strbuf_printf (
            out,
            "\nframes      %.0f decoded, %.0f analysed, %.0f dropped; %.0f jobs in flight, %.0f "
            "done, %.0f failed; %.0f reconnects; %.0f ms CPU\n",
            mw_json_get_num (in, "frames_decoded", 0), mw_json_get_num (in, "frames_analysed", 0),
            mw_json_get_num (in, "frames_dropped", 0), mw_json_get_num (in, "jobs_in_flight", 0),
            mw_json_get_num (in, "jobs_done", 0), mw_json_get_num (in, "jobs_failed", 0),
            mw_json_get_num (in, "reconnects", 0), mw_json_get_num (in, "cpu_ms", 0));
        if (mw_json_get (in, "focus"))
            mw_strbuf_printf (out, "focus       %s\n",
                              node_cli_safe (mw_json_get_str (in, "focus", ""), a, sizeof a));
    }
    else
        mw_strbuf_printf (out, "ingest      not on this box\n");
}

static void
s_focuses (mw_strbuf_t *out, json_object *doc)
{
    json_object *fa = mw_json_get (doc, "focuses"), *ca = mw_json_get (doc, "cameras");
    size_t n = fa && json_object_is_type (fa, json_type_array) ? json_object_array_length (fa) : 0;
    mw_strbuf_printf (out, "%-32s %-16s %-16s %-7s %-24s %8s %7s  %s\n", "FOCUS", "ORIGIN", "CAMERA",
                      "TRIGGER", "POSITION", "RADIUS m", "LEFT s", "CAMERAS HERE");
    for (size_t i = 0; i < n; i++) {
        json_object *f = s_at (fa, i), *here = mw_json_get (f, "cameras_here");
        s_cell (out, mw_json_get_str (f, "focus", "?"), 32);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (f, "origin", "?"), 16);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (f, "origin_camera", "-"), 16);
        mw_strbuf_printf (out, " ");
        s_cell (out, mw_json_get_str (f, "trigger", "?"), 7);
        char pos[64];
        snprintf (pos, sizeof pos, "%.6f,%.6f", mw_json_get_num (f, "lat", 0), mw_json_get_num (f, "lon", 0));
        mw_strbuf_printf (out, " %-24s %8.0f %7.1f ", pos, mw_json_get_num (f, "radius_m", 0),
                          mw_json_get_num (f, "ttl_ms", 0) / 1000.0);
        size_t k = here && json_object_is_type (here, json_type_array) ? json_object_array_length (here) : 0;
        for (size_t j = 0; j < k; j++) {
            char id[160];
            mw_strbuf_printf (out, "%s%s", j ? "," : " ",
                              node_cli_safe (json_object_get_string (s_at (here, j)), id, sizeof id));
        }
        mw_strbuf_printf (out, "%s\n", k ? "" : " -");
    }
    mw_strbuf_printf (out, "%zu focus%s running\n", n, n == 1 ? "" : "es");
    size_t m = ca && json_object_is_type (ca, json_type_array) ? json_object_array_length (ca) : 0;
    for (size_t i = 0; i < m; i++) {
        json_object *c = s_at (ca, i);
        char id[160], f[80];
        mw_strbuf_printf (out, "camera %s: %s",
                          node_cli_safe (mw_json_get_str (c, "camera", "?"), id, sizeof id),
                          mw_json_get_str (c, "mode", "?"));
        if (mw_json_get (c, "focus"))
            mw_strbuf_printf (out, " (focus %s, %.1f m away)",
                              node_cli_safe (mw_json_get_str (c, "focus", ""), f, sizeof f),
                              mw_json_get_num (c, "distance_m", 0));
        mw_strbuf_printf (out, "\n");
    }
}

//  token list: one line per token.
static void
s_tokens (mw_strbuf_t *out, json_object *a)
{
    size_t n = json_object_is_type (a, json_type_array) ? json_object_array_length (a) : 0;
    if (!n) {
        mw_strbuf_printf (out, "no tokens (meshwatch token create --name NAME)\n");
        return;
    }
    mw_strbuf_printf (out, "%-24s %-10s %-20s %s\n", "NAME", "RIGHTS", "CREATED (UTC)", "STATE");
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx (a, i);
        char name[200], created[32] = "-", used[32] = "never";
        time_t c = (time_t) (mw_json_get_u64 (t, "created_ms", 0) / 1000);
        struct tm tm;
        if (c && gmtime_r (&c, &tm))
            strftime (created, sizeof created, "%Y-%m-%d %H:%M:%S", &tm);
        time_t u = (time_t) (mw_json_get_u64 (t, "last_used_ms", 0) / 1000);
        if (u && gmtime_r (&u, &tm))
            strftime (used, sizeof used, "%Y-%m-%d %H:%M:%S", &tm);
        bool revoked = !mw_json_is_null (t, "revoked_ms");
        mw_strbuf_printf (out, "%-24s %-10s %-20s %s (last used %s)\n",
                          node_cli_safe (mw_json_get_str (t, "name", ""), name, sizeof name),
                          mw_json_get_bool (t, "read_only", false) ? "read-only" : "read-write", created,
                          revoked ? "revoked" : "live", used);
    }
}

void
node_cli_render (mw_strbuf_t *out, const char *verb, json_object *reply, json_object *extra)
{
    char detail[600];
    if (node_control_is_error (reply))
        mw_strbuf_printf (out, "%s\n",
                          node_cli_safe (mw_json_get_str (reply, "detail", "error"), detail, sizeof detail));
    else if (!strcmp (verb, "members"))
        s_members (out, reply, extra);
    else if (!strcmp (verb, "status"))
        s_status (out, reply);
    else if (!strcmp (verb, "jobs"))
        s_jobs (out, reply);
    else if (!strcmp (verb, "job"))
        s_job_line (out, reply);
    else if (!strcmp (verb, "load"))
        mw_strbuf_printf (out, "queue %.0f, arrival rate %.2f/s\n", mw_json_get_num (reply, "queue", 0),
                          mw_json_get_num (reply, "arrival_rate", 0));
    else if (!strcmp (verb, "leave"))
        mw_strbuf_printf (out, "leaving\n");
    else if (!strcmp (verb, "cameras"))
        s_cameras (out, reply);
    else if (!strcmp (verb, "camera") || !strcmp (verb, "camera-add") || !strcmp (verb, "camera-assign"))
        s_camera (out, reply);
    else if (!strcmp (verb, "camera-rm"))
        mw_strbuf_printf (out, "camera %s removed\n",
                          node_cli_safe (mw_json_get_str (reply, "id", "?"), detail, sizeof detail));
    else if (!strcmp (verb, "focuses"))
        s_focuses (out, reply);
    else if (!strcmp (verb, "focus"))
        mw_strbuf_printf (
            out, "focus %s %s at %.6f,%.6f, radius %.0f m, %.1f s left\n",
            node_cli_safe (mw_json_get_str (reply, "focus", "?"), detail, sizeof detail),
            mw_json_get_bool (reply, "coalesced", false) ? "refreshed (one was running nearby)" : "started",
            mw_json_get_num (reply, "lat", 0), mw_json_get_num (reply, "lon", 0),
            mw_json_get_num (reply, "radius_m", 0), mw_json_get_num (reply, "ttl_ms", 0) / 1000.0);
    else if (!strcmp (verb, "token_create"))
        mw_strbuf_printf (out,
                          "%s\n(token '%s', %s: keep it now, the box keeps only its hash; send it as "
                          "Authorization: Bearer ...)\n",
                          mw_json_get_str (reply, "token", ""), mw_json_get_str (reply, "name", ""),
                          mw_json_get_bool (reply, "read_only", false) ? "read-only" : "read-write");
    else if (!strcmp (verb, "token_list"))
        s_tokens (out, reply);
    else if (!strcmp (verb, "token_revoke"))
        mw_strbuf_printf (out, "token '%s' revoked\n", mw_json_get_str (reply, "name", ""));
    else if (!strcmp (verb, "env_report"))
        mw_strbuf_printf (out, "environment report logged as event %s (nid %s)\n",
                          mw_json_get_str (reply, "id", ""), mw_json_get_str (reply, "nid", ""));
    else
        mw_strbuf_printf (out, "%s\n", mw_json_text (reply, true));
}

//  --------------------------------------------------------------------------
//  Clients

static void
s_print_json (json_object *doc)
{
    printf ("%s\n", mw_json_text (doc, false));
}

int
node_cli_request (const char *state_dir, const char *request, bool json)
{
    json_object *reply = NULL;
    char err[600];
    int rc = node_control_call_str (state_dir, request, CALL_TIMEOUT_MS, &reply, err, sizeof err);
    if (rc == 3) {
        fprintf (stderr, "%s\n", err);
        return 3;
    }
    char verb[32];
    snprintf (verb, sizeof verb, "%.*s", (int) strcspn (request, " "), request);
    if (json)
        s_print_json (reply);
    else {
        json_object *extra = NULL;
        //  The members table's footer names the coordinator's term.
        if (rc == 0 && !strcmp (verb, "members"))
            node_control_call_str (state_dir, "status", CALL_TIMEOUT_MS, &extra, err, sizeof err);
        mw_strbuf_t *text = mw_strbuf_new ();
        if (text) {
            node_cli_render (text, verb, reply, extra);
            fputs (mw_strbuf_str (text) ? mw_strbuf_str (text) : "out of memory\n",
                   rc == 0 ? stdout : stderr);
        }
        mw_strbuf_destroy (&text);
        json_object_put (extra);
    }
    json_object_put (reply);
    return rc;
}

int
node_cli_request_data (const char *state_dir, const char *verb, const void *data, size_t len, bool json)
{
    zmsg_t *m = zmsg_new ();
    if (!m)
        return 3;
    zmsg_addstr (m, verb);
    zmsg_addmem (m, data, len);
    json_object *reply = NULL;
    char err[600];
    int rc = node_control_call (state_dir, &m, CALL_TIMEOUT_MS, &reply, err, sizeof err);
    if (rc == 3) {
        fprintf (stderr, "%s\n", err);
        return 3;
    }
    if (json)
        s_print_json (reply);
    else {
        mw_strbuf_t *text = mw_strbuf_new ();
        if (text) {
            node_cli_render (text, verb, reply, NULL);
            fputs (mw_strbuf_str (text) ? mw_strbuf_str (text) : "out of memory\n",
                   rc == 0 ? stdout : stderr);
        }
        mw_strbuf_destroy (&text);
    }
    json_object_put (reply);
    return rc;
}

int
node_cli_submit (const char *state_dir, const char *camera, const char *model, const char *deadline,
                 const char *priority, const void *jpeg, size_t len, long wait_ms, bool json)
{
    zmsg_t *m = zmsg_new ();
    if (!m)
        return 3;
    zmsg_addstr (m, "submit");
    zmsg_addstr (m, camera);
    zmsg_addstr (m, model);
    zmsg_addstr (m, deadline);
    zmsg_addstr (m, priority);
    zmsg_addmem (m, jpeg, len);
    json_object *reply = NULL;
    char err[600], safe[700];
    int rc = node_control_call (state_dir, &m, CALL_TIMEOUT_MS, &reply, err, sizeof err);
    if (rc == 3) {
        fprintf (stderr, "%s\n", err);
        return 3;
    }
    if (rc == 1) {
        const char *why = mw_json_get_str (reply, "detail", "refused");
        if (json) {
            json_object *o = json_object_new_object ();
            mw_json_add (o, "state", mw_json_str ("refused"));
            mw_json_add (o, "reason", mw_json_str (why));
            s_print_json (o);
            json_object_put (o);
        }
        else
            fprintf (stderr, "refused: %s\n", node_cli_safe (why, safe, sizeof safe));
        json_object_put (reply);
        return 1;
    }
    char request[64];
    snprintf (request, sizeof request, "job %.32s", mw_json_get_str (reply, "id", ""));
    json_object_put (reply);
    //  Poll the job until it ended (the agent's REP must never wait for a
    //  job, so the CLI does).  The job itself times out on the agent; the
    //  bound here is only for an agent that vanished.
    long limit = wait_ms > 0 ? wait_ms : (*deadline ? atol (deadline) : 1000) + 5000;
    uint64_t t0 = zclock_mono ();
    rc = 3;
    while ((long) (zclock_mono () - t0) < limit) {
        json_object *job = NULL;
        int r = node_control_call_str (state_dir, request, CALL_TIMEOUT_MS, &job, err, sizeof err);
        if (r == 3)
            break;
        const char *state = mw_json_get_str (job, "state", "");
        if (r == 0 && (!strcmp (state, "done") || !strcmp (state, "failed"))) {
            if (json)
                s_print_json (job);
            else {
                mw_strbuf_t *text = mw_strbuf_new ();
                if (text) {
                    s_job_line (text, job);
                    fputs (mw_strbuf_str (text) ? mw_strbuf_str (text) : "", stdout);
                }
                mw_strbuf_destroy (&text);
            }
            rc = !strcmp (state, "done") ? 0 : 1;
            json_object_put (job);
            break;
        }
        json_object_put (job);
        zclock_sleep (10);
    }
    if (rc == 3)
        fprintf (stderr, "job %s: no result within %ld ms\n", request + 4, limit);
    return rc;
}

//  --------------------------------------------------------------------------
//  Selftest: the views of hostile documents.

static bool
s_has_control (const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return true;
    return false;
}

int
node_cli_render_test (bool verbose)
{
    int rc = 0;
    char out[128];
    CHECK (
        !strcmp (node_cli_safe ("a\"b}\\c\nd\x1b[31m\x7f", out, sizeof out), "a\"b}\\\\c\\nd\\x1b[31m\\x7f"),
        "safe: %s", out);
    CHECK (!strcmp (node_cli_safe ("\xc2\x9b"
                                   "2J \xff ☃",
                                   out, sizeof out),
                    "\\u009b2J \\xff ☃"),
           "C1: %s", out);
    CHECK (!strcmp (node_cli_safe ("☃☃☃", out, 7), "☃☃"), "cut on a character: %s", out);

    const char *members =
        "[{\"id\":\"aaaaaaaaaaaaaaaa\",\"name\":\"n1\",\"addr\":\"tcp://10.0.0.1:7946\",\"state\":\"alive\","
        "\"incarnation\":3,\"last_heard_ms\":0,\"state_ms\":10,\"coordinator\":true,\"self\":true,"
        "\"load\":{\"cpu\":12.5,\"memory\":40,\"gpu\":null,\"queue\":2,\"forecast\":{\"cpu\":[13,14]},"
        "\"upper\":{\"cpu\":[20,25]},\"headroom\":80,\"age_ms\":300}},"
        "{\"id\":\"bbbbbbbbbbbbbbbb\",\"name\":\"evil\\\"}\\\\\\n\\u001b[2Jname-that-is-long\","
        "\"addr\":\"tcp://10.0.0.2:7946\",\"state\":\"suspect\",\"incarnation\":18446744073709551615,"
        "\"last_heard_ms\":1500,\"coordinator\":false,\"self\":false,\"load\":null},"
        "{\"id\":\"cccccccccccccccc\",\"name\":\"n3\",\"addr\":\"a\",\"state\":\"dead\","
        "\"last_heard_ms\":null,\"coordinator\":false,\"self\":false,\"load\":null}]";
    char err[128];
    json_object *doc = mw_json_parse (members, strlen (members), err, sizeof err);
    json_object *status = mw_json_parse ("{\"term\":7}", 10, err, sizeof err);
    CHECK (doc && status, "parse: %s", err);
    mw_strbuf_t *b = mw_strbuf_new ();
    node_cli_render (b, "members", doc, status);
    const char *t = mw_strbuf_str (b);
    CHECK (!s_has_control (t), "control character in the members table:\n%s", t);
    CHECK (strstr (t, "*aaaaaaaaaaaaaaaa  n1  "), "coordinator mark:\n%s", t);
    CHECK (strstr (t, " evil\"}\\\\\\n\\x1b[2Jna~  "), "hostile name escaped and cut:\n%s", t);
    CHECK (strstr (t, "  18446744073709551615    1.5s ago"), "u64 incarnation:\n%s", t);
    CHECK (strstr (t, "1.5s ago") && strstr (t, "never") && strstr (t, "(self)"), "heard");
    CHECK (strstr (t, "    12    40     -      2    13.0    14.0   20.0   80.0    0.3s"), "load columns:\n%s",
           t);
    CHECK (strstr (t, "3 members, 1 alive; * coordinator aaaaaaaaaaaaaaaa (term 7)\n"), "footer:\n%s", t);
    //  Every row has the same width up to the load columns (cells padded).
    if (verbose)
        printf ("%s", t);
    mw_strbuf_destroy (&b);
    json_object_put (doc);
    json_object_put (status);

    const char *jobs =
        "[{\"id\":\"00112233445566778899aabbccddeeff\",\"camera\":\"cam\\n\\\"1\\\"}\",\"model\":\"tiny-"
        "face\","
        "\"state\":\"done\",\"path\":\"local\",\"origin\":true,\"ran_on\":null,\"escalated\":true,"
        "\"late\":false,\"total_ms\":12.3,\"boxes\":2,\"confidence\":0.812,\"reason\":\"\"}]";
    doc = mw_json_parse (jobs, strlen (jobs), err, sizeof err);
    b = mw_strbuf_new ();
    node_cli_render (b, "jobs", doc, NULL);
    t = mw_strbuf_str (b);
    CHECK (!s_has_control (t), "control character in the jobs table:\n%s", t);
    CHECK (
        strstr (
            t, "001122334455 cam\\n\"1\"}      done     local   -                yes      12.3     2  0.812"),
        "jobs row:\n%s", t);
    if (verbose)
        printf ("%s", t);
    mw_strbuf_destroy (&b);
    b = mw_strbuf_new ();
    node_cli_render (b, "job", s_at (doc, 0), NULL);
    CHECK (strstr (mw_strbuf_str (b),
                   "job 00112233445566778899aabbccddeeff done on ? (local) in 12.3 ms: 2 detections, "
                   "confidence 0.812, escalated\n"),
           "job line: %s", mw_strbuf_str (b));
    mw_strbuf_destroy (&b);
    json_object_put (doc);

    const char *e = "{\"error\":\"refused\",\"detail\":\"no\\u001b]0;x\"}";
    doc = mw_json_parse (e, strlen (e), err, sizeof err);
    b = mw_strbuf_new ();
    node_cli_render (b, "status", doc, NULL);
    CHECK (doc && !strcmp (mw_strbuf_str (b), "no\\x1b]0;x\n"), "error: %s (%s)", mw_strbuf_str (b), err);
    mw_strbuf_destroy (&b);
    json_object_put (doc);
    return rc;
}
