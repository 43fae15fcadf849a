# shellcheck shell=bash
#  =========================================================================
#  jobs_lib.sh - shared helpers of the jobs acceptance tests (tests/jobs/).
#  Sourced after tests/lib/testbed.sh.  Real agents in namespaces with
#  real face-api models (tests/infer/models-env.sh: exit 77 without them),
#  each agent under a CPU quota so that a "box" is small and five of them
#  do not fight over the host's cores; an analysis server in its own
#  namespace host; jobs sent through the control socket by
#  `mw-inject submit` (one process per burst, not one CLI per job: a CLI
#  start costs ~60-100 ms of the host's CPU); the verdict from the agents'
#  log lines (tests/jobs/job_check.py).
#  =========================================================================
JB_RESULT=0
#  `ip netns exec` mounts a fresh sysfs, which hides /sys/fs/cgroup: without
#  this wrapper a namespaced agent finds no quota and reads the whole host's
#  CPU (status/members: "cgroup":false), so every idle peer looks as busy as
#  the host and the forecast policy sends the overflow to the server.
TB_AGENT_WRAPPER=(sh "$SRC/tests/forecast/cgroupfs-wrap.sh")
#  Offer timeout for throttled test boxes (see jobs_overload_one_ns.sh).
JB_OFFER_TIMEOUT_MS=${JB_OFFER_TIMEOUT_MS:-300}
JB_SERVER=""        # host index of the analysis server (if any)
JB_NODES=""         # agent host indexes

jb_inject_bin () {
    if [ -n "${MW_INJECT:-}" ]; then echo "$MW_INJECT"
    elif [ -n "${MW_BUILDDIR:-}" ]; then echo "$MW_BUILDDIR/tests/tools/mw-inject"
    else echo "mw-inject"; fi
}

#  Models and demo images (exit 77 if they cannot be had), before tb_init.
jb_require_models () {
    if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (namespaces, veth, cgroups)"; exit 77; fi
    # shellcheck source=/dev/null
    . "$SRC/tests/infer/models-env.sh"
    [ -f "$DEMO/sample1.jpg" ] || { echo "SKIP: no demo images in $DEMO"; exit 77; }
    JB_INJECT=$(jb_inject_bin)
    command -v "$JB_INJECT" >/dev/null 2>&1 || { echo "ERROR: mw-inject not found (set MW_BUILDDIR or MW_INJECT)"; exit 99; }
    JB_INJECT=$(command -v "$JB_INJECT")
}

jb_pass () { echo "PASS  $*"; }
jb_failc () { echo "FAIL  $*"; JB_RESULT=1; }
jb_finish () {
    if [ "$JB_RESULT" = 0 ]; then echo "RESULT: PASS ($TB_NAME, $SECONDS s)"; exit 0; fi
    echo "RESULT: FAIL ($TB_NAME, $SECONDS s)"
    TB_FAILED=1
    TB_DUMP_LINES=${TB_DUMP_LINES:-25} tb_dump_logs
    exit 1
}

#  jb_bed N AGENT_PCT [SERVER_PCT]: bridge, hosts 1..N with a CPU quota
#  each; with SERVER_PCT also host N+1 for the analysis server.
jb_bed () {
    local n=$1 pct=$2 spct=${3:-} i
    tb_require_netns
    tb_require_mw
    tb_bridge
    JB_NODES=$(seq 1 "$n" | tr '\n' ' ')
    for i in $JB_NODES; do tb_host "$i"; tb_cgroup_cpu "$i" "$pct" >/dev/null; done
    if [ -n "$spct" ]; then
        JB_SERVER=$(( n + 1 ))
        tb_host "$JB_SERVER"; tb_cgroup_cpu "$JB_SERVER" "$spct" >/dev/null
    fi
    tb_log "bed: $n agents at $pct % of a core${spct:+, analysis server (n$JB_SERVER) at $spct %}"
}

