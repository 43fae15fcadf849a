/*  =========================================================================
    node_vms - the agent's VMS interface (see vms.h).
    ========================================================================= */
#include "node/vms.h"
#include "common/json.h"
#include "common/log.h"
#include "common/prom.h"
#include "common/selftest.h"
#include "node/outbox.h"
#include "node/tokens.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _node_vms_t {
    node_vms_env_fn *on_env;   //  the deployments' variant chooser (may be NULL)
    void *on_env_ctx;
    mw_config_t *cfg;
    char node_id[24];
    char nid[24];
    node_events_t *events;
    node_evlog_t *log;
    node_tokens_t *tokens;
    node_api_t *api;
    char api_url[128];
    int api_port_public;
    node_outbox_t *webhook, *env;
};

//  --------------------------------------------------------------------------
//  Environment reports

//  A result code: 1 to 4 digits (the seed's "4"), as a string.
static bool
s_result_ok (const char *r)
{
    size_t n = r ? strlen (r) : 0;
    if (n < 1 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit ((unsigned char) r[i]))
            return false;
    return true;
}

int
node_vms_env_report (node_vms_t *self, const char *result, const char *source, uint64_t *seq, char *why,
                     size_t whylen)
{
    assert (self);
    if (!s_result_ok (result)) {
        snprintf (why, whylen, "result must be a code of 1 to 4 digits (e.g. \"4\"), not '%.20s'",
                  result ? result : "");
        return -1;
    }
    //  The seed's date and time: the box's local time, when reported.
    time_t now = (time_t) (mw_wall_ms () / 1000);
    struct tm tm;
    localtime_r (&now, &tm);
    char date[16], hms[16];
    strftime (date, sizeof date, "%Y%m%d", &tm);
    strftime (hms, sizeof hms, "%H%M%S", &tm);
    node_event_t e;
    node_event_init (&e, "env", "report", self->node_id);
    node_event_str (&e, "nid", self->nid);
    node_event_str (&e, "result", result);
    node_event_str (&e, "date", date);
    node_event_str (&e, "time", hms);
    node_event_str (&e, "source", source ? source : "");
    if (node_events_publish_seq (self->events, &e, seq) != 0 || !*seq) {
        snprintf (why, whylen, "the event log is full or failing (see the agent's log)");
        return -1;
    }
    mw_info ("env_report", "result=%s seq=%" PRIu64 " source=%s", result, *seq, source ? source : "-");
    if (self->on_env)
        self->on_env (self->on_env_ctx, result, source ? source : "");
    return 0;
}

void
node_vms_on_env (node_vms_t *self, node_vms_env_fn *fn, void *ctx)
{
    assert (self);
    self->on_env = fn;
    self->on_env_ctx = ctx;
}

const char *
node_vms_nid (node_vms_t *self)
{
    assert (self);
    return self->nid;
}

static json_object *
s_accepted (node_vms_t *self, uint64_t seq)
{
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    char id[48];
    snprintf (id, sizeof id, "%" PRIu64 "-%" PRIu64, node_evlog_epoch (self->log), seq);
    mw_json_add (o, "id", mw_json_str (id));
    mw_json_add (o, "seq", mw_json_u64 (seq));
    mw_json_add (o, "nid", mw_json_str (self->nid));
    return o;
}

//  POST /api/v1/env {"result": "4"} (or 4): answered once committed.
static void
s_api_env (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    node_vms_t *self = (node_vms_t *) ctx;
    json_object *r = mw_json_get (req->body, "result");
    char result[32] = "";
    if (r && json_object_is_type (r, json_type_string))
        snprintf (result, sizeof result, "%s", json_object_get_string (r));
    else if (r && json_object_is_type (r, json_type_int) && json_object_get_int64 (r) >= 0
             && json_object_get_int64 (r) <= 9999)
        snprintf (result, sizeof result, "%lld", (long long) json_object_get_int64 (r));
    else {
        node_api_resp_error (resp, 400, "bad_request",
                             "result is required: a code of 1 to 4 digits, e.g. \"4\"");
        return;
    }
    char source[80], why[160];
    snprintf (source, sizeof source, "api:%s", req->token_name ? req->token_name : "");
    uint64_t seq = 0;
    if (node_vms_env_report (self, result, source, &seq, why, sizeof why) != 0) {
        node_api_resp_error (resp, s_result_ok (result) ? 503 : 400,
                             s_result_ok (result) ? "unavailable" : "bad_request", "%s", why);
        return;
    }
    resp->status = 202;
    resp->json = s_accepted (self, seq);
    resp->wait_seq = seq;   //  202 = on disk
}

