/*  =========================================================================
    gossip_transport - mesh messages over ZeroMQ (see transport.h).
    ========================================================================= */
#include "gossip/transport.h"
#include "common/log.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

typedef struct {
    zsock_t *dealer;
    uint64_t last_used_ms;
} peer_conn_t;

struct _gossip_transport_t {
    zsock_t *router;
    zhashx_t *conns;                 //  addr -> peer_conn_t
    const gossip_identity_t *ident;
    gossip_keyring_t *keys;
    gossip_replay_t *replay;
    uint64_t session;
    uint64_t seq;
    gossip_transport_stats_t stats;
};

//  A peer's DEALER queue: enough for a burst of gossip and one full-state
//  transfer, small enough that a dead peer costs little memory.
#define MW_PEER_HWM 128
//  Largest frame accepted on the ROUTER; libzmq refuses bigger ones before
//  they are read into memory (ZMQ_MAXMSGSIZE).
#define MW_ENV_FRAME_MAX (MW_MSG_MAX + MW_ENVELOPE_OVERHEAD)

static void
s_conn_destroy (void **item)
{
    peer_conn_t *c = (peer_conn_t *) *item;
    if (c) {
        zsock_destroy (&c->dealer);
        free (c);
        *item = NULL;
    }
}

gossip_transport_t *
gossip_transport_new (const char *bind_endpoint, const gossip_identity_t *ident,
                      gossip_keyring_t *keys, gossip_replay_t *replay, uint64_t session)
{
    if (!bind_endpoint || !ident || !keys || !replay)
        return NULL;
    gossip_transport_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ident = ident;
    self->keys = keys;
    self->replay = replay;
    self->session = session;
    self->router = zsock_new (ZMQ_ROUTER);
    self->conns = zhashx_new ();
    if (!self->router || !self->conns) {
        gossip_transport_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->conns, s_conn_destroy);
    zsock_set_maxmsgsize (self->router, (int64_t) MW_ENV_FRAME_MAX);
    zsock_set_linger (self->router, 0);
    zsock_set_rcvhwm (self->router, 4096);
    if (strchr (bind_endpoint, '['))
        zsock_set_ipv6 (self->router, 1);
    //  Inbound connections from peers that vanished (cut link, partition)
    //  would otherwise stay open for ever, one fd each time.
    //  Slow on purpose: this is only fd hygiene, and every ping is a wakeup
    //  per connection (a hundred of them per agent at N = 100).
    zsock_set_heartbeat_ivl (self->router, 10000);
    zsock_set_heartbeat_timeout (self->router, 30000);
    if (zsock_bind (self->router, "%s", bind_endpoint) < 0) {
        mw_error ("mesh_bind_failed", "endpoint=%s reason=\"%s\"", bind_endpoint, zmq_strerror (errno));
        gossip_transport_destroy (&self);
        return NULL;
    }
    return self;
}

void
gossip_transport_destroy (gossip_transport_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gossip_transport_t *self = *self_p;
    zhashx_destroy (&self->conns);
    zsock_destroy (&self->router);
    free (self);
    *self_p = NULL;
}

zsock_t *
gossip_transport_sock (gossip_transport_t *self)
{
    return self->router;
}

static peer_conn_t *
s_conn (gossip_transport_t *self, const char *addr)
{
    peer_conn_t *c = (peer_conn_t *) zhashx_lookup (self->conns, addr);
    if (c)
        return c;
    if (strncmp (addr, "tcp://", 6) != 0 || strlen (addr) > MW_ADDR_MAX)
        return NULL;
    c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->dealer = zsock_new (ZMQ_DEALER);
    if (!c->dealer) {
        free (c);
        return NULL;
    }
    zsock_set_sndhwm (c->dealer, MW_PEER_HWM);
    zsock_set_linger (c->dealer, 0);
    zsock_set_sndtimeo (c->dealer, 0);
    //  Heartbeats notice a dead TCP path (cut link, frozen peer) and make
    //  libzmq reconnect, so that traffic resumes promptly when the path heals.
    //  Failure *detection* never relies on this: SWIM's own timeouts do it.
    zsock_set_heartbeat_ivl (c->dealer, 2000);
    zsock_set_heartbeat_timeout (c->dealer, 6000);
    zsock_set_reconnect_ivl (c->dealer, 100);
    zsock_set_reconnect_ivl_max (c->dealer, 1000);
    //  A connect stuck on a path that was cut (SYNs into the void) is
    //  abandoned after a second and retried, so traffic resumes within about
    //  a second of the path healing instead of at TCP's next SYN back-off.
    zsock_set_connect_timeout (c->dealer, 1000);
    if (strchr (addr, '['))
        zsock_set_ipv6 (c->dealer, 1);
    if (zsock_connect (c->dealer, "%s", addr) < 0) {
        zsock_destroy (&c->dealer);
        free (c);
        return NULL;
    }
    zhashx_insert (self->conns, addr, c);
    self->stats.peers_open = zhashx_size (self->conns);
    return c;
}

