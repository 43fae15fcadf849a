#!/usr/bin/env bash
#  rollout_ns: 5 boxes run app@1.0.
#  1. app@2.0 in 3 waves (canary n1, then two waves), health window 3 s;
#     the coordinator is killed (-9) once the rollout has moved past the
#     canary: the next coordinator continues it from the replicated plan;
#     done, every live box on 2.0; the killed box, restarted, converges.
#  2. app@3.0, whose health check fails, in 3 waves: the canary's program
#     dies of its failed health checks, the rollout stops (rollout status:
#     stopped, with the reason), the canary goes back to 2.0, and the other
#     boxes are untouched (their plan entries unchanged, 3.0 never ran).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 170 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
tb_init rollout_ns 78
tb_require_mw
N=5
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
dp_build_exec app 1.0 "$TB_DIR/app-1.0.mwpkg"
dp_build_exec app 2.0 "$TB_DIR/app-2.0.mwpkg"
dp_build_exec app 3.0 "$TB_DIR/app-3.0.mwpkg" unhealthy
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
for v in 1.0 2.0 3.0; do
    tb_cli 1 pkg publish "$TB_DIR/app-$v.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish $v"
done
dp_deploy 1 app@1.0 --all --wait-s 30 >/dev/null || tb_fail "deploy 1.0"

coordinator () {
    local c i
    c=$(dp_deployments 1 | jq -r '.coordinator // empty' 2>/dev/null)
    for i in $(seq 1 $N); do [ "$(tb_id "$i")" = "$c" ] && echo "$i"; done
}
rollout () { dp_deployments "$1" | jq -r --arg v "$2" '.rollouts[] | select(.version == $v) | "\(.state) \(.wave)"' 2>/dev/null; }

#  1. Kill the coordinator during the rollout.
dp_deploy 2 app@2.0 --all --waves 3 --health-s 3 >/dev/null || tb_fail "rollout 2.0"
past_canary () { local r; r=$(rollout "$1" 2.0); [ "${r%% *}" = active ] && [ "${r##* }" -ge 1 ]; }
tb_wait_until 30 past_canary 2 || tb_fail "the rollout did not pass the canary: $(rollout 2 2.0)"
c=$(coordinator)
[ -n "$c" ] || tb_fail "no coordinator"
tb_log "rollout at wave $(rollout 2 2.0 | cut -d' ' -f2); kill -9 the coordinator, box $c"
tb_kill9 "$c"
alive=""; for i in $(seq 1 $N); do [ "$i" != "$c" ] && alive="$alive $i"; done
first=${alive%% *}; first=${alive# }; first=${first%% *}
done_on () { [ "$(rollout "$1" 2.0 | cut -d' ' -f1)" = done ]; }
tb_wait_until 60 done_on "$first" || { dp_deployments "$first"; tb_fail "the rollout was not finished by a new coordinator"; }
nc=$(for i in $alive; do grep -l 'event=deploy_rollout event=rollout.done' "$(tb_log_file "$i")" >/dev/null 2>&1 && echo "$i"; done)
[ -n "$nc" ] && [ "$nc" != "$c" ] || tb_fail "no other box finished the rollout"
tb_log "rollout finished by box $nc"
for i in $alive; do
    tb_wait_until 15 dp_running "$i" app 2.0 $(( N - 1 )) || { dp_deployments "$i"; tb_fail "box $i: 2.0 not running on the live boxes"; }
done
tb_restart_agent "$c"
tb_wait_ready "$c" 15
tb_wait_until 30 dp_running "$c" app 2.0 $N || { dp_deployments "$c"; tb_fail "box $c did not converge after its restart"; }
tb_wait_until 15 dp_one_plan $(seq 1 $N) || tb_fail "the boxes hold different plans"

#  2. A canary whose health check fails.
snap () { dp_deployments "$1" | jq -c --arg b "$(tb_id "$2")" '.deployments[] | select(.box == $b) | {version, stamp}'; }
declare -A before
for i in 2 3 4 5; do before[$i]=$(snap 1 "$i"); done
dp_deploy 3 app@3.0 --all --waves 3 --health-s 3 >/dev/null || tb_fail "rollout 3.0"
stopped () { [ "$(rollout "$1" 3.0 | cut -d' ' -f1)" = stopped ]; }
tb_wait_until 40 stopped 1 || { dp_deployments 1; tb_fail "the rollout of 3.0 did not stop"; }
reason=$(dp_deployments 1 | jq -r '.rollouts[] | select(.version == "3.0") | .reason')
tb_log "rollout of 3.0 stopped: $reason"
echo "$reason" | grep -q "$(tb_id 1)" || tb_fail "the reason does not name the canary: $reason"
status=$(tb_cli 1 rollout status --state-dir "$(tb_state_dir 1)") || tb_fail "rollout status"
echo "$status" | grep -q "app@3.0.*stopped" || tb_fail "rollout status does not show it: $status"
back () { dp_deployments "$1" | jq -e --arg b "$(tb_id 1)" \
    '.deployments[] | select(.box == $b and .version == "2.0" and .actual.state == "running" and .actual.active == "2.0")' >/dev/null; }
tb_wait_until 20 back 1 || { dp_deployments 1; tb_fail "the canary is not back on 2.0"; }
for i in 2 3 4 5; do
    [ "$(snap 1 "$i")" = "${before[$i]}" ] || tb_fail "box $i's entry changed: ${before[$i]} -> $(snap 1 "$i")"
    ! grep -q 'started app@3.0' "$(tb_log_file "$i")" || tb_fail "box $i ran 3.0"
done
tb_log "PASS"
