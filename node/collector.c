/*  =========================================================================
    node_collector - resource sampling from procfs/sysfs (see collector.h).

    Every reader here tolerates a missing or odd file: a box without a
    thermal zone or a GPU simply reports none, and a sample is still made.
    Nothing is logged per sample (a second-by-second warning would drown
    the log); what was found is logged once at creation.
    ========================================================================= */
#include "node/collector.h"
#include "common/selftest.h"
#include "common/log.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *node_collect_cpu_mode_names[NODE_COLLECT_CPU_MODES] = {"user",   "nice", "system",  "idle",
                                                                   "iowait", "irq",  "softirq", "steal"};

//  NVML, the few entry points we need, resolved at run time.
typedef int (*nvml_init_fn) (void);
typedef int (*nvml_handle_fn) (unsigned int, void **);
typedef struct {
    unsigned int gpu, memory;
} nvml_util_t;
typedef int (*nvml_util_fn) (void *, nvml_util_t *);

typedef enum { CG_NONE, CG_V1, CG_V2 } cg_kind_t;

struct _node_collector_t {
    char root[256];
    //  previous /proc/stat counters (index 0 = total, 1.. = per cpu)
    uint64_t prev_ticks[NODE_COLLECT_MAX_CPUS + 1][NODE_COLLECT_CPU_MODES];
    bool have_prev;
    //  cgroup CPU: usage in ns at prev_ms
    cg_kind_t cg;
    char cpu_dir[512];       //  cpu controller dir (quota), "" = none
    char cpuacct_dir[512];   //  v1 cpuacct dir holding our usage, "" = sum processes
    char mem_dir[512];
    double quota_cores;   //  0 = no quota
    uint64_t prev_usage_ns, prev_ms;
    bool have_prev_usage;
    //  GPU
    char gpu_load_path[300];
    void *nvml;
    void *nvml_dev;
    nvml_util_fn nvml_util;
    uint32_t queue_len;
    double arrival_rate;
};

//  --------------------------------------------------------------------------
//  Small readers

static void
s_path (node_collector_t *self, char *out, size_t len, const char *path)
{
    snprintf (out, len, "%s%s", self->root, path);
}

//  Read a whole small file (NUL-terminated).  Length or -1.
static ssize_t
s_read (const char *path, char *buf, size_t cap)
{
    FILE *f = fopen (path, "re");
    if (!f)
        return -1;
    size_t n = fread (buf, 1, cap - 1, f);
    fclose (f);
    buf[n] = 0;
    return (ssize_t) n;
}

//  First integer of a file; "max" reads as -1.  0/-1.
static int
s_read_i64 (const char *path, int64_t *v)
{
    char buf[128];
    if (s_read (path, buf, sizeof buf) <= 0)
        return -1;
    if (strncmp (buf, "max", 3) == 0) {
        *v = -1;
        return 0;
    }
    char *end = NULL;
    long long x = strtoll (buf, &end, 10);
    if (end == buf)
        return -1;
    *v = x;
    return 0;
}

//  "key value" line in a stat-like file.
static int
s_read_key (const char *path, const char *key, uint64_t *v)
{
    FILE *f = fopen (path, "re");
    if (!f)
        return -1;
    char line[256];
    size_t klen = strlen (key);
    int rc = -1;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, key, klen) == 0 && line[klen] == ' ') {
            *v = strtoull (line + klen + 1, NULL, 10);
            rc = 0;
            break;
        }
    fclose (f);
    return rc;
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

//  --------------------------------------------------------------------------
//  cgroup discovery

