#!/usr/bin/env bash
#  reconnect_lo: a camera that reboots and a camera that freezes.  A real
#  RTSP server (GStreamer) on loopback, one loopback agent without models
#  (the cameras are watched, not analysed: this is about the ingest).
#  Asserts:
#    * reboot: the server is killed (-9) and started again, three times,
#      after 1, 3 and 6 s down (the back-off grows meanwhile): the camera
#      is announced offline once per outage, and its first frame comes at
#      most 3 s after the server listens again (camera.online's ts against
#      the server's ready time);
#    * freeze: the server is stopped (SIGSTOP) for 10 s: camera.stalled
#      within 6 s of the stop, camera.online again after SIGCONT (within
#      5 s), and the agent kept answering meanwhile.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
# shellcheck source=/dev/null
. "$SRC/tests/infer/models-env.sh"
cam_require_tools
tb_hard_timeout 120 "$@"
tb_init reconnect_lo 36
tb_require_mw
VIDEO=$(cam_video 120 640x360)
RP=$(( TB_PORTBASE + 150 ))
tb_port_free "$RP" || tb_die "port $RP in use"
cam_server cam "$RP" "$VIDEO"
tb_start_agent_lo 1 "CAMERA_STALL_MS=4000"
tb_wait_ready 1 20
S1=$(tb_state_dir 1)
EV="$TB_DIR/events1.jsonl"
cam_events 1 "$EV"
sleep 0.5
cam_add 1 "$(cam_doc gate 37.57 126.98 "rtsp://127.0.0.1:$RP/axis-media/media.amp" '"fps":2')" ||
    tb_fail "camera add"
count () { cam_ev "$EV" | jq -r --arg t "$1" --argjson s "${2:-0}" 'select(.topic==$t and .ts_ms >= $s) | .ts_ms' | wc -l; }
first () { cam_ev "$EV" | jq -r --arg t "$1" --argjson s "$2" 'select(.topic==$t and .ts_ms >= $s) | .ts_ms' | head -1; }
up () { [ "$(count camera.online "${1:-0}")" -ge 1 ]; }
tb_wait_until 10 up || tb_fail "the camera never came online"
cam_pass "camera online"

echo "---- reboots: killed, back after 1, 3 and 6 s"
worst=0
for down in 1 3 6; do
    sleep 1
    tk=$(tb_now_ms)
    cam_server_kill cam
    sleep "$down"
    cam_server_restart cam
    back=$(cam_server_ready_ms cam)
    up_after () { [ -n "$(first camera.online "$back")" ]; }
    if tb_wait_until 8 up_after; then
        ms=$(( $(first camera.online "$back") - back ))
        [ $ms -gt $worst ] && worst=$ms
        off=$(count camera.offline "$tk")
        if [ $ms -le 3000 ] && [ "$off" = 1 ]; then
            cam_pass "down ${down}s: first frame ${ms} ms after the server was back; offline announced once"
        else
            cam_failc "down ${down}s: first frame ${ms} ms after the server was back (want <= 3000), offline x$off"
        fi
    else
        cam_failc "down ${down}s: no camera.online within 8 s of the server's return"
    fi
done
echo "reconnect: worst ${worst} ms"

echo "---- freeze: SIGSTOP 10 s"
sleep 2
ts=$(tb_now_ms)
kill -STOP "${CAM_SRV_PID[cam]}"
stalled () { [ "$(count camera.stalled "$ts")" -ge 1 ]; }
if tb_wait_until 8 stalled; then
    ms=$(( $(first camera.stalled "$ts") - ts ))
    [ $ms -le 6000 ] && cam_pass "camera.stalled ${ms} ms after the stop" ||
        cam_failc "camera.stalled ${ms} ms after the stop (want <= 6000)"
else
    cam_failc "no camera.stalled within 8 s of the stop"
fi
#  The agent keeps answering while its camera is frozen.
st=$(tb_cli 1 camera show gate --json --state-dir "$S1" | jq -r .ingest.state)
[ -n "$st" ] && cam_pass "agent answers during the freeze (ingest $st)" || cam_failc "agent does not answer"
sleep $(( 10 - ( $(tb_now_ms) - ts ) / 1000 ))
tc=$(tb_now_ms)
kill -CONT "${CAM_SRV_PID[cam]}"
rec () { [ -n "$(first camera.online "$tc")" ]; }
if tb_wait_until 8 rec; then
    ms=$(( $(first camera.online "$tc") - tc ))
    [ $ms -le 5000 ] && cam_pass "online again ${ms} ms after SIGCONT" || cam_failc "online ${ms} ms after SIGCONT"
else
    cam_failc "no camera.online within 8 s of SIGCONT"
fi
st=$(tb_cli 1 camera show gate --json --state-dir "$S1" | jq -r .ingest.state)
[ "$st" = streaming ] && cam_pass "streaming at the end" || cam_failc "state at the end: $st"
cam_finish
