#!/bin/bash
# The main job, for now: build meshwatch, start a mesh of five agents, show
# `meshwatch members` converging, kill one with -9 and show every survivor
# detecting it, then restart it and show it back with a higher incarnation
# (its new session taken on its own signed record: each box's signature
# counters);
# then the VMS's side: an API token, every box found from one box, a
# subscriber that is killed and resumes from its last event without a gap.
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
tb_init demo 99
N=5
nodes=$(seq 1 $N | tr '\n' ' ')
table () { tb_cli 1 members --state-dir "$(tb_state_dir 1)"; }
ms_since () { echo $(( $(tb_now_ms) - $1 )); }
if [ $mode = ns ]; then
    echo "== starting $N agents in network namespaces on an isolated bridge (zero-config: cluster key + MESH_INTERFACE only)"
    tb_bridge
    for i in $nodes; do tb_host "$i"; done
    for i in $nodes; do tb_start_agent "$i" "API_PORT=7949" "API_BIND=mesh"; done
else
    echo "== starting $N agents on loopback (JOIN seeds; not root, so no namespaces)"
    for i in $nodes; do tb_start_agent_lo "$i" "API_PORT=$(( TB_PORTBASE + 150 + i ))" "API_BIND=mesh"; done
fi
#  The VMS's HTTP client: inside agent 1's namespace (the test bridge has no
#  address in the root namespace), or here on loopback.
if [ $mode = ns ]; then API1="http://$(tb_ip 1):7949"; vms () { tb_exec 1 "$@"; }
else API1="http://127.0.0.1:$(( TB_PORTBASE + 151 ))"; vms () { "$@"; }; fi
for i in $nodes; do tb_wait_ready "$i" 30; done
t0=$(tb_now_ms)
# shellcheck disable=SC2086
tb_wait_until 30 tb_all_alive $nodes || echo "(not converged yet)"
echo "-- every view lists all $N alive ($(ms_since "$t0") ms after the last agent answered):"
table
if [ $mode = ns ]; then
    #  Built for wireless links (issue 17): what the idle mesh costs.
    . "$top/tests/lib/wirebed.sh"
    echo
    echo "== 10 s with nothing happening: bytes each box's link carried (every frame, all headers)"
    # shellcheck disable=SC2086
    wb_snap "$TB_DIR/w0" $nodes; sleep 10
    # shellcheck disable=SC2086
    wb_snap "$TB_DIR/w1" $nodes
    wb_rates "$TB_DIR/w0" "$TB_DIR/w1" | awk '{ printf "   n%s received %5d B/s, sent %5d B/s\n", $1, $2, $3 }'
    echo "   (the coordinator sends the most: its lease heartbeats; beacons have gone quiet)"
fi
victim=3
survivors=$(for i in $nodes; do [ "$i" = $victim ] || printf '%s ' "$i"; done)
echo
echo "== kill -9 agent $victim"
tb_kill9 $victim
t0=$(tb_now_ms)
# shellcheck disable=SC2086
tb_wait_until 30 tb_all_see $victim dead $survivors || echo "(not every survivor sees it dead yet)"
echo "-- every survivor lists it dead after $(ms_since "$t0") ms:"
table
echo
echo "== restart agent $victim (same STATE_DIR: same id, higher incarnation)"
tb_restart_agent $victim
tb_wait_ready $victim 30
t0=$(tb_now_ms)
# shellcheck disable=SC2086
tb_wait_until 30 tb_all_alive $nodes || echo "(not back yet)"
echo "-- alive again everywhere after $(ms_since "$t0") ms:"
table
echo "== node-key signatures (docs/SECURITY.md): what each box checked, and refused"
echo "   (agent $victim came back in a new session: its peers took it because its own signed record names it)"
for i in $nodes; do
    tb_status "$i" | jq -r --arg i "$i" '.signatures | "   agent \($i): records verified \(.records_verified) (refused: unsigned \(.records_unsigned), bad \(.records_bad)); election messages verified \(.election_verified) (bad \(.election_bad))"'
done
echo
echo "== status of agent 1"
tb_cli 1 status --state-dir "$(tb_state_dir 1)"

echo
echo "== the VMS interface (docs/API.md): a token, then every box from one box"
tb_cli 1 token create --name demo-vms --state-dir "$(tb_state_dir 1)" --json | jq -r .token > "$TB_DIR/token"
T=$(cat "$TB_DIR/token")
sleep 1.5   #  the API addresses ride on the next digests
vms curl -s -m 5 -H "Authorization: Bearer $T" "$API1/api/v1/boxes" |
    jq -r '.boxes[] | "   \(.name)  \(.state)  api=\(.api)\(if .self then "  (asked)" else "" end)"'
echo "-- a VMS subscribes to agent 1's events (Server-Sent Events), reports come in, it crashes:"
vms "$TB_PY" "$top/tests/vms/sse_client.py" --api "$API1" --token-file "$TB_DIR/token" --out "$TB_DIR/vms.events" \
    --seconds 20 &
sub=$!
sleep 1
for r in 1 2 3; do tb_cli 1 env report --result $r --state-dir "$(tb_state_dir 1)"; done
sleep 0.5
kill -9 $sub; wait $sub 2>/dev/null
had=$(tail -1 "$TB_DIR/vms.events" | jq -r .id)
echo "   subscriber killed; the last event it had: $had ($(wc -l < "$TB_DIR/vms.events") events)"
for r in 4 5; do tb_cli 1 env report --result $r --state-dir "$(tb_state_dir 1)"; done
tb_kill9 2; tb_restart_agent 2   #  and the mesh changes meanwhile
echo "-- it comes back and resumes after $had (Last-Event-ID): nothing lost, nothing twice"
vms "$TB_PY" "$top/tests/vms/sse_client.py" --api "$API1" --token-file "$TB_DIR/token" --out "$TB_DIR/vms.events" \
    --seconds 3 >/dev/null
awk -v had="$had" 'found { print } index($0, "\"" had "\"") { found = 1 }' "$TB_DIR/vms.events" |
    jq -r '"   \(.id)  \(.topic)"'
dups=$(jq -r .id "$TB_DIR/vms.events" | sort | uniq -d | wc -l)
echo "   $(wc -l < "$TB_DIR/vms.events") events in all, $dups received twice"
echo "== done; stopping the agents and removing the test hosts"
