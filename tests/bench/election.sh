#!/usr/bin/env bash
#  =========================================================================
#  election.sh - coordinator election benchmark (not in make check; root).
#
#    tests/bench/election.sh [--quick] [--trials T] [--sizes "5 20"]
#
#  For each mesh size N (namespaced agents on one bridge):
#    * failover, T trials each of kill -9 and SIGSTOP of the coordinator:
#      fault -> every survivor has LOGGED the same new coordinator (times
#      from the agents' logs, so a slow CLI on a loaded box does not count);
#      the victim is restarted / continued before the next trial;
#    * heal: split the mesh in two halves until both have a coordinator,
#      heal -> every node logged the single winner;
#    * heartbeat bytes per node per second, from the election counters
#      (heartbeats sent by the coordinator, received by a follower) times
#      the sealed heartbeat size (44 B plaintext + 44 B envelope).
#  Prints p50 / p99 / max per mode and size.  MW_BUILDDIR or MESHWATCH
#  points at the binary.
#  =========================================================================
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
TRIALS=20; SIZES="5 20"
while [ $# -gt 0 ]; do
    case $1 in
        --quick) TRIALS=5; SIZES="5"; shift ;;
        --trials) TRIALS=$2; shift 2 ;;
        --sizes) SIZES=$2; shift 2 ;;
        *) echo "usage: $0 [--quick] [--trials T] [--sizes \"5 20\"]"; exit 2 ;;
    esac
done
HB_WIRE=88   # sealed HEARTBEAT: 44 B plaintext (term < 2^16) + 44 B envelope
tb_init election_bench 44
tb_require_mw; tb_require_netns; tb_bridge
maxn=0; for n in $SIZES; do [ "$n" -gt "$maxn" ] && maxn=$n; done
for i in $(seq 1 "$maxn"); do tb_host "$i"; done

pct () {   # pct P < numbers
    sort -n | awk -v p="$1" '{a[NR]=$1} END {if (NR==0) {print "-"; exit} i=int((NR*p+99)/100); if(i<1)i=1; if(i>NR)i=NR; print a[i]}'
}
#  Coordinator as node 'from's status says (id term), empty if none.
coord_of () { tb_status "$1" | jq -r 'select(.coordinator != null) | "\(.coordinator) \(.term)"' 2>/dev/null; }

for N in $SIZES; do
    nodes=$(seq 1 "$N" | tr '\n' ' ')
    for i in $nodes; do tb_start_agent "$i" "DEAD_REAP_MS=600000"; done
    # shellcheck disable=SC2086
    tb_wait_until 60 tb_all_alive $nodes || tb_die "N=$N: no convergence"
    tb_wait_until 30 el_agreed 1 >/dev/null
    sleep 3
    for mode in kill stop; do
        : > "$TB_DIR/fo_${N}_$mode"
        for t in $(seq 1 "$TRIALS"); do
            read -r old term < <(coord_of 1)
            [ -n "$old" ] || { sleep 1; read -r old term < <(coord_of 1); }
            # shellcheck disable=SC2086
            v=$(el_index_of "$old" $nodes) || { echo "  trial $t: coordinator unknown"; continue; }
            watch=1; [ "$v" = 1 ] && watch=2
            surv=$(for i in $nodes; do [ "$i" = "$v" ] || echo "$i"; done | tr '\n' ' ')
            t0=$(tb_now_ms)
            if [ "$mode" = kill ]; then tb_kill9 "$v"; else tb_stop "$v"; fi
            _moved () { local c tt; read -r c tt < <(coord_of "$watch"); [ -n "$c" ] && [ "$c" != "$old" ]; }
            tb_wait_until 20 _moved || { echo "  N=$N $mode trial $t: no new coordinator"; }
            read -r new nterm < <(coord_of "$watch")
            took=""
            for _ in 1 2 3 4 5 6 7 8 9 10; do
                # shellcheck disable=SC2086
                took=$(el_log_named "$nterm" "$t0" $surv)
                [ -n "$took" ] && break; sleep 0.5
            done
            echo "  N=$N $mode trial $t: n$v term $term -> term $nterm: ${took:-?} ms"
            [ -n "$took" ] && echo "$took" >> "$TB_DIR/fo_${N}_$mode"
            if [ "$mode" = kill ]; then tb_restart_agent "$v"; else tb_cont "$v"; fi
            #  Wait until the victim follows again (logged the current term).
            _back () { local c tt; read -r c tt < <(coord_of "$v"); [ -n "$c" ] && [ "$c" != "$old" ]; }
            tb_wait_until 30 _back || echo "  n$v did not rejoin as a follower within 30 s"
            sleep 1
        done
    done
    #  Heartbeat bytes: counters over 10 s on the coordinator and a follower.
    read -r cid _ < <(coord_of 1)
    # shellcheck disable=SC2086
    cv=$(el_index_of "$cid" $nodes); fv=1; [ "$cv" = 1 ] && fv=2
    o0=$(tb_stat "$cv" .election.heartbeats_out); i0=$(tb_stat "$fv" .election.heartbeats_in); s0=$(tb_now_ms)
    sleep 10
    o1=$(tb_stat "$cv" .election.heartbeats_out); i1=$(tb_stat "$fv" .election.heartbeats_in); s1=$(tb_now_ms)
    hb_out=$(( (o1 - o0) * HB_WIRE * 1000 / (s1 - s0) )); hb_in=$(( (i1 - i0) * HB_WIRE * 1000 / (s1 - s0) ))
    #  Heal: two halves, both elect, heal, time to one coordinator.  Each
    #  half must name a coordinator of its OWN: right after the split the
    #  half without the coordinator still names the old one (until its
    #  lease lapses), which plain agreement would accept.
    half=$(( N / 2 )); A=$(seq 1 "$half" | tr '\n' ' '); B=$(seq $(( half + 1 )) "$N" | tr '\n' ' ')
    tb_partition "$A" "$B"
    # shellcheck disable=SC2086
    _halves () { el_agreed $A && el_index_of "$EL_COORD" $A >/dev/null && el_agreed $B && el_index_of "$EL_COORD" $B >/dev/null; }
    tb_wait_until 60 _halves || echo "  N=$N: the halves did not both elect their own coordinator within 60 s"
    sleep 2
    th=$(tb_now_ms); tb_partition_heal
    # shellcheck disable=SC2086
    tb_wait_until 90 el_agreed $nodes >/dev/null
    # shellcheck disable=SC2086
    heal=$(el_log_named "$EL_TERM" "$th" $nodes)
    [ -n "$heal" ] || heal=$(( $(tb_now_ms) - th ))
    for mode in kill stop; do
        f="$TB_DIR/fo_${N}_$mode"
        printf 'RESULT N=%-3s %-5s failover ms: p50 %s  p99 %s  max %s  (%s trials)\n' "$N" "$mode" \
            "$(pct 50 <"$f")" "$(pct 99 <"$f")" "$(pct 100 <"$f")" "$(wc -l <"$f")"
    done
    echo "RESULT N=$N heal -> single coordinator: $heal ms (includes SWIM re-merging the halves)"
    echo "RESULT N=$N heartbeat bytes/s: coordinator sends $hb_out B/s, a follower receives $hb_in B/s (sealed, no TCP/IP headers)"
    for i in $nodes; do tb_term "$i" 5 >/dev/null 2>&1; rm -rf "$(tb_node_dir "$i")"; done
done
