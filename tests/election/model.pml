/*  =========================================================================
    model.pml - the coordinator election and fencing rules of
    scheduler/election.c, for spin.  docs/ELECTION.md states the invariants;
    tests/election/model_check.sh runs the checks below.

    Three nodes.  The term is a ballot (counter, rank, id), encoded in one
    byte as counter << 3 | rank << 2 | id, so that the lexicographic order
    of the C code is the integer order here.  Counters are bounded by MAXT.
    Every node runs the same table as the C code: follower -> (pre-vote)
    -> candidate (ballot (next counter, rank, me) and self-vote persisted;
    next = 1 + the higher of its ballot's and its vote's counters) ->
    coordinator (vote majority of its electorate) -> follower (higher
    ballot, stall, no majority).

    Who moves whom (docs/ELECTION.md section 3): a ballot above ours is
    adopted on one message only if it is at most one counter up (and its
    id is a member's); further up only when a majority of the view
    reports (in heartbeats, vote requests, votes) a ballot at least that
    high (catch-up); a node whose ballot a majority of its electorate
    reports two or more counters below gives it up: a coordinator steps
    down, a node following nobody takes the majority's ballot back
    (renounce; its vote stays).  These decisions are taken (reconcile)
    when a message two or more counters away arrives; what the third node
    reported is not kept in the state (see reconcile for what stands in
    for it).

    Abstractions (each one gives the environment MORE freedom than reality,
    so safety proved here holds for the real timings too):
      * time: a follower's lease may lapse at any moment, a coordinator may
        "stall" (SIGSTOP) at any moment, timers fire whenever enabled;
      * the network: any message may be lost; channels are FIFO per
        receiver (TCP per link is FIFO; merging links only adds orders);
      * crash: a node loses everything except (highest ballot, vote), which
        the C code persists in one transaction before sending anything
        that depends on them;
      * partitions: the environment splits the nodes (any one node off, or
        all three apart) at any moment and heals at any moment; a message
        queued before the split is still delivered (a late packet);
      * the view: a round's electorate is the candidate's component when
        the round starts, so nodes whose rounds start at different moments
        have different views (SWIM's lag);
      * pre-vote changes no state on the voters, so the safety runs leave
        it out (a candidacy may start whenever the lease lapsed: more
        behaviours, not fewer); the liveness run has it;
      * rank = id (each node's rank is fixed): the order only decides who
        wins on heal and who yields a pre-vote, never whether a vote is
        granted twice;
      * a heartbeat stands for every decision of its coordinator (same
        ballot, and the receiver applies it exactly when
        election_accept_decision would);
      * the view is the component (up nodes); a report is counted only
        from a node in it; a report of the third node is its current
        ballot or vote (up), or any low counter (down: a superset of the
        stale reports it may have sent); only far reports are kept (a
        nearer one may always have expired already);
      * a forger (-DFORGE) holds the cluster key: it sends one message of
        any kind, to any node, as a stranger (id 3) or in the name of one
        member, with a ballot two counters above every real one (with
        MAXT = 2: while every counter is still 0).  Not with crashes: with
        one of three nodes down a view holds one other member, whose word
        is a majority (the C code's N = 2 case).
      * crypto is not modelled; it is an assumption: since protocol
        version 2 every election message is signed by its sender's node
        key and the daemon delivers only those that verify
        (msg->verified, docs/ELECTION.md 5.3).  So a forger without a
        member's key is in effect only the stranger (id 3), whom nobody
        hears; the forger "in the name of one member" modelled here is
        that member's key holder (a compromised box), and F1 holds for
        it too.  A majority's word is a majority of distinct node keys.

    Checks (tests/election/model_check.sh):
      safety   (-DSAFETY, exhaustive), asserting
                 B1 no ballot is won twice (across crashes);
                 S3 two winners of one counter never had the same
                    electorate: within one view, one coordinator per
                    counter (across views they may share it; the ballots
                    still differ);
                 S4 the highest ballot a node has seen never goes down
                    except by renouncing (two or more counters, to a
                    ballot a majority of its electorate reported), and a
                    heartbeat/decision below it is refused (fenced), so
                    between renounces the ballots a node applies never
                    go down;
                 F1 (-DFORGE) no node takes on a counter more than one
                    above every counter a real candidate took: the
                    forger's far ballot never moves anyone (one counter
                    up is what any member's heartbeat may do, and what a
                    forger in its name may do before signatures);
               run three times: -DPART (partitions, loss, lease lapse),
               -DCRASH (crash/restart, stalls, loss, lease lapse) and
               -DFORGE (the forger, stalls, loss, lease lapse).
      liveness (-DLIVE, MAXT = 4): ltl - once the component is stable (no
               more loss, crash or partition; randomised timers let one
               hopeful candidate run alone; timers are long against
               delivery), a coordinator eventually exists and every node
               holds its ballot; run from a fresh start, from one where
               node 0 is three counters ahead of the others (-DAHEAD: it
               must give its ballot up) and one where it is two behind
               (-DBEHIND: it must catch up).
    ========================================================================= */

