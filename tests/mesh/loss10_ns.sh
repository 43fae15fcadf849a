#!/usr/bin/env bash
#  loss10_ns: 10 % random loss on every link (nftables in every namespace)
#  for 60 s: no member is ever declared dead (views polled every 500 ms or as
#  fast as the CLI allows, every agent's event stream, and the agents'
#  member_dead log lines); loss cleared -> all alive.
#  TB_LOSS_PCT / TB_LOSS_SECS change the loss and the duration.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 240 "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init loss10_ns 15
PCT=${TB_LOSS_PCT:-10}
SECS=${TB_LOSS_SECS:-60}
echo "CHECK: $PCT % loss on every link for $SECS s -> no member ever dead (views every 500 ms, logs); then all alive"
#  Continuous watch besides the polls: every agent's event stream (ZeroMQ
#  SUB from inside its namespace, on loopback where the stream listens by
#  default; it reconnects until the agent is up) and its log.
start_watch () {
    local i
    for i in 1 2 3 4 5; do
        tb_bg tb_exec "$i" timeout $(( SECS + 120 )) env "${TB_ENVU[@]}" "$TB_MW" events \
            --connect "tcp://127.0.0.1:7947" --json > "$TB_DIR/events.$i" 2>&1
    done
}
SC_PRE_AGENTS=start_watch
sc_start_cluster ns 5
# shellcheck disable=SC2086
tb__ids_json $SC_NODES; ids=$TB_IDJ
tb_loss_all "$PCT"
t0=$(tb_now_ms); end=$(( t0 + SECS * 1000 ))
polls=0; bad=0; suspects=0; errors=0
while [ "$(tb_now_ms)" -lt "$end" ] && [ "$polls" -lt $(( SECS * 4 )) ]; do
    tick=$(tb_now_ms)
    # shellcheck disable=SC2086
    tb_fetch_views $SC_NODES
    for i in $SC_NODES; do
        if [ ! -s "$TB_DIR/view.$i" ]; then
            errors=$(( errors + 1 )); echo "  t=$(tb_secs $(( tick - t0 ))) n$i: members did not answer"; continue
        fi
        r=$(jq -r --argjson ids "$ids" '
            [.[] | select(.id as $x | $ids | index($x))] as $m
            | "\([$m[] | select(.state == "dead" or .state == "left") | .name] | join(","))|\([$m[] | select(.state == "suspect")] | length)|\($m | length)"' \
            "$TB_DIR/view.$i")
        dead=${r%%|*}; rest=${r#*|}; sus=${rest%%|*}; cnt=${rest#*|}
        suspects=$(( suspects + sus ))
        if [ -n "$dead" ] || [ "$cnt" != 5 ]; then
            bad=$(( bad + 1 ))
            echo "  t=$(tb_secs $(( tick - t0 ))) n$i: dead/left=[$dead] listed=$cnt/5"
        fi
    done
    polls=$(( polls + 1 ))
    left=$(( tick + 500 - $(tb_now_ms) ))
    [ "$left" -gt 0 ] && sleep "$(tb_secs "$left")"
done
t1=$(tb_now_ms)
drops=""; for i in $SC_NODES; do drops="$drops n$i=$(tb_loss_dropped "$i")"; done
echo "loss phase: $(tb_secs $(( t1 - t0 ))) s, $polls polls x 5 views (one every $(( (t1 - t0) / (polls > 0 ? polls : 1) )) ms), suspect sightings=$suspects, CLI errors=$errors"
echo "packets dropped by the loss rule:$drops"
if [ "$bad" = 0 ]; then echo "PASS  no member dead/left/missing in any view during the loss phase"
else echo "FAIL  $bad views showed a dead/left/missing member"; SC_RESULT=1; fi
if ev=$(tb_dead_events "$t0" "$t1"); then echo "PASS  no member_dead event in any agent log during the loss phase"
else echo "FAIL  member_dead events logged:"; echo "$ev" | head -20; SC_RESULT=1; fi
[ "$errors" -le 2 ] || { echo "FAIL  members CLI failed $errors times"; SC_RESULT=1; }
evdead=$(cat "$TB_DIR"/events.* 2>/dev/null | jq -r --argjson a "$t0" --argjson b "$t1" \
    'select((.event == "dead" or .event == "leave") and .ts_ms >= $a and .ts_ms <= $b) | "\(.node) saw \(.name) \(.event)"' 2>/dev/null)
evsus=$(cat "$TB_DIR"/events.* 2>/dev/null | jq -r --argjson a "$t0" --argjson b "$t1" \
    'select(.event == "suspect" and .ts_ms >= $a and .ts_ms <= $b) | .name' 2>/dev/null | wc -l)
echo "event streams: $(cat "$TB_DIR"/events.* 2>/dev/null | wc -l) events in total, $evsus suspect events during the loss phase (refuted)"
if [ -z "$evdead" ]; then echo "PASS  no dead/leave event on any agent's event stream during the loss phase"
else echo "FAIL  dead/leave events on the event streams:"; echo "$evdead" | head; SC_RESULT=1; fi
tb_loss_clear
# shellcheck disable=SC2086
sc_check "loss cleared -> every view lists all 5 alive" "$TB_REFUTE_BOUND" 30 tb_all_alive $SC_NODES
#  The streams were really connected: n5 leaves, n1..n4's streams show it
#  (a SUB that connects late misses what came before: PUB/SUB has no replay).
id5=$(tb_id 5)
tb_term 5 10
saw_leave () { grep -q "\"event\":\"leave\".*\"id\":\"$id5\"" "$TB_DIR/events.$1"; }
for i in 1 2 3 4; do
    tb_wait_until 10 saw_leave "$i" || { echo "FAIL  n$i's event stream did not show n5 leaving (stream not connected?)"; SC_RESULT=1; }
done
[ "$SC_RESULT" = 0 ] && echo "PASS  event streams were live (n5's leave seen on n1..n4)"
# shellcheck disable=SC2086
sc_finish $SC_NODES
