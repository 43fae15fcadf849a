/*  =========================================================================
    gossip_member - SWIM + Lifeguard membership, pure code (see member.h).

    Everything here is a function of (inputs, now_ms, seeded PRNG).  There
    is no clock, no socket and no global variable, so the selftest at the
    bottom can run 100 instances in one process on a virtual clock, and a
    failure seen there replays exactly.

    Layout of this file:
      1. the member table (sorted array, binary search by id)
      2. the lifecycle: ONE static transition table [state][event]; every
         change of a peer's state goes through s_transition ()
      3. update intake: precedence classification, self-refutation
      4. dissemination: broadcast queue + piggybacking under a byte budget
      5. probing (direct, indirect, Lifeguard nacks, local health)
      6. push-pull, reconnect, timers, public API
      7. the selftest: a deterministic simulated network
    ========================================================================= */
#include "common/rand.h"
#include "gossip/member.h"
#include "gossip/sign.h"
#include "common/log.h"

#include <assert.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Piggyback budget: the encoded payload of one message stays under ~1400
//  bytes so that it fits one Ethernet frame after the 44-byte envelope.
//  Sizes are estimates of the msgpack encoding, erring on the large side.
#define MW_PAYLOAD_BUDGET  1400
#define MW_UPDATE_OVERHEAD 62   //  per update: id, state, incarnation, from, session, stamp, framing
#define MW_HEADER_ESTIMATE 64   //  magic, version, type, sender, session, seq, ts, probe...

#define CONFIRM_MAX       16      //  distinct confirmers remembered per suspicion
#define RELAYS_MAX        16      //  indirect_k cap
#define RELAY_SLOTS       64      //  PING_REQs we relay at the same time
#define BQ_MAX            4096    //  broadcast queue entries (one per member)
#define LEAVE_FANOUT      4       //  peers told directly when we leave
#define UNKNOWN_PP_GAP_MS 1000    //  rate limit for push-pulls to unknown pingers
#define INTRO_WINDOW_MS   10000   //  introduction sweep after a join lasts at most this
#define INTRO_PER_TICK    8       //  introductions per gossip tick

//  Bounds against floods (docs/MEMBERSHIP.md, "Bounds").  Defaults of the
//  configurable ones are in gossip_member_cfg_defaults.
#define SENDERS_MAX        256     //  senders whose insert bucket we remember (LRU)
#define GLOBAL_RATE_MULT   4       //  all senders together: 4 x one sender's rate...
#define GLOBAL_BURST_MULT  2       //  ...and twice its burst
#define UNVERIFIED_DIV     4       //  alive members never heard from directly: at most cap / 4
#define PP_REPLY_GAP_MS    1000    //  one full-state reply per sender per second...
#define PP_REPLY_RATE      16      //  ...and at most this many a second in all
#define PP_REPLY_BURST     128     //  (a mass boot of 100 boxes through one seed fits)
#define REFUSED_LOG_GAP_MS 60000   //  refused inserts are logged at most once a minute
#define URGENT_MAX         32      //  out-of-turn probes of proven members waiting
//  Signatures that did not verify, all senders together: each costs an
//  Ed25519 verification (~50 us here, a few times that on a Jetson), so a
//  key holder sending forged records cannot buy more than this much of
//  our CPU; beyond it, records that need a verification are dropped
//  unchecked (`verify_shed`) until the bucket refills.
#define VERIFY_FAIL_RATE  256
#define VERIFY_FAIL_BURST 1024
//  A full state stays this far under MW_MSG_MAX (estimated sizes; the
//  records of a full state carry signatures and keys).
#define STATE_BYTES_MAX (MW_MSG_MAX - 8192)

//  Internal lifecycle states: the wire states plus NONE (not in the table,
//  either never heard of or reaped).  ALIVE..LEFT equal mw_state_t values.
typedef enum { P_ALIVE = 0, P_SUSPECT = 1, P_DEAD = 2, P_LEFT = 3, P_NONE = 4, P_COUNT } pstate_t;

//  Lifecycle events.  Incoming updates are classified into one of the
//  first six; the last two come from our own timers.
typedef enum {
    E_ALIVE,     //  alive update
    E_DIGEST,    //  same-incarnation alive record from the member itself, new digest
    E_SUSPECT,   //  suspect update (or our own failed probe)
    E_CONFIRM,   //  suspect update, same incarnation, while already suspect
    E_DEAD,      //  dead update
    E_LEFT,      //  left update, asserted by the member itself
    E_TIMEOUT,   //  our suspicion timer fired
    E_REAP,      //  dead_reap_ms elapsed in DEAD/LEFT
    E_EVICT,     //  the table is full: forgotten early to make room (see s_admit)
    E_COUNT
} pevent_t;

//  Acceptance rule on the update's incarnation `i` versus ours `j`.
typedef enum { R_NEVER = 0, R_ANY, R_GT, R_GE, R_EQ } prule_t;

//  Actions, besides moving to `next` and raising `ev`.
#define A_BCAST   0x01   //  queue our (new) record of the member for gossip
#define A_TAKE    0x02   //  take name/addr/digest from the update (alive records)
#define A_SUSP    0x04   //  (re)start the suspicion timer
#define A_CONFIRM 0x08   //  count an independent confirmation; bcast it if new
#define A_PROBE   0x10   //  put it into the probe round-robin
#define A_FORGET  0x20   //  drop it from the table

typedef struct {
    uint8_t rule;
    uint8_t next;
    uint8_t ev;   //  gossip_member_event_t, 0 = none
    uint8_t actions;
} trans_t;

#define EV_JOIN    GOSSIP_MEMBER_EV_JOIN
#define EV_SUSPECT GOSSIP_MEMBER_EV_SUSPECT
#define EV_ALIVE   GOSSIP_MEMBER_EV_ALIVE
#define EV_DEAD    GOSSIP_MEMBER_EV_DEAD
#define EV_LEAVE   GOSSIP_MEMBER_EV_LEAVE
#define EV_REAP    GOSSIP_MEMBER_EV_REAP
#define EV_UPDATE  GOSSIP_MEMBER_EV_UPDATE
#define NEVER                                                                                                \
    {                                                                                                        \
        R_NEVER, 0, 0, 0                                                                                     \
    }

//  THE peer lifecycle.  Precedence (SWIM/memberlist) is encoded in the
//  rules: alive needs a higher incarnation than anything we hold; suspect
//  and dead win at an equal one (dead > suspect > alive); dead and left
//  are final until a higher-incarnation alive (a restart or a refutation).
//  docs/MEMBERSHIP.md reproduces this table; keep them in step.
static const trans_t s_table[P_COUNT][E_COUNT] =
    {
        [P_NONE] =
            {
                [E_ALIVE] = {R_ANY, P_ALIVE, EV_JOIN, A_TAKE | A_BCAST | A_PROBE},
                //  suspect/dead/left about a member we do not know: nothing to
                //  suspect (memberlist ignores them too); alive will introduce it.
                [E_DIGEST] = NEVER,
                [E_SUSPECT] = NEVER,
                [E_CONFIRM] = NEVER,
                [E_DEAD] = NEVER,
                [E_LEFT] = NEVER,
                [E_TIMEOUT] = NEVER,
                [E_REAP] = NEVER,
                [E_EVICT] = NEVER,
            },
        [P_ALIVE] =
            {
                [E_ALIVE] = {R_GT, P_ALIVE, EV_ALIVE, A_TAKE | A_BCAST},
                [E_DIGEST] = {R_EQ, P_ALIVE, EV_UPDATE, A_TAKE},
                [E_SUSPECT] = {R_GE, P_SUSPECT, EV_SUSPECT, A_SUSP | A_BCAST},
                [E_CONFIRM] = NEVER,
                [E_DEAD] = {R_GE, P_DEAD, EV_DEAD, A_BCAST},
                [E_LEFT] = {R_GE, P_LEFT, EV_LEAVE, A_BCAST},
                [E_TIMEOUT] = NEVER,
                [E_REAP] = NEVER,
                //  only ever a member we have never heard from ourselves
                [E_EVICT] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
            },
        [P_SUSPECT] =
            {
                [E_ALIVE] = {R_GT, P_ALIVE, EV_ALIVE, A_TAKE | A_BCAST},
                [E_DIGEST] = NEVER,
                //  it refuted, then was suspected again before we saw the alive
                [E_SUSPECT] = {R_GT, P_SUSPECT, EV_UPDATE, A_SUSP | A_BCAST},
                [E_CONFIRM] = {R_EQ, P_SUSPECT, 0, A_CONFIRM},
                [E_DEAD] = {R_GE, P_DEAD, EV_DEAD, A_BCAST},
                [E_LEFT] = {R_GE, P_LEFT, EV_LEAVE, A_BCAST},
                [E_TIMEOUT] = {R_ANY, P_DEAD, EV_DEAD, A_BCAST},
                [E_REAP] = NEVER,
                [E_EVICT] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
            },
        [P_DEAD] =
            {
                [E_ALIVE] = {R_GT, P_ALIVE, EV_JOIN, A_TAKE | A_BCAST | A_PROBE},
                [E_DIGEST] = NEVER,
                [E_SUSPECT] = NEVER,
                [E_CONFIRM] = NEVER,
                [E_DEAD] = NEVER,
                //  we declared it dead, but it was leaving: say so
                [E_LEFT] = {R_GT, P_LEFT, EV_LEAVE, A_BCAST},
                [E_TIMEOUT] = NEVER,
                [E_REAP] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
                [E_EVICT] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
            },
        [P_LEFT] =
            {
                [E_ALIVE] = {R_GT, P_ALIVE, EV_JOIN, A_TAKE | A_BCAST | A_PROBE},
                [E_DIGEST] = NEVER,
                [E_SUSPECT] = NEVER,
                [E_CONFIRM] = NEVER,
                [E_DEAD] = NEVER,
                [E_LEFT] = NEVER,
                [E_TIMEOUT] = NEVER,
                [E_REAP] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
                [E_EVICT] = {R_ANY, P_NONE, EV_REAP, A_FORGET},
            },
};

typedef struct {
    mw_id_t id;
    char name[MW_NAME_MAX + 1];
    char addr[MW_ADDR_MAX + 1];
    pstate_t state;
    uint64_t inc;
    mw_id_t from;   //  who asserted suspect/dead (first suspector)
    //  Node keys (gossip/sign.h).  Every member in the table entered with
    //  a record that verified under its key, so `pk` is always set; session
    //  and stamp are those of its latest self-signed (alive) record.  `rec`
    //  is the record we hold and forward, exactly as it was signed: the
    //  member's own (alive, left) or the verdict of `from` (suspect, dead).
    uint8_t pk[MW_PK_MAX];
    uint64_t session;
    uint64_t stamp;
    mw_update_t rec;
    uint64_t last_heard_ms;
    uint64_t direct_ms;    //  last message from the member itself; 0 = only heard of
    uint64_t reached_ms;   //  last ACK from it to a probe of ours; 0 = never (unverified)
    uint64_t state_since_ms;
    uint16_t digest_len;
    uint8_t digest[MW_DIGEST_MAX];
    bool is_self;
    //  Lifeguard suspicion
    uint64_t susp_start_ms;
    uint64_t susp_min_ms, susp_max_ms;
    uint32_t susp_k;
    uint32_t n_confirm;
    mw_id_t confirmers[CONFIRM_MAX];
    uint64_t susp_deadline_ms;
    bool susp_retried;   //  our one extra probe after a failed one
    //  our digest version last sent to this peer (direct digest refresh)
    uint64_t digest_ver_sent;
    uint64_t digest_sent_ms;   //  when this peer last got our record (any version)
    bool introduced;           //  it has had our own record from us
} member_t;

//  One probe round-robin: the ids of this round, shuffled, and where we are.
typedef struct {
    mw_id_t *ids;
    size_t n, cap, pos;
} lane_t;

//  A token bucket in thousandths of a token (integer arithmetic: the same
//  inputs give the same decisions in the simulator and in the daemon).
typedef struct {
    uint64_t milli;   //  tokens x 1000
    uint64_t at_ms;   //  last refill
} bucket_t;

//  One sender's insert budget, and when we last answered its full state.
typedef struct {
    mw_id_t id;
    bucket_t bucket;
    uint64_t used_ms;   //  LRU
    uint64_t pp_reply_ms;
    bool pp_replied;
} sender_t;

typedef struct {
    mw_update_t u;
    uint32_t transmits;
    uint32_t prio;    //  1 = our own refutation/leave: goes first
    uint64_t order;   //  newer first among equals
} bq_entry_t;

typedef struct {
    bool used;
    uint32_t number;         //  our probe number towards the target
    uint32_t origin_probe;   //  the origin's probe number
    mw_id_t target;
    mw_id_t origin;
    char origin_addr[MW_ADDR_MAX + 1];
    char target_addr[MW_ADDR_MAX + 1];
    uint64_t nack_at;
    uint64_t retry_at;   //  one more PING to the target (0 = done)
} relay_t;

struct _gossip_member_t {
    gossip_member_cfg_t cfg;
    gossip_identity_t ident;   //  our node key: signs our record and our verdicts
    uint64_t session;          //  our boot session, in our record
    uint64_t stamp;            //  our record's version, raised at every re-signing
    member_t *me;
    member_t **table;   //  sorted by id, self included
    size_t n, cap;
    member_t **pick;   //  scratch for random choice, cap entries
    uint64_t rng;
    gossip_member_send_fn *send;
    gossip_member_event_fn *event;
    void *ctx;
    bool started;
    uint32_t health;
    //  probing: two round-robins (lanes), taken in turn while both have
    //  members.  Lane 0 holds the members that have answered a probe of
    //  ours; lane 1 those that never have (newcomers, and anything a forger
    //  invented): a flood of ids can take at most every other probe period
    //  from the members we know to be real.
    lane_t lane[2];
    int lane_next;
    //  Out-of-turn probes (a suspect, a retry) of proven members go first,
    //  whoever's turn it is: the Lifeguard confirmations depend on them.
    mw_id_t urgent[URGENT_MAX];
    size_t n_urgent;
    uint32_t probe_seq;
    uint64_t next_probe_ms;
    struct {
        bool active;
        mw_id_t target;
        uint32_t number;
        uint64_t timeout_at, period_end;
        uint64_t retry_at;   //  the next direct PING again (0 = none left)
        uint32_t retries;    //  direct resends still to come
        bool indirect_sent, acked;
        uint32_t nacks, n_relays;
        mw_id_t relays[RELAYS_MAX];
    } probe;
    relay_t relays[RELAY_SLOTS];
    struct {
        bool active;
        uint32_t number;
        mw_id_t target;
    } reconnect;
    //  dissemination
    bq_entry_t *bq;
    size_t bq_n, bq_cap;
    uint64_t bq_order;
    uint64_t digest_ver;
    bool digest_push;
    uint64_t next_gossip_ms, next_pushpull_ms, next_reconnect_ms;
    uint64_t last_unknown_pp_ms;
    uint64_t intro_until_ms;   //  introduction sweep active until then (0 = off)
    uint64_t intro_tick_ms;
    uint64_t clock_ms;   //  the latest now_ms passed in (for send bookkeeping)
    mw_update_t scratch[MW_MAX_UPDATES];
    gossip_member_stats_t stats;
    //  bounds (docs/MEMBERSHIP.md, "Bounds")
    sender_t senders[SENDERS_MAX];
    size_t n_senders, last_sender;
    bucket_t global;                //  new ids from all senders together
    size_t unverified_cache;        //  SIZE_MAX = to be counted again
    bucket_t pp_global;             //  full-state replies
    uint64_t summary, summary_ms;   //  s_table_summary's last value, and when (0: never)
    uint64_t refused_log_ms;
    uint64_t refused_since_log[3];   //  rate, full, unverified
    mw_id_t refused_last_sender;
    //  Records refused for their signature (see s_verify)
    bucket_t verify_fail;
    uint64_t sig_log_ms;
    uint64_t sig_since_log[4];   //  unsigned, no key, bad signature, shed
    mw_id_t sig_last_sender;
};

//  --------------------------------------------------------------------------
//  Small helpers (kept local so this module does not need wire.c)

static int
s_id_cmp (const mw_id_t *a, const mw_id_t *b)
{
    return memcmp (a->b, b->b, MW_ID_LEN);
}

static bool
s_id_eq (const mw_id_t *a, const mw_id_t *b)
{
    return memcmp (a->b, b->b, MW_ID_LEN) == 0;
}

static bool
s_id_zero (const mw_id_t *id)
{
    static const mw_id_t zero;
    return s_id_eq (id, &zero);
}

//  Bounded copy of a string field that came from the network: never reads
//  past the source array, always terminates.
static void
s_strcpy (char *dst, size_t dst_size, const char *src, size_t src_size)
{
    size_t len = strnlen (src, src_size);
    if (len >= dst_size)
        len = dst_size - 1;
    memcpy (dst, src, len);
    dst[len] = 0;
}

static uint64_t
s_rand (gossip_member_t *self)
{
    return mw_splitmix64 (&self->rng);
}

static uint32_t
s_rand_below (gossip_member_t *self, uint32_t n)
{
    return n ? (uint32_t) (s_rand (self) % n) : 0;
}

static uint32_t
s_scale (gossip_member_t *self)
{
    return 1 + self->health;
}

static void
s_health_add (gossip_member_t *self, int delta)
{
    uint32_t cap = self->cfg.awareness_max ? self->cfg.awareness_max - 1 : 0;
    if (delta < 0)
        self->health = self->health > 0 ? self->health - 1 : 0;
    else if (self->health < cap)
        self->health++;
}

//  --------------------------------------------------------------------------
//  1. Member table

static ssize_t
s_find_index (gossip_member_t *self, const mw_id_t *id, size_t *insert_at)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = s_id_cmp (&self->table[mid]->id, id);
        if (c == 0)
            return (ssize_t) mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (insert_at)
        *insert_at = lo;
    return -1;
}

static member_t *
s_find (gossip_member_t *self, const mw_id_t *id)
{
    ssize_t i = s_find_index (self, id, NULL);
    return i < 0 ? NULL : self->table[i];
}

static member_t *
s_insert (gossip_member_t *self, const mw_id_t *id)
{
    size_t at = 0;
    ssize_t i = s_find_index (self, id, &at);
    if (i >= 0)
        return self->table[i];
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        member_t **table = realloc (self->table, cap * sizeof *table);
        if (!table)
            return NULL;
        self->table = table;
        member_t **pick = realloc (self->pick, cap * sizeof *pick);
        if (!pick)
            return NULL;
        self->pick = pick;
        self->cap = cap;
    }
    member_t *m = calloc (1, sizeof *m);
    if (!m)
        return NULL;
    m->id = *id;
    m->state = P_NONE;
    m->digest_ver_sent = UINT64_MAX;
    memmove (&self->table[at + 1], &self->table[at], (self->n - at) * sizeof *self->table);
    self->table[at] = m;
    self->n++;
    return m;
}

static void
s_remove (gossip_member_t *self, member_t *m)
{
    ssize_t i = s_find_index (self, &m->id, NULL);
    if (i < 0 || m->is_self)
        return;
    memmove (&self->table[i], &self->table[i + 1], (self->n - i - 1) * sizeof *self->table);
    self->n--;
    self->unverified_cache = SIZE_MAX;
    //  Its queued gossip goes too: after a reap nobody should hear of it from us.
    for (size_t q = 0; q < self->bq_n; q++)
        if (s_id_eq (&self->bq[q].u.id, &m->id)) {
            self->bq[q] = self->bq[--self->bq_n];
            break;
        }
    free (m);
}

static size_t
s_alive_count (gossip_member_t *self)
{
    size_t count = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->table[i]->state == P_ALIVE || self->table[i]->state == P_SUSPECT)
            count++;
    return count;
}

//  Have we heard from it ourselves (a message from it, or its answer to a
//  probe)?  Members we only heard *of* may be a forger's inventions.
static bool
s_heard (const member_t *m)
{
    return m->direct_ms || m->reached_ms;
}

//  Fill self->pick with members passing `want`, return how many.
typedef bool (pick_fn) (gossip_member_t *self, const member_t *m, const void *arg);

static size_t
s_pick_random (gossip_member_t *self, pick_fn *want, const void *arg, size_t k)
{
    size_t count = 0;
    for (size_t i = 0; i < self->n; i++)
        if (!self->table[i]->is_self && want (self, self->table[i], arg))
            self->pick[count++] = self->table[i];
    //  partial Fisher-Yates: the first k are a uniform random sample
    if (k > count)
        k = count;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + s_rand_below (self, (uint32_t) (count - i));
        member_t *tmp = self->pick[i];
        self->pick[i] = self->pick[j];
        self->pick[j] = tmp;
    }
    return k;
}

//  Gossip, relays, push-pull partners and digest pushes go only to live
//  members that have answered a probe of ours (proof that they exist at
//  the address we hold).  The others get our probes (which is how they are
//  verified, or found dead), not our traffic: a flood of forged ids would
//  otherwise turn into sockets and messages to whatever addresses the
//  forger named (docs/MEMBERSHIP.md, "Bounds").
static bool
s_want_live (gossip_member_t *self, const member_t *m, const void *arg)
{
    return (m->state == P_ALIVE || m->state == P_SUSPECT) && s_heard (m);
}

