/*  =========================================================================
    netsim - the deterministic network simulator (see netsim.h).

    One binary heap holds every future event - a message in flight, a
    service's next tick, a host timer, a thaw - ordered by (time, sequence
    number).  A service's tick is one heap entry per (node, port) with a
    generation number: when its next_wakeup moves, the generation moves
    and the old entry is skipped when it comes up, so a module is ticked
    exactly at the time it asked for, never more often.

    Per-pair state (in-order delivery, a pair's own link, a cut) lives in a
    small open-addressing hash that only holds the pairs that need it, so
    a mesh of thousands of nodes that each talk to a few dozen peers costs
    what it uses, not N^2.
    ========================================================================= */
#include "sim/netsim.h"

#include "common/rand.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PORTS    8
#define MAX_RESENDS  16   //  a segment lost this often is given up (TCP would reset)
#define PAIR_MIN_CAP 64

typedef enum { K_MSG = 0, K_TICK, K_TIMER, K_THAW } kind_t;

//  A message buffer: header, then the bytes.
typedef struct {
    size_t len, wire_len;
    uint64_t sent_at;
} msgbuf_t;

typedef struct {
    uint64_t t, seq;
    uint8_t kind;
    uint8_t port;
    uint32_t node;   //  MSG: receiver; TICK, THAW: the node
    uint32_t from;   //  MSG: sender
    uint64_t data;   //  TICK: generation; THAW: freeze epoch; TIMER: the host's
    void *ptr;       //  MSG: msgbuf_t; TIMER: arg
    netsim_timer_fn *fn;
} ev_t;

typedef struct {
    netsim_state_t state;
    uint32_t group;
    uint64_t freeze_epoch;
    ev_t *held;   //  messages that arrived while frozen, in arrival order
    size_t n_held, cap_held;
    uint8_t hosted;   //  bit per port
    //  Per port: when the service wants its tick, and the time and
    //  generation of its live heap entry (NETSIM_NEVER: none).
    uint64_t wake_at[MAX_PORTS], queued_at[MAX_PORTS], wake_gen[MAX_PORTS];
    netsim_stats_t stats;
} node_t;

typedef struct {
    uint64_t key;   //  (from << 32 | to) + 1; 0 = empty
    uint64_t free_at;
    bool has_link, cut;
    netsim_link_t link;
} pair_t;

struct _netsim_t {
    uint32_t n;
    node_t *nodes;
    uint64_t seed, rng, now, seq;
    netsim_link_t link;
    netsim_service_t svc[MAX_PORTS];
    void *svc_ctx[MAX_PORTS];
    int n_svc;
    ev_t *heap;
    size_t heap_n, heap_cap;
    pair_t *pairs;
    size_t pair_cap, pair_n;
    size_t n_cut, n_own;   //  pairs with a cut, with their own link
    netsim_observer_fn *observer;
    void *observer_arg;
    bool stopped;
    uint64_t trace;
    netsim_stats_t total;
};

//  --------------------------------------------------------------------------
//  Small helpers

void
netsim_link_defaults (netsim_link_t *link)
{
    assert (link);
    memset (link, 0, sizeof *link);
    link->lat_min_us = 1 * NETSIM_MS;
    link->lat_max_us = 3 * NETSIM_MS;
    link->rto_first_us = 200 * NETSIM_MS;
    link->rto_min_us = 200 * NETSIM_MS;
}

static uint64_t
s_rand (netsim_t *self)
{
    return mw_splitmix64 (&self->rng);
}

uint64_t
netsim_rand (netsim_t *self)
{
    assert (self);
    return s_rand (self);
}

//  Uniform in [0, 1).
static double
s_unif (netsim_t *self)
{
    return (double) (s_rand (self) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t
s_hash3 (uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = a ^ (b * UINT64_C (0x9E3779B97F4A7C15)) ^ (c * UINT64_C (0xC2B2AE3D27D4EB4F));
    return mw_splitmix64 (&s);
}

//  FNV-1a over 64-bit words: the trace hash.
static void
s_trace (netsim_t *self, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t w[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        self->trace ^= w[i];
        self->trace *= UINT64_C (0x100000001b3);
    }
}

//  --------------------------------------------------------------------------
//  Event heap

static bool
s_less (const ev_t *x, const ev_t *y)
{
    return x->t < y->t || (x->t == y->t && x->seq < y->seq);
}

static int
s_push (netsim_t *self, ev_t *e)
{
    if (self->heap_n == self->heap_cap) {
        size_t cap = self->heap_cap ? self->heap_cap * 2 : 1024;
        ev_t *h = realloc (self->heap, cap * sizeof *h);
        if (!h)
            return -1;
        self->heap = h;
        self->heap_cap = cap;
    }
    e->seq = self->seq++;
    size_t i = self->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_less (e, &self->heap[p]))
            break;
        self->heap[i] = self->heap[p];
        i = p;
    }
    self->heap[i] = *e;
    return 0;
}

static ev_t
s_pop (netsim_t *self)
{
    ev_t top = self->heap[0];
    ev_t last = self->heap[--self->heap_n];
    size_t i = 0, n = self->heap_n;
    while (true) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_less (&self->heap[c + 1], &self->heap[c]))
            c++;
        if (!s_less (&self->heap[c], &last))
            break;
        self->heap[i] = self->heap[c];
        i = c;
    }
    if (n)
        self->heap[i] = last;
    return top;
}

//  --------------------------------------------------------------------------
//  Pairs

