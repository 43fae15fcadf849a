#!/usr/bin/env bash
#  =========================================================================
#  wire.sh - what meshwatch costs on a wireless link, against memberlist
#  (issue 17; not part of `make check`; root).
#
#    tests/bench/wire.sh [--quick] [--sizes "5 20"] [--lo "100"] [--busy]
#                        [--loss "10 20 30 40 50"] [--loss-n "5"] [--loss-secs 60]
#                        [--window 30] [--settle 20] [--trials 5] [--only mw|ml]
#
#  meshwatch (mw) and hashicorp/memberlist 0.2.2 with its LAN defaults (ml,
#  tests/bench/mlnode.go, built here with Debian's golang and
#  golang-github-hashicorp-memberlist-dev; skipped with a note when they
#  are missing), the same configurations one after the other:
#
#    idle   N boxes in namespaces on one bridge, converged and settled for
#           --settle s, then --window s with nothing happening: bytes/s each
#           box received on its eth0 (frames, TCP/IP headers included: the
#           veth's counters), mean / min / max over the boxes, what they
#           sent, the coordinator's send rate, beacon broadcasts per box per
#           minute (nftables counters in every namespace); then --trials
#           kill -9 of a non-coordinator (time until every survivor has
#           logged it dead) and joins of a new box (until every member has
#           logged it), from the nodes' own logs;
#    busy   (--busy, meshwatch only) the same window while every box's
#           scheduler inputs change every second (`meshwatch load`): what
#           the forecast digests cost when they move;
#    lo     N on 127.0.0.1 inside one namespace (its `lo` counts every
#           packet once): bytes per box = all of lo's / N;
#    loss   --loss-n boxes, P % random inbound loss on every box (nftables,
#           counted) for --loss-secs: false deaths (member_dead / memberlist
#           leave events), suspicions, coordinator changes.
#
#  Timings on a shared 2-core box are noisy, byte counts are not: the load
#  average is printed with the results.
#  =========================================================================
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if [ "${1:-}" = --one ]; then
    #  Child: one configuration.  --one WHAT IMPL N NETID RESULTFILE ARGS...
    what=$2 impl=$3 n=$4 netid=$5 res=$6; shift 6
    . "$SRC/tests/lib/testbed.sh"
    . "$SRC/tests/lib/wirebed.sh"
    tb_init "wire_${impl}${what}${n}" "$netid"
    tb_require_mw; tb_require_netns
    log () { echo "[$impl $what N=$n] $*"; }
    if [ "$impl" = ml ]; then
        WB_ML_DIR=${WB_ML_DIR:-/tmp/mw-wire-bench}
        wb_ml_build || tb_skip "memberlist yardstick unavailable"
    fi
    nodes=$(seq 1 "$n" | tr '\n' ' ')
    #  start I [SEED_INDEX]
    start () {
        if [ "$impl" = ml ]; then wb_ml_start "$1" "$( [ "$1" != 1 ] && tb_ip 1)"
        else tb_start_agent "$1" "DEAD_REAP_MS=600000" "${MW_EXTRA[@]}"; fi
    }
    converged () { if [ "$impl" = ml ]; then wb_ml_converged "$@"; else tb_all_alive "$@"; fi; }
    coordinator () {   #  index of the coordinator as node $1 sees it
        local c; c=$(tb_status "$1" | jq -r '.coordinator // empty' 2>/dev/null)
        [ -n "$c" ] || return 1
        local i; for i in $nodes; do [ "$(tb_id "$i")" = "$c" ] && { echo "$i"; return 0; }; done; return 1
    }
    MW_EXTRA=()

    if [ "$what" = idle ] || [ "$what" = busy ]; then
        window=$1 settle=$2 trials=$3
        tb_bridge
        #  meshwatch agents each in a cgroup (1 core): their digests read
        #  their own CPU, not the shared machine's load (a box that looks
        #  busy publishes every sample: scheduler/freshness.h).
        [ "$impl" = mw ] && TB_AGENT_WRAPPER=(sh "$SRC/tests/forecast/cgroupfs-wrap.sh")
        for i in $(seq 1 $(( n + 1 ))); do
            tb_host "$i"; wb_beacon_counter "$i"
            [ "$impl" = mw ] && tb_cgroup_cpu "$i" 100
        done
        t0=$(tb_now_ms)
        for i in $nodes; do start "$i"; done
        # shellcheck disable=SC2086
        tb_wait_until $(( 60 + n * 3 )) converged $nodes || tb_fail "no convergence"
        log "converged in $(tb_secs $(( $(tb_now_ms) - t0 ))) s; settling $settle s"
        sleep "$settle"
        bpid=""
        if [ "$what" = busy ]; then
            #  Every box's scheduler inputs move every second: digests change.
            ( while :; do for i in $nodes; do tb_cli "$i" load --state-dir "$(tb_state_dir "$i")" \
                  $(( RANDOM % 12 )) "$(( RANDOM % 50 )).$(( RANDOM % 10 ))" >/dev/null 2>&1 & done; wait; sleep 1; done ) &
            bpid=$!; TB_BG_PIDS+=("$bpid")
            sleep 3
        fi
        declare -A b0
        for i in $nodes; do b0[$i]=$(wb_beacons "$i" out); done
        coord=""; [ "$impl" = mw ] && coord=$(coordinator 1)
        #  Where the bytes go: one follower's and the coordinator's per-type counters.
        fol=""; for i in $nodes; do [ "$i" != "$coord" ] && { fol=$i; break; }; done
        if [ "$impl" = mw ]; then
            wb_bytype_snap "$TB_DIR/f0" "$fol"; [ -n "$coord" ] && wb_bytype_snap "$TB_DIR/c0" "$coord"
        fi
        # shellcheck disable=SC2086
        wb_snap "$TB_DIR/s0" $nodes; sleep "$window"; wb_snap "$TB_DIR/s1" $nodes
        if [ "$impl" = mw ]; then
            wb_bytype_snap "$TB_DIR/f1" "$fol"; [ -n "$coord" ] && wb_bytype_snap "$TB_DIR/c1" "$coord"
            log "by message type, sealed bytes (+42 B per datagram on the wire): type in msgs/s, in B/s, out msgs/s, out B/s"
            wb_bytype "$TB_DIR/f0" "$TB_DIR/f1" | sed "s/^/    follower n$fol: /"
            [ -n "$coord" ] && wb_bytype "$TB_DIR/c0" "$TB_DIR/c1" | sed "s/^/    coordinator n$coord: /"
        fi
        [ -n "$bpid" ] && { kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; }
        wb_rates "$TB_DIR/s0" "$TB_DIR/s1" > "$TB_DIR/rates"
        read -r mean mn mx < <(wb_summary "$TB_DIR/rates")
        txm=$(awk '{ s += $3 } END { printf "%d", s / NR }' "$TB_DIR/rates")
        ctx=-; [ -n "$coord" ] && ctx=$(awk -v c="$coord" '$1 == c { print $3 }' "$TB_DIR/rates")
        bsum=0; for i in $nodes; do bsum=$(( bsum + $(wb_beacons "$i" out) - b0[$i] )); done
        bpm=$(awk -v s="$bsum" -v n="$n" -v w="$window" 'BEGIN { printf "%.2f", s / n * 60 / w }')
        log "rx per box mean $mean min $mn max $mx B/s; tx mean $txm; coordinator (n${coord:--}) tx $ctx; beacons/box/min $bpm"
        echo "$impl $what $n rx $mean $mn $mx $txm $ctx $bpm" >> "$res"
        [ "$what" = busy ] && exit 0

        #  Detection: kill -9 a box that is not the coordinator; every
        #  survivor's log shows it dead.  Then it comes back (same state).
        : > "$TB_DIR/kill"; : > "$TB_DIR/join"
        for t in $(seq 1 "$trials"); do
            v=$(( 2 + (t - 1) % (n - 1) ))
            [ "$v" = "$coord" ] && v=$(( v % n + 1 ))
            [ "$v" = "$coord" ] && v=$(( v % n + 1 ))
            surv=$(for i in $nodes; do [ "$i" = "$v" ] || echo "$i"; done | tr '\n' ' ')
            id=""; [ "$impl" = mw ] && id=$(tb_id "$v")
            k0=$(tb_now_ms); tb_kill9 "$v"
            if [ "$impl" = ml ]; then
                # shellcheck disable=SC2086
                tb_wait_until 60 wb_ml_last leave "n$v" "$k0" $surv >/dev/null
                # shellcheck disable=SC2086
                ms=$(wb_ml_last leave "n$v" "$k0" $surv)
            else
                # shellcheck disable=SC2086
                tb_wait_until 60 tb_all_see "$v" dead $surv
                r=$(tb_last_event_ms "$k0" "$(tb_now_ms)" member_dead "$v" "$surv")
                ms=${r% *}; [ "${r#* }" = 0 ] || ms=""
            fi
            log "kill -9 n$v: ${ms:-?} ms"
            [ -n "$ms" ] && echo "$ms" >> "$TB_DIR/kill"
            if [ "$impl" = ml ]; then start "$v"; else tb_restart_agent "$v"; fi
            # shellcheck disable=SC2086
            tb_wait_until 60 converged $nodes || log "  n$v not back everywhere within 60 s"
            sleep 2
        done
        #  Join: a new box (fresh identity each time) until every member logged it.
        new=$(( n + 1 ))
        for t in $(seq 1 "$trials"); do
            rm -rf "$(tb_node_dir "$new")"; tb_forget_id "$new"
            j0=$(tb_now_ms); start "$new"
            if [ "$impl" = ml ]; then
                # shellcheck disable=SC2086
                tb_wait_until 60 wb_ml_last join "n$new" "$j0" $nodes >/dev/null
                # shellcheck disable=SC2086
                ms=$(wb_ml_last join "n$new" "$j0" $nodes)
            else
                tb_wait_ready "$new" 20
                # shellcheck disable=SC2086
                tb_wait_until 60 tb_all_see "$new" alive $nodes
                r=$(tb_last_event_ms "$j0" "$(tb_now_ms)" member_join,member_alive "$new" "$nodes")
                ms=${r% *}; [ "${r#* }" = 0 ] || ms=""
            fi
            log "join of a new box: ${ms:-?} ms"
            [ -n "$ms" ] && echo "$ms" >> "$TB_DIR/join"
            tb_term "$new" 10
            sleep 2
        done
        echo "$impl $what $n kill $(wb_pct 50 < "$TB_DIR/kill") $(wb_pct 99 < "$TB_DIR/kill") $(wc -l < "$TB_DIR/kill")" >> "$res"
        echo "$impl $what $n join $(wb_pct 50 < "$TB_DIR/join") $(wb_pct 99 < "$TB_DIR/join") $(wc -l < "$TB_DIR/join")" >> "$res"
        exit 0
    fi

    if [ "$what" = lo ]; then
        #  N on 127.0.0.1 inside one namespace (host 1): its lo sees each
        #  packet once.  meshwatch joins through node 1 (no beacon on lo).
        window=$1 settle=$2
        tb_bridge; tb_host 1
        base=$(( 20000 + netid * 10 ))
        for i in $nodes; do
            p=$(( base + 2 * i ))
            if [ "$impl" = ml ]; then
                d="$TB_DIR/n$i"; mkdir -p "$d"
                seed=(); [ "$i" != 1 ] && seed=(-join "127.0.0.1:$(( base + 2 ))")
                ( exec setsid ip netns exec "${TB_NS[1]}" "$WB_ML" -name "n$i" -bind 127.0.0.1 -port "$p" "${seed[@]}" \
                    -key "$(printf '%s' "$TB_KEY" | base64 -d | head -c 32 | base64)" ) >>"$d/ml.log" 2>&1 </dev/null &
                TB_PID[$i]=$!; TB_KIND[$i]=ns
            else
                TB_KIND[$i]=lo
                tb_base_config "$i"
                join=""; [ "$i" != 1 ] && join="127.0.0.1:$(( base + 2 ))"
                tb__launch "$i" "${TB_NS[1]}" "${TB_BASE[@]}" "JOB_PORT=0" "MESH_ADDR=127.0.0.1" "MESH_PORT=$p" \
                    "EVENTS_PORT=$(( p + 1 ))" "JOIN=$join" "DEAD_REAP_MS=600000" "MESH_INTERFACE="
                TB_KIND[$i]=lo
            fi
        done
        t0=$(tb_now_ms)
        # shellcheck disable=SC2086
        tb_wait_until $(( 60 + n * 2 )) converged $nodes || tb_fail "no convergence"
        log "converged in $(tb_secs $(( $(tb_now_ms) - t0 ))) s; settling $settle s"
        sleep "$settle"
        lo_rx () { ip netns exec "${TB_NS[1]}" cat /sys/class/net/lo/statistics/rx_bytes; }
        a=$(lo_rx); w0=$(tb_now_ms); sleep "$window"; b=$(lo_rx); w1=$(tb_now_ms)
        per=$(( (b - a) * 1000 / (w1 - w0) / n ))
        ctx=-
        if [ "$impl" = mw ]; then
            #  The coordinator's payload bytes out (status counters) against a follower's.
            c=$(tb_status 1 | jq -r '.coordinator // empty')
            for i in $nodes; do [ "$(tb_id "$i")" = "$c" ] && coord=$i; done
            log "coordinator n${coord:-?}"
        fi
        log "bytes per box (lo rx / N): $per B/s"
        echo "$impl lo $n rx $per - - - $ctx -" >> "$res"
        exit 0
    fi

    if [ "$what" = loss ]; then
        pct=$1 secs=$2
        tb_bridge
        for i in $nodes; do tb_host "$i"; done
        for i in $nodes; do start "$i"; done
        # shellcheck disable=SC2086
        tb_wait_until 60 converged $nodes || tb_fail "no convergence"
        sleep 5
        coord=""; [ "$impl" = mw ] && coord=$(tb_id "$(coordinator 1)")
        tb_loss_all "$pct"
        l0=$(tb_now_ms); sleep "$secs"; l1=$(tb_now_ms)
        drops=0; for i in $nodes; do d=$(wb_loss_check "$i") || tb_fail "loss rule of n$i dropped nothing"; drops=$(( drops + d )); done
        tb_loss_clear
        if [ "$impl" = ml ]; then
            # shellcheck disable=SC2086
            deaths=$(wb_ml_count leave "$l0" "$l1" $nodes); sus=-; changes=-
        else
            # shellcheck disable=SC2086
            deaths=$(wb_log_count member_dead "$l0" "$l1" $nodes)
            # shellcheck disable=SC2086
            sus=$(wb_log_count member_suspect "$l0" "$l1" $nodes)
            # shellcheck disable=SC2086
            changes=$(( $(wb_log_count coordinator_elected "$l0" "$l1" $nodes) + $(wb_log_count step_down "$l0" "$l1" $nodes) ))
            now=$(tb_id "$(coordinator 1)")
            [ "$now" = "$coord" ] || changes="$changes(moved)"
        fi
        log "$pct % loss $secs s: dropped $drops packets; false deaths $deaths, suspicions $sus, coordinator changes $changes"
        echo "$impl loss $n $pct $secs $drops $deaths $sus $changes" >> "$res"
        exit 0
    fi
    tb_die "unknown configuration $what"
