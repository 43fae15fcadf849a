#!/usr/bin/env bash
#  loss30_ns (issue 17): 30 % random inbound loss on every box (nftables in
#  every namespace) for 60 s, N = 20 (5 rotating witnesses: docs/ELECTION.md
#  section 3): no member is ever declared dead and
#  the coordinator never changes.  Proof the loss was applied: every box's
#  rule is listed right after `nft` said ok, and its counter has dropped
#  packets (about PCT % of what arrived); printed per box.
#  Checks, all over the loss phase:
#    * no member_dead line in any agent log, and no view (polled every 2 s)
#      lists a member dead, left or missing;
#    * every status (polled every 2 s) names the first coordinator and term,
#      and no agent logged coordinator_elected or step_down;
#    * loss cleared -> every view lists all N alive.
#  TB_LOSS_PCT, TB_LOSS_SECS, TB_N change it (tests/soak/loss30.sh: 10
#  minutes at N = 5 and N = 20).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
PCT=${TB_LOSS_PCT:-30}
SECS=${TB_LOSS_SECS:-60}
N=${TB_N:-20}
tb_hard_timeout $(( SECS + 180 + N * 6 )) "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init loss30_ns "${LOSS30_NETID:-45}"
echo "CHECK: $PCT % loss on every box for $SECS s, N = $N -> no false death, the coordinator never changes"
sc_start_cluster ns "$N"
# shellcheck disable=SC2086
tb__ids_json $SC_NODES; ids=$TB_IDJ
# shellcheck disable=SC2086
sc_check "initial: all $N name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
coord=$EL_COORD; term=$EL_TERM
echo "---- $PCT % loss on every box for $SECS s; coordinator $coord term $term"
tb_loss_all "$PCT"
#  A rule with a syntax error would be silently absent: it must be listed.
for i in $SC_NODES; do
    [ -n "$(tb_loss_dropped "$i")" ] || { echo "FAIL  n$i: loss rule not listed after nft said ok"; SC_RESULT=1; sc_finish $SC_NODES; }
done
t0=$(tb_now_ms); end=$(( t0 + SECS * 1000 ))
polls=0; bad_view=0; bad_coord=0; errors=0
while [ "$(tb_now_ms)" -lt "$end" ] && [ "$polls" -lt $(( SECS )) ]; do
    tick=$(tb_now_ms)
    # shellcheck disable=SC2086
    tb_fetch_views $SC_NODES
    for i in $SC_NODES; do
        if [ ! -s "$TB_DIR/view.$i" ]; then errors=$(( errors + 1 )); continue; fi
        r=$(jq -r --argjson ids "$ids" '
            [.[] | select(.id as $x | $ids | index($x))] as $m
            | "\([$m[] | select(.state == "dead" or .state == "left") | .name] | join(","))|\($m | length)"' \
            "$TB_DIR/view.$i")
        dead=${r%%|*}; cnt=${r#*|}
        if [ -n "$dead" ] || [ "$cnt" != "$N" ]; then
            bad_view=$(( bad_view + 1 ))
            echo "  t=$(tb_secs $(( tick - t0 ))) n$i: dead/left=[$dead] listed=$cnt/$N"
        fi
        s=$(el_state "$i") || { errors=$(( errors + 1 )); continue; }
        read -r c _ t <<<"$s"
        if { [ "$c" != "$coord" ] && [ "$c" != none ]; } || [ "$t" != "$term" ]; then
            bad_coord=$(( bad_coord + 1 )); echo "  t=$(tb_secs $(( tick - t0 ))) n$i: coordinator=$c term=$t"
        fi
    done
    polls=$(( polls + 1 ))
    left=$(( tick + 2000 - $(tb_now_ms) ))
    [ "$left" -gt 0 ] && sleep "$(tb_secs "$left")"
done
t1=$(tb_now_ms)
#  The loss was applied: every rule dropped packets, about PCT % of all.
nodrop=0; drops=""
for i in $SC_NODES; do
    d=$(tb_loss_dropped "$i"); drops="$drops n$i=${d:-none}"
    [ -n "$d" ] && [ "$d" -gt 0 ] || nodrop=$(( nodrop + 1 ))
done
tb_loss_clear
echo "loss phase: $(tb_secs $(( t1 - t0 ))) s, $polls polls, CLI errors=$errors"
echo "packets dropped by the loss rules:$drops"
[ "$nodrop" = 0 ] && echo "PASS  every box's loss rule dropped packets" ||
    { echo "FAIL  $nodrop boxes' loss rules dropped nothing (loss not applied)"; SC_RESULT=1; }
sus=$(cat "$TB_DIR"/n*/agent.log 2>/dev/null | grep -c "event=member_suspect" || true)
lost=$(cat "$TB_DIR"/n*/agent.log 2>/dev/null | grep -c "event=coordinator_lost" || true)
echo "info  member_suspect lines (refuted): $sus; coordinator_lost lines (a follower's lease lapsed): $lost"
[ "$bad_view" = 0 ] && echo "PASS  no view listed a member dead/left/missing" ||
    { echo "FAIL  $bad_view views listed a member dead/left/missing"; SC_RESULT=1; }
if ev=$(tb_dead_events "$t0" "$t1"); then echo "PASS  no member_dead in any agent log during the loss phase"
else echo "FAIL  member_dead logged (false deaths):"; echo "$ev" | head -20; SC_RESULT=1; fi
[ "$bad_coord" = 0 ] && echo "PASS  every status named coordinator $coord, term $term" ||
    { echo "FAIL  $bad_coord statuses named another coordinator or term"; SC_RESULT=1; }
ev=$(tb_events_between "$t0" "$t1" coordinator_elected,step_down); changes=$(printf '%s' "$ev" | grep -c . || true)
[ -n "$ev" ] && echo "$ev" | sed 's/^/      /'
[ "$changes" = 0 ] && echo "PASS  no coordinator_elected / step_down during the loss phase" ||
    { echo "FAIL  $changes role changes logged"; SC_RESULT=1; }
[ "$errors" -le $(( N / 2 + 2 )) ] || { echo "FAIL  the CLI failed $errors times"; SC_RESULT=1; }
# shellcheck disable=SC2086
sc_check "loss cleared -> every view lists all $N alive" "$TB_REFUTE_BOUND" 30 tb_all_alive $SC_NODES
# shellcheck disable=SC2086
sc_finish $SC_NODES
