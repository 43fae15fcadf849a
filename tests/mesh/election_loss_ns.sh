#!/usr/bin/env bash
#  election_loss_ns: 10 % random loss on every link (nftables, every
#  namespace) for 60 s: the coordinator and the term never change on any
#  node (status every second, and no coordinator_elected / step_down line
#  in any log during the loss phase).  TB_LOSS_PCT / TB_LOSS_SECS change it.
SRC=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$SRC/tests/lib/testbed.sh"
tb_hard_timeout 240 "$@"
. "$SRC/tests/mesh/scenarios.sh"
. "$SRC/tests/mesh/election_lib.sh"
tb_init election_loss_ns 43
PCT=${TB_LOSS_PCT:-10}
SECS=${TB_LOSS_SECS:-60}
sc_start_cluster ns 5
el_tl_nodes $SC_NODES
# shellcheck disable=SC2086
sc_check "initial: all 5 name one coordinator" 20 40 el_agreed $SC_NODES || sc_finish $SC_NODES
coord=$EL_COORD; term=$EL_TERM
echo "---- $PCT % loss on every link for $SECS s; coordinator $coord term $term"
tb_loss_all "$PCT"
t0=$(tb_now_ms); end=$(( t0 + SECS * 1000 )); bad=0; polls=0
while [ "$(tb_now_ms)" -lt "$end" ]; do
    for i in $SC_NODES; do
        s=$(el_state "$i") || continue
        read -r c _ t <<<"$s"
        if [ "$c" != "$coord" ] && [ "$c" != none ] || [ "$t" != "$term" ]; then
            bad=$(( bad + 1 )); echo "  t=$(tb_secs $(( $(tb_now_ms) - t0 ))) n$i: coordinator=$c term=$t"
        fi
    done
    polls=$(( polls + 1 )); sleep 1
done
t1=$(tb_now_ms)
tb_loss_clear
changes=$(python3 - "$t0" "$t1" "$TB_DIR"/n*/agent.log <<'PY'
import sys, re, datetime
lo, hi = int(sys.argv[1]), int(sys.argv[2]); n = 0
for p in sys.argv[3:]:
    for line in open(p, errors="replace"):
        if "event=coordinator_elected" in line or "event=step_down" in line:
            m = re.match(r"ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", line)
            y, mo, d, h, mi, s, ms = map(int, m.groups())
            t = int(datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc).timestamp()) * 1000 + ms
            if lo <= t <= hi:
                n += 1; print(line.rstrip(), file=sys.stderr)
print(n)
PY
)
lost=$(cat "$TB_DIR"/n*/agent.log | grep -c "event=coordinator_lost" || true)
echo "loss phase: $polls polls; coordinator_lost lines (a follower's lease lapsed, no role change): $lost"
[ "$bad" = 0 ] && echo "PASS  no view named another coordinator or term" || { echo "FAIL  $bad views differed"; SC_RESULT=1; }
[ "$changes" = 0 ] && echo "PASS  no coordinator_elected / step_down during the loss phase" ||
    { echo "FAIL  $changes role changes logged"; SC_RESULT=1; }
el_check_logs
# shellcheck disable=SC2086
sc_finish $SC_NODES