//  Fill self->pick with the k live members that got our record longest ago
//  (ties broken at random so that equal peers share the load).
static size_t
s_pick_stalest (gossip_member_t *self, size_t k)
{
    size_t count = s_pick_random (self, s_want_live, NULL, (size_t) -1);
    if (k > count)
        k = count;
    for (size_t i = 0; i < k; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < count; j++)
            if (self->pick[j]->digest_sent_ms < self->pick[best]->digest_sent_ms)
                best = j;
        member_t *tmp = self->pick[i];
        self->pick[i] = self->pick[best];
        self->pick[best] = tmp;
    }
    return k;
}

//  Does some live peer still lack our current digest?
static bool
s_digest_stale_peers (gossip_member_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        const member_t *m = self->table[i];
        if (!m->is_self && s_want_live (self, m, NULL) && m->digest_ver_sent != self->digest_ver)
            return true;
    }
    return false;
}

static bool
s_want_alive_not (gossip_member_t *self, const member_t *m, const void *arg)
{
    return m->state == P_ALIVE && s_heard (m) && !s_id_eq (&m->id, (const mw_id_t *) arg);
}

static bool
s_want_dead (gossip_member_t *self, const member_t *m, const void *arg)
{
    return m->state == P_DEAD && s_heard (m);   //  a ghost never heard from is not worth a reconnect
}

static void
s_info (const member_t *m, gossip_member_info_t *out)
{
    memset (out, 0, sizeof *out);
    out->id = m->id;
    memcpy (out->name, m->name, sizeof out->name);
    memcpy (out->addr, m->addr, sizeof out->addr);
    out->state = (mw_state_t) m->state;
    out->incarnation = m->inc;
    out->last_heard_ms = m->last_heard_ms;
    out->direct_ms = m->direct_ms;
    out->reached_ms = m->reached_ms;
    out->state_since_ms = m->state_since_ms;
    out->digest_len = m->digest_len;
    memcpy (out->digest, m->digest, m->digest_len);
    out->is_self = m->is_self;
}

//  The record we hold for `m`, as signed (never rebuilt from our copy of
//  its fields: only what its signer signed verifies elsewhere).  With
//  `with_pk`, the member's key rides along, for receivers that may never
//  have met it (a join's news, a full state, an introduction).
static void
s_record_pk (const member_t *m, mw_update_t *u, bool with_pk)
{
    *u = m->rec;
    u->pk_len = 0;
    if (with_pk && (m->state == P_ALIVE || m->state == P_LEFT)) {
        memcpy (u->pk, m->pk, MW_PK_MAX);
        u->pk_len = MW_PK_MAX;
    }
}

static void
s_record (const member_t *m, mw_update_t *u)
{
    s_record_pk (m, u, false);
}

static size_t
s_update_size (const mw_update_t *u)
{
    return MW_UPDATE_OVERHEAD + strnlen (u->name, sizeof u->name) + strnlen (u->addr, sizeof u->addr)
           + u->digest_len + u->sig_len + u->pk_len;
}

//  Our own record (alive, or left once we leave), signed again: at start,
//  and whenever it changes (incarnation, state, digest).  The stamp orders
//  our records within one incarnation, so that the newest digest wins
//  wherever it is relayed.
static void
s_sign_self (gossip_member_t *self)
{
    member_t *me = self->me;
    mw_update_t *u = &me->rec;
    memset (u, 0, sizeof *u);
    u->id = me->id;
    u->from = me->id;
    memcpy (u->name, me->name, sizeof u->name);
    memcpy (u->addr, me->addr, sizeof u->addr);
    u->state = (uint8_t) (me->state == P_LEFT ? MW_STATE_LEFT : MW_STATE_ALIVE);
    u->incarnation = me->inc;
    u->digest_len = me->digest_len;
    memcpy (u->digest, me->digest, me->digest_len);
    u->session = self->session;
    u->stamp = ++self->stamp;
    me->session = u->session;
    me->stamp = u->stamp;
    if (gossip_sign_record (&self->ident, u) != 0)
        mw_error ("member_sign_failed", "inc=%llu", (unsigned long long) me->inc);   //  cannot happen
}

//  Our verdict on `m` (suspect or dead at its incarnation), signed by us.
//  Only id, state, incarnation and from are signed (and sent).
static void
s_verdict (gossip_member_t *self, const member_t *m, uint8_t state, mw_update_t *u)
{
    memset (u, 0, sizeof *u);
    u->id = m->id;
    u->state = state;
    u->incarnation = m->inc;
    u->from = self->me->id;
    if (gossip_sign_record (&self->ident, u) != 0)
        mw_error ("member_sign_failed", "state=%d", (int) state);   //  cannot happen
}

//  A record as kept and forwarded: a verdict loses what its signer did
//  not sign (and no relay can add to it), a key never stays in `rec`.
static void
s_keep (mw_update_t *dst, const mw_update_t *u)
{
    *dst = *u;
    dst->pk_len = 0;
    if (u->state == MW_STATE_SUSPECT || u->state == MW_STATE_DEAD) {
        dst->name[0] = 0;
        dst->addr[0] = 0;
        dst->digest_len = 0;
        dst->session = 0;
        dst->stamp = 0;
    }
}

//  --------------------------------------------------------------------------
//  4. Broadcast queue (declared early: transitions feed it)

static uint32_t
s_retransmit_limit (gossip_member_t *self)
{
    double n = (double) s_alive_count (self);
    uint32_t limit = self->cfg.retransmit_mult * (uint32_t) ceil (log10 (n + 1));
    return limit ? limit : 1;
}

static void
s_queue (gossip_member_t *self, const mw_update_t *u, uint32_t prio)
{
    //  A newer update about the same member replaces the queued one: only
    //  the latest news about a member is worth the bytes.
    bq_entry_t *e = NULL;
    for (size_t i = 0; i < self->bq_n; i++)
        if (s_id_eq (&self->bq[i].u.id, &u->id)) {
            e = &self->bq[i];
            break;
        }
    if (!e) {
        if (self->bq_n == self->bq_cap) {
            size_t cap = self->bq_cap ? self->bq_cap * 2 : 32;
            if (cap > BQ_MAX)
                cap = BQ_MAX;
            if (cap > self->bq_cap) {
                bq_entry_t *bq = realloc (self->bq, cap * sizeof *bq);
                if (bq) {
                    self->bq = bq;
                    self->bq_cap = cap;
                }
            }
        }
        if (self->bq_n == self->bq_cap) {
            //  Full: evict the most-sent entry (it has done most of its job).
            size_t worst = 0;
            for (size_t i = 1; i < self->bq_n; i++)
                if (self->bq[i].transmits > self->bq[worst].transmits)
                    worst = i;
            if (self->bq_n == 0)
                return;
            e = &self->bq[worst];
        }
        else
            e = &self->bq[self->bq_n++];
    }
    e->u = *u;
    e->transmits = 0;
    e->prio = prio;
    e->order = ++self->bq_order;
}

static void
s_queue_member (gossip_member_t *self, const member_t *m, uint32_t prio, bool with_pk)
{
    mw_update_t u;
    s_record_pk (m, &u, with_pk);
    s_queue (self, &u, prio);
}

static int
s_bq_cmp (const void *a, const void *b)
{
    const bq_entry_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    if (x->transmits != y->transmits)
        return x->transmits < y->transmits ? -1 : 1;
    if (x->order != y->order)
        return x->order > y->order ? -1 : 1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Sending: every message goes out here, with piggybacked updates.
//  Up to three kinds ride along, in this order:
//    - the destination's own record, when we hold it suspect or dead: the
//      fastest way for a frozen-then-thawed or partitioned node to learn it
//      must refute;
//    - our own alive record, when this peer has not seen our latest digest;
//    - the broadcast queue, fewest-sent first, under the byte budget.

static bool
s_in_msg (const mw_update_t *ups, uint32_t n, const mw_id_t *id)
{
    for (uint32_t i = 0; i < n; i++)
        if (s_id_eq (&ups[i].id, id))
            return true;
    return false;
}

static void
s_send (gossip_member_t *self, const char *addr, mw_msg_t *msg, member_t *dest, bool piggyback)
{
    if (!addr || !*addr)
        return;
    uint32_t n = 0;
    size_t budget = MW_PAYLOAD_BUDGET - MW_HEADER_ESTIMATE - strnlen (msg->addr, sizeof msg->addr)
                    - strnlen (msg->target_addr, sizeof msg->target_addr);
    size_t used_q[MW_MAX_UPDATES];
    uint32_t n_q = 0;
    if (piggyback) {
        if (dest && !dest->is_self && (dest->state == P_SUSPECT || dest->state == P_DEAD)) {
            s_record (dest, &self->scratch[n]);
            budget -= s_update_size (&self->scratch[n]);
            n++;
        }
        //  Our own record rides on the first message we send a peer (so
        //  whoever missed our join in the epidemic learns of us at first
        //  contact) and on the first one after each digest change.
        if (dest && !dest->is_self && self->me->state == P_ALIVE
            && (!dest->introduced || dest->digest_ver_sent != self->digest_ver)) {
            //  With our key the first time: it may never have seen it.
            s_record_pk (self->me, &self->scratch[n], !dest->introduced);
            budget -= s_update_size (&self->scratch[n]);
            n++;
            dest->digest_ver_sent = self->digest_ver;
            dest->digest_sent_ms = self->clock_ms;
            dest->introduced = true;
        }
        if (self->bq_n > 1)
            qsort (self->bq, self->bq_n, sizeof *self->bq, s_bq_cmp);
        for (size_t i = 0; i < self->bq_n && n < MW_MAX_UPDATES; i++) {
            const mw_update_t *u = &self->bq[i].u;
            size_t size = s_update_size (u);
            if (size > budget)
                continue;
            //  Do not tell a peer about itself unless it must refute, and
            //  never twice about the same member in one message.
            if (dest && s_id_eq (&u->id, &dest->id) && u->state == MW_STATE_ALIVE)
                continue;
            if (s_in_msg (self->scratch, n, &u->id))
                continue;
            self->scratch[n++] = *u;
            budget -= size;
            used_q[n_q++] = i;
        }
    }
    if (msg->type == MW_MSG_GOSSIP && n == 0)
        return;
    msg->updates = n ? self->scratch : NULL;
    msg->n_updates = n;
    self->stats.msgs_sent++;
    self->stats.updates_sent += n;
    if (self->send)
        self->send (self->ctx, addr, msg);
    msg->updates = NULL;
    msg->n_updates = 0;

    //  Count the transmissions; drop entries that have been sent enough.
    if (n_q) {
        uint32_t limit = s_retransmit_limit (self);
        for (uint32_t i = 0; i < n_q; i++)
            self->bq[used_q[i]].transmits++;
        size_t w = 0;
        for (size_t i = 0; i < self->bq_n; i++)
            if (self->bq[i].transmits < limit)
                self->bq[w++] = self->bq[i];
        self->bq_n = w;
    }
}

static void
s_msg_init (gossip_member_t *self, mw_msg_t *msg, int type)
{
    memset (msg, 0, sizeof *msg);
    msg->type = (uint8_t) type;
    msg->sender = self->me->id;
}

//  Full state for push-pull: self first, alive/suspect before dead/left,
//  at most MW_MAX_MEMBERS records and STATE_BYTES_MAX bytes.  Only members
//  we have heard from ourselves: we vouch for what we saw, so forged ids
//  that reached us second-hand stop here instead of being handed to every
//  joiner.  Members' records carry their keys (a joiner knows nobody); a
//  member we hold dead goes as our own signed suspicion (the receiver
//  suspects on our word, its own timer decides).
static void
s_send_state (gossip_member_t *self, const char *addr, int type, bool join)
{
    if (!addr || !*addr)
        return;
    size_t max = self->n < MW_MAX_MEMBERS ? self->n : MW_MAX_MEMBERS;
    mw_update_t *ups = malloc (max * sizeof *ups);
    if (!ups)
        return;
    uint32_t n = 0;
    s_record_pk (self->me, &ups[n++], true);
    size_t bytes = MW_HEADER_ESTIMATE + s_update_size (&ups[0]);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < self->n && n < max; i++) {
            member_t *m = self->table[i];
            bool live = m->state == P_ALIVE || m->state == P_SUSPECT;
            if (m->is_self || live != (pass == 0) || !s_heard (m))
                continue;
            if (m->state == P_DEAD)
                s_verdict (self, m, MW_STATE_SUSPECT, &ups[n]);
            else
                s_record_pk (m, &ups[n], true);
            size_t size = s_update_size (&ups[n]);
            if (bytes + size > STATE_BYTES_MAX)
                break;
            bytes += size;
            n++;
        }
    mw_msg_t msg;
    s_msg_init (self, &msg, type);
    snprintf (msg.addr, sizeof msg.addr, "%s", self->me->addr);
    msg.join = join ? 1 : 0;
    msg.updates = ups;
    msg.n_updates = n;
    self->stats.msgs_sent++;
    self->stats.updates_sent += n;
    if (self->send)
        self->send (self->ctx, addr, &msg);
    free (ups);
}

//  What a full state would tell a peer about membership, as one number:
//  every member we would send (ourselves, and those we heard from
//  ourselves), by id, incarnation, boot session and whether we hold it
//  dead; summed, so that the order of the table does not matter.  Record
//  contents that change all the time (digests, re-signing stamps) are left
//  out: gossip carries them, and they would make two converged tables
//  differ most of the time.  Never 0 (0 means "no summary" on the wire).
//  Kept for SUMMARY_CACHE_MS: a member sending summaries as fast as it can
//  costs one table walk per period, not one per datagram (a stale value
//  only makes one anti-entropy round match or differ by mistake).
#define SUMMARY_CACHE_MS 100
static uint64_t
s_table_summary (gossip_member_t *self, uint64_t now)
{
    if (self->summary_ms && now >= self->summary_ms && now < self->summary_ms + SUMMARY_CACHE_MS)
        return self->summary;
    uint64_t sum = 0;
    for (size_t i = 0; i < self->n; i++) {
        const member_t *m = self->table[i];
        if ((!m->is_self && !s_heard (m)) || m->state == P_LEFT || m->state == P_NONE)
            continue;
        uint64_t h = 0x6d77737563636573ull;
        for (size_t b = 0; b < MW_ID_LEN; b++)
            h = (h ^ m->id.b[b]) * 0x100000001b3ull;
        uint64_t x = h ^ (m->inc * 0x9e3779b97f4a7c15ull) ^ (m->session + (m->state == P_DEAD ? 1 : 0));
        sum += mw_splitmix64 (&x);
    }
    self->summary = sum ? sum : 1;
    self->summary_ms = now ? now : 1;
    return self->summary;
}

//  Anti-entropy, the cheap way: our table's summary alone (one datagram).
//  A peer whose table differs answers with its full state, which we answer
//  with ours (s_handle_push_pull): the exchange memberlist always makes,
//  now only when something differs.  A converged mesh of 20 traded 4.6 KB
//  each way over a fresh TCP connection for nothing (issue 17).
static void
s_send_summary (gossip_member_t *self, const char *addr, uint64_t now)
{
    if (!addr || !*addr)
        return;
    mw_msg_t msg;
    s_msg_init (self, &msg, MW_MSG_PUSH_PULL);
    snprintf (msg.addr, sizeof msg.addr, "%s", self->me->addr);
    msg.summary = s_table_summary (self, now);
    self->stats.msgs_sent++;
    if (self->send)
        self->send (self->ctx, addr, &msg);
}

//  --------------------------------------------------------------------------
//  2. Lifecycle

static void
s_emit (gossip_member_t *self, int ev, const member_t *m)
{
    if (mw_log_get_level () <= MW_LOG_DEBUG) {
        char hex[MW_ID_HEX_LEN + 1], me[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&m->id, hex);
        gossip_wire_id_hex (&self->me->id, me);
        mw_debug ("member_event", "self=%s peer=%s ev=%d state=%d inc=%llu", me, hex, ev, (int) m->state,
                  (unsigned long long) m->inc);
    }
    if (self->event) {
        gossip_member_info_t info;
        s_info (m, &info);
        self->event (self->ctx, (gossip_member_event_t) ev, &info);
    }
}

//  Suspicion timeout bounds for the current cluster size.
//      min = max (suspicion_min_ms, suspicion_mult * probe_interval * log10 (N + 1))
//      max = min * suspicion_max_mult
static void
s_suspicion_bounds (gossip_member_t *self, uint64_t *min_ms, uint64_t *max_ms)
{
    double n = (double) s_alive_count (self);
    double min = (double) self->cfg.suspicion_mult * self->cfg.probe_interval_ms * log10 (n + 1);
    if (min < self->cfg.suspicion_min_ms)
        min = self->cfg.suspicion_min_ms;
    *min_ms = (uint64_t) min;
    uint32_t mult = self->cfg.suspicion_max_mult ? self->cfg.suspicion_max_mult : 1;
    *max_ms = *min_ms * mult;
}

//  Lifeguard: timeout = max - (max - min) * log (C + 1) / log (K + 1), >= min.
static void
s_suspicion_deadline (member_t *m)
{
    uint64_t timeout = m->susp_min_ms;
    if (m->susp_k >= 1) {
        double frac = log ((double) m->n_confirm + 1) / log ((double) m->susp_k + 1);
        double t = (double) m->susp_max_ms - (double) (m->susp_max_ms - m->susp_min_ms) * frac;
        timeout = t < (double) m->susp_min_ms ? m->susp_min_ms : (uint64_t) t;
    }
    m->susp_deadline_ms = m->susp_start_ms + timeout;
}

static void
s_suspicion_start (gossip_member_t *self, member_t *m, uint64_t now)
{
    s_suspicion_bounds (self, &m->susp_min_ms, &m->susp_max_ms);
    size_t n = s_alive_count (self);
    uint32_t k = self->cfg.suspicion_k ? self->cfg.suspicion_k : self->cfg.indirect_k;
    if (n < 2 + (size_t) k)
        k = n > 2 ? (uint32_t) (n - 2) : 0;
    m->susp_k = k;
    m->susp_start_ms = now;
    m->n_confirm = 0;
    m->susp_retried = false;
    s_suspicion_deadline (m);
}

//  Returns true when `from` is a new independent confirmation.
static bool
s_confirm (member_t *m, const mw_id_t *from)
{
    if (s_id_eq (from, &m->from))
        return false;
    for (uint32_t i = 0; i < m->n_confirm; i++)
        if (s_id_eq (from, &m->confirmers[i]))
            return false;
    if (m->n_confirm >= CONFIRM_MAX)
        return false;
    m->confirmers[m->n_confirm++] = *from;
    s_suspicion_deadline (m);
    return true;
}

static int
s_lane_of (const member_t *m)
{
    return s_heard (m) ? 0 : 1;
}

static void s_probe_add_at (gossip_member_t *self, const member_t *m, bool next);

//  We heard from it (`*when` is its direct_ms or reached_ms).  The first
//  time, it moves to the probe lane of members we know to be real.
static void
s_heard_from (gossip_member_t *self, member_t *m, uint64_t *when, uint64_t now)
{
    bool first = !s_heard (m);
    if (when == &m->reached_ms && !*when)
        self->unverified_cache = SIZE_MAX;   //  only a first answer changes the count
    *when = now;
    if (first && (m->state == P_ALIVE || m->state == P_SUSPECT))
        s_probe_add_at (self, m, false);
}

static void
s_probe_add_at (gossip_member_t *self, const member_t *m, bool next)
{
    if (next && s_heard (m)) {
        for (size_t i = 0; i < self->n_urgent; i++)
            if (s_id_eq (&self->urgent[i], &m->id))
                return;
        if (self->n_urgent < URGENT_MAX)
            self->urgent[self->n_urgent++] = m->id;
        return;
    }
    lane_t *l = &self->lane[s_lane_of (m)];
    //  A round never holds more entries than twice the table: extra
    //  out-of-turn entries beyond that wait for the next round.
    if (l->n - l->pos >= 2 * (size_t) self->cfg.max_members)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        mw_id_t *ids = realloc (l->ids, cap * sizeof *ids);
        if (!ids)
            return;
        l->ids = ids;
        l->cap = cap;
    }
    //  A random slot in the rest of this round, so a newcomer is probed
    //  soon but not always first (SWIM's round-robin stays fair).
    size_t rest = l->n - l->pos;
    size_t at = l->pos + (next ? 0 : s_rand_below (self, (uint32_t) rest + 1));
    memmove (&l->ids[at + 1], &l->ids[at], (l->n - at) * sizeof *l->ids);
    l->ids[at] = m->id;
    l->n++;
}