fi

#  ---- parent ---------------------------------------------------------------
SIZES="5 20"; LO="100"; LOSS="10 20 30 40 50"; LOSS_N="5"; LOSS_SECS=60; WINDOW=30; SETTLE=20; TRIALS=5
IMPLS="mw ml"; BUSY=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) SIZES="5"; LO=""; LOSS="30"; LOSS_SECS=30; WINDOW=10; SETTLE=10; TRIALS=2;;
        --sizes) SIZES=$2; shift;;
        --lo) LO=$2; shift;;
        --loss) LOSS=$2; shift;;
        --loss-n) LOSS_N=$2; shift;;
        --loss-secs) LOSS_SECS=$2; shift;;
        --window) WINDOW=$2; shift;;
        --settle) SETTLE=$2; shift;;
        --trials) TRIALS=$2; shift;;
        --only) IMPLS=$2; shift;;
        --busy) BUSY=1;;
        -h|--help) sed -n '2,35p' "$0"; exit 0;;
        *) echo "wire.sh: unknown option $1" >&2; exit 2;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "wire.sh: needs root (namespaces)"; exit 77; }
res=$(mktemp /tmp/mw-wire-XXXXXX)
export WB_ML_DIR=/tmp/mw-wire-bench.$$
rc=0
#  run TIMEOUT WHAT IMPL N [ARGS...]
run () {
    timeout -k 20 "$1" bash "$0" --one "$2" "$3" "$4" "$netid" "$res" "${@:5}" ||
        { echo "configuration $2 $3 N=$4 ${*:5} failed (rc=$?)"; rc=1; }
}
netid=45
for n in $SIZES; do
    for impl in $IMPLS; do run $(( 240 + WINDOW + SETTLE + TRIALS * 60 + n * 6 )) idle "$impl" "$n" "$WINDOW" "$SETTLE" "$TRIALS"; done
    [ "$BUSY" = 1 ] && [[ " $IMPLS " == *" mw "* ]] && run $(( 200 + WINDOW + SETTLE + n * 6 )) busy mw "$n" "$WINDOW" "$SETTLE" 0