#  Start the analysis server (if the bed has one) and agents 1..N with
#  TB_AGENT_DEFAULTS + args; wait until the mesh has converged and every
#  agent knows every other one's data-plane port (its digest).
jb_start () {
    local i
    if [ -n "$JB_SERVER" ]; then
        tb_start_server "$JB_SERVER" "MODELS_DIR=$MODELS" ${JB_SERVER_ARGS[@]+"${JB_SERVER_ARGS[@]}"}
    fi
    for i in $JB_NODES; do tb_start_agent "$i" "$@"; done
    # shellcheck disable=SC2086
    tb_wait_until 40 tb_all_alive $JB_NODES ||
        { tb_view_problems $JB_NODES | head; tb_fail "mesh did not converge in 40 s"; }
    tb_log "mesh of $(echo $JB_NODES | wc -w) converged ($TB_WAIT_MS ms after the poll began)"
    if [ -n "$JB_SERVER" ]; then
        tb_wait_until 20 jb_answers "$JB_SERVER" || tb_fail "analysis server never answered status"
    fi
    #  Digests (job port, service time) ride on gossip: wait until every
    #  agent holds one from every other (not for a fixed time).
    # shellcheck disable=SC2086
    tb_wait_until 20 jb_digests_in $JB_NODES ||
        tb_fail "digests missing after 20 s: $(for i in $JB_NODES; do printf 'n%s:%s ' "$i" "$(tb_members "$i" | jq -c '[.[] | select(.self | not) | .load != null]')"; done)"
    tb_log "every agent holds every peer's digest ($TB_WAIT_MS ms)"
}

#  jb_digests_in NODE...: every node's view has a digest (load) from every
#  other node of the list.
jb_digests_in () {
    local i
    tb__ids_json "$@" || return 1
    for i in "$@"; do
        tb_members "$i" | jq -e --argjson ids "$TB_IDJ" --arg me "$(tb_id "$i")" \
            '[.[] | select(.id as $x | ($ids | index($x)) and $x != $me) | select(.load != null)] | length == ($ids | length) - 1' \
            >/dev/null 2>&1 || return 1
    done
}

jb_answers () { tb_status "$1" | jq -e '.jobs' >/dev/null 2>&1; }

#  jb_submit I COUNT RATE IMAGE [mw-inject args...]: COUNT jobs at RATE/s
#  on agent I (its control socket); the accepted ids go to
#  $TB_DIR/ids.I (appended), the summary line to stderr.
jb_submit () {
    local i=$1 count=$2 rate=$3 img=$4; shift 4
    "$JB_INJECT" --to "ipc://$TB_DIR/n$i/state/control.sock" --count "$count" --rate "$rate" \
        --image "$img" --camera "n$i-cam" "$@" submit >> "$TB_DIR/ids.$i" 2>> "$TB_DIR/submit.$i.err"
}
#  Same, in the background (tracked; killed by the cleanup).
jb_submit_bg () { tb_bg jb_submit "$@"; JB_BG_LAST=${TB_BG_PIDS[-1]}; }

#  jb_inflight I: jobs of agent I's cameras not ended yet (status).
jb_inflight () {
    tb_status "$1" | jq -r '.jobs | (.submitted - .done - .failed)' 2>/dev/null
}
#  True when no agent among NODE... has an unfinished origin job.
jb_all_ended () {
    local i n
    for i in "$@"; do
        n=$(jb_inflight "$i") || return 1
        [ "$n" = 0 ] || return 1
    done
}
#  Wait (bounded) until every job ended; then a short pause for the
#  escalations (precise / escalation_failed come after the done).
jb_wait_ended () {
    local t=${1:-30}; shift
    tb_wait_until "$t" jb_all_ended "$@" || {
        jb_failc "jobs still unfinished $t s after the last submit:"
        for i in "$@"; do echo "      n$i: $(tb_status "$i" | jq -c .jobs)"; done
        return 1
    }
    tb_log "all jobs ended ($TB_WAIT_MS ms after the wait began)"
}

#  All logs of the test (agents and server).
jb_logs () { local i; for i in "${!TB_KIND[@]}"; do echo "$TB_DIR/n$i/agent.log"; done; }

#  jb_check [job_check.py args...]: the log checker over every log, with
#  every id a submit accepted; summary JSON in $TB_DIR/check.json.
jb_check () {
    cat "$TB_DIR"/ids.* 2>/dev/null > "$TB_DIR/ids.all"
    local -a logs; mapfile -t logs < <(jb_logs)
    echo "---- job_check.py"
    if "$TB_PY" "$SRC/tests/jobs/job_check.py" --ids "$TB_DIR/ids.all" --json "$TB_DIR/check.json" "$@" "${logs[@]}" |
        sed 's/^/      /'; then :; fi
    if [ "$(jq -r '.problems | length' "$TB_DIR/check.json" 2>/dev/null)" = 0 ]; then
        jb_pass "job_check: every job ended exactly once, expectations met ($*)"
    else
        jb_failc "job_check found problems (above)"
    fi
}
#  A number from the checker's summary, e.g. jb_sum .peer
jb_sum () { jq -r "$1 // 0" "$TB_DIR/check.json" 2>/dev/null; }

#  Sum of .jobs.FIELD over NODE... (status).
jb_stat_sum () {
    local f=$1 i s=0 v; shift
    for i in "$@"; do v=$(tb_stat "$i" ".jobs.$f"); s=$(( s + ${v%.*} )); done
    echo "$s"
}