static pair_t *
s_pair (netsim_t *self, uint32_t from, uint32_t to, bool create)
{
    uint64_t key = ((uint64_t) from << 32 | to) + 1;
    if (self->pair_cap) {
        size_t mask = self->pair_cap - 1;
        for (size_t i = s_hash3 (key, 0, 0) & mask;; i = (i + 1) & mask) {
            if (self->pairs[i].key == key)
                return &self->pairs[i];
            if (self->pairs[i].key == 0)
                break;
        }
    }
    if (!create)
        return NULL;
    if (2 * (self->pair_n + 1) > self->pair_cap) {
        size_t cap = self->pair_cap ? self->pair_cap * 2 : PAIR_MIN_CAP;
        pair_t *p = calloc (cap, sizeof *p);
        if (!p)
            return NULL;
        for (size_t k = 0; k < self->pair_cap; k++) {
            if (!self->pairs[k].key)
                continue;
            size_t i = s_hash3 (self->pairs[k].key, 0, 0) & (cap - 1);
            while (p[i].key)
                i = (i + 1) & (cap - 1);
            p[i] = self->pairs[k];
        }
        free (self->pairs);
        self->pairs = p;
        self->pair_cap = cap;
    }
    size_t mask = self->pair_cap - 1;
    size_t i = s_hash3 (key, 0, 0) & mask;
    while (self->pairs[i].key)
        i = (i + 1) & mask;
    memset (&self->pairs[i], 0, sizeof self->pairs[i]);
    self->pairs[i].key = key;
    self->pair_n++;
    return &self->pairs[i];
}

static const netsim_link_t *
s_link (netsim_t *self, uint32_t from, uint32_t to, pair_t **pair_p)
{
    pair_t *p = NULL;
    if (self->n_own || self->n_cut || self->link.in_order)
        p = s_pair (self, from, to, false);
    if (pair_p)
        *pair_p = p;
    return p && p->has_link ? &p->link : &self->link;
}

//  --------------------------------------------------------------------------
//  Construction

netsim_t *
netsim_new (uint32_t nodes, uint64_t seed)
{
    if (nodes == 0 || nodes > 1000000)
        return NULL;
    netsim_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nodes = calloc (nodes, sizeof *self->nodes);
    if (!self->nodes) {
        free (self);
        return NULL;
    }
    self->n = nodes;
    self->seed = seed;
    self->rng = seed ^ UINT64_C (0x6E657473696D2121);   //  "netsim!!"
    self->trace = UINT64_C (0xcbf29ce484222325);
    netsim_link_defaults (&self->link);
    for (uint32_t i = 0; i < nodes; i++)
        for (int p = 0; p < MAX_PORTS; p++)
            self->nodes[i].wake_at[p] = self->nodes[i].queued_at[p] = NETSIM_NEVER;
    return self;
}

static void
s_free_ev (ev_t *e)
{
    if (e->kind == K_MSG)
        free (e->ptr);
}

void
netsim_destroy (netsim_t **self_p)
{
    assert (self_p);
    netsim_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->heap_n; i++)
        s_free_ev (&self->heap[i]);
    for (uint32_t i = 0; i < self->n; i++) {
        for (size_t k = 0; k < self->nodes[i].n_held; k++)
            s_free_ev (&self->nodes[i].held[k]);
        free (self->nodes[i].held);
    }
    free (self->heap);
    free (self->pairs);
    free (self->nodes);
    free (self);
    *self_p = NULL;
}

int
netsim_service (netsim_t *self, const netsim_service_t *svc, void *ctx)
{
    assert (self && svc);
    if (self->n_svc == MAX_PORTS || !svc->handle)
        return -1;
    self->svc[self->n_svc] = *svc;
    self->svc_ctx[self->n_svc] = ctx;
    return self->n_svc++;
}

static void s_unschedule (netsim_t *self, uint32_t node, int port);

void
netsim_host (netsim_t *self, uint32_t node, int port, bool hosted)
{
    assert (self && node < self->n && port >= 0 && port < self->n_svc);
    node_t *nd = &self->nodes[node];
    if (hosted)
        nd->hosted |= (uint8_t) (1u << port);
    else {
        nd->hosted &= (uint8_t) ~(1u << port);
        s_unschedule (self, node, port);
    }
    netsim_poke (self, node, port);
}

void
netsim_set_link (netsim_t *self, const netsim_link_t *link)
{
    assert (self && link);
    self->link = *link;
}

int
netsim_set_pair (netsim_t *self, uint32_t from, uint32_t to, const netsim_link_t *link)
{
    assert (self && link);
    if (from >= self->n || to >= self->n)
        return -1;
    pair_t *p = s_pair (self, from, to, true);
    if (!p)
        return -1;
    if (!p->has_link)
        self->n_own++;
    p->has_link = true;
    p->link = *link;
    return 0;
}

static uint64_t
s_latency (netsim_t *self, const netsim_link_t *l, uint32_t from, uint32_t to, bool draw)
{
    uint64_t span = l->lat_max_us > l->lat_min_us ? l->lat_max_us - l->lat_min_us : 0;
    if (!span)
        return l->lat_min_us;
    if (l->lat_per_pair) {
        uint32_t lo = from < to ? from : to, hi = from < to ? to : from;
        return l->lat_min_us + s_hash3 (self->seed, lo, hi) % (span + 1);
    }
    return draw ? l->lat_min_us + s_rand (self) % (span + 1) : l->lat_min_us + span / 2;
}

uint64_t
netsim_latency_us (netsim_t *self, uint32_t from, uint32_t to)
{
    assert (self && from < self->n && to < self->n);
    return s_latency (self, s_link (self, from, to, NULL), from, to, false);
}

//  --------------------------------------------------------------------------
//  Faults

netsim_state_t
netsim_state (netsim_t *self, uint32_t node)
{
    assert (self && node < self->n);
    return self->nodes[node].state;
}

void
netsim_set_group (netsim_t *self, uint32_t node, uint32_t group)
{
    assert (self && node < self->n);
    self->nodes[node].group = group;
}

uint32_t
netsim_group (netsim_t *self, uint32_t node)
{
    assert (self && node < self->n);
    return self->nodes[node].group;
}

int
netsim_cut (netsim_t *self, uint32_t from, uint32_t to, bool cut)
{
    assert (self);
    if (from >= self->n || to >= self->n)
        return -1;
    pair_t *p = s_pair (self, from, to, cut);
    if (!p)
        return cut ? -1 : 0;
    if (p->cut != cut)
        self->n_cut += cut ? 1 : (size_t) -1;
    p->cut = cut;
    return 0;
}

