#!/usr/bin/env bash
#  tune_ns (issue 15, item 6: performance-based optimisation): one box
#  runs real inference jobs (tiny-face on face-api's sample photos scaled to 640 wide, 2 fps
#  from a frame source) with TUNE_ENABLE=1, input sizes 256 and 416 (home
#  416), p90 target 200 ms, hold 6 s, canary 5 s.  The test puts the
#  agent in a cpu cgroup and squeezes it (5 % of a core, 20 ms periods):
#  its service time p90 passes the target and the box steps down to 256
#  (model.tuned action=down, reason "overload: p90 ... > target"), keeps
#  it after the canary (the p90 improved at 256); the quota is lifted: after
#  the hold the box steps back up to 416 (reason "slack"), kept.  Every
#  worker really runs the size (status running_size, the runner's swap log
#  line), the change is in `status --json` and /metrics, each event
#  matches docs/EVENTS.md, and the job checker finds every job ended
#  exactly once.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/infer/models-env.sh"
tb_init tune_ns 60
tb_require_mw
tb_bridge
tb_host 1
mkdir -p "$TB_DIR/cam"
#  640-pixel frames (a camera's sub-stream): at face-api's 1920 x 1300 the
#  JPEG decode and resize cost as much CPU as the network itself, so under
#  the quota 256 and 416 ran equally slowly (p90 372 -> 357 ms, the canary
#  rightly reverted).  At 640 the network is most of a job and 256 needs
#  about 40 % of 416's CPU: the pressure decides (3 runs: p90 at 416 under
#  the quota 301-346 ms, at 256 122-165 ms; the target is 200 ms so that
#  416 is well over it).
for f in sample1 sample2 sample4; do
    ffmpeg -v error -y -i "$DEMO/$f.jpg" -vf scale=640:-2 -q:v 3 "$TB_DIR/cam/$f.jpg" || tb_die "ffmpeg: scale $f.jpg"
done
REC=$TB_DIR/events.rec
tb_bg tb_exec 1 "${TB_PY:-python3}" "$SRC/tests/node/events_sub.py" --connect tcp://127.0.0.1:7947 --out "$REC" \
    --seconds 110
#  The cgroup first (no limit yet): the agent starts inside it.
tb_cgroup_cpu 1 100 >/dev/null
CG=${TB_CG[1]}
quota () {   #  quota PERIOD_US QUOTA_US (-1: none)
    echo "$1" > "$CG/cpu.cfs_period_us" 2>/dev/null; echo "$2" > "$CG/cpu.cfs_quota_us" || tb_die "quota $2"
    echo "$1" > "$CG/cpu.cfs_period_us" || tb_die "period $1"
}
quota 10000 -1
tb_start_agent 1 "MODELS_DIR=$MODELS" "SOURCE=dir:$TB_DIR/cam:2" "CAMERA_ID=tune-cam" "DEADLINE_MS=5000" \
    "ESCALATE_BELOW=0" "TUNE_ENABLE=1" "TUNE_INPUT_SIZES=256,416" "TINY_FACE_SIZE=416" "TUNE_P90_TARGET_MS=200" \
    "TUNE_HOLD_MS=6000" "TUNE_CANARY_MS=5000" "TUNE_WINDOW_MS=6000" "TUNE_MIN_SAMPLES=8" "TUNE_CONF_LOW=0" "METRICS_PORT=9101"
tb_wait_ready 1 20
LOG=$(tb_log_file 1)
tun () { tb_status 1 | jq -r ".jobs.tuning.$1"; }
tuned () { grep 'event=model_tuned' "$LOG" | grep -q "$1"; }

#  Unloaded: measured at 416, no change.
tb_wait_until 20 eval '[ "$(tun samples)" -ge 8 ]' || tb_fail "no measurements after 20 s"
sleep 4   #  a window without the first, cold jobs
#  The machine is shared: give a burst of other work 20 s to pass.
calm () { awk -v p="$(tun p90_ms)" 'BEGIN { exit !(p < 150) }'; }
tb_wait_until 20 calm || tb_skip "this machine is too loaded right now: p90 $(tun p90_ms) ms at 416 unloaded"
p90=$(tun p90_ms)
tb_log "unloaded: size $(tun size), p90 $p90 ms over $(tun samples) jobs"
[ "$(tun size)" = 416 ] && [ "$(tun running_size)" = 416 ] || tb_fail "not at home 416"
sleep 3
#  (No change without cause is the selftest's, on synthetic streams; here a
#  change before the test's pressure can only be this machine's own load.)
if grep -q 'event=model_tuned' "$LOG"; then
    grep 'event=model_tuned' "$LOG" | head -1 | grep -q 'action=down .*reason="overload' &&
        tb_skip "the machine's own load overloaded the box before the test did: $(grep 'event=model_tuned' "$LOG" | head -1)"
    tb_fail "changed without pressure: $(grep 'event=model_tuned' "$LOG")"
