/*  =========================================================================
    node_load - sampling + forecasts + digest + views (see load.h).

    One forecaster per metric: CPU, memory and GPU in percent of capacity
    (clamped to 0..100), and the inference queue length.  The digest carries
    the first three (its layout has no room to spare); the queue's forecast
    shows in /metrics.
    ========================================================================= */
#include "node/load.h"
#include "common/json.h"
#include "common/log.h"
#include "common/selftest.h"
#include "scheduler/forecast.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_CPU, M_MEM, M_GPU, M_QUEUE, M_COUNT };
static const char *s_metric_names[M_COUNT] = {"cpu", "memory", "gpu", "queue"};

struct _node_load_t {
    node_collector_t *collector;
    sched_forecast_t *fc[M_COUNT];
    uint32_t horizon_s[2];
    size_t n_horizons;
    node_collect_sample_t sample;
    sched_digest_t digest;
    bool have_digest;
    //  Inference jobs: what peers need to offer us work (digest offsets 48..57).
    bool jobs;
    uint16_t job_port;
    uint16_t pkg_port;
    double svc_ms;
    uint32_t workers, queue_max;
    uint16_t api_port;   //  the VMS interface (digest offsets 58..60)
    bool api_https;
};

node_load_t *
node_load_new (uint32_t interval_ms, const uint32_t *horizons_s, size_t n_horizons, const char *root)
{
    if (interval_ms == 0 || !horizons_s || n_horizons == 0 || n_horizons > 2)
        return NULL;
    node_load_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->n_horizons = n_horizons;
    for (size_t h = 0; h < 2; h++)
        self->horizon_s[h] = horizons_s[h < n_horizons ? h : n_horizons - 1];
    self->collector = node_collector_new (root);
    if (!self->collector)
        goto fail;
    sched_forecast_cfg_t cfg;
    sched_forecast_cfg_defaults (&cfg);
    cfg.interval_ms = interval_ms;
    cfg.n_horizons = n_horizons;
    for (size_t h = 0; h < n_horizons; h++)
        cfg.horizon_ms[h] = horizons_s[h] * 1000;
    for (int m = 0; m < M_COUNT; m++) {
        //  Percentages are clamped to 0..100; the queue is not clamped
        //  (its bound is +Inf until it has residuals).
        cfg.lo = 0;
        cfg.hi = m == M_QUEUE ? 0 : 100;
        self->fc[m] = sched_forecast_new (&cfg);
        if (!self->fc[m])
            goto fail;
    }
    return self;
fail:
    node_load_destroy (&self);
    return NULL;
}

void
node_load_destroy (node_load_t **self_p)
{
    assert (self_p);
    node_load_t *self = *self_p;
    if (!self)
        return;
    node_collector_destroy (&self->collector);
    for (int m = 0; m < M_COUNT; m++)
        sched_forecast_destroy (&self->fc[m]);
    free (self);
    *self_p = NULL;
}

void
node_load_set_inputs (node_load_t *self, uint32_t queue_len, double arrival_rate)
{
    assert (self);
    node_collector_set_load (self->collector, queue_len, arrival_rate);
}

void
node_load_set_pkg_port (node_load_t *self, uint16_t pkg_port)
{
    self->pkg_port = pkg_port;
}

void
node_load_set_jobs (node_load_t *self, uint16_t job_port, double svc_ms, uint32_t workers, uint32_t queue_max)
{
    assert (self);
    self->jobs = job_port > 0 && workers > 0;
    self->job_port = job_port;
    self->svc_ms = svc_ms;
    self->workers = workers;
    self->queue_max = queue_max;
}

void
node_load_set_api (node_load_t *self, uint16_t api_port, bool https)
{
    assert (self);
    self->api_port = api_port;
    self->api_https = https;
}

const node_collect_sample_t *
node_load_sample (node_load_t *self)
{
    assert (self);
    return &self->sample;
}

