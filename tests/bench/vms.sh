#!/usr/bin/env bash
#  vms.sh - the VMS interface benchmark (not in `make check`; needs root for
#  the test bed's conventions, no models).  20 loopback agents in one mesh;
#  agent 1 serves the API (its log keeps 250,000 events).  Measures, on this
#  machine (tests/bench/vms_bench.py does the clients):
#    1. GET /api/v1/state at N = 20 members: without and with If-None-Match
#       (304), 2,000 each on one keep-alive connection, p50/p99;
#    2. event delivery latency at 500 results/s for 20 s: from the moment
#       the result is produced (the event's ts_ms, stamped by the agent when
#       POST /api/v1/env publishes it; the POST's answer waits for the
#       commit) to its arrival at an SSE client and at a ZeroMQ subscriber,
#       p50/p99 (targets: p50 <= 20 ms, p99 <= 250 ms);
#    3. replay of 100,000 events from a cursor: GET /api/v1/events pages,
#       the SSE stream, and `meshwatch events --since` (events/s).
#  Prints one markdown table.  usage: tests/bench/vms.sh [--rate R] [--secs S] [--replay N]
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
RATE=500 SECS=20 REPLAY=100000 NODES=20
while [ $# -gt 0 ]; do
    case $1 in
        --rate) RATE=$2; shift 2 ;;
        --secs) SECS=$2; shift 2 ;;
        --replay) REPLAY=$2; shift 2 ;;
        --nodes) NODES=$2; shift 2 ;;
        *) echo "usage: $0 [--rate R] [--secs S] [--replay N] [--nodes N]" >&2; exit 2 ;;
    esac
done
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/vms/vms_lib.sh"
tb_hard_timeout 900 --rate "$RATE" --secs "$SECS" --replay "$REPLAY" --nodes "$NODES"
tb_init vms_bench 34
tb_require_mw
AP=$(( TB_PORTBASE + 150 ))
tb_port_free "$AP" || tb_die "port $AP in use"
API="http://127.0.0.1:$AP"
PUB="tcp://127.0.0.1:$(( TB_PORTBASE + 1 ))"
B="$TB_PY $SRC/tests/bench/vms_bench.py"
tb_start_agent_lo 1 "API_PORT=$AP" "EVENTS_KEEP=250000"
tb_wait_ready 1 20
vm_token 1 bench >/dev/null
TOK="$TB_DIR/token-bench"
for i in $(seq 2 "$NODES"); do tb_start_agent_lo "$i"; done
all=$(seq 1 "$NODES" | tr '\n' ' ')
# shellcheck disable=SC2086
tb_wait_until 90 tb_all_alive $all || tb_fail "$NODES agents did not converge"
members_ok () { [ "$(curl -s -H "Authorization: Bearer $(cat "$TOK")" "$API/api/v1/state" | jq '.members | length')" = "$NODES" ]; }
tb_wait_until 10 members_ok || tb_fail "GET /api/v1/state does not list $NODES members"
sleep 3   #  forecasts in every digest

tb_log "GET /api/v1/state at N=$NODES"
st=$($B state --api "$API" --token-file "$TOK" --n 2000) || tb_fail "state bench"
tb_log "latency at $RATE events/s for $SECS s"
lat=$($B latency --api "$API" --pub "$PUB" --token-file "$TOK" --rate "$RATE" --secs "$SECS") || tb_fail "latency bench"
have=$(vm_log_last "$API" "$(cat "$TOK")")
if [ "$have" -lt "$REPLAY" ]; then
    tb_log "filling the log to $REPLAY events"
    fill=$($B fill --api "$API" --token-file "$TOK" --count $(( REPLAY - have + 10 ))) || tb_fail "fill"
fi
tb_log "replay of $REPLAY events from cursor 0"
rep=$($B replay --api "$API" --token-file "$TOK" --count "$REPLAY" --pub "$PUB" --mw "$TB_MW") || tb_fail "replay bench"
st200=($(echo "$st" | grep '^state200')); st304=($(echo "$st" | grep '^state304'))
sse=($(echo "$lat" | grep '^sse ')); zmq=($(echo "$lat" | grep '^zmq ')); prod=($(echo "$lat" | grep '^produced'))
rl=($(echo "$rep" | grep '^replay_list')); rs=($(echo "$rep" | grep '^replay_sse')); rc=($(echo "$rep" | grep '^replay_cli'))
cores=$(nproc)
echo
echo "VMS interface benchmark ($(date -u +%Y-%m-%d), $cores cores, $NODES loopback agents in one mesh, agent 1 serving the API)"
echo
echo "| measure | n | p50 | p99 | max | target |"
echo "|---|---|---|---|---|---|"
printf '| result -> SSE client, %s events/s (achieved %s) | %s | %s ms | %s ms | %s ms | p50 <= 20 ms, p99 <= 250 ms |\n' \
    "$RATE" "${prod[2]}" "${sse[4]}" "${sse[1]}" "${sse[2]}" "${sse[3]}"
printf '| result -> ZeroMQ subscriber, same run | %s | %s ms | %s ms | %s ms | p50 <= 20 ms, p99 <= 250 ms |\n' \
    "${zmq[4]}" "${zmq[1]}" "${zmq[2]}" "${zmq[3]}"
printf '| GET /api/v1/state, N=%s members (%s bytes) | %s | %s ms | %s ms | %s ms | - |\n' \
    "${st200[6]}" "${st200[5]}" "${st200[4]}" "${st200[1]}" "${st200[2]}" "${st200[3]}"
printf '| GET /api/v1/state with If-None-Match (%s of %s answered 304) | %s | %s ms | %s ms | %s ms | 304 p99 <= 5 ms |\n' \
    "${st304[5]}" "${st304[4]}" "${st304[4]}" "${st304[1]}" "${st304[2]}" "${st304[3]}"
echo
echo "| replay of events from cursor 0 | events | events/s |"
echo "|---|---|---|"
printf '| GET /api/v1/events, pages of 1000 | %s | %s |\n' "${rl[1]}" "${rl[2]}"
printf '| GET /api/v1/events/stream (SSE) | %s | %s |\n' "${rs[1]}" "${rs[2]}"
printf '| meshwatch events --since 0 --json (API replay, printed) | %s | %s |\n' "${rc[1]}" "${rc[2]}"
echo
tb_status 1 | jq -c '.vms.log'
