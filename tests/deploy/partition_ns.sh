#!/usr/bin/env bash
#  partition_ns: 5 boxes run app@1.0.  The coordinator and one other box
#  are cut off from the other three.  Each side is told to deploy: the
#  cut-off side (whose coordinator keeps leading its own view) app@9.0,
#  the majority (which elects a coordinator of its own, a higher ballot)
#  app@2.0.  Heal: one plan on every box (one digest), every box runs
#  what it says - app@2.0: what the superseded coordinator wrote after the
#  takeover is fenced off by the new coordinator's epoch.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
tb_init partition_ns 79
tb_require_mw
N=5
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
for v in 1.0 2.0 9.0; do dp_build_exec app $v "$TB_DIR/app-$v.mwpkg"; done
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
#  Every box holds every version before the cut (the test is about the plan).
for v in 1.0 2.0 9.0; do
    tb_cli 1 pkg publish "$TB_DIR/app-$v.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish $v"
done
for i in $(seq 2 $N); do for v in 1.0 2.0 9.0; do
    tb_wait_until 15 test -n "$(pk_state "$i" app $v)" || tb_fail "box $i does not know app@$v"
    tb_cli "$i" pkg fetch "app@$v" --timeout-s 20 --state-dir "$(tb_state_dir "$i")" >/dev/null || tb_fail "fetch $v on $i"
done; done
dp_deploy 1 app@1.0 --all --wait-s 30 >/dev/null || tb_fail "deploy 1.0"

c=""
for i in $(seq 1 $N); do [ "$(tb_id "$i")" = "$(dp_deployments 1 | jq -r .coordinator)" ] && c=$i; done
[ -n "$c" ] || tb_fail "no coordinator"
mate=$(( c % N + 1 ))
major=""; for i in $(seq 1 $N); do [ "$i" != "$c" ] && [ "$i" != "$mate" ] && major="$major $i"; done
m1=$(echo $major | cut -d' ' -f1)
tb_log "partition: {$c $mate} | {$major} (box $c coordinates)"
tb_partition "$major" "$c $mate"
#  The majority elects its own coordinator.
new_coord () { local k; k=$(dp_deployments "$m1" | jq -r '.coordinator // empty'); [ -n "$k" ] && [ "$k" != "$(tb_id "$c")" ]; }
tb_wait_until 30 new_coord || tb_fail "the majority did not elect a coordinator"
dp_deploy "$mate" app@9.0 --to "n$c,n$mate" >/dev/null 2>&1 \
    || tb_log "the cut-off side refused the deploy (no coordinator there)"
names=""; for i in $(seq 1 $N); do names="${names:+$names,}n$i"; done
sleep 2
dp_deploy "$m1" app@2.0 --to "$names" >/dev/null || tb_fail "deploy 2.0 on the majority"
for i in $major; do tb_wait_until 30 dp_running "$i" app 2.0 3 || tb_fail "majority box $i: 2.0 not running"; done
minority=$(dp_deployments "$mate" | jq -r --arg b "$(tb_id "$mate")" '.deployments[] | select(.box == $b) | .version')
tb_log "before the heal: the cut-off box $mate wants $minority"
tb_partition_heal
tb_wait_until 40 dp_one_plan $(seq 1 $N) || tb_fail "no single plan after the heal"
for i in $(seq 1 $N); do
    tb_wait_until 30 dp_running "$i" app 2.0 $N || { dp_deployments "$i"; tb_fail "box $i: not every box runs 2.0"; }
done
tb_log "one plan ($(dp_digest 1)), every box on app@2.0"
tb_log "PASS"