int
node_load_tick (node_load_t *self, uint64_t now_ms, uint64_t wall_ms, uint8_t *buf, size_t cap)
{
    assert (self);
    assert (buf);
    node_collect_sample_t *s = &self->sample;
    if (node_collector_sample (self->collector, now_ms, s) != 0)
        return -1;
    double v[M_COUNT] = {s->cpu_pct, s->mem_pct, s->has_gpu ? s->gpu_pct : 0, (double) s->queue_len};
    for (int m = 0; m < M_COUNT; m++)
        sched_forecast_update (self->fc[m], now_ms, v[m]);

    sched_digest_t *d = &self->digest;
    memset (d, 0, sizeof *d);
    d->version = SCHED_DIGEST_VERSION;
    d->flags = (s->has_gpu ? SCHED_DIGEST_F_GPU : 0) | (s->has_temp ? SCHED_DIGEST_F_TEMP : 0)
               | (s->cgroup_cpu || s->cgroup_mem ? SCHED_DIGEST_F_CGROUP : 0);
    d->ts_ms = (uint32_t) wall_ms;
    d->cur[SCHED_DIGEST_CPU] = s->cpu_pct;
    d->cur[SCHED_DIGEST_MEM] = s->mem_pct;
    d->cur[SCHED_DIGEST_GPU] = s->has_gpu ? s->gpu_pct : 0;
    d->queue_len = s->queue_len;
    d->arrival_rate = s->arrival_rate;
    d->temp_c = s->has_temp ? s->temp_c : 0;
    d->cpu_cores = s->cpu_cores;
    d->mem_total_mb = s->mem_total_bytes >> 20;
    for (int h = 0; h < 2; h++) {
        d->horizon_s[h] = self->horizon_s[h];
        size_t hi = (size_t) h < self->n_horizons ? (size_t) h : self->n_horizons - 1;
        for (int m = 0; m < SCHED_DIGEST_METRICS; m++) {
            sched_forecast_out_t o;
            if (sched_forecast_get (self->fc[m], hi, &o) == 0) {
                d->fc[m][h] = o.value;
                //  Until the forecaster has residuals (about 15 s after
                //  start) it has no bound it can back and says "100 %".
                //  Gossiping that would make every freshly started box look
                //  saturated, and peers would send their overflow to the
                //  analysis server instead.  The best figure we have is the
                //  larger of now and the point forecast; a peer that is in
                //  fact busy still refuses the offer on its own state.
                d->ub[m][h] = o.ready ? o.upper : (o.value > v[m] ? o.value : v[m]);
                if (h == 0 && m < 2)
                    d->spread[m] = o.spread;
            }
        }
    }
    d->jobs = self->jobs;
    d->job_port = self->job_port;
    d->pkg_port = self->pkg_port;
    d->svc_ms = self->svc_ms;
    d->workers = self->workers;
    d->queue_max = self->queue_max;
    d->api_port = self->api_port;
    d->api_https = self->api_https;
    sched_forecast_out_t q;
    //  As for the percentages above: no "infinite queue" before the
    //  forecaster is ready, which would make a fresh box look saturated.
    d->queue_ub = 0;
    if (sched_forecast_get (self->fc[M_QUEUE], 0, &q) == 0) {
        double ub = q.ready ? q.upper : (q.value > v[M_QUEUE] ? q.value : v[M_QUEUE]);
        d->queue_ub = isfinite (ub) && ub > 0 ? ub : 0;
    }
    self->have_digest = true;
    return sched_digest_encode (d, buf, cap);
}

//  --------------------------------------------------------------------------
//  Views

//  Load figures in JSON: two decimals; a non-finite value (a forecaster
//  before its first sample) as 0, as before.
static json_object *
s_num (double v)
{
    return mw_json_num (isfinite (v) ? v : 0, 2);
}

json_object *
node_load_member_json (const gossip_member_info_t *m, uint64_t wall_ms)
{
    sched_digest_t d;
    if (sched_digest_decode (m->digest, m->digest_len, &d) != 0)
        return NULL;
    bool gpu = d.flags & SCHED_DIGEST_F_GPU;
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "cpu", s_num (d.cur[SCHED_DIGEST_CPU]));
    mw_json_add (o, "memory", s_num (d.cur[SCHED_DIGEST_MEM]));
    mw_json_add (o, "gpu", gpu ? s_num (d.cur[SCHED_DIGEST_GPU]) : NULL);
    mw_json_add (o, "queue", mw_json_u64 (d.queue_len));
    mw_json_add (o, "arrival_rate", s_num (d.arrival_rate));
    mw_json_add (o, "temp_c", d.flags & SCHED_DIGEST_F_TEMP ? mw_json_num (d.temp_c, 0) : NULL);
    mw_json_add (o, "cpu_cores", mw_json_num (d.cpu_cores, 1));
    mw_json_add (o, "mem_total_mb", mw_json_u64 (d.mem_total_mb));
    mw_json_add (o, "cgroup", mw_json_bool (d.flags & SCHED_DIGEST_F_CGROUP));
    json_object *hz = json_object_new_array ();
    if (hz) {
        json_object_array_add (hz, mw_json_u64 (d.horizon_s[0]));
        json_object_array_add (hz, mw_json_u64 (d.horizon_s[1]));
    }
    mw_json_add (o, "horizons_s", hz);
    const char *keys[SCHED_DIGEST_METRICS] = {"cpu", "memory", "gpu"};
    for (int part = 0; part < 2; part++) {
        json_object *fc = json_object_new_object ();
        for (int k = 0; fc && k < SCHED_DIGEST_METRICS; k++) {
            json_object *pair = NULL;
            if (k != SCHED_DIGEST_GPU || gpu) {
                pair = json_object_new_array ();
                if (pair) {
                    json_object_array_add (pair, s_num (part ? d.ub[k][0] : d.fc[k][0]));
                    json_object_array_add (pair, s_num (part ? d.ub[k][1] : d.fc[k][1]));
                }
            }
            mw_json_add (fc, keys[k], pair);
        }
        mw_json_add (o, part ? "upper" : "forecast", fc);
    }
    json_object *spread = json_object_new_object ();
    if (spread) {
        mw_json_add (spread, "cpu", s_num (d.spread[0]));
        mw_json_add (spread, "memory", s_num (d.spread[1]));
    }
    mw_json_add (o, "spread", spread);
    mw_json_add (o, "headroom", s_num (sched_digest_headroom (&d)));
    mw_json_add (o, "age_ms", mw_json_u64 (sched_digest_age_ms (&d, wall_ms)));
    return o;
}

