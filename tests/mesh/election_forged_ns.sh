#!/usr/bin/env bash
#  election_forged_ns: a key holder (mw-inject on a 6th host of the bridge,
#  no agent: an outsider with the cluster key) forges coordinator-election
#  messages to every one of 5 namespaced agents: HEARTBEAT, VOTE_REQ (pre
#  and real) and VOTE, each with counters 2^64-1, 2^63 and the mesh's
#  highest + 1000, once as a random non-member id and once as a real
#  member (with that member's session and a seq inside the replay window,
#  so the envelope and replay checks pass and the election decides), each
#  signed with the injector's own node key (it cannot hold a member's).
#  Each injection must reach the election and be refused there as not its
#  sender's word (refused_unsigned: no key for a stranger, a signature
#  that fails under the member's key); then: a real member is coordinator within 10 s (its heartbeats
#  keep coming), the term grew by at most 2, no ballot of a forged id is
#  followed or logged.  Then every box is killed (-9) and started again on
#  its state dir: a new coordinator (a new ballot) within 10 s, the term
#  at most 2 above where it was, nothing absurd was persisted; and the
#  attack again, with the same checks.  Then the log checker.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init election_forged_ns 65
INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
[ -x "$INJECT" ] || tb_die "mw-inject not found at $INJECT (build tests/tools/mw-inject or set MW_INJECT)"
COORD_BOUND=${EL_FORGED_BOUND_S:-10}
#  Knobs for the long variant (tests/soak/election_forged.sh):
#  FORGE_AS_ALL=1 forges in the name of every member, the coordinator too
#  (each only once per target: its replay window); FORGE_STRANGER_COUNT=N
#  repeats the stranger's messages N times (a flood); FORGE_EXTRA_TERMS
#  adds counters to the three of the issue ("+2" means highest + 2).
FORGE_AS_ALL=${FORGE_AS_ALL:-0}
FORGE_STRANGER_COUNT=${FORGE_STRANGER_COUNT:-1}
FORGE_EXTRA_TERMS=${FORGE_EXTRA_TERMS:-}
sc_start_cluster ns 5
tb_host 6   #  the injector's host: on the bridge, no agent
# shellcheck disable=SC2086
el_tl_nodes $SC_NODES
# shellcheck disable=SC2086
sc_check "initial: all 5 name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
declare -A MEMBER=()
for i in $SC_NODES; do MEMBER[$(tb_id "$i")]=$i; done
#  A random id that is no member's.
stranger=""
while [ -z "$stranger" ] || [ -n "${MEMBER[$stranger]:-}" ]; do stranger=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n'); done

#  Highest term over the nodes, from the raw status text (jq reads numbers
#  as doubles: 2^64-1 would come back rounded).  A term of 16 digits or
#  more (no real mesh gets there) is printed as HUGE:<digits>, which every
#  comparison below treats as a failure.
max_term () {
    local i t m=0 huge=""
    for i in $SC_NODES; do
        t=$(tb_status "$i" | grep -o '"term":[0-9]*' | head -1 | cut -d: -f2)
        [ -n "$t" ] || continue
        if [ "${#t}" -ge 16 ]; then huge=$t; continue; fi
        [ "$t" -gt "$m" ] && m=$t
    done
    if [ -n "$huge" ]; then echo "HUGE:$huge"; else echo "$m"; fi
}
#  term_grew_ok FROM TO: TO is a number at most 2 above FROM.
term_grew_ok () { [[ $2 =~ ^[0-9]+$ ]] && [ $(( $2 - $1 )) -le 2 ] && [ "$2" -ge "$1" ]; }
#  Election counter C of node I (0 if absent).
ec () { tb_stat "$1" ".election.$2"; }
#  Every id named as coordinator or as a ballot's id in any status, and in
#  any coordinator_elected / step_down log line, is a member's.
no_forged_ballot () {
    local i ids
    for i in $SC_NODES; do
        ids=$(tb_status "$i" | jq -r '(.coordinator // empty), (.ballot.id // empty)' 2>/dev/null)
        for id in $ids; do [ -n "${MEMBER[$id]:-}" ] || { echo "      n$i names $id"; return 1; }; done
    done
    ! grep -h -E "event=(coordinator_elected|coordinator_lost|step_down)" "$TB_DIR"/n*/agent.log | grep -q "id=$stranger"
}

