/*  =========================================================================
    gossip_discovery - zero-config discovery on the LAN with czmq's zbeacon.

    Each agent broadcasts a sealed BEACON (cluster, node id, mesh endpoint)
    on MESH_INTERFACE every BEACON_INTERVAL_MS and listens for others.  The
    payload is re-sealed with a fresh sequence number on every period, so a
    captured beacon replayed later is rejected by the replay window like any
    other packet.  zbeacon only ever sends on the one interface named here;
    it refuses loopback, which is why loopback meshes use JOIN seeds.
    ========================================================================= */
#ifndef GOSSIP_DISCOVERY_H_INCLUDED
#define GOSSIP_DISCOVERY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gossip_discovery_t gossip_discovery_t;

//  Start a beacon on `iface`, UDP `port`.  On success writes the interface's
//  IPv4 address into addr_out.  Returns NULL (and logs why) when the
//  interface does not exist or has no broadcast address.
gossip_discovery_t *gossip_discovery_new (const char *iface, int port, char *addr_out, size_t addr_len);
void gossip_discovery_destroy (gossip_discovery_t **self_p);
//  The socket to poll for incoming beacons.
zsock_t *gossip_discovery_sock (gossip_discovery_t *self);
//  Publish a new sealed payload (≤ 255 bytes); sent at once.  0/-1.
int gossip_discovery_publish (gossip_discovery_t *self, const uint8_t *data, size_t len);
//  Read one beacon: sender IP and payload (malloc'ed).  0/-1.
int gossip_discovery_recv (gossip_discovery_t *self, char *ip, size_t iplen, uint8_t **data, size_t *len);

int gossip_discovery_test (bool verbose);

#endif
