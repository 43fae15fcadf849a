/*  =========================================================================
    model.pml - the coordinator election and fencing rules of
    scheduler/election.c, for spin.  docs/ELECTION.md states the invariants;
    tests/election/model_check.sh runs the three checks below.

    Three nodes, terms bounded by MAXT.  Every node runs the same table as
    the C code: follower -> precandidate (lease lapsed, timer) -> candidate
    (pre-vote majority; term + 1 and self-vote persisted) -> coordinator
    (vote majority) -> follower (higher term, a winning heartbeat, stall).

    Abstractions (each one gives the environment MORE freedom than reality,
    so safety proved here holds for the real timings too):
      * time: a follower's lease may lapse at any moment, a coordinator may
        "stall" (SIGSTOP) at any moment, timers fire whenever enabled;
      * the network: any message may be lost; channels are FIFO per
        receiver (TCP per link is FIFO; merging links only adds orders);
      * crash: a node loses everything except (term, voted_for), which the
        C code persists before sending anything that depends on them.
      * the membership view is the node's connected component (SWIM's view
        once it settled); with PARTITIONS the environment splits and heals.

    Checks:
      safety   (-DSAFETY): assertions - never two coordinators in one term
               (fixed membership: every view is all nodes), and a fenced
               decision (an epoch below the node's newest) is never applied.
      fencing  (-DPARTITIONS): with partitions, coordinators of the same
               term may exist on different sides (see ELECTION.md, 4.2);
               fencing must still hold, and after the heal the terms merge.
      liveness (-DLIVE): ltl - once the component is stable (no more loss,
               crash or partition; randomised timers let one candidate run
               alone), a coordinator eventually exists.
    ========================================================================= */

#define N 3
#define MAXT 2
#define NONE 255

mtype = { HB, VREQ, VOTE, DEC };
#define FOLLOWER 0
#define PRECAND 1
#define CAND 2
#define COORD 3

#ifdef LIVE
#define CAP 3   /* no drops once stable: room for every answer of a round */
#else
#define CAP 1   /* a full channel drops (HWM), which is one more way to lose */
#endif
chan ch[N] = [CAP] of { mtype, byte, byte, bit, bit };   /* type, from, term, pre, granted */

byte term[N];          /* persisted */
byte voted[N];         /* persisted; NONE = no vote in term */
byte role[N];
bit  lease[N];         /* a live lease on a coordinator (follower) */
byte coord[N];         /* coordinator known for term[i], NONE if none */
/* With three nodes a majority of any electorate of two or three is one
   grant besides our own, so a round needs no tally: the first grant wins
   (an electorate of one - alone - wins at once). */
bit  up[N];
byte leader_of[MAXT + 1];   /* ghost: who won each term */
byte comp[N];          /* component label (partitions) */
bit  stable;           /* environment promises no more faults */
byte crashes;
byte splits;

#define SAME(i, j) (comp[i] == comp[j])
#define RUNNING(i) (up[i] && (role[i] == PRECAND || role[i] == CAND))
/* Once stable, randomised timers let one candidate run alone, and no
   timer fires while a coordinator is up (its heartbeats keep leases). */
#define TIMER_OK (!stable || (!RUNNING(0) && !RUNNING(1) && !RUNNING(2) && !IS_COORD_ANY))
#define IS_COORD_ANY (role[0] == COORD && up[0] || role[1] == COORD && up[1] || role[2] == COORD && up[2])

/* Non-blocking, lossy send (HWM full or loss: dropped), only within a component. */
inline send (to, mty, a, b, c, d) {
    if
    :: SAME(me, to) && up[to] && nfull(ch[to]) -> ch[to]!mty, a, b, c, d
    :: !stable -> skip       /* lost */
    :: !SAME(me, to) || !up[to] || full(ch[to]) -> skip   /* cut, down, or HWM: dropped */
    fi
}

inline size_of_comp () {
    k = 0; j = 0;
    do
    :: j < N -> if :: SAME(me, j) && up[j] -> k++ :: else -> skip fi; j++
    :: else -> break
    od
}

inline adopt (nt) {
    term[me] = nt; voted[me] = NONE; coord[me] = NONE; lease[me] = 0;
    role[me] = FOLLOWER
}

inline become_coord () {
#ifdef SAFETY
    assert (leader_of[term[me]] == NONE || leader_of[term[me]] == me);
#endif
    leader_of[term[me]] = me;
    role[me] = COORD; coord[me] = me
}

/* Locals back to zero after every step, so that states differing only in
   scratch values are one state (the search is then small enough for make check). */
#define RESET ty = 0; from = 0; t = 0; pre = 0; gr = 0; j = 0; k = 0

/* j := some other member not asked yet in this round (no no-op choice: a
   process that keeps picking itself would be "fair" and never progress). */
