/*  =========================================================================
    node_agent - the meshwatch daemon (see agent.h).

    The loop is a plain zmq_poll over three sockets (mesh ROUTER, control
    REP, beacon actor) with a timeout taken from the membership module's
    next deadline, so an idle agent sleeps instead of ticking: a hundred
    agents on one small box must cost next to nothing.

    Start-up order matters for correctness across restarts: the incarnation
    and the boot session are read from the state DB, bumped and written
    back (fsync'ed) *before* the first packet leaves, so that a node killed
    with -9 and restarted always speaks with a higher incarnation (peers then
    accept it as alive again) and a newer session (peers' replay windows
    then accept its fresh sequence numbers).
    ========================================================================= */
#include "node/agent.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "gossip/crypto.h"
#include "gossip/discovery.h"
#include "gossip/member.h"
#include "gossip/transport.h"
#include "gossip/wire.h"
#include "node/events.h"
#include "node/jobs.h"
#include "node/load.h"
#include "node/metrics.h"
#include "scheduler/digest.h"
#include "scheduler/election.h"
#include "node/statedb.h"
#include "node/usage.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

typedef struct {
    mw_config_t *cfg;
    gossip_identity_t ident;
    gossip_keyring_t *keys;
    gossip_replay_t *replay;
    gossip_transport_t *transport;
    gossip_member_t *members;
    gossip_discovery_t *disc;
    node_statedb_t *db;
    node_events_t *events;
    //  Forecasts issue: resources, our digest, /metrics, the seed's POST.
    node_load_t *load;
    node_metrics_t *metrics;
    node_usage_t *usage;
    uint32_t collect_interval_ms;
    uint64_t next_collect_ms;
    zsock_t *control;
    //  Inference jobs (node/jobs.h): the data plane, the runner, hand-off.
    node_jobs_t *jobs;
    uint64_t next_peers_ms;
    //  Coordinator election (scheduler/election.h): fed the SWIM view
    //  when it changes (view_dirty) and at least once a second.
    election_t *election;
    bool view_dirty;
    uint64_t next_view_ms;
    char addr[MW_ADDR_MAX + 1];   //  our mesh endpoint as peers reach it
    char ip[64];
    char name[MW_NAME_MAX + 1];
    char cluster[MW_CLUSTER_MAX + 1];
    uint64_t session;
    uint64_t incarnation_saved;
    uint64_t started_ms;
    uint64_t next_beacon_ms, next_join_ms, next_prune_ms;
    uint32_t beacon_interval_ms;
    char seeds[16][MW_ADDR_MAX + 1];
    size_t n_seeds;
    bool leaving;
    uint64_t leave_deadline_ms;
} agent_t;

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

//  --------------------------------------------------------------------------
//  Membership callbacks

static void
s_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    agent_t *self = (agent_t *) ctx;
    //  The member module hands us a const view; the transport stamps the
    //  header, so it works on a shallow copy (updates are only read).
    mw_msg_t copy = *msg;
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
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&m->id, hex);
    const char *name = s_event_name (ev);
    char logev[32];
    snprintf (logev, sizeof logev, "member_%s", name);
    mw_info (logev, "peer=%s name=%s addr=%s inc=%llu", hex, m->name, m->addr,
             (unsigned long long) m->incarnation);
    if (ev == GOSSIP_MEMBER_EV_REAP) {
        gossip_transport_forget_addr (self->transport, m->addr);
        gossip_replay_forget (self->replay, &m->id);
        return;
    }
    if (ev == GOSSIP_MEMBER_EV_DEAD || ev == GOSSIP_MEMBER_EV_LEAVE)
        //  Drop the connection and whatever is queued on it: when the peer
        //  comes back, a fresh connection is made at once instead of waiting
        //  out libzmq's reconnect back-off, and it gets no stale backlog.
        gossip_transport_forget_addr (self->transport, m->addr);
    if (ev == GOSSIP_MEMBER_EV_JOIN || ev == GOSSIP_MEMBER_EV_ALIVE)
        node_statedb_peer_upsert (self->db, hex, m->name, m->addr, mw_wall_ms ());
    else if (ev == GOSSIP_MEMBER_EV_LEAVE)
        node_statedb_peer_delete (self->db, hex);
    const char *kv[] = {
        "id", hex, "name", m->name, "addr", m->addr, "state", gossip_wire_state_name (m->state), NULL};
    node_events_int_t ikv[] = {{"incarnation", (int64_t) m->incarnation}, {NULL, 0}};
    node_events_publish (self->events, "member", name, self->ident.id_hex, kv, ikv);
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
    if (gossip_transport_seal (self->transport, &msg, &sealed, &len) == 0) {
        if (len <= MW_BEACON_MAX && gossip_discovery_publish (self->disc, sealed, len) == 0)
            ((gossip_transport_stats_t *) gossip_transport_stats (self->transport))->beacons_out++;
        free (sealed);
    }
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
    int rc = gossip_transport_open_beacon (self->transport, data, len, &msg);
    free (data);
    if (rc != 1)
        return;
    if (strcmp (msg.cluster, self->cluster) != 0) {
        //  Same key, other cluster name: a configuration mistake worth a line.
        mw_warn ("beacon_other_cluster", "from=%s cluster=%s", ip, msg.cluster);
    }
    else if (!gossip_member_knows_alive (self->members, &msg.sender)) {
        //  A box we do not know as alive: exchange full state with it.  A
        //  dead one learns from our state that it was declared dead and
        //  refutes with a higher incarnation.
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&msg.sender, hex);
        mw_debug ("beacon_join", "peer=%s addr=%s", hex, msg.addr);
        gossip_member_join (self->members, msg.addr, now);
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
            if (strcmp (addrs[i], self->addr) != 0)
                gossip_member_join (self->members, addrs[i], now);
    }
    free (list);
    self->next_join_ms = now + (alone ? 1000 : 10000);
}