void
netsim_heal (netsim_t *self)
{
    assert (self);
    for (uint32_t i = 0; i < self->n; i++)
        self->nodes[i].group = 0;
    for (size_t i = 0; i < self->pair_cap; i++)
        self->pairs[i].cut = false;
    self->n_cut = 0;
}

bool
netsim_connected (netsim_t *self, uint32_t from, uint32_t to)
{
    assert (self && from < self->n && to < self->n);
    if (self->nodes[from].group != self->nodes[to].group)
        return false;
    if (self->n_cut) {
        pair_t *p = s_pair (self, from, to, false);
        if (p && p->cut)
            return false;
    }
    return true;
}

//  --------------------------------------------------------------------------
//  Ticks

//  A service wants its tick at `at`.  A wakeup that moves later keeps the
//  heap entry it has: when that comes up early it is pushed on to the
//  time wanted then (a module that says "in a second" after every message
//  would otherwise leave a stale entry per message).  One that moves
//  earlier gets a new entry and a new generation; the old one is skipped.
static void
s_schedule (netsim_t *self, uint32_t node, int port, uint64_t at)
{
    node_t *nd = &self->nodes[node];
    nd->wake_at[port] = at;
    if (at == NETSIM_NEVER || nd->queued_at[port] <= at)
        return;
    ev_t e = {.t = at, .kind = K_TICK, .port = (uint8_t) port, .node = node, .data = ++nd->wake_gen[port]};
    nd->queued_at[port] = at;
    if (s_push (self, &e) != 0)
        nd->wake_at[port] = nd->queued_at[port] = NETSIM_NEVER;   //  out of memory: the next poke retries
}

//  No tick wanted, and none in the heap that counts.
static void
s_unschedule (netsim_t *self, uint32_t node, int port)
{
    node_t *nd = &self->nodes[node];
    nd->wake_at[port] = nd->queued_at[port] = NETSIM_NEVER;
    nd->wake_gen[port]++;
}

void
netsim_poke (netsim_t *self, uint32_t node, int port)
{
    assert (self && node < self->n && port >= 0 && port < self->n_svc);
    node_t *nd = &self->nodes[node];
    if (nd->state != NETSIM_UP || !(nd->hosted & (1u << port)) || !self->svc[port].next_wakeup)
        return;
    uint64_t w = self->svc[port].next_wakeup (self->svc_ctx[port], node, self->now);
    if (w != NETSIM_NEVER && w < self->now)
        w = self->now;
    s_schedule (self, node, port, w);
}

static void
s_poke_all (netsim_t *self, uint32_t node)
{
    for (int p = 0; p < self->n_svc; p++)
        netsim_poke (self, node, p);
}

static void
s_unschedule_all (netsim_t *self, uint32_t node)
{
    for (int p = 0; p < self->n_svc; p++)
        s_unschedule (self, node, p);
}

void
netsim_start (netsim_t *self, uint32_t node)
{
    assert (self && node < self->n);
    node_t *nd = &self->nodes[node];
    if (nd->state != NETSIM_DOWN)
        return;
    nd->state = NETSIM_UP;
    s_trace (self, self->now, 0x5747, node, 0);
    for (int p = 0; p < self->n_svc; p++) {
        //  A fresh instance: tick it now, whatever the old one wanted.
        s_unschedule (self, node, p);
        if (nd->hosted & (1u << p))
            s_schedule (self, node, p, self->now);
    }
}

static void
s_drop_held (netsim_t *self, node_t *nd, uint32_t node)
{
    for (size_t k = 0; k < nd->n_held; k++) {
        nd->stats.dropped++;
        self->total.dropped++;
        s_trace (self, self->now, 0xD409, node, nd->held[k].from);
        s_free_ev (&nd->held[k]);
    }
    nd->n_held = 0;
}

void
netsim_crash (netsim_t *self, uint32_t node)
{
    assert (self && node < self->n);
    node_t *nd = &self->nodes[node];
    s_trace (self, self->now, 0xC4A5, node, 0);
    s_drop_held (self, nd, node);
    nd->state = NETSIM_DOWN;
    nd->freeze_epoch++;
    s_unschedule_all (self, node);
}

void
netsim_freeze (netsim_t *self, uint32_t node, uint64_t until_us)
{
    assert (self && node < self->n);
    node_t *nd = &self->nodes[node];
    if (nd->state == NETSIM_DOWN)
        return;
    nd->state = NETSIM_FROZEN;
    nd->freeze_epoch++;
    s_unschedule_all (self, node);
    s_trace (self, self->now, 0xF4EE, node, until_us);
    if (until_us != NETSIM_NEVER) {
        ev_t e = {.t = until_us > self->now ? until_us : self->now,
                  .kind = K_THAW,
                  .node = node,
                  .data = nd->freeze_epoch};
        s_push (self, &e);
    }
}

void
netsim_thaw (netsim_t *self, uint32_t node)
{
    assert (self && node < self->n);
    node_t *nd = &self->nodes[node];
    if (nd->state != NETSIM_FROZEN)
        return;
    nd->state = NETSIM_UP;
    nd->freeze_epoch++;
    s_trace (self, self->now, 0x7A3, node, nd->n_held);
    //  What waited in the socket buffers arrives now, in order, before the
    //  node's own timers run (a stopped process reads its input first).
    for (size_t k = 0; k < nd->n_held; k++) {
        ev_t e = nd->held[k];
        e.t = self->now;
        if (s_push (self, &e) != 0)
            s_free_ev (&e);
    }
    nd->n_held = 0;
    //  Its timers ran out meanwhile: each hosted service is ticked now,
    //  after the held messages (scheduled first, so delivered first).
    s_poke_all (self, node);
}

//  --------------------------------------------------------------------------
//  Messages