//  --------------------------------------------------------------------------
//  Control commands

static json_object *
s_ctl_token_create (void *ctx, const node_control_req_t *req)
{
    node_vms_t *self = (node_vms_t *) ctx;
    char name[80] = "", flag[8] = "";
    int n = sscanf (req->args, "%79s %7s", name, flag);
    if (n < 1 || (n == 2 && strcmp (flag, "ro")))
        return node_control_error ("bad_request", "usage: token_create NAME [ro]");
    char token[NODE_TOKEN_TEXT_SIZE], err[200];
    if (node_tokens_create (self->tokens, name, n == 2, token, err, sizeof err) != 0)
        return node_control_error (
            strstr (err, "exists") || strstr (err, "revoke") ? "refused" : "bad_request", "%s", err);
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "name", mw_json_str (name));
        mw_json_add (o, "read_only", mw_json_bool (n == 2));
        mw_json_add (o, "token", mw_json_str (token));
    }
    return o;
}

static json_object *
s_ctl_token_list (void *ctx, const node_control_req_t *req)
{
    node_vms_t *self = (node_vms_t *) ctx;
    (void) req;
    return node_tokens_list_json (self->tokens);
}

static json_object *
s_ctl_token_revoke (void *ctx, const node_control_req_t *req)
{
    node_vms_t *self = (node_vms_t *) ctx;
    int rc = node_tokens_revoke (self->tokens, req->args);
    if (rc == 1)
        return node_control_error ("not_found", "no live token named '%.64s'", req->args);
    if (rc < 0)
        return node_control_error ("internal", "cannot write the state DB (see the agent's log)");
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "name", mw_json_str (req->args));
        mw_json_add (o, "revoked", mw_json_bool (true));
    }
    return o;
}

static json_object *
s_ctl_env_report (void *ctx, const node_control_req_t *req)
{
    node_vms_t *self = (node_vms_t *) ctx;
    uint64_t seq = 0;
    char why[160];
    if (node_vms_env_report (self, req->args, "cli", &seq, why, sizeof why) != 0)
        return node_control_error (s_result_ok (req->args) ? "unavailable" : "bad_request", "%s", why);
    return s_accepted (self, seq);
}

//  --------------------------------------------------------------------------

//  VMS_URL's host: "http://10.0.0.5[:p][/x]", "tcp://h:p" or a bare host.
static void
s_url_host (const char *url, char *scheme, size_t slen, char *host, size_t hlen)
{
    snprintf (scheme, slen, "http");
    const char *p = strstr (url, "://");
    if (p) {
        if (!strncmp (url, "https", 5))
            snprintf (scheme, slen, "https");
        p += 3;
    }
    else
        p = url;
    size_t n = 0;
    if (*p == '[') {
        const char *e = strchr (p, ']');
        n = e ? (size_t) (e - p + 1) : strlen (p);
    }
    else
        n = strcspn (p, ":/");
    snprintf (host, hlen, "%.*s", (int) n, p);
}

