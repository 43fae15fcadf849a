#!/bin/bash
# The main job, for now: build meshwatch, start a mesh of five agents, show
# `meshwatch members` converging, kill one with -9 and show every survivor
# detecting it, then restart it and show it back with a higher incarnation.
#
# As root the agents run zero-config in network namespaces on an isolated
# bridge (beacons only, no JOIN); otherwise on loopback with JOIN seeds.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cd "$top" || exit 1
[ -x configure ] || ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed" >&2; exit 1; }
mkdir -p "$build" && cd "$build" || exit 1
[ -f Makefile ] || "$top/configure" -q || exit 1
echo "== building"
make -j2 meshwatch >/dev/null || exit 1
export MESHWATCH="$build/meshwatch"
MW_SRCDIR=$top
export MW_SRCDIR

if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 && [ -f "$top/tests/lib/testbed.sh" ]; then
    mode=ns
else
    mode=lo
fi
. "$top/tests/lib/testbed.sh"
tb_init demo
N=5
echo "== starting $N agents ($([ $mode = ns ] && echo 'network namespaces, zero-config beacons' || echo 'loopback, JOIN seeds'))"
if [ $mode = ns ]; then
    tb_bridge
    for i in $(seq 1 $N); do tb_host "$i"; done
    for i in $(seq 1 $N); do tb_start_agent "$i"; done
else
    for i in $(seq 1 $N); do tb_start_agent_lo "$i"; done
fi
t0=$(date +%s%N)
tb_wait_until 20 tb_all_alive $N || echo "(not converged yet)"
echo "converged in $(( ($(date +%s%N) - t0) / 1000000 )) ms:"
tb_members_table 1
victim=3
echo "== kill -9 agent $victim"
tb_kill9 $victim
t0=$(date +%s%N)
for i in $(seq 1 $N); do
    [ "$i" = $victim ] && continue
    tb_wait_until 20 tb_sees_state "$i" "$victim" dead || echo "(agent $i has not seen it yet)"
done
echo "every survivor lists it dead after $(( ($(date +%s%N) - t0) / 1000000 )) ms:"
tb_members_table 1
echo "== restart agent $victim"
tb_restart_agent $victim
tb_wait_until 20 tb_all_alive $N
tb_members_table 1
echo "== done; cleaning up"