//  The one place where a peer's state changes.  `u` is the update that
//  caused it (NULL for timers); `quiet` suppresses the re-broadcast of a
//  member learnt second-hand from a full-state sync (else every joiner
//  would re-gossip the whole table it just downloaded).
static void
s_transition (gossip_member_t *self, member_t *m, pevent_t ev, const mw_update_t *u, bool quiet, uint64_t now)
{
    pstate_t cur = m ? m->state : P_NONE;
    const trans_t *t = &s_table[cur][ev];
    uint64_t inc = m ? m->inc : 0;
    switch (t->rule) {
    case R_NEVER: return;
    case R_GT:
        if (!u || u->incarnation <= inc)
            return;
        break;
    case R_GE:
        if (!u || u->incarnation < inc)
            return;
        break;
    case R_EQ:
        if (!u || u->incarnation != inc)
            return;
        break;
    default: break;
    }
    self->unverified_cache = SIZE_MAX;
    if (!m) {
        //  Only a verified alive record makes a member (s_apply checked
        //  its signature under the key it carries, which the member keeps).
        if (!u || u->pk_len != MW_PK_MAX)
            return;
        m = s_insert (self, &u->id);
        if (!m)
            return;
        memcpy (m->pk, u->pk, MW_PK_MAX);
    }
    if (t->actions & A_CONFIRM) {
        if (!s_confirm (m, &u->from))
            return;
        //  The confirmer's own signed verdict goes on, so that others can
        //  count it (and check it) too.
        mw_update_t rec;
        s_keep (&rec, u);
        s_queue (self, &rec, 0);
        return;
    }
    pstate_t prev = m->state;
    if (u)
        m->inc = u->incarnation;
    if (t->actions & A_TAKE) {
        if (u->name[0])
            s_strcpy (m->name, sizeof m->name, u->name, sizeof u->name);
        if (u->addr[0])
            s_strcpy (m->addr, sizeof m->addr, u->addr, sizeof u->addr);
        m->digest_len = u->digest_len <= MW_DIGEST_MAX ? u->digest_len : 0;
        memcpy (m->digest, u->digest, m->digest_len);
        m->session = u->session;
        m->stamp = u->stamp;
        m->last_heard_ms = now;
    }
    m->state = (pstate_t) t->next;
    if (m->state == P_SUSPECT || m->state == P_DEAD) {
        if (t->actions & A_SUSP || prev != m->state)
            m->from = u ? u->from : self->me->id;
    }
    else
        m->from = m->id;
    //  The record we now hold and forward: the one that moved it, or, when
    //  our own timer did (dead), our own verdict.
    if (u)
        s_keep (&m->rec, u);
    else if (m->state == P_SUSPECT || m->state == P_DEAD)
        s_verdict (self, m, (uint8_t) m->state, &m->rec);
    if (prev != m->state)
        m->state_since_ms = now;
    if (t->actions & A_SUSP) {
        s_suspicion_start (self, m, now);
        //  Probe a suspect out of turn, in our next period: if it is dead
        //  we confirm at once (Lifeguard then shortens the timeout to its
        //  minimum); if it is alive, our PING carries its suspect record
        //  and it refutes at once.  Round-robin alone would leave this to
        //  chance: with N nodes, ~1 probe of a given member per period.
        if (!s_id_eq (&m->from, &self->me->id)
            && !(self->probe.active && !self->probe.acked && s_id_eq (&self->probe.target, &m->id)))
            s_probe_add_at (self, m, true);
    }
    if (t->actions & A_PROBE)
        s_probe_add_at (self, m, false);
    //  News of a (re)join carries the member's key: whoever hears it first
    //  from us may never have met the member.
    if ((t->actions & A_BCAST) && !(quiet && prev == P_NONE))
        s_queue_member (self, m, 0, m->state == P_ALIVE && prev != P_ALIVE && prev != P_SUSPECT);
    if (t->ev)
        s_emit (self, t->ev, m);
    if (t->actions & A_FORGET)
        s_remove (self, m);
}

//  --------------------------------------------------------------------------
//  3. Update intake

static void
s_refute (gossip_member_t *self, uint64_t inc, uint64_t now)
{
    //  inc <= GOSSIP_MEMBER_INC_MAX (checked on intake), so +1 cannot wrap.
    if (self->me->inc <= inc)
        self->me->inc = inc + 1;
    s_health_add (self, +1);
    self->stats.refutes++;
    self->me->state_since_ms = now;
    s_sign_self (self);
    s_queue_member (self, self->me, 1, false);
    mw_debug ("member_refute", "inc=%llu", (unsigned long long) self->me->inc);
}

//  Forward declarations: the signature checks come after the bounds.
static const uint8_t *s_key_of (gossip_member_t *self, const mw_id_t *id);
static bool s_verify (gossip_member_t *self, const uint8_t *pk, const mw_update_t *u, const mw_id_t *sender,
                      uint64_t now);
static void s_sig_refused (gossip_member_t *self, int why, const mw_id_t *sender, uint64_t now);

static void
s_self_update (gossip_member_t *self, const mw_update_t *u, const mw_id_t *sender, uint64_t now)
{
    if (self->me->state == P_LEFT)
        return;   //  we are leaving: nothing to argue about
    bool self_said = u->state == MW_STATE_ALIVE || u->state == MW_STATE_LEFT;
    //  Someone holds a newer incarnation of us (our persisted counter was
    //  lost?), or says we are suspect, dead or gone at our incarnation or
    //  above: refute, once the record proves to be what it says.  Our own
    //  records must carry our signature (a key holder's "alive at 2^63" in
    //  our name is refused here, and we never jump for it); a verdict must
    //  carry its asserter's.
    bool refute =
        u->state == MW_STATE_ALIVE ? u->incarnation > self->me->inc : u->incarnation >= self->me->inc;
    if (refute) {
        const uint8_t *pk = self_said ? self->me->pk : s_key_of (self, &u->from);
        if (!pk) {
            s_sig_refused (self, 1, sender, now);
            return;
        }
        if (!s_verify (self, pk, u, sender, now))
            return;
        s_refute (self, u->incarnation, now);
    }
    if (u->state == MW_STATE_ALIVE)
        return;
    //  Whoever told us holds a wrong view of us (new or already refuted):
    //  our next message to it carries our alive record, whatever the
    //  broadcast queue still holds.  Gossip reaches almost everyone; this
    //  reaches exactly those who still doubt us.
    member_t *teller = sender ? s_find (self, sender) : NULL;
    if (teller && !teller->is_self)
        teller->introduced = false;
}

//  --------------------------------------------------------------------------
//  Bounds: who may enter the table (docs/MEMBERSHIP.md, "Bounds")

//  Refill to now, then report whether one token is there (without taking it).
static bool
s_bucket_has (bucket_t *b, uint64_t rate, uint64_t burst, uint64_t now)
{
    if (b->at_ms == 0) {   //  first use: full
        b->milli = burst * 1000;
        b->at_ms = now;
    }
    else if (now > b->at_ms) {
        uint64_t add = (now - b->at_ms) * rate;   //  rate/s x ms = thousandths
        b->milli = b->milli + add > burst * 1000 ? burst * 1000 : b->milli + add;
        b->at_ms = now;
    }
    return b->milli >= 1000;
}

//  The sender's entry, made (with a full bucket) if new; the least recently
//  used one makes room.  A flood of forged sender ids churns this table but
//  cannot grow it, and the global bucket still holds all of them together.
static sender_t *
s_sender (gossip_member_t *self, const mw_id_t *id, uint64_t now)
{
    //  Updates come in runs from one sender: try the last one first.
    if (self->last_sender < self->n_senders && s_id_eq (&self->senders[self->last_sender].id, id)) {
        self->senders[self->last_sender].used_ms = now;
        return &self->senders[self->last_sender];
    }
    sender_t *lru = NULL;
    for (size_t i = 0; i < self->n_senders; i++) {
        sender_t *s = &self->senders[i];
        if (s_id_eq (&s->id, id)) {
            s->used_ms = now;
            self->last_sender = i;
            return s;
        }
        if (!lru || s->used_ms < lru->used_ms)
            lru = s;
    }
    sender_t *s = self->n_senders < SENDERS_MAX ? &self->senders[self->n_senders++] : lru;
    self->last_sender = (size_t) (s - self->senders);
    memset (s, 0, sizeof *s);
    s->id = *id;
    s->used_ms = now;
    return s;   //  its bucket fills on first use
}

//  Cached: a flood asks for every id it sends while the table does not
//  change, so the count is taken again only after a change (s_transition,
//  s_heard_from and s_remove clear the cache).
static size_t
s_unverified_count (gossip_member_t *self)
{
    if (self->unverified_cache != SIZE_MAX)
        return self->unverified_cache;
    size_t count = 0;
    for (size_t i = 0; i < self->n; i++) {
        const member_t *m = self->table[i];
        if (!m->is_self && !m->reached_ms && (m->state == P_ALIVE || m->state == P_SUSPECT))
            count++;
    }
    return self->unverified_cache = count;
}

static void
s_refused (gossip_member_t *self, int why, const mw_id_t *sender, uint64_t now)
{
    uint64_t *counter = why == 0   ? &self->stats.refused_rate
                        : why == 1 ? &self->stats.refused_full
                                   : &self->stats.refused_unverified;
    (*counter)++;
    self->refused_since_log[why]++;
    if (sender)
        self->refused_last_sender = *sender;
    //  Loud, but once a minute: a flood must not become a log flood.
    if (now >= self->refused_log_ms) {
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&self->refused_last_sender, hex);
        mw_warn ("member_inserts_refused",
                 "rate=%llu full=%llu unverified=%llu members=%zu max=%u last_sender=%s window_s=%u",
                 (unsigned long long) self->refused_since_log[0],
                 (unsigned long long) self->refused_since_log[1],
                 (unsigned long long) self->refused_since_log[2], self->n, self->cfg.max_members, hex,
                 self->refused_log_ms ? REFUSED_LOG_GAP_MS / 1000 : 0);
        memset (self->refused_since_log, 0, sizeof self->refused_since_log);
        self->refused_log_ms = now + REFUSED_LOG_GAP_MS;
    }
}

//  Room for one more member.  Alive members that have never answered a
//  probe of ours are capped at max_members / UNVERIFIED_DIV.  At the hard
//  cap: forget the dead or left member we have held longest (reaping it
//  early); failing that, and only for a newcomer that speaks for itself,
//  the alive member we have never heard from nor reached that we have held
//  longest.  A member we have heard from directly is never pushed out.

//  Whom the hard cap would push out for a newcomer, or NULL.
static member_t *
s_room_victim (gossip_member_t *self, bool direct)
{
    member_t *victim = NULL;
    for (size_t i = 0; i < self->n; i++) {
        member_t *m = self->table[i];
        if (!m->is_self && (m->state == P_DEAD || m->state == P_LEFT)
            && (!victim || m->state_since_ms < victim->state_since_ms))
            victim = m;
    }
    if (!victim && direct)
        for (size_t i = 0; i < self->n; i++) {
            member_t *m = self->table[i];
            if (!m->is_self && !m->direct_ms && !m->reached_ms
                && (m->state == P_ALIVE || m->state == P_SUSPECT)
                && (!victim || m->state_since_ms < victim->state_since_ms))
                victim = m;
        }
    return victim;
}

//  May a member we do not know enter the table?  Tokens first (a flood then
//  costs one check per update and nothing else), then room.  Nothing is
//  taken or evicted here: checked before a record's signature, so that a
//  refused newcomer costs no verification either.
static bool
s_admit_check (gossip_member_t *self, const mw_id_t *sender, bool direct, uint64_t now)
{
    uint64_t rate = self->cfg.insert_rate, burst = self->cfg.insert_burst;
    sender_t *s = sender ? s_sender (self, sender, now) : NULL;
    if ((s && !s_bucket_has (&s->bucket, rate, burst, now))
        || !s_bucket_has (&self->global, rate * GLOBAL_RATE_MULT, burst * GLOBAL_BURST_MULT, now)) {
        s_refused (self, 0, sender, now);
        return false;
    }
    if (s_unverified_count (self) >= self->cfg.max_members / UNVERIFIED_DIV) {
        s_refused (self, 2, sender, now);
        return false;
    }
    if (self->n >= self->cfg.max_members && !s_room_victim (self, direct)) {
        s_refused (self, 1, sender, now);
        return false;
    }
    return true;
}

//  The newcomer passed s_admit_check and its record verified: make room
//  (evict at the hard cap) and take the tokens.
static bool
s_admit (gossip_member_t *self, const mw_id_t *sender, bool direct, uint64_t now)
{
    if (self->n >= self->cfg.max_members) {
        member_t *victim = s_room_victim (self, direct);
        if (!victim)
            return false;
        self->stats.evicted++;
        s_transition (self, victim, E_EVICT, NULL, false, now);
        if (self->n >= self->cfg.max_members)
            return false;
    }
    sender_t *s = sender ? s_sender (self, sender, now) : NULL;
    if (s)
        s->bucket.milli -= 1000;
    self->global.milli -= 1000;
    return true;
}

//  --------------------------------------------------------------------------
//  Signatures (gossip/sign.h): every record is checked before it changes
//  anything, and only after the cheap rules (precedence, tokens) say it
//  would: what we already hold, or would ignore anyway, costs no
//  verification.

//  The key of a node in our table (ourselves included), or NULL.
static const uint8_t *
s_key_of (gossip_member_t *self, const mw_id_t *id)
{
    member_t *m = s_find (self, id);
    return m ? m->pk : NULL;
}

//  A record refused for its signature: 0 unsigned, 1 no key known for its
//  signer, 2 the signature does not verify, 3 not checked (budget spent).
//  Counted; said once a minute when it looks like an attack (a missing
//  key is ordinary: a record relayed before its member introduced itself
//  to us, or a verdict by a node we have not met).
static void
s_sig_refused (gossip_member_t *self, int why, const mw_id_t *sender, uint64_t now)
{
    uint64_t *counter = why == 0   ? &self->stats.refused_unsigned
                        : why == 1 ? &self->stats.refused_nokey
                        : why == 2 ? &self->stats.refused_badsig
                                   : &self->stats.verify_shed;
    (*counter)++;
    self->sig_since_log[why]++;
    if (why == 1)
        return;
    if (sender)
        self->sig_last_sender = *sender;
    if (now >= self->sig_log_ms) {
        char hex[MW_ID_HEX_LEN + 1];
        gossip_wire_id_hex (&self->sig_last_sender, hex);
        mw_warn ("member_records_refused",
                 "unsigned=%llu bad_signature=%llu shed=%llu no_key=%llu last_sender=%s window_s=%u",
                 (unsigned long long) self->sig_since_log[0], (unsigned long long) self->sig_since_log[2],
                 (unsigned long long) self->sig_since_log[3], (unsigned long long) self->sig_since_log[1],
                 hex, self->sig_log_ms ? REFUSED_LOG_GAP_MS / 1000 : 0);
        memset (self->sig_since_log, 0, sizeof self->sig_since_log);
        self->sig_log_ms = now + REFUSED_LOG_GAP_MS;
    }
}

//  Does `u` verify under `pk`?  Failures spend a budget shared by all
//  senders (a forger's records cost a verification each); once it is
//  spent, records are refused unchecked until it refills.
static bool
s_verify (gossip_member_t *self, const uint8_t *pk, const mw_update_t *u, const mw_id_t *sender, uint64_t now)
{
    if (!s_bucket_has (&self->verify_fail, VERIFY_FAIL_RATE, VERIFY_FAIL_BURST, now)) {
        s_sig_refused (self, 3, sender, now);
        return false;
    }
    if (gossip_sign_record_verify (pk, u)) {
        self->stats.verified++;
        return true;
    }
    self->verify_fail.milli -= 1000;
    s_sig_refused (self, 2, sender, now);
    return false;
}

//  Would the table take `ev` at incarnation `inc` for `m` (NULL: unknown)?
//  The rule part of s_transition, without its effects.
static bool
s_rule_passes (const member_t *m, pevent_t ev, uint64_t inc)
{
    const trans_t *t = &s_table[m ? m->state : P_NONE][ev];
    uint64_t have = m ? m->inc : 0;
    switch (t->rule) {
    case R_NEVER: return false;
    case R_GT: return inc > have;
    case R_GE: return inc >= have;
    case R_EQ: return inc == have;
    default: return true;
    }
}

//  Would `from` be a new independent confirmation of m's suspicion?
static bool
s_confirm_new (const member_t *m, const mw_id_t *from)
{
    if (s_id_eq (from, &m->from) || m->n_confirm >= CONFIRM_MAX)
        return false;
    for (uint32_t i = 0; i < m->n_confirm; i++)
        if (s_id_eq (from, &m->confirmers[i]))
            return false;
    return true;
}

//  One update from `sender` (piggybacked or part of a full state).
static void
s_apply (gossip_member_t *self, const mw_update_t *in, const mw_id_t *sender, bool full_state, uint64_t now)
{
    if (in->state >= MW_STATE_COUNT || in->incarnation > GOSSIP_MEMBER_INC_MAX
        || in->digest_len > MW_DIGEST_MAX || s_id_zero (&in->id))
        return;
    if (in->sig_len != MW_SIG_MAX) {
        s_sig_refused (self, 0, sender, now);
        return;
    }
    mw_update_t u = *in;
    s_strcpy (u.name, sizeof u.name, in->name, sizeof in->name);
    s_strcpy (u.addr, sizeof u.addr, in->addr, sizeof in->addr);
    //  An alive or left record is the member's own word (from = itself, and
    //  it names its session); a verdict names who gives it.
    bool self_said = u.state == MW_STATE_ALIVE || u.state == MW_STATE_LEFT;
    if (self_said ? !s_id_eq (&u.from, &u.id) || u.session == 0 : s_id_zero (&u.from))
        return;
    if (s_id_eq (&u.id, &self->me->id)) {
        s_self_update (self, &u, sender, now);
        return;
    }
    bool direct = sender && s_id_eq (sender, &u.id);
    member_t *m = s_find (self, &u.id);
    pevent_t ev;
    switch (u.state) {
    case MW_STATE_ALIVE:
        if (m && m->state == P_ALIVE && u.incarnation == m->inc) {
            //  A newer version of the record at the same incarnation (its
            //  digest changed): the member's stamp orders the versions and
            //  its signature vouches for them, so a relayed copy is as good
            //  as the member's own, and an older one is ignored.
            if (u.session < m->session || (u.session == m->session && u.stamp <= m->stamp))
                return;
            ev = E_DIGEST;
        }
        else {
            if (!m && !u.addr[0])
                return;   //  cannot reach it anyway
            //  A new member: the only way into the table, so the only gate
            //  (tokens now, room once its record has verified).
            if (!m && !s_admit_check (self, sender, direct, now))
                return;
            ev = E_ALIVE;
        }
        break;
    case MW_STATE_SUSPECT:
        ev = (m && m->state == P_SUSPECT && u.incarnation == m->inc) ? E_CONFIRM : E_SUSPECT;
        break;
    case MW_STATE_DEAD:
        //  A full state carries its sender's dead members as its own
        //  suspicions (s_send_state): a dead verdict in one is not ours to
        //  act on (one peer's opinion, possibly old: our own timer decides).
        if (full_state)
            return;
        ev = E_DEAD;
        break;
    default: ev = E_LEFT; break;
    }
    if (!s_rule_passes (m, ev, u.incarnation) || (ev == E_CONFIRM && !s_confirm_new (m, &u.from)))
        return;
    //  The signer's key: a member's own, from our table or (a newcomer)
    //  carried in the record and tied to its id; an asserter's, from our
    //  table only (a verdict by a node we do not know is dropped).
    const uint8_t *pk = NULL;
    if (!self_said)
        pk = s_key_of (self, &u.from);
    else if (m)
        pk = m->pk;
    else if (gossip_sign_pk_ok (u.pk, u.pk_len, &u.id))
        pk = u.pk;
    if (!pk) {
        s_sig_refused (self, 1, sender, now);
        return;
    }
    if (!s_verify (self, pk, &u, sender, now))
        return;
    if (!m) {
        if (!s_admit (self, sender, direct, now))
            return;
        u.pk_len = MW_PK_MAX;   //  the key the member keeps (it is u.pk)
    }
    s_transition (self, m, ev, &u, full_state && !direct, now);
    if (direct && (m = s_find (self, &u.id)) != NULL)
        s_heard_from (self, m, &m->direct_ms, now);
}

static void
s_apply_all (gossip_member_t *self, const mw_msg_t *msg, bool full_state, uint64_t now)
{
    if (!msg->updates)
        return;
    uint32_t max = full_state ? MW_MAX_MEMBERS : MW_MAX_UPDATES;
    uint32_t n = msg->n_updates < max ? msg->n_updates : max;
    //  A full state's members first, then its verdicts: an asserter we
    //  learn from the same state is then known when its verdict is checked.
    for (int pass = 0; pass < (full_state ? 2 : 1); pass++)
        for (uint32_t i = 0; i < n; i++) {
            const mw_update_t *u = &msg->updates[i];
            bool member = u->state == MW_STATE_ALIVE || u->state == MW_STATE_LEFT;
            if (!full_state || member == (pass == 0))
                s_apply (self, u, &msg->sender, full_state, now);
        }
}

//  --------------------------------------------------------------------------
//  5. Probing

//  The next member of lane `k`'s round-robin, or NULL if it has none.
static member_t *
s_lane_next (gossip_member_t *self, int k)
{
    lane_t *l = &self->lane[k];
    for (int round = 0; round < 2; round++) {
        while (l->pos < l->n) {
            mw_id_t id = l->ids[l->pos++];
            member_t *m = s_find (self, &id);
            if (m && !m->is_self && (m->state == P_ALIVE || m->state == P_SUSPECT) && s_lane_of (m) == k)
                return m;
        }
        //  New round: a fresh shuffle of everyone this lane should probe.
        l->n = 0;
        l->pos = 0;
        if (l->cap < self->n) {
            mw_id_t *ids = realloc (l->ids, self->n * sizeof *ids);
            if (!ids)
                return NULL;
            l->ids = ids;
            l->cap = self->n;
        }
        for (size_t i = 0; i < self->n; i++) {
            member_t *m = self->table[i];
            if (!m->is_self && (m->state == P_ALIVE || m->state == P_SUSPECT) && s_lane_of (m) == k)
                l->ids[l->n++] = m->id;
        }
        for (size_t i = l->n; i > 1; i--) {
            size_t j = s_rand_below (self, (uint32_t) i);
            mw_id_t tmp = l->ids[i - 1];
            l->ids[i - 1] = l->ids[j];
            l->ids[j] = tmp;
        }
        if (l->n == 0)
            return NULL;
    }
    return NULL;
}

