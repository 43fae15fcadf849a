/*  =========================================================================
    model.pml - the coordinator election and fencing rules of
    scheduler/election.c, for spin.  docs/ELECTION.md states the invariants;
    tests/election/model_check.sh runs the two checks below.

    Three nodes.  The term is a ballot (counter, rank, id), encoded in one
    byte as counter << 3 | rank << 2 | id, so that the lexicographic order
    of the C code is the integer order here.  Counters are bounded by MAXT.
    Every node runs the same table as the C code: follower -> (pre-vote)
    -> candidate (ballot (counter + 1, rank, me) and self-vote persisted)
    -> coordinator (vote majority of its electorate) -> follower (higher
    ballot, stall).

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
        election_accept_decision would).

    Checks (tests/election/model_check.sh):
      safety   (-DSAFETY, exhaustive), asserting
                 B1 no ballot is won twice (across crashes);
                 S3 two winners of one counter never had the same
                    electorate: within one view, one coordinator per
                    counter (across views they may share it; the ballots
                    still differ);
                 S4 the highest ballot a node has seen never goes down, and
                    a heartbeat/decision below it is refused (fenced), so
                    the ballots a node applies never go down;
               run twice: -DPART (partitions, loss, lease lapse) and
               -DCRASH (crash/restart, stalls, loss, lease lapse).
      liveness (-DLIVE): ltl - once the component is stable (no more loss,
               crash or partition; randomised timers let one candidate run
               alone), a coordinator eventually exists.
    ========================================================================= */

#define N 3
#define MAXT 2
#define NB 24          /* ballots: counter 0..MAXT, times 8 */
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

#define SAME(i, j) (comp[i] == comp[j])
#define RUNNING(i) (up[i] && (role[i] == PRECAND || role[i] == CAND))
/* Once stable, randomised timers let one candidate run alone, and no
   timer fires while a coordinator is up (its heartbeats keep leases). */
#define TIMER_OK (!stable || (!RUNNING(0) && !RUNNING(1) && !RUNNING(2) && !IS_COORD_ANY))
#define IS_COORD_ANY (role[0] == COORD && up[0] || role[1] == COORD && up[1] || role[2] == COORD && up[2])

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
    assert (nb > hi[me]);   /* S4: the highest ballot never goes down */
#endif
    hi[me] = nb; lease[me] = 0; role[me] = FOLLOWER; eltor[me] = 0
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

/* Candidacy: ballot (counter + 1, rank, me), self-vote, both persisted. */
inline campaign () {
    t = ((CTR(hi[me]) + 1) << 3) | me;
    hi[me] = t; vote[me] = t; role[me] = CAND; lease[me] = 0;
    electorate ();
    NEW_ROUND;
    if
    :: k == 1 -> become_coord ()   /* alone: an electorate of one */
    :: else -> skip                /* requests go out below, one member at a time */
    fi
}

/* One vote per counter, never below the highest ballot seen. */
#define MAY_GRANT(b) ((b) >= hi[me] && (vote[me] == 0 || CTR(b) > CTR(vote[me]) || (b) == vote[me]))

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
proctype node (byte me)
{
    mtype ty; byte from, t; bit pre, gr;
    byte j, k;
end:
    do
    /* ---- receive --------------------------------------------------- */
    :: atomic { up[me] && nempty(ch[me]) -> ch[me]?ty, from, t, pre, gr;
        if
        :: ty == HB ->
            /* A heartbeat stands for every decision of its coordinator: it
               carries the same ballot, and is accepted (applied) exactly when
               election_accept_decision would accept a decision. */
            if
            :: t < hi[me] -> send (from, VOTE, me, hi[me], 0, 0)   /* fenced; it steps down on this */
            :: else ->
                if :: t > hi[me] -> adopt (t) :: else -> skip fi;
                role[me] = FOLLOWER; lease[me] = 1; eltor[me] = 0
            fi
#ifdef LIVE
        :: ty == VREQ && pre ->
            /* E_YIELD: a lower-ranked precandidate gives way (rank = id here) */
            if
            :: role[me] == PRECAND && CTR(t) == CTR(hi[me]) + 1 && from > me -> role[me] = FOLLOWER; eltor[me] = 0
            :: else -> skip
            fi;
            if
            :: CTR(t) > CTR(hi[me]) && MAY_GRANT(t) && !lease[me] && role[me] != COORD ->
                send (from, VOTE, me, t, 1, 1)
            :: else -> send (from, VOTE, me, hi[me], 1, 0)
            fi
        :: ty == VOTE && pre && gr ->
            if
            :: role[me] == PRECAND && CTR(t) == CTR(hi[me]) + 1 && CTR(t) <= MAXT -> campaign ()
            :: else -> skip
            fi
#endif
        :: ty == VREQ && !pre ->
            if
            :: t < hi[me] || (role[me] != COORD && lease[me]) || !MAY_GRANT(t) ->
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
        :: ty == VOTE && !(pre && gr) && t > hi[me] -> adopt (t)
        :: ty == VOTE && !pre && gr && t == hi[me] && role[me] == CAND && (eltor[me] & (1 << from)) ->
            become_coord ()   /* a grant from my electorate: with three, a majority */
        :: else -> skip
        fi; RESET }
    /* ---- timers ------------------------------------------------------ */
    :: atomic { up[me] && role[me] != COORD && !lease[me] && CTR(hi[me]) < MAXT && TIMER_OK ->
#ifdef LIVE
        /* election timer: pre-vote round for counter + 1 */
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
    :: atomic { up[me] && lease[me] && (!stable || !IS_COORD_ANY) -> lease[me] = 0 }   /* lease lapses */
    /* Sends to one member at a time: a broadcast with loss reaches any
       subset, and sending again what was sent is harmless (re-asking a
       voter gets the same answer; heartbeats and decisions repeat). */
#ifdef LIVE
    :: atomic { up[me] && role[me] == PRECAND && ASK_OK -> PICK; ASKED;
        send (j, VREQ, me, ((CTR(hi[me]) + 1) << 3) | me, 1, 0); RESET }
#endif
    :: atomic { up[me] && role[me] == CAND && ASK_OK -> PICK; ASKED; send (j, VREQ, me, hi[me], 0, 0); RESET }
    :: atomic { up[me] && role[me] == COORD -> PICK_ANY; send (j, HB, me, hi[me], 0, 0); RESET }
    :: atomic { up[me] && role[me] == COORD && !stable && STALL -> role[me] = FOLLOWER }  /* stall */
    /* ---- crash and restart from the persisted (ballot, vote) ---------- */
#ifdef CRASH
    :: atomic { up[me] && !stable && crashes < 1 ->
        crashes++; up[me] = 0; role[me] = FOLLOWER; lease[me] = 0; eltor[me] = 0;
        do :: ch[me]?ty, from, t, pre, gr :: empty(ch[me]) -> break od; RESET }
    :: atomic { !up[me] -> up[me] = 1 }
#endif
    od
}

init {
    atomic {
        up[0] = 1; up[1] = 1; up[2] = 1;
#ifdef LIVE
        stable = 1;   /* the liveness run: a stable component from the start */
#endif
        run node (0); run node (1); run node (2)
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
ltl live { [] (stable -> <> (IS_COORD_ANY)) }
#endif