#define N 3
#ifndef MAXT
#define MAXT 2
#endif
#define NB ((MAXT + 1) * 8)   /* ballots: counter 0..MAXT, times 8 */
#ifndef SPLITS
#define SPLITS 1       /* partitions per run */
#endif
#ifndef STALL
#define STALL 1        /* a coordinator may stall (step down) at any moment */
#endif

mtype = { HB, VREQ, VOTE };
#define FOLLOWER 0
#define PRECAND 1
#define CAND 2
#define COORD 3

#ifdef LIVE
#define CAP 3   /* no drops once stable: room for every answer of a round */
#else
#define CAP 1   /* a full channel drops (HWM), which is one more way to lose */
#endif
chan ch[N] = [CAP] of { mtype, byte, byte, bit, bit };   /* type, from, ballot, pre, granted */

#define CTR(b) ((b) >> 3)
#define ID(b) ((b) & 3)

byte hi[N];            /* persisted: highest ballot seen (0 = none yet) */
byte vote[N];          /* persisted: last vote (0 = never voted) */
byte role[N];
bit  lease[N];         /* a live lease on a coordinator (follower) */
bit  up[N];
byte comp[N];          /* component label (partitions) */
bit  stable;           /* environment promises no more faults */
byte crashes;
byte splits;
/* Ghosts for the assertions. */
#ifdef SAFETY
bit  won[NB];          /* B1: ballot won */
byte elect[NB];        /* S3: the electorate of each won ballot's round */
#endif
byte eltor[N];         /* the electorate of my current round (bit mask; 0 outside a round) */
#ifdef LIVE
bit  refused[N];       /* refused the last heartbeat it got (no lease from it) */
#define SET_REFUSED(v) refused[me] = v
#define REFUSED(i) refused[i]
#else
#define SET_REFUSED(v) skip
#define REFUSED(i) 0
#endif
#ifdef FORGE
byte maxlegit;         /* the highest counter a real candidate took */
#endif

#define SAME(i, j) (comp[i] == comp[j])
#define MAX2(a, b) ((a) > (b) -> (a) : (b))
#define MIN2(a, b) ((a) < (b) -> (a) : (b))
#define NEXT(i) (MAX2(CTR(hi[i]), CTR(vote[i])) + 1)   /* the counter a candidacy takes */
#define INVIEW(i, j) ((j) < N && (j) != (i) && up[j] && SAME(i, j))
#define RUNNING(i) (up[i] && (role[i] == PRECAND || role[i] == CAND))
/* Once stable, randomised timers let one candidate run alone, and no
   timer fires while a coordinator is up (its heartbeats keep leases),
   except at a node that refused its heartbeat (a ballot two or more
   counters away from ours gives no lease); a round that got no result
   times out and starts again. */
/* A runner that no other node would grant (they grant exactly one
   counter above their own: it is behind them, or it gave a ballot up and
   kept its vote, or it ran ahead) does not hold the others' timers back
   (they are randomised in reality, and would fire). */
#define HOPEFUL(i) (up[i] && (role[i] == CAND || (role[i] == PRECAND && \
    (CTR(hi[(i + 1) % N]) + 1 == NEXT(i) || CTR(hi[(i + 2) % N]) + 1 == NEXT(i)))))
#define OTHERS_IDLE ((me == 0 || !HOPEFUL(0)) && (me == 1 || !HOPEFUL(1)) && (me == 2 || !HOPEFUL(2)))
#define TIMER_OK (!stable || (OTHERS_IDLE && ROUND_DONE && REFIRE_OK && (!IS_COORD_ANY || REFUSED(me))))
#define IS_COORD_ANY (role[0] == COORD && up[0] || role[1] == COORD && up[1] || role[2] == COORD && up[2])
/* Once stable, a lease lapses only when no coordinator of our ballot is up
   to renew it. */
