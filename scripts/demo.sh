#!/bin/bash
# The main job, for now: build meshwatch, start a mesh of five agents, show
# `meshwatch members` converging, kill one with -9 and show every survivor
# detecting it, then restart it and show it back with a higher incarnation;
# then cameras: a real RTSP test stream (GStreamer, started here), three
# cameras registered on one box and listed by every box, streaming on the
# boxes they are assigned to, and a focus spreading to the cameras around
# an event (and not to the one 2 km away), ending after its ttl.
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
    for i in $nodes; do tb_start_agent "$i"; done
else
    echo "== starting $N agents on loopback (JOIN seeds; not root, so no namespaces)"
    for i in $nodes; do tb_start_agent_lo "$i"; done
fi
for i in $nodes; do tb_wait_ready "$i" 30; done
t0=$(tb_now_ms)
# shellcheck disable=SC2086
tb_wait_until 30 tb_all_alive $nodes || echo "(not converged yet)"
echo "-- every view lists all $N alive ($(ms_since "$t0") ms after the last agent answered):"
table
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
echo
echo "== status of agent 1"
tb_cli 1 status --state-dir "$(tb_state_dir 1)"

echo
echo "== cameras (docs/CAMERAS.md)"
SRC=$top
. "$top/tests/camera/cam_lib.sh"
if ! command -v ffmpeg >/dev/null 2>&1 ||
    ! "$CAM_PY" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null; then
    echo "(skipped: no ffmpeg or GStreamer RTSP server; scripts/install-deps.sh installs them)"
else
    #  A test stream: the face-api demo pictures when they are cached, else
    #  ffmpeg's test pattern; 30 s, looped by the camera's reconnections.
    demo_dir=${MW_CACHE:-$top/.cache}/face-api/package/demo
    if [ -f "$demo_dir/sample1.jpg" ]; then DEMO=$demo_dir; video=$(cam_video 30 640x360)
    else
        video="$TB_DIR/pattern.mp4"
        ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 -t 30 -c:v libx264 -preset veryfast \
            -g 25 -bf 0 -pix_fmt yuv420p "$video"
    fi
    if [ $mode = ns ]; then cam_server demo 8554 "$video" 1; host=$(tb_ip 1); else
        cam_server demo $(( TB_PORTBASE + 150 )) "$video"; host=127.0.0.1; fi
    port=$([ $mode = ns ] && echo 8554 || echo $(( TB_PORTBASE + 150 )))
    echo "-- an RTSP server at rtsp://$host:$port/axis-media/media.amp and .../onvif-media/media.amp"
    #  Two cameras 100 m apart (boxes 1 and 2), one 2 km away (box 3).
    cam_add 1 "$(cam_doc gate 37.5700 126.9800 "rtsp://root:root@$host:$port/axis-media/media.amp" '"box":"n1","fps":2')"
    cam_add 1 "$(cam_doc lobby 37.5709 126.9800 "rtsp://$host:$port/onvif-media/media.amp" '"box":"n2","fps":1')"
    cam_add 1 "$(cam_doc depot 37.5880 126.9800 "rtsp://$host:$port/axis-media/media.amp" '"box":"n3","fps":1')"
    streaming () { [ "$(tb_cli "$1" camera show "$2" --json --state-dir "$(tb_state_dir "$1")" 2>/dev/null |
                      jq -r .ingest.state)" = streaming ]; }
    tb_wait_until 15 streaming 1 gate; tb_wait_until 15 streaming 2 lobby; tb_wait_until 15 streaming 3 depot
    sleep 2
    echo "-- registered on box 1 (the seed's JSON), listed by box 4: analysed by the boxes they are assigned to"
    tb_cli 4 camera list --state-dir "$(tb_state_dir 4)"
    echo "-- box 2 pulls 'lobby':"
    tb_cli 2 camera show lobby --state-dir "$(tb_state_dir 2)"
    echo
    echo "== meshwatch focus --camera gate --radius-m 300 --ttl-s 4 (on box 1)"
    tb_cli 1 focus --camera gate --radius-m 300 --ttl-s 4 --state-dir "$(tb_state_dir 1)"
    sleep 0.5
    for i in 2 3; do
        echo "-- box $i:"
        tb_cli "$i" focus list --state-dir "$(tb_state_dir "$i")"
    done
    sleep 4
    echo "-- 4 s later, box 2:"
    tb_cli 2 focus list --state-dir "$(tb_state_dir 2)"
fi
echo "== done; stopping the agents and removing the test hosts"
