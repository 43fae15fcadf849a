/*  =========================================================================
    node_evlog - the box's durable event log: every event it publishes,
    numbered and kept in the state DB, so that a VMS that was away can
    replay what it missed.

    An event's id is (box, epoch, seq):
      * box    the node id of the publisher (the event's `node` field);
      * epoch  a random integer (1 .. 2^53-1) chosen when the log's table
               is created in STATE_DIR/state.db: it changes only when the
               state DB is recreated, so a cursor of an older log is
               recognised instead of being mistaken for a position;
      * seq    1, 2, 3, ...: one more per event, never reused once an event
               has been published, continued across restarts and kill -9.
    As text, a cursor is "EPOCH-SEQ" (or just "SEQ" for the current epoch).

    Durability point: an event is *published* (ZeroMQ PUB, SSE, webhooks,
    GET /api/v1/events) only once its row is committed (SQLite WAL,
    synchronous=FULL: on disk when COMMIT returns).  The loop never waits
    for the disk: node_evlog_append () queues the event (bounded) for a
    writer thread of our own, which commits whatever is queued as one
    transaction (group commit: one fsync for a batch, so a burst of events
    costs a few fsyncs, not one each) and then tells the loop (an eventfd
    to poll) and any waiting reader.  What was appended but not committed
    when the process died was never published: its seq is given to the next
    event after the restart, and nobody can tell.

    Retention: the log keeps at most `keep_count` events and none older than
    `keep_age_ms` (the publisher's wall clock); older rows are deleted by the
    writer.  A reader asking for events after a cursor older than what is
    kept gets NODE_EVLOG_GONE (the API answers 410 Gone: re-list).

    Threads: append, next_seq and the fd are the loop's; read, bounds, wait
    and stats may be called from any thread (the HTTP server's, the outbox
    senders').  The last events committed are kept in memory (a ring of
    refcounted entries), so a reader that keeps up never touches SQLite.
    ========================================================================= */
#ifndef NODE_EVLOG_H_INCLUDED
#define NODE_EVLOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _node_evlog_t node_evlog_t;

typedef struct {
    uint64_t keep_count;    //  retention: events kept (at least 1)
    uint64_t keep_age_ms;   //  retention: age (0 = no age bound)
    size_t queue_max;       //  appended but not yet committed (0 = 65536)
} node_evlog_opts_t;

//  One committed event.  Immutable and refcounted: a reader holds it until
//  node_evlog_release ().  mp is NULL for events read back from SQLite (the
//  log keeps the JSON; the msgpack twin only lives in memory for the PUB).
typedef struct {
    uint64_t seq;
    uint64_t ts_ms;
    const char *topic;   //  "<family>.<event>"
    const char *json;    //  the event's JSON object
    size_t json_len;
    const unsigned char *mp;   //  its msgpack twin, or NULL
    size_t mp_len;
} node_evlog_entry_t;

#define NODE_EVLOG_GONE (-2)   //  read: the cursor is older than what is kept

//  Open (create) the log in STATE_DIR/state.db.  NULL with the reason.
node_evlog_t *node_evlog_open (const char *state_dir, const node_evlog_opts_t *opts, char *err,
                               size_t errlen);
//  Commits what is queued (waiting up to 2 s for a failing disk), stops the
//  writer, wakes every waiter.
void node_evlog_close (node_evlog_t **self_p);

uint64_t node_evlog_epoch (node_evlog_t *self);
//  The seq the next appended event gets (loop thread).
uint64_t node_evlog_next_seq (node_evlog_t *self);
//  Queue one event for the writer; its seq is node_evlog_next_seq ().  The
//  bytes are copied.  0, or -1 when the queue is full (the event is
//  dropped, counted and logged; no seq is used up).  Loop thread.
int node_evlog_append (node_evlog_t *self, const char *topic, uint64_t ts_ms, const char *json,
                       size_t json_len, const void *mp, size_t mp_len);

//  Readable (poll for POLLIN) after commits; node_evlog_fd_ack () resets it.
int node_evlog_fd (node_evlog_t *self);
void node_evlog_fd_ack (node_evlog_t *self);

//  Up to `max` committed events with seq > after, oldest first, into out[]
//  (references: node_evlog_release).  Returns the count (0: none yet),
//  NODE_EVLOG_GONE when events after `after` were deleted by retention (or
//  `after` is beyond the log), -1 on a database error (logged).
int node_evlog_read (node_evlog_t *self, uint64_t after, node_evlog_entry_t **out, size_t max);
void node_evlog_release (node_evlog_entry_t **entries, size_t n);

//  The oldest seq kept and the last committed (oldest = last + 1: empty).
void node_evlog_bounds (node_evlog_t *self, uint64_t *oldest, uint64_t *last);
//  Block until an event after `after` is committed, the log closes, or
//  timeout_ms passes; returns the last committed seq.
uint64_t node_evlog_wait (node_evlog_t *self, uint64_t after, int timeout_ms);
//  Called on the writer thread after each commit with the last committed
//  seq (set once, before the first append).  Must not block.
void node_evlog_on_commit (node_evlog_t *self, void (*fn) (void *ctx, uint64_t last), void *ctx);
//  Wait until everything appended so far is committed: 0, or -1 after
//  timeout_ms (tests, shutdown).
int node_evlog_flush (node_evlog_t *self, int timeout_ms);

typedef struct {
    uint64_t appended;          //  events queued
    uint64_t committed;         //  events committed
    uint64_t dropped;           //  refused: the queue was full
    uint64_t commits;           //  transactions
    uint64_t batch_max;         //  most events in one transaction
    uint64_t failures;          //  transactions that failed (retried)
    uint64_t pruned;            //  rows deleted by retention
    uint64_t worst_commit_us;   //  slowest transaction
    uint64_t queued;            //  waiting for the writer now
    uint64_t db_reads;          //  reads served from SQLite (not the ring)
} node_evlog_stats_t;
void node_evlog_stats (node_evlog_t *self, node_evlog_stats_t *out);

//  Cursor text "EPOCH-SEQ" or "SEQ" (epoch 0 then: the caller's current).
//  0, or -1 when it is not one.
int node_evlog_cursor_parse (const char *text, uint64_t *epoch, uint64_t *seq);

int node_evlog_test (bool verbose);

#endif
