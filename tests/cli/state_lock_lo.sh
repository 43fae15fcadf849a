#!/usr/bin/env bash
#  state_lock_lo: one agent per STATE_DIR.
#
#  Two loopback agents (1 and 2).  Then, on agent 1's STATE_DIR (each on
#  ports of its own, so that no port clash can be the reason):
#    - a second agent, by the same path, through a symlink, with a
#      trailing slash, and as MESHWATCH_STATE_DIR;
#    - an analysis server;
#  each must refuse to start within a few seconds, exit non-zero, and name
#  agent 1's PID ("STATE_DIR X is in use by PID N").  Agent 1 must be
#  unaffected: same process, its control socket the same file (not
#  unlinked and re-bound), node key and incarnation unchanged, still
#  answering; and agent 2 must list it alive at the same incarnation and
#  never as suspect, dead or left.  A refused agent writes nothing to
#  agent 1's log.  Then kill -9 agent 1: the kernel drops the lock, a
#  restart on the same STATE_DIR succeeds (same id, higher incarnation) and
#  the next intruder is refused naming the new PID.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/cli/cli_lib.sh"
tb_init state_lock_lo 86
tb_require_mw

tb_start_agent_lo 1
tb_start_agent_lo 2
tb_wait_ready 1
tb_wait_ready 2
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the two agents did not converge"
S1=$(tb_state_dir 1)
PID1=$(tb_pid 1)
ID1=$(tb_id 1)
INC1=$(cl_view 2 1 | awk '{print $2}')
SOCK_INODE=$(stat -c %i "$S1/control.sock")
KEY_SUM=$(sha256sum < "$S1/node.key")
LOG1=$(tb_log_file 1)
LOG_LINES=$(wc -l < "$LOG1")
tb_log "agent 1: pid $PID1 id $ID1, incarnation $INC1 in agent 2's view"
[ "$(tr -d '\n' < "$S1/agent.lock")" = "$PID1" ] && cl_pass "agent.lock holds agent 1's PID" ||
    cl_failc "agent.lock holds '$(cat "$S1/agent.lock")', not $PID1"

P=$(( TB_PORTBASE + 100 ))
ln -s "$S1" "$TB_DIR/alias"
#  intruder NAME WANT_PID CMD...: refused fast, naming WANT_PID, with none
#  of its ports ever listening.
intruder () {
    local name=$1 want=$2; shift 2
    local t0; t0=$(tb_now_ms)
    cl_run "$@"
    local ms=$(( $(tb_now_ms) - t0 ))
    local msg="is in use by PID $want"
    if [ "$CL_RC" != 0 ] && [ "$CL_RC" != 124 ] && [[ $CL_ERR == *"$msg"* ]] && [ "$ms" -lt 5000 ] &&
        tb_port_free "$P" && tb_port_free $(( P + 1 )); then
        cl_pass "$name refused in $ms ms, exit $CL_RC: \"$(cl_err1)\""
    else
        cl_failc "$name: exit $CL_RC after $ms ms, stderr '$(cl_err1)' (want '$msg')"
    fi
}
CFG1=$(tb_node_dir 1)/agent.conf
OTHER=(--mesh-port "$P" --events-port $(( P + 1 )) --job-port 0 --log-file "$TB_DIR/intruder.log")
intruder "second agent, same config" "$PID1" "$TB_MW" agent --config "$CFG1" "${OTHER[@]}"
intruder "second agent via a symlink" "$PID1" "$TB_MW" agent --config "$CFG1" "${OTHER[@]}" --state-dir "$TB_DIR/alias"
intruder "second agent, trailing slash" "$PID1" "$TB_MW" agent --config "$CFG1" "${OTHER[@]}" --state-dir "$S1/"
intruder "second agent, MESHWATCH_STATE_DIR" "$PID1" env MESHWATCH_STATE_DIR="$S1" "$TB_MW" agent \
    --cluster-key "$TB_KEY" --mesh-addr 127.0.0.1 "${OTHER[@]}"