#define COORD_OF(i, b) (up[i] && role[i] == COORD && hi[i] == (b))
#define LEASE_KEPT (COORD_OF(0, hi[me]) || COORD_OF(1, hi[me]) || COORD_OF(2, hi[me]))

#ifdef LIVE
/* Timers are long (400 ms and more) against the LAN's delivery (1 ms):
   a timer fires only when nothing is in flight.  Otherwise a process
   could keep firing its timer, "fairly", never reading, or flood the
   channels with rounds whose answers have not arrived yet. */
#define IDLE_IN (len(ch[0]) + len(ch[1]) + len(ch[2]) == 0)
/* A round times out only after its requests went out; a hopeless one
   starts again only when something changed (it refused a heartbeat since:
   fresh answers may now move it). */
#define ROUND_DONE (!RUNNING(me) || asked[me] == 7 - (1 << me))
#define REFIRE_OK (role[me] != PRECAND || HOPEFUL(me) || refused[me])
#else
#define ROUND_DONE 1
#define REFIRE_OK 1
#define IDLE_IN 1
#endif
#ifdef LIVE
/* Liveness: no loss once stable, so a request goes to each member once per
   round (re-asking is for loss; endless re-asking could keep channels full). */
byte asked[N];
#define ASK_OK (asked[me] != 7 - (1 << me))
#define ASKED asked[me] = asked[me] | (1 << j)
#define NEW_ROUND asked[me] = 0
#else
#define ASK_OK 1
#define ASKED skip
#define NEW_ROUND skip
#endif

/* Non-blocking, lossy send (HWM full or loss: dropped), only within a component. */
inline send (to, mty, a, b, c, d) {
    if
    :: SAME(me, to) && up[to] && nfull(ch[to]) -> ch[to]!mty, a, b, c, d
    :: !stable -> skip       /* lost */
    :: !SAME(me, to) || !up[to] || full(ch[to]) -> skip   /* cut, down, or HWM: dropped */
    fi
}

/* eltor[me] := my component (up members), k := its size. */
inline electorate () {
    k = 0; j = 0; eltor[me] = 0;
    do
    :: j < N -> if :: SAME(me, j) && up[j] -> k++; eltor[me] = eltor[me] | (1 << j) :: else -> skip fi; j++
    :: else -> break
    od
}

/* A higher ballot seen: adopt it (persisted); a coordinator or candidate
   steps back (E_HIGHER_TERM / E_HEARTBEAT).  The vote is kept. */
inline adopt (nb) {
#ifdef SAFETY
    assert (nb > hi[me]);   /* S4: the highest ballot never goes down (but by renouncing) */
#endif
#ifdef FORGE
    assert (CTR(nb) <= maxlegit + 1);   /* F1: one forged message lifts nobody more than one counter */
#endif
    hi[me] = nb; lease[me] = 0; role[me] = FOLLOWER; eltor[me] = 0
}

/* s_reconcile: ballots two or more counters away, by a majority's word,
   on receiving message (from, t) whose ballot t is two or more counters
   from ours.  With N = 3 the view is the other up nodes of my component;
   o is the third node:
     view {from}: up on its word (a majority of a view of one); never down
       (a majority of an electorate of two is both);
     view {from, o}: up if o reports t's counter or more too (both then
       hold >= t): adopt t; down if o reports two or more below us as well
       (and not above t): a coordinator steps down and, without a lease,
       takes t back (renounce).
   What o reported is not kept in the state (it would multiply it): for
   up, o's report is its current ballot or its vote (a report is a ballot
   o held: its current one, or an older one it gave up, which its vote
   may still show); for down, o's report may be any counter at all low
   enough (a superset of the stale reports o may have sent), and in the
   liveness run (stable: reports are fresh) it is o's current one.  Where the C
   code takes o's ballot rather than t (o's counter between), the model
   takes nothing, as if o's report had expired. */