//  --------------------------------------------------------------------------
//  Coordinator election: the pure rules live in scheduler/election.c; here
//  they get the SWIM view, the transport, the state DB and the event stream.

static void
s_election_send (void *ctx, const mw_id_t *to, const mw_msg_t *msg)
{
    agent_t *self = (agent_t *) ctx;
    gossip_member_info_t m;
    if (gossip_member_lookup (self->members, to, &m) != 0 || !*m.addr)
        return;   //  not (or no longer) a member: nothing to send to
    mw_msg_t copy = *msg;
    gossip_transport_send (self->transport, m.addr, &copy);
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
    char hex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&b->id, hex);
    const char *name = ev == ELECTION_EV_ELECTED ? "coordinator_elected"
                       : ev == ELECTION_EV_LOST  ? "coordinator_lost"
                                                 : "step_down";
    mw_info (name, "term=%llu rank=%u id=%s self=%d reason=%s", (unsigned long long) b->n, b->rank, hex,
             gossip_wire_id_eq (&b->id, &self->ident.id), *reason ? reason : "-");
    const char *kv[] = {"id", hex, "reason", *reason ? reason : "-", NULL};
    node_events_int_t ikv[] = {{"term", (int64_t) b->n}, {"rank", (int64_t) b->rank}, {NULL, 0}};
    node_events_publish (self->events, "coordinator",
                         ev == ELECTION_EV_ELECTED ? "elected"
                         : ev == ELECTION_EV_LOST  ? "lost"
                                                   : "step_down",
                         self->ident.id_hex, kv, ikv);
}

//  Hand the election the members SWIM holds alive or suspect.
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
            if (list[i].state == MW_STATE_ALIVE || list[i].state == MW_STATE_SUSPECT)
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
//  Control socket: the CLI's view of this agent.

static void
s_members_json (agent_t *self, mw_strbuf_t *out, uint64_t now)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list) {
        mw_strbuf_printf (out, "[]");
        return;
    }
    n = gossip_member_list (self->members, list, n);
    uint64_t wall = mw_wall_ms ();
    mw_strbuf_printf (out, "[");
    for (size_t i = 0; i < n; i++) {
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&list[i].id, hex);
        mw_strbuf_printf (out, "%s{\"id\":\"%s\",\"name\":", i ? "," : "", hex);
        mw_strbuf_json_str (out, list[i].name);
        mw_strbuf_printf (out, ",\"addr\":");
        mw_strbuf_json_str (out, list[i].addr);
        uint64_t heard = list[i].is_self                                         ? 0
                         : list[i].last_heard_ms && now >= list[i].last_heard_ms ? now - list[i].last_heard_ms
                                                                                 : 0;
        mw_strbuf_printf (out, ",\"state\":\"%s\",\"incarnation\":%llu,\"last_heard_ms\":",
                          gossip_wire_state_name (list[i].state), (unsigned long long) list[i].incarnation);
        if (list[i].is_self || list[i].last_heard_ms)
            mw_strbuf_printf (out, "%llu", (unsigned long long) heard);
        else
            mw_strbuf_printf (out, "null");
        mw_strbuf_printf (
            out, ",\"state_ms\":%llu,\"coordinator\":%s,\"self\":%s",
            (unsigned long long) (now >= list[i].state_since_ms ? now - list[i].state_since_ms : 0),
            s_is_coordinator_id (self, &list[i].id) ? "true" : "false", list[i].is_self ? "true" : "false");
        node_load_member_json (out, &list[i], wall);
        mw_strbuf_printf (out, "}");
    }
    mw_strbuf_printf (out, "]");
    free (list);
}

