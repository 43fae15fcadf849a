#!/usr/bin/env bash
#  placement-sweep.sh - the placement sweep of docs/PLACEMENT.md (issue 16),
#  not part of `make check` (hours on a shared 2-core box; the selftest
#  scheduler/sweep_selftest is the few-second version that is).
#
#  Runs `mw-simulate --sweep` (the code behind `meshwatch simulate --sweep`)
#  over load 0.3 .. 0.95, deadlines 200 / 300 / 500 ms, N = 100 and 1000,
#  5 seeds, bursts as by default; oracle, probe, random and forecast on the
#  same input per seed.  Prints one markdown table per N with the means, the
#  miss ratio to the oracle, the capacity floor and the verdicts PASS / FAIL
#  per cell, and how long it took with the load at the start and the end.
#
#      tests/bench/placement-sweep.sh [--seeds K] [--small-duration S]
#                                     [--large-duration S] [--jobs 1|2]
#
#  N = 100 is measured for 60 s (a small mesh sees few bursts a minute);
#  N = 1000 for 10 s after 10 s of warm-up (a thousand boxes see a burst a
#  second, and one run costs ~30 s of CPU).  --jobs 2 runs the two sizes at
#  once.  Exit 0 when every cell passes, 3 when one fails (the table says
#  which and why; FAIL* marks a criterion the oracle fails too).
#  MW_SIMULATE: the simulator (default $MW_BUILDDIR/scheduler/mw-simulate).
set -u
SIM=${MW_SIMULATE:-${MW_BUILDDIR:-.}/scheduler/mw-simulate}
SEEDS=5 DUR_SMALL=60 DUR_LARGE=10 JOBS=1
while [ $# -gt 0 ]; do
    case $1 in
        --seeds) SEEDS=$2; shift 2 ;;
        --small-duration) DUR_SMALL=$2; shift 2 ;;
        --large-duration) DUR_LARGE=$2; shift 2 ;;
        --jobs) JOBS=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--seeds K] [--small-duration S] [--large-duration S] [--jobs 1|2]" >&2; exit 2 ;;
    esac
done
[ -x "$SIM" ] || { echo "no simulator at $SIM (set MW_BUILDDIR or MW_SIMULATE)" >&2; exit 2; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
t0=$(date +%s)
run () {   #  N DURATION WARMUP OUT
    "$SIM" --sweep --nodes "$1" --seeds "$SEEDS" --duration "$2" --warmup "$3" > "$4" 2> "$4.err"
    echo $? > "$4.rc"
}
if [ "$JOBS" = 2 ]; then
    run 100 "$DUR_SMALL" 15 "$tmp/100" &
    run 1000 "$DUR_LARGE" 10 "$tmp/1000" &
    wait
else
    run 100 "$DUR_SMALL" 15 "$tmp/100"
    run 1000 "$DUR_LARGE" 10 "$tmp/1000"
fi
rc=0
for n in 100 1000; do
    cat "$tmp/$n"
    echo
    r=$(cat "$tmp/$n.rc")
    case $r in
        0) ;;
        3) rc=3 ;;
        *) echo "N=$n: the simulator failed (exit $r):"; tr '\r' '\n' < "$tmp/$n.err" | tail -3; rc=1 ;;
    esac
done
echo "took $(( $(date +%s) - t0 )) s; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