#  forge TARGET AS_NODE|- TERMS: every kind with every counter in TERMS
#  (comma list) to TARGET's mesh port, as member AS_NODE (its session and a
#  seq 32 ahead of what it has used: inside the target's 64-wide replay
#  window whatever it sent meanwhile) or, with "-", as the stranger.  The
#  injection must reach the election: every message is refused as not
#  its sender's word (refused_unsigned +4 per counter, x count), and none
#  reaches the ballot rules (absurd, unproven: a member's own signed word
#  would; scheduler/election.c's selftest covers those); one retry (a seq
#  the member used meanwhile is a replay).
FORGE_FAIL=0
forge () {
    local tgt=$1 as=$2 terms=$3 try out args
    local nm0 ab0 un0 us0 nm ab un us
    #  What the messages earn: every kind (4) per counter; a counter above
    #  2^40 (14 digits or more, or 13 and above 1099511627776) is absurd.
    local t n_abs=0 n_far=0 cnt=1
    for t in ${terms//,/ }; do
        if [ "${#t}" -ge 14 ] || { [ "${#t}" -eq 13 ] && [ "$t" -gt 1099511627776 ]; }; then n_abs=$(( n_abs + 4 )); else n_far=$(( n_far + 4 )); fi
    done
    [ "$as" = - ] && cnt=$FORGE_STRANGER_COUNT
    for try in 1 2; do
        nm0=$(ec "$tgt" refused_nonmember); ab0=$(ec "$tgt" refused_absurd); un0=$(ec "$tgt" refused_unproven)
        us0=$(ec "$tgt" refused_unsigned)
        args=(--to "tcp://$(tb_ip "$tgt"):7946" --to-id "$(tb_id "$tgt")" --key "$TB_KEY" --term "$terms" --count "$cnt")
        if [ "$as" = - ]; then
            args+=(--sender "$stranger")
        else
            local st; st=$(tb_status "$as") || continue
            local sess seq
            sess=$(jq -r .session <<<"$st"); seq=$(jq -r '.stats.msgs_out + .stats.send_dropped + .stats.beacons_out + 32' <<<"$st")
            args+=(--sender "$(tb_id "$as")" --session "$sess" --seq "$seq")
        fi
        out=$(tb_exec 6 timeout 20 "$INJECT" "${args[@]}" forge-all 2>&1) || { echo "FAIL  mw-inject: $out"; FORGE_FAIL=1; return 1; }
        _reached () {
            nm=$(ec "$tgt" refused_nonmember); ab=$(ec "$tgt" refused_absurd); un=$(ec "$tgt" refused_unproven)
            us=$(ec "$tgt" refused_unsigned)
            [ $(( us - us0 )) -ge $(( (n_abs + n_far) * cnt )) ]
        }
        if tb_wait_until 3 _reached; then
            echo "      n$tgt <- $([ "$as" = - ] && echo "stranger $stranger" || echo "member n$as") [$out]: refused unsigned +$(( us - us0 )) (non-member +$(( nm - nm0 )), absurd +$(( ab - ab0 )), unproven +$(( un - un0 )))"
            #  (Only forged counters are absurd: real traffic never moves it.)
            [ $(( ab - ab0 )) = 0 ] && return 0
            echo "      n$tgt: a forged counter reached the ballot rules"; FORGE_FAIL=1; return 1
        fi
        echo "      n$tgt <- ${as/-/stranger}: try $try was not refused as unsigned (unsigned +$(( us - us0 )), non-member +$(( nm - nm0 )), absurd +$(( ab - ab0 )), unproven +$(( un - un0 )))"
    done
    FORGE_FAIL=1; return 1
}

#  attack LABEL: the whole matrix, then the checks.
attack () {
    local label=$1 c0 t0 hi ta i as
    # shellcheck disable=SC2086
    el_agreed $SC_NODES || tb_wait_until 10 el_agreed $SC_NODES
    c0=$EL_COORD; t0=$(max_term)
    [[ $t0 =~ ^[0-9]+$ ]] || { echo "FAIL  $label: term before the attack is $t0"; SC_RESULT=1; return 1; }
    hi=$t0
    local m; m=$(for i in $SC_NODES; do [ "$(tb_id "$i")" != "$c0" ] && echo "$i" && break; done)
    [ "$FORGE_AS_ALL" = 1 ] && m=$SC_NODES
    local terms="18446744073709551615,9223372036854775808,$(( hi + 1000 ))" x
    for x in $FORGE_EXTRA_TERMS; do [ "$x" = +2 ] && x=$(( hi + 2 )); terms="$terms,$x"; done
    echo "---- $label: coordinator n${MEMBER[$c0]} ($c0) term $t0; forging as stranger $stranger and as member(s) n${m// / n}; counters $terms"
    el_tl attack "$label"
    FORGE_FAIL=0
    local ta0 injections=0; ta0=$(tb_now_ms)
    for i in $SC_NODES; do
        for as in - $m; do
            [ "$as" = "$i" ] && continue   #  a node ignores messages in its own name
            forge "$i" "$as" "$terms"; injections=$(( injections + 1 ))
        done
    done
    [ "$FORGE_FAIL" = 0 ] && echo "PASS  $label: all $injections injections (4 kinds x each counter) reached the election on their target and were refused as not their sender's word" ||
        { echo "FAIL  $label: an injection was not refused as unsigned"; SC_RESULT=1; }
    #  A real member coordinates: all agree on a member, and every follower
    #  still gets its heartbeats (counted after the attack, not before).
    declare -A hb0=()
    for i in $SC_NODES; do hb0[$i]=$(ec "$i" heartbeats_in); done
    _coordinated () {
        # shellcheck disable=SC2086
        el_agreed $SC_NODES && [ -n "${MEMBER[$EL_COORD]:-}" ] || return 1
        local j; for j in $SC_NODES; do
            [ "$(tb_id "$j")" = "$EL_COORD" ] && continue
            [ $(( $(ec "$j" heartbeats_in) - ${hb0[$j]} )) -ge 3 ] || return 1
        done
    }
    sc_check "$label: a real member coordinates (all agree, heartbeats flowing)" "$COORD_BOUND" 30 _coordinated
    [ "$EL_COORD" = "$c0" ] && echo "PASS  $label: the coordinator did not even change (n${MEMBER[$c0]})" ||
        { echo "FAIL  $label: coordinator changed $c0 -> $EL_COORD"; SC_RESULT=1; }
    ta=$(max_term)
    term_grew_ok "$t0" "$ta" && echo "PASS  $label: term $t0 -> $ta (grew by $(( ta - t0 )), at most 2)" ||
        { echo "FAIL  $label: term $t0 -> $ta"; SC_RESULT=1; }
    if no_forged_ballot; then echo "PASS  $label: no ballot of a forged id named in any status or log"
    else echo "FAIL  $label: a forged ballot was followed"; SC_RESULT=1; fi
    echo "      the attack and its checks took $(tb_secs $(( $(tb_now_ms) - ta0 ))) s"
}

attack "attack 1"
tbefore=$(max_term)
[[ $tbefore =~ ^[0-9]+$ ]] || { echo "FAIL  term after the attack is $tbefore"; SC_RESULT=1; sc_finish $SC_NODES; }

echo "---- restart every box (kill -9, same state dirs)"
for i in $SC_NODES; do el_tl kill "$i"; tb_kill9 "$i"; done
for i in $SC_NODES; do el_tl restart "$i"; tb_restart_agent "$i"; done
tb_wait_until 30 tb_last_line_ms agent_started $SC_NODES >/dev/null || { echo "FAIL  agents did not start again"; SC_RESULT=1; sc_finish $SC_NODES; }
#  A NEW ballot (the restarted processes hold the old term and no
#  coordinator until one is elected: a higher term is the real condition).
_reelected () {
    # shellcheck disable=SC2086
    el_agreed $SC_NODES && [ -n "${MEMBER[$EL_COORD]:-}" ] && [ "$EL_TERM" -gt "$tbefore" ]
}
tr0=$(tb_last_line_ms agent_started $SC_NODES)
if tb_wait_until 40 _reelected; then
    # shellcheck disable=SC2086
    took=$(el_log_named "$EL_TERM" "$tr0" $SC_NODES)
    [ -n "$took" ] || took=$(( $(tb_now_ms) - tr0 ))
    #  Start-up: SWIM must find the others (beacons) and the view settle.
    if [ "$took" -le $(( COORD_BOUND * 1000 )) ]; then echo "PASS  restart: real member n${MEMBER[$EL_COORD]} coordinator of new term $EL_TERM, $took ms after the last box started (bound ${COORD_BOUND} s)"
    else echo "FAIL  restart: coordinator after $took ms > ${COORD_BOUND} s"; SC_RESULT=1; fi
else
    echo "FAIL  restart: no coordinator with a new term within 40 s"; SC_RESULT=1
fi
tr=$(max_term)
term_grew_ok "$tbefore" "$tr" && echo "PASS  restart: term $tbefore -> $tr (at most 2 up: nothing forged was persisted)" ||
    { echo "FAIL  restart: term $tbefore -> $tr"; SC_RESULT=1; }
if grep -h "event=election_state_reset" "$TB_DIR"/n*/agent.log; then echo "FAIL  an absurd ballot had been persisted"; SC_RESULT=1
else echo "PASS  no box found an absurd ballot on disk"; fi

attack "attack 2 (after the restart)"
el_check_logs
# shellcheck disable=SC2086
sc_finish $SC_NODES