static void
s_members_table (agent_t *self, mw_strbuf_t *out, uint64_t now)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    if (!list)
        return;
    n = gossip_member_list (self->members, list, n);
    uint64_t wall = mw_wall_ms ();
    mw_strbuf_printf (out, " %-16s  %-20s  %-26s  %-7s  %11s  %10s%s\n", "ID", "NAME", "ADDRESS", "STATE",
                      "INCARNATION", "HEARD", node_load_table_header ());
    for (size_t i = 0; i < n; i++) {
        char hex[MW_ID_HEX_LEN + 1], heard[32];
        gossip_wire_id_hex (&list[i].id, hex);
        if (list[i].is_self)
            snprintf (heard, sizeof heard, "(self)");
        else if (!list[i].last_heard_ms)
            snprintf (heard, sizeof heard, "never");
        else
            snprintf (heard, sizeof heard, "%.1fs ago", (double) (now - list[i].last_heard_ms) / 1000.0);
        //  The coordinator is marked with a '*' before its id.
        mw_strbuf_printf (out, "%s%-16s  %-20.20s  %-26.26s  %-7s  %11llu  %10s",
                          s_is_coordinator_id (self, &list[i].id) ? "*" : " ", hex, list[i].name,
                          list[i].addr, gossip_wire_state_name (list[i].state),
                          (unsigned long long) list[i].incarnation, heard);
        node_load_member_cols (out, &list[i], wall);
        mw_strbuf_printf (out, "\n");
    }
    size_t alive = 0;
    for (size_t i = 0; i < n; i++)
        alive += list[i].state == MW_STATE_ALIVE;
    mw_strbuf_printf (out, "%zu members, %zu alive", n, alive);
    mw_id_t c;
    if (self->election && election_coordinator (self->election, &c)) {
        char chex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&c, chex);
        mw_strbuf_printf (out, "; * coordinator %s (term %llu)", chex,
                          (unsigned long long) election_term (self->election));
    }
    else
        mw_strbuf_printf (out, "; no coordinator");
    mw_strbuf_printf (out, "\n");
    free (list);
}

//  Election part of `status`: term, coordinator, lease age, role.
static void
s_status_election (agent_t *self, mw_strbuf_t *out, bool json, uint64_t now)
{
    mw_id_t c;
    char chex[MW_ID_HEX_LEN + 1] = "";
    bool has = election_coordinator (self->election, &c);
    if (has)
        gossip_wire_id_hex (&c, chex);
    uint64_t age = election_lease_age (self->election, now);
    election_stats_t es;
    election_stats (self->election, &es);
    const char *role = election_role_name (election_role (self->election));
    election_ballot_t b;
    election_ballot (self->election, &b);
    char bhex[MW_ID_HEX_LEN + 1];
    gossip_wire_id_hex (&b.id, bhex);
    if (json) {
        mw_strbuf_printf (out, ",\"term\":%llu,\"role\":\"%s\",\"coordinator\":",
                          (unsigned long long) election_term (self->election), role);
        mw_strbuf_printf (out, has ? "\"%s\"" : "null", chex);
        mw_strbuf_printf (out, ",\"ballot\":{\"term\":%llu,\"rank\":%u,\"id\":\"%s\"}",
                          (unsigned long long) b.n, b.rank, bhex);
        if (age == UINT64_MAX)
            mw_strbuf_printf (out, ",\"lease_age_ms\":null");
        else
            mw_strbuf_printf (out, ",\"lease_age_ms\":%llu", (unsigned long long) age);
        mw_strbuf_printf (out,
                          ",\"election\":{\"heartbeats_out\":%llu,\"heartbeats_in\":%llu,"
                          "\"prevotes_started\":%llu,\"elections_started\":%llu,\"elections_won\":%llu,"
                          "\"step_downs\":%llu,\"votes_granted\":%llu,\"stale_ignored\":%llu,"
                          "\"refused_nonmember\":%llu,\"refused_absurd\":%llu,\"refused_unproven\":%llu,"
                          "\"caught_up\":%llu,\"renounced\":%llu}",
                          (unsigned long long) es.heartbeats_out, (unsigned long long) es.heartbeats_in,
                          (unsigned long long) es.prevotes_started, (unsigned long long) es.elections_started,
                          (unsigned long long) es.elections_won, (unsigned long long) es.step_downs,
                          (unsigned long long) es.votes_granted, (unsigned long long) es.stale_ignored,
                          (unsigned long long) es.refused_nonmember, (unsigned long long) es.refused_absurd,
                          (unsigned long long) es.refused_unproven, (unsigned long long) es.caught_up,
                          (unsigned long long) es.renounced);
        return;
    }
    mw_strbuf_printf (out, "term        %llu (%s; ballot %llu.%u.%s)\ncoordinator %s",
                      (unsigned long long) election_term (self->election), role, (unsigned long long) b.n,
                      b.rank, bhex, has ? chex : "none");
    if (age == UINT64_MAX)
        mw_strbuf_printf (out, ", no lease yet\n");
    else
        mw_strbuf_printf (out, ", lease renewed %llu ms ago\n", (unsigned long long) age);
}

