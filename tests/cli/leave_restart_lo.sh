#!/usr/bin/env bash
#  leave_restart_lo: `meshwatch leave` returns only when the agent has
#  exited and its ports are free, so a restart right after it succeeds.
#
#  Two loopback agents; agent 1 listens on all four ports (MESH, EVENTS,
#  JOB, METRICS).  Five times in a row: `meshwatch leave` (exit 0); at the
#  moment it returns, agent 1's process has exited and all four ports are
#  free; agent 2 lists agent 1 as left (the leave reached the mesh); then
#  agent 1 is restarted at once on the same ports and STATE_DIR, and
#  agent 2 must see it alive at a higher incarnation than before (the
#  restart, not stale state).  Last, the timeout: `leave --timeout-s 2`
#  to an agent that answers but does not exit must give up after about
#  2 s with exit 1 and say
#  so (an agent held in its last system call by strace), and the agent
#  exits afterwards.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/cli/cli_lib.sh"
tb_init leave_restart_lo 87
tb_require_mw

JOBP=$(( TB_PORTBASE + 120 ))
METP=$(( TB_PORTBASE + 121 ))
tb_start_agent_lo 1 "JOB_PORT=$JOBP" "METRICS_PORT=$METP"
tb_start_agent_lo 2
tb_wait_ready 1
tb_wait_ready 2
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the two agents did not converge"
S1=$(tb_state_dir 1)
PORTS="$(tb_mesh_port 1) $(tb_events_port 1) $JOBP $METP"
busy_ports () { local p out=""; for p in $PORTS; do tb_port_free "$p" || out="$out $p"; done; echo "${out# }"; }
[ -n "$(busy_ports)" ] && [ "$(busy_ports)" = "$PORTS" ] && cl_pass "agent 1 listens on $PORTS (mesh, events, job, metrics)" ||
    tb_fail "agent 1 does not listen on all of $PORTS (listening: $(busy_ports))"

for round in 1 2 3 4 5; do
    echo "---- round $round"
    inc=$(cl_view 2 1 | awk '{print $2}')
    pid=$(tb_pid 1)
    t0=$(tb_now_ms)
    cl_run "$TB_MW" leave --state-dir "$S1"
    ms=$(( $(tb_now_ms) - t0 ))
    #  Right now, before anything else: is it gone, are the ports free?
    gone=no; cl_pid_gone "$pid" && gone=yes
    busy=$(busy_ports)
    if [ "$CL_RC" = 0 ] && [ "$gone" = yes ] && [ -z "$busy" ]; then
        cl_pass "leave returned in $ms ms with agent 1 (pid $pid) exited and its 4 ports free"
    else
        cl_failc "leave: exit $CL_RC after $ms ms, process exited: $gone, ports still busy: '$busy', stderr '$(cl_err1)'"
    fi
    tb_term 1 5   #  reaps it (and kills it if the leave did not work)
    rc=$?
    [ "$rc" = 0 ] && cl_pass "agent 1 exit code 0" || cl_failc "agent 1 exit code $rc"
    left () { [ "$(cl_view 2 1 | awk '{print $1}')" = left ]; }
    tb_wait_until 3 left && cl_pass "agent 2 lists agent 1 as left" || cl_failc "agent 2 lists agent 1 as '$(cl_view 2 1)'"
    #  At once, same ports, same STATE_DIR.
    tb_restart_agent 1
    back () { local v; v=$(cl_view 2 1); [ "${v%% *}" = alive ] && [ "${v##* }" -gt "$inc" ]; }
    if tb_wait_until 20 back && tb_alive_pid 1; then
        cl_pass "restarted at once: agent 2 sees agent 1 alive at incarnation $(cl_view 2 1 | awk '{print $2}') (> $inc), $TB_WAIT_MS ms"
    else
        cl_failc "restart after leave: agent 2 lists agent 1 as '$(cl_view 2 1)'; agent 1 said: $(tail -2 "$(tb_node_dir 1)/stdout.log" | tr '\n' '|')"
        break
    fi
    #  The next leave must have someone to tell: agent 1's own view must
    #  hold agent 2 again (agent 2 seeing agent 1 is only half the join;
    #  an agent that knows no peer leaves at once, and agent 2 would then
    #  find it dead, not left).
    tb_wait_until 20 tb_all_alive 1 2 || cl_failc "restarted agent 1 does not see agent 2 alive within 20 s"
    [ "$(busy_ports)" = "$PORTS" ] && cl_pass "restarted agent 1 listens on all 4 ports again" ||
        cl_failc "restarted agent 1 listens only on '$(busy_ports)'"
done
if grep -q "in use" "$(tb_node_dir 1)/stdout.log"; then
    cl_failc "an agent start said a port or STATE_DIR was in use: $(grep "in use" "$(tb_node_dir 1)/stdout.log" | head -2)"
fi

echo "---- leave --timeout-s: an agent that answers but does not exit"
#  strace holds the agent's very last system call (exit_group) for 4 s:
#  the agent has answered, torn down and released its lock, but its
#  process is still there, so the wait must run into --timeout-s.
DELAY=(strace -f -qq --seccomp-bpf -o /dev/null -e trace=exit_group -e inject=exit_group:delay_enter=4000000)
if ! command -v strace >/dev/null ||
    ! strace -f -qq --seccomp-bpf -o /dev/null -e trace=exit_group -e inject=exit_group:delay_enter=1 true 2>/dev/null; then
    echo "SKIP  leave --timeout-s (no strace with --seccomp-bpf and syscall delay injection here)"
else
    cl_run "$TB_MW" leave --state-dir "$S1"
    tb_term 1 5
    TB_AGENT_WRAPPER=("${DELAY[@]}")
    tb_restart_agent 1
    TB_AGENT_WRAPPER=()
    #  Ready: the agent (strace's child, not strace) holds the lock and
    #  answers.
    #  tb_cleanup stops strace by PID; a TERMed strace detaches and would
    #  leave the agent running: track the agent itself too, at once.
    apid=""
    answers () {
        if [ -z "$apid" ]; then
            apid=$(pgrep -P "$(tb_pid 1)" | head -1)
            [ -n "$apid" ] && TB_BG_PIDS+=("$apid")
        fi
        [ -n "$apid" ] && [ "$(tr -d '\n' < "$S1/agent.lock")" = "$apid" ] &&
            [ -n "$(tb_status 1 | jq -r '.id // empty')" ]
    }
    tb_wait_until 10 answers || tb_fail "agent 1 under strace does not answer (pid ${apid:-?})"
    t0=$(tb_now_ms)
    cl_run "$TB_MW" leave --state-dir "$S1" --timeout-s 2
    ms=$(( $(tb_now_ms) - t0 ))
    if [ "$CL_RC" = 1 ] && [[ $CL_ERR == *"(PID $apid) has not exited 2 s after"* ]] && [ "$ms" -ge 1900 ] &&
        [ "$ms" -le 4000 ]; then
        cl_pass "leave --timeout-s 2 on an agent stuck in exit: exit 1 after $ms ms: \"$(cl_err1)\""
    else
        cl_failc "leave --timeout-s 2 on an agent stuck in exit: exit $CL_RC after $ms ms, '$(cl_err1)' (agent pid $apid)"
    fi
    exited () { cl_pid_gone "$apid"; }
    tb_wait_until 10 exited && cl_pass "the agent exits once strace lets it" || cl_failc "agent $apid did not exit"
    tb_term 1 5   #  reaps strace (kills it if something went wrong above)
fi
cl_finish