#ifdef LIVE
/* Once stable, o's report is fresh: its current ballot. */
#define O_LOW (CTR(hi[o]) + 2 <= CTR(hi[me]) && CTR(hi[o]) <= CTR(t))
#else
#define O_LOW 1
#endif
inline reconcile () {
    o = 3 - me - from;
    if
    :: INVIEW(me, from) && !INVIEW(me, o) && CTR(t) >= CTR(hi[me]) + 2 -> adopt (t)
    :: INVIEW(me, from) && INVIEW(me, o) && CTR(t) >= CTR(hi[me]) + 2 && (CTR(hi[o]) >= CTR(t) || CTR(vote[o]) >= CTR(t)) ->
        adopt (t)
    :: INVIEW(me, from) && INVIEW(me, o) && CTR(t) + 2 <= CTR(hi[me]) && O_LOW ->
        if :: role[me] == COORD -> role[me] = FOLLOWER; eltor[me] = 0 :: else -> skip fi;
        if
        :: !lease[me] ->
#ifdef FORGE
            assert (CTR(t) <= maxlegit + 1);   /* F1 */
#endif
            hi[me] = t; role[me] = FOLLOWER; eltor[me] = 0
        :: else -> skip
        fi
    :: else -> skip
    fi;
    o = 0
}

inline become_coord () {
#ifdef SAFETY
    assert (!won[hi[me]]);                                    /* B1 */
    j = CTR(hi[me]) << 3;
    do
    :: j < (CTR(hi[me]) << 3) + 8 ->
        if
        :: j != hi[me] && won[j] -> assert (elect[j] != eltor[me])   /* S3 */
        :: else -> skip
        fi; j++
    :: else -> break
    od;
    won[hi[me]] = 1; elect[hi[me]] = eltor[me];
#endif
    role[me] = COORD; eltor[me] = 0
}

/* Candidacy: ballot (next counter, rank, me), self-vote, both persisted. */
inline campaign () {
    t = (NEXT(me) << 3) | me;
    hi[me] = t; vote[me] = t; role[me] = CAND; lease[me] = 0; SET_REFUSED (0);
#ifdef FORGE
    if :: CTR(t) > maxlegit -> maxlegit = CTR(t) :: else -> skip fi;
#endif
    electorate ();
    NEW_ROUND;
    if
    :: k == 1 -> become_coord ()   /* alone: an electorate of one */
    :: else -> skip                /* requests go out below, one member at a time */
    fi
}

/* One vote per counter, never below the highest ballot seen. */
#define MAY_GRANT(b) ((b) >= hi[me] && (vote[me] == 0 || CTR(b) > CTR(vote[me]) || (b) == vote[me]))
/* At most one counter above ours (and a member's): adoptable on one message. */
#define DIRECT(b) (CTR(b) <= CTR(hi[me]) + 1 && ID(b) < N)

/* Locals back to zero after every step, so that states differing only in
   scratch values are one state. */
#define RESET ty = 0; from = 0; t = 0; pre = 0; gr = 0; j = 0; k = 0

/* j := some other member (no no-op choice: a process that keeps picking
   itself would be "fair" and never progress). */
#define PICK_ANY if :: me != 0 -> j = 0 :: me != 1 -> j = 1 :: me != 2 -> j = 2 fi
#ifdef LIVE
#define OK_J(x) (x != me && (asked[me] & (1 << x)) == 0)
#else
#define OK_J(x) (x != me)
#endif
#define PICK if :: OK_J(0) -> j = 0 :: OK_J(1) -> j = 1 :: OK_J(2) -> j = 2 fi
/* Once stable, a heartbeat changes nothing at a node that holds a lease
   (leases only lapse on faults) or that refused the last one (it refuses
   the next one too, until it moves): only those that need one get one,
   and only into an empty channel.  So the channels cannot flood, and a
   quiet moment (every channel empty) always comes. */
