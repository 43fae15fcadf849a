/*  =========================================================================
    node_sup - one supervised program (see supervisor.h): fork/exec in its
    own process group and cgroups, output into the log, health checks,
    backoff with jitter, crash loop.
    ========================================================================= */
#include "node/supervisor.h"

#include "common/log.h"
#include "common/rand.h"
#include "common/sanitize.h"
#include "pkg/file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_DEATHS_KEPT 16
#define S_LINE_MAX    1024

struct _node_sup_t {
    node_sup_spec_t spec;
    node_sup_state_t state;
    uint64_t rng;
    node_sup_line_fn *on_line;
    node_sup_change_fn *on_change;
    void *ctx;
    pid_t pid;            //  the program (its process group id too)
    int out_fd, err_fd;   //  its stdout, stderr (-1 closed)
    char out_buf[S_LINE_MAX], err_buf[S_LINE_MAX];
    size_t out_len, err_len;
    uint64_t started_ms, healthy_ms;
    uint64_t next_start_ms;
    uint64_t kill_at_ms;   //  stopping: SIGKILL then (0 none)
    bool stopping;         //  asked to stop: no restart
    bool killed_health;    //  we killed it for failing health
    //  Health check child.
    pid_t hpid;
    uint64_t health_at_ms, health_deadline_ms;
    uint32_t health_failed;
    //  Deaths (ms), the last S_DEATHS_KEPT, for the crash-loop rule and the backoff.
    uint64_t deaths[S_DEATHS_KEPT];
    size_t n_deaths;
    uint32_t streak;   //  deaths since the last long run (backoff exponent)
    uint32_t restarts;
    char last_error[160];
    bool limits;
    char cg_cpu[480], cg_mem[480];
};

static const char *s_names[NODE_SUP_STATE_COUNT] = {"stopped", "starting", "running", "backoff", "failed"};

const char *
node_sup_state_name (node_sup_state_t s)
{
    return s < NODE_SUP_STATE_COUNT ? s_names[s] : "?";
}

void
node_sup_spec_defaults (node_sup_spec_t *spec)
{
    memset (spec, 0, sizeof *spec);
    spec->start_grace_ms = 2000;
    spec->health_interval_ms = 2000;
    spec->health_timeout_ms = 3000;
    spec->health_fails = 3;
    spec->backoff_min_ms = 1000;
    spec->backoff_max_ms = 60000;
    spec->backoff_reset_ms = 60000;
    spec->crash_max = 5;
    spec->crash_window_ms = 120000;
    spec->stop_grace_ms = 3000;
}

uint32_t
node_sup_backoff_ms (const node_sup_spec_t *spec, uint32_t deaths, uint64_t r)
{
    uint64_t d = spec->backoff_min_ms ? spec->backoff_min_ms : 1;
    for (uint32_t i = 1; i < deaths && d < spec->backoff_max_ms; i++)
        d *= 2;
    if (d > spec->backoff_max_ms)
        d = spec->backoff_max_ms;
    //  Drawn in [d/2, d]: restarts of many boxes spread out, none waits
    //  longer than the cap.
    uint64_t half = d / 2;
    return (uint32_t) (half + (half ? r % (d - half + 1) : 0));
}

bool
node_sup_crash_loop (const node_sup_spec_t *spec, const uint64_t *deaths, size_t n)
{
    if (spec->crash_max == 0 || n < spec->crash_max)
        return false;
    return deaths[n - 1] - deaths[n - spec->crash_max] <= spec->crash_window_ms;
}

//  ---------------------------------------------------------------------------

static void
s_set_state (node_sup_t *self, node_sup_state_t st, const char *why)
{
    if (self->state == st)
        return;
    self->state = st;
    if (self->on_change)
        self->on_change (self->ctx, st, why ? why : "");
}

//  Write a small text file (a cgroup knob).  0/-1.
static int
s_write_file (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write (fd, text, strlen (text));
    close (fd);
    return n == (ssize_t) strlen (text) ? 0 : -1;
}

