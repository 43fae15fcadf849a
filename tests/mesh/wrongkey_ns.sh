#!/usr/bin/env bash
#  wrongkey_ns: a 6th agent with another cluster key never appears in any
#  view and the members count its beacons as rejected; then mw-inject (from
#  a 7th host with no agent) sends garbage, wrong-key, tampered, replayed,
#  clock-skewed and stale-session messages to n1's mesh port, replays a
#  captured beacon and sends UDP garbage: each class moves its counter and
#  n1 stays alive and responsive.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 180 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init wrongkey_ns 17
INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
[ -x "$INJECT" ] || tb_die "mw-inject not found at $INJECT (build tests/tools/mw-inject or set MW_INJECT)"
OBSERVE=${TB_OBSERVE_SECS:-10}
echo "CHECK: agent with a wrong cluster key never appears in any view over $OBSERVE s; beacons rejected > 0"
echo "CHECK: it warns (wrong_cluster_key, warn level, count and sources) within 15 s; the members do not"
echo "CHECK: a hostile member name from the wire is escaped in the log and the members table"
echo "CHECK: injected garbage/wrong key/tampered/replay/clock/stale/beacon replay/UDP garbage are counted; target stays alive"
#  The beacon replay below needs a member's beacon within its 6 s capture:
#  a settled mesh beacons about once a minute (quiet beacons, issue 17), so
#  the members here go quiet at 2 s at most (what is counted does not change).
TB_AGENT_DEFAULTS=("BEACON_QUIET_MS=2000")
sc_start_cluster ns 5
tb_host 6; tb_host 7
KEY_GOOD=$TB_KEY
sum_stat () { local i s=0 v; for i in $SC_NODES; do v=$(tb_stat "$i" "$1"); s=$(( s + ${v:-0} )); done; echo $s; }
#  The members' counters before n6 exists: its traffic must move them.
oc0=$(sum_stat '(.stats.rejected.other_cluster // 0) + (.stats.rejected.auth // 0)')
br0=$(sum_stat '.stats.beacons_rejected')
tb_start_agent 6 "CLUSTER_KEY=$(head -c 32 /dev/urandom | base64)"
tb_wait_ready 6
id6=$(tb_id 6)
echo "intruder n6 id=$id6"
appeared=0
end=$(( $(tb_now_ms) + OBSERVE * 1000 ))
while [ "$(tb_now_ms)" -lt "$end" ]; do
    for i in $SC_NODES; do
        if tb_members "$i" | jq -e --arg id "$id6" 'any(.[]; .id == $id)' >/dev/null 2>&1; then
            appeared=1; echo "  n6 appears in n$i's view"
        fi
    done
    sleep 0.5
done
if [ $appeared = 0 ]; then echo "PASS  n6 never appeared in any view over $OBSERVE s"; else echo "FAIL  n6 appeared in a view"; SC_RESULT=1; fi
n6peers=$(tb_members 6 | jq '[.[] | select(.self | not)] | length' 2>/dev/null)
if [ "$n6peers" = 0 ]; then echo "PASS  n6 lists no other member"; else echo "FAIL  n6 lists $n6peers other members"; SC_RESULT=1; fi
oc=$(sum_stat '(.stats.rejected.other_cluster // 0) + (.stats.rejected.auth // 0)')
br=$(sum_stat '.stats.beacons_rejected')
echo "members' counters: rejected other_cluster+auth $oc0 -> $oc, beacons_rejected $br0 -> $br"
if [ "$oc" -gt "$oc0" ] && [ "$br" -gt "$br0" ]; then echo "PASS  wrong-key beacons counted as rejected"; else echo "FAIL  wrong-key beacons not counted"; SC_RESULT=1; fi
#  Loud where it matters: n6 hears nothing but other-key beacons, so after
#  10 s it says so at warn level with the count and the sources.
warned6 () { grep -q "level=warn .*event=wrong_cluster_key " "$(tb_log_file 6)"; }
if tb_wait_until 15 warned6; then
    wl=$(grep "event=wrong_cluster_key " "$(tb_log_file 6)" | head -1)
    cnt=$(printf '%s' "$wl" | sed -n 's/.* count=\([0-9]*\) .*/\1/p')
    src=$(printf '%s' "$wl" | sed -n 's/.* sources=\([^ ]*\) .*/\1/p')
    good_src=0; for i in $SC_NODES; do [[ ",$src," == *",$(tb_ip "$i"),"* ]] && good_src=1; done
    if [ "${cnt:-0}" -gt 0 ] && [ "$good_src" = 1 ]; then echo "PASS  n6 warns: count=$cnt sources=$src"
    else echo "FAIL  n6's warning lacks the count or the sources: $wl"; SC_RESULT=1; fi