void
node_load_prometheus (node_load_t *self, mw_prom_t *out, const gossip_member_info_t *list, size_t n,
                      const gossip_transport_stats_t *st, uint64_t wall_ms)
{
    assert (self);
    const node_collect_sample_t *s = &self->sample;
    double tck = (double) node_collector_clk_tck ();
    //  Seed names (node_exporter's), host view.
    mw_prom_family (out, "node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.");
    for (size_t c = 0; c < s->n_cpus; c++) {
        char cpu[24];
        snprintf (cpu, sizeof cpu, "%zu", c);
        for (int mo = 0; mo < NODE_COLLECT_CPU_MODES; mo++)
            mw_prom_num (out, "node_cpu_seconds_total", (double) s->cpu_ticks[c][mo] / tck, 2, "cpu", cpu,
                         "mode", node_collect_cpu_mode_names[mo], NULL);
    }
    mw_prom_family (out, "node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal_bytes.");
    mw_prom_u64 (out, "node_memory_MemTotal_bytes", s->host_mem_total, NULL);
    mw_prom_family (out, "node_memory_MemAvailable_bytes", "gauge",
                    "Memory information field MemAvailable_bytes.");
    mw_prom_u64 (out, "node_memory_MemAvailable_bytes", s->host_mem_avail, NULL);
    mw_prom_family (out, "node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.");
    for (size_t i = 0; i < s->n_disks; i++)
        mw_prom_num (out, "node_disk_io_time_seconds_total", (double) s->disk[i].a / 1000.0, 3, "device",
                     s->disk[i].name, NULL);
    mw_prom_family (out, "node_network_receive_bytes_total", "counter",
                    "Network device statistic receive_bytes.");
    for (size_t i = 0; i < s->n_nets; i++)
        mw_prom_u64 (out, "node_network_receive_bytes_total", s->net[i].a, "device", s->net[i].name, NULL);
    mw_prom_family (out, "node_network_transmit_bytes_total", "counter",
                    "Network device statistic transmit_bytes.");
    for (size_t i = 0; i < s->n_nets; i++)
        mw_prom_u64 (out, "node_network_transmit_bytes_total", s->net[i].b, "device", s->net[i].name, NULL);

    //  Ours: utilisation as used for decisions (the cgroup's when limited).
    mw_prom_family (out, "meshwatch_cpu_usage_percent", "gauge",
                    "CPU use in percent of capacity (cgroup quota when limited).");
    mw_prom_num (out, "meshwatch_cpu_usage_percent", s->cpu_pct, 2, NULL);
    mw_prom_family (out, "meshwatch_cpu_capacity_cores", "gauge",
                    "CPU capacity in cores (cgroup quota or online CPUs).");
    mw_prom_num (out, "meshwatch_cpu_capacity_cores", s->cpu_cores, 2, NULL);
    mw_prom_family (out, "meshwatch_memory_usage_percent", "gauge",
                    "Memory use in percent of capacity (cgroup limit when limited).");
    mw_prom_num (out, "meshwatch_memory_usage_percent", s->mem_pct, 2, NULL);
    if (s->has_gpu) {
        mw_prom_family (out, "meshwatch_gpu_usage_percent", "gauge", "GPU utilisation in percent.");
        mw_prom_num (out, "meshwatch_gpu_usage_percent", s->gpu_pct, 2, NULL);
    }
    if (s->has_temp) {
        mw_prom_family (out, "meshwatch_temperature_celsius", "gauge", "Hottest thermal zone.");
        mw_prom_num (out, "meshwatch_temperature_celsius", s->temp_c, 1, NULL);
    }
    mw_prom_family (out, "meshwatch_inference_queue_length", "gauge",
                    "Inference jobs waiting (scheduler input).");
    mw_prom_u64 (out, "meshwatch_inference_queue_length", s->queue_len, NULL);
    mw_prom_family (out, "meshwatch_job_arrival_rate", "gauge",
                    "Inference jobs arriving per second (scheduler input).");
    mw_prom_num (out, "meshwatch_job_arrival_rate", s->arrival_rate, 3, NULL);

    //  Forecasts: point and upper bound per metric and horizon, and trust.
    mw_prom_family (out, "meshwatch_forecast", "gauge",
                    "Forecast of a metric (percent; queue in jobs) at a horizon; bound=point|upper.");
    for (int m = 0; m < M_COUNT; m++) {
        if (m == M_GPU && !s->has_gpu)
            continue;
        for (size_t h = 0; h < self->n_horizons; h++) {
            sched_forecast_out_t o;
            if (sched_forecast_get (self->fc[m], h, &o) != 0)
                continue;
            if (o.value < 0)   //  the queue (unclamped) on a falling trend
                o.value = 0;
            char hs[16];
            snprintf (hs, sizeof hs, "%u", self->horizon_s[h]);
            mw_prom_num (out, "meshwatch_forecast", o.value, 3, "metric", s_metric_names[m],
                         "horizon_seconds", hs, "bound", "point", NULL);
            //  An upper bound the forecaster cannot back yet is +Inf.
            mw_prom_num (out, "meshwatch_forecast", isfinite (o.upper) ? o.upper : INFINITY, 3, "metric",
                         s_metric_names[m], "horizon_seconds", hs, "bound", "upper", NULL);
        }
    }
    mw_prom_family (out, "meshwatch_forecast_spread", "gauge",
                    "Mean absolute forecast error at a horizon (lower = more trustworthy).");
    for (int m = 0; m < M_COUNT; m++) {
        if (m == M_GPU && !s->has_gpu)
            continue;
        for (size_t h = 0; h < self->n_horizons; h++) {
            sched_forecast_out_t o;
            char hs[16];
            snprintf (hs, sizeof hs, "%u", self->horizon_s[h]);
            if (sched_forecast_get (self->fc[m], h, &o) == 0)
                mw_prom_num (out, "meshwatch_forecast_spread", o.spread, 3, "metric", s_metric_names[m],
                             "horizon_seconds", hs, NULL);
        }
    }

    //  Membership and traffic.
    size_t counts[MW_STATE_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        if (list[i].state < MW_STATE_COUNT)
            counts[list[i].state]++;
    mw_prom_family (out, "meshwatch_members", "gauge",
                    "Members in this node's view, by state (self included).");
    for (int k = 0; k < MW_STATE_COUNT; k++)
        mw_prom_u64 (out, "meshwatch_members", counts[k], "state", gossip_wire_state_name (k), NULL);
    if (st) {
        mw_prom_family (out, "meshwatch_gossip_bytes_total", "counter", "Mesh bytes received and sent.");
        mw_prom_u64 (out, "meshwatch_gossip_bytes_total", st->bytes_in, "direction", "in", NULL);
        mw_prom_u64 (out, "meshwatch_gossip_bytes_total", st->bytes_out, "direction", "out", NULL);
        mw_prom_family (out, "meshwatch_gossip_messages_total", "counter",
                        "Mesh messages received and sent.");
        mw_prom_u64 (out, "meshwatch_gossip_messages_total", st->msgs_in, "direction", "in", NULL);
        mw_prom_u64 (out, "meshwatch_gossip_messages_total", st->msgs_out, "direction", "out", NULL);
        mw_prom_family (out, "meshwatch_rejected_messages_total", "counter",
                        "Mesh messages rejected, by reason.");
        for (int r = 0; r < MW_REJ_COUNT; r++)
            mw_prom_u64 (out, "meshwatch_rejected_messages_total", st->rejected[r], "reason",
                         gossip_transport_reject_name ((gossip_reject_t) r), NULL);
    }
    mw_prom_family (out, "meshwatch_peer_forecast_age_seconds", "gauge",
                    "Age of the latest resource digest held for each live peer.");
    for (size_t i = 0; i < n; i++) {
        sched_digest_t d;
        if (list[i].is_self || list[i].state > MW_STATE_SUSPECT
            || sched_digest_decode (list[i].digest, list[i].digest_len, &d) != 0)
            continue;
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&list[i].id, hex);
        //  The name comes from the wire: the writer escapes it.
        mw_prom_num (out, "meshwatch_peer_forecast_age_seconds",
                     (double) sched_digest_age_ms (&d, wall_ms) / 1000.0, 3, "peer", hex, "name",
                     list[i].name, NULL);
    }
}

