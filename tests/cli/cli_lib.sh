# shellcheck shell=bash
#  =========================================================================
#  cli_lib.sh - shared helpers of the CLI acceptance tests (tests/cli/).
#  Sourced after tests/lib/testbed.sh.  The agents are real loopback agents
#  (root namespace, JOIN seeds, no beacon); the checks look at what the
#  peer sees as well as at the agent itself, since "the first agent is
#  unaffected" means the mesh did not notice anything either.
#  =========================================================================
CL_RESULT=0
cl_pass () { echo "PASS  $*"; }
cl_failc () { echo "FAIL  $*"; CL_RESULT=1; }
cl_finish () {
    if [ "$CL_RESULT" = 0 ]; then echo "RESULT: PASS ($TB_NAME, $SECONDS s)"; exit 0; fi
    echo "RESULT: FAIL ($TB_NAME, $SECONDS s)"
    TB_FAILED=1
    TB_DUMP_LINES=${TB_DUMP_LINES:-25} tb_dump_logs
    exit 1
}

#  cl_run CMD... - run with a 10 s bound in a clean environment (no
#  inherited MESHWATCH_*; add your own with `env` inside CMD); sets CL_RC,
#  CL_OUT (stdout) and CL_ERR (stderr).
cl_run () {
    local o="$TB_DIR/cl.out" e="$TB_DIR/cl.err"
    timeout 10 env "${TB_ENVU[@]}" "$@" >"$o" 2>"$e"
    CL_RC=$?
    CL_OUT=$(cat "$o")
    CL_ERR=$(cat "$e")
}
#  First line of CL_ERR, for messages.
cl_err1 () { printf '%s' "$CL_ERR" | head -1; }

#  cl_view I J - "STATE INCARNATION" of J in I's view ("absent -" if none).
cl_view () {
    local id; id=$(tb_id "$2") || { echo "error -"; return; }
    tb_members "$1" | jq -r --arg id "$id" \
        '[.[] | select(.id == $id) | "\(.state) \(.incarnation)"] | .[0] // "absent -"' 2>/dev/null || echo "error -"
}

#  cl_left_events I J - how many times I's log says J left or died.
cl_left_events () {
    local id; id=$(tb_id "$2") || { echo 0; return; }
    grep -cE "event=member_(leave|dead|suspect) peer=$id " "$(tb_log_file "$1")" 2>/dev/null || true
}

#  cl_still_member I J INC - J is alive at incarnation INC in I's view, and
#  I has never logged J as suspect, dead or left: J ran on untouched (a
#  leave and restart would show a higher incarnation).
cl_still_member () {
    local v; v=$(cl_view "$1" "$2")
    [ "$v" = "alive $3" ] && [ "$(cl_left_events "$1" "$2")" = 0 ]
}

#  True if PID has exited (gone, or a zombie nobody reaped yet).
cl_pid_gone () {
    local st
    kill -0 "$1" 2>/dev/null || return 0
    st=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)
    [ "$st" = Z ] || [ "$st" = X ] || [ -z "$st" ]
}
