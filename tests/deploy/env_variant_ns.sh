#!/usr/bin/env bash
#  env_variant_ns (the seed's sunny / rainy): 2 boxes.  The environment
#  program (node/mw-envprog, built from this repository, packed as an exec
#  package) runs in slot env on both and classifies each box's latest
#  frame (STATE_DIR/frames).  app is published as two variants,
#  1.0-sunny (weather=sunny) and 1.0-rainy (weather=rainy), and deployed
#  with --variant-by weather; ENV_RESULT_MAP=1:sunny,4:rainy, 3 agreeing
#  readings, 3 s dwell.  app is a model package (tiny-face): the runner
#  loads it from the package, warms it, swaps it between two frames.  Box 2
#  runs inference jobs from a frame source (5 fps) all along: the job
#  checker finds every one ended, none failed, across both swaps.  Bright
#  daylight frames: both run the sunny variant.  Box 2's frames turn dark and low in contrast: after the
#  hysteresis box 2 runs the rainy variant (box 1 stays sunny); bright
#  again: back to sunny.  Box 2's results reach its VMS environment
#  endpoint (a receiver in its namespace) in the seed's format, in order.
#  watch is an exec package in the same two variants (slot watch, also
#  --variant-by weather): a program that prints a tick every 100 ms.  Its
#  switch is warm: the rainy program runs and passes its health check
#  before the sunny one is stopped, so the ticks of the two never leave a
#  gap (deploy_warm_swap, overlap > 0, the old program gone after it).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
. "$SRC/tests/infer/models-env.sh"
tb_init env_variant_ns 98
tb_require_mw
BUILD=${MW_BUILDDIR:-$SRC/build}
[ -x "$BUILD/node/mw-envprog" ] && [ -x "$BUILD/tests/tools/mw-scene" ] || tb_skip "mw-envprog / mw-scene not built"
N=2
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
mkdir -p "$TB_DIR/envprog" && cp "$BUILD/node/mw-envprog" "$TB_DIR/envprog/" || tb_die "copy envprog"
"$TB_MW" pkg build --name envprog --version 1 --kind exec --entry "./mw-envprog --interval-ms 300" \
    --cpu-percent 20 --memory-mb 64 --key "$PK_KEY" --out "$TB_DIR/envprog.mwpkg" "$TB_DIR/envprog/mw-envprog" \
    >/dev/null || tb_die "build envprog"
#  The detector as two model packages, one per weather (the seed's sunny
#  and rainy images; here the same tiny-face weights, so that the jobs'
#  results can be compared across the swap).
mkdir -p "$TB_DIR/weights"
cp "$MODELS"/tiny_face_detector_model* "$TB_DIR/weights/" || tb_die "copy weights"
for t in sunny rainy; do
    "$TB_MW" pkg build --name app --version "1.0-$t" --kind model --model-family tiny-face --input-size 416 \
        --variant "weather=$t" --key "$PK_KEY" --out "$TB_DIR/app-$t.mwpkg" "$TB_DIR/weights" \
        >/dev/null || tb_die "build app $t"
done
#  watch: an exec program in both variants, ticking every 100 ms.
for t in sunny rainy; do
    mkdir -p "$TB_DIR/watch-$t"
    printf '#!/bin/sh\nwhile :; do echo "tick %s"; sleep 0.1; done\n' "$t" > "$TB_DIR/watch-$t/run.sh"
    chmod 755 "$TB_DIR/watch-$t/run.sh"
    "$TB_MW" pkg build --name watch --version "1-$t" --kind exec --entry ./run.sh --health "test -f run.sh" \
        --cpu-percent 10 --memory-mb 32 --variant "weather=$t" --key "$PK_KEY" --out "$TB_DIR/watch-$t.mwpkg" \
        "$TB_DIR/watch-$t/run.sh" >/dev/null || tb_die "build watch $t"
done
#  Box 2 runs inference jobs all along: face images at 5 frames a second.
mkdir -p "$TB_DIR/cam"
cp "$DEMO/sample1.jpg" "$DEMO/sample2.jpg" "$DEMO/sample4.jpg" "$TB_DIR/cam/"
frames () { local i=$1 kind=$2 k; for k in 1 2 3; do "$BUILD/tests/tools/mw-scene" "$kind" "$(tb_state_dir "$i")/frames/$kind-$k-$(tb_now_ms).jpg" $k || tb_die "mw-scene"; done; }
VP=8093
for i in $(seq 1 $N); do
    extra=()
    [ "$i" = 2 ] && extra=("VMS_URL=http://127.0.0.1" "VMS_ENV_PORT=$VP" "VMS_ENV_PATH=/env" "ENV_NID=0x02"
        "SOURCE=dir:$TB_DIR/cam:5" "CAMERA_ID=gate-cam2" "DEADLINE_MS=3000" "ESCALATE_BELOW=0")
    extra+=("MODELS_DIR=$MODELS")   #  jobs run from the start: the package swaps in under load
    tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "ENV_RESULT_MAP=1:sunny,4:rainy" "ENV_SWITCH_READINGS=3" \
        "ENV_SWITCH_DWELL_S=3" "${extra[@]}"
done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; mkdir -p "$(tb_state_dir "$i")/frames"; frames "$i" day; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
tb_bg tb_exec 2 "${TB_PY:-python3}" "$SRC/tests/vms/receiver.py" --port "$VP" --out "$TB_DIR/env.rec"
for f in envprog app-sunny app-rainy watch-sunny watch-rainy; do
    tb_cli 1 pkg publish "$TB_DIR/$f.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish $f"
