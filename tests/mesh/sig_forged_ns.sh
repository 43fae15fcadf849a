#!/usr/bin/env bash
#  sig_forged_ns: a key holder that speaks as a real member cannot speak
#  for another id (node-key signatures, docs/SECURITY.md).  5 namespaced
#  agents; mw-inject on a 6th host of the bridge holds the cluster key and
#  its own node key (never a member's).  It speaks as member M (M's id,
#  session and a seq inside the replay window: the envelope and the replay
#  window take it) and forges, to every other node, in rounds:
#    * records about victim V at its next incarnation (what a mesh without
#      signatures would take) and at 2^63: alive (with the injector's key
#      attached, and without), dead and suspect "from" M;
#    * HEARTBEAT / VOTE_REQ / VOTE as M with counters 2^64-1, 2^63 and
#      highest + 1000;
#    * under V's own id, a session just above V's real one (within the
#      clock skew rule) with V's alive record naming it;
#  and to V itself, V alive at its next incarnation and at 2^63 (forged
#  records of itself) and dead/suspect from a stranger.  Each kind
#  must reach its check and be refused there (records: bad signature;
#  election: unsigned; session: not certified).  Throughout the window
#  (TB_SIG_SECS, default 30): V alive in every view at every poll with its
#  real incarnation, the coordinator unchanged, the term grown by at most
#  2, no packet of V refused as stale, no member_suspect/dead of V logged.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
SECS=${TB_SIG_SECS:-30}
tb_hard_timeout $(( SECS + 120 )) "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init sig_forged_ns 106
INJECT=${MW_INJECT:-${MW_BUILDDIR:-.}/tests/tools/mw-inject}
[ -x "$INJECT" ] || tb_die "mw-inject not found at $INJECT (build tests/tools/mw-inject or set MW_INJECT)"
sc_start_cluster ns 5
tb_host 6   #  the injector's host: on the bridge, no agent
# shellcheck disable=SC2086
sc_check "initial: all 5 name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
C0=$EL_COORD; T0=$EL_TERM
#  V and M: two followers; the targets: everyone but M (M's own name is
#  no forgery to M, and a node ignores messages in its own name).
V=""; M=""
for i in $SC_NODES; do
    [ "$(tb_id "$i")" = "$C0" ] && continue
    if [ -z "$V" ]; then V=$i; elif [ -z "$M" ]; then M=$i; fi
done
VID=$(tb_id "$V"); MID=$(tb_id "$M")
PEERS=""; for i in $SC_NODES; do [ "$i" = "$V" ] || PEERS="$PEERS $i"; done
TARGETS=""; for i in $SC_NODES; do [ "$i" = "$M" ] || [ "$i" = "$V" ] || TARGETS="$TARGETS $i"; done
VSES=$(tb_stat "$V" .session)
VINC=$(sc_self_inc "$V")
echo "info  coordinator $C0 term $T0; victim n$V ($VID, session $VSES, incarnation $VINC); injector speaks as n$M ($MID); targets n${TARGETS# }"

sum () { local s=0 v i f=$1; shift; for i in "$@"; do v=$(tb_stat "$i" "$f"); s=$(( s + ${v:-0} )); done; echo $s; }
declare -A BAD0=() UNS0=() SES0=()
for i in $TARGETS $V; do
    BAD0[$i]=$(tb_stat "$i" '.signatures.records_bad + .signatures.records_shed')
    UNS0[$i]=$(tb_stat "$i" .election.refused_unsigned)
    SES0[$i]=$(tb_stat "$i" .stats.rejected.session)
done
NOKEY0=$(tb_stat "$V" .signatures.records_no_key)
# shellcheck disable=SC2086
STALE0=$(sum .stats.rejected.stale $PEERS)

