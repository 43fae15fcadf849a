#!/usr/bin/env bash
#  flood_members_ns: forged member ids at full speed against one agent
#  (docs/MEMBERSHIP.md, "Bounds").  Three agents in namespaces; n1 runs
#  under a 1024-fd limit; from a 4th host, mw-inject sends FLOOD_IDS forged
#  member ids (default 10^6) sealed with the cluster key, in GOSSIPs of 64
#  and PUSH_PULLs of 1024, first from one sender id, then from FLOOD_SENDERS
#  fresh sender ids (each message led by its sender's own record).  While
#  it runs and for a few seconds after, every 250 ms:
#    - n1 is up, its RSS stays below baseline + 100 MB and its fds below
#      80 % of the limit, `meshwatch status` answers within 1 s;
#    - n1's member table stays at or below MAX_MEMBERS;
#  and afterwards: no peer logged n1 suspect or dead, every agent still
#  sees every agent alive, the refused-insert counters account for the
#  flood (it arrived), and the loop's worst turn is reported.
#  FLOOD_ROUNDS repeats the two floods (the soak variant runs more).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout "${FLOOD_TIMEOUT:-150}" "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init flood_members_ns 94
INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
[ -x "$INJECT" ] || tb_die "mw-inject not found at $INJECT (build tests/tools/mw-inject or set MW_INJECT)"
command -v prlimit >/dev/null || tb_skip "prlimit missing (util-linux)"
IDS=${FLOOD_IDS:-1000000}
SENDERS=${FLOOD_SENDERS:-1000}
ROUNDS=${FLOOD_ROUNDS:-1}
FD_LIMIT=1024
echo "CHECK: $IDS forged ids x 2 (1 sender, $SENDERS senders) x $ROUNDS against n1 (fd limit $FD_LIMIT):"
echo "CHECK:   n1 up, RSS < baseline + 100 MB, fds < 80 % of $FD_LIMIT, status < 1 s, table <= MAX_MEMBERS"
echo "CHECK:   no peer suspects n1; all alive after; the refusals account for the flood"
tb_require_netns
tb_require_mw
tb_bridge
for i in 1 2 3 4; do tb_host "$i"; done
TB_AGENT_WRAPPER=(prlimit "--nofile=$FD_LIMIT:$FD_LIMIT")
tb_start_agent 1
TB_AGENT_WRAPPER=()
tb_start_agent 2
tb_start_agent 3
for i in 1 2 3; do tb_wait_ready "$i"; done
tb_wait_until 20 tb_all_alive 1 2 3 || tb_fail "the 3 agents did not converge"
P1=$(tb_pid 1)
grep -q "Max open files *$FD_LIMIT *$FD_LIMIT" "/proc/$P1/limits" || tb_fail "n1 does not run under the fd limit: $(grep 'open files' "/proc/$P1/limits")"
ID1=$(tb_id 1)
MAXM=$(tb_stat 1 .members_bounds.max)
sleep 2   #  let start-up allocations settle before the baseline
rss_kb () { awk '/^VmRSS:/ {print $2}' "/proc/$P1/status" 2>/dev/null; }
fds () { ls "/proc/$P1/fd" 2>/dev/null | wc -l; }
BASE_RSS=$(rss_kb); BASE_FDS=$(fds)
RSS_MAX_KB=$(( BASE_RSS + 100 * 1024 )); FD_MAX=$(( FD_LIMIT * 80 / 100 ))
echo "baseline: RSS $BASE_RSS kB, $BASE_FDS fds, members max $MAXM"
#  n1's suspect/dead lines in the peers' logs so far (a count: the check
#  below is "no new one", whatever was there before).
susp_lines () {
    cat "$(tb_log_file 2)" "$(tb_log_file 3)" 2>/dev/null | grep -E "event=member_(suspect|dead) " | grep -c "peer=$ID1"
}
SUSP0=$(susp_lines)
refused () { tb_status 1 | jq -r '.members_bounds | .refused_rate + .refused_unverified + .refused_full' 2>/dev/null; }
REF0=$(refused)
worst_rss=0; worst_fds=0; worst_status=0; worst_members=0; samples=0; fail_sample=""
sample () {
    local r f t0 t1 js m
    r=$(rss_kb); f=$(fds)
    [ -n "$r" ] || { fail_sample="n1 is gone"; return 1; }
    t0=$(tb_now_ms); js=$(tb_status 1); t1=$(tb_now_ms)
    m=$(printf '%s' "$js" | jq -r '.members | .alive + .suspect + .dead + .left' 2>/dev/null)
    [ -n "$m" ] || { fail_sample="status did not answer"; m=0; t1=$(( t0 + 99999 )); }
    [ "$r" -gt "$worst_rss" ] && worst_rss=$r
    [ "$f" -gt "$worst_fds" ] && worst_fds=$f
    [ $(( t1 - t0 )) -gt "$worst_status" ] && worst_status=$(( t1 - t0 ))
    [ "$m" -gt "$worst_members" ] && worst_members=$m
    samples=$(( samples + 1 ))
    return 0
}
T="tcp://$(tb_ip 1):7946"
GHOST=$(tb_ip 4)
flood () {
    local senders=$1 out pid
    tb_log "flood: $IDS ids from $senders sender(s)"
    tb_exec 4 timeout 120 "$INJECT" --to "$T" --to-id "$(tb_id 1)" --key "$TB_KEY" --count "$IDS" --senders "$senders" \
        --ghost-ip "$GHOST" member-flood > "$TB_DIR/inject.out" 2>&1 &
    pid=$!
    TB_BG_PIDS+=("$pid")
    while kill -0 "$pid" 2>/dev/null; do sample || break; sleep 0.25; done
    wait "$pid"; local rc=$?
    out=$(cat "$TB_DIR/inject.out")
    [ "$rc" = 0 ] || tb_fail "mw-inject failed (rc $rc): $out"
    echo "injector: $out"
    local end=$(( $(tb_now_ms) + 5000 ))
    while [ "$(tb_now_ms)" -lt "$end" ]; do sample || break; sleep 0.25; done
}
for r in $(seq 1 "$ROUNDS"); do
    flood 1
    flood "$SENDERS"
    [ -z "$fail_sample" ] || break