done
dp_deploy 1 envprog@1 --all --slot env --wait-s 30 >/dev/null || tb_fail "deploy envprog"
dp_deploy 1 app@1.0-sunny --all --variant-by weather >/dev/null || tb_fail "deploy app"
dp_deploy 1 watch@1-sunny --all --slot watch --variant-by weather >/dev/null || tb_fail "deploy watch"

runs () {   #  runs I BOX VARIANT: node I sees BOX run app's VARIANT
    dp_deployments "$1" | jq -e --arg b "$(tb_id "$2")" --arg t "$3" '.deployments[] | select(.box == $b and
        .package == "app" and .actual.state == "running" and .actual.variant == $t and .actual.active == "1.0-" + $t)' >/dev/null
}
wruns () {   #  wruns I BOX VARIANT: node I sees BOX run watch's VARIANT
    dp_deployments "$1" | jq -e --arg b "$(tb_id "$2")" --arg t "$3" '.deployments[] | select(.box == $b and
        .package == "watch" and .actual.state == "running" and .actual.active == "1-" + $t)' >/dev/null
}
for i in 1 2; do tb_wait_until 30 runs 1 "$i" sunny || { dp_deployments 1; tb_fail "box $i: not on the sunny variant"; }; done
for i in 1 2; do tb_wait_until 30 wruns 1 "$i" sunny || { dp_deployments 1; tb_fail "box $i: watch not on sunny"; }; done
tb_log "bright frames: both boxes run app@1.0-sunny"

#  Dark, low-contrast frames on box 2.
t0=$(tb_now_ms)
frames 2 rain
tb_wait_until 30 runs 1 2 rainy || { dp_deployments 1; tb_fail "box 2 did not switch to rainy"; }
t=$(( $(tb_now_ms) - t0 ))
tb_log "box 2 on app@1.0-rainy $(tb_secs $t) s after its frames turned (3 readings of 0.3 s, 3 s dwell)"
runs 1 1 sunny || tb_fail "box 1 switched too"
tb_wait_until 30 wruns 1 2 rainy || { dp_deployments 1; tb_fail "box 2's watch did not switch to rainy"; }
sleep 1   #  a few ticks of the rainy program alone
#  The warm switch: the ticks of the two programs (pkg_output lines in box
#  2's log, their own timestamps) never leave a gap of more than 400 ms,
#  the rainy program ticked before the sunny one stopped, and the sunny one
#  stopped after the swap.
"${TB_PY:-python3}" - "$(tb_log_file 2)" <<'PY' || tb_fail "the exec variant switch was not warm"
import re, sys, datetime
ticks, swap = [], None
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r'ts=(\S+)Z .*event=pkg_output name=watch-watch(?:\.b)? stream=stdout line="?tick (\w+)', line)
    t = None
    if m or 'event=deploy_warm_swap slot=watch ' in line:
        t = datetime.datetime.strptime(line[3:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1000
    if m:
        ticks.append((t, m.group(2)))
    elif t is not None and swap is None:
        swap = (t, int(re.search(r'overlap_ms=(\d+)', line).group(1)))
if swap is None:
    print("FAIL  no deploy_warm_swap line for slot watch"); sys.exit(1)
first_rainy = min(t for t, v in ticks if v == "rainy")
sunny_before = [t for t, v in ticks if v == "sunny" and t < first_rainy + 5000]
last_sunny = max(sunny_before)
win = sorted(t for t, v in ticks if first_rainy - 3000 <= t <= first_rainy + 3000)
gap = max(b - a for a, b in zip(win, win[1:]))
print("warm switch: overlap %d ms (swap line), rainy ticked %d ms before the last sunny tick, "
      "largest gap between ticks around it %d ms, last sunny tick %d ms after the swap"
      % (swap[1], last_sunny - first_rainy, gap, last_sunny - swap[0]))
ok = swap[1] > 0 and last_sunny > first_rainy and gap <= 400 and last_sunny - swap[0] <= 1000
sys.exit(0 if ok else 1)
PY
[ "$t" -ge 800 ] || tb_fail "switched after $t ms: faster than 3 readings"
grep -q 'event=deploy_variant variant=rainy' "$(tb_log_file 2)" || tb_fail "no deploy_variant log line"

#  Bright again: back to sunny.
frames 2 day
tb_wait_until 30 runs 1 2 sunny || { dp_deployments 1; tb_fail "box 2 did not switch back"; }
tb_log "bright again: box 2 back on app@1.0-sunny"

#  Box 2's results at its VMS, the seed's format, in order (1s, then 4s, then 1s).
seqs=$(jq -r '.body | fromjson | select(.nid == "0x02") | .result' "$TB_DIR/env.rec" 2>/dev/null | uniq | tr '\n' ' ')
tb_log "results at the VMS (runs): $seqs"
echo "$seqs" | grep -q '^1 4 1' || tb_fail "the VMS did not get 1, 4, 1 in order: $seqs"
jq -e '.body | fromjson | has("date") and has("time") and has("nid") and has("result")' "$TB_DIR/env.rec" >/dev/null \
    || tb_fail "the bodies are not the seed's {nid,date,time,result}"
#  The swaps happened while jobs ran, and no job was lost or failed.
swaps=$(grep -c 'event=runner_model_swapped' "$(tb_log_file 2)")
[ "$swaps" -ge 3 ] || tb_fail "box 2's runner swapped its model $swaps times (MODELS_DIR -> sunny -> rainy -> sunny)"
tb_term 2 >/dev/null
"${TB_PY:-python3}" "$SRC/tests/jobs/job_check.py" --expect 'failed==0' --expect 'ended>=40' "$(tb_log_file 2)" \
    || tb_fail "jobs lost or failed across the swaps"
tb_log "PASS"