//  Make the program's groups (mkdir -p of CGROUP_ROOT/{cpu,memory}/meshwatch/NAME)
//  and set the limits.  0, -1 when they cannot be made.
static int
s_cgroups_make (node_sup_t *self)
{
    const node_sup_spec_t *sp = &self->spec;
    self->cg_cpu[0] = self->cg_mem[0] = 0;
    if (!sp->cgroup_root[0] || (!sp->cpu_percent && !sp->memory_mb))
        return -1;
    char base[400];
    int ok = 0;
    const char *parent = sp->cgroup_parent[0] ? sp->cgroup_parent : "meshwatch";
    if (sp->cpu_percent) {
        snprintf (base, sizeof base, "%s/cpu/%s", sp->cgroup_root, parent);
        pkg_file_mkdirs (base, 0755);
        snprintf (self->cg_cpu, sizeof self->cg_cpu, "%s/%s", base, sp->name);
        if (mkdir (self->cg_cpu, 0755) != 0 && errno != EEXIST)
            self->cg_cpu[0] = 0;
        char path[700], v[32];
        snprintf (path, sizeof path, "%s/cpu.cfs_period_us", self->cg_cpu);
        if (self->cg_cpu[0])
            s_write_file (path, "100000");
        snprintf (path, sizeof path, "%s/cpu.cfs_quota_us", self->cg_cpu);
        snprintf (v, sizeof v, "%u", sp->cpu_percent * 1000u);
        if (!self->cg_cpu[0] || s_write_file (path, v) != 0) {
            self->cg_cpu[0] = 0;
            ok = -1;
        }
    }
    if (sp->memory_mb) {
        snprintf (base, sizeof base, "%s/memory/%s", sp->cgroup_root, parent);
        pkg_file_mkdirs (base, 0755);
        snprintf (self->cg_mem, sizeof self->cg_mem, "%s/%s", base, sp->name);
        if (mkdir (self->cg_mem, 0755) != 0 && errno != EEXIST)
            self->cg_mem[0] = 0;
        char path[700], v[32];
        snprintf (path, sizeof path, "%s/memory.limit_in_bytes", self->cg_mem);
        snprintf (v, sizeof v, "%llu", (unsigned long long) sp->memory_mb * 1024ull * 1024ull);
        if (!self->cg_mem[0] || s_write_file (path, v) != 0) {
            self->cg_mem[0] = 0;
            ok = -1;
        }
    }
    return ok;
}

static void
s_cgroups_remove (node_sup_t *self)
{
    //  rmdir succeeds once the group is empty (every process reaped).
    if (self->cg_cpu[0])
        rmdir (self->cg_cpu);
    if (self->cg_mem[0])
        rmdir (self->cg_mem);
}

static void
s_close_fds (node_sup_t *self)
{
    if (self->out_fd >= 0)
        close (self->out_fd);
    if (self->err_fd >= 0)
        close (self->err_fd);
    self->out_fd = self->err_fd = -1;
    self->out_len = self->err_len = 0;
}