//  Urgent probes first (oldest first), then the lanes in turn; a lane with
//  nobody in it gives its turn away.
static member_t *
s_probe_next (gossip_member_t *self)
{
    while (self->n_urgent) {
        mw_id_t id = self->urgent[0];
        memmove (&self->urgent[0], &self->urgent[1], --self->n_urgent * sizeof id);
        member_t *m = s_find (self, &id);
        if (m && !m->is_self && (m->state == P_ALIVE || m->state == P_SUSPECT))
            return m;
    }
    int k = self->lane_next;
    member_t *m = s_lane_next (self, k);
    if (!m)
        m = s_lane_next (self, k ^= 1);
    self->lane_next = k ^ 1;
    return m;
}

static void
s_send_ping (gossip_member_t *self, member_t *target, const char *addr, uint32_t number)
{
    mw_msg_t msg;
    s_msg_init (self, &msg, MW_MSG_PING);
    msg.probe = number;
    msg.target = target->id;
    snprintf (msg.addr, sizeof msg.addr, "%s", self->me->addr);
    s_send (self, addr, &msg, target, true);
}

static uint64_t s_probe_retry_at (gossip_member_t *self, uint64_t now);

static void
s_probe_start (gossip_member_t *self, uint64_t now)
{
    uint64_t interval = (uint64_t) self->cfg.probe_interval_ms * s_scale (self);
    self->next_probe_ms = now + interval;
    if (self->me->state != P_ALIVE)
        return;   //  leaving: we no longer judge others
    member_t *target = s_probe_next (self);
    if (!target)
        return;
    memset (&self->probe, 0, sizeof self->probe);
    self->probe.active = true;
    self->probe.target = target->id;
    self->probe.number = ++self->probe_seq;
    self->probe.timeout_at = now + (uint64_t) self->cfg.probe_timeout_ms * s_scale (self);
    self->probe.period_end = now + interval;
    //  Resends of the direct PING: evenly within the probe timeout, the
    //  last one halfway through the indirect phase (beside the relays'),
    //  so that a lost datagram costs a resend, not a suspicion.  With no
    //  loss the ACK comes first and nothing is resent.
    self->probe.retries = self->cfg.probe_retries;
    self->probe.retry_at = self->probe.retries ? s_probe_retry_at (self, now) : 0;
    self->stats.probes++;
    s_send_ping (self, target, target->addr, self->probe.number);
}

//  When the next direct resend is due, from `now` (the last send).
static uint64_t
s_probe_retry_at (gossip_member_t *self, uint64_t now)
{
    uint64_t timeout = (uint64_t) self->cfg.probe_timeout_ms * s_scale (self);
    uint32_t within = self->cfg.probe_retries;   //  resends inside the timeout: all but the last
    uint64_t step = timeout / (within ? within : 1);
    if (self->probe.retries <= 1)   //  the last: halfway through the indirect phase
        return self->probe.timeout_at + (self->probe.period_end - self->probe.timeout_at) / 2;
    uint64_t at = now + step;
    return at < self->probe.timeout_at ? at : self->probe.timeout_at;
}

static void
s_probe_indirect (gossip_member_t *self, uint64_t now)
{
    self->probe.indirect_sent = true;
    member_t *target = s_find (self, &self->probe.target);
    if (!target)
        return;
    uint32_t k = self->cfg.indirect_k < RELAYS_MAX ? self->cfg.indirect_k : RELAYS_MAX;
    size_t n = s_pick_random (self, s_want_alive_not, &target->id, k);
    for (size_t i = 0; i < n; i++) {
        member_t *relay = self->pick[i];
        self->probe.relays[self->probe.n_relays++] = relay->id;
        mw_msg_t msg;
        s_msg_init (self, &msg, MW_MSG_PING_REQ);
        msg.probe = self->probe.number;
        msg.target = target->id;
        snprintf (msg.target_addr, sizeof msg.target_addr, "%s", target->addr);
        snprintf (msg.addr, sizeof msg.addr, "%s", self->me->addr);
        s_send (self, relay->addr, &msg, relay, true);
    }
}

static void
s_probe_finish (gossip_member_t *self, uint64_t now)
{
    self->probe.active = false;
    if (self->probe.acked)
        return;
    self->stats.probes_failed++;
    //  Lifeguard: relays that answered NACK prove our own receive path
    //  works, so the target is the likely culprit.  Silence from everyone
    //  suggests that we are the slow one: back off.
    if (self->probe.nacks == 0)
        s_health_add (self, +1);
    member_t *m = s_find (self, &self->probe.target);
    if (!m || (m->state != P_ALIVE && m->state != P_SUSPECT))
        return;
    mw_update_t u;
    s_verdict (self, m, MW_STATE_SUSPECT, &u);
    s_apply (self, &u, NULL, false, now);
    //  Our failure raised the suspicion or confirmed it.  Try once more
    //  next period: if it is alive after all, that direct PING (carrying
    //  our doubt) fetches its refutation; gossip alone misses a node now
    //  and then when loss is high.
    if (m->state == P_SUSPECT && !m->susp_retried) {
        m->susp_retried = true;
        s_probe_add_at (self, m, true);
    }
}

//  It answered a probe of ours itself: it exists at the address we hold.
static void
s_reached (gossip_member_t *self, member_t *m, uint64_t now)
{
    if (m && !m->is_self)
        s_heard_from (self, m, &m->reached_ms, now);
}

static bool
s_is_probe_relay (gossip_member_t *self, const mw_id_t *id)
{
    for (uint32_t i = 0; i < self->probe.n_relays; i++)
        if (s_id_eq (&self->probe.relays[i], id))
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Message handlers

static void
s_reply_addr (gossip_member_t *self, const mw_msg_t *msg, char out[MW_ADDR_MAX + 1])
{
    s_strcpy (out, MW_ADDR_MAX + 1, msg->addr, sizeof msg->addr);
    if (!out[0]) {
        member_t *m = s_find (self, &msg->sender);
        if (m)
            memcpy (out, m->addr, MW_ADDR_MAX + 1);
    }
}

static void
s_handle_ping (gossip_member_t *self, const mw_msg_t *msg, uint64_t now)
{
    //  The prober may be aiming at whoever had our address before us: only
    //  the id it names may answer.
    if (!s_id_eq (&msg->target, &self->me->id))
        return;
    char addr[MW_ADDR_MAX + 1];
    s_reply_addr (self, msg, addr);
    if (!addr[0])
        return;
    member_t *dest = s_find (self, &msg->sender);
    mw_msg_t ack;
    s_msg_init (self, &ack, MW_MSG_ACK);
    ack.probe = msg->probe;
    s_send (self, addr, &ack, dest, true);
    if (!dest && now >= self->last_unknown_pp_ms + UNKNOWN_PP_GAP_MS) {
        //  It knows us, we do not know it: trade tables.
        self->last_unknown_pp_ms = now;
        s_send_state (self, addr, MW_MSG_PUSH_PULL, false);
    }
}

static void
s_handle_ack (gossip_member_t *self, const mw_msg_t *msg, uint64_t now)
{
    if (self->probe.active && !self->probe.acked && msg->probe == self->probe.number
        && (s_id_eq (&msg->sender, &self->probe.target) || s_is_probe_relay (self, &msg->sender))) {
        self->probe.acked = true;
        s_health_add (self, -1);
        if (s_id_eq (&msg->sender, &self->probe.target))
            s_reached (self, s_find (self, &msg->sender), now);
        //  We hold it suspect, yet it just answered us: do not let OUR
        //  timer kill it before its refutation (which its ACK should
        //  carry) or another node's verdict reaches us.  A dead member
        //  cannot answer, so this never delays a true detection.
        member_t *m = s_find (self, &self->probe.target);
        if (m && m->state == P_SUSPECT) {
            uint64_t hold = now + m->susp_min_ms;
            if (m->susp_deadline_ms < hold)
                m->susp_deadline_ms = hold;
            //  Answered through a relay only: the relay's ACK does not
            //  carry its refutation.  Probe it directly next period; our
            //  PING carries our doubt, its ACK the answer.
            if (!s_id_eq (&msg->sender, &m->id))
                s_probe_add_at (self, m, true);
        }
        return;
    }
    for (int i = 0; i < RELAY_SLOTS; i++) {
        relay_t *r = &self->relays[i];
        if (r->used && r->number == msg->probe && s_id_eq (&r->target, &msg->sender)) {
            mw_msg_t ack;
            s_msg_init (self, &ack, MW_MSG_ACK);
            ack.probe = r->origin_probe;
            r->used = false;
            s_send (self, r->origin_addr, &ack, s_find (self, &r->origin), true);
            return;
        }
    }
    if (self->reconnect.active && msg->probe == self->reconnect.number
        && s_id_eq (&msg->sender, &self->reconnect.target)) {
        //  A member we hold dead answers: trade full states; both sides
        //  then see each other's verdicts and refute them.
        self->reconnect.active = false;
        member_t *m = s_find (self, &msg->sender);
        s_reached (self, m, now);
        if (m)
            s_send_state (self, m->addr, MW_MSG_PUSH_PULL, false);
    }
    //  anything else: a late or unknown probe number, ignored
}

static void
s_handle_ping_req (gossip_member_t *self, const mw_msg_t *msg, uint64_t now)
{
    char origin_addr[MW_ADDR_MAX + 1];
    s_reply_addr (self, msg, origin_addr);
    if (!origin_addr[0])
        return;
    if (s_id_eq (&msg->target, &self->me->id)) {
        //  Asked to probe ourselves: we are evidently alive.
        mw_msg_t ack;
        s_msg_init (self, &ack, MW_MSG_ACK);
        ack.probe = msg->probe;
        s_send (self, origin_addr, &ack, s_find (self, &msg->sender), true);
        return;
    }
    char target_addr[MW_ADDR_MAX + 1];
    s_strcpy (target_addr, sizeof target_addr, msg->target_addr, sizeof msg->target_addr);
    member_t *target = s_find (self, &msg->target);
    if (!target_addr[0] && target)
        memcpy (target_addr, target->addr, sizeof target_addr);
    if (!target_addr[0] || s_id_zero (&msg->target))
        return;
    relay_t *slot = NULL;
    for (int i = 0; i < RELAY_SLOTS && !slot; i++)
        if (!self->relays[i].used)
            slot = &self->relays[i];
    if (!slot)
        return;   //  too busy relaying: the origin has other relays
    slot->used = true;
    slot->number = ++self->probe_seq;
    slot->origin_probe = msg->probe;
    slot->target = msg->target;
    slot->origin = msg->sender;
    memcpy (slot->origin_addr, origin_addr, sizeof slot->origin_addr);
    memcpy (slot->target_addr, target_addr, sizeof slot->target_addr);
    //  NACK a little before our own probe timeout, so that it reaches the
    //  origin before its probe period ends; one resend of our PING halfway.
    slot->nack_at = now + (uint64_t) self->cfg.probe_timeout_ms * s_scale (self) * 4 / 5;
    slot->retry_at = self->cfg.probe_retries ? now + (slot->nack_at - now) / 2 : 0;
    mw_msg_t ping;
    s_msg_init (self, &ping, MW_MSG_PING);
    ping.probe = slot->number;
    ping.target = msg->target;
    snprintf (ping.addr, sizeof ping.addr, "%s", self->me->addr);
    s_send (self, target_addr, &ping, target, true);
}

static void
s_handle_push_pull (gossip_member_t *self, const mw_msg_t *msg, uint64_t now)
{
    //  Where to answer: the sender's own record in its state is freshest.
    char addr[MW_ADDR_MAX + 1] = "";
    if (msg->updates) {
        uint32_t n = msg->n_updates < MW_MAX_MEMBERS ? msg->n_updates : MW_MAX_MEMBERS;
        for (uint32_t i = 0; i < n && !addr[0]; i++)
            if (s_id_eq (&msg->updates[i].id, &msg->sender))
                s_strcpy (addr, sizeof addr, msg->updates[i].addr, sizeof msg->updates[i].addr);
    }
    if (!addr[0])
        s_reply_addr (self, msg, addr);
    bool probe = msg->n_updates == 0 && msg->summary != 0;
    if (probe && msg->summary == s_table_summary (self, now)) {
        self->stats.pushpull_same++;   //  nothing to repair
        return;
    }
    if (!probe)
        s_apply_all (self, msg, true, now);
    if (!addr[0])
        return;
    //  Our answer is up to MW_MAX_MEMBERS records: one per sender per
    //  second, PP_REPLY_RATE a second in all, or a flood of small requests
    //  becomes a flood of big replies.  A joiner left unanswered tries
    //  again (its seeds every second), and learns of us from our probes.
    sender_t *s = s_sender (self, &msg->sender, now);
    if ((s->pp_replied && now < s->pp_reply_ms + PP_REPLY_GAP_MS)
        || !s_bucket_has (&self->pp_global, PP_REPLY_RATE, PP_REPLY_BURST, now)) {
        self->stats.pushpull_refused++;
        return;
    }
    self->pp_global.milli -= 1000;
    s->pp_replied = true;
    s->pp_reply_ms = now;
    member_t *m = s_find (self, &msg->sender);
    if (m) {
        m->digest_ver_sent = self->digest_ver;   //  our state carries our record
        m->introduced = true;
    }
    //  A summary that differs: our full state as a PUSH_PULL, which the
    //  prober answers with its own (within the same limits: a small
    //  datagram buys at most one full state per sender per PP_REPLY_GAP_MS).
    s_send_state (self, addr, probe ? MW_MSG_PUSH_PULL : MW_MSG_PUSH_PULL_REPLY, false);
}

//  --------------------------------------------------------------------------
//  6. Public API

void
gossip_member_cfg_defaults (gossip_member_cfg_t *cfg)
{
    assert (cfg);
    memset (cfg, 0, sizeof *cfg);
    cfg->probe_interval_ms = 600;
    cfg->probe_timeout_ms = 200;
    cfg->indirect_k = 3;
    cfg->suspicion_mult = 1;
    cfg->suspicion_min_ms = 1000;
    cfg->suspicion_max_mult = 3;
    cfg->gossip_interval_ms = 200;
    cfg->gossip_fanout = 3;
    cfg->retransmit_mult = 4;
    cfg->pushpull_interval_ms = 30000;
    cfg->dead_reap_ms = 60000;
    cfg->awareness_max = 8;
    cfg->probe_retries = 2;
    cfg->suspicion_k = 4;
    //  1024 = MW_MAX_MEMBERS: a full state can carry the whole table, so
    //  every member can be handed to a joiner in one push-pull; the design
    //  range is 5-100 boxes, so 10x headroom.  128 new ids at once from one
    //  sender covers a push-pull from a seed of a 100-box mesh; 20 a second
    //  after that is far above any real join rate.
    cfg->max_members = MW_MAX_MEMBERS;
    cfg->insert_rate = 20;
    cfg->insert_burst = 128;
}

gossip_member_t *
gossip_member_new (const gossip_member_cfg_t *cfg, const gossip_identity_t *ident, uint64_t session,
                   const char *name, const char *addr, uint64_t incarnation, uint64_t seed,
                   gossip_member_send_fn *send, gossip_member_event_fn *event, void *ctx)
{
    if (!ident || !gossip_sign_pk_ok (ident->pk, sizeof ident->pk, &ident->id) || session == 0 || !addr
        || !*addr || strlen (addr) > MW_ADDR_MAX || (name && strlen (name) > MW_NAME_MAX)
        || incarnation >= GOSSIP_MEMBER_INC_MAX)
        return NULL;
    const mw_id_t *self_id = &ident->id;
    gossip_member_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ident = *ident;
    self->session = session;
    if (cfg)
        self->cfg = *cfg;
    else
        gossip_member_cfg_defaults (&self->cfg);
    if (self->cfg.probe_interval_ms == 0)
        self->cfg.probe_interval_ms = 500;
    if (self->cfg.gossip_interval_ms == 0)
        self->cfg.gossip_interval_ms = 200;
    if (self->cfg.probe_timeout_ms == 0 || self->cfg.probe_timeout_ms > self->cfg.probe_interval_ms)
        self->cfg.probe_timeout_ms = self->cfg.probe_interval_ms / 2;
    if (self->cfg.max_members == 0)
        self->cfg.max_members = MW_MAX_MEMBERS;
    if (self->cfg.max_members < 2 * UNVERIFIED_DIV)
        self->cfg.max_members = 2 * UNVERIFIED_DIV;   //  ourselves and someone to talk to
    if (self->cfg.insert_rate == 0)
        self->cfg.insert_rate = 20;
    if (self->cfg.insert_burst == 0)
        self->cfg.insert_burst = 128;
    self->send = send;
    self->event = event;
    self->ctx = ctx;
    //  Mix the id into the seed: nodes with the same seed still choose differently.
    uint64_t idmix = 0;
    memcpy (&idmix, self_id->b, sizeof idmix);
    self->rng = seed ^ (idmix * UINT64_C (0x2545F4914F6CDD1D));
    self->probe_seq = (uint32_t) s_rand (self);
    self->unverified_cache = SIZE_MAX;
    self->me = s_insert (self, self_id);
    if (!self->me) {
        gossip_member_destroy (&self);
        return NULL;
    }
    self->me->is_self = true;
    self->me->state = P_ALIVE;
    self->me->inc = incarnation;
    self->me->from = *self_id;
    snprintf (self->me->name, sizeof self->me->name, "%s", name ? name : "");
    snprintf (self->me->addr, sizeof self->me->addr, "%s", addr);
    memcpy (self->me->pk, ident->pk, MW_PK_MAX);
    s_sign_self (self);
    return self;
}

void
gossip_member_destroy (gossip_member_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gossip_member_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free (self->table[i]);
    free (self->table);
    free (self->pick);
    free (self->lane[0].ids);
    free (self->lane[1].ids);
    free (self->bq);
    sodium_memzero (&self->ident, sizeof self->ident);
    free (self);
    *self_p = NULL;
}

static uint64_t
s_pushpull_interval (gossip_member_t *self)
{
    //  memberlist's scaling: beyond 32 members, sync less often so the
    //  full-state traffic grows with log N rather than N.
    size_t n = s_alive_count (self);
    uint64_t mult = 1;
    if (n > 32)
        mult = (uint64_t) ceil (log2 ((double) n) - log2 (32.0)) + 1;
    return (uint64_t) self->cfg.pushpull_interval_ms * mult;
}

static uint64_t
s_reconnect_interval (gossip_member_t *self)
{
    uint64_t t = (uint64_t) self->cfg.probe_interval_ms * 4;
    return t < 2000 ? 2000 : t;
}

static void
s_start (gossip_member_t *self, uint64_t now)
{
    if (self->started)
        return;
    self->started = true;
    //  Stagger the first probe so that nodes started together do not
    //  probe in lockstep.
    self->next_probe_ms = now + s_rand_below (self, self->cfg.probe_interval_ms);
    self->next_gossip_ms = now + self->cfg.gossip_interval_ms;
    uint64_t pp = s_pushpull_interval (self);
    self->next_pushpull_ms = now + pp / 2 + s_rand_below (self, (uint32_t) (pp / 2 + 1));
    self->next_reconnect_ms = now + s_reconnect_interval (self);
}

void
gossip_member_tick (gossip_member_t *self, uint64_t now)
{
    assert (self);
    self->clock_ms = now;
    s_start (self, now);

    //  Probe state machine.
    if (self->probe.active) {
        if (!self->probe.acked && self->probe.retry_at && now >= self->probe.retry_at) {
            //  No ACK yet: the same probe again (the number is unchanged, so
            //  an ACK to any of the copies counts).
            member_t *target = s_find (self, &self->probe.target);
            self->probe.retries--;
            self->probe.retry_at = self->probe.retries ? s_probe_retry_at (self, now) : 0;
            if (target && (target->state == P_ALIVE || target->state == P_SUSPECT))
                s_send_ping (self, target, target->addr, self->probe.number);
        }
        if (!self->probe.acked && !self->probe.indirect_sent && now >= self->probe.timeout_at)
            s_probe_indirect (self, now);
        if (now >= self->probe.period_end)
            s_probe_finish (self, now);
    }
    if (!self->probe.active && now >= self->next_probe_ms)
        s_probe_start (self, now);

    //  Relays whose target stayed silent: NACK the origin (Lifeguard).
    for (int i = 0; i < RELAY_SLOTS; i++) {
        relay_t *r = &self->relays[i];
        if (r->used && r->retry_at && now >= r->retry_at && now < r->nack_at) {
            r->retry_at = 0;
            mw_msg_t ping;
            s_msg_init (self, &ping, MW_MSG_PING);
            ping.probe = r->number;
            ping.target = r->target;
            snprintf (ping.addr, sizeof ping.addr, "%s", self->me->addr);
            s_send (self, r->target_addr, &ping, s_find (self, &r->target), true);
        }
        if (r->used && now >= r->nack_at) {
            r->used = false;
            mw_msg_t nack;
            s_msg_init (self, &nack, MW_MSG_NACK);
            nack.probe = r->origin_probe;
            s_send (self, r->origin_addr, &nack, s_find (self, &r->origin), true);
        }
    }

    //  Suspicion timers and reaping.  A transition may remove the member
    //  (reap), so walk by index and re-check.
    for (size_t i = 0; i < self->n;) {
        member_t *m = self->table[i];
        size_t n_before = self->n;
        if (m->state == P_SUSPECT && now >= m->susp_deadline_ms)
            s_transition (self, m, E_TIMEOUT, NULL, false, now);
        else if ((m->state == P_DEAD || m->state == P_LEFT) && !m->is_self
                 && now >= m->state_since_ms + self->cfg.dead_reap_ms)
            s_transition (self, m, E_REAP, NULL, false, now);
        if (self->n == n_before)
            i++;
    }

    //  Dissemination tick.
    if (now >= self->next_gossip_ms) {
        self->next_gossip_ms = now + self->cfg.gossip_interval_ms;
        if (self->bq_n > 0 || self->digest_push) {
            //  With a digest (forecasts) the targets are the peers whose copy
            //  of our record is oldest, not random ones: a round robin brings
            //  every peer a fresh digest within (N-1)/fanout ticks, which is
            //  what keeps forecast age bounded (docs/MEMBERSHIP.md).  Queued
            //  updates ride along either way.
            size_t n = self->me->digest_len
                           ? s_pick_stalest (self, self->cfg.gossip_fanout)
                           : s_pick_random (self, s_want_live, NULL, self->cfg.gossip_fanout);
            self->digest_push = s_digest_stale_peers (self);
            for (size_t i = 0; i < n; i++) {
                mw_msg_t msg;
                s_msg_init (self, &msg, MW_MSG_GOSSIP);
                s_send (self, self->pick[i]->addr, &msg, self->pick[i], true);
            }
        }
    }

    //  Introduction sweep after a join: a GOSSIP (with our record) to a few
    //  members per tick that have not heard from us yet.  A mass boot then
    //  converges for sure: of any two joiners, the later one got the
    //  earlier one from the seed and introduces itself.
    if (self->intro_until_ms && now >= self->intro_tick_ms) {
        self->intro_tick_ms = now + self->cfg.gossip_interval_ms;
        uint32_t sent = 0;
        for (size_t i = 0; i < self->n && sent < INTRO_PER_TICK; i++) {
            member_t *m = self->table[i];
            if (m->is_self || m->introduced || (m->state != P_ALIVE && m->state != P_SUSPECT))
                continue;
            mw_msg_t msg;
            s_msg_init (self, &msg, MW_MSG_GOSSIP);
            s_send (self, m->addr, &msg, m, true);
            sent++;
        }
        if ((sent == 0 && now > self->intro_until_ms - INTRO_WINDOW_MS + 2000) || now >= self->intro_until_ms
            || self->me->state != P_ALIVE)
            self->intro_until_ms = 0;
    }

    //  Anti-entropy.
    if (self->cfg.pushpull_interval_ms && now >= self->next_pushpull_ms) {
        self->next_pushpull_ms = now + s_pushpull_interval (self);
        if (self->me->state == P_ALIVE && s_pick_random (self, s_want_live, NULL, 1) == 1)
            s_send_summary (self, self->pick[0]->addr, now);
    }

    //  Reconnect: ping one member we hold dead; if it answers, the two
    //  sides have healed (partition) and trade states.
    if (now >= self->next_reconnect_ms) {
        self->next_reconnect_ms = now + s_reconnect_interval (self);
        if (self->me->state == P_ALIVE && s_pick_random (self, s_want_dead, NULL, 1) == 1) {
            member_t *m = self->pick[0];
            self->reconnect.active = true;
            self->reconnect.number = ++self->probe_seq;
            self->reconnect.target = m->id;
            s_send_ping (self, m, m->addr, self->reconnect.number);
        }
    }
}

uint64_t
gossip_member_next_wakeup (gossip_member_t *self, uint64_t now)
{
    assert (self);
    if (!self->started)
        return now;
    uint64_t t = UINT64_MAX;
#define EARLIER(x)                                                                                           \
    do {                                                                                                     \
        uint64_t x_ = (x);                                                                                   \
        if (x_ < t)                                                                                          \
            t = x_;                                                                                          \
    } while (0)
    if (self->probe.active) {
        if (!self->probe.acked && !self->probe.indirect_sent)
            EARLIER (self->probe.timeout_at);
        if (!self->probe.acked && self->probe.retry_at)
            EARLIER (self->probe.retry_at);
        EARLIER (self->probe.period_end);
    }
    else
        EARLIER (self->next_probe_ms);
    for (int i = 0; i < RELAY_SLOTS; i++)
        if (self->relays[i].used) {
            EARLIER (self->relays[i].nack_at);
            if (self->relays[i].retry_at)
                EARLIER (self->relays[i].retry_at);
        }
    bool any_dead = false;
    for (size_t i = 0; i < self->n; i++) {
        member_t *m = self->table[i];
        if (m->state == P_SUSPECT)
            EARLIER (m->susp_deadline_ms);
        else if ((m->state == P_DEAD || m->state == P_LEFT) && !m->is_self) {
            EARLIER (m->state_since_ms + self->cfg.dead_reap_ms);
            any_dead |= m->state == P_DEAD;
        }
    }
    if (self->bq_n > 0 || self->digest_push)
        EARLIER (self->next_gossip_ms);
    if (self->intro_until_ms)
        EARLIER (self->intro_tick_ms);
    if (self->cfg.pushpull_interval_ms)
        EARLIER (self->next_pushpull_ms);
    if (any_dead)
        EARLIER (self->next_reconnect_ms);
#undef EARLIER
    return t < now ? now : t;
}

void
gossip_member_handle (gossip_member_t *self, const mw_msg_t *msg, uint64_t now)
{
    assert (self);
    self->clock_ms = now;
    if (!msg || s_id_eq (&msg->sender, &self->me->id) || s_id_zero (&msg->sender))
        return;   //  our own echo, or nobody
    s_start (self, now);
    member_t *sender = s_find (self, &msg->sender);
    if (sender) {
        sender->last_heard_ms = now;
        s_heard_from (self, sender, &sender->direct_ms, now);
    }
    switch (msg->type) {
    case MW_MSG_PING:
        s_apply_all (self, msg, false, now);
        s_handle_ping (self, msg, now);
        break;
    case MW_MSG_ACK:
        s_apply_all (self, msg, false, now);
        s_handle_ack (self, msg, now);
        break;
    case MW_MSG_PING_REQ:
        s_apply_all (self, msg, false, now);
        s_handle_ping_req (self, msg, now);
        break;
    case MW_MSG_NACK:
        s_apply_all (self, msg, false, now);
        if (self->probe.active && msg->probe == self->probe.number && s_is_probe_relay (self, &msg->sender))
            self->probe.nacks++;
        break;
    case MW_MSG_GOSSIP: s_apply_all (self, msg, false, now); break;
    case MW_MSG_PUSH_PULL: s_handle_push_pull (self, msg, now); break;
    case MW_MSG_PUSH_PULL_REPLY: s_apply_all (self, msg, true, now); break;
    default: break;   //  BEACON and anything unknown: not ours
    }
}

int
gossip_member_join (gossip_member_t *self, const char *addr, uint64_t now)
{
    assert (self);
    self->clock_ms = now;
    if (!addr || !*addr || strlen (addr) > MW_ADDR_MAX || self->me->state != P_ALIVE)
        return -1;
    s_start (self, now);
    s_send_state (self, addr, MW_MSG_PUSH_PULL, true);
    //  Once the seed's table arrives, introduce ourselves directly to every
    //  member in it: deterministic where the epidemic is only probable.
    self->intro_until_ms = now + INTRO_WINDOW_MS;
    return 0;
}

void
gossip_member_leave (gossip_member_t *self, uint64_t now)
{
    assert (self);
    self->clock_ms = now;
    if (self->me->state == P_LEFT)
        return;
    s_start (self, now);
    if (self->me->inc < GOSSIP_MEMBER_INC_MAX)
        self->me->inc++;
    self->me->state = P_LEFT;
    self->me->state_since_ms = now;
    self->probe.active = false;
    s_sign_self (self);
    s_queue_member (self, self->me, 1, false);
    size_t n = s_pick_random (self, s_want_live, NULL, LEAVE_FANOUT);
    for (size_t i = 0; i < n; i++) {
        mw_msg_t msg;
        s_msg_init (self, &msg, MW_MSG_GOSSIP);
        s_send (self, self->pick[i]->addr, &msg, self->pick[i], true);
    }
}

uint64_t
gossip_member_incarnation (gossip_member_t *self)
{
    assert (self);
    return self->me->inc;
}

void
gossip_member_set_digest (gossip_member_t *self, const uint8_t *digest, size_t len, uint64_t now)
{
    assert (self);
    self->clock_ms = now;
    assert (len == 0 || digest);
    if (len > MW_DIGEST_MAX) {
        mw_warn ("member_digest_too_big", "len=%zu max=%d", len, MW_DIGEST_MAX);
        return;
    }
    if (len == self->me->digest_len && (len == 0 || memcmp (digest, self->me->digest, len) == 0))
        return;
    if (len)
        memcpy (self->me->digest, digest, len);
    self->me->digest_len = (uint16_t) len;
    self->digest_ver++;
    self->digest_push = true;
    s_sign_self (self);
}

size_t
gossip_member_size (gossip_member_t *self)
{
    assert (self);
    return self->n;
}

size_t
gossip_member_alive_count (gossip_member_t *self)
{
    assert (self);
    return s_alive_count (self);
}

size_t
gossip_member_list (gossip_member_t *self, gossip_member_info_t *out, size_t max)
{
    assert (self);
    size_t n = 0;
    if (n < max)
        s_info (self->me, &out[n++]);
    for (size_t i = 0; i < self->n && n < max; i++)
        if (!self->table[i]->is_self)
            s_info (self->table[i], &out[n++]);
    return n;
}

int
gossip_member_lookup (gossip_member_t *self, const mw_id_t *id, gossip_member_info_t *out)
{
    assert (self);
    member_t *m = id ? s_find (self, id) : NULL;
    if (!m)
        return -1;
    if (out)
        s_info (m, out);
    return 0;
}

bool
gossip_member_pk (gossip_member_t *self, const mw_id_t *id, uint8_t pk[MW_PK_MAX])
{
    assert (self);
    const uint8_t *key = id ? s_key_of (self, id) : NULL;
    if (key && pk)
        memcpy (pk, key, MW_PK_MAX);
    return key != NULL;
}

bool
gossip_member_session_certified (gossip_member_t *self, const mw_id_t *id, uint64_t session,
                                 const mw_msg_t *carrier, uint64_t now)
{
    assert (self && id);
    member_t *m = s_find (self, id);
    if (!m || m->is_self || session <= m->session)
        return true;   //  no member (first contact: the clock rule bounds it), or certified
    //  A restarted member's first messages carry its fresh record: its own,
    //  alive or left, naming this session or a later one, under its key.
    //  The first such record decides (a forger can put many in a message:
    //  each would cost a verification).
    if (!carrier || !carrier->updates)
        return false;
    uint32_t max = carrier->n_updates < MW_MAX_MEMBERS ? carrier->n_updates : MW_MAX_MEMBERS;
    for (uint32_t i = 0; i < max; i++) {
        const mw_update_t *u = &carrier->updates[i];
        if (!s_id_eq (&u->id, id) || (u->state != MW_STATE_ALIVE && u->state != MW_STATE_LEFT))
            continue;
        return u->session >= session && u->sig_len == MW_SIG_MAX && s_verify (self, m->pk, u, id, now);
    }
    return false;
}

bool
gossip_member_knows_alive (gossip_member_t *self, const mw_id_t *id)
{
    assert (self);
    member_t *m = id ? s_find (self, id) : NULL;
    return m && (m->state == P_ALIVE || m->state == P_SUSPECT);
}

uint32_t
gossip_member_health (gossip_member_t *self)
{
    assert (self);
    return self->health;
}

void
gossip_member_suspicion_bounds (gossip_member_t *self, uint64_t *min_ms, uint64_t *max_ms)
{
    assert (self);
    uint64_t lo, hi;
    s_suspicion_bounds (self, &lo, &hi);
    if (min_ms)
        *min_ms = lo;
    if (max_ms)
        *max_ms = hi;
}

void
gossip_member_stats (gossip_member_t *self, gossip_member_stats_t *out)
{
    assert (self && out);
    *out = self->stats;
}

//  --------------------------------------------------------------------------
//  7. Selftest

//
//  N real instances on the simulator (sim/netsim.h): messages are copied
//  (struct and updates) into netsim, which delivers them at a virtual time
//  and ticks each instance at its own next_wakeup.  Links have 1-3 ms
//  latency; loss is either a true drop or (TCP model) a resend 200-400 ms
//  later (doubling if lost again); a partition drops everything between
//  groups; a crashed node is gone, a frozen node receives nothing until it
//  thaws (its input is then delivered late and in order, as a stopped
//  process's socket buffer would be).

#include "sim/netsim.h"

typedef struct sim_s sim_t;

typedef struct {
    sim_t *sim;
    int idx;
    gossip_member_t *m;
    gossip_identity_t ident;   //  its node key (from the seed: runs replay exactly)
    mw_id_t id;                //  = ident.id
    char addr[40];
    char name[16];
    uint64_t inc;
    uint64_t thaw_at;
    uint64_t bytes_sent;
    uint64_t msgs_sent;
} sim_node_t;

struct sim_s {
    sim_node_t *nodes;
    int n;
    uint64_t now, rng;   //  ms, as of the last sim_run; ids
    netsim_t *net;
    int port;
    gossip_member_cfg_t cfg;
    uint64_t *dead_at;   //  [obs * n + subj]: last EV_DEAD time
    uint64_t *join_at;   //  [obs * n + subj]: last EV_JOIN time
    int *dead_count;     //  per subject
    int suspects;
    bool verbose;
};

static uint64_t
sim_rand (sim_t *sim)
{
    return mw_splitmix64 (&sim->rng);
}

static uint64_t
sim_now (sim_t *sim)
{
    return netsim_now (sim->net) / NETSIM_MS;
}

static bool
sim_up (sim_t *sim, int i)
{
    return netsim_state (sim->net, (uint32_t) i) == NETSIM_UP;
}

static int
sim_index_by_addr (sim_t *sim, const char *addr)
{
    int a, b;
    if (sscanf (addr, "tcp://10.0.%d.%d:7000", &a, &b) != 2)
        return -1;
    int idx = a * 250 + b - 1;
    return idx >= 0 && idx < sim->n ? idx : -1;
}

static int
sim_index_by_id (sim_t *sim, const mw_id_t *id)
{
    for (int i = 0; i < sim->n; i++)
        if (s_id_eq (&sim->nodes[i].id, id))
            return i;
    return -1;
}

static size_t
sim_msg_size (const mw_msg_t *msg)
{
    //  envelope + header + body + updates, as the msgpack codec would roughly make it
    size_t size = 44 + 48 + strlen (msg->addr) + strlen (msg->target_addr);
    for (uint32_t i = 0; i < msg->n_updates; i++)
        size += s_update_size (&msg->updates[i]);
    return size;
}

static void
sim_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    sim_node_t *src = ctx;
    sim_t *sim = src->sim;
    size_t wire = sim_msg_size (msg);
    src->bytes_sent += wire;
    src->msgs_sent++;
    int dst = sim_index_by_addr (sim, addr);
    if (dst < 0)
        return;
    //  One flat copy: the struct, then its updates.
    uint32_t nu = msg->updates ? msg->n_updates : 0;
    size_t len = sizeof *msg + nu * sizeof *msg->updates;
    uint8_t *buf = malloc (len);
    assert (buf);
    memcpy (buf, msg, sizeof *msg);
    if (nu)
        memcpy (buf + sizeof *msg, msg->updates, nu * sizeof *msg->updates);
    netsim_send (sim->net, (uint32_t) src->idx, (uint32_t) dst, sim->port, buf, len, wire);
    free (buf);
}

