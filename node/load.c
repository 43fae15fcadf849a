/*  =========================================================================
    node_load - sampling + forecasts + digest + views (see load.h).

    One forecaster per metric: CPU, memory and GPU in percent of capacity
    (clamped to 0..100), and the inference queue length.  The digest carries
    the first three (its layout has no room to spare); the queue's forecast
    shows in /metrics.
    ========================================================================= */
#include "node/load.h"
#include "common/log.h"
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
    double svc_ms;
    uint32_t workers, queue_max;
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
node_load_set_jobs (node_load_t *self, uint16_t job_port, double svc_ms, uint32_t workers, uint32_t queue_max)
{
    assert (self);
    self->jobs = job_port > 0 && workers > 0;
    self->job_port = job_port;
    self->svc_ms = svc_ms;
    self->workers = workers;
    self->queue_max = queue_max;
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
    d->svc_ms = self->svc_ms;
    d->workers = self->workers;
    d->queue_max = self->queue_max;
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

static void
s_json_num (mw_strbuf_t *out, double v)
{
    mw_strbuf_printf (out, "%.2f", isfinite (v) ? v : 0);
}

void
node_load_member_json (mw_strbuf_t *out, const gossip_member_info_t *m, uint64_t wall_ms)
{
    sched_digest_t d;
    if (sched_digest_decode (m->digest, m->digest_len, &d) != 0) {
        mw_strbuf_printf (out, ",\"load\":null");
        return;
    }
    bool gpu = d.flags & SCHED_DIGEST_F_GPU;
    mw_strbuf_printf (out, ",\"load\":{\"cpu\":");
    s_json_num (out, d.cur[SCHED_DIGEST_CPU]);
    mw_strbuf_printf (out, ",\"memory\":");
    s_json_num (out, d.cur[SCHED_DIGEST_MEM]);
    mw_strbuf_printf (out, ",\"gpu\":");
    if (gpu)
        s_json_num (out, d.cur[SCHED_DIGEST_GPU]);
    else
        mw_strbuf_printf (out, "null");
    mw_strbuf_printf (out, ",\"queue\":%u,\"arrival_rate\":", d.queue_len);
    s_json_num (out, d.arrival_rate);
    if (d.flags & SCHED_DIGEST_F_TEMP)
        mw_strbuf_printf (out, ",\"temp_c\":%.0f", d.temp_c);
    else
        mw_strbuf_printf (out, ",\"temp_c\":null");
    mw_strbuf_printf (out, ",\"cpu_cores\":%.1f,\"mem_total_mb\":%llu,\"cgroup\":%s,\"horizons_s\":[%u,%u]",
                      d.cpu_cores, (unsigned long long) d.mem_total_mb,
                      d.flags & SCHED_DIGEST_F_CGROUP ? "true" : "false", d.horizon_s[0], d.horizon_s[1]);
    const char *keys[SCHED_DIGEST_METRICS] = {"cpu", "memory", "gpu"};
    for (int part = 0; part < 2; part++) {
        mw_strbuf_printf (out, ",\"%s\":{", part ? "upper" : "forecast");
        for (int k = 0; k < SCHED_DIGEST_METRICS; k++) {
            mw_strbuf_printf (out, "%s\"%s\":", k ? "," : "", keys[k]);
            if (k == SCHED_DIGEST_GPU && !gpu) {
                mw_strbuf_printf (out, "null");
                continue;
            }
            mw_strbuf_printf (out, "[");
            s_json_num (out, part ? d.ub[k][0] : d.fc[k][0]);
            mw_strbuf_printf (out, ",");
            s_json_num (out, part ? d.ub[k][1] : d.fc[k][1]);
            mw_strbuf_printf (out, "]");
        }
        mw_strbuf_printf (out, "}");
    }
    mw_strbuf_printf (out, ",\"spread\":{\"cpu\":");
    s_json_num (out, d.spread[0]);
    mw_strbuf_printf (out, ",\"memory\":");
    s_json_num (out, d.spread[1]);
    mw_strbuf_printf (out, "},\"headroom\":");
    s_json_num (out, sched_digest_headroom (&d));
    mw_strbuf_printf (out, ",\"age_ms\":%llu}", (unsigned long long) sched_digest_age_ms (&d, wall_ms));
}

const char *
node_load_table_header (void)
{
    return "  CPU%  MEM%  GPU%      Q  CPU@h0  CPU@h1  UB@h0  HEAD%     AGE";
}

void
node_load_member_cols (mw_strbuf_t *out, const gossip_member_info_t *m, uint64_t wall_ms)
{
    sched_digest_t d;
    if (sched_digest_decode (m->digest, m->digest_len, &d) != 0) {
        mw_strbuf_printf (out, "  %4s  %4s  %4s  %5s  %6s  %6s  %5s  %5s  %6s", "-", "-", "-", "-", "-", "-",
                          "-", "-", "-");
        return;
    }
    char gpu[16];
    if (d.flags & SCHED_DIGEST_F_GPU)
        snprintf (gpu, sizeof gpu, "%4.0f", d.cur[SCHED_DIGEST_GPU]);
    else
        snprintf (gpu, sizeof gpu, "%4s", "-");
    mw_strbuf_printf (out, "  %4.0f  %4.0f  %s  %5u  %6.1f  %6.1f  %5.1f  %5.1f  %5.1fs", d.cur[0], d.cur[1],
                      gpu, d.queue_len, d.fc[0][0], d.fc[0][1], d.ub[0][0], sched_digest_headroom (&d),
                      (double) sched_digest_age_ms (&d, wall_ms) / 1000.0);
}

static void
s_family (mw_strbuf_t *out, const char *name, const char *type, const char *help)
{
    mw_strbuf_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
node_load_prometheus (node_load_t *self, mw_strbuf_t *out, const gossip_member_info_t *list, size_t n,
                      const gossip_transport_stats_t *st, uint64_t wall_ms)
{
    assert (self);
    const node_collect_sample_t *s = &self->sample;
    double tck = (double) node_collector_clk_tck ();
    //  Seed names (node_exporter's), host view.
    s_family (out, "node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.");
    for (size_t c = 0; c < s->n_cpus; c++)
        for (int mo = 0; mo < NODE_COLLECT_CPU_MODES; mo++)
            mw_strbuf_printf (out, "node_cpu_seconds_total{cpu=\"%zu\",mode=\"%s\"} %.2f\n", c,
                              node_collect_cpu_mode_names[mo], (double) s->cpu_ticks[c][mo] / tck);
    s_family (out, "node_memory_MemTotal_bytes", "gauge", "Memory information field MemTotal_bytes.");
    mw_strbuf_printf (out, "node_memory_MemTotal_bytes %llu\n", (unsigned long long) s->host_mem_total);
    s_family (out, "node_memory_MemAvailable_bytes", "gauge", "Memory information field MemAvailable_bytes.");
    mw_strbuf_printf (out, "node_memory_MemAvailable_bytes %llu\n", (unsigned long long) s->host_mem_avail);
    s_family (out, "node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.");
    for (size_t i = 0; i < s->n_disks; i++)
        mw_strbuf_printf (out, "node_disk_io_time_seconds_total{device=\"%s\"} %.3f\n", s->disk[i].name,
                          (double) s->disk[i].a / 1000.0);
    s_family (out, "node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes.");
    for (size_t i = 0; i < s->n_nets; i++)
        mw_strbuf_printf (out, "node_network_receive_bytes_total{device=\"%s\"} %llu\n", s->net[i].name,
                          (unsigned long long) s->net[i].a);
    s_family (out, "node_network_transmit_bytes_total", "counter",
              "Network device statistic transmit_bytes.");
    for (size_t i = 0; i < s->n_nets; i++)
        mw_strbuf_printf (out, "node_network_transmit_bytes_total{device=\"%s\"} %llu\n", s->net[i].name,
                          (unsigned long long) s->net[i].b);

    //  Ours: utilisation as used for decisions (the cgroup's when limited).
    s_family (out, "meshwatch_cpu_usage_percent", "gauge",
              "CPU use in percent of capacity (cgroup quota when limited).");
    mw_strbuf_printf (out, "meshwatch_cpu_usage_percent %.2f\n", s->cpu_pct);
    s_family (out, "meshwatch_cpu_capacity_cores", "gauge",
              "CPU capacity in cores (cgroup quota or online CPUs).");
    mw_strbuf_printf (out, "meshwatch_cpu_capacity_cores %.2f\n", s->cpu_cores);
    s_family (out, "meshwatch_memory_usage_percent", "gauge",
              "Memory use in percent of capacity (cgroup limit when limited).");
    mw_strbuf_printf (out, "meshwatch_memory_usage_percent %.2f\n", s->mem_pct);
    if (s->has_gpu) {
        s_family (out, "meshwatch_gpu_usage_percent", "gauge", "GPU utilisation in percent.");
        mw_strbuf_printf (out, "meshwatch_gpu_usage_percent %.2f\n", s->gpu_pct);
    }
    if (s->has_temp) {
        s_family (out, "meshwatch_temperature_celsius", "gauge", "Hottest thermal zone.");
        mw_strbuf_printf (out, "meshwatch_temperature_celsius %.1f\n", s->temp_c);
    }
    s_family (out, "meshwatch_inference_queue_length", "gauge", "Inference jobs waiting (scheduler input).");
    mw_strbuf_printf (out, "meshwatch_inference_queue_length %u\n", s->queue_len);
    s_family (out, "meshwatch_job_arrival_rate", "gauge",
              "Inference jobs arriving per second (scheduler input).");
    mw_strbuf_printf (out, "meshwatch_job_arrival_rate %.3f\n", s->arrival_rate);

    //  Forecasts: point and upper bound per metric and horizon, and trust.
    s_family (out, "meshwatch_forecast", "gauge",
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
            mw_strbuf_printf (
                out, "meshwatch_forecast{metric=\"%s\",horizon_seconds=\"%u\",bound=\"point\"} %.3f\n",
                s_metric_names[m], self->horizon_s[h], o.value);
            if (isfinite (o.upper))
                mw_strbuf_printf (
                    out, "meshwatch_forecast{metric=\"%s\",horizon_seconds=\"%u\",bound=\"upper\"} %.3f\n",
                    s_metric_names[m], self->horizon_s[h], o.upper);
            else
                mw_strbuf_printf (
                    out, "meshwatch_forecast{metric=\"%s\",horizon_seconds=\"%u\",bound=\"upper\"} +Inf\n",
                    s_metric_names[m], self->horizon_s[h]);
        }
    }
    s_family (out, "meshwatch_forecast_spread", "gauge",
              "Mean absolute forecast error at a horizon (lower = more trustworthy).");
    for (int m = 0; m < M_COUNT; m++) {
        if (m == M_GPU && !s->has_gpu)
            continue;
        for (size_t h = 0; h < self->n_horizons; h++) {
            sched_forecast_out_t o;
            if (sched_forecast_get (self->fc[m], h, &o) == 0)
                mw_strbuf_printf (out,
                                  "meshwatch_forecast_spread{metric=\"%s\",horizon_seconds=\"%u\"} %.3f\n",
                                  s_metric_names[m], self->horizon_s[h], o.spread);
        }
    }

    //  Membership and traffic.
    size_t counts[MW_STATE_COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        if (list[i].state < MW_STATE_COUNT)
            counts[list[i].state]++;
    s_family (out, "meshwatch_members", "gauge", "Members in this node's view, by state (self included).");
    for (int k = 0; k < MW_STATE_COUNT; k++)
        mw_strbuf_printf (out, "meshwatch_members{state=\"%s\"} %zu\n", gossip_wire_state_name (k),
                          counts[k]);
    if (st) {
        s_family (out, "meshwatch_gossip_bytes_total", "counter", "Mesh bytes received and sent.");
        mw_strbuf_printf (out, "meshwatch_gossip_bytes_total{direction=\"in\"} %llu\n",
                          (unsigned long long) st->bytes_in);
        mw_strbuf_printf (out, "meshwatch_gossip_bytes_total{direction=\"out\"} %llu\n",
                          (unsigned long long) st->bytes_out);
        s_family (out, "meshwatch_gossip_messages_total", "counter", "Mesh messages received and sent.");
        mw_strbuf_printf (out, "meshwatch_gossip_messages_total{direction=\"in\"} %llu\n",
                          (unsigned long long) st->msgs_in);
        mw_strbuf_printf (out, "meshwatch_gossip_messages_total{direction=\"out\"} %llu\n",
                          (unsigned long long) st->msgs_out);
        s_family (out, "meshwatch_rejected_messages_total", "counter", "Mesh messages rejected, by reason.");
        for (int r = 0; r < MW_REJ_COUNT; r++)
            mw_strbuf_printf (out, "meshwatch_rejected_messages_total{reason=\"%s\"} %llu\n",
                              gossip_transport_reject_name ((gossip_reject_t) r),
                              (unsigned long long) st->rejected[r]);
    }
    s_family (out, "meshwatch_peer_forecast_age_seconds", "gauge",
              "Age of the latest resource digest held for each live peer.");
    for (size_t i = 0; i < n; i++) {
        sched_digest_t d;
        if (list[i].is_self || list[i].state > MW_STATE_SUSPECT
            || sched_digest_decode (list[i].digest, list[i].digest_len, &d) != 0)
            continue;
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&list[i].id, hex);
        mw_strbuf_printf (out, "meshwatch_peer_forecast_age_seconds{peer=\"%s\",name=\"%s\"} %.3f\n", hex,
                          list[i].name, (double) sched_digest_age_ms (&d, wall_ms) / 1000.0);
    }
}

int
node_load_test (bool verbose)
{
    int rc = 0;
    uint32_t hs[2] = {5, 30};
    node_load_t *l = node_load_new (1000, hs, 2, NULL);
    if (!l)
        return -1;
    uint8_t buf[64];
    int len = 0;
    for (int i = 0; i < 3; i++)
        len = node_load_tick (l, 1000 + (uint64_t) i * 1000, 5000000 + (uint64_t) i * 1000, buf, sizeof buf);
    if (len != SCHED_DIGEST_SIZE)
        rc = -1;
    gossip_member_info_t m;
    memset (&m, 0, sizeof m);
    memcpy (m.digest, buf, (size_t) len);
    m.digest_len = (uint16_t) len;
    m.is_self = true;
    snprintf (m.name, sizeof m.name, "self");
    mw_strbuf_t *out = mw_strbuf_new ();
    node_load_member_json (out, &m, 5002500);
    if (!strstr (mw_strbuf_str (out), "\"age_ms\":500}")
        || !strstr (mw_strbuf_str (out), "\"horizons_s\":[5,30]"))
        rc = -1;
    if (verbose)
        printf ("  %s\n", mw_strbuf_str (out));
    mw_strbuf_destroy (&out);
    out = mw_strbuf_new ();
    gossip_transport_stats_t st;
    memset (&st, 0, sizeof st);
    node_load_prometheus (l, out, &m, 1, &st, 5002500);
    if (!strstr (mw_strbuf_str (out), "node_memory_MemTotal_bytes ")
        || !strstr (mw_strbuf_str (out),
                    "meshwatch_forecast{metric=\"cpu\",horizon_seconds=\"30\",bound=\"upper\"}"))
        rc = -1;
    mw_strbuf_destroy (&out);
    node_load_destroy (&l);
    return l == NULL ? rc : -1;
}