static void
s_fill_header (gossip_transport_t *self, mw_msg_t *msg)
{
    msg->sender = self->ident->id;
    msg->session = self->session;
    msg->seq = ++self->seq;
    msg->ts_ms = mw_wall_ms ();
}

int
gossip_transport_seal (gossip_transport_t *self, mw_msg_t *msg, uint8_t **out, size_t *len)
{
    s_fill_header (self, msg);
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc = gossip_wire_encode (msg, &plain, &plain_len);
    if (rc != 0) {
        mw_warn ("encode_failed", "type=%s reason=\"%s\"", gossip_wire_type_name (msg->type),
                 gossip_wire_strerror (rc));
        return -1;
    }
    rc = gossip_crypto_seal (self->keys, plain, plain_len, out, len);
    free (plain);
    return rc == 0 ? 0 : -1;
}

int
gossip_transport_send (gossip_transport_t *self, const char *addr, mw_msg_t *msg)
{
    uint8_t *sealed = NULL;
    size_t len = 0;
    if (gossip_transport_seal (self, msg, &sealed, &len) != 0) {
        self->stats.send_dropped++;
        return -1;
    }
    peer_conn_t *c = s_conn (self, addr);
    int rc = -1;
    if (c) {
        void *h = zsock_resolve (c->dealer);
        if (zmq_send (h, sealed, len, ZMQ_DONTWAIT) == (int) len) {
            rc = 0;
            c->last_used_ms = mw_now_ms ();
            self->stats.msgs_out++;
            self->stats.bytes_out += len;
        }
    }
    if (rc != 0)
        self->stats.send_dropped++;
    free (sealed);
    return rc;
}

//  The gate every inbound packet passes (mesh or beacon).
static int
s_gate (gossip_transport_t *self, const uint8_t *data, size_t len, mw_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    if (len == 0 || len > MW_ENV_FRAME_MAX) {
        self->stats.rejected[MW_REJ_SIZE]++;
        return 0;
    }
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc = gossip_crypto_open (self->keys, data, len, &plain, &plain_len);
    if (rc != 0) {
        gossip_reject_t r = rc == MW_CRYPTO_EKEY    ? MW_REJ_OTHER_CLUSTER
                            : rc == MW_CRYPTO_EAUTH ? MW_REJ_AUTH
                            : rc == MW_CRYPTO_ETOOBIG ? MW_REJ_SIZE
                                                    : MW_REJ_ENVELOPE;
        self->stats.rejected[r]++;
        mw_debug ("packet_rejected", "reason=%s", gossip_transport_reject_name (r));
        return 0;
    }
    rc = gossip_wire_decode (plain, plain_len, msg);
    free (plain);
    if (rc != 0) {
        gossip_wire_msg_clear (msg);
        self->stats.rejected[MW_REJ_MALFORMED]++;
        mw_info ("packet_rejected", "reason=malformed detail=\"%s\"", gossip_wire_strerror (rc));
        return 0;
    }
    if (gossip_wire_id_eq (&msg->sender, &self->ident->id)) {
        //  Our own packet (a beacon heard back, or a peer's stale view of
        //  our address): not an attack, not worth a counter.
        gossip_wire_msg_clear (msg);
        return 0;
    }
    rc = gossip_replay_check (self->replay, &msg->sender, msg->session, msg->seq, msg->ts_ms,
                              mw_wall_ms ());
    if (rc != MW_REPLAY_OK) {
        gossip_reject_t r = rc == MW_REPLAY_ESTALE  ? MW_REJ_STALE
                            : rc == MW_REPLAY_ECLOCK ? MW_REJ_CLOCK
                                                     : MW_REJ_REPLAY;
        self->stats.rejected[r]++;
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&msg->sender, hex);
        mw_info ("packet_rejected", "reason=%s sender=%s seq=%llu", gossip_transport_reject_name (r),
                 hex, (unsigned long long) msg->seq);
        gossip_wire_msg_clear (msg);
        return 0;
    }
    return 1;
}