int
netsim_send (netsim_t *self, uint32_t from, uint32_t to, int port, const void *msg, size_t len,
             size_t wire_len)
{
    assert (self && (msg || len == 0));
    if (from >= self->n || to >= self->n || port < 0 || port >= self->n_svc)
        return -1;
    node_t *src = &self->nodes[from], *dst = &self->nodes[to];
    if (!wire_len)
        wire_len = len;
    src->stats.sent++;
    src->stats.sent_bytes += wire_len;
    self->total.sent++;
    self->total.sent_bytes += wire_len;
    pair_t *pair = NULL;
    const netsim_link_t *l = s_link (self, from, to, &pair);
    bool ok = src->state == NETSIM_UP && netsim_connected (self, from, to);
    uint64_t at = self->now;
    if (ok) {
        at += s_latency (self, l, from, to, true);
        if (l->bandwidth_bps > 0)
            at += (uint64_t) ((double) wire_len * 8.0 * 1e6 / l->bandwidth_bps + 0.5);
        if (l->loss > 0 && s_unif (self) < l->loss) {
            src->stats.lost++;
            self->total.lost++;
            if (!l->retransmit)
                ok = false;
            else {
                //  TCP: the segment is resent after the retransmission
                //  timeout, which doubles while the resends keep being lost.
                uint64_t gap =
                    l->rto_first_us + (l->rto_jitter_us ? s_rand (self) % (l->rto_jitter_us + 1) : 0);
                at += gap;
                int resends = 1;
                while (s_unif (self) < l->loss) {
                    src->stats.lost++;
                    self->total.lost++;
                    if (++resends > MAX_RESENDS) {
                        ok = false;
                        break;
                    }
                    gap = gap < l->rto_min_us ? l->rto_min_us : 2 * gap;
                    at += gap;
                }
            }
        }
    }
    msgbuf_t *buf = ok ? malloc (sizeof (msgbuf_t) + len) : NULL;
    if (!buf) {
        dst->stats.dropped++;
        self->total.dropped++;
        s_trace (self, self->now, 0xD409, ((uint64_t) from << 32) | to, wire_len);
        return -1;
    }
    if (l->in_order) {
        //  Head-of-line: nothing overtakes an earlier message on the link.
        if (!pair)
            pair = s_pair (self, from, to, true);
        if (pair) {
            if (at < pair->free_at)
                at = pair->free_at;
            pair->free_at = at;
        }
    }
    buf->len = len;
    buf->wire_len = wire_len;
    buf->sent_at = self->now;
    if (len)
        memcpy (buf + 1, msg, len);
    ev_t e = {.t = at, .kind = K_MSG, .port = (uint8_t) port, .node = to, .from = from, .ptr = buf};
    if (s_push (self, &e) != 0) {
        free (buf);
        dst->stats.dropped++;
        self->total.dropped++;
        return -1;
    }
    return 0;
}

static void
s_deliver (netsim_t *self, ev_t *e)
{
    node_t *dst = &self->nodes[e->node];
    msgbuf_t *buf = (msgbuf_t *) e->ptr;
    if (dst->state == NETSIM_FROZEN) {
        if (dst->n_held == dst->cap_held) {
            size_t cap = dst->cap_held ? dst->cap_held * 2 : 64;
            ev_t *h = realloc (dst->held, cap * sizeof *h);
            if (!h)
                goto drop;
            dst->held = h;
            dst->cap_held = cap;
        }
        dst->held[dst->n_held++] = *e;
        return;
    }
    if (dst->state != NETSIM_UP || !netsim_connected (self, e->from, e->node)
        || !(dst->hosted & (1u << e->port)))
        goto drop;
    dst->stats.delivered++;
    self->total.delivered++;
    s_trace (self, self->now, ((uint64_t) e->from << 32) | e->node, e->port, buf->wire_len);
    self->svc[e->port].handle (self->svc_ctx[e->port], e->node, e->from, buf + 1, buf->len, self->now);
    free (buf);
    netsim_poke (self, e->node, e->port);
    return;
drop:
    dst->stats.dropped++;
    self->total.dropped++;
    s_trace (self, self->now, 0xD409, ((uint64_t) e->from << 32) | e->node, buf->wire_len);
    free (buf);
}

//  A tick entry came up.  False when it is no event: superseded, or early
//  (pushed on to the time now wanted).
static bool
s_tick (netsim_t *self, ev_t *e)
{
    node_t *nd = &self->nodes[e->node];
    int p = e->port;
    if (e->data != nd->wake_gen[p])
        return false;   //  superseded by an earlier one
    nd->queued_at[p] = NETSIM_NEVER;
    if (nd->state != NETSIM_UP || !(nd->hosted & (1u << p)) || nd->wake_at[p] == NETSIM_NEVER)
        return false;
    if (nd->wake_at[p] > self->now) {
        s_schedule (self, e->node, p, nd->wake_at[p]);   //  it moved later meanwhile
        return false;
    }
    nd->wake_at[p] = NETSIM_NEVER;
    nd->stats.ticks++;
    self->total.ticks++;
    s_trace (self, self->now, 0x71C4, e->node, (uint64_t) p);
    if (self->svc[p].tick)
        self->svc[p].tick (self->svc_ctx[p], e->node, self->now);
    if (nd->state != NETSIM_UP || !self->svc[p].next_wakeup)
        return true;   //  the tick crashed or froze its own node (a host hook)
    uint64_t w = self->svc[p].next_wakeup (self->svc_ctx[p], e->node, self->now);
    //  Timers are in the modules' milliseconds: "now" again means the next one.
    if (w != NETSIM_NEVER && w <= self->now)
        w = self->now + NETSIM_MS;
    s_schedule (self, e->node, p, w);
    return true;
}

//  --------------------------------------------------------------------------
//  Timers, observer, run

int
netsim_at (netsim_t *self, uint64_t at_us, netsim_timer_fn *fn, void *arg, uint64_t data)
{
    assert (self && fn);
    ev_t e = {
        .t = at_us > self->now ? at_us : self->now, .kind = K_TIMER, .data = data, .ptr = arg, .fn = fn};
    return s_push (self, &e);
}

