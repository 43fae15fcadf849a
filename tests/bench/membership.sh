#!/usr/bin/env bash
#  =========================================================================
#  membership.sh - membership benchmark (not part of `make check`; root).
#
#  For each configuration (N agents in namespaces, or on loopback with JOIN):
#    join      time from starting a new agent until every member has logged
#              it (member_join/member_alive)
#    kill9     kill -9 one agent -> every survivor has logged member_dead
#    sigstop   SIGSTOP one agent -> every survivor has logged member_dead
#  p50 / p99 (nearest rank: with 10 trials p99 = max) over TRIALS trials;
#  gossip bytes/s per node (status stats deltas over a quiet window) and
#  agent PSS (smaps_rollup).  Times come from the agents' own log lines
#  (ms resolution), not from polling.
#
#  Usage: tests/bench/membership.sh [--quick] [--trials N] [--ns "5 20"]
#                                   [--lo "50 100"] [--window S]
#    --quick: 3 trials, ns "5", lo "20", 5 s window.
#  Needs MESHWATCH or MW_BUILDDIR (binary), jq, python3.
#  =========================================================================
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE="$SRC/tests/bench"
SCAN="$HERE/membership_scan.py"

if [ "${1:-}" = --one ]; then
    #  Child: one configuration.  --one KIND N TRIALS WINDOW NETID RESULTFILE
    kind=$2 n=$3 trials=$4 window=$5 netid=$6 res=$7
    . "$SRC/tests/lib/testbed.sh"
    tb_init "bench_${kind}${n}" "$netid"
    tb_require_mw
    [ "$kind" = ns ] && { tb_require_netns; tb_bridge; }
    new=$(( n + 1 ))
    log () { echo "[$kind N=$n] $*"; }
    #  50 and 100 agents share this box's 2 cores: with the forecasts'
    #  digest gossip on, the agents' own traffic saturates them (100 x 2.5 %
    #  of a core) and the timings measure the box, not the protocol.  So the
    #  large loopback runs measure membership alone (BENCH_COLLECT=1000 puts
    #  forecasts back); the namespace runs keep the full agent.
    extra=()
    if [ "$kind" = lo ] && [ "$n" -ge 50 ]; then
        extra=("COLLECT_INTERVAL_MS=${BENCH_COLLECT:-0}")
        log "forecast digests: COLLECT_INTERVAL_MS=${BENCH_COLLECT:-0}"
    fi
    start_node () { if [ "$kind" = ns ]; then tb_start_agent "$1"; else tb_start_agent_lo "$1" "${extra[@]}"; fi; }
    if [ "$kind" = ns ]; then for i in $(seq 1 "$new"); do tb_host "$i"; done; fi
    t0=$(tb_now_ms)
    for i in $(seq 1 "$n"); do start_node "$i"; done
    nodes=$(seq 1 "$n" | tr '\n' ' ')
    for i in $nodes; do tb_wait_ready "$i" 30; done
    # shellcheck disable=SC2086
    tb_wait_until 180 tb_all_alive $nodes || { tb_view_problems $nodes | head; tb_fail "initial convergence of $n agents failed"; }
    log "initial convergence: $(tb_secs $(( $(tb_now_ms) - t0 ))) s"
    logs_of () { local i; for i in "$@"; do tb_log_file "$i"; done; }

    #  Steady-state traffic and memory.
    sleep 2
    declare -A b0o b0i
    for i in $nodes; do
        s=$(tb_status "$i"); b0o[$i]=$(jq -r '.stats.bytes_out' <<<"$s"); b0i[$i]=$(jq -r '.stats.bytes_in' <<<"$s")
    done
    w0=$(tb_now_ms); sleep "$window"; w1=$(tb_now_ms)
    out_sum=0; in_sum=0
    for i in $nodes; do
        s=$(tb_status "$i")
        out_sum=$(( out_sum + $(jq -r '.stats.bytes_out' <<<"$s") - b0o[$i] ))
        in_sum=$(( in_sum + $(jq -r '.stats.bytes_in' <<<"$s") - b0i[$i] ))
    done
    dt=$(( w1 - w0 ))
    bps_out=$(( out_sum * 1000 / dt / n )); bps_in=$(( in_sum * 1000 / dt / n ))
    pss_sum=0; pss_max=0
    for i in $nodes; do p=$(tb_pss_kb "$i"); pss_sum=$(( pss_sum + p )); [ "$p" -gt "$pss_max" ] && pss_max=$p; done
    echo "$kind $n bytes $bps_out $bps_in" >> "$res"
    echo "$kind $n pss $(( pss_sum / n )) $pss_max" >> "$res"
    log "gossip per node: out $bps_out B/s, in $bps_in B/s; PSS mean $(( pss_sum / n )) kB max $pss_max kB"

    snapf="$TB_DIR/snap"
    #  measure METRIC VICTIM EVENTS VIEWERS... : after the action; sets MS
    wait_logs () {
        local events=$1 peer=$2 t0=$3 timeout=$4
        local r; r=$("$TB_PY" "$SCAN" wait "$snapf" "$events" "$peer" "$t0" "$timeout")
        case $r in ok\ *) MS=${r#ok }; return 0;; *) MS=""; log "  incomplete: $r"; return 1;; esac
    }
    join_ms=(); kill_ms=(); stop_ms=(); fails_join=0; fails_kill=0; fails_stop=0

    #  --- join trials: a fresh node (new STATE_DIR -> new id) each time
    for t in $(seq 1 "$trials"); do
        rm -rf "$(tb_node_dir "$new")"
        # shellcheck disable=SC2046
        "$TB_PY" "$SCAN" snap $(logs_of $nodes) > "$snapf"
        t0=$(tb_now_ms)
        start_node "$new"
        tb_wait_ready "$new" 20
        if wait_logs member_join,member_alive "$(tb_id "$new")" "$t0" 60; then join_ms+=("$MS"); log "join trial $t: $(tb_secs "$MS") s"
        else fails_join=$(( fails_join + 1 )); fi
        # shellcheck disable=SC2046
        "$TB_PY" "$SCAN" snap $(logs_of $nodes) > "$snapf"
        id=$(tb_id "$new"); tl=$(tb_now_ms)
        tb_term "$new" 10
        wait_logs member_leave,member_dead "$id" "$tl" 20 || log "  (leave of trial node not seen everywhere)"
    done
    [ "$kind" = ns ] && { ip link del "${TB_VH[$new]}" 2>/dev/null; ip netns del "${TB_NS[$new]}"; unset 'TB_VH[$new]' 'TB_NS[$new]' 'TB_KIND[$new]'; }

    #  --- failure trials: victims rotate over 2..N (1 is the loopback seed)
    for how in kill9 sigstop; do
        for t in $(seq 1 "$trials"); do
            v=$(( 2 + (t - 1) % (n - 1) ))
            surv=$(for i in $nodes; do [ "$i" = "$v" ] || echo "$i"; done | tr '\n' ' ')
            id=$(tb_id "$v")
            # shellcheck disable=SC2046,SC2086
            "$TB_PY" "$SCAN" snap $(logs_of $surv) > "$snapf"
            t0=$(tb_now_ms)
            if [ "$how" = kill9 ]; then tb_kill9 "$v"; else tb_stop "$v"; fi
            if wait_logs member_dead "$id" "$t0" 60; then
                log "$how trial $t (n$v): $(tb_secs "$MS") s"
                if [ "$how" = kill9 ]; then kill_ms+=("$MS"); else stop_ms+=("$MS"); fi
            else
                if [ "$how" = kill9 ]; then fails_kill=$(( fails_kill + 1 )); else fails_stop=$(( fails_stop + 1 )); fi
            fi
            # shellcheck disable=SC2046,SC2086
            "$TB_PY" "$SCAN" snap $(logs_of $surv) > "$snapf"
            t1=$(tb_now_ms)
            if [ "$how" = kill9 ]; then tb_restart_agent "$v"; else tb_cont "$v"; fi
            wait_logs member_alive,member_join "$id" "$t1" 60 || log "  n$v not back everywhere"
            # shellcheck disable=SC2086
            tb_wait_until 60 tb_all_alive $nodes || log "  views not all alive after trial $t"
        done
    done
    st () { "$TB_PY" "$SCAN" stats "$@"; }
    echo "$kind $n join $(st "${join_ms[@]}") $fails_join" >> "$res"
    echo "$kind $n kill9 $(st "${kill_ms[@]}") $fails_kill" >> "$res"
    echo "$kind $n sigstop $(st "${stop_ms[@]}") $fails_stop" >> "$res"
    exit 0
