#!/usr/bin/env bash
#  metrics_promtool: 3 loopback agents with METRICS_PORT, and an analysis
#  server with METRICS_PORT.  Agent 1 runs real jobs first (three demo
#  frames through `meshwatch submit`, each escalated to the server, which
#  runs the precise model for it), so that every job family has data.
#  Then the live /metrics of agent 1 and of the server must pass
#  `promtool check metrics`; the agent's carries the seed's node_* names
#  and the meshwatch_* families, and its job latency histogram
#  (meshwatch_job_latency_seconds) counts the jobs it ran; the server's
#  counts the jobs it ran for agents.  Bad requests (wrong path, wrong
#  method, a 64 KiB header) get a clean HTTP error and the endpoint keeps
#  serving.
#
#  promtool 2.42 lints node_memory_MemTotal_bytes and
#  node_memory_MemAvailable_bytes as "camelCase"; those two names are the
#  seed's (and node_exporter's own) and are required verbatim, so exactly
#  those two lint lines are accepted from the agent, none from the server.
#  Any parse error or any other lint problem fails the test.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
# shellcheck source=/dev/null
. "$SRC/tests/infer/models-env.sh"
tb_init fc_metrics 90
command -v promtool >/dev/null || tb_skip "promtool missing (apt-get install prometheus)"
command -v curl >/dev/null || tb_skip "curl missing"
tb_require_mw
MPORT=$(( TB_PORTBASE + 150 ))
JPORT=$(( MPORT + 10 )) SPORT=$(( MPORT + 11 )) SEVENTS=$(( MPORT + 12 )) SMETRICS=$(( MPORT + 13 ))
for p in $JPORT $SPORT $SEVENTS $SMETRICS; do tb_port_free "$p" || tb_die "port $p in use"; done
#  The analysis server, on loopback (tracked, killed by the cleanup).
mkdir -p -m 700 "$TB_DIR/srv/state"
cat > "$TB_DIR/srv/server.conf" <<EOT
CLUSTER_KEY=$TB_KEY
NODE_NAME=server
STATE_DIR=$TB_DIR/srv/state
MESH_ADDR=127.0.0.1
VMS_PORT=$SPORT
EVENTS_PORT=$SEVENTS
METRICS_PORT=$SMETRICS
MODELS_DIR=$MODELS
LOG_FILE=$TB_DIR/srv/agent.log
LOG_LEVEL=info
EOT
tb_bg env "${TB_ENVU[@]}" "$TB_MW" analysis-server --config "$TB_DIR/srv/server.conf"
#  TUNE_ENABLE: the tuner's families (meshwatch_model_*) are on agent 1's
#  page, with the window of the jobs it runs (5 min: the scrape comes after
#  the escalations, however slow the host), and go through promtool too.
tb_start_agent_lo 1 "METRICS_PORT=$(( MPORT + 1 ))" "MODELS_DIR=$MODELS" "JOB_PORT=$JPORT" \
    "VMS_URL=127.0.0.1" "VMS_PORT=$SPORT" "ESCALATE_BELOW=0.95" "TUNE_ENABLE=1" "TUNE_WINDOW_MS=300000"
for i in 2 3; do tb_start_agent_lo "$i" "METRICS_PORT=$(( MPORT + i ))"; done
for i in 1 2 3; do tb_wait_ready "$i"; done
tb_wait_until 10 tb_all_alive 1 2 3 || tb_fail "no convergence"
srv_ready () { timeout 5 env "${TB_ENVU[@]}" "$TB_MW" status --state-dir "$TB_DIR/srv/state" --json 2>/dev/null | jq -e .jobs >/dev/null 2>&1; }
tb_wait_until 20 srv_ready || tb_fail "the analysis server never answered status"

#  Real jobs: three frames on agent 1, each escalated to the server.
for img in sample1 sample2 sample4; do
    out=$(timeout 30 env "${TB_ENVU[@]}" "$TB_MW" submit --camera n1-cam --image "$DEMO/$img.jpg" \
          --deadline-ms 3000 --state-dir "$TB_DIR/n1/state" --json 2>&1)
    [ "$(printf '%s' "$out" | jq -r .state 2>/dev/null)" = done ] || tb_fail "$img: job not done: $out"
done
precise () { [ "$(grep -c 'event=job_precise ' "$(tb_log_file 1)")" -ge 3 ]; }
tb_wait_until 30 precise || tb_fail "the escalations did not all come back from the server"
echo "PASS  agent 1 ran 3 jobs, the server ran the 3 escalations"
URL="http://127.0.0.1:$(( MPORT + 1 ))/metrics"
SURL="http://127.0.0.1:$SMETRICS/metrics"
#  /metrics is a snapshot refreshed once a second: wait until it holds what
#  is checked below (the jobs, both peers' forecasts, the server's runs),
#  not for a fixed time.
snap_ready () {
    local b; b=$(curl -s --max-time 5 "$URL") || return 1
    [ "$(grep -c '^meshwatch_peer_forecast_age_seconds{' <<<"$b")" = 2 ] &&
        grep -q '^meshwatch_job_latency_seconds_count{path="local"} [3-9]' <<<"$b" &&
        curl -s --max-time 5 "$SURL" | grep -q '^meshwatch_job_handoff_total{event="ran_for_peer"} [3-9]'
}
tb_wait_until 15 snap_ready || echo "note  the /metrics snapshots did not show every expected value within 15 s"
body=$(curl -s --max-time 5 "$URL") || tb_fail "GET /metrics failed"
printf '%s\n' "$body" > "$TB_DIR/metrics.txt"
lint=$(printf '%s\n' "$body" | promtool check metrics 2>&1); prc=$?
echo "promtool exit $prc"
[ "$prc" = 1 ] && tb_fail "promtool: parse error: $lint"
other=$(printf '%s\n' "$lint" | grep -v '^node_memory_Mem\(Total\|Available\)_bytes metric names should be written in .snake_case. not .camelCase.$' | grep -v '^$')
[ -z "$other" ] || tb_fail "promtool lint problems: $other"
echo "PASS  promtool check metrics (only the seed's two camelCase names flagged)"
for m in node_cpu_seconds_total node_memory_MemTotal_bytes node_memory_MemAvailable_bytes \
         node_disk_io_time_seconds_total node_network_receive_bytes_total node_network_transmit_bytes_total \
         meshwatch_members meshwatch_gossip_bytes_total meshwatch_rejected_messages_total \
         meshwatch_forecast meshwatch_peer_forecast_age_seconds \
         meshwatch_model_p90_seconds meshwatch_model_input_size meshwatch_model_tune_total; do
    grep -q "^# TYPE $m " <<<"$body" || tb_fail "family $m missing"
