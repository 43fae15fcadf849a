#!/usr/bin/env bash
#  crash_rollback_ns: 3 boxes run app@1.0; app@2.0 goes to box 2.  Its
#  program is killed (SIGKILL) every time it comes back: the agent restarts
#  it with a growing backoff (1 s doubling, drawn in [d/2, d]); 5 deaths
#  in 120 s are a crash loop: the box re-verifies the package (nothing
#  damaged), unpacks it anew and starts it once more (pkg.redeployed);
#  killed 5 more times, it rolls the slot back to 1.0 (pkg.rolled_back),
#  which runs; every box's `deployments` shows box 2 rolled_back with 1.0
#  active.  Events in order: failed, redeployed, failed, rolled_back,
#  started.  Bound: first kill to rollback under 60 s (target 2.5 min).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 150 "$@"
. "$SRC/tests/pkg/pkg_lib.sh"
. "$SRC/tests/deploy/deploy_lib.sh"
tb_init crash_rollback_ns 76
tb_require_mw
N=3
tb_bridge
for i in $(seq 1 $N); do tb_host "$i"; done
pk_keys
dp_build_exec app 1.0 "$TB_DIR/app-1.0.mwpkg"
dp_build_exec app 2.0 "$TB_DIR/app-2.0.mwpkg"
for i in $(seq 1 $N); do tb_start_agent "$i" "TRUSTED_KEYS=$PK_PUB"; done
for i in $(seq 1 $N); do tb_wait_ready "$i" 15; done
tb_wait_until 20 tb_all_alive $(seq 1 $N) || tb_fail "the mesh did not form"
pk_events_start 2
tb_cli 1 pkg publish "$TB_DIR/app-1.0.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish 1.0"
tb_cli 1 pkg publish "$TB_DIR/app-2.0.mwpkg" --state-dir "$(tb_state_dir 1)" >/dev/null || tb_fail "publish 2.0"
dp_deploy 1 app@1.0 --all --wait-s 30 >/dev/null || tb_fail "deploy 1.0"
dp_deploy 1 app@2.0 --to n2 --wait-s 30 >/dev/null || tb_fail "deploy 2.0 to n2"
grep -q 'started app@2.0' "$(tb_log_file 2)" || tb_fail "app@2.0 never started on box 2"

#  Kill whatever runs app@2.0 on box 2 as soon as it is back, until the
#  slot rolls back.
rolled () { dp_deployments 1 | jq -e --arg b "$(tb_id 2)" \
    '.deployments[] | select(.box == $b and .actual.state == "rolled_back" and .actual.active == "1.0")' >/dev/null; }
t0=$(tb_now_ms)
kills=0
last=""
while ! rolled && [ $(( $(tb_now_ms) - t0 )) -lt 90000 ]; do
    p=$(dp_pid 2 app)
    if [ -n "$p" ] && [ "$p" != "$last" ] && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q sleep \
        && grep -q "app@2.0" "/proc/$p/environ" 2>/dev/null; then
        kill -9 "$p" 2>/dev/null && kills=$(( kills + 1 ))
        last=$p
    fi
    sleep 0.1
done
t=$(( $(tb_now_ms) - t0 ))
rolled || { dp_deployments 1; tb_fail "box 2 did not roll back within 90 s ($kills kills)"; }
tb_log "rolled back after $kills kills, $(tb_secs $t) s from the first (bound 60 s)"
[ "$t" -le 60000 ] || tb_fail "crash loop to rollback took $(tb_secs $t) s (bound 60 s)"
[ "$kills" -ge 9 ] && [ "$kills" -le 11 ] || tb_fail "$kills kills: two crash loops are 10 deaths"

#  The backoff grew within each crash loop (the delays are drawn in [d/2, d]).
mapfile -t delays < <(grep -o 'event=sup_died name=main-app reason="killed by signal 9" restart_in_ms=[0-9]*' \
    "$(tb_log_file 2)" | sed 's/.*=//')
tb_log "restart delays (ms): ${delays[*]}"
[ "${#delays[@]}" -ge 8 ] || tb_fail "only ${#delays[@]} restarts with a delay"
for k in 0 4; do
    d1=${delays[$k]} d4=${delays[$((k + 3))]}
    [ "$d1" -ge 500 ] && [ "$d1" -le 1000 ] || tb_fail "first delay $d1 ms not in [500, 1000]"
    [ "$d4" -ge 4000 ] && [ "$d4" -le 8000 ] || tb_fail "fourth delay $d4 ms not in [4000, 8000]"
done

#  1.0 runs again on box 2, and every box reports it so.
tb_wait_until 10 grep -q 'started app@1.0' <(grep -n . "$(tb_log_file 2)" | tail -n 50) \
    || tb_fail "app@1.0 not restarted on box 2"
shows_rolled () { dp_deployments "$1" | jq -e --arg b "$(tb_id 2)" '.deployments[] | select(.box == $b
    and .actual.state == "rolled_back" and .actual.active == "1.0" and (.actual.error | test("crash loop")))' >/dev/null; }
for i in $(seq 1 $N); do
    tb_wait_until 10 shows_rolled "$i" || { dp_deployments "$i"; tb_fail "box $i does not show box 2 rolled back"; }
done
#  Events in order.
order=$(jq -r 'select(.name == "app" and (.event == "failed" or .event == "redeployed" or .event == "rolled_back" or .event == "started")) | .event + ":" + .version' "$TB_DIR/events.2" | tr '\n' ' ')
tb_log "events: $order"
echo "$order" | grep -q 'failed:2.0 redeployed:2.0 .*failed:2.0 rolled_back:2.0 started:1.0' \
    || tb_fail "events out of order: $order"
tb_log "PASS"
