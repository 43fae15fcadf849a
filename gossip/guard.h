/*  =========================================================================
    gossip_guard - caps on the TCP connections that anyone on the network
    can open to our listeners, so that no outsider can use up the process's
    file descriptors (or the memory libzmq buffers per connection).

    libzmq accepts every connection a listener gets and has no "max
    connections" option; at the fd limit it stops accepting peers, and an
    ipc listener (our control socket) even aborts on EMFILE.  The guard
    watches each listener through a socket monitor (ACCEPTED, DISCONNECTED
    and HANDSHAKE_SUCCEEDED events carry the connection's fd), keeps a table
    of open connections, and cuts the ones over a cap with shutdown(2) -
    never close(2): libzmq owns the fd, sees the end of the stream and
    closes it itself.

    A connection is "untrusted" until the transport has authenticated a
    message that came in on it (gossip_guard_trust, from the message's
    ZMQ_SRCFD); a listener whose clients never send (the event stream's
    PUB) keeps all its connections untrusted and relies on the caps alone.
    Caps, per listener:

      * untrusted connections from one source address (per_ip);
      * untrusted connections in all (untrusted_max);
      * connections in all (max), and across all listeners (global_max);
      * an untrusted connection older than idle_ms is cut (a peer sends its
        first message right after connecting; an outsider's idle socket
        never sends one).

    The guard runs on its own thread, so it keeps up with a connection
    flood even while the agent's loop is busy.  Cutting by fd has a race
    libzmq does not let us close: the fd may be closed and reused between
    the event and the cut.  Before each cut the guard checks that the fd is
    still a TCP socket on the listener's port from the recorded peer, which
    shrinks the window to the few microseconds between that check and
    shutdown(2).
    ========================================================================= */
#ifndef GOSSIP_GUARD_H_INCLUDED
#define GOSSIP_GUARD_H_INCLUDED

#include <czmq.h>
#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gossip_guard_t gossip_guard_t;

typedef struct {
    const char *name;         //  for logs and stats: "mesh", "data", "events"
    uint32_t per_ip;          //  untrusted connections from one address
    uint32_t untrusted_max;   //  untrusted connections in all
    uint32_t max;             //  connections in all, trusted or not
    uint32_t idle_ms;         //  cut an untrusted connection this old (0: never)
    bool exempt_loopback;     //  per_ip does not apply to 127.0.0.0/8 and ::1
} gossip_guard_rules_t;

typedef struct {
    uint64_t accepted;   //  connections seen
    uint64_t cut_ip, cut_untrusted, cut_max, cut_global, cut_idle;
    uint32_t open, untrusted;   //  now
} gossip_guard_stats_t;

//  At most this many listeners per guard.
#define GOSSIP_GUARD_LISTENERS 8

//  Start the guard thread.  global_max caps the connections of all
//  listeners together (see gossip_guard_budget).  NULL on failure.
gossip_guard_t *gossip_guard_new (uint32_t global_max);
void gossip_guard_destroy (gossip_guard_t **self_p);
//  Change the cap on all listeners' connections together (the fd budget is
//  known only once every socket of the process is open).
void gossip_guard_set_global_max (gossip_guard_t *self, uint32_t global_max);

//  Watch a bound listener (call after bind, from the thread that owns
//  it).  Returns the listener's index, or -1.
int gossip_guard_watch (gossip_guard_t *self, zsock_t *listener, const gossip_guard_rules_t *rules);
//  Watch a socket's outbound connections (call before its first connect):
//  each one gets TCP_USER_TIMEOUT = user_timeout_ms, so that a connection
//  whose data goes unacknowledged that long (a cut path) is closed and
//  libzmq reconnects.  Not capped, not counted.  Returns an index, or -1.
int gossip_guard_watch_out (gossip_guard_t *self, zsock_t *sock, uint32_t user_timeout_ms);
//  An authenticated message came in on connection `fd` (any thread).
void gossip_guard_trust (gossip_guard_t *self, int fd);
//  Has connection `fd` been trusted?  An fd the guard does not track (yet:
//  its ACCEPTED event may trail its first frames) is not; with no guard at
//  all, every connection is.
bool gossip_guard_trusted (gossip_guard_t *self, int fd);
//  Counters of one listener.  0/-1.
int gossip_guard_stats (gossip_guard_t *self, int listener, gossip_guard_stats_t *out);
//  All listeners' stats as one JSON object {"mesh":{...},...,"global":{...}};
//  the caller owns the reference (json_object_put).
json_object *gossip_guard_stats_json (gossip_guard_t *self);

//  File descriptors: raise RLIMIT_NOFILE's soft limit to the hard limit
//  (at most 65536: more buys nothing here) and return the new soft limit.
uint64_t gossip_guard_raise_nofile (void);
//  fds this process has open now (/proc/self/fd), or -1.
int gossip_guard_fds_open (void);

int gossip_guard_test (bool verbose);

#endif
