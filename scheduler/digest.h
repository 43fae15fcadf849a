/*  =========================================================================
    sched_digest - the fixed-size, versioned resource digest every node
    gossips about itself, as pure code.

    The digest rides on the node's own alive record in every membership
    message that carries it (gossip_member_set_digest, at most
    MW_DIGEST_MAX = 64 bytes), so it must be small and must not grow with
    the number of metrics someone thinks of later.  Version 1 is 48 bytes,
    little-endian, quantised:

      off size field
        0  1  version (1)
        1  1  flags: bit0 GPU present, bit1 temperature present,
                     bit2 CPU/memory are a cgroup's (quota), not the host's
        2  4  sample time: wall-clock ms, low 32 bits (age on the receiver)
        6  2  CPU %       \
        8  2  memory %     | current readings, 0.01 % units (0..10000)
       10  2  GPU %       /
       12  2  inference queue length (saturates at 65535)
       14  2  job arrival rate, 0.01 jobs/s
       16  1  temperature, degrees C (0..255)
       17  1  CPU capacity, 0.1 cores (quota / period, or online cores)
       18  2  memory capacity, MiB >> 4 (16 MiB units; 1 TiB max)
       20  2  horizons: h0, h1 in seconds (1..255)
       22 24  forecasts: for CPU, memory, GPU x horizon h0, h1:
              point forecast and upper bound, u16 0.01 % units each
       46  2  spread (trust) of CPU and memory at h0: mean absolute
              residual, u8 in 0.5 % units (saturates at 127.5 %)
     --- appended for inference jobs (a 48-byte digest decodes with jobs = 0):
       48  1  job flags: bit0 runs inference jobs
       49  2  data-plane port (JOB_PORT), 0 = none
       51  2  service time of one job, 0.1 ms units (pessimistic: p90)
       53  1  workers (parallel jobs)
       54  2  queue capacity (jobs)
       56  2  upper bound of the queue length at h0, 0.1 job units
     --- appended for the VMS interface (a 48- or 58-byte digest decodes with api_port = 0):
       58  2  HTTP API port (API_PORT), 0 = none reachable from the mesh
       60  1  API flags: bit0 HTTPS
     --- appended for AI packages (a shorter digest decodes with pkg_port = 0):
       61  2  package-plane port (PKG_PORT), 0 = none

    Versioning: the first byte is the layout.  A decoder accepts its own
    version with trailing bytes (fields are only ever appended), and refuses
    anything else rather than guessing.
    ========================================================================= */
#ifndef SCHED_DIGEST_H_INCLUDED
#define SCHED_DIGEST_H_INCLUDED

#include "scheduler/placement.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_DIGEST_VERSION      1
#define SCHED_DIGEST_SIZE         63
#define SCHED_DIGEST_SIZE_V1_BASE 48   //  before the job fields were appended
#define SCHED_DIGEST_SIZE_V1_JOBS 58   //  before the API address was appended
#define SCHED_DIGEST_SIZE_V1_API  61   //  before the package port was appended

#define SCHED_DIGEST_F_GPU    0x01
#define SCHED_DIGEST_F_TEMP   0x02
#define SCHED_DIGEST_F_CGROUP 0x04

enum { SCHED_DIGEST_CPU = 0, SCHED_DIGEST_MEM = 1, SCHED_DIGEST_GPU = 2, SCHED_DIGEST_METRICS = 3 };

typedef struct {
    uint8_t version;
    uint8_t flags;
    uint32_t ts_ms;                     //  low 32 bits of the sampler's wall clock
    double cur[SCHED_DIGEST_METRICS];   //  percent
    uint32_t queue_len;
    double arrival_rate;   //  jobs per second
    double temp_c;
    double cpu_cores;   //  capacity
    uint64_t mem_total_mb;
    uint32_t horizon_s[2];
    double fc[SCHED_DIGEST_METRICS][2];   //  point forecast, percent
    double ub[SCHED_DIGEST_METRICS][2];   //  upper bound, percent
    double spread[2];                     //  CPU, memory at h0, percent
    //  Inference jobs (absent in a 48-byte digest: jobs = false).
    bool jobs;           //  the node runs jobs
    uint16_t job_port;   //  its data-plane port
    double svc_ms;       //  service time of one job
    uint32_t workers;
    uint32_t queue_max;
    double queue_ub;   //  upper bound of the queue length at h0
    //  The box's HTTP API, as other hosts reach it (absent in a shorter
    //  digest: api_port = 0).
    uint16_t api_port;
    bool api_https;
    uint16_t pkg_port;   //  its package-plane port, 0 = none (absent before 63 bytes)
} sched_digest_t;

//  Encode into buf (cap >= SCHED_DIGEST_SIZE).  Out-of-range values are
//  clamped, never refused.  Returns the length, or -1 if cap is too small.
int sched_digest_encode (const sched_digest_t *d, uint8_t *buf, size_t cap);
//  Decode.  0, or -1 on an unknown version or a short buffer (input from
//  the network: never asserts).
int sched_digest_decode (const uint8_t *buf, size_t len, sched_digest_t *d);
//  Age of the sample in ms at wall time now_ms (modulo 2^32, so it works
//  across the low-32-bit wrap); a sample "from the future" (clock skew)
//  counts as age 0.
uint64_t sched_digest_age_ms (const sched_digest_t *d, uint64_t now_wall_ms);
//  Headroom in percent: 100 - the upper bound of CPU at h0 (the pessimistic
//  free share over the next horizon).
double sched_digest_headroom (const sched_digest_t *d);

//  Below this forecast headroom (%) a box is busy: it publishes every
//  sample, and a peer trusts its digest for placement_cfg_t's
//  max_digest_age_ms only.  At or above it, with no queue now or
//  forecast, it is idle and steady: it publishes on a change or every
//  DIGEST_MAX_AGE_MS, and its digest is trusted for max_idle_digest_age_ms.
#define SCHED_DIGEST_BUSY_HEADROOM 30.0

//  Whether `d` says idle and steady (the rule above, with `busy_headroom`).
//  Publisher (scheduler/freshness) and consumers (sched_digest_peer) use
//  the same test, so a digest a box stopped refreshing because it was idle
//  is exactly one its peers keep trusting for longer.
bool sched_digest_idle (const sched_digest_t *d, double busy_headroom);

//  What placement knows of a peer from its decoded digest (placement.h):
//  usable, the digest's age at `now_wall_ms`, current and forecast CPU,
//  spread, queue and its bound, the arrival rate of its own sources,
//  workers (at least 1), service time (`svc_default_ms` when the digest
//  has none).  The link cost is the caller's (it knows the link); link_ms
//  is left 0, and heard_age_ms UINT32_MAX (REPLYs are the hand-off's).
//  The daemon (node/jobs.c) and the simulator (scheduler/simulate.c) both
//  use this.  Placement drains the reported queue by the digest's age
//  (the age of the *sample*, from ts_ms) and ignores a digest older than
//  5 s (20 s when it says idle): what it needs of how digests spread is in docs/PLACEMENT.md
//  ("What placement needs from a digest").
void sched_digest_peer (const sched_digest_t *d, uint64_t now_wall_ms, double svc_default_ms,
                        placement_peer_t *p);

int sched_digest_test (bool verbose);

#endif
