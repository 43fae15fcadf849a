#!/bin/sh
# model_check.sh - `make check` test: the Promela model of the election
# (tests/election/model.pml) checked with spin.  Six runs, all exhaustive:
#   partitions  split (one node off, or all three apart) and heal at any
#               moment, loss, lease lapse: no ballot won twice, two winners
#               of one counter never had the same electorate (S3), the
#               highest ballot goes down only by renouncing, so a decision
#               below it is never applied (S4); catch-up and renounce on a
#               majority's word in play.
#   crashes     the same assertions with a crash/restart from the persisted
#               (ballot, vote) and coordinator stalls at any moment.
#   forger      a key holder's one forged message (any kind, as a stranger
#               or as one member, a ballot two counters above all): the
#               same assertions, and nobody is lifted above the real
#               ballots by more than one counter (F1).
#   liveness    LTL: in a stable component a coordinator eventually exists
#               and every node holds its ballot: from a fresh start, with
#               one node three counters ahead, with one two behind.
# The safety runs split the faults between them: together in one run the
# state space is several times larger than make check can afford.
# Exit 77 (skip) without spin.  MW_SRCDIR comes from AM_TESTS_ENVIRONMENT.
set -eu
srcdir=${MW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v spin >/dev/null 2>&1 || { echo "SKIP: spin not installed"; exit 77; }
cc=${CC:-cc}
work=$(mktemp -d /tmp/mw-spin-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$srcdir/tests/election/model.pml" "$work/"
cd "$work"
fail=0
run () {   # run NAME SPIN_DEFINES CC_DEFINES PAN_ARGS
    name=$1; sdefs=$2; cdefs=$3; pargs=$4
    rm -f pan pan.* model.pml.trail
    # shellcheck disable=SC2086
    spin $sdefs -a model.pml >spin.log 2>&1 || { echo "FAIL  $name: spin -a"; cat spin.log; fail=1; return; }
    # shellcheck disable=SC2086
    $cc -O2 -w -DVECTORSZ=2048 -DNOBOUNDCHECK $cdefs -o pan pan.c || { echo "FAIL  $name: cc pan.c"; fail=1; return; }
    t0=$(date +%s)
    # shellcheck disable=SC2086
    ./pan $pargs >pan.log 2>&1 || true
    t1=$(date +%s)
    states=$(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' pan.log | head -1)
    if grep -q "errors: 0" pan.log && [ ! -f model.pml.trail ]; then
        echo "PASS  $name: $states states, $((t1 - t0)) s"
    else
        echo "FAIL  $name:"; grep -E "assert|violated|acceptance|errors" pan.log | head -5
        # shellcheck disable=SC2086
        [ -f model.pml.trail ] && spin $sdefs -t -p model.pml 2>&1 | tail -40
        fail=1
    fi
}
run "safety with partitions (ballot won once; S3; S4; loss, lease lapse)" "-DSAFETY -DPART -DSTALL=0" "-DSAFETY" "-m100000"
run "safety with crash/restart and stalls (same assertions)" "-DSAFETY -DCRASH" "-DSAFETY" "-m100000"
run "safety with a forger (same assertions; F1 nobody lifted above the real ballots)" "-DSAFETY -DFORGE" "-DSAFETY" "-m100000"
run "liveness (stable component -> a coordinator, all on its ballot)" "-DLIVE -DMAXT=4" "" "-a -f -m200000"
run "liveness, one node three counters ahead (renounce)" "-DLIVE -DMAXT=4 -DAHEAD" "" "-a -f -m200000"
run "liveness, one node two counters behind (catch-up)" "-DLIVE -DMAXT=4 -DBEHIND" "" "-a -f -m200000"
exit $fail