done
for n in $LO; do
    for impl in $IMPLS; do run $(( 300 + WINDOW + SETTLE + n * 3 )) lo "$impl" "$n" "$WINDOW" "$SETTLE"; done
done
for n in $LOSS_N; do
    for p in $LOSS; do
        for impl in $IMPLS; do run $(( 180 + LOSS_SECS + n * 6 )) loss "$impl" "$n" "$p" "$LOSS_SECS"; done
    done
done
rm -rf "$WB_ML_DIR"

echo
echo "wire benchmark, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mw = meshwatch, ml = memberlist 0.2.2 LAN defaults (encrypted); bytes/s per box on the wire (frames, headers included)"
printf '%-3s %-5s %4s | %-24s | %8s | %8s | %10s | %-16s | %-16s\n' impl mode N "rx B/s mean/min/max" "tx mean" "coord tx" "beacon/min" "kill-9 p50/p99" "join p50/p99"
for n in $SIZES $LO; do
    for mode in idle busy lo; do
        for impl in $IMPLS; do
            r=$(awk -v i="$impl" -v m="$mode" -v n="$n" '$1 == i && $2 == m && $3 == n && $4 == "rx"' "$res")
            [ -n "$r" ] || continue
            read -r _ _ _ _ mean mn mx txm ctx bpm <<<"$r"
            k=$(awk -v i="$impl" -v m="$mode" -v n="$n" '$1 == i && $2 == m && $3 == n && $4 == "kill" { print $5 "/" $6 " ms" }' "$res")
            j=$(awk -v i="$impl" -v m="$mode" -v n="$n" '$1 == i && $2 == m && $3 == n && $4 == "join" { print $5 "/" $6 " ms" }' "$res")
            printf '%-3s %-5s %4s | %-24s | %8s | %8s | %10s | %-16s | %-16s\n' "$impl" "$mode" "$n" "$mean/$mn/$mx" "$txm" "$ctx" "$bpm" "${k:--}" "${j:--}"
        done
    done
done
if grep -q ' loss ' "$res"; then
    echo
    printf '%-3s %4s %6s %6s | %10s | %12s | %11s | %s\n' impl N "loss%" secs dropped "false deaths" suspicions "coordinator changes"
    awk '$2 == "loss" { printf "%-3s %4s %6s %6s | %10s | %12s | %11s | %s\n", $1, $3, $4, $5, $6, $7, $8, $9 }' "$res" | sort -k2n -k3n -k1
fi
rm -f "$res"
exit $rc
