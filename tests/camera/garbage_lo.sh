#!/usr/bin/env bash
#  garbage_lo: junk on the RTSP socket never crashes the agent.  A hostile
#  "camera" (tests/camera/junk_rtsp.py) answers every connection with
#  another kind of junk: random bytes, a broken status line with a huge
#  Content-Length, a broken SDP, random interleaved data after a good
#  handshake, valid RTP carrying random H.264 NAL units, silence, an
#  immediate close.  Three cameras of one loopback agent, run under
#  valgrind memcheck, point at it for ~25 s (the back-off is capped at 1 s
#  so that they reconnect often).  Asserts:
#    * the junk server served every kind of junk several times;
#    * the agent answered all along (a status request, or its two retries:
#      under valgrind the threads take turns on one core), its cameras
#      announced offline with a
#      reason, and a good camera added meanwhile (a real RTSP server) still
#      streams;
#    * the agent leaves on SIGTERM with exit 0 and valgrind reports no
#      invalid access and no definite leak.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/camera/cam_lib.sh"
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
# shellcheck source=/dev/null
. "$SRC/tests/infer/models-env.sh"
cam_require_tools
command -v valgrind >/dev/null 2>&1 || { echo "SKIP: no valgrind"; exit 77; }
tb_hard_timeout 150 "$@"
tb_init garbage_lo 40
tb_require_mw
JP=$(( TB_PORTBASE + 150 )); RP=$(( TB_PORTBASE + 151 ))
tb_port_free "$JP" && tb_port_free "$RP" || tb_die "port $JP or $RP in use"
tb_bg "$CAM_PY" "$SRC/tests/camera/junk_rtsp.py" --port "$JP" --seconds 60 --ready "$TB_DIR/junk.ready" \
    > "$TB_DIR/junk.log" 2>&1
for k in $(seq 1 100); do [ -f "$TB_DIR/junk.ready" ] && break; sleep 0.05; done
[ -f "$TB_DIR/junk.ready" ] || tb_die "junk server did not start"
VIDEO=$(cam_video 60 320x180)
D1=$(tb_node_dir 1); mkdir -p "$D1"
SUPP=()
[ -f "$SRC/tests/valgrind.supp" ] && SUPP=(--suppressions="$SRC/tests/valgrind.supp")
TB_AGENT_WRAPPER=(valgrind -q --log-file="$D1/valgrind.log" --error-exitcode=99 --leak-check=full
                  --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30 "${SUPP[@]}")
tb_start_agent_lo 1 "CAMERA_BACKOFF_MAX_MS=1000" "CAMERA_CONNECT_TIMEOUT_MS=2000" "CAMERA_STALL_MS=1000"
tb_wait_ready 1 60
S1=$(tb_state_dir 1)
#  Under valgrind every thread runs on one core in turn: a CLI call (2 s
#  timeout) may time out while the ingest threads chew junk, the more so
#  when make -j2 runs another agent beside it; two retries.
cli1 () { tb_cli 1 "$@" --state-dir "$S1" >/dev/null 2>&1 || tb_cli 1 "$@" --state-dir "$S1" >/dev/null 2>&1 ||
          tb_cli 1 "$@" --state-dir "$S1" >/dev/null 2>&1; }
add1 () { printf '%s' "$1" | tb_cli 1 camera add --json - --state-dir "$S1" >/dev/null 2>&1 ||
          tb_cli 1 camera show "$2" --state-dir "$S1" >/dev/null 2>&1 ||
          { printf '%s' "$1" | tb_cli 1 camera add --json - --state-dir "$S1" >/dev/null 2>&1; }; }
for p in axis-media/media.amp onvif-media/media.amp other; do
    id="junk-${p%%-*}"
    add1 "$(cam_doc "$id" 37.57 126.98 "rtsp://127.0.0.1:$JP/$p")" "$id" || cam_failc "add junk camera $p"
done
t0=$(tb_now_ms)
answered=0; asked=0
while [ $(( $(tb_now_ms) - t0 )) -lt 22000 ]; do
    asked=$(( asked + 1 ))
    cli1 status --json && answered=$(( answered + 1 ))
    sleep 1
done
served=$(grep -c '^conn' "$TB_DIR/junk.log")
kinds=$(awk '/^conn/ {print $4}' "$TB_DIR/junk.log" | sort -u | wc -l)
per=$(awk '/^conn/ {print $4}' "$TB_DIR/junk.log" | sort | uniq -c | awk '{print $1}' | sort -n | head -1)
[ "$kinds" = 7 ] && [ "${per:-0}" -ge 2 ] && cam_pass "junk server: $served connections, every kind at least $per times" ||
    cam_failc "junk server: $served connections, $kinds kinds, the rarest $per times"
[ "$answered" = "$asked" ] && tb_alive_pid 1 && cam_pass "agent answered $answered/$asked status requests meanwhile" ||
    cam_failc "agent answered $answered/$asked; alive $(tb_alive_pid 1 && echo yes || echo no)"
reasons=$(grep -o 'event=camera_offline camera=junk[^ ]* .*reason="[^"]*"' "$(tb_log_file 1)" | sed 's/.*reason=//' | sort -u | head -8 | tr '\n' ' ')
[ -n "$reasons" ] && cam_pass "junk cameras offline with reasons: $reasons" || cam_failc "no camera_offline with a reason"
#  A good camera next to the junk ones still works.
cam_server good "$RP" "$VIDEO"
add1 "$(cam_doc good 37.57 126.98 "rtsp://127.0.0.1:$RP/axis-media/media.amp")" good || cam_failc "add good camera"
good () { grep -q 'event=camera_online camera=good ' "$(tb_log_file 1)"; }
tb_wait_until 20 good && cam_pass "a good camera streams next to them" || cam_failc "the good camera never came online"
tb_term 1 60
rc=$?
[ $rc = 0 ] && cam_pass "agent left on SIGTERM, exit 0" || cam_failc "agent exit $rc after SIGTERM"
if [ -s "$D1/valgrind.log" ]; then
    cam_failc "valgrind report: $(head -40 "$D1/valgrind.log")"
else
    cam_pass "valgrind: no invalid access, no definite leak"
fi
cam_finish
