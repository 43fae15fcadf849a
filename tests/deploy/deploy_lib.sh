#!/usr/bin/env bash
#  deploy_lib.sh - helpers of the deployment tests (sourced after
#  testbed.sh and tests/pkg/pkg_lib.sh).
#
#  dp_build_exec NAME VER OUT [MODE] [KB]
#        an exec package whose program (run.sh) writes its pid to
#        $MESHWATCH_STATE_DIR/NAME.pid and says "alive" in NAME.alive; MODE
#        ok (runs until killed), crash (exits 3 after 0.3 s), unhealthy
#        (runs, its health check fails); KB: two data files of KB KiB each
#        (data/a.bin, data/b.bin), for the repair test
#  dp_deployments I      `deployments --json` of node I
#  dp_running I NAME VER N   node I sees N rows of NAME at VER running it
#  dp_digest I           node I's plan digest
#  dp_pid I NAME         the program's pid on node I ("" if none)

dp_build_exec () {
    local name=$1 ver=$2 out=$3 mode=${4:-ok} kb=${5:-0}
    local src="$TB_DIR/src-$name-$ver"
    mkdir -p "$src/data" || tb_die "mkdir $src"
    cat > "$src/run.sh" <<SH
#!/bin/sh
# test program $name@$ver ($mode)
echo \$\$ > "\$MESHWATCH_STATE_DIR/$name.pid"
echo "started $name@$ver pid \$\$"
[ "$mode" = crash ] && { sleep 0.3; echo "crashing" >&2; exit 3; }
exec sleep 100000
SH
    chmod 755 "$src/run.sh"
    local health="test -f run.sh"
    [ "$mode" = unhealthy ] && health="false"
    if [ "$kb" -gt 0 ]; then
        head -c $(( kb * 1024 )) /dev/urandom > "$src/data/a.bin"
        head -c $(( kb * 1024 )) /dev/urandom > "$src/data/b.bin"
    else
        echo "$name $ver" > "$src/data/version.txt"
    fi
    "$TB_MW" pkg build --name "$name" --version "$ver" --kind exec --entry "./run.sh" --health "$health" \
        --cpu-percent 20 --memory-mb 64 --key "$PK_KEY" --out "$out" "$src/run.sh" "$src/data" >/dev/null \
        || tb_die "pkg build $name@$ver"
}

dp_deployments () { tb_cli "$1" deployments --state-dir "$(tb_state_dir "$1")" --json 2>/dev/null; }

dp_running () {
    local n
    n=$(dp_deployments "$1" | jq --arg p "$2" --arg v "$3" \
        '[.deployments[] | select(.package == $p and .version == $v and .actual.state == "running"
          and .actual.active == $v and .actual.current)] | length' 2>/dev/null)
    [ "${n:-0}" -ge "$4" ]
}

dp_digest () { dp_deployments "$1" | jq -r '.plan_digest // ""' 2>/dev/null; }

dp_pid () {
    local f="$(tb_state_dir "$1")/$2.pid" p
    [ -s "$f" ] || return 0
    read -r p < "$f"
    kill -0 "$p" 2>/dev/null && echo "$p"
}

#  Every running node has the same plan digest.
dp_one_plan () {
    local d0 d i
    d0=$(dp_digest "$1")
    [ -n "$d0" ] || return 1
    for i in "$@"; do
        d=$(dp_digest "$i")
        [ "$d" = "$d0" ] || return 1
    done
}

#  cgroup v1's cpu and memory hierarchies where the namespaced agents see
#  them: `ip netns exec` mounts a fresh /sys, which hides /sys/fs/cgroup,
#  so the same hierarchies are mounted again under $TB_DIR/cg (removed,
#  with the groups the agents made, at cleanup).  Sets DP_CG (the
#  CGROUP_ROOT to give the agents), "" where there is no cgroup v1.
DP_CG=""
dp_cgroups () {
    [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] || { tb_log "no cgroup v1 cpu controller: limits not checked"; return 0; }
    local c
    for c in cpu memory; do
        mkdir -p "$TB_DIR/cg/$c" || tb_die "mkdir cg"
        mount -t cgroup -o "$c" "cg-$c" "$TB_DIR/cg/$c" || { tb_log "cannot mount the $c hierarchy"; return 0; }
        TB_CLEANUP_HOOKS+=("find '$TB_DIR/cg/$c/meshwatch' -depth -type d -exec rmdir {} + 2>/dev/null; umount '$TB_DIR/cg/$c'")
    done
    DP_CG="$TB_DIR/cg"
}

#  dp_deploy I ARGS... - `meshwatch deploy` on node I with --wait-s (tb_cli
#  gives a call 5 s; a deploy that waits needs its own bound: 5 min).
dp_deploy () {
    local i=$1; shift
    timeout 300 env "${TB_ENVU[@]}" "$TB_MW" deploy "$@" --state-dir "$(tb_state_dir "$i")"
}
