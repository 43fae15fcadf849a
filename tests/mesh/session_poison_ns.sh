#!/usr/bin/env bash
#  session_poison_ns: a key holder forges messages under a victim's id with
#  a session no boot time can have (2^64-1, and now + 1 day), sealed for
#  each peer and unbound, and keeps doing so; one such packet used to make
#  every later real packet of the victim `stale`, and the victim was dead
#  in every view within 5 s.  Now every forgery is refused (counted as
#  `session`), the victim stays alive in all views for the whole window
#  (TB_POISON_SECS, default 30; the soak variant runs 120), and no real
#  packet of it is ever stale.  Killed and restarted, the victim's genuine
#  new session is accepted at once.  Then the binding: bytes sealed for n3
#  and accepted there are replayed to n1, which refuses them (`auth`).
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
SECS=${TB_POISON_SECS:-30}
tb_hard_timeout $(( SECS + 120 )) "$@"
. "$SRC/tests/mesh/scenarios.sh"
tb_init session_poison_ns 70
INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
[ -x "$INJECT" ] || tb_die "mw-inject not found at $INJECT (build tests/tools/mw-inject or set MW_INJECT)"
echo "CHECK: forged sessions (2^64-1, now+1d) under victim n2's id, to n1 n3 n4 every 5 s for $SECS s:"
echo "       each refused as 'session'; n2 alive in every view throughout; no packet of n2 refused as stale;"
echo "       bytes sealed for n3 (accepted there) replayed to n1 -> refused as auth"
sc_start_cluster ns 4
tb_host 5   #  the key holder's box: no agent
V=2
PEERS="1 3 4"
VID=$(tb_id $V)
declare -A PID_OF
for i in $PEERS; do PID_OF[$i]=$(tb_id "$i"); done
echo "victim n$V id=$VID"
stat_sum () { local s=0 v i; for i in $PEERS; do v=$(tb_stat "$i" "$1"); s=$(( s + ${v:-0} )); done; echo $s; }
ses0=$(stat_sum .stats.rejected.session)
stale0=$(stat_sum .stats.rejected.stale)

#  One round: to every peer, sealed for it (GOSSIP) and unbound (PUSH_PULL).
poison_round () {
    local i
    for i in $PEERS; do
        tb_exec 5 timeout 10 "$INJECT" --to "tcp://$(tb_ip "$i"):7946" --key "$TB_KEY" --to-id "${PID_OF[$i]}" \
            --victim "$VID" --count 2 session-poison >/dev/null 2>&1 || echo "note  injection to n$i failed"
    done
}

t0=$(tb_now_ms)
poison_round
sent_rounds=1
#  Each round is 2 x 2 sessions x 2 envelopes = 8 messages per peer.
want=$(( 8 * 3 ))
_poisoned () { [ $(( $(stat_sum .stats.rejected.session) - ses0 )) -ge "$want" ]; }
if tb_wait_until 5 _poisoned; then
    echo "PASS  first round refused by all peers as 'session' (+$(( $(stat_sum .stats.rejected.session) - ses0 )))"
else
    echo "FAIL  first round: session rejects +$(( $(stat_sum .stats.rejected.session) - ses0 )), wanted $want"; SC_RESULT=1
fi

#  The window: keep poisoning; the victim must be alive in every view at
#  every poll (tb_all_see fails on any other state, or an absent member).
end=$(( t0 + SECS * 1000 )); next=$(( t0 + 5000 )); polls=0; bad=0
while [ "$(tb_now_ms)" -lt "$end" ]; do
    if [ "$(tb_now_ms)" -ge "$next" ]; then poison_round; sent_rounds=$(( sent_rounds + 1 )); next=$(( next + 5000 )); fi
    # shellcheck disable=SC2086
    if ! tb_all_see $V alive $PEERS; then
        bad=$(( bad + 1 ))
        echo "  at +$(( ($(tb_now_ms) - t0) / 1000 )) s: $(tb_states_of $V $PEERS | tr '\n' ' ')"
    fi
    polls=$(( polls + 1 ))
    sleep 1
done
t1=$(tb_now_ms)
if [ "$bad" = 0 ] && [ "$polls" -ge $(( SECS / 3 )) ]; then
    echo "PASS  n$V alive in the views of n1 n3 n4 at all $polls polls over $SECS s ($sent_rounds rounds of forgeries)"
else
    echo "FAIL  n$V not alive in every view at $bad of $polls polls"; SC_RESULT=1
