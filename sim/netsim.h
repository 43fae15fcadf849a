/*  =========================================================================
    netsim - the one deterministic network simulator of the mesh.

    The pure modules (gossip/member.h, scheduler/election.h,
    scheduler/handoff.h) own no socket and read no clock: they are driven
    through handle (a message arrived), tick (timers) and next_wakeup
    (when tick has work).  netsim drives real instances of them, many per
    process, on a virtual clock:

      * one event heap ordered by (time, sequence number), so that events
        at the same instant always run in the order they were scheduled,
        and a run is a pure function of its inputs and its seed;
      * NODES, each hosting instances of SERVICES (one per module kind: a
        port); a message for (node, port) is handed to the service's
        handle, and each hosted service is ticked exactly at its
        next_wakeup, which is asked again after every handle and tick;
      * a LINK model per directed pair: latency (uniform per message, or
        fixed per pair), loss (a dropped datagram, or TCP: the segment is
        resent after a retransmission timeout that doubles while it keeps
        being lost), in-order delivery (a late segment holds back those
        behind it), serialisation time (bytes / bandwidth);
      * FAULTS: partitions (groups: nothing crosses between two), cut
        directed links, freeze (SIGSTOP: the node neither ticks nor reads;
        what arrives waits and is delivered in order when it thaws), crash
        (instances die, what was in flight to them is lost) and restart
        (the host builds new instances from the state it persisted);
      * timers for the host (arrivals, a fake runner, fault schedules) and
        an observer called after every event (invariant checks).

    Messages are bytes: the sender's adapter flattens a module's struct
    (and what it points to) into one buffer, netsim copies it, and the
    receiving adapter points it back together.  They do not go through the
    wire codec: the scheduler's modules have their own structs, translated
    to the wire only at the daemon's edge (node/msgmap.c, tested through
    the real codec), so the simulator and the scheduler selftests need no
    codec and no gossip library, and a large run spends its time in the
    modules, not in msgpack.  The size a message has on the wire is given
    with it (for bandwidth and counters).

    Time is in microseconds; the modules speak milliseconds, so their ticks
    fall on millisecond boundaries.  Randomness: one splitmix64 stream
    (common/rand.h) seeded by the caller, drawn in event order.
    ========================================================================= */
#ifndef SIM_NETSIM_H_INCLUDED
#define SIM_NETSIM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _netsim_t netsim_t;

#define NETSIM_NEVER UINT64_MAX
#define NETSIM_MS    1000u   //  us per ms

//  The link model of one directed pair.
typedef struct {
    uint32_t lat_min_us, lat_max_us;   //  one-way latency: uniform in [min, max]
    bool lat_per_pair;        //  fixed per unordered pair (drawn from the seed) instead of per message
    double loss;              //  probability that one transmission is lost, 0..1
    bool retransmit;          //  a loss is resent (TCP), not dropped (datagram)
    uint32_t rto_first_us;    //  first resend this long after the loss ...
    uint32_t rto_jitter_us;   //  ... plus uniform 0..jitter
    uint32_t rto_min_us;      //  each further resend: the gap doubled, or this when it is below
    bool in_order;            //  never overtakes an earlier message on the link (TCP)
    double bandwidth_bps;     //  serialisation time size * 8 / bandwidth (0: none)
} netsim_link_t;

//  LAN: 1..3 ms per message, no loss, unordered, no bandwidth limit.
void netsim_link_defaults (netsim_link_t *link);

//  A kind of module the nodes may host (one port).  `ctx` is the service's
//  own state (typically per-node module instances, indexed by node).
typedef struct {
    const char *name;
    //  A message for this service at `node`, from node `from`; `msg` is the
    //  copy netsim made at send time, valid for the call (writable).
    void (*handle) (void *ctx, uint32_t node, uint32_t from, void *msg, size_t len, uint64_t now_us);
    void (*tick) (void *ctx, uint32_t node, uint64_t now_us);
    //  Earliest time tick has work, NETSIM_NEVER for none.  A time not after
    //  the last tick means "one millisecond later".
    uint64_t (*next_wakeup) (void *ctx, uint32_t node, uint64_t now_us);
} netsim_service_t;

typedef enum {
    NETSIM_DOWN = 0,   //  not started, or crashed
    NETSIM_UP,
    NETSIM_FROZEN,   //  stopped: holds its input, runs nothing
} netsim_state_t;

//  `nodes` nodes, all DOWN, all links netsim_link_defaults (); `seed`
//  drives every random draw.  NULL on bad arguments or out of memory.
netsim_t *netsim_new (uint32_t nodes, uint64_t seed);
void netsim_destroy (netsim_t **self_p);