node_vms_t *
node_vms_new (const node_vms_opts_t *o, char *err, size_t errlen)
{
    assert (o && o->cfg && o->events && o->control);
    node_vms_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    const mw_settings_t *s = mw_config_settings (o->cfg);
    self->cfg = o->cfg;
    self->events = o->events;
    snprintf (self->node_id, sizeof self->node_id, "%s", o->node_id ? o->node_id : "");
    if (*s->env_nid)
        snprintf (self->nid, sizeof self->nid, "%s", s->env_nid);
    else
        snprintf (self->nid, sizeof self->nid, "0x%.8s", self->node_id);
    node_evlog_opts_t lo = {(uint64_t) s->events_keep, (uint64_t) s->events_keep_s * 1000, 0};
    self->log = node_evlog_open (s->state_dir, &lo, err, errlen);
    if (!self->log)
        goto fail;
    node_events_attach_log (self->events, self->log);
    self->tokens = node_tokens_open (s->state_dir, err, errlen);
    if (!self->tokens)
        goto fail;
    node_control_on (o->control, "token_create", 1, s_ctl_token_create, self);
    node_control_on (o->control, "token_list", 1, s_ctl_token_list, self);
    node_control_on (o->control, "token_revoke", 1, s_ctl_token_revoke, self);
    node_control_on (o->control, "env_report", 1, s_ctl_env_report, self);

    if (s->api_port > 0) {
        bool mesh = !strcmp (s->api_bind, "mesh");
        const char *ip = mesh ? (o->mesh_ip ? o->mesh_ip : "") : "127.0.0.1";
        node_api_opts_t ao = {ip,
                              (int) s->api_port,
                              s->api_tls_cert,
                              s->api_tls_key,
                              (unsigned) s->api_max_connections,
                              (unsigned) s->api_max_per_ip,
                              (unsigned) s->api_timeout_s,
                              (unsigned) s->api_sse_max,
                              (size_t) s->api_max_body,
                              self->log,
                              self->tokens,
                              self->node_id};
        self->api = node_api_new (&ao, err, errlen);
        if (!self->api)
            goto fail;
        node_api_handle (self->api, "POST", "/api/v1/env", s_api_env, self);
        if (mesh && *ip) {
            bool tls = node_api_tls (self->api);
            self->api_port_public = node_api_port (self->api);
            if (strchr (ip, ':'))
                snprintf (self->api_url, sizeof self->api_url, "%s://[%s]:%d", tls ? "https" : "http", ip,
                          self->api_port_public);
            else
                snprintf (self->api_url, sizeof self->api_url, "%s://%s:%d", tls ? "https" : "http", ip,
                          self->api_port_public);
        }
        if (!node_tokens_count (self->tokens))
            mw_warn ("api_no_tokens",
                     "reason=\"every API route but /api/v1/health answers 401: make a token with "
                     "meshwatch token create --name NAME\"");
    }
    uint32_t retry_max = (uint32_t) s->outbox_retry_max_ms;
    if (*s->webhook_url) {
        node_outbox_opts_t wo = {"webhook",
                                 NODE_OUTBOX_WEBHOOK,
                                 s->webhook_url,
                                 s->webhook_events,
                                 s->webhook_secret,
                                 s->state_dir,
                                 self->log,
                                 self->node_id,
                                 500,
                                 retry_max,
                                 5000};
        self->webhook = node_outbox_new (&wo, err, errlen);
        if (!self->webhook)
            goto fail;
    }
    if (s->vms_env_port > 0) {
        char scheme[8], host[128], url[400];
        s_url_host (s->vms_url, scheme, sizeof scheme, host, sizeof host);
        snprintf (url, sizeof url, "%s://%s:%lld%s%s", scheme, host, (long long) s->vms_env_port,
                  *s->vms_env_path == '/' ? "" : "/", s->vms_env_path);
        node_outbox_opts_t eo = {"env",     NODE_OUTBOX_ENV, url, NULL,      NULL, s->state_dir,
                                 self->log, self->node_id,   500, retry_max, 5000};
        self->env = node_outbox_new (&eo, err, errlen);
        if (!self->env)
            goto fail;
    }
    return self;
fail:
    node_vms_destroy (&self);
    return NULL;
}

void
node_vms_destroy (node_vms_t **self_p)
{
    assert (self_p);
    node_vms_t *self = *self_p;
    if (!self)
        return;
    node_outbox_destroy (&self->webhook);
    node_outbox_destroy (&self->env);
    node_api_destroy (&self->api);
    node_tokens_close (&self->tokens);
    if (self->log) {
        node_events_attach_log (self->events, NULL);
        node_evlog_close (&self->log);
    }
    free (self);
    *self_p = NULL;
}

void
node_vms_services (node_vms_t *self, node_loop_t *loop)
{
    assert (self && loop);
    node_service_t svc;
    node_events_service (self->events, &svc);
    node_loop_add (loop, &svc);
    if (self->api) {
        node_api_service (self->api, &svc);
        node_loop_add (loop, &svc);
    }
}

node_api_t *
node_vms_api (node_vms_t *self)
{
    return self ? self->api : NULL;
}

const char *
node_vms_api_url (node_vms_t *self)
{
    return self ? self->api_url : "";
}