else
    echo "FAIL  n6 (wrong key, alone) never logged wrong_cluster_key at warn level"; SC_RESULT=1
fi
tb_term 6 10

#  ---- injection into n1 from host 7 ----
T="tcp://$(tb_ip 1):7946"
#  Messages are sealed for their receiver (docs/SECURITY.md): n1's id.
ID1=$(tb_id 1)
BCAST="udp://$TB_NET.255:5670"
rej_total='[.stats.rejected[]?] | add // 0'
#  inject LABEL JQEXPR MIN MODE [ARGS...]: counter JQEXPR of n1 must grow by >= MIN
inject () {
    local label=$1 expr=$2 min=$3; shift 3
    local before after out
    before=$(tb_stat 1 "$expr")
    out=$(tb_exec 7 timeout 20 "$INJECT" "$@" 2>&1) || { echo "FAIL  $label: mw-inject failed: $out"; SC_RESULT=1; return 1; }
    wait_grow () { after=$(tb_stat 1 "$expr"); [ $(( ${after:-0} - ${before:-0} )) -ge "$min" ]; }
    if tb_wait_until 3 wait_grow; then
        echo "PASS  $label: counter +$(( after - before )) [$out]"
    else
        echo "FAIL  $label: counter $expr $before -> $after (wanted +$min) [$out]"; SC_RESULT=1
    fi
}
inject "random garbage x300 -> rejected (any reason)" "$rej_total" 150 --to "$T" --to-id "$ID1" --count 300 garbage
inject "sealed with a wrong key -> other_cluster/auth" '(.stats.rejected.other_cluster // 0) + (.stats.rejected.auth // 0)' 1 --to "$T" wrongkey
inject "tampered ciphertext -> auth" '.stats.rejected.auth' 1 --to "$T" --to-id "$ID1" --key "$KEY_GOOD" tampered
inject "valid message sent twice -> replay" '.stats.rejected.replay' 1 --to "$T" --to-id "$ID1" --key "$KEY_GOOD" replay
inject "timestamp one hour old, new sender -> clock" '.stats.rejected.clock' 1 --to "$T" --to-id "$ID1" --key "$KEY_GOOD" clock
inject "older session of a known sender -> stale" '.stats.rejected.stale' 1 --to "$T" --to-id "$ID1" --key "$KEY_GOOD" stale
inject "GOSSIP sealed unbound (no receiver) -> unbound" '.stats.rejected.unbound' 1 --to "$T" --key "$KEY_GOOD" valid
inject "raw TCP junk (not ZMTP) x20 -> no crash" '.stats.msgs_in' 0 --to "$T" --count 20 rawtcp
#  Beacons: counted in every member; n1's own would be filtered, so sum.
before_r=$(sum_stat '.stats.rejected.replay'); before_b=$(sum_stat '.stats.beacons_rejected')
if out=$(tb_exec 7 timeout 20 "$INJECT" --to "$BCAST" --key "$KEY_GOOD" --capture-port 5670 --capture-ms 6000 beacon-replay 2>&1); then
    grow () { r=$(sum_stat '.stats.rejected.replay'); b=$(sum_stat '.stats.beacons_rejected'); [ $(( r - before_r )) -ge 1 ] && [ $(( b - before_b )) -ge 1 ]; }
    if tb_wait_until 3 grow; then echo "PASS  captured beacon sent twice -> replay (+$(( r - before_r )) replay, +$(( b - before_b )) beacons_rejected over the members) [$out]"
    else echo "FAIL  beacon replay not counted: replay $before_r -> $r, beacons_rejected $before_b -> $b [$out]"; SC_RESULT=1; fi