void
netsim_observe (netsim_t *self, netsim_observer_fn *fn, void *arg)
{
    assert (self);
    self->observer = fn;
    self->observer_arg = arg;
}

void
netsim_stop (netsim_t *self)
{
    assert (self);
    self->stopped = true;
}

uint64_t
netsim_now (netsim_t *self)
{
    assert (self);
    return self->now;
}

int
netsim_run_until (netsim_t *self, uint64_t until_us)
{
    assert (self);
    self->stopped = false;
    while (self->heap_n && self->heap[0].t <= until_us && !self->stopped) {
        ev_t e = s_pop (self);
        if (e.t > self->now)
            self->now = e.t;
        switch ((kind_t) e.kind) {
        case K_MSG: s_deliver (self, &e); break;
        case K_TICK:
            if (!s_tick (self, &e))
                continue;   //  superseded or early: not an event
            break;
        case K_TIMER:
            self->total.timers++;
            s_trace (self, self->now, 0x7133, e.data, 0);
            e.fn (self, e.ptr, e.data);
            break;
        case K_THAW:
            if (e.data == self->nodes[e.node].freeze_epoch)
                netsim_thaw (self, e.node);
            break;
        }
        self->total.events++;
        if (self->observer)
            self->observer (self, self->observer_arg);
    }
    if (self->stopped) {
        self->stopped = false;
        return -1;
    }
    if (until_us > self->now)
        self->now = until_us;
    return 0;
}

int
netsim_run_for (netsim_t *self, uint64_t dt_us)
{
    assert (self);
    return netsim_run_until (self, self->now + dt_us);
}

void
netsim_stats (netsim_t *self, uint32_t node, netsim_stats_t *out)
{
    assert (self && out);
    if (node == NETSIM_ALL)
        *out = self->total;
    else {
        assert (node < self->n);
        *out = self->nodes[node].stats;
    }
}

uint64_t
netsim_trace_hash (netsim_t *self)
{
    assert (self);
    return self->trace;
}

//  --------------------------------------------------------------------------
//  Selftest: a toy service on every node sends one numbered message every
//  `period` to the next node round the ring (or to one fixed node) and
//  records what arrives; each property of the link model and of the
//  faults is checked against what was recorded.

#include "common/selftest.h"

#define T_MAX 16

typedef struct {
    uint32_t seq;       //  per (sender, receiver)
    uint64_t sent_at;   //  us
} t_msg_t;

typedef struct {
    netsim_t *sim;
    int port;
    uint32_t n;
    uint64_t period;
    int target;   //  -1: ring (i + 1 + k % (n - 1)); else everybody sends to it
    uint64_t next_send[T_MAX];
    uint32_t k[T_MAX];
    uint32_t seq_out[T_MAX][T_MAX];
    uint32_t last_in[T_MAX][T_MAX];   //  last seq received on the link + 1
    uint64_t got[T_MAX][T_MAX];
    uint64_t inversions;
    uint64_t delay_min, delay_max, delay_sum, delay_n, delayed_rto;
    uint64_t ticks[T_MAX], last_tick[T_MAX], handles[T_MAX], last_handle[T_MAX];
    size_t wire_len;
    bool quiet;   //  no sends (tick contract checks)
} toy_t;

static void
toy_handle (void *ctx, uint32_t node, uint32_t from, void *msg, size_t len, uint64_t now)
{
    toy_t *t = (toy_t *) ctx;
    t_msg_t m;
    assert (len == sizeof m);
    memcpy (&m, msg, sizeof m);
    if (m.seq + 1 <= t->last_in[from][node])
        t->inversions++;
    else
        t->last_in[from][node] = m.seq + 1;
    t->got[from][node]++;
    uint64_t d = now - m.sent_at;
    t->delay_min = d < t->delay_min ? d : t->delay_min;
    t->delay_max = d > t->delay_max ? d : t->delay_max;
    t->delay_sum += d;
    t->delay_n++;
    t->delayed_rto += d >= 100 * NETSIM_MS;
    t->handles[node]++;
    t->last_handle[node] = now;
}

static void
toy_tick (void *ctx, uint32_t node, uint64_t now)
{
    toy_t *t = (toy_t *) ctx;
    t->ticks[node]++;
    t->last_tick[node] = now;
    if (t->quiet || now < t->next_send[node])
        return;
    t->next_send[node] = now + t->period;
    uint32_t to = t->target >= 0 ? (uint32_t) t->target : (node + 1 + t->k[node]++ % (t->n - 1)) % t->n;
    if (to == node)
        return;
    t_msg_t m = {t->seq_out[node][to]++, now};
    netsim_send (t->sim, node, to, t->port, &m, sizeof m, t->wire_len);
}

static uint64_t
toy_wakeup (void *ctx, uint32_t node, uint64_t now)
{
    toy_t *t = (toy_t *) ctx;
    return t->quiet ? NETSIM_NEVER : t->next_send[node];
}

static netsim_t *
toy_new (toy_t *t, uint32_t n, uint64_t seed, uint64_t period, const netsim_link_t *link)
{
    memset (t, 0, sizeof *t);
    t->n = n;
    t->period = period;
    t->target = -1;
    t->delay_min = UINT64_MAX;
    t->sim = netsim_new (n, seed);
    if (!t->sim)
        return NULL;
    netsim_service_t svc = {"toy", toy_handle, toy_tick, toy_wakeup};
    t->port = netsim_service (t->sim, &svc, t);
    if (link)
        netsim_set_link (t->sim, link);
    for (uint32_t i = 0; i < n; i++) {
        netsim_host (t->sim, i, t->port, true);
        netsim_start (t->sim, i);
    }
    return t->sim;
}

static uint64_t
toy_got_across (toy_t *t, uint32_t split)
{
    uint64_t x = 0;
    for (uint32_t a = 0; a < t->n; a++)
        for (uint32_t b = 0; b < t->n; b++)
            if ((a < split) != (b < split))
                x += t->got[a][b];
    return x;
}