int
node_vms_api_port_public (node_vms_t *self, bool *https)
{
    if (https)
        *https = self && self->api && node_api_tls (self->api);
    return self ? self->api_port_public : 0;
}

node_evlog_t *
node_vms_log (node_vms_t *self)
{
    return self ? self->log : NULL;
}

void
node_vms_set_docs (node_vms_t *self, json_object *state, json_object *boxes)
{
    if (self && self->api) {
        node_api_set_doc (self->api, "state", state);
        node_api_set_doc (self->api, "boxes", boxes);
    }
    else {
        json_object_put (state);
        json_object_put (boxes);
    }
}

json_object *
node_vms_status_json (node_vms_t *self)
{
    assert (self);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    node_evlog_stats_t ls;
    node_evlog_stats (self->log, &ls);
    uint64_t oldest, last;
    node_evlog_bounds (self->log, &oldest, &last);
    json_object *lj = json_object_new_object ();
    if (lj) {
        mw_json_add (lj, "epoch", mw_json_u64 (node_evlog_epoch (self->log)));
        mw_json_add (lj, "oldest", mw_json_u64 (oldest));
        mw_json_add (lj, "last", mw_json_u64 (last));
        mw_json_add (lj, "queued", mw_json_u64 (ls.queued));
        mw_json_add (lj, "dropped", mw_json_u64 (ls.dropped));
        mw_json_add (lj, "commits", mw_json_u64 (ls.commits));
        mw_json_add (lj, "batch_max", mw_json_u64 (ls.batch_max));
        mw_json_add (lj, "failures", mw_json_u64 (ls.failures));
        mw_json_add (lj, "pruned", mw_json_u64 (ls.pruned));
        mw_json_add (lj, "worst_commit_ms", mw_json_num (ls.worst_commit_us / 1000.0, 1));
    }
    mw_json_add (o, "log", lj);
    json_object *aj = NULL;
    if (self->api) {
        node_api_stats_t as;
        node_api_stats (self->api, &as);
        aj = json_object_new_object ();
        if (aj) {
            mw_json_add (aj, "port", mw_json_u64 ((uint64_t) node_api_port (self->api)));
            mw_json_add (aj, "tls", mw_json_bool (node_api_tls (self->api)));
            mw_json_add (aj, "url", *self->api_url ? mw_json_str (self->api_url) : NULL);
            mw_json_add (aj, "requests", mw_json_u64 (as.requests));
            mw_json_add (aj, "unauthorized", mw_json_u64 (as.unauthorized));
            mw_json_add (aj, "forbidden", mw_json_u64 (as.forbidden));
            mw_json_add (aj, "not_modified", mw_json_u64 (as.not_modified));
            mw_json_add (aj, "streams_open", mw_json_u64 (as.sse_open));
            mw_json_add (aj, "events_served", mw_json_u64 (as.events_served));
            mw_json_add (aj, "tokens", mw_json_u64 (node_tokens_count (self->tokens)));
        }
    }
    mw_json_add (o, "api", aj);
    json_object *ob = json_object_new_array ();
    if (ob && self->webhook)
        json_object_array_add (ob, node_outbox_stats_json (self->webhook));
    if (ob && self->env)
        json_object_array_add (ob, node_outbox_stats_json (self->env));
    mw_json_add (o, "outboxes", ob);
    mw_json_add (o, "nid", mw_json_str (self->nid));
    return o;
}

