#!/usr/bin/env bash
#  jobs_probe_ns: PLACEMENT_POLICY=probe on a real mesh - offers to two
#  peers at once, the first accept wins, the other offer is withdrawn with
#  a JOB_CANCEL that crosses the real data plane (codec, envelope, replay
#  window) and releases the reservation.  4 namespaced agents with real
#  face-api models at 25 % CPU each and an analysis server (n5, 50 %); box
#  1 is overloaded at 2 x its measured capacity for JB_BURST_S (8) s while
#  the others idle (as jobs_overload_one_ns, whose notes on quotas and
#  forecasts apply).
#  Asserts:
#    * every job ends exactly once, none failed, the excess ran on peers
#      and none on the analysis server (job_check.py over every log);
#    * box 1 sent CANCELs (status .jobs.cancels_sent > 0), the peers
#      honoured some (cancelled_for_peers >= 1) and never more than were
#      sent (a CANCEL for an offer the peer refused finds nothing);
#    * no data-plane message was rejected anywhere (a JOB_CANCEL that did
#      not decode would count as a rejection on the peers).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout 150 "$@"
tb_init jobs_probe_ns 3
BURST_S=${JB_BURST_S:-8}

PCT=${JB_PCT:-25}
jb_bed 4 "$PCT" 50
TB_AGENT_DEFAULTS=("MODELS_DIR=$MODELS" $(tb_server_keys "$JB_SERVER") "ESCALATE_BELOW=0"
                   "OFFER_TIMEOUT_MS=$JB_OFFER_TIMEOUT_MS" "PLACEMENT_POLICY=probe")
jb_start
jb_warm $JB_NODES
jb_wait_forecasts 1 2 3 4
jb_calibrate 1 8
rate=$(jb_rate "${JB_FACTOR:-2}" 18 30)
count=$(( rate * BURST_S ))
echo "info  overload box 1 at $rate jobs/s for $BURST_S s ($count jobs), policy probe"
jb_submit_bg 1 $(( count / 2 )) "$(awk -v r="$rate" 'BEGIN { print r / 2 }')" "$DEMO/sample1.jpg"; p1=$JB_BG_LAST
jb_submit_bg 1 $(( count - count / 2 )) "$(awk -v r="$rate" 'BEGIN { print r / 2 }')" "$DEMO/sample3.jpg"; p2=$JB_BG_LAST
wait "$p1" "$p2"
# shellcheck disable=SC2086
jb_wait_ended 30 $JB_NODES

jb_check --expect 'peer>0' --expect 'server==0' --expect 'failed==0' --expect "ended>=$count"
sent=$(tb_stat 1 .jobs.cancels_sent)
honoured=$(jb_stat_sum cancelled_for_peers 2 3 4)
echo "info  box 1 sent $sent CANCELs; peers released $honoured reservations: $(for i in 2 3 4; do printf 'n%s=%s ' "$i" "$(tb_stat "$i" .jobs.cancelled_for_peers)"; done)"
[ "${sent%.*}" -gt 0 ] && [ "$honoured" -ge 1 ] && [ "$honoured" -le "${sent%.*}" ] &&
    jb_pass "CANCELs crossed the data plane: $sent sent, $honoured reservations released" ||
    jb_failc "CANCELs: $sent sent, $honoured released (want > 0, >= 1 and <= sent)"
rej=0
for i in $JB_NODES $JB_SERVER; do
    r=$(tb_status "$i" | jq '[.jobs.data_plane.rejected // {} | to_entries[] | .value] | add // 0')
    [ "${r:-0}" = 0 ] || { echo "info  n$i rejected: $(tb_status "$i" | jq -c .jobs.data_plane.rejected)"; rej=$(( rej + r )); }
done
[ "$rej" = 0 ] && jb_pass "no data-plane message rejected on any box" || jb_failc "$rej data-plane messages rejected"
echo "info  box 1: $(jb_sum .local) local, $(jb_sum .peer) peer"
jb_finish