static bool
s_has_word (const char *list, const char *word)
{
    size_t wl = strlen (word);
    for (const char *p = list; *p;) {
        const char *comma = strchr (p, ',');
        size_t l = comma ? (size_t) (comma - p) : strlen (p);
        if (l == wl && strncmp (p, word, wl) == 0)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

//  First existing directory among the mount points a v1 controller may have.
static void
s_v1_dir (node_collector_t *self, const char *const *mounts, const char *cgpath, char *out, size_t len)
{
    char dir[512];
    out[0] = 0;
    for (size_t i = 0; mounts[i]; i++) {
        snprintf (dir, sizeof dir, "%s/sys/fs/cgroup/%s%s", self->root, mounts[i],
                  strcmp (cgpath, "/") == 0 ? "" : cgpath);
        if (s_exists (dir)) {
            snprintf (out, len, "%s", dir);
            return;
        }
    }
}

static void
s_cgroup_discover (node_collector_t *self, double host_cpus)
{
    char path[512];
    s_path (self, path, sizeof path, "/proc/self/cgroup");
    FILE *f = fopen (path, "re");
    if (!f)
        return;
    char line[1024], cpu_path[400] = "", acct_path[400] = "", mem_path[400] = "", v2_path[400] = "";
    bool cpu_acct_together = false;
    while (fgets (line, sizeof line, f)) {
        line[strcspn (line, "\n")] = 0;
        char *c1 = strchr (line, ':');
        char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = 0, *c2 = 0;
        const char *ctrls = c1 + 1, *cgp = c2 + 1;
        if (!*ctrls && strcmp (line, "0") == 0)
            snprintf (v2_path, sizeof v2_path, "%s", cgp);
        if (s_has_word (ctrls, "cpu")) {
            snprintf (cpu_path, sizeof cpu_path, "%s", cgp);
            cpu_acct_together = s_has_word (ctrls, "cpuacct");
        }
        if (s_has_word (ctrls, "cpuacct"))
            snprintf (acct_path, sizeof acct_path, "%s", cgp);
        if (s_has_word (ctrls, "memory"))
            snprintf (mem_path, sizeof mem_path, "%s", cgp);
    }
    fclose (f);

    char file[700];
    if (*cpu_path || *mem_path) {
        self->cg = CG_V1;
        if (*cpu_path) {
            const char *cpu_mounts[] = {"cpu,cpuacct", "cpu", "cpuacct,cpu", NULL};
            s_v1_dir (self, cpu_mounts, cpu_path, self->cpu_dir, sizeof self->cpu_dir);
            int64_t quota = -1, period = 0;
            snprintf (file, sizeof file, "%s/cpu.cfs_quota_us", self->cpu_dir);
            if (*self->cpu_dir && s_read_i64 (file, &quota) == 0 && quota > 0) {
                snprintf (file, sizeof file, "%s/cpu.cfs_period_us", self->cpu_dir);
                if (s_read_i64 (file, &period) == 0 && period > 0)
                    self->quota_cores = (double) quota / (double) period;
            }
            //  Usage: cpuacct of the same group if it is one (co-mounted or
            //  the same path), else summed over the cpu group's processes.
            if (*acct_path && (cpu_acct_together || strcmp (acct_path, cpu_path) == 0)) {
                const char *acct_mounts[] = {"cpu,cpuacct", "cpuacct", "cpuacct,cpu", NULL};
                s_v1_dir (self, acct_mounts, acct_path, self->cpuacct_dir, sizeof self->cpuacct_dir);
            }
        }
        if (*mem_path) {
            const char *mem_mounts[] = {"memory", NULL};
            s_v1_dir (self, mem_mounts, mem_path, self->mem_dir, sizeof self->mem_dir);
        }
    }
    else if (*v2_path) {
        self->cg = CG_V2;
        char dir[512];
        snprintf (dir, sizeof dir, "%s/sys/fs/cgroup%s", self->root,
                  strcmp (v2_path, "/") == 0 ? "" : v2_path);
        snprintf (self->cpu_dir, sizeof self->cpu_dir, "%s", dir);
        snprintf (self->mem_dir, sizeof self->mem_dir, "%s", dir);
        char buf[128];
        snprintf (file, sizeof file, "%s/cpu.max", dir);
        long long q = 0, p = 0;
        if (s_read (file, buf, sizeof buf) > 0 && sscanf (buf, "%lld %lld", &q, &p) == 2 && q > 0 && p > 0)
            self->quota_cores = (double) q / (double) p;
    }
    if (self->quota_cores > host_cpus)
        self->quota_cores = 0;   //  a quota above the box is no limit
}

//  Our cgroup's CPU usage in ns.  0/-1.
static int
s_cgroup_usage_ns (node_collector_t *self, uint64_t *ns)
{
    char file[700];
    if (self->cg == CG_V2) {
        uint64_t us = 0;
        snprintf (file, sizeof file, "%s/cpu.stat", self->cpu_dir);
        if (s_read_key (file, "usage_usec", &us) != 0)
            return -1;
        *ns = us * 1000;
        return 0;
    }
    if (*self->cpuacct_dir) {
        int64_t v = 0;
        snprintf (file, sizeof file, "%s/cpuacct.usage", self->cpuacct_dir);
        if (s_read_i64 (file, &v) != 0 || v < 0)
            return -1;
        *ns = (uint64_t) v;
        return 0;
    }
    //  cpu controller alone: sum utime + stime of its processes.
    snprintf (file, sizeof file, "%s/cgroup.procs", self->cpu_dir);
    FILE *f = fopen (file, "re");
    if (!f)
        return -1;
    uint64_t ticks = 0;
    long pid;
    while (fscanf (f, "%ld", &pid) == 1) {
        char path[700], buf[1024];
        snprintf (path, sizeof path, "%s/proc/%ld/stat", self->root, pid);
        if (s_read (path, buf, sizeof buf) <= 0)
            continue;
        //  Fields after the command (which may hold spaces): state is field
        //  3, utime 14, stime 15.
        char *p = strrchr (buf, ')');
        if (!p)
            continue;
        unsigned long long ut = 0, st = 0;
        if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            ticks += ut + st;
    }
    fclose (f);
    *ns = ticks * (1000000000ULL / (uint64_t) node_collector_clk_tck ());
    return 0;
}

//  Memory limit and usage (bytes) of our cgroup.  0 when limited, -1 if not.
static int
s_cgroup_mem (node_collector_t *self, uint64_t host_total, uint64_t *limit, uint64_t *used)
{
    if (!*self->mem_dir || self->cg == CG_NONE)
        return -1;
    char file[700];
    int64_t lim = -1, usage = 0;
    uint64_t inactive = 0;
    if (self->cg == CG_V2) {
        snprintf (file, sizeof file, "%s/memory.max", self->mem_dir);
        if (s_read_i64 (file, &lim) != 0)
            return -1;
        snprintf (file, sizeof file, "%s/memory.current", self->mem_dir);
        if (s_read_i64 (file, &usage) != 0)
            return -1;
        snprintf (file, sizeof file, "%s/memory.stat", self->mem_dir);
        s_read_key (file, "inactive_file", &inactive);
    }
    else {
        snprintf (file, sizeof file, "%s/memory.limit_in_bytes", self->mem_dir);
        if (s_read_i64 (file, &lim) != 0)
            return -1;
        snprintf (file, sizeof file, "%s/memory.usage_in_bytes", self->mem_dir);
        if (s_read_i64 (file, &usage) != 0)
            return -1;
        snprintf (file, sizeof file, "%s/memory.stat", self->mem_dir);
        s_read_key (file, "total_inactive_file", &inactive);
    }
    //  "No limit" reads as max or as a huge number (v1: PAGE_COUNTER_MAX).
    if (lim <= 0 || (uint64_t) lim >= host_total)
        return -1;
    //  Page cache that can be dropped is not pressure (docker stats does
    //  the same subtraction).
    uint64_t u = (uint64_t) (usage > 0 ? usage : 0);
    *used = u > inactive ? u - inactive : u;
    *limit = (uint64_t) lim;
    return 0;
}

//  --------------------------------------------------------------------------
//  GPU

static void
s_gpu_discover (node_collector_t *self, bool real)
{
    const char *paths[] = {"/sys/devices/gpu.0/load", "/sys/devices/platform/gpu.0/load",
                           "/sys/devices/platform/17000000.ga10b/load",
                           "/sys/devices/platform/17000000.gv11b/load", NULL};
    for (size_t i = 0; paths[i]; i++) {
        char p[300];
        s_path (self, p, sizeof p, paths[i]);
        if (s_exists (p)) {
            snprintf (self->gpu_load_path, sizeof self->gpu_load_path, "%s", p);
            return;
        }
    }
    if (!real)
        return;
    self->nvml = dlopen ("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!self->nvml)
        return;
    nvml_init_fn init = (nvml_init_fn) dlsym (self->nvml, "nvmlInit_v2");
    nvml_handle_fn handle = (nvml_handle_fn) dlsym (self->nvml, "nvmlDeviceGetHandleByIndex_v2");
    self->nvml_util = (nvml_util_fn) dlsym (self->nvml, "nvmlDeviceGetUtilizationRates");
    if (!init || !handle || !self->nvml_util || init () != 0 || handle (0, &self->nvml_dev) != 0) {
        dlclose (self->nvml);
        self->nvml = NULL;
        self->nvml_util = NULL;
    }
}

static bool
s_gpu_read (node_collector_t *self, double *pct)
{
    if (*self->gpu_load_path) {
        int64_t permille = 0;
        if (s_read_i64 (self->gpu_load_path, &permille) != 0)
            return false;
        *pct = (double) permille / 10.0;
        return true;
    }
    if (self->nvml_util) {
        nvml_util_t u;
        if (self->nvml_util (self->nvml_dev, &u) != 0)
            return false;
        *pct = u.gpu;
        return true;
    }
    return false;
}

//  --------------------------------------------------------------------------

long
node_collector_clk_tck (void)
{
    long t = sysconf (_SC_CLK_TCK);
    return t > 0 ? t : 100;
}

node_collector_t *
node_collector_new (const char *root)
{
    node_collector_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->root, sizeof self->root, "%s", root ? root : "");
    char path[300];
    s_path (self, path, sizeof path, "/proc/stat");
    if (!s_exists (path)) {
        mw_error ("collector_failed", "reason=\"cannot read %s\"", path);
        free (self);
        return NULL;
    }
    //  Host CPU count, for "a quota above the box is no limit".
    node_collect_sample_t *tmp = calloc (1, sizeof *tmp);
    double host_cpus = 1;
    if (tmp) {
        node_collector_sample (self, 0, tmp);
        host_cpus = tmp->n_cpus ? (double) tmp->n_cpus : 1;
        free (tmp);
    }
    s_cgroup_discover (self, host_cpus);
    s_gpu_discover (self, !*self->root);
    mw_info ("collector_started", "cgroup=%s cpu_quota=%.2f cpu_usage=%s mem_cgroup=%s gpu=%s",
             self->cg == CG_V2   ? "v2"
             : self->cg == CG_V1 ? "v1"
                                 : "none",
             self->quota_cores,
             self->cg == CG_V2    ? "cpu.stat"
             : *self->cpuacct_dir ? "cpuacct"
                                  : "procs",
             *self->mem_dir ? "yes" : "no",
             *self->gpu_load_path ? "sysfs"
             : self->nvml         ? "nvml"
                                  : "none");
    return self;
}

void
node_collector_destroy (node_collector_t **self_p)
{
    assert (self_p);
    node_collector_t *self = *self_p;
    if (!self)
        return;
    if (self->nvml)
        dlclose (self->nvml);
    free (self);
    *self_p = NULL;
}

void
node_collector_set_load (node_collector_t *self, uint32_t queue_len, double arrival_rate)
{
    assert (self);
    self->queue_len = queue_len;
    self->arrival_rate = arrival_rate >= 0 ? arrival_rate : 0;
}

static double
s_busy_pct (const uint64_t *now, const uint64_t *prev)
{
    uint64_t total = 0, idle = 0;
    for (int m = 0; m < NODE_COLLECT_CPU_MODES; m++) {
        uint64_t d = now[m] >= prev[m] ? now[m] - prev[m] : 0;
        total += d;
        if (m == 3 || m == 4)   //  idle, iowait
            idle += d;
    }
    return total ? 100.0 * (double) (total - idle) / (double) total : 0;
}

static void
s_read_stat (node_collector_t *self, node_collect_sample_t *out, uint64_t ticks[][NODE_COLLECT_CPU_MODES])
{
    char path[300], line[512];
    s_path (self, path, sizeof path, "/proc/stat");
    FILE *f = fopen (path, "re");
    if (!f)
        return;
    while (fgets (line, sizeof line, f)) {
        if (strncmp (line, "cpu", 3) != 0)
            break;
        unsigned long long v[NODE_COLLECT_CPU_MODES] = {0};
        int idx = 0;
        char *p = line + 3;
        if (isdigit ((unsigned char) *p)) {
            idx = atoi (p) + 1;
            if (idx > NODE_COLLECT_MAX_CPUS)
                continue;
        }
        while (*p && *p != ' ')
            p++;
        sscanf (p, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                &v[7]);
        for (int m = 0; m < NODE_COLLECT_CPU_MODES; m++)
            ticks[idx][m] = v[m];
        if (idx > 0) {
            memcpy (out->cpu_ticks[idx - 1], ticks[idx], sizeof out->cpu_ticks[0]);
            if ((size_t) idx > out->n_cpus)
                out->n_cpus = (size_t) idx;
        }
    }
    fclose (f);
}

static void
s_read_meminfo (node_collector_t *self, node_collect_sample_t *out)
{
    char path[300], line[256];
    s_path (self, path, sizeof path, "/proc/meminfo");
    FILE *f = fopen (path, "re");
    if (!f)
        return;
    while (fgets (line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf (line, "MemTotal: %llu kB", &v) == 1)
            out->host_mem_total = v * 1024;
        else if (sscanf (line, "MemAvailable: %llu kB", &v) == 1)
            out->host_mem_avail = v * 1024;
    }
    fclose (f);
}

//  Partitions double-count their disk: sda1, nvme0n1p2, mmcblk0p1.
static bool
s_skip_disk (const char *name)
{
    if (!strncmp (name, "loop", 4) || !strncmp (name, "ram", 3) || !strncmp (name, "zram", 4)
        || !strncmp (name, "fd", 2))
        return true;
    size_t l = strlen (name);
    if (l == 0 || !isdigit ((unsigned char) name[l - 1]))
        return false;
    if (!strncmp (name, "nvme", 4) || !strncmp (name, "mmcblk", 6))
        return strchr (name + 4, 'p') != NULL;
    return !strncmp (name, "sd", 2) || !strncmp (name, "vd", 2) || !strncmp (name, "hd", 2)
           || !strncmp (name, "xvd", 3);
}

static void
s_read_disks (node_collector_t *self, node_collect_sample_t *out)
{
    char path[300], line[512];
    s_path (self, path, sizeof path, "/proc/diskstats");
    FILE *f = fopen (path, "re");
    if (!f)
        return;
    while (fgets (line, sizeof line, f) && out->n_disks < NODE_COLLECT_MAX_DEVS) {
        char name[64];
        unsigned long long v[11];
        if (sscanf (line, "%*u %*u %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0],
                    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10])
            != 12)
            continue;
        if (s_skip_disk (name))
            continue;
        node_collect_dev_t *d = &out->disk[out->n_disks++];
        snprintf (d->name, sizeof d->name, "%.31s", name);
        d->a = v[9];   //  field 13: ms spent doing I/O
    }
    fclose (f);
}

static void
s_read_nets (node_collector_t *self, node_collect_sample_t *out)
{
    char path[300], line[512];
    s_path (self, path, sizeof path, "/proc/net/dev");
    FILE *f = fopen (path, "re");
    if (!f)
        return;
    while (fgets (line, sizeof line, f) && out->n_nets < NODE_COLLECT_MAX_DEVS) {
        char *colon = strchr (line, ':');
        if (!colon)
            continue;
        *colon = 0;
        char *name = line;
        while (*name == ' ')
            name++;
        unsigned long long rx = 0, tx = 0;
        if (sscanf (colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) != 2)
            continue;
        node_collect_dev_t *d = &out->net[out->n_nets++];
        snprintf (d->name, sizeof d->name, "%.31s", name);
        d->a = rx, d->b = tx;
    }
    fclose (f);
}

static void
s_read_temp (node_collector_t *self, node_collect_sample_t *out)
{
    char dir[300];
    s_path (self, dir, sizeof dir, "/sys/class/thermal");
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strncmp (e->d_name, "thermal_zone", 12) != 0)
            continue;
        char p[600];
        int64_t milli = 0;
        snprintf (p, sizeof p, "%s/%s/temp", dir, e->d_name);
        if (s_read_i64 (p, &milli) == 0 && milli > 0 && milli < 200000) {
            double c = (double) milli / 1000.0;
            if (!out->has_temp || c > out->temp_c)
                out->temp_c = c;
            out->has_temp = true;
        }
    }
    closedir (d);
}

