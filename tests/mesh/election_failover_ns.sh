#!/usr/bin/env bash
#  election_failover_ns: 5 namespaced agents.  Three faults of the
#  coordinator, one after the other: kill -9, SIGSTOP, link cut.  Each time
#  every survivor must name one new coordinator within EL_FAILOVER_BOUND,
#  and after restart / SIGCONT / relink the old one must be a follower of
#  the new term (never acting on its stale one).  Then the log checker.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 240 "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init election_failover_ns 41
sc_start_cluster ns 5
el_tl_nodes $SC_NODES
# shellcheck disable=SC2086
sc_check "initial: all 5 name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
for mode in kill stop cut; do
    # shellcheck disable=SC2086
    el_agreed $SC_NODES || tb_wait_until 10 el_agreed $SC_NODES
    old=$EL_COORD; oldterm=$EL_TERM
    # shellcheck disable=SC2086
    v=$(el_index_of "$old" $SC_NODES) || { echo "FAIL  coordinator $old is not one of ours"; SC_RESULT=1; break; }
    rest=$(for i in $SC_NODES; do [ "$i" = "$v" ] || echo "$i"; done | tr '\n' ' ')
    echo "---- $mode: coordinator n$v ($old, term $oldterm)"
    EL_T0=$(tb_now_ms)
    case $mode in
        kill) el_tl kill "$v"; tb_kill9 "$v" ;;
        stop) el_tl stop "$v"; tb_stop "$v" ;;
        cut)  el_tl cut "$v"; tb_cut "$v" ;;
    esac
    # shellcheck disable=SC2086
    el_wait_new "$old" "$EL_FAILOVER_BOUND" 30 "$mode: survivors name a new coordinator" $rest
    unset EL_T0
    newterm=$EL_TERM
    sleep 2
    case $mode in
        kill) el_tl restart "$v"; tb_restart_agent "$v" ;;
        stop) tb_cont "$v"; el_tl cont "$v" ;;
        cut)  tb_heal "$v"; el_tl relink "$v" ;;
    esac
    _rejoined () { el_agreed $SC_NODES && [ "$EL_COORD" != "$old" ]; }
    # shellcheck disable=SC2086
    sc_check "$mode: n$v back -> a follower, all 5 name the new coordinator" \
        $(( EL_REJOIN_BOUND / 1000 )) $(( EL_REJOIN_BOUND / 250 )) _rejoined || true
    s=$(el_state "$v"); echo "      n$v now: coordinator=${s%% *} role/term=${s#* }"
    if [ "${s##* }" -lt "$newterm" ] 2>/dev/null; then echo "FAIL  n$v still on term ${s##* } < $newterm"; SC_RESULT=1; fi
done
# shellcheck disable=SC2086
el_check_logs
if grep -h "event=step_down" "$TB_DIR"/n*/agent.log >/dev/null; then
    echo "PASS  the thawed / relinked coordinator logged step_down:"; grep -h "event=step_down" "$TB_DIR"/n*/agent.log | sed 's/^/      /'
else echo "FAIL  no step_down logged after SIGCONT / relink"; SC_RESULT=1; fi
# shellcheck disable=SC2086
sc_finish $SC_NODES