fi
if ev=$(tb_dead_events "$t0" "$t1" $PEERS); then echo "PASS  no member_dead line in n1 n3 n4's logs during the window"
else echo "FAIL  member_dead during the window:"; echo "$ev" | head; SC_RESULT=1; fi
sus=$(grep -h "event=member_suspect.* peer=$VID" "$(tb_log_file 1)" "$(tb_log_file 3)" "$(tb_log_file 4)" | wc -l)
[ "$sus" = 0 ] && echo "PASS  n$V never suspected" || { echo "FAIL  n$V suspected $sus times"; SC_RESULT=1; }
ses=$(( $(stat_sum .stats.rejected.session) - ses0 ))
stale=$(( $(stat_sum .stats.rejected.stale) - stale0 ))
[ "$ses" -ge $(( want * sent_rounds * 9 / 10 )) ] &&
    echo "PASS  forgeries refused as 'session': $ses (sent $(( want * sent_rounds )))" ||
    { echo "FAIL  only $ses 'session' rejects for $(( want * sent_rounds )) forgeries"; SC_RESULT=1; }
[ "$stale" = 0 ] && echo "PASS  no real packet refused as stale (stale +0)" ||
    { echo "FAIL  $stale packets refused as stale"; SC_RESULT=1; }
for i in $PEERS; do tb_status "$i" | jq -c '{n: .name, rejected: .stats.rejected}' 2>/dev/null; done

#  A genuine new session is still welcome: the victim is killed and comes
#  back (a reboot: session = its boot time), with the forgeries going on.
inc_before=$(sc_min_inc $V $PEERS)
ses1=$(stat_sum .stats.rejected.session); stale1=$(stat_sum .stats.rejected.stale)
tb_kill9 $V
poison_round
t2=$(tb_now_ms)
tb_restart_agent $V
# shellcheck disable=SC2086
sc_check_ev "$t2" "victim restarted (kill -9) -> alive everywhere with a higher incarnation, its new session accepted" \
    "$TB_REFUTE_BOUND" $(( TB_REFUTE_BOUND * 5 )) member_alive,member_join "$V" "$PEERS" \
    sc_all_alive_above $V "$inc_before" $PEERS
poison_round
sleep 1
ses2=$(( $(stat_sum .stats.rejected.session) - ses1 )); stale2=$(( $(stat_sum .stats.rejected.stale) - stale1 ))
#  The victim's own new session is certified by its signed record, which
#  its first beacon cannot carry (255 bytes): a peer that still holds the
#  old session refuses that one beacon as `session`; the join that
#  follows carries the record.  At most one such refusal per peer.
vses=$(tb_stat $V .session)
own=0; for i in $PEERS; do
    c=$(grep -c "event=packet_rejected reason=session sender=$VID session=$vses " "$(tb_log_file "$i")")
    [ "$c" -le 1 ] || { echo "FAIL  n$i refused the victim's real session $c times"; SC_RESULT=1; }
    own=$(( own + c ))
done
[ $(( ses2 - own )) = $(( want * 2 )) ] && [ "$stale2" = 0 ] &&
    echo "PASS  after the restart: only the forgeries refused (session +$ses2: $(( want * 2 )) forgeries, $own first beacons of the new session), nothing stale" ||
    { echo "FAIL  after the restart: session +$ses2 (forgeries sent $(( want * 2 )), first beacons $own), stale +$stale2"; SC_RESULT=1; }

#  Binding: the same bytes, for n3, to n3 then n1.
a3=$(tb_stat 3 .stats.rejected.auth); in3=$(tb_stat 3 .stats.msgs_in); rj3=$(tb_stat 3 '[.stats.rejected[]] | add')
a1=$(tb_stat 1 .stats.rejected.auth)
out=$(tb_exec 5 timeout 10 "$INJECT" --to "tcp://$(tb_ip 3):7946" --key "$TB_KEY" --to-id "${PID_OF[3]}" \
    --also "tcp://$(tb_ip 1):7946" --count 3 cross-replay 2>&1)
_cross () { [ $(( $(tb_stat 1 .stats.rejected.auth) - a1 )) -ge 3 ]; }
tb_wait_until 5 _cross
d1=$(( $(tb_stat 1 .stats.rejected.auth) - a1 ))
d3=$(( $(tb_stat 3 .stats.rejected.auth) - a3 ))
drj3=$(( $(tb_stat 3 '[.stats.rejected[]] | add') - rj3 )); din3=$(( $(tb_stat 3 .stats.msgs_in) - in3 ))
if [ "$d1" -ge 3 ] && [ "$d3" = 0 ] && [ "$drj3" = 0 ] && [ "$din3" -ge 3 ]; then
    echo "PASS  3 GOSSIPs sealed for n3: accepted by n3 (+$din3 in, +0 rejected), refused by n1 as auth (+$d1) [$out]"
else
    echo "FAIL  cross replay: n1 auth +$d1, n3 auth +$d3 rejected +$drj3 in +$din3 [$out]"; SC_RESULT=1
fi
# shellcheck disable=SC2086
sc_check "all 4 still alive at the end" 10 10 tb_all_alive $SC_NODES
# shellcheck disable=SC2086
sc_finish $SC_NODES
