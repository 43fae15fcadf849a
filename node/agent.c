/*  =========================================================================
    node_agent - the meshwatch daemon (see agent.h).

    The agent is a composition of services on one event loop (node/loop.h):

      mesh        the transport's ROUTER and SWIM membership: probes, gossip,
                  the incarnation kept on disk, the graceful leave
      discovery   LAN beacons and the JOIN seeds (and the peers of the
                  state DB after a restart)
      load        resources, forecasts and our digest once a second; the
                  /metrics snapshot and the seed's usage POST
      election    the coordinator election fed with the SWIM view
      jobs        the data plane, the runner and the hand-off (node/jobs.h)
      cameras     the camera registry, RTSP ingest and focus (node/cameras.h)
      control     the CLI's socket (node/control.h); each service registers
                  its own commands

    Each reports its next deadline, so an idle agent sleeps instead of
    ticking: a hundred agents on one small box must cost next to nothing.

    Start-up order matters for correctness across restarts: the incarnation
    and the boot session are read from the state DB, bumped and written
    back (fsync'ed) *before* the first packet leaves, so that a node killed
    with -9 and restarted always speaks with a higher incarnation (peers then
    accept it as alive again) and a newer session (peers' replay windows
    then accept its fresh sequence numbers).

    Leave: on SIGINT/SIGTERM or `meshwatch leave`, membership announces LEFT
    and the election resigns; the loop keeps running half a second (less
    when we are alone) so that the LEFT update and its acks get out, with
    beacons, joins, forecasts, election and new jobs stopped.
    ========================================================================= */
#include "node/agent.h"
#include "common/json.h"
#include "common/log.h"
#include "common/sanitize.h"
#include "common/prom.h"
#include "common/selftest.h"
#include "gossip/beacon.h"
#include "gossip/crypto.h"
#include "gossip/discovery.h"
#include "gossip/guard.h"
#include "gossip/member.h"
#include "gossip/sign.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "node/cameras.h"
#include "node/control.h"
#include "node/curve.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/keywatch.h"
#include "node/load.h"
#include "node/loop.h"
#include "node/metrics.h"
#include "pkg/service.h"
#include "node/msgmap.h"
#include "scheduler/digest.h"
#include "scheduler/freshness.h"
#include "scheduler/election.h"
#include "node/deploy.h"
#include "node/statedb.h"
#include "node/usage.h"
#include "node/vms.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

struct _node_agent_t {
    mw_config_t *cfg;
    node_loop_t *loop;
    gossip_identity_t ident;
    gossip_pairkeys_t *pairkeys;   //  keys shared with peers: heartbeat MACs (gossip/sign.h)
    gossip_keyring_t *keys;
    gossip_replay_t *replay;
    gossip_transport_t *transport;
    //  Caps on what anyone on the network can open (gossip/guard.h), and
    //  the fd limit they are derived from.
    gossip_guard_t *guard;
    uint64_t nofile;
    uint32_t out_max;
    node_curve_t *curve;   //  EVENTS_CURVE_CLIENTS: the event stream's CURVE server
    gossip_member_t *members;
    gossip_discovery_t *disc;
    node_statedb_t *db;
    node_events_t *events;
    node_keywatch_t *keywatch;   //  hearing only traffic sealed with another key?
    //  Forecasts issue: resources, our digest, /metrics, the seed's POST.
    node_load_t *load;
    node_metrics_t *metrics;
    node_usage_t *usage;
    uint32_t collect_interval_ms;
    uint64_t next_collect_ms;
    //  Our digest is published when it is news (scheduler/freshness.h):
    //  what was published last, and when.
    sched_freshness_t freshness;
    sched_digest_t digest_pub;
    bool digest_pub_valid;
    uint64_t digest_pub_ms;
    node_control_t *control;
    //  The VMS interface (node/vms.h): the durable event log, the HTTP API,
    //  the outboxes; its state and boxes documents are refreshed once a
    //  second and when the view changes (docs_dirty).
    node_vms_t *vms;
    bool docs_dirty;
    uint64_t next_docs_ms;
    //  Inference jobs (node/jobs.h): the data plane, the runner, hand-off.
    node_jobs_t *jobs;
    pkg_service_t *pkg;   //  AI packages (PKG_PORT); NULL when off
    uint64_t next_peers_ms;
    node_service_t pkg_svc;   //  pkg_service's hooks (called through the agent's)
    node_deploy_t *deploy;    //  deployments (docs/DEPLOY.md): the plan, this box's slots
    uint16_t pkg_port;
    uint64_t next_pkg_peers_ms;
    //  Cameras (node/cameras.h): registry, ingest, focus.
    node_cameras_t *cameras;
    //  Coordinator election (scheduler/election.h): fed the SWIM view
    //  when it changes (view_dirty) and at least once a second.
    election_t *election;
    bool view_dirty;
    uint64_t next_view_ms;
    //  Election messages' signatures (gossip/sign.h): checked against the
    //  sender's member record before the election hears them.  Failed
    //  checks spend a budget (each costs an Ed25519 verification); beyond
    //  it, election messages are dropped unchecked until it refills.
    struct {
        uint64_t verified, no_key, bad, shed;
        double fail_tokens;
        uint64_t fail_ms, log_ms, since_log;
    } esig;
    char addr[MW_ADDR_MAX + 1];   //  our mesh endpoint as peers reach it
    char ip[64];
    char name[MW_NAME_MAX + 1];
    char cluster[MW_CLUSTER_MAX + 1];
    uint64_t session;
    uint64_t incarnation_saved;
    uint64_t started_ms;
    uint64_t next_join_ms, next_prune_ms, next_peers_sync_ms;
    uint32_t max_members;
    //  When to beacon (gossip/beacon.h: quiet once the mesh has formed),
    //  and the new boxes whose beacon we answer after a delay that grows
    //  with our distance to them (the closest member answers at once; the
    //  others only if it has not become a member meanwhile).
    gossip_beacon_t *beacon;
    bool beacon_view_changed;
    struct {
        mw_id_t id;
        char addr[MW_ADDR_MAX + 1];
        uint64_t at_ms;   //  0 = free slot
    } answers[16];
    char seeds[16][MW_ADDR_MAX + 1];
    size_t n_seeds;
};
typedef struct _node_agent_t agent_t;

//  --------------------------------------------------------------------------
//  Membership callbacks

//  The camera service's mesh messages (registry replication, focus).
static void
s_cam_send (void *ctx, const char *addr, mw_msg_t *msg)
{
    agent_t *self = (agent_t *) ctx;
    gossip_transport_send (self->transport, addr, msg);
}

static void
s_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    agent_t *self = (agent_t *) ctx;
    //  The member module hands us a const view; the transport stamps the
    //  header, so it works on a shallow copy (updates are only read).
    mw_msg_t copy = *msg;
    //  A PING is meant for the node it names, whoever is registered at
    //  that address (only that id may answer it anyway).
    if (msg->type == MW_MSG_PING && !mw_id_zero (&msg->target))
        gossip_transport_send_to (self->transport, addr, &msg->target, &copy);
    else
        gossip_transport_send (self->transport, addr, &copy);
}

static const char *
s_event_name (gossip_member_event_t ev)
{
    switch (ev) {
    case GOSSIP_MEMBER_EV_JOIN: return "join";
    case GOSSIP_MEMBER_EV_SUSPECT: return "suspect";
    case GOSSIP_MEMBER_EV_ALIVE: return "alive";
    case GOSSIP_MEMBER_EV_DEAD: return "dead";
    case GOSSIP_MEMBER_EV_LEAVE: return "leave";
    case GOSSIP_MEMBER_EV_REAP: return "reap";
    case GOSSIP_MEMBER_EV_UPDATE: return "update";
    }
    return "unknown";
}

static void
s_on_member (void *ctx, gossip_member_event_t ev, const gossip_member_info_t *m)
{
    agent_t *self = (agent_t *) ctx;
    if (ev == GOSSIP_MEMBER_EV_UPDATE || m->is_self)
        return;
    self->view_dirty = true;
    //  The alive set changed: beacon fast for a while (a partition may have
    //  healed, or a mesh formed apart may be in reach).
    if (ev == GOSSIP_MEMBER_EV_JOIN || ev == GOSSIP_MEMBER_EV_DEAD || ev == GOSSIP_MEMBER_EV_LEAVE)
        self->beacon_view_changed = true;
    self->docs_dirty = true;
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&m->id, hex);
    const char *name = s_event_name (ev);
    char logev[32];
    snprintf (logev, sizeof logev, "member_%s", name);
    mw_info (logev, "peer=%s name=%s addr=%s inc=%llu", hex, mw_logv (m->name), mw_logv (m->addr),
             (unsigned long long) m->incarnation);
    if (ev == GOSSIP_MEMBER_EV_REAP) {
        //  Forgotten everywhere: no connection, no registration, no replay
        //  state on either plane (a flood of ids that come and go cannot
        //  grow anything).  A seed stays registered: we keep joining it.
        bool seed = false;
        for (size_t i = 0; i < self->n_seeds; i++)
            seed |= strcmp (self->seeds[i], m->addr) == 0;
        if (seed)
            gossip_transport_forget_addr (self->transport, m->addr);
        else
            gossip_transport_peer_remove (self->transport, m->addr);
        gossip_replay_forget (self->replay, &m->id);
        node_jobs_forget (self->jobs, &m->id);
        return;
    }
    //  A member (in any state until reaped: dead ones are retried) is an
    //  address we may connect to, sealed for its id.
    gossip_transport_peer_add (self->transport, m->addr, &m->id, 0);
    if (ev == GOSSIP_MEMBER_EV_DEAD || ev == GOSSIP_MEMBER_EV_LEAVE)
        //  Drop the connection and whatever is queued on it: when the peer
        //  comes back, a fresh connection is made at once instead of waiting
        //  out libzmq's reconnect back-off, and it gets no stale backlog.
        gossip_transport_forget_addr (self->transport, m->addr);
    if (self->cameras)
        node_cameras_member (self->cameras, m, ev == GOSSIP_MEMBER_EV_JOIN || ev == GOSSIP_MEMBER_EV_ALIVE,
                             mw_now_ms ());
    //  The peers table is written behind, from s_peers_sync: never from
    //  here, where a flood of joins would be a flood of fsyncs on the loop.
    if (ev == GOSSIP_MEMBER_EV_LEAVE)
        node_statedb_peer_forget (self->db, hex);
    node_event_t e;
    node_event_init (&e, "member", name, self->ident.id_hex);
    node_event_str (&e, "id", hex);
    node_event_str (&e, "name", m->name);
    node_event_str (&e, "addr", m->addr);
    node_event_str (&e, "state", gossip_wire_state_name (m->state));
    node_event_int (&e, "incarnation", (int64_t) m->incarnation);
    node_events_publish (self->events, &e);
}

//  Once a second: remember the peers that have answered our probes (their
//  address is proven) in the state DB, for a rejoin without a seed.  Only
//  those: ids we merely heard of in gossip may be a forger's, and must not
//  push real peers out of the table.  The DB writes them behind, in one
//  transaction, off the loop; unchanged peers cost a hash lookup.
static void
s_peers_sync (agent_t *self, uint64_t now)
{
    if (now < self->next_peers_sync_ms)
        return;
    self->next_peers_sync_ms = now + 1000;
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return;
    n = gossip_member_list (self->members, list, n);
    uint64_t wall = mw_wall_ms ();
    for (size_t i = 0; i < n; i++) {
        if (list[i].is_self || list[i].state != MW_STATE_ALIVE || !list[i].reached_ms)
            continue;
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&list[i].id, hex);
        node_statedb_peer_note (self->db, hex, list[i].name, list[i].addr, wall);
    }
    free (list);
}

//  Messages and beacons sealed with a key we do not hold (a colliding key
//  id shows as a failed authentication).
static uint64_t
s_other_key (agent_t *self)
{
    const gossip_transport_stats_t *st = gossip_transport_stats (self->transport);
    return st->rejected[MW_REJ_OTHER_CLUSTER] + st->rejected[MW_REJ_AUTH];
}