static void
sim_event (void *ctx, gossip_member_event_t ev, const gossip_member_info_t *member)
{
    sim_node_t *obs = ctx;
    sim_t *sim = obs->sim;
    int subj = sim_index_by_id (sim, &member->id);
    if (subj < 0)
        return;
    if (ev == GOSSIP_MEMBER_EV_DEAD) {
        sim->dead_at[obs->idx * sim->n + subj] = sim_now (sim);
        sim->dead_count[subj]++;
    }
    else if (ev == GOSSIP_MEMBER_EV_JOIN)
        sim->join_at[obs->idx * sim->n + subj] = sim_now (sim);
    else if (ev == GOSSIP_MEMBER_EV_SUSPECT)
        sim->suspects++;
}

//  The member module as a netsim service.
static void
sim_svc_handle (void *ctx, uint32_t node, uint32_t from, void *buf, size_t len, uint64_t now_us)
{
    sim_t *sim = ctx;
    mw_msg_t msg;
    assert (len >= sizeof msg);
    memcpy (&msg, buf, sizeof msg);
    msg.updates = msg.updates ? (mw_update_t *) ((uint8_t *) buf + sizeof msg) : NULL;
    msg.sender = sim->nodes[from].id;   //  what the transport authenticates
    gossip_member_handle (sim->nodes[node].m, &msg, now_us / NETSIM_MS);
}

static void
sim_svc_tick (void *ctx, uint32_t node, uint64_t now_us)
{
    sim_t *sim = ctx;
    gossip_member_tick (sim->nodes[node].m, now_us / NETSIM_MS);
}

static uint64_t
sim_svc_wakeup (void *ctx, uint32_t node, uint64_t now_us)
{
    sim_t *sim = ctx;
    return gossip_member_next_wakeup (sim->nodes[node].m, now_us / NETSIM_MS) * NETSIM_MS;
}

//  10 % loss: dropped, or (TCP) resent 200-400 ms later.
static void
sim_loss (sim_t *sim, int pct, bool delay)
{
    netsim_link_t l;
    netsim_link_defaults (&l);   //  1..3 ms
    l.loss = pct / 100.0;
    l.retransmit = delay;
    l.rto_first_us = 200 * NETSIM_MS;
    l.rto_jitter_us = 200 * NETSIM_MS;
    l.rto_min_us = 200 * NETSIM_MS;
    netsim_set_link (sim->net, &l);
}

static void
sim_group (sim_t *sim, int i, uint32_t group)
{
    netsim_set_group (sim->net, (uint32_t) i, group);
}

//  MW_MEMBER_TEST_SEED=k reruns every scenario on another seed (for sweeps).
static uint64_t s_seed_offset = 0;

static sim_t *
sim_new (int n, uint64_t seed, const gossip_member_cfg_t *cfg, bool verbose)
{
    sim_t *sim = calloc (1, sizeof *sim);
    assert (sim);
    sim->n = n;
    sim->rng = seed + s_seed_offset * UINT64_C (1000003);
    sim->verbose = verbose;
    sim->now = 1000;
    if (cfg)
        sim->cfg = *cfg;
    else
        gossip_member_cfg_defaults (&sim->cfg);
    sim->nodes = calloc ((size_t) n, sizeof *sim->nodes);
    sim->dead_at = calloc ((size_t) n * n, sizeof *sim->dead_at);
    sim->join_at = calloc ((size_t) n * n, sizeof *sim->join_at);
    sim->dead_count = calloc ((size_t) n, sizeof *sim->dead_count);
    sim->net = netsim_new ((uint32_t) n, sim->rng);
    assert (sim->nodes && sim->dead_at && sim->join_at && sim->dead_count && sim->net);
    netsim_service_t svc = {"member", sim_svc_handle, sim_svc_tick, sim_svc_wakeup};
    sim->port = netsim_service (sim->net, &svc, sim);
    sim_loss (sim, 0, false);
    netsim_run_until (sim->net, sim->now * NETSIM_MS);
    for (int i = 0; i < n; i++) {
        sim_node_t *node = &sim->nodes[i];
        node->sim = sim;
        node->idx = i;
        uint8_t key_seed[32];
        for (int k = 0; k < 4; k++) {
            uint64_t r = sim_rand (sim);
            memcpy (key_seed + 8 * k, &r, 8);
        }
        int ok = gossip_identity_from_seed (key_seed, &node->ident);
        assert (ok == 0);
        (void) ok;
        node->id = node->ident.id;
        snprintf (node->addr, sizeof node->addr, "tcp://10.0.%d.%d:7000", i / 250, i % 250 + 1);
        snprintf (node->name, sizeof node->name, "box-%d", i);
        node->inc = 1;
        netsim_host (sim->net, (uint32_t) i, sim->port, true);
    }
    return sim;
}

static void
sim_destroy (sim_t **sim_p)
{
    sim_t *sim = *sim_p;
    for (int i = 0; i < sim->n; i++)
        gossip_member_destroy (&sim->nodes[i].m);
    netsim_destroy (&sim->net);
    free (sim->nodes);
    free (sim->dead_at);
    free (sim->join_at);
    free (sim->dead_count);
    free (sim);
    *sim_p = NULL;
}

static void
sim_start (sim_t *sim, int i, int join_to)
{
    sim_node_t *node = &sim->nodes[i];
    if (netsim_state (sim->net, (uint32_t) i) != NETSIM_DOWN)
        netsim_crash (sim->net, (uint32_t) i);
    gossip_member_destroy (&node->m);
    //  A (re)start is a new boot session: its wall-clock ms.
    node->m = gossip_member_new (&sim->cfg, &node->ident, UINT64_C (1700000000000) + sim_now (sim),
                                 node->name, node->addr, node->inc,
                                 UINT64_C (42) + (uint64_t) i + s_seed_offset, sim_send, sim_event, node);
    assert (node->m);
    netsim_start (sim->net, (uint32_t) i);
    if (join_to >= 0) {
        gossip_member_join (node->m, sim->nodes[join_to].addr, sim_now (sim));
        netsim_poke (sim->net, (uint32_t) i, sim->port);
    }
}

static void
sim_crash (sim_t *sim, int i)
{
    netsim_crash (sim->net, (uint32_t) i);
    gossip_member_destroy (&sim->nodes[i].m);
}

