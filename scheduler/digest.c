/*  =========================================================================
    sched_digest - resource digest codec (see digest.h for the layout).

    Quantisation is chosen so that the rounding error is far below the
    forecast error it carries: 0.01 % for readings and forecasts, 0.5 % for
    the spread.  Byte order is fixed (little-endian) so that an x86 test box
    and an aarch64 Jetson read each other.
    ========================================================================= */
#include "scheduler/digest.h"
#include "common/selftest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

//  Byte 48, job flags.
#define SCHED_DIGEST_JOB_F_RUNS 0x01

static uint64_t
s_q (double v, double unit, uint64_t max)
{
    if (!(v > 0))   //  also NaN
        return 0;
    double q = floor (v / unit + 0.5);
    return q >= (double) max ? max : (uint64_t) q;
}

static void
s_put16 (uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] | (p[1] << 8));
}

static void
s_pct (uint8_t *p, double pct)
{
    s_put16 (p, s_q (pct, 0.01, 10000));
}

int
sched_digest_encode (const sched_digest_t *d, uint8_t *buf, size_t cap)
{
    assert (d);
    assert (buf);
    if (cap < SCHED_DIGEST_SIZE)
        return -1;
    memset (buf, 0, SCHED_DIGEST_SIZE);
    buf[0] = SCHED_DIGEST_VERSION;
    buf[1] = d->flags & (SCHED_DIGEST_F_GPU | SCHED_DIGEST_F_TEMP | SCHED_DIGEST_F_CGROUP);
    for (int i = 0; i < 4; i++)
        buf[2 + i] = (uint8_t) (d->ts_ms >> (8 * i));
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++)
        s_pct (buf + 6 + 2 * m, d->cur[m]);
    s_put16 (buf + 12, d->queue_len > 65535 ? 65535 : d->queue_len);
    s_put16 (buf + 14, s_q (d->arrival_rate, 0.01, 65535));
    buf[16] = (uint8_t) s_q (d->temp_c, 1, 255);
    buf[17] = (uint8_t) s_q (d->cpu_cores, 0.1, 255);
    s_put16 (buf + 18, (d->mem_total_mb >> 4) > 65535 ? 65535 : d->mem_total_mb >> 4);
    for (int h = 0; h < 2; h++)
        buf[20 + h] = (uint8_t) (d->horizon_s[h] > 255 ? 255 : d->horizon_s[h]);
    uint8_t *p = buf + 22;
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++)
        for (int h = 0; h < 2; h++) {
            s_pct (p, d->fc[m][h]);
            s_pct (p + 2, d->ub[m][h]);
            p += 4;
        }
    buf[46] = (uint8_t) s_q (d->spread[0], 0.5, 255);
    buf[47] = (uint8_t) s_q (d->spread[1], 0.5, 255);
    //  Job fields.  A node that runs no jobs sends zeros, so that a reader
    //  cannot pick it from stale numbers.
    if (d->jobs) {
        buf[48] = SCHED_DIGEST_JOB_F_RUNS;
        s_put16 (buf + 49, d->job_port);
        s_put16 (buf + 51, s_q (d->svc_ms, 0.1, 65535));
        buf[53] = (uint8_t) (d->workers > 255 ? 255 : d->workers);
        s_put16 (buf + 54, d->queue_max > 65535 ? 65535 : d->queue_max);
        s_put16 (buf + 56, s_q (d->queue_ub, 0.1, 65535));
    }
    s_put16 (buf + 58, d->api_port);
    buf[60] = d->api_port && d->api_https ? 1 : 0;
    s_put16 (buf + 61, d->pkg_port);
    return SCHED_DIGEST_SIZE;
}