//  A box that hears nothing but other-key traffic for a while says so,
//  once a minute: alone, it would elect itself and log nothing at all.
static void
s_keywatch_tick (agent_t *self, uint64_t now)
{
    char line[512];
    if (node_keywatch_due (self->keywatch, now, line, sizeof line))
        mw_warn ("wrong_cluster_key",
                 "%s reason=\"only traffic sealed with a key this box does not hold: check CLUSTER_KEY "
                 "(meshwatch keygen makes a new one; every box of a site needs the same)\"",
                 line);
}

//  --------------------------------------------------------------------------
//  Discovery and joining

static void
s_beacon_publish (agent_t *self)
{
    mw_msg_t msg = {0};
    msg.type = MW_MSG_BEACON;
    snprintf (msg.cluster, sizeof msg.cluster, "%s", self->cluster);
    snprintf (msg.name, sizeof msg.name, "%s", self->name);
    snprintf (msg.addr, sizeof msg.addr, "%s", self->addr);
    uint8_t *sealed = NULL;
    size_t len = 0;
    if (gossip_transport_seal_beacon (self->transport, &msg, &sealed, &len) == 0) {
        if (len <= MW_BEACON_MAX && gossip_discovery_publish (self->disc, sealed, len) == 0)
            ((gossip_transport_stats_t *) gossip_transport_stats (self->transport))->beacons_out++;
        free (sealed);
    }
}

//  A new box beaconed: the members closest to it (XOR of the ids) answer
//  first, ANSWER_STEP_MS apart, and only while it is still unknown to them,
//  so that one full-state exchange, not N - 1, meets a joiner (it then
//  introduces itself to the others: gossip/member.c).  Our rank: how many
//  members we have heard from are closer to it than we are.
#define ANSWER_STEP_MS 100
#define ANSWER_RANKS   16   //  the closest 16 answer; the rest leave it to them

static uint32_t
s_answer_rank (agent_t *self, const mw_id_t *to)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return 0;
    n = gossip_member_list (self->members, list, n);
    uint8_t mine[MW_ID_LEN], theirs[MW_ID_LEN];
    for (int b = 0; b < MW_ID_LEN; b++)
        mine[b] = self->ident.id.b[b] ^ to->b[b];
    uint32_t rank = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].is_self || list[i].state != MW_STATE_ALIVE || !(list[i].direct_ms || list[i].reached_ms))
            continue;
        for (int b = 0; b < MW_ID_LEN; b++)
            theirs[b] = list[i].id.b[b] ^ to->b[b];
        rank += memcmp (theirs, mine, MW_ID_LEN) < 0;
    }
    free (list);
    return rank;
}

static void
s_answer_later (agent_t *self, const mw_id_t *id, const char *addr, uint64_t at)
{
    size_t slot = SIZE_MAX;
    for (size_t i = 0; i < 16 && slot == SIZE_MAX; i++)
        if (self->answers[i].at_ms && gossip_wire_id_eq (&self->answers[i].id, id))
            slot = i;   //  already pending: keep the earlier time
    if (slot != SIZE_MAX)
        return;
    for (size_t i = 0; i < 16 && slot == SIZE_MAX; i++)
        if (!self->answers[i].at_ms)
            slot = i;
    if (slot == SIZE_MAX)
        return;   //  16 unknown boxes beaconing at once: the closer members answer them
    self->answers[slot].id = *id;
    snprintf (self->answers[slot].addr, sizeof self->answers[slot].addr, "%s", addr);
    self->answers[slot].at_ms = at;
}

static void
s_answers_tick (agent_t *self, uint64_t now)
{
    for (size_t i = 0; i < 16; i++) {
        if (!self->answers[i].at_ms || now < self->answers[i].at_ms)
            continue;
        self->answers[i].at_ms = 0;
        if (!gossip_member_knows_alive (self->members, &self->answers[i].id))
            gossip_member_join (self->members, self->answers[i].addr, now);
    }
}

//  `addr` is named by `id`: if a member we hold dead or left (another id)
//  is registered there, drop that registration.  A live member's address
//  is never taken over this way.
static void
s_release_addr (agent_t *self, const char *addr, const mw_id_t *id)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return;
    n = gossip_member_list (self->members, list, n);
    for (size_t i = 0; i < n; i++)
        if (!list[i].is_self && !gossip_wire_id_eq (&list[i].id, id) && strcmp (list[i].addr, addr) == 0
            && (list[i].state == MW_STATE_DEAD || list[i].state == MW_STATE_LEFT)) {
            gossip_transport_peer_remove (self->transport, addr);
            break;
        }
    free (list);
}

static void
s_beacon_recv (agent_t *self, uint64_t now)
{
    char ip[64];
    uint8_t *data = NULL;
    size_t len = 0;
    if (gossip_discovery_recv (self->disc, ip, sizeof ip, &data, &len) != 0)
        return;
    mw_msg_t msg;
    uint64_t other = s_other_key (self);
    int rc = gossip_transport_open_beacon (self->transport, data, len, &msg);
    free (data);
    node_keywatch_other (self->keywatch, ip, s_other_key (self) - other, now);
    if (rc != 1)
        return;
    node_keywatch_valid (self->keywatch, now);
    if (strcmp (msg.cluster, self->cluster) != 0) {
        //  Same key, other cluster name: a configuration mistake worth a line.
        mw_warn ("beacon_other_cluster", "from=%s cluster=%s", mw_logv (ip), mw_logv (msg.cluster));
    }
    else if (gossip_member_knows_alive (self->members, &msg.sender)) {
        //  One of ours: our own beacon is not needed this interval.
        gossip_beacon_heard (self->beacon, now);
    }
    else {
        //  A box we do not know as alive: exchange full state with it.  A
        //  dead one learns from our state that it was declared dead and
        //  refutes with a higher incarnation.
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&msg.sender, hex);
        uint32_t rank = s_answer_rank (self, &msg.sender);
        mw_debug ("beacon_join", "peer=%s addr=%s rank=%u", hex, mw_logv (msg.addr), rank);
        if (rank < ANSWER_RANKS) {
            //  Ours to contact for a while, sealed for the id that beaconed;
            //  once it answers it is a member and registered for good.  A
            //  dead or departed member's address now belongs to the new box
            //  (a replaced box keeps its IP): unregister the old id, or
            //  what we send would be sealed for it and never open.
            s_release_addr (self, msg.addr, &msg.sender);
            gossip_transport_peer_add (self->transport, msg.addr, &msg.sender, 30000);
            if (rank == 0)
                gossip_member_join (self->members, msg.addr, now);
            else
                s_answer_later (self, &msg.sender, msg.addr, now + (uint64_t) rank * ANSWER_STEP_MS);
        }
    }
    gossip_wire_msg_clear (&msg);
}

//  Is any member other than us alive?
static bool
s_has_peers (agent_t *self)
{
    return gossip_member_alive_count (self->members) > 1;
}

//  Is some alive (or suspect) member reachable at `addr`?
static bool
s_addr_alive (agent_t *self, const gossip_member_info_t *list, size_t n, const char *addr)
{
    (void) self;
    for (size_t i = 0; i < n; i++)
        if ((list[i].state == MW_STATE_ALIVE || list[i].state == MW_STATE_SUSPECT)
            && strcmp (list[i].addr, addr) == 0)
            return true;
    return false;
}

static void
s_join_tick (agent_t *self, uint64_t now)
{
    //  Seeds: contact them every second until we have a peer, then every
    //  10 s contact only the seeds that are not alive in our view (one may
    //  be the other side of a healed partition, or restarted elsewhere).
    //  Seeds already alive are left alone: a hundred boxes re-sending their
    //  full state to one seed would be the seed's whole bandwidth.  Dead
    //  members that are not seeds are retried by the membership module.
    if (now < self->next_join_ms)
        return;
    bool alone = !s_has_peers (self);
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return;
    n = gossip_member_list (self->members, list, n);
    for (size_t i = 0; i < self->n_seeds; i++) {
        if (strcmp (self->seeds[i], self->addr) == 0 || s_addr_alive (self, list, n, self->seeds[i]))
            continue;
        gossip_member_join (self->members, self->seeds[i], now);
    }
    if (alone && self->n_seeds == 0) {
        //  No seed: try the peers we knew before a restart.
        char addrs[8][100];
        size_t k = node_statedb_peer_addrs (self->db, addrs, 8);
        for (size_t i = 0; i < k; i++)
            if (strcmp (addrs[i], self->addr) != 0) {
                gossip_transport_peer_add (self->transport, addrs[i], NULL, 30000);
                gossip_member_join (self->members, addrs[i], now);
            }
    }
    free (list);
    self->next_join_ms = now + (alone ? 1000 : 10000);
}

//  --------------------------------------------------------------------------
//  Coordinator election: the pure rules live in scheduler/election.c; here
//  they get the SWIM view, the transport, the state DB and the event stream.

static void
s_election_send (void *ctx, const mw_id_t *to, const election_msg_t *msg)
{
    agent_t *self = (agent_t *) ctx;
    gossip_member_info_t m;
    if (gossip_member_lookup (self->members, to, &m) != 0 || !*m.addr)
        return;   //  not (or no longer) a member: nothing to send to
    mw_msg_t wire;
    node_msgmap_election_to_wire (msg, &wire);
    if (msg->type != ELECTION_MSG_HEARTBEAT) {
        //  Rounds, not heartbeats: what a slow failover's log must show.
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (to, hex);
        mw_debug (msg->type == ELECTION_MSG_VOTE_REQ ? "vote_req_out" : "vote_out",
                  "to=%s term=%llu rank=%u pre=%d granted=%d", hex, (unsigned long long) msg->term, msg->rank,
                  msg->pre, msg->granted);
    }
    gossip_transport_send_to (self->transport, m.addr, to, &wire);
}

static uint64_t
s_election_id_u64 (const mw_id_t *id)
{
    uint64_t v = 0;
    for (int i = 0; i < MW_ID_LEN; i++)
        v = v << 8 | id->b[i];
    return v;
}

static void
s_election_u64_id (uint64_t v, mw_id_t *id)
{
    for (int i = MW_ID_LEN - 1; i >= 0; i--, v >>= 8)
        id->b[i] = (uint8_t) (v & 0xff);
}

//  The highest ballot and the vote reach the disk (synchronous=FULL, one
//  transaction: a ballot without its vote, or the reverse, could let a
//  restarted node vote twice in one counter) before the election module
//  lets the message that depends on them leave.
static int
s_election_persist (void *ctx, const election_ballot_t *hi, const election_ballot_t *vote)
{
    agent_t *self = (agent_t *) ctx;
    const char *keys[] = {"election_term",      "election_rank",      "election_id",
                          "election_vote_term", "election_vote_rank", "election_voted_for"};
    uint64_t values[] = {hi->n,
                         hi->rank,
                         s_election_id_u64 (&hi->id),
                         vote ? vote->n : 0,
                         vote ? vote->rank : 0,
                         vote ? s_election_id_u64 (&vote->id) : 0};
    return node_statedb_set_u64s (self->db, keys, values, 6);   //  -1 logged by the state DB
}

//  The ballot is (term, rank, id): `term` is its counter, `id` the
//  coordinator it belongs to, `rank` the rank that coordinator stood with.
static void
s_election_event (void *ctx, election_event_t ev, const election_ballot_t *b, const char *reason)
{
    agent_t *self = (agent_t *) ctx;
    self->docs_dirty = true;
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&b->id, hex);
    const char *name = ev == ELECTION_EV_ELECTED ? "coordinator_elected"
                       : ev == ELECTION_EV_LOST  ? "coordinator_lost"
                                                 : "step_down";
    mw_info (name, "term=%llu rank=%u id=%s self=%d reason=%s", (unsigned long long) b->n, b->rank, hex,
             gossip_wire_id_eq (&b->id, &self->ident.id), *reason ? reason : "-");
    node_event_t e;
    node_event_init (&e, "coordinator",
                     ev == ELECTION_EV_ELECTED ? "elected"
                     : ev == ELECTION_EV_LOST  ? "lost"
                                               : "step_down",
                     self->ident.id_hex);
    node_event_str (&e, "id", hex);
    node_event_str (&e, "reason", *reason ? reason : "-");
    node_event_int (&e, "term", (int64_t) b->n);
    node_event_int (&e, "rank", (int64_t) b->rank);
    node_events_publish (self->events, &e);
}

