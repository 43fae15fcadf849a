/*  =========================================================================
    gossip_beacon - when to broadcast a discovery beacon, as pure code.

    A box that beacons every second forever costs every other box on the
    LAN one frame a second: O(N) per box, O(N^2) airtime on Wi-Fi, for news
    that nobody needs once the mesh has formed.  This module decides when a
    beacon is worth its airtime, with the Trickle algorithm (RFC 6206):

      * an interval I starts at `fast_ms` and doubles at the end of every
        interval up to `quiet_ms` (a minute by default) while nothing
        changes; a beacon is due at a random point t in [I/2, I);
      * at t the beacon is sent only if fewer than `redundancy` beacons of
        our own mesh (from boxes we know alive) were heard in this interval:
        in a settled mesh about `redundancy` boxes beacon per `quiet_ms`,
        whatever N is, so each box sends a beacon every N minutes or so;
      * the interval falls back to `fast_ms` when the box starts (its first
        beacon leaves at once: a new box joins within a round trip), when
        the alive set changes (a join, a death, a leave: a partition may
        just have healed, or a mesh formed apart may be in reach) and when
        the box finds itself alone; alone, it beacons without suppression
        (nobody answers) and its interval stops doubling at `alone_ms`.

    Members answer a new box's beacon directly (node/agent.c), so a settled
    mesh needs no beacon of its own to admit one: quiet beacons only matter
    for two meshes that formed apart, which find each other within about
    `quiet_ms`.

    No socket, no clock, no global state: the agent calls tick with its
    monotonic clock and broadcasts when told; the selftest runs a hundred
    instances on a virtual clock in one broadcast domain.
    ========================================================================= */
#ifndef GOSSIP_BEACON_H_INCLUDED
#define GOSSIP_BEACON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gossip_beacon_t gossip_beacon_t;

typedef struct {
    uint32_t fast_ms;      //  first interval (start, change, alone); BEACON_INTERVAL_MS
    uint32_t quiet_ms;     //  longest interval in a settled mesh; BEACON_QUIET_MS
    uint32_t alone_ms;     //  longest interval while no peer is alive (0: 4 x fast_ms)
    uint32_t redundancy;   //  k: an interval with k beacons of our mesh heard stays silent
} gossip_beacon_cfg_t;

//  fast 500 ms, quiet 60 s, alone 2 s, redundancy 1.
void gossip_beacon_cfg_defaults (gossip_beacon_cfg_t *cfg);

//  NULL on bad settings (fast_ms 0, quiet_ms < fast_ms, redundancy 0) or
//  out of memory.  The first beacon is due at `now_ms`.
gossip_beacon_t *gossip_beacon_new (const gossip_beacon_cfg_t *cfg, uint64_t seed, uint64_t now_ms);
void gossip_beacon_destroy (gossip_beacon_t **self_p);

//  A beacon from a box we know alive in our own mesh was heard (counts
//  towards the suppression of ours in this interval).
void gossip_beacon_heard (gossip_beacon_t *self, uint64_t now_ms);
//  The view: `peers` boxes alive besides us; `changed` when the alive set
//  itself changed (join, death, leave).  A change, or becoming alone,
//  brings the interval back to fast_ms.
void gossip_beacon_view (gossip_beacon_t *self, size_t peers, bool changed, uint64_t now_ms);
//  Advance the schedule; true when a beacon must be broadcast now.
bool gossip_beacon_tick (gossip_beacon_t *self, uint64_t now_ms);
//  Earliest time tick () has work (>= now_ms).
uint64_t gossip_beacon_next_wakeup (gossip_beacon_t *self, uint64_t now_ms);

typedef struct {
    uint64_t sent;          //  beacons due and sent
    uint64_t suppressed;    //  beacons due but silent (enough of our mesh heard)
    uint64_t resets;        //  back to fast_ms (change, alone)
    uint64_t heard;         //  beacons of our mesh heard
    uint32_t interval_ms;   //  the current interval
} gossip_beacon_stats_t;
void gossip_beacon_stats (const gossip_beacon_t *self, gossip_beacon_stats_t *out);

int gossip_beacon_test (bool verbose);

#endif
