/*  =========================================================================
    node_curve - CURVE (ZeroMQ's public-key encryption and authentication)
    for the read surfaces that a remote VMS may subscribe to: the event
    stream.  The mesh itself does not use it (its own envelope covers UDP
    beacons too, see docs/SECURITY.md); a VMS is not a mesh member and must
    not hold the cluster key, so it gets a key pair of its own and the box
    an allow-list of those public keys.

    Server side: the box's key pair lives in a certificate file (default
    STATE_DIR/events.cert, created on first start: public half in the file,
    secret half in FILE_secret, mode 0600, written to temporary names and
    renamed so that a kill -9 never leaves half a key), and a ZAP handler
    (czmq's zauth) admits only the client public keys listed in
    EVENTS_CURVE_CLIENTS.  Anyone else's connection fails its handshake and
    never receives a byte of the stream.

    Client side (meshwatch events, the analysis server's EVENTS_SUB): the
    server's public certificate (or its Z85 key) and the client's own
    certificate with its secret half.
    ========================================================================= */
#ifndef NODE_CURVE_H_INCLUDED
#define NODE_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _node_curve_t node_curve_t;

//  One per process (the ZAP handler owns the process's ZAP endpoint).
//  Load (or create) the server certificate at `cert_path`, copy the public
//  certificates `clients[0..n)` into `allow_dir` (emptied first; created
//  0700) and start a ZAP handler that admits them.  NULL with a reason in
//  err on failure (a client file missing or not a certificate, ...).
node_curve_t *node_curve_server_new (const char *cert_path, const char *const *clients, size_t n_clients,
                                     const char *allow_dir, char *err, size_t errlen);
void node_curve_destroy (node_curve_t **self_p);
//  Make `sock` a CURVE server under our ZAP domain (before bind).  0/-1.
int node_curve_server_apply (node_curve_t *self, zsock_t *sock);
//  The server's public key, Z85 (40 characters).
const char *node_curve_public_txt (node_curve_t *self);

//  Make `sock` a CURVE client (before connect): `server_key` is a Z85
//  public key or a certificate file, `client_cert` a certificate file with
//  its secret half (FILE_secret).  0, or -1 with a reason in err.
int node_curve_client_apply (zsock_t *sock, const char *server_key, const char *client_cert, char *err,
                             size_t errlen);

//  The event stream as the config asks (agent and analysis server alike):
//  EVENTS_BIND=loopback (default) or mesh (on `mesh_ip`, and then only with
//  EVENTS_CURVE_CLIENTS: a CURVE server whose certificate is
//  EVENTS_CURVE_CERT or STATE_DIR/events.cert).  The PUB's connections are
//  capped by `guard` (may be NULL).  *curve gets the CURVE server (destroy
//  it after the stream).  NULL with a reason in err.
struct _mw_config_t;
struct _node_events_t;
struct _gossip_guard_t;
struct _node_events_t *node_curve_open_events (struct _mw_config_t *cfg, const char *mesh_ip, int port,
                                               struct _gossip_guard_t *guard, node_curve_t **curve, char *err,
                                               size_t errlen);

//  Write a new key pair: `path` (public) and path_secret (0600).  0/-1.
int node_curve_keygen (const char *path, char *err, size_t errlen);

int node_curve_test (bool verbose);

#endif
