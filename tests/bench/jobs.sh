#!/usr/bin/env bash
#  jobs.sh - the jobs benchmark (not in `make check`; needs root and the
#  face-api models).  A real mesh of 5 namespaced agents (25 % CPU each) and
#  an analysis server (50 %); every box warmed up, forecasts ready; then
#  boxes 1 and 2 get a burst of FACTOR x their capacity (default 2x:
#  capacity = quota / the agent's CPU per job, measured on box 1 from its
#  /proc stat) for SECS (default 60) seconds while boxes 3-5 idle.
#  Prints one markdown table: jobs, where they ran, the share that finished
#  within the deadline (done, late=0), latency p50/p99 by path, and the
#  added hand-off latency of peer/server jobs: total_ms - infer_ms - the
#  runner's queue = the time before the frame left (placement, offer round
#  trips; from the handed_off/fallback_vms line) + transfer_ms (the events':
#  time away - runner queue - inference: frame and result on the wire).
#  Percentiles are nearest rank.
#
#  usage: tests/bench/jobs.sh [--secs S] [--factor F] [--policy P] [--deadline-ms D]
#  (MW_BUILDDIR=/path/to/build, or MESHWATCH and MW_INJECT)
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SECS=60 FACTOR=2 POLICY=forecast DEADLINE=1000
while [ $# -gt 0 ]; do
    case $1 in
        --secs) SECS=$2; shift 2 ;;
        --factor) FACTOR=$2; shift 2 ;;
        --policy) POLICY=$2; shift 2 ;;
        --deadline-ms) DEADLINE=$2; shift 2 ;;
        *) echo "usage: $0 [--secs S] [--factor F] [--policy local|reactive|random|forecast] [--deadline-ms D]" >&2; exit 2 ;;
    esac
done
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout $(( SECS + 240 )) --secs "$SECS" --factor "$FACTOR" --policy "$POLICY" --deadline-ms "$DEADLINE"
tb_init jobs_bench 55
PCT=25
jb_bed 5 "$PCT" 50
TB_AGENT_DEFAULTS=("MODELS_DIR=$MODELS" $(tb_server_keys "$JB_SERVER") "ESCALATE_BELOW=0"
                   "OFFER_TIMEOUT_MS=$JB_OFFER_TIMEOUT_MS" "PLACEMENT_POLICY=$POLICY" "DEADLINE_MS=$DEADLINE")
jb_start
jb_warm $JB_NODES
jb_wait_forecasts 1 2 3 4 5
jb_calibrate 1 8
rate=$(jb_rate "$FACTOR" 4 40)
n=$(( rate * SECS ))
rm -f "$TB_DIR"/ids.* "$TB_DIR/mark"
#  Only the burst's jobs count: the checker reads the logs from here on.
for i in $JB_NODES $JB_SERVER; do wc -l < "$(tb_log_file "$i")" > "$TB_DIR/n$i/skip"; done
echo "info  boxes 1 and 2: $rate jobs/s each for $SECS s ($n each), policy $POLICY, deadline $DEADLINE ms"
jb_submit_bg 1 "$n" "$rate" "$DEMO/sample1.jpg"; a=$JB_BG_LAST
jb_submit_bg 2 "$n" "$rate" "$DEMO/sample3.jpg"; b=$JB_BG_LAST
wait "$a" "$b"
jb_wait_ended 60 $JB_NODES
for i in $JB_NODES $JB_SERVER; do tail -n +$(( $(cat "$TB_DIR/n$i/skip") + 1 )) "$(tb_log_file "$i")" > "$TB_DIR/n$i/burst.log"; done
cat "$TB_DIR"/ids.* > "$TB_DIR/ids.all"
"$TB_PY" "$SRC/tests/jobs/job_check.py" --ids "$TB_DIR/ids.all" --json "$TB_DIR/check.json" \
    $(for i in $JB_NODES $JB_SERVER; do echo "$TB_DIR/n$i/burst.log"; done) > "$TB_DIR/check.txt"; crc=$?
j () { jq -r "$1" "$TB_DIR/check.json"; }
ms () { local v; v=$(j "$1"); [ "$v" = null ] && echo "-" || printf '%.0f' "$v"; }
echo
echo "### jobs benchmark: 5 boxes at $PCT % CPU, boxes 1-2 at ${FACTOR}x capacity ($rate jobs/s each) for $SECS s, policy $POLICY, deadline $DEADLINE ms"
echo
echo "| metric | value |"
echo "|---|---|"
echo "| jobs submitted (accepted) | $(j .submitted_ids) |"
echo "| ended (done / failed) | $(j .ended) ($(j .done) / $(j .failed)) |"
echo "| within deadline (done, not late) | $(j .in_deadline) = $(awk -v a="$(j .in_deadline)" -v b="$(j .ended)" 'BEGIN { printf "%.1f %%", b ? 100 * a / b : 0 }') |"
echo "| path local / peer / server | $(j .local) / $(j .peer) / $(j .server) |"
echo "| latency all p50 / p99 (ms) | $(ms .latency_ms.all.p50) / $(ms .latency_ms.all.p99) |"
echo "| latency local p50 / p99 (ms) | $(ms .latency_ms.local.p50) / $(ms .latency_ms.local.p99) |"
echo "| latency peer p50 / p99 (ms) | $(ms .latency_ms.peer.p50) / $(ms .latency_ms.peer.p99) |"
echo "| latency server p50 / p99 (ms) | $(ms .latency_ms.server.p50) / $(ms .latency_ms.server.p99) |"
echo "| added hand-off latency, peer+server jobs (before sending + transfer) p50 / p99 (ms) | $(ms .handoff_overhead_ms.p50) / $(ms .handoff_overhead_ms.p99) (n=$(j .handoff_overhead_ms.n)) |"
echo "| - before sending (placement, offer round trips) p50 / p99 (ms) | $(ms .presend_ms.p50) / $(ms .presend_ms.p99) |"
echo "| - transfer_ms (events: away - runner queue - inference) p50 / p99 | $(ms .transfer_ms.p50) / $(ms .transfer_ms.p99) |"
echo "| redispatched | $(j .redispatched) |"
echo "| failures by reason | $(j '.fail_reasons | to_entries | map("\(.value)x \(.key)") | join("; ")' | sed 's/^$/-/') |"
echo
sed 's/^/    /' "$TB_DIR/check.txt"
[ "$crc" = 0 ] || { echo "job_check found problems (above)"; TB_FAILED=1; exit 1; }
exit 0
