/*  =========================================================================
    node_sup - one supervised program: an `exec` package's entry, run by
    the agent as a child process in its own cgroup.

    The agent owns restarts (not systemd): systemd's exponential restart
    (RestartSteps) needs version 254, the Jetson's Ubuntu 20.04 has 245.
    So every program is a direct child of the agent, placed in cgroup v1
    groups of its own (CGROUP_ROOT/cpu/meshwatch/NAME with cpu.cfs_quota_us
    from the manifest's cpu_percent, CGROUP_ROOT/memory/meshwatch/NAME with
    memory.limit_in_bytes from memory_mb); the child waits on a pipe until
    it has been moved there, so not one instruction of it runs outside its
    limits.  A box where the groups cannot be made runs the program
    without limits and says so (limits_enforced false, a warning once).

      * output: stdout and stderr are pipes read on the agent's loop, one
        log line per line of output (pkg_output; stderr at warn), and each
        stdout line is handed to the owner (the environment program's JSON
        lines);
      * health: the manifest's health command, run in the package's folder
        every health_interval_ms (a child too, killed after
        health_timeout_ms); health_fails failures in a row kill the
        program ("health check failed"), which counts as a death;
      * deaths: restart after a backoff of backoff_min_ms doubling to
        backoff_max_ms, each delay drawn in [d/2, d] (full jitter's
        gentler form: restarts of many boxes spread, none waits longer
        than the cap); crash_max deaths within crash_window_ms is a crash
        loop: FAILED, no more restarts, until the owner starts it again;
      * a program that has stayed up for backoff_reset_ms has its backoff
        reset (a death a day is not a crash loop).

    Nothing here blocks: stop sends SIGTERM and, stop_grace_ms later,
    SIGKILL to the program's process group; children are reaped with
    waitpid (WNOHANG) on every tick.  The timing rules (backoff, crash
    window) are pure functions, tested on their own.
    ========================================================================= */
#ifndef NODE_SUPERVISOR_H_INCLUDED
#define NODE_SUPERVISOR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef enum {
    NODE_SUP_STOPPED = 0,
    NODE_SUP_STARTING,   //  running, not yet passed a health check
    NODE_SUP_RUNNING,    //  running and healthy (or no health check and up start_grace_ms)
    NODE_SUP_BACKOFF,    //  died; restarts at next_start
    NODE_SUP_FAILED,     //  crash loop: given up
    NODE_SUP_STATE_COUNT
} node_sup_state_t;

const char *node_sup_state_name (node_sup_state_t s);

typedef struct {
    char name[64];                     //  for logs and the cgroup ("slot-package")
    char dir[512];                     //  working directory: the package's files
    char entry[1040];                  //  the command line (run by /bin/sh -c ENTRY in its own process group)
    char health[1040];                 //  "" = none
    uint32_t cpu_percent, memory_mb;   //  0 = no limit
    char cgroup_root[256];             //  "" = no cgroups (e.g. /sys/fs/cgroup)
    char cgroup_parent[64];            //  the groups' parent under each controller ("meshwatch")
    char env[4][1100];                 //  extra KEY=VALUE for the program ("" unused)
    uint32_t start_grace_ms;           //  no health command: healthy after this (2000)
    uint32_t health_interval_ms;       //  (2000)
    uint32_t health_timeout_ms;        //  (3000)
    uint32_t health_fails;             //  failures in a row that kill it (3)
    uint32_t backoff_min_ms;           //  (1000)
    uint32_t backoff_max_ms;           //  (60000)
    uint32_t backoff_reset_ms;         //  up this long: backoff starts over (60000)
    uint32_t crash_max;                //  deaths ... (5)
    uint32_t crash_window_ms;          //  ... within this window: crash loop (120000)
    uint32_t stop_grace_ms;            //  SIGTERM to SIGKILL (3000)
} node_sup_spec_t;

void node_sup_spec_defaults (node_sup_spec_t *spec);

//  Pure rules.  The delay before restart number `deaths` (1 = after the
//  first death): min * 2^(deaths-1), capped at max, drawn in [d/2, d]
//  with `r` (a uniform 64-bit draw).
uint32_t node_sup_backoff_ms (const node_sup_spec_t *spec, uint32_t deaths, uint64_t r);
//  Crash loop: given death times (ms, ascending, n of them), is the last
//  crash_max within crash_window_ms?
bool node_sup_crash_loop (const node_sup_spec_t *spec, const uint64_t *deaths, size_t n);

typedef struct _node_sup_t node_sup_t;

//  A line of the program's stdout (without the newline), for the owner.
typedef void (node_sup_line_fn) (void *ctx, const char *line);
//  The program changed state (died, healthy, failed): `why` says why.
typedef void (node_sup_change_fn) (void *ctx, node_sup_state_t state, const char *why);

node_sup_t *node_sup_new (const node_sup_spec_t *spec, uint64_t seed, node_sup_line_fn *on_line,
                          node_sup_change_fn *on_change, void *ctx);
//  Kills the program (SIGKILL, reaped) and removes its cgroups.
void node_sup_destroy (node_sup_t **self_p);

//  Start (or restart after FAILED: the death history is cleared).  0, -1
//  when fork or the pipes fail (the reason in last_error).
int node_sup_start (node_sup_t *self, uint64_t now_ms);
//  Stop: SIGTERM now, SIGKILL after stop_grace_ms; STOPPED once reaped.
void node_sup_stop (node_sup_t *self, uint64_t now_ms);

int node_sup_pollitems (node_sup_t *self, zmq_pollitem_t *items, int max);
void node_sup_readable (node_sup_t *self, const zmq_pollitem_t *item, uint64_t now_ms);
void node_sup_tick (node_sup_t *self, uint64_t now_ms);
uint64_t node_sup_next_wakeup (node_sup_t *self, uint64_t now_ms);
//  Does this item belong to it?
bool node_sup_owns (node_sup_t *self, const zmq_pollitem_t *item);

node_sup_state_t node_sup_state (const node_sup_t *self);
uint32_t node_sup_restarts (const node_sup_t *self);
const char *node_sup_last_error (const node_sup_t *self);
int node_sup_pid (const node_sup_t *self);                  //  0 when not running
uint64_t node_sup_running_since (const node_sup_t *self);   //  0 when not running
bool node_sup_limits_enforced (const node_sup_t *self);
bool node_sup_stopped (const node_sup_t *self);   //  STOPPED and every child reaped

int node_sup_test (bool verbose);

#endif