fi

#  ---- parent: run each configuration, print the table ----
TRIALS=10; NS_SIZES="5 20"; LO_SIZES="50 100"; WINDOW=10
while [ $# -gt 0 ]; do
    case $1 in
        --quick) TRIALS=3; NS_SIZES="5"; LO_SIZES="20"; WINDOW=5;;
        --trials) TRIALS=$2; shift;;
        --ns) NS_SIZES=$2; shift;;
        --lo) LO_SIZES=$2; shift;;
        --window) WINDOW=$2; shift;;
        -h|--help) sed -n '2,20p' "$0"; exit 0;;
        *) echo "unknown option $1" >&2; exit 2;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
res=$(mktemp /tmp/tb-bench-XXXXXX)
netid=30; rc=0
for n in $NS_SIZES; do
    #  budget per configuration: setup + 3 x trials x (up to ~30 s) + margin
    timeout -k 20 $(( 300 + TRIALS * 90 + n * 5 )) bash "$0" --one ns "$n" "$TRIALS" "$WINDOW" "$netid" "$res" || { echo "configuration ns N=$n failed (rc=$?)"; rc=1; }
    netid=$(( netid + 2 ))
done
for n in $LO_SIZES; do
    timeout -k 20 $(( 300 + TRIALS * 90 + n * 5 )) bash "$0" --one lo "$n" "$TRIALS" "$WINDOW" "$netid" "$res" || { echo "configuration lo N=$n failed (rc=$?)"; rc=1; }
    netid=$(( netid + 2 ))