static void
s_status (agent_t *self, mw_strbuf_t *out, bool json, uint64_t now)
{
    size_t n = gossip_member_size (self->members);
    gossip_member_info_t *list = calloc (n ? n : 1, sizeof *list);
    size_t counts[MW_STATE_COUNT] = {0};
    if (list) {
        n = gossip_member_list (self->members, list, n);
        for (size_t i = 0; i < n; i++)
            if (list[i].state < MW_STATE_COUNT)
                counts[list[i].state]++;
        free (list);
    }
    const gossip_transport_stats_t *st = gossip_transport_stats (self->transport);
    uint64_t up = now - self->started_ms;
    if (json) {
        mw_strbuf_printf (out, "{\"id\":\"%s\",\"name\":", self->ident.id_hex);
        mw_strbuf_json_str (out, self->name);
        mw_strbuf_printf (out, ",\"addr\":");
        mw_strbuf_json_str (out, self->addr);
        mw_strbuf_printf (out, ",\"cluster\":");
        mw_strbuf_json_str (out, self->cluster);
        s_status_election (self, out, true, now);
        mw_strbuf_printf (out,
                          ",\"incarnation\":%llu,\"session\":%llu,\"uptime_ms\":%llu,\"health\":%u,"
                          "\"members\":{\"alive\":%zu,\"suspect\":%zu,\"dead\":%zu,\"left\":%zu},"
                          "\"stats\":{\"msgs_in\":%llu,\"msgs_out\":%llu,\"bytes_in\":%llu,"
                          "\"bytes_out\":%llu,\"send_dropped\":%llu,\"peers_open\":%llu,"
                          "\"beacons_in\":%llu,\"beacons_out\":%llu,\"beacons_rejected\":%llu,"
                          "\"rejected\":{",
                          (unsigned long long) gossip_member_incarnation (self->members),
                          (unsigned long long) self->session, (unsigned long long) up,
                          gossip_member_health (self->members), counts[0], counts[1], counts[2], counts[3],
                          (unsigned long long) st->msgs_in, (unsigned long long) st->msgs_out,
                          (unsigned long long) st->bytes_in, (unsigned long long) st->bytes_out,
                          (unsigned long long) st->send_dropped, (unsigned long long) st->peers_open,
                          (unsigned long long) st->beacons_in, (unsigned long long) st->beacons_out,
                          (unsigned long long) st->beacons_rejected);
        for (int r = 0; r < MW_REJ_COUNT; r++)
            mw_strbuf_printf (out, "%s\"%s\":%llu", r ? "," : "",
                              gossip_transport_reject_name ((gossip_reject_t) r),
                              (unsigned long long) st->rejected[r]);
        mw_strbuf_printf (out, "}}");
        if (self->jobs) {
            mw_strbuf_printf (out, ",\"jobs\":");
            node_jobs_status_json (self->jobs, out);
        }
        mw_strbuf_printf (out, "}");
    }
    else {
        mw_strbuf_printf (out, "node        %s (%s)\naddress     %s\ncluster     %s\n", self->ident.id_hex,
                          self->name, self->addr, self->cluster);
        mw_strbuf_printf (out, "incarnation %llu\nuptime      %.1f s\nhealth      %u\n",
                          (unsigned long long) gossip_member_incarnation (self->members),
                          (double) up / 1000.0, gossip_member_health (self->members));
        mw_strbuf_printf (out, "members     %zu alive, %zu suspect, %zu dead, %zu left\n", counts[0],
                          counts[1], counts[2], counts[3]);
        s_status_election (self, out, false, now);
        mw_strbuf_printf (out, "traffic     in %llu msgs / %llu B, out %llu msgs / %llu B, dropped %llu\n",
                          (unsigned long long) st->msgs_in, (unsigned long long) st->bytes_in,
                          (unsigned long long) st->msgs_out, (unsigned long long) st->bytes_out,
                          (unsigned long long) st->send_dropped);
        mw_strbuf_printf (out, "rejected   ");
        for (int r = 0; r < MW_REJ_COUNT; r++)
            mw_strbuf_printf (out, " %s=%llu", gossip_transport_reject_name ((gossip_reject_t) r),
                              (unsigned long long) st->rejected[r]);
        mw_strbuf_printf (out, "\n");
        if (self->jobs) {
            mw_strbuf_printf (out, "jobs        ");
            node_jobs_status_json (self->jobs, out);
            mw_strbuf_printf (out, "\n");
        }
    }
}