int
node_load_test (bool verbose)
{
    int rc = 0;
    uint32_t hs[2] = {5, 30};
    node_load_t *l = node_load_new (1000, hs, 2, NULL);
    CHECK (l, "new");
    if (!l)
        return -1;
    uint8_t buf[64];
    int len = 0;
    for (int i = 0; i < 3; i++)
        len = node_load_tick (l, 1000 + (uint64_t) i * 1000, 5000000 + (uint64_t) i * 1000, buf, sizeof buf);
    CHECK (len == SCHED_DIGEST_SIZE, "digest length %d", len);
    if (len != SCHED_DIGEST_SIZE) {
        node_load_destroy (&l);
        return -1;
    }
    gossip_member_info_t m[2];
    memset (m, 0, sizeof m);
    memcpy (m[0].digest, buf, (size_t) len);
    m[0].digest_len = (uint16_t) len;
    m[0].is_self = true;
    snprintf (m[0].name, sizeof m[0].name, "self");
    //  A peer whose name came from the wire with every character that
    //  breaks a naive writer.
    m[1] = m[0];
    m[1].is_self = false;
    m[1].state = MW_STATE_ALIVE;
    m[1].id.b[0] = 0xab;
    snprintf (m[1].name, sizeof m[1].name, "evil\"}\\\nname");
    json_object *o = node_load_member_json (&m[0], 5002500);
    CHECK (o && mw_json_get_int (o, "age_ms", -1) == 500, "age_ms");
    json_object *hz = mw_json_get (o, "horizons_s");
    CHECK (hz && json_object_array_length (hz) == 2
               && json_object_get_int (json_object_array_get_idx (hz, 1)) == 30,
           "horizons_s");
    CHECK (mw_json_is_null (o, "gpu") == !node_load_sample (l)->has_gpu, "gpu null without a GPU");
    json_object *up = mw_json_get (mw_json_get (o, "upper"), "cpu");
    CHECK (up && json_object_array_length (up) == 2, "upper.cpu pair");
    if (verbose)
        printf ("  %s\n", mw_json_text (o, false));
    json_object_put (o);
    gossip_member_info_t nodigest;
    memset (&nodigest, 0, sizeof nodigest);
    CHECK (node_load_member_json (&nodigest, 1) == NULL, "no digest: null");

    mw_prom_t *p = mw_prom_new ();
    gossip_transport_stats_t st;
    memset (&st, 0, sizeof st);
    st.msgs_in = 42;
    node_load_prometheus (l, p, m, 2, &st, 5002500);
    const char *text = mw_prom_text (p);
    CHECK (text && strstr (text, "node_memory_MemTotal_bytes "), "MemTotal");
    CHECK (text && strstr (text, "meshwatch_forecast{metric=\"cpu\",horizon_seconds=\"30\",bound=\"upper\"}"),
           "forecast upper");
    CHECK (text && strstr (text, "meshwatch_gossip_messages_total{direction=\"in\"} 42\n"), "messages in");
    CHECK (text
               && strstr (text, "meshwatch_peer_forecast_age_seconds{peer=\"ab00000000000000\","
                                "name=\"evil\\\"}\\\\\\nname\"} 0.500\n"),
           "hostile peer name escaped");
    CHECK (text && strstr (text, "meshwatch_members{state=\"alive\"} 2\n"), "members by state");
    //  Every line is a comment or "name{labels} value": no raw newline split one.
    for (const char *line = text; line && *line;) {
        const char *e = strchr (line, '\n');
        CHECK (e, "unterminated last line");
        if (!e)
            break;
        CHECK (*line == '#' || (line[0] >= 'a' && line[0] <= 'z'), "bad line: %.*s", (int) (e - line), line);
        line = e + 1;
    }
    if (verbose)
        printf ("  %zu bytes of exposition\n", mw_prom_len (p));
    mw_prom_destroy (&p);
    node_load_destroy (&l);
    CHECK (l == NULL, "destroy nulls");
    return rc;
}