fi

#  Pressure: 15 % of a core.
t0=$(tb_now_ms)
quota 20000 1000
tb_log "cpu quota 5 %"
tb_wait_until 30 tuned 'action=down from=416 to=256' || { tb_status 1 | jq .jobs.tuning; tb_fail "no step down within 30 s"; }
tb_log "stepped down after $(tb_secs $(( $(tb_now_ms) - t0 ))) s: $(grep 'event=model_tuned' "$LOG" | tail -1 | sed 's/.*event=model_tuned //')"
grep 'action=down' "$LOG" | grep -q 'reason="overload: p90 [0-9.]* ms > target 200 ms"' || tb_fail "no overload reason"
tb_wait_until 10 eval '[ "$(tun running_size)" = 256 ]' || tb_fail "the workers do not run 256"
tb_wait_until 5 grep -q 'event=runner_model_swapped .*size=256' "$LOG" || tb_fail "no runner swap to 256"
tb_wait_until 15 tuned 'action=kept from=416 to=256' || { tb_status 1 | jq .jobs.tuning; tb_fail "the step down was not kept"; }
tb_log "kept: $(grep 'action=kept from=416' "$LOG" | tail -1 | sed 's/.*reason=//')"
! tuned 'action=revert' || tb_fail "reverted under pressure"
tb_exec 1 curl -sf --max-time 3 "http://127.0.0.1:9101/metrics" > "$TB_DIR/metrics" 2>/dev/null
grep -q '^meshwatch_model_input_size{model="tiny-face"} 256' "$TB_DIR/metrics" || tb_fail "/metrics: input size not 256"
grep -q '^meshwatch_model_tune_total{model="tiny-face",action="down"} 1' "$TB_DIR/metrics" || tb_fail "/metrics: no down"
[ "$(tb_status 1 | jq -r .jobs.tuning.last.action)" = kept ] || tb_fail "status: last action not kept"

#  Pressure gone: back to 416 after the hold.
t0=$(tb_now_ms)
quota 10000 -1
tb_log "cpu quota lifted"
tb_wait_until 30 tuned 'action=up from=256 to=416' || { tb_status 1 | jq .jobs.tuning; tb_fail "no step back up within 30 s"; }
tb_log "stepped up after $(tb_secs $(( $(tb_now_ms) - t0 ))) s: $(grep 'action=up' "$LOG" | tail -1 | sed 's/.*reason=//')"
grep 'action=up' "$LOG" | grep -q 'reason="slack: ' || tb_fail "no slack reason"
tb_wait_until 15 tuned 'action=kept from=256 to=416' || tb_fail "the step up was not kept"
tb_wait_until 10 eval '[ "$(tun running_size)" = 416 ]' || tb_fail "the workers do not run 416"
n=$(grep -c 'event=model_tuned' "$LOG")
[ "$n" = 4 ] || tb_fail "expected down, kept, up, kept; got $n changes: $(grep 'event=model_tuned' "$LOG")"

tb_term 1 >/dev/null
#  The events: four model.tuned, each as documented.
"${TB_PY:-python3}" "$SRC/tests/node/events_check.py" --doc "$SRC/docs/EVENTS.md" --require model.tuned "$REC" \
    > "$TB_DIR/events.check" || { cat "$TB_DIR/events.check"; tb_fail "events differ from docs/EVENTS.md"; }
"${TB_PY:-python3}" "$SRC/tests/jobs/job_check.py" --expect 'ended>=40' --json "$TB_DIR/jobs.json" "$LOG" \
    > "$TB_DIR/jobs.check" || { cat "$TB_DIR/jobs.check"; tb_fail "jobs lost or duplicated"; }
tb_log "jobs: $(jq -c '{ended, done, failed}' "$TB_DIR/jobs.json"), none lost"
tb_log "PASS"