//  Hand the election the members SWIM holds alive or suspect.
//  Members SWIM holds alive or suspect, and that we have heard from
//  ourselves: ids we only heard of in gossip may be a forger's, and in the
//  view they would count towards every quorum (and get our heartbeats).  A
//  real newcomer is heard within a probe round.
static void
s_election_view (agent_t *self, uint64_t now)
{
    if (!self->view_dirty && now < self->next_view_ms)
        return;
    self->view_dirty = false;
    self->next_view_ms = now + 1000;
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    mw_id_t *ids = calloc (n ? n : 1, sizeof *ids);
    if (list && ids) {
        n = gossip_member_list (self->members, list, n);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if ((list[i].state == MW_STATE_ALIVE || list[i].state == MW_STATE_SUSPECT)
                && (list[i].is_self || list[i].direct_ms || list[i].reached_ms))
                ids[k++] = list[i].id;
        election_set_view (self->election, ids, k, now);
    }
    else
        self->view_dirty = true;   //  retry next turn
    free (list);
    free (ids);
}

static bool
s_is_coordinator_id (agent_t *self, const mw_id_t *id)
{
    mw_id_t c;
    return self->election && election_coordinator (self->election, &c) && gossip_wire_id_eq (&c, id);
}

//  --------------------------------------------------------------------------
//  Control commands: the CLI's view of this agent, as JSON documents
//  (node/cli_render.c draws the tables).

static json_object *
s_member_json (agent_t *self, const gossip_member_info_t *m, uint64_t now, uint64_t wall)
{
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&m->id, hex);
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "id", mw_json_str (hex));
    mw_json_add (o, "name", mw_json_str (m->name));   //  from the wire: any bytes
    mw_json_add (o, "addr", mw_json_str (m->addr));
    mw_json_add (o, "state", mw_json_str (gossip_wire_state_name (m->state)));
    mw_json_add (o, "incarnation", mw_json_u64 (m->incarnation));
    uint64_t heard = m->is_self                                    ? 0
                     : m->last_heard_ms && now >= m->last_heard_ms ? now - m->last_heard_ms
                                                                   : 0;
    mw_json_add (o, "last_heard_ms", m->is_self || m->last_heard_ms ? mw_json_u64 (heard) : NULL);
    mw_json_add (o, "state_ms", mw_json_u64 (now >= m->state_since_ms ? now - m->state_since_ms : 0));
    mw_json_add (o, "coordinator", mw_json_bool (s_is_coordinator_id (self, &m->id)));
    mw_json_add (o, "self", mw_json_bool (m->is_self));
    mw_json_add (o, "load", node_load_member_json (m, wall));
    return o;
}

static json_object *
s_ctl_members (void *ctx, const node_control_req_t *req)
{
    agent_t *self = (agent_t *) ctx;
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    json_object *a = json_object_new_array ();
    if (!list || !a) {
        free (list);
        json_object_put (a);
        return NULL;
    }
    n = gossip_member_list (self->members, list, n);
    uint64_t wall = mw_wall_ms ();
    for (size_t i = 0; i < n; i++)
        json_object_array_add (a, s_member_json (self, &list[i], req->now_ms, wall));
    free (list);
    return a;
}

//  --------------------------------------------------------------------------
//  The VMS interface's documents: GET /api/v1/state and /api/v1/boxes.

//  A member's API base URL from its digest (its IP from its mesh address),
//  or NULL when it has none reachable.
static json_object *
s_member_api (agent_t *self, const gossip_member_info_t *m)
{
    if (m->is_self)
        return *node_vms_api_url (self->vms) ? mw_json_str (node_vms_api_url (self->vms)) : NULL;
    sched_digest_t d;
    if (sched_digest_decode (m->digest, m->digest_len, &d) != 0 || !d.api_port)
        return NULL;
    //  tcp://IP:PORT or tcp://[IPv6]:PORT
    const char *h = strncmp (m->addr, "tcp://", 6) ? NULL : m->addr + 6;
    const char *colon = h ? strrchr (h, ':') : NULL;
    if (!colon || colon == h)
        return NULL;
    char url[160];
    snprintf (url, sizeof url, "%s://%.*s:%u", d.api_https ? "https" : "http", (int) (colon - h), h,
              d.api_port);
    return mw_json_str (url);
}

static void
s_publish_docs (agent_t *self, uint64_t now)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    json_object *state = json_object_new_object (), *boxes = json_object_new_object ();
    json_object *members = json_object_new_array (), *barr = json_object_new_array ();
    if (!list || !state || !boxes || !members || !barr) {
        free (list);
        json_object_put (state);
        json_object_put (boxes);
        json_object_put (members);
        json_object_put (barr);
        return;
    }
    n = gossip_member_list (self->members, list, n);
    uint64_t wall = mw_wall_ms ();
    const char *coord_name = NULL;
    mw_id_t c;
    bool has = election_coordinator (self->election, &c);
    for (size_t i = 0; i < n; i++) {
        const gossip_member_info_t *m = &list[i];
        json_object_array_add (members, s_member_json (self, m, now, wall));
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&m->id, hex);
        json_object *b = json_object_new_object ();
        if (!b)
            continue;
        mw_json_add (b, "id", mw_json_str (hex));
        mw_json_add (b, "name", mw_json_str (m->name));
        mw_json_add (b, "state", mw_json_str (gossip_wire_state_name (m->state)));
        mw_json_add (b, "self", mw_json_bool (m->is_self));
        mw_json_add (b, "coordinator", mw_json_bool (s_is_coordinator_id (self, &m->id)));
        mw_json_add (b, "mesh_addr", mw_json_str (m->addr));
        mw_json_add (b, "api", s_member_api (self, m));
        json_object_array_add (barr, b);
        if (has && gossip_wire_id_eq (&m->id, &c))
            coord_name = m->name;
    }
    json_object *box = json_object_new_object ();
    if (box) {
        mw_json_add (box, "id", mw_json_str (self->ident.id_hex));
        mw_json_add (box, "name", mw_json_str (self->name));
        mw_json_add (box, "addr", mw_json_str (self->addr));
        mw_json_add (box, "cluster", mw_json_str (self->cluster));
        mw_json_add (box, "incarnation", mw_json_u64 (gossip_member_incarnation (self->members)));
        mw_json_add (box, "api",
                     *node_vms_api_url (self->vms) ? mw_json_str (node_vms_api_url (self->vms)) : NULL);
        json_object *ev = json_object_new_object ();
        if (ev) {
            int port = (int) mw_config_settings (self->cfg)->events_port;
            const char *pip =
                strcmp (mw_config_settings (self->cfg)->events_bind, "mesh") ? "127.0.0.1" : self->ip;
            char pub[MW_ADDR_MAX + 32];
            if (strchr (pip, ':'))
                snprintf (pub, sizeof pub, "tcp://[%s]:%d", pip, port);
            else
                snprintf (pub, sizeof pub, "tcp://%s:%d", pip, port);
            mw_json_add (ev, "epoch", mw_json_u64 (node_evlog_epoch (node_vms_log (self->vms))));
            mw_json_add (ev, "pub", port > 0 ? mw_json_str (pub) : NULL);
            //  A VMS that holds a token pins the PUB's CURVE key from here
            //  (EVENTS_BIND=mesh with EVENTS_CURVE_CLIENTS; docs/SECURITY.md).
            mw_json_add (ev, "curve_server_key",
                         self->curve ? mw_json_str (node_curve_public_txt (self->curve)) : NULL);
        }
        mw_json_add (box, "events", ev);
    }
    mw_json_add (state, "box", box);
    json_object *coord = NULL;
    if (has) {
        char chex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&c, chex);
        coord = json_object_new_object ();
        if (coord) {
            mw_json_add (coord, "id", mw_json_str (chex));
            mw_json_add (coord, "name", coord_name ? mw_json_str (coord_name) : NULL);
            mw_json_add (coord, "term", mw_json_u64 (election_term (self->election)));
        }
    }
    mw_json_add (state, "coordinator", coord);
    mw_json_add (state, "members", members);
    mw_json_add (boxes, "boxes", barr);
    free (list);
    node_vms_set_docs (self->vms, state, boxes);
}

//  vmsdocs: the documents, when the view changed and at least once a
//  second (the members' forecasts move).
static void
s_docs_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!node_vms_api (self->vms) || (!self->docs_dirty && now < self->next_docs_ms))
        return;
    self->docs_dirty = false;
    self->next_docs_ms = now + 1000;
    s_publish_docs (self, now);
}

static uint64_t
s_docs_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!node_vms_api (self->vms))
        return UINT64_MAX;
    return self->docs_dirty ? now : self->next_docs_ms;
}

//  GET /api/v1/jobs: the jobs as `meshwatch jobs --json` lists them.
static void
s_api_jobs (void *ctx, const node_api_req_t *req, node_api_resp_t *resp)
{
    agent_t *self = (agent_t *) ctx;
    (void) req;
    resp->json = node_jobs_list_json (self->jobs);
    if (!resp->json)
        node_api_resp_error (resp, 503, "unavailable", "out of memory");
}

static json_object *
s_u64_object (const char *const *keys, const uint64_t *values, size_t n)
{
    json_object *o = json_object_new_object ();
    for (size_t i = 0; o && i < n; i++)
        mw_json_add (o, keys[i], mw_json_u64 (values[i]));
    return o;
}

//  Floods and disks in `status`: refused member inserts, the state DB's
//  write-behind (a full STATE_DIR shows here as degraded), the loop's worst
//  turn (what a flood costs the timers).
static void
s_status_robust (agent_t *self, json_object *o)
{
    gossip_member_stats_t ms;
    gossip_member_stats (self->members, &ms);
    const char *bk[] = {"max",     "refused_rate",     "refused_full", "refused_unverified",
                        "evicted", "pushpull_refused", "pushpull_same"};
    uint64_t bv[] = {self->max_members, ms.refused_rate,     ms.refused_full, ms.refused_unverified,
                     ms.evicted,        ms.pushpull_refused, ms.pushpull_same};
    mw_json_add (o, "members_bounds", s_u64_object (bk, bv, 7));
    //  Node-key signatures: member records and election messages checked,
    //  and refused (unsigned, no key for the signer, bad, not checked).
    const char *gk[] = {"records_verified", "records_unsigned", "records_no_key",
                        "records_bad",      "records_shed",     "election_verified",
                        "election_no_key",  "election_bad",     "election_shed"};
    uint64_t gv[] = {ms.verified,       ms.refused_unsigned, ms.refused_nokey,
                     ms.refused_badsig, ms.verify_shed,      self->esig.verified,
                     self->esig.no_key, self->esig.bad,      self->esig.shed};
    mw_json_add (o, "signatures", s_u64_object (gk, gv, 9));
    node_statedb_stats_t ds;
    node_statedb_stats (self->db, &ds);
    const char *dk[] = {"pending",       "flushes", "rows",           "flush_failures",
                        "sync_failures", "dropped", "worst_flush_ms", "retry_in_ms"};
    uint64_t dv[] = {ds.pending,       ds.flushes, ds.rows,           ds.flush_failures,
                     ds.sync_failures, ds.dropped, ds.worst_flush_ms, ds.retry_in_ms};
    json_object *db = s_u64_object (dk, dv, 8);
    if (db) {
        mw_json_add (db, "degraded", mw_json_bool (ds.degraded));
        mw_json_add (db, "last_error", mw_json_str (ds.last_error));
    }
    mw_json_add (o, "statedb", db);
    const char *lk[] = {"worst_turn_ms", "turns"};
    uint64_t lv[] = {node_loop_worst_turn_ms (self->loop), node_loop_turns (self->loop)};
    mw_json_add (o, "loop", s_u64_object (lk, lv, 2));
}