//  SIGSTOP now, SIGCONT at `thaw_at` (ms).
static void
sim_freeze (sim_t *sim, int i, uint64_t thaw_at)
{
    sim->nodes[i].thaw_at = thaw_at;
    netsim_freeze (sim->net, (uint32_t) i, thaw_at * NETSIM_MS);
}

static void
sim_run (sim_t *sim, uint64_t until)
{
    netsim_run_until (sim->net, until * NETSIM_MS);
    sim->now = sim_now (sim);
}

//  State of `subj` as seen by `obs`: -1 unknown.
static int
sim_view (sim_t *sim, int obs, int subj, uint64_t *inc)
{
    gossip_member_info_t info;
    if (gossip_member_lookup (sim->nodes[obs].m, &sim->nodes[subj].id, &info) != 0)
        return -1;
    if (inc)
        *inc = info.incarnation;
    return (int) info.state;
}

//  Every up node sees every other up node alive (and `subj`, when >= 0,
//  at incarnation >= min_inc).
static bool
sim_converged (sim_t *sim, int subj, uint64_t min_inc)
{
    for (int o = 0; o < sim->n; o++) {
        if (!sim_up (sim, o))
            continue;
        for (int s = 0; s < sim->n; s++) {
            if (s == o || !sim_up (sim, s))
                continue;
            uint64_t inc = 0;
            if (sim_view (sim, o, s, &inc) != MW_STATE_ALIVE)
                return false;
            if (s == subj && inc < min_inc)
                return false;
        }
    }
    return true;
}

//  Every up node other than subj sees subj in `state`.
static bool
sim_all_see (sim_t *sim, int subj, int state)
{
    for (int o = 0; o < sim->n; o++)
        if (o != subj && sim_up (sim, o) && sim_view (sim, o, subj, NULL) != state)
            return false;
    return true;
}

//  Run in 10 ms steps until pred holds; returns elapsed ms or UINT64_MAX.
typedef bool (sim_pred_fn) (sim_t *sim, int arg, uint64_t arg2);

static bool
sim_pred_converged (sim_t *sim, int subj, uint64_t min_inc)
{
    return sim_converged (sim, subj, min_inc);
}

static bool
sim_pred_dead (sim_t *sim, int subj, uint64_t unused)
{
    return sim_all_see (sim, subj, MW_STATE_DEAD);
}

static bool
sim_pred_left (sim_t *sim, int subj, uint64_t unused)
{
    return sim_all_see (sim, subj, MW_STATE_LEFT);
}

static uint64_t
sim_until (sim_t *sim, sim_pred_fn *pred, int arg, uint64_t arg2, uint64_t bound_ms)
{
    uint64_t start = sim->now;
    while (sim->now - start <= bound_ms) {
        if (pred (sim, arg, arg2))
            return sim->now - start;
        sim_run (sim, sim->now + 10);
    }
    return UINT64_MAX;
}

static int
sim_u64_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static uint64_t
sim_pct (uint64_t *v, size_t n, int pct)
{
    if (n == 0)
        return 0;
    qsort (v, n, sizeof *v, sim_u64_cmp);
    size_t i = (n * (size_t) pct + 99) / 100;
    return v[i ? i - 1 : 0];
}

//  Start node 0, then nodes 1..count-1 spread over spread_ms, each joining
//  node 0; returns ms from the last start to full convergence.
static uint64_t
sim_bootstrap (sim_t *sim, int count, uint64_t spread_ms, uint64_t bound_ms)
{
    sim_start (sim, 0, -1);
    for (int i = 1; i < count; i++) {
        sim_run (sim, sim->now + spread_ms / (uint64_t) count + 1);
        sim_start (sim, i, 0);
    }
    return sim_until (sim, sim_pred_converged, -1, 0, bound_ms);
}

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf ("gossip_member_test: FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            printf (__VA_ARGS__);                                                                            \
            printf ("\n");                                                                                   \
            rc = -1;                                                                                         \
            goto done;                                                                                       \
        }                                                                                                    \
    } while (0)

#define SAY(...)                                                                                             \
    do {                                                                                                     \
        if (verbose) {                                                                                       \
            printf (" * ");                                                                                  \
            printf (__VA_ARGS__);                                                                            \
            printf ("\n");                                                                                   \
        }                                                                                                    \
    } while (0)

//  Measure how long each up observer took to see `subj` dead after t0.
static size_t
sim_dead_times (sim_t *sim, int subj, uint64_t t0, uint64_t *out)
{
    size_t n = 0;
    for (int o = 0; o < sim->n; o++) {
        uint64_t at = sim->dead_at[o * sim->n + subj];
        if (o != subj && sim_up (sim, o) && at >= t0)
            out[n++] = at - t0;
    }
    return n;
}

static int
sim_dead_others (sim_t *sim, int a, int b)
{
    int count = 0;
    for (int s = 0; s < sim->n; s++)
        if (s != a && s != b)
            count += sim->dead_count[s];
    return count;
}

//  (a) joins, (b) crash, (c) restart, (d) freeze, digest spread
static int
s_test_lifecycle (bool verbose)
{
    int rc = 0;
    uint64_t times[128];
    sim_t *sim = sim_new (5, 1, NULL, verbose);
    uint64_t took = sim_bootstrap (sim, 5, 100, 5000);
    CHECK (took != UINT64_MAX, "5 nodes did not converge");
    SAY ("(a) 5 nodes via one seed: converged %llu ms after the last start", (unsigned long long) took);
    sim_destroy (&sim);

    int n = 50;
    sim = sim_new (n, 2, NULL, verbose);
    took = sim_bootstrap (sim, n - 1, 1000, 10000);
    CHECK (took != UINT64_MAX, "49 nodes did not converge");
    SAY ("(a) 49 nodes via one seed over 1 s: converged %llu ms after the last start",
         (unsigned long long) took);
    sim_run (sim, sim->now + 5000);
    uint64_t t0 = sim->now;
    sim_start (sim, n - 1, 0);
    took = sim_until (sim, sim_pred_converged, -1, 0, 5000);
    CHECK (took != UINT64_MAX && took <= 2000, "join into 49 took %llu ms", (unsigned long long) took);
    size_t k = 0;
    for (int o = 0; o < n - 1; o++)
        times[k++] = sim->join_at[o * n + n - 1] - t0;
    SAY ("(a) 50th node join seen by all: p50 %llu ms, max %llu ms (all-converged %llu ms)",
         (unsigned long long) sim_pct (times, k, 50), (unsigned long long) sim_pct (times, k, 100),
         (unsigned long long) took);
    sim_destroy (&sim);

    n = 20;
    sim = sim_new (n, 3, NULL, verbose);
    CHECK (sim_bootstrap (sim, n, 500, 10000) != UINT64_MAX, "20 did not converge");
    sim_run (sim, sim->now + 5000);
    //  (a') anti-entropy in a converged mesh: summaries that match, no
    //  full state on the wire (every node sends one every 30 s).
    {
        uint64_t same0 = 0, same1 = 0, upd0 = 0, upd1 = 0;
        gossip_member_stats_t st;
        for (int i = 0; i < n; i++) {
            gossip_member_stats (sim->nodes[i].m, &st);
            same0 += st.pushpull_same;
            upd0 += st.updates_sent;
        }
        sim_run (sim, sim->now + 61000);
        for (int i = 0; i < n; i++) {
            gossip_member_stats (sim->nodes[i].m, &st);
            same1 += st.pushpull_same;
            upd1 += st.updates_sent;
        }
        CHECK (same1 - same0 >= (uint64_t) n, "converged: %llu matching summaries in 61 s",
               (unsigned long long) (same1 - same0));
        SAY ("(a') 20 converged, 61 s: %llu anti-entropy summaries matched; %llu records sent in all",
             (unsigned long long) (same1 - same0), (unsigned long long) (upd1 - upd0));
    }
    //  (b) crash
    int victim = 5;
    t0 = sim->now;
    sim_crash (sim, victim);
    took = sim_until (sim, sim_pred_dead, victim, 0, 10000);
    CHECK (took != UINT64_MAX, "crash not detected");
    k = sim_dead_times (sim, victim, t0, times);
    SAY ("(b) N=20 crash seen dead by all: p50 %llu ms, max %llu ms",
         (unsigned long long) sim_pct (times, k, 50), (unsigned long long) sim_pct (times, k, 100));
    CHECK (sim_dead_others (sim, victim, -1) == 0, "false dead during crash");
    //  (c) restart with incarnation + 1
    sim_run (sim, sim->now + 2000);
    sim->nodes[victim].inc++;
    sim_start (sim, victim, 0);
    took = sim_until (sim, sim_pred_converged, victim, sim->nodes[victim].inc, 5000);
    CHECK (took != UINT64_MAX, "restart not seen");
    SAY ("(c) restart (inc+1) alive everywhere after %llu ms", (unsigned long long) took);
    //  (d) freeze 8 s, thaw, refute
    int frozen = 9;
    sim_run (sim, sim->now + 3000);
    uint64_t inc_before = gossip_member_incarnation (sim->nodes[frozen].m);
    t0 = sim->now;
    sim_freeze (sim, frozen, sim->now + 8000);
    sim_run (sim, sim->nodes[frozen].thaw_at - 1);
    CHECK (sim_all_see (sim, frozen, MW_STATE_DEAD), "frozen node not dead after 8 s");
    k = sim_dead_times (sim, frozen, t0, times);
    SAY ("(d) N=20 freeze seen dead by all: p50 %llu ms, max %llu ms",
         (unsigned long long) sim_pct (times, k, 50), (unsigned long long) sim_pct (times, k, 100));
    sim_run (sim, sim->nodes[frozen].thaw_at);
    took = sim_until (sim, sim_pred_converged, frozen, inc_before + 1, 10000);
    CHECK (took != UINT64_MAX, "thawed node did not come back");
    SAY ("(d) thawed node refuted (inc %llu -> %llu), alive everywhere after %llu ms",
         (unsigned long long) inc_before,
         (unsigned long long) gossip_member_incarnation (sim->nodes[frozen].m), (unsigned long long) took);
    CHECK (sim_dead_others (sim, victim, frozen) == 0, "false dead");

    //  digest: rides on our own record, refreshed by direct contact
    uint8_t digest[24];
    for (int i = 0; i < 24; i++)
        digest[i] = (uint8_t) (i * 7 + 1);
    gossip_member_set_digest (sim->nodes[0].m, digest, sizeof digest, sim->now);
    netsim_poke (sim->net, 0, sim->port);
    //  Our own record goes round robin to the peers that had it longest
    //  ago, so a change reaches all N-1 peers within about
    //  (N-1)/fanout gossip ticks (19/3 x 200 ms here), probes aside.
    int reached = 0;
    uint64_t elapsed = 0;
    t0 = sim->now;
    for (elapsed = 100; elapsed <= 15000; elapsed += 100) {
        sim_run (sim, t0 + elapsed);
        reached = 0;
        for (int o = 1; o < n; o++) {
            gossip_member_info_t info;
            if (gossip_member_lookup (sim->nodes[o].m, &sim->nodes[0].id, &info) == 0
                && info.digest_len == sizeof digest && memcmp (info.digest, digest, 24) == 0)
                reached++;
        }
        if (reached == n - 1)
            break;
    }
    SAY ("digest change reached %d/%d peers after %llu ms", reached, n - 1, (unsigned long long) elapsed);
    CHECK (elapsed <= 2000, "digest took longer than 2 s to reach every peer");
    CHECK (reached == n - 1, "digest did not reach everyone");
done:
    sim_destroy (&sim);
    return rc;
}

//  (e) loss: TCP-style delays, then true drops; never a false dead.
static int
s_test_loss (bool verbose)
{
    int rc = 0;
    sim_t *sim = sim_new (10, 4, NULL, verbose);
    CHECK (sim_bootstrap (sim, 10, 200, 5000) != UINT64_MAX, "10 did not converge");
    for (int mode = 0; mode < 2; mode++) {
        sim_loss (sim, 10, mode == 0);
        sim->suspects = 0;
        sim_run (sim, sim->now + 60000);
        int dead = sim_dead_others (sim, -1, -1);
        SAY ("(e) N=10, 10%% %s for 60 s: %d suspicions, %d dead", mode ? "drops" : "TCP delays",
             sim->suspects, dead);
        CHECK (dead == 0, "false dead under loss");
        sim_loss (sim, 0, false);
        CHECK (sim_until (sim, sim_pred_converged, -1, 0, 5000) != UINT64_MAX, "not converged");
    }
    uint32_t health = 0;
    for (int i = 0; i < 10; i++)
        health =
            gossip_member_health (sim->nodes[i].m) > health ? gossip_member_health (sim->nodes[i].m) : health;
    SAY ("(e) worst local health score after loss: %u", health);
done:
    sim_destroy (&sim);
    return rc;
}

static bool
sim_pred_partitioned (sim_t *sim, int unused, uint64_t unused2)
{
    for (int o = 0; o < sim->n; o++)
        for (int s = 0; s < sim->n; s++)
            if (s != o && netsim_group (sim->net, (uint32_t) s) != netsim_group (sim->net, (uint32_t) o)
                && sim_view (sim, o, s, NULL) != MW_STATE_DEAD)
                return false;
    return true;
}

//  (f) partition 3/2 and heal; (g) graceful leave and reap.
static int
s_test_partition_leave (bool verbose)
{
    int rc = 0;
    sim_t *sim = sim_new (5, 5, NULL, verbose);
    CHECK (sim_bootstrap (sim, 5, 100, 5000) != UINT64_MAX, "5 did not converge");
    sim_run (sim, sim->now + 2000);
    sim_group (sim, 3, 1);
    sim_group (sim, 4, 1);
    uint64_t took = sim_until (sim, sim_pred_partitioned, 0, 0, 15000);
    CHECK (took != UINT64_MAX, "partition not detected");
    SAY ("(f) partition 3/2: each side saw the other dead after %llu ms", (unsigned long long) took);
    sim_run (sim, sim->now + 3000);
    sim_group (sim, 3, 0);
    sim_group (sim, 4, 0);
    took = sim_until (sim, sim_pred_converged, -1, 0, 20000);
    CHECK (took != UINT64_MAX, "partition did not heal");
    SAY ("(f) healed: all alive everywhere after %llu ms", (unsigned long long) took);

    //  (g) leave
    sim_run (sim, sim->now + 3000);
    memset (sim->dead_count, 0, sizeof (int) * (size_t) sim->n);
    gossip_member_leave (sim->nodes[4].m, sim->now);
    took = sim_until (sim, sim_pred_left, 4, 0, 3000);
    CHECK (took != UINT64_MAX, "leave not seen");
    SAY ("(g) leave seen as LEFT by all after %llu ms", (unsigned long long) took);
    sim_crash (sim, 4);   //  the daemon exits after leaving
    sim_run (sim, sim->now + 10000);
    CHECK (sim_all_see (sim, 4, MW_STATE_LEFT), "left member changed state");
    CHECK (sim->dead_count[4] == 0, "left member was declared dead");
    sim_run (sim, sim->now + sim->cfg.dead_reap_ms);
    for (int o = 0; o < 4; o++)
        CHECK (gossip_member_size (sim->nodes[o].m) == 4, "left member not reaped at %d", o);
    SAY ("(g) left member reaped everywhere");
    CHECK (sim_dead_others (sim, -1, -1) == 0, "false dead");
done:
    sim_destroy (&sim);
    return rc;
}

//  N=100: join, detection distribution, bandwidth.
static int
s_test_scale (bool verbose)
{
    int rc = 0;
    int n = 100;
    uint64_t *times = calloc ((size_t) n * 4, sizeof *times);
    assert (times);
    sim_t *sim = sim_new (n, 6, NULL, verbose);
    uint64_t took = sim_bootstrap (sim, n - 1, 2000, 15000);
    CHECK (took != UINT64_MAX, "99 did not converge");
    SAY ("N=100: 99 nodes via one seed over 2 s converged %llu ms after the last start",
         (unsigned long long) took);
    sim_run (sim, sim->now + 5000);
    uint64_t t0 = sim->now;
    sim_start (sim, n - 1, 0);
    took = sim_until (sim, sim_pred_converged, -1, 0, 5000);
    CHECK (took != UINT64_MAX, "join into 99 not converged");
    size_t k = 0;
    for (int o = 0; o < n - 1; o++)
        times[k++] = sim->join_at[o * n + n - 1] - t0;
    uint64_t p50 = sim_pct (times, k, 50);
    SAY ("N=100: join seen by all: p50 %llu ms, max %llu ms", (unsigned long long) p50,
         (unsigned long long) sim_pct (times, k, 100));
    CHECK (p50 <= 1000, "join p50 %llu ms", (unsigned long long) p50);

    //  quiet bandwidth
    sim_run (sim, sim->now + 10000);
    for (int i = 0; i < n; i++)
        sim->nodes[i].bytes_sent = sim->nodes[i].msgs_sent = 0;
    uint64_t w0 = sim->now;
    sim_run (sim, sim->now + 60000);
    uint64_t bytes = 0, msgs = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        bytes += sim->nodes[i].bytes_sent;
        msgs += sim->nodes[i].msgs_sent;
        if (sim->nodes[i].bytes_sent > worst)
            worst = sim->nodes[i].bytes_sent;
    }
    double secs = (double) (sim->now - w0) / 1000.0;
    SAY ("N=100 steady state: %.0f B/s and %.1f msgs/s per node on average, worst node %.0f B/s",
         (double) bytes / n / secs, (double) msgs / n / secs, (double) worst / secs);
    CHECK ((double) bytes / n / secs < 2500, "bandwidth");

    //  crash detection, 4 trials
    k = 0;
    int victims[4] = {17, 42, 63, 88};
    for (int v = 0; v < 4; v++) {
        for (int i = 0; i < n; i++)
            sim->nodes[i].bytes_sent = 0;
        t0 = sim->now;
        sim_crash (sim, victims[v]);
        took = sim_until (sim, sim_pred_dead, victims[v], 0, 15000);
        CHECK (took != UINT64_MAX, "crash %d not detected", victims[v]);
        k += sim_dead_times (sim, victims[v], t0, times + k);
        uint64_t b = 0;
        for (int i = 0; i < n; i++)
            b += sim->nodes[i].bytes_sent;
        SAY ("N=100 crash %d: all saw it dead after %llu ms (%.0f B/s per node meanwhile)", victims[v],
             (unsigned long long) took, (double) b / n / ((double) took / 1000.0));
        sim_run (sim, sim->now + 3000);
    }
    p50 = sim_pct (times, k, 50);
    uint64_t p99 = sim_pct (times, k, 99);
    for (int v = 0; v < 4; v++)
        sim->dead_count[victims[v]] = 0;
    CHECK (sim_dead_others (sim, -1, -1) == 0, "false dead at N=100");
    //  10 % loss on every link at N=100 (96 left): TCP delays, then drops
    for (int mode = 0; mode < 2; mode++) {
        sim_loss (sim, 10, mode == 0);
        sim->suspects = 0;
        for (int i = 0; i < n; i++)
            sim->nodes[i].bytes_sent = 0;
        uint64_t l0 = sim->now;
        sim_run (sim, sim->now + 60000);
        uint64_t b = 0;
        for (int i = 0; i < n; i++)
            b += sim->nodes[i].bytes_sent;
        SAY ("N=96, 10%% %s for 60 s: %d suspicions, %d dead, %.0f B/s per node",
             mode ? "drops" : "TCP delays", sim->suspects, sim_dead_others (sim, -1, -1),
             (double) b / n / ((double) (sim->now - l0) / 1000.0));
        CHECK (sim_dead_others (sim, -1, -1) == 0, "false dead under loss at N=96");
        sim_loss (sim, 0, false);
        CHECK (sim_until (sim, sim_pred_converged, -1, 0, 5000) != UINT64_MAX, "not converged");
    }
    SAY ("N=100 detection over %zu observations: p50 %llu ms, p99 %llu ms, max %llu ms", k,
         (unsigned long long) p50, (unsigned long long) p99, (unsigned long long) sim_pct (times, k, 100));
    CHECK (p50 <= 3000 && p99 <= 5000, "detection p50 %llu p99 %llu", (unsigned long long) p50,
           (unsigned long long) p99);
done:
    free (times);
    sim_destroy (&sim);
    return rc;
}

//  (h) hostile or odd input against one instance.
typedef struct {
    int acks, pushpulls, sent;
} sink_t;

static void
sink_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    sink_t *sink = ctx;
    sink->sent++;
    if (msg->type == MW_MSG_ACK)
        sink->acks++;
    if (msg->type == MW_MSG_PUSH_PULL)
        sink->pushpulls++;
}

//  A test identity from a small number.
static void
s_test_ident (int k, gossip_identity_t *out)
{
    uint8_t seed[32] = {0};
    seed[0] = (uint8_t) k;
    seed[1] = (uint8_t) (k >> 8);
    seed[2] = (uint8_t) (k >> 16);
    seed[31] = 0x5a;
    int ok = gossip_identity_from_seed (seed, out);
    assert (ok == 0);
    (void) ok;
}

//  `who`'s own alive record at `inc`, signed, its key along.
static void
s_test_alive (const gossip_identity_t *who, uint64_t inc, const char *addr, mw_update_t *u)
{
    memset (u, 0, sizeof *u);
    u->id = who->id;
    u->from = who->id;
    u->state = MW_STATE_ALIVE;
    u->incarnation = inc;
    u->session = 1700000000000ULL;
    u->stamp = 1;
    snprintf (u->name, sizeof u->name, "n-%02x", who->id.b[0]);
    snprintf (u->addr, sizeof u->addr, "%s", addr);
    int ok = gossip_sign_record (who, u);
    assert (ok == 0);
    (void) ok;
    memcpy (u->pk, who->pk, MW_PK_MAX);
    u->pk_len = MW_PK_MAX;
}