done
echo
echo "membership benchmark: $TRIALS trials each; times in s (p99 = nearest rank); $(nproc) cores; $(date -u +%FT%TZ)"
printf '%-5s %4s | %-22s | %-22s | %-22s | %-17s | %-15s\n' kind N "join p50/p99 (fail)" "kill-9 p50/p99 (fail)" "SIGSTOP p50/p99 (fail)" "gossip B/s out/in" "PSS kB mean/max"
get () { awk -v k="$1" -v n="$2" -v m="$3" '$1==k && $2==n && $3==m {for (i=4;i<=NF;i++) printf "%s ", $i; exit}' "$res"; }
for spec in $(for n in $NS_SIZES; do echo "ns:$n"; done; for n in $LO_SIZES; do echo "lo:$n"; done); do
    k=${spec%%:*}; n=${spec#*:}
    fmt () { local a; read -r -a a <<<"$(get "$k" "$n" "$1")"; [ ${#a[@]} -ge 5 ] && echo "${a[0]}/${a[1]} (${a[4]})" || echo "-"; }
    read -r -a b <<<"$(get "$k" "$n" bytes)"; read -r -a p <<<"$(get "$k" "$n" pss)"
    printf '%-5s %4s | %-22s | %-22s | %-22s | %-17s | %-15s\n' "$k" "$n" "$(fmt join)" "$(fmt kill9)" "$(fmt sigstop)" \
        "${b[0]:--}/${b[1]:--}" "${p[0]:--}/${p[1]:--}"
done
rm -f "$res"
exit $rc