int
node_collector_sample (node_collector_t *self, uint64_t now_ms, node_collect_sample_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    out->t_ms = now_ms;
    uint64_t ticks[NODE_COLLECT_MAX_CPUS + 1][NODE_COLLECT_CPU_MODES];
    memset (ticks, 0, sizeof ticks);
    s_read_stat (self, out, ticks);
    if (out->n_cpus == 0)
        return -1;
    if (self->have_prev) {
        out->cpu_pct = s_busy_pct (ticks[0], self->prev_ticks[0]);
        for (size_t c = 0; c < out->n_cpus; c++)
            out->core_pct[c] = s_busy_pct (ticks[c + 1], self->prev_ticks[c + 1]);
    }
    memcpy (self->prev_ticks, ticks, sizeof ticks);
    self->have_prev = true;
    out->cpu_cores = (double) out->n_cpus;

    if (self->quota_cores > 0) {
        //  Under a quota: our group's usage against its share.
        uint64_t ns = 0;
        out->cgroup_cpu = true;
        out->cpu_cores = self->quota_cores;
        out->cpu_pct = 0;
        if (s_cgroup_usage_ns (self, &ns) == 0) {
            if (self->have_prev_usage && now_ms > self->prev_ms && ns >= self->prev_usage_ns) {
                double used_s = (double) (ns - self->prev_usage_ns) / 1e9;
                double wall_s = (double) (now_ms - self->prev_ms) / 1000.0;
                out->cpu_pct = 100.0 * used_s / (wall_s * self->quota_cores);
                if (out->cpu_pct > 100)
                    out->cpu_pct = 100;
            }
            self->prev_usage_ns = ns;
            self->prev_ms = now_ms;
            self->have_prev_usage = true;
        }
    }

    s_read_meminfo (self, out);
    out->mem_total_bytes = out->host_mem_total;
    if (out->host_mem_total)
        out->mem_pct =
            100.0 * (double) (out->host_mem_total - out->host_mem_avail) / (double) out->host_mem_total;
    uint64_t lim = 0, used = 0;
    if (s_cgroup_mem (self, out->host_mem_total ? out->host_mem_total : UINT64_MAX, &lim, &used) == 0) {
        out->cgroup_mem = true;
        out->mem_total_bytes = lim;
        out->mem_pct = 100.0 * (double) used / (double) lim;
        if (out->mem_pct > 100)
            out->mem_pct = 100;
    }
    s_read_disks (self, out);
    s_read_nets (self, out);
    s_read_temp (self, out);
    out->has_gpu = s_gpu_read (self, &out->gpu_pct);
    out->queue_len = self->queue_len;
    out->arrival_rate = self->arrival_rate;
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: a fake /proc and /sys tree (cgroup v1 with cpu alone, a 0.5
//  core quota, a memory limit, a Jetson GPU load file), then the real box.

static int
s_write (const char *root, const char *path, const char *text)
{
    char full[600];
    snprintf (full, sizeof full, "%s%s", root, path);
    //  mkdir -p of the parent
    for (char *p = full + strlen (root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir (full, 0755);
            *p = '/';
        }
    FILE *f = fopen (full, "w");
    if (!f)
        return -1;
    fputs (text, f);
    fclose (f);
    return 0;
}

static void
s_rmtree (const char *path)
{
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system (cmd) != 0)
        fprintf (stderr, "collector selftest: cannot remove %s\n", path);
}

int
node_collector_test (bool verbose)
{
    int rc = 0;
    char root[] = "/tmp/mw-collector-XXXXXX";
    if (!mkdtemp (root))
        return -1;
    long hz = node_collector_clk_tck ();
    s_write (root, "/proc/stat",
             "cpu  100 0 100 800 0 0 0 0 0 0\n"
             "cpu0 50 0 50 400 0 0 0 0 0 0\n"
             "cpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n");
    s_write (root, "/proc/meminfo",
             "MemTotal:       8000000 kB\nMemFree: 1 kB\n"
             "MemAvailable:   6000000 kB\n");
    s_write (root, "/proc/self/cgroup", "4:memory:/tb/n1\n2:cpuacct:/\n1:cpu:/tb/n1\n0::/\n");
    s_write (root, "/sys/fs/cgroup/cpu/tb/n1/cpu.cfs_quota_us", "50000\n");
    s_write (root, "/sys/fs/cgroup/cpu/tb/n1/cpu.cfs_period_us", "100000\n");
    s_write (root, "/sys/fs/cgroup/cpu/tb/n1/cgroup.procs", "4242\n");
    s_write (root, "/proc/4242/stat", "4242 (meshwatch agent) S 1 1 1 0 -1 0 0 0 0 0 100 100 0 0\n");
    s_write (root, "/sys/fs/cgroup/memory/tb/n1/memory.limit_in_bytes", "1073741824\n");
    s_write (root, "/sys/fs/cgroup/memory/tb/n1/memory.usage_in_bytes", "536870912\n");
    s_write (root, "/sys/fs/cgroup/memory/tb/n1/memory.stat", "cache 1\ntotal_inactive_file 268435456\n");
    s_write (root, "/sys/devices/gpu.0/load", "375\n");
    s_write (root, "/sys/class/thermal/thermal_zone0/temp", "41500\n");
    s_write (root, "/sys/class/thermal/thermal_zone1/temp", "47250\n");
    s_write (root, "/proc/diskstats",
             "8 0 sda 1 2 3 4 5 6 7 8 9 1500 11\n"
             "8 1 sda1 1 2 3 4 5 6 7 8 9 1400 11\n"
             "7 0 loop0 0 0 0 0 0 0 0 0 0 0 0\n");
    s_write (root, "/proc/net/dev",
             "Inter-| head\n face | head\n"
             "    lo: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n"
             "  eth0: 3000 1 0 0 0 0 0 0 4000 2 0 0 0 0 0 0\n");
    node_collector_t *c = node_collector_new (root);
    CHECK (c, "new on fake tree");
    node_collect_sample_t *s = calloc (1, sizeof *s);
    if (!c || !s) {
        free (s);
        node_collector_destroy (&c);
        s_rmtree (root);
        return -1;
    }
    node_collector_sample (c, 10000, s);
    CHECK (s->n_cpus == 2 && s->cgroup_cpu && s->cpu_cores == 0.5, "cpus %zu cg %d cores %.2f", s->n_cpus,
           s->cgroup_cpu, s->cpu_cores);
    //  One second later: host cpu0 busy 50 %, cpu1 idle; our group used
    //  0.25 s of CPU (0.25 core = 50 % of its 0.5 core quota).
    s_write (root, "/proc/stat",
             "cpu  150 0 100 850 0 0 0 0 0 0\n"
             "cpu0 100 0 50 450 0 0 0 0 0 0\n"
             "cpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n");
    char stat[200];
    snprintf (stat, sizeof stat, "4242 (meshwatch agent) S 1 1 1 0 -1 0 0 0 0 0 %ld 100 0 0\n", 100 + hz / 4);
    s_write (root, "/proc/4242/stat", stat);
    node_collector_set_load (c, 7, 2.5);
    node_collector_sample (c, 11000, s);
    CHECK (s->core_pct[0] > 49.9 && s->core_pct[0] < 50.1 && s->core_pct[1] == 0, "per core %.1f %.1f",
           s->core_pct[0], s->core_pct[1]);
    CHECK (s->cpu_pct > 49 && s->cpu_pct < 51, "cgroup cpu %.2f", s->cpu_pct);
    CHECK (s->cgroup_mem && s->mem_total_bytes == 1073741824, "mem limit");
    CHECK (s->mem_pct > 24.9 && s->mem_pct < 25.1, "cgroup mem %.2f", s->mem_pct);
    CHECK (s->host_mem_total == 8000000ULL * 1024 && s->host_mem_avail == 6000000ULL * 1024, "meminfo");
    CHECK (s->has_gpu && s->gpu_pct > 37.4 && s->gpu_pct < 37.6, "gpu %.1f", s->gpu_pct);
    CHECK (s->has_temp && s->temp_c > 47.2 && s->temp_c < 47.3, "temp %.2f", s->temp_c);
    CHECK (s->n_disks == 1 && strcmp (s->disk[0].name, "sda") == 0 && s->disk[0].a == 1500, "disks");
    CHECK (s->n_nets == 2 && strcmp (s->net[1].name, "eth0") == 0 && s->net[1].a == 3000
               && s->net[1].b == 4000,
           "nets");
    CHECK (s->queue_len == 7 && s->arrival_rate == 2.5, "load inputs");
    node_collector_destroy (&c);
    CHECK (c == NULL, "destroy nulls");

    //  v2 and cpuacct variants.
    s_write (root, "/proc/self/cgroup", "0::/mw/n2\n");
    s_write (root, "/sys/fs/cgroup/mw/n2/cpu.max", "150000 100000\n");
    s_write (root, "/sys/fs/cgroup/mw/n2/cpu.stat", "usage_usec 1000000\nuser_usec 1\n");
    s_write (root, "/sys/fs/cgroup/mw/n2/memory.max", "max\n");
    s_write (root, "/sys/fs/cgroup/mw/n2/memory.current", "1000\n");
    c = node_collector_new (root);
    CHECK (c, "new v2");
    if (c) {
        node_collector_sample (c, 1000, s);
        s_write (root, "/sys/fs/cgroup/mw/n2/cpu.stat", "usage_usec 1750000\n");
        node_collector_sample (c, 2000, s);
        CHECK (s->cgroup_cpu && s->cpu_cores == 1.5 && s->cpu_pct > 49.9 && s->cpu_pct < 50.1,
               "v2 cpu %.2f of %.2f", s->cpu_pct, s->cpu_cores);
        CHECK (!s->cgroup_mem && s->mem_pct > 24.9 && s->mem_pct < 25.1, "v2 unlimited mem = host");
        node_collector_destroy (&c);
    }
    s_write (root, "/proc/self/cgroup", "3:cpu,cpuacct:/x\n");
    s_write (root, "/sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us", "100000\n");
    s_write (root, "/sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
    s_write (root, "/sys/fs/cgroup/cpu,cpuacct/x/cpuacct.usage", "0\n");
    c = node_collector_new (root);
    if (c) {
        node_collector_sample (c, 1000, s);
        s_write (root, "/sys/fs/cgroup/cpu,cpuacct/x/cpuacct.usage", "200000000\n");
        node_collector_sample (c, 3000, s);
        CHECK (s->cpu_pct > 9.9 && s->cpu_pct < 10.1, "cpuacct cpu %.2f", s->cpu_pct);
        node_collector_destroy (&c);
    }
    s_rmtree (root);

    //  The real box: must produce plausible numbers.
    c = node_collector_new (NULL);
    CHECK (c, "new on the real box");
    if (c) {
        node_collector_sample (c, 1000, s);
        usleep (200000);
        node_collector_sample (c, 1200, s);
        CHECK (s->n_cpus > 0 && s->cpu_pct >= 0 && s->cpu_pct <= 100, "real cpu %.1f", s->cpu_pct);
        CHECK (s->host_mem_total > 0 && s->mem_pct > 0 && s->mem_pct <= 100, "real mem %.1f", s->mem_pct);
        if (verbose)
            printf ("  real: cpu %.1f %% of %.2f cores (cgroup %d), mem %.1f %%, %zu disks, %zu nets, "
                    "gpu %s, temp %s\n",
                    s->cpu_pct, s->cpu_cores, s->cgroup_cpu, s->mem_pct, s->n_disks, s->n_nets,
                    s->has_gpu ? "yes" : "no", s->has_temp ? "yes" : "no");
        node_collector_destroy (&c);
    }
    free (s);
    return rc;
}
