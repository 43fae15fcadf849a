/*  =========================================================================
    election - who coordinates the mesh: terms, leases, pre-vote, fencing.

    Any box may coordinate.  The rules live here as pure code: this module
    owns no socket, reads no clock and draws no randomness of its own.  The
    daemon hands it the current time, the membership view (who SWIM holds
    alive or suspect) and the election messages it received; the module
    answers through three callbacks: `persist` (ballot and vote must be on
    disk before anything that depends on them leaves), `send` (one message
    for one member) and `event` (elected / lost / stepped down).  The
    simulator in the selftest, the Promela model and the daemon all follow
    the same table (docs/ELECTION.md states the invariants).

    In short:
      * the term is a BALLOT (counter, rank, id): a candidacy takes the
        counter above the highest it has seen, freezes its rank and adds
        its own id, so two different candidates never share a term, on
        one side of a partition or on two (ordered lexicographically:
        counter, then rank, then id);
      * a coordinator sends HEARTBEAT(ballot, lease_ms) to every member of
        its view every heartbeat interval; a follower that hears it holds
        the lease for lease_ms and will not help anyone else get elected;
      * a follower whose lease lapsed waits a randomised timeout, then asks
        "would you vote for ballot (counter+1, rank, me)?" (pre-vote, no
        state changes); only with a majority of its view saying yes does
        it take that ballot, persist it with its own vote, and ask for
        real votes;
      * a node votes at most once per counter (persisted before the answer
        leaves), and never for a ballot below the highest it has seen; a
        majority of the candidate's view (alive + suspect, itself
        included) makes it coordinator;
      * any message with a higher ballot turns a coordinator or candidate
        back into a follower, so of two coordinators that meet the higher
        ballot stays and the other steps down;
      * every decision carries the coordinator's ballot; election_accept_
        decision () refuses any below the highest ballot seen;
      * nobody outside the view is heard, and nobody inside it can move
        the term alone: a ballot is adopted on one member's word only if
        it is at most one counter above ours; further up it needs the
        word of a majority of the view (their highest ballots, as their
        heartbeats and refusals report them).  A member's word is a
        message signed with its node key (msg->verified): one key holder
        cannot speak for the others, so it cannot fake that majority;  Counters above
        ELECTION_TERM_MAX are absurd and never adopted, persisted or taken;
      * a node whose ballot a majority of its electorate does not hold
        (two or more counters below it) gives it up: a coordinator steps
        down, a node without a coordinator goes back to the majority's
        ballot (it keeps its vote, so it never votes twice in a counter).
    ========================================================================= */
#ifndef SCHEDULER_ELECTION_H_INCLUDED
#define SCHEDULER_ELECTION_H_INCLUDED

#include "common/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _election_t election_t;

//  Counters above this are absurd: no real mesh gets there (an election
//  every 400 ms for 10,000 years is 2^40), so a ballot above it is only
//  ever forged or corrupt.  It is never adopted, persisted or taken, and
//  no arithmetic on counters can wrap: a node whose counter reached it can
//  no longer stand (it still follows and votes).
#define ELECTION_TERM_MAX (1ull << 40)
//  Where an absurd persisted counter is reset to (election_state_validate):
//  a fresh range no real mesh has used, so that boxes whose state was
//  burnt never take a ballot they held before; a box reset alone gives it
//  up for its mesh's real ballot at its first pre-vote round.
#define ELECTION_TERM_RESET (ELECTION_TERM_MAX >> 1)
//  The highest rank a real candidate can have (COORDINATOR_PRIORITY 1000,
//  headroom bucket 10); a ballot ranked above it is absurd too.
#define ELECTION_RANK_MAX (1000u * 11u + 10u)

//  A ballot: the term of one candidacy, unique by construction (a node
//  never takes a counter it has seen, and the id is the candidate's).
//  The counter is what logs, status and metrics call "term".
typedef struct {
    uint64_t n;      //  counter
    uint32_t rank;   //  the candidate's rank when its candidacy started (frozen)
    mw_id_t id;      //  the candidate
} election_ballot_t;

//  The election's own messages.  The daemon translates them to and from
//  the wire (node/msgmap.c); the simulator (sim/netsim.h) passes them as
//  they are.  Which fields a type carries:
//    HEARTBEAT  term, rank (the ballot's id is the sender), lease_ms (0 = resign)
//    VOTE_REQ   term, rank (the ballot asked for: its id is the sender), pre
//    VOTE       term, rank, ballot (the ballot answered), pre, granted,
//               coordinator (the one the voter follows; zero = none)
typedef enum {
    ELECTION_MSG_HEARTBEAT = 1,   //  coordinator -> members: "I hold ballot B, lease L"
    ELECTION_MSG_VOTE_REQ = 2,    //  candidate -> members: (pre-)vote for ballot B?
    ELECTION_MSG_VOTE = 3,        //  answer to VOTE_REQ, or to a stale HEARTBEAT
} election_msg_type_t;