//  "load QUEUE RATE": the scheduler's inputs (inference queue length, job
//  arrivals per second), until the scheduler issue measures them itself.
static const char *
s_load_cmd (agent_t *self, const char *args, mw_strbuf_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long q = strtoul (args, &end, 10);
    double rate = end && *end == ' ' ? strtod (end + 1, &end) : -1;
    if (errno || !end || *end || q > UINT32_MAX || !(rate >= 0 && rate < 1e6)) {
        mw_strbuf_printf (out, "usage: load QUEUE RATE (queue length, jobs per second)\n");
        return "error";
    }
    if (!self->load) {
        mw_strbuf_printf (out, "resource monitoring is off\n");
        return "error";
    }
    node_load_set_inputs (self->load, (uint32_t) q, rate);
    mw_strbuf_printf (out, "queue %lu, arrival rate %.2f/s\n", q, rate);
    return "ok";
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
    uint8_t digest[MW_DIGEST_MAX];
    uint64_t wall = mw_wall_ms ();
    int len = node_load_tick (self->load, now, wall, digest, sizeof digest);
    if (len > 0) {
        gossip_member_set_digest (self->members, digest, (size_t) len, now);
        //  Forecast headroom is part of the coordinator rank (with
        //  hysteresis inside the election: a spike never moves the role).
        sched_digest_t d;
        if (sched_digest_decode (digest, (size_t) len, &d) == 0) {
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
        mw_strbuf_t *text = mw_strbuf_new ();
        if (list && text) {
            n = gossip_member_list (self->members, list, n);
            node_load_prometheus (self->load, text, list, n, gossip_transport_stats (self->transport), wall);
            mw_strbuf_printf (text,
                              "# HELP meshwatch_term Highest coordinator election term this node has seen.\n"
                              "# TYPE meshwatch_term gauge\nmeshwatch_term %llu\n"
                              "# HELP meshwatch_is_coordinator 1 if this node is the coordinator.\n"
                              "# TYPE meshwatch_is_coordinator gauge\nmeshwatch_is_coordinator %d\n",
                              (unsigned long long) election_term (self->election),
                              election_is_coordinator (self->election) ? 1 : 0);
            if (self->jobs)
                node_jobs_prometheus (self->jobs, text);
            if (mw_strbuf_str (text))
                node_metrics_publish (self->metrics, mw_strbuf_str (text), mw_strbuf_len (text));
        }
        mw_strbuf_destroy (&text);
        free (list);
    }
}

static void
s_control (agent_t *self, uint64_t now)
{
    zmsg_t *req = zmsg_recv_nowait (self->control);
    if (!req)
        return;
    //  A request is one short text frame; anything else gets an error reply
    //  (REP must always answer, or the socket would wedge).
    //  Job submissions are multi-frame (the last frame is the JPEG).
    char cmd[64] = "";
    zframe_t *f = zmsg_first (req);
    bool submit = f && zframe_size (f) == 6 && !memcmp (zframe_data (f), "submit", 6);
    if ((zmsg_size (req) == 1 || submit) && f && zframe_size (f) > 0 && zframe_size (f) < sizeof cmd) {
        memcpy (cmd, zframe_data (f), zframe_size (f));
        cmd[zframe_size (f)] = 0;
    }
    mw_strbuf_t *out = mw_strbuf_new ();
    const char *status = "ok";
    if (!out) {
        zmsg_destroy (&req);
        return;
    }
    if (self->jobs && *cmd && node_jobs_control (self->jobs, req, cmd, out, &status, now))
        ;
    else if (submit) {
        status = "error";
        mw_strbuf_printf (out, "this agent runs no jobs (JOB_PORT=0)\n");
    }
    else if (strcmp (cmd, "members --json") == 0)
        s_members_json (self, out, now);
    else if (strcmp (cmd, "members") == 0)
        s_members_table (self, out, now);
    else if (strcmp (cmd, "status --json") == 0)
        s_status (self, out, true, now);
    else if (strcmp (cmd, "status") == 0)
        s_status (self, out, false, now);
    else if (strncmp (cmd, "load ", 5) == 0)
        status = s_load_cmd (self, cmd + 5, out);
    else if (strcmp (cmd, "leave") == 0) {
        s_stop = 1;
        mw_strbuf_printf (out, "leaving\n");
    }
    else {
        status = "error";
        mw_strbuf_printf (out, "unknown request\n");
    }
    zmsg_destroy (&req);
    const char *text = mw_strbuf_str (out);
    zstr_sendx (self->control, status, text ? text : "", NULL);
    mw_strbuf_destroy (&out);
}

//  --------------------------------------------------------------------------
//  Start-up and the loop

static void
s_persist_incarnation (agent_t *self)
{
    uint64_t inc = gossip_member_incarnation (self->members);
    if (inc > self->incarnation_saved && node_statedb_set_u64 (self->db, "incarnation", inc) == 0)
        self->incarnation_saved = inc;
}

static int
s_setup (agent_t *self, char *err, size_t errlen)
{
    mw_config_t *cfg = self->cfg;
    const char *state_dir = mw_config_str (cfg, "STATE_DIR");
    if (gossip_identity_load (state_dir, &self->ident, err, errlen) != 0)
        return -1;
    mw_log_set_node (self->ident.id_hex);
    snprintf (self->name, sizeof self->name, "%s", mw_config_str (cfg, "NODE_NAME"));
    snprintf (self->cluster, sizeof self->cluster, "%s", mw_config_str (cfg, "CLUSTER_NAME"));

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
    if (node_statedb_set_u64 (self->db, "incarnation", inc)
        || node_statedb_set_u64 (self->db, "session", self->session)) {
        snprintf (err, errlen, "%s/state.db: cannot write state", state_dir);
        return -1;
    }
    self->incarnation_saved = inc;

    self->keys = gossip_keyring_new (mw_config_str (cfg, "CLUSTER_KEY"));
    if (!self->keys) {
        snprintf (err, errlen, "CLUSTER_KEY is not a valid key");
        return -1;
    }
    const char *extra[MW_KEYRING_MAX];
    size_t n_extra = mw_config_list (cfg, "CLUSTER_KEY_EXTRA", extra, MW_KEYRING_MAX);
    for (size_t i = 0; i < n_extra; i++)
        if (gossip_keyring_add (self->keys, extra[i]) != 0) {
            snprintf (err, errlen, "CLUSTER_KEY_EXTRA: too many keys (at most %d)", MW_KEYRING_MAX - 1);
            return -1;
        }
    self->replay = gossip_replay_new ((uint64_t) mw_config_int (cfg, "MAX_CLOCK_SKEW_MS"));
    if (!self->replay)
        return -1;

    //  Address: the interface's (from the beacon) unless MESH_ADDR says.
    const char *iface = mw_config_str (cfg, "MESH_INTERFACE");
    int mesh_port = (int) mw_config_int (cfg, "MESH_PORT");
    if (*iface) {
        self->disc =
            gossip_discovery_new (iface, (int) mw_config_int (cfg, "BEACON_PORT"), self->ip, sizeof self->ip);
        if (!self->disc) {
            snprintf (err, errlen, "MESH_INTERFACE=%s: no such interface or no IPv4 broadcast address",
                      iface);
            return -1;
        }
    }
    if (*mw_config_str (cfg, "MESH_ADDR"))
        snprintf (self->ip, sizeof self->ip, "%s", mw_config_str (cfg, "MESH_ADDR"));
    if (strchr (self->ip, ':'))
        snprintf (self->addr, sizeof self->addr, "tcp://[%s]:%d", self->ip, mesh_port);
    else
        snprintf (self->addr, sizeof self->addr, "tcp://%s:%d", self->ip, mesh_port);
    self->transport =
        gossip_transport_new (self->addr, &self->ident, self->keys, self->replay, self->session);
    if (!self->transport) {
        snprintf (err, errlen, "cannot listen on %s (MESH_PORT in use?)", self->addr);
        return -1;
    }
    int events_port = (int) mw_config_int (cfg, "EVENTS_PORT");
    if (events_port > 0) {
        self->events = node_events_new (*iface ? NULL : self->ip, events_port);
        if (!self->events) {
            snprintf (err, errlen, "cannot listen on EVENTS_PORT=%d", events_port);
            return -1;
        }
    }

    //  The data plane for jobs: JOB_PORT, default MESH_PORT + 2; 0 = none.
    int job_port = mw_config_is_set (cfg, "JOB_PORT") ? (int) mw_config_int (cfg, "JOB_PORT") : mesh_port + 2;
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
        node_jobs_opts_t jo = {cfg, &self->ident, self->keys, self->session, ep, ep, self->events, false};
        self->jobs = node_jobs_new (&jo, err, errlen);
        if (!self->jobs)
            return -1;
    }

    //  Control socket: owner-only (the directory is 0700 and the socket 0600).
    char path[512];
    snprintf (path, sizeof path, "%s/control.sock", state_dir);
    if (strlen (path) >= 100) {
        snprintf (err, errlen, "STATE_DIR is too long for a control socket path (%zu bytes)", strlen (path));
        return -1;
    }
    unlink (path);   //  a stale socket from a killed agent
    self->control = zsock_new (ZMQ_REP);
    //  Limits and permissions before bind: a size limit set later does not
    //  apply, and the socket must never exist with looser permissions.
    if (self->control)
        zsock_set_maxmsgsize (self->control, MW_FRAME_MAX + 4096);   //  submit carries a frame
    mode_t old_mask = umask (0077);
    int bind_rc = self->control ? zsock_bind (self->control, "ipc://%s", path) : -1;
    umask (old_mask);
    if (bind_rc < 0) {
        snprintf (err, errlen, "cannot bind control socket %.200s", path);
        return -1;
    }
    chmod (path, 0600);

    gossip_member_cfg_t mcfg;
    gossip_member_cfg_defaults (&mcfg);
#define MW_CFG_U32(KEY, field)                                                                               \
    if (mw_config_is_set (cfg, KEY))                                                                         \
        mcfg.field = (uint32_t) mw_config_int (cfg, KEY);
    MW_CFG_U32 ("PROBE_INTERVAL_MS", probe_interval_ms)
    MW_CFG_U32 ("PROBE_TIMEOUT_MS", probe_timeout_ms)
    MW_CFG_U32 ("INDIRECT_K", indirect_k)
    MW_CFG_U32 ("SUSPICION_MULT", suspicion_mult)
    MW_CFG_U32 ("SUSPICION_MIN_MS", suspicion_min_ms)
    MW_CFG_U32 ("SUSPICION_MAX_MULT", suspicion_max_mult)
    MW_CFG_U32 ("GOSSIP_INTERVAL_MS", gossip_interval_ms)
    MW_CFG_U32 ("GOSSIP_FANOUT", gossip_fanout)
    MW_CFG_U32 ("RETRANSMIT_MULT", retransmit_mult)
    MW_CFG_U32 ("PUSHPULL_INTERVAL_MS", pushpull_interval_ms)
    MW_CFG_U32 ("DEAD_REAP_MS", dead_reap_ms)
    MW_CFG_U32 ("AWARENESS_MAX", awareness_max)
#undef MW_CFG_U32
    uint64_t seed = 0;
    randombytes_buf (&seed, sizeof seed);
    self->members = gossip_member_new (&mcfg, &self->ident.id, self->name, self->addr, inc, seed, s_send,
                                       s_on_member, self);
    if (!self->members) {
        snprintf (err, errlen, "cannot create the membership table (bad SWIM timings?)");
        return -1;
    }

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
    ecfg.priority = (uint32_t) mw_config_int (cfg, "COORDINATOR_PRIORITY");
    ecfg.timeout_ms = (uint32_t) mw_config_int (cfg, "ELECTION_TIMEOUT_MS");
    ecfg.heartbeat_ms = (uint32_t) mw_config_int (cfg, "HEARTBEAT_INTERVAL_MS");
    randombytes_buf (&seed, sizeof seed);
    self->election = election_new (&ecfg, &self->ident.id, &hi, vterm ? &voted : NULL, seed, mw_now_ms (),
                                   s_election_persist, s_election_send, s_election_event, self);
    if (!self->election) {
        snprintf (err, errlen,
                  "cannot create the election (HEARTBEAT_INTERVAL_MS > ELECTION_TIMEOUT_MS / 2?)");
        return -1;
    }
    self->view_dirty = true;

    const char *seeds[16];
    size_t n = mw_config_list (cfg, "JOIN", seeds, 16);
    for (size_t i = 0; i < n; i++)
        snprintf (self->seeds[self->n_seeds++], MW_ADDR_MAX + 1, "tcp://%s", seeds[i]);
    self->beacon_interval_ms = (uint32_t) mw_config_int (cfg, "BEACON_INTERVAL_MS");

    //  Resources and forecasts (on unless COLLECT_INTERVAL_MS=0: peers decide
    //  on our digest).
    uint32_t horizons[2] = {5, 30};
    size_t n_h = 0;
    for (const char *p = mw_config_str (cfg, "FORECAST_HORIZONS_S"); *p && n_h < 2;) {
        horizons[n_h++] = (uint32_t) strtoul (p, (char **) &p, 10);   //  validated by config
        if (*p == ',')
            p++;
    }
    self->collect_interval_ms = (uint32_t) mw_config_int (cfg, "COLLECT_INTERVAL_MS");
    if (self->collect_interval_ms > 0) {
        self->load = node_load_new (self->collect_interval_ms, horizons, n_h ? n_h : 2, NULL);
        if (!self->load)
            mw_warn ("load_off", "reason=\"cannot read /proc: no resource digest\"");
    }
    int metrics_port = (int) mw_config_int (cfg, "METRICS_PORT");
    if (metrics_port > 0 && self->load) {
        self->metrics = node_metrics_new (*iface ? NULL : self->ip, metrics_port);
        if (!self->metrics) {
            snprintf (err, errlen, "cannot listen on METRICS_PORT=%d", metrics_port);
            return -1;
        }
    }
    if (*mw_config_str (cfg, "USAGE_URL") && self->load) {
        self->usage = node_usage_new (mw_config_str (cfg, "USAGE_URL"), self->name,
                                      (uint32_t) mw_config_int (cfg, "USAGE_INTERVAL"), 2000);
        if (!self->usage) {
            snprintf (err, errlen, "cannot start the usage poster for USAGE_URL");
            return -1;
        }
    }
    return 0;
}

