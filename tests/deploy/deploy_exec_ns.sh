#!/usr/bin/env bash
#  deploy_exec_ns: 5 boxes; an exec package and a model package (tiny-face,
#  loaded by each box's inference runner from the package) published on
#  box 1 and deployed
#  with `meshwatch deploy --all` from box 3 (not the coordinator, as a
#  rule): every box fetches it through the mesh and runs it under the
#  agent's supervision - all `running` within 30 s (the bound), the
#  program really up in each box (its pid alive), in its own cgroup with
#  the manifest's CPU quota; `deployments --json` agrees on every box (one
#  plan digest, every row running).  Then undeploy: every program stops.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
. "$SRC/tests/infer/models-env.sh"
tb_init deploy_exec_ns 75
tb_require_mw
N=5
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
dp_build_exec app 1.0 "$TB_DIR/app-1.0.mwpkg"
#  And a model package: the tiny-face detector, loaded into each box's runner.
mkdir -p "$TB_DIR/weights" "$TB_DIR/no-models"
cp "$MODELS"/tiny_face_detector_model* "$TB_DIR/weights/" || tb_die "copy weights"
"$TB_MW" pkg build --name facedet --version 1.0 --kind model --model-family tiny-face --input-size 416 \
    --key "$PK_KEY" --out "$TB_DIR/facedet-1.0.mwpkg" "$TB_DIR/weights" >/dev/null || tb_die "build facedet"
dp_cgroups
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "DEPLOY_CHECK_S=5" "CGROUP_ROOT=$DP_CG" \
    "MODELS_DIR=$TB_DIR/no-models"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
tb_cli 1 pkg publish "$TB_DIR/app-1.0.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish"
tb_cli 1 pkg publish "$TB_DIR/facedet-1.0.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish model"

t0=$(tb_now_ms)
out=$(dp_deploy 3 app@1.0 --all --json 2>&1) \
    || { echo "$out"; tb_fail "deploy refused"; }
out=$(dp_deploy 4 facedet@1.0 --all --slot model --json 2>&1) || { echo "$out"; tb_fail "deploy of the model refused"; }
for i in $(seq 1 $N); do
    tb_wait_until 30 dp_running "$i" app 1.0 $N || { dp_deployments "$i"; tb_fail "box $i: not all running"; }
    tb_wait_until 30 dp_running "$i" facedet 1.0 $N || { dp_deployments "$i"; tb_fail "box $i: the model is not running everywhere"; }
done
t=$(( $(tb_now_ms) - t0 ))
tb_log "all $N boxes running app@1.0 and the model facedet@1.0 after $(tb_secs $t) s (bound 30 s)"
for i in $(seq 1 $N); do
    grep -q "event=runner_model_swapped .*model=tiny-face .*facedet@1.0" "$(tb_log_file "$i")" \
        || tb_fail "box $i: the runner did not load the model from the package"
done
tb_wait_until 10 dp_one_plan $(seq 1 $N) || tb_fail "the boxes hold different plans"
for i in $(seq 1 $N); do
    p=$(dp_pid "$i" app)
    [ -n "$p" ] || tb_fail "box $i: the program is not running"
    #  Its own cgroup with the manifest's quota (20 % of a core).
    [ -n "$DP_CG" ] || continue
    cg=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$p/cgroup")
    case "$cg" in */meshwatch/$(tb_id "$i")/main-app) ;; *) tb_fail "box $i: program in cgroup '$cg', not meshwatch/ID/main-app";; esac
    q=$(cat "$DP_CG/cpu$cg/cpu.cfs_quota_us")
    [ "$q" = 20000 ] || tb_fail "box $i: cpu quota $q, not 20000"
    m=$(cat "$DP_CG/memory$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$p/cgroup")/memory.limit_in_bytes")
    [ "$m" = $(( 64 * 1048576 )) ] || tb_fail "box $i: memory limit $m, not 64 MiB"
done
#  Every box's deployments document names the same five running rows.
for i in $(seq 1 $N); do
    rows=$(dp_deployments "$i" | jq -c '[.deployments[] | {box, slot, version, s: .actual.state}] | sort_by(.box, .slot)')
    [ -n "$rows" ] && [ "$rows" = "$(dp_deployments 1 | jq -c '[.deployments[] | {box, slot, version, s: .actual.state}] | sort_by(.box, .slot)')" ] \
        || tb_fail "box $i: deployments differ from box 1's"
done
grep -q 'event=pkg_output.*started app@1.0' "$(tb_log_file 2)" || tb_fail "the program's output is not in the agent's log"

#  Undeploy: every program stops, the rows go.
pids=""
for i in $(seq 1 $N); do pids="$pids $(dp_pid "$i" app)"; done
tb_cli 2 undeploy app --state-dir "$(tb_state_dir 2)" >/dev/null || tb_fail "undeploy"
gone () { local p; for p in $pids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
tb_wait_until 15 gone || tb_fail "programs still running after undeploy"
tb_log "PASS"