#  One round, the targets in parallel: to each, as M (its session, and a
#  seq 32 above what M has used, read just before: inside the target's
#  replay window), forged records about V at V's next incarnation (what an
#  unsigned mesh would take) and at 2^63, and the election messages; under
#  V's id, the session bump; to V, V alive (its next incarnation and 2^63)
#  and dead/suspect from a stranger.
ROUNDS=0
: > "$TB_DIR/inj_fail"
inject () { tb_exec 6 timeout 20 "$INJECT" --key "$TB_KEY" "$@" >/dev/null 2>&1 || echo "$*" >> "$TB_DIR/inj_fail"; }
forge_to () {
    local i=$1 st mses mseq ep id
    ep="tcp://$(tb_ip "$i"):7946"; id=$(tb_id "$i")
    st=$(tb_status "$M") || { echo "status of n$M" >> "$TB_DIR/inj_fail"; return 1; }
    mses=$(jq -r .session <<<"$st")
    mseq=$(jq -r '.stats.msgs_out + .stats.send_dropped + .stats.beacons_out + 32' <<<"$st")
    inject --to "$ep" --to-id "$id" --sender "$MID" --session "$mses" --seq "$mseq" \
        --victim "$VID" --incarnation $(( VINC + 1 )) forge-record
    inject --to "$ep" --to-id "$id" --sender "$MID" --session "$mses" --seq $(( mseq + 1 )) \
        --term "18446744073709551615,9223372036854775808,$(( HI + 1000 ))" forge-all
    inject --to "$ep" --to-id "$id" --victim "$VID" --session "$VSES" session-bump
}
round () {
    local i pids=()
    HI=$(tb_stat "$C0_NODE" .term)
    for i in $TARGETS; do forge_to "$i" & pids+=($!); done
    inject --to "tcp://$(tb_ip "$V"):7946" --to-id "$VID" --victim "$VID" --incarnation $(( VINC + 1 )) forge-record &
    pids+=($!)
    wait "${pids[@]}"
    ROUNDS=$(( ROUNDS + 1 ))
}
C0_NODE=$(el_index_of "$C0" $SC_NODES)
NT=$(echo $TARGETS | wc -w)

t0=$(tb_now_ms)
round
#  Every kind reached its check on every target.  Per target: the 4
#  plausible records fail their signature (the 4 at 2^63 are refused
#  before, as absurd), and so do the 2 session bumps' records (the replay
#  gate checks them); 12 election messages are not M's word; the 2 bumped
#  sessions are refused.  At V: its own alive record fails (twice), the
#  stranger's verdicts have no known asserter.
per () { tb_stat "$1" "$2"; }
_refused () {
    local i
    for i in $TARGETS; do
        [ $(( $(per "$i" '.signatures.records_bad + .signatures.records_shed') - ${BAD0[$i]} )) -ge 6 ] || return 1
        [ $(( $(per "$i" .election.refused_unsigned) - ${UNS0[$i]} )) -ge 12 ] || return 1
        [ $(( $(per "$i" .stats.rejected.session) - ${SES0[$i]} )) -ge 2 ] || return 1
    done
    [ $(( $(per "$V" '.signatures.records_bad + .signatures.records_shed') - ${BAD0[$V]} )) -ge 2 ] &&
    [ $(( $(per "$V" .signatures.records_no_key) - ${NOKEY0} )) -ge 2 ]
}
report () {
    local i out=""
    for i in $TARGETS; do
        out="$out n$i: records bad +$(( $(per "$i" '.signatures.records_bad + .signatures.records_shed') - ${BAD0[$i]} )), election unsigned +$(( $(per "$i" .election.refused_unsigned) - ${UNS0[$i]} )), session +$(( $(per "$i" .stats.rejected.session) - ${SES0[$i]} ));"
    done
    echo "$out n$V (its own record): bad +$(( $(per "$V" '.signatures.records_bad + .signatures.records_shed') - ${BAD0[$V]} )), no key +$(( $(per "$V" .signatures.records_no_key) - NOKEY0 ))"
}
if tb_wait_until 5 _refused; then echo "PASS  first round refused where each kind is checked:$(report)"
else echo "FAIL  first round not all refused as forged:$(report)"; SC_RESULT=1; fi