//  Register a service; returns its port (0, 1, ...) or -1.  At most 8.
int netsim_service (netsim_t *self, const netsim_service_t *svc, void *ctx);
//  Whether `node` hosts an instance on `port` (it must, to be handed
//  messages and ticks).  Hosting survives crash and restart.
void netsim_host (netsim_t *self, uint32_t node, int port, bool hosted);

//  The default link, and one directed pair's own (replaces the default
//  for a -> b).  The pointer is copied.
void netsim_set_link (netsim_t *self, const netsim_link_t *link);
int netsim_set_pair (netsim_t *self, uint32_t from, uint32_t to, const netsim_link_t *link);
//  The latency a message from `from` to `to` would get, when the link's
//  latency is fixed per pair; otherwise the mean.  For hosts that model
//  what a node knows of its links.
uint64_t netsim_latency_us (netsim_t *self, uint32_t from, uint32_t to);

//  Send `len` bytes (copied) from `from` to port `port` at `to`.
//  `wire_len` is the size on the wire (0: len), for serialisation time and
//  the counters.  Returns 0 when the message is on its way, -1 when it was
//  dropped at once (sender not up, partition, cut, lost datagram, no
//  memory); a message can also be dropped later (the receiver crashed,
//  the link was cut meanwhile).  Never blocks, whatever the receiver does.
int netsim_send (netsim_t *self, uint32_t from, uint32_t to, int port, const void *msg, size_t len,
                 size_t wire_len);

//  Node lifecycle and faults (the host creates and destroys the module
//  instances around these; persisted state is the host's to keep).
void netsim_start (netsim_t *self, uint32_t node);   //  DOWN -> UP; every hosted service is ticked now
void netsim_crash (netsim_t *self, uint32_t node);   //  -> DOWN; held input is lost
//  Freeze until `until_us` (NETSIM_NEVER: until netsim_thaw); the node
//  runs nothing and what arrives is held, then delivered in order.
void netsim_freeze (netsim_t *self, uint32_t node, uint64_t until_us);
void netsim_thaw (netsim_t *self, uint32_t node);
netsim_state_t netsim_state (netsim_t *self, uint32_t node);
//  Partition: nodes in different groups cannot reach each other (what is
//  in flight across is lost too).  All start in group 0.
void netsim_set_group (netsim_t *self, uint32_t node, uint32_t group);
uint32_t netsim_group (netsim_t *self, uint32_t node);
void netsim_heal (netsim_t *self);   //  everybody back in group 0, no cut left
//  Cut (or restore) the directed link from -> to.
int netsim_cut (netsim_t *self, uint32_t from, uint32_t to, bool cut);
//  Could a message from `from` reach `to` now (group and cut; not state)?
bool netsim_connected (netsim_t *self, uint32_t from, uint32_t to);

//  The host's input changed a service's timers (it called a module
//  outside handle/tick): ask its next_wakeup again.
void netsim_poke (netsim_t *self, uint32_t node, int port);

//  A host timer: fn (sim, arg, data) at `at_us` (not before now).
typedef void (netsim_timer_fn) (netsim_t *sim, void *arg, uint64_t data);
int netsim_at (netsim_t *self, uint64_t at_us, netsim_timer_fn *fn, void *arg, uint64_t data);
//  Called after every event (delivery, tick, timer, thaw).
typedef void (netsim_observer_fn) (netsim_t *sim, void *arg);
void netsim_observe (netsim_t *self, netsim_observer_fn *fn, void *arg);

//  Run every event due at or before `until_us`; the clock then reads
//  `until_us` (or the time of the event that called netsim_stop).
//  0, or -1 when stopped early.
int netsim_run_until (netsim_t *self, uint64_t until_us);
int netsim_run_for (netsim_t *self, uint64_t dt_us);
void netsim_stop (netsim_t *self);
uint64_t netsim_now (netsim_t *self);
//  The simulator's random stream, for hosts that want draws in event order.
uint64_t netsim_rand (netsim_t *self);

//  Counters (`node` = NETSIM_ALL: the whole network).
#define NETSIM_ALL UINT32_MAX
typedef struct {
    uint64_t sent, sent_bytes;   //  netsim_send calls from the node, wire bytes
    uint64_t delivered;          //  handed to a service at the node
    uint64_t lost;               //  transmissions lost (dropped, or resent later)
    uint64_t dropped;            //  never delivered: loss, partition, cut, receiver down
    uint64_t ticks, timers, events;
} netsim_stats_t;
void netsim_stats (netsim_t *self, uint32_t node, netsim_stats_t *out);
//  A hash of everything that happened so far (every delivery, drop, tick
//  and timer, with its time, nodes, port and size): equal for equal runs.
uint64_t netsim_trace_hash (netsim_t *self);

int netsim_test (bool verbose);

#endif