int
sched_digest_decode (const uint8_t *buf, size_t len, sched_digest_t *d)
{
    assert (d);
    memset (d, 0, sizeof *d);
    //  A 48-byte digest is the same version from a node built before the
    //  job fields were appended: it decodes, with jobs = false.  A length
    //  between the two layouts comes from no encoder: refused, not guessed.
    if (!buf || buf[0] != SCHED_DIGEST_VERSION)
        return -1;
    if (len != SCHED_DIGEST_SIZE_V1_BASE && len != SCHED_DIGEST_SIZE_V1_JOBS
        && len != SCHED_DIGEST_SIZE_V1_API && len < SCHED_DIGEST_SIZE)
        return -1;
    d->version = buf[0];
    d->flags = buf[1];
    d->ts_ms = (uint32_t) buf[2] | (uint32_t) buf[3] << 8 | (uint32_t) buf[4] << 16 | (uint32_t) buf[5] << 24;
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++)
        d->cur[m] = s_get16 (buf + 6 + 2 * m) * 0.01;
    d->queue_len = s_get16 (buf + 12);
    d->arrival_rate = s_get16 (buf + 14) * 0.01;
    d->temp_c = buf[16];
    d->cpu_cores = buf[17] * 0.1;
    d->mem_total_mb = (uint64_t) s_get16 (buf + 18) << 4;
    d->horizon_s[0] = buf[20];
    d->horizon_s[1] = buf[21];
    const uint8_t *p = buf + 22;
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++)
        for (int h = 0; h < 2; h++) {
            d->fc[m][h] = s_get16 (p) * 0.01;
            d->ub[m][h] = s_get16 (p + 2) * 0.01;
            p += 4;
        }
    d->spread[0] = buf[46] * 0.5;
    d->spread[1] = buf[47] * 0.5;
    //  Job fields, only from a node that runs jobs: any numbers another
    //  node sends next to a clear flag are not worth reading.
    if (len >= SCHED_DIGEST_SIZE_V1_JOBS && (buf[48] & SCHED_DIGEST_JOB_F_RUNS)) {
        d->jobs = true;
        d->job_port = s_get16 (buf + 49);
        d->svc_ms = s_get16 (buf + 51) * 0.1;
        d->workers = buf[53];
        d->queue_max = s_get16 (buf + 54);
        d->queue_ub = s_get16 (buf + 56) * 0.1;
    }
    if (len >= SCHED_DIGEST_SIZE_V1_API) {
        d->api_port = s_get16 (buf + 58);
        d->api_https = d->api_port && (buf[60] & 1);
    }
    if (len >= SCHED_DIGEST_SIZE)
        d->pkg_port = s_get16 (buf + 61);
    //  Percent fields decode above 100 only from a foreign encoder: clamp.
    for (int m = 0; m < SCHED_DIGEST_METRICS; m++) {
        d->cur[m] = d->cur[m] > 100 ? 100 : d->cur[m];
        for (int h = 0; h < 2; h++) {
            d->fc[m][h] = d->fc[m][h] > 100 ? 100 : d->fc[m][h];
            d->ub[m][h] = d->ub[m][h] > 100 ? 100 : d->ub[m][h];
        }
    }
    return 0;
}

uint64_t
sched_digest_age_ms (const sched_digest_t *d, uint64_t now_wall_ms)
{
    assert (d);
    uint32_t diff = (uint32_t) now_wall_ms - d->ts_ms;
    //  More than ~24 days "old" is a sample from the future (skew).
    return diff > UINT32_MAX / 2 ? 0 : diff;
}

double
sched_digest_headroom (const sched_digest_t *d)
{
    assert (d);
    double h = 100.0 - d->ub[SCHED_DIGEST_CPU][0];
    return h < 0 ? 0 : h;
}

bool
sched_digest_idle (const sched_digest_t *d, double busy_headroom)
{
    assert (d);
    return sched_digest_headroom (d) >= busy_headroom && d->queue_len == 0 && d->queue_ub < 1.0;
}

void
sched_digest_peer (const sched_digest_t *d, uint64_t now_wall_ms, double svc_default_ms, placement_peer_t *p)
{
    assert (d && p);
    memset (p, 0, sizeof *p);
    p->usable = true;
    p->digest_age_ms = (uint32_t) sched_digest_age_ms (d, now_wall_ms);
    p->idle = sched_digest_idle (d, SCHED_DIGEST_BUSY_HEADROOM);
    p->cpu_now_pct = d->cur[SCHED_DIGEST_CPU];
    //  The point forecast at the first horizon, not its upper bound:
    //  placement turns this figure into a queueing backlog (M/D/1), and the
    //  conformal bound stays near a past spike's height for a whole
    //  residual window (a minute), so an idle box that loaded a model or
    //  ran a backup a minute ago would look saturated and every overflow
    //  would go to the server.  The forecaster's own error (spread) is
    //  still added by placement as distrust, and the peer's accept or
    //  refuse decides in the end.
    p->cpu_ub_pct = d->fc[SCHED_DIGEST_CPU][0] > d->cur[SCHED_DIGEST_CPU] ? d->fc[SCHED_DIGEST_CPU][0]
                                                                          : d->cur[SCHED_DIGEST_CPU];
    p->spread_pct = d->spread[0];
    p->queue_len = d->queue_len;
    p->queue_fc = d->queue_ub;
    p->workers = d->workers ? d->workers : 1;
    p->svc_ms = d->svc_ms > 0 ? d->svc_ms : svc_default_ms;
    p->arrival_rate = d->arrival_rate;
    p->heard_age_ms = UINT32_MAX;   //  a REPLY is the hand-off's to add, not the digest's
}

