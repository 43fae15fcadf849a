/*  =========================================================================
    node_collector - samples this box's resources (the I/O half of the
    forecasts; scheduler/forecast is the pure half).

    One call to node_collector_sample() reads, without blocking on anything
    but procfs/sysfs:

      * CPU: total and per core, from /proc/stat deltas; the raw per-core
        per-mode counters too (Prometheus wants node_cpu_seconds_total);
      * memory: MemTotal, MemAvailable;
      * disk I/O time per device (/proc/diskstats), network bytes per
        interface (/proc/net/dev), the hottest thermal zone;
      * GPU utilisation: Jetson's per-mille load file under /sys, else
        NVML loaded with dlopen ("libnvidia-ml.so.1") - never linked, so the
        binary starts on a box without the driver;
      * the scheduler's inputs, inference queue length and job arrival
        rate, which nothing here measures: node_collector_set_load() feeds
        them.

    cgroups: when the agent runs under a CPU quota or a memory limit (cgroup
    v1 or v2, found through /proc/self/cgroup), CPU % and memory % and their
    capacity are the cgroup's - usage against the quota - not the host's.
    Several test nodes on one box then report different loads, as separate
    boxes would.  With cgroup v1 and cpu/cpuacct mounted apart (the cpu
    controller alone holds the quota), usage is summed over the processes
    of the cpu cgroup.

    `root` prefixes every /proc and /sys path: "" on a real box, a fake tree
    in the selftest.
    ========================================================================= */
#ifndef NODE_COLLECTOR_H_INCLUDED
#define NODE_COLLECTOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_COLLECT_MAX_CPUS  64
#define NODE_COLLECT_MAX_DEVS  16
#define NODE_COLLECT_CPU_MODES 8   //  user nice system idle iowait irq softirq steal

typedef struct _node_collector_t node_collector_t;

typedef struct {
    char name[32];
    uint64_t a, b;   //  disks: io ticks (ms), unused; nets: rx, tx bytes
} node_collect_dev_t;

typedef struct {
    uint64_t t_ms;   //  monotonic sample time (caller's clock)
    //  Utilisation in percent of capacity (the cgroup's when limited).
    double cpu_pct;
    double mem_pct;
    double cpu_cores;              //  capacity: quota/period, else online CPUs
    uint64_t mem_total_bytes;      //  capacity: cgroup limit, else MemTotal
    bool cgroup_cpu, cgroup_mem;   //  limited by a cgroup
    //  Host view (Prometheus node_* metrics).
    size_t n_cpus;
    double core_pct[NODE_COLLECT_MAX_CPUS];
    uint64_t cpu_ticks[NODE_COLLECT_MAX_CPUS][NODE_COLLECT_CPU_MODES];
    uint64_t host_mem_total, host_mem_avail;   //  bytes
    size_t n_disks, n_nets;
    node_collect_dev_t disk[NODE_COLLECT_MAX_DEVS];   //  a = io_time ms
    node_collect_dev_t net[NODE_COLLECT_MAX_DEVS];    //  a = rx, b = tx bytes
    bool has_temp, has_gpu;
    double temp_c, gpu_pct;
    //  Scheduler inputs.
    uint32_t queue_len;
    double arrival_rate;
} node_collect_sample_t;

extern const char *node_collect_cpu_mode_names[NODE_COLLECT_CPU_MODES];

//  root: "" (or NULL) for the real box.  NVML is only tried on the real box.
node_collector_t *node_collector_new (const char *root);
void node_collector_destroy (node_collector_t **self_p);
//  Take one sample.  The first call has no deltas: CPU % is 0.  0/-1
//  (-1 only when /proc/stat cannot be read at all).
int node_collector_sample (node_collector_t *self, uint64_t now_ms, node_collect_sample_t *out);
//  Scheduler inputs, reported in every later sample.
void node_collector_set_load (node_collector_t *self, uint32_t queue_len, double arrival_rate);
//  Ticks per second of /proc/stat counters.
long node_collector_clk_tck (void);

int node_collector_test (bool verbose);

#endif