static json_object *
s_ctl_status (void *ctx, const node_control_req_t *req)
{
    agent_t *self = (agent_t *) ctx;
    uint64_t now = req->now_ms;
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    uint64_t counts[MW_STATE_COUNT] = {0};
    if (list) {
        n = gossip_member_list (self->members, list, n);
        for (size_t i = 0; i < n; i++)
            if (list[i].state < MW_STATE_COUNT)
                counts[list[i].state]++;
        free (list);
    }
    json_object *o = json_object_new_object ();
    if (!o)
        return NULL;
    mw_json_add (o, "id", mw_json_str (self->ident.id_hex));
    mw_json_add (o, "name", mw_json_str (self->name));
    mw_json_add (o, "addr", mw_json_str (self->addr));
    mw_json_add (o, "cluster", mw_json_str (self->cluster));

    //  Election: term, role, coordinator, ballot, lease age, counters.
    mw_id_t c;
    char chex[MW_ID_HEX_LEN + 1] = "";
    bool has = election_coordinator (self->election, &c);
    if (has)
        gossip_wire_id_hex (&c, chex);
    uint64_t age = election_lease_age (self->election, now);
    election_stats_t es;
    election_stats (self->election, &es);
    election_ballot_t b;
    election_ballot (self->election, &b);
    char bhex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&b.id, bhex);
    mw_json_add (o, "term", mw_json_u64 (election_term (self->election)));
    mw_json_add (o, "role", mw_json_str (election_role_name (election_role (self->election))));
    mw_json_add (o, "coordinator", has ? mw_json_str (chex) : NULL);
    json_object *ballot = json_object_new_object ();
    if (ballot) {
        mw_json_add (ballot, "term", mw_json_u64 (b.n));
        mw_json_add (ballot, "rank", mw_json_u64 (b.rank));
        mw_json_add (ballot, "id", mw_json_str (bhex));
    }
    mw_json_add (o, "ballot", ballot);
    mw_json_add (o, "lease_age_ms", age == UINT64_MAX ? NULL : mw_json_u64 (age));
    //  One of the coordinator's witnesses right now: their number (0: no,
    //  this box holds the long lease; docs/ELECTION.md section 3).
    mw_json_add (o, "witness", mw_json_u64 (election_witness_count (self->election)));
    const char *ek[] = {"heartbeats_out",    "heartbeats_in",    "prevotes_started", "elections_started",
                        "elections_won",     "step_downs",       "votes_granted",    "stale_ignored",
                        "refused_nonmember", "refused_absurd",   "refused_unproven", "caught_up",
                        "renounced",         "refused_unsigned", "prevote_retries",  "heartbeats_short",
                        "heartbeats_long",   "witness_vetoes"};
    uint64_t ev[] = {es.heartbeats_out,    es.heartbeats_in,    es.prevotes_started, es.elections_started,
                     es.elections_won,     es.step_downs,       es.votes_granted,    es.stale_ignored,
                     es.refused_nonmember, es.refused_absurd,   es.refused_unproven, es.caught_up,
                     es.renounced,         es.refused_unsigned, es.prevote_retries,  es.heartbeats_short,
                     es.heartbeats_long,   es.witness_vetoes};
    mw_json_add (o, "election", s_u64_object (ek, ev, 18));

    mw_json_add (o, "incarnation", mw_json_u64 (gossip_member_incarnation (self->members)));
    mw_json_add (o, "session", mw_json_u64 (self->session));
    mw_json_add (o, "uptime_ms", mw_json_u64 (now - self->started_ms));
    mw_json_add (o, "health", mw_json_u64 (gossip_member_health (self->members)));
    const char *mk[] = {"alive", "suspect", "dead", "left"};
    mw_json_add (o, "members", s_u64_object (mk, counts, 4));
    const gossip_transport_stats_t *st = gossip_transport_stats (self->transport);
    const char *sk[] = {"msgs_in",     "msgs_out",   "bytes_in",      "bytes_out",        "send_dropped",
                        "peers_open",  "beacons_in", "beacons_out",   "beacons_rejected", "send_refused",
                        "peers_known", "routes",     "budget_yields", "replay_senders"};
    uint64_t sv[] = {st->msgs_in,          st->msgs_out,
                     st->bytes_in,         st->bytes_out,
                     st->send_dropped,     st->peers_open,
                     st->beacons_in,       st->beacons_out,
                     st->beacons_rejected, st->send_refused,
                     st->peers_known,      st->routes,
                     st->budget_yields,    gossip_replay_size (self->replay)};
    json_object *stats = s_u64_object (sk, sv, 14);
    json_object *rej = json_object_new_object ();
    for (int r = 0; rej && r < MW_REJ_COUNT; r++)
        mw_json_add (rej, gossip_transport_reject_name ((gossip_reject_t) r), mw_json_u64 (st->rejected[r]));
    if (stats)
        mw_json_add (stats, "rejected", rej);
    else
        json_object_put (rej);
    //  What each message type costs (sealed bytes): where the idle mesh's
    //  bytes go (tests/bench/wire.sh prints it).
    json_object *bt = json_object_new_object ();
    for (int t = 1; bt && t <= MW_MSG_TYPE_MAX; t++) {
        if (!st->type_msgs_out[t] && !st->type_msgs_in[t])
            continue;
        const char *tk[] = {"msgs_out", "bytes_out", "msgs_in", "bytes_in"};
        uint64_t tv[] = {st->type_msgs_out[t], st->type_bytes_out[t], st->type_msgs_in[t],
                         st->type_bytes_in[t]};
        mw_json_add (bt, gossip_wire_type_name ((mw_msg_type_t) t), s_u64_object (tk, tv, 4));
    }
    if (stats)
        mw_json_add (stats, "by_type", bt);
    else
        json_object_put (bt);
    mw_json_add (o, "stats", stats);
    if (self->beacon) {
        //  Discovery beacons: how quiet they have become (gossip/beacon.h).
        gossip_beacon_stats_t bs;
        gossip_beacon_stats (self->beacon, &bs);
        const char *bk[] = {"interval_ms", "sent", "suppressed", "resets", "heard"};
        uint64_t bv[] = {bs.interval_ms, bs.sent, bs.suppressed, bs.resets, bs.heard};
        mw_json_add (o, "beacon", s_u64_object (bk, bv, 5));
    }
    //  File descriptors and the connection guard: what an outsider's flood
    //  has cost, and what it was refused.
    json_object *fds = json_object_new_object ();
    mw_json_add (fds, "open", mw_json_i64 (gossip_guard_fds_open ()));
    mw_json_add (fds, "limit", mw_json_u64 (self->nofile));
    mw_json_add (o, "fds", fds);
    mw_json_add (o, "connections", self->guard ? gossip_guard_stats_json (self->guard) : NULL);
    s_status_robust (self, o);
    if (self->jobs)
        mw_json_add (o, "jobs", node_jobs_status_json (self->jobs));
    if (self->cameras)
        mw_json_add (o, "cameras", node_cameras_status_json (self->cameras));
    if (self->pkg)
        mw_json_add (o, "packages", pkg_service_status_json (self->pkg));
    if (self->deploy)
        mw_json_add (o, "deployments", node_deploy_status_json (self->deploy));
    if (self->vms)
        mw_json_add (o, "vms", node_vms_status_json (self->vms));
    return o;
}

//  "load QUEUE RATE": the scheduler's inputs (inference queue length, job
//  arrivals per second), until the scheduler issue measures them itself.
static json_object *
s_ctl_load (void *ctx, const node_control_req_t *req)
{
    agent_t *self = (agent_t *) ctx;
    char *end = NULL;
    errno = 0;
    unsigned long q = strtoul (req->args, &end, 10);
    double rate = end && *end == ' ' ? strtod (end + 1, &end) : -1;
    if (errno || !end || *end || end == req->args || q > UINT32_MAX || !(rate >= 0 && rate < 1e6))
        return node_control_error ("bad_request", "usage: load QUEUE RATE (queue length, jobs per second)");
    if (!self->load)
        return node_control_error ("unavailable", "resource monitoring is off");
    node_load_set_inputs (self->load, (uint32_t) q, rate);
    json_object *o = json_object_new_object ();
    if (o) {
        mw_json_add (o, "queue", mw_json_u64 (q));
        mw_json_add (o, "arrival_rate", mw_json_num (rate, 2));
    }
    return o;
}

static json_object *
s_ctl_leave (void *ctx, const node_control_req_t *req)
{
    agent_t *self = (agent_t *) ctx;
    (void) req;
    node_loop_stop (self->loop);
    json_object *o = json_object_new_object ();
    if (o)
        mw_json_add (o, "leaving", mw_json_bool (true));
    return o;
}

//  submit / job / jobs on an agent with JOB_PORT=0.
static json_object *
s_ctl_no_jobs (void *ctx, const node_control_req_t *req)
{
    (void) ctx, (void) req;
    return node_control_error ("unavailable", "this agent runs no jobs (JOB_PORT=0)");
}

//  Once per COLLECT_INTERVAL_MS: sample, forecast, refresh our digest (it
//  rides on our alive record), the /metrics snapshot and the usage poster.
static void
s_collect_tick (agent_t *self, uint64_t now)
{
    if (!self->load || now < self->next_collect_ms)
        return;
    self->next_collect_ms = now + self->collect_interval_ms;
    if (self->jobs) {
        node_jobs_digest_t jd;
        node_jobs_digest (self->jobs, &jd);
        node_load_set_jobs (self->load, jd.port, jd.svc_ms, jd.workers, jd.queue_max);
        node_load_set_inputs (self->load, jd.queue_len, jd.arrival_rate);
    }
    node_load_set_pkg_port (self->load, self->pkg_port);
    uint8_t digest[MW_DIGEST_MAX];
    uint64_t wall = mw_wall_ms ();
    int len = node_load_tick (self->load, now, wall, digest, sizeof digest);
    if (len > 0) {
        sched_digest_t d;
        bool decoded = sched_digest_decode (digest, (size_t) len, &d) == 0;
        //  Gossiped only when it is news (a move, a busy box, or its age):
        //  an idle box's jitter would otherwise cost every peer a stream of
        //  messages.
        if (!decoded
            || sched_freshness_due (&self->freshness, self->digest_pub_valid ? &self->digest_pub : NULL, &d,
                                    now - self->digest_pub_ms)) {
            gossip_member_set_digest (self->members, digest, (size_t) len, now);
            self->digest_pub = d;
            self->digest_pub_valid = decoded;
            self->digest_pub_ms = now;
        }
        //  Forecast headroom is part of the coordinator rank (with
        //  hysteresis inside the election: a spike never moves the role).
        if (decoded) {
            double h = sched_digest_headroom (&d);
            election_set_headroom (self->election, h < 0 ? 0 : h > 100 ? 100 : (uint32_t) h, now);
        }
    }
    const node_collect_sample_t *s = node_load_sample (self->load);
    if (self->jobs)
        node_jobs_set_util (self->jobs, s->cpu_pct / 100.0);
    if (self->usage)
        node_usage_set (self->usage, s->cpu_pct, s->mem_pct);
    if (self->metrics) {
        size_t n = gossip_member_size (self->members);
        gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
        mw_prom_t *text = mw_prom_new ();
        if (list && text) {
            n = gossip_member_list (self->members, list, n);
            node_load_prometheus (self->load, text, list, n, gossip_transport_stats (self->transport), wall);
            mw_prom_family (text, "meshwatch_term", "gauge",
                            "Highest coordinator election term this node has seen.");
            mw_prom_u64 (text, "meshwatch_term", election_term (self->election), NULL);
            mw_prom_family (text, "meshwatch_is_coordinator", "gauge", "1 if this node is the coordinator.");
            mw_prom_u64 (text, "meshwatch_is_coordinator", election_is_coordinator (self->election) ? 1 : 0,
                         NULL);
            if (self->jobs)
                node_jobs_prometheus (self->jobs, text);
            if (self->cameras)
                node_cameras_prometheus (self->cameras, text);
            if (self->pkg)
                pkg_service_prometheus (self->pkg, text);
            node_vms_prometheus (self->vms, text);
            if (mw_prom_text (text))
                node_metrics_publish (self->metrics, mw_prom_text (text), mw_prom_len (text));
        }
        mw_prom_destroy (&text);
        free (list);
    }
}

//  --------------------------------------------------------------------------
//  The services

//  mesh: the transport's sockets and SWIM membership.
static int
s_mesh_items (void *ctx, zmq_pollitem_t *items, int max)
{
    agent_t *self = (agent_t *) ctx;
    //  Inbound ROUTER and the outbound socket: replies come back on the
    //  connections we opened.
    return gossip_transport_pollitems (self->transport, items, max);
}

