#!/usr/bin/env bash
#  election_partition_ns: 5 namespaced agents split 3 | 2 (the coordinator
#  on the big side): the small side must elect its OWN coordinator with a
#  NEW ballot (a term above the one before the split: right after the split
#  it still names the old coordinator until its lease lapses, which a mere
#  "they agree" would take for success), once SWIM has declared the big
#  side dead and its view settled; meanwhile the big side keeps its
#  coordinator and term; heal -> exactly one coordinator named by all 5
#  within EL_HEAL_BOUND, and the loser logged step_down.  Then the log
#  checker.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 240 "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init election_partition_ns 42
sc_start_cluster ns 5
el_tl_nodes $SC_NODES
# shellcheck disable=SC2086
sc_check "initial: all 5 name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
t_pre=$EL_TERM
# shellcheck disable=SC2086
c=$(el_index_of "$EL_COORD" $SC_NODES)
A="$c"; B=""
for i in $SC_NODES; do
    [ "$i" = "$c" ] && continue
    if [ "$(wc -w <<<"$A")" -lt 3 ]; then A="$A $i"; else B="$B $i"; fi
done
B=${B# }
echo "---- partition {$A} | {$B} (coordinator n$c on the big side)"
el_tl partition "$A" "$B"
tb_partition "$A" "$B"
#  The small side: SWIM's dead verdict (TB_DEAD_BOUND) + settle + election
#  of a ballot of its own (a member of B, a term above t_pre).
# shellcheck disable=SC2086
sc_check "small side {$B} elects its own coordinator (new term > $t_pre)" $(( TB_DEAD_BOUND + 10 )) 60 el_own_new "$t_pre" $B
small=$EL_COORD
#  By now the split is seconds old: the big side must still have the same
#  coordinator with the same term (it never lost its majority).
# shellcheck disable=SC2086
if el_agreed $A || tb_wait_until 5 el_agreed $A; then
    big=$EL_COORD
    if [ "$big" = "$(tb_id "$c")" ] && [ "$EL_TERM" = "$t_pre" ]; then echo "PASS  the big side {$A} kept n$c, term $t_pre"
    else echo "FAIL  the big side changed: coordinator $big term $EL_TERM (was n$c term $t_pre)"; SC_RESULT=1; fi
else
    echo "FAIL  the big side {$A} does not agree on a coordinator"; SC_RESULT=1; big=""
fi
[ -n "$small" ] && [ "$big" != "$small" ] && echo "PASS  two sides, two coordinators ($big | $small)" ||
    { echo "FAIL  the sides name the same coordinator"; SC_RESULT=1; }
sleep 2
el_tl heal
th=$(tb_now_ms)
tb_partition_heal
# shellcheck disable=SC2086
if tb_wait_until 60 el_agreed $SC_NODES; then
    winner=$EL_COORD
    loser=$big; side=$A; [ "$winner" = "$big" ] && { loser=$small; side=$B; }
    #  From the logs: heal -> the last node of the losing side named the winner.
    # shellcheck disable=SC2086
    took=$(el_log_named "$EL_TERM" "$th" $side)
    [ -n "$took" ] || took=$(( $(tb_now_ms) - th ))
    if [ "$took" -le "$EL_HEAL_BOUND" ]; then echo "PASS  heal -> exactly one coordinator ($winner, term $EL_TERM) named by all 5: $took ms by the logs (bound $EL_HEAL_BOUND ms)"
    else echo "FAIL  heal -> one coordinator took $took ms > $EL_HEAL_BOUND ms"; SC_RESULT=1; fi
else
    echo "FAIL  heal: no single coordinator within 60 s"; SC_RESULT=1; winner=""; loser=""
fi
if grep -h "event=step_down" "$TB_DIR"/n*/agent.log | grep -q "id=$loser"; then
    echo "PASS  the loser ($loser) logged step_down"
else echo "FAIL  the loser ($loser) did not log step_down"; SC_RESULT=1; fi
el_check_logs
# shellcheck disable=SC2086
sc_finish $SC_NODES
