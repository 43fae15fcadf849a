#!/usr/bin/env bash
#  forecast.sh [--quick] - the forecasts benchmark (not part of make check).
#   1. forecast error table for every shipped trace (tests/traces/*.csv) at
#      5 s and 30 s: MAE and MAPE, Holt vs naive, and the bound's coverage.
#      Target: >= 30 % lower MAE than naive on the bursty real traces.
#   2. freshness of peers' digests at N = 20 loopback agents: every 0.5 s
#      for 20 s (--quick: 8 s), every node's /metrics
#      meshwatch_peer_forecast_age_seconds; p50/p99.  Target: p99 <= 2 s.
#   3. gossip bytes the forecasts cost: bytes_out per node per second with
#      the digest refreshed every second vs. once a minute
#      (COLLECT_INTERVAL_MS=60000), same N = 20 mesh.  Target digest <= 64 B.
#  Needs root (testbed.sh) and a built meshwatch (MW_BUILDDIR or MESHWATCH).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 600 "$@"
QUICK=0; [ "${1:-}" = --quick ] && QUICK=1
tb_init fc_bench 93
tb_require_mw
N=${BENCH_N:-20}
WINDOW=$([ $QUICK = 1 ] && echo 8 || echo 20)

echo "== 1. forecast error (MAE / MAPE %; coverage = share of samples at or under the upper bound)"
printf '%-22s %4s  %9s %9s %7s  %9s %9s  %8s\n' trace h holt_MAE naive_MAE gain holt_MAPE naive_MAPE coverage
for f in "$SRC"/tests/traces/*.csv; do
    for h in 5 30; do
        "$TB_MW" forecast --trace "$f" --horizon $h --json | jq -r --arg h $h \
            '"\(.trace | split("/") | last) \($h) \(.holt.mae) \(.naive.mae) \(.mae_gain_pct) \(.holt.mape) \(.naive.mape) \(100 - .holt.above_bound * 100)"' |
            awk '{printf "%-22s %3ss  %9.3f %9.3f %6.1f%%  %9.2f %9.2f  %7.1f%%\n", $1, $2, $3, $4, $5, $6, $7, $8}'
    done
done

MBASE=$(( TB_PORTBASE + 100 ))
run_mesh () {   # $1 = COLLECT_INTERVAL_MS
    local i
    for i in $(seq 1 "$N"); do
        tb_start_agent_lo "$i" "METRICS_PORT=$(( MBASE + i ))" "COLLECT_INTERVAL_MS=$1" "LOG_LEVEL=warn"
    done
    for i in $(seq 1 "$N"); do tb_wait_ready "$i" 20; done
    tb_wait_until 60 tb_all_alive $(seq 1 "$N") || tb_fail "N=$N did not converge"
    sleep 3
}
stop_mesh () { local i; for i in $(seq 1 "$N"); do tb_term "$i" 5; rm -rf "$(tb_node_dir "$i")"; done; TB_LO_FIRST=""; }
bytes_out () { local i s=0; for i in $(seq 1 "$N"); do s=$(( s + $(tb_stat "$i" .stats.bytes_out) )); done; echo $s; }

echo
echo "== 2. digest freshness at N = $N (loopback, 1 s collect interval)"
run_mesh 1000
ages="$TB_DIR/ages.txt"; : > "$ages"
b0=$(bytes_out); t0=$(tb_now_ms)
end=$(( t0 + WINDOW * 1000 ))
while [ "$(tb_now_ms)" -lt "$end" ]; do
    for i in $(seq 1 "$N"); do
        curl -s --max-time 2 "http://127.0.0.1:$(( MBASE + i ))/metrics" |
            awk '/^meshwatch_peer_forecast_age_seconds\{/ {print int($2 * 1000)}' >> "$ages"
    done
    sleep 0.5
done
b1=$(bytes_out); t1=$(tb_now_ms)
sort -n "$ages" | awk -v n="$N" '{a[NR]=$1} END {i=int(NR*0.99)+1; if (i>NR) i=NR;
    printf "%d peer views: p50 %d ms, p99 %d ms, max %d ms  (target p99 <= 2000 ms)\n", NR, a[int(NR*0.5)+1], a[i], a[NR]}'
rate_on=$(( (b1 - b0) * 1000 / (t1 - t0) / N ))
stop_mesh

echo
echo "== 3. gossip bytes the forecasts cost (N = $N)"
run_mesh 60000
b0=$(bytes_out); t0=$(tb_now_ms)
sleep "$WINDOW"
b1=$(bytes_out); t1=$(tb_now_ms)
rate_off=$(( (b1 - b0) * 1000 / (t1 - t0) / N ))
stop_mesh
echo "bytes out per node: $rate_on B/s with a digest every 1 s, $rate_off B/s with one a minute"
echo "extra per node: $(( rate_on - rate_off )) B/s; digest size $(grep -o 'SCHED_DIGEST_SIZE [0-9]*' "$SRC/scheduler/digest.h" | awk '{print $2}') B (target <= 64 B; wire overhead is the sealed envelope's)"