done
REF1=$(refused)
echo "over $samples samples: RSS max $worst_rss kB (baseline $BASE_RSS), fds max $worst_fds (limit $FD_LIMIT)," \
     "status max $worst_status ms, members max $worst_members (cap $MAXM)"
tb_status 1 | jq -c '{members, members_bounds, statedb, loop}' | sed 's/^/n1 status: /'
[ -z "$fail_sample" ] || { echo "FAIL  $fail_sample"; SC_RESULT=1; }
tb_alive_pid 1 && echo "PASS  n1 still running" || { echo "FAIL  n1 died"; SC_RESULT=1; }
if [ "$worst_rss" -lt "$RSS_MAX_KB" ]; then echo "PASS  RSS max $worst_rss kB < baseline + 100 MB ($RSS_MAX_KB kB)"
else echo "FAIL  RSS max $worst_rss kB >= baseline + 100 MB ($RSS_MAX_KB kB)"; SC_RESULT=1; fi
if [ "$worst_fds" -lt "$FD_MAX" ]; then echo "PASS  fds max $worst_fds < 80 % of $FD_LIMIT"
else echo "FAIL  fds max $worst_fds >= 80 % of $FD_LIMIT"; SC_RESULT=1; fi
if [ "$worst_status" -lt 1000 ]; then echo "PASS  status answered within $worst_status ms (< 1 s)"
else echo "FAIL  status took $worst_status ms"; SC_RESULT=1; fi
if [ "$worst_members" -le "$MAXM" ]; then echo "PASS  n1's table at most $worst_members members (cap $MAXM)"
else echo "FAIL  n1's table reached $worst_members members (cap $MAXM)"; SC_RESULT=1; fi
#  The flood arrived: almost every id was refused (what got in is what the
#  insert buckets allow, a few hundred).
want=$(( IDS * 2 * ROUNDS * 9 / 10 ))
if [ $(( REF1 - REF0 )) -ge "$want" ]; then echo "PASS  $(( REF1 - REF0 )) ids refused (>= $want): the flood was processed"
else echo "FAIL  only $(( REF1 - REF0 )) ids refused (want >= $want): did the flood arrive?"; SC_RESULT=1; fi
SUSP1=$(susp_lines)
if [ "$SUSP1" = "$SUSP0" ]; then echo "PASS  no peer logged n1 suspect or dead"
else echo "FAIL  peers logged n1 suspect/dead $(( SUSP1 - SUSP0 )) times:"; cat "$(tb_log_file 2)" "$(tb_log_file 3)" | grep -E "event=member_(suspect|dead) " | grep "peer=$ID1" | tail -5; SC_RESULT=1; fi
sc_check "n1, n2, n3 all alive in every view after the flood" 10 10 tb_all_alive 1 2 3
echo "info  n1's loop: worst turn $(tb_stat 1 .loop.worst_turn_ms) ms over $(tb_stat 1 .loop.turns) turns"
sc_finish 1 2 3