intruder "analysis server" "$PID1" "$TB_MW" analysis-server --cluster-key "$TB_KEY" --mesh-addr 127.0.0.1 \
    --vms-port "$P" --events-port 0 --models-dir "$TB_DIR" --state-dir "$S1"
[ ! -e "$TB_DIR/intruder.log" ] && cl_pass "no refused process wrote a log file" ||
    cl_failc "a refused process wrote $TB_DIR/intruder.log: $(head -2 "$TB_DIR/intruder.log")"
new_lines=$(tail -n +$(( LOG_LINES + 1 )) "$LOG1" | grep -c "event=start_failed\|event=agent_started\|event=node_key_created")
[ "$new_lines" = 0 ] && cl_pass "agent 1's log has no line from an intruder" ||
    cl_failc "agent 1's log has $new_lines start lines since the intruders"

echo "---- agent 1 unaffected"
[ "$(tb_pid 1)" = "$PID1" ] && tb_alive_pid 1 && cl_pass "agent 1 is the same process" ||
    cl_failc "agent 1 is not running any more"
[ "$(stat -c %i "$S1/control.sock" 2>/dev/null)" = "$SOCK_INODE" ] &&
    cl_pass "control socket is the same file (not unlinked, not re-bound)" || cl_failc "control socket replaced"
[ "$(sha256sum < "$S1/node.key")" = "$KEY_SUM" ] && cl_pass "node key unchanged" || cl_failc "node key changed"
st=$(tb_status 1)
[ "$(printf '%s' "$st" | jq -r .id)" = "$ID1" ] && cl_pass "agent 1 answers status with its id" ||
    cl_failc "agent 1 status: $(printf '%s' "$st" | head -c 200)"
#  The harm this prevents showed in the peer's view (agent 1 listed as
#  left): watch it for 3 s, not just once.
bad=0
for _ in $(seq 15); do
    cl_still_member 2 1 "$INC1" || { bad=1; break; }
    sleep 0.2
done
[ "$bad" = 0 ] && cl_pass "agent 2 lists agent 1 alive at incarnation $INC1 for 3 s, never suspect/dead/left" ||
    cl_failc "agent 2 lists agent 1 as '$(cl_view 2 1)' (was alive $INC1), $(cl_left_events 2 1) suspect/dead/left lines"

echo "---- kill -9: the kernel releases the lock"
tb_kill9 1
tb_restart_agent 1
#  (jq -e is true on empty input: compare the text.)
restarted () { [ "$(tb_status 1 | jq -r '.id // empty')" = "$ID1" ]; }
if tb_wait_until 10 restarted; then
    cl_pass "restart on the same STATE_DIR after kill -9 answers with the same id"
else
    cl_failc "no restart after kill -9: $(tail -3 "$(tb_node_dir 1)/stdout.log")"
fi
PID1B=$(tb_pid 1)
higher () { local v; v=$(cl_view 2 1); [ "${v%% *}" = alive ] && [ "${v##* }" -gt "$INC1" ]; }
tb_wait_until 20 higher && cl_pass "agent 2 sees the restarted agent 1 alive at a higher incarnation ($(cl_view 2 1))" ||
    cl_failc "agent 2 lists the restarted agent 1 as '$(cl_view 2 1)'"
[ "$(tr -d '\n' < "$S1/agent.lock")" = "$PID1B" ] && cl_pass "agent.lock names the new PID $PID1B" ||
    cl_failc "agent.lock holds '$(cat "$S1/agent.lock")', not $PID1B"
intruder "second agent after the restart" "$PID1B" "$TB_MW" agent --config "$CFG1" "${OTHER[@]}"
tb_alive_pid 1 && cl_pass "restarted agent 1 still running" || cl_failc "restarted agent 1 is gone"
cl_finish
