#!/usr/bin/env bash
#  jobs_source_lo: the agent's frame source.  One loopback agent (root
#  namespace, no beacon; JOB_PORT set, since loopback agents default to 0)
#  with real models and SOURCE=dir:FOLDER:5, a folder of three demo JPEGs
#  plus a file that is not a JPEG (skipped) and an empty .jpg (skipped with
#  a warning).  Asserts, after ~4 s:
#    * `source_open` logged 3 frames at 5 fps for camera CAMERA_ID;
#    * the agent made about 5 jobs a second since it was launched (the
#      first frame at once, then one every 200 ms; never more than that
#      plus 2, at least half of it);
#    * `meshwatch jobs --json` lists them with camera gate-cam1, all done
#      on this box with detections, and job_check.py finds each ended once;
#    * a SOURCE folder without a usable JPEG stops the agent at start with
#      a clear error (exit != 0, message names the folder).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/jobs/jobs_lib.sh"
jb_require_models
tb_hard_timeout 60 "$@"
tb_init jobs_source_lo 59
TB_AGENT_WRAPPER=()
JP=$(( TB_PORTBASE + 100 ))
tb_port_free "$JP" || tb_die "port $JP in use"
frames=$TB_DIR/frames
mkdir -p "$frames" "$TB_DIR/empty"
cp "$DEMO/sample1.jpg" "$DEMO/sample2.jpg" "$DEMO/sample4.jpg" "$frames/"
echo "not a frame" > "$frames/notes.txt"
: > "$frames/zero.jpg"
t0=$(tb_now_ms)
tb_start_agent_lo 1 "MODELS_DIR=$MODELS" "JOB_PORT=$JP" "SOURCE=dir:$frames:5" "CAMERA_ID=gate-cam1" \
    "DEADLINE_MS=2000" "ESCALATE_BELOW=0"
tb_wait_ready 1 20
sleep 4
tb_stop_agent_graceful () { kill -TERM "$(tb_pid 1)"; wait "$(tb_pid 1)" 2>/dev/null; TB_PID[1]=""; }
js=$(tb_cli 1 jobs --json --state-dir "$TB_DIR/n1/state")
t1=$(tb_now_ms)
tb_stop_agent_graceful
log=$(tb_log_file 1)
if grep -q "event=source_open .*frames=3 fps=5.00 camera=gate-cam1" "$log"; then
    jb_pass "source opened: 3 frames at 5 fps, camera gate-cam1 (the .txt and the empty .jpg skipped)"
else
    jb_failc "no source_open with 3 frames: $(grep -m1 source_open "$log")"
fi
n=$(echo "$js" | jq 'map(select(.origin)) | length')
ok=$(echo "$js" | jq '[.[] | select(.origin and .camera == "gate-cam1" and .state == "done" and .path == "local" and .boxes > 0)] | length')
live=$(echo "$js" | jq '[.[] | select(.origin and (.state == "queued" or .state == "running"))] | length')
#  At most 5 a second since the launch (plus the first at once); at least
#  half that (the agent needs a moment to start and load its models).
hi=$(( (t1 - t0) * 5 / 1000 + 2 )); lo=$(( (t1 - t0) * 5 / 2000 - 2 ))
if [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ]; then jb_pass "$n jobs from the source in $(( t1 - t0 )) ms at 5 fps (want $lo..$hi)"
else jb_failc "$n jobs from the source in $(( t1 - t0 )) ms (want $lo..$hi)"; fi
if [ "$ok" -ge $(( n - live )) ] && [ "$ok" -gt 0 ]; then
    jb_pass "$ok done on this box with detections, camera gate-cam1 ($live still in flight at the snapshot)"
else
    jb_failc "only $ok of $n jobs done locally with detections ($live in flight): $(echo "$js" | jq -c '.[0]')"
fi
jb_check
#  A folder with nothing usable: refused at start, with the folder's name.
out=$(timeout 10 "$TB_MW" agent --cluster-key "$TB_KEY" --mesh-addr 127.0.0.1 \
      --mesh-port "$(( TB_PORTBASE + 110 ))" --events-port 0 --job-port "$(( TB_PORTBASE + 111 ))" \
      --state-dir "$TB_DIR/bad" --models-dir "$MODELS" --source "dir:$TB_DIR/empty" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "SOURCE: no readable .jpg/.jpeg (up to 4 MiB) in $TB_DIR/empty"; then
    jb_pass "an empty SOURCE folder stops the agent at start: $out"
else
    jb_failc "empty SOURCE folder: rc=$rc out=$out"
fi
jb_finish