typedef struct {
    uint8_t type;          //  election_msg_type_t
    mw_id_t sender;        //  set by whoever delivers it (authenticated); ignored on send
    uint64_t term;         //  the ballot's counter
    uint32_t rank;         //  the ballot's rank
    uint32_t lease_ms;     //  HEARTBEAT
    bool pre;              //  VOTE_REQ, VOTE: a pre-vote
    bool granted;          //  VOTE
    mw_id_t coordinator;   //  VOTE
    mw_id_t ballot;        //  VOTE: the id of the ballot answered
    //  Witnesses (docs/ELECTION.md section 3): HEARTBEAT: the coordinator's
    //  witness count when the receiver is one of them (its lease_ms is the
    //  short lease), 0 when it is not (lease_ms is the long one).
    //  VOTE_REQ: the candidate stands as a witness.  VOTE: the voter is a
    //  witness that holds no lease itself (it lost the coordinator on its
    //  own knowledge); false: anyone else (a member on the long lease that
    //  defers, or whose long lease lapsed).
    uint8_t witnesses;
    bool witness;
    bool lapsed;
    //  Set by whoever delivers it: the sender's node-key signature over the
    //  message (for us, its header, its ballot) verified under the key of
    //  the member it names (gossip/sign.h; the daemon checks it against the
    //  member's record).  An unverified message is not heard at all, so
    //  every report the majority rules count is that member's own word:
    //  one key holder is one voice, whatever ids it writes.  Ignored on send.
    bool verified;
} election_msg_t;

//  Lexicographic order (n, rank, id): <0, 0, >0.
int election_ballot_cmp (const election_ballot_t *a, const election_ballot_t *b);

typedef enum {
    ELECTION_FOLLOWER = 0,
    ELECTION_PRECANDIDATE,   //  lease lapsed; asking for pre-votes
    ELECTION_CANDIDATE,      //  holds a new ballot; asking for votes
    ELECTION_COORDINATOR,
    ELECTION_ROLE_COUNT
} election_role_t;

typedef struct {
    uint32_t heartbeat_ms;   //  HEARTBEAT_INTERVAL_MS
    uint32_t timeout_ms;     //  ELECTION_TIMEOUT_MS: the lease; timers are randomised in [T, 1.5 T]
    uint32_t priority;       //  COORDINATOR_PRIORITY, 0..1000 (higher = preferred)
    uint32_t settle_ms;      //  view size must be unchanged this long before a candidacy
    uint32_t alone_ms;       //  ... and this long when the view holds only ourselves
    //  Witnesses: the coordinator heartbeats this many members (a rotating
    //  set) every heartbeat_ms with the short lease (timeout_ms), and the
    //  others every follow_ms with a long one (3 x follow_ms + timeout_ms);
    //  0 = every member is a witness (heartbeats to all every heartbeat_ms).
    uint32_t witnesses;   //  ELECTION_WITNESSES
    uint32_t follow_ms;   //  ELECTION_FOLLOW_MS: heartbeat period to the others
    uint32_t rotate_ms;   //  a witness set serves this long, then the next one
} election_cfg_t;

void election_cfg_defaults (election_cfg_t *cfg);

typedef enum {
    ELECTION_EV_ELECTED = 1,   //  a new coordinator ballot is known (us or another)
    ELECTION_EV_LOST,          //  our lease on the coordinator lapsed; its ballot
    ELECTION_EV_STEP_DOWN,     //  we stopped being coordinator; the ballot we held, reason
} election_event_t;

//  Persist the highest ballot seen and the last vote durably, both in one
//  transaction; 0 on success, -1 on failure (the module then does not send
//  what depended on it).  `vote` is NULL when the node never voted; its
//  counter may be below `highest`'s (one vote per counter: the last one
//  is all that must be kept).
typedef int (election_persist_fn) (void *ctx, const election_ballot_t *highest,
                                   const election_ballot_t *vote);
//  One election message (sender left zero) for member `to`.  Must not block.
typedef void (election_send_fn) (void *ctx, const mw_id_t *to, const election_msg_t *msg);
//  `ballot` is the coordinator's (ELECTED, LOST) or the one we held
//  (STEP_DOWN); its id is that coordinator.  `reason` is a short word for
//  STEP_DOWN ("higher_term", "stall", ...), else "".
typedef void (election_event_fn) (void *ctx, election_event_t ev, const election_ballot_t *ballot,
                                  const char *reason);

