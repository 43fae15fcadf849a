#!/usr/bin/env bash
#  vms_outbox_lo: outbound deliveries survive a receiver that is down for
#  60 s, a receiver that answers 500, and a kill -9 of the box.
#
#  One loopback agent with both sinks: a webhook (WEBHOOK_URL, signed with
#  WEBHOOK_SECRET, filter env.*,member.*,node.*) and the seed's
#  environment-info POST (VMS_URL:VMS_ENV_PORT, ENV_NID=0x01).  Neither
#  receiver runs for the first 60 s, while results come in (meshwatch env
#  report, POST /api/v1/env) and the mesh changes (agents join and leave);
#  at 30 s agent 1 is killed with -9 and started again.  Then both
#  receivers start (tests/vms/receiver.py), answering 500 to their first
#  requests.  tests/vms/check_outbox.py: every event the filter takes
#  arrives, in log order, once per delivery id after de-duplication, each
#  500 retried; webhook signatures verify with the Standard Webhooks
#  algorithm in Python; the env bodies are the seed's {nid,date,time,result}.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
. "$SRC/tests/vms/vms_lib.sh"
tb_hard_timeout 170 "$@"
tb_init vms_outbox_lo 31
tb_require_mw
command -v curl >/dev/null || tb_skip "curl missing"
OUTAGE_S=${VM_OUTAGE_S:-60}
WP=$(( TB_PORTBASE + 100 )) VP=$(( TB_PORTBASE + 102 )) AP=$(( TB_PORTBASE + 104 ))
for p in "$WP" "$VP" "$AP"; do tb_port_free "$p" || tb_die "port $p in use"; done
API="http://127.0.0.1:$AP"
SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
FAST=("PROBE_INTERVAL_MS=200" "PROBE_TIMEOUT_MS=100")
tb_start_agent_lo 1 "${FAST[@]}" "API_PORT=$AP" "WEBHOOK_URL=http://127.0.0.1:$WP/hook" "WEBHOOK_SECRET=$SECRET" \
    "WEBHOOK_EVENTS=env.*,member.*,node.*" "VMS_URL=http://127.0.0.1" "VMS_ENV_PORT=$VP" "VMS_ENV_PATH=/env" \
    "ENV_NID=0x01" "OUTBOX_RETRY_MAX_MS=2000"
tb_wait_ready 1 20
vm_token 1 vms >/dev/null
TOK="$TB_DIR/token-vms"
T0=$SECONDS

echo "---- receivers down for $OUTAGE_S s: results and membership changes meanwhile; agent 1 killed (-9) at 30 s"
n=0 killed=0 joined2=0 left2=0 joined3=0
while [ $(( SECONDS - T0 )) -lt "$OUTAGE_S" ]; do
    el=$(( SECONDS - T0 ))
    n=$(( n + 1 ))
    if [ $(( n % 2 )) = 0 ]; then
        tb_cli 1 env report --result $(( n % 10 )) --state-dir "$(tb_state_dir 1)" >/dev/null ||
            vm_failc "env report $n refused"
    else
        st=$(vm_get "$API/api/v1/env" "$(cat "$TOK")" -X POST -H 'Content-Type: application/json' \
             -d "{\"result\":\"$(( n % 10 ))\"}")
        [ "$st" = 202 ] || vm_failc "POST /api/v1/env $n: $st $(vm_body)"
    fi
    if [ "$el" -ge 8 ] && [ "$joined2" = 0 ]; then tb_start_agent_lo 2 "${FAST[@]}"; joined2=1; fi
    if [ "$el" -ge 20 ] && [ "$left2" = 0 ]; then tb_term 2 10 >/dev/null; left2=1; fi
    if [ "$el" -ge 30 ] && [ "$killed" = 0 ]; then
        tb_kill9 1; sleep 0.3; tb_restart_agent 1; tb_wait_ready 1 20; killed=1
    fi
    if [ "$el" -ge 40 ] && [ "$joined3" = 0 ]; then tb_start_agent_lo 3 "${FAST[@]}"; joined3=1; fi
    sleep 1.5
done
tb_log "$n results reported during the outage"
fails=$(tb_status 1 | jq '[.vms.outboxes[].failures] | add')
[ "${fails:-0}" -gt 0 ] && vm_pass "the outboxes kept trying during the outage ($fails failed attempts)" ||
    vm_failc "no failed attempt recorded during the outage"

echo "---- receivers up (500 to their first requests)"
tb_bg "$TB_PY" "$SRC/tests/vms/receiver.py" --port "$WP" --out "$TB_DIR/webhook.rec" --fail-first 3 --secret "$SECRET"
tb_bg "$TB_PY" "$SRC/tests/vms/receiver.py" --port "$VP" --out "$TB_DIR/env.rec" --fail-first 2
delivered () {
    local st; st=$(tb_status 1) || return 1
    [ "$(echo "$st" | jq '[.vms.outboxes[].behind] | add')" = 0 ] &&
        [ "$(echo "$st" | jq '[.vms.outboxes[].retry_in_ms] | add')" = 0 ]
}
tb_wait_until 30 delivered || vm_failc "the outboxes did not catch up in 30 s: $(tb_status 1 | jq -c .vms.outboxes)"
tb_log "caught up $(( SECONDS - T0 - OUTAGE_S )) s after the receivers came back"
sleep 0.5
echo "---- what the receivers got"
if "$TB_PY" "$SRC/tests/vms/check_outbox.py" --api "$API" --token-file "$TOK" --after 0 --kind webhook \
    --filter "env.*,member.*,node.*" --received "$TB_DIR/webhook.rec" --min 30; then
    vm_pass "webhook: every event, in order, once per id, 500s retried, signatures verified in Python"
else
    vm_failc "webhook deliveries"
fi
if "$TB_PY" "$SRC/tests/vms/check_outbox.py" --api "$API" --token-file "$TB_DIR/token-vms" --after 0 --kind env \
    --received "$TB_DIR/env.rec" --min 20 --nid 0x01; then
    vm_pass "env-info: every report as the seed's {nid,date,time,result}, in order, once per id, 500s retried"
else
    vm_failc "env-info deliveries"
fi
vm_finish