node_sup_t *
node_sup_new (const node_sup_spec_t *spec, uint64_t seed, node_sup_line_fn *on_line,
              node_sup_change_fn *on_change, void *ctx)
{
    assert (spec);
    if (!spec->entry[0] || !spec->name[0])
        return NULL;
    node_sup_t *self = (node_sup_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->spec = *spec;
    self->rng = seed | 1;
    self->on_line = on_line;
    self->on_change = on_change;
    self->ctx = ctx;
    self->out_fd = self->err_fd = -1;
    return self;
}

static void
s_reap_blocking (pid_t pid)
{
    //  Bounded: SIGKILL was sent; the kernel reaps a killed process in
    //  microseconds unless it is in uninterruptible sleep.
    for (int i = 0; i < 200; i++) {
        if (waitpid (pid, NULL, WNOHANG) != 0)
            return;
        usleep (5000);
    }
}

void
node_sup_destroy (node_sup_t **self_p)
{
    assert (self_p);
    node_sup_t *self = *self_p;
    if (!self)
        return;
    if (self->pid > 0) {
        kill (-self->pid, SIGKILL);
        s_reap_blocking (self->pid);
    }
    if (self->hpid > 0) {
        kill (-self->hpid, SIGKILL);
        s_reap_blocking (self->hpid);
    }
    s_close_fds (self);
    s_cgroups_remove (self);
    free (self);
    *self_p = NULL;
}

//  fork, place in the groups, exec `cmd` in dir with our env.  Returns the
//  pid, or -1.  out/err: pipe read ends (NULL: output to /dev/null).
static pid_t
s_spawn (node_sup_t *self, const char *cmd, int *out, int *err, bool place)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, ps[2] = {-1, -1};
    if ((out && pipe2 (po, O_CLOEXEC) != 0) || (err && pipe2 (pe, O_CLOEXEC) != 0)
        || pipe2 (ps, O_CLOEXEC) != 0)
        goto fail;
    pid_t pid = fork ();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        //  The child: its own process group (stop kills the whole tree),
        //  wait until the parent has moved it into its groups, then exec.
        setpgid (0, 0);
        //  Dies with the agent (a kill -9 of it leaves no orphan running a
        //  second copy after the restart: the new agent starts its own).
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () == 1)
            _exit (125);
        int devnull = open ("/dev/null", O_RDWR);
        dup2 (devnull, 0);
        dup2 (out ? po[1] : devnull, 1);
        dup2 (err ? pe[1] : devnull, 2);
        char c;
        close (ps[1]);
        while (read (ps[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (self->spec.dir[0] && chdir (self->spec.dir) != 0)
            _exit (126);
        for (int i = 0; i < 4; i++)
            if (self->spec.env[i][0])
                putenv (self->spec.env[i]);
        signal (SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        //  A simple command is exec'ed by the shell (the program is the
        //  pid we watch, and it gets the death signal); a compound one
        //  runs under the shell, which the signal then reaches first.
        char line[1100];
        bool simple = strpbrk (cmd, ";&|<>()`$\n") == NULL && strncmp (cmd, "exec ", 5) != 0;
        snprintf (line, sizeof line, "%s%s", simple ? "exec " : "", cmd);
        execl ("/bin/sh", "sh", "-c", line, (char *) NULL);
        _exit (127);
    }
    setpgid (pid, pid);
    if (place) {
        char v[32];
        snprintf (v, sizeof v, "%d", (int) pid);
        char path[700];
        if (self->cg_cpu[0]) {
            snprintf (path, sizeof path, "%s/cgroup.procs", self->cg_cpu);
            if (s_write_file (path, v) != 0)
                self->limits = false;
        }
        if (self->cg_mem[0]) {
            snprintf (path, sizeof path, "%s/cgroup.procs", self->cg_mem);
            if (s_write_file (path, v) != 0)
                self->limits = false;
        }
    }
    close (ps[0]);
    close (ps[1]);   //  the child goes on
    if (out) {
        close (po[1]);
        fcntl (po[0], F_SETFL, O_NONBLOCK);
        *out = po[0];
    }
    if (err) {
        close (pe[1]);
        fcntl (pe[0], F_SETFL, O_NONBLOCK);
        *err = pe[0];
    }
    return pid;
fail:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close (po[i]);
        if (pe[i] >= 0)
            close (pe[i]);
        if (ps[i] >= 0)
            close (ps[i]);
    }
    return -1;
}

int
node_sup_start (node_sup_t *self, uint64_t now_ms)
{
    if (self->pid > 0)
        return 0;
    if (self->state == NODE_SUP_FAILED || self->state == NODE_SUP_STOPPED) {
        self->n_deaths = 0;
        self->streak = 0;
    }
    self->stopping = false;
    self->killed_health = false;
    self->health_failed = 0;
    bool want_limits = self->spec.cpu_percent || self->spec.memory_mb;
    self->limits = want_limits && s_cgroups_make (self) == 0;
    if (want_limits && !self->limits) {
        static bool warned;
        if (!warned)
            mw_warn ("sup_no_cgroup",
                     "name=%s root=%s reason=\"limits not enforced: cannot make the groups\"",
                     mw_logv (self->spec.name), mw_logv (self->spec.cgroup_root));
        warned = true;
    }
    self->pid = s_spawn (self, self->spec.entry, &self->out_fd, &self->err_fd, self->limits);
    if (self->pid < 0) {
        self->pid = 0;
        snprintf (self->last_error, sizeof self->last_error, "cannot start: %s", strerror (errno));
        mw_warn ("sup_start_failed", "name=%s reason=%s", mw_logv (self->spec.name),
                 mw_logq (self->last_error));
        return -1;
    }
    self->started_ms = now_ms;
    self->healthy_ms = 0;
    self->health_at_ms = now_ms + (self->spec.health[0] ? self->spec.health_interval_ms / 2 : 0);
    mw_info ("sup_started", "name=%s pid=%d restarts=%u limits=%s", mw_logv (self->spec.name),
             (int) self->pid, self->restarts, self->limits ? "yes" : "no");
    s_set_state (self, NODE_SUP_STARTING, "started");
    return 0;
}

void
node_sup_stop (node_sup_t *self, uint64_t now_ms)
{
    self->stopping = true;
    if (self->pid > 0) {
        kill (-self->pid, SIGTERM);
        self->kill_at_ms = now_ms + self->spec.stop_grace_ms;
    }
    else
        s_set_state (self, NODE_SUP_STOPPED, "stopped");
}

int
node_sup_pollitems (node_sup_t *self, zmq_pollitem_t *items, int max)
{
    int n = 0;
    if (self->out_fd >= 0 && n < max)
        items[n++] = (zmq_pollitem_t){NULL, self->out_fd, ZMQ_POLLIN, 0};
    if (self->err_fd >= 0 && n < max)
        items[n++] = (zmq_pollitem_t){NULL, self->err_fd, ZMQ_POLLIN, 0};
    return n;
}

bool
node_sup_owns (node_sup_t *self, const zmq_pollitem_t *item)
{
    return !item->socket && item->fd >= 0 && (item->fd == self->out_fd || item->fd == self->err_fd);
}

//  Lines out of a pipe's buffer; a line longer than the buffer is cut.
static void
s_lines (node_sup_t *self, bool is_err, char *buf, size_t *len, bool flush)
{
    size_t start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\n')
            continue;
        buf[i] = 0;
        const char *line = buf + start;
        if (is_err)
            mw_warn ("pkg_output", "name=%s stream=stderr line=%s", mw_logv (self->spec.name),
                     mw_logq (line));
        else {
            mw_info ("pkg_output", "name=%s stream=stdout line=%s", mw_logv (self->spec.name),
                     mw_logq (line));
            if (self->on_line)
                self->on_line (self->ctx, line);
        }
        start = i + 1;
    }
    memmove (buf, buf + start, *len - start);
    *len -= start;
    if ((flush || *len == S_LINE_MAX - 1) && *len) {
        buf[*len] = '\n';
        (*len)++;
        s_lines (self, is_err, buf, len, false);
    }
}

