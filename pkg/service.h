/*  =========================================================================
    pkg_service - the agent's package service: the package plane, the
    catalog's mesh side, and the swarm that moves pieces.

    On PKG_PORT (a transport of its own: its own ROUTER, connections,
    one-piece queues, replay window; sealed with the cluster key), every
    box:

      * tells its peers every 2 s (and at once on a change) which packages
        it knows, holds, partly holds or fetches (PKG_INDEX);
      * asks a peer for the signed parts of a package it does not know
        (PKG_META_REQ), and stores them only if pkg_catalog_accept ()
        says so: signature by a TRUSTED_KEYS key, seq not below what was
        seen for the line, not expired, manifest, config and piece list
        matching the signed digests; a refusal is an event (pkg.refused)
        and changes nothing;
      * fetches what the catalog wants (a `meshwatch pkg fetch`, kept
        across restarts) with pkg_swarm's rules: each piece hashed on
        arrival against the signed list, written at its offset, served to
        others at once (PKG_HAVE to the peers fetching it); a bad piece is
        dropped, counted, and its sender banned from this download
        (pkg.bad_piece); the bitmap is saved (after an fdatasync of the
        data) on a worker thread every 250 ms, and a restart resumes from
        it (pieces written but not yet saved are found again by hashing
        the data file's allocated ranges);
      * serves pieces it holds: one queued request per peer, a few
        uploads at once, super-seeding while it holds everything, a token
        bucket of PKG_MAX_MBPS;
      * finishes a complete download on the worker thread (every blob's
        digest, unpacking) - nothing slow runs on the loop.

    Test hook: MW_TEST_PKG_CORRUPT=1 in the agent's environment
    makes it serve every piece with one byte flipped (logged loudly at
    start); tests/pkg/corrupt_ns.sh uses it.
    ========================================================================= */
#ifndef PKG_SERVICE_H_INCLUDED
#define PKG_SERVICE_H_INCLUDED

#include "common/prom.h"
#include "gossip/crypto.h"
#include "gossip/guard.h"
#include "gossip/member.h"
#include "node/control.h"
#include "node/events.h"
#include "node/loop.h"

#include <json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _pkg_service_t pkg_service_t;

typedef struct {
    const char *state_dir;
    const char *trusted_keys;   //  TRUSTED_KEYS: comma-separated .pub files
    const gossip_identity_t *ident;
    gossip_keyring_t *keys;   //  the cluster keyring (borrowed)
    uint64_t session;
    uint64_t max_clock_skew_ms;
    const char *bind_endpoint;   //  tcp://IP:PKG_PORT
    double max_mbps;             //  PKG_MAX_MBPS, 0 = no cap
    uint32_t max_packages;       //  PKG_MAX_PACKAGES
    node_events_t *events;       //  borrowed; may be NULL
    gossip_guard_t *guard;       //  the agent's connection caps (borrowed); may be NULL
    uint32_t out_max;            //  outbound connections held at once (0: the plane's default)
} pkg_service_opts_t;

//  NULL with the reason in err (a trusted key that does not load, the port
//  in use, the catalog).
pkg_service_t *pkg_service_new (const pkg_service_opts_t *opts, char *err, size_t errlen);
void pkg_service_destroy (pkg_service_t **self_p);

//  The loop service (poll items, readable, tick, next wakeup).
void pkg_service_service (pkg_service_t *self, node_service_t *svc);
//  The peers: alive members whose digest names a package port.
void pkg_service_update_peers (pkg_service_t *self, gossip_member_t *members, uint64_t now_ms);

//  /metrics families, and the "packages" object of `status`.
void pkg_service_prometheus (pkg_service_t *self, mw_prom_t *out);
json_object *pkg_service_status_json (pkg_service_t *self);
//  Control command "packages": the live view (per package: state, pieces,
//  sources, rates; per peer: what it holds).
int pkg_service_control_register (pkg_service_t *self, node_control_t *ctl);

//  PKG_INDEX's packed entries (digest 32, seq 8 big-endian, flags 1):
//  calls fn for each; -1 (and no call) when the length is not a whole
//  number of entries or beyond MW_PKG_INDEX_MAX of them.
typedef void (pkg_index_entry_fn) (void *ctx, const uint8_t digest[32], uint64_t seq, uint8_t flags);
int pkg_service_index_parse (const uint8_t *data, size_t len, pkg_index_entry_fn *fn, void *ctx);

int pkg_service_test (bool verbose);

#endif