int
gossip_transport_recv (gossip_transport_t *self, mw_msg_t *msg)
{
    //  ROUTER gives [routing id][payload]; anything else is malformed.
    zmsg_t *zm = zmsg_recv_nowait (self->router);
    if (!zm)
        return -1;
    int rc = 0;
    if (zmsg_size (zm) != 2) {
        self->stats.rejected[MW_REJ_SIZE]++;
        memset (msg, 0, sizeof *msg);
    }
    else {
        zframe_t *id = zmsg_pop (zm);
        zframe_t *payload = zmsg_pop (zm);
        self->stats.bytes_in += zframe_size (payload);
        self->stats.msgs_in++;
        rc = s_gate (self, zframe_data (payload), zframe_size (payload), msg);
        zframe_destroy (&id);
        zframe_destroy (&payload);
    }
    zmsg_destroy (&zm);
    return rc;
}

int
gossip_transport_open_beacon (gossip_transport_t *self, const uint8_t *data, size_t len,
                              mw_msg_t *msg)
{
    self->stats.beacons_in++;
    uint64_t before = 0;
    for (int i = 0; i < MW_REJ_COUNT; i++)
        before += self->stats.rejected[i];
    int rc = s_gate (self, data, len, msg);
    if (rc == 1 && msg->type != MW_MSG_BEACON) {
        //  A valid mesh message is not a beacon: someone is replaying
        //  captured TCP traffic over UDP.
        self->stats.rejected[MW_REJ_MALFORMED]++;
        gossip_wire_msg_clear (msg);
        rc = 0;
    }
    uint64_t after = 0;
    for (int i = 0; i < MW_REJ_COUNT; i++)
        after += self->stats.rejected[i];
    if (after > before)
        self->stats.beacons_rejected++;
    return rc;
}

void
gossip_transport_forget_addr (gossip_transport_t *self, const char *addr)
{
    zhashx_delete (self->conns, addr);
    self->stats.peers_open = zhashx_size (self->conns);
}

void
gossip_transport_prune (gossip_transport_t *self, uint64_t now_ms, uint64_t idle_ms)
{
    zlistx_t *keys = zhashx_keys (self->conns);
    if (!keys)
        return;
    for (const char *k = (const char *) zlistx_first (keys); k; k = (const char *) zlistx_next (keys)) {
        peer_conn_t *c = (peer_conn_t *) zhashx_lookup (self->conns, k);
        if (c && now_ms > c->last_used_ms + idle_ms)
            zhashx_delete (self->conns, k);
    }
    zlistx_destroy (&keys);
    self->stats.peers_open = zhashx_size (self->conns);
}

void
gossip_transport_set_linger (gossip_transport_t *self, int linger_ms)
{
    for (peer_conn_t *c = (peer_conn_t *) zhashx_first (self->conns); c;
         c = (peer_conn_t *) zhashx_next (self->conns))
        zsock_set_linger (c->dealer, linger_ms);
}

const gossip_transport_stats_t *
gossip_transport_stats (gossip_transport_t *self)
{
    return &self->stats;
}

const char *
gossip_transport_reject_name (gossip_reject_t r)
{
    static const char *names[] = {"size", "envelope", "other_cluster", "auth",
                                  "malformed", "replay", "stale", "clock"};
    return (unsigned) r < MW_REJ_COUNT ? names[r] : "unknown";
}

//  --------------------------------------------------------------------------
//  Selftest: two transports on loopback exchange a message; a forged, a
//  replayed and a foreign-key packet are each rejected and counted.

static int
s_recv_one (gossip_transport_t *t, mw_msg_t *msg, int timeout_ms)
{
    zpoller_t *p = zpoller_new (gossip_transport_sock (t), NULL);
    void *which = zpoller_wait (p, timeout_ms);
    zpoller_destroy (&p);
    if (!which)
        return -1;
    return gossip_transport_recv (t, msg);
}

