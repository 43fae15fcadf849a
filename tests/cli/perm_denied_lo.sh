#!/usr/bin/env bash
#  perm_denied_lo: the CLI tells "permission denied" from "no agent" from
#  "not answering".
#
#  Two root loopback agents (STATE_DIR owner-only, as always).  As user
#  nobody (setpriv): status, members, jobs, load, leave and submit exit 4
#  with "permission denied" (not "no agent ... is it running?"), and the
#  agent does not leave.  With the STATE_DIR opened up (0755) but the
#  socket still 0600, the refusal comes from the socket itself: exit 4
#  too.  As root: a STATE_DIR with no socket is "no agent" (exit 3); a
#  stopped agent (SIGSTOP) "did not answer" (exit 3); a killed agent's
#  stale socket "no agent running ... stale" (exit 3); and nobody asking
#  a STATE_DIR that does not exist gets "no agent", not "denied".
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/cli/cli_lib.sh"
tb_init perm_denied_lo 89
tb_require_mw
command -v setpriv >/dev/null || tb_skip "setpriv missing (util-linux)"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
"${NOBODY[@]}" true 2>/dev/null || tb_skip "cannot switch to uid 65534 here"

#  A copy of the binary nobody can run (the build tree may not be
#  reachable for it), in a world-readable folder of its own.
PUB=$(mktemp -d /tmp/tb-perm-pub-XXXXXX) || tb_die "mktemp"
trap 'tb_cleanup; rm -rf "$PUB"' EXIT
chmod 755 "$PUB"
cp "$TB_MW" "$PUB/meshwatch" && chmod 755 "$PUB/meshwatch" || tb_die "copy the binary"
head -c 1000 /dev/urandom > "$PUB/frame.jpg"   #  the CLI reads it before it asks the agent
chmod 644 "$PUB/frame.jpg"
MWN="$PUB/meshwatch"
"${NOBODY[@]}" "$MWN" version >/dev/null 2>&1 || tb_skip "uid 65534 cannot run $MWN"

tb_start_agent_lo 1
tb_start_agent_lo 2
tb_wait_ready 1
tb_wait_ready 2
tb_wait_until 20 tb_all_alive 1 2 || tb_fail "the two agents did not converge"
S1=$(tb_state_dir 1)
PID1=$(tb_pid 1)
INC1=$(cl_view 2 1 | awk '{print $2}')
[ "$(stat -c %a "$S1")" = 700 ] && cl_pass "agent 1's STATE_DIR is 0700" || cl_failc "STATE_DIR mode $(stat -c %a "$S1")"

#  expect NAME RC TEXT CMD...
expect () {
    local name=$1 rc=$2 text=$3; shift 3
    cl_run "$@"
    if [ "$CL_RC" = "$rc" ] && [[ $CL_ERR == *"$text"* ]]; then
        cl_pass "$name: exit $rc, \"$(cl_err1)\""
    else
        cl_failc "$name: exit $CL_RC (want $rc and '$text'), stderr '$(cl_err1)'"
    fi
}
echo "---- nobody against root agents"
for args in "status" "members --json" "jobs" "load 1 1" "leave" "submit --camera c --image $PUB/frame.jpg"; do
    # shellcheck disable=SC2086
    expect "nobody: $args (owner-only STATE_DIR)" 4 "permission denied" "${NOBODY[@]}" "$MWN" $args --state-dir "$S1"
done
#  Open the way to agent 1's socket (the test folder traversable, the
#  configs with the test's key kept private): the socket's own mode 0600
#  must refuse now.
chmod 600 "$TB_DIR"/n*/agent.conf
chmod 711 "$TB_DIR" "$(tb_node_dir 1)"
chmod 755 "$S1"
[ "$(stat -c %a "$S1/control.sock")" = 600 ] && cl_pass "the control socket is 0600" ||
    cl_failc "control socket mode $(stat -c %a "$S1/control.sock")"
# shellcheck disable=SC2086
for args in "status" "leave"; do
    expect "nobody: $args (STATE_DIR open, socket 0600)" 4 "permission denied" "${NOBODY[@]}" "$MWN" $args --state-dir "$S1"
done
chmod 700 "$S1" "$TB_DIR"
chmod 755 "$(tb_node_dir 1)"
expect "nobody: a STATE_DIR that does not exist" 3 "no agent at" "${NOBODY[@]}" "$MWN" status --state-dir "$PUB/none"
tb_alive_pid 1 && [ "$(tb_pid 1)" = "$PID1" ] && cl_still_member 2 1 "$INC1" &&
    cl_pass "agent 1 did not leave (same process, alive at $INC1 in agent 2's view)" ||
    cl_failc "agent 1 after nobody's leave: pid $(tb_pid 1), '$(cl_view 2 1)'"

echo "---- root: no agent, not answering, stale socket"
expect "root: no socket" 3 "no agent at" "$TB_MW" status --state-dir "$TB_DIR/empty"
tb_stop 1
expect "root: a stopped agent" 3 "did not answer" "$TB_MW" status --state-dir "$S1"
tb_cont 1
tb_kill9 1
[ -S "$S1/control.sock" ] || tb_fail "kill -9 left no control socket behind (nothing stale to test)"
expect "root: a killed agent's stale socket" 3 "stale control socket" "$TB_MW" status --state-dir "$S1"
expect "root: leave to a killed agent" 3 "stale control socket" "$TB_MW" leave --state-dir "$S1"
cl_finish