#define ESIG_FAIL_RATE  1024.0   //  failed election signature checks a second (and burst)
#define ESIG_LOG_GAP_MS 60000

//  A heartbeat's pair MAC: made under the key only its sender and we hold.
static bool
s_mac_ok (agent_t *self, const uint8_t pk[MW_PK_MAX], const mw_msg_t *msg)
{
    uint8_t key[32];
    bool ok = self->pairkeys && gossip_pairkeys_get (self->pairkeys, pk, key) == 0
              && gossip_sign_msg_mac_verify (key, &self->ident.id, msg);
    sodium_memzero (key, sizeof key);
    return ok;
}

//  The member table's key for an id (the transport's lookup for MACs).
static bool
s_member_pk (void *ctx, const mw_id_t *id, uint8_t pk[MW_PK_MAX])
{
    agent_t *self = (agent_t *) ctx;
    return self->members && gossip_member_pk (self->members, id, pk);
}

//  Is this election message its sender's word?  Signed by the key of the
//  member it names, for us (gossip/sign.h).  A sender we hold no record of
//  is no member: the election would not hear it anyway.
static bool
s_election_verify (agent_t *self, const mw_msg_t *msg, uint64_t now)
{
    uint8_t pk[MW_PK_MAX];
    if (!gossip_member_pk (self->members, &msg->sender, pk)) {
        self->esig.no_key++;
        return false;
    }
    double elapsed = (double) (now - self->esig.fail_ms) / 1000.0;
    self->esig.fail_ms = now;
    self->esig.fail_tokens += elapsed * ESIG_FAIL_RATE;
    if (self->esig.fail_tokens > ESIG_FAIL_RATE)
        self->esig.fail_tokens = ESIG_FAIL_RATE;
    bool ok = false;
    if (self->esig.fail_tokens < 1.0)
        self->esig.shed++;
    else if (msg->signature_len == GOSSIP_MAC_LEN ? s_mac_ok (self, pk, msg)
                                                  : gossip_sign_msg_verify (pk, &self->ident.id, msg)) {
        self->esig.verified++;
        ok = true;
    }
    else {
        self->esig.fail_tokens -= 1.0;
        self->esig.bad++;
    }
    if (!ok) {
        //  In a member's name, not by its key: a key holder forging (or a
        //  version-1 agent, which the transport refuses first).  Loud, but
        //  once a minute.
        self->esig.since_log++;
        if (now >= self->esig.log_ms) {
            char hex[MW_ID_HEX_LEN + 1];
            gossip_wire_id_hex (&msg->sender, hex);
            mw_warn ("election_signature_refused", "count=%llu bad=%llu shed=%llu last_sender=%s type=%s",
                     (unsigned long long) self->esig.since_log, (unsigned long long) self->esig.bad,
                     (unsigned long long) self->esig.shed, hex, gossip_wire_type_name (msg->type));
            self->esig.since_log = 0;
            self->esig.log_ms = now + ESIG_LOG_GAP_MS;
        }
    }
    return ok;
}

//  The replay gate (gossip/crypto.h): a member's new session is heard only
//  once a record signed by the member names it (known, or carried in the
//  message that brings it: a restarted node's first messages carry its
//  fresh record).  Anyone else is bounded by the clock rule.
static bool
s_session_gate (void *ctx, const mw_id_t *sender, bool known, uint64_t old_session, uint64_t new_session,
                const mw_msg_t *carrier)
{
    agent_t *self = (agent_t *) ctx;
    return !self->members
           || gossip_member_session_certified (self->members, sender, new_session, carrier, mw_now_ms ());
}

static void
s_mesh_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    (void) item;
    bool leaving = node_loop_leaving (self->loop);
    //  Drain in bounded batches so timers still run under a flood.
    uint64_t other = s_other_key (self);
    for (int i = 0; i < 256; i++) {
        mw_msg_t msg;
        int r = gossip_transport_recv (self->transport, &msg);
        if (r < 0)
            break;
        if (r == 1) {
            node_keywatch_valid (self->keywatch, now);
            election_msg_t em;
            if (node_msgmap_election_from_wire (&msg, &em) == 0) {
                if (!leaving) {
                    em.verified = s_election_verify (self, &msg, now);
                    if (em.type != ELECTION_MSG_HEARTBEAT) {
                        char hex[MW_ID_HEX_LEN + 1];
                        gossip_wire_id_hex (&em.sender, hex);
                        mw_debug (em.type == ELECTION_MSG_VOTE_REQ ? "vote_req_in" : "vote_in",
                                  "from=%s term=%llu rank=%u pre=%d granted=%d verified=%d", hex,
                                  (unsigned long long) em.term, em.rank, em.pre, em.granted, em.verified);
                    }
                    election_handle (self->election, &em, now);
                }
            }
            else if (msg.type >= MW_MSG_DEPLOY_PLAN && msg.type <= MW_MSG_DEPLOY_CMD) {
                if (self->deploy && !leaving)
                    node_deploy_handle (self->deploy, &msg, now);
            }
            else if (self->cameras && node_cameras_handle (self->cameras, &msg, now)) {
                //  camera registry or focus
            }
            else if (msg.type != MW_MSG_BEACON)
                gossip_member_handle (self->members, &msg, now);
            gossip_wire_msg_clear (&msg);
        }
    }
    node_keywatch_other (self->keywatch, NULL, s_other_key (self) - other, now);
}

static void s_persist_incarnation (agent_t *self);

static void
s_mesh_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    gossip_member_tick (self->members, now);
    s_persist_incarnation (self);
    s_peers_sync (self, now);
    node_statedb_tick (self->db, now);
    if (!node_loop_leaving (self->loop))
        s_keywatch_tick (self, now);
    if (!node_loop_leaving (self->loop) && now >= self->next_prune_ms) {
        //  Probes and gossip go as datagrams: a mesh connection carries a
        //  full state now and then, and an idle one is closed within 15 s
        //  (before TCP keepalive would probe it: gossip/transport.c).
        gossip_transport_prune (self->transport, now, 10000);
        self->next_prune_ms = now + 5000;
    }
}

static uint64_t
s_mesh_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    uint64_t w = gossip_member_next_wakeup (self->members, now);
    return w < self->next_prune_ms ? w : self->next_prune_ms;
}

//  Graceful leave: tell peers, then keep the loop running a moment so the
//  LEFT update and its acks get out.
static uint64_t
s_mesh_leave (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    //  Count peers before leaving: once our own record says LEFT, we no
    //  longer count ourselves, and one peer would look like none.
    bool peers = s_has_peers (self);
    mw_info ("agent_leaving", "peers=%zu", gossip_member_alive_count (self->members) - 1);
    gossip_member_leave (self->members, now);
    return peers ? now + 500 : now;
}

//  discovery: beacons out and in, seeds.
static int
s_disc_items (void *ctx, zmq_pollitem_t *items, int max)
{
    agent_t *self = (agent_t *) ctx;
    if (!self->disc)
        return 0;
    if (max >= 1)
        items[0] = (zmq_pollitem_t){zsock_resolve (gossip_discovery_sock (self->disc)), 0, ZMQ_POLLIN, 0};
    return 1;
}

static void
s_disc_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    (void) item;
    for (int i = 0; i < 64 && (zsock_events (gossip_discovery_sock (self->disc)) & ZMQ_POLLIN); i++)
        s_beacon_recv (self, now);
}

static void
s_disc_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (node_loop_leaving (self->loop))
        return;
    if (self->disc) {
        gossip_beacon_view (self->beacon, gossip_member_alive_count (self->members) - 1,
                            self->beacon_view_changed, now);
        self->beacon_view_changed = false;
        if (gossip_beacon_tick (self->beacon, now))
            s_beacon_publish (self);
        s_answers_tick (self, now);
    }
    s_join_tick (self, now);
}

static uint64_t
s_disc_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    (void) now;
    if (node_loop_leaving (self->loop))
        return UINT64_MAX;
    uint64_t w = self->next_join_ms;
    if (self->disc) {
        uint64_t b = gossip_beacon_next_wakeup (self->beacon, now);
        if (b < w)
            w = b;
        for (size_t i = 0; i < 16; i++)
            if (self->answers[i].at_ms && self->answers[i].at_ms < w)
                w = self->answers[i].at_ms;
    }
    return w;
}

//  load: resources, forecasts, digest, /metrics, usage POST.
static void
s_load_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!node_loop_leaving (self->loop))
        s_collect_tick (self, now);
}

static uint64_t
s_load_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    (void) now;
    return self->load && !node_loop_leaving (self->loop) ? self->next_collect_ms : UINT64_MAX;
}

//  election: the SWIM view in, the rules' timers.
static void
s_elect_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (node_loop_leaving (self->loop))
        return;
    s_election_view (self, now);
    election_tick (self->election, now);
}

static uint64_t
s_elect_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (node_loop_leaving (self->loop))
        return UINT64_MAX;
    uint64_t w = election_next_wakeup (self->election, now);
    return w < self->next_view_ms ? w : self->next_view_ms;
}

static uint64_t
s_elect_leave (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    election_leave (self->election, now);   //  a coordinator resigns: no lease to wait out
    return now;
}

//  jobs: node_jobs' own service, plus the peers' capacity from the view.
static int
s_jobs_items (void *ctx, zmq_pollitem_t *items, int max)
{
    agent_t *self = (agent_t *) ctx;
    return self->jobs ? node_jobs_pollitems (self->jobs, items, max) : 0;
}

static void
s_jobs_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    (void) item;
    node_jobs_readable (self->jobs, now);
}

static void
s_jobs_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!self->jobs || node_loop_leaving (self->loop))
        return;
    //  Peers' job capacity comes from their digests; 4 looks a second are
    //  plenty (a digest is refreshed once a second).
    if (now >= self->next_peers_ms) {
        node_jobs_update_peers (self->jobs, self->members, mw_wall_ms ());
        self->next_peers_ms = now + 250;
    }
    node_jobs_tick (self->jobs, now);
}

static uint64_t
s_jobs_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!self->jobs || node_loop_leaving (self->loop))
        return UINT64_MAX;
    uint64_t w = node_jobs_next_wakeup (self->jobs, now);
    return w < self->next_peers_ms ? w : self->next_peers_ms;
}

//  packages: pkg_service's own service, plus the peers from the view.
static void
s_pkg_tick (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!self->pkg || node_loop_leaving (self->loop))
        return;
    if (now >= self->next_pkg_peers_ms) {
        pkg_service_update_peers (self->pkg, self->members, now);
        self->next_pkg_peers_ms = now + 250;
    }
    self->pkg_svc.tick (self->pkg, now);
}

static uint64_t
s_pkg_wakeup (void *ctx, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    if (!self->pkg || node_loop_leaving (self->loop))
        return UINT64_MAX;
    uint64_t w = self->pkg_svc.next_wakeup (self->pkg, now);
    return w < self->next_pkg_peers_ms ? w : self->next_pkg_peers_ms;
}

static int
s_pkg_items (void *ctx, zmq_pollitem_t *items, int max)
{
    agent_t *self = (agent_t *) ctx;
    return self->pkg ? self->pkg_svc.pollitems (self->pkg, items, max) : 0;
}

static void
s_pkg_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    agent_t *self = (agent_t *) ctx;
    self->pkg_svc.readable (self->pkg, item, now);
}

//  --------------------------------------------------------------------------
//  Start-up and the loop

//  A refutation raises our incarnation; it is written behind (coalesced, at
//  most once a second, off the loop): refutations are driven by what peers
//  say about us, so a flood of them must not become a flood of fsyncs.  The
//  start-up bump, which must be on disk before the first packet, is
//  synchronous (s_setup).  A refutation lost in a crash costs nothing but a
//  second refutation after the restart.
static void
s_persist_incarnation (agent_t *self)
{
    uint64_t inc = gossip_member_incarnation (self->members);
    if (inc > self->incarnation_saved && node_statedb_set_u64_later (self->db, "incarnation", inc) == 0)
        self->incarnation_saved = inc;
}

static void s_fd_budget (agent_t *self);

