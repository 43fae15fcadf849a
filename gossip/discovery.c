/*  =========================================================================
    gossip_discovery - zbeacon wrapper (see discovery.h).
    ========================================================================= */
#include "gossip/discovery.h"
#include "common/log.h"

#include <string.h>

struct _gossip_discovery_t {
    zactor_t *beacon;
};

//  zbeacon sends our payload again every `interval` ms by itself.  We
//  re-publish a freshly sealed payload on our own timer instead, so the
//  actor's own repeat is pushed far out: a repeat of identical bytes would
//  arrive at every peer as a replay.
#define MW_BEACON_REPEAT_MS 3600000

gossip_discovery_t *
gossip_discovery_new (const char *iface, int port, char *addr_out, size_t addr_len)
{
    if (!iface || !*iface || port <= 0 || port > 65535)
        return NULL;
    gossip_discovery_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    //  zbeacon reads the interface from zsys at CONFIGURE time.
    zsys_set_interface (iface);
    self->beacon = zactor_new (zbeacon, NULL);
    if (!self->beacon) {
        free (self);
        return NULL;
    }
    zsock_send (self->beacon, "si", "CONFIGURE", port);
    char *hostname = zstr_recv (self->beacon);
    if (!hostname || !*hostname) {
        mw_error ("beacon_failed", "iface=%s reason=\"no broadcast address on interface\"", iface);
        zstr_free (&hostname);
        zactor_destroy (&self->beacon);
        free (self);
        return NULL;
    }
    snprintf (addr_out, addr_len, "%s", hostname);
    zstr_free (&hostname);
    //  Receive every beacon; filtering happens after authentication.
    zsock_send (self->beacon, "sb", "SUBSCRIBE", "", (size_t) 0);
    return self;
}

void
gossip_discovery_destroy (gossip_discovery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gossip_discovery_t *self = *self_p;
    if (self->beacon) {
        zstr_sendx (self->beacon, "SILENCE", NULL);
        zactor_destroy (&self->beacon);
    }
    free (self);
    *self_p = NULL;
}

zsock_t *
gossip_discovery_sock (gossip_discovery_t *self)
{
    return zactor_sock (self->beacon);
}

int
gossip_discovery_publish (gossip_discovery_t *self, const uint8_t *data, size_t len)
{
    if (len == 0 || len > 255)
        return -1;
    return zsock_send (self->beacon, "sbi", "PUBLISH", data, len, MW_BEACON_REPEAT_MS);
}

int
gossip_discovery_recv (gossip_discovery_t *self, char *ip, size_t iplen, uint8_t **data, size_t *len)
{
    zmsg_t *msg = zmsg_recv (self->beacon);
    if (!msg)
        return -1;
    int rc = -1;
    if (zmsg_size (msg) == 2) {
        char *from = zmsg_popstr (msg);
        zframe_t *payload = zmsg_pop (msg);
        if (from && payload && zframe_size (payload) > 0 && zframe_size (payload) <= 255) {
            snprintf (ip, iplen, "%s", from);
            *len = zframe_size (payload);
            *data = malloc (*len);
            if (*data) {
                memcpy (*data, zframe_data (payload), *len);
                rc = 0;
            }
        }
        zstr_free (&from);
        zframe_destroy (&payload);
    }
    zmsg_destroy (&msg);
    return rc;
}

int
gossip_discovery_test (bool verbose)
{
    //  A beacon can only be exercised for real inside a test namespace
    //  (tests/mesh); here we check that a missing interface fails cleanly
    //  instead of broadcasting anywhere.
    char addr[64] = "";
    gossip_discovery_t *d = gossip_discovery_new ("mw-no-such-if0", 5670, addr, sizeof addr);
    if (d) {
        gossip_discovery_destroy (&d);
        return -1;
    }
    if (gossip_discovery_new ("", 5670, addr, sizeof addr) != NULL)
        return -1;
    if (verbose)
        printf ("discovery: missing interface refused\n");
    return 0;
}