else
    echo "FAIL  beacon capture/replay failed: $out"; SC_RESULT=1
fi
before_b=$(sum_stat '.stats.beacons_rejected')
out=$(tb_exec 7 timeout 20 "$INJECT" --to "$BCAST" --count 100 udp-garbage 2>&1)
growb () { b=$(sum_stat '.stats.beacons_rejected'); [ $(( b - before_b )) -ge 1 ]; }
if tb_wait_until 3 growb; then echo "PASS  UDP garbage x100 -> beacons_rejected +$(( b - before_b )) over the members [$out]"
else echo "FAIL  UDP garbage not counted (beacons_rejected $before_b -> $b) [$out]"; SC_RESULT=1; fi

#  A hostile member name from the wire (a forged log line, a terminal
#  escape, a bidi override): escaped in n1's log and in its members table.
HOSTILE=$'evil\nts=0 level=error event=forged_line x=\x1b[2J\xe2\x80\xaeXY\xff'
out=$(tb_exec 7 timeout 20 "$INJECT" --to "$T" --to-id "$ID1" --key "$KEY_GOOD" --name "$HOSTILE" --ghost-ip "$(tb_ip 7)" announce 2>&1)
hid=$(printf '%s' "$out" | sed -n 's/.* id=\([0-9a-f]*\).*/\1/p')
joined () { grep -q "event=member_join peer=$hid " "$(tb_log_file 1)"; }
if [ -n "$hid" ] && tb_wait_until 5 joined; then
    jl=$(grep "event=member_join peer=$hid " "$(tb_log_file 1)" | head -1)
    table=$(tb_cli 1 members --state-dir "$TB_DIR/n1/state" 2>/dev/null)
    if grep -q '^ts=0 level=error event=forged_line' "$(tb_log_file 1)"; then
        echo "FAIL  a forged line reached n1's log"; SC_RESULT=1
    elif [[ $jl != *'name="evil\nts=0 level=error event=forged_line x=\x1b[2J\u202eXY\xff"'* ]]; then
        echo "FAIL  hostile name not escaped in n1's log: $jl"; SC_RESULT=1
    elif printf '%s' "$table" | grep -q $'\x1b' || printf '%s' "$table" | grep -q $'\xe2\x80\xae'; then
        echo "FAIL  raw control characters in n1's members table"; SC_RESULT=1
    elif ! tb_members 1 | jq -e --arg id "$hid" 'any(.[]; .id == $id)' >/dev/null 2>&1; then
        echo "FAIL  n1's members --json is not valid JSON with the hostile name"; SC_RESULT=1
    else
        echo "PASS  hostile name escaped: log $(printf '%s' "$jl" | grep -o 'name="[^ ]*' | head -1)...; table: $(printf '%s' "$table" | grep -a "$hid" | cut -c1-60)"
    fi
else
    echo "FAIL  the announced member never joined n1 ($out)"; SC_RESULT=1
fi
tb_alive_pid 1 && echo "PASS  n1 process still running" || { echo "FAIL  n1 died"; SC_RESULT=1; }
#  The members heard n6's beacons and the injected wrong-key messages, but
#  also their own mesh: no warning from them.
nw=0; for i in $SC_NODES; do nw=$(( nw + $(grep -c "event=wrong_cluster_key " "$(tb_log_file "$i")") )); done
[ "$nw" = 0 ] && echo "PASS  no wrong_cluster_key warning from the members (they hear their mesh)" || { echo "FAIL  $nw wrong_cluster_key lines from the members"; SC_RESULT=1; }
# shellcheck disable=SC2086
sc_check "target n1 still alive in every view, all 5 alive" 10 10 tb_all_alive $SC_NODES
tb_status 1 | jq -c '.stats' 2>/dev/null | sed 's/^/n1 stats: /'
# shellcheck disable=SC2086
sc_finish $SC_NODES
