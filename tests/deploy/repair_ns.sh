#!/usr/bin/env bash
#  repair_ns (scenario 3): 3 boxes run app@1.0 (two 512 KiB data files,
#  64 KiB pieces).  On box 3 one installed file is damaged on disk.  The
#  periodic check (DEPLOY_CHECK_S=2) finds it: bound 2 s + one check; the
#  box stops the program, fetches again from its peers only the pieces
#  that carry the damaged bytes (bytes counted: the 64 KiB granule that
#  holds them, at most two pieces; never the file, never the package), unpacks anew and runs it again
#  (a new pid, the files as published) - pkg.failed then pkg.repaired.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 120 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
tb_init repair_ns 77
tb_require_mw
N=3
KB=512
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
dp_build_exec app 1.0 "$TB_DIR/app-1.0.mwpkg" ok $KB
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB" "DEPLOY_CHECK_S=2"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
pk_events_start 3
tb_cli 1 pkg publish "$TB_DIR/app-1.0.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish"
dp_deploy 2 app@1.0 --all --wait-s 30 >/dev/null || tb_fail "deploy"
size=$(pk_list 3 | jq -r '.[] | select(.name == "app") | .size')
pieces=$(pk_list 3 | jq -r '.[] | select(.name == "app") | .pieces')
psize=$(( (size + pieces - 1) / pieces ))
want=$(pk_sha_tree "$TB_DIR/src-app-1.0")
dir=$(tb_cli 3 pkg path app@1.0 --state-dir "$(tb_state_dir 3)") || tb_fail "no path"
old=$(dp_pid 3 app)
[ -n "$old" ] || tb_fail "app not running on box 3"
before=$(tb_stat 3 .packages.bytes_fetched)

#  Damage 4 KiB in the middle of one installed file.
t0=$(tb_now_ms)
dd if=/dev/urandom of="$dir/data/a.bin" bs=4096 count=1 seek=50 conv=notrunc status=none || tb_fail "dd"
tb_wait_until 10 grep -q '"event":"failed".*"name":"app"' "$TB_DIR/events.3" || tb_fail "damage not detected"
td=$(( $(tb_now_ms) - t0 ))
again () { local p; p=$(dp_pid 3 app); [ -n "$p" ] && [ "$p" != "$old" ] && dp_running 3 app 1.0 $N; }
tb_wait_until 20 again || { dp_deployments 3; tb_fail "box 3 not running again"; }
tr=$(( $(tb_now_ms) - t0 ))
after=$(tb_stat 3 .packages.bytes_fetched)
refetched=$(( after - before ))
tb_log "detected after $(tb_secs $td) s (bound 3 s), running again after $(tb_secs $tr) s; re-fetched $refetched of $size bytes (piece $psize)"
[ "$td" -le 3500 ] || tb_fail "detection took $(tb_secs $td) s"
[ "$refetched" -gt 0 ] || tb_fail "nothing was fetched again"
#  4 KiB damaged: the 64 KiB granule of the file that holds them, in at
#  most two pieces (never the file, never the package).
[ "$refetched" -le $(( 2 * psize + 65536 )) ] || tb_fail "re-fetched $refetched bytes: more than the damaged bytes' pieces"
[ "$(pk_sha_tree "$dir")" = "$want" ] || tb_fail "the files differ from the published ones after the repair"
grep -q '"event":"repaired".*"name":"app"' "$TB_DIR/events.3" || tb_fail "no pkg.repaired event"
tb_log "PASS"
