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
    zhashx_t *conns;   //  addr -> peer_conn_t
    const gossip_identity_t *ident;
    gossip_keyring_t *keys;
    gossip_replay_t *replay;
    uint64_t session;
    uint64_t seq;
    gossip_transport_opts_t opts;
    size_t frame_max;   //  opts.max_plain + envelope: the ROUTER's limit
    gossip_transport_stats_t stats;
};

void
gossip_transport_opts_defaults (gossip_transport_opts_t *opts)
{
    //  A peer's DEALER queue: enough for a burst of gossip and one
    //  full-state transfer, small enough that a dead peer costs little.
    opts->max_plain = MW_MSG_MAX;
    opts->peer_hwm = 128;
    opts->router_hwm = 4096;
    opts->data_plane = false;
    opts->pkg_plane = false;
    opts->sndbuf = 0;
    opts->tos = 0;
}

void
gossip_transport_opts_data (gossip_transport_opts_t *opts)
{
    //  Short queues on purpose: 32 queued frames of up to 4 MiB are already
    //  128 MiB per peer, and a frame that waits that long has missed its
    //  deadline anyway; dropping it early lets the origin fall back sooner.
    opts->max_plain = MW_JOB_MSG_MAX;
    opts->peer_hwm = 32;
    opts->router_hwm = 256;
    opts->data_plane = true;
    opts->pkg_plane = false;
    opts->sndbuf = 0;
    opts->tos = 0;
}

void
gossip_transport_opts_pkg (gossip_transport_opts_t *opts)
{
    opts->max_plain = MW_PKG_MSG_MAX;
    opts->peer_hwm = 16;
    opts->router_hwm = 64;
    opts->data_plane = false;
    opts->pkg_plane = true;
    opts->sndbuf = 256 * 1024;
    opts->tos = 0x20;   //  DSCP CS1
}

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
gossip_transport_new (const char *bind_endpoint, const gossip_identity_t *ident, gossip_keyring_t *keys,
                      gossip_replay_t *replay, uint64_t session)
{
    gossip_transport_opts_t opts;
    gossip_transport_opts_defaults (&opts);
    return gossip_transport_new_opts (bind_endpoint, ident, keys, replay, session, &opts);
}

gossip_transport_t *
gossip_transport_new_opts (const char *bind_endpoint, const gossip_identity_t *ident, gossip_keyring_t *keys,
                           gossip_replay_t *replay, uint64_t session, const gossip_transport_opts_t *opts)
{
    if (!bind_endpoint || !ident || !keys || !replay || !opts)
        return NULL;
    //  The envelope cannot carry more than MW_JOB_MSG_MAX, so a bigger
    //  limit would only let libzmq buffer frames we must refuse anyway.
    if (opts->max_plain == 0 || opts->max_plain > MW_JOB_MSG_MAX || opts->peer_hwm < 0
        || opts->router_hwm < 0)
        return NULL;
    gossip_transport_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = *opts;
    self->frame_max = opts->max_plain + MW_ENVELOPE_OVERHEAD;
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
    //  Largest frame accepted on the ROUTER; libzmq refuses bigger ones
    //  before they are read into memory (ZMQ_MAXMSGSIZE, set before bind so
    //  that every connection gets it).
    zsock_set_maxmsgsize (self->router, (int64_t) self->frame_max);
    zsock_set_linger (self->router, 0);
    zsock_set_rcvhwm (self->router, self->opts.router_hwm);
    if (self->opts.tos > 0)
        zsock_set_tos (self->router, self->opts.tos);   //  what we send back on inbound connections
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
    zsock_set_sndhwm (c->dealer, self->opts.peer_hwm);
    if (self->opts.sndbuf > 0)
        zsock_set_sndbuf (c->dealer, self->opts.sndbuf);
    if (self->opts.tos > 0)
        zsock_set_tos (c->dealer, self->opts.tos);
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
    //  The receiver's ROUTER has the same limit and would drop the frame
    //  unread, and silently: refuse it here, where the caller can see it.
    if (plain_len > self->opts.max_plain) {
        mw_warn ("send_too_big", "type=%s bytes=%zu max=%zu", gossip_wire_type_name (msg->type), plain_len,
                 self->opts.max_plain);
        free (plain);
        return -1;
    }
    rc = gossip_crypto_seal (self->keys, plain, plain_len, out, len);
    free (plain);
    return rc == 0 ? 0 : -1;
}