//  Validate a persisted (highest, vote) before election_new (): a highest
//  counter above ELECTION_TERM_MAX is reset to ELECTION_TERM_RESET (rank 0,
//  no id), a vote with one is dropped (no real ballot will ever have that
//  counter), a rank above ELECTION_RANK_MAX is bounded.  The rest of the
//  mesh's real ballots then win again (a reset node gives its ballot up
//  for theirs at its first pre-vote round; a mesh reset everywhere elects
//  in the fresh range).  Returns a bit set of what was changed (0:
//  nothing) for the caller to log: ELECTION_FIX_HIGHEST, ELECTION_FIX_VOTE.
//  *voted may become false.
#define ELECTION_FIX_HIGHEST 1
#define ELECTION_FIX_VOTE    2
int election_state_validate (election_ballot_t *highest, election_ballot_t *vote, bool *voted);

//  `highest`/`vote` are what was persisted (NULL / NULL on first boot);
//  they are validated again here (election_state_validate).
//  `seed` drives the timeout randomisation (same seed + inputs = same run).
election_t *election_new (const election_cfg_t *cfg, const mw_id_t *self_id, const election_ballot_t *highest,
                          const election_ballot_t *vote, uint64_t seed, uint64_t now_ms,
                          election_persist_fn *persist, election_send_fn *send, election_event_fn *event,
                          void *ctx);
void election_destroy (election_t **self_p);

//  The membership view: ids SWIM holds alive or suspect, ourselves included
//  or not (we always count).  Copied.
void election_set_view (election_t *self, const mw_id_t *ids, size_t n, uint64_t now_ms);
//  Forecast headroom in percent (0..100); moves our rank only when it
//  leaves its band for long enough (hysteresis: a load spike never counts).
void election_set_headroom (election_t *self, uint32_t pct, uint64_t now_ms);

//  Drive timers: heartbeats, lease lapse, election rounds.
void election_tick (election_t *self, uint64_t now_ms);
//  Earliest time tick () has work.
uint64_t election_next_wakeup (election_t *self, uint64_t now_ms);
//  A received HEARTBEAT / VOTE_REQ / VOTE (other types are ignored).  Only
//  messages whose signature verified (msg->verified) from members of the
//  current view (election_set_view) count: a forged sender id is refused
//  (refused_unsigned) before any rule reads it.
void election_handle (election_t *self, const election_msg_t *msg, uint64_t now_ms);
//  Graceful leave: a coordinator steps down (reason "leave").
void election_leave (election_t *self, uint64_t now_ms);

//  Fencing.  True if a decision stamped with `ballot` may be applied: it
//  is not below the highest ballot this node has seen (equal = the same
//  coordinator), and not so far above it that it needs proof (two or more
//  counters, or absurd).  Pure.  After applying one above
//  election_ballot (), call election_observe_ballot () so that an older
//  one arriving later is refused.
bool election_accept_decision (const election_t *self, const election_ballot_t *ballot);
//  A ballot seen outside the election messages (a decision): adopted (and
//  persisted) if higher and acceptable as above; a coordinator or
//  candidate then steps back.  0.
int election_observe_ballot (election_t *self, const election_ballot_t *ballot, uint64_t now_ms);

//  Read-only state.
election_role_t election_role (const election_t *self);
const char *election_role_name (election_role_t role);   //  "follower", ...
//  The counter of the highest ballot seen ("term").
uint64_t election_term (const election_t *self);
//  The highest ballot seen (the coordinator's, while one is followed).
void election_ballot (const election_t *self, election_ballot_t *out);
bool election_is_coordinator (const election_t *self);
//  Coordinator we follow (or are); false if none is known right now.
bool election_coordinator (const election_t *self, mw_id_t *id);
//  Milliseconds since the lease was last renewed (heartbeat heard or sent);
//  UINT64_MAX if never.
uint64_t election_lease_age (const election_t *self, uint64_t now_ms);
uint32_t election_rank (const election_t *self);
//  Follower: the witness count of the last heartbeat it followed (0: not
//  a witness; it holds the long lease).  Coordinator, or nobody followed: 0.
uint32_t election_witness_count (const election_t *self);
//  Counters: heartbeats sent/received, elections started, ...
//  refused_*: election messages not acted on because their signature did
//  not verify, the sender (or the ballot's id) is not in the view, the
//  ballot is absurd, or it is two or more counters above ours without a
//  majority's word; caught_up: such a ballot adopted on a majority's word;
//  renounced: our ballot given up for the majority's.
typedef struct {
    uint64_t heartbeats_out, heartbeats_in, prevotes_started, elections_started, elections_won, step_downs,
        votes_granted, stale_ignored;
    uint64_t refused_nonmember, refused_absurd, refused_unproven, caught_up, renounced;
    uint64_t refused_unsigned;
    uint64_t prevote_retries;                     //  early pre-vote rounds after a refusal on our own ballot
    uint64_t heartbeats_short, heartbeats_long;   //  sent to witnesses / to the others
    uint64_t witness_vetoes;   //  pre-vote rounds with a view majority but no witness majority
} election_stats_t;
void election_stats (const election_t *self, election_stats_t *out);

int election_test (bool verbose);

#endif