int
gossip_transport_test (bool verbose)
{
    char dir_a[] = "/tmp/mw-tr-a-XXXXXX", dir_b[] = "/tmp/mw-tr-b-XXXXXX";
    if (!mkdtemp (dir_a) || !mkdtemp (dir_b))
        return -1;
    gossip_identity_t ia, ib;
    char err[256];
    if (gossip_identity_load (dir_a, &ia, err, sizeof err) || gossip_identity_load (dir_b, &ib, err, sizeof err))
        return -1;
    char key[64], other[64];
    gossip_key_generate (key);
    gossip_key_generate (other);
    gossip_keyring_t *ka = gossip_keyring_new (key), *kb = gossip_keyring_new (key);
    gossip_keyring_t *kx = gossip_keyring_new (other);
    gossip_replay_t *ra = gossip_replay_new (60000), *rb = gossip_replay_new (60000);
    int port = 20000 + (int) (getpid () % 20000);
    char ep_b[64];
    snprintf (ep_b, sizeof ep_b, "tcp://127.0.0.1:%d", port);
    gossip_transport_t *a = gossip_transport_new ("tcp://127.0.0.1:*", &ia, ka, ra, mw_wall_ms ());
    gossip_transport_t *b = gossip_transport_new (ep_b, &ib, kb, rb, mw_wall_ms ());
    gossip_transport_t *x = gossip_transport_new ("tcp://127.0.0.1:*", &ia, kx, ra, mw_wall_ms ());
    int ok = a && b && x;
    mw_msg_t m = {0}, got = {0};
    if (ok) {
        m.type = MW_MSG_PING;
        m.probe = 7;
        snprintf (m.addr, sizeof m.addr, "tcp://127.0.0.1:1");
        ok = gossip_transport_send (a, ep_b, &m) == 0;
        ok = ok && s_recv_one (b, &got, 2000) == 1 && got.type == MW_MSG_PING && got.probe == 7
             && gossip_wire_id_eq (&got.sender, &ia.id);
        gossip_wire_msg_clear (&got);
    }
    //  Replay: seal once, send the same bytes twice through a raw DEALER.
    zsock_t *raw = zsock_new_dealer (ep_b);
    uint8_t *sealed = NULL;
    size_t len = 0;
    if (ok && raw && gossip_transport_seal (a, &m, &sealed, &len) == 0) {
        zmq_send (zsock_resolve (raw), sealed, len, 0);
        ok = ok && s_recv_one (b, &got, 2000) == 1;
        gossip_wire_msg_clear (&got);
        zmq_send (zsock_resolve (raw), sealed, len, 0);
        ok = ok && s_recv_one (b, &got, 2000) == 0
             && gossip_transport_stats (b)->rejected[MW_REJ_REPLAY] == 1;
        //  Forgery: flip one ciphertext bit.
        sealed[len - 5] ^= 1;
        zmq_send (zsock_resolve (raw), sealed, len, 0);
        ok = ok && s_recv_one (b, &got, 2000) == 0 && gossip_transport_stats (b)->rejected[MW_REJ_AUTH] == 1;
        //  Garbage.
        zmq_send (zsock_resolve (raw), "hello", 5, 0);
        ok = ok && s_recv_one (b, &got, 2000) == 0
             && gossip_transport_stats (b)->rejected[MW_REJ_ENVELOPE] == 1;
    }
    free (sealed);
    //  Another cluster's key.
    if (ok) {
        ok = gossip_transport_send (x, ep_b, &m) == 0 && s_recv_one (b, &got, 2000) == 0
             && gossip_transport_stats (b)->rejected[MW_REJ_OTHER_CLUSTER] == 1;
    }
    if (verbose)
        printf ("transport: ok=%d in=%llu\n", ok, (unsigned long long) gossip_transport_stats (b)->msgs_in);
    zsock_destroy (&raw);
    gossip_transport_destroy (&a);
    gossip_transport_destroy (&b);
    gossip_transport_destroy (&x);
    gossip_keyring_destroy (&ka);
    gossip_keyring_destroy (&kb);
    gossip_keyring_destroy (&kx);
    gossip_replay_destroy (&ra);
    gossip_replay_destroy (&rb);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s %s", dir_a, dir_b);
    if (system (cmd) != 0)
        ok = 0;
    return ok ? 0 : -1;
}
