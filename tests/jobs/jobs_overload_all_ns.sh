#!/usr/bin/env bash
#  jobs_overload_all_ns: 4 namespaced agents with real models, each under a
#  15 % CPU quota, and an analysis server (n5, 50 %).  Every box is warmed
#  up, then ALL boxes get 2 x their capacity (box 1's CPU per job from /proc/PID/stat, capacity =
#  quota / that; 6..16 jobs/s each) at once
#  for JB_PHASE_S (6) seconds: no peer has room, so the overflow goes to the
#  analysis server.  Then the server is killed (kill -9) and every box keeps
#  getting the same load for JB_PHASE_S more seconds.
#  Escalation is off (ESCALATE_BELOW=0): only the fallback path is tested.
#  Asserts:
#    * phase 1: jobs ran on the server (path server > 0);
#    * phase 2 (server dead): jobs fail with explicit job_failed events that
#      carry a reason (no_capacity / timeout ...); the reasons are printed,
#      and how many still ended on the server (results already on the wire
#      at the kill);
#    * every job of both phases ends exactly once (job_check.py, with the
#      ids every submit accepted);
#    * the agents stay responsive: `meshwatch status --json` answers on
#      every box within 2 s, polled throughout phase 2.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout 150 "$@"
tb_init jobs_overload_all_ns 51
PHASE_S=${JB_PHASE_S:-6}
PCT=${JB_PCT:-15}

jb_bed 4 "$PCT" 50
TB_AGENT_DEFAULTS=("MODELS_DIR=$MODELS" $(tb_server_keys "$JB_SERVER") "ESCALATE_BELOW=0" "OFFER_TIMEOUT_MS=$JB_OFFER_TIMEOUT_MS")
jb_start
jb_warm $JB_NODES
jb_wait_forecasts 1 2 3 4
jb_calibrate 1 8
rate=$(jb_rate 2 6 16)
n=$(( rate * PHASE_S ))
echo "info  every box gets $rate jobs/s ($n per phase)"

burst () {   # all boxes at once; waits for the submitters
    local i tag=$1; local -a pids=()
    for i in $JB_NODES; do jb_submit_bg "$i" "$n" "$rate" "$DEMO/sample$(( i % 2 ? 1 : 3 )).jpg"; pids+=("$JB_BG_LAST"); done
    JB_PIDS=("${pids[@]}")
}

echo "---- phase 1: every box overloaded, server up"
burst 1
wait "${JB_PIDS[@]}"
jb_wait_ended 30 $JB_NODES
srv1=$(tb_stat "$JB_SERVER" .jobs.ran_for_peers)
p1=$(jb_stat_sum server $JB_NODES)
[ "$p1" -gt 0 ] && jb_pass "phase 1: $p1 jobs ran on the analysis server (it ran $srv1 in all)" ||
    jb_failc "phase 1: no job ran on the analysis server ($(jb_stat_sum local $JB_NODES) local, $(jb_stat_sum peer $JB_NODES) peer)"
f1=$(jb_stat_sum failed $JB_NODES)
echo "info  phase 1: local $(jb_stat_sum local $JB_NODES), peer $(jb_stat_sum peer $JB_NODES), server $p1, failed $f1"

echo "---- phase 2: server killed (kill -9), same load"
tb_kill9 "$JB_SERVER"
tkill=$(tb_now_ms)
burst 2
worst=0; polls=0
while :; do
    alive=0; for p in "${JB_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    [ $(( $(tb_now_ms) - tkill )) -gt $(( PHASE_S * 1000 + 20000 )) ] && break
    for i in $JB_NODES; do ms=$(jb_status_ms "$i"); polls=$(( polls + 1 )); [ "$ms" -gt "$worst" ] && worst=$ms; done
    sleep 0.3
done
wait "${JB_PIDS[@]}" 2>/dev/null
jb_wait_ended 30 $JB_NODES
for i in $JB_NODES; do ms=$(jb_status_ms "$i"); polls=$(( polls + 1 )); [ "$ms" -gt "$worst" ] && worst=$ms; done
[ "$worst" -lt 2000 ] && jb_pass "every box answered status --json within 2 s in phase 2 ($polls polls, slowest $worst ms)" ||
    jb_failc "a box took $worst ms to answer status --json in phase 2"
f2=$(( $(jb_stat_sum failed $JB_NODES) - f1 ))
p2=$(( $(jb_stat_sum server $JB_NODES) - p1 ))
echo "info  phase 2: failed $f2, done on the server $p2 (results already in flight at the kill)"
[ "$f2" -gt 0 ] && jb_pass "phase 2: $f2 jobs failed explicitly (job_failed events)" ||
    jb_failc "phase 2: no job failed with the server dead"
#  Reasons of the phase-2 failures, from the logs (ts after the kill).
reasons=$("$TB_PY" - "$tkill" $(for i in $JB_NODES; do tb_log_file "$i"; done) <<'EOF'
import sys, re, datetime
t0 = int(sys.argv[1]); bad = 0; seen = {}
for p in sys.argv[2:]:
    for line in open(p, errors="replace"):
        if "event=job_failed" not in line: continue
        m = re.match(r"ts=(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z", line)
        y, mo, d, h, mi, s, ms = map(int, m.groups())
        t = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
        if t < t0: continue
        r = re.search(r'reason="([^"]*)"', line)
        r = r.group(1) if r else ""
        if not r.strip(): bad += 1
        k = re.sub(r"tcp://\S+", "ADDR", r)
        seen[k] = seen.get(k, 0) + 1
for k, v in sorted(seen.items(), key=lambda x: -x[1]): print("      x%d %s" % (v, k))
sys.exit(1 if bad else 0)
EOF
) && jb_pass "phase 2: every failure carries a reason:" || jb_failc "phase 2: a failure without a reason:"
echo "$reasons"
jb_check --expect 'server>0' --expect 'failed>0'
jb_finish