done
grep -q '^meshwatch_members{state="alive"} 3$' <<<"$body" || tb_fail "meshwatch_members alive != 3"
#  The tuner measured the jobs agent 1 ran: a p90 above zero for tiny-face.
grep -q '^meshwatch_model_p90_seconds{model="tiny-face"} [0-9.]*[1-9]' <<<"$body" \
    || tb_fail "meshwatch_model_p90_seconds has no measured window for tiny-face"
grep -q '^meshwatch_forecast{metric="cpu",horizon_seconds="30",bound="upper"} ' <<<"$body" || tb_fail "cpu forecast missing"
n=$(grep -c '^meshwatch_peer_forecast_age_seconds{' <<<"$body")
[ "$n" = 2 ] || tb_fail "forecast age for $n peers, want 2"
echo "PASS  seed names, meshwatch_* families, 2 peers' forecast ages"
#  The job latency histogram, in seconds, counts what agent 1 ran.
grep -q '^# TYPE meshwatch_job_latency_seconds histogram$' <<<"$body" || tb_fail "meshwatch_job_latency_seconds missing"
grep -q '^meshwatch_job_latency_ms' <<<"$body" && tb_fail "the old meshwatch_job_latency_ms is still there"
n=$(sed -n 's/^meshwatch_job_latency_seconds_count{path="local"} \([0-9]*\)$/\1/p' <<<"$body")
inf=$(sed -n 's/^meshwatch_job_latency_seconds_bucket{path="local",le="+Inf"} \([0-9]*\)$/\1/p' <<<"$body")
sum=$(sed -n 's/^meshwatch_job_latency_seconds_sum{path="local"} \([0-9.]*\)$/\1/p' <<<"$body")
[ "${n:-0}" -ge 3 ] && [ "$inf" = "$n" ] && awk -v s="$sum" -v n="$n" 'BEGIN { exit !(s > 0 && s / n < 10) }' ||
    tb_fail "job latency histogram: count=$n +Inf=$inf sum=$sum (want >= 3 jobs, sum in seconds)"
echo "PASS  meshwatch_job_latency_seconds{path=local}: $n jobs, $sum s in all"
#  The analysis server's /metrics.
sbody=$(curl -s --max-time 5 "$SURL") || tb_fail "GET the server's /metrics failed"
printf '%s\n' "$sbody" > "$TB_DIR/server-metrics.txt"
slint=$(printf '%s\n' "$sbody" | promtool check metrics 2>&1); src=$?
[ "$src" = 0 ] || tb_fail "promtool on the server's /metrics (exit $src): $slint"
ran=$(sed -n 's/^meshwatch_job_handoff_total{event="ran_for_peer"} \([0-9]*\)$/\1/p' <<<"$sbody")
[ "${ran:-0}" -ge 3 ] || tb_fail "the server's /metrics: ran_for_peer=$ran, want >= 3"
grep -q '^# TYPE meshwatch_job_latency_seconds histogram$' <<<"$sbody" || tb_fail "server: no job latency histogram"
echo "PASS  the analysis server's /metrics passes promtool with no lint; ran_for_peer=$ran"

code () { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
c=$(code "http://127.0.0.1:$(( MPORT + 1 ))/nope"); [ "$c" = 404 ] || tb_fail "wrong path: HTTP $c, want 404"
c=$(code -X POST -d x "$URL"); [ "$c" = 405 ] || tb_fail "POST: HTTP $c, want 405"
c=$(code -X DELETE "$URL"); [ "$c" = 405 ] || tb_fail "DELETE: HTTP $c, want 405"
big=$(head -c 65536 /dev/zero | tr '\0' a)
c=$(code -H "X-Big: $big" "$URL"); case $c in 4??) ;; *) tb_fail "64 KiB header: HTTP $c, want 4xx";; esac
echo "PASS  bad requests: 404 / 405 / 405 / $c"
#  Raw garbage on the socket must not hurt either.
python3 - "$(( MPORT + 1 ))" <<'PY' || tb_fail "garbage request handling"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x00\xff garbage \r\n\r\n")
try:
    data = s.recv(100)
except socket.timeout:
    data = b""
s.close()
print("garbage ->", data[:40])
sys.exit(0 if data == b"" or data.startswith(b"HTTP/1.1 4") else 1)
PY
c=$(code "$URL"); [ "$c" = 200 ] || tb_fail "endpoint dead after bad requests (HTTP $c)"
tb_alive_pid 1 || tb_fail "agent 1 died"
echo "PASS  still serving after bad requests"
echo "RESULT: PASS ($TB_NAME)"