static int
s_setup (agent_t *self, char *err, size_t errlen)
{
    mw_config_t *cfg = self->cfg;
    const char *state_dir = mw_config_settings (cfg)->state_dir;
    if (gossip_identity_load (state_dir, &self->ident, err, errlen) != 0)
        return -1;
    mw_log_set_node (self->ident.id_hex);
    snprintf (self->name, sizeof self->name, "%s", mw_config_settings (cfg)->node_name);
    snprintf (self->cluster, sizeof self->cluster, "%s", mw_config_settings (cfg)->cluster_name);

    self->db = node_statedb_open (state_dir, err, errlen);
    if (!self->db)
        return -1;
    uint64_t inc = 0, session = 0;
    if (node_statedb_get_u64 (self->db, "incarnation", &inc) < 0
        || node_statedb_get_u64 (self->db, "session", &session) < 0) {
        snprintf (err, errlen, "%s/state.db: cannot read state", state_dir);
        return -1;
    }
    inc += 1;
    self->session = mw_wall_ms ();
    if (self->session <= session)
        self->session = session + 1;   //  clock went back: still newer
    const char *keys[] = {"incarnation", "session"};
    uint64_t values[] = {inc, self->session};
    if (node_statedb_set_u64s (self->db, keys, values, 2)) {
        //  Refuse rather than risk reusing an incarnation: one line, with
        //  the way out (README, "Disk full").
        snprintf (err, errlen,
                  "%s/state.db: cannot save the incarnation before joining (%s); free space in STATE_DIR=%s "
                  "(or make it writable) and start again",
                  state_dir, node_statedb_last_error (self->db), state_dir);
        return -1;
    }
    self->incarnation_saved = inc;

    self->keywatch = node_keywatch_new (10000, 60000);
    self->keys = gossip_keyring_new (mw_config_settings (cfg)->cluster_key);
    if (!self->keys) {
        snprintf (err, errlen, "CLUSTER_KEY is not a valid key");
        return -1;
    }
    const char *extra[MW_KEYRING_MAX];
    size_t n_extra =
        mw_config_split (cfg, mw_config_settings (cfg)->cluster_key_extra, extra, MW_KEYRING_MAX);
    for (size_t i = 0; i < n_extra; i++)
        if (gossip_keyring_add (self->keys, extra[i]) != 0) {
            snprintf (err, errlen, "CLUSTER_KEY_EXTRA: too many keys (at most %d)", MW_KEYRING_MAX - 1);
            return -1;
        }
    self->replay = gossip_replay_new ((uint64_t) mw_config_settings (cfg)->max_clock_skew_ms);
    if (!self->replay)
        return -1;

    //  Address: the interface's (from the beacon) unless MESH_ADDR says.
    const char *iface = mw_config_settings (cfg)->mesh_interface;
    int mesh_port = (int) mw_config_settings (cfg)->mesh_port;
    if (*iface) {
        self->disc = gossip_discovery_new (iface, (int) mw_config_settings (cfg)->beacon_port, self->ip,
                                           sizeof self->ip);
        if (!self->disc) {
            snprintf (err, errlen, "MESH_INTERFACE=%s: no such interface or no IPv4 broadcast address",
                      iface);
            return -1;
        }
    }
    if (*mw_config_settings (cfg)->mesh_addr)
        snprintf (self->ip, sizeof self->ip, "%s", mw_config_settings (cfg)->mesh_addr);
    if (strchr (self->ip, ':'))
        snprintf (self->addr, sizeof self->addr, "tcp://[%s]:%d", self->ip, mesh_port);
    else
        snprintf (self->addr, sizeof self->addr, "tcp://%s:%d", self->ip, mesh_port);
    //  Connection caps (gossip/guard.h).  The global cap is provisional
    //  until every socket is open (end of setup): the fd budget is what is
    //  left then.
    self->guard = gossip_guard_new ((uint32_t) (self->nofile / 2));
    if (!self->guard) {
        snprintf (err, errlen, "cannot start the connection guard");
        return -1;
    }
    gossip_transport_opts_t topts;
    gossip_transport_opts_defaults (&topts);
    topts.guard = self->guard;
    topts.out_max = self->out_max;
    self->transport =
        gossip_transport_new_opts (self->addr, &self->ident, self->keys, self->replay, self->session, &topts);
    if (!self->transport) {
        snprintf (err, errlen, "cannot listen on %s (MESH_PORT in use?)", self->addr);
        return -1;
    }
    //  The event stream (EVENTS_PORT=0: no PUB, the events still reach the
    //  log and the API).
    int events_port = (int) mw_config_settings (cfg)->events_port;
    //  The event stream: loopback unless EVENTS_BIND=mesh, and then only with
    //  CURVE and an allow-list of subscribers (a VMS with its own key pair).
    if (events_port > 0) {
        self->events =
            node_curve_open_events (cfg, self->ip, events_port, self->guard, &self->curve, err, errlen);
        if (!self->events)
            return -1;
    }
    else {
        self->events = node_events_new (NULL, 0);
        if (!self->events) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
    }

    //  The data plane for jobs: JOB_PORT, default MESH_PORT + 2; 0 = none.
    int job_port =
        mw_config_settings (cfg)->set.job_port ? (int) mw_config_settings (cfg)->job_port : mesh_port + 2;
    if (job_port > 65535) {
        snprintf (err, errlen, "JOB_PORT: MESH_PORT + 2 is above 65535; set JOB_PORT");
        return -1;
    }
    if (job_port > 0) {
        char ep[MW_ADDR_MAX + 1];
        if (strchr (self->ip, ':'))
            snprintf (ep, sizeof ep, "tcp://[%s]:%d", self->ip, job_port);
        else
            snprintf (ep, sizeof ep, "tcp://%s:%d", self->ip, job_port);
        node_jobs_opts_t jo = {cfg,          &self->ident, self->keys,  self->session, ep, ep,
                               self->events, false,        self->guard, self->out_max, 0};
        self->jobs = node_jobs_new (&jo, err, errlen);
        if (!self->jobs)
            return -1;
    }

    //  AI packages: PKG_PORT, default MESH_PORT + 4 when JOB_PORT is left
    //  unset (config.c checks the ports); 0 = none.
    int pkg_port = mw_config_settings (cfg)->set.pkg_port   ? (int) mw_config_settings (cfg)->pkg_port
                   : mw_config_settings (cfg)->set.job_port ? 0
                                                            : mesh_port + 4;
    if (pkg_port > 0 && pkg_port <= 65535) {
        char ep[MW_ADDR_MAX + 1];
        if (strchr (self->ip, ':'))
            snprintf (ep, sizeof ep, "tcp://[%s]:%d", self->ip, pkg_port);
        else
            snprintf (ep, sizeof ep, "tcp://%s:%d", self->ip, pkg_port);
        pkg_service_opts_t po = {.state_dir = state_dir,
                                 .trusted_keys = mw_config_settings (cfg)->trusted_keys,
                                 .ident = &self->ident,
                                 .keys = self->keys,
                                 .session = self->session,
                                 .max_clock_skew_ms = (uint64_t) mw_config_settings (cfg)->max_clock_skew_ms,
                                 .bind_endpoint = ep,
                                 .max_mbps = (double) mw_config_settings (cfg)->pkg_max_mbps,
                                 .max_packages = (uint32_t) mw_config_settings (cfg)->pkg_max_packages,
                                 .events = self->events,
                                 .guard = self->guard,
                                 .out_max = self->out_max};
        self->pkg = pkg_service_new (&po, err, errlen);
        if (!self->pkg)
            return -1;
        pkg_service_service (self->pkg, &self->pkg_svc);
        self->pkg_port = (uint16_t) pkg_port;
    }

    //  Control socket: owner-only (the directory is 0700 and the socket 0600);
    //  a submit request carries a frame.
    self->control = node_control_new (state_dir, MW_FRAME_MAX + 4096, err, errlen);
    if (!self->control)
        return -1;

    //  The VMS interface: from here on every event is numbered and logged.
    node_vms_opts_t vo = {cfg, self->ident.id_hex, self->ip, self->events, self->control};
    self->vms = node_vms_new (&vo, err, errlen);
    if (!self->vms)
        return -1;
    if (self->jobs && node_vms_api (self->vms))
        node_api_handle (node_vms_api (self->vms), "GET", "/api/v1/jobs", s_api_jobs, self);
    self->docs_dirty = true;

    gossip_member_cfg_t mcfg;
    gossip_member_cfg_defaults (&mcfg);
#define MW_CFG_U32(KEY, field)                                                                               \
    if (mw_config_settings (cfg)->set.KEY)                                                                   \
        mcfg.field = (uint32_t) mw_config_settings (cfg)->KEY;
    MW_CFG_U32 (probe_interval_ms, probe_interval_ms)
    MW_CFG_U32 (probe_timeout_ms, probe_timeout_ms)
    MW_CFG_U32 (indirect_k, indirect_k)
    MW_CFG_U32 (suspicion_mult, suspicion_mult)
    MW_CFG_U32 (suspicion_min_ms, suspicion_min_ms)
    MW_CFG_U32 (suspicion_max_mult, suspicion_max_mult)
    MW_CFG_U32 (gossip_interval_ms, gossip_interval_ms)
    MW_CFG_U32 (gossip_fanout, gossip_fanout)
    MW_CFG_U32 (retransmit_mult, retransmit_mult)
    MW_CFG_U32 (pushpull_interval_ms, pushpull_interval_ms)
    MW_CFG_U32 (dead_reap_ms, dead_reap_ms)
    MW_CFG_U32 (awareness_max, awareness_max)
    MW_CFG_U32 (max_members, max_members)
    MW_CFG_U32 (member_insert_rate, insert_rate)
#undef MW_CFG_U32
    self->max_members = mcfg.max_members;
    uint64_t seed = 0;
    randombytes_buf (&seed, sizeof seed);
    self->members = gossip_member_new (&mcfg, &self->ident, self->session, self->name, self->addr, inc, seed,
                                       s_send, s_on_member, self);
    if (!self->members) {
        snprintf (err, errlen, "cannot create the membership table (bad SWIM timings?)");
        return -1;
    }
    gossip_replay_set_gate (self->replay, s_session_gate, self);
    //  Heartbeats carry pair MACs: one key per peer, at most the member
    //  table's size (gossip/sign.h, "Pair MACs").
    self->pairkeys = gossip_pairkeys_new (&self->ident, self->max_members);
    if (!self->pairkeys) {
        snprintf (err, errlen, "cannot create the pair-key table");
        return -1;
    }
    gossip_transport_set_pairkeys (self->transport, self->pairkeys, s_member_pk, self);

    //  Election: highest ballot and vote as persisted (they only grow,
    //  across restarts).  A state DB from before ballots holds only the
    //  term and the id voted for in it: the vote counts for that term.
    uint64_t eterm = 0, erank = 0, eid = 0, vterm = UINT64_MAX, vrank = 0, vid = 0;
    if (node_statedb_get_u64 (self->db, "election_term", &eterm) < 0
        || node_statedb_get_u64 (self->db, "election_rank", &erank) < 0
        || node_statedb_get_u64 (self->db, "election_id", &eid) < 0
        || node_statedb_get_u64 (self->db, "election_vote_term", &vterm) < 0
        || node_statedb_get_u64 (self->db, "election_vote_rank", &vrank) < 0
        || node_statedb_get_u64 (self->db, "election_voted_for", &vid) < 0) {
        snprintf (err, errlen, "%s/state.db: cannot read the election state", state_dir);
        return -1;
    }
    bool old_format = vterm == UINT64_MAX;
    if (old_format)
        vterm = vid ? eterm : 0;
    //  (A rank beyond 32 bits is absurd: saturate, validation bounds it.)
    election_ballot_t hi = {eterm, erank > UINT32_MAX ? UINT32_MAX : (uint32_t) erank, {{0}}},
                      voted = {vterm, vrank > UINT32_MAX ? UINT32_MAX : (uint32_t) vrank, {{0}}};
    s_election_u64_id (eid, &hi.id);
    s_election_u64_id (vid, &voted.id);
    if (old_format && vid)
        hi = voted;   //  the vote was for that term: never below it
    //  Validated before use: an absurd ballot on disk (a forger's, from a
    //  version that adopted any ballot) is reset, loudly, and written back.
    bool has_vote = vterm != 0;
    election_ballot_t hi0 = hi, voted0 = voted;
    int fixed = election_state_validate (&hi, &voted, &has_vote);
    if (fixed) {
        mw_warn ("election_state_reset",
                 "term=%llu rank=%llu vote_term=%llu vote_rank=%llu new_term=%llu new_vote_term=%llu "
                 "reason=\"absurd persisted ballot (counter above %llu or rank above %u)\"",
                 (unsigned long long) hi0.n, (unsigned long long) erank, (unsigned long long) voted0.n,
                 (unsigned long long) vrank, (unsigned long long) hi.n,
                 (unsigned long long) (has_vote ? voted.n : 0), (unsigned long long) ELECTION_TERM_MAX,
                 ELECTION_RANK_MAX);
        if (s_election_persist (self, &hi, has_vote ? &voted : NULL) != 0) {
            snprintf (err, errlen, "%s/state.db: cannot write the repaired election state", state_dir);
            return -1;
        }
    }
    vterm = has_vote ? voted.n : 0;
    election_cfg_t ecfg;
    election_cfg_defaults (&ecfg);
    ecfg.priority = (uint32_t) mw_config_settings (cfg)->coordinator_priority;
    ecfg.timeout_ms = (uint32_t) mw_config_settings (cfg)->election_timeout_ms;
    ecfg.heartbeat_ms = (uint32_t) mw_config_settings (cfg)->heartbeat_interval_ms;
    ecfg.witnesses = (uint32_t) mw_config_settings (cfg)->election_witnesses;
    ecfg.follow_ms = (uint32_t) mw_config_settings (cfg)->election_follow_ms;
    ecfg.rotate_ms = (uint32_t) mw_config_settings (cfg)->election_rotate_ms;
    randombytes_buf (&seed, sizeof seed);
    self->election = election_new (&ecfg, &self->ident.id, &hi, vterm ? &voted : NULL, seed, mw_now_ms (),
                                   s_election_persist, s_election_send, s_election_event, self);
    if (!self->election) {
        snprintf (err, errlen,
                  "cannot create the election (HEARTBEAT_INTERVAL_MS > ELECTION_TIMEOUT_MS / 2, or "
                  "ELECTION_FOLLOW_MS < HEARTBEAT_INTERVAL_MS?)");
        return -1;
    }
    self->view_dirty = true;

    const char *seeds[16];
    size_t n = mw_config_split (cfg, mw_config_settings (cfg)->join, seeds, 16);
    for (size_t i = 0; i < n; i++) {
        snprintf (self->seeds[self->n_seeds], MW_ADDR_MAX + 1, "tcp://%s", seeds[i]);
        //  Configured: ours to connect to (unbound until it answers).
        gossip_transport_peer_add (self->transport, self->seeds[self->n_seeds++], NULL, 0);
    }
    if (self->disc) {
        gossip_beacon_cfg_t bcfg;
        gossip_beacon_cfg_defaults (&bcfg);
        bcfg.fast_ms = (uint32_t) mw_config_settings (cfg)->beacon_interval_ms;
        bcfg.quiet_ms = (uint32_t) mw_config_settings (cfg)->beacon_quiet_ms;
        if (bcfg.quiet_ms < bcfg.fast_ms)
            bcfg.quiet_ms = bcfg.fast_ms;
        bcfg.alone_ms = 4 * bcfg.fast_ms < bcfg.quiet_ms ? 4 * bcfg.fast_ms : bcfg.quiet_ms;
        randombytes_buf (&seed, sizeof seed);
        self->beacon = gossip_beacon_new (&bcfg, seed, mw_now_ms ());
        if (!self->beacon) {
            snprintf (err, errlen, "cannot create the beacon schedule");
            return -1;
        }
    }

    //  Resources and forecasts (on unless COLLECT_INTERVAL_MS=0: peers decide
    //  on our digest).
    uint32_t horizons[2] = {5, 30};
    size_t n_h = 0;
    for (const char *p = mw_config_settings (cfg)->forecast_horizons_s; *p && n_h < 2;) {
        horizons[n_h++] = (uint32_t) strtoul (p, (char **) &p, 10);   //  validated by config
        if (*p == ',')
            p++;
    }
    self->collect_interval_ms = (uint32_t) mw_config_settings (cfg)->collect_interval_ms;
    sched_freshness_defaults (&self->freshness);
    self->freshness.max_age_ms = (uint32_t) mw_config_settings (cfg)->digest_max_age_ms;
    if (self->collect_interval_ms > 0) {
        self->load = node_load_new (self->collect_interval_ms, horizons, n_h ? n_h : 2, NULL);
        if (!self->load)
            mw_warn ("load_off", "reason=\"cannot read /proc: no resource digest\"");
    }
    if (self->load) {
        //  Our API's address rides in the digest: any box lists every box's.
        bool https = false;
        int api_port = node_vms_api_port_public (self->vms, &https);
        node_load_set_api (self->load, (uint16_t) api_port, https);
    }
    int metrics_port = (int) mw_config_settings (cfg)->metrics_port;
    if (metrics_port > 0 && self->load) {
        //  Plain HTTP, no authentication: loopback unless the operator
        //  says otherwise (METRICS_BIND=mesh, for a scraper on the LAN).
        bool mesh = strcmp (mw_config_settings (cfg)->metrics_bind, "mesh") == 0;
        self->metrics = node_metrics_new (mesh ? self->ip : "127.0.0.1", metrics_port);
        if (!self->metrics) {
            snprintf (err, errlen, "cannot listen on METRICS_PORT=%d", metrics_port);
            return -1;
        }
    }
    if (*mw_config_settings (cfg)->usage_url && self->load) {
        self->usage = node_usage_new (mw_config_settings (cfg)->usage_url, self->name,
                                      (uint32_t) mw_config_settings (cfg)->usage_interval, 2000);
        if (!self->usage) {
            snprintf (err, errlen, "cannot start the usage poster for USAGE_URL");
            return -1;
        }
    }
    //  The CLI's commands.
    node_control_on (self->control, "members", 1, s_ctl_members, self);
    node_control_on (self->control, "status", 1, s_ctl_status, self);
    node_control_on (self->control, "load", 1, s_ctl_load, self);
    node_control_on (self->control, "leave", 1, s_ctl_leave, self);
    if (self->pkg) {
        pkg_service_control_register (self->pkg, self->control);
        //  Deployments ride on the packages: no package plane, no deploy.
        const mw_settings_t *st = mw_config_settings (self->cfg);
        node_deploy_opts_t dopt = {.state_dir = st->state_dir,
                                   .ident = &self->ident,
                                   .node_name = self->name,
                                   .members = self->members,
                                   .transport = self->transport,
                                   .election = self->election,
                                   .events = self->events,
                                   .check_ms = (uint32_t) st->deploy_check_s * 1000u,
                                   .wave_timeout_ms = (uint32_t) st->deploy_wave_timeout_s * 1000u,
                                   .cgroup_root = st->cgroup_root,
                                   .container_engine = st->container_engine,
                                   .vms = self->vms,
                                   .runner = node_jobs_runner (self->jobs),
                                   .env_result_map = st->env_result_map,
                                   .env_switch_readings = (uint32_t) st->env_switch_readings,
                                   .env_switch_dwell_ms = (uint32_t) st->env_switch_dwell_s * 1000u};
        self->deploy = node_deploy_new (&dopt, err, errlen);
        if (!self->deploy)
            return -1;
        node_deploy_control_register (self->deploy, self->control);
    }
    //  Cameras: the registry, ingest and focus (after membership: placement
    //  and replication read the view).
    node_cameras_opts_t co = {cfg,        &self->ident,  self->name, self->db, self->events,
                              self->jobs, self->members, s_cam_send, self};
    self->cameras = node_cameras_new (&co, err, errlen);
    if (!self->cameras)
        return -1;
    node_cameras_control_register (self->cameras, self->control);
    if (node_cameras_api_register (self->cameras, node_vms_api (self->vms)) != 0)
        mw_warn ("api_routes_missing", "module=cameras reason=\"the API's table lacks a camera route\"");
    if (self->jobs)
        node_jobs_control_register (self->jobs, self->control);
    else {
        node_control_on (self->control, "submit", 6, s_ctl_no_jobs, self);
        node_control_on (self->control, "job", 1, s_ctl_no_jobs, self);
        node_control_on (self->control, "jobs", 1, s_ctl_no_jobs, self);
    }
    s_fd_budget (self);
    return 0;
}