#define HB_NEED(x) (len(ch[x]) == 0 && (!lease[x] || hi[x] != hi[me]) && !refused[x])
#define HB_TO(x) if :: HB_NEED(x) -> send (x, HB, me, hi[me], 0, 0) :: !HB_NEED(x) -> skip fi
proctype node (byte me)
{
    mtype ty; byte from, t; bit pre, gr;
    byte j, k, o;
end:
    do
    /* ---- receive --------------------------------------------------- */
    :: atomic { up[me] && nempty(ch[me]) -> ch[me]?ty, from, t, pre, gr;
        if
        :: from >= N -> skip   /* a stranger: in nobody's view, not heard (nor answered) */
        :: else ->
            /* What the sender told us about its highest ballot (s_report).
               Kept only when two or more counters from ours: only such
               reports decide anything (catch-up, renounce); a nearer one
               may always have expired already (the state space stays
               small). */
            if
            :: (ty == VREQ && pre) || (ty == VOTE && pre && gr) -> skip
            :: else ->
                if
                :: CTR(t) + 2 <= CTR(hi[me]) || CTR(hi[me]) + 2 <= CTR(t) -> reconcile ()
                :: else -> skip
                fi
            fi;
            if
            :: ty == HB ->
                /* A heartbeat stands for every decision of its coordinator: it
                   carries the same ballot, and is accepted (applied) exactly when
                   election_accept_decision would accept a decision. */
                if
                :: t < hi[me] || (t > hi[me] && !DIRECT(t)) ->
                    SET_REFUSED (1);   /* fenced / unproven; a real sender learns it */
                    send (from, VOTE, me, hi[me], 0, 0)
                :: else ->
                    if :: t > hi[me] -> adopt (t) :: else -> skip fi;
                    role[me] = FOLLOWER; lease[me] = 1; eltor[me] = 0; SET_REFUSED (0)
                fi
#ifdef LIVE
            :: ty == VREQ && pre ->
                /* E_YIELD: a lower-ranked precandidate gives way (rank = id here) */
                if
                :: role[me] == PRECAND && CTR(t) == NEXT(me) && from > me -> role[me] = FOLLOWER; eltor[me] = 0
                :: else -> skip
                fi;
                if
                :: CTR(t) == CTR(hi[me]) + 1 && MAY_GRANT(t) && !lease[me] && role[me] != COORD ->
                    send (from, VOTE, me, t, 1, 1)
                :: else -> send (from, VOTE, me, hi[me], 1, 0)
                fi
            :: ty == VOTE && pre && gr ->
                if
                :: role[me] == PRECAND && CTR(t) == NEXT(me) && ID(t) == me && NEXT(me) <= MAXT -> campaign ()
                :: else -> skip
                fi
#endif
            :: ty == VREQ && !pre ->
                if
                :: t < hi[me] || CTR(t) > CTR(hi[me]) + 1 || (role[me] != COORD && lease[me]) || !MAY_GRANT(t) ->
                    send (from, VOTE, me, hi[me], 0, 0)
                :: else ->
                    if :: t > hi[me] -> adopt (t) :: else -> skip fi;
                    if
                    :: role[me] == FOLLOWER ->
                        vote[me] = t;
                        send (from, VOTE, me, t, 0, 1)
                    :: else -> send (from, VOTE, me, hi[me], 0, 0)
                    fi
                fi
            :: ty == VOTE && !(pre && gr) && t > hi[me] && DIRECT(t) -> adopt (t)
            :: ty == VOTE && !pre && gr && t == hi[me] && role[me] == CAND && (eltor[me] & (1 << from)) ->
                become_coord ()   /* a grant from my electorate: with three, a majority */
            :: else -> skip
            fi
        fi; RESET }
    /* ---- timers ------------------------------------------------------ */
    :: atomic { IDLE_IN && up[me] && role[me] != COORD && !lease[me] && NEXT(me) <= MAXT && TIMER_OK ->
#ifdef LIVE
        /* election timer: pre-vote round for the next counter */
        role[me] = PRECAND; NEW_ROUND;
        electorate ();
        if
        :: k == 1 -> campaign ()   /* alone (after alone_ms): at once */
        :: else -> skip
        fi;
#else
        campaign ();
#endif
        RESET }
    :: atomic { up[me] && lease[me] && (!stable || !LEASE_KEPT) -> lease[me] = 0 }   /* lease lapses */
    /* Sends to one member at a time: a broadcast with loss reaches any
       subset, and sending again what was sent is harmless (re-asking a
       voter gets the same answer; heartbeats and decisions repeat). */
#ifdef LIVE
    :: atomic { IDLE_IN && up[me] && role[me] == PRECAND && ASK_OK -> PICK; ASKED;
        t = (NEXT(me) << 3) | me; send (j, VREQ, me, t, 1, 0); RESET }
#endif
    :: atomic { up[me] && role[me] == CAND && ASK_OK -> PICK; ASKED; send (j, VREQ, me, hi[me], 0, 0); RESET }
#ifdef LIVE
    /* Heartbeats go to every member each interval (a choice of one would
       let an unfair schedule starve a follower forever). */
    :: atomic { up[me] && role[me] == COORD && (HB_NEED((me + 1) % N) || HB_NEED((me + 2) % N)) ->
        j = (me + 1) % N; HB_TO (j);
        j = (me + 2) % N; HB_TO (j); RESET }
#else
    :: atomic { up[me] && role[me] == COORD -> PICK_ANY; send (j, HB, me, hi[me], 0, 0); RESET }
#endif
    :: atomic { up[me] && role[me] == COORD && !stable && STALL -> role[me] = FOLLOWER }  /* stall */
    /* ---- crash and restart from the persisted (ballot, vote) ---------- */
#ifdef CRASH
    :: atomic { up[me] && !stable && crashes < 1 ->
        crashes++; up[me] = 0; role[me] = FOLLOWER; lease[me] = 0; eltor[me] = 0; SET_REFUSED (0);
        do :: ch[me]?ty, from, t, pre, gr :: empty(ch[me]) -> break od; RESET }
    :: atomic { !up[me] -> up[me] = 1 }
#endif
    od
}