//  A timer that records the order in which same-time timers ran.
typedef struct {
    uint64_t order[8];
    int n;
} t_order_t;

static void
t_order_fn (netsim_t *sim, void *arg, uint64_t data)
{
    t_order_t *o = (t_order_t *) arg;
    if (o->n < 8)
        o->order[o->n++] = data;
}

static void
t_stop_fn (netsim_t *sim, void *arg, uint64_t data)
{
    netsim_stop (sim);
}

//  A service that always says "now": must be ticked once per ms, not spun.
static uint64_t
t_eager_wakeup (void *ctx, uint32_t node, uint64_t now)
{
    return now;
}

//  Wants one tick at 5 ms, then nothing.
static uint64_t
t_fixed_wakeup (void *ctx, uint32_t node, uint64_t now)
{
    const uint64_t *c = (const uint64_t *) ctx;
    return c[1] >= 5 * NETSIM_MS ? NETSIM_NEVER : 5 * NETSIM_MS;
}

static void
t_count_tick (void *ctx, uint32_t node, uint64_t now)
{
    uint64_t *c = (uint64_t *) ctx;
    c[0]++;
    c[1] = now;
}

static void
t_ignore (void *ctx, uint32_t node, uint32_t from, void *msg, size_t len, uint64_t now)
{
}

//  One full run of the lossy, ordered ring: trace hash and stats.
static uint64_t
t_ring_hash (uint64_t seed, netsim_stats_t *st)
{
    toy_t *t = calloc (1, sizeof *t);
    netsim_link_t l;
    netsim_link_defaults (&l);
    l.loss = 0.1;
    l.retransmit = true;
    l.in_order = true;
    if (!t || !toy_new (t, 8, seed, 10 * NETSIM_MS, &l)) {
        free (t);
        return 0;
    }
    netsim_run_until (t->sim, 2000 * NETSIM_MS);
    uint64_t h = netsim_trace_hash (t->sim);
    netsim_stats (t->sim, NETSIM_ALL, st);
    netsim_destroy (&t->sim);
    free (t);
    return h;
}