static void
s_teardown (agent_t *self)
{
    node_jobs_destroy (&self->jobs);
    election_destroy (&self->election);
    gossip_member_destroy (&self->members);
    gossip_discovery_destroy (&self->disc);
    zsock_destroy (&self->control);
    node_events_destroy (&self->events);
    gossip_transport_destroy (&self->transport);
    gossip_replay_destroy (&self->replay);
    gossip_keyring_destroy (&self->keys);
    node_statedb_close (&self->db);
    //  Threads first: the poster aborts an in-flight POST, the HTTP server
    //  joins its thread.
    node_usage_destroy (&self->usage);
    node_metrics_destroy (&self->metrics);
    node_load_destroy (&self->load);
}

int
node_agent_run (mw_config_t *cfg)
{
    agent_t agent;
    memset (&agent, 0, sizeof agent);
    agent_t *self = &agent;
    self->cfg = cfg;
    //  We handle SIGINT/SIGTERM ourselves (graceful leave), not czmq.
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    char err[512] = "";
    if (s_setup (self, err, sizeof err) != 0) {
        fprintf (stderr, "meshwatch agent: %s\n", err);
        mw_error ("start_failed", "reason=\"%s\"", err);
        s_teardown (self);
        return 1;
    }
    self->started_ms = mw_now_ms ();
    mw_info ("agent_started", "name=%s addr=%s inc=%llu beacon=%s seeds=%zu", self->name, self->addr,
             (unsigned long long) gossip_member_incarnation (self->members), self->disc ? "on" : "off",
             self->n_seeds);
    node_events_int_t ikv[] = {{"incarnation", (int64_t) gossip_member_incarnation (self->members)},
                               {NULL, 0}};
    const char *kv[] = {"id", self->ident.id_hex, "name", self->name, "addr", self->addr, NULL};
    node_events_publish (self->events, "node", "started", self->ident.id_hex, kv, ikv);

    zmq_pollitem_t items[6];
    int n_items = 0;
    memset (items, 0, sizeof items);
    items[n_items++] =
        (zmq_pollitem_t){zsock_resolve (gossip_transport_sock (self->transport)), 0, ZMQ_POLLIN, 0};
    items[n_items++] = (zmq_pollitem_t){zsock_resolve (self->control), 0, ZMQ_POLLIN, 0};
    int disc_item = -1, jobs_item = n_items;
    if (self->disc) {
        disc_item = n_items;
        items[n_items++] =
            (zmq_pollitem_t){zsock_resolve (gossip_discovery_sock (self->disc)), 0, ZMQ_POLLIN, 0};
    }
    jobs_item = n_items;
    if (self->jobs)
        n_items += node_jobs_pollitems (self->jobs, items + n_items, 6 - n_items);

    uint64_t now = mw_now_ms ();
    self->next_join_ms = now;
    self->next_beacon_ms = now;
    self->next_prune_ms = now + 60000;
    while (true) {
        now = mw_now_ms ();
        if (s_stop && !self->leaving) {
            //  Graceful leave: tell peers, then keep the loop running a
            //  moment so the LEFT update and its acks get out.
            self->leaving = true;
            self->leave_deadline_ms = now + 500;
            mw_info ("agent_leaving", "peers=%zu", gossip_member_alive_count (self->members) - 1);
            gossip_member_leave (self->members, now);
            election_leave (self->election, now);   //  a coordinator resigns: no lease to wait out
            if (!s_has_peers (self))
                self->leave_deadline_ms = now;
        }
        if (self->leaving && now >= self->leave_deadline_ms)
            break;
        gossip_member_tick (self->members, now);
        s_persist_incarnation (self);
        if (!self->leaving) {
            if (self->disc && now >= self->next_beacon_ms) {
                s_beacon_publish (self);
                self->next_beacon_ms = now + self->beacon_interval_ms;
            }
            s_join_tick (self, now);
            s_collect_tick (self, now);
            s_election_view (self, now);
            election_tick (self->election, now);
            if (self->jobs) {
                //  Peers' job capacity comes from their digests; 4 looks a
                //  second are plenty (a digest is refreshed once a second).
                if (now >= self->next_peers_ms) {
                    node_jobs_update_peers (self->jobs, self->members, mw_wall_ms ());
                    self->next_peers_ms = now + 250;
                }
                node_jobs_tick (self->jobs, now);
            }
            if (now >= self->next_prune_ms) {
                gossip_transport_prune (self->transport, now, 120000);
                self->next_prune_ms = now + 60000;
            }
        }
        uint64_t wake = gossip_member_next_wakeup (self->members, now);
        uint64_t next = now + 50;
        if (wake < next)
            next = wake;
        wake = election_next_wakeup (self->election, now);
        if (!self->leaving && wake < next)
            next = wake;
        if (self->load && self->next_collect_ms < next)
            next = self->next_collect_ms;
        if (self->disc && self->next_beacon_ms < next)
            next = self->next_beacon_ms;
        if (self->jobs && !self->leaving) {
            wake = node_jobs_next_wakeup (self->jobs, now);
            if (wake < next)
                next = wake;
        }
        long timeout = next > now ? (long) (next - now) : 0;
        int rc = zmq_poll (items, n_items, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            mw_error ("poll_failed", "reason=\"%s\"", zmq_strerror (errno));
            break;
        }
        now = mw_now_ms ();
        if (items[0].revents & ZMQ_POLLIN) {
            //  Drain in bounded batches so timers still run under a flood.
            for (int i = 0; i < 256; i++) {
                mw_msg_t msg;
                int r = gossip_transport_recv (self->transport, &msg);
                if (r < 0)
                    break;
                if (r == 1) {
                    if (msg.type == MW_MSG_HEARTBEAT || msg.type == MW_MSG_VOTE_REQ
                        || msg.type == MW_MSG_VOTE) {
                        if (!self->leaving)
                            election_handle (self->election, &msg, now);
                    }
                    else if (msg.type != MW_MSG_BEACON)
                        gossip_member_handle (self->members, &msg, now);
                    gossip_wire_msg_clear (&msg);
                }
            }
        }
        if (items[1].revents & ZMQ_POLLIN)
            s_control (self, now);
        if (self->jobs) {
            bool ready = false;
            for (int k = jobs_item; k < n_items; k++)
                ready |= (items[k].revents & ZMQ_POLLIN) != 0;
            if (ready)
                node_jobs_readable (self->jobs, now);
        }
        if (disc_item >= 0 && (items[disc_item].revents & ZMQ_POLLIN))
            for (int i = 0; i < 64 && (zsock_events (gossip_discovery_sock (self->disc)) & ZMQ_POLLIN); i++)
                s_beacon_recv (self, now);
    }
    s_persist_incarnation (self);
    gossip_transport_set_linger (self->transport, 200);
    mw_info ("agent_stopped", "inc=%llu", (unsigned long long) gossip_member_incarnation (self->members));
    s_teardown (self);
    return 0;
}
