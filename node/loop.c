/*  =========================================================================
    node_loop - the services' event loop (see loop.h).
    ========================================================================= */
#include "node/loop.h"
#include "common/log.h"
#include "common/selftest.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct _node_loop_t {
    node_service_t svc[NODE_LOOP_MAX_SERVICES];
    int n_svc;
    uint32_t max_wait_ms;
    //  This turn's poll set and, per item, the service it belongs to.
    zmq_pollitem_t *items;
    int *owner;
    int cap;
    volatile sig_atomic_t stop;
    volatile sig_atomic_t *flag;
    bool leaving;
    uint64_t leave_deadline_ms;
    uint64_t turns;
    uint64_t worst_turn_ms;   //  the longest a turn worked (its sleep in zmq_poll excluded)
};

node_loop_t *
node_loop_new (uint32_t max_wait_ms)
{
    node_loop_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_wait_ms = max_wait_ms ? max_wait_ms : 1000;
    return self;
}

void
node_loop_destroy (node_loop_t **self_p)
{
    assert (self_p);
    node_loop_t *self = *self_p;
    if (!self)
        return;
    free (self->items);
    free (self->owner);
    free (self);
    *self_p = NULL;
}

int
node_loop_add (node_loop_t *self, const node_service_t *svc)
{
    assert (self && svc);
    if (self->n_svc >= NODE_LOOP_MAX_SERVICES) {
        mw_error ("loop_full", "service=%s max=%d", svc->name ? svc->name : "-", NODE_LOOP_MAX_SERVICES);
        return -1;
    }
    self->svc[self->n_svc++] = *svc;
    return 0;
}

void
node_loop_stop (node_loop_t *self)
{
    assert (self);
    self->stop = 1;
}

void
node_loop_watch (node_loop_t *self, volatile sig_atomic_t *flag)
{
    assert (self);
    self->flag = flag;
}

bool
node_loop_leaving (node_loop_t *self)
{
    assert (self);
    return self->leaving;
}

uint64_t
node_loop_worst_turn_ms (node_loop_t *self)
{
    assert (self);
    return self->worst_turn_ms;
}

uint64_t
node_loop_turns (node_loop_t *self)
{
    assert (self);
    return self->turns;
}

static int
s_grow (node_loop_t *self, int need)
{
    if (need <= self->cap)
        return 0;
    int cap = self->cap ? self->cap : 8;
    while (cap < need)
        cap *= 2;
    zmq_pollitem_t *items = realloc (self->items, (size_t) cap * sizeof *items);
    if (!items)
        return -1;
    self->items = items;
    int *owner = realloc (self->owner, (size_t) cap * sizeof *owner);
    if (!owner)
        return -1;
    self->owner = owner;
    self->cap = cap;
    return 0;
}

//  This turn's poll set.  A service that needs more room than is left is
//  asked again once the arrays have grown: the set is whatever the
//  services hold right now, not a size fixed at start.
static int
s_gather (node_loop_t *self)
{
    int n = 0;
    for (int s = 0; s < self->n_svc; s++) {
        node_service_t *svc = &self->svc[s];
        if (!svc->pollitems)
            continue;
        for (int attempt = 0; attempt < 2; attempt++) {
            int room = self->cap - n;
            int k = svc->pollitems (svc->ctx, room > 0 ? self->items + n : NULL, room > 0 ? room : 0);
            if (k < 0)
                k = 0;
            if (k <= room) {
                for (int i = n; i < n + k; i++)
                    self->owner[i] = s;
                n += k;
                break;
            }
            if (s_grow (self, n + k) != 0) {
                mw_error ("loop_oom", "service=%s items=%d", svc->name ? svc->name : "-", n + k);
                break;
            }
        }
    }
    return n;
}

static void
s_begin_leave (node_loop_t *self, uint64_t now)
{
    self->leaving = true;
    self->leave_deadline_ms = now;
    for (int s = 0; s < self->n_svc; s++)
        if (self->svc[s].leave) {
            uint64_t d = self->svc[s].leave (self->svc[s].ctx, now);
            if (d > self->leave_deadline_ms)
                self->leave_deadline_ms = d;
        }
}