//  One message of type GOSSIP from `sender` carrying `n` updates.
static void
s_test_gossip (gossip_member_t *m, const mw_id_t *sender, mw_update_t *ups, uint32_t n, uint64_t now)
{
    mw_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_GOSSIP;
    msg.sender = *sender;
    msg.updates = ups;
    msg.n_updates = n;
    gossip_member_handle (m, &msg, now);
}

static int
s_test_garbage (bool verbose)
{
    int rc = 0;
    sink_t sink = {0, 0, 0};
    gossip_identity_t me_key, peer_key;
    s_test_ident (1, &me_key);
    s_test_ident (2, &peer_key);
    mw_id_t me = me_key.id, peer = peer_key.id;
    gossip_member_t *m = gossip_member_new (NULL, &me_key, 1700000000000ULL, "me", "tcp://10.0.0.1:7000", 5,
                                            7, sink_send, NULL, &sink);
    CHECK (m, "new");
    CHECK (gossip_member_new (NULL, &me_key, 1, "me", "", 0, 7, NULL, NULL, NULL) == NULL, "empty addr");
    CHECK (gossip_member_new (NULL, &me_key, 1, "me", "x", UINT64_MAX, 7, NULL, NULL, NULL) == NULL,
           "huge incarnation");
    CHECK (gossip_member_new (NULL, &me_key, 0, "me", "x", 1, 7, NULL, NULL, NULL) == NULL, "no session");
    gossip_identity_t bad_key = me_key;
    bad_key.id.b[0] ^= 1;   //  an id its key does not hash to
    CHECK (gossip_member_new (NULL, &bad_key, 1, "me", "x", 1, 7, NULL, NULL, NULL) == NULL,
           "id not the key's");
    uint64_t now = 1000;
    gossip_member_tick (m, now);
    mw_update_t ups[8];
    mw_msg_t msg;

    //  ACK/NACK with unknown probe numbers, unknown types, self as sender
    for (int type = 0; type < 12; type++) {
        memset (&msg, 0, sizeof msg);
        msg.type = (uint8_t) type;
        msg.sender = peer;
        msg.probe = 0xdeadbeef;
        msg.n_updates = 5;   //  but no array
        gossip_member_handle (m, &msg, now++);
        msg.sender = me;
        gossip_member_handle (m, &msg, now++);
    }
    gossip_member_handle (m, NULL, now);

    //  PING for someone else at our address: no ack
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_PING;
    msg.sender = peer;
    msg.target = peer;
    snprintf (msg.addr, sizeof msg.addr, "tcp://10.0.0.9:7000");
    int acks = sink.acks;
    gossip_member_handle (m, &msg, now++);
    CHECK (sink.acks == acks, "acked a ping for another id");
    //  PING from an unknown node for us: acked, and we ask it for state
    msg.target = me;
    gossip_member_handle (m, &msg, now++);
    CHECK (sink.acks == acks + 1 && sink.pushpulls == 1, "unknown pinger");
    //  PING with no address from an unknown node: nowhere to answer
    msg.addr[0] = 0;
    gossip_member_handle (m, &msg, now++);
    CHECK (sink.acks == acks + 1, "acked into the void");
    //  unterminated strings everywhere
    memset (msg.addr, 'a', sizeof msg.addr);
    memset (msg.target_addr, 'b', sizeof msg.target_addr);
    msg.type = MW_MSG_PING_REQ;
    gossip_member_handle (m, &msg, now++);
    msg.type = MW_MSG_PING;
    gossip_member_handle (m, &msg, now++);

    //  Updates about unknown members in every state, plus invalid ones,
    //  each signed by the node it is about (alive) or by `peer` (others).
    gossip_identity_t keys[8];
    memset (ups, 0, sizeof ups);
    for (int i = 0; i < 8; i++) {
        s_test_ident (0x40 + i, &keys[i]);
        ups[i].id = keys[i].id;
        ups[i].state = (uint8_t) (i % 5);   //  4 is not a state
        ups[i].incarnation = (uint64_t) i;
        ups[i].from = ups[i].state == MW_STATE_ALIVE ? keys[i].id : peer;
        ups[i].session = ups[i].state == MW_STATE_ALIVE ? 1700000000000ULL : 0;
        memset (ups[i].name, 'n', sizeof ups[i].name);   //  unterminated
        memset (ups[i].addr, 'x', sizeof ups[i].addr);
        if (ups[i].state < MW_STATE_COUNT)
            gossip_sign_record (ups[i].state == MW_STATE_ALIVE ? &keys[i] : &peer_key, &ups[i]);
        memcpy (ups[i].pk, keys[i].pk, MW_PK_MAX);
        ups[i].pk_len = MW_PK_MAX;
    }
    ups[5].digest_len = 999;                    //  too long
    memset (&ups[6].id, 0, sizeof ups[6].id);   //  zero id
    ups[7].state = MW_STATE_ALIVE;
    ups[7].from = ups[7].id;
    ups[7].addr[0] = 0;   //  alive, no address
    ups[7].session = 1;
    gossip_sign_record (&keys[7], &ups[7]);
    memset (&msg, 0, sizeof msg);
    msg.sender = peer;
    msg.updates = ups;
    msg.n_updates = 8;
    for (int type = MW_MSG_PING; type <= MW_MSG_PUSH_PULL_REPLY; type++) {
        msg.type = (uint8_t) type;
        gossip_member_handle (m, &msg, now++);
    }
    //  only the valid alive ones (0: alive, inc 0) became members
    gossip_member_info_t info;
    CHECK (gossip_member_lookup (m, &ups[0].id, &info) == 0 && info.state == MW_STATE_ALIVE
               && strlen (info.addr) == MW_ADDR_MAX && strlen (info.name) == MW_NAME_MAX,
           "alive update not taken");
    CHECK (gossip_member_lookup (m, &ups[1].id, NULL) != 0, "suspect about unknown taken");
    CHECK (gossip_member_lookup (m, &ups[7].id, NULL) != 0, "alive without addr taken");
    gossip_member_stats_t st0, st;
    gossip_member_stats (m, &st0);

    //  A verdict needs a known asserter: `peer` is nobody to us yet, so its
    //  (well signed) word that ups[0] is dead is dropped, unread.
    mw_update_t v = ups[0];
    memset (&v, 0, sizeof v);
    v.id = keys[0].id;
    v.state = MW_STATE_DEAD;
    v.incarnation = 3;
    v.from = peer;
    CHECK (gossip_sign_record (&peer_key, &v) == 0, "sign verdict");
    s_test_gossip (m, &peer, &v, 1, now++);
    gossip_member_stats (m, &st);
    CHECK (gossip_member_lookup (m, &v.id, &info) == 0 && info.state == MW_STATE_ALIVE
               && st.refused_nokey == st0.refused_nokey + 1,
           "a verdict by an unknown asserter was taken");
    //  Once `peer` has introduced itself, its verdict counts.
    mw_update_t intro;
    s_test_alive (&peer_key, 1, "tcp://10.0.0.9:7000", &intro);
    s_test_gossip (m, &peer, &intro, 1, now++);
    CHECK (gossip_member_lookup (m, &peer, NULL) == 0, "peer's own record not taken");
    s_test_gossip (m, &peer, &v, 1, now++);
    CHECK (gossip_member_lookup (m, &v.id, &info) == 0 && info.state == MW_STATE_DEAD, "dead");
    //  stale alive about a dead member does not resurrect it
    s_test_gossip (m, &peer, &ups[0], 1, now++);
    CHECK (gossip_member_lookup (m, &ups[0].id, &info) == 0 && info.state == MW_STATE_DEAD,
           "stale alive resurrected a dead member");
    mw_update_t back;
    s_test_alive (&keys[0], 4, "tcp://10.0.0.40:7000", &back);
    back.pk_len = 0;   //  a relayed record: the receiver knows the key
    s_test_gossip (m, &peer, &back, 1, now++);
    CHECK (gossip_member_lookup (m, &ups[0].id, &info) == 0 && info.state == MW_STATE_ALIVE
               && info.incarnation == 4,
           "higher alive did not resurrect");
    //  left asserted by someone else is ignored (from must be the member)
    mw_update_t left = back;
    left.state = MW_STATE_LEFT;
    left.incarnation = 9;
    left.from = peer;
    gossip_sign_record (&peer_key, &left);   //  refused: peer cannot sign a's record
    s_test_gossip (m, &peer, &left, 1, now++);
    CHECK (gossip_member_lookup (m, &ups[0].id, &info) == 0 && info.state == MW_STATE_ALIVE,
           "third-party leave accepted");

    //  --- node keys: nobody speaks for another id ---------------------
    gossip_identity_t x_key, z_key;
    s_test_ident (0x77, &x_key);
    s_test_ident (0x78, &z_key);
    mw_update_t x;
    s_test_alive (&x_key, 2, "tcp://10.0.0.77:7000", &x);
    //  A newcomer relayed without its key cannot be checked: dropped.
    mw_update_t nokey = x;
    nokey.pk_len = 0;
    gossip_member_stats (m, &st0);
    s_test_gossip (m, &peer, &nokey, 1, now++);
    gossip_member_stats (m, &st);
    CHECK (gossip_member_lookup (m, &x.id, NULL) != 0 && st.refused_nokey == st0.refused_nokey + 1,
           "a newcomer without its key was taken");
    //  ... nor with a key that is not its id's.
    mw_update_t wrongkey = x;
    memcpy (wrongkey.pk, z_key.pk, MW_PK_MAX);
    s_test_gossip (m, &peer, &wrongkey, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, NULL) != 0, "a newcomer under another's key was taken");
    //  A relayed record with its key verifies: x enters through `peer`.
    s_test_gossip (m, &peer, &x, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.state == MW_STATE_ALIVE
               && info.incarnation == 2,
           "a relayed, signed record was refused");
    //  A forged record for x (a key holder signing with its own key):
    //  incarnation 2^62 (the highest a record may carry), refused.
    gossip_member_stats (m, &st0);
    mw_update_t forged = x;
    forged.pk_len = 0;
    forged.incarnation = GOSSIP_MEMBER_INC_MAX;
    forged.from = z_key.id;
    CHECK (gossip_sign_record (&z_key, &forged) == -1, "z signed x's record");
    forged.from = x.id;
    {
        //  what a forger would send: z's signature over x's record
        mw_update_t tmp = forged;
        tmp.id = z_key.id;
        tmp.from = z_key.id;
        CHECK (gossip_sign_record (&z_key, &tmp) == 0, "sign");
        memcpy (forged.sig, tmp.sig, MW_SIG_MAX);
        forged.sig_len = MW_SIG_MAX;
    }
    s_test_gossip (m, &x.id, &forged, 1, now++);   //  even "from x itself"
    gossip_member_stats (m, &st);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.incarnation == 2
               && st.refused_badsig == st0.refused_badsig + 1,
           "a forged record for another id was taken");
    //  A tampered field breaks x's own signature.
    mw_update_t tampered = x;
    tampered.incarnation = 3;
    s_test_gossip (m, &peer, &tampered, 1, now++);
    tampered = x;
    tampered.incarnation = 3;
    CHECK (gossip_sign_record (&x_key, &tampered) == 0, "sign");
    snprintf (tampered.addr, sizeof tampered.addr, "tcp://10.66.6.6:7000");   //  moved, says the relay
    s_test_gossip (m, &peer, &tampered, 1, now++);
    gossip_member_stats (m, &st);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.incarnation == 2
               && strcmp (info.addr, "tcp://10.0.0.77:7000") == 0
               && st.refused_badsig == st0.refused_badsig + 3,
           "a tampered record was taken");
    //  An unsigned record: refused without a verification.
    mw_update_t unsig = x;
    unsig.sig_len = 0;
    unsig.incarnation = 3;
    s_test_gossip (m, &peer, &unsig, 1, now++);
    gossip_member_stats (m, &st);
    CHECK (st.refused_unsigned == st0.refused_unsigned + 1 && st.verified == st0.verified,
           "an unsigned record: unsigned %llu, verified %llu", (unsigned long long) st.refused_unsigned,
           (unsigned long long) (st.verified - st0.verified));
    //  An unknown asserter's suspicion of x is dropped; a known one's is taken.
    mw_update_t susp;
    memset (&susp, 0, sizeof susp);
    susp.id = x.id;
    susp.state = MW_STATE_SUSPECT;
    susp.incarnation = 2;
    susp.from = z_key.id;
    CHECK (gossip_sign_record (&z_key, &susp) == 0, "sign");
    s_test_gossip (m, &z_key.id, &susp, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.state == MW_STATE_ALIVE,
           "an unknown asserter's suspicion was taken");
    susp.from = peer;   //  relabelled as peer's: z's signature does not fit
    s_test_gossip (m, &z_key.id, &susp, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.state == MW_STATE_ALIVE,
           "a verdict relabelled as another's was taken");
    CHECK (gossip_sign_record (&peer_key, &susp) == 0, "sign");
    s_test_gossip (m, &z_key.id, &susp, 1, now++);   //  relayed by anyone: peer's word
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.state == MW_STATE_SUSPECT,
           "a known asserter's suspicion was refused");
    //  x refutes (incarnation 3, its own signature), through a relay.
    mw_update_t refute;
    s_test_alive (&x_key, 3, "tcp://10.0.0.77:7000", &refute);
    refute.pk_len = 0;
    s_test_gossip (m, &peer, &refute, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.state == MW_STATE_ALIVE
               && info.incarnation == 3,
           "the refutation was refused");
    //  Same incarnation, newer stamp (its digest changed), relayed: taken;
    //  an older stamp afterwards (a replay of the old digest): ignored.
    mw_update_t d1 = refute, d0 = refute;
    d1.stamp = 5;
    d1.digest_len = 3;
    memcpy (d1.digest, "new", 3);
    CHECK (gossip_sign_record (&x_key, &d1) == 0, "sign");
    d0.stamp = 4;
    d0.digest_len = 3;
    memcpy (d0.digest, "old", 3);
    CHECK (gossip_sign_record (&x_key, &d0) == 0, "sign");
    s_test_gossip (m, &peer, &d1, 1, now++);
    s_test_gossip (m, &x.id, &d0, 1, now++);
    CHECK (gossip_member_lookup (m, &x.id, &info) == 0 && info.digest_len == 3
               && memcmp (info.digest, "new", 3) == 0,
           "digest: newest stamp not kept");
    //  Certified sessions (the replay gate): x's record names session S.
    uint64_t S = refute.session;
    CHECK (gossip_member_session_certified (m, &x.id, S, NULL, now), "its own session refused");
    CHECK (gossip_member_session_certified (m, &x.id, S - 1, NULL, now), "an older session refused");
    CHECK (!gossip_member_session_certified (m, &x.id, S + 1, NULL, now), "an uncertified session taken");
    CHECK (gossip_member_session_certified (m, &z_key.id, UINT64_C (1) << 62, NULL, now),
           "a non-member's first contact refused");
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_PING;
    msg.sender = x.id;
    mw_update_t cert[2];
    cert[0] = forged;   //  another node's record first: not x's word
    cert[0].id = peer;
    s_test_alive (&x_key, 4, "tcp://10.0.0.77:7000", &cert[1]);
    cert[1].session = S + 60000;   //  restarted a minute later
    CHECK (gossip_sign_record (&x_key, &cert[1]) == 0, "sign");
    msg.updates = cert;
    msg.n_updates = 2;
    CHECK (gossip_member_session_certified (m, &x.id, S + 60000, &msg, now), "a carried record refused");
    CHECK (!gossip_member_session_certified (m, &x.id, S + 60001, &msg, now), "a later session taken");
    cert[1].incarnation = 5;   //  tampered: the signature no longer fits
    CHECK (!gossip_member_session_certified (m, &x.id, S + 60000, &msg, now), "a tampered record certified");
    //  A forger's record naming x's session, signed with its own key.
    cert[1] = forged;
    cert[1].session = S + 60000;
    CHECK (!gossip_member_session_certified (m, &x.id, S + 60000, &msg, now), "a forged record certified");

    //  self-suspicion: normal, then huge incarnations (peer's verdicts)
    uint64_t inc0 = gossip_member_incarnation (m);
    memset (&ups[0], 0, sizeof ups[0]);
    ups[0].id = me;
    ups[0].state = MW_STATE_SUSPECT;
    ups[0].incarnation = inc0;
    ups[0].from = peer;
    gossip_sign_record (&peer_key, &ups[0]);
    memset (&msg, 0, sizeof msg);
    msg.type = MW_MSG_GOSSIP;
    msg.sender = peer;
    msg.updates = ups;
    msg.n_updates = 1;
    gossip_member_handle (m, &msg, now++);
    CHECK (gossip_member_incarnation (m) == inc0 + 1, "refute: inc %llu",
           (unsigned long long) gossip_member_incarnation (m));
    //  A forged alive record for us at 2^62 (signed by peer, not us): we
    //  do not jump, nobody takes it.
    mw_update_t me_forged;
    s_test_alive (&peer_key, GOSSIP_MEMBER_INC_MAX, "tcp://10.0.0.1:7000", &me_forged);
    me_forged.id = me;
    me_forged.from = me;
    gossip_member_stats (m, &st0);
    s_test_gossip (m, &peer, &me_forged, 1, now++);
    gossip_member_stats (m, &st);
    CHECK (gossip_member_incarnation (m) == inc0 + 1 && st.refused_badsig == st0.refused_badsig + 1,
           "jumped for a forged record of ourselves");
    ups[0].state = MW_STATE_DEAD;
    ups[0].incarnation = UINT64_MAX;
    gossip_sign_record (&peer_key, &ups[0]);
    gossip_member_handle (m, &msg, now++);
    CHECK (gossip_member_incarnation (m) == inc0 + 1, "accepted UINT64_MAX");
    ups[0].incarnation = GOSSIP_MEMBER_INC_MAX;
    gossip_sign_record (&peer_key, &ups[0]);
    gossip_member_handle (m, &msg, now++);
    CHECK (gossip_member_incarnation (m) == GOSSIP_MEMBER_INC_MAX + 1, "refute at cap");
    ups[0].incarnation = GOSSIP_MEMBER_INC_MAX + 1;
    gossip_sign_record (&peer_key, &ups[0]);
    gossip_member_handle (m, &msg, now++);
    CHECK (gossip_member_incarnation (m) == GOSSIP_MEMBER_INC_MAX + 1, "past the cap");
    CHECK (gossip_member_health (m) >= 1, "refute did not cost health");

    //  drive timers for a while with nobody answering
    for (int i = 0; i < 2000; i++) {
        gossip_member_tick (m, now);
        now += 50;
    }
    gossip_member_info_t list[16];
    size_t n = gossip_member_list (m, list, 16);
    CHECK (n >= 1 && list[0].is_self && n == gossip_member_size (m), "list");
    for (size_t i = 2; i < n; i++)
        CHECK (memcmp (list[i - 1].id.b, list[i].id.b, MW_ID_LEN) < 0, "list order");
    CHECK (gossip_member_alive_count (m) == 1, "everyone should be dead or reaped by now");
    uint8_t big[MW_DIGEST_MAX + 1] = {0};
    gossip_member_set_digest (m, big, sizeof big, now);   //  refused, logged
    gossip_member_set_digest (m, big, MW_DIGEST_MAX, now);
    CHECK (gossip_member_join (m, "", now) == -1, "join to nowhere");
    CHECK (gossip_member_join (m, "tcp://10.0.0.9:7000", now) == 0, "join");
    gossip_member_leave (m, now);
    gossip_member_leave (m, now);
    CHECK (gossip_member_join (m, "tcp://10.0.0.9:7000", now) == -1, "join after leave");
    SAY ("(h) garbage input: no crash, %d messages sent; forged, tampered, unsigned and unknown-asserter "
         "records refused, relayed ones verified, sessions certified only by the member's own record",
         sink.sent);
done:
    gossip_member_destroy (&m);
    CHECK (m == NULL, "destroy nulls");
    return rc;
}

//  (i) floods of forged member ids (docs/MEMBERSHIP.md, "Bounds").
//
//  A key holder can make as many node keys as it likes, so the ids of a
//  flood are validly signed: the bounds, not the signatures, hold them.
//  The ghosts come from a pool of pre-signed records (each its own key,
//  its key along); ghost ids carry addresses in 10.99/16, which the
//  simulated network drops: probes to them fail, as they would against a
//  forger's addresses.
#define FLOOD_POOL 8192

static mw_update_t *
flood_pool_new (void)
{
    mw_update_t *pool = calloc (FLOOD_POOL, sizeof *pool);
    assert (pool);
    for (uint32_t i = 0; i < FLOOD_POOL; i++) {
        gossip_identity_t key;
        s_test_ident (0x100000 + (int) i, &key);
        char addr[MW_ADDR_MAX + 1];
        snprintf (addr, sizeof addr, "tcp://10.99.%u.%u:7000", (i >> 8) & 255, i & 255);
        s_test_alive (&key, 1, addr, &pool[i]);
        snprintf (pool[i].name, sizeof pool[i].name, "ghost-%u", i);
        int ok = gossip_sign_record (&key, &pool[i]);
        assert (ok == 0);
        (void) ok;
    }
    return pool;
}

static void
flood_fill (const mw_update_t *pool, mw_update_t *ups, uint32_t n, uint64_t *counter)
{
    for (uint32_t i = 0; i < n; i++)
        ups[i] = pool[++*counter % FLOOD_POOL];
}

