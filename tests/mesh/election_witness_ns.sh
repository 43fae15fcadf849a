#!/usr/bin/env bash
#  election_witness_ns (issue 17): the coordinator's witnesses, N = 20 in
#  namespaces (docs/ELECTION.md section 3, "Witnesses").
#    1. Rotation: over 10 idle seconds the coordinator sends about 5 x 10
#       short-lease heartbeats a second (its witnesses) and about 14 long
#       ones (everyone else, once a second), and every follower receives
#       between 1.8 and 6 a second: each serves as a witness in turn (a
#       permanent witness would get 10, one never chosen 1).
#    2. A deaf witness: one box that is a witness right now stops hearing
#       the coordinator (nftables drops everything from the coordinator's
#       address in its namespace, counted) for 6 s, longer than a long
#       lease.  It stands; the boxes on the long lease say yes to a
#       witness, the other witnesses do not: its pre-votes are vetoed
#       (`witness_vetoes` moves), and past a long lease it stands as anyone
#       else and is refused.  Nobody names another coordinator, the term
#       does not move, no agent logs coordinator_elected or step_down.
#    3. kill -9 the coordinator: every survivor names one new coordinator
#       within EL_FAILOVER_BOUND (the witnesses notice within one short
#       lease; the rest hear the winner's first heartbeat at once).
#    Then the log checker (no ballot claimed twice, no coexistence).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
N=${TB_N:-20}
tb_hard_timeout $(( 200 + N * 6 )) "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init election_witness_ns "${WITNESS_NETID:-48}"
echo "CHECK: N = $N: witnesses rotate; a witness deaf to the coordinator for 6 s deposes nobody; kill -9 -> a new coordinator within $EL_FAILOVER_BOUND ms"
sc_start_cluster ns "$N"
el_tl_nodes $SC_NODES
# shellcheck disable=SC2086
sc_check "initial: all $N name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
coord=$EL_COORD; term=$EL_TERM
# shellcheck disable=SC2086
c=$(el_index_of "$coord" $SC_NODES) || { echo "FAIL  coordinator $coord is not one of ours"; sc_finish $SC_NODES; }
followers=$(for i in $SC_NODES; do [ "$i" = "$c" ] || printf '%s ' "$i"; done)

#  1. Rotation.
sleep 3
hb () { tb_status "$1" | jq -r ".election.$2 // 0"; }
declare -A in0
for i in $followers; do in0[$i]=$(hb "$i" heartbeats_in); done
s0=$(hb "$c" heartbeats_short); l0=$(hb "$c" heartbeats_long); t0=$(tb_now_ms)
sleep 10
s1=$(hb "$c" heartbeats_short); l1=$(hb "$c" heartbeats_long)
rates=""; bad=0
for i in $followers; do
    r=$(( $(hb "$i" heartbeats_in) - in0[$i] ))
    rates+="n$i=$r "
    # 1.8 .. 6 a second over the 10-12 s the polling took
    [ "$r" -ge 18 ] && [ "$r" -le 72 ] || bad=$(( bad + 1 ))
done
dt=$(( $(tb_now_ms) - t0 ))
sr=$(awk -v a="$s0" -v b="$s1" -v t="$dt" 'BEGIN { printf "%.1f", (b - a) * 1000 / t }')
lr=$(awk -v a="$l0" -v b="$l1" -v t="$dt" 'BEGIN { printf "%.1f", (b - a) * 1000 / t }')
echo "info  over $dt ms: coordinator n$c sent $sr short-lease and $lr long-lease heartbeats/s; received per follower: $rates"
awk -v s="$sr" -v l="$lr" 'BEGIN { exit !(s >= 40 && s <= 60 && l >= 8 && l <= 20) }' &&
    echo "PASS  the coordinator heartbeats 5 witnesses at 10/s and the others at 1/s ($sr + $lr a second, not $(( (N - 1) * 10 )))" ||
    { echo "FAIL  coordinator heartbeat rates $sr short / $lr long a second"; SC_RESULT=1; }