bool
gossip_transport_writable (gossip_transport_t *self, const char *addr)
{
    peer_conn_t *c = (peer_conn_t *) zhashx_lookup (self->conns, addr);
    return !c || (zsock_events (c->dealer) & ZMQ_POLLOUT) != 0;
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
    if (len == 0 || len > self->frame_max) {
        self->stats.rejected[MW_REJ_SIZE]++;
        return 0;
    }
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    int rc = gossip_crypto_open (self->keys, data, len, &plain, &plain_len);
    if (rc != 0) {
        gossip_reject_t r = rc == MW_CRYPTO_EKEY      ? MW_REJ_OTHER_CLUSTER
                            : rc == MW_CRYPTO_EAUTH   ? MW_REJ_AUTH
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
    //  Each plane carries its own types only.  Checked before the replay
    //  window, so that a message on the wrong plane does not consume a seq
    //  that the right plane's window may still have to accept.
    if (gossip_wire_is_job_type (msg->type) != self->opts.data_plane
        || gossip_wire_is_pkg_type (msg->type) != self->opts.pkg_plane) {
        self->stats.rejected[MW_REJ_PLANE]++;
        mw_info ("packet_rejected", "reason=plane type=%s", gossip_wire_type_name (msg->type));
        gossip_wire_msg_clear (msg);
        return 0;
    }
    rc = gossip_replay_check (self->replay, &msg->sender, msg->session, msg->seq, msg->ts_ms, mw_wall_ms ());
    if (rc != MW_REPLAY_OK) {
        gossip_reject_t r = rc == MW_REPLAY_ESTALE   ? MW_REJ_STALE
                            : rc == MW_REPLAY_ECLOCK ? MW_REJ_CLOCK
                                                     : MW_REJ_REPLAY;
        self->stats.rejected[r]++;
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&msg->sender, hex);
        mw_info ("packet_rejected", "reason=%s sender=%s seq=%llu", gossip_transport_reject_name (r), hex,
                 (unsigned long long) msg->seq);
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
gossip_transport_open_beacon (gossip_transport_t *self, const uint8_t *data, size_t len, mw_msg_t *msg)
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
    static const char *names[] = {"size",   "envelope", "other_cluster", "auth", "malformed",
                                  "replay", "stale",    "clock",         "plane"};
    return (unsigned) r < MW_REJ_COUNT ? names[r] : "unknown";
}

//  --------------------------------------------------------------------------
//  Selftest: two transports on loopback exchange a message; a forged, a
//  replayed and a foreign-key packet are each rejected and counted.  Two
//  data-plane transports exchange a JOB with a 3 MB frame and a RESULT with
//  200 boxes; each plane rejects the other's types; oversized messages are
//  refused at send.

static int s_recv_one (gossip_transport_t *t, mw_msg_t *msg, int timeout_ms);

//  A job message of `type` with a frame of frame_len bytes (JOB) or n_boxes
//  boxes (RESULT).  0/-1; clear msg afterwards either way.
static int
s_make_job (mw_msg_t *m, int type, uint32_t frame_len, uint32_t n_boxes)
{
    memset (m, 0, sizeof *m);
    m->type = (uint8_t) type;
    m->job = (mw_job_t *) calloc (1, sizeof (mw_job_t));
    if (!m->job)
        return -1;
    mw_job_t *j = m->job;
    for (int i = 0; i < MW_JOBID_LEN; i++)
        j->id.b[i] = (uint8_t) (i + 1);
    snprintf (j->model, sizeof j->model, "tiny-face");
    snprintf (j->camera, sizeof j->camera, "cam-7");
    snprintf (m->addr, sizeof m->addr, "tcp://127.0.0.1:1");
    j->deadline_ms = 800;
    j->priority = 5;
    if (type == MW_MSG_JOB_OFFER)
        j->frame_len = frame_len;
    if (type == MW_MSG_JOB) {
        j->frame = (uint8_t *) malloc (frame_len ? frame_len : 1);
        if (!j->frame)
            return -1;
        j->frame_len = frame_len;
        for (uint32_t i = 0; i < frame_len; i++)
            j->frame[i] = (uint8_t) (i * 7 + (i >> 12));
    }
    if (type == MW_MSG_JOB_RESULT) {
        j->width = 1280;
        j->height = 720;
        j->confidence = 640000;
        j->boxes = (mw_wire_box_t *) calloc (n_boxes ? n_boxes : 1, sizeof (mw_wire_box_t));
        if (!j->boxes)
            return -1;
        j->n_boxes = n_boxes;
        for (uint32_t i = 0; i < n_boxes; i++)
            j->boxes[i] = (mw_wire_box_t){i * 1000, i * 2000, 50000, 60000, MW_FIXED_ONE - i};
    }
    return 0;
}

//  The data-plane half of the selftest (see above).  `b` is a mesh
//  transport at ep_b, `a` one that can send to it.  Returns 1 if all is well.
static int
s_test_planes (bool verbose, const gossip_identity_t *ia, const gossip_identity_t *ib, gossip_keyring_t *ka,
               gossip_keyring_t *kb, gossip_transport_t *a, gossip_transport_t *b, const char *ep_b)
{
    gossip_transport_opts_t od, om;
    gossip_transport_opts_data (&od);
    gossip_transport_opts_defaults (&om);
    int ok = od.max_plain == MW_JOB_MSG_MAX && od.peer_hwm == 32 && od.router_hwm == 256 && od.data_plane
             && om.max_plain == MW_MSG_MAX && om.peer_hwm == 128 && om.router_hwm == 4096 && !om.data_plane;
    ok = ok && strcmp (gossip_transport_reject_name (MW_REJ_PLANE), "plane") == 0;
    gossip_transport_opts_t bad = od;
    bad.max_plain = MW_JOB_MSG_MAX + 1;
    ok = ok && gossip_transport_new_opts ("tcp://127.0.0.1:*", ia, ka, NULL, 1, &od) == NULL;

    //  Own replay windows: a data plane has its own seq space.
    gossip_replay_t *rda = gossip_replay_new (60000), *rdb = gossip_replay_new (60000);
    gossip_transport_t *da = gossip_transport_new_opts ("tcp://127.0.0.1:*", ia, ka, rda, mw_wall_ms (), &od);
    gossip_transport_t *db = gossip_transport_new_opts ("tcp://127.0.0.1:*", ib, kb, rdb, mw_wall_ms (), &od);
    gossip_transport_t *over =
        gossip_transport_new_opts ("tcp://127.0.0.1:*", ia, ka, rda, mw_wall_ms (), &bad);
    const char *ep_da = da ? zsock_endpoint (gossip_transport_sock (da)) : NULL;
    const char *ep_db = db ? zsock_endpoint (gossip_transport_sock (db)) : NULL;
    ok = ok && rda && rdb && da && db && !over && ep_da && ep_db;
    mw_msg_t m = {0}, got = {0};

    //  A JOB with a 3 MB frame, origin -> runner.
    const uint32_t frame_len = 3 * 1024 * 1024;
    if (ok) {
        ok = s_make_job (&m, MW_MSG_JOB, frame_len, 0) == 0;
        ok = ok && gossip_transport_send (da, ep_db, &m) == 0;
        ok = ok && s_recv_one (db, &got, 5000) == 1 && got.type == MW_MSG_JOB && got.job
             && got.job->frame_len == frame_len && memcmp (got.job->frame, m.job->frame, frame_len) == 0
             && strcmp (got.job->camera, "cam-7") == 0 && strcmp (got.addr, "tcp://127.0.0.1:1") == 0
             && gossip_wire_id_eq (&got.sender, &ia->id);
        gossip_wire_msg_clear (&got);
        gossip_wire_msg_clear (&m);
    }
    //  A RESULT with 200 boxes, runner -> origin.
    if (ok) {
        ok = s_make_job (&m, MW_MSG_JOB_RESULT, 0, 200) == 0;
        ok = ok && gossip_transport_send (db, ep_da, &m) == 0;
        ok = ok && s_recv_one (da, &got, 5000) == 1 && got.type == MW_MSG_JOB_RESULT && got.job
             && got.job->n_boxes == 200
             && memcmp (got.job->boxes, m.job->boxes, 200 * sizeof (mw_wire_box_t)) == 0
             && got.job->confidence == 640000;
        gossip_wire_msg_clear (&got);
        gossip_wire_msg_clear (&m);
    }
    //  A job message on the mesh plane, and a membership message on the
    //  data plane: both valid, both rejected as plane.
    if (ok) {
        uint64_t plane_b = gossip_transport_stats (b)->rejected[MW_REJ_PLANE];
        ok = s_make_job (&m, MW_MSG_JOB_OFFER, 200000, 0) == 0 && gossip_transport_send (a, ep_b, &m) == 0
             && s_recv_one (b, &got, 2000) == 0
             && gossip_transport_stats (b)->rejected[MW_REJ_PLANE] == plane_b + 1;
        gossip_wire_msg_clear (&got);
        gossip_wire_msg_clear (&m);
        m.type = MW_MSG_PING;
        m.probe = 9;
        snprintf (m.addr, sizeof m.addr, "tcp://127.0.0.1:1");
        ok = ok && gossip_transport_send (da, ep_db, &m) == 0 && s_recv_one (db, &got, 2000) == 0
             && gossip_transport_stats (db)->rejected[MW_REJ_PLANE] == 1;
        gossip_wire_msg_clear (&got);
        //  The plane's own types still pass after that.
        ok = ok && s_make_job (&m, MW_MSG_JOB_REPLY, 0, 0) == 0 && gossip_transport_send (da, ep_db, &m) == 0
             && s_recv_one (db, &got, 2000) == 1 && got.type == MW_MSG_JOB_REPLY;
        gossip_wire_msg_clear (&got);
        gossip_wire_msg_clear (&m);
    }
    //  Oversized at send: a frame over MW_FRAME_MAX on the data plane (the
    //  codec refuses it), and a JOB over MW_MSG_MAX on the mesh plane (the
    //  transport's own limit).  Neither leaves the node.
    if (ok) {
        uint64_t dropped_da = gossip_transport_stats (da)->send_dropped;
        uint64_t out_da = gossip_transport_stats (da)->msgs_out;
        ok = s_make_job (&m, MW_MSG_JOB, MW_FRAME_MAX + 1, 0) == 0
             && gossip_transport_send (da, ep_db, &m) == -1
             && gossip_transport_stats (da)->send_dropped == dropped_da + 1
             && gossip_transport_stats (da)->msgs_out == out_da;
        gossip_wire_msg_clear (&m);
        uint64_t dropped_a = gossip_transport_stats (a)->send_dropped;
        ok = ok && s_make_job (&m, MW_MSG_JOB, MW_MSG_MAX, 0) == 0
             && gossip_transport_send (a, ep_b, &m) == -1
             && gossip_transport_stats (a)->send_dropped == dropped_a + 1;
        gossip_wire_msg_clear (&m);
        //  Nothing arrived at either receiver.
        ok = ok && s_recv_one (db, &got, 200) == -1 && s_recv_one (b, &got, 200) == -1;
    }
    if (verbose)
        printf ("transport planes: ok=%d data in=%llu plane rejects=%llu\n", ok,
                (unsigned long long) (da ? gossip_transport_stats (da)->msgs_in : 0),
                (unsigned long long) (db ? gossip_transport_stats (db)->rejected[MW_REJ_PLANE] : 0));
    gossip_transport_destroy (&da);
    gossip_transport_destroy (&db);
    gossip_replay_destroy (&rda);
    gossip_replay_destroy (&rdb);
    return ok;
}

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
    if (gossip_identity_load (dir_a, &ia, err, sizeof err)
        || gossip_identity_load (dir_b, &ib, err, sizeof err))
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
        ok =
            ok && s_recv_one (b, &got, 2000) == 0 && gossip_transport_stats (b)->rejected[MW_REJ_REPLAY] == 1;
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
    if (ok)
        ok = s_test_planes (verbose, &ia, &ib, ka, kb, a, b, ep_b);
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