void
node_vms_prometheus (node_vms_t *self, mw_prom_t *out)
{
    assert (self && out);
    node_evlog_stats_t ls;
    node_evlog_stats (self->log, &ls);
    uint64_t oldest, last;
    node_evlog_bounds (self->log, &oldest, &last);
    mw_prom_family (out, "meshwatch_events_committed_total", "counter",
                    "Events committed to the durable log (published after that).");
    mw_prom_u64 (out, "meshwatch_events_committed_total", ls.committed, NULL);
    mw_prom_family (out, "meshwatch_events_dropped_total", "counter",
                    "Events dropped because the log's queue was full (disk slow or failing).");
    mw_prom_u64 (out, "meshwatch_events_dropped_total", ls.dropped, NULL);
    mw_prom_family (out, "meshwatch_events_log_failures_total", "counter",
                    "Log transactions that failed (retried).");
    mw_prom_u64 (out, "meshwatch_events_log_failures_total", ls.failures, NULL);
    mw_prom_family (out, "meshwatch_events_kept", "gauge", "Events in the durable log now.");
    mw_prom_u64 (out, "meshwatch_events_kept", last >= oldest ? last - oldest + 1 : 0, NULL);
    if (self->api) {
        node_api_stats_t as;
        node_api_stats (self->api, &as);
        mw_prom_family (out, "meshwatch_api_requests_total", "counter", "HTTP API requests.");
        mw_prom_u64 (out, "meshwatch_api_requests_total", as.requests, NULL);
        mw_prom_family (out, "meshwatch_api_unauthorized_total", "counter", "API requests refused 401.");
        mw_prom_u64 (out, "meshwatch_api_unauthorized_total", as.unauthorized, NULL);
        mw_prom_family (out, "meshwatch_api_streams", "gauge", "Event streams (SSE) open now.");
        mw_prom_u64 (out, "meshwatch_api_streams", as.sse_open, NULL);
    }
    node_outbox_t *sinks[2] = {self->webhook, self->env};
    bool first = true;
    for (int i = 0; i < 2; i++) {
        if (!sinks[i])
            continue;
        node_outbox_stats_t os;
        node_outbox_stats (sinks[i], &os);
        const char *name = i == 0 ? "webhook" : "env";
        if (first) {
            mw_prom_family (out, "meshwatch_outbox_behind", "gauge",
                            "Events of the log a sink has not dealt with yet.");
            first = false;
        }
        mw_prom_u64 (out, "meshwatch_outbox_behind", last > os.cursor ? last - os.cursor : 0, "sink", name,
                     NULL);
    }
    first = true;
    for (int i = 0; i < 2; i++) {
        if (!sinks[i])
            continue;
        node_outbox_stats_t os;
        node_outbox_stats (sinks[i], &os);
        if (first) {
            mw_prom_family (out, "meshwatch_outbox_delivered_total", "counter",
                            "Deliveries a receiver took (2xx).");
            first = false;
        }
        mw_prom_u64 (out, "meshwatch_outbox_delivered_total", os.delivered, "sink",
                     i == 0 ? "webhook" : "env", NULL);
    }
    first = true;
    for (int i = 0; i < 2; i++) {
        if (!sinks[i])
            continue;
        node_outbox_stats_t os;
        node_outbox_stats (sinks[i], &os);
        if (first) {
            mw_prom_family (out, "meshwatch_outbox_failures_total", "counter",
                            "Delivery attempts that failed.");
            first = false;
        }
        mw_prom_u64 (out, "meshwatch_outbox_failures_total", os.failures, "sink", i == 0 ? "webhook" : "env",
                     NULL);
    }
}

//  --------------------------------------------------------------------------

int
node_vms_test (bool verbose)
{
    int rc = 0;
    char scheme[8], host[128];
    s_url_host ("http://10.0.0.5", scheme, sizeof scheme, host, sizeof host);
    CHECK (!strcmp (scheme, "http") && !strcmp (host, "10.0.0.5"), "plain: %s %s", scheme, host);
    s_url_host ("https://vms.local:8443/x", scheme, sizeof scheme, host, sizeof host);
    CHECK (!strcmp (scheme, "https") && !strcmp (host, "vms.local"), "https: %s %s", scheme, host);
    s_url_host ("tcp://127.0.0.1", scheme, sizeof scheme, host, sizeof host);
    CHECK (!strcmp (scheme, "http") && !strcmp (host, "127.0.0.1"), "tcp: %s %s", scheme, host);
    s_url_host ("http://[fd00::5]:80/", scheme, sizeof scheme, host, sizeof host);
    CHECK (!strcmp (host, "[fd00::5]"), "v6: %s", host);
    s_url_host ("vms", scheme, sizeof scheme, host, sizeof host);
    CHECK (!strcmp (host, "vms"), "bare: %s", host);
    const char *good[] = {"0", "4", "9999", NULL}, *bad[] = {"", "12345", "-1", "4a", " 4", NULL};
    for (int i = 0; good[i]; i++)
        CHECK (s_result_ok (good[i]), "result %s refused", good[i]);
    for (int i = 0; bad[i]; i++)
        CHECK (!s_result_ok (bad[i]), "result '%s' accepted", bad[i]);
    if (verbose)
        printf ("  url and result parsing ok\n");
    return rc;
}