[ "$bad" = 0 ] && echo "PASS  every follower received 1.8-6 heartbeats a second: the witnesses rotate" ||
    { echo "FAIL  $bad follower(s) outside 1.8-6 heartbeats a second"; SC_RESULT=1; }

#  2. A deaf witness.
x=""
_find_witness () {
    local i
    for i in $followers; do
        [ "$(tb_status "$i" | jq -r '.witness // 0')" -gt 0 ] && { x=$i; return 0; }
    done
    return 1
}
tb_wait_until 10 _find_witness || { echo "FAIL  no follower reports being a witness"; SC_RESULT=1; sc_finish $SC_NODES; }
cip=$(tb_ip "$c")
v0=$(hb "$x" witness_vetoes); p0=$(hb "$x" prevotes_started)
d0=$(tb_now_ms)
el_tl deaf "$x"
tb_exec "$x" nft -f - <<EOF || { echo "FAIL  nft rule in n$x"; SC_RESULT=1; sc_finish $SC_NODES; }
table inet tbdeaf {
    chain input { type filter hook input priority 0; ip saddr $cip counter drop; }
}
EOF
tb_exec "$x" nft list table inet tbdeaf | grep -q "ip saddr $cip counter" ||
    { echo "FAIL  the drop rule is not in n$x's table"; SC_RESULT=1; }
echo "---- n$x (a witness) hears nothing from n$c ($cip) for 6 s"
changed=0; polls=0
while [ $(( $(tb_now_ms) - d0 )) -lt 6000 ]; do
    # shellcheck disable=SC2086
    for i in $followers; do
        [ "$i" = "$x" ] && continue
        s=$(el_state "$i")
        [ "${s%% *}" = "$coord" ] && [ "${s##* }" = "$term" ] || changed=$(( changed + 1 ))
    done
    polls=$(( polls + 1 ))
done
dropped=$(tb_exec "$x" nft list table inet tbdeaf | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
tb_exec "$x" nft delete table inet tbdeaf
el_tl heard "$x"
d1=$(tb_now_ms)
v1=$(hb "$x" witness_vetoes); p1=$(hb "$x" prevotes_started)
echo "info  n$x: ${dropped:-0} packets from the coordinator dropped; pre-votes started $(( p1 - p0 )), vetoed by the witnesses $(( v1 - v0 )); $polls polls of the others"
[ "${dropped:-0}" -gt 20 ] && echo "PASS  the drop rule counted ${dropped} packets" ||
    { echo "FAIL  the drop rule counted ${dropped:-0} packets: the coordinator was not cut off"; SC_RESULT=1; }
[ $(( v1 - v0 )) -gt 0 ] && echo "PASS  the deaf witness stood and its pre-votes were vetoed ($(( v1 - v0 )))" ||
    { echo "FAIL  no witness veto on n$x (pre-votes $(( p1 - p0 )))"; SC_RESULT=1; }
[ "$changed" = 0 ] && echo "PASS  every other box named n$c, term $term, throughout" ||
    { echo "FAIL  $changed status polls named another coordinator or term"; SC_RESULT=1; }
# shellcheck disable=SC2086
if ev=$(tb_events_between "$d0" "$d1" coordinator_elected,step_down $SC_NODES); then
    echo "PASS  no coordinator_elected / step_down while n$x was deaf"
else echo "FAIL  an agent logged coordinator_elected / step_down while n$x was deaf:"; echo "$ev" | sed 's/^/      /'; SC_RESULT=1; fi
_back () { el_agreed $SC_NODES && [ "$EL_COORD" = "$coord" ]; }
# shellcheck disable=SC2086
sc_check "n$x hears again -> all $N name n$c" 10 40 _back || true

#  3. kill -9 the coordinator.
rest=$followers
echo "---- kill -9 the coordinator n$c"
EL_T0=$(tb_now_ms)
el_tl kill "$c"; tb_kill9 "$c"
# shellcheck disable=SC2086
el_wait_new "$coord" "$EL_FAILOVER_BOUND" 30 "kill -9 at N = $N: survivors name a new coordinator" $rest
unset EL_T0
el_check_logs
# shellcheck disable=SC2086
sc_finish $SC_NODES
