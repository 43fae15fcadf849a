#!/usr/bin/env bash
#  deploy_exec_ns: 5 boxes; an exec package and a model package (tiny-face,
#  loaded by each box's inference runner from the package) published on
#  box 1 and deployed
#  with `meshwatch deploy --all` from box 3 (not the coordinator, as a
#  rule): every box fetches it through the mesh and runs it under the
#  agent's supervision - all `running` within 30 s (the bound), the
#  program really up in each box (its pid alive), in its own cgroup with
#  the manifest's CPU quota; `deployments --json` agrees on every box (one
#  plan digest, every row running).  An oci-image package on a box without
#  a container engine: failed, "no container engine" (podman cannot run
#  containers in this sandbox: the engine path itself is not exercised
#  here).  Then undeploy: every program stops.
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
#  An oci-image package (an image made by hand, as tests/pkg/interop_lo.sh
#  does, imported from an OCI archive).
(
    cd "$TB_DIR" || exit 1
    mkdir -p rootfs/app oci/blobs/sha256 && echo 'echo hello from the image' > rootfs/app/run.sh
    tar cf layer.tar -C rootfs . && gzip -9n -c layer.tar > layer.tar.gz
    sha () { sha256sum "$1" | cut -d' ' -f1; }
    cp layer.tar.gz "oci/blobs/sha256/$(sha layer.tar.gz)"
    printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh","/app/run.sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')" "$(sha layer.tar)" > config.json
    cp config.json "oci/blobs/sha256/$(sha config.json)"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
        "$(sha config.json)" "$(stat -c %s config.json)" "$(sha layer.tar.gz)" "$(stat -c %s layer.tar.gz)" > manifest.json
    cp manifest.json "oci/blobs/sha256/$(sha manifest.json)"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
        "$(sha manifest.json)" "$(stat -c %s manifest.json)" > oci/index.json
    echo '{"imageLayoutVersion":"1.0.0"}' > oci/oci-layout
    tar cf hello-oci.tar -C oci .
) || tb_die "oci image"
"$TB_MW" pkg import "oci-archive:$TB_DIR/hello-oci.tar" --name hello --version v1 --key "$PK_KEY" \
    --out "$TB_DIR/hello.mwpkg" >/dev/null || tb_die "pkg import"
for i in $(seq 1 $N); do
    eng=auto; [ "$i" = 5 ] && eng=none   #  box 5: a box without a container engine
    tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "DEPLOY_CHECK_S=5" "CGROUP_ROOT=$DP_CG" \
        "MODELS_DIR=$TB_DIR/no-models" "CONTAINER_ENGINE=$eng"
done
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

#  The image on box 5, which has no container engine: failed, and says why.
tb_cli 1 pkg publish "$TB_DIR/hello.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish the image"
dp_deploy 1 hello@v1 --to n5 --slot img >/dev/null || tb_fail "deploy the image"
noengine () { dp_deployments 1 | jq -e --arg b "$(tb_id 5)" '.deployments[] | select(.box == $b and .package == "hello"
    and .actual.state == "failed" and .actual.error == "no container engine")' >/dev/null; }
tb_wait_until 20 noengine || { dp_deployments 1; tb_fail "box 5 does not report failed: no container engine"; }
tb_log "oci-image on a box without an engine: failed: no container engine"

#  Undeploy: every program stops, the rows go.
pids=""
for i in $(seq 1 $N); do pids="$pids $(dp_pid "$i" app)"; done
tb_cli 2 undeploy app --state-dir "$(tb_state_dir 2)" >/dev/null || tb_fail "undeploy"
gone () { local p; for p in $pids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
tb_wait_until 15 gone || tb_fail "programs still running after undeploy"
tb_log "PASS"
