#!/usr/bin/env bash
#  usage_post: the seed's usage POST.  A real HTTP receiver on loopback
#  (tests/forecast/usage_receiver.py) gets POSTs from agent n1
#  (USAGE_INTERVAL=1); the test checks the exact fields and their types:
#      {"code":"0000","message":"처리성공","username":"n1","cpu":<number>,"memory":<number>}
#  (no other key, cpu/memory numbers in 0..100, path /usage, JSON content type).
#  Then the receiver hangs (accepts, never answers), then is stopped; in
#  both phases, for 6 s each, the agent must keep answering `members`
#  (every call < MAX_CLI_MS) and keep gossiping (n2 holds n1 alive with a
#  digest younger than MAX_AGE_MS, and n1's msgs_out grows).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
tb_init fc_usage 91
tb_require_mw
MAX_CLI_MS=${MAX_CLI_MS:-1000}   # a stalled loop would show the 2 s POST timeout
MAX_AGE_MS=${MAX_AGE_MS:-3000}
RPORT=$(( TB_PORTBASE + 150 ))
OUT="$TB_DIR/posts.jsonl"
: > "$OUT"
start_receiver () {
    tb_bg python3 "$SRC/tests/forecast/usage_receiver.py" "$RPORT" "$OUT" "$1"
    RPID=$!
    tb_wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RPORT" 2>/dev/null || tb_fail "receiver ($1) did not start"
}
stop_receiver () { kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null; }

start_receiver ok
#  DIGEST_MAX_AGE_MS=0: n1 publishes every sample (an idle box would
#  otherwise publish every 3 s), so its digest's age at n2 shows its loop
#  turning every second.
tb_start_agent_lo 1 "USAGE_URL=http://127.0.0.1:$RPORT/usage" "USAGE_INTERVAL=1" "DIGEST_MAX_AGE_MS=0"
tb_start_agent_lo 2
tb_wait_ready 1; tb_wait_ready 2
tb_wait_until 10 tb_all_alive 1 2 || tb_fail "no convergence"
posts () { grep -c '"body"' "$OUT"; }
#  A function, so the count is read again on every poll.
enough_posts () { [ "$(posts)" -ge 3 ]; }
tb_wait_until 10 enough_posts || tb_fail "fewer than 3 POSTs in 10 s ($(posts))"
python3 - "$OUT" <<'PY' || tb_fail "usage POST fields"
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if "body" not in r:
        continue
    assert r["path"] == "/usage", r["path"]
    assert r["content_type"].startswith("application/json"), r["content_type"]
    b = json.loads(r["body"])
    assert list(b.keys()) == ["code", "message", "username", "cpu", "memory"], list(b.keys())
    assert b["code"] == "0000" and isinstance(b["code"], str), b
    assert b["message"] == "처리성공", b
    assert b["username"] == "n1", b
    for k in ("cpu", "memory"):
        v = b[k]
        assert isinstance(v, (int, float)) and not isinstance(v, bool), (k, v)
        assert 0 <= v <= 100, (k, v)
    n += 1
print(f"PASS  {n} POSTs with exactly code/message/username/cpu/memory, right types")
PY

n1id=$(tb_id 1)
#  One check round: members answers fast, n2 holds a fresh digest of n1.
check_live () {
    local phase=$1 t_end=$(( $(tb_now_ms) + 6000 )) worst=0 worst_age=0 calls=0 out0 out1
    out0=$(tb_stat 1 .stats.msgs_out)
    while [ "$(tb_now_ms)" -lt "$t_end" ]; do
        local t0; t0=$(tb_now_ms)
        tb_members 1 >/dev/null || tb_fail "$phase: members did not answer"
        local dt=$(( $(tb_now_ms) - t0 ))
        [ $dt -gt $worst ] && worst=$dt
        local age; age=$(tb_members 2 | jq -r --arg id "$n1id" '.[] | select(.id == $id and .state == "alive") | .load.age_ms // empty')
        [ -n "$age" ] || tb_fail "$phase: n2 does not hold n1 alive with a digest"
        [ "$age" -gt "$worst_age" ] && worst_age=$age
        calls=$(( calls + 1 ))
        sleep 0.2
    done
    out1=$(tb_stat 1 .stats.msgs_out)
    echo "$phase: $calls members calls, slowest $worst ms (bound $MAX_CLI_MS); n1's digest at n2 at most $worst_age ms old (bound $MAX_AGE_MS); msgs_out $out0 -> $out1"
    [ $worst -le "$MAX_CLI_MS" ] || tb_fail "$phase: members took $worst ms"
    [ "$worst_age" -le "$MAX_AGE_MS" ] || tb_fail "$phase: digest age $worst_age ms"
    [ "$out1" -gt "$out0" ] || tb_fail "$phase: n1 stopped sending"
    echo "PASS  $phase: no stall"
}
stop_receiver
t_hang=$(tb_now_ms)
start_receiver hang
check_live "receiver hangs"
hung=$(grep -c '"hang"' "$OUT")
[ "$hung" -ge 1 ] || tb_fail "the poster never reached the hanging receiver"
stop_receiver
check_live "receiver stopped"
#  The failure line must come from this run of failures (hang, then
#  stopped), not from any earlier one.
last_fail=$(tb_last_line_ms usage_post_failed 1) || tb_fail "failure not logged"
[ "$last_fail" -ge "$t_hang" ] || tb_fail "no failure logged since the receiver began to hang"
[ "$(grep -c 'event=usage_post_failed' "$(tb_log_file 1)")" -le 2 ] || tb_fail "failure logged on every attempt"
#  Graceful stop with the receiver gone: no hang at exit.
t0=$(tb_now_ms); tb_term 1 5; rc=$?
[ $rc = 0 ] || tb_fail "agent 1 exit code $rc at stop"
echo "PASS  agent stopped in $(( $(tb_now_ms) - t0 )) ms"
echo "RESULT: PASS ($TB_NAME)"
