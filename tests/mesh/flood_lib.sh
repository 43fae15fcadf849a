# shellcheck shell=bash
#  =========================================================================
#  flood_lib.sh - shared set-up and verdict of the flood acceptance tests
#  (tests/mesh/flood_*.sh, their long variants in tests/soak/).
#
#  The bed: n1, the agent under attack, started under a 1024-fd limit
#  (prlimit: soft and hard, as `ulimit -n 1024` would); n2, a peer whose
#  view tells whether n1 still looks healthy from outside; n3, the
#  attacker's box (no agent).  While the flood runs, a sampler records
#  every half second n1's resident memory (VmRSS), its open fds
#  (/proc/PID/fd) and how long `meshwatch status` takes to answer; and a
#  probe on one long-lived control connection (mw-inject status-probe)
#  times the agent's own answer every half second, without a CLI
#  process's start-up in it (on a loaded 2-core box that start-up alone
#  can take most of a second).
#
#  The verdict (the acceptance): n1 still runs; RSS stays below its
#  baseline + 100 MB; fds below 80 % of the limit; the agent answers every
#  status request in under 1 s (and every `meshwatch status` call is
#  answered); n2 never suspects (nor declares dead) n1.
#
#  Usage:   . flood_lib.sh; fl_setup NAME NETID; fl_start; <flood>; fl_stop;
#           fl_verdict; ...test-specific checks...; sc_finish 1 2
#  =========================================================================
FL_LIMIT=${FL_LIMIT:-1024}
FL_SECS=${FL_SECS:-20}
FL_RSS_MB=${FL_RSS_MB:-100}
FL_INJECT=""
FL_PID=""
FL_BASE_RSS=0
FL_BASE_FDS=0
FL_T0=0
FL_L0=0
FL_SAMPLER=""
FL_PROBE=""

fl_setup () {
    local name=$1 netid=$2
    tb_init "$name" "$netid"
    FL_INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
    [ -x "$FL_INJECT" ] || tb_die "mw-inject not found at $FL_INJECT (build tests/tools/mw-inject or set MW_INJECT)"
    command -v prlimit >/dev/null || tb_skip "prlimit (util-linux) missing"
    tb_require_mw
    tb_require_netns
    tb_bridge
    local i
    for i in 1 2 3; do tb_host "$i"; done
    TB_AGENT_WRAPPER=(prlimit "--nofile=$FL_LIMIT:$FL_LIMIT" --)
    tb_start_agent 1
    TB_AGENT_WRAPPER=()
    tb_start_agent 2
    tb_wait_ready 1 20
    tb_wait_ready 2 20
    SC_NODES="1 2"
    sc_check "n1 (fd limit $FL_LIMIT) and n2 see each other alive" 5 20 tb_all_alive 1 2 ||
        sc_finish 1 2
    FL_PID=$(tb_pid 1)
    local lim; lim=$(awk '/Max open files/ {print $4}' "/proc/$FL_PID/limits")
    [ "$lim" = "$FL_LIMIT" ] || tb_die "n1 runs with an fd limit of $lim, not $FL_LIMIT"
    sleep 3   #  settled: the baseline is an idle, joined agent
    FL_BASE_RSS=$(fl_rss_kb)
    FL_BASE_FDS=$(fl_fds)
    echo "info  n1 pid $FL_PID: fd limit $lim, baseline RSS $(( FL_BASE_RSS / 1024 )) MB, $FL_BASE_FDS fds"
}

