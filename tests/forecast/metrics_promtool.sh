#!/usr/bin/env bash
#  metrics_promtool: 3 loopback agents with METRICS_PORT; the live /metrics
#  of one of them must pass `promtool check metrics`, carry the seed's
#  node_* names and the meshwatch_* families; bad requests (wrong path,
#  wrong method, a 64 KiB header) get a clean HTTP error and the endpoint
#  keeps serving.
#
#  promtool 2.42 lints node_memory_MemTotal_bytes and
#  node_memory_MemAvailable_bytes as "camelCase"; those two names are the
#  seed's (and node_exporter's own) and are required verbatim, so exactly
#  those two lint lines are accepted.  Any parse error or any other lint
#  problem fails the test.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
tb_init fc_metrics 90
command -v promtool >/dev/null || tb_skip "promtool missing (apt-get install prometheus)"
command -v curl >/dev/null || tb_skip "curl missing"
tb_require_mw
MPORT=$(( TB_PORTBASE + 150 ))
for i in 1 2 3; do tb_start_agent_lo "$i" "METRICS_PORT=$(( MPORT + i ))"; done
for i in 1 2 3; do tb_wait_ready "$i"; done
tb_wait_until 10 tb_all_alive 1 2 3 || tb_fail "no convergence"
URL="http://127.0.0.1:$(( MPORT + 1 ))/metrics"
#  Two collect ticks so forecasts and peers' digests are in.
sleep 2.5
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
         meshwatch_forecast meshwatch_peer_forecast_age_seconds; do
    grep -q "^# TYPE $m " <<<"$body" || tb_fail "family $m missing"
done
grep -q '^meshwatch_members{state="alive"} 3$' <<<"$body" || tb_fail "meshwatch_members alive != 3"
grep -q '^meshwatch_forecast{metric="cpu",horizon_seconds="30",bound="upper"} ' <<<"$body" || tb_fail "cpu forecast missing"
n=$(grep -c '^meshwatch_peer_forecast_age_seconds{' <<<"$body")
[ "$n" = 2 ] || tb_fail "forecast age for $n peers, want 2"
echo "PASS  seed names, meshwatch_* families, 2 peers' forecast ages"

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