int
node_loop_run (node_loop_t *self)
{
    assert (self);
    if (s_grow (self, 8) != 0)
        return -1;
    uint64_t work_since = mw_now_ms ();
    while (true) {
        uint64_t now = mw_now_ms ();
        if (!self->leaving && (self->stop || (self->flag && *self->flag)))
            s_begin_leave (self, now);
        if (self->leaving && now >= self->leave_deadline_ms)
            break;
        for (int s = 0; s < self->n_svc; s++)
            if (self->svc[s].tick)
                self->svc[s].tick (self->svc[s].ctx, now);
        int n = s_gather (self);
        uint64_t next = now + self->max_wait_ms;
        for (int s = 0; s < self->n_svc; s++)
            if (self->svc[s].next_wakeup) {
                uint64_t w = self->svc[s].next_wakeup (self->svc[s].ctx, now);
                if (w < next)
                    next = w;
            }
        if (self->leaving && self->leave_deadline_ms < next)
            next = self->leave_deadline_ms;
        //  A stop asked for by a tick: start the leave without sleeping.
        if (!self->leaving && (self->stop || (self->flag && *self->flag)))
            next = now;
        long timeout = next > now ? (long) (next - now) : 0;
        //  What the services cost this turn (dispatch and ticks): a flood
        //  that stalls the loop shows here (status: loop.worst_turn_ms).
        uint64_t worked = mw_now_ms () - work_since;
        if (worked > self->worst_turn_ms)
            self->worst_turn_ms = worked;
        int rc = zmq_poll (n ? self->items : NULL, n, timeout);
        work_since = mw_now_ms ();
        self->turns++;
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            mw_error ("poll_failed", "reason=\"%s\"", zmq_strerror (errno));
            return -1;
        }
        if (rc == 0)
            continue;
        now = mw_now_ms ();
        for (int i = 0; i < n; i++)
            if (self->items[i].revents) {
                node_service_t *svc = &self->svc[self->owner[i]];
                if (svc->readable)
                    svc->readable (svc->ctx, &self->items[i], now);
            }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Selftest: two fake services over inproc pairs.

typedef struct {
    zsock_t *in[4];   //  readable ends
    int n_in;         //  how many it polls now (changes at run time)
    int reads[4];
    int ticks;
    uint64_t due;   //  its timer
    int fired;
    uint64_t leave_for_ms;
    int left;
    node_loop_t *loop;
    int stop_after_fired;
} fake_t;

static int
s_fake_items (void *ctx, zmq_pollitem_t *items, int max)
{
    fake_t *f = (fake_t *) ctx;
    for (int i = 0; i < f->n_in && i < max; i++)
        items[i] = (zmq_pollitem_t){zsock_resolve (f->in[i]), 0, ZMQ_POLLIN, 0};
    return f->n_in;
}

static void
s_fake_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    fake_t *f = (fake_t *) ctx;
    (void) now;
    for (int i = 0; i < 4; i++)
        if (f->in[i] && item->socket == zsock_resolve (f->in[i])) {
            char *s = zstr_recv_nowait (f->in[i]);
            zstr_free (&s);
            f->reads[i]++;
            return;
        }
    f->reads[3] += 100;   //  an item that is not ours: a dispatch bug
}

static void
s_fake_tick (void *ctx, uint64_t now)
{
    fake_t *f = (fake_t *) ctx;
    f->ticks++;
    if (f->due && now >= f->due) {
        f->fired++;
        f->due = 0;
        if (f->stop_after_fired && f->loop)
            node_loop_stop (f->loop);
    }
}

static uint64_t
s_fake_wakeup (void *ctx, uint64_t now)
{
    fake_t *f = (fake_t *) ctx;
    (void) now;
    return f->due ? f->due : UINT64_MAX;
}

static uint64_t
s_fake_leave (void *ctx, uint64_t now)
{
    fake_t *f = (fake_t *) ctx;
    f->left++;
    return now + f->leave_for_ms;
}

typedef struct {
    zsock_t *in[12];
    int hit;
    volatile sig_atomic_t *flag;
} many_t;

static int
s_many_items (void *ctx, zmq_pollitem_t *items, int max)
{
    many_t *m = (many_t *) ctx;
    for (int i = 0; i < 12 && i < max; i++)
        items[i] = (zmq_pollitem_t){zsock_resolve (m->in[i]), 0, ZMQ_POLLIN, 0};
    return 12;
}

static void
s_many_readable (void *ctx, const zmq_pollitem_t *item, uint64_t now)
{
    many_t *m = (many_t *) ctx;
    (void) now;
    m->hit = -1;
    for (int i = 0; i < 12; i++)
        if (item->socket == zsock_resolve (m->in[i])) {
            char *s = zstr_recv_nowait (m->in[i]);
            zstr_free (&s);
            m->hit = i;
        }
    *m->flag = 1;
}