//  Send `ids` ghost records to `m` from one forger (a fixed sender id) or,
//  `many`, from a fresh sender per message whose own record leads the
//  message (each looks like a newcomer introducing itself), as GOSSIP (64
//  ids) and PUSH_PULL (1024 ids) in turn, advancing the clock by `step_us`
//  microseconds a message.  Returns the end time.
static uint64_t
flood_member (gossip_member_t *m, const mw_update_t *pool, uint64_t ids, bool many, uint64_t now,
              uint64_t step_us, uint64_t *counter)
{
    mw_update_t *ups = malloc (MW_MAX_MEMBERS * sizeof *ups);
    assert (ups);
    mw_id_t forger = {{0xf0, 0x0d, 1, 2, 3, 4, 5, 6}};
    uint64_t sent = 0, us = 0;
    for (uint64_t k = 0; sent < ids; k++) {
        mw_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.type = k % 16 == 15 ? MW_MSG_PUSH_PULL : MW_MSG_GOSSIP;
        uint32_t n = msg.type == MW_MSG_PUSH_PULL ? MW_MAX_MEMBERS : MW_MAX_UPDATES;
        if (n > ids - sent)
            n = (uint32_t) (ids - sent);
        flood_fill (pool, ups, n, counter);
        msg.sender = many && n ? ups[0].id : forger;
        snprintf (msg.addr, sizeof msg.addr, "tcp://10.99.255.1:7000");
        msg.updates = ups;
        msg.n_updates = n;
        us += step_us;
        gossip_member_handle (m, &msg, now + us / 1000);
        sent += n;
    }
    free (ups);
    return now + us / 1000;
}

static size_t
flood_unverified (gossip_member_t *m)
{
    return s_unverified_count (m);
}

//  The flooded node's network: three real peers at 10.0.0.2-4 answer its
//  PINGs (the ACKs are delivered by flood_answer); everything else is lost.
typedef struct {
    int pushpulls;   //  full-state replies
    int pushes;      //  full states sent as PUSH_PULL (answers to a summary that differs)
    uint64_t joins;
    int n_acks;
    mw_msg_t acks[16];
} flood_net_t;

static void
flood_send (void *ctx, const char *addr, const mw_msg_t *msg)
{
    flood_net_t *net = ctx;
    if (msg->type == MW_MSG_PUSH_PULL_REPLY)
        net->pushpulls++;
    if (msg->type == MW_MSG_PUSH_PULL && msg->n_updates > 0)
        net->pushes++;
    int p = 0;
    if (msg->type != MW_MSG_PING || sscanf (addr, "tcp://10.0.0.%d:7000", &p) != 1 || p < 2 || p > 4
        || net->n_acks == 16)
        return;
    mw_msg_t *ack = &net->acks[net->n_acks++];
    memset (ack, 0, sizeof *ack);
    ack->type = MW_MSG_ACK;
    ack->sender = msg->target;
    ack->probe = msg->probe;
}

static void
flood_event (void *ctx, gossip_member_event_t ev, const gossip_member_info_t *member)
{
    flood_net_t *net = ctx;
    if (ev == GOSSIP_MEMBER_EV_JOIN)
        net->joins++;
}

static void
flood_answer (gossip_member_t *m, flood_net_t *net, uint64_t now)
{
    int n = net->n_acks;
    net->n_acks = 0;
    for (int i = 0; i < n; i++)
        gossip_member_handle (m, &net->acks[i], now);
}

static int
s_test_flood (bool verbose)
{
    int rc = 0;
    flood_net_t net;
    gossip_member_cfg_t cfg;
    gossip_member_cfg_defaults (&cfg);
    gossip_identity_t me_key;
    s_test_ident (7, &me_key);
    gossip_member_t *m = NULL;
    sim_t *sim = NULL;
    mw_update_t self_rec[1];
    uint64_t counter = 0;
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    mw_update_t *pool = flood_pool_new ();
    clock_gettime (CLOCK_MONOTONIC, &t1);
    SAY ("(i) %d ghost keys made and their records signed in %.2f s", FLOOD_POOL,
         (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
    //  Runs: one forger, fresh sender ids, then fresh sender ids against a
    //  table of 32 (the hard cap is reached: dead ghosts are evicted early).
    for (int run = 0; run < 3; run++) {
        bool many = run > 0;
        cfg.max_members = run == 2 ? 32 : MW_MAX_MEMBERS;
        cfg.dead_reap_ms = run == 2 ? 3600000 : 60000;   //  dead ghosts pile up to the cap
        //  Ghosts are found dead one probe at a time: at 400 ms the cap is
        //  reached within the 136 virtual seconds below (the default 600
        //  ms leaves the table at 29 of 32, and nothing to evict).
        cfg.probe_interval_ms = 400;
        memset (&net, 0, sizeof net);
        m = gossip_member_new (&cfg, &me_key, 1700000000000ULL, "me", "tcp://10.0.0.1:7000", 1, 9, flood_send,
                               flood_event, &net);
        CHECK (m, "new");
        uint64_t now = 1000;
        gossip_member_tick (m, now);
        //  Three real peers we have heard from ourselves (each PINGs us with
        //  its own record).
        gossip_identity_t real_key[3];
        mw_id_t real[3];
        for (int p = 0; p < 3; p++) {
            s_test_ident (0x10 + p, &real_key[p]);
            real[p] = real_key[p].id;
            char addr[64];
            snprintf (addr, sizeof addr, "tcp://10.0.0.%d:7000", p + 2);
            s_test_alive (&real_key[p], 1, addr, &self_rec[0]);
            mw_msg_t ping;
            memset (&ping, 0, sizeof ping);
            ping.type = MW_MSG_PING;
            ping.sender = real[p];
            ping.target = me_key.id;
            ping.updates = self_rec;
            ping.n_updates = 1;
            snprintf (ping.addr, sizeof ping.addr, "%s", self_rec[0].addr);
            gossip_member_handle (m, &ping, now++);
        }
        CHECK (gossip_member_size (m) == 4, "real peers: %zu", gossip_member_size (m));
        //  They answer our probes: after a few periods all three are proven.
        for (int t = 0; t < 300; t++) {
            gossip_member_tick (m, now += 10);
            flood_answer (m, &net, now);
        }
        CHECK (flood_unverified (m) == 0, "real peers not verified");
        uint64_t joins0 = net.joins;
        //  10^6 ghost records over 20 virtual seconds (2 ms a message).
        clock_gettime (CLOCK_MONOTONIC, &t0);
        uint64_t end = flood_member (m, pool, 1000000, many, now, 2000, &counter);
        clock_gettime (CLOCK_MONOTONIC, &t1);
        double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        gossip_member_stats_t st;
        gossip_member_stats (m, &st);
        size_t size = gossip_member_size (m), unv = flood_unverified (m);
        uint64_t in = net.joins - joins0;
        SAY ("(i) 10^6 ghost records from %s over %.1f virtual s (%.2f s of CPU): table %zu (max %u), "
             "%zu not verified, %llu admitted; refused: rate %llu, full %llu, unverified %llu; evicted %llu; "
             "full-state replies %llu refused; %llu signatures checked",
             many ? "fresh sender ids" : "one sender", (double) (end - now) / 1000.0, secs, size,
             cfg.max_members, unv, (unsigned long long) in, (unsigned long long) st.refused_rate,
             (unsigned long long) st.refused_full, (unsigned long long) st.refused_unverified,
             (unsigned long long) st.evicted, (unsigned long long) st.pushpull_refused,
             (unsigned long long) st.verified);
        CHECK (size <= cfg.max_members, "table %zu over the cap", size);
        CHECK (unv <= cfg.max_members / UNVERIFIED_DIV, "%zu never-heard members", unv);
        uint64_t refused = st.refused_rate + st.refused_full + st.refused_unverified;
        //  The rest were records of ghosts already held (the pool repeats).
        CHECK (refused + in > 900000, "only %llu of 10^6 refused or admitted",
               (unsigned long long) (refused + in));
        //  What got in is what the buckets allow: one sender's burst + rate
        //  x time, or all senders' together.
        uint64_t secs_v = (end - now) / 1000 + 1;
        uint64_t allowed = many ? (uint64_t) cfg.insert_burst * GLOBAL_BURST_MULT
                                      + (uint64_t) cfg.insert_rate * GLOBAL_RATE_MULT * secs_v
                                : cfg.insert_burst + (uint64_t) cfg.insert_rate * secs_v;
        CHECK (in <= allowed, "%llu ids got in, the buckets allow %llu", (unsigned long long) in,
               (unsigned long long) allowed);
        //  A signature is checked only for what the tokens let through.
        CHECK (st.verified <= allowed + 16, "%llu signatures checked for %llu admissions",
               (unsigned long long) st.verified, (unsigned long long) allowed);
        for (int p = 0; p < 3; p++) {
            gossip_member_info_t info;
            CHECK (gossip_member_lookup (m, &real[p], &info) == 0 && info.state == MW_STATE_ALIVE
                       && info.direct_ms,
                   "real peer %d pushed out", p);
        }
        //  Full-state replies: one per sender per second, PP_REPLY_RATE in all.
        CHECK (net.pushpulls <= PP_REPLY_BURST + PP_REPLY_RATE * (int) secs_v, "%d full-state replies",
               net.pushpulls);
        CHECK (many || net.pushpulls <= (int) secs_v + 1, "%d full-state replies to one sender in %llu s",
               net.pushpulls, (unsigned long long) secs_v);
        CHECK (st.pushpull_refused > 0, "no full-state reply was refused");
        //  Keep the forgers' ids flowing while time passes: ghosts get
        //  probed, found dead, reaped; the table never passes the cap.
        for (int sec = 0; sec < 120; sec++) {
            end = flood_member (m, pool, 2000, many, end, 500, &counter);
            for (int t = 0; t < 50; t++) {
                gossip_member_tick (m, end += 20);
                flood_answer (m, &net, end);
            }
            CHECK (gossip_member_size (m) <= cfg.max_members, "table over the cap");
        }
        for (int p = 0; p < 3; p++) {
            gossip_member_info_t info;
            CHECK (gossip_member_lookup (m, &real[p], &info) == 0 && info.state == MW_STATE_ALIVE,
                   "real peer %d not alive after 120 s of flood", p);
        }
        gossip_member_stats (m, &st);
        SAY ("(i) ... 120 s more of it: table %zu (max %u), %zu not verified, evicted %llu",
             gossip_member_size (m), cfg.max_members, flood_unverified (m), (unsigned long long) st.evicted);
        CHECK (run < 2 || st.evicted > 0, "a full table evicted nothing");
        if (run == 0) {
            //  10^6 anti-entropy summaries from a real peer over 20 virtual
            //  s, every other one matching our table: the matching ones
            //  cost nothing but a count, the others at most one full state
            //  per second (the full-state limits); the table walk is cached.
            gossip_member_stats_t sp0, sp1;
            gossip_member_stats (m, &sp0);
            int pushes0 = net.pushes;
            uint64_t right = s_table_summary (m, end);
            mw_msg_t probe;
            memset (&probe, 0, sizeof probe);
            probe.type = MW_MSG_PUSH_PULL;
            probe.sender = real[0];
            snprintf (probe.addr, sizeof probe.addr, "tcp://10.0.0.2:7000");
            clock_gettime (CLOCK_MONOTONIC, &t0);
            for (int k = 0; k < 1000000; k++) {
                probe.summary = k % 2 ? right : right ^ 0x5a5a;
                gossip_member_handle (m, &probe, end + (uint64_t) k / 50);
            }
            clock_gettime (CLOCK_MONOTONIC, &t1);
            end += 20000;
            gossip_member_stats (m, &sp1);
            int full = net.pushes - pushes0;
            SAY ("(i) 10^6 summaries from a member over 20 virtual s (%.2f s of CPU): %llu matched, %d full "
                 "states sent",
                 (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9,
                 (unsigned long long) (sp1.pushpull_same - sp0.pushpull_same), full);
            CHECK (sp1.pushpull_same - sp0.pushpull_same >= 400000, "matching summaries not counted");
            CHECK (full >= 1 && full <= 21, "%d full states for one sender's summaries in 20 s", full);
            //  Forged records for the real peers (incarnation + 1, each
            //  signed by the forger's own key), 10^5 over 10 virtual s: the
            //  verifications they cost are bounded; none is taken.
            gossip_member_stats_t st0;
            gossip_member_stats (m, &st0);
            mw_update_t forged[MW_MAX_UPDATES];
            gossip_identity_t forger;
            s_test_ident (0xf0f0, &forger);
            mw_update_t tmpl[3];
            for (int p = 0; p < 3; p++) {
                char addr[64];
                snprintf (addr, sizeof addr, "tcp://10.66.0.%d:7000", p);
                s_test_alive (&forger, 2, addr, &tmpl[p]);
                tmpl[p].id = real[p];
                tmpl[p].from = real[p];
                tmpl[p].pk_len = 0;
            }
            uint64_t sent = 0;
            clock_gettime (CLOCK_MONOTONIC, &t0);
            for (int k = 0; sent < 100000; k++) {
                for (int i = 0; i < MW_MAX_UPDATES; i++) {
                    forged[i] = tmpl[(k + i) % 3];
                    forged[i].incarnation = 2 + (uint64_t) k;
                }
                s_test_gossip (m, &forger.id, forged, MW_MAX_UPDATES, end + (uint64_t) k * 6);
                sent += MW_MAX_UPDATES;
            }
            clock_gettime (CLOCK_MONOTONIC, &t1);
            end += 10000;
            gossip_member_stats (m, &st);
            uint64_t bad = st.refused_badsig - st0.refused_badsig, shed = st.verify_shed - st0.verify_shed;
            SAY ("(i) 10^5 forged records for the 3 real peers over 10 virtual s: %llu signatures failed, "
                 "%llu refused unchecked (%.2f s of CPU)",
                 (unsigned long long) bad, (unsigned long long) shed,
                 (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
            CHECK (bad + shed == sent, "%llu + %llu of %llu forged records accounted for",
                   (unsigned long long) bad, (unsigned long long) shed, (unsigned long long) sent);
            CHECK (bad <= VERIFY_FAIL_BURST + VERIFY_FAIL_RATE * 11, "%llu verifications failed",
                   (unsigned long long) bad);
            for (int p = 0; p < 3; p++) {
                gossip_member_info_t info;
                CHECK (gossip_member_lookup (m, &real[p], &info) == 0 && info.state == MW_STATE_ALIVE
                           && info.incarnation == 1 && strstr (info.addr, "10.0.0.") != NULL,
                       "a forged record of real peer %d was taken", p);
            }
        }
        gossip_member_destroy (&m);
    }

    //  A 10-node simulated mesh while node 0 is flooded: nobody real is
    //  suspected, and a real crash is still detected.
    gossip_member_cfg_defaults (&cfg);
    sim = sim_new (10, 11, NULL, verbose);
    CHECK (sim_bootstrap (sim, 10, 200, 5000) != UINT64_MAX, "10 did not converge");
    sim_run (sim, sim->now + 3000);
    sim->suspects = 0;
    for (int step = 0; step < 200; step++) {   //  10^5 ids over 20 s, both kinds
        flood_member (sim->nodes[0].m, pool, 500, step % 2 == 1, sim->now, 200, &counter);
        netsim_poke (sim->net, 0, sim->port);
        sim_run (sim, sim->now + 100);
    }
    sim_run (sim, sim->now + 10000);
    int dead = sim_dead_others (sim, -1, -1);
    size_t worst = 0;
    for (int i = 0; i < sim->n; i++)
        if (gossip_member_size (sim->nodes[i].m) > worst)
            worst = gossip_member_size (sim->nodes[i].m);
    SAY ("(i) N=10, node 0 flooded with 10^5 ids over 20 s: largest table %zu, %d suspicions of real "
         "nodes, %d dead",
         worst, sim->suspects, dead);
    CHECK (dead == 0, "a real node was declared dead during the flood");
    CHECK (worst <= cfg.max_members, "a table passed the cap");
    CHECK (sim_until (sim, sim_pred_converged, -1, 0, 5000) != UINT64_MAX, "real nodes not all alive");
    uint64_t tc = sim->now;
    sim_crash (sim, 4);
    uint64_t took = sim_until (sim, sim_pred_dead, 4, 0, 30000);
    SAY ("(i) a real crash after the flood: seen dead by all after %llu ms", (unsigned long long) took);
    CHECK (took != UINT64_MAX, "crash not detected after the flood (%llu ms)",
           (unsigned long long) (sim->now - tc));
done:
    gossip_member_destroy (&m);
    if (sim)
        sim_destroy (&sim);
    free (pool);
    return rc;
}

//  MW_MEMBER_SWEEP=1: the loss analysis of docs/MEMBERSHIP.md ("Loss"),
//  instead of the selftest: N = 5 and 20, random loss 10..50 % for
//  MW_MEMBER_SWEEP_S (default 600) virtual seconds, as TCP (a lost segment
//  resent after an RTO that doubles, in order) and as datagrams (dropped);
//  suspicions, false deaths and bytes per box; then kill -9 detection
//  without loss (20 trials).
static void
s_sweep_loss (void)
{
    const char *env = getenv ("MW_MEMBER_SWEEP_S");
    uint64_t secs = env ? strtoull (env, NULL, 10) : 600;
    const char *only = getenv ("MW_MEMBER_SWEEP_MODE");   //  "tcp" or "udp"
    int sizes[] = {5, 20};
    int losses[] = {10, 20, 30, 40, 50};
    printf ("mode N loss%% secs | suspicions | false deaths (events) | bytes/s per box sent\n");
    for (int mode = 0; mode < 2; mode++) {
        bool tcp = mode == 0;
        if (only && strcmp (only, tcp ? "tcp" : "udp") != 0)
            continue;
        for (int si = 0; si < 2; si++) {
            int n = sizes[si];
            for (int li = 0; li < 5; li++) {
                sim_t *sim = sim_new (n, 77 + (uint64_t) li, NULL, false);
                if (sim_bootstrap (sim, n, 200, 10000) == UINT64_MAX) {
                    printf ("%s %d: no convergence\n", tcp ? "tcp" : "udp", n);
                    sim_destroy (&sim);
                    continue;
                }
                sim_run (sim, sim->now + 5000);
                sim->suspects = 0;
                memset (sim->dead_count, 0, sizeof (int) * (size_t) n);
                netsim_stats_t a, b;
                netsim_stats (sim->net, NETSIM_ALL, &a);
                sim_loss (sim, losses[li], tcp);
                sim_run (sim, sim->now + secs * 1000);
                netsim_stats (sim->net, NETSIM_ALL, &b);
                int dead = sim_dead_others (sim, -1, -1);
                printf ("%s %2d %3d%% %4llu | %10d | %21d | %llu\n", tcp ? "tcp" : "udp", n, losses[li],
                        (unsigned long long) secs, sim->suspects, dead,
                        (unsigned long long) ((b.sent_bytes - a.sent_bytes) / secs / (uint64_t) n));
                fflush (stdout);
                sim_destroy (&sim);
            }
            //  Detection without loss.
            sim_t *sim = sim_new (n, 99, NULL, false);
            if (sim_bootstrap (sim, n, 200, 10000) != UINT64_MAX) {
                uint64_t all[64];
                size_t k = 0;
                for (int t = 0; t < 20; t++) {
                    int v = 1 + t % (n - 1);
                    sim_run (sim, sim->now + 3000);
                    uint64_t t0 = sim->now;
                    sim_crash (sim, v);
                    uint64_t took = sim_until (sim, sim_pred_dead, v, 0, 30000);
                    if (took != UINT64_MAX && k < 64)
                        all[k++] = took;
                    sim->nodes[v].inc++;
                    sim_start (sim, v, 0);
                    sim_until (sim, sim_pred_converged, -1, 0, 30000);
                    (void) t0;
                }
                uint64_t p50 = sim_pct (all, k, 50), p99 = sim_pct (all, k, 99);
                printf ("%s %2d kill -9 detected by all: p50 %llu ms, p99 %llu ms (%zu trials)\n",
                        tcp ? "tcp" : "udp", n, (unsigned long long) p50, (unsigned long long) p99, k);
            }
            sim_destroy (&sim);
        }
    }
}

int
gossip_member_test (bool verbose)
{
    if (getenv ("MW_MEMBER_SWEEP")) {
        s_sweep_loss ();
        return 0;
    }
    if (verbose)
        printf (" * gossip_member: ");
    const char *seed = getenv ("MW_MEMBER_TEST_SEED");
    s_seed_offset = seed ? strtoull (seed, NULL, 10) : 0;
    gossip_member_cfg_t cfg;
    gossip_member_cfg_defaults (&cfg);
    if (verbose) {
        printf ("defaults: probe %u/%u ms, k=%u, suspicion min %u ms x%u (max x%u), gossip %u ms "
                "x%u, retransmit x%u, push-pull %u ms, reap %u ms\n",
                cfg.probe_interval_ms, cfg.probe_timeout_ms, cfg.indirect_k, cfg.suspicion_min_ms,
                cfg.suspicion_mult, cfg.suspicion_max_mult, cfg.gossip_interval_ms, cfg.gossip_fanout,
                cfg.retransmit_mult, cfg.pushpull_interval_ms, cfg.dead_reap_ms);
    }
    if (s_test_garbage (verbose))
        return -1;
    if (s_test_flood (verbose))
        return -1;
    if (s_test_lifecycle (verbose))
        return -1;
    if (s_test_loss (verbose))
        return -1;
    if (s_test_partition_leave (verbose))
        return -1;
    if (s_test_scale (verbose))
        return -1;
    return 0;
}
