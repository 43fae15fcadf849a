/*  =========================================================================
    node_keywatch - other-key traffic with no mesh of our own (see keywatch.h).
    ========================================================================= */
#include "node/keywatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _node_keywatch_t {
    uint32_t quiet_ms, repeat_ms;
    uint64_t since_ms;    //  first other-key message since the last valid one (0 = none)
    uint64_t warned_ms;   //  last warning (0 = never)
    uint64_t count;       //  other-key messages since the last warning
    char sources[NODE_KEYWATCH_SOURCES][64];
    size_t n_sources;
};

node_keywatch_t *
node_keywatch_new (uint32_t quiet_ms, uint32_t repeat_ms)
{
    node_keywatch_t *self = calloc (1, sizeof *self);
    if (self) {
        self->quiet_ms = quiet_ms;
        self->repeat_ms = repeat_ms;
    }
    return self;
}

void
node_keywatch_destroy (node_keywatch_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
node_keywatch_other (node_keywatch_t *self, const char *source, uint64_t count, uint64_t now_ms)
{
    if (!self || !count)
        return;
    if (!self->since_ms)
        self->since_ms = now_ms ? now_ms : 1;
    self->count += count;
    if (!source || !*source)
        return;
    for (size_t i = 0; i < self->n_sources; i++)
        if (!strcmp (self->sources[i], source))
            return;
    if (self->n_sources < NODE_KEYWATCH_SOURCES)
        snprintf (self->sources[self->n_sources++], sizeof self->sources[0], "%s", source);
}

void
node_keywatch_valid (node_keywatch_t *self, uint64_t now_ms)
{
    if (!self)
        return;
    //  Our mesh talks to us: whatever else we hear is not our problem.
    self->since_ms = 0;
    self->count = 0;
    self->n_sources = 0;
}

bool
node_keywatch_due (node_keywatch_t *self, uint64_t now_ms, char *line, size_t cap)
{
    if (!self || !self->since_ms || !self->count || now_ms < self->since_ms + self->quiet_ms
        || (self->warned_ms && now_ms < self->warned_ms + self->repeat_ms))
        return false;
    uint64_t from = self->warned_ms > self->since_ms ? self->warned_ms : self->since_ms;
    int n = snprintf (line, cap, "count=%llu window_s=%llu sources=", (unsigned long long) self->count,
                      (unsigned long long) ((now_ms - from) / 1000));
    for (size_t i = 0; i < self->n_sources && n > 0 && (size_t) n < cap; i++)
        n += snprintf (line + n, cap - (size_t) n, "%s%s", i ? "," : "", self->sources[i]);
    if (!self->n_sources && n > 0 && (size_t) n < cap)
        snprintf (line + n, cap - (size_t) n, "mesh_port");
    self->warned_ms = now_ms;
    self->count = 0;
    self->n_sources = 0;
    return true;
}

int
node_keywatch_test (bool verbose)
{
    int fails = 0;
    char line[256];
    node_keywatch_t *k = node_keywatch_new (10000, 60000);
    fails += node_keywatch_due (k, 1000, line, sizeof line);   //  nothing heard
    //  Other-key beacons from two boxes, and mesh messages without a source.
    for (uint64_t t = 1000; t <= 9000; t += 1000) {
        node_keywatch_other (k, "10.0.0.2", 1, t);
        node_keywatch_other (k, "10.0.0.3", 1, t);
    }
    node_keywatch_other (k, NULL, 3, 9500);
    fails += node_keywatch_due (k, 9999, line, sizeof line);   //  not for long enough yet
    fails += !node_keywatch_due (k, 11000, line, sizeof line);
    if (verbose)
        printf (" * keywatch: %s\n", line);
    fails += strcmp (line, "count=21 window_s=10 sources=10.0.0.2,10.0.0.3") != 0;
    //  Once a minute, with the counts since the last line.
    node_keywatch_other (k, "10.0.0.2", 5, 20000);
    fails += node_keywatch_due (k, 30000, line, sizeof line);
    fails += !node_keywatch_due (k, 71000, line, sizeof line);
    fails += strcmp (line, "count=5 window_s=60 sources=10.0.0.2") != 0;
    //  Nothing new heard: no line.
    fails += node_keywatch_due (k, 200000, line, sizeof line);
    //  A valid message: the mesh is ours after all; the next episode waits
    //  its quiet time again.
    node_keywatch_other (k, NULL, 2, 210000);
    node_keywatch_valid (k, 211000);
    fails += node_keywatch_due (k, 300000, line, sizeof line);
    node_keywatch_other (k, NULL, 2, 300000);
    fails += node_keywatch_due (k, 305000, line, sizeof line);
    fails += !node_keywatch_due (k, 310000, line, sizeof line);
    fails += strcmp (line, "count=2 window_s=10 sources=mesh_port") != 0;
    //  Many sources: at most NODE_KEYWATCH_SOURCES kept.
    char ip[32];
    for (int i = 0; i < 100; i++) {
        snprintf (ip, sizeof ip, "10.1.0.%d", i);
        node_keywatch_other (k, ip, 1, 320000);
    }
    fails += !node_keywatch_due (k, 400000, line, sizeof line) || strstr (line, "10.1.0.8,") != NULL;
    node_keywatch_destroy (&k);
    fails += k != NULL;
    return fails ? -1 : 0;
}
