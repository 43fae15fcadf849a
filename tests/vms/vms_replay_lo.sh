#!/usr/bin/env bash
#  vms_replay_lo: the durable event log under a VMS that keeps crashing, and
#  a box that is killed.
#
#  Three loopback agents (a mesh); agent 1 serves the API.  10,000 results
#  (POST /api/v1/env: an env.report each, answered 202 once committed) go
#  into agent 1's log while two subscribers follow it and are killed with
#  SIGKILL at random moments and started again, 100 times each:
#    - a Python SSE client (tests/vms/sse_client.py) that resumes with
#      Last-Event-ID from the last event it wrote;
#    - `meshwatch events --connect ... --since CURSOR --api ...`, the
#      ZeroMQ subscriber, started again with the last seq it printed.
#  Midway agent 1 itself is killed with SIGKILL and started again on the
#  same STATE_DIR.  Then (tests/vms/check_replay.py): the log is seq 1..N
#  without a hole in one epoch (seq went on after the kill); every
#  acknowledged result is in it with its value; and what each subscriber
#  received, union over its sessions, is exactly the log, in order inside
#  each session, with duplicates only where a session resumed.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/vms/vms_lib.sh"
tb_hard_timeout 170 "$@"
tb_init vms_replay_lo 30
tb_require_mw
command -v curl >/dev/null || tb_skip "curl missing"
N=${VM_EVENTS:-10000}
KILLS=${VM_KILLS:-100}
AP=$(( TB_PORTBASE + 100 ))
tb_port_free "$AP" || tb_die "port $AP in use"
API="http://127.0.0.1:$AP"
EP="tcp://127.0.0.1:$(( TB_PORTBASE + 1 ))"
FAST=("PROBE_INTERVAL_MS=200" "PROBE_TIMEOUT_MS=100")

tb_start_agent_lo 1 "${FAST[@]}" "API_PORT=$AP"
tb_wait_ready 1 20
vm_token 1 vms >/dev/null
TOK="$TB_DIR/token-vms"
tb_start_agent_lo 2 "${FAST[@]}"
tb_start_agent_lo 3 "${FAST[@]}"
tb_wait_until 20 tb_all_alive 1 2 3 || tb_fail "mesh of 3 did not converge"

echo "---- $N results while two subscribers are killed $KILLS times each, and the box once"
DONE="$TB_DIR/done"
SSE_OUT="$TB_DIR/sse.out"
ZMQ_OUT="$TB_DIR/zmq.out"
#  The SSE client's kill clock starts once its stream is open (chaos.py).
tb_bg "$TB_PY" "$SRC/tests/vms/chaos.py" --mode sse --out "$SSE_OUT" --kills "$KILLS" --seed 1 --done "$DONE" \
    --min-ms 20 --max-ms 300 \
    -- --api "$API" --token-file "$TOK"
CH_SSE=$!
tb_bg "$TB_PY" "$SRC/tests/vms/chaos.py" --mode zmq --out "$ZMQ_OUT" --kills "$KILLS" --seed 2 --done "$DONE" \
    -- env "${TB_ENVU[@]}" "$TB_MW" events --connect "$EP" --api "$API" --token-file "$TOK" --json
CH_ZMQ=$!
ACKED="$TB_DIR/acked"
#  Spread over the kills (~30 s): results keep coming while they happen.
tb_bg "$TB_PY" "$SRC/tests/vms/produce.py" --api "$API" --token-file "$TOK" --count "$N" --rate 350 --conns 4 \
    --acked "$ACKED"
PROD=$!
acked_over () { [ "$(wc -l 2>/dev/null < "$ACKED" || echo 0)" -ge "$1" ]; }
tb_wait_until 40 acked_over $(( N * 2 / 5 )) || tb_fail "fewer than $(( N * 2 / 5 )) results acknowledged in 40 s"
before=$(wc -l < "$ACKED")
tb_kill9 1
tb_log "agent 1 killed (-9) after $before acknowledged results"
sleep 0.5
tb_restart_agent 1
tb_wait_ready 1 20
wait "$PROD"; prc=$?
[ "$prc" = 0 ] && vm_pass "$(wc -l < "$ACKED") results acknowledged (agent 1 killed with -9 after $before)" ||
    vm_failc "the producer ended with $prc after $(wc -l < "$ACKED") acknowledged"
#  Let the chaos finish its kills, then wait for both subscribers to hold
#  the log's last event (the log is quiet now but for membership).
caught_up () {
    local last; last=$(vm_log_last "$API" "$(cat "$TOK")")
    [ "$last" -ge "$N" ] && [ "$(vm_out_last "$SSE_OUT")" -ge "$last" ] && [ "$(vm_out_last "$ZMQ_OUT")" -ge "$last" ]
}
tb_wait_until 60 caught_up || vm_failc "subscribers did not catch up: log $(vm_log_last "$API" "$(cat "$TOK")"), sse $(vm_out_last "$SSE_OUT"), zmq $(vm_out_last "$ZMQ_OUT")"
touch "$DONE"
wait "$CH_SSE"; r1=$?
wait "$CH_ZMQ"; r2=$?
[ "$r1" = 0 ] && [ "$r2" = 0 ] || vm_failc "a chaos driver failed ($r1 $r2)"

echo "---- the log, the acknowledged results and both subscribers"
if "$TB_PY" "$SRC/tests/vms/check_replay.py" --api "$API" --token-file "$TOK" --min "$N" --acked "$ACKED" \
    --sse "$SSE_OUT" --zmq "$ZMQ_OUT"; then
    vm_pass "log complete, every acknowledged event kept, both subscribers got it all in order"
else
    vm_failc "replay check"
fi
grep -c '"resume"' "$ZMQ_OUT" | xargs -I{} echo "      zmq sessions: {}"
vm_finish