int
netsim_test (bool verbose)
{
    int rc = 0;
    if (verbose)
        printf (" * netsim: ");
    toy_t *t = calloc (1, sizeof *t);
    assert (t);
    netsim_link_t l;
    netsim_stats_t st, st2;

    //  Bad arguments.
    CHECK (netsim_new (0, 1) == NULL, "0 nodes");
    {
        netsim_t *s = netsim_new (2, 1);
        CHECK (s, "new");
        netsim_service_t svc = {"x", t_ignore, NULL, NULL};
        for (int i = 0; i < MAX_PORTS; i++)
            CHECK (netsim_service (s, &svc, NULL) == i, "port %d", i);
        CHECK (netsim_service (s, &svc, NULL) == -1, "ninth service");
        uint8_t b = 0;
        CHECK (netsim_send (s, 0, 2, 0, &b, 1, 0) == -1, "send to a node that does not exist");
        CHECK (netsim_send (s, 0, 1, 9, &b, 1, 0) == -1, "send to a port that does not exist");
        CHECK (netsim_send (s, 0, 1, 0, &b, 1, 0) == -1, "send from a node that is down");
        netsim_destroy (&s);
        CHECK (s == NULL, "destroy nulls");
    }

    //  1. Determinism: the same seed gives the same trace, event for event;
    //  another seed another one.
    {
        uint64_t h1 = t_ring_hash (7, &st), h2 = t_ring_hash (7, &st2), h3 = t_ring_hash (8, &st2);
        CHECK (h1 != 0 && h1 == h2, "same seed, different trace %016llx %016llx", (unsigned long long) h1,
               (unsigned long long) h2);
        CHECK (h1 != h3, "another seed, same trace");
        CHECK (st.delivered > 1000 && st.lost > 0, "the ring did work (%llu delivered, %llu lost)",
               (unsigned long long) st.delivered, (unsigned long long) st.lost);
    }

    //  2. Latency: uniform in [min, max] per message, mean in the middle.
    {
        toy_new (t, 8, 11, 5 * NETSIM_MS, NULL);
        netsim_run_until (t->sim, 2000 * NETSIM_MS);
        double mean = (double) t->delay_sum / (double) t->delay_n;
        CHECK (t->delay_n > 2000 && t->delay_min >= 1000 && t->delay_max <= 3000, "latency %llu..%llu us",
               (unsigned long long) t->delay_min, (unsigned long long) t->delay_max);
        CHECK (mean > 1950 && mean < 2050, "mean latency %.0f us", mean);
        netsim_destroy (&t->sim);
        //  Without in_order, jitter reorders a busy link.
        toy_new (t, 2, 11, 1 * NETSIM_MS, NULL);
        netsim_run_until (t->sim, 500 * NETSIM_MS);
        CHECK (t->inversions > 0, "jitter never reordered (unordered link)");
        netsim_destroy (&t->sim);
    }
    //  Fixed per pair (and the same both ways), with serialisation time.
    {
        netsim_link_defaults (&l);
        l.lat_min_us = 200;
        l.lat_max_us = 500;
        l.lat_per_pair = true;
        l.bandwidth_bps = 8e6;   //  1000 B -> 1000 us
        toy_new (t, 4, 12, 5 * NETSIM_MS, &l);
        t->target = 0;
        t->wire_len = 1000;
        netsim_run_until (t->sim, 500 * NETSIM_MS);
        uint64_t l1 = netsim_latency_us (t->sim, 1, 0), l2 = netsim_latency_us (t->sim, 2, 0);
        CHECK (l1 >= 200 && l1 <= 500 && l1 == netsim_latency_us (t->sim, 0, 1), "pair latency %llu",
               (unsigned long long) l1);
        CHECK (l1 != l2 || l2 != netsim_latency_us (t->sim, 3, 0), "every pair drew the same latency");
        uint64_t lmin = l1 < l2 ? l1 : l2, lmax = l1 > l2 ? l1 : l2;
        uint64_t l3 = netsim_latency_us (t->sim, 3, 0);
        lmin = l3 < lmin ? l3 : lmin;
        lmax = l3 > lmax ? l3 : lmax;
        CHECK (t->delay_min == lmin + 1000 && t->delay_max == lmax + 1000,
               "delays %llu..%llu, pairs %llu..%llu", (unsigned long long) t->delay_min,
               (unsigned long long) t->delay_max, (unsigned long long) lmin, (unsigned long long) lmax);
        netsim_destroy (&t->sim);
    }

    //  3. Datagram loss: the share lost is the probability, within 4 sigma.
    {
        netsim_link_defaults (&l);
        l.loss = 0.3;
        toy_new (t, 10, 13, 1 * NETSIM_MS, &l);
        netsim_run_until (t->sim, 2000 * NETSIM_MS);
        netsim_run_until (t->sim, 2010 * NETSIM_MS);   //  in flight: in
        netsim_stats (t->sim, NETSIM_ALL, &st);
        double lost = (double) st.lost / (double) st.sent;
        CHECK (st.sent >= 19000 && lost > 0.287 && lost < 0.313, "loss %.4f of %llu", lost,
               (unsigned long long) st.sent);
        CHECK (st.dropped == st.lost && st.delivered + st.dropped >= st.sent - 30,
               "datagrams: dropped = lost");
        netsim_destroy (&t->sim);
    }
    //  TCP: nothing is dropped; the lost share arrives a retransmission
    //  timeout late, and in order.
    {
        netsim_link_defaults (&l);
        l.loss = 0.3;
        l.retransmit = true;
        l.rto_first_us = 110 * NETSIM_MS;
        l.in_order = true;
        toy_new (t, 10, 14, 1 * NETSIM_MS, &l);
        netsim_run_until (t->sim, 2000 * NETSIM_MS);
        for (uint32_t i = 0; i < t->n; i++)
            t->next_send[i] = NETSIM_NEVER;              //  stop sending, drain
        netsim_run_until (t->sim, 600000 * NETSIM_MS);   //  a few were lost 8 times in a row
        netsim_stats (t->sim, NETSIM_ALL, &st);
        CHECK (st.dropped == 0 && st.delivered == st.sent, "TCP: %llu dropped, %llu of %llu delivered",
               (unsigned long long) st.dropped, (unsigned long long) st.delivered,
               (unsigned long long) st.sent);
        CHECK (t->inversions == 0, "TCP delivered %llu out of order", (unsigned long long) t->inversions);
        //  Head-of-line blocking delays more than the lost share itself.
        double late = (double) t->delayed_rto / (double) t->delay_n;
        CHECK (late > 0.287, "delayed share %.3f", late);
        CHECK (t->delay_min >= 1000, "earliest %llu", (unsigned long long) t->delay_min);
        netsim_destroy (&t->sim);
    }

    //  4. Partition and heal; a directed cut.
    {
        toy_new (t, 8, 15, 2 * NETSIM_MS, NULL);
        netsim_run_until (t->sim, 200 * NETSIM_MS);
        uint64_t before = toy_got_across (t, 4);
        CHECK (before > 0, "nothing crossed before the partition");
        for (uint32_t i = 4; i < 8; i++)
            netsim_set_group (t->sim, i, 1);
        CHECK (!netsim_connected (t->sim, 0, 5) && netsim_connected (t->sim, 5, 6), "connected");
        netsim_run_until (t->sim, 1200 * NETSIM_MS);
        uint64_t during = toy_got_across (t, 4) - before;
        netsim_stats (t->sim, NETSIM_ALL, &st);
        //  What was in flight when the partition started may be lost too,
        //  but nothing sent across during it arrives.
        CHECK (during == 0, "%llu crossed the partition", (unsigned long long) during);
        CHECK (st.dropped > 100 && t->got[4][5] > 0, "dropped %llu", (unsigned long long) st.dropped);
        netsim_heal (t->sim);
        uint64_t at_heal = toy_got_across (t, 4);
        netsim_run_until (t->sim, 1400 * NETSIM_MS);
        CHECK (toy_got_across (t, 4) > at_heal, "nothing crossed after the heal");
        //  One direction only.
        uint64_t ab = t->got[0][1], ba = t->got[1][0];
        netsim_cut (t->sim, 0, 1, true);
        netsim_run_until (t->sim, 2400 * NETSIM_MS);
        CHECK (t->got[0][1] == ab && t->got[1][0] > ba, "cut 0->1: %llu / %llu",
               (unsigned long long) (t->got[0][1] - ab), (unsigned long long) (t->got[1][0] - ba));
        netsim_cut (t->sim, 0, 1, false);
        netsim_run_until (t->sim, 2800 * NETSIM_MS);
        CHECK (t->got[0][1] > ab, "restored 0->1");
        netsim_destroy (&t->sim);
    }
    //  In flight across a partition that starts: lost.
    {
        netsim_link_defaults (&l);
        l.lat_min_us = l.lat_max_us = 100 * NETSIM_MS;
        toy_new (t, 2, 16, 1000 * NETSIM_MS, &l);
        netsim_run_until (t->sim, 50 * NETSIM_MS);   //  both sent at t = 0
        netsim_set_group (t->sim, 1, 1);
        netsim_run_until (t->sim, 500 * NETSIM_MS);
        netsim_stats (t->sim, NETSIM_ALL, &st);
        CHECK (st.sent == 2 && st.delivered == 0 && st.dropped == 2, "in flight across a partition");
        netsim_destroy (&t->sim);
    }

    //  5. Freeze: no tick, no handle while frozen; everything that arrived
    //  meanwhile is handed over at the thaw, in order; then it runs again.
    {
        netsim_link_defaults (&l);
        l.in_order = true;
        toy_new (t, 4, 17, 2 * NETSIM_MS, &l);
        t->target = 3;
        netsim_run_until (t->sim, 100 * NETSIM_MS);
        uint64_t ticks = t->ticks[3], handles = t->handles[3];
        netsim_freeze (t->sim, 3, 600 * NETSIM_MS);
        CHECK (netsim_state (t->sim, 3) == NETSIM_FROZEN, "frozen");
        netsim_run_until (t->sim, 599 * NETSIM_MS);
        CHECK (t->ticks[3] == ticks && t->handles[3] == handles,
               "a frozen node ran (%llu ticks, %llu handles)", (unsigned long long) (t->ticks[3] - ticks),
               (unsigned long long) (t->handles[3] - handles));
        uint64_t sent_to = 0, got = 0;
        for (int i = 0; i < 3; i++)
            sent_to += t->seq_out[i][3], got += t->got[i][3];
        netsim_run_until (t->sim, 600 * NETSIM_MS);
        uint64_t got_at_thaw = 0;
        for (int i = 0; i < 3; i++)
            got_at_thaw += t->got[i][3];
        CHECK (netsim_state (t->sim, 3) == NETSIM_UP && got_at_thaw >= sent_to - 3 && got_at_thaw > got + 500,
               "held input: %llu of %llu at the thaw", (unsigned long long) (got_at_thaw - got),
               (unsigned long long) (sent_to - got));
        CHECK (t->last_handle[3] == 600 * NETSIM_MS && t->last_tick[3] == 600 * NETSIM_MS
                   && t->inversions == 0,
               "thaw: last handle %llu, tick %llu, %llu inversions", (unsigned long long) t->last_handle[3],
               (unsigned long long) t->last_tick[3], (unsigned long long) t->inversions);
        //  Until thawed by hand.
        netsim_freeze (t->sim, 3, NETSIM_NEVER);
        netsim_run_until (t->sim, 2000 * NETSIM_MS);
        CHECK (netsim_state (t->sim, 3) == NETSIM_FROZEN && t->last_tick[3] == 600 * NETSIM_MS,
               "an open freeze ended by itself");
        netsim_thaw (t->sim, 3);
        netsim_run_until (t->sim, 2001 * NETSIM_MS);
        CHECK (t->last_tick[3] == 2000 * NETSIM_MS, "thawed by hand, tick at %llu",
               (unsigned long long) t->last_tick[3]);
        netsim_destroy (&t->sim);
    }

    //  6. Crash and restart: nothing runs, what is sent to it is lost; after
    //  the restart it is ticked at once.
    {
        toy_new (t, 4, 18, 2 * NETSIM_MS, NULL);
        t->target = 2;
        netsim_run_until (t->sim, 100 * NETSIM_MS);
        netsim_crash (t->sim, 2);
        uint64_t ticks = t->ticks[2], handles = t->handles[2];
        netsim_stats (t->sim, 2, &st);
        netsim_run_until (t->sim, 600 * NETSIM_MS);
        netsim_stats (t->sim, 2, &st2);
        CHECK (t->ticks[2] == ticks && t->handles[2] == handles, "a crashed node ran");
        CHECK (st2.dropped > st.dropped + 500, "messages to a crashed node: %llu dropped",
               (unsigned long long) (st2.dropped - st.dropped));
        netsim_start (t->sim, 2);
        netsim_run_until (t->sim, 600 * NETSIM_MS);
        CHECK (t->ticks[2] == ticks + 1 && t->last_tick[2] == 600 * NETSIM_MS, "restart: not ticked at once");
        netsim_run_until (t->sim, 700 * NETSIM_MS);
        CHECK (t->handles[2] > handles, "restart: no input");
        netsim_destroy (&t->sim);
    }

    //  7. The tick contract: exactly at next_wakeup; "now" again means the
    //  next millisecond, never a spin; a service that wants nothing is not
    //  ticked.  Timers at one instant run in the order they were set.
    {
        netsim_t *s = netsim_new (3, 19);
        uint64_t eager[2] = {0, 0}, fixed[2] = {0, 0};
        netsim_service_t e = {"eager", t_ignore, t_count_tick, t_eager_wakeup};
        netsim_service_t f = {"fixed", t_ignore, t_count_tick, t_fixed_wakeup};
        int pe = netsim_service (s, &e, eager), pf = netsim_service (s, &f, fixed);
        netsim_host (s, 0, pe, true);
        netsim_host (s, 1, pf, true);
        netsim_start (s, 0);
        netsim_start (s, 1);
        netsim_run_until (s, 4999);
        CHECK (fixed[0] == 1 && fixed[1] == 0, "a fresh instance is ticked at its start, then at its wakeup");
        netsim_run_until (s, 100 * NETSIM_MS);
        CHECK (fixed[0] == 2 && fixed[1] == 5 * NETSIM_MS, "fixed wakeup: %llu ticks, last %llu",
               (unsigned long long) fixed[0], (unsigned long long) fixed[1]);
        CHECK (eager[0] == 101, "eager: %llu ticks in 100 ms", (unsigned long long) eager[0]);
        netsim_host (s, 0, pe, false);
        netsim_run_until (s, 200 * NETSIM_MS);
        CHECK (eager[0] == 101, "ticked while not hosted");
        t_order_t o = {{0}, 0};
        for (uint64_t k = 0; k < 5; k++)
            netsim_at (s, 300 * NETSIM_MS, t_order_fn, &o, k);
        netsim_at (s, 250 * NETSIM_MS, t_order_fn, &o, 99);
        netsim_at (s, 310 * NETSIM_MS, t_stop_fn, NULL, 0);
        CHECK (netsim_run_until (s, 400 * NETSIM_MS) == -1 && netsim_now (s) == 310 * NETSIM_MS, "stop");
        CHECK (o.n == 6 && o.order[0] == 99 && o.order[1] == 0 && o.order[2] == 1 && o.order[5] == 4,
               "timer order");
        netsim_destroy (&s);
    }
    free (t);
    if (verbose)
        printf ("%s\n", rc ? "FAILED" : "OK");
    return rc;
}
