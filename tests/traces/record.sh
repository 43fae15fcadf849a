#!/usr/bin/env bash
#  record.sh KIND SECONDS OUT.csv - record a real 1 Hz CPU % trace of a
#  workload: the CPU time of its own cgroup (cgroup v1 cpuacct.usage, as
#  node_collector reads a limited node) over the box's CPUs.  The dev box is
#  shared and often saturated by other builds, so the host's /proc/stat
#  reads a flat 100 %; the workload's own cgroup still shows its bursts
#  and ramps, and the contention it meets is real.  Workloads:
#    compile  build meshwatch out of tree, again and again (make -j2)
#    bursty   CPU burners (sha256sum of /dev/zero) in random bursts:
#             1-2 workers for 2-12 s, idle 2-10 s (seeded: RANDOM=7)
#    ramp     idle 30 s, then 1, 2, 3, 4 workers, 30 s each
#  The box is shared: other work running at the time is part of the load.
#  Used once to make tests/traces/real-*.csv; not run by `make check`.
set -u
kind=$1 secs=$2 out=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
pids=()
burn () { timeout "$1" sha256sum /dev/zero >/dev/null 2>&1 & pids+=($!); }
cg=/sys/fs/cgroup/cpuacct/mwtrace-$$
mkdir "$cg" || { echo "cannot create $cg (needs root, cgroup v1 cpuacct)" >&2; exit 1; }
ncpu=$(nproc)
sample () {
    local t0 prev=0 prev_t=0 i now u
    t0=$(date +%s.%N)
    echo "timestamp,value" > "$out"
    for ((i = 0; i <= secs; i++)); do
        now=$(date +%s.%N); u=$(cat "$cg/cpuacct.usage")
        if [ $i -gt 0 ]; then
            awk -v t="$now" -v t0="$t0" -v pt="$prev_t" -v du=$((u - prev)) -v n="$ncpu" \
                'BEGIN { v = 100 * du / 1e9 / ((t - pt) * n); if (v > 100) v = 100;
                         printf "%.3f,%.2f\n", t - t0, v }' >> "$out"
        fi
        prev=$u prev_t=$now
        sleep 1
    done
}
sample & spid=$!
#  Everything below runs inside the cgroup.
echo $$ > "$cg/cgroup.procs"
case $kind in
compile)
    b=$(mktemp -d /tmp/trace-build-XXXXXX)
    ( cd "$b" && "$src/configure" -q >/dev/null 2>&1
      while kill -0 $spid 2>/dev/null; do make -s -j2 libmwgossip.a libmwnode.a libmwcommon.a libmwconfig.a >/dev/null 2>&1; make -s clean >/dev/null 2>&1; done ) &
    pids+=($!) ;;
bursty)
    RANDOM=7
    ( end=$(( $(date +%s) + secs ))
      while [ "$(date +%s)" -lt "$end" ]; do
          on=$(( 2 + RANDOM % 11 )) w=$(( 1 + RANDOM % 2 ))
          for ((k = 0; k < w; k++)); do timeout $on sha256sum /dev/zero >/dev/null 2>&1 & done
          wait; sleep $(( 2 + RANDOM % 9 ))
      done ) & pids+=($!) ;;
ramp)
    ( sleep 30; for w in 1 2 3 4; do for ((k = 0; k < w; k++)); do timeout 30 sha256sum /dev/zero >/dev/null 2>&1 & done; wait; done ) &
    pids+=($!) ;;
*) echo "unknown kind $kind" >&2; kill $spid; exit 2 ;;
esac
wait $spid
for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
[ -n "${b:-}" ] && rm -rf "$b"
echo $$ > /sys/fs/cgroup/cpuacct/cgroup.procs
sleep 0.5; rmdir "$cg" 2>/dev/null || echo "warning: $cg not removed" >&2
echo "wrote $out ($(($(wc -l < "$out") - 1)) samples)"