//  Every socket, file and thread of ours is open now: what is left of 70 %
//  of the fd limit, minus the outbound connections of every plane and a
//  reserve (control clients, the state DB's journal, the runner's files),
//  is what the listeners may accept in all.  At the usual limit of 1024
//  that is about 450 connections, and libzmq never gets near EMFILE (which
//  stops a TCP listener and aborts the control socket's ipc listener).
static void
s_fd_budget (agent_t *self)
{
    int open_now = gossip_guard_fds_open ();
    int64_t budget = (int64_t) (self->nofile * 70 / 100) - (open_now > 0 ? open_now : 64)
                     - (self->pkg ? 3 : 2) * (int64_t) self->out_max - 64;
    if (budget < 32) {
        mw_warn ("fd_limit_low",
                 "nofile=%llu open=%d reason=\"raise the hard limit (ulimit -Hn): connections "
                 "capped at 32\"",
                 (unsigned long long) self->nofile, open_now);
        budget = 32;
    }
    gossip_guard_set_global_max (self->guard, (uint32_t) budget);
    mw_info ("fd_budget", "nofile=%llu open=%d out_max=%u listeners_max=%lld",
             (unsigned long long) self->nofile, open_now, self->out_max, (long long) budget);
}

static void
s_teardown (agent_t *self)
{
    node_cameras_destroy (&self->cameras);
    node_deploy_destroy (&self->deploy);
    pkg_service_destroy (&self->pkg);
    node_jobs_destroy (&self->jobs);
    node_keywatch_destroy (&self->keywatch);
    election_destroy (&self->election);
    gossip_member_destroy (&self->members);
    gossip_discovery_destroy (&self->disc);
    gossip_beacon_destroy (&self->beacon);
    node_control_destroy (&self->control);
    node_vms_destroy (&self->vms);   //  commits what is queued, detaches the log
    node_events_destroy (&self->events);
    node_curve_destroy (&self->curve);
    gossip_transport_destroy (&self->transport);
    gossip_pairkeys_destroy (&self->pairkeys);
    gossip_guard_destroy (&self->guard);
    gossip_replay_destroy (&self->replay);
    gossip_keyring_destroy (&self->keys);
    node_statedb_close (&self->db);
    //  Threads first: the poster aborts an in-flight POST, the HTTP server
    //  joins its thread.
    node_usage_destroy (&self->usage);
    node_metrics_destroy (&self->metrics);
    node_load_destroy (&self->load);
}

void
node_agent_destroy (node_agent_t **self_p)
{
    assert (self_p);
    node_agent_t *self = *self_p;
    if (!self)
        return;
    s_teardown (self);
    node_loop_destroy (&self->loop);
    free (self);
    *self_p = NULL;
}

