/*  =========================================================================
    pkg_swarm - the decisions of peer-to-peer distribution, as pure code
    (no sockets, no clock, no files): which piece to ask for, from whom,
    when to give up on a request, which uploads to serve first, how fast.

    BitTorrent's proven rules, for a trusted LAN where every box serves:

      requester (pkg_swarm_t, one per package being fetched)
        * a random first piece (a box quickly has something to trade),
          then rarest first: the piece fewest known holders have, ties
          broken at random so that boxes spread over different pieces;
        * several peers at once, at most `max_inflight_peer` requests in
          flight to each and `max_inflight` in all (memory: one piece
          each);
        * for a piece held by several peers: the one with fewest of our
          requests in flight, then one still fetching itself rather than
          one that holds everything (a publisher's upload is the scarcest:
          it should carry each piece about once), then the fastest;
        * endgame: when every missing piece is in flight, a second request
          for the oldest ones goes to another holder; the first copy in
          wins and the other is cancelled;
        * a request unanswered for `request_timeout_ms` goes back to the
          pool and the peer gets one request at a time; two timeouts in a
          row and it is avoided for `avoid_ms` (slow retrieval);
        * a piece whose hash is wrong is discarded and its sender avoided
          for the rest of the download (one strike: the data plane is
          authenticated, so a bad piece is the sender's, not the wire's);
        * a "busy" answer keeps a peer aside for `busy_ms`; "not held"
          clears that piece from what we believe it holds.

      uploader (pkg_upq_t, one per box): a few uploads at once and a
        short queue of requests (per peer and in all; a request beyond is
        answered "busy" at once, so that its requester turns to an idle
        uploader instead of waiting).  Next served: the piece this box has
        uploaded least often, then the oldest request.  A box that holds
        every piece refuses a piece it already uploaded more often than
        another (pkg_upq_seed_refuses: super-seeding's effect without its
        protocol), so a publisher sends each piece about once.

      pkg_rate_t: a token bucket (PKG_MAX_MBPS).

    Peers are named by the caller's handles (small integers).  Times are
    the caller's monotonic milliseconds.
    ========================================================================= */
#ifndef PKG_SWARM_H_INCLUDED
#define PKG_SWARM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKG_SWARM_PEERS_MAX 64   //  holders considered per download (bounded)

typedef struct {
    uint32_t max_inflight_peer;    //  requests in flight to one peer (1)
    uint32_t max_inflight;         //  in all (8: as many as a box uploads at once)
    uint32_t request_timeout_ms;   //  give a request up after this (30000)
    uint32_t busy_ms;              //  a peer that answered busy rests this long (20)
    uint32_t avoid_ms;             //  a peer that timed out twice rests this long (30000)
    uint32_t endgame_copies;       //  requests for one piece at once in the endgame (2)
} pkg_swarm_cfg_t;

void pkg_swarm_cfg_defaults (pkg_swarm_cfg_t *cfg);

typedef struct {
    uint32_t peer;
    uint32_t piece;
} pkg_swarm_req_t;

typedef struct {
    uint64_t requests, received, bad, timeouts, busy, not_held, cancelled, duplicates;
} pkg_swarm_stats_t;

typedef struct _pkg_swarm_t pkg_swarm_t;

//  A download of `pieces` pieces; `have` (may be NULL) is what is already
//  here (a resumed download).  NULL on bad arguments or no memory.
pkg_swarm_t *pkg_swarm_new (const pkg_swarm_cfg_t *cfg, uint32_t pieces, const uint8_t *have, uint64_t seed);
void pkg_swarm_destroy (pkg_swarm_t **self_p);

//  What a peer holds: its whole bitmap (complete: it holds everything,
//  bitmap ignored), or one more piece.  A new peer is added (up to
//  PKG_SWARM_PEERS_MAX; -1 beyond).  0/-1.
int pkg_swarm_peer_bitmap (pkg_swarm_t *self, uint32_t peer, const uint8_t *bitmap, bool complete);
int pkg_swarm_peer_has (pkg_swarm_t *self, uint32_t peer, uint32_t piece);
//  The peer is gone (dead, left): its requests go back to the pool; they
//  are returned in cancel (at most max) so the caller can forget them.
void pkg_swarm_peer_gone (pkg_swarm_t *self, uint32_t peer);
bool pkg_swarm_peer_avoided (pkg_swarm_t *self, uint32_t peer, uint64_t now_ms);
//  Peers known to hold at least one piece (sources).
uint32_t pkg_swarm_sources (pkg_swarm_t *self);

//  The requests to send now (at most max).  They count as in flight.
size_t pkg_swarm_next (pkg_swarm_t *self, uint64_t now_ms, pkg_swarm_req_t *out, size_t max);