#ifdef FORGE
/* The forger: one message, any kind, to any node, as the stranger (3) or
   as one member, with a ballot two counters above every real counter
   (ballots and votes).  F1 is asserted wherever a ballot is taken on. */
proctype forger ()
{
    byte to, as, b, c;
    atomic {
        c = MAX2(MAX2(MAX2(CTR(hi[0]), CTR(vote[0])), MAX2(CTR(hi[1]), CTR(vote[1]))), MAX2(CTR(hi[2]), CTR(vote[2]))) + 2;
        if
        :: c <= MAXT ->
            if :: to = 0 :: to = 1 :: to = 2 fi;
            if :: as = 3 :: as = (to + 1) % N fi;
            if :: b = (c << 3) | as :: b = (c << 3) | ((to + 2) % N) fi;
            if
            :: nfull(ch[to]) ->
                if
                :: ch[to]!HB, as, b, 0, 0
                :: ch[to]!VREQ, as, b, 0, 0
                :: ch[to]!VREQ, as, b, 1, 0
                :: ch[to]!VOTE, as, b, 0, 0
                :: ch[to]!VOTE, as, b, 0, 1
                fi
            :: full(ch[to]) -> skip
            fi
        :: c > MAXT -> skip   /* (too late in this bounded model to forge above every counter) */
        fi;
        to = 0; as = 0; b = 0; c = 0
    }
}
#endif

init {
    atomic {
        up[0] = 1; up[1] = 1; up[2] = 1;
#ifdef LIVE
        stable = 1;   /* the liveness run: a stable component from the start */
#endif
#ifdef AHEAD
        /* node 0 holds a ballot three counters above the others' (a side
           that ran ahead, a forger's word persisted): once the others
           elect, it is two or more above them and must give it up */
        hi[0] = (3 << 3) | 0; vote[0] = hi[0];
#endif
#ifdef BEHIND
        /* nodes 1 and 2 went through two elections node 0 never heard of */
        hi[1] = (2 << 3) | 1; vote[1] = hi[1]; hi[2] = hi[1]; vote[2] = hi[1];
#endif
        run node (0); run node (1); run node (2)
#ifdef FORGE
        ; run forger ()
#endif
    }
#ifdef PART
    /* The environment: split one node off, or all three apart; heal. */
end_env:
    do
    :: atomic { splits < SPLITS && comp[0] + comp[1] + comp[2] == 0 -> splits++;
        if
        :: comp[0] = 1
        :: comp[1] = 1
        :: comp[2] = 1
        :: comp[1] = 1; comp[2] = 2
        fi }
    :: atomic { comp[0] + comp[1] + comp[2] > 0 -> comp[0] = 0; comp[1] = 0; comp[2] = 0 }
    od
#endif
}

#ifdef LIVE
/* A coordinator, and every node holds its ballot (behind: caught up;
   ahead: given up). */
#define ALL_ONE (IS_COORD_ANY && hi[0] == hi[1] && hi[1] == hi[2])
ltl live { [] (stable -> <> ALL_ONE) }
#endif