#  The window: keep forging; at every poll V is alive in every other view
#  with an incarnation no forgery gave it, and the coordinator holds.
end=$(( t0 + SECS * 1000 )); next=$(( t0 + 5000 )); polls=0; bad=0
_inc_ok () {   #  V's incarnation in every view: a real one (no 2^63)
    local i inc
    for i in $PEERS; do inc=$(tb_incarnation "$i" "$V"); [ -n "$inc" ] && [ "${#inc}" -lt 12 ] || return 1; done
    inc=$(sc_self_inc "$V"); [ "${#inc}" -lt 12 ]
}
while [ "$(tb_now_ms)" -lt "$end" ]; do
    if [ "$(tb_now_ms)" -ge "$next" ]; then round; next=$(( $(tb_now_ms) + 5000 )); fi
    # shellcheck disable=SC2086
    if ! tb_all_see "$V" alive $PEERS || ! _inc_ok || ! el_agreed $SC_NODES || [ "$EL_COORD" != "$C0" ]; then
        bad=$(( bad + 1 ))
        echo "  at +$(( ($(tb_now_ms) - t0) / 1000 )) s: views of n$V: $(tb_states_of "$V" $PEERS | tr '\n' ' ') coordinator ${EL_COORD:-?}"
    fi
    polls=$(( polls + 1 ))
    sleep 1
done
t1=$(tb_now_ms)
if [ "$bad" = 0 ] && [ "$polls" -ge 3 ]; then
    echo "PASS  n$V alive with its real incarnation in every view, coordinator n$C0_NODE unchanged, at all $polls polls over $SECS s ($ROUNDS rounds of forgeries)"
else
    echo "FAIL  $bad of $polls polls found n$V not alive, a forged incarnation, or another coordinator"; SC_RESULT=1
fi
[ -s "$TB_DIR/inj_fail" ] && { echo "FAIL  injections failed to run:"; head -5 "$TB_DIR/inj_fail"; SC_RESULT=1; }
# shellcheck disable=SC2086
el_agreed $SC_NODES || tb_wait_until 10 el_agreed $SC_NODES
[ $(( EL_TERM - T0 )) -le 2 ] && [ "$EL_TERM" -ge "$T0" ] && echo "PASS  term $T0 -> $EL_TERM (at most 2 up)" ||
    { echo "FAIL  term $T0 -> $EL_TERM"; SC_RESULT=1; }
# shellcheck disable=SC2086
if ev=$(tb_dead_events "$t0" "$t1" $PEERS); then echo "PASS  no member_dead line in the peers' logs during the window"
else echo "FAIL  member_dead during the window:"; echo "$ev" | head; SC_RESULT=1; fi
sus=0; for i in $PEERS; do sus=$(( sus + $(grep -c "event=member_suspect.* peer=$VID" "$(tb_log_file "$i")") )); done
[ "$sus" = 0 ] && echo "PASS  n$V never suspected" || { echo "FAIL  n$V suspected $sus times"; SC_RESULT=1; }
# shellcheck disable=SC2086
stale=$(( $(sum .stats.rejected.stale $PEERS) - STALE0 ))
[ "$stale" = 0 ] && echo "PASS  no real packet refused as stale (no forged session taken)" ||
    { echo "FAIL  $stale packets refused as stale"; SC_RESULT=1; }
[ "$(tb_stat "$V" .session)" = "$VSES" ] || { echo "FAIL  n$V's session changed"; SC_RESULT=1; }
for i in $SC_NODES; do tb_status "$i" | jq -c '{n: .name, signatures, unsigned: .election.refused_unsigned, session: .stats.rejected.session}' 2>/dev/null; done
# shellcheck disable=SC2086
sc_check "all 5 alive at the end" 10 10 tb_all_alive $SC_NODES
# shellcheck disable=SC2086
sc_finish $SC_NODES
