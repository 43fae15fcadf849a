#!/usr/bin/env bash
#  digest_fresh: 5 agents in network namespaces (beacon discovery on the
#  test bridge), node 2 under a 30 % CPU quota cgroup.  After convergence,
#  for 10 s (every 0.5 s) every node's `members --json` must hold, for every
#  other node, a resource digest (load != null) with the forecast fields
#  (current cpu/memory, forecast and upper bound at both horizons,
#  headroom, age_ms).  The freshness contract (docs/FORECASTS.md,
#  "Freshness"; issue 17): a busy box's digest (here n2, its quota used up
#  by a CPU burner in its cgroup) is at most FRESH_BOUND_MS = 3000 ms old everywhere
#  (re-made every COLLECT_INTERVAL_MS = 1000 ms and published each time: 3 s
#  is at most two missed refreshes); an idle, steady box's at most
#  DIGEST_MAX_AGE_MS (15 s) + FRESH_BOUND_MS.  p50/p99 of each are printed.
#  The cgroup node must report cgroup=true and 0.3 cores.
#  Root is needed (namespaces, cgroups); exit 77 otherwise.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
tb_init fc_fresh 92
tb_require_mw
tb_require_netns
FRESH_BOUND_MS=${FRESH_BOUND_MS:-3000}
N=5
#  ip netns exec hides /sys/fs/cgroup; the wrapper shows it again (see there).
TB_AGENT_WRAPPER=(sh "$SRC/tests/forecast/cgroupfs-wrap.sh")
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
tb_cgroup_cpu 2 30
for i in $(seq 1 $N); do tb_start_agent "$i"; done
for i in $(seq 1 $N); do tb_wait_ready "$i"; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "no convergence"
#  Measure once every node holds a digest with forecasts from every peer
#  (the condition the loop below checks), not after a fixed sleep.
digest_fields_bad () {
    jq -r '[.[] | select(.self == false) | select(.load == null
            or (.load.forecast.cpu | length) != 2 or (.load.upper.cpu | length) != 2
            or (.load.forecast.memory | length) != 2 or (.load.headroom | type) != "number"
            or (.load.cpu | type) != "number" or (.load.age_ms | type) != "number") | .name] | join(",")'
}
all_digests () {
    local i js
    for i in $(seq 1 $N); do
        js=$(tb_members "$i") || return 1
        [ -z "$(digest_fields_bad <<<"$js")" ] || return 1
    done
}
tb_wait_until 20 all_digests || tb_fail "digests with forecasts not everywhere after 20 s"
#  n2 gets busy: a CPU burner in its cgroup uses the whole 30 % quota, so
#  its forecast headroom falls under 30 % and its digest is published every
#  sample.  Measure once every peer holds n2's digest showing it busy.
tb_bg sh -c 'echo $$ > "$1/cgroup.procs" && exec python3 -c "
import time
end = time.time() + 150
while time.time() < end:
    pass"' sh "${TB_CG[2]}"
id2=$(tb_id 2)
busy_seen () {
    local i
    for i in 1 3 4 5; do
        tb_members "$i" | jq -e --arg id "$id2" '.[] | select(.id == $id) | .load.headroom < 30' >/dev/null || return 1
    done
}
tb_wait_until 30 busy_seen || tb_fail "n2's busy digest (headroom < 30 %) did not reach every peer within 30 s"
IDLE_BOUND_MS=$(( 15000 + FRESH_BOUND_MS ))
ages="$TB_DIR/ages.txt"; : > "$ages"
end=$(( $(tb_now_ms) + 10000 ))
rounds=0
while [ "$(tb_now_ms)" -lt "$end" ]; do
    for i in $(seq 1 $N); do
        js=$(tb_members "$i") || tb_fail "n$i: members failed"
        bad=$(digest_fields_bad <<<"$js")
        [ -z "$bad" ] || tb_fail "n$i: no digest / forecast fields for: $bad"
        n=$(jq '[.[] | select(.self == false)] | length' <<<"$js")
        [ "$n" = $(( N - 1 )) ] || tb_fail "n$i lists $n peers"
        jq -r --arg v "n$i" '.[] | select(.self == false) | "\(.load.age_ms) \($v) \(.name)"' <<<"$js" >> "$ages"
    done
    rounds=$(( rounds + 1 ))
    sleep 0.5
done
pcts () { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99)+1; if (i>NR) i=NR; print NR, a[int(NR*0.5)+1], a[i], a[NR]}'; }
read -r cnt p50 p99 max < <(awk '$3 == "n2"' "$ages" | pcts)
echo "busy box n2: digest ages over $rounds rounds ($cnt peer views): p50 $p50 ms, p99 $p99 ms, max $max ms (bound $FRESH_BOUND_MS ms)"
[ "$cnt" -gt 0 ] && [ "$max" -le "$FRESH_BOUND_MS" ] || { awk '$3 == "n2"' "$ages" | sort -n | tail -5; tb_fail "n2's digest was $max ms old"; }
read -r cnt p50 p99 max < <(awk '$3 != "n2"' "$ages" | pcts)
echo "idle boxes: digest ages ($cnt peer views): p50 $p50 ms, p99 $p99 ms, max $max ms (bound $IDLE_BOUND_MS ms)"
[ "$max" -le "$IDLE_BOUND_MS" ] || { sort -n "$ages" | tail -5; tb_fail "an idle box's digest was $max ms old"; }
echo "PASS  every node holds a fresh digest of the busy peer, and one within the idle bound of every other"
js=$(tb_members 1)
cg=$(jq -r --arg id "$(tb_id 2)" '.[] | select(.id == $id) | "\(.load.cgroup) \(.load.cpu_cores)"' <<<"$js")
[ "$cg" = "true 0.3" ] || tb_fail "n2 under a 30 % quota reports cgroup/cores '$cg', want 'true 0.3'"
echo "PASS  the cgroup node reports its quota (0.3 cores)"
tb_cli 1 members --state-dir "$(tb_state_dir 1)" | head -7
echo "RESULT: PASS ($TB_NAME)"