node_agent_t *
node_agent_new (mw_config_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    node_agent_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    //  As many fds as we are allowed, before any is used: the budget the
    //  connection caps are cut from (s_fd_budget).
    self->nofile = gossip_guard_raise_nofile ();
    self->out_max = (uint32_t) (self->nofile / 16 < 16    ? 16
                                : self->nofile / 16 > 128 ? 128
                                                          : self->nofile / 16);
    //  The loop wakes at least every 50 ms: a safety net for any timer a
    //  service keeps without reporting it.
    self->loop = node_loop_new (50);
    if (!self->loop || s_setup (self, err, errlen) != 0) {
        if (!*err)
            snprintf (err, errlen, "out of memory");
        node_agent_destroy (&self);
        return NULL;
    }
    //  The composition, in tick order.
    node_service_t mesh = {"mesh",      self,          s_mesh_items, s_mesh_readable,
                           s_mesh_tick, s_mesh_wakeup, s_mesh_leave};
    node_service_t disc = {"discovery", self,          s_disc_items, s_disc_readable,
                           s_disc_tick, s_disc_wakeup, NULL};
    node_service_t load = {"load", self, NULL, NULL, s_load_tick, s_load_wakeup, NULL};
    node_service_t elect = {"election", self, NULL, NULL, s_elect_tick, s_elect_wakeup, s_elect_leave};
    node_service_t jobs = {"jobs", self, s_jobs_items, s_jobs_readable, s_jobs_tick, s_jobs_wakeup, NULL};
    node_service_t pkg = {"packages", self, s_pkg_items, s_pkg_readable, s_pkg_tick, s_pkg_wakeup, NULL};
    node_service_t cameras;
    node_cameras_service (self->cameras, &cameras);
    node_service_t control;
    node_control_service (self->control, &control);
    node_loop_add (self->loop, &mesh);
    node_loop_add (self->loop, &disc);
    node_loop_add (self->loop, &load);
    node_loop_add (self->loop, &elect);
    node_loop_add (self->loop, &jobs);
    node_loop_add (self->loop, &pkg);
    if (self->deploy) {
        node_service_t dep;
        node_deploy_service (self->deploy, &dep);
        node_loop_add (self->loop, &dep);
    }
    node_loop_add (self->loop, &cameras);
    node_loop_add (self->loop, &control);
    node_service_t docs = {"vmsdocs", self, NULL, NULL, s_docs_tick, s_docs_wakeup, NULL};
    node_loop_add (self->loop, &docs);
    node_vms_services (self->vms, self->loop);
    return self;
}

void
node_agent_watch (node_agent_t *self, volatile sig_atomic_t *flag)
{
    assert (self);
    node_loop_watch (self->loop, flag);
}

int
node_agent_loop (node_agent_t *self)
{
    assert (self);
    self->started_ms = mw_now_ms ();
    mw_info ("agent_started", "name=%s addr=%s inc=%llu beacon=%s seeds=%zu", self->name, self->addr,
             (unsigned long long) gossip_member_incarnation (self->members), self->disc ? "on" : "off",
             self->n_seeds);
    node_event_t e;
    node_event_init (&e, "node", "started", self->ident.id_hex);
    node_event_str (&e, "id", self->ident.id_hex);
    node_event_str (&e, "name", self->name);
    node_event_str (&e, "addr", self->addr);
    node_event_int (&e, "incarnation", (int64_t) gossip_member_incarnation (self->members));
    node_events_publish (self->events, &e);

    uint64_t now = mw_now_ms ();
    self->next_join_ms = now;
    self->next_prune_ms = now + 5000;
    int rc = node_loop_run (self->loop);
    s_persist_incarnation (self);
    gossip_transport_set_linger (self->transport, 200);
    mw_info ("agent_stopped", "inc=%llu", (unsigned long long) gossip_member_incarnation (self->members));
    return rc;
}

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

int
node_agent_run (mw_config_t *cfg)
{
    //  We handle SIGINT/SIGTERM ourselves (graceful leave), not czmq.
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    //  Large buffers (frames, forged ones included) are mmapped and given
    //  back when freed: glibc would otherwise raise this threshold after the
    //  first free and keep a flood's freed megabytes in the heap, so RSS
    //  would follow the worst moment, not the live buffers.
    mallopt (M_MMAP_THRESHOLD, 256 * 1024);

    char err[512] = "";
    node_agent_t *self = node_agent_new (cfg, err, sizeof err);
    if (!self) {
        fprintf (stderr, "meshwatch agent: %s\n", err);
        mw_error ("start_failed", "reason=\"%s\"", err);
        return 1;
    }
    node_agent_watch (self, &s_stop);
    int rc = node_agent_loop (self);
    node_agent_destroy (&self);
    //  A graceful stop is exit 0; a broken poll (logged) is a runtime failure.
    return rc == 0 ? 0 : 1;
}

//  --------------------------------------------------------------------------
//  Selftest: two agents over loopback, each on its own thread, driven
//  through their control sockets as the CLI drives them.

static mw_config_t *
s_test_config (const char *const *lines, char *err, size_t errlen)
{
    mw_config_t *cfg = mw_config_new ();
    for (size_t i = 0; cfg && lines[i]; i++) {
        char key[64];
        const char *eq = strchr (lines[i], '=');
        snprintf (key, sizeof key, "%.*s", (int) (eq - lines[i]), lines[i]);
        if (mw_config_set (cfg, key, eq + 1, "selftest", err, errlen) != 0)
            mw_config_destroy (&cfg);
    }
    if (cfg && mw_config_validate_agent (cfg, err, errlen) != 0)
        mw_config_destroy (&cfg);
    return cfg;
}

static void *
s_test_thread (void *arg)
{
    node_agent_loop ((node_agent_t *) arg);
    return NULL;
}

//  Agent `dir`'s members document, if `name` is in it with `state`.
static bool
s_test_sees (const char *dir, const char *name, const char *state)
{
    json_object *r = NULL;
    char err[256];
    bool yes = false;
    if (node_control_call_str (dir, "members", 2000, &r, err, sizeof err) == 0)
        for (size_t i = 0; i < json_object_array_length (r); i++) {
            json_object *m = json_object_array_get_idx (r, i);
            yes |= !strcmp (mw_json_get_str (m, "name", ""), name)
                   && !strcmp (mw_json_get_str (m, "state", ""), state);
        }
    json_object_put (r);
    return yes;
}

int
node_agent_test (bool verbose)
{
    int rc = 0;
    if (sodium_init () < 0)
        return -1;
    char da[] = "/tmp/mw-agent-a-XXXXXX", db[] = "/tmp/mw-agent-b-XXXXXX";
    if (!mkdtemp (da) || !mkdtemp (db))
        return -1;
    int base = 20000 + (int) (getpid () % 400) * 8;   //  below the ephemeral ports (32768+)
    char key[64], k[80], sa[64], sb[64], ma[32], mb[32], ea[32], ja[32], jb[32], join[64];
    gossip_key_generate (key);
    snprintf (k, sizeof k, "CLUSTER_KEY=%s", key);
    snprintf (sa, sizeof sa, "STATE_DIR=%s", da);
    snprintf (sb, sizeof sb, "STATE_DIR=%s", db);
    snprintf (ma, sizeof ma, "MESH_PORT=%d", base);
    snprintf (ea, sizeof ea, "EVENTS_PORT=%d", base + 1);
    snprintf (ja, sizeof ja, "JOB_PORT=%d", base + 2);
    snprintf (mb, sizeof mb, "MESH_PORT=%d", base + 3);
    snprintf (jb, sizeof jb, "JOB_PORT=%d", base + 5);
    snprintf (join, sizeof join, "JOIN=127.0.0.1:%d", base);
    const char *la[] = {k,   sa, ma, ea, ja, "NODE_NAME=ta", "MESH_ADDR=127.0.0.1", "PROBE_INTERVAL_MS=200",
                        NULL};
    const char *lb[] = {
        k,    sb,  mb, "EVENTS_PORT=0", jb, "NODE_NAME=tb", "MESH_ADDR=127.0.0.1", "PROBE_INTERVAL_MS=200",
        join, NULL};
    char err[512] = "";
    mw_config_t *ca = s_test_config (la, err, sizeof err);
    CHECK (ca, "config a: %s", err);
    mw_config_t *cb = s_test_config (lb, err, sizeof err);
    CHECK (cb, "config b: %s", err);
    node_agent_t *a = ca ? node_agent_new (ca, err, sizeof err) : NULL;
    CHECK (a, "agent a: %s", err);
    node_agent_t *b = cb ? node_agent_new (cb, err, sizeof err) : NULL;
    CHECK (b, "agent b: %s", err);
    //  A second agent on A's ports: refused at start with the reason.
    node_agent_t *dup = ca ? node_agent_new (ca, err, sizeof err) : NULL;
    CHECK (!dup && strstr (err, "cannot listen"), "second agent on the same ports: %s", err);
    node_agent_destroy (&dup);
    if (!a || !b) {
        node_agent_destroy (&a);
        node_agent_destroy (&b);
        mw_config_destroy (&ca);
        mw_config_destroy (&cb);
        return -1;
    }
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", base + 1);
    zsock_t *sub = zsock_new_sub (ep, "json.member.join");
    zsock_set_rcvtimeo (sub, 5000);
    //  Slow joiner: the subscription must reach A's PUB before B joins, or
    //  the event is dropped before anyone asked for it.
    zclock_sleep (200);
    pthread_t ta, tb;
    pthread_create (&ta, NULL, s_test_thread, a);
    pthread_create (&tb, NULL, s_test_thread, b);

    //  Join: each sees the other alive (bounded wait).
    uint64_t t0 = mw_now_ms ();
    bool joined = false;
    while (!joined && mw_now_ms () - t0 < 10000) {
        joined = s_test_sees (da, "tb", "alive") && s_test_sees (db, "ta", "alive");
        if (!joined)
            zclock_sleep (50);
    }
    CHECK (joined, "no join within 10 s");
    if (verbose)
        printf ("  joined in %llu ms\n", (unsigned long long) (mw_now_ms () - t0));
    //  The event stream saw it: member.join of tb, with its fields.
    char *topic = NULL, *body = NULL;
    CHECK (zsock_recv (sub, "ss", &topic, &body) == 0 && body, "no json.member.join on A's stream");
    json_object *ev = body ? mw_json_parse (body, strlen (body), err, sizeof err) : NULL;
    CHECK (ev && !strcmp (mw_json_get_str (ev, "name", ""), "tb")
               && mw_json_get_int (ev, "incarnation", 0) >= 1,
           "member.join event: %s", body ? body : "-");
    json_object_put (ev);
    zstr_free (&topic);
    zstr_free (&body);

    //  status: counts, identity, the jobs part; its id is the members' self.
    json_object *st = NULL;
    CHECK (node_control_call_str (da, "status", 2000, &st, err, sizeof err) == 0, "status: %s", err);
    json_object *mem = mw_json_get (st, "members");
    CHECK (mw_json_get_int (mem, "alive", 0) == 2 && !strcmp (mw_json_get_str (st, "name", ""), "ta")
               && strlen (mw_json_get_str (st, "id", "")) == MW_ID_HEX_LEN && mw_json_get (st, "jobs")
               && mw_json_get_int (mw_json_get (st, "stats"), "msgs_in", 0) > 0,
           "status: %s", mw_json_text (st, false));
    json_object_put (st);
    //  The other commands, and errors as documents.
    json_object *r = NULL;
    CHECK (node_control_call_str (da, "jobs", 2000, &r, err, sizeof err) == 0
               && json_object_is_type (r, json_type_array),
           "jobs: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (da, "load 3 1.5", 2000, &r, err, sizeof err) == 0
               && mw_json_get_int (r, "queue", 0) == 3,
           "load: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (da, "load three", 2000, &r, err, sizeof err) == 1
               && !strcmp (mw_json_get_str (r, "error", ""), "bad_request"),
           "load three: %s", err);
    json_object_put (r);
    CHECK (node_control_call_str (da, "job 123", 2000, &r, err, sizeof err) == 1, "job 123 accepted");
    json_object_put (r);
    CHECK (node_control_call_str (da, "members --json", 2000, &r, err, sizeof err) == 0
               && json_object_array_length (r) == 2,
           "legacy 'members --json': %s", err);
    json_object_put (r);

    //  B leaves gracefully: its loop ends, A lists it as left.
    CHECK (node_control_call_str (db, "leave", 2000, &r, err, sizeof err) == 0
               && mw_json_get_bool (r, "leaving", false),
           "leave b: %s", err);
    json_object_put (r);
    pthread_join (tb, NULL);
    t0 = mw_now_ms ();
    bool left = false;
    while (!left && mw_now_ms () - t0 < 5000) {
        left = s_test_sees (da, "tb", "left");
        if (!left)
            zclock_sleep (50);
    }
    CHECK (left, "A does not list B as left");
    CHECK (node_control_call_str (da, "leave", 2000, &r, err, sizeof err) == 0, "leave a: %s", err);
    json_object_put (r);
    pthread_join (ta, NULL);
    zsock_destroy (&sub);
    node_agent_destroy (&a);
    node_agent_destroy (&b);
    CHECK (a == NULL, "destroy nulls");
    mw_config_destroy (&ca);
    mw_config_destroy (&cb);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf %s %s", da, db);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}
