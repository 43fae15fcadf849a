/*  =========================================================================
    node_loop - one event loop for a composition of services.

    The agent and the analysis server are each a list of services on one
    thread: membership and transport, discovery, election, forecasts, jobs,
    the control socket...  A service is a small table of hooks; the loop
    knows nothing else about it:

      pollitems (ctx, items, max)   the sockets or fds to watch now (the set
                                    may change from turn to turn: a service
                                    that opens an outbound socket simply
                                    returns one more item next time)
      readable (ctx, item, now)     one of *its* items is ready
      tick (ctx, now)               time passed: run what is due
      next_wakeup (ctx, now)        when tick must run next (UINT64_MAX: no
                                    timer); the loop sleeps until the earliest
      leave (ctx, now)              a graceful stop began; returns how long
                                    (an absolute deadline) the loop must keep
                                    running for this service to finish

    Every hook may be NULL.  One turn: tick every service (in the order they
    were added), gather poll items, sleep in zmq_poll until the earliest
    wakeup (at most max_wait_ms), then hand each ready item to the service
    that contributed it.  Dispatch is by item, never by array position.

    Why not czmq's zloop: the modules this loop drives (SWIM membership,
    the election, the job hand-off) each compute their own next deadline
    from pure logic (next_wakeup); zloop's timers are fixed intervals or
    tickets that would have to be cancelled and re-armed after every
    message, and zloop stops on SIGINT by itself, while the agent's stop is
    a graceful leave that keeps the loop running for a moment.

    Stop: node_loop_stop () (from a service, e.g. the control socket's
    `leave`) or a watched signal flag starts the leave: each service's leave
    hook runs once, in order; the loop keeps turning until the latest
    deadline they returned, then node_loop_run () returns.
    ========================================================================= */
#ifndef NODE_LOOP_H_INCLUDED
#define NODE_LOOP_H_INCLUDED

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

typedef struct {
    const char *name;   //  for logs
    void *ctx;
    int (*pollitems) (void *ctx, zmq_pollitem_t *items, int max);   //  returns how many it needs
    void (*readable) (void *ctx, const zmq_pollitem_t *item, uint64_t now_ms);
    void (*tick) (void *ctx, uint64_t now_ms);
    uint64_t (*next_wakeup) (void *ctx, uint64_t now_ms);
    uint64_t (*leave) (void *ctx, uint64_t now_ms);
} node_service_t;

#define NODE_LOOP_MAX_SERVICES 16

typedef struct _node_loop_t node_loop_t;

//  max_wait_ms: the longest sleep in one turn (a safety net for timers a
//  service does not report).
node_loop_t *node_loop_new (uint32_t max_wait_ms);
void node_loop_destroy (node_loop_t **self_p);
//  Add a service (copied).  0, or -1 when NODE_LOOP_MAX_SERVICES are in.
int node_loop_add (node_loop_t *self, const node_service_t *svc);
//  Start the graceful stop at the next turn.  Safe from any hook.
void node_loop_stop (node_loop_t *self);
//  A flag a signal handler sets: checked every turn, as node_loop_stop.
void node_loop_watch (node_loop_t *self, volatile sig_atomic_t *flag);
//  True once the leave has begun.
bool node_loop_leaving (node_loop_t *self);
//  Run until the leave is over (0) or zmq_poll fails (-1, logged).
int node_loop_run (node_loop_t *self);
//  Turns so far (tests, debugging).
uint64_t node_loop_turns (node_loop_t *self);
//  The longest time one turn spent working (ticks and dispatch; the sleep in
//  zmq_poll excluded), ms: what a flood costs the timers.
uint64_t node_loop_worst_turn_ms (node_loop_t *self);

int node_loop_test (bool verbose);

#endif
