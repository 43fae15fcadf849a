#!/usr/bin/env bash
#  cycles_lo: 50 camera outages in a row leave nothing behind.  A real RTSP
#  server (GStreamer) on loopback serves two cameras of one loopback agent
#  (no models: the ingest alone).  Each cycle breaks both streams: every
#  fifth the server is killed (-9) and started again (a camera reboot,
#  which also exercises the refused-port probe), the others drop every
#  session (SIGUSR1: the stream ends, as when an encoder restarts).  After
#  each cycle both cameras must be online again (within 8 s).  Asserts:
#    * all 50 cycles recovered, both cameras; one offline and one online
#      per camera per cycle (no storm of events);
#    * the agent's threads and file descriptors are the same after the 50
#      cycles as after the first two (no thread or fd growth), and its
#      anonymous memory (heap, stacks) grew by less than 8 MiB (not PSS:
#      a parallel test's agent starting or exiting moved it by 17 MiB).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
# shellcheck source=/dev/null
. "$SRC/tests/infer/models-env.sh"
cam_require_tools
tb_hard_timeout 150 "$@"
tb_init cycles_lo 39
tb_require_mw
VIDEO=$(cam_video 240 320x180)
RP=$(( TB_PORTBASE + 150 ))
tb_port_free "$RP" || tb_die "port $RP in use"
cam_server cam "$RP" "$VIDEO"
tb_start_agent_lo 1
tb_wait_ready 1 20
LOG=$(tb_log_file 1)
cam_add 1 "$(cam_doc camA 37.57 126.98 "rtsp://127.0.0.1:$RP/axis-media/media.amp" '"fps":1')" &&
    cam_add 1 "$(cam_doc camB 37.58 126.98 "rtsp://127.0.0.1:$RP/onvif-media/media.amp" '"fps":1')" ||
    tb_fail "camera add"
n_online () { grep -c "event=camera_online camera=$1 " "$LOG"; }
n_offline () { grep -c "event=camera_offline camera=$1 " "$LOG"; }
both_since () { [ "$(n_online camA)" -gt "$1" ] && [ "$(n_online camB)" -gt "$2" ]; }
tb_wait_until 10 both_since 0 0 || tb_fail "the cameras never came online"
PID=$(tb_pid 1)

cycle () {   #  cycle N: break both streams, wait until both are back
    local k=$1 a b
    a=$(n_online camA); b=$(n_online camB)
    if [ $(( k % 5 )) = 0 ]; then cam_server_kill cam; cam_server_restart cam
    else kill -USR1 "${CAM_SRV_PID[cam]}"; fi
    tb_wait_until 8 both_since "$a" "$b"
}
for k in 1 2; do cycle "$k" || tb_fail "warm-up cycle $k: the cameras did not come back"; done
sleep 0.5
th0=$(cam_threads "$PID"); fd0=$(cam_fds "$PID"); an0=$(tb_anon_kb 1)
on0=$(( $(n_online camA) + $(n_online camB) )); off0=$(( $(n_offline camA) + $(n_offline camB) ))
tb_log "after warm-up: $th0 threads, $fd0 fds, anonymous memory $an0 kB"
t0=$(tb_now_ms)
ok=0
for k in $(seq 1 50); do
    if cycle "$k"; then ok=$(( ok + 1 )); else cam_failc "cycle $k: the cameras did not come back within 8 s"; fi
done
secs=$(( ($(tb_now_ms) - t0) / 1000 ))
[ "$ok" = 50 ] && cam_pass "50 cycles (10 reboots, 40 dropped sessions) in ${secs}s: both cameras back every time"
#  Let the last reconnection settle (no probe socket, no half-open session).
sleep 1
th1=$(cam_threads "$PID"); fd1=$(cam_fds "$PID"); an1=$(tb_anon_kb 1)
on1=$(( $(n_online camA) + $(n_online camB) )); off1=$(( $(n_offline camA) + $(n_offline camB) ))
[ $(( on1 - on0 )) = 100 ] && [ $(( off1 - off0 )) = 100 ] &&
    cam_pass "one offline and one online per camera per cycle ($(( off1 - off0 )) / $(( on1 - on0 )))" ||
    cam_failc "events over 50 cycles x 2 cameras: offline $(( off1 - off0 )), online $(( on1 - on0 )) (want 100 each)"
[ "$th1" = "$th0" ] && cam_pass "threads: $th0 before, $th1 after" || cam_failc "threads: $th0 before, $th1 after"
[ "$fd1" = "$fd0" ] && cam_pass "fds: $fd0 before, $fd1 after" || cam_failc "fds: $fd0 before, $fd1 after ($(ls -l /proc/$PID/fd | tail -5))"
[ $(( an1 - an0 )) -lt 8192 ] && cam_pass "anonymous memory $an0 -> $an1 kB" || cam_failc "anonymous memory grew $an0 -> $an1 kB"
st=$(tb_cli 1 camera list --json --state-dir "$(tb_state_dir 1)" | jq -r 'map(.ingest.state) | join(",")')
[ "$st" = "streaming,streaming" ] && cam_pass "both streaming at the end" || cam_failc "states at the end: $st"
cam_finish