#  How long `meshwatch status --json` takes on agent I (ms), or 99999.
jb_status_ms () {
    local t0 t1; t0=$(tb_now_ms)
    tb_status "$1" | jq -e .id >/dev/null 2>&1 || { echo 99999; return; }
    t1=$(tb_now_ms); echo $(( t1 - t0 ))
}

#  jb_warm NODE...: 4 jobs on each box (in parallel), so that every box has
#  its model loaded and its service time measured (and gossiped in its
#  digest) before a scenario starts: a cold box promises the 15 ms prior
#  while its first job loads the model.  Their ids join the check.
jb_warm () {
    local i; local -a pids=()
    for i in "$@"; do jb_submit "$i" 4 4 "$DEMO/sample2.jpg" & pids+=($!); done
    wait "${pids[@]}"
    tb_wait_until 20 jb_all_ended "$@" || tb_fail "warm-up jobs did not end"
    sleep "${JB_DIGEST_WAIT:-3}"
    tb_log "warm: svc_ms $(for i in "$@"; do printf 'n%s=%s ' "$i" "$(tb_stat "$i" .jobs.svc_ms)"; done)"
}

#  jb_forecasts_ready VIEWER PEER...: VIEWER's view holds a ready CPU
#  forecast (upper bound < 100 at the first horizon) for every PEER.  Until
#  a box's forecaster has ~10 residuals at its 5 s horizon (~15 s after
#  start) its digest says "upper 100 %", which placement treats as fully
#  busy (docs/PLACEMENT.md: unknown counts as busy): the forecast policy
#  then sends the overflow to the server, whatever the peer's real load.
jb_forecasts_ready () {
    local v=$1 ids; shift
    tb__ids_json "$@" || return 1
    tb_members "$v" | jq -e --argjson ids "$TB_IDJ" \
        '[.[] | select(.id as $x | $ids | index($x)) | select((.load.upper.cpu[0] // 100) < 100)] | length == ($ids | length)' >/dev/null 2>&1
}
jb_wait_forecasts () {
    local t0; t0=$(tb_now_ms)
    tb_wait_until "${JB_FORECAST_WAIT:-45}" jb_forecasts_ready "$@" ||
        tb_fail "n$1 still has no ready CPU forecast of every peer after ${JB_FORECAST_WAIT:-45} s: $(tb_members "$1" | jq -c '[.[] | {name, up: .load.upper.cpu}]')"
    tb_log "forecasts ready in n$1's view ($(( $(tb_now_ms) - t0 )) ms wait): $(tb_members "$1" | jq -c '[.[] | "\(.name):\(.load.cpu)/\(.load.upper.cpu[0])"] | join(" ")')"
}

#  CPU time (ms) of agent I's process so far (utime + stime).
jb_cpu_ms () {
    local p=${TB_PID[$1]} tck; tck=$(getconf CLK_TCK)
    awk -v t="$tck" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / t) }' "/proc/$p/stat"
}
#  jb_calibrate I N: N jobs of sample1 on box I (2/s, so that none queues);
#  sets JB_CPU_JOB_MS (the agent's CPU per job, overhead included, from its
#  /proc stat) and JB_CAPACITY (jobs/s the box's quota allows: PCT x 10 /
#  JB_CPU_JOB_MS).  Needs PCT.
jb_calibrate () {
    local i=$1 n=$2 c0 c1
    c0=$(jb_cpu_ms "$i")
    jb_submit "$i" "$n" 2 "$DEMO/sample1.jpg"
    tb_wait_until 15 jb_all_ended "$i" || tb_fail "calibration jobs on n$i did not end"
    c1=$(jb_cpu_ms "$i")
    JB_CPU_JOB_MS=$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { v = (b - a) / n; if (v < 1) v = 1; printf "%.1f", v }')
    JB_CAPACITY=$(awk -v c="$JB_CPU_JOB_MS" -v p="$PCT" 'BEGIN { printf "%.1f", p * 10 / c }')
    echo "info  box $i under $PCT % CPU: $JB_CPU_JOB_MS ms of CPU per job (agent's /proc stat over $n jobs) -> capacity $JB_CAPACITY jobs/s; agent's svc_ms (p90 wall, throttling included) $(tb_stat "$i" .jobs.svc_ms)"
}
#  jb_rate FACTOR MIN MAX: FACTOR x JB_CAPACITY, rounded up, clamped.
jb_rate () { awk -v c="$JB_CAPACITY" -v f="$1" -v lo="$2" -v hi="$3" 'BEGIN { r = int(f * c + 0.99); if (r < lo) r = lo; if (r > hi) r = hi; print r }'; }