fl_rss_kb () { awk '/^VmRSS:/ {print $2}' "/proc/$FL_PID/status" 2>/dev/null || echo 0; }
fl_fds () { find "/proc/$FL_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

#  Sample every 0.5 s until stopped: "ms_since_t0 rss_kb fds status_ms".
fl_sampler () {
    local out=$1 n=0 t s rc
    while [ "$n" -lt 100000 ]; do
        t=$(tb_now_ms)
        tb_status 1 >/dev/null; rc=$?
        s=$(( $(tb_now_ms) - t ))
        [ "$rc" = 0 ] || s=99999
        echo "$(( t - FL_T0 )) $(fl_rss_kb) $(fl_fds) $s" >> "$out"
        n=$(( n + 1 ))
        sleep 0.5
    done
}

#  Mark the start of the flood and start the sampler.
fl_start () {
    FL_T0=$(tb_now_ms)
    FL_L0=$(wc -l < "$(tb_log_file 2)")
    : > "$TB_DIR/samples"
    fl_sampler "$TB_DIR/samples" &
    FL_SAMPLER=$!
    TB_BG_PIDS+=("$FL_SAMPLER")
    "$FL_INJECT" --to "ipc://$(tb_state_dir 1)/control.sock" --secs 600 status-probe > "$TB_DIR/probe" 2>&1 &
    FL_PROBE=$!
    TB_BG_PIDS+=("$FL_PROBE")
}

#  Keep sampling a few seconds after the flood (what it left behind counts
#  too), then stop the sampler.
fl_stop () {
    sleep "${1:-3}"
    kill "$FL_SAMPLER" "$FL_PROBE" 2>/dev/null
    wait "$FL_SAMPLER" 2>/dev/null
    wait "$FL_PROBE" 2>/dev/null
    FL_T1=$(tb_now_ms)
}

#  The common checks; sets FL_MAX_RSS (kB), FL_MAX_FDS, FL_MAX_LAT (ms).
fl_verdict () {
    local n; n=$(wc -l < "$TB_DIR/samples")
    read -r FL_MAX_RSS FL_MAX_FDS FL_MAX_LAT FL_FAILED_CALLS < <(awk '
        { if ($2 > r) r = $2; if ($3 > f) f = $3; if ($4 > l) l = $4; if ($4 >= 99999) bad++ }
        END { print r + 0, f + 0, l + 0, bad + 0 }' "$TB_DIR/samples")
    local np probe_max
    np=$(wc -l < "$TB_DIR/probe")
    probe_max=$(awk 'NF == 2 { if ($2 > m) m = $2 } END { print m + 0 }' "$TB_DIR/probe")
    local rss_mb=$(( (FL_MAX_RSS - FL_BASE_RSS) / 1024 )) fd_cap=$(( FL_LIMIT * 80 / 100 ))
    echo "info  $n samples over $(( (FL_T1 - FL_T0) / 1000 )) s: RSS max $(( FL_MAX_RSS / 1024 )) MB" \
         "(baseline $(( FL_BASE_RSS / 1024 )) MB, +$rss_mb MB), fds max $FL_MAX_FDS (baseline $FL_BASE_FDS)," \
         "status max $probe_max ms (agent, $np requests), $FL_MAX_LAT ms (meshwatch status CLI)"
    [ "$n" -ge 10 ] || { echo "FAIL  only $n samples"; SC_RESULT=1; }
    tb_alive_pid 1 && echo "PASS  n1 still running" || { echo "FAIL  n1 died"; SC_RESULT=1; }
    [ "$rss_mb" -lt "$FL_RSS_MB" ] && echo "PASS  RSS below baseline + $FL_RSS_MB MB (+$rss_mb MB)" ||
        { echo "FAIL  RSS grew by $rss_mb MB"; SC_RESULT=1; }
    [ "$FL_MAX_FDS" -lt "$fd_cap" ] && echo "PASS  fds below 80 % of $FL_LIMIT (max $FL_MAX_FDS < $fd_cap)" ||
        { echo "FAIL  fds reached $FL_MAX_FDS (cap $fd_cap)"; SC_RESULT=1; }
    [ "$np" -ge 10 ] && [ "$probe_max" -lt 1000 ] && [ "$FL_FAILED_CALLS" = 0 ] &&
        echo "PASS  status answered every time: the agent in < 1 s (max $probe_max ms), the CLI every call (max $FL_MAX_LAT ms)" ||
        { echo "FAIL  status: agent max $probe_max ms over $np requests, CLI max $FL_MAX_LAT ms, $FL_FAILED_CALLS CLI calls unanswered"; SC_RESULT=1; }
    local id1; id1=$(tb_id 1)
    local sus; sus=$(tail -n +"$(( FL_L0 + 1 ))" "$(tb_log_file 2)" |
        grep -cE "event=member_(suspect|dead) .*peer=$id1")
    [ "$sus" = 0 ] && echo "PASS  n2 never suspected n1 during the flood" ||
        { echo "FAIL  n2 suspected/declared n1 dead $sus times"; SC_RESULT=1; }
    if grep -qi "too many open files\|Assertion" "$TB_DIR/n1/stdout.log" "$(tb_log_file 1)" 2>/dev/null; then
        echo "FAIL  EMFILE or an assertion in n1's output:"; grep -i "too many open files\|Assertion" \
            "$TB_DIR/n1/stdout.log" "$(tb_log_file 1)" | head -5; SC_RESULT=1
    else
        echo "PASS  no EMFILE, no assertion in n1's output"
    fi
    sc_check "n1 and n2 alive in both views afterwards" 10 10 tb_all_alive 1 2
}

#  TCP connections n1 has towards addresses of NET (e.g. 10.77.71.2), in
#  any state: the reply addresses of a flood must never get one.
fl_conns_towards () {
    tb_exec 1 ss -tan 2>/dev/null | awk -v net="$1" '$5 ~ "^" net { n++ } END { print n + 0 }'
}