int
node_loop_test (bool verbose)
{
    int rc = 0;
    zsock_t *out[4];
    fake_t a, b;
    memset (&a, 0, sizeof a);
    memset (&b, 0, sizeof b);
    for (int i = 0; i < 4; i++) {
        char ep[64];
        snprintf (ep, sizeof ep, "inproc://loop-test-%d", i);
        zsock_t *in = zsock_new (ZMQ_PAIR);
        zsock_bind (in, "%s", ep);
        out[i] = zsock_new (ZMQ_PAIR);
        zsock_connect (out[i], "%s", ep);
        if (i < 3)
            a.in[i] = in;
        else
            b.in[0] = in;
    }
    a.n_in = 1;   //  polls one of its three sockets to begin with
    b.n_in = 1;
    node_loop_t *loop = node_loop_new (20);
    a.loop = b.loop = loop;
    node_service_t sa = {"a", &a, s_fake_items, s_fake_readable, s_fake_tick, s_fake_wakeup, s_fake_leave};
    node_service_t sb = {"b", &b, s_fake_items, s_fake_readable, s_fake_tick, s_fake_wakeup, s_fake_leave};
    CHECK (node_loop_add (loop, &sa) == 0 && node_loop_add (loop, &sb) == 0, "add");
    node_service_t none = {0};
    for (int i = 2; i < NODE_LOOP_MAX_SERVICES; i++)
        node_loop_add (loop, &none);   //  services without hooks are fine
    CHECK (node_loop_add (loop, &none) == -1, "more than the maximum accepted");

    //  Messages on a's second socket and b's socket before a polls it: the
    //  loop must hand each to its owner once a lists it.  a's timer (40 ms)
    //  stops the loop; leave hooks give 30 ms and 0 ms.
    zstr_send (out[1], "x");
    zstr_send (out[3], "y");
    a.n_in = 2;
    uint64_t t0 = mw_now_ms ();
    a.due = t0 + 40;
    a.stop_after_fired = 1;
    a.leave_for_ms = 30;
    CHECK (node_loop_run (loop) == 0, "run");
    uint64_t took = mw_now_ms () - t0;
    CHECK (a.reads[1] == 1 && b.reads[0] == 1 && a.reads[0] == 0 && a.reads[3] == 0 && b.reads[3] == 0,
           "dispatch by item: a %d/%d/%d b %d", a.reads[0], a.reads[1], a.reads[3], b.reads[0]);
    CHECK (a.fired == 1, "timer fired %d", a.fired);
    CHECK (a.left == 1 && b.left == 1, "leave hooks once each: %d %d", a.left, b.left);
    CHECK (took >= 70 && took < 400, "timer + leave deadline: %llu ms", (unsigned long long) took);
    CHECK (node_loop_leaving (loop), "leaving");
    //  With a timer 40 ms away and max_wait 20 ms, the loop sleeps in a few
    //  long turns, not a busy spin.
    CHECK (node_loop_turns (loop) < 40, "turns %llu", (unsigned long long) node_loop_turns (loop));
    if (verbose)
        printf ("  run: %llu ms, %llu turns, a ticks %d\n", (unsigned long long) took,
                (unsigned long long) node_loop_turns (loop), a.ticks);
    node_loop_destroy (&loop);
    CHECK (loop == NULL, "destroy nulls");

    //  Many items (beyond the arrays' first size) and a watched flag: the
    //  message on the eleventh socket raises the flag, as a signal would.
    loop = node_loop_new (10);
    many_t m;
    memset (&m, 0, sizeof m);
    zsock_t *mout[12];
    for (int i = 0; i < 12; i++) {
        char ep[64];
        snprintf (ep, sizeof ep, "inproc://loop-many-%d", i);
        m.in[i] = zsock_new (ZMQ_PAIR);
        zsock_bind (m.in[i], "%s", ep);
        mout[i] = zsock_new (ZMQ_PAIR);
        zsock_connect (mout[i], "%s", ep);
    }
    volatile sig_atomic_t flag = 0;
    m.flag = &flag;
    node_service_t sm = {"many", &m, s_many_items, s_many_readable, NULL, NULL, NULL};
    node_loop_add (loop, &sm);
    node_loop_watch (loop, &flag);
    zstr_send (mout[10], "z");
    t0 = mw_now_ms ();
    CHECK (node_loop_run (loop) == 0, "run 2");
    CHECK (m.hit == 10 && flag == 1, "item 10 of 12 dispatched (%d)", m.hit);
    CHECK (mw_now_ms () - t0 < 500, "flag stop");
    node_loop_destroy (&loop);
    for (int i = 0; i < 12; i++) {
        zsock_destroy (&m.in[i]);
        zsock_destroy (&mout[i]);
    }

    for (int i = 0; i < 4; i++)
        zsock_destroy (&out[i]);
    for (int i = 0; i < 3; i++)
        zsock_destroy (&a.in[i]);
    zsock_destroy (&b.in[0]);
    return rc;
}