#define PICK_ANY if :: me != 0 -> j = 0 :: me != 1 -> j = 1 :: me != 2 -> j = 2 fi
#ifdef LIVE
#define OK_J(x) (x != me && (asked[me] & (1 << x)) == 0)
#else
#define OK_J(x) (x != me)
#endif
#define PICK if :: OK_J(0) -> j = 0 :: OK_J(1) -> j = 1 :: OK_J(2) -> j = 2 fi
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
            if
            :: t < term[me] -> send (from, VOTE, me, term[me], 0, 0)
            :: t > term[me] || (t == term[me] && !(role[me] == COORD && from < me)
                                && !(coord[me] != NONE && coord[me] != from && from < coord[me])) ->
                if :: t > term[me] -> adopt (t) :: else -> skip fi;
                role[me] = FOLLOWER; coord[me] = from; lease[me] = 1
            :: else -> skip   /* same term, lower rank: ignored */
            fi
        :: ty == VREQ && pre ->
            /* E_YIELD: a lower-ranked precandidate gives way (rank = id here) */
            if
            :: role[me] == PRECAND && t == term[me] + 1 && from > me -> role[me] = FOLLOWER
            :: else -> skip
            fi;
            if
            :: t > term[me] && !lease[me] && role[me] != COORD -> send (from, VOTE, me, t, 1, 1)
            :: else -> send (from, VOTE, me, term[me], 1, 0)
            fi
        :: ty == VREQ && !pre ->
            if
            :: t < term[me] || (role[me] != COORD && lease[me]) -> send (from, VOTE, me, term[me], 0, 0)
            :: else ->
                if :: t > term[me] -> adopt (t) :: else -> skip fi;
                if
                :: role[me] == FOLLOWER && (voted[me] == NONE || voted[me] == from) ->
                    voted[me] = from; send (from, VOTE, me, term[me], 0, 1)
                :: else -> send (from, VOTE, me, term[me], 0, 0)
                fi
            fi
        :: ty == VOTE && pre && gr ->
            if
            :: role[me] == PRECAND && t == term[me] + 1 ->
                /* campaign: term + 1 and self-vote persisted, then ask */
                term[me]++; voted[me] = me; role[me] = CAND; coord[me] = NONE; NEW_ROUND
            :: else -> skip
            fi
        :: ty == VOTE && !(pre && gr) && t > term[me] -> adopt (t)
        :: ty == VOTE && !pre && gr && t == term[me] && role[me] == CAND -> become_coord ()
        :: ty == DEC ->
            /* election_accept_decision, then election_observe_term */
            if
            :: t > term[me] || (t == term[me] && (coord[me] == NONE || coord[me] == from)) ->
                assert (t >= term[me]);   /* never older than the newest epoch seen */
                if :: t > term[me] -> adopt (t) :: else -> skip fi
            :: else -> skip   /* fenced */
            fi
        :: else -> skip
        fi; RESET }
    /* ---- timers ------------------------------------------------------ */
    :: atomic { up[me] && role[me] != COORD && !lease[me] && term[me] < MAXT && TIMER_OK ->
        /* election timer: pre-vote round for term + 1 */
        role[me] = PRECAND; coord[me] = NONE; NEW_ROUND;
        size_of_comp ();
        if
        :: k == 1 ->   /* alone (after alone_ms): campaign at once */
            term[me]++; voted[me] = me; role[me] = CAND;
            become_coord ()
        :: else -> skip   /* requests go out below, one member at a time */
        fi; RESET }
    :: atomic { up[me] && lease[me] && (!stable || !IS_COORD_ANY) -> lease[me] = 0 }   /* lease lapses */
    /* Sends to one member at a time: a broadcast with loss reaches any
       subset, and sending again what was sent is harmless (re-asking a
       voter gets the same answer; heartbeats and decisions repeat). */
    :: atomic { up[me] && role[me] == PRECAND && ASK_OK -> PICK; ASKED; send (j, VREQ, me, term[me] + 1, 1, 0); RESET }
    :: atomic { up[me] && role[me] == CAND && ASK_OK -> PICK; ASKED; send (j, VREQ, me, term[me], 0, 0); RESET }
    :: atomic { up[me] && role[me] == COORD -> PICK_ANY; send (j, HB, me, term[me], 0, 0); RESET }
    :: atomic { up[me] && role[me] == COORD -> PICK_ANY; send (j, DEC, me, term[me], 0, 0); RESET }
    :: atomic { up[me] && role[me] == COORD && !stable -> role[me] = FOLLOWER; coord[me] = NONE }  /* stall */
    /* ---- crash and restart from the persisted (term, voted) ----------- */
    :: atomic { up[me] && !stable && crashes < 1 ->
        crashes++; up[me] = 0; role[me] = FOLLOWER; lease[me] = 0; coord[me] = NONE;
        do :: ch[me]?ty, from, t, pre, gr :: empty(ch[me]) -> break od; RESET }
    :: atomic { !up[me] -> up[me] = 1 }
    od
}

init {
    byte i;
    atomic {
        i = 0;
        do
        :: i < N -> voted[i] = NONE; coord[i] = NONE; up[i] = 1; i++
        :: else -> break
        od;
        i = 0;
        do
        :: i <= MAXT -> leader_of[i] = NONE; i++
        :: else -> break
        od;
#ifdef LIVE
        stable = 1;   /* the liveness run: a stable component from the start */
#endif
        run node (0); run node (1); run node (2)
    }
#ifdef PARTITIONS
    /* The environment: split {2} off, or {0} off, then heal. */
    do
    :: atomic { splits < 2 && !stable -> splits++; if :: comp[2] = 1 :: comp[0] = 1 fi }
    :: atomic { comp[0] + comp[1] + comp[2] > 0 -> comp[0] = 0; comp[1] = 0; comp[2] = 0 }
    :: atomic { comp[0] + comp[1] + comp[2] == 0 -> stable = 1; break }
    od
#endif
}

#ifdef LIVE
ltl live { [] (stable -> <> (IS_COORD_ANY)) }
#endif