static void
s_drain (node_sup_t *self, int *fd, char *buf, size_t *len, bool is_err)
{
    //  Bounded per turn: a chatty program cannot hold the loop.
    for (int k = 0; k < 16 && *fd >= 0; k++) {
        ssize_t n = read (*fd, buf + *len, S_LINE_MAX - 1 - *len);
        if (n > 0) {
            *len += (size_t) n;
            s_lines (self, is_err, buf, len, false);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            s_lines (self, is_err, buf, len, true);
            close (*fd);
            *fd = -1;
        }
        break;
    }
}

void
node_sup_readable (node_sup_t *self, const zmq_pollitem_t *item, uint64_t now_ms)
{
    (void) now_ms;
    if (item->fd == self->out_fd)
        s_drain (self, &self->out_fd, self->out_buf, &self->out_len, false);
    else if (item->fd == self->err_fd)
        s_drain (self, &self->err_fd, self->err_buf, &self->err_len, true);
}

static void
s_died (node_sup_t *self, int status, uint64_t now_ms)
{
    char why[128];
    if (self->killed_health)
        snprintf (why, sizeof why, "health check failed %u times", self->health_failed);
    else if (WIFEXITED (status))
        snprintf (why, sizeof why, "exited with status %d", WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        snprintf (why, sizeof why, "killed by signal %d", WTERMSIG (status));
    else
        snprintf (why, sizeof why, "ended");
    self->pid = 0;
    //  The rest of its output first.
    if (self->out_fd >= 0)
        s_drain (self, &self->out_fd, self->out_buf, &self->out_len, false);
    if (self->err_fd >= 0)
        s_drain (self, &self->err_fd, self->err_buf, &self->err_len, true);
    s_close_fds (self);
    if (self->hpid > 0) {
        kill (-self->hpid, SIGKILL);
        s_reap_blocking (self->hpid);
        self->hpid = 0;
    }
    if (self->stopping) {
        s_cgroups_remove (self);
        self->kill_at_ms = 0;
        s_set_state (self, NODE_SUP_STOPPED, "stopped");
        return;
    }
    snprintf (self->last_error, sizeof self->last_error, "%s", why);
    if (self->started_ms && now_ms - self->started_ms >= self->spec.backoff_reset_ms)
        self->streak = 0;   //  a long run: the backoff starts over
    if (self->n_deaths == S_DEATHS_KEPT) {
        memmove (self->deaths, self->deaths + 1, (S_DEATHS_KEPT - 1) * sizeof self->deaths[0]);
        self->n_deaths--;
    }
    self->deaths[self->n_deaths++] = now_ms;
    self->streak++;
    if (node_sup_crash_loop (&self->spec, self->deaths, self->n_deaths)) {
        char fw[160];
        snprintf (fw, sizeof fw, "crash loop: %u deaths in %u s, last: %.100s", self->spec.crash_max,
                  self->spec.crash_window_ms / 1000, why);
        snprintf (self->last_error, sizeof self->last_error, "%s", fw);
        mw_warn ("sup_crash_loop", "name=%s reason=%s", mw_logv (self->spec.name), mw_logq (fw));
        s_cgroups_remove (self);
        s_set_state (self, NODE_SUP_FAILED, fw);
        return;
    }
    uint32_t d = node_sup_backoff_ms (&self->spec, self->streak, mw_splitmix64 (&self->rng));
    self->next_start_ms = now_ms + d;
    mw_warn ("sup_died", "name=%s reason=%s restart_in_ms=%u", mw_logv (self->spec.name), mw_logq (why), d);
    char ch[160];
    snprintf (ch, sizeof ch, "%.100s; restart in %u ms", why, d);
    s_set_state (self, NODE_SUP_BACKOFF, ch);
}

void
node_sup_tick (node_sup_t *self, uint64_t now_ms)
{
    int status;
    if (self->pid > 0) {
        pid_t r = waitpid (self->pid, &status, WNOHANG);
        if (r == self->pid)
            s_died (self, status, now_ms);
    }
    if (self->hpid > 0) {
        pid_t r = waitpid (self->hpid, &status, WNOHANG);
        bool done = r == self->hpid;
        bool late = !done && now_ms >= self->health_deadline_ms;
        if (late) {
            kill (-self->hpid, SIGKILL);
            s_reap_blocking (self->hpid);
        }
        if (done || late) {
            self->hpid = 0;
            bool ok = done && WIFEXITED (status) && WEXITSTATUS (status) == 0;
            if (ok) {
                self->health_failed = 0;
                if (self->state == NODE_SUP_STARTING && self->pid > 0) {
                    self->healthy_ms = now_ms;
                    s_set_state (self, NODE_SUP_RUNNING, "health check passed");
                }
            }
            else if (self->pid > 0) {
                self->health_failed++;
                mw_warn ("sup_health_failed", "name=%s fails=%u reason=%s", mw_logv (self->spec.name),
                         self->health_failed, late ? "timeout" : "exit status");
                if (self->health_failed >= self->spec.health_fails) {
                    self->killed_health = true;
                    kill (-self->pid, SIGKILL);
                }
            }
        }
    }
    if (self->pid > 0 && !self->stopping) {
        if (!self->spec.health[0] && self->state == NODE_SUP_STARTING
            && now_ms - self->started_ms >= self->spec.start_grace_ms) {
            self->healthy_ms = now_ms;
            s_set_state (self, NODE_SUP_RUNNING, "up");
        }
        if (self->spec.health[0] && self->hpid == 0 && now_ms >= self->health_at_ms) {
            self->hpid = s_spawn (self, self->spec.health, NULL, NULL, false);
            if (self->hpid < 0)
                self->hpid = 0;
            self->health_deadline_ms = now_ms + self->spec.health_timeout_ms;
            self->health_at_ms = now_ms + self->spec.health_interval_ms;
        }
    }
    if (self->pid > 0 && self->stopping && self->kill_at_ms && now_ms >= self->kill_at_ms) {
        kill (-self->pid, SIGKILL);
        self->kill_at_ms = 0;
    }
    if (self->state == NODE_SUP_BACKOFF && !self->stopping && now_ms >= self->next_start_ms) {
        self->restarts++;
        if (node_sup_start (self, now_ms) != 0) {
            //  A failed fork counts as a death (so it cannot spin).
            s_died (self, 0, now_ms);
        }
    }
    if (self->state == NODE_SUP_BACKOFF && self->stopping)
        s_set_state (self, NODE_SUP_STOPPED, "stopped");
}

uint64_t
node_sup_next_wakeup (node_sup_t *self, uint64_t now_ms)
{
    uint64_t w = UINT64_MAX;
    //  Children are reaped by polling: every 100 ms while one runs.
    if (self->pid > 0 || self->hpid > 0)
        w = now_ms + 100;
    if (self->state == NODE_SUP_BACKOFF && self->next_start_ms < w)
        w = self->next_start_ms;
    return w;
}

node_sup_state_t
node_sup_state (const node_sup_t *self)
{
    return self->state;
}

uint32_t
node_sup_restarts (const node_sup_t *self)
{
    return self->restarts;
}

const char *
node_sup_last_error (const node_sup_t *self)
{
    return self->last_error;
}

int
node_sup_pid (const node_sup_t *self)
{
    return (int) self->pid;
}

uint64_t
node_sup_running_since (const node_sup_t *self)
{
    return self->state == NODE_SUP_RUNNING ? self->healthy_ms : 0;
}

bool
node_sup_limits_enforced (const node_sup_t *self)
{
    return self->limits;
}

bool
node_sup_stopped (const node_sup_t *self)
{
    return self->state == NODE_SUP_STOPPED && self->pid == 0 && self->hpid == 0;
}

//  ---------------------------------------------------------------------------
//  Selftest: the pure rules, then real programs (sh) on a small loop.

#include <time.h>

#define T_CHECK(c)                                                                                           \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf (stderr, "node_sup_test: %s:%d: %s\n", __FILE__, __LINE__, #c);                          \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)

static uint64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

typedef struct {
    int lines;
    char last[128];
    node_sup_state_t states[64];
    int n_states;
} s_tctx_t;

static void
s_tline (void *ctx, const char *line)
{
    s_tctx_t *t = (s_tctx_t *) ctx;
    t->lines++;
    snprintf (t->last, sizeof t->last, "%s", line);
}

static void
s_tchange (void *ctx, node_sup_state_t st, const char *why)
{
    s_tctx_t *t = (s_tctx_t *) ctx;
    (void) why;
    if (t->n_states < 64)
        t->states[t->n_states++] = st;
}

//  Run the loop (poll the pipes, tick) until cond or ms pass.
static void
s_trun (node_sup_t *s, uint64_t ms, node_sup_state_t until)
{
    uint64_t end = s_now () + ms;
    while (s_now () < end) {
        zmq_pollitem_t items[4];
        int n = node_sup_pollitems (s, items, 4);
        uint64_t now = s_now ();
        uint64_t w = node_sup_next_wakeup (s, now);
        long to = w == UINT64_MAX ? 50 : (long) (w > now ? w - now : 0);
        if (to > 50)
            to = 50;
        zmq_poll (items, n, to);
        for (int i = 0; i < n; i++)
            if (items[i].revents)
                node_sup_readable (s, &items[i], s_now ());
        node_sup_tick (s, s_now ());
        if (node_sup_state (s) == until)
            return;
    }
}

int
node_sup_test (bool verbose)
{
    node_sup_spec_t sp;
    node_sup_spec_defaults (&sp);
    //  Backoff: 1 s doubling to 60 s, drawn in [d/2, d].
    uint64_t r = 1;
    for (uint32_t k = 1; k <= 12; k++) {
        uint64_t d = 1000ull << (k - 1);
        if (d > 60000)
            d = 60000;
        for (int i = 0; i < 50; i++) {
            uint32_t b = node_sup_backoff_ms (&sp, k, mw_splitmix64 (&r));
            T_CHECK (b >= d / 2 && b <= d);
        }
    }
    //  Crash loop: 5 deaths within 120 s.
    uint64_t dt[6] = {0, 1000, 3000, 7000, 15000, 200000};
    T_CHECK (!node_sup_crash_loop (&sp, dt, 4));
    T_CHECK (node_sup_crash_loop (&sp, dt, 5));
    T_CHECK (!node_sup_crash_loop (&sp, dt, 6));   //  the last five span 199 s

    //  A program that prints and exits 3, fast backoff: restarts, then a
    //  crash loop (FAILED), output seen.
    s_tctx_t t = {0};
    snprintf (sp.name, sizeof sp.name, "selftest-%d", (int) getpid ());
    snprintf (sp.entry, sizeof sp.entry, "echo hello $MW_T; echo oops >&2; exit 3");
    snprintf (sp.env[0], sizeof sp.env[0], "MW_T=world");
    sp.backoff_min_ms = 50;
    sp.backoff_max_ms = 200;
    sp.crash_max = 4;
    sp.crash_window_ms = 10000;
    node_sup_t *s = node_sup_new (&sp, 7, s_tline, s_tchange, &t);
    T_CHECK (s);
    uint64_t t0 = s_now ();
    T_CHECK (node_sup_start (s, s_now ()) == 0);
    s_trun (s, 5000, NODE_SUP_FAILED);
    T_CHECK (node_sup_state (s) == NODE_SUP_FAILED);
    T_CHECK (node_sup_restarts (s) == 3);
    T_CHECK (strstr (node_sup_last_error (s), "crash loop") && strstr (node_sup_last_error (s), "status 3"));
    T_CHECK (t.lines == 4 && strcmp (t.last, "hello world") == 0);
    if (verbose)
        printf ("  crash loop after %u restarts in %llu ms: %s\n", node_sup_restarts (s),
                (unsigned long long) (s_now () - t0), node_sup_last_error (s));
    node_sup_destroy (&s);
    T_CHECK (!s);

    //  A long runner with a health check that passes: RUNNING; stop: TERM
    //  ends it; STOPPED.
    memset (&t, 0, sizeof t);
    snprintf (sp.entry, sizeof sp.entry, "sleep 30");
    snprintf (sp.health, sizeof sp.health, "true");
    sp.health_interval_ms = 100;
    s = node_sup_new (&sp, 7, s_tline, s_tchange, &t);
    T_CHECK (s && node_sup_start (s, s_now ()) == 0);
    s_trun (s, 3000, NODE_SUP_RUNNING);
    T_CHECK (node_sup_state (s) == NODE_SUP_RUNNING && node_sup_pid (s) > 0);
    node_sup_stop (s, s_now ());
    s_trun (s, 3000, NODE_SUP_STOPPED);
    T_CHECK (node_sup_stopped (s));
    node_sup_destroy (&s);

    //  A health check that fails: killed after health_fails failures, which
    //  counts as a death (backoff, restart).
    memset (&t, 0, sizeof t);
    snprintf (sp.health, sizeof sp.health, "exit 1");
    sp.health_fails = 2;
    s = node_sup_new (&sp, 7, s_tline, s_tchange, &t);
    T_CHECK (s && node_sup_start (s, s_now ()) == 0);
    s_trun (s, 3000, NODE_SUP_BACKOFF);
    T_CHECK (node_sup_state (s) == NODE_SUP_BACKOFF
             && strstr (node_sup_last_error (s), "health check failed"));
    node_sup_destroy (&s);

    //  A program that ignores SIGTERM is killed after stop_grace_ms.
    snprintf (sp.entry, sizeof sp.entry, "trap '' TERM; while :; do sleep 0.05; done");
    sp.health[0] = 0;
    sp.stop_grace_ms = 300;
    s = node_sup_new (&sp, 7, NULL, NULL, NULL);
    T_CHECK (s && node_sup_start (s, s_now ()) == 0);
    s_trun (s, 300, NODE_SUP_STATE_COUNT);
    uint64_t ts = s_now ();
    node_sup_stop (s, ts);
    s_trun (s, 3000, NODE_SUP_STOPPED);
    T_CHECK (node_sup_stopped (s) && s_now () - ts >= 250);
    node_sup_destroy (&s);

    //  cgroups (where this machine lets us make them): the limits written.
    //  As root where cgroup v1's cpu controller is mounted (the test
    //  machine, a Jetson); MW_TEST_CGROUP_ROOT names another mount.
    const char *root = getenv ("MW_TEST_CGROUP_ROOT");
    if (!root && geteuid () == 0 && access ("/sys/fs/cgroup/cpu/cgroup.procs", W_OK) == 0)
        root = "/sys/fs/cgroup";
    if (root && *root) {
        snprintf (sp.cgroup_root, sizeof sp.cgroup_root, "%s", root);
        snprintf (sp.entry, sizeof sp.entry, "sleep 5");
        sp.cpu_percent = 25;
        sp.memory_mb = 64;
        s = node_sup_new (&sp, 7, NULL, NULL, NULL);
        T_CHECK (s && node_sup_start (s, s_now ()) == 0);
        T_CHECK (node_sup_limits_enforced (s));
        char path[700], buf[64] = "";
        snprintf (path, sizeof path, "%s/cpu/meshwatch/%s/cpu.cfs_quota_us", root, sp.name);
        FILE *f = fopen (path, "r");
        T_CHECK (f && fgets (buf, sizeof buf, f));
        fclose (f);
        T_CHECK (atoi (buf) == 25000);
        snprintf (path, sizeof path, "%s/cpu/meshwatch/%s/cgroup.procs", root, sp.name);
        f = fopen (path, "r");
        T_CHECK (f && fgets (buf, sizeof buf, f));
        fclose (f);
        T_CHECK (atoi (buf) == node_sup_pid (s));
        node_sup_destroy (&s);
        struct stat st;
        snprintf (path, sizeof path, "%s/cpu/meshwatch/%s", root, sp.name);
        T_CHECK (stat (path, &st) != 0);   //  removed
        if (verbose)
            printf ("  cgroups: quota 25000, pid placed, group removed\n");
    }
    return 0;
}
