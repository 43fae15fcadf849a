/*  =========================================================================
    node_statedb - the node's persistent state in SQLite (STATE_DIR/state.db).

    Holds what must survive a restart or a kill -9 at any moment: the
    incarnation and boot session (both must only grow, or peers would take
    the restarted node for a replay or an old rumour) and the last known
    peers (rejoin without a seed).  WAL mode with synchronous=FULL: a commit
    that returned is on disk, and a crash mid-write leaves the last commit.
    ========================================================================= */
#ifndef NODE_STATEDB_H_INCLUDED
#define NODE_STATEDB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_statedb_t node_statedb_t;

node_statedb_t *node_statedb_open (const char *state_dir, char *err, size_t errlen);
void node_statedb_close (node_statedb_t **self_p);

//  0 found, 1 absent, -1 error.
int node_statedb_get_u64 (node_statedb_t *self, const char *key, uint64_t *value);
int node_statedb_set_u64 (node_statedb_t *self, const char *key, uint64_t value);
//  Several keys in one transaction: all of them reach the disk, or none
//  (the election's ballot and vote must never be half written).  0/-1.
int node_statedb_set_u64s (node_statedb_t *self, const char *const *keys, const uint64_t *values, size_t n);

int node_statedb_peer_upsert (node_statedb_t *self, const char *id_hex, const char *name, const char *addr,
                              uint64_t seen_wall_ms);
int node_statedb_peer_delete (node_statedb_t *self, const char *id_hex);
//  Most recently seen peer addresses, newest first.  Returns the count.
size_t node_statedb_peer_addrs (node_statedb_t *self, char (*addrs)[100], size_t max);

//  The camera registry's rows (camera/cam_registry.h): written in one
//  transaction (all or none reach the disk), read back at start.
typedef struct {
    const char *id;
    uint64_t hlc;
    uint8_t origin[8];
    bool deleted;
    const char *json;   //  NULL or "" for a tombstone
} node_statedb_camera_t;
int node_statedb_cameras_put (node_statedb_t *self, const node_statedb_camera_t *rows, size_t n);
int node_statedb_cameras_delete (node_statedb_t *self, const char *id);
//  Calls fn for every row (strings valid during the call).  The count, or -1.
int node_statedb_cameras_each (node_statedb_t *self, void (*fn) (void *ctx, const node_statedb_camera_t *row),
                               void *ctx);

int node_statedb_test (bool verbose);

#endif
