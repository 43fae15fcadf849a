/*  =========================================================================
    node_statedb - the node's persistent state in SQLite (STATE_DIR/state.db).

    Holds what must survive a restart or a kill -9 at any moment: the
    incarnation and boot session (both must only grow, or peers would take
    the restarted node for a replay or an old rumour) and the last known
    peers (rejoin without a seed).  WAL mode with synchronous=FULL: a commit
    that returned is on disk, and a crash mid-write leaves the last commit.

    Two kinds of write:

      * synchronous (get/set_u64, set_u64s): for what must be on disk
        before a packet that depends on it leaves - the start-up incarnation
        and session, the election's ballot and vote.  Rare, and the caller
        waits for the fsync.
      * write-behind (peer_note, peer_forget, set_u64_later): for what
        remote input drives (a member flood, refutations).  The loop only
        updates memory; a writer thread of our own flushes it at most once a
        second, as one transaction (one fsync).  A failed flush keeps the
        batch and backs off (1 s doubling to 60 s); the loop never waits
        for the disk, so a slow or full disk cannot stall it.

    Failures of either kind are logged at most once a minute, with the
    reason and how many failed since the last line; when a write succeeds
    again that is logged once (statedb_recovered).  A full STATE_DIR thus
    degrades the agent to "serving from memory" and it recovers by itself
    when space returns (README, "Disk full").
    ========================================================================= */
#ifndef NODE_STATEDB_H_INCLUDED
#define NODE_STATEDB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_statedb_t node_statedb_t;

//  The peers table keeps this many peers (the most recently seen).
#define NODE_STATEDB_PEERS_MAX 256

node_statedb_t *node_statedb_open (const char *state_dir, char *err, size_t errlen);
//  Stops the writer after one last flush attempt.
void node_statedb_close (node_statedb_t **self_p);

//  Synchronous.  0 found, 1 absent, -1 error.
int node_statedb_get_u64 (node_statedb_t *self, const char *key, uint64_t *value);
//  Synchronous: on disk when it returns 0.  -1 on failure (logged, rate-limited).
int node_statedb_set_u64 (node_statedb_t *self, const char *key, uint64_t value);
//  Several keys in one transaction: all of them reach the disk, or none
//  (the election's ballot and vote must never be half written).  0/-1.
int node_statedb_set_u64s (node_statedb_t *self, const char *const *keys, const uint64_t *values, size_t n);
//  The reason of the last failed write ("" if none), e.g. for a start-up error.
const char *node_statedb_last_error (node_statedb_t *self);

//  Write-behind.  Remember a peer we have seen (written when new, when its
//  name or address changed, or when its last write is a minute old), or
//  forget one (it left).  Never blocks; 0, or -1 if the pending batch is
//  full (NODE_STATEDB_PENDING_MAX entries; counted, the note is dropped).
#define NODE_STATEDB_PENDING_MAX 2048
int node_statedb_peer_note (node_statedb_t *self, const char *id_hex, const char *name, const char *addr,
                            uint64_t seen_wall_ms);
int node_statedb_peer_forget (node_statedb_t *self, const char *id_hex);
//  A key written with the next flush (the latest value wins).  0/-1.
int node_statedb_set_u64_later (node_statedb_t *self, const char *key, uint64_t value);
//  Call every loop turn: hands the pending batch to the writer when a
//  flush is due.  Cheap (a lock and a few comparisons).
void node_statedb_tick (node_statedb_t *self, uint64_t now_ms);
//  Flush now and wait up to timeout_ms for it (tests, shutdown).  0 when
//  nothing is left pending, -1 otherwise.
int node_statedb_flush (node_statedb_t *self, int timeout_ms);

//  Most recently seen peer addresses, newest first.  Returns the count.
size_t node_statedb_peer_addrs (node_statedb_t *self, char (*addrs)[100], size_t max);

typedef struct {
    uint64_t flushes;          //  write-behind transactions committed
    uint64_t rows;             //  rows they wrote or deleted
    uint64_t flush_failures;   //  transactions that failed (kept, retried)
    uint64_t sync_failures;    //  synchronous writes that failed
    uint64_t dropped;          //  notes refused: the pending batch was full
    uint64_t pending;          //  rows waiting for the next flush
    uint64_t worst_flush_ms;   //  longest flush, on the writer thread
    uint64_t retry_in_ms;      //  0, or the back-off before the next try
    bool degraded;             //  the last write (of either kind) failed
    char last_error[128];      //  its reason
} node_statedb_stats_t;
void node_statedb_stats (node_statedb_t *self, node_statedb_stats_t *out);
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