int
sched_digest_test (bool verbose)
{
    int rc = 0;
    sched_digest_t d = {0}, e;
    d.flags = SCHED_DIGEST_F_GPU | SCHED_DIGEST_F_CGROUP | 0x80;
    d.ts_ms = 0xfffffff0u;
    d.cur[0] = 37.25, d.cur[1] = 61.5, d.cur[2] = 99.99;
    d.queue_len = 12;
    d.arrival_rate = 3.75;
    d.temp_c = 54.4;
    d.cpu_cores = 1.5;
    d.mem_total_mb = 7770;
    d.horizon_s[0] = 5, d.horizon_s[1] = 30;
    for (int m = 0; m < 3; m++)
        for (int h = 0; h < 2; h++) {
            d.fc[m][h] = 10.0 * m + h + 0.33;
            d.ub[m][h] = d.fc[m][h] + 7.5;
        }
    d.spread[0] = 4.2, d.spread[1] = 200;
    uint8_t buf[64];
    CHECK (sched_digest_encode (&d, buf, 10) == -1, "short buffer accepted");
    int len = sched_digest_encode (&d, buf, sizeof buf);
    CHECK (len == SCHED_DIGEST_SIZE && len <= 64, "size");
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0, "decode");
    CHECK (e.version == 1 && e.flags == (SCHED_DIGEST_F_GPU | SCHED_DIGEST_F_CGROUP), "flags");
    CHECK (e.ts_ms == d.ts_ms, "ts");
    CHECK (fabs (e.cur[0] - 37.25) < 0.006 && fabs (e.cur[2] - 99.99) < 0.006, "cur");
    CHECK (e.queue_len == 12 && fabs (e.arrival_rate - 3.75) < 0.006, "queue/rate");
    CHECK (e.temp_c == 54 && fabs (e.cpu_cores - 1.5) < 0.06, "temp/cores");
    CHECK (e.mem_total_mb >= 7760 && e.mem_total_mb <= 7770, "mem total");
    CHECK (e.horizon_s[0] == 5 && e.horizon_s[1] == 30, "horizons");
    CHECK (fabs (e.fc[2][1] - 21.33) < 0.006 && fabs (e.ub[2][1] - 28.83) < 0.006, "forecast");
    CHECK (fabs (e.spread[0] - 4.0) < 0.01 && e.spread[1] == 127.5, "spread");
    CHECK (fabs (sched_digest_headroom (&e) - (100 - 7.83)) < 0.01, "headroom");
    //  Age across the 32-bit wrap, and from the future.
    CHECK (sched_digest_age_ms (&e, UINT64_C (0x100000010)) == 32, "age wrap");
    CHECK (sched_digest_age_ms (&e, UINT64_C (0xffffff00)) == 0, "future age");
    //  Clamping of absurd inputs.
    sched_digest_t z = {0};
    z.cur[0] = 1e9, z.cur[1] = -5, z.cur[2] = NAN, z.queue_len = 1000000, z.arrival_rate = 1e9;
    len = sched_digest_encode (&z, buf, sizeof buf);
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0, "decode clamped");
    CHECK (e.cur[0] == 100 && e.cur[1] == 0 && e.cur[2] == 0 && e.queue_len == 65535, "clamp");
    CHECK (!e.jobs && e.job_port == 0 && e.svc_ms == 0 && e.workers == 0 && e.queue_max == 0
               && e.queue_ub == 0,
           "job fields of a node without jobs");
    //  Job fields: round trip, quantisation and clamping.
    sched_digest_t j = d;
    j.jobs = true;
    j.job_port = 7948;
    j.svc_ms = 42.37;
    j.workers = 3;
    j.queue_max = 16;
    j.queue_ub = 2.46;
    len = sched_digest_encode (&j, buf, sizeof buf);
    CHECK (len == SCHED_DIGEST_SIZE, "size with jobs");
    CHECK (buf[48] == 0x01 && buf[49] == (7948 & 0xff) && buf[50] == (7948 >> 8), "job offsets");
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0, "decode with jobs");
    CHECK (e.jobs && e.job_port == 7948 && fabs (e.svc_ms - 42.4) < 0.051 && e.workers == 3
               && e.queue_max == 16 && fabs (e.queue_ub - 2.5) < 0.051,
           "job fields");
    CHECK (e.ts_ms == d.ts_ms && fabs (e.cur[0] - 37.25) < 0.006, "older fields with jobs");
    j.svc_ms = 1e9, j.workers = 1000, j.queue_max = 1000000, j.queue_ub = NAN;
    len = sched_digest_encode (&j, buf, sizeof buf);
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0, "decode clamped jobs");
    CHECK (e.svc_ms > 6553.4 && e.svc_ms < 6553.6 && e.workers == 255 && e.queue_max == 65535
               && e.queue_ub == 0,
           "job clamp");
    //  An older node's 48-byte digest: decodes, no jobs, job fields zero
    //  (even where the bytes after it hold something).
    j.svc_ms = 10, j.queue_ub = 1;
    len = sched_digest_encode (&j, buf, sizeof buf);
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_BASE, &e) == 0, "48-byte refused");
    CHECK (!e.jobs && e.job_port == 0 && e.svc_ms == 0 && e.workers == 0 && e.queue_max == 0
               && e.queue_ub == 0,
           "48-byte job fields");
    CHECK (e.ts_ms == d.ts_ms && fabs (e.ub[2][1] - 28.83) < 0.006, "48-byte older fields");
    //  A clear job flag hides whatever follows it.
    buf[48] = 0;
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE, &e) == 0 && !e.jobs && e.job_port == 0,
           "job flag clear");
    //  The API address: round trip; a 58-byte digest (before it) has none.
    j = d;
    j.jobs = true;
    j.job_port = 7948;
    j.workers = 1;
    j.api_port = 7949;
    j.api_https = true;
    len = sched_digest_encode (&j, buf, sizeof buf);
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0 && e.api_port == 7949 && e.api_https && e.jobs,
           "API fields");
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_JOBS, &e) == 0 && e.api_port == 0 && !e.api_https
               && e.jobs && e.job_port == 7948,
           "58-byte digest");
    j.api_port = 0;
    len = sched_digest_encode (&j, buf, sizeof buf);
    CHECK (sched_digest_decode (buf, (size_t) len, &e) == 0 && !e.api_https, "no port, no https");
    buf[48] = 0;
    //  Versions and lengths.
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_BASE - 1, &e) == -1, "short accepted");
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_BASE + 1, &e) == -1, "49 accepted");
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_JOBS - 1, &e) == -1, "cut job fields accepted");
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE_V1_API - 1, &e) == -1, "cut API fields accepted");
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE - 1, &e) == -1, "cut package port accepted");
    //  The package port: appended, absent (0) from a shorter digest.
    {
        sched_digest_t pd = d;
        pd.pkg_port = 7950;
        pd.api_port = 7949;
        uint8_t pb[SCHED_DIGEST_SIZE];
        CHECK (sched_digest_encode (&pd, pb, sizeof pb) == SCHED_DIGEST_SIZE, "encode with package port");
        CHECK (sched_digest_decode (pb, SCHED_DIGEST_SIZE, &e) == 0 && e.pkg_port == 7950
                   && e.api_port == 7949,
               "package port");
        CHECK (sched_digest_decode (pb, SCHED_DIGEST_SIZE_V1_API, &e) == 0 && e.pkg_port == 0
                   && e.api_port == 7949,
               "61-byte digest: no package port");
        CHECK (sched_digest_decode (pb, SCHED_DIGEST_SIZE_V1_JOBS, &e) == 0 && e.pkg_port == 0,
               "58-byte digest: no package port");
    }
    CHECK (sched_digest_decode (NULL, 0, &e) == -1, "empty accepted");
    uint8_t longer[64] = {0};
    memcpy (longer, buf, SCHED_DIGEST_SIZE);
    CHECK (sched_digest_decode (longer, sizeof longer, &e) == 0, "appended fields refused");
    buf[0] = 2;
    CHECK (sched_digest_decode (buf, SCHED_DIGEST_SIZE, &e) == -1, "version 2 accepted");
    //  What placement reads of a peer's digest.
    placement_peer_t pp;
    j = d;
    j.jobs = true;
    j.svc_ms = 12.5;
    j.workers = 2;
    j.queue_ub = 3.5;
    j.ts_ms = 1000;
    sched_digest_peer (&j, 1250, 99, &pp);
    CHECK (pp.usable && pp.digest_age_ms == 250 && pp.cpu_now_pct == j.cur[0] && pp.cpu_ub_pct == j.cur[0]
               && pp.spread_pct == j.spread[0] && pp.queue_len == 12 && pp.queue_fc == 3.5 && pp.workers == 2
               && pp.svc_ms == 12.5 && pp.link_ms == 0,
           "peer from digest");
    j.fc[0][0] = 80;   //  a rising point forecast counts over the current reading
    j.svc_ms = 0;
    j.workers = 0;
    sched_digest_peer (&j, 1000, 99, &pp);
    CHECK (pp.cpu_ub_pct == 80 && pp.svc_ms == 99 && pp.workers == 1 && pp.digest_age_ms == 0,
           "peer defaults");
    if (verbose)
        printf ("  digest v%d: %d bytes\n", SCHED_DIGEST_VERSION, SCHED_DIGEST_SIZE);
    return rc;
}