//  A piece arrived from `peer` and was hashed: ok or not.  Returns
//  PKG_SWARM_NEW (ok, we lacked it: write it), PKG_SWARM_DUP (ok, but we
//  have it already or never asked: drop it), PKG_SWARM_BAD (the hash was
//  wrong: drop it, the peer is avoided).  On NEW, the other copies in
//  flight are returned in cancel (at most max_cancel; *n_cancel set).
typedef enum { PKG_SWARM_NEW = 0, PKG_SWARM_DUP, PKG_SWARM_BAD } pkg_swarm_got_t;
pkg_swarm_got_t pkg_swarm_got (pkg_swarm_t *self, uint32_t peer, uint32_t piece, bool ok, uint32_t bytes,
                               uint64_t now_ms, pkg_swarm_req_t *cancel, size_t max_cancel, size_t *n_cancel);
//  Was piece requested from peer (in flight)?  The service drops pieces
//  nobody asked for before hashing them.
bool pkg_swarm_requested (pkg_swarm_t *self, uint32_t peer, uint32_t piece);
//  The peer refused a request: busy (try later) or it does not hold it.
void pkg_swarm_refused (pkg_swarm_t *self, uint32_t peer, uint32_t piece, bool busy, uint64_t now_ms);
//  A piece held before is gone (verify found it damaged): fetch it again.
void pkg_swarm_lost (pkg_swarm_t *self, uint32_t piece);
//  Timeouts: requests given up now are returned (the caller may cancel
//  them at the peer).  Returns how many.
size_t pkg_swarm_tick (pkg_swarm_t *self, uint64_t now_ms, pkg_swarm_req_t *expired, size_t max);
//  When tick has work next (a request's deadline, a peer's rest ending);
//  UINT64_MAX if none.
uint64_t pkg_swarm_next_wakeup (pkg_swarm_t *self, uint64_t now_ms);

bool pkg_swarm_done (pkg_swarm_t *self);
uint32_t pkg_swarm_have (pkg_swarm_t *self);
const uint8_t *pkg_swarm_bitmap (pkg_swarm_t *self);
uint32_t pkg_swarm_inflight (pkg_swarm_t *self);
const pkg_swarm_stats_t *pkg_swarm_stats (pkg_swarm_t *self);

// --------------------------------------------------------------------------
// The upload queue

typedef struct {
    uint32_t peer, pkg, piece;
    uint32_t prio;   //  lower first: times this box uploaded the piece
    uint64_t at_ms;
} pkg_upq_item_t;

typedef struct _pkg_upq_t pkg_upq_t;

pkg_upq_t *pkg_upq_new (uint32_t per_peer, uint32_t total);
void pkg_upq_destroy (pkg_upq_t **self_p);
//  0 queued, 1 already queued (ignored), -1 full (answer busy).
int pkg_upq_push (pkg_upq_t *self, const pkg_upq_item_t *item);
//  Remove a request (cancel).  True if it was queued.
bool pkg_upq_cancel (pkg_upq_t *self, uint32_t peer, uint32_t pkg, uint32_t piece);
//  The next request to serve among those whose peer `ready` says can take
//  one now (NULL: all); 1 with *out, 0 if none.
typedef bool (pkg_upq_ready_fn) (void *ctx, uint32_t peer);
int pkg_upq_pop (pkg_upq_t *self, pkg_upq_ready_fn *ready, void *ctx, pkg_upq_item_t *out);
void pkg_upq_drop_peer (pkg_upq_t *self, uint32_t peer);
void pkg_upq_drop_pkg (pkg_upq_t *self, uint32_t pkg);
size_t pkg_upq_size (pkg_upq_t *self);
//  Super-seeding's rule for a box that holds every piece: refuse (as "not
//  held") a request for a piece it has uploaded more often than another
//  one, so that it sends each piece once before any twice and the others
//  fetch the repeats from each other.  `sent` counts its uploads per piece.
bool pkg_upq_seed_refuses (const uint32_t *sent, uint32_t pieces, uint32_t piece);
size_t pkg_upq_peer_size (pkg_upq_t *self, uint32_t peer);

// --------------------------------------------------------------------------
// A token bucket

typedef struct {
    double bytes_per_ms;   //  0: unlimited
    double tokens, burst;
    uint64_t last_ms;
} pkg_rate_t;

//  mbps: megabits per second (0 = unlimited); burst in bytes.
void pkg_rate_init (pkg_rate_t *r, double mbps, double burst, uint64_t now_ms);
//  May a send start now?  (Tokens may go negative: a piece is sent whole
//  and paid for after.)
bool pkg_rate_ready (pkg_rate_t *r, uint64_t now_ms);
void pkg_rate_spend (pkg_rate_t *r, size_t bytes);
//  When pkg_rate_ready turns true (now if it is).
uint64_t pkg_rate_when (pkg_rate_t *r, uint64_t now_ms);

int pkg_swarm_test (bool verbose);

#endif
